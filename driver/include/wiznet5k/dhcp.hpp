// DHCP client (RFC 2131 / RFC 2132) for the W5500 driver: the seed's finite state machine (INIT 1 ..
// REBINDING 6) on one of the chip's UDP sockets, with no heap and 64-bit millisecond deadlines.
//
// Acquiring (INIT -> SELECTING -> REQUESTING -> BOUND): DISCOVER, then REQUEST to the server whose OFFER
// came first, broadcast from port 68 to 255.255.255.255:67 with SIPR 0.0.0.0. Each exchange is sent up to
// four times, waiting 4, 8, 16 and 32 s, each +-1 s drawn from hal::random32 (RFC 2131 §4.1), so giving up
// takes about a minute. On ACK the chip is configured (WIZNET5K::set_ifconfig) and the lease's T1, T2 and
// expiry become deadlines on hal::millis.
//
// Keeping the lease (BOUND -> RENEWING -> REBINDING): at T1 a REQUEST with ciaddr goes unicast to the
// server that granted the lease; at T2 it goes broadcast to any server; at expiry the address is dropped
// (SIPR 0.0.0.0) and the client starts again from INIT. Retransmissions while renewing or rebinding wait
// half the time left until T2 (resp. expiry), at least 60 s (RFC 2131 §4.4.5). A NAK sends the client
// back to INIT from any state.
//
// Where this differs from the seed (adafruit_wiznet5k_dhcp.py 5.2.1) on purpose:
//  - The BROADCAST flag is set while the client has no address (the seed sends flags 0). Without it a
//    server answers by unicast to the offered address at our MAC without ARP; the W5500 accepts that only
//    because its UDP sockets do not filter on the destination address, and servers, relays and switches
//    that will not unicast to an unconfigured host drop the reply. RFC 2131 §4.1 asks a client that
//    "cannot receive unicast IP datagrams until its protocol software has been configured" to set it, as
//    the WIZnet ioLibrary and the Arduino Ethernet library do. Renewing and rebinding (SIPR configured)
//    leave it clear.
//  - Lease, T1 and T2 are seconds kept as seconds, and their deadlines are 64-bit milliseconds: no
//    seconds-vs-milliseconds mix-up (seed bug #168/#169) and no overflow for long or infinite leases
//    (#182). An infinite lease (0xFFFFFFFF) never renews nor expires.
//  - RENEWING and REBINDING REQUESTs carry neither option 50 nor option 54 (RFC 2131 table 5: MUST NOT);
//    the seed puts 54 in a renewing REQUEST.
//  - The client does not ask for a lease time (option 51 in DISCOVER): the seed asks for 90 days, which
//    only invites leases long enough to hit #182.
//  - Retransmissions use the same xid, so a late answer to an earlier copy still counts; a new exchange
//    (a new DISCOVER after INIT, each renewal) draws a new random xid.
//
// Sockets: an exchange takes a free socket with WIZNET5K::get_socket() and closes and releases it when the
// exchange ends (reply, NAK, giving up, error). A blocking call therefore never returns holding one. A
// non-blocking maintain_dhcp_lease() that has sent a REQUEST keeps its socket open until a later call sees
// the answer or the exchange ends, because a closed socket cannot receive that answer; the destructor and
// configure() close it too.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>

#include "wiznet5k/error.hpp"

namespace wiznet5k {

// The same aliases as wiznet5k.hpp (redeclaring an alias to the same type is allowed), so that this header
// does not need wiznet5k.hpp and wiznet5k.hpp may include it to hold a DHCP object by value.
using ip4 = std::array<std::uint8_t, 4>;
using mac6 = std::array<std::uint8_t, 6>;

class WIZNET5K;

class DHCP {
 public:
  // FSM states, numbered as the seed's (and RFC 2131 figure 5 without INIT-REBOOT / REBOOTING).
  enum : std::uint8_t {
    STATE_INIT = 1,
    STATE_SELECTING = 2,
    STATE_REQUESTING = 3,
    STATE_BOUND = 4,
    STATE_RENEWING = 5,
    STATE_REBINDING = 6,
  };

  static constexpr std::size_t max_hostname = 42;               // as the seed truncates option 12
  static constexpr std::uint32_t infinite_lease = 0xFFFFFFFFu;  // RFC 2132 §9.2
  static constexpr std::uint64_t never = ~std::uint64_t{0};     // a deadline that never comes
  static constexpr std::uint16_t client_port = 68, server_port = 67;
  // The acquisition schedule: waits after each of the four transmissions of one exchange, each +-jitter.
  static constexpr std::uint32_t retry_wait_ms[4] = {4000, 8000, 16000, 32000};
  static constexpr std::uint32_t retry_jitter_ms = 1000;
  // A blocking acquisition gives up at the latest this long after it started (the schedule's maximum),
  // also when NAKs keep restarting it.
  static constexpr std::uint32_t acquire_limit_ms = 64000;
  // Lease length assumed when an ACK carries no option 51 (a server MUST send it; we do not refuse).
  static constexpr std::uint32_t default_lease_s = 3600;

  // `hostname`: option 12; nullptr or "" gives "WIZnet" + the MAC in upper-case hex; every "{}" in a given
  // name is replaced by that hex; the result is cut to 42 characters. No chip traffic until a request.
  DHCP(WIZNET5K& eth, const mac6& mac, const char* hostname = nullptr, bool debug = false);
  // Closes a socket a non-blocking exchange still holds. Deliberately not virtual (no deleting destructor).
  ~DHCP();
  DHCP(const DHCP&) = delete;
  DHCP& operator=(const DHCP&) = delete;

  // New identity (MAC, hostname): ends any exchange (closing its socket), forgets the lease (the chip's
  // configuration is left as it is) and returns to INIT. Lets WIZNET5K keep one DHCP object in place.
  void configure(const mac6& mac, const char* hostname = nullptr, bool debug = false);

  // Blocking: acquires a lease from INIT (whatever the current state) and configures the chip. ok when
  // BOUND; timeout_error when no usable OFFER/ACK came within the schedule (about 60 s, at most
  // acquire_limit_ms); connection_error when the server NAKed and no lease came before the limit;
  // runtime_error (from the core) when no socket is free or the chip fails. Leaves the state INIT on failure.
  error request_dhcp_lease();

  // Keeps the lease. Non-blocking (default): does what is due now, one step, and returns without waiting:
  // nothing before T1; at T1 / T2 sends the renewing / rebinding REQUEST; later calls read the answer or
  // retransmit; at expiry drops the address and starts a new acquisition, one step per call (DISCOVER,
  // then OFFER -> REQUEST, then ACK -> BOUND). The one wait left is the chip's own: a unicast renewing
  // REQUEST to a server that no longer answers ARP returns after the chip's ARP timeout (RTR x (RCR + 1),
  // 1.8 s at the defaults), as every send through the chip does. Returns ok, or: timeout_error when an acquisition exchange
  // just gave up (the next call starts over), connection_error when a NAK just arrived (state INIT, chip
  // unconfigured), runtime_error from the chip/socket layer.
  // Blocking: runs those steps, sleeping on the HAL between them, until BOUND (ok) or an acquisition gives
  // up (as request_dhcp_lease). While renewing/rebinding that can mean waiting until the lease expires.
  error maintain_dhcp_lease(bool blocking = false);

  // The lease (valid in BOUND, RENEWING and REBINDING; zeros otherwise).
  ip4 dhcp_server_ip{}, local_ip{}, gateway_ip{}, subnet_mask{}, dns_server_ip{};

  std::uint8_t state() const { return m_state; }
  // As granted, in seconds (infinite_lease for an infinite lease; 0 before the first ACK).
  std::uint32_t lease_time() const { return m_lease_s; }
  std::uint32_t t1() const { return m_t1_s; }
  std::uint32_t t2() const { return m_t2_s; }
  // Deadlines on hal::millis (never for an infinite lease). The lease starts when the REQUEST that the
  // ACK answers was sent (RFC 2131 §4.4.1), so the client never believes in more lease than it has.
  std::uint64_t lease_start_ms() const { return m_lease_start; }
  std::uint64_t t1_deadline_ms() const { return m_t1_at; }
  std::uint64_t t2_deadline_ms() const { return m_t2_at; }
  std::uint64_t expiry_ms() const { return m_expiry_at; }
  // Option 12 as sent (NUL-terminated).
  const char* hostname() const { return m_hostname; }
  const mac6& mac() const { return m_mac; }
  // The transaction id of the current (or last) exchange.
  std::uint32_t xid() const { return m_xid; }
  // The socket an exchange holds, -1 when none.
  int socket_number() const { return m_sock; }
  bool debug() const { return m_debug; }

 private:
  // What one datagram turned out to be.
  enum class reply : std::uint8_t { none, offer, ack, nak };
  // Option values of one message, as far as the client uses them.
  struct parsed {
    std::uint8_t type = 0;
    bool has_server_id = false, has_mask = false, has_router = false, has_dns = false, has_lease = false,
         has_t1 = false, has_t2 = false;
    ip4 yiaddr{}, server_id{}, mask{}, router{}, dns{};
    std::uint32_t lease = 0, t1 = 0, t2 = 0;
  };

  // One step of the FSM at `now`: reads what arrived, sends what is due; never sleeps.
  error step(std::uint64_t now);
  error start_acquisition(std::uint64_t now);
  error start_lease_exchange(std::uint64_t now, std::uint8_t new_state);
  error send_message(std::uint8_t type, std::uint64_t now);
  error open_socket(const ip4& dest);
  void close_socket();
  // Reads every queued datagram; returns the first that answers the current exchange (filled into `out`).
  reply receive(parsed& out);
  bool parse(std::size_t n, parsed& out) const;
  error bind_lease(const parsed& p);
  void drop_lease();
  void start_over_after_nak(std::uint64_t now);
  std::uint64_t acquisition_retry_at(std::uint64_t now, std::uint8_t attempt);
  std::uint64_t lease_retry_at(std::uint64_t now) const;
  void set_hostname(const char* hostname);

  WIZNET5K& m_eth;
  mac6 m_mac{};
  char m_hostname[max_hostname + 1]{};
  bool m_debug = false;

  std::uint8_t m_state = STATE_INIT;
  std::uint32_t m_xid = 0;
  int m_sock = -1;
  std::uint8_t m_tries = 0;            // transmissions of the current exchange
  std::uint64_t m_next_tx = 0;         // when to retransmit (or, in INIT, to start again)
  std::uint64_t m_exchange_start = 0;  // for the secs field
  std::uint64_t m_last_tx = 0;         // when the last REQUEST left (the lease's start)
  ip4 m_offered{}, m_offer_server{};

  std::uint32_t m_lease_s = 0, m_t1_s = 0, m_t2_s = 0;
  std::uint64_t m_lease_start = 0, m_t1_at = never, m_t2_at = never, m_expiry_at = never;

  // One message: what we send is at most ~320 octets; what we accept is cut here (576 is the datagram
  // size every host must accept, RFC 2131 §2; a longer reply loses options past this, which we tolerate).
  std::uint8_t m_buf[576]{};
};

}  // namespace wiznet5k
