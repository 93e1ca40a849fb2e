// The W5500's TCP engine (spec §6.3, retransmission §3.4, keep-alive §6.6), part of net_engine.
// Structure after lwIP's tcp_in.c: find the socket, cross-state checks (RST, SYN, ACK) first, then the
// state-specific work. Sequence numbers and pointers: the TX pointer registers carry the low 16 bits of
// the sequence space once the connection is set up (TX_RD = TX_WR = (ISS + 1) & 0xFFFF, spec U22).
#include <algorithm>

#include "net_engine.hpp"

namespace wizsim {

namespace {
constexpr std::uint16_t Sn_DHAR = 0x06, Sn_DIPR = 0x0C, Sn_DPORT = 0x10, Sn_MSSR = 0x12, Sn_KPALVTR = 0x2F,
                        RTR = 0x19;
constexpr std::uint8_t MR_ND = 0x20;
constexpr std::uint16_t tcp_max_mss = 1460;

bool seq_lt(std::uint32_t a, std::uint32_t b) { return static_cast<std::int32_t>(a - b) < 0; }
bool seq_gt(std::uint32_t a, std::uint32_t b) { return static_cast<std::int32_t>(a - b) > 0; }
std::string path(int n) { return "sock" + std::to_string(n); }
bool connected_state(std::uint8_t sr) {
  return sr == SOCK_SYNSENT || sr == SOCK_SYNRECV || sr == SOCK_ESTABLISHED || sr == SOCK_FIN_WAIT ||
         sr == SOCK_CLOSING || sr == SOCK_CLOSE_WAIT || sr == SOCK_LAST_ACK;
}
}  // namespace

std::uint16_t net_engine::tcp_window(int n) const {
  const auto& cs = m_chip.m_sock[n];
  const std::uint32_t size = m_chip.m_layout_rx[n].size;
  const std::uint32_t used = static_cast<std::uint16_t>(cs.rx_wr - cs.rx_rd);
  return static_cast<std::uint16_t>(std::min<std::uint32_t>(size > used ? size - used : 0, 0xFFFF));
}

std::uint16_t net_engine::tcp_own_mss(int n) const {
  const std::uint16_t v = get16(&m_chip.m_sock[n].regs[Sn_MSSR]);
  return (v == 0 || v > tcp_max_mss) ? tcp_max_mss : v;
}

ps_t net_engine::tcp_backoff(int k) const {
  // wait_k = min(RTR * 2^k, RTRmax), RTRmax = RTR * 2^M, M = smallest m (0..RCR) with RTR * 2^(m+1) > 65535.
  const std::uint64_t rtr = std::max<std::uint16_t>(get16(&m_chip.m_common[RTR]), 1);
  int m = 0;
  while (m < rcr() && (rtr << (m + 1)) <= 65535) ++m;
  const std::uint64_t wait = std::min<std::uint64_t>(rtr << std::min(k, 30), rtr << m);
  return wait * us(100);
}

void net_engine::tcp_reset_tcb(int n) {
  tcb& t = m_tcb[n];
  for (auto* e : {&t.rto_timer, &t.ack_timer, &t.keep_timer}) m_sched.cancel(*e);
  t = tcb{};
}

void net_engine::tcp_emit(int n, std::uint8_t flags, std::uint32_t seq, const octets& payload,
                          std::function<void()> done) {
  tcb& t = m_tcb[n];
  tcp_fields h;
  h.src_port = sn_port(n);
  h.dst_port = sn_dport(n);
  h.seq = seq;
  h.flags = flags;
  if (flags & TCP_ACK) {
    h.ack = t.rcv_nxt;
    m_sched.cancel(t.ack_timer);  // the ACK rides on this segment
    t.ack_timer = {};
    t.ack_delayed = false;
  }
  h.window = tcp_window(n);
  t.adv_wnd = h.window;
  if (flags & TCP_SYN) h.mss = tcp_own_mss(n);
  const ip4_addr dip = sn_dipr(n);
  send_ip(sn_dhar(n), ip_header_for(n, dip, ip_proto_tcp), build_tcp(sipr(), dip, h, payload), std::move(done));
}

void net_engine::tcp_ack_now(int n) { tcp_emit(n, TCP_ACK, m_tcb[n].snd_nxt, {}); }

void net_engine::tcp_schedule_ack(int n) {
  tcb& t = m_tcb[n];
  // ND = 1: acknowledge at once. ND = 0: wait RTR, but a second segment forces the ACK (spec §6.3, MAME).
  if ((m_chip.m_sock[n].mode & MR_ND) || t.ack_delayed) return tcp_ack_now(n);
  t.ack_delayed = true;
  t.ack_timer = m_sched.after(rtr_period(), [this, n] {
    m_tcb[n].ack_timer = {};
    m_tcb[n].ack_delayed = false;
    tcp_ack_now(n);
  });
}

void net_engine::tcp_arm_rto(int n) {
  tcb& t = m_tcb[n];
  if (t.rto_timer) return;
  t.rto_timer = m_sched.after(tcp_backoff(t.retries), [this, n] {
    m_tcb[n].rto_timer = {};
    tcp_rto_expired(n);
  });
}

void net_engine::tcp_drop(int n, std::uint8_t ir_bits, const char* why) {
  m_chip.m_diag.log(log_level::info, path(n), "connection closed: {}", why);
  m_chip.set_state(n, SOCK_CLOSED, why);
  socket_closed(n);
  if (ir_bits) m_chip.raise_sn_ir(n, ir_bits);
}

void net_engine::tcp_established(int n, const char* why) {
  tcb& t = m_tcb[n];
  auto& cs = m_chip.m_sock[n];
  const auto p = static_cast<std::uint16_t>(t.iss + 1);
  cs.tx_rd = cs.tx_wr = cs.tx_wr_host = cs.tx_ack = p;
  m_chip.sync_pointers(n);
  put16(&cs.regs[Sn_MSSR], t.mss);  // Sn_MSSR reads back the negotiated MSS (U8 recommendation)
  m_chip.set_state(n, SOCK_ESTABLISHED, why);
  m_chip.raise_sn_ir(n, Sn_IR_CON);
}

void net_engine::tcp_rto_expired(int n) {
  tcb& t = m_tcb[n];
  const std::uint8_t sr = sn_sr(n);
  if (++t.retries > rcr()) return tcp_drop(n, Sn_IR_TIMEOUT, "retransmission timeout");
  auto& cs = m_chip.m_sock[n];
  if (sr == SOCK_SYNSENT) {
    tcp_emit(n, TCP_SYN, t.iss, {});
  } else if (sr == SOCK_SYNRECV) {
    tcp_emit(n, TCP_SYN | TCP_ACK, t.iss, {});
  } else {
    const auto unacked = static_cast<std::uint16_t>(cs.tx_rd - cs.tx_ack);
    if (unacked > 0) {
      // Go back to the oldest unacknowledged byte and resend one segment's worth.
      const std::uint16_t len = std::min<std::uint16_t>(unacked, t.mss);
      tcp_emit(n, TCP_ACK | TCP_PSH, t.snd_una,
               tx_data(n, cs.tx_ack, static_cast<std::uint16_t>(cs.tx_ack + len)));
      if (!t.fin_sent && len < unacked) {
        // Go back: what followed the resent segment was presumably lost with it, so the next output
        // continues right after it (as BSD resets snd_nxt on a timeout) instead of after everything once
        // sent, which would leave each later segment to wait out a retransmission timer of its own.
        t.snd_nxt = t.snd_una + len;
        cs.tx_rd = static_cast<std::uint16_t>(cs.tx_ack + len);
        m_chip.sync_pointers(n);
      }
    } else if (t.snd_wnd == 0 && cs.tx_rd != cs.tx_wr) {
      // Zero-window probe (spec §6.3, MAME): one byte beyond the closed window.
      tcp_emit(n, TCP_ACK, t.snd_nxt, tx_data(n, cs.tx_rd, static_cast<std::uint16_t>(cs.tx_rd + 1)));
      t.snd_nxt += 1;
      t.probe_out = true;
      cs.tx_rd = static_cast<std::uint16_t>(cs.tx_rd + 1);
      m_chip.sync_pointers(n);
    } else if (t.fin_sent && t.snd_una == t.fin_seq) {
      tcp_emit(n, TCP_FIN | TCP_ACK, t.fin_seq, {});
    } else if (t.keepalive_out && t.snd_una == t.snd_nxt) {
      // Keep-alive outstanding: one byte below SND.NXT, the last byte already acknowledged.
      tcp_emit(n, TCP_ACK, t.snd_nxt - 1, tx_data(n, static_cast<std::uint16_t>(cs.tx_ack - 1), cs.tx_ack));
    } else {
      t.retries = 0;
      return;
    }
  }
  tcp_arm_rto(n);
}

void net_engine::tcp_output(int n) {
  tcb& t = m_tcb[n];
  auto& cs = m_chip.m_sock[n];
  const std::uint8_t sr = sn_sr(n);
  if (sr != SOCK_ESTABLISHED && sr != SOCK_CLOSE_WAIT && sr != SOCK_FIN_WAIT && sr != SOCK_LAST_ACK) return;
  const std::uint64_t gen = m_sock[n].generation;
  while (cs.tx_rd != cs.tx_wr && !t.fin_sent) {
    const std::uint32_t inflight = t.snd_nxt - t.snd_una;
    std::uint32_t room;
    if (t.snd_wnd > inflight) {
      room = t.snd_wnd - inflight;
    } else {
      // Window full or zero: wait. A zero window is probed with one byte when the timer fires.
      if (t.snd_wnd == 0 && inflight == 0) tcp_arm_rto(n);
      break;
    }
    const auto pending = static_cast<std::uint16_t>(cs.tx_wr - cs.tx_rd);
    const auto len = static_cast<std::uint16_t>(std::min<std::uint32_t>({t.mss, pending, room}));
    const bool last = len == pending;
    std::function<void()> done;
    if (last && t.send_ok_pending) {
      t.send_ok_pending = false;
      // SEND_OK once every byte has been on the wire at least once (spec §6.3, U23).
      done = [this, n, gen] {
        if (m_sock[n].generation == gen) m_chip.raise_sn_ir(n, Sn_IR_SENDOK);
      };
    }
    tcp_emit(n, static_cast<std::uint8_t>(TCP_ACK | (last ? TCP_PSH : 0)), t.snd_nxt,
             tx_data(n, cs.tx_rd, static_cast<std::uint16_t>(cs.tx_rd + len)), std::move(done));
    t.snd_nxt += len;
    cs.tx_rd = static_cast<std::uint16_t>(cs.tx_rd + len);
    t.data_exchanged = true;
    m_chip.sync_pointers(n);
    tcp_arm_rto(n);
  }
  if (t.fin_pending && !t.fin_sent && cs.tx_rd == cs.tx_wr) {
    t.fin_sent = true;
    t.fin_seq = t.snd_nxt;
    tcp_emit(n, TCP_FIN | TCP_ACK, t.snd_nxt, {});
    t.snd_nxt += 1;
    tcp_arm_rto(n);
  }
}

void net_engine::tcp_arm_keepalive(int n) {
  tcb& t = m_tcb[n];
  m_sched.cancel(t.keep_timer);
  t.keep_timer = {};
  const std::uint8_t kpalvtr = m_chip.m_sock[n].regs[Sn_KPALVTR];
  if (kpalvtr == 0 || !t.data_exchanged || sn_sr(n) != SOCK_ESTABLISHED) return;
  t.keep_timer = m_sched.after(seconds(5) * kpalvtr, [this, n] {
    tcb& k = m_tcb[n];
    k.keep_timer = {};
    if (sn_sr(n) != SOCK_ESTABLISHED || k.snd_una != k.snd_nxt) return tcp_arm_keepalive(n);
    const auto& cs = m_chip.m_sock[n];
    tcp_emit(n, TCP_ACK, k.snd_nxt - 1, tx_data(n, static_cast<std::uint16_t>(cs.tx_ack - 1), cs.tx_ack));
    k.keepalive_out = true;
    tcp_arm_rto(n);
  });
}

// ---- commands ---------------------------------------------------------------------------------------------

void net_engine::tcp_command(int n, std::uint8_t cmd) {
  tcb& t = m_tcb[n];
  auto& cs = m_chip.m_sock[n];
  const std::uint8_t sr = sn_sr(n);
  const std::uint64_t gen = m_sock[n].generation;
  switch (cmd) {
    case Sn_CR_CONNECT:
      resolve(n, sn_dipr(n), [this, n, gen](bool ok) {
        if (m_sock[n].generation != gen || sn_sr(n) != SOCK_INIT) return;
        if (!ok) return tcp_drop(n, Sn_IR_TIMEOUT, "ARP timeout on CONNECT");
        tcb& c = m_tcb[n];
        c.iss = static_cast<std::uint32_t>(m_sched.random().next());  // seeded PRNG (spec U22)
        c.snd_una = c.iss;
        c.snd_nxt = c.iss + 1;
        c.mss = tcp_own_mss(n);
        tcp_emit(n, TCP_SYN, c.iss, {});
        m_chip.set_state(n, SOCK_SYNSENT, "CONNECT");
        tcp_arm_rto(n);
      });
      return;
    case Sn_CR_SEND:
      if (cs.tx_rd == cs.tx_wr) return m_chip.raise_sn_ir(n, Sn_IR_SENDOK);
      t.send_ok_pending = true;
      return tcp_output(n);
    case Sn_CR_DISCON:
      t.fin_pending = true;
      m_chip.set_state(n, sr == SOCK_CLOSE_WAIT ? SOCK_LAST_ACK : SOCK_FIN_WAIT, "DISCON");
      return tcp_output(n);
    case Sn_CR_SEND_KEEP:
      if (cs.regs[Sn_KPALVTR] != 0 || !t.data_exchanged || t.snd_una != t.snd_nxt) {
        m_chip.m_diag.guest_error(path(n), "SEND_KEEP ignored: {}",
                                  cs.regs[Sn_KPALVTR] != 0 ? "Sn_KPALVTR > 0 (automatic keep-alive)"
                                  : !t.data_exchanged   ? "no data exchanged yet"
                                                        : "data in flight");
        return;
      }
      tcp_emit(n, TCP_ACK, t.snd_nxt - 1, tx_data(n, static_cast<std::uint16_t>(cs.tx_ack - 1), cs.tx_ack));
      t.keepalive_out = true;
      return tcp_arm_rto(n);
    default: return;
  }
}

void net_engine::tcp_recv_committed(int n) {
  const tcb& t = m_tcb[n];
  const std::uint8_t sr = sn_sr(n);
  if (sr != SOCK_ESTABLISHED && sr != SOCK_FIN_WAIT) return;
  // Window update once the window re-opens past one MSS after we advertised less.
  if (t.adv_wnd < t.mss && tcp_window(n) >= t.mss) tcp_ack_now(n);
}

// ---- segments in ------------------------------------------------------------------------------------------

bool net_engine::handle_tcp(const eth_view& eth, const ipv4_view& ip) {
  const auto seg = parse_tcp(ip.payload, ip.payload_len, ip.h.src, ip.h.dst);
  if (!seg || !seg->checksum_ok) {
    ++m_stats.rx_dropped;
    m_chip.m_diag.log(log_level::debug, "net", "bad TCP segment from {} dropped", to_string(ip.h.src));
    return false;
  }
  const auto& h = seg->h;
  for (int n = 0; n < num_sockets; ++n) {
    if (!connected_state(sn_sr(n)) || sn_port(n) != h.dst_port || sn_dipr(n) != ip.h.src || sn_dport(n) != h.src_port)
      continue;
    tcp_segment_in(n, eth, ip, *seg);
    return true;
  }
  int listener = -1;
  for (int n = 0; n < num_sockets && listener < 0; ++n)
    if (sn_sr(n) == SOCK_LISTEN && sn_port(n) == h.dst_port) listener = n;
  if (listener >= 0 && (h.flags & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN) {
    tcp_listen_syn(listener, eth, ip, *seg);
    return true;
  }
  if (listener >= 0 && (h.flags & TCP_RST)) return true;  // LISTEN ignores RST
  if (!(h.flags & TCP_RST)) tcp_send_rst_for(eth, ip, *seg);
  return listener >= 0;
}

void net_engine::tcp_send_rst_for(const eth_view& eth, const ipv4_view& ip, const tcp_view& seg) {
  // RFC 793 reset generation for a segment no connection wants (spec U25: the chip answers RST).
  const tcp_fields r = tcp_reset_for(seg);
  const ipv4_fields h = chip_ip_header(ip.h.src, ip_proto_tcp, 0x4000);
  send_ip(eth.src, h, build_tcp(h.src, h.dst, r, {}), nullptr);
}

void net_engine::tcp_listen_syn(int n, const eth_view& eth, const ipv4_view& ip, const tcp_view& seg) {
  auto& regs = m_chip.m_sock[n].regs;
  put32(&regs[Sn_DIPR], ip.h.src);
  put16(&regs[Sn_DPORT], seg.h.src_port);
  std::copy(eth.src.begin(), eth.src.end(), &regs[Sn_DHAR]);
  tcb& t = m_tcb[n];
  t.iss = static_cast<std::uint32_t>(m_sched.random().next());
  t.snd_una = t.iss;
  t.snd_nxt = t.iss + 1;
  t.rcv_nxt = seg.h.seq + 1;
  t.snd_wnd = seg.h.window;
  // Peer SYN without an MSS option: keep our own value (spec U8 recommendation).
  t.mss = std::min<std::uint16_t>(tcp_own_mss(n), seg.h.mss.value_or(tcp_own_mss(n)));
  m_chip.set_state(n, SOCK_SYNRECV, "rx SYN");
  tcp_emit(n, TCP_SYN | TCP_ACK, t.iss, {});
  tcp_arm_rto(n);
}

void net_engine::tcp_segment_in(int n, const eth_view& eth, const ipv4_view& ip, const tcp_view& seg) {
  tcb& t = m_tcb[n];
  auto& cs = m_chip.m_sock[n];
  const auto& h = seg.h;
  const std::uint8_t sr = sn_sr(n);
  const std::uint8_t rst_bits = m_chip.m_cfg.quirk.tcp_rst_raises_discon ? Sn_IR_DISCON : 0;

  if (sr == SOCK_SYNSENT) {
    const bool ack_ok = (h.flags & TCP_ACK) && h.ack == t.snd_nxt;
    if ((h.flags & TCP_ACK) && !ack_ok) {
      if (!(h.flags & TCP_RST)) tcp_send_rst_for(eth, ip, seg);
      return;
    }
    if (h.flags & TCP_RST) {
      if (ack_ok) tcp_drop(n, rst_bits, "connection refused (RST)");
      return;
    }
    if ((h.flags & TCP_SYN) && ack_ok) {
      t.rcv_nxt = h.seq + 1;
      t.snd_una = h.ack;
      t.snd_wnd = h.window;
      t.mss = std::min<std::uint16_t>(t.mss, h.mss.value_or(t.mss));
      t.retries = 0;
      m_sched.cancel(t.rto_timer);
      t.rto_timer = {};
      tcp_established(n, "rx SYN|ACK");
      tcp_ack_now(n);
      return;
    }
    m_chip.m_diag.unimplemented(path(n), "simultaneous open (bare SYN in SYNSENT) ignored");
    return;
  }

  // Cross-state checks first (lwIP order): RST, then SYN, then ACK.
  if (h.flags & TCP_RST) {
    const std::uint32_t wnd = std::max<std::uint32_t>(t.adv_wnd, 1);
    if (!seq_lt(h.seq, t.rcv_nxt) && seq_lt(h.seq, t.rcv_nxt + wnd)) tcp_drop(n, rst_bits, "RST received");
    return;
  }
  if (h.flags & TCP_SYN) {
    if (sr == SOCK_SYNRECV && h.seq + 1 == t.rcv_nxt) tcp_emit(n, TCP_SYN | TCP_ACK, t.iss, {});  // SYN again
    else tcp_ack_now(n);
    return;
  }
  if (!(h.flags & TCP_ACK)) return;
  if (sr == SOCK_SYNRECV) {
    if (h.ack != t.snd_nxt) return tcp_send_rst_for(eth, ip, seg);
    t.snd_una = h.ack;
    t.snd_wnd = h.window;
    t.retries = 0;
    m_sched.cancel(t.rto_timer);
    t.rto_timer = {};
    tcp_established(n, "rx ACK of SYN|ACK");
  } else if (seq_gt(h.ack, t.snd_nxt)) {
    return tcp_ack_now(n);  // acknowledges something never sent
  } else if (!seq_lt(h.ack, t.snd_una)) {
    const std::uint32_t acked = h.ack - t.snd_una;
    if (t.keepalive_out) {  // any acceptable ACK answers a keep-alive
      t.keepalive_out = false;
      t.retries = 0;
      if (t.snd_una == t.snd_nxt) {
        m_sched.cancel(t.rto_timer);
        t.rto_timer = {};
      }
    }
    const bool fin_acked = t.fin_sent && seq_gt(h.ack, t.fin_seq);
    const std::uint32_t data_acked = acked - (fin_acked && !seq_gt(t.snd_una, t.fin_seq) ? 1 : 0);
    cs.tx_ack = static_cast<std::uint16_t>(cs.tx_ack + data_acked);
    t.snd_una = h.ack;
    t.snd_wnd = h.window;
    if (acked > 0) t.probe_out = false;  // the probe byte was taken
    if (t.probe_out && t.snd_wnd > 0) {
      // The window reopened. A probe byte the peer did not take (it was beyond a closed window) is sent
      // again with what follows, from the oldest unacknowledged byte, as BSD's tcp_output does; carrying
      // on after it would leave a one-byte hole that only the retransmission timer fills.
      t.probe_out = false;
      if (t.snd_nxt - t.snd_una == 1 && !t.fin_sent) {
        t.snd_nxt = t.snd_una;
        cs.tx_rd = cs.tx_ack;
        m_chip.sync_pointers(n);
      }
    }
    if (acked > 0) {
      t.retries = 0;  // the retry counter restarts when new data is acknowledged
      m_sched.cancel(t.rto_timer);
      t.rto_timer = {};
      m_chip.sync_pointers(n);
      if (t.snd_una != t.snd_nxt) tcp_arm_rto(n);
    }
    if (fin_acked) {
      if (sr == SOCK_LAST_ACK) return tcp_drop(n, Sn_IR_DISCON, "rx ACK of FIN in LAST_ACK");
      if (sr == SOCK_CLOSING) {
        m_chip.set_state(n, SOCK_TIME_WAIT, "rx ACK of FIN");
        return tcp_drop(n, 0, "TIME_WAIT (no 2MSL wait)");
      }
    }
  }

  // Data (ESTABLISHED and FIN_WAIT receive; spec §5.4: segments are stored whole or not at all).
  const std::uint8_t st = sn_sr(n);
  std::uint32_t seq = h.seq;
  const std::uint8_t* data = seg.payload;
  std::size_t len = seg.payload_len;
  bool in_order = true;
  if (len > 0 && (st == SOCK_ESTABLISHED || st == SOCK_FIN_WAIT)) {
    if (seq_lt(seq, t.rcv_nxt)) {  // trim what we already have
      const std::uint32_t dup = t.rcv_nxt - seq;
      if (dup >= len) {
        len = 0;
        in_order = false;  // a pure duplicate: re-acknowledge
      } else {
        data += dup;
        len -= dup;
        seq = t.rcv_nxt;
      }
    }
    if (len > 0 && seq != t.rcv_nxt) {
      // Out of order: kept for later when the quirk says so, else dropped; ACK what we have.
      if (m_chip.m_cfg.quirk.tcp_keep_out_of_order && seq_gt(seq, t.rcv_nxt) &&
          seq - t.rcv_nxt + len <= tcp_window(n))
        t.ooo[seq] = octets(data, data + len);
      in_order = false;
      len = 0;
    }
    if (len > 0) {
      if (len > tcp_window(n)) {
        m_chip.m_diag.log(log_level::debug, path(n), "segment of {} bytes does not fit the RX window; dropped", len);
        in_order = false;
        len = 0;
      } else {
        rx_store(n, nullptr, 0, data, len);
        t.rcv_nxt += static_cast<std::uint32_t>(len);
        t.data_exchanged = true;
        // Kept out-of-order segments that now connect (quirk tcp_keep_out_of_order).
        for (auto it = t.ooo.begin(); it != t.ooo.end();) {
          const std::uint32_t s0 = it->first;
          const std::uint32_t s1 = s0 + static_cast<std::uint32_t>(it->second.size());
          if (seq_gt(s0, t.rcv_nxt)) break;
          if (seq_gt(s1, t.rcv_nxt)) {
            const std::uint32_t skip = t.rcv_nxt - s0;
            const std::size_t k = it->second.size() - skip;
            if (k > tcp_window(n)) break;
            rx_store(n, nullptr, 0, it->second.data() + skip, k);
            t.rcv_nxt = s1;
          }
          it = t.ooo.erase(it);
        }
      }
    }
    if (!in_order) tcp_ack_now(n);
  } else if (len > 0) {
    in_order = false;
  }

  // FIN, when everything before it has been accepted.
  if ((h.flags & TCP_FIN) && h.seq + seg.payload_len == t.rcv_nxt) {
    t.rcv_nxt += 1;
    tcp_ack_now(n);
    if (st == SOCK_ESTABLISHED) {
      m_chip.set_state(n, SOCK_CLOSE_WAIT, "rx FIN");
      m_chip.raise_sn_ir(n, Sn_IR_DISCON);
    } else if (st == SOCK_FIN_WAIT) {
      if (t.fin_sent && t.snd_una == t.snd_nxt) {
        m_chip.set_state(n, SOCK_TIME_WAIT, "rx FIN");
        m_chip.raise_sn_ir(n, Sn_IR_DISCON);
        return tcp_drop(n, 0, "TIME_WAIT (no 2MSL wait)");
      }
      const bool last_ack = m_chip.m_cfg.quirk.tcp_fin_wait_fin_goes_last_ack;
      m_chip.set_state(n, last_ack ? SOCK_LAST_ACK : SOCK_CLOSING, "rx FIN before our FIN was acked");
      m_chip.raise_sn_ir(n, Sn_IR_DISCON);
    }
    return;
  }
  if (len > 0 && in_order) tcp_schedule_ack(n);
  tcp_arm_keepalive(n);
  tcp_output(n);
}

}  // namespace wizsim
