#include "wizsim/w5500.hpp"

#include "net_engine.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace wizsim {

namespace {

// Common block offsets (DS §3.1).
constexpr std::uint16_t MR = 0x00, INTLEVEL = 0x13, IR = 0x15, IMR = 0x16, SIR = 0x17, SIMR = 0x18,
                        PHYCFGR = 0x2E;
// Socket block offsets (DS §3.2).
constexpr std::uint16_t Sn_MR = 0x00, Sn_CR = 0x01, Sn_IR = 0x02, Sn_SR = 0x03, Sn_RXBUF_SIZE = 0x1E,
                        Sn_TXBUF_SIZE = 0x1F, Sn_TX_FSR = 0x20, Sn_TX_RD = 0x22, Sn_TX_WR = 0x24,
                        Sn_RX_RSR = 0x26, Sn_RX_RD = 0x28, Sn_RX_WR = 0x2A, Sn_IMR = 0x2C;

constexpr std::uint8_t PHY_RST = 0x80, PHY_OPMD = 0x40, PHY_LNK = 0x01, PHY_SPD = 0x02, PHY_DPX = 0x04;

// Offset -> table entry for the defined part of each block, built once from the register table.
struct block_maps {
  std::array<const reg_desc*, common_block_size> common{};
  std::array<const reg_desc*, socket_block_size> socket{};
  block_maps() {
    for (std::uint16_t o = 0; o < common_block_size; ++o) common[o] = &find_register(reg_block::common, o);
    for (std::uint16_t o = 0; o < socket_block_size; ++o) socket[o] = &find_register(reg_block::socket, o);
  }
};
const block_maps& maps() {
  static const block_maps m;
  return m;
}

bool legal_buffer_size(std::uint8_t kb) {
  return kb == 0 || kb == 1 || kb == 2 || kb == 4 || kb == 8 || kb == 16;
}

// The socket state funnel's table of allowed transitions (spec §6.2, §6.3). Anything else is a model bug.
bool transition_allowed(std::uint8_t from, std::uint8_t to) {
  if (to == SOCK_CLOSED) return true;
  switch (from) {
    case SOCK_CLOSED: return to == SOCK_INIT || to == SOCK_UDP || to == SOCK_MACRAW || to == SOCK_IPRAW;
    case SOCK_INIT: return to == SOCK_LISTEN || to == SOCK_SYNSENT;
    case SOCK_LISTEN: return to == SOCK_SYNRECV;
    case SOCK_SYNSENT: return to == SOCK_ESTABLISHED || to == SOCK_SYNRECV;
    case SOCK_SYNRECV: return to == SOCK_ESTABLISHED || to == SOCK_LISTEN;
    case SOCK_ESTABLISHED: return to == SOCK_FIN_WAIT || to == SOCK_CLOSE_WAIT;
    case SOCK_FIN_WAIT: return to == SOCK_CLOSING || to == SOCK_TIME_WAIT || to == SOCK_LAST_ACK;
    case SOCK_CLOSING: return to == SOCK_TIME_WAIT;
    case SOCK_CLOSE_WAIT: return to == SOCK_LAST_ACK;
    case SOCK_LAST_ACK:
    case SOCK_TIME_WAIT:
    case SOCK_UDP:
    case SOCK_MACRAW:
    case SOCK_IPRAW: return false;
  }
  return false;
}

std::string sock_path(int n) { return fmt::format("sock{}", n); }

}  // namespace

const char* socket_state_name(std::uint8_t sr) {
  switch (sr) {
    case SOCK_CLOSED: return "CLOSED";
    case SOCK_INIT: return "INIT";
    case SOCK_LISTEN: return "LISTEN";
    case SOCK_SYNSENT: return "SYNSENT";
    case SOCK_SYNRECV: return "SYNRECV";
    case SOCK_ESTABLISHED: return "ESTABLISHED";
    case SOCK_FIN_WAIT: return "FIN_WAIT";
    case SOCK_CLOSING: return "CLOSING";
    case SOCK_TIME_WAIT: return "TIME_WAIT";
    case SOCK_CLOSE_WAIT: return "CLOSE_WAIT";
    case SOCK_LAST_ACK: return "LAST_ACK";
    case SOCK_UDP: return "UDP";
    case SOCK_MACRAW: return "MACRAW";
    case SOCK_IPRAW: return "IPRAW";
  }
  return "UNKNOWN";
}

const char* command_name(std::uint8_t cr) {
  switch (cr) {
    case Sn_CR_OPEN: return "OPEN";
    case Sn_CR_LISTEN: return "LISTEN";
    case Sn_CR_CONNECT: return "CONNECT";
    case Sn_CR_DISCON: return "DISCON";
    case Sn_CR_CLOSE: return "CLOSE";
    case Sn_CR_SEND: return "SEND";
    case Sn_CR_SEND_MAC: return "SEND_MAC";
    case Sn_CR_SEND_KEEP: return "SEND_KEEP";
    case Sn_CR_RECV: return "RECV";
  }
  return "UNKNOWN";
}

// ---- construction and resets -------------------------------------------------------------------------

w5500::w5500(scheduler& sched, chip_config cfg)
    : m_sched(sched),
      m_cfg((cfg.validate(), std::move(cfg))),
      m_diag(m_cfg.name, sched.clock()),
      m_spi(*this, sched, m_cfg, m_diag),
      m_tx_ram(new std::uint8_t[buffer_ram_size]()),
      m_rx_ram(new std::uint8_t[buffer_ram_size]()) {
  m_net = std::make_unique<net_engine>(*this);
  power_on_reset();
}

w5500::~w5500() { cancel_chip_events(); }

void w5500::cancel_chip_events() {
  for (auto& s : m_sock) {
    m_sched.cancel(s.cmd_event);
    s.cmd_event = {};
    s.cmd_pending = 0;
  }
  for (auto* e : {&m_pll_event, &m_soft_reset_event, &m_phy_event, &m_int_event}) {
    m_sched.cancel(*e);
    *e = {};
  }
}

void w5500::power_on_reset() {
  reset_registers(false);
  // The model starts settled: power came up long before t = 0, so the link is already negotiated.
  set_phy_status(0);
  phy_link_up();
}

void w5500::reset_registers(bool keep_phy) {
  const std::uint8_t phy = m_common[PHYCFGR];
  for (std::uint16_t o = 0; o < common_block_size; ++o) {
    const reg_desc& r = *maps().common[o];
    m_common[o] = r.cls == access::reserved ? m_cfg.quirk.reserved_read_value : reset_byte(r, o - r.offset);
  }
  // PHYCFGR after reset: RST=1, OPMD=0, OPMDC mirrors the PMODE straps (0b111 -> 0xB8), status live.
  m_common[PHYCFGR] = keep_phy ? phy : static_cast<std::uint8_t>(PHY_RST | (m_cfg.pmode << 3) | (phy & 0x07));
  for (int n = 0; n < num_sockets; ++n) {
    socket& s = m_sock[n];
    m_sched.cancel(s.cmd_event);
    s = socket{};
    for (std::uint16_t o = 0; o < socket_block_size; ++o) {
      const reg_desc& r = *maps().socket[o];
      s.regs[o] = r.cls == access::reserved ? m_cfg.quirk.reserved_read_value : reset_byte(r, o - r.offset);
    }
  }
  recompute_layout();
  for (int n = 0; n < num_sockets; ++n) sync_pointers(n);
  if (m_net) m_net->reset();
  m_sched.cancel(m_int_event);
  m_int_event = {};
  m_holdoff_until = 0;
  if (!m_int_n) set_int_pin(true);
}

void w5500::set_rstn(bool level) {
  if (level == m_rstn) return;
  m_rstn = level;
  if (!level) {
    m_rst_fall = m_sched.now();
    m_diag.log(log_level::info, "", "RSTn asserted: chip held in reset");
    if (m_diag.tracing()) m_diag.trace("reset", R"("kind":"rstn","level":0)");
    cancel_chip_events();
    reset_registers(false);
    set_phy_status(0);  // PHY in reset: link down, LEDs off
    m_spi.reset_decoder();
    if (m_cfg.quirk.spi_dead_during_reset) m_alive = false;
    return;
  }
  const ps_t held = m_sched.now() - m_rst_fall;
  if (held < m_cfg.reset_low_min_ps)
    m_diag.guest_error("", "RSTn released after {} ns, less than the {} ns minimum (DS TRC); reset anyway",
                       held / ps_per_ns, m_cfg.reset_low_min_ps / ps_per_ns);
  if (m_diag.tracing()) m_diag.trace("reset", R"("kind":"rstn","level":1)");
  reset_registers(false);  // anything written while RSTn was low (quirk spi_dead_during_reset off) is lost
  m_pll_event = m_sched.after(m_cfg.pll_lock_ps, [this] {
    m_pll_event = {};
    m_alive = true;
    m_diag.log(log_level::info, "", "PLL locked: SPI ready");
    phy_restart("power-up after RSTn");
  });
}

void w5500::soft_reset() {
  m_diag.log(log_level::info, "", "MR.RST: software reset");
  if (m_diag.tracing()) m_diag.trace("reset", R"("kind":"MR.RST")");
  m_sched.cancel(m_soft_reset_event);
  const bool restart_phy = m_cfg.quirk.soft_reset_restarts_phy;
  reset_registers(!restart_phy);
  if (m_cfg.quirk.soft_reset_clears_buffers) {
    std::memset(m_tx_ram.get(), 0, buffer_ram_size);
    std::memset(m_rx_ram.get(), 0, buffer_ram_size);
  }
  if (restart_phy) phy_restart("MR.RST");
  if (m_cfg.quirk.soft_reset_ps == 0) return;
  m_common[MR] |= 0x80;  // reads back 1 until the reset completes
  m_soft_reset_event = m_sched.after(m_cfg.quirk.soft_reset_ps, [this] {
    m_soft_reset_event = {};
    m_common[MR] &= 0x7F;
  });
}

// ---- register-access port ------------------------------------------------------------------------------

std::uint32_t w5500::phys(const region& r, std::uint16_t off) const {
  // Offsets are masked by the socket's buffer size and added to its base (spec §5.1); the final mask
  // wraps an overcommitted layout modulo 16 KB.
  return (r.base + (off & (r.size - 1))) & (buffer_ram_size - 1);
}

std::uint8_t w5500::read(std::uint8_t bsb, std::uint16_t offset) const {
  if (!m_alive) return 0;
  const block_ref b = decode_bsb(bsb);
  switch (b.kind) {
    case block_kind::common:
      return offset < common_block_size ? m_common[offset] : m_cfg.quirk.reserved_read_value;
    case block_kind::socket_regs:
      return offset < socket_block_size ? m_sock[b.socket].regs[offset] : m_cfg.quirk.reserved_read_value;
    case block_kind::tx_buffer: {
      const region& r = m_layout_tx[b.socket];
      return r.size ? m_tx_ram[phys(r, offset)] : 0;
    }
    case block_kind::rx_buffer: {
      const region& r = m_layout_rx[b.socket];
      return r.size ? m_rx_ram[phys(r, offset)] : 0;
    }
    case block_kind::reserved: break;
  }
  return m_cfg.quirk.reserved_read_value;
}

void w5500::read_block(std::uint8_t bsb, std::uint16_t offset, std::uint8_t* out, std::size_t n) const {
  if (n == 0) return;  // `out` may be null for an empty run
  const block_ref b = decode_bsb(bsb);
  const bool tx = b.kind == block_kind::tx_buffer;
  if (!m_alive || (!tx && b.kind != block_kind::rx_buffer)) {
    register_port::read_block(bsb, offset, out, n);
    return;
  }
  const region& r = tx ? m_layout_tx[b.socket] : m_layout_rx[b.socket];
  const std::uint8_t* ram = tx ? m_tx_ram.get() : m_rx_ram.get();
  if (r.size == 0) {
    std::memset(out, 0, n);
    return;
  }
  // Copy in runs that stay inside the socket's region and inside physical RAM.
  while (n) {
    const std::uint32_t p = phys(r, offset);
    const std::size_t run = std::min<std::size_t>(
        {n, r.size - (offset & (r.size - 1)), buffer_ram_size - p});
    std::memcpy(out, ram + p, run);
    out += run;
    n -= run;
    offset = static_cast<std::uint16_t>(offset + run);
  }
}

void w5500::write_block(std::uint8_t bsb, std::uint16_t offset, const std::uint8_t* in, std::size_t n) {
  if (n == 0) return;
  const block_ref b = decode_bsb(bsb);
  const bool tx = b.kind == block_kind::tx_buffer;
  const region* r = tx ? &m_layout_tx[b.socket] : b.kind == block_kind::rx_buffer ? &m_layout_rx[b.socket] : nullptr;
  if (!m_alive || !r || r->size == 0) {
    register_port::write_block(bsb, offset, in, n);
    return;
  }
  std::uint8_t* ram = tx ? m_tx_ram.get() : m_rx_ram.get();
  while (n) {
    const std::uint32_t p = phys(*r, offset);
    const std::size_t run = std::min<std::size_t>(
        {n, r->size - (offset & (r->size - 1)), buffer_ram_size - p});
    std::memcpy(ram + p, in, run);
    in += run;
    n -= run;
    offset = static_cast<std::uint16_t>(offset + run);
  }
}

bool w5500::plain_access(std::uint8_t bsb, bool write) const {
  const block_ref b = decode_bsb(bsb);
  switch (b.kind) {
    case block_kind::common:
    case block_kind::socket_regs: return !write;  // register writes have side effects
    case block_kind::tx_buffer: return m_layout_tx[b.socket].size != 0;
    case block_kind::rx_buffer: return m_layout_rx[b.socket].size != 0;
    case block_kind::reserved: break;  // logged once per frame by the front-end
  }
  return false;
}

std::string w5500::describe(std::uint8_t bsb, std::uint16_t offset) const {
  const block_ref b = decode_bsb(bsb);
  auto reg = [&](reg_block blk) {
    const reg_desc& r = find_register(blk, offset);
    std::string n = register_name(r, b.socket);
    if (r.cls == access::reserved) return fmt::format("{}+0x{:04X}", n, offset);
    if (r.width > 1) n += fmt::format("[{}]", offset - r.offset);
    return n;
  };
  switch (b.kind) {
    case block_kind::common: return reg(reg_block::common);
    case block_kind::socket_regs: return reg(reg_block::socket);
    case block_kind::tx_buffer: return fmt::format("TX{}+0x{:04X}", b.socket, offset);
    case block_kind::rx_buffer: return fmt::format("RX{}+0x{:04X}", b.socket, offset);
    case block_kind::reserved: break;
  }
  return fmt::format("reserved_bsb{:02X}+0x{:04X}", bsb, offset);
}

void w5500::write(std::uint8_t bsb, std::uint16_t offset, std::uint8_t v) {
  if (!m_alive) {
    m_diag.guest_error("", "SPI write of 0x{:02X} to {} ignored: chip {}", v, describe(bsb, offset),
                       m_rstn ? "waiting for PLL lock" : "held in reset (RSTn low)");
    return;
  }
  const block_ref b = decode_bsb(bsb);
  if (m_diag.tracing() && (b.kind == block_kind::common || b.kind == block_kind::socket_regs))
    m_diag.trace("reg_write", fmt::format(R"("reg":"{}","value":{})", describe(bsb, offset), v));
  switch (b.kind) {
    case block_kind::common:
      if (offset < common_block_size) return write_common(offset, v);
      break;
    case block_kind::socket_regs:
      if (offset < socket_block_size) return write_socket(b.socket, offset, v);
      break;
    case block_kind::tx_buffer:
    case block_kind::rx_buffer: {
      const bool tx = b.kind == block_kind::tx_buffer;
      const region& r = tx ? m_layout_tx[b.socket] : m_layout_rx[b.socket];
      if (r.size == 0) {
        m_diag.guest_error(sock_path(b.socket), "write to {} buffer of size 0 KB dropped", tx ? "TX" : "RX");
        return;
      }
      (tx ? m_tx_ram : m_rx_ram)[phys(r, offset)] = v;
      return;
    }
    case block_kind::reserved:
      return;  // the SPI front-end reported the reserved block select once for the frame
  }
  m_diag.guest_error("", "write of 0x{:02X} to reserved {} dropped", v, describe(bsb, offset));
}

void w5500::write_common(std::uint16_t off, std::uint8_t v) {
  const reg_desc& r = *maps().common[off];
  switch (r.cls) {
    case access::reserved:
      m_diag.guest_error("", "write of 0x{:02X} to reserved common offset 0x{:04X} dropped", v, off);
      return;
    case access::ro:
      m_diag.guest_error("", "write of 0x{:02X} to read-only {} ignored", v, describe(0, off));
      return;
    case access::w1c: {
      const std::uint8_t before = m_common[off];
      m_common[off] &= static_cast<std::uint8_t>(~(v & r.write_mask));
      return interrupt_cleared(before != m_common[off]);
    }
    case access::rw:
    case access::command:
    case access::latched: break;
  }
  if (r.id == reg_id::PHYCFGR) return phy_write(v);
  std::uint8_t wm = r.write_mask;
  if (r.id == reg_id::MR && m_cfg.quirk.mr_reserved_bits_read_back) wm = 0x7F;
  m_common[off] = static_cast<std::uint8_t>((m_common[off] & ~wm) | (v & wm));
  if (v & r.self_clearing_mask) return soft_reset();  // MR.RST is the only self-clearing bit
  if (r.id == reg_id::IMR || r.id == reg_id::SIMR) update_irq();
}

void w5500::write_socket(int n, std::uint16_t off, std::uint8_t v) {
  const reg_desc& r = *maps().socket[off];
  socket& s = m_sock[n];
  switch (r.cls) {
    case access::reserved:
      if (off == 0x14 && m_cfg.quirk.ipraw_mode) {  // Sn_PROTO of the W5100/W5200 (quirk ipraw_mode)
        s.regs[off] = v;
        return;
      }
      m_diag.guest_error(sock_path(n), "write of 0x{:02X} to reserved socket offset 0x{:04X} dropped", v, off);
      return;
    case access::ro:
      m_diag.guest_error(sock_path(n), "write of 0x{:02X} to read-only {} ignored", v, describe(bsb_socket(n), off));
      return;
    case access::w1c: {
      const std::uint8_t before = s.regs[off];
      s.regs[off] &= static_cast<std::uint8_t>(~(v & r.write_mask));
      return interrupt_cleared(before != s.regs[off]);
    }
    case access::command: return command_written(n, v);
    case access::latched: return write_latched(n, r, off - r.offset, v);
    case access::rw: break;
  }
  s.regs[off] = static_cast<std::uint8_t>((s.regs[off] & ~r.write_mask) | (v & r.write_mask));
  if (r.id == reg_id::Sn_TXBUF_SIZE || r.id == reg_id::Sn_RXBUF_SIZE)
    write_buffer_size(n, r.id == reg_id::Sn_TXBUF_SIZE, v);
  else if (r.id == reg_id::Sn_IMR)
    update_irq();
}

void w5500::write_latched(int n, const reg_desc& r, std::uint32_t idx, std::uint8_t v) {
  socket& s = m_sock[n];
  std::uint16_t& host = r.id == reg_id::Sn_TX_WR ? s.tx_wr_host : s.rx_rd_host;
  const unsigned shift = idx == 0 ? 8 : 0;  // byte 0 is the high byte (big-endian)
  host = static_cast<std::uint16_t>((host & ~(0xFF << shift)) | (v << shift));
  sync_pointers(n);
}

void w5500::write_buffer_size(int n, bool tx, std::uint8_t v) {
  if (!legal_buffer_size(v))
    m_diag.guest_error(sock_path(n), "Sn_{}BUF_SIZE = {} is not 0/1/2/4/8/16 KB; acting as {}", tx ? "TX" : "RX",
                       v, m_cfg.quirk.illegal_buffer_size_as_zero ? "0 KB" : "the largest legal size below it");
  recompute_layout();
  for (int i = 0; i < num_sockets; ++i) sync_pointers(i);
}

void w5500::recompute_layout() {
  for (int dir = 0; dir < 2; ++dir) {
    const std::uint16_t reg = dir == 0 ? Sn_TXBUF_SIZE : Sn_RXBUF_SIZE;
    auto& layout = dir == 0 ? m_layout_tx : m_layout_rx;
    std::uint32_t base = 0;
    for (int n = 0; n < num_sockets; ++n) {
      std::uint8_t kb = m_sock[n].regs[reg];
      if (!legal_buffer_size(kb)) {
        if (m_cfg.quirk.illegal_buffer_size_as_zero) {
          kb = 0;
        } else {
          std::uint8_t legal = 16;
          while (legal > kb) legal = static_cast<std::uint8_t>(legal >> 1);
          kb = legal;
        }
      }
      std::uint32_t size = kb * 1024u;
      if (base + size > buffer_ram_size && !m_cfg.quirk.buffer_overcommit_wraps) size = 0;
      layout[n] = region{base, size};
      base += size;
    }
    if (base > buffer_ram_size)
      m_diag.guest_error("", "{} buffer sizes sum to {} KB, more than 16 KB: {}", dir == 0 ? "TX" : "RX",
                         base / 1024, m_cfg.quirk.buffer_overcommit_wraps ? "addresses wrap modulo 16 KB"
                                                                           : "sockets past 16 KB get no storage");
  }
}

void w5500::sync_pointers(int n) {
  socket& s = m_sock[n];
  const bool tcp = (s.mode & 0x0F) == Sn_MR_TCP;
  if (!tcp) s.tx_ack = s.tx_rd;  // only TCP frees TX space on acknowledgement rather than transmission
  const std::uint32_t size = m_layout_tx[n].size;
  const std::uint16_t used = static_cast<std::uint16_t>(s.tx_wr - s.tx_ack);
  const std::uint16_t fsr = static_cast<std::uint16_t>(used >= size ? 0 : size - used);
  put16(&s.regs[Sn_TX_FSR], fsr);
  put16(&s.regs[Sn_TX_RD], s.tx_rd);
  put16(&s.regs[Sn_TX_WR], m_cfg.quirk.tx_wr_latched_until_send ? s.tx_wr : s.tx_wr_host);
  put16(&s.regs[Sn_RX_RSR], static_cast<std::uint16_t>(s.rx_wr - s.rx_rd));
  put16(&s.regs[Sn_RX_RD], m_cfg.quirk.rx_rd_latched_until_recv ? s.rx_rd : s.rx_rd_host);
  put16(&s.regs[Sn_RX_WR], s.rx_wr);
}

// ---- socket commands -------------------------------------------------------------------------------------

void w5500::command_written(int n, std::uint8_t cmd) {
  socket& s = m_sock[n];
  if (cmd == 0) return;  // no command
  if (s.cmd_pending) {
    m_diag.guest_error(sock_path(n), "Sn_CR = 0x{:02X} written while {} is still pending; ignored", cmd,
                       command_name(s.cmd_pending));
    return;
  }
  s.regs[Sn_CR] = cmd;
  s.cmd_pending = cmd;
  if (m_cfg.quirk.command_latency_ps == 0) return execute_command(n);
  s.cmd_event = m_sched.after(m_cfg.quirk.command_latency_ps, [this, n] {
    m_sock[n].cmd_event = {};
    execute_command(n);
  });
}

void w5500::execute_command(int n) {
  socket& s = m_sock[n];
  const std::uint8_t cmd = s.cmd_pending;
  s.cmd_pending = 0;
  s.regs[Sn_CR] = 0;
  const std::uint8_t sr = s.regs[Sn_SR];
  if (m_diag.tracing())
    m_diag.trace("command", fmt::format(R"("sock":{},"cmd":"{}","code":{},"state":"{}")", n, command_name(cmd),
                                        cmd, socket_state_name(sr)));
  m_diag.log(log_level::debug, sock_path(n), "{} accepted in {}", command_name(cmd), socket_state_name(sr));
  auto ignored = [&] {
    m_diag.guest_error(sock_path(n), "{} does not apply in {}; accepted and ignored", command_name(cmd),
                       socket_state_name(sr));
  };
  switch (cmd) {
    case Sn_CR_OPEN: return cmd_open(n);
    case Sn_CR_CLOSE: return cmd_close(n, "CLOSE");
    case Sn_CR_LISTEN:
      if (sr != SOCK_INIT) return ignored();
      return set_state(n, SOCK_LISTEN, "LISTEN");
    case Sn_CR_RECV:
      if (sr == SOCK_CLOSED) return ignored();
      s.rx_rd = s.rx_rd_host;  // commit the host's read pointer, freeing RX space
      sync_pointers(n);
      if ((s.mode & 0x0F) == Sn_MR_TCP) m_net->tcp_recv_committed(n);
      return;
    case Sn_CR_SEND:
    case Sn_CR_SEND_MAC: {
      const bool ok = cmd == Sn_CR_SEND_MAC ? (sr == SOCK_UDP || sr == SOCK_IPRAW)
                                            : (sr == SOCK_UDP || sr == SOCK_MACRAW || sr == SOCK_IPRAW ||
                                               sr == SOCK_ESTABLISHED || sr == SOCK_CLOSE_WAIT);
      if (!ok) return ignored();
      s.tx_wr = s.tx_wr_host;  // SEND commits the host's write pointer (spec §5.2)
      sync_pointers(n);
      if (sr == SOCK_ESTABLISHED || sr == SOCK_CLOSE_WAIT) return m_net->tcp_command(n, Sn_CR_SEND);
      return m_net->send(n, cmd == Sn_CR_SEND_MAC);
    }
    case Sn_CR_CONNECT:
      if (sr != SOCK_INIT) return ignored();
      return m_net->tcp_command(n, cmd);
    case Sn_CR_DISCON:
    case Sn_CR_SEND_KEEP:
      if (sr != SOCK_ESTABLISHED && sr != SOCK_CLOSE_WAIT) return ignored();
      return m_net->tcp_command(n, cmd);
    default:
      m_diag.guest_error(sock_path(n), "unknown command 0x{:02X}; accepted and ignored", cmd);
      return;
  }
}

void w5500::cmd_open(int n) {
  socket& s = m_sock[n];
  if (s.regs[Sn_SR] != SOCK_CLOSED) {
    if (!m_cfg.quirk.open_on_open_socket_reopens) {
      m_diag.guest_error(sock_path(n), "OPEN in {} ignored (quirk open_on_open_socket_reopens off)",
                         socket_state_name(s.regs[Sn_SR]));
      return;
    }
    cmd_close(n, "OPEN on an open socket");
  }
  const std::uint8_t mr = s.regs[Sn_MR];
  std::uint8_t target;
  switch (mr & 0x0F) {
    case Sn_MR_TCP: target = SOCK_INIT; break;
    case Sn_MR_UDP: target = SOCK_UDP; break;
    case Sn_MR_MACRAW:
      if (n != 0) {
        m_diag.guest_error(sock_path(n), "OPEN in MACRAW mode is only possible on socket 0; socket stays CLOSED");
        return;
      }
      target = SOCK_MACRAW;
      break;
    case Sn_MR_CLOSE:
      m_diag.guest_error(sock_path(n), "OPEN with Sn_MR protocol 0 (closed); socket stays CLOSED");
      return;
    case Sn_MR_IPRAW:
      if (!m_cfg.quirk.ipraw_mode) {
        m_diag.unimplemented(sock_path(n), "OPEN in IPRAW mode (undocumented on the W5500; quirk ipraw_mode is "
                                           "off); socket stays CLOSED");
        return;
      }
      target = SOCK_IPRAW;
      break;
    default:
      m_diag.guest_error(sock_path(n), "OPEN with undefined Sn_MR protocol {}; socket stays CLOSED", mr & 0x0F);
      return;
  }
  s.mode = mr;
  s.tx_rd = s.tx_wr = s.tx_wr_host = s.tx_ack = 0;
  s.rx_rd = s.rx_rd_host = s.rx_wr = 0;
  sync_pointers(n);
  set_state(n, target, "OPEN");
  if (target == SOCK_UDP) m_net->udp_opened(n);  // MULTI: IGMP join (spec §6.2)
}

void w5500::cmd_close(int n, const char* why) {
  socket& s = m_sock[n];
  m_net->socket_closing(n);  // MULTI: IGMPv2 leave (spec §6.2)
  m_net->socket_closed(n);
  if (m_cfg.quirk.close_clears_sn_ir && s.regs[Sn_IR]) {
    s.regs[Sn_IR] = 0;
    update_irq();
  }
  set_state(n, SOCK_CLOSED, why);
}

void w5500::set_state(int n, std::uint8_t sr, const char* why) {
  socket& s = m_sock[n];
  const std::uint8_t from = s.regs[Sn_SR];
  if (from == sr) return;
  if (!transition_allowed(from, sr))
    throw std::logic_error(fmt::format("{}.sock{}: model bug: transition {} -> {} ({}) is not allowed",
                                       m_cfg.name, n, socket_state_name(from), socket_state_name(sr), why));
  s.regs[Sn_SR] = sr;
  m_diag.log(log_level::debug, sock_path(n), "{} -> {} ({})", socket_state_name(from), socket_state_name(sr), why);
  if (m_diag.tracing())
    m_diag.trace("state", fmt::format(R"("sock":{},"from":"{}","to":"{}","why":"{}")", n, socket_state_name(from),
                                      socket_state_name(sr), json_escape(why)));
}

// ---- interrupts (DS §4.1 IR/IMR/SIR/SIMR/INTLEVEL, spec §7) --------------------------------------------

void w5500::raise_ir(std::uint8_t bits) {
  bits &= 0xF0;
  if (!bits) return;
  m_common[IR] |= bits;
  if (m_diag.tracing()) m_diag.trace("irq", fmt::format(R"("reg":"IR","bits":{})", bits));
  update_irq();
}

void w5500::raise_sn_ir(int n, std::uint8_t bits) {
  socket& s = m_sock[n];
  bits &= 0x1F;
  if (m_cfg.quirk.sn_imr_gates_sn_ir) bits &= s.regs[Sn_IMR];
  if (!bits) return;
  s.regs[Sn_IR] |= bits;
  if (m_diag.tracing()) m_diag.trace("irq", fmt::format(R"("reg":"Sn_IR","sock":{},"bits":{})", n, bits));
  update_irq();
}

ps_t w5500::holdoff_time() const {
  const std::uint32_t level = static_cast<std::uint32_t>(m_common[INTLEVEL] << 8 | m_common[INTLEVEL + 1]);
  if (level == 0 && m_cfg.quirk.intlevel_zero_no_holdoff) return 0;
  // IAWT = (INTLEVEL + 1) * 4 / 150 MHz = (INTLEVEL + 1) * 80000/3 ps.
  return ((level + 1ull) * 80000ull + 1) / 3;
}

void w5500::interrupt_cleared(bool cleared_something) {
  // DS Figure 21: when the host clears an interrupt, INTn de-asserts even if another source is still
  // pending, and re-asserts only after IAWT. With no hold-off the pin simply stays low.
  if (cleared_something && !m_int_n) {
    const ps_t holdoff = holdoff_time();
    if (holdoff > 0) {
      set_int_pin(true);
      m_holdoff_until = m_sched.now() + holdoff;
    }
  }
  update_irq();
}

void w5500::update_irq() {
  std::uint8_t sir = 0;
  for (int n = 0; n < num_sockets; ++n)
    if (m_sock[n].regs[Sn_IR] & m_sock[n].regs[Sn_IMR] & 0x1F) sir = static_cast<std::uint8_t>(sir | (1u << n));
  m_common[SIR] = sir;
  const bool pending = (m_common[IR] & m_common[IMR] & 0xF0) != 0 || (sir & m_common[SIMR]) != 0;
  if (!pending) {
    m_sched.cancel(m_int_event);
    m_int_event = {};
    if (!m_int_n) {
      set_int_pin(true);
      m_holdoff_until = m_sched.now() + holdoff_time();  // hold-off starts at each de-assertion
    }
    return;
  }
  if (!m_int_n) return;  // already asserted: new sources keep it low, no extra edge
  if (m_sched.now() >= m_holdoff_until) return set_int_pin(false);
  if (!m_int_event)
    m_int_event = m_sched.at(m_holdoff_until, [this] {
      m_int_event = {};
      update_irq();
    });
}

void w5500::set_int_pin(bool level) {
  m_int_n = level;
  if (m_diag.tracing()) m_diag.trace("intn", fmt::format(R"("level":{})", level ? 1 : 0));
  if (m_int_cb) m_int_cb(level);
}

// ---- PHY (PHYCFGR, spec §8) --------------------------------------------------------------------------------

std::uint8_t w5500::phy_mode() const {
  const std::uint8_t v = m_common[PHYCFGR];
  return (v & PHY_OPMD) ? static_cast<std::uint8_t>((v >> 3) & 7) : m_cfg.pmode;
}

namespace {
// Status bits (DPX|SPD|LNK) the PHY settles to in `mode` against the configured partner; 0 = no link.
std::uint8_t negotiate(std::uint8_t mode, const chip_config& c) {
  if (!c.cable_connected || mode == 5 || mode == 6) return 0;
  bool spd100, full;
  if (mode == 7 || mode == 4) {
    if (mode == 4 && !c.partner_100) return 0;  // advertises 100BT-HD only
    spd100 = mode == 4 ? true : c.partner_100;
    full = mode == 7 && c.partner_autoneg && c.partner_full_duplex;  // parallel detection gives half
  } else {
    spd100 = mode >= 2;
    full = (mode & 1) != 0;
    if (spd100 && !c.partner_100) return 0;
    if (!c.partner_autoneg && spd100 != c.partner_100) return 0;
  }
  return static_cast<std::uint8_t>(PHY_LNK | (spd100 ? PHY_SPD : 0) | (full ? PHY_DPX : 0));
}
// Status bits shown while the link is down: the configured speed/duplex (0xBA after reset with no link).
std::uint8_t down_status(std::uint8_t mode) {
  const bool spd = mode == 2 || mode == 3 || mode == 4 || mode == 7;
  const bool dpx = mode == 1 || mode == 3;
  return static_cast<std::uint8_t>((spd ? PHY_SPD : 0) | (dpx ? PHY_DPX : 0));
}
}  // namespace

void w5500::set_phy_status(std::uint8_t status) {
  const std::uint8_t old = m_common[PHYCFGR];
  m_common[PHYCFGR] = static_cast<std::uint8_t>((old & 0xF8) | (status & 0x07));
  if ((old ^ m_common[PHYCFGR]) & PHY_LNK) {
    const bool up = (status & PHY_LNK) != 0;
    m_diag.log(log_level::info, "phy", "link {}{}", up ? "up" : "down",
               up ? fmt::format(" {} Mb/s {} duplex", status & PHY_SPD ? 100 : 10, status & PHY_DPX ? "full" : "half")
                  : std::string());
    if (m_diag.tracing()) m_diag.trace("phy", fmt::format(R"("link":{},"phycfgr":{})", up ? 1 : 0, m_common[PHYCFGR]));
    if (m_net) m_net->link_changed(up);
  }
}

void w5500::phy_link_up() {
  const std::uint8_t st = negotiate(phy_mode(), m_cfg);
  set_phy_status(st ? st : down_status(phy_mode()));
}

void w5500::phy_restart(const char* why) {
  m_sched.cancel(m_phy_event);
  m_phy_event = {};
  if (!(m_common[PHYCFGR] & PHY_RST)) {
    if (m_cfg.quirk.phycfgr_status_zero_in_phy_reset) set_phy_status(0);
    return;
  }
  const std::uint8_t mode = phy_mode();
  set_phy_status(down_status(mode));
  if (!negotiate(mode, m_cfg)) {
    m_diag.log(log_level::info, "phy", "no link possible in mode {} ({})", mode, why);
    return;
  }
  const bool autoneg = mode == 7 || mode == 4;
  m_phy_event = m_sched.after(autoneg ? m_cfg.quirk.autoneg_ps : m_cfg.quirk.forced_link_ps, [this] {
    m_phy_event = {};
    phy_link_up();
  });
}

void w5500::phy_write(std::uint8_t v) {
  const std::uint8_t old = m_common[PHYCFGR];
  m_common[PHYCFGR] = static_cast<std::uint8_t>((v & 0xF8) | (old & 0x07));
  if ((old & PHY_RST) && !(v & PHY_RST)) {
    m_sched.cancel(m_phy_event);
    m_phy_event = {};
    set_phy_status(m_cfg.quirk.phycfgr_status_zero_in_phy_reset ? 0 : static_cast<std::uint8_t>(old & 0x07 & ~PHY_LNK));
    m_diag.log(log_level::info, "phy", "PHYCFGR.RST = 0: PHY held in reset");
  } else if (!(old & PHY_RST) && (v & PHY_RST)) {
    phy_restart("PHYCFGR.RST released");
  }
  // Mode changes with RST left at 1 take effect at the next PHY reset (DS §4.1 procedure).
}

void w5500::set_cable(bool connected) {
  if (connected == m_cfg.cable_connected) return;
  m_cfg.cable_connected = connected;
  if (!connected) {
    m_sched.cancel(m_phy_event);
    m_phy_event = {};
    if (m_common[PHYCFGR] & PHY_RST) set_phy_status(down_status(phy_mode()));
    return;
  }
  if (m_alive) phy_restart("cable connected");
}

}  // namespace wizsim

// ---- Ethernet port ---------------------------------------------------------------------------------------

namespace wizsim {

void w5500::on_transmit(std::function<void(const wire_frame&)> cb) { m_net->on_transmit = std::move(cb); }
void w5500::receive(const std::uint8_t* frame, std::size_t n) { m_net->receive(frame, n); }
std::size_t w5500::tx_queue_depth() const { return m_net->tx_queue_depth(); }
const net_stats& w5500::network_stats() const { return m_net->stats(); }

}  // namespace wizsim
