// The WIZNET5K core against an SPI transcript mock: the exact frames each call puts on the wire, what it
// does with scripted answers, argument validation, and refusing chips other than the W5500.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "spi_transcript.hpp"
#include "wiznet5k/wiznet5k.hpp"

using wiznet5k::errc;
using wiznet5k::ip4;
using wiznet5k::mac6;
using wiznet5k::WIZNET5K;
using wiznet5k::test::bytes;
using wiznet5k::test::spi_transcript;

namespace {

// Control bytes (VDM): common read/write, socket n register read/write, TX write, RX read.
constexpr std::uint8_t CR_ = 0x00, CW = 0x04;
constexpr std::uint8_t SR(int n) { return static_cast<std::uint8_t>(0x08 + (n << 5)); }
constexpr std::uint8_t SW(int n) { return static_cast<std::uint8_t>(0x0C + (n << 5)); }
constexpr std::uint8_t TXW(int n) { return static_cast<std::uint8_t>(0x14 + (n << 5)); }
constexpr std::uint8_t RXR(int n) { return static_cast<std::uint8_t>(0x18 + (n << 5)); }

// A read frame as it appears on MOSI: header, then n zero bytes clocked out.
bytes rd(std::uint16_t addr, std::uint8_t ctrl, std::size_t n = 1) {
  bytes b{static_cast<std::uint8_t>(addr >> 8), static_cast<std::uint8_t>(addr), ctrl};
  b.resize(3 + n, 0x00);
  return b;
}
bytes wr(std::uint16_t addr, std::uint8_t ctrl, const bytes& data) {
  bytes b(3 + data.size());
  b[0] = static_cast<std::uint8_t>(addr >> 8);
  b[1] = static_cast<std::uint8_t>(addr);
  b[2] = ctrl;
  std::copy(data.begin(), data.end(), b.begin() + 3);  // (vector::insert trips gcc 12's -Warray-bounds here)
  return b;
}

// Sn_SR / Sn_MR / Sn_IR / Sn_CR offsets and the values the tests put there.
constexpr std::uint16_t MR = 0x00, CR = 0x01, IR = 0x02, SSR = 0x03, PORT = 0x04, DIPR = 0x0C, DPORT = 0x10,
                        TX_FSR = 0x20, TX_WR = 0x24, RX_RSR = 0x26, RX_RD = 0x28;
constexpr std::uint8_t CLOSED = 0x00, INIT = 0x13, LISTEN = 0x14, ESTABLISHED = 0x17, CLOSE_WAIT = 0x1C,
                       UDP = 0x22;

// The frames of a successful begin(false) with the default MAC and the link up, in order.
std::vector<bytes> begin_frames(const mac6& mac = {0xDE, 0xAD, 0xBE, 0xEF, 0xFE, 0xED}) {
  std::vector<bytes> f = {
      {0xF0, 0x00, 0x00, 0x80},  // W5100S probe: its MR = RST (a W5500 reads common 0xF000)
      {0x0F, 0x00, 0x00, 0x00},  // W5100S probe: read its MR (a W5500 reads common 0x0F00: 0, not 0x03)
      wr(0x0000, CW, {0x80}),    // W5500: MR = RST
      rd(0x0000, CR_),           // MR reads 0 after reset
      wr(0x0000, CW, {0x08}), rd(0x0000, CR_),
      wr(0x0000, CW, {0x10}), rd(0x0000, CR_),
      wr(0x0000, CW, {0x00}), rd(0x0000, CR_),
      rd(0x0039, CR_),  // VERSIONR
  };
  for (int n = 0; n < 8; ++n) f.push_back(wr(0x001E, SW(n), {0x02, 0x02}));  // RX/TX 2 KB
  f.push_back(wr(0x0009, CW, bytes(mac.begin(), mac.end())));                // SHAR
  f.push_back(rd(0x002E, CR_));                                              // PHYCFGR: link up
  return f;
}

std::string frames_text(const std::vector<bytes>& frames) {
  std::string s;
  for (const auto& f : frames) s += spi_transcript::hex(f) + "\n";
  return s;
}

#define EXPECT_FRAMES(spi, expected) EXPECT_EQ(frames_text((spi).mosi()), frames_text(expected))

// A W5500 past begin(false), with the transcript cleared.
struct begun {
  explicit begun(bool reset_wired = false) : spi(spi_transcript::chip_kind::w5500, reset_wired) {
    const auto e = eth.begin(false);
    EXPECT_TRUE(e.ok()) << e.message;
    spi.clear();
  }
  spi_transcript spi;
  WIZNET5K eth{spi};
};

bool has_frame(const spi_transcript& spi, const bytes& f) {
  for (const auto& m : spi.mosi())
    if (m == f) return true;
  return false;
}

}  // namespace

// ---- begin(): detection, buffers, MAC, link ------------------------------------------------------------

TEST(Wiznet5kBegin, ProbesW5100sThenW5500ThenSetsBuffersMacAndChecksTheLink) {
  spi_transcript spi;
  WIZNET5K eth(spi);
  EXPECT_TRUE(spi.frames().empty()) << "the constructor does not touch the bus";
  const auto e = eth.begin(false);
  ASSERT_TRUE(e.ok()) << e.message;
  EXPECT_FRAMES(spi, begin_frames());
  EXPECT_STREQ(eth.chip(), "w5500");
  EXPECT_EQ(eth.max_sockets(), 8);
  // 1 s settle before detection, 50 ms after each reset (W5100S probe, W5500 probe); no reset pin.
  EXPECT_EQ(spi.sleeps_us, (std::vector<std::uint64_t>{1'000'000, 50'000, 50'000}));
  EXPECT_TRUE(spi.reset_levels.empty());
}

TEST(Wiznet5kBegin, WithAResetPinPulsesRstnLow100msThenWaitsAsTheSeed) {
  spi_transcript spi(spi_transcript::chip_kind::w5500, /*reset_wired=*/true);
  WIZNET5K eth(spi);
  ASSERT_TRUE(eth.begin(false).ok());
  EXPECT_EQ(spi.reset_levels, (std::vector<bool>{false, true}));
  EXPECT_EQ(spi.sleeps_us, (std::vector<std::uint64_t>{100'000, 5'000'000, 1'000'000, 50'000, 50'000}));
  EXPECT_FRAMES(spi, begin_frames());
}

TEST(Wiznet5kBegin, MacGivenAsBytesIsWrittenToShar) {
  spi_transcript spi;
  WIZNET5K eth(spi);
  const mac6 mac{0x02, 0x08, 0xDC, 0x01, 0x02, 0x03};
  ASSERT_TRUE(eth.begin(false, mac).ok());
  EXPECT_FRAMES(spi, begin_frames(mac));
}

TEST(Wiznet5kBegin, ALinkStillDownAfterFiveSecondsIsNotAnErrorButSocketsReportIt) {
  spi_transcript spi;
  spi.common(0x002E) = 0xBE;  // LNK = 0
  WIZNET5K eth(spi);
  const std::uint64_t t0 = spi.now_us();
  ASSERT_TRUE(eth.begin(false).ok());
  const std::uint64_t waited = spi.now_us() - t0;
  EXPECT_GE(waited, 6'000'000u);  // 1 s settle + 5 s link wait
  EXPECT_LT(waited, 6'700'000u);
  EXPECT_EQ(*eth.link_status(), false);
  const auto e = eth.socket_open(1, wiznet5k::SNMR_UDP);
  EXPECT_EQ(e.code, errc::connection_error);
  EXPECT_STREQ(e.message, "The Ethernet connection is down.");
}

TEST(Wiznet5kBegin, RefusesAW5100sByName) {
  spi_transcript spi(spi_transcript::chip_kind::w5100s);
  WIZNET5K eth(spi);
  const auto e = eth.begin(false);
  EXPECT_EQ(e.code, errc::runtime_error);
  EXPECT_NE(std::strstr(e.message, "W5100S"), nullptr) << e.message;
  EXPECT_FRAMES(spi, (std::vector<bytes>{{0xF0, 0x00, 0x00, 0x80},    // MR = RST in W5100S framing
                                         {0x0F, 0x00, 0x00, 0x00},    // MR reads 0x03
                                         {0x0F, 0x00, 0x80, 0x00}}));  // VERSIONR reads 0x51
  EXPECT_STREQ(eth.chip(), "");
  EXPECT_EQ(eth.socket_status(0).err.code, errc::runtime_error) << "no socket calls on a refused chip";
}

TEST(Wiznet5kBegin, RefusesAW6100ByName) {
  spi_transcript spi(spi_transcript::chip_kind::w6100);
  WIZNET5K eth(spi);
  const auto e = eth.begin(false);
  EXPECT_EQ(e.code, errc::runtime_error);
  EXPECT_NE(std::strstr(e.message, "W6100"), nullptr) << e.message;
  EXPECT_FRAMES(spi, (std::vector<bytes>{{0xF0, 0x00, 0x00, 0x80},
                                         {0x0F, 0x00, 0x00, 0x00},
                                         wr(0x0000, CW, {0x80}),
                                         rd(0x0000, CR_),      // "MR" is the W6100's CIDR: 0x61, not 0
                                         rd(0x0000, CR_)}));  // CIDR == 0x61
  EXPECT_STREQ(eth.chip(), "");
}

TEST(Wiznet5kBegin, NoChipAnsweringIsARuntimeError) {
  spi_transcript spi(spi_transcript::chip_kind::none);
  WIZNET5K eth(spi);
  const auto e = eth.begin(false);
  EXPECT_EQ(e.code, errc::runtime_error);
  EXPECT_STREQ(e.message, "Failed to initialize WIZnet module.");
}

TEST(Wiznet5kBegin, AMalformedMacIsAValueErrorBeforeAnyBusTraffic) {
  for (const char* bad : {"DE:AD:BE:EF:FE", "DE:AD:BE:EF:FE:ED:01", "DE:AD:BE:EF:FE:GG", "DEA:AD:BE:EF:FE:ED",
                          "DE-AD-BE-EF-FE-ED", "DE:AD:BE:EF:FE:ED ", ""}) {
    spi_transcript spi;
    WIZNET5K eth(spi);
    EXPECT_EQ(eth.begin(false, bad).code, errc::value_error) << bad;
    EXPECT_TRUE(spi.frames().empty()) << bad;
  }
  spi_transcript spi;
  WIZNET5K eth(spi);
  EXPECT_EQ(eth.begin(false, static_cast<const char*>(nullptr)).code, errc::value_error);
}

// ---- interface configuration ---------------------------------------------------------------------------

TEST(Wiznet5kConfig, MacAddressTextAndBytesGoToShar) {
  begun t;
  ASSERT_TRUE(t.eth.set_mac_address("02:00:5e:10:0:1").ok());
  EXPECT_EQ(t.eth.set_mac_address("02:00:5e:10:00").code, errc::value_error);
  ASSERT_TRUE(t.eth.set_mac_address(mac6{0x02, 1, 2, 3, 4, 5}).ok());
  const auto mac = t.eth.mac_address();
  ASSERT_TRUE(mac.ok());
  EXPECT_EQ(*mac, (mac6{0x02, 1, 2, 3, 4, 5}));
  EXPECT_FRAMES(t.spi, (std::vector<bytes>{wr(0x0009, CW, {0x02, 0x00, 0x5E, 0x10, 0x00, 0x01}),
                                           wr(0x0009, CW, {0x02, 1, 2, 3, 4, 5}), rd(0x0009, CR_, 6)}));
}

TEST(Wiznet5kConfig, SetIfconfigWritesSiprSubrGarAndRemembersDns) {
  begun t;
  const WIZNET5K::ifconfig_t cfg{{192, 168, 10, 50}, {255, 255, 255, 0}, {192, 168, 10, 1}, {9, 9, 9, 9}};
  ASSERT_TRUE(t.eth.set_ifconfig(cfg).ok());
  EXPECT_FRAMES(t.spi, (std::vector<bytes>{wr(0x000F, CW, {192, 168, 10, 50}), wr(0x0005, CW, {255, 255, 255, 0}),
                                           wr(0x0001, CW, {192, 168, 10, 1})}));
  t.spi.clear();
  const auto got = t.eth.ifconfig();
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->ip, cfg.ip);
  EXPECT_EQ(got->subnet, cfg.subnet);
  EXPECT_EQ(got->gateway, cfg.gateway);
  EXPECT_EQ(got->dns, cfg.dns) << "the chip has no DNS register: the driver remembers it";
  EXPECT_FRAMES(t.spi, (std::vector<bytes>{rd(0x000F, CR_, 4), rd(0x0005, CR_, 4), rd(0x0001, CR_, 4)}));
  EXPECT_EQ(*t.eth.ip_address(), cfg.ip);
}

TEST(Wiznet5kConfig, RtrIsAlwaysTwoBytesAndRcrOne) {
  begun t;
  // The seed wrote ints below 256 as one byte, which landed in RTR's high byte.
  ASSERT_TRUE(t.eth.set_rtr(100).ok());
  ASSERT_TRUE(t.eth.set_rcr(3).ok());
  EXPECT_EQ(*t.eth.rtr(), 100);
  EXPECT_EQ(*t.eth.rcr(), 3);
  EXPECT_FRAMES(t.spi, (std::vector<bytes>{wr(0x0019, CW, {0x00, 0x64}), wr(0x001B, CW, {0x03}),
                                           rd(0x0019, CR_, 2), rd(0x001B, CR_)}));
}

TEST(Wiznet5kConfig, LinkStatusIsPhycfgrBitZero) {
  begun t;
  EXPECT_TRUE(*t.eth.link_status());
  t.spi.common(0x002E) = 0xFE;
  EXPECT_FALSE(*t.eth.link_status());
  EXPECT_FRAMES(t.spi, (std::vector<bytes>{rd(0x002E, CR_), rd(0x002E, CR_)}));
}

TEST(Wiznet5kConfig, PrettyAndUnprettyAddresses) {
  char ip[16];
  WIZNET5K::pretty_ip({192, 168, 0, 1}, ip);
  EXPECT_STREQ(ip, "192.168.0.1");
  WIZNET5K::pretty_ip({0, 0, 0, 0}, ip);
  EXPECT_STREQ(ip, "0.0.0.0");
  WIZNET5K::pretty_ip({255, 255, 255, 255}, ip);
  EXPECT_STREQ(ip, "255.255.255.255");
  char mac[18];
  WIZNET5K::pretty_mac({0xDE, 0xAD, 0xBE, 0xEF, 0x0E, 0x01}, mac);
  EXPECT_STREQ(mac, "de:ad:be:ef:0e:01");
  EXPECT_EQ(*WIZNET5K::unpretty_ip("10.0.0.1"), (ip4{10, 0, 0, 1}));
  EXPECT_EQ(*WIZNET5K::unpretty_ip("255.255.255.255"), (ip4{255, 255, 255, 255}));
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.0.0.1", "1..2.3", "a.b.c.d", "1.2.3.4 ", " 1.2.3.4",
                          "1.2.3.0004", "-1.2.3.4"})
    EXPECT_EQ(WIZNET5K::unpretty_ip(bad).err.code, errc::value_error) << '"' << bad << '"';
  EXPECT_EQ(WIZNET5K::unpretty_ip(nullptr).err.code, errc::value_error);
}

// ---- socket registers ----------------------------------------------------------------------------------

TEST(Wiznet5kSocket, SnirReadWriteAndRemoteAddressAreSocketRegisterFrames) {
  begun t;
  t.spi.sock(3, IR) = 0x15;
  t.spi.sock(3, DIPR) = 10;
  t.spi.sock(3, DIPR + 3) = 7;
  t.spi.set_sock16(3, DPORT, 8080);
  EXPECT_EQ(*t.eth.read_snir(3), 0x15);
  ASSERT_TRUE(t.eth.write_snir(3, 0x10).ok());
  EXPECT_EQ(*t.eth.read_snir(3), 0x05) << "Sn_IR is write-1-to-clear";
  EXPECT_EQ(*t.eth.remote_ip(3), (ip4{10, 0, 0, 7}));
  EXPECT_EQ(*t.eth.remote_port(3), 8080);
  EXPECT_FRAMES(t.spi, (std::vector<bytes>{rd(IR, SR(3)), wr(IR, SW(3), {0x10}), rd(IR, SR(3)),
                                           rd(DIPR, SR(3), 4), rd(DPORT, SR(3), 2)}));
}

TEST(Wiznet5kSocket, OpenWritesModeClearsInterruptsSetsThePortOpensAndChecksTheState) {
  begun t;
  t.eth.src_port = 5000;
  ASSERT_TRUE(t.eth.socket_open(1, wiznet5k::SNMR_UDP).ok());
  EXPECT_FRAMES(t.spi, (std::vector<bytes>{
                           rd(0x002E, CR_),           // link up?
                           rd(SSR, SR(1)),            // closed (or closing/UDP)?
                           wr(MR, SW(1), {0x02}),     // Sn_MR = UDP
                           wr(IR, SW(1), {0xFF}),     // clear every interrupt
                           wr(PORT, SW(1), {0x13, 0x88}),  // 5000
                           wr(CR, SW(1), {0x01}),     // OPEN
                           rd(CR, SR(1)),             // accepted (reads 0)
                           rd(SSR, SR(1)),            // UDP
                       }));
  EXPECT_EQ(t.spi.sleeps_us, (std::vector<std::uint64_t>{250}));
  EXPECT_EQ(t.eth.src_port, 0) << "src_port is one-shot";
  EXPECT_EQ(*t.eth.socket_status(1), UDP);
}

TEST(Wiznet5kSocket, OpenTcpUsesModeTwentyOneAndARandomEphemeralPort) {
  begun t;
  t.spi.random_script = {0x12345678};  // 49152 + 0x12345678 % 16384 = 49152 + 0x1678 = 0xD678
  ASSERT_TRUE(t.eth.socket_open(2).ok());
  EXPECT_TRUE(has_frame(t.spi, wr(MR, SW(2), {0x21})));
  EXPECT_TRUE(has_frame(t.spi, wr(PORT, SW(2), {0xD6, 0x78})));
  EXPECT_EQ(*t.eth.socket_status(2), INIT);
  // A second socket drawing the same port draws again.
  t.spi.clear();
  t.spi.random_script = {0x12345678, 0x00000001};
  ASSERT_TRUE(t.eth.socket_open(3).ok());
  EXPECT_TRUE(has_frame(t.spi, wr(PORT, SW(3), {0xC0, 0x01})));
}

TEST(Wiznet5kSocket, OpenPollsTheStatusUntilTheChipShowsInit) {
  begun t;
  t.spi.script_read(SR(4) >> 3, SSR, {CLOSED, CLOSED, CLOSED});  // the check, then two polls
  ASSERT_TRUE(t.eth.socket_open(4).ok());
  int sr_reads = 0;
  for (const auto& f : t.spi.mosi()) sr_reads += f == rd(SSR, SR(4));
  EXPECT_EQ(sr_reads, 4);
}

TEST(Wiznet5kSocket, OpenRefusesASocketInUse) {
  begun t;
  t.spi.sock(1, SSR) = ESTABLISHED;
  const auto e = t.eth.socket_open(1);
  EXPECT_EQ(e.code, errc::connection_error);
  EXPECT_FRAMES(t.spi, (std::vector<bytes>{rd(0x002E, CR_), rd(SSR, SR(1))}));
  // Closing states and UDP may be re-opened.
  for (const std::uint8_t s : {std::uint8_t{0x18}, std::uint8_t{0x1A}, std::uint8_t{0x1B}, std::uint8_t{0x1C}, std::uint8_t{0x22}}) {
    t.spi.sock(1, SSR) = s;
    EXPECT_TRUE(t.eth.socket_open(1, wiznet5k::SNMR_UDP).ok()) << int{s};
  }
}

TEST(Wiznet5kSocket, OpenFailsWhenTheChipNeverShowsInit) {
  begun t;
  t.spi.on_command = [](int, std::uint8_t) {};
  const std::uint64_t t0 = t.spi.now_us();
  const auto e = t.eth.socket_open(1);
  EXPECT_EQ(e.code, errc::runtime_error);
  EXPECT_STREQ(e.message, "Could not open socket in TCP or UDP mode.");
  EXPECT_LT(t.spi.now_us() - t0, 200'000u);
}

TEST(Wiznet5kSocket, ACommandTheChipNeverTakesFailsAfter100ms) {
  begun t;
  t.spi.cr_sticks = true;
  const std::uint64_t t0 = t.spi.now_us();
  const auto e = t.eth.socket_disconnect(1);
  EXPECT_EQ(e.code, errc::runtime_error);
  EXPECT_GE(t.spi.now_us() - t0, 100'000u);
  EXPECT_LT(t.spi.now_us() - t0, 110'000u);
}

TEST(Wiznet5kSocket, ListenBindsThePortAndWaitsForListen) {
  begun t;
  ASSERT_TRUE(t.eth.socket_listen(5, 8080).ok());
  EXPECT_TRUE(has_frame(t.spi, wr(PORT, SW(5), {0x1F, 0x90})));
  EXPECT_EQ(t.spi.commands, (std::vector<std::pair<int, std::uint8_t>>{{5, 0x01}, {5, 0x02}}));
  EXPECT_EQ(*t.eth.socket_status(5), LISTEN);
  // UDP: bound by OPEN; no LISTEN command (a no-op on a UDP socket).
  t.spi.clear();
  ASSERT_TRUE(t.eth.socket_listen(6, 5353, wiznet5k::SNMR_UDP).ok());
  EXPECT_EQ(t.spi.commands, (std::vector<std::pair<int, std::uint8_t>>{{6, 0x01}}));
  EXPECT_EQ(t.eth.src_port, 0);
}

TEST(Wiznet5kSocket, ConnectWritesTheDestinationThenConnectsAndWaitsForEstablished) {
  begun t;
  t.eth.src_port = 40000;
  ASSERT_TRUE(t.eth.socket_connect(1, {192, 168, 0, 2}, 7).ok());
  const std::vector<bytes> expected = {
      rd(0x002E, CR_), rd(SSR, SR(1)), wr(MR, SW(1), {0x21}), wr(IR, SW(1), {0xFF}),
      wr(PORT, SW(1), {0x9C, 0x40}), wr(CR, SW(1), {0x01}), rd(CR, SR(1)), rd(SSR, SR(1)),
      wr(DIPR, SW(1), {192, 168, 0, 2}),  // one 4-byte burst (the seed: four 1-byte frames)
      wr(DPORT, SW(1), {0x00, 0x07}),
      wr(CR, SW(1), {0x04}), rd(CR, SR(1)),  // CONNECT
      rd(SSR, SR(1)),                        // ESTABLISHED
  };
  EXPECT_FRAMES(t.spi, expected);
}

TEST(Wiznet5kSocket, ConnectRefusedIsAConnectionErrorAndTimedOutATimeoutError) {
  begun t;
  t.spi.on_command = [&](int sn, std::uint8_t cmd) {
    if (cmd == 0x04) {
      t.spi.sock(sn, SSR) = CLOSED;  // RST from the peer
      return;
    }
    t.spi.default_command(sn, cmd);
  };
  auto e = t.eth.socket_connect(1, {192, 168, 0, 2}, 7);
  EXPECT_EQ(e.code, errc::connection_error);
  EXPECT_STREQ(e.message, "Connection refused.");

  t.spi.on_command = [&](int sn, std::uint8_t cmd) {
    if (cmd == 0x04) {
      t.spi.sock(sn, SSR) = CLOSED;
      t.spi.sock(sn, IR) |= 0x08;  // TIMEOUT: ARP or SYN retransmissions exhausted
      return;
    }
    t.spi.default_command(sn, cmd);
  };
  e = t.eth.socket_connect(1, {192, 168, 0, 2}, 7);
  EXPECT_EQ(e.code, errc::timeout_error);
  EXPECT_STREQ(e.message, "Connection timed out.");
  EXPECT_EQ(t.spi.sock(1, IR) & 0x08, 0) << "the TIMEOUT flag is cleared";
}

TEST(Wiznet5kSocket, ConnectGivesUpWhenTheChipNeverDecides) {
  begun t;
  t.spi.common(0x0019) = 0x03;  // RTR 1000 (100 ms)
  t.spi.common(0x001A) = 0xE8;
  t.spi.common(0x001B) = 0x01;  // RCR 1: 100 + 200 ms
  t.spi.on_command = [&](int sn, std::uint8_t cmd) {
    if (cmd == 0x04) {
      t.spi.sock(sn, SSR) = 0x15;  // SYNSENT forever
      return;
    }
    t.spi.default_command(sn, cmd);
  };
  const std::uint64_t t0 = t.spi.now_us();
  const auto e = t.eth.socket_connect(1, {192, 168, 0, 2}, 7);
  EXPECT_EQ(e.code, errc::timeout_error);
  const std::uint64_t took = t.spi.now_us() - t0;
  EXPECT_GT(took, 1'300'000u);  // the chip's 300 ms + the driver's 1 s margin
  EXPECT_LT(took, 1'500'000u);
}

TEST(Wiznet5kSocket, ConnectUdpOnlySetsTheDestination) {
  begun t;
  ASSERT_TRUE(t.eth.socket_connect(2, {10, 0, 0, 9}, 53, wiznet5k::SNMR_UDP).ok());
  EXPECT_EQ(t.spi.commands, (std::vector<std::pair<int, std::uint8_t>>{{2, 0x01}}));
  EXPECT_TRUE(has_frame(t.spi, wr(DIPR, SW(2), {10, 0, 0, 9})));
  EXPECT_TRUE(has_frame(t.spi, wr(DPORT, SW(2), {0x00, 53})));
}

TEST(Wiznet5kSocket, WriteWaitsForRoomWritesAtTxWrAcrossTheWrapThenSendsAndWaitsForSendOk) {
  begun t;
  t.spi.sock(1, SSR) = ESTABLISHED;
  t.spi.set_sock16(1, TX_WR, 0x07F0);  // 16 bytes before the end of the 2 KB ring
  // TX_FSR: 16 free twice (stable, too little), then the full buffer.
  t.spi.script_read(SR(1) >> 3, TX_FSR, {0x00, 0x00});
  t.spi.script_read(SR(1) >> 3, TX_FSR + 1, {0x10, 0x10});
  t.spi.script_read(SR(1) >> 3, IR, {0x00});  // SEND_OK not yet on the first poll
  bytes data(32);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(0xA0 + i);
  const auto n = t.eth.socket_write(1, data.data(), data.size());
  ASSERT_TRUE(n.ok()) << n.err.message;
  EXPECT_EQ(*n, 32u);
  const std::vector<bytes> expected = {
      rd(0x002E, CR_),
      rd(TX_FSR, SR(1), 2), rd(TX_FSR, SR(1), 2),  // 16, 16: stable
      rd(SSR, SR(1)),                              // still ESTABLISHED
      rd(TX_FSR, SR(1), 2), rd(TX_FSR, SR(1), 2),  // after 1 ms: 2048, 2048
      rd(SSR, SR(1)),
      rd(TX_WR, SR(1), 2),                                              // 0x07F0
      wr(0x07F0, TXW(1), bytes(data.begin(), data.begin() + 16)),       // to the end of the ring
      wr(0x0000, TXW(1), bytes(data.begin() + 16, data.end())),         // the rest from offset 0
      wr(TX_WR, SW(1), {0x08, 0x10}),                                   // 0x07F0 + 32
      wr(CR, SW(1), {0x20}), rd(CR, SR(1)),                             // SEND
      rd(IR, SR(1)), rd(SSR, SR(1)), rd(0x0019, CR_, 3),               // not yet; RTR/RCR for the bound
      rd(IR, SR(1)),                                                    // SEND_OK
      wr(IR, SW(1), {0x10}),                                            // cleared
  };
  EXPECT_FRAMES(t.spi, expected);
  EXPECT_EQ(t.spi.tx_get(1, 0x07F0, 32), data);
  EXPECT_EQ(t.spi.sleeps_us, (std::vector<std::uint64_t>{1000, 100}));
}

TEST(Wiznet5kSocket, WriteSendsAtMostOneBufferPerCall) {
  begun t;
  t.spi.sock(1, SSR) = ESTABLISHED;
  const bytes data(3000, 0x55);
  EXPECT_EQ(*t.eth.socket_write(1, data.data(), data.size()), 2048u);
  EXPECT_EQ(*t.eth.socket_write(1, data.data(), 0), 0u);
}

TEST(Wiznet5kSocket, WriteOnAUdpSocketWhoseArpTimedOutReturnsZero) {
  begun t;
  t.spi.sock(1, MR) = 0x02;
  t.spi.sock(1, SSR) = UDP;
  t.spi.on_command = [&](int sn, std::uint8_t cmd) {
    if (cmd == 0x20) t.spi.sock(sn, IR) |= 0x08;
  };
  const bytes data(10, 1);
  const auto n = t.eth.socket_write(1, data.data(), data.size());
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
  EXPECT_EQ(t.spi.sock(1, IR), 0) << "TIMEOUT cleared";
}

TEST(Wiznet5kSocket, WriteOnAClosedConnectionIsAConnectionErrorAndWritesNothing) {
  begun t;
  t.spi.sock(1, SSR) = CLOSED;
  const bytes data(10, 1);
  EXPECT_EQ(t.eth.socket_write(1, data.data(), data.size()).err.code, errc::connection_error);
  EXPECT_TRUE(t.spi.commands.empty());
  // A connection that drops while the data is in flight.
  t.spi.sock(1, SSR) = ESTABLISHED;
  t.spi.on_command = [&](int sn, std::uint8_t) { t.spi.sock(sn, SSR) = CLOSED; };
  EXPECT_EQ(t.eth.socket_write(1, data.data(), data.size()).err.code, errc::connection_error);
}

TEST(Wiznet5kSocket, WriteWithATimeoutGivesUpWhenNoRoomComes) {
  begun t;
  t.spi.sock(1, SSR) = ESTABLISHED;
  t.spi.set_sock16(1, TX_FSR, 0);
  const bytes data(10, 1);
  const std::uint64_t t0 = t.spi.now_us();
  const auto n = t.eth.socket_write(1, data.data(), data.size(), 50);
  EXPECT_EQ(n.err.code, errc::timeout_error);
  EXPECT_GE(t.spi.now_us() - t0, 50'000u);
  EXPECT_LT(t.spi.now_us() - t0, 60'000u);
  // Without a caller timeout the driver still gives up after 60 s with no room freed.
  const std::uint64_t t1 = t.spi.now_us();
  EXPECT_EQ(t.eth.socket_write(1, data.data(), data.size()).err.code, errc::timeout_error);
  EXPECT_GE(t.spi.now_us() - t1, 60'000'000u);
  EXPECT_LT(t.spi.now_us() - t1, 61'000'000u);
}

// Once SENDed the data belongs to the chip, which sends it when it can (a peer's closed window): a
// SEND_OK that does not come within the caller's timeout is not "no data sent" (the seed's error, which
// makes a caller send the bytes twice). The call reports them; the next call waits for that SEND_OK before
// it writes anything, and only a timeout there is a timeout_error.
TEST(Wiznet5kSocket, WriteWhoseSendOkIsLateReportsTheDataAndTheNextWriteWaitsForIt) {
  begun t;
  t.spi.sock(1, SSR) = ESTABLISHED;
  t.spi.on_command = [](int, std::uint8_t) {};  // SEND accepted, SEND_OK not (yet) raised
  const bytes data(10, 0x42);
  std::uint64_t t0 = t.spi.now_us();
  const auto first = t.eth.socket_write(1, data.data(), data.size(), 50);
  ASSERT_TRUE(first.ok()) << first.err.message;
  EXPECT_EQ(*first, 10u);
  EXPECT_GE(t.spi.now_us() - t0, 50'000u);
  EXPECT_LT(t.spi.now_us() - t0, 52'000u);
  EXPECT_EQ(t.spi.sock16(1, TX_WR), 10);

  t.spi.clear();
  t0 = t.spi.now_us();
  const auto second = t.eth.socket_write(1, data.data(), data.size(), 50);
  EXPECT_EQ(second.err.code, errc::timeout_error);
  EXPECT_GE(t.spi.now_us() - t0, 50'000u);
  EXPECT_LT(t.spi.now_us() - t0, 52'000u);
  EXPECT_TRUE(t.spi.commands.empty()) << "no second SEND while the first is in flight";
  EXPECT_EQ(t.spi.sock16(1, TX_WR), 10) << "nothing written";

  t.spi.sock(1, IR) = 0x10;  // the chip finally sent the first piece
  t.spi.on_command = [&](int sn, std::uint8_t cmd) { t.spi.default_command(sn, cmd); };
  const auto third = t.eth.socket_write(1, data.data(), data.size(), 50);
  ASSERT_TRUE(third.ok()) << third.err.message;
  EXPECT_EQ(*third, 10u);
  EXPECT_EQ(t.spi.commands, (std::vector<std::pair<int, std::uint8_t>>{{1, 0x20}}));
  EXPECT_EQ(t.spi.sock16(1, TX_WR), 20);
  EXPECT_EQ(t.spi.sock(1, IR), 0) << "both SEND_OKs consumed";
}

TEST(Wiznet5kSocket, ReadTakesWhatIsWaitingAcrossTheRxWrapAndRecvs) {
  begun t;
  t.spi.sock(1, SSR) = ESTABLISHED;
  t.spi.set_sock16(1, RX_RD, 0x07FC);
  const bytes data{1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  t.spi.rx_put(1, 0x07FC, data);
  std::uint8_t buf[64] = {};
  const auto n = t.eth.socket_read(1, buf, sizeof buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 10u);
  EXPECT_EQ(bytes(buf, buf + 10), data);
  const std::vector<bytes> expected = {
      rd(0x002E, CR_),
      rd(RX_RSR, SR(1), 2), rd(RX_RSR, SR(1), 2),
      rd(RX_RD, SR(1), 2),
      rd(0x07FC, RXR(1), 4),  // to the end of the ring
      rd(0x0000, RXR(1), 6),  // the rest from offset 0
      wr(RX_RD, SW(1), {0x08, 0x06}),
      wr(CR, SW(1), {0x40}), rd(CR, SR(1)),  // RECV
  };
  EXPECT_FRAMES(t.spi, expected);
}

TEST(Wiznet5kSocket, ReadWithNothingWaitingChecksSnSrNotSnMr) {
  begun t;
  t.spi.sock(1, MR) = 0x21;
  t.spi.sock(1, SSR) = ESTABLISHED;
  std::uint8_t buf[8];
  const auto n = t.eth.socket_read(1, buf, sizeof buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
  EXPECT_TRUE(has_frame(t.spi, rd(SSR, SR(1))));
  EXPECT_FALSE(has_frame(t.spi, rd(MR, SR(1)))) << "the seed compared Sn_MR with status codes";
  for (const std::uint8_t s : {CLOSED, CLOSE_WAIT, LISTEN}) {
    t.spi.sock(1, SSR) = s;
    const auto e = t.eth.socket_read(1, buf, sizeof buf);
    EXPECT_EQ(e.err.code, errc::connection_error) << int{s};
    EXPECT_STREQ(e.err.message, "Lost connection to peer.");
  }
}

TEST(Wiznet5kSocket, ReadUdpParsesTheHeaderRecordsTheSenderAndDropsWhatDoesNotFit) {
  begun t;
  t.spi.sock(2, SSR) = UDP;
  const bytes first{10, 0, 0, 2, 0x1F, 0x90, 0x00, 0x06, 'a', 'b', 'c', 'd', 'e', 'f'};
  const bytes second{10, 0, 0, 3, 0x00, 0x35, 0x00, 0x02, 'x', 'y'};
  t.spi.rx_put(2, 0, first);
  t.spi.rx_put(2, static_cast<std::uint16_t>(first.size()), second);
  EXPECT_EQ(*t.eth.socket_available(2, wiznet5k::SNMR_UDP), first.size() + second.size() - 8);
  std::uint8_t buf[4] = {};
  t.spi.clear();
  auto n = t.eth.read_udp(2, buf, sizeof buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 4u);
  EXPECT_EQ(bytes(buf, buf + 4), (bytes{'a', 'b', 'c', 'd'}));
  EXPECT_EQ(t.eth.udp_from_ip[2], (ip4{10, 0, 0, 2}));
  EXPECT_EQ(t.eth.udp_from_port[2], 8080);
  const std::vector<bytes> expected = {
      rd(0x002E, CR_), rd(RX_RSR, SR(2), 2), rd(RX_RSR, SR(2), 2), rd(RX_RD, SR(2), 2),
      rd(0x0000, RXR(2), 8),                 // header
      rd(0x0008, RXR(2), 4),                 // what fits
      wr(RX_RD, SW(2), {0x00, 0x0E}),        // past the whole record
      wr(CR, SW(2), {0x40}), rd(CR, SR(2)),  // one RECV
  };
  EXPECT_FRAMES(t.spi, expected);
  // The RECV in this mock does not shrink RX_RSR; model the chip's recomputation.
  t.spi.set_sock16(2, RX_RSR, static_cast<std::uint16_t>(second.size()));
  n = t.eth.read_udp(2, buf, sizeof buf);
  EXPECT_EQ(*n, 2u);
  EXPECT_EQ(t.eth.udp_from_ip[2], (ip4{10, 0, 0, 3}));
  EXPECT_EQ(t.eth.udp_from_port[2], 53);
  t.spi.set_sock16(2, RX_RSR, 0);
  EXPECT_EQ(*t.eth.read_udp(2, buf, sizeof buf), 0u);
}

TEST(Wiznet5kSocket, AvailableSubtractsTheUdpHeaderUnlikeTheSeed) {
  begun t;
  t.spi.set_sock16(1, RX_RSR, 18);
  t.spi.sock(1, SSR) = ESTABLISHED;
  EXPECT_EQ(*t.eth.socket_available(1), 18u);
  EXPECT_EQ(*t.eth.socket_available(1, wiznet5k::SNMR_UDP), 10u);
  t.spi.sock(1, SSR) = UDP;
  EXPECT_EQ(*t.eth.socket_available(1), 10u) << "a UDP socket is known by Sn_SR too";
  t.spi.set_sock16(1, RX_RSR, 0);
  EXPECT_EQ(*t.eth.socket_available(1, wiznet5k::SNMR_UDP), 0u);
}

TEST(Wiznet5kSocket, AcceptWaitsForAnEstablishedConnectionWithARealPeer) {
  begun t;
  ASSERT_TRUE(t.eth.get_socket(true).ok());  // socket 1, the listener's
  t.spi.sock(1, SSR) = LISTEN;
  EXPECT_EQ(t.eth.socket_accept(1).err.code, errc::would_block);
  t.spi.sock(1, SSR) = 0x16;  // SYNRECV
  EXPECT_EQ(t.eth.socket_accept(1).err.code, errc::would_block);
  t.spi.sock(1, SSR) = ESTABLISHED;  // but the peer not yet visible (5.2.1 returned 0.0.0.0:0 here)
  EXPECT_EQ(t.eth.socket_accept(1).err.code, errc::would_block);
  t.spi.sock(1, DIPR) = 192;
  t.spi.sock(1, DIPR + 1) = 168;
  t.spi.sock(1, DIPR + 3) = 9;
  t.spi.set_sock16(1, DPORT, 50123);
  const auto a = t.eth.socket_accept(1);
  ASSERT_TRUE(a.ok()) << a.err.message;
  EXPECT_EQ(a->ip, (ip4{192, 168, 0, 9}));
  EXPECT_EQ(a->port, 50123);
  EXPECT_EQ(a->next_listener, 2) << "a reserved socket, never 0";
  EXPECT_EQ(t.eth.socket_accept(1)->next_listener, 2) << "asked again: the same socket, not a second one";
  // The next listener is reserved: a further reservation skips it.
  EXPECT_EQ(*t.eth.get_socket(true), 3);
  t.spi.sock(1, SSR) = CLOSED;
  EXPECT_EQ(t.eth.socket_accept(1).err.code, errc::connection_error);
}

TEST(Wiznet5kSocket, DisconnectSendsDisconAndDoesNotWaitOnAnyFlag) {
  begun t;
  t.spi.sock(1, SSR) = ESTABLISHED;
  ASSERT_TRUE(t.eth.socket_disconnect(1).ok());
  EXPECT_FRAMES(t.spi, (std::vector<bytes>{wr(CR, SW(1), {0x08}), rd(CR, SR(1))}));
}

TEST(Wiznet5kSocket, CloseWaitsForClosedAtMostFiveSeconds) {
  begun t;
  t.spi.sock(1, SSR) = ESTABLISHED;
  ASSERT_TRUE(t.eth.socket_close(1).ok());
  EXPECT_FRAMES(t.spi, (std::vector<bytes>{wr(CR, SW(1), {0x10}), rd(CR, SR(1)), rd(SSR, SR(1))}));
  t.spi.sock(1, SSR) = ESTABLISHED;
  t.spi.on_command = [](int, std::uint8_t) {};
  const std::uint64_t t0 = t.spi.now_us();
  EXPECT_EQ(t.eth.socket_close(1).code, errc::runtime_error);
  EXPECT_GE(t.spi.now_us() - t0, 5'000'000u);
  EXPECT_LT(t.spi.now_us() - t0, 5'100'000u);
}

TEST(Wiznet5kSocket, GetSocketPrefersZeroReservesOneToSevenAndRunsOut) {
  begun t;
  EXPECT_EQ(*t.eth.get_socket(), 0);
  for (int sn = 1; sn < 8; ++sn) EXPECT_EQ(*t.eth.get_socket(true), sn);
  const auto none = t.eth.get_socket(true);
  EXPECT_EQ(none.err.code, errc::runtime_error);
  EXPECT_STREQ(none.err.message, "All sockets in use.");
  EXPECT_EQ(*t.eth.get_socket(), 0) << "socket 0 is never reserved";
  t.spi.sock(0, SSR) = UDP;  // DNS busy on socket 0
  EXPECT_EQ(t.eth.get_socket().err.code, errc::runtime_error);
  ASSERT_TRUE(t.eth.release_socket(3).ok());
  EXPECT_EQ(*t.eth.get_socket(), 3);
  EXPECT_EQ(*t.eth.get_socket(true), 3);
  ASSERT_TRUE(t.eth.release_socket(0).ok());  // the seed's list[-1] would have freed socket 7 here
  EXPECT_EQ(t.eth.get_socket(true).err.code, errc::runtime_error);
  // A reserved socket that is busy is not handed out when released either, until it closes.
  ASSERT_TRUE(t.eth.release_socket(5).ok());
  t.spi.sock(5, SSR) = ESTABLISHED;
  EXPECT_EQ(t.eth.get_socket(true).err.code, errc::runtime_error);
  t.spi.sock(5, SSR) = CLOSED;
  EXPECT_EQ(*t.eth.get_socket(true), 5);
}

TEST(Wiznet5kSocket, SwResetKeepsTheNetworkConfigurationAndRetrySettings) {
  begun t;
  for (std::uint16_t a = 0x0001; a <= 0x0012; ++a) t.spi.common(a) = static_cast<std::uint8_t>(a);
  t.spi.common(0x0019) = 0x01;
  t.spi.common(0x001A) = 0x02;
  t.spi.common(0x001B) = 0x03;
  ASSERT_TRUE(t.eth.sw_reset().ok());
  bytes net;
  for (std::uint8_t a = 0x01; a <= 0x12; ++a) net.push_back(a);
  std::vector<bytes> expected = {rd(0x0001, CR_, 18), rd(0x0019, CR_, 3),
                                 wr(0x0000, CW, {0x80}), rd(0x0000, CR_),
                                 wr(0x0000, CW, {0x08}), rd(0x0000, CR_),
                                 wr(0x0000, CW, {0x10}), rd(0x0000, CR_),
                                 wr(0x0000, CW, {0x00}), rd(0x0000, CR_),
                                 rd(0x0039, CR_)};
  for (int n = 0; n < 8; ++n) expected.push_back(wr(0x001E, SW(n), {0x02, 0x02}));
  expected.push_back(wr(0x0001, CW, net));
  expected.push_back(wr(0x0019, CW, {0x01, 0x02, 0x03}));
  expected.push_back(rd(0x002E, CR_));  // then the link, as begin() (MR.RST may restart the PHY)
  EXPECT_FRAMES(t.spi, expected);
}

TEST(Wiznet5kSocket, SwResetWaitsUpToFiveSecondsForTheLinkLikeBegin) {
  begun t;
  t.spi.common(0x002E) = 0xBA;  // LNK = 0: the PHY renegotiates after MR.RST
  const std::uint64_t t0 = t.spi.now_us();
  ASSERT_TRUE(t.eth.sw_reset().ok()) << "a link still down is not an error, as in begin()";
  EXPECT_GE(t.spi.now_us() - t0, 5'000'000u);
  EXPECT_LT(t.spi.now_us() - t0, 5'700'000u);
  EXPECT_FALSE(*t.eth.link_status());
}

// ---- argument validation -------------------------------------------------------------------------------

TEST(Wiznet5kArguments, SocketNumbersOutsideZeroToSevenAreValueErrorsWithoutBusTraffic) {
  begun t;
  std::uint8_t buf[4] = {};
  for (const int sn : {8, -1, 100}) {
    EXPECT_EQ(t.eth.read_snir(sn).err.code, errc::value_error);
    EXPECT_EQ(t.eth.write_snir(sn, 0xFF).code, errc::value_error);
    EXPECT_EQ(t.eth.read_udp(sn, buf, 4).err.code, errc::value_error);
    EXPECT_EQ(t.eth.remote_ip(sn).err.code, errc::value_error);
    EXPECT_EQ(t.eth.remote_port(sn).err.code, errc::value_error);
    EXPECT_EQ(t.eth.socket_open(sn).code, errc::value_error);
    EXPECT_EQ(t.eth.socket_connect(sn, {1, 2, 3, 4}, 80).code, errc::value_error);
    EXPECT_EQ(t.eth.socket_listen(sn, 80).code, errc::value_error);
    EXPECT_EQ(t.eth.socket_accept(sn).err.code, errc::value_error);
    EXPECT_EQ(t.eth.socket_available(sn).err.code, errc::value_error);
    EXPECT_EQ(t.eth.socket_read(sn, buf, 4).err.code, errc::value_error);
    EXPECT_EQ(t.eth.socket_write(sn, buf, 4).err.code, errc::value_error);
    EXPECT_EQ(t.eth.socket_status(sn).err.code, errc::value_error);
    EXPECT_EQ(t.eth.socket_disconnect(sn).code, errc::value_error);
    EXPECT_EQ(t.eth.socket_close(sn).code, errc::value_error);
    EXPECT_EQ(t.eth.release_socket(sn).code, errc::value_error);
    EXPECT_EQ(t.eth.read_socket_register(sn, 0, buf, 1).code, errc::value_error);
    EXPECT_EQ(t.eth.write_socket_register(sn, 0, buf, 1).code, errc::value_error);
  }
  EXPECT_TRUE(t.spi.frames().empty()) << t.spi.dump();
}

TEST(Wiznet5kArguments, PortZeroNullBuffersAndUnknownModesAreValueErrors) {
  begun t;
  EXPECT_EQ(t.eth.socket_connect(1, {1, 2, 3, 4}, 0).code, errc::value_error);
  EXPECT_EQ(t.eth.socket_listen(1, 0).code, errc::value_error);
  EXPECT_EQ(t.eth.socket_read(1, nullptr, 4).err.code, errc::value_error);
  EXPECT_EQ(t.eth.socket_write(1, nullptr, 4).err.code, errc::value_error);
  EXPECT_EQ(t.eth.read_udp(1, nullptr, 4).err.code, errc::value_error);
  EXPECT_EQ(t.eth.get_host_by_name(nullptr).err.code, errc::value_error);
  EXPECT_EQ(t.eth.read_socket_register(1, 0, nullptr, 1).code, errc::value_error);
  EXPECT_TRUE(t.spi.frames().empty()) << t.spi.dump();
  EXPECT_EQ(t.eth.socket_open(1, 0x04).code, errc::value_error) << "MACRAW is not a conn_mode";
  // A null buffer with length 0 is a valid empty read/write.
  t.spi.sock(1, SSR) = ESTABLISHED;
  EXPECT_EQ(*t.eth.socket_read(1, nullptr, 0), 0u);
  EXPECT_EQ(*t.eth.socket_write(1, nullptr, 0), 0u);
}

TEST(Wiznet5kArguments, SocketCallsBeforeBeginAreRuntimeErrors) {
  spi_transcript spi;
  WIZNET5K eth(spi);
  EXPECT_EQ(eth.socket_open(1).code, errc::runtime_error);
  EXPECT_EQ(eth.get_socket().err.code, errc::runtime_error);
  EXPECT_EQ(eth.sw_reset().code, errc::runtime_error);
  EXPECT_EQ(eth.set_dhcp().code, errc::runtime_error);
  EXPECT_TRUE(eth.maintain_dhcp_lease().ok()) << "no lease to maintain";
  EXPECT_TRUE(spi.frames().empty());
}
