// The socket module over WIZNET5K (see socket.hpp). Every wait polls the chip and sleeps 1 ms between
// polls through the HAL, so on a board it yields and in the harness it lets virtual time run.
#include "wiznet5k/socket.hpp"

namespace wiznet5k::socket_module {

namespace {

WIZNET5K* g_iface = nullptr;
std::optional<std::uint32_t> g_default_timeout_ms;  // None until setdefaulttimeout()

// Socket register offsets used directly (the rest goes through WIZNET5K's socket_* calls).
constexpr std::uint16_t SN_PORT = 0x0004, SN_DIPR = 0x000C, SN_DPORT = 0x0010, SN_TX_FSR = 0x0020,
                        SN_RX_RSR = 0x0026;
// At most this much per socket_write (the seed's _SOCK_SIZE: one 2 KB socket buffer).
constexpr std::size_t k_max_write = 2048;
// How long close() lets the TCP close handshake run after DISCON before it CLOSEs anyway.
constexpr std::uint32_t k_disconnect_wait_ms = 1000;
constexpr std::uint32_t k_poll_ms = 1;

const char* const k_bad_timeout = "Timeout must be None, 0.0 or a positive numeric value.";
const char* const k_would_block = "Resource temporarily unavailable (non-blocking socket).";
const char* const k_not_connected = "Socket is not connected.";

result<std::uint32_t> seconds_to_ms(double seconds) {
  if (!(seconds >= 0.0)) return fail(errc::value_error, k_bad_timeout);  // negative or NaN
  const double ms = seconds * 1000.0;
  if (ms >= 4294967295.0) return std::uint32_t{0xFFFFFFFFu};
  auto whole = static_cast<std::uint32_t>(ms);
  // Round up: a positive timeout must never become 0 (non-blocking).
  if (static_cast<double>(whole) < ms) ++whole;
  return whole;
}

std::optional<double> ms_to_seconds(std::optional<std::uint32_t> ms) {
  if (!ms) return std::nullopt;
  return static_cast<double>(*ms) / 1000.0;
}

bool is_any(const ip4& ip) {
  return ip == ip4{};
}

}  // namespace

// ---- module functions -----------------------------------------------------------------------------------

void set_interface(WIZNET5K& iface) {
  g_iface = &iface;
}
WIZNET5K* get_interface() {
  return g_iface;
}

std::optional<double> getdefaulttimeout() {
  return ms_to_seconds(g_default_timeout_ms);
}

error setdefaulttimeout(std::optional<double> seconds) {
  if (!seconds) {
    g_default_timeout_ms.reset();
    return {};
  }
  const auto ms = seconds_to_ms(*seconds);
  if (!ms) return ms.err;
  g_default_timeout_ms = ms.value;
  return {};
}

std::optional<std::uint32_t> getdefaulttimeout_ms() {
  return g_default_timeout_ms;
}
void setdefaulttimeout_ms(std::optional<std::uint32_t> ms) {
  g_default_timeout_ms = ms;
}

result<ip4> inet_aton(const char* text) {
  if (text == nullptr) return fail(errc::value_error, "inet_aton: null address");
  return WIZNET5K::unpretty_ip(text);
}

const char* inet_ntoa(const ip4& ip, char out[16]) {
  WIZNET5K::pretty_ip(ip, out);
  return out;
}

result<ip4> gethostbyname(const char* hostname) {
  if (hostname == nullptr || hostname[0] == '\0')
    return fail(errc::value_error, "gethostbyname: empty host name");
  // A dotted quad is its own answer (the seed's _is_ipv4_string), and needs no interface.
  const auto dotted = WIZNET5K::unpretty_ip(hostname);
  if (dotted) return dotted;
  if (g_iface == nullptr) return fail(errc::runtime_error, "No interface: call set_interface() first.");
  return g_iface->get_host_by_name(hostname);
}

result<addrinfo> getaddrinfo(const char* host, std::uint16_t port, int family, int type, int proto,
                             int flags) {
  (void)family;  // AF_INET is the only family (the seed hard-codes it too)
  (void)flags;
  addrinfo ai;
  ai.type = type;
  ai.proto = proto;
  ai.sockaddr.port = port;
  if (host != nullptr && host[0] != '\0') {
    const auto ip = gethostbyname(host);
    if (!ip) return ip.err;
    ai.sockaddr.ip = ip.value;
  }
  return ai;
}

// ---- socket: lifetime -------------------------------------------------------------------------------------

socket::socket(int family, int type, int proto)
    : m_family(family), m_type(type), m_proto(proto), m_timeout_ms(g_default_timeout_ms) {
  if (family != AF_INET) {
    m_open_error = fail(errc::value_error, "Only AF_INET family supported by W5K modules.");
    return;
  }
  if (type != SOCK_STREAM && type != SOCK_DGRAM) {
    m_open_error = fail(errc::value_error, "Only SOCK_STREAM and SOCK_DGRAM sockets are supported.");
    return;
  }
  if (g_iface == nullptr) {
    m_open_error = fail(errc::runtime_error, "No interface: call set_interface() first.");
    return;
  }
  const auto sn = g_iface->get_socket(/*reserve_socket=*/true);
  if (!sn) {
    m_open_error = sn.err;
    return;
  }
  m_iface = g_iface;
  m_sn = sn.value;
}

socket::socket(WIZNET5K* iface, int sn, int type, std::optional<std::uint32_t> timeout_ms)
    : m_iface(iface), m_sn(sn), m_type(type), m_timeout_ms(timeout_ms), m_connected(true) {}

socket::~socket() {
  (void)close();
}

socket::socket(socket&& other) noexcept
    : m_iface(other.m_iface),
      m_sn(other.m_sn),
      m_family(other.m_family),
      m_type(other.m_type),
      m_proto(other.m_proto),
      m_timeout_ms(other.m_timeout_ms),
      m_bound_port(other.m_bound_port),
      m_listening(other.m_listening),
      m_connected(other.m_connected),
      m_peer(other.m_peer),
      m_open_error(other.m_open_error) {
  other.release();
}

socket& socket::operator=(socket&& other) noexcept {
  if (this != &other) {
    (void)close();
    m_iface = other.m_iface;
    m_sn = other.m_sn;
    m_family = other.m_family;
    m_type = other.m_type;
    m_proto = other.m_proto;
    m_timeout_ms = other.m_timeout_ms;
    m_bound_port = other.m_bound_port;
    m_listening = other.m_listening;
    m_connected = other.m_connected;
    m_peer = other.m_peer;
    m_open_error = other.m_open_error;
    other.release();
  }
  return *this;
}

void socket::release() {
  m_sn = -1;
  m_bound_port = -1;
  m_listening = false;
  m_connected = false;
}

error socket::close() {
  if (m_sn < 0) return {};
  error first{};
  if (m_type == SOCK_STREAM) {
    const auto st = m_iface->socket_status(m_sn);
    if (st && (st.value == SNSR_SOCK_ESTABLISHED || st.value == SNSR_SOCK_CLOSE_WAIT)) {
      // FIN first so the peer sees an orderly close (PR #178), then let the handshake finish, watching
      // Sn_SR only: 5.2.1 cleared Sn_IR and then waited for DISCON, which never came when the peer had
      // already closed (#89, #150).
      first = m_iface->socket_disconnect(m_sn);
      if (first.ok()) {
        hal& board = m_iface->board();
        const std::uint64_t start = board.millis();
        while (board.millis() - start < k_disconnect_wait_ms) {
          const auto now = m_iface->socket_status(m_sn);
          if (!now || now.value == SNSR_SOCK_CLOSED || now.value == SNSR_SOCK_TIME_WAIT) break;
          board.sleep_ms(k_poll_ms);
        }
      }
    }
  }
  const error closed = m_iface->socket_close(m_sn);
  if (first.ok()) first = closed;
  const error released = m_iface->release_socket(m_sn);
  if (first.ok()) first = released;
  release();
  return first;
}

error socket::usable() const {
  if (m_sn >= 0) return {};
  if (!m_open_error.ok()) return m_open_error;
  return fail(errc::runtime_error, "Socket is closed.");
}

std::uint64_t socket::now_us() {
  return m_iface->board().micros();
}

// Timed in microseconds: with millis() a wait that began late in one millisecond could end up to 1 ms
// before its timeout.
error socket::wait_step(std::uint64_t start_us, const char* what) {
  hal& board = m_iface->board();
  if (m_timeout_ms) {
    if (*m_timeout_ms == 0) return fail(errc::would_block, k_would_block);
    if (now_us() - start_us >= std::uint64_t{*m_timeout_ms} * 1000u) return fail(errc::timeout_error, what);
  }
  board.sleep_ms(k_poll_ms);
  return {};
}

// ---- socket: addressing -----------------------------------------------------------------------------------

error socket::bind(const address& local) {
  if (auto e = usable()) return e;
  if (m_listening || m_connected) return fail(errc::runtime_error, "Socket is already in use.");
  if (!is_any(local.ip)) {
    const auto mine = m_iface->ip_address();
    if (!mine) return mine.err;
    if (mine.value != local.ip)
      return fail(errc::value_error, "Address must be 0.0.0.0 or the configured IP address.");
  }
  if (m_type == SOCK_DGRAM) {
    // A UDP server never calls listen(): open the chip socket on the port now, as the seed does.
    if (local.port == 0) {
      // Port 0: an ephemeral port, as Python; read back which one the driver chose.
      m_iface->src_port = 0;
      if (auto e = m_iface->socket_open(m_sn, SNMR_UDP)) return e;
      std::uint8_t p[2];
      if (auto e = m_iface->read_socket_register(m_sn, SN_PORT, p, 2)) return e;
      m_bound_port = static_cast<std::int32_t>(p[0] << 8 | p[1]);
      return {};
    }
    if (auto e = m_iface->socket_listen(m_sn, local.port, SNMR_UDP)) return e;
  }
  m_bound_port = local.port;
  return {};
}

error socket::bind(const char* host, std::uint16_t port) {
  address local;
  local.port = port;
  if (host != nullptr && host[0] != '\0') {
    const auto ip = WIZNET5K::unpretty_ip(host);
    if (!ip) return ip.err;
    local.ip = ip.value;
  }
  return bind(local);
}

error socket::listen(int backlog) {
  (void)backlog;  // one hardware socket holds one connection; more listeners need more sockets
  if (auto e = usable()) return e;
  if (m_type != SOCK_STREAM) return fail(errc::runtime_error, "listen() needs a SOCK_STREAM socket.");
  if (m_bound_port < 0) return fail(errc::runtime_error, "Use bind to set the port before listen!");
  if (m_listening) {
    const auto st = m_iface->socket_status(m_sn);
    if (st && st.value == SNSR_SOCK_LISTEN) return {};
  }
  if (auto e = m_iface->socket_listen(m_sn, static_cast<std::uint16_t>(m_bound_port), SNMR_TCP)) return e;
  m_listening = true;
  return {};
}

accept_result socket::accept() {
  accept_result r;
  if (auto e = usable()) {
    r.err = e;
    return r;
  }
  if (!m_listening) {
    r.err = fail(errc::runtime_error, "accept() needs a listening socket (bind() and listen() first).");
    return r;
  }
  const auto listen_port = static_cast<std::uint16_t>(m_bound_port);
  const std::uint64_t start = now_us();
  ip4 peer_ip{};
  for (;;) {
    const auto st = m_iface->socket_status(m_sn);
    if (!st) {
      r.err = st.err;
      return r;
    }
    if (st.value == SNSR_SOCK_ESTABLISHED || st.value == SNSR_SOCK_CLOSE_WAIT) {
      // A connection, possibly already half-closed by a quick client (its data is still to be read; the
      // seed disconnected such sockets). PR #178: only with a real peer address.
      const auto ip = m_iface->remote_ip(m_sn);
      if (!ip) {
        r.err = ip.err;
        return r;
      }
      if (!is_any(ip.value)) {
        peer_ip = ip.value;
        break;
      }
    } else if (st.value != SNSR_SOCK_LISTEN && st.value != SNSR_SOCK_SYNRECV) {
      // The chip left the listen path (a SYN answered by RST, a connection that ended before anyone
      // looked): close what is left and listen again, as the seed does for CLOSED.
      (void)m_iface->socket_close(m_sn);
      if (auto e = m_iface->socket_listen(m_sn, listen_port, SNMR_TCP)) {
        r.err = e;
        return r;
      }
    }
    if (auto e = wait_step(start, "accept timed out")) {
      r.err = e;
      return r;
    }
  }
  const auto peer_port = m_iface->remote_port(m_sn);
  if (!peer_port) {
    r.err = peer_port.err;
    return r;
  }
  // The connection keeps its hardware socket; this object moves on to a freshly reserved one (the seed's
  // swap, but reserving the new listener: socket_accept's next_listener is not reserved).
  const auto next = m_iface->get_socket(/*reserve_socket=*/true);
  if (!next) {
    r.err = next.err;
    return r;
  }
  if (auto e = m_iface->socket_listen(next.value, listen_port, SNMR_TCP)) {
    (void)m_iface->release_socket(next.value);
    r.err = e;
    return r;
  }
  // CPython gives an accepted socket the default timeout.
  r.conn = socket(m_iface, m_sn, m_type, g_default_timeout_ms);
  r.conn.m_family = m_family;
  r.conn.m_proto = m_proto;
  r.from = address{peer_ip, peer_port.value};
  m_sn = next.value;
  return r;
}

error socket::connect(const address& remote) {
  if (auto e = usable()) return e;
  if (m_listening) return fail(errc::runtime_error, "connect() on a listening socket.");
  if (m_type == SOCK_STREAM) {
    // A live connection is not re-opened: socket_open would accept CLOSE_WAIT and drop the connection
    // without a FIN or RST, leaving the peer waiting (Python: EISCONN).
    const auto st = m_iface->socket_status(m_sn);
    if (!st) return st.err;
    if (st.value == SNSR_SOCK_ESTABLISHED || st.value == SNSR_SOCK_CLOSE_WAIT)
      return fail(errc::runtime_error, "Socket is already connected.");
    if (m_bound_port > 0) m_iface->src_port = static_cast<std::uint16_t>(m_bound_port);
    const error e = m_iface->socket_connect(m_sn, remote.ip, remote.port, SNMR_TCP);
    m_iface->src_port = 0;
    if (e) return e;
    m_connected = true;
    return {};
  }
  if (auto e = set_destination(remote)) return e;
  m_peer = remote;
  m_connected = true;
  return {};
}

error socket::connect(const char* host, std::uint16_t port) {
  const auto ip = gethostbyname(host);
  if (!ip) return ip.err;
  return connect(address{ip.value, port});
}

// UDP: opens the chip socket if needed (on the bound port, else an ephemeral one) and points Sn_DIPR/
// Sn_DPORT at `to`. The seed re-opened the socket for every sendto (connect -> socket_open), which on the
// chip empties its receive buffer: datagrams already received but not read were lost.
error socket::set_destination(const address& to) {
  const auto st = m_iface->socket_status(m_sn);
  if (!st) return st.err;
  if (st.value != SNSR_SOCK_UDP) {
    m_iface->src_port = m_bound_port > 0 ? static_cast<std::uint16_t>(m_bound_port) : 0;
    const error e = m_iface->socket_open(m_sn, SNMR_UDP);
    m_iface->src_port = 0;
    if (e) return e;
  }
  if (auto e = m_iface->write_socket_register(m_sn, SN_DIPR, to.ip.data(), 4)) return e;
  const std::uint8_t port[2] = {static_cast<std::uint8_t>(to.port >> 8), static_cast<std::uint8_t>(to.port)};
  return m_iface->write_socket_register(m_sn, SN_DPORT, port, 2);
}

result<address> socket::getpeername() {
  if (auto e = usable()) return e;
  if (!m_connected) return fail(errc::connection_error, k_not_connected);
  if (m_type == SOCK_DGRAM) return m_peer;
  const auto ip = m_iface->remote_ip(m_sn);
  if (!ip) return ip.err;
  const auto port = m_iface->remote_port(m_sn);
  if (!port) return port.err;
  return address{ip.value, port.value};
}

// ---- socket: sending --------------------------------------------------------------------------------------

// A 16-bit socket register the chip updates on its own (Sn_TX_FSR, Sn_RX_RSR), read until two reads
// agree: it may change between the two bytes of one read.
result<std::size_t> socket::read_stable16(std::uint16_t reg) {
  std::uint8_t a[2] = {}, b[2] = {};
  for (int i = 0; i < 4; ++i) {
    if (auto e = m_iface->read_socket_register(m_sn, reg, a, 2)) return e;
    if (auto e = m_iface->read_socket_register(m_sn, reg, b, 2)) return e;
    if (a[0] == b[0] && a[1] == b[1]) break;
  }
  return static_cast<std::size_t>(b[0] << 8 | b[1]);
}

result<std::size_t> socket::tx_free() {
  return read_stable16(SN_TX_FSR);
}

result<std::size_t> socket::send(const void* data, std::size_t n) {
  if (auto e = usable()) return e;
  if (n == 0) return std::size_t{0};
  if (data == nullptr) return fail(errc::value_error, "send: null data");
  if (m_type == SOCK_DGRAM) {
    if (!m_connected) return fail(errc::connection_error, "Destination address required (connect() first).");
    return send_datagram(data, n, m_peer);
  }
  const std::uint64_t start = now_us();
  for (;;) {
    std::size_t k = 0;
    for (;;) {
      const auto st = m_iface->socket_status(m_sn);
      if (!st) return st.err;
      if (st.value != SNSR_SOCK_ESTABLISHED && st.value != SNSR_SOCK_CLOSE_WAIT)
        return fail(errc::connection_error, m_connected ? "Connection closed or reset." : k_not_connected);
      const auto free = tx_free();
      if (!free) return free.err;
      if (free.value > 0) {
        k = n < free.value ? n : free.value;
        if (k > k_max_write) k = k_max_write;
        break;
      }
      if (auto e = wait_step(start, "send timed out")) return e;
    }
    // socket_write first waits for the SEND_OK of an earlier SEND still in flight (a peer that stopped
    // reading), then writes and SENDs; it reports timeout_error only when nothing of this call reached
    // the chip, and n once the SEND is issued even if SEND_OK is late. The socket's timeout bounds its
    // waits (1 ms when non-blocking: the earlier SEND must be done by now).
    std::uint32_t write_timeout_ms = 0;  // None: the driver's own bound (the chip's TCP timeout)
    if (m_timeout_ms) {
      const std::uint64_t spent_ms = (now_us() - start) / 1000u;
      const std::uint64_t left = *m_timeout_ms > spent_ms ? *m_timeout_ms - spent_ms : 0;
      write_timeout_ms = left > 1 ? static_cast<std::uint32_t>(left) : 1u;
    }
    const auto sent =
        m_iface->socket_write(m_sn, static_cast<const std::uint8_t*>(data), k, write_timeout_ms);
    if (sent || sent.err.code != errc::timeout_error) return sent;
    // Nothing was taken. Blocking (None): keep waiting; the chip ends a connection whose peer never
    // reads again, which the status check reports.
    if (!m_timeout_ms) continue;
    if (*m_timeout_ms == 0) return fail(errc::would_block, k_would_block);
    return fail(errc::timeout_error, "send timed out");
  }
}

result<std::size_t> socket::send_datagram(const void* data, std::size_t n, const address& to) {
  if (n > k_max_write) return fail(errc::value_error, "Datagram too large for the socket buffer.");
  if (auto e = set_destination(to)) return e;
  const std::uint64_t start = now_us();
  for (;;) {
    const auto free = tx_free();
    if (!free) return free.err;
    if (free.value >= n) break;  // a datagram goes whole or not at all
    if (auto e = wait_step(start, "send timed out")) return e;
  }
  // No caller bound here: socket_write then waits for SEND_OK (or the chip's ARP TIMEOUT, reported as 0)
  // before returning, so no SEND is ever left in flight when the next datagram rewrites Sn_DIPR/Sn_DPORT
  // (the chip reads them while it resolves and sends).
  return m_iface->socket_write(m_sn, static_cast<const std::uint8_t*>(data), n);
}

error socket::sendall(const void* data, std::size_t n) {
  if (m_type == SOCK_DGRAM) {
    const auto sent = send(data, n);
    return sent.err;
  }
  const auto* p = static_cast<const std::uint8_t*>(data);
  while (n > 0) {
    const auto sent = send(p, n);
    if (!sent) return sent.err;
    p += sent.value;
    n -= sent.value;
  }
  return {};
}

result<std::size_t> socket::sendto(const void* data, std::size_t n, const address& to) {
  if (auto e = usable()) return e;
  if (m_type != SOCK_DGRAM) return fail(errc::runtime_error, "sendto() needs a SOCK_DGRAM socket.");
  if (n == 0) return std::size_t{0};
  if (data == nullptr) return fail(errc::value_error, "sendto: null data");
  return send_datagram(data, n, to);
}

result<std::size_t> socket::sendto(const void* data, std::size_t n, const char* host, std::uint16_t port) {
  const auto ip = gethostbyname(host);
  if (!ip) return ip.err;
  return sendto(data, n, address{ip.value, port});
}

// ---- socket: receiving ------------------------------------------------------------------------------------

result<std::size_t> socket::recv_stream(std::uint8_t* buf, std::size_t n) {
  const std::uint64_t start = now_us();
  for (;;) {
    // Sn_SR first, Sn_RX_RSR second. Everything the peer sent before and with its FIN is in the receive
    // buffer by the time Sn_SR reads CLOSE_WAIT, so "CLOSE_WAIT, then nothing waiting" read in this
    // order is a true end of stream. 5.2.1 read them the other way round and dropped data that arrived
    // in between (#171/#188).
    const auto st = m_iface->socket_status(m_sn);
    if (!st) return st.err;
    const auto avail = m_iface->socket_available(m_sn);
    if (!avail) return avail.err;
    if (avail.value > 0) return m_iface->socket_read(m_sn, buf, avail.value < n ? avail.value : n);
    switch (st.value) {
      case SNSR_SOCK_ESTABLISHED:
      case SNSR_SOCK_SYNRECV:
      case SNSR_SOCK_FIN_WAIT:  // we sent FIN; the peer may still send
        break;
      case SNSR_SOCK_CLOSE_WAIT:
      case SNSR_SOCK_CLOSING:
      case SNSR_SOCK_TIME_WAIT:
      case SNSR_SOCK_LAST_ACK:
        return std::size_t{0};  // orderly shutdown: end of stream
      case SNSR_SOCK_CLOSED: {
        if (!m_connected) return fail(errc::connection_error, k_not_connected);
        // Without a FIN first the chip closes only on RST or its retransmission timeout.
        const auto ir = m_iface->read_snir(m_sn);
        if (ir && (ir.value & SNIR_TIMEOUT) != 0)
          return fail(errc::connection_error, "Connection timed out.");
        return fail(errc::connection_error, "Connection reset by peer.");
      }
      default:
        return fail(errc::connection_error, k_not_connected);
    }
    if (auto e = wait_step(start, "recv timed out")) return e;
  }
}

result<std::size_t> socket::recv_datagram(std::uint8_t* buf, std::size_t n, address* from) {
  const std::uint64_t start = now_us();
  for (;;) {
    const auto st = m_iface->socket_status(m_sn);
    if (!st) return st.err;
    if (st.value != SNSR_SOCK_UDP)
      return fail(errc::runtime_error, "Socket is not bound (bind(), connect() or sendto() first).");
    // The raw Sn_RX_RSR (headers included), so an empty datagram counts as something to read too
    // (socket_available() subtracts the header).
    const auto raw = read_stable16(SN_RX_RSR);
    if (!raw) return raw.err;
    if (raw.value > 0) {
      const auto got = m_iface->read_udp(m_sn, buf, n);
      if (!got) return got.err;
      if (from != nullptr) {
        const auto i = static_cast<std::size_t>(m_sn);
        *from = address{m_iface->udp_from_ip[i], m_iface->udp_from_port[i]};
      }
      return got;
    }
    if (auto e = wait_step(start, "recv timed out")) return e;
  }
}

result<std::size_t> socket::recv(void* buf, std::size_t bufsize) {
  return recv_into(buf, bufsize, 0);
}

result<std::size_t> socket::recv_into(void* buf, std::size_t buflen, std::size_t nbytes) {
  if (auto e = usable()) return e;
  if (nbytes > buflen) return fail(errc::value_error, "nbytes must be 0 to len(buffer)");
  const std::size_t want = nbytes == 0 ? buflen : nbytes;
  if (want == 0) return std::size_t{0};
  if (buf == nullptr) return fail(errc::value_error, "recv: null buffer");
  auto* out = static_cast<std::uint8_t*>(buf);
  if (m_type == SOCK_STREAM) return recv_stream(out, want);
  return recv_datagram(out, want, nullptr);
}

result<recvfrom_result> socket::recvfrom(void* buf, std::size_t bufsize) {
  return recvfrom_into(buf, bufsize, 0);
}

result<recvfrom_result> socket::recvfrom_into(void* buf, std::size_t buflen, std::size_t nbytes) {
  if (auto e = usable()) return e;
  if (nbytes > buflen) return fail(errc::value_error, "nbytes must be 0 to len(buffer)");
  const std::size_t want = nbytes == 0 ? buflen : nbytes;
  if (want > 0 && buf == nullptr) return fail(errc::value_error, "recvfrom: null buffer");
  recvfrom_result r;
  auto* out = static_cast<std::uint8_t*>(buf);
  if (m_type == SOCK_DGRAM) {
    const auto got = recv_datagram(out, want, &r.from);
    if (!got) return got.err;
    r.nbytes = got.value;
    return r;
  }
  if (want > 0) {
    const auto got = recv_stream(out, want);
    if (!got) return got.err;
    r.nbytes = got.value;
  }
  const auto peer = getpeername();
  if (peer) r.from = peer.value;
  return r;
}

result<std::size_t> socket::available() {
  if (auto e = usable()) return e;
  return m_iface->socket_available(m_sn, m_type == SOCK_DGRAM ? SNMR_UDP : SNMR_TCP);
}

// ---- socket: options --------------------------------------------------------------------------------------

error socket::settimeout(std::optional<double> seconds) {
  if (!seconds) {
    m_timeout_ms.reset();
    return {};
  }
  const auto ms = seconds_to_ms(*seconds);
  if (!ms) return ms.err;
  m_timeout_ms = ms.value;
  return {};
}

std::optional<double> socket::gettimeout() const {
  return ms_to_seconds(m_timeout_ms);
}

void socket::settimeout_ms(std::optional<std::uint32_t> ms) {
  m_timeout_ms = ms;
}

void socket::setblocking(bool flag) {
  if (flag)
    m_timeout_ms.reset();
  else
    m_timeout_ms = 0;
}

bool socket::getblocking() const {
  return !(m_timeout_ms && *m_timeout_ms == 0);
}

error socket::setsockopt(int level, int optname, int value) {
  (void)value;
  if (level == SOL_SOCKET && optname == SO_REUSEADDR) return {};
  return fail(errc::value_error, "Only SOL_SOCKET / SO_REUSEADDR is supported.");
}

}  // namespace wiznet5k::socket_module
