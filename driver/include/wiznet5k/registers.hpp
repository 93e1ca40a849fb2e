// W5500 register map as the driver reads it from the datasheet (W5500 Datasheet v1.1.0, chapter 4 and
// section 2.2). This is the driver's own table, deliberately independent of the simulator's (sim/): two
// readings of the datasheet cross-check each other when the driver runs against the model.
#pragma once
#include <cstdint>

namespace wiznet5k::reg {

// ---- SPI frame (DS 2.2) ------------------------------------------------------------------------------
// Frame = offset[15:8] offset[7:0] control data...; control = BSB[4:0] << 3 | RWB << 2 | OM[1:0].
// The driver uses variable-length data mode only (OM = 00): SCSn delimits the frame.
constexpr std::uint8_t RWB_READ = 0x00, RWB_WRITE = 0x04;
constexpr std::uint8_t OM_VDM = 0x00;
// Block select: common registers, then per socket n its registers, TX buffer and RX buffer.
constexpr std::uint8_t bsb_common = 0x00;
constexpr std::uint8_t bsb_socket(int n) { return static_cast<std::uint8_t>(1 + 4 * n); }
constexpr std::uint8_t bsb_tx(int n) { return static_cast<std::uint8_t>(2 + 4 * n); }
constexpr std::uint8_t bsb_rx(int n) { return static_cast<std::uint8_t>(3 + 4 * n); }
constexpr std::uint8_t control(std::uint8_t bsb, std::uint8_t rwb) {
  return static_cast<std::uint8_t>(bsb << 3 | rwb | OM_VDM);
}

// ---- Common registers (DS 3.1, 4.1) ------------------------------------------------------------------
constexpr std::uint16_t MR = 0x0000;        // mode: RST 0x80, WOL 0x20, PB 0x10, PPPoE 0x08, FARP 0x02
constexpr std::uint16_t GAR = 0x0001;       // gateway address, 4
constexpr std::uint16_t SUBR = 0x0005;      // subnet mask, 4
constexpr std::uint16_t SHAR = 0x0009;      // source hardware (MAC) address, 6
constexpr std::uint16_t SIPR = 0x000F;      // source IP address, 4
constexpr std::uint16_t INTLEVEL = 0x0013;  // interrupt low-level timer, 2
constexpr std::uint16_t IR = 0x0015;        // interrupt
constexpr std::uint16_t IMR = 0x0016;       // interrupt mask
constexpr std::uint16_t SIR = 0x0017;       // socket interrupt (read only)
constexpr std::uint16_t SIMR = 0x0018;      // socket interrupt mask
constexpr std::uint16_t RTR = 0x0019;       // retry time, 2, units of 100 us (reset 0x07D0)
constexpr std::uint16_t RCR = 0x001B;       // retry count (reset 0x08)
constexpr std::uint16_t PTIMER = 0x001C;    // PPP LCP request timer
constexpr std::uint16_t PMAGIC = 0x001D;    // PPP LCP magic number
constexpr std::uint16_t PHAR = 0x001E;      // PPP destination MAC, 6
constexpr std::uint16_t PSID = 0x0024;      // PPP session id, 2
constexpr std::uint16_t PMRU = 0x0026;      // PPP maximum segment size, 2
constexpr std::uint16_t UIPR = 0x0028;      // unreachable IP address, 4
constexpr std::uint16_t UPORTR = 0x002C;    // unreachable port, 2
constexpr std::uint16_t PHYCFGR = 0x002E;   // PHY configuration: RST 0x80, OPMD 0x40, OPMDC 0x38, DPX 4, SPD 2, LNK 1
constexpr std::uint16_t VERSIONR = 0x0039;  // chip version, reads 0x04

constexpr std::uint8_t MR_RST = 0x80, MR_PB = 0x10, MR_PPPOE = 0x08;
constexpr std::uint8_t PHYCFGR_LNK = 0x01;
constexpr std::uint8_t VERSION_W5500 = 0x04;

// ---- Socket registers (DS 4.2), offsets inside a socket's register block -------------------------------
constexpr std::uint16_t Sn_MR = 0x0000;          // mode
constexpr std::uint16_t Sn_CR = 0x0001;          // command (reads 0 once the chip accepted it)
constexpr std::uint16_t Sn_IR = 0x0002;          // interrupt (write 1 to clear)
constexpr std::uint16_t Sn_SR = 0x0003;          // status
constexpr std::uint16_t Sn_PORT = 0x0004;        // source port, 2
constexpr std::uint16_t Sn_DHAR = 0x0006;        // destination MAC, 6
constexpr std::uint16_t Sn_DIPR = 0x000C;        // destination IP, 4
constexpr std::uint16_t Sn_DPORT = 0x0010;       // destination port, 2
constexpr std::uint16_t Sn_MSSR = 0x0012;        // maximum segment size, 2
constexpr std::uint16_t Sn_TOS = 0x0015;         // IP type of service
constexpr std::uint16_t Sn_TTL = 0x0016;         // IP time to live
constexpr std::uint16_t Sn_RXBUF_SIZE = 0x001E;  // RX buffer size in KB (0,1,2,4,8,16)
constexpr std::uint16_t Sn_TXBUF_SIZE = 0x001F;  // TX buffer size in KB
constexpr std::uint16_t Sn_TX_FSR = 0x0020;      // TX free size, 2
constexpr std::uint16_t Sn_TX_RD = 0x0022;       // TX read pointer, 2
constexpr std::uint16_t Sn_TX_WR = 0x0024;       // TX write pointer, 2
constexpr std::uint16_t Sn_RX_RSR = 0x0026;      // RX received size, 2
constexpr std::uint16_t Sn_RX_RD = 0x0028;       // RX read pointer, 2
constexpr std::uint16_t Sn_RX_WR = 0x002A;       // RX write pointer, 2
constexpr std::uint16_t Sn_IMR = 0x002C;         // interrupt mask
constexpr std::uint16_t Sn_FRAG = 0x002D;        // IP fragment offset, 2
constexpr std::uint16_t Sn_KPALVTR = 0x002F;     // keep-alive timer, units of 5 s

// Sn_MR protocol (low nibble) and flags.
constexpr std::uint8_t Sn_MR_CLOSE = 0x00, Sn_MR_TCP = 0x01, Sn_MR_UDP = 0x02, Sn_MR_MACRAW = 0x04;
constexpr std::uint8_t Sn_MR_ND = 0x20;  // TCP: no delayed ACK (the seed opens TCP as 0x21)

// Sn_CR commands.
constexpr std::uint8_t CMD_OPEN = 0x01, CMD_LISTEN = 0x02, CMD_CONNECT = 0x04, CMD_DISCON = 0x08,
                       CMD_CLOSE = 0x10, CMD_SEND = 0x20, CMD_SEND_MAC = 0x21, CMD_SEND_KEEP = 0x22,
                       CMD_RECV = 0x40;

// Sn_IR bits.
constexpr std::uint8_t IR_SEND_OK = 0x10, IR_TIMEOUT = 0x08, IR_RECV = 0x04, IR_DISCON = 0x02,
                       IR_CON = 0x01;

// Sn_SR values.
constexpr std::uint8_t SR_CLOSED = 0x00, SR_INIT = 0x13, SR_LISTEN = 0x14, SR_SYNSENT = 0x15,
                       SR_SYNRECV = 0x16, SR_ESTABLISHED = 0x17, SR_FIN_WAIT = 0x18, SR_CLOSING = 0x1A,
                       SR_TIME_WAIT = 0x1B, SR_CLOSE_WAIT = 0x1C, SR_LAST_ACK = 0x1D, SR_UDP = 0x22,
                       SR_MACRAW = 0x42;

// ---- Socket buffers (DS 2.2.2, 4.2 Sn_RXBUF_SIZE) ----------------------------------------------------
// The driver gives every socket 2 KB of TX and 2 KB of RX (the reset layout), so a pointer's offset in
// its buffer is pointer & 0x7FF.
constexpr std::uint8_t BUF_SIZE_KB = 2;
constexpr std::uint16_t BUF_SIZE = 0x0800;
constexpr std::uint16_t BUF_MASK = BUF_SIZE - 1;
constexpr int SOCKETS = 8;

// UDP receive record: [IP 4][port 2][length 2] then the payload (DS 4.2 Sn_RX_RSR / 5 "UDP").
constexpr std::uint16_t UDP_HEADER = 8;

// ---- Other chips the driver recognises and refuses ---------------------------------------------------
// W5100S: its own SPI frame (write F0 addr_hi addr_lo data, read 0F addr_hi addr_lo), MR reads 0x03 after
// reset, VERSIONR at 0x0080 reads 0x51.
constexpr std::uint8_t W5100S_OP_WRITE = 0xF0, W5100S_OP_READ = 0x0F;
constexpr std::uint16_t W5100S_MR = 0x0000, W5100S_VERSIONR = 0x0080;
constexpr std::uint8_t W5100S_MR_AFTER_RESET = 0x03, W5100S_VERSION = 0x51;
// W6100: W5500 frame format; CIDR (chip id) at common 0x0000 reads 0x61 (where the W5500 has MR, so the
// W5500 probe's "MR reads 0 after reset" already fails on it).
constexpr std::uint16_t W6100_CIDR = 0x0000;
constexpr std::uint8_t W6100_ID = 0x61;

}  // namespace wiznet5k::reg
