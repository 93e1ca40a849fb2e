// Observability (diag.hpp): the human log, stamped with virtual time and the component path, and the
// JSON-lines trace. Both are off by default while the counters keep counting; with sinks attached the
// lines have the documented shape and every trace line is one valid JSON object.
#include <gtest/gtest.h>

#include "test_util.hpp"

#include <cctype>
#include <cstdint>
#include <map>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "wizsim/config.hpp"
#include "wizsim/diag.hpp"
#include "wizsim/host.hpp"
#include "wizsim/registers.hpp"
#include "wizsim/scheduler.hpp"
#include "wizsim/w5500.hpp"

using namespace wizsim;

namespace {

using bytes_t = std::vector<std::uint8_t>;
using lines_t = std::vector<std::string>;

constexpr std::uint16_t SHAR = 0x09, IR = 0x15, IMR = 0x16, SIMR = 0x18, VERSIONR = 0x39;
constexpr std::uint16_t Sn_MR = 0x00, Sn_CR = 0x01, Sn_IR = 0x02;

struct rig {
  explicit rig(chip_config cfg = {}) : sched(1), chip(sched, std::move(cfg)) {}
  scheduler sched;
  w5500 chip;
  lines_t log, trace;
  void capture_log(log_level level = log_level::debug) {
    chip.log().set_log_sink([this](std::string_view l) { log.emplace_back(l); }, level);
  }
  void capture_trace() {
    chip.log().set_trace_sink([this](std::string_view l) { trace.emplace_back(l); });
  }
};

using wizsim::test::xfer;

// A read frame to reserved block 0x04 (control byte 0x20): one guest error, no other effect.
void reserved_read(w5500& chip) { xfer(chip, {0x00, 0x00, control_byte(0x04, false), 0x00}); }

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

lines_t matching(const lines_t& lines, std::string_view part) {
  lines_t out;
  for (const auto& l : lines)
    if (contains(l, part)) out.push_back(l);
  return out;
}

// ---- a strict parser for the trace's JSON objects (string and integer values) ---------------------------

class json_line {
 public:
  // Parses one line; on failure error() says why.
  explicit json_line(std::string_view s) : m_s(s) {
    parse_object();
    if (m_err.empty() && m_i != m_s.size()) fail("trailing characters");
  }
  const std::string& error() const { return m_err; }
  bool ok() const { return m_err.empty(); }
  const std::vector<std::string>& keys() const { return m_keys; }
  // Values as JSON text (strings unescaped, integers as written).
  const std::map<std::string, std::string>& fields() const { return m_fields; }
  bool has(const std::string& k) const { return m_fields.count(k) != 0; }
  std::string operator[](const std::string& k) const {
    auto it = m_fields.find(k);
    return it == m_fields.end() ? std::string("<missing>") : it->second;
  }

 private:
  void fail(const std::string& why) {
    if (m_err.empty()) m_err = why + " at column " + std::to_string(m_i);
  }
  bool eat(char c) {
    if (m_i < m_s.size() && m_s[m_i] == c) {
      ++m_i;
      return true;
    }
    fail(std::string("expected '") + c + "'");
    return false;
  }
  std::string parse_string() {
    std::string out;
    if (!eat('"')) return out;
    while (m_i < m_s.size()) {
      const char c = m_s[m_i++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) {
        fail("raw control character in string");
        return out;
      }
      if (c != '\\') {
        out += c;
        continue;
      }
      if (m_i >= m_s.size()) break;
      const char e = m_s[m_i++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'u': {
          bool hex = m_i + 4 <= m_s.size();
          for (std::size_t k = 0; hex && k < 4; ++k) hex = std::isxdigit(static_cast<unsigned char>(m_s[m_i + k])) != 0;
          if (!hex) {
            fail("bad \\u escape");
            return out;
          }
          out += static_cast<char>(std::stoi(std::string(m_s.substr(m_i, 4)), nullptr, 16));
          m_i += 4;
          break;
        }
        default: fail("bad escape"); return out;
      }
    }
    fail("unterminated string");
    return out;
  }
  std::string parse_integer() {
    const std::size_t start = m_i;
    if (m_i < m_s.size() && m_s[m_i] == '-') ++m_i;
    const std::size_t digits = m_i;
    while (m_i < m_s.size() && std::isdigit(static_cast<unsigned char>(m_s[m_i]))) ++m_i;
    if (m_i == digits) fail("expected a value");
    else if (m_s[digits] == '0' && m_i - digits > 1) fail("leading zero");
    return std::string(m_s.substr(start, m_i - start));
  }
  void parse_object() {
    if (!eat('{')) return;
    if (m_i < m_s.size() && m_s[m_i] == '}') {
      ++m_i;
      return;
    }
    while (m_err.empty()) {
      std::string key = parse_string();
      if (!eat(':')) return;
      std::string value = m_i < m_s.size() && m_s[m_i] == '"' ? parse_string() : parse_integer();
      if (!m_err.empty()) return;
      if (m_fields.count(key)) return fail("duplicate key '" + key + "'");
      m_keys.push_back(key);
      m_fields[key] = value;
      if (m_i < m_s.size() && m_s[m_i] == ',') {
        ++m_i;
        continue;
      }
      eat('}');
      return;
    }
  }

  std::string_view m_s;
  std::size_t m_i = 0;
  std::string m_err;
  std::vector<std::string> m_keys;
  std::map<std::string, std::string> m_fields;
};

// Every trace line: {"t":<integer>,"src":"<path>","ev":"<event>",...}, valid JSON, times non-decreasing.
void expect_valid_trace(const lines_t& lines, const std::string& src = "chip0") {
  std::uint64_t last_t = 0;
  for (const auto& l : lines) {
    SCOPED_TRACE(l);
    ASSERT_GE(l.size(), 2u);
    EXPECT_EQ(l.rfind("{\"t\":", 0), 0u) << "must start with {\"t\":";
    EXPECT_EQ(l.back(), '}');
    EXPECT_EQ(l.find('\n'), std::string::npos);
    const json_line j(l);
    ASSERT_TRUE(j.ok()) << j.error();
    ASSERT_GE(j.keys().size(), 3u);
    EXPECT_EQ(j.keys()[0], "t");
    EXPECT_EQ(j.keys()[1], "src");
    EXPECT_EQ(j.keys()[2], "ev");
    EXPECT_EQ(j["src"], src);
    EXPECT_FALSE(j["ev"].empty());
    const std::uint64_t t = std::stoull(j["t"]);
    EXPECT_GE(t, last_t) << "trace times must not go backwards";
    last_t = t;
  }
}

}  // namespace

// ---- off by default ------------------------------------------------------------------------------------

TEST(observability, logs_and_traces_are_off_by_default_but_counters_still_count) {
  rig r;
  EXPECT_FALSE(r.chip.log().tracing());
  for (log_level l : {log_level::error, log_level::guest_error, log_level::unimplemented, log_level::warn,
                      log_level::info, log_level::debug})
    EXPECT_FALSE(r.chip.log().enabled(l)) << to_string(l);
  EXPECT_EQ(r.chip.log().path(), "chip0");

  spi_host host(r.chip);
  reserved_read(r.chip);                      // guest error (SPI front-end)
  host.write8(bsb_common(), VERSIONR, 0x00);  // guest error (read-only register)
  host.write8(bsb_socket(1), Sn_MR, Sn_MR_IPRAW);
  ASSERT_TRUE(host.command(1, Sn_CR_OPEN));  // unimplemented (IPRAW)
  EXPECT_EQ(r.chip.log().counters().guest_errors, 2u);
  EXPECT_EQ(r.chip.log().counters().unimplemented, 1u);

  // Attaching sinks afterwards produces nothing retroactively.
  r.capture_log();
  r.capture_trace();
  EXPECT_TRUE(r.log.empty());
  EXPECT_TRUE(r.trace.empty());
  // Detaching turns them off again; counters keep counting.
  r.chip.log().set_log_sink(nullptr);
  r.chip.log().set_trace_sink(nullptr);
  EXPECT_FALSE(r.chip.log().tracing());
  EXPECT_FALSE(r.chip.log().enabled(log_level::error));
  reserved_read(r.chip);
  host.write8(bsb_common(), SHAR, 0x12);
  EXPECT_TRUE(r.log.empty());
  EXPECT_TRUE(r.trace.empty());
  EXPECT_EQ(r.chip.log().counters().guest_errors, 3u);
}

TEST(observability, log_level_filters_lines_but_never_counters) {
  rig r;
  r.capture_log(log_level::guest_error);
  spi_host host(r.chip);
  reserved_read(r.chip);
  host.write8(bsb_socket(1), Sn_MR, Sn_MR_IPRAW);
  ASSERT_TRUE(host.command(1, Sn_CR_OPEN));  // unimplemented + debug lines: filtered out
  EXPECT_EQ(r.log.size(), 1u);
  EXPECT_EQ(r.chip.log().counters().guest_errors, 1u);
  EXPECT_EQ(r.chip.log().counters().unimplemented, 1u);
  EXPECT_TRUE(r.chip.log().enabled(log_level::error));
  EXPECT_TRUE(r.chip.log().enabled(log_level::guest_error));
  EXPECT_FALSE(r.chip.log().enabled(log_level::unimplemented));

  r.log.clear();
  r.capture_log(log_level::debug);
  host.write8(bsb_socket(2), Sn_MR, Sn_MR_IPRAW);
  ASSERT_TRUE(host.command(2, Sn_CR_OPEN));
  host.write8(bsb_socket(2), Sn_MR, Sn_MR_TCP);
  ASSERT_TRUE(host.command(2, Sn_CR_OPEN));
  EXPECT_EQ(matching(r.log, "[unimpl t=").size(), 1u) << ::testing::PrintToString(r.log);
  EXPECT_FALSE(matching(r.log, "[debug  t=").empty()) << ::testing::PrintToString(r.log);
  EXPECT_EQ(matching(r.log, "chip0.sock2: CLOSED -> INIT (OPEN)").size(), 1u) << ::testing::PrintToString(r.log);
}

// ---- the human log ---------------------------------------------------------------------------------------

TEST(observability, guest_error_log_line_has_level_virtual_time_and_component_path) {
  for (spi_path p : {spi_path::burst, spi_path::bytes}) {
    rig r;
    r.capture_log();
    xfer(r.chip, {0x00, 0x00, control_byte(0x04, false), 0x00}, p);
    ASSERT_EQ(r.log.size(), 1u);
    const std::string& l = r.log[0];
    EXPECT_EQ(l.rfind("[guest  t=", 0), 0u) << l;
    EXPECT_TRUE(std::regex_match(l, std::regex(R"(\[guest  t=\d+\.\d{6}ms\] chip0\.spi: .+)"))) << l;
    EXPECT_TRUE(contains(l, "reserved block select 0x04")) << l;
    // Stamped when the control byte completed: T_CSS + 3 byte times after t = 0.
    const ps_t at = r.chip.config().cs_setup_ps + 3 * r.chip.spi().byte_time();
    EXPECT_TRUE(contains(l, "t=" + format_time(at) + "]")) << l << " expected t=" << format_time(at);
    EXPECT_TRUE(contains(l, "t=0.000725ms]")) << l;  // 5 ns + 3 x 240 ns at 33.3 MHz
  }
}

TEST(observability, log_lines_name_the_socket_and_the_configured_chip_path) {
  chip_config cfg;
  cfg.name = "board.eth1";
  rig r(cfg);
  r.capture_log();
  spi_host host(r.chip);
  host.write8(bsb_socket(3), Sn_MR, Sn_MR_MACRAW);  // MACRAW only on socket 0
  ASSERT_TRUE(host.command(3, Sn_CR_OPEN));
  reserved_read(r.chip);
  const lines_t sock = matching(r.log, "[guest  t=");
  ASSERT_EQ(sock.size(), 2u) << ::testing::PrintToString(r.log);
  EXPECT_TRUE(contains(sock[0], "] board.eth1.sock3: OPEN in MACRAW mode")) << sock[0];
  EXPECT_TRUE(contains(sock[1], "] board.eth1.spi: ")) << sock[1];
}

TEST(observability, log_stamp_is_virtual_time_in_milliseconds_to_the_nanosecond) {
  EXPECT_EQ(format_time(0), "0.000000ms");
  EXPECT_EQ(format_time(ms(12) + us(345) + ns(678)), "12.345678ms");
  EXPECT_EQ(format_time(ms(12) + us(345) + ns(678) + 999), "12.345678ms");  // picoseconds truncated
  EXPECT_EQ(format_time(seconds(3600)), "3600000.000000ms");

  rig r;
  r.capture_log();
  r.sched.advance_by(12'345'678'000);  // exactly 12.345678 ms
  ASSERT_EQ(r.sched.now(), ms(12) + us(345) + ns(678));
  r.chip.write(bsb_common(), VERSIONR, 0x00);  // guest error, now
  ASSERT_EQ(r.log.size(), 1u);
  EXPECT_TRUE(contains(r.log[0], "t=12.345678ms]")) << r.log[0];
  EXPECT_EQ(r.log[0].rfind("[guest  t=12.345678ms] chip0: write of 0x00 to read-only VERSIONR", 0), 0u) << r.log[0];
  // Through SPI the stamp is the time the offending byte completed on the wire.
  const ps_t start = r.sched.now();
  reserved_read(r.chip);
  ASSERT_EQ(r.log.size(), 2u);
  const std::string want = "t=" + format_time(start + r.chip.config().cs_setup_ps + 3 * r.chip.spi().byte_time());
  EXPECT_TRUE(contains(r.log[1], want)) << r.log[1] << " expected " << want;
  EXPECT_TRUE(contains(r.log[1], "t=12.346403ms]")) << r.log[1];
}

// ---- the trace -------------------------------------------------------------------------------------------

TEST(observability, shar_write_frame_traces_one_spi_event_and_a_reg_write_per_byte) {
  for (spi_path p : {spi_path::burst, spi_path::bytes}) {
    SCOPED_TRACE(p == spi_path::burst ? "burst" : "bytes");
    rig r;
    r.capture_trace();
    const ps_t start = r.sched.now();
    xfer(r.chip, {0x00, 0x09, 0x04, 0x00, 0x08, 0xDC, 0xAB, 0xCD, 0xEF}, p);
    expect_valid_trace(r.trace);
    ASSERT_EQ(r.trace.size(), 7u) << ::testing::PrintToString(r.trace);
    const int values[] = {0x00, 0x08, 0xDC, 0xAB, 0xCD, 0xEF};
    for (int i = 0; i < 6; ++i) {
      const json_line j(r.trace[static_cast<std::size_t>(i)]);
      EXPECT_EQ(j["ev"], "reg_write");
      EXPECT_EQ(j["reg"], "SHAR[" + std::to_string(i) + "]");
      EXPECT_EQ(j["value"], std::to_string(values[i]));
      // Each byte takes effect when it completes on the wire.
      EXPECT_EQ(j["t"], std::to_string(start + r.chip.config().cs_setup_ps +
                                       static_cast<ps_t>(4 + i) * r.chip.spi().byte_time()));
    }
    const std::string& spi = r.trace.back();
    EXPECT_TRUE(contains(spi, R"("ev":"spi")")) << spi;
    const json_line j(spi);
    EXPECT_EQ(j["addr"], "9");
    EXPECT_EQ(j["bsb"], "0");
    EXPECT_EQ(j["block"], "common");
    EXPECT_EQ(j["rw"], "w");
    EXPECT_EQ(j["om"], "0");
    EXPECT_EQ(j["len"], "6");
    EXPECT_EQ(j["data"], "0008dcabcdef");
    EXPECT_EQ(j["end"], "cs");
    EXPECT_EQ(j["t"], std::to_string(r.sched.now())) << "the spi event is stamped when CS rises";
  }
}

TEST(observability, open_on_socket_3_traces_the_command_and_the_state_change) {
  rig r;
  r.capture_trace();
  spi_host host(r.chip);
  host.write8(bsb_socket(3), Sn_MR, Sn_MR_TCP);
  host.write8(bsb_socket(3), Sn_CR, Sn_CR_OPEN);
  const ps_t written = r.sched.now() - r.chip.spi().cs_rise_time();  // the Sn_CR byte completed here
  r.sched.advance_by(us(2));
  expect_valid_trace(r.trace);
  EXPECT_EQ(matching(r.trace, R"("reg":"S3_MR","value":1)").size(), 1u) << ::testing::PrintToString(r.trace);
  EXPECT_EQ(matching(r.trace, R"("reg":"S3_CR","value":1)").size(), 1u) << ::testing::PrintToString(r.trace);
  const lines_t cmd = matching(r.trace, R"("ev":"command")");
  ASSERT_EQ(cmd.size(), 1u) << ::testing::PrintToString(r.trace);
  const json_line c(cmd[0]);
  EXPECT_EQ(c["sock"], "3");
  EXPECT_EQ(c["cmd"], "OPEN");
  EXPECT_EQ(c["code"], "1");
  EXPECT_EQ(c["state"], "CLOSED");
  EXPECT_EQ(c["t"], std::to_string(written + r.chip.config().quirk.command_latency_ps));
  const lines_t st = matching(r.trace, R"("ev":"state")");
  ASSERT_EQ(st.size(), 1u);
  const json_line s(st[0]);
  EXPECT_EQ(s["sock"], "3");
  EXPECT_EQ(s["from"], "CLOSED");
  EXPECT_EQ(s["to"], "INIT");
  EXPECT_EQ(s["why"], "OPEN");
  EXPECT_TRUE(contains(st[0], R"("from":"CLOSED","to":"INIT")")) << st[0];
  EXPECT_EQ(s["t"], c["t"]);
  EXPECT_EQ(r.chip.socket_status(3), SOCK_INIT);
}

TEST(observability, interrupt_with_enabled_masks_traces_intn_low_and_clearing_traces_it_high) {
  rig r;
  r.capture_trace();
  spi_host host(r.chip);
  // Masked: the bit latches (irq event) but INTn does not move.
  r.chip.raise_sn_ir(3, Sn_IR_CON);
  EXPECT_EQ(matching(r.trace, R"("ev":"irq")").size(), 1u);
  EXPECT_TRUE(matching(r.trace, R"("ev":"intn")").empty());
  EXPECT_TRUE(r.chip.int_n());
  // Enabling the socket in SIMR asserts INTn.
  host.write8(bsb_common(), SIMR, 0x08);
  lines_t intn = matching(r.trace, R"("ev":"intn")");
  ASSERT_EQ(intn.size(), 1u) << ::testing::PrintToString(r.trace);
  EXPECT_TRUE(contains(intn[0], R"("level":0)")) << intn[0];
  EXPECT_FALSE(r.chip.int_n());
  // Clearing Sn_IR releases it.
  host.write8(bsb_socket(3), Sn_IR, Sn_IR_CON);
  intn = matching(r.trace, R"("ev":"intn")");
  ASSERT_EQ(intn.size(), 2u);
  EXPECT_TRUE(contains(intn[1], R"("level":1)")) << intn[1];
  EXPECT_TRUE(r.chip.int_n());
  // Common interrupt with IMR enabled: irq then intn level 0 at once (INTLEVEL = 0, no hold-off).
  host.write8(bsb_common(), IMR, IR_CONFLICT);
  r.trace.clear();
  const ps_t t = r.sched.now();
  r.chip.raise_ir(IR_CONFLICT);
  ASSERT_EQ(r.trace.size(), 2u) << ::testing::PrintToString(r.trace);
  EXPECT_TRUE(contains(r.trace[0], R"("ev":"irq","reg":"IR","bits":128)")) << r.trace[0];
  EXPECT_EQ(r.trace[1], R"({"t":)" + std::to_string(t) + R"(,"src":"chip0","ev":"intn","level":0})");
  EXPECT_EQ(r.chip.read(bsb_common(), IR), IR_CONFLICT);
  expect_valid_trace(r.trace);
}

TEST(observability, every_trace_line_of_a_mixed_workload_is_one_valid_json_object) {
  rig r;
  r.capture_trace();
  r.capture_log();
  spi_host burst(r.chip, spi_path::burst), bytes(r.chip, spi_path::bytes);
  const std::uint8_t data[5] = {1, 2, 3, 4, 5};
  burst.write(bsb_tx(1), 0x07FE, data, 5);  // buffer write, wraps
  bytes.read8(bsb_rx(7), 0x1234);
  reserved_read(r.chip);
  xfer(r.chip, {0x00, 0x09});  // aborted header
  // FDM frames back to back, the last one cut short.
  xfer(r.chip, {0x00, 0x18, 0x05, 0xFF, 0x00, 0x39, 0x02, 0x00, 0x00, 0x00, 0x0F, 0x03, 0x00});
  for (int n = 0; n < 8; ++n) {
    burst.write8(bsb_socket(n), Sn_MR, static_cast<std::uint8_t>(n % 3 == 0 ? Sn_MR_UDP : Sn_MR_TCP));
    burst.command(n, Sn_CR_OPEN);
    burst.command(n, n % 2 ? Sn_CR_SEND : Sn_CR_LISTEN);
    burst.command(n, 0x77);  // unknown command
    r.chip.raise_sn_ir(n, 0x1F);
  }
  burst.write8(bsb_common(), 0x0013, 0x10);  // INTLEVEL hold-off
  burst.write8(bsb_common(), IMR, 0xF0);
  r.chip.raise_ir(0xF0);
  burst.write8(bsb_common(), IR, 0xF0);
  r.chip.raise_ir(IR_MP);
  r.sched.advance_by(us(10));
  burst.write8(bsb_common(), 0x002E, 0x00);  // PHY reset held
  burst.write8(bsb_common(), 0x002E, 0xF8);  // released: OPMD = 1, all-capable autonegotiation
  r.chip.set_cable(false);
  r.chip.set_cable(true);
  r.sched.advance_by(seconds(2));
  burst.write8(bsb_common(), 0x0000, 0x80);  // MR.RST
  r.chip.set_rstn(false);
  r.sched.advance_by(us(100));
  r.chip.set_rstn(true);
  r.sched.advance_by(ms(2));
  EXPECT_EQ(bytes.read8(bsb_common(), VERSIONR), 0x04);

  expect_valid_trace(r.trace);
  std::map<std::string, int> kinds;
  for (const auto& l : r.trace) ++kinds[json_line(l)["ev"]];
  for (const char* ev : {"spi", "reg_write", "command", "state", "irq", "intn", "phy", "reset"})
    EXPECT_GT(kinds[ev], 0) << "no \"" << ev << "\" event in the workload's trace";
  // Every log line has the documented prefix.
  const std::regex prefix(R"(\[(error |guest |unimpl|warn  |info  |debug ) t=\d+\.\d{6}ms\] chip0(\.[a-z0-9]+)?: .+)");
  for (const auto& l : r.log) EXPECT_TRUE(std::regex_match(l, prefix)) << l;
  EXPECT_FALSE(r.log.empty());
}

TEST(observability, trace_stays_valid_json_when_the_chip_path_needs_escaping) {
  chip_config cfg;
  cfg.name = "rack\"1\"\\eth\t0";
  rig r(cfg);
  r.capture_trace();
  spi_host host(r.chip);
  host.write8(bsb_common(), SHAR, 0x42);
  host.write8(bsb_socket(0), Sn_MR, Sn_MR_UDP);
  ASSERT_TRUE(host.command(0, Sn_CR_OPEN));
  ASSERT_FALSE(r.trace.empty());
  expect_valid_trace(r.trace, cfg.name);
  EXPECT_EQ(json_escape("a\"b\\c\nd\x01"), "a\\\"b\\\\c\\nd\\u0001");
  EXPECT_EQ(hex_bytes(nullptr, 0), "");
  const std::uint8_t b[3] = {0x00, 0xAB, 0x7F};
  EXPECT_EQ(hex_bytes(b, 3), "00ab7f");
}
