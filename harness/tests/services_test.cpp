// The simple services against the chip (driven through the register-level client) and peer to peer:
// echo, discard, a slow sink, a source, UDP echo and the pinger.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "wizsim/harness/filter.hpp"
#include "wizsim/harness/raw_client.hpp"
#include "lan_fixture.hpp"
#include "wizsim/harness/services.hpp"
#include "wizsim/w5500.hpp"

using namespace wizsim;
using test::pattern;

namespace {

constexpr ip4_addr peer_ip = ip4(10, 0, 0, 1), chip_ip = ip4(10, 0, 0, 50);

struct bench : test::chip_on_lan {
  bench() : chip_on_lan(21, chip_ip, peer_ip) {}
  peer_host peer{seg, test::peer_cfg("peer", peer_ip, 1)};
};

}  // namespace

TEST(Services, TcpEchoReturns10KiBThroughTheChipsTwoKiBBuffers) {
  bench t;
  tcp_echo_service echo(t.peer);
  ASSERT_TRUE(t.client.open_tcp(0, 40000));
  ASSERT_TRUE(t.client.connect(0, peer_ip, 7));
  const octets data = pattern(10 * 1024, 2);
  // Interleave writes and reads: the echo comes back while the chip still sends, and neither 2 KiB
  // buffer holds the whole stream.
  octets back;
  for (std::size_t off = 0; off < data.size(); off += 1024) {
    ASSERT_TRUE(t.client.send(0, octets(data.begin() + static_cast<std::ptrdiff_t>(off),
                                        data.begin() + static_cast<std::ptrdiff_t>(off + 1024))));
    const octets part = t.client.recv(0, 0);
    back.insert(back.end(), part.begin(), part.end());
  }
  const octets rest = t.read(0, data.size() - back.size(), seconds(5));
  back.insert(back.end(), rest.begin(), rest.end());
  EXPECT_EQ(back, data);
  t.client.disconnect(0);
  t.sched.run_until(t.sched.now() + seconds(2));
  EXPECT_EQ(t.client.status(0), SOCK_CLOSED);
  const auto& s = echo.stats();
  EXPECT_EQ(s.connections, 1u);
  EXPECT_EQ(s.active, 0u);
  EXPECT_EQ(s.closed, 1u);
  EXPECT_EQ(s.bytes_received, data.size());
  EXPECT_EQ(s.bytes_sent, data.size());
  EXPECT_EQ(s.bytes_acked, data.size());
  ASSERT_EQ(echo.sessions().size(), 1u);
  EXPECT_EQ(echo.sessions()[0].remote_ip, chip_ip);
  EXPECT_EQ(echo.sessions()[0].remote_port, 40000);
  EXPECT_EQ(echo.sessions()[0].close_reason, "closed");
  EXPECT_TRUE(echo.connections().empty());
}

TEST(Services, TcpDiscardCountsAndSendsNothingBack) {
  bench t;
  tcp_discard_service discard(t.peer);
  ASSERT_TRUE(t.client.open_tcp(1, 40001));
  ASSERT_TRUE(t.client.connect(1, peer_ip, 9));
  ASSERT_TRUE(t.client.send(1, pattern(5000, 3)));
  t.sched.run_until(t.sched.now() + ms(100));
  EXPECT_EQ(t.client.rx_size(1), 0);
  EXPECT_EQ(discard.stats().bytes_received, 5000u);
  EXPECT_EQ(discard.stats().bytes_sent, 0u);
  EXPECT_EQ(discard.stats().active, 1u);
  ASSERT_EQ(discard.connections().size(), 1u);
  t.client.disconnect(1);
  EXPECT_EQ(t.client.status(1), SOCK_CLOSED);
  EXPECT_EQ(discard.stats().closed, 1u);
}

TEST(Services, SlowSinkStallsTheChipOnAZeroWindowAndStillGetsEveryByte) {
  bench t;
  tcp_sink_config sc;
  sc.pause_after = 4096;
  sc.pause_for = ms(300);
  tcp_sink_service sink(t.peer, 5001, sc);
  // Count the sink's zero-window advertisements and the chip's probes of them on the wire.
  const auto zero_window = frame_filter::parse("tcp && ip.src == 10.0.0.1 && tcp.win == 0");
  const auto from_chip = frame_filter::parse("tcp && ip.src == 10.0.0.50");
  int zero_windows = 0, chip_segments = 0;
  t.seg.observe([&](segment::port_id, const octets& f, ps_t) {
    zero_windows += zero_window(f) ? 1 : 0;
    chip_segments += from_chip(f) ? 1 : 0;
  });
  ASSERT_TRUE(t.client.open_tcp(2, 40002));
  ASSERT_TRUE(t.client.connect(2, peer_ip, 5001));
  const octets data = pattern(20'000, 4);
  const ps_t t0 = t.sched.now();
  ASSERT_TRUE(t.client.send(2, data, seconds(30)));
  t.client.disconnect(2, seconds(10));
  t.sched.run_until(t.sched.now() + seconds(2));
  EXPECT_EQ(sink.received(), data);
  // A pause after each 4 KiB read; a resumed reader takes what was buffered (up to its 8 KiB window) in
  // one read, so 20 000 octets take at least 20 000 / (4096 + 8192) pauses, and at most one per 4 KiB.
  EXPECT_GE(sink.pauses(), 2u);
  EXPECT_LE(sink.pauses(), 4u);
  EXPECT_GT(zero_windows, 0) << "the paused reader closed its window";
  EXPECT_GT(t.sched.now() - t0, ms(300) * sink.pauses()) << "the reader's pauses set the pace";
  EXPECT_EQ(sink.stats().closed, 1u);
  EXPECT_EQ(sink.sessions()[0].close_reason, "closed");
  EXPECT_GT(chip_segments, 0);
}

TEST(Services, TcpSourceSends64KiBThroughTheChipAndCloses) {
  bench t;
  tcp_source_config sc;
  sc.bytes = 64 * 1024;
  sc.seed = 77;
  tcp_source_service source(t.peer, 19, sc);
  ASSERT_TRUE(t.client.open_tcp(3, 40003));
  ASSERT_TRUE(t.client.connect(3, peer_ip, 19));
  const octets got = t.client.recv_all(3, seconds(60));
  EXPECT_EQ(got.size(), sc.bytes);
  EXPECT_EQ(got, tcp_source_service::pattern(sc.bytes, 77));
  EXPECT_EQ(t.client.status(3), SOCK_CLOSE_WAIT);
  t.client.disconnect(3);
  t.sched.run_until(t.sched.now() + seconds(2));
  EXPECT_EQ(source.completed(), 1u);
  EXPECT_EQ(source.stats().closed, 1u);
  EXPECT_EQ(source.stats().bytes_acked, sc.bytes);
}

TEST(Services, SourcePatternIsDeterministicAndNotPeriodic) {
  const octets a = tcp_source_service::pattern(70'000), b = tcp_source_service::pattern(70'000);
  EXPECT_EQ(a, b);
  EXPECT_NE(tcp_source_service::pattern(1000, 1), tcp_source_service::pattern(1000, 0));
  for (std::size_t period : {1u, 2u, 251u, 256u, 1024u, 4096u, 65536u}) {
    EXPECT_FALSE(std::equal(a.begin(), a.end() - static_cast<std::ptrdiff_t>(period),
                            a.begin() + static_cast<std::ptrdiff_t>(period)))
        << "period " << period;
  }
  // The pattern continues across seeds: seed s is the pattern shifted by s.
  const octets shifted = tcp_source_service::pattern(100, 5);
  EXPECT_TRUE(std::equal(shifted.begin(), shifted.end(), a.begin() + 5));
}

TEST(Services, UdpEchoAnswersTheChip) {
  bench t;
  udp_echo_service echo(t.peer);
  ASSERT_TRUE(t.client.open_udp(4, 4000));
  for (std::size_t n : {1u, 100u, 1472u}) {
    ASSERT_TRUE(t.client.sendto(4, peer_ip, 7, pattern(n, 5)));
    auto d = t.client.recvfrom(4, ms(100));
    ASSERT_TRUE(d.has_value()) << n;
    EXPECT_EQ(d->ip, peer_ip);
    EXPECT_EQ(d->port, 7);
    EXPECT_EQ(d->data, pattern(n, 5));
  }
  EXPECT_EQ(echo.stats().datagrams, 3u);
  EXPECT_EQ(echo.stats().bytes, 1573u);
}

TEST(Services, PingerMeasuresTheChipsRoundTrip) {
  bench t;
  pinger_config pc;
  pc.count = 3;
  pc.interval = ms(100);
  pc.payload = 32;
  pinger p(t.peer, chip_ip, pc);
  int callbacks = 0;
  p.on_result = [&](const ping_result&) { ++callbacks; };
  p.start();
  t.sched.run_until(t.sched.now() + seconds(2));
  ASSERT_TRUE(p.done());
  ASSERT_EQ(p.results().size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(p.results()[i].seq, i + 1);
    ASSERT_TRUE(p.results()[i].rtt.has_value());
    EXPECT_GT(*p.results()[i].rtt, us(10));
    EXPECT_LT(*p.results()[i].rtt, ms(1));
  }
  EXPECT_EQ(p.results()[1].sent - p.results()[0].sent, ms(100));
  const auto s = p.stats();
  EXPECT_EQ(s.sent, 3u);
  EXPECT_EQ(s.received, 3u);
  EXPECT_EQ(s.lost, 0u);
  EXPECT_LE(s.min_rtt, s.avg_rtt);
  EXPECT_LE(s.avg_rtt, s.max_rtt);
  EXPECT_GT(s.min_rtt, 0u);
  EXPECT_EQ(callbacks, 3);
}

TEST(Services, PingerReportsTimeoutsForAnAbsentHost) {
  bench t;
  pinger_config pc;
  pc.count = 2;
  pc.interval = ms(500);
  pc.timeout = ms(300);
  pinger p(t.peer, ip4(10, 0, 0, 99), pc);
  p.start();
  t.sched.run_until(t.sched.now() + ms(200));
  EXPECT_FALSE(p.done());
  EXPECT_EQ(p.stats().lost, 0u) << "outstanding is not lost yet";
  t.sched.run_until(t.sched.now() + seconds(5));
  ASSERT_TRUE(p.done());
  ASSERT_EQ(p.results().size(), 2u);
  EXPECT_FALSE(p.results()[0].rtt.has_value());
  EXPECT_FALSE(p.results()[1].rtt.has_value());
  EXPECT_EQ(p.stats().lost, 2u);
  EXPECT_EQ(p.stats().received, 0u);
  EXPECT_EQ(p.stats().avg_rtt, 0u);
  p.start();
  t.sched.run_until(t.sched.now() + seconds(2));
  EXPECT_EQ(p.results().size(), 2u) << "count reached: start() sends nothing more";
}

TEST(Services, PingerRunsUntilStoppedWithCountZero) {
  bench t;
  pinger_config pc;
  pc.count = 0;
  pc.interval = ms(10);
  pinger p(t.peer, chip_ip, pc);
  p.start();
  t.sched.run_until(t.sched.now() + ms(95));
  EXPECT_TRUE(p.running());
  p.stop();
  EXPECT_FALSE(p.running());
  t.sched.run_until(t.sched.now() + seconds(2));
  EXPECT_EQ(p.results().size(), 10u);
  EXPECT_TRUE(p.done());
  EXPECT_EQ(p.stats().received, 10u);
}

TEST(Services, BadConfigurationFailsAtSetup) {
  scheduler sched;
  segment seg(sched);
  peer_host h(seg, test::peer_cfg("h", peer_ip, 1));
  tcp_sink_config sc;
  sc.pause_after = 100;
  EXPECT_THROW(tcp_sink_service(h, 5000, sc), std::invalid_argument);
  pinger_config pc;
  pc.interval = 0;
  EXPECT_THROW(pinger(h, chip_ip, pc), std::invalid_argument);
  pc = {};
  pc.payload = 1473;
  EXPECT_THROW(pinger(h, chip_ip, pc), std::invalid_argument);
  tcp_echo_service echo(h);
  EXPECT_THROW(tcp_discard_service(h, 7), std::invalid_argument) << "port 7 is taken";
  udp_echo_service uecho(h);
  EXPECT_THROW(udp_echo_service(h, 7), std::invalid_argument);
}

TEST(Services, PeerToPeerEchoAndAServiceDestroyedMidConnection) {
  scheduler sched{3};
  segment seg(sched, "lan", 3);
  peer_host a(seg, test::peer_cfg("a", peer_ip, 1));
  peer_host b(seg, test::peer_cfg("b", ip4(10, 0, 0, 2), 2));
  auto echo = std::make_unique<tcp_echo_service>(b);
  auto c = a.tcp_connect(ip4(10, 0, 0, 2), 7);
  octets back;
  c->on_data = [&](const octets& d) { back.insert(back.end(), d.begin(), d.end()); };
  c->send(pattern(3000));
  sched.run_until(ms(100));
  EXPECT_EQ(back, pattern(3000));
  EXPECT_EQ(echo->stats().active, 1u);
  // The service goes; its connection stays up without an application, and nothing calls into the dead
  // service (a sanitizer build would catch it).
  echo.reset();
  c->send(pattern(100));
  c->close();
  sched.run_until(seconds(5));
  EXPECT_EQ(back.size(), 3000u);
  tcp_echo_service again(b);  // the port is free again
  EXPECT_EQ(again.stats().connections, 0u);
}
