// The W5500 chip model: register file built from the register table, 16 KB TX + 16 KB RX buffer RAM,
// socket command layer and state funnel, interrupt logic and the INTn pin, PHY status, and resets.
// The network engine (ARP, IPv4, ICMP, UDP, IGMP, TCP, MACRAW frames) plugs in on top of this core.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "wizsim/config.hpp"
#include "wizsim/diag.hpp"
#include "wizsim/packet.hpp"
#include "wizsim/register_port.hpp"
#include "wizsim/registers.hpp"
#include "wizsim/scheduler.hpp"
#include "wizsim/spi.hpp"

namespace wizsim {

// Sn_SR values (DS §4.2).
enum : std::uint8_t {
  SOCK_CLOSED = 0x00,
  SOCK_INIT = 0x13,
  SOCK_LISTEN = 0x14,
  SOCK_SYNSENT = 0x15,
  SOCK_SYNRECV = 0x16,
  SOCK_ESTABLISHED = 0x17,
  SOCK_FIN_WAIT = 0x18,
  SOCK_CLOSING = 0x1A,
  SOCK_TIME_WAIT = 0x1B,
  SOCK_CLOSE_WAIT = 0x1C,
  SOCK_LAST_ACK = 0x1D,
  SOCK_UDP = 0x22,
  SOCK_IPRAW = 0x32,
  SOCK_MACRAW = 0x42,
};
// Sn_CR commands (DS §4.2).
enum : std::uint8_t {
  Sn_CR_OPEN = 0x01,
  Sn_CR_LISTEN = 0x02,
  Sn_CR_CONNECT = 0x04,
  Sn_CR_DISCON = 0x08,
  Sn_CR_CLOSE = 0x10,
  Sn_CR_SEND = 0x20,
  Sn_CR_SEND_MAC = 0x21,
  Sn_CR_SEND_KEEP = 0x22,
  Sn_CR_RECV = 0x40,
};
// Sn_MR protocol values (low nibble) and Sn_IR bits.
enum : std::uint8_t { Sn_MR_CLOSE = 0x0, Sn_MR_TCP = 0x1, Sn_MR_UDP = 0x2, Sn_MR_IPRAW = 0x3, Sn_MR_MACRAW = 0x4 };
enum : std::uint8_t { Sn_IR_CON = 0x01, Sn_IR_DISCON = 0x02, Sn_IR_RECV = 0x04, Sn_IR_TIMEOUT = 0x08, Sn_IR_SENDOK = 0x10 };
enum : std::uint8_t { IR_MP = 0x10, IR_PPPoE = 0x20, IR_UNREACH = 0x40, IR_CONFLICT = 0x80 };

const char* socket_state_name(std::uint8_t sr);
class net_engine;

struct net_stats {
  std::uint64_t tx_frames = 0;
  std::uint64_t rx_frames = 0;
  std::uint64_t rx_dropped = 0;  // malformed, filtered, bad checksum, no room, link down
};
const char* command_name(std::uint8_t cr);

class w5500 final : public register_port {
 public:
  // Throws std::invalid_argument on bad configuration. The chip starts powered up, settled and idle
  // (registers at reset values, link up if a cable is connected).
  explicit w5500(scheduler& sched, chip_config cfg = {});
  ~w5500() override;
  w5500(const w5500&) = delete;
  w5500& operator=(const w5500&) = delete;

  // ---- SPI pins (byte contract) and the burst call -------------------------------------------------
  void cs(bool level) { m_spi.cs(level); }
  std::uint8_t transfer(std::uint8_t mosi) { return m_spi.transfer(mosi); }
  void frame(const std::uint8_t* mosi, std::uint8_t* miso, std::size_t n) { m_spi.frame(mosi, miso, n); }
  spi_frontend& spi() { return m_spi; }

  // ---- Other pins ----------------------------------------------------------------------------------
  // RSTn level (false = reset asserted). Must stay low >= 500 us; SPI is usable 1 ms after release.
  void set_rstn(bool level);
  bool rstn() const { return m_rstn; }
  // INTn level: false = asserted (active low).
  bool int_n() const { return m_int_n; }
  void on_int_change(std::function<void(bool level)> cb) { m_int_cb = std::move(cb); }

  // ---- Register-access port ------------------------------------------------------------------------
  std::uint8_t read(std::uint8_t bsb, std::uint16_t offset) const override;
  void write(std::uint8_t bsb, std::uint16_t offset, std::uint8_t value) override;
  void read_block(std::uint8_t bsb, std::uint16_t offset, std::uint8_t* out, std::size_t n) const override;
  void write_block(std::uint8_t bsb, std::uint16_t offset, const std::uint8_t* in, std::size_t n) override;
  bool responsive() const override { return m_alive; }
  bool plain_access(std::uint8_t bsb, bool write) const override;
  std::string describe(std::uint8_t bsb, std::uint16_t offset) const override;

  // ---- Ethernet port ---------------------------------------------------------------------------------
  // A frame as it crossed the wire: Ethernet header onward, no preamble, no FCS; `start` and `end` are
  // the virtual times of its first and last bit at the PHY's speed.
  struct wire_frame {
    octets data;
    ps_t start;
    ps_t end;
  };
  // Called when a frame the chip sends has fully left the PHY (at `end`).
  void on_transmit(std::function<void(const wire_frame&)> cb);
  // A frame arriving from the wire now (Ethernet header onward, no FCS).
  void receive(const std::uint8_t* frame, std::size_t n);
  void receive(const octets& frame) { receive(frame.data(), frame.size()); }
  // Frames waiting for or in transmission (a stalled link keeps them here).
  std::size_t tx_queue_depth() const;
  const net_stats& network_stats() const;

  // ---- Chip-side events (network engine, harness, tests) -------------------------------------------
  // Latch common interrupt bits (IR[7:4]) / socket interrupt bits (Sn_IR[4:0]) and update INTn.
  void raise_ir(std::uint8_t bits);
  void raise_sn_ir(int socket, std::uint8_t bits);
  // Plug or unplug the Ethernet cable.
  void set_cable(bool connected);
  bool link_up() const { return (m_common[0x2E] & 1) != 0; }

  // ---- Introspection without side effects ----------------------------------------------------------
  std::uint8_t socket_status(int n) const { return m_sock[n].regs[0x03]; }
  std::uint32_t tx_buffer_size(int n) const { return m_layout_tx[n].size; }
  std::uint32_t rx_buffer_size(int n) const { return m_layout_rx[n].size; }
  std::uint32_t tx_buffer_base(int n) const { return m_layout_tx[n].base; }
  std::uint32_t rx_buffer_base(int n) const { return m_layout_rx[n].base; }

  std::uint16_t tx_rd(int n) const { return m_sock[n].tx_rd; }
  std::uint16_t rx_wr(int n) const { return m_sock[n].rx_wr; }

  const chip_config& config() const { return m_cfg; }
  scheduler& sched() { return m_sched; }
  diag& log() { return m_diag; }
  const diag& log() const { return m_diag; }

 private:
  friend class net_engine;
  struct socket {
    std::array<std::uint8_t, socket_block_size> regs{};  // byte image that reads return
    std::uint8_t mode = 0;           // Sn_MR latched at OPEN
    std::uint8_t cmd_pending = 0;    // accepted-but-not-executed command (0 = none)
    scheduler::event_id cmd_event{};
    std::uint16_t tx_rd = 0, tx_wr = 0, tx_wr_host = 0, tx_ack = 0;
    std::uint16_t rx_rd = 0, rx_rd_host = 0, rx_wr = 0;
  };
  struct region {
    std::uint32_t base = 0;  // may pass 16 KB when sizes are overcommitted (wraps, see quirks)
    std::uint32_t size = 0;  // bytes; 0 = no storage
  };

  void power_on_reset();
  void reset_registers(bool keep_phy);
  void write_common(std::uint16_t off, std::uint8_t v);
  void write_socket(int n, std::uint16_t off, std::uint8_t v);
  void write_latched(int n, const reg_desc& r, std::uint32_t idx, std::uint8_t v);
  void write_buffer_size(int n, bool tx, std::uint8_t v);
  void recompute_layout();
  void sync_pointers(int n);

  void command_written(int n, std::uint8_t cmd);
  void execute_command(int n);
  void cmd_open(int n);
  void cmd_close(int n, const char* why);
  void set_state(int n, std::uint8_t sr, const char* why);

  void soft_reset();
  void update_irq();
  void interrupt_cleared(bool cleared_something);
  void set_int_pin(bool level);
  ps_t holdoff_time() const;

  void phy_write(std::uint8_t v);
  void phy_restart(const char* why);
  void phy_link_up();
  std::uint8_t phy_mode() const;
  void set_phy_status(std::uint8_t status);

  std::uint32_t phys(const region& r, std::uint16_t off) const;
  void cancel_chip_events();

  scheduler& m_sched;
  chip_config m_cfg;
  diag m_diag;
  spi_frontend m_spi;

  std::array<std::uint8_t, common_block_size> m_common{};
  std::array<socket, num_sockets> m_sock{};
  std::unique_ptr<std::uint8_t[]> m_tx_ram;
  std::unique_ptr<std::uint8_t[]> m_rx_ram;
  std::array<region, num_sockets> m_layout_tx{};
  std::array<region, num_sockets> m_layout_rx{};

  bool m_rstn = true;
  bool m_alive = true;  // SPI responsive
  ps_t m_rst_fall = 0;
  scheduler::event_id m_pll_event{};
  scheduler::event_id m_soft_reset_event{};
  scheduler::event_id m_phy_event{};

  bool m_int_n = true;
  ps_t m_holdoff_until = 0;
  scheduler::event_id m_int_event{};
  std::function<void(bool)> m_int_cb;
  std::unique_ptr<net_engine> m_net;  // last: destroyed first, while the chip is still whole
};

}  // namespace wizsim
