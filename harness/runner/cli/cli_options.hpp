// The `wizsim` command line: what the user asked for, parsed without side effects so it can be tested.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace wizsim::cli {

// --shard i/n: this machine runs the i-th (1-based) of n stable slices of the selected scenarios.
struct shard_spec {
  unsigned index = 1;
  unsigned count = 1;
};

struct options {
  enum class action { run, list, help, version };
  action what = action::run;
  std::vector<std::string> paths;     // files or folders, as given
  std::vector<std::string> filters;   // --filter (any may match)
  std::optional<std::uint64_t> seed;  // --seed: overrides every file's `seed:`
  shard_spec shard;
  unsigned jobs = 1;             // --jobs; 0 = one per online CPU
  std::string junit;             // --junit FILE ("" = none)
  std::string artifacts;         // --artifacts DIR ("" = failures only, in a temporary folder)
  double timeout_seconds = 120;  // --timeout: wall-clock safety limit per scenario (hangs, not slowness)
};

struct parse_result {
  std::optional<options> value;  // set on success
  std::string error;             // one line, without the program name, when value is empty
};

// Parses the arguments after argv[0]: `run [flags] PATH...`, `--help`, `--version`. Flags take their value
// as the next argument or after '=' (--jobs=4); -j N and -h are accepted too.
parse_result parse_args(const std::vector<std::string>& args);

// "i/n" with 1 <= i <= n; nullopt otherwise.
std::optional<shard_spec> parse_shard(const std::string& text);

// A decimal unsigned number that fits in 64 bits, nothing else (no sign, no spaces, no suffix).
std::optional<std::uint64_t> parse_u64(const std::string& text);

std::string usage();
std::string version_text();

}  // namespace wizsim::cli
