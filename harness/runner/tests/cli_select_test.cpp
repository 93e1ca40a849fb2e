// Choosing what runs: file discovery (recursive, sorted, deduplicated, errors for missing paths), filters
// (glob or substring on name and file) and shards (disjoint, complete, stable).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "cli_select.hpp"

namespace fs = std::filesystem;
using namespace wizsim::cli;

namespace {

class CliCollect : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "wizsim-cli-select-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { fs::remove_all(root_); }
  std::string touch(const std::string& rel) {
    const auto p = root_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << "name: x\n";
    return p.string();
  }
  fs::path root_;
};

TEST_F(CliCollect, FoldersAreSearchedRecursivelyForYamlAndSorted) {
  touch("b/z.yaml");
  touch("a/deep/y.yaml");
  touch("a/x.yaml");
  touch("a/notes.txt");
  touch("a/x.yml");
  const auto r = collect_files({root_.string()});
  EXPECT_TRUE(r.errors.empty());
  const std::string base = root_.generic_string();
  EXPECT_EQ(r.files,
            (std::vector<std::string>{base + "/a/deep/y.yaml", base + "/a/x.yaml", base + "/b/z.yaml"}));
}

TEST_F(CliCollect, FilesAreTakenAsGivenAndDuplicatesRunOnce) {
  const auto f = touch("one.scenario");
  const auto g = touch("d/two.yaml");
  const auto r = collect_files({g, f, (root_ / "d").string(), (root_ / "d" / "." / "two.yaml").string()});
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(r.files.size(), 2u);
  EXPECT_NE(std::find(r.files.begin(), r.files.end(), fs::path(f).generic_string()), r.files.end());
}

TEST_F(CliCollect, MissingPathsAndEmptyFoldersAreErrorsNamingThePath) {
  fs::create_directories(root_ / "empty");
  touch("ok.yaml");
  const auto missing = (root_ / "nope.yaml").string();
  const auto r = collect_files({missing, (root_ / "empty").string(), (root_ / "ok.yaml").string()});
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].rfind(missing + ":", 0), 0u);
  EXPECT_NE(r.errors[0].find("no such file"), std::string::npos);
  EXPECT_NE(r.errors[1].find("no *.yaml"), std::string::npos);
  EXPECT_EQ(r.files.size(), 1u);
}

TEST(CliFilter, SubstringMatchesNameOrFile) {
  EXPECT_TRUE(matches_filter("bind", "dhcp-bind", "scenarios/dhcp/a.yaml"));
  EXPECT_TRUE(matches_filter("dhcp/", "x", "scenarios/dhcp/a.yaml"));
  EXPECT_FALSE(matches_filter("dns", "dhcp-bind", "scenarios/dhcp/a.yaml"));
  // A substring is literal: '.' is not "any character".
  EXPECT_FALSE(matches_filter("dhcp.bind", "dhcp-bind", "scenarios/dhcp/bind.yaml"));
}

TEST(CliFilter, GlobMatchesWholeNameOrAnyPathTail) {
  EXPECT_TRUE(matches_filter("dhcp-*", "dhcp-bind", "s/x.yaml"));
  EXPECT_FALSE(matches_filter("bind*", "dhcp-bind", "s/x.yaml"));  // anchored, unlike a substring
  EXPECT_TRUE(matches_filter("dhcp/*", "x", "scenarios/dhcp/bind.yaml"));
  EXPECT_TRUE(matches_filter("*/dns/*.yaml", "x", "scenarios/dns/a.yaml"));
  EXPECT_TRUE(matches_filter("scenarios/*", "x", "scenarios/dns/a.yaml"));  // '*' crosses '/'
  EXPECT_TRUE(matches_filter("tcp-[rz]*", "tcp-zero-window", "s/x.yaml"));
  EXPECT_FALSE(matches_filter("tcp-[rz]*", "tcp-loss", "s/x.yaml"));
  EXPECT_FALSE(matches_filter("?", "ab", "c/de"));
}

TEST(CliFilter, TagsMatchToo) {
  EXPECT_TRUE(matches_filter("smoke", "dhcp-bind", "s/x.yaml", {"dhcp", "smoke"}));
  EXPECT_TRUE(matches_filter("sm*", "dhcp-bind", "s/x.yaml", {"dhcp", "smoke"}));
  EXPECT_FALSE(matches_filter("slow", "dhcp-bind", "s/x.yaml", {"dhcp", "smoke"}));
  EXPECT_TRUE(matches_any({"nope", "smoke"}, "dhcp-bind", "s/x.yaml", {"smoke"}));
}

TEST(CliFilter, SeveralFiltersSelectTheUnionAndNoFilterSelectsAll) {
  EXPECT_TRUE(matches_any({}, "anything", "f.yaml"));
  EXPECT_TRUE(matches_any({"dns", "dhcp"}, "dhcp-bind", "f.yaml"));
  EXPECT_FALSE(matches_any({"dns", "http"}, "dhcp-bind", "f.yaml"));
}

TEST(CliShard, SlicesAreDisjointCompleteAndBalanced) {
  for (std::size_t count : {0u, 1u, 5u, 41u}) {
    for (unsigned n : {1u, 2u, 3u, 7u, 50u}) {
      std::set<std::size_t> seen;
      std::size_t smallest = count, largest = 0;
      for (unsigned i = 1; i <= n; ++i) {
        const auto part = shard_positions(count, {i, n});
        smallest = std::min(smallest, part.size());
        largest = std::max(largest, part.size());
        for (auto k : part) {
          EXPECT_LT(k, count);
          EXPECT_TRUE(seen.insert(k).second) << "position " << k << " in two shards";
        }
      }
      EXPECT_EQ(seen.size(), count) << count << " in " << n;
      EXPECT_LE(largest - std::min(smallest, largest), 1u);
    }
  }
}

TEST(CliShard, RoundRobinOverTheSortedList) {
  EXPECT_EQ(shard_positions(7, {1, 3}), (std::vector<std::size_t>{0, 3, 6}));
  EXPECT_EQ(shard_positions(7, {3, 3}), (std::vector<std::size_t>{2, 5}));
  EXPECT_EQ(shard_positions(3, {1, 1}), (std::vector<std::size_t>{0, 1, 2}));
  EXPECT_TRUE(shard_positions(3, {0, 1}).empty());  // invalid spec selects nothing rather than everything
}

TEST(CliArtifacts, DirectoryNamesAreSafe) {
  EXPECT_EQ(artifact_dir_name("dhcp-bind_2.x"), "dhcp-bind_2.x");
  EXPECT_EQ(artifact_dir_name("a b/c"), "a_b_c");
  EXPECT_EQ(artifact_dir_name(".."), "scenario..");
  EXPECT_EQ(artifact_dir_name(""), "scenario");
}

}  // namespace
