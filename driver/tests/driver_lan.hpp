// Shared pieces of the driver's end-to-end tests: conversions between the driver's and the harness's
// address types, and a LAN with the driver on the W5500 model (wizsim::model_hal) next to peer hosts.
#pragma once
#include <cstdint>
#include <string>

#include <gtest/gtest.h>

#include "lan_fixture.hpp"
#include "wiznet5k/wiznet5k.hpp"
#include "wizsim/harness/model_hal.hpp"
#include "wizsim/harness/peer.hpp"
#include "wizsim/harness/segment.hpp"
#include "wizsim/w5500.hpp"

namespace wizsim::test {

inline wiznet5k::ip4 to_w(ip4_addr a) {
  return {static_cast<std::uint8_t>(a >> 24), static_cast<std::uint8_t>(a >> 16), static_cast<std::uint8_t>(a >> 8),
          static_cast<std::uint8_t>(a)};
}
inline ip4_addr from_w(const wiznet5k::ip4& a) { return ip4(a[0], a[1], a[2], a[3]); }
inline double secs(ps_t t) { return static_cast<double>(t) / static_cast<double>(ps_per_s); }

inline const wiznet5k::mac6 driver_chip_mac{0x02, 0x08, 0xDC, 0x00, 0x00, 0x50};

// True when every hardware socket reads SOCK_CLOSED (nothing leaked).
inline bool all_sockets_closed(wiznet5k::WIZNET5K& eth) {
  for (int sn = 0; sn < eth.max_sockets(); ++sn) {
    const auto s = eth.socket_status(sn);
    if (!s.ok() || s.value != wiznet5k::SNSR_SOCK_CLOSED) return false;
  }
  return true;
}

// The driver on the chip on segment "lan" (port "chip"), begun without DHCP. With a non-zero `chip_ip`
// the interface is configured statically (10.0.0.0/24 style: mask /24, the given gateway and DNS).
struct driver_lan {
  scheduler sched;
  segment seg;
  w5500 chip;
  model_hal board;
  wiznet5k::WIZNET5K eth;
  segment::port_id chip_port = -1;

  explicit driver_lan(std::uint64_t seed = 3, ip4_addr chip_ip = ip4(10, 0, 0, 50), ip4_addr gateway = 0,
                      ip4_addr dns = 0)
      : sched(seed), seg(sched, "lan", seed), chip(sched), board(chip, seed), eth(board) {
    chip_port = seg.attach(chip, "chip");
    const wiznet5k::error e = eth.begin(false, driver_chip_mac);
    EXPECT_TRUE(e.ok()) << e.message;
    if (chip_ip != 0) {
      const wiznet5k::error c = eth.set_ifconfig({to_w(chip_ip), to_w(lan_mask), to_w(gateway), to_w(dns)});
      EXPECT_TRUE(c.ok()) << c.message;
    }
  }

  // A peer host on the segment at `ip` with MAC 02:00:00:00:00:<last>.
  peer_config peer(const std::string& name, ip4_addr ip, std::uint8_t last) const { return peer_cfg(name, ip, last); }
  bool all_closed() { return all_sockets_closed(eth); }
};

}  // namespace wizsim::test
