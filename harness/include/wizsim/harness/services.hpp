// Simple services on a peer_host, the classic small servers a network test needs on the other end of the
// chip: TCP echo (7), discard (9), a sink that keeps what it gets and can read slowly (to drive the
// chip's zero-window handling), a source that sends a deterministic pattern and closes, UDP echo (7), and
// a pinger. Each keeps statistics.
//
// Lifetime: a service must be destroyed before its host (declare it after the host). Destroying a service
// stops listening and detaches it from its connections, which the host keeps running without an
// application; callbacks already queued for a destroyed service are ignored.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "wizsim/harness/peer.hpp"
#include "wizsim/packet.hpp"
#include "wizsim/scheduler.hpp"

namespace wizsim {

// One accepted connection, as a service saw it.
struct tcp_session {
  ip4_addr remote_ip = 0;
  std::uint16_t remote_port = 0;
  ps_t opened = 0, closed_at = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t bytes_sent = 0;     // handed to the connection
  std::uint64_t bytes_acked = 0;    // acknowledged by the remote end
  bool open = true;
  bool peer_finished = false;       // the remote end sent FIN
  std::string close_reason;         // tcp_connection's: "closed", "connection reset by peer", ...
  octets data;                      // what arrived (services that keep data: the sink)
};

struct tcp_service_stats {
  std::uint64_t connections = 0;    // accepted
  std::uint64_t active = 0;         // open now
  std::uint64_t closed = 0;         // closed cleanly (FIN both ways)
  std::uint64_t aborted = 0;        // reset, timed out or aborted
  std::uint64_t bytes_received = 0, bytes_sent = 0, bytes_acked = 0;
};

// The common part: listening, session bookkeeping, statistics. Subclasses add the behaviour.
class tcp_service {
 public:
  tcp_service(const tcp_service&) = delete;
  tcp_service& operator=(const tcp_service&) = delete;
  virtual ~tcp_service();

  std::uint16_t port() const { return m_port; }
  const std::string& name() const { return m_name; }
  const tcp_service_stats& stats() const { return m_stats; }
  // Every connection accepted so far, in order.
  const std::vector<tcp_session>& sessions() const { return m_sessions; }
  // The open connections.
  std::vector<tcp_ptr> connections() const;
  peer_host& host() { return m_host; }

 protected:
  // Starts listening on `port` (throws std::invalid_argument if the host has it taken).
  tcp_service(peer_host& host, std::uint16_t port, std::string name);

  // A connection was accepted (established); `session` indexes sessions(). Subclasses set up their
  // behaviour here; the base has already hooked on_data, on_peer_fin, on_closed and on_acked to call
  // the hooks below.
  virtual void accepted(const tcp_ptr& c, std::size_t session) = 0;
  virtual void data(const tcp_ptr& c, std::size_t session, const octets& d) = 0;
  // The remote end finished sending. Default: close our side too.
  virtual void peer_finished(const tcp_ptr& c, std::size_t session);
  virtual void closed(std::size_t /*session*/) {}

  // Sends and counts.
  void send(const tcp_ptr& c, std::size_t session, const octets& d);
  tcp_session& session(std::size_t i) { return m_sessions[i]; }
  // Wraps a callback so it does nothing once the service is gone.
  std::function<void()> guarded(std::function<void()> fn) const;

 private:
  void on_accept(tcp_ptr c);

  peer_host& m_host;
  std::uint16_t m_port;
  std::string m_name;
  tcp_service_stats m_stats;
  std::vector<tcp_session> m_sessions;
  std::vector<std::pair<std::weak_ptr<tcp_connection>, std::size_t>> m_conns;
  std::shared_ptr<bool> m_alive;
};

// RFC 862: sends back everything it receives; closes when the client does.
class tcp_echo_service : public tcp_service {
 public:
  explicit tcp_echo_service(peer_host& host, std::uint16_t port = 7);

 protected:
  void accepted(const tcp_ptr&, std::size_t) override {}
  void data(const tcp_ptr& c, std::size_t s, const octets& d) override;
};

// RFC 863: reads and throws away; closes when the client does.
class tcp_discard_service : public tcp_service {
 public:
  explicit tcp_discard_service(peer_host& host, std::uint16_t port = 9);

 protected:
  void accepted(const tcp_ptr&, std::size_t) override {}
  void data(const tcp_ptr&, std::size_t, const octets&) override {}
};

struct tcp_sink_config {
  bool keep = true;                 // keep the bytes (tcp_session::data, received())
  // Slow reader: once `pause_after` bytes have been read since the last pause, stop reading for
  // `pause_for` (the host buffers what arrives and its advertised window shrinks to zero; on resuming,
  // everything buffered is read at once). 0 / 0: read at once.
  std::size_t pause_after = 0;
  ps_t pause_for = 0;
  ps_t initial_pause = 0;           // do not read at all for this long after accepting
  bool close_on_peer_fin = true;
};

// Counts (and keeps) what it receives; optionally reads slowly.
class tcp_sink_service : public tcp_service {
 public:
  // Throws std::invalid_argument when exactly one of pause_after / pause_for is set.
  tcp_sink_service(peer_host& host, std::uint16_t port, tcp_sink_config cfg = {});

  // Everything kept, all sessions in order.
  octets received() const;
  std::uint64_t pauses() const { return m_pauses; }
  const tcp_sink_config& config() const { return m_cfg; }

 protected:
  void accepted(const tcp_ptr& c, std::size_t s) override;
  void data(const tcp_ptr& c, std::size_t s, const octets& d) override;
  void peer_finished(const tcp_ptr& c, std::size_t s) override;

 private:
  void pause(const tcp_ptr& c, ps_t how_long);

  tcp_sink_config m_cfg;
  std::vector<std::size_t> m_since_pause;  // per session
  std::uint64_t m_pauses = 0;
};

struct tcp_source_config {
  std::size_t bytes = 64 * 1024;    // sent on every accepted connection
  std::uint32_t seed = 0;           // pattern seed
  bool close_when_done = true;      // FIN once everything is queued
};

// Sends `bytes` octets of pattern(bytes, seed) on connect, then closes.
class tcp_source_service : public tcp_service {
 public:
  tcp_source_service(peer_host& host, std::uint16_t port, tcp_source_config cfg = {});
  // The deterministic pattern: octet i is the top byte of (i + seed) * 2654435761 (mod 2^32), which does
  // not repeat with any short period, so a lost, duplicated or shifted stretch shows.
  static octets pattern(std::size_t n, std::uint32_t seed = 0);
  const tcp_source_config& config() const { return m_cfg; }
  // Sessions whose whole pattern the remote end acknowledged.
  std::uint64_t completed() const;

 protected:
  void accepted(const tcp_ptr& c, std::size_t s) override;
  void data(const tcp_ptr&, std::size_t, const octets&) override {}
  void peer_finished(const tcp_ptr& c, std::size_t s) override;

 private:
  tcp_source_config m_cfg;
};

// RFC 862 over UDP: every datagram goes back to where it came from.
class udp_echo_service {
 public:
  struct stats_t {
    std::uint64_t datagrams = 0, bytes = 0;
    std::uint64_t ignored = 0;      // from 0.0.0.0 or port 0: nowhere to answer
  };
  explicit udp_echo_service(peer_host& host, std::uint16_t port = 7);
  ~udp_echo_service();
  udp_echo_service(const udp_echo_service&) = delete;
  udp_echo_service& operator=(const udp_echo_service&) = delete;
  const stats_t& stats() const { return m_stats; }
  std::uint16_t port() const { return m_port; }

 private:
  peer_host& m_host;
  std::uint16_t m_port;
  stats_t m_stats;
  std::shared_ptr<bool> m_alive;
};

struct pinger_config {
  ps_t interval = seconds(1);       // between echo requests
  std::size_t count = 4;            // requests to send; 0: until stop()
  std::size_t payload = 56;         // octets of data per request
  ps_t timeout = seconds(1);        // per request
  std::uint16_t first_seq = 1;
};

struct ping_result {
  std::uint16_t seq = 0;
  ps_t sent = 0;
  std::optional<ps_t> rtt;          // nullopt: timed out
};

// Periodic ping, like ping(8): count requests every interval, each with its own timeout.
class pinger {
 public:
  struct stats_t {
    std::uint64_t sent = 0, received = 0, lost = 0;
    ps_t min_rtt = 0, max_rtt = 0, avg_rtt = 0;  // over the replies (0 without any)
  };
  // Throws std::invalid_argument on a zero interval or timeout, or a payload over 1472 octets.
  pinger(peer_host& host, ip4_addr target, pinger_config cfg = {});
  ~pinger();
  pinger(const pinger&) = delete;
  pinger& operator=(const pinger&) = delete;

  void start();                      // first request now (nothing once `count` have been sent)
  void stop();                       // no more requests; outstanding ones still resolve
  bool running() const { return static_cast<bool>(m_timer); }
  // Every request sent has resolved and no more will be sent.
  bool done() const;
  const std::vector<ping_result>& results() const { return m_results; }
  stats_t stats() const;
  std::function<void(const ping_result&)> on_result;

 private:
  void send_one();

  peer_host& m_host;
  ip4_addr m_target;
  pinger_config m_cfg;
  std::vector<ping_result> m_results;
  std::size_t m_outstanding = 0;
  std::uint16_t m_next_seq;
  scheduler::event_id m_timer;
  std::shared_ptr<bool> m_alive;
};

}  // namespace wizsim
