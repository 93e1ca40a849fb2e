// wizsim-demo: the main job until the scenario runner exists. Brings up a virtual W5500 the way firmware
// does (RSTn pulse, wait for PLL lock, soft reset, chip probe), programs MAC/IP/subnet/gateway through SPI
// frames, then prints a named register dump read back over SPI.
//
//   wizsim-demo [--sclk HZ] [--log] [--trace FILE] [--quirk NAME=VALUE]...
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "wizsim/host.hpp"
#include "wizsim/registers.hpp"
#include "wizsim/w5500.hpp"

using namespace wizsim;

namespace {

int fail(const std::string& msg) {
  std::fprintf(stderr, "wizsim-demo: %s\n", msg.c_str());
  return 1;
}

std::string value_text(const std::uint8_t* b, std::uint32_t width, reg_id id) {
  switch (id) {
    case reg_id::GAR:
    case reg_id::SUBR:
    case reg_id::SIPR:
    case reg_id::UIPR:
    case reg_id::Sn_DIPR: return fmt::format("{}.{}.{}.{}", b[0], b[1], b[2], b[3]);
    case reg_id::SHAR:
    case reg_id::PHAR:
    case reg_id::Sn_DHAR:
      return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5]);
    default: break;
  }
  std::uint64_t v = 0;
  for (std::uint32_t i = 0; i < width; ++i) v = v << 8 | b[i];
  return fmt::format("0x{:0{}X}", v, width * 2);
}

}  // namespace

int main(int argc, char** argv) {
  chip_config cfg;
  bool log = false;
  std::FILE* trace = nullptr;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto next = [&]() -> std::string {
        if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
        return argv[++i];
      };
      if (a == "--sclk") {
        cfg.sclk_hz = std::strtoull(next().c_str(), nullptr, 0);
      } else if (a == "--log") {
        log = true;
      } else if (a == "--trace") {
        const std::string path = next();
        trace = std::fopen(path.c_str(), "w");
        if (!trace) throw std::invalid_argument("cannot open trace file " + path);
      } else if (a == "--quirk") {
        const std::string kv = next();
        const auto eq = kv.find('=');
        if (eq == std::string::npos) throw std::invalid_argument("--quirk takes NAME=VALUE");
        cfg.quirk.set(kv.substr(0, eq), kv.substr(eq + 1));
      } else {
        throw std::invalid_argument("unknown argument " + a +
                                    " (usage: wizsim-demo [--sclk HZ] [--log] [--trace FILE] [--quirk NAME=VALUE])");
      }
    }
    scheduler sched(1);
    w5500 chip(sched, cfg);
    if (log) chip.log().set_log_sink([](std::string_view l) { fmt::print("{}\n", l); }, log_level::debug);
    if (trace) chip.log().set_trace_sink([trace](std::string_view l) { fmt::print(trace, "{}\n", l); });
    spi_host spi(chip);

    fmt::print("wizsim demo: virtual W5500 '{}' at SCLK {} Hz ({} ps per SPI byte)\n", cfg.name, cfg.sclk_hz,
               chip.spi().byte_time());
    // Hardware reset as firmware does it: RSTn low 1 ms, then wait for the PLL (DS §5.5.1).
    chip.set_rstn(false);
    sched.advance_by(ms(1));
    chip.set_rstn(true);
    fmt::print("  t={}  RSTn released; VERSIONR reads 0x{:02X} before PLL lock\n", format_time(sched.now()),
               spi.read8(bsb_common(), 0x0039));
    sched.advance_by(ms(2));
    // Soft reset and poll MR until RST self-clears (Arduino style, bounded).
    spi.write8(bsb_common(), 0x0000, 0x80);
    int polls = 0;
    while (spi.read8(bsb_common(), 0x0000) & 0x80) {
      if (++polls > 1000) return fail("MR.RST never cleared");
    }
    const std::uint8_t version = spi.read8(bsb_common(), 0x0039);
    fmt::print("  t={}  VERSIONR = 0x{:02X} ({}), RTR = 0x{:04X} after MR.RST ({} MR polls)\n",
               format_time(sched.now()), version, version == 0x04 ? "W5500" : "unexpected",
               spi.read16(bsb_common(), 0x0019), polls);
    if (version != 0x04) return fail("VERSIONR is not 0x04");

    const std::uint8_t mac[6] = {0x02, 0x00, 0x5E, 0x10, 0x00, 0x01};
    const std::uint8_t ip[4] = {192, 168, 10, 2}, mask[4] = {255, 255, 255, 0}, gw[4] = {192, 168, 10, 1};
    spi.write(bsb_common(), 0x0009, mac, 6);
    spi.write(bsb_common(), 0x000F, ip, 4);
    spi.write(bsb_common(), 0x0005, mask, 4);
    spi.write(bsb_common(), 0x0001, gw, 4);
    fmt::print("  t={}  programmed SHAR, SIPR, SUBR, GAR through SPI write frames\n", format_time(sched.now()));
    // Wait for the link, as drivers do after a reset (PHYCFGR.LNK).
    for (int i = 0; i < 5000 && !(spi.read8(bsb_common(), 0x002E) & 1); ++i) sched.advance_by(ms(1));
    fmt::print("  t={}  link {}\n\n", format_time(sched.now()),
               spi.read8(bsb_common(), 0x002E) & 1 ? "up" : "down");

    fmt::print("Common registers (read back over SPI):\n");
    for (const auto& r : register_table) {
      if (r.block != reg_block::common || r.cls == access::reserved) continue;
      std::uint8_t b[8];
      spi.read(bsb_common(), r.offset, b, r.width);
      fmt::print("  {:<10} 0x{:04X}  {}\n", r.name, r.offset, value_text(b, r.width, r.id));
    }
    fmt::print("\nSocket registers:\n  {:<14}", "");
    for (int n = 0; n < num_sockets; ++n) fmt::print(" {:>8}", fmt::format("S{}", n));
    fmt::print("\n");
    for (const auto& r : register_table) {
      if (r.block != reg_block::socket || r.cls == access::reserved || r.width > 2) continue;
      fmt::print("  {:<14}", r.name);
      for (int n = 0; n < num_sockets; ++n) {
        std::uint8_t b[2];
        spi.read(bsb_socket(n), r.offset, b, r.width);
        fmt::print(" {:>8}", value_text(b, r.width, r.id));
      }
      fmt::print("\n");
    }
    const auto& st = chip.spi().stats();
    fmt::print("\n{} SPI frames, {} bytes, {} virtual time; guest errors: {}\n", st.frames, st.bytes,
               format_time(sched.now()), chip.log().counters().guest_errors);
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  if (trace) std::fclose(trace);
  return 0;
}
