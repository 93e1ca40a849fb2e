// libFuzzer target: arbitrary traffic at the peers and their services, then a liveness check.
//
// The input is a sequence of records [kind][length hi][length lo][payload]. Kinds:
//   0  a raw frame from a station on the segment (any length: the switch must refuse what Ethernet can't
//      carry), sent from that station's own MAC
//   1  an IPv4 packet (payload as the whole IP datagram) in a frame addressed to the server
//   2  a UDP datagram to the DHCP server (port 67)      3  a UDP datagram to the DNS server (port 53)
//   4  bytes on an open TCP connection to the HTTP server (a new one when the last was closed)
//   5  bytes on a TCP connection to the echo service     6  virtual time passes (up to ~2 s)
// Oracle: nothing crashes, leaks or trips a sanitizer; afterwards the servers still answer a well-formed
// DNS query and an HTTP GET (bad input loses nothing), within bounded virtual time.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "wizsim/harness/dhcp.hpp"
#include "wizsim/harness/dns.hpp"
#include "wizsim/harness/http.hpp"
#include "wizsim/harness/peer.hpp"
#include "wizsim/harness/services.hpp"

using namespace wizsim;

namespace {

constexpr ip4_addr server_ip = ip4(10, 0, 0, 1), client_ip = ip4(10, 0, 0, 2);
const mac_addr raw_mac{0x02, 0x00, 0x00, 0x00, 0x00, 0x09};

peer_config cfg(const char* name, ip4_addr ip, std::uint8_t last) {
  peer_config c;
  c.name = name;
  c.ip = ip;
  c.mac = {0x02, 0x00, 0x00, 0x00, 0x00, last};
  return c;
}

[[noreturn]] void oracle(const char* what) {
  std::fprintf(stderr, "peer_fuzz oracle: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  scheduler sched(1);
  segment seg(sched, "fuzz", 1);
  peer_host server(seg, cfg("server", server_ip, 1));
  peer_host client(seg, cfg("client", client_ip, 2));
  const auto raw = seg.attach("raw", nullptr);

  dhcp_server_config dc;
  dc.pool_first = ip4(10, 0, 0, 100);
  dc.pool_last = ip4(10, 0, 0, 150);
  dc.router = server_ip;
  dc.dns = {server_ip};
  dhcp_server dhcp(server, dc);
  dns_server dns(server);
  dns.add_a("www.example.test", ip4(10, 0, 0, 80));
  dns.add_cname("alias.example.test", "www.example.test");
  http_server http(server, 80);
  http.route("GET", "/", [](const http_request&) { return http_reply::text(200, "ok"); });
  tcp_echo_service echo(server, 7);

  tcp_ptr web, ech;
  std::size_t i = 0;
  while (i + 3 <= size) {
    const std::uint8_t kind = data[i] % 7;
    std::size_t len = static_cast<std::size_t>(data[i + 1] << 8 | data[i + 2]) % 1600;
    i += 3;
    if (len > size - i) len = size - i;
    const octets chunk(data + i, data + i + len);
    i += len;
    switch (kind) {
      case 0: {
        // The raw station's own source address: a frame claiming another station's MAC would only
        // teach the switch a wrong port, which a real switch also believes until that station speaks.
        octets f = chunk;
        if (f.size() >= 12) std::copy(raw_mac.begin(), raw_mac.end(), f.begin() + 6);
        seg.transmit(raw, f);
        break;
      }
      case 1: seg.transmit(raw, build_eth(server.mac(), raw_mac, ethertype_ipv4, chunk)); break;
      case 2: client.udp_send(server_ip, 67, 68, chunk); break;
      case 3: client.udp_send(server_ip, 53, 5353, chunk); break;
      case 4:
        if (!web || web->state() == tcp_state::closed) web = client.tcp_connect(server_ip, 80);
        web->send(chunk);
        break;
      case 5:
        if (!ech || ech->state() == tcp_state::closed) ech = client.tcp_connect(server_ip, 7);
        ech->send(chunk);
        break;
      default: sched.advance_by(ms(len)); break;
    }
    sched.advance_by(us(200));
  }
  sched.advance_by(seconds(5));

  // Liveness. Forged ARP from the raw station may legitimately have poisoned the caches: pin them.
  client.arp_add(server_ip, server.mac());
  server.arp_add(client_ip, client.mac());
  bool dns_ok = false;
  client.udp_bind(5454, [&](const udp_datagram& d) {
    auto m = parse_dns(d.payload);
    dns_ok = m && m->id == 0x5151 && m->rcode == 0 && !m->answers.empty();
  });
  client.udp_send(server_ip, 53, 5454, build_dns(dns_query(0x5151, "www.example.test", dns_type_a)));
  int http_status = 0;
  http_client hc(client);
  hc.get(server_ip, 80, "/", [&](const http_result& r) { http_status = r.status; });
  sched.advance_by(seconds(10));
  if (!dns_ok) oracle("the DNS server no longer answers a well-formed query");
  if (http_status != 200) oracle("the HTTP server no longer answers GET /");
  return 0;
}
