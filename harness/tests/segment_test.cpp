// The virtual switch: store-and-forward timing, MAC learning and flooding, link state, malformed frames,
// captures and the trace.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "tshark_util.hpp"
#include "wizsim/harness/artifacts.hpp"
#include "wizsim/harness/segment.hpp"
#include "wizsim/pcap.hpp"
#include "wizsim/w5500.hpp"

using namespace wizsim;

namespace {

const mac_addr mac_a{0x02, 0, 0, 0, 0, 0x0A}, mac_b{0x02, 0, 0, 0, 0, 0x0B}, mac_c{0x02, 0, 0, 0, 0, 0x0C};

struct received {
  octets frame;
  ps_t at;
};

struct three_stations {
  scheduler sched{7};
  segment seg{sched, "lan"};
  std::vector<received> got[3];
  segment::port_id port[3];
  explicit three_stations(link_config cfg = {}) {
    for (int i = 0; i < 3; ++i)
      port[i] = seg.attach(std::string("st") + char('a' + i),
                           [this, i](const octets& f) { got[i].push_back({f, sched.now()}); }, cfg);
  }
};

octets frame_to(const mac_addr& dst, const mac_addr& src, std::size_t payload = 46) {
  return build_eth(dst, src, 0x88B5, octets(payload, 0x5A));
}

// Bits on the wire for a frame of `len` octets: padded to 60, + FCS 4, preamble 8, inter-frame gap 12.
ps_t wire(std::size_t len, std::uint64_t bps = 100'000'000) {
  return static_cast<ps_t>(std::max<std::size_t>(len, 60) + 24) * 8 * ps_per_s / bps;
}

}  // namespace

TEST(Segment, DeliversAfterTwoSerializationsAndTwoLinkDelays) {
  three_stations t;
  t.seg.transmit(t.port[0], frame_to(broadcast_mac, mac_a, 100));
  t.sched.run_until(never);
  ASSERT_EQ(t.got[1].size(), 1u);
  const std::size_t len = t.got[1][0].frame.size();
  EXPECT_EQ(len, 114u);
  EXPECT_EQ(t.got[1][0].at, 2 * wire(len) + 2 * ns(500));
  EXPECT_TRUE(t.got[0].empty()) << "the sender does not hear its own frame";
}

TEST(Segment, BackToBackFramesQueueOnTheSendersLink) {
  three_stations t;
  for (int i = 0; i < 3; ++i) t.seg.transmit(t.port[0], frame_to(broadcast_mac, mac_a, 1000));
  t.sched.run_until(never);
  ASSERT_EQ(t.got[1].size(), 3u);
  EXPECT_EQ(t.got[1][1].at - t.got[1][0].at, wire(1014));
  EXPECT_EQ(t.got[1][2].at - t.got[1][1].at, wire(1014));
}

TEST(Segment, SlowerLinkTakesLongerToSerialize) {
  scheduler sched;
  segment seg(sched);
  ps_t at = 0;
  const auto fast = seg.attach("fast", nullptr);
  seg.attach("slow", [&](const octets&) { at = sched.now(); }, link_config{ns(500), 10'000'000});
  seg.transmit(fast, frame_to(broadcast_mac, mac_a, 200));
  sched.run_until(never);
  EXPECT_EQ(at, wire(214) + wire(214, 10'000'000) + 2 * ns(500));
}

TEST(Segment, FloodsUnknownUnicastThenLearnsWhereAnAddressLives) {
  three_stations t;
  t.seg.transmit(t.port[0], frame_to(mac_b, mac_a));  // b unknown: flooded
  t.sched.run_until(never);
  EXPECT_EQ(t.got[1].size(), 1u);
  EXPECT_EQ(t.got[2].size(), 1u);
  t.seg.transmit(t.port[1], frame_to(mac_a, mac_b));  // a was learned: only a
  t.sched.run_until(never);
  EXPECT_EQ(t.got[0].size(), 1u);
  EXPECT_EQ(t.got[2].size(), 1u);
  t.seg.transmit(t.port[0], frame_to(mac_b, mac_a));  // b learned now
  t.sched.run_until(never);
  EXPECT_EQ(t.got[1].size(), 2u);
  EXPECT_EQ(t.got[2].size(), 1u);
}

TEST(Segment, BroadcastAndMulticastReachEveryOtherStation) {
  three_stations t;
  t.seg.transmit(t.port[1], frame_to(broadcast_mac, mac_b));
  t.seg.transmit(t.port[1], frame_to(mac_addr{0x01, 0x00, 0x5E, 1, 2, 3}, mac_b));
  t.sched.run_until(never);
  EXPECT_EQ(t.got[0].size(), 2u);
  EXPECT_EQ(t.got[2].size(), 2u);
  EXPECT_TRUE(t.got[1].empty());
}

TEST(Segment, ADownLinkCarriesNothingInEitherDirection) {
  three_stations t;
  t.seg.set_link_up(t.port[1], false);
  EXPECT_FALSE(t.seg.link_up(t.port[1]));
  t.seg.transmit(t.port[0], frame_to(broadcast_mac, mac_a));
  t.seg.transmit(t.port[1], frame_to(broadcast_mac, mac_b));
  t.sched.run_until(never);
  EXPECT_TRUE(t.got[1].empty());
  EXPECT_EQ(t.got[2].size(), 1u) << "only a's frame reaches c";
  EXPECT_EQ(t.seg.stats(t.port[1]).dropped_link_down, 2u);
}

TEST(Segment, ScheduledLinkChangesHappenAtTheirTime) {
  three_stations t;
  t.seg.schedule_link(t.port[1], ms(1), false);
  t.seg.schedule_link(t.port[1], ms(2), true);
  t.sched.advance_to(us(1500));
  EXPECT_FALSE(t.seg.link_up(t.port[1]));
  t.sched.advance_to(ms(3));
  EXPECT_TRUE(t.seg.link_up(t.port[1]));
}

TEST(Segment, AChipSeesItsCableUnpluggedWhenItsLinkGoesDown) {
  scheduler sched;
  w5500 chip(sched);
  segment seg(sched);
  const auto p = seg.attach(chip, "chip");
  sched.advance_by(seconds(4));  // auto-negotiation
  ASSERT_TRUE(chip.link_up());
  seg.set_link_up(p, false);
  sched.advance_by(ms(10));
  EXPECT_FALSE(chip.link_up());
  seg.set_link_up(p, true);
  sched.advance_by(seconds(4));
  EXPECT_TRUE(chip.link_up());
}

TEST(Segment, RejectsFramesEthernetCannotCarry) {
  three_stations t;
  t.seg.transmit(t.port[0], octets(13, 0xFF));
  t.seg.transmit(t.port[0], octets(1515, 0xFF));
  t.sched.run_until(never);
  EXPECT_TRUE(t.got[1].empty());
  EXPECT_EQ(t.seg.stats(t.port[0]).dropped_malformed, 2u);
  EXPECT_EQ(t.seg.stats(t.port[0]).frames_out, 0u);
}

TEST(Segment, PortNamesAreUniqueAndLookedUp) {
  three_stations t;
  EXPECT_THROW(t.seg.attach("stb", nullptr), std::invalid_argument);
  EXPECT_THROW(t.seg.attach("", nullptr), std::invalid_argument);
  EXPECT_EQ(t.seg.find_port("stc"), t.port[2]);
  EXPECT_EQ(t.seg.find_port("nope"), -1);
  EXPECT_THROW(t.seg.stats(99), std::out_of_range);
}

TEST(Segment, ADetachedStationGetsNothingAlreadyInFlight) {
  three_stations t;
  t.seg.transmit(t.port[0], frame_to(broadcast_mac, mac_a));
  t.sched.advance_by(ns(100));
  t.seg.detach(t.port[1]);
  t.sched.run_until(never);
  EXPECT_TRUE(t.got[1].empty());
  EXPECT_EQ(t.got[2].size(), 1u);
}

TEST(Segment, CaptureRecordsEachFrameOnceStampedWhenItReachedTheSwitch) {
  three_stations t;
  const std::string path = ::testing::TempDir() + "wizsim_segment_capture.pcap";
  t.seg.capture(path);
  t.seg.transmit(t.port[0], frame_to(broadcast_mac, mac_a, 100));
  t.seg.transmit(t.port[2], frame_to(mac_a, mac_c, 100));
  t.sched.run_until(never);
  t.seg.stop_capture();
  std::FILE* f = std::fopen(path.c_str(), "rb");
  ASSERT_NE(f, nullptr);
  std::vector<std::uint8_t> bytes(4096);
  bytes.resize(std::fread(bytes.data(), 1, bytes.size(), f));
  std::fclose(f);
  std::remove(path.c_str());
  ASSERT_EQ(bytes.size(), 24u + 2 * (16 + 114));
  // First record: arrived in the switch after one serialization and one link delay.
  const std::uint32_t nsec = bytes[28] | bytes[29] << 8 | bytes[30] << 16 | static_cast<std::uint32_t>(bytes[31]) << 24;
  EXPECT_EQ(nsec, (wire(114) + ns(500)) / 1000);
}

TEST(Segment, TraceRecordsAttachmentsAndLinkChanges) {
  scheduler sched;
  segment seg(sched, "lan");
  std::vector<std::string> lines;
  seg.set_trace_sink([&](std::string_view l) { lines.emplace_back(l); });
  const auto p = seg.attach("x", nullptr);
  seg.set_link_up(p, false);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("\"attach\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("\"up\":false"), std::string::npos) << lines[1];
  seg.set_link_up(p, true);
  seg.transmit(p, build_eth(broadcast_mac, mac_a, 0x88B5, octets(46, 0)));
  sched.run_until(never);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_NE(lines[3].find(R"("ev":"frame","from":"x","len":60,"dst":"ff:ff:ff:ff:ff:ff","src":"02:00:00:00:00:0a","type":"0x88b5")"),
            std::string::npos)
      << lines[3];
  diag other("lan.other", sched.clock());
  seg.adopt(other);
  EXPECT_TRUE(other.tracing()) << "adopted diags follow the segment's sinks";
  seg.disown(other);
}

TEST(Artifacts, ARunLeavesItsCaptureTraceAndLogInOneDirectory) {
  const std::string dir = ::testing::TempDir() + "wizsim_artifacts_" + std::to_string(::getpid()) + "/run1";
  {
    scheduler sched;
    segment seg(sched, "lan");
    const auto a = seg.attach("a", nullptr);
    seg.attach("b", nullptr);
    run_artifacts art(dir);
    art.record(seg);
    seg.set_link_up(a, false);
    seg.set_link_up(a, true);
    seg.transmit(a, build_eth(broadcast_mac, mac_a, 0x88B5, octets(46, 1)));
    sched.run_until(never);
    EXPECT_EQ(art.trace_lines(), 3u) << "two link changes and the frame";
  }
  auto size_of = [](const std::string& p) {
    std::FILE* f = std::fopen(p.c_str(), "rb");
    if (!f) return -1L;
    std::fseek(f, 0, SEEK_END);
    const long n = std::ftell(f);
    std::fclose(f);
    return n;
  };
  EXPECT_EQ(size_of(dir + "/lan.pcap"), 24 + 16 + 60);
  EXPECT_GT(size_of(dir + "/trace.jsonl"), 0);
  EXPECT_GT(size_of(dir + "/log.txt"), 0) << "link changes are logged at info level";
  EXPECT_THROW(run_artifacts("/proc/wizsim-cannot-exist/x"), std::runtime_error);
}
