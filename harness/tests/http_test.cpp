// HTTP/1.1 message layer, server and client: parser unit tests (whole, byte at a time, malformed, limits)
// and integration over the virtual network: peer to peer, chip as client (through its 2 KiB RX buffer),
// chip as server, and the capture checked by tshark.
#include "lan_fixture.hpp"
#include "wizsim/harness/http.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "tshark_util.hpp"
#include "wizsim/harness/peer.hpp"
#include "wizsim/harness/raw_client.hpp"
#include "wizsim/harness/segment.hpp"
#include "wizsim/w5500.hpp"

namespace wizsim {
namespace {

using test::find_on_path;  // REQUIRE_TSHARK names them unqualified
using test::running_in_ci;

// ---- helpers --------------------------------------------------------------------------------------------

// Feeds `text` in pieces of `step` bytes (0: all at once); returns the bytes consumed in total.
template <typename Parser>
std::size_t feed_in_steps(Parser& p, std::string_view text, std::size_t step) {
  if (step == 0) return p.feed(text);
  std::size_t off = 0;
  while (off < text.size() && !p.complete() && !p.failed()) {
    const std::size_t n = std::min(step, text.size() - off);
    const std::size_t used = p.feed(text.substr(off, n));
    off += used;
    if (used < n) break;
  }
  return off;
}

http_request parse_request(std::string_view text, std::size_t step = 0) {
  http_request_parser p;
  const std::size_t used = feed_in_steps(p, text, step);
  EXPECT_TRUE(p.complete()) << p.error();
  EXPECT_EQ(used, text.size());
  return p.take();
}

// The parse error for `text`, fed whole and byte at a time (both must agree).
std::pair<int, std::string> request_error(std::string_view text, http_limits limits = {}) {
  http_request_parser whole(limits), bytes(limits);
  whole.feed(text);
  feed_in_steps(bytes, text, 1);
  EXPECT_TRUE(whole.failed()) << "accepted: " << std::string(text);
  EXPECT_TRUE(bytes.failed());
  EXPECT_EQ(whole.error(), bytes.error());
  return {whole.error_status(), whole.error()};
}

std::string response_error(std::string_view text, std::string_view method = "GET") {
  http_response_parser p;
  p.set_request_method(method);
  p.feed(text);
  p.finish();
  EXPECT_TRUE(p.failed()) << "accepted: " << std::string(text);
  return p.error();
}

// The index of the first byte of `body` that differs from the pattern, or npos.
std::size_t pattern_mismatch(std::string_view body, std::uint64_t from = 0) {
  for (std::size_t i = 0; i < body.size(); ++i)
    if (static_cast<std::uint8_t>(body[i]) != http_pattern_byte(from + i)) return i;
  return std::string_view::npos;
}

// ---- headers and helpers --------------------------------------------------------------------------------

TEST(HttpHeaders, LookUpNamesCaseInsensitivelyAndKeepOrder) {
  http_headers h;
  h.add("Content-Type", "text/plain");
  h.add("X-Multi", "a");
  h.add("x-multi", "b");
  EXPECT_TRUE(h.has("content-type"));
  EXPECT_EQ(h.get("CONTENT-TYPE"), "text/plain");
  EXPECT_EQ(h.get_all("X-MULTI"), (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(h.get("Missing").has_value());
  EXPECT_EQ(h.get_or("Missing", "dflt"), "dflt");
  h.set("X-Multi", "c");
  EXPECT_EQ(h.get_all("x-multi"), (std::vector<std::string>{"c"}));
  EXPECT_EQ(h.remove("X-MULTI"), 1u);
  EXPECT_EQ(h.size(), 1u);
}

TEST(HttpHeaders, FindTokensInCommaSeparatedListsAcrossFields) {
  http_headers h{{"Connection", "Upgrade, Keep-Alive"}, {"connection", " close "}};
  EXPECT_TRUE(h.has_token("Connection", "keep-alive"));
  EXPECT_TRUE(h.has_token("Connection", "CLOSE"));
  EXPECT_TRUE(h.has_token("Connection", "upgrade"));
  EXPECT_FALSE(h.has_token("Connection", "keep"));
}

TEST(HttpMessage, KeepAliveFollowsVersionAndConnectionRules) {
  http_request r;
  r.version_minor = 1;
  EXPECT_TRUE(r.keep_alive());
  r.headers.add("Connection", "close");
  EXPECT_FALSE(r.keep_alive());
  http_request old;
  old.version_minor = 0;
  EXPECT_FALSE(old.keep_alive());
  old.headers.add("Connection", "Keep-Alive");
  EXPECT_TRUE(old.keep_alive());
}

TEST(HttpMessage, SplitsPathAndQuery) {
  http_request r;
  r.target = "/a/b?x=1&y=2";
  EXPECT_EQ(r.path(), "/a/b");
  EXPECT_EQ(r.query(), "x=1&y=2");
  r.target = "/plain";
  EXPECT_EQ(r.query(), "");
}

TEST(HttpMessage, PatternNeverRepeatsAtBufferSizeDisplacements) {
  for (std::uint64_t shift : {1u, 2048u, 4096u, 8192u, 16384u, 65536u}) {
    std::size_t same = 0;
    for (std::uint64_t i = 0; i < 300000; i += 7)
      same += http_pattern_byte(i) == http_pattern_byte(i + shift);
    EXPECT_LT(same, 300000u / 7 / 16) << "shift " << shift;
  }
}

// ---- request parser -------------------------------------------------------------------------------------

const char* const k_get =
    "GET /index.html?x=1 HTTP/1.1\r\n"
    "Host: 192.168.1.20\r\n"
    "User-Agent:  spaced value  \r\n"
    "Accept: */*\r\n"
    "\r\n";

TEST(HttpRequestParser, ParsesAWholeRequest) {
  const auto r = parse_request(k_get);
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/index.html?x=1");
  EXPECT_EQ(r.version_minor, 1);
  EXPECT_EQ(r.headers.size(), 3u);
  EXPECT_EQ(r.headers.get("user-agent"), "spaced value");
  EXPECT_TRUE(r.body.empty());
}

TEST(HttpRequestParser, GivesTheSameResultFedByteAtATimeAndInOddChunks) {
  const std::string text =
      std::string("POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world");
  for (std::size_t step : {1u, 2u, 3u, 7u, 13u}) {
    const auto r = parse_request(text, step);
    EXPECT_EQ(r.method, "POST") << step;
    EXPECT_EQ(r.body, "hello world") << step;
  }
}

TEST(HttpRequestParser, AcceptsBareLfLineEndingsAndLeadingEmptyLines) {
  const auto r = parse_request("\r\n\nGET / HTTP/1.0\nHost: x\n\n");
  EXPECT_EQ(r.version_minor, 0);
  EXPECT_EQ(r.headers.get("Host"), "x");
}

TEST(HttpRequestParser, StopsAtTheEndOfOneMessageSoPipelinedRequestsParseInTurn) {
  const std::string two =
      std::string(k_get) + "DELETE /item HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
  http_request_parser p;
  const std::size_t first = p.feed(two);
  ASSERT_TRUE(p.complete());
  EXPECT_EQ(first, std::string(k_get).size());
  EXPECT_EQ(p.take().method, "GET");
  EXPECT_TRUE(p.idle());
  EXPECT_EQ(p.feed(std::string_view(two).substr(first)), two.size() - first);
  ASSERT_TRUE(p.complete());
  EXPECT_EQ(p.request().method, "DELETE");
  EXPECT_EQ(p.request().body, "abc");
}

TEST(HttpRequestParser, DecodesChunkedBodiesWithExtensionsAndTrailersByteAtATime) {
  const std::string text =
      "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n"
      "1A ; quoted=\"a \\\" b\" ;flag\r\nabcdefghijklmnopqrstuvwxyz\r\n"
      "0;last\r\n"
      "X-Checksum: 42\r\nX-Other: yes\r\n\r\n";
  for (std::size_t step : {0u, 1u, 5u}) {
    http_request_parser p;
    EXPECT_EQ(feed_in_steps(p, text, step), text.size());
    ASSERT_TRUE(p.complete()) << p.error();
    EXPECT_EQ(p.body_framing(), http_parser::framing::chunked);
    EXPECT_EQ(p.chunk_count(), 2u);
    EXPECT_EQ(p.chunk_extensions(),
              (std::vector<std::string>{";name=value", "; quoted=\"a \\\" b\" ;flag", ";last"}));
    const auto r = p.take();
    EXPECT_EQ(r.body, "helloabcdefghijklmnopqrstuvwxyz");
    EXPECT_EQ(r.trailers.get("x-checksum"), "42");
    EXPECT_EQ(r.trailers.size(), 2u);
    EXPECT_FALSE(r.headers.has("X-Checksum"));
  }
}

TEST(HttpRequestParser, StreamsTheBodyToOnBodyInsteadOfStoringIt) {
  http_request_parser p;
  std::string got;
  bool headers_seen = false;
  p.on_headers = [&] { headers_seen = true; };
  p.on_body = [&](const char* d, std::size_t n) { got.append(d, n); };
  feed_in_steps(p, "PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nWXYZ", 3);
  ASSERT_TRUE(p.complete());
  EXPECT_TRUE(headers_seen);
  EXPECT_EQ(got, "WXYZ");
  EXPECT_TRUE(p.request().body.empty());
  EXPECT_EQ(p.body_bytes(), 4u);
}

TEST(HttpRequestParser, AcceptsAListOfEqualContentLengths) {
  const auto r =
      parse_request("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2, 2\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_EQ(r.body, "ok");
}

TEST(HttpRequestParser, TreatsMinorVersionsAboveOneAsOneOne) {
  EXPECT_EQ(parse_request("GET / HTTP/1.7\r\nHost: h\r\n\r\n").version_minor, 1);
}

TEST(HttpRequestParser, RejectsMalformedRequestLines) {
  EXPECT_EQ(request_error("GET /\r\n\r\n").first, 400);
  EXPECT_EQ(request_error("GET  / HTTP/1.1\r\n\r\n").first, 400);
  EXPECT_EQ(request_error("G(T / HTTP/1.1\r\n\r\n").second, "invalid method");
  EXPECT_EQ(request_error("GET /a\x01 HTTP/1.1\r\n\r\n").second, "invalid request target");
  EXPECT_EQ(request_error("GET / HTTP/1\r\n\r\n").first, 400);
  EXPECT_EQ(request_error("GET / http/1.1\r\n\r\n").first, 400);
}

TEST(HttpRequestParser, AnswersOtherMajorVersionsWith505) {
  const auto e = request_error("GET / HTTP/2.0\r\n\r\n");
  EXPECT_EQ(e.first, 505);
  EXPECT_NE(e.second.find("HTTP/2.0"), std::string::npos);
  EXPECT_EQ(request_error("GET / HTTP/0.9\r\n\r\n").first, 505);
}

TEST(HttpRequestParser, RejectsMalformedHeaderFields) {
  const std::string line = "GET / HTTP/1.1\r\n";
  EXPECT_EQ(request_error(line + "NoColon\r\n\r\n").second, "header line without a colon");
  EXPECT_EQ(request_error(line + "Host : x\r\n\r\n").second,
            "whitespace between header field name and colon");
  EXPECT_EQ(request_error(line + ": x\r\n\r\n").second, "empty header field name");
  EXPECT_EQ(request_error(line + "Bad(Name): x\r\n\r\n").second, "invalid character in header field name");
  EXPECT_EQ(request_error(line + "Host: x\r\n  folded\r\n\r\n").second,
            "obsolete line folding in the header section");
  EXPECT_EQ(request_error(line + "Host: a\rb\r\n\r\n").second, "bare CR in a line");
  EXPECT_EQ(request_error(line + std::string("X: a\0b\r\n\r\n", 11)).second,
            "invalid character in the value of X");
}

TEST(HttpRequestParser, RejectsAmbiguousOrInvalidBodyFraming) {
  const std::string line = "POST / HTTP/1.1\r\nHost: h\r\n";
  EXPECT_EQ(request_error(line + "Content-Length: 1x\r\n\r\n").second, "invalid Content-Length '1x'");
  EXPECT_EQ(request_error(line + "Content-Length: -1\r\n\r\n").first, 400);
  EXPECT_EQ(request_error(line + "Content-Length: 3\r\nContent-Length: 4\r\n\r\n").second,
            "conflicting Content-Length values");
  EXPECT_EQ(request_error(line + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n").second,
            "both Transfer-Encoding and Content-Length");
  EXPECT_EQ(request_error(line + "Transfer-Encoding: gzip\r\n\r\n").second,
            "final transfer coding is not chunked");
  EXPECT_EQ(request_error(line + "Transfer-Encoding: gzip, chunked\r\n\r\n").first, 501);
  EXPECT_EQ(request_error("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n").first, 400);
}

TEST(HttpRequestParser, RejectsMalformedChunks) {
  const std::string head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(request_error(head + "zz\r\n").second, "chunk size is not a hexadecimal number");
  EXPECT_EQ(request_error(head + "5 x\r\n").second, "unexpected characters after the chunk size");
  EXPECT_EQ(request_error(head + "5;\r\n").first, 400);
  EXPECT_EQ(request_error(head + "5;a=\"open\r\n").first, 400);
  EXPECT_EQ(request_error(head + "3\r\nabcdef\r\n").second,
            "chunk data is not followed by CRLF (chunk longer than its size?)");
  EXPECT_EQ(request_error(head + "11111111111111111\r\n").second, "chunk size overflows 64 bits");
  EXPECT_EQ(request_error(head + "0\r\nBad Trailer\r\n\r\n").second, "trailer line without a colon");
}

TEST(HttpRequestParser, EnforcesLineHeaderCountAndBodyLimits) {
  http_limits lim;
  lim.max_line = 64;
  lim.max_headers = 3;
  lim.max_body = 100;
  EXPECT_EQ(request_error("GET /" + std::string(80, 'a') + " HTTP/1.1\r\n\r\n", lim).first, 414);
  EXPECT_EQ(request_error("GET / HTTP/1.1\r\nX: " + std::string(80, 'v') + "\r\n\r\n", lim).first, 431);
  EXPECT_EQ(request_error("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", lim),
            std::make_pair(431, std::string("more than 3 header fields")));
  EXPECT_EQ(request_error("POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n", lim).first, 413);
  EXPECT_EQ(request_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n" +
                              std::string(64, 'x') + "\r\n40\r\n",
                          lim)
                .first,
            413);
  // Exactly at the limits is fine.
  http_request_parser ok(lim);
  ok.feed("GET /" + std::string(50, 'a') + " HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
  EXPECT_TRUE(ok.complete()) << ok.error();
}

TEST(HttpRequestParser, ReportsAStreamEndingMidMessageButNotBetweenMessages) {
  http_request_parser idle;
  idle.finish();
  EXPECT_FALSE(idle.failed());
  EXPECT_FALSE(idle.complete());

  http_request_parser cut;
  cut.feed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc");
  cut.finish();
  ASSERT_TRUE(cut.failed());
  EXPECT_EQ(cut.error(), "stream ended in the body (message incomplete)");
}

TEST(HttpRequestParser, StopsConsumingAtTheFirstError) {
  http_request_parser p;
  const std::string text = "GET / HTTP/1.1\r\nBad Name: x\r\nHost: h\r\n\r\n";
  const std::size_t used = p.feed(text);
  EXPECT_TRUE(p.failed());
  EXPECT_EQ(used, std::string("GET / HTTP/1.1\r\nBad Name: x\r\n").size());
  EXPECT_EQ(p.feed("more"), 0u);
}

// ---- response parser ------------------------------------------------------------------------------------

TEST(HttpResponseParser, ParsesContentLengthResponsesByteAtATime) {
  const std::string text = "HTTP/1.1 201 Created\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello";
  http_response_parser p;
  EXPECT_EQ(feed_in_steps(p, text, 1), text.size());
  ASSERT_TRUE(p.complete());
  const auto r = p.take();
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.reason, "Created");
  EXPECT_EQ(r.body, "hello");
}

TEST(HttpResponseParser, ReadsABodyDelimitedByTheConnectionClosing) {
  http_response_parser p;
  feed_in_steps(p, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", 4);
  EXPECT_FALSE(p.complete());
  EXPECT_EQ(p.body_framing(), http_parser::framing::until_close);
  p.finish();
  ASSERT_TRUE(p.complete());
  EXPECT_EQ(p.response().body, "until the end");
  EXPECT_EQ(p.response().version_minor, 0);
}

TEST(HttpResponseParser, ExpectsNoBodyAfterHeadAnd204And304And1xx) {
  for (const char* text :
       {"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", "HTTP/1.1 100 Continue\r\n\r\n"}) {
    http_response_parser p;
    EXPECT_EQ(p.feed(text), std::string(text).size());
    EXPECT_TRUE(p.complete()) << text;
  }
  http_response_parser head;
  head.set_request_method("HEAD");
  head.feed("HTTP/1.1 200 OK\r\nContent-Length: 262144\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_TRUE(head.complete());
  EXPECT_TRUE(head.response().body.empty());
}

TEST(HttpResponseParser, PrefersChunkedOverContentLengthAndToleratesAnEmptyReason) {
  http_response_parser p;
  p.feed("HTTP/1.1 200\r\nContent-Length: 999\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  ASSERT_TRUE(p.complete()) << p.error();
  EXPECT_EQ(p.response().reason, "");
  EXPECT_EQ(p.response().body, "abc");
}

TEST(HttpResponseParser, JoinsObsoleteFoldedLines) {
  http_response_parser p;
  p.feed("HTTP/1.1 200 OK\r\nX-Long: first\r\n   second\r\n\tthird\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(p.complete()) << p.error();
  EXPECT_EQ(p.response().headers.get("x-long"), "first second third");
}

TEST(HttpResponseParser, RejectsMalformedStatusLinesAndTruncatedBodies) {
  EXPECT_EQ(response_error("HTTP/1.1 20 OK\r\n\r\n"), "status code is not three digits");
  EXPECT_EQ(response_error("HTTP/1.1 2000 OK\r\n\r\n"), "status code is not three digits");
  EXPECT_EQ(response_error("HTTP/1.1 099 Low\r\n\r\n"), "invalid status code 99");
  EXPECT_EQ(response_error("HTTX/1.1 200 OK\r\n\r\n"), "malformed HTTP version 'HTTX/1.1'");
  EXPECT_EQ(response_error("garbage\r\n\r\n"), "malformed status line");
  EXPECT_EQ(response_error("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"),
            "stream ended in the body (message incomplete)");
  EXPECT_EQ(response_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"),
            "stream ended in a chunked body (message incomplete)");
  EXPECT_EQ(response_error("HTTP/1.1 200 OK\r\nContent-"),
            "stream ended in the header section (message incomplete)");
}

// ---- serializers ----------------------------------------------------------------------------------------

TEST(HttpSerialize, AddsContentLengthAndRoundTripsThroughTheParser) {
  http_request r;
  r.method = "POST";
  r.target = "/form";
  r.headers.add("Host", "h");
  r.body = "a=1&b=2";
  const std::string text = http_serialize(r);
  EXPECT_EQ(text, "POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\n\r\na=1&b=2");
  const auto back = parse_request(text, 1);
  EXPECT_EQ(back.body, r.body);

  http_response resp;
  resp.status = 404;
  resp.reason = "Not Found";
  EXPECT_EQ(http_serialize(resp), "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  resp.status = 204;
  resp.reason = "No Content";
  EXPECT_EQ(http_serialize(resp), "HTTP/1.1 204 No Content\r\n\r\n");
}

TEST(HttpSerialize, FramesAChunkedBodyWithTrailers) {
  http_response r;
  r.headers.add("Transfer-Encoding", "chunked");
  r.body = std::string(20, 'z');
  r.trailers.add("X-Sum", "7");
  const std::string text = http_serialize(r);
  EXPECT_EQ(text, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n14\r\n" + std::string(20, 'z') +
                      "\r\n0\r\nX-Sum: 7\r\n\r\n");
  http_response_parser p;
  feed_in_steps(p, text, 1);
  ASSERT_TRUE(p.complete());
  EXPECT_EQ(p.response().body, r.body);
  EXPECT_EQ(p.response().trailers.get("X-Sum"), "7");
  EXPECT_EQ(http_chunk(""), "");
  EXPECT_EQ(http_chunk("abc", ";x=1"), "3;x=1\r\nabc\r\n");
}

// ---- peer to peer ---------------------------------------------------------------------------------------

constexpr ip4_addr server_ip = ip4(10, 0, 0, 1), client_ip = ip4(10, 0, 0, 2), chip_ip = ip4(10, 0, 0, 50);
constexpr ip4_addr netmask = ip4(255, 255, 255, 0);
const mac_addr chip_mac{0x02, 0x08, 0xDC, 0x00, 0x00, 0x50};

using test::peer_cfg;

// Steps the scheduler until `pred` holds or `limit` of virtual time has passed.
template <typename Pred>
bool run_until(scheduler& s, Pred pred, ps_t limit = seconds(60)) {
  const ps_t end = s.now() + limit;
  while (!pred()) {
    if (s.next_due() > end || !s.run_next()) return pred();
  }
  return true;
}

struct peers {
  explicit peers(http_server_config scfg = {}, http_client_config ccfg = {})
      : server(srv_host, 80, std::move(scfg)), client(cli_host, std::move(ccfg)) {}

  // One request, run to its result.
  http_result fetch(const std::string& method, const std::string& target, http_headers headers = {},
                    std::string body = {}) {
    std::optional<http_result> res;
    client.request(server_ip, 80, method, target, std::move(headers), std::move(body),
                   [&](const http_result& r) { res = r; });
    EXPECT_TRUE(run_until(sched, [&] { return res.has_value(); }))
        << method << " " << target << ": no result";
    return res.value_or(http_result{});
  }

  scheduler sched{11};
  segment seg{sched, "lan", 11};
  peer_host srv_host{seg, peer_cfg("server", server_ip, 1)};
  peer_host cli_host{seg, peer_cfg("client", client_ip, 2)};
  http_server server;
  http_client client;
};

// A raw TCP conversation from the client host: sends `text`, collects everything until the server closes
// or `limit` passes.
struct raw_conversation {
  tcp_ptr tcp;
  std::string got;
  bool peer_fin = false;
  std::string closed;
  raw_conversation(peer_host& h, ip4_addr ip, std::uint16_t port) : tcp(h.tcp_connect(ip, port)) {
    tcp->on_data = [this](const octets& d) { got.append(d.begin(), d.end()); };
    tcp->on_peer_fin = [this] {
      peer_fin = true;
      tcp->close();
    };
    tcp->on_closed = [this](const std::string& r) { closed = r; };
  }
  // The connection outlives this object in its host: it must not call back into it.
  ~raw_conversation() {
    tcp->on_data = nullptr;
    tcp->on_peer_fin = nullptr;
    tcp->on_closed = nullptr;
  }
  raw_conversation(const raw_conversation&) = delete;
  raw_conversation& operator=(const raw_conversation&) = delete;
};

// Splits a byte stream into the responses in it (pipelined answers, in order).
std::vector<http_response> parse_responses(std::string_view stream, bool at_end = true) {
  std::vector<http_response> out;
  http_response_parser p;
  while (!stream.empty()) {
    const std::size_t used = p.feed(stream);
    stream.remove_prefix(used);
    if (p.complete())
      out.push_back(p.take());
    else if (p.failed() || used == 0)
      break;
  }
  if (at_end) {
    p.finish();
    if (p.complete()) out.push_back(p.take());
  }
  EXPECT_FALSE(p.failed()) << p.error();
  return out;
}

TEST(HttpPeers, ServesRoutesAndAnswersUnknownPathsAndMethods) {
  peers t;
  t.server.route("GET", "/hello",
                 [](const http_request& r) { return http_reply::text(200, "hello " + r.query() + "\n"); });
  t.server.route("PUT", "/hello", [](const http_request& r) { return http_reply::text(201, r.body); });
  t.server.route("GET", "/static/*",
                 [](const http_request& r) { return http_reply::text(200, "file " + r.path()); });
  t.server.route("GET", "/static/deep/*", [](const http_request&) { return http_reply::text(200, "deep"); });

  auto r = t.fetch("GET", "/hello?name=x");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.reason, "OK");
  EXPECT_EQ(r.body, "hello name=x\n");
  EXPECT_EQ(r.headers.get("Content-Type"), "text/plain");
  EXPECT_EQ(r.headers.get("Content-Length"), "13");
  EXPECT_EQ(r.headers.get("Server"), "wizsim-peer");
  EXPECT_FALSE(r.headers.has("Date")) << "a server without a clock sends no Date";

  r = t.fetch("PUT", "/hello", {{"Content-Type", "text/plain"}}, "put body");
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, "put body");

  r = t.fetch("GET", "/nowhere");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.reason, "Not Found");

  r = t.fetch("DELETE", "/hello");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.headers.get("Allow"), "GET, PUT, HEAD");

  EXPECT_EQ(t.fetch("GET", "/static/a/b.txt").body, "file /static/a/b.txt");
  EXPECT_EQ(t.fetch("GET", "/static/deep/x").body, "deep") << "the longest prefix wins";

  EXPECT_EQ(t.server.stats().not_found, 1u);
  EXPECT_EQ(t.server.stats().method_not_allowed, 1u);
  EXPECT_EQ(t.server.stats().by_status.at(200), 3u);
}

TEST(HttpPeers, HeadGetsTheHeadersOfGetWithoutTheBody) {
  peers t;
  t.server.route("GET", "/big", [](const http_request&) { return http_reply::generated(100000); });
  t.server.route("GET", "/chunky",
                 [](const http_request&) { return http_reply::generated(5000, http_framing::chunked); });
  auto r = t.fetch("HEAD", "/big");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.get("Content-Length"), "100000");
  EXPECT_TRUE(r.body.empty());
  r = t.fetch("HEAD", "/chunky");
  EXPECT_EQ(r.headers.get("Transfer-Encoding"), "chunked");
  EXPECT_TRUE(r.body.empty());
  // The connection stayed usable: no body bytes were left in it.
  r = t.fetch("GET", "/big");
  EXPECT_TRUE(r.reused);
  EXPECT_EQ(r.body.size(), 100000u);
  EXPECT_EQ(pattern_mismatch(r.body), std::string::npos);
}

TEST(HttpPeers, KeepAliveCarriesSequentialRequestsOverOneConnection) {
  peers t;
  t.server.route("GET", "/n", [](const http_request&) { return http_reply::text(200, "n"); });
  std::uint16_t port = 0;
  for (int i = 0; i < 4; ++i) {
    const auto r = t.fetch("GET", "/n");
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.reused, i > 0);
    if (i == 0) port = r.local_port;
    EXPECT_EQ(r.local_port, port);
  }
  EXPECT_EQ(t.server.stats().connections, 1u);
  EXPECT_EQ(t.server.stats().keepalive_reuses, 3u);
  EXPECT_EQ(t.client.stats().connections, 1u);
  EXPECT_EQ(t.client.open_connections(), 1u);
}

TEST(HttpPeers, QueuedRequestsToOneServerGoOutOneAfterAnother) {
  peers t;
  t.server.route("GET", "/*", [](const http_request& r) { return http_reply::text(200, r.path()); });
  std::vector<std::string> order;
  for (const char* p : {"/a", "/b", "/c"})
    t.client.get(server_ip, 80, p, [&](const http_result& r) { order.push_back(r.body); });
  EXPECT_EQ(t.client.outstanding(), 3u);
  ASSERT_TRUE(run_until(t.sched, [&] { return order.size() == 3; }));
  EXPECT_EQ(order, (std::vector<std::string>{"/a", "/b", "/c"}));
  EXPECT_EQ(t.server.stats().connections, 1u);
  EXPECT_EQ(t.client.outstanding(), 0u);
}

TEST(HttpPeers, ConnectionCloseEndsTheConnectionAfterTheResponse) {
  peers t;
  t.server.route("GET", "/", [](const http_request&) { return http_reply::text(200, "bye"); });
  t.server.route("GET", "/closing", [](const http_request&) {
    auto r = http_reply::text(200, "server closes");
    r.close = true;
    return r;
  });
  auto r = t.fetch("GET", "/", {{"Connection", "close"}});
  EXPECT_EQ(r.headers.get("Connection"), "close");
  r = t.fetch("GET", "/closing");
  EXPECT_FALSE(r.reused);
  EXPECT_EQ(r.headers.get("Connection"), "close");
  EXPECT_EQ(r.body, "server closes");
  r = t.fetch("GET", "/");
  EXPECT_FALSE(r.reused);
  EXPECT_EQ(t.server.stats().connections, 3u);
  run_until(
      t.sched, [&] { return t.server.open_connections() == 0; }, seconds(1));
  EXPECT_EQ(t.server.open_connections(), 1u) << "only the last, kept-alive connection remains";
}

TEST(HttpPeers, ClientWithoutKeepAliveAsksForCloseEveryTime) {
  http_client_config cc;
  cc.keep_alive = false;
  peers t({}, cc);
  t.server.route("GET", "/", [](const http_request& r) {
    return http_reply::text(200, r.headers.get_or("Connection", "-"));
  });
  EXPECT_EQ(t.fetch("GET", "/").body, "close");
  EXPECT_FALSE(t.fetch("GET", "/").reused);
  EXPECT_EQ(t.server.stats().connections, 2u);
}

TEST(HttpPeers, StreamsChunkedBodiesWithExtensionsAndTrailers) {
  peers t;
  t.server.route("GET", "/chunked", [](const http_request&) {
    auto r = http_reply::generated(5000, http_framing::chunked);
    r.chunk_size = 1000;
    r.chunk_extension = ";piece=yes";
    r.trailers.add("X-Done", "true");
    return r;
  });
  t.server.route("GET", "/chunked-text", [](const http_request&) {
    auto r = http_reply::text(200, "short text, chunked");
    r.framing = http_framing::chunked;
    r.chunk_size = 5;
    return r;
  });
  auto r = t.fetch("GET", "/chunked");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.framing, http_parser::framing::chunked);
  EXPECT_EQ(r.chunks, 5u);
  EXPECT_EQ(r.headers.get("Trailer"), "X-Done");
  EXPECT_FALSE(r.headers.has("Content-Length"));
  EXPECT_EQ(r.trailers.get("x-done"), "true");
  EXPECT_EQ(r.body.size(), 5000u);
  EXPECT_EQ(pattern_mismatch(r.body), std::string::npos);
  r = t.fetch("GET", "/chunked-text");
  EXPECT_EQ(r.chunks, 4u);
  EXPECT_EQ(r.body, "short text, chunked");
  EXPECT_TRUE(r.reused);
}

TEST(HttpPeers, SlowResponsesTakeTheirVirtualTime) {
  peers t;
  t.server.route("GET", "/slow", [](const http_request&) {
    auto r = http_reply::generated(4000, http_framing::chunked);
    r.chunk_size = 1000;
    r.header_delay = ms(300);
    r.chunk_delay = ms(50);
    return r;
  });
  const ps_t start = t.sched.now();
  const auto r = t.fetch("GET", "/slow");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.body.size(), 4000u);
  EXPECT_GE(r.elapsed, ms(450));
  EXPECT_LT(r.elapsed, ms(500));
  EXPECT_EQ(r.elapsed, t.sched.now() - start);
}

TEST(HttpPeers, ClientTimesOutOnASlowServerInVirtualTime) {
  http_client_config cc;
  cc.timeout = ms(200);
  peers t({}, cc);
  t.server.route("GET", "/stall", [](const http_request&) {
    auto r = http_reply::text(200, "late");
    r.header_delay = seconds(1);
    return r;
  });
  t.server.route("GET", "/fast", [](const http_request&) { return http_reply::text(200, "fast"); });
  auto r = t.fetch("GET", "/stall");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error, "timeout after 200.000 ms (waiting for a response)");
  EXPECT_EQ(r.elapsed, ms(200));
  EXPECT_EQ(t.client.stats().timeouts, 1u);
  // The timed-out connection was reset; the next request gets a new one.
  r = t.fetch("GET", "/fast");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_FALSE(r.reused);
  EXPECT_EQ(r.body, "fast");
}

TEST(HttpPeers, CloseDelimitedBodiesEndWithTheConnection) {
  peers t;
  t.server.route("GET", "/stream",
                 [](const http_request&) { return http_reply::generated(30000, http_framing::close); });
  const auto r = t.fetch("GET", "/stream");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.framing, http_parser::framing::until_close);
  EXPECT_FALSE(r.headers.has("Content-Length"));
  EXPECT_EQ(r.headers.get("Connection"), "close");
  EXPECT_EQ(r.body.size(), 30000u);
  EXPECT_EQ(pattern_mismatch(r.body), std::string::npos);
  EXPECT_EQ(t.client.open_connections(), 0u);
}

TEST(HttpPeers, StreamsAQuarterMebibyteWithoutQueueingItAllAtOnce) {
  peers t;
  t.server.route("GET", "/big", [](const http_request&) { return http_reply::generated(256 * 1024); });
  std::optional<http_result> res;
  std::size_t max_unsent = 0;
  t.client.get(server_ip, 80, "/big", [&](const http_result& r) { res = r; });
  ASSERT_TRUE(run_until(t.sched, [&] {
    for (const auto& c : t.srv_host.connections()) max_unsent = std::max(max_unsent, c->unsent());
    return res.has_value();
  }));
  ASSERT_TRUE(res->ok()) << res->error;
  EXPECT_EQ(res->body.size(), 256u * 1024);
  EXPECT_EQ(pattern_mismatch(res->body), std::string::npos);
  EXPECT_LE(max_unsent, http_server_config{}.send_high_water + 16384);
  EXPECT_EQ(t.server.stats().body_bytes, 256u * 1024);
}

TEST(HttpPeers, AnswersPipelinedRequestsInOrder) {
  peers t;
  t.server.route("GET", "/*", [](const http_request& r) {
    auto reply = http_reply::text(200, r.path());
    if (r.path() == "/first") reply.header_delay = ms(20);  // the slow one must still come first
    return reply;
  });
  raw_conversation c(t.cli_host, server_ip, 80);
  c.tcp->send(
      std::string_view("GET /first HTTP/1.1\r\nHost: s\r\n\r\n"
                       "GET /second HTTP/1.1\r\nHost: s\r\n\r\n"
                       "GET /third HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n"
                       "GET /never HTTP/1.1\r\nHost: s\r\n\r\n"));
  ASSERT_TRUE(run_until(t.sched, [&] { return c.peer_fin; }));
  const auto rs = parse_responses(c.got);
  ASSERT_EQ(rs.size(), 3u) << c.got;
  EXPECT_EQ(rs[0].body, "/first");
  EXPECT_EQ(rs[1].body, "/second");
  EXPECT_EQ(rs[2].body, "/third");
  EXPECT_EQ(rs[2].headers.get("Connection"), "close");
  EXPECT_EQ(t.server.stats().pipelined, 3u);
  EXPECT_EQ(t.server.stats().responses, 3u) << "nothing after the request that asked to close";
}

TEST(HttpPeers, PipelinedRequestsFedByteAtATimeAreAnsweredInOrder) {
  peers t;
  t.server.route("POST", "/echo", [](const http_request& r) { return http_reply::text(200, r.body); });
  raw_conversation c(t.cli_host, server_ip, 80);
  const std::string text =
      "POST /echo HTTP/1.1\r\nHost: s\r\nContent-Length: 3\r\n\r\none"
      "POST /echo HTTP/1.1\r\nHost: s\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\ntwo\r\n0\r\n\r\n";
  for (char ch : text) {
    c.tcp->send(std::string_view(&ch, 1));
    t.sched.run_until(t.sched.now() + us(50));
  }
  c.tcp->close();
  ASSERT_TRUE(run_until(t.sched, [&] { return c.peer_fin; }));
  const auto rs = parse_responses(c.got);
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].body, "one");
  EXPECT_EQ(rs[1].body, "two");
}

TEST(HttpPeers, PausesReadingBehindTooManyPipelinedRequestsAndStillAnswersAll) {
  http_server_config sc;
  sc.max_pipeline = 2;
  peers t(sc);
  t.server.route("GET", "/*", [](const http_request& r) {
    auto reply = http_reply::text(200, r.path());
    reply.header_delay = ms(10);
    return reply;
  });
  raw_conversation c(t.cli_host, server_ip, 80);
  c.tcp->send(
      std::string_view("GET /1 HTTP/1.1\r\nHost: s\r\n\r\nGET /2 HTTP/1.1\r\nHost: s\r\n\r\n"
                       "GET /3 HTTP/1.1\r\nHost: s\r\n\r\nGET /4 HTTP/1.1\r\nHo"));
  t.sched.run_until(t.sched.now() + ms(2));
  // The rest arrives while the server is not reading; the FIN right behind it must not overtake it (or
  // the half-read request would look cut short).
  c.tcp->send(std::string_view("st: s\r\n\r\nGET /5 HTTP/1.1\r\nHost: s\r\n\r\n"));
  c.tcp->close();
  ASSERT_TRUE(run_until(t.sched, [&] { return c.peer_fin; }));
  const auto rs = parse_responses(c.got);
  ASSERT_EQ(rs.size(), 5u);
  for (std::size_t i = 0; i < rs.size(); ++i) EXPECT_EQ(rs[i].body, "/" + std::to_string(i + 1));
}

TEST(HttpPeers, MalformedRequestsGet400AndTheConnectionCloses) {
  peers t;
  t.server.route("GET", "/", [](const http_request&) { return http_reply::text(200, "fine"); });
  raw_conversation c(t.cli_host, server_ip, 80);
  c.tcp->send(
      std::string_view("GET / HTTP/1.1\r\nHost: s\r\n\r\nGARBAGE LINE\r\n\r\nGET / HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(run_until(t.sched, [&] { return c.peer_fin; }));
  const auto rs = parse_responses(c.got);
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].status, 200) << "the good request before the bad one is still answered";
  EXPECT_EQ(rs[1].status, 400);
  EXPECT_EQ(rs[1].headers.get("Connection"), "close");
  EXPECT_EQ(rs[1].body, "malformed request line (want: method SP target SP version)\n");
  EXPECT_EQ(t.server.stats().parse_errors, 1u);
}

TEST(HttpPeers, LimitsAndVersionsGetTheirStatusCodes) {
  http_server_config sc;
  sc.limits.max_headers = 4;
  sc.limits.max_body = 1000;
  sc.limits.max_line = 200;
  struct tc {
    std::string request;
    int status;
  };
  const std::vector<tc> cases = {
      {"GET / HTTP/1.1\r\nHost: s\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", 431},
      {"GET / HTTP/1.1\r\nHost: s\r\nX: " + std::string(300, 'x') + "\r\n\r\n", 431},
      {"GET /" + std::string(300, 'u') + " HTTP/1.1\r\n\r\n", 414},
      {"POST / HTTP/1.1\r\nHost: s\r\nContent-Length: 5000\r\n\r\n", 413},
      {"GET / HTTP/2.0\r\nHost: s\r\n\r\n", 505},
      {"GET / HTTP/1.1\r\n\r\n", 400},  // no Host
      {"POST / HTTP/1.1\r\nHost: s\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
  };
  for (const auto& k : cases) {
    peers t(sc);
    t.server.route("GET", "/", [](const http_request&) { return http_reply::text(200, "ok"); });
    raw_conversation c(t.cli_host, server_ip, 80);
    c.tcp->send(std::string_view(k.request));
    c.tcp->close();
    ASSERT_TRUE(run_until(t.sched, [&] { return c.peer_fin; })) << k.request;
    const auto rs = parse_responses(c.got);
    ASSERT_EQ(rs.size(), 1u) << k.request;
    EXPECT_EQ(rs[0].status, k.status) << k.request;
  }
}

TEST(HttpPeers, Http10KeepsTheConnectionOnlyWhenAsked) {
  peers t;
  t.server.route("GET", "/", [](const http_request&) { return http_reply::text(200, "old"); });
  t.server.route("GET", "/chunked",
                 [](const http_request&) { return http_reply::generated(3000, http_framing::chunked); });
  {
    raw_conversation c(t.cli_host, server_ip, 80);
    c.tcp->send(std::string_view("GET / HTTP/1.0\r\n\r\n"));
    ASSERT_TRUE(run_until(t.sched, [&] { return c.peer_fin; }));
    const auto rs = parse_responses(c.got);
    ASSERT_EQ(rs.size(), 1u);
    EXPECT_EQ(rs[0].headers.get("Connection"), "close");
  }
  {
    raw_conversation c(t.cli_host, server_ip, 80);
    c.tcp->send(std::string_view("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    ASSERT_TRUE(run_until(t.sched, [&] { return c.got.find("old") != std::string::npos; }));
    EXPECT_FALSE(c.peer_fin);
    c.tcp->send(std::string_view("GET /chunked HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    ASSERT_TRUE(run_until(t.sched, [&] { return c.peer_fin; }));
    const auto rs = parse_responses(c.got);
    ASSERT_EQ(rs.size(), 2u);
    EXPECT_EQ(rs[0].headers.get("Connection"), "keep-alive");
    // No chunking for HTTP/1.0: the body ends with the connection.
    EXPECT_FALSE(rs[1].headers.has("Transfer-Encoding"));
    EXPECT_EQ(rs[1].headers.get("Connection"), "close");
    EXPECT_EQ(rs[1].body.size(), 3000u);
    EXPECT_EQ(pattern_mismatch(rs[1].body), std::string::npos);
  }
}

TEST(HttpPeers, ExpectContinueGetsAnInterimResponseTheClientSkips) {
  peers t;
  t.server.route("POST", "/up", [](const http_request& r) { return http_reply::text(200, r.body); });
  const auto r = t.fetch("POST", "/up", {{"Expect", "100-continue"}}, "payload");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "payload");
}

TEST(HttpPeers, HandlerExceptionsBecome500) {
  peers t;
  t.server.route("GET", "/boom",
                 [](const http_request&) -> http_reply { throw std::runtime_error("kaput"); });
  const auto r = t.fetch("GET", "/boom");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, "handler failed: kaput\n");
  EXPECT_EQ(t.server.stats().handler_errors, 1u);
}

TEST(HttpPeers, ServerClosesIdleConnectionsAndTheClientNotices) {
  http_server_config sc;
  sc.idle_timeout = seconds(1);
  http_client_config cc;
  cc.idle_timeout = 0;
  peers t(sc, cc);
  t.server.route("GET", "/", [](const http_request&) { return http_reply::text(200, "x"); });
  ASSERT_TRUE(t.fetch("GET", "/").ok());
  EXPECT_EQ(t.client.open_connections(), 1u);
  t.sched.run_until(t.sched.now() + seconds(2));
  EXPECT_EQ(t.server.stats().idle_closes, 1u);
  EXPECT_EQ(t.client.open_connections(), 0u);
  const auto r = t.fetch("GET", "/");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_FALSE(r.reused);
}

TEST(HttpPeers, APartialRequestThenSilenceGets408) {
  http_server_config sc;
  sc.idle_timeout = ms(500);
  peers t(sc);
  raw_conversation c(t.cli_host, server_ip, 80);
  c.tcp->send(std::string_view("GET / HTTP/1.1\r\nHost: s\r\n"));
  ASSERT_TRUE(run_until(t.sched, [&] { return c.peer_fin; }));
  const auto rs = parse_responses(c.got);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].status, 408);
}

// A scripted server on the server host: answers each request with the next canned reply.
struct scripted_server {
  std::vector<std::string> replies;  // one per request received (in order, across connections)
  std::vector<bool> close_after;     // close (FIN) after that reply
  std::vector<bool> drop_request;    // close without answering
  std::size_t next = 0;
  std::size_t accepted = 0;
  void listen(peer_host& h, std::uint16_t port) {
    h.tcp_listen(port, [this](tcp_ptr c) {
      ++accepted;
      std::weak_ptr<tcp_connection> w = c;
      auto buf = std::make_shared<std::string>();
      c->on_data = [this, w, buf](const octets& d) {
        auto s = w.lock();
        if (!s) return;
        buf->append(d.begin(), d.end());
        while (buf->find("\r\n\r\n") != std::string::npos && next < replies.size()) {
          buf->erase(0, buf->find("\r\n\r\n") + 4);
          const std::size_t i = next++;
          if (i < drop_request.size() && drop_request[i]) {
            s->close();
            return;
          }
          s->send(std::string_view(replies[i]));
          if (i < close_after.size() && close_after[i]) {
            s->close();
            return;
          }
        }
      };
      c->on_peer_fin = [w] {
        if (auto s = w.lock()) s->close();
      };
    });
  }
};

struct client_only {
  std::optional<http_result> fetch(const std::string& target) {
    std::optional<http_result> res;
    client.get(server_ip, 80, target, [&](const http_result& r) { res = r; });
    run_until(sched, [&] { return res.has_value(); });
    return res;
  }
  scheduler sched{13};
  segment seg{sched, "lan", 13};
  peer_host srv_host{seg, peer_cfg("server", server_ip, 1)};
  peer_host cli_host{seg, peer_cfg("client", client_ip, 2)};
  http_client client{cli_host};
};

TEST(HttpClient, ReportsAConnectFailure) {
  client_only t;
  const auto r = t.fetch("/");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->error, "connect failed: connection refused");
  EXPECT_EQ(t.client.stats().errors, 1u);
}

TEST(HttpClient, ReportsAMalformedResponse) {
  client_only t;
  scripted_server s;
  s.replies = {"HTTP/1.1 2x0 Broken\r\n\r\n"};
  s.listen(t.srv_host, 80);
  const auto r = t.fetch("/");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->error, "malformed response: status code is not three digits");
}

TEST(HttpClient, ReportsAResetAndATruncatedResponse) {
  client_only t;
  t.srv_host.tcp_listen(80, [](tcp_ptr c) {
    std::weak_ptr<tcp_connection> w = c;
    c->on_data = [w](const octets&) {
      if (auto s = w.lock()) {
        s->send(std::string_view("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial"));
        s->abort();
      }
    };
  });
  auto r = t.fetch("/");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->error, "connection closed: connection reset by peer");

  client_only u;
  scripted_server s;
  s.replies = {"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial"};
  s.close_after = {true};
  s.listen(u.srv_host, 80);
  r = u.fetch("/");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->error, "connection closed: stream ended in the body (message incomplete)");
}

TEST(HttpClient, ResendsOnceWhenAKeptAliveConnectionClosesUnderTheRequest) {
  client_only t;
  scripted_server s;
  s.replies = {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst", "",
               "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond"};
  s.drop_request = {false, true, false};
  s.listen(t.srv_host, 80);
  auto r = t.fetch("/1");
  ASSERT_TRUE(r && r->ok());
  EXPECT_EQ(r->body, "first");
  r = t.fetch("/2");
  ASSERT_TRUE(r.has_value());
  ASSERT_TRUE(r->ok()) << r->error;
  EXPECT_EQ(r->body, "second");
  EXPECT_TRUE(r->retried);
  EXPECT_EQ(s.accepted, 2u);
  EXPECT_EQ(t.client.stats().retries, 1u);
}

TEST(HttpClient, SkipsInterimResponsesAndDoesNotReuseAConnectionWithStrayBytes) {
  client_only t;
  scripted_server s;
  s.replies = {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA",
               "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nnew"};
  s.listen(t.srv_host, 80);
  auto r = t.fetch("/");
  ASSERT_TRUE(r && r->ok());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ok");
  r = t.fetch("/");
  ASSERT_TRUE(r && r->ok()) << (r ? r->error : "");
  EXPECT_FALSE(r->reused);
  EXPECT_EQ(r->body, "new");
}

TEST(HttpPeers, TracesRequestsAndResponses) {
  peers t;
  std::vector<std::string> lines;
  t.seg.set_trace_sink([&](std::string_view l) {
    if (l.find("\"ev\":\"http") != std::string_view::npos) lines.emplace_back(l);
  });
  t.server.route("GET", "/t", [](const http_request&) { return http_reply::text(200, "t"); });
  ASSERT_TRUE(t.fetch("GET", "/t").ok());
  auto has = [&](const std::string& ev, const std::string& field) {
    return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) {
      return l.find("\"ev\":\"" + ev + "\"") != std::string::npos && l.find(field) != std::string::npos;
    });
  };
  EXPECT_TRUE(has("http_accept", "\"port\":"));
  EXPECT_TRUE(has("http_request", "\"target\":\"/t\""));
  EXPECT_TRUE(has("http_response", "\"status\":200"));
  EXPECT_TRUE(has("http_client_request", "\"method\":\"GET\""));
  EXPECT_TRUE(has("http_client_response", "\"status\":200"));
}

TEST(HttpServer, RejectsBadRoutesAndConfiguration) {
  scheduler sched;
  segment seg{sched};
  peer_host h{seg, peer_cfg("s", server_ip, 1)};
  http_server_config bad;
  bad.max_pipeline = 0;
  EXPECT_THROW(http_server(h, 81, bad), std::invalid_argument);
  http_server s{h, 80};
  const auto ok = [](const http_request&) { return http_reply{}; };
  EXPECT_THROW(s.route("GET", "relative", ok), std::invalid_argument);
  EXPECT_THROW(s.route("", "/", ok), std::invalid_argument);
  EXPECT_THROW(s.route("G T", "/", ok), std::invalid_argument);
}

// ---- against the chip -----------------------------------------------------------------------------------

// A chip on the segment driven by a register-level client, and an HTTP server on a peer.
struct chip_bench : test::chip_on_lan {
  chip_bench() : chip_on_lan(21, chip_ip, server_ip, chip_mac) {}
  peer_host srv_host{seg, peer_cfg("server", server_ip, 1)};
  raw_client& raw = client;
};

// Reads one response from chip socket `n` through its RX buffer, piece by piece, checking body bytes
// against the pattern as they arrive. Returns the response (body not stored) and the largest piece.
struct chip_read {
  std::optional<http_response> response;
  std::uint64_t body_bytes = 0;
  std::size_t pieces = 0, largest = 0;
  std::size_t first_bad = std::string::npos;
  std::size_t chunks = 0;
  std::string leftover;
};

chip_read read_response_through_chip(raw_client& raw, int n, ps_t timeout, std::string* body_out = nullptr) {
  chip_read out;
  http_response_parser p;
  p.on_body = [&](const char* d, std::size_t len) {
    for (std::size_t i = 0; i < len; ++i)
      if (out.first_bad == std::string::npos &&
          static_cast<std::uint8_t>(d[i]) != http_pattern_byte(out.body_bytes + i))
        out.first_bad = out.body_bytes + i;
    if (body_out != nullptr) body_out->append(d, len);
    out.body_bytes += len;
  };
  const ps_t end = raw.chip().sched().now() + timeout;
  while (!p.complete() && !p.failed() && raw.chip().sched().now() < end) {
    const octets piece = raw.recv(n, ms(200));
    if (piece.empty()) continue;
    ++out.pieces;
    out.largest = std::max(out.largest, piece.size());
    const std::size_t used = p.feed(piece);
    if (used < piece.size())
      out.leftover.assign(piece.begin() + static_cast<std::ptrdiff_t>(used), piece.end());
  }
  EXPECT_FALSE(p.failed()) << p.error();
  out.chunks = p.chunk_count();
  if (p.complete()) out.response = p.take();
  return out;
}

octets bytes_of(std::string_view s) {
  return octets(s.begin(), s.end());
}

TEST(HttpChip, ChipFetchesAQuarterMebibyteThroughItsTwoKibibyteBuffer) {
  chip_bench t;
  http_server server{t.srv_host, 80};
  server.route("GET", "/big", [](const http_request&) { return http_reply::generated(200 * 1024 + 123); });
  server.route("GET", "/chunked", [](const http_request&) {
    auto r = http_reply::generated(20000, http_framing::chunked);
    r.chunk_size = 1500;
    r.chunk_extension = ";n=1";
    r.trailers.add("X-Trailer", "end");
    return r;
  });
  ASSERT_EQ(t.chip.rx_buffer_size(0), 2048u);
  ASSERT_TRUE(t.raw.open_tcp(0, 40000));
  ASSERT_TRUE(t.raw.connect(0, server_ip, 80));
  ASSERT_TRUE(t.raw.send(0, bytes_of("GET /big HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\n")));
  const ps_t start = t.sched.now();
  const auto big = read_response_through_chip(t.raw, 0, seconds(60));
  EXPECT_LT(t.sched.now() - start, ms(500)) << "about 2 KiB per millisecond of polling";
  ASSERT_TRUE(big.response.has_value());
  EXPECT_EQ(big.response->status, 200);
  EXPECT_EQ(big.response->headers.get("Content-Length"), std::to_string(200 * 1024 + 123));
  EXPECT_EQ(big.body_bytes, 200u * 1024 + 123);
  EXPECT_EQ(big.first_bad, std::string::npos) << "first wrong body byte";
  EXPECT_LE(big.largest, 2048u) << "never more than the socket buffer at once";
  EXPECT_GT(big.pieces, 100u);
  EXPECT_TRUE(big.leftover.empty());
  for (const auto& c : t.srv_host.connections())
    EXPECT_EQ(c->stats().retransmissions, 0u) << "the server never sends beyond the chip's window";

  // The same connection, kept alive: a chunked response.
  ASSERT_TRUE(t.raw.send(0, bytes_of("GET /chunked HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\n")));
  const auto ch = read_response_through_chip(t.raw, 0, seconds(30));
  ASSERT_TRUE(ch.response.has_value());
  EXPECT_EQ(ch.response->headers.get("Transfer-Encoding"), "chunked");
  EXPECT_EQ(ch.body_bytes, 20000u);
  EXPECT_EQ(ch.chunks, 14u);  // 13 x 1500 + 500
  EXPECT_EQ(ch.first_bad, std::string::npos);
  EXPECT_EQ(ch.response->trailers.get("X-Trailer"), "end");
  EXPECT_EQ(server.stats().connections, 1u);
  EXPECT_EQ(server.stats().keepalive_reuses, 1u);

  t.raw.disconnect(0);
  t.sched.run_until(t.sched.now() + seconds(2));
  EXPECT_EQ(server.open_connections(), 0u);
}

TEST(HttpChip, ChipGets404AndACloseDelimitedBody) {
  chip_bench t;
  http_server server{t.srv_host, 80};
  server.route("GET", "/close",
               [](const http_request&) { return http_reply::generated(9000, http_framing::close); });
  ASSERT_TRUE(t.raw.open_tcp(1, 40001));
  ASSERT_TRUE(t.raw.connect(1, server_ip, 80));
  ASSERT_TRUE(t.raw.send(
      1, bytes_of("GET /missing HTTP/1.1\r\nHost: s\r\n\r\nGET /close HTTP/1.1\r\nHost: s\r\n\r\n")));
  const auto nf = read_response_through_chip(t.raw, 1, seconds(5));
  ASSERT_TRUE(nf.response.has_value());
  EXPECT_EQ(nf.response->status, 404);
  // The second response may have arrived in the same piece: reading continues from the leftover.
  std::string stream = nf.leftover;
  const octets rest = t.raw.recv_all(1, seconds(10));
  stream.append(rest.begin(), rest.end());
  EXPECT_EQ(t.raw.status(1), SOCK_CLOSE_WAIT) << "the server closed to end the body";
  const auto rs = parse_responses(stream);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].body.size(), 9000u);
  EXPECT_EQ(pattern_mismatch(rs[0].body), std::string::npos);
  t.raw.disconnect(1);
}

// The chip as the server: a canned response from a listening socket, fetched by the peer's client.
struct chip_server_bench : chip_bench {
  peer_host cli_host{seg, peer_cfg("client", client_ip, 2)};
  http_client client{cli_host};

  // Accepts on socket `n`, reads one request head, answers `canned`, then disconnects.
  http_request serve_once(int n, const std::string& canned) {
    EXPECT_TRUE(raw.accept(n, seconds(2)));
    http_request_parser p;
    const ps_t end = sched.now() + seconds(2);
    while (!p.complete() && !p.failed() && sched.now() < end) p.feed(raw.recv(n, ms(100)));
    EXPECT_TRUE(p.complete()) << p.error();
    EXPECT_TRUE(raw.send(n, bytes_of(canned)));
    raw.disconnect(n);
    return p.complete() ? p.take() : http_request{};
  }
};

TEST(HttpChip, PeerClientFetchesACannedResponseFromTheChip) {
  chip_server_bench t;
  ASSERT_TRUE(t.raw.open_tcp(0, 80));
  ASSERT_TRUE(t.raw.listen(0));
  std::optional<http_result> res;
  t.client.get(chip_ip, 80, "/status?x=1", [&](const http_result& r) { res = r; });
  const std::string body(3000, 'w');
  const auto req = t.serve_once(0,
                                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3000\r\n"
                                "Connection: close\r\n\r\n" +
                                    body);
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.target, "/status?x=1");
  EXPECT_EQ(req.headers.get("Host"), "10.0.0.50");
  EXPECT_EQ(req.headers.get("User-Agent"), "wizsim-http-client");
  ASSERT_TRUE(run_until(
      t.sched, [&] { return res.has_value(); }, seconds(5)));
  ASSERT_TRUE(res->ok()) << res->error;
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, body);
  EXPECT_EQ(t.client.open_connections(), 0u);

  // Again, with the body ended by the chip closing (no Content-Length).
  ASSERT_TRUE(t.raw.open_tcp(0, 80));
  ASSERT_TRUE(t.raw.listen(0));
  res.reset();
  t.client.get(chip_ip, 80, "/raw", [&](const http_result& r) { res = r; });
  t.serve_once(0, "HTTP/1.0 200 OK\r\n\r\nuntil the chip closes");
  ASSERT_TRUE(run_until(
      t.sched, [&] { return res.has_value(); }, seconds(5)));
  ASSERT_TRUE(res->ok()) << res->error;
  EXPECT_EQ(res->framing, http_parser::framing::until_close);
  EXPECT_EQ(res->body, "until the chip closes");
}

// ---- the capture, as Wireshark reads it ------------------------------------------------------------------

TEST(HttpWire, TsharkSeesTheStatusCodesAndNothingMalformed) {
  REQUIRE_TSHARK(tshark);
  test::scoped_capture cap{test::temp_path("http.pcap")};
  peers t;
  t.seg.capture(cap.path);
  t.server.route("GET", "/", [](const http_request&) { return http_reply::text(200, "index\n"); });
  t.server.route("GET", "/chunked", [](const http_request&) {
    auto r = http_reply::generated(3000, http_framing::chunked);
    r.chunk_size = 700;
    r.trailers.add("X-Done", "1");
    return r;
  });
  t.server.route("POST", "/form", [](const http_request& r) { return http_reply::text(201, r.body); });
  EXPECT_EQ(t.fetch("GET", "/").status, 200);
  EXPECT_EQ(t.fetch("GET", "/missing").status, 404);
  EXPECT_EQ(t.fetch("DELETE", "/").status, 405);
  EXPECT_EQ(t.fetch("GET", "/chunked").status, 200);
  EXPECT_EQ(t.fetch("POST", "/form", {{"Content-Type", "text/plain"}}, "a=b").status, 201);
  t.client.close_idle();
  t.sched.run_until(t.sched.now() + seconds(3));
  t.seg.stop_capture();

  const auto codes = test::tshark_fields(tshark, cap.path, "http.response", {"http.response.code"});
  ASSERT_EQ(codes.exit_code, 0) << codes.err;
  EXPECT_EQ(codes.out, "200\n404\n405\n200\n201\n") << "capture: " << cap.path;
  const auto methods =
      test::tshark_fields(tshark, cap.path, "http.request", {"http.request.method", "http.request.uri"});
  EXPECT_EQ(methods.out, "GET\t/\nGET\t/missing\nDELETE\t/\nGET\t/chunked\nPOST\t/form\n");
  const auto flagged = test::tshark_flagged(tshark, cap.path);
  EXPECT_EQ(flagged.exit_code, 0) << flagged.err;
  EXPECT_EQ(flagged.out, "") << "capture: " << cap.path;
}

TEST(HttpWire, TsharkSeesTheChipsRequestAndThePeersAnswer) {
  REQUIRE_TSHARK(tshark);
  test::scoped_capture cap{test::temp_path("http_chip.pcap")};
  chip_bench t;
  t.seg.capture(cap.path);
  http_server server{t.srv_host, 80};
  server.route("GET", "/page",
               [](const http_request&) { return http_reply::text(200, std::string(1200, 'p')); });
  ASSERT_TRUE(t.raw.open_tcp(0, 40002));
  ASSERT_TRUE(t.raw.connect(0, server_ip, 80));
  ASSERT_TRUE(
      t.raw.send(0, bytes_of("GET /page HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\nGET /nope HTTP/1.1\r\nHost: "
                             "10.0.0.1\r\nConnection: close\r\n\r\n")));
  const octets all = t.raw.recv_all(0, seconds(5));
  const auto rs = parse_responses(std::string(all.begin(), all.end()));
  ASSERT_EQ(rs.size(), 2u);
  t.raw.disconnect(0);
  t.sched.run_until(t.sched.now() + seconds(2));
  t.seg.stop_capture();
  const auto codes = test::tshark_fields(tshark, cap.path, "http.response", {"http.response.code"});
  EXPECT_EQ(codes.out, "200\n404\n") << "capture: " << cap.path;
  const auto flagged = test::tshark_flagged(tshark, cap.path);
  EXPECT_EQ(flagged.out, "") << "capture: " << cap.path;
}

}  // namespace
}  // namespace wizsim
