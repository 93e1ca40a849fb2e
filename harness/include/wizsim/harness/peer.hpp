// A peer host on a segment with a small IPv4 stack of its own: ARP (cache, requests, replies, queueing
// while resolving), ICMP (echo replies, ping, port unreachable), UDP (bind/send, broadcast, multicast
// receive) and TCP (a second TCP implementation, independent of the chip's: handshake, MSS, sliding
// window, retransmission with exponential backoff, fast retransmit, zero-window probes, FIN, RST,
// TIME_WAIT). Services (DHCP, DNS, HTTP, echo ...) run on top of it. Everything runs on the scheduler.
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wizsim/diag.hpp"
#include "wizsim/harness/segment.hpp"
#include "wizsim/packet.hpp"
#include "wizsim/scheduler.hpp"

namespace wizsim {

class peer_host;

struct peer_config {
  std::string name = "peer";
  mac_addr mac{0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
  ip4_addr ip = 0;                 // 0: unconfigured (can still send from 0.0.0.0 and receive broadcasts)
  ip4_addr netmask = ip4(255, 255, 255, 0);
  ip4_addr gateway = 0;            // off-subnet destinations go through it; 0: off-subnet is unreachable
  link_config link;
  bool answer_ping = true;
  bool send_port_unreachable = true;  // ICMP 3/3 for UDP to an unbound port
  bool reset_closed_ports = true;     // TCP RST for segments to a port nobody listens on
  // TCP tunables.
  std::uint16_t tcp_mss = 1460;
  std::uint16_t tcp_window = 8192;
  ps_t tcp_rto_initial = ms(1000);
  ps_t tcp_rto_min = ms(200);
  ps_t tcp_rto_max = seconds(60);
  int tcp_max_retries = 8;            // retransmissions of one segment before the connection is aborted
  ps_t tcp_delayed_ack = 0;           // 0: ACK every data segment at once
  ps_t tcp_time_wait = seconds(1);    // TIME_WAIT hold (short, to keep runs brisk)
  ps_t arp_timeout = seconds(1);      // per request; 3 tries, then queued packets are dropped
};

struct udp_datagram {
  ip4_addr src = 0, dst = 0;
  std::uint16_t src_port = 0, dst_port = 0;
  mac_addr src_mac{};
  octets payload;
};

enum class tcp_state : std::uint8_t {
  closed, listen, syn_sent, syn_received, established, fin_wait_1, fin_wait_2, closing, time_wait,
  close_wait, last_ack
};
const char* to_string(tcp_state s);

struct tcp_stats {
  std::uint64_t segments_sent = 0, segments_received = 0;
  std::uint64_t retransmissions = 0, fast_retransmissions = 0, zero_window_probes = 0;
  std::uint64_t bytes_sent = 0, bytes_acked = 0, bytes_received = 0;
  std::uint64_t out_of_order = 0, duplicate_acks = 0, bad_segments = 0;
};

// One TCP connection. Owned by its host; services hold shared pointers. All callbacks run from scheduler
// events (never re-entrantly from send()/close()).
class tcp_connection : public std::enable_shared_from_this<tcp_connection> {
 public:
  // Queues data; it is sent as the peer's window allows. Ignored (and logged) after close().
  void send(const octets& data);
  void send(std::string_view data);
  // Sends FIN once everything queued is sent.
  void close();
  // Sends RST and drops the connection.
  void abort();
  // Receiver side flow control: while paused, received data is buffered and the advertised window
  // shrinks to zero (a slow application); resume() delivers and reopens the window.
  void pause_reading(bool paused);
  // Advertised receive window (defaults to peer_config::tcp_window).
  void set_receive_window(std::uint16_t w);

  std::function<void()> on_connected;                 // handshake completed
  std::function<void(const octets&)> on_data;         // in-order data
  std::function<void()> on_peer_fin;                  // the other side finished sending
  std::function<void(const std::string& reason)> on_closed;  // fully closed, reset or timed out
  std::function<void(std::size_t acked)> on_acked;    // bytes newly acknowledged

  tcp_state state() const { return m_state; }
  bool established() const { return m_state == tcp_state::established; }
  std::size_t unsent() const;             // queued, not yet sent
  std::size_t in_flight() const;          // sent, not yet acknowledged
  ip4_addr remote_ip() const { return m_rip; }
  std::uint16_t remote_port() const { return m_rport; }
  std::uint16_t local_port() const { return m_lport; }
  std::uint16_t peer_mss() const { return m_peer_mss; }
  std::uint16_t peer_window() const { return m_snd_wnd; }
  const std::string& close_reason() const { return m_close_reason; }
  const tcp_stats& stats() const { return m_stats; }
  peer_host& host() { return m_host; }

  // Internal: constructed by peer_host.
  tcp_connection(peer_host& h, ip4_addr rip, std::uint16_t rport, std::uint16_t lport);
  ~tcp_connection();

 private:
  friend class peer_host;
  void start_connect();
  void start_accept(const tcp_view& syn);
  void segment_arrived(const tcp_view& seg);
  void output();
  void send_segment(std::uint8_t flags, std::uint32_t seq, const std::uint8_t* data, std::size_t n,
                    bool with_mss = false);
  void send_ack();
  void arm_rto();
  void on_rto();
  void arm_persist();
  void on_persist();
  void retransmit_oldest();
  void set_state(tcp_state s);
  void finish(const std::string& reason, bool notify = true);
  void deliver(const std::uint8_t* p, std::size_t n);
  void flush_received();
  std::uint16_t advertised_window() const;
  void post(std::function<void()> fn);
  void enter_time_wait();
  std::uint16_t effective_mss() const;

  peer_host& m_host;
  ip4_addr m_rip;
  std::uint16_t m_rport, m_lport;
  tcp_state m_state = tcp_state::closed;
  // Send side.
  std::uint32_t m_iss = 0, m_snd_una = 0, m_snd_nxt = 0, m_snd_max = 0;
  std::uint16_t m_snd_wnd = 0;
  std::uint16_t m_peer_mss = 536;
  std::deque<std::uint8_t> m_sendq;   // from snd_una onward (unacked + unsent)
  bool m_close_requested = false;
  bool m_fin_sent = false;
  std::uint32_t m_fin_seq = 0;
  int m_dup_acks = 0;
  std::uint32_t m_cwnd = 0, m_ssthresh = 0;  // slow start / congestion avoidance (RFC 5681, simplified)
  ps_t m_rto = 0;
  ps_t m_srtt = 0, m_rttvar = 0;              // RFC 6298 estimator, one timed segment at a time
  bool m_timing = false;
  std::uint32_t m_rtt_seq = 0;
  ps_t m_rtt_start = 0;
  ps_t m_persist_interval = 0;
  int m_retries = 0;
  bool m_finished = false;
  int m_unacked_segments = 0;
  std::function<void(std::shared_ptr<tcp_connection>)> m_accept;  // listener's handler, until established
  scheduler::event_id m_rto_timer, m_persist_timer, m_ack_timer, m_tw_timer;
  // Receive side.
  std::uint32_t m_irs = 0, m_rcv_nxt = 0;
  std::uint32_t m_last_ack_sent = 0;  // rcv_nxt carried by the last segment we sent with ACK
  std::uint16_t m_rcv_wnd_cfg = 0;
  bool m_paused = false;
  octets m_rcv_buf;                   // received while paused
  bool m_fin_received = false;
  bool m_peer_fin_pending = false;  // FIN arrived while a paused reader still had data buffered
  std::string m_close_reason;
  tcp_stats m_stats;
};
using tcp_ptr = std::shared_ptr<tcp_connection>;

class peer_host {
 public:
  peer_host(segment& seg, peer_config cfg);
  ~peer_host();
  peer_host(const peer_host&) = delete;
  peer_host& operator=(const peer_host&) = delete;

  // ---- addressing ----------------------------------------------------------------------------------
  const peer_config& config() const { return m_cfg; }
  ip4_addr ip() const { return m_cfg.ip; }
  const mac_addr& mac() const { return m_cfg.mac; }
  void set_ip(ip4_addr ip, ip4_addr netmask, ip4_addr gateway);
  // Static ARP entry (or what a reply taught). Lookups never trigger traffic.
  void arp_add(ip4_addr ip, const mac_addr& mac);
  std::optional<mac_addr> arp_lookup(ip4_addr ip) const;
  void join_multicast(ip4_addr group);

  // ---- UDP -------------------------------------------------------------------------------------------
  using udp_handler = std::function<void(const udp_datagram&)>;
  // Binds `port` (throws std::invalid_argument if already bound). Datagrams to our address, to a
  // broadcast address or to a joined group arrive at the handler.
  void udp_bind(std::uint16_t port, udp_handler h);
  void udp_unbind(std::uint16_t port);
  // Sends from our address (ARP-resolving the next hop; 255.255.255.255 and the subnet broadcast go to
  // ff:ff:ff:ff:ff:ff, multicast to its mapped MAC).
  void udp_send(ip4_addr dst, std::uint16_t dst_port, std::uint16_t src_port, const octets& payload);
  // Sends straight to a MAC without ARP, from `src` (DHCP servers answering a client with no address).
  void udp_send_to_mac(const mac_addr& dst_mac, ip4_addr src, ip4_addr dst, std::uint16_t dst_port,
                       std::uint16_t src_port, const octets& payload);

  // ---- ICMP ------------------------------------------------------------------------------------------
  // Sends an echo request; `done` gets the round-trip time, or nullopt after `timeout`.
  void ping(ip4_addr dst, std::uint16_t seq, std::size_t payload_len, ps_t timeout,
            std::function<void(std::optional<ps_t> rtt)> done);
  std::function<void(ip4_addr from, const icmp_view& icmp)> on_icmp;  // every ICMP message received

  // ---- TCP -------------------------------------------------------------------------------------------
  using accept_handler = std::function<void(tcp_ptr)>;
  void tcp_listen(std::uint16_t port, accept_handler on_accept);
  void tcp_unlisten(std::uint16_t port);
  // Opens a connection from an ephemeral port (or `local_port`); callbacks may be set on the result
  // before the handshake completes (it starts from a scheduler event).
  tcp_ptr tcp_connect(ip4_addr dst, std::uint16_t dst_port, std::uint16_t local_port = 0);
  std::vector<tcp_ptr> connections() const;

  // ---- raw -------------------------------------------------------------------------------------------
  // Every frame delivered to this host (after MAC filtering) is shown here first; returning true
  // consumes it (the stack does not see it).
  std::function<bool(const eth_view& eth, const octets& frame)> on_frame;
  void send_frame(octets frame);

  struct stats_t {
    std::uint64_t frames_in = 0, frames_out = 0, ignored = 0, malformed = 0;
    std::uint64_t arp_requests = 0, arp_replies = 0, icmp_echo_replies = 0, udp_in = 0, udp_out = 0;
    std::uint64_t udp_no_port = 0, tcp_resets_sent = 0;
  };
  const stats_t& stats() const { return m_stats; }
  diag& log() { return m_diag; }
  segment& seg() { return m_seg; }
  scheduler& sched() { return m_seg.sched(); }
  segment::port_id port() const { return m_port; }
  std::uint16_t ephemeral_port();
  std::uint32_t random32();

 private:
  friend class tcp_connection;
  void receive(const octets& frame);
  void on_arp(const eth_view& eth);
  void on_ipv4(const eth_view& eth, const octets& frame);
  void on_udp(const eth_view& eth, const ipv4_view& ip);
  void on_tcp(const ipv4_view& ip);
  void send_ip(ip4_addr dst, std::uint8_t proto, const octets& payload, std::uint8_t ttl = 64);
  void send_via_mac(const mac_addr& mac, ip4_addr dst, std::uint8_t proto, const octets& payload,
                    std::uint8_t ttl, ip4_addr src);
  void resolve_and_send(ip4_addr next_hop, octets ip_packet);
  void send_arp_request(ip4_addr target);
  void send_rst_for(const ipv4_view& ip, const tcp_view& seg);
  void drop_connection(const tcp_connection* c);
  bool is_local_dst(ip4_addr dst) const;
  ip4_addr next_hop(ip4_addr dst) const;

  segment& m_seg;
  peer_config m_cfg;
  segment::port_id m_port;
  diag m_diag;
  rng m_rng;
  std::uint16_t m_ip_id = 1;
  std::uint16_t m_next_ephemeral = 49152;
  std::map<ip4_addr, mac_addr> m_arp;
  struct pending_arp {
    std::vector<octets> packets;
    int tries = 0;
    scheduler::event_id timer;
  };
  std::map<ip4_addr, pending_arp> m_arp_pending;
  std::vector<ip4_addr> m_groups;
  std::map<std::uint16_t, udp_handler> m_udp;
  std::map<std::uint16_t, accept_handler> m_listen;
  struct conn_key {
    ip4_addr rip;
    std::uint16_t rport, lport;
    bool operator<(const conn_key& o) const {
      return rip != o.rip ? rip < o.rip : rport != o.rport ? rport < o.rport : lport < o.lport;
    }
  };
  std::map<conn_key, tcp_ptr> m_conns;
  struct ping_wait {
    std::function<void(std::optional<ps_t>)> done;
    ps_t sent;
    scheduler::event_id timer;
  };
  std::map<std::uint32_t, ping_wait> m_pings;  // key: id << 16 | seq
  stats_t m_stats;
  std::shared_ptr<bool> m_alive;  // guards scheduled callbacks against a destroyed host
};

}  // namespace wizsim
