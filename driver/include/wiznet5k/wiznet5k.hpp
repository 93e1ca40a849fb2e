// The WIZNET5K class: a C++17 port of adafruit_wiznet5k's WIZNET5K (tag 5.2.1 API) for the W5500.
//
// It talks to the chip only through wiznet5k::hal, never allocates and never throws: every fallible call
// returns `error` or `result<T>` (error.hpp), the C++ image of the exception the Python code raises.
// Socket numbers are 0..7; socket 0 is kept for DHCP/DNS (get_socket never reserves it), as the seed.
//
// Minimal use (static address):
//   wiznet5k::WIZNET5K eth(board);
//   if (auto e = eth.begin(false)) return e;
//   eth.set_ifconfig({{192, 168, 0, 50}, {255, 255, 255, 0}, {192, 168, 0, 1}, {8, 8, 8, 8}});
//   int sn = *eth.get_socket();
//   eth.socket_connect(sn, {192, 168, 0, 2}, 7);
//   eth.socket_write(sn, data, n);
//
// Where this port deliberately differs from the seed (its bugs, ../shared/notes/drivers.md section 10),
// the member's comment says so.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>

#include "wiznet5k/dhcp.hpp"
#include "wiznet5k/error.hpp"
#include "wiznet5k/hal.hpp"

namespace wiznet5k {

using ip4 = std::array<std::uint8_t, 4>;
using mac6 = std::array<std::uint8_t, 6>;

// Sn_MR values for conn_mode (as the seed: TCP is opened with the ND/MC bit set, 0x21).
constexpr std::uint8_t SNMR_TCP = 0x21, SNMR_UDP = 0x02;
// Sn_SR values (public in the seed).
constexpr std::uint8_t SNSR_SOCK_CLOSED = 0x00, SNSR_SOCK_LISTEN = 0x14, SNSR_SOCK_SYNRECV = 0x16,
                       SNSR_SOCK_ESTABLISHED = 0x17, SNSR_SOCK_FIN_WAIT = 0x18, SNSR_SOCK_TIME_WAIT = 0x1B,
                       SNSR_SOCK_CLOSE_WAIT = 0x1C;
// Sn_SR values the seed keeps private; public here so callers need not repeat the datasheet.
constexpr std::uint8_t SNSR_SOCK_INIT = 0x13, SNSR_SOCK_SYNSENT = 0x15, SNSR_SOCK_CLOSING = 0x1A,
                       SNSR_SOCK_LAST_ACK = 0x1D, SNSR_SOCK_UDP = 0x22, SNSR_SOCK_IPRAW = 0x32,
                       SNSR_SOCK_MACRAW = 0x42;
// Sn_IR bits.
constexpr std::uint8_t SNIR_SEND_OK = 0x10, SNIR_TIMEOUT = 0x08, SNIR_RECV = 0x04, SNIR_DISCON = 0x02,
                       SNIR_CON = 0x01;

class DHCP;
class DNS;

class WIZNET5K {
 public:
  // Binds the driver to a board; no chip traffic until begin(). The one DHCP client lives inside this
  // object (no heap); set_dhcp() re-configures it.
  //   wiznet5k::WIZNET5K eth(board);
  explicit WIZNET5K(hal& board);
  WIZNET5K(const WIZNET5K&) = delete;
  WIZNET5K& operator=(const WIZNET5K&) = delete;

  // What the Python constructor does: optional reset-pin pulse (100 ms low, then 5 s), 1 s settle, chip
  // detection (W5500 supported; a W5100S or W6100 is detected and refused with runtime_error naming it;
  // anything else: runtime_error "Failed to initialize WIZnet module."), socket buffers (2 KB each), MAC,
  // link wait (up to 5 s; as the seed, a link still down is not an error here: socket calls report it),
  // then DHCP when is_dhcp (its error is returned). `mac` as "DE:AD:BE:EF:FE:ED" (value_error if
  // malformed); hostname may be null (DHCP's default).
  //   if (auto e = eth.begin(false, "DE:AD:BE:EF:FE:ED")) printf("%s\n", e.message);
  error begin(bool is_dhcp = true, const char* mac = "DE:AD:BE:EF:FE:ED", const char* hostname = nullptr,
              bool debug = false);
  // As above with the MAC as six bytes.
  //   eth.begin(true, wiznet5k::mac6{0xDE, 0xAD, 0xBE, 0xEF, 0xFE, 0xED}, "sensor-1");
  error begin(bool is_dhcp, const mac6& mac, const char* hostname = nullptr, bool debug = false);

  // The detected chip's name ("w5500"), or "" before a successful begin().
  //   puts(eth.chip());
  const char* chip() const;
  // Hardware sockets of the chip (8 on the W5500).
  //   for (int sn = 0; sn < eth.max_sockets(); ++sn) ...
  int max_sockets() const;

  // SHAR, the chip's MAC address.
  //   auto mac = eth.mac_address();
  result<mac6> mac_address();
  // Writes SHAR.
  //   eth.set_mac_address(wiznet5k::mac6{0x02, 0, 0, 0, 0, 1});
  error set_mac_address(const mac6& mac);
  // Writes SHAR from text "DE:AD:BE:EF:FE:ED" (six hex pairs, ':' separated); value_error if malformed.
  //   eth.set_mac_address("02:00:00:00:00:01");
  error set_mac_address(const char* mac);
  // SIPR, the chip's IPv4 address.
  //   auto ip = eth.ip_address();
  result<ip4> ip_address();

  // The interface configuration: SIPR, SUBR, GAR and the DNS server the driver remembers (the chip has no
  // DNS register).
  struct ifconfig_t {
    ip4 ip, subnet, gateway, dns;
  };
  // Reads SIPR/SUBR/GAR plus the remembered DNS server.
  //   auto cfg = eth.ifconfig(); if (cfg) use(cfg->ip);
  result<ifconfig_t> ifconfig();
  // Writes SIPR/SUBR/GAR and remembers the DNS server.
  //   eth.set_ifconfig({{10, 0, 0, 2}, {255, 255, 255, 0}, {10, 0, 0, 1}, {10, 0, 0, 1}});
  error set_ifconfig(const ifconfig_t& config);

  // PHYCFGR.LNK: true when the Ethernet link is up.
  //   if (!*eth.link_status()) puts("cable?");
  result<bool> link_status();

  // RTR, the retry time in units of 100 us (W5500 reset value 2000 = 200 ms).
  //   auto t = eth.rtr();
  result<std::uint16_t> rtr();
  // Writes RTR as two bytes (the seed wrote values below 256 as one byte, into RTR's high byte).
  //   eth.set_rtr(1000);   // 100 ms
  error set_rtr(std::uint16_t retry_time);
  // RCR, the retry count (reset value 8).
  //   auto n = eth.rcr();
  result<std::uint8_t> rcr();
  // Writes RCR.
  //   eth.set_rcr(3);
  error set_rcr(std::uint8_t retry_count);

  // Formats an IPv4 address as dotted decimal into out (always NUL-terminated).
  //   char s[16]; wiznet5k::WIZNET5K::pretty_ip({192, 168, 0, 1}, s);   // "192.168.0.1"
  static void pretty_ip(const ip4& ip, char out[16]);
  // Formats a MAC as lower-case hex with ':' into out (always NUL-terminated).
  //   char s[18]; wiznet5k::WIZNET5K::pretty_mac(mac, s);   // "de:ad:be:ef:fe:ed"
  static void pretty_mac(const mac6& mac, char out[18]);
  // Parses dotted decimal "a.b.c.d" (each 0..255, no extra characters); value_error on bad input.
  //   auto ip = wiznet5k::WIZNET5K::unpretty_ip("10.0.0.1");
  static result<ip4> unpretty_ip(const char* text);

  // Resolves a hostname through the DNS server in ifconfig().dns (dns.hpp). A dotted-decimal name is
  // returned as is without a query.
  //   auto ip = eth.get_host_by_name("example.com");
  result<ip4> get_host_by_name(const char* hostname);

  // Allocates a CLOSED socket: socket 0 first when not reserving, else the first unreserved 1..7; with
  // reserve_socket the socket stays reserved until release_socket(). runtime_error "All sockets in use."
  //   auto sn = eth.get_socket(true);
  result<int> get_socket(bool reserve_socket = false);
  // Ends a reservation made by get_socket(true). Socket 0 is never reserved (a no-op here; the seed would
  // have indexed its list with -1 and freed socket 7).
  //   eth.release_socket(sn);
  error release_socket(int sn);

  // Runs DHCP (dhcp.hpp) to a lease, blocking (about 60 s before giving up), and applies it to the
  // interface. hostname may be null (DHCP's default "WIZnet" + MAC).
  //   if (auto e = eth.set_dhcp("probe")) ...
  error set_dhcp(const char* hostname = nullptr);
  // Renews/rebinds the lease when due; non-blocking. A no-op without a DHCP lease.
  //   for (;;) { eth.maintain_dhcp_lease(); ... }
  error maintain_dhcp_lease();

  // Sn_IR of socket sn.
  //   auto ir = eth.read_snir(sn);
  result<std::uint8_t> read_snir(int sn);
  // Writes Sn_IR (1 bits clear the matching flags).
  //   eth.write_snir(sn, 0xFF);
  error write_snir(int sn, std::uint8_t value);

  // Reads one UDP datagram's payload (up to length bytes) into buf and records its sender in
  // udp_from_ip[sn]/udp_from_port[sn]. Returns the bytes stored; 0 when nothing is waiting. Payload beyond
  // `length` is discarded so the next call starts at the next datagram.
  //   std::uint8_t b[512]; auto n = eth.read_udp(sn, b, sizeof b);
  result<std::size_t> read_udp(int sn, std::uint8_t* buf, std::size_t length);

  // Sn_DIPR: the peer's address.
  //   char s[16]; wiznet5k::WIZNET5K::pretty_ip(*eth.remote_ip(sn), s);
  result<ip4> remote_ip(int sn);
  // Sn_DPORT: the peer's port.
  //   auto port = eth.remote_port(sn);
  result<std::uint16_t> remote_port(int sn);

  // Opens socket sn in conn_mode (SNMR_TCP or SNMR_UDP) on the local port src_port (when non-zero; it is
  // consumed: reset to 0) or a random one in 49152..65535 not used by another socket. connection_error
  // when the link is down or the socket is not closed/closing/UDP (UDP re-opens); runtime_error when the
  // chip does not reach INIT/UDP.
  //   eth.socket_open(sn, wiznet5k::SNMR_UDP);
  error socket_open(int sn, std::uint8_t conn_mode = SNMR_TCP);
  // Opens the socket and connects it. TCP: waits for ESTABLISHED; connection_error "Connection refused."
  // when the peer resets, timeout_error "Connection timed out." when the chip gives up retransmitting
  // the SYN (RTR/RCR; the seed raises ConnectionError for both). UDP: sets the destination for
  // socket_write (no CONNECT command: it is a no-op on a UDP socket). port 0: value_error.
  //   eth.socket_connect(sn, {192, 168, 0, 2}, 80);
  error socket_connect(int sn, const ip4& dest, std::uint16_t port, std::uint8_t conn_mode = SNMR_TCP);
  // Opens socket sn on `port` and, for TCP, LISTENs (runtime_error if it does not reach LISTEN). For UDP
  // it only binds (the seed's LISTEN on a UDP socket is a no-op on the chip). port 0: value_error.
  //   eth.socket_listen(sn, 8080);
  error socket_listen(int sn, std::uint16_t port, std::uint8_t conn_mode = SNMR_TCP);

  // What socket_accept returns, as the seed's (socket, (ip, port)).
  struct accept_t {
    int next_listener;
    ip4 ip;
    std::uint16_t port;
  };
  // Non-blocking accept on listening socket sn. Only when sn is ESTABLISHED (or already CLOSE_WAIT) with
  // a real peer address and port (PR #178 semantics; 5.2.1 returned at once with 0.0.0.0:0) it returns
  // the peer and, as the seed, the number of a free socket for the caller to listen on next
  // (socket_listen(next_listener, port)) while sn, now the connection, keeps its number. Unlike the seed
  // (get_socket(), which may hand out socket 0), next_listener is reserved (get_socket(true)), once per
  // connection: asking again about the same connection returns the same socket; -1 when no socket is free
  // (the connection is still returned). would_block while sn is LISTEN/SYNRECV;
  // connection_error when sn left the listen path (closed).
  //   auto a = eth.socket_accept(l);
  //   if (a) { client = l; l = a->next_listener; eth.socket_listen(l, 80); }
  result<accept_t> socket_accept(int sn);

  // Bytes waiting (Sn_RX_RSR, read until two reads agree). On a UDP socket (sock_type SNMR_UDP, or Sn_SR
  // UDP) the 8-byte header is subtracted (never below 0): the seed meant to but compared Sn_SR with 0x02
  // and never did.
  //   auto n = eth.socket_available(sn);
  result<std::size_t> socket_available(int sn, std::uint8_t sock_type = SNMR_TCP);
  // Reads up to length bytes of TCP stream data (or raw RX bytes on a UDP socket) and RECVs them. Returns
  // 0 when nothing is waiting but the connection is open; connection_error when nothing is waiting and
  // the socket is closed or the peer has finished (the seed compared Sn_MR here, not Sn_SR).
  //   std::uint8_t b[256]; auto n = eth.socket_read(sn, b, sizeof b);
  result<std::size_t> socket_read(int sn, std::uint8_t* buf, std::size_t length);
  // Sends len bytes (at most 2048 per call, as the seed; the rest is the caller's next call). Waits for a
  // SEND an earlier call left in flight, then for TX space while the socket is ESTABLISHED/CLOSE_WAIT (or
  // UDP), then writes, SENDs and waits for SEND_OK. timeout_ms (0 = no caller bound) counts from the
  // call: timeout_error means nothing of this call was handed to the chip (no TX space, or the earlier
  // SEND still in flight; without a caller bound the driver gives up after 60 s without TX space freeing
  // up). Once SENDed the data is the chip's; if SEND_OK does not come within timeout_ms (a peer's closed
  // window) or the chip's own TCP timeout from RTR/RCR, the call still returns n and the next call waits
  // for that SEND_OK. The seed raised "No data sent" there although the chip went on to send it.
  // connection_error when the link is down or the connection is gone (the seed raises RuntimeError).
  // UDP: returns 0 when the chip reports TIMEOUT (ARP failure), as the seed.
  //   auto n = eth.socket_write(sn, (const std::uint8_t*)"hi", 2);
  result<std::size_t> socket_write(int sn, const std::uint8_t* buf, std::size_t len, std::uint32_t timeout_ms = 0);
  // Sn_SR.
  //   if (*eth.socket_status(sn) == wiznet5k::SNSR_SOCK_ESTABLISHED) ...
  result<std::uint8_t> socket_status(int sn);
  // Sends DISCON (TCP FIN) and returns; the chip completes the close in the background.
  //   eth.socket_disconnect(sn);
  error socket_disconnect(int sn);
  // Sends CLOSE and waits (bounded, 5 s: runtime_error) for CLOSED.
  //   eth.socket_close(sn);
  error socket_close(int sn);
  // MR soft reset and re-initialisation (the W5500 probe and 2 KB buffers, as the seed), then SHAR, SIPR,
  // SUBR, GAR, RTR and RCR are written back (the seed left them zeroed, MAC included; ioLibrary keeps
  // them too). All sockets are closed by the chip; reservations are kept (their owners release them).
  // Then, as begin(), waits up to 5 s for the link (MR.RST may restart the PHY; the seed did not wait).
  // runtime_error when the chip does not come back as a W5500.
  //   eth.sw_reset();
  error sw_reset();

  // Sender of the last datagram read_udp returned on each socket (public, as the seed).
  ip4 udp_from_ip[8]{};
  std::uint16_t udp_from_port[8]{};
  // The local port of the next socket_open, then reset to 0 (0: a random port in 49152..65535).
  std::uint16_t src_port = 0;

  // The DHCP client (lease, state, deadlines); meaningful after set_dhcp()/begin(true).
  //   auto t1 = eth.dhcp_client().t1();
  DHCP& dhcp_client();

  // The board this driver runs on (DHCP/DNS use its clock and entropy).
  //   auto now = eth.board().millis();
  hal& board();
  // The debug flag given to begin().
  //   if (eth.debug()) ...
  bool debug() const;

  // ---- Raw register access (for DHCP/DNS/socket helpers and tests) -------------------------------------
  // Reads n bytes of common registers from address addr (one VDM burst).
  //   std::uint8_t v; eth.read_common(0x0039, &v, 1);
  void read_common(std::uint16_t addr, std::uint8_t* buf, std::size_t n);
  // Writes n bytes of common registers at address addr (one VDM burst).
  //   eth.write_common(0x001B, &count, 1);
  void write_common(std::uint16_t addr, const std::uint8_t* buf, std::size_t n);
  // Reads n bytes of socket sn's register block at offset addr (one VDM burst); value_error for a bad sn.
  //   std::uint8_t sr; eth.read_socket_register(sn, 0x0003, &sr, 1);
  error read_socket_register(int sn, std::uint16_t addr, std::uint8_t* buf, std::size_t n);
  // Writes n bytes of socket sn's register block at offset addr (one VDM burst); value_error for a bad sn.
  //   eth.write_socket_register(sn, 0x0002, &ir_clear, 1);
  error write_socket_register(int sn, std::uint16_t addr, const std::uint8_t* buf, std::size_t n);

 private:
  static constexpr int k_sockets = 8;

  error detect();
  bool probe_w5500();
  error setup_sockets();
  void frame(std::uint16_t addr, std::uint8_t control, const std::uint8_t* tx, std::uint8_t* rx, std::size_t n);
  error check_sn(int sn) const;
  error check_link();
  std::uint8_t sn_read8(int sn, std::uint16_t addr);
  std::uint16_t sn_read16(int sn, std::uint16_t addr);
  std::uint16_t sn_read16_stable(int sn, std::uint16_t addr);
  void sn_write8(int sn, std::uint16_t addr, std::uint8_t v);
  void sn_write16(int sn, std::uint16_t addr, std::uint16_t v);
  error sn_command(int sn, std::uint8_t cmd);
  std::uint16_t next_local_port();
  void read_rx(int sn, std::uint16_t ptr, std::uint8_t* buf, std::size_t n);
  void write_tx(int sn, std::uint16_t ptr, const std::uint8_t* buf, std::size_t n);
  std::uint32_t tcp_timeout_ms();
  void wait_for_link();
  // How a wait for SEND_OK ended.
  enum class send_wait : std::uint8_t { done, udp_timeout, lost, expired };
  send_wait wait_send_ok(int sn, std::uint64_t since, std::uint32_t timeout_ms);

  hal* m_board;
  const char* m_chip = "";
  bool m_debug = false;
  bool m_sockets_reserved[k_sockets]{};
  std::uint16_t m_ports_in_use[k_sockets]{};
  // A SEND whose SEND_OK had not come when socket_write returned; the next socket_write waits for it.
  bool m_send_pending[k_sockets]{};
  // The next_listener socket_accept already reserved for the connection on each socket (-1: none yet).
  std::int8_t m_accept_next[k_sockets] = {-1, -1, -1, -1, -1, -1, -1, -1};
  ip4 m_dns{};
  bool m_dhcp_active = false;
  // Declared last: its destructor may still close a socket through this object.
  DHCP m_dhcp;
};

}  // namespace wiznet5k
