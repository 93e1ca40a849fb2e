// Bad input never crashes, hangs or corrupts the chip: random byte streams with CS glitches anywhere
// (mid-header included), reserved block selects, bursts running past the end of a block, writes to
// read-only registers, bytes clocked with CS high. What the host does wrong is a guest error (counted even
// with logging off) and has no effect; afterwards a clean frame still works. Bad configuration is
// rejected at construction with std::invalid_argument (diag.hpp: "bugs or bad configuration throw").
#include <gtest/gtest.h>

#include "test_util.hpp"

#include <array>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "wizsim/config.hpp"
#include "wizsim/host.hpp"
#include "wizsim/quirks.hpp"
#include "wizsim/registers.hpp"
#include "wizsim/scheduler.hpp"
#include "wizsim/w5500.hpp"

using namespace wizsim;

namespace {

using bytes_t = std::vector<std::uint8_t>;

std::uint8_t u8(std::uint64_t v) { return static_cast<std::uint8_t>(v); }

constexpr std::uint16_t VERSIONR = 0x39, SHAR = 0x09, IR = 0x15, IMR = 0x16, SIR = 0x17, SIMR = 0x18, MR = 0x00;
constexpr std::uint16_t Sn_MR = 0x00, Sn_CR = 0x01, Sn_IR = 0x02, Sn_SR = 0x03, Sn_TX_FSR = 0x20, Sn_TX_RD = 0x22,
                        Sn_RX_RSR = 0x26, Sn_RX_RD = 0x28, Sn_RX_WR = 0x2A, Sn_IMR = 0x2C;

struct rig {
  explicit rig(chip_config cfg = {}) : sched(3), chip(sched, std::move(cfg)) {}
  scheduler sched;
  w5500 chip;
  std::uint64_t guest_errors() const { return chip.log().counters().guest_errors; }
};

bytes_t header(std::uint8_t bsb, std::uint16_t addr, bool write, op_mode om = op_mode::vdm) {
  return {u8(addr >> 8), u8(addr), control_byte(bsb, write, om)};
}

using wizsim::test::xfer;

// Everything the host can see, read without side effects through the register port.
struct image {
  bytes_t common;
  std::array<bytes_t, 8> sockets;
  bytes_t tx, rx;  // every socket's whole 16 KB buffer window, concatenated
  bool operator==(const image& o) const {
    return common == o.common && sockets == o.sockets && tx == o.tx && rx == o.rx;
  }
};

image snapshot(const w5500& c) {
  image im;
  for (std::uint16_t o = 0; o < common_block_size; ++o) im.common.push_back(c.read(bsb_common(), o));
  bytes_t window(buffer_ram_size);
  for (int n = 0; n < num_sockets; ++n) {
    for (std::uint16_t o = 0; o < socket_block_size; ++o) im.sockets[n].push_back(c.read(bsb_socket(n), o));
    c.read_block(bsb_tx(n), 0, window.data(), window.size());
    im.tx.insert(im.tx.end(), window.begin(), window.end());
    c.read_block(bsb_rx(n), 0, window.data(), window.size());
    im.rx.insert(im.rx.end(), window.begin(), window.end());
  }
  return im;
}

// Where two images first differ, for failure messages.
std::string first_difference(const w5500& c, const image& a, const image& b) {
  for (std::uint16_t o = 0; o < common_block_size; ++o)
    if (a.common[o] != b.common[o]) return c.describe(bsb_common(), o);
  for (int n = 0; n < num_sockets; ++n)
    for (std::uint16_t o = 0; o < socket_block_size; ++o)
      if (a.sockets[n][o] != b.sockets[n][o]) return c.describe(bsb_socket(n), o);
  if (a.tx != b.tx) return "TX buffer RAM";
  if (a.rx != b.rx) return "RX buffer RAM";
  return "none";
}

// Invariants that hold whatever the host sent.
void check_invariants(const w5500& c, const char* when) {
  SCOPED_TRACE(when);
  const std::uint8_t rv = c.config().quirk.reserved_read_value;
  ASSERT_TRUE(c.responsive());
  EXPECT_EQ(c.read(bsb_common(), VERSIONR), 0x04);
  EXPECT_EQ(c.read(bsb_common(), MR) & 0x45, 0) << "MR reserved bits 6, 2, 0 must read 0";
  EXPECT_EQ(c.read(bsb_common(), IR) & 0x0F, 0) << "IR bits 3..0 are reserved";
  for (std::uint16_t o = 0x2F; o <= 0x38; ++o) ASSERT_EQ(c.read(bsb_common(), o), rv) << c.describe(0, o);
  for (std::uint16_t o = 0x3A; o < common_block_size; ++o) ASSERT_EQ(c.read(bsb_common(), o), rv);
  std::uint8_t sir = 0;
  for (int n = 0; n < num_sockets; ++n) {
    SCOPED_TRACE("socket " + std::to_string(n));
    const std::uint8_t bsb = bsb_socket(n);
    const std::uint8_t sr = c.read(bsb, Sn_SR);
    EXPECT_STRNE(socket_state_name(sr), "UNKNOWN") << "Sn_SR = " << int{sr};
    EXPECT_EQ(c.socket_status(n), sr);
    const std::uint8_t ir = c.read(bsb, Sn_IR);
    EXPECT_EQ(ir & 0xE0, 0) << "Sn_IR bits 7..5 are reserved";
    if (ir & c.read(bsb, Sn_IMR) & 0x1F) sir = u8(sir | (1u << n));
    EXPECT_EQ(c.read(bsb, 0x14), rv);
    for (std::uint16_t o = 0x17; o <= 0x1D; ++o) ASSERT_EQ(c.read(bsb, o), rv) << c.describe(bsb, o);
    for (std::uint32_t size : {c.tx_buffer_size(n), c.rx_buffer_size(n)})
      EXPECT_TRUE(size == 0 || size == 1024 || size == 2048 || size == 4096 || size == 8192 || size == 16384)
          << size;
    const auto fsr = static_cast<std::uint32_t>(c.read(bsb, Sn_TX_FSR) << 8 | c.read(bsb, Sn_TX_FSR + 1));
    EXPECT_LE(fsr, c.tx_buffer_size(n));
  }
  EXPECT_EQ(c.read(bsb_common(), SIR), sir) << "SIR must mirror Sn_IR & Sn_IMR";
}

// After garbage, clean frames work through both paths: VERSIONR reads 0x04, SHAR writes and reads back.
void check_clean_frames_work(rig& r, std::uint64_t salt) {
  if (r.chip.spi().selected()) r.chip.cs(true);
  for (spi_path p : {spi_path::burst, spi_path::bytes}) {
    SCOPED_TRACE(p == spi_path::burst ? "burst" : "bytes");
    spi_host host(r.chip, p);
    const std::uint64_t errors = r.guest_errors();
    EXPECT_EQ(host.read8(bsb_common(), VERSIONR), 0x04);
    EXPECT_EQ(host.raw({0x00, 0x39, 0x00, 0x00}), (bytes_t{0x01, 0x02, 0x03, 0x04}));
    std::uint8_t mac[6], back[6] = {};
    for (int i = 0; i < 6; ++i) mac[i] = u8(salt * 31 + static_cast<std::uint64_t>(i) * 0x11 + (p == spi_path::bytes ? 7 : 0));
    host.write(bsb_common(), SHAR, mac, 6);
    host.read(bsb_common(), SHAR, back, 6);
    EXPECT_EQ(bytes_t(mac, mac + 6), bytes_t(back, back + 6));
    EXPECT_EQ(r.guest_errors(), errors) << "a clean frame after garbage was reported as a guest error";
  }
}

// Random garbage: frames of random length (most cut inside the header), random or semi-plausible headers,
// both entry points, frame() called with CS already low, bytes clocked with CS high, idle time.
void run_garbage(rig& r, std::uint64_t seed, std::size_t total_bytes) {
  rng g(seed);
  std::size_t sent = 0;
  bytes_t mosi, miso;
  std::size_t next_check = 10000;
  while (sent < total_bytes) {
    // Frame length: mostly glitches inside or right after the header, sometimes long bursts.
    const auto pick = g.below(100);
    const std::size_t len = pick < 45   ? g.below(4)
                            : pick < 85 ? 3 + g.below(16)
                            : pick < 97 ? g.below(200)
                                        : g.below(3000);
    mosi.resize(len);
    for (auto& b : mosi) b = g.byte();
    if (len >= 3 && g.below(3) != 0) {  // a plausible header: low offsets
      mosi[0] = g.below(4) == 0 ? g.byte() : u8(g.below(2) ? 0 : 0xFF);
      if (mosi[0] == 0) mosi[1] = u8(g.below(0x50));
      if (g.below(2)) {  // and meaningful data: commands, mode values, single bits, buffer sizes
        static const std::uint8_t vals[] = {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xFF, 0x21, 0x22};
        for (std::size_t i = 3; i < len; ++i) mosi[i] = vals[g.below(sizeof vals)];
      }
      if (g.below(2)) {  // aimed at a register with side effects, in any mode, mostly writes
        static const std::uint8_t common_regs[] = {0x00, 0x13, 0x14, 0x15, 0x16, 0x18, 0x2E};
        static const std::uint8_t socket_regs[] = {0x00, 0x01, 0x01, 0x01, 0x02, 0x1E, 0x1F, 0x24, 0x25, 0x28, 0x2C};
        const bool sock = g.below(4) != 0;
        mosi[0] = 0;
        mosi[1] = sock ? socket_regs[g.below(sizeof socket_regs)] : common_regs[g.below(sizeof common_regs)];
        mosi[2] = control_byte(sock ? bsb_socket(static_cast<int>(g.below(8))) : bsb_common(), g.below(4) != 0,
                               static_cast<op_mode>(g.below(4)));
      }
    }
    const auto how = g.below(10);
    if (how < 4) {
      miso.resize(len);
      r.chip.frame(mosi.data(), g.below(8) ? miso.data() : nullptr, len);
    } else if (how < 5) {
      // Misuse: a burst started while CS is already low (possibly mid-header).
      r.chip.cs(false);
      for (std::uint64_t i = 0, k = g.below(5); i < k; ++i) r.chip.transfer(g.byte());
      miso.resize(len);
      r.chip.frame(mosi.data(), miso.data(), len);
    } else {
      r.chip.cs(false);
      for (std::size_t i = 0; i < len; ++i) {
        r.chip.transfer(mosi[i]);
        if (g.below(400) == 0) r.chip.cs(g.below(2) != 0);  // glitch: CS edges at random byte positions
      }
      // Sometimes leave CS low; the next frame's falling edge (or frame()) must cope.
      if (g.below(20) != 0) r.chip.cs(true);
    }
    sent += len;
    if (g.below(10) == 0) {  // bytes clocked with CS high
      const bool was_low = r.chip.spi().selected();
      r.chip.cs(true);
      for (std::uint64_t i = 0, n = g.below(8); i < n; ++i) EXPECT_EQ(r.chip.transfer(g.byte()), 0xFF);
      if (was_low && g.below(2)) r.chip.cs(false);
    }
    if (g.below(8) == 0) r.sched.advance_by(g.below(g.below(10) == 0 ? ms(3) : us(3)));
    if (sent >= next_check) {
      next_check += 10000;
      check_invariants(r.chip, "during garbage");
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

std::string invalid_argument_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  } catch (...) {
    return "<threw something other than std::invalid_argument>";
  }
  return "<did not throw>";
}

}  // namespace

// ---- garbage ---------------------------------------------------------------------------------------------

TEST(robustness, random_bytes_with_cs_glitches_never_crash_hang_or_corrupt) {
  for (std::uint64_t seed : {1ull, 2ull, 0xBADC0DEull, 0xFEEDull}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    rig r;
    run_garbage(r, seed, 200'000);
    if (HasFatalFailure()) return;
    EXPECT_GT(r.guest_errors(), 100u) << "garbage should have been reported";
    EXPECT_GT(r.chip.spi().stats().aborted_frames, 100u);
    if (r.chip.spi().selected()) r.chip.cs(true);
    // Let every pending command, hold-off and soft reset finish.
    r.sched.advance_by(ms(3));
    check_invariants(r.chip, "after garbage");
    for (int n = 0; n < num_sockets; ++n) EXPECT_EQ(r.chip.read(bsb_socket(n), Sn_CR), 0) << "command stuck, socket " << n;
    EXPECT_EQ(r.chip.read(bsb_common(), MR) & 0x80, 0) << "MR.RST stuck";
    const bool pending = (r.chip.read(bsb_common(), IR) & r.chip.read(bsb_common(), IMR) & 0xF0) != 0 ||
                         (r.chip.read(bsb_common(), SIR) & r.chip.read(bsb_common(), SIMR)) != 0;
    EXPECT_EQ(r.chip.int_n(), !pending) << "INTn does not follow the interrupt sources";
    check_clean_frames_work(r, seed);
  }
}

TEST(robustness, garbage_with_fdm_resync_off_and_odd_quirks_still_leaves_a_usable_chip) {
  chip_config cfg;
  cfg.quirk.fdm_resync_on_cs = false;
  cfg.quirk.reserved_read_value = 0xA5;
  cfg.quirk.illegal_buffer_size_as_zero = false;
  cfg.quirk.buffer_overcommit_wraps = false;
  cfg.quirk.command_latency_ps = 0;
  for (std::uint64_t seed : {7ull, 8ull}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    rig r(cfg);
    run_garbage(r, seed, 100'000);
    if (HasFatalFailure()) return;
    if (r.chip.spi().selected()) r.chip.cs(true);
    r.sched.advance_by(ms(3));
    check_invariants(r.chip, "after garbage");
    // With FDM resync off a CS edge does not end an open FDM frame (spec §2.5); a VDM read of VERSIONR
    // may first complete it. Frames of 3 + 4 bytes resynchronise any open FDM frame, then reads are clean.
    bool ok = false;
    for (int attempt = 0; attempt < 4 && !ok; ++attempt) {
      const bytes_t miso = xfer(r.chip, {0x00, 0x39, control_byte(bsb_common(), false, op_mode::fdm1), 0x00}, spi_path::bytes);
      ok = miso == bytes_t{0x01, 0x02, 0x03, 0x04};
    }
    EXPECT_TRUE(ok) << "FDM decoder never resynchronised";
    check_clean_frames_work(r, seed);
  }
}

// ---- CS handling -----------------------------------------------------------------------------------------

TEST(robustness, cs_rising_inside_the_header_aborts_the_frame_with_no_effect_and_is_a_guest_error) {
  for (spi_path p : {spi_path::burst, spi_path::bytes}) {
    for (std::size_t cut : {std::size_t{1}, std::size_t{2}}) {
      SCOPED_TRACE("cut after " + std::to_string(cut) + (p == spi_path::burst ? " (burst)" : " (bytes)"));
      rig r;
      const image before = snapshot(r.chip);
      bytes_t f = header(bsb_common(), SHAR, true);
      f.resize(cut);
      const bytes_t miso = xfer(r.chip, f, p);
      EXPECT_EQ(miso[0], 0x01);
      EXPECT_EQ(r.guest_errors(), 1u);
      EXPECT_EQ(r.chip.spi().stats().aborted_frames, 1u);
      EXPECT_EQ(r.chip.spi().stats().frames, 0u);
      const image after = snapshot(r.chip);
      EXPECT_TRUE(before == after) << first_difference(r.chip, before, after);
      // The next frame starts cleanly at the address phase.
      EXPECT_EQ(xfer(r.chip, {0x00, 0x39, 0x00, 0x00}, p), (bytes_t{0x01, 0x02, 0x03, 0x04}));
      EXPECT_EQ(r.guest_errors(), 1u);
    }
  }
}

TEST(robustness, header_only_and_empty_frames_do_nothing) {
  for (spi_path p : {spi_path::burst, spi_path::bytes}) {
    rig r;
    const image before = snapshot(r.chip);
    xfer(r.chip, {}, p);
    xfer(r.chip, header(bsb_common(), SHAR, true), p);
    xfer(r.chip, header(bsb_socket(2), Sn_CR, true), p);
    EXPECT_EQ(r.guest_errors(), 0u);
    EXPECT_EQ(r.chip.spi().stats().frames, 0u);
    EXPECT_EQ(r.chip.spi().stats().aborted_frames, 0u);
    EXPECT_EQ(r.sched.pending(), 0u) << "a header-only Sn_CR frame must not start a command";
    const image after = snapshot(r.chip);
    EXPECT_TRUE(before == after) << first_difference(r.chip, before, after);
  }
}

TEST(robustness, cs_rising_inside_an_fdm_frame_is_a_guest_error_and_the_next_frame_is_clean) {
  for (spi_path p : {spi_path::burst, spi_path::bytes}) {
    rig r;
    bytes_t f = header(bsb_common(), SHAR, true, op_mode::fdm4);
    f.insert(f.end(), {0xAA, 0xBB});  // two of four data bytes
    xfer(r.chip, f, p);
    EXPECT_EQ(r.guest_errors(), 1u);
    EXPECT_EQ(r.chip.spi().stats().aborted_frames, 1u);
    // Bytes already clocked were written (writes take effect per byte), the rest untouched.
    EXPECT_EQ(r.chip.read(bsb_common(), SHAR), 0xAA);
    EXPECT_EQ(r.chip.read(bsb_common(), SHAR + 1), 0xBB);
    EXPECT_EQ(r.chip.read(bsb_common(), SHAR + 2), 0x00);
    EXPECT_EQ(xfer(r.chip, {0x00, 0x39, 0x01, 0x00}, p), (bytes_t{0x01, 0x02, 0x03, 0x04}));
    EXPECT_EQ(r.guest_errors(), 1u);
  }
}

TEST(robustness, bytes_after_an_fdm_frame_start_a_new_header_and_a_partial_one_is_aborted) {
  for (spi_path p : {spi_path::burst, spi_path::bytes}) {
    rig r;
    // FDM-1 write SIMR = 0x42, then two stray bytes: the address phase of a next frame, cut by CS.
    bytes_t f = header(bsb_common(), SIMR, true, op_mode::fdm1);
    f.insert(f.end(), {0x42, 0x00, 0x16});
    const bytes_t miso = xfer(r.chip, f, p);
    EXPECT_EQ(miso, (bytes_t{0x01, 0x02, 0x03, 0x00, 0x01, 0x02}));
    EXPECT_EQ(r.chip.read(bsb_common(), SIMR), 0x42);
    EXPECT_EQ(r.chip.read(bsb_common(), IMR), 0x00) << "the stray header must not write IMR";
    EXPECT_EQ(r.guest_errors(), 1u);
    EXPECT_EQ(r.chip.spi().stats().aborted_frames, 1u);
    EXPECT_EQ(r.chip.spi().stats().frames, 1u);
    EXPECT_EQ(xfer(r.chip, {0x00, 0x39, 0x00, 0x00}, p), (bytes_t{0x01, 0x02, 0x03, 0x04}));
  }
}

TEST(robustness, burst_started_while_cs_is_low_ends_the_open_frame_and_still_works) {
  rig r;
  r.chip.cs(false);
  r.chip.transfer(0x00);
  r.chip.transfer(0x09);  // half a header
  const std::uint64_t errors = r.guest_errors();
  bytes_t miso(4);
  const bytes_t mosi{0x00, 0x39, 0x00, 0x00};
  r.chip.frame(mosi.data(), miso.data(), mosi.size());
  EXPECT_EQ(miso, (bytes_t{0x01, 0x02, 0x03, 0x04}));
  EXPECT_GT(r.guest_errors(), errors);
  EXPECT_FALSE(r.chip.spi().selected());
}

TEST(robustness, transfer_with_cs_high_returns_ff_and_changes_nothing_but_time) {
  // Twin chips with the same state, one with a command pending; one gets bytes clocked with CS high
  // (including complete write frames), the other just the same amount of idle time.
  rig a, b;
  for (rig* r : {&a, &b}) {
    spi_host host(r->chip);
    const std::uint8_t mac[6] = {1, 2, 3, 4, 5, 6};
    host.write(bsb_common(), SHAR, mac, 6);
    host.write8(bsb_socket(1), Sn_MR, Sn_MR_UDP);
    host.write8(bsb_socket(1), Sn_CR, Sn_CR_OPEN);  // pending across the CS-high bytes
  }
  const std::uint64_t errors = a.guest_errors();
  const spi_stats stats = a.chip.spi().stats();
  rng g(5);
  std::size_t n = 0;
  const bytes_t frame_bytes{0x00, 0x09, 0x04, 0xDE, 0xAD, 0x00, 0x00, 0x08, 0x04, 0xFF};  // SHAR, IR writes
  for (std::uint8_t v : frame_bytes) {
    EXPECT_EQ(a.chip.transfer(v), 0xFF);
    ++n;
  }
  for (int i = 0; i < 5000; ++i, ++n) ASSERT_EQ(a.chip.transfer(g.byte()), 0xFF);
  b.sched.advance_by(n * b.chip.spi().byte_time());
  EXPECT_EQ(a.sched.now(), b.sched.now()) << "a CS-high byte must still take one byte time";
  EXPECT_EQ(a.guest_errors(), errors);
  EXPECT_EQ(a.chip.spi().stats().bytes, stats.bytes);
  EXPECT_EQ(a.chip.spi().stats().frames, stats.frames);
  const image ia = snapshot(a.chip), ib = snapshot(b.chip);
  EXPECT_TRUE(ia == ib) << first_difference(a.chip, ia, ib);
  EXPECT_EQ(a.chip.socket_status(1), SOCK_UDP);  // the pending command ran as time passed
  // The CS-high bytes left no decoder state behind.
  EXPECT_EQ(xfer(a.chip, {0x00, 0x39, 0x00, 0x00}, spi_path::bytes), (bytes_t{0x01, 0x02, 0x03, 0x04}));
}

// ---- block selects and block ends ------------------------------------------------------------------------

TEST(robustness, reserved_block_selects_read_the_reserved_value_and_drop_writes_with_one_guest_error_per_frame) {
  for (spi_path p : {spi_path::burst, spi_path::bytes}) {
    rig r;
    const image before = snapshot(r.chip);
    std::uint64_t expected_errors = 0;
    for (int n = 1; n < 8; ++n) {
      const auto bsb = u8(4 * n);
      for (std::uint16_t addr : {std::uint16_t{0x0000}, std::uint16_t{0x0009}, std::uint16_t{0xFFFE}}) {
        bytes_t w = header(bsb, addr, true);
        w.insert(w.end(), {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88});
        const bytes_t wm = xfer(r.chip, w, p);
        for (std::size_t i = 3; i < wm.size(); ++i) EXPECT_EQ(wm[i], r.chip.config().quirk.miso_during_write);
        bytes_t rd = header(bsb, addr, false);
        rd.resize(3 + 8, 0xFF);
        const bytes_t rm = xfer(r.chip, rd, p);
        for (std::size_t i = 3; i < rm.size(); ++i) EXPECT_EQ(rm[i], r.chip.config().quirk.reserved_read_value);
        for (op_mode om : {op_mode::fdm1, op_mode::fdm2, op_mode::fdm4}) {  // FDM too
          bytes_t fw = header(bsb, addr, true, om);
          fw.resize(3 + (std::size_t{1} << (static_cast<unsigned>(om) - 1)), 0x99);
          xfer(r.chip, fw, p);
        }
        expected_errors += 5;
      }
    }
    EXPECT_EQ(r.guest_errors(), expected_errors);
    const image after = snapshot(r.chip);
    EXPECT_TRUE(before == after) << first_difference(r.chip, before, after);
    check_clean_frames_work(r, 1);
  }
}

TEST(robustness, write_burst_running_past_the_end_of_the_common_block_is_dropped_byte_by_byte) {
  for (spi_path p : {spi_path::burst, spi_path::bytes}) {
    rig r;
    const image before = snapshot(r.chip);
    bytes_t w = header(bsb_common(), 0x0030, true);
    w.resize(3 + 100, 0xFF);
    xfer(r.chip, w, p);
    // 0x30..0x38 reserved, 0x39 VERSIONR (read-only), 0x3A..0x93 reserved: every byte is a guest error.
    EXPECT_EQ(r.guest_errors(), 100u);
    const image after = snapshot(r.chip);
    EXPECT_TRUE(before == after) << first_difference(r.chip, before, after);
    bytes_t rd = header(bsb_common(), 0x0030, false);
    rd.resize(3 + 100, 0xFF);
    const bytes_t miso = xfer(r.chip, rd, p);
    for (std::size_t i = 0; i < 100; ++i) EXPECT_EQ(miso[3 + i], i == 9 ? 0x04 : 0x00) << "offset 0x" << std::hex << 0x30 + i;
    EXPECT_EQ(r.guest_errors(), 100u) << "reads of undefined offsets are not errors";
    check_clean_frames_work(r, 2);
  }
}

TEST(robustness, write_burst_running_past_the_end_of_a_socket_block_keeps_real_registers_and_drops_the_rest) {
  for (spi_path p : {spi_path::burst, spi_path::bytes}) {
    rig r;
    const int n = 4;
    const std::uint8_t bsb = bsb_socket(n);
    bytes_t w = header(bsb, Sn_RX_RD, true);
    for (int i = 0; i < 0x20; ++i) w.push_back(u8(0xC0 + i));
    xfer(r.chip, w, p);
    // Sn_RX_RD (latched) 2, Sn_RX_WR read-only 2 errors, Sn_IMR, Sn_FRAG, Sn_KPALVTR storage, then 0x30..0x47
    // reserved: 24 errors.
    EXPECT_EQ(r.guest_errors(), 26u);
    EXPECT_EQ(r.chip.read(bsb, Sn_RX_RD), 0x00) << "Sn_RX_RD reads back only after RECV (quirk default)";
    EXPECT_EQ(r.chip.read(bsb, Sn_RX_WR), 0x00);
    EXPECT_EQ(r.chip.read(bsb, Sn_RX_WR + 1), 0x00);
    EXPECT_EQ(r.chip.read(bsb, Sn_IMR), 0xC4);
    EXPECT_EQ(r.chip.read(bsb, 0x2D), 0xC5);
    EXPECT_EQ(r.chip.read(bsb, 0x2E), 0xC6);
    EXPECT_EQ(r.chip.read(bsb, 0x2F), 0xC7);
    for (std::uint16_t o = 0x30; o < 0x48; ++o) EXPECT_EQ(r.chip.read(bsb, o), 0x00);
    // Neighbouring socket blocks untouched.
    for (int m : {n - 1, n + 1})
      for (std::uint16_t o = 0; o < socket_block_size; ++o) {
        const reg_desc& d = find_register(reg_block::socket, o);
        if (d.cls != access::reserved) {
          EXPECT_EQ(r.chip.read(bsb_socket(m), o), reset_byte(d, static_cast<std::uint32_t>(o - d.offset)))
              << r.chip.describe(bsb_socket(m), o);
        }
      }
    bytes_t rd = header(bsb, Sn_RX_RD, false);
    rd.resize(3 + 0x20, 0);
    const bytes_t miso = xfer(r.chip, rd, p);
    const bytes_t expect{0x00, 0x00, 0x00, 0x00, 0xC4, 0xC5, 0xC6, 0xC7};
    EXPECT_EQ(bytes_t(miso.begin() + 3, miso.begin() + 11), expect);
    for (std::size_t i = 11; i < miso.size(); ++i) EXPECT_EQ(miso[i], 0x00);
    check_clean_frames_work(r, 3);
  }
}

TEST(robustness, burst_through_offset_ffff_wraps_to_0000) {
  for (spi_path p : {spi_path::burst, spi_path::bytes}) {
    rig r;
    bytes_t w = header(bsb_common(), 0xFFFE, true);
    w.insert(w.end(), {0x11, 0x22, 0x08, 0xC0});  // reserved, reserved, MR = PB, GAR[0]
    xfer(r.chip, w, p);
    EXPECT_EQ(r.guest_errors(), 2u);
    EXPECT_EQ(r.chip.read(bsb_common(), MR), 0x08);
    EXPECT_EQ(r.chip.read(bsb_common(), 0x01), 0xC0);
    bytes_t rd = header(bsb_common(), 0xFFFE, false);
    rd.resize(3 + 4, 0);
    EXPECT_EQ(xfer(r.chip, rd, p), (bytes_t{0x01, 0x02, 0x03, 0x00, 0x00, 0x08, 0xC0}));
  }
}

TEST(robustness, writes_to_read_only_registers_are_guest_errors_and_leave_the_value) {
  for (spi_path p : {spi_path::burst, spi_path::bytes}) {
    SCOPED_TRACE(p == spi_path::burst ? "burst" : "bytes");
    rig r;
    spi_host host(r.chip, p);
    // Give the read-only registers non-trivial values first.
    host.write8(bsb_socket(2), Sn_MR, Sn_MR_TCP);
    ASSERT_TRUE(host.command(2, Sn_CR_OPEN));
    r.chip.raise_sn_ir(5, Sn_IR_RECV);  // SIR bit 5 (Sn_IMR resets to 0xFF)
    ASSERT_EQ(host.read8(bsb_common(), SIR), 0x20);
    ASSERT_EQ(host.read8(bsb_socket(2), Sn_SR), SOCK_INIT);
    ASSERT_EQ(host.read16(bsb_socket(2), Sn_TX_FSR), 0x0800);

    struct target {
      const char* name;
      std::uint8_t bsb;
      std::uint16_t off;
      std::size_t width;
    };
    const target targets[] = {
        {"VERSIONR", bsb_common(), VERSIONR, 1}, {"SIR", bsb_common(), SIR, 1},
        {"UIPR", bsb_common(), 0x28, 4},         {"UPORTR", bsb_common(), 0x2C, 2},
        {"S2_SR", bsb_socket(2), Sn_SR, 1},      {"S2_TX_FSR", bsb_socket(2), Sn_TX_FSR, 2},
        {"S2_TX_RD", bsb_socket(2), Sn_TX_RD, 2}, {"S2_RX_RSR", bsb_socket(2), Sn_RX_RSR, 2},
        {"S2_RX_WR", bsb_socket(2), Sn_RX_WR, 2}, {"S0_SR", bsb_socket(0), Sn_SR, 1},
    };
    for (const target& t : targets) {
      SCOPED_TRACE(t.name);
      std::vector<std::uint8_t> before(t.width), junk(t.width), after(t.width);
      r.chip.read_block(t.bsb, t.off, before.data(), t.width);
      for (std::size_t i = 0; i < t.width; ++i) junk[i] = u8(~before[i]);
      const std::uint64_t errors = r.guest_errors();
      const image im_before = snapshot(r.chip);
      host.write(t.bsb, t.off, junk.data(), t.width);
      EXPECT_EQ(r.guest_errors(), errors + t.width) << "one guest error per byte written";
      host.read(t.bsb, t.off, after.data(), t.width);
      EXPECT_EQ(after, before);
      const image im_after = snapshot(r.chip);
      EXPECT_TRUE(im_before == im_after) << first_difference(r.chip, im_before, im_after);
    }
    EXPECT_EQ(r.chip.socket_status(2), SOCK_INIT);
    check_clean_frames_work(r, 4);
  }
}

// ---- configuration ---------------------------------------------------------------------------------------

TEST(config, zero_sclk_is_rejected_at_construction_with_a_message_naming_sclk) {
  chip_config cfg;
  cfg.sclk_hz = 0;
  scheduler s;
  const std::string msg = invalid_argument_message([&] { w5500 chip(s, cfg); });
  EXPECT_NE(msg.find("sclk"), std::string::npos) << msg;
  EXPECT_EQ(s.pending(), 0u) << "a rejected chip must leave nothing scheduled";
}

TEST(config, sclk_above_80mhz_is_rejected_and_80mhz_is_accepted) {
  scheduler s;
  for (std::uint64_t hz : {std::uint64_t{100'000'000}, std::uint64_t{80'000'001}}) {
    chip_config cfg;
    cfg.sclk_hz = hz;
    const std::string msg = invalid_argument_message([&] { w5500 chip(s, cfg); });
    EXPECT_NE(msg.find("sclk"), std::string::npos) << hz << ": " << msg;
  }
  chip_config ok;
  ok.sclk_hz = 80'000'000;
  EXPECT_NO_THROW({ w5500 chip(s, ok); });
  ok.sclk_hz = 1;
  EXPECT_NO_THROW({ w5500 chip(s, ok); });
}

TEST(config, other_bad_fields_are_rejected_with_their_name) {
  scheduler s;
  chip_config pmode;
  pmode.pmode = 8;
  EXPECT_NE(invalid_argument_message([&] { w5500 chip(s, pmode); }).find("pmode"), std::string::npos);
  chip_config name;
  name.name = "";
  EXPECT_NE(invalid_argument_message([&] { w5500 chip(s, name); }).find("name"), std::string::npos);
  chip_config rst;
  rst.reset_low_min_ps = 0;
  EXPECT_NE(invalid_argument_message([&] { w5500 chip(s, rst); }).find("reset_low_min_ps"), std::string::npos);
}

TEST(config, unknown_quirk_name_is_rejected_with_the_list_of_known_quirks) {
  quirks q;
  const std::string msg = invalid_argument_message([&] { q.set("no_such_quirk", "1"); });
  EXPECT_NE(msg.find("no_such_quirk"), std::string::npos) << msg;
  ASSERT_FALSE(quirk_table().empty());
  for (const quirk_info& info : quirk_table()) EXPECT_NE(msg.find(info.name), std::string::npos) << info.name;
  EXPECT_NE(invalid_argument_message([&] { (void)q.get("no_such_quirk"); }).find("fdm_resync_on_cs"),
            std::string::npos);
}

TEST(config, bad_quirk_values_are_rejected_and_leave_the_quirk_unchanged) {
  quirks q;
  const quirks defaults;
  struct bad {
    const char* name;
    const char* value;
  };
  const bad cases[] = {
      {"fdm_resync_on_cs", "maybe"}, {"fdm_resync_on_cs", "2"},     {"fdm_resync_on_cs", ""},
      {"fdm_resync_on_cs", "-1"},    {"miso_during_write", "256"},  {"miso_during_write", "0x1FF"},
      {"miso_during_write", "12ab"}, {"command_latency_ps", "-5"},  {"command_latency_ps", "1e6"},
      {"command_latency_ps", "3600000000000001"},  // one picosecond past an hour
      {"command_latency_ps", "99999999999999999999999"},
  };
  for (const bad& c : cases) {
    const std::string msg = invalid_argument_message([&] { q.set(c.name, c.value); });
    EXPECT_NE(msg.find(c.name), std::string::npos) << c.name << " = '" << c.value << "': " << msg;
    EXPECT_EQ(q.get(c.name), defaults.get(c.name)) << c.name << " changed by a rejected value";
  }
}

TEST(config, quirk_set_and_get_round_trip_for_flag_byte_and_duration) {
  quirks q;
  q.set("fdm_resync_on_cs", "false");
  EXPECT_FALSE(q.fdm_resync_on_cs);
  EXPECT_EQ(q.get("fdm_resync_on_cs"), "false");
  q.set("fdm_resync_on_cs", "1");
  EXPECT_TRUE(q.fdm_resync_on_cs);
  EXPECT_EQ(q.get("fdm_resync_on_cs"), "true");

  q.set("miso_during_write", "0xA5");
  EXPECT_EQ(q.miso_during_write, 0xA5);
  EXPECT_EQ(q.get("miso_during_write"), "0xA5");
  q.set("reserved_read_value", "255");
  EXPECT_EQ(q.reserved_read_value, 0xFF);

  q.set("command_latency_ps", "2500000");
  EXPECT_EQ(q.command_latency_ps, ps_t{2'500'000});
  EXPECT_EQ(q.get("command_latency_ps"), "2500000");
  q.set("autoneg_ps", "0");
  EXPECT_EQ(q.autoneg_ps, ps_t{0});

  // Every quirk's text form is accepted back unchanged.
  quirks other;
  for (const quirk_info& info : quirk_table()) {
    other.set(info.name, q.get(info.name));
    EXPECT_EQ(other.get(info.name), q.get(info.name)) << info.name;
  }
}

TEST(config, quirk_set_by_name_takes_effect_in_the_chip) {
  chip_config cfg;
  cfg.quirk.set("miso_during_write", "0x5A");
  cfg.quirk.set("command_latency_ps", "0");
  scheduler s;
  w5500 chip(s, cfg);
  bytes_t mosi = header(bsb_socket(0), Sn_MR, true);
  mosi.insert(mosi.end(), {Sn_MR_UDP, Sn_CR_OPEN});
  EXPECT_EQ(xfer(chip, mosi, spi_path::burst), (bytes_t{0x01, 0x02, 0x03, 0x5A, 0x5A}));
  EXPECT_EQ(chip.socket_status(0), SOCK_UDP) << "zero command latency: OPEN executes at once";
}
