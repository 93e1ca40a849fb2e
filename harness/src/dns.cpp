#include "wizsim/harness/dns.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

#include "wizsim/harness/peer.hpp"

namespace wizsim {

namespace {

bool fail(std::string* why, std::string msg) {
  if (why != nullptr) *why = std::move(msg);
  return false;
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}
std::uint8_t lower(std::uint8_t c) {
  return c >= 'A' && c <= 'Z' ? static_cast<std::uint8_t>(c - 'A' + 'a') : c;
}

// One label's octets as text, escaping what would be ambiguous or unprintable.
void append_label_text(std::string& out, const std::uint8_t* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t c = p[i];
    if (c == '.' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c <= 0x20 || c >= 0x7F) {
      out += fmt::format("\\{:03}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
}

// Reads a name at `pos` of message `msg` (`len` octets). The name's own octets (before any pointer) must
// lie below `end` (the end of the rdata for names inside a record); pointers may reach anywhere earlier
// in the message. `wire` gets the uncompressed name, `next` the offset just after the name as stored.
//
// Loop safety: every pointer must land strictly before the place the previous jump landed (before the
// name's start for the first one). Offsets therefore strictly decrease, so a chain of pointers ends after
// at most `len` jumps, and no octet is read twice. Genuine compression always satisfies this: a pointer
// refers to a name written earlier in the message.
bool read_name(const std::uint8_t* msg, std::size_t len, std::size_t pos, std::size_t end, octets& wire,
               std::size_t& next, std::string* why) {
  wire.clear();
  std::size_t p = pos;
  std::size_t bound = end;
  std::size_t floor = pos;
  bool jumped = false;
  for (;;) {
    if (p >= bound) return fail(why, fmt::format("name at {} runs past the end", pos));
    const std::uint8_t b = msg[p];
    if (b == 0) {
      wire.push_back(0);
      if (!jumped) next = p + 1;
      return true;
    }
    switch (b & 0xC0) {
      case 0xC0: {
        if (p + 1 >= bound) return fail(why, fmt::format("name at {}: compression pointer cut short", pos));
        const std::size_t target = static_cast<std::size_t>(b & 0x3F) << 8 | msg[p + 1];
        if (!jumped) next = p + 2;
        if (target >= len)
          return fail(why, fmt::format("name at {}: pointer to {} past the end ({})", pos, target, len));
        if (target < dns_header_len)
          return fail(why, fmt::format("name at {}: pointer to {} inside the header", pos, target));
        if (target == p) return fail(why, fmt::format("name at {}: pointer at {} to itself", pos, p));
        if (target > p) return fail(why, fmt::format("name at {}: forward pointer {} -> {}", pos, p, target));
        if (target >= floor)
          return fail(why, fmt::format("name at {}: pointer loop ({} -> {} is not before {})", pos, p, target,
                                       floor));
        floor = target;
        p = target;
        bound = len;
        jumped = true;
        break;
      }
      case 0x40:
      case 0x80:
        return fail(why, fmt::format("name at {}: label length {} (max 63; 0x40 and 0x80 label types are "
                                     "reserved)",
                                     pos, b));
      default: {
        const std::size_t n = b;
        if (p + 1 + n > bound)
          return fail(why, fmt::format("name at {}: label of {} runs past the end", pos, n));
        if (wire.size() + 1 + n + 1 > dns_max_name)
          return fail(why, fmt::format("name at {} is longer than {} octets", pos, dns_max_name));
        wire.insert(wire.end(), msg + p, msg + p + 1 + n);
        p += 1 + n;
      }
    }
  }
}

bool has_name_rdata(std::uint16_t type) {
  return type == dns_type_cname || type == dns_type_ns || type == dns_type_ptr || type == dns_type_mx ||
         type == dns_type_soa;
}

// Length of the uncompressed name at the start of p[0, n), or 0 if there is none.
std::size_t plain_name_len(const std::uint8_t* p, std::size_t n) {
  std::size_t i = 0;
  while (i < n) {
    const std::uint8_t b = p[i];
    if (b == 0) return i + 1 <= dns_max_name ? i + 1 : 0;
    if (b > dns_max_label) return 0;
    i += 1 + b;
  }
  return 0;
}

// The rdata layout of the name-bearing types: fixed octets before the names, the number of names, fixed
// octets after them.
struct rdata_layout {
  std::size_t before, names, after;
};
rdata_layout layout_of(std::uint16_t type) {
  switch (type) {
    case dns_type_mx:
      return {2, 1, 0};
    case dns_type_soa:
      return {0, 2, 20};
    default:
      return {0, 1, 0};  // CNAME, NS, PTR
  }
}

// Rdata of a name-bearing type, names decompressed. False if it does not fit its layout exactly.
bool read_name_rdata(const std::uint8_t* msg, std::size_t len, std::uint16_t type, std::size_t start,
                     std::size_t end, octets& out, std::string* why) {
  const rdata_layout l = layout_of(type);
  std::size_t p = start;
  if (end - p < l.before) return fail(why, fmt::format("{} rdata too short", dns_type_name(type)));
  out.assign(msg + p, msg + p + l.before);
  p += l.before;
  octets name;
  for (std::size_t i = 0; i < l.names; ++i) {
    std::size_t next = p;
    if (!read_name(msg, len, p, end, name, next, why)) return false;
    out.insert(out.end(), name.begin(), name.end());
    p = next;
  }
  if (end - p != l.after)
    return fail(why, fmt::format("{} rdata has {} octets after its name(s), expected {}", dns_type_name(type),
                                 end - p, l.after));
  out.insert(out.end(), msg + p, msg + end);
  return true;
}

class writer {
 public:
  explicit writer(bool compress) : m_compress(compress) {}
  octets out;

  void u16(std::uint16_t v) {
    out.push_back(static_cast<std::uint8_t>(v >> 8));
    out.push_back(static_cast<std::uint8_t>(v));
  }
  void u32(std::uint32_t v) {
    u16(static_cast<std::uint16_t>(v >> 16));
    u16(static_cast<std::uint16_t>(v));
  }
  void name(const std::string& text) {
    std::string why;
    auto w = dns_name_to_wire(text, &why);
    if (!w) throw std::invalid_argument("build_dns: cannot encode name '" + text + "': " + why);
    wire_name(w->data(), w->size());
  }
  // An uncompressed wire name; each suffix is replaced by a pointer when the same octets were written
  // before, and remembered when it is new and a pointer can reach it.
  void wire_name(const std::uint8_t* w, std::size_t n) {
    std::size_t i = 0;
    while (i < n && w[i] != 0) {
      if (m_compress) {
        octets suffix(w + i, w + n);
        auto it = m_seen.find(suffix);
        if (it != m_seen.end()) {
          u16(static_cast<std::uint16_t>(0xC000 | it->second));
          return;
        }
        if (out.size() < 0x4000) m_seen.emplace(std::move(suffix), static_cast<std::uint16_t>(out.size()));
      }
      out.insert(out.end(), w + i, w + i + 1 + w[i]);
      i += 1 + w[i];
    }
    out.push_back(0);
  }
  void rdata(std::uint16_t type, const octets& rd) {
    const std::size_t len_at = out.size();
    u16(0);
    if (!(has_name_rdata(type) && compressed_rdata(type, rd))) out.insert(out.end(), rd.begin(), rd.end());
    const std::size_t len = out.size() - len_at - 2;
    if (len > 0xFFFF) throw std::invalid_argument("build_dns: rdata longer than 65535 octets");
    put16(&out[len_at], static_cast<std::uint16_t>(len));
  }

 private:
  // Writes name-bearing rdata with its names compressed; false (nothing written) if `rd` does not fit
  // the type's layout, in which case it goes out as given.
  bool compressed_rdata(std::uint16_t type, const octets& rd) {
    const rdata_layout l = layout_of(type);
    std::vector<std::pair<std::size_t, std::size_t>> names;
    std::size_t p = l.before;
    if (rd.size() < p) return false;
    for (std::size_t i = 0; i < l.names; ++i) {
      const std::size_t n = plain_name_len(rd.data() + p, rd.size() - p);
      if (n == 0) return false;
      names.emplace_back(p, n);
      p += n;
    }
    if (rd.size() - p != l.after) return false;
    out.insert(out.end(), rd.begin(), rd.begin() + static_cast<std::ptrdiff_t>(l.before));
    for (const auto& [at, n] : names) wire_name(rd.data() + at, n);
    out.insert(out.end(), rd.begin() + static_cast<std::ptrdiff_t>(p), rd.end());
    return true;
  }

  bool m_compress;
  std::map<octets, std::uint16_t> m_seen;
};

std::uint16_t section_count(std::size_t n, const char* section) {
  if (n > 0xFFFF)
    throw std::invalid_argument(fmt::format("build_dns: {} {} entries (max 65535)", n, section));
  return static_cast<std::uint16_t>(n);
}

}  // namespace

// ---- names ----------------------------------------------------------------------------------------------

const char* dns_type_name(std::uint16_t type) {
  switch (type) {
    case dns_type_a:
      return "A";
    case dns_type_ns:
      return "NS";
    case dns_type_cname:
      return "CNAME";
    case dns_type_soa:
      return "SOA";
    case dns_type_ptr:
      return "PTR";
    case dns_type_mx:
      return "MX";
    case dns_type_txt:
      return "TXT";
    case dns_type_aaaa:
      return "AAAA";
    case dns_type_opt:
      return "OPT";
    case dns_type_any:
      return "ANY";
    default:
      return "?";
  }
}

const char* dns_rcode_name(std::uint8_t rcode) {
  switch (rcode) {
    case dns_rcode_noerror:
      return "NOERROR";
    case dns_rcode_formerr:
      return "FORMERR";
    case dns_rcode_servfail:
      return "SERVFAIL";
    case dns_rcode_nxdomain:
      return "NXDOMAIN";
    case dns_rcode_notimp:
      return "NOTIMP";
    case dns_rcode_refused:
      return "REFUSED";
    default:
      return "?";
  }
}

std::optional<octets> dns_name_to_wire(std::string_view name, std::string* why) {
  if (name.empty() || name == ".") return octets{0};
  octets out;
  octets label;
  auto finish = [&]() {
    if (label.empty()) return fail(why, fmt::format("empty label in '{}'", name));
    if (label.size() > dns_max_label)
      return fail(why, fmt::format("label of {} octets in '{}' (max {})", label.size(), name, dns_max_label));
    out.push_back(static_cast<std::uint8_t>(label.size()));
    out.insert(out.end(), label.begin(), label.end());
    label.clear();
    return true;
  };
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (c == '.') {
      if (!finish()) return std::nullopt;
      continue;
    }
    if (c != '\\') {
      label.push_back(static_cast<std::uint8_t>(c));
      continue;
    }
    if (i + 1 >= name.size()) {
      fail(why, fmt::format("'{}' ends in a lone backslash", name));
      return std::nullopt;
    }
    const char e = name[++i];
    if (e >= '0' && e <= '9') {
      unsigned v = 0;
      for (int k = 0; k < 3; ++k, ++i) {
        if (i >= name.size() || name[i] < '0' || name[i] > '9') {
          fail(why, fmt::format("bad \\DDD escape in '{}'", name));
          return std::nullopt;
        }
        v = v * 10 + static_cast<unsigned>(name[i] - '0');
      }
      --i;
      if (v > 255) {
        fail(why, fmt::format("escape \\{} in '{}' is over 255", v, name));
        return std::nullopt;
      }
      label.push_back(static_cast<std::uint8_t>(v));
    } else {
      label.push_back(static_cast<std::uint8_t>(e));
    }
  }
  // A last label without a trailing dot.
  if (!label.empty() && !finish()) return std::nullopt;
  out.push_back(0);
  if (out.size() > dns_max_name) {
    fail(why, fmt::format("'{}' is {} octets on the wire (max {})", name, out.size(), dns_max_name));
    return std::nullopt;
  }
  return out;
}

std::optional<std::string> dns_name_from_wire(const std::uint8_t* p, std::size_t n) {
  if (plain_name_len(p, n) != n) return std::nullopt;
  if (n == 1) return std::string(".");
  std::string text;
  for (std::size_t i = 0; p[i] != 0; i += 1 + p[i]) {
    if (!text.empty()) text += '.';
    append_label_text(text, p + i + 1, p[i]);
  }
  return text;
}

std::string dns_name_canonical(std::string_view name) {
  if (auto w = dns_name_to_wire(name)) {
    for (auto& c : *w) c = lower(c);  // length octets are at most 63, never in 'A'..'Z'
    return *dns_name_from_wire(w->data(), w->size());
  }
  std::string s(name);
  for (auto& c : s) c = lower(c);
  return s;
}

bool dns_name_equal(std::string_view a, std::string_view b) {
  return dns_name_canonical(a) == dns_name_canonical(b);
}

// ---- records and messages -------------------------------------------------------------------------------

dns_record dns_record::a(std::string name, ip4_addr addr, std::uint32_t ttl) {
  dns_record r;
  r.name = std::move(name);
  r.type = dns_type_a;
  r.ttl = ttl;
  r.rdata.resize(4);
  put32(r.rdata.data(), addr);
  return r;
}

dns_record dns_record::cname(std::string name, std::string_view target, std::uint32_t ttl) {
  std::string why;
  auto w = dns_name_to_wire(target, &why);
  if (!w) throw std::invalid_argument("dns_record::cname: bad target: " + why);
  dns_record r;
  r.name = std::move(name);
  r.type = dns_type_cname;
  r.ttl = ttl;
  r.rdata = std::move(*w);
  return r;
}

std::optional<ip4_addr> dns_record::a_addr() const {
  if (type != dns_type_a || rclass != dns_class_in || rdata.size() != 4) return std::nullopt;
  return get32(rdata.data());
}

std::optional<std::string> dns_record::cname_target() const {
  if (type != dns_type_cname) return std::nullopt;
  return dns_name_from_wire(rdata.data(), rdata.size());
}

std::uint16_t dns_message::flags() const {
  return static_cast<std::uint16_t>((qr ? 0x8000 : 0) | (opcode & 0xF) << 11 | (aa ? 0x0400 : 0) |
                                    (tc ? 0x0200 : 0) | (rd ? 0x0100 : 0) | (ra ? 0x0080 : 0) |
                                    (z & 0x7) << 4 | (rcode & 0xF));
}

void dns_message::set_flags(std::uint16_t f) {
  qr = (f & 0x8000) != 0;
  opcode = static_cast<std::uint8_t>(f >> 11 & 0xF);
  aa = (f & 0x0400) != 0;
  tc = (f & 0x0200) != 0;
  rd = (f & 0x0100) != 0;
  ra = (f & 0x0080) != 0;
  z = static_cast<std::uint8_t>(f >> 4 & 0x7);
  rcode = static_cast<std::uint8_t>(f & 0xF);
}

std::vector<ip4_addr> dns_message::addresses() const {
  std::vector<ip4_addr> out;
  for (const auto& r : answers)
    if (auto a = r.a_addr()) out.push_back(*a);
  return out;
}

std::optional<dns_message> parse_dns(const std::uint8_t* p, std::size_t n, std::string* why) {
  if (n < dns_header_len) {
    fail(why, fmt::format("{} octets, shorter than the {}-octet header", n, dns_header_len));
    return std::nullopt;
  }
  dns_message m;
  m.id = get16(p);
  m.set_flags(get16(p + 2));
  const std::uint16_t counts[4] = {get16(p + 4), get16(p + 6), get16(p + 8), get16(p + 10)};
  std::size_t pos = dns_header_len;
  octets wire;
  std::string reason;
  auto text = [&]() { return *dns_name_from_wire(wire.data(), wire.size()); };

  for (std::uint16_t i = 0; i < counts[0]; ++i) {
    std::size_t next = pos;
    if (!read_name(p, n, pos, n, wire, next, &reason)) {
      fail(why, fmt::format("question {}: {}", i, reason));
      return std::nullopt;
    }
    if (n - next < 4) {
      fail(why, fmt::format("question {}: type and class cut short", i));
      return std::nullopt;
    }
    m.questions.push_back({text(), get16(p + next), get16(p + next + 2)});
    pos = next + 4;
  }
  static const char* const section_names[3] = {"answer", "authority", "additional"};
  std::vector<dns_record>* sections[3] = {&m.answers, &m.authority, &m.additional};
  for (int s = 0; s < 3; ++s) {
    for (std::uint16_t i = 0; i < counts[s + 1]; ++i) {
      auto bad = [&](const std::string& what) {
        fail(why, fmt::format("{} {}: {}", section_names[s], i, what));
        return std::nullopt;
      };
      std::size_t next = pos;
      if (!read_name(p, n, pos, n, wire, next, &reason)) return bad(reason);
      if (n - next < 10) return bad("record header cut short");
      dns_record r;
      r.name = text();
      r.type = get16(p + next);
      r.rclass = get16(p + next + 2);
      r.ttl = get32(p + next + 4);
      const std::size_t rdlen = get16(p + next + 8);
      const std::size_t start = next + 10;
      if (n - start < rdlen)
        return bad(fmt::format("rdlength {} runs past the end ({} left)", rdlen, n - start));
      const std::size_t end = start + rdlen;
      if (r.rclass == dns_class_in && r.type == dns_type_a && rdlen != 4)
        return bad(fmt::format("A record with rdlength {} (must be 4)", rdlen));
      if (r.rclass == dns_class_in && r.type == dns_type_aaaa && rdlen != 16)
        return bad(fmt::format("AAAA record with rdlength {} (must be 16)", rdlen));
      if (has_name_rdata(r.type)) {
        if (!read_name_rdata(p, n, r.type, start, end, r.rdata, &reason)) return bad(reason);
      } else {
        r.rdata.assign(p + start, p + end);
      }
      sections[s]->push_back(std::move(r));
      pos = end;
    }
  }
  return m;
}

octets build_dns(const dns_message& m, bool compress) {
  writer w(compress);
  w.u16(m.id);
  w.u16(m.flags());
  w.u16(section_count(m.questions.size(), "questions"));
  w.u16(section_count(m.answers.size(), "answers"));
  w.u16(section_count(m.authority.size(), "authority records"));
  w.u16(section_count(m.additional.size(), "additional records"));
  for (const auto& q : m.questions) {
    w.name(q.name);
    w.u16(q.type);
    w.u16(q.qclass);
  }
  for (const auto* section : {&m.answers, &m.authority, &m.additional}) {
    for (const auto& r : *section) {
      w.name(r.name);
      w.u16(r.type);
      w.u16(r.rclass);
      w.u32(r.ttl);
      w.rdata(r.type, r.rdata);
    }
  }
  return std::move(w.out);
}

dns_message dns_query(std::uint16_t id, std::string name, std::uint16_t type) {
  dns_message m;
  m.id = id;
  m.rd = true;
  m.questions.push_back({std::move(name), type, dns_class_in});
  return m;
}

std::string dns_response_problem(const dns_message& query, const dns_message& response) {
  if (!response.qr) return "QR is clear (not a response)";
  if (response.id != query.id)
    return fmt::format("id 0x{:04x}, the query's is 0x{:04x}", response.id, query.id);
  if (response.opcode != query.opcode)
    return fmt::format("opcode {}, the query's is {}", response.opcode, query.opcode);
  if (response.questions.size() != query.questions.size())
    return fmt::format("{} questions, the query had {}", response.questions.size(), query.questions.size());
  for (std::size_t i = 0; i < query.questions.size(); ++i) {
    const auto& a = query.questions[i];
    const auto& b = response.questions[i];
    if (!dns_name_equal(a.name, b.name) || a.type != b.type || a.qclass != b.qclass)
      return fmt::format("question {}/{} does not match the query's {}/{}", b.name, dns_type_name(b.type),
                         a.name, dns_type_name(a.type));
  }
  return {};
}

std::string to_string(const dns_message& m) {
  std::string s = fmt::format("id=0x{:04x}", m.id);
  if (m.qr) s += " QR";
  if (m.opcode != 0) s += fmt::format(" opcode={}", m.opcode);
  if (m.aa) s += " AA";
  if (m.tc) s += " TC";
  if (m.rd) s += " RD";
  if (m.ra) s += " RA";
  s += fmt::format(" rcode={}", dns_rcode_name(m.rcode));
  for (const auto& q : m.questions) s += fmt::format(" q={}/{}", q.name, dns_type_name(q.type));
  auto records = [&](const char* tag, const std::vector<dns_record>& rs) {
    if (rs.empty()) return;
    s += fmt::format(" {}=[", tag);
    for (std::size_t i = 0; i < rs.size(); ++i) {
      const auto& r = rs[i];
      if (i != 0) s += ", ";
      s += fmt::format("{} {} {}", r.name, r.ttl, dns_type_name(r.type));
      if (auto a = r.a_addr())
        s += " " + to_string(*a);
      else if (auto c = r.cname_target())
        s += " " + *c;
      else
        s += fmt::format(" ({} octets)", r.rdata.size());
    }
    s += "]";
  };
  records("an", m.answers);
  records("ns", m.authority);
  records("ar", m.additional);
  return s;
}

// ---- the server -----------------------------------------------------------------------------------------

const char* to_string(dns_mode m) {
  switch (m) {
    case dns_mode::normal:
      return "normal";
    case dns_mode::nxdomain:
      return "nxdomain";
    case dns_mode::servfail:
      return "servfail";
    case dns_mode::truncated:
      return "truncated";
    case dns_mode::silent:
      return "silent";
    case dns_mode::malformed:
      return "malformed";
  }
  return "?";
}

const char* to_string(dns_malformation k) {
  switch (k) {
    case dns_malformation::wrong_id:
      return "wrong_id";
    case dns_malformation::count_mismatch:
      return "count_mismatch";
    case dns_malformation::pointer_loop:
      return "pointer_loop";
    case dns_malformation::truncated_rdata:
      return "truncated_rdata";
    case dns_malformation::a_rdlength_3:
      return "a_rdlength_3";
    case dns_malformation::qr_zero:
      return "qr_zero";
  }
  return "?";
}

std::uint64_t dns_server_stats::answers_total() const {
  std::uint64_t t = 0;
  for (auto a : answers) t += a;
  return t;
}

dns_server::dns_server(peer_host& host, dns_server_config cfg)
    : m_host(host),
      m_cfg(cfg),
      m_diag(host.log().path() + ".dns", host.sched().clock()),
      m_alive(std::make_shared<bool>(true)) {
  if (m_cfg.max_chain == 0) throw std::invalid_argument("dns_server: max_chain must be at least 1");
  m_host.udp_bind(m_cfg.port, [this](const udp_datagram& d) { on_datagram(d); });
  m_host.seg().adopt(m_diag);
}

dns_server::~dns_server() {
  *m_alive = false;
  m_host.udp_unbind(m_cfg.port);
  m_host.seg().disown(m_diag);
}

// Zone names are host names: letters, digits, '-' and '_' (service labels). Anything else is almost
// certainly a typo in a test and is refused loudly (there are no wildcards: '*' would be taken literally).
std::string dns_server::zone_key(std::string_view name, const char* what) {
  auto bad = [&](const std::string& why) {
    return std::invalid_argument(fmt::format("dns_server::{}: bad name '{}': {}", what, name, why));
  };
  if (name.empty() || name == ".") throw bad("a name is required");
  std::string_view s = name;
  if (s.back() == '.') s.remove_suffix(1);
  std::size_t start = 0;
  for (;;) {
    const std::size_t dot = s.find('.', start);
    const std::string_view label = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (label.empty()) throw bad("empty label");
    if (label.size() > dns_max_label)
      throw bad(fmt::format("label '{}' is {} octets (max {})", label, label.size(), dns_max_label));
    for (char c : label) {
      const bool ok =
          (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
      if (!ok) throw bad(fmt::format("character '{}' is not allowed", c));
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (s.size() + 2 > dns_max_name) throw bad(fmt::format("longer than {} octets on the wire", dns_max_name));
  std::string key(s);
  for (auto& c : key) c = lower(c);
  return key;
}

void dns_server::add_a(std::string_view name, ip4_addr addr, std::optional<std::uint32_t> ttl) {
  const std::string key = zone_key(name, "add_a");
  auto it = m_zone.find(key);
  if (it != m_zone.end() && it->second.cname)
    throw std::invalid_argument(fmt::format(
        "dns_server::add_a: '{}' has a CNAME; a CNAME cannot share its name with other data", name));
  node& nd = it != m_zone.end() ? it->second : m_zone[key];
  // A record set holds each address once (RFC 2181 5): adding it again only updates the TTL.
  const auto found = std::find(nd.a.begin(), nd.a.end(), addr);
  const std::uint32_t t = ttl.value_or(m_cfg.default_ttl);
  if (found != nd.a.end()) {
    nd.a_ttl[static_cast<std::size_t>(found - nd.a.begin())] = t;
  } else {
    nd.a.push_back(addr);
    nd.a_ttl.push_back(t);
  }
}

void dns_server::add_cname(std::string_view name, std::string_view target, std::optional<std::uint32_t> ttl) {
  const std::string key = zone_key(name, "add_cname");
  zone_key(target, "add_cname (target)");
  auto it = m_zone.find(key);
  if (it != m_zone.end() && !it->second.a.empty())
    throw std::invalid_argument(fmt::format(
        "dns_server::add_cname: '{}' has A records; a CNAME cannot share its name with other data", name));
  if (it != m_zone.end() && it->second.cname && !dns_name_equal(*it->second.cname, target))
    throw std::invalid_argument(
        fmt::format("dns_server::add_cname: '{}' already has a CNAME (to '{}')", name, *it->second.cname));
  node& nd = m_zone[key];
  std::string_view t = target;
  if (t.back() == '.') t.remove_suffix(1);
  nd.cname = std::string(t);
  nd.cname_ttl = ttl.value_or(m_cfg.default_ttl);
}

void dns_server::remove(std::string_view name) {
  m_zone.erase(zone_key(name, "remove"));
}

void dns_server::clear() {
  m_zone.clear();
}

void dns_server::set_behaviour(std::string_view name, const dns_behaviour& b) {
  m_behaviour[zone_key(name, "set_behaviour")] = b;
}

void dns_server::clear_behaviour(std::string_view name) {
  m_behaviour.erase(zone_key(name, "clear_behaviour"));
}

const dns_behaviour& dns_server::behaviour_for(std::string_view name) const {
  auto it = m_behaviour.find(dns_name_canonical(name));
  return it != m_behaviour.end() ? it->second : m_default;
}

// An empty non-terminal (a name with no records but with names below it) exists: NOERROR, no data.
bool dns_server::name_exists(const std::string& key) const {
  const std::string suffix = "." + key;
  for (const auto& [k, nd] : m_zone)
    if (k.size() > suffix.size() && k.compare(k.size() - suffix.size(), suffix.size(), suffix) == 0)
      return true;
  return false;
}

dns_message dns_server::resolve(const dns_message& query) const {
  dns_message r;
  r.id = query.id;
  r.qr = true;
  r.opcode = query.opcode;
  r.rd = query.rd;
  r.ra = false;
  r.questions = query.questions;
  if (query.questions.size() != 1) {
    r.rcode = dns_rcode_formerr;
    return r;
  }
  r.aa = true;
  const dns_question& q = query.questions.front();
  // The owner of the first record echoes the question's spelling (resolvers using 0x20 case
  // randomisation compare it); owners further down the chain are spelled as configured.
  std::string owner = q.name;
  std::string key = dns_name_canonical(q.name);
  std::set<std::string> seen;
  for (;;) {
    auto it = m_zone.find(key);
    if (it == m_zone.end()) {
      // RFC 6604: the rcode describes the last name of a CNAME chain.
      r.rcode = name_exists(key) ? dns_rcode_noerror : dns_rcode_nxdomain;
      return r;
    }
    const node& nd = it->second;
    if (nd.cname) {
      r.answers.push_back(dns_record::cname(owner, *nd.cname, nd.cname_ttl));
      if (q.type == dns_type_cname || q.type == dns_type_any) return r;
      seen.insert(key);
      owner = *nd.cname;
      key = dns_name_canonical(owner);
      if (seen.count(key) != 0 || seen.size() > m_cfg.max_chain) {
        r.answers.clear();
        r.aa = false;
        r.rcode = dns_rcode_servfail;
        return r;
      }
      continue;
    }
    if (q.type == dns_type_a || q.type == dns_type_any)
      for (std::size_t i = 0; i < nd.a.size(); ++i)
        r.answers.push_back(dns_record::a(owner, nd.a[i], nd.a_ttl[i]));
    return r;  // NOERROR, and no data when the name has no record of the type
  }
}

void dns_server::on_datagram(const udp_datagram& d) {
  ++m_stats.queries;
  const dns_behaviour* used = nullptr;
  std::optional<octets> reply = respond(d, &used);
  if (!reply) return;
  const std::uint8_t rcode = static_cast<std::uint8_t>((*reply)[3] & 0xF);
  const ps_t delay = used->delay;  // every path that produces a reply says which behaviour it used
  const ip4_addr to = d.src;
  const std::uint16_t to_port = d.src_port;
  if (m_diag.tracing())
    m_diag.trace("dns_reply",
                 fmt::format(R"("to":"{}:{}","id":{},"rcode":"{}","len":{},"mode":"{}","delay":{})",
                             to_string(to), to_port, get16(reply->data()), dns_rcode_name(rcode),
                             reply->size(), to_string(used->mode), delay));
  if (delay == 0) {
    ++m_stats.answers[rcode];
    m_host.udp_send(to, to_port, m_cfg.port, *reply);
    return;
  }
  ++m_stats.delayed;
  m_host.sched().after(delay, [this, alive = m_alive, to, to_port, rcode, out = std::move(*reply)]() {
    if (!*alive) return;
    ++m_stats.answers[rcode];
    m_host.udp_send(to, to_port, m_cfg.port, out);
  });
}

std::optional<octets> dns_server::respond(const udp_datagram& d, const dns_behaviour** used) {
  const std::uint8_t* p = d.payload.data();
  const std::size_t n = d.payload.size();
  auto trace_in = [&](const char* event, const std::string& body) {
    if (m_diag.tracing())
      m_diag.trace(event,
                   fmt::format(R"("from":"{}:{}","len":{},{})", to_string(d.src), d.src_port, n, body));
  };
  if (n < dns_header_len) {
    ++m_stats.ignored;
    ++m_stats.malformed_in;
    m_diag.guest_error("", "{}-octet datagram is shorter than a DNS header: dropped", n);
    trace_in("dns_drop", R"("why":"shorter than a header")");
    return std::nullopt;
  }
  dns_message hdr;
  hdr.id = get16(p);
  hdr.set_flags(get16(p + 2));
  if (hdr.qr) {
    // Never answer a response: two servers would answer each other forever.
    ++m_stats.ignored;
    ++m_stats.malformed_in;
    m_diag.guest_error("", "id 0x{:04x}: a response (QR=1) arrived at the server: dropped", hdr.id);
    trace_in("dns_drop", fmt::format(R"("id":{},"why":"a response")", hdr.id));
    return std::nullopt;
  }
  // Error replies carry the header only (no question: it may be what was wrong).
  auto error_reply = [&](std::uint8_t rcode) -> std::optional<octets> {
    *used = &m_default;
    if (m_default.mode == dns_mode::silent) {
      ++m_stats.silent;
      return std::nullopt;
    }
    dns_message r;
    r.id = hdr.id;
    r.qr = true;
    r.opcode = hdr.opcode;
    r.rd = hdr.rd;
    r.rcode = rcode;
    return build_dns(r);
  };
  if (hdr.opcode != dns_opcode_query) {
    m_diag.log(log_level::info, "", "id 0x{:04x}: opcode {} not implemented", hdr.id, hdr.opcode);
    trace_in("dns_bad_query", fmt::format(R"("id":{},"why":"opcode {}")", hdr.id, hdr.opcode));
    return error_reply(dns_rcode_notimp);
  }
  const std::uint16_t qdcount = get16(p + 4);
  if (qdcount != 1) {
    ++m_stats.malformed_in;
    m_diag.guest_error("", "id 0x{:04x}: {} questions (a query has exactly one): FORMERR", hdr.id, qdcount);
    trace_in("dns_bad_query", fmt::format(R"("id":{},"why":"{} questions")", hdr.id, qdcount));
    return error_reply(dns_rcode_formerr);
  }
  std::string why;
  auto query = parse_dns(p, n, &why);
  if (!query) {
    ++m_stats.malformed_in;
    m_diag.guest_error("", "id 0x{:04x}: malformed query ({}): FORMERR", hdr.id, why);
    trace_in("dns_bad_query", fmt::format(R"("id":{},"why":"{}")", hdr.id, json_escape(why)));
    return error_reply(dns_rcode_formerr);
  }
  const dns_question& q = query->questions.front();
  trace_in("dns_query", fmt::format(R"("id":{},"name":"{}","type":"{}","class":{})", query->id,
                                    json_escape(q.name), dns_type_name(q.type), q.qclass));
  if (q.qclass != dns_class_in && q.qclass != dns_class_any) {
    m_diag.log(log_level::info, "", "id 0x{:04x}: class {} is not served: REFUSED", hdr.id, q.qclass);
    return error_reply(dns_rcode_refused);
  }

  const dns_behaviour& b = behaviour_for(q.name);
  *used = &b;
  m_diag.log(log_level::debug, "", "id 0x{:04x}: {} {} ({})", query->id, q.name, dns_type_name(q.type),
             to_string(b.mode));
  dns_message r = resolve(*query);
  if (b.ttl)
    for (auto& rec : r.answers) rec.ttl = *b.ttl;
  switch (b.mode) {
    case dns_mode::silent:
      ++m_stats.silent;
      return std::nullopt;
    case dns_mode::nxdomain:
      r.answers.clear();
      r.aa = true;
      r.rcode = dns_rcode_nxdomain;
      break;
    case dns_mode::servfail:
      r.answers.clear();
      r.aa = false;
      r.rcode = dns_rcode_servfail;
      break;
    case dns_mode::truncated:
      r.answers.clear();
      r.tc = true;
      break;
    case dns_mode::malformed:
      ++m_stats.malformed_out;
      return malform(std::move(r), b.malformation);
    case dns_mode::normal:
      break;
  }
  octets out = build_dns(r);
  if (out.size() > dns_max_udp) {
    // What does not fit a classic 512-octet datagram is dropped and TC set (RFC 1035 4.2.1).
    r.answers.clear();
    r.tc = true;
    out = build_dns(r);
  }
  if (r.tc) ++m_stats.truncated;
  return out;
}

octets dns_server::malform(dns_message m, dns_malformation k) const {
  const bool needs_record = k == dns_malformation::pointer_loop || k == dns_malformation::truncated_rdata ||
                            k == dns_malformation::a_rdlength_3;
  const auto is_a = [](const dns_record& r) { return r.type == dns_type_a; };
  if (needs_record && std::none_of(m.answers.begin(), m.answers.end(), is_a) && !m.questions.empty()) {
    // The malformation needs an address record to damage: invent one (TEST-NET-1) for the question.
    m.answers.push_back(dns_record::a(m.questions.front().name, ip4(192, 0, 2, 1), m_cfg.default_ttl));
    m.rcode = dns_rcode_noerror;
    m.aa = true;
  }
  switch (k) {
    case dns_malformation::wrong_id:
      m.id = static_cast<std::uint16_t>(m.id + 1);
      return build_dns(m);
    case dns_malformation::qr_zero:
      m.qr = false;
      return build_dns(m);
    case dns_malformation::a_rdlength_3:
      for (auto& r : m.answers)
        if (is_a(r)) r.rdata.resize(3);
      return build_dns(m);
    case dns_malformation::count_mismatch: {
      octets out = build_dns(m);
      put16(&out[6], static_cast<std::uint16_t>(m.answers.size() + 2));
      return out;
    }
    case dns_malformation::truncated_rdata: {
      octets out = build_dns(m);  // the last record is an answer with rdata of at least 4 octets
      out.resize(out.size() - 2);
      return out;
    }
    case dns_malformation::pointer_loop: {
      // One answer whose owner is "<first label>" followed by a pointer back to that label: the pointer
      // points backwards, so only a parser that also checks progress catches the loop.
      const auto a = std::find_if(m.answers.begin(), m.answers.end(), is_a);
      const dns_record rec =
          a != m.answers.end() ? *a : dns_record::a("loop", ip4(192, 0, 2, 1), m_cfg.default_ttl);
      m.answers.clear();
      octets out = build_dns(m);
      put16(&out[6], 1);
      const std::size_t at = out.size();
      octets owner = *dns_name_to_wire(rec.name);
      if (owner[0] == 0) owner = *dns_name_to_wire("loop");  // the root has no label to loop on
      out.insert(out.end(), owner.begin(), owner.begin() + 1 + owner[0]);
      out.push_back(static_cast<std::uint8_t>(0xC0 | at >> 8));
      out.push_back(static_cast<std::uint8_t>(at));
      const std::size_t fixed = out.size();
      out.resize(fixed + 10);
      put16(&out[fixed], dns_type_a);
      put16(&out[fixed + 2], dns_class_in);
      put32(&out[fixed + 4], rec.ttl);
      put16(&out[fixed + 8], 4);
      out.insert(out.end(), rec.rdata.begin(), rec.rdata.end());
      return out;
    }
  }
  return build_dns(m);
}

}  // namespace wizsim
