// The `wizsim` command: finds scenario files, loads them all (every error reported as file:line:col),
// filters and shards, runs each scenario in its own child process (--jobs at a time), shows progress,
// writes JUnit and artifacts and prints the summary table. Exit codes: 0 passed, 1 failures, 2 bad input.
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cli_exec.hpp"
#include "cli_junit.hpp"
#include "cli_options.hpp"
#include "cli_report.hpp"
#include "cli_select.hpp"
#include "wizsim/harness/scenario.hpp"

namespace fs = std::filesystem;
using namespace wizsim;
using namespace wizsim::cli;

namespace {

constexpr int exit_passed = 0, exit_failed = 1, exit_bad_input = 2;

int bad_input(const std::string& message) {
  std::cerr << "wizsim: " << message << "\n";
  return exit_bad_input;
}

struct selected {
  std::shared_ptr<const scenario::scenario> value;
  std::string name, file;
};

// The live status on a terminal: one line, redrawn in place; finished failures are printed above it.
class progress {
 public:
  progress(std::size_t total, bool tty) : total_(total), tty_(tty) {}
  void started(const std::string& name) {
    running_.insert(name);
    redraw();
  }
  void finished(const scenario_report& r) {
    ++done_;
    if (r.result != outcome::passed) ++failed_;
    running_.erase(r.name);
    clear();
    // On a terminal passes only move the counter; plain output (CI logs) gets a line for each.
    if (!tty_ || r.result != outcome::passed) std::cout << finished_line(done_, total_, r) << "\n";
    if (r.result != outcome::passed)
      for (const auto& f : r.failures) std::cout << "    " << f << "\n";
    std::cout.flush();  // CI logs show progress as it happens, not when the buffer fills
    redraw();
  }
  void clear() {
    if (tty_) std::cout << "\r\033[K" << std::flush;
  }

 private:
  void redraw() {
    if (!tty_) return;
    std::string line = "[" + std::to_string(done_) + "/" + std::to_string(total_) + "] " +
                       std::to_string(failed_) + " failed";
    if (!running_.empty()) {
      line += " | running:";
      for (const auto& n : running_) line += " " + n;
    }
    winsize ws{};
    std::size_t cols = 80;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10) cols = ws.ws_col;
    if (line.size() >= cols) line = line.substr(0, cols - 4) + "...";
    std::cout << "\r\033[K" << line << std::flush;
  }

  std::size_t total_, done_ = 0, failed_ = 0;
  bool tty_;
  std::set<std::string> running_;
};

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// What the runner itself knows about a scenario that did not pass, next to the engine's pcap/trace/log:
// the reasons (also for a crash or time-out, when the engine could write nothing) and the process output.
void write_runner_notes(const fs::path& dir, const scenario_report& r) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::string text = std::string("result: ") + outcome_label(r.result) + "\nscenario: " + r.name +
                     "\nfile: " + r.file + "\n";
  if (r.has_result)
    text += "seed: " + std::to_string(r.seed) + "\nvirtual time: " + format_virtual(r.virtual_time) + "\n";
  text += "wall time: " + format_wall(r.wall_seconds) + "\n";
  for (const auto& f : r.failures) text += "failure: " + f + "\n";
  write_file(dir / "result.txt", text);
  if (!r.output.empty()) write_file(dir / "output.txt", r.output);
}

int run_command(const options& opt) {
  // 1. Files.
  const auto files = collect_files(opt.paths);
  for (const auto& e : files.errors) std::cerr << e << "\n";

  // 2. Load every file; report every error of every file (and every missing path) before giving up.
  std::vector<selected> all;
  bool load_failed = !files.errors.empty();
  for (const auto& f : files.files) {
    auto l = scenario::load_file(f);
    if (!l.ok()) {
      load_failed = true;
      if (l.errors.empty()) std::cerr << f << ": could not be loaded\n";
      for (const auto& e : l.errors) std::cerr << e.to_string() << "\n";
      continue;
    }
    all.push_back({l.value, scenario::name_of(*l.value), f});
  }
  std::map<std::string, std::string> first_file_of_name;
  for (const auto& s : all) {
    auto [it, fresh] = first_file_of_name.emplace(s.name, s.file);
    if (!fresh) {
      std::cerr << s.file << ": scenario name '" << s.name << "' is already used by " << it->second
                << " (names must be unique: they name results and artifact folders)\n";
      load_failed = true;
    }
  }
  if (load_failed) return exit_bad_input;

  // 3. Filter, then shard (every machine filters the same way, so the slices stay disjoint).
  std::vector<selected> filtered;
  for (auto& s : all)
    if (matches_any(opt.filters, s.name, s.file, scenario::tags_of(*s.value)))
      filtered.push_back(std::move(s));
  if (filtered.empty() && !opt.filters.empty())
    return bad_input("no scenario matches the --filter pattern(s) (" + std::to_string(all.size()) +
                     " scenarios looked at)");
  std::vector<selected> chosen;
  for (auto k : shard_positions(filtered.size(), opt.shard)) chosen.push_back(filtered[k]);

  if (opt.what == options::action::list) {
    // name, file, description: aligned columns, one scenario per line (easy to read and to cut).
    std::size_t name_w = 0, file_w = 0;
    for (const auto& s : chosen) {
      name_w = std::max(name_w, s.name.size());
      file_w = std::max(file_w, s.file.size());
    }
    for (const auto& s : chosen) {
      const std::string& description = scenario::description_of(*s.value);
      std::cout << s.name << std::string(name_w - s.name.size() + 2, ' ') << s.file;
      if (!description.empty()) std::cout << std::string(file_w - s.file.size() + 2, ' ') << description;
      std::cout << "\n";
    }
    return exit_passed;
  }
  if (chosen.empty()) {
    std::cout << "wizsim: shard " << opt.shard.index << "/" << opt.shard.count << " has no scenarios (of "
              << filtered.size() << " selected); nothing to run\n";
    return exit_passed;
  }

  // 4. Artifacts: --artifacts keeps every scenario's; otherwise a temporary folder keeps the failures'.
  fs::path root;
  const bool temporary = opt.artifacts.empty();
  if (temporary) {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/wizsim-artifacts-XXXXXX";
    if (!mkdtemp(tmpl.data()))
      return bad_input("cannot create a temporary artifacts folder " + tmpl + ": " + std::strerror(errno));
    root = tmpl;
  } else {
    root = opt.artifacts;
    std::error_code ec;
    fs::create_directories(root, ec);
    if (ec || !fs::is_directory(root))
      return bad_input("cannot create the artifacts folder " + opt.artifacts + ": " + ec.message());
  }
  std::vector<fs::path> dirs;
  std::set<std::string> used;
  for (const auto& s : chosen) {
    std::string d = artifact_dir_name(s.name);
    for (int n = 2; !used.insert(d).second; ++n) d = artifact_dir_name(s.name) + "-" + std::to_string(n);
    dirs.push_back(root / d);
    std::error_code ec;
    fs::remove_all(dirs.back(), ec);  // a previous run's files would be mistaken for this run's
  }

  // 5. Run.
  unsigned jobs = opt.jobs;
  if (jobs == 0) jobs = static_cast<unsigned>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
  jobs = static_cast<unsigned>(std::min<std::size_t>(jobs, chosen.size()));
  const bool tty = isatty(STDOUT_FILENO) == 1;
  std::cout << "wizsim: running " << chosen.size() << " scenario" << (chosen.size() == 1 ? "" : "s") << " ("
            << jobs << " at a time"
            << (opt.shard.count > 1
                    ? ", shard " + std::to_string(opt.shard.index) + "/" + std::to_string(opt.shard.count)
                    : std::string())
            << (opt.seed ? ", seed " + std::to_string(*opt.seed) : std::string()) << ")\n";
  progress bar(chosen.size(), tty);
  std::vector<scenario_report> reports(chosen.size());
  std::vector<bool> completed(chosen.size(), false);
  exec_options eo;
  eo.jobs = jobs;
  eo.timeout_seconds = opt.timeout_seconds;

  const auto t0 = std::chrono::steady_clock::now();
  const int interrupted = run_jobs(
      chosen.size(), eo,
      [&](std::size_t i) {
        scenario::run_options ro;
        ro.seed = opt.seed;
        ro.artifacts_dir = dirs[i].string();
        return encode_result(scenario::run(*chosen[i].value, ro));
      },
      [&](std::size_t i) { bar.started(chosen[i].name); },
      [&](std::size_t i, const job_outcome& o) {
        scenario_report& r = reports[i];
        r.name = chosen[i].name;
        r.file = chosen[i].file;
        r.output = o.output;
        r.wall_seconds = o.wall_seconds;
        std::optional<scenario::run_result> rr;
        if (o.what == job_outcome::kind::finished) rr = decode_result(o.payload);
        if (rr) {
          r.result = rr->passed ? outcome::passed : outcome::failed;
          r.failures = rr->failures;
          if (!rr->passed && r.failures.empty()) r.failures.push_back("failed (the engine gave no reason)");
          r.virtual_time = rr->virtual_time;
          if (rr->wall_seconds > 0) r.wall_seconds = rr->wall_seconds;
          r.seed = rr->seed;
          r.log = rr->log;
        } else {
          r.result = o.what == job_outcome::kind::timed_out ? outcome::timed_out : outcome::crashed;
          r.has_result = false;
          if (o.what == job_outcome::kind::timed_out)
            r.failures.push_back("still running after the " + format_wall(opt.timeout_seconds) +
                                 " wall-clock limit (--timeout); killed");
          else if (o.what == job_outcome::kind::finished)
            r.failures.push_back("the scenario process sent an unreadable result");
          else
            r.failures.push_back("the scenario process " + o.describe());
        }
        if (r.result != outcome::passed) {
          r.artifacts_dir = dirs[i].string();
          write_runner_notes(dirs[i], r);
        } else if (temporary) {
          std::error_code ec;
          fs::remove_all(dirs[i], ec);
        }
        completed[i] = true;
        bar.finished(r);
      });
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  bar.clear();

  std::vector<scenario_report> finished;
  for (std::size_t i = 0; i < reports.size(); ++i)
    if (completed[i]) finished.push_back(reports[i]);
  const bool any_failed = std::any_of(finished.begin(), finished.end(),
                                      [](const auto& r) { return r.result != outcome::passed; });

  if (interrupted) {
    if (!finished.empty()) std::cout << "\n" << summary_table(finished, elapsed);
    std::cerr << "wizsim: interrupted by " << strsignal(interrupted) << " after " << finished.size() << " of "
              << chosen.size() << " scenarios; running scenarios were stopped\n";
    std::error_code ec;
    if (temporary && !any_failed) fs::remove_all(root, ec);
    return 128 + interrupted;
  }

  // 6. Report.
  std::cout << "\n" << summary_table(finished, elapsed);
  int status = any_failed ? exit_failed : exit_passed;
  if (!opt.junit.empty()) {
    junit_info info;
    info.timestamp = iso_timestamp_now();
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) == 0) info.hostname = host;
    std::error_code ec;
    const fs::path jp(opt.junit);
    if (jp.has_parent_path()) fs::create_directories(jp.parent_path(), ec);
    std::ofstream out(jp, std::ios::binary | std::ios::trunc);
    out << junit_xml(finished, info);
    out.close();
    if (!out) {
      std::cerr << "wizsim: cannot write the JUnit file " << opt.junit << "\n";
      status = exit_bad_input;
    } else {
      std::cout << "JUnit results: " << opt.junit << "\n";
    }
  }
  if (temporary) {
    std::error_code ec;
    if (any_failed)
      std::cout << "Artifacts of the failed scenarios (pcap, trace, log): " << root.string() << "\n";
    else
      fs::remove_all(root, ec);
  } else {
    std::cout << "Artifacts (pcap, trace, log per scenario): " << root.string() << "\n";
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  const auto parsed = parse_args(args);
  if (!parsed.value) {
    std::cerr << "wizsim: " << parsed.error << "\n"
              << "Try 'wizsim --help'.\n";
    return exit_bad_input;
  }
  const options& opt = *parsed.value;
  switch (opt.what) {
    case options::action::help:
      std::cout << usage();
      return exit_passed;
    case options::action::version:
      std::cout << version_text();
      return exit_passed;
    case options::action::run:
    case options::action::list:
      break;
  }
  try {
    return run_command(opt);
  } catch (const std::exception& e) {
    // Only the runner's own plumbing can throw here (the engine never does): say so, as bad input/setup.
    std::cerr << "wizsim: " << e.what() << "\n";
    return exit_bad_input;
  }
}
