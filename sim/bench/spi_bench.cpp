// SPI throughput of the model, through the burst call (one call per frame) and the byte contract
// (cs + transfer per byte). Targets (issue #2, 2-core machine): >= 10 M register-read frames/s and
// >= 1 GB/s of 2 KB buffer payload through the burst call; >= 50 M bytes/s through the byte contract.
// Run: build/sim/wizsim-bench-spi --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <vector>

#include "wizsim/w5500.hpp"

using namespace wizsim;

namespace {

constexpr std::size_t kPayload = 2048;

struct fixture {
  scheduler sched{1};
  w5500 chip{sched};
};

std::vector<std::uint8_t> header(std::uint16_t addr, std::uint8_t bsb, bool write, std::size_t payload) {
  std::vector<std::uint8_t> f(3 + payload, 0x5A);
  f[0] = static_cast<std::uint8_t>(addr >> 8);
  f[1] = static_cast<std::uint8_t>(addr);
  f[2] = control_byte(bsb, write);
  return f;
}

void register_read_frame_burst(benchmark::State& state) {
  fixture fx;
  const auto mosi = header(0x0039, bsb_common(), false, 1);  // VERSIONR
  std::uint8_t miso[4];
  for (auto _ : state) {
    fx.chip.frame(mosi.data(), miso, 4);
    benchmark::DoNotOptimize(miso[3]);
  }
  if (miso[3] != 0x04) state.SkipWithError("VERSIONR did not read 0x04");
  state.SetItemsProcessed(state.iterations());
}

void register_read_frame_bytes(benchmark::State& state) {
  fixture fx;
  const auto mosi = header(0x0039, bsb_common(), false, 1);
  std::uint8_t last = 0;
  for (auto _ : state) {
    fx.chip.cs(false);
    for (std::uint8_t b : mosi) last = fx.chip.transfer(b);
    fx.chip.cs(true);
    benchmark::DoNotOptimize(last);
  }
  if (last != 0x04) state.SkipWithError("VERSIONR did not read 0x04");
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * 4);
}

void buffer_burst(benchmark::State& state, bool write) {
  fixture fx;
  // Socket 0 with 16 KB buffers so a 2 KB burst never wraps in the middle of the benchmark.
  const auto mosi = header(0x0100, write ? bsb_tx(0) : bsb_rx(0), write, kPayload);
  std::vector<std::uint8_t> miso(mosi.size());
  for (auto _ : state) {
    fx.chip.frame(mosi.data(), miso.data(), mosi.size());
    benchmark::DoNotOptimize(miso.data());
  }
  state.SetBytesProcessed(state.iterations() * kPayload);
}

void buffer_bytes(benchmark::State& state, bool write) {
  fixture fx;
  const auto mosi = header(0x0100, write ? bsb_tx(0) : bsb_rx(0), write, kPayload);
  std::uint8_t acc = 0;
  for (auto _ : state) {
    fx.chip.cs(false);
    for (std::uint8_t b : mosi) acc ^= fx.chip.transfer(b);
    fx.chip.cs(true);
    benchmark::DoNotOptimize(acc);
  }
  state.SetBytesProcessed(state.iterations() * mosi.size());
}

}  // namespace

BENCHMARK(register_read_frame_burst);
BENCHMARK(register_read_frame_bytes);
BENCHMARK_CAPTURE(buffer_burst, rx_read_2k, false);
BENCHMARK_CAPTURE(buffer_burst, tx_write_2k, true);
BENCHMARK_CAPTURE(buffer_bytes, rx_read_2k, false);
BENCHMARK_CAPTURE(buffer_bytes, tx_write_2k, true);

BENCHMARK_MAIN();
