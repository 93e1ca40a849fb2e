// DHCP: the codec on its own (round trips, RFC 3396 long options, overload, rejection of malformed input),
// the server's configuration checks, and the server against the chip: a register-level client opens UDP
// socket 68 on a W5500 with no address, broadcasts messages built with the codec and reads the replies
// through the chip's socket, as a DHCP client on the chip does. The wire is checked with tshark.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tshark_util.hpp"
#include "lan_fixture.hpp"
#include "wizsim/harness/dhcp.hpp"
#include "wizsim/harness/peer.hpp"
#include "wizsim/harness/raw_client.hpp"
#include "wizsim/w5500.hpp"

using namespace wizsim;

namespace {

constexpr ip4_addr server_ip = ip4(10, 0, 0, 1), router_ip = ip4(10, 0, 0, 254),
                   mask24 = ip4(255, 255, 255, 0);
constexpr ip4_addr pool_first = ip4(10, 0, 0, 100), pool_last = ip4(10, 0, 0, 149);
constexpr ip4_addr bcast_all = 0xFFFFFFFFu;
const mac_addr chip_mac{0x02, 0x08, 0xDC, 0x00, 0x00, 0x50};

// ---- codec ------------------------------------------------------------------------------------------------

dhcp_message full_message() {
  dhcp_message m;
  m.op = BOOTREPLY;
  m.hops = 2;
  m.xid = 0xDEADBEEF;
  m.secs = 7;
  m.flags = dhcp_flag_broadcast;
  m.ciaddr = ip4(10, 0, 0, 9);
  m.yiaddr = ip4(10, 0, 0, 100);
  m.siaddr = ip4(10, 0, 0, 2);
  m.giaddr = ip4(10, 0, 0, 3);
  m.chaddr = chip_mac;
  m.sname = "boot-server";
  m.file = "/tftpboot/image.bin";
  m.set_option_u8(DHCP_OPT_MESSAGE_TYPE, DHCPACK);
  m.set_option_ip(DHCP_OPT_SERVER_ID, server_ip);
  m.set_option_u32(DHCP_OPT_LEASE_TIME, 3600);
  m.set_option_ip(DHCP_OPT_SUBNET_MASK, mask24);
  m.set_option_ips(DHCP_OPT_DNS, {ip4(10, 0, 0, 53), ip4(8, 8, 8, 8)});
  m.set_option_string(DHCP_OPT_DOMAIN_NAME, "lab.example");
  m.set_option(DHCP_OPT_CLIENT_ID, {1, 2, 8, 0xDC, 0, 0, 0x50});
  return m;
}

// Offsets in the wire form.
constexpr std::size_t cookie_at = 236, options_at = 240;

std::string reject_reason(const octets& b) {
  std::string why;
  EXPECT_FALSE(parse_dhcp(b, &why).has_value());
  return why;
}

}  // namespace

TEST(DhcpCodec, BuildsAMessagePaddedToTheBootpMinimumWithCookieAndEnd) {
  dhcp_client_identity id;
  const octets b = build_dhcp(dhcp_discover(id, 0x01020304));
  ASSERT_EQ(b.size(), bootp_min_len);
  EXPECT_EQ(b[0], BOOTREQUEST);
  EXPECT_EQ(b[1], 1);
  EXPECT_EQ(b[2], 6);
  EXPECT_EQ(get32(&b[4]), 0x01020304u);
  EXPECT_EQ(get32(&b[cookie_at]), dhcp_magic_cookie);
  EXPECT_EQ(b[options_at], DHCP_OPT_MESSAGE_TYPE);
  EXPECT_EQ(b[options_at + 1], 1);
  EXPECT_EQ(b[options_at + 2], DHCPDISCOVER);
  // 53 (3) + 61 (9) + 55 (9) then END, zeros after it.
  EXPECT_EQ(b[options_at + 21], DHCP_OPT_END);
  for (std::size_t i = options_at + 22; i < b.size(); ++i) ASSERT_EQ(b[i], 0) << "at " << i;
}

TEST(DhcpCodec, RoundTripsEveryFieldAndOption) {
  const dhcp_message m = full_message();
  std::string why;
  const auto p = parse_dhcp(build_dhcp(m), &why);
  ASSERT_TRUE(p.has_value()) << why;
  EXPECT_EQ(*p, m);
  EXPECT_EQ(p->message_type(), DHCPACK);
  EXPECT_EQ(p->option_ip(DHCP_OPT_SERVER_ID), server_ip);
  EXPECT_EQ(p->option_u32(DHCP_OPT_LEASE_TIME), 3600u);
  EXPECT_EQ(p->option_ips(DHCP_OPT_DNS), (std::vector<ip4_addr>{ip4(10, 0, 0, 53), ip4(8, 8, 8, 8)}));
  EXPECT_EQ(p->option_string(DHCP_OPT_DOMAIN_NAME), "lab.example");
  EXPECT_TRUE(p->broadcast_flag());
  EXPECT_EQ(p->option(DHCP_OPT_ROUTER), nullptr);
  EXPECT_EQ(p->option_ip(DHCP_OPT_ROUTER), std::nullopt);
}

TEST(DhcpCodec, SetOptionReplacesInPlaceAndRemoveOptionDeletes) {
  dhcp_message m = full_message();
  m.set_option_u32(DHCP_OPT_LEASE_TIME, 60);
  EXPECT_EQ(m.options[2].code, DHCP_OPT_LEASE_TIME) << "kept its position";
  EXPECT_EQ(m.option_u32(DHCP_OPT_LEASE_TIME), 60u);
  EXPECT_TRUE(m.remove_option(DHCP_OPT_LEASE_TIME));
  EXPECT_FALSE(m.remove_option(DHCP_OPT_LEASE_TIME));
  EXPECT_FALSE(m.has_option(DHCP_OPT_LEASE_TIME));
}

TEST(DhcpCodec, SplitsOptionsLongerThan255OctetsAndConcatenatesThemBack) {
  dhcp_message m = full_message();
  octets vendor(600);
  for (std::size_t i = 0; i < vendor.size(); ++i) vendor[i] = static_cast<std::uint8_t>(i * 13);
  m.set_option(43, vendor);
  const octets b = build_dhcp(m);
  std::size_t instances = 0;
  for (std::size_t i = options_at; i < b.size() && b[i] != DHCP_OPT_END; i += b[i] == 0 ? 1 : 2u + b[i + 1])
    instances += b[i] == 43;
  EXPECT_EQ(instances, 3u) << "255 + 255 + 90 octets (RFC 3396)";
  const auto p = parse_dhcp(b);
  ASSERT_TRUE(p.has_value());
  ASSERT_NE(p->option(43), nullptr);
  EXPECT_EQ(*p->option(43), vendor);
  EXPECT_EQ(*p, m);
}

TEST(DhcpCodec, SkipsPadAndIgnoresEverythingAfterEnd) {
  octets b = build_dhcp(dhcp_message{});
  b.resize(options_at);
  b.insert(b.end(), {0, 0, DHCP_OPT_MESSAGE_TYPE, 1, DHCPINFORM, 0, DHCP_OPT_END, 53, 9, 1, 2});
  const auto p = parse_dhcp(b);
  ASSERT_TRUE(p.has_value());
  ASSERT_EQ(p->options.size(), 1u);
  EXPECT_EQ(p->message_type(), DHCPINFORM);
}

TEST(DhcpCodec, RejectsTruncatedMessages) {
  const octets good = build_dhcp(full_message());
  for (std::size_t n = 0; n < options_at; ++n) {
    std::string why;
    ASSERT_FALSE(parse_dhcp(good.data(), n, &why).has_value()) << n;
    EXPECT_NE(why.find("shorter than"), std::string::npos) << why;
  }
  EXPECT_FALSE(parse_dhcp(nullptr, 300).has_value());
  // Cut inside the options: either an option runs past the end or END is missing.
  std::size_t end = options_at;
  while (good[end] != DHCP_OPT_END) end += 2u + good[end + 1];
  for (std::size_t n = options_at; n <= end; ++n) EXPECT_FALSE(parse_dhcp(good.data(), n).has_value()) << n;
  EXPECT_TRUE(parse_dhcp(good.data(), end + 1).has_value());
}

TEST(DhcpCodec, RejectsABadMagicCookie) {
  octets b = build_dhcp(full_message());
  b[cookie_at + 3] = 0x64;
  EXPECT_NE(reject_reason(b).find("magic cookie 63825364"), std::string::npos);
}

TEST(DhcpCodec, RejectsAnUnknownOpAndAnOversizedHardwareLength) {
  octets b = build_dhcp(full_message());
  b[0] = 3;
  EXPECT_NE(reject_reason(b).find("op 3"), std::string::npos);
  b[0] = BOOTREQUEST;
  b[2] = 17;
  EXPECT_NE(reject_reason(b).find("hlen 17"), std::string::npos);
}

TEST(DhcpCodec, RejectsAnOptionRunningPastTheEndAndMissingEnd) {
  octets b = build_dhcp(dhcp_message{});
  b.resize(options_at);
  octets runs = b;
  runs.insert(runs.end(), {DHCP_OPT_MESSAGE_TYPE, 1, DHCPDISCOVER, DHCP_OPT_HOSTNAME, 20, 'a', 'b'});
  EXPECT_NE(reject_reason(runs).find("option 12 at offset 243 (length 20) runs past the end"),
            std::string::npos);
  octets no_len = b;
  no_len.insert(no_len.end(), {DHCP_OPT_MESSAGE_TYPE, 1, DHCPDISCOVER, DHCP_OPT_HOSTNAME});
  EXPECT_NE(reject_reason(no_len).find("no length octet"), std::string::npos);
  octets no_end = b;
  no_end.insert(no_end.end(), {DHCP_OPT_MESSAGE_TYPE, 1, DHCPDISCOVER, 0, 0});
  EXPECT_NE(reject_reason(no_end).find("not terminated by END"), std::string::npos);
}

TEST(DhcpCodec, RejectsOptionLengthsTheRfcFixes) {
  struct bad {
    std::uint8_t code;
    octets value;
  };
  const std::vector<bad> cases = {
      {DHCP_OPT_MESSAGE_TYPE, {1, 1}},
      {DHCP_OPT_MESSAGE_TYPE, {}},
      {DHCP_OPT_REQUESTED_IP, {10, 0, 0}},
      {DHCP_OPT_SERVER_ID, {1, 2, 3, 4, 5}},
      {DHCP_OPT_LEASE_TIME, {0, 0}},
      {DHCP_OPT_ROUTER, {10, 0, 0, 1, 10, 0}},
      {DHCP_OPT_DNS, {}},
      {DHCP_OPT_CLIENT_ID, {1}},
      {DHCP_OPT_PARAM_REQUEST, {}},
      {DHCP_OPT_MAX_SIZE, {5}},
      {DHCP_OPT_SUBNET_MASK, {255, 255, 255}},
  };
  for (const auto& c : cases) {
    dhcp_message m;
    m.set_option(c.code, c.value);
    std::string why;
    EXPECT_FALSE(parse_dhcp(build_dhcp(m), &why).has_value()) << int{c.code} << " len " << c.value.size();
    EXPECT_NE(why.find("option " + std::to_string(c.code) + " has length"), std::string::npos) << why;
  }
}

TEST(DhcpCodec, AppliesOptionOverloadFromFileThenSname) {
  octets b = build_dhcp(dhcp_message{});
  b.resize(options_at);
  b.insert(b.end(), {DHCP_OPT_MESSAGE_TYPE, 1, DHCPOFFER, DHCP_OPT_OVERLOAD, 1, 3, DHCP_OPT_END});
  b.resize(bootp_min_len, 0);
  const octets file_area{DHCP_OPT_DOMAIN_NAME, 3, 'l', 'a', 'b', DHCP_OPT_END};
  const octets sname_area{0,   DHCP_OPT_DOMAIN_NAME, 4, '.', 'n', 'e', 't', DHCP_OPT_ROUTER, 4, 10, 0, 0,
                          254, DHCP_OPT_END};
  std::copy(file_area.begin(), file_area.end(), b.begin() + 108);
  std::copy(sname_area.begin(), sname_area.end(), b.begin() + 44);
  std::string why;
  const auto p = parse_dhcp(b, &why);
  ASSERT_TRUE(p.has_value()) << why;
  EXPECT_EQ(p->option_string(DHCP_OPT_DOMAIN_NAME), "lab.net") << "file first, then sname, concatenated";
  EXPECT_EQ(p->option_ip(DHCP_OPT_ROUTER), router_ip);
  EXPECT_FALSE(p->has_option(DHCP_OPT_OVERLOAD));
  EXPECT_TRUE(p->sname.empty());
  EXPECT_TRUE(p->file.empty());
  // Built again it is the same message without overloading.
  EXPECT_EQ(parse_dhcp(build_dhcp(*p)), p);

  octets unterminated = b;
  unterminated[108 + 5] = 0;  // the file area loses its END
  EXPECT_NE(reject_reason(unterminated).find("file area is not terminated"), std::string::npos);
  octets bad_value = b;
  bad_value[options_at + 5] = 4;
  EXPECT_NE(reject_reason(bad_value).find("option 52"), std::string::npos);
}

TEST(DhcpCodec, RefusesToBuildWhatCannotBeEncoded) {
  dhcp_message m;
  m.sname = std::string(65, 's');
  EXPECT_THROW(build_dhcp(m), std::invalid_argument);
  m.sname = std::string(64, 's');  // fills the field without a terminator, as the RFC allows
  EXPECT_EQ(parse_dhcp(build_dhcp(m))->sname, m.sname);
  m.file = std::string(129, 'f');
  EXPECT_THROW(build_dhcp(m), std::invalid_argument);
  m.file.clear();
  m.options.push_back({DHCP_OPT_END, {1}});
  EXPECT_THROW(build_dhcp(m), std::invalid_argument);
}

TEST(DhcpCodec, ClientBuildersPutInWhatRfc2131Table5Asks) {
  dhcp_client_identity id;
  id.mac = chip_mac;
  id.hostname = "wiz";
  const octets default_id{1, 0x02, 0x08, 0xDC, 0x00, 0x00, 0x50};
  auto codes = [](const dhcp_message& m) {
    std::vector<int> c;
    for (const auto& o : m.options) c.push_back(o.code);
    return c;
  };
  const auto disc = dhcp_discover(id, 1, ip4(10, 0, 0, 120));
  EXPECT_EQ(codes(disc), (std::vector<int>{53, 61, 50, 12, 55}));
  EXPECT_EQ(*disc.option(DHCP_OPT_CLIENT_ID), default_id);
  EXPECT_EQ(disc.chaddr, chip_mac);
  EXPECT_EQ(codes(dhcp_discover(id, 1)), (std::vector<int>{53, 61, 12, 55}));

  const auto sel = dhcp_request_selecting(id, 2, ip4(10, 0, 0, 120), server_ip);
  EXPECT_EQ(codes(sel), (std::vector<int>{53, 61, 50, 54, 12, 55}));
  EXPECT_EQ(sel.ciaddr, 0u);
  const auto reboot = dhcp_request_init_reboot(id, 3, ip4(10, 0, 0, 120));
  EXPECT_EQ(codes(reboot), (std::vector<int>{53, 61, 50, 12, 55}));
  EXPECT_EQ(reboot.ciaddr, 0u);
  const auto renew = dhcp_request_renew(id, 4, ip4(10, 0, 0, 120));
  EXPECT_EQ(codes(renew), (std::vector<int>{53, 61, 12, 55}));
  EXPECT_EQ(renew.ciaddr, ip4(10, 0, 0, 120));
  const auto decline = dhcp_decline(id, 5, ip4(10, 0, 0, 120), server_ip, "ARP conflict");
  EXPECT_EQ(codes(decline), (std::vector<int>{53, 61, 50, 54, 56}));
  EXPECT_EQ(decline.ciaddr, 0u);
  const auto release = dhcp_release(id, 6, ip4(10, 0, 0, 120), server_ip);
  EXPECT_EQ(codes(release), (std::vector<int>{53, 61, 54}));
  EXPECT_EQ(release.ciaddr, ip4(10, 0, 0, 120));
  const auto inform = dhcp_inform(id, 7, ip4(10, 0, 0, 7));
  EXPECT_EQ(codes(inform), (std::vector<int>{53, 61, 12, 55}));
  EXPECT_EQ(inform.ciaddr, ip4(10, 0, 0, 7));

  id.send_client_id = false;
  id.hostname.clear();
  id.broadcast = true;
  const auto plain = dhcp_discover(id, 8);
  EXPECT_EQ(codes(plain), (std::vector<int>{53, 55}));
  EXPECT_TRUE(plain.broadcast_flag());
  for (const auto& m : {disc, sel, reboot, renew, decline, release, inform, plain})
    EXPECT_EQ(parse_dhcp(build_dhcp(m)), m);
}

TEST(DhcpCodec, SurvivesRandomCorruptionOfAValidMessage) {
  rng r(42);
  const octets good = build_dhcp(full_message());
  std::size_t accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    octets b = good;
    const std::uint64_t flips = 1 + r.below(8);
    for (std::uint64_t f = 0; f < flips; ++f) b[r.below(b.size())] = r.byte();
    b.resize(r.below(b.size() + 1));
    const auto p = parse_dhcp(b);
    if (!p) continue;
    ++accepted;
    // Whatever parses builds and parses back to the same message.
    ASSERT_EQ(parse_dhcp(build_dhcp(*p)), p);
  }
  EXPECT_GT(accepted, 0u);
}

// ---- configuration --------------------------------------------------------------------------------------

namespace {

dhcp_server_config base_config() {
  dhcp_server_config c;
  c.pool_first = pool_first;
  c.pool_last = pool_last;
  c.netmask = mask24;
  c.router = router_ip;
  c.dns = {ip4(10, 0, 0, 53)};
  c.domain_name = "lab.example";
  c.lease_time = 600;
  return c;
}

std::string config_error(const dhcp_server_config& c, ip4_addr host = server_ip) {
  try {
    c.validate(host);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(accepted)";
}

}  // namespace

TEST(DhcpServerConfig, AcceptsAWorkableConfiguration) {
  EXPECT_EQ(config_error(base_config()), "(accepted)");
  auto c = base_config();
  c.server_id = server_ip;
  EXPECT_EQ(config_error(c, 0), "(accepted)") << "the address may come from server_id alone";
  c.lease_time = dhcp_infinite_lease;
  EXPECT_EQ(config_error(c), "(accepted)");
}

TEST(DhcpServerConfig, RejectsConfigurationsThatCannotWorkWithAClearMessage) {
  auto with = [](auto change) {
    auto c = base_config();
    change(c);
    return config_error(c);
  };
  EXPECT_EQ(config_error(base_config(), 0),
            "dhcp: the server has no address (give the host an IP or set server_id)");
  EXPECT_EQ(with([](auto& c) { c.pool_first = ip4(10, 0, 0, 50), c.pool_last = ip4(10, 0, 0, 40); }),
            "dhcp: pool 10.0.0.50-10.0.0.40 is empty");
  EXPECT_EQ(with([](auto& c) { c.pool_first = c.pool_last = 0; }),
            "dhcp: no pool (set pool_first and pool_last)");
  EXPECT_EQ(
      with([](auto& c) { c.pool_last = ip4(10, 0, 1, 20); }),
      "dhcp: pool 10.0.0.100-10.0.1.20 is outside the subnet 10.0.0.0/24 of the server address 10.0.0.1");
  EXPECT_EQ(with([](auto& c) { c.pool_first = ip4(10, 0, 0, 0); }),
            "dhcp: pool 10.0.0.0-10.0.0.149 contains the network address 10.0.0.0");
  EXPECT_EQ(with([](auto& c) { c.pool_last = ip4(10, 0, 0, 255); }),
            "dhcp: pool 10.0.0.100-10.0.0.255 contains the broadcast address 10.0.0.255");
  EXPECT_EQ(with([](auto& c) { c.pool_first = ip4(10, 0, 0, 1); }),
            "dhcp: pool 10.0.0.1-10.0.0.149 contains the server's address 10.0.0.1");
  EXPECT_EQ(with([](auto& c) { c.router = ip4(10, 0, 0, 120); }),
            "dhcp: pool 10.0.0.100-10.0.0.149 contains the router's address 10.0.0.120");
  EXPECT_EQ(with([](auto& c) { c.router = ip4(10, 0, 1, 1); }),
            "dhcp: router 10.0.1.1 is not a host address of the subnet 10.0.0.0/24");
  EXPECT_EQ(with([](auto& c) { c.netmask = ip4(255, 0, 255, 0); }),
            "dhcp: netmask 255.0.255.0 is not contiguous");
  EXPECT_EQ(with([](auto& c) { c.netmask = ip4(255, 255, 255, 254); }),
            "dhcp: netmask 255.255.255.254 leaves no room for a pool");
  EXPECT_EQ(with([](auto& c) { c.dns = {0}; }), "dhcp: DNS server 0.0.0.0 is not a usable address");
  EXPECT_EQ(with([](auto& c) { c.lease_time = 0; }), "dhcp: lease time must be at least 1 second");
  EXPECT_EQ(with([](auto& c) { c.t1 = 500, c.t2 = 400; }),
            "dhcp: need t1 < t2 < lease time, have t1 500 s, t2 400 s, lease 600 s");
  EXPECT_EQ(with([](auto& c) { c.t2 = 600; }),
            "dhcp: need t1 < t2 < lease time, have t1 300 s, t2 600 s, lease 600 s");
  EXPECT_EQ(with([](auto& c) { c.offer_hold = 0; }), "dhcp: offer_hold must be positive");
  EXPECT_EQ(
      with([](auto& c) { c.reservations[chip_mac] = ip4(10, 0, 2, 5); }),
      "dhcp: reservation 10.0.2.5 for 02:08:dc:00:00:50 is not a host address of the subnet 10.0.0.0/24");
  EXPECT_EQ(with([](auto& c) { c.reservations[chip_mac] = router_ip; }),
            "dhcp: reservation 10.0.0.254 for 02:08:dc:00:00:50 is the server's or the router's address");
  EXPECT_EQ(with([](auto& c) {
              c.reservations[chip_mac] = ip4(10, 0, 0, 20);
              c.reservations[mac_addr{2, 0, 0, 0, 0, 0x77}] = ip4(10, 0, 0, 20);
            }),
            "dhcp: 10.0.0.20 is reserved for both 02:00:00:00:00:77 and 02:08:dc:00:00:50");
}

// ---- the server against the chip --------------------------------------------------------------------------

namespace {

using test::peer_cfg;

// A reply as it crossed the segment towards a client (UDP to port 68).
struct wire_reply {
  mac_addr eth_dst{};
  ip4_addr ip_src = 0, ip_dst = 0;
  std::uint8_t type = 0;
  std::uint32_t xid = 0;
};

// A chip with no address on a segment with a DHCP server host; the chip's socket 0 is the client's port 68.
struct dhcp_bench {
  scheduler sched{11};
  w5500 chip{sched};
  segment seg{sched, "lan", 11};
  peer_host server_host{seg, peer_cfg("dhcpd", server_ip, 1)};
  std::unique_ptr<dhcp_server> server;
  raw_client client{chip};
  dhcp_client_identity id;
  std::vector<wire_reply> replies;
  std::uint32_t next_xid = 0x3903F326;

  explicit dhcp_bench(dhcp_server_config cfg = base_config()) {
    seg.attach(chip, "w5500");
    seg.observe([this](segment::port_id, const octets& f, ps_t) { note(f); });
    server = std::make_unique<dhcp_server>(server_host, std::move(cfg));
    sched.advance_by(seconds(4));  // PHY auto-negotiation
    client.configure(chip_mac, 0, 0, 0);
    EXPECT_TRUE(client.open_udp(0, dhcp_client_port));
    id.mac = chip_mac;
    id.hostname = "wiznet-dev";
  }

  void note(const octets& f) {
    const auto eth = parse_eth(f.data(), f.size());
    if (!eth || eth->ethertype != ethertype_ipv4) return;
    const auto ip = parse_ipv4(eth->payload, eth->payload_len);
    if (!ip || ip->h.proto != ip_proto_udp) return;
    const auto udp = parse_udp(ip->payload, ip->payload_len, ip->h.src, ip->h.dst);
    if (!udp || udp->dst_port != dhcp_client_port) return;
    const auto m = parse_dhcp(udp->payload, udp->payload_len);
    if (!m) return;
    replies.push_back({eth->dst, ip->h.src, ip->h.dst, m->message_type().value_or(0), m->xid});
  }

  // The chip sends `m` (broadcast unless `to` is given) from port 68 to port 67.
  void send(const dhcp_message& m, ip4_addr to = bcast_all) {
    ASSERT_TRUE(client.sendto(0, to, dhcp_server_port, build_dhcp(m)));
  }
  void send_raw(const octets& payload) {
    ASSERT_TRUE(client.sendto(0, bcast_all, dhcp_server_port, payload));
  }
  // The next reply read through the chip's socket, or nullopt after `timeout`.
  std::optional<dhcp_message> receive(ps_t timeout = ms(500), ip4_addr* from = nullptr) {
    const auto d = client.recvfrom(0, timeout);
    if (!d) return std::nullopt;
    EXPECT_EQ(d->port, dhcp_server_port);
    if (from != nullptr) *from = d->ip;
    std::string why;
    auto m = parse_dhcp(d->data, &why);
    EXPECT_TRUE(m.has_value()) << why;
    return m;
  }
  std::optional<dhcp_message> exchange(const dhcp_message& m, ip4_addr to = bcast_all) {
    send(m, to);
    return receive();
  }
  // DISCOVER / OFFER / REQUEST / ACK; returns the ACK (the chip is left unconfigured).
  dhcp_message acquire() {
    const std::uint32_t xid = next_xid++;
    const auto offer = exchange(dhcp_discover(id, xid));
    EXPECT_TRUE(offer && offer->message_type() == DHCPOFFER);
    if (!offer) return {};
    const auto ack =
        exchange(dhcp_request_selecting(id, xid, offer->yiaddr, *offer->option_ip(DHCP_OPT_SERVER_ID)));
    EXPECT_TRUE(ack && ack->message_type() == DHCPACK);
    return ack ? *ack : dhcp_message{};
  }
  // Another client (chaddr `mac`, broadcast flag so that the chip sees the replies) takes an address.
  ip4_addr acquire_as(const mac_addr& mac) {
    dhcp_client_identity other;
    other.mac = mac;
    other.broadcast = true;
    const std::uint32_t xid = next_xid++;
    const auto offer = exchange(dhcp_discover(other, xid));
    if (!offer || offer->message_type() != DHCPOFFER) return 0;
    const auto ack = exchange(dhcp_request_selecting(other, xid, offer->yiaddr, server_ip));
    return ack && ack->message_type() == DHCPACK ? ack->yiaddr : 0;
  }
};

}  // namespace

TEST(DhcpServer, HandsOutAnAddressThroughDiscoverOfferRequestAck) {
  dhcp_bench t;
  const std::uint32_t xid = 0x11223344;
  ip4_addr from = 0;
  t.send(dhcp_discover(t.id, xid));
  const auto offer = t.receive(ms(500), &from);
  ASSERT_TRUE(offer.has_value());
  EXPECT_EQ(from, server_ip);
  EXPECT_EQ(offer->op, BOOTREPLY);
  EXPECT_EQ(offer->message_type(), DHCPOFFER);
  EXPECT_EQ(offer->xid, xid);
  EXPECT_EQ(offer->chaddr, chip_mac);
  EXPECT_EQ(offer->yiaddr, pool_first) << "the lowest free address";
  EXPECT_EQ(offer->ciaddr, 0u);
  EXPECT_EQ(offer->option_ip(DHCP_OPT_SERVER_ID), server_ip);
  EXPECT_EQ(offer->option_ip(DHCP_OPT_SUBNET_MASK), mask24);
  EXPECT_EQ(offer->option_ip(DHCP_OPT_ROUTER), router_ip);
  EXPECT_EQ(offer->option_ips(DHCP_OPT_DNS), std::vector<ip4_addr>{ip4(10, 0, 0, 53)});
  EXPECT_EQ(offer->option_string(DHCP_OPT_DOMAIN_NAME), "lab.example");
  EXPECT_EQ(offer->option_u32(DHCP_OPT_LEASE_TIME), 600u);
  EXPECT_EQ(offer->option_u32(DHCP_OPT_T1), 300u);
  EXPECT_EQ(offer->option_u32(DHCP_OPT_T2), 525u);
  EXPECT_EQ(*offer->option(DHCP_OPT_CLIENT_ID), *dhcp_discover(t.id, xid).option(DHCP_OPT_CLIENT_ID));
  ASSERT_TRUE(t.server->lease_for(pool_first).has_value());
  EXPECT_EQ(t.server->lease_for(pool_first)->state, dhcp_lease_state::offered);

  const ps_t before_ack = t.sched.now();
  t.send(dhcp_request_selecting(t.id, xid, offer->yiaddr, server_ip));
  const auto ack = t.receive();
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->message_type(), DHCPACK);
  EXPECT_EQ(ack->xid, xid);
  EXPECT_EQ(ack->yiaddr, pool_first);
  EXPECT_EQ(ack->option_u32(DHCP_OPT_LEASE_TIME), 600u);

  const auto lease = t.server->lease_of(chip_mac);
  ASSERT_TRUE(lease.has_value());
  EXPECT_EQ(lease->ip, pool_first);
  EXPECT_EQ(lease->state, dhcp_lease_state::bound);
  EXPECT_EQ(lease->hostname, "wiznet-dev");
  EXPECT_GT(lease->expires, before_ack + seconds(600));
  EXPECT_LT(lease->expires, before_ack + seconds(601));
  EXPECT_EQ(t.server->leases().size(), 1u);
  EXPECT_EQ(t.server->free_addresses(), 49u);
  const auto& s = t.server->stats();
  EXPECT_EQ(s.in[DHCPDISCOVER], 1u);
  EXPECT_EQ(s.in[DHCPREQUEST], 1u);
  EXPECT_EQ(s.out[DHCPOFFER], 1u);
  EXPECT_EQ(s.out[DHCPACK], 1u);
  EXPECT_EQ(s.malformed, 0u);
  EXPECT_EQ(t.server_host.log().counters().guest_errors, 0u);

  // Without the BROADCAST flag both replies were unicast to the offered address at the chip's MAC.
  ASSERT_EQ(t.replies.size(), 2u);
  for (const auto& r : t.replies) {
    EXPECT_EQ(r.eth_dst, chip_mac);
    EXPECT_EQ(r.ip_dst, pool_first);
    EXPECT_EQ(r.ip_src, server_ip);
  }
}

TEST(DhcpServer, BroadcastsRepliesWhenTheClientSetsTheBroadcastFlag) {
  dhcp_bench t;
  t.id.broadcast = true;
  const auto ack = t.acquire();
  EXPECT_EQ(ack.yiaddr, pool_first);
  ASSERT_EQ(t.replies.size(), 2u);
  for (const auto& r : t.replies) {
    EXPECT_EQ(r.eth_dst, broadcast_mac);
    EXPECT_EQ(r.ip_dst, bcast_all);
  }
}

TEST(DhcpServer, ItsReplyCarriesOnlyRequestedParametersPlusTheUsualOnes) {
  dhcp_bench t;
  t.id.params = {DHCP_OPT_DOMAIN_NAME, DHCP_OPT_SUBNET_MASK};
  const auto offer = t.exchange(dhcp_discover(t.id, 5));
  ASSERT_TRUE(offer.has_value());
  std::vector<int> codes;
  for (const auto& o : offer->options) codes.push_back(o.code);
  // 53, 54, lease times, then the request list in its order, then router; no DNS (not asked for).
  EXPECT_EQ(codes, (std::vector<int>{53, 54, 51, 58, 59, 15, 1, 3, 61}));
}

TEST(DhcpServer, HonoursTheRequestedAddressWhenItIsFree) {
  dhcp_bench t;
  const auto offer = t.exchange(dhcp_discover(t.id, 6, ip4(10, 0, 0, 120)));
  ASSERT_TRUE(offer.has_value());
  EXPECT_EQ(offer->yiaddr, ip4(10, 0, 0, 120));
  // Outside the pool: ignored, the lowest free address instead.
  dhcp_bench u;
  const auto other = u.exchange(dhcp_discover(u.id, 7, ip4(10, 0, 0, 20)));
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(other->yiaddr, pool_first);
}

TEST(DhcpServer, GivesAReservedClientItsStaticAddress) {
  auto cfg = base_config();
  cfg.reservations[chip_mac] = ip4(10, 0, 0, 20);  // outside the pool
  dhcp_bench t(cfg);
  EXPECT_EQ(t.acquire().yiaddr, ip4(10, 0, 0, 20));
  EXPECT_EQ(t.server->lease_of(chip_mac)->ip, ip4(10, 0, 0, 20));
}

TEST(DhcpServer, RenewingUnicastExtendsTheLease) {
  dhcp_bench t;
  const auto ack = t.acquire();
  const ip4_addr mine = ack.yiaddr;
  t.client.set_ip(mine, mask24, router_ip);
  const ps_t first_expiry = t.server->lease_of(chip_mac)->expires;
  t.sched.advance_by(seconds(300));  // T1
  ip4_addr from = 0;
  t.send(dhcp_request_renew(t.id, 0x5151, mine), server_ip);
  const auto renew = t.receive(ms(500), &from);
  ASSERT_TRUE(renew.has_value());
  EXPECT_EQ(renew->message_type(), DHCPACK);
  EXPECT_EQ(renew->yiaddr, mine);
  EXPECT_EQ(renew->ciaddr, mine);
  EXPECT_EQ(from, server_ip);
  const auto lease = t.server->lease_of(chip_mac);
  ASSERT_TRUE(lease.has_value());
  EXPECT_GE(lease->expires, first_expiry + seconds(300));
  // Unicast to ciaddr (the server resolved the chip by ARP), not to a broadcast address.
  ASSERT_FALSE(t.replies.empty());
  EXPECT_EQ(t.replies.back().eth_dst, chip_mac);
  EXPECT_EQ(t.replies.back().ip_dst, mine);
  EXPECT_EQ(t.server_host.arp_lookup(mine), chip_mac);
}

TEST(DhcpServer, RebindingBroadcastIsAnsweredForTheClientsOwnLease) {
  dhcp_bench t;
  const ip4_addr mine = t.acquire().yiaddr;
  t.client.set_ip(mine, mask24, router_ip);
  t.sched.advance_by(seconds(530));  // past T2
  const auto ack = t.exchange(dhcp_request_renew(t.id, 0x6161, mine));
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->message_type(), DHCPACK);
  EXPECT_GT(t.server->lease_of(chip_mac)->expires, t.sched.now() + seconds(599));
}

TEST(DhcpServer, AnUnrenewedLeaseExpiresAndItsAddressGoesBackToThePool) {
  auto cfg = base_config();
  cfg.pool_last = pool_first;  // one address
  dhcp_bench t(cfg);
  EXPECT_EQ(t.acquire().yiaddr, pool_first);
  const mac_addr other{0x02, 0, 0, 0, 0, 0x99};
  EXPECT_EQ(t.acquire_as(other), 0u) << "pool exhausted while the lease runs";
  t.sched.advance_by(seconds(601));
  EXPECT_TRUE(t.server->leases().empty());
  EXPECT_EQ(t.acquire_as(other), pool_first);
}

TEST(DhcpServer, ReleaseFreesTheLeaseAndTheClientGetsTheSameAddressBack) {
  dhcp_bench t;
  const ip4_addr mine = t.acquire().yiaddr;
  t.client.set_ip(mine, mask24, router_ip);
  t.send(dhcp_release(t.id, 0x7171, mine, server_ip), server_ip);
  t.sched.advance_by(ms(10));
  EXPECT_TRUE(t.server->leases().empty());
  EXPECT_EQ(t.server->stats().in[DHCPRELEASE], 1u);
  EXPECT_FALSE(t.receive(ms(200)).has_value()) << "RELEASE is not answered";
  t.client.set_ip(0, 0, 0);
  const ip4_addr again = t.acquire().yiaddr;
  EXPECT_EQ(again, mine);
}

TEST(DhcpServer, InitRebootIsAckedForTheClientsLeaseAndNakedForAnotherSubnetOrATakenAddress) {
  dhcp_bench t;
  const ip4_addr mine = t.acquire().yiaddr;
  const auto ok = t.exchange(dhcp_request_init_reboot(t.id, 0x8181, mine));
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->message_type(), DHCPACK);
  EXPECT_EQ(ok->yiaddr, mine);

  const auto moved = t.exchange(dhcp_request_init_reboot(t.id, 0x8182, ip4(192, 168, 7, 20)));
  ASSERT_TRUE(moved.has_value());
  EXPECT_EQ(moved->message_type(), DHCPNAK);
  EXPECT_EQ(moved->yiaddr, 0u);
  EXPECT_EQ(moved->option_string(DHCP_OPT_MESSAGE), "192.168.7.20 is not on this network");
  EXPECT_EQ(t.replies.back().eth_dst, broadcast_mac) << "a NAK is always broadcast";
  EXPECT_EQ(t.replies.back().ip_dst, bcast_all);

  const mac_addr other{0x02, 0, 0, 0, 0, 0x99};
  const ip4_addr theirs = t.acquire_as(other);
  ASSERT_NE(theirs, 0u);
  const auto taken = t.exchange(dhcp_request_init_reboot(t.id, 0x8183, theirs));
  ASSERT_TRUE(taken.has_value());
  EXPECT_EQ(taken->message_type(), DHCPNAK);

  // A client the server has never heard of: silence (another server may own its binding).
  dhcp_client_identity stranger;
  stranger.mac = {0x02, 0, 0, 0, 0, 0x55};
  stranger.broadcast = true;
  t.send(dhcp_request_init_reboot(stranger, 0x8184, ip4(10, 0, 0, 140)));
  EXPECT_FALSE(t.receive(ms(500)).has_value());
}

TEST(DhcpServer, NakBehaviourRefusesEveryRequest) {
  dhcp_bench t;
  t.server->set_behaviour(dhcp_behaviour::nak);
  const auto offer = t.exchange(dhcp_discover(t.id, 0x9191));
  ASSERT_TRUE(offer.has_value());
  EXPECT_EQ(offer->message_type(), DHCPOFFER);
  const auto nak = t.exchange(dhcp_request_selecting(t.id, 0x9191, offer->yiaddr, server_ip));
  ASSERT_TRUE(nak.has_value());
  EXPECT_EQ(nak->message_type(), DHCPNAK);
  EXPECT_EQ(nak->xid, 0x9191u);
  EXPECT_EQ(nak->option_ip(DHCP_OPT_SERVER_ID), server_ip);
  EXPECT_FALSE(nak->has_option(DHCP_OPT_LEASE_TIME));
  EXPECT_EQ(t.replies.back().eth_dst, broadcast_mac);
  EXPECT_TRUE(t.server->leases().empty()) << "the refused offer is dropped";
  EXPECT_EQ(t.server->stats().out[DHCPNAK], 1u);
}

TEST(DhcpServer, SilentBehaviourAnswersNothingAndCanBeSwitchedOffMidRun) {
  dhcp_bench t;
  t.server->set_behaviour(dhcp_behaviour::silent);
  t.send(dhcp_discover(t.id, 0xA1A1));
  EXPECT_FALSE(t.receive(seconds(2)).has_value());
  EXPECT_EQ(t.server->stats().in[DHCPDISCOVER], 1u);
  EXPECT_EQ(t.server->stats().ignored, 1u);
  EXPECT_TRUE(t.server->leases().empty());
  t.server->set_behaviour(dhcp_behaviour::normal);
  EXPECT_EQ(t.acquire().yiaddr, pool_first);
}

TEST(DhcpServer, WrongXidBehaviourRepliesWithAnotherTransactionId) {
  dhcp_bench t;
  t.server->set_behaviour(dhcp_behaviour::wrong_xid);
  const auto offer = t.exchange(dhcp_discover(t.id, 0xB1B1));
  ASSERT_TRUE(offer.has_value());
  EXPECT_EQ(offer->message_type(), DHCPOFFER);
  EXPECT_NE(offer->xid, 0xB1B1u);
}

TEST(DhcpServer, OfferThenVanishIgnoresTheRequestAndTheOfferLapses) {
  dhcp_bench t;
  t.server->set_behaviour(dhcp_behaviour::offer_then_vanish);
  const auto offer = t.exchange(dhcp_discover(t.id, 0xC1C1));
  ASSERT_TRUE(offer.has_value());
  t.send(dhcp_request_selecting(t.id, 0xC1C1, offer->yiaddr, server_ip));
  EXPECT_FALSE(t.receive(seconds(2)).has_value());
  EXPECT_EQ(t.server->stats().in[DHCPREQUEST], 1u);
  EXPECT_EQ(t.server->stats().out[DHCPACK], 0u);
  ASSERT_TRUE(t.server->lease_of(chip_mac).has_value());
  EXPECT_EQ(t.server->lease_of(chip_mac)->state, dhcp_lease_state::offered);
  t.sched.advance_by(seconds(30));  // offer_hold
  EXPECT_FALSE(t.server->lease_of(chip_mac).has_value());
}

TEST(DhcpServer, TwoCompetingServersTheClientTakesTheFirstOfferAndTheOtherWithdraws) {
  dhcp_bench t;
  constexpr ip4_addr slow_ip = ip4(10, 0, 0, 2);
  peer_host slow_host(t.seg, peer_cfg("slowdhcpd", slow_ip, 2));
  auto slow_cfg = base_config();
  slow_cfg.reply_delay = ms(20);
  slow_cfg.shared_pool = true;  // the same pool, on purpose: both servers must say so
  EXPECT_THROW(dhcp_server(slow_host, slow_cfg), std::invalid_argument) << "the first server did not share";
  t.server.reset();
  auto first_cfg = base_config();
  first_cfg.shared_pool = true;
  t.server = std::make_unique<dhcp_server>(t.server_host, first_cfg);
  dhcp_server slow(slow_host, slow_cfg);

  t.send(dhcp_discover(t.id, 0xD1D1));
  ip4_addr first_from = 0, second_from = 0;
  const auto first = t.receive(ms(500), &first_from);
  const auto second = t.receive(ms(500), &second_from);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first_from, server_ip);
  EXPECT_EQ(second_from, slow_ip);
  EXPECT_EQ(second->option_ip(DHCP_OPT_SERVER_ID), slow_ip);
  ASSERT_TRUE(slow.lease_of(chip_mac).has_value()) << "the slow server holds its offer";

  const auto ack = t.exchange(dhcp_request_selecting(t.id, 0xD1D1, first->yiaddr, server_ip));
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->message_type(), DHCPACK);
  EXPECT_EQ(ack->option_ip(DHCP_OPT_SERVER_ID), server_ip);
  EXPECT_FALSE(t.receive(ms(500)).has_value()) << "the other server stays quiet";
  EXPECT_FALSE(slow.lease_of(chip_mac).has_value()) << "and dropped its reservation";
  EXPECT_EQ(slow.stats().offers_withdrawn, 1u);
  EXPECT_EQ(slow.stats().in[DHCPREQUEST], 1u);
  EXPECT_EQ(slow.free_addresses(), 50u);
  EXPECT_EQ(t.server->lease_of(chip_mac)->state, dhcp_lease_state::bound);
}

TEST(DhcpServer, ReplyDelayHoldsTheReplyForThatVirtualTime) {
  auto cfg = base_config();
  cfg.reply_delay = ms(300);
  dhcp_bench t(cfg);
  t.send(dhcp_discover(t.id, 0xD2D2));
  EXPECT_FALSE(t.receive(ms(250)).has_value());
  EXPECT_TRUE(t.receive(ms(100)).has_value());
}

TEST(DhcpServer, SendsNoOfferWhenThePoolIsExhausted) {
  auto cfg = base_config();
  cfg.pool_last = ip4(10, 0, 0, 101);  // two addresses
  dhcp_bench t(cfg);
  EXPECT_EQ(t.acquire_as({0x02, 0, 0, 0, 0, 0x61}), ip4(10, 0, 0, 100));
  EXPECT_EQ(t.acquire_as({0x02, 0, 0, 0, 0, 0x62}), ip4(10, 0, 0, 101));
  EXPECT_EQ(t.server->free_addresses(), 0u);
  t.send(dhcp_discover(t.id, 0xE1E1));
  EXPECT_FALSE(t.receive(seconds(1)).has_value());
  EXPECT_EQ(t.server->stats().pool_exhausted, 1u);
  EXPECT_EQ(t.server->stats().out[DHCPOFFER], 2u);
}

TEST(DhcpServer, DeclinedAddressIsTakenOutOfThePoolForAWhile) {
  auto cfg = base_config();
  cfg.decline_hold = seconds(100);
  dhcp_bench t(cfg);
  const ip4_addr bad = t.acquire().yiaddr;
  t.send(dhcp_decline(t.id, 0xF1F1, bad, server_ip, "address in use"));
  t.sched.advance_by(ms(10));
  ASSERT_TRUE(t.server->lease_for(bad).has_value());
  EXPECT_EQ(t.server->lease_for(bad)->state, dhcp_lease_state::declined);
  EXPECT_FALSE(t.server->lease_of(chip_mac).has_value());
  EXPECT_EQ(t.server->stats().in[DHCPDECLINE], 1u);
  const auto next = t.exchange(dhcp_discover(t.id, 0xF1F2, bad));
  ASSERT_TRUE(next.has_value());
  EXPECT_NE(next->yiaddr, bad) << "not offered again, even when asked for";
  t.sched.advance_by(seconds(100));
  EXPECT_FALSE(t.server->lease_for(bad).has_value()) << "the decline lapsed";
}

TEST(DhcpServer, InformIsAckedWithParametersButNoAddressOrLease) {
  dhcp_bench t;
  constexpr ip4_addr fixed = ip4(10, 0, 0, 7);
  t.client.set_ip(fixed, mask24, router_ip);
  const auto ack = t.exchange(dhcp_inform(t.id, 0xABAB, fixed), server_ip);
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->message_type(), DHCPACK);
  EXPECT_EQ(ack->yiaddr, 0u);
  EXPECT_EQ(ack->ciaddr, fixed);
  EXPECT_FALSE(ack->has_option(DHCP_OPT_LEASE_TIME));
  EXPECT_FALSE(ack->has_option(DHCP_OPT_T1));
  EXPECT_EQ(ack->option_ip(DHCP_OPT_ROUTER), router_ip);
  EXPECT_EQ(ack->option_ips(DHCP_OPT_DNS), std::vector<ip4_addr>{ip4(10, 0, 0, 53)});
  EXPECT_TRUE(t.server->leases().empty());
  EXPECT_EQ(t.replies.back().ip_dst, fixed);
}

TEST(DhcpServer, KeysClientsByClientIdentifierElseByHardwareAddress) {
  dhcp_bench t;
  t.id.client_id = {0xFF, 'b', 'o', 'a', 'r', 'd', '-', '1'};
  const ip4_addr a = t.acquire().yiaddr;
  EXPECT_EQ(t.server->lease_of(chip_mac)->client_id, t.id.client_id);
  // Same chaddr, no identifier: another client as far as the server is concerned.
  t.id.send_client_id = false;
  const ip4_addr b = t.acquire().yiaddr;
  EXPECT_NE(a, b);
  EXPECT_EQ(t.server->leases().size(), 2u);
}

TEST(DhcpServer, AnInfiniteLeaseCarriesNoRenewalTimesAndNeverLapses) {
  auto cfg = base_config();
  cfg.lease_time = dhcp_infinite_lease;
  dhcp_bench t(cfg);
  const auto ack = t.acquire();
  EXPECT_EQ(ack.option_u32(DHCP_OPT_LEASE_TIME), dhcp_infinite_lease);
  EXPECT_FALSE(ack.has_option(DHCP_OPT_T1));
  EXPECT_FALSE(ack.has_option(DHCP_OPT_T2));
  EXPECT_EQ(t.server->lease_of(chip_mac)->expires, never);
}

TEST(DhcpServer, RepliesThroughARelayAgentToItsAddressOnPort67) {
  dhcp_bench t;
  constexpr ip4_addr relay_ip = ip4(10, 0, 0, 9);
  peer_host relay(t.seg, peer_cfg("relay", relay_ip, 9));
  std::vector<dhcp_message> at_relay;
  relay.udp_bind(dhcp_server_port, [&](const udp_datagram& d) {
    const auto m = parse_dhcp(d.payload);
    if (!m || m->op != BOOTREPLY) return;  // the client's own broadcasts reach the relay too
    EXPECT_EQ(d.src, server_ip);
    EXPECT_EQ(d.src_port, dhcp_server_port);
    at_relay.push_back(*m);
  });
  auto discover = dhcp_discover(t.id, 0x4242);
  discover.giaddr = relay_ip;
  discover.hops = 1;
  t.send(discover);
  t.sched.advance_by(ms(50));
  ASSERT_EQ(at_relay.size(), 1u);
  EXPECT_EQ(at_relay[0].message_type(), DHCPOFFER);
  EXPECT_EQ(at_relay[0].giaddr, relay_ip);
  EXPECT_EQ(at_relay[0].yiaddr, pool_first);
  EXPECT_FALSE(t.receive(ms(100)).has_value()) << "nothing goes to the client directly";

  // A NAK goes to the relay with the BROADCAST bit set, so that the relay broadcasts it.
  auto reboot = dhcp_request_init_reboot(t.id, 0x4243, ip4(192, 168, 1, 5));
  reboot.giaddr = relay_ip;
  t.send(reboot);
  t.sched.advance_by(ms(50));
  ASSERT_EQ(at_relay.size(), 2u);
  EXPECT_EQ(at_relay[1].message_type(), DHCPNAK);
  EXPECT_TRUE(at_relay[1].broadcast_flag());

  // Relayed from another subnet: this server serves one subnet only.
  const auto unimplemented = t.server_host.log().counters().unimplemented;
  auto far = dhcp_discover(t.id, 0x4244);
  far.giaddr = ip4(10, 9, 0, 1);
  t.send(far);
  t.sched.advance_by(ms(50));
  EXPECT_EQ(at_relay.size(), 2u);
  EXPECT_EQ(t.server_host.log().counters().unimplemented, unimplemented + 1);
}

TEST(DhcpServer, LogsMalformedRequestsAsGuestErrorsAndKeepsServing) {
  dhcp_bench t;
  const octets good = build_dhcp(dhcp_discover(t.id, 0x1234));
  octets truncated(good.begin(), good.begin() + 100);
  octets bad_cookie = good;
  bad_cookie[236] = 0;
  octets reply_op = good;
  reply_op[0] = BOOTREPLY;
  octets bad_len = good;
  bad_len[241] = 2;  // option 53 with length 2
  octets bad_type = build_dhcp(dhcp_discover(t.id, 0x1235));
  bad_type[242] = DHCPACK;  // a server's message type from a client
  for (const octets* b : {&truncated, &bad_cookie, &reply_op, &bad_len, &bad_type}) t.send_raw(*b);
  EXPECT_FALSE(t.receive(seconds(1)).has_value());
  EXPECT_EQ(t.server->stats().malformed, 5u);
  EXPECT_EQ(t.server_host.log().counters().guest_errors, 5u);
  EXPECT_EQ(t.acquire().yiaddr, pool_first);
}

TEST(DhcpServer, TracesEveryMessageInAndOut) {
  dhcp_bench t;
  std::vector<std::string> lines;
  t.seg.set_trace_sink([&](std::string_view l) {
    if (l.find(R"("ev":"dhcp")") != std::string_view::npos) lines.emplace_back(l);
  });
  t.acquire();
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_NE(lines[0].find(R"("dir":"in","type":"DISCOVER","xid":956560166,"mac":"02:08:dc:00:00:50")"),
            std::string::npos)
      << lines[0];
  EXPECT_NE(lines[1].find(R"("dir":"out","type":"OFFER")"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find(R"("ip":"10.0.0.100")"), std::string::npos) << lines[1];
  EXPECT_NE(lines[2].find(R"("dir":"in","type":"REQUEST")"), std::string::npos) << lines[2];
  EXPECT_NE(lines[3].find(R"("dir":"out","type":"ACK")"), std::string::npos) << lines[3];
}

TEST(DhcpServer, ConstructionRejectsABadConfigurationAndASecondServerOnOneHost) {
  scheduler sched;
  segment seg(sched);
  peer_host host(seg, peer_cfg("dhcpd", server_ip, 1));
  auto bad = base_config();
  bad.pool_last = ip4(10, 0, 0, 1);
  EXPECT_THROW((dhcp_server{host, bad}), std::invalid_argument);
  dhcp_server one(host, base_config());
  EXPECT_EQ(one.server_id(), server_ip);
  EXPECT_EQ(one.config().t1, 300u);
  EXPECT_EQ(one.config().t2, 525u);
  EXPECT_THROW((dhcp_server{host, base_config()}), std::invalid_argument) << "port 67 is taken";
}

TEST(DhcpServer, WireIsValidDhcpForTshark) {
  using namespace wizsim::test;
  REQUIRE_TSHARK(tshark);
  scoped_capture pcap{temp_path("dhcp.pcap")};
  {
    dhcp_bench t;
    t.seg.capture(pcap.path);
    t.acquire();
    t.seg.stop_capture();
  }
  const auto types = tshark_fields(tshark, pcap.path, "dhcp", {"dhcp.option.dhcp"});
  ASSERT_EQ(types.exit_code, 0) << types.err;
  EXPECT_EQ(types.out, "1\n2\n3\n5\n") << pcap.path;
  const auto flagged = tshark_flagged(tshark, pcap.path);
  ASSERT_EQ(flagged.exit_code, 0) << flagged.err;
  EXPECT_EQ(flagged.out, "") << pcap.path;
}

TEST(DhcpServer, EveryMessageKindIsValidOnTheWire) {
  using namespace wizsim::test;
  REQUIRE_TSHARK(tshark);
  scoped_capture pcap{temp_path("dhcp_all.pcap")};
  {
    dhcp_bench t;
    t.seg.capture(pcap.path);
    const ip4_addr mine = t.acquire().yiaddr;  // DISCOVER OFFER REQUEST ACK
    ASSERT_TRUE(t.exchange(dhcp_request_init_reboot(t.id, 1, ip4(192, 168, 9, 9))));  // REQUEST NAK
    t.client.set_ip(mine, mask24, router_ip);
    ASSERT_TRUE(t.exchange(dhcp_request_renew(t.id, 2, mine), server_ip));  // REQUEST ACK (after ARP)
    ASSERT_TRUE(t.exchange(dhcp_inform(t.id, 3, mine), server_ip));         // INFORM ACK
    t.send(dhcp_release(t.id, 4, mine, server_ip), server_ip);              // RELEASE
    t.client.set_ip(0, 0, 0);
    const ip4_addr again = t.acquire().yiaddr;                          // DISCOVER OFFER REQUEST ACK
    t.send(dhcp_decline(t.id, 5, again, server_ip, "address in use"));  // DECLINE
    t.sched.advance_by(ms(10));
    t.seg.stop_capture();
  }
  const auto types = tshark_fields(tshark, pcap.path, "dhcp", {"dhcp.option.dhcp"});
  ASSERT_EQ(types.exit_code, 0) << types.err;
  EXPECT_EQ(types.out, "1\n2\n3\n5\n3\n6\n3\n5\n8\n5\n7\n1\n2\n3\n5\n4\n") << pcap.path;
  const auto flagged = tshark_flagged(tshark, pcap.path);
  ASSERT_EQ(flagged.exit_code, 0) << flagged.err;
  EXPECT_EQ(flagged.out, "") << pcap.path;
}

TEST(DhcpServerConfig, OverlappingPoolsOnOneSegmentFailAtSetupNamingBothServers) {
  scheduler sched;
  segment seg(sched, "lan");
  peer_host a(seg, peer_cfg("dhcp-a", ip4(10, 0, 0, 1), 1));
  peer_host b(seg, peer_cfg("dhcp-b", ip4(10, 0, 0, 2), 2));
  auto ca = base_config();
  dhcp_server first(a, ca);
  auto cb = base_config();
  cb.pool_first = ip4(10, 0, 0, 140);  // overlaps .140-.149
  cb.pool_last = ip4(10, 0, 0, 200);
  try {
    dhcp_server second(b, cb);
    ADD_FAILURE() << "an overlapping pool was accepted";
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("dhcp-a"), std::string::npos) << what;
    EXPECT_NE(what.find("dhcp-b"), std::string::npos) << what;
    EXPECT_NE(what.find("10.0.0.140-10.0.0.200"), std::string::npos) << what;
  }
  cb.pool_first = ip4(10, 0, 0, 150);  // disjoint: fine
  dhcp_server second(b, cb);
  EXPECT_EQ(second.free_addresses(), 51u);
}
