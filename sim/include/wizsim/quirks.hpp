// Behaviours the datasheet leaves open (UNCONFIRMED in ../shared/spec/w5500.md, §13) are named options
// here, each defaulting to the spec's recommendation. docs/deviations.md lists them; its quirk table is
// generated from quirk_table() and checked by a test.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "wizsim/time.hpp"

namespace wizsim {

struct quirks {
  // U1: value read from reserved blocks (BSB 4n) and undefined offsets; writes there are always dropped.
  std::uint8_t reserved_read_value = 0x00;
  // U3: a CS falling edge resynchronises the frame decoder in FDM too (not only in VDM).
  bool fdm_resync_on_cs = true;
  // U4: byte driven on MISO during the data phase of a write frame.
  std::uint8_t miso_during_write = 0x00;
  // U7 / notes/drivers.md item 10: false = Sn_IR bits latch whatever Sn_IMR says (real hardware logs);
  // true = the datasheet reading, Sn_IMR gates latching.
  bool sn_imr_gates_sn_ir = false;
  // U9: a Sn_{TX,RX}BUF_SIZE value other than 0/1/2/4/8/16 acts as 0 KB (true) or as the largest legal
  // size not above it (false).
  bool illegal_buffer_size_as_zero = true;
  // U9: sizes summing past 16 KB wrap physical addresses modulo 16 KB (true, as MAME does for the W5100)
  // or leave the sockets that do not fit with no storage (false).
  bool buffer_overcommit_wraps = true;
  // U15 / notes/drivers.md item 3: host writes to Sn_TX_WR read back only after SEND commits them.
  bool tx_wr_latched_until_send = true;
  // U15: host writes to Sn_RX_RD read back only after RECV commits them (MAME's W5100 model).
  bool rx_rd_latched_until_recv = true;
  // U16 / notes/drivers.md §9.2: OPEN on an open socket behaves as CLOSE then OPEN (false: ignored).
  bool open_on_open_socket_reopens = true;
  // U17: CLOSE clears Sn_IR (false: interrupt bits are left for the host to clear).
  bool close_clears_sn_ir = false;
  // U33: time from the Sn_CR write until the command is accepted (Sn_CR reads non-zero meanwhile).
  ps_t command_latency_ps = us(1);
  // U33: time MR.RST reads back 1 after a software reset (registers are reset at once).
  ps_t soft_reset_ps = us(1);
  // U34: INTLEVEL = 0 means no hold-off at all (false: the (INTLEVEL+1)*26.67 ns formula still applies).
  bool intlevel_zero_no_holdoff = true;
  // U35: MR.RST also resets the PHY (PHYCFGR back to reset and link re-negotiated).
  bool soft_reset_restarts_phy = true;
  // U35: MR.RST clears the 32 KB buffer RAM (false: contents survive, as on MAME's W5100).
  bool soft_reset_clears_buffers = false;
  // U35 / spec §9.1: during RSTn low and until PLL lock, SPI reads return 0 and writes are ignored
  // (false: SPI answers throughout; writes made while RSTn is low are lost when it is released).
  bool spi_dead_during_reset = true;
  // U14: while PHYCFGR.RST is held at 0, the status bits (LNK/SPD/DPX) read 0 (false: LNK reads 0 and
  // SPD/DPX keep their last value).
  bool phycfgr_status_zero_in_phy_reset = true;
  // notes/drivers.md §9.5: MR reserved bits 6, 2, 0 read back what was written (false: read 0).
  bool mr_reserved_bits_read_back = false;
  // notes/drivers.md §9.1: a UDP socket accepts unicast datagrams addressed to any IP while SIPR is
  // 0.0.0.0 (DHCP servers unicast the OFFER to the offered address).
  bool udp_accept_any_ip_when_sipr_zero = true;
  // U25: a unicast UDP datagram for a port no socket has open is answered with ICMP port-unreachable.
  bool icmp_unreachable_for_closed_udp_port = true;
  // U26: a UDP SEND that ends in ARP timeout discards its data (TX_RD jumps to TX_WR, as on MAME's W5100).
  bool arp_timeout_discards_udp_data = true;
  // U28: MACRAW socket 0 also receives frames consumed by hardware UDP/TCP sockets (off: only frames no
  // hardware socket consumed, plus the ARP/ICMP frames the chip answered itself, as MAME's W5100 does).
  bool macraw_sees_socket_frames = false;
  // U28: MACRAW frames shorter than 60 bytes are zero-padded to 60 on transmit.
  bool macraw_pads_short_frames = true;
  // U19: an RST that closes a connection (SYNSENT refused, synchronized states) raises Sn_IR.DISCON
  // (MAME's W5100); off, the socket just goes CLOSED with no interrupt bit (the datasheet names none).
  bool tcp_rst_raises_discon = true;
  // U21: the peer's FIN arriving in FIN_WAIT before our FIN is acknowledged leads to LAST_ACK (what MAME
  // reports for a real W5100); off, to CLOSING as RFC 793 says.
  bool tcp_fin_wait_fin_goes_last_ack = false;
  // U31: out-of-order TCP segments are kept and delivered once the gap fills; off, they are dropped and
  // the chip re-acknowledges RCV.NXT.
  bool tcp_keep_out_of_order = false;
  // U11: IPRAW sockets (Sn_MR P = 0011, Sn_SR 0x32, protocol number at socket offset 0x0014 as Sn_PROTO
  // on the W5100/W5200) work as ioLibrary expects; off, OPEN in IPRAW mode leaves the socket CLOSED.
  bool ipraw_mode = false;
  // U36: link-up time after PHY reset / cable connect, autonegotiation modes.
  ps_t autoneg_ps = ms(1500);
  // U36: link-up time in forced (non-autonegotiation) modes.
  ps_t forced_link_ps = ms(20);

  // Sets a quirk by name from text ("true"/"false"/"1"/"0", or a number; 0x prefix allowed; durations in
  // picoseconds). Throws std::invalid_argument naming the known quirks on an unknown name or bad value.
  void set(std::string_view name, std::string_view value);
  // The value as text, as set() accepts it. Throws std::invalid_argument on an unknown name.
  std::string get(std::string_view name) const;
};

enum class quirk_kind : std::uint8_t { flag, byte, duration_ps };

struct quirk_info {
  const char* name;
  quirk_kind kind;
  const char* spec_ref;     // "U7", "drivers §9.5"...
  const char* description;  // what the option changes
  const char* why_default;  // why the default was chosen
};

// Every quirk, in declaration order.
const std::vector<quirk_info>& quirk_table();

}  // namespace wizsim
