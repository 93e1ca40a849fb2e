// The pcap writer: byte-exact global and record headers, virtual-time stamps, snaplen, errors.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

#include <unistd.h>

#include "wizsim/pcap.hpp"
#include "wizsim/time.hpp"

using namespace wizsim;

namespace {

std::string temp_path(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return ::testing::TempDir() + "wizsim_" + info->name() + "_" + std::to_string(::getpid()) + "_" + name;
}

octets slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return octets(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

octets seq(std::size_t n, std::uint8_t first = 0) {
  octets v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(first + i);
  return v;
}

// The 24-byte global header, little-endian: magic a1b23c4d, 2.4, zone 0, sigfigs 0, snaplen 65535, DLT 1.
const octets global_header{0x4D, 0x3C, 0xB2, 0xA1, 0x02, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00,
                           0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00};

}  // namespace

TEST(pcap, empty_capture_is_exactly_the_global_header) {
  const std::string path = temp_path("empty.pcap");
  { pcap_writer w(path); }
  EXPECT_EQ(slurp(path), global_header);
  std::remove(path.c_str());
}

TEST(pcap, record_header_carries_seconds_nanoseconds_and_lengths) {
  const std::string path = temp_path("one.pcap");
  const octets frame = seq(60, 0x10);
  {
    pcap_writer w(path);
    // 3 s + 123456789 ns + 999 ps: the picoseconds below a nanosecond are dropped.
    w.write(frame, seconds(3) + ns(123'456'789) + 999);
    EXPECT_EQ(w.records(), 1u);
  }
  octets expect = global_header;
  const octets rec{0x03, 0x00, 0x00, 0x00,   // ts_sec = 3
                   0x15, 0xCD, 0x5B, 0x07,   // ts_nsec = 123456789 = 0x075BCD15
                   0x3C, 0x00, 0x00, 0x00,   // incl_len = 60
                   0x3C, 0x00, 0x00, 0x00};  // orig_len = 60
  expect.insert(expect.end(), rec.begin(), rec.end());
  expect.insert(expect.end(), frame.begin(), frame.end());
  EXPECT_EQ(slurp(path), expect);
  std::remove(path.c_str());
}

TEST(pcap, records_follow_each_other_in_write_order) {
  const std::string path = temp_path("two.pcap");
  {
    pcap_writer w(path);
    w.write(seq(14), 0);
    w.write(seq(1514, 3), ns(6720));
  }
  const octets got = slurp(path);
  ASSERT_EQ(got.size(), 24u + 16 + 14 + 16 + 1514);
  const std::size_t second = 24 + 16 + 14;
  EXPECT_EQ(octets(got.begin() + second, got.begin() + second + 16),
            octets({0x00, 0x00, 0x00, 0x00, 0x40, 0x1A, 0x00, 0x00, 0xEA, 0x05, 0x00, 0x00, 0xEA, 0x05, 0x00,
                    0x00}));
  EXPECT_EQ(octets(got.begin() + second + 16, got.end()), seq(1514, 3));
  std::remove(path.c_str());
}

TEST(pcap, frames_longer_than_snaplen_are_cut_and_keep_their_original_length) {
  const std::string path = temp_path("big.pcap");
  {
    pcap_writer w(path);
    w.write(octets(70000, 0xAB), 0);
  }
  const octets got = slurp(path);
  ASSERT_EQ(got.size(), 24u + 16 + 65535);
  EXPECT_EQ(octets(got.begin() + 24 + 8, got.begin() + 24 + 16),
            octets({0xFF, 0xFF, 0x00, 0x00, 0x70, 0x11, 0x01, 0x00}));  // incl 65535, orig 70000
  std::remove(path.c_str());
}

TEST(pcap, flush_makes_records_visible_before_the_writer_is_destroyed) {
  const std::string path = temp_path("flush.pcap");
  pcap_writer w(path);
  w.write(seq(60), us(1));
  w.flush();
  EXPECT_EQ(slurp(path).size(), 24u + 16 + 60);
  EXPECT_EQ(w.path(), path);
  std::remove(path.c_str());
}

TEST(pcap, unopenable_path_throws_runtime_error_naming_the_path_and_the_reason) {
  const std::string path = temp_path("no/such/dir/x.pcap");
  try {
    pcap_writer w(path);
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path), std::string::npos) << what;
    EXPECT_NE(what.find("No such file or directory"), std::string::npos) << what;
  }
}
