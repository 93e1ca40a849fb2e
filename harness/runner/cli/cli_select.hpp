// Which scenarios a run covers: finding the files, filtering by name or file, and sharding across machines.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "cli_options.hpp"

namespace wizsim::cli {

struct collected_files {
  std::vector<std::string> files;   // sorted, without duplicates
  std::vector<std::string> errors;  // "PATH: what is wrong" (missing path, unreadable folder, empty folder)
};

// Files are taken as given (whatever their extension); folders are searched recursively for *.yaml.
// The result is sorted by path so every machine sees the same order (sharding depends on it).
collected_files collect_files(const std::vector<std::string>& paths);

// A pattern with *, ? or [ is a glob (fnmatch, '*' also crosses '/'), matched against the name, each tag,
// the whole file path and every tail of the path after a '/' (so "dhcp/*" matches
// "scenarios/dhcp/bind.yaml"); any other pattern is a substring of the name, a tag or the path.
bool matches_filter(const std::string& pattern, const std::string& name, const std::string& file,
                    const std::vector<std::string>& tags = {});
// No filters select everything; otherwise any one matching is enough.
bool matches_any(const std::vector<std::string>& patterns, const std::string& name, const std::string& file,
                 const std::vector<std::string>& tags = {});

// The positions (ascending) of the items of a list of `count` that belong to `shard`: item k goes to
// slice (k mod n) + 1. Round-robin keeps slices within one item of each other in size and spreads each
// folder (scenario area) over all machines.
std::vector<std::size_t> shard_positions(std::size_t count, const shard_spec& shard);

// A folder name for a scenario's artifacts: letters, digits, '.', '-', '_' kept, anything else '_'.
std::string artifact_dir_name(const std::string& scenario_name);

}  // namespace wizsim::cli
