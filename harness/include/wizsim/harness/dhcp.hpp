// DHCP (RFC 2131 / RFC 2132): a message codec, builders for the messages a client sends, and a DHCP server
// that runs as a service on a peer_host.
//
// The codec is shared by the server, by the tests that play the client through the chip, by the driver's
// DHCP tests and by the real-network bridge tests (which talk to dnsmasq), so it is strict on input
// (everything a peer sends is checked against the buffer and the RFC's option lengths) and produces what
// real clients produce (padded to the 300-octet BOOTP minimum).
//
// The server serves one subnet from one address pool: DISCOVER -> OFFER (the offered address is held for
// the client for a while), REQUEST in SELECTING / INIT-REBOOT / RENEWING / REBINDING -> ACK or NAK,
// DECLINE, RELEASE and INFORM, with leases that expire in virtual time. Misbehaviours (silence, NAKs, a
// wrong xid, an OFFER and then silence) are switchable mid-run; two competing servers are two instances on
// two peer hosts of the same segment. Replies are addressed as RFC 2131 §4.1 says: to the relay (giaddr),
// else a NAK by broadcast, else to ciaddr, else by broadcast when the client set the BROADCAST flag, else
// to the offered address at chaddr without ARP. Not implemented (logged as such): plain BOOTP clients (no
// option 53) and relays on other subnets; the server does not probe an address (ARP/ping) before offering.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "wizsim/packet.hpp"
#include "wizsim/time.hpp"

namespace wizsim {

class peer_host;
struct udp_datagram;

// ---- constants ------------------------------------------------------------------------------------------

constexpr std::uint16_t dhcp_server_port = 67, dhcp_client_port = 68;
constexpr std::uint32_t dhcp_magic_cookie = 0x63825363;
constexpr std::size_t dhcp_fixed_len = 236;       // op .. file, before the magic cookie
constexpr std::size_t dhcp_options_offset = 240;  // after the magic cookie
constexpr std::size_t bootp_min_len = 300;        // RFC 1542 §2.1: relays may drop shorter messages
constexpr std::uint16_t dhcp_flag_broadcast = 0x8000;
constexpr std::uint32_t dhcp_infinite_lease = 0xFFFFFFFF;

enum : std::uint8_t { BOOTREQUEST = 1, BOOTREPLY = 2 };

// Option 53 values (RFC 2132 §9.6).
enum : std::uint8_t {
  DHCPDISCOVER = 1,
  DHCPOFFER = 2,
  DHCPREQUEST = 3,
  DHCPDECLINE = 4,
  DHCPACK = 5,
  DHCPNAK = 6,
  DHCPRELEASE = 7,
  DHCPINFORM = 8,
};
// "DISCOVER", "OFFER", ... ("UNKNOWN" for other values).
const char* dhcp_type_name(std::uint8_t type);

// Option codes (RFC 2132).
enum : std::uint8_t {
  DHCP_OPT_PAD = 0,
  DHCP_OPT_SUBNET_MASK = 1,
  DHCP_OPT_ROUTER = 3,
  DHCP_OPT_DNS = 6,
  DHCP_OPT_HOSTNAME = 12,
  DHCP_OPT_DOMAIN_NAME = 15,
  DHCP_OPT_BROADCAST = 28,
  DHCP_OPT_REQUESTED_IP = 50,
  DHCP_OPT_LEASE_TIME = 51,
  DHCP_OPT_OVERLOAD = 52,
  DHCP_OPT_MESSAGE_TYPE = 53,
  DHCP_OPT_SERVER_ID = 54,
  DHCP_OPT_PARAM_REQUEST = 55,
  DHCP_OPT_MESSAGE = 56,
  DHCP_OPT_MAX_SIZE = 57,
  DHCP_OPT_T1 = 58,
  DHCP_OPT_T2 = 59,
  DHCP_OPT_VENDOR_CLASS = 60,
  DHCP_OPT_CLIENT_ID = 61,
  DHCP_OPT_END = 255,
};

// ---- the message ----------------------------------------------------------------------------------------

struct dhcp_option {
  std::uint8_t code = 0;
  octets data;
  bool operator==(const dhcp_option& o) const { return code == o.code && data == o.data; }
};

struct dhcp_message {
  std::uint8_t op = BOOTREQUEST;
  std::uint8_t htype = 1;  // Ethernet
  std::uint8_t hlen = 6;
  std::uint8_t hops = 0;
  std::uint32_t xid = 0;
  std::uint16_t secs = 0;
  std::uint16_t flags = 0;
  ip4_addr ciaddr = 0, yiaddr = 0, siaddr = 0, giaddr = 0;
  mac_addr chaddr{};  // the first 6 of the 16 chaddr octets
  std::string sname;  // up to 64 octets, NUL-terminated on the wire when shorter
  std::string file;   // up to 128 octets
  // In wire order, one entry per option (repeated instances of a code are concatenated, RFC 3396).
  std::vector<dhcp_option> options;

  std::optional<std::uint8_t> message_type() const;  // option 53
  const octets* option(std::uint8_t code) const;     // nullptr when absent
  bool has_option(std::uint8_t code) const { return option(code) != nullptr; }
  // The option's first address / its value as a 32-bit number; nullopt when absent or too short.
  std::optional<ip4_addr> option_ip(std::uint8_t code) const;
  std::vector<ip4_addr> option_ips(std::uint8_t code) const;  // every whole address in the option
  std::optional<std::uint32_t> option_u32(std::uint8_t code) const;
  std::optional<std::string> option_string(std::uint8_t code) const;

  // Replaces the option's value (keeping its position) or appends it.
  void set_option(std::uint8_t code, octets data);
  void set_option_u8(std::uint8_t code, std::uint8_t v) { set_option(code, octets{v}); }
  void set_option_u32(std::uint8_t code, std::uint32_t v);
  void set_option_ip(std::uint8_t code, ip4_addr a) { set_option_u32(code, a); }
  void set_option_ips(std::uint8_t code, const std::vector<ip4_addr>& addrs);
  void set_option_string(std::uint8_t code, const std::string& s);
  bool remove_option(std::uint8_t code);  // false when absent

  bool broadcast_flag() const { return (flags & dhcp_flag_broadcast) != 0; }
  bool operator==(const dhcp_message& o) const;
};

// Parses a BOOTP/DHCP message (the UDP payload). Rejects, with the reason in `why`: fewer than 240 octets,
// op other than BOOTREQUEST/BOOTREPLY, hlen > 16, a wrong magic cookie, an option running past its area,
// an option area without END, and options whose length the RFCs fix (53 must be 1 octet, 50/51/54/58/59 4,
// 1/3/6 whole addresses, 61 at least 2, ...). Option 52 (overload) is applied: the options in `file`
// and/or `sname` are merged into `options`, those fields are left empty and option 52 itself is removed,
// so the result describes the same message without overloading. Octets after END are ignored (padding).
std::optional<dhcp_message> parse_dhcp(const std::uint8_t* p, std::size_t n, std::string* why = nullptr);
inline std::optional<dhcp_message> parse_dhcp(const octets& b, std::string* why = nullptr) {
  return parse_dhcp(b.data(), b.size(), why);
}

// The wire form: fixed header, magic cookie, the options in order (values over 255 octets split into
// several instances, RFC 3396), END, zero padding up to 300 octets. Never overloads file/sname.
// Throws std::invalid_argument for what cannot be encoded (sname over 64 / file over 128 octets, an option
// with code 0 or 255).
octets build_dhcp(const dhcp_message& m);

// "REQUEST xid=0x1234abcd chaddr=02:00:00:00:00:10 ciaddr=0.0.0.0 yiaddr=0.0.0.0 req=10.0.0.50" for logs.
std::string describe(const dhcp_message& m);

// ---- client messages ----------------------------------------------------------------------------------

// Who the client is and what it asks for; the builders below put in each message what RFC 2131 table 5
// allows (53 always; 61 unless disabled; 12 and 55 where permitted; 50 and 54 where required).
struct dhcp_client_identity {
  mac_addr mac{0x02, 0x00, 0x00, 0x00, 0x00, 0x10};
  octets client_id;            // option 61; empty: hardware type 1 + the MAC, as most clients send
  bool send_client_id = true;  // false: no option 61 (the server keys the client by chaddr)
  std::string hostname;        // option 12; empty: not sent
  std::vector<std::uint8_t> params{DHCP_OPT_SUBNET_MASK, DHCP_OPT_ROUTER, DHCP_OPT_DNS, DHCP_OPT_DOMAIN_NAME,
                                   DHCP_OPT_LEASE_TIME,  DHCP_OPT_T1,     DHCP_OPT_T2};  // option 55
  bool broadcast = false;  // the BROADCAST flag: the client cannot receive unicast before it has an address
  std::uint16_t secs = 0;
};

// DISCOVER, optionally asking for `requested` (option 50).
dhcp_message dhcp_discover(const dhcp_client_identity& c, std::uint32_t xid,
                           std::optional<ip4_addr> requested = std::nullopt);
// REQUEST in SELECTING state: 50 = the offered address, 54 = the chosen server.
dhcp_message dhcp_request_selecting(const dhcp_client_identity& c, std::uint32_t xid, ip4_addr offered,
                                    ip4_addr server_id);
// REQUEST in INIT-REBOOT state: 50 = the remembered address, no 54, ciaddr 0.
dhcp_message dhcp_request_init_reboot(const dhcp_client_identity& c, std::uint32_t xid, ip4_addr previous);
// REQUEST in RENEWING (sent unicast to the server) or REBINDING (broadcast) state: ciaddr = our address.
dhcp_message dhcp_request_renew(const dhcp_client_identity& c, std::uint32_t xid, ip4_addr ciaddr);
// DECLINE of `address` offered by `server_id`; `reason` goes into option 56 when not empty.
dhcp_message dhcp_decline(const dhcp_client_identity& c, std::uint32_t xid, ip4_addr address,
                          ip4_addr server_id, const std::string& reason = {});
// RELEASE of the lease on `address` from `server_id`.
dhcp_message dhcp_release(const dhcp_client_identity& c, std::uint32_t xid, ip4_addr address,
                          ip4_addr server_id);
// INFORM from a client configured with `address` by other means.
dhcp_message dhcp_inform(const dhcp_client_identity& c, std::uint32_t xid, ip4_addr address);

// ---- the server ---------------------------------------------------------------------------------------

struct dhcp_server_config {
  ip4_addr pool_first = 0, pool_last = 0;  // inclusive range of addresses handed out
  ip4_addr netmask = ip4(255, 255, 255, 0);
  ip4_addr router = 0;                        // option 3; 0: not sent
  std::vector<ip4_addr> dns;                  // option 6; empty: not sent
  std::string domain_name;                    // option 15; empty: not sent
  std::uint32_t lease_time = 3600;            // seconds (option 51); dhcp_infinite_lease: never expires
  std::uint32_t t1 = 0, t2 = 0;               // options 58/59; 0: 50% / 87.5% of the lease time
  ip4_addr server_id = 0;                     // option 54; 0: the host's address
  ps_t reply_delay = 0;                       // virtual time between a request and the reply
  ps_t offer_hold = seconds(30);              // how long an offered address stays reserved for its client
  ps_t decline_hold = seconds(600);           // how long a declined address stays out of the pool
  std::map<mac_addr, ip4_addr> reservations;  // static bindings by chaddr; inside or outside the pool
  // Another server on the segment may hand out the same addresses (both must say so): competing servers
  // on purpose. Otherwise a second server whose pool overlaps this one fails at construction.
  bool shared_pool = false;

  // Throws std::invalid_argument ("dhcp: pool 10.0.0.50-10.0.0.40 is empty") when the configuration
  // cannot work: the server has no address (`host_ip` and server_id both 0), a non-contiguous netmask, an
  // empty pool, a pool, router or reservation outside the server's subnet or on its network / broadcast
  // address, a pool or reservation holding the server's or the router's address, two MACs reserved the
  // same address, a DNS server 0.0.0.0, a zero lease, or not t1 < t2 < lease. Overlapping pools of two
  // servers on one segment are caught by dhcp_server's constructor (see shared_pool).
  void validate(ip4_addr host_ip = 0) const;
};

enum class dhcp_behaviour : std::uint8_t {
  normal,
  silent,             // receives (and counts) everything, answers nothing
  nak,                // NAKs every REQUEST addressed to it
  wrong_xid,          // replies carry xid + 1
  offer_then_vanish,  // OFFERs as usual, then ignores every REQUEST
};
const char* to_string(dhcp_behaviour b);

enum class dhcp_lease_state : std::uint8_t { offered, bound, declined };
const char* to_string(dhcp_lease_state s);

struct dhcp_lease {
  ip4_addr ip = 0;
  dhcp_lease_state state = dhcp_lease_state::offered;
  mac_addr mac{};        // chaddr of the client (zero for a declined address)
  octets client_id;      // option 61 as the client sent it; empty: the client is known by its chaddr
  std::string hostname;  // option 12 as the client sent it
  ps_t expires = never;  // virtual time at which the entry lapses
};

struct dhcp_server_stats {
  std::array<std::uint64_t, 9> in{};   // by option 53 value, DISCOVER (1) .. INFORM (8); [0]: other values
  std::array<std::uint64_t, 9> out{};  // OFFER, ACK, NAK sent
  std::uint64_t malformed = 0;         // unparseable, not a BOOTREQUEST, no/invalid option 53, bad fields
  std::uint64_t ignored = 0;           // well-formed but not answered (behaviour, another server, no record)
  std::uint64_t pool_exhausted = 0;    // DISCOVERs left without an OFFER for want of a free address
  std::uint64_t offers_withdrawn = 0;  // offers dropped because the client chose another server
};

class dhcp_server {
 public:
  // Validates the configuration, claims the pool on the host's segment (both std::invalid_argument) and
  // binds UDP port 67 on `host`, which must outlive the server.
  dhcp_server(peer_host& host, dhcp_server_config cfg);
  ~dhcp_server();
  dhcp_server(const dhcp_server&) = delete;
  dhcp_server& operator=(const dhcp_server&) = delete;

  void set_behaviour(dhcp_behaviour b);
  dhcp_behaviour behaviour() const { return m_behaviour; }

  // The configuration with the defaults resolved (server_id, t1, t2).
  const dhcp_server_config& config() const { return m_cfg; }
  ip4_addr server_id() const { return m_cfg.server_id; }
  // Entries that have not lapsed at the current virtual time, by address.
  std::vector<dhcp_lease> leases() const;
  // The live entry for an address, or for a client's chaddr (whichever way the client is keyed).
  std::optional<dhcp_lease> lease_for(ip4_addr ip) const;
  std::optional<dhcp_lease> lease_of(const mac_addr& mac) const;
  // Pool addresses neither leased, offered, declined nor reserved for a client.
  std::size_t free_addresses() const;
  const dhcp_server_stats& stats() const { return m_stats; }
  peer_host& host() { return m_host; }

 private:
  struct client;
  void receive(const udp_datagram& d);
  void on_discover(const dhcp_message& m, const client& c);
  void on_request(const dhcp_message& m, const client& c, const udp_datagram& d);
  void on_decline(const dhcp_message& m, const client& c);
  void on_release(const dhcp_message& m, const client& c);
  void on_inform(const dhcp_message& m, const client& c);

  void expire();
  bool in_subnet(ip4_addr a) const;
  bool in_pool(ip4_addr a) const;
  bool owned_by(const dhcp_lease& l, const client& c) const;
  dhcp_lease* entry_of(const client& c);
  // Whether `ip` may be bound to `c`: in the subnet, in the pool or reserved for c, not held by anyone else.
  bool assignable(ip4_addr ip, const client& c) const;
  std::optional<ip4_addr> choose_address(const dhcp_message& m, const client& c);
  void bind(ip4_addr ip, const client& c, dhcp_lease_state state, ps_t hold);
  void drop_entry(ip4_addr ip);
  ps_t lease_end() const;

  dhcp_message reply_to(const dhcp_message& m, std::uint8_t type) const;
  void add_parameters(dhcp_message& r, const dhcp_message& m, bool with_lease) const;
  void send_reply(const dhcp_message& m, dhcp_message r);
  void trace(const char* dir, const dhcp_message& m, ip4_addr ip) const;

  peer_host& m_host;
  dhcp_server_config m_cfg;
  dhcp_behaviour m_behaviour = dhcp_behaviour::normal;
  std::map<ip4_addr, dhcp_lease> m_leases;
  std::map<std::string, ip4_addr> m_previous;  // client key -> last address it held (preferred next time)
  dhcp_server_stats m_stats;
  std::shared_ptr<bool> m_alive;  // guards replies scheduled with reply_delay
};

}  // namespace wizsim
