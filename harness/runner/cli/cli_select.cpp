#include "cli_select.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <system_error>

namespace fs = std::filesystem;

namespace wizsim::cli {

collected_files collect_files(const std::vector<std::string>& paths) {
  collected_files out;
  std::vector<std::string> found;
  for (const auto& p : paths) {
    std::error_code ec;
    const auto st = fs::status(p, ec);
    if (ec || !fs::exists(st)) {
      out.errors.push_back(p + ": no such file or folder");
      continue;
    }
    if (fs::is_directory(st)) {
      std::size_t before = found.size();
      fs::recursive_directory_iterator it(p, fs::directory_options::none, ec), end;
      for (; !ec && it != end; it.increment(ec)) {
        std::error_code fec;
        if (it->is_regular_file(fec) && it->path().extension() == ".yaml")
          found.push_back(it->path().lexically_normal().generic_string());
      }
      if (ec) {
        out.errors.push_back(p + ": cannot read folder: " + ec.message());
        continue;
      }
      if (found.size() == before) out.errors.push_back(p + ": no *.yaml scenario files in this folder");
    } else {
      found.push_back(fs::path(p).lexically_normal().generic_string());
    }
  }
  std::sort(found.begin(), found.end());
  // The same file named twice (directly and through its folder, or as ./x and x) runs once.
  std::set<std::string> seen;
  for (auto& f : found) {
    std::error_code ec;
    auto key = fs::weakly_canonical(f, ec).generic_string();
    if (ec) key = f;
    if (seen.insert(key).second) out.files.push_back(std::move(f));
  }
  return out;
}

namespace {

bool is_glob(const std::string& pattern) {
  return pattern.find_first_of("*?[") != std::string::npos;
}

bool glob(const std::string& pattern, const std::string& text) {
  return fnmatch(pattern.c_str(), text.c_str(), 0) == 0;
}

}  // namespace

bool matches_filter(const std::string& pattern, const std::string& name, const std::string& file,
                    const std::vector<std::string>& tags) {
  if (!is_glob(pattern)) {
    auto has = [&](const std::string& text) { return text.find(pattern) != std::string::npos; };
    return has(name) || has(file) || std::any_of(tags.begin(), tags.end(), has);
  }
  auto matches = [&](const std::string& text) { return glob(pattern, text); };
  if (matches(name) || matches(file) || std::any_of(tags.begin(), tags.end(), matches)) return true;
  for (std::size_t slash = file.find('/'); slash != std::string::npos; slash = file.find('/', slash + 1))
    if (glob(pattern, file.substr(slash + 1))) return true;
  return false;
}

bool matches_any(const std::vector<std::string>& patterns, const std::string& name, const std::string& file,
                 const std::vector<std::string>& tags) {
  if (patterns.empty()) return true;
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const std::string& p) { return matches_filter(p, name, file, tags); });
}

std::vector<std::size_t> shard_positions(std::size_t count, const shard_spec& shard) {
  std::vector<std::size_t> out;
  if (shard.count == 0 || shard.index == 0 || shard.index > shard.count) return out;
  for (std::size_t k = shard.index - 1; k < count; k += shard.count) out.push_back(k);
  return out;
}

std::string artifact_dir_name(const std::string& scenario_name) {
  std::string out;
  for (char c : scenario_name) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '-' || c == '_';
    out += keep ? c : '_';
  }
  // "." and ".." (and an empty name) would not be a folder of their own.
  if (out.empty() || out.find_first_not_of('.') == std::string::npos) out = "scenario" + out;
  return out;
}

}  // namespace wizsim::cli
