// Private to the scenario engine: the loaded scenario (the validated YAML tree plus what the loader
// already parsed) and the value parsers shared by the loader (which reports their failures with a
// position) and the executor (which only reads values the loader has accepted).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "wizsim/harness/scenario.hpp"
#include "wizsim/packet.hpp"
#include "wizsim/time.hpp"

namespace wizsim::scenario {

struct scenario {
  std::string name, file, description;
  std::vector<std::string> tags;
  std::uint64_t seed = 1;
  ps_t budget = seconds(300);
  YAML::Node root;  // validated: the executor reads it without further checks
};

namespace detail {

// Each returns nullopt when the text is not of that type.
std::optional<ps_t> parse_duration(const std::string& s);
std::optional<std::uint64_t> parse_size(const std::string& s);
std::optional<std::uint64_t> parse_speed(const std::string& s);
std::optional<ip4_addr> parse_ip(const std::string& s);
std::optional<mac_addr> parse_mac(const std::string& s);
std::optional<std::uint64_t> parse_uint(const std::string& s);  // decimal or 0x hex

// A closed range of numbers (counts, times in ps).
struct range {
  std::uint64_t min = 0, max = ~std::uint64_t{0};
  bool contains(std::uint64_t v) const { return v >= min && v <= max; }
};
// "3", ">= 2", "<= 5", "> 0", "< 4", "2..5" (counts) and the same with durations.
std::optional<range> parse_count(const std::string& s);
std::optional<range> parse_time_range(const std::string& s);
std::string describe_count(const range& r);
std::string describe_time_range(const range& r);

// "1.5s" style text for a duration.
std::string show_time(ps_t t);

}  // namespace detail
}  // namespace wizsim::scenario

namespace wizsim::scenario::detail {
// Builds the scenario's network (chip, peers, services, faults, schedule) without running anything, so
// that impossible topologies (overlapping DHCP pools, a pool outside the server's subnet, two peers with
// one MAC ...) are load errors with a position rather than run failures.
std::vector<load_error> dry_build(const scenario& s);
}  // namespace wizsim::scenario::detail
