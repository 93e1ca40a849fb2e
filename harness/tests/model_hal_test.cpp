// The driver HAL bound to the model: raw W5500 frames through wiznet5k::hal, exact virtual time for SPI
// bytes and sleeps, the RSTn and INTn pins, seeded entropy.
#include <gtest/gtest.h>

#include <array>
#include <set>
#include <vector>

#include "wizsim/harness/model_hal.hpp"

using namespace wizsim;

namespace {

constexpr std::uint16_t MR = 0x00, SHAR = 0x09, IR = 0x15, IMR = 0x16, VERSIONR = 0x39;

// A driver's view: only the abstract HAL, one VDM frame per access (address, control, data).
std::vector<std::uint8_t> read_frame(wiznet5k::hal& h, std::uint16_t addr, std::uint8_t bsb, std::size_t n) {
  const std::uint8_t header[3] = {static_cast<std::uint8_t>(addr >> 8), static_cast<std::uint8_t>(addr),
                                  static_cast<std::uint8_t>(bsb << 3)};
  std::vector<std::uint8_t> data(n, 0xEE);
  h.select();
  h.transfer(header, nullptr, 3);
  h.transfer(nullptr, data.data(), n);  // tx null: the HAL clocks out zeros
  h.deselect();
  return data;
}

void write_frame(wiznet5k::hal& h, std::uint16_t addr, std::uint8_t bsb,
                 const std::vector<std::uint8_t>& data) {
  const std::uint8_t header[3] = {static_cast<std::uint8_t>(addr >> 8), static_cast<std::uint8_t>(addr),
                                  static_cast<std::uint8_t>(bsb << 3 | 0x04)};
  h.select();
  h.transfer(header, nullptr, 3);
  h.transfer(data.data(), nullptr, data.size());  // rx null: MISO discarded
  h.deselect();
}

std::uint8_t read_common(wiznet5k::hal& h, std::uint16_t addr) {
  return read_frame(h, addr, 0, 1)[0];
}

struct rig {
  explicit rig(std::uint64_t seed = 7, chip_config cfg = {}) : chip(sched, std::move(cfg)), hal(chip, seed) {}
  scheduler sched{1};
  w5500 chip;
  model_hal hal;
};

}  // namespace

TEST(ModelHal, ReadsVersionrThroughRawHalFrames) {
  rig r;
  EXPECT_EQ(read_common(r.hal, VERSIONR), 0x04);
  EXPECT_EQ(r.hal.stats().frames, 1u);
  EXPECT_EQ(r.hal.stats().bytes, 4u);
}

TEST(ModelHal, FullDuplexTransferReturnsTheHeaderEchoThenData) {
  rig r;
  const std::uint8_t tx[4] = {0x00, VERSIONR, 0x00, 0x00};
  std::uint8_t rx[4] = {};
  r.hal.select();
  r.hal.transfer(tx, rx, 4);
  r.hal.deselect();
  // The W5500 drives 0x01 0x02 0x03 on MISO while it receives the header.
  EXPECT_EQ(rx[0], 0x01);
  EXPECT_EQ(rx[1], 0x02);
  EXPECT_EQ(rx[2], 0x03);
  EXPECT_EQ(rx[3], 0x04);
}

TEST(ModelHal, WritesAndReadsBackShar) {
  rig r;
  const std::vector<std::uint8_t> mac{0x02, 0x57, 0x49, 0x5A, 0x00, 0x42};
  write_frame(r.hal, SHAR, 0, mac);
  EXPECT_EQ(read_frame(r.hal, SHAR, 0, 6), mac);
  // And the chip itself agrees (no HAL-side caching).
  for (std::size_t i = 0; i < mac.size(); ++i)
    EXPECT_EQ(r.chip.read(0, static_cast<std::uint16_t>(SHAR + i)), mac[i]);
}

TEST(ModelHal, AFrameSplitOverSeveralTransfersIsOneFrame) {
  rig r;
  const std::uint8_t header[3] = {0x00, SHAR, 0x04};
  const std::uint8_t mac[6] = {2, 0, 0, 0, 0, 0x33};
  r.hal.select();
  r.hal.transfer(header, nullptr, 1);
  r.hal.transfer(header + 1, nullptr, 2);
  for (const std::uint8_t b : mac) r.hal.transfer(&b, nullptr, 1);
  r.hal.deselect();
  EXPECT_EQ(r.chip.read(0, SHAR + 5), 0x33);
  EXPECT_EQ(r.chip.spi().stats().frames, 1u);
}

TEST(ModelHal, SleepAdvancesVirtualTimeExactlyAndRunsEventsDueMeanwhile) {
  rig r;
  const ps_t t0 = r.sched.now();
  bool fired = false;
  ps_t fired_at = 0;
  r.sched.after(us(2500), [&] {
    fired = true;
    fired_at = r.sched.now();
  });
  r.hal.sleep_ms(2);
  EXPECT_EQ(r.sched.now(), t0 + ms(2));
  EXPECT_FALSE(fired);
  r.hal.sleep_us(500);
  EXPECT_EQ(r.sched.now(), t0 + us(2500));
  EXPECT_TRUE(fired);
  EXPECT_EQ(fired_at, t0 + us(2500)) << "the event runs at its own time, not at the end of the sleep";
  r.hal.sleep_ms(0);
  EXPECT_EQ(r.sched.now(), t0 + us(2500));
  EXPECT_EQ(r.hal.stats().sleeps, 3u);
  EXPECT_EQ(r.hal.stats().slept, us(2500));
}

TEST(ModelHal, MillisAndMicrosAreTheSchedulerClock) {
  rig r;
  r.sched.advance_to(ms(1234) + us(567) + ns(890));
  EXPECT_EQ(r.hal.millis(), 1234u);
  EXPECT_EQ(r.hal.micros(), 1'234'567u);
  r.hal.sleep_us(433);
  EXPECT_EQ(r.hal.millis(), 1235u);
  EXPECT_EQ(r.hal.micros(), 1'235'000u);
}

TEST(ModelHal, ATransferOfNBytesCostsNByteTimes) {
  chip_config cfg;
  cfg.sclk_hz = 10'000'000;  // 800 ns per byte
  rig r(7, cfg);
  const ps_t byte = r.chip.spi().byte_time();
  ASSERT_EQ(byte, ns(800));
  r.hal.select();
  const ps_t t0 = r.sched.now();
  std::vector<std::uint8_t> tx(3 + 100, 0);  // header reading 100 bytes of RX buffer 0
  tx[2] = static_cast<std::uint8_t>(bsb_rx(0) << 3);
  std::vector<std::uint8_t> rx(tx.size());
  r.hal.transfer(tx.data(), rx.data(), tx.size());
  EXPECT_EQ(r.sched.now() - t0, 103 * byte);
  const ps_t t1 = r.sched.now();
  r.hal.transfer(nullptr, nullptr, 17);
  EXPECT_EQ(r.sched.now() - t1, 17 * byte);
  const ps_t t2 = r.sched.now();
  r.hal.deselect();
  EXPECT_EQ(r.sched.now() - t2, r.chip.spi().cs_rise_time());
  // With CS high the chip ignores the bus but the clocks still take their time.
  const ps_t t3 = r.sched.now();
  r.hal.transfer(nullptr, rx.data(), 5);
  EXPECT_EQ(r.sched.now() - t3, 5 * byte);
  EXPECT_EQ(rx[0], 0xFF) << "MISO is Hi-Z while deselected";
}

TEST(ModelHal, ResetPinLowOneMsThenHighRestartsTheChipAfterPllLock) {
  rig r;
  write_frame(r.hal, SHAR, 0, {2, 0, 0, 0, 0, 9});
  ASSERT_TRUE(r.hal.has_reset());
  r.hal.set_reset(false);
  EXPECT_FALSE(r.chip.rstn());
  r.hal.sleep_ms(1);
  r.hal.set_reset(true);
  EXPECT_TRUE(r.chip.rstn());
  EXPECT_EQ(read_common(r.hal, VERSIONR), 0x00) << "SPI reads zero until the PLL has locked";
  // The datasheet's TPL (1 ms after release, chip_config::pll_lock_ps); our read above took a few bytes of
  // it already, so sleeping the full figure is enough and is what a driver does.
  r.hal.sleep_us(static_cast<std::uint32_t>(r.chip.config().pll_lock_ps / ps_per_us));
  EXPECT_EQ(read_common(r.hal, VERSIONR), 0x04);
  EXPECT_EQ(read_common(r.hal, SHAR + 5), 0x00) << "registers are back at reset values";
  EXPECT_EQ(r.chip.log().counters().guest_errors, 0u) << "1 ms low meets the 500 us minimum";
}

TEST(ModelHal, ABoardWithoutResetOrIntLinesIgnoresThem) {
  scheduler sched{1};
  w5500 chip(sched);
  model_hal hal(chip, 1, /*wire_reset=*/false, /*wire_int=*/false);
  EXPECT_FALSE(hal.has_reset());
  EXPECT_FALSE(hal.has_int());
  hal.set_reset(false);
  EXPECT_TRUE(chip.rstn());
  EXPECT_EQ(chip.log().counters().warnings, 1u);
  chip.write(0, IMR, IR_CONFLICT);
  chip.raise_ir(IR_CONFLICT);
  ASSERT_FALSE(chip.int_n());
  EXPECT_TRUE(hal.int_level()) << "an unwired INTn reads as idle";
}

TEST(ModelHal, IntLevelFollowsTheChipsIntnPin) {
  rig r;
  ASSERT_TRUE(r.hal.has_int());
  EXPECT_TRUE(r.hal.int_level());
  write_frame(r.hal, IMR, 0, {IR_UNREACH});
  r.chip.raise_ir(IR_UNREACH);
  EXPECT_FALSE(r.hal.int_level()) << "INTn is active low";
  write_frame(r.hal, IR, 0, {IR_UNREACH});  // write 1 to clear
  EXPECT_TRUE(r.hal.int_level());
}

TEST(ModelHal, MrResetThroughTheHalSelfClears) {
  rig r;
  write_frame(r.hal, SHAR, 0, {2, 0, 0, 0, 0, 9});
  write_frame(r.hal, MR, 0, {0x80});
  int polls = 0;
  while (read_common(r.hal, MR) & 0x80) {
    r.hal.sleep_us(10);
    ASSERT_LT(++polls, 1000);
  }
  EXPECT_EQ(read_common(r.hal, SHAR + 5), 0x00);
  EXPECT_EQ(read_common(r.hal, VERSIONR), 0x04);
}

TEST(ModelHal, RandomIsDeterministicFromTheSeed) {
  rig a(42), b(42), c(43);
  std::vector<std::uint32_t> va, vb, vc;
  for (int i = 0; i < 16; ++i) {
    va.push_back(a.hal.random32());
    vb.push_back(b.hal.random32());
    vc.push_back(c.hal.random32());
  }
  EXPECT_EQ(va, vb);
  EXPECT_NE(va, vc);
  EXPECT_GT(std::set<std::uint32_t>(va.begin(), va.end()).size(), 14u);
  // The first value is fixed by the algorithm (xoshiro256** over splitmix64), not by the platform.
  EXPECT_EQ(va[0], 0x15780B2Eu);

  std::array<std::uint8_t, 7> fa{}, fb{};
  a.hal.fill(fa.data(), fa.size());
  b.hal.fill(fb.data(), fb.size());
  EXPECT_EQ(fa, fb);
  EXPECT_NE(fa, (std::array<std::uint8_t, 7>{}));
  EXPECT_EQ(a.hal.random32(), b.hal.random32()) << "fill consumed the same number of draws";
  EXPECT_EQ(a.sched.now(), 0u) << "entropy costs no virtual time";
}
