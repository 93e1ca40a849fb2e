// The socket module (wiznet5k::socket_module, the port of adafruit_wiznet5k_socket) end to end in virtual
// time: the driver on the W5500 model next to harness peers (TCP echo/sink/source services, UDP echo, a DNS
// server) on segment "lan". Every test asserts what happened at the peer or on the wire (bytes received,
// FIN/RST/SYN segments the chip sent, datagrams captured), and how much virtual time a wait took.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "driver_lan.hpp"
#include "lan_fixture.hpp"
#include "wiznet5k/socket.hpp"
#include "wiznet5k/wiznet5k.hpp"
#include "wizsim/harness/dns.hpp"
#include "wizsim/harness/peer.hpp"
#include "wizsim/harness/segment.hpp"
#include "wizsim/harness/services.hpp"

using namespace wizsim;
using wiznet5k::errc;
using wizsim::test::from_w;
using wizsim::test::to_w;
namespace sm = wiznet5k::socket_module;

namespace {

constexpr ip4_addr chip_ip = ip4(10, 0, 0, 50), host_ip = ip4(10, 0, 0, 7), ns_ip = ip4(10, 0, 0, 53),
                   other_ip = ip4(10, 0, 0, 8), silent_ip = ip4(10, 0, 0, 99);

// What the chip put on the wire, decoded.
struct tcp_seen {
  ps_t t = 0;
  ip4_addr dst = 0;
  std::uint16_t sport = 0, dport = 0;
  std::uint8_t flags = 0;
  std::size_t len = 0;
};
struct udp_seen {
  ps_t t = 0;
  ip4_addr dst = 0;
  std::uint16_t sport = 0, dport = 0;
  octets payload;
};

// The driver (10.0.0.50/24, DNS server 10.0.0.53) next to:
//   host  10.0.0.7   TCP echo on 7, UDP echo on 7, UDP receiver on 7000 (keeps datagrams)
//   ns    10.0.0.53  DNS: echo.lan, host.lan -> 10.0.0.7; other.lan -> 10.0.0.8; NXDOMAIN for the rest
//   other 10.0.0.8   (created by tests that need it)
// The socket module's globals are reset here (interface, default timeout).
struct sock_lan : test::driver_lan {
  peer_host host;
  peer_host ns_host;
  dns_server dns;
  tcp_echo_service echo;
  udp_echo_service uecho;
  std::vector<udp_datagram> udp_got;  // at host:7000
  std::vector<tcp_seen> tcp_out;      // TCP segments the chip sent
  std::vector<udp_seen> udp_out;      // UDP datagrams the chip sent

  explicit sock_lan(std::uint64_t seed = 11)
      : driver_lan(seed, chip_ip, 0, ns_ip),
        host(seg, test::peer_cfg("host", host_ip, 7)),
        ns_host(seg, test::peer_cfg("ns", ns_ip, 53)),
        dns(ns_host),
        echo(host, 7),
        uecho(host, 7) {
    dns.add_a("echo.lan", host_ip);
    dns.add_a("host.lan", host_ip);
    dns.add_a("other.lan", other_ip);
    dns.set_behaviour("missing.lan", dns_behaviour::answer(dns_mode::nxdomain));
    host.udp_bind(7000, [this](const udp_datagram& d) { udp_got.push_back(d); });
    seg.observe([this](segment::port_id from, const octets& f, ps_t t) {
      if (from == chip_port) note(f, t);
    });
    sm::set_interface(eth);
    sm::setdefaulttimeout_ms(std::nullopt);
  }
  ~sock_lan() { sm::setdefaulttimeout_ms(std::nullopt); }

  void note(const octets& f, ps_t t) {
    const auto e = parse_eth(f.data(), f.size());
    if (!e || e->ethertype != ethertype_ipv4) return;
    const auto ip = parse_ipv4(e->payload, e->payload_len);
    if (!ip) return;
    if (ip->h.proto == ip_proto_tcp) {
      const auto s = parse_tcp(ip->payload, ip->payload_len, ip->h.src, ip->h.dst);
      if (s) tcp_out.push_back({t, ip->h.dst, s->h.src_port, s->h.dst_port, s->h.flags, s->payload_len});
    } else if (ip->h.proto == ip_proto_udp) {
      const auto u = parse_udp(ip->payload, ip->payload_len, ip->h.src, ip->h.dst);
      if (u)
        udp_out.push_back(
            {t, ip->h.dst, u->src_port, u->dst_port, octets(u->payload, u->payload + u->payload_len)});
    }
  }

  // Segments the chip sent to `dport` with all of `flags` set.
  std::size_t segments_to(std::uint16_t dport, std::uint8_t flags) const {
    std::size_t n = 0;
    for (const auto& s : tcp_out)
      if (s.dport == dport && (s.flags & flags) == flags) ++n;
    return n;
  }
  std::size_t dns_queries() const {
    std::size_t n = 0;
    for (const auto& u : udp_out)
      if (u.dport == dns_port) ++n;
    return n;
  }

  ps_t now() const { return sched.now(); }
  // Lets virtual time run (the chip and the peers work) without the driver doing anything.
  void run(ps_t t) { sched.advance_by(t); }
  // The hardware socket's Sn_SR.
  std::uint8_t status(int sn) { return *eth.socket_status(sn); }
  // Number of hardware sockets a new reserving socket could get (1..7, not reserved and CLOSED).
  int free_reservable() {
    int n = 0;
    std::vector<sm::socket> held;
    for (;;) {
      sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
      if (!s) break;
      ++n;
      held.push_back(std::move(s));
    }
    return n;
  }
};

sm::address addr(ip4_addr ip, std::uint16_t port) {
  return sm::address{to_w(ip), port};
}

octets bytes_of(const std::uint8_t* p, std::size_t n) {
  return octets(p, p + n);
}

// Reads from s until `want` bytes arrived, end of stream, or an error; returns what came.
octets recv_all(sm::socket& s, std::size_t want) {
  octets got;
  std::uint8_t buf[1500];
  while (got.size() < want) {
    const auto n = s.recv(buf, sizeof buf);
    if (!n.ok() || n.value == 0) break;
    got.insert(got.end(), buf, buf + n.value);
  }
  return got;
}

}  // namespace

// ==== module functions ====================================================================================

TEST(SocketModuleFunctions, SetInterfaceIsWhatGetInterfaceReturnsAndNewSocketsUseIt) {
  sock_lan t;
  EXPECT_EQ(sm::get_interface(), &t.eth);
  sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(s) << s.open_error().message;
  EXPECT_GE(s.fileno(), 1) << "socket 0 stays for DHCP/DNS";
  ASSERT_TRUE(s.connect(addr(host_ip, 7)).ok());
  EXPECT_EQ(t.status(s.fileno()), wiznet5k::SNSR_SOCK_ESTABLISHED) << "the socket lives on this interface";
  EXPECT_EQ(t.echo.stats().connections, 1u);
}

TEST(SocketModuleFunctions, DefaultTimeoutRoundTripsInSecondsAndMillisecondsAndRejectsNegativeOrNaN) {
  sock_lan t;
  EXPECT_FALSE(sm::getdefaulttimeout().has_value()) << "None at start";
  EXPECT_FALSE(sm::getdefaulttimeout_ms().has_value());

  ASSERT_TRUE(sm::setdefaulttimeout(2.5).ok());
  ASSERT_TRUE(sm::getdefaulttimeout().has_value());
  EXPECT_DOUBLE_EQ(*sm::getdefaulttimeout(), 2.5);
  EXPECT_EQ(sm::getdefaulttimeout_ms(), std::optional<std::uint32_t>(2500));
  {
    sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
    EXPECT_EQ(s.gettimeout_ms(), std::optional<std::uint32_t>(2500)) << "a new socket takes the default";
  }
  // Rounded up to whole milliseconds: a positive timeout never turns into 0 (non-blocking).
  ASSERT_TRUE(sm::setdefaulttimeout(0.0001).ok());
  EXPECT_EQ(sm::getdefaulttimeout_ms(), std::optional<std::uint32_t>(1));

  EXPECT_EQ(sm::setdefaulttimeout(-1.0).code, errc::value_error);
  EXPECT_EQ(sm::setdefaulttimeout(std::numeric_limits<double>::quiet_NaN()).code, errc::value_error);
  EXPECT_EQ(sm::getdefaulttimeout_ms(), std::optional<std::uint32_t>(1))
      << "a rejected value changes nothing";

  ASSERT_TRUE(sm::setdefaulttimeout(0.0).ok());
  EXPECT_EQ(sm::getdefaulttimeout_ms(), std::optional<std::uint32_t>(0));
  sm::setdefaulttimeout_ms(750);
  EXPECT_DOUBLE_EQ(*sm::getdefaulttimeout(), 0.75);
  {
    sm::socket s(sm::AF_INET, sm::SOCK_DGRAM);
    EXPECT_DOUBLE_EQ(*s.gettimeout(), 0.75);
  }
  ASSERT_TRUE(sm::setdefaulttimeout(std::nullopt).ok());
  EXPECT_FALSE(sm::getdefaulttimeout().has_value());
  sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
  EXPECT_FALSE(s.gettimeout().has_value());
}

TEST(SocketModuleFunctions, HtonlAndHtonsPutTheMostSignificantByteFirstInMemory) {
  const std::uint32_t l = sm::htonl(0x0A000032u);
  std::uint8_t b4[4];
  std::memcpy(b4, &l, 4);
  EXPECT_EQ(b4[0], 0x0A);
  EXPECT_EQ(b4[1], 0x00);
  EXPECT_EQ(b4[2], 0x00);
  EXPECT_EQ(b4[3], 0x32);
  const std::uint16_t s = sm::htons(0x1F90);
  std::uint8_t b2[2];
  std::memcpy(b2, &s, 2);
  EXPECT_EQ(b2[0], 0x1F);
  EXPECT_EQ(b2[1], 0x90);
  EXPECT_EQ(sm::htons(sm::htons(0x1234)), 0x1234);
  EXPECT_EQ(sm::htonl(sm::htonl(0xDEADBEEFu)), 0xDEADBEEFu);
  static_assert(sm::htons(0x0102) == 0x0102 || sm::htons(0x0102) == 0x0201, "constexpr");
}

TEST(SocketModuleFunctions, InetAtonParsesDottedQuadsAndRejectsMalformedTextAsValueError) {
  const auto a = sm::inet_aton("10.0.0.1");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.value, (wiznet5k::ip4{10, 0, 0, 1}));
  const auto b = sm::inet_aton("255.255.255.255");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b.value, (wiznet5k::ip4{255, 255, 255, 255}));
  for (const char* bad : {"", "10.0.0", "10.0.0.1.2", "256.0.0.1", "10..0.1", "10.0.0.1 ", " 10.0.0.1",
                          "a.b.c.d", "10.0.0.-1", "1000.0.0.1", "10.0.0.1."}) {
    const auto r = sm::inet_aton(bad);
    EXPECT_EQ(r.err.code, errc::value_error) << "'" << bad << "'";
  }
  EXPECT_EQ(sm::inet_aton(nullptr).err.code, errc::value_error);
}

TEST(SocketModuleFunctions, InetNtoaFormatsDottedDecimal) {
  char out[16];
  EXPECT_STREQ(sm::inet_ntoa({10, 0, 0, 50}, out), "10.0.0.50");
  EXPECT_EQ(sm::inet_ntoa({10, 0, 0, 50}, out), out);
  EXPECT_STREQ(sm::inet_ntoa({255, 255, 255, 255}, out), "255.255.255.255");
  EXPECT_STREQ(sm::inet_ntoa({0, 0, 0, 0}, out), "0.0.0.0");
  const auto back = sm::inet_aton(sm::inet_ntoa({192, 168, 100, 9}, out));
  EXPECT_EQ(back.value, (wiznet5k::ip4{192, 168, 100, 9}));
}

TEST(SocketModuleFunctions, GethostbynameReturnsADottedQuadWithoutAnyQuery) {
  sock_lan t;
  const auto r = sm::gethostbyname("10.0.0.123");
  ASSERT_TRUE(r.ok()) << r.err.message;
  EXPECT_EQ(from_w(r.value), ip4(10, 0, 0, 123));
  t.run(ms(100));
  EXPECT_EQ(t.dns_queries(), 0u);
  EXPECT_EQ(t.dns.stats().queries, 0u);
  EXPECT_EQ(sm::gethostbyname("").err.code, errc::value_error);
  EXPECT_EQ(sm::gethostbyname(nullptr).err.code, errc::value_error);
  EXPECT_EQ(t.dns_queries(), 0u);
}

TEST(SocketModuleFunctions, GethostbynameResolvesANameThroughTheDnsServerInIfconfig) {
  sock_lan t;
  const auto r = sm::gethostbyname("other.lan");
  ASSERT_TRUE(r.ok()) << r.err.message;
  EXPECT_EQ(from_w(r.value), other_ip);
  ASSERT_EQ(t.dns_queries(), 1u);
  EXPECT_EQ(t.udp_out.back().dst, ns_ip) << "the DNS server of ifconfig()";
  EXPECT_EQ(t.dns.stats().answers[dns_rcode_noerror], 1u);
  EXPECT_TRUE(t.all_closed()) << "the lookup's socket is released";
}

TEST(SocketModuleFunctions, GethostbynameOfAnUnknownNameIsAnError) {
  sock_lan t;
  const ps_t start = t.now();
  const auto r = sm::gethostbyname("missing.lan");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.err.code, errc::runtime_error) << r.err.message;
  EXPECT_NE(std::string(r.err.message).find("NXDOMAIN"), std::string::npos) << r.err.message;
  EXPECT_EQ(t.dns.stats().answers[dns_rcode_nxdomain], 1u);
  EXPECT_LT(t.now() - start, ms(100)) << "an NXDOMAIN ends the lookup at once";
  EXPECT_TRUE(t.all_closed());
}

TEST(SocketModuleFunctions, GetaddrinfoResolvesTheHostAndCopiesPortTypeAndProto) {
  sock_lan t;
  const auto a = sm::getaddrinfo("host.lan", 7, sm::AF_INET, sm::SOCK_STREAM, 6);
  ASSERT_TRUE(a.ok()) << a.err.message;
  EXPECT_EQ(a->family, sm::AF_INET);
  EXPECT_EQ(a->type, sm::SOCK_STREAM);
  EXPECT_EQ(a->proto, 6);
  EXPECT_STREQ(a->canonname, "");
  EXPECT_EQ(a->sockaddr, addr(host_ip, 7));
  EXPECT_EQ(t.dns_queries(), 1u);

  const auto lit = sm::getaddrinfo("10.0.0.9", 80);
  ASSERT_TRUE(lit.ok());
  EXPECT_EQ(lit->sockaddr, addr(ip4(10, 0, 0, 9), 80));
  const auto any = sm::getaddrinfo(nullptr, 8080);
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(any->sockaddr, addr(0, 8080));
  EXPECT_EQ(t.dns_queries(), 1u) << "literals and null need no query";

  EXPECT_EQ(sm::getaddrinfo("missing.lan", 80).err.code, errc::runtime_error);

  // What getaddrinfo gives is what connect takes.
  sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(s.connect(a->sockaddr).ok());
  EXPECT_EQ(t.echo.stats().connections, 1u);
}

// ==== TCP client ===========================================================================================

TEST(SocketModuleTcpClient, ConnectsByAddressAndEchoesWithSendAndRecv) {
  sock_lan t;
  sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(s);
  EXPECT_EQ(s.family(), sm::AF_INET);
  EXPECT_EQ(s.type(), sm::SOCK_STREAM);
  EXPECT_EQ(s.proto(), 0);
  const auto c = s.connect(addr(host_ip, 7));
  ASSERT_TRUE(c.ok()) << c.message;
  ASSERT_EQ(t.echo.sessions().size(), 1u);
  EXPECT_EQ(t.echo.sessions()[0].remote_ip, chip_ip);
  EXPECT_GE(t.echo.sessions()[0].remote_port, 49152) << "an ephemeral local port";

  const auto peer = s.getpeername();
  ASSERT_TRUE(peer.ok());
  EXPECT_EQ(peer.value, addr(host_ip, 7));

  const auto n = s.send("hello, echo", 11);
  ASSERT_TRUE(n.ok()) << n.err.message;
  EXPECT_EQ(n.value, 11u);
  std::uint8_t buf[64] = {};
  const auto r = s.recv(buf, sizeof buf);
  ASSERT_TRUE(r.ok()) << r.err.message;
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), r.value), "hello, echo");
  EXPECT_EQ(t.echo.sessions()[0].bytes_received, 11u);
}

TEST(SocketModuleTcpClient, ConnectsByNameResolvedThroughDns) {
  sock_lan t;
  sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
  const auto c = s.connect("echo.lan", 7);
  ASSERT_TRUE(c.ok()) << c.message;
  EXPECT_EQ(t.dns_queries(), 1u);
  ASSERT_EQ(t.echo.stats().connections, 1u);
  EXPECT_EQ(s.getpeername().value, addr(host_ip, 7));
  ASSERT_TRUE(s.sendall("by name", 7).ok());
  EXPECT_EQ(recv_all(s, 7), bytes_of(reinterpret_cast<const std::uint8_t*>("by name"), 7));

  sm::socket bad(sm::AF_INET, sm::SOCK_STREAM);
  EXPECT_EQ(bad.connect("missing.lan", 7).code, errc::runtime_error);
  EXPECT_EQ(t.echo.stats().connections, 1u) << "no connection attempt for a name that does not resolve";
}

TEST(SocketModuleTcpClient, RecvIntoRecvfromAndRecvfromIntoReadTheStream) {
  sock_lan t;
  sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(s.connect(addr(host_ip, 7)).ok());
  const octets data = test::pattern(100, 3);
  ASSERT_TRUE(s.sendall(data.data(), data.size()).ok());
  t.run(ms(5));  // the echo is back in the chip's buffer
  const auto avail = s.available();
  ASSERT_TRUE(avail.ok());
  EXPECT_EQ(avail.value, 100u);

  std::uint8_t buf[64] = {};
  const auto a = s.recv_into(buf, sizeof buf, 10);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.value, 10u);
  EXPECT_EQ(bytes_of(buf, 10), octets(data.begin(), data.begin() + 10));
  EXPECT_EQ(s.available().value, 90u);

  const auto b = s.recvfrom(buf, 20);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->nbytes, 20u);
  EXPECT_EQ(b->from, addr(host_ip, 7)) << "a stream's recvfrom gives the peer";
  EXPECT_EQ(bytes_of(buf, 20), octets(data.begin() + 10, data.begin() + 30));

  const auto c = s.recvfrom_into(buf, sizeof buf, 30);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->nbytes, 30u);
  EXPECT_EQ(c->from, addr(host_ip, 7));
  EXPECT_EQ(bytes_of(buf, 30), octets(data.begin() + 30, data.begin() + 60));

  const auto d = s.recv_into(buf, sizeof buf);  // nbytes 0: the whole buffer
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d.value, 40u) << "what is there, not the buffer's size";
  EXPECT_EQ(bytes_of(buf, 40), octets(data.begin() + 60, data.end()));
  EXPECT_EQ(s.available().value, 0u);

  EXPECT_EQ(s.recv_into(buf, 8, 9).err.code, errc::value_error) << "nbytes > len(buffer)";
  EXPECT_EQ(s.recvfrom_into(buf, 8, 9).err.code, errc::value_error);
}

TEST(SocketModuleTcpClient, Transfers64KiBEachWayIntact) {
  sock_lan t;
  tcp_sink_service sink(t.host, 9000);
  tcp_source_config src_cfg;
  src_cfg.bytes = 64 * 1024;
  src_cfg.seed = 5;
  tcp_source_service source(t.host, 19, src_cfg);

  // Out: 64 KiB to the sink, checked byte for byte where it arrived.
  const octets out = test::pattern(64 * 1024, 9);
  {
    sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
    ASSERT_TRUE(s.connect(addr(host_ip, 9000)).ok());
    const auto e = s.sendall(out.data(), out.size());
    ASSERT_TRUE(e.ok()) << e.message;
    ASSERT_TRUE(s.close().ok());
  }
  t.run(ms(100));
  EXPECT_EQ(sink.received(), out);
  ASSERT_EQ(sink.sessions().size(), 1u);
  EXPECT_TRUE(sink.sessions()[0].peer_finished);

  // In: 64 KiB from the source, then its FIN (end of stream).
  sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(s.connect(addr(host_ip, 19)).ok());
  const octets in = recv_all(s, 128 * 1024);
  EXPECT_EQ(in.size(), 64u * 1024u);
  EXPECT_EQ(in, tcp_source_service::pattern(64 * 1024, 5));
  std::uint8_t b[16];
  const auto eof = s.recv(b, sizeof b);
  ASSERT_TRUE(eof.ok());
  EXPECT_EQ(eof.value, 0u);
  EXPECT_EQ(source.completed(), 1u);

  // Both ways on one connection through the echo service.
  sm::socket e(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(e.connect(addr(host_ip, 7)).ok());
  ASSERT_TRUE(e.sendall(out.data(), out.size()).ok());
  EXPECT_EQ(recv_all(e, out.size()), out);
  EXPECT_EQ(t.echo.sessions().back().bytes_received, out.size());
}

TEST(SocketModuleTcpClient, SendReturnsAPartialCountWhenUnacknowledgedDataFillsTheTxBuffer) {
  sock_lan t;
  peer_config cfg = test::peer_cfg("lazy", other_ip, 8);
  cfg.tcp_delayed_ack = ms(200);  // holds its ACK: what the chip sent stays in its TX buffer meanwhile
  peer_host lazy(t.seg, cfg);
  tcp_sink_service sink(lazy, 9000);
  sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(s.connect(addr(other_ip, 9000)).ok());
  const octets data = test::pattern(8000, 4);
  const auto first = s.send(data.data(), 1000);
  ASSERT_TRUE(first.ok()) << first.err.message;
  EXPECT_EQ(first.value, 1000u);
  const auto second = s.send(data.data() + 1000, 2048);
  ASSERT_TRUE(second.ok()) << second.err.message;
  EXPECT_EQ(second.value, 1048u) << "2 KiB buffer, 1000 bytes not yet acknowledged";
  std::size_t off = 1000 + second.value;
  ASSERT_TRUE(s.sendall(data.data() + off, data.size() - off).ok());
  ASSERT_TRUE(s.close().ok());
  t.run(seconds(2));
  EXPECT_EQ(sink.received(), data) << "every byte once, in order";
}

TEST(SocketModuleTcpClient, NonBlockingSendToAReaderThatStoppedReturnsAtOnceAndThenWouldBlock) {
  sock_lan t;
  tcp_sink_config cfg;
  cfg.initial_pause = seconds(3);  // a slow reader: its 8 KiB window closes
  tcp_sink_service sink(t.host, 9000, cfg);
  sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(s.connect(addr(host_ip, 9000)).ok());
  s.setblocking(false);

  const octets data = test::pattern(32 * 1024, 4);
  std::size_t off = 0;
  const ps_t start = t.now();
  bool blocked = false;
  for (int i = 0; i < 40 && !blocked; ++i) {
    const auto n = s.send(data.data() + off, i == 0 ? 1000 : data.size() - off);
    if (!n.ok()) {
      EXPECT_EQ(n.err.code, errc::would_block) << n.err.message;
      blocked = true;
      break;
    }
    ASSERT_GT(n.value, 0u);
    ASSERT_LE(n.value, 2048u);
    off += n.value;
  }
  EXPECT_TRUE(blocked);
  EXPECT_LT(t.now() - start, ms(20)) << "a non-blocking send never waits for the peer";
  EXPECT_GT(off, 8u * 1024u) << "the peer's window (8 KiB) and then the chip's buffer were filled";
  EXPECT_LE(off, 8u * 1024u + 2048u);

  // A bounded timeout: the next send waits that long, then timeout_error (nothing taken).
  ASSERT_TRUE(s.settimeout(0.5).ok());
  const ps_t wait = t.now();
  const auto to = s.send(data.data() + off, data.size() - off);
  EXPECT_EQ(to.err.code, errc::timeout_error) << to.err.message;
  EXPECT_GE(t.now() - wait, ms(500));
  EXPECT_LT(t.now() - wait, ms(503));

  // The reader wakes up: everything send() said it took arrives, once and in order.
  s.setblocking(true);
  ASSERT_TRUE(s.sendall(data.data() + off, data.size() - off).ok());
  ASSERT_TRUE(s.close().ok());
  t.run(seconds(2));
  const octets got = sink.received();
  std::size_t same = 0;
  while (same < got.size() && same < data.size() && got[same] == data[same]) ++same;
  EXPECT_EQ(got.size(), data.size());
  EXPECT_EQ(same, data.size()) << "first difference at " << same << " (send() took " << off << ")";
}

TEST(SocketModuleTcpClient, BlockingSendallWaitsForAStalledReaderAndDeliversEverythingOnce) {
  sock_lan t;
  tcp_sink_config cfg;
  cfg.initial_pause = seconds(20);  // the chip probes the closed window meanwhile
  tcp_sink_service sink(t.host, 9000, cfg);
  sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(s.connect(addr(host_ip, 9000)).ok());
  const octets data = test::pattern(16 * 1024, 8);
  const ps_t start = t.now();
  const auto e = s.sendall(data.data(), data.size());
  ASSERT_TRUE(e.ok()) << e.message;
  EXPECT_GE(t.now() - start, seconds(20)) << "it waited for the reader";
  ASSERT_TRUE(s.close().ok());
  t.run(seconds(2));
  EXPECT_EQ(sink.received(), data) << "nothing lost, nothing sent twice";
}

TEST(SocketModuleTcpClient, BlockingSendallToAReaderThatNeverReadsAgainEndsWithAConnectionError) {
  sock_lan t;
  tcp_sink_config cfg;
  cfg.initial_pause = seconds(3600);
  tcp_sink_service sink(t.host, 9000, cfg);
  sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(s.connect(addr(host_ip, 9000)).ok());
  // Bounded only so that a chip that probed for ever would fail this test instead of hanging it.
  ASSERT_TRUE(s.settimeout(120.0).ok());
  const octets data = test::pattern(64 * 1024, 8);
  const ps_t start = t.now();
  const auto e = s.sendall(data.data(), data.size());
  // The chip gives up on its window probes after its TCP timeout (RTR/RCR, about 32 s) and closes.
  EXPECT_EQ(e.code, errc::connection_error) << e.message;
  EXPECT_GT(t.now() - start, seconds(30));
  EXPECT_LT(t.now() - start, seconds(70));
  EXPECT_EQ(t.status(s.fileno()), wiznet5k::SNSR_SOCK_CLOSED);
  EXPECT_TRUE(s.close().ok());
}

TEST(SocketModuleTcpClient, ConnectUsesTheBoundPortAndRefusesALiveConnection) {
  sock_lan t;
  sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(s.bind("", 6000).ok());
  ASSERT_TRUE(s.connect(addr(host_ip, 7)).ok());
  ASSERT_EQ(t.echo.sessions().size(), 1u);
  EXPECT_EQ(t.echo.sessions()[0].remote_port, 6000);
  EXPECT_EQ(s.connect(addr(host_ip, 7)).code, errc::runtime_error) << "already connected";
  EXPECT_EQ(t.echo.stats().connections, 1u);
  EXPECT_EQ(s.bind("", 6001).code, errc::runtime_error);

  // Half-closed by the peer: still a connection; connect() must not silently drop it.
  tcp_source_config cfg;
  cfg.bytes = 10;
  tcp_source_service source(t.host, 19, cfg);
  sm::socket h(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(h.connect(addr(host_ip, 19)).ok());
  t.run(ms(10));
  ASSERT_EQ(t.status(h.fileno()), wiznet5k::SNSR_SOCK_CLOSE_WAIT);
  EXPECT_EQ(h.connect(addr(host_ip, 7)).code, errc::runtime_error);
  EXPECT_EQ(t.echo.stats().connections, 1u);
  ASSERT_TRUE(h.settimeout(1.0).ok());
  EXPECT_EQ(recv_all(h, 100).size(), 10u) << "the data is still there";

  sm::socket l(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(l.bind("", 8080).ok());
  ASSERT_TRUE(l.listen().ok());
  EXPECT_EQ(l.connect(addr(host_ip, 7)).code, errc::runtime_error) << "a listening socket";
  EXPECT_EQ(t.status(l.fileno()), wiznet5k::SNSR_SOCK_LISTEN);
}

TEST(SocketModuleTcpClient, DataThatArrivesWithTheFinIsDeliveredBeforeEndOfStream) {
  sock_lan t;
  tcp_source_config cfg;
  cfg.bytes = 1500;  // one segment; the FIN follows at once
  cfg.seed = 2;
  tcp_source_service source(t.host, 19, cfg);
  sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(s.connect(addr(host_ip, 19)).ok());
  t.run(ms(20));
  ASSERT_EQ(t.status(s.fileno()), wiznet5k::SNSR_SOCK_CLOSE_WAIT) << "data and FIN are both in";
  std::uint8_t buf[4096];
  const auto a = s.recv(buf, sizeof buf);
  ASSERT_TRUE(a.ok()) << a.err.message;
  EXPECT_EQ(a.value, 1500u);
  EXPECT_EQ(bytes_of(buf, a.value), tcp_source_service::pattern(1500, 2));
  const auto b = s.recv(buf, sizeof buf);
  ASSERT_TRUE(b.ok()) << b.err.message;
  EXPECT_EQ(b.value, 0u) << "end of stream only after the data";
  const auto c = s.recv(buf, sizeof buf);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.value, 0u) << "and it stays at end of stream";

  // The same while recv() is already waiting: the data and the FIN come together later.
  t.host.tcp_listen(5001, [&t](tcp_ptr c2) {
    t.sched.after(ms(300), [c2] {
      c2->send(std::string_view("last words"));
      c2->close();
    });
  });
  sm::socket w(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(w.connect(addr(host_ip, 5001)).ok());
  const auto d = w.recv(buf, sizeof buf);
  ASSERT_TRUE(d.ok()) << d.err.message;
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), d.value), "last words");
  const auto e = w.recv(buf, sizeof buf);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e.value, 0u);
}

TEST(SocketModuleTcpClient, AvailableCountsTheBytesWaiting) {
  sock_lan t;
  sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(s.connect(addr(host_ip, 7)).ok());
  EXPECT_EQ(s.available().value, 0u);
  ASSERT_TRUE(s.sendall("0123456789", 10).ok());
  t.run(ms(5));
  EXPECT_EQ(s.available().value, 10u);
  std::uint8_t b[4];
  ASSERT_EQ(s.recv(b, sizeof b).value, 4u);
  EXPECT_EQ(s.available().value, 6u);
}

TEST(SocketModuleTcpClient, TimeoutSemanticsOfSettimeoutGettimeoutSetblockingGetblocking) {
  sock_lan t;
  sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
  EXPECT_FALSE(s.gettimeout().has_value());
  EXPECT_TRUE(s.getblocking());
  ASSERT_TRUE(s.settimeout(1.5).ok());
  EXPECT_DOUBLE_EQ(*s.gettimeout(), 1.5);
  EXPECT_EQ(s.gettimeout_ms(), std::optional<std::uint32_t>(1500));
  EXPECT_TRUE(s.getblocking()) << "a bounded timeout is still blocking (seed #179)";
  s.setblocking(false);
  EXPECT_DOUBLE_EQ(*s.gettimeout(), 0.0);
  EXPECT_FALSE(s.getblocking());
  s.setblocking(true);
  EXPECT_FALSE(s.gettimeout().has_value());
  EXPECT_TRUE(s.getblocking());
  s.settimeout_ms(20);
  EXPECT_DOUBLE_EQ(*s.gettimeout(), 0.02);
  EXPECT_EQ(s.settimeout(-0.5).code, errc::value_error);
  EXPECT_EQ(s.settimeout(std::nan("")).code, errc::value_error);
  EXPECT_EQ(s.gettimeout_ms(), std::optional<std::uint32_t>(20)) << "unchanged by a rejected value";
  ASSERT_TRUE(s.settimeout(0.0).ok());
  EXPECT_FALSE(s.getblocking());
  ASSERT_TRUE(s.settimeout(std::nullopt).ok());
  EXPECT_TRUE(s.getblocking());
}

TEST(SocketModuleTcpClient, RecvWithTimeoutZeroWouldBlockAtOnce) {
  sock_lan t;
  sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(s.connect(addr(host_ip, 7)).ok());
  s.setblocking(false);
  std::uint8_t b[16];
  const ps_t start = t.now();
  const auto r = s.recv(b, sizeof b);
  EXPECT_EQ(r.err.code, errc::would_block) << r.err.message;
  EXPECT_LT(t.now() - start, ms(1));
  const auto f = s.recvfrom(b, sizeof b);
  EXPECT_EQ(f.err.code, errc::would_block);
  // Data there: returned at once.
  ASSERT_TRUE(s.sendall("x", 1).ok());
  t.run(ms(5));
  EXPECT_EQ(s.recv(b, sizeof b).value, 1u);
}

TEST(SocketModuleTcpClient, RecvWithATimeoutFailsAfterThatMuchVirtualTime) {
  sock_lan t;
  sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(s.connect(addr(host_ip, 7)).ok());
  ASSERT_TRUE(s.settimeout(0.25).ok());
  std::uint8_t b[16];
  const ps_t start = t.now();
  const auto r = s.recv(b, sizeof b);
  const ps_t took = t.now() - start;
  EXPECT_EQ(r.err.code, errc::timeout_error) << r.err.message;
  EXPECT_GE(took, ms(250));
  EXPECT_LT(took, ms(253));
  EXPECT_EQ(t.status(s.fileno()), wiznet5k::SNSR_SOCK_ESTABLISHED) << "a timeout does not close anything";

  // Data that comes within the timeout is returned when it comes.
  auto c = t.echo.connections().at(0);
  t.sched.after(ms(100), [c] { c->send(std::string_view("soon")); });
  const ps_t again = t.now();
  const auto d = s.recv(b, sizeof b);
  ASSERT_TRUE(d.ok()) << d.err.message;
  EXPECT_EQ(std::string(reinterpret_cast<char*>(b), d.value), "soon");
  EXPECT_GE(t.now() - again, ms(100));
  EXPECT_LT(t.now() - again, ms(103));
}

TEST(SocketModuleTcpClient, RecvWithoutTimeoutBlocksUntilDataArrives) {
  sock_lan t;
  sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(s.connect(addr(host_ip, 7)).ok());
  ASSERT_FALSE(s.gettimeout().has_value());
  auto c = t.echo.connections().at(0);
  t.sched.after(seconds(30), [c] { c->send(std::string_view("late")); });
  std::uint8_t b[16];
  const ps_t start = t.now();
  const auto r = s.recv(b, sizeof b);
  ASSERT_TRUE(r.ok()) << r.err.message;
  EXPECT_EQ(std::string(reinterpret_cast<char*>(b), r.value), "late");
  EXPECT_GE(t.now() - start, seconds(30));
  EXPECT_LT(t.now() - start, seconds(30) + ms(3));
}

TEST(SocketModuleTcpClient, CloseSendsFinAndReleasesTheHardwareSocket) {
  sock_lan t;
  sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(s.connect(addr(host_ip, 7)).ok());
  const int sn = s.fileno();
  const std::uint16_t local = t.echo.sessions().at(0).remote_port;
  EXPECT_EQ(t.free_reservable(), 6);
  const ps_t start = t.now();
  const auto e = s.close();
  ASSERT_TRUE(e.ok()) << e.message;
  EXPECT_LT(t.now() - start, ms(50)) << "the echo service closes back at once";
  EXPECT_EQ(s.fileno(), -1);
  EXPECT_FALSE(s);
  std::size_t fins = 0, rsts = 0;
  for (const auto& seg : t.tcp_out) {
    if (seg.sport != local) continue;
    fins += (seg.flags & TCP_FIN) ? 1 : 0;
    rsts += (seg.flags & TCP_RST) ? 1 : 0;
  }
  EXPECT_EQ(fins, 1u);
  EXPECT_EQ(rsts, 0u) << "an orderly close, not an abort";
  t.run(ms(10));
  const tcp_session& session = t.echo.sessions().at(0);
  EXPECT_TRUE(session.peer_finished);
  EXPECT_FALSE(session.open);
  EXPECT_EQ(t.echo.stats().closed, 1u);
  EXPECT_EQ(t.echo.stats().aborted, 0u);
  EXPECT_EQ(t.status(sn), wiznet5k::SNSR_SOCK_CLOSED);
  EXPECT_EQ(t.free_reservable(), 7) << "the reservation is released";
  EXPECT_TRUE(s.close().ok()) << "close() is idempotent";
  sm::socket again(sm::AF_INET, sm::SOCK_STREAM);
  EXPECT_EQ(again.fileno(), sn) << "the same hardware socket is handed out again";
}

TEST(SocketModuleTcpClient, CloseAfterThePeerFinishedDoesNotHang) {
  sock_lan t;
  tcp_source_config cfg;
  cfg.bytes = 100;
  tcp_source_service source(t.host, 19, cfg);
  sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(s.connect(addr(host_ip, 19)).ok());
  EXPECT_EQ(recv_all(s, 1000).size(), 100u);
  ASSERT_EQ(t.status(s.fileno()), wiznet5k::SNSR_SOCK_CLOSE_WAIT);
  const ps_t start = t.now();
  ASSERT_TRUE(s.close().ok());
  EXPECT_LT(t.now() - start, ms(50)) << "seed #89/#150 waited for a DISCON flag it had cleared";
  t.run(seconds(2));  // the source's TIME_WAIT
  EXPECT_EQ(source.stats().closed, 1u);
  EXPECT_EQ(source.stats().aborted, 0u);
  EXPECT_TRUE(t.all_closed());
}

TEST(SocketModuleTcpClient, DestructorClosesTheConnectionAndReleasesTheHardwareSocket) {
  sock_lan t;
  int sn = -1;
  {
    sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
    ASSERT_TRUE(s.connect(addr(host_ip, 7)).ok());
    sn = s.fileno();
    EXPECT_EQ(t.free_reservable(), 6);
  }
  t.run(ms(10));
  EXPECT_TRUE(t.echo.sessions().at(0).peer_finished) << "the peer saw our FIN";
  EXPECT_EQ(t.echo.stats().closed, 1u);
  EXPECT_EQ(t.status(sn), wiznet5k::SNSR_SOCK_CLOSED);
  EXPECT_EQ(t.free_reservable(), 7);
  EXPECT_TRUE(t.all_closed());
}

TEST(SocketModuleTcpClient, MoveConstructionAndAssignmentTransferTheConnection) {
  sock_lan t;
  sm::socket a(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(a.connect(addr(host_ip, 7)).ok());
  const int sn = a.fileno();
  sm::socket b(std::move(a));
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): the moved-from state is what is tested
  EXPECT_EQ(a.fileno(), -1);
  EXPECT_EQ(a.send("x", 1).err.code, errc::runtime_error);
  EXPECT_TRUE(a.close().ok());
  ASSERT_EQ(b.fileno(), sn);
  EXPECT_EQ(b.getpeername().value, addr(host_ip, 7));
  ASSERT_TRUE(b.sendall("moved", 5).ok());
  EXPECT_EQ(recv_all(b, 5).size(), 5u);
  EXPECT_FALSE(t.echo.sessions().at(0).peer_finished) << "a move closes nothing";

  // Assignment closes what the target held (the peer sees its FIN) and takes over the source's socket.
  sm::socket c(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(c.connect(addr(host_ip, 7)).ok());
  const int csn = c.fileno();
  c = std::move(b);
  t.run(ms(10));
  EXPECT_TRUE(t.echo.sessions().at(1).peer_finished);
  EXPECT_EQ(t.status(csn), wiznet5k::SNSR_SOCK_CLOSED);
  EXPECT_FALSE(t.echo.sessions().at(0).peer_finished);
  EXPECT_EQ(c.fileno(), sn);
  EXPECT_EQ(b.fileno(), -1);  // NOLINT(bugprone-use-after-move)
  ASSERT_TRUE(c.sendall("again", 5).ok());
  EXPECT_EQ(recv_all(c, 5).size(), 5u);
  EXPECT_EQ(t.free_reservable(), 6) << "exactly one hardware socket held, no leak";
}

// ==== failure paths ========================================================================================

TEST(SocketModuleFailures, ConnectionRefusedIsAConnectionErrorAndTheSocketCanConnectAgain) {
  sock_lan t;
  peer_host other(t.seg, test::peer_cfg("other", other_ip, 8));  // no listener: answers SYN with RST
  sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
  const ps_t start = t.now();
  const auto e = s.connect(addr(other_ip, 80));
  EXPECT_EQ(e.code, errc::connection_error) << e.message;
  EXPECT_LT(t.now() - start, ms(50));
  EXPECT_EQ(other.stats().tcp_resets_sent, 1u);
  EXPECT_EQ(t.segments_to(80, TCP_SYN), 1u);
  EXPECT_EQ(s.getpeername().err.code, errc::connection_error) << "not connected";
  EXPECT_EQ(s.send("x", 1).err.code, errc::connection_error);
  ASSERT_TRUE(s.connect(addr(host_ip, 7)).ok()) << "the same socket may try again";
  EXPECT_EQ(t.echo.stats().connections, 1u);
}

TEST(SocketModuleFailures, ConnectToAnAddressNobodyAnswersTimesOutAfterTheChipsArpRetries) {
  sock_lan t;
  sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(s.settimeout(0.1).ok());  // as the seed: the socket timeout does not shorten connect()
  // Default RTR 200 ms, RCR 8: ARP requests at 0, 0.2 ... 1.6 s, TIMEOUT at RTR x (RCR + 1) = 1.8 s.
  const ps_t start = t.now();
  const auto e = s.connect(addr(silent_ip, 80));
  const ps_t took = t.now() - start;
  EXPECT_EQ(e.code, errc::timeout_error) << e.message;
  EXPECT_GE(took, ms(1800));
  EXPECT_LT(took, ms(1810));
  EXPECT_EQ(t.segments_to(80, TCP_SYN), 0u) << "no SYN without an ARP answer";
  EXPECT_EQ(t.status(s.fileno()), wiznet5k::SNSR_SOCK_CLOSED);

  // Shorter with RTR 100 ms and RCR 2: 0.3 s.
  ASSERT_TRUE(t.eth.set_rtr(1000).ok());
  ASSERT_TRUE(t.eth.set_rcr(2).ok());
  const ps_t again = t.now();
  EXPECT_EQ(s.connect(addr(silent_ip, 80)).code, errc::timeout_error);
  EXPECT_GE(t.now() - again, ms(300));
  EXPECT_LT(t.now() - again, ms(310));
}

TEST(SocketModuleFailures, ConnectToAHostThatDropsSynsTimesOutAfterTheChipsTcpRetransmissions) {
  sock_lan t;
  peer_host hole(t.seg, test::peer_cfg("hole", other_ip, 8));
  std::size_t syns_dropped = 0;
  hole.on_frame = [&](const eth_view& e, const octets&) {
    if (e.ethertype != ethertype_ipv4) return false;
    const auto ip = parse_ipv4(e.payload, e.payload_len);
    if (!ip || ip->h.proto != ip_proto_tcp) return false;
    ++syns_dropped;
    return true;  // ARP is answered, TCP vanishes
  };
  ASSERT_TRUE(t.eth.set_rtr(1000).ok());  // 100 ms
  ASSERT_TRUE(t.eth.set_rcr(3).ok());
  sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
  // TCP_TO = 100 + 200 + 400 + 800 ms = 1.5 s (W5500 DS 4.1 RCR; spec 3.4).
  const ps_t start = t.now();
  const auto e = s.connect(addr(other_ip, 80));
  const ps_t took = t.now() - start;
  EXPECT_EQ(e.code, errc::timeout_error) << e.message;
  EXPECT_GE(took, ms(1500));
  EXPECT_LT(took, ms(1510));
  EXPECT_EQ(syns_dropped, 4u) << "the SYN and RCR = 3 retransmissions";
  EXPECT_EQ(t.segments_to(80, TCP_SYN), 4u);
}

TEST(SocketModuleFailures, APeerResetMidConnectionIsAConnectionErrorForRecvAndSend) {
  sock_lan t;
  sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(s.connect(addr(host_ip, 7)).ok());
  ASSERT_TRUE(s.sendall("abc", 3).ok());
  EXPECT_EQ(recv_all(s, 3).size(), 3u);
  auto c = t.echo.connections().at(0);
  t.sched.after(ms(200), [c] { c->abort(); });  // RST while recv() waits
  std::uint8_t b[16];
  const ps_t start = t.now();
  const auto r = s.recv(b, sizeof b);
  EXPECT_EQ(r.err.code, errc::connection_error) << r.err.message;
  EXPECT_GE(t.now() - start, ms(200));
  EXPECT_LT(t.now() - start, ms(205));
  const auto w = s.send("more", 4);
  EXPECT_EQ(w.err.code, errc::connection_error) << w.err.message;
  EXPECT_EQ(s.sendall("more", 4).code, errc::connection_error);
  EXPECT_EQ(t.segments_to(7, TCP_PSH), 1u) << "nothing was sent after the reset";
  const int sn = s.fileno();
  EXPECT_TRUE(s.close().ok());
  EXPECT_EQ(t.status(sn), wiznet5k::SNSR_SOCK_CLOSED);
  EXPECT_EQ(t.free_reservable(), 7);
}

TEST(SocketModuleFailures, MoreSocketsThanTheChipHasIsARuntimeErrorAndAFreedOneIsUsableAgain) {
  sock_lan t;
  std::vector<sm::socket> held;
  for (int i = 0; i < 7; ++i) {
    held.emplace_back(sm::AF_INET, sm::SOCK_STREAM);
    ASSERT_TRUE(held.back()) << "socket " << i << ": " << held.back().open_error().message;
    EXPECT_EQ(held.back().fileno(), i + 1);
  }
  sm::socket extra(sm::AF_INET, sm::SOCK_STREAM);
  EXPECT_FALSE(extra);
  EXPECT_EQ(extra.fileno(), -1);
  EXPECT_EQ(extra.open_error().code, errc::runtime_error);
  EXPECT_STREQ(extra.open_error().message, "All sockets in use.");
  EXPECT_EQ(extra.connect(addr(host_ip, 7)).code, errc::runtime_error);
  EXPECT_EQ(t.echo.stats().connections, 0u);

  // Socket 0 stays for the resolver: names still resolve with every socket object taken.
  const auto ip = sm::gethostbyname("host.lan");
  ASSERT_TRUE(ip.ok()) << ip.err.message;
  EXPECT_EQ(from_w(ip.value), host_ip);

  const int freed = held[3].fileno();
  held.erase(held.begin() + 3);
  sm::socket next(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(next) << next.open_error().message;
  EXPECT_EQ(next.fileno(), freed);
  ASSERT_TRUE(next.connect(addr(host_ip, 7)).ok());
  ASSERT_TRUE(next.sendall("ok", 2).ok());
  EXPECT_EQ(recv_all(next, 2).size(), 2u);
}

TEST(SocketModuleFailures, LinkDownDuringABlockedRecvTimesOutAndTheConnectionSurvives) {
  sock_lan t;
  sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(s.connect(addr(host_ip, 7)).ok());
  ASSERT_TRUE(s.settimeout(1.0).ok());
  const ps_t start = t.now();
  t.seg.schedule_link(t.chip_port, start + ms(100), false);
  auto c = t.echo.connections().at(0);
  t.sched.after(ms(300), [c] { c->send(std::string_view("lost?")); });  // sent while the cable is out
  std::uint8_t b[16];
  const auto r = s.recv(b, sizeof b);
  EXPECT_EQ(r.err.code, errc::timeout_error) << r.err.message;
  EXPECT_GE(t.now() - start, ms(1000));
  EXPECT_LT(t.now() - start, ms(1003));
  EXPECT_FALSE(*t.eth.link_status());
  EXPECT_GT(t.seg.stats(t.chip_port).dropped_link_down, 0u) << "the peer's data did not get through";

  // Cable back: the peer retransmits and the same connection delivers.
  t.seg.set_link_up(t.chip_port, true);
  ASSERT_TRUE(s.settimeout(5.0).ok());
  const auto d = s.recv(b, sizeof b);
  ASSERT_TRUE(d.ok()) << d.err.message;
  EXPECT_EQ(std::string(reinterpret_cast<char*>(b), d.value), "lost?");
}

TEST(SocketModuleFailures, LinkDownAtOrDuringConnectFails) {
  sock_lan t;
  sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
  // Down before: refused at once, nothing on the wire.
  t.seg.set_link_up(t.chip_port, false);
  const std::size_t frames = t.seg.stats(t.chip_port).frames_out;
  const ps_t start = t.now();
  const auto e = s.connect(addr(host_ip, 7));
  EXPECT_EQ(e.code, errc::connection_error) << e.message;
  EXPECT_LT(t.now() - start, ms(1));
  EXPECT_EQ(t.seg.stats(t.chip_port).frames_out, frames);

  // Down while the chip is resolving the peer (a peer 20 ms away): ARP answers are lost, the chip times
  // out after RTR x (RCR + 1).
  t.seg.set_link_up(t.chip_port, true);
  t.run(seconds(3));  // PHY auto-negotiation
  ASSERT_TRUE(*t.eth.link_status());
  peer_config far_cfg = test::peer_cfg("far", other_ip, 8);
  far_cfg.link.delay = ms(20);
  peer_host far(t.seg, far_cfg);
  tcp_echo_service far_echo(far, 7);
  const ps_t begin = t.now();
  t.seg.schedule_link(t.chip_port, begin + ms(10), false);
  const auto d = s.connect(addr(other_ip, 7));
  EXPECT_EQ(d.code, errc::timeout_error) << d.message;
  EXPECT_GE(t.now() - begin, ms(1800));
  EXPECT_LT(t.now() - begin, ms(1810));
  EXPECT_EQ(far_echo.stats().connections, 0u);

  // Cable back: the same socket connects.
  t.seg.set_link_up(t.chip_port, true);
  t.run(seconds(3));
  const auto ok = s.connect(addr(other_ip, 7));
  ASSERT_TRUE(ok.ok()) << ok.message;
  t.run(ms(50));  // the handshake's last ACK is 20 ms away
  EXPECT_EQ(far_echo.stats().connections, 1u);
  ASSERT_TRUE(s.close().ok());  // before `far` goes away
  t.run(ms(50));
  EXPECT_TRUE(far_echo.sessions().at(0).peer_finished);
}

TEST(SocketModuleFailures, EveryOperationOnAnEmptyOrClosedHandleIsARuntimeError) {
  sock_lan t;
  sm::socket empty;
  sm::socket closed(sm::AF_INET, sm::SOCK_DGRAM);
  ASSERT_TRUE(closed);
  ASSERT_TRUE(closed.close().ok());
  sm::socket source(sm::AF_INET, sm::SOCK_STREAM);
  sm::socket moved_to(std::move(source));
  for (sm::socket* s : {&empty, &closed, &source}) {
    std::uint8_t b[8];
    EXPECT_FALSE(*s);
    EXPECT_EQ(s->fileno(), -1);
    EXPECT_EQ(s->bind(addr(0, 5000)).code, errc::runtime_error);
    EXPECT_EQ(s->bind("", 5000).code, errc::runtime_error);
    EXPECT_EQ(s->listen().code, errc::runtime_error);
    EXPECT_EQ(s->accept().err.code, errc::runtime_error);
    EXPECT_EQ(s->connect(addr(host_ip, 7)).code, errc::runtime_error);
    EXPECT_EQ(s->connect("10.0.0.7", 7).code, errc::runtime_error);
    EXPECT_EQ(s->send("x", 1).err.code, errc::runtime_error);
    EXPECT_EQ(s->sendall("x", 1).code, errc::runtime_error);
    EXPECT_EQ(s->sendto("x", 1, addr(host_ip, 7000)).err.code, errc::runtime_error);
    EXPECT_EQ(s->sendto("x", 1, "10.0.0.7", 7000).err.code, errc::runtime_error);
    EXPECT_EQ(s->recv(b, sizeof b).err.code, errc::runtime_error);
    EXPECT_EQ(s->recv_into(b, sizeof b).err.code, errc::runtime_error);
    EXPECT_EQ(s->recvfrom(b, sizeof b).err.code, errc::runtime_error);
    EXPECT_EQ(s->recvfrom_into(b, sizeof b).err.code, errc::runtime_error);
    EXPECT_EQ(s->getpeername().err.code, errc::runtime_error);
    EXPECT_EQ(s->available().err.code, errc::runtime_error);
    EXPECT_TRUE(s->close().ok());
  }
  EXPECT_EQ(t.echo.stats().connections, 0u);
  EXPECT_TRUE(t.udp_out.empty());
  EXPECT_TRUE(t.udp_got.empty());
}

TEST(SocketModuleFailures, AWrongFamilyOrTypeIsAValueErrorAndTakesNoHardwareSocket) {
  sock_lan t;
  sm::socket f(sm::AF_INET + 1, sm::SOCK_STREAM);
  EXPECT_FALSE(f);
  EXPECT_EQ(f.open_error().code, errc::value_error);
  sm::socket ty(sm::AF_INET, 3);
  EXPECT_FALSE(ty);
  EXPECT_EQ(ty.open_error().code, errc::value_error);
  sm::socket ok(sm::AF_INET);
  EXPECT_TRUE(ok) << "SOCK_STREAM is the default";
  EXPECT_EQ(ok.type(), sm::SOCK_STREAM);
  EXPECT_TRUE(ok.open_error().ok());
  std::uint8_t b[4];
  EXPECT_EQ(f.connect(addr(host_ip, 7)).code, errc::value_error) << "the construction error";
  EXPECT_EQ(ty.recv(b, sizeof b).err.code, errc::value_error);
  EXPECT_EQ(t.free_reservable(), 6);
}

TEST(SocketModuleFailures, BindToAForeignHostIsAValueError) {
  sock_lan t;
  sm::socket s(sm::AF_INET, sm::SOCK_DGRAM);
  EXPECT_EQ(s.bind(addr(ip4(10, 0, 0, 51), 5000)).code, errc::value_error);
  EXPECT_EQ(s.bind("10.0.0.51", 5000).code, errc::value_error);
  EXPECT_EQ(s.bind("not-an-ip", 5000).code, errc::value_error);
  EXPECT_EQ(t.status(s.fileno()), wiznet5k::SNSR_SOCK_CLOSED) << "nothing opened";
  ASSERT_TRUE(s.bind("10.0.0.50", 5000).ok()) << "our own address";
  EXPECT_EQ(t.status(s.fileno()), wiznet5k::SNSR_SOCK_UDP);
  sm::socket any(sm::AF_INET, sm::SOCK_STREAM);
  EXPECT_TRUE(any.bind(addr(0, 5001)).ok());
  EXPECT_TRUE(any.listen().ok());
}

TEST(SocketModuleFailures, ListenBeforeBindIsARuntimeError) {
  sock_lan t;
  sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
  const auto e = s.listen();
  EXPECT_EQ(e.code, errc::runtime_error);
  EXPECT_STREQ(e.message, "Use bind to set the port before listen!");
  EXPECT_EQ(t.status(s.fileno()), wiznet5k::SNSR_SOCK_CLOSED);
  EXPECT_EQ(s.accept().err.code, errc::runtime_error) << "accept() without listen()";
  sm::socket u(sm::AF_INET, sm::SOCK_DGRAM);
  ASSERT_TRUE(u.bind("", 5000).ok());
  EXPECT_EQ(u.listen().code, errc::runtime_error) << "listen() needs SOCK_STREAM";
}

TEST(SocketModuleFailures, SetsockoptKnowsOnlySoReuseaddr) {
  sock_lan t;
  sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
  EXPECT_TRUE(s.setsockopt(sm::SOL_SOCKET, sm::SO_REUSEADDR, 1).ok());
  EXPECT_EQ(s.setsockopt(sm::SOL_SOCKET, 99, 1).code, errc::value_error);
  EXPECT_EQ(s.setsockopt(6, sm::SO_REUSEADDR, 1).code, errc::value_error);
  // SO_REUSEADDR changes nothing: two listeners on one port work anyway.
  sm::socket a(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(s.bind("", 8080).ok());
  ASSERT_TRUE(a.bind("", 8080).ok());
  ASSERT_TRUE(s.listen().ok());
  ASSERT_TRUE(a.listen().ok());
  EXPECT_EQ(t.status(s.fileno()), wiznet5k::SNSR_SOCK_LISTEN);
  EXPECT_EQ(t.status(a.fileno()), wiznet5k::SNSR_SOCK_LISTEN);
}

// ==== TCP server ===========================================================================================

namespace {
// A client on a peer host, keeping what it receives.
struct client {
  tcp_ptr c;
  std::string got;
  bool fin = false;
  client(peer_host& h, ip4_addr ip, std::uint16_t port) : c(h.tcp_connect(ip, port)) {
    c->on_data = [this](const octets& d) { got.append(d.begin(), d.end()); };
    c->on_peer_fin = [this] { fin = true; };
  }
  // The connection outlives this object (its host keeps it): detach.
  ~client() {
    c->on_data = nullptr;
    c->on_peer_fin = nullptr;
  }
  client(const client&) = delete;
  client& operator=(const client&) = delete;
};
}  // namespace

TEST(SocketModuleTcpServer, AcceptReturnsThePeersAddressAndTheListenerKeepsListening) {
  sock_lan t;
  peer_host other(t.seg, test::peer_cfg("other", other_ip, 8));
  sm::socket server(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(server.bind("", 8080).ok());
  ASSERT_TRUE(server.listen().ok());
  const int first_sn = server.fileno();
  EXPECT_EQ(t.status(first_sn), wiznet5k::SNSR_SOCK_LISTEN);

  client one(t.host, chip_ip, 8080);
  const ps_t start = t.now();
  auto a = server.accept();
  ASSERT_TRUE(a.ok()) << a.err.message;
  EXPECT_LT(t.now() - start, ms(10));
  EXPECT_EQ(a.from, addr(host_ip, one.c->local_port())) << "the peer's real address (PR #178)";
  EXPECT_EQ(a.conn.fileno(), first_sn) << "the connection keeps the hardware socket";
  EXPECT_EQ(a.conn.getpeername().value, a.from);
  EXPECT_NE(server.fileno(), first_sn);
  EXPECT_EQ(t.status(server.fileno()), wiznet5k::SNSR_SOCK_LISTEN) << "listening again on a new socket";

  ASSERT_TRUE(a.conn.sendall("welcome", 7).ok());
  one.c->send(std::string_view("hello server"));
  std::uint8_t b[64];
  const auto r = a.conn.recv(b, sizeof b);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::string(reinterpret_cast<char*>(b), r.value), "hello server");
  EXPECT_EQ(one.got, "welcome");

  // A second client, from another host, is accepted on the new listener.
  client two(other, chip_ip, 8080);
  const int second_sn = server.fileno();
  auto a2 = server.accept();
  ASSERT_TRUE(a2.ok()) << a2.err.message;
  EXPECT_EQ(a2.from, addr(other_ip, two.c->local_port()));
  EXPECT_EQ(a2.conn.fileno(), second_sn);
  ASSERT_TRUE(a2.conn.sendall("second", 6).ok());
  t.run(ms(5));
  EXPECT_EQ(two.got, "second");
  EXPECT_TRUE(one.c->established()) << "the first connection is untouched";

  // Closing an accepted connection is an orderly close at the client.
  ASSERT_TRUE(a.conn.close().ok());
  t.run(ms(5));
  EXPECT_TRUE(one.fin);
  EXPECT_EQ(t.free_reservable(), 5) << "listener + one connection held, nothing leaked";
}

TEST(SocketModuleTcpServer, AcceptHonoursTheTimeout) {
  sock_lan t;
  sm::socket server(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(server.bind("", 8080).ok());
  ASSERT_TRUE(server.listen().ok());
  const int sn = server.fileno();

  server.setblocking(false);
  ps_t start = t.now();
  auto a = server.accept();
  EXPECT_EQ(a.err.code, errc::would_block) << a.err.message;
  EXPECT_FALSE(a.conn);
  EXPECT_LT(t.now() - start, ms(1));

  ASSERT_TRUE(server.settimeout(0.5).ok());
  start = t.now();
  a = server.accept();
  EXPECT_EQ(a.err.code, errc::timeout_error);
  EXPECT_GE(t.now() - start, ms(500));
  EXPECT_LT(t.now() - start, ms(503));
  EXPECT_EQ(server.fileno(), sn);
  EXPECT_EQ(t.status(sn), wiznet5k::SNSR_SOCK_LISTEN);

  // Blocking: returns when a client comes (1 s later).
  server.setblocking(true);
  std::unique_ptr<client> late;
  t.sched.after(seconds(1), [&] { late = std::make_unique<client>(t.host, chip_ip, 8080); });
  start = t.now();
  a = server.accept();
  ASSERT_TRUE(a.ok()) << a.err.message;
  EXPECT_GE(t.now() - start, seconds(1));
  EXPECT_LT(t.now() - start, seconds(1) + ms(5));
  ASSERT_TRUE(late);
  EXPECT_EQ(a.from, addr(host_ip, late->c->local_port()));
  EXPECT_EQ(a.conn.gettimeout(), sm::getdefaulttimeout()) << "an accepted socket takes the default timeout";
}

TEST(SocketModuleTcpServer, AcceptWithNoHardwareSocketLeftFailsAndTheConnectionStaysQueued) {
  sock_lan t;
  sm::socket server(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(server.bind("", 8080).ok());
  ASSERT_TRUE(server.listen().ok());
  std::vector<sm::socket> fillers;
  for (int i = 0; i < 6; ++i) {
    fillers.emplace_back(sm::AF_INET, sm::SOCK_STREAM);
    ASSERT_TRUE(fillers.back());
  }
  client c(t.host, chip_ip, 8080);
  t.run(ms(5));
  ASSERT_TRUE(c.c->established());
  c.c->send(std::string_view("queued"));
  const int sn = server.fileno();
  auto a = server.accept();
  EXPECT_EQ(a.err.code, errc::runtime_error) << a.err.message;
  EXPECT_STREQ(a.err.message, "All sockets in use.");
  EXPECT_FALSE(a.conn);
  EXPECT_EQ(server.fileno(), sn);
  EXPECT_EQ(t.status(sn), wiznet5k::SNSR_SOCK_ESTABLISHED);
  t.run(ms(5));
  EXPECT_TRUE(c.c->established()) << "nothing was reset";

  fillers.pop_back();
  a = server.accept();
  ASSERT_TRUE(a.ok()) << a.err.message;
  EXPECT_EQ(a.from, addr(host_ip, c.c->local_port()));
  EXPECT_EQ(a.conn.fileno(), sn);
  std::uint8_t b[16];
  const auto r = a.conn.recv(b, sizeof b);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::string(reinterpret_cast<char*>(b), r.value), "queued");
  EXPECT_EQ(t.status(server.fileno()), wiznet5k::SNSR_SOCK_LISTEN);
}

TEST(SocketModuleTcpServer, AcceptsAClientThatAlreadySentAndFinished) {
  sock_lan t;
  sm::socket server(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(server.bind("", 8080).ok());
  ASSERT_TRUE(server.listen().ok());
  client c(t.host, chip_ip, 8080);
  c.c->send(std::string_view("GET / HTTP/1.0\r\n\r\n"));
  c.c->close();
  t.run(ms(20));
  ASSERT_EQ(t.status(server.fileno()), wiznet5k::SNSR_SOCK_CLOSE_WAIT);
  auto a = server.accept();
  ASSERT_TRUE(a.ok()) << a.err.message;
  EXPECT_EQ(a.from, addr(host_ip, c.c->local_port()));
  EXPECT_EQ(recv_all(a.conn, 100).size(), 18u);
  ASSERT_TRUE(a.conn.sendall("HTTP/1.0 200 OK\r\n\r\n", 19).ok()) << "a half-closed peer still receives";
  ASSERT_TRUE(a.conn.close().ok());
  t.run(ms(5));
  EXPECT_EQ(c.got, "HTTP/1.0 200 OK\r\n\r\n");
}

// ==== UDP ==================================================================================================

TEST(SocketModuleUdp, RecvfromGivesEachDatagramWithItsSenderAndTruncatesOneLongerThanTheBuffer) {
  sock_lan t;
  sm::socket u(sm::AF_INET, sm::SOCK_DGRAM);
  ASSERT_TRUE(u.bind("", 5000).ok());
  EXPECT_EQ(t.status(u.fileno()), wiznet5k::SNSR_SOCK_UDP);
  const octets p1 = test::pattern(10, 1), p2 = test::pattern(100, 2), p3 = test::pattern(20, 3);
  t.host.udp_send(chip_ip, 5000, 6000, p1);
  t.host.udp_send(chip_ip, 5000, 6001, p2);
  t.host.udp_send(chip_ip, 5000, 6002, p3);
  t.run(ms(10));
  EXPECT_EQ(u.available().value, 10u + 100u + 20u + 16u) << "Sn_RX_RSR less one 8-byte header";

  std::uint8_t buf[32];
  auto r = u.recvfrom(buf, sizeof buf);
  ASSERT_TRUE(r.ok()) << r.err.message;
  EXPECT_EQ(r->nbytes, 10u);
  EXPECT_EQ(r->from, addr(host_ip, 6000));
  EXPECT_EQ(bytes_of(buf, 10), p1);
  r = u.recvfrom(buf, sizeof buf);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->nbytes, 32u) << "the part beyond the buffer is dropped";
  EXPECT_EQ(r->from, addr(host_ip, 6001));
  EXPECT_EQ(bytes_of(buf, 32), octets(p2.begin(), p2.begin() + 32));
  const auto n = u.recv_into(buf, sizeof buf, 25);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n.value, 20u) << "the next datagram is intact";
  EXPECT_EQ(bytes_of(buf, 20), p3);
  EXPECT_EQ(u.available().value, 0u);

  u.setblocking(false);
  EXPECT_EQ(u.recvfrom(buf, sizeof buf).err.code, errc::would_block);
  ASSERT_TRUE(u.settimeout(0.2).ok());
  const ps_t start = t.now();
  EXPECT_EQ(u.recv(buf, sizeof buf).err.code, errc::timeout_error);
  EXPECT_GE(t.now() - start, ms(200));
  EXPECT_LT(t.now() - start, ms(203));

  // recvfrom_into with nbytes, and an empty datagram counts as one.
  t.host.udp_send(chip_ip, 5000, 6003, octets{});
  t.host.udp_send(chip_ip, 5000, 6004, p1);
  auto e = u.recvfrom_into(buf, sizeof buf);
  ASSERT_TRUE(e.ok()) << e.err.message;
  EXPECT_EQ(e->nbytes, 0u);
  EXPECT_EQ(e->from, addr(host_ip, 6003));
  e = u.recvfrom_into(buf, sizeof buf, 4);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->nbytes, 4u);
  EXPECT_EQ(e->from, addr(host_ip, 6004));
  EXPECT_EQ(bytes_of(buf, 4), octets(p1.begin(), p1.begin() + 4));
}

TEST(SocketModuleUdp, SendtoByAddressAndByNameArrivesFromTheBoundPort) {
  sock_lan t;
  sm::socket u(sm::AF_INET, sm::SOCK_DGRAM);
  ASSERT_TRUE(u.bind("", 5001).ok());
  const octets a = test::pattern(300, 4), b = test::pattern(1400, 5);
  const auto n = u.sendto(a.data(), a.size(), addr(host_ip, 7000));
  ASSERT_TRUE(n.ok()) << n.err.message;
  EXPECT_EQ(n.value, 300u);
  const auto m = u.sendto(b.data(), b.size(), "host.lan", 7000);
  ASSERT_TRUE(m.ok()) << m.err.message;
  EXPECT_EQ(m.value, 1400u);
  t.run(ms(5));
  ASSERT_EQ(t.udp_got.size(), 2u);
  EXPECT_EQ(t.udp_got[0].src, chip_ip);
  EXPECT_EQ(t.udp_got[0].src_port, 5001);
  EXPECT_EQ(t.udp_got[0].payload, a);
  EXPECT_EQ(t.udp_got[1].src_port, 5001);
  EXPECT_EQ(t.udp_got[1].payload, b);
  EXPECT_EQ(t.dns_queries(), 1u);
  EXPECT_EQ(u.sendto("x", 1, "missing.lan", 7000).err.code, errc::runtime_error);

  // Unbound: sendto opens an ephemeral port; the echo comes back to it.
  sm::socket e(sm::AF_INET, sm::SOCK_DGRAM);
  ASSERT_TRUE(e.sendto("echo me", 7, addr(host_ip, 7)).ok());
  std::uint8_t buf[64];
  ASSERT_TRUE(e.settimeout(1.0).ok());
  const auto r = e.recvfrom(buf, sizeof buf);
  ASSERT_TRUE(r.ok()) << r.err.message;
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), r->nbytes), "echo me");
  EXPECT_EQ(r->from, addr(host_ip, 7));
  EXPECT_EQ(t.uecho.stats().datagrams, 1u);
  EXPECT_GE(t.udp_out.back().sport, 49152);

  sm::socket tcp(sm::AF_INET, sm::SOCK_STREAM);
  EXPECT_EQ(tcp.sendto("x", 1, addr(host_ip, 7000)).err.code, errc::runtime_error);
}

TEST(SocketModuleUdp, ConnectSetsTheDestinationForSend) {
  sock_lan t;
  sm::socket u(sm::AF_INET, sm::SOCK_DGRAM);
  EXPECT_EQ(u.send("x", 1).err.code, errc::connection_error) << "no destination yet";
  EXPECT_EQ(u.getpeername().err.code, errc::connection_error);
  EXPECT_TRUE(t.udp_out.empty());
  ASSERT_TRUE(u.bind("", 5002).ok());
  ASSERT_TRUE(u.connect(addr(host_ip, 7000)).ok());
  EXPECT_EQ(u.getpeername().value, addr(host_ip, 7000));
  const auto n = u.send("first", 5);
  ASSERT_TRUE(n.ok()) << n.err.message;
  EXPECT_EQ(n.value, 5u);
  ASSERT_TRUE(u.sendall("second", 6).ok());
  // A sendto elsewhere does not change where send() goes.
  ASSERT_TRUE(u.sendto("aside", 5, addr(host_ip, 7)).ok());
  ASSERT_TRUE(u.send("third", 5).ok());
  t.run(ms(5));
  ASSERT_EQ(t.udp_got.size(), 3u);
  EXPECT_EQ(std::string(t.udp_got[0].payload.begin(), t.udp_got[0].payload.end()), "first");
  EXPECT_EQ(std::string(t.udp_got[1].payload.begin(), t.udp_got[1].payload.end()), "second");
  EXPECT_EQ(std::string(t.udp_got[2].payload.begin(), t.udp_got[2].payload.end()), "third");
  EXPECT_EQ(t.udp_got[0].src_port, 5002);
  EXPECT_EQ(t.uecho.stats().datagrams, 1u);

  sm::socket byname(sm::AF_INET, sm::SOCK_DGRAM);
  ASSERT_TRUE(byname.connect("host.lan", 7000).ok());
  ASSERT_TRUE(byname.send("named", 5).ok());
  t.run(ms(5));
  ASSERT_EQ(t.udp_got.size(), 4u);
  EXPECT_EQ(std::string(t.udp_got[3].payload.begin(), t.udp_got[3].payload.end()), "named");
}

TEST(SocketModuleUdp, ADatagramOver2048BytesIsAValueErrorAndSendsNothing) {
  sock_lan t;
  sm::socket u(sm::AF_INET, sm::SOCK_DGRAM);
  const octets big = test::pattern(2049, 1);
  EXPECT_EQ(u.sendto(big.data(), big.size(), addr(host_ip, 7000)).err.code, errc::value_error);
  ASSERT_TRUE(u.connect(addr(host_ip, 7000)).ok());
  EXPECT_EQ(u.send(big.data(), big.size()).err.code, errc::value_error);
  EXPECT_EQ(u.sendall(big.data(), big.size()).code, errc::value_error);
  t.run(ms(5));
  EXPECT_TRUE(t.udp_out.empty());
  EXPECT_TRUE(t.udp_got.empty());
  ASSERT_TRUE(u.send(big.data(), 1472).ok()) << "what fits one frame goes";
  t.run(ms(5));
  ASSERT_EQ(t.udp_got.size(), 1u);
  EXPECT_EQ(t.udp_got[0].payload, octets(big.begin(), big.begin() + 1472));
}

TEST(SocketModuleUdp, SendtoOnAnOpenSocketKeepsDatagramsAlreadyReceived) {
  sock_lan t;
  sm::socket u(sm::AF_INET, sm::SOCK_DGRAM);
  ASSERT_TRUE(u.bind("", 5003).ok());
  t.host.udp_send(chip_ip, 5003, 6100, test::pattern(40, 6));
  t.run(ms(5));
  ASSERT_TRUE(u.sendto("reply", 5, addr(host_ip, 7000)).ok());
  ASSERT_TRUE(u.sendto("again", 5, addr(host_ip, 7000)).ok());
  t.run(ms(5));
  EXPECT_EQ(t.udp_got.size(), 2u);
  std::uint8_t buf[64];
  u.setblocking(false);
  const auto r = u.recvfrom(buf, sizeof buf);
  ASSERT_TRUE(r.ok()) << r.err.message << " (the datagram was dropped)";
  EXPECT_EQ(r->nbytes, 40u);
  EXPECT_EQ(r->from, addr(host_ip, 6100));
  EXPECT_EQ(bytes_of(buf, 40), test::pattern(40, 6));
}

TEST(SocketModuleUdp, RecvOnAnUnboundDatagramSocketIsARuntimeError) {
  sock_lan t;
  sm::socket u(sm::AF_INET, sm::SOCK_DGRAM);
  std::uint8_t b[8];
  EXPECT_EQ(u.recv(b, sizeof b).err.code, errc::runtime_error);
  EXPECT_EQ(u.recvfrom(b, sizeof b).err.code, errc::runtime_error);
  ASSERT_TRUE(u.bind("", 0).ok()) << "port 0: an ephemeral port";
  EXPECT_EQ(t.status(u.fileno()), wiznet5k::SNSR_SOCK_UDP);
  ASSERT_TRUE(u.sendto("p", 1, addr(host_ip, 7000)).ok());
  t.run(ms(5));
  ASSERT_EQ(t.udp_got.size(), 1u);
  EXPECT_GE(t.udp_got[0].src_port, 49152);
  t.host.udp_send(chip_ip, t.udp_got[0].src_port, 6200, octets{1, 2, 3});
  t.run(ms(5));
  const auto r = u.recvfrom(b, sizeof b);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->nbytes, 3u);
}

TEST(SocketModuleTcpServer, AConnectionResetBeforeAcceptIsSkippedAndTheListenerReopens) {
  sock_lan t;
  sm::socket server(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(server.bind("", 8080).ok());
  ASSERT_TRUE(server.listen().ok());
  {
    client gone(t.host, chip_ip, 8080);
    t.run(ms(5));
    ASSERT_TRUE(gone.c->established());
    gone.c->abort();
    t.run(ms(5));
  }
  EXPECT_EQ(t.status(server.fileno()), wiznet5k::SNSR_SOCK_CLOSED) << "the chip closed on the RST";
  server.setblocking(false);
  auto a = server.accept();
  EXPECT_EQ(a.err.code, errc::would_block) << a.err.message;
  EXPECT_EQ(t.status(server.fileno()), wiznet5k::SNSR_SOCK_LISTEN) << "listening again";

  client real(t.host, chip_ip, 8080);
  t.run(ms(5));
  a = server.accept();
  ASSERT_TRUE(a.ok()) << a.err.message;
  EXPECT_EQ(a.from, addr(host_ip, real.c->local_port()));
}

TEST(SocketModuleUdp, SendtoAnAddressThatDoesNotAnswerArpReturnsZeroAfterTheArpTimeout) {
  sock_lan t;
  sm::socket u(sm::AF_INET, sm::SOCK_DGRAM);
  ASSERT_TRUE(u.bind("", 5004).ok());
  const ps_t start = t.now();
  const auto n = u.sendto("void", 4, addr(silent_ip, 9));
  ASSERT_TRUE(n.ok()) << n.err.message;
  EXPECT_EQ(n.value, 0u) << "nothing sent (as the seed)";
  EXPECT_GE(t.now() - start, ms(1800)) << "ARP: RTR x (RCR + 1)";
  EXPECT_LT(t.now() - start, ms(1810));
  EXPECT_TRUE(t.udp_out.empty());
  // The socket is fine afterwards.
  ASSERT_EQ(u.sendto("next", 4, addr(host_ip, 7000)).value, 4u);
  t.run(ms(5));
  ASSERT_EQ(t.udp_got.size(), 1u);
  EXPECT_EQ(t.udp_got[0].src_port, 5004);
}

TEST(SocketModuleFailures, WithTheLinkDownSendFailsAndCloseIsBoundedAndReleases) {
  sock_lan t;
  sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(s.connect(addr(host_ip, 7)).ok());
  const int sn = s.fileno();
  t.seg.set_link_up(t.chip_port, false);
  EXPECT_EQ(s.send("x", 1).err.code, errc::connection_error) << "the seed checks the link before a write";
  const ps_t start = t.now();
  (void)s.close();  // the FIN cannot get through: bounded wait, then CLOSE
  EXPECT_LE(t.now() - start, ms(1010));
  EXPECT_EQ(s.fileno(), -1);
  EXPECT_EQ(t.status(sn), wiznet5k::SNSR_SOCK_CLOSED);
  EXPECT_EQ(t.free_reservable(), 7);
  EXPECT_FALSE(t.echo.sessions().at(0).peer_finished);
}

TEST(SocketModuleTcpServer, ListenOnPortZeroIsAValueError) {
  sock_lan t;
  sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
  ASSERT_TRUE(s.bind("", 0).ok());
  EXPECT_EQ(s.listen().code, errc::value_error);
  EXPECT_EQ(t.status(s.fileno()), wiznet5k::SNSR_SOCK_CLOSED);
  // Bound to port 0, a client socket connects from an ephemeral port.
  ASSERT_TRUE(s.connect(addr(host_ip, 7)).ok());
  EXPECT_GE(t.echo.sessions().at(0).remote_port, 49152);
}
