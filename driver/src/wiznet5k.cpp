// WIZNET5K: the W5500 core of the adafruit_wiznet5k port. See wiznet5k.hpp for the API; this file says
// how it drives the chip.
//
// Wire format: every access is one variable-length-data-mode frame (address, control byte, data) between
// select() and deselect(), as the seed does. Where the seed reads or writes a multi-byte *socket*
// register one byte per frame, this driver uses one burst frame: the W5500 auto-increments the address
// inside a frame (DS 2.2.1), so a 16-bit pointer or a 4-byte address costs one 3-byte header instead of
// two or four, which halves the SPI time of every poll loop. Free/received sizes are still read until two
// reads agree (DS 4.2 Sn_TX_FSR / Sn_RX_RSR recommend it: the chip may update them between bytes).
//
// Socket buffers: every socket has 2 KB of TX and 2 KB of RX. A buffer access that crosses the end of the
// 2 KB ring is split into two frames (to the end, then from offset 0) rather than relying on the chip's
// address masking inside a burst: the split is correct on any chip and any buffer layout the driver
// might configure later, costs one header only when the data actually wraps, and keeps the behaviour
// visible in a transcript.
#include "wiznet5k/wiznet5k.hpp"

#include <initializer_list>

#include "wiznet5k/dns.hpp"
#include "wiznet5k/registers.hpp"

namespace wiznet5k {

namespace {

constexpr std::uint8_t hi(std::uint16_t v) { return static_cast<std::uint8_t>(v >> 8); }
constexpr std::uint8_t lo(std::uint16_t v) { return static_cast<std::uint8_t>(v & 0xFF); }
constexpr std::uint16_t be16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }

constexpr mac6 default_mac{0xDE, 0xAD, 0xBE, 0xEF, 0xFE, 0xED};

// Waits and poll intervals (ms unless said otherwise).
constexpr std::uint32_t reset_pulse_ms = 100;     // seed: RSTn low 0.1 s
constexpr std::uint32_t reset_settle_ms = 5000;   // seed: then 5 s
constexpr std::uint32_t power_settle_ms = 1000;   // seed: always 1 s before detection
constexpr std::uint32_t mr_reset_ms = 50;         // seed: 50 ms after MR.RST
constexpr std::uint32_t link_wait_ms = 5000;      // seed: up to 5 s for the link
constexpr std::uint32_t link_poll_ms = 500;
constexpr std::uint32_t command_timeout_ms = 100;  // Sn_CR must clear (Linux and Zephyr use 100 ms too)
constexpr std::uint32_t state_timeout_ms = 100;    // OPEN/LISTEN must show in Sn_SR
constexpr std::uint32_t close_timeout_ms = 5000;   // seed: socket_close gives up after 5 s
constexpr std::uint32_t write_idle_timeout_ms = 60000;  // no TX space freed for this long: give up
constexpr std::uint32_t network_poll_ms = 1;       // seed: time.sleep(0.001) in network waits
constexpr std::uint32_t fast_poll_us = 100;        // SEND_OK, close: short waits
constexpr int stable_read_tries = 8;

constexpr std::uint16_t ephemeral_first = 49152;
constexpr std::uint32_t ephemeral_count = 65536 - ephemeral_first;

bool hex_digit(char c, std::uint8_t& v) {
  if (c >= '0' && c <= '9') {
    v = static_cast<std::uint8_t>(c - '0');
  } else if (c >= 'a' && c <= 'f') {
    v = static_cast<std::uint8_t>(c - 'a' + 10);
  } else if (c >= 'A' && c <= 'F') {
    v = static_cast<std::uint8_t>(c - 'A' + 10);
  } else {
    return false;
  }
  return true;
}

// "DE:AD:BE:EF:FE:ED": six groups of one or two hex digits separated by ':' (the seed's
// int(x, 16) for x in address.split(":"), without Python's tolerance for spaces, signs and "0x").
bool parse_mac(const char* text, mac6& out) {
  if (text == nullptr) return false;
  const char* p = text;
  for (std::size_t i = 0; i < out.size(); ++i) {
    std::uint8_t d = 0, v = 0;
    if (!hex_digit(*p, d)) return false;
    v = d;
    ++p;
    if (hex_digit(*p, d)) {
      v = static_cast<std::uint8_t>(v << 4 | d);
      ++p;
    }
    out[i] = v;
    if (i + 1 < out.size()) {
      if (*p != ':') return false;
      ++p;
    }
  }
  return *p == '\0';
}

// Appends the decimal form of v at out[pos]; returns the new position.
std::size_t put_dec(char* out, std::size_t pos, std::uint8_t v) {
  if (v >= 100) out[pos++] = static_cast<char>('0' + v / 100);
  if (v >= 10) out[pos++] = static_cast<char>('0' + v / 10 % 10);
  out[pos++] = static_cast<char>('0' + v % 10);
  return pos;
}

bool sr_is_one_of(std::uint8_t sr, std::initializer_list<std::uint8_t> set) {
  for (const std::uint8_t s : set)
    if (sr == s) return true;
  return false;
}

}  // namespace

WIZNET5K::WIZNET5K(hal& board) : m_board(&board), m_dhcp(*this, default_mac) {}

// ---- Low level ------------------------------------------------------------------------------------------

void WIZNET5K::frame(std::uint16_t addr, std::uint8_t control, const std::uint8_t* tx, std::uint8_t* rx,
                     std::size_t n) {
  const std::uint8_t header[3] = {hi(addr), lo(addr), control};
  m_board->select();
  m_board->transfer(header, nullptr, sizeof header);
  m_board->transfer(tx, rx, n);
  m_board->deselect();
}

void WIZNET5K::read_common(std::uint16_t addr, std::uint8_t* buf, std::size_t n) {
  frame(addr, reg::control(reg::bsb_common, reg::RWB_READ), nullptr, buf, n);
}

void WIZNET5K::write_common(std::uint16_t addr, const std::uint8_t* buf, std::size_t n) {
  frame(addr, reg::control(reg::bsb_common, reg::RWB_WRITE), buf, nullptr, n);
}

error WIZNET5K::read_socket_register(int sn, std::uint16_t addr, std::uint8_t* buf, std::size_t n) {
  if (sn < 0 || sn >= k_sockets) return fail(errc::value_error, "Socket number out of range.");
  if (buf == nullptr && n > 0) return fail(errc::value_error, "Buffer is null.");
  frame(addr, reg::control(reg::bsb_socket(sn), reg::RWB_READ), nullptr, buf, n);
  return {};
}

error WIZNET5K::write_socket_register(int sn, std::uint16_t addr, const std::uint8_t* buf, std::size_t n) {
  if (sn < 0 || sn >= k_sockets) return fail(errc::value_error, "Socket number out of range.");
  if (buf == nullptr && n > 0) return fail(errc::value_error, "Buffer is null.");
  frame(addr, reg::control(reg::bsb_socket(sn), reg::RWB_WRITE), buf, nullptr, n);
  return {};
}

std::uint8_t WIZNET5K::sn_read8(int sn, std::uint16_t addr) {
  std::uint8_t v = 0;
  frame(addr, reg::control(reg::bsb_socket(sn), reg::RWB_READ), nullptr, &v, 1);
  return v;
}

std::uint16_t WIZNET5K::sn_read16(int sn, std::uint16_t addr) {
  std::uint8_t v[2] = {};
  frame(addr, reg::control(reg::bsb_socket(sn), reg::RWB_READ), nullptr, v, 2);
  return be16(v);
}

// TX_FSR and RX_RSR change while the chip works; read until two reads agree (bounded: a chip that never
// settles gets the last value, which is still a value the register had).
std::uint16_t WIZNET5K::sn_read16_stable(int sn, std::uint16_t addr) {
  std::uint16_t prev = sn_read16(sn, addr);
  for (int i = 0; i < stable_read_tries; ++i) {
    const std::uint16_t now = sn_read16(sn, addr);
    if (now == prev) return now;
    prev = now;
  }
  return prev;
}

void WIZNET5K::sn_write8(int sn, std::uint16_t addr, std::uint8_t v) {
  frame(addr, reg::control(reg::bsb_socket(sn), reg::RWB_WRITE), &v, nullptr, 1);
}

void WIZNET5K::sn_write16(int sn, std::uint16_t addr, std::uint16_t v) {
  const std::uint8_t b[2] = {hi(v), lo(v)};
  frame(addr, reg::control(reg::bsb_socket(sn), reg::RWB_WRITE), b, nullptr, 2);
}

// Writes Sn_CR and waits until the chip has taken the command (Sn_CR reads 0 again). The seed spins
// without limit; a chip that never clears it is reported instead of hanging.
error WIZNET5K::sn_command(int sn, std::uint8_t cmd) {
  sn_write8(sn, reg::Sn_CR, cmd);
  const std::uint64_t start = m_board->millis();
  while (sn_read8(sn, reg::Sn_CR) != 0) {
    if (m_board->millis() - start > command_timeout_ms)
      return fail(errc::runtime_error, "The chip did not accept the socket command.");
  }
  return {};
}

void WIZNET5K::read_rx(int sn, std::uint16_t ptr, std::uint8_t* buf, std::size_t n) {
  const std::uint16_t offset = ptr & reg::BUF_MASK;
  const std::size_t room = static_cast<std::size_t>(reg::BUF_SIZE - offset);
  const std::size_t first = n < room ? n : room;
  const std::uint8_t ctrl = reg::control(reg::bsb_rx(sn), reg::RWB_READ);
  frame(offset, ctrl, nullptr, buf, first);
  if (first < n) frame(0, ctrl, nullptr, buf + first, n - first);
}

void WIZNET5K::write_tx(int sn, std::uint16_t ptr, const std::uint8_t* buf, std::size_t n) {
  const std::uint16_t offset = ptr & reg::BUF_MASK;
  const std::size_t room = static_cast<std::size_t>(reg::BUF_SIZE - offset);
  const std::size_t first = n < room ? n : room;
  const std::uint8_t ctrl = reg::control(reg::bsb_tx(sn), reg::RWB_WRITE);
  frame(offset, ctrl, buf, nullptr, first);
  if (first < n) frame(0, ctrl, buf + first, nullptr, n - first);
}

error WIZNET5K::check_sn(int sn) const {
  if (sn < 0 || sn >= k_sockets) return fail(errc::value_error, "Socket number out of range.");
  if (m_chip[0] == '\0') return fail(errc::runtime_error, "WIZnet chip not initialised: call begin().");
  return {};
}

error WIZNET5K::check_link() {
  std::uint8_t phy = 0;
  read_common(reg::PHYCFGR, &phy, 1);
  if ((phy & reg::PHYCFGR_LNK) == 0) return fail(errc::connection_error, "The Ethernet connection is down.");
  return {};
}

// The W5500's TCP retransmission timeout from RTR/RCR (DS 4.1 RCR): the wait doubles from RTR until
// it would exceed 65535 (x 100 us), then stays there, for RCR + 1 transmissions in all.
std::uint32_t WIZNET5K::tcp_timeout_ms() {
  std::uint8_t b[3] = {};
  read_common(reg::RTR, b, 3);  // RTR (2) and RCR (1) are adjacent
  std::uint32_t rtr = be16(b);
  if (rtr == 0) rtr = 1;
  const std::uint32_t rcr = b[2];
  std::uint64_t total = 0;
  std::uint32_t wait = rtr;
  for (std::uint32_t i = 0; i <= rcr; ++i) {
    total += wait;
    if (wait * 2 <= 0xFFFF) wait *= 2;
  }
  return static_cast<std::uint32_t>(total / 10 + 1);
}

std::uint16_t WIZNET5K::next_local_port() {
  // A random port in 49152..65535 that no other socket of ours uses (the seed's _src_ports_in_use),
  // with a bounded number of draws: 16 draws colliding with at most 7 ports is vanishingly unlikely.
  std::uint16_t port = 0;
  for (int tries = 0; tries < 16; ++tries) {
    port = static_cast<std::uint16_t>(ephemeral_first + m_board->random32() % ephemeral_count);
    bool used = false;
    for (const std::uint16_t p : m_ports_in_use) used = used || p == port;
    if (!used) break;
  }
  return port;
}

// ---- Initialisation ------------------------------------------------------------------------------------

error WIZNET5K::begin(bool is_dhcp, const char* mac, const char* hostname, bool debug) {
  mac6 bytes{};
  if (!parse_mac(mac, bytes)) return fail(errc::value_error, "Invalid MAC address.");
  return begin(is_dhcp, bytes, hostname, debug);
}

error WIZNET5K::begin(bool is_dhcp, const mac6& mac, const char* hostname, bool debug) {
  m_debug = debug;
  m_chip = "";
  m_dhcp_active = false;
  if (m_board->has_reset()) {
    m_board->set_reset(false);
    m_board->sleep_ms(reset_pulse_ms);
    m_board->set_reset(true);
    m_board->sleep_ms(reset_settle_ms);
  }
  m_board->sleep_ms(power_settle_ms);
  if (auto e = detect()) return e;

  write_common(reg::SHAR, mac.data(), mac.size());
  src_port = 0;
  m_dns = ip4{};
  for (int i = 0; i < k_sockets; ++i) {
    udp_from_ip[i] = ip4{};
    udp_from_port[i] = 0;
    m_sockets_reserved[i] = false;
    m_ports_in_use[i] = 0;
    m_send_pending[i] = false;
    m_accept_next[i] = -1;
  }

  wait_for_link();
  if (is_dhcp) return set_dhcp(hostname);
  return {};
}

// Gives the link time to come up (PHY auto-negotiation) before DHCP or sockets. As the seed, a link still
// down after 5 s is not an error here: every socket call checks it.
void WIZNET5K::wait_for_link() {
  const std::uint64_t start = m_board->millis();
  while (m_board->millis() - start < link_wait_ms) {
    auto up = link_status();
    if (up.ok() && up.value) break;
    m_board->sleep_ms(link_poll_ms);
  }
}

// The seed's detection order (5.2.1 _wiznet_chip_init): W5100S, W5500, W6100. The W5100S probe is in
// the W5100S's own frame format; a W5500 decodes those frames as harmless reads of unmapped common
// addresses (0xF000 and 0x0F00, which read 0). Unlike the seed, a W5100S or W6100 is refused by name:
// this port implements the W5500 register map only.
error WIZNET5K::detect() {
  {
    const std::uint8_t reset[4] = {reg::W5100S_OP_WRITE, hi(reg::W5100S_MR), lo(reg::W5100S_MR), reg::MR_RST};
    m_board->select();
    m_board->transfer(reset, nullptr, sizeof reset);
    m_board->deselect();
    m_board->sleep_ms(mr_reset_ms);
    const std::uint8_t read_mr[4] = {reg::W5100S_OP_READ, hi(reg::W5100S_MR), lo(reg::W5100S_MR), 0};
    std::uint8_t rx[4] = {};
    m_board->select();
    m_board->transfer(read_mr, rx, sizeof read_mr);
    m_board->deselect();
    if (rx[3] == reg::W5100S_MR_AFTER_RESET) {
      const std::uint8_t read_ver[4] = {reg::W5100S_OP_READ, hi(reg::W5100S_VERSIONR), lo(reg::W5100S_VERSIONR),
                                        0};
      m_board->select();
      m_board->transfer(read_ver, rx, sizeof read_ver);
      m_board->deselect();
      if (rx[3] == reg::W5100S_VERSION)
        return fail(errc::runtime_error, "WIZnet W5100S detected: this driver supports the W5500 only.");
    }
  }
  if (probe_w5500()) {
    m_chip = "w5500";
    return setup_sockets();
  }
  std::uint8_t cidr = 0;
  read_common(reg::W6100_CIDR, &cidr, 1);
  if (cidr == reg::W6100_ID)
    return fail(errc::runtime_error, "WIZnet W6100 detected: this driver supports the W5500 only.");
  return fail(errc::runtime_error, "Failed to initialize WIZnet module.");
}

// The seed's W5500 probe: MR.RST, 50 ms, MR reads 0; MR bits 3 and 4 read back what was written; then
// VERSIONR is 0x04.
bool WIZNET5K::probe_w5500() {
  std::uint8_t v = reg::MR_RST;
  write_common(reg::MR, &v, 1);
  m_board->sleep_ms(mr_reset_ms);
  read_common(reg::MR, &v, 1);
  if (v != 0x00) return false;
  for (const std::uint8_t pattern : {std::uint8_t{0x08}, std::uint8_t{0x10}, std::uint8_t{0x00}}) {
    write_common(reg::MR, &pattern, 1);
    read_common(reg::MR, &v, 1);
    if (v != pattern) return false;
  }
  read_common(reg::VERSIONR, &v, 1);
  return v == reg::VERSION_W5500;
}

// 2 KB RX and TX for each of the 8 sockets (the seed writes 2 to Sn_RXBUF_SIZE and Sn_TXBUF_SIZE; the two
// registers are adjacent, so one 2-byte frame per socket).
error WIZNET5K::setup_sockets() {
  const std::uint8_t sizes[2] = {reg::BUF_SIZE_KB, reg::BUF_SIZE_KB};
  for (int sn = 0; sn < k_sockets; ++sn)
    frame(reg::Sn_RXBUF_SIZE, reg::control(reg::bsb_socket(sn), reg::RWB_WRITE), sizes, nullptr, 2);
  return {};
}

const char* WIZNET5K::chip() const { return m_chip; }

int WIZNET5K::max_sockets() const { return k_sockets; }

hal& WIZNET5K::board() { return *m_board; }

bool WIZNET5K::debug() const { return m_debug; }

DHCP& WIZNET5K::dhcp_client() { return m_dhcp; }

error WIZNET5K::sw_reset() {
  if (m_chip[0] == '\0') return fail(errc::runtime_error, "WIZnet chip not initialised: call begin().");
  // GAR, SUBR, SHAR and SIPR are contiguous (0x0001..0x0012), RTR and RCR too (0x0019..0x001B).
  std::uint8_t net[18] = {}, retry[3] = {};
  read_common(reg::GAR, net, sizeof net);
  read_common(reg::RTR, retry, sizeof retry);
  if (!probe_w5500()) {
    m_chip = "";
    return fail(errc::runtime_error, "WIZnet chip reset failed.");
  }
  if (auto e = setup_sockets()) return e;
  write_common(reg::GAR, net, sizeof net);
  write_common(reg::RTR, retry, sizeof retry);
  for (std::uint16_t& p : m_ports_in_use) p = 0;
  for (bool& p : m_send_pending) p = false;
  for (std::int8_t& a : m_accept_next) a = -1;
  // MR.RST may restart the PHY (it does on the model, and the datasheet does not say it does not): wait
  // for the link as begin() does, so the interface is usable when sw_reset() returns. The seed's
  // sw_reset() did not, and sockets opened right after it failed with the link still negotiating.
  wait_for_link();
  return {};
}

// ---- Interface configuration ---------------------------------------------------------------------------

result<mac6> WIZNET5K::mac_address() {
  mac6 mac{};
  read_common(reg::SHAR, mac.data(), mac.size());
  return mac;
}

error WIZNET5K::set_mac_address(const mac6& mac) {
  write_common(reg::SHAR, mac.data(), mac.size());
  return {};
}

error WIZNET5K::set_mac_address(const char* mac) {
  mac6 bytes{};
  if (!parse_mac(mac, bytes)) return fail(errc::value_error, "Invalid MAC address.");
  return set_mac_address(bytes);
}

result<ip4> WIZNET5K::ip_address() {
  ip4 ip{};
  read_common(reg::SIPR, ip.data(), ip.size());
  return ip;
}

result<WIZNET5K::ifconfig_t> WIZNET5K::ifconfig() {
  ifconfig_t c{};
  read_common(reg::SIPR, c.ip.data(), c.ip.size());
  read_common(reg::SUBR, c.subnet.data(), c.subnet.size());
  read_common(reg::GAR, c.gateway.data(), c.gateway.size());
  c.dns = m_dns;
  return c;
}

error WIZNET5K::set_ifconfig(const ifconfig_t& config) {
  write_common(reg::SIPR, config.ip.data(), config.ip.size());
  write_common(reg::SUBR, config.subnet.data(), config.subnet.size());
  write_common(reg::GAR, config.gateway.data(), config.gateway.size());
  m_dns = config.dns;
  return {};
}

result<bool> WIZNET5K::link_status() {
  std::uint8_t phy = 0;
  read_common(reg::PHYCFGR, &phy, 1);
  return (phy & reg::PHYCFGR_LNK) != 0;
}

result<std::uint16_t> WIZNET5K::rtr() {
  std::uint8_t b[2] = {};
  read_common(reg::RTR, b, 2);
  return be16(b);
}

error WIZNET5K::set_rtr(std::uint16_t retry_time) {
  const std::uint8_t b[2] = {hi(retry_time), lo(retry_time)};
  write_common(reg::RTR, b, 2);
  return {};
}

result<std::uint8_t> WIZNET5K::rcr() {
  std::uint8_t v = 0;
  read_common(reg::RCR, &v, 1);
  return v;
}

error WIZNET5K::set_rcr(std::uint8_t retry_count) {
  write_common(reg::RCR, &retry_count, 1);
  return {};
}

void WIZNET5K::pretty_ip(const ip4& ip, char out[16]) {
  std::size_t pos = 0;
  for (std::size_t i = 0; i < ip.size(); ++i) {
    if (i > 0) out[pos++] = '.';
    pos = put_dec(out, pos, ip[i]);
  }
  out[pos] = '\0';
}

void WIZNET5K::pretty_mac(const mac6& mac, char out[18]) {
  constexpr char digits[] = "0123456789abcdef";
  std::size_t pos = 0;
  for (std::size_t i = 0; i < mac.size(); ++i) {
    if (i > 0) out[pos++] = ':';
    out[pos++] = digits[mac[i] >> 4];
    out[pos++] = digits[mac[i] & 0x0F];
  }
  out[pos] = '\0';
}

// Four decimal numbers 0..255 of one to three digits separated by single dots, nothing else (the seed's
// bytes(int(x) for x in text.split(".")) with a length check, minus Python's tolerance for spaces/signs).
result<ip4> WIZNET5K::unpretty_ip(const char* text) {
  if (text == nullptr) return fail(errc::value_error, "Invalid IP or MAC address.");
  ip4 ip{};
  const char* p = text;
  for (std::size_t i = 0; i < ip.size(); ++i) {
    unsigned v = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
      v = v * 10 + static_cast<unsigned>(*p - '0');
      ++p;
      if (++digits > 3) return fail(errc::value_error, "Invalid IP or MAC address.");
    }
    if (digits == 0 || v > 255) return fail(errc::value_error, "Invalid IP or MAC address.");
    ip[i] = static_cast<std::uint8_t>(v);
    if (i + 1 < ip.size()) {
      if (*p != '.') return fail(errc::value_error, "Invalid IP or MAC address.");
      ++p;
    }
  }
  if (*p != '\0') return fail(errc::value_error, "Invalid IP or MAC address.");
  return ip;
}

// ---- DHCP and DNS --------------------------------------------------------------------------------------

error WIZNET5K::set_dhcp(const char* hostname) {
  if (m_chip[0] == '\0') return fail(errc::runtime_error, "WIZnet chip not initialised: call begin().");
  auto mac = mac_address();
  if (!mac.ok()) return mac.err;
  m_dhcp.configure(mac.value, hostname, m_debug);
  m_dhcp_active = false;
  if (auto e = m_dhcp.request_dhcp_lease()) return e;
  m_dhcp_active = true;
  return {};
}

error WIZNET5K::maintain_dhcp_lease() {
  if (!m_dhcp_active) return {};
  return m_dhcp.maintain_dhcp_lease(false);
}

result<ip4> WIZNET5K::get_host_by_name(const char* hostname) {
  if (hostname == nullptr) return fail(errc::value_error, "Hostname is null.");
  DNS dns(*this, m_dns, m_debug);
  return dns.gethostbyname(hostname);
}

// ---- Socket allocation ---------------------------------------------------------------------------------

result<int> WIZNET5K::get_socket(bool reserve_socket) {
  if (m_chip[0] == '\0') return fail(errc::runtime_error, "WIZnet chip not initialised: call begin().");
  // Socket 0 is never reserved: it stays available to DHCP and DNS (and is the only MACRAW-capable one).
  if (!reserve_socket && sn_read8(0, reg::Sn_SR) == reg::SR_CLOSED) return 0;
  for (int sn = 1; sn < k_sockets; ++sn) {
    if (!m_sockets_reserved[sn] && sn_read8(sn, reg::Sn_SR) == reg::SR_CLOSED) {
      if (reserve_socket) m_sockets_reserved[sn] = true;
      return sn;
    }
  }
  return fail(errc::runtime_error, "All sockets in use.");
}

error WIZNET5K::release_socket(int sn) {
  if (sn < 0 || sn >= k_sockets) return fail(errc::value_error, "Socket number out of range.");
  m_sockets_reserved[sn] = false;  // the seed's list[sn - 1] would have freed socket 7 for sn 0
  return {};
}

// ---- Socket registers ----------------------------------------------------------------------------------

result<std::uint8_t> WIZNET5K::read_snir(int sn) {
  if (auto e = check_sn(sn)) return e;
  return sn_read8(sn, reg::Sn_IR);
}

error WIZNET5K::write_snir(int sn, std::uint8_t value) {
  if (auto e = check_sn(sn)) return e;
  sn_write8(sn, reg::Sn_IR, value);
  return {};
}

result<ip4> WIZNET5K::remote_ip(int sn) {
  if (auto e = check_sn(sn)) return e;
  ip4 ip{};
  frame(reg::Sn_DIPR, reg::control(reg::bsb_socket(sn), reg::RWB_READ), nullptr, ip.data(), ip.size());
  return ip;
}

result<std::uint16_t> WIZNET5K::remote_port(int sn) {
  if (auto e = check_sn(sn)) return e;
  return sn_read16(sn, reg::Sn_DPORT);
}

result<std::uint8_t> WIZNET5K::socket_status(int sn) {
  if (auto e = check_sn(sn)) return e;
  return sn_read8(sn, reg::Sn_SR);
}

// ---- Socket lifecycle ----------------------------------------------------------------------------------

error WIZNET5K::socket_open(int sn, std::uint8_t conn_mode) {
  if (auto e = check_sn(sn)) return e;
  const std::uint8_t protocol = conn_mode & 0x0F;
  if (protocol != reg::Sn_MR_TCP && protocol != reg::Sn_MR_UDP) {
    src_port = 0;
    return fail(errc::value_error, "conn_mode must be SNMR_TCP or SNMR_UDP.");
  }
  if (auto e = check_link()) {
    src_port = 0;
    return e;
  }
  const std::uint8_t sr = sn_read8(sn, reg::Sn_SR);
  if (!sr_is_one_of(sr, {reg::SR_CLOSED, reg::SR_TIME_WAIT, reg::SR_FIN_WAIT, reg::SR_CLOSE_WAIT,
                         reg::SR_CLOSING, reg::SR_UDP})) {
    src_port = 0;
    return fail(errc::connection_error, "Failed to initialize a connection with the socket.");
  }
  m_board->sleep_us(250);  // seed: time.sleep(0.00025) before programming the socket

  sn_write8(sn, reg::Sn_MR, conn_mode);
  sn_write8(sn, reg::Sn_IR, 0xFF);
  m_send_pending[sn] = false;
  m_accept_next[sn] = -1;
  const std::uint16_t port = src_port != 0 ? src_port : next_local_port();
  src_port = 0;  // one-shot: a later socket does not silently reuse a fixed port (68, a bound port)
  sn_write16(sn, reg::Sn_PORT, port);
  m_ports_in_use[sn] = port;
  if (auto e = sn_command(sn, reg::CMD_OPEN)) return e;

  // The seed reads Sn_SR once; a chip may take a moment to show the new state, so poll briefly.
  const std::uint64_t start = m_board->millis();
  for (;;) {
    const std::uint8_t now = sn_read8(sn, reg::Sn_SR);
    if (now == reg::SR_INIT || now == reg::SR_UDP) return {};
    if (m_board->millis() - start > state_timeout_ms)
      return fail(errc::runtime_error, "Could not open socket in TCP or UDP mode.");
  }
}

error WIZNET5K::socket_connect(int sn, const ip4& dest, std::uint16_t port, std::uint8_t conn_mode) {
  if (auto e = check_sn(sn)) return e;
  if (port == 0) {
    src_port = 0;
    return fail(errc::value_error, "Port 0 is not a valid destination.");
  }
  if (auto e = socket_open(sn, conn_mode)) return e;
  frame(reg::Sn_DIPR, reg::control(reg::bsb_socket(sn), reg::RWB_WRITE), dest.data(), nullptr, dest.size());
  sn_write16(sn, reg::Sn_DPORT, port);
  // UDP: the destination registers are all a "connected" UDP socket needs. The seed also issues CONNECT,
  // which the chip ignores on a UDP socket.
  if ((conn_mode & 0x0F) != reg::Sn_MR_TCP) return {};

  if (auto e = sn_command(sn, reg::CMD_CONNECT)) return e;
  // The chip itself gives up after its TCP timeout (RTR/RCR) and closes the socket; the driver's own
  // bound only catches a chip that never does.
  const std::uint64_t start = m_board->millis();
  std::uint64_t limit = 0;  // read from RTR/RCR only if the first poll does not settle it
  for (;;) {
    const std::uint8_t sr = sn_read8(sn, reg::Sn_SR);
    // CLOSE_WAIT: the peer accepted, possibly sent data, and already finished; still a connection.
    if (sr == reg::SR_ESTABLISHED || sr == reg::SR_CLOSE_WAIT) return {};
    if (sr == reg::SR_CLOSED) {
      const std::uint8_t ir = sn_read8(sn, reg::Sn_IR);
      if (ir & reg::IR_TIMEOUT) {
        sn_write8(sn, reg::Sn_IR, reg::IR_TIMEOUT);
        return fail(errc::timeout_error, "Connection timed out.");
      }
      return fail(errc::connection_error, "Connection refused.");
    }
    if (limit == 0) limit = tcp_timeout_ms() + 1000;
    if (m_board->millis() - start > limit) {
      (void)sn_command(sn, reg::CMD_CLOSE);  // best effort: the timeout is what we report
      return fail(errc::timeout_error, "Connection timed out.");
    }
    m_board->sleep_ms(network_poll_ms);
  }
}

error WIZNET5K::socket_listen(int sn, std::uint16_t port, std::uint8_t conn_mode) {
  if (auto e = check_sn(sn)) return e;
  if (port == 0) return fail(errc::value_error, "Port 0 cannot be listened on.");
  src_port = port;
  if (auto e = socket_open(sn, conn_mode)) return e;
  // UDP: bound by the OPEN above. The seed also issues LISTEN, which the chip ignores on a UDP socket.
  if ((conn_mode & 0x0F) != reg::Sn_MR_TCP) return {};
  if (auto e = sn_command(sn, reg::CMD_LISTEN)) return e;
  const std::uint64_t start = m_board->millis();
  for (;;) {
    const std::uint8_t sr = sn_read8(sn, reg::Sn_SR);
    if (sr == reg::SR_LISTEN || sr == reg::SR_SYNRECV || sr == reg::SR_ESTABLISHED) return {};
    if (sr == reg::SR_CLOSED) return fail(errc::runtime_error, "Listening socket closed.");
    if (m_board->millis() - start > state_timeout_ms)
      return fail(errc::runtime_error, "Listening socket closed.");
  }
}

// 5.2.1 returned at once, whatever the state, with the (still zero) peer address; here a connection is
// only reported once it is established and the chip shows the peer (PR #178).
result<WIZNET5K::accept_t> WIZNET5K::socket_accept(int sn) {
  if (auto e = check_sn(sn)) return e;
  const std::uint8_t sr = sn_read8(sn, reg::Sn_SR);
  if (sr == reg::SR_LISTEN || sr == reg::SR_SYNRECV) return fail(errc::would_block, "No connection yet.");
  if (sr != reg::SR_ESTABLISHED && sr != reg::SR_CLOSE_WAIT)
    return fail(errc::connection_error, "Listening socket closed.");
  accept_t a{};
  a.ip = *remote_ip(sn);
  a.port = *remote_port(sn);
  if ((a.ip[0] | a.ip[1] | a.ip[2] | a.ip[3]) == 0 || a.port == 0)
    return fail(errc::would_block, "No connection yet.");
  // Asked again about the same connection (a poll that checks, then takes), the answer is the same
  // socket: one reservation per connection, not one per call.
  if (m_accept_next[sn] < 0) {
    auto next = get_socket(true);
    m_accept_next[sn] = static_cast<std::int8_t>(next.ok() ? next.value : -1);
  }
  a.next_listener = m_accept_next[sn];
  return a;
}

error WIZNET5K::socket_disconnect(int sn) {
  if (auto e = check_sn(sn)) return e;
  // Just DISCON (TCP FIN), as the seed's socket_disconnect. The seed's socket.close() then waited for
  // Sn_IR.DISCON after clearing it with 0xFF, which hangs when the peer's FIN came first (#89/#150);
  // nothing here waits on a flag.
  return sn_command(sn, reg::CMD_DISCON);
}

error WIZNET5K::socket_close(int sn) {
  if (auto e = check_sn(sn)) return e;
  if (auto e = sn_command(sn, reg::CMD_CLOSE)) return e;
  m_ports_in_use[sn] = 0;
  m_send_pending[sn] = false;
  m_accept_next[sn] = -1;
  const std::uint64_t start = m_board->millis();
  while (sn_read8(sn, reg::Sn_SR) != reg::SR_CLOSED) {
    if (m_board->millis() - start > close_timeout_ms)
      return fail(errc::runtime_error, "Wiznet5k failed to close socket.");
    m_board->sleep_us(fast_poll_us);
  }
  return {};
}

// ---- Data ----------------------------------------------------------------------------------------------

result<std::size_t> WIZNET5K::socket_available(int sn, std::uint8_t sock_type) {
  if (auto e = check_sn(sn)) return e;
  std::size_t n = sn_read16_stable(sn, reg::Sn_RX_RSR);
  // The seed compared Sn_SR with SNMR_UDP (0x02) here, which never matches UDP (0x22), so its UDP count
  // kept the 8-byte header.
  const bool udp = (sock_type & 0x0F) == reg::Sn_MR_UDP || sn_read8(sn, reg::Sn_SR) == reg::SR_UDP;
  if (udp) n = n > reg::UDP_HEADER ? n - reg::UDP_HEADER : 0;
  return n;
}

result<std::size_t> WIZNET5K::socket_read(int sn, std::uint8_t* buf, std::size_t length) {
  if (auto e = check_sn(sn)) return e;
  if (buf == nullptr && length > 0) return fail(errc::value_error, "Buffer is null.");
  if (auto e = check_link()) return e;
  const std::size_t waiting = sn_read16_stable(sn, reg::Sn_RX_RSR);
  if (waiting == 0) {
    // Nothing to read: is more coming? The seed compared Sn_MR (the mode) with these status codes, so it
    // never noticed a closed connection; Sn_SR is the register that holds them. After the peer's FIN
    // (CLOSE_WAIT) or with the connection gone, nothing more will arrive.
    const std::uint8_t sr = sn_read8(sn, reg::Sn_SR);
    if (sr_is_one_of(sr, {reg::SR_LISTEN, reg::SR_CLOSED, reg::SR_CLOSE_WAIT, reg::SR_TIME_WAIT,
                          reg::SR_LAST_ACK, reg::SR_CLOSING}))
      return fail(errc::connection_error, "Lost connection to peer.");
    return std::size_t{0};
  }
  const std::size_t n = waiting < length ? waiting : length;
  if (n == 0) return std::size_t{0};
  const std::uint16_t ptr = sn_read16(sn, reg::Sn_RX_RD);
  read_rx(sn, ptr, buf, n);
  sn_write16(sn, reg::Sn_RX_RD, static_cast<std::uint16_t>(ptr + n));
  if (auto e = sn_command(sn, reg::CMD_RECV)) return e;
  return n;
}

// One datagram per call: header, payload (what fits), the rest skipped, then one RECV for the whole
// record (the seed RECVs after the header, the payload and the discarded rest separately).
result<std::size_t> WIZNET5K::read_udp(int sn, std::uint8_t* buf, std::size_t length) {
  if (auto e = check_sn(sn)) return e;
  if (buf == nullptr && length > 0) return fail(errc::value_error, "Buffer is null.");
  if (auto e = check_link()) return e;
  const std::size_t waiting = sn_read16_stable(sn, reg::Sn_RX_RSR);
  if (waiting == 0) return std::size_t{0};
  if (waiting < reg::UDP_HEADER) return fail(errc::value_error, "Invalid UDP header.");
  const std::uint16_t ptr = sn_read16(sn, reg::Sn_RX_RD);
  std::uint8_t header[reg::UDP_HEADER] = {};
  read_rx(sn, ptr, header, sizeof header);
  udp_from_ip[sn] = ip4{header[0], header[1], header[2], header[3]};
  udp_from_port[sn] = be16(header + 4);
  std::size_t size = be16(header + 6);
  // A record never extends past what the chip says it received; clamp a corrupt length to that.
  if (size > waiting - reg::UDP_HEADER) size = waiting - reg::UDP_HEADER;
  const std::size_t n = size < length ? size : length;
  if (n > 0) read_rx(sn, static_cast<std::uint16_t>(ptr + reg::UDP_HEADER), buf, n);
  sn_write16(sn, reg::Sn_RX_RD, static_cast<std::uint16_t>(ptr + reg::UDP_HEADER + size));
  if (auto e = sn_command(sn, reg::CMD_RECV)) return e;
  return n;
}

// Waits for the SEND_OK of the SEND in flight on sn, from `since` (the caller's timeout counts from the
// start of its call) and at most the chip's own TCP timeout from now.
WIZNET5K::send_wait WIZNET5K::wait_send_ok(int sn, std::uint64_t since, std::uint32_t timeout_ms) {
  const std::uint64_t waiting_from = m_board->millis();
  std::uint64_t limit = 0;  // read from RTR/RCR only if the first poll does not settle it
  for (;;) {
    const std::uint8_t ir = sn_read8(sn, reg::Sn_IR);
    if (ir & reg::IR_SEND_OK) {
      sn_write8(sn, reg::Sn_IR, reg::IR_SEND_OK);
      m_send_pending[sn] = false;
      return send_wait::done;
    }
    if (ir & reg::IR_TIMEOUT) {
      sn_write8(sn, reg::Sn_IR, reg::IR_TIMEOUT);
      // UDP sockets stay open after an ARP timeout: the datagram is dropped. A TCP socket is closed by the
      // chip, which the state check below reports.
      if ((sn_read8(sn, reg::Sn_MR) & 0x0F) == reg::Sn_MR_UDP) {
        m_send_pending[sn] = false;
        return send_wait::udp_timeout;
      }
    }
    // The seed also gave up in CLOSE_WAIT, but a peer that finished sending still receives: the data
    // goes out and SEND_OK follows.
    const std::uint8_t sr = sn_read8(sn, reg::Sn_SR);
    if (sr_is_one_of(sr, {reg::SR_CLOSED, reg::SR_TIME_WAIT, reg::SR_FIN_WAIT, reg::SR_CLOSING})) {
      m_send_pending[sn] = false;
      return send_wait::lost;
    }
    if (limit == 0) limit = tcp_timeout_ms() + 1000;
    const std::uint64_t now = m_board->millis();
    if ((timeout_ms != 0 && now - since > timeout_ms) || now - waiting_from > limit)
      return send_wait::expired;
    m_board->sleep_us(fast_poll_us);
  }
}

result<std::size_t> WIZNET5K::socket_write(int sn, const std::uint8_t* buf, std::size_t len,
                                           std::uint32_t timeout_ms) {
  if (auto e = check_sn(sn)) return e;
  if (buf == nullptr && len > 0) return fail(errc::value_error, "Buffer is null.");
  if (auto e = check_link()) return e;
  const std::size_t n = len > reg::BUF_SIZE ? reg::BUF_SIZE : len;
  if (n == 0) return std::size_t{0};  // SEND with nothing to send would only wait for a SEND_OK
  const std::uint64_t start = m_board->millis();
  auto expired = [&](std::uint64_t now) { return timeout_ms != 0 && now - start > timeout_ms; };

  // A SEND an earlier call left in flight (its timeout ran out before SEND_OK) finishes first: SEND is
  // not issued on a socket that is still sending (ioLibrary waits the same way). Nothing of this call is
  // committed yet, so running out of time here is an honest "no data sent".
  if (m_send_pending[sn]) {
    switch (wait_send_ok(sn, start, timeout_ms)) {
      case send_wait::done:
      case send_wait::udp_timeout:  // that datagram was dropped (ARP); this one may still go
        break;
      case send_wait::lost:
        return fail(errc::connection_error, "No data was sent, socket was closed.");
      case send_wait::expired:
        return fail(errc::timeout_error, "Operation timed out. No data sent.");
    }
  }

  // Wait for room in the TX buffer while the connection can still take data. Unlike the seed (which
  // waits forever with timeout 0), give up after write_idle_timeout_ms without any space freed.
  std::size_t free_space = sn_read16_stable(sn, reg::Sn_TX_FSR);
  std::uint64_t progress_at = start;
  for (;;) {
    const std::uint8_t sr = sn_read8(sn, reg::Sn_SR);
    if (sr != reg::SR_ESTABLISHED && sr != reg::SR_CLOSE_WAIT && sr != reg::SR_UDP)
      return fail(errc::connection_error, "Unable to write data to the socket.");
    if (free_space >= n) break;
    const std::uint64_t now = m_board->millis();
    if (expired(now)) return fail(errc::timeout_error, "Operation timed out. No data sent.");
    if (now - progress_at > write_idle_timeout_ms)
      return fail(errc::timeout_error, "Operation timed out. No data sent.");
    m_board->sleep_ms(network_poll_ms);
    const std::size_t again = sn_read16_stable(sn, reg::Sn_TX_FSR);
    if (again > free_space) progress_at = m_board->millis();
    free_space = again;
  }

  const std::uint16_t ptr = sn_read16(sn, reg::Sn_TX_WR);
  write_tx(sn, ptr, buf, n);
  sn_write16(sn, reg::Sn_TX_WR, static_cast<std::uint16_t>(ptr + n));
  if (auto e = sn_command(sn, reg::CMD_SEND)) return e;
  m_send_pending[sn] = true;

  // From here the data is the chip's: it goes out (TCP retransmits it) unless the connection dies. So a
  // SEND_OK that does not come in time is not "no data sent" (the seed's TimeoutError, which invites the
  // caller to send the same bytes twice): the call reports n and the next call waits for that SEND_OK.
  switch (wait_send_ok(sn, start, timeout_ms)) {
    case send_wait::done:
    case send_wait::expired:
      return n;
    case send_wait::udp_timeout:
      return std::size_t{0};  // nothing was sent (ARP failed), as the seed
    case send_wait::lost:
      break;
  }
  return fail(errc::connection_error, "No data was sent, socket was closed.");
}

}  // namespace wiznet5k
