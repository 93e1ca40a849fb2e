// The driver's WSGI server end to end in virtual time: WIZNET5K on the W5500 model with a static address,
// wiznet5k::wsgiserver::WSGIServer listening on port 80, driven by the test loop (update_poll() between
// 1 ms virtual sleeps) and HTTP clients on peer hosts: the harness's http_client where a well-formed
// request fits, a raw tcp_connection where the exact bytes matter (malformed requests, the exact response
// on the wire). Covers the environ the application sees, start_response/write framing, non-blocking
// polling with several listeners, the server's life cycle, and bad input of every kind.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "driver_lan.hpp"
#include "lan_fixture.hpp"
#include "wiznet5k/socket.hpp"
#include "wiznet5k/wiznet5k.hpp"
#include "wiznet5k/wsgi.hpp"
#include "wizsim/harness/http.hpp"
#include "wizsim/harness/peer.hpp"
#include "wizsim/harness/segment.hpp"

using namespace wizsim;
using wiznet5k::errc;
using wiznet5k::wsgiserver::wsgi_environ;
using wiznet5k::wsgiserver::wsgi_header;
using wiznet5k::wsgiserver::wsgi_response;
using wiznet5k::wsgiserver::WSGIServer;
namespace sm = wiznet5k::socket_module;

namespace {

constexpr ip4_addr chip_ip = ip4(10, 0, 0, 50), client_ip = ip4(10, 0, 0, 2);
constexpr std::uint16_t http_port = 80;

std::string sv(std::string_view s) {
  return std::string(s);
}
std::optional<std::string> opt(std::optional<std::string_view> s) {
  if (!s) return std::nullopt;
  return std::string(*s);
}

// The application: a function pointer and a context, as the driver wants; the context forwards to a
// std::function the test sets (tests may use the heap, the driver may not).
struct app_box {
  std::function<void(const wsgi_environ&, wsgi_response&)> fn;
  int calls = 0;
  static void call(void* ctx, const wsgi_environ& env, wsgi_response& resp) {
    auto* self = static_cast<app_box*>(ctx);
    ++self->calls;
    if (self->fn) self->fn(env, resp);
  }
};

// A raw TCP client on a peer: sends exact bytes, collects exactly what comes back.
struct raw_conn {
  tcp_ptr c;
  std::string got;
  bool connected = false, peer_fin = false, closed = false;
  bool close_on_fin = true;  // false: a client that ignores the server's FIN
  std::string reason;
  bool done() const { return peer_fin || closed; }
  void send(std::string_view s) { c->send(s); }
};

// Deterministic body bytes (a lost, repeated or reordered piece shows).
std::string body_pattern(std::size_t n, std::uint8_t seed = 1) {
  const octets p = test::pattern(n, seed);
  return std::string(p.begin(), p.end());
}

// The status code of a raw response ("HTTP/1.1 400 Bad Request\r\n..."), 0 when there is none.
int raw_status(const std::string& r) {
  if (r.size() < 12 || r.compare(0, 9, "HTTP/1.1 ") != 0) return 0;
  return std::stoi(r.substr(9, 3));
}

// The driver on the LAN, a client peer (with an http_client) and the server on port 80 with app_box.
struct wsgi_lan : test::driver_lan {
  peer_host peer;
  http_client client;
  app_box app;
  WSGIServer server;

  explicit wsgi_lan(std::uint64_t seed = 7, peer_config pc = test::peer_cfg("client", client_ip, 2))
      : driver_lan(seed), peer(seg, std::move(pc)), client(peer), server(http_port, &app_box::call, &app) {
    wiznet5k::wsgiserver::set_interface(eth);
    // PHY auto-negotiation: the link must be up before a peer's SYN can reach the chip.
    for (int i = 0; i < 8000 && !eth.link_status(); ++i) board.sleep_ms(1);
    EXPECT_TRUE(eth.link_status());
  }

  // Polls the server (1 ms of virtual time between polls) until pred() holds or `limit_ms` passed.
  bool pump(const std::function<bool()>& pred, std::uint32_t limit_ms = 10000) {
    const std::uint64_t end = board.millis() + limit_ms;
    while (!pred()) {
      if (board.millis() >= end) return false;
      const wiznet5k::error e = server.update_poll();
      EXPECT_TRUE(e.ok()) << e.message;
      board.sleep_ms(1);
    }
    return true;
  }
  // Polls for `ms` of virtual time.
  void pump_for(std::uint32_t ms) {
    (void)pump([] { return false; }, ms);
  }

  void start() {
    const wiznet5k::error e = server.start();
    ASSERT_TRUE(e.ok()) << e.message;
  }

  // One request through the http_client, served to completion.
  http_result request(std::string method, std::string target, http_headers headers = {},
                      std::string body = {}, std::uint32_t limit_ms = 10000) {
    // Shared with the callback: a request still outstanding when this returns must not write to a dead frame.
    auto res = std::make_shared<std::optional<http_result>>();
    client.request(chip_ip, http_port, std::move(method), std::move(target), std::move(headers),
                   std::move(body), [res](const http_result& r) { *res = r; });
    EXPECT_TRUE(pump([&] { return res->has_value(); }, limit_ms)) << "no result from the client";
    if (!*res) {
      http_result none;
      none.error = "no result";
      return none;
    }
    return **res;
  }
  http_result get(std::string target) { return request("GET", std::move(target)); }

  // A raw connection from `host` (the client peer by default) to the server.
  std::shared_ptr<raw_conn> open_raw(peer_host* host = nullptr) {
    auto r = std::make_shared<raw_conn>();
    r->c = (host ? *host : peer).tcp_connect(chip_ip, http_port);
    // The connection outlives the test's handle (TIME_WAIT ...): its callbacks must not touch a dead one.
    std::weak_ptr<raw_conn> w = r;
    r->c->on_connected = [w] {
      if (auto p = w.lock()) p->connected = true;
    };
    r->c->on_data = [w](const octets& d) {
      if (auto p = w.lock()) p->got.append(d.begin(), d.end());
    };
    r->c->on_peer_fin = [w] {
      if (auto p = w.lock()) {
        p->peer_fin = true;
        if (p->close_on_fin) p->c->close();
      }
    };
    r->c->on_closed = [w](const std::string& why) {
      if (auto p = w.lock()) {
        p->closed = true;
        p->reason = why;
      }
    };
    return r;
  }
  // Sends exact bytes on a fresh connection and serves until the server ends the connection.
  std::string raw_exchange(std::string_view bytes, std::uint32_t limit_ms = 10000) {
    auto r = open_raw();
    r->send(bytes);
    EXPECT_TRUE(pump([&] { return r->done(); }, limit_ms)) << "the server never ended the connection";
    return r->got;
  }

  // Hardware sockets in LISTEN.
  int listening() {
    int n = 0;
    for (int sn = 0; sn < eth.max_sockets(); ++sn) {
      const auto s = eth.socket_status(sn);
      if (s.ok() && s.value == wiznet5k::SNSR_SOCK_LISTEN) ++n;
    }
    return n;
  }

  // The standard well-formed request after bad input: it must still be answered.
  void expect_still_serving(const char* after) {
    auto saved = app.fn;
    app.fn = [](const wsgi_environ& env, wsgi_response& resp) {
      resp.start_response("200 OK", {{"Content-Type", "text/plain"}});
      resp.write("still here ");
      resp.write(env.path_info());
    };
    const http_result r = get("/alive");
    EXPECT_TRUE(r.ok()) << after << ": " << r.error;
    EXPECT_EQ(r.status, 200) << after;
    EXPECT_EQ(r.body, "still here /alive") << after;
    EXPECT_EQ(server.open_sockets(), 6) << after;
    app.fn = saved;
  }
};

// What the application saw, copied out of the environ (whose views die with the call).
struct seen_env {
  std::string method, path, query, protocol, content_type, content_length, server_name, input;
  std::uint16_t server_port = 0;
  std::map<std::string, std::optional<std::string>> keys;
  std::vector<std::pair<std::string, std::string>> headers;
  std::map<std::string, std::optional<std::string>> by_header;

  void record(const wsgi_environ& env, std::initializer_list<const char*> key_list,
              std::initializer_list<const char*> header_names = {}) {
    method = sv(env.request_method());
    path = sv(env.path_info());
    query = sv(env.query_string());
    protocol = sv(env.server_protocol());
    content_type = sv(env.content_type());
    content_length = sv(env.content_length());
    server_name = sv(env.server_name());
    server_port = env.server_port();
    input = sv(env.input());
    for (const char* k : key_list) keys[k] = opt(env.get(k));
    for (const auto& h : env) headers.emplace_back(sv(h.name), sv(h.value));
    for (const char* h : header_names) by_header[h] = opt(env.header(h));
  }
};

const std::initializer_list<const char*> k_cgi_keys = {
    "REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO",       "QUERY_STRING",    "CONTENT_TYPE",
    "CONTENT_LENGTH", "SERVER_NAME", "SERVER_PORT",     "SERVER_PROTOCOL", "wsgi.url_scheme",
    "wsgi.input",     "HTTP_HOST",   "HTTP_USER_AGENT", "HTTP_X_TRACE_ID", "HTTP_ACCEPT",
    "HTTP_",          "http_host",   "HTTP_X-TRACE-ID", "NOT_A_KEY",       "HTTP_CONTENT_TYPEX"};

void echo_ok(const wsgi_environ& env, wsgi_response& resp) {
  resp.start_response("200 OK", {{"Content-Type", "text/plain"}});
  resp.write(env.path_info());
}

}  // namespace

// ---- environ ----------------------------------------------------------------------------------------------

TEST(WsgiServerEnviron, GetRequestShowsEveryPep3333KeyAndHeader) {
  wsgi_lan t;
  seen_env seen;
  t.app.fn = [&](const wsgi_environ& env, wsgi_response& resp) {
    seen.record(env, k_cgi_keys, {"x-trace-id", "X-TRACE-ID", "user-agent", "Missing"});
    resp.start_response("200 OK", {{"Content-Type", "text/plain"}});
    resp.write("ok");
  };
  t.start();
  const http_result r = t.request("GET", "/led/1?r=255&g=0",
                                  {{"Host", "board.local"}, {"X-Trace-Id", "abc 123"}, {"Accept", "*/*"}});
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok");
  ASSERT_EQ(t.app.calls, 1);

  EXPECT_EQ(seen.method, "GET");
  EXPECT_EQ(seen.path, "/led/1");
  EXPECT_EQ(seen.query, "r=255&g=0");
  EXPECT_EQ(seen.protocol, "HTTP/1.1");
  EXPECT_EQ(seen.server_name, "10.0.0.50");  // the chip's address
  EXPECT_EQ(seen.server_port, 80);
  EXPECT_EQ(seen.content_type, "");
  EXPECT_EQ(seen.content_length, "");
  EXPECT_EQ(seen.input, "");

  EXPECT_EQ(seen.keys["REQUEST_METHOD"], "GET");
  EXPECT_EQ(seen.keys["SCRIPT_NAME"], "");
  EXPECT_EQ(seen.keys["PATH_INFO"], "/led/1");
  EXPECT_EQ(seen.keys["QUERY_STRING"], "r=255&g=0");
  EXPECT_EQ(seen.keys["CONTENT_TYPE"], std::nullopt);    // present only when sent
  EXPECT_EQ(seen.keys["CONTENT_LENGTH"], std::nullopt);  // present only when sent
  EXPECT_EQ(seen.keys["SERVER_NAME"], "10.0.0.50");
  EXPECT_EQ(seen.keys["SERVER_PORT"], "80");
  EXPECT_EQ(seen.keys["SERVER_PROTOCOL"], "HTTP/1.1");
  EXPECT_EQ(seen.keys["wsgi.url_scheme"], "http");
  EXPECT_EQ(seen.keys["wsgi.input"], "");
  EXPECT_EQ(seen.keys["HTTP_HOST"], "board.local");
  EXPECT_EQ(seen.keys["HTTP_USER_AGENT"], "wizsim-http-client");
  EXPECT_EQ(seen.keys["HTTP_X_TRACE_ID"], "abc 123");
  EXPECT_EQ(seen.keys["HTTP_ACCEPT"], "*/*");
  // Keys are exact: no bare prefix, no lower case, no dashes, nothing unknown.
  EXPECT_EQ(seen.keys["HTTP_"], std::nullopt);
  EXPECT_EQ(seen.keys["http_host"], std::nullopt);
  EXPECT_EQ(seen.keys["HTTP_X-TRACE-ID"], std::nullopt);
  EXPECT_EQ(seen.keys["NOT_A_KEY"], std::nullopt);
  EXPECT_EQ(seen.keys["HTTP_CONTENT_TYPEX"], std::nullopt);

  // header() is case-insensitive; the fields come in arrival order.
  EXPECT_EQ(seen.by_header["x-trace-id"], "abc 123");
  EXPECT_EQ(seen.by_header["X-TRACE-ID"], "abc 123");
  EXPECT_EQ(seen.by_header["user-agent"], "wizsim-http-client");
  EXPECT_EQ(seen.by_header["Missing"], std::nullopt);
  ASSERT_GE(seen.headers.size(), 3u);
  EXPECT_EQ(seen.headers[0], (std::pair<std::string, std::string>{"Host", "board.local"}));
  EXPECT_EQ(seen.headers[1], (std::pair<std::string, std::string>{"X-Trace-Id", "abc 123"}));
  EXPECT_EQ(seen.headers[2], (std::pair<std::string, std::string>{"Accept", "*/*"}));
}

TEST(WsgiServerEnviron, QueryStringIsEmptyWithoutQuestionMarkAndEverythingAfterTheFirstOne) {
  wsgi_lan t;
  std::vector<std::pair<std::string, std::string>> seen;
  t.app.fn = [&](const wsgi_environ& env, wsgi_response& resp) {
    seen.emplace_back(sv(env.path_info()), sv(env.query_string()));
    EXPECT_TRUE(env.get("QUERY_STRING").has_value());  // always present, maybe empty
    resp.start_response("204 No Content");
  };
  t.start();
  for (const char* target : {"/plain", "/q?", "/a?b?c=d", "/?x=%20y", "/pct%2Fpath"}) {
    const http_result r = t.get(target);
    EXPECT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.status, 204);
  }
  ASSERT_EQ(seen.size(), 5u);
  EXPECT_EQ(seen[0], (std::pair<std::string, std::string>{"/plain", ""}));
  EXPECT_EQ(seen[1], (std::pair<std::string, std::string>{"/q", ""}));
  EXPECT_EQ(seen[2], (std::pair<std::string, std::string>{"/a", "b?c=d"}));
  EXPECT_EQ(seen[3], (std::pair<std::string, std::string>{"/", "x=%20y"}));
  EXPECT_EQ(seen[4], (std::pair<std::string, std::string>{"/pct%2Fpath", ""}));  // not percent-decoded
}

TEST(WsgiServerEnviron, PostBodySplitOverSeveralSegmentsArrivesWholeAsWsgiInput) {
  // A client with a small MSS: the 1500-byte body crosses the wire in several TCP segments.
  peer_config pc = test::peer_cfg("client", client_ip, 2);
  pc.tcp_mss = 200;
  wsgi_lan t(7, pc);
  int data_segments = 0;
  t.seg.observe([&](segment::port_id from, const octets& f, ps_t) {
    if (from != t.peer.port()) return;
    const auto e = parse_eth(f.data(), f.size());
    if (!e || e->ethertype != ethertype_ipv4) return;
    const auto ip = parse_ipv4(e->payload, e->payload_len);
    if (!ip || ip->h.proto != ip_proto_tcp) return;
    const auto tcp = parse_tcp(ip->payload, ip->payload_len, ip->h.src, ip->h.dst);
    if (tcp && tcp->h.dst_port == http_port && tcp->payload_len > 0) ++data_segments;
  });
  seen_env seen;
  t.app.fn = [&](const wsgi_environ& env, wsgi_response& resp) {
    seen.record(env, {"CONTENT_TYPE", "CONTENT_LENGTH", "wsgi.input", "HTTP_CONTENT_TYPE"});
    resp.start_response("200 OK", {{"Content-Type", "application/octet-stream"}});
    resp.write(env.input());  // echo
  };
  t.start();
  const std::string body = body_pattern(1500, 9);
  const http_result r =
      t.request("POST", "/upload?name=x", {{"Content-Type", "application/octet-stream"}}, body);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_GE(data_segments, 8);  // head + 1500 bytes in <= 200-byte segments
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.path, "/upload");
  EXPECT_EQ(seen.query, "name=x");
  EXPECT_EQ(seen.content_type, "application/octet-stream");
  EXPECT_EQ(seen.content_length, "1500");
  EXPECT_EQ(seen.keys["CONTENT_TYPE"], "application/octet-stream");
  EXPECT_EQ(seen.keys["CONTENT_LENGTH"], "1500");
  EXPECT_TRUE(seen.input == body) << "wsgi.input differs from the body sent";
  EXPECT_TRUE(seen.keys["wsgi.input"] == body);
  EXPECT_TRUE(r.body == body) << "echoed body differs";
  // 1500 bytes outgrow the 1024-byte response buffer before the application returns: close-delimited.
  EXPECT_EQ(r.framing, http_parser::framing::until_close);
}

TEST(WsgiServerEnviron, BodyTrickledInPiecesIsHandedOverOnlyOnceComplete) {
  wsgi_lan t;
  std::string input;
  t.app.fn = [&](const wsgi_environ& env, wsgi_response& resp) {
    input = sv(env.input());
    resp.start_response("200 OK");
    resp.write("got it");
  };
  t.start();
  auto c = t.open_raw();
  c->send(
      "POST /form HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 26\r\n\r\nabcdefghij");
  t.pump_for(50);
  EXPECT_EQ(t.app.calls, 0);  // 10 of 26 body bytes
  EXPECT_EQ(c->got, "");
  c->send("klmnopqrst");
  t.pump_for(50);
  EXPECT_EQ(t.app.calls, 0);  // 20 of 26
  c->send("uvwxyz");
  ASSERT_TRUE(t.pump([&] { return c->done(); }));
  EXPECT_EQ(t.app.calls, 1);
  EXPECT_EQ(input, "abcdefghijklmnopqrstuvwxyz");
  EXPECT_EQ(raw_status(c->got), 200);
  EXPECT_NE(c->got.find("\r\n\r\ngot it"), std::string::npos) << c->got;
}

TEST(WsgiServerEnviron, ExpectContinueGets100BeforeTheBodyIsSent) {
  wsgi_lan t;
  std::string input;
  t.app.fn = [&](const wsgi_environ& env, wsgi_response& resp) {
    input = sv(env.input());
    resp.start_response("200 OK");
    resp.write("stored");
  };
  t.start();
  auto c = t.open_raw();
  c->send("PUT /file HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1200\r\n\r\n");
  ASSERT_TRUE(t.pump([&] { return !c->got.empty(); }, 1000)) << "no interim response: the client waits";
  EXPECT_EQ(c->got, "HTTP/1.1 100 Continue\r\n\r\n");
  EXPECT_EQ(t.app.calls, 0);
  const std::string body = body_pattern(1200, 4);
  c->send(body);
  ASSERT_TRUE(t.pump([&] { return c->done(); }));
  EXPECT_TRUE(input == body);
  EXPECT_EQ(c->got.rfind("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", 0), 0u) << c->got;

  // Not to HTTP/1.0 clients, and not when the body is already there (or too large: 413 at once).
  auto d = t.open_raw();
  d->send("PUT /f HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
  t.pump_for(100);
  EXPECT_EQ(d->got, "");
  d->send("abc");
  ASSERT_TRUE(t.pump([&] { return d->done(); }));
  EXPECT_EQ(d->got.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << d->got;
  const std::string e =
      t.raw_exchange("PUT /f HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi");
  EXPECT_EQ(e.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << e;
  const std::string f =
      t.raw_exchange("PUT /f HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 9000\r\n\r\n");
  EXPECT_EQ(raw_status(f), 413) << f;
}

TEST(WsgiServerEnviron, AbsoluteFormTargetGivesThePathAndQuery) {
  wsgi_lan t;
  std::vector<std::pair<std::string, std::string>> seen;
  t.app.fn = [&](const wsgi_environ& env, wsgi_response& resp) {
    seen.emplace_back(sv(env.path_info()), sv(env.query_string()));
    resp.start_response("200 OK");
  };
  t.start();
  for (const char* target : {"http://10.0.0.50/led/1?on=1", "HTTP://board.local", "http://h:80?x=1"}) {
    const std::string r = t.raw_exchange(std::string("GET ") + target + " HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_EQ(raw_status(r), 200) << target;
  }
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], (std::pair<std::string, std::string>{"/led/1", "on=1"}));
  EXPECT_EQ(seen[1], (std::pair<std::string, std::string>{"/", ""}));
  EXPECT_EQ(seen[2], (std::pair<std::string, std::string>{"/", "x=1"}));
}

TEST(WsgiServerEnviron, Http10LeadingEmptyLinesBareLfAndDuplicateFields) {
  wsgi_lan t;
  seen_env seen;
  t.app.fn = [&](const wsgi_environ& env, wsgi_response& resp) {
    seen = seen_env{};
    seen.record(env, {"HTTP_X_DUP", "HTTP_HOST"}, {"x-dup"});
    resp.start_response("200 OK");
  };
  t.start();
  std::string r = t.raw_exchange("\r\n\r\nGET /old HTTP/1.0\nX-Dup: one\nx-dup:  two \n\n");
  EXPECT_EQ(raw_status(r), 200) << r;
  EXPECT_EQ(seen.protocol, "HTTP/1.0");
  EXPECT_EQ(seen.path, "/old");
  EXPECT_EQ(seen.keys["HTTP_X_DUP"], "one");  // the first of duplicate fields
  EXPECT_EQ(seen.keys["HTTP_HOST"], std::nullopt);
  EXPECT_EQ(seen.by_header["x-dup"], "one");
  ASSERT_EQ(seen.headers.size(), 2u);
  EXPECT_EQ(seen.headers[1], (std::pair<std::string, std::string>{"x-dup", "two"}));  // OWS trimmed
}

TEST(WsgiServerEnviron, CgiKeyMapsFieldNamesAndTruncatesSafely) {
  char k[64];
  EXPECT_EQ(wsgi_environ::cgi_key("User-Agent", k, sizeof k), 15u);
  EXPECT_STREQ(k, "HTTP_USER_AGENT");
  EXPECT_EQ(wsgi_environ::cgi_key("x-forwarded-for", k, sizeof k), 20u);
  EXPECT_STREQ(k, "HTTP_X_FORWARDED_FOR");
  EXPECT_EQ(wsgi_environ::cgi_key("", k, sizeof k), 5u);
  EXPECT_STREQ(k, "HTTP_");
  char small[8];
  std::memset(small, '#', sizeof small);
  EXPECT_EQ(wsgi_environ::cgi_key("Content-Type", small, 6), 17u);  // full length, output truncated
  EXPECT_STREQ(small, "HTTP_");
  EXPECT_EQ(small[6], '#');  // nothing written past cap
  EXPECT_EQ(wsgi_environ::cgi_key("Host", nullptr, 0), 9u);
  char one[1] = {'#'};
  EXPECT_EQ(wsgi_environ::cgi_key("Host", one, 1), 9u);
  EXPECT_EQ(one[0], '\0');
}

TEST(WsgiServerEnviron, CgiKeyOfEveryArrivingFieldFindsItThroughGet) {
  wsgi_lan t;
  int checked = 0;
  t.app.fn = [&](const wsgi_environ& env, wsgi_response& resp) {
    for (const wsgi_header& h : env) {
      char key[64];
      ASSERT_LT(wsgi_environ::cgi_key(h.name, key, sizeof key), sizeof key);
      const auto v = env.get(key);
      ASSERT_TRUE(v.has_value()) << key;
      EXPECT_EQ(*v, *env.header(h.name)) << key;  // the first field of that name
      ++checked;
    }
    resp.start_response("200 OK");
  };
  t.start();
  const http_result r = t.request("GET", "/", {{"Accept-Language", "en"}, {"X-a-B", "mixed"}, {"DNT", "1"}});
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_GE(checked, 5);  // the three above plus Host and User-Agent at least
}

// ---- responses --------------------------------------------------------------------------------------------

TEST(WsgiServerResponse, StatusLineAndHeadersGoOutExactlyWithServerAndConnectionClose) {
  wsgi_lan t;
  wiznet5k::error e1{}, e2{};
  t.app.fn = [&](const wsgi_environ&, wsgi_response& resp) {
    e1 = resp.start_response(
        "201 Created", {{"Content-Type", "text/plain"}, {"Connection", "keep-alive"}, {"X-Thing", "a b"}});
    e2 = resp.write("hello");
  };
  t.start();
  const std::string r = t.raw_exchange("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(e1.ok()) << e1.message;
  EXPECT_TRUE(e2.ok()) << e2.message;
  EXPECT_EQ(r,
            "HTTP/1.1 201 Created\r\n"
            "Server: w5kWSGIServer\r\n"
            "Content-Type: text/plain\r\n"
            "X-Thing: a b\r\n"
            "Content-Length: 5\r\n"
            "Connection: close\r\n"
            "\r\n"
            "hello");
  EXPECT_EQ(t.server.stats().requests, 1u);
  EXPECT_EQ(t.server.stats().last_status, 201u);
}

TEST(WsgiServerResponse, ContentLengthIsComputedFromBufferedWrites) {
  wsgi_lan t;
  // The head (~80 bytes), 800 body bytes and the room kept for the length fields fit 1024 bytes.
  const std::string body = body_pattern(800, 3);
  t.app.fn = [&](const wsgi_environ&, wsgi_response& resp) {
    resp.start_response("200 OK", {{"Content-Type", "application/octet-stream"}});
    for (std::size_t off = 0; off < body.size(); off += 100) resp.write(body.data() + off, 100);
    EXPECT_EQ(resp.body_bytes(), 800u);
    EXPECT_EQ(resp.status_code(), 200);
  };
  t.start();
  const http_result r = t.get("/buffered");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.framing, http_parser::framing::length);
  EXPECT_EQ(r.headers.get("Content-Length"), "800");
  EXPECT_EQ(r.headers.get("Server"), "w5kWSGIServer");
  EXPECT_TRUE(r.headers.has_token("Connection", "close"));
  EXPECT_TRUE(r.body == body);
}

TEST(WsgiServerResponse, DeclaredContentLengthStreams20KBByteForByte) {
  wsgi_lan t;
  const std::string body = body_pattern(20000, 5);
  std::vector<wiznet5k::error> errors;
  t.app.fn = [&](const wsgi_environ&, wsgi_response& resp) {
    errors.push_back(resp.start_response("200 OK", {{"Content-Length", "20000"}, {"Content-Type", "x/y"}}));
    for (std::size_t off = 0; off < body.size(); off += 1000)
      errors.push_back(resp.write(body.data() + off, 1000));
  };
  t.start();
  const http_result r = t.get("/large");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.framing, http_parser::framing::length);
  EXPECT_EQ(r.headers.get_all("Content-Length"), std::vector<std::string>{"20000"});
  ASSERT_EQ(r.body.size(), body.size());
  std::size_t first_diff = body.size();
  for (std::size_t i = 0; i < body.size(); ++i)
    if (r.body[i] != body[i]) {
      first_diff = i;
      break;
    }
  EXPECT_EQ(first_diff, body.size()) << "first differing byte";
  ASSERT_EQ(errors.size(), 21u);
  for (const auto& e : errors) EXPECT_TRUE(e.ok()) << e.message;
  EXPECT_EQ(t.server.stats().last_status, 200u);
}

TEST(WsgiServerResponse, BodyOutgrowingTheBufferWithoutLengthIsCloseDelimited) {
  wsgi_lan t;
  const std::string body = body_pattern(5000, 11);
  t.app.fn = [&](const wsgi_environ&, wsgi_response& resp) {
    resp.start_response("200 OK", {{"Content-Type", "text/plain"}});
    for (std::size_t off = 0; off < body.size(); off += 250)
      EXPECT_TRUE(resp.write(body.data() + off, 250).ok());
  };
  t.start();
  const http_result r = t.get("/stream");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.framing, http_parser::framing::until_close);
  EXPECT_FALSE(r.headers.has("Content-Length"));
  EXPECT_TRUE(r.headers.has_token("Connection", "close"));
  EXPECT_TRUE(r.body == body) << "body of " << r.body.size() << " bytes differs";

  // One write bigger than the whole buffer at once.
  const std::string big = body_pattern(3000, 12);
  t.app.fn = [&](const wsgi_environ&, wsgi_response& resp) {
    resp.start_response("200 OK");
    EXPECT_TRUE(resp.write(big).ok());
  };
  const http_result r2 = t.get("/one-write");
  ASSERT_TRUE(r2.ok()) << r2.error;
  EXPECT_EQ(r2.framing, http_parser::framing::until_close);
  EXPECT_TRUE(r2.body == big);
}

TEST(WsgiServerResponse, HeadGetsTheHeadersOnly) {
  wsgi_lan t;
  bool declare = false;
  t.app.fn = [&](const wsgi_environ& env, wsgi_response& resp) {
    EXPECT_EQ(env.request_method(), "HEAD");
    if (declare)
      resp.start_response("200 OK", {{"Content-Length", "3000"}});
    else
      resp.start_response("200 OK");
    const std::string b = body_pattern(3000);
    EXPECT_TRUE(resp.write(b).ok());
  };
  t.start();
  std::string r = t.raw_exchange("HEAD /x HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r,
            "HTTP/1.1 200 OK\r\nServer: w5kWSGIServer\r\nContent-Length: 3000\r\nConnection: close\r\n\r\n");
  declare = true;
  r = t.raw_exchange("HEAD /x HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r,
            "HTTP/1.1 200 OK\r\nServer: w5kWSGIServer\r\nContent-Length: 3000\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(t.server.stats().app_errors, 0u);
}

TEST(WsgiServerResponse, HeadRequestThatTheApplicationFailsGets500WithoutABody) {
  wsgi_lan t;
  t.app.fn = [](const wsgi_environ&, wsgi_response&) {};
  t.start();
  const std::string r = t.raw_exchange("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(raw_status(r), 500) << r;
  EXPECT_EQ(r.substr(r.size() - 4), "\r\n\r\n") << "body bytes after a response to HEAD: " << r;
  EXPECT_NE(r.find("Content-Length: 26\r\n"), std::string::npos) << r;  // as a GET would get
  // And through a user agent: a clean 500, no stray bytes.
  const http_result h = t.request("HEAD", "/");
  EXPECT_TRUE(h.ok()) << h.error;
  EXPECT_EQ(h.status, 500);
  EXPECT_EQ(h.body, "");
  // A HEAD the server itself rejects gets no body either.
  const std::string bad = t.raw_exchange("HEAD / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(raw_status(bad), 501) << bad;
  EXPECT_EQ(bad.substr(bad.size() - 4), "\r\n\r\n") << bad;
}

TEST(WsgiServerResponse, NoBodyAndNoLengthFor204And304) {
  wsgi_lan t;
  std::string status;
  t.app.fn = [&](const wsgi_environ&, wsgi_response& resp) {
    EXPECT_TRUE(resp.start_response(status, {{"Content-Length", "4"}, {"ETag", "\"v1\""}}).ok());
    EXPECT_TRUE(resp.write("body").ok());  // accepted, never sent
  };
  t.start();
  status = "204 No Content";
  std::string r = t.raw_exchange("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r,
            "HTTP/1.1 204 No Content\r\nServer: w5kWSGIServer\r\nETag: \"v1\"\r\nConnection: close\r\n\r\n");
  status = "304 Not Modified";
  r = t.raw_exchange("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(
      r, "HTTP/1.1 304 Not Modified\r\nServer: w5kWSGIServer\r\nETag: \"v1\"\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(t.server.stats().last_status, 304u);
}

TEST(WsgiServerResponse, ApplicationThatNeverStartsAResponseGets500) {
  wsgi_lan t;
  t.app.fn = [](const wsgi_environ&, wsgi_response& resp) {
    EXPECT_FALSE(resp.started());
    const auto e = resp.write("lost");
    EXPECT_EQ(e.code, errc::runtime_error);  // write() before start_response()
  };
  t.start();
  const http_result r = t.get("/");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, "500 Internal Server Error\n");
  EXPECT_EQ(t.server.stats().app_errors, 1u);
  EXPECT_EQ(t.server.stats().last_status, 500u);

  // No application at all: 500 as well.
  t.server.set_application(nullptr, nullptr);
  const http_result r2 = t.get("/");
  EXPECT_EQ(r2.status, 500);
  EXPECT_EQ(t.server.stats().app_errors, 2u);
  t.server.set_application(&app_box::call, &t.app);
  t.app.fn = echo_ok;
  t.expect_still_serving("500");
}

TEST(WsgiServerResponse, BadStatusOrHeaderIsValueErrorAndTheClientGets500WithNothingInjected) {
  wsgi_lan t;
  struct bad_case {
    std::string status;
    std::vector<std::pair<std::string, std::string>> headers;
  };
  const std::string huge(1100, 'v');
  const std::vector<bad_case> cases = {
      {"OK", {}},
      {"20 OK", {}},
      {"200", {}},
      {"2000 OK", {}},
      {"099 Too Low", {}},
      {"2x0 OK", {}},
      {"200 OK\r\nX-Injected: 1", {}},
      {"200 OK", {{"Bad Name", "v"}}},
      {"200 OK", {{"", "v"}}},
      {"200 OK", {{"X-Colon:", "v"}}},
      {"200 OK", {{"X-Ok", "a\r\nX-Injected: 1"}}},
      {"200 OK", {{"X-Ok", std::string("a\0b", 3)}}},
      {"200 OK", {{"X-Huge", huge}}},
      {"200 OK", {{"Content-Length", "abc"}}},
      {"200 OK", {{"Content-Length", "-1"}}},
      {"200 OK", {{"Content-Length", "12345678901"}}},
  };
  std::size_t index = 0;
  wiznet5k::error got{};
  wiznet5k::error write_after{};
  bool started_after = true;
  t.app.fn = [&](const wsgi_environ&, wsgi_response& resp) {
    const bad_case& c = cases[index];
    std::vector<wsgi_header> hs;
    for (const auto& h : c.headers) hs.push_back({h.first, h.second});
    got = resp.start_response(c.status, hs.data(), hs.size());
    started_after = resp.started();
    write_after = resp.write("body");
  };
  t.start();
  for (index = 0; index < cases.size(); ++index) {
    got = {};
    const std::string r = t.raw_exchange("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(got.code, errc::value_error) << "case " << index;
    EXPECT_FALSE(started_after) << "case " << index;
    EXPECT_EQ(write_after.code, errc::runtime_error) << "case " << index;
    EXPECT_EQ(raw_status(r), 500) << "case " << index << ": " << r;
    EXPECT_EQ(r.find("X-Injected"), std::string::npos) << "case " << index;
    EXPECT_EQ(r.find("body"), std::string::npos) << "case " << index;
  }
  EXPECT_EQ(t.server.stats().app_errors, cases.size());
  t.expect_still_serving("bad status");
}

TEST(WsgiServerResponse, StartResponseRetriedAfterAnErrorAndRefusedTwice) {
  wsgi_lan t;
  wiznet5k::error bad{}, good{}, twice{};
  t.app.fn = [&](const wsgi_environ&, wsgi_response& resp) {
    bad = resp.start_response("nope");
    good = resp.start_response("202 Accepted", {{"X-First", "1"}});
    twice = resp.start_response("500 Oops", {{"X-Second", "2"}});
    resp.write("ok");
  };
  t.start();
  const http_result r = t.get("/");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(bad.code, errc::value_error);
  EXPECT_TRUE(good.ok()) << good.message;
  EXPECT_EQ(twice.code, errc::runtime_error);
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(r.headers.get("X-First"), "1");
  EXPECT_FALSE(r.headers.has("X-Second"));
  EXPECT_EQ(r.body, "ok");
}

TEST(WsgiServerResponse, WriteBeyondTheDeclaredLengthIsValueErrorAndTheExcessIsDropped) {
  wsgi_lan t;
  wiznet5k::error first{}, over{}, more{};
  t.app.fn = [&](const wsgi_environ&, wsgi_response& resp) {
    resp.start_response("200 OK", {{"Content-Length", " 5 "}});
    first = resp.write("hel");
    over = resp.write("lo world");
    more = resp.write("!");
  };
  t.start();
  const std::string r = t.raw_exchange("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(first.ok());
  EXPECT_EQ(over.code, errc::value_error);
  EXPECT_EQ(more.code, errc::value_error);
  EXPECT_EQ(
      r, "HTTP/1.1 200 OK\r\nServer: w5kWSGIServer\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
  EXPECT_EQ(t.server.stats().last_status, 200u);
}

TEST(WsgiServerResponse, BodyShorterThanDeclaredEndsTheConnectionAndCountsAnAppError) {
  wsgi_lan t;
  t.app.fn = [](const wsgi_environ&, wsgi_response& resp) {
    resp.start_response("200 OK", {{"Content-Length", "100"}});
    resp.write("only ten!!");
  };
  t.start();
  const http_result r = t.get("/short");
  EXPECT_FALSE(r.ok());  // the client sees the body cut short by the close
  EXPECT_EQ(t.server.stats().app_errors, 1u);
  t.expect_still_serving("short body");
}

TEST(WsgiServerResponse, HeadersThatDoNotFitTheResponseBufferAreRefused) {
  wsgi_lan t;
  wiznet5k::error e{};
  t.app.fn = [&](const wsgi_environ&, wsgi_response& resp) {
    const std::string v(100, 'h');
    std::vector<wsgi_header> hs;
    std::vector<std::string> names;
    for (int i = 0; i < 10; ++i) names.push_back("X-H" + std::to_string(i));
    for (const auto& n : names) hs.push_back({n, v});
    e = resp.start_response("200 OK", hs.data(), hs.size());  // ~1100 bytes of fields
  };
  t.start();
  const http_result r = t.get("/");
  EXPECT_EQ(e.code, errc::value_error);
  EXPECT_EQ(r.status, 500);
  EXPECT_FALSE(r.headers.has("X-H0"));
}

// ---- polling, listeners, concurrency --------------------------------------------------------------------

TEST(WsgiServerPolling, UpdatePollReturnsAtOnceWithoutARequestAndWithAHalfSentOne) {
  wsgi_lan t;
  t.app.fn = echo_ok;
  t.start();
  std::uint64_t worst = 0;
  for (int i = 0; i < 200; ++i) {
    const std::uint64_t t0 = t.board.millis();
    ASSERT_TRUE(t.server.update_poll().ok());
    worst = std::max<std::uint64_t>(worst, t.board.millis() - t0);
    t.board.sleep_ms(1);
  }
  EXPECT_LE(worst, 2u) << "update_poll with nothing to do must not wait";

  auto c = t.open_raw();
  c->send("GET /half HTTP/1.1\r\nHost: x\r\nX-Pa");
  t.pump_for(50);
  ASSERT_TRUE(c->connected);
  worst = 0;
  for (int i = 0; i < 200; ++i) {
    const std::uint64_t t0 = t.board.millis();
    ASSERT_TRUE(t.server.update_poll().ok());
    worst = std::max<std::uint64_t>(worst, t.board.millis() - t0);
    t.board.sleep_ms(1);
  }
  EXPECT_LE(worst, 2u) << "update_poll with a half-sent request must not wait for the rest";
  EXPECT_EQ(t.app.calls, 0);
  EXPECT_EQ(c->got, "");
  c->send("rt: 1\r\n\r\n");
  ASSERT_TRUE(t.pump([&] { return c->done(); }));
  EXPECT_EQ(t.app.calls, 1);
  EXPECT_EQ(raw_status(c->got), 200);
}

TEST(WsgiServerPolling, SixListenersByDefaultAndTwoSocketsLeftFree) {
  wsgi_lan t;
  EXPECT_EQ(t.server.listeners(), 0);  // the default
  EXPECT_EQ(t.server.open_sockets(), 0);
  EXPECT_FALSE(t.server.started());
  t.start();
  EXPECT_TRUE(t.server.started());
  EXPECT_EQ(t.server.open_sockets(), 6);
  EXPECT_EQ(t.listening(), 6);
  EXPECT_EQ(t.server.port(), 80);
  // The application still gets a socket of its own (and socket 0 stays free for DHCP/DNS).
  sm::socket mine(sm::AF_INET, sm::SOCK_STREAM);
  EXPECT_TRUE(static_cast<bool>(mine)) << mine.open_error().message;
  const auto s0 = t.eth.socket_status(0);
  ASSERT_TRUE(s0.ok());
  EXPECT_EQ(s0.value, wiznet5k::SNSR_SOCK_CLOSED);
}

TEST(WsgiServerPolling, SixClientsAtOnceAreAllAnswered) {
  wsgi_lan t;
  t.app.fn = [](const wsgi_environ& env, wsgi_response& resp) {
    resp.start_response("200 OK", {{"Content-Type", "text/plain"}});
    resp.write("for ");
    resp.write(env.path_info());
    resp.write(" from ");
    resp.write(*env.header("X-Client"));
  };
  t.start();
  std::vector<std::unique_ptr<peer_host>> hosts;
  std::vector<std::unique_ptr<http_client>> clients;
  std::vector<std::optional<http_result>> results(6);
  for (int i = 0; i < 6; ++i) {
    hosts.push_back(std::make_unique<peer_host>(
        t.seg, test::peer_cfg("c" + std::to_string(i), ip4(10, 0, 0, static_cast<std::uint8_t>(10 + i)),
                              static_cast<std::uint8_t>(10 + i))));
    clients.push_back(std::make_unique<http_client>(*hosts.back()));
  }
  for (int i = 0; i < 6; ++i)
    clients[i]->request(chip_ip, http_port, "GET", "/p" + std::to_string(i),
                        {{"X-Client", std::to_string(i)}}, "",
                        [&results, i](const http_result& r) { results[i] = r; });
  ASSERT_TRUE(t.pump([&] {
    for (const auto& r : results)
      if (!r) return false;
    return true;
  }));
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(results[i]->ok()) << i << ": " << results[i]->error;
    EXPECT_EQ(results[i]->status, 200);
    EXPECT_EQ(results[i]->body, "for /p" + std::to_string(i) + " from " + std::to_string(i));
  }
  EXPECT_EQ(t.app.calls, 6);
  EXPECT_EQ(t.server.stats().requests, 6u);
  EXPECT_EQ(t.server.open_sockets(), 6);
  clients.clear();
}

TEST(WsgiServerPolling, EverySocketListensAgainAfterItsResponse) {
  wsgi_lan t;
  t.app.fn = echo_ok;
  t.start();
  for (int i = 0; i < 14; ++i) {
    const http_result r = t.get("/n" + std::to_string(i));
    ASSERT_TRUE(r.ok()) << i << ": " << r.error;
    EXPECT_EQ(r.body, "/n" + std::to_string(i));
    EXPECT_EQ(t.server.open_sockets(), 6) << i;
    t.pump_for(5);
    EXPECT_EQ(t.listening(), 6) << i;
  }
  EXPECT_EQ(t.server.stats().requests, 14u);
}

TEST(WsgiServerPolling, ClientThatHalfClosesRightAfterItsRequestIsStillAnswered) {
  wsgi_lan t;
  std::string input;
  t.app.fn = [&](const wsgi_environ& env, wsgi_response& resp) {
    input = sv(env.input());
    resp.start_response("200 OK");
    resp.write("bye");
  };
  t.start();
  auto c = t.open_raw();
  c->send("PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\ndata");
  c->c->close();  // FIN right behind the request: the chip socket reads CLOSE_WAIT
  ASSERT_TRUE(t.pump([&] { return c->done(); }));
  EXPECT_EQ(input, "data");
  EXPECT_EQ(raw_status(c->got), 200);
  EXPECT_NE(c->got.find("\r\n\r\nbye"), std::string::npos);
}

TEST(WsgiServerPolling, AnIdleConnectionDoesNotHoldUpAnotherClient) {
  wsgi_lan t;
  t.app.fn = echo_ok;
  t.start();
  auto idle = t.open_raw();  // connects (a browser's pre-connect) and sends nothing
  t.pump_for(100);
  ASSERT_TRUE(idle->connected);
  const std::uint64_t t0 = t.board.millis();
  const http_result r = t.get("/next");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.body, "/next");
  EXPECT_LT(t.board.millis() - t0, 500u) << "the second client waited behind the idle one";
  // The idle connection is still closed after the request timeout.
  t.server.set_timeout_ms(2000);
  ASSERT_TRUE(t.pump([&] { return idle->done(); }, 5000));
  EXPECT_EQ(idle->got, "");
  EXPECT_EQ(t.server.stats().timeouts, 1u);
}

TEST(WsgiServerPolling, AClientThatIgnoresTheFinDoesNotStallUpdatePoll) {
  wsgi_lan t;
  t.app.fn = echo_ok;
  t.start();
  auto c = t.open_raw();
  c->close_on_fin = false;
  c->send("GET /linger HTTP/1.1\r\nHost: x\r\n\r\n");
  t.board.sleep_ms(50);  // connected, request in the chip's buffer
  ASSERT_TRUE(c->connected);
  const std::uint64_t t0 = t.board.millis();
  ASSERT_TRUE(t.server.update_poll().ok());  // answers and closes
  EXPECT_LE(t.board.millis() - t0, 20u) << "update_poll waited for the client's FIN";
  EXPECT_EQ(t.app.calls, 1);
  t.board.sleep_ms(20);
  EXPECT_EQ(raw_status(c->got), 200);
  EXPECT_TRUE(c->peer_fin);
  EXPECT_EQ(t.server.open_sockets(), 6);
  // Meanwhile other clients are served.
  EXPECT_EQ(t.get("/other").body, "/other");
  // The lingering socket listens again after the close wait (1 s).
  t.pump_for(1100);
  EXPECT_EQ(t.listening(), 6);
  EXPECT_EQ(t.server.open_sockets(), 6);
}

TEST(WsgiServerPolling, OnlyOneRequestPerConnectionPipelinedBytesAreIgnored) {
  wsgi_lan t;
  t.app.fn = echo_ok;
  t.start();
  const std::string r =
      t.raw_exchange("GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(t.app.calls, 1);
  EXPECT_EQ(r,
            "HTTP/1.1 200 OK\r\nServer: w5kWSGIServer\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n"
            "Connection: close\r\n\r\n/first");
}

TEST(WsgiServerPolling, ConnectionResetBeforeTheServerLookedIsCountedAndForgotten) {
  wsgi_lan t;
  t.app.fn = echo_ok;
  t.start();
  ASSERT_TRUE(t.server.update_poll().ok());
  auto c = t.open_raw();
  c->send("GET /gone HTTP/1.1\r\n");
  t.board.sleep_ms(50);
  ASSERT_TRUE(c->connected);
  ASSERT_TRUE(t.server.update_poll().ok());  // seen (partial request) ...
  c->c->abort();                             // ... then reset
  t.board.sleep_ms(20);
  t.pump_for(20);
  EXPECT_EQ(t.server.stats().aborted, 1u);
  EXPECT_EQ(t.app.calls, 0);
  EXPECT_EQ(t.listening(), 6);

  // Reset while idle (seen, nothing sent yet).
  auto d = t.open_raw();
  t.board.sleep_ms(50);
  ASSERT_TRUE(d->connected);
  t.pump_for(5);
  d->c->abort();
  t.board.sleep_ms(20);
  t.pump_for(20);
  EXPECT_EQ(t.server.stats().aborted, 2u);
  EXPECT_EQ(t.listening(), 6);
  t.expect_still_serving("early reset");
}

// ---- life cycle ------------------------------------------------------------------------------------------

TEST(WsgiServerLifecycle, SetListenersBoundsAndEffect) {
  wsgi_lan t;
  EXPECT_EQ(t.server.set_listeners(-1).code, errc::value_error);
  EXPECT_EQ(t.server.set_listeners(8).code, errc::value_error);  // max_sockets() - 1 = 7 at most
  EXPECT_EQ(t.server.set_listeners(100).code, errc::value_error);
  EXPECT_EQ(t.server.listeners(), 0);
  EXPECT_TRUE(t.server.set_listeners(7).ok());
  EXPECT_EQ(t.server.listeners(), 7);
  EXPECT_TRUE(t.server.set_listeners(2).ok());
  t.app.fn = echo_ok;
  t.start();
  EXPECT_EQ(t.server.open_sockets(), 2);
  EXPECT_EQ(t.listening(), 2);
  EXPECT_EQ(t.server.set_listeners(3).code, errc::runtime_error);  // once started
  EXPECT_EQ(t.server.listeners(), 2);
  const http_result r = t.get("/two");
  EXPECT_EQ(r.body, "/two");
  EXPECT_EQ(t.server.open_sockets(), 2);

  t.server.stop();
  EXPECT_TRUE(t.server.set_listeners(7).ok());
  t.start();
  EXPECT_EQ(t.server.open_sockets(), 7);
  EXPECT_EQ(t.listening(), 7);
  EXPECT_EQ(t.get("/seven").body, "/seven");
  EXPECT_TRUE(t.server.set_listeners(0).code == errc::runtime_error);
}

TEST(WsgiServerLifecycle, StartTwiceAndPollBeforeStartAreRuntimeErrors) {
  wsgi_lan t;
  EXPECT_EQ(t.server.update_poll().code, errc::runtime_error);
  t.start();
  EXPECT_EQ(t.server.start().code, errc::runtime_error);
  EXPECT_EQ(t.server.open_sockets(), 6);  // the second start() opened nothing more
  EXPECT_EQ(t.listening(), 6);
  t.server.stop();
  EXPECT_EQ(t.server.update_poll().code, errc::runtime_error);

  WSGIServer no_port(0, &app_box::call, &t.app);
  EXPECT_EQ(no_port.start().code, errc::value_error);
  EXPECT_EQ(no_port.open_sockets(), 0);
  EXPECT_FALSE(no_port.started());
}

TEST(WsgiServerLifecycle, StopClosesEverySocketEvenMidRequestAndStartServesAgain) {
  wsgi_lan t;
  t.app.fn = echo_ok;
  t.start();
  auto c = t.open_raw();
  c->send("GET /half HTTP/1.1\r\n");
  t.pump_for(50);
  ASSERT_TRUE(c->connected);
  t.server.stop();
  EXPECT_FALSE(t.server.started());
  EXPECT_EQ(t.server.open_sockets(), 0);
  EXPECT_TRUE(t.all_closed());
  t.board.sleep_ms(2000);
  EXPECT_TRUE(c->done());  // the client saw the connection end
  EXPECT_EQ(t.app.calls, 0);
  // A stopped server refuses connections (nothing listens: the chip resets the SYN).
  auto refused = t.open_raw();
  refused->send("GET / HTTP/1.1\r\n\r\n");
  t.board.sleep_ms(500);
  EXPECT_TRUE(refused->closed);
  EXPECT_FALSE(refused->connected);
  EXPECT_EQ(refused->got, "");
  t.start();
  EXPECT_EQ(t.get("/again").body, "/again");
  t.server.stop();
  t.server.stop();  // idempotent
  EXPECT_TRUE(t.all_closed());
}

TEST(WsgiServerLifecycle, DestructorClosesEverything) {
  wsgi_lan t;
  {
    WSGIServer other(8080, &app_box::call, &t.app);
    ASSERT_TRUE(other.start().ok());
    EXPECT_EQ(other.open_sockets(), 6);
    EXPECT_EQ(other.port(), 8080);
  }
  EXPECT_TRUE(t.all_closed());
}

TEST(WsgiServerLifecycle, StartWithoutEnoughSocketsFailsAndLeavesNothingOpen) {
  wsgi_lan t;
  sm::socket a(sm::AF_INET, sm::SOCK_STREAM), b(sm::AF_INET, sm::SOCK_DGRAM);
  ASSERT_TRUE(static_cast<bool>(a));
  ASSERT_TRUE(static_cast<bool>(b));
  const auto e = t.server.start();  // 5 sockets left for 6 listeners
  EXPECT_EQ(e.code, errc::runtime_error) << e.message;
  EXPECT_FALSE(t.server.started());
  EXPECT_EQ(t.server.open_sockets(), 0);
  EXPECT_EQ(t.listening(), 0);
  a.close();
  b.close();
  EXPECT_TRUE(t.all_closed());
  t.app.fn = echo_ok;
  t.start();
  EXPECT_EQ(t.get("/ok").body, "/ok");
}

TEST(WsgiServerLifecycle, AnotherPortShowsInServerPortAndTheChipAddressInServerName) {
  wsgi_lan t;
  seen_env seen;
  t.app.fn = [&](const wsgi_environ& env, wsgi_response& resp) {
    seen.record(env, {"SERVER_PORT", "SERVER_NAME"});
    resp.start_response("200 OK");
  };
  WSGIServer alt(8080, &app_box::call, &t.app);
  ASSERT_TRUE(alt.start().ok());
  std::optional<http_result> res;
  t.client.get(chip_ip, 8080, "/", [&](const http_result& r) { res = r; });
  for (int i = 0; i < 5000 && !res; ++i) {
    ASSERT_TRUE(alt.update_poll().ok());
    t.board.sleep_ms(1);
  }
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(seen.server_port, 8080);
  EXPECT_EQ(seen.keys["SERVER_PORT"], "8080");
  EXPECT_EQ(seen.keys["SERVER_NAME"], "10.0.0.50");
  EXPECT_EQ(alt.stats().requests, 1u);
  EXPECT_EQ(t.server.stats().requests, 0u);
}

// ---- bad input -------------------------------------------------------------------------------------------

TEST(WsgiServerBadInput, MalformedRequestsGetTheirStatusAndNothingIsLost) {
  wsgi_lan t;
  t.app.fn = echo_ok;
  t.start();
  struct bad_case {
    const char* what;
    std::string bytes;
    int status;
  };
  std::string many_headers = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 25; ++i) many_headers += "X-" + std::to_string(i) + ": v\r\n";
  many_headers += "\r\n";
  const std::vector<bad_case> cases = {
      {"no spaces in the request line", "GARBAGE\r\n\r\n", 400},
      {"no version", "GET /\r\n\r\n", 400},
      {"empty target", "GET  HTTP/1.1\r\n\r\n", 400},
      {"extra field in the request line", "GET / HTTP/1.1 x\r\n\r\n", 400},
      {"bad version", "GET / HTTX/1.1\r\n\r\n", 400},
      {"method not a token", "G(T / HTTP/1.1\r\n\r\n", 400},
      {"header without colon", "GET / HTTP/1.1\r\nNoColonHere\r\n\r\n", 400},
      {"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400},
      {"obs-fold", "GET / HTTP/1.1\r\nX-A: 1\r\n  folded\r\n\r\n", 400},
      {"NUL in a field", std::string("GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n", 29), 400},
      {"bare CR", "GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n", 400},
      {"Content-Length not a number", "POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400},
      {"Content-Length negative", "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
      {"Content-Length list", "POST / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\nx", 400},
      {"conflicting Content-Length", "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxy",
       400},
      {"Transfer-Encoding", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
       501},
      {"HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", 505},
      {"HTTP/0.9 style version", "GET / HTTP/0.9\r\n\r\n", 505},
      {"too many fields", many_headers, 431},
      {"head larger than the buffer", "GET / HTTP/1.1\r\nX-Big: " + std::string(3000, 'a') + "\r\n\r\n", 431},
      {"request line larger than the buffer", "GET /" + std::string(3000, 'a') + " HTTP/1.1\r\n\r\n", 414},
      {"body larger than the buffer",
       "POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'b'), 413},
      {"Content-Length of 10 digits", "POST / HTTP/1.1\r\nContent-Length: 9999999999\r\n\r\n", 413},
  };
  std::uint32_t rejected = 0;
  for (const bad_case& c : cases) {
    const std::string r = t.raw_exchange(c.bytes);
    EXPECT_EQ(raw_status(r), c.status) << c.what << ": " << r;
    EXPECT_NE(r.find("\r\nConnection: close\r\n"), std::string::npos) << c.what;
    ++rejected;
    EXPECT_EQ(t.server.stats().rejected, rejected) << c.what;
    EXPECT_EQ(t.server.stats().last_status, static_cast<std::uint32_t>(c.status)) << c.what;
    EXPECT_EQ(t.app.calls, 0) << c.what;
    t.expect_still_serving(c.what);
    t.app.calls = 0;
  }
  // The error body says what happened.
  EXPECT_EQ(t.raw_exchange("GET / HTTP/2.0\r\n\r\n"),
            "HTTP/1.1 505 HTTP Version Not Supported\r\nServer: w5kWSGIServer\r\nContent-Type: text/plain\r\n"
            "Content-Length: 31\r\nConnection: close\r\n\r\n505 HTTP Version Not Supported\n");
}

TEST(WsgiServerBadInput, RequestsAtTheBufferAndFieldLimitsAreAcceptedOneByteMoreIsNot) {
  wsgi_lan t;
  std::size_t input_len = 0;
  std::size_t fields = 0;
  t.app.fn = [&](const wsgi_environ& env, wsgi_response& resp) {
    input_len = env.input().size();
    fields = env.header_count();
    resp.start_response("200 OK");
  };
  t.start();
  const std::string head = "POST /b HTTP/1.1\r\nContent-Length: ";
  // Head + body exactly request_buffer_size (2048) bytes.
  const std::size_t head_len = head.size() + 4 + 4;  // 4 digits, CRLF CRLF
  const std::size_t fit = WSGIServer::request_buffer_size - head_len;
  std::string r = t.raw_exchange(head + std::to_string(fit) + "\r\n\r\n" + std::string(fit, 'x'));
  EXPECT_EQ(raw_status(r), 200) << r;
  EXPECT_EQ(input_len, fit);
  r = t.raw_exchange(head + std::to_string(fit + 1) + "\r\n\r\n" + std::string(fit + 1, 'x'));
  EXPECT_EQ(raw_status(r), 413) << r;

  // wsgi_environ::max_headers (24) fields are fine, 25 are not.
  std::string req = "GET / HTTP/1.1\r\n";
  for (std::size_t i = 0; i < wsgi_environ::max_headers; ++i) req += "X-" + std::to_string(i) + ": v\r\n";
  r = t.raw_exchange(req + "\r\n");
  EXPECT_EQ(raw_status(r), 200) << r;
  EXPECT_EQ(fields, wsgi_environ::max_headers);
  r = t.raw_exchange(req + "X-last: v\r\n\r\n");
  EXPECT_EQ(raw_status(r), 431) << r;

  // An empty body with Content-Length: 0.
  seen_env seen;
  t.app.fn = [&](const wsgi_environ& env, wsgi_response& resp) {
    seen.record(env, {"CONTENT_LENGTH", "wsgi.input"});
    EXPECT_EQ(resp.write(nullptr, 3).code, errc::runtime_error);  // before start_response
    resp.start_response("200 OK");
    EXPECT_EQ(resp.write(nullptr, 3).code, errc::value_error);
    EXPECT_TRUE(resp.write(nullptr, 0).ok());
  };
  r = t.raw_exchange("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(seen.keys["CONTENT_LENGTH"], "0");
  EXPECT_EQ(seen.keys["wsgi.input"], "");
  EXPECT_EQ(r, "HTTP/1.1 200 OK\r\nServer: w5kWSGIServer\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

TEST(WsgiServerBadInput, BinaryBytesInTheRequestLineGet400AtOnceWithoutWaitingForTheTimeout) {
  wsgi_lan t;
  t.app.fn = echo_ok;
  t.start();
  // The start of a TLS ClientHello sent to the HTTP port: no line end, so no complete head ever comes.
  const std::string hello("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x5a\x11", 13);
  struct early {
    const char* what;
    std::string bytes;
    int status;
  };
  const std::vector<early> cases = {
      {"TLS ClientHello", hello, 400},
      {"NUL in the method", std::string("GE\0T / HTTP/1.1", 15), 400},
      {"bare CR in the target", "GET /a\rb HTTP/1.1", 400},
      {"control byte in a field, head unfinished", "GET / HTTP/1.1\r\nX-A: \x01", 400},
      {"malformed request line, head unfinished", "GET/ HTTP/1.1\r\nHost: x\r\n", 400},
      {"HTTP/2.0, head unfinished", "GET / HTTP/2.0\r\nHost: x\r\n", 505},
  };
  for (const early& c : cases) {
    auto r = t.open_raw();
    r->send(c.bytes);
    ASSERT_TRUE(t.pump([&] { return r->done(); }, 1000)) << c.what << ": still waiting after 1 s";
    EXPECT_EQ(raw_status(r->got), c.status) << c.what << ": " << r->got;
    EXPECT_EQ(t.server.stats().timeouts, 0u) << c.what;
    t.expect_still_serving(c.what);
  }
}

TEST(WsgiServerBadInput, HalfARequestThenSilenceIsClosedAfterTheTimeout) {
  wsgi_lan t;
  t.app.fn = echo_ok;
  EXPECT_EQ(t.server.timeout_ms(), 20000u);  // the seed's socket timeout
  t.server.set_timeout_ms(3000);
  EXPECT_EQ(t.server.timeout_ms(), 3000u);
  t.start();
  auto c = t.open_raw();
  c->send("GET /slow HTTP/1.1\r\nHost:");
  ASSERT_TRUE(t.pump([&] { return c->connected; }));
  const std::uint64_t t0 = t.board.millis();
  ASSERT_TRUE(t.pump([&] { return c->done(); }, 10000));
  const std::uint64_t took = t.board.millis() - t0;
  EXPECT_GE(took, 2990u);
  EXPECT_LE(took, 3200u);
  EXPECT_EQ(c->got, "");  // closed, not answered
  EXPECT_EQ(t.server.stats().timeouts, 1u);
  EXPECT_EQ(t.app.calls, 0);
  t.expect_still_serving("timeout");

  // A body that never completes times out the same way.
  auto d = t.open_raw();
  d->send("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
  ASSERT_TRUE(t.pump([&] { return d->done(); }, 10000));
  EXPECT_EQ(d->got, "");
  EXPECT_EQ(t.server.stats().timeouts, 2u);
  t.expect_still_serving("body timeout");
}

TEST(WsgiServerBadInput, TimeoutZeroMeansNoBoundNotNonBlockingSends) {
  wsgi_lan t;
  const std::string body = body_pattern(20000, 8);
  std::vector<wiznet5k::error> errors;
  t.app.fn = [&](const wsgi_environ&, wsgi_response& resp) {
    resp.start_response("200 OK", {{"Content-Length", "20000"}});
    for (std::size_t off = 0; off < body.size(); off += 1000)
      errors.push_back(resp.write(body.data() + off, 1000));
  };
  t.server.set_timeout_ms(0);
  t.start();
  auto slow = t.open_raw();
  slow->send("GET / HTTP/1.1\r\n");
  t.pump_for(30000);
  EXPECT_FALSE(slow->done());  // no request timeout
  EXPECT_EQ(t.server.stats().timeouts, 0u);
  // A reader that pauses for 3 s while the response goes out: the sends wait (no bound) and all of it
  // arrives.
  slow->c->pause_reading(true);
  std::weak_ptr<raw_conn> w = slow;
  t.sched.after(seconds(3), [w] {
    if (auto p = w.lock()) p->c->pause_reading(false);
  });
  slow->send("\r\n");
  ASSERT_TRUE(t.pump([&] { return slow->done(); }));
  for (const auto& e : errors) EXPECT_TRUE(e.ok()) << e.message;
  EXPECT_EQ(errors.size(), 20u);
  const std::size_t at = slow->got.find("\r\n\r\n");
  ASSERT_NE(at, std::string::npos);
  EXPECT_TRUE(slow->got.substr(at + 4) == body);
  EXPECT_EQ(t.server.stats().aborted, 0u);
}

TEST(WsgiServerBadInput, DefaultTimeoutIsTwentySecondsOfVirtualTime) {
  wsgi_lan t;
  t.app.fn = echo_ok;
  t.start();
  auto c = t.open_raw();
  c->send("GET / HTTP/1.1\r\n");
  ASSERT_TRUE(t.pump([&] { return c->connected; }));
  const std::uint64_t t0 = t.board.millis();
  ASSERT_TRUE(t.pump([&] { return c->done(); }, 25000));
  const std::uint64_t took = t.board.millis() - t0;
  EXPECT_GE(took, 19990u);
  EXPECT_LE(took, 20200u);
  EXPECT_EQ(t.server.stats().timeouts, 1u);
}

TEST(WsgiServerBadInput, ClientResetMidRequestIsCountedAsAborted) {
  wsgi_lan t;
  t.app.fn = echo_ok;
  t.start();
  auto c = t.open_raw();
  c->send("POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nsome");
  t.pump_for(50);
  ASSERT_TRUE(c->connected);
  c->c->abort();
  t.pump_for(50);
  EXPECT_EQ(t.server.stats().aborted, 1u);
  EXPECT_EQ(t.app.calls, 0);
  EXPECT_EQ(t.server.open_sockets(), 6);
  t.expect_still_serving("reset mid-request");
}

TEST(WsgiServerBadInput, ClientResetMidResponseIsCountedAsAbortedAndTheNextClientIsServed) {
  wsgi_lan t;
  std::vector<wiznet5k::error> errors;
  const std::string body = body_pattern(20000);
  t.app.fn = [&](const wsgi_environ&, wsgi_response& resp) {
    resp.start_response("200 OK", {{"Content-Length", "20000"}});
    for (std::size_t off = 0; off < body.size(); off += 1000)
      errors.push_back(resp.write(body.data() + off, 1000));
  };
  t.start();
  auto c = t.open_raw();
  std::weak_ptr<raw_conn> w = c;
  c->c->on_data = [w](const octets& d) {
    auto p = w.lock();
    if (!p) return;
    p->got.append(d.begin(), d.end());
    if (p->got.size() >= 3000 && !p->closed) p->c->abort();
  };
  c->send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(t.pump([&] { return t.app.calls == 1 && t.server.open_sockets() == 6; }));
  t.pump_for(20);
  EXPECT_LT(c->got.size(), 20000u);
  EXPECT_EQ(t.server.stats().aborted, 1u);
  ASSERT_FALSE(errors.empty());
  EXPECT_EQ(errors.back().code, errc::connection_error) << errors.back().message;
  EXPECT_LT(t.board.millis(), 30000u);  // no 20 s send timeout: the reset was noticed at once
  t.app.fn = echo_ok;
  t.expect_still_serving("reset mid-response");
}

TEST(WsgiServerBadInput, ClientThatStopsReadingIsGivenUpAfterTheSendTimeout) {
  wsgi_lan t;
  std::vector<wiznet5k::error> errors;
  const std::string body = body_pattern(20000);
  t.app.fn = [&](const wsgi_environ&, wsgi_response& resp) {
    resp.start_response("200 OK", {{"Content-Length", "20000"}});
    for (std::size_t off = 0; off < body.size(); off += 1000) {
      errors.push_back(resp.write(body.data() + off, 1000));
      if (!errors.back().ok()) break;
    }
  };
  t.server.set_timeout_ms(2000);
  t.start();
  auto c = t.open_raw();
  c->c->pause_reading(true);  // its window closes once the chip has filled it
  c->send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
  t.board.sleep_ms(50);
  const std::uint64_t t0 = t.board.millis();
  ASSERT_TRUE(t.pump([&] { return t.app.calls == 1; }));
  const std::uint64_t took = t.board.millis() - t0;
  // Bounded by the send timeout: the send whose bytes the chip cannot get out waits for SEND_OK up to
  // timeout_ms, the next one for buffer room up to timeout_ms; not one timeout per remaining chunk.
  EXPECT_GE(took, 2000u);
  EXPECT_LE(took, 4200u);
  ASSERT_FALSE(errors.empty());
  EXPECT_EQ(errors.back().code, errc::timeout_error) << errors.back().message;
  EXPECT_EQ(t.server.stats().aborted, 1u);
  t.app.fn = echo_ok;
  t.expect_still_serving("stalled reader");
}

TEST(WsgiServerBadInput, RandomGarbageNeverCrashesAndGets400OrAClose) {
  wsgi_lan t;
  t.app.fn = echo_ok;
  t.server.set_timeout_ms(1500);
  t.start();
  std::uint64_t state = 0x9E3779B97F4A7C15ull;
  auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  int answered = 0;
  for (int i = 0; i < 12; ++i) {
    const std::size_t n = 1 + next() % 900;
    std::string g(n, '\0');
    const bool printable = i % 3 == 2;  // text-like garbage: tokens, spaces, line ends
    for (auto& ch : g) {
      if (printable) {
        static const char alphabet[] = "GETPOST/ :HTP1.0abc\r\n\t?=&";
        ch = alphabet[next() % (sizeof alphabet - 1)];
      } else {
        ch = static_cast<char>(next() & 0xFF);
      }
    }
    auto c = t.open_raw();
    c->send(g);
    if (i % 2 == 1) c->c->close();  // and then the FIN
    ASSERT_TRUE(t.pump([&] { return c->done(); }, 5000)) << "case " << i;
    if (!c->got.empty()) {
      EXPECT_EQ(raw_status(c->got), 400) << "case " << i << ": " << c->got.substr(0, 40);
      ++answered;
    }
    EXPECT_EQ(t.app.calls, 0) << "case " << i;
    t.expect_still_serving("garbage");
    t.app.calls = 0;
  }
  // Binary garbage has control bytes early on: rejected at once, not left to time out.
  EXPECT_GE(answered, 10);
  EXPECT_EQ(t.server.stats().timeouts, 12u - static_cast<std::uint32_t>(answered));
}
