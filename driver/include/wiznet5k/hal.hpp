// The hardware abstraction the portable W5500 driver talks through: SPI with a chip select, the optional
// RSTn and INTn pins, a monotonic clock, a way to wait, and entropy.
//
// The driver includes nothing but this header to reach a chip, so the same driver code runs on a
// microcontroller (implement this over the board's SPI peripheral, GPIOs and timer) and against the
// virtual chip (wizsim::model_hal, where every byte costs its wire time and every sleep advances virtual
// time). Nothing here may depend on sim/ or harness/.
//
// Conventions:
//  - Pin levels are electrical: `true` = high. SCSn, RSTn and INTn are all active low.
//  - One SPI frame is select(), any number of transfer() calls, deselect(). The driver never nests
//    frames; an implementation need not support it.
//  - Calls come from one context (no locking is expected of an implementation).
#pragma once
#include <cstddef>
#include <cstdint>

namespace wiznet5k {

class hal {
 public:
  virtual ~hal() = default;

  // ---- SPI ---------------------------------------------------------------------------------------------
  // Drives SCSn low: the W5500 starts decoding a new frame (address, control, data). Also the place to
  // take an SPI bus lock when the bus is shared with other devices.
  virtual void select() = 0;
  // Drives SCSn high: ends the frame (the chip commits nothing more; the frame's writes already took
  // effect byte by byte). Release a bus lock taken in select().
  virtual void deselect() = 0;
  // Full duplex: clocks out `n` bytes (SPI mode 0 or 3, MSB first) while clocking in `n` bytes.
  // `tx` may be null: send 0x00 bytes (reads). `rx` may be null: discard what the chip sends (writes).
  // `n` may be 0 (no clocks). Blocks until the last byte has been clocked.
  virtual void transfer(const std::uint8_t* tx, std::uint8_t* rx, std::size_t n) = 0;

  // ---- RSTn (optional) ---------------------------------------------------------------------------------
  // True if the board wires a GPIO to RSTn. Without one the driver resets the chip through MR.RST.
  virtual bool has_reset() const { return false; }
  // Drives RSTn: false = low (reset asserted), true = high (released). The W5500 needs RSTn low for at
  // least 500 us and answers SPI only about 1 ms after release (PLL lock); the driver does those waits
  // with sleep_us/sleep_ms, not the implementation. A no-op when has_reset() is false.
  virtual void set_reset(bool level) { (void)level; }

  // ---- INTn (optional) ---------------------------------------------------------------------------------
  // True if the board wires INTn to an input the driver may poll. Without one the driver polls IR/SIR.
  virtual bool has_int() const { return false; }
  // Current INTn level: false = low = an enabled interrupt is pending. Reads high when has_int() is
  // false, so a caller that forgets to check sees "nothing pending".
  virtual bool int_level() { return true; }

  // ---- Time ----------------------------------------------------------------------------------------------
  // Monotonic milliseconds since an arbitrary origin (boot). Never goes backwards and never wraps in
  // practice (64 bits); a board with a 32-bit tick counter extends it. The driver measures intervals as
  // differences, never relies on the origin.
  virtual std::uint64_t millis() = 0;
  // Same clock in microseconds (millis() == micros() / 1000 up to the instant each was read).
  virtual std::uint64_t micros() = 0;
  // Waits at least `ms` milliseconds. On a board: a delay (may yield to an RTOS). In the harness: advances
  // virtual time by exactly `ms`, running every chip and network event due meanwhile; this is how a
  // polling driver lets the network make progress.
  virtual void sleep_ms(std::uint32_t ms) = 0;
  // Waits at least `us` microseconds; as sleep_ms.
  virtual void sleep_us(std::uint32_t us) = 0;

  // ---- Entropy -----------------------------------------------------------------------------------------
  // 32 random bits for DHCP transaction ids, DNS query ids, ephemeral ports and TCP initial sequence
  // choices. On a board: a hardware RNG or a seeded PRNG; in the harness: a generator seeded from the
  // run's seed, so a run is reproducible. Not required to be cryptographically strong.
  virtual std::uint32_t random32() = 0;
  // Fills `n` bytes with random data. The default draws random32() and uses all four bytes of each draw.
  virtual void fill(std::uint8_t* out, std::size_t n) {
    for (std::size_t i = 0; i < n; i += 4) {
      const std::uint32_t r = random32();
      for (std::size_t k = 0; k < 4 && i + k < n; ++k) out[i + k] = static_cast<std::uint8_t>(r >> (8 * k));
    }
  }

 protected:
  hal() = default;
  hal(const hal&) = default;
  hal& operator=(const hal&) = default;
};

}  // namespace wiznet5k
