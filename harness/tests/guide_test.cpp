// The example of docs/harness.md, run as written: if this breaks, the guide is wrong.
#include <gtest/gtest.h>

#include "wizsim/harness/dhcp.hpp"
#include "wizsim/harness/peer.hpp"
#include "wizsim/harness/raw_client.hpp"

using namespace wizsim;

TEST(Guide, TheFirstOfferIsLostAndTheRetriedDiscoverIsAnswered) {
  // ---- as in the guide ----
  scheduler sched(/*seed=*/42);
  segment lan(sched, "lan", /*seed=*/42);
  w5500 chip(sched);
  lan.attach(chip, "w5500");

  peer_config pc;
  pc.name = "router";
  pc.ip = ip4(192, 168, 7, 1);
  peer_host router(lan, pc);
  dhcp_server_config dc;
  dc.pool_first = ip4(192, 168, 7, 100);
  dc.pool_last = ip4(192, 168, 7, 150);
  dhcp_server dhcp(router, dc);

  fault_rule lose;
  lose.kind = fault_kind::drop;
  lose.match = frame_filter::parse("dhcp.type == offer");
  lose.nth = 1;
  lan.faults(lan.find_port("router")).add(lose);

  raw_client client(chip);
  sched.advance_by(seconds(3));
  // ---- and what it does ----
  dhcp_client_identity id;
  client.configure(id.mac, 0, 0, 0);
  ASSERT_TRUE(client.open_udp(0, 68));
  const octets discover = build_dhcp(dhcp_discover(id, 0x4242));
  ASSERT_TRUE(client.sendto(0, 0xFFFFFFFFu, 67, discover));
  EXPECT_FALSE(client.recvfrom(0, seconds(1)).has_value()) << "the first OFFER was dropped";
  ASSERT_TRUE(client.sendto(0, 0xFFFFFFFFu, 67, discover));
  const auto reply = client.recvfrom(0, seconds(1));
  ASSERT_TRUE(reply.has_value());
  const auto offer = parse_dhcp(reply->data);
  ASSERT_TRUE(offer.has_value());
  EXPECT_EQ(offer->message_type(), DHCPOFFER);
  EXPECT_EQ(offer->yiaddr, ip4(192, 168, 7, 100));
  EXPECT_EQ(lan.faults(lan.find_port("router")).stats().dropped, 1u);
}
