// Construction-time configuration of one chip. Bad configuration is rejected by validate() with a clear
// std::invalid_argument; the chip calls it in its constructor.
#pragma once
#include <cstdint>
#include <string>

#include "wizsim/quirks.hpp"
#include "wizsim/time.hpp"

namespace wizsim {

// PHY operating modes (PHYCFGR.OPMDC / PMODE[2:0] encoding, DS §4.1).
enum class phy_mode : std::uint8_t {
  base10_half = 0,
  base10_full = 1,
  base100_half = 2,
  base100_full = 3,
  base100_half_autoneg = 4,
  unused = 5,
  power_down = 6,
  all_autoneg = 7,
};

struct chip_config {
  std::string name = "chip0";             // component path in logs and traces
  std::uint64_t sclk_hz = 33'333'333;     // SPI clock; 33.3 MHz is what WIZnet guarantees (max 80 MHz)
  ps_t cs_setup_ps = ns(5);               // T_CSS: SCSn fall to first SCLK edge
  ps_t cs_hold_ps = ns(5);                // T_CSH: last SCLK edge to SCSn rise
  ps_t cs_high_ps = ns(30);               // T_CS: minimum SCSn high time between frames
  ps_t reset_low_min_ps = us(500);        // TRC (DS §5.5.1)
  ps_t pll_lock_ps = ms(1);               // TPL (DS §5.5.1)
  std::uint8_t pmode = 0b111;             // PMODE[2:0] straps (internal pull-ups: all capable, autoneg)
  bool cable_connected = true;            // a link partner is plugged in
  bool partner_100 = true;                // the partner can do 100 Mb/s
  bool partner_full_duplex = true;        // the partner can do full duplex
  bool partner_autoneg = true;            // the partner autonegotiates
  quirks quirk;

  // Throws std::invalid_argument with a message naming the bad field.
  void validate() const;
  // Wire time of one SPI byte (8 SCLK periods), rounded to the picosecond.
  ps_t byte_time_ps() const { return (8 * ps_per_s + sclk_hz / 2) / sclk_hz; }
};

}  // namespace wizsim
