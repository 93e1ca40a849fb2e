// Shared fixture for the network engine tests: one chip on 192.168.1.0/24 with a known identity, every
// frame it sends captured with its wire times, and the host steps drivers take for a send or a read.
#pragma once
#include <vector>

#include "test_util.hpp"
#include "wizsim/packet.hpp"

namespace wizsim::test {

inline const mac_addr chip_mac{0x02, 0x00, 0x5E, 0x00, 0x00, 0x01};
inline const mac_addr peer_mac{0x02, 0x00, 0x5E, 0x00, 0x00, 0x99};
inline const mac_addr router_mac{0x02, 0x00, 0x5E, 0x00, 0x00, 0xFE};
constexpr ip4_addr chip_ip = ip4(192, 168, 1, 10);
constexpr ip4_addr peer_ip = ip4(192, 168, 1, 20);
constexpr ip4_addr router_ip = ip4(192, 168, 1, 1);

// Deterministic payload bytes.
inline octets payload_of(std::size_t n, std::uint8_t seed = 0) {
  octets p(n);
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<std::uint8_t>(seed + i * 7);
  return p;
}

inline ipv4_fields ip_hdr(ip4_addr src, ip4_addr dst, std::uint16_t id = 0, std::uint8_t ttl = 128,
                          std::uint16_t frag = 0x4000) {
  ipv4_fields h;
  h.src = src;
  h.dst = dst;
  h.id = id;
  h.ttl = ttl;
  h.frag = frag;
  return h;
}

struct net_bench : bench {
  explicit net_bench(chip_config cfg = {}) : bench(std::move(cfg)) {
    chip.on_transmit([this](const w5500::wire_frame& f) {
      out.push_back(f);
      if (tap) tap(f);
    });
    host.write(bsb_common(), 0x0009, chip_mac.data(), 6);
    set_ip(0x000F, chip_ip);
    set_ip(0x0005, 0xFFFFFF00u);
    set_ip(0x0001, router_ip);
  }
  std::vector<w5500::wire_frame> out;           // every frame the chip sent, in order
  std::function<void(const w5500::wire_frame&)> tap;  // optional extra observer

  void set_ip(std::uint16_t common_off, ip4_addr a) {
    std::uint8_t b[4];
    put32(b, a);
    host.write(bsb_common(), common_off, b, 4);
  }
  void settle(ps_t t = ms(1)) { sched.advance_by(t); }
  void set_dest(int n, ip4_addr ip, std::uint16_t port) {
    std::uint8_t b[4];
    put32(b, ip);
    host.write(bsb_socket(n), 0x0C, b, 4);  // Sn_DIPR
    set_sock16(n, 0x10, port);              // Sn_DPORT
  }
  void udp_open(int n, std::uint16_t port, std::uint8_t flags = 0) {
    set_sock16(n, 0x04, port);  // Sn_PORT
    ASSERT_TRUE(open(n, static_cast<std::uint8_t>(Sn_MR_UDP | flags)));
  }
  // What a driver does for a send: write at TX_WR, bump TX_WR, SEND (polling Sn_CR).
  void send(int n, const octets& data, std::uint8_t cmd = Sn_CR_SEND) {
    const std::uint16_t wr = sock16(n, 0x24);
    host.write(bsb_tx(n), wr, data.data(), data.size());
    set_sock16(n, 0x24, static_cast<std::uint16_t>(wr + data.size()));
    ASSERT_TRUE(host.command(n, cmd));
  }
  // Reads `len` bytes at Sn_RX_RD without consuming them.
  octets rx_read(int n, std::size_t len) {
    octets d(len);
    host.read(bsb_rx(n), sock16(n, 0x28), d.data(), len);
    return d;
  }
  void peer_arp_reply(const mac_addr& mac, ip4_addr ip) {
    chip.receive(build_eth(chip_mac, mac, ethertype_arp, build_arp(arp_reply, mac, ip, chip_mac, chip_ip)));
  }
};

}  // namespace wizsim::test
