// The two SPI entry points must be indistinguishable (spi.hpp): the byte contract — cs(false),
// transfer() per byte, cs(true) — and the burst call frame(). Two independent (scheduler, chip) pairs are
// fed the same random frame streams, one through each path, and must agree on every MISO byte, on every
// register and buffer byte, on virtual time, on pending events, on diag counters, on INTn edges and on
// every log and trace line. The streams deliberately put the 1 us command-acceptance event (and INTn
// hold-off, PHY and PLL events) inside frames, so a fast path that skips events would be caught.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "wizsim/config.hpp"
#include "wizsim/diag.hpp"
#include "wizsim/registers.hpp"
#include "wizsim/scheduler.hpp"
#include "wizsim/w5500.hpp"

using namespace wizsim;

namespace {

using bytes_t = std::vector<std::uint8_t>;

std::uint8_t u8(std::uint64_t v) { return static_cast<std::uint8_t>(v); }
std::uint16_t u16(std::uint64_t v) { return static_cast<std::uint16_t>(v); }

// ---- stream model --------------------------------------------------------------------------------------

struct step {
  enum class kind : std::uint8_t { frame, idle, raise_ir, raise_sn_ir, reset_pulse, cable };
  kind k = kind::idle;
  bytes_t mosi;  // frame: the whole CS frame, header(s) included
  ps_t dt = 0;   // idle: time to advance; reset_pulse: RSTn low time
  int sock = 0;
  std::uint8_t bits = 0;
  bool level = false;  // cable
};

void put_header(bytes_t& f, std::uint8_t bsb, std::uint16_t addr, bool write, op_mode om) {
  f.push_back(u8(addr >> 8));
  f.push_back(u8(addr));
  f.push_back(control_byte(bsb, write, om));
}

class stream_gen {
 public:
  explicit stream_gen(std::uint64_t seed) : m_r(seed) {}

  std::vector<step> make(std::size_t frames) {
    std::vector<step> out;
    for (std::size_t i = 0; i < frames; ++i) {
      step s;
      s.k = step::kind::frame;
      s.mosi = frame();
      out.push_back(std::move(s));
      // Chip-side events between frames.
      const auto e = m_r.below(1000);
      if (e < 30) {
        step x;
        x.k = step::kind::raise_sn_ir;
        x.sock = static_cast<int>(m_r.below(8));
        x.bits = u8(m_r.below(32));
        out.push_back(std::move(x));
      } else if (e < 45) {
        step x;
        x.k = step::kind::raise_ir;
        x.bits = u8(m_r.below(16) << 4);
        out.push_back(std::move(x));
      } else if (e < 48) {
        step x;
        x.k = step::kind::reset_pulse;
        x.dt = us(400) + m_r.below(us(300));  // sometimes shorter than the 500 us minimum
        out.push_back(std::move(x));
      } else if (e < 53) {
        step x;
        x.k = step::kind::cable;
        x.level = m_r.below(2) != 0;
        out.push_back(std::move(x));
      }
      step idle;
      idle.k = step::kind::idle;
      idle.dt = idle_time();
      out.push_back(std::move(idle));
    }
    return out;
  }

 private:
  ps_t idle_time() {
    const auto p = m_r.below(100);
    if (p < 30) return 0;
    if (p < 70) return m_r.below(ns(2500));  // puts the 1 us command latency inside the next frame
    if (p < 90) return m_r.below(us(60));
    if (p < 99) return m_r.below(ms(5));
    return ms(1600) + m_r.below(ms(100));  // lets autonegotiation finish
  }

  std::uint8_t sock_n() { return u8(m_r.below(8)); }

  bytes_t data(std::size_t n) {
    bytes_t d(n);
    for (auto& b : d) b = m_r.byte();
    return d;
  }

  // Filler clocked out during a read's data phase: the chip must ignore it.
  void filler(bytes_t& f, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) f.push_back(m_r.byte());
  }

  std::uint8_t buffer_size_value() {
    static const std::uint8_t v[] = {1, 2, 4, 8, 16, 2, 2, 1, 4, 2, 0, 3, 32};
    return v[m_r.below(sizeof v)];
  }

  bytes_t frame() {
    bytes_t f;
    switch (m_r.below(20)) {
      case 0:
      case 1: {  // VDM read of the common block, sometimes running past its end or through 0xFFFF
        const std::uint16_t addr = m_r.below(8) == 0 ? u16(0xFFF0 + m_r.below(16)) : u16(m_r.below(0x48));
        put_header(f, bsb_common(), addr, false, op_mode::vdm);
        filler(f, 1 + m_r.below(0x50));
        break;
      }
      case 2:
      case 3: {  // VDM write of common registers
        std::uint16_t addr;
        bytes_t d;
        switch (m_r.below(9)) {
          case 0: addr = 0x09; d = data(6); break;                         // SHAR
          case 1: addr = 0x01; d = data(1 + m_r.below(18)); break;         // GAR.. SIPR, INTLEVEL
          case 2: addr = 0x16; d = {u8(m_r.byte() & 0xF0)}; break;         // IMR
          case 3: addr = 0x18; d = {m_r.byte()}; break;                    // SIMR
          case 4: addr = 0x13; d = {0, u8(m_r.below(0x40))}; break;        // INTLEVEL (short hold-offs)
          case 5: addr = 0x15; d = {m_r.byte()}; break;                    // IR (w1c)
          case 6:                                                          // MR, rarely with RST
            addr = 0x00;
            d = {u8(m_r.below(12) == 0 ? 0x80 : (m_r.byte() & 0x7F))};
            break;
          case 7:  // PHYCFGR, rarely
            addr = 0x2E;
            d = {u8(m_r.below(4) == 0 ? (m_r.byte() & 0x7F) : (0xB8 | (m_r.byte() & 0x78)))};
            break;
          default: addr = u16(m_r.below(0x48)); d = data(1 + m_r.below(12)); break;
        }
        put_header(f, bsb_common(), addr, true, op_mode::vdm);
        f.insert(f.end(), d.begin(), d.end());
        break;
      }
      case 4:
      case 5:
      case 6: {  // VDM write of socket registers
        const std::uint8_t n = sock_n();
        std::uint16_t addr;
        bytes_t d;
        static const std::uint8_t modes[] = {Sn_MR_TCP, Sn_MR_UDP, Sn_MR_MACRAW, Sn_MR_CLOSE, Sn_MR_IPRAW, 0x21, 0x0F};
        static const std::uint8_t cmds[] = {Sn_CR_OPEN, Sn_CR_OPEN, Sn_CR_CLOSE, Sn_CR_RECV, Sn_CR_RECV, Sn_CR_SEND,
                                            Sn_CR_SEND, Sn_CR_LISTEN, Sn_CR_CONNECT, Sn_CR_DISCON, Sn_CR_SEND_MAC,
                                            Sn_CR_SEND_KEEP, 0x00, 0x77};
        switch (m_r.below(9)) {
          case 0: addr = 0x00; d = {modes[m_r.below(sizeof modes)]}; break;
          case 1:
          case 2: addr = 0x01; d = {cmds[m_r.below(sizeof cmds)]}; break;
          case 3:  // Sn_MR and Sn_CR in one burst
            addr = 0x00;
            d = {modes[m_r.below(sizeof modes)], cmds[m_r.below(sizeof cmds)]};
            break;
          case 4: addr = 0x24; d = data(m_r.below(4) == 0 ? 1 : 2); break;  // Sn_TX_WR (sometimes half)
          case 5: addr = 0x28; d = data(m_r.below(4) == 0 ? 1 : 2); break;  // Sn_RX_RD
          case 6:                                                            // Sn_RXBUF_SIZE, Sn_TXBUF_SIZE
            addr = u16(0x1E + m_r.below(2));
            d = {buffer_size_value()};
            if (addr == 0x1E && m_r.below(2)) d.push_back(buffer_size_value());
            break;
          case 7: addr = u16(0x02 + 0x2A * m_r.below(2)); d = {m_r.byte()}; break;  // Sn_IR (w1c) / Sn_IMR
          default: addr = u16(m_r.below(0x34)); d = data(1 + m_r.below(8)); break;
        }
        put_header(f, bsb_socket(n), addr, true, op_mode::vdm);
        f.insert(f.end(), d.begin(), d.end());
        break;
      }
      case 7:
      case 8: {  // VDM read of socket registers
        put_header(f, bsb_socket(sock_n()), u16(m_r.below(0x34)), false, op_mode::vdm);
        filler(f, 1 + m_r.below(0x40));
        break;
      }
      case 9:
      case 10:
      case 11: {  // TX/RX buffer write, random offset (wraps inside the socket's buffer)
        const std::uint8_t n = sock_n();
        put_header(f, m_r.below(2) ? bsb_tx(n) : bsb_rx(n), u16(m_r.next()), true, op_mode::vdm);
        const bytes_t d = data(1 + m_r.below(3000));
        f.insert(f.end(), d.begin(), d.end());
        break;
      }
      case 12:
      case 13:
      case 14: {  // TX/RX buffer read
        const std::uint8_t n = sock_n();
        put_header(f, m_r.below(2) ? bsb_tx(n) : bsb_rx(n), u16(m_r.next()), false, op_mode::vdm);
        filler(f, 1 + m_r.below(3000));
        break;
      }
      case 15: {  // reserved block select 4n
        const bool w = m_r.below(2) != 0;
        put_header(f, u8(4 * (1 + m_r.below(7))), u16(m_r.next()), w, op_mode::vdm);
        filler(f, 1 + m_r.below(20));
        break;
      }
      case 16:
      case 17: {  // several FDM frames back to back in one CS frame, the last one sometimes cut short
        const auto count = 1 + m_r.below(8);
        for (std::uint64_t i = 0; i < count; ++i) {
          const auto om = static_cast<op_mode>(1 + m_r.below(3));
          const std::size_t len = std::size_t{1} << (static_cast<unsigned>(om) - 1);
          const bool w = m_r.below(2) != 0;
          const std::uint8_t n = sock_n();
          std::uint8_t bsb;
          std::uint16_t addr;
          switch (m_r.below(5)) {
            case 0: bsb = bsb_common(); addr = u16(w ? 0x01 + m_r.below(0x18) : m_r.below(0x40)); break;
            case 1: bsb = bsb_socket(n); addr = u16(m_r.below(0x30)); break;
            case 2: bsb = bsb_tx(n); addr = u16(m_r.next()); break;
            case 3: bsb = bsb_rx(n); addr = u16(m_r.next()); break;
            default: bsb = u8(4 * (1 + m_r.below(7))); addr = u16(m_r.next()); break;
          }
          put_header(f, bsb, addr, w, om);
          filler(f, len);
        }
        if (m_r.below(6) == 0) f.resize(f.size() - 1 - m_r.below(std::min<std::size_t>(f.size(), 6)));
        break;
      }
      case 18: {  // junk: random bytes, including header-only and empty frames
        filler(f, m_r.below(13));
        break;
      }
      default: {  // a long socket-register read: a pending command's acceptance often lands inside it
        const std::uint8_t n = sock_n();
        put_header(f, bsb_socket(n), 0x0000, false, op_mode::vdm);
        filler(f, 0x30 + m_r.below(0x30));
        break;
      }
    }
    return f;
  }

  rng m_r;
};

// ---- the two paths -------------------------------------------------------------------------------------

struct rig {
  explicit rig(const chip_config& cfg) : sched(99), chip(sched, cfg) {
    chip.on_int_change([this](bool level) { int_edges.emplace_back(sched.now(), level); });
  }
  scheduler sched;
  w5500 chip;
  std::vector<std::pair<ps_t, bool>> int_edges;
  std::vector<bytes_t> miso;  // one entry per frame
};

enum class path : std::uint8_t { burst, bytes };

void send_frame(rig& r, const bytes_t& mosi, path p) {
  bytes_t miso(mosi.size(), 0xEE);
  if (p == path::burst) {
    r.chip.frame(mosi.data(), miso.data(), mosi.size());
  } else {
    r.chip.cs(false);
    for (std::size_t i = 0; i < mosi.size(); ++i) miso[i] = r.chip.transfer(mosi[i]);
    r.chip.cs(true);
  }
  r.miso.push_back(std::move(miso));
}

void apply(rig& r, const step& s, path p) {
  switch (s.k) {
    case step::kind::frame: send_frame(r, s.mosi, p); break;
    case step::kind::idle: r.sched.advance_by(s.dt); break;
    case step::kind::raise_ir: r.chip.raise_ir(s.bits); break;
    case step::kind::raise_sn_ir: r.chip.raise_sn_ir(s.sock, s.bits); break;
    case step::kind::reset_pulse:
      r.chip.set_rstn(false);
      r.sched.advance_by(s.dt);
      r.chip.set_rstn(true);
      break;
    case step::kind::cable: r.chip.set_cable(s.level); break;
  }
}

// ---- state comparison ----------------------------------------------------------------------------------

struct snapshot {
  bytes_t common;                  // 0x0000..0x003F
  std::array<bytes_t, 8> sockets;  // 0x0000..0x002F each
  std::array<bytes_t, 8> tx, rx;   // each socket's buffer through its own mapping
  std::array<std::uint32_t, 8> tx_size{}, rx_size{}, tx_base{}, rx_base{};
  ps_t now = 0;
  std::size_t pending = 0;
  diag_counters counters;
  spi_stats stats;
  bool int_n = true, link = false, rstn = true, responsive = true, selected = false;
};

snapshot take(rig& r) {
  snapshot s;
  const w5500& c = r.chip;
  for (std::uint16_t o = 0; o < common_block_size; ++o) s.common.push_back(c.read(bsb_common(), o));
  for (int n = 0; n < num_sockets; ++n) {
    for (std::uint16_t o = 0; o < socket_block_size; ++o) s.sockets[n].push_back(c.read(bsb_socket(n), o));
    s.tx_size[n] = c.tx_buffer_size(n);
    s.rx_size[n] = c.rx_buffer_size(n);
    s.tx_base[n] = c.tx_buffer_base(n);
    s.rx_base[n] = c.rx_buffer_base(n);
    // Read the whole 16 KB window of each buffer block: with a smaller buffer this repeats the
    // socket's region (offsets are masked), with 0 KB it reads zeros — either way through the chip API.
    s.tx[n].resize(buffer_ram_size);
    s.rx[n].resize(buffer_ram_size);
    c.read_block(bsb_tx(n), 0, s.tx[n].data(), buffer_ram_size);
    c.read_block(bsb_rx(n), 0, s.rx[n].data(), buffer_ram_size);
  }
  s.now = r.sched.now();
  s.pending = r.sched.pending();
  s.counters = c.log().counters();
  s.stats = r.chip.spi().stats();
  s.int_n = c.int_n();
  s.link = c.link_up();
  s.rstn = c.rstn();
  s.responsive = c.responsive();
  s.selected = r.chip.spi().selected();
  return s;
}

::testing::AssertionResult same_bytes(const char* what, const bytes_t& a, const bytes_t& b,
                                      const w5500& chip, std::uint8_t bsb) {
  if (a.size() != b.size())
    return ::testing::AssertionFailure() << what << ": sizes differ " << a.size() << " vs " << b.size();
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i])
      return ::testing::AssertionFailure()
             << what << ": first difference at offset 0x" << std::hex << i << " ("
             << chip.describe(bsb, u16(i)) << "): burst 0x" << int{a[i]} << " vs bytes 0x" << int{b[i]};
  return ::testing::AssertionSuccess();
}

void expect_same_state(rig& burst, rig& bytes) {
  const snapshot a = take(burst);
  const snapshot b = take(bytes);
  EXPECT_TRUE(same_bytes("common block", a.common, b.common, burst.chip, bsb_common()));
  for (int n = 0; n < num_sockets; ++n) {
    SCOPED_TRACE("socket " + std::to_string(n));
    EXPECT_TRUE(same_bytes("socket block", a.sockets[n], b.sockets[n], burst.chip, bsb_socket(n)));
    EXPECT_EQ(a.tx_size[n], b.tx_size[n]);
    EXPECT_EQ(a.rx_size[n], b.rx_size[n]);
    EXPECT_EQ(a.tx_base[n], b.tx_base[n]);
    EXPECT_EQ(a.rx_base[n], b.rx_base[n]);
    EXPECT_TRUE(same_bytes("TX buffer", a.tx[n], b.tx[n], burst.chip, bsb_tx(n)));
    EXPECT_TRUE(same_bytes("RX buffer", a.rx[n], b.rx[n], burst.chip, bsb_rx(n)));
  }
  EXPECT_EQ(a.now, b.now) << "virtual time differs";
  EXPECT_EQ(a.pending, b.pending) << "pending event count differs";
  EXPECT_EQ(a.counters.guest_errors, b.counters.guest_errors);
  EXPECT_EQ(a.counters.unimplemented, b.counters.unimplemented);
  EXPECT_EQ(a.counters.warnings, b.counters.warnings);
  EXPECT_EQ(a.stats.frames, b.stats.frames);
  EXPECT_EQ(a.stats.bytes, b.stats.bytes);
  EXPECT_EQ(a.stats.aborted_frames, b.stats.aborted_frames);
  EXPECT_EQ(a.int_n, b.int_n);
  EXPECT_EQ(a.link, b.link);
  EXPECT_EQ(a.rstn, b.rstn);
  EXPECT_EQ(a.responsive, b.responsive);
  EXPECT_EQ(a.selected, b.selected);
  EXPECT_EQ(burst.int_edges, bytes.int_edges) << "INTn edges (time, level) differ";
}

void expect_same_miso(const rig& burst, const rig& bytes, const std::vector<step>& steps) {
  ASSERT_EQ(burst.miso.size(), bytes.miso.size());
  std::size_t frame = 0;
  for (const step& s : steps) {
    if (s.k != step::kind::frame) continue;
    const bytes_t& a = burst.miso[frame];
    const bytes_t& b = bytes.miso[frame];
    if (a != b) {
      std::size_t i = 0;
      while (i < a.size() && a[i] == b[i]) ++i;
      ADD_FAILURE() << "MISO differs in frame " << frame << " (mosi header " << std::hex
                    << (s.mosi.size() > 0 ? int{s.mosi[0]} : -1) << " " << (s.mosi.size() > 1 ? int{s.mosi[1]} : -1)
                    << " " << (s.mosi.size() > 2 ? int{s.mosi[2]} : -1) << std::dec << ", " << s.mosi.size()
                    << " bytes) at byte " << i << ": burst 0x" << std::hex << int{a[i]} << " vs bytes 0x" << int{b[i]};
      return;
    }
    ++frame;
  }
}

// After the stream: drive both chips identically through hidden state (latched TX_WR / RX_RD host values,
// pending commands) and across the whole physical RAM, and compare again.
void probe_hidden_state(rig& burst, rig& bytes) {
  for (rig* r : {&burst, &bytes}) {
    r->sched.advance_by(ms(3));  // PLL lock after a reset pulse, hold-offs, pending commands
    for (int n = 0; n < num_sockets; ++n) {
      r->chip.write(bsb_socket(n), 0x01, Sn_CR_RECV);
      r->sched.advance_by(us(5));
      r->chip.write(bsb_socket(n), 0x01, Sn_CR_SEND);
      r->sched.advance_by(us(5));
    }
  }
  expect_same_state(burst, bytes);
  // Socket 0 with 16 KB in both directions maps the whole physical RAM (the others wrap or get none).
  for (rig* r : {&burst, &bytes}) {
    r->chip.write(bsb_socket(0), 0x1E, 16);
    r->chip.write(bsb_socket(0), 0x1F, 16);
  }
  ASSERT_EQ(burst.chip.tx_buffer_size(0), buffer_ram_size);
  ASSERT_EQ(burst.chip.rx_buffer_size(0), buffer_ram_size);
  expect_same_state(burst, bytes);
}

void run_random_equivalence(const chip_config& cfg, std::uint64_t seed, std::size_t frames) {
  SCOPED_TRACE("seed " + std::to_string(seed));
  const std::vector<step> steps = stream_gen(seed).make(frames);
  rig burst(cfg), bytes(cfg);
  std::size_t i = 0;
  for (const step& s : steps) {
    apply(burst, s, path::burst);
    apply(bytes, s, path::bytes);
    // Cheap check after every step, so a divergence is reported where it starts.
    if (burst.sched.now() != bytes.sched.now() || burst.miso.size() != bytes.miso.size() ||
        (!burst.miso.empty() && burst.miso.back() != bytes.miso.back())) {
      ADD_FAILURE() << "paths diverge at step " << i << " (frame " << burst.miso.size() - 1 << ")";
      break;
    }
    ++i;
  }
  expect_same_miso(burst, bytes, steps);
  expect_same_state(burst, bytes);
  // The stream must have done real work: frames of every kind, buffer bursts, chip events.
  EXPECT_GT(burst.chip.spi().stats().frames, frames);
  EXPECT_GT(burst.chip.spi().stats().bytes, frames * 200);
  EXPECT_GT(burst.chip.spi().stats().aborted_frames, 0u);
  EXPECT_FALSE(burst.int_edges.empty());
  probe_hidden_state(burst, bytes);
}

bytes_t fdm_frame(std::uint8_t bsb, std::uint16_t addr, bool write, const bytes_t& d) {
  const op_mode om = d.size() == 1 ? op_mode::fdm1 : d.size() == 2 ? op_mode::fdm2 : op_mode::fdm4;
  bytes_t f;
  put_header(f, bsb, addr, write, om);
  f.insert(f.end(), d.begin(), d.end());
  return f;
}

}  // namespace

TEST(spi_equivalence, byte_contract_and_burst_agree_on_random_streams) {
  for (std::uint64_t seed : {1ull, 2ull, 3ull, 4ull, 0xC0FFEEull, 0x5EED5EEDull, 42ull, 1234567ull})
    run_random_equivalence(chip_config{}, seed, 1500);
}

TEST(spi_equivalence, agree_on_random_streams_at_80mhz_with_zero_command_latency_and_odd_fill_bytes) {
  chip_config cfg;
  cfg.sclk_hz = 80'000'000;
  cfg.quirk.command_latency_ps = 0;
  cfg.quirk.miso_during_write = 0xA5;
  cfg.quirk.reserved_read_value = 0x5A;
  cfg.quirk.mr_reserved_bits_read_back = true;
  for (std::uint64_t seed : {11ull, 12ull, 13ull}) run_random_equivalence(cfg, seed, 600);
}

TEST(spi_equivalence, agree_on_random_streams_with_every_open_quirk_flipped_and_a_slow_clock) {
  chip_config cfg;
  cfg.sclk_hz = 7'000'001;  // byte time rounds to the picosecond
  cfg.cs_high_ps = ns(1);
  cfg.quirk.fdm_resync_on_cs = false;  // FDM frames stay open across CS edges
  cfg.quirk.sn_imr_gates_sn_ir = true;
  cfg.quirk.illegal_buffer_size_as_zero = false;
  cfg.quirk.buffer_overcommit_wraps = false;
  cfg.quirk.tx_wr_latched_until_send = false;
  cfg.quirk.rx_rd_latched_until_recv = false;
  cfg.quirk.open_on_open_socket_reopens = false;
  cfg.quirk.close_clears_sn_ir = true;
  cfg.quirk.command_latency_ps = us(3) + 7;
  cfg.quirk.soft_reset_ps = ns(1500);
  cfg.quirk.intlevel_zero_no_holdoff = false;
  cfg.quirk.soft_reset_restarts_phy = false;
  cfg.quirk.soft_reset_clears_buffers = true;
  cfg.quirk.spi_dead_during_reset = false;
  cfg.quirk.phycfgr_status_zero_in_phy_reset = false;
  cfg.quirk.autoneg_ps = us(700);
  cfg.quirk.forced_link_ps = us(90);
  for (std::uint64_t seed : {21ull, 22ull, 23ull}) run_random_equivalence(cfg, seed, 600);
}

TEST(spi_equivalence, trace_and_log_lines_are_identical_on_random_streams) {
  for (std::uint64_t seed : {5ull, 6ull}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const std::vector<step> steps = stream_gen(seed).make(250);
    rig burst(chip_config{}), bytes(chip_config{});
    std::vector<std::string> trace_a, trace_b, log_a, log_b;
    burst.chip.log().set_trace_sink([&](std::string_view l) { trace_a.emplace_back(l); });
    bytes.chip.log().set_trace_sink([&](std::string_view l) { trace_b.emplace_back(l); });
    burst.chip.log().set_log_sink([&](std::string_view l) { log_a.emplace_back(l); }, log_level::debug);
    bytes.chip.log().set_log_sink([&](std::string_view l) { log_b.emplace_back(l); }, log_level::debug);
    for (const step& s : steps) {
      apply(burst, s, path::burst);
      apply(bytes, s, path::bytes);
    }
    expect_same_miso(burst, bytes, steps);
    expect_same_state(burst, bytes);
    EXPECT_GT(trace_a.size(), steps.size() / 4);
    ASSERT_EQ(trace_a.size(), trace_b.size());
    for (std::size_t i = 0; i < trace_a.size(); ++i)
      if (trace_a[i] != trace_b[i]) {
        ADD_FAILURE() << "trace line " << i << " differs:\n burst: " << trace_a[i] << "\n bytes: " << trace_b[i];
        break;
      }
    ASSERT_EQ(log_a.size(), log_b.size());
    for (std::size_t i = 0; i < log_a.size(); ++i)
      if (log_a[i] != log_b[i]) {
        ADD_FAILURE() << "log line " << i << " differs:\n burst: " << log_a[i] << "\n bytes: " << log_b[i];
        break;
      }
  }
}

TEST(spi_equivalence, log_lines_are_identical_on_random_streams_with_logging_but_no_trace) {
  // Logging alone (unlike tracing) leaves the burst call's fast path on, so this compares the fast path's
  // log output, virtual-time stamps included, with the byte loop's.
  for (std::uint64_t seed : {9ull, 10ull, 0xABCDEFull}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const std::vector<step> steps = stream_gen(seed).make(400);
    rig burst(chip_config{}), bytes(chip_config{});
    std::vector<std::string> log_a, log_b;
    burst.chip.log().set_log_sink([&](std::string_view l) { log_a.emplace_back(l); }, log_level::debug);
    bytes.chip.log().set_log_sink([&](std::string_view l) { log_b.emplace_back(l); }, log_level::debug);
    for (const step& s : steps) {
      apply(burst, s, path::burst);
      apply(bytes, s, path::bytes);
    }
    expect_same_miso(burst, bytes, steps);
    expect_same_state(burst, bytes);
    EXPECT_FALSE(log_a.empty());
    EXPECT_EQ(log_a.size(), log_b.size());
    for (std::size_t i = 0; i < std::min(log_a.size(), log_b.size()); ++i)
      if (log_a[i] != log_b[i]) {
        ADD_FAILURE() << "log line " << i << " differs:\n burst: " << log_a[i] << "\n bytes: " << log_b[i];
        break;
      }
  }
}

TEST(spi_equivalence, guest_error_from_a_buffer_burst_is_stamped_with_the_same_time_in_both_paths) {
  // Socket 4's TX buffer is set to 0 KB; a 4-byte burst write to it is dropped byte by byte with a guest
  // error each. The byte loop logs each byte when it completes on the wire; the burst call must too.
  std::vector<std::string> lines[2];
  int i = 0;
  for (path p : {path::burst, path::bytes}) {
    rig r{chip_config{}};
    bytes_t f;
    put_header(f, bsb_socket(4), 0x001F, true, op_mode::vdm);
    f.push_back(0);
    send_frame(r, f, p);
    ASSERT_EQ(r.chip.tx_buffer_size(4), 0u);
    r.sched.advance_by(us(10));
    r.chip.log().set_log_sink([&lines, i](std::string_view l) { lines[i].emplace_back(l); }, log_level::debug);
    f.clear();
    put_header(f, bsb_tx(4), 0x0000, true, op_mode::vdm);
    f.insert(f.end(), {1, 2, 3, 4});
    send_frame(r, f, p);
    EXPECT_EQ(r.chip.log().counters().guest_errors, 4u);
    ++i;
  }
  ASSERT_EQ(lines[1].size(), 4u);
  EXPECT_EQ(lines[0], lines[1]);
}

TEST(spi_equivalence, tracing_and_logging_do_not_change_behaviour) {
  // The burst call's fast path is off while tracing; a traced and an untraced run must still agree.
  for (std::uint64_t seed : {7ull, 8ull}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const std::vector<step> steps = stream_gen(seed).make(400);
    rig plain(chip_config{}), traced(chip_config{});
    std::size_t lines = 0;
    traced.chip.log().set_trace_sink([&](std::string_view) { ++lines; });
    traced.chip.log().set_log_sink([&](std::string_view) { ++lines; }, log_level::debug);
    for (const step& s : steps) {
      apply(plain, s, path::burst);
      apply(traced, s, path::burst);
    }
    EXPECT_GT(lines, 0u);
    expect_same_miso(plain, traced, steps);
    expect_same_state(plain, traced);
  }
}

TEST(spi_equivalence, command_accepted_inside_one_cs_frame_of_fdm_frames_is_seen_by_later_reads_in_both_paths) {
  // One CS frame: FDM-1 write Sn_MR = TCP, FDM-1 write Sn_CR = OPEN, then 12 FDM-4 reads of Sn_MR..Sn_SR.
  // Each read frame takes 7 bytes (1.68 us at 33.3 MHz), so the 1 us acceptance falls inside the frame.
  const int n = 3;
  bytes_t mosi = fdm_frame(bsb_socket(n), 0x0000, true, {Sn_MR_TCP});
  const bytes_t open = fdm_frame(bsb_socket(n), 0x0001, true, {Sn_CR_OPEN});
  mosi.insert(mosi.end(), open.begin(), open.end());
  const std::size_t first_read = mosi.size();
  for (int i = 0; i < 12; ++i) {
    const bytes_t rd = fdm_frame(bsb_socket(n), 0x0000, false, {0, 0, 0, 0});
    mosi.insert(mosi.end(), rd.begin(), rd.end());
  }
  rig burst(chip_config{}), bytes(chip_config{});
  send_frame(burst, mosi, path::burst);
  send_frame(bytes, mosi, path::bytes);
  const bytes_t& a = burst.miso[0];
  ASSERT_TRUE(same_bytes("MISO", a, bytes.miso[0], burst.chip, bsb_socket(n)));
  expect_same_state(burst, bytes);
  // The first read frame samples Sn_CR 960 ns after the OPEN byte (still pending) and Sn_SR 480 ns
  // later, after the acceptance at 1 us: each byte reflects the live value at its shift time (spec §2.6).
  // The last read sees the command gone and the socket in INIT.
  const std::size_t last_read = mosi.size() - 7;
  EXPECT_EQ(a[first_read + 3], Sn_MR_TCP);
  EXPECT_EQ(a[first_read + 4], Sn_CR_OPEN);
  EXPECT_EQ(a[first_read + 6], SOCK_INIT);
  EXPECT_EQ(a[last_read + 4], 0x00);
  EXPECT_EQ(a[last_read + 6], SOCK_INIT);
  EXPECT_EQ(burst.chip.socket_status(n), SOCK_INIT);
}

TEST(spi_equivalence, vdm_register_read_burst_spanning_command_acceptance_sees_new_state_in_both_paths) {
  // Frame 1 writes Sn_MR = UDP, Sn_CR = OPEN; frame 2, straight after, reads the socket block from 0.
  // Sn_SR (offset 3) is shifted out about 1.4 us after the OPEN byte, after the 1 us acceptance.
  const int n = 5;
  bytes_t w;
  put_header(w, bsb_socket(n), 0x0000, true, op_mode::vdm);
  w.push_back(Sn_MR_UDP);
  w.push_back(Sn_CR_OPEN);
  bytes_t r;
  put_header(r, bsb_socket(n), 0x0000, false, op_mode::vdm);
  r.resize(3 + 0x30, 0);
  rig burst(chip_config{}), bytes(chip_config{});
  for (auto [rg, p] : {std::pair<rig*, path>{&burst, path::burst}, {&bytes, path::bytes}}) {
    send_frame(*rg, w, p);
    send_frame(*rg, r, p);
  }
  ASSERT_TRUE(same_bytes("MISO", burst.miso[1], bytes.miso[1], burst.chip, bsb_socket(n)));
  expect_same_state(burst, bytes);
  EXPECT_EQ(burst.miso[1][3 + 0x03], SOCK_UDP) << "the burst read skipped the command-acceptance event";
  EXPECT_EQ(burst.chip.socket_status(n), SOCK_UDP);
}

TEST(spi_equivalence, vdm_read_wrapping_the_whole_64k_socket_block_sees_sn_cr_before_and_after_acceptance) {
  const int n = 6;
  rig burst(chip_config{}), bytes(chip_config{});
  bytes_t w;
  put_header(w, bsb_socket(n), 0x0000, true, op_mode::vdm);
  w.push_back(Sn_MR_TCP);
  w.push_back(Sn_CR_OPEN);
  // Read from Sn_CR for 64 KB + 3 bytes: offset 1 first (pending), then again after the 16-bit wrap.
  bytes_t r;
  put_header(r, bsb_socket(n), 0x0001, false, op_mode::vdm);
  r.resize(3 + 0x10000 + 3, 0);
  for (auto [rg, p] : {std::pair<rig*, path>{&burst, path::burst}, {&bytes, path::bytes}}) {
    send_frame(*rg, w, p);
    send_frame(*rg, r, p);
  }
  const bytes_t& a = burst.miso[1];
  ASSERT_TRUE(same_bytes("MISO", a, bytes.miso[1], burst.chip, bsb_socket(n)));
  expect_same_state(burst, bytes);
  EXPECT_EQ(a[3], Sn_CR_OPEN);              // Sn_CR, 760 ns after the OPEN byte: still pending
  EXPECT_EQ(a[3 + 2], SOCK_INIT);           // Sn_SR, 480 ns later: accepted mid-frame
  EXPECT_EQ(a[3 + 0x10000], 0x00);          // Sn_CR after the wrap: accepted
  EXPECT_EQ(a[3 + 0x10000 + 2], SOCK_INIT);  // Sn_SR after the wrap
}

TEST(spi_equivalence, buffer_burst_spanning_intn_holdoff_and_command_events_agrees) {
  // Events inside a plain buffer burst (the fast path's case): INTn hold-off expiry and a command.
  for (int variant = 0; variant < 2; ++variant) {
    SCOPED_TRACE("variant " + std::to_string(variant));
    rig burst(chip_config{}), bytes(chip_config{});
    rng gen(77 + static_cast<std::uint64_t>(variant));
    bytes_t data(2500);
    for (auto& b : data) b = gen.byte();
    for (auto [rg, p] : {std::pair<rig*, path>{&burst, path::burst}, {&bytes, path::bytes}}) {
      bytes_t f;
      put_header(f, bsb_common(), 0x0013, true, op_mode::vdm);  // INTLEVEL = 0x0100 (about 6.9 us)
      f.insert(f.end(), {0x01, 0x00});
      send_frame(*rg, f, p);
      f.clear();
      put_header(f, bsb_common(), 0x0018, true, op_mode::vdm);  // SIMR: socket 2
      f.push_back(0x04);
      send_frame(*rg, f, p);
      rg->chip.raise_sn_ir(2, Sn_IR_RECV);  // INTn falls now
      f.clear();
      put_header(f, bsb_socket(2), 0x0002, true, op_mode::vdm);  // clear Sn_IR: INTn rises, hold-off starts
      f.push_back(0xFF);
      send_frame(*rg, f, p);
      rg->chip.raise_sn_ir(2, Sn_IR_SENDOK);  // INTn must wait for the hold-off: event pending
      if (variant == 1) {
        f.clear();
        put_header(f, bsb_socket(1), 0x0000, true, op_mode::vdm);
        f.insert(f.end(), {Sn_MR_UDP, Sn_CR_OPEN});
        send_frame(*rg, f, p);
      }
      f.clear();
      put_header(f, bsb_tx(2), 0xF800, true, op_mode::vdm);  // wraps in socket 2's 2 KB
      f.insert(f.end(), data.begin(), data.end());
      send_frame(*rg, f, p);
      f.clear();
      put_header(f, bsb_tx(2), 0xF800, false, op_mode::vdm);
      f.resize(3 + data.size(), 0);
      send_frame(*rg, f, p);
    }
    for (std::size_t i = 0; i < burst.miso.size(); ++i)
      EXPECT_TRUE(same_bytes("MISO", burst.miso[i], bytes.miso[i], burst.chip, bsb_tx(2))) << "frame " << i;
    expect_same_state(burst, bytes);
    ASSERT_EQ(burst.int_edges.size(), 3u);
    EXPECT_FALSE(burst.int_edges[2].second);
    EXPECT_FALSE(burst.chip.int_n());
    // Read back what was written: the buffer wrapped at 2 KB, so the last 2 KB written win.
    const bytes_t& rd = burst.miso.back();
    for (std::size_t i = 2048; i < data.size(); ++i) ASSERT_EQ(rd[3 + i - 2048], data[i]) << i;
  }
}
