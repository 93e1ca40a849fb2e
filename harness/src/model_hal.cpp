#include "wizsim/harness/model_hal.hpp"

namespace wizsim {

model_hal::model_hal(w5500& chip, std::uint64_t seed, bool wire_reset, bool wire_int)
    : m_chip(chip), m_rng(seed), m_wire_reset(wire_reset), m_wire_int(wire_int) {}

void model_hal::select() {
  ++m_stats.frames;
  m_chip.cs(false);
}

void model_hal::deselect() {
  m_chip.cs(true);
}

void model_hal::transfer(const std::uint8_t* tx, std::uint8_t* rx, std::size_t n) {
  // Byte by byte through the byte contract (not the burst call): the driver may split a frame over
  // several transfer() calls and may transfer with CS high, and both must behave as on the wire.
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t miso = m_chip.transfer(tx ? tx[i] : std::uint8_t{0});
    if (rx) rx[i] = miso;
  }
  m_stats.bytes += n;
}

void model_hal::set_reset(bool level) {
  if (!m_wire_reset) {
    m_chip.log().log(log_level::warn, "hal", "set_reset({}) on a board without an RSTn line: ignored", level);
    return;
  }
  m_chip.set_rstn(level);
}

void model_hal::sleep(ps_t t) {
  ++m_stats.sleeps;
  m_stats.slept += t;
  m_chip.sched().advance_by(t);
}

}  // namespace wizsim
