#include "wizsim/spi.hpp"

#include <cstring>

#include "wizsim/registers.hpp"

namespace wizsim {

spi_frontend::spi_frontend(register_port& port, scheduler& sched, const chip_config& cfg, diag& d)
    : m_port(port),
      m_sched(sched),
      m_diag(d),
      m_cfg(cfg),
      m_byte_ps(cfg.byte_time_ps()),
      m_cs_fall_ps(cfg.cs_setup_ps),
      m_cs_rise_ps(cfg.cs_hold_ps + cfg.cs_high_ps) {}

void spi_frontend::reset_decoder() {
  m_phase = phase::addr_hi;
  m_remaining = 0;
  m_data_bytes = 0;
  m_trace_data.clear();
}

void spi_frontend::begin_frame() {
  m_phase = phase::addr_hi;
  m_data_bytes = 0;
  if (m_diag.tracing()) m_trace_data.clear();
}

void spi_frontend::cs(bool level) {
  if (level == !m_selected) return;  // no edge
  if (!level) {
    m_selected = true;
    m_sched.advance_by(m_cs_fall_ps);
    // A falling edge starts a new frame in VDM; in FDM only if the resync quirk says so (spec §2.5).
    if (m_om == 0 || m_cfg.quirk.fdm_resync_on_cs || m_phase != phase::data) begin_frame();
    return;
  }
  m_sched.advance_by(m_cs_rise_ps);
  m_selected = false;
  if (m_phase != phase::data && m_phase != phase::addr_hi) {
    ++m_stats.aborted_frames;
    m_diag.guest_error("spi", "CS rose during the frame header; frame aborted with no effect");
    begin_frame();
    return;
  }
  if (m_phase == phase::data) {
    if (m_om != 0 && m_remaining != 0 && m_cfg.quirk.fdm_resync_on_cs) {
      ++m_stats.aborted_frames;
      m_diag.guest_error("spi", "CS rose {} byte(s) short of a {}-byte FDM frame", m_remaining, 1u << (m_om - 1));
    }
    end_frame(true);
    if (m_om == 0 || m_cfg.quirk.fdm_resync_on_cs) begin_frame();
  }
}

void spi_frontend::end_frame(bool cs_rose) {
  if (m_data_bytes != 0) ++m_stats.frames;
  if (m_diag.tracing()) {
    const block_ref b = decode_bsb(m_bsb);
    static const char* kinds[] = {"common", "socket", "tx", "rx", "reserved"};
    m_diag.trace("spi", fmt::format(R"("addr":{},"bsb":{},"block":"{}","sock":{},"rw":"{}","om":{},"len":{},)"
                                    R"("data":"{}","end":"{}")",
                                    m_start_addr, m_bsb, kinds[static_cast<int>(b.kind)], b.socket,
                                    m_write ? "w" : "r", m_om, m_data_bytes,
                                    hex_bytes(m_trace_data.data(), m_trace_data.size()),
                                    cs_rose ? "cs" : "fdm"));
    m_trace_data.clear();
  }
  m_data_bytes = 0;
}

void spi_frontend::on_control(std::uint8_t c) {
  m_bsb = static_cast<std::uint8_t>(c >> 3);
  m_write = (c & 0x04) != 0;
  m_om = static_cast<std::uint8_t>(c & 0x03);
  m_remaining = m_om == 0 ? 0 : (1u << (m_om - 1));
  m_start_addr = m_addr;
  m_data_bytes = 0;
  m_phase = phase::data;
  if (decode_bsb(m_bsb).kind == block_kind::reserved)
    m_diag.guest_error("spi", "{} of reserved block select 0x{:02X} at 0x{:04X}: reads {}, writes dropped",
                       m_write ? "write" : "read", m_bsb, m_addr,
                       m_cfg.quirk.reserved_read_value);
}

std::uint8_t spi_frontend::transfer(std::uint8_t mosi) {
  if (!m_selected) {
    m_sched.advance_by(m_byte_ps);
    return 0xFF;
  }
  ++m_stats.bytes;
  // MISO is decided at the start of the byte (the chip prefetches on the edge that completed the
  // previous byte); MOSI takes effect when the byte completes.
  std::uint8_t miso;
  const bool alive = m_port.responsive();
  switch (m_phase) {
    case phase::addr_hi: miso = 0x01; break;
    case phase::addr_lo: miso = 0x02; break;
    case phase::control: miso = 0x03; break;
    default: miso = m_write ? m_cfg.quirk.miso_during_write : m_port.read(m_bsb, m_addr); break;
  }
  if (!alive) miso = 0x00;
  m_sched.advance_by(m_byte_ps);
  switch (m_phase) {
    case phase::addr_hi:
      m_addr = static_cast<std::uint16_t>(mosi << 8);
      m_phase = phase::addr_lo;
      break;
    case phase::addr_lo:
      m_addr = static_cast<std::uint16_t>(m_addr | mosi);
      m_phase = phase::control;
      break;
    case phase::control: on_control(mosi); break;
    case phase::data:
      if (m_write) m_port.write(m_bsb, m_addr, mosi);
      if (m_diag.tracing()) {
        m_trace_data.push_back(m_write ? mosi : miso);
        const block_kind k = decode_bsb(m_bsb).kind;
        if (!m_write && (k == block_kind::common || k == block_kind::socket_regs))
          m_diag.trace("reg_read", fmt::format(R"("reg":"{}","value":{})", m_port.describe(m_bsb, m_addr), miso));
      }
      ++m_data_bytes;
      m_addr = static_cast<std::uint16_t>(m_addr + 1);  // 16-bit wrap (spec §2.7)
      if (m_om != 0 && --m_remaining == 0) {
        end_frame(false);
        m_phase = phase::addr_hi;  // FDM: the next byte is the next frame's address
      }
      break;
  }
  return miso;
}

void spi_frontend::frame(const std::uint8_t* mosi, std::uint8_t* miso, std::size_t n) {
  if (m_selected) {
    m_diag.guest_error("spi", "burst frame started while CS was already low; ending the open frame first");
    cs(true);
  }
  // Fast path: a VDM frame whose data phase touches plain memory only (the port says so: buffers with
  // storage, register reads), with no event due before the frame ends and no trace to write. It does
  // exactly what the byte loop would do, in one go.
  if (n > 3 && (mosi[2] & 3) == 0 && !m_diag.tracing()) {
    const std::uint8_t bsb = static_cast<std::uint8_t>(mosi[2] >> 3);
    const bool write = (mosi[2] & 4) != 0;
    const bool plain = m_port.plain_access(bsb, write);
    const ps_t end = m_sched.now() + m_cs_fall_ps + n * m_byte_ps + m_cs_rise_ps;
    // cs(false) would start a fresh frame (it would not if an FDM frame is open and CS edges are
    // ignored in FDM by quirk).
    const bool fresh = m_om == 0 || m_cfg.quirk.fdm_resync_on_cs || m_phase != phase::data;
    if (plain && fresh && m_sched.next_due() > end && m_port.responsive()) {
      const auto addr = static_cast<std::uint16_t>(mosi[0] << 8 | mosi[1]);
      const std::size_t len = n - 3;
      if (write) {
        m_port.write_block(bsb, addr, mosi + 3, len);
        if (miso) std::memset(miso + 3, m_cfg.quirk.miso_during_write, len);
      } else if (miso) {
        m_port.read_block(bsb, addr, miso + 3, len);
      }
      if (miso) {
        miso[0] = 0x01;
        miso[1] = 0x02;
        miso[2] = 0x03;
      }
      m_stats.bytes += n;
      ++m_stats.frames;
      m_bsb = bsb;
      m_write = write;
      m_om = 0;
      m_addr = static_cast<std::uint16_t>(addr + len);
      m_start_addr = addr;
      m_sched.advance_to(end);
      begin_frame();
      return;
    }
  }
  cs(false);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t r = transfer(mosi[i]);
    if (miso) miso[i] = r;
  }
  cs(true);
}

}  // namespace wizsim
