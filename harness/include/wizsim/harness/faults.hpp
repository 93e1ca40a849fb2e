// Fault injection on one link of a segment: drop, delay/jitter, duplicate, reorder, corrupt, truncate.
// (Link down/up is a property of the link itself: segment::set_link_up.)
//
// Every decision comes from the injector's own generator, seeded from the segment's seed and the link's
// name, so a run is reproduced exactly by its seed and adding a rule on one link does not change the
// random choices on another. Every fault applied is counted and written to the trace.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "wizsim/diag.hpp"
#include "wizsim/harness/filter.hpp"
#include "wizsim/packet.hpp"
#include "wizsim/scheduler.hpp"

namespace wizsim {

enum class fault_kind : std::uint8_t { drop, delay, duplicate, reorder, corrupt, truncate };
const char* to_string(fault_kind k);
// Parses "drop", "delay", ...; throws std::invalid_argument on anything else.
fault_kind parse_fault_kind(std::string_view s);

// Direction on a link, seen from the station: `out` = station -> switch, `in` = switch -> station.
enum class link_dir : std::uint8_t { out = 1, in = 2, both = 3 };
const char* to_string(link_dir d);

struct fault_rule {
  fault_kind kind = fault_kind::drop;
  link_dir dir = link_dir::both;
  frame_filter match;          // which frames the rule considers (default: all)
  double probability = 1.0;    // chance the rule fires on a considered frame (ignored when nth is set)
  std::uint64_t nth = 0;       // > 0: fire on exactly the nth matching frame (1-based), then never again
  std::uint64_t limit = 0;     // > 0: fire at most this many times
  ps_t delay = 0;              // delay: extra latency; reorder: how long the frame is held back
  ps_t jitter = 0;             // delay: plus a uniform random 0..jitter
  std::size_t truncate_to = 0; // truncate: keep this many octets (at least 1)
  int corrupt_offset = -1;     // corrupt: octet to flip (-1: a random octet past the Ethernet header)
  std::uint8_t corrupt_mask = 0;  // corrupt: XOR mask (0: a random non-zero mask)
  std::string label;           // shown in the trace; defaults to the kind
};

struct fault_stats {
  std::uint64_t considered = 0;  // frames that crossed the link
  std::uint64_t dropped = 0, delayed = 0, duplicated = 0, reordered = 0, corrupted = 0, truncated = 0;
};

class fault_injector {
 public:
  // `link` names the link in traces; `seed` is mixed with it.
  fault_injector(std::string link, std::uint64_t seed, diag& log);

  // Validates (probability in [0,1], truncate_to >= 1 for truncate, ...) and appends; throws
  // std::invalid_argument with a clear message otherwise. Rules are applied in the order added.
  void add(fault_rule r);
  void clear();
  std::size_t size() const { return m_rules.size(); }

  struct delivery {
    octets frame;
    ps_t extra_delay = 0;
  };
  // Applies the rules to one frame crossing in `dir` (out or in). Returns what to deliver: nothing
  // (dropped), the frame (possibly altered and/or delayed) and possibly a duplicate.
  std::vector<delivery> apply(octets frame, link_dir dir);

  const fault_stats& stats() const { return m_stats; }

 private:
  struct rule_state {
    fault_rule rule;
    std::uint64_t matched = 0;
    std::uint64_t fired = 0;
  };
  bool fires(rule_state& r);
  void record(const rule_state& r, link_dir dir, const octets& frame, const std::string& detail);

  std::string m_link;
  rng m_rng;
  diag& m_log;
  std::vector<rule_state> m_rules;
  fault_stats m_stats;
};

}  // namespace wizsim
