// Results crossing the process boundary, and how they are shown: times, ratios, the summary table.
#include <gtest/gtest.h>

#include <string>

#include "cli_report.hpp"

using namespace wizsim;
using namespace wizsim::cli;

namespace {

TEST(CliReport, ResultsSurviveTheTripFromChildToParent) {
  scenario::run_result r;
  r.passed = false;
  r.failures = {"step 3: expected 200, got 404", "weird: bytes \n\0:12: here"};
  r.failures[1].push_back('\0');
  r.virtual_time = 61'234'567'890'123;
  r.wall_seconds = 0.0421;
  r.seed = 18446744073709551615u;
  r.log = std::string("line1\nline:2\n") + std::string(100000, 'x');
  r.artifacts = {"a/pcap.pcap", ""};
  const auto back = decode_result(encode_result(r));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->passed, r.passed);
  EXPECT_EQ(back->failures, r.failures);
  EXPECT_EQ(back->virtual_time, r.virtual_time);
  EXPECT_DOUBLE_EQ(back->wall_seconds, r.wall_seconds);
  EXPECT_EQ(back->seed, r.seed);
  EXPECT_EQ(back->log, r.log);
  EXPECT_EQ(back->artifacts, r.artifacts);

  r.passed = true;
  EXPECT_TRUE(decode_result(encode_result(r))->passed);
}

TEST(CliReport, TruncatedOrForeignBytesAreNotAResult) {
  scenario::run_result r;
  r.failures = {"x"};
  const auto bytes = encode_result(r);
  for (std::size_t cut = 0; cut < bytes.size(); ++cut)
    EXPECT_FALSE(decode_result(bytes.substr(0, cut))) << "cut at " << cut;
  EXPECT_FALSE(decode_result(bytes + "trailing"));
  EXPECT_FALSE(decode_result("hello"));
}

TEST(CliReport, TimesUseReadableUnits) {
  EXPECT_EQ(format_virtual(seconds(61) + ms(200)), "61.2 s");
  EXPECT_EQ(format_virtual(ms(350)), "350.0 ms");
  EXPECT_EQ(format_virtual(us(12)), "12.0 us");
  EXPECT_EQ(format_wall(2.5), "2.50 s");
  EXPECT_EQ(format_wall(0.0414), "41.4 ms");
  EXPECT_EQ(format_wall(0.00035), "350 us");
  EXPECT_EQ(format_ratio(seconds(60), 0.5), "120x");
  EXPECT_EQ(format_ratio(ms(100), 0.2), "0.50x");
  EXPECT_EQ(format_ratio(seconds(1), 0), "-");
}

scenario_report report(const std::string& name, outcome o, ps_t virt, double wall) {
  scenario_report r;
  r.name = name;
  r.file = "scenarios/x/" + name + ".yaml";
  r.result = o;
  r.virtual_time = virt;
  r.wall_seconds = wall;
  if (o != outcome::passed) r.failures = {"expectation 2: wanted bound, got timeout"};
  return r;
}

TEST(CliReport, SummaryHasEveryScenarioTotalsAndFailureReasons) {
  auto failing = report("dhcp-no-server", outcome::failed, seconds(60), 0.5);
  failing.artifacts_dir = "/tmp/wizsim-artifacts-1/dhcp-no-server";
  const std::string t = summary_table({report("dhcp-bind", outcome::passed, seconds(2), 0.1), failing,
                                       report("tcp-hang", outcome::timed_out, 0, 3.0)},
                                      2.0);
  EXPECT_NE(t.find("dhcp-bind"), std::string::npos);
  EXPECT_NE(t.find("PASS"), std::string::npos);
  EXPECT_NE(t.find("TIMEOUT"), std::string::npos);
  EXPECT_NE(t.find("120x"), std::string::npos);  // 60 s in 0.5 s
  EXPECT_NE(t.find("total (3)"), std::string::npos);
  EXPECT_NE(t.find("62.0 s"), std::string::npos);  // total virtual
  EXPECT_NE(t.find("1 passed, 2 failed"), std::string::npos);
  EXPECT_NE(t.find("wanted bound, got timeout"), std::string::npos);
  EXPECT_NE(t.find("artifacts: /tmp/wizsim-artifacts-1/dhcp-no-server"), std::string::npos);
}

TEST(CliReport, AllPassedHasNoFailureSection) {
  const std::string t = summary_table({report("a", outcome::passed, seconds(1), 0.1)}, 0.1);
  EXPECT_EQ(t.find("Failures"), std::string::npos);
  EXPECT_NE(t.find("1 passed, 0 failed"), std::string::npos);
}

TEST(CliReport, FinishedLineNamesCountResultAndTimes) {
  EXPECT_EQ(finished_line(3, 45, report("dhcp-bind", outcome::passed, seconds(61) + ms(200), 0.041)),
            "[ 3/45] PASS dhcp-bind (61.2 s virtual, 41.0 ms wall)");
}

TEST(CliReport, ACrashedScenarioShowsNoVirtualTimeOrSeed) {
  auto crashed = report("tcp-crash", outcome::crashed, 0, 0.5);
  crashed.has_result = false;
  crashed.seed = 99;
  EXPECT_EQ(finished_line(1, 1, crashed), "[1/1] CRASH tcp-crash (500.0 ms wall)");
  const std::string t = summary_table({crashed}, 0.5);
  EXPECT_EQ(t.find("seed 99"), std::string::npos);
  const auto row_start = t.find("\ntcp-crash ");
  ASSERT_NE(row_start, std::string::npos) << t;
  const std::string row = t.substr(row_start + 1, t.find('\n', row_start + 1) - row_start - 1);
  EXPECT_EQ(row.find(" us"), std::string::npos) << row;  // no made-up virtual time
  EXPECT_NE(row.find(" - "), std::string::npos) << row;
}

}  // namespace
