// Frames per wall second through the virtual segment, with pcap off and on: the cost of the switch
// (timing, MAC learning, fault pipeline, events) and of recording, without any protocol work.
//   build/harness/bench/wizsim-bench-segment --benchmark_repetitions=5 --benchmark_report_aggregates_only
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>

#include <unistd.h>

#include "wizsim/harness/peer.hpp"
#include "wizsim/harness/segment.hpp"

using namespace wizsim;

namespace {

const mac_addr mac_a{0x02, 0, 0, 0, 0, 0x0A}, mac_b{0x02, 0, 0, 0, 0, 0x0B};

// Station a sends `batch` frames of `len` octets to b (unicast, learned), then the scheduler drains.
void run_segment(benchmark::State& state, bool pcap, bool faults) {
  const auto len = static_cast<std::size_t>(state.range(0));
  scheduler sched;
  segment seg(sched, "bench");
  std::uint64_t delivered = 0;
  const auto a = seg.attach("a", [](const octets&) {});
  const auto b = seg.attach("b", [&](const octets&) { ++delivered; });
  const std::string path = "/tmp/wizsim_bench_segment_" + std::to_string(::getpid()) + ".pcap";
  if (pcap) seg.capture(path);
  if (faults) {
    fault_rule r;
    r.kind = fault_kind::drop;
    r.probability = 0.01;
    seg.faults(a).add(r);
  }
  seg.transmit(b, build_eth(mac_a, mac_b, 0x88B5, octets(46, 0)));  // teaches the switch where b is
  const octets frame = build_eth(mac_b, mac_a, 0x88B5, octets(len - 14, 0x5A));
  constexpr int batch = 256;
  for (auto _ : state) {
    for (int i = 0; i < batch; ++i) seg.transmit(a, frame);
    sched.run_until(never);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * batch);
  state.counters["delivered"] = static_cast<double>(delivered);
  if (pcap) {
    seg.stop_capture();
    std::remove(path.c_str());
  }
}

void BM_SegmentFrames(benchmark::State& s) { run_segment(s, false, false); }
void BM_SegmentFramesPcap(benchmark::State& s) { run_segment(s, true, false); }
void BM_SegmentFramesFaultRule(benchmark::State& s) { run_segment(s, false, true); }

// UDP datagrams between two peer hosts: the segment plus both IP stacks.
void BM_PeerUdp(benchmark::State& state) {
  scheduler sched;
  segment seg(sched, "bench");
  peer_config ca, cb;
  ca.name = "a";
  ca.ip = ip4(10, 0, 0, 1);
  ca.mac = mac_a;
  cb.name = "b";
  cb.ip = ip4(10, 0, 0, 2);
  cb.mac = mac_b;
  peer_host a(seg, ca), b(seg, cb);
  std::uint64_t got = 0;
  b.udp_bind(9, [&](const udp_datagram&) { ++got; });
  const octets payload(static_cast<std::size_t>(state.range(0)), 0x33);
  a.udp_send(cb.ip, 9, 9, payload);
  sched.run_until(never);
  for (auto _ : state) {
    for (int i = 0; i < 256; ++i) a.udp_send(cb.ip, 9, 9, payload);
    sched.run_until(never);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 256);
}

}  // namespace

BENCHMARK(BM_SegmentFrames)->Arg(60)->Arg(1514);
BENCHMARK(BM_SegmentFramesPcap)->Arg(60)->Arg(1514);
BENCHMARK(BM_SegmentFramesFaultRule)->Arg(60)->Arg(1514);
BENCHMARK(BM_PeerUdp)->Arg(18)->Arg(1472);
BENCHMARK_MAIN();
