// What the command reports about each scenario: the result passed back from a child process, the
// progress lines, and the summary table with virtual time, wall time and their ratio.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wizsim/harness/scenario.hpp"
#include "wizsim/time.hpp"

namespace wizsim::cli {

enum class outcome { passed, failed, crashed, timed_out };
// "PASS", "FAIL", "CRASH", "TIMEOUT"
const char* outcome_label(outcome o);

struct scenario_report {
  std::string name, file;
  outcome result = outcome::failed;
  std::vector<std::string> failures;  // why it did not pass (expectations, or how the process ended)
  ps_t virtual_time = 0;
  double wall_seconds = 0;
  std::uint64_t seed = 0;
  bool has_result = true;     // false after a crash or time-out: virtual time and seed are unknown
  std::string log;            // the engine's step-by-step log
  std::string output;         // what the scenario's process printed (stdout + stderr)
  std::string artifacts_dir;  // "" when none were kept
};

// A run_result as bytes for the pipe from the child to the parent, and back. decode returns nullopt for
// anything encode did not produce (a child that died halfway).
std::string encode_result(const scenario::run_result& r);
std::optional<scenario::run_result> decode_result(std::string_view bytes);

// "61.2 s", "350.0 ms", "12.0 us" (virtual); "1.25 s", "41.4 ms", "350 us" (wall); "1493x" (virtual /
// wall; "-" when wall is 0).
std::string format_virtual(ps_t t);
std::string format_wall(double seconds);
std::string format_ratio(ps_t virtual_time, double wall_seconds);

// One line per scenario (name, result, virtual time, wall time, ratio), a totals line, then the
// failures with their reasons and artifact folders. `elapsed_wall` is the whole run's wall time (less
// than the sum with --jobs > 1).
std::string summary_table(const std::vector<scenario_report>& reports, double elapsed_wall);

// The plain progress line for a finished scenario: "[ 3/45] PASS dhcp-bind (61.2 s virtual, 41.0 ms wall)".
std::string finished_line(std::size_t done, std::size_t total, const scenario_report& r);

}  // namespace wizsim::cli
