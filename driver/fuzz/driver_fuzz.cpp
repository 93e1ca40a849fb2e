// libFuzzer target: hostile network input at the driver's parsers, through the real chip model.
//
// The first input byte picks the target (modulo 3); the rest is a sequence of records
// [kind][length hi][length lo][payload]:
//   0 DHCP: each message the client sends is answered (1 ms later, by broadcast from port 67) with the next
//     record's payload. kind bit 0 patches it into a BOOTREPLY for this exchange (op, htype/hlen, xid,
//     chaddr, magic cookie) so the option parser is reached; the rest is the fuzzer's. The client runs
//     WIZNET5K::set_dhcp(), then, if it got a lease, non-blocking maintenance for two virtual minutes.
//   1 DNS: each query the resolver sends is answered from port 53 to its source port. kind bit 0 puts the
//     query's own header (id, QR set, RD/RA) and question in front of the payload, whose first byte is the
//     answer count, so the answer parser (compression, lengths, types) is reached.
//   2 WSGI: a peer connects to the server and sends the payloads as TCP data (kind 1: a new connection
//     first; kind 2: close after; kind 3: reset after; kind bits 4-7: that many 100 ms steps after).
// Oracle: nothing crashes, overflows or trips a sanitizer; every blocking call returns within its bound in
// virtual time, non-blocking calls never block, no hardware socket leaks (DHCP/DNS), and the WSGI server
// still answers a well-formed GET afterwards (bad input loses nothing).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <string>

#include "wiznet5k/dhcp.hpp"
#include "wiznet5k/wiznet5k.hpp"
#include "wiznet5k/wsgi.hpp"
#include "wizsim/harness/http.hpp"
#include "wizsim/harness/model_hal.hpp"
#include "wizsim/harness/peer.hpp"
#include "wizsim/harness/segment.hpp"
#include "wizsim/packet.hpp"
#include "wizsim/w5500.hpp"

using namespace wizsim;

namespace {

constexpr ip4_addr chip_ip = ip4(10, 0, 0, 50), peer_ip = ip4(10, 0, 0, 53), mask24 = ip4(255, 255, 255, 0);
const wiznet5k::mac6 chip_mac{0x02, 0x08, 0xDC, 0x00, 0x00, 0x50};

// WIZNET5K_FUZZ_VERBOSE=1 prints what each input led to (for reading a reproducer).
const bool verbose = std::getenv("WIZNET5K_FUZZ_VERBOSE") != nullptr;
void note(const char* what, const wiznet5k::error& e, ps_t took) {
  if (verbose) std::fprintf(stderr, "%s: %s %s after %.3f s\n", what, wiznet5k::errc_name(e.code), e.message,
                            static_cast<double>(took) / static_cast<double>(ps_per_s));
}

[[noreturn]] void oracle(const char* what) {
  std::fprintf(stderr, "driver_fuzz oracle: %s\n", what);
  std::abort();
}

struct record {
  std::uint8_t kind = 0;
  octets payload;
};

std::deque<record> split(const std::uint8_t* p, std::size_t n) {
  std::deque<record> out;
  std::size_t i = 0;
  while (i + 3 <= n) {
    record r;
    r.kind = p[i];
    const std::size_t len = std::min<std::size_t>((std::size_t{p[i + 1]} << 8) | p[i + 2], n - i - 3);
    r.payload.assign(p + i + 3, p + i + 3 + len);
    out.push_back(std::move(r));
    i += 3 + len;
  }
  return out;
}

wiznet5k::ip4 to_w(ip4_addr a) {
  return {static_cast<std::uint8_t>(a >> 24), static_cast<std::uint8_t>(a >> 16), static_cast<std::uint8_t>(a >> 8),
          static_cast<std::uint8_t>(a)};
}

peer_config peer_cfg() {
  peer_config c;
  c.name = "peer";
  c.ip = peer_ip;
  c.mac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x35};
  return c;
}

// The driver on the chip on a segment with one peer host.
struct lan {
  scheduler sched{1};
  segment seg{sched, "lan", 1};
  w5500 chip{sched};
  model_hal board{chip, 1};
  peer_host peer{seg, peer_cfg()};
  wiznet5k::WIZNET5K eth{board};
  segment::port_id chip_port = seg.attach(chip, "chip");

  explicit lan(bool static_ip) {
    if (eth.begin(false, chip_mac)) oracle("begin failed");
    if (static_ip && eth.set_ifconfig({to_w(chip_ip), to_w(mask24), to_w(0), to_w(peer_ip)}))
      oracle("set_ifconfig failed");
  }

  // Calls `f(udp)` for every UDP datagram the chip sends to `dport`.
  template <typename F>
  void on_chip_udp(std::uint16_t dport, F f) {
    seg.observe([this, dport, f](segment::port_id from, const octets& frame, ps_t) {
      if (from != chip_port) return;
      const auto e = parse_eth(frame.data(), frame.size());
      if (!e || e->ethertype != ethertype_ipv4) return;
      const auto ip = parse_ipv4(e->payload, e->payload_len);
      if (!ip || ip->h.proto != ip_proto_udp) return;
      const auto u = parse_udp(ip->payload, ip->payload_len, ip->h.src, ip->h.dst);
      if (u && u->dst_port == dport) f(*u);
    });
  }

  void expect_no_socket_open(const char* what) {
    for (int sn = 0; sn < eth.max_sockets(); ++sn) {
      const auto s = eth.socket_status(sn);
      if (!s.ok() || s.value != wiznet5k::SNSR_SOCK_CLOSED) oracle(what);
    }
  }
};

void fuzz_dhcp(std::deque<record> records) {
  lan t(false);
  t.on_chip_udp(67, [&t, &records](const udp_view&) {
    if (records.empty()) return;
    record r = std::move(records.front());
    records.pop_front();
    if ((r.kind & 1) != 0) {
      if (r.payload.size() < 240) r.payload.resize(240, 0);
      r.payload[0] = 2;
      r.payload[1] = 1;
      r.payload[2] = 6;
      const std::uint32_t xid = t.eth.dhcp_client().xid();
      for (int i = 0; i < 4; ++i) r.payload[4 + i] = static_cast<std::uint8_t>(xid >> (24 - 8 * i));
      std::copy(chip_mac.begin(), chip_mac.end(), r.payload.begin() + 28);
      const std::uint8_t cookie[4] = {99, 130, 83, 99};
      std::copy(cookie, cookie + 4, r.payload.begin() + 236);
    }
    t.sched.after(ms(1), [&t, payload = std::move(r.payload)] { t.peer.udp_send(0xFFFFFFFFu, 68, 67, payload); });
  });
  const ps_t start = t.sched.now();
  const wiznet5k::error e = t.eth.set_dhcp();
  note("set_dhcp", e, t.sched.now() - start);
  if (t.sched.now() - start > seconds(75)) oracle("set_dhcp took longer than its bound");
  if (e.ok()) {
    const auto ip = t.eth.ip_address();
    if (!ip.ok() || ip.value == wiznet5k::ip4{}) oracle("a lease without an address");
    std::uint8_t last_state = t.eth.dhcp_client().state();
    for (int i = 0; i < 120; ++i) {
      const ps_t before = t.sched.now();
      const wiznet5k::error m = t.eth.maintain_dhcp_lease();
      if (verbose && m) note("maintain_dhcp_lease", m, 0);
      if (verbose && t.eth.dhcp_client().state() != last_state)
        std::fprintf(stderr, "  %.1f s: DHCP state %u\n", static_cast<double>(t.sched.now()) / 1e12,
                     t.eth.dhcp_client().state());
      last_state = t.eth.dhcp_client().state();
      // Non-blocking, except for the chip's ARP timeout on a unicast renewal (RTR x (RCR + 1) = 1.8 s).
      if (t.sched.now() - before > ms(2000)) oracle("maintain_dhcp_lease blocked");
      t.board.sleep_ms(1000);
    }
  }
  // DHCP holds a socket only while an exchange is under way (renewing, rebinding); otherwise none is open.
  const auto st = t.eth.dhcp_client().state();
  if (st == wiznet5k::DHCP::STATE_BOUND || st == wiznet5k::DHCP::STATE_INIT) t.expect_no_socket_open("DHCP leaked a socket");
}

void fuzz_dns(std::deque<record> records) {
  lan t(true);
  t.on_chip_udp(53, [&t, &records](const udp_view& q) {
    if (records.empty()) return;
    record r = std::move(records.front());
    records.pop_front();
    octets reply;
    if ((r.kind & 1) != 0 && q.payload_len >= 12) {
      // The query's header and question (up to its QTYPE/QCLASS), then the fuzzer's answers.
      std::size_t qend = 12;
      while (qend < q.payload_len && q.payload[qend] != 0) qend += 1 + q.payload[qend];
      qend = std::min<std::size_t>(qend + 5, q.payload_len);
      reply.assign(q.payload, q.payload + qend);
      reply[2] = 0x81;
      reply[3] = 0x80;
      reply[6] = 0;
      reply[7] = r.payload.empty() ? 0 : r.payload[0];
      if (!r.payload.empty()) reply.insert(reply.end(), r.payload.begin() + 1, r.payload.end());
    } else {
      reply = std::move(r.payload);
    }
    const std::uint16_t sport = q.src_port;
    t.sched.after(ms(1), [&t, sport, reply = std::move(reply)] { t.peer.udp_send(chip_ip, sport, 53, reply); });
  });
  const ps_t start = t.sched.now();
  const auto r = t.eth.get_host_by_name("www.example.com");
  note("get_host_by_name", r.err, t.sched.now() - start);
  if (verbose && r.ok()) std::fprintf(stderr, "  -> %u.%u.%u.%u\n", r->at(0), r->at(1), r->at(2), r->at(3));
  if (t.sched.now() - start > seconds(30)) oracle("get_host_by_name took longer than its bound");
  t.expect_no_socket_open("DNS leaked a socket");
}

void app(void*, const wiznet5k::wsgiserver::wsgi_environ& env, wiznet5k::wsgiserver::wsgi_response& resp) {
  // Touches every part of the environ, as an application would.
  std::size_t sum = env.request_method().size() + env.path_info().size() + env.query_string().size() +
                    env.content_type().size() + env.input().size();
  for (const auto& h : env) sum += h.name.size() + h.value.size();
  (void)env.get("HTTP_HOST");
  char body[32];
  const int n = std::snprintf(body, sizeof body, "%zu\n", sum);
  resp.start_response("200 OK", {{"Content-Type", "text/plain"}});
  resp.write(body, static_cast<std::size_t>(n));
}

void fuzz_wsgi(std::deque<record> records) {
  lan t(true);
  wiznet5k::wsgiserver::set_interface(t.eth);
  wiznet5k::wsgiserver::WSGIServer server(80, app, nullptr);
  server.set_timeout_ms(2000);
  if (server.start()) oracle("WSGI server did not start");
  const auto poll = [&](int steps) {
    for (int i = 0; i < steps; ++i) {
      const ps_t before = t.sched.now();
      if (server.update_poll()) oracle("update_poll failed");
      if (t.sched.now() - before > seconds(3)) oracle("update_poll blocked");
      t.board.sleep_ms(20);
    }
  };
  tcp_ptr conn;
  for (const record& r : records) {
    if (!conn || (r.kind & 1) != 0) conn = t.peer.tcp_connect(chip_ip, 80);
    conn->send(r.payload);
    if ((r.kind & 6) == 2) conn->close();
    if ((r.kind & 6) == 4) conn->abort();
    poll(1 + 5 * (r.kind >> 4));
  }
  poll(150);  // past the request timeout: whatever was left half-sent is dropped
  http_client client(t.peer);
  bool done = false;
  int status = 0;
  client.get(chip_ip, 80, "/ok?x=1", [&](const http_result& res) {
    done = true;
    status = res.ok() ? res.status : -1;
  });
  for (int i = 0; i < 250 && !done; ++i) poll(1);
  if (verbose) {
    const auto& st = server.stats();
    std::fprintf(stderr, "wsgi: requests %u rejected %u app_errors %u timeouts %u aborted %u; final GET %d\n",
                 st.requests, st.rejected, st.app_errors, st.timeouts, st.aborted, status);
  }
  if (!done || status != 200) oracle("the server no longer answers a well-formed request");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  std::deque<record> records = split(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0: fuzz_dhcp(std::move(records)); break;
    case 1: fuzz_dns(std::move(records)); break;
    default: fuzz_wsgi(std::move(records)); break;
  }
  return 0;
}
