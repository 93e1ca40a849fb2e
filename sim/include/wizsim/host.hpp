// A minimal SPI master for the model: builds W5500 frames (DS §2.2) and sends them through either the
// burst call or the byte contract. Used by the demo, the tests and the benchmarks; drivers use their own.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "wizsim/w5500.hpp"

namespace wizsim {

enum class spi_path : std::uint8_t { burst, bytes };

class spi_host {
 public:
  explicit spi_host(w5500& chip, spi_path path = spi_path::burst) : m_chip(chip), m_path(path) {}

  void read(std::uint8_t bsb, std::uint16_t addr, std::uint8_t* out, std::size_t n);
  void write(std::uint8_t bsb, std::uint16_t addr, const std::uint8_t* data, std::size_t n);
  std::uint8_t read8(std::uint8_t bsb, std::uint16_t addr);
  std::uint16_t read16(std::uint8_t bsb, std::uint16_t addr);  // one 2-byte burst, big-endian
  void write8(std::uint8_t bsb, std::uint16_t addr, std::uint8_t v) { write(bsb, addr, &v, 1); }
  void write16(std::uint8_t bsb, std::uint16_t addr, std::uint16_t v);
  // Writes Sn_CR and polls it until the chip has accepted the command (bounded; returns false on timeout).
  bool command(int socket, std::uint8_t cmd, int max_polls = 10000);

  // Sends a raw frame (header included) and returns MISO.
  std::vector<std::uint8_t> raw(const std::vector<std::uint8_t>& mosi);

 private:
  void exchange(const std::uint8_t* mosi, std::uint8_t* miso, std::size_t n);
  w5500& m_chip;
  spi_path m_path;
  std::vector<std::uint8_t> m_tx, m_rx;
};

}  // namespace wizsim
