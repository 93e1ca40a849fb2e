// Shared helpers for the model's tests.
#pragma once
#include <cstdint>
#include <vector>

#include "wizsim/host.hpp"
#include "wizsim/w5500.hpp"

namespace wizsim::test {

// One scheduler + chip + burst host; the chip uses default configuration unless given one.
struct bench {
  explicit bench(chip_config cfg = {}, spi_path path = spi_path::burst)
      : chip(sched, std::move(cfg)), host(chip, path) {}
  scheduler sched{1};
  w5500 chip;
  spi_host host;

  std::uint8_t common(std::uint16_t off) { return host.read8(bsb_common(), off); }
  std::uint8_t sock(int n, std::uint16_t off) { return host.read8(bsb_socket(n), off); }
  std::uint16_t sock16(int n, std::uint16_t off) { return host.read16(bsb_socket(n), off); }
  void set_common(std::uint16_t off, std::uint8_t v) { host.write8(bsb_common(), off, v); }
  void set_sock(int n, std::uint16_t off, std::uint8_t v) { host.write8(bsb_socket(n), off, v); }
  void set_sock16(int n, std::uint16_t off, std::uint16_t v) { host.write16(bsb_socket(n), off, v); }
  // Sn_MR = mode, then OPEN, polling Sn_CR as drivers do.
  bool open(int n, std::uint8_t mode) {
    set_sock(n, 0x00, mode);
    return host.command(n, Sn_CR_OPEN);
  }
  std::uint64_t guest_errors() const { return chip.log().counters().guest_errors; }
};

// One CS frame through the burst call or the byte contract; returns MISO.
inline std::vector<std::uint8_t> xfer(w5500& chip, const std::vector<std::uint8_t>& mosi,
                                      spi_path path = spi_path::burst) {
  return spi_host(chip, path).raw(mosi);
}

inline std::vector<std::uint8_t> bytes(std::initializer_list<int> v) {
  std::vector<std::uint8_t> out;
  for (int b : v) out.push_back(static_cast<std::uint8_t>(b));
  return out;
}

}  // namespace wizsim::test
