// The DNS codec (round trips, compression, every malformed name and record rejected without reading past
// the buffer) and the DNS server peer, driven through the chip: a raw register-level client opens a UDP
// socket on the W5500, sends queries built with the codec and parses what the chip hands back.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "tshark_util.hpp"
#include "wizsim/harness/dns.hpp"
#include "wizsim/harness/peer.hpp"
#include "wizsim/harness/raw_client.hpp"
#include "wizsim/harness/segment.hpp"
#include "wizsim/w5500.hpp"

using namespace wizsim;
using namespace wizsim::test;

namespace {

// ---- codec helpers --------------------------------------------------------------------------------------

octets header(std::uint16_t id, std::uint16_t flags, std::uint16_t qd, std::uint16_t an = 0,
              std::uint16_t ns = 0, std::uint16_t ar = 0) {
  octets m(12);
  put16(&m[0], id);
  put16(&m[2], flags);
  put16(&m[4], qd);
  put16(&m[6], an);
  put16(&m[8], ns);
  put16(&m[10], ar);
  return m;
}

void append(octets& m, std::initializer_list<int> bytes) {
  for (int b : bytes) m.push_back(static_cast<std::uint8_t>(b));
}
void append(octets& m, const octets& more) {
  m.insert(m.end(), more.begin(), more.end());
}
void append_label(octets& m, const std::string& label) {
  m.push_back(static_cast<std::uint8_t>(label.size()));
  m.insert(m.end(), label.begin(), label.end());
}
// Type A, class IN.
void append_a_in(octets& m) {
  append(m, {0, 1, 0, 1});
}

// Parses from a heap block of exactly the message's size, so that a read past the end is a read past an
// allocation (reported by AddressSanitizer builds), not into a vector's spare capacity.
std::optional<dns_message> parse_exact(const octets& m, std::string* why = nullptr) {
  std::unique_ptr<std::uint8_t[]> block(new std::uint8_t[m.size() == 0 ? 1 : m.size()]);
  if (!m.empty()) std::memcpy(block.get(), m.data(), m.size());
  return parse_dns(block.get(), m.size(), why);
}

// Rejected, with a reason containing `expect`.
::testing::AssertionResult rejected(const octets& m, const std::string& expect) {
  std::string why;
  auto r = parse_exact(m, &why);
  if (r) return ::testing::AssertionFailure() << "accepted: " << to_string(*r);
  if (why.find(expect) == std::string::npos)
    return ::testing::AssertionFailure() << "rejected for '" << why << "', expected '" << expect << "'";
  return ::testing::AssertionSuccess();
}

bool same_record(const dns_record& a, const dns_record& b) {
  return a.name == b.name && a.type == b.type && a.rclass == b.rclass && a.ttl == b.ttl && a.rdata == b.rdata;
}

bool same_message(const dns_message& a, const dns_message& b) {
  if (a.id != b.id || a.flags() != b.flags() || a.questions.size() != b.questions.size()) return false;
  for (std::size_t i = 0; i < a.questions.size(); ++i)
    if (a.questions[i].name != b.questions[i].name || a.questions[i].type != b.questions[i].type ||
        a.questions[i].qclass != b.questions[i].qclass)
      return false;
  auto same_section = [](const std::vector<dns_record>& x, const std::vector<dns_record>& y) {
    return x.size() == y.size() && std::equal(x.begin(), x.end(), y.begin(), same_record);
  };
  return same_section(a.answers, b.answers) && same_section(a.authority, b.authority) &&
         same_section(a.additional, b.additional);
}

octets wire_name(const std::string& name) {
  return *dns_name_to_wire(name);
}

// A response using every section, every flag and the name-bearing types.
dns_message rich_message() {
  dns_message m;
  m.id = 0xBEEF;
  m.qr = true;
  m.opcode = dns_opcode_query;
  m.aa = true;
  m.tc = false;
  m.rd = true;
  m.ra = true;
  m.z = 0x2;  // AD
  m.rcode = dns_rcode_noerror;
  m.questions.push_back({"www.Example.com", dns_type_a, dns_class_in});
  m.answers.push_back(dns_record::cname("www.Example.com", "web.example.com", 60));
  m.answers.push_back(dns_record::a("web.example.com", ip4(10, 0, 0, 1), 120));
  m.answers.push_back(dns_record::a("web.example.com", ip4(10, 0, 0, 2), 120));
  dns_record ns;
  ns.name = "example.com";
  ns.type = dns_type_ns;
  ns.ttl = 3600;
  ns.rdata = wire_name("ns1.example.com");
  m.authority.push_back(ns);
  dns_record soa;
  soa.name = "example.com";
  soa.type = dns_type_soa;
  soa.ttl = 3600;
  soa.rdata = wire_name("ns1.example.com");
  append(soa.rdata, wire_name("hostmaster.example.com"));
  append(soa.rdata, {0, 0, 0, 1, 0, 0, 0x0E, 0x10, 0, 0, 0x03, 0x84, 0, 0x09, 0x3A, 0x80, 0, 0, 0x01, 0x2C});
  m.authority.push_back(soa);
  dns_record mx;
  mx.name = "example.com";
  mx.type = dns_type_mx;
  mx.ttl = 300;
  mx.rdata = {0, 10};
  append(mx.rdata, wire_name("mail.example.com"));
  m.additional.push_back(mx);
  dns_record txt;
  txt.name = "example.com";
  txt.type = dns_type_txt;
  txt.ttl = 300;
  txt.rdata = {5, 'h', 'e', 'l', 'l', 'o'};
  m.additional.push_back(txt);
  return m;
}

}  // namespace

// ---- names ----------------------------------------------------------------------------------------------

TEST(DnsCodec, EncodesNamesAsLengthPrefixedLabels) {
  const octets expect{3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0};
  EXPECT_EQ(wire_name("www.example.com"), expect);
  EXPECT_EQ(wire_name("www.example.com."), expect);
  EXPECT_EQ(wire_name("."), octets{0});
  EXPECT_EQ(wire_name(""), octets{0});
  EXPECT_EQ(*dns_name_from_wire(expect.data(), expect.size()), "www.example.com");
  EXPECT_EQ(*dns_name_from_wire(octets{0}.data(), 1), ".");
}

TEST(DnsCodec, EscapesDotsBackslashesAndUnprintableOctetsInLabels) {
  const octets w{3, 'a', '.', 'b', 2, 0x00, '\\', 1, ' ', 0};
  const auto text = dns_name_from_wire(w.data(), w.size());
  ASSERT_TRUE(text);
  EXPECT_EQ(*text, "a\\.b.\\000\\\\.\\032");
  EXPECT_EQ(wire_name(*text), w);
}

TEST(DnsCodec, RefusesNamesThatCannotBeEncoded) {
  std::string why;
  EXPECT_FALSE(dns_name_to_wire("a..b", &why));
  EXPECT_NE(why.find("empty label"), std::string::npos) << why;
  EXPECT_FALSE(dns_name_to_wire(".a", &why));
  EXPECT_FALSE(dns_name_to_wire(std::string(64, 'x') + ".com", &why));
  EXPECT_NE(why.find("64 octets"), std::string::npos) << why;
  EXPECT_TRUE(dns_name_to_wire(std::string(63, 'x') + ".com"));
  // 4 labels of 63 = 256 octets with the length octets, 257 with the root: over 255.
  const std::string l63(63, 'x');
  EXPECT_FALSE(dns_name_to_wire(l63 + "." + l63 + "." + l63 + "." + l63, &why));
  EXPECT_NE(why.find("max 255"), std::string::npos) << why;
  EXPECT_TRUE(dns_name_to_wire(l63 + "." + l63 + "." + l63 + "." + std::string(61, 'x')));  // exactly 255
  EXPECT_FALSE(dns_name_to_wire("abc\\", &why));
  EXPECT_FALSE(dns_name_to_wire("a\\25", &why));
  EXPECT_FALSE(dns_name_to_wire("a\\256", &why));
  EXPECT_THROW(build_dns(dns_query(1, "a..b")), std::invalid_argument);
}

TEST(DnsCodec, ComparesNamesCaseInsensitively) {
  EXPECT_TRUE(dns_name_equal("WWW.Example.COM", "www.example.com."));
  EXPECT_FALSE(dns_name_equal("www.example.com", "www.example.org"));
  EXPECT_EQ(dns_name_canonical("Mail.Example.COM."), "mail.example.com");
}

// ---- messages -------------------------------------------------------------------------------------------

TEST(DnsCodec, BuildsTheStandardQueryOctetForOctet) {
  const octets expect{
      0x12, 0x34, 0x01, 0x00, 0, 1,   0,   0,   0,   0,   0,   0,  // id, RD, one question
      3,    'w',  'w',  'w',  7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0,  // name
      0,    1,    0,    1,                                                                // type A, class IN
  };
  EXPECT_EQ(build_dns(dns_query(0x1234, "www.example.com")), expect);
}

TEST(DnsCodec, RoundTripsEveryFieldWithAndWithoutCompression) {
  const dns_message m = rich_message();
  for (bool compress : {true, false}) {
    std::string why;
    const auto back = parse_exact(build_dns(m, compress), &why);
    ASSERT_TRUE(back) << why;
    EXPECT_TRUE(same_message(m, *back)) << "compress=" << compress << "\n"
                                        << to_string(m) << "\n"
                                        << to_string(*back);
  }
  const auto back = parse_dns(build_dns(m));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->answers[0].cname_target(), std::optional<std::string>("web.example.com"));
  EXPECT_EQ(back->addresses(), (std::vector<ip4_addr>{ip4(10, 0, 0, 1), ip4(10, 0, 0, 2)}));
  EXPECT_EQ(back->flags(), 0x85A0);  // QR, AA, RD, RA, AD
}

TEST(DnsCodec, FlagsWordMapsEveryBit) {
  dns_message m;
  m.set_flags(0xFFFF);
  EXPECT_TRUE(m.qr && m.aa && m.tc && m.rd && m.ra);
  EXPECT_EQ(m.opcode, 0xF);
  EXPECT_EQ(m.z, 0x7);
  EXPECT_EQ(m.rcode, 0xF);
  EXPECT_EQ(m.flags(), 0xFFFF);
  m.set_flags(0x2803);  // opcode 5 (UPDATE), rcode 3
  EXPECT_FALSE(m.qr || m.aa || m.tc || m.rd || m.ra);
  EXPECT_EQ(m.opcode, dns_opcode_update);
  EXPECT_EQ(m.rcode, dns_rcode_nxdomain);
}

TEST(DnsCodec, CompressionReplacesRepeatedNamesWithPointers) {
  dns_message m = dns_query(7, "host.example.com");
  m.qr = true;
  for (unsigned i = 1; i <= 5; ++i)
    m.answers.push_back(dns_record::a("host.example.com", ip4(10, 0, 0, i), 60));
  const octets plain = build_dns(m, false);
  const octets packed = build_dns(m, true);
  // Each of the 5 owners shrinks from 18 octets to a 2-octet pointer to the question's name at 12.
  EXPECT_EQ(plain.size() - packed.size(), 5u * (18 - 2));
  const std::size_t first_answer = 12 + 18 + 4;
  EXPECT_EQ(packed[first_answer], 0xC0);
  EXPECT_EQ(packed[first_answer + 1], 12);
  ASSERT_TRUE(parse_exact(packed));
  EXPECT_TRUE(same_message(*parse_exact(packed), *parse_exact(plain)));
}

TEST(DnsCodec, CompressesSuffixesAndNamesInsideCnameRdata) {
  dns_message m = dns_query(7, "www.example.com");
  m.qr = true;
  m.answers.push_back(dns_record::cname("www.example.com", "cdn.example.com", 60));
  const octets packed = build_dns(m);
  // The CNAME's owner is a pointer; its rdata is the label "cdn" and a pointer to "example.com" (at 16).
  const std::size_t rr = 12 + 17 + 4;
  EXPECT_EQ(packed[rr], 0xC0);
  EXPECT_EQ(packed[rr + 1], 12);
  EXPECT_EQ(get16(&packed[rr + 10]), 6) << "rdlength counts the compressed rdata";
  EXPECT_EQ(octets(packed.begin() + rr + 12, packed.end()), (octets{3, 'c', 'd', 'n', 0xC0, 16}));
  const auto back = parse_exact(packed);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->answers[0].cname_target(), std::optional<std::string>("cdn.example.com"));
  EXPECT_EQ(back->answers[0].rdata, wire_name("cdn.example.com")) << "parsed rdata is stored uncompressed";
}

TEST(DnsCodec, CompressionKeepsTheSpellingOfEachName) {
  dns_message m = dns_query(7, "WWW.Example.com");
  m.qr = true;
  m.answers.push_back(dns_record::a("www.example.com", ip4(10, 0, 0, 1), 60));
  const auto back = parse_exact(build_dns(m));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->questions[0].name, "WWW.Example.com");
  EXPECT_EQ(back->answers[0].name, "www.example.com");
}

TEST(DnsCodec, RejectsEveryTruncationOfAValidMessage) {
  const octets full = build_dns(rich_message());
  for (std::size_t n = 0; n < full.size(); ++n)
    EXPECT_FALSE(parse_exact(octets(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n))))
        << "prefix of " << n << " of " << full.size() << " octets accepted";
  EXPECT_TRUE(parse_exact(full));
}

TEST(DnsCodec, IgnoresOctetsAfterTheLastRecord) {
  octets m = build_dns(dns_query(9, "a.example"));
  append(m, {0xDE, 0xAD});
  EXPECT_TRUE(parse_exact(m));
}

// ---- malformed names ------------------------------------------------------------------------------------

TEST(DnsCodecMalformed, PointerToItself) {
  octets m = header(1, 0, 1);
  append(m, {0xC0, 12});
  append_a_in(m);
  EXPECT_TRUE(rejected(m, "to itself"));
}

TEST(DnsCodecMalformed, LabelFollowedByAPointerBackToItsOwnName) {
  // "a" then a pointer to the "a": every jump goes backwards, yet the name never ends.
  octets m = header(1, 0, 1);
  append(m, {1, 'a', 0xC0, 12});
  append_a_in(m);
  EXPECT_TRUE(rejected(m, "pointer loop"));
}

TEST(DnsCodecMalformed, TwoPointersPointingAtEachOther) {
  // The question's name at 12 points to the answer's owner at 18, which points back to 12.
  octets m = header(1, 0, 1, 1);
  append(m, {0xC0, 18});  // 12: question name
  append_a_in(m);         // 14..17
  append(m, {0xC0, 12});  // 18: answer owner
  append(m, {0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1});
  EXPECT_TRUE(rejected(m, "forward pointer"));
  // Entered from the backward end: answer 1's owner at 25 points back into answer 0's TXT rdata (at 23),
  // where a pointer leads forward to 25 again.
  octets n = header(1, 0x8000, 0, 2);
  append(n, {0, 0, 16, 0, 1, 0, 0, 0, 60, 0, 2});  // 12: root owner, TXT, IN, TTL 60, rdlength 2
  append(n, {0xC0, 25});                           // 23: rdata
  append(n, {0xC0, 23});                           // 25: answer 1's owner
  append(n, {0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1});
  EXPECT_TRUE(rejected(n, "answer 1: name at 25: forward pointer 23 -> 25"));
}

TEST(DnsCodecMalformed, PointerPastTheEnd) {
  octets m = header(1, 0, 1);
  append(m, {0xC0, 0xF0});
  append_a_in(m);
  EXPECT_TRUE(rejected(m, "past the end"));
  octets far = header(1, 0, 1);
  append(far, {0xFF, 0xFF});  // the largest pointer, 16383
  append_a_in(far);
  EXPECT_TRUE(rejected(far, "past the end"));
}

TEST(DnsCodecMalformed, PointerIntoTheHeader) {
  octets m = header(1, 0, 1);
  append(m, {0xC0, 4});
  append_a_in(m);
  EXPECT_TRUE(rejected(m, "inside the header"));
}

TEST(DnsCodecMalformed, PointerCutShortAtTheEndOfTheMessage) {
  octets m = header(1, 0, 1);
  append(m, {1, 'a', 0xC0});
  EXPECT_TRUE(rejected(m, "cut short"));
}

TEST(DnsCodecMalformed, LabelLongerThan63OrOfAReservedType) {
  for (int len : {64, 0x7F, 0x80, 0xBF}) {
    octets m = header(1, 0, 1);
    m.push_back(static_cast<std::uint8_t>(len));
    m.insert(m.end(), 70, 'x');  // enough octets that only the length rule can reject it
    m.push_back(0);
    append_a_in(m);
    EXPECT_TRUE(rejected(m, "max 63")) << "length octet " << len;
  }
}

TEST(DnsCodecMalformed, LabelRunningPastTheEnd) {
  octets m = header(1, 0, 1);
  append(m, {5, 'a', 'b'});
  EXPECT_TRUE(rejected(m, "runs past the end"));
}

TEST(DnsCodecMalformed, NameWithoutItsRootLabel) {
  octets m = header(1, 0, 1);
  append(m, {1, 'a', 1, 'b'});
  EXPECT_TRUE(rejected(m, "runs past the end"));
}

TEST(DnsCodecMalformed, NameLongerThan255Octets) {
  octets m = header(1, 0, 1);
  for (int i = 0; i < 4; ++i) append_label(m, std::string(63, 'a'));
  m.push_back(0);
  append_a_in(m);
  EXPECT_TRUE(rejected(m, "longer than 255"));
}

TEST(DnsCodecMalformed, NameLongerThan255OctetsAssembledFromValidPointers) {
  // Each question adds a 63-octet label in front of the previous one: the fourth name is 257 octets
  // long although every pointer on its own is well-formed.
  octets m = header(1, 0, 4);
  std::size_t prev = 0;
  for (int i = 0; i < 4; ++i) {
    const std::size_t at = m.size();
    append_label(m, std::string(63, static_cast<char>('a' + i)));
    if (i == 0)
      m.push_back(0);
    else
      append(m, {0xC0 | static_cast<int>(prev >> 8), static_cast<int>(prev & 0xFF)});
    append_a_in(m);
    prev = at;
  }
  EXPECT_TRUE(rejected(m, "question 3: name at"));
  EXPECT_TRUE(rejected(m, "longer than 255"));
}

// ---- malformed records ----------------------------------------------------------------------------------

TEST(DnsCodecMalformed, AnswerCountLargerThanTheRecordsPresent) {
  dns_message r = dns_query(3, "a.example");
  r.qr = true;
  r.answers.push_back(dns_record::a("a.example", ip4(1, 2, 3, 4), 5));
  octets m = build_dns(r);
  put16(&m[6], 3);
  EXPECT_TRUE(rejected(m, "answer 1: name at"));
}

TEST(DnsCodecMalformed, RdataRunningPastTheEnd) {
  dns_message r = dns_query(3, "a.example");
  r.answers.push_back(dns_record::a("a.example", ip4(1, 2, 3, 4), 5));
  octets m = build_dns(r);
  m.resize(m.size() - 1);
  EXPECT_TRUE(rejected(m, "rdlength 4 runs past the end"));
}

TEST(DnsCodecMalformed, ARecordWhoseRdataIsNotFourOctets) {
  dns_message r = dns_query(3, "a.example");
  dns_record bad = dns_record::a("a.example", ip4(1, 2, 3, 4), 5);
  bad.rdata.resize(3);
  r.answers.push_back(bad);
  EXPECT_TRUE(rejected(build_dns(r), "A record with rdlength 3"));
}

TEST(DnsCodecMalformed, CnameRdataThatIsNotExactlyOneName) {
  dns_message r = dns_query(3, "a.example");
  dns_record c = dns_record::cname("a.example", "b.example", 5);
  c.rdata.push_back(0x77);  // junk after the name
  r.answers.push_back(c);
  EXPECT_TRUE(rejected(build_dns(r, false), "after its name"));
  c.rdata = {3, 'a', 'b'};  // a name cut short inside the rdata
  r.answers = {c};
  EXPECT_TRUE(rejected(build_dns(r, false), "runs past the end"));
}

TEST(DnsCodecMalformed, RecordHeaderCutShort) {
  octets m = header(1, 0x8000, 0, 1);
  append(m, {0, 0, 1, 0, 1});
  EXPECT_TRUE(rejected(m, "record header cut short"));
}

TEST(DnsCodecMalformed, ShorterThanAHeader) {
  EXPECT_TRUE(rejected(octets{1, 2, 3}, "shorter than"));
  EXPECT_TRUE(rejected(octets{}, "shorter than"));
}

// Random damage to valid messages and random octets: the parser must never crash or read out of bounds,
// and whatever it accepts must survive a rebuild unchanged.
TEST(DnsCodecMalformed, SurvivesRandomDamageAndReencodesWhatItAccepts) {
  rng r(2024);
  const octets base = build_dns(rich_message());
  std::size_t accepted = 0;
  for (int round = 0; round < 20000; ++round) {
    octets m = base;
    const int edits = 1 + static_cast<int>(r.below(4));
    for (int e = 0; e < edits; ++e) m[r.below(m.size())] = r.byte();
    if (round % 4 == 0) m.resize(r.below(m.size() + 1));
    if (round % 10 == 0) {
      m.resize(r.below(300));
      for (auto& b : m) b = r.byte();
    }
    const auto parsed = parse_exact(m);
    if (!parsed) continue;
    ++accepted;
    const auto again = parse_exact(build_dns(*parsed));
    ASSERT_TRUE(again) << "round " << round << ": " << to_string(*parsed);
    EXPECT_TRUE(same_message(*parsed, *again)) << "round " << round;
  }
  EXPECT_GT(accepted, 100u) << "most single-octet edits of ids, flags, TTLs and rdata still parse";
}

// ---- response checks ------------------------------------------------------------------------------------

TEST(DnsCodec, ResponseProblemNamesWhatDoesNotMatchTheQuery) {
  const dns_message q = dns_query(0x4242, "Host.Example");
  dns_message r = q;
  r.qr = true;
  EXPECT_EQ(dns_response_problem(q, r), "");
  r.questions[0].name = "host.example";
  EXPECT_EQ(dns_response_problem(q, r), "") << "question names compare case-insensitively";
  r.id = 0x4243;
  EXPECT_NE(dns_response_problem(q, r).find("id 0x4243"), std::string::npos);
  r.id = q.id;
  r.qr = false;
  EXPECT_NE(dns_response_problem(q, r).find("QR is clear"), std::string::npos);
  r.qr = true;
  r.questions[0].type = dns_type_aaaa;
  EXPECT_NE(dns_response_problem(q, r).find("does not match"), std::string::npos);
}

// ---- the zone (resolution without the wire) -------------------------------------------------------------

namespace {

constexpr ip4_addr chip_ip = ip4(192, 168, 1, 10), server_ip = ip4(192, 168, 1, 53);
const mac_addr chip_mac{0x02, 0x08, 0xDC, 0x00, 0x00, 0x10}, server_mac{0x02, 0x00, 0x00, 0x00, 0x00, 0x53};

peer_config server_config() {
  peer_config c;
  c.name = "ns";
  c.mac = server_mac;
  c.ip = server_ip;
  return c;
}

// A scheduler, a segment, a chip on it, a peer running the DNS server, and a raw client with UDP socket 0
// open on the chip.
struct dns_bench {
  scheduler sched{11};
  w5500 chip{sched};
  segment seg{sched, "lan"};
  peer_host peer{seg, server_config()};
  dns_server dns{peer};
  raw_client client{chip};
  std::uint16_t next_id = 0x1000;

  dns_bench() {
    seg.attach(chip);
    client.configure(chip_mac, chip_ip, ip4(255, 255, 255, 0), 0);
    if (!client.open_udp(0, 40000)) throw std::runtime_error("cannot open the chip's UDP socket");
  }

  // Sends raw octets to the server from the chip.
  void send(const octets& payload) { ASSERT_TRUE(client.sendto(0, server_ip, dns_port, payload)); }
  // The next datagram the chip receives from the server, if any within `timeout`.
  std::optional<octets> receive(ps_t timeout = ms(100)) {
    auto d = client.recvfrom(0, timeout);
    if (!d) return std::nullopt;
    EXPECT_EQ(d->ip, server_ip);
    EXPECT_EQ(d->port, dns_port);
    return d->data;
  }
  // Sends `q` and returns the parsed answer (failing the test if none arrives or it does not parse or
  // does not answer the query).
  dns_message ask(const dns_message& q, ps_t timeout = ms(100)) {
    send(build_dns(q));
    auto raw = receive(timeout);
    if (!raw) {
      ADD_FAILURE() << "no answer to " << to_string(q);
      return {};
    }
    std::string why;
    auto r = parse_dns(*raw, &why);
    if (!r) {
      ADD_FAILURE() << "answer does not parse: " << why;
      return {};
    }
    EXPECT_EQ(dns_response_problem(q, *r), "");
    return *r;
  }
  dns_message ask(const std::string& name, std::uint16_t type = dns_type_a) {
    return ask(dns_query(next_id++, name, type));
  }
};

}  // namespace

TEST(DnsZone, FollowsACnameChainAndEmitsEachLink) {
  dns_bench b;
  b.dns.add_cname("www.example.com", "edge.example.com", 60);
  b.dns.add_cname("edge.example.com", "web.example.com", 90);
  b.dns.add_a("web.example.com", ip4(10, 0, 0, 7), 120);
  const dns_message r = b.dns.resolve(dns_query(1, "www.example.com"));
  EXPECT_EQ(r.rcode, dns_rcode_noerror);
  ASSERT_EQ(r.answers.size(), 3u) << to_string(r);
  EXPECT_EQ(r.answers[0].cname_target(), std::optional<std::string>("edge.example.com"));
  EXPECT_EQ(r.answers[0].ttl, 60u);
  EXPECT_EQ(r.answers[1].name, "edge.example.com");
  EXPECT_EQ(r.answers[1].cname_target(), std::optional<std::string>("web.example.com"));
  EXPECT_EQ(r.answers[2].name, "web.example.com");
  EXPECT_EQ(r.answers[2].a_addr(), std::optional<ip4_addr>(ip4(10, 0, 0, 7)));
  EXPECT_EQ(r.answers[2].ttl, 120u);
}

TEST(DnsZone, AnswersACnameQueryWithTheCnameAlone) {
  dns_bench b;
  b.dns.add_cname("www.example.com", "web.example.com");
  b.dns.add_a("web.example.com", ip4(10, 0, 0, 7));
  const dns_message r = b.dns.resolve(dns_query(1, "www.example.com", dns_type_cname));
  ASSERT_EQ(r.answers.size(), 1u);
  EXPECT_EQ(r.answers[0].type, dns_type_cname);
  EXPECT_EQ(r.answers[0].ttl, 300u) << "the server's default TTL";
}

TEST(DnsZone, ServfailsOnACnameLoopAndOnAChainLongerThanTheLimit) {
  dns_bench b;
  b.dns.add_cname("a.loop", "b.loop");
  b.dns.add_cname("b.loop", "a.loop");
  EXPECT_EQ(b.dns.resolve(dns_query(1, "a.loop")).rcode, dns_rcode_servfail);
  b.dns.add_cname("self.loop", "self.loop");
  EXPECT_EQ(b.dns.resolve(dns_query(1, "self.loop")).rcode, dns_rcode_servfail);
  // c0 -> c1 -> ... -> c8 has 8 CNAMEs (the limit) before the A record at c8; c9 adds a ninth.
  for (int i = 0; i < 9; ++i)
    b.dns.add_cname("c" + std::to_string(i + 1) + ".chain", "c" + std::to_string(i) + ".chain");
  b.dns.add_a("c0.chain", ip4(10, 0, 0, 1));
  const dns_message eight = b.dns.resolve(dns_query(1, "c8.chain"));
  EXPECT_EQ(eight.rcode, dns_rcode_noerror);
  EXPECT_EQ(eight.answers.size(), 9u);
  const dns_message nine = b.dns.resolve(dns_query(1, "c9.chain"));
  EXPECT_EQ(nine.rcode, dns_rcode_servfail);
  EXPECT_TRUE(nine.answers.empty());
}

TEST(DnsZone, TellsNoDataFromNxdomainAndTreatsEmptyNonTerminalsAsExisting) {
  dns_bench b;
  b.dns.add_a("www.example.com", ip4(10, 0, 0, 1));
  const dns_message aaaa = b.dns.resolve(dns_query(1, "www.example.com", dns_type_aaaa));
  EXPECT_EQ(aaaa.rcode, dns_rcode_noerror);
  EXPECT_TRUE(aaaa.answers.empty());
  const dns_message ent = b.dns.resolve(dns_query(1, "example.com"));
  EXPECT_EQ(ent.rcode, dns_rcode_noerror);
  EXPECT_TRUE(ent.answers.empty());
  const dns_message nx = b.dns.resolve(dns_query(1, "ftp.example.com"));
  EXPECT_EQ(nx.rcode, dns_rcode_nxdomain);
  EXPECT_TRUE(nx.aa);
  // A CNAME into nothing: NXDOMAIN for the last name, with the CNAME still in the answer (RFC 6604).
  b.dns.add_cname("dangling.example.com", "gone.example.com");
  const dns_message d = b.dns.resolve(dns_query(1, "dangling.example.com"));
  EXPECT_EQ(d.rcode, dns_rcode_nxdomain);
  EXPECT_EQ(d.answers.size(), 1u);
}

TEST(DnsZone, RefusesBadNamesAndACnameNextToOtherData) {
  dns_bench b;
  auto message = [](auto fn) -> std::string {
    try {
      fn();
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "(no exception)";
  };
  EXPECT_NE(message([&] { b.dns.add_a("a..example", 1); }).find("empty label"), std::string::npos);
  EXPECT_NE(message([&] { b.dns.add_a("", 1); }).find("a name is required"), std::string::npos);
  EXPECT_NE(message([&] { b.dns.add_a(std::string(64, 'x') + ".example", 1); }).find("64 octets"),
            std::string::npos);
  EXPECT_NE(message([&] { b.dns.add_a("bad name.example", 1); }).find("character ' '"), std::string::npos);
  EXPECT_NE(message([&] { b.dns.add_a("*.example", 1); }).find("character '*'"), std::string::npos);
  EXPECT_NE(message([&] { b.dns.add_cname("x.example", "y..example"); }).find("empty label"),
            std::string::npos);
  b.dns.add_a("both.example", ip4(10, 0, 0, 1));
  EXPECT_NE(message([&] { b.dns.add_cname("both.example", "other.example"); }).find("cannot share"),
            std::string::npos);
  b.dns.add_cname("alias.example", "other.example");
  EXPECT_NE(message([&] { b.dns.add_a("ALIAS.example", ip4(10, 0, 0, 2)); }).find("cannot share"),
            std::string::npos);
  EXPECT_NE(message([&] { b.dns.add_cname("alias.example", "third.example"); }).find("already has a CNAME"),
            std::string::npos);
  EXPECT_NE(message([&] { b.dns.set_behaviour("a..b", dns_behaviour::normal()); }).find("empty label"),
            std::string::npos);
  EXPECT_THROW(dns_server(b.peer, dns_server_config{5353, 300, 0}), std::invalid_argument);
}

// ---- the server through the chip ------------------------------------------------------------------------

TEST(DnsServer, AnswersAnAQueryFromTheChipWithEveryAddress) {
  dns_bench b;
  b.dns.add_a("www.example.com", ip4(10, 0, 0, 1), 600);
  b.dns.add_a("www.example.com", ip4(10, 0, 0, 2), 600);
  const dns_message q = dns_query(0x5151, "www.example.com");
  const dns_message r = b.ask(q);
  EXPECT_TRUE(r.qr);
  EXPECT_TRUE(r.aa);
  EXPECT_TRUE(r.rd) << "RD is copied from the query";
  EXPECT_FALSE(r.ra);
  EXPECT_FALSE(r.tc);
  EXPECT_EQ(r.rcode, dns_rcode_noerror);
  EXPECT_EQ(r.addresses(), (std::vector<ip4_addr>{ip4(10, 0, 0, 1), ip4(10, 0, 0, 2)}));
  for (const auto& rec : r.answers) EXPECT_EQ(rec.ttl, 600u);
  EXPECT_EQ(b.dns.stats().queries, 1u);
  EXPECT_EQ(b.dns.stats().answers[dns_rcode_noerror], 1u);
}

TEST(DnsServer, MatchesNamesCaseInsensitivelyAndEchoesTheQuestionsSpelling) {
  dns_bench b;
  b.dns.add_a("WWW.example.com", ip4(10, 0, 0, 1));
  const dns_message r = b.ask("www.EXAMPLE.com");
  ASSERT_EQ(r.answers.size(), 1u);
  EXPECT_EQ(r.questions[0].name, "www.EXAMPLE.com");
  EXPECT_EQ(r.answers[0].name, "www.EXAMPLE.com");
}

TEST(DnsServer, ResolvesACnameChainThroughTheChip) {
  dns_bench b;
  b.dns.add_cname("www.example.com", "cdn.example.net", 30);
  b.dns.add_cname("cdn.example.net", "node7.cdn.example.net", 30);
  b.dns.add_a("node7.cdn.example.net", ip4(172, 16, 0, 7), 45);
  const dns_message r = b.ask("www.example.com");
  ASSERT_EQ(r.answers.size(), 3u) << to_string(r);
  EXPECT_EQ(r.answers[0].cname_target(), std::optional<std::string>("cdn.example.net"));
  EXPECT_EQ(r.answers[1].cname_target(), std::optional<std::string>("node7.cdn.example.net"));
  EXPECT_EQ(r.addresses(), std::vector<ip4_addr>{ip4(172, 16, 0, 7)});
}

TEST(DnsServer, AnswersNxdomainWithAuthorityForAnUnknownName) {
  dns_bench b;
  b.dns.add_a("known.example", ip4(10, 0, 0, 1));
  const dns_message r = b.ask("unknown.example");
  EXPECT_EQ(r.rcode, dns_rcode_nxdomain);
  EXPECT_TRUE(r.aa);
  EXPECT_TRUE(r.answers.empty());
  EXPECT_EQ(b.dns.stats().answers[dns_rcode_nxdomain], 1u);
}

TEST(DnsServer, ServfailsACnameLoopThroughTheChip) {
  dns_bench b;
  b.dns.add_cname("a.loop", "b.loop");
  b.dns.add_cname("b.loop", "a.loop");
  const dns_message r = b.ask("a.loop");
  EXPECT_EQ(r.rcode, dns_rcode_servfail);
  EXPECT_TRUE(r.answers.empty());
}

TEST(DnsServer, BehavesAsToldPerNameOrByDefaultAndSwitchesMidRun) {
  dns_bench b;
  b.dns.add_a("a.example", ip4(10, 0, 0, 1));
  b.dns.add_a("b.example", ip4(10, 0, 0, 2));
  b.dns.set_default_behaviour(dns_behaviour::answer(dns_mode::servfail));
  b.dns.set_behaviour("B.example", dns_behaviour::normal());
  EXPECT_EQ(b.ask("a.example").rcode, dns_rcode_servfail);
  EXPECT_EQ(b.ask("b.example").addresses(), std::vector<ip4_addr>{ip4(10, 0, 0, 2)});
  b.dns.set_default_behaviour(dns_behaviour::normal());
  b.dns.set_behaviour("a.example", dns_behaviour::answer(dns_mode::nxdomain));
  const dns_message nx = b.ask("a.example");
  EXPECT_EQ(nx.rcode, dns_rcode_nxdomain);
  EXPECT_TRUE(nx.aa);
  b.dns.clear_behaviour("a.example");
  EXPECT_EQ(b.ask("a.example").addresses(), std::vector<ip4_addr>{ip4(10, 0, 0, 1)});
  EXPECT_EQ(b.dns.stats().answers[dns_rcode_servfail], 1u);
  EXPECT_EQ(b.dns.stats().answers[dns_rcode_nxdomain], 1u);
  EXPECT_EQ(b.dns.stats().answers[dns_rcode_noerror], 2u);
}

TEST(DnsServer, TruncatedModeSetsTcWithAnEmptyAnswerSection) {
  dns_bench b;
  b.dns.add_a("big.example", ip4(10, 0, 0, 1));
  b.dns.set_behaviour("big.example", dns_behaviour::answer(dns_mode::truncated));
  const dns_message r = b.ask("big.example");
  EXPECT_TRUE(r.tc);
  EXPECT_EQ(r.rcode, dns_rcode_noerror);
  EXPECT_TRUE(r.answers.empty());
  EXPECT_EQ(b.dns.stats().truncated, 1u);
}

TEST(DnsServer, TruncatesAnAnswerThatDoesNotFitA512OctetDatagram) {
  dns_bench b;
  for (unsigned i = 1; i <= 40; ++i) b.dns.add_a("many.example", ip4(10, 0, 1, i));
  const dns_message r = b.ask("many.example");
  EXPECT_TRUE(r.tc);
  EXPECT_TRUE(r.answers.empty());
  b.dns.remove("many.example");
  for (unsigned i = 1; i <= 20; ++i) b.dns.add_a("many.example", ip4(10, 0, 1, i));
  const dns_message fits = b.ask("many.example");
  EXPECT_FALSE(fits.tc) << "20 addresses fit";
  EXPECT_EQ(fits.answers.size(), 20u);
}

TEST(DnsServer, DelayedAnswerArrivesAfterTheDelayAndNotBefore) {
  dns_bench b;
  b.dns.add_a("slow.example", ip4(10, 0, 0, 9));
  b.dns.set_behaviour("slow.example", dns_behaviour::delayed(ms(300)));
  const dns_message q = dns_query(0x7777, "slow.example");
  const ps_t sent = b.sched.now();
  b.send(build_dns(q));
  EXPECT_FALSE(b.receive(ms(290))) << "nothing before the delay";
  auto raw = b.receive(ms(50));
  ASSERT_TRUE(raw) << "the answer after the delay";
  const ps_t took = b.sched.now() - sent;
  EXPECT_GE(took, ms(300));
  EXPECT_LT(took, ms(305));
  const auto r = parse_dns(*raw);
  ASSERT_TRUE(r);
  EXPECT_EQ(dns_response_problem(q, *r), "");
  EXPECT_EQ(r->addresses(), std::vector<ip4_addr>{ip4(10, 0, 0, 9)});
  EXPECT_EQ(b.dns.stats().delayed, 1u);
}

TEST(DnsServer, SilentModeNeverAnswers) {
  dns_bench b;
  b.dns.add_a("quiet.example", ip4(10, 0, 0, 1));
  b.dns.set_default_behaviour(dns_behaviour::answer(dns_mode::silent));
  b.send(build_dns(dns_query(1, "quiet.example")));
  EXPECT_FALSE(b.receive(seconds(5)));
  EXPECT_EQ(b.dns.stats().queries, 1u);
  EXPECT_EQ(b.dns.stats().silent, 1u);
  EXPECT_EQ(b.dns.stats().answers_total(), 0u);
}

TEST(DnsServer, TtlOverrideAppliesToEveryRecordOfTheAnswer) {
  dns_bench b;
  b.dns.add_cname("www.example", "web.example", 3600);
  b.dns.add_a("web.example", ip4(10, 0, 0, 1), 86400);
  b.dns.set_behaviour("www.example", dns_behaviour::ttl_override(5));
  const dns_message r = b.ask("www.example");
  ASSERT_EQ(r.answers.size(), 2u);
  for (const auto& rec : r.answers) EXPECT_EQ(rec.ttl, 5u);
  EXPECT_EQ(b.ask("web.example").answers.at(0).ttl, 86400u) << "other names keep their TTL";
}

// Each malformed answer reaches the chip; the codec rejects it or the response check flags it.
class DnsServerMalformed : public ::testing::TestWithParam<dns_malformation> {};

TEST_P(DnsServerMalformed, AnswerArrivesAndIsRejectedOrFlagged) {
  dns_bench b;
  b.dns.add_a("m.example", ip4(10, 0, 0, 1));
  b.dns.set_behaviour("m.example", dns_behaviour::malformed(GetParam()));
  const dns_message q = dns_query(0x2468, "m.example");
  b.send(build_dns(q));
  auto raw = b.receive();
  ASSERT_TRUE(raw) << "a malformed answer is still an answer";
  std::string why;
  const auto r = parse_dns(*raw, &why);
  switch (GetParam()) {
    case dns_malformation::wrong_id:
      ASSERT_TRUE(r) << why;
      EXPECT_NE(dns_response_problem(q, *r).find("id 0x2469"), std::string::npos);
      break;
    case dns_malformation::qr_zero:
      ASSERT_TRUE(r) << why;
      EXPECT_NE(dns_response_problem(q, *r).find("QR is clear"), std::string::npos);
      break;
    case dns_malformation::count_mismatch:
      EXPECT_FALSE(r);
      EXPECT_NE(why.find("answer 1"), std::string::npos) << why;
      break;
    case dns_malformation::pointer_loop:
      EXPECT_FALSE(r);
      EXPECT_NE(why.find("pointer loop"), std::string::npos) << why;
      break;
    case dns_malformation::truncated_rdata:
      EXPECT_FALSE(r);
      EXPECT_NE(why.find("runs past the end"), std::string::npos) << why;
      break;
    case dns_malformation::a_rdlength_3:
      EXPECT_FALSE(r);
      EXPECT_NE(why.find("rdlength 3"), std::string::npos) << why;
      break;
  }
  EXPECT_EQ(b.dns.stats().malformed_out, 1u);
}

INSTANTIATE_TEST_SUITE_P(EveryKind, DnsServerMalformed,
                         ::testing::Values(dns_malformation::wrong_id, dns_malformation::count_mismatch,
                                           dns_malformation::pointer_loop, dns_malformation::truncated_rdata,
                                           dns_malformation::a_rdlength_3, dns_malformation::qr_zero),
                         [](const ::testing::TestParamInfo<dns_malformation>& i) {
                           return to_string(i.param);
                         });

TEST(DnsServer, MalformsAnAnswerEvenForANameWithoutAddresses) {
  dns_bench b;
  b.dns.set_default_behaviour(dns_behaviour::malformed(dns_malformation::a_rdlength_3));
  b.send(build_dns(dns_query(5, "nothing.example")));
  auto raw = b.receive();
  ASSERT_TRUE(raw);
  std::string why;
  EXPECT_FALSE(parse_dns(*raw, &why));
  EXPECT_NE(why.find("rdlength 3"), std::string::npos) << why;
}

TEST(DnsServer, FormerrForAQueryWithoutExactlyOneQuestion) {
  dns_bench b;
  b.send(header(0x0B0B, 0x0100, 0));
  auto raw = b.receive();
  ASSERT_TRUE(raw);
  auto r = parse_dns(*raw);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->id, 0x0B0B);
  EXPECT_TRUE(r->qr);
  EXPECT_TRUE(r->rd);
  EXPECT_EQ(r->rcode, dns_rcode_formerr);
  dns_message two = dns_query(0x0C0C, "a.example");
  two.questions.push_back(two.questions[0]);
  b.send(build_dns(two));
  raw = b.receive();
  ASSERT_TRUE(raw);
  EXPECT_EQ(parse_dns(*raw)->rcode, dns_rcode_formerr);
  EXPECT_EQ(b.dns.stats().malformed_in, 2u);
  EXPECT_EQ(b.dns.stats().answers[dns_rcode_formerr], 2u);
}

TEST(DnsServer, FormerrForATruncatedQuestion) {
  dns_bench b;
  octets q = build_dns(dns_query(0x0D0D, "a.example"));
  q.resize(q.size() - 3);  // type and class cut
  b.send(q);
  auto raw = b.receive();
  ASSERT_TRUE(raw);
  EXPECT_EQ(parse_dns(*raw)->rcode, dns_rcode_formerr);
  EXPECT_EQ(parse_dns(*raw)->id, 0x0D0D);
}

TEST(DnsServer, NotimpForAnOpcodeOtherThanQuery) {
  dns_bench b;
  dns_message q = dns_query(0x0E0E, "a.example");
  q.opcode = dns_opcode_status;
  b.send(build_dns(q));
  auto raw = b.receive();
  ASSERT_TRUE(raw);
  auto r = parse_dns(*raw);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rcode, dns_rcode_notimp);
  EXPECT_EQ(r->opcode, dns_opcode_status);
}

TEST(DnsServer, DropsGarbageShorterThanAHeaderAndResponses) {
  dns_bench b;
  b.send(octets{1, 2, 3, 4, 5});
  EXPECT_FALSE(b.receive(ms(200)));
  dns_message resp = dns_query(1, "a.example");
  resp.qr = true;
  b.send(build_dns(resp));
  EXPECT_FALSE(b.receive(ms(200))) << "a server never answers a response";
  EXPECT_EQ(b.dns.stats().ignored, 2u);
  EXPECT_EQ(b.dns.stats().malformed_in, 2u);
  EXPECT_EQ(b.dns.stats().answers_total(), 0u);
}

TEST(DnsServer, TracesQueriesAndReplies) {
  dns_bench b;
  std::vector<std::string> lines;
  b.seg.set_trace_sink([&](std::string_view l) { lines.emplace_back(l); });
  b.dns.add_a("t.example", ip4(10, 0, 0, 1));
  b.ask("t.example");
  auto has = [&](const std::string& needle) {
    return std::any_of(lines.begin(), lines.end(),
                       [&](const std::string& l) { return l.find(needle) != l.npos; });
  };
  EXPECT_TRUE(has(R"("src":"lan.ns.dns","ev":"dns_query","from":"192.168.1.10:40000","len":27,"id":4096,)"
                  R"("name":"t.example","type":"A","class":1})"));
  EXPECT_TRUE(has(R"("ev":"dns_reply","to":"192.168.1.10:40000","id":4096,"rcode":"NOERROR","len":43,)"
                  R"("mode":"normal","delay":0})"));
  b.send(octets{1, 2, 3});
  EXPECT_FALSE(b.receive());
  EXPECT_TRUE(has(R"("ev":"dns_drop","from":"192.168.1.10:40000","len":3,"why":"shorter than a header"})"));
}

// ---- the wire, as Wireshark reads it --------------------------------------------------------------------

TEST(DnsWire, TsharkDecodesTheAnswersAndFlagsNothing) {
  REQUIRE_TSHARK(tshark);
  scoped_capture cap{temp_path("dns.pcap")};
  {
    dns_bench b;
    b.seg.capture(cap.path);
    b.dns.add_a("www.example.com", ip4(10, 0, 0, 1));
    b.dns.add_a("www.example.com", ip4(10, 0, 0, 2));
    b.dns.add_cname("alias.example.com", "www.example.com");
    b.dns.add_a("trunc.example.com", ip4(10, 0, 0, 3));
    b.dns.add_a("fail.example.com", ip4(10, 0, 0, 4));
    b.dns.set_behaviour("trunc.example.com", dns_behaviour::answer(dns_mode::truncated));
    b.dns.set_behaviour("fail.example.com", dns_behaviour::answer(dns_mode::servfail));
    b.ask("www.example.com");
    b.ask("alias.example.com");
    b.ask("nope.example.com");
    b.ask("trunc.example.com");
    b.ask("fail.example.com");
    b.seg.stop_capture();
  }
  const auto fields = tshark_fields(tshark, cap.path, "dns.flags.response == 1",
                                    {"dns.a", "dns.flags.rcode", "dns.cname", "dns.flags.truncated"});
  ASSERT_EQ(fields.exit_code, 0) << fields.err;
  EXPECT_EQ(fields.out,
            "10.0.0.1,10.0.0.2\t0\t\t0\n"
            "10.0.0.1,10.0.0.2\t0\twww.example.com\t0\n"
            "\t3\t\t0\n"
            "\t0\t\t1\n"
            "\t2\t\t0\n");
  const auto flagged = tshark_flagged(tshark, cap.path);
  ASSERT_EQ(flagged.exit_code, 0) << flagged.err;
  EXPECT_EQ(flagged.out, "") << "capture: " << cap.path;
}

// Wireshark agrees about the malformed answers: a count or rdata that runs past the datagram is a
// malformed packet; the pointer loop is decoded as a name "<Name contains a pointer that loops>".
TEST(DnsWire, TsharkAlsoSeesTheStructurallyMalformedAnswers) {
  REQUIRE_TSHARK(tshark);
  for (auto kind : {dns_malformation::count_mismatch, dns_malformation::truncated_rdata,
                    dns_malformation::pointer_loop}) {
    scoped_capture cap{temp_path(std::string("dns_") + to_string(kind) + ".pcap")};
    {
      dns_bench b;
      b.seg.capture(cap.path);
      b.dns.add_a("m.example", ip4(10, 0, 0, 1));
      b.dns.set_default_behaviour(dns_behaviour::malformed(kind));
      b.send(build_dns(dns_query(3, "m.example")));
      ASSERT_TRUE(b.receive());
      b.seg.stop_capture();
    }
    if (kind == dns_malformation::pointer_loop) {
      const auto names = tshark_fields(tshark, cap.path, "dns.flags.response == 1", {"dns.resp.name"});
      ASSERT_EQ(names.exit_code, 0) << names.err;
      EXPECT_NE(names.out.find("pointer that loops"), std::string::npos) << names.out;
      continue;
    }
    const auto flagged = tshark_flagged(tshark, cap.path);
    ASSERT_EQ(flagged.exit_code, 0) << flagged.err;
    EXPECT_EQ(count_lines(flagged.out), 1u) << to_string(kind) << ": " << flagged.out;
  }
}
