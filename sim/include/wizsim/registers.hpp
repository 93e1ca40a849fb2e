// The one register table (DS §3/§4, spec §3/§4). The register file, docs/registers.md and the generated
// conformance suite are all built from it. The socket block is described once and instantiated eight
// times through the block-select arithmetic below.
#pragma once
#include <array>
#include <cstdint>
#include <cstddef>
#include <string>

namespace wizsim {

constexpr int num_sockets = 8;
constexpr std::uint16_t common_block_size = 0x40;  // 0x0000..0x0039 defined, then reserved
constexpr std::uint16_t socket_block_size = 0x30;  // 0x0000..0x002F defined, then reserved
constexpr std::uint32_t buffer_ram_size = 16 * 1024;  // per direction

// ---- Block select (DS §2.3) ------------------------------------------------------------------------
enum class block_kind : std::uint8_t { common, socket_regs, tx_buffer, rx_buffer, reserved };

struct block_ref {
  block_kind kind;
  int socket;  // 0..7 for socket blocks, -1 otherwise
  bool operator==(const block_ref& o) const { return kind == o.kind && socket == o.socket; }
};

// The only place the BSB arithmetic lives: 0 = common, 4n+1 = socket n registers, 4n+2 = TX buffer,
// 4n+3 = RX buffer, 4n (n = 1..7) = reserved. Values above 31 are not BSBs and decode as reserved.
constexpr block_ref decode_bsb(std::uint8_t bsb) {
  if (bsb == 0) return {block_kind::common, -1};
  if (bsb > 31 || (bsb & 3) == 0) return {block_kind::reserved, -1};
  const int n = bsb >> 2;
  switch (bsb & 3) {
    case 1: return {block_kind::socket_regs, n};
    case 2: return {block_kind::tx_buffer, n};
    default: return {block_kind::rx_buffer, n};
  }
}
constexpr std::uint8_t bsb_common() { return 0; }
constexpr std::uint8_t bsb_socket(int n) { return static_cast<std::uint8_t>(4 * n + 1); }
constexpr std::uint8_t bsb_tx(int n) { return static_cast<std::uint8_t>(4 * n + 2); }
constexpr std::uint8_t bsb_rx(int n) { return static_cast<std::uint8_t>(4 * n + 3); }

// SPI control byte: BSB[4:0] << 3 | RWB << 2 | OM[1:0] (DS §2.2).
enum class op_mode : std::uint8_t { vdm = 0, fdm1 = 1, fdm2 = 2, fdm4 = 3 };
constexpr std::uint8_t control_byte(std::uint8_t bsb, bool write, op_mode om = op_mode::vdm) {
  return static_cast<std::uint8_t>((bsb << 3) | (write ? 4 : 0) | static_cast<std::uint8_t>(om));
}

// ---- Register table ----------------------------------------------------------------------------------
enum class reg_block : std::uint8_t { common, socket };

// Access classes. Bits outside write_mask are read-only in every class.
enum class access : std::uint8_t {
  rw,        // read/write storage (bits in self_clearing_mask are commands that read back 0 when done)
  ro,        // read-only, chip-owned (derived or status)
  w1c,       // read; writing 1 clears a bit, writing 0 has no effect (datasheet "RCW1")
  command,   // self-clearing command register: reads the command until accepted, then 0
  latched,   // host writes are held until a command commits them (see quirks) — Sn_TX_WR, Sn_RX_RD
  reserved,  // no register: reads quirks.reserved_read_value, writes dropped and logged
};
const char* to_string(access a);

enum class support : std::uint8_t {
  full,          // the register and the behaviour behind it are modelled
  storage_only,  // reads and writes work; the chip function using it is not modelled yet
};

// Registers the model gives behaviour to by identity (order irrelevant; `none` for plain storage).
enum class reg_id : std::uint8_t {
  none, MR, GAR, SUBR, SHAR, SIPR, INTLEVEL, IR, IMR, SIR, SIMR, RTR, RCR, PTIMER, PMAGIC, PHAR, PSID, PMRU,
  UIPR, UPORTR, PHYCFGR, VERSIONR,
  Sn_MR, Sn_CR, Sn_IR, Sn_SR, Sn_PORT, Sn_DHAR, Sn_DIPR, Sn_DPORT, Sn_MSSR, Sn_TOS, Sn_TTL, Sn_RXBUF_SIZE,
  Sn_TXBUF_SIZE, Sn_TX_FSR, Sn_TX_RD, Sn_TX_WR, Sn_RX_RSR, Sn_RX_RD, Sn_RX_WR, Sn_IMR, Sn_FRAG, Sn_KPALVTR,
};

struct reg_desc {
  const char* name;        // datasheet name; socket registers as "Sn_XXX"
  reg_id id;
  reg_block block;
  std::uint16_t offset;
  std::uint32_t width;     // bytes
  std::uint64_t reset;     // big-endian value (reserved ranges: 0)
  access cls;
  std::uint8_t write_mask;          // per byte: bits the host can change (w1c: bits it can clear)
  std::uint8_t self_clearing_mask;  // per byte: command bits that read back 0 once done (MR.RST)
  std::uint8_t volatile_mask;       // per byte: bits whose reset value depends on the environment
  support level;
  const char* description;
};

struct reg_table_view {
  const reg_desc* first;
  const reg_desc* last;
  const reg_desc* begin() const { return first; }
  const reg_desc* end() const { return last; }
  std::size_t size() const { return static_cast<std::size_t>(last - first); }
  const reg_desc& operator[](std::size_t i) const { return first[i]; }
};
// Every register and reserved range of both blocks, in offset order; together they cover 0x0000..0xFFFF.
extern const reg_table_view register_table;

// Reset value of byte `i` (0 = lowest offset = most significant byte).
constexpr std::uint8_t reset_byte(const reg_desc& r, std::uint32_t i) {
  return static_cast<std::uint8_t>(r.reset >> (8 * (r.width - 1 - i)));
}

// The entry covering (block, offset), never null (reserved ranges are entries too).
const reg_desc& find_register(reg_block block, std::uint16_t offset);
// The entry with this id.
const reg_desc& register_by_id(reg_id id);
// "S3_TX_WR" for socket registers, the datasheet name otherwise.
std::string register_name(const reg_desc& r, int socket);

}  // namespace wizsim
