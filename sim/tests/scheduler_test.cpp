#include <gtest/gtest.h>

#include <vector>

#include "wizsim/scheduler.hpp"

using namespace wizsim;

TEST(scheduler, events_run_in_time_order_and_equal_times_in_insertion_order) {
  scheduler s;
  std::vector<int> order;
  s.at(ns(30), [&] { order.push_back(3); });
  s.at(ns(10), [&] { order.push_back(1); });
  s.at(ns(20), [&] { order.push_back(20); });
  s.at(ns(20), [&] { order.push_back(21); });
  s.at(ns(20), [&] { order.push_back(22); });
  s.advance_to(ns(25));
  EXPECT_EQ(order, (std::vector<int>{1, 20, 21, 22}));
  EXPECT_EQ(s.now(), ns(25));
  s.advance_to(ns(30));
  EXPECT_EQ(order.back(), 3);
}

TEST(scheduler, callback_sees_its_own_time_and_can_schedule_within_the_advance) {
  scheduler s;
  std::vector<ps_t> seen;
  s.at(ns(5), [&] {
    seen.push_back(s.now());
    s.after(ns(5), [&] { seen.push_back(s.now()); });
  });
  s.advance_by(ns(100));
  EXPECT_EQ(seen, (std::vector<ps_t>{ns(5), ns(10)}));
  EXPECT_EQ(s.now(), ns(100));
}

TEST(scheduler, cancelled_event_never_runs_and_stale_ids_do_not_cancel_reused_slots) {
  scheduler s;
  int a = 0, b = 0;
  auto id = s.at(ns(10), [&] { ++a; });
  EXPECT_TRUE(s.cancel(id));
  EXPECT_FALSE(s.cancel(id));
  auto id2 = s.at(ns(10), [&] { ++b; });  // likely reuses the slot
  EXPECT_FALSE(s.cancel(id));              // the stale id must not hit the new event
  s.advance_by(ns(20));
  EXPECT_EQ(a, 0);
  EXPECT_EQ(b, 1);
  EXPECT_FALSE(s.cancel(id2));
  EXPECT_EQ(s.pending(), 0u);
}

TEST(scheduler, time_never_goes_backwards_and_past_events_run_now) {
  scheduler s;
  s.advance_to(ns(50));
  s.advance_to(ns(10));
  EXPECT_EQ(s.now(), ns(50));
  ps_t when = 0;
  s.at(ns(1), [&] { when = s.now(); });
  s.run_next();
  EXPECT_EQ(when, ns(50));
}

TEST(scheduler, run_until_stops_at_limit) {
  scheduler s;
  int n = 0;
  for (int i = 1; i <= 5; ++i) s.at(us(i), [&] { ++n; });
  EXPECT_EQ(s.run_until(us(3)), 3u);
  EXPECT_EQ(n, 3);
  EXPECT_EQ(s.now(), us(3));
  EXPECT_EQ(s.run_until(never), 2u);
  EXPECT_EQ(s.now(), us(5));
}

TEST(rng, same_seed_same_stream_different_seed_different_stream) {
  rng a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const auto x = a.next();
    EXPECT_EQ(x, b.next());
    differs |= x != c.next();
  }
  EXPECT_TRUE(differs);
}

TEST(rng, known_first_output_pins_the_algorithm) {
  // xoshiro256** seeded by splitmix64(0): fixed by the algorithm, so this must hold on every platform.
  rng r(0);
  const std::uint64_t first = r.next();
  rng again(0);
  EXPECT_EQ(first, again.next());
  EXPECT_EQ(first, 0x99EC5F36CB75F2B4ull);
}

TEST(rng, below_stays_in_range) {
  rng r(7);
  for (int i = 0; i < 1000; ++i) EXPECT_LT(r.below(10), 10u);
  EXPECT_EQ(r.below(0), 0u);
}
