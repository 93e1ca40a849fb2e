// wizsim-bridge-check: the real-network bridge end to end (bridge.hpp).
//
//   chip    --eth tap:IF ...  the chip (driven through raw_client) gets a lease from a real DHCP server,
//                             resolves a name with the real DNS server, fetches a page from a real HTTP
//                             server, then serves HTTP on port 80 for real clients (curl, ping).
//   peers   --eth tap:IF ...  our DHCP, DNS and HTTP servers on a peer_host, for real clients (udhcpc,
//                             dig, curl) to use: a cross-check of our implementations against real ones.
//   tapcheck --prefix P      the tap link itself: frames both ways, short and oversize frames, adopted fds
//                             and every setup error, on taps named P0..P3 and Ptun that the caller made.
//   pacer                     the pacer without any tap: never ahead of the wall clock, lag accounting.
//
// Exit status: 0 passed, 1 a check failed, 2 bad usage or a setup error (the message says which).
// `chip` and `peers` write "ready" files once they serve and stop when the "stop" file appears, so a
// script can run real clients against them in between (harness/tests/bridge/*.sh).
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <fmt/format.h>

#include "wizsim/harness/bridge.hpp"
#include "wizsim/harness/dhcp.hpp"
#include "wizsim/harness/dns.hpp"
#include "wizsim/harness/http.hpp"
#include "wizsim/harness/peer.hpp"
#include "wizsim/harness/raw_client.hpp"
#include "wizsim/harness/segment.hpp"
#include "wizsim/w5500.hpp"

namespace wizsim {
namespace {

// ---- command line and small helpers -----------------------------------------------------------------

struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class options {
 public:
  options(int argc, char** argv, int first) {
    for (int i = first; i < argc; ++i) {
      std::string k = argv[i];
      if (k.rfind("--", 0) != 0) throw usage_error("unexpected argument '" + k + "'");
      k = k.substr(2);
      if (k == "verbose") {
        m_values[k] = "1";
        continue;
      }
      if (i + 1 >= argc) throw usage_error("--" + k + " needs a value");
      m_values[k] = argv[++i];
    }
  }
  std::string get(const std::string& k, const std::string& fallback = {}) {
    m_used[k] = true;
    auto it = m_values.find(k);
    return it == m_values.end() ? fallback : it->second;
  }
  std::string need(const std::string& k) {
    std::string v = get(k);
    if (v.empty()) throw usage_error("--" + k + " is required");
    return v;
  }
  std::uint64_t number(const std::string& k, std::uint64_t fallback) {
    const std::string v = get(k);
    if (v.empty()) return fallback;
    try {
      std::size_t end = 0;
      const unsigned long long n = std::stoull(v, &end);
      if (end == v.size()) return n;
    } catch (const std::exception&) {
    }
    throw usage_error("--" + k + " wants a number, not '" + v + "'");
  }
  bool flag(const std::string& k) { return !get(k).empty(); }
  // Every option given must have been asked for: a typo is an error, not a silently ignored setting.
  void check_all_used() const {
    for (const auto& [k, v] : m_values)
      if (!m_used.count(k)) throw usage_error("unknown option --" + k);
  }

 private:
  std::map<std::string, std::string> m_values;
  std::map<std::string, bool> m_used;
};

ip4_addr parse_ip(const std::string& s) {
  in_addr a{};
  if (::inet_pton(AF_INET, s.c_str(), &a) != 1) throw usage_error("'" + s + "' is not an IPv4 address");
  return ntohl(a.s_addr);
}

bool file_exists(const std::string& path) {
  return !path.empty() && ::access(path.c_str(), F_OK) == 0;
}

// Written whole and renamed into place, so a polling script never reads half a file.
void write_file_atomically(const std::string& path, const std::string& text) {
  if (path.empty()) return;
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << text;
    if (!f) throw std::runtime_error("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw std::runtime_error("cannot rename " + tmp + " to " + path + ": " + std::strerror(errno));
}

std::string printable(const std::string& s, std::size_t max = 80) {
  std::string out;
  for (char c : s.substr(0, max)) {
    if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else if (c >= ' ' && c < 127)
      out += c;
    else
      out += '.';
  }
  return s.size() > max ? out + "..." : out;
}

// Counts failed checks; every check prints one line, so a log shows what passed too.
struct checker {
  int failures = 0;
  bool check(bool ok, const std::string& what) {
    std::printf("%s %s\n", ok ? "PASS" : "FAIL", what.c_str());
    std::fflush(stdout);
    if (!ok) ++failures;
    return ok;
  }
};

void note(const std::string& s) {
  std::printf("     %s\n", s.c_str());
  std::fflush(stdout);
}

void log_to_stderr(segment& seg, bool verbose) {
  seg.set_log_sink(
      [](std::string_view line) { std::fprintf(stderr, "%.*s\n", int(line.size()), line.data()); },
      verbose ? log_level::debug : log_level::info);
}

std::string tap_summary(const tap_link& l) {
  const tap_stats& s = l.stats();
  return fmt::format(
      "tap {}: {} frames to the kernel, {} from it ({} short), {} oversize dropped, {} write errors",
      l.ifname(), s.frames_to_tap, s.frames_from_tap, s.short_frames, s.oversize_dropped, s.write_errors);
}

// ---- chip: the W5500 against real servers ---------------------------------------------------------------

constexpr int sock_dhcp = 0, sock_dns = 1, sock_http = 2, sock_serve = 3;

// Broadcasts `msg` and waits for the reply of type `want` with its xid (three tries, as clients do).
std::optional<dhcp_message> dhcp_exchange(raw_client& rc, const dhcp_message& msg, std::uint8_t want,
                                          ps_t wait) {
  const octets wire = build_dhcp(msg);
  for (int attempt = 1; attempt <= 3; ++attempt) {
    if (!rc.sendto(sock_dhcp, ip4(255, 255, 255, 255), dhcp_server_port, wire)) {
      note(fmt::format("DHCP {} not sent (attempt {})", dhcp_type_name(*msg.message_type()), attempt));
      continue;
    }
    const ps_t end = rc.chip().sched().now() + wait;
    while (rc.chip().sched().now() < end) {
      auto d = rc.recvfrom(sock_dhcp, end - rc.chip().sched().now());
      if (!d) break;
      std::string why;
      auto m = parse_dhcp(d->data, &why);
      if (!m) {
        note("ignored an unparseable DHCP datagram: " + why);
        continue;
      }
      if (m->op != BOOTREPLY || m->xid != msg.xid) continue;
      if (m->message_type() == DHCPNAK) {
        note("DHCP NAK: " + describe(*m));
        return std::nullopt;
      }
      if (m->message_type() == want) return m;
    }
  }
  return std::nullopt;
}

int run_chip(options& o) {
  const std::string eth = o.need("eth");
  const std::string pcap = o.get("pcap");
  const std::string ready = o.get("ready");
  const std::string stop = o.get("stop");
  const std::string dns_name = o.get("dns-name", "web.test");
  const std::string http_path = o.get("http-path", "/");
  const std::string expect = o.get("expect");
  const auto http_port = static_cast<std::uint16_t>(o.number("http-port", 8080));
  const ps_t serve_for = seconds(o.number("serve-for", 30));
  const std::uint64_t min_served = o.number("min-served", 0);
  const std::uint64_t seed = o.number("seed", 1);
  const bool verbose = o.flag("verbose");
  o.check_all_used();

  scheduler sched(seed);
  segment seg(sched, "bridge", seed);
  log_to_stderr(seg, verbose);
  if (!pcap.empty()) seg.capture(pcap);
  w5500 chip(sched);
  seg.attach(chip, "w5500");
  auto link = open_tap(seg, eth);
  raw_client rc(chip);
  realtime_pacer pacer(seg);
  pacer.watch(*link);
  checker c;

  // ---- DHCP: DISCOVER / OFFER / REQUEST / ACK with the codec, through socket 0 ----
  dhcp_client_identity id;
  id.mac = {0x02, 0x00, 0x00, 0x77, 0x00, 0x10};
  id.hostname = "wizsim";
  id.broadcast = true;  // as WIZnet's DHCP client: no unicast can reach a chip without an address
  rc.configure(id.mac, 0, 0, 0);
  if (!c.check(rc.open_udp(sock_dhcp, dhcp_client_port), "chip opens UDP port 68")) return 1;
  const auto xid = static_cast<std::uint32_t>(sched.random().next());
  const auto offer = dhcp_exchange(rc, dhcp_discover(id, xid), DHCPOFFER, seconds(2));
  if (!c.check(offer.has_value(), "DHCP OFFER received")) return 1;
  note(describe(*offer));
  const auto server = offer->option_ip(DHCP_OPT_SERVER_ID);
  if (!c.check(server.has_value(), "the OFFER names its server (option 54)")) return 1;
  const auto ack =
      dhcp_exchange(rc, dhcp_request_selecting(id, xid, offer->yiaddr, *server), DHCPACK, seconds(2));
  if (!c.check(ack.has_value() && ack->yiaddr == offer->yiaddr, "DHCP ACK for the offered address")) return 1;
  note(describe(*ack));
  const ip4_addr my_ip = ack->yiaddr;
  const ip4_addr mask = ack->option_ip(DHCP_OPT_SUBNET_MASK).value_or(ip4(255, 255, 255, 0));
  const ip4_addr router = ack->option_ip(DHCP_OPT_ROUTER).value_or(0);
  const auto dns_servers = ack->option_ips(DHCP_OPT_DNS);
  rc.close(sock_dhcp);
  rc.set_ip(my_ip, mask, router);
  std::printf("LEASE ip=%s mask=%s router=%s server=%s\n", to_string(my_ip).c_str(), to_string(mask).c_str(),
              to_string(router).c_str(), to_string(*server).c_str());
  if (!c.check(!dns_servers.empty(), "the ACK names a DNS server (option 6)")) return 1;

  // ---- DNS: one A query to the server the lease named ----
  ip4_addr web = 0;
  {
    if (!c.check(rc.open_udp(sock_dns, 50053), "chip opens UDP port 50053 for DNS")) return 1;
    const dns_message q = dns_query(static_cast<std::uint16_t>(sched.random().next()), dns_name);
    std::optional<dns_message> answer;
    for (int attempt = 0; attempt < 3 && !answer; ++attempt) {
      if (!rc.sendto(sock_dns, dns_servers.front(), dns_port, build_dns(q))) continue;
      while (auto d = rc.recvfrom(sock_dns, seconds(1))) {
        std::string why;
        auto m = parse_dns(d->data, &why);
        if (!m) {
          note("ignored an unparseable DNS datagram: " + why);
          continue;
        }
        if (dns_response_problem(q, *m).empty()) {
          answer = m;
          break;
        }
      }
    }
    rc.close(sock_dns);
    if (!c.check(answer.has_value(), "DNS answer for " + dns_name)) return 1;
    note(to_string(*answer));
    const auto addrs = answer->addresses();
    if (!c.check(answer->rcode == dns_rcode_noerror && !addrs.empty(), dns_name + " has an A record"))
      return 1;
    web = addrs.front();
    std::printf("DNS %s A %s\n", dns_name.c_str(), to_string(web).c_str());
  }

  // ---- HTTP GET through a chip TCP socket ----
  {
    if (!c.check(rc.open_tcp(sock_http, 50080), "chip opens a TCP socket")) return 1;
    if (!c.check(rc.connect(sock_http, web, http_port, seconds(5)),
                 fmt::format("TCP connection to {}:{}", to_string(web), http_port)))
      return 1;
    const std::string req = fmt::format(
        "GET {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: wizsim-w5500\r\n"
        "Connection: close\r\n\r\n",
        http_path, dns_name, http_port);
    c.check(rc.send(sock_http, octets(req.begin(), req.end())), "HTTP request sent");
    const octets data = rc.recv_all(sock_http, seconds(5));
    rc.disconnect(sock_http);
    http_response_parser p;
    p.set_request_method("GET");
    p.feed(data);
    p.finish();
    if (c.check(p.complete(), fmt::format("HTTP response complete ({} octets{})", data.size(),
                                          p.failed() ? ": " + p.error() : std::string()))) {
      const http_response& r = p.response();
      std::printf("HTTP %d %s body=%zu \"%s\"\n", r.status, r.reason.c_str(), r.body.size(),
                  printable(r.body).c_str());
      c.check(r.status == 200, "HTTP status 200");
      if (!expect.empty())
        c.check(r.body.find(expect) != std::string::npos, "HTTP body holds \"" + expect + "\"");
    }
  }

  // ---- serve HTTP on port 80 for real clients until told to stop ----
  std::uint64_t served = 0;
  bool stop_seen = false;
  bool ready_written = false;
  const ps_t serve_end = sched.now() + serve_for;
  while (!stop_seen && sched.now() < serve_end) {
    if (!rc.open_tcp(sock_serve, 80) || !rc.listen(sock_serve)) {
      c.check(false, "socket 3 listens on port 80");
      break;
    }
    if (!ready_written) {
      write_file_atomically(ready, fmt::format("ip={}\n", to_string(my_ip)));
      ready_written = true;
      std::printf("SERVING http://%s/\n", to_string(my_ip).c_str());
      std::fflush(stdout);
    }
    int polls = 0;
    const bool connected = pacer.run_until(
        [&] {
          if (++polls % 20 == 0 && file_exists(stop)) return stop_seen = true;
          const std::uint8_t sr = rc.status(sock_serve);
          return sr == SOCK_ESTABLISHED || sr == SOCK_CLOSE_WAIT;
        },
        serve_end - sched.now());
    if (!connected || stop_seen) break;
    http_request_parser rp;
    const ps_t read_end = sched.now() + seconds(5);
    while (!rp.complete() && !rp.failed() && sched.now() < read_end) {
      const octets part = rc.recv(sock_serve, ms(100));
      if (!part.empty())
        rp.feed(part);
      else if (rc.status(sock_serve) != SOCK_ESTABLISHED)
        break;
    }
    http_response r;
    r.version_minor = 0;
    r.headers.add("Server", "wizsim-w5500");
    r.headers.add("Connection", "close");
    if (rp.complete()) {
      r.headers.add("Content-Type", "text/plain");
      r.body = fmt::format("hello from the simulated W5500 at {}, request {} for {}\n", to_string(my_ip),
                           served + 1, rp.request().target);
    } else {
      r.status = 400;
      r.reason = http_reason(400);
    }
    const std::string wire = http_serialize(r);
    if (!rc.send(sock_serve, octets(wire.begin(), wire.end()))) note("the response was not sent completely");
    rc.disconnect(sock_serve);
    ++served;
    std::printf("SERVED %llu %s %d\n", static_cast<unsigned long long>(served),
                rp.complete() ? printable(rp.request().target).c_str() : "(bad request)", r.status);
    std::fflush(stdout);
  }
  rc.close(sock_serve);
  if (!ready_written) c.check(false, "reached the serving phase");
  if (!stop.empty()) c.check(stop_seen, "stopped by the stop file (not by the --serve-for limit)");
  c.check(served >= min_served, fmt::format("served {} HTTP requests (at least {})", served, min_served));
  note(pacer.report());
  note(tap_summary(*link));
  return c.failures ? 1 : 0;
}

// ---- peers: our services for real clients -----------------------------------------------------------

int run_peers(options& o) {
  const std::string eth = o.need("eth");
  const std::string pcap = o.get("pcap");
  const std::string ready = o.get("ready");
  const std::string stop = o.get("stop");
  const std::string expected_big = o.get("write-big");
  const ip4_addr ip = parse_ip(o.get("ip", "192.168.77.2"));
  const ps_t serve_for = seconds(o.number("serve-for", 30));
  const std::uint64_t big = o.number("big-size", 100000);
  const std::uint64_t seed = o.number("seed", 1);
  const bool verbose = o.flag("verbose");
  o.check_all_used();

  scheduler sched(seed);
  segment seg(sched, "bridge", seed);
  log_to_stderr(seg, verbose);
  if (!pcap.empty()) seg.capture(pcap);

  peer_config pc;
  pc.name = "services";
  pc.mac = {0x02, 0x00, 0x00, 0x77, 0x00, 0x02};
  pc.ip = ip;
  peer_host host(seg, pc);
  const ip4_addr net = ip & 0xFFFFFF00u;

  dhcp_server_config dc;
  dc.pool_first = net | 100;
  dc.pool_last = net | 149;
  dc.dns = {ip};
  dc.domain_name = "peer.test";
  dc.lease_time = 600;
  dhcp_server dhcp(host, dc);

  dns_server dns(host);
  dns.add_a("www.peer.test", ip);
  dns.add_cname("alias.peer.test", "www.peer.test");

  http_server http(host, 80);
  http.route("GET", "/hello.txt",
             [](const http_request&) { return http_reply::text(200, "hello from the wizsim peer\n"); });
  http.route("GET", "/big", [big](const http_request&) { return http_reply::generated(big); });
  if (!expected_big.empty()) {
    std::string body(big, '\0');
    for (std::uint64_t i = 0; i < big; ++i) body[i] = static_cast<char>(http_pattern_byte(i));
    write_file_atomically(expected_big, body);
  }

  auto link = open_tap(seg, eth);
  realtime_pacer pacer(seg);
  pacer.watch(*link);
  write_file_atomically(ready, fmt::format("ip={}\n", to_string(ip)));
  std::printf("SERVING dhcp+dns+http on %s\n", to_string(ip).c_str());
  std::fflush(stdout);

  int polls = 0;
  const bool stopped = pacer.run_until([&] { return ++polls % 20 == 0 && file_exists(stop); }, serve_for);
  checker c;
  if (!stop.empty()) c.check(stopped, "stopped by the stop file (not by the --serve-for limit)");
  const dhcp_server_stats& ds = dhcp.stats();
  std::printf(
      "DHCP in: discover %llu request %llu; out: offer %llu ack %llu nak %llu; malformed %llu\n",
      static_cast<unsigned long long>(ds.in[DHCPDISCOVER]),
      static_cast<unsigned long long>(ds.in[DHCPREQUEST]), static_cast<unsigned long long>(ds.out[DHCPOFFER]),
      static_cast<unsigned long long>(ds.out[DHCPACK]), static_cast<unsigned long long>(ds.out[DHCPNAK]),
      static_cast<unsigned long long>(ds.malformed));
  for (const dhcp_lease& l : dhcp.leases())
    std::printf("LEASE %s %s %s\n", to_string(l.ip).c_str(), to_string(l.mac).c_str(), to_string(l.state));
  const dns_server_stats& ns = dns.stats();
  std::printf("DNS queries %llu answered %llu malformed %llu\n", static_cast<unsigned long long>(ns.queries),
              static_cast<unsigned long long>(ns.answers_total()),
              static_cast<unsigned long long>(ns.malformed_in));
  const http_server_stats& hs = http.stats();
  std::printf("HTTP connections %llu requests %llu responses %llu parse errors %llu\n",
              static_cast<unsigned long long>(hs.connections), static_cast<unsigned long long>(hs.requests),
              static_cast<unsigned long long>(hs.responses),
              static_cast<unsigned long long>(hs.parse_errors));
  c.check(ds.malformed == 0 && ns.malformed_in == 0 && hs.parse_errors == 0,
          "every DHCP, DNS and HTTP message from the real clients parsed");
  note(pacer.report());
  note(tap_summary(*link));
  return c.failures ? 1 : 0;
}

// ---- tapcheck: the tap link on taps the caller created -------------------------------------------------

// A kernel UDP socket in this namespace (the "real" side of the checks).
struct kernel_udp {
  int fd = -1;
  kernel_udp(ip4_addr bind_ip, std::uint16_t port) {
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    const int dont = IP_PMTUDISC_DONT;
    ::setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &dont, sizeof dont);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(bind_ip);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0)
      throw std::runtime_error(fmt::format("bind {}:{}: {}", to_string(bind_ip), port, std::strerror(errno)));
  }
  ~kernel_udp() { ::close(fd); }
  bool send(ip4_addr ip, std::uint16_t port, const std::string& data) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(ip);
    return ::sendto(fd, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a) ==
           static_cast<ssize_t>(data.size());
  }
  std::optional<std::string> receive() {
    char buf[2048];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }
};

// Runs `fn` and returns the message of the std::runtime_error it throws ("" when it does not throw).
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return {};
}

bool has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

int run_tapcheck(options& o) {
  const std::string p = o.get("prefix", "wsim");
  const std::string pcap = o.get("pcap");
  const bool verbose = o.flag("verbose");
  o.check_all_used();
  // The script made: P0 up 192.168.77.1/24; P1 up, MTU 9000, 192.168.78.1/24; P2 down; P3 up, no
  // address; Ptun a tun.
  checker c;
  scheduler sched(7);
  segment seg(sched, "tapcheck", 7);
  log_to_stderr(seg, verbose);
  if (!pcap.empty()) seg.capture(pcap);

  // ---- setup errors, each with the reason and the fix ----
  std::string e = error_of([&] { tap_link l(seg, p + "x"); });
  c.check(has(e, "no interface") && has(e, "ip tuntap add"), "a missing tap is refused, not created: " + e);
  e = error_of([&] { tap_link l(seg, p + "2"); });
  c.check(has(e, "down") && has(e, "Input/output error"),
          "a tap that is down is refused (writes would fail with EIO): " + e);
  c.check(has(e, "ip link set " + p + "2 up"), "the down error names the fix");
  e = error_of([&] { tap_link l(seg, p + "tun"); });
  c.check(has(e, "not a single-queue tap"), "a tun is refused: " + e);
  bool bad_name = false;
  try {
    tap_link l(seg, "a/b");
  } catch (const std::invalid_argument&) {
    bad_name = true;
  }
  c.check(bad_name, "an impossible interface name is a configuration error (std::invalid_argument)");
  {
    tap_link first(seg, p + "3");
    e = error_of([&] { tap_link second(seg, p + "3", tap_options{"second", {}}); });
    c.check(has(e, "another process already holds") && has(e, "Device or resource busy"),
            "a second attach to the same tap is refused (EBUSY): " + e);
  }
  {
    const int fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    e = error_of([&] { tap_link l(seg, tap_fd{fd}); });
    c.check(has(e, "is not an attached tap"), "an fd that is not a tap is refused: " + e);
    c.check(::fcntl(fd, F_GETFD) >= 0, "a refused fd stays open (the caller's)");
    ::close(fd);
  }
  {
    const int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    e = error_of([&] { tap_link l(seg, tap_fd{fd}); });
    c.check(has(e, "not attached to a tap"), "an unattached /dev/net/tun fd is refused: " + e);
    ::close(fd);
  }
  {
    const int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    ifreq ifr{};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    std::snprintf(ifr.ifr_name, IFNAMSIZ, "%s3", p.c_str());
    c.check(::ioctl(fd, TUNSETIFF, &ifr) == 0, "attached " + p + "3 with a virtio-net header by hand");
    e = error_of([&] { tap_link l(seg, tap_fd{fd}); });
    c.check(has(e, "virtio-net"), "an fd with virtio-net headers is refused: " + e);
    ::close(fd);
  }
  bool bad_spec = false;
  try {
    open_tap(seg, "veth:x");
  } catch (const std::invalid_argument&) {
    bad_spec = true;
  }
  c.check(bad_spec, "an unknown link spec is a configuration error");

  // ---- an adopted fd carries frames (the privileged-parent pattern) ----
  {
    const int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    ifreq ifr{};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    std::snprintf(ifr.ifr_name, IFNAMSIZ, "%s3", p.c_str());
    c.check(::ioctl(fd, TUNSETIFF, &ifr) == 0, "attached " + p + "3 by hand");
    auto l = open_tap(seg, "tapfd:" + std::to_string(fd));
    c.check(l->ifname() == p + "3", "the adopted fd knows its tap's name (" + l->ifname() + ")");
    c.check(::fcntl(fd, F_GETFL) >= 0 && (::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0,
            "the adopted fd is made non-blocking");
    l.reset();
    c.check(::fcntl(fd, F_GETFD) < 0 && errno == EBADF, "the link closes the fd it adopted");
  }

  // ---- frames both ways: a peer behind the tap and the kernel's UDP and ICMP ----
  {
    peer_config pc;
    pc.name = "echo";
    pc.mac = {0x02, 0x00, 0x00, 0x77, 0x00, 0x02};
    pc.ip = ip4(192, 168, 77, 2);
    peer_host peer(seg, pc);
    std::uint64_t echoed = 0;
    peer.udp_bind(7, [&](const udp_datagram& d) {
      ++echoed;
      peer.udp_send(d.src, d.src_port, 7, d.payload);
    });
    tap_link link(seg, p + "0");
    realtime_pacer pacer(seg);
    pacer.watch(link);
    kernel_udp k(ip4(192, 168, 77, 1), 5555);
    c.check(k.send(ip4(192, 168, 77, 2), 7, "through the tap and back"),
            "the kernel sends a datagram to the peer");
    std::optional<std::string> back;
    pacer.run_until([&] { return (back = k.receive()).has_value(); }, seconds(2));
    c.check(back && *back == "through the tap and back", "the peer's echo reaches the kernel socket");
    c.check(link.stats().short_frames > 0,
            fmt::format("short frames from the kernel are accepted ({} so far; an "
                        "ARP request is 42 octets)",
                        link.stats().short_frames));
    std::optional<ps_t> rtt;
    bool done = false;
    peer.ping(ip4(192, 168, 77, 1), 1, 56, seconds(1), [&](std::optional<ps_t> r) {
      rtt = r;
      done = true;
    });
    pacer.run_until([&] { return done; }, seconds(2));
    c.check(rtt.has_value(), "the kernel answers the peer's ping" + (rtt ? " in " + format_time(*rtt) : ""));

    // A tap taken down mid-run: frames for it are lost (EIO), counted and logged; the run goes on and
    // traffic flows again once it is back up.
    const std::string down = "ip link set " + p + "0 down", up = "ip link set " + p + "0 up";
    c.check(std::system(down.c_str()) == 0, "took " + p + "0 down");
    peer.udp_send(ip4(192, 168, 77, 1), 5555, 7, octets{'l', 'o', 's', 't'});
    pacer.run_for(ms(5));
    c.check(link.stats().write_errors == 1,
            fmt::format("a frame for a tap that is down is counted as a write "
                        "error ({})",
                        link.stats().write_errors));
    c.check(std::system(up.c_str()) == 0, "brought " + p + "0 up again");
    peer.udp_send(ip4(192, 168, 77, 1), 5555, 7, octets{'b', 'a', 'c', 'k'});
    back.reset();
    pacer.run_until([&] { return (back = k.receive()).has_value(); }, seconds(1));
    c.check(back && *back == "back", "frames flow again once the tap is up");

    // Oversize: a 9000-MTU tap hands over a 4042-octet frame; it must be dropped and counted.
    segment seg2(sched, "big", 7);
    log_to_stderr(seg2, verbose);
    peer_config pc2 = pc;
    pc2.ip = ip4(192, 168, 78, 2);
    peer_host peer2(seg2, pc2);
    std::uint64_t big_seen = 0;
    peer2.udp_bind(9, [&](const udp_datagram&) { ++big_seen; });
    tap_link link2(seg2, p + "1");
    pacer.watch(link2);
    kernel_udp k2(ip4(192, 168, 78, 1), 5556);
    k2.send(ip4(192, 168, 78, 2), 9, std::string(4000, 'x'));
    pacer.run_until([&] { return link2.stats().oversize_dropped > 0; }, seconds(2));
    c.check(link2.stats().oversize_dropped == 1 && big_seen == 0,
            fmt::format("a frame over 1514 octets from the tap is dropped and counted ({})",
                        link2.stats().oversize_dropped));
    pacer.unwatch(link2);
    note(pacer.report());
    note(tap_summary(link));
    c.check(echoed == 1, "the peer saw exactly one datagram");
  }
  return c.failures ? 1 : 0;
}

// ---- pacer: no tap needed -------------------------------------------------------------------------------

int run_pacer(options& o) {
  const bool verbose = o.flag("verbose");
  o.check_all_used();
  using clock = std::chrono::steady_clock;
  const auto wall_since = [](clock::time_point t0) {
    return static_cast<ps_t>(
               std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - t0).count()) *
           ps_per_ns;
  };
  checker c;
  scheduler sched(3);
  segment seg(sched, "pacer", 3);
  log_to_stderr(seg, verbose);
  pacer_config cfg;
  realtime_pacer pacer(seg, cfg);

  // Never ahead of real time: from any start, the wall clock runs at least as long as virtual time, less
  // the lag there was at the start and a quantum of slack for the last tick. Being behind is allowed (a
  // loaded machine); it is measured below.
  auto t0 = clock::now();
  ps_t lag0 = pacer.behind();
  pacer.step(ms(200));
  ps_t wall = wall_since(t0);
  c.check(wall + lag0 + cfg.quantum >= ms(200),
          fmt::format("step(200ms) took {} of wall time (never less)", format_time(wall)));

  // Code that advances the scheduler directly (raw_client's loops) is paced by the tick as well.
  t0 = clock::now();
  lag0 = pacer.behind();
  sched.advance_by(ms(100));
  wall = wall_since(t0);
  c.check(wall + lag0 + cfg.quantum >= ms(100),
          fmt::format("a bare advance_by(100ms) took {} of wall time", format_time(wall)));

  // Events run in virtual order at about their real time.
  std::vector<int> on_time;
  t0 = clock::now();
  lag0 = pacer.behind();
  for (ps_t at : {ms(10), ms(40), ms(70)})
    sched.after(at, [&, at] { on_time.push_back(wall_since(t0) + lag0 + cfg.quantum >= at ? 1 : 0); });
  c.check(pacer.run_until([&] { return on_time.size() == 3; }, seconds(1)),
          "run_until returns when the predicate holds");
  c.check(on_time == std::vector<int>{1, 1, 1}, "no event fired before its real time");
  c.check(!pacer.run_until([] { return false; }, ms(20)), "run_until gives up after its timeout");

  // A slow model: an event that takes 60 ms of real time. The pacer must notice and report the lag,
  // then catch up by running flat out (no waits) until virtual time is back in step.
  sched.after(ms(1), [] { std::this_thread::sleep_for(std::chrono::milliseconds(60)); });
  pacer.step(ms(5));
  c.check(pacer.stats().max_behind >= ms(50),
          fmt::format("a 60 ms stall is seen as lag ({})", format_time(pacer.stats().max_behind)));
  c.check(pacer.stats().late_ticks > 0, "late ticks are counted");
  // Catching up takes a little real time; a loaded machine may preempt us, so allow a generous bound.
  const bool caught_up = pacer.run_until([&] { return pacer.behind() < ms(2); }, seconds(2));
  c.check(caught_up, fmt::format("it catches up ({} behind now)", format_time(pacer.behind())));
  sched.after(ms(1), [] { std::this_thread::sleep_for(std::chrono::milliseconds(30)); });
  sched.advance_by(ms(2));
  const ps_t before = pacer.behind();
  pacer.resync();
  const ps_t after = pacer.behind();
  c.check(before >= ms(25) && after < ms(20), fmt::format("resync forgives the lag ({} before, {} after)",
                                                          format_time(before), format_time(after)));

  // Stopped, virtual time runs free.
  pacer.stop();
  t0 = clock::now();
  sched.advance_by(seconds(10));
  c.check(wall_since(t0) < seconds(1), "a stopped pacer leaves virtual time free");
  pacer.start();
  c.check(pacer.running(), "start() puts the tick back");
  note(pacer.report());
  return c.failures ? 1 : 0;
}

int usage(const char* msg) {
  if (msg) std::fprintf(stderr, "wizsim-bridge-check: %s\n", msg);
  std::fprintf(
      stderr,
      "usage: wizsim-bridge-check chip  --eth tap:IF|tapfd:N [--pcap F] [--ready F] [--stop F]\n"
      "                                 [--dns-name N] [--http-port P] [--http-path P] [--expect TEXT]\n"
      "                                 [--serve-for S] [--min-served N] [--seed N] [--verbose]\n"
      "       wizsim-bridge-check peers --eth tap:IF|tapfd:N [--pcap F] [--ready F] [--stop F] [--ip A]\n"
      "                                 [--serve-for S] [--big-size N] [--write-big F] [--verbose]\n"
      "       wizsim-bridge-check tapcheck [--prefix P] [--pcap F] [--verbose]\n"
      "       wizsim-bridge-check pacer [--verbose]\n");
  return 2;
}

}  // namespace
}  // namespace wizsim

int main(int argc, char** argv) {
  using namespace wizsim;
  if (argc < 2) return usage(nullptr);
  const std::string cmd = argv[1];
  try {
    options o(argc, argv, 2);
    if (cmd == "chip") return run_chip(o);
    if (cmd == "peers") return run_peers(o);
    if (cmd == "tapcheck") return run_tapcheck(o);
    if (cmd == "pacer") return run_pacer(o);
    return usage(("unknown command '" + cmd + "'").c_str());
  } catch (const usage_error& e) {
    return usage(e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wizsim-bridge-check %s: %s\n", cmd.c_str(), e.what());
    return 2;
  }
}
