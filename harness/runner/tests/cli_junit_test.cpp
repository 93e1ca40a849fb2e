// JUnit XML: counts, one suite per folder, failures vs errors, and well-formed (schema-valid) output
// whatever bytes a crashing scenario printed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "cli_junit.hpp"

namespace fs = std::filesystem;
using namespace wizsim;
using namespace wizsim::cli;

namespace {

scenario_report report(const std::string& file, const std::string& name, outcome o) {
  scenario_report r;
  r.file = file;
  r.name = name;
  r.result = o;
  r.virtual_time = seconds(3);
  r.wall_seconds = 0.25;
  r.seed = 7;
  r.log = "0.000000s step 1: dhcp\n";
  if (o != outcome::passed) r.failures = {"step 1: expected \"bound\" <got> timeout & more"};
  return r;
}

std::size_t count(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

// Validates with xmllint against tests/junit.xsd; "" when valid, else xmllint's complaint.
std::string schema_errors(const std::string& xml) {
  const std::string xmllint = WIZSIM_XMLLINT;
  if (xmllint.empty()) return "xmllint missing";
  std::string tmpl = (fs::temp_directory_path() / "wizsim-junit-XXXXXX").string();
  const int fd = mkstemp(tmpl.data());
  if (fd < 0) return "mkstemp failed";
  close(fd);
  std::ofstream(tmpl, std::ios::binary) << xml;
  const std::string log = tmpl + ".log";
  const std::string cmd =
      xmllint + " --noout --schema " WIZSIM_RUNNER_TEST_DIR "/junit.xsd " + tmpl + " 2>" + log;
  const int rc = std::system(cmd.c_str());
  std::ifstream in(log);
  std::string msg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  fs::remove(tmpl);
  fs::remove(log);
  return rc == 0 ? std::string() : msg;
}

bool require_xmllint() {
  if (std::string(WIZSIM_XMLLINT).empty()) {
    // ci/test installs libxml2-utils and sets CI=true: there a missing xmllint is a failure.
    if (std::getenv("CI")) ADD_FAILURE() << "xmllint (libxml2-utils) is not installed";
    return false;
  }
  return true;
}

TEST(CliJunit, CountsAndOneSuitePerFolder) {
  auto crash = report("scenarios/tcp/b.yaml", "tcp-b", outcome::crashed);
  const std::string x = junit_xml({report("scenarios/dhcp/a.yaml", "dhcp-a", outcome::passed),
                                   report("scenarios/dhcp/b.yaml", "dhcp-b", outcome::failed),
                                   report("scenarios/tcp/a.yaml", "tcp-a", outcome::timed_out), crash},
                                  {"2026-01-02T03:04:05", "ci-host"});
  EXPECT_NE(x.find("<testsuites name=\"wizsim\" tests=\"4\" failures=\"1\" errors=\"2\""), std::string::npos)
      << x;
  EXPECT_EQ(count(x, "<testsuite "), 2u);
  EXPECT_NE(x.find("name=\"scenarios.dhcp\""), std::string::npos);
  EXPECT_NE(x.find("name=\"scenarios.tcp\" id=\"1\" tests=\"2\" failures=\"0\" errors=\"2\""),
            std::string::npos);
  EXPECT_EQ(count(x, "<testcase "), 4u);
  EXPECT_EQ(count(x, "<failure "), 1u);
  EXPECT_EQ(count(x, "<error "), 2u);
  EXPECT_NE(x.find("type=\"timeout\""), std::string::npos);
  EXPECT_NE(x.find("hostname=\"ci-host\""), std::string::npos);
  EXPECT_NE(x.find("seed: 7"), std::string::npos);
  EXPECT_NE(x.find("time=\"0.250\""), std::string::npos);
}

TEST(CliJunit, EscapesMarkupAndDropsWhatXmlForbids) {
  EXPECT_EQ(xml_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
  EXPECT_EQ(xml_escape(std::string("x\0y\x01\x7f", 5)), "x?y??");
  EXPECT_EQ(xml_escape("line\nnext\ttab"), "line\nnext\ttab");
  EXPECT_EQ(xml_escape("line\nnext", true), "line&#10;next");
  EXPECT_EQ(xml_escape("caf\xc3\xa9 \xe2\x82\xac"), "caf\xc3\xa9 \xe2\x82\xac");  // valid UTF-8 kept
  EXPECT_EQ(xml_escape("\xff\xc3"), "??");                                        // invalid bytes replaced
  EXPECT_EQ(xml_escape("\xc0\xaf"), "??");                                        // overlong '/'
  EXPECT_EQ(xml_escape("\xed\xa0\x80"), "???");                                   // a UTF-16 surrogate
}

TEST(CliJunit, ValidatesAgainstTheSchemaWithHostileContent) {
  if (!require_xmllint()) GTEST_SKIP() << "xmllint not installed";
  auto crash = report("odd dir/<x>.yaml", "name \"with\" <markup> & \x01 ctrl \xff", outcome::crashed);
  crash.output = std::string("segfault \0 in the \x1b[31mengine\x1b[0m ]]> \xfe\n", 40);
  crash.failures.push_back("second\nline");
  const std::string x = junit_xml({report("scenarios/dhcp/a.yaml", "dhcp-a", outcome::passed), crash,
                                   report("top.yaml", "top", outcome::failed)},
                                  {iso_timestamp_now(), "host"});
  EXPECT_EQ(schema_errors(x), "") << x;
}

TEST(CliJunit, EmptyRunIsStillValid) {
  if (!require_xmllint()) GTEST_SKIP() << "xmllint not installed";
  EXPECT_EQ(schema_errors(junit_xml({}, {})), "");
}

TEST(CliJunit, TheSchemaRejectsBrokenJunit) {
  // Guards the guard: a schema that accepted anything would make the validation tests meaningless.
  if (!require_xmllint()) GTEST_SKIP() << "xmllint not installed";
  EXPECT_NE(schema_errors("<testsuites><testsuite tests=\"1\"><testcase/></testsuite></testsuites>"), "");
  EXPECT_NE(schema_errors("<testsuites><testsuite name=\"a\" tests=\"-1\"/></testsuites>"), "");
  EXPECT_NE(schema_errors("<testsuites><bogus/></testsuites>"), "");
}

}  // namespace
