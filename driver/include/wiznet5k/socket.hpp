// The socket module: a C++17 port of adafruit_wiznet5k_socket (tag 5.2.1 API) over WIZNET5K.
//
// Python's module-level functions and constants live in namespace wiznet5k::socket_module; its `socket`
// class is wiznet5k::socket_module::socket, an RAII handle on one reserved hardware socket (the
// destructor closes it, so it replaces the context manager). No heap, no exceptions: fallible calls
// return `error` / `result<T>` (error.hpp); Python's `timeout` exception is errc::timeout_error and a
// non-blocking call with nothing to do returns errc::would_block (OSError EAGAIN).
//
//   namespace sm = wiznet5k::socket_module;
//   sm::set_interface(eth);
//   sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
//   if (auto e = s.connect("example.com", 80)) return e;
//   s.sendall("GET / HTTP/1.0\r\n\r\n", 18);
//   std::uint8_t buf[512];
//   auto n = s.recv(buf, sizeof buf);      // n.value == 0: the peer closed (end of stream)
//
// Timeouts follow Python (and PR #143 of the seed): nullopt (None) blocks for ever, 0 is non-blocking
// (would_block), t > 0 seconds gives timeout_error after t. Each has a millisecond twin (settimeout_ms ...)
// for targets without floating point; seconds are rounded up to whole milliseconds.
//
// Where this port differs from 5.2.1 on purpose (../shared/notes/drivers.md section 10), the member says
// so: recv() delivers data that arrived together with the FIN before reporting end of stream (#171/#188),
// accept() waits for a real connection (#178), close() sends DISCON first and never waits on a flag it
// cleared (#89/#150), and a UDP sendto() on an open socket does not re-open it (which would drop
// datagrams already received).
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>

#include "wiznet5k/error.hpp"
#include "wiznet5k/wiznet5k.hpp"

// <sys/socket.h>, <netinet/in.h> and lwIP define some of the Python names below as macros (AF_INET 2,
// SOL_SOCKET, htonl ...). They are set aside while this header declares its own; in a translation unit
// that includes both, use the lower-case aliases (af_inet ...) or parenthesise the calls ((sm::htons)(x)).
#pragma push_macro("AF_INET")
#pragma push_macro("SOCK_STREAM")
#pragma push_macro("SOCK_DGRAM")
#pragma push_macro("SOL_SOCKET")
#pragma push_macro("SO_REUSEADDR")
#pragma push_macro("htonl")
#pragma push_macro("htons")
#undef AF_INET
#undef SOCK_STREAM
#undef SOCK_DGRAM
#undef SOL_SOCKET
#undef SO_REUSEADDR
#undef htonl
#undef htons

namespace wiznet5k::socket_module {

// The seed's constants (5.2.1). SOCK_STREAM opens the chip socket in Sn_MR 0x21 (TCP), SOCK_DGRAM 0x02.
constexpr int SOCK_STREAM = 1, SOCK_DGRAM = 2, AF_INET = 3;
constexpr int SOL_SOCKET = 0xFFF, SO_REUSEADDR = 4;
constexpr int sock_stream = SOCK_STREAM, sock_dgram = SOCK_DGRAM, af_inet = AF_INET;
constexpr int sol_socket = SOL_SOCKET, so_reuseaddr = SO_REUSEADDR;

// Python's (host, port) pair, with the host as an address.
struct address {
  ip4 ip{};
  std::uint16_t port = 0;
};
inline bool operator==(const address& a, const address& b) {
  return a.ip == b.ip && a.port == b.port;
}
inline bool operator!=(const address& a, const address& b) {
  return !(a == b);
}

// ---- module functions ---------------------------------------------------------------------------------

// Sets the interface every socket created afterwards uses (the seed's global; it must outlive them).
//   wiznet5k::socket_module::set_interface(eth);
void set_interface(WIZNET5K& iface);
// The interface set_interface() gave, or nullptr.
//   if (!sm::get_interface()) ...
WIZNET5K* get_interface();

// The timeout new sockets start with, in seconds; nullopt (None, the initial value) = blocking.
//   auto t = sm::getdefaulttimeout();
std::optional<double> getdefaulttimeout();
// Sets it: nullopt, 0 or a positive number of seconds; value_error for a negative value or NaN (as the
// seed's "Timeout must be None, 0.0 or a positive numeric value.").
//   sm::setdefaulttimeout(2.5);
error setdefaulttimeout(std::optional<double> seconds);
// The same in milliseconds (cannot be negative).
//   sm::setdefaulttimeout_ms(2500);
std::optional<std::uint32_t> getdefaulttimeout_ms();
void setdefaulttimeout_ms(std::optional<std::uint32_t> ms);

// Host to network byte order (a no-op on a big-endian host).
//   sm::htons(80) == 0x5000 on a little-endian MCU
constexpr std::uint32_t htonl(std::uint32_t x) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  return x;
#else
  return (x >> 24) | ((x >> 8) & 0x0000FF00u) | ((x << 8) & 0x00FF0000u) | (x << 24);
#endif
}
constexpr std::uint16_t htons(std::uint16_t x) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  return x;
#else
  return static_cast<std::uint16_t>((x >> 8) | (x << 8));
#endif
}

// Dotted-quad text to four bytes; value_error when malformed (WIZNET5K::unpretty_ip's rules).
//   auto ip = sm::inet_aton("10.0.0.1");
result<ip4> inet_aton(const char* text);
// Four bytes to dotted-quad text in out (NUL-terminated); returns out.
//   char s[16]; puts(sm::inet_ntoa(ip, s));
const char* inet_ntoa(const ip4& ip, char out[16]);

// A host name or dotted-quad text to an address: a dotted quad is returned as is (no query), anything
// else goes through WIZNET5K::get_host_by_name (DNS). runtime_error without an interface; value_error for
// an empty or null name; DNS failures as get_host_by_name reports them.
//   auto ip = sm::gethostbyname("example.com");
result<ip4> gethostbyname(const char* hostname);

// One getaddrinfo() entry: (family, type, proto, canonname, (ip, port)).
struct addrinfo {
  int family = AF_INET;
  int type = 0;
  int proto = 0;
  const char* canonname = "";  // always "" (as the seed)
  address sockaddr{};
};
// The seed returns a one-element list; this returns that element. `family` is ignored (AF_INET is the
// only one), type/proto are copied into the entry, flags are unused. host null or "" means 0.0.0.0.
//   auto ai = sm::getaddrinfo("example.com", 80); if (ai) s.connect(ai->sockaddr);
result<addrinfo> getaddrinfo(const char* host, std::uint16_t port, int family = 0, int type = 0,
                             int proto = 0, int flags = 0);

class socket;

// What accept() returns: Python's (conn, address). `conn` is an empty socket unless err is ok.
struct accept_result;
// What recvfrom()/recvfrom_into() return: Python's (bytes or nbytes, address).
struct recvfrom_result {
  std::size_t nbytes = 0;
  address from{};
};

// ---- socket ------------------------------------------------------------------------------------------

class socket {
 public:
  // An empty handle (no hardware socket, fileno() == -1), like a closed or moved-from socket. Every
  // operation but close() on it returns runtime_error.
  socket() = default;
  // Python's socket(family, type, proto): reserves a hardware socket (WIZNET5K::get_socket(true)) of the
  // interface set by set_interface() and takes the default timeout. On failure the handle is empty and
  // open_error() says why: value_error for a family other than AF_INET or a type other than
  // SOCK_STREAM/SOCK_DGRAM, runtime_error "All sockets in use." or without an interface.
  //   sm::socket s(sm::AF_INET, sm::SOCK_DGRAM); if (!s) puts(s.open_error().message);
  explicit socket(int family, int type = SOCK_STREAM, int proto = 0);
  // Closes (see close()). Not virtual: a socket is not a base class.
  ~socket();
  socket(socket&& other) noexcept;
  socket& operator=(socket&& other) noexcept;  // closes what this held first
  socket(const socket&) = delete;
  socket& operator=(const socket&) = delete;

  // True while the handle holds a hardware socket.
  explicit operator bool() const { return m_sn >= 0; }
  // Why the constructor failed (ok when it did not).
  error open_error() const { return m_open_error; }

  // Python's bind((host, port)). The host must be 0.0.0.0 or the interface's own address (value_error
  // otherwise). SOCK_DGRAM: opens the chip socket on the port at once (a UDP server calls no listen());
  // SOCK_STREAM: remembered for listen() and as the local port of connect().
  //   s.bind({{0, 0, 0, 0}, 8080});
  error bind(const address& local);
  // As above with the host as text ("" or null: any).
  //   s.bind("", 8080);
  error bind(const char* host, std::uint16_t port);
  // Starts listening on the bound port (SOCK_STREAM only). runtime_error "Use bind to set the port before
  // listen!" when unbound; value_error when bound to port 0 (unlike Python, no ephemeral listening port:
  // a server names its port). `backlog` is ignored: one hardware socket holds one connection.
  //   s.listen();
  error listen(int backlog = 0);
  // Waits (per the timeout) for a connection on the listening socket and returns it as a new socket with
  // the peer's address; this socket goes on listening on a freshly reserved hardware socket. Unlike 5.2.1
  // (which returned at once with 0.0.0.0:0), it returns only an ESTABLISHED (or already half-closed,
  // CLOSE_WAIT) connection with a real peer address, as PR #178 does; a listener the chip closed (e.g. a
  // SYN then RST) is re-opened and the wait goes on. would_block (timeout 0) / timeout_error (t > 0) when
  // nothing came; runtime_error when no hardware socket is left for the new listener (the connection stays
  // queued on this one: free a socket and call accept() again).
  //   auto a = server.accept(); if (a.err.ok()) handle(std::move(a.conn), a.from);
  accept_result accept();

  // Python's connect((host, port)). SOCK_STREAM: opens and connects (from the bound port if bind() was
  // called), waiting for ESTABLISHED; connection_error when refused or closed (or the link is down),
  // timeout_error when the chip gave up (ARP: RTR x (RCR + 1); SYN: its TCP retransmission timeout; as
  // the seed, the socket timeout does not shorten it); runtime_error on a live connection (connect again
  // after a failed attempt is fine).
  // SOCK_DGRAM: sets the default destination for send() and opens the socket (from the bound port).
  //   if (auto e = s.connect({{10, 0, 0, 2}, 7})) ...
  error connect(const address& remote);
  // As above; `host` is a dotted quad or a name resolved by gethostbyname().
  //   s.connect("example.com", 80);
  error connect(const char* host, std::uint16_t port);

  // Sends what fits: waits (per the timeout) until the chip's TX buffer has room for at least one byte
  // and the chip has finished the previous SEND, then writes min(n, free space, 2048) bytes and returns
  // how many (a partial send; sendall() loops). Once the bytes are in the chip they count as sent: the
  // wait for their SEND_OK is bounded by the timeout (1 ms when non-blocking), so a peer that stops
  // reading makes the *next* send() wait (None), would_block (0) or time out (t), never this one fail
  // after the fact (which would have the caller send the same bytes twice).
  // SOCK_DGRAM: one datagram to the connected address, all of it (value_error above 2048 bytes), and
  // whatever the timeout it waits until the chip has sent it (SEND_OK) so that the next datagram's
  // destination can be written: with an address that does not answer ARP that is the chip's ARP timeout,
  // RTR x (RCR + 1), 1.8 s by default, and the result is 0 (as the seed). connection_error when the
  // connection is closed or reset (or a SOCK_DGRAM socket was never connected); would_block /
  // timeout_error when no room came.
  //   auto n = s.send(data, len);
  result<std::size_t> send(const void* data, std::size_t n);
  // Sends everything, calling send() until done (Python's sendall; an extension over the seed). The
  // timeout applies to each wait for buffer room.
  //   s.sendall(data, len);
  error sendall(const void* data, std::size_t n);
  // SOCK_DGRAM: sends one datagram to `to` (opening the socket on the bound port, or a random one, first
  // if needed), as send() does. runtime_error on a SOCK_STREAM socket.
  //   s.sendto("ping", 4, {{10, 0, 0, 2}, 7});
  result<std::size_t> sendto(const void* data, std::size_t n, const address& to);
  result<std::size_t> sendto(const void* data, std::size_t n, const char* host, std::uint16_t port);

  // Reads up to `bufsize` bytes into buf. SOCK_STREAM: returns as soon as some data is there; 0 at the
  // peer's orderly shutdown (after every byte that came with or before its FIN, unlike the seed's race,
  // #171/#188); connection_error when the connection was reset or is not connected. SOCK_DGRAM: one
  // datagram (the part beyond bufsize is discarded, as Python does). would_block / timeout_error when
  // nothing came within the timeout.
  //   std::uint8_t b[256]; auto n = s.recv(b, sizeof b);
  result<std::size_t> recv(void* buf, std::size_t bufsize);
  // Python's recv_into(buffer, nbytes): reads up to nbytes (0: the whole buffer) into buf of length
  // buflen; value_error if nbytes > buflen.
  //   auto n = s.recv_into(b, sizeof b, 16);
  result<std::size_t> recv_into(void* buf, std::size_t buflen, std::size_t nbytes = 0);
  // recv() plus the sender: the datagram's source for SOCK_DGRAM, the peer for SOCK_STREAM.
  //   auto r = s.recvfrom(b, sizeof b); if (r) reply_to(r->from);
  result<recvfrom_result> recvfrom(void* buf, std::size_t bufsize);
  // recv_into() plus the sender.
  result<recvfrom_result> recvfrom_into(void* buf, std::size_t buflen, std::size_t nbytes = 0);

  // Timeout in seconds: nullopt = blocking (None), 0 = non-blocking, > 0 = bounded; value_error when
  // negative or NaN.
  //   s.settimeout(0.5);
  error settimeout(std::optional<double> seconds);
  std::optional<double> gettimeout() const;
  // The same in milliseconds.
  //   s.settimeout_ms(500);
  void settimeout_ms(std::optional<std::uint32_t> ms);
  std::optional<std::uint32_t> gettimeout_ms() const { return m_timeout_ms; }
  // setblocking(true) = settimeout(None), setblocking(false) = settimeout(0).
  void setblocking(bool flag);
  // True unless the timeout is 0 (a bounded timeout is still blocking, as Python; fixes seed #179).
  bool getblocking() const;

  // The connected peer: Sn_DIPR/Sn_DPORT for SOCK_STREAM, the connect() address for SOCK_DGRAM;
  // connection_error when not connected.
  //   auto p = s.getpeername();
  result<address> getpeername();
  // Bytes waiting to be read. SOCK_DGRAM: what the chip holds less one 8-byte datagram header (as the
  // seed's socket_available; with several datagrams queued it is more than the next one's payload: the
  // chip has no register for that).
  //   if (*s.available() > 0) ...
  result<std::size_t> available();
  // Python's setsockopt: only (SOL_SOCKET, SO_REUSEADDR) is known and has no effect (the chip lets any
  // number of sockets listen on one port); value_error for anything else.
  error setsockopt(int level, int optname, int value);

  // Closes: SOCK_STREAM connections send DISCON (FIN) and wait up to 1 s for the close handshake, then
  // CLOSE (bounded by WIZNET5K::socket_close); the hardware socket is released. Idempotent: a closed or
  // empty handle returns ok. Returns the first error met, but always releases the socket.
  //   s.close();
  error close();

  int family() const { return m_family; }
  int type() const { return m_type; }
  int proto() const { return m_proto; }
  // The hardware socket number, -1 when empty or closed (Python's fileno()).
  int fileno() const { return m_sn; }

 private:
  // Adopts hardware socket sn (an accepted connection).
  socket(WIZNET5K* iface, int sn, int type, std::optional<std::uint32_t> timeout_ms);
  error usable() const;
  std::uint64_t now_us();
  // One step of a wait that began at start_us (now_us()): would_block (timeout 0), timeout_error
  // (expired) or ok after a short sleep.
  error wait_step(std::uint64_t start_us, const char* what);
  result<std::size_t> read_stable16(std::uint16_t reg);
  result<std::size_t> tx_free();
  error set_destination(const address& to);
  result<std::size_t> send_datagram(const void* data, std::size_t n, const address& to);
  result<std::size_t> recv_stream(std::uint8_t* buf, std::size_t n);
  result<std::size_t> recv_datagram(std::uint8_t* buf, std::size_t n, address* from);
  void release();

  WIZNET5K* m_iface = nullptr;
  int m_sn = -1;
  int m_family = AF_INET;
  int m_type = SOCK_STREAM;
  int m_proto = 0;
  std::optional<std::uint32_t> m_timeout_ms;
  std::int32_t m_bound_port = -1;  // bind()'s port, -1: unbound
  bool m_listening = false;
  bool m_connected = false;  // connect() or accept() succeeded (TCP), connect() (UDP)
  address m_peer{};          // UDP: the connect() destination
  error m_open_error{};
};

struct accept_result {
  socket conn;
  address from{};
  error err{};
  bool ok() const { return err.ok(); }
};

}  // namespace wiznet5k::socket_module

#pragma pop_macro("htons")
#pragma pop_macro("htonl")
#pragma pop_macro("SO_REUSEADDR")
#pragma pop_macro("SOL_SOCKET")
#pragma pop_macro("SOCK_DGRAM")
#pragma pop_macro("SOCK_STREAM")
#pragma pop_macro("AF_INET")
