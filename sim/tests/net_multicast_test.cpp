// UDP multicast (IGMP join / leave / query answers, group receive filter, UCASTB, sends to the group) and
// Wake-on-LAN, in lwIP's unit-test style: craft the exact frame in, assert the exact frame out (bytes and
// virtual times) plus register and interrupt state. Spec §3.1, §3.2, §4.1, §6.2, §6.5, U26.
#include <gtest/gtest.h>

#include <vector>

#include "net_fixture.hpp"

using namespace wizsim;
using namespace wizsim::test;

namespace {

constexpr ip4_addr group_a = ip4(239, 1, 2, 3);
const mac_addr group_a_mac{0x01, 0x00, 0x5E, 0x01, 0x02, 0x03};
constexpr ip4_addr group_b = ip4(224, 5, 6, 7);
const mac_addr group_b_mac{0x01, 0x00, 0x5E, 0x05, 0x06, 0x07};
constexpr ip4_addr all_hosts = ip4(224, 0, 0, 1);
const mac_addr all_hosts_mac{0x01, 0x00, 0x5E, 0x00, 0x00, 0x01};
constexpr ip4_addr all_routers = ip4(224, 0, 0, 2);
const mac_addr all_routers_mac{0x01, 0x00, 0x5E, 0x00, 0x00, 0x02};

constexpr std::uint16_t MR = 0x00, IR = 0x15, IMR = 0x16;
constexpr std::uint16_t Sn_MR = 0x00, Sn_CR = 0x01, Sn_IR = 0x02, Sn_SR = 0x03, Sn_PORT = 0x04, Sn_DHAR = 0x06,
                        Sn_DIPR = 0x0C, Sn_DPORT = 0x10, Sn_TOS = 0x15, Sn_TX_RD = 0x22, Sn_TX_WR = 0x24,
                        Sn_RX_RSR = 0x26, Sn_RX_RD = 0x28;
constexpr std::uint8_t MULTI = 0x80, MC_V1 = 0x20, UCASTB = 0x10;
constexpr std::uint8_t MR_WOL = 0x20;

struct mc_bench : net_bench {

  // What ioLibrary's socket(Sn_MR_UDP | Sn_MR_MULTI) needs before OPEN: group IP, port and MAC.
  void set_group(int n, ip4_addr group, const mac_addr& mac, std::uint16_t port, std::uint16_t dport) {
    std::uint8_t b[4];
    put32(b, group);
    host.write(bsb_socket(n), Sn_DIPR, b, 4);
    set_sock16(n, Sn_DPORT, dport);
    host.write(bsb_socket(n), Sn_DHAR, mac.data(), 6);
    set_sock16(n, Sn_PORT, port);
  }
  void mc_open(int n, ip4_addr group, const mac_addr& mac, std::uint16_t port, std::uint8_t flags = 0) {
    set_group(n, group, mac, port, port);
    ASSERT_TRUE(open(n, static_cast<std::uint8_t>(Sn_MR_UDP | MULTI | flags)));
    settle();
  }
  // A command written straight to the register port (no SPI time), so the wire time is exact: the chip
  // executes it command_latency_ps later. Returns the time the command was written.
  ps_t command_now(int n, std::uint8_t cmd) {
    const ps_t t = sched.now();
    chip.write(bsb_socket(n), Sn_CR, cmd);
    return t;
  }
};



octets igmp_message(std::uint8_t type, std::uint8_t max_resp, ip4_addr group) {
  octets m(8, 0);
  m[0] = type;
  m[1] = max_resp;
  put32(m.data() + 4, group);
  put16(m.data() + 2, inet_checksum(m.data(), m.size()));
  return m;
}

// An IGMP frame as RFC 2236 wants it (and the chip sends it): TTL 1, Router Alert, so a 24-byte IP header.
octets igmp_frame(const mac_addr& dst_mac, const mac_addr& src_mac, ip4_addr src, ip4_addr dst, std::uint16_t id,
                  std::uint8_t type, std::uint8_t max_resp, ip4_addr group, std::uint8_t tos = 0) {
  ipv4_fields h;
  h.src = src;
  h.dst = dst;
  h.proto = ip_proto_igmp;
  h.ttl = 1;
  h.tos = tos;
  h.id = id;
  h.frag = 0x4000;
  h.options = {0x94, 0x04, 0x00, 0x00};
  return build_eth(dst_mac, src_mac, ethertype_ipv4, build_ipv4(h, igmp_message(type, max_resp, group)));
}

octets chip_report(ip4_addr group, const mac_addr& mac, std::uint16_t id, std::uint8_t type = 0x16) {
  return igmp_frame(mac, chip_mac, chip_ip, group, id, type, 0, group);
}
octets chip_leave(ip4_addr group, std::uint16_t id) {
  return igmp_frame(all_routers_mac, chip_mac, chip_ip, all_routers, id, 0x17, 0, group);
}
octets general_query(std::uint8_t max_resp = 100) {
  return igmp_frame(all_hosts_mac, router_mac, router_ip, all_hosts, 0x4242, 0x11, max_resp, 0);
}

octets rx_record(ip4_addr src, std::uint16_t sport, const octets& data) {
  octets r(8);
  put32(r.data(), src);
  put16(r.data() + 4, sport);
  put16(r.data() + 6, static_cast<std::uint16_t>(data.size()));
  r.insert(r.end(), data.begin(), data.end());
  return r;
}

octets magic_payload(const mac_addr& mac, std::size_t prefix = 0) {
  octets p = payload_of(prefix, 3);
  p.insert(p.end(), 6, 0xFF);
  for (int i = 0; i < 16; ++i) p.insert(p.end(), mac.begin(), mac.end());
  return p;
}

}  // namespace

// ---- join ---------------------------------------------------------------------------------------------------

TEST(net_multicast, open_sends_an_exact_igmpv2_report_to_the_group) {
  mc_bench b;
  b.set_group(2, group_a, group_a_mac, 5000, 5000);
  b.chip.write(bsb_socket(2), Sn_MR, Sn_MR_UDP | MULTI);
  const ps_t t0 = b.command_now(2, Sn_CR_OPEN);
  b.settle();
  ASSERT_EQ(b.out.size(), 1u);
  const octets expect = chip_report(group_a, group_a_mac, 0, 0x16);
  EXPECT_EQ(b.out[0].data, expect);
  // Spot-check the layout the builders produced: 24-byte IP header with TTL 1 and Router Alert.
  ASSERT_EQ(expect.size(), 60u);
  EXPECT_EQ(expect[14], 0x46);
  EXPECT_EQ(expect[22], 1);
  EXPECT_EQ(expect[23], ip_proto_igmp);
  EXPECT_EQ(octets(expect.begin() + 34, expect.begin() + 38), octets({0x94, 0x04, 0x00, 0x00}));
  EXPECT_EQ(expect[38], 0x16);
  EXPECT_EQ(b.out[0].start, t0 + b.chip.config().quirk.command_latency_ps);
  EXPECT_EQ(b.out[0].end - b.out[0].start, ns(6720));
  EXPECT_EQ(b.sock(2, Sn_SR), SOCK_UDP);
  EXPECT_EQ(b.sock(2, Sn_IR), 0) << "the join raises no socket interrupt";
}

TEST(net_multicast, open_with_mc_set_sends_an_igmpv1_report) {
  mc_bench b;
  b.set_group(0, group_b, group_b_mac, 6000, 6000);
  b.chip.write(bsb_socket(0), Sn_MR, Sn_MR_UDP | MULTI | MC_V1);
  const ps_t t0 = b.command_now(0, Sn_CR_OPEN);
  b.settle();
  ASSERT_EQ(b.out.size(), 1u);
  EXPECT_EQ(b.out[0].data, chip_report(group_b, group_b_mac, 0, 0x12));
  EXPECT_EQ(b.out[0].start, t0 + b.chip.config().quirk.command_latency_ps);
}

TEST(net_multicast, report_carries_the_socket_tos) {
  mc_bench b;
  b.set_sock(1, Sn_TOS, 0x28);
  b.mc_open(1, group_a, group_a_mac, 5000);
  ASSERT_EQ(b.out.size(), 1u);
  EXPECT_EQ(b.out[0].data, igmp_frame(group_a_mac, chip_mac, chip_ip, group_a, 0, 0x16, 0, group_a, 0x28));
}

TEST(net_multicast, plain_udp_open_and_close_send_no_igmp) {
  mc_bench b;
  b.set_group(1, group_a, group_a_mac, 5000, 5000);
  ASSERT_TRUE(b.open(1, Sn_MR_UDP));
  ASSERT_TRUE(b.host.command(1, Sn_CR_CLOSE));
  b.settle();
  EXPECT_TRUE(b.out.empty());
}

// ---- leave --------------------------------------------------------------------------------------------------

TEST(net_multicast, close_sends_an_exact_igmpv2_leave_to_all_routers) {
  mc_bench b;
  b.mc_open(3, group_a, group_a_mac, 5000);
  ASSERT_EQ(b.out.size(), 1u);
  b.out.clear();
  const ps_t t0 = b.command_now(3, Sn_CR_CLOSE);
  b.settle();
  ASSERT_EQ(b.out.size(), 1u);
  EXPECT_EQ(b.out[0].data, chip_leave(group_a, 1));
  EXPECT_EQ(b.out[0].start, t0 + b.chip.config().quirk.command_latency_ps);
  EXPECT_EQ(b.sock(3, Sn_SR), SOCK_CLOSED);
  // A second CLOSE on the closed socket sends nothing more.
  ASSERT_TRUE(b.host.command(3, Sn_CR_CLOSE));
  b.settle();
  EXPECT_EQ(b.out.size(), 1u);
}

TEST(net_multicast, close_of_an_igmpv1_socket_sends_nothing) {
  mc_bench b;
  b.mc_open(3, group_a, group_a_mac, 5000, MC_V1);
  ASSERT_EQ(b.out.size(), 1u);
  ASSERT_TRUE(b.host.command(3, Sn_CR_CLOSE));
  b.settle();
  EXPECT_EQ(b.out.size(), 1u);
  EXPECT_EQ(b.sock(3, Sn_SR), SOCK_CLOSED);
}

TEST(net_multicast, reopen_leaves_the_old_group_then_joins_the_new_one) {
  mc_bench b;
  b.mc_open(0, group_a, group_a_mac, 5000);
  b.set_group(0, group_b, group_b_mac, 5000, 5000);
  ASSERT_TRUE(b.host.command(0, Sn_CR_OPEN));
  b.settle();
  ASSERT_EQ(b.out.size(), 3u);
  EXPECT_EQ(b.out[0].data, chip_report(group_a, group_a_mac, 0));
  EXPECT_EQ(b.out[1].data, chip_leave(group_a, 1));
  EXPECT_EQ(b.out[2].data, chip_report(group_b, group_b_mac, 2));
}

TEST(net_multicast, software_reset_forgets_groups_without_a_leave) {
  mc_bench b;
  b.mc_open(0, group_a, group_a_mac, 5000);
  b.out.clear();
  b.set_common(MR, 0x80);
  b.settle(ms(10));
  EXPECT_TRUE(b.out.empty());
  EXPECT_EQ(b.sock(0, Sn_SR), SOCK_CLOSED);
}

// ---- queries ------------------------------------------------------------------------------------------------

TEST(net_multicast, general_query_is_answered_at_once_with_an_exact_report_per_group) {
  mc_bench b;
  b.mc_open(1, group_a, group_a_mac, 5000);
  b.mc_open(4, group_b, group_b_mac, 6000, MC_V1);
  b.mc_open(5, group_a, group_a_mac, 5001);  // same group on a second socket: reported once
  ASSERT_EQ(b.out.size(), 3u);
  b.out.clear();
  const ps_t t0 = b.sched.now();
  b.chip.receive(general_query());
  b.settle();
  ASSERT_EQ(b.out.size(), 2u);
  EXPECT_EQ(b.out[0].data, chip_report(group_a, group_a_mac, 3, 0x16));
  EXPECT_EQ(b.out[1].data, chip_report(group_b, group_b_mac, 4, 0x12)) << "in the version the socket joined with";
  EXPECT_EQ(b.out[0].start, t0) << "query-driven, no Max Resp Time delay";
  EXPECT_EQ(b.out[1].start, b.out[0].end);
  // Nothing unsolicited afterwards (no periodic reports, U26).
  b.settle(ms(300'000));
  EXPECT_EQ(b.out.size(), 2u);
}

TEST(net_multicast, group_specific_query_is_answered_only_for_that_group) {
  mc_bench b;
  b.mc_open(1, group_a, group_a_mac, 5000);
  b.mc_open(2, group_b, group_b_mac, 6000);
  b.out.clear();
  b.chip.receive(igmp_frame(group_b_mac, router_mac, router_ip, group_b, 7, 0x11, 10, group_b));
  b.settle();
  ASSERT_EQ(b.out.size(), 1u);
  EXPECT_EQ(b.out[0].data, chip_report(group_b, group_b_mac, 2));
  // A query for a group nobody joined (its MAC is filtered) and one sent to a joined group's MAC but naming
  // another group are both ignored; so are other hosts' reports.
  b.chip.receive(igmp_frame(mac_addr{0x01, 0x00, 0x5E, 0x09, 0x09, 0x09}, router_mac, router_ip, ip4(239, 9, 9, 9), 8,
                            0x11, 10, ip4(239, 9, 9, 9)));
  b.chip.receive(igmp_frame(group_a_mac, router_mac, router_ip, group_a, 9, 0x11, 10, ip4(239, 9, 9, 9)));
  b.chip.receive(igmp_frame(group_a_mac, peer_mac, peer_ip, group_a, 10, 0x16, 0, group_a));
  b.settle();
  EXPECT_EQ(b.out.size(), 1u);
}

TEST(net_multicast, queries_are_ignored_without_a_joined_group_or_with_a_bad_checksum) {
  mc_bench b;
  ASSERT_TRUE(b.open(0, Sn_MR_UDP));
  b.chip.receive(general_query());
  b.settle();
  EXPECT_TRUE(b.out.empty());
  b.mc_open(1, group_a, group_a_mac, 5000);
  b.out.clear();
  octets bad = general_query();
  bad[14 + 24 + 2] ^= 0x01;  // IGMP checksum
  b.chip.receive(bad);
  b.settle();
  EXPECT_TRUE(b.out.empty());
  b.chip.receive(general_query());
  b.settle();
  EXPECT_EQ(b.out.size(), 1u);
}

// ---- receive ------------------------------------------------------------------------------------------------

TEST(net_multicast, datagram_to_the_joined_group_is_received) {
  mc_bench b;
  b.mc_open(2, group_a, group_a_mac, 5000);
  const octets data = payload_of(40);
  b.chip.receive(udp_frame(group_a_mac, peer_mac, ip_hdr(peer_ip, group_a, 5, 1), 4321, 5000, data));
  EXPECT_EQ(b.sock(2, Sn_IR), Sn_IR_RECV);
  EXPECT_EQ(b.sock16(2, Sn_RX_RSR), 8 + 40);
  EXPECT_EQ(b.rx_read(2, 48), rx_record(peer_ip, 4321, data));
  b.settle();
  EXPECT_EQ(b.out.size(), 1u) << "only the join; nothing answers a multicast datagram";
}

TEST(net_multicast, datagram_for_a_group_not_joined_is_ignored) {
  mc_bench b;
  b.mc_open(2, group_a, group_a_mac, 5000);
  ASSERT_TRUE(b.open(3, Sn_MR_UDP));  // a plain socket on port 0 ...
  b.set_sock16(4, Sn_PORT, 5000);     // ... and one on the group's port
  ASSERT_TRUE(b.open(4, Sn_MR_UDP));
  // Another group, its own MAC: filtered.
  b.chip.receive(udp_frame(group_b_mac, peer_mac, ip_hdr(peer_ip, group_b), 4321, 5000, payload_of(10)));
  // 224.1.2.3 maps onto the joined group's MAC but is another group.
  b.chip.receive(
      udp_frame(group_a_mac, peer_mac, ip_hdr(peer_ip, ip4(224, 1, 2, 3)), 4321, 5000, payload_of(10)));
  // The joined group's IP with a MAC other than the group MAC (here the chip's own).
  b.chip.receive(udp_frame(chip_mac, peer_mac, ip_hdr(peer_ip, group_a), 4321, 5000, payload_of(10)));
  // The joined group on another port.
  b.chip.receive(udp_frame(group_a_mac, peer_mac, ip_hdr(peer_ip, group_a), 4321, 5001, payload_of(10)));
  EXPECT_EQ(b.sock16(2, Sn_RX_RSR), 0);
  EXPECT_EQ(b.sock16(4, Sn_RX_RSR), 0) << "a non-MULTI socket never receives multicast";
  EXPECT_EQ(b.sock(2, Sn_IR), 0);
  b.settle();
  EXPECT_EQ(b.out.size(), 1u) << "no ICMP port-unreachable for multicast";
}

TEST(net_multicast, group_datagram_reaches_the_multi_socket_even_after_a_plain_socket_on_the_port) {
  mc_bench b;
  b.set_sock16(0, Sn_PORT, 5000);
  ASSERT_TRUE(b.open(0, Sn_MR_UDP));
  b.mc_open(1, group_a, group_a_mac, 5000);
  b.chip.receive(udp_frame(group_a_mac, peer_mac, ip_hdr(peer_ip, group_a), 4321, 5000, payload_of(10)));
  EXPECT_EQ(b.sock16(0, Sn_RX_RSR), 0);
  EXPECT_EQ(b.sock16(1, Sn_RX_RSR), 18);
}

TEST(net_multicast, multicast_socket_takes_unicast_unless_ucastb) {
  mc_bench b;
  b.mc_open(1, group_a, group_a_mac, 5000);
  b.chip.receive(udp_frame(chip_mac, peer_mac, ip_hdr(peer_ip, chip_ip), 4321, 5000, payload_of(10)));
  EXPECT_EQ(b.sock16(1, Sn_RX_RSR), 18);

  b.mc_open(2, group_b, group_b_mac, 6000, UCASTB);
  b.out.clear();
  const std::uint64_t dropped = b.chip.network_stats().rx_dropped;
  b.chip.receive(udp_frame(chip_mac, peer_mac, ip_hdr(peer_ip, chip_ip), 4321, 6000, payload_of(10)));
  EXPECT_EQ(b.sock16(2, Sn_RX_RSR), 0);
  EXPECT_EQ(b.sock(2, Sn_IR), 0);
  EXPECT_EQ(b.chip.network_stats().rx_dropped, dropped + 1);
  b.settle();
  EXPECT_TRUE(b.out.empty()) << "dropped by the socket, so no ICMP port-unreachable";
  // The group and broadcasts still get through.
  b.chip.receive(udp_frame(group_b_mac, peer_mac, ip_hdr(peer_ip, group_b), 4321, 6000, payload_of(12)));
  EXPECT_EQ(b.sock16(2, Sn_RX_RSR), 20);
  b.chip.receive(udp_frame(broadcast_mac, peer_mac, ip_hdr(peer_ip, ip4(255, 255, 255, 255)), 4321, 6000,
                           payload_of(4)));
  EXPECT_EQ(b.sock16(2, Sn_RX_RSR), 32);
}

TEST(net_multicast, closing_the_socket_stops_group_reception) {
  mc_bench b;
  b.mc_open(1, group_a, group_a_mac, 5000);
  ASSERT_TRUE(b.host.command(1, Sn_CR_CLOSE));
  b.set_sock16(2, Sn_PORT, 5000);
  ASSERT_TRUE(b.open(2, Sn_MR_UDP));
  b.chip.receive(udp_frame(group_a_mac, peer_mac, ip_hdr(peer_ip, group_a), 4321, 5000, payload_of(10)));
  EXPECT_EQ(b.sock16(2, Sn_RX_RSR), 0);
}

// ---- send ---------------------------------------------------------------------------------------------------

TEST(net_multicast, send_goes_to_the_group_mac_without_arp) {
  mc_bench b;
  b.set_group(6, group_a, group_a_mac, 5000, 5555);
  ASSERT_TRUE(b.open(6, Sn_MR_UDP | MULTI));
  b.settle();
  b.out.clear();
  const octets data = payload_of(64);
  b.send(6, data);
  b.settle();
  ASSERT_EQ(b.out.size(), 1u);
  EXPECT_EQ(b.out[0].data, udp_frame(group_a_mac, chip_mac, ip_hdr(chip_ip, group_a, 1), 5000, 5555, data));
  EXPECT_EQ(b.sock(6, Sn_IR), Sn_IR_SENDOK);
  EXPECT_EQ(b.sock16(6, Sn_TX_RD), 64);
  std::uint8_t dhar[6];
  b.host.read(bsb_socket(6), Sn_DHAR, dhar, 6);
  EXPECT_EQ(mac_addr({dhar[0], dhar[1], dhar[2], dhar[3], dhar[4], dhar[5]}), group_a_mac);
}

// ---- Wake-on-LAN ----------------------------------------------------------------------------------------------

TEST(net_wol, magic_packet_raises_ir_mp_only_with_mr_wol_and_a_udp_socket_open) {
  mc_bench b;
  b.set_common(IMR, IR_MP);
  const auto magic = [](std::uint16_t port, std::size_t prefix) {
    return udp_frame(broadcast_mac, peer_mac, ip_hdr(peer_ip, ip4(255, 255, 255, 255)), 40000, port,
                     magic_payload(chip_mac, prefix));
  };
  // MR.WOL clear, UDP socket open: nothing.
  b.set_sock16(1, Sn_PORT, 5000);
  ASSERT_TRUE(b.open(1, Sn_MR_UDP));
  b.chip.receive(magic(9, 0));
  EXPECT_EQ(b.common(IR), 0);
  // MR.WOL set, no UDP socket open (a TCP socket does not count): nothing.
  ASSERT_TRUE(b.host.command(1, Sn_CR_CLOSE));
  ASSERT_TRUE(b.open(2, Sn_MR_TCP));
  b.set_common(MR, MR_WOL);
  b.chip.receive(magic(9, 0));
  EXPECT_EQ(b.common(IR), 0);
  EXPECT_TRUE(b.chip.int_n());
  // MR.WOL set and a UDP socket open on another port: IR.MP and INTn.
  ASSERT_TRUE(b.open(1, Sn_MR_UDP));
  b.chip.receive(magic(9, 0));
  EXPECT_EQ(b.common(IR), IR_MP);
  EXPECT_FALSE(b.chip.int_n());
  EXPECT_EQ(b.sock16(1, Sn_RX_RSR), 0) << "the datagram itself is for port 9";
  b.set_common(IR, IR_MP);  // write 1 to clear
  EXPECT_EQ(b.common(IR), 0);
  EXPECT_TRUE(b.chip.int_n());
  // The pattern anywhere in the payload, to the socket's own port, unicast: IR.MP, and the datagram is stored.
  b.chip.receive(udp_frame(chip_mac, peer_mac, ip_hdr(peer_ip, chip_ip), 40000, 5000, magic_payload(chip_mac, 13)));
  EXPECT_EQ(b.common(IR), IR_MP);
  EXPECT_EQ(b.sock16(1, Sn_RX_RSR), 8 + 13 + 102);
}

TEST(net_wol, other_macs_and_truncated_patterns_do_not_wake) {
  mc_bench b;
  b.set_common(MR, MR_WOL);
  b.set_sock16(0, Sn_PORT, 9);
  ASSERT_TRUE(b.open(0, Sn_MR_UDP));
  b.chip.receive(udp_frame(broadcast_mac, peer_mac, ip_hdr(peer_ip, ip4(192, 168, 1, 255)), 40000, 9,
                           magic_payload(peer_mac)));
  octets cut = magic_payload(chip_mac);
  cut.pop_back();
  b.chip.receive(udp_frame(broadcast_mac, peer_mac, ip_hdr(peer_ip, ip4(192, 168, 1, 255)), 40000, 9, cut));
  octets five_ff = magic_payload(chip_mac);
  five_ff.erase(five_ff.begin());
  b.chip.receive(udp_frame(broadcast_mac, peer_mac, ip_hdr(peer_ip, ip4(192, 168, 1, 255)), 40000, 9, five_ff));
  EXPECT_EQ(b.common(IR), 0);
  EXPECT_EQ(b.sock16(0, Sn_RX_RSR), (8 + 102) + (8 + 101) + (8 + 101)) << "still ordinary datagrams";
}
