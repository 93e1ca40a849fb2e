// An SPI transcript mock implementing wiznet5k::hal: it records every frame (MOSI and MISO bytes between
// select() and deselect()) and answers from a scripted register image, so a test can state the exact
// bytes a driver call puts on the wire and what it does with each answer.
//
// The image is a plain byte array per block (common, 8 x socket registers, 8 x TX and RX buffers) with
// just enough chip behaviour for command sequences to complete: MR.RST self-clears, Sn_CR reads 0 after
// a command and on_command (default: the obvious state change) runs, Sn_IR is write-1-to-clear. Reads of
// a register can be scripted (a queue of answers, then the image again), e.g. an Sn_SR poll that sees
// CLOSED twice and INIT the third time. Time is virtual: every SPI byte costs 1 us (8 MHz), sleeps add
// exactly what they ask; random32() is a fixed LCG or a scripted queue.
//
// chip_kind selects what answers: a W5500, a W5100S (its own F0/0F frame format, MR 0x03 after reset,
// VERSIONR 0x0080 = 0x51), a W6100 (W5500 frames, read-only CIDR 0x61 at 0x0000) or nothing (MISO 0xFF).
#pragma once
#include <array>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "wiznet5k/hal.hpp"

namespace wiznet5k::test {

using bytes = std::vector<std::uint8_t>;

struct spi_frame {
  bytes mosi, miso;
};

class spi_transcript final : public wiznet5k::hal {
 public:
  enum class chip_kind { w5500, w5100s, w6100, none };

  explicit spi_transcript(chip_kind kind = chip_kind::w5500, bool reset_wired = false)
      : m_kind(kind), m_reset_wired(reset_wired) {
    power_on();
    on_command = [this](int sn, std::uint8_t cmd) { default_command(sn, cmd); };
  }

  // ---- hal ----------------------------------------------------------------------------------------------
  void select() override {
    m_selected = true;
    m_frames.push_back({});
    m_pos = 0;
  }
  void deselect() override { m_selected = false; }
  void transfer(const std::uint8_t* tx, std::uint8_t* rx, std::size_t n) override {
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint8_t mosi = tx ? tx[i] : 0x00;
      const std::uint8_t miso = m_selected ? byte(mosi) : 0xFF;
      if (m_selected) {
        m_frames.back().mosi.push_back(mosi);
        m_frames.back().miso.push_back(miso);
      }
      if (rx) rx[i] = miso;
      m_us += 1;
    }
  }
  bool has_reset() const override { return m_reset_wired; }
  void set_reset(bool level) override {
    reset_levels.push_back(level);
    if (!level) power_on();
  }
  std::uint64_t millis() override { return m_us / 1000; }
  std::uint64_t micros() override { return m_us; }
  void sleep_ms(std::uint32_t ms) override { sleep_us_total(std::uint64_t{ms} * 1000); }
  void sleep_us(std::uint32_t us) override { sleep_us_total(us); }
  std::uint32_t random32() override {
    if (!random_script.empty()) {
      const std::uint32_t v = random_script.front();
      random_script.pop_front();
      return v;
    }
    m_lcg = m_lcg * 1664525u + 1013904223u;
    return m_lcg;
  }

  // ---- image --------------------------------------------------------------------------------------------
  // Block select numbers as the W5500 datasheet: common 0, socket n registers 1+4n, TX 2+4n, RX 3+4n.
  static constexpr std::uint8_t common_bsb = 0;
  static constexpr std::uint8_t sock_bsb(int n) { return static_cast<std::uint8_t>(1 + 4 * n); }
  static constexpr std::uint8_t tx_bsb(int n) { return static_cast<std::uint8_t>(2 + 4 * n); }
  static constexpr std::uint8_t rx_bsb(int n) { return static_cast<std::uint8_t>(3 + 4 * n); }

  std::uint8_t& at(std::uint8_t bsb, std::uint16_t addr) {
    if (bsb != common_bsb && (bsb & 3) != 1) addr &= 0x7FF;  // buffers: 2 KB rings
    return m_blocks[bsb & 0x1F][addr];
  }
  std::uint8_t& common(std::uint16_t addr) { return at(common_bsb, addr); }
  std::uint8_t& sock(int n, std::uint16_t addr) { return at(sock_bsb(n), addr); }
  void set_sock16(int n, std::uint16_t addr, std::uint16_t v) {
    sock(n, addr) = static_cast<std::uint8_t>(v >> 8);
    sock(n, static_cast<std::uint16_t>(addr + 1)) = static_cast<std::uint8_t>(v);
  }
  std::uint16_t sock16(int n, std::uint16_t addr) {
    return static_cast<std::uint16_t>(sock(n, addr) << 8 | sock(n, static_cast<std::uint16_t>(addr + 1)));
  }
  // Successive reads of (bsb, addr) return these values first, then the image again.
  void script_read(std::uint8_t bsb, std::uint16_t addr, std::vector<std::uint8_t> values) {
    auto& q = m_scripted[{bsb, addr}];
    q.insert(q.end(), values.begin(), values.end());
  }
  // Puts bytes into socket n's RX ring at pointer `ptr` (mod 2 KB) and advances RX_RSR by their count.
  void rx_put(int n, std::uint16_t ptr, const bytes& data) {
    for (std::size_t i = 0; i < data.size(); ++i) at(rx_bsb(n), static_cast<std::uint16_t>(ptr + i)) = data[i];
    set_sock16(n, 0x26, static_cast<std::uint16_t>(sock16(n, 0x26) + data.size()));
  }
  bytes tx_get(int n, std::uint16_t ptr, std::size_t len) {
    bytes out;
    for (std::size_t i = 0; i < len; ++i) out.push_back(at(tx_bsb(n), static_cast<std::uint16_t>(ptr + i)));
    return out;
  }

  // Called for every Sn_CR write (after the write; Sn_CR then reads 0 unless cr_sticks is set).
  std::function<void(int sn, std::uint8_t cmd)> on_command;
  bool cr_sticks = false;  // a chip that never accepts commands
  std::vector<std::pair<int, std::uint8_t>> commands;  // every command written, in order

  // The obvious effects: OPEN -> INIT/UDP by Sn_MR, LISTEN -> LISTEN, CONNECT -> ESTABLISHED (TCP),
  // DISCON/CLOSE -> CLOSED, SEND -> SEND_OK and the data counted as sent, RECV -> RX_RSR recomputed.
  void default_command(int sn, std::uint8_t cmd) {
    std::uint8_t& sr = sock(sn, 0x03);
    const std::uint8_t proto = sock(sn, 0x00) & 0x0F;
    switch (cmd) {
      case 0x01: sr = proto == 1 ? 0x13 : proto == 2 ? 0x22 : 0x00; break;
      case 0x02: if (sr == 0x13) sr = 0x14; break;
      case 0x04: if (sr == 0x13) sr = 0x17; break;
      case 0x08:
      case 0x10: sr = 0x00; break;
      case 0x20: sock(sn, 0x02) |= 0x10; break;  // sent at once: SEND_OK (TX_FSR stays full)
      case 0x40: break;
      default: break;
    }
  }

  // ---- transcript ---------------------------------------------------------------------------------------
  const std::vector<spi_frame>& frames() const { return m_frames; }
  std::vector<bytes> mosi() const {
    std::vector<bytes> out;
    for (const auto& f : m_frames) out.push_back(f.mosi);
    return out;
  }
  // Forgets frames, sleeps and commands (the image stays).
  void clear() {
    m_frames.clear();
    sleeps_us.clear();
    commands.clear();
    reset_levels.clear();
  }
  static std::string hex(const bytes& b) {
    std::string s;
    char tmp[4];
    for (std::size_t i = 0; i < b.size(); ++i) {
      std::snprintf(tmp, sizeof tmp, i ? " %02X" : "%02X", b[i]);
      s += tmp;
    }
    return s;
  }
  // The whole transcript, one MOSI frame per line (for failure messages).
  std::string dump() const {
    std::string s;
    for (const auto& f : m_frames) s += hex(f.mosi) + "\n";
    return s;
  }

  std::vector<std::uint64_t> sleeps_us;   // every sleep, in microseconds
  std::vector<bool> reset_levels;         // every set_reset() level
  std::deque<std::uint32_t> random_script;
  std::uint64_t now_us() const { return m_us; }

 private:
  void sleep_us_total(std::uint64_t us) {
    sleeps_us.push_back(us);
    m_us += us;
  }

  void power_on() {
    m_blocks.clear();
    m_scripted.clear();
    if (m_kind == chip_kind::w5100s) {
      m_w5100s[0x0000] = 0x03;
      m_w5100s[0x0080] = 0x51;
      return;
    }
    if (m_kind == chip_kind::w6100) {
      common(0x0000) = 0x61;
      return;
    }
    common(0x0019) = 0x07;  // RTR 2000
    common(0x001A) = 0xD0;
    common(0x001B) = 0x08;  // RCR
    common(0x002E) = 0xBF;  // PHYCFGR: RST released, all-capable autoneg, 100 Mbit full duplex, link up
    common(0x0039) = 0x04;  // VERSIONR
    for (int n = 0; n < 8; ++n) {
      sock(n, 0x1E) = 2;
      sock(n, 0x1F) = 2;
      set_sock16(n, 0x20, 0x0800);
    }
  }

  // One byte inside a frame: header bytes first, then data.
  std::uint8_t byte(std::uint8_t mosi) {
    const std::size_t pos = m_pos++;
    if (m_kind == chip_kind::none) return 0xFF;
    if (m_kind == chip_kind::w5100s) return w5100s_byte(pos, mosi);
    if (pos == 0) {
      m_addr = static_cast<std::uint16_t>(mosi << 8);
      return 0x01;
    }
    if (pos == 1) {
      m_addr = static_cast<std::uint16_t>(m_addr | mosi);
      return 0x02;
    }
    if (pos == 2) {
      m_ctrl = mosi;
      return 0x03;
    }
    const std::uint8_t bsb = m_ctrl >> 3;
    const bool write = (m_ctrl & 0x04) != 0;
    const std::uint16_t addr = m_addr++;
    if (!write) return read(bsb, addr);
    this->write(bsb, addr, mosi);
    return 0x00;
  }

  std::uint8_t read(std::uint8_t bsb, std::uint16_t addr) {
    auto it = m_scripted.find({bsb, addr});
    if (it != m_scripted.end() && !it->second.empty()) {
      const std::uint8_t v = it->second.front();
      it->second.pop_front();
      return v;
    }
    return at(bsb, addr);
  }

  void write(std::uint8_t bsb, std::uint16_t addr, std::uint8_t v) {
    if (m_kind == chip_kind::w6100 && bsb == common_bsb && addr == 0x0000) return;  // CIDR is read-only
    if (bsb == common_bsb && addr == 0x0000 && (v & 0x80)) {
      common(0x0000) = 0x00;  // MR.RST self-clears
      return;
    }
    if ((bsb & 3) == 1 && bsb != common_bsb) {
      const int sn = (bsb - 1) / 4;
      if (addr == 0x02) {  // Sn_IR: write 1 to clear
        sock(sn, 0x02) = static_cast<std::uint8_t>(sock(sn, 0x02) & ~v);
        return;
      }
      if (addr == 0x01) {
        commands.emplace_back(sn, v);
        sock(sn, 0x01) = v;
        if (on_command) on_command(sn, v);
        if (!cr_sticks) sock(sn, 0x01) = 0;
        return;
      }
    }
    at(bsb, addr) = v;
  }

  std::uint8_t w5100s_byte(std::size_t pos, std::uint8_t mosi) {
    if (pos == 0) {
      m_ctrl = mosi;
      return 0x00;
    }
    if (pos == 1) {
      m_addr = static_cast<std::uint16_t>(mosi << 8);
      return 0x01;
    }
    if (pos == 2) {
      m_addr = static_cast<std::uint16_t>(m_addr | mosi);
      return 0x02;
    }
    const std::uint16_t addr = m_addr++;
    if (m_ctrl == 0x0F) return m_w5100s[addr];
    if (m_ctrl == 0xF0) {
      if (addr == 0x0000 && (mosi & 0x80)) {
        m_w5100s[0x0000] = 0x03;  // MR after reset on a W5100S
      } else {
        m_w5100s[addr] = mosi;
      }
    }
    return 0x00;  // not a W5100S opcode: ignored
  }

  chip_kind m_kind;
  bool m_reset_wired;
  bool m_selected = false;
  std::size_t m_pos = 0;
  std::uint16_t m_addr = 0;
  std::uint8_t m_ctrl = 0;
  std::uint64_t m_us = 0;
  std::uint32_t m_lcg = 12345;
  std::map<std::uint8_t, std::map<std::uint16_t, std::uint8_t>> m_blocks;
  std::map<std::uint16_t, std::uint8_t> m_w5100s;
  std::map<std::pair<std::uint8_t, std::uint16_t>, std::deque<std::uint8_t>> m_scripted;
  std::vector<spi_frame> m_frames;
};

}  // namespace wiznet5k::test
