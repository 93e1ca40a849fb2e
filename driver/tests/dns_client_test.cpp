// The driver's DNS resolver end to end in virtual time: WIZNET5K on the W5500 model with a static address, a
// peer host running wizsim::dns_server, every query captured off the segment and decoded with the
// harness's DNS codec. Covers answers (A, CNAME chains, case), error answers (NXDOMAIN, SERVFAIL,
// truncated), silence and retries, a delayed answer, forged and malformed answers, and bad input.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "driver_lan.hpp"
#include "lan_fixture.hpp"
#include "wiznet5k/dns.hpp"
#include "wiznet5k/wiznet5k.hpp"
#include "wizsim/harness/dns.hpp"
#include "wizsim/harness/model_hal.hpp"
#include "wizsim/harness/peer.hpp"
#include "wizsim/harness/segment.hpp"
#include "wizsim/w5500.hpp"

using namespace wizsim;
using wizsim::test::from_w;
using wizsim::test::secs;
using wizsim::test::to_w;
using wiznet5k::DNS;
using wiznet5k::errc;

namespace {

constexpr ip4_addr chip_ip = ip4(10, 0, 0, 50), dns_ip = ip4(10, 0, 0, 53), mask24 = ip4(255, 255, 255, 0);
const wiznet5k::mac6 chip_mac{0x02, 0x08, 0xDC, 0x00, 0x00, 0x50};


// A query the chip sent, as it crossed the segment.
struct query_seen {
  ps_t t = 0;
  ip4_addr src = 0, dst = 0;
  std::uint16_t sport = 0, dport = 0;
  dns_message m;
};

struct dns_lan {
  scheduler sched;
  segment seg;
  w5500 chip;
  model_hal board;
  peer_host dns_host;
  dns_server server;
  wiznet5k::WIZNET5K eth;
  segment::port_id chip_port = -1;
  std::vector<query_seen> queries;

  explicit dns_lan(std::uint64_t seed = 5)
      : sched(seed),
        seg(sched, "lan", seed),
        chip(sched),
        board(chip, seed),
        dns_host(seg, test::peer_cfg("ns", dns_ip, 53)),
        server(dns_host),
        eth(board) {
    chip_port = seg.attach(chip, "chip");
    seg.observe([this](segment::port_id from, const octets& f, ps_t t) {
      if (from == chip_port) note(f, t);
    });
    const wiznet5k::error e = eth.begin(false, chip_mac);
    EXPECT_TRUE(e.ok()) << e.message;
    EXPECT_TRUE(eth.set_ifconfig({to_w(chip_ip), to_w(mask24), to_w(0), to_w(dns_ip)}).ok());
    server.add_a("example.com", ip4(10, 0, 0, 80));
    server.add_a("multi.example.com", ip4(10, 0, 0, 90));
    server.add_a("multi.example.com", ip4(10, 0, 0, 91));
    server.add_cname("www.example.com", "web.example.com");
    server.add_cname("web.example.com", "edge.example.com");
    server.add_a("edge.example.com", ip4(10, 0, 0, 81));
  }

  void note(const octets& f, ps_t t) {
    const auto e = parse_eth(f.data(), f.size());
    if (!e || e->ethertype != ethertype_ipv4) return;
    const auto ip = parse_ipv4(e->payload, e->payload_len);
    if (!ip || ip->h.proto != ip_proto_udp) return;
    const auto udp = parse_udp(ip->payload, ip->payload_len, ip->h.src, ip->h.dst);
    if (!udp || udp->dst_port != dns_port) return;
    std::string why;
    auto m = parse_dns(udp->payload, udp->payload_len, &why);
    if (!m) {
      ADD_FAILURE() << "the client sent an unparseable query: " << why;
      return;
    }
    queries.push_back({t, ip->h.src, ip->h.dst, udp->src_port, udp->dst_port, std::move(*m)});
  }

  bool all_sockets_closed() {
    return test::all_sockets_closed(eth);
  }
};

}  // namespace

// ---- answers ----------------------------------------------------------------------------------------------

TEST(DnsClient, ResolvesAnARecordWithOneWellFormedQuery) {
  dns_lan t;
  DNS dns(t.eth, to_w(dns_ip));
  const ps_t start = t.sched.now();
  const auto r = dns.gethostbyname("example.com");
  ASSERT_TRUE(r.ok()) << r.err.message;
  EXPECT_EQ(from_w(r.value), ip4(10, 0, 0, 80));
  EXPECT_LT(t.sched.now() - start, ms(100));

  ASSERT_EQ(t.queries.size(), 1u);
  const query_seen& q = t.queries[0];
  EXPECT_EQ(q.src, chip_ip);
  EXPECT_EQ(q.dst, dns_ip);
  EXPECT_EQ(q.dport, 53);
  EXPECT_GE(q.sport, 49152);
  EXPECT_EQ(q.sport, dns.last_port());
  EXPECT_EQ(q.m.id, dns.last_id());
  EXPECT_FALSE(q.m.qr);
  EXPECT_EQ(q.m.opcode, dns_opcode_query);
  EXPECT_TRUE(q.m.rd);
  ASSERT_EQ(q.m.questions.size(), 1u);
  EXPECT_EQ(q.m.questions[0].name, "example.com");
  EXPECT_EQ(q.m.questions[0].type, dns_type_a);
  EXPECT_EQ(q.m.questions[0].qclass, dns_class_in);
  EXPECT_TRUE(q.m.answers.empty());
  EXPECT_EQ(dns.last_sent(), 1);
  EXPECT_EQ(dns.last_rcode(), 0);
  EXPECT_TRUE(t.all_sockets_closed());
}

TEST(DnsClient, FollowsACnameChainAndIgnoresCaseAndATrailingDot) {
  dns_lan t;
  DNS dns(t.eth, to_w(dns_ip));
  const auto r = dns.gethostbyname("www.example.com");
  ASSERT_TRUE(r.ok()) << r.err.message;
  EXPECT_EQ(from_w(r.value), ip4(10, 0, 0, 81));
  const auto upper = dns.gethostbyname("WWW.Example.COM.");
  ASSERT_TRUE(upper.ok()) << upper.err.message;
  EXPECT_EQ(from_w(upper.value), ip4(10, 0, 0, 81));
  const auto multi = dns.gethostbyname("multi.example.com");
  ASSERT_TRUE(multi.ok());
  EXPECT_EQ(from_w(multi.value), ip4(10, 0, 0, 90)) << "the first address";
  EXPECT_TRUE(t.all_sockets_closed());
}

TEST(DnsClient, EachLookupDrawsANewIdAndSourcePort) {
  dns_lan t;
  DNS dns(t.eth, to_w(dns_ip));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(dns.gethostbyname("example.com").ok());
  ASSERT_EQ(t.queries.size(), 4u);
  int same_id = 0, same_port = 0;
  for (std::size_t i = 1; i < t.queries.size(); ++i) {
    same_id += t.queries[i].m.id == t.queries[i - 1].m.id;
    same_port += t.queries[i].sport == t.queries[i - 1].sport;
    EXPECT_GE(t.queries[i].sport, 49152);
  }
  EXPECT_EQ(same_id, 0);
  EXPECT_EQ(same_port, 0);
}

TEST(DnsClient, ADottedQuadIsReturnedWithoutAQuery) {
  dns_lan t;
  DNS dns(t.eth, to_w(dns_ip));
  const auto r = dns.gethostbyname("192.168.7.9");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(from_w(r.value), ip4(192, 168, 7, 9));
  EXPECT_TRUE(t.queries.empty());
}

// ---- error answers ----------------------------------------------------------------------------------------

TEST(DnsClient, NxdomainServfailAndTruncatedAnswersAreErrorsAtOnce) {
  dns_lan t;
  DNS dns(t.eth, to_w(dns_ip));
  const ps_t start = t.sched.now();
  const auto missing = dns.gethostbyname("nothing.example.com");
  EXPECT_EQ(missing.err.code, errc::runtime_error);
  EXPECT_STREQ(missing.err.message, "DNS: no such name (NXDOMAIN)");
  EXPECT_EQ(dns.last_rcode(), dns_rcode_nxdomain);

  t.server.set_behaviour("example.com", dns_behaviour::answer(dns_mode::servfail));
  const auto servfail = dns.gethostbyname("example.com");
  EXPECT_EQ(servfail.err.code, errc::runtime_error);
  EXPECT_STREQ(servfail.err.message, "DNS: server failure (SERVFAIL)");

  t.server.set_behaviour("example.com", dns_behaviour::answer(dns_mode::truncated));
  const auto truncated = dns.gethostbyname("example.com");
  EXPECT_EQ(truncated.err.code, errc::runtime_error);
  EXPECT_STREQ(truncated.err.message, "DNS: answer truncated");

  t.server.set_behaviour("example.com", dns_behaviour::answer(dns_mode::nxdomain));
  const auto forced = dns.gethostbyname("example.com");
  EXPECT_STREQ(forced.err.message, "DNS: no such name (NXDOMAIN)");

  EXPECT_EQ(t.queries.size(), 4u) << "one query each: an error answer is final";
  EXPECT_LT(t.sched.now() - start, ms(500));
  EXPECT_TRUE(t.all_sockets_closed());
}

TEST(DnsClient, ANameWithoutAnAddressIsAnError) {
  dns_lan t;
  t.server.add_cname("dangling.example.com", "nowhere.example.org");
  DNS dns(t.eth, to_w(dns_ip));
  const auto r = dns.gethostbyname("dangling.example.com");
  EXPECT_EQ(r.err.code, errc::runtime_error);
  EXPECT_TRUE(t.all_sockets_closed());
}

// ---- silence and retries ----------------------------------------------------------------------------------

TEST(DnsClient, SilenceTimesOutAfterThreeTriesFiveSecondsApart) {
  dns_lan t;
  t.server.set_default_behaviour(dns_behaviour::answer(dns_mode::silent));
  DNS dns(t.eth, to_w(dns_ip));
  const ps_t start = t.sched.now();
  const auto r = dns.gethostbyname("example.com");
  const ps_t end = t.sched.now();
  EXPECT_EQ(r.err.code, errc::timeout_error);
  ASSERT_EQ(t.queries.size(), 3u);
  for (const auto& q : t.queries) {
    EXPECT_EQ(q.m.id, t.queries[0].m.id) << "the same query, so a late answer still counts";
    EXPECT_EQ(q.sport, t.queries[0].sport);
  }
  EXPECT_NEAR(secs(t.queries[1].t - t.queries[0].t), 5.0, 0.05);
  EXPECT_NEAR(secs(t.queries[2].t - t.queries[1].t), 5.0, 0.05);
  EXPECT_NEAR(secs(end - start), 15.0, 0.1);
  EXPECT_EQ(dns.last_sent(), 3);
  EXPECT_EQ(t.server.stats().silent, 3u);
  EXPECT_TRUE(t.all_sockets_closed());

  dns.tries = 1;
  dns.timeout_ms = 2000;
  const ps_t again = t.sched.now();
  EXPECT_EQ(dns.gethostbyname("example.com").err.code, errc::timeout_error);
  EXPECT_NEAR(secs(t.sched.now() - again), 2.0, 0.1);
}

TEST(DnsClient, ALateAnswerToTheFirstQueryIsAcceptedAfterARetransmission) {
  dns_lan t;
  t.server.set_default_behaviour(dns_behaviour::delayed(seconds(7)));
  DNS dns(t.eth, to_w(dns_ip));
  const ps_t start = t.sched.now();
  const auto r = dns.gethostbyname("example.com");
  ASSERT_TRUE(r.ok()) << r.err.message;
  EXPECT_EQ(from_w(r.value), ip4(10, 0, 0, 80));
  EXPECT_EQ(t.queries.size(), 2u);
  EXPECT_NEAR(secs(t.sched.now() - start), 7.0, 0.1);
  EXPECT_TRUE(t.all_sockets_closed());
}

// ---- forged and malformed answers -------------------------------------------------------------------------

TEST(DnsClient, AnAnswerWithTheWrongIdOrFromAnotherPortIsIgnored) {
  dns_lan t;
  t.server.set_default_behaviour(dns_behaviour::delayed(ms(300)));
  // As the query leaves, forge two answers from the server's host: one with the id off by one, one with
  // the right id from port 5353. Both arrive before the real answer.
  t.seg.observe([&](segment::port_id from, const octets& f, ps_t) {
    if (from != t.chip_port) return;
    const auto e = parse_eth(f.data(), f.size());
    if (!e || e->ethertype != ethertype_ipv4) return;
    const auto ip = parse_ipv4(e->payload, e->payload_len);
    if (!ip || ip->h.proto != ip_proto_udp) return;
    const auto udp = parse_udp(ip->payload, ip->payload_len, ip->h.src, ip->h.dst);
    if (!udp || udp->dst_port != dns_port) return;
    const auto q = parse_dns(udp->payload, udp->payload_len);
    if (!q) return;
    dns_message forged = *q;
    forged.qr = true;
    forged.answers = {dns_record::a("example.com", ip4(6, 6, 6, 6), 60)};
    const std::uint16_t sport = udp->src_port;
    dns_message wrong_id = forged;
    wrong_id.id = static_cast<std::uint16_t>(q->id + 1);
    t.sched.after(ms(50), [&t, wrong_id, forged, sport] {
      t.dns_host.udp_send(chip_ip, sport, dns_port, build_dns(wrong_id));
      t.dns_host.udp_send(chip_ip, sport, 5353, build_dns(forged));
    });
  });
  DNS dns(t.eth, to_w(dns_ip));
  const auto r = dns.gethostbyname("example.com");
  ASSERT_TRUE(r.ok()) << r.err.message;
  EXPECT_EQ(from_w(r.value), ip4(10, 0, 0, 80));
  EXPECT_EQ(dns.last_ignored(), 2);
  EXPECT_TRUE(t.all_sockets_closed());
}

TEST(DnsClient, EveryMalformedAnswerEndsInAnErrorWithoutACrash) {
  struct expectation {
    dns_malformation kind;
    errc code;
  };
  // Answers that are not answers to our query (wrong id, QR clear) are ignored: the lookup times out.
  // Answers to our question that cannot be parsed end it at once.
  const expectation cases[] = {
      {dns_malformation::wrong_id, errc::timeout_error},
      {dns_malformation::qr_zero, errc::timeout_error},
      {dns_malformation::count_mismatch, errc::runtime_error},
      {dns_malformation::pointer_loop, errc::runtime_error},
      {dns_malformation::truncated_rdata, errc::runtime_error},
      {dns_malformation::a_rdlength_3, errc::runtime_error},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(to_string(c.kind));
    dns_lan t;
    t.server.set_default_behaviour(dns_behaviour::malformed(c.kind));
    DNS dns(t.eth, to_w(dns_ip));
    dns.timeout_ms = 1000;  // keep the ignored kinds brisk
    const auto r = dns.gethostbyname("www.example.com");
    EXPECT_EQ(r.err.code, c.code) << r.err.message;
    if (c.code == errc::runtime_error) {
      EXPECT_STREQ(r.err.message, "DNS: malformed answer");
      EXPECT_EQ(t.queries.size(), 1u);
    } else {
      EXPECT_EQ(t.queries.size(), 3u);
      EXPECT_EQ(dns.last_ignored(), 3);
    }
    EXPECT_GE(t.server.stats().malformed_out, 1u);
    EXPECT_TRUE(t.all_sockets_closed());
  }
}

// ---- bad input --------------------------------------------------------------------------------------------

TEST(DnsClient, InvalidHostnamesAreValueErrorsAndSendNothing) {
  dns_lan t;
  DNS dns(t.eth, to_w(dns_ip));
  const std::string label64 = std::string(64, 'a') + ".com";
  std::string long_name;
  for (int i = 0; i < 5; ++i) long_name += std::string(60, 'b') + ".";
  long_name += "com";  // 306 characters
  for (const char* name : {static_cast<const char*>(nullptr), "", ".", "a..b", ".example.com",
                           label64.c_str(), long_name.c_str()}) {
    SCOPED_TRACE(name == nullptr ? "(null)" : name);
    EXPECT_EQ(dns.gethostbyname(name).err.code, errc::value_error);
  }
  EXPECT_TRUE(t.queries.empty());
  EXPECT_TRUE(t.all_sockets_closed());
  // 63-octet labels and a 253-character name are still fine (the server answers NXDOMAIN).
  std::string max_name;
  for (int i = 0; i < 3; ++i) max_name += std::string(63, 'c') + ".";
  max_name += std::string(61, 'd');
  ASSERT_EQ(max_name.size(), 253u);
  EXPECT_STREQ(dns.gethostbyname(max_name.c_str()).err.message, "DNS: no such name (NXDOMAIN)");
}

TEST(DnsClient, NoServerAddressIsAnError) {
  dns_lan t;
  DNS none(t.eth, to_w(0));
  EXPECT_EQ(none.gethostbyname("example.com").err.code, errc::runtime_error);
  DNS bcast(t.eth, to_w(0xFFFFFFFFu));
  EXPECT_EQ(bcast.gethostbyname("example.com").err.code, errc::runtime_error);
  EXPECT_TRUE(t.queries.empty());
}

TEST(DnsClient, WiznetGetHostByNameUsesTheConfiguredDnsServer) {
  dns_lan t;
  const auto r = t.eth.get_host_by_name("www.example.com");
  ASSERT_TRUE(r.ok()) << r.err.message;
  EXPECT_EQ(from_w(r.value), ip4(10, 0, 0, 81));
  ASSERT_EQ(t.queries.size(), 1u);
  EXPECT_EQ(t.queries[0].dst, dns_ip);
  EXPECT_TRUE(t.all_sockets_closed());
}
