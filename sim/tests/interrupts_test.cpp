// Interrupts and the INTn pin, spec §7: latching, masks, SIR derivation, INTLEVEL hold-off.
#include <gtest/gtest.h>

#include <vector>

#include "test_util.hpp"

using namespace wizsim;
using wizsim::test::bench;

namespace {
constexpr std::uint16_t INTLEVEL = 0x13, IR = 0x15, IMR = 0x16, SIR = 0x17, SIMR = 0x18;
constexpr std::uint16_t Sn_IR = 0x02, Sn_IMR = 0x2C;

struct pin_log {
  std::vector<std::pair<ps_t, bool>> edges;
  void attach(bench& b) {
    b.chip.on_int_change([this, &b](bool level) { edges.emplace_back(b.sched.now(), level); });
  }
};
}  // namespace

TEST(interrupts, sn_ir_latches_regardless_of_sn_imr_and_masks_gate_sir_and_intn) {
  bench b;
  b.set_sock(2, Sn_IMR, Sn_IR_RECV);  // like MicroPython/Rust DHCP: RECV only
  b.chip.raise_sn_ir(2, Sn_IR_SENDOK);
  EXPECT_EQ(b.sock(2, Sn_IR), Sn_IR_SENDOK) << "SEND_OK latches although masked (notes/drivers.md item 10)";
  EXPECT_EQ(b.common(SIR), 0) << "masked bits do not reach SIR";
  EXPECT_TRUE(b.chip.int_n());
  b.chip.raise_sn_ir(2, Sn_IR_RECV);
  EXPECT_EQ(b.common(SIR), 0x04);
  EXPECT_TRUE(b.chip.int_n()) << "SIMR is still 0";
  b.set_common(SIMR, 0x04);
  EXPECT_FALSE(b.chip.int_n());
}

TEST(interrupts, datasheet_reading_gates_latching_with_sn_imr) {
  chip_config cfg;
  cfg.quirk.sn_imr_gates_sn_ir = true;
  bench b(cfg);
  b.set_sock(2, Sn_IMR, Sn_IR_RECV);
  b.chip.raise_sn_ir(2, Sn_IR_SENDOK | Sn_IR_RECV);
  EXPECT_EQ(b.sock(2, Sn_IR), Sn_IR_RECV);
}

TEST(interrupts, sir_clears_when_sn_ir_is_cleared_and_ignores_host_writes) {
  bench b;
  b.set_common(SIMR, 0xFF);
  b.chip.raise_sn_ir(5, Sn_IR_CON | Sn_IR_RECV);
  EXPECT_EQ(b.common(SIR), 0x20);
  EXPECT_FALSE(b.chip.int_n());
  const auto errors = b.guest_errors();
  b.set_common(SIR, 0x00);
  EXPECT_EQ(b.common(SIR), 0x20);
  EXPECT_EQ(b.guest_errors(), errors + 1);
  b.set_sock(5, Sn_IR, Sn_IR_CON);
  EXPECT_EQ(b.common(SIR), 0x20) << "RECV still pending";
  b.set_sock(5, Sn_IR, 0xFF);
  EXPECT_EQ(b.common(SIR), 0x00);
  EXPECT_TRUE(b.chip.int_n());
}

TEST(interrupts, common_ir_drives_intn_through_imr) {
  bench b;
  b.chip.raise_ir(IR_CONFLICT | IR_UNREACH);
  EXPECT_EQ(b.common(IR), 0xC0);
  EXPECT_TRUE(b.chip.int_n());
  b.set_common(IMR, IR_UNREACH);
  EXPECT_FALSE(b.chip.int_n());
  b.set_common(IR, IR_UNREACH);
  EXPECT_TRUE(b.chip.int_n());
  EXPECT_EQ(b.common(IR), 0x80);
  b.chip.raise_ir(0x0F);  // reserved bits never latch
  EXPECT_EQ(b.common(IR), 0x80);
}

TEST(interrupts, intlevel_holdoff_reasserts_after_iawt_as_in_ds_figure_21) {
  bench b;
  pin_log pins;
  pins.attach(b);
  b.host.write16(bsb_common(), INTLEVEL, 999);  // IAWT = 1000 * 26.667 ns = 26.667 us
  b.set_common(SIMR, 0x03);
  b.chip.raise_sn_ir(0, Sn_IR_TIMEOUT);  // S0 timeout asserts INTn
  ASSERT_EQ(pins.edges.size(), 1u);
  EXPECT_FALSE(pins.edges[0].second);
  b.chip.raise_sn_ir(1, Sn_IR_CON);  // S1 connect while low: stays low, no extra edge
  EXPECT_EQ(pins.edges.size(), 1u);
  b.set_sock(0, Sn_IR, 0xFF);  // host clears S0: INTn goes high although S1 is pending
  ASSERT_EQ(pins.edges.size(), 2u);
  EXPECT_TRUE(pins.edges[1].second);
  const ps_t released = pins.edges[1].first;
  b.sched.advance_by(us(100));
  ASSERT_EQ(pins.edges.size(), 3u);
  EXPECT_FALSE(pins.edges[2].second);
  EXPECT_EQ(pins.edges[2].first - released, (1000ull * 80000ull + 1) / 3);  // 26.666667 us
}

TEST(interrupts, holdoff_expired_long_ago_asserts_at_once) {
  bench b;
  b.host.write16(bsb_common(), INTLEVEL, 0xFFFF);  // ~1.748 ms
  b.set_common(SIMR, 0x01);
  b.chip.raise_sn_ir(0, Sn_IR_RECV);
  b.set_sock(0, Sn_IR, 0xFF);
  b.sched.advance_by(ms(2));
  b.chip.raise_sn_ir(0, Sn_IR_RECV);
  EXPECT_FALSE(b.chip.int_n());
}

TEST(interrupts, intlevel_zero_means_no_holdoff) {
  bench b;
  b.set_common(SIMR, 0x03);
  b.chip.raise_sn_ir(0, Sn_IR_RECV);
  b.chip.raise_sn_ir(1, Sn_IR_RECV);
  b.set_sock(0, Sn_IR, 0xFF);
  EXPECT_FALSE(b.chip.int_n()) << "S1 still pending and no hold-off: the pin never visibly toggles";
}

TEST(interrupts, intlevel_zero_uses_formula_when_quirk_is_off) {
  chip_config cfg;
  cfg.quirk.intlevel_zero_no_holdoff = false;
  bench b(cfg);
  pin_log pins;
  pins.attach(b);
  b.set_common(SIMR, 0x03);
  b.chip.raise_sn_ir(0, Sn_IR_RECV);
  b.chip.raise_sn_ir(1, Sn_IR_RECV);
  b.set_sock(0, Sn_IR, 0xFF);  // S1 still pending: high for (0+1) * 26.667 ns, then low again
  b.sched.advance_by(ns(100));
  ASSERT_EQ(pins.edges.size(), 3u);
  EXPECT_TRUE(pins.edges[1].second);
  EXPECT_EQ(pins.edges[2].first - pins.edges[1].first, ps_t{26667});
}

TEST(interrupts, clearing_sources_during_holdoff_cancels_the_reassert) {
  bench b;
  pin_log pins;
  pins.attach(b);
  b.host.write16(bsb_common(), INTLEVEL, 999);
  b.set_common(SIMR, 0x03);
  b.chip.raise_sn_ir(0, Sn_IR_RECV);
  b.chip.raise_sn_ir(1, Sn_IR_RECV);
  b.set_sock(0, Sn_IR, 0xFF);
  b.set_sock(1, Sn_IR, 0xFF);  // within the hold-off window
  b.sched.advance_by(us(100));
  EXPECT_EQ(pins.edges.size(), 2u);
  EXPECT_TRUE(b.chip.int_n());
}
