// Conformance suite generated from the register table: one instance per byte of every register of the
// common block and of every socket block (sockets 0..7), plus samples of the reserved ranges. Each checks
// the reset value, that read-only bits ignore writes, that W1C bits clear, that reserved bytes read the
// reserved value and drop writes, and that latched registers read back only after their command.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_util.hpp"

using namespace wizsim;
using wizsim::test::bench;

namespace {

struct reg_byte {
  const reg_desc* reg;
  int socket;  // -1 for common
  std::uint16_t offset;
  std::uint32_t index;  // byte within the register
};

std::vector<reg_byte> all_register_bytes(bool (*keep)(const reg_desc&)) {
  std::vector<reg_byte> out;
  for (const auto& r : register_table) {
    if (!keep(r)) continue;
    const int first = r.block == reg_block::common ? -1 : 0;
    const int last = r.block == reg_block::common ? -1 : num_sockets - 1;
    for (int s = first; s <= last; ++s) {
      if (r.cls == access::reserved && r.width > 16) {
        // Wide reserved ranges: first, middle and last byte.
        for (std::uint32_t i : {0u, r.width / 2, r.width - 1})
          out.push_back({&r, s, static_cast<std::uint16_t>(r.offset + i), i});
        continue;
      }
      for (std::uint32_t i = 0; i < r.width; ++i)
        out.push_back({&r, s, static_cast<std::uint16_t>(r.offset + i), i});
    }
  }
  return out;
}

std::string param_name(const testing::TestParamInfo<reg_byte>& p) {
  std::string n = register_name(*p.param.reg, p.param.socket);
  if (p.param.reg->cls == access::reserved && p.param.socket >= 0) n = "S" + std::to_string(p.param.socket) + "_" + n;
  n += "_" + std::to_string(p.param.offset);
  for (char& c : n)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
}

class register_conformance : public testing::TestWithParam<reg_byte> {
 protected:
  std::uint8_t bsb() const { return GetParam().socket < 0 ? bsb_common() : bsb_socket(GetParam().socket); }
  std::uint8_t read(bench& b) { return b.host.read8(bsb(), GetParam().offset); }
  void write(bench& b, std::uint8_t v) { b.host.write8(bsb(), GetParam().offset, v); }
};

// Each aspect gets the register bytes it applies to, so no instance is a skipped no-op.
class reset_value : public register_conformance {};
class read_only_bits : public register_conformance {};
class w1c_bits : public register_conformance {};
class reserved_bytes : public register_conformance {};

bool any(const reg_desc&) { return true; }
bool writable_storage(const reg_desc& r) { return r.cls != access::command && r.cls != access::w1c; }
bool is_w1c(const reg_desc& r) { return r.cls == access::w1c; }
bool is_reserved(const reg_desc& r) { return r.cls == access::reserved; }

}  // namespace

TEST_P(reset_value, reads_its_reset_value) {
  bench b;
  const auto& p = GetParam();
  const std::uint8_t expect =
      p.reg->cls == access::reserved ? b.chip.config().quirk.reserved_read_value : reset_byte(*p.reg, p.index);
  const std::uint8_t fixed = static_cast<std::uint8_t>(~p.reg->volatile_mask);
  EXPECT_EQ(read(b) & fixed, expect & fixed) << register_name(*p.reg, p.socket) << " byte " << p.index;
}

TEST_P(read_only_bits, ignore_writes_and_writable_bits_read_back) {
  bench b;
  const auto& p = GetParam();
  const std::uint8_t before = read(b);
  const auto errors = b.guest_errors();
  // Flip every bit, except command bits (MR.RST) whose write would reset the chip.
  const std::uint8_t v = static_cast<std::uint8_t>(~before & ~p.reg->self_clearing_mask);
  write(b, v);
  b.sched.advance_by(us(10));
  const std::uint8_t after = read(b);
  const std::uint8_t ro = static_cast<std::uint8_t>(~p.reg->write_mask & ~p.reg->volatile_mask &
                                                    ~p.reg->self_clearing_mask);
  EXPECT_EQ(after & ro, before & ro) << "read-only bits changed";
  if (p.reg->cls == access::ro || p.reg->cls == access::reserved) {
    EXPECT_EQ(after, before);
    EXPECT_GT(b.guest_errors(), errors) << "a write to a read-only/reserved byte must be logged";
  }
  if (p.reg->cls == access::rw) {
    const std::uint8_t wm = static_cast<std::uint8_t>(p.reg->write_mask & ~p.reg->self_clearing_mask);
    EXPECT_EQ(after & wm, v & wm) << "writable bits must read back";
  }
  if (p.reg->cls == access::latched) {
    EXPECT_EQ(after, before) << "latched: read-back waits for the command";
  }
}

TEST_P(w1c_bits, clear_on_one_and_ignore_zero) {
  const auto& p = GetParam();
  bench b;
  const std::uint8_t bits = p.reg->write_mask;
  if (p.socket < 0) {
    b.chip.raise_ir(bits);
  } else {
    b.chip.raise_sn_ir(p.socket, bits);
  }
  EXPECT_EQ(read(b), bits);
  write(b, 0x00);
  EXPECT_EQ(read(b), bits) << "writing 0 has no effect";
  const std::uint8_t low = static_cast<std::uint8_t>(bits & (~bits + 1));  // lowest set bit
  write(b, low);
  EXPECT_EQ(read(b), bits & ~low);
  write(b, 0xFF);
  EXPECT_EQ(read(b), 0x00);
}

TEST_P(reserved_bytes, read_the_reserved_value_and_drop_writes) {
  chip_config cfg;
  cfg.quirk.reserved_read_value = 0xA5;
  bench b(cfg);
  EXPECT_EQ(read(b), 0xA5);
  write(b, 0x11);
  EXPECT_EQ(read(b), 0xA5);
}

INSTANTIATE_TEST_SUITE_P(table, reset_value, testing::ValuesIn(all_register_bytes(any)), param_name);
INSTANTIATE_TEST_SUITE_P(table, read_only_bits, testing::ValuesIn(all_register_bytes(writable_storage)),
                         param_name);
INSTANTIATE_TEST_SUITE_P(table, w1c_bits, testing::ValuesIn(all_register_bytes(is_w1c)), param_name);
INSTANTIATE_TEST_SUITE_P(table, reserved_bytes, testing::ValuesIn(all_register_bytes(is_reserved)), param_name);

TEST(register_table, covers_both_blocks_without_gaps_or_overlaps) {
  for (reg_block blk : {reg_block::common, reg_block::socket}) {
    std::uint32_t next = 0;
    for (const auto& r : register_table) {
      if (r.block != blk) continue;
      EXPECT_EQ(r.offset, next) << r.name;
      next = r.offset + r.width;
    }
    EXPECT_EQ(next, 0x10000u);
  }
}

TEST(register_table, datasheet_facts) {
  EXPECT_EQ(register_by_id(reg_id::RTR).reset, 0x07D0u);
  EXPECT_EQ(register_by_id(reg_id::RCR).reset, 0x08u);
  EXPECT_EQ(register_by_id(reg_id::VERSIONR).offset, 0x0039);
  EXPECT_EQ(register_by_id(reg_id::PHYCFGR).offset, 0x002E);
  EXPECT_EQ(register_by_id(reg_id::Sn_TX_WR).offset, 0x0024);
  EXPECT_EQ(register_by_id(reg_id::Sn_DHAR).reset, 0xFFFFFFFFFFFFull);
  EXPECT_EQ(register_by_id(reg_id::Sn_TTL).reset, 0x80u);
  EXPECT_EQ(register_by_id(reg_id::Sn_IMR).reset, 0xFFu);
  EXPECT_EQ(register_by_id(reg_id::Sn_FRAG).reset, 0x4000u);
  EXPECT_EQ(register_name(register_by_id(reg_id::Sn_TX_WR), 3), "S3_TX_WR");
}
