// DNS stub resolver (RFC 1035) for the W5500 driver: one A query over UDP to one server, no heap.
//
// A lookup takes a free socket, binds it to a random port in 49152..65535 and sends one query (random
// 16-bit id, RD=1, QTYPE A, QCLASS IN) to the server's port 53. It retransmits the same query (same id,
// same port, so a late answer to an earlier copy still counts) `tries` times, waiting `timeout_ms` after
// each: 3 x 5 s by default, so a silent server costs 15 s. The socket is closed and released on every
// return.
//
// An answer counts only if it comes from the server's address and port 53, carries our id, has QR set and
// echoes our question (one question, same name ignoring ASCII case, type A, class IN, RFC 5452 §9.1);
// anything else is ignored and the lookup keeps waiting. Names in the answer may be compressed: every
// pointer must point strictly backwards from where it is read (so chains cannot loop) and stay inside the
// datagram, labels are at most 63 octets and names 255. The CNAME chain from the question's name is
// followed through the answer section (records in any order, at most max_cname hops) to an IN A record.
//
// Results (the seed's gethostbyname return codes map as noted):
//   ok                 the first address of the name's A records
//   value_error        hostname null, empty, a label over 63 octets or a name over 255 in wire form
//   runtime_error      "DNS: no such name (NXDOMAIN)", "DNS: server failure (SERVFAIL)", "DNS: the server
//                      refused the query" (other RCODEs), "DNS: the name has no address" (NOERROR without
//                      an A record at the end of the chain), "DNS: answer truncated" (TC=1; no TCP
//                      fallback; seed _TRUNCATED -3), "DNS: malformed answer" (an answer to our question
//                      that cannot be parsed: counts past the end, a pointer loop, an A record whose rdata
//                      is not 4 octets, a CNAME chain longer than max_cname; seed _INVALID_RESPONSE -4),
//                      "DNS: no server address" (0.0.0.0 or 255.255.255.255; seed _INVALID_SERVER -2)
//   timeout_error      no acceptable answer after all tries (seed _TIMED_OUT -1)
//   (from the core)    runtime_error "All sockets in use." and chip errors
// An error answer (NXDOMAIN, SERVFAIL, ...) ends the lookup at once: with one server there is nobody else
// to ask and asking again gets the same answer.
//
// Where this differs from the seed (adafruit_wiznet5k_dns.py 5.2.1) on purpose: it retransmits (the seed
// sends once while documenting retries, drivers.md §10), it checks the question and QR instead of a fixed
// flags word (0x8180/0x8580), it follows CNAMEs and compression anywhere instead of expecting the first
// answer at 0xC00C, and it never reads past the datagram.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>

#include "wiznet5k/error.hpp"

namespace wiznet5k {

using ip4 = std::array<std::uint8_t, 4>;  // as in wiznet5k.hpp

class WIZNET5K;

class DNS {
 public:
  static constexpr std::uint16_t server_port = 53;
  static constexpr std::size_t max_name = 255;  // wire form, RFC 1035 §2.3.4
  static constexpr std::size_t max_label = 63;
  static constexpr std::size_t max_message = 512;  // classic UDP limit; longer answers are cut (and TC)
  static constexpr std::size_t max_cname = 8;      // CNAME hops followed
  static constexpr std::size_t max_records = 32;   // answer records examined

  DNS(WIZNET5K& eth, const ip4& dns_address, bool debug = false);

  // Resolves `hostname` to an IPv4 address (see above). A dotted-quad literal ("10.0.0.5") is returned
  // as it is without a query, as getaddrinfo does.
  result<ip4> gethostbyname(const char* hostname);

  // Tunables: transmissions of the query and the wait after each.
  std::uint8_t tries = 3;
  std::uint32_t timeout_ms = 5000;
  // How often the socket is polled while waiting (a HAL sleep each time).
  std::uint32_t poll_ms = 10;

  // About the last lookup: its query id, its source port, how many queries it sent, how many datagrams it
  // ignored (not from the server, wrong id, not an answer to our question), and the RCODE of the answer
  // it used (0xFF when none came).
  std::uint16_t last_id() const { return m_id; }
  std::uint16_t last_port() const { return m_port; }
  std::uint8_t last_sent() const { return m_sent; }
  std::uint16_t last_ignored() const { return m_ignored; }
  std::uint8_t last_rcode() const { return m_rcode; }
  bool debug() const { return m_debug; }

 private:
  WIZNET5K& m_eth;
  ip4 m_server{};
  bool m_debug = false;
  std::uint16_t m_id = 0, m_port = 0, m_ignored = 0;
  std::uint8_t m_sent = 0, m_rcode = 0xFF;
};

}  // namespace wiznet5k
