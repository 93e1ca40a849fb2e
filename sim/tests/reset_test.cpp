// Resets and the PHY, spec §8 and §9: RSTn and PLL lock, MR.RST, PHYCFGR.RST, link negotiation.
#include <gtest/gtest.h>

#include "test_util.hpp"

using namespace wizsim;
using wizsim::test::bench;

namespace {
constexpr std::uint16_t MR = 0x00, SHAR = 0x09, RTR = 0x19, PHYCFGR = 0x2E, VERSIONR = 0x39;

void set_mac(bench& b) {
  const std::uint8_t mac[6] = {2, 0, 0, 0, 0, 9};
  b.host.write(bsb_common(), SHAR, mac, 6);
}
}  // namespace

TEST(reset, rstn_makes_spi_read_zero_until_pll_lock_then_registers_are_at_reset) {
  bench b;
  set_mac(b);
  b.chip.set_rstn(false);
  EXPECT_EQ(b.common(VERSIONR), 0x00);
  b.sched.advance_by(us(600));
  b.chip.set_rstn(true);
  EXPECT_EQ(b.common(VERSIONR), 0x00) << "PLL not locked yet (ESP-IDF polls VERSIONR)";
  const auto errors = b.guest_errors();
  b.set_common(SHAR, 0x77);  // ignored
  EXPECT_EQ(b.guest_errors(), errors + 1);
  b.sched.advance_by(ms(1));
  EXPECT_EQ(b.common(VERSIONR), 0x04);
  EXPECT_EQ(b.common(SHAR), 0x00);
  EXPECT_EQ(b.common(SHAR + 5), 0x00);
  EXPECT_EQ(b.host.read16(bsb_common(), RTR), 0x07D0);
}

TEST(reset, rstn_pulse_shorter_than_500us_is_logged) {
  bench b;
  const auto errors = b.guest_errors();
  b.chip.set_rstn(false);
  b.sched.advance_by(us(100));
  b.chip.set_rstn(true);
  EXPECT_EQ(b.guest_errors(), errors + 1);
  b.sched.advance_by(ms(1));
  EXPECT_EQ(b.common(VERSIONR), 0x04);
}

TEST(reset, spi_answers_during_reset_when_quirk_is_off) {
  chip_config cfg;
  cfg.quirk.spi_dead_during_reset = false;
  bench b(cfg);
  b.chip.set_rstn(false);
  EXPECT_EQ(b.common(VERSIONR), 0x04);
  b.set_common(SHAR, 0x55);
  b.sched.advance_by(ms(1));
  b.chip.set_rstn(true);
  EXPECT_EQ(b.common(SHAR), 0x00) << "writes made while RSTn was low are lost at release";
}

TEST(reset, rstn_cancels_pending_commands_and_closes_sockets) {
  bench b;
  ASSERT_TRUE(b.open(0, Sn_MR_UDP));
  b.set_sock(0, 0x01, Sn_CR_CLOSE);  // still pending
  b.chip.set_rstn(false);
  b.sched.advance_by(ms(1));
  b.chip.set_rstn(true);
  b.sched.advance_by(ms(2));
  EXPECT_EQ(b.sock(0, 0x03), SOCK_CLOSED);
  EXPECT_EQ(b.sock(0, 0x01), 0x00);
}

TEST(reset, mr_rst_resets_registers_self_clears_and_keeps_buffer_ram) {
  chip_config cfg;
  cfg.quirk.soft_reset_ps = us(3);
  bench b(cfg);
  set_mac(b);
  ASSERT_TRUE(b.open(1, Sn_MR_TCP));
  b.host.write8(bsb_tx(1), 0x10, 0xAB);
  b.host.write16(bsb_common(), RTR, 1234);
  b.set_common(MR, 0x80);
  EXPECT_EQ(b.common(MR), 0x80) << "RST reads 1 while the reset completes";
  b.sched.advance_by(us(3));
  EXPECT_EQ(b.common(MR), 0x00);
  EXPECT_EQ(b.common(SHAR + 5), 0x00);
  EXPECT_EQ(b.host.read16(bsb_common(), RTR), 0x07D0) << "Linux/Zephyr probe RTR after reset";
  EXPECT_EQ(b.sock(1, 0x03), SOCK_CLOSED);
  EXPECT_EQ(b.host.read8(bsb_tx(1), 0x10), 0xAB);
}

TEST(reset, mr_rst_clears_buffer_ram_when_quirk_is_on) {
  chip_config cfg;
  cfg.quirk.soft_reset_clears_buffers = true;
  bench b(cfg);
  b.host.write8(bsb_rx(0), 0x10, 0xAB);
  b.set_common(MR, 0x80);
  EXPECT_EQ(b.host.read8(bsb_rx(0), 0x10), 0x00);
}

TEST(reset, mr_rst_renegotiates_the_link_by_default) {
  bench b;
  EXPECT_EQ(b.common(PHYCFGR), 0xBF);  // 100 Mb full duplex, link up
  b.set_common(MR, 0x80);
  EXPECT_EQ(b.common(PHYCFGR), 0xBA) << "0xBA after reset with no link (forum t/1238)";
  b.sched.advance_by(b.chip.config().quirk.autoneg_ps);
  EXPECT_EQ(b.common(PHYCFGR), 0xBF);
}

TEST(reset, mr_rst_keeps_the_link_when_quirk_is_off) {
  chip_config cfg;
  cfg.quirk.soft_reset_restarts_phy = false;
  bench b(cfg);
  b.set_common(MR, 0x80);
  EXPECT_EQ(b.common(PHYCFGR), 0xBF);
}

TEST(phy, phycfgr_rst_holds_the_phy_in_reset_and_release_renegotiates) {
  bench b;
  b.set_common(PHYCFGR, 0x38);  // RST = 0
  EXPECT_EQ(b.common(PHYCFGR), 0x38) << "status bits read 0 while held";
  b.sched.advance_by(seconds(5));
  EXPECT_EQ(b.common(PHYCFGR) & 1, 0);
  b.set_common(PHYCFGR, 0xB8);
  b.sched.advance_by(ms(1499));
  EXPECT_EQ(b.common(PHYCFGR) & 1, 0);
  b.sched.advance_by(ms(2));
  EXPECT_EQ(b.common(PHYCFGR), 0xBF);
}

TEST(phy, forced_10mb_half_duplex_via_opmd) {
  bench b;
  // ioLibrary wizphy_setphyconf: OPMD=1, OPMDC=000, then reset the PHY.
  b.set_common(PHYCFGR, 0xC0);
  b.set_common(PHYCFGR, 0x40);
  b.set_common(PHYCFGR, 0xC0);
  b.sched.advance_by(ms(25));
  EXPECT_EQ(b.common(PHYCFGR), 0xC1);
}

TEST(phy, power_down_mode_never_links) {
  bench b;
  b.set_common(PHYCFGR, 0x70);  // OPMD=1, OPMDC=110, RST=0
  b.set_common(PHYCFGR, 0xF0);
  b.sched.advance_by(seconds(5));
  EXPECT_EQ(b.common(PHYCFGR) & 1, 0);
}

TEST(phy, cable_unplug_drops_link_at_once_and_replug_negotiates) {
  bench b;
  b.chip.set_cable(false);
  EXPECT_EQ(b.common(PHYCFGR), 0xBA);
  EXPECT_FALSE(b.chip.link_up());
  b.chip.set_cable(true);
  EXPECT_FALSE(b.chip.link_up());
  b.sched.advance_by(b.chip.config().quirk.autoneg_ps);
  EXPECT_TRUE(b.chip.link_up());
}

TEST(phy, autoneg_against_a_10mb_half_duplex_partner) {
  chip_config cfg;
  cfg.partner_100 = false;
  cfg.partner_full_duplex = false;
  bench b(cfg);
  EXPECT_EQ(b.common(PHYCFGR), 0xB9);
}

TEST(phy, pmode_straps_select_the_mode_after_reset) {
  chip_config cfg;
  cfg.pmode = 0b011;  // 100BT full duplex, no autoneg
  bench b(cfg);
  EXPECT_EQ(b.common(PHYCFGR), 0x9F);
}
