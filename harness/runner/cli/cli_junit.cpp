#include "cli_junit.hpp"

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <map>
#include <sstream>

namespace wizsim::cli {

namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 if the bytes there are not one.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  std::size_t n = 0;
  std::uint32_t cp = 0;
  if (b < 0x80) return 1;
  if ((b & 0xE0) == 0xC0)
    n = 2, cp = b & 0x1Fu;
  else if ((b & 0xF0) == 0xE0)
    n = 3, cp = b & 0x0Fu;
  else if ((b & 0xF8) == 0xF0)
    n = 4, cp = b & 0x07u;
  else
    return 0;
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    const auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (c & 0x3Fu);
  }
  // Overlong forms, surrogates and code points past U+10FFFF are not valid XML characters either;
  // U+FFFE and U+FFFF are excluded by XML 1.0.
  static const std::uint32_t min_for_length[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min_for_length[n] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF || cp == 0xFFFE ||
      cp == 0xFFFF)
    return 0;
  return n;
}

std::string seconds(double s) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", s < 0 ? 0.0 : s);
  return buf;
}

std::string dir_of(const std::string& file) {
  const auto slash = file.rfind('/');
  return slash == std::string::npos ? std::string(".") : file.substr(0, slash);
}

// "scenarios/dhcp" -> "scenarios.dhcp" (JUnit viewers group test cases by dotted class name).
std::string class_name(const std::string& dir) {
  std::string out;
  for (char c : dir) out += c == '/' ? '.' : c;
  while (!out.empty() && out[0] == '.') out.erase(0, 1);
  return out.empty() ? std::string("scenarios") : out;
}

}  // namespace

std::string xml_escape(std::string_view text, bool attribute) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    switch (c) {
      case '&':
        out += "&amp;";
        ++i;
        continue;
      case '<':
        out += "&lt;";
        ++i;
        continue;
      case '>':
        out += "&gt;";
        ++i;
        continue;
      case '"':
        out += "&quot;";
        ++i;
        continue;
      case '\'':
        out += "&apos;";
        ++i;
        continue;
      default:
        break;
    }
    // Allowed as they are in text; an attribute value would have them normalised to spaces, so there
    // they become character references. ('\r' is a reference in both: parsers turn a raw one into '\n'.)
    if (c == '\n' || c == '\t' || c == '\r') {
      if (attribute || c == '\r')
        out += c == '\n' ? "&#10;" : c == '\t' ? "&#9;" : "&#13;";
      else
        out += c;
      ++i;
      continue;
    }
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) {
      out += '?';
      ++i;
      continue;
    }
    const std::size_t n = utf8_length(text, i);
    if (n == 0) {
      out += '?';
      ++i;
      continue;
    }
    out.append(text.substr(i, n));
    i += n;
  }
  return out;
}

std::string iso_timestamp_now() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &local);
  return buf;
}

std::string junit_xml(const std::vector<scenario_report>& reports, const junit_info& info) {
  // Folders in first-appearance order (reports come sorted by file, so that is sorted too).
  std::vector<std::string> dirs;
  std::map<std::string, std::vector<const scenario_report*>> by_dir;
  for (const auto& r : reports) {
    const auto d = dir_of(r.file);
    if (by_dir.find(d) == by_dir.end()) dirs.push_back(d);
    by_dir[d].push_back(&r);
  }
  struct counts {
    std::size_t tests = 0, failures = 0, errors = 0;
    double time = 0;
  };
  auto count = [](const std::vector<const scenario_report*>& rs) {
    counts c;
    for (const auto* r : rs) {
      ++c.tests;
      if (r->result == outcome::failed) ++c.failures;
      if (r->result == outcome::crashed || r->result == outcome::timed_out) ++c.errors;
      c.time += r->wall_seconds;
    }
    return c;
  };
  std::vector<const scenario_report*> all;
  for (const auto& r : reports) all.push_back(&r);
  const counts total = count(all);

  std::ostringstream x;
  x << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  // The root carries no skipped= or timestamp=: the strictest well-known schema (Jenkins xunit's
  // junit-10) does not allow them there; the suites carry both.
  x << "<testsuites name=\"wizsim\" tests=\"" << total.tests << "\" failures=\"" << total.failures
    << "\" errors=\"" << total.errors << "\" time=\"" << seconds(total.time) << "\"";
  x << ">\n";
  std::size_t id = 0;
  for (const auto& d : dirs) {
    const auto& rs = by_dir[d];
    const counts c = count(rs);
    x << "  <testsuite name=\"" << xml_escape(class_name(d), true) << "\" id=\"" << id++ << "\" tests=\""
      << c.tests << "\" failures=\"" << c.failures << "\" errors=\"" << c.errors << "\" skipped=\"0\" time=\""
      << seconds(c.time) << "\"";
    if (!info.timestamp.empty()) x << " timestamp=\"" << xml_escape(info.timestamp, true) << "\"";
    if (!info.hostname.empty()) x << " hostname=\"" << xml_escape(info.hostname, true) << "\"";
    x << ">\n";
    for (const auto* r : rs) {
      x << "    <testcase name=\"" << xml_escape(r->name, true) << "\" classname=\""
        << xml_escape(class_name(d), true) << "\" file=\"" << xml_escape(r->file, true) << "\" time=\""
        << seconds(r->wall_seconds) << "\">\n";
      if (r->result != outcome::passed) {
        const char* element = r->result == outcome::failed ? "failure" : "error";
        const std::string first =
            r->failures.empty() ? std::string(outcome_label(r->result)) : r->failures[0];
        std::string body;
        for (const auto& f : r->failures) body += f + "\n";
        if (!r->artifacts_dir.empty()) body += "artifacts: " + r->artifacts_dir + "\n";
        x << "      <" << element << " message=\"" << xml_escape(first, true) << "\" type=\""
          << (r->result == outcome::failed    ? "expectation"
              : r->result == outcome::crashed ? "crash"
                                              : "timeout")
          << "\">" << xml_escape(body) << "</" << element << ">\n";
      }
      // The virtual time and seed a failure needs to be reproduced, then the engine's log.
      std::string out = r->has_result ? "seed: " + std::to_string(r->seed) +
                                            "\nvirtual time: " + format_virtual(r->virtual_time) + "\n"
                                      : std::string("no result from the scenario process\n");
      out += "wall time: " + format_wall(r->wall_seconds) + "\n";
      if (!r->log.empty()) out += "\n" + r->log;
      x << "      <system-out>" << xml_escape(out) << "</system-out>\n";
      if (!r->output.empty()) x << "      <system-err>" << xml_escape(r->output) << "</system-err>\n";
      x << "    </testcase>\n";
    }
    x << "  </testsuite>\n";
  }
  x << "</testsuites>\n";
  return x.str();
}

}  // namespace wizsim::cli
