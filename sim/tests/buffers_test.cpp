// Buffers and ring pointers, spec §4.5 and §5: sizes, bases from cumulative sizes, FSR/RSR, the
// latched Sn_TX_WR and Sn_RX_RD, illegal sizes and overcommit.
#include <gtest/gtest.h>

#include "test_util.hpp"

using namespace wizsim;
using wizsim::test::bench;

namespace {
constexpr std::uint16_t RXBUF = 0x1E, TXBUF = 0x1F, TX_FSR = 0x20, TX_RD = 0x22, TX_WR = 0x24, RX_RSR = 0x26,
                        RX_RD = 0x28, RX_WR = 0x2A;
}

TEST(buffers, default_layout_is_2kb_per_socket_at_cumulative_bases) {
  bench b;
  for (int n = 0; n < num_sockets; ++n) {
    EXPECT_EQ(b.chip.tx_buffer_size(n), 2048u);
    EXPECT_EQ(b.chip.tx_buffer_base(n), 2048u * static_cast<unsigned>(n));
    EXPECT_EQ(b.chip.rx_buffer_base(n), 2048u * static_cast<unsigned>(n));
    EXPECT_EQ(b.sock16(n, TX_FSR), 0x0800);
  }
}

TEST(buffers, macraw_layout_gives_socket0_all_16kb) {
  bench b;
  // Linux/Zephyr/ESP-IDF: socket 0 16 KB, sockets 1..7 0 KB. Shrink the others first so the sum stays legal.
  for (int n = 1; n < num_sockets; ++n) {
    b.set_sock(n, TXBUF, 0);
    b.set_sock(n, RXBUF, 0);
  }
  const auto errors = b.guest_errors();
  b.set_sock(0, TXBUF, 16);
  b.set_sock(0, RXBUF, 16);
  EXPECT_EQ(b.guest_errors(), errors);
  EXPECT_EQ(b.chip.tx_buffer_size(0), 16384u);
  EXPECT_EQ(b.sock16(0, TX_FSR), 16384);
  EXPECT_EQ(b.sock16(1, TX_FSR), 0);
  // A 16 KB socket maps the whole RAM: offset 0x3FFF and 0x7FFF are the same byte.
  b.host.write8(bsb_tx(0), 0x3FFF, 0x5C);
  EXPECT_EQ(b.host.read8(bsb_tx(0), 0x7FFF), 0x5C);
}

TEST(buffers, bases_follow_cumulative_sizes) {
  bench b;
  const std::uint8_t sizes[8] = {4, 1, 2, 0, 8, 1, 0, 0};
  for (int n = 0; n < num_sockets; ++n) b.set_sock(n, TXBUF, sizes[n]);
  std::uint32_t base = 0;
  for (int n = 0; n < num_sockets; ++n) {
    EXPECT_EQ(b.chip.tx_buffer_base(n), base) << n;
    EXPECT_EQ(b.chip.tx_buffer_size(n), sizes[n] * 1024u) << n;
    base += sizes[n] * 1024u;
  }
  // Socket 1 (1 KB at 4 KB) wraps after 1 KB.
  b.host.write8(bsb_tx(1), 0x03FF, 0x11);
  EXPECT_EQ(b.host.read8(bsb_tx(1), 0x07FF), 0x11);
  EXPECT_EQ(b.host.read8(bsb_tx(0), 0x0FFF), 0x00) << "socket 0 must not see socket 1's byte";
}

TEST(buffers, size_zero_buffer_reads_zero_and_drops_writes) {
  bench b;
  b.set_sock(3, RXBUF, 0);
  const auto errors = b.guest_errors();
  b.host.write8(bsb_rx(3), 0x0010, 0x99);
  EXPECT_EQ(b.guest_errors(), errors + 1);
  EXPECT_EQ(b.host.read8(bsb_rx(3), 0x0010), 0x00);
  EXPECT_EQ(b.host.read8(bsb_rx(4), 0x0010), 0x00) << "the dropped write must not land elsewhere";
}

TEST(buffers, illegal_size_acts_as_zero_reads_back_and_is_logged) {
  bench b;
  const auto errors = b.guest_errors();
  b.set_sock(2, TXBUF, 3);
  EXPECT_EQ(b.guest_errors(), errors + 1);
  EXPECT_EQ(b.sock(2, TXBUF), 3);
  EXPECT_EQ(b.chip.tx_buffer_size(2), 0u);
  EXPECT_EQ(b.sock16(2, TX_FSR), 0);
  EXPECT_EQ(b.chip.tx_buffer_base(3), 4096u);
}

TEST(buffers, illegal_size_rounds_down_when_quirk_is_off) {
  chip_config cfg;
  cfg.quirk.illegal_buffer_size_as_zero = false;
  bench b(cfg);
  b.set_sock(2, TXBUF, 3);
  EXPECT_EQ(b.chip.tx_buffer_size(2), 2048u);
  b.set_sock(2, TXBUF, 200);
  EXPECT_EQ(b.chip.tx_buffer_size(2), 16384u);
}

TEST(buffers, overcommitted_sizes_wrap_modulo_16kb_and_are_logged) {
  bench b;
  const auto errors = b.guest_errors();
  b.set_sock(0, TXBUF, 16);  // 16 + 7 * 2 = 30 KB
  EXPECT_GT(b.guest_errors(), errors);
  EXPECT_EQ(b.chip.tx_buffer_base(1), 16384u);
  b.host.write8(bsb_tx(1), 0x0000, 0x42);  // physical 16 KB wraps to 0
  EXPECT_EQ(b.host.read8(bsb_tx(0), 0x0000), 0x42);
}

TEST(buffers, overcommitted_sockets_get_no_storage_when_wrap_quirk_is_off) {
  chip_config cfg;
  cfg.quirk.buffer_overcommit_wraps = false;
  bench b(cfg);
  b.set_sock(0, TXBUF, 16);
  EXPECT_EQ(b.chip.tx_buffer_size(0), 16384u);
  EXPECT_EQ(b.chip.tx_buffer_size(1), 0u);
  EXPECT_EQ(b.sock16(1, TX_FSR), 0);
}

TEST(buffers, tx_wr_write_is_held_until_send_then_fsr_drops) {
  bench b;
  ASSERT_TRUE(b.open(0, Sn_MR_UDP));
  // Arduino builds one datagram from several writes at readSnTX_WR()+offset (notes/drivers.md item 3).
  b.set_sock16(0, TX_WR, 100);
  EXPECT_EQ(b.sock16(0, TX_WR), 0) << "read-back keeps the committed value";
  EXPECT_EQ(b.sock16(0, TX_FSR), 2048);
  b.set_sock16(0, TX_WR, 300);
  ASSERT_TRUE(b.host.command(0, Sn_CR_SEND));
  EXPECT_EQ(b.sock16(0, TX_WR), 300);
  // No network engine consumes the data yet, so TX_RD stays and FSR shows the queued bytes.
  EXPECT_EQ(b.sock16(0, TX_RD), 0);
  EXPECT_EQ(b.sock16(0, TX_FSR), 2048 - 300);
}

TEST(buffers, tx_wr_reads_back_at_once_when_latch_quirk_is_off) {
  chip_config cfg;
  cfg.quirk.tx_wr_latched_until_send = false;
  bench b(cfg);
  ASSERT_TRUE(b.open(0, Sn_MR_UDP));
  b.set_sock16(0, TX_WR, 100);
  EXPECT_EQ(b.sock16(0, TX_WR), 100);
  EXPECT_EQ(b.sock16(0, TX_FSR), 2048) << "FSR still counts only committed data";
}

TEST(buffers, fsr_is_zero_when_host_overruns_the_buffer) {
  bench b;
  ASSERT_TRUE(b.open(0, Sn_MR_UDP));
  b.set_sock16(0, TX_WR, 5000);  // more than 2 KB: the chip does not protect against this
  ASSERT_TRUE(b.host.command(0, Sn_CR_SEND));
  EXPECT_EQ(b.sock16(0, TX_FSR), 0);
}

TEST(buffers, rx_rd_commits_on_recv_and_rsr_counts_from_committed_pointer) {
  bench b;
  ASSERT_TRUE(b.open(1, Sn_MR_UDP));
  EXPECT_EQ(b.sock16(1, RX_RSR), 0);
  EXPECT_EQ(b.sock16(1, RX_WR), 0);
  b.set_sock16(1, RX_RD, 8);
  EXPECT_EQ(b.sock16(1, RX_RD), 0) << "latched until RECV";
  ASSERT_TRUE(b.host.command(1, Sn_CR_RECV));
  EXPECT_EQ(b.sock16(1, RX_RD), 8);
  // RSR = RX_WR - RX_RD in 16-bit arithmetic (here the host over-consumed: 0 - 8).
  EXPECT_EQ(b.sock16(1, RX_RSR), 0xFFF8);
}

TEST(buffers, rx_rd_reads_back_at_once_when_latch_quirk_is_off) {
  chip_config cfg;
  cfg.quirk.rx_rd_latched_until_recv = false;
  bench b(cfg);
  ASSERT_TRUE(b.open(1, Sn_MR_UDP));
  b.set_sock16(1, RX_RD, 8);
  EXPECT_EQ(b.sock16(1, RX_RD), 8);
  EXPECT_EQ(b.sock16(1, RX_RSR), 0) << "RSR waits for RECV either way";
}

TEST(buffers, open_zeroes_the_pointers_but_not_the_ram) {
  bench b;
  ASSERT_TRUE(b.open(0, Sn_MR_UDP));
  b.host.write8(bsb_tx(0), 0x0005, 0x77);
  b.set_sock16(0, TX_WR, 40);
  ASSERT_TRUE(b.host.command(0, Sn_CR_SEND));
  ASSERT_TRUE(b.host.command(0, Sn_CR_CLOSE));
  ASSERT_TRUE(b.open(0, Sn_MR_UDP));
  EXPECT_EQ(b.sock16(0, TX_WR), 0);
  EXPECT_EQ(b.sock16(0, TX_FSR), 2048);
  EXPECT_EQ(b.host.read8(bsb_tx(0), 0x0005), 0x77);
}

TEST(buffers, pointers_wrap_at_16_bits) {
  bench b;
  ASSERT_TRUE(b.open(0, Sn_MR_UDP));
  b.set_sock16(0, TX_WR, 0xFF00);
  ASSERT_TRUE(b.host.command(0, Sn_CR_SEND));
  // 0xFF00 bytes queued > 2 KB: FSR 0. Nothing is lost in 16-bit pointer arithmetic.
  EXPECT_EQ(b.sock16(0, TX_WR), 0xFF00);
  EXPECT_EQ(b.sock16(0, TX_FSR), 0);
}
