// The network engine in lwIP's unit-test style: craft the exact frame in, assert the exact frame out
// (bytes and virtual times) plus register and interrupt state. Spec §6, §3.4 and §10.
#include <gtest/gtest.h>

#include <vector>

#include "net_fixture.hpp"

using namespace wizsim;
using namespace wizsim::test;

namespace {

constexpr ip4_addr far_ip = ip4(10, 9, 8, 7);

constexpr std::uint16_t MR = 0x00, IR = 0x15, UIPR = 0x28, UPORTR = 0x2C, PHYCFGR = 0x2E;
constexpr std::uint16_t Sn_MR = 0x00, Sn_IR = 0x02, Sn_SR = 0x03, Sn_PORT = 0x04, Sn_DHAR = 0x06, Sn_DIPR = 0x0C,
                        Sn_DPORT = 0x10, Sn_MSSR = 0x12, Sn_TX_FSR = 0x20, Sn_TX_RD = 0x22, Sn_TX_WR = 0x24,
                        Sn_RX_RSR = 0x26, Sn_RX_RD = 0x28;




octets arp_request_from_chip(ip4_addr target) {
  return build_eth(broadcast_mac, chip_mac, ethertype_arp, build_arp(arp_request, chip_mac, chip_ip, mac_addr{}, target));
}

}  // namespace

TEST(net_arp, request_for_sipr_is_answered_with_exact_frame_and_wire_time) {
  net_bench b;
  const ps_t t0 = b.sched.now();
  b.chip.receive(build_eth(broadcast_mac, peer_mac, ethertype_arp,
                           build_arp(arp_request, peer_mac, peer_ip, mac_addr{}, chip_ip)));
  b.settle();
  ASSERT_EQ(b.out.size(), 1u);
  EXPECT_EQ(b.out[0].data,
            build_eth(peer_mac, chip_mac, ethertype_arp, build_arp(arp_reply, chip_mac, chip_ip, peer_mac, peer_ip)));
  EXPECT_EQ(b.out[0].start, t0);
  // 8 preamble + 60 frame + 4 FCS + 12 IFG = 84 bytes at 100 Mb/s = 6.72 us.
  EXPECT_EQ(b.out[0].end - b.out[0].start, ns(6720));
}

TEST(net_arp, requests_for_other_addresses_are_ignored) {
  net_bench b;
  b.chip.receive(build_eth(broadcast_mac, peer_mac, ethertype_arp,
                           build_arp(arp_request, peer_mac, peer_ip, mac_addr{}, ip4(192, 168, 1, 77))));
  b.settle();
  EXPECT_TRUE(b.out.empty());
}

TEST(net_arp, request_claiming_our_ip_raises_ir_conflict) {
  net_bench b;
  b.chip.receive(build_eth(broadcast_mac, peer_mac, ethertype_arp,
                           build_arp(arp_request, peer_mac, chip_ip, mac_addr{}, ip4(192, 168, 1, 1))));
  EXPECT_EQ(b.common(IR), IR_CONFLICT);
}

TEST(net_udp, send_resolves_with_arp_then_sends_the_exact_datagram) {
  net_bench b;
  b.udp_open(1, 5000);
  b.set_dest(1, peer_ip, 6000);
  const octets data = payload_of(100);
  b.send(1, data);
  b.settle(us(100));
  ASSERT_EQ(b.out.size(), 1u);
  EXPECT_EQ(b.out[0].data, arp_request_from_chip(peer_ip));
  EXPECT_EQ(b.sock(1, Sn_IR) & Sn_IR_SENDOK, 0);
  b.peer_arp_reply(peer_mac, peer_ip);
  b.settle();
  ASSERT_EQ(b.out.size(), 2u);
  EXPECT_EQ(b.out[1].data, udp_frame(peer_mac, chip_mac, ip_hdr(chip_ip, peer_ip, 0), 5000, 6000, data));
  std::uint8_t dhar[6];
  b.host.read(bsb_socket(1), Sn_DHAR, dhar, 6);
  EXPECT_EQ(mac_addr({dhar[0], dhar[1], dhar[2], dhar[3], dhar[4], dhar[5]}), peer_mac);
  EXPECT_EQ(b.sock(1, Sn_IR), Sn_IR_SENDOK);
  EXPECT_EQ(b.sock16(1, Sn_TX_RD), 100);
  EXPECT_EQ(b.sock16(1, Sn_TX_FSR), 2048);
  EXPECT_EQ(b.sock(1, Sn_SR), SOCK_UDP);
}

TEST(net_udp, second_send_to_same_ip_reuses_the_arp_cache_and_farp_forces_a_new_request) {
  net_bench b;
  b.udp_open(0, 5000);
  b.set_dest(0, peer_ip, 6000);
  b.send(0, payload_of(10));
  b.settle(us(50));
  b.peer_arp_reply(peer_mac, peer_ip);
  b.settle();
  b.out.clear();
  b.send(0, payload_of(10, 1));
  b.settle();
  ASSERT_EQ(b.out.size(), 1u);
  EXPECT_EQ(b.out[0].data, udp_frame(peer_mac, chip_mac, ip_hdr(chip_ip, peer_ip, 1), 5000, 6000, payload_of(10, 1)));
  b.out.clear();
  b.set_common(MR, 0x02);  // FARP
  b.send(0, payload_of(10, 2));
  b.settle();
  ASSERT_EQ(b.out.size(), 1u);
  EXPECT_EQ(b.out[0].data, arp_request_from_chip(peer_ip));
}

TEST(net_udp, arp_timeout_is_exactly_rtr_times_rcr_plus_one_and_socket_stays_udp) {
  net_bench b;
  b.udp_open(2, 5000);
  b.set_dest(2, peer_ip, 6000);
  b.send(2, payload_of(40));
  // The first ARP request leaves when the SEND is accepted; the schedule counts from there.
  b.settle(ms(1));
  ASSERT_EQ(b.out.size(), 1u);
  const ps_t t0 = b.out[0].start;
  // Registers are read through the port here: an SPI read would itself move time past the deadline.
  b.sched.advance_to(t0 + ms(1800) - 1);
  EXPECT_EQ(b.out.size(), 9u) << "RCR + 1 = 9 requests, one every RTR = 200 ms";
  for (std::size_t i = 0; i < b.out.size(); ++i) {
    EXPECT_EQ(b.out[i].start, t0 + i * ms(200));
    EXPECT_EQ(b.out[i].data, arp_request_from_chip(peer_ip));
  }
  EXPECT_EQ(b.chip.read(bsb_socket(2), Sn_IR) & Sn_IR_TIMEOUT, 0);
  b.sched.advance_to(t0 + ms(1800));
  EXPECT_EQ(b.chip.read(bsb_socket(2), Sn_IR), Sn_IR_TIMEOUT);
  EXPECT_EQ(b.sock(2, Sn_SR), SOCK_UDP);
  EXPECT_EQ(b.sock16(2, Sn_TX_RD), 40) << "data discarded (quirk arp_timeout_discards_udp_data)";
  EXPECT_EQ(b.out.size(), 9u);
}

TEST(net_udp, arp_timeout_follows_rtr_and_rcr) {
  net_bench b;
  b.host.write16(bsb_common(), 0x0019, 500);  // 50 ms
  b.set_common(0x001B, 2);
  b.udp_open(2, 5000);
  b.set_dest(2, peer_ip, 6000);
  b.send(2, payload_of(4));
  b.settle(us(10));
  const ps_t t0 = b.out.at(0).start;
  b.sched.advance_to(t0 + ms(150) - 1);
  EXPECT_EQ(b.out.size(), 3u);
  EXPECT_EQ(b.chip.read(bsb_socket(2), Sn_IR) & Sn_IR_TIMEOUT, 0);
  b.sched.advance_to(t0 + ms(150));
  EXPECT_EQ(b.chip.read(bsb_socket(2), Sn_IR) & Sn_IR_TIMEOUT, Sn_IR_TIMEOUT);
}

TEST(net_udp, off_link_destination_is_resolved_through_the_gateway) {
  net_bench b;
  b.udp_open(0, 5000);
  b.set_dest(0, far_ip, 53);
  b.send(0, payload_of(20));
  b.settle(us(20));
  ASSERT_EQ(b.out.size(), 1u);
  EXPECT_EQ(b.out[0].data, arp_request_from_chip(router_ip));
  b.peer_arp_reply(router_mac, router_ip);
  b.settle();
  ASSERT_EQ(b.out.size(), 2u);
  EXPECT_EQ(b.out[1].data, udp_frame(router_mac, chip_mac, ip_hdr(chip_ip, far_ip, 0), 5000, 53, payload_of(20)));
}

TEST(net_udp, broadcast_destinations_need_no_arp) {
  net_bench b;
  b.udp_open(0, 68);
  b.set_dest(0, ip4(255, 255, 255, 255), 67);
  b.send(0, payload_of(30));
  b.set_dest(0, ip4(192, 168, 1, 255), 9);
  b.send(0, payload_of(5));
  b.settle();
  ASSERT_EQ(b.out.size(), 2u);
  EXPECT_EQ(b.out[0].data,
            udp_frame(broadcast_mac, chip_mac, ip_hdr(chip_ip, ip4(255, 255, 255, 255), 0), 68, 67, payload_of(30)));
  EXPECT_EQ(b.out[1].data,
            udp_frame(broadcast_mac, chip_mac, ip_hdr(chip_ip, ip4(192, 168, 1, 255), 1), 68, 9, payload_of(5)));
}

TEST(net_udp, send_larger_than_mss_is_split_into_datagrams) {
  net_bench b;
  b.udp_open(0, 5000);
  b.set_dest(0, ip4(255, 255, 255, 255), 7);
  const octets data = payload_of(2000);
  b.send(0, data);
  b.settle();
  ASSERT_EQ(b.out.size(), 2u);
  EXPECT_EQ(b.out[0].data, udp_frame(broadcast_mac, chip_mac, ip_hdr(chip_ip, ip4(255, 255, 255, 255), 0), 5000, 7,
                                     octets(data.begin(), data.begin() + 1472)));
  EXPECT_EQ(b.out[1].data, udp_frame(broadcast_mac, chip_mac, ip_hdr(chip_ip, ip4(255, 255, 255, 255), 1), 5000, 7,
                                     octets(data.begin() + 1472, data.end())));
  EXPECT_EQ(b.out[1].start, b.out[0].end) << "back to back on the wire";
  b.out.clear();
  b.set_sock16(0, Sn_MSSR, 500);
  b.send(0, payload_of(1200));
  b.settle();
  ASSERT_EQ(b.out.size(), 3u);
}

TEST(net_udp, send_mac_uses_dhar_without_arp) {
  net_bench b;
  b.udp_open(3, 4000);
  b.set_dest(3, peer_ip, 4001);
  b.host.write(bsb_socket(3), Sn_DHAR, router_mac.data(), 6);
  b.send(3, payload_of(8), Sn_CR_SEND_MAC);
  b.settle();
  ASSERT_EQ(b.out.size(), 1u);
  EXPECT_EQ(b.out[0].data, udp_frame(router_mac, chip_mac, ip_hdr(chip_ip, peer_ip, 0), 4000, 4001, payload_of(8)));
  EXPECT_EQ(b.sock(3, Sn_IR), Sn_IR_SENDOK);
}

TEST(net_udp, ttl_tos_and_frag_come_from_the_socket_registers) {
  net_bench b;
  b.udp_open(0, 1);
  b.set_sock(0, 0x16, 7);     // Sn_TTL
  b.set_sock(0, 0x15, 0x10);  // Sn_TOS
  b.set_sock16(0, 0x2D, 0);   // Sn_FRAG: clear DF
  b.set_dest(0, ip4(255, 255, 255, 255), 2);
  b.send(0, payload_of(3));
  b.settle();
  ipv4_fields h = ip_hdr(chip_ip, ip4(255, 255, 255, 255), 0, 7, 0);
  h.tos = 0x10;
  ASSERT_EQ(b.out.size(), 1u);
  EXPECT_EQ(b.out[0].data, udp_frame(broadcast_mac, chip_mac, h, 1, 2, payload_of(3)));
}

TEST(net_udp, received_datagram_is_stored_as_8_byte_header_plus_payload) {
  net_bench b;
  b.udp_open(4, 7000);
  const octets data = payload_of(33);
  b.chip.receive(udp_frame(chip_mac, peer_mac, ip_hdr(peer_ip, chip_ip, 77), 1234, 7000, data));
  EXPECT_EQ(b.sock(4, Sn_IR), Sn_IR_RECV);
  EXPECT_EQ(b.sock16(4, Sn_RX_RSR), 8 + 33);
  octets expect(8);
  put32(expect.data(), peer_ip);
  put16(expect.data() + 4, 1234);
  put16(expect.data() + 6, 33);
  expect.insert(expect.end(), data.begin(), data.end());
  EXPECT_EQ(b.rx_read(4, 41), expect);
}

TEST(net_udp, datagram_that_does_not_fit_is_dropped_whole) {
  net_bench b;
  b.set_sock(4, 0x1E, 1);  // 1 KB RX
  b.udp_open(4, 7000);
  b.chip.receive(udp_frame(chip_mac, peer_mac, ip_hdr(peer_ip, chip_ip), 1, 7000, payload_of(600)));
  EXPECT_EQ(b.sock16(4, Sn_RX_RSR), 608);
  b.chip.receive(udp_frame(chip_mac, peer_mac, ip_hdr(peer_ip, chip_ip), 1, 7000, payload_of(500)));
  EXPECT_EQ(b.sock16(4, Sn_RX_RSR), 608);
  b.chip.receive(udp_frame(chip_mac, peer_mac, ip_hdr(peer_ip, chip_ip), 1, 7000, payload_of(408)));
  EXPECT_EQ(b.sock16(4, Sn_RX_RSR), 1024) << "an exact fit is stored";
}

TEST(net_udp, bcastb_drops_broadcast_datagrams) {
  net_bench b;
  b.udp_open(0, 67, 0x40);
  b.chip.receive(udp_frame(broadcast_mac, peer_mac, ip_hdr(peer_ip, ip4(255, 255, 255, 255)), 68, 67, payload_of(10)));
  EXPECT_EQ(b.sock16(0, Sn_RX_RSR), 0);
  b.chip.receive(udp_frame(chip_mac, peer_mac, ip_hdr(peer_ip, chip_ip), 68, 67, payload_of(10)));
  EXPECT_EQ(b.sock16(0, Sn_RX_RSR), 18);
}

TEST(net_udp, unicast_to_any_ip_is_accepted_while_sipr_is_zero_for_dhcp) {
  net_bench b;
  const std::uint8_t zero[4] = {0, 0, 0, 0};
  b.host.write(bsb_common(), 0x000F, zero, 4);
  b.udp_open(0, 68);
  b.chip.receive(udp_frame(chip_mac, peer_mac, ip_hdr(peer_ip, ip4(192, 168, 1, 150)), 67, 68, payload_of(300)));
  EXPECT_EQ(b.sock16(0, Sn_RX_RSR), 308);
}

TEST(net_udp, datagram_to_a_closed_port_is_answered_with_icmp_port_unreachable) {
  net_bench b;
  const octets in = udp_frame(chip_mac, peer_mac, ip_hdr(peer_ip, chip_ip, 5), 1111, 2222, payload_of(20));
  b.chip.receive(in);
  b.settle();
  ASSERT_EQ(b.out.size(), 1u);
  const octets quoted(in.begin() + 14, in.begin() + 14 + 28);
  EXPECT_EQ(b.out[0].data, icmp_frame(peer_mac, chip_mac, ip_hdr(chip_ip, peer_ip, 0, 128, 0), 3, 3, 0, quoted));
}

TEST(net_icmp, echo_request_is_answered_unless_ping_block) {
  net_bench b;
  const octets ping = payload_of(32);
  b.chip.receive(icmp_frame(chip_mac, peer_mac, ip_hdr(peer_ip, chip_ip, 9, 64, 0), 8, 0, 0x12340001, ping));
  b.settle();
  ASSERT_EQ(b.out.size(), 1u);
  EXPECT_EQ(b.out[0].data, icmp_frame(peer_mac, chip_mac, ip_hdr(chip_ip, peer_ip, 0, 128, 0), 0, 0, 0x12340001, ping));
  b.set_common(MR, 0x10);  // PB
  b.chip.receive(icmp_frame(chip_mac, peer_mac, ip_hdr(peer_ip, chip_ip, 10, 64, 0), 8, 0, 0x12340002, ping));
  b.settle();
  EXPECT_EQ(b.out.size(), 1u);
}

TEST(net_icmp, port_unreachable_sets_ir_unreach_uipr_and_uportr) {
  net_bench b;
  // The quoted datagram: our UDP to 192.168.1.20:5353, cut after 8 bytes of UDP header.
  ipv4_fields h = ip_hdr(chip_ip, peer_ip);
  h.proto = ip_proto_udp;
  const octets ours = build_ipv4(h, build_udp(chip_ip, peer_ip, 5000, 5353, payload_of(50)));
  const octets quoted(ours.begin(), ours.begin() + 28);
  b.chip.receive(icmp_frame(chip_mac, peer_mac, ip_hdr(peer_ip, chip_ip, 1, 64, 0), 3, 3, 0, quoted));
  EXPECT_EQ(b.common(IR), IR_UNREACH);
  std::uint8_t uipr[4];
  b.host.read(bsb_common(), UIPR, uipr, 4);
  EXPECT_EQ(get32(uipr), peer_ip);
  EXPECT_EQ(b.host.read16(bsb_common(), UPORTR), 5353);
}

TEST(net_ipv4, bad_checksum_fragments_and_other_destinations_are_dropped) {
  net_bench b;
  b.udp_open(0, 9);
  octets bad = udp_frame(chip_mac, peer_mac, ip_hdr(peer_ip, chip_ip), 1, 9, payload_of(4));
  bad[14 + 10] ^= 0xFF;  // IP header checksum
  b.chip.receive(bad);
  b.chip.receive(udp_frame(chip_mac, peer_mac, ip_hdr(peer_ip, chip_ip, 0, 64, 0x2000), 1, 9, payload_of(4)));
  b.chip.receive(udp_frame(chip_mac, peer_mac, ip_hdr(peer_ip, chip_ip, 0, 64, 0x0010), 1, 9, payload_of(4)));
  b.chip.receive(udp_frame(chip_mac, peer_mac, ip_hdr(peer_ip, ip4(192, 168, 1, 11)), 1, 9, payload_of(4)));
  b.chip.receive(udp_frame(peer_mac, router_mac, ip_hdr(peer_ip, chip_ip), 1, 9, payload_of(4)));  // not our MAC
  octets badudp = udp_frame(chip_mac, peer_mac, ip_hdr(peer_ip, chip_ip), 1, 9, payload_of(4));
  badudp[14 + 20 + 8] ^= 0x01;  // payload byte: UDP checksum fails
  b.chip.receive(badudp);
  b.settle();
  EXPECT_EQ(b.sock16(0, Sn_RX_RSR), 0);
  EXPECT_TRUE(b.out.empty());
  EXPECT_GE(b.chip.network_stats().rx_dropped, 4u);
}

TEST(net_phy, send_stalls_while_the_link_is_down_and_completes_after_link_up) {
  net_bench b;
  b.udp_open(0, 1);
  b.set_dest(0, ip4(255, 255, 255, 255), 2);
  b.chip.set_cable(false);
  b.send(0, payload_of(10));
  b.settle(seconds(3));
  EXPECT_TRUE(b.out.empty());
  EXPECT_EQ(b.sock(0, Sn_IR) & Sn_IR_SENDOK, 0);
  EXPECT_EQ(b.chip.tx_queue_depth(), 1u);
  b.chip.set_cable(true);
  b.settle(b.chip.config().quirk.autoneg_ps + ms(1));
  ASSERT_EQ(b.out.size(), 1u);
  EXPECT_EQ(b.sock(0, Sn_IR), Sn_IR_SENDOK);
}

TEST(net_phy, frames_received_while_the_link_is_down_are_lost) {
  net_bench b;
  b.udp_open(0, 9);
  b.chip.set_cable(false);
  b.chip.receive(udp_frame(chip_mac, peer_mac, ip_hdr(peer_ip, chip_ip), 1, 9, payload_of(4)));
  EXPECT_EQ(b.sock16(0, Sn_RX_RSR), 0);
}

TEST(net_phy, wire_time_at_10mb_half_duplex) {
  chip_config cfg;
  cfg.partner_100 = false;
  cfg.partner_full_duplex = false;
  net_bench b(cfg);
  b.chip.receive(build_eth(broadcast_mac, peer_mac, ethertype_arp,
                           build_arp(arp_request, peer_mac, peer_ip, mac_addr{}, chip_ip)));
  b.settle(ms(1));
  ASSERT_EQ(b.out.size(), 1u);
  EXPECT_EQ(b.out[0].end - b.out[0].start, ns(67200));
}

TEST(net_macraw, receives_length_prefixed_frames_with_mac_filter) {
  net_bench b;
  ASSERT_TRUE(b.open(0, 0x84));  // MACRAW | MFEN
  const octets mine = build_eth(chip_mac, peer_mac, 0x88B5, payload_of(50));
  b.chip.receive(mine);
  EXPECT_EQ(b.sock16(0, Sn_RX_RSR), 2 + 64);
  octets expect{0x00, 0x42};
  expect.insert(expect.end(), mine.begin(), mine.end());
  EXPECT_EQ(b.rx_read(0, 66), expect);
  b.chip.receive(build_eth(router_mac, peer_mac, 0x88B5, payload_of(50)));  // someone else's unicast
  EXPECT_EQ(b.sock16(0, Sn_RX_RSR), 66);
  b.set_sock(0, Sn_MR, 0x04);  // promiscuous, evaluated live
  b.chip.receive(build_eth(router_mac, peer_mac, 0x88B5, payload_of(50)));
  EXPECT_EQ(b.sock16(0, Sn_RX_RSR), 132);
}

TEST(net_macraw, filter_bits_drop_broadcast_multicast_and_ipv6) {
  net_bench b;
  ASSERT_TRUE(b.open(0, 0x84 | 0x40 | 0x20 | 0x10));
  b.chip.receive(build_eth(broadcast_mac, peer_mac, 0x88B5, payload_of(50)));
  b.chip.receive(build_eth(mac_addr{0x01, 0x00, 0x5E, 0, 0, 1}, peer_mac, ethertype_ipv4, payload_of(50)));
  b.chip.receive(build_eth(chip_mac, peer_mac, ethertype_ipv6, payload_of(50)));
  EXPECT_EQ(b.sock16(0, Sn_RX_RSR), 0);
}

TEST(net_macraw, send_puts_the_frame_on_the_wire_padded_to_60) {
  net_bench b;
  ASSERT_TRUE(b.open(0, 0x04));
  const octets frame = build_eth(peer_mac, chip_mac, 0x88B5, payload_of(20), /*pad=*/false);
  b.send(0, frame);
  b.settle();
  ASSERT_EQ(b.out.size(), 1u);
  EXPECT_EQ(b.out[0].data, build_eth(peer_mac, chip_mac, 0x88B5, payload_of(20), /*pad=*/true));
  EXPECT_EQ(b.sock(0, Sn_IR), Sn_IR_SENDOK);
}

TEST(net_macraw, sees_arp_the_chip_answered_but_not_datagrams_a_udp_socket_consumed) {
  net_bench b;
  ASSERT_TRUE(b.open(0, 0x04));
  b.udp_open(1, 9);
  b.chip.receive(build_eth(broadcast_mac, peer_mac, ethertype_arp,
                           build_arp(arp_request, peer_mac, peer_ip, mac_addr{}, chip_ip)));
  EXPECT_EQ(b.sock16(0, Sn_RX_RSR), 62);
  b.chip.receive(udp_frame(chip_mac, peer_mac, ip_hdr(peer_ip, chip_ip), 1, 9, payload_of(4)));
  EXPECT_EQ(b.sock16(0, Sn_RX_RSR), 62);
  EXPECT_EQ(b.sock16(1, Sn_RX_RSR), 12);
}

TEST(net_ipraw, icmp_ping_by_host_through_an_ipraw_socket_with_the_quirk) {
  chip_config cfg;
  cfg.quirk.ipraw_mode = true;
  net_bench b(cfg);
  b.set_sock(2, 0x14, ip_proto_icmp);  // Sn_PROTO
  ASSERT_TRUE(b.open(2, Sn_MR_IPRAW));
  EXPECT_EQ(b.sock(2, Sn_SR), SOCK_IPRAW);
  b.set_dest(2, peer_ip, 0);
  const octets echo = build_icmp(8, 0, 0x00010001, payload_of(16));
  b.send(2, echo);
  b.settle(us(20));
  b.peer_arp_reply(peer_mac, peer_ip);
  b.settle();
  ASSERT_EQ(b.out.size(), 2u);
  ipv4_fields h = ip_hdr(chip_ip, peer_ip, 0);
  h.proto = ip_proto_icmp;
  EXPECT_EQ(b.out[1].data, build_eth(peer_mac, chip_mac, ethertype_ipv4, build_ipv4(h, echo)));
  EXPECT_EQ(b.sock(2, Sn_IR), Sn_IR_SENDOK);
  // The reply lands in the socket as a 6-byte header (source IP, length) plus the ICMP message.
  const octets reply = build_icmp(0, 0, 0x00010001, payload_of(16));
  b.chip.receive(icmp_frame(chip_mac, peer_mac, ip_hdr(peer_ip, chip_ip, 3, 64, 0), 0, 0, 0x00010001, payload_of(16)));
  ASSERT_EQ(b.sock16(2, Sn_RX_RSR), 6 + reply.size());
  octets expect(6);
  put32(expect.data(), peer_ip);
  put16(expect.data() + 4, static_cast<std::uint16_t>(reply.size()));
  expect.insert(expect.end(), reply.begin(), reply.end());
  EXPECT_EQ(b.rx_read(2, expect.size()), expect);
}

TEST(net_ipraw, ipraw_open_stays_closed_without_the_quirk) {
  net_bench b;
  ASSERT_TRUE(b.open(2, Sn_MR_IPRAW));
  EXPECT_EQ(b.sock(2, Sn_SR), SOCK_CLOSED);
  const auto errors = b.guest_errors();
  b.set_sock(2, 0x14, 1);
  EXPECT_EQ(b.guest_errors(), errors + 1) << "offset 0x14 is reserved on the W5500";
}
