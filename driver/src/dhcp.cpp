// DHCP client: see dhcp.hpp for the protocol, the schedule and where it differs from the seed.
#include "wiznet5k/dhcp.hpp"

#include <cstring>

#include "wiznet5k/wiznet5k.hpp"

namespace wiznet5k {

namespace {

// BOOTP op, message types (option 53) and option codes (RFC 2131 / RFC 2132).
constexpr std::uint8_t BOOTREQUEST = 1, BOOTREPLY = 2;
constexpr std::uint8_t MSG_DISCOVER = 1, MSG_OFFER = 2, MSG_REQUEST = 3, MSG_ACK = 5, MSG_NAK = 6;
constexpr std::uint8_t OPT_PAD = 0, OPT_SUBNET_MASK = 1, OPT_ROUTER = 3, OPT_DNS = 6, OPT_HOSTNAME = 12,
                       OPT_REQUESTED_IP = 50, OPT_LEASE_TIME = 51, OPT_MESSAGE_TYPE = 53, OPT_SERVER_ID = 54,
                       OPT_PARAM_REQUEST = 55, OPT_T1 = 58, OPT_T2 = 59, OPT_CLIENT_ID = 61, OPT_END = 255;
constexpr std::uint32_t magic_cookie = 0x63825363;
constexpr std::size_t options_at = 240;  // fixed header (236) + magic cookie
constexpr std::size_t bootp_min = 300;   // RFC 1542 §2.1: relays may drop shorter messages
constexpr std::uint16_t flag_broadcast = 0x8000;
// Option 55: subnet mask, router, DNS, lease time, T1, T2 (what bind_lease uses).
constexpr std::uint8_t requested_params[] = {OPT_SUBNET_MASK, OPT_ROUTER, OPT_DNS,
                                             OPT_LEASE_TIME,  OPT_T1,     OPT_T2};
constexpr ip4 ip_broadcast{255, 255, 255, 255};
constexpr ip4 ip_zero{0, 0, 0, 0};
// How often a blocking call polls the socket (virtual time on the model; a delay on a board).
constexpr std::uint32_t poll_ms = 10;
// Datagrams examined per step, so that a flood cannot keep one call busy for ever.
constexpr int max_datagrams_per_step = 8;
// RENEWING/REBINDING retransmission floor (RFC 2131 §4.4.5).
constexpr std::uint64_t lease_retry_min_ms = 60000;

void put16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
void put32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}
std::uint32_t get32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) << 24 | static_cast<std::uint32_t>(p[1]) << 16 |
         static_cast<std::uint32_t>(p[2]) << 8 | p[3];
}
ip4 get_ip(const std::uint8_t* p) {
  return ip4{p[0], p[1], p[2], p[3]};
}

// `secs` seconds after `start` as a millisecond deadline; an infinite lease value never comes.
std::uint64_t deadline(std::uint64_t start, std::uint32_t secs) {
  if (secs == DHCP::infinite_lease) return DHCP::never;
  return start + static_cast<std::uint64_t>(secs) * 1000u;
}

}  // namespace

DHCP::DHCP(WIZNET5K& eth, const mac6& mac, const char* hostname, bool debug) : m_eth(eth) {
  configure(mac, hostname, debug);
}

DHCP::~DHCP() {
  close_socket();
}

void DHCP::configure(const mac6& mac, const char* hostname, bool debug) {
  close_socket();
  m_mac = mac;
  m_debug = debug;
  set_hostname(hostname);
  m_state = STATE_INIT;
  m_tries = 0;
  m_next_tx = 0;
  dhcp_server_ip = local_ip = gateway_ip = subnet_mask = dns_server_ip = ip_zero;
  m_offered = m_offer_server = ip_zero;
  m_lease_s = m_t1_s = m_t2_s = 0;
  m_lease_start = 0;
  m_t1_at = m_t2_at = m_expiry_at = never;
}

void DHCP::set_hostname(const char* hostname) {
  static constexpr char hex[] = "0123456789ABCDEF";
  char mac_hex[12];
  for (std::size_t i = 0; i < 6; ++i) {
    mac_hex[2 * i] = hex[m_mac[i] >> 4];
    mac_hex[2 * i + 1] = hex[m_mac[i] & 0x0F];
  }
  // As the seed: "{}" in the name is the MAC in hex (the default is "WIZnet{}"); the result is cut to 42.
  const char* src = (hostname != nullptr && hostname[0] != '\0') ? hostname : "WIZnet{}";
  std::size_t out = 0;
  while (*src != '\0' && out < max_hostname) {
    if (src[0] == '{' && src[1] == '}') {
      for (std::size_t k = 0; k < sizeof mac_hex && out < max_hostname; ++k) m_hostname[out++] = mac_hex[k];
      src += 2;
    } else {
      m_hostname[out++] = *src++;
    }
  }
  m_hostname[out] = '\0';
}

// ---- sockets ----------------------------------------------------------------------------------------------

error DHCP::open_socket(const ip4& dest) {
  if (m_sock < 0) {
    const result<int> sn = m_eth.get_socket();
    if (!sn) return sn.err;
    m_sock = sn.value;
  }
  // socket_open binds to src_port once and then resets it; keep whatever the application had queued.
  const std::uint16_t saved = m_eth.src_port;
  m_eth.src_port = client_port;
  const error e = m_eth.socket_connect(m_sock, dest, server_port, SNMR_UDP);
  m_eth.src_port = saved;
  if (e) close_socket();
  return e;
}

void DHCP::close_socket() {
  if (m_sock < 0) return;
  // Best effort: there is nothing better to do with a failure while letting go of the socket.
  (void)m_eth.socket_close(m_sock);
  (void)m_eth.release_socket(m_sock);
  m_sock = -1;
}

// ---- messages ---------------------------------------------------------------------------------------------

error DHCP::send_message(std::uint8_t type, std::uint64_t now) {
  if (m_sock < 0) {
    const error e = open_socket(m_state == STATE_RENEWING ? dhcp_server_ip : ip_broadcast);
    if (e) return e;
  }
  const bool have_address = m_state == STATE_RENEWING || m_state == STATE_REBINDING;
  std::uint8_t* b = m_buf;
  std::memset(b, 0, sizeof m_buf);
  b[0] = BOOTREQUEST;
  b[1] = 1;  // htype Ethernet
  b[2] = 6;  // hlen
  put32(b + 4, m_xid);
  const std::uint64_t secs = (now - m_exchange_start) / 1000u;
  put16(b + 8, static_cast<std::uint16_t>(secs > 0xFFFF ? 0xFFFF : secs));
  // See dhcp.hpp: broadcast replies while SIPR is 0.0.0.0 (the seed leaves the flag clear).
  put16(b + 10, have_address ? 0 : flag_broadcast);
  if (have_address) std::memcpy(b + 12, local_ip.data(), 4);  // ciaddr
  std::memcpy(b + 28, m_mac.data(), 6);                       // chaddr
  put32(b + 236, magic_cookie);

  std::size_t i = options_at;
  b[i++] = OPT_MESSAGE_TYPE;
  b[i++] = 1;
  b[i++] = type;
  b[i++] = OPT_CLIENT_ID;
  b[i++] = 7;
  b[i++] = 1;  // hardware type Ethernet, then the MAC
  std::memcpy(b + i, m_mac.data(), 6);
  i += 6;
  const std::size_t name_len = std::strlen(m_hostname);
  if (name_len > 0) {
    b[i++] = OPT_HOSTNAME;
    b[i++] = static_cast<std::uint8_t>(name_len);
    std::memcpy(b + i, m_hostname, name_len);
    i += name_len;
  }
  if (type == MSG_REQUEST && m_state == STATE_REQUESTING) {
    // SELECTING-state REQUEST: the offered address and the chosen server (RFC 2131 §4.3.2). A renewing or
    // rebinding REQUEST carries neither (table 5), its address is in ciaddr.
    b[i++] = OPT_REQUESTED_IP;
    b[i++] = 4;
    std::memcpy(b + i, m_offered.data(), 4);
    i += 4;
    b[i++] = OPT_SERVER_ID;
    b[i++] = 4;
    std::memcpy(b + i, m_offer_server.data(), 4);
    i += 4;
  }
  b[i++] = OPT_PARAM_REQUEST;
  b[i++] = sizeof requested_params;
  std::memcpy(b + i, requested_params, sizeof requested_params);
  i += sizeof requested_params;
  b[i++] = OPT_END;
  const std::size_t len = i < bootp_min ? bootp_min : i;

  const result<std::size_t> sent = m_eth.socket_write(m_sock, b, len);
  if (!sent) {
    close_socket();
    return sent.err;
  }
  // A 0 here is the chip's ARP timeout towards a unicast server: the retransmission schedule covers it.
  if (type == MSG_REQUEST) m_last_tx = now;
  return error{};
}

bool DHCP::parse(std::size_t n, parsed& out) const {
  const std::uint8_t* b = m_buf;
  if (n < options_at) return false;
  if (b[0] != BOOTREPLY || b[1] != 1 || b[2] != 6) return false;
  if (get32(b + 4) != m_xid) return false;
  if (std::memcmp(b + 28, m_mac.data(), 6) != 0) return false;
  if (get32(b + 236) != magic_cookie) return false;
  out = parsed{};
  out.yiaddr = get_ip(b + 16);
  // Options, defensively: an option whose length octet or value runs past the datagram ends the walk (so
  // does a missing END), wrong lengths for fixed-size options make them count as absent, and option 52
  // (overload) is ignored: nothing this client needs is worth parsing sname/file for.
  std::size_t i = options_at;
  while (i < n) {
    const std::uint8_t code = b[i];
    if (code == OPT_PAD) {
      ++i;
      continue;
    }
    if (code == OPT_END) break;
    if (i + 1 >= n) break;
    const std::size_t len = b[i + 1];
    if (i + 2 + len > n) break;
    const std::uint8_t* v = b + i + 2;
    const bool addr = len >= 4 && len % 4 == 0;
    switch (code) {
      case OPT_MESSAGE_TYPE:
        if (len == 1) out.type = v[0];
        break;
      case OPT_SERVER_ID:
        if (len == 4) out.has_server_id = true, out.server_id = get_ip(v);
        break;
      case OPT_SUBNET_MASK:
        if (len == 4) out.has_mask = true, out.mask = get_ip(v);
        break;
      case OPT_ROUTER:
        if (addr) out.has_router = true, out.router = get_ip(v);
        break;
      case OPT_DNS:
        if (addr) out.has_dns = true, out.dns = get_ip(v);
        break;
      case OPT_LEASE_TIME:
        if (len == 4) out.has_lease = true, out.lease = get32(v);
        break;
      case OPT_T1:
        if (len == 4) out.has_t1 = true, out.t1 = get32(v);
        break;
      case OPT_T2:
        if (len == 4) out.has_t2 = true, out.t2 = get32(v);
        break;
      default:
        break;
    }
    i += 2 + len;
  }
  return out.type != 0;
}

DHCP::reply DHCP::receive(parsed& out) {
  if (m_sock < 0) return reply::none;
  for (int k = 0; k < max_datagrams_per_step; ++k) {
    const result<std::size_t> avail = m_eth.socket_available(m_sock, SNMR_UDP);
    if (!avail || avail.value == 0) return reply::none;
    const result<std::size_t> n = m_eth.read_udp(m_sock, m_buf, sizeof m_buf);
    if (!n) return reply::none;
    if (m_eth.udp_from_port[m_sock] != server_port) continue;
    parsed p;
    if (!parse(n.value, p)) continue;
    const bool zero_yiaddr = p.yiaddr == ip_zero;
    switch (m_state) {
      case STATE_SELECTING:
        // The first acceptable OFFER wins (RFC 2131 §4.4.1 lets the client choose; waiting buys nothing).
        if (p.type == MSG_OFFER && p.has_server_id && !zero_yiaddr) {
          out = p;
          return reply::offer;
        }
        break;
      case STATE_REQUESTING:
        // Only the server we chose may answer our REQUEST; the others see it as declining their offer.
        if (!p.has_server_id || p.server_id != m_offer_server) break;
        if (p.type == MSG_ACK && !zero_yiaddr) {
          out = p;
          return reply::ack;
        }
        if (p.type == MSG_NAK) return reply::nak;
        break;
      case STATE_RENEWING:
      case STATE_REBINDING:
        // Renewing talks to the server that granted the lease; rebinding accepts any server (§4.4.5).
        if (m_state == STATE_RENEWING && p.has_server_id && p.server_id != dhcp_server_ip) break;
        if (p.type == MSG_ACK && !zero_yiaddr) {
          out = p;
          return reply::ack;
        }
        if (p.type == MSG_NAK) return reply::nak;
        break;
      default:
        break;
    }
  }
  return reply::none;
}

// ---- lease ------------------------------------------------------------------------------------------------

error DHCP::bind_lease(const parsed& p) {
  local_ip = p.yiaddr;
  subnet_mask = p.has_mask ? p.mask : ip4{255, 255, 255, 0};  // RFC 2131 leaves it to the client
  gateway_ip = p.has_router ? p.router : ip_zero;
  dns_server_ip = p.has_dns ? p.dns : ip_zero;
  if (p.has_server_id)
    dhcp_server_ip = p.server_id;
  else if (m_state == STATE_REQUESTING)
    dhcp_server_ip = m_offer_server;

  const std::uint32_t lease = p.has_lease ? p.lease : (m_lease_s != 0 ? m_lease_s : default_lease_s);
  std::uint32_t t1 = 0, t2 = 0;
  if (lease == infinite_lease) {
    t2 = p.has_t2 ? p.t2 : infinite_lease;
    t1 = p.has_t1 ? p.t1 : infinite_lease;
  } else {
    // Defaults 50% and 87.5% (RFC 2131 §4.4.5), computed in 64 bits; values that break T1 <= T2 <= lease
    // are replaced by the defaults rather than trusted.
    const auto t2_default = static_cast<std::uint32_t>(static_cast<std::uint64_t>(lease) * 7u / 8u);
    t2 = p.has_t2 && p.t2 <= lease ? p.t2 : t2_default;
    t1 = p.has_t1 && p.t1 <= t2 ? p.t1 : (lease / 2 <= t2 ? lease / 2 : t2);
  }
  if (t1 > t2) t1 = t2;
  m_lease_s = lease;
  m_t1_s = t1;
  m_t2_s = t2;
  m_lease_start = m_last_tx;
  m_t1_at = deadline(m_lease_start, t1);
  m_t2_at = deadline(m_lease_start, t2);
  m_expiry_at = deadline(m_lease_start, lease);

  close_socket();
  m_state = STATE_BOUND;
  return m_eth.set_ifconfig(WIZNET5K::ifconfig_t{local_ip, subnet_mask, gateway_ip, dns_server_ip});
}

void DHCP::drop_lease() {
  dhcp_server_ip = local_ip = gateway_ip = subnet_mask = dns_server_ip = ip_zero;
  m_lease_s = m_t1_s = m_t2_s = 0;
  m_lease_start = 0;
  m_t1_at = m_t2_at = m_expiry_at = never;
  // SIPR 0.0.0.0 while acquiring, as the seed's _dsm_reset; best effort (the next send reports a dead chip).
  (void)m_eth.set_ifconfig(WIZNET5K::ifconfig_t{ip_zero, ip_zero, ip_zero, ip_zero});
}

std::uint64_t DHCP::acquisition_retry_at(std::uint64_t now, std::uint8_t attempt) {
  const std::uint32_t span = 2 * retry_jitter_ms + 1;
  const std::uint32_t jitter = m_eth.board().random32() % span;  // 0 .. 2 s, centred below
  return now + retry_wait_ms[attempt < 4 ? attempt : 3] + jitter - retry_jitter_ms;
}

std::uint64_t DHCP::lease_retry_at(std::uint64_t now) const {
  const std::uint64_t target = m_state == STATE_RENEWING ? m_t2_at : m_expiry_at;
  if (target == never) return now + lease_retry_min_ms;
  const std::uint64_t left = target > now ? target - now : 0;
  const std::uint64_t wait = left / 2 > lease_retry_min_ms ? left / 2 : lease_retry_min_ms;
  return now + wait < target ? now + wait : target;
}

// ---- the state machine ------------------------------------------------------------------------------------

error DHCP::start_acquisition(std::uint64_t now) {
  close_socket();
  drop_lease();
  m_state = STATE_INIT;
  m_xid = m_eth.board().random32();
  m_exchange_start = now;
  m_tries = 0;
  if (const error e = open_socket(ip_broadcast)) return e;
  m_state = STATE_SELECTING;
  if (const error e = send_message(MSG_DISCOVER, now)) {
    m_state = STATE_INIT;
    m_next_tx = now;
    return e;
  }
  m_next_tx = acquisition_retry_at(now, 0);
  m_tries = 1;
  return error{};
}

error DHCP::start_lease_exchange(std::uint64_t now, std::uint8_t new_state) {
  close_socket();
  m_state = new_state;
  m_xid = m_eth.board().random32();
  m_exchange_start = now;
  if (const error e = open_socket(new_state == STATE_RENEWING ? dhcp_server_ip : ip_broadcast)) {
    m_next_tx = now;  // try again on the next call
    return e;
  }
  m_next_tx = lease_retry_at(now);
  return send_message(MSG_REQUEST, now);
}

error DHCP::step(std::uint64_t now) {
  switch (m_state) {
    case STATE_INIT:
      if (now < m_next_tx) return error{};  // holding off after a NAK
      return start_acquisition(now);

    case STATE_SELECTING:
    case STATE_REQUESTING: {
      parsed p;
      const reply r = receive(p);
      if (r == reply::offer) {
        m_offered = p.yiaddr;
        m_offer_server = p.server_id;
        m_state = STATE_REQUESTING;
        if (const error e = send_message(MSG_REQUEST, now)) return e;
        m_next_tx = acquisition_retry_at(now, 0);
        m_tries = 1;
        return error{};
      }
      if (r == reply::ack) return bind_lease(p);
      if (r == reply::nak) {
        start_over_after_nak(now);
        return fail(errc::connection_error, "DHCP: the server refused the lease (NAK)");
      }
      if (now < m_next_tx) return error{};
      if (m_tries >= 4) {
        close_socket();
        m_state = STATE_INIT;
        m_next_tx = now;
        return fail(errc::timeout_error, "DHCP: no answer from a DHCP server");
      }
      const error e = send_message(m_state == STATE_SELECTING ? MSG_DISCOVER : MSG_REQUEST, now);
      m_next_tx = acquisition_retry_at(now, m_tries);
      ++m_tries;
      return e;
    }

    case STATE_BOUND:
      if (now >= m_expiry_at) return start_acquisition(now);  // the lease is gone: INIT
      if (now >= m_t2_at) return start_lease_exchange(now, STATE_REBINDING);
      if (now >= m_t1_at) return start_lease_exchange(now, STATE_RENEWING);
      return error{};

    case STATE_RENEWING:
    case STATE_REBINDING: {
      parsed p;
      const reply r = receive(p);
      if (r == reply::ack) return bind_lease(p);
      if (r == reply::nak) {
        start_over_after_nak(now);
        return fail(errc::connection_error, "DHCP: the server refused the lease (NAK)");
      }
      if (now >= m_expiry_at) return start_acquisition(now);
      if (m_state == STATE_RENEWING && now >= m_t2_at) return start_lease_exchange(now, STATE_REBINDING);
      if (now < m_next_tx) return error{};
      m_next_tx = lease_retry_at(now);
      return send_message(MSG_REQUEST, now);
    }

    default:
      m_state = STATE_INIT;
      return error{};
  }
}

void DHCP::start_over_after_nak(std::uint64_t now) {
  // RFC 2131 §3.1 step 5 / §4.4.4: back to INIT without the address. Wait one first-retry interval before
  // the new DISCOVER so that a server that NAKs everything does not get a storm.
  close_socket();
  drop_lease();
  m_state = STATE_INIT;
  m_next_tx = acquisition_retry_at(now, 0);
}

error DHCP::request_dhcp_lease() {
  hal& board = m_eth.board();
  close_socket();
  m_state = STATE_INIT;
  m_next_tx = 0;
  const std::uint64_t limit = board.millis() + acquire_limit_ms;
  bool refused = false;
  for (;;) {
    const std::uint64_t now = board.millis();
    const error e = step(now);
    if (m_state == STATE_BOUND) return e;  // e: set_ifconfig's result
    if (e.code == errc::connection_error) {
      refused = true;  // a NAK: INIT, and step() starts over after the hold-off
    } else if (e) {
      close_socket();
      m_state = STATE_INIT;
      return e;
    }
    if (board.millis() >= limit) {
      close_socket();
      m_state = STATE_INIT;
      m_next_tx = 0;
      return refused ? fail(errc::connection_error, "DHCP: the server refused the lease (NAK)")
                     : fail(errc::timeout_error, "DHCP: no answer from a DHCP server");
    }
    board.sleep_ms(poll_ms);
  }
}

error DHCP::maintain_dhcp_lease(bool blocking) {
  hal& board = m_eth.board();
  if (!blocking) return step(board.millis());
  for (;;) {
    const error e = step(board.millis());
    if (m_state == STATE_BOUND || e) return e;
    board.sleep_ms(poll_ms);
  }
}

}  // namespace wiznet5k
