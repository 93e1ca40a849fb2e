// The `wizsim` command line: every flag, both value spellings, and the errors that make it exit 2.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cli_options.hpp"

using namespace wizsim::cli;

namespace {

parse_result parse(std::vector<std::string> args) {
  return parse_args(args);
}

TEST(CliOptions, RunWithPathsAndEveryFlag) {
  const auto r =
      parse({"run", "scenarios/", "--filter", "dhcp*", "--filter=dns", "--seed", "42", "--shard", "2/3",
             "--jobs", "4", "--junit", "out.xml", "--artifacts=art", "--timeout", "7.5", "extra.yaml"});
  ASSERT_TRUE(r.value) << r.error;
  const options& o = *r.value;
  EXPECT_EQ(o.what, options::action::run);
  EXPECT_EQ(o.paths, (std::vector<std::string>{"scenarios/", "extra.yaml"}));
  EXPECT_EQ(o.filters, (std::vector<std::string>{"dhcp*", "dns"}));
  ASSERT_TRUE(o.seed);
  EXPECT_EQ(*o.seed, 42u);
  EXPECT_EQ(o.shard.index, 2u);
  EXPECT_EQ(o.shard.count, 3u);
  EXPECT_EQ(o.jobs, 4u);
  EXPECT_EQ(o.junit, "out.xml");
  EXPECT_EQ(o.artifacts, "art");
  EXPECT_DOUBLE_EQ(o.timeout_seconds, 7.5);
}

TEST(CliOptions, DefaultsRunOneAtATimeWithoutSeedOverrideOrShard) {
  const auto r = parse({"run", "a.yaml"});
  ASSERT_TRUE(r.value) << r.error;
  EXPECT_EQ(r.value->jobs, 1u);
  EXPECT_FALSE(r.value->seed);
  EXPECT_EQ(r.value->shard.index, 1u);
  EXPECT_EQ(r.value->shard.count, 1u);
  EXPECT_TRUE(r.value->junit.empty());
  EXPECT_TRUE(r.value->artifacts.empty());
}

TEST(CliOptions, ListHelpAndVersionAreActions) {
  EXPECT_EQ(parse({"run", "--list", "x"}).value->what, options::action::list);
  EXPECT_EQ(parse({"--help"}).value->what, options::action::help);
  EXPECT_EQ(parse({"-h"}).value->what, options::action::help);
  EXPECT_EQ(parse({"run", "--help"}).value->what, options::action::help);
  EXPECT_EQ(parse({"--version"}).value->what, options::action::version);
  EXPECT_NE(usage().find("--shard"), std::string::npos);
  EXPECT_EQ(version_text().rfind("wizsim ", 0), 0u);
}

TEST(CliOptions, ShortJobsFlagAndZeroMeaningOnePerCpu) {
  const auto r = parse({"run", "-j", "0", "x"});
  ASSERT_TRUE(r.value) << r.error;
  EXPECT_EQ(r.value->jobs, 0u);
}

TEST(CliOptions, DoubleDashMakesTheRestPaths) {
  const auto r = parse({"run", "--", "--list", "-x.yaml"});
  ASSERT_TRUE(r.value) << r.error;
  EXPECT_EQ(r.value->what, options::action::run);
  EXPECT_EQ(r.value->paths, (std::vector<std::string>{"--list", "-x.yaml"}));
}

TEST(CliOptions, BadInputIsRejectedWithAReason) {
  struct bad {
    std::vector<std::string> args;
    std::string mentions;
  };
  const std::vector<bad> cases = {
      {{}, "no command"},
      {{"frobnicate"}, "unknown command"},
      {{"run"}, "no scenario file"},
      {{"run", "--list"}, "no scenario file"},
      {{"run", "x", "--bogus"}, "unknown option '--bogus'"},
      {{"run", "x", "--seed"}, "needs a value"},
      {{"run", "x", "--seed", "-1"}, "--seed"},
      {{"run", "x", "--seed", "12abc"}, "--seed"},
      {{"run", "x", "--seed", "18446744073709551616"}, "--seed"},
      {{"run", "x", "--shard", "0/2"}, "--shard"},
      {{"run", "x", "--shard", "3/2"}, "--shard"},
      {{"run", "x", "--shard", "1/0"}, "--shard"},
      {{"run", "x", "--shard", "2"}, "--shard"},
      {{"run", "x", "--jobs", "many"}, "--jobs"},
      {{"run", "x", "--jobs", "5000"}, "--jobs"},
      {{"run", "x", "--timeout", "0"}, "--timeout"},
      {{"run", "x", "--timeout", "soon"}, "--timeout"},
      {{"run", "x", "--filter="}, "--filter"},
      {{"run", "x", "--junit="}, "--junit"},
  };
  for (const auto& c : cases) {
    const auto r = parse(c.args);
    std::string joined;
    for (const auto& a : c.args) joined += a + " ";
    EXPECT_FALSE(r.value) << joined;
    EXPECT_NE(r.error.find(c.mentions), std::string::npos) << joined << "-> " << r.error;
  }
}

TEST(CliOptions, ParsesUnsignedNumbersExactly) {
  EXPECT_EQ(parse_u64("0"), 0u);
  EXPECT_EQ(parse_u64("18446744073709551615"), 18446744073709551615u);
  EXPECT_FALSE(parse_u64("18446744073709551616"));
  EXPECT_FALSE(parse_u64(""));
  EXPECT_FALSE(parse_u64(" 1"));
  EXPECT_FALSE(parse_u64("+1"));
}

TEST(CliOptions, ShardSpecNeedsOneBasedIndexWithinCount) {
  const auto s = parse_shard("1/1");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->index, 1u);
  EXPECT_EQ(parse_shard("4/4")->index, 4u);
  EXPECT_FALSE(parse_shard("/4"));
  EXPECT_FALSE(parse_shard("1/"));
  EXPECT_FALSE(parse_shard("1/2/3"));
}

}  // namespace
