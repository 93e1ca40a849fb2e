#include "wizsim/harness/raw_client.hpp"

#include <algorithm>

namespace wizsim {

namespace {
// Common registers (DS §3.1) and socket registers (DS §3.2) this client touches.
constexpr std::uint16_t GAR = 0x01, SUBR = 0x05, SHAR = 0x09, SIPR = 0x0F, RTR = 0x19, RCR = 0x1B;
constexpr std::uint16_t Sn_MR = 0x00, Sn_IR = 0x02, Sn_SR = 0x03, Sn_PORT = 0x04, Sn_DIPR = 0x0C, Sn_DPORT = 0x10,
                        Sn_TX_FSR = 0x20, Sn_TX_WR = 0x24, Sn_RX_RSR = 0x26, Sn_RX_RD = 0x28;
}  // namespace

raw_client::raw_client(w5500& chip, ps_t poll) : m_chip(chip), m_spi(chip), m_poll(poll) {}

void raw_client::configure(const mac_addr& mac, ip4_addr ip, ip4_addr netmask, ip4_addr gateway) {
  m_spi.write(bsb_common(), SHAR, mac.data(), mac.size());
  set_ip(ip, netmask, gateway);
}

void raw_client::set_ip(ip4_addr ip, ip4_addr netmask, ip4_addr gateway) {
  std::uint8_t b[4];
  put32(b, gateway);
  m_spi.write(bsb_common(), GAR, b, 4);
  put32(b, netmask);
  m_spi.write(bsb_common(), SUBR, b, 4);
  put32(b, ip);
  m_spi.write(bsb_common(), SIPR, b, 4);
  m_ip = ip;
}

void raw_client::set_retry(std::uint16_t rtr_100us, std::uint8_t rcr) {
  m_spi.write16(bsb_common(), RTR, rtr_100us);
  m_spi.write8(bsb_common(), RCR, rcr);
}

std::uint16_t raw_client::sock16(int n, std::uint16_t off) {
  // Read until two reads agree, as the datasheet asks for the 16-bit counters.
  std::uint16_t a = m_spi.read16(bsb_socket(n), off);
  for (int i = 0; i < 4; ++i) {
    const std::uint16_t b = m_spi.read16(bsb_socket(n), off);
    if (a == b) break;
    a = b;
  }
  return a;
}
void raw_client::set_sock16(int n, std::uint16_t off, std::uint16_t v) { m_spi.write16(bsb_socket(n), off, v); }
bool raw_client::command(int n, std::uint8_t cmd) { return m_spi.command(n, cmd); }

std::uint8_t raw_client::status(int n) { return m_spi.read8(bsb_socket(n), Sn_SR); }
std::uint16_t raw_client::rx_size(int n) { return sock16(n, Sn_RX_RSR); }
std::uint16_t raw_client::tx_free(int n) { return sock16(n, Sn_TX_FSR); }
std::uint8_t raw_client::interrupts(int n) { return m_spi.read8(bsb_socket(n), Sn_IR); }
void raw_client::clear_interrupts(int n, std::uint8_t bits) { m_spi.write8(bsb_socket(n), Sn_IR, bits); }

bool raw_client::open_udp(int n, std::uint16_t port, std::uint8_t mr_flags) {
  close(n);
  m_spi.write8(bsb_socket(n), Sn_MR, static_cast<std::uint8_t>(Sn_MR_UDP | mr_flags));
  set_sock16(n, Sn_PORT, port);
  if (!command(n, Sn_CR_OPEN)) return false;
  return wait([&] { return status(n) == SOCK_UDP; }, ms(10));
}

bool raw_client::open_tcp(int n, std::uint16_t port) {
  close(n);
  m_spi.write8(bsb_socket(n), Sn_MR, Sn_MR_TCP);
  set_sock16(n, Sn_PORT, port);
  if (!command(n, Sn_CR_OPEN)) return false;
  return wait([&] { return status(n) == SOCK_INIT; }, ms(10));
}

void raw_client::close(int n) {
  command(n, Sn_CR_CLOSE);
  clear_interrupts(n, 0x1F);
}

void raw_client::set_dest(int n, ip4_addr ip, std::uint16_t port) {
  std::uint8_t b[4];
  put32(b, ip);
  m_spi.write(bsb_socket(n), Sn_DIPR, b, 4);
  set_sock16(n, Sn_DPORT, port);
}

bool raw_client::push(int n, const std::uint8_t* data, std::size_t len, ps_t timeout) {
  const std::uint16_t wr = sock16(n, Sn_TX_WR);
  m_spi.write(bsb_tx(n), wr, data, len);
  set_sock16(n, Sn_TX_WR, static_cast<std::uint16_t>(wr + len));
  if (!command(n, Sn_CR_SEND)) return false;
  bool ok = false;
  wait([&] {
    const std::uint8_t ir = interrupts(n);
    if (ir & Sn_IR_SENDOK) {
      ok = true;
      return true;
    }
    if (ir & Sn_IR_TIMEOUT) return true;
    const std::uint8_t sr = status(n);
    return sr == SOCK_CLOSED;
  }, timeout);
  clear_interrupts(n, Sn_IR_SENDOK | Sn_IR_TIMEOUT);
  return ok;
}

bool raw_client::sendto(int n, ip4_addr ip, std::uint16_t port, const octets& data, ps_t timeout) {
  if (data.size() > tx_free(n)) return false;
  set_dest(n, ip, port);
  return push(n, data.data(), data.size(), timeout);
}

octets raw_client::read_rx(int n, std::size_t len) {
  // Sn_RX_RD reads back the committed pointer until RECV: read everything at once, then move it.
  const std::uint16_t rd = sock16(n, Sn_RX_RD);
  octets d(len);
  if (len) m_spi.read(bsb_rx(n), rd, d.data(), len);
  set_sock16(n, Sn_RX_RD, static_cast<std::uint16_t>(rd + len));
  return d;
}

std::optional<raw_client::datagram> raw_client::recvfrom(int n, ps_t timeout) {
  if (!wait([&] { return rx_size(n) >= 8; }, timeout)) return std::nullopt;
  // Header (peer IP, port, length) and data are read at RX_RD and RX_RD + 8, then committed with one RECV.
  const std::uint16_t rd = sock16(n, Sn_RX_RD);
  std::uint8_t hdr[8];
  m_spi.read(bsb_rx(n), rd, hdr, 8);
  datagram d;
  d.ip = get32(hdr);
  d.port = get16(hdr + 4);
  const std::size_t len = std::min<std::size_t>(get16(hdr + 6), rx_size(n) - 8u);
  d.data.resize(len);
  if (len) m_spi.read(bsb_rx(n), static_cast<std::uint16_t>(rd + 8), d.data.data(), len);
  set_sock16(n, Sn_RX_RD, static_cast<std::uint16_t>(rd + 8 + len));
  command(n, Sn_CR_RECV);
  clear_interrupts(n, Sn_IR_RECV);
  return d;
}

bool raw_client::connect(int n, ip4_addr ip, std::uint16_t port, ps_t timeout) {
  if (status(n) != SOCK_INIT) return false;
  set_dest(n, ip, port);
  if (!command(n, Sn_CR_CONNECT)) return false;
  wait([&] {
    const std::uint8_t sr = status(n);
    return sr == SOCK_ESTABLISHED || sr == SOCK_CLOSED || sr == SOCK_CLOSE_WAIT;
  }, timeout);
  clear_interrupts(n, Sn_IR_CON);
  return status(n) == SOCK_ESTABLISHED || status(n) == SOCK_CLOSE_WAIT;
}

bool raw_client::listen(int n) {
  if (status(n) != SOCK_INIT) return false;
  if (!command(n, Sn_CR_LISTEN)) return false;
  return status(n) == SOCK_LISTEN;
}

bool raw_client::accept(int n, ps_t timeout) {
  wait([&] {
    const std::uint8_t sr = status(n);
    return sr == SOCK_ESTABLISHED || sr == SOCK_CLOSE_WAIT || sr == SOCK_CLOSED;
  }, timeout);
  clear_interrupts(n, Sn_IR_CON);
  const std::uint8_t sr = status(n);
  return sr == SOCK_ESTABLISHED || sr == SOCK_CLOSE_WAIT;
}

bool raw_client::send(int n, const octets& data, ps_t timeout) {
  std::size_t done = 0;
  const ps_t end = m_chip.sched().now() + timeout;
  while (done < data.size()) {
    const std::uint8_t sr = status(n);
    if (sr != SOCK_ESTABLISHED && sr != SOCK_CLOSE_WAIT) return false;
    std::uint16_t free = 0;
    if (!wait([&] { return (free = tx_free(n)) > 0; }, end > m_chip.sched().now() ? end - m_chip.sched().now() : 0))
      return false;
    const std::size_t chunk = std::min<std::size_t>(free, data.size() - done);
    const ps_t left = end > m_chip.sched().now() ? end - m_chip.sched().now() : 0;
    if (!push(n, data.data() + done, chunk, left)) return false;
    done += chunk;
  }
  return true;
}

octets raw_client::recv(int n, ps_t timeout) {
  std::uint16_t avail = 0;
  if (!wait([&] { return (avail = rx_size(n)) > 0; }, timeout)) return {};
  octets d = read_rx(n, avail);
  command(n, Sn_CR_RECV);
  clear_interrupts(n, Sn_IR_RECV);
  return d;
}

octets raw_client::recv_all(int n, ps_t timeout) {
  octets all;
  const ps_t end = m_chip.sched().now() + timeout;
  while (m_chip.sched().now() < end) {
    octets part = recv(n, std::min<ps_t>(m_poll, end - m_chip.sched().now()));
    all.insert(all.end(), part.begin(), part.end());
    if (part.empty()) {
      const std::uint8_t sr = status(n);
      if ((sr == SOCK_CLOSE_WAIT || sr == SOCK_CLOSED) && rx_size(n) == 0) break;
    }
  }
  return all;
}

void raw_client::disconnect(int n, ps_t timeout) {
  command(n, Sn_CR_DISCON);
  wait([&] { return status(n) == SOCK_CLOSED; }, timeout);
  if (status(n) != SOCK_CLOSED) close(n);
  clear_interrupts(n, 0x1F);
}

}  // namespace wizsim
