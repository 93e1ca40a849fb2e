// Simple services on a peer_host: TCP echo, discard, sink, source; UDP echo; pinger. See services.hpp.
#include "wizsim/harness/services.hpp"

#include <algorithm>
#include <stdexcept>

namespace wizsim {

// ---- tcp_service ------------------------------------------------------------------------------------------

tcp_service::tcp_service(peer_host& host, std::uint16_t port, std::string name)
    : m_host(host), m_port(port), m_name(std::move(name)), m_alive(std::make_shared<bool>(true)) {
  std::weak_ptr<bool> alive = m_alive;
  m_host.tcp_listen(port, [this, alive](tcp_ptr c) {
    if (alive.lock()) on_accept(std::move(c));
  });
}

tcp_service::~tcp_service() {
  *m_alive = false;
  m_host.tcp_unlisten(m_port);
  for (auto& [w, i] : m_conns) {
    (void)i;
    if (auto c = w.lock()) {
      c->on_data = nullptr;
      c->on_peer_fin = nullptr;
      c->on_closed = nullptr;
      c->on_acked = nullptr;
      c->on_connected = nullptr;
    }
  }
}

std::function<void()> tcp_service::guarded(std::function<void()> fn) const {
  std::weak_ptr<bool> alive = m_alive;
  return [alive, fn = std::move(fn)] {
    if (alive.lock()) fn();
  };
}

std::vector<tcp_ptr> tcp_service::connections() const {
  std::vector<tcp_ptr> out;
  for (const auto& [w, i] : m_conns)
    if (auto c = w.lock(); c && m_sessions[i].open) out.push_back(c);
  return out;
}

void tcp_service::on_accept(tcp_ptr c) {
  const std::size_t i = m_sessions.size();
  tcp_session fresh;
  fresh.remote_ip = c->remote_ip();
  fresh.remote_port = c->remote_port();
  fresh.opened = m_host.sched().now();
  m_sessions.push_back(std::move(fresh));
  m_conns.emplace_back(c, i);
  ++m_stats.connections;
  ++m_stats.active;
  m_host.log().log(log_level::info, m_name, "connection from {}:{}", to_string(c->remote_ip()),
                   c->remote_port());

  // The connection owns these callbacks, so they hold it weakly (no cycle) and the service by a guard.
  std::weak_ptr<tcp_connection> wc = c;
  std::weak_ptr<bool> alive = m_alive;
  c->on_data = [this, alive, wc, i](const octets& d) {
    auto conn = wc.lock();
    if (!alive.lock() || !conn) return;
    m_sessions[i].bytes_received += d.size();
    m_stats.bytes_received += d.size();
    data(conn, i, d);
  };
  c->on_peer_fin = [this, alive, wc, i] {
    auto conn = wc.lock();
    if (!alive.lock() || !conn) return;
    m_sessions[i].peer_finished = true;
    peer_finished(conn, i);
  };
  c->on_acked = [this, alive, i](std::size_t n) {
    if (!alive.lock()) return;
    m_sessions[i].bytes_acked += n;
    m_stats.bytes_acked += n;
  };
  c->on_closed = [this, alive, i](const std::string& reason) {
    if (!alive.lock() || !m_sessions[i].open) return;
    tcp_session& s = m_sessions[i];
    s.open = false;
    s.close_reason = reason;
    s.closed_at = m_host.sched().now();
    --m_stats.active;
    if (reason == "closed") ++m_stats.closed;
    else ++m_stats.aborted;
    m_host.log().log(log_level::info, m_name, "connection from {}:{} ended: {} ({} octets in, {} out)",
                     to_string(s.remote_ip), s.remote_port, reason, s.bytes_received, s.bytes_sent);
    closed(i);
  };
  accepted(c, i);
}

void tcp_service::peer_finished(const tcp_ptr& c, std::size_t) { c->close(); }

void tcp_service::send(const tcp_ptr& c, std::size_t i, const octets& d) {
  if (d.empty()) return;
  m_sessions[i].bytes_sent += d.size();
  m_stats.bytes_sent += d.size();
  c->send(d);
}

// ---- echo, discard ----------------------------------------------------------------------------------------

tcp_echo_service::tcp_echo_service(peer_host& host, std::uint16_t port)
    : tcp_service(host, port, "tcp-echo") {}

void tcp_echo_service::data(const tcp_ptr& c, std::size_t s, const octets& d) { send(c, s, d); }

tcp_discard_service::tcp_discard_service(peer_host& host, std::uint16_t port)
    : tcp_service(host, port, "tcp-discard") {}

// ---- sink -------------------------------------------------------------------------------------------------

namespace {
const tcp_sink_config& checked(const tcp_sink_config& c) {
  if ((c.pause_after == 0) != (c.pause_for == 0))
    throw std::invalid_argument("tcp sink: pause_after and pause_for go together (both 0 for a fast reader)");
  return c;
}
}  // namespace

tcp_sink_service::tcp_sink_service(peer_host& host, std::uint16_t port, tcp_sink_config cfg)
    : tcp_service(host, port, "tcp-sink"), m_cfg(checked(cfg)) {}

octets tcp_sink_service::received() const {
  octets all;
  for (const auto& s : sessions()) all.insert(all.end(), s.data.begin(), s.data.end());
  return all;
}

void tcp_sink_service::pause(const tcp_ptr& c, ps_t how_long) {
  ++m_pauses;
  c->pause_reading(true);
  std::weak_ptr<tcp_connection> wc = c;
  host().sched().after(how_long, guarded([wc] {
    if (auto conn = wc.lock()) conn->pause_reading(false);
  }));
}

void tcp_sink_service::accepted(const tcp_ptr& c, std::size_t s) {
  if (m_since_pause.size() <= s) m_since_pause.resize(s + 1, 0);
  if (m_cfg.initial_pause > 0) pause(c, m_cfg.initial_pause);
}

void tcp_sink_service::data(const tcp_ptr& c, std::size_t s, const octets& d) {
  if (m_cfg.keep) {
    octets& kept = session(s).data;
    kept.insert(kept.end(), d.begin(), d.end());
  }
  if (m_cfg.pause_after == 0) return;
  m_since_pause[s] += d.size();
  if (m_since_pause[s] >= m_cfg.pause_after) {
    m_since_pause[s] = 0;
    pause(c, m_cfg.pause_for);
  }
}

void tcp_sink_service::peer_finished(const tcp_ptr& c, std::size_t) {
  if (m_cfg.close_on_peer_fin) c->close();
}

// ---- source -----------------------------------------------------------------------------------------------

tcp_source_service::tcp_source_service(peer_host& host, std::uint16_t port, tcp_source_config cfg)
    : tcp_service(host, port, "tcp-source"), m_cfg(cfg) {}

octets tcp_source_service::pattern(std::size_t n, std::uint32_t seed) {
  octets p(n);
  for (std::size_t i = 0; i < n; ++i)
    p[i] = static_cast<std::uint8_t>(((static_cast<std::uint32_t>(i) + seed) * 2654435761u) >> 24);
  return p;
}

void tcp_source_service::accepted(const tcp_ptr& c, std::size_t s) {
  send(c, s, pattern(m_cfg.bytes, m_cfg.seed));
  if (m_cfg.close_when_done) c->close();
}

void tcp_source_service::peer_finished(const tcp_ptr& c, std::size_t) {
  if (!m_cfg.close_when_done) c->close();
}

std::uint64_t tcp_source_service::completed() const {
  return static_cast<std::uint64_t>(
      std::count_if(sessions().begin(), sessions().end(),
                    [this](const tcp_session& s) { return s.bytes_acked >= m_cfg.bytes; }));
}

// ---- UDP echo ---------------------------------------------------------------------------------------------

udp_echo_service::udp_echo_service(peer_host& host, std::uint16_t port)
    : m_host(host), m_port(port), m_alive(std::make_shared<bool>(true)) {
  std::weak_ptr<bool> alive = m_alive;
  m_host.udp_bind(port, [this, alive](const udp_datagram& d) {
    if (!alive.lock()) return;
    if (d.src == 0 || d.src_port == 0) {
      ++m_stats.ignored;
      return;
    }
    ++m_stats.datagrams;
    m_stats.bytes += d.payload.size();
    m_host.udp_send(d.src, d.src_port, m_port, d.payload);
  });
}

udp_echo_service::~udp_echo_service() {
  *m_alive = false;
  m_host.udp_unbind(m_port);
}

// ---- pinger -----------------------------------------------------------------------------------------------

pinger::pinger(peer_host& host, ip4_addr target, pinger_config cfg)
    : m_host(host),
      m_target(target),
      m_cfg(cfg),
      m_next_seq(cfg.first_seq),
      m_alive(std::make_shared<bool>(true)) {
  if (m_cfg.interval == 0) throw std::invalid_argument("pinger: interval must be greater than 0");
  if (m_cfg.timeout == 0) throw std::invalid_argument("pinger: timeout must be greater than 0");
  if (m_cfg.payload > 1472) throw std::invalid_argument("pinger: payload must be at most 1472 octets");
}

pinger::~pinger() {
  *m_alive = false;
  m_host.sched().cancel(m_timer);
}

void pinger::start() {
  if (m_timer || (m_cfg.count != 0 && m_results.size() >= m_cfg.count)) return;
  std::weak_ptr<bool> alive = m_alive;
  m_timer = m_host.sched().after(0, [this, alive] {
    if (alive.lock()) send_one();
  });
}

void pinger::stop() {
  m_host.sched().cancel(m_timer);
  m_timer = {};
}

bool pinger::done() const { return !m_timer && m_outstanding == 0 && !m_results.empty(); }

void pinger::send_one() {
  m_timer = {};
  const std::size_t index = m_results.size();
  ping_result r;
  r.seq = m_next_seq++;
  r.sent = m_host.sched().now();
  m_results.push_back(r);
  ++m_outstanding;
  std::weak_ptr<bool> alive = m_alive;
  m_host.ping(m_target, r.seq, m_cfg.payload, m_cfg.timeout, [this, alive, index](std::optional<ps_t> rtt) {
    if (!alive.lock()) return;
    --m_outstanding;
    m_results[index].rtt = rtt;
    if (rtt)
      m_host.log().log(log_level::debug, "ping", "reply from {} seq {} in {}", to_string(m_target),
                       m_results[index].seq, format_time(*rtt));
    else
      m_host.log().log(log_level::info, "ping", "no reply from {} seq {}", to_string(m_target),
                       m_results[index].seq);
    if (on_result) on_result(m_results[index]);
  });
  if (m_cfg.count != 0 && m_results.size() >= m_cfg.count) return;
  m_timer = m_host.sched().after(m_cfg.interval, [this, alive] {
    if (alive.lock()) send_one();
  });
}

pinger::stats_t pinger::stats() const {
  stats_t s;
  ps_t total = 0;
  for (const auto& r : m_results) {
    ++s.sent;
    if (!r.rtt) {
      // Only requests that have timed out count as lost; outstanding ones are neither.
      continue;
    }
    ++s.received;
    total += *r.rtt;
    s.min_rtt = s.received == 1 ? *r.rtt : std::min(s.min_rtt, *r.rtt);
    s.max_rtt = std::max(s.max_rtt, *r.rtt);
  }
  s.lost = s.sent - s.received - m_outstanding;
  if (s.received) s.avg_rtt = total / s.received;
  return s;
}

}  // namespace wizsim
