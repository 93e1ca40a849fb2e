// HTTP/1.1 message layer, server and client for peers (see http.hpp).
#include "wizsim/harness/http.hpp"

#include <algorithm>
#include <cstring>
#include <exception>
#include <stdexcept>

#include <fmt/format.h>

#include "wizsim/harness/peer.hpp"

namespace wizsim {

namespace {

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool is_ws(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ws(s.back())) s.remove_suffix(1);
  return s;
}

// tchar (RFC 9110 §5.6.2): the characters of tokens (methods, field names, codings, extension names).
bool is_tchar(char ch) {
  const auto c = static_cast<unsigned char>(ch);
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return c != 0 && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

// Field values and reason phrases: HTAB, SP, visible ASCII and obs-text; never CTLs (NUL, CR, LF, DEL).
bool is_text(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c == '\t' || (c >= 0x20 && c != 0x7F);
  });
}

// Splits a comma-separated list into trimmed, non-empty elements.
std::vector<std::string_view> split_list(std::string_view s) {
  std::vector<std::string_view> out;
  while (true) {
    const auto comma = s.find(',');
    const auto item = trim(s.substr(0, comma));
    if (!item.empty()) out.push_back(item);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

// "HTTP/1.1" -> minor 1. Returns 0 on success, 400 when malformed, 505 for a major version other than 1.
// Minor versions above 1 are processed as 1.1 (RFC 9112 §2.3).
int parse_version(std::string_view v, int& minor) {
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || v[6] != '.' || v[5] < '0' || v[5] > '9' || v[7] < '0' ||
      v[7] > '9')
    return 400;
  if (v[5] != '1') return 505;
  minor = v[7] == '0' ? 0 : 1;
  return 0;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ), ext-val = token / quoted-string.
bool valid_chunk_ext(std::string_view s) {
  std::size_t p = 0;
  const auto skip_ws = [&] {
    while (p < s.size() && is_ws(s[p])) ++p;
  };
  const auto token = [&] {
    const std::size_t b = p;
    while (p < s.size() && is_tchar(s[p])) ++p;
    return p > b;
  };
  while (true) {
    skip_ws();
    if (p == s.size()) return true;
    if (s[p] != ';') return false;
    ++p;
    skip_ws();
    if (!token()) return false;
    skip_ws();
    if (p < s.size() && s[p] == '=') {
      ++p;
      skip_ws();
      if (p < s.size() && s[p] == '"') {
        ++p;
        bool closed = false;
        while (p < s.size()) {
          const char c = s[p++];
          if (c == '"') {
            closed = true;
            break;
          }
          if (c == '\\') {
            if (p == s.size()) return false;
            ++p;
          } else if (!is_text(std::string_view(&c, 1))) {
            return false;
          }
        }
        if (!closed) return false;
      } else if (!token()) {
        return false;
      }
    }
  }
}

bool persistent(int version_minor, const http_headers& h) {
  if (h.has_token("Connection", "close")) return false;
  return version_minor >= 1 || h.has_token("Connection", "keep-alive");
}

void write_fields(std::string& out, const http_headers& h) {
  for (const auto& [name, value] : h) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
}

bool is_chunked(const http_headers& h) {
  const auto te = h.get_all("Transfer-Encoding");
  if (te.empty()) return false;
  const auto last = split_list(te.back());
  return !last.empty() && http_iequals(last.back(), "chunked");
}

std::string frame_body(const http_headers& h, const std::string& body, const http_headers& trailers) {
  if (!is_chunked(h)) return body;
  return http_chunk(body) + http_last_chunk(trailers);
}

std::string ms_text(ps_t t) {
  return fmt::format("{:.3f}", static_cast<double>(t) / static_cast<double>(ps_per_ms));
}

void cancel(scheduler& s, scheduler::event_id& id) {
  if (id) s.cancel(id);
  id = {};
}

}  // namespace

// ---- helpers ------------------------------------------------------------------------------------------

bool http_iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

const char* http_reason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 203:
      return "Non-Authoritative Information";
    case 204:
      return "No Content";
    case 205:
      return "Reset Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 426:
      return "Upgrade Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

bool http_status_has_body(int status) {
  return status >= 200 && status != 204 && status != 304;
}

// ---- http_headers -----------------------------------------------------------------------------------

void http_headers::add(std::string name, std::string value) {
  m_fields.emplace_back(std::move(name), std::move(value));
}

void http_headers::set(std::string name, std::string value) {
  remove(name);
  add(std::move(name), std::move(value));
}

std::size_t http_headers::remove(std::string_view name) {
  const auto before = m_fields.size();
  m_fields.erase(std::remove_if(m_fields.begin(), m_fields.end(),
                                [&](const field& f) { return http_iequals(f.first, name); }),
                 m_fields.end());
  return before - m_fields.size();
}

bool http_headers::has(std::string_view name) const {
  return std::any_of(m_fields.begin(), m_fields.end(),
                     [&](const field& f) { return http_iequals(f.first, name); });
}

std::optional<std::string> http_headers::get(std::string_view name) const {
  for (const auto& f : m_fields)
    if (http_iequals(f.first, name)) return f.second;
  return std::nullopt;
}

std::string http_headers::get_or(std::string_view name, std::string_view fallback) const {
  auto v = get(name);
  return v ? *v : std::string(fallback);
}

std::vector<std::string> http_headers::get_all(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& f : m_fields)
    if (http_iequals(f.first, name)) out.push_back(f.second);
  return out;
}

bool http_headers::has_token(std::string_view name, std::string_view token) const {
  for (const auto& f : m_fields) {
    if (!http_iequals(f.first, name)) continue;
    for (auto item : split_list(f.second))
      if (http_iequals(item, token)) return true;
  }
  return false;
}

// ---- messages -------------------------------------------------------------------------------------------

std::string http_request::path() const {
  return target.substr(0, target.find('?'));
}

std::string http_request::query() const {
  const auto q = target.find('?');
  return q == std::string::npos ? std::string() : target.substr(q + 1);
}

bool http_request::keep_alive() const {
  return persistent(version_minor, headers);
}
bool http_response::keep_alive() const {
  return persistent(version_minor, headers);
}

// ---- parser ---------------------------------------------------------------------------------------------

http_parser::http_parser(http_limits limits) : m_limits(limits) {}

void http_parser::reset_parser() {
  m_framing = framing::none;
  m_remaining = 0;
  m_status = status::incomplete;
  m_phase = phase::start;
  m_started = false;
  m_headers_done = false;
  m_line.clear();
  m_empty_lines = 0;
  m_error.clear();
  m_error_status = 0;
  m_body_bytes = 0;
  m_chunks = 0;
  m_chunk_ext.clear();
}

bool http_parser::fail(int status_code, std::string why) {
  m_status = status::error;
  m_error_status = status_code;
  m_error = std::move(why);
  return false;
}

void http_parser::done() {
  m_status = status::complete;
}

std::size_t http_parser::feed(const char* data, std::size_t n) {
  std::size_t i = 0;
  while (i < n && m_status == status::incomplete) {
    // Empty lines before the start line do not begin a message (RFC 9112 §2.2).
    if (!m_started && (m_phase != phase::start || (data[i] != '\r' && data[i] != '\n'))) m_started = true;
    switch (m_phase) {
      case phase::body:
      case phase::chunk_data:
      case phase::rest: {
        std::size_t take = n - i;
        if (m_phase != phase::rest && m_remaining < take) take = static_cast<std::size_t>(m_remaining);
        if (!body_data(data + i, take)) return i;
        i += take;
        if (m_phase == phase::rest) break;
        m_remaining -= take;
        if (m_remaining == 0) {
          if (m_phase == phase::body)
            done();
          else
            m_phase = phase::chunk_end;
        }
        break;
      }
      case phase::chunk_end: {
        // Exactly CRLF (or a bare LF) after the chunk's data; anything else means the chunk was longer
        // than its size said.
        const char c = data[i++];
        if (c == '\r' && m_line.empty()) {
          m_line = "\r";
        } else if (c == '\n') {
          m_line.clear();
          m_phase = phase::chunk_size;
        } else {
          fail(400, "chunk data is not followed by CRLF (chunk longer than its size?)");
          return i;
        }
        break;
      }
      default: {
        const void* nl = std::memchr(data + i, '\n', n - i);
        const std::size_t take =
            nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - (data + i)) : n - i;
        if (m_line.size() + take > m_limits.max_line + 1) {  // +1: the CR
          switch (m_phase) {
            case phase::start:
              fail(414, fmt::format("start line longer than {} bytes", m_limits.max_line));
              break;
            case phase::headers:
            case phase::trailers:
              fail(431, fmt::format("field line longer than {} bytes", m_limits.max_line));
              break;
            default:
              fail(400, fmt::format("chunk-size line longer than {} bytes", m_limits.max_line));
              break;
          }
          return i;
        }
        m_line.append(data + i, take);
        i += take;
        if (nl == nullptr) break;
        ++i;  // the LF
        if (!m_line.empty() && m_line.back() == '\r') m_line.pop_back();
        std::string l;
        l.swap(m_line);
        if (!line(l)) return i;
        break;
      }
    }
  }
  return i;
}

void http_parser::finish() {
  if (m_status != status::incomplete) return;
  if (m_phase == phase::rest) {
    done();
    return;
  }
  if (!m_started) return;
  const char* where = !m_headers_done                 ? "in the header section"
                      : m_framing == framing::chunked ? "in a chunked body"
                                                      : "in the body";
  fail(400, fmt::format("stream ended {} (message incomplete)", where));
}

bool http_parser::line(std::string_view l) {
  if (l.find('\r') != std::string_view::npos) return fail(400, "bare CR in a line");
  switch (m_phase) {
    case phase::start:
      if (l.empty()) {
        if (++m_empty_lines > 8) return fail(400, "too many empty lines before the start line");
        return true;
      }
      if (!parse_start_line(l)) return false;
      m_phase = phase::headers;
      return true;
    case phase::headers:
      if (l.empty()) return end_of_headers();
      return field_line(l, header_fields(), false);
    case phase::chunk_size:
      return chunk_size_line(l);
    case phase::trailers:
      if (l.empty()) {
        done();
        return true;
      }
      return field_line(l, trailer_fields(), true);
    default:
      return fail(400, "internal: line in a body phase");
  }
}

bool http_parser::field_line(std::string_view l, http_headers& into, bool trailer) {
  const char* section = trailer ? "trailer" : "header";
  if (is_ws(l.front())) {
    // obs-fold: a continuation of the previous field's value.
    if (!allow_obs_fold()) return fail(400, fmt::format("obsolete line folding in the {} section", section));
    if (into.m_fields.empty())
      return fail(400, fmt::format("{} section starts with a continuation line", section));
    const auto more = trim(l);
    if (!is_text(more)) return fail(400, fmt::format("invalid character in a folded {} value", section));
    auto& value = into.m_fields.back().second;
    if (!more.empty()) value += (value.empty() ? "" : " ") + std::string(more);
    return true;
  }
  const auto colon = l.find(':');
  if (colon == std::string_view::npos) return fail(400, fmt::format("{} line without a colon", section));
  const auto name = l.substr(0, colon);
  if (name.empty()) return fail(400, fmt::format("empty {} field name", section));
  if (is_ws(name.back()))
    return fail(400, fmt::format("whitespace between {} field name and colon", section));
  if (!is_token(name)) return fail(400, fmt::format("invalid character in {} field name", section));
  const auto value = trim(l.substr(colon + 1));
  if (!is_text(value))
    return fail(400, fmt::format("invalid character in the value of {}", std::string(name)));
  if (into.size() >= m_limits.max_headers)
    return fail(431, fmt::format("more than {} {} fields", m_limits.max_headers, section));
  into.add(std::string(name), std::string(value));
  return true;
}

bool http_parser::end_of_headers() {
  m_headers_done = true;
  if (!decide_framing()) return false;
  if (on_headers) on_headers();
  if (m_status != status::incomplete) return m_status == status::complete;
  switch (m_framing) {
    case framing::none:
      done();
      break;
    case framing::length:
      m_phase = phase::body;
      break;
    case framing::chunked:
      m_phase = phase::chunk_size;
      break;
    case framing::until_close:
      m_phase = phase::rest;
      break;
  }
  return true;
}

bool http_parser::chunk_size_line(std::string_view l) {
  std::size_t p = 0;
  std::uint64_t size = 0;
  while (p < l.size() && hex_value(l[p]) >= 0) {
    if ((size >> 60) != 0) return fail(400, "chunk size overflows 64 bits");
    size = size << 4 | static_cast<std::uint64_t>(hex_value(l[p]));
    ++p;
  }
  if (p == 0) return fail(400, "chunk size is not a hexadecimal number");
  const auto ext = trim(l.substr(p));
  if (!ext.empty()) {
    if (ext.front() != ';') return fail(400, "unexpected characters after the chunk size");
    if (!valid_chunk_ext(ext))
      return fail(400, fmt::format("malformed chunk extension '{}'", std::string(ext)));
    m_chunk_ext.emplace_back(ext);
  }
  if (size == 0) {
    m_phase = phase::trailers;
    return true;
  }
  if (size > m_limits.max_body || m_body_bytes + size > m_limits.max_body)
    return fail(413, fmt::format("chunked body larger than {} bytes", m_limits.max_body));
  m_remaining = size;
  ++m_chunks;
  m_phase = phase::chunk_data;
  return true;
}

bool http_parser::body_data(const char* p, std::size_t n) {
  if (m_body_bytes + n > m_limits.max_body)
    return fail(413, fmt::format("body larger than {} bytes", m_limits.max_body));
  m_body_bytes += n;
  if (on_body)
    on_body(p, n);
  else
    body_text().append(p, n);
  return true;
}

bool http_parser::content_length(const http_headers& h, std::uint64_t& out) {
  bool have = false;
  for (const auto& v : h.get_all("Content-Length")) {
    const auto items = split_list(v);
    if (items.empty()) return fail(400, "empty Content-Length");
    for (auto item : items) {
      std::uint64_t n = 0;
      for (char c : item) {
        if (c < '0' || c > '9') return fail(400, fmt::format("invalid Content-Length '{}'", v));
        if (n > (~std::uint64_t{0} - 9) / 10) return fail(413, "Content-Length overflows 64 bits");
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
      }
      if (have && n != out) return fail(400, "conflicting Content-Length values");
      out = n;
      have = true;
    }
  }
  return true;
}

// ---- request parser -------------------------------------------------------------------------------------

http_request http_request_parser::take() {
  http_request r = std::move(m_msg);
  reset();
  return r;
}

void http_request_parser::reset() {
  m_msg = http_request{};
  reset_parser();
}

bool http_request_parser::parse_start_line(std::string_view l) {
  const auto sp1 = l.find(' ');
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : l.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || l.find(' ', sp2 + 1) != std::string_view::npos)
    return fail(400, "malformed request line (want: method SP target SP version)");
  const auto method = l.substr(0, sp1);
  const auto target = l.substr(sp1 + 1, sp2 - sp1 - 1);
  const auto version = l.substr(sp2 + 1);
  if (!is_token(method)) return fail(400, "invalid method");
  if (target.empty() ||
      !std::all_of(target.begin(), target.end(), [](char c) { return c > 0x20 && c < 0x7F; }))
    return fail(400, "invalid request target");
  int minor = 1;
  const int v = parse_version(version, minor);
  if (v == 505) return fail(505, fmt::format("unsupported HTTP version '{}'", std::string(version)));
  if (v != 0) return fail(400, fmt::format("malformed HTTP version '{}'", std::string(version)));
  m_msg.method = std::string(method);
  m_msg.target = std::string(target);
  m_msg.version_minor = minor;
  return true;
}

bool http_request_parser::decide_framing() {
  const auto te = m_msg.headers.get_all("Transfer-Encoding");
  if (!te.empty()) {
    // Both framings at once is the classic request-smuggling shape: refuse it (RFC 9112 §6.3).
    if (m_msg.headers.has("Content-Length")) return fail(400, "both Transfer-Encoding and Content-Length");
    if (m_msg.version_minor == 0) return fail(400, "Transfer-Encoding in an HTTP/1.0 request");
    std::vector<std::string_view> codings;
    for (const auto& v : te)
      for (auto c : split_list(v)) codings.push_back(c);
    if (codings.empty()) return fail(400, "empty Transfer-Encoding");
    if (!http_iequals(codings.back(), "chunked")) return fail(400, "final transfer coding is not chunked");
    // Codings other than chunked (gzip, ...) are not decoded here.
    if (codings.size() > 1)
      return fail(501, fmt::format("unsupported transfer coding '{}'", std::string(codings.front())));
    m_framing = framing::chunked;
    return true;
  }
  std::uint64_t len = 0;
  if (!content_length(m_msg.headers, len)) return false;
  if (len > limits().max_body)
    return fail(413, fmt::format("Content-Length {} exceeds the limit of {} bytes", len, limits().max_body));
  m_framing = len == 0 ? framing::none : framing::length;
  m_remaining = len;
  return true;
}

// ---- response parser ------------------------------------------------------------------------------------

http_response http_response_parser::take() {
  http_response r = std::move(m_msg);
  reset();
  return r;
}

void http_response_parser::reset() {
  m_msg = http_response{};
  reset_parser();
}

bool http_response_parser::parse_start_line(std::string_view l) {
  // HTTP-version SP 3DIGIT SP [reason]; a missing SP after the code is tolerated.
  if (l.size() < 12 || l[8] != ' ') return fail(400, "malformed status line");
  int minor = 1;
  const int v = parse_version(l.substr(0, 8), minor);
  if (v == 505) return fail(505, fmt::format("unsupported HTTP version '{}'", std::string(l.substr(0, 8))));
  if (v != 0) return fail(400, fmt::format("malformed HTTP version '{}'", std::string(l.substr(0, 8))));
  int code = 0;
  for (std::size_t i = 9; i < 12; ++i) {
    if (l[i] < '0' || l[i] > '9') return fail(400, "status code is not three digits");
    code = code * 10 + (l[i] - '0');
  }
  if (code < 100) return fail(400, fmt::format("invalid status code {}", code));
  std::string_view reason;
  if (l.size() > 12) {
    if (l[12] != ' ') return fail(400, "status code is not three digits");
    reason = l.substr(13);
  }
  if (!is_text(reason)) return fail(400, "invalid character in the reason phrase");
  m_msg.version_minor = minor;
  m_msg.status = code;
  m_msg.reason = std::string(reason);
  return true;
}

bool http_response_parser::decide_framing() {
  const int s = m_msg.status;
  if (!http_status_has_body(s) || http_iequals(m_method, "HEAD") ||
      (http_iequals(m_method, "CONNECT") && s / 100 == 2)) {
    m_framing = framing::none;
    return true;
  }
  if (m_msg.headers.has("Transfer-Encoding")) {
    // Transfer-Encoding overrides Content-Length; without chunked last, the close ends the body.
    m_framing = is_chunked(m_msg.headers) ? framing::chunked : framing::until_close;
    return true;
  }
  if (m_msg.headers.has("Content-Length")) {
    std::uint64_t len = 0;
    if (!content_length(m_msg.headers, len)) return false;
    if (len > limits().max_body)
      return fail(413,
                  fmt::format("Content-Length {} exceeds the limit of {} bytes", len, limits().max_body));
    m_framing = len == 0 ? framing::none : framing::length;
    m_remaining = len;
    return true;
  }
  m_framing = framing::until_close;
  return true;
}

// ---- serializers ----------------------------------------------------------------------------------------

std::string http_serialize_head(const http_request& r) {
  std::string out = fmt::format("{} {} HTTP/1.{}\r\n", r.method, r.target, r.version_minor);
  write_fields(out, r.headers);
  out += "\r\n";
  return out;
}

std::string http_serialize_head(const http_response& r) {
  std::string out = fmt::format("HTTP/1.{} {:03} {}\r\n", r.version_minor, r.status, r.reason);
  write_fields(out, r.headers);
  out += "\r\n";
  return out;
}

std::string http_serialize(const http_request& r) {
  if (r.body.empty() || r.headers.has("Content-Length") || r.headers.has("Transfer-Encoding"))
    return http_serialize_head(r) + frame_body(r.headers, r.body, r.trailers);
  http_request copy = r;
  copy.headers.add("Content-Length", std::to_string(r.body.size()));
  return http_serialize_head(copy) + r.body;
}

std::string http_serialize(const http_response& r) {
  if (!http_status_has_body(r.status)) return http_serialize_head(r);
  if (r.headers.has("Content-Length") || r.headers.has("Transfer-Encoding"))
    return http_serialize_head(r) + frame_body(r.headers, r.body, r.trailers);
  http_response copy = r;
  copy.headers.add("Content-Length", std::to_string(r.body.size()));
  return http_serialize_head(copy) + r.body;
}

std::string http_chunk(std::string_view data, std::string_view ext) {
  if (data.empty()) return {};
  std::string out = fmt::format("{:x}{}\r\n", data.size(), ext);
  out.append(data.data(), data.size());
  out += "\r\n";
  return out;
}

std::string http_last_chunk(const http_headers& trailers, std::string_view ext) {
  std::string out = fmt::format("0{}\r\n", ext);
  write_fields(out, trailers);
  out += "\r\n";
  return out;
}

// ---- generated bodies -----------------------------------------------------------------------------------

std::uint8_t http_pattern_byte(std::uint64_t offset) {
  // 131 is odd, so the low byte cycles through all 256 values; the shifted terms change the cycle every
  // 256 and every 64 Ki bytes, so a read displaced by any buffer size up to 16 MiB lands on other values.
  return static_cast<std::uint8_t>(offset * 131 ^ offset >> 8 ^ offset >> 16 ^ offset >> 24);
}

http_body_source http_pattern_body(std::uint64_t size) {
  http_body_source s;
  s.size = size;
  s.fill = [](std::uint64_t offset, char* out, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<char>(http_pattern_byte(offset + i));
  };
  return s;
}

http_reply http_reply::text(int status, std::string body, std::string content_type) {
  http_reply r;
  r.status = status;
  r.body = std::move(body);
  r.headers.add("Content-Type", std::move(content_type));
  return r;
}

http_reply http_reply::generated(std::uint64_t size, http_framing framing) {
  http_reply r;
  r.generator = http_pattern_body(size);
  r.framing = framing;
  r.headers.add("Content-Type", "application/octet-stream");
  return r;
}

// ---- server ---------------------------------------------------------------------------------------------

struct http_server::conn {
  explicit conn(const http_limits& l) : parser(l) {}

  std::uint64_t id = 0;
  tcp_ptr tcp;
  http_request_parser parser;
  std::deque<http_request> queue;         // parsed, waiting for the response in progress
  std::optional<http_reply> error_reply;  // answers a malformed request after the queue, then closes
  bool reading_stopped = false;           // after a malformed request nothing more is parsed
  bool paused = false;                    // reading paused: too many pipelined requests
  bool peer_fin = false;
  bool closing = false;
  std::uint64_t answered = 0;

  // The response being sent.
  bool responding = false;
  struct response {
    http_reply reply;
    std::string method, target, head;
    bool head_only = false, has_body = true, chunked = false, keep_alive = true, head_sent = false;
    std::uint64_t size = 0, sent = 0;
    ps_t started = 0;
  } out;
  std::string scratch;  // generator output buffer
  bool refill_posted = false;
  bool fin_deferred = false;  // the peer's FIN arrived while reading was paused

  scheduler::event_id idle_timer, pace_timer;
};

http_server::http_server(peer_host& host, std::uint16_t port, http_server_config cfg)
    : m_host(host),
      m_port(port),
      m_cfg(std::move(cfg)),
      m_diag(host.config().name + "/" + m_cfg.name, host.sched().clock()) {
  if (m_cfg.max_pipeline == 0) throw std::invalid_argument("http_server: max_pipeline must be at least 1");
  if (m_cfg.send_high_water == 0)
    throw std::invalid_argument("http_server: send_high_water must be at least 1");
  if (m_cfg.limits.max_line < 16 || m_cfg.limits.max_headers == 0)
    throw std::invalid_argument("http_server: limits too small (max_line >= 16, max_headers >= 1)");
  m_host.seg().adopt(m_diag);
  m_host.tcp_listen(m_port, [this](tcp_ptr t) { accept(std::move(t)); });
}

http_server::~http_server() {
  m_host.tcp_unlisten(m_port);
  auto conns = std::move(m_conns);
  m_conns.clear();
  for (auto& [id, c] : conns) {
    cancel(m_host.sched(), c->idle_timer);
    cancel(m_host.sched(), c->pace_timer);
    if (!c->closing && c->tcp->state() != tcp_state::closed) c->tcp->close();
  }
  m_host.seg().disown(m_diag);
}

void http_server::route(std::string method, std::string path, handler h) {
  if (method.empty() || !is_token(method))
    throw std::invalid_argument("http_server::route: method must be a non-empty token");
  if (path.empty() || path.front() != '/')
    throw std::invalid_argument("http_server::route: path must start with '/': '" + path + "'");
  if (!h) throw std::invalid_argument("http_server::route: empty handler for " + method + " " + path);
  const bool prefix = path.back() == '*';
  if (prefix) path.pop_back();
  m_routes.push_back(route_entry{std::move(method), std::move(path), prefix, std::move(h)});
}

void http_server::accept(tcp_ptr tcp) {
  auto c = std::make_shared<conn>(m_cfg.limits);
  c->id = m_next_id++;
  c->tcp = std::move(tcp);
  m_conns[c->id] = c;
  ++m_stats.connections;
  const std::weak_ptr<conn> w = c;
  c->tcp->on_data = [this, w](const octets& d) {
    if (auto cp = w.lock()) on_data(cp, d);
  };
  c->tcp->on_peer_fin = [this, w] {
    if (auto cp = w.lock()) on_peer_fin(cp);
  };
  c->tcp->on_closed = [this, w](const std::string& reason) {
    if (auto cp = w.lock()) on_closed(cp, reason);
  };
  // Refill from a fresh event, not inside on_acked: the TCP stack reports the ACK before it has taken the
  // window from the same segment, and data queued now would go out against the old window.
  c->tcp->on_acked = [this, w](std::size_t) {
    auto cp = w.lock();
    if (!cp || !cp->responding || !cp->out.head_sent || cp->refill_posted) return;
    cp->refill_posted = true;
    m_host.sched().after(0, [this, w] {
      if (auto cq = w.lock()) {
        cq->refill_posted = false;
        pump(cq);
      }
    });
  };
  // "Expect: 100-continue": tell the client to send the body, unless earlier responses are still owed
  // (the interim response would come out of order; the client then sends the body after its own wait).
  conn* raw = c.get();
  c->parser.on_headers = [raw] {
    const auto& r = raw->parser.request();
    if (r.version_minor >= 1 && raw->parser.body_framing() != http_parser::framing::none &&
        r.headers.has_token("Expect", "100-continue") && !raw->responding && raw->queue.empty())
      raw->tcp->send(std::string_view("HTTP/1.1 100 Continue\r\n\r\n"));
  };
  m_diag.log(log_level::debug, "http", "connection {} from {}:{}", c->id, to_string(c->tcp->remote_ip()),
             c->tcp->remote_port());
  if (m_diag.tracing())
    m_diag.trace("http_accept", fmt::format(R"("conn":{},"ip":"{}","port":{})", c->id,
                                            to_string(c->tcp->remote_ip()), c->tcp->remote_port()));
  arm_idle(c);
}

void http_server::arm_idle(const conn_ptr& c) {
  cancel(m_host.sched(), c->idle_timer);
  if (m_cfg.idle_timeout == 0) return;
  const std::weak_ptr<conn> w = c;
  c->idle_timer = m_host.sched().after(m_cfg.idle_timeout, [this, w] {
    auto cp = w.lock();
    if (!cp) return;
    cp->idle_timer = {};
    if (cp->responding || cp->closing || !cp->queue.empty() || cp->error_reply) return;
    if (cp->parser.idle()) {
      ++m_stats.idle_closes;
      m_diag.log(log_level::debug, "http", "connection {} idle: closing", cp->id);
      cp->closing = true;
      cp->tcp->close();
      return;
    }
    // Part of a request and then silence: answer 408 and close.
    ++m_stats.idle_closes;
    cp->reading_stopped = true;
    http_reply r = http_reply::text(408, "request not completed in time\n");
    r.close = true;
    cp->error_reply = std::move(r);
    next(cp);
  });
}

void http_server::on_data(const conn_ptr& c, const octets& data) {
  if (c->reading_stopped || c->closing) return;
  const char* p = reinterpret_cast<const char*>(data.data());
  std::size_t off = 0;
  while (off < data.size()) {
    const std::size_t used = c->parser.feed(p + off, data.size() - off);
    off += used;
    if (c->parser.complete()) {
      if (c->responding || !c->queue.empty()) ++m_stats.pipelined;
      c->queue.push_back(c->parser.take());
      continue;
    }
    if (c->parser.failed()) {
      ++m_stats.parse_errors;
      m_diag.log(log_level::warn, "http", "connection {}: malformed request ({}): {}", c->id,
                 c->parser.error_status(), c->parser.error());
      if (m_diag.tracing())
        m_diag.trace("http_bad_request",
                     fmt::format(R"("conn":{},"status":{},"error":"{}")", c->id, c->parser.error_status(),
                                 json_escape(c->parser.error())));
      c->reading_stopped = true;
      http_reply r = http_reply::text(c->parser.error_status(), c->parser.error() + "\n");
      r.close = true;
      c->error_reply = std::move(r);
      break;
    }
    if (used == 0) break;
  }
  if (!c->paused && c->queue.size() >= m_cfg.max_pipeline) {
    c->paused = true;
    c->tcp->pause_reading(true);
  }
  next(c);
}

void http_server::on_peer_fin(const conn_ptr& c) {
  if (c->paused) {
    // The TCP stack reports the FIN at once, even with data still held back by pause_reading: handle it
    // after that data, once reading resumes.
    c->fin_deferred = true;
    return;
  }
  c->peer_fin = true;
  if (!c->reading_stopped && !c->closing) {
    c->parser.finish();
    if (c->parser.failed()) {
      ++m_stats.parse_errors;
      m_diag.log(log_level::warn, "http", "connection {}: {}", c->id, c->parser.error());
      c->reading_stopped = true;
      http_reply r = http_reply::text(c->parser.error_status(), c->parser.error() + "\n");
      r.close = true;
      c->error_reply = std::move(r);
    }
  }
  next(c);
}

void http_server::on_closed(const conn_ptr& c, const std::string& reason) {
  if (c->responding) {
    ++m_stats.aborted;
    m_diag.log(log_level::info, "http", "connection {} ended during a response to {} {}: {}", c->id,
               c->out.method, c->out.target, reason);
  }
  if (m_diag.tracing())
    m_diag.trace("http_close", fmt::format(R"("conn":{},"answered":{},"reason":"{}")", c->id, c->answered,
                                           json_escape(reason)));
  drop(c);
}

void http_server::drop(const conn_ptr& c) {
  cancel(m_host.sched(), c->idle_timer);
  cancel(m_host.sched(), c->pace_timer);
  m_conns.erase(c->id);
}

void http_server::next(const conn_ptr& c) {
  if (c->responding || c->closing) return;
  if (!c->queue.empty()) {
    http_request req = std::move(c->queue.front());
    c->queue.pop_front();
    if (c->paused && c->queue.size() < m_cfg.max_pipeline) {
      c->paused = false;
      c->tcp->pause_reading(false);  // delivers what was held back from an event posted now
      if (c->fin_deferred) {
        c->fin_deferred = false;
        const std::weak_ptr<conn> w = c;
        m_host.sched().after(0, [this, w] {
          if (auto cp = w.lock()) on_peer_fin(cp);
        });
      }
    }
    cancel(m_host.sched(), c->idle_timer);
    bool head_only = false;
    http_reply reply = dispatch(c, req, head_only);
    start_response(c, std::move(reply), req, head_only);
    return;
  }
  if (c->error_reply) {
    http_reply r = std::move(*c->error_reply);
    c->error_reply.reset();
    cancel(m_host.sched(), c->idle_timer);
    http_request none;
    none.method = "-";
    none.target = "-";
    start_response(c, std::move(r), none, false);
    return;
  }
  if (c->peer_fin) {
    // The client has finished sending and everything it asked is answered.
    c->closing = true;
    cancel(m_host.sched(), c->idle_timer);
    c->tcp->close();
    return;
  }
  arm_idle(c);
}

http_reply http_server::dispatch(const conn_ptr& c, const http_request& req, bool& head_only) {
  ++m_stats.requests;
  if (c->answered > 0) ++m_stats.keepalive_reuses;
  if (m_diag.tracing())
    m_diag.trace(
        "http_request",
        fmt::format(R"("conn":{},"method":"{}","target":"{}","version":"1.{}","body":{})", c->id,
                    json_escape(req.method), json_escape(req.target), req.version_minor, req.body.size()));
  m_diag.log(log_level::debug, "http", "connection {}: {} {}", c->id, req.method, req.target);
  head_only = req.method == "HEAD";
  if (req.version_minor >= 1 && !req.headers.has("Host"))
    return http_reply::text(400, "missing Host field\n");

  // The exact path, else the longest prefix route.
  const std::string path = req.path();
  const route_entry* best = nullptr;
  for (const auto& r : m_routes)
    if (!r.prefix && r.path == path) {
      best = &r;
      break;
    }
  if (best == nullptr)
    for (const auto& r : m_routes)
      if (r.prefix && path.compare(0, r.path.size(), r.path) == 0 &&
          (best == nullptr || r.path.size() > best->path.size()))
        best = &r;
  if (best == nullptr) {
    ++m_stats.not_found;
    return http_reply::text(404, "no route for " + path + "\n");
  }
  const route_entry* match = nullptr;
  const route_entry* get_route = nullptr;
  std::vector<std::string> allowed;
  for (const auto& r : m_routes) {
    if (r.prefix != best->prefix || r.path != best->path) continue;
    if (r.method == req.method && match == nullptr) match = &r;
    if (r.method == "GET" && get_route == nullptr) get_route = &r;
    if (std::find(allowed.begin(), allowed.end(), r.method) == allowed.end()) allowed.push_back(r.method);
  }
  if (match == nullptr && head_only) match = get_route;
  if (match == nullptr) {
    ++m_stats.method_not_allowed;
    if (get_route != nullptr && std::find(allowed.begin(), allowed.end(), "HEAD") == allowed.end())
      allowed.emplace_back("HEAD");
    std::string allow;
    for (const auto& m : allowed) allow += (allow.empty() ? "" : ", ") + m;
    http_reply r = http_reply::text(405, req.method + " not allowed on " + path + "\n");
    r.headers.add("Allow", allow);
    return r;
  }
  try {
    return match->fn(req);
  } catch (const std::exception& e) {
    ++m_stats.handler_errors;
    m_diag.log(log_level::error, "http", "handler for {} {} threw: {}", req.method, path, e.what());
    return http_reply::text(500, std::string("handler failed: ") + e.what() + "\n");
  }
}

void http_server::start_response(const conn_ptr& c, http_reply reply, const http_request& req,
                                 bool head_only) {
  if (reply.status < 200 || reply.status > 999) {
    // Interim (1xx) and impossible codes are not final answers: a handler bug.
    m_diag.log(log_level::error, "http", "handler for {} {} returned status {}", req.method, req.target,
               reply.status);
    ++m_stats.handler_errors;
    reply = http_reply::text(500, fmt::format("handler returned status {}\n", reply.status));
  }
  c->responding = true;
  auto& o = c->out;
  o = conn::response{};
  o.method = req.method;
  o.target = req.target;
  o.started = m_host.sched().now();
  o.head_only = head_only;
  o.has_body = http_status_has_body(reply.status);
  o.keep_alive = req.keep_alive() && !reply.close;
  o.size = reply.generator ? reply.generator->size : reply.body.size();
  reply.chunk_size = std::max<std::size_t>(reply.chunk_size, 1);

  http_response head;
  head.status = reply.status;
  head.reason = reply.reason.empty() ? http_reason(reply.status) : reply.reason;
  head.headers = reply.headers;
  head.headers.remove("Content-Length");
  head.headers.remove("Transfer-Encoding");
  head.headers.remove("Connection");
  if (!m_cfg.server_header.empty() && !head.headers.has("Server"))
    head.headers.add("Server", m_cfg.server_header);
  if (o.has_body) {
    http_framing f = reply.framing;
    if (f == http_framing::chunked && req.version_minor == 0) f = http_framing::close;  // 1.0 has no chunking
    switch (f) {
      case http_framing::content_length:
        head.headers.add("Content-Length", std::to_string(o.size));
        break;
      case http_framing::chunked:
        o.chunked = true;
        head.headers.add("Transfer-Encoding", "chunked");
        if (!reply.trailers.empty() && !head.headers.has("Trailer")) {
          std::string names;
          for (const auto& [name, value] : reply.trailers) names += (names.empty() ? "" : ", ") + name;
          head.headers.add("Trailer", names);
        }
        break;
      case http_framing::close:
        o.keep_alive = false;
        break;
    }
  }
  if (!o.keep_alive)
    head.headers.add("Connection", "close");
  else if (req.version_minor == 0)
    head.headers.add("Connection", "keep-alive");
  o.head = http_serialize_head(head);
  o.reply = std::move(reply);

  if (o.reply.header_delay > 0) {
    const std::weak_ptr<conn> w = c;
    c->pace_timer = m_host.sched().after(o.reply.header_delay, [this, w] {
      if (auto cp = w.lock()) {
        cp->pace_timer = {};
        send_head(cp);
      }
    });
  } else {
    send_head(c);
  }
}

void http_server::send_head(const conn_ptr& c) {
  c->tcp->send(std::string_view(c->out.head));
  c->out.head_sent = true;
  c->out.head.clear();
  pump(c);
}

void http_server::pump(const conn_ptr& c) {
  auto& o = c->out;
  if (!c->responding || !o.head_sent || c->pace_timer) return;
  const bool body = !o.head_only && o.has_body;
  const auto& r = o.reply;
  while (body && o.sent < o.size) {
    if (c->tcp->unsent() >= m_cfg.send_high_water) return;  // on_acked brings us back
    const std::size_t piece_max = o.chunked || r.chunk_delay > 0 ? r.chunk_size : m_cfg.send_high_water;
    const auto piece = static_cast<std::size_t>(std::min<std::uint64_t>(piece_max, o.size - o.sent));
    std::string_view data;
    if (r.generator) {
      c->scratch.resize(piece);
      r.generator->fill(o.sent, c->scratch.data(), piece);
      data = c->scratch;
    } else {
      data = std::string_view(r.body).substr(static_cast<std::size_t>(o.sent), piece);
    }
    if (o.chunked)
      c->tcp->send(std::string_view(http_chunk(data, r.chunk_extension)));
    else
      c->tcp->send(data);
    o.sent += piece;
    m_stats.body_bytes += piece;
    if (r.chunk_delay > 0 && o.sent < o.size) {
      const std::weak_ptr<conn> w = c;
      c->pace_timer = m_host.sched().after(r.chunk_delay, [this, w] {
        if (auto cp = w.lock()) {
          cp->pace_timer = {};
          pump(cp);
        }
      });
      return;
    }
  }
  if (body && o.chunked) c->tcp->send(std::string_view(http_last_chunk(r.trailers, r.chunk_extension)));
  response_done(c);
}

void http_server::response_done(const conn_ptr& c) {
  auto& o = c->out;
  const int status = o.reply.status;
  c->responding = false;
  ++c->answered;
  ++m_stats.responses;
  ++m_stats.by_status[status];
  m_diag.log(log_level::debug, "http", "connection {}: {} {} -> {} ({} body bytes)", c->id, o.method,
             o.target, status, o.sent);
  if (m_diag.tracing())
    m_diag.trace("http_response",
                 fmt::format(R"("conn":{},"method":"{}","target":"{}","status":{},"body":{},"chunked":{},)"
                             R"("keep_alive":{},"ms":{})",
                             c->id, json_escape(o.method), json_escape(o.target), status, o.sent, o.chunked,
                             o.keep_alive, ms_text(m_host.sched().now() - o.started)));
  c->scratch.clear();
  c->scratch.shrink_to_fit();
  if (!o.keep_alive) {
    c->closing = true;
    c->queue.clear();  // pipelined requests after a closing response are not answered
    cancel(m_host.sched(), c->idle_timer);
    c->tcp->close();
    o.reply = http_reply{};
    return;
  }
  o.reply = http_reply{};
  next(c);
}

// ---- client ---------------------------------------------------------------------------------------------

struct http_client::pending {
  std::string method, target;
  http_headers headers;
  std::string body;
  callback done;
  ps_t issued = 0;
  bool retried = false;
};

struct http_client::conn {
  conn(scheduler& s, const http_limits& l) : sched(s), parser(l) {}
  ~conn() { cancel(sched, timer); }

  scheduler& sched;
  std::uint64_t id = 0;
  std::pair<ip4_addr, std::uint16_t> key;
  tcp_ptr tcp;
  http_response_parser parser;
  bool connected = false, peer_fin = false, poisoned = false;
  std::uint64_t used = 0;  // responses received over it
  std::optional<pending> active;
  bool sent = false, got_bytes = false, reused = false;
  scheduler::event_id timer;  // the active request's timeout, or the idle timeout
};

struct http_client::dest {
  std::pair<ip4_addr, std::uint16_t> key;
  std::deque<pending> queue;
  conn_ptr c;
};

http_client::http_client(peer_host& host, http_client_config cfg)
    : m_host(host),
      m_cfg(std::move(cfg)),
      m_diag(host.config().name + "/" + m_cfg.name, host.sched().clock()),
      m_alive(std::make_shared<bool>(true)) {
  if (m_cfg.timeout == 0) throw std::invalid_argument("http_client: timeout must be positive");
  m_host.seg().adopt(m_diag);
}

http_client::~http_client() {
  *m_alive = false;
  auto dests = std::move(m_dests);
  m_dests.clear();
  for (auto& [key, d] : dests)
    if (d->c && d->c->tcp->state() != tcp_state::closed) d->c->tcp->close();
  m_host.seg().disown(m_diag);
}

std::size_t http_client::open_connections() const {
  std::size_t n = 0;
  for (const auto& [key, d] : m_dests) n += d->c ? 1 : 0;
  return n;
}

std::size_t http_client::outstanding() const {
  std::size_t n = 0;
  for (const auto& [key, d] : m_dests) n += d->queue.size() + (d->c && d->c->active ? 1 : 0);
  return n;
}

void http_client::request(ip4_addr ip, std::uint16_t port, std::string method, std::string target,
                          http_headers headers, std::string body, callback done) {
  if (!is_token(method)) throw std::invalid_argument("http_client::request: invalid method '" + method + "'");
  if (target.empty() || target.find_first_of(" \r\n") != std::string::npos)
    throw std::invalid_argument("http_client::request: invalid target '" + target + "'");
  ++m_stats.requests;
  auto& d = m_dests[{ip, port}];
  if (!d) {
    d = std::make_unique<dest>();
    d->key = {ip, port};
  }
  pending p;
  p.method = std::move(method);
  p.target = std::move(target);
  p.headers = std::move(headers);
  p.body = std::move(body);
  p.done = std::move(done);
  p.issued = m_host.sched().now();
  d->queue.push_back(std::move(p));
  pump(*d);
}

void http_client::close_idle() {
  for (auto& [key, d] : m_dests) {
    if (!d->c || d->c->active) continue;
    auto c = d->c;
    c->tcp->close();
    detach(c);
  }
}

http_client::dest& http_client::dest_of(const conn_ptr& c) {
  return *m_dests.at(c->key);
}

void http_client::detach(const conn_ptr& c) {
  cancel(m_host.sched(), c->timer);
  auto it = m_dests.find(c->key);
  if (it != m_dests.end() && it->second->c == c) it->second->c.reset();
}

void http_client::pump(dest& d) {
  if (d.c && d.c->active) return;
  if (d.queue.empty()) return;
  pending p = std::move(d.queue.front());
  d.queue.pop_front();
  const auto key = d.key;
  if (d.c && (d.c->peer_fin || d.c->poisoned)) {
    d.c->tcp->close();
    detach(d.c);
  }
  conn_ptr c = d.c;
  const bool reuse = c != nullptr;
  if (!reuse) {
    c = std::make_shared<conn>(m_host.sched(), m_cfg.limits);
    c->id = m_next_id++;
    c->key = key;
    c->tcp = m_host.tcp_connect(key.first, key.second);
    ++m_stats.connections;
    const std::weak_ptr<conn> w = c;
    c->tcp->on_connected = [this, w] {
      auto cp = w.lock();
      if (!cp) return;
      cp->connected = true;
      if (cp->active && !cp->sent) send_request(cp);
    };
    c->tcp->on_data = [this, w](const octets& data) {
      if (auto cp = w.lock()) on_data(cp, data);
    };
    c->tcp->on_peer_fin = [this, w] {
      if (auto cp = w.lock()) on_peer_fin(cp);
    };
    c->tcp->on_closed = [this, w](const std::string& reason) {
      if (auto cp = w.lock()) on_closed(cp, reason);
    };
    d.c = c;
    m_diag.log(log_level::debug, "http", "connecting to {}:{}", to_string(key.first), key.second);
  }
  cancel(m_host.sched(), c->timer);
  c->active = std::move(p);
  c->sent = false;
  c->got_bytes = false;
  c->reused = reuse;
  if (reuse) ++m_stats.reused;
  const std::weak_ptr<conn> w = c;
  c->timer = m_host.sched().after(m_cfg.timeout, [this, w] {
    auto cp = w.lock();
    if (!cp || !cp->active) return;
    cp->timer = {};
    ++m_stats.timeouts;
    fail(cp,
         fmt::format("timeout after {} ms ({})", ms_text(m_cfg.timeout),
                     !cp->connected  ? "connecting"
                     : cp->got_bytes ? "reading the response"
                                     : "waiting for a response"),
         true);
  });
  if (reuse || c->connected) send_request(c);
}

void http_client::send_request(const conn_ptr& c) {
  const pending& p = *c->active;
  http_request r;
  r.method = p.method;
  r.target = p.target;
  r.headers = p.headers;
  r.body = p.body;
  if (!r.headers.has("Host"))
    r.headers.add("Host", c->key.second == 80 ? to_string(c->key.first)
                                              : fmt::format("{}:{}", to_string(c->key.first), c->key.second));
  if (!m_cfg.user_agent.empty() && !r.headers.has("User-Agent"))
    r.headers.add("User-Agent", m_cfg.user_agent);
  if (!m_cfg.keep_alive && !r.headers.has("Connection")) r.headers.add("Connection", "close");
  if (r.body.empty() && (r.method == "POST" || r.method == "PUT" || r.method == "PATCH") &&
      !r.headers.has("Content-Length") && !r.headers.has("Transfer-Encoding"))
    r.headers.add("Content-Length", "0");
  c->parser.reset();
  c->parser.set_request_method(r.method);
  c->tcp->send(std::string_view(http_serialize(r)));
  c->sent = true;
  if (m_diag.tracing())
    m_diag.trace("http_client_request",
                 fmt::format(R"("conn":{},"ip":"{}","port":{},"method":"{}","target":"{}","reused":{})",
                             c->id, to_string(c->key.first), c->key.second, json_escape(r.method),
                             json_escape(r.target), c->reused));
}

void http_client::on_data(const conn_ptr& c, const octets& data) {
  if (!c->active || !c->sent) {
    // Nothing was asked: a server talking out of turn. The connection cannot be trusted any more.
    m_diag.log(log_level::warn, "http", "{} unexpected bytes from {}:{} on an idle connection", data.size(),
               to_string(c->key.first), c->key.second);
    c->tcp->abort();
    detach(c);
    return;
  }
  c->got_bytes = true;
  const char* p = reinterpret_cast<const char*>(data.data());
  std::size_t off = 0;
  while (true) {
    off += c->parser.feed(p + off, data.size() - off);
    if (c->parser.failed()) {
      fail(c, "malformed response: " + c->parser.error(), true);
      return;
    }
    if (c->parser.complete()) {
      const int status = c->parser.response().status;
      if (status / 100 == 1 && status != 101) {
        c->parser.reset();  // an interim response (100 Continue): the final one follows
        if (off < data.size()) continue;
        return;
      }
      if (off < data.size()) c->poisoned = true;  // bytes nobody asked for after the response
      succeed(c);
      return;
    }
    if (off >= data.size()) return;
  }
}

void http_client::on_peer_fin(const conn_ptr& c) {
  c->peer_fin = true;
  if (!c->active) {
    c->tcp->close();
    detach(c);
    return;
  }
  c->parser.finish();
  if (c->parser.complete()) {
    succeed(c);
    return;
  }
  auto& p = *c->active;
  if (!c->got_bytes && c->reused && !p.retried) {
    // The server closed the kept-alive connection as we reused it: resend once on a fresh one.
    pending again = std::move(p);
    again.retried = true;
    c->active.reset();
    ++m_stats.retries;
    c->tcp->close();
    auto& d = dest_of(c);
    detach(c);
    d.queue.push_front(std::move(again));
    pump(d);
    return;
  }
  fail(c,
       c->parser.failed() ? "connection closed: " + c->parser.error()
                          : std::string("connection closed before any response byte"),
       false);
}

void http_client::on_closed(const conn_ptr& c, const std::string& reason) {
  if (!c->active) {
    detach(c);
    return;
  }
  auto& p = *c->active;
  if (c->connected && !c->got_bytes && c->reused && !p.retried) {
    pending again = std::move(p);
    again.retried = true;
    c->active.reset();
    ++m_stats.retries;
    auto& d = dest_of(c);
    detach(c);
    d.queue.push_front(std::move(again));
    pump(d);
    return;
  }
  fail(c, (c->connected ? "connection closed: " : "connect failed: ") + reason, false);
}

void http_client::succeed(const conn_ptr& c) {
  pending p = std::move(*c->active);
  c->active.reset();
  c->sent = false;
  ++c->used;
  cancel(m_host.sched(), c->timer);
  http_result res;
  res.framing = c->parser.body_framing();
  res.chunks = c->parser.chunk_count();
  http_response resp = c->parser.take();
  res.status = resp.status;
  res.reason = std::move(resp.reason);
  res.version_minor = resp.version_minor;
  res.headers = std::move(resp.headers);
  res.body = std::move(resp.body);
  res.trailers = std::move(resp.trailers);
  res.reused = c->reused;
  res.retried = p.retried;
  res.local_port = c->tcp->local_port();
  res.elapsed = m_host.sched().now() - p.issued;
  ++m_stats.responses;
  if (m_diag.tracing())
    m_diag.trace("http_client_response",
                 fmt::format(R"("conn":{},"method":"{}","target":"{}","status":{},"body":{},"ms":{})", c->id,
                             json_escape(p.method), json_escape(p.target), res.status, res.body.size(),
                             ms_text(res.elapsed)));
  const bool keep = m_cfg.keep_alive && persistent(res.version_minor, res.headers) &&
                    res.framing != http_parser::framing::until_close && res.status != 101 && !c->peer_fin &&
                    !c->poisoned;
  if (keep) {
    if (m_cfg.idle_timeout > 0) {
      const std::weak_ptr<conn> w = c;
      c->timer = m_host.sched().after(m_cfg.idle_timeout, [this, w] {
        auto cp = w.lock();
        if (!cp || cp->active) return;
        cp->timer = {};
        cp->tcp->close();
        detach(cp);
      });
    }
  } else {
    c->tcp->close();
    detach(c);
  }
  const auto key = c->key;
  const auto alive = m_alive;
  if (p.done) p.done(res);
  if (!*alive) return;  // the callback destroyed the client
  auto it = m_dests.find(key);
  if (it != m_dests.end()) pump(*it->second);
}

void http_client::fail(const conn_ptr& c, const std::string& why, bool abort) {
  pending p = std::move(*c->active);
  c->active.reset();
  ++m_stats.errors;
  m_diag.log(log_level::info, "http", "{} {} to {}:{} failed: {}", p.method, p.target,
             to_string(c->key.first), c->key.second, why);
  if (m_diag.tracing())
    m_diag.trace("http_client_error",
                 fmt::format(R"("conn":{},"method":"{}","target":"{}","error":"{}")", c->id,
                             json_escape(p.method), json_escape(p.target), json_escape(why)));
  if (c->tcp->state() != tcp_state::closed) {
    if (abort)
      c->tcp->abort();
    else
      c->tcp->close();
  }
  const auto key = c->key;
  detach(c);
  http_result res;
  res.error = why;
  res.retried = p.retried;
  res.reused = c->reused;
  res.local_port = c->tcp->local_port();
  res.elapsed = m_host.sched().now() - p.issued;
  const auto alive = m_alive;
  if (p.done) p.done(res);
  if (!*alive) return;
  auto it = m_dests.find(key);
  if (it != m_dests.end()) pump(*it->second);
}

}  // namespace wizsim
