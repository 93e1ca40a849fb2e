// Shared test helpers for checking captures with tshark (Wireshark's dissectors): finding tools on PATH,
// running a command with its output captured, temp paths named after the running test, and the
// skip-unless-CI rule. Used by the model's wire tests and the harness's service tests.
#pragma once
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <sstream>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

namespace wizsim::test {

// Functions here are `inline` because several test files include this header.
inline std::string temp_path(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return ::testing::TempDir() + "wizsim_" + info->name() + "_" + std::to_string(::getpid()) + "_" + name;
}

// Removes the capture when the test ends, unless it failed (then the path is in the failure message) or
// WIZSIM_KEEP_PCAP is set.
struct scoped_capture {
  std::string path;
  ~scoped_capture() {
    if (!::testing::Test::HasFailure() && std::getenv("WIZSIM_KEEP_PCAP") == nullptr)
      std::remove(path.c_str());
  }
};

// ---- tshark ---------------------------------------------------------------------------------------------

inline std::string find_on_path(const std::string& prog) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return {};
  std::stringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) dir = ".";
    const std::string cand = dir + "/" + prog;
    if (::access(cand.c_str(), X_OK) == 0) return cand;
  }
  return {};
}

inline bool running_in_ci() {
  const char* ci = std::getenv("CI");
  if (ci == nullptr) return false;
  const std::string v = ci;
  return !v.empty() && v != "0" && v != "false" && v != "FALSE";
}

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

struct run_result {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr, without tshark's "running as root" warning
};

// Runs `cmd` through /bin/sh, capturing stdout through popen and stderr through a temp file.
inline run_result run(const std::string& cmd, const std::string& err_path) {
  run_result r;
  std::FILE* p = ::popen((cmd + " 2>" + shell_quote(err_path)).c_str(), "r");
  if (p == nullptr) {
    r.err = "popen failed";
    return r;
  }
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  if (std::FILE* e = std::fopen(err_path.c_str(), "r")) {
    std::string line;
    while ((n = std::fread(buf.data(), 1, buf.size(), e)) > 0) line.append(buf.data(), n);
    std::fclose(e);
    std::stringstream lines(line);
    while (std::getline(lines, line)) {
      // tshark as root: 'Running as user "root" and group "root". This could be dangerous.'
      if (line.find("This could be dangerous") != std::string::npos) continue;
      r.err += line + "\n";
    }
    std::remove(err_path.c_str());
  }
  return r;
}

inline std::size_t count_lines(const std::string& s) {
  std::size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// tshark with checksum validation on (off by default in Wireshark; ICMP and IGMP checksums are always
// checked). The preference names are those of tshark 4.0 (`tshark -G defaultprefs | grep check_checksum`).
inline std::string tshark_base(const std::string& tshark, const std::string& pcap) {
  return shell_quote(tshark) + " -n -r " + shell_quote(pcap) +
         " -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE -o tcp.check_checksum:TRUE";
}

// Packets that are malformed, carry a bad checksum, or an expert error or warning. tshark reports every
// RST as a warning ("Connection reset (RST)"); RST packets are excused from the warning check only.
inline const char* const bad_packet_filter =
    "_ws.malformed || _ws.expert.severity >= error"
    " || ip.checksum.status == \"Bad\" || udp.checksum.status == \"Bad\" || tcp.checksum.status == \"Bad\""
    " || icmp.checksum.status == \"Bad\" || igmp.checksum.status == \"Bad\""
    " || (_ws.expert.severity >= warning && !tcp.connection.rst)";

// Lists the packets of `pcap` that match bad_packet_filter, one summary line each.
inline run_result tshark_flagged(const std::string& tshark, const std::string& pcap) {
  return run(tshark_base(tshark, pcap) + " -Y " + shell_quote(bad_packet_filter), pcap + ".stderr");
}

// Decoded fields of the packets of `pcap` matching display filter `filter` ("" for all), one line per
// packet, fields separated by tabs (tshark -T fields), e.g. tshark_fields(t, p, "dhcp", {"dhcp.option.dhcp"}).
inline run_result tshark_fields(const std::string& tshark, const std::string& pcap, const std::string& filter,
                                std::initializer_list<std::string> fields) {
  std::string cmd = tshark_base(tshark, pcap);
  if (!filter.empty()) cmd += " -Y " + shell_quote(filter);
  cmd += " -T fields";
  for (const auto& f : fields) cmd += " -e " + shell_quote(f);
  return run(cmd, pcap + ".fields.stderr");
}

// Without tshark: skip, or fail under CI.
#define REQUIRE_TSHARK(var)                                                                       \
  const std::string var = find_on_path("tshark");                                                 \
  if (var.empty()) {                                                                              \
    if (running_in_ci()) FAIL() << "tshark is not on PATH but CI is set: install it (ci/lib.sh)"; \
    GTEST_SKIP() << "tshark not on PATH: the capture is not checked";                             \
  }


}  // namespace wizsim::test
