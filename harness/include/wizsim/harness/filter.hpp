// Frame filters: a small expression language over decoded Ethernet frames, used by fault injection
// ("drop the 3rd frame matching udp.dport == 67") and by the scripted peer ("expect tcp.flags.syn &&
// tcp.flags.ack within 10ms"). Field names follow Wireshark's display filters where they overlap.
//
// Grammar (whitespace between tokens is ignored):
//   expr    := or
//   or      := and ( "||" and )*
//   and     := unary ( "&&" unary )*
//   unary   := "!" unary | "(" expr ")" | compare
//   compare := field [ op value ]          (a bare field is true when the frame has that field / layer)
//   op      := "==" | "!=" | "<" | "<=" | ">" | ">="
//   value   := decimal | 0xHEX | dotted IPv4 | colon-separated MAC | name of a constant (see below)
// Fields: frame.len, eth.dst, eth.src, eth.type, eth.bcast, eth.mcast, arp, arp.op, arp.spa, arp.tpa,
//   arp.sha, ip, ip.src, ip.dst, ip.proto, ip.ttl, ip.id, ip.len, ip.frag, icmp, icmp.type, icmp.code, igmp,
//   udp, udp.sport, udp.dport, udp.port (either), udp.len, tcp, tcp.sport, tcp.dport, tcp.port (either),
//   tcp.seq, tcp.ack, tcp.win, tcp.len, tcp.flags, tcp.flags.syn/.ack/.fin/.rst/.psh/.urg, tcp.mss,
//   dhcp (UDP 67/68), dhcp.type (option 53), dhcp.xid, dns (UDP 53), dns.id, dns.qr, dns.rcode.
// Constants: arp.op: request/reply; dhcp.type: discover offer request decline ack nak release inform;
//   ip.proto: icmp igmp tcp udp; eth.type: ipv4 arp ipv6.
// A field missing from a frame makes every comparison on it false (so "!udp.dport == 53" is true for ARP).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "wizsim/packet.hpp"

namespace wizsim {

class frame_filter {
 public:
  using predicate = std::function<bool(const std::uint8_t* frame, std::size_t n)>;

  // Matches every frame.
  frame_filter();
  // Parses `expr`; throws std::invalid_argument naming the offending token and its column.
  static frame_filter parse(std::string_view expr);
  // A filter from code (text() returns `description`).
  static frame_filter from(predicate p, std::string description);

  bool operator()(const std::uint8_t* frame, std::size_t n) const { return m_pred(frame, n); }
  bool operator()(const octets& f) const { return m_pred(f.data(), f.size()); }
  const std::string& text() const { return m_text; }  // "" for match-all
  bool matches_all() const { return m_text.empty(); }

 private:
  predicate m_pred;
  std::string m_text;
};

}  // namespace wizsim
