// The scripted segment-level peer against the chip: exact frames in, exact frames out, timing windows,
// failure messages, unordered scripts, quiet periods and the text format.
#include <gtest/gtest.h>

#include <string>

#include "lan_fixture.hpp"
#include "wizsim/harness/raw_client.hpp"
#include "wizsim/harness/script_peer.hpp"
#include "wizsim/w5500.hpp"

using namespace wizsim;

namespace {

constexpr ip4_addr peer_ip = ip4(10, 0, 0, 1), chip_ip = ip4(10, 0, 0, 50);
const mac_addr peer_mac{0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
const mac_addr chip_mac{0x02, 0x08, 0xDC, 0, 0, 0x50};

using test::pattern;

ipv4_fields from_peer(std::uint8_t proto) {
  ipv4_fields h;
  h.src = peer_ip;
  h.dst = chip_ip;
  h.proto = proto;
  h.ttl = 64;
  return h;
}

octets echo_request(std::uint16_t seq, std::size_t len = 32) {
  return icmp_frame(chip_mac, peer_mac, from_peer(ip_proto_icmp), 8, 0, 0x4242u << 16 | seq, pattern(len));
}

octets tcp_to_chip(std::uint8_t flags, std::uint32_t seq, std::uint32_t ack, std::uint16_t dport = 5000,
                   std::optional<std::uint16_t> mss = std::nullopt) {
  tcp_fields t;
  t.src_port = 40000;
  t.dst_port = dport;
  t.seq = seq;
  t.ack = ack;
  t.flags = flags;
  t.window = 8192;
  t.mss = mss;
  return tcp_frame(chip_mac, peer_mac, from_peer(ip_proto_tcp), t, {});
}

struct bench : test::chip_on_lan {
  bench() : chip_on_lan(11, chip_ip, peer_ip, chip_mac) {}
  script_peer script{seg, "script"};
};

}  // namespace

TEST(ScriptPeer, ChipUdpSendArrivesAsTheExactFrame) {
  bench t;
  t.script.answer_arp(peer_ip, peer_mac);
  ASSERT_TRUE(t.client.open_udp(0, 4000));
  const ps_t t0 = t.sched.now();
  t.script.expect(frame_filter::parse("arp.op == request && arp.tpa == 10.0.0.1"), t0, t0 + ms(10), "ARP");
  t.script.expect(frame_filter::parse("udp.dport == 7"), t0, t0 + ms(20), "datagram");
  t.script.start();
  ASSERT_TRUE(t.client.sendto(0, peer_ip, 7, pattern(100)));
  const script_result r = t.script.run();
  ASSERT_TRUE(r.passed) << r.message;
  EXPECT_EQ(t.script.arp_replies_sent(), 1u);

  // What a W5500 sends for the first IP packet after reset: ID 0, TTL 128 (Sn_TTL reset), DF (Sn_FRAG).
  ipv4_fields h;
  h.src = chip_ip;
  h.dst = peer_ip;
  h.proto = ip_proto_udp;
  h.ttl = 128;
  h.id = 0;
  h.frag = 0x4000;
  EXPECT_EQ(t.script.matched(2), udp_frame(peer_mac, chip_mac, h, 4000, 7, pattern(100)));
  EXPECT_EQ(r.step(2).frame, t.script.matched(2));
  EXPECT_GT(r.step(2).time, r.step(1).time);
}

TEST(ScriptPeer, InjectedEchoRequestIsAnsweredWithinTheWindow) {
  bench t;
  const ps_t t0 = t.sched.now();
  t.script.inject(t0 + ms(1), echo_request(7), "ping");
  t.script.expect_within(frame_filter::parse("icmp.type == 0 && ip.src == 10.0.0.50 && ip.dst == 10.0.0.1"),
                         ms(1), "echo reply");
  const script_result r = t.script.run();
  ASSERT_TRUE(r.passed) << r.message;
  EXPECT_EQ(r.step(1).time, t0 + ms(1)) << "injected at the absolute time asked for";
  EXPECT_EQ(r.step(1).frame, echo_request(7));
  const octets& reply = t.script.matched(2);
  auto eth = parse_eth(reply.data(), reply.size());
  auto ip = parse_ipv4(eth->payload, eth->payload_len);
  auto icmp = parse_icmp(ip->payload, ip->payload_len);
  ASSERT_TRUE(icmp.has_value());
  EXPECT_EQ(icmp->rest, 0x4242u << 16 | 7);
  EXPECT_EQ(octets(icmp->payload, icmp->payload + icmp->payload_len), pattern(32));
  EXPECT_EQ(eth->dst, peer_mac) << "answered to the requester's MAC without ARP";
  EXPECT_GT(r.step(2).time, t0 + ms(1));
  EXPECT_LE(r.step(2).time, t0 + ms(2));
}

TEST(ScriptPeer, HandshakeWithAListeningChipSocketReachesEstablished) {
  bench t;
  ASSERT_TRUE(t.client.open_tcp(0, 5000));
  ASSERT_TRUE(t.client.listen(0));
  ASSERT_EQ(t.client.status(0), SOCK_LISTEN);
  t.script.inject(tcp_to_chip(TCP_SYN, 1000, 0, 5000, 1460), "SYN");
  const std::size_t synack = t.script.expect_within(
      frame_filter::parse("tcp.flags.syn && tcp.flags.ack && tcp.sport == 5000 && tcp.dport == 40000 && "
                          "tcp.ack == 1001"),
      ms(10), "SYN-ACK");
  // The ACK is built from the chip's ISN in the matched SYN-ACK.
  t.script.inject_with(
      [&] {
        const octets& f = t.script.matched(synack);
        auto ip = parse_ipv4(f.data() + eth_header_len, f.size() - eth_header_len);
        auto seg = parse_tcp(ip->payload, ip->payload_len, ip->h.src, ip->h.dst);
        return tcp_to_chip(TCP_ACK, 1001, seg->h.seq + 1);
      },
      "ACK");
  t.script.not_expect(frame_filter::parse("tcp.flags.rst || tcp.flags.syn"), t.sched.now() + ms(50),
                      "no reset, no retransmitted SYN-ACK");
  const script_result r = t.script.run();
  ASSERT_TRUE(r.passed) << r.message;
  EXPECT_TRUE(frame_filter::parse("tcp.mss")(t.script.matched(synack))) << "the chip announces its MSS";
  EXPECT_EQ(t.client.status(0), SOCK_ESTABLISHED);
  ASSERT_EQ(r.steps.size(), 4u);
  EXPECT_EQ(r.step(3).label, "ACK");
  EXPECT_EQ(r.step(4).outcome, step_outcome::passed);
}

TEST(ScriptPeer, AFailingExpectationSaysWhatWasExpectedWhenAndWhatCameInstead) {
  bench t;
  t.script.inject(echo_request(1));
  octets to_closed = udp_frame(chip_mac, peer_mac, from_peer(ip_proto_udp), 1234, 9999, pattern(8));
  t.script.inject(to_closed);
  t.script.expect_within(frame_filter::parse("tcp.flags.syn && tcp.flags.ack"), ms(10), "SYN-ACK");
  t.script.expect_within(frame_filter(), ms(10), "never reached");
  const ps_t t0 = t.sched.now();
  const script_result r = t.script.run();
  EXPECT_FALSE(r.passed);
  ASSERT_EQ(r.steps.size(), 4u);
  EXPECT_EQ(r.step(1).outcome, step_outcome::passed);
  EXPECT_EQ(r.step(2).outcome, step_outcome::passed);
  EXPECT_EQ(r.step(3).outcome, step_outcome::failed);
  EXPECT_EQ(r.step(4).outcome, step_outcome::skipped) << "an ordered script stops at its first failure";
  const std::string want = "step 3 'SYN-ACK': no frame matching 'tcp.flags.syn && tcp.flags.ack' between " +
                           script_time_string(t0) + " and " + script_time_string(t0 + ms(10)) +
                           "; frames seen: [";
  EXPECT_EQ(r.step(3).message.substr(0, want.size()), want) << r.step(3).message;
  EXPECT_NE(r.message.find("] ICMP 10.0.0.50 > 10.0.0.1 echo reply (0/0) len=32; ["), std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("] ICMP 10.0.0.50 > 10.0.0.1 unreachable (3/3)"), std::string::npos) << r.message;
  EXPECT_EQ(r.message, r.step(3).message);
  EXPECT_GT(r.step(3).time, t0 + ms(10));
  EXPECT_THROW(t.script.matched(3), std::logic_error);
}

TEST(ScriptPeer, AFrameBeforeItsWindowFailsTheStep) {
  bench t;
  const ps_t t0 = t.sched.now();
  t.script.inject(echo_request(2));
  t.script.expect(frame_filter::parse("icmp.type == 0"), t0 + ms(100), t0 + ms(200), "late reply");
  const script_result r = t.script.run();
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.step(2).message.find("step 2 'late reply': a frame matching 'icmp.type == 0' arrived at "),
            std::string::npos)
      << r.step(2).message;
  EXPECT_NE(r.step(2).message.find("before the window " + script_time_string(t0 + ms(100))),
            std::string::npos);
  EXPECT_LT(r.step(2).time, t0 + ms(100));
  EXPECT_FALSE(r.step(2).frame.empty()) << "the offending frame is kept";
}

TEST(ScriptPeer, NotExpectPassesWhenQuietAndFailsOnAMatchingFrame) {
  bench t;
  ASSERT_TRUE(t.client.open_udp(0, 4000));
  t.script.not_expect(frame_filter::parse("ip.src == 10.0.0.50"), t.sched.now() + ms(50), "chip stays quiet");
  script_result r = t.script.run();
  ASSERT_TRUE(r.passed) << r.message;
  EXPECT_EQ(r.step(1).time, t.sched.now()) << "run() leaves time where the quiet period ended";

  const ps_t t1 = t.sched.now();
  t.script.inject(echo_request(3));
  t.script.not_expect(frame_filter::parse("icmp"), t1 + ms(50), "no ICMP");
  r = t.script.run();
  EXPECT_FALSE(r.passed);
  EXPECT_EQ(r.step(3).outcome, step_outcome::failed);
  EXPECT_NE(r.step(3).message.find("step 3 'no ICMP': a frame matching 'icmp' arrived at "),
            std::string::npos)
      << r.step(3).message;
  EXPECT_NE(r.step(3).message.find("(none expected until " + script_time_string(t1 + ms(50)) +
                                   "): ICMP 10.0.0.50 > 10.0.0.1 echo reply"),
            std::string::npos)
      << r.step(3).message;
  EXPECT_LT(r.step(3).time, t1 + ms(1)) << "fails as soon as the frame arrives";
}

TEST(ScriptPeer, UnorderedExpectationsMatchInAnyOrder) {
  bench t;
  t.script.set_mode(script_mode::unordered);
  const ps_t t0 = t.sched.now();
  // Listed in the opposite order to their arrival.
  t.script.expect(frame_filter::parse("icmp.type == 3"), t0, t0 + ms(10), "unreachable");
  t.script.expect(frame_filter::parse("icmp.type == 0"), t0, t0 + ms(10), "echo reply");
  t.script.not_expect(frame_filter::parse("tcp"), t0 + ms(20), "no TCP");
  t.script.inject(t0 + ms(1), echo_request(4));
  t.script.inject(t0 + ms(2), udp_frame(chip_mac, peer_mac, from_peer(ip_proto_udp), 1, 9, pattern(4)));
  const script_result r = t.script.run();
  ASSERT_TRUE(r.passed) << r.message;
  EXPECT_GT(r.step(1).time, r.step(2).time);
  EXPECT_EQ(r.step(3).time, t0 + ms(20));
  EXPECT_THROW(t.script.set_mode(script_mode::ordered), std::logic_error);
}

TEST(ScriptPeer, UnorderedIdenticalExpectationsNeedOneFrameEach) {
  bench t;
  t.script.set_mode(script_mode::unordered);
  const ps_t t0 = t.sched.now();
  t.script.expect(frame_filter::parse("icmp.type == 0"), t0, t0 + ms(10), "first reply");
  t.script.expect(frame_filter::parse("icmp.type == 0"), t0, t0 + ms(10), "second reply");
  t.script.inject(echo_request(5));
  const script_result r = t.script.run();
  EXPECT_FALSE(r.passed);
  EXPECT_EQ(r.step(1).outcome, step_outcome::passed);
  EXPECT_EQ(r.step(2).outcome, step_outcome::failed);
  EXPECT_EQ(r.step(3).outcome, step_outcome::passed) << "unordered failures do not stop the other steps";
}

TEST(ScriptPeer, RunStopsAtItsLimit) {
  bench t;
  t.script.expect(frame_filter::parse("udp"), t.sched.now(), never, "forever");
  const ps_t limit = t.sched.now() + ms(30);
  const script_result r = t.script.run(limit);
  EXPECT_FALSE(r.passed);
  EXPECT_EQ(t.sched.now(), limit);
  EXPECT_NE(r.message.find("step 1 'forever': still pending at the run limit, " + script_time_string(limit)),
            std::string::npos)
      << r.message;
}

TEST(ScriptPeer, TextScriptDrivesAnEchoExchange) {
  bench t;
  const octets ping = echo_request(9);
  const std::string script =
      "# ping the chip from the script\n"
      "mode ordered\n"
      "answer arp 10.0.0.1 02:00:00:00:00:01\n"
      "+0.5ms inject \"ping\" " +
      hex_bytes(ping.data(), 14) + "  " + hex_bytes(ping.data() + 14, ping.size() - 14) +
      "\n"
      "\n"
      "   +10us expect within 1ms \"reply\": icmp.type == 0 && ip.dst == 10.0.0.1  # answer\n"
      "expect none until +20ms: icmp\n";
  t.script.load(script);
  const ps_t t0 = t.sched.now();
  const script_result r = t.script.run();
  ASSERT_TRUE(r.passed) << r.message;
  ASSERT_EQ(r.steps.size(), 3u);
  EXPECT_EQ(r.step(1).label, "ping");
  EXPECT_EQ(r.step(1).time, t0 + us(500));
  EXPECT_EQ(r.step(1).frame, ping);
  EXPECT_EQ(r.step(2).label, "reply");
  EXPECT_GE(r.step(2).time, t0 + us(510));
  EXPECT_EQ(r.step(3).label, "no icmp");
  EXPECT_EQ(r.step(3).time, r.step(2).time + ms(20));
}

TEST(ScriptPeer, TextTimesWithoutPlusCountFromTheScriptStart) {
  const parsed_script p = parse_script(
      "2ms inject 0200000000010200000000020800\n"
      "expect between 3ms and +1.25ms: udp\n"
      "+1us expect within 2.5us: arp\n");
  ASSERT_EQ(p.steps.size(), 3u);
  EXPECT_EQ(p.steps[0].at.from, script_time::base::start);
  EXPECT_EQ(p.steps[0].at.offset, ms(2));
  EXPECT_EQ(p.steps[0].frame.size(), 14u);
  EXPECT_EQ(p.steps[1].at.from, script_time::base::start);
  EXPECT_EQ(p.steps[1].at.offset, ms(3));
  EXPECT_EQ(p.steps[1].until.from, script_time::base::previous);
  EXPECT_EQ(p.steps[1].until.offset, us(1250));
  EXPECT_EQ(p.steps[1].label, "");
  EXPECT_EQ(p.steps[2].at.from, script_time::base::previous);
  EXPECT_EQ(p.steps[2].at.offset, us(1));
  EXPECT_EQ(p.steps[2].until.offset, us(1) + ns(2500));
  EXPECT_EQ(p.steps[2].pattern.text(), "arp");
  EXPECT_EQ(p.steps[2].line, 3u);
  EXPECT_EQ(p.steps[0].at.resolve(seconds(4), seconds(5)), seconds(4) + ms(2));
  EXPECT_EQ(p.steps[2].at.resolve(seconds(4), seconds(5)), seconds(5) + us(1));
}

TEST(ScriptPeer, TextSyntaxErrorsReportLineAndColumn) {
  auto error = [](const std::string& text) -> std::string {
    try {
      parse_script(text);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "(no error)";
  };
  EXPECT_EQ(error("# fine\n\nfrobnicate 12"),
            "script line 3, column 1: unknown step 'frobnicate' (expected inject, expect, mode or answer)");
  EXPECT_EQ(error("+1 inject 00"), "script line 1, column 1: '+1' needs a unit (ps, ns, us, ms or s)");
  EXPECT_EQ(error("+1xs inject 00"),
            "script line 1, column 3: unknown time unit 'xs' (expected ps, ns, us, ms or s)");
  EXPECT_EQ(error("inject 0200000000010200000000020800 0g"),
            "script line 1, column 38: 'g' is not a hex digit");
  EXPECT_EQ(error("inject 02000000000102000000000208000"),
            "script line 1, column 36: odd number of hex digits (octets are two digits each)");
  EXPECT_EQ(error("inject 0102"),
            "script line 1, column 8: an injected frame must be 14..1514 octets (got 2)");
  EXPECT_EQ(error("expect within 10ms udp"), "script line 1, column 20: expected ':' before the filter");
  EXPECT_EQ(error("expect soon: udp"),
            "script line 1, column 8: expected 'within', 'between' or 'none' after 'expect'");
  EXPECT_EQ(error("expect within +10ms: udp"), "script line 1, column 15: a duration takes no '+'");
  EXPECT_EQ(error("expect none before 5ms: udp"),
            "script line 1, column 13: expected 'until', found 'before'");
  EXPECT_EQ(error("expect between 5ms and 4ms: udp"),
            "script line 1, column 24: the window ends before it starts");
  EXPECT_EQ(error("expect within 1ms \"x: udp"),
            "script line 1, column 19: unterminated label (missing closing '\"')");
  EXPECT_EQ(error("expect within 1ms:"), "script line 1, column 19: expected a filter after ':'");
  const std::string f = error("\n  expect within 1ms: udp && tcp.flgs");
  EXPECT_EQ(f.substr(0, 26), "script line 2, column 29: ") << f;
  EXPECT_NE(f.find("'tcp.flgs' at column 8: unknown field"), std::string::npos) << f;
  EXPECT_EQ(error("inject 0200000000010200000000020800\nmode unordered"),
            "script line 2, column 1: 'mode' must come before the first step");
  EXPECT_EQ(error("mode sideways"), "script line 1, column 6: expected 'ordered' or 'unordered'");
  EXPECT_EQ(error("answer arp 10.0.0.256 02:00:00:00:00:01"),
            "script line 1, column 12: '10.0.0.256' is not an IPv4 address");
  EXPECT_EQ(
      error("answer arp 10.0.0.1 02:00:00:00:01"),
      "script line 1, column 21: '02:00:00:00:01' is not a MAC address (expected e.g. 02:00:00:00:00:01)");
  EXPECT_EQ(error("answer arp 10.0.0.1 02:00:00:00:00:01 extra"),
            "script line 1, column 39: unexpected text at the end of the line");
  EXPECT_EQ(error("5ms mode ordered"), "script line 1, column 1: 'mode' takes no time");
  EXPECT_EQ(error("+1ms expect between 1ms and 2ms: udp"),
            "script line 1, column 1: 'expect between' takes its times after 'between', not before 'expect'");
  EXPECT_EQ(error("inject \"has # inside\" 0200000000010200000000020800 # comment"), "(no error)");
}

TEST(ScriptPeer, BadStepsFromCodeAreRejectedAtSetup) {
  scheduler sched;
  segment seg(sched);
  script_peer p(seg);
  EXPECT_THROW(p.inject(octets(10)), std::invalid_argument);
  EXPECT_THROW(p.inject(octets(1515)), std::invalid_argument);
  EXPECT_THROW(p.expect(frame_filter(), ms(5), ms(4)), std::invalid_argument);
  EXPECT_THROW(p.answer_arp(peer_ip, broadcast_mac), std::invalid_argument);
  EXPECT_THROW(script_peer(seg, "script"), std::invalid_argument) << "station names are unique";
  EXPECT_THROW(p.matched(1), std::logic_error);
}

TEST(ScriptPeer, ABuiltFrameThatCannotBeSentFailsItsStep) {
  scheduler sched;
  segment seg(sched);
  script_peer p(seg);
  p.inject_with([] { return octets(3); }, "tiny");
  p.inject_with([]() -> octets { throw std::runtime_error("no ISN yet"); }, "throws");
  script_result r = p.run();
  EXPECT_EQ(r.step(1).message, "step 1 'tiny': the built frame has 3 octets (Ethernet carries 14..1514)");
  EXPECT_EQ(r.step(2).outcome, step_outcome::skipped);
  script_peer q(seg, "q");
  q.set_mode(script_mode::unordered);
  q.inject_with([]() -> octets { throw std::runtime_error("no ISN yet"); }, "throws");
  r = q.run();
  EXPECT_EQ(r.step(1).message, "step 1 'throws': building the frame failed: no ISN yet");
}

TEST(ScriptPeer, DescribesFramesInOneLine) {
  EXPECT_EQ(describe_frame(octets(5)), "runt frame of 5 octets");
  const octets arp = build_eth(broadcast_mac, peer_mac, ethertype_arp,
                               build_arp(arp_request, peer_mac, peer_ip, mac_addr{}, chip_ip));
  EXPECT_EQ(describe_frame(arp), "ARP who-has 10.0.0.50 tell 10.0.0.1");
  EXPECT_EQ(describe_frame(tcp_to_chip(TCP_SYN, 5, 0, 80, 1460)),
            "TCP 10.0.0.1:40000 > 10.0.0.50:80 [SYN] seq=5 ack=0 win=8192 len=0 mss=1460");
  EXPECT_EQ(describe_frame(udp_frame(chip_mac, peer_mac, from_peer(ip_proto_udp), 1, 2, pattern(3))),
            "UDP 10.0.0.1:1 > 10.0.0.50:2 len=3");
  EXPECT_EQ(describe_frame(build_eth(chip_mac, peer_mac, ethertype_ipv6, octets(40))),
            "02:00:00:00:00:01 > 02:08:dc:00:00:50 ethertype 0x86dd 60 octets");
  EXPECT_EQ(script_time_string(ms(1)), "1.000ms");
  EXPECT_EQ(script_time_string(ms(1) + ns(500)), "1.000500ms");
  EXPECT_EQ(script_time_string(7), "0.000000007ms");
}
