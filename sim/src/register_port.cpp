#include "wizsim/register_port.hpp"

#include <fmt/format.h>

namespace wizsim {

void register_port::read_block(std::uint8_t bsb, std::uint16_t offset, std::uint8_t* out, std::size_t n) const {
  for (std::size_t i = 0; i < n; ++i) out[i] = read(bsb, static_cast<std::uint16_t>(offset + i));
}

void register_port::write_block(std::uint8_t bsb, std::uint16_t offset, const std::uint8_t* in, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) write(bsb, static_cast<std::uint16_t>(offset + i), in[i]);
}

std::string register_port::describe(std::uint8_t bsb, std::uint16_t offset) const {
  return fmt::format("bsb{:02x}+0x{:04x}", bsb, offset);
}

}  // namespace wizsim
