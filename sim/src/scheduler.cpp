#include "wizsim/scheduler.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace wizsim {

std::string format_time(ps_t t) {
  // Milliseconds with picosecond-exact fraction trimmed to 6 digits (ns resolution).
  const ps_t whole_ms = t / ps_per_ms;
  const ps_t frac_ns = (t % ps_per_ms) / ps_per_ns;
  return fmt::format("{}.{:06}ms", whole_ms, frac_ns);
}

static std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void rng::reseed(std::uint64_t seed) {
  std::uint64_t x = seed;
  for (auto& s : m_s) s = splitmix64(x);
}

static inline std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

std::uint64_t rng::next() {
  const std::uint64_t result = rotl(m_s[1] * 5, 7) * 9;
  const std::uint64_t t = m_s[1] << 17;
  m_s[2] ^= m_s[0];
  m_s[3] ^= m_s[1];
  m_s[1] ^= m_s[2];
  m_s[0] ^= m_s[3];
  m_s[2] ^= t;
  m_s[3] = rotl(m_s[3], 45);
  return result;
}

std::uint64_t rng::below(std::uint64_t bound) {
  if (bound == 0) return 0;
  const std::uint64_t limit = ~std::uint64_t{0} - (~std::uint64_t{0} % bound);
  std::uint64_t v;
  do v = next();
  while (v >= limit);
  return v % bound;
}

scheduler::event_id scheduler::at(ps_t when, callback cb) {
  if (when < m_now) when = m_now;
  std::uint32_t idx;
  if (!m_free.empty()) {
    idx = m_free.back();
    m_free.pop_back();
  } else {
    idx = static_cast<std::uint32_t>(m_slots.size());
    m_slots.emplace_back();
  }
  const std::uint64_t seq = ++m_seq;
  m_slots[idx].cb = std::move(cb);
  m_slots[idx].seq = seq;
  m_heap.push_back(entry{when, seq, idx});
  std::push_heap(m_heap.begin(), m_heap.end(), later);
  ++m_live;
  // The id packs the slot and the sequence so a stale id never cancels a reused slot.
  return event_id{(seq << 20) | idx};
}

bool scheduler::cancel(event_id id) {
  if (!id) return false;
  const auto idx = static_cast<std::uint32_t>(id.value & 0xFFFFF);
  const std::uint64_t seq = id.value >> 20;
  if (idx >= m_slots.size() || m_slots[idx].seq != seq || seq == 0) return false;
  m_slots[idx].seq = 0;
  m_slots[idx].cb = nullptr;
  m_free.push_back(idx);
  --m_live;
  return true;  // the heap entry stays and is skipped when it surfaces
}

bool scheduler::pop_and_run() {
  std::pop_heap(m_heap.begin(), m_heap.end(), later);
  const entry e = m_heap.back();
  m_heap.pop_back();
  slot& s = m_slots[e.slot];
  if (s.seq != e.seq) return false;  // cancelled
  callback cb = std::move(s.cb);
  s.cb = nullptr;
  s.seq = 0;
  m_free.push_back(e.slot);
  --m_live;
  m_now = e.when;
  cb();
  return true;
}

void scheduler::run_due(ps_t t) {
  while (!m_heap.empty() && m_heap.front().when <= t) pop_and_run();
}

bool scheduler::run_next() {
  while (!m_heap.empty()) {
    if (pop_and_run()) return true;
  }
  return false;
}

std::size_t scheduler::run_until(ps_t limit) {
  std::size_t n = 0;
  while (!m_heap.empty() && m_heap.front().when <= limit) {
    if (pop_and_run()) ++n;
  }
  if (limit != never && limit > m_now) m_now = limit;
  return n;
}

}  // namespace wizsim
