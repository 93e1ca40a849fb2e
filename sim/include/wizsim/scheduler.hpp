// The one discrete-event scheduler that owns virtual time.
//
// Events fire in (time, insertion order): two events scheduled for the same picosecond run in the order
// they were scheduled, on every run, on every machine. Randomness comes from a seeded generator that the
// scheduler owns, so a seed reproduces a whole run.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "wizsim/time.hpp"

namespace wizsim {

// xoshiro256** seeded through splitmix64: a small generator whose output is fixed by the algorithm, not by
// the standard library's implementation, so seeds reproduce across compilers.
class rng {
 public:
  explicit rng(std::uint64_t seed = 1) { reseed(seed); }
  void reseed(std::uint64_t seed);
  std::uint64_t next();
  // Uniform in [0, bound) without modulo bias; bound 0 returns 0.
  std::uint64_t below(std::uint64_t bound);
  std::uint8_t byte() { return static_cast<std::uint8_t>(next() >> 56); }

 private:
  std::uint64_t m_s[4]{};
};

class scheduler {
 public:
  using callback = std::function<void()>;

  // Opaque handle; 0 is never a valid event.
  struct event_id {
    std::uint64_t value = 0;
    explicit operator bool() const { return value != 0; }
  };

  explicit scheduler(std::uint64_t seed = 1) : m_rng(seed) {}
  scheduler(const scheduler&) = delete;
  scheduler& operator=(const scheduler&) = delete;

  ps_t now() const { return m_now; }
  // Stable address of the clock, for components that stamp logs without owning the scheduler.
  const ps_t* clock() const { return &m_now; }
  // Time of the earliest pending event (possibly a cancelled one), or `never`.
  ps_t next_due() const { return m_heap.empty() ? never : m_heap.front().when; }
  std::size_t pending() const { return m_live; }

  // Schedules `cb` at absolute time `when` (clamped to now: the past cannot be scheduled).
  event_id at(ps_t when, callback cb);
  event_id after(ps_t delay, callback cb) { return at(m_now + delay, std::move(cb)); }
  // Cancels a pending event; returns false if it already ran or was cancelled.
  bool cancel(event_id id);

  // Runs every event due at or before `t` in order, then sets now = t. Time never goes backwards.
  void advance_to(ps_t t) {
    if (t < m_now) return;
    if (next_due() <= t) run_due(t);
    m_now = t;
  }
  void advance_by(ps_t dt) { advance_to(m_now + dt); }
  // Runs the next pending event (advancing time to it). Returns false when nothing is pending.
  bool run_next();
  // Runs events until none is left or the next is after `limit`; then now = min(limit, last event time)
  // if `limit` is never, else limit. Returns the number of events run.
  std::size_t run_until(ps_t limit);

  rng& random() { return m_rng; }
  std::uint64_t seed_used() const { return m_seed; }

 private:
  struct entry {
    ps_t when;
    std::uint64_t seq;
    std::uint32_t slot;
  };
  struct slot {
    callback cb;
    std::uint64_t seq = 0;  // 0 = free
  };
  static bool later(const entry& a, const entry& b) {
    return a.when != b.when ? a.when > b.when : a.seq > b.seq;
  }
  void run_due(ps_t t);
  bool pop_and_run();

  ps_t m_now = 0;
  std::uint64_t m_seq = 0;
  std::size_t m_live = 0;
  std::vector<entry> m_heap;
  std::vector<slot> m_slots;
  std::vector<std::uint32_t> m_free;
  rng m_rng;
  std::uint64_t m_seed = 1;
};

}  // namespace wizsim
