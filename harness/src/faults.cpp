#include "wizsim/harness/faults.hpp"

#include <stdexcept>

namespace wizsim {

const char* to_string(fault_kind k) {
  switch (k) {
    case fault_kind::drop: return "drop";
    case fault_kind::delay: return "delay";
    case fault_kind::duplicate: return "duplicate";
    case fault_kind::reorder: return "reorder";
    case fault_kind::corrupt: return "corrupt";
    case fault_kind::truncate: return "truncate";
  }
  return "?";
}

fault_kind parse_fault_kind(std::string_view s) {
  for (auto k : {fault_kind::drop, fault_kind::delay, fault_kind::duplicate, fault_kind::reorder,
                 fault_kind::corrupt, fault_kind::truncate})
    if (s == to_string(k)) return k;
  throw std::invalid_argument("unknown fault kind '" + std::string(s) +
                              "' (expected drop, delay, duplicate, reorder, corrupt or truncate)");
}

const char* to_string(link_dir d) {
  switch (d) {
    case link_dir::out: return "out";
    case link_dir::in: return "in";
    case link_dir::both: return "both";
  }
  return "?";
}

fault_injector::fault_injector(std::string link, std::uint64_t seed, diag& log)
    : m_link(std::move(link)), m_rng(seed), m_log(log) {}

void fault_injector::add(fault_rule r) {
  const std::string where = "fault on " + m_link + " (" + to_string(r.kind) + "): ";
  if (!(r.probability >= 0.0 && r.probability <= 1.0))
    throw std::invalid_argument(where + "probability must be within 0..1");
  if (r.kind == fault_kind::truncate && r.truncate_to == 0)
    throw std::invalid_argument(where + "truncate_to must be at least 1 octet");
  if ((r.kind == fault_kind::delay || r.kind == fault_kind::reorder) && r.delay == 0 && r.jitter == 0)
    throw std::invalid_argument(where + "needs a delay (or jitter) greater than 0");
  if (r.kind == fault_kind::corrupt && r.corrupt_offset < -1)
    throw std::invalid_argument(where + "corrupt_offset must be -1 (random) or an octet index");
  if (r.label.empty()) r.label = to_string(r.kind);
  m_rules.push_back(rule_state{std::move(r), 0, 0});
}

void fault_injector::clear() { m_rules.clear(); }

bool fault_injector::fires(rule_state& r) {
  ++r.matched;
  if (r.rule.limit != 0 && r.fired >= r.rule.limit) return false;
  bool fire;
  if (r.rule.nth != 0) {
    fire = r.matched == r.rule.nth;
  } else if (r.rule.probability >= 1.0) {
    fire = true;
  } else {
    // 53 random bits -> [0, 1): the same sequence on every platform.
    const double u = static_cast<double>(m_rng.next() >> 11) * (1.0 / 9007199254740992.0);
    fire = u < r.rule.probability;
  }
  if (fire) ++r.fired;
  return fire;
}

void fault_injector::record(const rule_state& r, link_dir dir, const octets& frame, const std::string& detail) {
  m_log.log(log_level::info, "fault", "{} {} on {} ({} octets){}{}", r.rule.label, to_string(dir), m_link,
            frame.size(), detail.empty() ? "" : ": ", detail);
  if (m_log.tracing())
    m_log.trace("fault", fmt::format(R"("link":"{}","kind":"{}","label":"{}","dir":"{}","len":{},"n":{},"detail":"{}")",
                                     json_escape(m_link), to_string(r.rule.kind), json_escape(r.rule.label),
                                     to_string(dir), frame.size(), r.fired, json_escape(detail)));
}

std::vector<fault_injector::delivery> fault_injector::apply(octets frame, link_dir dir) {
  ++m_stats.considered;
  std::vector<delivery> out;
  delivery main{std::move(frame), 0};
  bool duplicate = false;
  for (auto& r : m_rules) {
    if ((static_cast<unsigned>(r.rule.dir) & static_cast<unsigned>(dir)) == 0) continue;
    if (!r.rule.match(main.frame)) continue;
    if (!fires(r)) continue;
    switch (r.rule.kind) {
      case fault_kind::drop:
        ++m_stats.dropped;
        record(r, dir, main.frame, "");
        return out;
      case fault_kind::delay: {
        const ps_t extra = r.rule.delay + (r.rule.jitter ? m_rng.below(r.rule.jitter + 1) : 0);
        main.extra_delay += extra;
        ++m_stats.delayed;
        record(r, dir, main.frame, format_time(extra));
        break;
      }
      case fault_kind::reorder: {
        // Held back long enough for the frames behind it to overtake it.
        const ps_t hold = r.rule.delay + (r.rule.jitter ? m_rng.below(r.rule.jitter + 1) : 0);
        main.extra_delay += hold;
        ++m_stats.reordered;
        record(r, dir, main.frame, "held " + format_time(hold));
        break;
      }
      case fault_kind::duplicate:
        duplicate = true;
        ++m_stats.duplicated;
        record(r, dir, main.frame, "");
        break;
      case fault_kind::corrupt: {
        if (main.frame.empty()) break;
        std::size_t at;
        if (r.rule.corrupt_offset >= 0) {
          at = static_cast<std::size_t>(r.rule.corrupt_offset);
          if (at >= main.frame.size()) at = main.frame.size() - 1;
        } else if (main.frame.size() > eth_header_len) {
          at = eth_header_len + m_rng.below(main.frame.size() - eth_header_len);
        } else {
          at = m_rng.below(main.frame.size());
        }
        std::uint8_t mask = r.rule.corrupt_mask;
        while (mask == 0) mask = m_rng.byte();
        main.frame[at] ^= mask;
        ++m_stats.corrupted;
        record(r, dir, main.frame, fmt::format("octet {} ^= 0x{:02x}", at, mask));
        break;
      }
      case fault_kind::truncate:
        if (main.frame.size() > r.rule.truncate_to) {
          record(r, dir, main.frame, fmt::format("cut to {}", r.rule.truncate_to));
          main.frame.resize(r.rule.truncate_to);
          ++m_stats.truncated;
        }
        break;
    }
  }
  if (duplicate) out.push_back(delivery{main.frame, main.extra_delay});
  out.push_back(std::move(main));
  return out;
}

}  // namespace wizsim
