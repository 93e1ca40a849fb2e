// A small WSGI-style HTTP/1.1 server: a C++17 port of adafruit_wiznet5k_wsgiserver (tag 5.2.1) over the
// socket module (socket.hpp). No heap, no exceptions, no std::function.
//
// The application is a plain function plus a context pointer. It gets the request as a read-only
// environ (the WSGI keys, every header field, the body as wsgi.input) and answers through a writer:
// start_response(status, headers) once, then write() body chunks.
//
//   void hello(void* ctx, const wsgi_environ& env, wsgi_response& resp) {
//     if (env.path_info() != "/") { resp.start_response("404 Not Found"); return; }
//     resp.start_response("200 OK", {{"Content-Type", "text/plain"}});
//     resp.write("hello\n");
//   }
//   wiznet5k::wsgiserver::set_interface(eth);
//   wiznet5k::wsgiserver::WSGIServer server(80, hello, nullptr);
//   server.start();
//   for (;;) { server.update_poll(); other_work(); }
//
// Serving, as the seed: several sockets listen on the port (max_sockets() - 2 = 6 on the W5500: socket 0
// stays free for DHCP/DNS and one more for the application's own client socket), one request per
// connection, "Connection: close", the socket re-listens afterwards. Unlike the seed:
//  - update_poll() never waits for a request: it reads what has arrived and returns; a request is
//    answered once complete. Requests are read one connection at a time into one bounded buffer
//    (request_buffer_size for the head and body together; other connections wait in the chip's buffers).
//    A connection is taken up only once it has sent something, so an idle one (a browser's pre-connect)
//    does not hold up the others; one that sent part of a request does, until it completes or times out.
//  - A request that does not complete within timeout_ms() (20 s, the seed's socket timeout) of its
//    connection being seen is dropped by closing the connection, as is a connection that sends nothing
//    for that long: the seed's _readline never timed out (drivers.md section 10).
//  - Connections are closed without waiting: FIN (DISCON) goes out and the socket listens again once the
//    client has closed its side too, or after 1 s, so a client that ignores the FIN does not stall
//    update_poll().
//  - Malformed requests get 400 (as soon as the bytes so far show it: a control byte, a bad request
//    line), a request line that does not fit the buffer 414, a head that does not fit 431, a body that
//    does not fit 413, a Transfer-Encoding (chunked bodies are not decoded) 501, an HTTP major version
//    other than 1 505; an application that never calls start_response (or gives a bad status or header)
//    gets 500. Error responses to HEAD carry no body.
//  - "Expect: 100-continue" gets "100 Continue" while the body has not started (HTTP/1.1 clients).
//  - An absolute-form target ("http://host/path?q") gives PATH_INFO "/path" (the seed kept the URL).
//  - Responses are framed: with the application's Content-Length the body streams straight out; without
//    one the body is buffered (response_buffer_size) and sent with the Content-Length computed, falling
//    back to a close-delimited body when it outgrows the buffer. HEAD gets the headers only.
//  - PATH_INFO is not percent-decoded (as the seed); QUERY_STRING is everything after the first '?'.
#pragma once
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string_view>

#include "wiznet5k/error.hpp"
#include "wiznet5k/socket.hpp"
#include "wiznet5k/wiznet5k.hpp"

namespace wiznet5k::wsgiserver {

// Sets the interface for the server's sockets (the seed module's set_interface; the same as
// socket_module::set_interface).
//   wiznet5k::wsgiserver::set_interface(eth);
void set_interface(WIZNET5K& iface);

// One header field, as it arrived (request) or as the application gives it (response).
struct wsgi_header {
  std::string_view name;
  std::string_view value;
};

class WSGIServer;

// The request, valid during the application call only (the views point into the server's buffer).
class wsgi_environ {
 public:
  std::string_view request_method() const { return m_method; }   // REQUEST_METHOD, "GET"
  std::string_view path_info() const { return m_path; }          // PATH_INFO, "/led/1"
  std::string_view query_string() const { return m_query; }       // QUERY_STRING, "" without '?'
  std::string_view server_protocol() const { return m_protocol; } // SERVER_PROTOCOL, "HTTP/1.1"
  std::string_view content_type() const { return m_content_type; }      // CONTENT_TYPE, "" if absent
  std::string_view content_length() const { return m_content_length; }  // CONTENT_LENGTH as sent or ""
  std::string_view server_name() const { return m_server_name; }  // SERVER_NAME, the chip's address
  std::uint16_t server_port() const { return m_server_port; }     // SERVER_PORT
  std::string_view input() const { return m_input; }              // wsgi.input: the whole body

  // Every header field in arrival order (duplicates included).
  //   for (const auto& h : env) printf("%.*s\n", (int)h.name.size(), h.name.data());
  std::size_t header_count() const { return m_header_count; }
  const wsgi_header& header_at(std::size_t i) const { return m_headers[i]; }
  const wsgi_header* begin() const { return m_headers; }
  const wsgi_header* end() const { return m_headers + m_header_count; }
  // The first field with that name (case-insensitive), nullopt if none.
  //   auto ua = env.header("User-Agent");
  std::optional<std::string_view> header(std::string_view field_name) const;

  // Python's environ[key]: REQUEST_METHOD, SCRIPT_NAME (""), PATH_INFO, QUERY_STRING, CONTENT_TYPE and
  // CONTENT_LENGTH (only when the request has them), SERVER_NAME, SERVER_PORT, SERVER_PROTOCOL,
  // wsgi.url_scheme ("http"), wsgi.input, and HTTP_<NAME> for a header field (NAME upper-cased, '-' as
  // '_'; the first such field: the seed joined duplicates with ',', which needs storage this does not
  // have). nullopt for other keys.
  //   auto host = env.get("HTTP_HOST");
  std::optional<std::string_view> get(std::string_view key) const;
  // Writes the CGI key of a field name ("User-Agent" -> "HTTP_USER_AGENT") into out (NUL-terminated,
  // truncated to cap - 1 characters); returns its full length.
  //   char k[64]; wsgi_environ::cgi_key(h.name, k, sizeof k);
  static std::size_t cgi_key(std::string_view field_name, char* out, std::size_t cap);

  static constexpr std::size_t max_headers = 24;

 private:
  friend class WSGIServer;
  std::string_view m_method, m_path, m_query, m_protocol, m_content_type, m_content_length, m_server_name,
      m_server_port_text, m_input;
  std::uint16_t m_server_port = 0;
  bool m_has_content_type = false, m_has_content_length = false;
  wsgi_header m_headers[max_headers];
  std::size_t m_header_count = 0;
};

// The application's side of the response. Errors it returns mean the response cannot go on (bad
// arguments, or the connection failed); the application may simply return then.
class wsgi_response {
 public:
  // WSGI's start_response(status, response_headers). status is "<3 digits> <reason>" ("200 OK").
  // "Server: w5kWSGIServer" (as the seed) and "Connection: close" are added; a Connection field given
  // here is dropped; a Content-Length field makes the body stream out as written (it must then be
  // exactly that long). value_error for a malformed status, a field name that is not a token, CR/LF
  // in a value, or headers that do not fit the response buffer; runtime_error when called twice.
  //   resp.start_response("200 OK", {{"Content-Type", "text/html"}});
  error start_response(std::string_view status, const wsgi_header* headers, std::size_t count);
  error start_response(std::string_view status, std::initializer_list<wsgi_header> headers = {});
  // Body bytes. runtime_error before start_response(); value_error beyond a declared Content-Length
  // (the excess is dropped); connection_error / timeout_error when sending failed.
  //   resp.write(page, page_len);
  error write(const void* data, std::size_t n);
  error write(std::string_view text) { return write(text.data(), text.size()); }

  bool started() const { return m_state != state::idle; }
  int status_code() const { return m_status_code; }
  std::size_t body_bytes() const { return m_body_total; }  // written by the application so far

 private:
  friend class WSGIServer;
  enum class state : std::uint8_t { idle, buffering, declared, streaming };
  wsgi_response(WSGIServer& server, socket_module::socket& conn, bool head_only);
  // Completes the response after the application returned; an error means the connection is unusable
  // or the body fell short of its Content-Length.
  error finish();
  error emit(const void* data, std::size_t n);  // append to the out buffer, flushing when full
  error flush();
  error fail_with(error e);
  error end_head(bool with_length, std::size_t length);

  socket_module::socket& m_conn;
  char* m_buf;
  std::size_t m_cap;
  std::size_t m_len = 0;       // bytes in m_buf
  std::size_t m_head_len = 0;  // buffering: the head's share of m_buf (the body follows it)
  state m_state = state::idle;
  bool m_head_only;            // HEAD request: no body goes out
  bool m_no_body = false;      // 1xx/204/304: no body and no Content-Length
  bool m_head_sent = false;    // the end of the head has been emitted
  int m_status_code = 0;
  std::uint32_t m_declared = 0;   // declared: the application's Content-Length
  std::size_t m_body_total = 0;   // body bytes the application wrote
  std::size_t m_body_sent = 0;    // declared/streaming: body bytes emitted
  error m_failed{};
};

// The application: called once per complete request with the caller's context.
using wsgi_application = void (*)(void* context, const wsgi_environ& environ, wsgi_response& response);

struct wsgi_stats {
  std::uint32_t requests = 0;      // complete requests handed to the application
  std::uint32_t rejected = 0;      // answered by the server itself (400, 413, 414, 431, 501, 505)
  std::uint32_t app_errors = 0;    // 500 because the application did not answer properly
  std::uint32_t timeouts = 0;      // connections closed because the request did not complete in time
  std::uint32_t aborted = 0;       // connections reset or failed while being read or answered
  std::uint32_t last_status = 0;   // status code of the last response sent
};

class WSGIServer {
 public:
  static constexpr std::size_t request_buffer_size = 2048;   // request line + headers + body
  static constexpr std::size_t response_buffer_size = 1024;  // response head + buffered body
  static constexpr int max_listeners = 8;

  // Python's WSGIServer(port=80, debug=False, application=None); application may be set later. Sockets
  // are opened by start().
  //   WSGIServer server(8080, app, &state);
  explicit WSGIServer(std::uint16_t port = 80, wsgi_application application = nullptr,
                      void* context = nullptr, bool debug = false);
  ~WSGIServer();  // stop()
  WSGIServer(const WSGIServer&) = delete;
  WSGIServer& operator=(const WSGIServer&) = delete;

  // Opens the listening sockets (listeners(), default max_sockets() - 2) on the port. runtime_error
  // without an interface or when already started; a socket error closes what was opened and is returned.
  //   if (auto e = server.start()) ...
  error start();
  // Call from the main loop: reads what has arrived on the connections, answers complete requests (the
  // application runs inside this call and its response is sent before it returns, each send bounded by
  // timeout_ms(), so a client that stops reading is dropped within about twice that), closes finished or
  // timed-out connections and re-listens. Never waits for a request.
  // runtime_error before start().
  //   server.update_poll();
  error update_poll();
  // Closes every socket (connections included). start() may be called again afterwards.
  void stop();

  void set_application(wsgi_application application, void* context) {
    m_app = application;
    m_ctx = context;
  }
  // Request completion and per-send bound, milliseconds (default 20000, the seed's timeout); 0: no bound
  // (requests may take for ever and sends block, as the seed's _readline: only for trusted clients).
  //   server.set_timeout_ms(5000);
  void set_timeout_ms(std::uint32_t ms) { m_timeout_ms = ms; }
  std::uint32_t timeout_ms() const { return m_timeout_ms; }
  // Listening sockets start() opens: 1..max_sockets() - 1, 0 for the default; value_error otherwise,
  // runtime_error once started.
  //   server.set_listeners(2);
  error set_listeners(int count);
  int listeners() const { return m_listeners; }
  // Sockets open now (listening or connected).
  int open_sockets() const;
  std::uint16_t port() const { return m_port; }
  bool started() const { return m_started; }
  bool debug() const { return m_debug; }
  const wsgi_stats& stats() const { return m_stats; }

 private:
  friend class wsgi_response;
  enum class progress : std::uint8_t { waiting, done };
  error open_listener(int slot);
  void relisten(int slot);
  void set_send_timeout(socket_module::socket& conn) const;
  int find_ready();
  progress serve(int slot);
  void finish_connection(int slot);
  void respond_error(socket_module::socket& conn, int code);
  int parse_request_line(std::string_view line);
  int parse_request(std::size_t head_begin, std::size_t head_end, std::size_t& content_length);
  int check_partial_head(std::size_t begin);

  WIZNET5K* m_iface = nullptr;
  std::uint16_t m_port;
  wsgi_application m_app;
  void* m_ctx;
  bool m_debug;
  bool m_started = false;
  int m_listeners = 0;  // 0: default
  int m_slot_count = 0;
  std::uint32_t m_timeout_ms = 20000;
  socket_module::socket m_slots[max_listeners];
  int m_current = -1;       // slot whose request is being read
  int m_next = 0;           // round-robin start for find_ready
  std::uint64_t m_started_ms = 0;  // when m_current's connection was first seen
  // Per slot: when its connection was first seen established (0: none yet), and whether it is closing
  // (FIN sent, waiting for the client's) since m_closing_ms.
  std::uint64_t m_seen_ms[max_listeners] = {};
  std::uint64_t m_closing_ms[max_listeners] = {};
  bool m_closing[max_listeners] = {};
  std::size_t m_req_len = 0;
  bool m_req_eof = false;
  bool m_sent_continue = false;  // "100 Continue" went out for m_current's request
  char m_req[request_buffer_size];
  char m_resp[response_buffer_size];
  char m_server_name[16] = {};
  char m_port_text[6] = {};
  wsgi_environ m_env;
  wsgi_stats m_stats;
};

}  // namespace wiznet5k::wsgiserver
