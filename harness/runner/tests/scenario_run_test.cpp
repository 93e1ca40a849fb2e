// The executor end to end: small scenarios that must pass, and scenarios whose expectations must fail
// with a precise message.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "wizsim/harness/scenario.hpp"

namespace ws = wizsim::scenario;

namespace {

ws::run_result run_text(const std::string& text, const std::string& name = "t.yaml") {
  auto l = ws::load_text(text, name);
  if (!l.ok()) {
    ws::run_result r;
    for (const auto& e : l.errors) r.failures.push_back("LOAD " + e.to_string());
    return r;
  }
  auto r = ws::run(*l.value, {});
  if (std::getenv("SHOWLOG")) std::printf("%s wall %.3fs\n%s\n", name.c_str(), r.wall_seconds, r.log.c_str());
  return r;
}

std::string all(const ws::run_result& r) {
  std::string s;
  for (const auto& f : r.failures) s += f + "\n";
  return s + "--- log ---\n" + r.log;
}

const char* k_dhcp_dns = R"(name: dhcp-bind-then-dns
peers:
  - name: srv
    ip: 10.0.0.1
    services:
      dhcp: {pool: 10.0.0.100-10.0.0.150, router: 10.0.0.1, dns: 10.0.0.1, lease: 3600s}
      dns: {a: {www.example.com: 10.0.0.80}, cname: {alias.example.com: www.example.com}}
steps:
  - begin: {dhcp: true, hostname: probe}
    expect: {ip: 10.0.0.100, dhcp_state: bound, elapsed: "<= 20s"}
  - dns: www.example.com
    expect: {ip: 10.0.0.80}
  - dns: alias.example.com
    expect: {ip: 10.0.0.80}
  - dns: missing.example.com
    expect: {error: runtime_error, message: NXDOMAIN}
expect:
  - frames: {match: "dhcp.type == discover", count: 1}
  - peer: {name: srv, dhcp: {ack: 1, leases: 1}, dns: {queries: 3}}
  - sockets_closed: true
)";

}  // namespace

TEST(ScenarioRun, DhcpBindThenDnsPasses) {
  const auto r = run_text(k_dhcp_dns);
  EXPECT_TRUE(r.passed) << all(r);
  EXPECT_GT(r.virtual_time, 0u);
  EXPECT_EQ(r.seed, 1u);
}

TEST(ScenarioRun, NoDhcpServerGivesUpAfterAboutAMinute) {
  const auto r = run_text(R"(name: dhcp-no-server
budget: 90s
steps:
  - begin: {dhcp: true}
    expect: {error: timeout_error, elapsed: "55s..70s"}
expect:
  - frames: {match: "dhcp.type == discover", count: ">= 4"}
  - frames: {match: "dhcp.type == request", count: 0}
  - sockets_closed: true
)");
  EXPECT_TRUE(r.passed) << all(r);
  EXPECT_GT(r.virtual_time, wizsim::seconds(55));
}

TEST(ScenarioRun, HttpLargeAndChunkedBodiesUnderLossPass) {
  const auto r = run_text(R"(name: http-large-body-lossy
seed: 7
peers:
  - name: web
    ip: 10.0.0.80
    services:
      http:
        routes:
          - {path: /big, size: 256KiB}
          - {path: /chunked, size: 20000, framing: chunked, chunk_size: 1000}
          - {method: POST, path: /echo, echo: true}
faults:
  - {link: chip, dir: in, kind: drop, match: "tcp.len > 0", probability: 0.05}
steps:
  - begin: {dhcp: false}
  - set_ifconfig: {ip: 10.0.0.50, gateway: 10.0.0.1}
  - http_get: {url: "http://web/big", timeout: 60s}
    expect: {status: 200, body: {size: 256KiB, pattern: http}}
  - http_get: http://10.0.0.80/chunked
    expect:
      status: 200
      headers: {Transfer-Encoding: chunked}
      body: {size: 20000, pattern: http}
  - http_post: {url: "http://web/echo", body: "ping"}
    expect: {status: 200, body: ping}
  - http_get: http://web/nothing
    expect: {status: 404}
expect:
  - faults: {link: chip, dropped: ">= 1"}
  - sockets_closed: true
)");
  EXPECT_TRUE(r.passed) << all(r);
}

TEST(ScenarioRun, WsgiServesClientsAndRejectsGarbage) {
  const auto r = run_text(R"(name: wsgi-two-clients-and-garbage
peers:
  - {name: alice, ip: 10.0.0.2}
  - {name: bob, ip: 10.0.0.3}
steps:
  - begin: {dhcp: false}
  - set_ifconfig: {ip: 10.0.0.50}
  - wsgi_serve:
      app: echo
      requests:
        - {from: alice, path: "/hello?x=1", expect: {status: 200, body: {contains: "GET /hello?x=1"}}}
        - {from: bob, method: POST, path: /data, body: "abc", expect: {status: 200, body: {contains: abc}}}
        - {from: bob, raw: "NONSENSE\r\n\r\n", at: 100ms, expect: {status: 400}}
    expect: {served: 2, rejected: 1}
)");
  EXPECT_TRUE(r.passed) << all(r);
}

TEST(ScenarioRun, TcpEchoSinkSourceAndUdpEchoPass) {
  const auto r = run_text(R"(name: tcp-udp-basics
peers:
  - name: srv
    ip: 10.0.0.2
    services:
      tcp_echo: {port: 7}
      tcp_sink: {port: 9000}
      tcp_source: {port: 19, size: 10000}
      udp_echo: {port: 7}
steps:
  - begin: {dhcp: false}
  - set_ifconfig: {ip: 10.0.0.50}
  - tcp_connect: srv:7
  - tcp_send: {data: "hello"}
    expect: {sent: 5}
  - tcp_recv: {size: 5}
    expect: {data: hello}
  - socket_status: tcp
    expect: {state: established}
  - tcp_close: tcp
  - tcp_connect: {to: "10.0.0.2:9000", as: sink}
  - tcp_send: {socket: sink, size: 20KiB}
  - tcp_close: sink
  - tcp_connect: {to: "srv:19", as: src}
  - tcp_recv: {socket: src}
    expect: {data: {size: 10000, pattern: tcp}}
  - close: src
  - udp_sendto: {to: "srv:7", data: "ping"}
  - udp_recvfrom: {timeout: 1s}
    expect: {data: ping, from: "10.0.0.2:7"}
  - close: all
  - tcp_connect: {to: "srv:81"}
    expect: {error: connection_error}
  - close: all
  - wait: 2s
expect:
  - peer:
      name: srv
      tcp_sink: {bytes_received: 20KiB, data: {size: 20KiB, pattern: tcp}}
      udp_echo: {datagrams: 1}
  - sockets_closed: true
)");
  EXPECT_TRUE(r.passed) << all(r);
}

TEST(ScenarioRun, MacrawArpRequestGetsAReply) {
  const auto r = run_text(R"(name: macraw-arp
peers:
  - {name: host, ip: 10.0.0.2}
steps:
  - begin: {dhcp: false}
  - set_ifconfig: {ip: 10.0.0.50}
  - macraw_open: {}
  - macraw_send: {arp_request: 10.0.0.2}
    expect: {sent: ">= 42"}
  - macraw_recv: {match: "arp.op == reply", timeout: 1s}
    expect: {frame: "arp.spa == 10.0.0.2"}
  - macraw_close: {}
)");
  EXPECT_TRUE(r.passed) << all(r);
}

TEST(ScenarioRun, SocketExhaustionReportsRuntimeError) {
  const auto r = run_text(R"(name: sockets-exhaustion
steps:
  - begin: {dhcp: false}
  - set_ifconfig: {ip: 10.0.0.50}
  - open_sockets: {count: 8}
    expect: {error: runtime_error, opened: 7}
  - close: all
expect:
  - sockets_closed: true
)");
  EXPECT_TRUE(r.passed) << all(r);
}

// ---- expectations that must fail, with the failure text ---------------------------------------------

TEST(ScenarioRunFailures, AWrongValueNamesTheStepLineExpectedAndGot) {
  const auto r = run_text(R"(name: wrong-ip
peers:
  - name: srv
    ip: 10.0.0.1
    services:
      dns: {a: {www.example.com: 10.0.0.80}}
steps:
  - begin: {dhcp: false}
  - set_ifconfig: {ip: 10.0.0.50, dns: 10.0.0.1}
  - dns: www.example.com
    expect: {ip: 10.0.0.81}
  - wait: 1s
)",
                          "f.yaml");
  EXPECT_FALSE(r.passed);
  ASSERT_EQ(r.failures.size(), 1u) << all(r);
  EXPECT_EQ(r.failures[0], "f.yaml:10: step 3 (dns www.example.com): expected ip 10.0.0.81, got 10.0.0.80");
  // The steps after a failed one are skipped.
  EXPECT_EQ(r.log.find("step 4 wait"), std::string::npos) << r.log;
}

TEST(ScenarioRunFailures, AnUnexpectedErrorAndAMissingErrorAreBothReported) {
  auto r = run_text(R"(name: nx
peers:
  - {name: srv, ip: 10.0.0.1, services: {dns: {}}}
steps:
  - begin: {dhcp: false}
  - set_ifconfig: {ip: 10.0.0.50, dns: 10.0.0.1}
  - dns: missing.example.com
)",
                    "f.yaml");
  ASSERT_EQ(r.failures.size(), 1u) << all(r);
  EXPECT_EQ(r.failures[0],
            "f.yaml:7: step 3 (dns missing.example.com): expected ok, got error runtime_error \"DNS: no such "
            "name (NXDOMAIN)\"");
  r = run_text(R"(name: no-error
steps:
  - wait: 1s
    expect: {error: timeout_error}
)",
               "g.yaml");
  ASSERT_EQ(r.failures.size(), 1u) << all(r);
  EXPECT_EQ(r.failures[0], "g.yaml:3: step 1 (wait 1s): expected error timeout_error, got ok");
}

TEST(ScenarioRunFailures, ElapsedOutsideItsRangeFails) {
  const auto r = run_text("name: e\nsteps:\n  - wait: 2s\n    expect: {elapsed: \"<= 1s\"}\n", "e.yaml");
  ASSERT_EQ(r.failures.size(), 1u) << all(r);
  EXPECT_EQ(r.failures[0], "e.yaml:3: step 1 (wait 2s): expected elapsed <= 1s, got 2s");
}

TEST(ScenarioRunFailures, BodyAndFrameAndPeerMismatchesSayExpectedAndGot) {
  const auto r = run_text(R"(name: body
peers:
  - name: web
    ip: 10.0.0.80
    services:
      http: {routes: [{path: /, body: "hello world"}]}
steps:
  - begin: {dhcp: false}
  - set_ifconfig: {ip: 10.0.0.50}
  - http_get: http://web/
    expect: {status: 200, body: {contains: "bye"}}
)",
                          "b.yaml");
  ASSERT_EQ(r.failures.size(), 1u) << all(r);
  EXPECT_EQ(r.failures[0],
            "b.yaml:10: step 3 (http_get http://web/): expected body containing \"bye\" (3 bytes), got "
            "\"hello world\" (11 "
            "bytes)");
  const auto f = run_text(R"(name: frames
peers:
  - {name: echo, ip: 10.0.0.2, services: {udp_echo: {}}}
steps:
  - begin: {dhcp: false}
  - set_ifconfig: {ip: 10.0.0.50}
  - udp_sendto: {to: "echo:7", data: "x"}
expect:
  - frames: {match: "udp.dport == 7", count: 2}
  - peer: {name: echo, udp_echo: {datagrams: ">= 5"}}
  - sockets_closed: true
)",
                          "fr.yaml");
  ASSERT_EQ(f.failures.size(), 3u) << all(f);
  EXPECT_EQ(f.failures[0],
            "fr.yaml:9: expect frames {match: udp.dport == 7, count: 2}: expected 2 frame(s) matching "
            "\"udp.dport == 7\" in "
            "the whole run, got 1");
  EXPECT_EQ(f.failures[1],
            "fr.yaml:10: expect peer {name: echo, udp_echo: {datagrams: \">= 5\"}}: expected udp_echo "
            "datagrams >= 5, got 1");
  EXPECT_EQ(
      f.failures[2].rfind(
          "fr.yaml:11: expect sockets_closed true: expected every hardware socket closed, got open: ", 0),
      0u)
      << f.failures[2];
}

TEST(ScenarioRunFailures, TheBudgetStopsARunThatWouldGoOnAndFailsIt) {
  const auto r = run_text(R"(name: budget
budget: 20s
steps:
  - begin: {dhcp: true}
  - wait: 1s
)",
                          "bu.yaml");
  EXPECT_FALSE(r.passed);
  ASSERT_EQ(r.failures.size(), 1u) << all(r);
  EXPECT_EQ(r.failures[0],
            "bu.yaml:4: step 1 (begin {dhcp: true}): virtual-time budget 20s exceeded (the step was stopped "
            "at 20s)");
  EXPECT_EQ(r.virtual_time, wizsim::seconds(20));
}

TEST(ScenarioRunFailures, WsgiRequestExpectationsAreCheckedPerRequest) {
  const auto r = run_text(R"(name: wsgi-fail
peers:
  - {name: alice, ip: 10.0.0.2}
steps:
  - begin: {dhcp: false}
  - set_ifconfig: {ip: 10.0.0.50}
  - wsgi_serve:
      app: fixed
      status: "404 Not Found"
      body: nope
      requests:
        - {from: alice, path: /, expect: {status: 200}}
)",
                          "w.yaml");
  ASSERT_EQ(r.failures.size(), 1u) << all(r);
  EXPECT_EQ(r.failures[0].rfind("w.yaml:7: step 3 (wsgi_serve ", 0), 0u) << r.failures[0];
  EXPECT_NE(r.failures[0].find("): request 1 from alice: expected status 200, got 404"), std::string::npos)
      << r.failures[0];
}

TEST(ScenarioRun, TheSeedOptionOverridesTheFileAndArtifactsAreWritten) {
  auto l = ws::load_text("name: art\nseed: 5\nsteps:\n  - begin: {dhcp: false}\n  - wait: 10ms\n", "a.yaml");
  ASSERT_TRUE(l.ok());
  ws::run_options opt;
  opt.seed = 77;
  opt.artifacts_dir = testing::TempDir() + "scenario_run_test_art";
  const auto r = ws::run(*l.value, opt);
  EXPECT_TRUE(r.passed) << all(r);
  EXPECT_EQ(r.seed, 77u);
  ASSERT_GE(r.artifacts.size(), 3u);
  for (const auto& a : r.artifacts) {
    std::FILE* f = std::fopen(a.c_str(), "rb");
    EXPECT_NE(f, nullptr) << a;
    if (f) std::fclose(f);
  }
  EXPECT_NE(r.log.find("seed 77"), std::string::npos) << r.log;
}

TEST(ScenarioRun, MulticastSocketSendsToTheGroupAndReceivesFromIt) {
  const auto r = run_text(R"(name: mcast
peers:
  - {name: member, ip: 10.0.0.2, multicast: [239.1.2.3], services: {udp_echo: {port: 5000}}}
  - {name: sender, ip: 10.0.0.3}
steps:
  - begin: {dhcp: false}
  - set_ifconfig: {ip: 10.0.0.50}
  - udp_multicast: {group: 239.1.2.3, port: 5000, local_port: 5000, as: m}
  - socket_status: m
    expect: {state: udp}
  - udp_sendto: {socket: m, to: "239.1.2.3:5000", data: "to the group"}
    expect: {sent: 12}
  - udp_recvfrom: {socket: m, timeout: 1s}
    expect: {data: "to the group", from: "10.0.0.2:5000"}
  - peer_udp_send: {from: sender, to: "239.1.2.3:5000", data: "hello group", port: 7000}
  - udp_recvfrom: {socket: m, timeout: 1s}
    expect: {data: "hello group", from: "10.0.0.3:7000"}
  - close: m
expect:
  - frames: {match: "igmp", count: ">= 1", link: chip}
  - frames: {match: "ip.dst == 239.1.2.3 && eth.mcast", count: ">= 2"}
  - sockets_closed: true
)");
  EXPECT_TRUE(r.passed) << all(r);
}

TEST(ScenarioRun, StreamChecksEverythingASocketReceivedOverSeveralSteps) {
  const auto r = run_text(R"(name: stream
peers:
  - {name: src, ip: 10.0.0.2, services: {tcp_source: {port: 19, size: 6000}}}
steps:
  - begin: {dhcp: false}
  - set_ifconfig: {ip: 10.0.0.50}
  - tcp_connect: {to: "src:19", as: s}
  - tcp_recv: {socket: s, size: 2500}
    expect: {data: {size: 2500}, stream: {size: 2500, pattern: tcp}}
  - tcp_recv: {socket: s}
    expect: {data: {size: 3500}, stream: {size: 6000, pattern: tcp}}
expect:
  - socket: {name: s, state: close_wait}
)");
  EXPECT_TRUE(r.passed) << all(r);
}

// The worked examples in docs/scenarios.md load and pass as written (the guide cannot drift from the
// engine).
TEST(ScenarioRun, TheWorkedExamplesInTheGuideLoadAndPass) {
  std::string path = __FILE__;
  path = path.substr(0, path.rfind("/harness/")) + "/docs/scenarios.md";
  std::FILE* f = std::fopen(path.c_str(), "rb");
  ASSERT_NE(f, nullptr) << path;
  std::string doc;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) doc.append(buf, n);
  std::fclose(f);
  int examples = 0;
  for (std::size_t at = doc.find("```yaml\n"); at != std::string::npos; at = doc.find("```yaml\n", at)) {
    at += 8;
    const std::size_t end = doc.find("```", at);
    ASSERT_NE(end, std::string::npos);
    const std::string text = doc.substr(at, end - at);
    ++examples;
    const auto r = run_text(text, "docs example " + std::to_string(examples));
    EXPECT_TRUE(r.passed) << "example " << examples << ":\n" << all(r);
    at = end + 3;
  }
  EXPECT_GE(examples, 4);
}

TEST(ScenarioRun, ScheduledEventsAndStepFrameWindowsApply) {
  const auto r = run_text(R"(name: schedule
peers:
  - name: ns
    ip: 10.0.0.1
    services:
      dns: {a: {www.example.com: 10.0.0.9}}
      tcp_echo: {}
schedule:
  - {at: 9s, dns_behaviour: {peer: ns, behaviour: silent}}
  - {at: 12s, link_down: chip}
steps:
  - begin: {dhcp: false}
  - set_ifconfig: {ip: 10.0.0.50, dns: 10.0.0.1}
  - dns: www.example.com
    expect:
      ip: 10.0.0.9
      frames: [{match: "dns && ip.src == 10.0.0.50", count: 1, link: chip}]
  - dns: {name: www.example.com, tries: 2, timeout: 1s}
    at: 9s
    expect: {error: timeout_error, elapsed: "2s..2.1s", frames: [{match: "dns.qr == 1", count: 0}]}
  - tcp_connect: {to: "ns:7"}
    at: 12.5s
    expect: {error: connection_error}
expect:
  - peer: {name: ns, dns: {queries: 3, silent: 2}}
)");
  EXPECT_TRUE(r.passed) << all(r);
}

TEST(ScenarioRunFailures, AnArtifactsDirectoryThatCannotBeCreatedIsAFailureNotACrash) {
  auto l = ws::load_text("name: art\nsteps:\n  - wait: 1ms\n", "a.yaml");
  ASSERT_TRUE(l.ok());
  ws::run_options opt;
  opt.artifacts_dir = "/proc/wizsim-cannot-be-here";
  const auto r = ws::run(*l.value, opt);
  EXPECT_FALSE(r.passed);
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_EQ(r.failures[0].rfind("a.yaml: cannot write artifacts: ", 0), 0u) << r.failures[0];
}

namespace {
// A TCP server on the chip: alice connects at 9 s (while the chip waits in accept) and sends "ping"
// without closing; bob connects to a port nobody listens on.
const char* k_tcp_server = R"(name: tcp-server
peers:
  - {name: alice, ip: 10.0.0.2}
  - {name: bob, ip: 10.0.0.3}
steps:
  - begin: {dhcp: false}
  - set_ifconfig: {ip: 10.0.0.50}
  - tcp_listen: {port: 7000}
  - peer_tcp_connect: {peer: alice, to: 7000, send: ping, at: 9s}
  - peer_tcp_connect: {peer: bob, to: 7001, as: late}
  - tcp_accept: {timeout: 5s}
    expect: {from: alice, elapsed: "1.29s..1.31s"}
  - tcp_recv: {size: 4}
    expect: {data: ping}
  - tcp_send: {data: pong}
  - tcp_close: tcp
  - close: server
expect:
  - peer_received: {conn: alice, bytes: pong, state: closing}
  - peer_received: {conn: late, bytes: "", state: refused}
  - sockets_closed: true
)";
}  // namespace

TEST(ScenarioRun, ATcpServerAcceptsAPeersConnectionAndThePeerKeepsWhatItReceived) {
  const auto r = run_text(k_tcp_server);
  EXPECT_TRUE(r.passed) << all(r);
  EXPECT_NE(r.log.find("tcp_accept: ok from=10.0.0.2:"), std::string::npos) << r.log;
}

TEST(ScenarioRunFailures, WhatAPeerReceivedOnItsConnectionIsCheckedWithItsState) {
  std::string text = k_tcp_server;
  text.replace(text.find("bytes: pong, state: closing"), 27, "bytes: pang, state: open");
  const auto r = run_text(text);
  EXPECT_FALSE(r.passed);
  ASSERT_EQ(r.failures.size(), 2u) << all(r);
  EXPECT_EQ(r.failures[0],
            "t.yaml:19: expect peer_received {conn: alice, bytes: pang, state: open}: expected what alice "
            "received on connection alice \"pang\" (4 bytes), got \"pong\" (4 bytes)");
  EXPECT_EQ(
      r.failures[1],
      "t.yaml:19: expect peer_received {conn: alice, bytes: pang, state: open}: expected connection alice "
      "open, got closing");
}

TEST(ScenarioRunFailures, AnAcceptFromTheWrongPeerFails) {
  std::string text = k_tcp_server;
  text.replace(text.find("from: alice"), 11, "from: bob");
  const auto r = run_text(text);
  EXPECT_FALSE(r.passed);
  ASSERT_EQ(r.failures.size(), 1u) << all(r);
  EXPECT_EQ(r.failures[0].rfind(
                "t.yaml:11: step 6 (tcp_accept {timeout: 5s}): expected from bob, got 10.0.0.2:", 0),
            0u)
      << r.failures[0];
}
