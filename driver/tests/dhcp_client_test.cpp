// The driver's DHCP client end to end in virtual time: WIZNET5K on the W5500 model (wizsim::model_hal), a
// segment, and a peer host running wizsim::dhcp_server (or a rogue host sending hand-made replies). Every
// message the chip sends is captured off the segment and decoded with the harness's DHCP codec, so the
// assertions are about what a real server would see: options, flags, addresses, retransmission times.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "driver_lan.hpp"
#include "lan_fixture.hpp"
#include "wiznet5k/dhcp.hpp"
#include "wiznet5k/wiznet5k.hpp"
#include "wizsim/harness/dhcp.hpp"
#include "wizsim/harness/model_hal.hpp"
#include "wizsim/harness/peer.hpp"
#include "wizsim/harness/segment.hpp"
#include "wizsim/w5500.hpp"

using namespace wizsim;
using wizsim::test::from_w;
using wizsim::test::secs;
using wizsim::test::to_w;
using wiznet5k::DHCP;
using wiznet5k::errc;

namespace {

constexpr ip4_addr server_ip = ip4(10, 0, 0, 1), rogue_ip = ip4(10, 0, 0, 2),
                   other_server_ip = ip4(10, 0, 0, 3), router_ip = ip4(10, 0, 0, 254),
                   dns_ip = ip4(10, 0, 0, 53), mask24 = ip4(255, 255, 255, 0);
constexpr ip4_addr pool_first = ip4(10, 0, 0, 100), pool_last = ip4(10, 0, 0, 149);
constexpr ip4_addr bcast_all = 0xFFFFFFFFu;
const wiznet5k::mac6 chip_mac{0x02, 0x08, 0xDC, 0x00, 0x00, 0x50};
const mac_addr chip_mac_w{0x02, 0x08, 0xDC, 0x00, 0x00, 0x50};
const mac_addr server_mac{0x02, 0x00, 0x00, 0x00, 0x00, 0x01};


dhcp_server_config base_config(std::uint32_t lease = 600) {
  dhcp_server_config c;
  c.pool_first = pool_first;
  c.pool_last = pool_last;
  c.netmask = mask24;
  c.router = router_ip;
  c.dns = {dns_ip};
  c.lease_time = lease;
  return c;
}

// A DHCP message the chip sent, as it crossed the segment.
struct sent_msg {
  ps_t t = 0;
  mac_addr eth_dst{};
  ip4_addr ip_src = 0, ip_dst = 0;
  std::uint16_t sport = 0, dport = 0;
  dhcp_message m;
};

// The W5500 with the driver on a segment with a DHCP server host (optional) and a spare host for
// hand-made replies.
struct dhcp_lan {
  scheduler sched;
  segment seg;
  w5500 chip;
  model_hal board;
  peer_host server_host;
  peer_host rogue;
  std::unique_ptr<dhcp_server> server;
  wiznet5k::WIZNET5K eth;
  segment::port_id chip_port = -1;
  std::vector<sent_msg> sent;

  explicit dhcp_lan(std::optional<dhcp_server_config> cfg = base_config(), std::uint64_t seed = 7)
      : sched(seed),
        seg(sched, "lan", seed),
        chip(sched),
        board(chip, seed),
        server_host(seg, test::peer_cfg("dhcpd", server_ip, 1)),
        rogue(seg, test::peer_cfg("rogue", rogue_ip, 2)),
        eth(board) {
    chip_port = seg.attach(chip, "chip");
    seg.observe([this](segment::port_id from, const octets& f, ps_t t) {
      if (from == chip_port) note(f, t);
    });
    if (cfg) server = std::make_unique<dhcp_server>(server_host, *cfg);
    const wiznet5k::error e = eth.begin(false, chip_mac);
    EXPECT_TRUE(e.ok()) << e.message;
  }

  void note(const octets& f, ps_t t) {
    const auto eth_v = parse_eth(f.data(), f.size());
    if (!eth_v || eth_v->ethertype != ethertype_ipv4) return;
    const auto ip = parse_ipv4(eth_v->payload, eth_v->payload_len);
    if (!ip || ip->h.proto != ip_proto_udp) return;
    const auto udp = parse_udp(ip->payload, ip->payload_len, ip->h.src, ip->h.dst);
    if (!udp || udp->dst_port != dhcp_server_port) return;
    std::string why;
    auto m = parse_dhcp(udp->payload, udp->payload_len, &why);
    ADD_FAILURE_IF_NOT(m.has_value(), why);
    if (!m) return;
    sent.push_back({t, eth_v->dst, ip->h.src, ip->h.dst, udp->src_port, udp->dst_port, std::move(*m)});
  }
  static void ADD_FAILURE_IF_NOT(bool ok, const std::string& why) {
    if (!ok) ADD_FAILURE() << "the client sent an unparseable DHCP message: " << why;
  }

  std::vector<sent_msg> of_type(std::uint8_t type) const {
    std::vector<sent_msg> out;
    for (const auto& s : sent)
      if (s.m.message_type() == type) out.push_back(s);
    return out;
  }

  bool all_sockets_closed() {
    return test::all_sockets_closed(eth);
  }

  ip4_addr chip_ip() {
    const auto c = eth.ifconfig();
    EXPECT_TRUE(c.ok());
    return from_w(c.value.ip);
  }

  // Calls the non-blocking maintenance every `step` until the board clock reaches `until_ms`; every call
  // must come back without waiting (a few ms of SPI and SEND_OK at most) and, unless allowed, without error.
  void maintain_until(DHCP& dhcp, std::uint64_t until_ms, std::uint32_t step_ms = 250,
                      std::vector<wiznet5k::error>* errors = nullptr) {
    while (board.millis() < until_ms) {
      const ps_t before = sched.now();
      const wiznet5k::error e = dhcp.maintain_dhcp_lease();
      EXPECT_LT(sched.now() - before, ms(100)) << "maintain_dhcp_lease() blocked";
      if (errors != nullptr) {
        if (e) errors->push_back(e);
      } else {
        EXPECT_TRUE(e.ok()) << e.message;
      }
      board.sleep_ms(step_ms);
    }
  }

  // A reply as a server would send it to our current exchange.
  dhcp_message reply(const DHCP& dhcp, std::uint8_t type, ip4_addr server_id, ip4_addr yiaddr = pool_first) {
    dhcp_message m;
    m.op = BOOTREPLY;
    m.xid = dhcp.xid();
    m.flags = dhcp_flag_broadcast;
    m.yiaddr = type == DHCPNAK ? 0 : yiaddr;
    m.chaddr = chip_mac_w;
    m.set_option_u8(DHCP_OPT_MESSAGE_TYPE, type);
    m.set_option_ip(DHCP_OPT_SERVER_ID, server_id);
    if (type != DHCPNAK) {
      m.set_option_u32(DHCP_OPT_LEASE_TIME, 600);
      m.set_option_ip(DHCP_OPT_SUBNET_MASK, mask24);
      m.set_option_ip(DHCP_OPT_ROUTER, router_ip);
      m.set_option_ips(DHCP_OPT_DNS, {dns_ip});
    }
    return m;
  }
  // The rogue host broadcasts `payload` to port 68 from port `sport`, and the network delivers it.
  void inject(const octets& payload, std::uint16_t sport = dhcp_server_port) {
    rogue.udp_send(bcast_all, dhcp_client_port, sport, payload);
    board.sleep_ms(5);
  }
};

std::vector<std::uint8_t> option_bytes(const dhcp_message& m, std::uint8_t code) {
  const octets* o = m.option(code);
  return o == nullptr ? std::vector<std::uint8_t>{} : std::vector<std::uint8_t>(o->begin(), o->end());
}

// What every message of ours carries, whatever its state.
void expect_identity(const sent_msg& s, const DHCP& dhcp) {
  EXPECT_EQ(s.m.op, BOOTREQUEST);
  EXPECT_EQ(s.m.htype, 1);
  EXPECT_EQ(s.m.hlen, 6);
  EXPECT_EQ(s.m.chaddr, chip_mac_w);
  EXPECT_EQ(s.sport, dhcp_client_port);
  EXPECT_EQ(s.dport, dhcp_server_port);
  EXPECT_EQ(option_bytes(s.m, DHCP_OPT_CLIENT_ID),
            (std::vector<std::uint8_t>{1, 0x02, 0x08, 0xDC, 0x00, 0x00, 0x50}));
  EXPECT_EQ(s.m.option_string(DHCP_OPT_HOSTNAME), std::string(dhcp.hostname()));
  EXPECT_EQ(option_bytes(s.m, DHCP_OPT_PARAM_REQUEST), (std::vector<std::uint8_t>{1, 3, 6, 51, 58, 59}));
}

}  // namespace

// ---- acquiring --------------------------------------------------------------------------------------------

TEST(DhcpClient, ObtainsALeaseThroughDiscoverOfferRequestAckAndConfiguresTheChip) {
  dhcp_lan t;
  DHCP dhcp(t.eth, chip_mac);
  EXPECT_EQ(dhcp.state(), DHCP::STATE_INIT);
  const ps_t start = t.sched.now();
  const std::uint64_t start_ms = t.board.millis();
  const wiznet5k::error e = dhcp.request_dhcp_lease();
  ASSERT_TRUE(e.ok()) << e.message;
  EXPECT_LT(t.sched.now() - start, seconds(1)) << "a prompt server means a prompt lease";

  EXPECT_EQ(dhcp.state(), DHCP::STATE_BOUND);
  EXPECT_EQ(from_w(dhcp.local_ip), pool_first);
  EXPECT_EQ(from_w(dhcp.subnet_mask), mask24);
  EXPECT_EQ(from_w(dhcp.gateway_ip), router_ip);
  EXPECT_EQ(from_w(dhcp.dns_server_ip), dns_ip);
  EXPECT_EQ(from_w(dhcp.dhcp_server_ip), server_ip);
  const auto cfg = t.eth.ifconfig();
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(from_w(cfg.value.ip), pool_first);
  EXPECT_EQ(from_w(cfg.value.subnet), mask24);
  EXPECT_EQ(from_w(cfg.value.gateway), router_ip);
  EXPECT_EQ(from_w(cfg.value.dns), dns_ip);

  // Seconds stay seconds; deadlines are milliseconds from when the REQUEST left (seed bug #169).
  EXPECT_EQ(dhcp.lease_time(), 600u);
  EXPECT_EQ(dhcp.t1(), 300u);
  EXPECT_EQ(dhcp.t2(), 525u);
  EXPECT_GE(dhcp.lease_start_ms(), start_ms);
  EXPECT_LE(dhcp.lease_start_ms(), t.board.millis());
  EXPECT_EQ(dhcp.t1_deadline_ms() - dhcp.lease_start_ms(), 300'000u);
  EXPECT_EQ(dhcp.t2_deadline_ms() - dhcp.lease_start_ms(), 525'000u);
  EXPECT_EQ(dhcp.expiry_ms() - dhcp.lease_start_ms(), 600'000u);

  const auto lease = t.server->lease_of(chip_mac_w);
  ASSERT_TRUE(lease.has_value());
  EXPECT_EQ(lease->state, dhcp_lease_state::bound);
  EXPECT_EQ(lease->ip, pool_first);
  EXPECT_EQ(lease->hostname, "WIZnet0208DC000050");
  EXPECT_EQ(t.server->stats().malformed, 0u);

  // On the wire: DISCOVER then REQUEST, both broadcast from 0.0.0.0:68 with the BROADCAST flag.
  ASSERT_EQ(t.sent.size(), 2u);
  const sent_msg& discover = t.sent[0];
  const sent_msg& request = t.sent[1];
  EXPECT_EQ(discover.m.message_type(), DHCPDISCOVER);
  EXPECT_EQ(request.m.message_type(), DHCPREQUEST);
  for (const sent_msg* s : {&discover, &request}) {
    expect_identity(*s, dhcp);
    EXPECT_EQ(s->eth_dst, broadcast_mac);
    EXPECT_EQ(s->ip_src, 0u);
    EXPECT_EQ(s->ip_dst, bcast_all);
    EXPECT_TRUE(s->m.broadcast_flag());
    EXPECT_EQ(s->m.ciaddr, 0u);
    EXPECT_EQ(s->m.xid, dhcp.xid());
  }
  EXPECT_FALSE(discover.m.has_option(DHCP_OPT_REQUESTED_IP));
  EXPECT_FALSE(discover.m.has_option(DHCP_OPT_SERVER_ID));
  EXPECT_FALSE(discover.m.has_option(DHCP_OPT_LEASE_TIME)) << "no 90-day wish list (seed #182)";
  EXPECT_EQ(request.m.option_ip(DHCP_OPT_REQUESTED_IP), pool_first);
  EXPECT_EQ(request.m.option_ip(DHCP_OPT_SERVER_ID), server_ip);
  EXPECT_TRUE(t.all_sockets_closed());
}

TEST(DhcpClient, RepliesComeBackByBroadcastBecauseTheClientAsksForIt) {
  dhcp_lan t;
  std::vector<mac_addr> reply_dst;
  t.seg.observe([&](segment::port_id from, const octets& f, ps_t) {
    if (from == t.chip_port) return;
    const auto e = parse_eth(f.data(), f.size());
    if (!e || e->ethertype != ethertype_ipv4) return;
    const auto ip = parse_ipv4(e->payload, e->payload_len);
    if (!ip || ip->h.proto != ip_proto_udp) return;
    const auto udp = parse_udp(ip->payload, ip->payload_len, ip->h.src, ip->h.dst);
    if (udp && udp->dst_port == dhcp_client_port) reply_dst.push_back(e->dst);
  });
  DHCP dhcp(t.eth, chip_mac);
  ASSERT_TRUE(dhcp.request_dhcp_lease().ok());
  ASSERT_EQ(reply_dst.size(), 2u);
  EXPECT_EQ(reply_dst[0], broadcast_mac);
  EXPECT_EQ(reply_dst[1], broadcast_mac);
}

TEST(DhcpClient, HostnameFillsTheMacIntoBracesAndIsCutAt42Characters) {
  {
    dhcp_lan t;
    DHCP dhcp(t.eth, chip_mac, "node-{}-x");
    EXPECT_STREQ(dhcp.hostname(), "node-0208DC000050-x");
    ASSERT_TRUE(dhcp.request_dhcp_lease().ok());
    ASSERT_FALSE(t.sent.empty());
    EXPECT_EQ(t.sent[0].m.option_string(DHCP_OPT_HOSTNAME), "node-0208DC000050-x");
    EXPECT_EQ(t.server->lease_of(chip_mac_w)->hostname, "node-0208DC000050-x");
  }
  {
    dhcp_lan t;
    const std::string long_name(60, 'h');
    DHCP dhcp(t.eth, chip_mac, long_name.c_str());
    EXPECT_EQ(std::string(dhcp.hostname()), std::string(42, 'h'));
    ASSERT_TRUE(dhcp.request_dhcp_lease().ok());
    EXPECT_EQ(t.sent[0].m.option_string(DHCP_OPT_HOSTNAME), std::string(42, 'h'));
  }
  {
    dhcp_lan t;
    DHCP dhcp(t.eth, chip_mac, "");
    EXPECT_STREQ(dhcp.hostname(), "WIZnet0208DC000050") << "an empty name means the default";
    dhcp.configure(chip_mac, "{}{}{}{}");
    EXPECT_STREQ(dhcp.hostname(), "0208DC0000500208DC0000500208DC0000500208DC");
    EXPECT_EQ(std::strlen(dhcp.hostname()), 42u);
  }
}

// ---- failures ---------------------------------------------------------------------------------------------

TEST(DhcpClient, WithoutAServerGivesUpAfterAboutAMinuteRetransmittingAt4_8_16_32Seconds) {
  dhcp_lan t(std::nullopt);
  DHCP dhcp(t.eth, chip_mac);
  const ps_t start = t.sched.now();
  const wiznet5k::error e = dhcp.request_dhcp_lease();
  const ps_t end = t.sched.now();
  EXPECT_EQ(e.code, errc::timeout_error) << e.message;
  EXPECT_EQ(dhcp.state(), DHCP::STATE_INIT);

  ASSERT_EQ(t.sent.size(), 4u);
  for (const auto& s : t.sent) {
    EXPECT_EQ(s.m.message_type(), DHCPDISCOVER);
    EXPECT_EQ(s.m.xid, t.sent[0].m.xid) << "retransmissions keep the xid";
  }
  EXPECT_LT(t.sent[0].t - start, ms(100));
  const double gaps[] = {secs(t.sent[1].t - t.sent[0].t), secs(t.sent[2].t - t.sent[1].t),
                         secs(t.sent[3].t - t.sent[2].t), secs(end - t.sent[3].t)};
  const double nominal[] = {4, 8, 16, 32};
  for (int i = 0; i < 4; ++i) {
    EXPECT_GE(gaps[i], nominal[i] - 1.0) << "wait " << i;
    EXPECT_LE(gaps[i], nominal[i] + 1.05) << "wait " << i;
  }
  EXPECT_GE(secs(end - start), 56.0);
  EXPECT_LE(secs(end - start), 64.1);
  // secs counts from the start of the acquisition (RFC 2131 §2).
  EXPECT_EQ(t.sent[0].m.secs, 0);
  EXPECT_GE(t.sent[3].m.secs, 25);
  EXPECT_EQ(t.chip_ip(), 0u);
  EXPECT_TRUE(t.all_sockets_closed());
}

TEST(DhcpClient, ANakSendsItBackToInitAndTheBlockingRequestFailsAfterAboutAMinute) {
  dhcp_lan t;
  t.server->set_behaviour(dhcp_behaviour::nak);
  DHCP dhcp(t.eth, chip_mac);
  const ps_t start = t.sched.now();
  const wiznet5k::error e = dhcp.request_dhcp_lease();
  EXPECT_EQ(e.code, errc::connection_error) << e.message;
  EXPECT_LE(secs(t.sched.now() - start), 64.1);
  EXPECT_GE(secs(t.sched.now() - start), 60.0);
  EXPECT_EQ(dhcp.state(), DHCP::STATE_INIT);
  EXPECT_EQ(t.chip_ip(), 0u);
  EXPECT_TRUE(t.all_sockets_closed());

  // Each NAK restarted from DISCOVER with a new xid, after a hold-off of one first-retry interval.
  const auto discovers = t.of_type(DHCPDISCOVER);
  const auto requests = t.of_type(DHCPREQUEST);
  ASSERT_GE(discovers.size(), 2u);
  EXPECT_GE(t.server->stats().out[DHCPNAK], 2u);
  EXPECT_NE(discovers[0].m.xid, discovers[1].m.xid);
  EXPECT_GE(secs(discovers[1].t - requests[0].t), 3.0);
  EXPECT_LE(discovers.size(), 20u) << "no NAK storm";
}

TEST(DhcpClient, RepliesWithAWrongXidAreIgnored) {
  dhcp_lan t;
  t.server->set_behaviour(dhcp_behaviour::wrong_xid);
  DHCP dhcp(t.eth, chip_mac);
  const wiznet5k::error e = dhcp.request_dhcp_lease();
  EXPECT_EQ(e.code, errc::timeout_error) << e.message;
  EXPECT_EQ(t.server->stats().out[DHCPOFFER], 4u) << "the server did answer every DISCOVER";
  EXPECT_TRUE(t.of_type(DHCPREQUEST).empty()) << "but no OFFER was taken";
  EXPECT_EQ(t.chip_ip(), 0u);
  EXPECT_TRUE(t.all_sockets_closed());
}

TEST(DhcpClient, AnOfferThenSilenceRetransmitsTheRequestAndTimesOut) {
  dhcp_lan t;
  t.server->set_behaviour(dhcp_behaviour::offer_then_vanish);
  DHCP dhcp(t.eth, chip_mac);
  const ps_t start = t.sched.now();
  const wiznet5k::error e = dhcp.request_dhcp_lease();
  const ps_t end = t.sched.now();
  EXPECT_EQ(e.code, errc::timeout_error) << e.message;
  EXPECT_EQ(t.of_type(DHCPDISCOVER).size(), 1u);
  const auto requests = t.of_type(DHCPREQUEST);
  ASSERT_EQ(requests.size(), 4u);
  const double nominal[] = {4, 8, 16};
  for (int i = 0; i < 3; ++i) {
    const double gap = secs(requests[i + 1].t - requests[i].t);
    EXPECT_GE(gap, nominal[i] - 1.0);
    EXPECT_LE(gap, nominal[i] + 1.05);
  }
  for (const auto& r : requests) EXPECT_EQ(r.m.option_ip(DHCP_OPT_SERVER_ID), server_ip);
  EXPECT_GE(secs(end - start), 56.0);
  EXPECT_LE(secs(end - start), 64.1);
  EXPECT_EQ(dhcp.state(), DHCP::STATE_INIT);
  EXPECT_TRUE(t.all_sockets_closed());
}

TEST(DhcpClient, AcceptsOnlyRepliesForItsXidChaddrAndChosenServerAndParsesOptionsDefensively) {
  dhcp_lan t(std::nullopt);  // the rogue host plays the server, by hand
  DHCP dhcp(t.eth, chip_mac);
  ASSERT_TRUE(dhcp.maintain_dhcp_lease().ok());  // INIT -> DISCOVER
  ASSERT_EQ(dhcp.state(), DHCP::STATE_SELECTING);
  ASSERT_EQ(t.sent.size(), 1u);

  const dhcp_message offer = t.reply(dhcp, DHCPOFFER, rogue_ip);
  auto bad = [&](auto mutate) {
    octets b = build_dhcp(offer);
    mutate(b);
    return b;
  };
  t.inject(bad([](octets& b) { b[4] ^= 1; }));           // another xid
  t.inject(bad([](octets& b) { b[33] ^= 1; }));          // another chaddr
  t.inject(bad([](octets& b) { b[0] = BOOTREQUEST; }));  // not a reply
  t.inject(bad([](octets& b) { b[239] ^= 1; }));         // bad magic cookie
  t.inject(bad([](octets& b) { b.resize(239); }));       // shorter than the fixed part
  t.inject(bad([](octets& b) { b[242] = DHCPACK; }));    // an ACK while selecting
  t.inject(bad([](octets& b) { b[241] = 2; }));          // option 53 of length 2: no type
  t.inject(build_dhcp(offer), 99);                       // not from port 67
  ASSERT_TRUE(dhcp.maintain_dhcp_lease().ok());
  ASSERT_TRUE(dhcp.maintain_dhcp_lease().ok());
  dhcp_message no_server_id = offer;
  no_server_id.remove_option(DHCP_OPT_SERVER_ID);
  t.inject(build_dhcp(no_server_id));
  dhcp_message zero_address = offer;
  zero_address.yiaddr = 0;
  t.inject(build_dhcp(zero_address));
  ASSERT_TRUE(dhcp.maintain_dhcp_lease().ok());
  EXPECT_EQ(dhcp.state(), DHCP::STATE_SELECTING);
  EXPECT_EQ(t.sent.size(), 1u) << "nothing above was taken for an OFFER";

  // A usable OFFER with no END, an option running past the datagram and option 52 (overload) present:
  // the client reads what is there and ignores the rest.
  octets ragged = build_dhcp(offer);
  std::size_t end = 240;
  while (ragged[end] != DHCP_OPT_END) end += 2u + ragged[end + 1];
  ragged.resize(end);
  ragged.insert(ragged.end(), {DHCP_OPT_OVERLOAD, 1, 3, DHCP_OPT_DOMAIN_NAME, 40, 'l', 'a', 'b'});
  t.inject(ragged);
  ASSERT_TRUE(dhcp.maintain_dhcp_lease().ok());
  ASSERT_EQ(dhcp.state(), DHCP::STATE_REQUESTING);
  ASSERT_EQ(t.sent.size(), 2u);
  EXPECT_EQ(t.sent[1].m.message_type(), DHCPREQUEST);
  EXPECT_EQ(t.sent[1].m.option_ip(DHCP_OPT_SERVER_ID), rogue_ip);
  EXPECT_EQ(t.sent[1].m.option_ip(DHCP_OPT_REQUESTED_IP), pool_first);

  // While requesting, only the chosen server's ACK/NAK counts.
  t.inject(build_dhcp(t.reply(dhcp, DHCPACK, other_server_ip)));
  t.inject(build_dhcp(t.reply(dhcp, DHCPNAK, other_server_ip)));
  dhcp_message ack_no_id = t.reply(dhcp, DHCPACK, rogue_ip);
  ack_no_id.remove_option(DHCP_OPT_SERVER_ID);
  t.inject(build_dhcp(ack_no_id));
  t.inject(build_dhcp(t.reply(dhcp, DHCPOFFER, rogue_ip)));
  ASSERT_TRUE(dhcp.maintain_dhcp_lease().ok());
  EXPECT_EQ(dhcp.state(), DHCP::STATE_REQUESTING);
  EXPECT_EQ(t.chip_ip(), 0u);

  dhcp_message ack = t.reply(dhcp, DHCPACK, rogue_ip);
  ack.set_option(DHCP_OPT_ROUTER, {10, 0, 0, 254, 10, 0});  // not whole addresses: ignored
  t.inject(build_dhcp(ack));
  ASSERT_TRUE(dhcp.maintain_dhcp_lease().ok());
  EXPECT_EQ(dhcp.state(), DHCP::STATE_BOUND);
  EXPECT_EQ(t.chip_ip(), pool_first);
  EXPECT_EQ(from_w(dhcp.dhcp_server_ip), rogue_ip);
  EXPECT_EQ(from_w(dhcp.gateway_ip), 0u);
  EXPECT_EQ(from_w(dhcp.dns_server_ip), dns_ip);
  EXPECT_TRUE(t.all_sockets_closed());
}

// ---- keeping the lease ------------------------------------------------------------------------------------

TEST(DhcpClient, RenewsAtT1WithAUnicastRequestToItsServer) {
  dhcp_lan t(base_config(120));  // T1 60 s, T2 105 s
  DHCP dhcp(t.eth, chip_mac);
  ASSERT_TRUE(dhcp.request_dhcp_lease().ok());
  const std::uint64_t t0 = dhcp.lease_start_ms();
  const std::size_t acquired = t.sent.size();
  t.maintain_until(dhcp, t0 + 59'000);
  EXPECT_EQ(dhcp.state(), DHCP::STATE_BOUND);
  EXPECT_EQ(t.sent.size(), acquired) << "nothing to do before T1";

  t.maintain_until(dhcp, t0 + 62'000);
  EXPECT_EQ(dhcp.state(), DHCP::STATE_BOUND);
  ASSERT_EQ(t.sent.size(), acquired + 1);
  const sent_msg& renew = t.sent.back();
  expect_identity(renew, dhcp);
  EXPECT_EQ(renew.m.message_type(), DHCPREQUEST);
  EXPECT_GE(secs(renew.t), 60.0 + static_cast<double>(t0) / 1000.0);
  EXPECT_LE(secs(renew.t), 60.5 + static_cast<double>(t0) / 1000.0);
  EXPECT_EQ(renew.eth_dst, server_mac);
  EXPECT_EQ(renew.ip_dst, server_ip);
  EXPECT_EQ(renew.ip_src, pool_first);
  EXPECT_EQ(renew.m.ciaddr, pool_first);
  EXPECT_FALSE(renew.m.broadcast_flag());
  EXPECT_FALSE(renew.m.has_option(DHCP_OPT_SERVER_ID)) << "RFC 2131 table 5";
  EXPECT_FALSE(renew.m.has_option(DHCP_OPT_REQUESTED_IP));
  EXPECT_NE(renew.m.xid, t.sent[0].m.xid);

  EXPECT_GE(dhcp.lease_start_ms(), t0 + 60'000);
  EXPECT_EQ(dhcp.t1_deadline_ms() - dhcp.lease_start_ms(), 60'000u);
  EXPECT_EQ(t.chip_ip(), pool_first);
  EXPECT_EQ(t.server->stats().out[DHCPACK], 2u);
  EXPECT_TRUE(t.all_sockets_closed());
}

TEST(DhcpClient, RebindsByBroadcastAtT2WhenItsServerIsSilentWhileRenewing) {
  dhcp_lan t(base_config(120));
  DHCP dhcp(t.eth, chip_mac);
  ASSERT_TRUE(dhcp.request_dhcp_lease().ok());
  const std::uint64_t t0 = dhcp.lease_start_ms();
  const std::size_t acquired = t.sent.size();
  t.server->set_behaviour(dhcp_behaviour::silent);

  t.maintain_until(dhcp, t0 + 61'000);
  EXPECT_EQ(dhcp.state(), DHCP::STATE_RENEWING);
  ASSERT_EQ(t.sent.size(), acquired + 1);
  EXPECT_EQ(t.sent.back().ip_dst, server_ip);
  EXPECT_NE(dhcp.socket_number(), -1) << "a pending non-blocking exchange keeps its socket";

  // RFC 2131 §4.4.5: the next try waits half the time to T2, at least 60 s, so none before T2.
  t.maintain_until(dhcp, t0 + 100'000);
  EXPECT_EQ(dhcp.state(), DHCP::STATE_RENEWING);
  EXPECT_EQ(t.sent.size(), acquired + 1);
  t.server->set_behaviour(dhcp_behaviour::normal);

  t.maintain_until(dhcp, t0 + 107'000);
  EXPECT_EQ(dhcp.state(), DHCP::STATE_BOUND);
  ASSERT_EQ(t.sent.size(), acquired + 2);
  const sent_msg& rebind = t.sent.back();
  expect_identity(rebind, dhcp);
  EXPECT_EQ(rebind.m.message_type(), DHCPREQUEST);
  EXPECT_GE(secs(rebind.t), 105.0 + static_cast<double>(t0) / 1000.0);
  EXPECT_LE(secs(rebind.t), 105.5 + static_cast<double>(t0) / 1000.0);
  EXPECT_EQ(rebind.eth_dst, broadcast_mac);
  EXPECT_EQ(rebind.ip_dst, bcast_all);
  EXPECT_EQ(rebind.m.ciaddr, pool_first);
  EXPECT_FALSE(rebind.m.has_option(DHCP_OPT_SERVER_ID));
  EXPECT_FALSE(rebind.m.has_option(DHCP_OPT_REQUESTED_IP));

  EXPECT_GE(dhcp.lease_start_ms(), t0 + 105'000);
  EXPECT_EQ(dhcp.expiry_ms() - dhcp.lease_start_ms(), 120'000u);
  EXPECT_EQ(t.chip_ip(), pool_first);
  EXPECT_EQ(dhcp.socket_number(), -1);
  EXPECT_TRUE(t.all_sockets_closed());
}

TEST(DhcpClient, AfterTheLeaseExpiresItDropsTheAddressAndAcquiresANewLeaseOneStepPerCall) {
  dhcp_lan t(base_config(120));
  DHCP dhcp(t.eth, chip_mac);
  ASSERT_TRUE(dhcp.request_dhcp_lease().ok());
  const std::uint64_t t0 = dhcp.lease_start_ms();
  t.server->set_behaviour(dhcp_behaviour::silent);

  t.maintain_until(dhcp, t0 + 119'000);
  EXPECT_EQ(dhcp.state(), DHCP::STATE_REBINDING);
  EXPECT_EQ(t.chip_ip(), pool_first) << "the address is ours until the lease expires";

  t.maintain_until(dhcp, t0 + 120'500);
  EXPECT_EQ(dhcp.state(), DHCP::STATE_SELECTING);
  EXPECT_EQ(t.chip_ip(), 0u);
  EXPECT_EQ(from_w(dhcp.local_ip), 0u);
  ASSERT_EQ(t.sent.back().m.message_type(), DHCPDISCOVER);
  EXPECT_EQ(t.sent.back().ip_src, 0u);
  EXPECT_TRUE(t.sent.back().m.broadcast_flag());

  t.server->set_behaviour(dhcp_behaviour::normal);
  // The DISCOVER at expiry went unanswered; the retransmission (4 +- 1 s later) gets the lease, one step
  // per call: OFFER -> REQUEST, then ACK -> BOUND.
  std::vector<wiznet5k::error> errors;
  while (dhcp.state() != DHCP::STATE_BOUND && t.board.millis() < t0 + 140'000)
    t.maintain_until(dhcp, t.board.millis() + 1, 50, &errors);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(dhcp.state(), DHCP::STATE_BOUND);
  EXPECT_EQ(t.chip_ip(), pool_first);
  EXPECT_GE(dhcp.lease_start_ms(), t0 + 123'000);
  EXPECT_EQ(t.server->lease_of(chip_mac_w)->state, dhcp_lease_state::bound);
  EXPECT_TRUE(t.all_sockets_closed());
}

TEST(DhcpClient, ANakWhileRenewingDropsTheAddressAndTheClientStartsOver) {
  dhcp_lan t(base_config(120));
  DHCP dhcp(t.eth, chip_mac);
  ASSERT_TRUE(dhcp.request_dhcp_lease().ok());
  const std::uint64_t t0 = dhcp.lease_start_ms();
  t.server->set_behaviour(dhcp_behaviour::nak);
  std::vector<wiznet5k::error> errors;
  t.maintain_until(dhcp, t0 + 61'000, 250, &errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code, errc::connection_error);
  EXPECT_EQ(dhcp.state(), DHCP::STATE_INIT);
  EXPECT_EQ(t.chip_ip(), 0u);
  EXPECT_TRUE(t.all_sockets_closed());

  t.server->set_behaviour(dhcp_behaviour::normal);
  errors.clear();
  t.maintain_until(dhcp, t0 + 70'000, 250, &errors);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(dhcp.state(), DHCP::STATE_BOUND);
  EXPECT_EQ(t.chip_ip(), pool_first);
}

TEST(DhcpClient, LongAndInfiniteLeasesNeitherOverflowNorRenew) {
  for (const std::uint32_t lease : {7'776'000u /* 90 days */, 0xFFFFFFFEu}) {
    dhcp_lan t(base_config(lease));
    DHCP dhcp(t.eth, chip_mac);
    ASSERT_TRUE(dhcp.request_dhcp_lease().ok());
    EXPECT_EQ(dhcp.lease_time(), lease);
    EXPECT_EQ(dhcp.expiry_ms() - dhcp.lease_start_ms(), std::uint64_t{lease} * 1000u);
    EXPECT_EQ(dhcp.t1_deadline_ms() - dhcp.lease_start_ms(), std::uint64_t{lease / 2} * 1000u);
    EXPECT_EQ(dhcp.t2_deadline_ms() - dhcp.lease_start_ms(),
              std::uint64_t{static_cast<std::uint32_t>(std::uint64_t{lease} * 7 / 8)} * 1000u);
    const std::size_t sent = t.sent.size();
    t.board.sleep_ms(3'600'000);
    EXPECT_TRUE(dhcp.maintain_dhcp_lease().ok());
    EXPECT_EQ(dhcp.state(), DHCP::STATE_BOUND);
    EXPECT_EQ(t.sent.size(), sent) << "seed #169: no renewal an hour into a long lease";
  }
  dhcp_lan t(base_config(dhcp_infinite_lease));
  DHCP dhcp(t.eth, chip_mac);
  ASSERT_TRUE(dhcp.request_dhcp_lease().ok());
  EXPECT_EQ(dhcp.lease_time(), DHCP::infinite_lease);
  EXPECT_EQ(dhcp.t1_deadline_ms(), DHCP::never);
  EXPECT_EQ(dhcp.t2_deadline_ms(), DHCP::never);
  EXPECT_EQ(dhcp.expiry_ms(), DHCP::never);
  const std::size_t sent = t.sent.size();
  t.board.sleep_ms(3'600'000);
  EXPECT_TRUE(dhcp.maintain_dhcp_lease(true).ok());
  EXPECT_EQ(dhcp.state(), DHCP::STATE_BOUND);
  EXPECT_EQ(t.sent.size(), sent);
}

TEST(DhcpClient, BlockingMaintenanceRenewsWhenDueAndReturnsBound) {
  dhcp_lan t(base_config(120));
  DHCP dhcp(t.eth, chip_mac);
  ASSERT_TRUE(dhcp.request_dhcp_lease().ok());
  const std::uint64_t t0 = dhcp.lease_start_ms();
  const ps_t before = t.sched.now();
  EXPECT_TRUE(dhcp.maintain_dhcp_lease(true).ok());
  EXPECT_LT(t.sched.now() - before, ms(1)) << "nothing due: returns at once";
  t.board.sleep_ms(static_cast<std::uint32_t>(t0 + 61'000 - t.board.millis()));
  EXPECT_TRUE(dhcp.maintain_dhcp_lease(true).ok());
  EXPECT_EQ(dhcp.state(), DHCP::STATE_BOUND);
  EXPECT_GE(dhcp.lease_start_ms(), t0 + 61'000);
  EXPECT_TRUE(t.all_sockets_closed());
}

TEST(DhcpClient, LeavesNoSocketBehindAndUsesAFreeOneWhenSocketZeroIsBusy) {
  dhcp_lan t;
  // An application UDP socket on socket 0: the client takes another and gives it back.
  ASSERT_TRUE(t.eth.socket_open(0, wiznet5k::SNMR_UDP).ok());
  DHCP dhcp(t.eth, chip_mac);
  ASSERT_TRUE(dhcp.request_dhcp_lease().ok());
  for (int sn = 1; sn < 8; ++sn) EXPECT_EQ(t.eth.socket_status(sn).value, wiznet5k::SNSR_SOCK_CLOSED) << sn;
  EXPECT_EQ(t.eth.socket_status(0).value, wiznet5k::SNSR_SOCK_UDP);
  ASSERT_TRUE(t.eth.socket_close(0).ok());
  EXPECT_TRUE(t.all_sockets_closed());
  // The destructor releases a socket a non-blocking exchange still holds.
  {
    DHCP pending(t.eth, chip_mac);
    ASSERT_TRUE(pending.maintain_dhcp_lease().ok());
    EXPECT_EQ(pending.state(), DHCP::STATE_SELECTING);
    EXPECT_FALSE(t.all_sockets_closed());
  }
  EXPECT_TRUE(t.all_sockets_closed());
}
