// SPI frame protocol, spec §2: the worked frames of §2.3 byte for byte, VDM and FDM, header bytes on
// MISO, auto-increment and wrap, CS handling, and the wire time each frame costs.
#include <gtest/gtest.h>

#include "test_util.hpp"

using namespace wizsim;
using wizsim::test::bench;
using wizsim::test::bytes;

TEST(spi_frame, worked_example_write_simr) {
  bench b;
  EXPECT_EQ(b.host.raw(bytes({0x00, 0x18, 0x04, 0xAA})), bytes({0x01, 0x02, 0x03, 0x00}));
  EXPECT_EQ(b.common(0x0018), 0xAA);
}

TEST(spi_frame, worked_example_write_socket1_tx_buffer) {
  bench b;
  b.host.raw(bytes({0x00, 0x40, 0x34, 0x11, 0x22, 0x33, 0x44, 0x55}));
  std::uint8_t got[5];
  b.host.read(bsb_tx(1), 0x0040, got, 5);
  EXPECT_EQ(std::vector<std::uint8_t>(got, got + 5), bytes({0x11, 0x22, 0x33, 0x44, 0x55}));
  // Socket 1's TX buffer starts at 2 KB with default sizes.
  EXPECT_EQ(b.chip.tx_buffer_base(1), 2048u);
}

TEST(spi_frame, worked_example_read_socket7_status) {
  bench b;
  ASSERT_TRUE(b.open(7, Sn_MR_UDP));
  EXPECT_EQ(b.host.raw(bytes({0x00, 0x03, 0xE8, 0x00})), bytes({0x01, 0x02, 0x03, SOCK_UDP}));
}

TEST(spi_frame, worked_example_read_five_bytes_from_socket3_rx_buffer) {
  bench b;
  // The host may write the RX buffer too (spec §2.7); control byte 0x7C = RX3 write.
  b.host.raw(bytes({0x01, 0x00, 0x7C, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5}));
  EXPECT_EQ(b.host.raw(bytes({0x01, 0x00, 0x78, 0, 0, 0, 0, 0})),
            bytes({0x01, 0x02, 0x03, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5}));
}

TEST(spi_frame, worked_example_read_versionr) {
  bench b;
  EXPECT_EQ(b.host.raw(bytes({0x00, 0x39, 0x00, 0x00})), bytes({0x01, 0x02, 0x03, 0x04}));
}

TEST(spi_frame, header_split_over_single_byte_transfers_like_adafruit) {
  bench b;
  // Adafruit sends the header as three 1-byte writes, then the data, all inside one CS frame.
  b.chip.cs(false);
  EXPECT_EQ(b.chip.transfer(0x00), 0x01);
  EXPECT_EQ(b.chip.transfer(0x0F), 0x02);
  EXPECT_EQ(b.chip.transfer(0x04), 0x03);
  for (std::uint8_t v : bytes({192, 168, 1, 50})) EXPECT_EQ(b.chip.transfer(v), 0x00);
  b.chip.cs(true);
  std::uint8_t ip[4];
  b.host.read(bsb_common(), 0x000F, ip, 4);
  EXPECT_EQ(std::vector<std::uint8_t>(ip, ip + 4), bytes({192, 168, 1, 50}));
}

TEST(spi_frame, vdm_read_auto_increments_across_register_boundaries) {
  bench b;
  // Rust w5500-ll reads TX_FSR..TX_WR as one 6-byte burst.
  std::uint8_t v[6];
  b.host.read(bsb_socket(2), 0x0020, v, 6);
  EXPECT_EQ(std::vector<std::uint8_t>(v, v + 6), bytes({0x08, 0x00, 0x00, 0x00, 0x00, 0x00}));
}

TEST(spi_frame, fdm_frames_back_to_back_with_cs_held_low) {
  bench b;
  // FDM1 write SIMR=0x5A, FDM2 write RTR=0x1234, FDM4 read SHAR[0..3] (preset), FDM1 read SIMR.
  const std::uint8_t mac[6] = {1, 2, 3, 4, 5, 6};
  b.host.write(bsb_common(), 0x0009, mac, 6);
  const auto miso = b.host.raw(bytes({0x00, 0x18, 0x05, 0x5A,               //
                                      0x00, 0x19, 0x06, 0x12, 0x34,         //
                                      0x00, 0x09, 0x03, 0, 0, 0, 0,         //
                                      0x00, 0x18, 0x01, 0}));
  EXPECT_EQ(miso, bytes({1, 2, 3, 0, 1, 2, 3, 0, 0, 1, 2, 3, 1, 2, 3, 4, 1, 2, 3, 0x5A}));
  EXPECT_EQ(b.common(0x0018), 0x5A);
  EXPECT_EQ(b.host.read16(bsb_common(), 0x0019), 0x1234);
  EXPECT_EQ(b.chip.spi().stats().frames, 7u);  // SHAR write, 4 FDM frames, 2 reads
}

TEST(spi_frame, fdm_stream_with_cs_tied_low_through_byte_contract) {
  bench b;
  b.chip.cs(false);
  // Rust w5500-ll splits long transfers into 4/2/1-byte FDM frames.
  const auto stream = bytes({0x00, 0x0F, 0x07, 10, 0, 0, 7, 0x00, 0x0F, 0x03, 0, 0, 0, 0});
  std::vector<std::uint8_t> miso;
  for (auto v : stream) miso.push_back(b.chip.transfer(v));
  EXPECT_EQ(std::vector<std::uint8_t>(miso.begin() + 10, miso.end()), bytes({10, 0, 0, 7}));
  b.chip.cs(true);
}

TEST(spi_frame, offset_wraps_from_ffff_to_0000_inside_a_burst) {
  bench b;
  b.set_common(0x0000, 0x08);  // MR.PPPoE reads back
  std::uint8_t v[3];
  b.host.read(bsb_common(), 0xFFFF, v, 3);
  EXPECT_EQ(v[0], 0x00);  // reserved
  EXPECT_EQ(v[1], 0x08);  // MR
  EXPECT_EQ(v[2], 0x00);  // GAR[0]
}

TEST(spi_frame, buffer_burst_wraps_at_socket_buffer_end_and_ignores_upper_offset_bits) {
  bench b;
  const std::uint8_t d[4] = {0xD0, 0xD1, 0xD2, 0xD3};
  b.host.write(bsb_tx(0), 0x07FE, d, 4);  // 2 KB buffer: bytes 2 and 3 land at 0x0000, 0x0001
  std::uint8_t v[2];
  b.host.read(bsb_tx(0), 0x0000, v, 2);
  EXPECT_EQ(v[0], 0xD2);
  EXPECT_EQ(v[1], 0xD3);
  // Arduino/Adafruit put 0x8000 legacy bits in the address; the chip masks them off.
  b.host.read(bsb_tx(0), 0x8000 + 0x07FE, v, 2);
  EXPECT_EQ(v[0], 0xD0);
  EXPECT_EQ(v[1], 0xD1);
  // A burst across the 16-bit offset wrap also stays inside the socket buffer.
  b.host.read(bsb_tx(0), 0xFFFF, v, 2);
  std::uint8_t direct[2];
  b.host.read(bsb_tx(0), 0x07FF, direct, 1);
  b.host.read(bsb_tx(0), 0x0000, direct + 1, 1);
  EXPECT_EQ(v[0], direct[0]);
  EXPECT_EQ(v[1], direct[1]);
}

TEST(spi_frame, cs_rising_mid_header_aborts_with_no_effect) {
  bench b;
  const auto errors = b.guest_errors();
  b.chip.cs(false);
  b.chip.transfer(0x00);
  b.chip.transfer(0x18);
  b.chip.cs(true);  // the control byte never came
  EXPECT_EQ(b.chip.spi().stats().aborted_frames, 1u);
  EXPECT_EQ(b.guest_errors(), errors + 1);
  // The next frame decodes from its first byte.
  b.host.raw(bytes({0x00, 0x18, 0x04, 0x77}));
  EXPECT_EQ(b.common(0x0018), 0x77);
}

TEST(spi_frame, cs_rising_in_vdm_data_keeps_bytes_already_written) {
  bench b;
  b.chip.cs(false);
  for (auto v : bytes({0x00, 0x09, 0x04, 0xAA, 0xBB})) b.chip.transfer(v);
  b.chip.cs(true);
  EXPECT_EQ(b.common(0x0009), 0xAA);
  EXPECT_EQ(b.common(0x000A), 0xBB);
  EXPECT_EQ(b.common(0x000B), 0x00);
}

TEST(spi_frame, cs_falling_edge_resynchronises_an_unfinished_fdm_frame) {
  bench b;
  b.chip.cs(false);
  for (auto v : bytes({0x00, 0x19, 0x06, 0x55})) b.chip.transfer(v);  // FDM2, one byte short
  b.chip.cs(true);
  b.host.raw(bytes({0x00, 0x18, 0x04, 0x42}));
  EXPECT_EQ(b.common(0x0018), 0x42);
  EXPECT_EQ(b.host.read16(bsb_common(), 0x0019), 0x55D0);  // only RTR[0] was written
}

TEST(spi_frame, fdm_frames_ignore_cs_edges_when_resync_quirk_is_off) {
  chip_config cfg;
  cfg.quirk.fdm_resync_on_cs = false;
  bench b(cfg);
  b.chip.cs(false);
  for (auto v : bytes({0x00, 0x19, 0x06, 0x55})) b.chip.transfer(v);
  b.chip.cs(true);
  b.chip.cs(false);
  b.chip.transfer(0x66);  // completes the FDM2 frame begun before the CS pulse
  b.chip.cs(true);
  EXPECT_EQ(b.host.read16(bsb_common(), 0x0019), 0x5566);
}

TEST(spi_frame, miso_during_write_data_is_the_configured_byte) {
  chip_config cfg;
  cfg.quirk.miso_during_write = 0xEE;
  bench b(cfg);
  EXPECT_EQ(b.host.raw(bytes({0x00, 0x18, 0x04, 0x01, 0x02})), bytes({1, 2, 3, 0xEE, 0xEE}));
}

TEST(spi_frame, each_frame_costs_its_wire_time) {
  chip_config cfg;
  cfg.sclk_hz = 10'000'000;  // 100 ns per SCLK, 800 ns per byte
  bench b(cfg);
  const ps_t t0 = b.sched.now();
  b.host.raw(bytes({0x00, 0x39, 0x00, 0x00}));
  EXPECT_EQ(b.sched.now() - t0, ns(5) + 4 * ns(800) + ns(5) + ns(30));
  EXPECT_EQ(b.chip.spi().byte_time(), ns(800));
}

TEST(spi_frame, transfer_with_cs_high_is_ignored_but_time_passes) {
  bench b;
  const ps_t t0 = b.sched.now();
  EXPECT_EQ(b.chip.transfer(0x00), 0xFF);
  EXPECT_EQ(b.chip.transfer(0x18), 0xFF);
  EXPECT_EQ(b.sched.now() - t0, 2 * b.chip.spi().byte_time());
  EXPECT_EQ(b.chip.spi().stats().bytes, 0u);
}

TEST(spi_frame, reserved_block_select_reads_zero_drops_writes_and_logs) {
  bench b;
  const auto errors = b.guest_errors();
  // Arduino's W5200 probe: "write MR" in W5200 format decodes as a read of reserved block 0x10.
  EXPECT_EQ(b.host.raw(bytes({0x00, 0x00, 0x80, 0x01, 0x80})), bytes({1, 2, 3, 0, 0}));
  b.host.raw(bytes({0x00, 0x00, control_byte(0x04, true), 0x99}));
  EXPECT_EQ(b.guest_errors(), errors + 2);
  EXPECT_EQ(b.common(0x0000), 0x00);
}

TEST(bsb, decode_covers_all_32_values) {
  EXPECT_EQ(decode_bsb(0), (block_ref{block_kind::common, -1}));
  for (int n = 0; n < 8; ++n) {
    EXPECT_EQ(decode_bsb(bsb_socket(n)), (block_ref{block_kind::socket_regs, n}));
    EXPECT_EQ(decode_bsb(bsb_tx(n)), (block_ref{block_kind::tx_buffer, n}));
    EXPECT_EQ(decode_bsb(bsb_rx(n)), (block_ref{block_kind::rx_buffer, n}));
    if (n > 0) {
      EXPECT_EQ(decode_bsb(static_cast<std::uint8_t>(4 * n)).kind, block_kind::reserved);
    }
  }
  EXPECT_EQ(decode_bsb(32).kind, block_kind::reserved);
  // Control-byte constants used by every driver (spec §2.3).
  EXPECT_EQ(control_byte(bsb_socket(3), false), 0x08 + 0x20 * 3);
  EXPECT_EQ(control_byte(bsb_tx(1), true), 0x14 + 0x20);
  EXPECT_EQ(control_byte(bsb_rx(3), false), 0x18 + 0x20 * 3);
}
