#include "wizsim/harness/dhcp.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

#include "wizsim/diag.hpp"
#include "wizsim/harness/peer.hpp"
#include "wizsim/scheduler.hpp"

namespace wizsim {

namespace {

constexpr std::size_t chaddr_off = 28, chaddr_len = 16, sname_off = 44, sname_len = 64, file_off = 108,
                      file_len = 128, cookie_off = 236, max_option_chunk = 255;

void fail(std::string* why, std::string msg) {
  if (why != nullptr) *why = std::move(msg);
}

std::string read_field(const std::uint8_t* p, std::size_t n) {
  std::size_t len = 0;
  while (len < n && p[len] != 0) ++len;
  return std::string(reinterpret_cast<const char*>(p), len);
}

// Walks one option area (the options field, or file/sname when overloaded) into `out`, concatenating
// repeated codes (RFC 3396). `base` is the area's offset in the message, for the error text.
bool parse_area(const std::uint8_t* p, std::size_t n, std::size_t base, const char* area,
                std::vector<dhcp_option>& out, std::string* why) {
  std::size_t i = 0;
  for (;;) {
    if (i >= n) {
      fail(why, fmt::format("the {} area is not terminated by END (255)", area));
      return false;
    }
    const std::uint8_t code = p[i];
    if (code == DHCP_OPT_PAD) {
      ++i;
      continue;
    }
    if (code == DHCP_OPT_END) return true;
    if (i + 1 >= n) {
      fail(why, fmt::format("option {} at offset {} has no length octet", code, base + i));
      return false;
    }
    const std::size_t len = p[i + 1];
    if (i + 2 + len > n) {
      fail(why, fmt::format("option {} at offset {} (length {}) runs past the end of the {} area", code,
                            base + i, len, area));
      return false;
    }
    auto same = std::find_if(out.begin(), out.end(), [code](const dhcp_option& o) { return o.code == code; });
    if (same == out.end()) {
      out.push_back({code, octets(p + i + 2, p + i + 2 + len)});
    } else {
      same->data.insert(same->data.end(), p + i + 2, p + i + 2 + len);
    }
    i += 2 + len;
  }
}

// The lengths RFC 2132 fixes; an empty string when `len` is acceptable for `code`.
std::string length_error(std::uint8_t code, std::size_t len) {
  switch (code) {
    case DHCP_OPT_SUBNET_MASK:
    case DHCP_OPT_BROADCAST:
    case DHCP_OPT_REQUESTED_IP:
    case DHCP_OPT_LEASE_TIME:
    case DHCP_OPT_SERVER_ID:
    case DHCP_OPT_T1:
    case DHCP_OPT_T2:
      if (len != 4) return fmt::format("option {} has length {}, must be 4", code, len);
      break;
    case DHCP_OPT_ROUTER:
    case DHCP_OPT_DNS:
      if (len == 0 || len % 4 != 0)
        return fmt::format("option {} has length {}, must be a multiple of 4", code, len);
      break;
    case DHCP_OPT_MESSAGE_TYPE:
    case DHCP_OPT_OVERLOAD:
      if (len != 1) return fmt::format("option {} has length {}, must be 1", code, len);
      break;
    case DHCP_OPT_MAX_SIZE:
      if (len != 2) return fmt::format("option {} has length {}, must be 2", code, len);
      break;
    case DHCP_OPT_CLIENT_ID:
      if (len < 2) return fmt::format("option {} has length {}, must be at least 2", code, len);
      break;
    case DHCP_OPT_HOSTNAME:
    case DHCP_OPT_DOMAIN_NAME:
    case DHCP_OPT_PARAM_REQUEST:
    case DHCP_OPT_MESSAGE:
    case DHCP_OPT_VENDOR_CLASS:
      if (len == 0) return fmt::format("option {} has length 0, must be at least 1", code);
      break;
    default:
      break;
  }
  return {};
}

octets u32_octets(std::uint32_t v) {
  octets o(4);
  put32(o.data(), v);
  return o;
}

std::string hex_key(const char* prefix, const octets& o) {
  return prefix + hex_bytes(o.data(), o.size());
}

}  // namespace

// ---- the message ----------------------------------------------------------------------------------------

const char* dhcp_type_name(std::uint8_t type) {
  switch (type) {
    case DHCPDISCOVER:
      return "DISCOVER";
    case DHCPOFFER:
      return "OFFER";
    case DHCPREQUEST:
      return "REQUEST";
    case DHCPDECLINE:
      return "DECLINE";
    case DHCPACK:
      return "ACK";
    case DHCPNAK:
      return "NAK";
    case DHCPRELEASE:
      return "RELEASE";
    case DHCPINFORM:
      return "INFORM";
    default:
      return "UNKNOWN";
  }
}

std::optional<std::uint8_t> dhcp_message::message_type() const {
  const octets* o = option(DHCP_OPT_MESSAGE_TYPE);
  if (o == nullptr || o->size() != 1) return std::nullopt;
  return (*o)[0];
}

const octets* dhcp_message::option(std::uint8_t code) const {
  for (const auto& o : options)
    if (o.code == code) return &o.data;
  return nullptr;
}

std::optional<ip4_addr> dhcp_message::option_ip(std::uint8_t code) const {
  return option_u32(code);
}

std::vector<ip4_addr> dhcp_message::option_ips(std::uint8_t code) const {
  std::vector<ip4_addr> out;
  if (const octets* o = option(code))
    for (std::size_t i = 0; i + 4 <= o->size(); i += 4) out.push_back(get32(o->data() + i));
  return out;
}

std::optional<std::uint32_t> dhcp_message::option_u32(std::uint8_t code) const {
  const octets* o = option(code);
  if (o == nullptr || o->size() < 4) return std::nullopt;
  return get32(o->data());
}

std::optional<std::string> dhcp_message::option_string(std::uint8_t code) const {
  const octets* o = option(code);
  if (o == nullptr) return std::nullopt;
  return std::string(o->begin(), o->end());
}

void dhcp_message::set_option(std::uint8_t code, octets data) {
  for (auto& o : options) {
    if (o.code == code) {
      o.data = std::move(data);
      return;
    }
  }
  options.push_back({code, std::move(data)});
}

void dhcp_message::set_option_u32(std::uint8_t code, std::uint32_t v) {
  set_option(code, u32_octets(v));
}

void dhcp_message::set_option_ips(std::uint8_t code, const std::vector<ip4_addr>& addrs) {
  octets o(addrs.size() * 4);
  for (std::size_t i = 0; i < addrs.size(); ++i) put32(o.data() + i * 4, addrs[i]);
  set_option(code, std::move(o));
}

void dhcp_message::set_option_string(std::uint8_t code, const std::string& s) {
  set_option(code, octets(s.begin(), s.end()));
}

bool dhcp_message::remove_option(std::uint8_t code) {
  const auto it =
      std::find_if(options.begin(), options.end(), [code](const dhcp_option& o) { return o.code == code; });
  if (it == options.end()) return false;
  options.erase(it);
  return true;
}

bool dhcp_message::operator==(const dhcp_message& o) const {
  return op == o.op && htype == o.htype && hlen == o.hlen && hops == o.hops && xid == o.xid &&
         secs == o.secs && flags == o.flags && ciaddr == o.ciaddr && yiaddr == o.yiaddr &&
         siaddr == o.siaddr && giaddr == o.giaddr && chaddr == o.chaddr && sname == o.sname &&
         file == o.file && options == o.options;
}

std::optional<dhcp_message> parse_dhcp(const std::uint8_t* p, std::size_t n, std::string* why) {
  if (p == nullptr || n < dhcp_options_offset) {
    fail(why,
         fmt::format("{} octets, shorter than the {}-octet header and magic cookie", n, dhcp_options_offset));
    return std::nullopt;
  }
  dhcp_message m;
  m.op = p[0];
  if (m.op != BOOTREQUEST && m.op != BOOTREPLY) {
    fail(why, fmt::format("op {} is neither BOOTREQUEST (1) nor BOOTREPLY (2)", m.op));
    return std::nullopt;
  }
  m.htype = p[1];
  m.hlen = p[2];
  if (m.hlen > chaddr_len) {
    fail(why, fmt::format("hlen {} is longer than the 16-octet chaddr field", m.hlen));
    return std::nullopt;
  }
  const std::uint32_t cookie = get32(p + cookie_off);
  if (cookie != dhcp_magic_cookie) {
    fail(why, fmt::format("magic cookie {:08x}, expected 63825363", cookie));
    return std::nullopt;
  }
  m.hops = p[3];
  m.xid = get32(p + 4);
  m.secs = get16(p + 8);
  m.flags = get16(p + 10);
  m.ciaddr = get32(p + 12);
  m.yiaddr = get32(p + 16);
  m.siaddr = get32(p + 20);
  m.giaddr = get32(p + 24);
  std::copy(p + chaddr_off, p + chaddr_off + m.chaddr.size(), m.chaddr.begin());
  if (!parse_area(p + dhcp_options_offset, n - dhcp_options_offset, dhcp_options_offset, "options", m.options,
                  why))
    return std::nullopt;

  // Option 52: the client reads the options field, then `file`, then `sname` (RFC 2131 §4.1).
  std::uint8_t overload = 0;
  if (const octets* o = m.option(DHCP_OPT_OVERLOAD)) {
    if (o->size() != 1 || (*o)[0] < 1 || (*o)[0] > 3) {
      fail(why, fmt::format("option 52 (overload) must be one octet of 1, 2 or 3"));
      return std::nullopt;
    }
    overload = (*o)[0];
    m.remove_option(DHCP_OPT_OVERLOAD);
  }
  if ((overload & 1) != 0) {
    if (!parse_area(p + file_off, file_len, file_off, "file", m.options, why)) return std::nullopt;
  } else {
    m.file = read_field(p + file_off, file_len);
  }
  if ((overload & 2) != 0) {
    if (!parse_area(p + sname_off, sname_len, sname_off, "sname", m.options, why)) return std::nullopt;
  } else {
    m.sname = read_field(p + sname_off, sname_len);
  }
  for (const auto& o : m.options) {
    std::string err = length_error(o.code, o.data.size());
    if (!err.empty()) {
      fail(why, std::move(err));
      return std::nullopt;
    }
  }
  return m;
}

octets build_dhcp(const dhcp_message& m) {
  if (m.sname.size() > sname_len)
    throw std::invalid_argument(fmt::format("dhcp: sname of {} octets does not fit in 64", m.sname.size()));
  if (m.file.size() > file_len)
    throw std::invalid_argument(fmt::format("dhcp: file of {} octets does not fit in 128", m.file.size()));
  octets b(dhcp_options_offset, 0);
  b[0] = m.op;
  b[1] = m.htype;
  b[2] = m.hlen;
  b[3] = m.hops;
  put32(&b[4], m.xid);
  put16(&b[8], m.secs);
  put16(&b[10], m.flags);
  put32(&b[12], m.ciaddr);
  put32(&b[16], m.yiaddr);
  put32(&b[20], m.siaddr);
  put32(&b[24], m.giaddr);
  std::copy(m.chaddr.begin(), m.chaddr.end(), b.begin() + chaddr_off);
  std::copy(m.sname.begin(), m.sname.end(), b.begin() + sname_off);
  std::copy(m.file.begin(), m.file.end(), b.begin() + file_off);
  put32(&b[cookie_off], dhcp_magic_cookie);
  for (const auto& o : m.options) {
    if (o.code == DHCP_OPT_PAD || o.code == DHCP_OPT_END)
      throw std::invalid_argument(fmt::format("dhcp: option code {} cannot carry a value", o.code));
    std::size_t off = 0;
    do {  // a value over 255 octets goes out as several instances of the code (RFC 3396)
      const std::size_t chunk = std::min(max_option_chunk, o.data.size() - off);
      b.push_back(o.code);
      b.push_back(static_cast<std::uint8_t>(chunk));
      b.insert(b.end(), o.data.begin() + static_cast<std::ptrdiff_t>(off),
               o.data.begin() + static_cast<std::ptrdiff_t>(off + chunk));
      off += chunk;
    } while (off < o.data.size());
  }
  b.push_back(DHCP_OPT_END);
  if (b.size() < bootp_min_len) b.resize(bootp_min_len, 0);
  return b;
}

std::string describe(const dhcp_message& m) {
  const auto type = m.message_type();
  std::string s = fmt::format("{} xid=0x{:08x} chaddr={}", type ? dhcp_type_name(*type) : "BOOTP", m.xid,
                              to_string(m.chaddr));
  if (m.ciaddr != 0) s += " ciaddr=" + to_string(m.ciaddr);
  if (m.yiaddr != 0) s += " yiaddr=" + to_string(m.yiaddr);
  if (m.giaddr != 0) s += " giaddr=" + to_string(m.giaddr);
  if (const auto req = m.option_ip(DHCP_OPT_REQUESTED_IP)) s += " req=" + to_string(*req);
  if (const auto sid = m.option_ip(DHCP_OPT_SERVER_ID)) s += " server=" + to_string(*sid);
  if (m.broadcast_flag()) s += " broadcast";
  return s;
}

// ---- client messages ----------------------------------------------------------------------------------

namespace {

dhcp_message client_base(const dhcp_client_identity& c, std::uint32_t xid, std::uint8_t type) {
  dhcp_message m;
  m.op = BOOTREQUEST;
  m.xid = xid;
  m.secs = c.secs;
  m.flags = c.broadcast ? dhcp_flag_broadcast : 0;
  m.chaddr = c.mac;
  m.set_option_u8(DHCP_OPT_MESSAGE_TYPE, type);
  if (c.send_client_id) {
    octets id = c.client_id;
    if (id.empty()) {
      id.push_back(1);  // hardware type: Ethernet
      id.insert(id.end(), c.mac.begin(), c.mac.end());
    }
    m.set_option(DHCP_OPT_CLIENT_ID, std::move(id));
  }
  return m;
}

void add_name_and_params(dhcp_message& m, const dhcp_client_identity& c) {
  if (!c.hostname.empty()) m.set_option_string(DHCP_OPT_HOSTNAME, c.hostname);
  if (!c.params.empty()) m.set_option(DHCP_OPT_PARAM_REQUEST, octets(c.params.begin(), c.params.end()));
}

}  // namespace

dhcp_message dhcp_discover(const dhcp_client_identity& c, std::uint32_t xid,
                           std::optional<ip4_addr> requested) {
  dhcp_message m = client_base(c, xid, DHCPDISCOVER);
  if (requested) m.set_option_ip(DHCP_OPT_REQUESTED_IP, *requested);
  add_name_and_params(m, c);
  return m;
}

dhcp_message dhcp_request_selecting(const dhcp_client_identity& c, std::uint32_t xid, ip4_addr offered,
                                    ip4_addr server_id) {
  dhcp_message m = client_base(c, xid, DHCPREQUEST);
  m.set_option_ip(DHCP_OPT_REQUESTED_IP, offered);
  m.set_option_ip(DHCP_OPT_SERVER_ID, server_id);
  add_name_and_params(m, c);
  return m;
}

dhcp_message dhcp_request_init_reboot(const dhcp_client_identity& c, std::uint32_t xid, ip4_addr previous) {
  dhcp_message m = client_base(c, xid, DHCPREQUEST);
  m.set_option_ip(DHCP_OPT_REQUESTED_IP, previous);
  add_name_and_params(m, c);
  return m;
}

dhcp_message dhcp_request_renew(const dhcp_client_identity& c, std::uint32_t xid, ip4_addr ciaddr) {
  dhcp_message m = client_base(c, xid, DHCPREQUEST);
  m.ciaddr = ciaddr;
  add_name_and_params(m, c);
  return m;
}

dhcp_message dhcp_decline(const dhcp_client_identity& c, std::uint32_t xid, ip4_addr address,
                          ip4_addr server_id, const std::string& reason) {
  dhcp_message m = client_base(c, xid, DHCPDECLINE);
  m.set_option_ip(DHCP_OPT_REQUESTED_IP, address);
  m.set_option_ip(DHCP_OPT_SERVER_ID, server_id);
  if (!reason.empty()) m.set_option_string(DHCP_OPT_MESSAGE, reason);
  return m;
}

dhcp_message dhcp_release(const dhcp_client_identity& c, std::uint32_t xid, ip4_addr address,
                          ip4_addr server_id) {
  dhcp_message m = client_base(c, xid, DHCPRELEASE);
  m.ciaddr = address;
  m.set_option_ip(DHCP_OPT_SERVER_ID, server_id);
  return m;
}

dhcp_message dhcp_inform(const dhcp_client_identity& c, std::uint32_t xid, ip4_addr address) {
  dhcp_message m = client_base(c, xid, DHCPINFORM);
  m.ciaddr = address;
  add_name_and_params(m, c);
  return m;
}

// ---- server configuration ----------------------------------------------------------------------------

namespace {

// t1/t2 with the RFC 2131 §4.4.5 defaults (0.5 and 0.875 of the lease); 0 for an infinite lease left at
// its defaults (no renewal times are sent then).
std::pair<std::uint32_t, std::uint32_t> effective_timers(const dhcp_server_config& c) {
  if (c.lease_time == dhcp_infinite_lease) return {c.t1, c.t2};
  const std::uint64_t lease = c.lease_time;
  const std::uint32_t t1 = c.t1 != 0 ? c.t1 : static_cast<std::uint32_t>(lease / 2);
  const std::uint32_t t2 = c.t2 != 0 ? c.t2 : static_cast<std::uint32_t>(lease * 7 / 8);
  return {t1, t2};
}

int prefix_len(ip4_addr mask) {
  int n = 0;
  while (n < 32 && (mask & (0x80000000u >> n)) != 0) ++n;
  return n;
}

}  // namespace

void dhcp_server_config::validate(ip4_addr host_ip) const {
  const ip4_addr self = host_ip != 0 ? host_ip : server_id;
  if (self == 0)
    throw std::invalid_argument("dhcp: the server has no address (give the host an IP or set server_id)");
  const ip4_addr inv = ~netmask;
  if ((inv & (inv + 1)) != 0)
    throw std::invalid_argument(fmt::format("dhcp: netmask {} is not contiguous", to_string(netmask)));
  if (prefix_len(netmask) > 30 || netmask == 0)
    throw std::invalid_argument(
        fmt::format("dhcp: netmask {} leaves no room for a pool", to_string(netmask)));
  const ip4_addr net = self & netmask, bcast = net | inv;
  const std::string subnet = fmt::format("{}/{}", to_string(net), prefix_len(netmask));
  auto inside = [&](ip4_addr a) { return (a & netmask) == net; };
  auto special = [&](ip4_addr a) { return a == net || a == bcast; };

  const std::string pool = fmt::format("{}-{}", to_string(pool_first), to_string(pool_last));
  if (pool_first == 0 && pool_last == 0)
    throw std::invalid_argument("dhcp: no pool (set pool_first and pool_last)");
  if (pool_first > pool_last) throw std::invalid_argument(fmt::format("dhcp: pool {} is empty", pool));
  if (!inside(pool_first) || !inside(pool_last))
    throw std::invalid_argument(fmt::format("dhcp: pool {} is outside the subnet {} of the server address {}",
                                            pool, subnet, to_string(self)));
  auto in_pool = [&](ip4_addr a) { return a >= pool_first && a <= pool_last; };
  if (in_pool(net))
    throw std::invalid_argument(
        fmt::format("dhcp: pool {} contains the network address {}", pool, to_string(net)));
  if (in_pool(bcast))
    throw std::invalid_argument(
        fmt::format("dhcp: pool {} contains the broadcast address {}", pool, to_string(bcast)));
  for (ip4_addr a : {self, server_id}) {
    if (a != 0 && in_pool(a))
      throw std::invalid_argument(
          fmt::format("dhcp: pool {} contains the server's address {}", pool, to_string(a)));
  }
  if (router != 0) {
    if (!inside(router) || special(router))
      throw std::invalid_argument(
          fmt::format("dhcp: router {} is not a host address of the subnet {}", to_string(router), subnet));
    if (in_pool(router))
      throw std::invalid_argument(
          fmt::format("dhcp: pool {} contains the router's address {}", pool, to_string(router)));
  }
  for (ip4_addr d : dns) {
    if (d == 0 || d == 0xFFFFFFFFu)
      throw std::invalid_argument(fmt::format("dhcp: DNS server {} is not a usable address", to_string(d)));
  }
  if (domain_name.size() > 253)
    throw std::invalid_argument(fmt::format(
        "dhcp: domain name of {} characters is longer than a DNS name (253)", domain_name.size()));
  if (lease_time == 0) throw std::invalid_argument("dhcp: lease time must be at least 1 second");
  const auto [e1, e2] = effective_timers(*this);
  if (lease_time != dhcp_infinite_lease) {
    if (!(e1 < e2 && e2 < lease_time))
      throw std::invalid_argument(fmt::format(
          "dhcp: need t1 < t2 < lease time, have t1 {} s, t2 {} s, lease {} s", e1, e2, lease_time));
  } else if (e1 != 0 && e2 != 0 && e1 >= e2) {
    throw std::invalid_argument(fmt::format("dhcp: need t1 < t2, have t1 {} s, t2 {} s", e1, e2));
  }
  if (offer_hold == 0) throw std::invalid_argument("dhcp: offer_hold must be positive");
  std::map<ip4_addr, mac_addr> taken;
  for (const auto& [mac, ip] : reservations) {
    if (!inside(ip) || special(ip))
      throw std::invalid_argument(
          fmt::format("dhcp: reservation {} for {} is not a host address of the subnet {}", to_string(ip),
                      to_string(mac), subnet));
    if (ip == self || ip == server_id || ip == router)
      throw std::invalid_argument(
          fmt::format("dhcp: reservation {} for {} is the server's or the router's address", to_string(ip),
                      to_string(mac)));
    const auto [it, fresh] = taken.emplace(ip, mac);
    if (!fresh)
      throw std::invalid_argument(fmt::format("dhcp: {} is reserved for both {} and {}", to_string(ip),
                                              to_string(it->second), to_string(mac)));
  }
}

const char* to_string(dhcp_behaviour b) {
  switch (b) {
    case dhcp_behaviour::normal:
      return "normal";
    case dhcp_behaviour::silent:
      return "silent";
    case dhcp_behaviour::nak:
      return "nak";
    case dhcp_behaviour::wrong_xid:
      return "wrong_xid";
    case dhcp_behaviour::offer_then_vanish:
      return "offer_then_vanish";
  }
  return "?";
}

const char* to_string(dhcp_lease_state s) {
  switch (s) {
    case dhcp_lease_state::offered:
      return "offered";
    case dhcp_lease_state::bound:
      return "bound";
    case dhcp_lease_state::declined:
      return "declined";
  }
  return "?";
}

// ---- the server ---------------------------------------------------------------------------------------

// The client a request comes from: keyed by option 61 when present, else by chaddr (RFC 2131 §4.2).
struct dhcp_server::client {
  std::string key;
  mac_addr mac{};
  octets client_id;
  std::string hostname;
};

namespace {

std::string lease_key(const dhcp_lease& l) {
  return l.client_id.empty() ? "hw:" + to_string(l.mac) : hex_key("id:", l.client_id);
}

}  // namespace

dhcp_server::dhcp_server(peer_host& host, dhcp_server_config cfg)
    : m_host(host), m_cfg(std::move(cfg)), m_alive(std::make_shared<bool>(true)) {
  m_cfg.validate(host.ip());
  if (m_cfg.server_id == 0) m_cfg.server_id = host.ip();
  const auto [t1, t2] = effective_timers(m_cfg);
  m_cfg.t1 = t1;
  m_cfg.t2 = t2;
  m_host.seg().claim_range("dhcp pool", m_cfg.pool_first, m_cfg.pool_last, "dhcp server on " + m_host.config().name,
                           this, m_cfg.shared_pool);
  try {
    m_host.udp_bind(dhcp_server_port, [this](const udp_datagram& d) { receive(d); });
  } catch (...) {
    m_host.seg().release_claims(this);
    throw;
  }
  m_host.log().log(log_level::info, "dhcp", "server {} serving {}-{} (lease {} s)",
                   to_string(m_cfg.server_id), to_string(m_cfg.pool_first), to_string(m_cfg.pool_last),
                   m_cfg.lease_time);
}

dhcp_server::~dhcp_server() {
  m_alive.reset();
  m_host.seg().release_claims(this);
  m_host.udp_unbind(dhcp_server_port);
}

void dhcp_server::set_behaviour(dhcp_behaviour b) {
  if (b == m_behaviour) return;
  m_host.log().log(log_level::info, "dhcp", "behaviour {} -> {}", to_string(m_behaviour), to_string(b));
  m_behaviour = b;
}

std::vector<dhcp_lease> dhcp_server::leases() const {
  std::vector<dhcp_lease> out;
  const ps_t now = m_host.seg().sched().now();
  for (const auto& [ip, l] : m_leases)
    if (l.expires > now) out.push_back(l);
  return out;
}

std::optional<dhcp_lease> dhcp_server::lease_for(ip4_addr ip) const {
  const auto it = m_leases.find(ip);
  if (it == m_leases.end() || it->second.expires <= m_host.seg().sched().now()) return std::nullopt;
  return it->second;
}

std::optional<dhcp_lease> dhcp_server::lease_of(const mac_addr& mac) const {
  const ps_t now = m_host.seg().sched().now();
  for (const auto& [ip, l] : m_leases)
    if (l.state != dhcp_lease_state::declined && l.mac == mac && l.expires > now) return l;
  return std::nullopt;
}

std::size_t dhcp_server::free_addresses() const {
  const ps_t now = m_host.seg().sched().now();
  std::size_t n = 0;
  for (std::uint64_t a = m_cfg.pool_first; a <= m_cfg.pool_last; ++a) {
    const auto ip = static_cast<ip4_addr>(a);
    const auto it = m_leases.find(ip);
    if (it != m_leases.end() && it->second.expires > now) continue;
    const bool reserved = std::any_of(m_cfg.reservations.begin(), m_cfg.reservations.end(),
                                      [ip](const auto& r) { return r.second == ip; });
    if (!reserved) ++n;
  }
  return n;
}

bool dhcp_server::in_subnet(ip4_addr a) const {
  const ip4_addr net = m_cfg.pool_first & m_cfg.netmask;
  return (a & m_cfg.netmask) == net && a != net && a != (net | ~m_cfg.netmask);
}

bool dhcp_server::in_pool(ip4_addr a) const {
  return a >= m_cfg.pool_first && a <= m_cfg.pool_last;
}

bool dhcp_server::owned_by(const dhcp_lease& l, const client& c) const {
  return l.state != dhcp_lease_state::declined && lease_key(l) == c.key;
}

dhcp_lease* dhcp_server::entry_of(const client& c) {
  for (auto& [ip, l] : m_leases)
    if (owned_by(l, c)) return &l;
  return nullptr;
}

bool dhcp_server::assignable(ip4_addr ip, const client& c) const {
  if (!in_subnet(ip) || ip == m_cfg.server_id || ip == m_host.ip() || ip == m_cfg.router) return false;
  bool reserved_for_c = false;
  for (const auto& [mac, rip] : m_cfg.reservations) {
    if (rip != ip) continue;
    if (mac != c.mac) return false;
    reserved_for_c = true;
  }
  if (!in_pool(ip) && !reserved_for_c) return false;
  const auto it = m_leases.find(ip);
  return it == m_leases.end() || owned_by(it->second, c);
}

ps_t dhcp_server::lease_end() const {
  if (m_cfg.lease_time == dhcp_infinite_lease) return never;
  const ps_t now = m_host.seg().sched().now();
  const ps_t span = seconds(m_cfg.lease_time);  // at most 4.3e21 ps: saturate rather than wrap
  if (m_cfg.lease_time > never / ps_per_s || span > never - now) return never;
  return now + span;
}

void dhcp_server::expire() {
  const ps_t now = m_host.seg().sched().now();
  for (auto it = m_leases.begin(); it != m_leases.end();) {
    const dhcp_lease& l = it->second;
    if (l.expires > now) {
      ++it;
      continue;
    }
    if (l.state != dhcp_lease_state::declined) m_previous[lease_key(l)] = l.ip;
    m_host.log().log(log_level::debug, "dhcp", "{} entry for {} lapsed", to_string(l.state), to_string(l.ip));
    it = m_leases.erase(it);
  }
}

void dhcp_server::bind(ip4_addr ip, const client& c, dhcp_lease_state state, ps_t hold) {
  for (auto it = m_leases.begin(); it != m_leases.end();) {
    if (it->first != ip && owned_by(it->second, c)) {
      it = m_leases.erase(it);
    } else {
      ++it;
    }
  }
  dhcp_lease& l = m_leases[ip];
  const std::string hostname = !c.hostname.empty() ? c.hostname : l.hostname;
  l = dhcp_lease{ip, state, c.mac, c.client_id, hostname, hold};
  m_previous[c.key] = ip;
}

void dhcp_server::drop_entry(ip4_addr ip) {
  m_leases.erase(ip);
}

std::optional<ip4_addr> dhcp_server::choose_address(const dhcp_message& m, const client& c) {
  // Preference (RFC 2131 §4.3.1): the client's current binding or offer, its reservation, the address it
  // asks for, the address it had before, then the lowest free address of the pool.
  if (const dhcp_lease* e = entry_of(c)) return e->ip;
  const auto res = m_cfg.reservations.find(c.mac);
  if (res != m_cfg.reservations.end()) {
    if (assignable(res->second, c)) return res->second;
    m_host.log().log(log_level::warn, "dhcp", "reserved address {} of {} is held by another client",
                     to_string(res->second), to_string(c.mac));
  }
  if (const auto req = m.option_ip(DHCP_OPT_REQUESTED_IP))
    if (assignable(*req, c)) return *req;
  const auto prev = m_previous.find(c.key);
  if (prev != m_previous.end() && assignable(prev->second, c)) return prev->second;
  for (std::uint64_t a = m_cfg.pool_first; a <= m_cfg.pool_last; ++a)
    if (assignable(static_cast<ip4_addr>(a), c)) return static_cast<ip4_addr>(a);
  return std::nullopt;
}

void dhcp_server::trace(const char* dir, const dhcp_message& m, ip4_addr ip) const {
  diag& d = m_host.log();
  if (!d.tracing()) return;
  const auto type = m.message_type();
  d.trace("dhcp",
          fmt::format(R"("dir":"{}","type":"{}","xid":{},"mac":"{}","ip":"{}")", dir,
                      type ? dhcp_type_name(*type) : "BOOTP", m.xid, to_string(m.chaddr), to_string(ip)));
}

void dhcp_server::receive(const udp_datagram& d) {
  diag& log = m_host.log();
  std::string why;
  const auto parsed = parse_dhcp(d.payload, &why);
  if (!parsed) {
    ++m_stats.malformed;
    log.guest_error("dhcp", "malformed message from {}:{} ({} octets) dropped: {}", to_string(d.src),
                    d.src_port, d.payload.size(), why);
    return;
  }
  const dhcp_message& m = *parsed;
  if (m.op != BOOTREQUEST) {
    ++m_stats.malformed;
    log.guest_error("dhcp", "BOOTREPLY from {} on the server port dropped", to_string(d.src));
    return;
  }
  const auto type = m.message_type();
  if (!type) {
    ++m_stats.ignored;
    log.unimplemented("dhcp", "BOOTP request (no option 53) from {} ignored", to_string(m.chaddr));
    return;
  }
  ++m_stats.in[*type <= DHCPINFORM ? *type : 0];
  trace("in", m, m.option_ip(DHCP_OPT_REQUESTED_IP).value_or(m.ciaddr));
  log.log(log_level::info, "dhcp", "in: {}", describe(m));
  if (m.htype != 1 || m.hlen != 6) {
    ++m_stats.malformed;
    log.guest_error("dhcp", "{}: hardware type {} / length {} is not Ethernet", describe(m), m.htype, m.hlen);
    return;
  }
  if (m_behaviour == dhcp_behaviour::silent) {
    ++m_stats.ignored;
    return;
  }
  if (m.giaddr != 0 && (m.giaddr & m_cfg.netmask) != (m_cfg.pool_first & m_cfg.netmask)) {
    ++m_stats.ignored;
    log.unimplemented("dhcp", "{}: relayed from another subnet; this server serves one subnet", describe(m));
    return;
  }
  expire();
  client c;
  c.mac = m.chaddr;
  if (const octets* id = m.option(DHCP_OPT_CLIENT_ID)) c.client_id = *id;
  c.key = c.client_id.empty() ? "hw:" + to_string(c.mac) : hex_key("id:", c.client_id);
  if (const auto h = m.option_string(DHCP_OPT_HOSTNAME)) c.hostname = *h;
  switch (*type) {
    case DHCPDISCOVER:
      return on_discover(m, c);
    case DHCPREQUEST:
      return on_request(m, c, d);
    case DHCPDECLINE:
      return on_decline(m, c);
    case DHCPRELEASE:
      return on_release(m, c);
    case DHCPINFORM:
      return on_inform(m, c);
    default:
      ++m_stats.malformed;
      log.guest_error("dhcp", "message type {} ({}) from a client dropped", *type, dhcp_type_name(*type));
      return;
  }
}

void dhcp_server::on_discover(const dhcp_message& m, const client& c) {
  const auto ip = choose_address(m, c);
  if (!ip) {
    ++m_stats.pool_exhausted;
    m_host.log().log(log_level::warn, "dhcp", "no free address for {} in {}-{}: no OFFER", to_string(c.mac),
                     to_string(m_cfg.pool_first), to_string(m_cfg.pool_last));
    return;
  }
  const auto it = m_leases.find(*ip);
  if (it != m_leases.end() && it->second.state == dhcp_lease_state::bound) {
    if (!c.hostname.empty()) it->second.hostname = c.hostname;  // re-offer the current binding as it is
  } else {
    bind(*ip, c, dhcp_lease_state::offered, m_host.seg().sched().now() + m_cfg.offer_hold);
  }
  dhcp_message r = reply_to(m, DHCPOFFER);
  r.yiaddr = *ip;
  add_parameters(r, m, true);
  send_reply(m, std::move(r));
}

void dhcp_server::on_request(const dhcp_message& m, const client& c, const udp_datagram& d) {
  diag& log = m_host.log();
  const auto sid = m.option_ip(DHCP_OPT_SERVER_ID);
  const auto req = m.option_ip(DHCP_OPT_REQUESTED_IP);
  if (sid && *sid != m_cfg.server_id) {
    // SELECTING, and the client chose another server: our offer is void (RFC 2131 §4.3.2).
    dhcp_lease* e = entry_of(c);
    if (e != nullptr && e->state == dhcp_lease_state::offered) {
      log.log(log_level::info, "dhcp", "{} chose server {}: offer of {} withdrawn", to_string(c.mac),
              to_string(*sid), to_string(e->ip));
      ++m_stats.offers_withdrawn;
      drop_entry(e->ip);
    }
    ++m_stats.ignored;
    return;
  }
  if (m_behaviour == dhcp_behaviour::offer_then_vanish) {
    ++m_stats.ignored;
    log.log(log_level::info, "dhcp", "REQUEST from {} ignored (behaviour offer_then_vanish)",
            to_string(c.mac));
    return;
  }
  dhcp_message nak = reply_to(m, DHCPNAK);
  auto send_nak = [&](const std::string& text) {
    log.log(log_level::info, "dhcp", "NAK to {}: {}", to_string(c.mac), text);
    nak.set_option_string(DHCP_OPT_MESSAGE, text);
    if (const octets* id = m.option(DHCP_OPT_CLIENT_ID)) nak.set_option(DHCP_OPT_CLIENT_ID, *id);
    send_reply(m, std::move(nak));
  };
  auto send_ack = [&](ip4_addr ip) {
    bind(ip, c, dhcp_lease_state::bound, lease_end());
    dhcp_message r = reply_to(m, DHCPACK);
    r.yiaddr = ip;
    add_parameters(r, m, true);
    send_reply(m, std::move(r));
  };
  if (m_behaviour == dhcp_behaviour::nak) {
    if (const dhcp_lease* e = entry_of(c)) drop_entry(e->ip);
    return send_nak("request refused (behaviour nak)");
  }

  if (sid) {  // SELECTING, and we are the chosen server
    const ip4_addr want = req ? *req : m.ciaddr;
    if (want == 0) {
      ++m_stats.malformed;
      log.guest_error("dhcp", "{}: REQUEST with a server identifier but no requested address", describe(m));
      return;
    }
    if (!assignable(want, c)) return send_nak(fmt::format("{} is not available", to_string(want)));
    return send_ack(want);
  }
  if (req && m.ciaddr == 0) {  // INIT-REBOOT: the client checks the address it remembers
    if (!in_subnet(*req)) return send_nak(fmt::format("{} is not on this network", to_string(*req)));
    const dhcp_lease* own = entry_of(c);
    const auto at = m_leases.find(*req);
    if (at != m_leases.end() && !owned_by(at->second, c))
      return send_nak(fmt::format("{} is held by another client", to_string(*req)));
    if (own != nullptr && own->ip != *req)
      return send_nak(fmt::format("the client's address is {}, not {}", to_string(own->ip), to_string(*req)));
    const auto prev = m_previous.find(c.key);
    const bool known = own != nullptr || (prev != m_previous.end() && prev->second == *req);
    if (!known) {
      // No record of this client: stay silent (RFC 2131 §4.3.2), another server may own the binding.
      ++m_stats.ignored;
      log.log(log_level::info, "dhcp", "INIT-REBOOT of {} for {}: no record, silent", to_string(c.mac),
              to_string(*req));
      return;
    }
    if (!assignable(*req, c)) return send_nak(fmt::format("{} is not available", to_string(*req)));
    return send_ack(*req);
  }
  if (m.ciaddr != 0) {  // RENEWING (unicast to us) or REBINDING (broadcast)
    const bool rebinding = d.dst != m_host.ip();
    if (!in_subnet(m.ciaddr)) return send_nak(fmt::format("{} is not on this network", to_string(m.ciaddr)));
    const auto at = m_leases.find(m.ciaddr);
    if (at != m_leases.end() && !owned_by(at->second, c))
      return send_nak(fmt::format("{} is held by another client", to_string(m.ciaddr)));
    const auto prev = m_previous.find(c.key);
    const bool known = at != m_leases.end() || (prev != m_previous.end() && prev->second == m.ciaddr);
    if (!known || !assignable(m.ciaddr, c)) {
      ++m_stats.ignored;
      log.log(log_level::info, "dhcp", "{} of {} for {}: no record, silent",
              rebinding ? "REBINDING" : "RENEWING", to_string(c.mac), to_string(m.ciaddr));
      return;
    }
    return send_ack(m.ciaddr);
  }
  ++m_stats.malformed;
  log.guest_error("dhcp", "{}: REQUEST without server identifier, requested address or ciaddr", describe(m));
}

void dhcp_server::on_decline(const dhcp_message& m, const client& c) {
  diag& log = m_host.log();
  const auto sid = m.option_ip(DHCP_OPT_SERVER_ID);
  const auto addr = m.option_ip(DHCP_OPT_REQUESTED_IP);
  if (!sid || !addr) {
    ++m_stats.malformed;
    log.guest_error("dhcp", "{}: DECLINE needs options 50 and 54", describe(m));
    return;
  }
  if (*sid != m_cfg.server_id) {
    ++m_stats.ignored;
    return;
  }
  const auto at = m_leases.find(*addr);
  if (at == m_leases.end() || !owned_by(at->second, c)) {
    ++m_stats.ignored;
    log.guest_error("dhcp", "{}: DECLINE of {}, which is not the client's", describe(m), to_string(*addr));
    return;
  }
  log.log(log_level::warn, "dhcp", "{} declined {} (in use on the network?): out of the pool for {}",
          to_string(c.mac), to_string(*addr), format_time(m_cfg.decline_hold));
  at->second = dhcp_lease{
      *addr, dhcp_lease_state::declined, {}, {}, {}, m_host.seg().sched().now() + m_cfg.decline_hold};
  const auto prev = m_previous.find(c.key);
  if (prev != m_previous.end() && prev->second == *addr) m_previous.erase(prev);
}

void dhcp_server::on_release(const dhcp_message& m, const client& c) {
  diag& log = m_host.log();
  const auto sid = m.option_ip(DHCP_OPT_SERVER_ID);
  if (!sid || m.ciaddr == 0) {
    ++m_stats.malformed;
    log.guest_error("dhcp", "{}: RELEASE needs option 54 and ciaddr", describe(m));
    return;
  }
  if (*sid != m_cfg.server_id) {
    ++m_stats.ignored;
    return;
  }
  const auto at = m_leases.find(m.ciaddr);
  if (at == m_leases.end() || !owned_by(at->second, c)) {
    ++m_stats.ignored;
    log.log(log_level::info, "dhcp", "RELEASE of {} by {}, which holds no lease on it", to_string(m.ciaddr),
            to_string(c.mac));
    return;
  }
  log.log(log_level::info, "dhcp", "{} released {}", to_string(c.mac), to_string(m.ciaddr));
  m_leases.erase(at);
  m_previous[c.key] = m.ciaddr;  // released addresses are offered to the same client again if still free
}

void dhcp_server::on_inform(const dhcp_message& m, const client& c) {
  if (m.ciaddr == 0) {
    ++m_stats.malformed;
    m_host.log().guest_error("dhcp", "{}: INFORM without ciaddr", describe(m));
    return;
  }
  (void)c;
  dhcp_message r = reply_to(m, DHCPACK);
  add_parameters(r, m, false);  // no yiaddr, no lease times (RFC 2131 §4.3.5)
  send_reply(m, std::move(r));
}

dhcp_message dhcp_server::reply_to(const dhcp_message& m, std::uint8_t type) const {
  dhcp_message r;
  r.op = BOOTREPLY;
  r.htype = m.htype;
  r.hlen = m.hlen;
  r.xid = m_behaviour == dhcp_behaviour::wrong_xid ? m.xid + 1 : m.xid;
  r.flags = m.flags;
  r.ciaddr = type == DHCPACK ? m.ciaddr : 0;  // RFC 2131 table 3
  r.giaddr = m.giaddr;
  r.chaddr = m.chaddr;
  r.set_option_u8(DHCP_OPT_MESSAGE_TYPE, type);
  r.set_option_ip(DHCP_OPT_SERVER_ID, m_cfg.server_id);
  return r;
}

void dhcp_server::add_parameters(dhcp_message& r, const dhcp_message& m, bool with_lease) const {
  if (with_lease) {
    r.set_option_u32(DHCP_OPT_LEASE_TIME, m_cfg.lease_time);
    if (m_cfg.t1 != 0) r.set_option_u32(DHCP_OPT_T1, m_cfg.t1);
    if (m_cfg.t2 != 0) r.set_option_u32(DHCP_OPT_T2, m_cfg.t2);
  }
  const ip4_addr net = m_cfg.pool_first & m_cfg.netmask;
  auto add = [&](std::uint8_t code) {
    if (r.has_option(code)) return;
    switch (code) {
      case DHCP_OPT_SUBNET_MASK:
        r.set_option_ip(code, m_cfg.netmask);
        break;
      case DHCP_OPT_ROUTER:
        if (m_cfg.router != 0) r.set_option_ip(code, m_cfg.router);
        break;
      case DHCP_OPT_DNS:
        if (!m_cfg.dns.empty()) r.set_option_ips(code, m_cfg.dns);
        break;
      case DHCP_OPT_DOMAIN_NAME:
        if (!m_cfg.domain_name.empty()) r.set_option_string(code, m_cfg.domain_name);
        break;
      case DHCP_OPT_BROADCAST:
        r.set_option_ip(code, net | ~m_cfg.netmask);
        break;
      default:
        break;  // nothing configured for it
    }
  };
  // What the client asked for, in its order (RFC 2132 §9.8), then what servers always send.
  if (const octets* want = m.option(DHCP_OPT_PARAM_REQUEST))
    for (std::uint8_t code : *want) add(code);
  add(DHCP_OPT_SUBNET_MASK);
  add(DHCP_OPT_ROUTER);
  if (const octets* id = m.option(DHCP_OPT_CLIENT_ID)) r.set_option(DHCP_OPT_CLIENT_ID, *id);  // RFC 6842
}

void dhcp_server::send_reply(const dhcp_message& m, dhcp_message r) {
  const std::uint8_t type = r.message_type().value_or(0);
  auto fire = [this, type, ciaddr = m.ciaddr, bcast = m.broadcast_flag(), r = std::move(r)]() mutable {
    // RFC 2131 §4.1: relay first; then NAK by broadcast; then ciaddr; then the BROADCAST flag; else unicast
    // to the offered address at chaddr, which the client receives before it has an address.
    if (r.giaddr != 0 && type == DHCPNAK) r.flags |= dhcp_flag_broadcast;
    const octets payload = build_dhcp(r);
    ++m_stats.out[type <= DHCPINFORM ? type : 0];
    trace("out", r, r.yiaddr != 0 ? r.yiaddr : r.ciaddr);
    m_host.log().log(log_level::info, "dhcp", "out: {}", describe(r));
    if (r.giaddr != 0) {
      m_host.udp_send(r.giaddr, dhcp_server_port, dhcp_server_port, payload);
    } else if (type == DHCPNAK || (ciaddr == 0 && bcast)) {
      m_host.udp_send(0xFFFFFFFFu, dhcp_client_port, dhcp_server_port, payload);
    } else if (ciaddr != 0) {
      m_host.udp_send(ciaddr, dhcp_client_port, dhcp_server_port, payload);
    } else {
      m_host.udp_send_to_mac(r.chaddr, m_host.ip(), r.yiaddr, dhcp_client_port, dhcp_server_port, payload);
    }
  };
  if (m_cfg.reply_delay == 0) return fire();
  m_host.seg().sched().after(m_cfg.reply_delay,
                             [alive = std::weak_ptr<bool>(m_alive), fire = std::move(fire)]() mutable {
                               if (!alive.expired()) fire();
                             });
}

}  // namespace wizsim
