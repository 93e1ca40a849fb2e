// Frame filters: tokenizer, recursive-descent parser into a predicate tree, and field extraction over the
// packet.hpp parsers. See filter.hpp for the grammar and the field list.
//
// Choices the header leaves open, made here:
// - A bare flag field (eth.bcast, eth.mcast, tcp.flags.syn ...) is true when the flag is set; every other
//   bare field is true when the frame has it. Compared, flags are 0 or 1.
// - eth.mcast is the group bit without broadcast (eth.bcast covers that).
// - ip.frag is 1 for a fragment (MF set or a non-zero offset), else 0. A non-first fragment carries no
//   transport header, so icmp/igmp/udp/tcp/dhcp/dns are all missing from it.
// - udp.port / tcp.port hold both ports: "==" and the orderings are true when either port satisfies them;
//   "!=" is true when neither port equals the value (so it is exactly "!(tcp.port == v)" on TCP frames).
// - dhcp needs a UDP payload of at least 240 octets with the magic cookie; dns needs the 12-octet header.
// - tcp.len is the payload length; ip.len the total length field; udp.len the UDP length field.
// - An IPv4 literal can only be compared with an address field, a MAC only with a MAC field; a constant
//   name only with its own field. An empty (all-blank) expression is the match-all filter.
#include "wizsim/harness/filter.hpp"

#include <cctype>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

namespace wizsim {

namespace {

// ---- fields -----------------------------------------------------------------------------------------------

enum class field_id : std::uint8_t {
  frame_len, eth_dst, eth_src, eth_type, eth_bcast, eth_mcast,
  arp, arp_op, arp_spa, arp_tpa, arp_sha,
  ip, ip_src, ip_dst, ip_proto, ip_ttl, ip_id, ip_len, ip_frag,
  icmp, icmp_type, icmp_code, igmp,
  udp, udp_sport, udp_dport, udp_port, udp_len,
  tcp, tcp_sport, tcp_dport, tcp_port, tcp_seq, tcp_ack, tcp_win, tcp_len, tcp_flags,
  tcp_syn, tcp_ack_flag, tcp_fin, tcp_rst, tcp_psh, tcp_urg, tcp_mss,
  dhcp, dhcp_type, dhcp_xid, dns, dns_id, dns_qr, dns_rcode
};

// What a field holds decides which literals it may be compared with and what a bare mention means.
enum class field_kind : std::uint8_t { number, ip, mac, flag, layer };

// How far a frame must be decoded to read the field: decoding stops at the deepest layer any field of
// the expression needs.
enum class depth : std::uint8_t { frame, eth, net, transport, app };

struct named_constant {
  const char* name;
  std::uint64_t value;
};

struct field_info {
  const char* name;
  field_id id;
  field_kind kind;
  depth need;
  std::vector<named_constant> constants;
};

const std::vector<field_info>& fields() {
  static const std::vector<field_info> table = {
      {"frame.len", field_id::frame_len, field_kind::number, depth::frame, {}},
      {"eth.dst", field_id::eth_dst, field_kind::mac, depth::eth, {}},
      {"eth.src", field_id::eth_src, field_kind::mac, depth::eth, {}},
      {"eth.type", field_id::eth_type, field_kind::number, depth::eth,
       {{"ipv4", ethertype_ipv4}, {"arp", ethertype_arp}, {"ipv6", ethertype_ipv6}}},
      {"eth.bcast", field_id::eth_bcast, field_kind::flag, depth::eth, {}},
      {"eth.mcast", field_id::eth_mcast, field_kind::flag, depth::eth, {}},
      {"arp", field_id::arp, field_kind::layer, depth::net, {}},
      {"arp.op", field_id::arp_op, field_kind::number, depth::net,
       {{"request", arp_request}, {"reply", arp_reply}}},
      {"arp.spa", field_id::arp_spa, field_kind::ip, depth::net, {}},
      {"arp.tpa", field_id::arp_tpa, field_kind::ip, depth::net, {}},
      {"arp.sha", field_id::arp_sha, field_kind::mac, depth::net, {}},
      {"ip", field_id::ip, field_kind::layer, depth::net, {}},
      {"ip.src", field_id::ip_src, field_kind::ip, depth::net, {}},
      {"ip.dst", field_id::ip_dst, field_kind::ip, depth::net, {}},
      {"ip.proto", field_id::ip_proto, field_kind::number, depth::net,
       {{"icmp", ip_proto_icmp}, {"igmp", ip_proto_igmp}, {"tcp", ip_proto_tcp}, {"udp", ip_proto_udp}}},
      {"ip.ttl", field_id::ip_ttl, field_kind::number, depth::net, {}},
      {"ip.id", field_id::ip_id, field_kind::number, depth::net, {}},
      {"ip.len", field_id::ip_len, field_kind::number, depth::net, {}},
      {"ip.frag", field_id::ip_frag, field_kind::flag, depth::net, {}},
      {"icmp", field_id::icmp, field_kind::layer, depth::transport, {}},
      {"icmp.type", field_id::icmp_type, field_kind::number, depth::transport, {}},
      {"icmp.code", field_id::icmp_code, field_kind::number, depth::transport, {}},
      {"igmp", field_id::igmp, field_kind::layer, depth::transport, {}},
      {"udp", field_id::udp, field_kind::layer, depth::transport, {}},
      {"udp.sport", field_id::udp_sport, field_kind::number, depth::transport, {}},
      {"udp.dport", field_id::udp_dport, field_kind::number, depth::transport, {}},
      {"udp.port", field_id::udp_port, field_kind::number, depth::transport, {}},
      {"udp.len", field_id::udp_len, field_kind::number, depth::transport, {}},
      {"tcp", field_id::tcp, field_kind::layer, depth::transport, {}},
      {"tcp.sport", field_id::tcp_sport, field_kind::number, depth::transport, {}},
      {"tcp.dport", field_id::tcp_dport, field_kind::number, depth::transport, {}},
      {"tcp.port", field_id::tcp_port, field_kind::number, depth::transport, {}},
      {"tcp.seq", field_id::tcp_seq, field_kind::number, depth::transport, {}},
      {"tcp.ack", field_id::tcp_ack, field_kind::number, depth::transport, {}},
      {"tcp.win", field_id::tcp_win, field_kind::number, depth::transport, {}},
      {"tcp.len", field_id::tcp_len, field_kind::number, depth::transport, {}},
      {"tcp.flags", field_id::tcp_flags, field_kind::number, depth::transport, {}},
      {"tcp.flags.syn", field_id::tcp_syn, field_kind::flag, depth::transport, {}},
      {"tcp.flags.ack", field_id::tcp_ack_flag, field_kind::flag, depth::transport, {}},
      {"tcp.flags.fin", field_id::tcp_fin, field_kind::flag, depth::transport, {}},
      {"tcp.flags.rst", field_id::tcp_rst, field_kind::flag, depth::transport, {}},
      {"tcp.flags.psh", field_id::tcp_psh, field_kind::flag, depth::transport, {}},
      {"tcp.flags.urg", field_id::tcp_urg, field_kind::flag, depth::transport, {}},
      {"tcp.mss", field_id::tcp_mss, field_kind::number, depth::transport, {}},
      {"dhcp", field_id::dhcp, field_kind::layer, depth::app, {}},
      {"dhcp.type", field_id::dhcp_type, field_kind::number, depth::app,
       {{"discover", 1}, {"offer", 2}, {"request", 3}, {"decline", 4}, {"ack", 5}, {"nak", 6},
        {"release", 7}, {"inform", 8}}},
      {"dhcp.xid", field_id::dhcp_xid, field_kind::number, depth::app, {}},
      {"dns", field_id::dns, field_kind::layer, depth::app, {}},
      {"dns.id", field_id::dns_id, field_kind::number, depth::app, {}},
      {"dns.qr", field_id::dns_qr, field_kind::flag, depth::app, {}},
      {"dns.rcode", field_id::dns_rcode, field_kind::number, depth::app, {}},
  };
  return table;
}

const field_info* find_field(std::string_view name) {
  for (const auto& f : fields())
    if (name == f.name) return &f;
  return nullptr;
}

// ---- decoding ---------------------------------------------------------------------------------------------

constexpr std::uint16_t dhcp_server_port = 67, dhcp_client_port = 68, dns_port = 53;
constexpr std::size_t dhcp_fixed_len = 236, dhcp_cookie_len = 4, dns_header_len = 12;
constexpr std::uint32_t dhcp_magic_cookie = 0x63825363;
constexpr std::uint8_t dhcp_opt_pad = 0, dhcp_opt_end = 255, dhcp_opt_message_type = 53;

// One frame decoded as deep as the expression needs. Every parser bounds-checks against the frame.
struct decoded {
  std::size_t n = 0;
  std::optional<eth_view> eth;
  std::optional<arp_view> arp;
  std::optional<ipv4_view> ip;
  std::optional<icmp_view> icmp;
  bool igmp = false;
  std::optional<udp_view> udp;
  std::optional<tcp_view> tcp;
  bool dhcp = false;
  std::uint32_t dhcp_xid = 0;
  std::optional<std::uint8_t> dhcp_type;
  bool dns = false;
  std::uint16_t dns_id = 0;
  bool dns_qr = false;
  std::uint8_t dns_rcode = 0;
};

void decode_dhcp(decoded& d) {
  const udp_view& u = *d.udp;
  const bool port_ok = u.src_port == dhcp_server_port || u.src_port == dhcp_client_port ||
                       u.dst_port == dhcp_server_port || u.dst_port == dhcp_client_port;
  if (!port_ok || u.payload_len < dhcp_fixed_len + dhcp_cookie_len) return;
  const std::uint8_t* p = u.payload;
  if (get32(p + dhcp_fixed_len) != dhcp_magic_cookie) return;
  d.dhcp = true;
  d.dhcp_xid = get32(p + 4);
  // Options: code, length, data; pad and end are single octets. A truncated option ends the walk.
  for (std::size_t i = dhcp_fixed_len + dhcp_cookie_len; i < u.payload_len;) {
    const std::uint8_t code = p[i];
    if (code == dhcp_opt_end) break;
    if (code == dhcp_opt_pad) {
      ++i;
      continue;
    }
    if (i + 1 >= u.payload_len) break;
    const std::size_t len = p[i + 1];
    if (i + 2 + len > u.payload_len) break;
    if (code == dhcp_opt_message_type && len >= 1) {
      d.dhcp_type = p[i + 2];
      break;
    }
    i += 2 + len;
  }
}

void decode_dns(decoded& d) {
  const udp_view& u = *d.udp;
  if ((u.src_port != dns_port && u.dst_port != dns_port) || u.payload_len < dns_header_len) return;
  d.dns = true;
  d.dns_id = get16(u.payload);
  d.dns_qr = (u.payload[2] & 0x80) != 0;
  d.dns_rcode = static_cast<std::uint8_t>(u.payload[3] & 0x0F);
}

decoded decode(const std::uint8_t* f, std::size_t n, depth need) {
  decoded d;
  d.n = n;
  if (need == depth::frame || f == nullptr) return d;
  d.eth = parse_eth(f, n);
  if (!d.eth || need == depth::eth) return d;
  if (d.eth->ethertype == ethertype_arp) {
    d.arp = parse_arp(d.eth->payload, d.eth->payload_len);
    return d;
  }
  if (d.eth->ethertype != ethertype_ipv4) return d;
  d.ip = parse_ipv4(d.eth->payload, d.eth->payload_len);
  if (!d.ip || need == depth::net) return d;
  if ((d.ip->h.frag & 0x1FFF) != 0) return d;  // a later fragment: no transport header here
  const std::uint8_t* p = d.ip->payload;
  const std::size_t len = d.ip->payload_len;
  switch (d.ip->h.proto) {
    case ip_proto_icmp: d.icmp = parse_icmp(p, len); break;
    case ip_proto_igmp: d.igmp = true; break;
    case ip_proto_udp: d.udp = parse_udp(p, len, d.ip->h.src, d.ip->h.dst); break;
    case ip_proto_tcp: d.tcp = parse_tcp(p, len, d.ip->h.src, d.ip->h.dst); break;
    default: break;
  }
  if (need == depth::transport || !d.udp) return d;
  decode_dhcp(d);
  decode_dns(d);
  return d;
}

std::uint64_t mac_value(const mac_addr& m) {
  std::uint64_t v = 0;
  for (auto b : m) v = v << 8 | b;
  return v;
}

// A field's value(s) in one frame: none (missing), one, or two (udp.port / tcp.port).
struct values {
  int count = 0;
  std::uint64_t v[2] = {0, 0};
  static values none() { return {}; }
  static values one(std::uint64_t a) { return {1, {a, 0}}; }
  static values two(std::uint64_t a, std::uint64_t b) { return {2, {a, b}}; }
};

values extract(field_id id, const decoded& d) {
  auto flag = [](bool b) { return values::one(b ? 1 : 0); };
  switch (id) {
    case field_id::frame_len: return values::one(d.n);
    default: break;
  }
  if (!d.eth) return values::none();
  const eth_view& e = *d.eth;
  switch (id) {
    case field_id::eth_dst: return values::one(mac_value(e.dst));
    case field_id::eth_src: return values::one(mac_value(e.src));
    case field_id::eth_type: return values::one(e.ethertype);
    case field_id::eth_bcast: return flag(e.dst == broadcast_mac);
    case field_id::eth_mcast: return flag((e.dst[0] & 1) != 0 && e.dst != broadcast_mac);
    default: break;
  }
  if (d.arp) {
    const arp_view& a = *d.arp;
    switch (id) {
      case field_id::arp: return values::one(1);
      case field_id::arp_op: return values::one(a.op);
      case field_id::arp_spa: return values::one(a.spa);
      case field_id::arp_tpa: return values::one(a.tpa);
      case field_id::arp_sha: return values::one(mac_value(a.sha));
      default: return values::none();
    }
  }
  if (!d.ip) return values::none();
  const ipv4_view& ip = *d.ip;
  switch (id) {
    case field_id::ip: return values::one(1);
    case field_id::ip_src: return values::one(ip.h.src);
    case field_id::ip_dst: return values::one(ip.h.dst);
    case field_id::ip_proto: return values::one(ip.h.proto);
    case field_id::ip_ttl: return values::one(ip.h.ttl);
    case field_id::ip_id: return values::one(ip.h.id);
    case field_id::ip_len: return values::one(ip.total_len);
    case field_id::ip_frag: return flag(ip.is_fragment);
    case field_id::igmp: return d.igmp ? values::one(1) : values::none();
    default: break;
  }
  if (d.icmp) {
    switch (id) {
      case field_id::icmp: return values::one(1);
      case field_id::icmp_type: return values::one(d.icmp->type);
      case field_id::icmp_code: return values::one(d.icmp->code);
      default: return values::none();
    }
  }
  if (d.tcp) {
    const tcp_fields& t = d.tcp->h;
    switch (id) {
      case field_id::tcp: return values::one(1);
      case field_id::tcp_sport: return values::one(t.src_port);
      case field_id::tcp_dport: return values::one(t.dst_port);
      case field_id::tcp_port: return values::two(t.src_port, t.dst_port);
      case field_id::tcp_seq: return values::one(t.seq);
      case field_id::tcp_ack: return values::one(t.ack);
      case field_id::tcp_win: return values::one(t.window);
      case field_id::tcp_len: return values::one(d.tcp->payload_len);
      case field_id::tcp_flags: return values::one(t.flags);
      case field_id::tcp_syn: return flag(t.flags & TCP_SYN);
      case field_id::tcp_ack_flag: return flag(t.flags & TCP_ACK);
      case field_id::tcp_fin: return flag(t.flags & TCP_FIN);
      case field_id::tcp_rst: return flag(t.flags & TCP_RST);
      case field_id::tcp_psh: return flag(t.flags & TCP_PSH);
      case field_id::tcp_urg: return flag(t.flags & TCP_URG);
      case field_id::tcp_mss: return t.mss ? values::one(*t.mss) : values::none();
      default: return values::none();
    }
  }
  if (!d.udp) return values::none();
  const udp_view& u = *d.udp;
  switch (id) {
    case field_id::udp: return values::one(1);
    case field_id::udp_sport: return values::one(u.src_port);
    case field_id::udp_dport: return values::one(u.dst_port);
    case field_id::udp_port: return values::two(u.src_port, u.dst_port);
    case field_id::udp_len: return values::one(u.length);
    case field_id::dhcp: return d.dhcp ? values::one(1) : values::none();
    case field_id::dhcp_type: return d.dhcp_type ? values::one(*d.dhcp_type) : values::none();
    case field_id::dhcp_xid: return d.dhcp ? values::one(d.dhcp_xid) : values::none();
    case field_id::dns: return d.dns ? values::one(1) : values::none();
    case field_id::dns_id: return d.dns ? values::one(d.dns_id) : values::none();
    case field_id::dns_qr: return d.dns ? flag(d.dns_qr) : values::none();
    case field_id::dns_rcode: return d.dns ? values::one(d.dns_rcode) : values::none();
    default: return values::none();
  }
}

// ---- predicate tree ---------------------------------------------------------------------------------------

enum class op_kind : std::uint8_t { eq, ne, lt, le, gt, ge };

struct node {
  enum class kind : std::uint8_t { both, either, negate, compare, present } k;
  std::unique_ptr<node> a, b;
  const field_info* field = nullptr;
  op_kind op = op_kind::eq;
  std::uint64_t value = 0;
};

bool holds(op_kind op, std::uint64_t x, std::uint64_t v) {
  switch (op) {
    case op_kind::eq: return x == v;
    case op_kind::ne: return x != v;
    case op_kind::lt: return x < v;
    case op_kind::le: return x <= v;
    case op_kind::gt: return x > v;
    case op_kind::ge: return x >= v;
  }
  return false;
}

bool eval(const node& n, const decoded& d) {
  switch (n.k) {
    case node::kind::both: return eval(*n.a, d) && eval(*n.b, d);
    case node::kind::either: return eval(*n.a, d) || eval(*n.b, d);
    case node::kind::negate: return !eval(*n.a, d);
    case node::kind::present: {
      const values v = extract(n.field->id, d);
      if (v.count == 0) return false;
      return n.field->kind == field_kind::flag ? v.v[0] != 0 : true;
    }
    case node::kind::compare: {
      const values v = extract(n.field->id, d);
      if (v.count == 0) return false;
      if (n.op == op_kind::ne) {  // "neither equals" for the two-valued port fields
        for (int i = 0; i < v.count; ++i)
          if (v.v[i] == n.value) return false;
        return true;
      }
      for (int i = 0; i < v.count; ++i)
        if (holds(n.op, v.v[i], n.value)) return true;
      return false;
    }
  }
  return false;
}

// ---- tokens -----------------------------------------------------------------------------------------------

enum class tok : std::uint8_t { word, op, lparen, rparen, land, lor, bang, end };

struct token {
  tok t;
  std::string text;
  std::size_t column;  // 1-based
  op_kind op = op_kind::eq;
};

// Value of a digit already known to be hex.
unsigned hex_digit(char c) {
  const int l = std::tolower(static_cast<unsigned char>(c));
  return static_cast<unsigned>(std::isdigit(l) ? l - '0' : l - 'a' + 10);
}

bool word_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == ':';
}

class parser {
 public:
  explicit parser(std::string_view expr) : m_expr(expr) { tokenize(); }

  std::unique_ptr<node> parse() {
    auto n = parse_or();
    if (cur().t != tok::end) fail(cur(), "expected '&&', '||' or the end of the expression");
    return n;
  }
  depth need() const { return m_need; }

 private:
  [[noreturn]] void fail(const token& t, const std::string& what) const {
    const std::string shown = t.t == tok::end ? "end of expression" : "'" + t.text + "'";
    throw std::invalid_argument("filter \"" + std::string(m_expr) + "\": " + shown + " at column " +
                                std::to_string(t.column) + ": " + what);
  }

  void tokenize() {
    std::size_t i = 0;
    const std::size_t n = m_expr.size();
    while (i < n) {
      const char c = m_expr[i];
      const std::size_t col = i + 1;
      if (std::isspace(static_cast<unsigned char>(c))) {
        ++i;
        continue;
      }
      auto two = [&](char next) { return i + 1 < n && m_expr[i + 1] == next; };
      auto push = [&](tok t, std::size_t len, op_kind op = op_kind::eq) {
        m_tokens.push_back(token{t, std::string(m_expr.substr(i, len)), col, op});
        i += len;
      };
      if (c == '(') push(tok::lparen, 1);
      else if (c == ')') push(tok::rparen, 1);
      else if (c == '&' && two('&')) push(tok::land, 2);
      else if (c == '|' && two('|')) push(tok::lor, 2);
      else if (c == '=' && two('=')) push(tok::op, 2, op_kind::eq);
      else if (c == '!' && two('=')) push(tok::op, 2, op_kind::ne);
      else if (c == '!') push(tok::bang, 1);
      else if (c == '<' && two('=')) push(tok::op, 2, op_kind::le);
      else if (c == '<') push(tok::op, 1, op_kind::lt);
      else if (c == '>' && two('=')) push(tok::op, 2, op_kind::ge);
      else if (c == '>') push(tok::op, 1, op_kind::gt);
      else if (word_char(c)) {
        std::size_t j = i;
        while (j < n && word_char(m_expr[j])) ++j;
        push(tok::word, j - i);
      } else {
        // A lone '&', '|' or '=' is the usual slip: name the operator that was probably meant.
        std::string hint = "unexpected character";
        if (c == '&') hint = "unexpected character (did you mean '&&'?)";
        else if (c == '|') hint = "unexpected character (did you mean '||'?)";
        else if (c == '=') hint = "unexpected character (did you mean '=='?)";
        fail(token{tok::word, std::string(1, c), col}, hint);
      }
    }
    m_tokens.push_back(token{tok::end, "", n + 1});
  }

  const token& cur() const { return m_tokens[m_pos]; }
  const token& take() { return m_tokens[m_pos++]; }

  std::unique_ptr<node> join(node::kind k, std::unique_ptr<node> a, std::unique_ptr<node> b) {
    auto n = std::make_unique<node>();
    n->k = k;
    n->a = std::move(a);
    n->b = std::move(b);
    return n;
  }

  std::unique_ptr<node> parse_or() {
    auto left = parse_and();
    while (cur().t == tok::lor) {
      take();
      left = join(node::kind::either, std::move(left), parse_and());
    }
    return left;
  }

  std::unique_ptr<node> parse_and() {
    auto left = parse_unary();
    while (cur().t == tok::land) {
      take();
      left = join(node::kind::both, std::move(left), parse_unary());
    }
    return left;
  }

  std::unique_ptr<node> parse_unary() {
    if (cur().t == tok::bang) {
      take();
      return join(node::kind::negate, parse_unary(), nullptr);
    }
    if (cur().t == tok::lparen) {
      const token open = take();
      auto inner = parse_or();
      if (cur().t != tok::rparen)
        fail(cur(), "expected ')' to close the '(' at column " + std::to_string(open.column));
      take();
      return inner;
    }
    return parse_compare();
  }

  std::unique_ptr<node> parse_compare() {
    const token& name = cur();
    if (name.t != tok::word) fail(name, "expected a field name, '!' or '('");
    const field_info* f = find_field(name.text);
    if (f == nullptr) fail(name, "unknown field");
    take();
    if (f->need > m_need) m_need = f->need;
    auto n = std::make_unique<node>();
    n->field = f;
    if (cur().t != tok::op) {
      n->k = node::kind::present;
      return n;
    }
    n->k = node::kind::compare;
    n->op = take().op;
    const token& v = cur();
    if (v.t != tok::word) fail(v, "expected a value after the operator");
    n->value = value_for(*f, v);
    take();
    return n;
  }

  // ---- literals -------------------------------------------------------------------------------------------

  static bool all_of(std::string_view s, int (*pred)(int)) {
    for (char c : s)
      if (!pred(static_cast<unsigned char>(c))) return false;
    return !s.empty();
  }

  // Decimal or 0x-hex, no overflow past 64 bits.
  std::optional<std::uint64_t> number(const token& t) const {
    std::string_view s = t.text;
    int base = 10;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
      s.remove_prefix(2);
      base = 16;
      if (!all_of(s, [](int c) { return std::isxdigit(c); })) return std::nullopt;
    } else if (!all_of(s, [](int c) { return std::isdigit(c); })) {
      return std::nullopt;
    }
    std::uint64_t v = 0;
    for (char c : s) {
      const unsigned d = hex_digit(c);
      if (v > (~std::uint64_t{0} - d) / static_cast<unsigned>(base)) fail(t, "number out of range");
      v = v * static_cast<unsigned>(base) + d;
    }
    return v;
  }

  // Splits on `sep`; each part 1..max_len characters accepted by `pred`.
  static std::optional<std::vector<std::string_view>> split(std::string_view s, char sep, std::size_t parts) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    for (;;) {
      const std::size_t at = s.find(sep, start);
      out.push_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
      if (at == std::string_view::npos) break;
      start = at + 1;
    }
    if (out.size() != parts) return std::nullopt;
    return out;
  }

  std::optional<std::uint64_t> ipv4(const token& t) const {
    auto parts = split(t.text, '.', 4);
    if (!parts) return std::nullopt;
    std::uint64_t v = 0;
    for (auto p : *parts) {
      if (p.size() > 3 || !all_of(p, [](int c) { return std::isdigit(c); })) return std::nullopt;
      unsigned octet = 0;
      for (char c : p) octet = octet * 10 + static_cast<unsigned>(c - '0');
      if (octet > 255) fail(t, "IPv4 address octet out of range");
      v = v << 8 | octet;
    }
    return v;
  }

  std::optional<std::uint64_t> mac(const token& t) const {
    auto parts = split(t.text, ':', 6);
    if (!parts) return std::nullopt;
    std::uint64_t v = 0;
    for (auto p : *parts) {
      if (p.size() > 2 || !all_of(p, [](int c) { return std::isxdigit(c); })) return std::nullopt;
      unsigned octet = 0;
      for (char c : p) octet = octet * 16 + hex_digit(c);
      v = v << 8 | octet;
    }
    return v;
  }

  std::uint64_t value_for(const field_info& f, const token& t) const {
    const std::string& s = t.text;
    if (s.find(':') != std::string::npos) {
      auto m = mac(t);
      if (!m) fail(t, "malformed MAC address (expected six hex octets like 02:00:00:00:00:01)");
      if (f.kind != field_kind::mac) fail(t, std::string("a MAC address cannot be compared with ") + f.name);
      return *m;
    }
    if (s.find('.') != std::string::npos && std::isdigit(static_cast<unsigned char>(s[0]))) {
      auto a = ipv4(t);
      if (!a) fail(t, "malformed IPv4 address (expected a dotted quad like 10.0.0.1)");
      if (f.kind != field_kind::ip)
        fail(t, std::string("an IPv4 address cannot be compared with ") + f.name);
      return *a;
    }
    if (std::isdigit(static_cast<unsigned char>(s[0]))) {
      auto v = number(t);
      if (!v) fail(t, "malformed number (expected decimal or 0x-prefixed hex)");
      return *v;
    }
    for (const auto& c : f.constants)
      if (s == c.name) return c.value;
    std::string known;
    for (const auto& c : f.constants) known += (known.empty() ? "" : ", ") + std::string(c.name);
    if (known.empty()) fail(t, std::string("not a value for ") + f.name + " (it takes no named constants)");
    fail(t, std::string("unknown constant for ") + f.name + " (known: " + known + ")");
  }

  std::string_view m_expr;
  std::vector<token> m_tokens;
  std::size_t m_pos = 0;
  depth m_need = depth::frame;
};

std::string trimmed(std::string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

}  // namespace

frame_filter::frame_filter() : m_pred([](const std::uint8_t*, std::size_t) { return true; }) {}

frame_filter frame_filter::parse(std::string_view expr) {
  frame_filter f;
  std::string text = trimmed(expr);
  if (text.empty()) return f;  // "" is how a match-all filter reads back
  parser p(expr);
  std::shared_ptr<const node> root = p.parse();
  const depth need = p.need();
  f.m_pred = [root, need](const std::uint8_t* frame, std::size_t n) {
    return eval(*root, decode(frame, n, need));
  };
  f.m_text = std::move(text);
  return f;
}

frame_filter frame_filter::from(predicate p, std::string description) {
  if (!p) throw std::invalid_argument("frame_filter::from: empty predicate");
  frame_filter f;
  f.m_pred = std::move(p);
  // An empty text means match-all; a predicate from code is not that, whatever it was called.
  f.m_text = description.empty() ? "<predicate>" : std::move(description);
  return f;
}

}  // namespace wizsim
