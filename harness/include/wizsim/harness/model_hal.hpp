// The driver's HAL bound to the virtual chip: wiznet5k::hal over a wizsim::w5500 and its scheduler.
//
// Everything costs virtual time exactly as on a board: select/deselect are SCSn edges (with the chip's
// setup/hold/high times), every transferred byte goes through the byte contract and costs 8 SCLK
// periods, and a sleep advances the scheduler, running every chip and network event due meanwhile. The
// driver's clock is the scheduler's clock, so a driver that busy-polls a register also moves time forward.
#pragma once
#include <cstddef>
#include <cstdint>

#include "wiznet5k/hal.hpp"
#include "wizsim/scheduler.hpp"
#include "wizsim/w5500.hpp"

namespace wizsim {

struct model_hal_stats {
  std::uint64_t frames = 0;  // select() calls
  std::uint64_t bytes = 0;   // bytes transferred (selected or not)
  std::uint64_t sleeps = 0;  // sleep_ms/sleep_us calls
  ps_t slept = 0;            // virtual time spent in them
};

class model_hal final : public wiznet5k::hal {
 public:
  // `seed` feeds random32()/fill() only (the chip and the network have their own generators), so the
  // driver's choices (DHCP xid, ports) are fixed by it. The chip must outlive the HAL.
  explicit model_hal(w5500& chip, std::uint64_t seed = 1, bool wire_reset = true, bool wire_int = true);

  void select() override;
  void deselect() override;
  void transfer(const std::uint8_t* tx, std::uint8_t* rx, std::size_t n) override;

  // RSTn and INTn are wired unless the constructor says otherwise (a board without them).
  bool has_reset() const override { return m_wire_reset; }
  void set_reset(bool level) override;
  bool has_int() const override { return m_wire_int; }
  bool int_level() override { return m_wire_int ? m_chip.int_n() : true; }

  std::uint64_t millis() override { return m_chip.sched().now() / ps_per_ms; }
  std::uint64_t micros() override { return m_chip.sched().now() / ps_per_us; }
  void sleep_ms(std::uint32_t n) override { sleep(ms(n)); }
  void sleep_us(std::uint32_t n) override { sleep(us(n)); }

  std::uint32_t random32() override { return static_cast<std::uint32_t>(m_rng.next() >> 32); }

  // Advances virtual time by `t`, running everything due meanwhile (what the sleeps do).
  void sleep(ps_t t);

  w5500& chip() { return m_chip; }
  scheduler& sched() { return m_chip.sched(); }
  const model_hal_stats& stats() const { return m_stats; }

 private:
  w5500& m_chip;
  rng m_rng;
  bool m_wire_reset;
  bool m_wire_int;
  model_hal_stats m_stats;
};

}  // namespace wizsim
