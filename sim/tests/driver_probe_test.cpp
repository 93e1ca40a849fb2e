// Chip probes of real drivers answered correctly (notes/drivers.md items 7-9): the exact frames the
// Adafruit, Arduino, Linux/Zephyr and ioLibrary drivers send when they look for a W5500.
#include <gtest/gtest.h>

#include "test_util.hpp"

using namespace wizsim;
using wizsim::test::bench;
using wizsim::test::bytes;

TEST(driver_probe, adafruit_w5100s_probe_does_not_find_a_w5100s) {
  bench b;
  b.host.raw(bytes({0xF0, 0x00, 0x00, 0x80}));  // W5100S "write MR=RST": a read of common 0xF000 here
  b.sched.advance_by(ms(50));
  const auto miso = b.host.raw(bytes({0x0F, 0x00, 0x00, 0x00}));  // W5100S "read MR": common 0x0F00
  EXPECT_NE(miso[3], 0x03);
  EXPECT_EQ(miso[3], 0x00);
  EXPECT_EQ(b.common(0x0000), 0x00) << "the probe must not have changed MR";
}

TEST(driver_probe, adafruit_w5500_probe_sequence) {
  bench b;
  b.host.raw(bytes({0x00, 0x00, 0x04, 0x80}));  // MR = RST
  b.sched.advance_by(ms(50));
  EXPECT_EQ(b.common(0x0000), 0x00);
  for (std::uint8_t v : bytes({0x08, 0x10, 0x00})) {
    b.set_common(0x0000, v);
    EXPECT_EQ(b.common(0x0000), v);
  }
  EXPECT_EQ(b.common(0x0039), 0x04);
  for (int n = 0; n < num_sockets; ++n) {  // _setup_sockets: 2 KB each, one byte per frame
    b.host.raw(bytes({0x00, 0x1E, 0x0C | (n << 5), 2}));
    b.host.raw(bytes({0x00, 0x1F, 0x0C | (n << 5), 2}));
  }
  EXPECT_EQ(b.guest_errors(), 0u);
}

TEST(driver_probe, arduino_w5200_probe_then_w5500_detection) {
  bench b;
  // W5200 soft reset "write MR=0x80" in W5200 format: a read of reserved block 0x10 on a W5500.
  EXPECT_EQ(b.host.raw(bytes({0x00, 0x00, 0x80, 0x01, 0x80})), bytes({1, 2, 3, 0, 0}));
  // W5200 "read MR": a VDM read of MR then GAR[0] on a W5500.
  EXPECT_EQ(b.host.raw(bytes({0x00, 0x00, 0x00, 0x01, 0x00})), bytes({1, 2, 3, 0, 0}));
  // isW5500(): softReset polls MR (at most 20 x 1 ms), then MR 0x08 / 0x10 / 0x00 read-back, VERSIONR.
  b.set_common(0x0000, 0x80);
  int polls = 0;
  while (b.common(0x0000) != 0) {
    ASSERT_LT(++polls, 20);
    b.sched.advance_by(ms(1));
  }
  for (std::uint8_t v : bytes({0x08, 0x10, 0x00})) {
    b.set_common(0x0000, v);
    EXPECT_EQ(b.common(0x0000), v);
  }
  EXPECT_EQ(b.common(0x0039), 0x04);
}

TEST(driver_probe, arduino_w5100_rtr_offsets_land_on_sir_simr_and_rtr_high_byte) {
  bench b;
  const auto errors = b.guest_errors();
  // setRetransmissionTimeout(2000): a 2-byte write at W5100's RTR offset 0x0017 = SIR (ro), SIMR.
  b.host.raw(bytes({0x00, 0x17, 0x04, 0x07, 0xD0}));
  EXPECT_EQ(b.common(0x0017), 0x00);
  EXPECT_EQ(b.common(0x0018), 0xD0);
  EXPECT_EQ(b.guest_errors(), errors + 1);
  // setRetransmissionCount(3): a 1-byte write at W5100's RCR offset 0x0019 = RTR[15:8].
  b.host.raw(bytes({0x00, 0x19, 0x04, 0x03}));
  EXPECT_EQ(b.host.read16(bsb_common(), 0x0019), 0x03D0);
  EXPECT_EQ(b.common(0x001B), 0x08);
}

TEST(driver_probe, linux_and_zephyr_verify_reset_by_rtr) {
  bench b;
  b.host.write16(bsb_common(), 0x0019, 0x1111);
  b.set_common(0x0000, 0x80);
  b.sched.advance_by(ms(5));
  EXPECT_EQ(b.host.read16(bsb_common(), 0x0019), 0x07D0);
  EXPECT_EQ(b.common(0x001B), 0x08);
  EXPECT_EQ(b.common(0x0039), 0x04);
  EXPECT_EQ(b.common(0x0000), 0x00);
}

TEST(driver_probe, iolibrary_sw_reset_restores_network_identity_right_after_mr_rst) {
  bench b;
  // wizchip_sw_reset: MR=0x80, one getMR(), then setSHAR/GAR/SUBR/SIPR immediately.
  b.set_common(0x0000, 0x80);
  (void)b.common(0x0000);
  const std::uint8_t mac[6] = {0x00, 0x08, 0xDC, 1, 2, 3};
  b.host.write(bsb_common(), 0x0009, mac, 6);
  b.sched.advance_by(ms(1));
  std::uint8_t got[6];
  b.host.read(bsb_common(), 0x0009, got, 6);
  EXPECT_EQ(std::vector<std::uint8_t>(got, got + 6), std::vector<std::uint8_t>(mac, mac + 6));
}

TEST(driver_probe, rtr_is_0x07d0_after_power_up) {
  bench b;
  EXPECT_EQ(b.host.read16(bsb_common(), 0x0019), 0x07D0);
}
