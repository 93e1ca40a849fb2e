#include "wizsim/packet.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

namespace wizsim {

namespace {

constexpr std::size_t arp_len = 28, ipv4_min_header = 20, ipv4_max_options = 40, icmp_header_len = 8,
                      udp_header_len = 8, tcp_min_header = 20, max_u16 = 0xFFFF;
constexpr std::uint8_t tcp_opt_end = 0, tcp_opt_nop = 1, tcp_opt_mss = 2, tcp_opt_mss_len = 4;

void put_mac(std::uint8_t* p, const mac_addr& m) { std::copy(m.begin(), m.end(), p); }

mac_addr get_mac(const std::uint8_t* p) {
  mac_addr m{};
  std::copy(p, p + m.size(), m.begin());
  return m;
}

std::uint16_t fold(std::uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<std::uint16_t>(sum);
}

}  // namespace

std::string to_string(ip4_addr a) {
  return fmt::format("{}.{}.{}.{}", a >> 24, (a >> 16) & 0xFF, (a >> 8) & 0xFF, a & 0xFF);
}

std::string to_string(const mac_addr& m) {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5]);
}

std::uint16_t inet_checksum(const std::uint8_t* p, std::size_t n, std::uint32_t sum) {
  std::uint64_t acc = sum;
  std::size_t i = 0;
  for (; i + 1 < n; i += 2) acc += get16(p + i);
  if (i < n) acc += static_cast<std::uint64_t>(p[i]) << 8;  // odd length: pad with a zero octet
  return static_cast<std::uint16_t>(~fold(acc));
}

std::uint32_t pseudo_header_sum(ip4_addr src, ip4_addr dst, std::uint8_t proto, std::uint16_t length) {
  return (src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF) + proto + length;
}

// ---- Ethernet -----------------------------------------------------------------------------------------

std::optional<eth_view> parse_eth(const std::uint8_t* p, std::size_t n) {
  if (p == nullptr || n < eth_header_len) return std::nullopt;
  eth_view v{};
  v.dst = get_mac(p);
  v.src = get_mac(p + 6);
  v.ethertype = get16(p + 12);
  v.payload = p + eth_header_len;
  v.payload_len = n - eth_header_len;
  return v;
}

octets build_eth(const mac_addr& dst, const mac_addr& src, std::uint16_t ethertype, const octets& payload,
                 bool pad) {
  octets f(eth_header_len + payload.size());
  put_mac(f.data(), dst);
  put_mac(f.data() + 6, src);
  put16(f.data() + 12, ethertype);
  std::copy(payload.begin(), payload.end(), f.begin() + eth_header_len);
  if (pad && f.size() < eth_min_frame) f.resize(eth_min_frame, 0);
  return f;
}

// ---- ARP ----------------------------------------------------------------------------------------------

std::optional<arp_view> parse_arp(const std::uint8_t* p, std::size_t n) {
  if (p == nullptr || n < arp_len) return std::nullopt;
  if (get16(p) != 1 || get16(p + 2) != ethertype_ipv4 || p[4] != 6 || p[5] != 4) return std::nullopt;
  arp_view v{};
  v.op = get16(p + 6);
  v.sha = get_mac(p + 8);
  v.spa = get32(p + 14);
  v.tha = get_mac(p + 18);
  v.tpa = get32(p + 24);
  return v;
}

octets build_arp(std::uint16_t op, const mac_addr& sha, ip4_addr spa, const mac_addr& tha, ip4_addr tpa) {
  octets a(arp_len);
  put16(a.data(), 1);  // htype: Ethernet
  put16(a.data() + 2, ethertype_ipv4);
  a[4] = 6;
  a[5] = 4;
  put16(a.data() + 6, op);
  put_mac(a.data() + 8, sha);
  put32(a.data() + 14, spa);
  put_mac(a.data() + 18, tha);
  put32(a.data() + 24, tpa);
  return a;
}

// ---- IPv4 ---------------------------------------------------------------------------------------------

std::optional<ipv4_view> parse_ipv4(const std::uint8_t* p, std::size_t n) {
  if (p == nullptr || n < ipv4_min_header) return std::nullopt;
  if ((p[0] >> 4) != 4) return std::nullopt;
  const std::uint8_t ihl = static_cast<std::uint8_t>(p[0] & 0x0F);
  if (ihl < 5) return std::nullopt;
  const std::size_t hlen = std::size_t{ihl} * 4;
  if (hlen > n) return std::nullopt;
  const std::uint16_t total = get16(p + 2);
  if (total > n || total < hlen) return std::nullopt;

  ipv4_view v{};
  v.h.tos = p[1];
  v.h.id = get16(p + 4);
  v.h.frag = get16(p + 6);
  v.h.ttl = p[8];
  v.h.proto = p[9];
  v.h.src = get32(p + 12);
  v.h.dst = get32(p + 16);
  v.h.options.assign(p + ipv4_min_header, p + hlen);
  v.ihl = ihl;
  v.total_len = total;
  v.checksum_ok = inet_checksum(p, hlen) == 0;
  v.is_fragment = (v.h.frag & 0x3FFF) != 0;  // MF (0x2000) or fragment offset (0x1FFF)
  v.payload = p + hlen;
  v.payload_len = total - hlen;
  return v;
}

octets build_ipv4(const ipv4_fields& h, const octets& payload) {
  if (h.options.size() % 4 != 0 || h.options.size() > ipv4_max_options)
    throw std::invalid_argument(
        fmt::format("IPv4 options must be a multiple of 4 octets and at most 40 (got {})", h.options.size()));
  const std::size_t hlen = ipv4_min_header + h.options.size();
  const std::size_t total = hlen + payload.size();
  if (total > max_u16)
    throw std::invalid_argument(fmt::format("IPv4 datagram too long ({} octets)", total));

  octets d(total);
  d[0] = static_cast<std::uint8_t>(0x40 | (hlen / 4));
  d[1] = h.tos;
  put16(d.data() + 2, static_cast<std::uint16_t>(total));
  put16(d.data() + 4, h.id);
  put16(d.data() + 6, h.frag);
  d[8] = h.ttl;
  d[9] = h.proto;
  // d[10..11] checksum, zero while summing
  put32(d.data() + 12, h.src);
  put32(d.data() + 16, h.dst);
  std::copy(h.options.begin(), h.options.end(), d.begin() + ipv4_min_header);
  put16(d.data() + 10, inet_checksum(d.data(), hlen));
  std::copy(payload.begin(), payload.end(), d.begin() + static_cast<std::ptrdiff_t>(hlen));
  return d;
}

// ---- ICMP ---------------------------------------------------------------------------------------------

std::optional<icmp_view> parse_icmp(const std::uint8_t* p, std::size_t n) {
  if (p == nullptr || n < icmp_header_len) return std::nullopt;
  icmp_view v{};
  v.type = p[0];
  v.code = p[1];
  v.checksum_ok = inet_checksum(p, n) == 0;
  v.rest = get32(p + 4);
  v.payload = p + icmp_header_len;
  v.payload_len = n - icmp_header_len;
  return v;
}

octets build_icmp(std::uint8_t type, std::uint8_t code, std::uint32_t rest, const octets& payload) {
  octets m(icmp_header_len + payload.size());
  m[0] = type;
  m[1] = code;
  put32(m.data() + 4, rest);
  std::copy(payload.begin(), payload.end(), m.begin() + icmp_header_len);
  put16(m.data() + 2, inet_checksum(m.data(), m.size()));
  return m;
}

// ---- UDP ----------------------------------------------------------------------------------------------

std::optional<udp_view> parse_udp(const std::uint8_t* p, std::size_t n, ip4_addr src, ip4_addr dst) {
  if (p == nullptr || n < udp_header_len) return std::nullopt;
  const std::uint16_t length = get16(p + 4);
  if (length < udp_header_len || length > n) return std::nullopt;
  udp_view v{};
  v.src_port = get16(p);
  v.dst_port = get16(p + 2);
  v.length = length;
  v.checksum_ok =
      get16(p + 6) == 0 || inet_checksum(p, length, pseudo_header_sum(src, dst, ip_proto_udp, length)) == 0;
  v.payload = p + udp_header_len;
  v.payload_len = length - udp_header_len;
  return v;
}

octets build_udp(ip4_addr src, ip4_addr dst, std::uint16_t src_port, std::uint16_t dst_port,
                 const octets& payload) {
  const std::size_t len = udp_header_len + payload.size();
  if (len > max_u16) throw std::invalid_argument(fmt::format("UDP datagram too long ({} octets)", len));
  const auto length = static_cast<std::uint16_t>(len);
  octets u(len);
  put16(u.data(), src_port);
  put16(u.data() + 2, dst_port);
  put16(u.data() + 4, length);
  std::copy(payload.begin(), payload.end(), u.begin() + udp_header_len);
  std::uint16_t c = inet_checksum(u.data(), len, pseudo_header_sum(src, dst, ip_proto_udp, length));
  if (c == 0) c = 0xFFFF;  // RFC 768: a computed 0 is sent as all ones (0 means "no checksum")
  put16(u.data() + 6, c);
  return u;
}

// ---- TCP ----------------------------------------------------------------------------------------------

std::optional<tcp_view> parse_tcp(const std::uint8_t* p, std::size_t n, ip4_addr src, ip4_addr dst) {
  if (p == nullptr || n < tcp_min_header) return std::nullopt;
  const std::uint8_t doff = static_cast<std::uint8_t>(p[12] >> 4);
  const std::size_t hlen = std::size_t{doff} * 4;
  if (doff < 5 || hlen > n) return std::nullopt;

  tcp_view v{};
  v.h.src_port = get16(p);
  v.h.dst_port = get16(p + 2);
  v.h.seq = get32(p + 4);
  v.h.ack = get32(p + 8);
  v.h.flags = p[13];
  v.h.window = get16(p + 14);
  v.h.urgent = get16(p + 18);
  // Options: kind 0 ends the list, kind 1 is a one-octet NOP, every other kind carries a length octet
  // covering kind and length. A malformed length stops the walk; the segment still parses.
  for (std::size_t i = tcp_min_header; i < hlen;) {
    const std::uint8_t kind = p[i];
    if (kind == tcp_opt_end) break;
    if (kind == tcp_opt_nop) {
      ++i;
      continue;
    }
    if (i + 1 >= hlen) break;
    const std::size_t len = p[i + 1];
    if (len < 2 || i + len > hlen) break;
    if (kind == tcp_opt_mss && len == tcp_opt_mss_len) v.h.mss = get16(p + i + 2);
    i += len;
  }
  v.data_offset = doff;
  // The pseudo-header length is 16 bits; a segment longer than that cannot come from IPv4 and will
  // simply fail the checksum.
  v.checksum_ok =
      inet_checksum(p, n, pseudo_header_sum(src, dst, ip_proto_tcp, static_cast<std::uint16_t>(n))) == 0;
  v.payload = p + hlen;
  v.payload_len = n - hlen;
  return v;
}

octets build_tcp(ip4_addr src, ip4_addr dst, const tcp_fields& h, const octets& payload) {
  const std::size_t hlen = tcp_min_header + (h.mss ? std::size_t{tcp_opt_mss_len} : 0);
  const std::size_t len = hlen + payload.size();
  if (len > max_u16) throw std::invalid_argument(fmt::format("TCP segment too long ({} octets)", len));
  octets s(len);
  put16(s.data(), h.src_port);
  put16(s.data() + 2, h.dst_port);
  put32(s.data() + 4, h.seq);
  put32(s.data() + 8, h.ack);
  s[12] = static_cast<std::uint8_t>((hlen / 4) << 4);
  s[13] = h.flags;
  put16(s.data() + 14, h.window);
  // s[16..17] checksum, zero while summing
  put16(s.data() + 18, h.urgent);
  if (h.mss) {
    s[20] = tcp_opt_mss;
    s[21] = tcp_opt_mss_len;
    put16(s.data() + 22, *h.mss);
  }
  std::copy(payload.begin(), payload.end(), s.begin() + static_cast<std::ptrdiff_t>(hlen));
  put16(s.data() + 16,
        inet_checksum(s.data(), len, pseudo_header_sum(src, dst, ip_proto_tcp, static_cast<std::uint16_t>(len))));
  return s;
}

tcp_fields tcp_reset_for(const tcp_view& seg) {
  tcp_fields r;
  r.src_port = seg.h.dst_port;
  r.dst_port = seg.h.src_port;
  if (seg.h.flags & TCP_ACK) {
    r.seq = seg.h.ack;
    r.flags = TCP_RST;
  } else {
    r.seq = 0;
    r.ack = seg.h.seq + static_cast<std::uint32_t>(seg.payload_len) + ((seg.h.flags & TCP_SYN) ? 1 : 0) +
            ((seg.h.flags & TCP_FIN) ? 1 : 0);
    r.flags = TCP_RST | TCP_ACK;
  }
  return r;
}

// ---- Whole frames --------------------------------------------------------------------------------------

namespace {
octets ipv4_frame(const mac_addr& dst_mac, const mac_addr& src_mac, const ipv4_fields& ip, std::uint8_t proto,
                  const octets& transport) {
  ipv4_fields h = ip;
  h.proto = proto;
  return build_eth(dst_mac, src_mac, ethertype_ipv4, build_ipv4(h, transport), true);
}
}  // namespace

octets udp_frame(const mac_addr& dst_mac, const mac_addr& src_mac, const ipv4_fields& ip, std::uint16_t src_port,
                 std::uint16_t dst_port, const octets& payload) {
  return ipv4_frame(dst_mac, src_mac, ip, ip_proto_udp, build_udp(ip.src, ip.dst, src_port, dst_port, payload));
}

octets icmp_frame(const mac_addr& dst_mac, const mac_addr& src_mac, const ipv4_fields& ip, std::uint8_t type,
                  std::uint8_t code, std::uint32_t rest, const octets& payload) {
  return ipv4_frame(dst_mac, src_mac, ip, ip_proto_icmp, build_icmp(type, code, rest, payload));
}

octets tcp_frame(const mac_addr& dst_mac, const mac_addr& src_mac, const ipv4_fields& ip, const tcp_fields& tcp,
                 const octets& payload) {
  return ipv4_frame(dst_mac, src_mac, ip, ip_proto_tcp, build_tcp(ip.src, ip.dst, tcp, payload));
}

}  // namespace wizsim
