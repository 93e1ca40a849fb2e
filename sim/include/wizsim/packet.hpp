// Ethernet / ARP / IPv4 / ICMP / UDP / TCP frame codec: builders that produce valid frames (checksums
// filled in) and parsers that validate what they read. Used by the chip's network engine, by the tests
// that craft exact frames in and assert exact frames out, and by the harness's peers.
//
// Frames are Ethernet II without preamble and without FCS, as the chip's Ethernet port carries them.
// Parsers never read past the buffer they are given; a malformed frame parses to std::nullopt.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace wizsim {

using mac_addr = std::array<std::uint8_t, 6>;
using ip4_addr = std::uint32_t;  // host order: 192.168.1.2 == 0xC0A80102
using octets = std::vector<std::uint8_t>;

constexpr mac_addr broadcast_mac{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
constexpr std::uint16_t ethertype_ipv4 = 0x0800, ethertype_arp = 0x0806, ethertype_ipv6 = 0x86DD;
constexpr std::uint8_t ip_proto_icmp = 1, ip_proto_igmp = 2, ip_proto_tcp = 6, ip_proto_udp = 17;
constexpr std::size_t eth_header_len = 14, eth_min_frame = 60, eth_max_frame = 1514;

constexpr ip4_addr ip4(unsigned a, unsigned b, unsigned c, unsigned d) {
  return (a << 24) | (b << 16) | (c << 8) | d;
}
std::string to_string(ip4_addr a);   // "192.168.1.2"
std::string to_string(const mac_addr& m);  // "02:00:00:00:00:01"

// Big-endian helpers.
inline std::uint16_t get16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }
inline std::uint32_t get32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) << 24 | static_cast<std::uint32_t>(p[1]) << 16 |
         static_cast<std::uint32_t>(p[2]) << 8 | p[3];
}
inline void put16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
inline void put32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

// RFC 1071 Internet checksum over `n` octets, folded, complemented. `sum` carries a partial sum (for
// pseudo-headers). A buffer whose checksum field is correct sums to 0.
std::uint16_t inet_checksum(const std::uint8_t* p, std::size_t n, std::uint32_t sum = 0);
// Partial (unfolded) sum of the TCP/UDP pseudo-header.
std::uint32_t pseudo_header_sum(ip4_addr src, ip4_addr dst, std::uint8_t proto, std::uint16_t length);

// ---- Ethernet -----------------------------------------------------------------------------------------
struct eth_view {
  mac_addr dst, src;
  std::uint16_t ethertype;
  const std::uint8_t* payload;
  std::size_t payload_len;  // everything after the 14-byte header (padding included)
};
std::optional<eth_view> parse_eth(const std::uint8_t* p, std::size_t n);
// Header + payload, zero-padded to 60 octets when `pad` is set (the FCS is never included).
octets build_eth(const mac_addr& dst, const mac_addr& src, std::uint16_t ethertype, const octets& payload,
                bool pad = true);

// ---- ARP (Ethernet/IPv4 only) ---------------------------------------------------------------------------
constexpr std::uint16_t arp_request = 1, arp_reply = 2;
struct arp_view {
  std::uint16_t op;
  mac_addr sha;
  ip4_addr spa;
  mac_addr tha;
  ip4_addr tpa;
};
std::optional<arp_view> parse_arp(const std::uint8_t* p, std::size_t n);  // payload of an ARP frame
octets build_arp(std::uint16_t op, const mac_addr& sha, ip4_addr spa, const mac_addr& tha, ip4_addr tpa);

// ---- IPv4 ---------------------------------------------------------------------------------------------
struct ipv4_fields {
  ip4_addr src = 0, dst = 0;
  std::uint8_t proto = 0;
  std::uint8_t ttl = 128;
  std::uint8_t tos = 0;
  std::uint16_t id = 0;
  std::uint16_t frag = 0x4000;  // flags + fragment offset (0x4000 = DF)
  octets options;                // raw options (length a multiple of 4, at most 40)
};
struct ipv4_view {
  ipv4_fields h;                // options copied out
  std::uint8_t ihl;             // header length in 32-bit words
  std::uint16_t total_len;
  bool checksum_ok;
  bool is_fragment;             // MF set or offset != 0
  const std::uint8_t* payload;
  std::size_t payload_len;      // total_len - header length (padding after total_len excluded)
};
// Rejects: fewer than 20 octets, version != 4, IHL < 5, header or total length past the buffer,
// total_len < header length. Checksum and fragmentation are reported, not rejected.
std::optional<ipv4_view> parse_ipv4(const std::uint8_t* p, std::size_t n);
octets build_ipv4(const ipv4_fields& h, const octets& payload);

// ---- ICMP ---------------------------------------------------------------------------------------------
struct icmp_view {
  std::uint8_t type, code;
  bool checksum_ok;
  std::uint32_t rest;           // octets 4..7 (identifier and sequence for echo)
  const std::uint8_t* payload;  // after the 8-byte header
  std::size_t payload_len;
};
std::optional<icmp_view> parse_icmp(const std::uint8_t* p, std::size_t n);  // IPv4 payload
octets build_icmp(std::uint8_t type, std::uint8_t code, std::uint32_t rest, const octets& payload);

// ---- UDP ----------------------------------------------------------------------------------------------
struct udp_view {
  std::uint16_t src_port, dst_port, length;
  bool checksum_ok;             // true also when the checksum field is 0 (not computed)
  const std::uint8_t* payload;
  std::size_t payload_len;      // length - 8
};
// Rejects fewer than 8 octets and length < 8 or past the buffer.
std::optional<udp_view> parse_udp(const std::uint8_t* p, std::size_t n, ip4_addr src, ip4_addr dst);
octets build_udp(ip4_addr src, ip4_addr dst, std::uint16_t src_port, std::uint16_t dst_port,
                const octets& payload);

// ---- TCP ----------------------------------------------------------------------------------------------
enum : std::uint8_t { TCP_FIN = 0x01, TCP_SYN = 0x02, TCP_RST = 0x04, TCP_PSH = 0x08, TCP_ACK = 0x10, TCP_URG = 0x20 };
struct tcp_fields {
  std::uint16_t src_port = 0, dst_port = 0;
  std::uint32_t seq = 0, ack = 0;
  std::uint8_t flags = 0;
  std::uint16_t window = 0;
  std::uint16_t urgent = 0;
  std::optional<std::uint16_t> mss;  // MSS option (the only option the W5500 sends)
};
struct tcp_view {
  tcp_fields h;                 // mss filled from the options when present and well-formed
  std::uint8_t data_offset;     // header length in 32-bit words
  bool checksum_ok;
  const std::uint8_t* payload;
  std::size_t payload_len;
};
// Rejects fewer than 20 octets, data offset < 5 or past the buffer. Malformed options are ignored.
std::optional<tcp_view> parse_tcp(const std::uint8_t* p, std::size_t n, ip4_addr src, ip4_addr dst);
octets build_tcp(ip4_addr src, ip4_addr dst, const tcp_fields& h, const octets& payload);
// The header of the RST that answers `seg` when no connection wants it (RFC 793 §3.4, "Reset Generation"):
// seq = the segment's ACK if it had one; otherwise seq 0 with RST+ACK acknowledging everything it occupied.
tcp_fields tcp_reset_for(const tcp_view& seg);

// ---- Whole frames --------------------------------------------------------------------------------------
// Ethernet + IPv4 + UDP / ICMP / TCP in one call (padded to 60 octets).
octets udp_frame(const mac_addr& dst_mac, const mac_addr& src_mac, const ipv4_fields& ip, std::uint16_t src_port,
                std::uint16_t dst_port, const octets& payload);
octets icmp_frame(const mac_addr& dst_mac, const mac_addr& src_mac, const ipv4_fields& ip, std::uint8_t type,
                 std::uint8_t code, std::uint32_t rest, const octets& payload);
octets tcp_frame(const mac_addr& dst_mac, const mac_addr& src_mac, const ipv4_fields& ip, const tcp_fields& tcp,
                const octets& payload);

}  // namespace wizsim
