// The Sn_CR command layer, spec §4.2 / §6.2 and notes/drivers.md items 4-6: acceptance latency,
// OPEN/CLOSE per protocol, commands that do not apply are accepted and ignored.
#include <gtest/gtest.h>

#include "test_util.hpp"

using namespace wizsim;
using wizsim::test::bench;

namespace {
constexpr std::uint16_t MR = 0x00, CR = 0x01, IR = 0x02, SR = 0x03, TX_WR = 0x24;
}

TEST(commands, sn_cr_reads_the_command_until_accepted_then_zero) {
  chip_config cfg;
  cfg.quirk.command_latency_ps = us(5);
  bench b(cfg);
  b.set_sock(0, MR, Sn_MR_TCP);
  b.set_sock(0, CR, Sn_CR_OPEN);
  const ps_t written = b.sched.now();
  EXPECT_EQ(b.sock(0, CR), Sn_CR_OPEN);
  EXPECT_EQ(b.sock(0, SR), SOCK_CLOSED);
  b.sched.advance_to(written + us(5));
  EXPECT_EQ(b.sock(0, CR), 0x00);
  EXPECT_EQ(b.sock(0, SR), SOCK_INIT);
}

TEST(commands, state_is_visible_as_soon_as_cr_reads_zero_like_iolibrary_expects) {
  bench b;
  b.set_sock(4, MR, Sn_MR_UDP);
  b.set_sock(4, CR, Sn_CR_OPEN);
  int polls = 0;
  while (b.sock(4, CR) != 0) ASSERT_LT(++polls, 1000);
  EXPECT_EQ(b.sock(4, SR), SOCK_UDP);
}

TEST(commands, zero_latency_executes_within_the_write) {
  chip_config cfg;
  cfg.quirk.command_latency_ps = 0;
  bench b(cfg);
  b.set_sock(0, MR, Sn_MR_UDP);
  b.set_sock(0, CR, Sn_CR_OPEN);
  EXPECT_EQ(b.sock(0, SR), SOCK_UDP);
}

TEST(commands, open_sets_state_per_protocol_and_keeps_flag_bits) {
  bench b;
  ASSERT_TRUE(b.open(0, 0x21));  // TCP | ND, as Adafruit and Arduino open TCP
  EXPECT_EQ(b.sock(0, SR), SOCK_INIT);
  EXPECT_EQ(b.sock(0, MR), 0x21);
  ASSERT_TRUE(b.open(1, Sn_MR_UDP));
  EXPECT_EQ(b.sock(1, SR), SOCK_UDP);
  ASSERT_TRUE(b.open(0, 0x84));  // MACRAW | MFEN (Linux, Zephyr); re-open of an open socket
  EXPECT_EQ(b.sock(0, SR), SOCK_MACRAW);
}

TEST(commands, macraw_is_socket0_only) {
  bench b;
  const auto errors = b.guest_errors();
  ASSERT_TRUE(b.open(1, Sn_MR_MACRAW));
  EXPECT_EQ(b.sock(1, SR), SOCK_CLOSED);
  EXPECT_EQ(b.guest_errors(), errors + 1);
}

TEST(commands, open_with_protocol_closed_or_undefined_stays_closed_and_logs) {
  bench b;
  const auto errors = b.guest_errors();
  ASSERT_TRUE(b.open(2, 0x00));
  ASSERT_TRUE(b.open(2, 0x07));
  EXPECT_EQ(b.sock(2, SR), SOCK_CLOSED);
  EXPECT_EQ(b.guest_errors(), errors + 2);
}

TEST(commands, ipraw_open_is_reported_unimplemented) {
  bench b;
  const auto before = b.chip.log().counters().unimplemented;
  ASSERT_TRUE(b.open(2, Sn_MR_IPRAW));
  EXPECT_EQ(b.sock(2, SR), SOCK_CLOSED);
  EXPECT_EQ(b.chip.log().counters().unimplemented, before + 1);
}

TEST(commands, close_works_from_any_state) {
  bench b;
  ASSERT_TRUE(b.open(0, Sn_MR_TCP));
  ASSERT_TRUE(b.host.command(0, Sn_CR_LISTEN));
  EXPECT_EQ(b.sock(0, SR), SOCK_LISTEN);
  ASSERT_TRUE(b.host.command(0, Sn_CR_CLOSE));
  EXPECT_EQ(b.sock(0, SR), SOCK_CLOSED);
  ASSERT_TRUE(b.host.command(0, Sn_CR_CLOSE));  // closing a closed socket is fine
  EXPECT_EQ(b.sock(0, SR), SOCK_CLOSED);
}

TEST(commands, listen_on_udp_socket_is_accepted_and_ignored_like_adafruit_bind) {
  bench b;
  ASSERT_TRUE(b.open(3, Sn_MR_UDP));
  const auto errors = b.guest_errors();
  ASSERT_TRUE(b.host.command(3, Sn_CR_LISTEN));
  EXPECT_EQ(b.sock(3, SR), SOCK_UDP);
  EXPECT_EQ(b.sock(3, CR), 0);
  EXPECT_EQ(b.guest_errors(), errors + 1);
}

TEST(commands, connect_on_udp_socket_is_accepted_and_ignored_like_adafruit_dhcp) {
  bench b;
  ASSERT_TRUE(b.open(3, Sn_MR_UDP));
  ASSERT_TRUE(b.host.command(3, Sn_CR_CONNECT));
  EXPECT_EQ(b.sock(3, SR), SOCK_UDP);
}

TEST(commands, commands_on_a_closed_socket_are_ignored) {
  bench b;
  for (std::uint8_t c : {Sn_CR_LISTEN, Sn_CR_CONNECT, Sn_CR_DISCON, Sn_CR_SEND, Sn_CR_SEND_MAC, Sn_CR_SEND_KEEP,
                         Sn_CR_RECV}) {
    const auto errors = b.guest_errors();
    ASSERT_TRUE(b.host.command(5, c)) << command_name(c);
    EXPECT_EQ(b.sock(5, SR), SOCK_CLOSED) << command_name(c);
    EXPECT_EQ(b.guest_errors(), errors + 1) << command_name(c);
  }
}

TEST(commands, send_mac_applies_to_udp_only) {
  bench b;
  ASSERT_TRUE(b.open(0, Sn_MR_MACRAW));
  b.set_sock16(0, TX_WR, 64);
  const auto errors = b.guest_errors();
  ASSERT_TRUE(b.host.command(0, Sn_CR_SEND_MAC));
  EXPECT_EQ(b.guest_errors(), errors + 1);
  EXPECT_EQ(b.sock16(0, TX_WR), 0) << "an ignored SEND_MAC commits nothing";
  ASSERT_TRUE(b.host.command(0, Sn_CR_SEND));
  EXPECT_EQ(b.sock16(0, TX_WR), 64);
}

TEST(commands, unknown_command_is_accepted_ignored_and_logged) {
  bench b;
  ASSERT_TRUE(b.open(0, Sn_MR_UDP));
  const auto errors = b.guest_errors();
  ASSERT_TRUE(b.host.command(0, 0x03));
  EXPECT_EQ(b.sock(0, SR), SOCK_UDP);
  EXPECT_EQ(b.guest_errors(), errors + 1);
}

TEST(commands, second_command_while_one_is_pending_is_ignored) {
  chip_config cfg;
  cfg.quirk.command_latency_ps = us(50);
  bench b(cfg);
  b.set_sock(0, MR, Sn_MR_UDP);
  b.set_sock(0, CR, Sn_CR_OPEN);
  const auto errors = b.guest_errors();
  b.set_sock(0, CR, Sn_CR_CLOSE);
  EXPECT_EQ(b.guest_errors(), errors + 1);
  b.sched.advance_by(us(60));
  EXPECT_EQ(b.sock(0, SR), SOCK_UDP);
}

TEST(commands, open_on_open_socket_reopens_and_resets_pointers) {
  bench b;
  ASSERT_TRUE(b.open(0, Sn_MR_UDP));
  b.set_sock16(0, TX_WR, 10);
  ASSERT_TRUE(b.host.command(0, Sn_CR_SEND));
  ASSERT_TRUE(b.open(0, Sn_MR_TCP));
  EXPECT_EQ(b.sock(0, SR), SOCK_INIT);
  EXPECT_EQ(b.sock16(0, TX_WR), 0);
}

TEST(commands, open_on_open_socket_is_ignored_when_quirk_is_off) {
  chip_config cfg;
  cfg.quirk.open_on_open_socket_reopens = false;
  bench b(cfg);
  ASSERT_TRUE(b.open(0, Sn_MR_UDP));
  ASSERT_TRUE(b.open(0, Sn_MR_TCP));
  EXPECT_EQ(b.sock(0, SR), SOCK_UDP);
}

TEST(commands, close_leaves_interrupt_bits_unless_quirk_says_otherwise) {
  {
    bench b;
    ASSERT_TRUE(b.open(0, Sn_MR_UDP));
    b.chip.raise_sn_ir(0, Sn_IR_RECV);
    ASSERT_TRUE(b.host.command(0, Sn_CR_CLOSE));
    EXPECT_EQ(b.sock(0, IR), Sn_IR_RECV);
  }
  chip_config cfg;
  cfg.quirk.close_clears_sn_ir = true;
  bench b(cfg);
  ASSERT_TRUE(b.open(0, Sn_MR_UDP));
  b.chip.raise_sn_ir(0, Sn_IR_RECV);
  ASSERT_TRUE(b.host.command(0, Sn_CR_CLOSE));
  EXPECT_EQ(b.sock(0, IR), 0);
}

TEST(commands, send_commits_tx_wr_and_send_ok_waits_for_the_transmission) {
  bench b;
  ASSERT_TRUE(b.open(0, Sn_MR_UDP));
  b.set_sock16(0, TX_WR, 12);
  ASSERT_TRUE(b.host.command(0, Sn_CR_SEND));
  EXPECT_EQ(b.sock16(0, TX_WR), 12);
  // DIPR 0.0.0.0 is not a broadcast: the chip is still resolving it by ARP, so no SEND_OK yet.
  EXPECT_EQ(b.sock(0, IR) & Sn_IR_SENDOK, 0);
  EXPECT_EQ(b.sock16(0, 0x22), 0) << "TX_RD moves only when the data has left";
}
