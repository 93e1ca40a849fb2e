// The register-access port every SPI front-end sits on (fast byte contract, burst call, and later the
// verilated pin-level RTL), so that they cannot drift apart.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace wizsim {

class register_port {
 public:
  virtual ~register_port() = default;
  // Byte at (bsb, offset). Never has side effects: the pin front-end prefetches speculatively.
  virtual std::uint8_t read(std::uint8_t bsb, std::uint16_t offset) const = 0;
  // One byte written by the host, with all of its side effects.
  virtual void write(std::uint8_t bsb, std::uint16_t offset, std::uint8_t value) = 0;
  // Runs of bytes with the 16-bit offset auto-incrementing and wrapping; equivalent to n single calls.
  virtual void read_block(std::uint8_t bsb, std::uint16_t offset, std::uint8_t* out, std::size_t n) const;
  virtual void write_block(std::uint8_t bsb, std::uint16_t offset, const std::uint8_t* in, std::size_t n);
  // True when accesses to `bsb` in this direction touch plain memory only (no side effects, nothing
  // logged), so a front-end may use read_block/write_block for a whole frame. Conservative default.
  virtual bool plain_access(std::uint8_t bsb, bool write) const {
    (void)bsb;
    (void)write;
    return false;
  }
  // False while the chip cannot talk SPI (in reset, before PLL lock): MISO then reads 0.
  virtual bool responsive() const { return true; }
  // Human name of the byte at (bsb, offset), for logs and traces ("S3_TX_WR[1]", "TX3+0x0040").
  virtual std::string describe(std::uint8_t bsb, std::uint16_t offset) const;
};

}  // namespace wizsim
