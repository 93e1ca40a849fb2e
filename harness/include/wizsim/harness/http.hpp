// HTTP/1.1 for peers: an incremental message layer (request and response parsers that take the stream in
// chunks of any size, down to a byte at a time, and serializers), a routed server with per-response
// framing and pacing options, and a client with keep-alive reuse. Server and client run on a peer_host's
// TCP stack and on the scheduler; bodies far larger than the chip's socket buffers are generated piece by
// piece as the TCP send queue drains, never materialised whole.
//
// What follows RFC 9110/9112 closely: start lines, header fields (case-insensitive names, no obs-fold in
// requests, no whitespace before the colon), Content-Length (a list of equal values is accepted),
// chunked transfer coding with extensions and trailers, bodies delimited by the connection closing
// (responses), no body after HEAD and in 1xx/204/304, HTTP/1.0 and 1.1 persistence rules, pipelining,
// 1.x minor versions above 1 treated as 1.1 (2.0 and others: 505), Host required in 1.1 requests, no Date
// (a server without a clock must not send one).
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wizsim/diag.hpp"
#include "wizsim/packet.hpp"
#include "wizsim/scheduler.hpp"

namespace wizsim {

class peer_host;
class tcp_connection;

// ---- message layer ----------------------------------------------------------------------------------

// ASCII case-insensitive equality (field names, tokens).
bool http_iequals(std::string_view a, std::string_view b);
// The standard reason phrase of a status code ("Not Found"), "Unknown" for codes without one.
const char* http_reason(int status);
// Statuses whose responses never carry a body (1xx, 204, 304).
bool http_status_has_body(int status);

// Header (or trailer) fields in arrival order; names compare case-insensitively.
class http_headers {
 public:
  using field = std::pair<std::string, std::string>;

  http_headers() = default;
  http_headers(std::initializer_list<field> fields) : m_fields(fields) {}

  void add(std::string name, std::string value);
  // Replaces every field of that name with one (added at the end if there was none).
  void set(std::string name, std::string value);
  std::size_t remove(std::string_view name);  // returns how many fields were removed
  bool has(std::string_view name) const;
  std::optional<std::string> get(std::string_view name) const;  // the first field's value
  std::string get_or(std::string_view name, std::string_view fallback) const;
  std::vector<std::string> get_all(std::string_view name) const;
  // Whether the comma-separated lists of every field of that name contain `token` (case-insensitive):
  // has_token("Connection", "close").
  bool has_token(std::string_view name, std::string_view token) const;

  std::size_t size() const { return m_fields.size(); }
  bool empty() const { return m_fields.empty(); }
  const std::vector<field>& fields() const { return m_fields; }
  std::vector<field>::const_iterator begin() const { return m_fields.begin(); }
  std::vector<field>::const_iterator end() const { return m_fields.end(); }

 private:
  friend class http_parser;  // appends obs-fold continuation lines to the last field
  std::vector<field> m_fields;
};

struct http_request {
  std::string method = "GET";
  std::string target = "/";
  int version_minor = 1;  // HTTP/1.<minor> (the parser only produces 0 and 1)
  http_headers headers;
  std::string body;       // decoded (chunk framing removed)
  http_headers trailers;  // from a chunked body

  std::string path() const;   // the target up to '?'
  std::string query() const;  // after '?' (without it), empty when there is none
  // HTTP/1.1: persistent unless "Connection: close"; HTTP/1.0: only with "Connection: keep-alive".
  bool keep_alive() const;
};

struct http_response {
  int version_minor = 1;
  int status = 200;
  std::string reason = "OK";
  http_headers headers;
  std::string body;
  http_headers trailers;

  bool keep_alive() const;  // the same rules as for requests
};

struct http_limits {
  std::size_t max_line = 8190;           // start line, each field line, each chunk-size line (no CRLF)
  std::size_t max_headers = 100;         // header fields; trailer fields are counted separately
  std::uint64_t max_body = 64ull << 20;  // decoded body bytes
};

// The incremental parser shared by requests and responses. Feed it the byte stream as it arrives; it
// stops at the end of one message (pipelined bytes after it stay unconsumed), after which the message is
// taken and the parser reset for the next one.
class http_parser {
 public:
  enum class status : std::uint8_t { incomplete, complete, error };
  enum class framing : std::uint8_t { none, length, chunked, until_close };

  http_parser(const http_parser&) = delete;
  http_parser& operator=(const http_parser&) = delete;
  virtual ~http_parser() = default;

  // Consumes bytes up to the end of the current message or the first error; returns how many.
  std::size_t feed(const char* data, std::size_t n);
  std::size_t feed(std::string_view s) { return feed(s.data(), s.size()); }
  std::size_t feed(const octets& d) { return feed(reinterpret_cast<const char*>(d.data()), d.size()); }
  // The stream ended (the peer's FIN): completes a body delimited by the close; a message cut short is an
  // error. Before the first byte of a message it changes nothing.
  void finish();

  status state() const { return m_status; }
  bool complete() const { return m_status == status::complete; }
  bool failed() const { return m_status == status::error; }
  // No byte of the current message has been seen yet.
  bool idle() const { return !m_started; }
  bool headers_done() const { return m_headers_done; }
  // Why the message was rejected, and the status a server answers it with (400, 413, 414, 431, 501, 505).
  const std::string& error() const { return m_error; }
  int error_status() const { return m_error_status; }

  // How the body of the current message is delimited (known once the headers are done).
  framing body_framing() const { return m_framing; }
  std::uint64_t body_bytes() const { return m_body_bytes; }  // decoded body bytes so far
  std::size_t chunk_count() const { return m_chunks; }       // data chunks (not the last chunk)
  // The extension text of every chunk that had one, in order (";name=value;flag"), last chunk included.
  const std::vector<std::string>& chunk_extensions() const { return m_chunk_ext; }
  const http_limits& limits() const { return m_limits; }

  // Optional hooks. With on_body set, body bytes go there instead of into the message (a streaming
  // consumer); on_headers runs once the header section is complete (framing known).
  std::function<void(const char* p, std::size_t n)> on_body;
  std::function<void()> on_headers;

 protected:
  explicit http_parser(http_limits limits);
  void reset_parser();
  bool fail(int status, std::string why);
  // Role-specific parts: the start line, field storage and body framing. Each returns false after fail().
  virtual bool parse_start_line(std::string_view line) = 0;
  virtual bool decide_framing() = 0;
  virtual bool allow_obs_fold() const = 0;
  virtual http_headers& header_fields() = 0;
  virtual http_headers& trailer_fields() = 0;
  virtual std::string& body_text() = 0;
  // Content-Length: every value (comma lists across fields) must be the same decimal number.
  bool content_length(const http_headers& h, std::uint64_t& out);

  framing m_framing = framing::none;
  std::uint64_t m_remaining = 0;  // of a Content-Length body or the current chunk

 private:
  enum class phase : std::uint8_t { start, headers, body, chunk_size, chunk_data, chunk_end, trailers, rest };
  bool line(std::string_view l);
  bool field_line(std::string_view l, http_headers& into, bool trailer);
  bool chunk_size_line(std::string_view l);
  bool end_of_headers();
  bool body_data(const char* p, std::size_t n);
  void done();

  http_limits m_limits;
  status m_status = status::incomplete;
  phase m_phase = phase::start;
  bool m_started = false;
  bool m_headers_done = false;
  std::string m_line;
  std::size_t m_empty_lines = 0;
  std::string m_error;
  int m_error_status = 0;
  std::uint64_t m_body_bytes = 0;
  std::size_t m_chunks = 0;
  std::vector<std::string> m_chunk_ext;
};

class http_request_parser final : public http_parser {
 public:
  explicit http_request_parser(http_limits limits = {}) : http_parser(limits) {}
  const http_request& request() const { return m_msg; }
  // Moves the complete message out and resets the parser for the next one.
  http_request take();
  void reset();

 private:
  bool parse_start_line(std::string_view line) override;
  bool decide_framing() override;
  bool allow_obs_fold() const override { return false; }
  http_headers& header_fields() override { return m_msg.headers; }
  http_headers& trailer_fields() override { return m_msg.trailers; }
  std::string& body_text() override { return m_msg.body; }
  http_request m_msg;
};

class http_response_parser final : public http_parser {
 public:
  explicit http_response_parser(http_limits limits = {}) : http_parser(limits) {}
  // The method of the request being answered: a response to HEAD has no body whatever its headers say.
  // Kept across reset().
  void set_request_method(std::string_view method) { m_method = std::string(method); }
  const http_response& response() const { return m_msg; }
  http_response take();
  void reset();

 private:
  bool parse_start_line(std::string_view line) override;
  bool decide_framing() override;
  bool allow_obs_fold() const override { return true; }  // a user agent replaces it with a space
  http_headers& header_fields() override { return m_msg.headers; }
  http_headers& trailer_fields() override { return m_msg.trailers; }
  std::string& body_text() override { return m_msg.body; }
  http_response m_msg;
  std::string m_method = "GET";
};

// Serializers. The head is the start line, the fields as given and the empty line. The whole-message forms
// frame the body by the fields: with "Transfer-Encoding: chunked" it goes out as one chunk, then the last
// chunk and the trailers; otherwise Content-Length is added when absent (requests: when there is a body;
// responses: unless the status has no body).
std::string http_serialize_head(const http_request& r);
std::string http_serialize_head(const http_response& r);
std::string http_serialize(const http_request& r);
std::string http_serialize(const http_response& r);
// One chunk ("<hex size><ext>\r\n<data>\r\n"); empty data gives "" (an empty chunk would end the body).
// `ext` is the extension text including its ';'.
std::string http_chunk(std::string_view data, std::string_view ext = {});
// The last chunk and the trailer section.
std::string http_last_chunk(const http_headers& trailers = {}, std::string_view ext = {});

// ---- bodies generated on the fly --------------------------------------------------------------------

struct http_body_source {
  std::uint64_t size = 0;
  // Writes body bytes [offset, offset + n) to `out`; called in order as the send queue drains.
  std::function<void(std::uint64_t offset, char* out, std::size_t n)> fill;
};
// A deterministic byte pattern that never repeats at the chip's buffer sizes (a body read through a
// wrapping 2 KiB ring shows up as wrong bytes, not as a lucky match), and a body made of it.
std::uint8_t http_pattern_byte(std::uint64_t offset);
http_body_source http_pattern_body(std::uint64_t size);

// ---- server ---------------------------------------------------------------------------------------------

enum class http_framing : std::uint8_t {
  content_length,  // Content-Length (the default)
  chunked,         // Transfer-Encoding: chunked (an HTTP/1.0 client gets a close-delimited body instead)
  close,           // no length: the body ends when the server closes the connection
};

// What a route handler returns.
struct http_reply {
  int status = 200;
  std::string reason;                         // empty: the standard phrase
  http_headers headers;                       // Content-Length, Transfer-Encoding, Connection are set by
                                              // the server from the options below
  std::string body;                           // ignored when `generator` is set
  std::optional<http_body_source> generator;  // a body produced piece by piece while it is sent
  http_framing framing = http_framing::content_length;
  std::size_t chunk_size = 4096;  // data per chunk (chunked), per paced piece (chunk_delay)
  std::string chunk_extension;    // added to every chunk-size line (";name=value")
  http_headers trailers;          // after the last chunk (chunked only)
  bool close = false;             // "Connection: close" and close after this response
  ps_t header_delay = 0;          // virtual time before the status line goes out
  ps_t chunk_delay = 0;           // virtual time between body pieces (a slow producer)

  static http_reply text(int status, std::string body, std::string content_type = "text/plain");
  static http_reply generated(std::uint64_t size, http_framing framing = http_framing::content_length);
};

struct http_server_config {
  std::string name = "http";
  http_limits limits;
  ps_t idle_timeout = seconds(5);       // waiting for (the rest of) a request; then 408 or a quiet close.
                                        // 0: wait forever
  std::size_t max_pipeline = 16;        // requests queued behind the one being answered before reading
                                        // pauses (the TCP window closes)
  std::size_t send_high_water = 16384;  // generated body bytes kept queued in TCP ahead of the wire
  std::string server_header = "wizsim-peer";  // the Server field; empty: none
};

struct http_server_stats {
  std::uint64_t connections = 0;       // accepted
  std::uint64_t requests = 0;          // complete requests dispatched
  std::uint64_t responses = 0;         // responses completely queued for sending
  std::uint64_t keepalive_reuses = 0;  // requests on a connection that had answered one before
  std::uint64_t pipelined = 0;         // requests that arrived while an earlier one was unanswered
  std::uint64_t parse_errors = 0;      // malformed or over-limit requests (answered, then closed)
  std::uint64_t not_found = 0, method_not_allowed = 0, handler_errors = 0;
  std::uint64_t idle_closes = 0;  // closed by idle_timeout
  std::uint64_t aborted = 0;      // connections that ended while a response was being sent
  std::uint64_t body_bytes = 0;   // response body bytes queued (chunk framing not counted)
  std::map<int, std::uint64_t> by_status;
};

// An HTTP/1.1 origin server listening on a peer. It must be destroyed before its host.
class http_server {
 public:
  using handler = std::function<http_reply(const http_request&)>;

  http_server(peer_host& host, std::uint16_t port = 80, http_server_config cfg = {});
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  // Adds a route. `path` matches the request path exactly, or as a prefix when it ends in '*'
  // ("/static/*"; the longest prefix wins). A GET route also answers HEAD (without the body). Throws
  // std::invalid_argument for an empty method or a path not starting with '/'.
  void route(std::string method, std::string path, handler h);

  std::uint16_t port() const { return m_port; }
  const http_server_stats& stats() const { return m_stats; }
  std::size_t open_connections() const { return m_conns.size(); }
  diag& log() { return m_diag; }

 private:
  struct conn;
  using conn_ptr = std::shared_ptr<conn>;
  void accept(std::shared_ptr<tcp_connection> tcp);
  void on_data(const conn_ptr& c, const octets& data);
  void on_peer_fin(const conn_ptr& c);
  void on_closed(const conn_ptr& c, const std::string& reason);
  void next(const conn_ptr& c);
  http_reply dispatch(const conn_ptr& c, const http_request& req, bool& head_only);
  void start_response(const conn_ptr& c, http_reply reply, const http_request& req, bool head_only);
  void send_head(const conn_ptr& c);
  void pump(const conn_ptr& c);
  void response_done(const conn_ptr& c);
  void arm_idle(const conn_ptr& c);
  void drop(const conn_ptr& c);

  struct route_entry {
    std::string method, path;
    bool prefix;
    handler fn;
  };

  peer_host& m_host;
  std::uint16_t m_port;
  http_server_config m_cfg;
  diag m_diag;
  std::vector<route_entry> m_routes;
  std::map<std::uint64_t, conn_ptr> m_conns;
  std::uint64_t m_next_id = 1;
  http_server_stats m_stats;
};

// ---- client ---------------------------------------------------------------------------------------------

struct http_result {
  std::string error;  // empty on success: connect failure, reset, timeout, malformed response ...
  bool ok() const { return error.empty(); }

  int status = 0;
  std::string reason;
  int version_minor = 1;
  http_headers headers;
  std::string body;
  http_headers trailers;
  http_parser::framing framing = http_parser::framing::none;  // how the body was delimited
  std::size_t chunks = 0;                                     // data chunks of a chunked body
  bool reused = false;           // sent on a connection kept alive from an earlier request
  bool retried = false;          // resent on a fresh connection after a kept-alive one was closed
  std::uint16_t local_port = 0;  // of the connection that carried it
  ps_t elapsed = 0;              // from request() to the result
};

struct http_client_config {
  std::string name = "http-client";
  http_limits limits;
  ps_t timeout = seconds(30);      // per request, from when it starts (connect included) to its result
  ps_t idle_timeout = seconds(5);  // a kept-alive connection unused this long is closed; 0: never
  bool keep_alive = true;          // false: every request carries "Connection: close"
  std::string user_agent = "wizsim-http-client";  // empty: no User-Agent field
};

struct http_client_stats {
  std::uint64_t requests = 0, responses = 0, errors = 0, timeouts = 0;
  std::uint64_t connections = 0;  // opened
  std::uint64_t reused = 0, retries = 0;
};

// An HTTP/1.1 user agent on a peer. Requests to one destination (address and port) go one at a time over
// one connection, kept alive between them when both sides agree; requests to different destinations run
// in parallel. A request that finds its kept-alive connection closed before any response byte is resent
// once on a new connection (as browsers do). It must be destroyed before its host; callbacks of
// requests still outstanding then are not called.
class http_client {
 public:
  using callback = std::function<void(const http_result&)>;

  explicit http_client(peer_host& host, http_client_config cfg = {});
  ~http_client();
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  // Host, User-Agent, Content-Length (when there is a body, or for POST/PUT/PATCH) and Connection are
  // added unless given. `done` runs from a scheduler event, exactly once.
  void request(ip4_addr ip, std::uint16_t port, std::string method, std::string target, http_headers headers,
               std::string body, callback done);
  void get(ip4_addr ip, std::uint16_t port, std::string target, callback done) {
    request(ip, port, "GET", std::move(target), {}, {}, std::move(done));
  }
  // Closes every idle kept-alive connection now.
  void close_idle();

  std::size_t open_connections() const;
  std::size_t outstanding() const;  // requests without a result yet
  const http_client_stats& stats() const { return m_stats; }
  diag& log() { return m_diag; }

 private:
  struct pending;
  struct conn;
  struct dest;
  using conn_ptr = std::shared_ptr<conn>;
  void pump(dest& d);
  void send_request(const conn_ptr& c);
  void on_data(const conn_ptr& c, const octets& data);
  void on_peer_fin(const conn_ptr& c);
  void on_closed(const conn_ptr& c, const std::string& reason);
  void succeed(const conn_ptr& c);
  void fail(const conn_ptr& c, const std::string& why, bool abort);
  void detach(const conn_ptr& c);
  dest& dest_of(const conn_ptr& c);

  peer_host& m_host;
  http_client_config m_cfg;
  diag m_diag;
  std::map<std::pair<ip4_addr, std::uint16_t>, std::unique_ptr<dest>> m_dests;
  std::uint64_t m_next_id = 1;
  http_client_stats m_stats;
  std::shared_ptr<bool> m_alive;
};

}  // namespace wizsim
