// Frame filters: every field, every operator, precedence, missing fields, constants, parse errors, and
// random bytes that must never make a filter read out of bounds.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "wizsim/harness/filter.hpp"
#include "wizsim/scheduler.hpp"

using namespace wizsim;

namespace {

const mac_addr mac_a{0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
const mac_addr mac_b{0x02, 0x08, 0xDC, 0xAB, 0xCD, 0xEF};
const mac_addr mcast_mac{0x01, 0x00, 0x5E, 0x00, 0x00, 0xFB};
constexpr ip4_addr ip_a = ip4(10, 0, 0, 1), ip_b = ip4(10, 0, 0, 50);

ipv4_fields iph(std::uint8_t ttl = 64, std::uint16_t id = 0x1234) {
  ipv4_fields h;
  h.src = ip_a;
  h.dst = ip_b;
  h.ttl = ttl;
  h.id = id;
  return h;
}

octets udp(std::uint16_t sport, std::uint16_t dport, const octets& payload = octets(10, 0xAA)) {
  return udp_frame(mac_b, mac_a, iph(), sport, dport, payload);
}

octets tcp(std::uint8_t flags, std::uint16_t sport = 40000, std::uint16_t dport = 80, std::size_t len = 0,
           std::optional<std::uint16_t> mss = std::nullopt) {
  tcp_fields t;
  t.src_port = sport;
  t.dst_port = dport;
  t.seq = 1000;
  t.ack = 2000;
  t.flags = flags;
  t.window = 4096;
  t.mss = mss;
  return tcp_frame(mac_b, mac_a, iph(), t, octets(len, 0x55));
}

octets arp(std::uint16_t op) {
  return build_eth(broadcast_mac, mac_a, ethertype_arp, build_arp(op, mac_a, ip_a, mac_addr{}, ip_b));
}

octets icmp_echo() { return icmp_frame(mac_b, mac_a, iph(), 8, 0, 0x00010002, octets(32, 1)); }

octets igmp_report() {
  ipv4_fields h = iph(1);
  h.proto = ip_proto_igmp;
  h.dst = ip4(224, 0, 0, 251);
  octets msg{0x16, 0, 0, 0, 224, 0, 0, 251};
  put16(msg.data() + 2, inet_checksum(msg.data(), msg.size()));
  return build_eth(mcast_mac, mac_a, ethertype_ipv4, build_ipv4(h, msg));
}

// A BOOTP/DHCP message: fixed part, magic cookie, option 53 = `type`, end.
octets dhcp(std::uint8_t type, std::uint32_t xid, std::uint16_t sport = 68, std::uint16_t dport = 67) {
  octets p(246, 0);
  p[0] = 1;
  put32(p.data() + 4, xid);
  put32(p.data() + 236, 0x63825363);
  // Two pads first (the walk must skip them), then option 53 and the end mark.
  p[242] = 53;
  p[243] = 1;
  p[244] = type;
  p[245] = 255;
  return udp(sport, dport, p);
}

octets dns(std::uint16_t id, bool response, std::uint8_t rcode, std::uint16_t sport = 5353,
           std::uint16_t dport = 53) {
  octets p(12, 0);
  put16(p.data(), id);
  p[2] = response ? 0x81 : 0x01;
  p[3] = static_cast<std::uint8_t>(0x80 | rcode);
  return udp(sport, dport, p);
}

bool match(const std::string& expr, const octets& f) { return frame_filter::parse(expr)(f); }

std::string parse_error(const std::string& expr) {
  try {
    frame_filter::parse(expr);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(FrameFilter, DefaultAndEmptyExpressionMatchEveryFrame) {
  frame_filter all;
  EXPECT_TRUE(all.matches_all());
  EXPECT_EQ(all.text(), "");
  EXPECT_TRUE(all(arp(1)));
  EXPECT_TRUE(all(nullptr, 0));
  const auto blank = frame_filter::parse("   ");
  EXPECT_TRUE(blank.matches_all());
  EXPECT_TRUE(blank(udp(1, 2)));
}

TEST(FrameFilter, TextIsTheExpressionAndFromKeepsItsDescription) {
  const auto f = frame_filter::parse("  udp.dport == 53 ");
  EXPECT_EQ(f.text(), "udp.dport == 53");
  EXPECT_FALSE(f.matches_all());
  const auto g = frame_filter::from([](const std::uint8_t*, std::size_t n) { return n > 100; }, "big");
  EXPECT_EQ(g.text(), "big");
  EXPECT_TRUE(g(octets(101)));
  EXPECT_FALSE(g(octets(100)));
  const auto h = frame_filter::from([](const std::uint8_t*, std::size_t) { return false; }, "");
  EXPECT_FALSE(h.matches_all()) << "a predicate from code is never mistaken for match-all";
  EXPECT_THROW(frame_filter::from(nullptr, "x"), std::invalid_argument);
}

TEST(FrameFilter, FrameAndEthernetFields) {
  const octets f = udp(1, 2);
  EXPECT_TRUE(match("frame.len == " + std::to_string(f.size()), f));
  EXPECT_TRUE(match("frame.len >= 60", f));
  EXPECT_TRUE(match("eth.dst == 02:08:dc:ab:cd:ef", f));
  EXPECT_TRUE(match("eth.dst == 02:08:DC:AB:CD:EF", f)) << "hex digits in either case";
  EXPECT_TRUE(match("eth.src == 2:0:0:0:0:1", f)) << "one-digit octets";
  EXPECT_FALSE(match("eth.src == 02:08:dc:ab:cd:ef", f));
  EXPECT_TRUE(match("eth.type == 0x0800", f));
  EXPECT_TRUE(match("eth.type == 2048", f));
  EXPECT_TRUE(match("eth.type == ipv4", f));
  EXPECT_TRUE(match("eth.type == arp", arp(1)));
  EXPECT_TRUE(match("eth.type == ipv6", build_eth(mac_b, mac_a, ethertype_ipv6, octets(40))));
  EXPECT_TRUE(match("eth.bcast", arp(1)));
  EXPECT_FALSE(match("eth.bcast", f));
  EXPECT_FALSE(match("eth.mcast", arp(1))) << "broadcast is eth.bcast, not eth.mcast";
  EXPECT_TRUE(match("eth.mcast", igmp_report()));
  EXPECT_TRUE(match("eth.mcast == 0 && eth.bcast == 0", f));
}

TEST(FrameFilter, ArpFields) {
  const octets req = arp(arp_request), rep = arp(arp_reply);
  EXPECT_TRUE(match("arp", req));
  EXPECT_FALSE(match("arp", udp(1, 2)));
  EXPECT_TRUE(match("arp.op == request", req));
  EXPECT_TRUE(match("arp.op == reply", rep));
  EXPECT_TRUE(match("arp.op == 2", rep));
  EXPECT_TRUE(match("arp.spa == 10.0.0.1 && arp.tpa == 10.0.0.50", req));
  EXPECT_TRUE(match("arp.sha == 02:00:00:00:00:01", req));
  EXPECT_FALSE(match("ip", req));
}

TEST(FrameFilter, Ipv4Fields) {
  const octets f = udp(1, 2);
  EXPECT_TRUE(match("ip", f));
  EXPECT_TRUE(match("ip.src == 10.0.0.1 && ip.dst == 10.0.0.50", f));
  EXPECT_TRUE(match("ip.src == 0x0A000001", f)) << "an address is also a number";
  EXPECT_TRUE(match("ip.proto == udp", f));
  EXPECT_TRUE(match("ip.proto == 17", f));
  EXPECT_TRUE(match("ip.proto == tcp", tcp(TCP_SYN)));
  EXPECT_TRUE(match("ip.proto == icmp", icmp_echo()));
  EXPECT_TRUE(match("ip.proto == igmp", igmp_report()));
  EXPECT_TRUE(match("ip.ttl == 64", f));
  EXPECT_TRUE(match("ip.id == 0x1234", f));
  EXPECT_TRUE(match("ip.len == 38", f)) << "20 + 8 + 10";
  EXPECT_TRUE(match("!ip.frag", f));
  EXPECT_TRUE(match("ip.frag == 0", f)) << "DF alone is not a fragment";
}

TEST(FrameFilter, AFragmentHasNoTransportLayerBeyondTheFirst) {
  ipv4_fields h = iph();
  h.proto = ip_proto_udp;
  h.frag = 0x0010;  // offset 128 octets, last fragment
  const octets later = build_eth(mac_b, mac_a, ethertype_ipv4, build_ipv4(h, octets(40, 0)));
  EXPECT_TRUE(match("ip.frag", later));
  EXPECT_TRUE(match("ip.proto == udp", later));
  EXPECT_FALSE(match("udp", later));
  EXPECT_FALSE(match("udp.dport == 0", later));
}

TEST(FrameFilter, IcmpAndIgmpFields) {
  const octets e = icmp_echo();
  EXPECT_TRUE(match("icmp", e));
  EXPECT_TRUE(match("icmp.type == 8 && icmp.code == 0", e));
  EXPECT_FALSE(match("igmp", e));
  EXPECT_TRUE(match("igmp", igmp_report()));
  EXPECT_FALSE(match("icmp", igmp_report()));
}

TEST(FrameFilter, UdpFields) {
  const octets f = udp(1234, 53);
  EXPECT_TRUE(match("udp", f));
  EXPECT_FALSE(match("tcp", f));
  EXPECT_TRUE(match("udp.sport == 1234 && udp.dport == 53", f));
  EXPECT_TRUE(match("udp.port == 1234", f));
  EXPECT_TRUE(match("udp.port == 53", f));
  EXPECT_FALSE(match("udp.port == 54", f));
  EXPECT_TRUE(match("udp.len == 18", f));
}

TEST(FrameFilter, TcpFields) {
  const octets syn = tcp(TCP_SYN, 40000, 80, 0, 1460);
  const octets data = tcp(TCP_ACK | TCP_PSH, 40000, 80, 100);
  EXPECT_TRUE(match("tcp", syn));
  EXPECT_TRUE(match("tcp.sport == 40000 && tcp.dport == 80", syn));
  EXPECT_TRUE(match("tcp.port == 80 && tcp.port == 40000", syn));
  EXPECT_TRUE(match("tcp.seq == 1000 && tcp.ack == 2000 && tcp.win == 4096", syn));
  EXPECT_TRUE(match("tcp.len == 0", syn));
  EXPECT_TRUE(match("tcp.len == 100", data));
  EXPECT_TRUE(match("tcp.flags == 0x18", data));
  EXPECT_TRUE(match("tcp.flags.syn && !tcp.flags.ack", syn));
  EXPECT_TRUE(match("tcp.flags.ack && tcp.flags.psh", data));
  EXPECT_TRUE(match("tcp.flags.syn == 0", data));
  EXPECT_TRUE(match("tcp.flags.fin", tcp(TCP_FIN | TCP_ACK)));
  EXPECT_TRUE(match("tcp.flags.rst", tcp(TCP_RST)));
  EXPECT_TRUE(match("tcp.flags.urg", tcp(TCP_URG)));
  EXPECT_FALSE(match("tcp.flags.fin || tcp.flags.rst || tcp.flags.urg", syn));
  EXPECT_TRUE(match("tcp.mss == 1460", syn));
  EXPECT_TRUE(match("tcp.mss", syn));
  EXPECT_FALSE(match("tcp.mss", data)) << "no MSS option: the field is missing";
}

TEST(FrameFilter, DhcpFields) {
  const octets d = dhcp(1, 0xCAFEF00D);
  EXPECT_TRUE(match("dhcp", d));
  EXPECT_TRUE(match("dhcp.type == discover", d));
  EXPECT_TRUE(match("dhcp.xid == 0xCAFEF00D", d));
  const char* names[] = {"discover", "offer", "request", "decline", "ack", "nak", "release", "inform"};
  for (std::uint8_t t = 1; t <= 8; ++t) {
    EXPECT_TRUE(match(std::string("dhcp.type == ") + names[t - 1], dhcp(t, 1, 67, 68))) << names[t - 1];
    EXPECT_TRUE(match("dhcp.type == " + std::to_string(t), dhcp(t, 1)));
  }
  EXPECT_FALSE(match("dhcp", udp(68, 67))) << "too short for BOOTP";
  EXPECT_FALSE(match("dhcp", dhcp(1, 1, 1000, 2000))) << "not on port 67/68";
  EXPECT_FALSE(match("dns", d));
}

TEST(FrameFilter, DnsFields) {
  const octets q = dns(0xBEEF, false, 0), r = dns(0xBEEF, true, 3, 53, 5353);
  EXPECT_TRUE(match("dns", q));
  EXPECT_TRUE(match("dns.id == 0xBEEF && !dns.qr", q));
  EXPECT_TRUE(match("dns.qr && dns.rcode == 3", r));
  EXPECT_TRUE(match("dns.qr == 1", r));
  EXPECT_FALSE(match("dns", udp(5353, 54)));
  EXPECT_FALSE(match("dns", udp(5353, 53, octets(11, 0)))) << "shorter than a DNS header";
}

TEST(FrameFilter, EveryComparisonOperator) {
  const octets f = udp(1, 100);
  EXPECT_TRUE(match("udp.dport == 100", f));
  EXPECT_FALSE(match("udp.dport != 100", f));
  EXPECT_TRUE(match("udp.dport != 101", f));
  EXPECT_TRUE(match("udp.dport < 101", f));
  EXPECT_FALSE(match("udp.dport < 100", f));
  EXPECT_TRUE(match("udp.dport <= 100", f));
  EXPECT_FALSE(match("udp.dport <= 99", f));
  EXPECT_TRUE(match("udp.dport > 99", f));
  EXPECT_FALSE(match("udp.dport > 100", f));
  EXPECT_TRUE(match("udp.dport >= 100", f));
  EXPECT_FALSE(match("udp.dport >= 101", f));
  EXPECT_TRUE(match("udp.dport>=100&&udp.sport<2", f)) << "no whitespace needed";
}

TEST(FrameFilter, PortNotEqualMeansNeitherPort) {
  const octets f = tcp(TCP_ACK, 40000, 80);
  EXPECT_FALSE(match("tcp.port != 80", f));
  EXPECT_FALSE(match("tcp.port != 40000", f));
  EXPECT_TRUE(match("tcp.port != 443", f));
  EXPECT_TRUE(match("tcp.port < 100", f)) << "orderings hold when either port satisfies them";
  EXPECT_FALSE(match("tcp.port > 40000", f));
}

TEST(FrameFilter, AndBindsTighterThanOrAndNotTighterThanAnd) {
  const octets u = udp(1, 2);
  // true || false && false: with && binding tighter this is true.
  EXPECT_TRUE(match("udp || tcp && arp", u));
  EXPECT_FALSE(match("(udp || tcp) && arp", u));
  // !udp && ip: (!udp) && ip is false for UDP; !(udp && ip) would also be false, so use tcp.
  EXPECT_TRUE(match("!tcp && udp", u));
  EXPECT_FALSE(match("!(tcp || udp)", u));
  EXPECT_TRUE(match("!!udp", u));
  EXPECT_TRUE(match("arp || udp.dport == 2 && udp.sport == 1", u));
  EXPECT_FALSE(match("arp || udp.dport == 2 && udp.sport == 9", u));
  EXPECT_TRUE(match("((udp))", u));
  EXPECT_TRUE(match("tcp || arp || udp", u)) << "left-associative chains";
}

TEST(FrameFilter, AMissingFieldMakesEveryComparisonFalse) {
  const octets a = arp(1);
  for (const char* op : {"==", "!=", "<", "<=", ">", ">="})
    EXPECT_FALSE(match(std::string("udp.dport ") + op + " 53", a)) << op;
  EXPECT_TRUE(match("!udp.dport == 53", a)) << "the header's example";
  EXPECT_FALSE(match("udp.dport", a));
  EXPECT_FALSE(match("tcp.flags.syn == 0", a)) << "a flag of a missing layer is missing, not 0";
  EXPECT_FALSE(match("eth.type == arp", octets(10, 0))) << "shorter than an Ethernet header";
  EXPECT_TRUE(match("frame.len == 10", octets(10, 0)));
}

TEST(FrameFilter, MalformedLayersAreMissing) {
  octets f = udp(1, 2);
  f[14] = 0x65;  // IP version 6 in an IPv4 ethertype
  EXPECT_FALSE(match("ip", f));
  EXPECT_TRUE(match("eth.type == ipv4", f));
  octets g = udp(1, 2);
  put16(g.data() + 14 + 20 + 4, 500);  // UDP length past the datagram
  EXPECT_TRUE(match("ip.proto == udp", g));
  EXPECT_FALSE(match("udp", g));
  octets t = tcp(TCP_SYN);
  t[14 + 20 + 12] = 0x40;  // data offset 4 words: invalid
  EXPECT_FALSE(match("tcp", t));
}

TEST(FrameFilter, ParseErrorsNameTheTokenAndItsColumn) {
  EXPECT_NE(parse_error("udp.dprt == 53").find("'udp.dprt' at column 1: unknown field"), std::string::npos)
      << parse_error("udp.dprt == 53");
  EXPECT_NE(parse_error("udp && && tcp").find("'&&' at column 8"), std::string::npos);
  EXPECT_NE(parse_error("udp.dport ==").find("end of expression at column 13"), std::string::npos)
      << parse_error("udp.dport ==");
  EXPECT_NE(parse_error("(udp || tcp").find("expected ')' to close the '(' at column 1"), std::string::npos);
  EXPECT_NE(parse_error("udp)").find("')' at column 4"), std::string::npos);
  EXPECT_NE(parse_error("udp tcp").find("'tcp' at column 5"), std::string::npos);
  EXPECT_NE(parse_error("udp & tcp").find("'&' at column 5: unexpected character (did you mean '&&'?)"),
            std::string::npos);
  EXPECT_NE(parse_error("udp.dport = 53").find("did you mean '=='"), std::string::npos);
  EXPECT_NE(parse_error("udp.dport == $").find("'$' at column 14"), std::string::npos);
  EXPECT_NE(
      parse_error("ip.proto == sctp").find("unknown constant for ip.proto (known: icmp, igmp, tcp, udp)"),
      std::string::npos);
  EXPECT_NE(parse_error("udp.dport == dns").find("'dns' at column 14"), std::string::npos);
  EXPECT_NE(parse_error("arp.op == discover").find("known: request, reply"), std::string::npos)
      << "constants belong to their own field";
  EXPECT_NE(parse_error("ip.src == 10.0.0.256").find("octet out of range"), std::string::npos);
  EXPECT_NE(parse_error("ip.src == 10.0.1").find("malformed IPv4"), std::string::npos);
  EXPECT_NE(parse_error("udp.dport == 10.0.0.1").find("cannot be compared with udp.dport"),
            std::string::npos);
  EXPECT_NE(parse_error("eth.src == 02:00:00:00:00").find("malformed MAC"), std::string::npos);
  EXPECT_NE(parse_error("ip.src == 02:00:00:00:00:01").find("cannot be compared with ip.src"),
            std::string::npos);
  EXPECT_NE(parse_error("frame.len == 0x").find("malformed number"), std::string::npos);
  EXPECT_NE(parse_error("frame.len == 12ab").find("malformed number"), std::string::npos);
  EXPECT_NE(parse_error("frame.len == 18446744073709551616").find("out of range"), std::string::npos);
  EXPECT_EQ(parse_error("frame.len == 18446744073709551615"), "(no error)");
  EXPECT_NE(parse_error("== 3").find("expected a field name"), std::string::npos);
  EXPECT_NE(parse_error("!").find("end of expression"), std::string::npos);
  EXPECT_NE(parse_error("udp.dport == 53").find("(no error)"), std::string::npos);
  EXPECT_NE(parse_error("tcp.flags.syn &&").find("filter \"tcp.flags.syn &&\""), std::string::npos)
      << "the message quotes the whole expression";
}

TEST(FrameFilter, RandomBytesNeverCrashOrReadOutOfBounds) {
  // Every field at once, over frames built to get past each layer's checks and then mangled: the
  // parsers see valid headers with garbage lengths, truncations and option lists.
  std::string all;
  for (const char* f :
       {"frame.len", "eth.dst", "eth.src", "eth.type", "eth.bcast", "eth.mcast", "arp", "arp.op", "arp.spa",
        "arp.tpa", "arp.sha", "ip", "ip.src", "ip.dst", "ip.proto", "ip.ttl", "ip.id", "ip.len", "ip.frag",
        "icmp", "icmp.type", "icmp.code", "igmp", "udp", "udp.sport", "udp.dport", "udp.port", "udp.len",
        "tcp", "tcp.sport", "tcp.dport", "tcp.port", "tcp.seq", "tcp.ack", "tcp.win", "tcp.len", "tcp.flags",
        "tcp.flags.syn", "tcp.flags.ack", "tcp.flags.fin", "tcp.flags.rst", "tcp.flags.psh", "tcp.flags.urg",
        "tcp.mss", "dhcp", "dhcp.type", "dhcp.xid", "dns", "dns.id", "dns.qr", "dns.rcode"})
    all += (all.empty() ? "" : " && ") + std::string(f) + " >= 0";
  const auto every = frame_filter::parse(all);
  const auto any = frame_filter::parse("(" + all + ") || udp.port == 7 || dhcp || dns || tcp.mss");
  const std::vector<octets> seeds = {udp(1, 2), tcp(TCP_SYN, 1, 2, 0, 1460), arp(1), icmp_echo(),
                                     igmp_report(), dhcp(3, 7), dns(1, true, 0)};
  rng r(42);
  int matched = 0;
  for (int i = 0; i < 20000; ++i) {
    octets f = seeds[r.below(seeds.size())];
    const auto flips = r.below(6);
    for (std::uint64_t k = 0; k < flips; ++k) f[r.below(f.size())] = r.byte();
    // Truncate to an exact-size heap buffer so a sanitizer build catches any overread.
    f.resize(r.below(f.size() + 1));
    octets exact(f.begin(), f.end());
    exact.shrink_to_fit();
    (void)every(exact.data(), exact.size());
    matched += any(exact) ? 1 : 0;
  }
  EXPECT_GT(matched, 0);
  EXPECT_LT(matched, 20000);
  // Pure noise as well, including the empty frame.
  for (int i = 0; i < 5000; ++i) {
    octets f(r.below(80));
    for (auto& b : f) b = r.byte();
    (void)every(f);
    (void)any(f);
  }
  EXPECT_FALSE(every(nullptr, 0));
}
