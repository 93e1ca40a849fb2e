// Fault injection on a link: every kind, "the Nth matching frame", probabilities reproduced by the seed,
// and the trace of what was done.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "wizsim/harness/segment.hpp"

using namespace wizsim;

namespace {

const mac_addr mac_a{0x02, 0, 0, 0, 0, 0x0A};

// Station a sends numbered frames (the number in octet 14) to b; b records what arrives and when.
struct link_bench {
  scheduler sched{3};
  segment seg;
  segment::port_id a, b;
  std::vector<std::pair<octets, ps_t>> got;
  explicit link_bench(std::uint64_t seed = 1) : seg(sched, "lan", seed) {
    a = seg.attach("a", nullptr);
    b = seg.attach("b", [this](const octets& f) { got.emplace_back(f, sched.now()); });
  }
  void send(int n, std::size_t len = 60) {
    octets f = build_eth(broadcast_mac, mac_a, 0x88B5, octets(len - 14, 0));
    f[14] = static_cast<std::uint8_t>(n);
    seg.transmit(a, f);
  }
  void send_spaced(int count, ps_t gap = us(100)) {
    for (int i = 0; i < count; ++i) {
      send(i);
      sched.advance_by(gap);
    }
    sched.run_until(never);
  }
  std::vector<int> order() const {
    std::vector<int> v;
    for (auto& g : got) v.push_back(g.first.size() > 14 ? g.first[14] : -1);
    return v;
  }
};

frame_filter number_is(int n) {
  return frame_filter::from([n](const std::uint8_t* f, std::size_t len) { return len > 14 && f[14] == n; },
                            "frame number " + std::to_string(n));
}

fault_rule rule(fault_kind k) {
  fault_rule r;
  r.kind = k;
  return r;
}

}  // namespace

TEST(Faults, DropsExactlyTheNthMatchingFrame) {
  link_bench t;
  fault_rule r = rule(fault_kind::drop);
  r.nth = 3;
  t.seg.faults(t.a).add(r);
  t.send_spaced(6);
  EXPECT_EQ(t.order(), (std::vector<int>{0, 1, 3, 4, 5}));
  EXPECT_EQ(t.seg.faults(t.a).stats().dropped, 1u);
}

TEST(Faults, FilterSelectsWhichFramesCount) {
  link_bench t;
  fault_rule r = rule(fault_kind::drop);
  r.match = number_is(4);
  t.seg.faults(t.a).add(r);
  t.send_spaced(6);
  EXPECT_EQ(t.order(), (std::vector<int>{0, 1, 2, 3, 5}));
}

TEST(Faults, ProbabilisticDropsAreReproducedBySeedAndVaryWithIt) {
  auto run = [](std::uint64_t seed) {
    link_bench t(seed);
    fault_rule r = rule(fault_kind::drop);
    r.probability = 0.3;
    t.seg.faults(t.a).add(r);
    t.send_spaced(200, us(20));
    return t.order();
  };
  const auto first = run(11), again = run(11), other = run(12);
  EXPECT_EQ(first, again);
  EXPECT_NE(first, other);
  EXPECT_GT(first.size(), 110u);  // about 140 of 200 survive
  EXPECT_LT(first.size(), 170u);
}

TEST(Faults, LimitStopsARuleAfterItFiredEnoughTimes) {
  link_bench t;
  fault_rule r = rule(fault_kind::drop);
  r.limit = 2;
  t.seg.faults(t.a).add(r);
  t.send_spaced(5);
  EXPECT_EQ(t.order(), (std::vector<int>{2, 3, 4}));
}

TEST(Faults, DelayAddsLatencyAndJitterStaysWithinItsBound) {
  link_bench plain;
  plain.send_spaced(1);
  const ps_t base = plain.got.at(0).second;

  link_bench t;
  fault_rule r = rule(fault_kind::delay);
  r.delay = ms(3);
  r.jitter = us(500);
  t.seg.faults(t.a).add(r);
  t.send(0);
  t.sched.run_until(never);
  ASSERT_EQ(t.got.size(), 1u);
  EXPECT_GE(t.got[0].second, base + ms(3));
  EXPECT_LE(t.got[0].second, base + ms(3) + us(500));
}

TEST(Faults, DuplicateDeliversTheFrameTwice) {
  link_bench t;
  fault_rule r = rule(fault_kind::duplicate);
  r.match = number_is(1);
  t.seg.faults(t.a).add(r);
  t.send_spaced(3);
  EXPECT_EQ(t.order(), (std::vector<int>{0, 1, 1, 2}));
}

TEST(Faults, ReorderLetsLaterFramesOvertake) {
  link_bench t;
  fault_rule r = rule(fault_kind::reorder);
  r.nth = 1;
  r.delay = us(250);
  t.seg.faults(t.a).add(r);
  t.send_spaced(4);
  EXPECT_EQ(t.order(), (std::vector<int>{1, 2, 0, 3}));
}

TEST(Faults, CorruptFlipsOneOctetWithTheMask) {
  link_bench t;
  fault_rule r = rule(fault_kind::corrupt);
  r.corrupt_offset = 20;
  r.corrupt_mask = 0x81;
  t.seg.faults(t.a).add(r);
  t.send(7, 100);
  t.sched.run_until(never);
  ASSERT_EQ(t.got.size(), 1u);
  octets expect = build_eth(broadcast_mac, mac_a, 0x88B5, octets(86, 0));
  expect[14] = 7;
  expect[20] ^= 0x81;
  EXPECT_EQ(t.got[0].first, expect);
}

TEST(Faults, RandomCorruptionSparesTheEthernetHeader) {
  link_bench t;
  t.seg.faults(t.a).add(rule(fault_kind::corrupt));
  for (int i = 0; i < 20; ++i) t.send(0, 200);
  t.sched.run_until(never);
  ASSERT_EQ(t.got.size(), 20u);
  for (auto& g : t.got) {
    int diffs = 0;
    for (std::size_t i = 0; i < g.first.size(); ++i) diffs += g.first[i] != (i == 14 ? 0 : i < 14 ? g.first[i] : 0);
    EXPECT_EQ(diffs, 1);
    EXPECT_EQ(g.first[12], 0x88) << "the header is intact";
  }
}

TEST(Faults, TruncateCutsTheFrame) {
  link_bench t;
  fault_rule r = rule(fault_kind::truncate);
  r.truncate_to = 40;
  t.seg.faults(t.a).add(r);
  t.send(0, 300);
  t.sched.run_until(never);
  ASSERT_EQ(t.got.size(), 1u);
  EXPECT_EQ(t.got[0].first.size(), 40u);
}

TEST(Faults, DirectionSelectsTheSideOfTheLink) {
  link_bench t;
  fault_rule r = rule(fault_kind::drop);
  r.dir = link_dir::in;  // towards station a: a's own sends are untouched
  t.seg.faults(t.a).add(r);
  t.send_spaced(2);
  EXPECT_EQ(t.order().size(), 2u);
  r.dir = link_dir::in;
  t.seg.faults(t.b).add(r);
  t.send_spaced(2);
  EXPECT_EQ(t.order().size(), 2u) << "now dropped on the way into b";
}

TEST(Faults, BadRulesAreRejectedWithAReason) {
  link_bench t;
  fault_rule r = rule(fault_kind::drop);
  r.probability = 1.5;
  EXPECT_THROW(t.seg.faults(t.a).add(r), std::invalid_argument);
  EXPECT_THROW(t.seg.faults(t.a).add(rule(fault_kind::truncate)), std::invalid_argument);
  EXPECT_THROW(t.seg.faults(t.a).add(rule(fault_kind::delay)), std::invalid_argument);
  EXPECT_THROW(parse_fault_kind("explode"), std::invalid_argument);
  EXPECT_EQ(parse_fault_kind("reorder"), fault_kind::reorder);
  EXPECT_EQ(t.seg.faults(t.a).size(), 0u);
}

TEST(Faults, EveryInjectedFaultIsInTheTrace) {
  link_bench t;
  std::vector<std::string> lines;
  t.seg.set_trace_sink([&](std::string_view l) { lines.emplace_back(l); });
  fault_rule r = rule(fault_kind::drop);
  r.nth = 2;
  r.label = "lose-second";
  t.seg.faults(t.a).add(r);
  t.send_spaced(3);
  std::vector<std::string> faults;
  for (auto& l : lines)
    if (l.find(R"("ev":"fault")") != std::string::npos) faults.push_back(l);
  ASSERT_EQ(faults.size(), 1u);
  EXPECT_NE(faults[0].find("\"label\":\"lose-second\""), std::string::npos) << faults[0];
  EXPECT_NE(faults[0].find("\"link\":\"lan.a\""), std::string::npos) << faults[0];
  EXPECT_EQ(lines.size(), 3u) << "the two frames that reached the switch are traced too";
}
