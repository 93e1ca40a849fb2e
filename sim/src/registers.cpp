#include "wizsim/registers.hpp"

#include <stdexcept>
#include <string>

namespace wizsim {

namespace {
constexpr reg_block C = reg_block::common;
constexpr reg_block S = reg_block::socket;
constexpr support F = support::full;
constexpr support SO = support::storage_only;
}  // namespace

// clang-format off
const reg_desc register_table_data[] = {
  // name            id                  blk offset  width   reset           access            wmask sc    vol   level
  {"MR",             reg_id::MR,         C, 0x0000, 1,      0x00,           access::rw,       0x3A, 0x80, 0x00, F,  "Mode: RST(7, self-clearing) WOL(5) PB(4) PPPoE(3) FARP(1)"},
  {"GAR",            reg_id::GAR,        C, 0x0001, 4,      0,              access::rw,       0xFF, 0,    0,    F,  "Gateway IP address"},
  {"SUBR",           reg_id::SUBR,       C, 0x0005, 4,      0,              access::rw,       0xFF, 0,    0,    F,  "Subnet mask"},
  {"SHAR",           reg_id::SHAR,       C, 0x0009, 6,      0,              access::rw,       0xFF, 0,    0,    F,  "Source hardware (MAC) address"},
  {"SIPR",           reg_id::SIPR,       C, 0x000F, 4,      0,              access::rw,       0xFF, 0,    0,    F,  "Source IP address"},
  {"INTLEVEL",       reg_id::INTLEVEL,   C, 0x0013, 2,      0x0000,         access::rw,       0xFF, 0,    0,    F,  "Interrupt low-level timer: INTn hold-off (INTLEVEL+1)*26.67 ns"},
  {"IR",             reg_id::IR,         C, 0x0015, 1,      0x00,           access::w1c,      0xF0, 0,    0,    F,  "Interrupt: CONFLICT(7) UNREACH(6) PPPoE(5) MP(4)"},
  {"IMR",            reg_id::IMR,        C, 0x0016, 1,      0x00,           access::rw,       0xF0, 0,    0,    F,  "Interrupt mask for IR (1 = may drive INTn)"},
  {"SIR",            reg_id::SIR,        C, 0x0017, 1,      0x00,           access::ro,       0x00, 0,    0,    F,  "Socket interrupt: bit n = socket n has an enabled Sn_IR bit set"},
  {"SIMR",           reg_id::SIMR,       C, 0x0018, 1,      0x00,           access::rw,       0xFF, 0,    0,    F,  "Socket interrupt mask for SIR"},
  {"RTR",            reg_id::RTR,        C, 0x0019, 2,      0x07D0,         access::rw,       0xFF, 0,    0,    F,  "Retry time, unit 100 us"},
  {"RCR",            reg_id::RCR,        C, 0x001B, 1,      0x08,           access::rw,       0xFF, 0,    0,    F,  "Retry count"},
  {"PTIMER",         reg_id::PTIMER,     C, 0x001C, 1,      0x28,           access::rw,       0xFF, 0,    0,    SO, "PPP LCP request timer, unit 25 ms"},
  {"PMAGIC",         reg_id::PMAGIC,     C, 0x001D, 1,      0x00,           access::rw,       0xFF, 0,    0,    SO, "PPP LCP magic number"},
  {"PHAR",           reg_id::PHAR,       C, 0x001E, 6,      0,              access::rw,       0xFF, 0,    0,    SO, "PPPoE server MAC address"},
  {"PSID",           reg_id::PSID,       C, 0x0024, 2,      0x0000,         access::rw,       0xFF, 0,    0,    SO, "PPPoE session ID"},
  {"PMRU",           reg_id::PMRU,       C, 0x0026, 2,      0xFFFF,         access::rw,       0xFF, 0,    0,    SO, "PPPoE maximum receive unit"},
  {"UIPR",           reg_id::UIPR,       C, 0x0028, 4,      0,              access::ro,       0x00, 0,    0,    F,  "Unreachable IP (from ICMP port-unreachable)"},
  {"UPORTR",         reg_id::UPORTR,     C, 0x002C, 2,      0x0000,         access::ro,       0x00, 0,    0,    F,  "Unreachable port (from ICMP port-unreachable)"},
  {"PHYCFGR",        reg_id::PHYCFGR,    C, 0x002E, 1,      0xB8,           access::rw,       0xF8, 0,    0x07, F,  "PHY: RST(7) OPMD(6) OPMDC(5:3); status DPX(2) SPD(1) LNK(0) read-only"},
  {"reserved",       reg_id::none,       C, 0x002F, 10,     0,              access::reserved, 0x00, 0,    0,    F,  "Reserved"},
  {"VERSIONR",       reg_id::VERSIONR,   C, 0x0039, 1,      0x04,           access::ro,       0x00, 0,    0,    F,  "Chip version, always 0x04"},
  {"reserved",       reg_id::none,       C, 0x003A, 0xFFC6, 0,              access::reserved, 0x00, 0,    0,    F,  "Reserved (to 0xFFFF)"},

  {"Sn_MR",          reg_id::Sn_MR,      S, 0x0000, 1,      0x00,           access::rw,       0xFF, 0,    0,    F,  "Socket mode: flags(7:4) protocol P(3:0): 1 TCP, 2 UDP, 4 MACRAW"},
  {"Sn_CR",          reg_id::Sn_CR,      S, 0x0001, 1,      0x00,           access::command,  0xFF, 0,    0,    F,  "Socket command: OPEN LISTEN CONNECT DISCON CLOSE SEND SEND_MAC SEND_KEEP RECV"},
  {"Sn_IR",          reg_id::Sn_IR,      S, 0x0002, 1,      0x00,           access::w1c,      0x1F, 0,    0,    F,  "Socket interrupt: SEND_OK(4) TIMEOUT(3) RECV(2) DISCON(1) CON(0)"},
  {"Sn_SR",          reg_id::Sn_SR,      S, 0x0003, 1,      0x00,           access::ro,       0x00, 0,    0,    F,  "Socket status (SOCK_CLOSED, SOCK_INIT, ...)"},
  {"Sn_PORT",        reg_id::Sn_PORT,    S, 0x0004, 2,      0x0000,         access::rw,       0xFF, 0,    0,    F,  "Source port"},
  {"Sn_DHAR",        reg_id::Sn_DHAR,    S, 0x0006, 6,      0xFFFFFFFFFFFF, access::rw,       0xFF, 0,    0,    F,  "Destination hardware address"},
  {"Sn_DIPR",        reg_id::Sn_DIPR,    S, 0x000C, 4,      0,              access::rw,       0xFF, 0,    0,    F,  "Destination IP address"},
  {"Sn_DPORT",       reg_id::Sn_DPORT,   S, 0x0010, 2,      0x0000,         access::rw,       0xFF, 0,    0,    F,  "Destination port"},
  {"Sn_MSSR",        reg_id::Sn_MSSR,    S, 0x0012, 2,      0x0000,         access::rw,       0xFF, 0,    0,    F,  "Maximum segment size (0 = protocol default)"},
  {"reserved",       reg_id::none,       S, 0x0014, 1,      0,              access::reserved, 0x00, 0,    0,    F,  "Reserved (Sn_PROTO on W5100/W5200)"},
  {"Sn_TOS",         reg_id::Sn_TOS,     S, 0x0015, 1,      0x00,           access::rw,       0xFF, 0,    0,    F,  "IP type of service"},
  {"Sn_TTL",         reg_id::Sn_TTL,     S, 0x0016, 1,      0x80,           access::rw,       0xFF, 0,    0,    F,  "IP time to live"},
  {"reserved",       reg_id::none,       S, 0x0017, 7,      0,              access::reserved, 0x00, 0,    0,    F,  "Reserved"},
  {"Sn_RXBUF_SIZE",  reg_id::Sn_RXBUF_SIZE, S, 0x001E, 1,   0x02,           access::rw,       0xFF, 0,    0,    F,  "RX buffer size in KB: 0, 1, 2, 4, 8, 16"},
  {"Sn_TXBUF_SIZE",  reg_id::Sn_TXBUF_SIZE, S, 0x001F, 1,   0x02,           access::rw,       0xFF, 0,    0,    F,  "TX buffer size in KB: 0, 1, 2, 4, 8, 16"},
  {"Sn_TX_FSR",      reg_id::Sn_TX_FSR,  S, 0x0020, 2,      0x0800,         access::ro,       0x00, 0,    0,    F,  "TX free size: size - (TX_WR - TX_RD)"},
  {"Sn_TX_RD",       reg_id::Sn_TX_RD,   S, 0x0022, 2,      0x0000,         access::ro,       0x00, 0,    0,    F,  "TX read pointer (chip-owned)"},
  {"Sn_TX_WR",       reg_id::Sn_TX_WR,   S, 0x0024, 2,      0x0000,         access::latched,  0xFF, 0,    0,    F,  "TX write pointer (host-owned; read-back updated by SEND)"},
  {"Sn_RX_RSR",      reg_id::Sn_RX_RSR,  S, 0x0026, 2,      0x0000,         access::ro,       0x00, 0,    0,    F,  "RX received size: RX_WR - RX_RD"},
  {"Sn_RX_RD",       reg_id::Sn_RX_RD,   S, 0x0028, 2,      0x0000,         access::latched,  0xFF, 0,    0,    F,  "RX read pointer (host-owned; committed by RECV)"},
  {"Sn_RX_WR",       reg_id::Sn_RX_WR,   S, 0x002A, 2,      0x0000,         access::ro,       0x00, 0,    0,    F,  "RX write pointer (chip-owned)"},
  {"Sn_IMR",         reg_id::Sn_IMR,     S, 0x002C, 1,      0xFF,           access::rw,       0xFF, 0,    0,    F,  "Socket interrupt mask for Sn_IR"},
  {"Sn_FRAG",        reg_id::Sn_FRAG,    S, 0x002D, 2,      0x4000,         access::rw,       0xFF, 0,    0,    F,  "IP flags and fragment offset (0x4000 = DF)"},
  {"Sn_KPALVTR",     reg_id::Sn_KPALVTR, S, 0x002F, 1,      0x00,           access::rw,       0xFF, 0,    0,    F,  "Keep-alive timer, unit 5 s"},
  {"reserved",       reg_id::none,       S, 0x0030, 0xFFD0, 0,              access::reserved, 0x00, 0,    0,    F,  "Reserved (to 0xFFFF)"},
};
// clang-format on
const reg_table_view register_table{register_table_data,
                                    register_table_data + sizeof register_table_data / sizeof *register_table_data};

const reg_desc& find_register(reg_block block, std::uint16_t offset) {
  // Called once per offset when the register file builds its lookup; a linear scan is fine.
  for (const auto& r : register_table)
    if (r.block == block && offset >= r.offset && static_cast<std::uint32_t>(offset - r.offset) < r.width) return r;
  throw std::logic_error("register table has a hole");  // the table covers 0x0000..0xFFFF in both blocks
}

const reg_desc& register_by_id(reg_id id) {
  for (const auto& r : register_table)
    if (r.id == id) return r;
  throw std::logic_error("register id missing from the table");
}

std::string register_name(const reg_desc& r, int socket) {
  std::string n = r.name;
  if (r.block == reg_block::socket && socket >= 0 && n.rfind("Sn_", 0) == 0)
    n = "S" + std::to_string(socket) + n.substr(2);
  return n;
}

const char* to_string(access a) {
  switch (a) {
    case access::rw: return "rw";
    case access::ro: return "ro";
    case access::w1c: return "w1c";
    case access::command: return "command";
    case access::latched: return "latched";
    case access::reserved: return "reserved";
  }
  return "?";
}

}  // namespace wizsim
