#include "wizsim/quirks.hpp"

#include <cerrno>
#include <cstdlib>
#include <stdexcept>

#include <fmt/format.h>

#include "wizsim/config.hpp"

namespace wizsim {

namespace {

struct binding {
  quirk_info info;
  bool quirks::*flag = nullptr;
  std::uint8_t quirks::*byte = nullptr;
  ps_t quirks::*duration = nullptr;
};

binding flag(const char* n, bool quirks::*m, const char* ref, const char* d, const char* w) {
  return binding{{n, quirk_kind::flag, ref, d, w}, m, nullptr, nullptr};
}
binding byte(const char* n, std::uint8_t quirks::*m, const char* ref, const char* d, const char* w) {
  return binding{{n, quirk_kind::byte, ref, d, w}, nullptr, m, nullptr};
}
binding duration(const char* n, ps_t quirks::*m, const char* ref, const char* d, const char* w) {
  return binding{{n, quirk_kind::duration_ps, ref, d, w}, nullptr, nullptr, m};
}

const std::vector<binding>& bindings() {
  static const std::vector<binding> table = {
      byte("reserved_read_value", &quirks::reserved_read_value, "U1",
           "Value read from reserved blocks (BSB 4n) and undefined offsets; writes there are dropped.",
           "Spec recommendation; drivers probing other chips (Adafruit's W5100S probe) must not see 0x03."),
      flag("fdm_resync_on_cs", &quirks::fdm_resync_on_cs, "U3",
           "A CS falling edge resets the frame decoder in FDM as in VDM; off, FDM frames ignore CS edges.",
           "Spec recommendation: any SCSn falling edge resets the state machine in both modes."),
      byte("miso_during_write", &quirks::miso_during_write, "U4",
           "Byte driven on MISO during the data phase of a write frame.", "Spec recommendation (0x00)."),
      flag("sn_imr_gates_sn_ir", &quirks::sn_imr_gates_sn_ir, "U7",
           "On: Sn_IR bits latch only when enabled in Sn_IMR (datasheet wording). Off: Sn_IR latches "
           "regardless and Sn_IMR gates only SIR and INTn.",
           "Real-hardware logs and drivers (notes/drivers.md item 10) show latching regardless of Sn_IMR."),
      flag("illegal_buffer_size_as_zero", &quirks::illegal_buffer_size_as_zero, "U9",
           "A Sn_TXBUF_SIZE/Sn_RXBUF_SIZE value other than 0,1,2,4,8,16 acts as 0 KB; off, as the "
           "largest legal size below it. The register reads back what was written either way.",
           "Spec recommendation (treat as 0 KB and log)."),
      flag("buffer_overcommit_wraps", &quirks::buffer_overcommit_wraps, "U9",
           "Buffer sizes summing past 16 KB wrap physical addresses modulo 16 KB; off, sockets that do "
           "not fit get no storage.",
           "Spec recommendation (MAME does the same for the W5100)."),
      flag("tx_wr_latched_until_send", &quirks::tx_wr_latched_until_send, "U15",
           "Host writes to Sn_TX_WR read back only after SEND/SEND_MAC commits them.",
           "Arduino's multi-write UDP packets work only this way (notes/drivers.md item 3)."),
      flag("rx_rd_latched_until_recv", &quirks::rx_rd_latched_until_recv, "U15",
           "Host writes to Sn_RX_RD read back only after RECV commits them.",
           "Spec recommendation, following MAME's hardware-checked W5100 model; no studied driver "
           "reads RX_RD back before RECV."),
      flag("open_on_open_socket_reopens", &quirks::open_on_open_socket_reopens, "U16",
           "OPEN on a socket that is not CLOSED behaves as CLOSE then OPEN; off, it is ignored.",
           "Spec and notes/drivers.md §9.2 (Adafruit re-opens sockets in TIME_WAIT, CLOSE_WAIT...)."),
      flag("close_clears_sn_ir", &quirks::close_clears_sn_ir, "U17",
           "CLOSE clears the socket's Sn_IR.", "Spec recommendation: interrupt bits are left alone."),
      duration("command_latency_ps", &quirks::command_latency_ps, "U33",
               "Time from the Sn_CR write until the command is accepted; Sn_CR reads non-zero meanwhile.",
               "Spec recommendation (1-2 us); every driver polls Sn_CR until 0."),
      duration("soft_reset_ps", &quirks::soft_reset_ps, "U33",
               "Time MR.RST reads back 1 after a software reset; the registers are reset at once.",
               "Spec recommendation (a few us); drivers poll MR or wait milliseconds."),
      flag("intlevel_zero_no_holdoff", &quirks::intlevel_zero_no_holdoff, "U34",
           "INTLEVEL = 0 means no INTn hold-off; off, the (INTLEVEL+1)*26.67 ns formula applies at 0 too.",
           "Spec recommendation (the DS formula applies only for INTLEVEL > 0)."),
      flag("soft_reset_restarts_phy", &quirks::soft_reset_restarts_phy, "U35",
           "MR.RST also resets PHYCFGR and re-negotiates the link.", "Spec recommendation."),
      flag("soft_reset_clears_buffers", &quirks::soft_reset_clears_buffers, "U35",
           "MR.RST zeroes the 32 KB buffer RAM.", "Spec recommendation: RAM untouched."),
      flag("spi_dead_during_reset", &quirks::spi_dead_during_reset, "U35",
           "During RSTn low and until PLL lock, SPI reads return 0 and writes are ignored; off, SPI answers "
           "throughout and writes made while RSTn is low are lost at release.",
           "Spec §9.1 (ESP-IDF sees VERSIONR = 0 right after reset)."),
      flag("phycfgr_status_zero_in_phy_reset", &quirks::phycfgr_status_zero_in_phy_reset, "U14",
           "While PHYCFGR.RST is held at 0 the status bits LNK/SPD/DPX read 0 (bits 7..3 as written); "
           "off, LNK reads 0 and SPD/DPX keep their last value.",
           "Spec recommendation."),
      flag("mr_reserved_bits_read_back", &quirks::mr_reserved_bits_read_back, "drivers §9.5",
           "MR reserved bits 6, 2 and 0 read back what was written; off, they read 0.",
           "Only bits 5, 4, 3, 1 are documented; probes (Adafruit, Arduino) use bits 3 and 4."),
      flag("udp_accept_any_ip_when_sipr_zero", &quirks::udp_accept_any_ip_when_sipr_zero, "drivers §9.1",
           "While SIPR is 0.0.0.0 a UDP socket accepts unicast datagrams addressed to any IP.",
           "DHCP servers unicast the OFFER to the offered address; Adafruit's DHCP works on hardware."),
      flag("icmp_unreachable_for_closed_udp_port", &quirks::icmp_unreachable_for_closed_udp_port, "U25",
           "A unicast UDP datagram for a port no socket has open is answered with ICMP port-unreachable.",
           "Spec recommendation (MAME's W5100 model)."),
      flag("arp_timeout_discards_udp_data", &quirks::arp_timeout_discards_udp_data, "U26",
           "A UDP SEND that ends in ARP timeout discards its data (TX_RD jumps to TX_WR); off, the data "
           "stays queued for the next SEND.",
           "MAME's W5100 model; ioLibrary's DHCP conflict check sends and expects TIMEOUT."),
      flag("macraw_sees_socket_frames", &quirks::macraw_sees_socket_frames, "U28",
           "MACRAW socket 0 also receives frames consumed by hardware UDP/TCP sockets; off, only frames no "
           "hardware socket consumed (ARP and ICMP the chip answered included).",
           "MAME's W5100 model delivers only unconsumed frames."),
      flag("macraw_pads_short_frames", &quirks::macraw_pads_short_frames, "U28",
           "MACRAW frames shorter than 60 bytes are zero-padded to 60 on transmit; off, sent as written.",
           "Spec recommendation; a frame under 60 bytes is a runt on a real wire."),
      flag("tcp_rst_raises_discon", &quirks::tcp_rst_raises_discon, "U19",
           "An RST that closes a connection raises Sn_IR.DISCON; off, the socket goes CLOSED with no bit.",
           "MAME's hardware-checked W5100 model; drivers waiting for DISCON|TIMEOUT would otherwise hang."),
      flag("tcp_fin_wait_fin_goes_last_ack", &quirks::tcp_fin_wait_fin_goes_last_ack, "U21",
           "The peer's FIN in FIN_WAIT before our FIN is acked leads to LAST_ACK; off, to CLOSING (RFC 793).",
           "Spec: RFC behaviour unless hardware shows otherwise (MAME's W5100 report is not W5500 evidence)."),
      flag("tcp_keep_out_of_order", &quirks::tcp_keep_out_of_order, "U31",
           "Out-of-order TCP segments are kept and delivered when the gap fills; off, dropped and RCV.NXT "
           "re-acknowledged.",
           "A 16 KB-buffer hardware stack with no documented reassembly queue (MAME drops them)."),
      flag("ipraw_mode", &quirks::ipraw_mode, "U11",
           "IPRAW sockets work (P = 0011, SR 0x32, Sn_PROTO at socket offset 0x0014, 6-byte RX header); "
           "off, OPEN in IPRAW mode leaves the socket CLOSED (logged as unimplemented).",
           "IPRAW is not in the W5500 datasheet (only ioLibrary and an app note use it)."),
      duration("autoneg_ps", &quirks::autoneg_ps, "U36",
               "Link-up time after PHY reset or cable connect in autonegotiation modes.",
               "Spec recommendation (1.5-3 s; the low end keeps scenarios short)."),
      duration("forced_link_ps", &quirks::forced_link_ps, "U36",
               "Link-up time after PHY reset or cable connect in forced modes.",
               "Spec recommendation (tens of ms)."),
  };
  return table;
}

const binding& find(std::string_view name) {
  for (const auto& b : bindings())
    if (name == b.info.name) return b;
  std::string known;
  for (const auto& b : bindings()) known += fmt::format("{}{}", known.empty() ? "" : ", ", b.info.name);
  throw std::invalid_argument(fmt::format("unknown quirk '{}' (known quirks: {})", name, known));
}

std::uint64_t parse_number(std::string_view name, std::string_view text, std::uint64_t max) {
  std::string s(text);
  if (s == "true") return 1;
  if (s == "false") return 0;
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s.c_str(), &end, 0);
  if (s.empty() || s[0] == '-' || *end != '\0' || errno == ERANGE || v > max)
    throw std::invalid_argument(
        fmt::format("bad value '{}' for quirk '{}' (expected a number from 0 to {})", text, name, max));
  return v;
}

}  // namespace

const std::vector<quirk_info>& quirk_table() {
  static const std::vector<quirk_info> infos = [] {
    std::vector<quirk_info> v;
    for (const auto& b : bindings()) v.push_back(b.info);
    return v;
  }();
  return infos;
}

void quirks::set(std::string_view name, std::string_view value) {
  const binding& b = find(name);
  switch (b.info.kind) {
    case quirk_kind::flag: this->*b.flag = parse_number(name, value, 1) != 0; break;
    case quirk_kind::byte: this->*b.byte = static_cast<std::uint8_t>(parse_number(name, value, 0xFF)); break;
    case quirk_kind::duration_ps: this->*b.duration = parse_number(name, value, seconds(3600)); break;
  }
}

std::string quirks::get(std::string_view name) const {
  const binding& b = find(name);
  switch (b.info.kind) {
    case quirk_kind::flag: return this->*b.flag ? "true" : "false";
    case quirk_kind::byte: return fmt::format("0x{:02X}", this->*b.byte);
    case quirk_kind::duration_ps: return fmt::format("{}", this->*b.duration);
  }
  return {};
}

void chip_config::validate() const {
  if (name.empty()) throw std::invalid_argument("chip_config.name must not be empty");
  if (sclk_hz == 0) throw std::invalid_argument("chip_config.sclk_hz is 0: the SPI clock must be > 0 Hz");
  if (sclk_hz > 80'000'000)
    throw std::invalid_argument(fmt::format(
        "chip_config.sclk_hz = {} exceeds the W5500's 80 MHz maximum SPI clock (DS §5.5.4)", sclk_hz));
  if (pmode > 7) throw std::invalid_argument(fmt::format("chip_config.pmode = {} is not a 3-bit value", pmode));
  if (reset_low_min_ps == 0) throw std::invalid_argument("chip_config.reset_low_min_ps must be > 0");
}

}  // namespace wizsim
