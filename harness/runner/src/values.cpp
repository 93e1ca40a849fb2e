// Value parsers for scenario files: durations, sizes, speeds, addresses and matchers.
#include <cctype>
#include <cstdio>

#include "engine.hpp"

namespace wizsim::scenario::detail {

namespace {

std::string trim(const std::string& s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

// "31.8" times `unit` exactly (no floating point): integer part and up to 12 fraction digits.
std::optional<std::uint64_t> scaled(const std::string& num, std::uint64_t unit) {
  if (num.empty()) return std::nullopt;
  std::uint64_t whole = 0, frac = 0, frac_div = 1;
  bool dot = false, any = false;
  for (char c : num) {
    if (c == '.') {
      if (dot) return std::nullopt;
      dot = true;
      continue;
    }
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    any = true;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (!dot) {
      if (whole > (~std::uint64_t{0} - d) / 10) return std::nullopt;
      whole = whole * 10 + d;
    } else if (frac_div < 1'000'000'000'000ull) {
      frac = frac * 10 + d;
      frac_div *= 10;
    }
  }
  if (!any) return std::nullopt;
  if (unit != 0 && whole > ~std::uint64_t{0} / unit) return std::nullopt;
  const std::uint64_t v = whole * unit;
  // frac / frac_div of a unit: exact integer arithmetic when the unit is a multiple of the divisor (every
  // time unit with up to 12 decimals), else rounded through long double (sizes like 1.5KiB).
  if (unit % frac_div == 0) return v + frac * (unit / frac_div);
  const long double f =
      static_cast<long double>(frac) * static_cast<long double>(unit) / static_cast<long double>(frac_div);
  return v + static_cast<std::uint64_t>(f + 0.5L);
}

// Splits "31.8ms" into "31.8" and "ms".
void split_unit(const std::string& s, std::string& num, std::string& unit) {
  std::size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  num = s.substr(0, i);
  unit = trim(s.substr(i));
}

}  // namespace

std::optional<ps_t> parse_duration(const std::string& text) {
  const std::string s = trim(text);
  std::string num, unit;
  split_unit(s, num, unit);
  if (unit.empty()) {
    if (num == "0") return 0;
    return std::nullopt;
  }
  static const std::pair<const char*, ps_t> units[] = {{"ps", 1},         {"ns", ps_per_ns},
                                                       {"us", ps_per_us}, {"ms", ps_per_ms},
                                                       {"s", ps_per_s},   {"min", 60 * ps_per_s}};
  for (const auto& [name, mult] : units)
    if (unit == name) return scaled(num, mult);
  return std::nullopt;
}

std::optional<std::uint64_t> parse_size(const std::string& text) {
  const std::string s = trim(text);
  std::string num, unit;
  split_unit(s, num, unit);
  static const std::pair<const char*, std::uint64_t> units[] = {
      {"", 1}, {"B", 1}, {"KiB", 1024}, {"MiB", 1024 * 1024}, {"KB", 1000}, {"MB", 1000 * 1000}};
  for (const auto& [name, mult] : units)
    if (unit == name) return scaled(num, mult);
  return std::nullopt;
}

std::optional<std::uint64_t> parse_speed(const std::string& text) {
  const std::string s = trim(text);
  std::string num, unit;
  split_unit(s, num, unit);
  static const std::pair<const char*, std::uint64_t> units[] = {
      {"", 1}, {"bps", 1}, {"kbps", 1000}, {"Kbps", 1000}, {"Mbps", 1000000}, {"Gbps", 1000000000}};
  for (const auto& [name, mult] : units)
    if (unit == name) {
      auto v = scaled(num, mult);
      if (v && *v == 0) return std::nullopt;
      return v;
    }
  return std::nullopt;
}

std::optional<ip4_addr> parse_ip(const std::string& text) {
  const std::string s = trim(text);
  unsigned parts[4];
  int n = 0;
  std::size_t i = 0;
  while (n < 4) {
    std::size_t j = i;
    unsigned v = 0;
    while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j])) && j - i < 3)
      v = v * 10 + unsigned(s[j++] - '0');
    if (j == i || v > 255) return std::nullopt;
    parts[n++] = v;
    i = j;
    if (n < 4) {
      if (i >= s.size() || s[i] != '.') return std::nullopt;
      ++i;
    }
  }
  if (i != s.size()) return std::nullopt;
  return ip4(parts[0], parts[1], parts[2], parts[3]);
}

std::optional<mac_addr> parse_mac(const std::string& text) {
  const std::string s = trim(text);
  if (s.size() != 17) return std::nullopt;
  mac_addr m{};
  for (int k = 0; k < 6; ++k) {
    const std::size_t at = static_cast<std::size_t>(k) * 3;
    if (k < 5 && s[at + 2] != ':') return std::nullopt;
    unsigned v = 0;
    for (std::size_t d = 0; d < 2; ++d) {
      const char c = s[at + d];
      if (!std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
      v = v * 16 + static_cast<unsigned>(
                       std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : (std::tolower(c) - 'a' + 10));
    }
    m[static_cast<std::size_t>(k)] = static_cast<std::uint8_t>(v);
  }
  return m;
}

std::optional<std::uint64_t> parse_uint(const std::string& text) {
  const std::string s = trim(text);
  if (s.empty()) return std::nullopt;
  std::uint64_t v = 0;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    for (std::size_t i = 2; i < s.size(); ++i) {
      if (!std::isxdigit(static_cast<unsigned char>(s[i])) || v > (~std::uint64_t{0} >> 4))
        return std::nullopt;
      const char c = s[i];
      v = v * 16 + static_cast<std::uint64_t>(
                       std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : (std::tolower(c) - 'a' + 10));
    }
    return v;
  }
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (~std::uint64_t{0} - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

namespace {

template <typename F>
std::optional<range> range_of(const std::string& text, F unit) {
  const std::string s = trim(text);
  range r;
  auto bound = [&](std::size_t skip) { return unit(trim(s.substr(skip))); };
  if (s.rfind(">=", 0) == 0) {
    auto v = bound(2);
    if (!v) return std::nullopt;
    r.min = *v;
  } else if (s.rfind("<=", 0) == 0) {
    auto v = bound(2);
    if (!v) return std::nullopt;
    r.max = *v;
  } else if (s.rfind('>', 0) == 0) {
    auto v = bound(1);
    if (!v || *v == ~std::uint64_t{0}) return std::nullopt;
    r.min = *v + 1;
  } else if (s.rfind('<', 0) == 0) {
    auto v = bound(1);
    if (!v || *v == 0) return std::nullopt;
    r.max = *v - 1;
  } else if (auto dots = s.find(".."); dots != std::string::npos) {
    auto a = unit(trim(s.substr(0, dots)));
    auto b = unit(trim(s.substr(dots + 2)));
    if (!a || !b || *a > *b) return std::nullopt;
    r.min = *a;
    r.max = *b;
  } else {
    auto v = unit(s);
    if (!v) return std::nullopt;
    r.min = r.max = *v;
  }
  return r;
}

}  // namespace

// Counts take plain numbers and sizes (bytes received: "64KiB").
std::optional<range> parse_count(const std::string& s) {
  return range_of(s, [](const std::string& t) {
    auto v = parse_uint(t);
    return v ? v : parse_size(t);
  });
}
std::optional<range> parse_time_range(const std::string& s) {
  return range_of(s, parse_duration);
}

std::string show_time(ps_t t) {
  char buf[64];
  if (t % ps_per_s == 0) {
    std::snprintf(buf, sizeof buf, "%llus", static_cast<unsigned long long>(t / ps_per_s));
  } else if (t >= ps_per_s) {
    std::snprintf(buf, sizeof buf, "%.3fs", static_cast<double>(t) / static_cast<double>(ps_per_s));
  } else if (t >= ps_per_ms) {
    std::snprintf(buf, sizeof buf, "%.3fms", static_cast<double>(t) / static_cast<double>(ps_per_ms));
  } else {
    std::snprintf(buf, sizeof buf, "%.3fus", static_cast<double>(t) / static_cast<double>(ps_per_us));
  }
  return buf;
}

namespace {
template <typename F>
std::string describe(const range& r, F show) {
  constexpr std::uint64_t top = ~std::uint64_t{0};
  if (r.min == r.max) return show(r.min);
  if (r.max == top) return ">= " + show(r.min);
  if (r.min == 0) return "<= " + show(r.max);
  return show(r.min) + ".." + show(r.max);
}
}  // namespace

std::string describe_count(const range& r) {
  return describe(r, [](std::uint64_t v) { return std::to_string(v); });
}
std::string describe_time_range(const range& r) {
  return describe(r, show_time);
}

}  // namespace wizsim::scenario::detail
