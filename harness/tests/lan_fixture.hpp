// Shared fixture for the harness tests: a chip on a segment with its link up, configured through the
// register-level client, plus the helpers every suite needs (peer identities, deterministic payloads).
#pragma once
#include <cstdint>
#include <string>

#include "wizsim/harness/peer.hpp"
#include "wizsim/harness/raw_client.hpp"
#include "wizsim/w5500.hpp"

namespace wizsim::test {

constexpr ip4_addr lan_mask = ip4(255, 255, 255, 0);
inline const mac_addr lan_chip_mac{0x02, 0x08, 0xDC, 0x00, 0x00, 0x50};

// A peer named `name` at `ip` with MAC 02:00:00:00:00:<last>.
inline peer_config peer_cfg(const std::string& name, ip4_addr ip, std::uint8_t last) {
  peer_config c;
  c.name = name;
  c.ip = ip;
  c.mac = {0x02, 0x00, 0x00, 0x00, 0x00, last};
  return c;
}

// Deterministic bytes that do not repeat with a short period (a lost or reordered piece shows).
inline octets pattern(std::size_t n, std::uint8_t seed = 1) {
  octets p(n);
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<std::uint8_t>(seed * 31 + i * 7 + (i >> 8));
  return p;
}

// A chip attached to a segment as port "chip", past PHY auto-negotiation, with SHAR/SIPR/SUBR/GAR set
// (SIPR 0 leaves it unconfigured, as a DHCP client starts).
struct chip_on_lan {
  chip_on_lan(std::uint64_t seed, ip4_addr chip_ip, ip4_addr gateway, const mac_addr& mac = lan_chip_mac)
      : sched(seed), seg(sched, "lan", seed), chip(sched), client(chip) {
    seg.attach(chip, "chip");
    sched.advance_by(seconds(4));  // PHY auto-negotiation
    client.configure(mac, chip_ip, chip_ip ? lan_mask : 0, gateway);
  }
  scheduler sched;
  segment seg;
  w5500 chip;
  raw_client client;

  // Reads from socket n until `want` octets arrived or `timeout` passed.
  octets read(int n, std::size_t want, ps_t timeout) {
    octets got;
    client.wait([&] {
      const octets part = client.recv(n, 0);
      got.insert(got.end(), part.begin(), part.end());
      return got.size() >= want;
    }, timeout);
    return got;
  }
};

}  // namespace wizsim::test
