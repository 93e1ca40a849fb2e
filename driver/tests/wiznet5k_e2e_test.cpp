// The WIZNET5K core end to end in virtual time: the driver on the W5500 model (wizsim::model_hal) on a
// segment with harness peers (TCP echo, sink, UDP echo, DHCP and DNS servers, bare hosts). Every public
// member is exercised against the chip, and each test asserts the effect where it really shows: chip
// registers read on the harness side (w5500::read, no SPI traffic), frames captured off the segment, and
// bytes at the peers. Failure paths (refused, timed out, reset, link down, exhaustion, bad arguments)
// come with the error kind the reference names and the state the chip is left in.
#include <gtest/gtest.h>

#include <algorithm>
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
#include "wizsim/harness/dns.hpp"
#include "wizsim/harness/model_hal.hpp"
#include "wizsim/harness/peer.hpp"
#include "wizsim/harness/segment.hpp"
#include "wizsim/harness/services.hpp"
#include "wizsim/w5500.hpp"

using namespace wizsim;
using wiznet5k::errc;
using wiznet5k::WIZNET5K;
using wizsim::test::from_w;
using wizsim::test::secs;
using wizsim::test::to_w;

namespace {

constexpr ip4_addr chip_ip = ip4(10, 0, 0, 50), peer_ip = ip4(10, 0, 0, 2), mask24 = ip4(255, 255, 255, 0);
const mac_addr chip_mac_w{0x02, 0x08, 0xDC, 0x00, 0x00, 0x50};

// W5500 addresses as the datasheet gives them (deliberately not the driver's table), read on the chip
// side without SPI traffic.
constexpr std::uint16_t A_GAR = 0x0001, A_SUBR = 0x0005, A_SHAR = 0x0009, A_SIPR = 0x000F, A_RTR = 0x0019,
                        A_RCR = 0x001B;
constexpr std::uint16_t S_MR = 0x0000, S_CR = 0x0001, S_IR = 0x0002, S_PORT = 0x0004, S_DIPR = 0x000C,
                        S_DPORT = 0x0010, S_RX_RSR = 0x0026;
constexpr std::uint8_t bsb_socket(int n) {
  return static_cast<std::uint8_t>(1 + 4 * n);
}

std::uint8_t reg8(const w5500& c, std::uint16_t a, int sn = -1) {
  return c.read(sn < 0 ? std::uint8_t{0} : bsb_socket(sn), a);
}
std::uint16_t reg16(const w5500& c, std::uint16_t a, int sn = -1) {
  return static_cast<std::uint16_t>(reg8(c, a, sn) << 8 | reg8(c, static_cast<std::uint16_t>(a + 1), sn));
}
ip4_addr reg_ip(const w5500& c, std::uint16_t a, int sn = -1) {
  ip4_addr v = 0;
  for (std::uint16_t i = 0; i < 4; ++i) v = v << 8 | reg8(c, static_cast<std::uint16_t>(a + i), sn);
  return v;
}
mac_addr reg_mac(const w5500& c) {
  mac_addr m{};
  for (std::uint16_t i = 0; i < 6; ++i) m[i] = reg8(c, static_cast<std::uint16_t>(A_SHAR + i));
  return m;
}

octets to_octets(const char* s) {
  return octets(s, s + std::strlen(s));
}

// ---- what crossed the segment -----------------------------------------------------------------------------

struct seen_frame {
  ps_t t;
  segment::port_id from;
  octets f;
};

struct seen_tcp {
  ps_t t;
  segment::port_id from;
  mac_addr eth_dst;
  ip4_addr src, dst;
  tcp_fields h;
  std::size_t len;
};

struct seen_arp {
  ps_t t;
  segment::port_id from;
  mac_addr eth_src;
  arp_view a;
};

struct seen_udp {
  ps_t t;
  segment::port_id from;
  ip4_addr src, dst;
  std::uint16_t sport, dport;
  octets payload;
};

// Every frame the switch receives, kept in a shared vector so the observer never outlives its storage.
struct wire_log {
  std::shared_ptr<std::vector<seen_frame>> frames = std::make_shared<std::vector<seen_frame>>();

  void attach(segment& seg) {
    auto store = frames;
    seg.observe([store](segment::port_id from, const octets& f, ps_t t) { store->push_back({t, from, f}); });
  }
  std::size_t mark() const { return frames->size(); }

  // Calls f(frame, eth, ip) for each captured IPv4 packet of protocol `proto` (from port `from`, -1: any).
  template <typename F>
  void each_ipv4(std::uint8_t proto, segment::port_id from, std::size_t since, F f) const {
    for (std::size_t i = since; i < frames->size(); ++i) {
      const seen_frame& s = (*frames)[i];
      if (from >= 0 && s.from != from) continue;
      const auto e = parse_eth(s.f.data(), s.f.size());
      if (!e || e->ethertype != ethertype_ipv4) continue;
      const auto ip = parse_ipv4(e->payload, e->payload_len);
      if (ip && ip->h.proto == proto) f(s, *e, *ip);
    }
  }
  std::vector<seen_tcp> tcp(segment::port_id from = -1, std::size_t since = 0) const {
    std::vector<seen_tcp> out;
    each_ipv4(ip_proto_tcp, from, since, [&](const seen_frame& s, const eth_view& e, const ipv4_view& ip) {
      const auto t = parse_tcp(ip.payload, ip.payload_len, ip.h.src, ip.h.dst);
      if (t) out.push_back({s.t, s.from, e.dst, ip.h.src, ip.h.dst, t->h, t->payload_len});
    });
    return out;
  }
  std::vector<seen_arp> arp(segment::port_id from = -1, std::size_t since = 0) const {
    std::vector<seen_arp> out;
    for (std::size_t i = since; i < frames->size(); ++i) {
      const seen_frame& s = (*frames)[i];
      if (from >= 0 && s.from != from) continue;
      const auto e = parse_eth(s.f.data(), s.f.size());
      if (!e || e->ethertype != ethertype_arp) continue;
      const auto a = parse_arp(e->payload, e->payload_len);
      if (a) out.push_back({s.t, s.from, e->src, *a});
    }
    return out;
  }
  std::vector<seen_udp> udp(segment::port_id from = -1, std::size_t since = 0) const {
    std::vector<seen_udp> out;
    each_ipv4(ip_proto_udp, from, since, [&](const seen_frame& s, const eth_view&, const ipv4_view& ip) {
      const auto u = parse_udp(ip.payload, ip.payload_len, ip.h.src, ip.h.dst);
      if (u)
        out.push_back({s.t, s.from, ip.h.src, ip.h.dst, u->src_port, u->dst_port,
                       octets(u->payload, u->payload + u->payload_len)});
    });
    return out;
  }
};

std::size_t count_flags(const std::vector<seen_tcp>& segs, std::uint8_t flags) {
  return static_cast<std::size_t>(std::count_if(
      segs.begin(), segs.end(), [&](const seen_tcp& s) { return (s.h.flags & flags) == flags; }));
}

// ---- fixtures ---------------------------------------------------------------------------------------------

// The driver begun statically at 10.0.0.50/24 (driver_lan) with a peer host at 10.0.0.2 and the wire log.
struct chip_lan : test::driver_lan {
  wire_log wire;
  peer_host peer;

  explicit chip_lan(std::uint64_t seed = 11, peer_config pc = test::peer_cfg("peer", peer_ip, 2))
      : driver_lan(seed), peer(seg, std::move(pc)) {
    wire.attach(seg);
  }

  // Steps virtual time in 1 ms sleeps on the board until pred() holds or timeout_ms passed.
  template <typename Pred>
  bool wait_for(Pred pred, std::uint32_t timeout_ms) {
    const std::uint64_t end = board.millis() + timeout_ms;
    while (!pred()) {
      if (board.millis() >= end) return false;
      board.sleep_ms(1);
    }
    return true;
  }

  // Reads from socket sn until `want` bytes arrived, an error, or timeout_ms.
  octets read_n(int sn, std::size_t want, std::uint32_t timeout_ms = 2000) {
    octets got;
    const std::uint64_t end = board.millis() + timeout_ms;
    while (got.size() < want && board.millis() < end) {
      std::uint8_t buf[2048];
      const std::size_t room = std::min(sizeof buf, want - got.size());
      const auto r = eth.socket_read(sn, buf, room);
      if (!r.ok()) break;
      if (r.value == 0) {
        board.sleep_ms(1);
        continue;
      }
      got.insert(got.end(), buf, buf + r.value);
    }
    return got;
  }

  // Writes everything (socket_write sends at most 2 KB per call).
  bool write_all(int sn, const octets& data) {
    std::size_t off = 0;
    while (off < data.size()) {
      const auto r = eth.socket_write(sn, data.data() + off, data.size() - off);
      if (!r.ok()) {
        ADD_FAILURE() << r.err.message;
        return false;
      }
      off += r.value;
    }
    return true;
  }

  // One ping from the peer to `target`; true when it was answered.
  bool ping_from(peer_host& h, ip4_addr target, std::uint16_t seq = 1) {
    auto result = std::make_shared<std::optional<bool>>();  // outlives this call if the answer is late
    h.ping(target, seq, 32, ms(500), [result](std::optional<ps_t> rtt) { *result = rtt.has_value(); });
    wait_for([&] { return result->has_value(); }, 1000);
    return result->value_or(false);
  }
};

// A chip and the driver on a segment, not begun (begin() itself is under test).
struct bare_lan {
  scheduler sched;
  segment seg;
  w5500 chip;
  model_hal board;
  WIZNET5K eth;
  segment::port_id chip_port = -1;
  wire_log wire;

  explicit bare_lan(std::uint64_t seed = 13, bool wire_reset = true)
      : sched(seed), seg(sched, "lan", seed), chip(sched), board(chip, seed, wire_reset), eth(board) {
    chip_port = seg.attach(chip, "chip");
    wire.attach(seg);
  }
};

// Samples the RSTn pin every 1 ms of virtual time from now until `until` (scheduler events, so it runs
// while the driver sleeps).
struct rstn_sampler {
  struct state {
    scheduler* sched;
    w5500* chip;
    ps_t until;
    ps_t low = 0;
  };
  std::shared_ptr<state> s;
  rstn_sampler(scheduler& sched, w5500& chip, ps_t until)
      : s(std::make_shared<state>(state{&sched, &chip, until})) {
    tick(s);
  }
  static void tick(const std::shared_ptr<state>& st) {
    st->sched->after(ms(1), [st] {
      if (!st->chip->rstn()) st->low += ms(1);
      if (st->sched->now() < st->until) tick(st);
    });
  }
  ps_t low_time() const { return s->low; }
};

// A DHCP server handing out 10.0.0.100-120 with the given router, DNS server (none when 0) and lease.
dhcp_server_config pool_config(ip4_addr router = 0, ip4_addr dns = 0, std::uint32_t lease_s = 3600) {
  dhcp_server_config cfg;
  cfg.pool_first = ip4(10, 0, 0, 100);
  cfg.pool_last = ip4(10, 0, 0, 120);
  cfg.router = router;
  if (dns != 0) cfg.dns = {dns};
  cfg.lease_time = lease_s;
  return cfg;
}

}  // namespace

// =====================================================================================================
// begin(), chip(), max_sockets()
// =====================================================================================================

TEST(Wiznet5kOnChipBegin, StaticBeginWithAResetPinPulsesRstnAndConfiguresTheChip) {
  bare_lan t(13, /*wire_reset=*/true);
  EXPECT_STREQ(t.eth.chip(), "") << "nothing detected before begin()";
  rstn_sampler rst(t.sched, t.chip, t.sched.now() + seconds(7));
  const ps_t start = t.sched.now();
  const wiznet5k::mac6 mac{0x02, 0x08, 0xDC, 0x11, 0x22, 0x33};
  const auto e = t.eth.begin(false, mac);
  ASSERT_TRUE(e.ok()) << e.message;
  const ps_t took = t.sched.now() - start;

  // RSTn was low for the seed's 100 ms, then 5 s + 1 s of waits before detection.
  EXPECT_GE(rst.low_time(), ms(99));
  EXPECT_LE(rst.low_time(), ms(101));
  EXPECT_TRUE(t.chip.rstn());
  // Then MR.RST in the probe restarts the PHY: begin() waits for the link (1.5 s of auto-negotiation on
  // the model, seen in 500 ms polls).
  EXPECT_GE(took, ms(6100));
  EXPECT_LT(took, ms(8200));

  EXPECT_STREQ(t.eth.chip(), "w5500");
  EXPECT_EQ(t.eth.max_sockets(), 8);
  EXPECT_EQ(reg_mac(t.chip), (mac_addr{0x02, 0x08, 0xDC, 0x11, 0x22, 0x33}));
  for (int n = 0; n < 8; ++n) {
    EXPECT_EQ(t.chip.tx_buffer_size(n), 2048u);
    EXPECT_EQ(t.chip.rx_buffer_size(n), 2048u);
    EXPECT_EQ(t.chip.socket_status(n), SOCK_CLOSED);
  }
  EXPECT_TRUE(*t.eth.link_status());
}

TEST(Wiznet5kOnChipBegin, StaticBeginWithoutAResetPinNeverTouchesRstnAndWaitsForTheLink) {
  bare_lan t(13, /*wire_reset=*/false);
  rstn_sampler rst(t.sched, t.chip, t.sched.now() + seconds(4));
  const ps_t start = t.sched.now();
  const auto e = t.eth.begin(false, "02:08:DC:AA:BB:CC");
  ASSERT_TRUE(e.ok()) << e.message;
  const ps_t took = t.sched.now() - start;
  EXPECT_EQ(rst.low_time(), 0u);
  // 1 s settle, two 50 ms probe waits, then MR.RST restarted the PHY: begin() waits for the link
  // (auto-negotiation, 1.5 s on the model) in 500 ms polls rather than returning with it down.
  EXPECT_GE(took, ms(1100));
  EXPECT_LT(took, ms(3200));
  EXPECT_TRUE(*t.eth.link_status());
  EXPECT_TRUE(t.chip.link_up());
  EXPECT_STREQ(t.eth.chip(), "w5500");
  EXPECT_EQ(reg_mac(t.chip), (mac_addr{0x02, 0x08, 0xDC, 0xAA, 0xBB, 0xCC}));

  // Usable at once: a peer can talk to it after an ifconfig.
  peer_host peer(t.seg, test::peer_cfg("peer", peer_ip, 2));
  ASSERT_TRUE(t.eth.set_ifconfig({to_w(chip_ip), to_w(mask24), to_w(0), to_w(0)}).ok());
  bool answered = false;
  peer.ping(chip_ip, 1, 8, ms(500), [&](std::optional<ps_t> rtt) { answered = rtt.has_value(); });
  t.board.sleep_ms(600);
  EXPECT_TRUE(answered);
}

TEST(Wiznet5kOnChipBegin, AMalformedMacStringIsAValueErrorBeforeAnyBusTraffic) {
  bare_lan t;
  const auto frames = t.board.stats().frames;
  for (const char* bad :
       {"DE:AD:BE:EF:FE", "DE:AD:BE:EF:FE:ED:00", "DE-AD-BE-EF-FE-ED", "xx:AD:BE:EF:FE:ED", ""}) {
    const auto e = t.eth.begin(false, bad);
    EXPECT_EQ(e.code, errc::value_error) << bad;
  }
  EXPECT_EQ(t.eth.begin(false, static_cast<const char*>(nullptr)).code, errc::value_error);
  EXPECT_EQ(t.board.stats().frames, frames);
  EXPECT_STREQ(t.eth.chip(), "");
}

TEST(Wiznet5kOnChipBegin, WithTheLinkDownBeginSucceedsAfterFiveSecondsButLinkStatusIsFalse) {
  bare_lan t(13, /*wire_reset=*/false);
  t.seg.set_link_up(t.chip_port, false);
  const ps_t start = t.sched.now();
  const auto e = t.eth.begin(false);
  ASSERT_TRUE(e.ok()) << e.message;
  const ps_t took = t.sched.now() - start;
  EXPECT_GE(took, ms(1100 + 5000)) << "waited the full 5 s for the link";
  EXPECT_LT(took, ms(1100 + 5600));
  EXPECT_FALSE(*t.eth.link_status());
  EXPECT_STREQ(t.eth.chip(), "w5500");
  ASSERT_TRUE(t.eth.set_ifconfig({to_w(chip_ip), to_w(mask24), to_w(0), to_w(0)}).ok());
  const auto open = t.eth.socket_open(1, wiznet5k::SNMR_UDP);
  EXPECT_EQ(open.code, errc::connection_error);
  EXPECT_EQ(t.chip.socket_status(1), SOCK_CLOSED) << "nothing opened with the link down";

  // Plugged in later, the interface becomes usable once the PHY has negotiated.
  t.seg.set_link_up(t.chip_port, true);
  t.board.sleep_ms(2000);
  EXPECT_TRUE(*t.eth.link_status());
  EXPECT_TRUE(t.eth.socket_open(1, wiznet5k::SNMR_UDP).ok());
  EXPECT_EQ(t.chip.socket_status(1), SOCK_UDP);
}

TEST(Wiznet5kOnChipBegin, WithDhcpAndTheLinkNeverUpBeginFailsWithAConnectionErrorAndLeaksNothing) {
  bare_lan t(13, /*wire_reset=*/false);
  t.seg.set_link_up(t.chip_port, false);
  const ps_t start = t.sched.now();
  const auto e = t.eth.begin(true);
  EXPECT_EQ(e.code, errc::connection_error) << e.message;
  // DHCP keeps trying for its minute (the cable may yet be plugged in), then reports the dead link.
  EXPECT_GE(secs(t.sched.now() - start), 55.0);
  EXPECT_LE(secs(t.sched.now() - start), 75.0);
  EXPECT_TRUE(t.wire.frames->empty()) << "nothing left the chip";
  EXPECT_TRUE(test::all_sockets_closed(t.eth));
  EXPECT_EQ(*t.eth.get_socket(true), 1);
}

TEST(Wiznet5kOnChipBegin, WithDhcpAndALinkThatComesUpLateTheLeaseIsStillObtained) {
  bare_lan t(13, /*wire_reset=*/false);
  peer_host server_host(t.seg, test::peer_cfg("dhcpd", ip4(10, 0, 0, 1), 1));
  dhcp_server server(server_host, pool_config());
  t.seg.set_link_up(t.chip_port, false);
  t.seg.schedule_link(t.chip_port, t.sched.now() + seconds(10), true);
  const auto e = t.eth.begin(true);
  ASSERT_TRUE(e.ok()) << e.message;
  EXPECT_GE(secs(t.sched.now()), 10.0);
  const auto default_lease = server.lease_of(mac_addr{0xDE, 0xAD, 0xBE, 0xEF, 0xFE, 0xED});
  ASSERT_TRUE(default_lease.has_value());
  EXPECT_EQ(reg_ip(t.chip, A_SIPR), default_lease->ip);
  EXPECT_TRUE(test::all_sockets_closed(t.eth));
}

TEST(Wiznet5kOnChipBegin, WithDhcpTheLeaseFromTheServerIsAppliedToTheChip) {
  bare_lan t(17);
  peer_host server_host(t.seg, test::peer_cfg("dhcpd", ip4(10, 0, 0, 1), 1));
  dhcp_server server(server_host, pool_config(ip4(10, 0, 0, 254), ip4(10, 0, 0, 53), 600));
  const wiznet5k::mac6 mac{0x02, 0x08, 0xDC, 0x00, 0x00, 0x77};
  const auto e = t.eth.begin(true, mac, "probe-{}");
  ASSERT_TRUE(e.ok()) << e.message;

  const auto lease = server.lease_of(mac_addr{0x02, 0x08, 0xDC, 0x00, 0x00, 0x77});
  ASSERT_TRUE(lease.has_value());
  EXPECT_EQ(lease->state, dhcp_lease_state::bound);
  EXPECT_EQ(lease->hostname, "probe-0208DC000077");
  EXPECT_EQ(reg_ip(t.chip, A_SIPR), lease->ip);
  EXPECT_EQ(reg_ip(t.chip, A_SUBR), mask24);
  EXPECT_EQ(reg_ip(t.chip, A_GAR), ip4(10, 0, 0, 254));
  const auto cfg_now = t.eth.ifconfig();
  ASSERT_TRUE(cfg_now.ok());
  EXPECT_EQ(from_w(cfg_now->ip), lease->ip);
  EXPECT_EQ(from_w(cfg_now->dns), ip4(10, 0, 0, 53));
  EXPECT_EQ(from_w(*t.eth.ip_address()), lease->ip);
  EXPECT_TRUE(test::all_sockets_closed(t.eth)) << "the DHCP exchange closed its socket";

  // The address works: the server host can ping it.
  bool answered = false;
  server_host.ping(lease->ip, 1, 8, ms(500), [&](std::optional<ps_t> rtt) { answered = rtt.has_value(); });
  t.board.sleep_ms(600);
  EXPECT_TRUE(answered);
}

TEST(Wiznet5kOnChipBegin, WithDhcpAndNoServerBeginTimesOutAfterAboutAMinuteWithoutLeakingASocket) {
  bare_lan t(19, /*wire_reset=*/false);
  const ps_t start = t.sched.now();
  const auto e = t.eth.begin(true);
  const double took = secs(t.sched.now() - start);
  EXPECT_EQ(e.code, errc::timeout_error) << e.message;
  EXPECT_GE(took, 55.0);
  EXPECT_LE(took, 70.0);
  EXPECT_TRUE(test::all_sockets_closed(t.eth));
  // Nothing stayed reserved either: all of 1..7 can still be reserved.
  for (int sn = 1; sn < 8; ++sn) EXPECT_EQ(*t.eth.get_socket(true), sn);
  // It really tried: DISCOVERs on the wire, from port 68 to 255.255.255.255:67.
  std::size_t discovers = 0;
  for (const auto& u : t.wire.udp(t.chip_port))
    if (u.sport == 68 && u.dport == 67 && u.dst == 0xFFFFFFFFu) ++discovers;
  EXPECT_GE(discovers, 4u);
  EXPECT_LE(discovers, 5u);
}

// =====================================================================================================
// Interface configuration: MAC, IP, ifconfig, link, RTR/RCR, address helpers, DNS
// =====================================================================================================

TEST(Wiznet5kOnChipConfig, SetMacAddressBytesChangesSharAndTheChipAnswersArpWithIt) {
  chip_lan t;
  const wiznet5k::mac6 mac{0x02, 0x12, 0x34, 0x56, 0x78, 0x9A};
  ASSERT_TRUE(t.eth.set_mac_address(mac).ok());
  EXPECT_EQ(reg_mac(t.chip), (mac_addr{0x02, 0x12, 0x34, 0x56, 0x78, 0x9A}));
  const auto back = t.eth.mac_address();
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, mac);
  const std::size_t mark = t.wire.mark();
  EXPECT_TRUE(t.ping_from(t.peer, chip_ip));
  const auto learnt = t.peer.arp_lookup(chip_ip);
  ASSERT_TRUE(learnt.has_value());
  EXPECT_EQ(*learnt, (mac_addr{0x02, 0x12, 0x34, 0x56, 0x78, 0x9A}));
  bool replied = false;
  for (const auto& a : t.wire.arp(t.chip_port, mark)) {
    if (a.a.op != arp_reply) continue;
    replied = true;
    EXPECT_EQ(a.a.sha, (mac_addr{0x02, 0x12, 0x34, 0x56, 0x78, 0x9A}));
    EXPECT_EQ(a.eth_src, (mac_addr{0x02, 0x12, 0x34, 0x56, 0x78, 0x9A}));
    EXPECT_EQ(a.a.spa, chip_ip);
  }
  EXPECT_TRUE(replied);
}

TEST(Wiznet5kOnChipConfig, SetMacAddressFromTextAndMalformedTextLeavesSharAlone) {
  chip_lan t;
  ASSERT_TRUE(t.eth.set_mac_address("02:aB:cd:0:1:Fe").ok());
  EXPECT_EQ(reg_mac(t.chip), (mac_addr{0x02, 0xAB, 0xCD, 0x00, 0x01, 0xFE}));
  char text[18];
  WIZNET5K::pretty_mac(*t.eth.mac_address(), text);
  EXPECT_STREQ(text, "02:ab:cd:00:01:fe");
  const auto frames = t.board.stats().frames;
  for (const char* bad : {"02:ab:cd:00:01", "02:ab:cd:00:01:fe:", "02:ab:cd:00:01:fff", "g2:ab:cd:00:01:fe"})
    EXPECT_EQ(t.eth.set_mac_address(bad).code, errc::value_error) << bad;
  EXPECT_EQ(t.eth.set_mac_address(static_cast<const char*>(nullptr)).code, errc::value_error);
  EXPECT_EQ(t.board.stats().frames, frames) << "no bus traffic for a malformed MAC";
  EXPECT_EQ(reg_mac(t.chip), (mac_addr{0x02, 0xAB, 0xCD, 0x00, 0x01, 0xFE}));
  // The new MAC is the one the chip uses: a peer learns it from the chip's ARP reply.
  EXPECT_TRUE(t.ping_from(t.peer, chip_ip));
  EXPECT_EQ(*t.peer.arp_lookup(chip_ip), (mac_addr{0x02, 0xAB, 0xCD, 0x00, 0x01, 0xFE}));
}

TEST(Wiznet5kOnChipConfig, SetIfconfigProgramsTheChipAndAPeerOnTheNewSubnetCanPingIt) {
  chip_lan t(11, test::peer_cfg("peer", ip4(192, 168, 7, 1), 2));
  const WIZNET5K::ifconfig_t c{{192, 168, 7, 20}, {255, 255, 255, 0}, {192, 168, 7, 1}, {192, 168, 7, 53}};
  ASSERT_TRUE(t.eth.set_ifconfig(c).ok());
  EXPECT_EQ(reg_ip(t.chip, A_SIPR), ip4(192, 168, 7, 20));
  EXPECT_EQ(reg_ip(t.chip, A_SUBR), ip4(255, 255, 255, 0));
  EXPECT_EQ(reg_ip(t.chip, A_GAR), ip4(192, 168, 7, 1));
  const auto got = t.eth.ifconfig();
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->ip, c.ip);
  EXPECT_EQ(got->subnet, c.subnet);
  EXPECT_EQ(got->gateway, c.gateway);
  EXPECT_EQ(got->dns, c.dns);
  EXPECT_EQ(*t.eth.ip_address(), c.ip);
  char text[16];
  WIZNET5K::pretty_ip(*t.eth.ip_address(), text);
  EXPECT_STREQ(text, "192.168.7.20");
  EXPECT_TRUE(t.ping_from(t.peer, ip4(192, 168, 7, 20)));
  peer_host old_subnet(t.seg, test::peer_cfg("old", ip4(10, 0, 0, 3), 3));
  EXPECT_FALSE(t.ping_from(old_subnet, chip_ip, 2)) << "the old address is gone";
}

TEST(Wiznet5kOnChipConfig, AnOffSubnetConnectGoesThroughTheGatewayMac) {
  chip_lan t;
  // The "router" 10.0.0.1 is a host on the far subnet that answers ARP for the gateway address; it sees
  // everything as on-link (netmask 0), so it answers the chip directly.
  peer_config far_cfg = test::peer_cfg("far", ip4(192, 168, 5, 5), 0x77);
  far_cfg.netmask = 0;
  peer_host far(t.seg, far_cfg);
  const mac_addr far_mac = far_cfg.mac;
  far.on_frame = [&far, far_mac](const eth_view& e, const octets&) {
    if (e.ethertype != ethertype_arp) return false;
    const auto a = parse_arp(e.payload, e.payload_len);
    if (!a || a->op != arp_request || a->tpa != ip4(10, 0, 0, 1)) return false;
    far.send_frame(build_eth(a->sha, far_mac, ethertype_arp,
                             build_arp(arp_reply, far_mac, ip4(10, 0, 0, 1), a->sha, a->spa)));
    return true;
  };
  tcp_echo_service echo(far, 7);
  ASSERT_TRUE(t.eth.set_ifconfig({to_w(chip_ip), to_w(mask24), {10, 0, 0, 1}, {0, 0, 0, 0}}).ok());
  const std::size_t mark = t.wire.mark();
  const auto dest = WIZNET5K::unpretty_ip("192.168.5.5");
  ASSERT_TRUE(dest.ok());
  ASSERT_TRUE(t.eth.socket_connect(2, *dest, 7).ok());

  // The chip asked for the gateway, not for the far address, and sent its SYN to the gateway's MAC.
  const auto arps = t.wire.arp(t.chip_port, mark);
  ASSERT_FALSE(arps.empty());
  for (const auto& a : arps) {
    if (a.a.op == arp_request) {
      EXPECT_EQ(a.a.tpa, ip4(10, 0, 0, 1));
    }
  }
  const auto segs = t.wire.tcp(t.chip_port, mark);
  ASSERT_FALSE(segs.empty());
  EXPECT_EQ(segs[0].h.flags, TCP_SYN);
  EXPECT_EQ(segs[0].dst, ip4(192, 168, 5, 5));
  EXPECT_EQ(segs[0].eth_dst, far_mac);
  // And the connection carries data both ways.
  ASSERT_TRUE(t.write_all(2, to_octets("via gateway")));
  EXPECT_EQ(t.read_n(2, 11), to_octets("via gateway"));
}

TEST(Wiznet5kOnChipConfig, LinkStatusFollowsTheSegmentLink) {
  chip_lan t;
  EXPECT_TRUE(*t.eth.link_status());
  t.seg.set_link_up(t.chip_port, false);
  EXPECT_FALSE(*t.eth.link_status());
  t.board.sleep_ms(3000);
  EXPECT_FALSE(*t.eth.link_status()) << "still unplugged";
  t.seg.set_link_up(t.chip_port, true);
  EXPECT_FALSE(*t.eth.link_status()) << "auto-negotiation takes a while";
  EXPECT_TRUE(t.wait_for([&] { return *t.eth.link_status(); }, 3000));
}

TEST(Wiznet5kOnChipConfig, RtrAndRcrReadAndWriteTheChipRegisters) {
  chip_lan t;
  EXPECT_EQ(*t.eth.rtr(), 2000) << "W5500 reset value";
  EXPECT_EQ(*t.eth.rcr(), 8);
  ASSERT_TRUE(t.eth.set_rtr(1234).ok());
  EXPECT_EQ(reg16(t.chip, A_RTR), 1234);
  EXPECT_EQ(*t.eth.rtr(), 1234);
  // Below 256 the seed wrote one byte (into RTR's high byte); here RTR is always both bytes.
  ASSERT_TRUE(t.eth.set_rtr(100).ok());
  EXPECT_EQ(reg16(t.chip, A_RTR), 100);
  ASSERT_TRUE(t.eth.set_rcr(3).ok());
  EXPECT_EQ(reg8(t.chip, A_RCR), 3);
  EXPECT_EQ(*t.eth.rcr(), 3);
}

TEST(Wiznet5kOnChipConfig, AConnectToASilentAddressTimesOutAfterTheArpTimeRtrAndRcrImply) {
  chip_lan t;
  const ip4_addr silent = ip4(10, 0, 0, 99);
  struct setting {
    std::uint16_t rtr;
    std::uint8_t rcr;
  };
  for (const setting s : {setting{2000, 8}, setting{500, 2}, setting{1000, 0}}) {
    ASSERT_TRUE(t.eth.set_rtr(s.rtr).ok());
    ASSERT_TRUE(t.eth.set_rcr(s.rcr).ok());
    const std::size_t mark = t.wire.mark();
    const ps_t start = t.sched.now();
    const auto e = t.eth.socket_connect(3, to_w(silent), 80);
    const ps_t took = t.sched.now() - start;
    EXPECT_EQ(e.code, errc::timeout_error) << e.message;
    // ARP: a request every RTR, RCR + 1 of them, TIMEOUT at (RCR + 1) x RTR.
    const ps_t implied = us(100) * s.rtr * (s.rcr + 1u);
    EXPECT_GE(took, implied) << s.rtr << "/" << int{s.rcr};
    EXPECT_LT(took, implied + ms(10)) << s.rtr << "/" << int{s.rcr};
    const auto arps = t.wire.arp(t.chip_port, mark);
    ASSERT_EQ(arps.size(), s.rcr + 1u);
    for (std::size_t i = 1; i < arps.size(); ++i) EXPECT_EQ(arps[i].t - arps[i - 1].t, us(100) * s.rtr);
    EXPECT_TRUE(t.wire.tcp(t.chip_port, mark).empty()) << "no SYN without an ARP answer";
    EXPECT_EQ(t.chip.socket_status(3), SOCK_CLOSED);
  }
}

TEST(Wiznet5kOnChipConfig, AConnectToAHostThatIgnoresSynsTimesOutAfterTheTcpBackoffRtrAndRcrImply) {
  peer_config quiet = test::peer_cfg("quiet", peer_ip, 2);
  quiet.reset_closed_ports = false;  // SYNs to a closed port vanish
  chip_lan t(11, quiet);
  ASSERT_TRUE(t.eth.set_rtr(1000).ok());  // 100 ms
  ASSERT_TRUE(t.eth.set_rcr(3).ok());
  const std::size_t mark = t.wire.mark();
  const ps_t start = t.sched.now();
  const auto e = t.eth.socket_connect(1, to_w(peer_ip), 4444);
  const ps_t took = t.sched.now() - start;
  EXPECT_EQ(e.code, errc::timeout_error) << e.message;
  EXPECT_STREQ(e.message, "Connection timed out.");
  // 100 + 200 + 400 + 800 ms after the SYN (plus the ARP exchange, well under a millisecond).
  EXPECT_GE(took, ms(1500));
  EXPECT_LT(took, ms(1510));
  const auto segs = t.wire.tcp(t.chip_port, mark);
  EXPECT_EQ(count_flags(segs, TCP_SYN), 4u);
  EXPECT_EQ(t.chip.socket_status(1), SOCK_CLOSED);
  EXPECT_EQ(*t.eth.read_snir(1) & wiznet5k::SNIR_TIMEOUT, 0) << "the driver cleared the flag it reported";
}

TEST(Wiznet5kOnChipConfig, PrettyAndUnprettyHelpersRoundTripTheChipsAddresses) {
  chip_lan t;
  char ip_text[16], mac_text[18];
  WIZNET5K::pretty_ip(*t.eth.ip_address(), ip_text);
  EXPECT_STREQ(ip_text, "10.0.0.50");
  WIZNET5K::pretty_mac(*t.eth.mac_address(), mac_text);
  EXPECT_STREQ(mac_text, "02:08:dc:00:00:50");
  const auto back = WIZNET5K::unpretty_ip(ip_text);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(from_w(*back), chip_ip);
  WIZNET5K::pretty_ip({255, 255, 255, 255}, ip_text);
  EXPECT_STREQ(ip_text, "255.255.255.255");
  for (const char* bad : {"10.0.0", "10.0.0.256", "10.0.0.1.", "a.b.c.d", "10..0.1", " 10.0.0.1", ""})
    EXPECT_EQ(WIZNET5K::unpretty_ip(bad).err.code, errc::value_error) << bad;
  EXPECT_EQ(WIZNET5K::unpretty_ip(nullptr).err.code, errc::value_error);
}

TEST(Wiznet5kOnChipConfig, GetHostByNameAsksTheDnsServerFromIfconfig) {
  chip_lan t;
  peer_host ns_host(t.seg, test::peer_cfg("ns", ip4(10, 0, 0, 53), 53));
  dns_server ns(ns_host);
  ns.add_a("sensor.example.com", ip4(10, 0, 0, 80));
  ASSERT_TRUE(t.eth.set_ifconfig({to_w(chip_ip), to_w(mask24), {0, 0, 0, 0}, {10, 0, 0, 53}}).ok());

  std::size_t mark = t.wire.mark();
  const auto ip = t.eth.get_host_by_name("sensor.example.com");
  ASSERT_TRUE(ip.ok()) << ip.err.message;
  EXPECT_EQ(from_w(*ip), ip4(10, 0, 0, 80));
  std::size_t queries = 0;
  for (const auto& u : t.wire.udp(t.chip_port, mark)) {
    if (u.dport != 53) continue;
    ++queries;
    EXPECT_EQ(u.src, chip_ip);
    EXPECT_EQ(u.dst, ip4(10, 0, 0, 53));
    const auto q = parse_dns(u.payload);
    ASSERT_TRUE(q.has_value());
    ASSERT_EQ(q->questions.size(), 1u);
    EXPECT_EQ(q->questions[0].name, "sensor.example.com");
  }
  EXPECT_EQ(queries, 1u);
  EXPECT_TRUE(t.all_closed());

  // NXDOMAIN is an error, and leaves no socket behind.
  const auto missing = t.eth.get_host_by_name("nowhere.example.com");
  EXPECT_FALSE(missing.ok());
  EXPECT_EQ(missing.err.code, errc::runtime_error);
  EXPECT_EQ(ns.stats().answers[dns_rcode_nxdomain], 1u);
  EXPECT_TRUE(t.all_closed());

  // Dotted decimal needs no query.
  mark = t.wire.mark();
  const auto literal = t.eth.get_host_by_name("10.0.0.9");
  ASSERT_TRUE(literal.ok());
  EXPECT_EQ(from_w(*literal), ip4(10, 0, 0, 9));
  EXPECT_TRUE(t.wire.udp(t.chip_port, mark).empty());
}

// =====================================================================================================
// Socket allocation
// =====================================================================================================

TEST(Wiznet5kOnChipSockets, GetSocketHandsOutClosedSocketsReservesAndRunsOut) {
  chip_lan t;
  EXPECT_EQ(*t.eth.get_socket(), 0) << "socket 0 first when not reserving";
  EXPECT_EQ(*t.eth.get_socket(), 0) << "not reserved: still free";
  ASSERT_TRUE(t.eth.socket_open(0, wiznet5k::SNMR_UDP).ok());
  EXPECT_EQ(*t.eth.get_socket(), 1) << "socket 0 is busy on the chip";
  for (int sn = 1; sn < 8; ++sn) EXPECT_EQ(*t.eth.get_socket(true), sn);
  const auto none = t.eth.get_socket(true);
  EXPECT_EQ(none.err.code, errc::runtime_error);
  EXPECT_STREQ(none.err.message, "All sockets in use.");
  EXPECT_EQ(t.eth.get_socket().err.code, errc::runtime_error) << "0 busy, 1..7 reserved";
  ASSERT_TRUE(t.eth.socket_close(0).ok());
  EXPECT_EQ(*t.eth.get_socket(), 0);
  ASSERT_TRUE(t.eth.release_socket(4).ok());
  EXPECT_EQ(*t.eth.get_socket(true), 4);
  for (int sn = 1; sn < 8; ++sn) ASSERT_TRUE(t.eth.release_socket(sn).ok());

  // Sockets busy on the chip (opened directly, not reserved) are not handed out either.
  for (int sn = 0; sn < 8; ++sn)
    ASSERT_TRUE(t.eth.socket_listen(sn, static_cast<std::uint16_t>(7000 + sn), wiznet5k::SNMR_UDP).ok());
  for (int sn = 0; sn < 8; ++sn) EXPECT_EQ(t.chip.socket_status(sn), SOCK_UDP);
  EXPECT_EQ(t.eth.get_socket().err.code, errc::runtime_error);
  EXPECT_EQ(t.eth.get_socket(true).err.code, errc::runtime_error);
  ASSERT_TRUE(t.eth.socket_close(5).ok());
  EXPECT_EQ(*t.eth.get_socket(true), 5);
  EXPECT_EQ(t.eth.release_socket(8).code, errc::value_error);
  EXPECT_EQ(t.eth.release_socket(-1).code, errc::value_error);
}

// =====================================================================================================
// DHCP through WIZNET5K
// =====================================================================================================

TEST(Wiznet5kOnChipDhcp, SetDhcpLeasesAndMaintainDhcpLeaseRenewsAtT1WithoutBlocking) {
  chip_lan t(23);
  peer_host server_host(t.seg, test::peer_cfg("dhcpd", ip4(10, 0, 0, 1), 1));
  dhcp_server server(server_host, pool_config(ip4(10, 0, 0, 1), ip4(10, 0, 0, 1), 120));  // T1 60 s

  // Without a lease, maintenance is a no-op: nothing on the wire.
  std::size_t mark = t.wire.mark();
  EXPECT_TRUE(t.eth.maintain_dhcp_lease().ok());
  t.board.sleep_ms(10);
  EXPECT_TRUE(t.wire.udp(t.chip_port, mark).empty());

  ASSERT_TRUE(t.eth.set_dhcp("node").ok());
  const auto lease = server.lease_of(chip_mac_w);
  ASSERT_TRUE(lease.has_value());
  EXPECT_EQ(lease->hostname, "node");
  EXPECT_EQ(reg_ip(t.chip, A_SIPR), lease->ip);
  EXPECT_EQ(t.eth.dhcp_client().state(), wiznet5k::DHCP::STATE_BOUND);
  const std::uint64_t t1 = t.eth.dhcp_client().t1_deadline_ms();
  const ps_t first_expiry = lease->expires;

  // Poll maintenance every 250 ms until past T1: each call returns at once; a REQUEST goes to the server
  // (unicast, ciaddr set) at T1, and the server extends the lease.
  mark = t.wire.mark();
  std::optional<ps_t> renewal_at;
  while (t.board.millis() < t1 + 2000) {
    const ps_t before = t.sched.now();
    const auto e = t.eth.maintain_dhcp_lease();
    EXPECT_TRUE(e.ok()) << e.message;
    EXPECT_LT(t.sched.now() - before, ms(50)) << "maintain_dhcp_lease() blocked";
    t.board.sleep_ms(250);
  }
  for (const auto& u : t.wire.udp(t.chip_port, mark)) {
    if (u.dport != 67) continue;
    const auto m = parse_dhcp(u.payload.data(), u.payload.size());
    ASSERT_TRUE(m.has_value());
    if (m->message_type() != DHCPREQUEST) continue;
    if (!renewal_at) renewal_at = u.t;
    EXPECT_EQ(u.dst, ip4(10, 0, 0, 1)) << "renewing is unicast to the server";
    EXPECT_EQ(m->ciaddr, lease->ip);
  }
  ASSERT_TRUE(renewal_at.has_value()) << "no renewal on the wire";
  EXPECT_GE(*renewal_at, ms(t1));
  EXPECT_LT(*renewal_at, ms(t1) + ms(300));
  const auto renewed = server.lease_of(chip_mac_w);
  ASSERT_TRUE(renewed.has_value());
  EXPECT_GT(renewed->expires, first_expiry + seconds(50));
  EXPECT_EQ(t.eth.dhcp_client().state(), wiznet5k::DHCP::STATE_BOUND);
  EXPECT_EQ(reg_ip(t.chip, A_SIPR), lease->ip);
  EXPECT_TRUE(t.all_closed());
}

// =====================================================================================================
// Socket registers: Sn_IR, remote address, status
// =====================================================================================================

TEST(Wiznet5kOnChipSockets, ReadSnirShowsTheBitsTheChipSetsAndWriteSnirClearsThemOnTheChip) {
  chip_lan t;
  tcp_echo_service echo(t.peer, 7);
  ASSERT_TRUE(t.eth.socket_connect(2, to_w(peer_ip), 7).ok());
  EXPECT_EQ(*t.eth.read_snir(2) & wiznet5k::SNIR_CON, wiznet5k::SNIR_CON) << "the chip raised CON";
  EXPECT_EQ(reg8(t.chip, S_IR, 2) & Sn_IR_CON, Sn_IR_CON);
  ASSERT_TRUE(t.eth.write_snir(2, wiznet5k::SNIR_CON).ok());
  EXPECT_EQ(reg8(t.chip, S_IR, 2) & Sn_IR_CON, 0);
  EXPECT_EQ(*t.eth.read_snir(2) & wiznet5k::SNIR_CON, 0);

  // socket_write consumes the SEND_OK it waits for.
  ASSERT_TRUE(t.write_all(2, to_octets("abc")));
  EXPECT_EQ(*t.eth.read_snir(2) & wiznet5k::SNIR_SEND_OK, 0);
  // The echo raises RECV.
  ASSERT_TRUE(t.wait_for([&] { return (*t.eth.read_snir(2) & wiznet5k::SNIR_RECV) != 0; }, 100));
  // A SEND issued by hand (nothing pending) completes at once: the chip raises SEND_OK.
  const std::uint8_t send = 0x20;
  ASSERT_TRUE(t.eth.write_socket_register(2, S_CR, &send, 1).ok());
  ASSERT_TRUE(t.wait_for([&] { return (*t.eth.read_snir(2) & wiznet5k::SNIR_SEND_OK) != 0; }, 10));
  EXPECT_EQ(reg8(t.chip, S_IR, 2) & Sn_IR_SENDOK, Sn_IR_SENDOK);
  ASSERT_TRUE(t.eth.write_snir(2, 0xFF).ok());
  EXPECT_EQ(reg8(t.chip, S_IR, 2), 0);
  EXPECT_EQ(*t.eth.read_snir(2), 0);

  // The peer's FIN raises DISCON.
  echo.connections().at(0)->close();
  ASSERT_TRUE(t.wait_for([&] { return (*t.eth.read_snir(2) & wiznet5k::SNIR_DISCON) != 0; }, 100));
  EXPECT_EQ(*t.eth.socket_status(2), wiznet5k::SNSR_SOCK_CLOSE_WAIT);
}

TEST(Wiznet5kOnChipSockets, SocketStatusFollowsTheChipThroughTheLifecycle) {
  chip_lan t;
  tcp_echo_service echo(t.peer, 7);
  std::vector<std::uint8_t> states;
  auto note = [&] {
    const std::uint8_t s = *t.eth.socket_status(1);
    EXPECT_EQ(s, t.chip.socket_status(1));
    if (states.empty() || states.back() != s) states.push_back(s);
  };
  note();
  ASSERT_TRUE(t.eth.socket_open(1, wiznet5k::SNMR_TCP).ok());
  note();
  ASSERT_TRUE(t.eth.socket_close(1).ok());
  note();
  ASSERT_TRUE(t.eth.socket_open(1, wiznet5k::SNMR_UDP).ok());
  note();
  ASSERT_TRUE(t.eth.socket_close(1).ok());
  note();
  ASSERT_TRUE(t.eth.socket_connect(1, to_w(peer_ip), 7).ok());
  note();
  ASSERT_TRUE(t.eth.socket_disconnect(1).ok());
  note();
  t.wait_for(
      [&] {
        note();
        return states.back() == wiznet5k::SNSR_SOCK_CLOSED;
      },
      2000);
  EXPECT_EQ(states, (std::vector<std::uint8_t>{0x00, 0x13, 0x00, 0x22, 0x00, 0x17, 0x18, 0x00}));

  // Server side: LISTEN, ESTABLISHED, CLOSE_WAIT after the peer's FIN, LAST_ACK after ours, CLOSED.
  states.clear();
  ASSERT_TRUE(t.eth.socket_listen(1, 8080).ok());
  note();
  auto c = t.peer.tcp_connect(chip_ip, 8080);
  t.wait_for(
      [&] {
        note();
        return states.back() == wiznet5k::SNSR_SOCK_ESTABLISHED;
      },
      100);
  c->close();
  t.wait_for(
      [&] {
        note();
        return states.back() == wiznet5k::SNSR_SOCK_CLOSE_WAIT;
      },
      100);
  ASSERT_TRUE(t.eth.socket_disconnect(1).ok());
  note();
  t.wait_for(
      [&] {
        note();
        return states.back() == wiznet5k::SNSR_SOCK_CLOSED;
      },
      2000);
  EXPECT_EQ(states, (std::vector<std::uint8_t>{0x14, 0x17, 0x1C, 0x1D, 0x00}));
}

// =====================================================================================================
// TCP client, TCP server, UDP
// =====================================================================================================

TEST(Wiznet5kOnChipSockets, ConnectWritesAndReadsThroughATcpEchoWithDataVerifiedAtThePeer) {
  chip_lan t;
  tcp_echo_service echo(t.peer, 7);
  const auto sn = t.eth.get_socket(true);
  ASSERT_TRUE(sn.ok());
  ASSERT_TRUE(t.eth.socket_connect(*sn, to_w(peer_ip), 7).ok());
  EXPECT_EQ(t.chip.socket_status(*sn), SOCK_ESTABLISHED);
  EXPECT_EQ(reg_ip(t.chip, S_DIPR, *sn), peer_ip);
  EXPECT_EQ(reg16(t.chip, S_DPORT, *sn), 7);
  EXPECT_EQ(reg8(t.chip, S_MR, *sn), 0x21) << "TCP with ND, as the seed";
  EXPECT_EQ(from_w(*t.eth.remote_ip(*sn)), peer_ip);
  EXPECT_EQ(*t.eth.remote_port(*sn), 7);
  ASSERT_EQ(echo.sessions().size(), 1u);
  EXPECT_EQ(echo.sessions()[0].remote_ip, chip_ip);
  EXPECT_EQ(echo.sessions()[0].remote_port, reg16(t.chip, S_PORT, *sn));
  EXPECT_GE(echo.sessions()[0].remote_port, 49152) << "an ephemeral local port";

  // 5000 bytes: more than two TX buffers, so socket_write is called in 2 KB pieces.
  const octets data = test::pattern(5000, 3);
  const auto first = t.eth.socket_write(*sn, data.data(), data.size());
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, 2048u) << "at most one buffer per call";
  ASSERT_TRUE(t.write_all(*sn, octets(data.begin() + 2048, data.end())));
  const octets back = t.read_n(*sn, data.size());
  EXPECT_EQ(back, data);
  EXPECT_EQ(echo.stats().bytes_received, data.size());
  EXPECT_EQ(echo.stats().bytes_acked, data.size()) << "the chip acknowledged everything the echo sent";
  EXPECT_EQ(*t.eth.socket_available(*sn), 0u);
  EXPECT_EQ(*t.eth.socket_read(*sn, nullptr, 0), 0u);
}

TEST(Wiznet5kOnChipSockets, SocketAvailableCountsTcpBytesWaitingAndUdpPayloadWithoutTheHeader) {
  chip_lan t;
  tcp_ptr conn;
  t.peer.tcp_listen(5000, [&](tcp_ptr c) { conn = std::move(c); });
  ASSERT_TRUE(t.eth.socket_connect(1, to_w(peer_ip), 5000).ok());
  ASSERT_TRUE(t.wait_for([&] { return conn != nullptr; }, 100));
  EXPECT_EQ(*t.eth.socket_available(1), 0u);
  conn->send(test::pattern(300, 1));
  ASSERT_TRUE(t.wait_for([&] { return *t.eth.socket_available(1) == 300u; }, 100));
  EXPECT_EQ(reg16(t.chip, S_RX_RSR, 1), 300);
  std::uint8_t buf[100];
  ASSERT_EQ(*t.eth.socket_read(1, buf, sizeof buf), 100u);
  const octets sent = test::pattern(300, 1);
  EXPECT_EQ(octets(buf, buf + 100), octets(sent.begin(), sent.begin() + 100));
  EXPECT_EQ(*t.eth.socket_available(1), 200u);

  // UDP: one 37-byte datagram is 45 bytes in the RX buffer; available reports the payload.
  ASSERT_TRUE(t.eth.socket_listen(2, 9000, wiznet5k::SNMR_UDP).ok());
  t.peer.udp_send(chip_ip, 9000, 5555, test::pattern(37, 2));
  ASSERT_TRUE(t.wait_for([&] { return reg16(t.chip, S_RX_RSR, 2) != 0; }, 100));
  EXPECT_EQ(reg16(t.chip, S_RX_RSR, 2), 45);
  EXPECT_EQ(*t.eth.socket_available(2, wiznet5k::SNMR_UDP), 37u);
  EXPECT_EQ(*t.eth.socket_available(2), 37u) << "Sn_SR says UDP even when the caller does not";
}

TEST(Wiznet5kOnChipSockets, ReadUdpReturnsOneDatagramRecordsTheSenderAndDropsWhatDoesNotFit) {
  chip_lan t;
  ASSERT_TRUE(t.eth.socket_listen(3, 9000, wiznet5k::SNMR_UDP).ok());
  EXPECT_EQ(t.chip.socket_status(3), SOCK_UDP);
  EXPECT_EQ(reg16(t.chip, S_PORT, 3), 9000);
  std::uint8_t buf[64] = {};
  EXPECT_EQ(*t.eth.read_udp(3, buf, sizeof buf), 0u) << "nothing waiting";

  const octets big = test::pattern(100, 4), small = to_octets("tail!");
  t.peer.udp_send(chip_ip, 9000, 5001, big);
  t.peer.udp_send(chip_ip, 9000, 5002, small);
  ASSERT_TRUE(t.wait_for([&] { return reg16(t.chip, S_RX_RSR, 3) == 108 + 13; }, 100));

  // Truncated: the first 10 bytes, and the other 90 are skipped so the next read starts at the next one.
  const auto n1 = t.eth.read_udp(3, buf, 10);
  ASSERT_TRUE(n1.ok());
  EXPECT_EQ(*n1, 10u);
  EXPECT_EQ(octets(buf, buf + 10), octets(big.begin(), big.begin() + 10));
  EXPECT_EQ(from_w(t.eth.udp_from_ip[3]), peer_ip);
  EXPECT_EQ(t.eth.udp_from_port[3], 5001);
  EXPECT_EQ(reg16(t.chip, S_RX_RSR, 3), 13) << "the whole first record was consumed";

  const auto n2 = t.eth.read_udp(3, buf, sizeof buf);
  ASSERT_TRUE(n2.ok());
  EXPECT_EQ(octets(buf, buf + *n2), small);
  EXPECT_EQ(t.eth.udp_from_port[3], 5002);
  EXPECT_EQ(reg16(t.chip, S_RX_RSR, 3), 0);
  EXPECT_EQ(*t.eth.read_udp(3, buf, sizeof buf), 0u);
  EXPECT_EQ(t.eth.udp_from_port[0], 0) << "other sockets' senders untouched";
}

TEST(Wiznet5kOnChipSockets, UdpConnectSetsTheDestinationAndWriteReachesAUdpEcho) {
  chip_lan t;
  udp_echo_service echo(t.peer, 7);
  const std::size_t mark = t.wire.mark();
  ASSERT_TRUE(t.eth.socket_connect(4, to_w(peer_ip), 7, wiznet5k::SNMR_UDP).ok());
  EXPECT_EQ(t.chip.socket_status(4), SOCK_UDP);
  EXPECT_TRUE(t.wire.tcp(t.chip_port, mark).empty());
  const octets msg = to_octets("datagram one");
  const auto sent = t.eth.socket_write(4, msg.data(), msg.size());
  ASSERT_TRUE(sent.ok()) << sent.err.message;
  EXPECT_EQ(*sent, msg.size());
  EXPECT_EQ(echo.stats().datagrams, 1u);
  EXPECT_EQ(echo.stats().bytes, msg.size());
  std::uint8_t buf[64];
  ASSERT_TRUE(t.wait_for([&] { return *t.eth.socket_available(4, wiznet5k::SNMR_UDP) == msg.size(); }, 100));
  const auto n = t.eth.read_udp(4, buf, sizeof buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(octets(buf, buf + *n), msg);
  EXPECT_EQ(from_w(t.eth.udp_from_ip[4]), peer_ip);
  EXPECT_EQ(t.eth.udp_from_port[4], 7);
  // What the chip put on the wire: one datagram from its port to 10.0.0.2:7.
  const auto dgrams = t.wire.udp(t.chip_port, mark);
  ASSERT_EQ(dgrams.size(), 1u);
  EXPECT_EQ(dgrams[0].dst, peer_ip);
  EXPECT_EQ(dgrams[0].dport, 7);
  EXPECT_EQ(dgrams[0].sport, reg16(t.chip, S_PORT, 4));
  EXPECT_EQ(dgrams[0].payload, msg);
}

TEST(Wiznet5kOnChipSockets, AUdpWriteToAnAddressNobodyAnswersReturnsZeroAndTheSocketStaysOpen) {
  chip_lan t;
  ASSERT_TRUE(t.eth.set_rtr(500).ok());
  ASSERT_TRUE(t.eth.set_rcr(1).ok());
  ASSERT_TRUE(t.eth.socket_connect(4, {10, 0, 0, 99}, 7, wiznet5k::SNMR_UDP).ok());
  const ps_t start = t.sched.now();
  const auto sent = t.eth.socket_write(4, to_octets("lost").data(), 4);
  ASSERT_TRUE(sent.ok()) << sent.err.message;
  EXPECT_EQ(*sent, 0u);
  EXPECT_GE(t.sched.now() - start, ms(100)) << "ARP time: 2 x 50 ms";
  EXPECT_EQ(t.chip.socket_status(4), SOCK_UDP);
  EXPECT_EQ(reg8(t.chip, S_IR, 4) & Sn_IR_TIMEOUT, 0) << "the driver cleared TIMEOUT";
}

TEST(Wiznet5kOnChipSockets, ListenAndAcceptAPeerConnectionThenListenAgainOnTheNextSocket) {
  chip_lan t;
  ASSERT_TRUE(t.eth.socket_listen(1, 8080).ok());
  EXPECT_EQ(t.chip.socket_status(1), SOCK_LISTEN);
  EXPECT_EQ(reg16(t.chip, S_PORT, 1), 8080);
  const auto early = t.eth.socket_accept(1);
  EXPECT_EQ(early.err.code, errc::would_block) << "no connection yet";

  octets at_peer;
  auto c = t.peer.tcp_connect(chip_ip, 8080, 40001);
  c->on_data = [&](const octets& d) { at_peer.insert(at_peer.end(), d.begin(), d.end()); };
  std::optional<WIZNET5K::accept_t> first;
  ASSERT_TRUE(t.wait_for(
      [&] {
        const auto r = t.eth.socket_accept(1);
        if (r.ok()) first = r.value;
        return r.ok();
      },
      100));
  EXPECT_TRUE(c->established());
  EXPECT_EQ(t.chip.socket_status(1), SOCK_ESTABLISHED);
  EXPECT_EQ(from_w(first->ip), peer_ip);
  EXPECT_EQ(first->port, 40001);
  EXPECT_EQ(from_w(*t.eth.remote_ip(1)), peer_ip);
  EXPECT_EQ(*t.eth.remote_port(1), 40001);
  EXPECT_EQ(first->next_listener, 2) << "reserved: never 0, never the connection's own";
  // Asked again about the same connection: the same answer, not a second reservation.
  const auto again = t.eth.socket_accept(1);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->next_listener, first->next_listener);
  EXPECT_EQ(again->port, 40001);
  EXPECT_EQ(*t.eth.get_socket(true), 3);
  ASSERT_TRUE(t.eth.release_socket(3).ok());
  const int next = first->next_listener;

  // The connection carries data both ways.
  c->send(to_octets("from peer"));
  EXPECT_EQ(t.read_n(1, 9), to_octets("from peer"));
  ASSERT_TRUE(t.write_all(1, to_octets("from chip")));
  ASSERT_TRUE(t.wait_for([&] { return at_peer.size() >= 9; }, 100));
  EXPECT_EQ(at_peer, to_octets("from chip"));

  // A second client on the same port is accepted on the new listener.
  ASSERT_TRUE(t.eth.socket_listen(next, 8080).ok());
  auto c2 = t.peer.tcp_connect(chip_ip, 8080, 40002);
  ASSERT_TRUE(t.wait_for([&] { return t.eth.socket_accept(next).ok(); }, 100));
  EXPECT_EQ(*t.eth.remote_port(next), 40002);
  EXPECT_TRUE(c2->established());
  EXPECT_EQ(t.chip.socket_status(1), SOCK_ESTABLISHED) << "the first connection is untouched";
}

TEST(Wiznet5kOnChipSockets, AcceptReturnsAConnectionThePeerAlreadyFinishedWithItsDataStillReadable) {
  chip_lan t;
  ASSERT_TRUE(t.eth.socket_listen(1, 8080).ok());
  octets at_peer;
  auto c = t.peer.tcp_connect(chip_ip, 8080, 40003);
  c->on_data = [&](const octets& d) { at_peer.insert(at_peer.end(), d.begin(), d.end()); };
  c->on_connected = [c] {
    c->send(std::string_view("request and goodbye"));
    c->close();
  };
  ASSERT_TRUE(t.wait_for([&] { return t.chip.socket_status(1) == SOCK_CLOSE_WAIT; }, 100));
  const auto a = t.eth.socket_accept(1);
  ASSERT_TRUE(a.ok()) << a.err.message;
  EXPECT_EQ(a->port, 40003);
  EXPECT_EQ(t.read_n(1, 19), to_octets("request and goodbye"));
  // Everything read and the peer finished: end of stream.
  std::uint8_t buf[8];
  EXPECT_EQ(t.eth.socket_read(1, buf, sizeof buf).err.code, errc::connection_error);
  // A half-closed peer still receives: the answer goes out from CLOSE_WAIT.
  const auto w = t.eth.socket_write(1, to_octets("answer").data(), 6);
  ASSERT_TRUE(w.ok()) << w.err.message;
  ASSERT_TRUE(t.wait_for([&] { return at_peer.size() >= 6; }, 100));
  EXPECT_EQ(at_peer, to_octets("answer"));
  ASSERT_TRUE(t.eth.socket_disconnect(1).ok());
  ASSERT_TRUE(t.wait_for([&] { return t.chip.socket_status(1) == SOCK_CLOSED; }, 1000));
  EXPECT_EQ(c->state(), tcp_state::time_wait);
}

TEST(Wiznet5kOnChipSockets, SocketDisconnectSendsAFinThePeerSees) {
  chip_lan t;
  tcp_echo_service echo(t.peer, 7);
  ASSERT_TRUE(t.eth.socket_connect(1, to_w(peer_ip), 7).ok());
  const std::size_t mark = t.wire.mark();
  const ps_t before = t.sched.now();
  ASSERT_TRUE(t.eth.socket_disconnect(1).ok());
  EXPECT_LT(t.sched.now() - before, ms(1)) << "DISCON does not wait for the close";
  ASSERT_TRUE(t.wait_for([&] { return t.chip.socket_status(1) == SOCK_CLOSED; }, 2000));
  EXPECT_EQ(count_flags(t.wire.tcp(t.chip_port, mark), TCP_FIN), 1u);
  ASSERT_EQ(echo.sessions().size(), 1u);
  EXPECT_TRUE(echo.sessions()[0].peer_finished);
  EXPECT_EQ(echo.sessions()[0].close_reason, "closed");
  EXPECT_EQ(echo.stats().closed, 1u);
}

TEST(Wiznet5kOnChipSockets, SocketCloseClosesAtOnceWithoutAnySegment) {
  chip_lan t;
  tcp_echo_service echo(t.peer, 7);
  ASSERT_TRUE(t.eth.socket_connect(1, to_w(peer_ip), 7).ok());
  const std::size_t mark = t.wire.mark();
  ASSERT_TRUE(t.eth.socket_close(1).ok());
  EXPECT_EQ(t.chip.socket_status(1), SOCK_CLOSED);
  t.board.sleep_ms(100);
  EXPECT_TRUE(t.wire.tcp(t.chip_port, mark).empty()) << "CLOSE sends neither FIN nor RST";
  EXPECT_EQ(echo.stats().active, 1u) << "the peer never heard of it";
  ASSERT_TRUE(t.eth.socket_close(1).ok()) << "closing a closed socket is fine";
}

TEST(Wiznet5kOnChipSockets, SrcPortOverridesTheLocalPortOfTheNextOpenOnly) {
  chip_lan t;
  tcp_echo_service echo(t.peer, 7);
  t.eth.src_port = 5555;
  ASSERT_TRUE(t.eth.socket_connect(1, to_w(peer_ip), 7).ok());
  EXPECT_EQ(t.eth.src_port, 0) << "consumed";
  EXPECT_EQ(reg16(t.chip, S_PORT, 1), 5555);
  ASSERT_EQ(echo.sessions().size(), 1u);
  EXPECT_EQ(echo.sessions()[0].remote_port, 5555);
  ASSERT_TRUE(t.eth.socket_connect(2, to_w(peer_ip), 7).ok());
  ASSERT_EQ(echo.sessions().size(), 2u);
  EXPECT_GE(echo.sessions()[1].remote_port, 49152);
  EXPECT_NE(echo.sessions()[1].remote_port, 5555);
}

TEST(Wiznet5kOnChipSockets, SocketWriteWithATimeoutGivesUpAfterAboutTheTimeoutAgainstASlowReader) {
  chip_lan t;
  tcp_sink_config cfg;
  cfg.initial_pause = seconds(20);  // reads nothing for 20 s: its window closes after 8 KB
  tcp_sink_service sink(t.peer, 9, cfg);
  ASSERT_TRUE(t.eth.socket_connect(1, to_w(peer_ip), 9).ok());
  const octets data = test::pattern(16 * 1024, 5);
  std::size_t accepted = 0;
  wiznet5k::error last{};
  ps_t last_took = 0;
  for (int i = 0; i < 20; ++i) {
    const ps_t before = t.sched.now();
    const auto r = t.eth.socket_write(1, data.data() + accepted,
                                      std::min<std::size_t>(2048, data.size() - accepted), 500);
    last_took = t.sched.now() - before;
    if (!r.ok()) {
      last = r.err;
      break;
    }
    accepted += r.value;
  }
  EXPECT_EQ(last.code, errc::timeout_error) << last.message;
  EXPECT_GE(last_took, ms(500));
  EXPECT_LT(last_took, ms(520));
  EXPECT_GE(accepted, 8192u) << "the peer's window took 8 KB before it closed";
  EXPECT_EQ(t.chip.socket_status(1), SOCK_ESTABLISHED) << "a timeout does not drop the connection";

  // Once the sink reads, exactly the bytes socket_write reported as sent arrive, in order: the call that
  // ran out of time waiting for SEND_OK reported its bytes (the chip sent them later), the one that timed
  // out sent nothing. (The wait is long: after the window reopens, the model's chip resumes past its
  // unacknowledged zero-window probe byte and recovers only by retransmission timeout.)
  ASSERT_TRUE(t.wait_for([&] { return sink.received().size() >= accepted; }, 60000));
  t.board.sleep_ms(20000);
  const octets got = sink.received();
  EXPECT_EQ(got.size(), accepted);
  EXPECT_EQ(got, octets(data.begin(),
                        data.begin() + static_cast<std::ptrdiff_t>(std::min(got.size(), data.size()))));
}

// =====================================================================================================
// sw_reset
// =====================================================================================================

TEST(Wiznet5kOnChipReset, SwResetKeepsTheConfigurationClosesEverySocketAndKeepsReservations) {
  chip_lan t;
  tcp_echo_service echo(t.peer, 7);
  ASSERT_TRUE(t.eth.set_ifconfig({to_w(chip_ip), to_w(mask24), {10, 0, 0, 1}, {10, 0, 0, 53}}).ok());
  ASSERT_TRUE(t.eth.set_rtr(1500).ok());
  ASSERT_TRUE(t.eth.set_rcr(4).ok());
  const int reserved = *t.eth.get_socket(true);
  ASSERT_TRUE(t.eth.socket_connect(reserved, to_w(peer_ip), 7).ok());
  ASSERT_TRUE(t.eth.socket_listen(5, 9000, wiznet5k::SNMR_UDP).ok());
  const mac_addr mac_before = reg_mac(t.chip);

  ASSERT_TRUE(t.eth.sw_reset().ok());
  for (int n = 0; n < 8; ++n) EXPECT_EQ(t.chip.socket_status(n), SOCK_CLOSED) << n;
  EXPECT_EQ(reg_mac(t.chip), mac_before);
  EXPECT_EQ(reg_ip(t.chip, A_SIPR), chip_ip);
  EXPECT_EQ(reg_ip(t.chip, A_SUBR), mask24);
  EXPECT_EQ(reg_ip(t.chip, A_GAR), ip4(10, 0, 0, 1));
  EXPECT_EQ(reg16(t.chip, A_RTR), 1500);
  EXPECT_EQ(reg8(t.chip, A_RCR), 4);
  EXPECT_EQ(from_w(t.eth.ifconfig()->dns), ip4(10, 0, 0, 53));
  EXPECT_STREQ(t.eth.chip(), "w5500");
  EXPECT_NE(*t.eth.get_socket(true), reserved) << "the reservation survived";

  // Usable straight away, like after begin(): the link is back and a connection works.
  EXPECT_TRUE(*t.eth.link_status());
  ASSERT_TRUE(t.eth.socket_connect(reserved, to_w(peer_ip), 7).ok());
  ASSERT_TRUE(t.write_all(reserved, to_octets("again")));
  EXPECT_EQ(t.read_n(reserved, 5), to_octets("again"));
  EXPECT_TRUE(t.ping_from(t.peer, chip_ip));
}

// =====================================================================================================
// Failure paths
// =====================================================================================================

TEST(Wiznet5kOnChipFailures, AConnectThePeerResetsIsConnectionRefused) {
  chip_lan t;  // the peer answers SYNs to closed ports with RST
  const std::size_t mark = t.wire.mark();
  const ps_t start = t.sched.now();
  const auto e = t.eth.socket_connect(1, to_w(peer_ip), 81);
  EXPECT_EQ(e.code, errc::connection_error);
  EXPECT_STREQ(e.message, "Connection refused.");
  EXPECT_LT(t.sched.now() - start, ms(10)) << "refused at once, not after a timeout";
  EXPECT_EQ(count_flags(t.wire.tcp(t.peer.port(), mark), TCP_RST), 1u);
  EXPECT_EQ(t.chip.socket_status(1), SOCK_CLOSED);
}

TEST(Wiznet5kOnChipFailures, APeerResetWhileReadingIsAConnectionError) {
  chip_lan t;
  tcp_echo_service echo(t.peer, 7);
  ASSERT_TRUE(t.eth.socket_connect(1, to_w(peer_ip), 7).ok());
  std::uint8_t buf[16];
  EXPECT_EQ(*t.eth.socket_read(1, buf, sizeof buf), 0u) << "open, nothing yet";
  echo.connections().at(0)->abort();
  t.board.sleep_ms(5);
  EXPECT_EQ(t.chip.socket_status(1), SOCK_CLOSED);
  const auto r = t.eth.socket_read(1, buf, sizeof buf);
  EXPECT_EQ(r.err.code, errc::connection_error);
}

TEST(Wiznet5kOnChipFailures, APeerResetWhileWritingIsAConnectionError) {
  chip_lan t;
  tcp_sink_config cfg;
  cfg.initial_pause = seconds(30);  // its window closes: the chip's TX buffer fills
  tcp_sink_service sink(t.peer, 9, cfg);
  ASSERT_TRUE(t.eth.socket_connect(1, to_w(peer_ip), 9).ok());
  const octets data = test::pattern(2048, 6);
  // Fill the window and the TX buffer, then write once more with no timeout: the write waits for room.
  for (int i = 0; i < 5; ++i) (void)t.eth.socket_write(1, data.data(), data.size(), 300);
  t.sched.after(ms(200), [&sink] { sink.connections().at(0)->abort(); });
  const ps_t start = t.sched.now();
  const auto r = t.eth.socket_write(1, data.data(), data.size());
  EXPECT_EQ(r.err.code, errc::connection_error) << r.err.message;
  EXPECT_GE(t.sched.now() - start, ms(200));
  EXPECT_LT(t.sched.now() - start, ms(250)) << "noticed as soon as the RST arrived";
  EXPECT_EQ(t.chip.socket_status(1), SOCK_CLOSED);
}

TEST(Wiznet5kOnChipFailures, LinkDownMidConnectionFailsReadsAndWritesAndTheConnectionSurvivesItsReturn) {
  chip_lan t;
  tcp_echo_service echo(t.peer, 7);
  ASSERT_TRUE(t.eth.socket_connect(1, to_w(peer_ip), 7).ok());
  ASSERT_TRUE(t.write_all(1, to_octets("before")));
  EXPECT_EQ(t.read_n(1, 6), to_octets("before"));

  t.seg.set_link_up(t.chip_port, false);
  EXPECT_FALSE(*t.eth.link_status());
  std::uint8_t buf[16];
  const auto r = t.eth.socket_read(1, buf, sizeof buf);
  EXPECT_EQ(r.err.code, errc::connection_error);
  EXPECT_STREQ(r.err.message, "The Ethernet connection is down.");
  const std::uint64_t received_before = echo.stats().bytes_received;
  const auto w = t.eth.socket_write(1, to_octets("during").data(), 6);
  EXPECT_EQ(w.err.code, errc::connection_error);
  EXPECT_EQ(t.eth.socket_open(2, wiznet5k::SNMR_UDP).code, errc::connection_error);
  t.board.sleep_ms(500);
  EXPECT_EQ(echo.stats().bytes_received, received_before) << "nothing was written";

  t.seg.set_link_up(t.chip_port, true);
  ASSERT_TRUE(t.wait_for([&] { return *t.eth.link_status(); }, 3000));
  EXPECT_EQ(t.chip.socket_status(1), SOCK_ESTABLISHED);
  ASSERT_TRUE(t.write_all(1, to_octets("after")));
  EXPECT_EQ(t.read_n(1, 5), to_octets("after"));
}

TEST(Wiznet5kOnChipFailures, ArgumentErrorsAreValueErrorsWithoutBusTraffic) {
  chip_lan t;
  std::uint8_t buf[8] = {};
  const auto frames = t.board.stats().frames;
  for (const int sn : {-1, 8, 255}) {
    EXPECT_EQ(t.eth.read_snir(sn).err.code, errc::value_error);
    EXPECT_EQ(t.eth.write_snir(sn, 0xFF).code, errc::value_error);
    EXPECT_EQ(t.eth.read_udp(sn, buf, sizeof buf).err.code, errc::value_error);
    EXPECT_EQ(t.eth.remote_ip(sn).err.code, errc::value_error);
    EXPECT_EQ(t.eth.remote_port(sn).err.code, errc::value_error);
    EXPECT_EQ(t.eth.socket_open(sn).code, errc::value_error);
    EXPECT_EQ(t.eth.socket_connect(sn, to_w(peer_ip), 7).code, errc::value_error);
    EXPECT_EQ(t.eth.socket_listen(sn, 80).code, errc::value_error);
    EXPECT_EQ(t.eth.socket_accept(sn).err.code, errc::value_error);
    EXPECT_EQ(t.eth.socket_available(sn).err.code, errc::value_error);
    EXPECT_EQ(t.eth.socket_read(sn, buf, sizeof buf).err.code, errc::value_error);
    EXPECT_EQ(t.eth.socket_write(sn, buf, sizeof buf).err.code, errc::value_error);
    EXPECT_EQ(t.eth.socket_status(sn).err.code, errc::value_error);
    EXPECT_EQ(t.eth.socket_disconnect(sn).code, errc::value_error);
    EXPECT_EQ(t.eth.socket_close(sn).code, errc::value_error);
    EXPECT_EQ(t.eth.release_socket(sn).code, errc::value_error);
  }
  EXPECT_EQ(t.eth.socket_connect(1, to_w(peer_ip), 0).code, errc::value_error);
  EXPECT_EQ(t.eth.socket_connect(1, to_w(peer_ip), 0, wiznet5k::SNMR_UDP).code, errc::value_error);
  EXPECT_EQ(t.eth.socket_listen(1, 0).code, errc::value_error);
  EXPECT_EQ(t.eth.socket_read(1, nullptr, 4).err.code, errc::value_error);
  EXPECT_EQ(t.eth.socket_write(1, nullptr, 4).err.code, errc::value_error);
  EXPECT_EQ(t.eth.read_udp(1, nullptr, 4).err.code, errc::value_error);
  EXPECT_EQ(t.eth.get_host_by_name(nullptr).err.code, errc::value_error);
  EXPECT_EQ(t.eth.set_mac_address(static_cast<const char*>(nullptr)).code, errc::value_error);
  EXPECT_EQ(t.board.stats().frames, frames) << "argument errors never reach the bus";
  for (int n = 0; n < 8; ++n) EXPECT_EQ(t.chip.socket_status(n), SOCK_CLOSED);
}
