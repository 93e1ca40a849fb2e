#include "cli_options.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>

#ifndef WIZSIM_VERSION
#define WIZSIM_VERSION "unknown"
#endif

namespace wizsim::cli {

std::optional<std::uint64_t> parse_u64(const std::string& text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (v > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return std::nullopt;
    v = v * 10 + digit;
  }
  return v;
}

std::optional<shard_spec> parse_shard(const std::string& text) {
  const auto slash = text.find('/');
  if (slash == std::string::npos) return std::nullopt;
  const auto i = parse_u64(text.substr(0, slash));
  const auto n = parse_u64(text.substr(slash + 1));
  if (!i || !n || *n == 0 || *i == 0 || *i > *n || *n > std::numeric_limits<unsigned>::max())
    return std::nullopt;
  return shard_spec{static_cast<unsigned>(*i), static_cast<unsigned>(*n)};
}

namespace {

std::optional<double> parse_seconds(const std::string& text) {
  if (text.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (errno != 0 || end != text.c_str() + text.size() || !std::isfinite(v) || v <= 0) return std::nullopt;
  return v;
}

}  // namespace

parse_result parse_args(const std::vector<std::string>& args) {
  parse_result r;
  auto fail = [&](std::string message) {
    r.value.reset();
    r.error = std::move(message);
    return r;
  };
  if (args.empty()) return fail("no command given (try `wizsim run scenarios/` or `wizsim --help`)");
  options o;
  std::size_t i = 0;
  const std::string& first = args[0];
  if (first == "--help" || first == "-h" || first == "help") {
    o.what = options::action::help;
    r.value = o;
    return r;
  }
  if (first == "--version") {
    o.what = options::action::version;
    r.value = o;
    return r;
  }
  if (first != "run") return fail("unknown command '" + first + "' (the command is `wizsim run PATH...`)");
  ++i;

  bool only_paths = false;  // after "--" everything is a path, even "-odd-name.yaml"
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (only_paths || a.empty() || a[0] != '-' || a == "-") {
      o.paths.push_back(a);
      continue;
    }
    if (a == "--") {
      only_paths = true;
      continue;
    }
    if (a == "--help" || a == "-h") {
      o.what = options::action::help;
      r.value = o;
      return r;
    }
    if (a == "--list") {
      o.what = options::action::list;
      continue;
    }
    // Flags with a value: "--flag VALUE" or "--flag=VALUE".
    std::string flag = a, value;
    bool has_value = false;
    if (const auto eq = a.find('='); eq != std::string::npos && a.rfind("--", 0) == 0) {
      flag = a.substr(0, eq);
      value = a.substr(eq + 1);
      has_value = true;
    }
    static const char* const valued[] = {"--filter", "--seed",  "--shard",     "--jobs",
                                         "-j",       "--junit", "--artifacts", "--timeout"};
    bool known = false;
    for (const char* v : valued) known = known || flag == v;
    if (!known) return fail("unknown option '" + flag + "'");
    if (!has_value) {
      if (i + 1 >= args.size()) return fail("option '" + flag + "' needs a value");
      value = args[++i];
    }
    if (flag == "--filter") {
      if (value.empty()) return fail("--filter needs a non-empty pattern");
      o.filters.push_back(value);
    } else if (flag == "--seed") {
      const auto s = parse_u64(value);
      if (!s) return fail("--seed expects an unsigned 64-bit number, got '" + value + "'");
      o.seed = *s;
    } else if (flag == "--shard") {
      const auto s = parse_shard(value);
      if (!s) return fail("--shard expects i/n with 1 <= i <= n (e.g. 2/4), got '" + value + "'");
      o.shard = *s;
    } else if (flag == "--jobs" || flag == "-j") {
      const auto j = parse_u64(value);
      if (!j || *j > 1024)
        return fail("--jobs expects a number from 0 (one per CPU) to 1024, got '" + value + "'");
      o.jobs = static_cast<unsigned>(*j);
    } else if (flag == "--junit") {
      if (value.empty()) return fail("--junit needs a file name");
      o.junit = value;
    } else if (flag == "--artifacts") {
      if (value.empty()) return fail("--artifacts needs a folder name");
      o.artifacts = value;
    } else if (flag == "--timeout") {
      const auto t = parse_seconds(value);
      if (!t) return fail("--timeout expects a positive number of seconds, got '" + value + "'");
      o.timeout_seconds = *t;
    }
  }
  if (o.paths.empty()) return fail("no scenario file or folder given (e.g. `wizsim run scenarios/`)");
  r.value = o;
  return r;
}

std::string usage() {
  return R"(Usage: wizsim run [OPTIONS] PATH...
       wizsim --help | --version

Runs scenario files (docs/scenarios.md) against the virtual W5500 and the portable driver. PATH is a
scenario file or a folder (searched recursively for *.yaml); scenarios run in sorted file order.

Options:
  --filter PATTERN   run only scenarios whose name, file or one of whose tags matches PATTERN: a glob
                     (*, ?, [..]) when it has one of those characters, else a substring. Repeat to select
                     more (any one matching is enough).
  --seed N           use seed N for every scenario instead of the file's `seed:`
  --shard I/N        run the I-th of N slices of the selected scenarios (1-based; scenario k of the
                     sorted, filtered list belongs to slice (k mod N) + 1), to split CI across machines
  --jobs N, -j N     run N scenarios at a time, each in its own process (0 = one per CPU; default 1)
  --junit FILE       write JUnit XML results to FILE
  --artifacts DIR    write each scenario's pcap, trace and log to DIR/<scenario name>/ (all scenarios);
                     without it, failures keep theirs in a temporary wizsim-artifacts-* folder
  --timeout SECONDS  wall-clock safety limit per scenario; a scenario still running then is killed and
                     fails (default 120)
  --list             print the selected scenarios (name and file) instead of running them
  --help, -h         print this help
  --version          print the version

Exit status: 0 all selected scenarios passed, 1 any failed (or crashed, or hit the time limit),
2 bad input (bad options, missing paths, scenario files that do not load), 128+N killed by signal N.
)";
}

std::string version_text() {
  return std::string("wizsim ") + WIZSIM_VERSION + "\n";
}

}  // namespace wizsim::cli
