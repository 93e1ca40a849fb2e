// Observability: a human log (fmt) stamped with virtual time and component path, and a structured
// JSON-lines trace. Both are off by default and cost one branch when off: callers test enabled()/on()
// before formatting anything.
//
// Three kinds of error are never mixed (ARCHITECTURE.md): what the host does wrong is a guest_error, what
// the model does not implement is `unimplemented`, and bugs or bad configuration throw at construction.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "wizsim/time.hpp"

namespace wizsim {

enum class log_level : std::uint8_t { error, guest_error, unimplemented, warn, info, debug };
const char* to_string(log_level l);

using line_sink = std::function<void(std::string_view line)>;

// Counters are kept even with logging off, so tests can assert that a guest error was reported.
struct diag_counters {
  std::uint64_t guest_errors = 0;
  std::uint64_t unimplemented = 0;
  std::uint64_t warnings = 0;
};

class diag {
 public:
  explicit diag(std::string path, const ps_t* clock) : m_path(std::move(path)), m_clock(clock) {}

  const std::string& path() const { return m_path; }

  // Human log. `level` is the most verbose level printed.
  void set_log_sink(line_sink sink, log_level level = log_level::info) {
    m_log = std::move(sink);
    m_level = level;
  }
  bool enabled(log_level l) const { return m_log && l <= m_level; }

  template <typename... A>
  void log(log_level l, std::string_view sub, fmt::format_string<A...> f, A&&... a) {
    count(l);
    if (!enabled(l)) return;
    emit(l, sub, fmt::format(f, std::forward<A>(a)...));
  }
  template <typename... A>
  void guest_error(std::string_view sub, fmt::format_string<A...> f, A&&... a) {
    log(log_level::guest_error, sub, f, std::forward<A>(a)...);
  }
  template <typename... A>
  void unimplemented(std::string_view sub, fmt::format_string<A...> f, A&&... a) {
    log(log_level::unimplemented, sub, f, std::forward<A>(a)...);
  }

  // Structured trace: one JSON object per line; `body` holds the fields after "t" and "src".
  void set_trace_sink(line_sink sink) { m_trace = std::move(sink); }
  bool tracing() const { return static_cast<bool>(m_trace); }
  void trace(std::string_view event, std::string_view body);

  const diag_counters& counters() const { return m_counters; }
  ps_t now() const { return m_clock ? *m_clock : 0; }

 private:
  void count(log_level l) {
    if (l == log_level::guest_error) ++m_counters.guest_errors;
    else if (l == log_level::unimplemented) ++m_counters.unimplemented;
    else if (l == log_level::warn) ++m_counters.warnings;
  }
  void emit(log_level l, std::string_view sub, const std::string& msg);

  std::string m_path;
  const ps_t* m_clock;
  line_sink m_log;
  log_level m_level = log_level::info;
  line_sink m_trace;
  diag_counters m_counters;
};

// Escapes a string for a JSON string literal (without the quotes).
std::string json_escape(std::string_view s);
// Lower-case hex of a byte run, no separators ("0a1b").
std::string hex_bytes(const std::uint8_t* p, std::size_t n);

}  // namespace wizsim
