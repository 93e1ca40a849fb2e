// libFuzzer target over the chip's frame ingress (built with -DWIZSIM_FUZZ=ON and clang; see ci/test).
//
// Input layout (every read past the end yields zeros, so any input is valid):
//   setup (consumed first)
//     quirk flags to flip (4 bytes, one bit per flag quirk in quirk_table order), chip_config bits,
//     MR, SHAR / SIPR / SUBR / GAR choices, 8 x buffer sizes, 8 x socket setups (protocol, Sn_MR flags,
//     port, destination) opened with OPEN (+ LISTEN / CONNECT) through the SPI host
//   then up to max_ops operations, each one op byte and its arguments:
//     frame     length-prefixed bytes handed to chip.receive(), optionally with our MAC / IP patched in
//               and the IPv4 and L4 checksums fixed so that the fuzzer gets past the checksum checks
//     time      advance the scheduler by 1 us << n
//     write     an SPI write of one socket or common register
//     command   Sn_CR command (SEND with data written first, RECV with RX_RD moved first, CLOSE, ...)
//     read      an SPI read anywhere (any block select, any offset, any length)
//     peer      a scripted peer answers the chip's last frame (ARP reply, SYN-ACK, ACK, FIN), or the
//               cable is unplugged / replugged
//   finally a second of virtual time so pending timers fire.
// Oracles besides the sanitizers: no frame on the wire is longer than 1514 bytes, and when no socket was
// ever set to MACRAW or IPRAW (whose frames are host bytes), every IPv4 frame the chip sends parses and has
// correct IPv4, ICMP, UDP and TCP checksums.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wizsim/host.hpp"
#include "wizsim/packet.hpp"
#include "wizsim/quirks.hpp"
#include "wizsim/w5500.hpp"

using namespace wizsim;

namespace {

constexpr std::size_t max_ops = 400;

class reader {
 public:
  reader(const std::uint8_t* p, std::size_t n) : m_p(p), m_n(n) {}
  std::uint8_t u8() { return m_i < m_n ? m_p[m_i++] : 0; }
  std::uint16_t u16() { return static_cast<std::uint16_t>(u8() << 8 | u8()); }
  octets bytes(std::size_t n) {
    n = std::min(n, m_n - m_i);
    octets v(m_p + m_i, m_p + m_i + n);
    m_i += n;
    return v;
  }
  bool done() const { return m_i >= m_n; }

 private:
  const std::uint8_t* m_p;
  std::size_t m_n, m_i = 0;
};

const mac_addr macs[4] = {{0x02, 0x00, 0x5E, 0x00, 0x00, 0x01},
                          {0x02, 0x00, 0x5E, 0x00, 0x00, 0x02},
                          {0x00, 0x08, 0xDC, 0x01, 0x02, 0x03},
                          {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}};
const mac_addr peer_mac{0x02, 0x00, 0x5E, 0x00, 0x00, 0x99};
constexpr ip4_addr sips[4] = {ip4(192, 168, 1, 10), 0, ip4(10, 0, 0, 5), ip4(255, 255, 255, 255)};
constexpr ip4_addr subrs[4] = {0xFFFFFF00u, 0, 0xFF000000u, 0xFFFFFFFFu};
constexpr ip4_addr gars[2] = {ip4(192, 168, 1, 1), 0};
constexpr ip4_addr dests[8] = {
    ip4(192, 168, 1, 20), ip4(10, 9, 8, 7),      ip4(255, 255, 255, 255), ip4(239, 1, 2, 3), 0,
    ip4(192, 168, 1, 10), ip4(192, 168, 1, 255), ip4(224, 0, 0, 1)};
constexpr std::uint16_t ports[8] = {5000, 68, 67, 80, 7, 40000, 0, 0xFFFF};
constexpr std::uint8_t buf_sizes[8] = {0, 1, 2, 4, 8, 16, 2, 3 /* illegal */};
constexpr std::uint8_t commands[10] = {Sn_CR_OPEN, Sn_CR_LISTEN,   Sn_CR_CONNECT,   Sn_CR_DISCON, Sn_CR_CLOSE,
                                       Sn_CR_SEND, Sn_CR_SEND_MAC, Sn_CR_SEND_KEEP, Sn_CR_RECV,   0x7F};

constexpr std::uint16_t Sn_MR = 0x00, Sn_SR = 0x03, Sn_PORT = 0x04, Sn_DHAR = 0x06, Sn_DIPR = 0x0C,
                        Sn_DPORT = 0x10, Sn_PROTO = 0x14, Sn_RXBUF_SIZE = 0x1E, Sn_TXBUF_SIZE = 0x1F,
                        Sn_TX_WR = 0x24, Sn_RX_RSR = 0x26, Sn_RX_RD = 0x28;

// WIZSIM_FUZZ_VERBOSE=1 prints every frame in and out (for reading a reproducer).
const bool verbose = std::getenv("WIZSIM_FUZZ_VERBOSE") != nullptr;

void dump(const char* dir, const octets& f) {
  std::fprintf(stderr, "%s %4zu:", dir, f.size());
  for (std::size_t i = 0; i < f.size() && i < 64; ++i) std::fprintf(stderr, " %02x", f[i]);
  std::fprintf(stderr, "%s\n", f.size() > 64 ? " ..." : "");
}

[[noreturn]] void oracle_failed(const char* what, const octets& frame) {
  std::fprintf(stderr, "frame_fuzz oracle: %s; frame (%zu bytes):", what, frame.size());
  for (std::size_t i = 0; i < frame.size() && i < 128; ++i) std::fprintf(stderr, " %02x", frame[i]);
  std::fprintf(stderr, "\n");
  std::abort();
}

// Checks one frame the chip sent.
void check_tx(const octets& f, bool raw_possible) {
  if (f.size() > eth_max_frame) oracle_failed("frame longer than 1514 bytes", f);
  if (raw_possible) return;
  const auto eth = parse_eth(f.data(), f.size());
  if (!eth) oracle_failed("unparseable Ethernet frame", f);
  if (eth->ethertype != ethertype_ipv4) return;
  const auto ip = parse_ipv4(eth->payload, eth->payload_len);
  if (!ip) oracle_failed("unparseable IPv4 packet", f);
  if (!ip->checksum_ok) oracle_failed("bad IPv4 header checksum", f);
  if (ip->is_fragment) return;
  switch (ip->h.proto) {
    case ip_proto_icmp: {
      const auto m = parse_icmp(ip->payload, ip->payload_len);
      if (!m || !m->checksum_ok) oracle_failed("bad ICMP message", f);
      break;
    }
    case ip_proto_udp: {
      const auto u = parse_udp(ip->payload, ip->payload_len, ip->h.src, ip->h.dst);
      if (!u || !u->checksum_ok) oracle_failed("bad UDP datagram", f);
      break;
    }
    case ip_proto_tcp: {
      const auto t = parse_tcp(ip->payload, ip->payload_len, ip->h.src, ip->h.dst);
      if (!t || !t->checksum_ok) oracle_failed("bad TCP segment", f);
      break;
    }
    default:
      break;
  }
}

// Patches a fuzzed frame so that it reaches deeper: our MAC as destination, our IP as destination, and
// correct IPv4 / ICMP / UDP / TCP / IGMP checksums. Only touches bytes that exist.
void fix_frame(octets& f, std::uint8_t how, const mac_addr& shar, ip4_addr sipr) {
  if ((how & 1) && f.size() >= 6) std::copy(shar.begin(), shar.end(), f.begin());
  if (!(how & 6) || f.size() < eth_header_len + 20) return;
  std::uint8_t* ip = f.data() + eth_header_len;
  if (how & 2) {
    put16(f.data() + 12, ethertype_ipv4);
    ip[0] = static_cast<std::uint8_t>(0x40 | std::max(5, ip[0] & 0x0F));
  }
  const std::size_t avail = f.size() - eth_header_len;
  const std::size_t ihl = static_cast<std::size_t>(ip[0] & 0x0F) * 4;
  if (ihl < 20 || ihl > avail) return;
  if (how & 4) put32(ip + 16, sipr);
  if (how & 2) {
    const std::size_t total_len = get16(ip + 2);
    if (total_len < ihl || total_len > avail) put16(ip + 2, static_cast<std::uint16_t>(avail));
    ip[6] &= 0x40;  // not a fragment
    ip[7] = 0;
  }
  const std::size_t total = std::min<std::size_t>(get16(ip + 2), avail);
  ip[10] = ip[11] = 0;
  put16(ip + 10, inet_checksum(ip, ihl));
  if (total <= ihl) return;
  std::uint8_t* l4 = ip + ihl;
  const std::size_t l4_len = total - ihl;
  const ip4_addr src = get32(ip + 12), dst = get32(ip + 16);
  const std::uint8_t proto = ip[9];
  std::size_t sum_at = 0;
  std::uint32_t pseudo = 0;
  if (proto == ip_proto_icmp || proto == ip_proto_igmp) {
    sum_at = 2;
  } else if (proto == ip_proto_udp && l4_len >= 8) {
    sum_at = 6;
    if ((how & 2) && (get16(l4 + 4) < 8 || get16(l4 + 4) > l4_len))
      put16(l4 + 4, static_cast<std::uint16_t>(l4_len));
    pseudo = pseudo_header_sum(src, dst, proto, static_cast<std::uint16_t>(l4_len));
  } else if (proto == ip_proto_tcp) {
    sum_at = 16;
    pseudo = pseudo_header_sum(src, dst, proto, static_cast<std::uint16_t>(l4_len));
  } else {
    return;
  }
  if (l4_len < sum_at + 2) return;
  l4[sum_at] = l4[sum_at + 1] = 0;
  std::uint16_t sum = inet_checksum(l4, l4_len, pseudo);
  if (proto == ip_proto_udp && sum == 0) sum = 0xFFFF;
  put16(l4 + sum_at, sum);
}

struct harness {
  harness(const chip_config& cfg, std::uint64_t seed) : sched(seed), chip(sched, cfg), host(chip) {
    chip.on_transmit([this](const w5500::wire_frame& f) {
      if (verbose) dump("tx", f.data);
      check_tx(f.data, raw_possible);
      last_tx = f.data;
      ++tx_count;
    });
  }
  scheduler sched;
  w5500 chip;
  spi_host host;
  octets last_tx;
  std::uint64_t tx_count = 0;
  bool raw_possible = false;
  mac_addr shar{};
  ip4_addr sipr = 0;

  void inject(const octets& f) {
    if (verbose) dump("rx", f);
    chip.receive(f);
  }
  void set_ip(std::uint8_t bsb, std::uint16_t off, ip4_addr a) {
    std::uint8_t b[4];
    put32(b, a);
    host.write(bsb, off, b, 4);
  }
  void note_mode(std::uint8_t mode) {
    const std::uint8_t p = mode & 0x0F;
    if (p == Sn_MR_MACRAW || p == Sn_MR_IPRAW) raw_possible = true;
  }
  void write_reg(std::uint8_t bsb, std::uint16_t off, std::uint8_t v) {
    if (bsb != bsb_common() && off == Sn_MR) note_mode(v);
    host.write8(bsb, off, v);
  }

  void send_data(int n, std::size_t len, reader& in) {
    octets data = in.bytes(std::min<std::size_t>(len, 64));
    data.resize(len, 0xA5);
    const std::uint16_t wr = host.read16(bsb_socket(n), Sn_TX_WR);
    if (len != 0) host.write(bsb_tx(n), wr, data.data(), data.size());
    host.write16(bsb_socket(n), Sn_TX_WR, static_cast<std::uint16_t>(wr + len));
  }
  void consume(int n, std::uint16_t want) {
    const std::uint16_t rsr = host.read16(bsb_socket(n), Sn_RX_RSR);
    const std::uint16_t len = std::min(rsr, want);
    const std::uint16_t rd = host.read16(bsb_socket(n), Sn_RX_RD);
    octets buf(len);
    if (len != 0) host.read(bsb_rx(n), rd, buf.data(), len);  // spi_host passes a null `out` to memcpy on 0
    host.write16(bsb_socket(n), Sn_RX_RD, static_cast<std::uint16_t>(rd + len));
  }

  // A peer that answers the chip's last frame the way a well-behaved host would.
  void peer_answer(std::uint8_t how) {
    const auto eth = parse_eth(last_tx.data(), last_tx.size());
    if (!eth) return;
    if (eth->ethertype == ethertype_arp) {
      const auto arp = parse_arp(eth->payload, eth->payload_len);
      if (arp && arp->op == arp_request)
        inject(build_eth(arp->sha, peer_mac, ethertype_arp,
                         build_arp(arp_reply, peer_mac, arp->tpa, arp->sha, arp->spa)));
      return;
    }
    if (eth->ethertype != ethertype_ipv4) return;
    const auto ip = parse_ipv4(eth->payload, eth->payload_len);
    if (!ip) return;
    ipv4_fields h;
    h.src = ip->h.dst;
    h.dst = ip->h.src;
    h.ttl = 64;
    if (ip->h.proto == ip_proto_icmp) {
      const auto m = parse_icmp(ip->payload, ip->payload_len);
      if (m && m->type == 8)
        inject(icmp_frame(eth->src, peer_mac, h, 0, 0, m->rest,
                          octets(m->payload, m->payload + m->payload_len)));
      return;
    }
    if (ip->h.proto == ip_proto_udp) {
      const auto u = parse_udp(ip->payload, ip->payload_len, ip->h.src, ip->h.dst);
      if (u)
        inject(udp_frame(eth->src, peer_mac, h, u->dst_port, u->src_port,
                         octets(u->payload, u->payload + std::min<std::size_t>(u->payload_len, how))));
      return;
    }
    if (ip->h.proto != ip_proto_tcp) return;
    const auto t = parse_tcp(ip->payload, ip->payload_len, ip->h.src, ip->h.dst);
    if (!t || (t->h.flags & TCP_RST)) return;
    tcp_fields r;
    r.src_port = t->h.dst_port;
    r.dst_port = t->h.src_port;
    r.window = static_cast<std::uint16_t>(how & 0x80 ? 0 : 8192);
    std::uint32_t consumed = static_cast<std::uint32_t>(t->payload_len);
    if (t->h.flags & (TCP_SYN | TCP_FIN)) ++consumed;
    r.ack = t->h.seq + consumed;
    r.flags = TCP_ACK;
    if ((t->h.flags & TCP_SYN) && !(t->h.flags & TCP_ACK)) {
      r.flags |= TCP_SYN;
      r.seq = 0x10000u * how;
      r.mss = static_cast<std::uint16_t>(how & 1 ? 536 : 1460);
    } else {
      r.seq = t->h.ack;
    }
    octets payload;
    if (how & 2) payload = octets(how & 0x3F, 0x5A);
    if (how & 4) r.flags |= TCP_FIN;
    if (how & 8) r.flags |= TCP_PSH;
    inject(tcp_frame(eth->src, peer_mac, h, r, payload));
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  reader in(data, size);

  // ---- configuration
  // ---------------------------------------------------------------------------------------
  chip_config cfg;
  std::uint32_t flip = static_cast<std::uint32_t>(in.u16()) << 16 | in.u16();
  for (const quirk_info& q : quirk_table()) {
    if (q.kind != quirk_kind::flag) continue;
    if (flip & 1) cfg.quirk.set(q.name, cfg.quirk.get(q.name) == "true" ? "false" : "true");
    flip >>= 1;
  }
  const std::uint8_t bits = in.u8();
  cfg.partner_100 = !(bits & 1);
  cfg.partner_full_duplex = !(bits & 2);
  cfg.partner_autoneg = !(bits & 4);
  if (bits & 8) cfg.quirk.command_latency_ps = 0;
  const std::uint8_t seed = in.u8();
  harness h(cfg, seed);
  if (bits & 0x10) h.chip.log().set_log_sink([](std::string_view) {}, log_level::debug);
  if (bits & 0x20) h.chip.log().set_trace_sink([](std::string_view) {});
  h.sched.advance_by(ms(2000));  // link up in every PHY mode

  const std::uint8_t mr = in.u8();
  const std::uint8_t addr = in.u8();
  h.shar = macs[addr & 3];
  h.sipr = sips[(addr >> 2) & 3];
  h.host.write(bsb_common(), 0x0009, h.shar.data(), 6);
  h.set_ip(bsb_common(), 0x000F, h.sipr);
  h.set_ip(bsb_common(), 0x0005, subrs[(addr >> 4) & 3]);
  h.set_ip(bsb_common(), 0x0001, gars[(addr >> 6) & 1]);
  h.host.write8(bsb_common(), 0x0000, static_cast<std::uint8_t>(mr & 0x3A));  // WOL, PB, PPPoE, FARP
  for (int n = 0; n < num_sockets; ++n) {
    const std::uint8_t s = in.u8();
    h.host.write8(bsb_socket(n), Sn_RXBUF_SIZE, buf_sizes[s & 7]);
    h.host.write8(bsb_socket(n), Sn_TXBUF_SIZE, buf_sizes[(s >> 3) & 7]);
  }
  for (int n = 0; n < num_sockets; ++n) {
    const std::uint8_t s = in.u8();
    const std::uint8_t where = in.u8();
    const std::uint8_t flags = s & 0xF0;
    std::uint8_t mode = 0;
    switch (s & 7) {
      case 1:
        mode = static_cast<std::uint8_t>(Sn_MR_UDP | flags);
        break;
      case 2:
      case 3:
        mode = static_cast<std::uint8_t>(Sn_MR_TCP | (flags & 0x20));
        break;
      case 4:
        mode = static_cast<std::uint8_t>(Sn_MR_MACRAW | flags);
        break;
      case 5:
        mode = Sn_MR_IPRAW;
        h.host.write8(bsb_socket(n), Sn_PROTO,
                      static_cast<std::uint8_t>(where & 1 ? ip_proto_icmp : ip_proto_udp));
        break;
      case 6:
        mode = static_cast<std::uint8_t>(Sn_MR_UDP | 0x80 | (flags & 0x30));
        break;
      default:
        continue;
    }
    h.host.write16(bsb_socket(n), Sn_PORT, ports[where & 7]);
    const ip4_addr dip = dests[(where >> 3) & 7];
    h.set_ip(bsb_socket(n), Sn_DIPR, dip);
    h.host.write16(bsb_socket(n), Sn_DPORT, ports[(where >> 6) & 3]);
    if ((s & 7) == 6) {
      const mac_addr gm{0x01,
                        0x00,
                        0x5E,
                        static_cast<std::uint8_t>((dip >> 16) & 0x7F),
                        static_cast<std::uint8_t>(dip >> 8),
                        static_cast<std::uint8_t>(dip)};
      h.host.write(bsb_socket(n), Sn_DHAR, gm.data(), 6);
    }
    h.write_reg(bsb_socket(n), Sn_MR, mode);
    h.host.command(n, Sn_CR_OPEN);
    if ((s & 7) == 2) h.host.command(n, Sn_CR_LISTEN);
    if ((s & 7) == 3) h.host.command(n, Sn_CR_CONNECT);
  }

  // ---- operations
  // --------------------------------------------------------------------------------------------
  for (std::size_t op_count = 0; op_count < max_ops && !in.done(); ++op_count) {
    const std::uint8_t op = in.u8();
    switch (op & 7) {
      case 0:
      case 1:
      case 2: {  // a frame from the wire
        const std::size_t len = in.u16() % 1601;
        octets f = in.bytes(len);
        fix_frame(f, static_cast<std::uint8_t>(op >> 3), h.shar, h.sipr);
        h.inject(f);
        break;
      }
      case 3:
        h.sched.advance_by(ps_per_us << (in.u8() % 35));
        break;
      case 4: {  // register write
        const std::uint8_t target = in.u8();
        const std::uint8_t off = in.u8();
        const std::uint8_t v = in.u8();
        if (target & 0x80) {
          h.write_reg(bsb_common(), static_cast<std::uint16_t>(off % 0x40), v);
        } else {
          h.write_reg(bsb_socket(target & 7), static_cast<std::uint16_t>(off % 0x30), v);
        }
        break;
      }
      case 5: {  // command
        const std::uint8_t a = in.u8();
        const int n = a & 7;
        const std::uint8_t cmd = commands[(a >> 3) % 10];
        if (cmd == Sn_CR_SEND || cmd == Sn_CR_SEND_MAC) h.send_data(n, in.u16() % 3000, in);
        if (cmd == Sn_CR_RECV) h.consume(n, in.u16());
        if (cmd == Sn_CR_OPEN) h.note_mode(h.host.read8(bsb_socket(n), Sn_MR));
        h.host.command(n, cmd, 100);
        break;
      }
      case 6: {  // read anywhere
        const std::uint8_t bsb = static_cast<std::uint8_t>(in.u8() & 0x1F);
        const std::uint16_t off = in.u16();
        octets buf(std::max<std::size_t>(1, in.u8()));
        h.host.read(bsb, off, buf.data(), buf.size());
        break;
      }
      case 7: {
        const std::uint8_t how = in.u8();
        if (how == 0xFF) {
          h.chip.set_cable(!h.chip.link_up());
        } else {
          h.sched.advance_by(us(20));
          h.peer_answer(how);
        }
        break;
      }
    }
  }
  h.sched.advance_by(seconds(1));
  (void)h.host.read8(bsb_socket(0), Sn_SR);
  return 0;
}
