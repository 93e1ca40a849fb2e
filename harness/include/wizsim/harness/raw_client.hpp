// A raw register-level socket client for the chip: what a minimal driver does, written directly against
// the W5500's registers through SPI frames (no driver/ code). Tests use it to drive the chip's engine
// against the harness's peers; the bridge uses it to talk to real Linux software.
//
// Every call moves virtual time exactly as the SPI traffic it generates would; the waiting calls step
// the scheduler in `poll` increments (as a driver polling with a sleep would) up to a timeout.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "wizsim/host.hpp"
#include "wizsim/packet.hpp"
#include "wizsim/w5500.hpp"

namespace wizsim {

class raw_client {
 public:
  explicit raw_client(w5500& chip, ps_t poll = ms(1));

  // Common registers: SHAR, SIPR, SUBR, GAR.
  void configure(const mac_addr& mac, ip4_addr ip, ip4_addr netmask, ip4_addr gateway);
  void set_ip(ip4_addr ip, ip4_addr netmask, ip4_addr gateway);
  void set_retry(std::uint16_t rtr_100us, std::uint8_t rcr);
  ip4_addr ip() const { return m_ip; }

  // ---- sockets (n = 0..7) ----------------------------------------------------------------------------
  std::uint8_t status(int n);
  bool open_udp(int n, std::uint16_t port, std::uint8_t mr_flags = 0);
  bool open_tcp(int n, std::uint16_t port);
  void close(int n);
  // UDP: SEND to ip:port; false on Sn_IR TIMEOUT (ARP failed), a full buffer or `timeout`.
  bool sendto(int n, ip4_addr ip, std::uint16_t port, const octets& data, ps_t timeout = ms(2000));
  struct datagram {
    ip4_addr ip = 0;
    std::uint16_t port = 0;
    octets data;
  };
  // Waits for one datagram (the 8-byte header parsed), consumes it with RECV.
  std::optional<datagram> recvfrom(int n, ps_t timeout);
  // TCP client: CONNECT and wait for ESTABLISHED (false on timeout/closed).
  bool connect(int n, ip4_addr ip, std::uint16_t port, ps_t timeout = ms(5000));
  // TCP server: LISTEN; accept() waits for ESTABLISHED.
  bool listen(int n);
  bool accept(int n, ps_t timeout);
  // Sends everything (in chunks as TX space frees), waiting for SEND_OK each time.
  bool send(int n, const octets& data, ps_t timeout = ms(5000));
  // Whatever is in the RX buffer now (consumed with RECV), waiting up to `timeout` for at least one byte.
  octets recv(int n, ps_t timeout);
  // Reads until the peer closes (CLOSE_WAIT/CLOSED with an empty buffer) or `timeout`.
  octets recv_all(int n, ps_t timeout);
  // DISCON and wait for CLOSED (then CLOSE if needed).
  void disconnect(int n, ps_t timeout = ms(2000));

  std::uint16_t rx_size(int n);
  std::uint16_t tx_free(int n);
  std::uint8_t interrupts(int n);  // Sn_IR
  void clear_interrupts(int n, std::uint8_t bits);

  // Steps virtual time by `poll` until `pred` holds or `timeout` passes; returns pred().
  template <typename Pred>
  bool wait(Pred pred, ps_t timeout) {
    const ps_t end = m_chip.sched().now() + timeout;
    while (!pred()) {
      if (m_chip.sched().now() >= end) return false;
      m_chip.sched().advance_by(m_poll);
    }
    return true;
  }
  void sleep(ps_t t) { m_chip.sched().advance_by(t); }

  spi_host& spi() { return m_spi; }
  w5500& chip() { return m_chip; }

 private:
  std::uint16_t sock16(int n, std::uint16_t off);
  void set_sock16(int n, std::uint16_t off, std::uint16_t v);
  bool command(int n, std::uint8_t cmd);
  void set_dest(int n, ip4_addr ip, std::uint16_t port);
  // Writes `len` octets at Sn_TX_WR, SEND, waits for SEND_OK (false on TIMEOUT, CLOSED or `timeout`).
  bool push(int n, const std::uint8_t* data, std::size_t len, ps_t timeout);
  octets read_rx(int n, std::size_t len);  // at Sn_RX_RD, advancing it (RECV is the caller's)

  w5500& m_chip;
  spi_host m_spi;
  ps_t m_poll;
  ip4_addr m_ip = 0;
};

}  // namespace wizsim
