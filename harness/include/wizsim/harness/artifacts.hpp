// A per-run artifact directory: one place where a run leaves everything needed to look at it afterwards.
//
//   <dir>/<segment>.pcap   every frame of each recorded segment (virtual-time nanosecond stamps)
//   <dir>/trace.jsonl      the JSON-lines trace of the chips, segments, peers, services and faults
//   <dir>/log.txt          the human log, stamped with virtual time
//
// The directory is created (with parents) if missing; files in it are replaced. Everything is flushed
// when the object is destroyed (or on flush()). Declare it after the segments and chips it records, so it
// is destroyed first: its destructor detaches the sinks it installed.
#pragma once
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "wizsim/diag.hpp"

namespace wizsim {

class segment;
class w5500;

class run_artifacts {
 public:
  // Throws std::runtime_error naming the path when the directory or a file cannot be created.
  explicit run_artifacts(std::string dir, log_level level = log_level::info);
  ~run_artifacts();
  run_artifacts(const run_artifacts&) = delete;
  run_artifacts& operator=(const run_artifacts&) = delete;

  // Records a segment: its capture, and its (and its peers') log and trace.
  void record(segment& seg);
  // Records a chip's log and trace.
  void record(w5500& chip);
  // Records any other component's diag.
  void record(diag& d);

  std::string path(const std::string& file) const { return m_dir + "/" + file; }
  const std::string& dir() const { return m_dir; }
  std::uint64_t trace_lines() const { return m_trace_lines; }
  void flush();

  line_sink trace_sink();
  line_sink log_sink();

 private:
  std::string m_dir;
  log_level m_level;
  std::FILE* m_trace = nullptr;
  std::FILE* m_log = nullptr;
  std::uint64_t m_trace_lines = 0;
  std::vector<segment*> m_segments;
  std::vector<diag*> m_diags;
};

}  // namespace wizsim
