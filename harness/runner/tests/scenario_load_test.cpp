// The loader: every kind of bad input is a load_error naming the file, line and column and what was
// expected; good files load with their name, description and tags.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "wizsim/harness/scenario.hpp"

namespace ws = wizsim::scenario;

namespace {

// The only error of loading `text`, as "file:line:col: message".
std::string only_error(const std::string& text) {
  const auto l = ws::load_text(text, "s.yaml");
  if (l.ok()) return "(loaded fine)";
  if (l.errors.size() != 1) {
    std::string all = std::to_string(l.errors.size()) + " errors:";
    for (const auto& e : l.errors) all += "\n  " + e.to_string();
    return all;
  }
  return l.errors[0].to_string();
}

const std::string k_head = "name: t\nsteps:\n  - wait: 1s\n";

}  // namespace

TEST(ScenarioLoad, AGoodFileLoadsWithItsNameDescriptionAndTags) {
  const auto l =
      ws::load_text("name: good-one\ndescription: does things\ntags: [a, b]\nseed: 9\nsteps:\n  - wait: 1s\n",
                    "dir/good.yaml");
  ASSERT_TRUE(l.ok()) << l.errors.at(0).to_string();
  EXPECT_EQ(ws::name_of(*l.value), "good-one");
  EXPECT_EQ(ws::file_of(*l.value), "dir/good.yaml");
  EXPECT_EQ(ws::description_of(*l.value), "does things");
  EXPECT_EQ(ws::tags_of(*l.value), (std::vector<std::string>{"a", "b"}));
}

TEST(ScenarioLoad, AMissingFileIsAnErrorOnTheWholeFile) {
  const auto l = ws::load_file("/nonexistent/dir/x.yaml");
  ASSERT_EQ(l.errors.size(), 1u);
  EXPECT_FALSE(l.ok());
  EXPECT_EQ(l.errors[0].to_string(), "/nonexistent/dir/x.yaml: cannot open the file (missing or unreadable)");
}

TEST(ScenarioLoad, AFileOnDiskIsReadAndErrorsNameIt) {
  const std::string path = testing::TempDir() + "scenario_load_test_bad.yaml";
  {
    std::ofstream f(path);
    f << "name: x\nsteps:\n  - wiat: 1s\n";
  }
  const auto l = ws::load_file(path);
  ASSERT_FALSE(l.errors.empty());
  EXPECT_EQ(l.errors[0].file, path);
  EXPECT_EQ(l.errors[0].line, 3);
  EXPECT_EQ(l.errors[0].column, 5);
  EXPECT_NE(l.errors[0].message.find("did you mean 'wait'"), std::string::npos) << l.errors[0].message;
  std::remove(path.c_str());
}

TEST(ScenarioLoad, MalformedYamlNamesLineAndColumn) {
  const auto l = ws::load_text("name: t\nsteps:\n  - wait: 1s\n   bad: [\n", "m.yaml");
  ASSERT_EQ(l.errors.size(), 1u);
  EXPECT_EQ(l.errors[0].line, 4);
  EXPECT_GT(l.errors[0].column, 0);
  EXPECT_EQ(l.errors[0].message.rfind("malformed YAML: ", 0), 0u) << l.errors[0].message;
}

TEST(ScenarioLoad, AnEmptyFileSaysWhatWasExpected) {
  EXPECT_EQ(only_error(""), "s.yaml: empty file: expected a scenario (a map with name, steps, ...)");
  EXPECT_EQ(only_error("- a\n- b\n"),
            "s.yaml:1:1: expected a scenario (a map with name, steps, ...), got a list");
}

TEST(ScenarioLoad, UnknownKeysAreErrorsWithADidYouMean) {
  EXPECT_EQ(only_error("name: t\nbudjet: 5s\nsteps:\n  - wait: 1s\n"),
            "s.yaml:2:1: unknown key 'budjet' in a scenario (did you mean 'budget'?); expected one of: name, "
            "description, "
            "tags, seed, budget, chip, peers, faults, schedule, steps, expect");
}

TEST(ScenarioLoad, MissingRequiredKeysAreNamed) {
  EXPECT_EQ(only_error("steps:\n  - wait: 1s\n"), "s.yaml:1:1: missing key 'name' in a scenario");
  EXPECT_EQ(only_error(k_head + "peers:\n  - {ip: 10.0.0.1}\n"), "s.yaml:5:5: missing key 'name' in a peer");
}

TEST(ScenarioLoad, WrongValueTypesSayWhatWasExpected) {
  EXPECT_EQ(only_error("name: t\nbudget: 5 seconds\nsteps:\n  - wait: 1s\n"),
            "s.yaml:2:9: expected budget (a duration like 250ms, 31.8s, 2us), got '5 seconds'");
  EXPECT_EQ(only_error(k_head + "peers:\n  - name: p\n    ip: 10.0.0.300\n"),
            "s.yaml:6:9: expected peer ip (a dotted quad like 10.0.0.1), got '10.0.0.300'");
  EXPECT_EQ(only_error(k_head + "chip: {mac: 02:00:00:00:00}\n"),
            "s.yaml:4:13: expected chip mac (a MAC like 02:00:00:00:00:01), got '02:00:00:00:00'");
  EXPECT_EQ(only_error("name: t\nsteps:\n  - wait: [1s]\n"),
            "s.yaml:3:11: expected wait (a duration like 250ms), got a list");
  EXPECT_EQ(only_error(k_head + "faults:\n  - {kind: drop, probability: 2}\n"),
            "s.yaml:5:31: expected fault probability (a number from 0 to 1), got '2'");
}

TEST(ScenarioLoad, EnumsListTheChoices) {
  EXPECT_EQ(only_error(k_head + "faults:\n  - {kind: dorp}\n"),
            "s.yaml:5:12: expected fault kind (one of: drop, delay, duplicate, reorder, corrupt, truncate), "
            "got 'dorp' (did "
            "you mean 'drop'?)");
}

TEST(ScenarioLoad, BadFilterExpressionsAreReportedAtTheExpression) {
  const std::string e = only_error(k_head + "expect:\n  - frames: {match: \"udp.dprt == 67\"}\n");
  EXPECT_EQ(e.rfind("s.yaml:5:21: bad frames expectation match: filter \"udp.dprt == 67\": ", 0), 0u) << e;
}

TEST(ScenarioLoad, ReferencesToUnknownPeersAndSocketsAreErrors) {
  EXPECT_EQ(only_error("name: t\nsteps:\n  - tcp_connect: web:80\n"),
            "s.yaml:3:18: unknown peer 'web' in tcp_connect (peers: none)");
  EXPECT_EQ(only_error("name: t\nsteps:\n  - tcp_send: {socket: s, data: x}\n"),
            "s.yaml:3:24: unknown socket 's' in tcp_send socket (no earlier step opens it)");
  EXPECT_EQ(only_error(k_head + "faults:\n  - {link: nobody, kind: drop}\n"),
            "s.yaml:5:12: unknown link 'nobody' in fault link (expected chip or a peer: none)");
}

TEST(ScenarioLoad, AStepNeedsExactlyOneAction) {
  const std::string e = only_error("name: t\nsteps:\n  - {wait: 1s, link_down: chip}\n");
  EXPECT_EQ(e.rfind("s.yaml:3:5: a step needs exactly one action (begin, set_ifconfig, ", 0), 0u) << e;
  EXPECT_NE(e.find("wsgi_serve"), std::string::npos) << e;
  EXPECT_EQ(e.substr(e.size() - 9), ", found 2") << e;
  const std::string none = only_error("name: t\nsteps:\n  - {label: nothing}\n");
  EXPECT_EQ(none.substr(none.size() - 9), ", found 0") << none;
}

TEST(ScenarioLoad, ExpectationsMustFitTheirStep) {
  EXPECT_EQ(only_error("name: t\nsteps:\n  - wait: 1s\n    expect: {status: 200}\n"),
            "s.yaml:4:22: 'status' cannot be expected of a wait step (only of: http_get, http_post)");
}

TEST(ScenarioLoad, DuplicateKeysAreErrors) {
  EXPECT_EQ(only_error("name: t\nname: u\nsteps:\n  - wait: 1s\n"),
            "s.yaml:2:1: duplicate key 'name' in a scenario");
}

TEST(ScenarioLoad, UnknownQuirksAreNamed) {
  const std::string e = only_error(k_head + "chip:\n  quirks: {tcp_keep_out_of_ordr: true}\n");
  EXPECT_EQ(
      e.rfind("s.yaml:5:12: unknown quirk 'tcp_keep_out_of_ordr' (did you mean 'tcp_keep_out_of_order'?)", 0),
      0u)
      << e;
}

TEST(ScenarioLoad, ImpossibleTopologiesAreLoadErrorsAtTheService) {
  const std::string e = only_error(k_head +
                                   "peers:\n"
                                   "  - name: a\n"
                                   "    ip: 10.0.0.1\n"
                                   "    services:\n"
                                   "      dhcp: {pool: 10.0.0.100-10.0.0.150}\n"
                                   "  - name: b\n"
                                   "    ip: 10.0.0.2\n"
                                   "    services:\n"
                                   "      dhcp: {pool: 10.0.0.120-10.0.0.160}\n");
  EXPECT_EQ(e.rfind("s.yaml:12:7: impossible topology: ", 0), 0u) << e;
  const std::string outside = only_error(k_head +
                                         "peers:\n"
                                         "  - name: a\n"
                                         "    ip: 10.0.0.1\n"
                                         "    services:\n"
                                         "      dhcp: {pool: 10.0.1.100-10.0.1.150}\n");
  EXPECT_EQ(outside.rfind("s.yaml:8:7: impossible topology: ", 0), 0u) << outside;
}

TEST(ScenarioLoad, ValueParsersAcceptTheDocumentedForms) {
  const auto l = ws::load_text(
      "name: t\nbudget: 1.5min\nchip: {sclk_hz: 20000000, link: {speed: 10Mbps, delay: 2us}, quirks: "
      "{command_latency_ps: 2us}}\n"
      "steps:\n  - wait: 31.8s\n    expect: {elapsed: \"31.8s..31.8s\"}\n  - wait: 250ms\n    expect: "
      "{elapsed: {min: 0, max: 1s}}\n",
      "v.yaml");
  ASSERT_TRUE(l.ok()) << l.errors.at(0).to_string();
  const auto r = ws::run(*l.value, {});
  EXPECT_TRUE(r.passed) << (r.failures.empty() ? "" : r.failures[0]);
  EXPECT_EQ(r.virtual_time, wizsim::ms(32050));
}

// Every prefix and many one-character corruptions of a rich scenario either load or report errors with a
// message; none crashes, and the ones that load also run to a verdict.
TEST(ScenarioLoad, TruncatedAndCorruptedFilesNeverCrashTheLoaderOrTheRun) {
  const std::string good = R"(name: rich
budget: 60s
chip: {mac: "02:08:dc:00:00:50", quirks: {tcp_keep_out_of_order: true}}
peers:
  - name: srv
    ip: 10.0.0.1
    services:
      dhcp: {pool: 10.0.0.100-10.0.0.110, dns: 10.0.0.1, lease: 60s}
      dns: {a: {www.example.com: 10.0.0.1}, names: {slow.example.com: {mode: normal, delay: 1s}}}
      http: {routes: [{path: /, body: hi}]}
      tcp_echo: {port: 7}
faults:
  - {link: chip, dir: out, kind: drop, match: "udp.dport == 67", nth: 2}
schedule:
  - {at: 30s, dhcp_behaviour: {peer: srv, behaviour: silent}}
steps:
  - begin: {dhcp: true}
    expect: {ip: 10.0.0.100}
  - dns: www.example.com
  - http_get: http://srv/
    expect: {status: 200, body: hi}
  - tcp_connect: {to: "srv:7", as: e}
  - tcp_send: {socket: e, data: abc}
  - tcp_recv: {socket: e, size: 3}
    expect: {data: abc}
expect:
  - frames: {match: "dhcp.type == discover", count: ">= 1"}
  - peer: {name: srv, tcp_echo: {bytes_received: 3}}
)";
  ASSERT_TRUE(ws::load_text(good, "rich.yaml").ok())
      << ws::load_text(good, "rich.yaml").errors.at(0).to_string();
  int loaded = 0, rejected = 0;
  auto probe = [&](const std::string& text) {
    const auto l = ws::load_text(text, "m.yaml");
    if (l.ok()) {
      ++loaded;
      const auto r = ws::run(*l.value, {});
      EXPECT_TRUE(r.passed || !r.failures.empty());
    } else {
      ++rejected;
      ASSERT_FALSE(l.errors.empty());
      for (const auto& e : l.errors) EXPECT_FALSE(e.message.empty()) << text;
    }
  };
  for (std::size_t n = 0; n < good.size(); n += 7) probe(good.substr(0, n));
  const char subs[] = {'x', ':', '[', '-', ' ', '"', '0'};
  for (std::size_t i = 0; i < good.size(); i += 5) {
    std::string t = good;
    t[i] = subs[i % sizeof subs];
    probe(t);
  }
  EXPECT_GT(loaded, 0);
  EXPECT_GT(rejected, 0);
}

TEST(ScenarioLoad, TcpServerStepsReferenceListenersAndConnectionsByName) {
  const std::string head = "name: t\npeers:\n  - {name: alice, ip: 10.0.0.2}\nsteps:\n";
  // accept on a name no step opened, and on a socket that is not listening.
  EXPECT_EQ(only_error(head + "  - tcp_accept: {socket: lsn, as: c}\n"),
            "s.yaml:5:26: unknown socket 'lsn' in tcp_accept socket (no earlier step opens it)");
  EXPECT_EQ(only_error(head + "  - tcp_connect: {to: \"alice:7\", as: c}\n  - tcp_accept: {socket: c}\n"),
            "s.yaml:6:26: socket 'c' in tcp_accept socket is not listening (tcp_listen opens one)");
  // Without `socket` the default listener `server` is meant; the error is at the step.
  EXPECT_EQ(only_error(head + "  - tcp_accept: {timeout: 1s}\n"),
            "s.yaml:5:5: unknown socket 'server' in tcp_accept socket (no earlier step opens it)");
  // The accepted connection is a socket later steps can name; an unknown one is still an error.
  EXPECT_EQ(
      only_error(head + "  - tcp_listen: {port: 80}\n  - tcp_accept: {as: conn}\n  - tcp_recv: {socket: "
                        "conn}\n  - tcp_send: {socket: con, data: x}\n"),
      "s.yaml:8:24: unknown socket 'con' in tcp_send socket (no earlier step opens it)");
  // peer_received names a peer_tcp_connect connection, with a suggestion for a near miss.
  EXPECT_EQ(only_error(head + "  - peer_tcp_connect: {peer: alice, to: 80, as: client}\nexpect:\n  - "
                              "peer_received: {conn: clinet, bytes: x}\n"),
            "s.yaml:7:27: unknown connection 'clinet' in peer_received conn (did you mean 'client'?) (no "
            "peer_tcp_connect step opens it; connections: client)");
  // Without `as` the connection is named after its peer.
  EXPECT_EQ(
      only_error(head + "  - peer_tcp_connect: {peer: alice, to: 80}\nexpect:\n  - peer_received: {conn: "
                        "alice, state: clsoed}\n"),
      "s.yaml:7:41: expected peer_received state (one of: connecting, open, closing, closed, reset, "
      "refused), got 'clsoed' (did you mean 'closed'?)");
}

TEST(ScenarioLoad, TcpServerStepSettingsAreChecked) {
  const std::string head = "name: t\npeers:\n  - {name: alice, ip: 10.0.0.2}\nsteps:\n";
  EXPECT_EQ(only_error(head + "  - tcp_listen: {socket: s}\n"),
            "s.yaml:5:17: missing key 'port' in tcp_listen");
  EXPECT_EQ(only_error(head + "  - tcp_listen: {port: 70000}\n"),
            "s.yaml:5:24: expected tcp_listen port between 1 and 65535, got 70000");
  EXPECT_EQ(only_error(head + "  - peer_tcp_connect: {peer: bob, to: 80}\n"),
            "s.yaml:5:30: unknown peer 'bob' in peer_tcp_connect peer (peers: alice)");
  EXPECT_EQ(only_error(head + "  - peer_tcp_connect: {peer: alice, to: 80, send: {sise: 3}}\n"),
            "2 errors:\n  s.yaml:5:52: unknown key 'sise' in peer_tcp_connect send (did you mean 'size'?); "
            "expected one of: size\n  s.yaml:5:51: missing key 'size' in peer_tcp_connect send");
  EXPECT_EQ(only_error(head + "  - peer_tcp_connect: {peer: alice, to: 80, clsoe: true}\n"),
            "s.yaml:5:45: unknown key 'clsoe' in peer_tcp_connect (did you mean 'close'?); expected one of: "
            "peer, to, as, send, close, at, port");
  // `from` of an accept is a peer or an ip, optionally with a port.
  EXPECT_EQ(only_error(head + "  - tcp_listen: {port: 80}\n  - tcp_accept: {}\n    expect: {from: bob}\n"),
            "s.yaml:7:20: expected from (a peer or an ip, optionally :port), got 'bob' (peers: alice)");
  EXPECT_EQ(
      only_error(head + "  - tcp_listen: {port: 80}\n  - tcp_accept: {}\n    expect: {from: \"alice:0\"}\n"),
      "s.yaml:7:20: bad port in expected from 'alice:0' (expected 1..65535)");
}
