#include "net_engine.hpp"

#include <algorithm>
#include <cstring>

namespace wizsim {

namespace {
// Common block offsets.
constexpr std::uint16_t MR = 0x00, GAR = 0x01, SUBR = 0x05, SHAR = 0x09, SIPR = 0x0F, RTR = 0x19, RCR = 0x1B,
                        UIPR = 0x28, UPORTR = 0x2C;
// Socket block offsets.
constexpr std::uint16_t Sn_MR = 0x00, Sn_SR = 0x03, Sn_PORT = 0x04, Sn_DHAR = 0x06, Sn_DIPR = 0x0C,
                        Sn_DPORT = 0x10, Sn_MSSR = 0x12, Sn_TOS = 0x15, Sn_TTL = 0x16, Sn_FRAG = 0x2D;
constexpr std::uint8_t MR_PB = 0x10, MR_FARP = 0x02;
constexpr std::uint8_t MACRAW_MFEN = 0x80, MACRAW_BCASTB = 0x40, MACRAW_MMB = 0x20, MACRAW_MIP6B = 0x10;
constexpr std::uint8_t UDP_BCASTB = 0x40;
constexpr std::uint8_t MR_WOL = 0x20, UDP_MULTI = 0x80, UDP_MC = 0x20, UDP_UCASTB = 0x10;  // spec §3.1, §4.1
constexpr std::uint16_t udp_max_mss = 1472;

bool is_ipv4_multicast_mac(const mac_addr& m) { return m[0] == 0x01 && m[1] == 0x00 && m[2] == 0x5E; }
bool is_ipv6_multicast_mac(const mac_addr& m) { return m[0] == 0x33 && m[1] == 0x33; }
std::string sock_path(int n) { return "sock" + std::to_string(n); }
}  // namespace

net_engine::net_engine(w5500& chip) : m_chip(chip), m_sched(chip.m_sched) {}

net_engine::~net_engine() {
  m_sched.cancel(m_tx_event);
  for (auto& s : m_sock) m_sched.cancel(s.arp_timer);
  for (int n = 0; n < num_sockets; ++n) tcp_reset_tcb(n);
}

// ---- chip register access ----------------------------------------------------------------------------------

ip4_addr net_engine::sipr() const { return get32(&m_chip.m_common[SIPR]); }
ip4_addr net_engine::subr() const { return get32(&m_chip.m_common[SUBR]); }
ip4_addr net_engine::gar() const { return get32(&m_chip.m_common[GAR]); }
mac_addr net_engine::shar() const {
  mac_addr m;
  std::memcpy(m.data(), &m_chip.m_common[SHAR], 6);
  return m;
}
ip4_addr net_engine::sn_dipr(int n) const { return get32(&m_chip.m_sock[n].regs[Sn_DIPR]); }
std::uint16_t net_engine::sn_port(int n) const { return get16(&m_chip.m_sock[n].regs[Sn_PORT]); }
std::uint16_t net_engine::sn_dport(int n) const { return get16(&m_chip.m_sock[n].regs[Sn_DPORT]); }
mac_addr net_engine::sn_dhar(int n) const {
  mac_addr m;
  std::memcpy(m.data(), &m_chip.m_sock[n].regs[Sn_DHAR], 6);
  return m;
}
void net_engine::set_sn_dhar(int n, const mac_addr& m) { std::memcpy(&m_chip.m_sock[n].regs[Sn_DHAR], m.data(), 6); }
std::uint8_t net_engine::sn_sr(int n) const { return m_chip.m_sock[n].regs[Sn_SR]; }
std::uint8_t net_engine::sn_mr(int n) const { return m_chip.m_sock[n].regs[Sn_MR]; }

ps_t net_engine::rtr_period() const {
  // RTR unit is 100 us; RTR = 0 acts as one tick (spec §3.4, U13 recommendation).
  const std::uint16_t rtr = get16(&m_chip.m_common[RTR]);
  return us(100) * std::max<std::uint16_t>(rtr, 1);
}
int net_engine::rcr() const { return m_chip.m_common[RCR]; }

bool net_engine::is_broadcast(ip4_addr a) const {
  if (a == 0xFFFFFFFFu) return true;
  const ip4_addr mask = subr();
  return mask != 0 && mask != 0xFFFFFFFFu && a == ((sipr() & mask) | ~mask);
}

// ---- Ethernet port ------------------------------------------------------------------------------------------

ps_t net_engine::wire_time(std::size_t frame_len) const {
  // Preamble+SFD (8) + frame padded to 60 + FCS (4) + inter-frame gap (12), at the negotiated speed.
  const std::uint64_t bits = (8 + std::max(frame_len, eth_min_frame) + 4 + 12) * 8ull;
  const bool fast = (m_chip.m_common[0x2E] & 0x02) != 0;
  return bits * (fast ? ns(10) : ns(100));
}

void net_engine::transmit(octets frame, std::function<void()> done) {
  m_txq.push_back(pending_tx{std::move(frame), std::move(done)});
  start_next_tx();
}

void net_engine::start_next_tx() {
  // While the link is down nothing leaves the chip and SEND never completes (ESP-IDF #6233).
  if (m_tx_busy || m_txq.empty() || !m_chip.link_up()) return;
  m_tx_busy = true;
  const ps_t start = m_sched.now();
  const ps_t end = start + wire_time(m_txq.front().frame.size());
  m_tx_event = m_sched.at(end, [this, start, end] {
    m_tx_event = {};
    pending_tx tx = std::move(m_txq.front());
    m_txq.pop_front();
    m_tx_busy = false;
    ++m_stats.tx_frames;
    if (m_chip.m_diag.tracing())
      m_chip.m_diag.trace("frame_tx", fmt::format(R"("start":{},"len":{},"data":"{}")", start, tx.frame.size(),
                                                  hex_bytes(tx.frame.data(), tx.frame.size())));
    if (on_transmit) on_transmit(w5500::wire_frame{tx.frame, start, end});
    if (tx.done) tx.done();
    start_next_tx();
  });
}

void net_engine::link_changed(bool up) {
  if (up) start_next_tx();
}

void net_engine::reset() {
  m_sched.cancel(m_tx_event);
  m_tx_event = {};
  m_tx_busy = false;
  m_txq.clear();
  for (int n = 0; n < num_sockets; ++n) socket_closed(n);
}

void net_engine::socket_closed(int n) {
  sock_state& s = m_sock[n];
  m_sched.cancel(s.arp_timer);
  s.arp_timer = {};
  s.arp_busy = false;
  s.arp_done = nullptr;
  s.sending = false;
  s.arp_valid = false;  // a new socket instance resolves afresh
  ++s.generation;
  tcp_reset_tcb(n);
  m_mcast[n] = {};  // a reset forgets joined groups without sending leaves
}

void net_engine::receive(const std::uint8_t* frame, std::size_t len) {
  ++m_stats.rx_frames;
  diag& d = m_chip.m_diag;
  if (d.tracing()) d.trace("frame_rx", fmt::format(R"("len":{},"data":"{}")", len, hex_bytes(frame, len)));
  if (!m_chip.link_up() || !m_chip.m_alive) {
    ++m_stats.rx_dropped;
    d.log(log_level::debug, "net", "frame dropped: {}", m_chip.link_up() ? "chip in reset" : "link down");
    return;
  }
  const auto eth = parse_eth(frame, len);
  if (!eth || len < eth_min_frame) {
    ++m_stats.rx_dropped;
    d.log(log_level::warn, "net", "malformed or runt frame of {} bytes dropped", len);
    return;
  }
  const mac_addr own = shar();
  const bool for_us = eth->dst == own || eth->dst == broadcast_mac || mcast_mac_accepted(eth->dst);
  bool consumed = false;
  if (eth->ethertype == ethertype_arp) {
    handle_arp(*eth);
  } else if (eth->ethertype == ethertype_ipv4 && for_us) {
    consumed = handle_ipv4(*eth);
  }
  if (sn_sr(0) == SOCK_MACRAW && (!consumed || m_chip.m_cfg.quirk.macraw_sees_socket_frames))
    macraw_deliver(frame, len);
}

// ---- ARP (spec §6.4) ---------------------------------------------------------------------------------------

void net_engine::handle_arp(const eth_view& eth) {
  const auto arp = parse_arp(eth.payload, eth.payload_len);
  if (!arp) {
    ++m_stats.rx_dropped;
    m_chip.m_diag.log(log_level::warn, "net", "malformed ARP frame dropped");
    return;
  }
  const ip4_addr own_ip = sipr();
  if (arp->op == arp_request) {
    if (own_ip != 0 && arp->spa == own_ip && arp->sha != shar()) {
      m_chip.m_diag.log(log_level::info, "net", "IP conflict: ARP request from {} claims {}", to_string(arp->sha),
                        to_string(arp->spa));
      m_chip.raise_ir(IR_CONFLICT);
    }
    if (own_ip != 0 && arp->tpa == own_ip) {
      transmit(build_eth(arp->sha, shar(), ethertype_arp, build_arp(arp_reply, shar(), own_ip, arp->sha, arp->spa)),
               nullptr);
    }
    return;
  }
  if (arp->op != arp_reply) return;
  for (int n = 0; n < num_sockets; ++n) {
    sock_state& s = m_sock[n];
    if (!s.arp_busy || arp->spa != s.arp_target) continue;
    m_sched.cancel(s.arp_timer);
    s.arp_timer = {};
    s.arp_busy = false;
    set_sn_dhar(n, arp->sha);
    s.arp_valid = true;
    s.arp_ip = s.arp_for;
    auto done = std::move(s.arp_done);
    s.arp_done = nullptr;
    m_chip.m_diag.log(log_level::debug, sock_path(n), "ARP resolved {} -> {}", to_string(arp->spa),
                      to_string(arp->sha));
    if (done) done(true);
  }
}

void net_engine::resolve(int n, ip4_addr dst, std::function<void(bool)> done) {
  sock_state& s = m_sock[n];
  const bool force = (m_chip.m_common[MR] & MR_FARP) != 0;
  if (!force && s.arp_valid && s.arp_ip == dst) return done(true);
  const ip4_addr mask = subr();
  s.arp_for = dst;
  s.arp_target = ((dst ^ sipr()) & mask) != 0 ? gar() : dst;  // off-link destinations go via the gateway
  s.arp_valid = false;
  s.arp_busy = true;
  s.arp_sent = 0;
  s.arp_done = std::move(done);
  arp_request_tick(n);
}

void net_engine::arp_request_tick(int n) {
  sock_state& s = m_sock[n];
  // Requests at 0, RTR, ..., RCR*RTR; TIMEOUT at (RCR+1)*RTR (spec §3.4: ARP_TO = RTR*(RCR+1)).
  if (s.arp_sent > rcr()) {
    s.arp_busy = false;
    s.arp_timer = {};
    auto done = std::move(s.arp_done);
    s.arp_done = nullptr;
    m_chip.m_diag.log(log_level::info, sock_path(n), "ARP for {} timed out after {} requests",
                      to_string(s.arp_target), s.arp_sent);
    if (done) done(false);
    return;
  }
  ++s.arp_sent;
  transmit(build_eth(broadcast_mac, shar(), ethertype_arp,
                     build_arp(arp_request, shar(), sipr(), mac_addr{}, s.arp_target)),
           nullptr);
  s.arp_timer = m_sched.after(rtr_period(), [this, n] {
    m_sock[n].arp_timer = {};
    arp_request_tick(n);
  });
}

// ---- IPv4 / ICMP / UDP ---------------------------------------------------------------------------------------

bool net_engine::handle_ipv4(const eth_view& eth) {
  diag& d = m_chip.m_diag;
  const auto ip = parse_ipv4(eth.payload, eth.payload_len);
  if (!ip) {
    ++m_stats.rx_dropped;
    d.log(log_level::warn, "net", "malformed IPv4 packet dropped");
    return false;
  }
  if (!ip->checksum_ok || ip->is_fragment) {
    ++m_stats.rx_dropped;
    d.log(log_level::debug, "net", "IPv4 packet from {} dropped: {}", to_string(ip->h.src),
          ip->is_fragment ? "fragment (no reassembly)" : "bad header checksum");
    return false;
  }
  const ip4_addr own = sipr();
  const bool to_us = ip->h.dst == own && own != 0;
  const bool bcast = is_broadcast(ip->h.dst);
  const bool any_ok = own == 0 && m_chip.m_cfg.quirk.udp_accept_any_ip_when_sipr_zero;
  const bool mcast = mcast_ip_joined(ip->h.dst);
  // IPRAW sockets (quirk ipraw_mode) receive packets of their protocol: 6-byte header + IP payload.
  bool raw_taken = false;
  if (to_us && ip->h.proto != ip_proto_tcp && ip->h.proto != ip_proto_udp) {
    for (int n = 0; n < num_sockets && !raw_taken; ++n) {
      if (sn_sr(n) != SOCK_IPRAW || m_chip.m_sock[n].regs[0x14] != ip->h.proto) continue;
      raw_taken = true;
      std::uint8_t head[6];
      put32(head, ip->h.src);
      put16(head + 4, static_cast<std::uint16_t>(ip->payload_len));
      if (!rx_store(n, head, 6, ip->payload, ip->payload_len)) ++m_stats.rx_dropped;
    }
  }
  switch (ip->h.proto) {
    case ip_proto_icmp:
      if (to_us) handle_icmp(eth, *ip);  // the chip still answers pings itself
      return raw_taken;
    case ip_proto_udp:
      if (to_us || bcast || any_ok || mcast) return handle_udp(eth, *ip);
      return false;
    case ip_proto_igmp:
      handle_igmp(eth, *ip);
      return false;
    case ip_proto_tcp:
      return to_us && handle_tcp(eth, *ip);
    default:
      return raw_taken;
  }
}

void net_engine::send_ip(const mac_addr& dst_mac, ipv4_fields h, const octets& payload, std::function<void()> done) {
  h.id = m_ip_id++;  // identification counter, one per packet (spec §6.9)
  transmit(build_eth(dst_mac, shar(), ethertype_ipv4, build_ipv4(h, payload)), std::move(done));
}

void net_engine::handle_icmp(const eth_view& eth, const ipv4_view& ip) {
  const auto icmp = parse_icmp(ip.payload, ip.payload_len);
  if (!icmp || !icmp->checksum_ok) {
    ++m_stats.rx_dropped;
    m_chip.m_diag.log(log_level::debug, "net", "bad ICMP message from {} dropped", to_string(ip.h.src));
    return;
  }
  if (icmp->type == 8 && icmp->code == 0) {  // echo request
    if (m_chip.m_common[MR] & MR_PB) return;  // ping block
    send_ip(eth.src, chip_ip_header(ip.h.src, ip_proto_icmp, 0), build_icmp(0, 0, icmp->rest, octets(icmp->payload, icmp->payload + icmp->payload_len)),
            nullptr);
    return;
  }
  if (icmp->type == 3 && icmp->code == 3) {  // port unreachable: the original IP header + 8 bytes follow
    const auto inner = parse_ipv4(icmp->payload, icmp->payload_len);
    if (!inner || inner->h.proto != ip_proto_udp || inner->payload_len < 4) {
      // The quoted datagram is usually cut after 8 bytes, so parse_ipv4 sees total_len past the buffer.
      if (icmp->payload_len < 28 || (icmp->payload[0] >> 4) != 4 || icmp->payload[9] != ip_proto_udp) return;
    }
    const std::uint8_t* q = icmp->payload;
    const std::size_t ihl = (q[0] & 0x0F) * 4u;
    if (ihl < 20 || icmp->payload_len < ihl + 4) return;
    std::memcpy(&m_chip.m_common[UIPR], q + 16, 4);
    std::memcpy(&m_chip.m_common[UPORTR], q + ihl + 2, 2);
    m_chip.raise_ir(IR_UNREACH);
  }
}

bool net_engine::handle_udp(const eth_view& eth, const ipv4_view& ip) {
  (void)eth;
  diag& d = m_chip.m_diag;
  const auto udp = parse_udp(ip.payload, ip.payload_len, ip.h.src, ip.h.dst);
  if (!udp || !udp->checksum_ok) {
    ++m_stats.rx_dropped;
    d.log(log_level::debug, "net", "bad UDP datagram from {} dropped", to_string(ip.h.src));
    return false;
  }
  const bool bcast = is_broadcast(ip.h.dst);
  const bool mcast = (ip.h.dst >> 28) == 0xE;
  wol_check(udp->payload, udp->payload_len);
  for (int n = 0; n < num_sockets; ++n) {
    if (sn_sr(n) != SOCK_UDP || sn_port(n) != udp->dst_port) continue;
    // A multicast datagram is only for MULTI sockets that joined its group (dst IP and dst MAC).
    const mcast_group& g = m_mcast[n];
    if (mcast && !(g.joined && g.ip == ip.h.dst && g.mac == eth.dst)) continue;
    // First socket on the port wins (U26); BCASTB drops broadcasts for it, UCASTB (MULTI) unicasts.
    if (bcast && (m_chip.m_sock[n].mode & UDP_BCASTB)) {
      ++m_stats.rx_dropped;
      return true;
    }
    if (!bcast && !mcast && g.joined && (m_chip.m_sock[n].mode & UDP_UCASTB)) {
      ++m_stats.rx_dropped;
      d.log(log_level::debug, sock_path(n), "unicast UDP datagram from {} dropped: UCASTB", to_string(ip.h.src));
      return true;
    }
    std::uint8_t head[8];
    put32(head, ip.h.src);
    put16(head + 4, udp->src_port);
    put16(head + 6, static_cast<std::uint16_t>(udp->payload_len));
    if (!rx_store(n, head, 8, udp->payload, udp->payload_len)) {
      d.log(log_level::info, sock_path(n), "UDP datagram of {} bytes dropped: RX buffer full", udp->payload_len);
      ++m_stats.rx_dropped;
    }
    return true;
  }
  if (!bcast && m_chip.m_cfg.quirk.icmp_unreachable_for_closed_udp_port && sipr() != 0 && ip.h.dst == sipr()) {
    const std::size_t quoted = std::min<std::size_t>(ip.ihl * 4u + 8u, ip.total_len);
    send_ip(eth.src, chip_ip_header(ip.h.src, ip_proto_icmp, 0), build_icmp(3, 3, 0, octets(eth.payload, eth.payload + quoted)), nullptr);
  }
  return false;
}

ipv4_fields net_engine::chip_ip_header(ip4_addr dst, std::uint8_t proto, std::uint16_t frag) const {
  // Packets the chip answers on its own (ICMP, RST) use TTL 128; the socket registers do not apply.
  ipv4_fields h;
  h.src = sipr();
  h.dst = dst;
  h.proto = proto;
  h.ttl = 128;
  h.frag = frag;
  return h;
}

ipv4_fields net_engine::ip_header_for(int n, ip4_addr dst, std::uint8_t proto) {
  const auto& r = m_chip.m_sock[n].regs;
  ipv4_fields h;
  h.src = sipr();
  h.dst = dst;
  h.proto = proto;
  h.ttl = r[Sn_TTL];
  h.tos = r[Sn_TOS];
  h.frag = get16(&r[Sn_FRAG]);
  return h;
}

// ---- socket sends ------------------------------------------------------------------------------------------

void net_engine::send(int n, bool with_mac) {
  if (sn_sr(n) == SOCK_MACRAW) return macraw_send(n);
  udp_send(n, with_mac);
}

octets net_engine::tx_data(int n, std::uint16_t from, std::uint16_t to) const {
  octets out(static_cast<std::uint16_t>(to - from));
  m_chip.read_block(bsb_tx(n), from, out.data(), out.size());
  return out;
}

void net_engine::udp_send(int n, bool with_mac) {
  sock_state& s = m_sock[n];
  const auto& cs = m_chip.m_sock[n];
  if (s.sending) {
    // A SEND before the previous one completed: the chip keeps going; the new range goes out when the
    // current one is done (spec §5.2 recommendation for overlapping SENDs).
    m_chip.m_diag.log(log_level::warn, sock_path(n), "SEND while a SEND is in progress; queued after it");
    return;
  }
  if (cs.tx_wr == cs.tx_rd) {
    m_chip.m_diag.log(log_level::info, sock_path(n), "SEND with no data: nothing sent, SEND_OK");
    m_chip.raise_sn_ir(n, Sn_IR_SENDOK);
    return;
  }
  s.sending = true;
  s.send_end = cs.tx_wr;
  const ip4_addr dip = sn_dipr(n);
  const std::uint16_t dport = sn_dport(n);
  // SEND_MAC and multicast sockets use Sn_DHAR as written, no ARP (spec §6.4).
  if (with_mac || (cs.mode & UDP_MULTI)) return udp_transmit(n, sn_dhar(n), dip, dport);
  if (is_broadcast(dip)) return udp_transmit(n, broadcast_mac, dip, dport);
  const std::uint64_t gen = s.generation;
  resolve(n, dip, [this, n, gen, dip, dport](bool ok) {
    if (m_sock[n].generation != gen) return;
    if (ok) return udp_transmit(n, sn_dhar(n), dip, dport);
    send_complete(n, gen, false);
  });
}

void net_engine::udp_transmit(int n, const mac_addr& dst_mac, ip4_addr dip, std::uint16_t dport) {
  sock_state& s = m_sock[n];
  const auto& cs = m_chip.m_sock[n];
  const octets data = tx_data(n, cs.tx_rd, s.send_end);
  // IPRAW (quirk ipraw_mode) sends the data as the IP payload with Sn_PROTO, up to 1480 bytes a packet.
  const bool raw = sn_sr(n) == SOCK_IPRAW;
  const std::size_t max_mss = raw ? 1480 : udp_max_mss;
  const std::uint16_t mssr = get16(&cs.regs[Sn_MSSR]);
  const std::size_t mss = (mssr == 0 || mssr > max_mss) ? max_mss : mssr;
  const std::uint64_t gen = s.generation;
  for (std::size_t off = 0; off < data.size(); off += mss) {
    const std::size_t len = std::min(mss, data.size() - off);
    const octets payload(data.begin() + static_cast<std::ptrdiff_t>(off),
                         data.begin() + static_cast<std::ptrdiff_t>(off + len));
    const bool last = off + len == data.size();
    send_ip(dst_mac, ip_header_for(n, dip, raw ? cs.regs[0x14] : ip_proto_udp),
            raw ? payload : build_udp(sipr(), dip, sn_port(n), dport, payload),
            last ? std::function<void()>([this, n, gen] { send_complete(n, gen, true); }) : nullptr);
  }
}

void net_engine::macraw_send(int n) {
  sock_state& s = m_sock[n];
  const auto& cs = m_chip.m_sock[n];
  if (s.sending) {
    m_chip.m_diag.log(log_level::warn, sock_path(n), "SEND while a SEND is in progress; queued after it");
    return;
  }
  octets frame = tx_data(n, cs.tx_rd, cs.tx_wr);
  if (frame.size() > eth_max_frame) {
    m_chip.m_diag.guest_error(sock_path(n), "MACRAW SEND of {} bytes exceeds 1514; truncated", frame.size());
    frame.resize(eth_max_frame);
  }
  if (frame.size() < eth_header_len)
    m_chip.m_diag.guest_error(sock_path(n), "MACRAW SEND of {} bytes is shorter than an Ethernet header",
                              frame.size());
  if (frame.size() < eth_min_frame && m_chip.m_cfg.quirk.macraw_pads_short_frames) frame.resize(eth_min_frame, 0);
  s.sending = true;
  s.send_end = cs.tx_wr;
  const std::uint64_t gen = s.generation;
  transmit(std::move(frame), [this, n, gen] { send_complete(n, gen, true); });
}

void net_engine::send_complete(int n, std::uint64_t generation, bool ok) {
  sock_state& s = m_sock[n];
  if (s.generation != generation || !s.sending) return;
  s.sending = false;
  auto& cs = m_chip.m_sock[n];
  if (ok || m_chip.m_cfg.quirk.arp_timeout_discards_udp_data) cs.tx_rd = s.send_end;
  m_chip.sync_pointers(n);
  m_chip.raise_sn_ir(n, ok ? Sn_IR_SENDOK : Sn_IR_TIMEOUT);
  // Data committed by a SEND issued meanwhile goes out now.
  if (ok && cs.tx_wr != cs.tx_rd) send(n, false);
}

// ---- receive side ------------------------------------------------------------------------------------------

bool net_engine::rx_store(int n, const std::uint8_t* head, std::size_t head_len, const std::uint8_t* data,
                          std::size_t len) {
  auto& cs = m_chip.m_sock[n];
  const auto& r = m_chip.m_layout_rx[n];
  const std::uint32_t used = static_cast<std::uint16_t>(cs.rx_wr - cs.rx_rd);
  const std::uint32_t free_space = r.size > used ? r.size - used : 0;
  // Records are stored whole or not at all (spec §5.4).
  if (head_len + len > free_space) return false;
  auto put = [&](const std::uint8_t* p, std::size_t k) {
    for (std::size_t i = 0; i < k; ++i) m_chip.m_rx_ram[m_chip.phys(r, static_cast<std::uint16_t>(cs.rx_wr + i))] = p[i];
    cs.rx_wr = static_cast<std::uint16_t>(cs.rx_wr + k);
  };
  put(head, head_len);
  put(data, len);
  m_chip.sync_pointers(n);
  m_chip.raise_sn_ir(n, Sn_IR_RECV);
  return true;
}

void net_engine::macraw_deliver(const std::uint8_t* frame, std::size_t len) {
  const auto eth = parse_eth(frame, len);
  if (!eth) return;
  const std::uint8_t mr = sn_mr(0);  // filter bits are evaluated live per frame (U10)
  const bool bcast = eth->dst == broadcast_mac;
  const bool mc4 = is_ipv4_multicast_mac(eth->dst);
  const bool mc6 = is_ipv6_multicast_mac(eth->dst);
  bool accept = true;
  if (mr & MACRAW_MFEN) accept = eth->dst == shar() || bcast || mc4 || mc6;
  if ((mr & MACRAW_BCASTB) && bcast) accept = false;
  if ((mr & MACRAW_MMB) && mc4) accept = false;
  if ((mr & MACRAW_MIP6B) && eth->ethertype == ethertype_ipv6) accept = false;
  if (!accept) return;
  const std::size_t n = std::min(len, eth_max_frame);
  std::uint8_t head[2];
  put16(head, static_cast<std::uint16_t>(n + 2));
  if (!rx_store(0, head, 2, frame, n)) {
    ++m_stats.rx_dropped;
    m_chip.m_diag.log(log_level::info, "sock0", "MACRAW frame of {} bytes dropped: RX buffer full", n);
  }
}


// ---- multicast / IGMP / WOL (spec §3.1, §4.1, §6.2, §6.5) ------------------------------------------------------
// The chip keeps no group table of its own: each UDP MULTI socket latches its group (Sn_DIPR) and group MAC
// (Sn_DHAR) at OPEN, sends a membership report then, answers queries for it, and sends a leave at CLOSE.
// Reports are query-driven only (no unsolicited periodic reports, U26) and go out at once (no random delay
// within the query's Max Resp Time), so the wire is deterministic.

namespace {
constexpr std::uint8_t IGMP_QUERY = 0x11, IGMP_REPORT_V1 = 0x12, IGMP_REPORT_V2 = 0x16, IGMP_LEAVE = 0x17;
constexpr ip4_addr igmp_all_routers = 0xE0000002u;  // 224.0.0.2
constexpr mac_addr igmp_all_hosts_mac{0x01, 0x00, 0x5E, 0x00, 0x00, 0x01};
constexpr mac_addr igmp_all_routers_mac{0x01, 0x00, 0x5E, 0x00, 0x00, 0x02};
constexpr std::size_t igmp_len = 8;
}  // namespace

void net_engine::udp_opened(int n) {
  const std::uint8_t mode = m_chip.m_sock[n].mode;  // MULTI/MC latched at OPEN (U10)
  if (!(mode & UDP_MULTI)) return;
  mcast_group& g = m_mcast[n];
  g.joined = true;
  g.v1 = (mode & UDP_MC) != 0;
  g.ip = sn_dipr(n);
  g.mac = sn_dhar(n);
  if ((g.ip >> 28) != 0xE)
    m_chip.m_diag.guest_error(sock_path(n), "multicast OPEN with Sn_DIPR {} (not 224.0.0.0/4); report sent anyway",
                              to_string(g.ip));
  m_chip.m_diag.log(log_level::info, sock_path(n), "joined {} ({}) with an IGMPv{} report", to_string(g.ip),
                    to_string(g.mac), g.v1 ? 1 : 2);
  igmp_send(n, g.v1 ? IGMP_REPORT_V1 : IGMP_REPORT_V2, g.ip, g.ip, g.mac);
}

void net_engine::socket_closing(int n) {
  const mcast_group g = m_mcast[n];
  m_mcast[n] = {};
  if (!g.joined) return;
  if (g.v1) {  // IGMPv1 has no leave message
    m_chip.m_diag.log(log_level::info, sock_path(n), "left {} silently (IGMPv1)", to_string(g.ip));
    return;
  }
  m_chip.m_diag.log(log_level::info, sock_path(n), "left {} with an IGMPv2 leave", to_string(g.ip));
  igmp_send(n, IGMP_LEAVE, g.ip, igmp_all_routers, igmp_all_routers_mac);
}

bool net_engine::mcast_mac_accepted(const mac_addr& dst) const {
  if (!is_ipv4_multicast_mac(dst)) return false;
  for (const mcast_group& g : m_mcast)
    if (g.joined && (dst == g.mac || dst == igmp_all_hosts_mac)) return true;
  return false;
}

bool net_engine::mcast_ip_joined(ip4_addr dst) const {
  for (const mcast_group& g : m_mcast)
    if (g.joined && g.ip == dst) return true;
  return false;
}

void net_engine::igmp_send(int n, std::uint8_t type, ip4_addr group, ip4_addr dst, const mac_addr& dst_mac) {
  octets msg(igmp_len, 0);
  msg[0] = type;  // max resp time 0 in reports and leaves
  put32(msg.data() + 4, group);
  put16(msg.data() + 2, inet_checksum(msg.data(), msg.size()));
  // TTL 1 and the Router Alert option (RFC 2236 §2); TOS from Sn_TOS and DF as MAME's W5100 model sends them.
  ipv4_fields h;
  h.src = sipr();
  h.dst = dst;
  h.proto = ip_proto_igmp;
  h.ttl = 1;
  h.tos = m_chip.m_sock[n].regs[Sn_TOS];
  h.frag = 0x4000;
  h.options = {0x94, 0x04, 0x00, 0x00};
  send_ip(dst_mac, h, msg, nullptr);
}

void net_engine::handle_igmp(const eth_view& eth, const ipv4_view& ip) {
  (void)eth;
  if (ip.payload_len < igmp_len || inet_checksum(ip.payload, ip.payload_len) != 0) {
    ++m_stats.rx_dropped;
    m_chip.m_diag.log(log_level::debug, "net", "bad IGMP message from {} dropped", to_string(ip.h.src));
    return;
  }
  if (ip.payload[0] != IGMP_QUERY) return;  // other hosts' reports and leaves: no report suppression to do
  // General query (group 0, to 224.0.0.1) or group-specific query (the group): one report per joined group,
  // in the version the socket joined with.
  const ip4_addr group = get32(ip.payload + 4);
  for (int n = 0; n < num_sockets; ++n) {
    const mcast_group& g = m_mcast[n];
    if (!g.joined || (group != 0 && group != g.ip)) continue;
    bool earlier = false;  // several sockets on one group answer once
    for (int k = 0; k < n && !earlier; ++k) earlier = m_mcast[k].joined && m_mcast[k].ip == g.ip;
    if (earlier) continue;
    m_chip.m_diag.log(log_level::debug, sock_path(n), "IGMP query from {}: reporting {}", to_string(ip.h.src),
                      to_string(g.ip));
    igmp_send(n, g.v1 ? IGMP_REPORT_V1 : IGMP_REPORT_V2, g.ip, g.ip, g.mac);
  }
}

void net_engine::wol_check(const std::uint8_t* p, std::size_t len) {
  // Magic packet: 6 x 0xFF then 16 x SHAR anywhere in a UDP payload, any port, while MR.WOL is set and a
  // UDP socket is open (spec §3.1); SecureOn passwords after it are ignored.
  if (!(m_chip.m_common[MR] & MR_WOL)) return;
  bool udp_open = false;
  for (int n = 0; n < num_sockets && !udp_open; ++n) udp_open = sn_sr(n) == SOCK_UDP;
  if (!udp_open) return;
  const mac_addr own = shar();
  constexpr std::size_t magic_len = 6 + 16 * 6;
  for (std::size_t i = 0; i + magic_len <= len; ++i) {
    if (!std::all_of(p + i, p + i + 6, [](std::uint8_t b) { return b == 0xFF; })) continue;
    bool match = true;
    for (std::size_t k = 0; k < 16 && match; ++k) match = std::equal(own.begin(), own.end(), p + i + 6 + 6 * k);
    if (!match) continue;
    m_chip.m_diag.log(log_level::info, "net", "Wake-on-LAN magic packet received: IR.MP");
    m_chip.raise_ir(IR_MP);
    return;
  }
}

}  // namespace wizsim
