// The peers' own IP stack: ARP, ICMP, UDP and the second TCP implementation, peer to peer and against
// the chip's engine (through a register-level client), with faults on the links.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "lan_fixture.hpp"
#include "wizsim/harness/peer.hpp"
#include "wizsim/harness/raw_client.hpp"
#include "wizsim/w5500.hpp"

using namespace wizsim;
using test::pattern;

namespace {

constexpr ip4_addr ip_a = ip4(10, 0, 0, 1), ip_b = ip4(10, 0, 0, 2), chip_ip = ip4(10, 0, 0, 50);
const mac_addr chip_mac{0x02, 0x08, 0xDC, 0, 0, 0x50};

struct two_peers {
  scheduler sched{5};
  segment seg{sched, "lan", 5};
  peer_host a{seg, test::peer_cfg("a", ip_a, 1)};
  peer_host b{seg, test::peer_cfg("b", ip_b, 2)};
};

// A server on b that keeps everything it gets and closes when the client does.
struct collecting_server {
  octets got;
  tcp_ptr conn;
  bool peer_fin = false;
  std::string closed;
  void listen(peer_host& h, std::uint16_t port) {
    h.tcp_listen(port, [this](tcp_ptr c) {
      conn = c;
      c->on_data = [this](const octets& d) { got.insert(got.end(), d.begin(), d.end()); };
      c->on_peer_fin = [this] {
        peer_fin = true;
        conn->close();
      };
      c->on_closed = [this](const std::string& r) { closed = r; };
    });
  }
};

}  // namespace

TEST(Peer, ResolvesByArpAndAnswersPing) {
  two_peers t;
  std::optional<ps_t> rtt;
  bool done = false;
  t.a.ping(ip_b, 1, 56, seconds(1), [&](std::optional<ps_t> r) {
    rtt = r;
    done = true;
  });
  t.sched.run_until(seconds(2));
  ASSERT_TRUE(done);
  ASSERT_TRUE(rtt.has_value());
  EXPECT_GT(*rtt, us(10));
  EXPECT_LT(*rtt, ms(1));
  EXPECT_EQ(t.a.arp_lookup(ip_b), t.b.mac());
  EXPECT_EQ(t.b.arp_lookup(ip_a), t.a.mac()) << "b learned a from the request";
  EXPECT_EQ(t.b.stats().icmp_echo_replies, 1u);
}

TEST(Peer, PingToAnAbsentHostTimesOut) {
  two_peers t;
  bool done = false;
  std::optional<ps_t> rtt = ps_t{1};
  t.a.ping(ip4(10, 0, 0, 99), 1, 8, ms(500), [&](std::optional<ps_t> r) {
    rtt = r;
    done = true;
  });
  t.sched.run_until(seconds(5));
  EXPECT_TRUE(done);
  EXPECT_FALSE(rtt.has_value());
}

TEST(Peer, UdpReachesABoundPortAndAnUnboundPortGetsIcmpUnreachable) {
  two_peers t;
  std::vector<udp_datagram> got;
  t.b.udp_bind(5000, [&](const udp_datagram& d) { got.push_back(d); });
  std::vector<std::pair<std::uint8_t, std::uint8_t>> icmp;
  t.a.on_icmp = [&](ip4_addr, const icmp_view& v) { icmp.emplace_back(v.type, v.code); };
  t.a.udp_send(ip_b, 5000, 1234, pattern(100));
  t.a.udp_send(ip_b, 5001, 1234, pattern(10));
  t.sched.run_until(seconds(1));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, pattern(100));
  EXPECT_EQ(got[0].src, ip_a);
  EXPECT_EQ(got[0].src_port, 1234);
  ASSERT_EQ(icmp.size(), 1u);
  EXPECT_EQ(icmp[0], std::make_pair(std::uint8_t{3}, std::uint8_t{3}));
  EXPECT_THROW(t.b.udp_bind(5000, nullptr), std::invalid_argument);
}

TEST(Peer, BroadcastUdpReachesEveryPeerBoundToThePort) {
  two_peers t;
  peer_host c(t.seg, test::peer_cfg("c", ip4(10, 0, 0, 3), 3));
  int hits = 0;
  t.b.udp_bind(67, [&](const udp_datagram&) { ++hits; });
  c.udp_bind(67, [&](const udp_datagram&) { ++hits; });
  t.a.udp_send(0xFFFFFFFFu, 67, 68, pattern(20));
  t.a.udp_send(ip4(10, 0, 0, 255), 67, 68, pattern(20));
  t.sched.run_until(seconds(1));
  EXPECT_EQ(hits, 4);
}

TEST(Peer, BadConfigurationFailsAtSetup) {
  scheduler sched;
  segment seg(sched);
  auto c = test::peer_cfg("x", ip_a, 1);
  c.mac[0] = 0x01;
  EXPECT_THROW(peer_host(seg, c), std::invalid_argument);
  c = test::peer_cfg("x", ip_a, 1);
  c.tcp_mss = 2000;
  EXPECT_THROW(peer_host(seg, c), std::invalid_argument);
  peer_host ok(seg, test::peer_cfg("x", ip_a, 1));
  EXPECT_THROW(peer_host(seg, test::peer_cfg("x", ip_b, 2)), std::invalid_argument) << "port names are unique";
}

TEST(PeerTcp, TransfersBothWaysAndClosesCleanly) {
  two_peers t;
  collecting_server server;
  server.listen(t.b, 80);
  auto c = t.a.tcp_connect(ip_b, 80);
  bool connected = false;
  std::string closed;
  c->on_connected = [&] { connected = true; };
  c->on_closed = [&](const std::string& r) { closed = r; };
  const octets data = pattern(100'000);
  c->send(data);
  c->close();
  t.sched.run_until(seconds(10));
  EXPECT_TRUE(connected);
  EXPECT_EQ(server.got, data);
  EXPECT_TRUE(server.peer_fin);
  EXPECT_EQ(closed, "closed");
  EXPECT_EQ(server.closed, "closed");
  EXPECT_EQ(c->stats().retransmissions, 0u);
  EXPECT_TRUE(t.a.connections().empty());
  EXPECT_TRUE(t.b.connections().empty());
}

TEST(PeerTcp, AConnectionToAClosedPortIsRefused) {
  two_peers t;
  auto c = t.a.tcp_connect(ip_b, 81);
  std::string closed;
  c->on_closed = [&](const std::string& r) { closed = r; };
  t.sched.run_until(seconds(1));
  EXPECT_EQ(closed, "connection refused");
  EXPECT_EQ(t.b.stats().tcp_resets_sent, 1u);
}

TEST(PeerTcp, RecoversFromLossAndDeliversEveryByteInOrder) {
  two_peers t;
  fault_rule drop;
  drop.kind = fault_kind::drop;
  drop.probability = 0.1;
  t.seg.faults(t.a.port()).add(drop);
  t.seg.faults(t.b.port()).add(drop);
  collecting_server server;
  server.listen(t.b, 80);
  auto c = t.a.tcp_connect(ip_b, 80);
  const octets data = pattern(60'000, 3);
  c->send(data);
  c->close();
  t.sched.run_until(seconds(120));
  EXPECT_EQ(server.got, data);
  EXPECT_GT(c->stats().retransmissions, 0u);
  EXPECT_GT(t.seg.faults(t.a.port()).stats().dropped, 0u);
}

TEST(PeerTcp, ASingleLostSegmentIsFastRetransmitted) {
  two_peers t;
  fault_rule drop;
  drop.kind = fault_kind::drop;
  drop.nth = 5;
  drop.match = frame_filter::from([](const std::uint8_t*, std::size_t n) { return n > 1000; }, "full segment");
  t.seg.faults(t.a.port()).add(drop);
  collecting_server server;
  server.listen(t.b, 80);
  auto c = t.a.tcp_connect(ip_b, 80);
  const octets data = pattern(30'000, 4);
  c->send(data);
  t.sched.run_until(seconds(5));
  EXPECT_EQ(server.got, data);
  EXPECT_EQ(c->stats().fast_retransmissions, 1u);
}

TEST(PeerTcp, GivesUpAfterTheRetryLimitWhenThePeerVanishes) {
  two_peers t;
  collecting_server server;
  server.listen(t.b, 80);
  auto c = t.a.tcp_connect(ip_b, 80);
  t.sched.run_until(ms(10));
  ASSERT_TRUE(c->established());
  std::string closed;
  c->on_closed = [&](const std::string& r) { closed = r; };
  t.seg.set_link_up(t.b.port(), false);
  c->send(pattern(100));
  t.sched.run_until(seconds(30));
  EXPECT_TRUE(closed.empty()) << "backoff 1+2+4+8+16 s has not run out yet";
  t.sched.run_until(seconds(600));
  EXPECT_EQ(closed, "retransmission timeout");
  EXPECT_EQ(c->stats().retransmissions, 8u);
}

TEST(PeerTcp, ProbesAZeroWindowAndResumesWhenTheReaderCatchesUp) {
  two_peers t;
  collecting_server server;
  t.b.tcp_listen(80, [&](tcp_ptr c) {
    server.conn = c;
    c->pause_reading(true);
    c->on_data = [&](const octets& d) { server.got.insert(server.got.end(), d.begin(), d.end()); };
  });
  auto c = t.a.tcp_connect(ip_b, 80);
  const octets data = pattern(20'000, 5);
  c->send(data);
  t.sched.run_until(seconds(5));
  EXPECT_EQ(c->peer_window(), 0);
  EXPECT_GT(c->stats().zero_window_probes, 0u);
  EXPECT_TRUE(server.got.empty());
  EXPECT_TRUE(c->established()) << "probes keep the connection alive";
  server.conn->pause_reading(false);
  t.sched.run_until(seconds(60));
  EXPECT_EQ(server.got, data);
}

TEST(PeerTcp, AbortSendsResetAndThePeerSeesIt) {
  two_peers t;
  collecting_server server;
  server.listen(t.b, 80);
  auto c = t.a.tcp_connect(ip_b, 80);
  t.sched.run_until(ms(10));
  c->abort();
  t.sched.run_until(ms(20));
  EXPECT_EQ(server.closed, "connection reset by peer");
  EXPECT_EQ(c->close_reason(), "aborted");
}

TEST(PeerTcp, HandshakeSurvivesALostSynAck) {
  two_peers t;
  fault_rule drop;
  drop.kind = fault_kind::drop;
  drop.nth = 1;
  t.seg.faults(t.b.port()).add(drop);  // b's first frame: its ARP reply... then SYN-ACK
  drop.nth = 2;
  t.seg.faults(t.b.port()).add(drop);
  collecting_server server;
  server.listen(t.b, 80);
  auto c = t.a.tcp_connect(ip_b, 80);
  c->send("hello");
  t.sched.run_until(seconds(10));
  EXPECT_EQ(std::string(server.got.begin(), server.got.end()), "hello");
}

// ---- against the chip ------------------------------------------------------------------------------------

struct chip_and_peer : test::chip_on_lan {
  chip_and_peer() : chip_on_lan(9, chip_ip, ip_a, chip_mac) {}
  peer_host peer{seg, test::peer_cfg("peer", ip_a, 1)};
};

TEST(PeerAndChip, PeerPingsTheChip) {
  chip_and_peer t;
  std::optional<ps_t> rtt;
  t.peer.ping(chip_ip, 1, 32, seconds(1), [&](std::optional<ps_t> r) { rtt = r; });
  t.sched.run_until(t.sched.now() + seconds(2));
  ASSERT_TRUE(rtt.has_value());
  EXPECT_LT(*rtt, ms(1));
}

TEST(PeerAndChip, ChipUdpDatagramsReachThePeerAndBack) {
  chip_and_peer t;
  t.peer.udp_bind(7, [&](const udp_datagram& d) { t.peer.udp_send(d.src, d.src_port, 7, d.payload); });
  ASSERT_TRUE(t.client.open_udp(0, 4000));
  ASSERT_TRUE(t.client.sendto(0, ip_a, 7, pattern(500)));
  auto d = t.client.recvfrom(0, ms(100));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->ip, ip_a);
  EXPECT_EQ(d->port, 7);
  EXPECT_EQ(d->data, pattern(500));
}

TEST(PeerAndChip, PeerSendsALargeStreamThroughTheChipsSmallBuffer) {
  chip_and_peer t;
  ASSERT_TRUE(t.client.open_tcp(0, 5000));
  ASSERT_TRUE(t.client.listen(0));
  auto c = t.peer.tcp_connect(chip_ip, 5000);
  const octets data = pattern(50'000, 6);
  c->send(data);
  c->close();
  ASSERT_TRUE(t.client.accept(0, seconds(1)));
  const octets got = t.client.recv_all(0, seconds(30));
  EXPECT_EQ(got, data);
  EXPECT_EQ(t.client.status(0), SOCK_CLOSE_WAIT);
  t.client.disconnect(0);
  t.sched.run_until(t.sched.now() + seconds(2));
  EXPECT_EQ(c->close_reason(), "closed");
}

TEST(PeerAndChip, ChipConnectsAndThePeerEchoes) {
  chip_and_peer t;
  t.peer.tcp_listen(7, [](tcp_ptr c) {
    std::weak_ptr<tcp_connection> w = c;
    c->on_data = [w](const octets& d) {
      if (auto s = w.lock()) s->send(d);
    };
    c->on_peer_fin = [w] {
      if (auto s = w.lock()) s->close();
    };
  });
  ASSERT_TRUE(t.client.open_tcp(1, 40000));
  ASSERT_TRUE(t.client.connect(1, ip_a, 7));
  const octets data = pattern(8000, 7);
  ASSERT_TRUE(t.client.send(1, data));
  octets back;
  t.client.wait([&] {
    octets part = t.client.recv(1, 0);
    back.insert(back.end(), part.begin(), part.end());
    return back.size() >= data.size();
  }, seconds(5));
  EXPECT_EQ(back, data);
  t.client.disconnect(1);
  EXPECT_EQ(t.client.status(1), SOCK_CLOSED);
}

TEST(PeerAndChip, ChipTransferSurvivesLossOnItsLink) {
  chip_and_peer t;
  fault_rule drop;
  drop.kind = fault_kind::drop;
  drop.probability = 0.05;
  t.seg.faults(t.seg.find_port("chip")).add(drop);
  collecting_server server;
  server.listen(t.peer, 9);
  ASSERT_TRUE(t.client.open_tcp(0, 40001));
  ASSERT_TRUE(t.client.connect(0, ip_a, 9, seconds(20)));
  const octets data = pattern(20'000, 8);
  ASSERT_TRUE(t.client.send(0, data, seconds(60)));
  t.sched.run_until(t.sched.now() + seconds(30));
  EXPECT_EQ(server.got, data);
}
