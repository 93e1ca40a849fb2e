// The chip's hardwired network engine (spec §6): Ethernet port with wire timing, ARP, IPv4, ICMP, UDP
// and MACRAW. Private to sim/: the chip owns one and forwards commands and frames to it.
#pragma once
#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>

#include "wizsim/packet.hpp"
#include "wizsim/scheduler.hpp"
#include "wizsim/w5500.hpp"

namespace wizsim {

class net_engine {
 public:
  explicit net_engine(w5500& chip);
  ~net_engine();

  // ---- from the command layer ----
  void send(int n, bool with_mac);  // SEND / SEND_MAC on a UDP or MACRAW socket
  void socket_closed(int n);        // CLOSE, re-OPEN, reset: cancel the socket's timers and sends
  void reset();                     // chip reset: drop everything queued
  void link_changed(bool up);

  // ---- Ethernet port ----
  void receive(const std::uint8_t* frame, std::size_t n);
  void transmit(octets frame, std::function<void()> done);
  std::size_t tx_queue_depth() const { return m_txq.size() + (m_tx_busy ? 1 : 0); }
  ps_t wire_time(std::size_t frame_len) const;
  std::function<void(const w5500::wire_frame&)> on_transmit;
  const net_stats& stats() const { return m_stats; }

 private:
  struct pending_tx {
    octets frame;
    std::function<void()> done;
  };
  struct sock_state {
    // ARP cache (spec §6.4): the MAC in Sn_DHAR is reused while DIPR is unchanged.
    bool arp_valid = false;
    ip4_addr arp_ip = 0;
    // ARP resolution in progress.
    bool arp_busy = false;
    ip4_addr arp_target = 0;  // next hop being resolved
    ip4_addr arp_for = 0;     // destination IP it is resolved for
    int arp_sent = 0;
    scheduler::event_id arp_timer{};
    std::function<void(bool)> arp_done;
    // SEND in progress: [tx_rd, send_end) is being transmitted.
    bool sending = false;
    std::uint16_t send_end = 0;
    std::uint64_t generation = 0;  // bumps on close so stale completions are ignored
  };

  // chip access
  ip4_addr sipr() const;
  ip4_addr subr() const;
  ip4_addr gar() const;
  mac_addr shar() const;
  ip4_addr sn_dipr(int n) const;
  std::uint16_t sn_port(int n) const;
  std::uint16_t sn_dport(int n) const;
  mac_addr sn_dhar(int n) const;
  void set_sn_dhar(int n, const mac_addr& m);
  std::uint8_t sn_sr(int n) const;
  std::uint8_t sn_mr(int n) const;
  ps_t rtr_period() const;
  int rcr() const;
  bool is_broadcast(ip4_addr a) const;

  // ARP
  void resolve(int n, ip4_addr dst, std::function<void(bool)> done);
  void arp_request_tick(int n);
  void handle_arp(const eth_view& eth);

  // IPv4 and above; return true when a hardware socket consumed the frame
  bool handle_ipv4(const eth_view& eth);
  void handle_icmp(const eth_view& eth, const ipv4_view& ip);
  bool handle_udp(const eth_view& eth, const ipv4_view& ip);
  void send_ip(const mac_addr& dst_mac, ipv4_fields h, const octets& payload, std::function<void()> done);
  ipv4_fields ip_header_for(int n, ip4_addr dst, std::uint8_t proto);
  ipv4_fields chip_ip_header(ip4_addr dst, std::uint8_t proto, std::uint16_t frag) const;

  // sockets
  void udp_send(int n, bool with_mac);
  void udp_transmit(int n, const mac_addr& dst_mac, ip4_addr dip, std::uint16_t dport);
  void macraw_send(int n);
  void send_complete(int n, std::uint64_t generation, bool ok);
  octets tx_data(int n, std::uint16_t from, std::uint16_t to) const;
  bool rx_store(int n, const std::uint8_t* head, std::size_t head_len, const std::uint8_t* data, std::size_t len);
  void macraw_deliver(const std::uint8_t* frame, std::size_t n);

  void start_next_tx();

  // ---- multicast / IGMP / WOL (net_engine.cpp; spec §3.1, §4.1, §6.2, §6.5, U26) ----
 public:
  void udp_opened(int n);      // a UDP socket became SOCK_UDP: with MULTI, latch the group and send the join
  void socket_closing(int n);  // CLOSE (or re-OPEN) of socket n: IGMPv2 leave for a joined v2 group
 private:
  struct mcast_group {
    bool joined = false;  // socket n is a UDP MULTI socket that sent its join
    bool v1 = false;      // Sn_MR.MC latched at OPEN: IGMPv1 reports, no leave
    ip4_addr ip = 0;      // Sn_DIPR latched at OPEN
    mac_addr mac{};       // Sn_DHAR latched at OPEN
  };
  bool mcast_mac_accepted(const mac_addr& dst) const;  // receive filter for 01:00:5E:... frames
  bool mcast_ip_joined(ip4_addr dst) const;
  void igmp_send(int n, std::uint8_t type, ip4_addr group, ip4_addr dst, const mac_addr& dst_mac);
  void handle_igmp(const eth_view& eth, const ipv4_view& ip);
  void wol_check(const std::uint8_t* payload, std::size_t len);
  std::array<mcast_group, num_sockets> m_mcast{};

  // ---- TCP (tcp.cpp; spec §6.3, §3.4) ----
 public:
  void tcp_command(int n, std::uint8_t cmd);  // LISTEN (state only), CONNECT, DISCON, SEND, SEND_KEEP
  void tcp_recv_committed(int n);             // RECV freed RX space: window update
 private:
  struct tcb {
    std::uint32_t iss = 0, snd_una = 0, snd_nxt = 0, rcv_nxt = 0;
    std::uint32_t snd_wnd = 0;       // peer's advertised window
    std::uint16_t mss = 1460;        // effective MSS
    std::uint16_t adv_wnd = 0;       // window we last advertised
    bool syn_acked = false;
    bool fin_pending = false;        // DISCON: FIN goes after the queued data
    bool fin_sent = false;
    std::uint32_t fin_seq = 0;
    bool send_ok_pending = false;    // a SEND whose data has not all left yet
    bool data_exchanged = false;     // keep-alive needs one byte sent or received
    bool keepalive_out = false;      // a keep-alive probe awaits its ACK
    bool probe_out = false;          // a zero-window probe byte has been sent beyond the window
    std::map<std::uint32_t, octets> ooo;  // out-of-order segments by sequence number (quirk)
    int retries = 0;
    scheduler::event_id rto_timer{}, ack_timer{}, keep_timer{};
    bool ack_delayed = false;
  };
  bool handle_tcp(const eth_view& eth, const ipv4_view& ip);
  void tcp_segment_in(int n, const eth_view& eth, const ipv4_view& ip, const tcp_view& seg);
  void tcp_listen_syn(int n, const eth_view& eth, const ipv4_view& ip, const tcp_view& seg);
  void tcp_send_rst_for(const eth_view& eth, const ipv4_view& ip, const tcp_view& seg);
  void tcp_emit(int n, std::uint8_t flags, std::uint32_t seq, const octets& payload, std::function<void()> done = nullptr);
  void tcp_output(int n);
  void tcp_arm_rto(int n);
  void tcp_rto_expired(int n);
  void tcp_ack_now(int n);
  void tcp_schedule_ack(int n);
  void tcp_arm_keepalive(int n);
  void tcp_established(int n, const char* why);
  void tcp_drop(int n, std::uint8_t ir_bits, const char* why);
  void tcp_reset_tcb(int n);
  std::uint16_t tcp_window(int n) const;
  std::uint16_t tcp_own_mss(int n) const;
  ps_t tcp_backoff(int k) const;
  std::array<tcb, num_sockets> m_tcb{};
 private:

  w5500& m_chip;
  scheduler& m_sched;
  std::array<sock_state, num_sockets> m_sock{};
  std::deque<pending_tx> m_txq;
  bool m_tx_busy = false;
  scheduler::event_id m_tx_event{};
  std::uint16_t m_ip_id = 0;
  net_stats m_stats;
};

}  // namespace wizsim
