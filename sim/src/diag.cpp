#include "wizsim/diag.hpp"

namespace wizsim {

const char* to_string(log_level l) {
  switch (l) {
    case log_level::error: return "error";
    case log_level::guest_error: return "guest";
    case log_level::unimplemented: return "unimpl";
    case log_level::warn: return "warn";
    case log_level::info: return "info";
    case log_level::debug: return "debug";
  }
  return "?";
}

void diag::emit(log_level l, std::string_view sub, const std::string& msg) {
  // [guest  t=12.345678ms] chip0.sock3: message
  std::string line = fmt::format("[{:<6} t={}] {}{}{}: {}", to_string(l), format_time(now()), m_path,
                                 sub.empty() ? "" : ".", sub, msg);
  m_log(line);
}

void diag::trace(std::string_view event, std::string_view body) {
  if (!m_trace) return;
  std::string line = fmt::format(R"({{"t":{},"src":"{}","ev":"{}"{}{}}})", now(), json_escape(m_path), event,
                                 body.empty() ? "" : ",", body);
  m_trace(line);
}

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        else out += c;
    }
  }
  return out;
}

std::string hex_bytes(const std::uint8_t* p, std::size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 15];
  }
  return out;
}

}  // namespace wizsim
