// DNS stub resolver: see dns.hpp for the query, the retries, what an acceptable answer is and the errors.
#include "wiznet5k/dns.hpp"

#include <cstring>

#include "wiznet5k/wiznet5k.hpp"

namespace wiznet5k {

namespace {

constexpr std::size_t header_len = 12;
constexpr std::uint16_t type_a = 1, type_cname = 5, class_in = 1;
constexpr std::uint16_t flag_qr = 0x8000, flag_tc = 0x0200, flag_rd = 0x0100;
constexpr std::uint8_t rcode_servfail = 2, rcode_nxdomain = 3;
constexpr int max_datagrams_per_poll = 8;
constexpr std::size_t max_pointer_hops = 64;  // belt and braces: the backwards rule already ends every chain

std::uint16_t get16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}
void put16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
std::uint8_t lower(std::uint8_t c) {
  return c >= 'A' && c <= 'Z' ? static_cast<std::uint8_t>(c + 32) : c;
}

// A name in uncompressed wire form, lower-cased (for comparisons; RFC 4343 ASCII case folding).
struct wire_name {
  std::uint8_t data[DNS::max_name];
  std::size_t len = 0;
  bool operator==(const wire_name& o) const { return len == o.len && std::memcmp(data, o.data, len) == 0; }
};

// Reads the possibly compressed name at `off` of msg[0..n). Every compression pointer must land strictly
// before the lowest offset this name has used so far, so each jump goes further back and no chain can
// loop (RFC 1035 §4.1.4 only ever points at earlier names); labels must be plain (no 0x40/0x80 types),
// at most 63 octets, and the whole name at most 255. `next` is the offset after the name where it started
// (after its first pointer, or after the root label). false for anything malformed.
bool read_name(const std::uint8_t* msg, std::size_t n, std::size_t off, wire_name& out, std::size_t& next) {
  out.len = 0;
  std::size_t pos = off, lowest = off, hops = 0;
  bool jumped = false;
  for (;;) {
    if (pos >= n) return false;
    const std::uint8_t c = msg[pos];
    if (c == 0) {
      if (out.len + 1 > DNS::max_name) return false;
      out.data[out.len++] = 0;
      if (!jumped) next = pos + 1;
      return true;
    }
    if ((c & 0xC0) == 0xC0) {
      if (pos + 1 >= n) return false;
      const std::size_t target = static_cast<std::size_t>(c & 0x3F) << 8 | msg[pos + 1];
      if (target >= lowest || ++hops > max_pointer_hops) return false;
      if (!jumped) next = pos + 2;
      jumped = true;
      lowest = target;
      pos = target;
      continue;
    }
    if ((c & 0xC0) != 0) return false;  // 0x40 / 0x80: extended or reserved label types
    if (pos + 1 + c > n) return false;
    if (out.len + 1 + c + 1 > DNS::max_name) return false;  // room for this label and the root
    out.data[out.len++] = c;
    for (std::size_t k = 0; k < c; ++k) out.data[out.len++] = lower(msg[pos + 1 + k]);
    pos += 1 + static_cast<std::size_t>(c);
  }
}

// One resource record of the answer section, located in the datagram.
struct record {
  std::size_t owner = 0;  // offset of its (possibly compressed) owner name
  std::uint16_t type = 0, rclass = 0;
  std::size_t rdata = 0, rdlength = 0;
};

// What a datagram means to the lookup.
enum class verdict : std::uint8_t { ignore, address, failed };

}  // namespace

DNS::DNS(WIZNET5K& eth, const ip4& dns_address, bool debug)
    : m_eth(eth), m_server(dns_address), m_debug(debug) {}

namespace {

// Encodes `hostname` as the question name: labels from the dots, an optional trailing dot, no empty
// labels. Writes the wire form to out (the query) and its lower-cased copy to `cmp`. false if invalid.
bool encode_name(const char* hostname, std::uint8_t* out, std::size_t& out_len, wire_name& cmp) {
  std::size_t len = 0;
  const char* p = hostname;
  if (*p == '\0' || (p[0] == '.' && p[1] == '\0')) return false;  // the root is not a host
  while (*p != '\0') {
    const char* dot = p;
    while (*dot != '\0' && *dot != '.') ++dot;
    const auto label = static_cast<std::size_t>(dot - p);
    if (label == 0 || label > DNS::max_label) return false;
    if (len + 1 + label + 1 > DNS::max_name) return false;
    out[len] = static_cast<std::uint8_t>(label);
    cmp.data[len] = out[len];
    ++len;
    for (std::size_t k = 0; k < label; ++k, ++len) {
      out[len] = static_cast<std::uint8_t>(p[k]);
      cmp.data[len] = lower(out[len]);
    }
    p = dot;
    if (*p == '.') ++p;  // a trailing dot ends the loop here: the name is absolute either way
  }
  out[len] = 0;
  cmp.data[len] = 0;
  ++len;
  out_len = len;
  cmp.len = len;
  return true;
}

// Judges one datagram from the server against our query (id, question `qname`).
verdict examine(const std::uint8_t* msg, std::size_t n, std::uint16_t id, const wire_name& qname, ip4& addr,
                error& err, std::uint8_t& rcode_out) {
  // Not an answer to our question: ignore it and keep waiting (RFC 5452 §9.1).
  if (n < header_len) return verdict::ignore;
  if (get16(msg) != id) return verdict::ignore;
  const std::uint16_t flags = get16(msg + 2);
  if ((flags & flag_qr) == 0) return verdict::ignore;
  if (((flags >> 11) & 0x0F) != 0) return verdict::ignore;  // opcode QUERY only
  if (get16(msg + 4) != 1) return verdict::ignore;
  wire_name name;
  std::size_t off = 0;
  if (!read_name(msg, n, header_len, name, off)) return verdict::ignore;
  if (!(name == qname)) return verdict::ignore;
  if (off + 4 > n || get16(msg + off) != type_a || get16(msg + off + 2) != class_in) return verdict::ignore;
  off += 4;

  // It answers our question: from here on every outcome ends the lookup.
  const auto rcode = static_cast<std::uint8_t>(flags & 0x0F);
  rcode_out = rcode;
  if ((flags & flag_tc) != 0) {
    err = fail(errc::runtime_error, "DNS: answer truncated");
    return verdict::failed;
  }
  if (rcode == rcode_nxdomain) {
    err = fail(errc::runtime_error, "DNS: no such name (NXDOMAIN)");
    return verdict::failed;
  }
  if (rcode == rcode_servfail) {
    err = fail(errc::runtime_error, "DNS: server failure (SERVFAIL)");
    return verdict::failed;
  }
  if (rcode != 0) {
    err = fail(errc::runtime_error, "DNS: the server refused the query");
    return verdict::failed;
  }

  const error malformed = fail(errc::runtime_error, "DNS: malformed answer");
  // Locate the answer records; the authority and additional sections are not needed.
  record rr[DNS::max_records];
  const std::uint16_t ancount = get16(msg + 6);
  std::size_t count = 0;
  for (std::size_t i = 0; i < ancount && count < DNS::max_records; ++i) {
    record r;
    r.owner = off;
    if (!read_name(msg, n, off, name, off)) return err = malformed, verdict::failed;
    if (off + 10 > n) return err = malformed, verdict::failed;
    r.type = get16(msg + off);
    r.rclass = get16(msg + off + 2);
    r.rdlength = get16(msg + off + 8);
    r.rdata = off + 10;
    if (r.rdata + r.rdlength > n) return err = malformed, verdict::failed;
    off = r.rdata + r.rdlength;
    if (r.rclass == class_in && r.type == type_a && r.rdlength != 4) return err = malformed, verdict::failed;
    if (r.rclass == class_in && r.type == type_cname) {
      // The rdata must be exactly one name (it may point back into the message).
      wire_name target;
      std::size_t end = 0;
      if (!read_name(msg, n, r.rdata, target, end) || end != r.rdata + r.rdlength)
        return err = malformed, verdict::failed;
    }
    rr[count++] = r;
  }

  // Follow the CNAME chain from the question's name to an A record; the records may come in any order.
  wire_name want = qname;
  for (std::size_t hop = 0; hop <= DNS::max_cname; ++hop) {
    const record* cname = nullptr;
    for (std::size_t i = 0; i < count; ++i) {
      std::size_t ignored = 0;
      if (rr[i].rclass != class_in || (rr[i].type != type_a && rr[i].type != type_cname)) continue;
      if (!read_name(msg, n, rr[i].owner, name, ignored) || !(name == want)) continue;
      if (rr[i].type == type_a) {
        addr = ip4{msg[rr[i].rdata], msg[rr[i].rdata + 1], msg[rr[i].rdata + 2], msg[rr[i].rdata + 3]};
        return verdict::address;
      }
      if (cname == nullptr) cname = &rr[i];
    }
    if (cname == nullptr) {
      err = fail(errc::runtime_error, "DNS: the name has no address");
      return verdict::failed;
    }
    std::size_t ignored = 0;
    if (!read_name(msg, n, cname->rdata, want, ignored)) return err = malformed, verdict::failed;
  }
  // Longer than max_cname hops, or a CNAME loop inside the answer.
  err = malformed;
  return verdict::failed;
}

// Closes and releases the lookup's socket on every path out of gethostbyname.
class socket_guard {
 public:
  explicit socket_guard(WIZNET5K& eth) : m_eth(eth) {}
  ~socket_guard() {
    if (sn < 0) return;
    (void)m_eth.socket_close(sn);
    (void)m_eth.release_socket(sn);
  }
  socket_guard(const socket_guard&) = delete;
  socket_guard& operator=(const socket_guard&) = delete;
  int sn = -1;

 private:
  WIZNET5K& m_eth;
};

}  // namespace

result<ip4> DNS::gethostbyname(const char* hostname) {
  m_sent = 0;
  m_ignored = 0;
  m_rcode = 0xFF;
  if (hostname == nullptr) return fail(errc::value_error, "DNS: no hostname");
  if (const result<ip4> literal = WIZNET5K::unpretty_ip(hostname)) return literal;
  std::uint8_t query[header_len + max_name + 4];
  std::size_t name_len = 0;
  wire_name qname;
  if (!encode_name(hostname, query + header_len, name_len, qname))
    return fail(errc::value_error, "DNS: invalid hostname");
  const ip4 none{0, 0, 0, 0}, all{255, 255, 255, 255};
  if (m_server == none || m_server == all) return fail(errc::runtime_error, "DNS: no server address");

  hal& board = m_eth.board();
  m_id = static_cast<std::uint16_t>(board.random32() >> 16);
  put16(query, m_id);
  put16(query + 2, flag_rd);
  put16(query + 4, 1);  // QDCOUNT
  put16(query + 6, 0);
  put16(query + 8, 0);
  put16(query + 10, 0);
  std::size_t len = header_len + name_len;
  put16(query + len, type_a);
  put16(query + len + 2, class_in);
  len += 4;

  socket_guard sock(m_eth);
  const result<int> sn = m_eth.get_socket();
  if (!sn) return sn.err;
  sock.sn = sn.value;
  // A random source port in 49152..65535 (RFC 6335 dynamic range; RFC 5452 wants it unpredictable).
  m_port = static_cast<std::uint16_t>(49152u + board.random32() % 16384u);
  const std::uint16_t saved = m_eth.src_port;
  m_eth.src_port = m_port;
  const error opened = m_eth.socket_connect(sock.sn, m_server, server_port, SNMR_UDP);
  m_eth.src_port = saved;
  if (opened) return opened;

  std::uint8_t answer[max_message];
  for (std::uint8_t attempt = 0; attempt < tries; ++attempt) {
    const result<std::size_t> sent = m_eth.socket_write(sock.sn, query, len);
    if (!sent) return sent.err;
    ++m_sent;
    const std::uint64_t until = board.millis() + timeout_ms;
    for (;;) {
      for (int k = 0; k < max_datagrams_per_poll; ++k) {
        const result<std::size_t> avail = m_eth.socket_available(sock.sn, SNMR_UDP);
        if (!avail) return avail.err;
        if (avail.value == 0) break;
        const result<std::size_t> n = m_eth.read_udp(sock.sn, answer, sizeof answer);
        if (!n) return n.err;
        if (m_eth.udp_from_ip[sock.sn] != m_server || m_eth.udp_from_port[sock.sn] != server_port) {
          ++m_ignored;
          continue;
        }
        ip4 addr{};
        error err{};
        switch (examine(answer, n.value, m_id, qname, addr, err, m_rcode)) {
          case verdict::address:
            return addr;
          case verdict::failed:
            return err;
          case verdict::ignore:
            ++m_ignored;
            break;
        }
      }
      if (board.millis() >= until) break;
      board.sleep_ms(poll_ms);
    }
  }
  return fail(errc::timeout_error, "DNS: no answer from the server");
}

}  // namespace wiznet5k
