// The WSGI server (see wsgi.hpp). The request parser works in place on the server's request buffer: the
// environ's views point into it, so nothing is copied or allocated.
#include "wiznet5k/wsgi.hpp"

#include <cstring>
#include <utility>

namespace wiznet5k::wsgiserver {

namespace sm = socket_module;

namespace {

constexpr std::string_view k_server_field = "Server: w5kWSGIServer\r\n";  // as the seed
// How long a closing connection may take to finish the close handshake before it is closed outright (as
// socket::close() waits, but without blocking update_poll()).
constexpr std::uint64_t k_close_wait_ms = 1000;
// Room kept free after a buffered body for the fields that end the head once the length is known:
// "Content-Length: 4294967295\r\n" + "Connection: close\r\n" + "\r\n" is 49 bytes.
constexpr std::size_t k_tail_reserve = 64;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// RFC 9110 tchar: the characters of a token (method, field name).
bool is_tchar(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-': case '.':
    case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s)
    if (!is_tchar(c)) return false;
  return true;
}

char to_upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (to_upper(a[i]) != to_upper(b[i])) return false;
  return true;
}

// A view of s[from, to) without string_view::substr (which can throw).
std::string_view slice(std::string_view s, std::size_t from, std::size_t to) {
  return std::string_view(s.data() + from, to - from);
}

std::string_view trim_ows(std::string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return slice(s, b, e);
}

// Decimal digits only, at most 9 of them (so it fits); false otherwise, *too_big when it is all digits.
bool parse_length(std::string_view s, std::uint32_t& out, bool* too_big = nullptr) {
  if (too_big != nullptr) *too_big = false;
  if (s.empty()) return false;
  for (const char c : s)
    if (!is_digit(c)) return false;
  if (s.size() > 9) {
    if (too_big != nullptr) *too_big = true;
    return false;
  }
  std::uint32_t v = 0;
  for (const char c : s) v = v * 10 + static_cast<std::uint32_t>(c - '0');
  out = v;
  return true;
}

std::size_t put_dec(char* out, std::uint32_t v) {
  char tmp[10];
  std::size_t n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (std::size_t i = 0; i < n; ++i) out[i] = tmp[n - 1 - i];
  return n;
}

const char* reason_phrase(int code) {
  switch (code) {
    case 400: return "Bad Request";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
  }
}

// Appends to a fixed buffer; remembers an overflow instead of writing past the end.
struct writer {
  char* buf;
  std::size_t cap;
  std::size_t len;
  bool overflow = false;
  void put(std::string_view s) {
    if (overflow || s.size() > cap - len) {
      overflow = true;
      return;
    }
    std::memcpy(buf + len, s.data(), s.size());
    len += s.size();
  }
  void put_number(std::uint32_t v) {
    char d[10];
    put(std::string_view(d, put_dec(d, v)));
  }
};

}  // namespace

void set_interface(WIZNET5K& iface) { sm::set_interface(iface); }

// ---- wsgi_environ ---------------------------------------------------------------------------------------

std::optional<std::string_view> wsgi_environ::header(std::string_view field_name) const {
  for (std::size_t i = 0; i < m_header_count; ++i)
    if (iequals(m_headers[i].name, field_name)) return m_headers[i].value;
  return std::nullopt;
}

std::optional<std::string_view> wsgi_environ::get(std::string_view key) const {
  if (key == "REQUEST_METHOD") return m_method;
  if (key == "SCRIPT_NAME") return std::string_view();
  if (key == "PATH_INFO") return m_path;
  if (key == "QUERY_STRING") return m_query;
  if (key == "CONTENT_TYPE")
    return m_has_content_type ? std::optional<std::string_view>(m_content_type) : std::nullopt;
  if (key == "CONTENT_LENGTH")
    return m_has_content_length ? std::optional<std::string_view>(m_content_length) : std::nullopt;
  if (key == "SERVER_NAME") return m_server_name;
  if (key == "SERVER_PORT") return m_server_port_text;
  if (key == "SERVER_PROTOCOL") return m_protocol;
  if (key == "wsgi.url_scheme") return std::string_view("http");
  if (key == "wsgi.input") return m_input;
  constexpr std::string_view prefix = "HTTP_";
  if (key.size() > prefix.size() && std::string_view(key.data(), prefix.size()) == prefix) {
    const std::string_view rest = slice(key, prefix.size(), key.size());
    for (std::size_t i = 0; i < m_header_count; ++i) {
      const std::string_view name = m_headers[i].name;
      if (name.size() != rest.size()) continue;
      bool same = true;
      for (std::size_t k = 0; k < name.size() && same; ++k)
        same = rest[k] == (name[k] == '-' ? '_' : to_upper(name[k]));
      if (same) return m_headers[i].value;
    }
  }
  return std::nullopt;
}

std::size_t wsgi_environ::cgi_key(std::string_view field_name, char* out, std::size_t cap) {
  constexpr std::string_view prefix = "HTTP_";
  const std::size_t full = prefix.size() + field_name.size();
  if (out == nullptr || cap == 0) return full;
  std::size_t n = 0;
  for (std::size_t i = 0; i < full && n + 1 < cap; ++i, ++n) {
    const char c = i < prefix.size() ? prefix[i] : field_name[i - prefix.size()];
    out[n] = c == '-' ? '_' : to_upper(c);
  }
  out[n] = '\0';
  return full;
}

// ---- wsgi_response --------------------------------------------------------------------------------------

wsgi_response::wsgi_response(WSGIServer& server, sm::socket& conn, bool head_only)
    : m_conn(conn),
      m_buf(server.m_resp),
      m_cap(WSGIServer::response_buffer_size),
      m_head_only(head_only) {}

error wsgi_response::start_response(std::string_view status, std::initializer_list<wsgi_header> headers) {
  return start_response(status, headers.begin(), headers.size());
}

error wsgi_response::start_response(std::string_view status, const wsgi_header* headers, std::size_t count) {
  if (m_state != state::idle) return fail(errc::runtime_error, "start_response() called twice.");
  if (status.size() < 4 || !is_digit(status[0]) || !is_digit(status[1]) || !is_digit(status[2]) ||
      status[3] != ' ')
    return fail(errc::value_error, "Status must be \"<3 digits> <reason>\".");
  for (const char c : status)
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7F)
      return fail(errc::value_error, "Control character in the status.");
  const int code = (status[0] - '0') * 100 + (status[1] - '0') * 10 + (status[2] - '0');
  if (code < 100) return fail(errc::value_error, "Status code out of range.");
  if (count > 0 && headers == nullptr) return fail(errc::value_error, "Null header list.");

  writer w{m_buf, m_cap, 0};
  w.put("HTTP/1.1 ");
  w.put(status);
  w.put("\r\n");
  w.put(k_server_field);
  bool declared = false;
  std::uint32_t declared_length = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const wsgi_header& h = headers[i];
    if (!is_token(h.name)) return fail(errc::value_error, "Header name is not a token.");
    for (const char c : h.value)
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7F)
        return fail(errc::value_error, "Control character (CR/LF?) in a header value.");
    // Connection is ours: every response closes the connection.
    if (iequals(h.name, "Connection")) continue;
    if (iequals(h.name, "Content-Length")) {
      if (!parse_length(trim_ows(h.value), declared_length))
        return fail(errc::value_error, "Content-Length is not a decimal number (up to 9 digits).");
      declared = true;
      continue;  // written by end_head() in one normal form
    }
    w.put(h.name);
    w.put(": ");
    w.put(h.value);
    w.put("\r\n");
  }
  if (w.overflow || w.len + k_tail_reserve > m_cap)
    return fail(errc::value_error, "Response headers do not fit the response buffer.");
  m_len = w.len;
  m_head_len = w.len;
  m_status_code = code;
  m_no_body = code < 200 || code == 204 || code == 304;
  m_declared = declared_length;
  m_state = declared && !m_no_body ? state::declared : state::buffering;
  return {};
}

error wsgi_response::fail_with(error e) {
  m_failed = e;
  return e;
}

// Ends the head: inserts the framing fields and the empty line at m_head_len, ahead of any buffered body
// (k_tail_reserve keeps room for them).
error wsgi_response::end_head(bool with_length, std::size_t length) {
  char tail[k_tail_reserve];
  writer w{tail, sizeof tail, 0};
  if (with_length) {
    w.put("Content-Length: ");
    w.put_number(static_cast<std::uint32_t>(length));
    w.put("\r\n");
  }
  w.put("Connection: close\r\n\r\n");
  if (m_len + w.len > m_cap) return fail_with(fail(errc::runtime_error, "Response buffer overflow."));
  std::memmove(m_buf + m_head_len + w.len, m_buf + m_head_len, m_len - m_head_len);
  std::memcpy(m_buf + m_head_len, tail, w.len);
  m_len += w.len;
  m_head_sent = true;
  return {};
}

error wsgi_response::flush() {
  if (m_len == 0) return {};
  const error e = m_conn.sendall(m_buf, m_len);
  m_len = 0;
  if (e) return fail_with(e);
  return {};
}

error wsgi_response::emit(const void* data, std::size_t n) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    if (m_len == m_cap)
      if (auto e = flush()) return e;
    const std::size_t k = n < m_cap - m_len ? n : m_cap - m_len;
    std::memcpy(m_buf + m_len, p, k);
    m_len += k;
    p += k;
    n -= k;
  }
  return {};
}

error wsgi_response::write(const void* data, std::size_t n) {
  if (m_state == state::idle) return fail(errc::runtime_error, "write() before start_response().");
  if (!m_failed.ok()) return m_failed;
  if (n == 0) return {};
  if (data == nullptr) return fail(errc::value_error, "write: null data");
  m_body_total += n;
  if (m_no_body || m_head_only) return {};  // counted (HEAD's Content-Length), never sent
  switch (m_state) {
    case state::buffering:
      if (m_len + n + k_tail_reserve <= m_cap) {
        std::memcpy(m_buf + m_len, data, n);
        m_len += n;
        return {};
      }
      // The body outgrew the buffer before the application said how long it is: send what we have with
      // no length and let the close delimit the body (valid with "Connection: close").
      if (auto e = end_head(false, 0)) return e;
      m_state = state::streaming;
      return emit(data, n);
    case state::declared: {
      if (!m_head_sent)
        if (auto e = end_head(true, m_declared)) return e;
      const std::size_t room = m_declared - m_body_sent;
      const std::size_t k = n < room ? n : room;
      if (auto e = emit(data, k)) return e;
      m_body_sent += k;
      if (k < n)
        return fail(errc::value_error, "Body longer than its Content-Length; the excess was dropped.");
      return {};
    }
    case state::streaming:
      return emit(data, n);
    case state::idle:
      break;
  }
  return {};
}

error wsgi_response::finish() {
  if (!m_failed.ok()) return m_failed;
  switch (m_state) {
    case state::idle:
      return fail(errc::runtime_error, "start_response() was never called.");
    case state::buffering:
      if (m_no_body) {
        m_len = m_head_len;
        if (auto e = end_head(false, 0)) return e;
      } else if (auto e = end_head(true, m_head_only ? m_body_total : m_len - m_head_len)) {
        return e;
      }
      return flush();
    case state::declared:
      if (!m_head_sent)
        if (auto e = end_head(true, m_declared)) return e;
      if (auto e = flush()) return e;
      if (!m_head_only && m_body_sent < m_declared)
        return fail(errc::value_error, "Body shorter than its Content-Length.");
      return {};
    case state::streaming:
      return flush();
  }
  return {};
}

// ---- WSGIServer -----------------------------------------------------------------------------------------

WSGIServer::WSGIServer(std::uint16_t port, wsgi_application application, void* context, bool debug)
    : m_port(port), m_app(application), m_ctx(context), m_debug(debug) {}

WSGIServer::~WSGIServer() { stop(); }

error WSGIServer::set_listeners(int count) {
  if (m_started) return fail(errc::runtime_error, "set_listeners() after start().");
  if (count < 0 || count >= max_listeners) return fail(errc::value_error, "Listener count out of range.");
  m_listeners = count;
  return {};
}

int WSGIServer::open_sockets() const {
  int n = 0;
  for (const auto& s : m_slots)
    if (s) ++n;
  return n;
}

error WSGIServer::open_listener(int slot) {
  m_seen_ms[slot] = 0;
  m_closing[slot] = false;
  sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
  if (!s) return s.open_error();
  if (auto e = s.bind(sm::address{{}, m_port})) return e;
  if (auto e = s.listen()) return e;
  m_slots[slot] = std::move(s);
  return {};
}

// Closes the slot's socket (CLOSE, at once) and listens on it again; on failure the slot stays empty and
// find_ready() retries.
void WSGIServer::relisten(int slot) {
  (void)m_slots[slot].close();
  (void)open_listener(slot);
}

error WSGIServer::start() {
  if (m_started) return fail(errc::runtime_error, "WSGIServer already started.");
  m_iface = sm::get_interface();
  if (m_iface == nullptr) return fail(errc::runtime_error, "No interface: call set_interface() first.");
  if (m_port == 0) return fail(errc::value_error, "WSGIServer needs a port.");
  int n = m_listeners > 0 ? m_listeners : m_iface->max_sockets() - 2;
  if (n < 1) n = 1;
  if (n > max_listeners) n = max_listeners;
  m_slot_count = n;
  for (int i = 0; i < n; ++i) {
    if (auto e = open_listener(i)) {
      stop();
      return e;
    }
  }
  m_current = -1;
  m_next = 0;
  m_req_len = 0;
  m_req_eof = false;
  m_started = true;
  return {};
}

void WSGIServer::stop() {
  for (auto& s : m_slots) (void)s.close();
  for (int i = 0; i < max_listeners; ++i) {
    m_seen_ms[i] = 0;
    m_closing[i] = false;
  }
  m_started = false;
  m_current = -1;
  m_slot_count = 0;
}

// Ends the slot's connection without waiting: DISCON sends our FIN; find_ready() re-listens once the
// client has closed too (or after k_close_wait_ms). socket::close() would wait here for up to 1 s, and
// a client that ignores the FIN would stall every other client that long.
void WSGIServer::finish_connection(int slot) {
  m_current = -1;
  m_req_len = 0;
  m_req_eof = false;
  m_next = (slot + 1) % m_slot_count;  // the others go first next time
  sm::socket& s = m_slots[slot];
  if (s) {
    const auto st = m_iface->socket_status(s.fileno());
    if (st && (st.value == SNSR_SOCK_ESTABLISHED || st.value == SNSR_SOCK_CLOSE_WAIT) &&
        m_iface->socket_disconnect(s.fileno()).ok()) {
      m_closing[slot] = true;
      m_closing_ms[slot] = m_iface->board().millis();
      return;
    }
  }
  relisten(slot);
}

// The next slot with something to read (data, or the client's FIN), round robin from m_next; -1 if none.
// On the way it re-listens on slots whose close finished, and closes connections idle for timeout_ms().
int WSGIServer::find_ready() {
  const std::uint64_t now = m_iface->board().millis();
  const int first = m_next;  // finish_connection() below moves m_next
  for (int k = 0; k < m_slot_count; ++k) {
    const int i = (first + k) % m_slot_count;
    sm::socket& s = m_slots[i];
    if (!s) {
      (void)open_listener(i);
      continue;
    }
    const auto st = m_iface->socket_status(s.fileno());
    if (!st) continue;
    if (m_closing[i]) {
      const bool closed = st.value == SNSR_SOCK_CLOSED || st.value == SNSR_SOCK_TIME_WAIT;
      if (closed || now - m_closing_ms[i] >= k_close_wait_ms) relisten(i);
      continue;
    }
    if (st.value == SNSR_SOCK_LISTEN || st.value == SNSR_SOCK_SYNRECV) continue;
    if (st.value == SNSR_SOCK_ESTABLISHED || st.value == SNSR_SOCK_CLOSE_WAIT) {
      if (m_seen_ms[i] == 0) m_seen_ms[i] = now == 0 ? 1 : now;
      // CLOSE_WAIT too: a client may send its request and shut down its side at once.
      if (st.value == SNSR_SOCK_CLOSE_WAIT) return i;
      const auto avail = m_iface->socket_available(s.fileno());
      if (avail && avail.value > 0) return i;
      // Idle (connected, nothing sent): not taken up, so it cannot hold up the others; closed once it
      // has been idle for the request timeout.
      if (m_timeout_ms != 0 && now - m_seen_ms[i] >= m_timeout_ms) {
        ++m_stats.timeouts;
        finish_connection(i);
      }
      continue;
    }
    // The chip closed it (a reset, or its retransmission timeout) before we served it: count it if it
    // was a connection we had seen, and listen again.
    if (m_seen_ms[i] != 0) ++m_stats.aborted;
    relisten(i);
  }
  return -1;
}

// Sends block for at most timeout_ms(), or for ever with 0 (the socket's 0 would make them non-blocking).
void WSGIServer::set_send_timeout(sm::socket& conn) const {
  if (m_timeout_ms == 0)
    conn.settimeout_ms(std::nullopt);
  else
    conn.settimeout_ms(m_timeout_ms);
}

// A complete error response; the body is left out for HEAD (its Content-Length stays what a GET would get).
void WSGIServer::respond_error(sm::socket& conn, int code) {
  const bool head_only = m_env.m_method == "HEAD";
  const char* reason = reason_phrase(code);
  char body[64];
  writer b{body, sizeof body, 0};
  b.put_number(static_cast<std::uint32_t>(code));
  b.put(" ");
  b.put(reason);
  b.put("\n");
  writer w{m_resp, response_buffer_size, 0};
  w.put("HTTP/1.1 ");
  w.put_number(static_cast<std::uint32_t>(code));
  w.put(" ");
  w.put(reason);
  w.put("\r\n");
  w.put(k_server_field);
  w.put("Content-Type: text/plain\r\nContent-Length: ");
  w.put_number(static_cast<std::uint32_t>(b.len));
  w.put("\r\nConnection: close\r\n\r\n");
  if (!head_only) w.put(std::string_view(body, b.len));
  set_send_timeout(conn);
  (void)conn.sendall(m_resp, w.len);
  m_stats.last_status = static_cast<std::uint32_t>(code);
}

// request-line = method SP request-target SP HTTP-version (RFC 9112 section 3), without its line end, into
// m_env. Returns 0, or the status to reject the request with.
int WSGIServer::parse_request_line(std::string_view line) {
  for (const char c : line)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) return 400;
  const std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return 400;
  const std::size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return 400;
  const std::string_view method = slice(line, 0, sp1);
  std::string_view target = slice(line, sp1 + 1, sp2);
  const std::string_view version = slice(line, sp2 + 1, line.size());
  if (!is_token(method) || target.empty()) return 400;
  if (version.size() != 8 || std::string_view(version.data(), 5) != "HTTP/" || !is_digit(version[5]) ||
      version[6] != '.' || !is_digit(version[7]))
    return 400;
  m_env.m_method = method;  // known from here on, even if the version is refused (HEAD: no error body)
  if (version[5] != '1') return 505;
  m_env.m_protocol = version;
  // absolute-form ("http://host/path?q", RFC 9112 section 3.2.2: a server MUST accept it): PATH_INFO is
  // the path part, "/" when there is none. The seed passed the whole URL on as the path.
  for (const std::string_view scheme : {std::string_view("http://"), std::string_view("https://")}) {
    if (target.size() >= scheme.size() && iequals(slice(target, 0, scheme.size()), scheme)) {
      std::size_t p = scheme.size();
      while (p < target.size() && target[p] != '/' && target[p] != '?') ++p;
      if (p == scheme.size()) return 400;  // no authority
      target = slice(target, p, target.size());
      break;
    }
  }
  const std::size_t q = target.find('?');
  const std::string_view path = q == std::string_view::npos ? target : slice(target, 0, q);
  m_env.m_path = path.empty() ? std::string_view("/") : path;
  if (q != std::string_view::npos) m_env.m_query = slice(target, q + 1, target.size());
  return 0;
}

// Looks at a head still arriving for what already makes it malformed, so a client that will never send a
// valid request (binary bytes, a TLS ClientHello on the HTTP port) is answered at once instead of holding
// the server until the timeout. Returns 0, or the status to reject the request with.
int WSGIServer::check_partial_head(std::size_t begin) {
  std::size_t line_end = m_req_len;  // of the request line
  for (std::size_t i = begin; i < m_req_len; ++i) {
    const auto c = static_cast<unsigned char>(m_req[i]);
    if (c == '\r') {
      if (i + 1 < m_req_len && m_req[i + 1] != '\n') return 400;  // a bare CR
    } else if (c == '\n') {
      if (line_end == m_req_len) line_end = i;
    } else if ((c < 0x20 && c != '\t') || c == 0x7F) {
      return 400;
    }
  }
  if (line_end == m_req_len) return 0;  // the request line is still coming
  if (line_end > begin && m_req[line_end - 1] == '\r') --line_end;
  return parse_request_line(std::string_view(m_req + begin, line_end - begin));
}

// Parses the head in m_req[head_begin, head_end) (lines ending in LF or CRLF, without the empty line)
// into m_env. Returns 0, or the status to reject the request with.
int WSGIServer::parse_request(std::size_t head_begin, std::size_t head_end, std::size_t& content_length) {
  m_env = wsgi_environ{};
  m_env.m_server_port = m_port;
  bool first = true;
  bool have_length = false;
  std::uint32_t length = 0;
  std::size_t pos = head_begin;
  while (pos < head_end) {
    std::size_t nl = pos;
    while (m_req[nl] != '\n') ++nl;  // head_end follows a '\n'
    std::size_t end = nl;
    if (end > pos && m_req[end - 1] == '\r') --end;
    const std::string_view line(m_req + pos, end - pos);
    pos = nl + 1;
    for (const char c : line)
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7F) return 400;

    if (first) {
      first = false;
      if (const int code = parse_request_line(line)) return code;
      continue;
    }

    // field-line = field-name ":" OWS field-value OWS; no obs-fold, no space before the colon.
    if (line.empty() || line[0] == ' ' || line[0] == '\t') return 400;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return 400;
    const std::string_view name = slice(line, 0, colon);
    if (!is_token(name)) return 400;
    const std::string_view value = trim_ows(slice(line, colon + 1, line.size()));
    if (m_env.m_header_count == wsgi_environ::max_headers) return 431;
    m_env.m_headers[m_env.m_header_count++] = wsgi_header{name, value};
    if (iequals(name, "Content-Length")) {
      std::uint32_t v = 0;
      bool too_big = false;
      if (!parse_length(value, v, &too_big)) return too_big ? 413 : 400;
      if (have_length && v != length) return 400;  // conflicting lengths: request smuggling territory
      have_length = true;
      length = v;
      m_env.m_content_length = value;
      m_env.m_has_content_length = true;
    } else if (iequals(name, "Transfer-Encoding")) {
      return 501;  // chunked request bodies are not decoded
    } else if (iequals(name, "Content-Type")) {
      if (!m_env.m_has_content_type) m_env.m_content_type = value;
      m_env.m_has_content_type = true;
    }
  }
  if (first) return 400;
  content_length = length;
  return 0;
}

WSGIServer::progress WSGIServer::serve(int slot) {
  sm::socket& conn = m_slots[slot];
  // Read whatever has arrived, without waiting.
  conn.settimeout_ms(0);
  while (m_req_len < request_buffer_size && !m_req_eof) {
    const auto got = conn.recv(m_req + m_req_len, request_buffer_size - m_req_len);
    if (!got) {
      if (got.err.code == errc::would_block) break;
      ++m_stats.aborted;  // reset, or the chip gave up on the connection
      finish_connection(slot);
      return progress::done;
    }
    if (got.value == 0) {
      m_req_eof = true;  // the client shut down its side (maybe right after a complete request)
      break;
    }
    m_req_len += got.value;
  }
  const bool expired = m_timeout_ms != 0 && m_iface->board().millis() - m_started_ms >= m_timeout_ms;

  // Empty lines before the request line are ignored (RFC 9112 section 2.2). The head ends at the first
  // empty line (CRLF CRLF, or bare LFs).
  std::size_t begin = 0;
  while (begin < m_req_len && (m_req[begin] == '\r' || m_req[begin] == '\n')) ++begin;
  std::size_t head_end = 0, body_begin = 0;
  bool have_head = false;
  for (std::size_t i = begin; i < m_req_len && !have_head; ++i) {
    if (m_req[i] != '\n') continue;
    if (i + 1 < m_req_len && m_req[i + 1] == '\n') {
      head_end = i + 1;
      body_begin = i + 2;
      have_head = true;
    } else if (i + 2 < m_req_len && m_req[i + 1] == '\r' && m_req[i + 2] == '\n') {
      head_end = i + 1;
      body_begin = i + 3;
      have_head = true;
    }
  }
  if (!have_head) {
    int code = check_partial_head(begin);
    if (code == 0 && m_req_len == request_buffer_size) {
      // No line end at all: the request line (its target) is what is too long.
      bool line_done = false;
      for (std::size_t i = begin; i < m_req_len && !line_done; ++i) line_done = m_req[i] == '\n';
      code = line_done ? 431 : 414;
    }
    if (code != 0) {
      ++m_stats.rejected;
      respond_error(conn, code);
    } else if (m_req_eof) {
      if (m_req_len > begin) {
        ++m_stats.rejected;
        respond_error(conn, 400);  // the client gave up half way through the head
      }
    } else if (expired) {
      ++m_stats.timeouts;  // the seed's _readline would have waited for ever here
    } else {
      return progress::waiting;
    }
    finish_connection(slot);
    return progress::done;
  }

  std::size_t content_length = 0;
  if (const int code = parse_request(begin, head_end, content_length)) {
    ++m_stats.rejected;
    respond_error(conn, code);
    finish_connection(slot);
    return progress::done;
  }
  if (content_length > request_buffer_size - body_begin) {
    ++m_stats.rejected;
    respond_error(conn, 413);
    finish_connection(slot);
    return progress::done;
  }
  if (m_req_len - body_begin < content_length) {
    if (m_req_eof) {
      ++m_stats.rejected;
      respond_error(conn, 400);  // body cut short
    } else if (expired) {
      ++m_stats.timeouts;
    } else {
      // "Expect: 100-continue" (curl sends it for bodies over 1 KB): the client waits for a 100 before it
      // sends the body, or for about a second when none comes. Only to HTTP/1.1 and up, and only while no
      // body byte has come yet (RFC 9110 section 10.1.1).
      const auto expect = m_env.header("Expect");
      if (!m_sent_continue && expect && iequals(*expect, "100-continue") && m_env.m_protocol[7] >= '1' &&
          m_req_len == body_begin) {
        m_sent_continue = true;
        constexpr std::string_view k_continue = "HTTP/1.1 100 Continue\r\n\r\n";
        set_send_timeout(conn);
        (void)conn.sendall(k_continue.data(), k_continue.size());  // a failed send shows at the next recv
      }
      return progress::waiting;
    }
    finish_connection(slot);
    return progress::done;
  }

  m_env.m_input = std::string_view(m_req + body_begin, content_length);
  const auto ip = m_iface->ip_address();
  WIZNET5K::pretty_ip(ip ? ip.value : ip4{}, m_server_name);
  m_env.m_server_name = std::string_view(m_server_name);
  m_port_text[put_dec(m_port_text, m_port)] = '\0';
  m_env.m_server_port_text = std::string_view(m_port_text);

  ++m_stats.requests;
  set_send_timeout(conn);
  wsgi_response response(*this, conn, m_env.m_method == "HEAD");
  if (m_app != nullptr) m_app(m_ctx, m_env, response);
  if (!response.started()) {
    ++m_stats.app_errors;
    respond_error(conn, 500);
  } else if (const error e = response.finish()) {
    if (e.code == errc::connection_error || e.code == errc::timeout_error)
      ++m_stats.aborted;
    else
      ++m_stats.app_errors;  // e.g. a body shorter than its Content-Length: closing tells the client
  } else {
    m_stats.last_status = static_cast<std::uint32_t>(response.status_code());
  }
  finish_connection(slot);
  return progress::done;
}

error WSGIServer::update_poll() {
  if (!m_started) return fail(errc::runtime_error, "WSGIServer: start() first.");
  // Each round finishes a connection or stops at one still waiting for its request to complete.
  for (int round = 0; round < m_slot_count; ++round) {
    if (m_current < 0) {
      m_current = find_ready();
      if (m_current < 0) return {};
      m_started_ms = m_seen_ms[m_current];  // the timeout runs from when the connection was seen
      m_req_len = 0;
      m_req_eof = false;
      m_sent_continue = false;
      m_env = wsgi_environ{};
    }
    if (serve(m_current) == progress::waiting) return {};
  }
  return {};
}

}  // namespace wiznet5k::wsgiserver
