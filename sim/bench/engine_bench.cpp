// Network engine throughput, wall-clock, engine alone (no SPI: the host side uses the register port
// directly). Targets (issue #3, 2-core machine): >= 200 MB/s of TCP payload from the chip to a peer that
// ACKs every segment, and >= 1 M small UDP datagrams/s.
// Run: build/sim/wizsim-bench-engine --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include "wizsim/packet.hpp"
#include "wizsim/w5500.hpp"

using namespace wizsim;

namespace {

const mac_addr chip_mac{0x02, 0, 0, 0, 0, 1};
const mac_addr peer_mac{0x02, 0, 0, 0, 0, 2};
constexpr ip4_addr chip_ip = ip4(10, 0, 0, 1), peer_ip = ip4(10, 0, 0, 2);

struct rig {
  scheduler sched{1};
  w5500 chip{sched};
  rig() {
    chip.write_block(bsb_common(), 0x0009, chip_mac.data(), 6);
    std::uint8_t b[4];
    put32(b, chip_ip);
    chip.write_block(bsb_common(), 0x000F, b, 4);
    put32(b, 0xFFFFFF00u);
    chip.write_block(bsb_common(), 0x0005, b, 4);
    for (int n = 1; n < num_sockets; ++n) {  // socket 0 gets all 16 KB each way
      chip.write(bsb_socket(n), 0x1E, 0);
      chip.write(bsb_socket(n), 0x1F, 0);
    }
    chip.write(bsb_socket(0), 0x1E, 16);
    chip.write(bsb_socket(0), 0x1F, 16);
  }
  std::uint16_t reg16(std::uint16_t off) {
    return static_cast<std::uint16_t>(chip.read(bsb_socket(0), off) << 8 | chip.read(bsb_socket(0), off + 1));
  }
  void set16(std::uint16_t off, std::uint16_t v) {
    chip.write(bsb_socket(0), off, static_cast<std::uint8_t>(v >> 8));
    chip.write(bsb_socket(0), off + 1, static_cast<std::uint8_t>(v));
  }
  void command(std::uint8_t cmd) {
    chip.write(bsb_socket(0), 0x01, cmd);
    sched.run_until(sched.now() + us(2));
  }
  void set_dest(ip4_addr ip, std::uint16_t port) {
    std::uint8_t b[4];
    put32(b, ip);
    chip.write_block(bsb_socket(0), 0x0C, b, 4);
    set16(0x10, port);
  }
};

void tcp_payload_to_peer(benchmark::State& state) {
  rig r;
  std::uint32_t peer_seq = 5000, acked_bytes = 0;
  // The peer: answers ARP, completes the handshake, ACKs every data segment as it arrives.
  r.chip.on_transmit([&](const w5500::wire_frame& f) {
    const auto eth = parse_eth(f.data.data(), f.data.size());
    if (eth->ethertype == ethertype_arp) {
      r.sched.after(0, [&] {
        r.chip.receive(build_eth(chip_mac, peer_mac, ethertype_arp, build_arp(arp_reply, peer_mac, peer_ip, chip_mac, chip_ip)));
      });
      return;
    }
    const auto ip = parse_ipv4(eth->payload, eth->payload_len);
    const auto seg = parse_tcp(ip->payload, ip->payload_len, ip->h.src, ip->h.dst);
    tcp_fields h;
    h.src_port = 80;
    h.dst_port = 5000;
    h.window = 65535;
    h.flags = TCP_ACK;
    h.seq = peer_seq;
    std::uint32_t end = seg->h.seq + static_cast<std::uint32_t>(seg->payload_len);
    if (seg->h.flags & TCP_SYN) {
      h.flags |= TCP_SYN;
      h.mss = 1460;
      ++peer_seq;
      end += 1;
    } else if (seg->payload_len == 0) {
      return;  // a bare ACK needs no answer
    }
    h.ack = end;
    acked_bytes += static_cast<std::uint32_t>(seg->payload_len);
    ipv4_fields iph;
    iph.src = peer_ip;
    iph.dst = chip_ip;
    octets frame = tcp_frame(chip_mac, peer_mac, iph, h, {});
    r.sched.after(0, [&r, frame] { r.chip.receive(frame); });
  });
  r.set16(0x04, 5000);
  r.chip.write(bsb_socket(0), 0x00, 0x21);  // TCP | ND
  r.command(Sn_CR_OPEN);
  r.set_dest(peer_ip, 80);
  r.command(Sn_CR_CONNECT);
  r.sched.run_until(r.sched.now() + ms(1));
  if (r.chip.socket_status(0) != SOCK_ESTABLISHED) state.SkipWithError("no connection");
  const std::size_t chunk = 8192;
  std::vector<std::uint8_t> data(chunk, 0xA5);
  std::uint64_t sent = 0;
  for (auto _ : state) {
    while (r.reg16(0x20) < chunk) r.sched.run_next();  // wait for ACKs to free TX space
    const std::uint16_t wr = r.reg16(0x24);
    r.chip.write_block(bsb_tx(0), wr, data.data(), chunk);
    r.set16(0x24, static_cast<std::uint16_t>(wr + chunk));
    r.chip.write(bsb_socket(0), 0x01, Sn_CR_SEND);
    r.sched.run_until(r.sched.now() + us(2));
    sent += chunk;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(sent));
  state.counters["acked_MB"] = static_cast<double>(acked_bytes) / 1e6;
}

void udp_rx_small_datagrams(benchmark::State& state) {
  rig r;
  r.set16(0x04, 7000);
  r.chip.write(bsb_socket(0), 0x00, Sn_MR_UDP);
  r.command(Sn_CR_OPEN);
  ipv4_fields iph;
  iph.src = peer_ip;
  iph.dst = chip_ip;
  const octets frame = udp_frame(chip_mac, peer_mac, iph, 1234, 7000, octets(32, 0x5A));
  std::int64_t n = 0;
  for (auto _ : state) {
    r.chip.receive(frame);
    // The host consumes the record: RX_RD += 40, RECV (through the port, no SPI time).
    if ((++n & 255) == 0) {
      r.set16(0x28, static_cast<std::uint16_t>(r.reg16(0x28) + 40 * 256));
      r.chip.write(bsb_socket(0), 0x01, Sn_CR_RECV);
      r.sched.run_until(r.sched.now() + us(2));
    }
  }
  if (r.chip.network_stats().rx_dropped != 0) state.SkipWithError("datagrams were dropped");
  state.SetItemsProcessed(n);
}

void udp_tx_small_datagrams(benchmark::State& state) {
  rig r;
  r.set16(0x04, 7000);
  r.chip.write(bsb_socket(0), 0x00, Sn_MR_UDP);
  r.command(Sn_CR_OPEN);
  r.set_dest(ip4(10, 0, 0, 255), 9);  // subnet broadcast: no ARP
  std::int64_t frames = 0;
  r.chip.on_transmit([&](const w5500::wire_frame&) { ++frames; });
  std::vector<std::uint8_t> data(32, 0x5A);
  for (auto _ : state) {
    const std::uint16_t wr = r.reg16(0x24);
    r.chip.write_block(bsb_tx(0), wr, data.data(), data.size());
    r.set16(0x24, static_cast<std::uint16_t>(wr + data.size()));
    r.chip.write(bsb_socket(0), 0x01, Sn_CR_SEND);
    r.sched.run_until(r.sched.now() + us(10));  // acceptance + one 32-byte datagram on the wire
  }
  state.SetItemsProcessed(frames);
}

}  // namespace

BENCHMARK(tcp_payload_to_peer);
BENCHMARK(udp_rx_small_datagrams);
BENCHMARK(udp_tx_small_datagrams);

BENCHMARK_MAIN();
