// Independent check of the engine's frames: drive a chip through a workload that makes it send every kind
// of frame it can, capture both directions into a pcap file, and let tshark (Wireshark's dissectors, with
// IP/UDP/TCP checksum validation on) judge them. Any malformed packet, bad checksum or expert warning/error
// fails the test. Without tshark on PATH the test is skipped, except under CI (CI=true), where it fails.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "net_fixture.hpp"
#include "tshark_util.hpp"
#include "wizsim/pcap.hpp"

using namespace wizsim;
using namespace wizsim::test;

namespace {

constexpr ip4_addr group_ip = ip4(239, 1, 2, 3);
const mac_addr group_mac{0x01, 0x00, 0x5E, 0x01, 0x02, 0x03};
const mac_addr all_hosts_mac{0x01, 0x00, 0x5E, 0x00, 0x00, 0x01};

constexpr std::uint16_t MR = 0x00;
constexpr std::uint16_t Sn_PORT = 0x04, Sn_DHAR = 0x06, Sn_DIPR = 0x0C, Sn_DPORT = 0x10, Sn_MSSR = 0x12,
                        Sn_TX_WR = 0x24, Sn_RX_RSR = 0x26, Sn_RX_RD = 0x28;
constexpr std::uint8_t MULTI = 0x80, MR_ND = 0x20;
constexpr std::uint16_t ethertype_local = 0x88B5;  // IEEE local experimental ethertype 1



// ---- the bench ------------------------------------------------------------------------------------------

// A chip on a wire that records both directions: frames the chip sends (stamped when their last bit left,
// as a capturing NIC would) and frames the test injects (stamped when they arrive).
struct wire_bench : net_bench {
  explicit wire_bench(const std::string& pcap_path) : pcap(pcap_path) {
    tap = [this](const w5500::wire_frame& f) { pcap.write(f.data, f.end); };
  }
  pcap_writer pcap;
  std::size_t injected = 0;

  void inject(const octets& frame) {
    pcap.write(frame, sched.now());
    ++injected;
    chip.receive(frame);
  }
  // Consumes everything received on socket n (RX_RD += RSR, RECV), as a driver does.
  void drain(int n) {
    const std::uint16_t rsr = sock16(n, Sn_RX_RSR);
    if (rsr == 0) return;
    set_sock16(n, Sn_RX_RD, static_cast<std::uint16_t>(sock16(n, Sn_RX_RD) + rsr));
    ASSERT_TRUE(host.command(n, Sn_CR_RECV));
  }
  // Answers the chip's last frame if it is an ARP request for `ip`.
  void answer_arp(ip4_addr ip, const mac_addr& mac) {
    ASSERT_FALSE(out.empty());
    const octets& f = out.back().data;
    auto eth = parse_eth(f.data(), f.size());
    ASSERT_TRUE(eth && eth->ethertype == ethertype_arp);
    auto arp = parse_arp(eth->payload, eth->payload_len);
    ASSERT_TRUE(arp && arp->op == arp_request && arp->tpa == ip);
    inject(build_eth(chip_mac, mac, ethertype_arp, build_arp(arp_reply, mac, ip, chip_mac, chip_ip)));
  }
  // The last TCP segment the chip sent.
  tcp_view last_tcp() {
    const octets& f = out.back().data;
    auto eth = parse_eth(f.data(), f.size());
    auto ip = parse_ipv4(eth->payload, eth->payload_len);
    auto seg = parse_tcp(ip->payload, ip->payload_len, ip->h.src, ip->h.dst);
    EXPECT_TRUE(seg.has_value());
    return *seg;
  }
  void peer_tcp(std::uint16_t sport, std::uint16_t dport, std::uint8_t flags, std::uint32_t seq,
                std::uint32_t ack, const octets& payload = {},
                std::optional<std::uint16_t> mss = std::nullopt) {
    tcp_fields h;
    h.src_port = sport;
    h.dst_port = dport;
    h.seq = seq;
    h.ack = ack;
    h.flags = flags;
    h.window = 8192;
    h.mss = mss;
    inject(tcp_frame(chip_mac, peer_mac, ip_hdr(peer_ip, chip_ip), h, payload));
  }
};

// What kind of frame the chip sent, for the coverage check.
std::string classify(const octets& f) {
  auto eth = parse_eth(f.data(), f.size());
  if (!eth) return "unparseable";
  if (eth->ethertype == ethertype_local) return "macraw";
  if (eth->ethertype == ethertype_arp) {
    auto arp = parse_arp(eth->payload, eth->payload_len);
    return !arp ? "bad arp" : arp->op == arp_request ? "arp request" : "arp reply";
  }
  if (eth->ethertype != ethertype_ipv4) return "other ethertype";
  auto ip = parse_ipv4(eth->payload, eth->payload_len);
  if (!ip) return "bad ipv4";
  switch (ip->h.proto) {
    case ip_proto_icmp: {
      auto icmp = parse_icmp(ip->payload, ip->payload_len);
      if (!icmp) return "bad icmp";
      if (icmp->type == 0) return "icmp echo reply";
      if (icmp->type == 3 && icmp->code == 3) return "icmp port unreachable";
      return "icmp other";
    }
    case ip_proto_igmp:
      return ip->payload_len >= 1 && ip->payload[0] == 0x17 ? "igmp leave" : "igmp report";
    case ip_proto_udp: {
      auto udp = parse_udp(ip->payload, ip->payload_len, ip->h.src, ip->h.dst);
      if (!udp) return "bad udp";
      if ((ip->h.dst >> 28) == 0xE) return "udp multicast";
      if (eth->dst == broadcast_mac)
        return udp->payload_len == 1472 ? "udp broadcast mss-sized" : "udp broadcast";
      return "udp unicast";
    }
    case ip_proto_tcp: {
      auto tcp = parse_tcp(ip->payload, ip->payload_len, ip->h.src, ip->h.dst);
      if (!tcp) return "bad tcp";
      const std::uint8_t fl = tcp->h.flags;
      if (fl & TCP_RST) return "tcp rst";
      if (fl & TCP_SYN) return fl & TCP_ACK ? "tcp syn-ack" : "tcp syn";
      if (fl & TCP_FIN) return "tcp fin";
      return tcp->payload_len > 0 ? "tcp data" : "tcp ack";
    }
    default:
      return "ip other";
  }
}

// Drives the chip through every kind of frame its engine sends. Each step mirrors a test in net_test.cpp,
// tcp_test.cpp or net_multicast_test.cpp, which check the exact bytes; here only validity matters. Ports
// are unregistered ones (400xx) so that tshark decodes payloads as data instead of running DNS, DHCP or
// mDNS dissectors over test bytes (which would report them as malformed).
void workload(wire_bench& b) {
  // ARP reply: a peer asks for our address.
  b.inject(build_eth(broadcast_mac, peer_mac, ethertype_arp,
                     build_arp(arp_request, peer_mac, peer_ip, mac_addr{}, chip_ip)));
  b.settle();

  // UDP unicast after ARP (ARP request, then the datagram); then a datagram in, read and RECV'd.
  b.set_sock16(1, Sn_PORT, 5000);
  ASSERT_TRUE(b.open(1, Sn_MR_UDP));
  b.set_dest(1, peer_ip, 6000);
  b.send(1, payload_of(100));
  b.settle(us(100));
  b.answer_arp(peer_ip, peer_mac);
  b.settle();
  b.inject(udp_frame(chip_mac, peer_mac, ip_hdr(peer_ip, chip_ip, 1), 6000, 5000, payload_of(33)));
  b.drain(1);
  // Off-link destination: ARP for the gateway, datagram to the router's MAC.
  b.set_dest(1, ip4(10, 9, 8, 7), 40053);
  b.send(1, payload_of(20));
  b.settle(us(100));
  b.answer_arp(router_ip, router_mac);
  b.settle();
  // SEND_MAC: to Sn_DHAR without ARP.
  b.host.write(bsb_socket(1), Sn_DHAR, peer_mac.data(), 6);
  b.set_dest(1, peer_ip, 6001);
  b.send(1, payload_of(8), Sn_CR_SEND_MAC);
  b.settle();

  // UDP broadcast (limited and directed), a send split over the MSS, and one over a smaller Sn_MSSR.
  b.set_sock16(0, Sn_PORT, 40068);
  ASSERT_TRUE(b.open(0, Sn_MR_UDP));
  b.set_dest(0, ip4(255, 255, 255, 255), 40067);
  b.send(0, payload_of(300));
  b.set_dest(0, ip4(192, 168, 1, 255), 9);
  b.send(0, payload_of(5));
  b.settle();
  b.set_dest(0, ip4(255, 255, 255, 255), 7);
  b.send(0, payload_of(2000));
  b.settle();
  b.set_sock16(0, Sn_MSSR, 500);
  b.send(0, payload_of(1200));
  b.settle();
  ASSERT_TRUE(b.host.command(0, Sn_CR_CLOSE));

  // ICMP echo reply, then an echo request with an odd-sized payload.
  b.inject(icmp_frame(chip_mac, peer_mac, ip_hdr(peer_ip, chip_ip, 9), 8, 0, 0x12340001, payload_of(32)));
  b.settle();
  b.inject(icmp_frame(chip_mac, peer_mac, ip_hdr(peer_ip, chip_ip, 10), 8, 0, 0x12340002, payload_of(1001)));
  b.settle();
  // ICMP port unreachable for a datagram to a closed port.
  b.inject(udp_frame(chip_mac, peer_mac, ip_hdr(peer_ip, chip_ip, 11), 40111, 40222, payload_of(20)));
  b.settle();

  // MACRAW send on socket 0: a short frame (padded to 60 by the chip) and a full-size one.
  ASSERT_TRUE(b.open(0, Sn_MR_MACRAW));
  b.send(0, build_eth(peer_mac, chip_mac, ethertype_local, payload_of(20), /*pad=*/false));
  b.settle();
  b.send(0, build_eth(peer_mac, chip_mac, ethertype_local, payload_of(1500), /*pad=*/false));
  b.settle();
  ASSERT_TRUE(b.host.command(0, Sn_CR_CLOSE));

  // TCP client: CONNECT (SYN with MSS), handshake, data both ways, delayed and immediate ACKs, active close.
  constexpr std::uint16_t cport = 40000, sport = 80;
  b.set_sock16(2, Sn_PORT, cport);
  ASSERT_TRUE(b.open(2, Sn_MR_TCP));
  b.set_dest(2, peer_ip, sport);
  ASSERT_TRUE(b.host.command(2, Sn_CR_CONNECT));
  b.settle(us(20));
  if (classify(b.out.back().data) == "arp request") {  // the ARP cache may be per socket
    b.answer_arp(peer_ip, peer_mac);
    b.settle(us(20));
  }
  ASSERT_EQ(classify(b.out.back().data), "tcp syn");
  const std::uint32_t iss = b.last_tcp().h.seq;
  std::uint32_t pseq = 70000;
  b.peer_tcp(sport, cport, TCP_SYN | TCP_ACK, pseq++, iss + 1, {}, 1460);
  b.settle(us(20));
  ASSERT_EQ(b.chip.socket_status(2), SOCK_ESTABLISHED);
  b.send(2, payload_of(3000, 5));  // MSS split: 1460 + 1460 + 80
  b.settle(ms(1));
  b.peer_tcp(sport, cport, TCP_ACK, pseq, iss + 1 + 3000);
  b.peer_tcp(sport, cport, TCP_ACK | TCP_PSH, pseq, iss + 1 + 3000, payload_of(50, 1));
  pseq += 50;
  b.settle(ms(300));  // delayed ACK after RTR
  b.drain(2);         // RECV: window update
  b.settle(ms(1));
  ASSERT_TRUE(b.host.command(2, Sn_CR_DISCON));
  b.settle(us(20));
  b.peer_tcp(sport, cport, TCP_ACK, pseq, iss + 2 + 3000);
  b.peer_tcp(sport, cport, TCP_FIN | TCP_ACK, pseq, iss + 2 + 3000);
  ++pseq;
  b.settle(us(20));
  EXPECT_EQ(b.chip.socket_status(2), SOCK_CLOSED);

  // TCP server with ND: LISTEN, SYN in, SYN-ACK out, data in and acknowledged at once, passive close.
  b.set_sock16(3, Sn_PORT, 8080);
  ASSERT_TRUE(b.open(3, static_cast<std::uint8_t>(Sn_MR_TCP | MR_ND)));
  ASSERT_TRUE(b.host.command(3, Sn_CR_LISTEN));
  std::uint32_t cseq = 900000;
  b.peer_tcp(41000, 8080, TCP_SYN, cseq++, 0, {}, 1400);
  b.settle(us(20));
  ASSERT_EQ(classify(b.out.back().data), "tcp syn-ack");
  const std::uint32_t siss = b.last_tcp().h.seq;
  b.peer_tcp(41000, 8080, TCP_ACK, cseq, siss + 1);
  b.peer_tcp(41000, 8080, TCP_ACK | TCP_PSH, cseq, siss + 1, payload_of(200, 9));
  cseq += 200;
  b.settle(us(20));
  b.send(3, payload_of(10, 4));
  b.settle(us(20));
  b.peer_tcp(41000, 8080, TCP_FIN | TCP_ACK, cseq++, siss + 11);
  b.settle(us(20));
  ASSERT_TRUE(b.host.command(3, Sn_CR_DISCON));
  b.settle(us(20));
  b.peer_tcp(41000, 8080, TCP_ACK, cseq, siss + 12);
  b.settle(us(20));
  EXPECT_EQ(b.chip.socket_status(3), SOCK_CLOSED);
  // RST|ACK for a SYN to a port nobody listens on.
  b.peer_tcp(41001, 81, TCP_SYN, 5555, 0, {}, 1460);
  b.settle(us(20));

  // Multicast: IGMPv2 report on OPEN, report answering a general query, a datagram to the group, leave on
  // CLOSE.
  b.host.write(bsb_socket(4), Sn_DHAR, group_mac.data(), 6);
  b.set_dest(4, group_ip, 40353);
  b.set_sock16(4, Sn_PORT, 40353);
  ASSERT_TRUE(b.open(4, static_cast<std::uint8_t>(Sn_MR_UDP | MULTI)));
  b.settle();
  {
    octets q(8, 0);
    q[0] = 0x11;
    q[1] = 100;
    put16(q.data() + 2, inet_checksum(q.data(), q.size()));
    ipv4_fields h = ip_hdr(router_ip, ip4(224, 0, 0, 1), 0x4242, 1);
    h.proto = ip_proto_igmp;
    h.options = {0x94, 0x04, 0x00, 0x00};
    b.inject(build_eth(all_hosts_mac, router_mac, ethertype_ipv4, build_ipv4(h, q)));
  }
  b.settle(seconds(11));
  b.send(4, payload_of(64, 2));
  b.settle();
  ASSERT_TRUE(b.host.command(4, Sn_CR_CLOSE));
  b.settle();
}

}  // namespace

TEST(wire_validity, every_frame_kind_the_engine_sends_passes_tshark_with_checksums_checked) {
  const scoped_capture capture{temp_path("wire.pcap")};
  const std::string& path = capture.path;
  std::size_t records = 0;
  {
    wire_bench b(path);
    workload(b);
    if (HasFatalFailure()) return;
    records = b.pcap.records();
    ASSERT_EQ(records, b.out.size() + b.injected);

    // Coverage: every kind of frame the engine can send appeared at least once.
    std::map<std::string, int> kinds;
    for (const auto& f : b.out) ++kinds[classify(f.data)];
    const std::set<std::string> expected{"arp request",
                                         "arp reply",
                                         "udp unicast",
                                         "udp broadcast",
                                         "udp broadcast mss-sized",
                                         "icmp echo reply",
                                         "icmp port unreachable",
                                         "macraw",
                                         "tcp syn",
                                         "tcp syn-ack",
                                         "tcp data",
                                         "tcp ack",
                                         "tcp fin",
                                         "tcp rst",
                                         "igmp report",
                                         "igmp leave",
                                         "udp multicast"};
    std::string seen;
    for (const auto& [k, n] : kinds) seen += k + " x" + std::to_string(n) + ", ";
    for (const std::string& k : expected)
      EXPECT_EQ(kinds.count(k), 1u) << "no '" << k << "' frame; sent: " << seen;
    for (const auto& [k, n] : kinds) EXPECT_EQ(expected.count(k), 1u) << "unexpected kind '" << k << "'";
  }

  REQUIRE_TSHARK(tshark);
  const std::string base = tshark_base(tshark, path);
  const std::string err_path = path + ".stderr";

  // 1. tshark reads every record and dissects it down to the expected protocols.
  const run_result all = run(base + " -T fields -e frame.number -e frame.protocols", err_path);
  ASSERT_EQ(all.exit_code, 0) << all.err << all.out;
  EXPECT_EQ(count_lines(all.out), records) << all.out;
  for (const char* proto : {":arp", ":ip:icmp", ":ip:udp", ":ip:tcp", ":ip:igmp", "eth:ethertype:data"}) {
    EXPECT_NE(all.out.find(proto), std::string::npos) << "tshark saw no " << proto << " packet:\n" << all.out;
  }

  // 2. Nothing malformed, no bad checksum, no expert warning or error.
  const run_result bad = tshark_flagged(tshark, path);
  ASSERT_EQ(bad.exit_code, 0) << "tshark failed:\n" << bad.err << bad.out;
  EXPECT_TRUE(bad.out.empty()) << "tshark flagged these packets in " << path << ":\n"
                               << bad.out << "\nexpert details:\n"
                               << run(base + " -q -z expert,warn", err_path).out;
  EXPECT_EQ(bad.err, "") << "tshark complained";
}

// The check itself is only worth something if it catches broken frames: feed it some and see them flagged.
TEST(wire_validity, tshark_check_flags_bad_checksums_malformed_frames_and_warnings) {
  REQUIRE_TSHARK(tshark);
  const scoped_capture capture{temp_path("negative.pcap")};
  const std::string& path = capture.path;
  const ipv4_fields h = ip_hdr(peer_ip, chip_ip, 1);
  // (frame, should be flagged); good frames sit between the bad ones.
  std::vector<std::pair<octets, bool>> frames;
  const octets good = udp_frame(chip_mac, peer_mac, h, 40001, 40002, payload_of(20));
  const auto add_bad = [&](const octets& f) {
    frames.emplace_back(good, false);
    frames.emplace_back(f, true);
  };
  octets f = udp_frame(chip_mac, peer_mac, h, 40001, 40002, payload_of(20));
  f[14 + 20 + 8] ^= 0x01;  // payload byte: UDP checksum wrong
  add_bad(f);
  f = udp_frame(chip_mac, peer_mac, h, 40001, 40002, payload_of(20));
  f[14 + 10] ^= 0xFF;  // IP header checksum wrong
  add_bad(f);
  tcp_fields t;
  t.src_port = 40001;
  t.dst_port = 40002;
  t.seq = 1;
  t.flags = TCP_SYN;
  t.window = 1000;
  f = tcp_frame(chip_mac, peer_mac, h, t, {});
  f[14 + 20 + 16] ^= 0x01;  // TCP checksum wrong
  add_bad(f);
  t.flags = TCP_RST | TCP_ACK;
  f = tcp_frame(chip_mac, peer_mac, h, t, {});
  f[14 + 20 + 16] ^= 0x01;  // an RST with a wrong checksum: the RST excuse covers warnings only
  add_bad(f);
  f = icmp_frame(chip_mac, peer_mac, h, 0, 0, 0x00010001, payload_of(8));
  f[14 + 20 + 2] ^= 0x01;  // ICMP checksum wrong
  add_bad(f);
  ipv4_fields short_tcp = h;
  short_tcp.proto = ip_proto_tcp;  // a TCP "header" of 6 bytes: malformed
  add_bad(build_eth(chip_mac, peer_mac, ethertype_ipv4, build_ipv4(short_tcp, payload_of(6))));
  // Valid frames that only draw an expert warning: a handshake, then an ACK for data never sent.
  tcp_fields c;
  c.src_port = 40010;
  c.dst_port = 40011;
  c.seq = 100;
  c.flags = TCP_SYN;
  c.window = 1000;
  frames.emplace_back(tcp_frame(peer_mac, chip_mac, ip_hdr(chip_ip, peer_ip), c, {}), false);
  tcp_fields p = c;
  std::swap(p.src_port, p.dst_port);
  p.seq = 500;
  p.ack = 101;
  p.flags = TCP_SYN | TCP_ACK;
  frames.emplace_back(tcp_frame(chip_mac, peer_mac, h, p, {}), false);
  p.seq = 501;
  p.ack = 5101;
  p.flags = TCP_ACK;
  frames.emplace_back(tcp_frame(chip_mac, peer_mac, h, p, {}), true);  // "ACKed segment that wasn't captured"

  std::vector<std::size_t> expect;  // frame numbers, from 1
  {
    pcap_writer w(path);
    ps_t at = 0;
    for (const auto& [frame, is_bad] : frames) {
      w.write(frame, at += us(10));
      if (is_bad) expect.push_back(w.records());
    }
  }
  const run_result flagged = tshark_flagged(tshark, path);
  ASSERT_EQ(flagged.exit_code, 0) << flagged.err << flagged.out;
  std::vector<std::size_t> got;
  std::stringstream lines(flagged.out);
  std::size_t number = 0;
  while (lines >> number) {
    got.push_back(number);
    lines.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  EXPECT_EQ(got, expect) << "tshark flagged:\n" << flagged.out;
}
