// The SPI frame decoder (DS §2, spec §2): VDM and FDM frames, header bytes, address auto-increment,
// MISO 0x01 0x02 0x03 during the header, and CS handling. Two entry points over one register port:
//  - the byte contract: cs(level) + transfer(mosi) -> miso, one byte (8 SCLK) per call;
//  - the burst call: frame(), one call per CS frame, equivalent byte for byte and picosecond for
//    picosecond to cs(false), transfer() per byte, cs(true).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "wizsim/config.hpp"
#include "wizsim/diag.hpp"
#include "wizsim/register_port.hpp"
#include "wizsim/scheduler.hpp"

namespace wizsim {

struct spi_stats {
  std::uint64_t frames = 0;          // completed frames with at least one data byte
  std::uint64_t bytes = 0;           // bytes clocked while selected
  std::uint64_t aborted_frames = 0;  // CS rose mid-header or mid-FDM frame
};

class spi_frontend {
 public:
  spi_frontend(register_port& port, scheduler& sched, const chip_config& cfg, diag& d);

  // SCSn pin level: false selects the chip (falling edge starts a frame), true ends the frame.
  void cs(bool level);
  bool selected() const { return m_selected; }
  // One byte exchanged: 8 SCLK periods of virtual time. With CS high the chip ignores MOSI, MISO is
  // Hi-Z (reads 0xFF here) and time still passes.
  std::uint8_t transfer(std::uint8_t mosi);
  // One whole CS frame: mosi[0..n) out, miso[0..n) in (miso may be null).
  void frame(const std::uint8_t* mosi, std::uint8_t* miso, std::size_t n);

  // Time one byte takes on the wire, and the CS overheads charged at the edges.
  ps_t byte_time() const { return m_byte_ps; }
  ps_t cs_fall_time() const { return m_cs_fall_ps; }
  ps_t cs_rise_time() const { return m_cs_rise_ps; }
  const spi_stats& stats() const { return m_stats; }
  // Forget any frame in progress (chip reset). CS level is kept.
  void reset_decoder();

 private:
  enum class phase : std::uint8_t { addr_hi, addr_lo, control, data };
  void begin_frame();
  void end_frame(bool cs_rose);
  void on_control(std::uint8_t c);

  register_port& m_port;
  scheduler& m_sched;
  diag& m_diag;
  const chip_config& m_cfg;
  ps_t m_byte_ps;
  ps_t m_cs_fall_ps;
  ps_t m_cs_rise_ps;

  bool m_selected = false;
  phase m_phase = phase::addr_hi;
  std::uint16_t m_addr = 0;
  std::uint16_t m_start_addr = 0;
  std::uint8_t m_bsb = 0;
  bool m_write = false;
  std::uint8_t m_om = 0;
  std::uint32_t m_remaining = 0;  // FDM data bytes left in this frame
  std::uint32_t m_data_bytes = 0;
  std::vector<std::uint8_t> m_trace_data;  // data bytes of the frame, only while tracing
  spi_stats m_stats;
};

}  // namespace wizsim
