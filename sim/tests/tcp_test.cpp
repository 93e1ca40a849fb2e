// The TCP engine in lwIP's unit-test style: exact segments in, exact segments out, with register and
// interrupt state and exact virtual times (spec §6.3, §3.4, §6.6).
#include <gtest/gtest.h>

#include <vector>

#include "net_fixture.hpp"

using namespace wizsim;
using namespace wizsim::test;

namespace {

constexpr std::uint16_t chip_port = 5000, peer_port = 80;

constexpr std::uint16_t Sn_MR = 0x00, Sn_IR = 0x02, Sn_SR = 0x03, Sn_PORT = 0x04, Sn_DPORT = 0x10,
                        Sn_MSSR = 0x12, Sn_TX_FSR = 0x20, Sn_TX_RD = 0x22, Sn_TX_WR = 0x24, Sn_RX_RSR = 0x26,
                        Sn_RX_RD = 0x28;

octets data_of(std::size_t n, std::uint8_t seed = 0) {
  octets p(n);
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<std::uint8_t>(seed + i * 13);
  return p;
}

struct tcp_bench : net_bench {
  explicit tcp_bench(chip_config cfg = {}) : net_bench(std::move(cfg)) {}
  std::uint32_t iss = 0;                   // the chip's ISS, read off its SYN
  std::uint32_t peer_seq = 1000;           // next sequence number the peer sends

  // The last frame the chip sent, parsed down to TCP.
  tcp_view last_tcp(std::size_t back = 0) {
    const auto& f = out.at(out.size() - 1 - back).data;
    auto eth = parse_eth(f.data(), f.size());
    auto ip = parse_ipv4(eth->payload, eth->payload_len);
    auto seg = parse_tcp(ip->payload, ip->payload_len, ip->h.src, ip->h.dst);
    EXPECT_TRUE(seg && seg->checksum_ok);
    return *seg;
  }
  octets last_payload(std::size_t back = 0) {
    const tcp_view v = last_tcp(back);
    return octets(v.payload, v.payload + v.payload_len);
  }
  static tcp_fields segment(std::uint16_t src_port, std::uint16_t dst_port, std::uint8_t flags, std::uint32_t seq,
                            std::uint32_t ack, std::uint16_t window, std::optional<std::uint16_t> mss) {
    tcp_fields h;
    h.src_port = src_port;
    h.dst_port = dst_port;
    h.seq = seq;
    h.ack = ack;
    h.flags = flags;
    h.window = window;
    h.mss = mss;
    return h;
  }
  // A segment from the peer.
  void peer_send(std::uint8_t flags, std::uint32_t seq, std::uint32_t ack, const octets& payload = {},
                 std::uint16_t window = 8192, std::optional<std::uint16_t> mss = std::nullopt,
                 std::uint16_t src_port = peer_port) {
    chip.receive(tcp_frame(chip_mac, peer_mac, ip_hdr(peer_ip, chip_ip, 0, 64),
                           segment(src_port, chip_port, flags, seq, ack, window, mss), payload));
  }
  // The exact frame the chip should send, given its own sequence state.
  octets chip_segment(std::uint8_t flags, std::uint32_t seq, std::uint32_t ack, std::uint16_t window,
                      const octets& payload = {}, std::uint16_t id = 0, std::optional<std::uint16_t> mss = std::nullopt) {
    return tcp_frame(peer_mac, chip_mac, ip_hdr(chip_ip, peer_ip, id),
                     segment(chip_port, peer_port, flags, seq, ack, window, mss), payload);
  }
  void open_tcp(int n, std::uint8_t mode = Sn_MR_TCP) {
    set_sock16(n, Sn_PORT, chip_port);
    ASSERT_TRUE(open(n, mode));
  }
  // OPEN as TCP, point the socket at the peer, CONNECT (the chip starts with an ARP request).
  void request_connect(int n, std::uint8_t mode = Sn_MR_TCP) {
    open_tcp(n, mode);
    set_dest(n, peer_ip, peer_port);
    ASSERT_TRUE(host.command(n, Sn_CR_CONNECT));
  }
  // Client side up to ESTABLISHED: CONNECT, ARP, SYN, SYN|ACK, ACK.
  void connect(int n, std::uint8_t mode = Sn_MR_TCP, std::uint16_t peer_mss = 1460) {
    request_connect(n, mode);
    settle(us(20));
    peer_arp_reply(peer_mac, peer_ip);
    settle(us(20));
    const tcp_view syn = last_tcp();
    iss = syn.h.seq;
    peer_send(TCP_SYN | TCP_ACK, peer_seq, iss + 1, {}, 8192, peer_mss);
    ++peer_seq;
    settle(us(20));
  }
  std::uint8_t ir(int n) { return chip.read(bsb_socket(n), Sn_IR); }  // no SPI time
  std::uint8_t sr(int n) { return chip.read(bsb_socket(n), Sn_SR); }
};

}  // namespace

TEST(tcp_client, connect_arps_sends_syn_with_mss_and_completes_the_handshake) {
  tcp_bench b;
  b.request_connect(0);
  b.settle(us(20));
  ASSERT_EQ(b.out.size(), 1u);  // ARP request first
  EXPECT_EQ(b.sr(0), SOCK_INIT);
  b.peer_arp_reply(peer_mac, peer_ip);
  b.settle(us(20));
  ASSERT_EQ(b.out.size(), 2u);
  const tcp_view syn = b.last_tcp();
  b.iss = syn.h.seq;
  EXPECT_EQ(b.out[1].data, b.chip_segment(TCP_SYN, b.iss, 0, 2048, {}, 0, 1460));
  EXPECT_EQ(b.sr(0), SOCK_SYNSENT);
  b.peer_send(TCP_SYN | TCP_ACK, 1000, b.iss + 1, {}, 8192, 1400);
  b.settle(us(20));
  ASSERT_EQ(b.out.size(), 3u);
  EXPECT_EQ(b.out[2].data, b.chip_segment(TCP_ACK, b.iss + 1, 1001, 2048, {}, 1));
  EXPECT_EQ(b.sr(0), SOCK_ESTABLISHED);
  EXPECT_EQ(b.ir(0), Sn_IR_CON);
  const auto p = static_cast<std::uint16_t>(b.iss + 1);
  EXPECT_EQ(b.sock16(0, Sn_TX_RD), p) << "TX pointers re-initialised to (ISS+1) & 0xFFFF";
  EXPECT_EQ(b.sock16(0, Sn_TX_WR), p);
  EXPECT_EQ(b.sock16(0, Sn_TX_FSR), 2048);
  EXPECT_EQ(b.sock16(0, Sn_MSSR), 1400) << "the smaller of ours and the peer's MSS";
}

TEST(tcp_client, isn_comes_from_the_seeded_prng) {
  tcp_bench a, c;
  a.connect(0);
  c.connect(0);
  EXPECT_EQ(a.iss, c.iss) << "same seed, same ISS";
}

TEST(tcp_client, connect_timeout_is_exactly_31_8_seconds_at_reset_values) {
  tcp_bench b;
  b.request_connect(0);
  b.settle(us(20));
  b.peer_arp_reply(peer_mac, peer_ip);
  b.settle(us(20));
  ASSERT_EQ(b.out.size(), 2u);
  const ps_t t0 = b.out[1].start;
  b.sched.advance_to(t0 + ms(31800) - 1);
  // SYN at 0, then retransmissions after 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 6.4, 6.4 s (spec §3.4).
  const std::vector<double> at = {0, 0.2, 0.6, 1.4, 3.0, 6.2, 12.6, 19.0, 25.4};
  ASSERT_EQ(b.out.size(), 1u + at.size());
  for (std::size_t i = 0; i < at.size(); ++i) {
    EXPECT_EQ(b.out[1 + i].start, t0 + static_cast<ps_t>(at[i] * 10000) * us(100)) << "SYN #" << i;
    EXPECT_EQ(b.last_tcp(at.size() - 1 - i).h.flags, TCP_SYN);
  }
  EXPECT_EQ(b.sr(0), SOCK_SYNSENT);
  b.sched.advance_to(t0 + ms(31800));
  EXPECT_EQ(b.sr(0), SOCK_CLOSED);
  EXPECT_EQ(b.ir(0), Sn_IR_TIMEOUT);
}

TEST(tcp_client, retransmission_schedule_follows_rtr_and_rcr) {
  tcp_bench b;
  b.host.write16(bsb_common(), 0x0019, 40000);  // 4 s: RTR*2 > 65535 already, so no back-off at all
  b.set_common(0x001B, 3);
  b.connect(0);
  b.out.clear();
  b.send(0, data_of(10));
  b.settle(us(10));
  ASSERT_EQ(b.out.size(), 1u);
  const ps_t t0 = b.out[0].start;
  b.sched.advance_to(t0 + seconds(16) - 1);
  ASSERT_EQ(b.out.size(), 4u);
  EXPECT_EQ(b.out[3].start, t0 + seconds(12));
  b.sched.advance_to(t0 + seconds(16));
  EXPECT_EQ(b.sr(0), SOCK_CLOSED);
  EXPECT_EQ(b.ir(0) & Sn_IR_TIMEOUT, Sn_IR_TIMEOUT);
}

TEST(tcp_client, rst_answer_to_syn_means_connection_refused) {
  tcp_bench b;
  b.request_connect(0);
  b.settle(us(20));
  b.peer_arp_reply(peer_mac, peer_ip);
  b.settle(us(20));
  const std::uint32_t iss = b.last_tcp().h.seq;
  b.peer_send(TCP_RST | TCP_ACK, 0, iss + 1);
  EXPECT_EQ(b.sr(0), SOCK_CLOSED);
  EXPECT_EQ(b.ir(0), Sn_IR_DISCON);
}

TEST(tcp_data, send_splits_by_mss_raises_send_ok_and_fsr_grows_only_on_ack) {
  tcp_bench b;
  b.connect(0, Sn_MR_TCP, 1000);
  b.out.clear();
  const octets data = data_of(1500);
  b.send(0, data);
  b.settle();
  ASSERT_EQ(b.out.size(), 2u);
  EXPECT_EQ(b.out[0].data, b.chip_segment(TCP_ACK, b.iss + 1, b.peer_seq, 2048,
                                          octets(data.begin(), data.begin() + 1000), 2));
  EXPECT_EQ(b.out[1].data, b.chip_segment(TCP_ACK | TCP_PSH, b.iss + 1001, b.peer_seq, 2048,
                                          octets(data.begin() + 1000, data.end()), 3));
  EXPECT_EQ(b.ir(0), Sn_IR_CON | Sn_IR_SENDOK) << "SEND_OK: every byte has been on the wire";
  EXPECT_EQ(b.sock16(0, Sn_TX_FSR), 2048 - 1500) << "FSR waits for the ACK";
  b.peer_send(TCP_ACK, b.peer_seq, b.iss + 1001);
  EXPECT_EQ(b.sock16(0, Sn_TX_FSR), 2048 - 500);
  b.peer_send(TCP_ACK, b.peer_seq, b.iss + 1501);
  EXPECT_EQ(b.sock16(0, Sn_TX_FSR), 2048);
}

TEST(tcp_data, send_respects_the_peer_window_and_probes_a_zero_window) {
  tcp_bench b;
  b.connect(0);
  b.peer_send(TCP_ACK, b.peer_seq, b.iss + 1, {}, 300);
  b.out.clear();
  b.send(0, data_of(1000));
  b.settle();
  ASSERT_EQ(b.out.size(), 1u);
  EXPECT_EQ(b.last_tcp().payload_len, 300u);
  EXPECT_EQ(b.ir(0) & Sn_IR_SENDOK, 0) << "not all data has left yet";
  b.peer_send(TCP_ACK, b.peer_seq, b.iss + 301, {}, 0);  // window closes
  b.settle(ms(100));
  EXPECT_EQ(b.out.size(), 1u);
  b.settle(ms(150));  // retransmission timer: a one-byte probe beyond the window
  ASSERT_GE(b.out.size(), 2u);
  EXPECT_EQ(b.last_tcp().payload_len, 1u);
  EXPECT_EQ(b.last_tcp().h.seq, b.iss + 301);
  b.peer_send(TCP_ACK, b.peer_seq, b.iss + 302, {}, 4096);
  b.settle();
  EXPECT_EQ(b.ir(0) & Sn_IR_SENDOK, Sn_IR_SENDOK);
  EXPECT_EQ(b.last_tcp().h.seq + b.last_tcp().payload_len, b.iss + 1001);
}

TEST(tcp_data, a_probe_byte_the_peer_refused_is_sent_again_when_the_window_reopens) {
  tcp_bench b;
  b.connect(0);
  b.peer_send(TCP_ACK, b.peer_seq, b.iss + 1, {}, 0);  // window closed from the start
  b.out.clear();
  b.send(0, data_of(1000));
  b.settle(ms(250));  // the retransmission timer sends a one-byte probe
  ASSERT_EQ(b.out.size(), 1u);
  EXPECT_EQ(b.last_tcp().h.seq, b.iss + 1);
  EXPECT_EQ(b.last_tcp().payload_len, 1u);
  // The peer drops the probe (its window was closed) and later opens the window without acknowledging it.
  b.out.clear();
  b.peer_send(TCP_ACK, b.peer_seq, b.iss + 1, {}, 4096);
  b.settle(ms(1));
  ASSERT_FALSE(b.out.empty()) << "the reopened window is used at once";
  EXPECT_EQ(b.last_tcp(b.out.size() - 1).h.seq, b.iss + 1) << "the refused probe byte is sent again, no hole";
  b.peer_send(TCP_ACK, b.peer_seq, b.iss + 1001, {}, 4096);
  b.settle();
  EXPECT_EQ(b.ir(0) & Sn_IR_SENDOK, Sn_IR_SENDOK);
}

TEST(tcp_data, after_a_timeout_the_segments_that_followed_the_resent_one_go_out_on_its_ack) {
  tcp_bench b;
  b.connect(0);
  b.out.clear();
  b.send(0, data_of(2048));
  b.settle();
  ASSERT_EQ(b.out.size(), 2u) << "1460 + 588, both lost";
  b.out.clear();
  b.settle(ms(250));  // the retransmission timer resends the oldest segment
  ASSERT_EQ(b.out.size(), 1u);
  EXPECT_EQ(b.last_tcp().h.seq, b.iss + 1);
  EXPECT_EQ(b.last_tcp().payload_len, 1460u);
  b.out.clear();
  b.peer_send(TCP_ACK, b.peer_seq, b.iss + 1461);
  b.settle();
  ASSERT_EQ(b.out.size(), 1u) << "the lost tail goes out with the ACK, not after another timeout";
  EXPECT_EQ(b.last_tcp().h.seq, b.iss + 1461);
  EXPECT_EQ(b.last_tcp().payload_len, 588u);
  b.peer_send(TCP_ACK, b.peer_seq, b.iss + 2049);
  b.settle();
  EXPECT_EQ(b.ir(0) & Sn_IR_SENDOK, Sn_IR_SENDOK);
}

TEST(tcp_data, unacknowledged_data_is_retransmitted_then_times_out) {
  tcp_bench b;
  b.connect(0);
  b.out.clear();
  b.send(0, data_of(100));
  b.settle(us(20));
  const ps_t t0 = b.out.at(0).start;
  b.sched.advance_to(t0 + ms(200));
  b.settle(us(20));
  ASSERT_EQ(b.out.size(), 2u);
  EXPECT_EQ(b.last_payload(), data_of(100));
  EXPECT_EQ(b.last_tcp().h.seq, b.iss + 1);
  b.sched.advance_to(t0 + ms(31800));
  EXPECT_EQ(b.sr(0), SOCK_CLOSED);
  EXPECT_EQ(b.ir(0) & Sn_IR_TIMEOUT, Sn_IR_TIMEOUT);
}

TEST(tcp_data, received_data_is_stored_raw_and_acked_after_rtr_without_nd) {
  tcp_bench b;
  b.connect(0);
  b.out.clear();
  const octets data = data_of(100);
  b.peer_send(TCP_ACK | TCP_PSH, b.peer_seq, b.iss + 1, data);
  const ps_t t_in = b.sched.now();
  EXPECT_EQ(b.sock16(0, Sn_RX_RSR), 100);
  EXPECT_EQ(b.ir(0) & Sn_IR_RECV, Sn_IR_RECV);
  octets got(100);
  b.host.read(bsb_rx(0), 0, got.data(), 100);
  EXPECT_EQ(got, data);
  b.sched.advance_to(t_in + ms(200) - 1);
  EXPECT_TRUE(b.out.empty()) << "delayed ACK waits RTR";
  b.settle(ms(1));
  ASSERT_EQ(b.out.size(), 1u);
  EXPECT_EQ(b.out[0].start, t_in + ms(200));
  EXPECT_EQ(b.out[0].data, b.chip_segment(TCP_ACK, b.iss + 1, b.peer_seq + 100, 2048 - 100, {}, 2));
}

TEST(tcp_data, nd_bit_acks_at_once_and_a_second_segment_forces_the_ack) {
  tcp_bench b;
  b.connect(0, 0x21);  // TCP | ND, as Adafruit and Arduino open TCP
  b.out.clear();
  b.peer_send(TCP_ACK, b.peer_seq, b.iss + 1, data_of(10));
  b.settle(us(20));
  ASSERT_EQ(b.out.size(), 1u);
  tcp_bench c;
  c.connect(0);
  c.out.clear();
  c.peer_send(TCP_ACK, c.peer_seq, c.iss + 1, data_of(10));
  c.peer_send(TCP_ACK, c.peer_seq + 10, c.iss + 1, data_of(10));
  c.settle(us(20));
  ASSERT_EQ(c.out.size(), 1u);
  EXPECT_EQ(c.last_tcp().h.ack, c.peer_seq + 20);
}

TEST(tcp_data, duplicate_overlapping_and_out_of_order_segments) {
  tcp_bench b;
  b.connect(0, 0x21);
  const octets d = data_of(30);
  b.peer_send(TCP_ACK, b.peer_seq, b.iss + 1, octets(d.begin(), d.begin() + 20));
  // Overlap: bytes 10..29, of which 10..19 are old.
  b.peer_send(TCP_ACK, b.peer_seq + 10, b.iss + 1, octets(d.begin() + 10, d.end()));
  EXPECT_EQ(b.sock16(0, Sn_RX_RSR), 30);
  // Pure duplicate and a segment from the future: dropped, ACK repeats RCV.NXT.
  b.settle(us(20));
  b.out.clear();
  b.peer_send(TCP_ACK, b.peer_seq, b.iss + 1, octets(d.begin(), d.begin() + 5));
  b.peer_send(TCP_ACK, b.peer_seq + 100, b.iss + 1, data_of(5));
  b.settle(us(20));
  EXPECT_EQ(b.sock16(0, Sn_RX_RSR), 30);
  ASSERT_EQ(b.out.size(), 2u);
  EXPECT_EQ(b.last_tcp().h.ack, b.peer_seq + 30);
  octets got(30);
  b.host.read(bsb_rx(0), 0, got.data(), 30);
  EXPECT_EQ(got, d);
}

TEST(tcp_data, advertised_window_is_free_rx_space_and_recv_reopens_it) {
  tcp_bench b;
  b.connect(0, 0x21);
  b.peer_send(TCP_ACK, b.peer_seq, b.iss + 1, data_of(1460));
  b.settle(us(20));
  EXPECT_EQ(b.last_tcp().h.window, 2048 - 1460);
  b.peer_send(TCP_ACK, b.peer_seq + 1460, b.iss + 1, data_of(700));  // does not fit: dropped whole
  b.settle(us(20));
  EXPECT_EQ(b.sock16(0, Sn_RX_RSR), 1460);
  EXPECT_EQ(b.last_tcp().h.ack, b.peer_seq + 1460);
  b.out.clear();
  b.set_sock16(0, Sn_RX_RD, 1460);
  ASSERT_TRUE(b.host.command(0, Sn_CR_RECV));
  b.settle(us(20));
  ASSERT_EQ(b.out.size(), 1u) << "window update";
  EXPECT_EQ(b.last_tcp().h.window, 2048);
}

TEST(tcp_close, active_close_goes_fin_wait_then_closed_on_peer_fin) {
  tcp_bench b;
  b.connect(0, 0x21);
  b.out.clear();
  ASSERT_TRUE(b.host.command(0, Sn_CR_DISCON));
  b.settle(us(20));
  EXPECT_EQ(b.sr(0), SOCK_FIN_WAIT);
  ASSERT_EQ(b.out.size(), 1u);
  EXPECT_EQ(b.out[0].data, b.chip_segment(TCP_FIN | TCP_ACK, b.iss + 1, b.peer_seq, 2048, {}, 2));
  b.peer_send(TCP_ACK, b.peer_seq, b.iss + 2);
  EXPECT_EQ(b.sr(0), SOCK_FIN_WAIT) << "FIN-WAIT-2";
  b.peer_send(TCP_FIN | TCP_ACK, b.peer_seq, b.iss + 2);
  b.settle(us(20));
  EXPECT_EQ(b.sr(0), SOCK_CLOSED);
  EXPECT_EQ(b.ir(0), Sn_IR_CON | Sn_IR_DISCON);
  EXPECT_EQ(b.out.back().data, b.chip_segment(TCP_ACK, b.iss + 2, b.peer_seq + 1, 2048, {}, 3));
}

TEST(tcp_close, simultaneous_close_goes_through_closing) {
  tcp_bench b;
  b.connect(0, 0x21);
  ASSERT_TRUE(b.host.command(0, Sn_CR_DISCON));
  b.peer_send(TCP_FIN | TCP_ACK, b.peer_seq, b.iss + 1);  // peer's FIN before it acked ours
  EXPECT_EQ(b.sr(0), SOCK_CLOSING);
  b.peer_send(TCP_ACK, b.peer_seq + 1, b.iss + 2);
  EXPECT_EQ(b.sr(0), SOCK_CLOSED);
}

TEST(tcp_close, passive_close_goes_close_wait_last_ack_closed) {
  tcp_bench b;
  b.connect(0, 0x21);
  b.out.clear();
  b.peer_send(TCP_FIN | TCP_ACK, b.peer_seq, b.iss + 1);
  b.settle(us(20));
  EXPECT_EQ(b.sr(0), SOCK_CLOSE_WAIT);
  EXPECT_EQ(b.ir(0), Sn_IR_CON | Sn_IR_DISCON);
  EXPECT_EQ(b.last_tcp().h.ack, b.peer_seq + 1);
  b.send(0, data_of(5));  // CLOSE_WAIT may still send
  b.settle(us(20));
  EXPECT_EQ(b.last_payload(), data_of(5));
  ASSERT_TRUE(b.host.command(0, Sn_CR_DISCON));
  b.settle(us(20));
  EXPECT_EQ(b.sr(0), SOCK_LAST_ACK);
  EXPECT_EQ(b.last_tcp().h.flags, TCP_FIN | TCP_ACK);
  EXPECT_EQ(b.last_tcp().h.seq, b.iss + 6);
  b.peer_send(TCP_ACK, b.peer_seq + 1, b.iss + 7);
  EXPECT_EQ(b.sr(0), SOCK_CLOSED);
}

TEST(tcp_close, rst_in_established_closes_and_close_sends_nothing) {
  tcp_bench b;
  b.connect(0);
  b.peer_send(TCP_RST, b.peer_seq, 0);
  EXPECT_EQ(b.sr(0), SOCK_CLOSED);
  EXPECT_EQ(b.ir(0), Sn_IR_CON | Sn_IR_DISCON);
  tcp_bench c;
  c.connect(0);
  c.out.clear();
  ASSERT_TRUE(c.host.command(0, Sn_CR_CLOSE));
  c.settle();
  EXPECT_TRUE(c.out.empty()) << "CLOSE sends no FIN and no RST";
}

TEST(tcp_close, rst_outside_the_window_is_ignored) {
  tcp_bench b;
  b.connect(0);
  b.peer_send(TCP_RST, b.peer_seq + 100000, 0);
  EXPECT_EQ(b.sr(0), SOCK_ESTABLISHED);
}

TEST(tcp_server, listeners_on_one_port_each_take_one_connection_then_rst) {
  tcp_bench b;
  for (int n : {2, 5}) {
    b.open_tcp(n);
    ASSERT_TRUE(b.host.command(n, Sn_CR_LISTEN));
  }
  b.peer_send(TCP_SYN, 7000, 0, {}, 8192, 1460, 40001);
  b.settle(us(20));
  EXPECT_EQ(b.sr(2), SOCK_SYNRECV) << "lowest-numbered listener first";
  EXPECT_EQ(b.sr(5), SOCK_LISTEN);
  const tcp_view synack = b.last_tcp();
  EXPECT_EQ(synack.h.flags, TCP_SYN | TCP_ACK);
  EXPECT_EQ(synack.h.ack, 7001u);
  EXPECT_EQ(synack.h.dst_port, 40001);
  b.peer_send(TCP_ACK, 7001, synack.h.seq + 1, {}, 8192, std::nullopt, 40001);
  EXPECT_EQ(b.sr(2), SOCK_ESTABLISHED);
  EXPECT_EQ(b.ir(2), Sn_IR_CON);
  EXPECT_EQ(b.sock16(2, Sn_DPORT), 40001);
  b.peer_send(TCP_SYN, 9000, 0, {}, 8192, 1460, 40002);
  EXPECT_EQ(b.sr(5), SOCK_SYNRECV);
  b.settle(us(20));
  b.out.clear();
  b.peer_send(TCP_SYN, 9500, 0, {}, 8192, 1460, 40003);  // no free listener
  b.settle(us(20));
  ASSERT_EQ(b.out.size(), 1u);
  EXPECT_EQ(b.last_tcp().h.flags, TCP_RST | TCP_ACK);
  EXPECT_EQ(b.last_tcp().h.ack, 9501u);
}

TEST(tcp_server, syn_to_a_closed_port_is_answered_with_rst) {
  tcp_bench b;
  b.chip.receive(tcp_frame(chip_mac, peer_mac, ip_hdr(peer_ip, chip_ip),
                           tcp_bench::segment(1234, 81, TCP_SYN, 555, 0, 100, std::nullopt), {}));
  b.settle();
  ASSERT_EQ(b.out.size(), 1u);
  EXPECT_EQ(b.out[0].data, tcp_frame(peer_mac, chip_mac, ip_hdr(chip_ip, peer_ip),
                                     tcp_bench::segment(81, 1234, TCP_RST | TCP_ACK, 0, 556, 0, std::nullopt), {}));
}

TEST(tcp_server, synrecv_without_final_ack_times_out) {
  tcp_bench b;
  b.open_tcp(1);
  ASSERT_TRUE(b.host.command(1, Sn_CR_LISTEN));
  b.peer_send(TCP_SYN, 7000, 0, {}, 8192, 1460);
  b.settle(seconds(32));
  EXPECT_EQ(b.sr(1), SOCK_CLOSED);
  EXPECT_EQ(b.ir(1), Sn_IR_TIMEOUT);
  EXPECT_EQ(b.out.size(), 9u) << "SYN|ACK plus RCR = 8 retransmissions";
}

TEST(tcp_keepalive, send_keep_needs_data_exchanged_and_sends_one_old_byte) {
  tcp_bench b;
  b.connect(0, 0x21);
  const auto errors = b.guest_errors();
  ASSERT_TRUE(b.host.command(0, Sn_CR_SEND_KEEP));
  EXPECT_EQ(b.guest_errors(), errors + 1) << "no data exchanged yet";
  b.send(0, data_of(4));
  b.peer_send(TCP_ACK, b.peer_seq, b.iss + 5);
  b.settle(us(20));
  b.out.clear();
  ASSERT_TRUE(b.host.command(0, Sn_CR_SEND_KEEP));
  b.settle(us(20));
  ASSERT_EQ(b.out.size(), 1u);
  EXPECT_EQ(b.last_tcp().h.seq, b.iss + 4);
  EXPECT_EQ(b.last_payload(), octets{data_of(4)[3]});
  b.peer_send(TCP_ACK, b.peer_seq, b.iss + 5);
  b.settle(seconds(40));
  EXPECT_EQ(b.sr(0), SOCK_ESTABLISHED) << "answered keep-alive: no retransmission timeout";
}

TEST(tcp_keepalive, automatic_keepalive_after_kpalvtr_and_timeout_when_unanswered) {
  tcp_bench b;
  b.connect(0, 0x21);
  b.set_sock(0, 0x2F, 2);  // 10 s
  b.send(0, data_of(4));
  b.settle(us(20));
  b.peer_send(TCP_ACK, b.peer_seq, b.iss + 5);
  const ps_t t_ack = b.sched.now();
  b.out.clear();
  b.sched.advance_to(t_ack + seconds(10) + ms(1));
  ASSERT_EQ(b.out.size(), 1u);
  EXPECT_EQ(b.out[0].start, t_ack + seconds(10));
  EXPECT_EQ(b.last_tcp().h.seq, b.iss + 4);
  b.settle(seconds(32));
  EXPECT_EQ(b.sr(0), SOCK_CLOSED);
  EXPECT_EQ(b.ir(0) & Sn_IR_TIMEOUT, Sn_IR_TIMEOUT);
}

TEST(tcp_quirks, rst_without_discon_when_quirk_is_off) {
  chip_config cfg;
  cfg.quirk.tcp_rst_raises_discon = false;
  tcp_bench b(cfg);
  b.connect(0);
  b.peer_send(TCP_RST, b.peer_seq, 0);
  EXPECT_EQ(b.sr(0), SOCK_CLOSED);
  EXPECT_EQ(b.ir(0), Sn_IR_CON);
}

TEST(tcp_quirks, fin_in_fin_wait_before_our_fin_is_acked_goes_last_ack_when_quirk_is_on) {
  chip_config cfg;
  cfg.quirk.tcp_fin_wait_fin_goes_last_ack = true;
  tcp_bench b(cfg);
  b.connect(0, 0x21);
  ASSERT_TRUE(b.host.command(0, Sn_CR_DISCON));
  b.peer_send(TCP_FIN | TCP_ACK, b.peer_seq, b.iss + 1);
  EXPECT_EQ(b.sr(0), SOCK_LAST_ACK);
  b.peer_send(TCP_ACK, b.peer_seq + 1, b.iss + 2);
  EXPECT_EQ(b.sr(0), SOCK_CLOSED);
}

TEST(tcp_quirks, out_of_order_segments_are_kept_when_quirk_is_on) {
  chip_config cfg;
  cfg.quirk.tcp_keep_out_of_order = true;
  tcp_bench b(cfg);
  b.connect(0, 0x21);
  const octets d = data_of(30);
  b.peer_send(TCP_ACK, b.peer_seq + 10, b.iss + 1, octets(d.begin() + 10, d.end()));
  EXPECT_EQ(b.sock16(0, Sn_RX_RSR), 0);
  b.peer_send(TCP_ACK, b.peer_seq, b.iss + 1, octets(d.begin(), d.begin() + 10));
  EXPECT_EQ(b.sock16(0, Sn_RX_RSR), 30);
  octets got(30);
  b.host.read(bsb_rx(0), 0, got.data(), 30);
  EXPECT_EQ(got, d);
  b.settle(us(20));
  EXPECT_EQ(b.last_tcp().h.ack, b.peer_seq + 30);
}

TEST(tcp_transitions, listen_ignores_rst_and_answers_a_bare_ack_with_rst) {
  tcp_bench b;
  b.open_tcp(0);
  ASSERT_TRUE(b.host.command(0, Sn_CR_LISTEN));
  b.peer_send(TCP_RST, 1, 0);
  b.settle();
  EXPECT_TRUE(b.out.empty());
  EXPECT_EQ(b.sr(0), SOCK_LISTEN);
  b.peer_send(TCP_ACK, 1, 777);
  b.settle();
  ASSERT_EQ(b.out.size(), 1u);
  EXPECT_EQ(b.last_tcp().h.flags, TCP_RST);
  EXPECT_EQ(b.last_tcp().h.seq, 777u);
  EXPECT_EQ(b.sr(0), SOCK_LISTEN);
}

TEST(tcp_transitions, rst_in_synrecv_closes_the_socket) {
  tcp_bench b;
  b.open_tcp(0);
  ASSERT_TRUE(b.host.command(0, Sn_CR_LISTEN));
  b.peer_send(TCP_SYN, 7000, 0, {}, 8192, 1460);
  ASSERT_EQ(b.sr(0), SOCK_SYNRECV);
  b.peer_send(TCP_RST, 7001, 0);
  EXPECT_EQ(b.sr(0), SOCK_CLOSED);
  EXPECT_EQ(b.ir(0), Sn_IR_DISCON);
}

TEST(tcp_transitions, bare_syn_in_synsent_is_ignored) {
  tcp_bench b;
  b.request_connect(0);
  b.settle(us(20));
  b.peer_arp_reply(peer_mac, peer_ip);
  b.settle(us(20));
  const auto before = b.chip.log().counters().unimplemented;
  b.peer_send(TCP_SYN, 4000, 0);
  EXPECT_EQ(b.sr(0), SOCK_SYNSENT);
  EXPECT_EQ(b.chip.log().counters().unimplemented, before + 1);
}

TEST(tcp_transitions, arp_timeout_on_connect_closes_with_timeout) {
  tcp_bench b;
  b.request_connect(0);
  b.settle(us(20));
  const ps_t t0 = b.out.at(0).start;
  b.sched.advance_to(t0 + ms(1800) - 1);
  EXPECT_EQ(b.sr(0), SOCK_INIT);
  b.sched.advance_to(t0 + ms(1800));
  EXPECT_EQ(b.sr(0), SOCK_CLOSED);
  EXPECT_EQ(b.ir(0), Sn_IR_TIMEOUT);
}

TEST(tcp_transitions, unacknowledged_fin_is_retransmitted_then_times_out) {
  tcp_bench b;
  b.connect(0, 0x21);
  b.settle(us(20));
  b.out.clear();
  ASSERT_TRUE(b.host.command(0, Sn_CR_DISCON));
  b.settle(us(20));
  const ps_t t0 = b.out.at(0).start;
  b.sched.advance_to(t0 + ms(200));
  b.settle(us(20));
  ASSERT_EQ(b.out.size(), 2u);
  EXPECT_EQ(b.last_tcp().h.flags, TCP_FIN | TCP_ACK);
  EXPECT_EQ(b.last_tcp().h.seq, b.iss + 1);
  b.sched.advance_to(t0 + ms(31800));
  EXPECT_EQ(b.sr(0), SOCK_CLOSED);
  EXPECT_EQ(b.ir(0) & Sn_IR_TIMEOUT, Sn_IR_TIMEOUT);
}

TEST(tcp_transitions, fin_wait_still_receives_data_after_our_fin) {
  tcp_bench b;
  b.connect(0, 0x21);
  ASSERT_TRUE(b.host.command(0, Sn_CR_DISCON));
  b.peer_send(TCP_ACK, b.peer_seq, b.iss + 2);  // our FIN acked: FIN-WAIT-2
  b.peer_send(TCP_ACK | TCP_PSH, b.peer_seq, b.iss + 2, data_of(12));
  EXPECT_EQ(b.sr(0), SOCK_FIN_WAIT);
  EXPECT_EQ(b.sock16(0, Sn_RX_RSR), 12);
  EXPECT_EQ(b.ir(0) & Sn_IR_RECV, Sn_IR_RECV);
  b.peer_send(TCP_FIN | TCP_ACK, b.peer_seq + 12, b.iss + 2);
  EXPECT_EQ(b.sr(0), SOCK_CLOSED);
}

TEST(tcp_transitions, last_ack_retransmits_fin_until_timeout) {
  tcp_bench b;
  b.connect(0, 0x21);
  b.peer_send(TCP_FIN | TCP_ACK, b.peer_seq, b.iss + 1);
  ASSERT_TRUE(b.host.command(0, Sn_CR_DISCON));
  EXPECT_EQ(b.sr(0), SOCK_LAST_ACK);
  b.settle(seconds(32));
  EXPECT_EQ(b.sr(0), SOCK_CLOSED);
  EXPECT_EQ(b.ir(0) & Sn_IR_TIMEOUT, Sn_IR_TIMEOUT);
}

TEST(tcp_transitions, segment_for_another_connection_gets_rst_and_leaves_ours_alone) {
  tcp_bench b;
  b.connect(0);
  b.settle(us(20));
  b.out.clear();
  b.peer_send(TCP_ACK, 1, 2, data_of(3), 8192, std::nullopt, 999);  // wrong source port
  b.settle(us(20));
  ASSERT_EQ(b.out.size(), 1u);
  EXPECT_EQ(b.last_tcp().h.flags, TCP_RST);
  EXPECT_EQ(b.sr(0), SOCK_ESTABLISHED);
  EXPECT_EQ(b.sock16(0, Sn_RX_RSR), 0);
}
