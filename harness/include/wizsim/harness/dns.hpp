// DNS (RFC 1035) message codec and a small authoritative DNS server that runs on a peer_host.
//
// The codec is shared: the server uses it, tests build queries and check answers with it, and driver
// tests reuse it. The parser is the strict one a careful resolver would be: every length is checked
// against the buffer, compression pointers must point strictly backwards (each jump lands before the
// previous one, so no pointer chain can loop), labels over 63 octets, reserved label types and names over
// 255 octets are rejected, and records whose rdata does not fit their type (an A record that is not 4
// octets, a CNAME whose rdata is not exactly one name) are rejected with a reason.
//
// Names are text: labels joined by '.', no trailing dot, the root is ".". Octets that would be ambiguous
// in text ('.', '\\', and anything outside printable ASCII) are written as "\." / "\\" / "\DDD" (decimal),
// the zone-file convention, and the encoder reads the same escapes back.
//
// Name-bearing rdata of the RFC 1035 types (CNAME, NS, PTR, MX, SOA) is stored uncompressed, so a parsed
// record stands on its own; build_dns compresses it again.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wizsim/diag.hpp"
#include "wizsim/packet.hpp"
#include "wizsim/scheduler.hpp"

namespace wizsim {

class peer_host;
struct udp_datagram;

// ---- constants ------------------------------------------------------------------------------------------
constexpr std::uint16_t dns_port = 53;
constexpr std::size_t dns_header_len = 12;
constexpr std::size_t dns_max_name = 255;  // wire form, length octets and the root label included
constexpr std::size_t dns_max_label = 63;
constexpr std::size_t dns_max_udp = 512;  // classic UDP payload limit (no EDNS)

constexpr std::uint16_t dns_type_a = 1, dns_type_ns = 2, dns_type_cname = 5, dns_type_soa = 6,
                        dns_type_ptr = 12, dns_type_mx = 15, dns_type_txt = 16, dns_type_aaaa = 28,
                        dns_type_opt = 41, dns_type_any = 255;
constexpr std::uint16_t dns_class_in = 1, dns_class_any = 255;

constexpr std::uint8_t dns_opcode_query = 0, dns_opcode_iquery = 1, dns_opcode_status = 2,
                       dns_opcode_notify = 4, dns_opcode_update = 5;
constexpr std::uint8_t dns_rcode_noerror = 0, dns_rcode_formerr = 1, dns_rcode_servfail = 2,
                       dns_rcode_nxdomain = 3, dns_rcode_notimp = 4, dns_rcode_refused = 5;

const char* dns_type_name(std::uint16_t type);   // "A", "CNAME", ...; "?" for other types
const char* dns_rcode_name(std::uint8_t rcode);  // "NOERROR", "NXDOMAIN", ...; "?" for others

// ---- names ----------------------------------------------------------------------------------------------
// Text name -> uncompressed wire form (labels and the root label). Accepts an optional trailing dot and
// the escapes above; "" and "." are the root. nullopt (with the reason in *why) for an empty label, a
// label over 63 octets, a name over 255 octets or a bad escape.
std::optional<octets> dns_name_to_wire(std::string_view name, std::string* why = nullptr);
// Uncompressed wire name -> text. nullopt if `wire` is not exactly one well-formed uncompressed name.
std::optional<std::string> dns_name_from_wire(const std::uint8_t* p, std::size_t n);
// Case-insensitive (ASCII only, RFC 4343) comparison of two text names; a trailing dot is ignored.
bool dns_name_equal(std::string_view a, std::string_view b);
// Lower-cased text form with the trailing dot removed (the key a zone uses).
std::string dns_name_canonical(std::string_view name);

// ---- messages -------------------------------------------------------------------------------------------
struct dns_question {
  std::string name;
  std::uint16_t type = dns_type_a;
  std::uint16_t qclass = dns_class_in;
};

struct dns_record {
  std::string name;
  std::uint16_t type = dns_type_a;
  std::uint16_t rclass = dns_class_in;
  std::uint32_t ttl = 0;
  octets rdata;  // names inside CNAME/NS/PTR/MX/SOA rdata uncompressed

  // An A record (rdata: the address in network order).
  static dns_record a(std::string name, ip4_addr addr, std::uint32_t ttl);
  // A CNAME record; throws std::invalid_argument if `target` is not a valid name.
  static dns_record cname(std::string name, std::string_view target, std::uint32_t ttl);
  // The address of an IN A record with 4 octets of rdata, else nullopt.
  std::optional<ip4_addr> a_addr() const;
  // The target of a CNAME record, else nullopt.
  std::optional<std::string> cname_target() const;
};

struct dns_message {
  std::uint16_t id = 0;
  bool qr = false;  // response
  std::uint8_t opcode = dns_opcode_query;
  bool aa = false;     // authoritative answer
  bool tc = false;     // truncated
  bool rd = false;     // recursion desired
  bool ra = false;     // recursion available
  std::uint8_t z = 0;  // the three bits between RA and RCODE (Z, AD, CD), kept for round trips
  std::uint8_t rcode = dns_rcode_noerror;
  std::vector<dns_question> questions;
  std::vector<dns_record> answers, authority, additional;

  std::uint16_t flags() const;  // the 16-bit flags word of the header
  void set_flags(std::uint16_t f);
  // Addresses of the IN A records in the answer section, in order.
  std::vector<ip4_addr> addresses() const;
};

// Parses one message. nullopt for anything malformed, with the reason in *why when given. Octets after
// the last record are ignored (as resolvers do), everything before must be well-formed.
std::optional<dns_message> parse_dns(const std::uint8_t* p, std::size_t n, std::string* why = nullptr);
inline std::optional<dns_message> parse_dns(const octets& m, std::string* why = nullptr) {
  return parse_dns(m.data(), m.size(), why);
}
// Builds a message: section counts from the vectors, names compressed (exact-octet suffix matches, as
// far as the 14-bit pointer reaches) unless `compress` is false. Throws std::invalid_argument for a name
// that cannot be encoded or a section with more than 65535 entries. Rdata is written as given (so tests
// can build odd records such as a 3-octet A record).
octets build_dns(const dns_message& m, bool compress = true);
// A standard query: one question (class IN), RD set.
dns_message dns_query(std::uint16_t id, std::string name, std::uint16_t type = dns_type_a);
// Why `response` does not answer `query` ("" when it does): QR clear, a different id, opcode or
// question. This is what a resolver checks before it looks at the answer.
std::string dns_response_problem(const dns_message& query, const dns_message& response);
// One-line summary for logs and test messages: "id=0x1234 QR AA rcode=NOERROR q=www.example.com/A
// an=[www.example.com CNAME web.example.com, web.example.com A 10.0.0.1]".
std::string to_string(const dns_message& m);

// ---- the server -----------------------------------------------------------------------------------------

// What the server does with a query.
enum class dns_mode : std::uint8_t {
  normal,     // answer from the zone
  nxdomain,   // NXDOMAIN (AA set) whatever the zone holds
  servfail,   // SERVFAIL
  truncated,  // TC=1, answer section empty (a client should retry over TCP)
  silent,     // never answer
  malformed,  // answer with the selected malformation
};
const char* to_string(dns_mode m);

// Malformed answers, each the kind a resolver must survive.
enum class dns_malformation : std::uint8_t {
  wrong_id,         // the answer carries a different id
  count_mismatch,   // ANCOUNT larger than the records present
  pointer_loop,     // the answer's owner name is a label followed by a pointer back to that label
  truncated_rdata,  // the datagram ends inside the last record's rdata
  a_rdlength_3,     // an A record with rdlength 3
  qr_zero,          // QR clear: the "answer" claims to be a query
};
const char* to_string(dns_malformation k);

struct dns_behaviour {
  dns_mode mode = dns_mode::normal;
  ps_t delay = 0;  // the reply leaves this long after the query arrived
  dns_malformation malformation = dns_malformation::wrong_id;  // for mode == malformed
  std::optional<std::uint32_t> ttl;  // overrides the TTL of every record in the answer

  static dns_behaviour normal() { return {}; }
  static dns_behaviour answer(dns_mode m) { return with(m); }
  static dns_behaviour delayed(ps_t d) { return with(dns_mode::normal, d); }
  static dns_behaviour malformed(dns_malformation k) { return with(dns_mode::malformed, 0, k); }
  static dns_behaviour ttl_override(std::uint32_t t) {
    return with(dns_mode::normal, 0, dns_malformation::wrong_id, t);
  }
  static dns_behaviour with(dns_mode m, ps_t d = 0, dns_malformation k = dns_malformation::wrong_id,
                            std::optional<std::uint32_t> t = {}) {
    dns_behaviour b;
    b.mode = m;
    b.delay = d;
    b.malformation = k;
    b.ttl = t;
    return b;
  }
};

struct dns_server_config {
  std::uint16_t port = dns_port;
  std::uint32_t default_ttl = 300;
  std::size_t max_chain = 8;  // CNAMEs followed for one query; a longer chain or a loop is SERVFAIL
};

struct dns_server_stats {
  std::uint64_t queries = 0;        // datagrams received on the port
  std::uint64_t malformed_in = 0;   // datagrams that were not a well-formed query (FORMERR or dropped)
  std::uint64_t ignored = 0;        // dropped without answer: shorter than a header, or QR set
  std::uint64_t silent = 0;         // queries left unanswered on purpose (mode silent)
  std::uint64_t delayed = 0;        // answers held back by a delay
  std::uint64_t truncated = 0;      // answers sent with TC=1
  std::uint64_t malformed_out = 0;  // deliberately malformed answers sent
  std::array<std::uint64_t, 16> answers{};  // answers sent, by rcode
  std::uint64_t answers_total() const;
};

// An authoritative server for one flat zone (every configured name is "ours"). Bound to UDP port 53 of
// the host from construction to destruction; replies go to the source address and port of the query.
// Behaviour can be changed at any time; it is taken when a query arrives (a delayed answer keeps the
// behaviour it was built with).
class dns_server {
 public:
  explicit dns_server(peer_host& host, dns_server_config cfg = {});
  ~dns_server();
  dns_server(const dns_server&) = delete;
  dns_server& operator=(const dns_server&) = delete;

  // ---- zone (names case-insensitive; throws std::invalid_argument for a bad name, an empty label, a
  // label over 63 octets, or a CNAME next to other data at the same name) ----
  void add_a(std::string_view name, ip4_addr addr, std::optional<std::uint32_t> ttl = {});
  void add_cname(std::string_view name, std::string_view target, std::optional<std::uint32_t> ttl = {});
  void remove(std::string_view name);  // every record at the name
  void clear();

  // ---- behaviour ----
  void set_default_behaviour(const dns_behaviour& b) { m_default = b; }
  void set_behaviour(std::string_view name, const dns_behaviour& b);  // for queries of this name
  void clear_behaviour(std::string_view name);
  const dns_behaviour& behaviour_for(std::string_view name) const;

  // What the server would answer to `query` from the zone, with no behaviour applied (also for tests).
  dns_message resolve(const dns_message& query) const;

  const dns_server_stats& stats() const { return m_stats; }
  diag& log() { return m_diag; }
  const dns_server_config& config() const { return m_cfg; }

 private:
  struct node {
    std::vector<ip4_addr> a;
    std::vector<std::uint32_t> a_ttl;
    std::optional<std::string> cname;
    std::uint32_t cname_ttl = 0;
  };
  void on_datagram(const udp_datagram& d);
  std::optional<octets> respond(const udp_datagram& d, const dns_behaviour** used);
  octets malform(dns_message m, dns_malformation k) const;
  bool name_exists(const std::string& key) const;
  static std::string zone_key(std::string_view name, const char* what);

  peer_host& m_host;
  dns_server_config m_cfg;
  diag m_diag;
  std::map<std::string, node> m_zone;
  dns_behaviour m_default;
  std::map<std::string, dns_behaviour> m_behaviour;
  dns_server_stats m_stats;
  std::shared_ptr<bool> m_alive;  // guards delayed replies against a destroyed server
};

}  // namespace wizsim
