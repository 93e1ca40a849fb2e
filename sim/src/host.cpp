#include "wizsim/host.hpp"

#include <cstring>

namespace wizsim {

void spi_host::exchange(const std::uint8_t* mosi, std::uint8_t* miso, std::size_t n) {
  if (m_path == spi_path::burst) return m_chip.frame(mosi, miso, n);
  m_chip.cs(false);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t r = m_chip.transfer(mosi[i]);
    if (miso) miso[i] = r;
  }
  m_chip.cs(true);
}

void spi_host::read(std::uint8_t bsb, std::uint16_t addr, std::uint8_t* out, std::size_t n) {
  m_tx.assign(n + 3, 0);
  m_rx.resize(n + 3);
  m_tx[0] = static_cast<std::uint8_t>(addr >> 8);
  m_tx[1] = static_cast<std::uint8_t>(addr);
  m_tx[2] = control_byte(bsb, false);
  exchange(m_tx.data(), m_rx.data(), n + 3);
  if (n) std::memcpy(out, m_rx.data() + 3, n);
}

void spi_host::write(std::uint8_t bsb, std::uint16_t addr, const std::uint8_t* data, std::size_t n) {
  m_tx.resize(n + 3);
  m_tx[0] = static_cast<std::uint8_t>(addr >> 8);
  m_tx[1] = static_cast<std::uint8_t>(addr);
  m_tx[2] = control_byte(bsb, true);
  if (n) std::memcpy(m_tx.data() + 3, data, n);
  exchange(m_tx.data(), nullptr, n + 3);
}

std::uint8_t spi_host::read8(std::uint8_t bsb, std::uint16_t addr) {
  std::uint8_t v;
  read(bsb, addr, &v, 1);
  return v;
}

std::uint16_t spi_host::read16(std::uint8_t bsb, std::uint16_t addr) {
  std::uint8_t v[2];
  read(bsb, addr, v, 2);
  return static_cast<std::uint16_t>(v[0] << 8 | v[1]);
}

void spi_host::write16(std::uint8_t bsb, std::uint16_t addr, std::uint16_t v) {
  const std::uint8_t b[2] = {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
  write(bsb, addr, b, 2);
}

bool spi_host::command(int socket, std::uint8_t cmd, int max_polls) {
  write8(bsb_socket(socket), 0x0001, cmd);
  for (int i = 0; i < max_polls; ++i)
    if (read8(bsb_socket(socket), 0x0001) == 0) return true;
  return false;
}

std::vector<std::uint8_t> spi_host::raw(const std::vector<std::uint8_t>& mosi) {
  std::vector<std::uint8_t> miso(mosi.size());
  exchange(mosi.data(), miso.data(), mosi.size());
  return miso;
}

}  // namespace wizsim
