// Scenarios: the regression suite's unit. A scenario file (YAML, docs/scenarios.md) describes a topology
// (the chip, peers with their services, faults), application steps run through the portable driver, and
// expectations (returned values and errors, socket state, frames on the wire, a virtual-time budget).
//
// This header is the interface between the scenario engine (loading and running one scenario) and the
// `wizsim` command (finding files, filtering, sharding, parallel runs, JUnit, artifacts, the summary).
//
//   auto loaded = wizsim::scenario::load_file("scenarios/dhcp/bind.yaml");
//   if (!loaded.ok()) for (auto& e : loaded.errors) std::cerr << e.to_string() << "\n";
//   wizsim::scenario::run_options opt;
//   opt.artifacts_dir = "artifacts/dhcp-bind";
//   auto r = wizsim::scenario::run(*loaded.value, opt);
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "wizsim/time.hpp"

namespace wizsim::scenario {

// A precise complaint about a scenario file: where, and what was expected.
struct load_error {
  std::string file;
  int line = 0;    // 1-based; 0 when the whole file is concerned (missing, unreadable)
  int column = 0;  // 1-based; 0 when unknown
  std::string message;
  // "file:line:column: message" (GCC style, so editors jump to it).
  std::string to_string() const;
};

// A parsed, validated scenario (its contents are the engine's business).
struct scenario;

struct loaded {
  std::shared_ptr<const scenario> value;  // set when errors is empty
  std::vector<load_error> errors;
  bool ok() const { return value != nullptr && errors.empty(); }
};

// Reads and validates one scenario file. Never throws; every problem is a load_error.
loaded load_file(const std::string& path);
// The same from text (`origin` names it in errors).
loaded load_text(const std::string& text, const std::string& origin);

// What the runner shows and filters on.
const std::string& name_of(const scenario& s);         // `name:` (unique within a suite)
const std::string& file_of(const scenario& s);         // the path it was loaded from
const std::string& description_of(const scenario& s);  // `description:` ("" if none)
std::vector<std::string> tags_of(const scenario& s);    // `tags:` (may be empty)

struct run_options {
  std::optional<std::uint64_t> seed;  // overrides the file's `seed:` when set
  std::string artifacts_dir;          // "" = none; else pcap, trace and log are written there
};

struct run_result {
  bool passed = false;
  std::vector<std::string> failures;  // one line each: which step/expectation, expected vs got
  ps_t virtual_time = 0;              // virtual time the scenario took
  double wall_seconds = 0;            // wall time it took (measured by run(); reported, never asserted)
  std::uint64_t seed = 0;             // the seed actually used
  std::string log;                    // the step-by-step log (also written to artifacts_dir/log.txt)
  std::vector<std::string> artifacts; // files written
};

// Runs one scenario to completion in virtual time. Never throws: an internal error is a failure.
run_result run(const scenario& s, const run_options& options);

}  // namespace wizsim::scenario
