#include "wizsim/harness/artifacts.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <sys/stat.h>

#include "wizsim/harness/segment.hpp"
#include "wizsim/w5500.hpp"

namespace wizsim {

namespace {

void make_dirs(const std::string& dir) {
  std::string partial;
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    partial = dir.substr(0, pos);
    if (partial.empty()) continue;
    if (::mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST)
      throw std::runtime_error("cannot create artifact directory " + partial + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw std::runtime_error("artifact path " + dir + " is not a directory");
}

std::FILE* open_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) throw std::runtime_error("cannot create " + path + ": " + std::strerror(errno));
  return f;
}

}  // namespace

run_artifacts::run_artifacts(std::string dir, log_level level) : m_dir(std::move(dir)), m_level(level) {
  if (m_dir.empty()) throw std::runtime_error("artifact directory path is empty");
  while (m_dir.size() > 1 && m_dir.back() == '/') m_dir.pop_back();
  make_dirs(m_dir);
  m_trace = open_file(path("trace.jsonl"));
  m_log = open_file(path("log.txt"));
}

run_artifacts::~run_artifacts() {
  for (segment* s : m_segments) {
    s->stop_capture();
    s->set_trace_sink(nullptr);
    s->set_log_sink(nullptr);
  }
  for (diag* d : m_diags) {
    d->set_trace_sink(nullptr);
    d->set_log_sink(nullptr);
  }
  if (m_trace) std::fclose(m_trace);
  if (m_log) std::fclose(m_log);
}

line_sink run_artifacts::trace_sink() {
  return [this](std::string_view line) {
    std::fwrite(line.data(), 1, line.size(), m_trace);
    std::fputc('\n', m_trace);
    ++m_trace_lines;
  };
}

line_sink run_artifacts::log_sink() {
  return [this](std::string_view line) {
    std::fwrite(line.data(), 1, line.size(), m_log);
    std::fputc('\n', m_log);
  };
}

void run_artifacts::record(segment& seg) {
  seg.capture(path(seg.name() + ".pcap"));
  seg.set_trace_sink(trace_sink());
  seg.set_log_sink(log_sink(), m_level);
  m_segments.push_back(&seg);
}

void run_artifacts::record(w5500& chip) { record(chip.log()); }

void run_artifacts::record(diag& d) {
  d.set_trace_sink(trace_sink());
  d.set_log_sink(log_sink(), m_level);
  m_diags.push_back(&d);
}

void run_artifacts::flush() {
  std::fflush(m_trace);
  std::fflush(m_log);
}

}  // namespace wizsim
