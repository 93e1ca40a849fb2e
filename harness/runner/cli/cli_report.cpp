#include "cli_report.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace wizsim::cli {

const char* outcome_label(outcome o) {
  switch (o) {
    case outcome::passed:
      return "PASS";
    case outcome::failed:
      return "FAIL";
    case outcome::crashed:
      return "CRASH";
    case outcome::timed_out:
      return "TIMEOUT";
  }
  return "?";
}

// ---- child -> parent encoding: a tag line, then netstring-like fields "<length>:<bytes>" ----------------

namespace {

constexpr std::string_view magic = "wizsim-result-1\n";

void put(std::string& out, std::string_view field) {
  out += std::to_string(field.size());
  out += ':';
  out.append(field.data(), field.size());
}

struct reader {
  std::string_view rest;
  bool ok = true;
  std::string_view field() {
    const auto colon = rest.find(':');
    if (!ok || colon == std::string_view::npos || colon == 0 || colon > 20) return fail();
    std::uint64_t n = 0;
    for (char c : rest.substr(0, colon)) {
      if (c < '0' || c > '9') return fail();
      n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    rest.remove_prefix(colon + 1);
    if (n > rest.size()) return fail();
    auto f = rest.substr(0, n);
    rest.remove_prefix(n);
    return f;
  }
  std::uint64_t number() {
    const auto f = field();
    if (!ok || f.empty() || f.size() > 20) return fail(), 0;
    std::uint64_t n = 0;
    for (char c : f) {
      if (c < '0' || c > '9') return fail(), 0;
      n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return n;
  }
  std::string_view fail() {
    ok = false;
    return {};
  }
};

}  // namespace

std::string encode_result(const scenario::run_result& r) {
  std::string out(magic);
  put(out, r.passed ? "1" : "0");
  put(out, std::to_string(r.virtual_time));
  char wall[64];
  std::snprintf(wall, sizeof wall, "%.17g", r.wall_seconds);
  put(out, wall);
  put(out, std::to_string(r.seed));
  put(out, r.log);
  put(out, std::to_string(r.failures.size()));
  for (const auto& f : r.failures) put(out, f);
  put(out, std::to_string(r.artifacts.size()));
  for (const auto& a : r.artifacts) put(out, a);
  return out;
}

std::optional<scenario::run_result> decode_result(std::string_view bytes) {
  if (bytes.substr(0, magic.size()) != magic) return std::nullopt;
  reader in{bytes.substr(magic.size())};
  scenario::run_result r;
  const auto passed = in.field();
  if (passed != "1" && passed != "0") return std::nullopt;
  r.passed = passed == "1";
  r.virtual_time = in.number();
  const std::string wall(in.field());
  char* end = nullptr;
  r.wall_seconds = std::strtod(wall.c_str(), &end);
  if (wall.empty() || end != wall.c_str() + wall.size()) return std::nullopt;
  r.seed = in.number();
  r.log = std::string(in.field());
  const auto nf = in.number();
  for (std::uint64_t i = 0; in.ok && i < nf; ++i) r.failures.emplace_back(in.field());
  const auto na = in.number();
  for (std::uint64_t i = 0; in.ok && i < na; ++i) r.artifacts.emplace_back(in.field());
  if (!in.ok || !in.rest.empty()) return std::nullopt;
  return r;
}

// ---- formatting ------------------------------------------------------------------------------------------

std::string format_virtual(ps_t t) {
  char buf[64];
  const double s = static_cast<double>(t) / static_cast<double>(ps_per_s);
  if (t >= ps_per_s)
    std::snprintf(buf, sizeof buf, "%.1f s", s);
  else if (t >= ps_per_ms)
    std::snprintf(buf, sizeof buf, "%.1f ms", s * 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.1f us", s * 1e6);
  return buf;
}

std::string format_wall(double seconds) {
  char buf[64];
  if (seconds >= 1)
    std::snprintf(buf, sizeof buf, "%.2f s", seconds);
  else if (seconds >= 1e-3)
    std::snprintf(buf, sizeof buf, "%.1f ms", seconds * 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.0f us", seconds * 1e6);
  return buf;
}

std::string format_ratio(ps_t virtual_time, double wall_seconds) {
  if (wall_seconds <= 0) return "-";
  const double ratio = static_cast<double>(virtual_time) / static_cast<double>(ps_per_s) / wall_seconds;
  char buf[64];
  if (ratio >= 10)
    std::snprintf(buf, sizeof buf, "%.0fx", ratio);
  else
    std::snprintf(buf, sizeof buf, "%.2fx", ratio);
  return buf;
}

std::string finished_line(std::size_t done, std::size_t total, const scenario_report& r) {
  const int width = static_cast<int>(std::to_string(total).size());
  char head[64];
  std::snprintf(head, sizeof head, "[%*zu/%zu] ", width, done, total);
  return std::string(head) + outcome_label(r.result) + " " + r.name + " (" +
         (r.has_result ? format_virtual(r.virtual_time) + " virtual, " : std::string()) +
         format_wall(r.wall_seconds) + " wall)";
}

std::string summary_table(const std::vector<scenario_report>& reports, double elapsed_wall) {
  std::size_t name_w = std::string("scenario").size();
  for (const auto& r : reports) name_w = std::max(name_w, r.name.size());
  const std::string total_label = "total (" + std::to_string(reports.size()) + ")";
  name_w = std::max(name_w, total_label.size());
  std::ostringstream out;
  char line[512];
  auto row = [&](const std::string& name, const std::string& result, const std::string& virt,
                 const std::string& wall, const std::string& ratio) {
    std::snprintf(line, sizeof line, "%-*s  %-7s  %10s  %9s  %8s", static_cast<int>(name_w), name.c_str(),
                  result.c_str(), virt.c_str(), wall.c_str(), ratio.c_str());
    out << line << "\n";
  };
  row("scenario", "result", "virtual", "wall", "sim/wall");
  out << std::string(name_w + 2 + 7 + 2 + 10 + 2 + 9 + 2 + 8, '-') << "\n";
  ps_t total_virtual = 0;
  double total_wall = 0;
  std::size_t passed = 0;
  for (const auto& r : reports) {
    row(r.name, outcome_label(r.result), r.has_result ? format_virtual(r.virtual_time) : "-",
        format_wall(r.wall_seconds), r.has_result ? format_ratio(r.virtual_time, r.wall_seconds) : "-");
    total_virtual += r.virtual_time;
    total_wall += r.wall_seconds;
    if (r.result == outcome::passed) ++passed;
  }
  out << std::string(name_w + 2 + 7 + 2 + 10 + 2 + 9 + 2 + 8, '-') << "\n";
  row(total_label, std::to_string(passed) + " ok", format_virtual(total_virtual), format_wall(total_wall),
      format_ratio(total_virtual, total_wall));
  std::snprintf(line, sizeof line, "%zu passed, %zu failed; %s virtual in %s wall (%s elapsed, %s)", passed,
                reports.size() - passed, format_virtual(total_virtual).c_str(),
                format_wall(total_wall).c_str(), format_wall(elapsed_wall).c_str(),
                format_ratio(total_virtual, elapsed_wall).c_str());
  out << line << "\n";

  bool header = false;
  for (const auto& r : reports) {
    if (r.result == outcome::passed) continue;
    if (!header) out << "\nFailures:\n";
    header = true;
    out << "  " << outcome_label(r.result) << " " << r.name << " (" << r.file;
    if (r.has_result) out << ", seed " << r.seed;
    out << ")\n";
    for (const auto& f : r.failures) out << "    " << f << "\n";
    if (!r.artifacts_dir.empty()) out << "    artifacts: " << r.artifacts_dir << "\n";
  }
  return out.str();
}

}  // namespace wizsim::cli
