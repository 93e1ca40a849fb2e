#include "wizsim/harness/peer.hpp"

#include <algorithm>
#include <stdexcept>

namespace wizsim {

namespace {

bool seq_lt(std::uint32_t a, std::uint32_t b) { return static_cast<std::int32_t>(a - b) < 0; }
bool seq_le(std::uint32_t a, std::uint32_t b) { return static_cast<std::int32_t>(a - b) <= 0; }

std::uint64_t name_seed(std::uint64_t seed, const std::string& name) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  return seed ^ (h * 0x9E3779B97F4A7C15ull);
}

bool is_multicast(ip4_addr a) { return (a >> 28) == 0xE; }
mac_addr multicast_mac(ip4_addr g) {
  return {0x01, 0x00, 0x5E, static_cast<std::uint8_t>((g >> 16) & 0x7F), static_cast<std::uint8_t>(g >> 8),
          static_cast<std::uint8_t>(g)};
}

std::string flag_string(std::uint8_t f) {
  std::string s;
  if (f & TCP_SYN) s += "S";
  if (f & TCP_FIN) s += "F";
  if (f & TCP_RST) s += "R";
  if (f & TCP_PSH) s += "P";
  if (f & TCP_ACK) s += ".";
  return s;
}

}  // namespace

const char* to_string(tcp_state s) {
  switch (s) {
    case tcp_state::closed: return "CLOSED";
    case tcp_state::listen: return "LISTEN";
    case tcp_state::syn_sent: return "SYN_SENT";
    case tcp_state::syn_received: return "SYN_RECEIVED";
    case tcp_state::established: return "ESTABLISHED";
    case tcp_state::fin_wait_1: return "FIN_WAIT_1";
    case tcp_state::fin_wait_2: return "FIN_WAIT_2";
    case tcp_state::closing: return "CLOSING";
    case tcp_state::time_wait: return "TIME_WAIT";
    case tcp_state::close_wait: return "CLOSE_WAIT";
    case tcp_state::last_ack: return "LAST_ACK";
  }
  return "?";
}

// =====================================================================================================
// peer_host
// =====================================================================================================

peer_host::peer_host(segment& seg, peer_config cfg)
    : m_seg(seg),
      m_cfg(std::move(cfg)),
      m_port(-1),
      m_diag(seg.name() + "." + m_cfg.name, seg.sched().clock()),
      m_rng(name_seed(seg.seed(), m_cfg.name)),
      m_alive(std::make_shared<bool>(true)) {
  if (m_cfg.mac[0] & 1)
    throw std::invalid_argument("peer " + m_cfg.name + ": MAC " + to_string(m_cfg.mac) + " is a group address");
  if (m_cfg.tcp_mss < 64 || m_cfg.tcp_mss > 1460)
    throw std::invalid_argument("peer " + m_cfg.name + ": tcp_mss must be within 64..1460");
  if (m_cfg.tcp_rto_min == 0 || m_cfg.tcp_rto_initial < m_cfg.tcp_rto_min || m_cfg.tcp_rto_max < m_cfg.tcp_rto_initial)
    throw std::invalid_argument("peer " + m_cfg.name + ": need 0 < tcp_rto_min <= tcp_rto_initial <= tcp_rto_max");
  if (m_cfg.tcp_max_retries < 1) throw std::invalid_argument("peer " + m_cfg.name + ": tcp_max_retries must be >= 1");
  m_seg.adopt(m_diag);
  std::weak_ptr<bool> alive = m_alive;
  m_port = m_seg.attach(m_cfg.name, [this, alive](const octets& f) {
    if (alive.lock()) receive(f);
  }, m_cfg.link);
  m_next_ephemeral = static_cast<std::uint16_t>(49152 + m_rng.below(16384));
}

peer_host::~peer_host() {
  *m_alive = false;
  // Connections that services still hold go dead with the host: no timers, no callbacks, no sends.
  for (auto& [k, c] : m_conns) {
    (void)k;
    for (auto* t : {&c->m_rto_timer, &c->m_persist_timer, &c->m_ack_timer, &c->m_tw_timer}) sched().cancel(*t);
    c->m_finished = true;
    c->m_state = tcp_state::closed;
    c->m_close_reason = "host destroyed";
  }
  m_seg.detach(m_port);
  m_seg.disown(m_diag);
}

void peer_host::set_ip(ip4_addr ip, ip4_addr netmask, ip4_addr gateway) {
  m_cfg.ip = ip;
  m_cfg.netmask = netmask;
  m_cfg.gateway = gateway;
}

void peer_host::arp_add(ip4_addr ip, const mac_addr& mac) { m_arp[ip] = mac; }

std::optional<mac_addr> peer_host::arp_lookup(ip4_addr ip) const {
  auto it = m_arp.find(ip);
  if (it == m_arp.end()) return std::nullopt;
  return it->second;
}

void peer_host::join_multicast(ip4_addr group) {
  if (!is_multicast(group)) throw std::invalid_argument("peer " + m_cfg.name + ": " + to_string(group) + " is not multicast");
  if (std::find(m_groups.begin(), m_groups.end(), group) == m_groups.end()) m_groups.push_back(group);
}

std::uint16_t peer_host::ephemeral_port() {
  for (int i = 0; i < 16384; ++i) {
    const std::uint16_t p = m_next_ephemeral;
    m_next_ephemeral = static_cast<std::uint16_t>(p == 65535 ? 49152 : p + 1);
    bool used = m_udp.count(p) != 0 || m_listen.count(p) != 0;
    for (auto& [k, c] : m_conns) used = used || k.lport == p;
    if (!used) return p;
  }
  throw std::runtime_error("peer " + m_cfg.name + ": no free ephemeral port");
}

std::uint32_t peer_host::random32() { return static_cast<std::uint32_t>(m_rng.next() >> 32); }

bool peer_host::is_local_dst(ip4_addr dst) const {
  if (dst == 0xFFFFFFFFu) return true;
  if (m_cfg.ip != 0 && dst == m_cfg.ip) return true;
  if (m_cfg.ip != 0 && dst == ((m_cfg.ip & m_cfg.netmask) | ~m_cfg.netmask)) return true;
  return is_multicast(dst) && std::find(m_groups.begin(), m_groups.end(), dst) != m_groups.end();
}

ip4_addr peer_host::next_hop(ip4_addr dst) const {
  if ((dst & m_cfg.netmask) == (m_cfg.ip & m_cfg.netmask)) return dst;
  return m_cfg.gateway;
}

// ---- frames in ------------------------------------------------------------------------------------------

void peer_host::receive(const octets& frame) {
  auto eth = parse_eth(frame.data(), frame.size());
  if (!eth) {
    ++m_stats.malformed;
    return;
  }
  const bool for_us = eth->dst == m_cfg.mac || eth->dst == broadcast_mac ||
                      (eth->dst[0] == 0x01 && eth->dst[1] == 0x00 && eth->dst[2] == 0x5E &&
                       std::any_of(m_groups.begin(), m_groups.end(),
                                   [&](ip4_addr g) { return multicast_mac(g) == eth->dst; }));
  if (!for_us) {
    ++m_stats.ignored;
    return;
  }
  ++m_stats.frames_in;
  if (on_frame && on_frame(*eth, frame)) return;
  if (eth->ethertype == ethertype_arp) on_arp(*eth);
  else if (eth->ethertype == ethertype_ipv4) on_ipv4(*eth, frame);
  else ++m_stats.ignored;
}

void peer_host::on_arp(const eth_view& eth) {
  auto arp = parse_arp(eth.payload, eth.payload_len);
  if (!arp) {
    ++m_stats.malformed;
    m_diag.guest_error("arp", "malformed ARP from {}", to_string(eth.src));
    return;
  }
  if (arp->spa != 0 && !(arp->sha[0] & 1)) {
    m_arp[arp->spa] = arp->sha;
    auto it = m_arp_pending.find(arp->spa);
    if (it != m_arp_pending.end()) {
      sched().cancel(it->second.timer);
      auto packets = std::move(it->second.packets);
      m_arp_pending.erase(it);
      for (auto& p : packets) {
        ++m_stats.frames_out;
        m_seg.transmit(m_port, build_eth(arp->sha, m_cfg.mac, ethertype_ipv4, p));
      }
    }
  }
  if (arp->op == arp_request && m_cfg.ip != 0 && arp->tpa == m_cfg.ip) {
    ++m_stats.arp_replies;
    send_frame(build_eth(arp->sha, m_cfg.mac, ethertype_arp,
                         build_arp(arp_reply, m_cfg.mac, m_cfg.ip, arp->sha, arp->spa)));
  }
}

void peer_host::on_ipv4(const eth_view& eth, const octets&) {
  auto ip = parse_ipv4(eth.payload, eth.payload_len);
  if (!ip || !ip->checksum_ok) {
    ++m_stats.malformed;
    m_diag.log(log_level::debug, "ip", "dropped a malformed IPv4 packet from {}", to_string(eth.src));
    return;
  }
  if (!is_local_dst(ip->h.dst)) {
    ++m_stats.ignored;
    return;
  }
  if (ip->is_fragment) {
    ++m_stats.ignored;
    m_diag.unimplemented("ip", "fragment from {} ignored (no reassembly)", to_string(ip->h.src));
    return;
  }
  switch (ip->h.proto) {
    case ip_proto_icmp: {
      auto icmp = parse_icmp(ip->payload, ip->payload_len);
      if (!icmp || !icmp->checksum_ok) {
        ++m_stats.malformed;
        return;
      }
      if (on_icmp) on_icmp(ip->h.src, *icmp);
      if (icmp->type == 8 && icmp->code == 0 && m_cfg.answer_ping && ip->h.dst == m_cfg.ip) {
        ++m_stats.icmp_echo_replies;
        send_ip(ip->h.src, ip_proto_icmp,
                build_icmp(0, 0, icmp->rest, octets(icmp->payload, icmp->payload + icmp->payload_len)));
      } else if (icmp->type == 0) {
        auto it = m_pings.find(icmp->rest);
        if (it != m_pings.end()) {
          auto w = std::move(it->second);
          m_pings.erase(it);
          sched().cancel(w.timer);
          if (m_diag.tracing())
            m_diag.trace("ping", fmt::format(R"("peer":"{}","from":"{}","rtt_ps":{})", json_escape(m_cfg.name),
                                             to_string(ip->h.src), sched().now() - w.sent));
          if (w.done) w.done(sched().now() - w.sent);
        }
      }
      return;
    }
    case ip_proto_udp: on_udp(eth, *ip); return;
    case ip_proto_tcp:
      if (ip->h.dst == m_cfg.ip && m_cfg.ip != 0) on_tcp(*ip);
      return;
    default: ++m_stats.ignored; return;
  }
}

void peer_host::on_udp(const eth_view& eth, const ipv4_view& ip) {
  auto udp = parse_udp(ip.payload, ip.payload_len, ip.h.src, ip.h.dst);
  if (!udp || !udp->checksum_ok) {
    ++m_stats.malformed;
    m_diag.log(log_level::debug, "udp", "dropped a malformed UDP datagram from {}", to_string(ip.h.src));
    return;
  }
  ++m_stats.udp_in;
  auto it = m_udp.find(udp->dst_port);
  if (it == m_udp.end()) {
    ++m_stats.udp_no_port;
    if (m_cfg.send_port_unreachable && ip.h.dst == m_cfg.ip && m_cfg.ip != 0) {
      // ICMP destination unreachable / port unreachable quotes the IP header and 8 octets.
      const std::size_t hl = static_cast<std::size_t>(ip.ihl) * 4;
      const std::uint8_t* hdr = ip.payload - hl;
      octets quote(hdr, hdr + hl + std::min<std::size_t>(8, ip.payload_len));
      send_ip(ip.h.src, ip_proto_icmp, build_icmp(3, 3, 0, quote));
    }
    return;
  }
  udp_datagram d;
  d.src = ip.h.src;
  d.dst = ip.h.dst;
  d.src_port = udp->src_port;
  d.dst_port = udp->dst_port;
  d.src_mac = eth.src;
  d.payload.assign(udp->payload, udp->payload + udp->payload_len);
  auto handler = it->second;  // the handler may unbind itself
  handler(d);
}

void peer_host::on_tcp(const ipv4_view& ip) {
  auto seg = parse_tcp(ip.payload, ip.payload_len, ip.h.src, ip.h.dst);
  if (!seg || !seg->checksum_ok) {
    ++m_stats.malformed;
    m_diag.log(log_level::debug, "tcp", "dropped a malformed TCP segment from {}", to_string(ip.h.src));
    return;
  }
  const conn_key key{ip.h.src, seg->h.src_port, seg->h.dst_port};
  auto it = m_conns.find(key);
  if (it != m_conns.end()) {
    tcp_ptr c = it->second;  // keep alive through the call
    c->segment_arrived(*seg);
    return;
  }
  const std::uint8_t f = seg->h.flags;
  auto lit = m_listen.find(seg->h.dst_port);
  if (lit != m_listen.end() && (f & TCP_SYN) && !(f & (TCP_ACK | TCP_RST | TCP_FIN))) {
    auto c = std::make_shared<tcp_connection>(*this, ip.h.src, seg->h.src_port, seg->h.dst_port);
    m_conns[key] = c;
    c->m_accept = lit->second;
    c->start_accept(*seg);
    return;
  }
  if (f & TCP_RST) return;
  if (m_cfg.reset_closed_ports) send_rst_for(ip, *seg);
}

void peer_host::send_rst_for(const ipv4_view& ip, const tcp_view& seg) {
  const tcp_fields h = tcp_reset_for(seg);
  ++m_stats.tcp_resets_sent;
  send_ip(ip.h.src, ip_proto_tcp, build_tcp(m_cfg.ip, ip.h.src, h, {}));
}

// ---- frames out -----------------------------------------------------------------------------------------

void peer_host::send_frame(octets frame) {
  ++m_stats.frames_out;
  m_seg.transmit(m_port, std::move(frame));
}

void peer_host::send_ip(ip4_addr dst, std::uint8_t proto, const octets& payload, std::uint8_t ttl) {
  ipv4_fields h;
  h.src = m_cfg.ip;
  h.dst = dst;
  h.proto = proto;
  h.ttl = is_multicast(dst) ? 1 : ttl;
  h.id = m_ip_id++;
  octets packet = build_ipv4(h, payload);
  const ip4_addr subnet_bcast = (m_cfg.ip & m_cfg.netmask) | ~m_cfg.netmask;
  if (dst == 0xFFFFFFFFu || (m_cfg.ip != 0 && dst == subnet_bcast)) {
    send_frame(build_eth(broadcast_mac, m_cfg.mac, ethertype_ipv4, packet));
    return;
  }
  if (is_multicast(dst)) {
    send_frame(build_eth(multicast_mac(dst), m_cfg.mac, ethertype_ipv4, packet));
    return;
  }
  const ip4_addr hop = next_hop(dst);
  if (hop == 0) {
    m_diag.log(log_level::warn, "ip", "no route to {} (off-subnet and no gateway): dropped", to_string(dst));
    return;
  }
  resolve_and_send(hop, std::move(packet));
}

void peer_host::send_via_mac(const mac_addr& mac, ip4_addr dst, std::uint8_t proto, const octets& payload,
                             std::uint8_t ttl, ip4_addr src) {
  ipv4_fields h;
  h.src = src;
  h.dst = dst;
  h.proto = proto;
  h.ttl = ttl;
  h.id = m_ip_id++;
  send_frame(build_eth(mac, m_cfg.mac, ethertype_ipv4, build_ipv4(h, payload)));
}

void peer_host::resolve_and_send(ip4_addr hop, octets packet) {
  if (auto mac = arp_lookup(hop)) {
    send_frame(build_eth(*mac, m_cfg.mac, ethertype_ipv4, packet));
    return;
  }
  auto& p = m_arp_pending[hop];
  p.packets.push_back(std::move(packet));
  if (p.packets.size() == 1 && p.tries == 0) send_arp_request(hop);
}

void peer_host::send_arp_request(ip4_addr target) {
  auto it = m_arp_pending.find(target);
  if (it == m_arp_pending.end()) return;
  if (it->second.tries >= 3) {
    m_diag.log(log_level::warn, "arp", "{} did not answer 3 ARP requests: {} packet(s) dropped", to_string(target),
               it->second.packets.size());
    m_arp_pending.erase(it);
    return;
  }
  ++it->second.tries;
  ++m_stats.arp_requests;
  send_frame(build_eth(broadcast_mac, m_cfg.mac, ethertype_arp,
                       build_arp(arp_request, m_cfg.mac, m_cfg.ip, mac_addr{}, target)));
  std::weak_ptr<bool> alive = m_alive;
  it->second.timer = sched().after(m_cfg.arp_timeout, [this, alive, target] {
    if (alive.lock()) send_arp_request(target);
  });
}

// ---- UDP ------------------------------------------------------------------------------------------------

// Registers a handler on a port: 0 and a port already taken are configuration errors.
template <typename Map, typename Handler>
static void claim_port(Map& map, std::uint16_t port, Handler h, const std::string& host, const char* what) {
  if (port == 0) throw std::invalid_argument(fmt::format("peer {}: {} port 0 cannot be used", host, what));
  if (map.count(port)) throw std::invalid_argument(fmt::format("peer {}: {} port {} is already taken", host, what, port));
  map[port] = std::move(h);
}

void peer_host::udp_bind(std::uint16_t port, udp_handler h) { claim_port(m_udp, port, std::move(h), m_cfg.name, "UDP"); }

void peer_host::udp_unbind(std::uint16_t port) { m_udp.erase(port); }

void peer_host::udp_send(ip4_addr dst, std::uint16_t dst_port, std::uint16_t src_port, const octets& payload) {
  ++m_stats.udp_out;
  send_ip(dst, ip_proto_udp, build_udp(m_cfg.ip, dst, src_port, dst_port, payload));
}

void peer_host::udp_send_to_mac(const mac_addr& dst_mac, ip4_addr src, ip4_addr dst, std::uint16_t dst_port,
                                std::uint16_t src_port, const octets& payload) {
  ++m_stats.udp_out;
  send_via_mac(dst_mac, dst, ip_proto_udp, build_udp(src, dst, src_port, dst_port, payload), 64, src);
}

// ---- ICMP -----------------------------------------------------------------------------------------------

void peer_host::ping(ip4_addr dst, std::uint16_t seq, std::size_t payload_len, ps_t timeout,
                     std::function<void(std::optional<ps_t>)> done) {
  const std::uint16_t id = static_cast<std::uint16_t>(0x7700 | (m_port & 0xFF));
  const std::uint32_t key = static_cast<std::uint32_t>(id) << 16 | seq;
  octets data(payload_len);
  for (std::size_t i = 0; i < payload_len; ++i) data[i] = static_cast<std::uint8_t>(0x20 + i % 64);
  if (auto old = m_pings.find(key); old != m_pings.end()) sched().cancel(old->second.timer);
  std::weak_ptr<bool> alive = m_alive;
  auto timer = sched().after(timeout, [this, alive, key] {
    if (!alive.lock()) return;
    auto it = m_pings.find(key);
    if (it == m_pings.end()) return;
    auto w = std::move(it->second);
    m_pings.erase(it);
    if (w.done) w.done(std::nullopt);
  });
  m_pings[key] = ping_wait{std::move(done), sched().now(), timer};
  send_ip(dst, ip_proto_icmp, build_icmp(8, 0, key, data));
}

// ---- TCP ------------------------------------------------------------------------------------------------

void peer_host::tcp_listen(std::uint16_t port, accept_handler on_accept) {
  claim_port(m_listen, port, std::move(on_accept), m_cfg.name, "TCP");
}

void peer_host::tcp_unlisten(std::uint16_t port) { m_listen.erase(port); }

tcp_ptr peer_host::tcp_connect(ip4_addr dst, std::uint16_t dst_port, std::uint16_t local_port) {
  if (m_cfg.ip == 0) throw std::logic_error("peer " + m_cfg.name + ": tcp_connect without an IP address");
  if (local_port == 0) local_port = ephemeral_port();
  const conn_key key{dst, dst_port, local_port};
  if (m_conns.count(key))
    throw std::invalid_argument(fmt::format("peer {}: a connection {}:{} <- :{} already exists", m_cfg.name,
                                            to_string(dst), dst_port, local_port));
  auto c = std::make_shared<tcp_connection>(*this, dst, dst_port, local_port);
  m_conns[key] = c;
  std::weak_ptr<tcp_connection> w = c;
  sched().after(0, [w] {
    if (auto s = w.lock()) s->start_connect();
  });
  return c;
}

std::vector<tcp_ptr> peer_host::connections() const {
  std::vector<tcp_ptr> v;
  for (auto& [k, c] : m_conns) {
    (void)k;
    v.push_back(c);
  }
  return v;
}

void peer_host::drop_connection(const tcp_connection* c) {
  for (auto it = m_conns.begin(); it != m_conns.end(); ++it)
    if (it->second.get() == c) {
      m_conns.erase(it);
      return;
    }
}

// =====================================================================================================
// tcp_connection
// =====================================================================================================

tcp_connection::tcp_connection(peer_host& h, ip4_addr rip, std::uint16_t rport, std::uint16_t lport)
    : m_host(h), m_rip(rip), m_rport(rport), m_lport(lport) {
  m_rcv_wnd_cfg = h.config().tcp_window;
  m_rto = h.config().tcp_rto_initial;
  m_cwnd = 10u * h.config().tcp_mss;
  m_ssthresh = 0xFFFFFFFFu;
}

tcp_connection::~tcp_connection() {
  auto& s = m_host.sched();
  for (auto* t : {&m_rto_timer, &m_persist_timer, &m_ack_timer, &m_tw_timer}) s.cancel(*t);
}

void tcp_connection::post(std::function<void()> fn) {
  std::weak_ptr<tcp_connection> w = weak_from_this();
  m_host.sched().after(0, [w, fn = std::move(fn)] {
    if (w.lock()) fn();
  });
}

void tcp_connection::set_state(tcp_state s) {
  if (s == m_state) return;
  auto& d = m_host.log();
  d.log(log_level::debug, "tcp", "{}:{} <-> {}:{} {} -> {}", to_string(m_host.ip()), m_lport, to_string(m_rip), m_rport,
        to_string(m_state), to_string(s));
  if (d.tracing())
    d.trace("tcp_state", fmt::format(R"("local":"{}:{}","remote":"{}:{}","from":"{}","to":"{}")",
                                     to_string(m_host.ip()), m_lport, to_string(m_rip), m_rport, to_string(m_state),
                                     to_string(s)));
  m_state = s;
}

std::size_t tcp_connection::unsent() const {
  const std::size_t sent = m_snd_nxt - m_snd_una - ((m_state == tcp_state::syn_sent || m_state == tcp_state::syn_received) ? 1 : 0);
  const std::size_t data_sent = std::min(sent, m_sendq.size());
  return m_sendq.size() - data_sent;
}

std::size_t tcp_connection::in_flight() const { return static_cast<std::size_t>(m_snd_nxt - m_snd_una); }

std::uint16_t tcp_connection::advertised_window() const {
  if (m_rcv_buf.size() >= m_rcv_wnd_cfg) return 0;
  return static_cast<std::uint16_t>(m_rcv_wnd_cfg - m_rcv_buf.size());
}

std::uint16_t tcp_connection::effective_mss() const {
  return std::min<std::uint16_t>(m_peer_mss, m_host.config().tcp_mss);
}

void tcp_connection::send_segment(std::uint8_t flags, std::uint32_t seq, const std::uint8_t* data, std::size_t n,
                                  bool with_mss) {
  tcp_fields h;
  h.src_port = m_lport;
  h.dst_port = m_rport;
  h.seq = seq;
  h.ack = (flags & TCP_ACK) ? m_rcv_nxt : 0;
  h.flags = flags;
  h.window = advertised_window();
  if (with_mss) h.mss = m_host.config().tcp_mss;
  octets payload(data, data + n);
  ++m_stats.segments_sent;
  auto& d = m_host.log();
  if (d.enabled(log_level::debug))
    d.log(log_level::debug, "tcp", ":{} -> {}:{} [{}] seq={} ack={} win={} len={}", m_lport, to_string(m_rip), m_rport,
          flag_string(flags), seq, h.ack, h.window, n);
  if (flags & TCP_ACK) {
    m_last_ack_sent = m_rcv_nxt;
    m_host.sched().cancel(m_ack_timer);
    m_ack_timer = {};
    m_unacked_segments = 0;
  }
  m_host.send_ip(m_rip, ip_proto_tcp, build_tcp(m_host.ip(), m_rip, h, payload));
}

void tcp_connection::send_ack() { send_segment(TCP_ACK, m_snd_nxt, nullptr, 0); }

void tcp_connection::start_connect() {
  if (m_state != tcp_state::closed || m_finished) return;
  m_iss = m_host.random32();
  m_snd_una = m_iss;
  m_snd_nxt = m_iss + 1;
  m_snd_max = m_snd_nxt;
  set_state(tcp_state::syn_sent);
  send_segment(TCP_SYN, m_iss, nullptr, 0, true);
  arm_rto();
}

void tcp_connection::start_accept(const tcp_view& syn) {
  m_irs = syn.h.seq;
  m_rcv_nxt = m_irs + 1;
  m_peer_mss = syn.h.mss.value_or(536);
  m_snd_wnd = syn.h.window;
  m_iss = m_host.random32();
  m_snd_una = m_iss;
  m_snd_nxt = m_iss + 1;
  m_snd_max = m_snd_nxt;
  set_state(tcp_state::syn_received);
  send_segment(TCP_SYN | TCP_ACK, m_iss, nullptr, 0, true);
  arm_rto();
}

void tcp_connection::arm_rto() {
  auto& s = m_host.sched();
  s.cancel(m_rto_timer);
  std::weak_ptr<tcp_connection> w = weak_from_this();
  m_rto_timer = s.after(m_rto, [w] {
    if (auto c = w.lock()) c->on_rto();
  });
}

void tcp_connection::on_rto() {
  m_rto_timer = {};
  if (m_finished) return;
  if (m_snd_una == m_snd_nxt && m_state != tcp_state::syn_sent && m_state != tcp_state::syn_received) return;
  if (++m_retries > m_host.config().tcp_max_retries) {
    m_host.log().log(log_level::info, "tcp", "{}:{} <-> {}:{} gave up after {} retransmissions", to_string(m_host.ip()),
                     m_lport, to_string(m_rip), m_rport, m_retries - 1);
    finish("retransmission timeout");
    return;
  }
  m_rto = std::min(m_rto * 2, m_host.config().tcp_rto_max);
  m_timing = false;  // Karn: no RTT sample from a retransmitted segment
  const std::uint32_t flight = m_snd_nxt - m_snd_una;
  m_ssthresh = std::max<std::uint32_t>(flight / 2, 2u * effective_mss());
  m_cwnd = effective_mss();
  retransmit_oldest();
  arm_rto();
}

void tcp_connection::retransmit_oldest() {
  ++m_stats.retransmissions;
  if (m_state == tcp_state::syn_sent) {
    send_segment(TCP_SYN, m_iss, nullptr, 0, true);
    return;
  }
  if (m_state == tcp_state::syn_received) {
    send_segment(TCP_SYN | TCP_ACK, m_iss, nullptr, 0, true);
    return;
  }
  // Go back to the oldest unacknowledged octet; output() resends from there as the window allows.
  m_snd_nxt = m_snd_una;
  if (m_fin_sent && m_snd_una == m_fin_seq) {
    send_segment(TCP_FIN | TCP_ACK, m_fin_seq, nullptr, 0);
    m_snd_nxt = m_fin_seq + 1;
    return;
  }
  const std::size_t n = std::min<std::size_t>({effective_mss(), m_sendq.size(), std::max<std::size_t>(m_snd_wnd, 1)});
  if (n > 0) {
    octets chunk(m_sendq.begin(), m_sendq.begin() + static_cast<std::ptrdiff_t>(n));
    std::uint8_t flags = TCP_ACK | TCP_PSH;
    const bool fin_too = m_fin_sent && m_snd_una + n == m_fin_seq;
    if (fin_too) flags |= TCP_FIN;
    send_segment(flags, m_snd_una, chunk.data(), n);
    m_snd_nxt = m_snd_una + static_cast<std::uint32_t>(n) + (fin_too ? 1 : 0);
  }
}

void tcp_connection::arm_persist() {
  if (m_persist_timer) return;
  auto& s = m_host.sched();
  std::weak_ptr<tcp_connection> w = weak_from_this();
  m_persist_timer = s.after(m_persist_interval ? m_persist_interval : m_rto, [w] {
    if (auto c = w.lock()) c->on_persist();
  });
}

void tcp_connection::on_persist() {
  m_persist_timer = {};
  if (m_finished) return;
  if (m_snd_wnd != 0 || unsent() == 0) {
    m_persist_interval = 0;
    return;
  }
  // A window probe: an ACK carrying an already-acknowledged sequence number makes the receiver answer
  // with its current window without consuming anything (the probe never counts as a retransmission,
  // so a receiver that keeps its window closed never makes us give up).
  ++m_stats.zero_window_probes;
  send_segment(TCP_ACK, m_snd_una - 1, nullptr, 0);
  m_persist_interval = std::min((m_persist_interval ? m_persist_interval : m_rto) * 2, m_host.config().tcp_rto_max);
  arm_persist();
}

void tcp_connection::output() {
  if (m_finished) return;
  const bool can_send_data = m_state == tcp_state::established || m_state == tcp_state::close_wait;
  if (can_send_data) {
    const std::uint16_t mss = effective_mss();
    while (true) {
      const std::uint32_t offset = m_snd_nxt - m_snd_una;
      if (offset >= m_sendq.size()) break;
      const std::uint32_t wnd = std::min<std::uint32_t>(m_snd_wnd, m_cwnd);
      const std::uint32_t usable = wnd > offset ? wnd - offset : 0;
      if (usable == 0) break;
      const std::size_t n = std::min<std::size_t>({mss, m_sendq.size() - offset, usable});
      octets chunk(m_sendq.begin() + offset, m_sendq.begin() + offset + static_cast<std::ptrdiff_t>(n));
      const bool retrans = seq_lt(m_snd_nxt, m_snd_max);
      if (retrans) ++m_stats.retransmissions;
      const bool last = offset + n == m_sendq.size();
      send_segment(static_cast<std::uint8_t>(TCP_ACK | (last ? TCP_PSH : 0)), m_snd_nxt, chunk.data(), n);
      if (!retrans) m_stats.bytes_sent += n;
      if (!m_timing && !retrans) {
        m_timing = true;
        m_rtt_seq = m_snd_nxt + static_cast<std::uint32_t>(n);
        m_rtt_start = m_host.sched().now();
      }
      m_snd_nxt += static_cast<std::uint32_t>(n);
      if (seq_lt(m_snd_max, m_snd_nxt)) m_snd_max = m_snd_nxt;
      if (!m_rto_timer) arm_rto();
    }
    if (unsent() > 0 && m_snd_wnd == 0 && m_snd_nxt == m_snd_una) arm_persist();
  }
  // FIN once everything queued has been sent.
  if (m_close_requested && can_send_data && m_snd_nxt - m_snd_una == m_sendq.size()) {
    if (!m_fin_sent) {
      m_fin_sent = true;
      m_fin_seq = m_snd_nxt;
      set_state(m_state == tcp_state::established ? tcp_state::fin_wait_1 : tcp_state::last_ack);
    }
    send_segment(TCP_FIN | TCP_ACK, m_fin_seq, nullptr, 0);
    m_snd_nxt = m_fin_seq + 1;
    if (seq_lt(m_snd_max, m_snd_nxt)) m_snd_max = m_snd_nxt;
    if (!m_rto_timer) arm_rto();
  } else if (m_fin_sent && m_snd_nxt == m_fin_seq && m_snd_nxt - m_snd_una == m_sendq.size() &&
             (m_state == tcp_state::fin_wait_1 || m_state == tcp_state::last_ack || m_state == tcp_state::closing)) {
    // Resending after a go-back: the FIN follows the data again.
    send_segment(TCP_FIN | TCP_ACK, m_fin_seq, nullptr, 0);
    m_snd_nxt = m_fin_seq + 1;
    if (!m_rto_timer) arm_rto();
  }
}

void tcp_connection::send(const octets& data) {
  if (m_close_requested || m_finished) {
    m_host.log().guest_error("tcp", "send of {} octets on a connection that is closing or closed: ignored",
                             data.size());
    return;
  }
  m_sendq.insert(m_sendq.end(), data.begin(), data.end());
  output();
}

void tcp_connection::send(std::string_view data) {
  send(octets(reinterpret_cast<const std::uint8_t*>(data.data()),
              reinterpret_cast<const std::uint8_t*>(data.data()) + data.size()));
}

void tcp_connection::close() {
  if (m_close_requested || m_finished) return;
  m_close_requested = true;
  if (m_state == tcp_state::syn_sent) {
    finish("closed before connecting");
    return;
  }
  output();
}

void tcp_connection::abort() {
  if (m_finished) return;
  if (m_state != tcp_state::closed && m_state != tcp_state::syn_sent && m_state != tcp_state::time_wait)
    send_segment(TCP_RST | TCP_ACK, m_snd_nxt, nullptr, 0);
  finish("aborted");
}

void tcp_connection::pause_reading(bool paused) {
  if (m_paused == paused) return;
  m_paused = paused;
  // A FIN held back behind data is pending too: the reader may have paused again inside the on_data of
  // the flush that delivered that data, with nothing left buffered.
  if (!paused && (!m_rcv_buf.empty() || m_peer_fin_pending)) {
    post([this] { flush_received(); });
  }
}

void tcp_connection::flush_received() {
  if (m_paused) return;
  const bool was_closed = advertised_window() < effective_mss();
  if (!m_rcv_buf.empty()) {
    octets data;
    data.swap(m_rcv_buf);
    if (on_data) on_data(data);
  }
  if (m_peer_fin_pending && !m_paused && m_rcv_buf.empty()) {
    m_peer_fin_pending = false;
    if (on_peer_fin) on_peer_fin();
  }
  // Window update: the application made room.
  if (was_closed && !m_finished && m_state != tcp_state::closed) send_ack();
}

void tcp_connection::set_receive_window(std::uint16_t w) { m_rcv_wnd_cfg = w; }

void tcp_connection::deliver(const std::uint8_t* p, std::size_t n) {
  m_stats.bytes_received += n;
  if (m_paused || !m_rcv_buf.empty()) {
    m_rcv_buf.insert(m_rcv_buf.end(), p, p + n);
    return;
  }
  if (on_data) on_data(octets(p, p + n));
}

void tcp_connection::finish(const std::string& reason, bool notify) {
  if (m_finished) return;
  m_finished = true;
  auto self = shared_from_this();
  auto& s = m_host.sched();
  for (auto* t : {&m_rto_timer, &m_persist_timer, &m_ack_timer, &m_tw_timer}) {
    s.cancel(*t);
    *t = {};
  }
  m_close_reason = reason;
  set_state(tcp_state::closed);
  m_host.drop_connection(this);
  if (notify && on_closed) {
    auto cb = on_closed;
    s.after(0, [self, cb, reason] { cb(reason); });
  }
}

void tcp_connection::segment_arrived(const tcp_view& seg) {
  if (m_finished) return;
  ++m_stats.segments_received;
  const std::uint8_t f = seg.h.flags;
  auto self = shared_from_this();

  if (m_state == tcp_state::syn_sent) {
    if (f & TCP_ACK) {
      if (seg.h.ack != m_iss + 1) {
        if (!(f & TCP_RST)) send_segment(TCP_RST, seg.h.ack, nullptr, 0);
        return;
      }
      if (f & TCP_RST) {
        finish("connection refused");
        return;
      }
    } else if (f & TCP_RST) {
      return;
    }
    if (!(f & TCP_SYN)) return;
    if (!(f & TCP_ACK)) {
      m_host.log().unimplemented("tcp", "simultaneous open from {}:{}", to_string(m_rip), m_rport);
      return;
    }
    m_irs = seg.h.seq;
    m_rcv_nxt = m_irs + 1;
    m_peer_mss = seg.h.mss.value_or(536);
    m_snd_una = seg.h.ack;
    m_snd_wnd = seg.h.window;
    m_retries = 0;
    m_host.sched().cancel(m_rto_timer);
    m_rto_timer = {};
    set_state(tcp_state::established);
    send_ack();
    if (on_connected) on_connected();
    output();
    return;
  }

  // Sequence acceptability (RFC 793 §3.3, simplified: the segment must start within what we expect).
  const std::uint32_t wnd = std::max<std::uint32_t>(advertised_window(), 1);
  const bool acceptable = seq_le(m_rcv_nxt, seg.h.seq + static_cast<std::uint32_t>(seg.payload_len)) &&
                          seq_lt(seg.h.seq, m_rcv_nxt + wnd);

  if (f & TCP_RST) {
    if (seg.h.seq == m_rcv_nxt || (acceptable && seg.payload_len == 0)) {
      finish(m_state == tcp_state::syn_received ? "connection refused" : "connection reset by peer");
    }
    return;
  }
  if (f & TCP_SYN) {
    if (m_state == tcp_state::syn_received && seg.h.seq == m_irs) {
      send_segment(TCP_SYN | TCP_ACK, m_iss, nullptr, 0, true);  // our SYN-ACK was lost
      return;
    }
    if (seg.h.seq == m_irs) {  // a retransmitted SYN-ACK: our ACK was lost
      send_ack();
      return;
    }
    m_host.log().guest_error("tcp", "SYN inside an open connection from {}:{}: answered with an ACK",
                             to_string(m_rip), m_rport);
    send_ack();
    return;
  }
  if (!(f & TCP_ACK)) return;

  if (m_state == tcp_state::syn_received) {
    if (seg.h.ack != m_iss + 1) {
      send_segment(TCP_RST, seg.h.ack, nullptr, 0);
      return;
    }
    m_snd_una = seg.h.ack;
    m_snd_wnd = seg.h.window;
    m_retries = 0;
    m_host.sched().cancel(m_rto_timer);
    m_rto_timer = {};
    set_state(tcp_state::established);
    if (m_accept) {
      auto accept = std::move(m_accept);
      m_accept = nullptr;
      accept(self);
    }
    if (on_connected) on_connected();
  }

  // ---- ACK processing ----
  const std::uint32_t ack = seg.h.ack;
  // The window first: on_acked may send, and must see the window this segment advertises.
  const std::uint16_t old_wnd = m_snd_wnd;
  if (seq_le(m_snd_una, ack) && seq_le(ack, m_snd_max)) {
    const bool reopened = m_snd_wnd == 0 && seg.h.window != 0;
    m_snd_wnd = seg.h.window;
    if (reopened) {
      m_host.sched().cancel(m_persist_timer);
      m_persist_timer = {};
      m_persist_interval = 0;
    }
  }
  if (seq_lt(m_snd_una, ack) && seq_le(ack, m_snd_max)) {
    std::uint32_t acked = ack - m_snd_una;
    std::size_t data_acked = std::min<std::size_t>(acked, m_sendq.size());
    m_sendq.erase(m_sendq.begin(), m_sendq.begin() + static_cast<std::ptrdiff_t>(data_acked));
    m_snd_una = ack;
    if (seq_lt(m_snd_nxt, m_snd_una)) m_snd_nxt = m_snd_una;
    m_stats.bytes_acked += data_acked;
    m_dup_acks = 0;
    m_retries = 0;
    if (m_timing && seq_le(m_rtt_seq, ack)) {
      m_timing = false;
      const ps_t sample = m_host.sched().now() - m_rtt_start;
      if (m_srtt == 0) {
        m_srtt = sample;
        m_rttvar = sample / 2;
      } else {
        const ps_t diff = m_srtt > sample ? m_srtt - sample : sample - m_srtt;
        m_rttvar = (3 * m_rttvar + diff) / 4;
        m_srtt = (7 * m_srtt + sample) / 8;
      }
    }
    if (m_srtt != 0)
      m_rto = std::clamp(m_srtt + 4 * m_rttvar, m_host.config().tcp_rto_min, m_host.config().tcp_rto_max);
    const std::uint32_t mss = effective_mss();
    if (m_cwnd < m_ssthresh) m_cwnd += mss;
    else m_cwnd += std::max<std::uint32_t>(1, mss * mss / m_cwnd);
    m_host.sched().cancel(m_rto_timer);
    m_rto_timer = {};
    if (m_snd_una != m_snd_nxt) arm_rto();
    if (data_acked > 0 && on_acked) on_acked(data_acked);
    if (m_fin_sent && ack == m_fin_seq + 1) {
      if (m_state == tcp_state::fin_wait_1) set_state(tcp_state::fin_wait_2);
      else if (m_state == tcp_state::closing) enter_time_wait();
      else if (m_state == tcp_state::last_ack) {
        finish("closed");
        return;
      }
    }
  } else if (ack == m_snd_una && seg.payload_len == 0 && !(f & TCP_FIN) && m_snd_nxt != m_snd_una &&
             seg.h.window == old_wnd) {
    ++m_stats.duplicate_acks;
    if (++m_dup_acks == 3) {
      ++m_stats.fast_retransmissions;
      m_ssthresh = std::max<std::uint32_t>((m_snd_nxt - m_snd_una) / 2, 2u * effective_mss());
      retransmit_oldest();
      arm_rto();
    }
  } else if (seq_lt(m_snd_max, ack)) {
    send_ack();  // acknowledges something we never sent
    return;
  }

  // ---- data ----
  bool need_ack = false;
  bool force_ack = false;  // a duplicate ACK the sender needs even if we answered already
  const std::uint64_t sent_before = m_stats.segments_sent;
  std::size_t len = seg.payload_len;
  const std::uint8_t* data = seg.payload;
  std::uint32_t seq = seg.h.seq;
  const bool can_receive = m_state == tcp_state::established || m_state == tcp_state::fin_wait_1 ||
                           m_state == tcp_state::fin_wait_2;
  if (len > 0) {
    if (!can_receive) {
      need_ack = true;
    } else if (seq_lt(seq, m_rcv_nxt)) {
      const std::uint32_t dup = m_rcv_nxt - seq;
      if (dup >= len) {
        need_ack = force_ack = true;  // all old: the peer missed our ACK
        len = 0;
      } else {
        data += dup;
        len -= dup;
        seq = m_rcv_nxt;
      }
    }
    if (len > 0 && can_receive) {
      if (seq != m_rcv_nxt) {
        ++m_stats.out_of_order;  // no reassembly queue: the sender retransmits
        need_ack = force_ack = true;
        len = 0;
      } else {
        const std::size_t room = advertised_window();
        const std::size_t take = std::min(len, room);
        if (take < len) need_ack = force_ack = true;
        if (take > 0) {
          m_rcv_nxt += static_cast<std::uint32_t>(take);
          deliver(data, take);
          if (m_finished) return;
          ++m_unacked_segments;
          if (m_host.config().tcp_delayed_ack == 0 || m_unacked_segments >= 2) {
            need_ack = true;
          } else if (!m_ack_timer) {
            std::weak_ptr<tcp_connection> w = weak_from_this();
            m_ack_timer = m_host.sched().after(m_host.config().tcp_delayed_ack, [w] {
              if (auto c = w.lock()) {
                c->m_ack_timer = {};
                if (!c->m_finished) c->send_ack();
              }
            });
          }
        }
      }
    }
  }

  // ---- FIN ----
  if ((f & TCP_FIN) && seq_le(seg.h.seq + static_cast<std::uint32_t>(seg.payload_len), m_rcv_nxt)) {
    const std::uint32_t fin_seq = seg.h.seq + static_cast<std::uint32_t>(seg.payload_len);
    if (fin_seq == m_rcv_nxt && !m_fin_received) {
      m_fin_received = true;
      m_rcv_nxt += 1;
      need_ack = true;
      switch (m_state) {
        case tcp_state::established: set_state(tcp_state::close_wait); break;
        case tcp_state::fin_wait_1:
          if (m_fin_sent && m_snd_una == m_fin_seq + 1) enter_time_wait();
          else set_state(tcp_state::closing);
          break;
        case tcp_state::fin_wait_2: enter_time_wait(); break;
        default: break;
      }
      send_ack();
      need_ack = false;
      // Data held back by a paused reader comes first; its FIN is reported after it is delivered.
      if (!m_rcv_buf.empty()) m_peer_fin_pending = true;
      else if (on_peer_fin) on_peer_fin();
      if (m_finished) return;
    } else if (m_fin_received) {
      need_ack = force_ack = true;  // a retransmitted FIN: our ACK was lost
    }
  }
  // An application that answered from on_data already carried this acknowledgement on its data.
  const bool answered = m_stats.segments_sent > sent_before && m_last_ack_sent == m_rcv_nxt;
  if (need_ack && (force_ack || !answered)) send_ack();
  output();
}

void tcp_connection::enter_time_wait() {
  set_state(tcp_state::time_wait);
  auto& s = m_host.sched();
  s.cancel(m_rto_timer);
  m_rto_timer = {};
  std::weak_ptr<tcp_connection> w = weak_from_this();
  m_tw_timer = s.after(m_host.config().tcp_time_wait, [w] {
    if (auto c = w.lock()) {
      c->m_tw_timer = {};
      c->finish("closed");
    }
  });
}

}  // namespace wizsim
