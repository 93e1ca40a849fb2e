#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <vector>

#include "wizsim/packet.hpp"

using namespace wizsim;

namespace {

constexpr mac_addr mac_a{0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
constexpr mac_addr mac_b{0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
constexpr ip4_addr ip_a = ip4(192, 168, 1, 2);
constexpr ip4_addr ip_b = ip4(192, 168, 1, 100);

octets bytes(std::size_t n, std::uint8_t first = 0) {
  octets v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(first + i);
  return v;
}

ipv4_fields some_ip() {
  ipv4_fields h;
  h.src = ip_a;
  h.dst = ip_b;
  h.ttl = 64;
  h.tos = 0x10;
  h.id = 0x1234;
  return h;
}

tcp_fields some_tcp() {
  tcp_fields t;
  t.src_port = 5000;
  t.dst_port = 80;
  t.seq = 0x01020304;
  t.ack = 0xA0B0C0D0;
  t.flags = TCP_SYN | TCP_ACK;
  t.window = 2048;
  t.urgent = 7;
  return t;
}

// The classic example header 45 00 00 73 00 00 40 00 40 11 b8 61 c0 a8 00 01 c0 a8 00 c7.
const octets classic_ip_header{0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                               0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};

}  // namespace

// ---- packet: helpers and whole frames -------------------------------------------------------------------

TEST(packet, ip4_and_to_string_format_dotted_quad_and_colon_mac) {
  EXPECT_EQ(ip4(192, 168, 1, 2), 0xC0A80102u);
  EXPECT_EQ(to_string(ip4(192, 168, 1, 2)), "192.168.1.2");
  EXPECT_EQ(to_string(ip4(255, 255, 255, 255)), "255.255.255.255");
  EXPECT_EQ(to_string(ip4(0, 0, 0, 0)), "0.0.0.0");
  EXPECT_EQ(to_string(mac_a), "02:00:00:00:00:01");
  EXPECT_EQ(to_string(mac_addr{0xDE, 0xAD, 0xBE, 0xEF, 0x0A, 0xFF}), "de:ad:be:ef:0a:ff");
}

TEST(packet, big_endian_helpers_round_trip) {
  std::uint8_t b[4]{};
  put16(b, 0xBEEF);
  EXPECT_EQ(b[0], 0xBE);
  EXPECT_EQ(b[1], 0xEF);
  EXPECT_EQ(get16(b), 0xBEEF);
  put32(b, 0x01020304);
  EXPECT_EQ(b[0], 0x01);
  EXPECT_EQ(b[3], 0x04);
  EXPECT_EQ(get32(b), 0x01020304u);
}

TEST(packet, build_eth_pads_short_frames_to_60_octets_with_zeros) {
  const octets f = build_eth(broadcast_mac, mac_a, ethertype_arp, octets{1, 2, 3});
  ASSERT_EQ(f.size(), eth_min_frame);
  for (std::size_t i = 0; i < 6; ++i) EXPECT_EQ(f[i], 0xFF);
  EXPECT_EQ(f[6], 0x02);
  EXPECT_EQ(f[11], 0x01);
  EXPECT_EQ(get16(&f[12]), ethertype_arp);
  EXPECT_EQ(f[14], 1);
  EXPECT_EQ(f[16], 3);
  for (std::size_t i = 17; i < f.size(); ++i) EXPECT_EQ(f[i], 0) << i;
}

TEST(packet, build_eth_without_pad_keeps_exact_length_and_long_frames_are_never_padded) {
  EXPECT_EQ(build_eth(mac_b, mac_a, ethertype_ipv4, octets{1, 2, 3}, false).size(), eth_header_len + 3);
  EXPECT_EQ(build_eth(mac_b, mac_a, ethertype_ipv4, bytes(100)).size(), eth_header_len + 100);
  EXPECT_EQ(build_eth(mac_b, mac_a, ethertype_ipv4, bytes(46)).size(), eth_min_frame);
}

TEST(packet, parse_eth_round_trips_and_reports_padding_in_payload) {
  const octets f = build_eth(mac_b, mac_a, ethertype_ipv6, octets{9, 8, 7});
  const auto e = parse_eth(f.data(), f.size());
  ASSERT_TRUE(e);
  EXPECT_EQ(e->dst, mac_b);
  EXPECT_EQ(e->src, mac_a);
  EXPECT_EQ(e->ethertype, ethertype_ipv6);
  EXPECT_EQ(e->payload, f.data() + eth_header_len);
  EXPECT_EQ(e->payload_len, eth_min_frame - eth_header_len);
  EXPECT_EQ(e->payload[0], 9);
}

TEST(packet, parse_eth_rejects_truncated_headers_at_every_length) {
  const octets f = build_eth(mac_b, mac_a, ethertype_ipv4, {}, false);
  for (std::size_t n = 0; n < eth_header_len; ++n) EXPECT_FALSE(parse_eth(f.data(), n)) << n;
  const auto e = parse_eth(f.data(), eth_header_len);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->payload_len, 0u);
}

TEST(packet, udp_frame_nests_eth_ipv4_udp_and_overrides_proto) {
  ipv4_fields ip = some_ip();
  ip.proto = ip_proto_tcp;  // must be overridden
  const octets payload = bytes(5, 0x61);
  const octets f = udp_frame(mac_b, mac_a, ip, 1234, 53, payload);
  ASSERT_EQ(f.size(), eth_min_frame);  // 14 + 20 + 8 + 5 = 47, padded
  const auto e = parse_eth(f.data(), f.size());
  ASSERT_TRUE(e);
  EXPECT_EQ(e->ethertype, ethertype_ipv4);
  const auto v = parse_ipv4(e->payload, e->payload_len);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->h.proto, ip_proto_udp);
  EXPECT_TRUE(v->checksum_ok);
  EXPECT_EQ(v->payload_len, 8u + payload.size());  // Ethernet padding excluded
  const auto u = parse_udp(v->payload, v->payload_len, v->h.src, v->h.dst);
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->checksum_ok);
  EXPECT_EQ(u->src_port, 1234);
  EXPECT_EQ(u->dst_port, 53);
  EXPECT_EQ(octets(u->payload, u->payload + u->payload_len), payload);
}

TEST(packet, icmp_frame_nests_eth_ipv4_icmp_and_overrides_proto) {
  ipv4_fields ip = some_ip();
  ip.proto = 99;
  const octets payload = bytes(32);
  const octets f = icmp_frame(mac_b, mac_a, ip, 8, 0, 0x00010002, payload);
  ASSERT_EQ(f.size(), eth_header_len + 20 + 8 + 32);
  const auto e = parse_eth(f.data(), f.size());
  ASSERT_TRUE(e);
  const auto v = parse_ipv4(e->payload, e->payload_len);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->h.proto, ip_proto_icmp);
  const auto m = parse_icmp(v->payload, v->payload_len);
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->checksum_ok);
  EXPECT_EQ(m->type, 8);
  EXPECT_EQ(m->rest, 0x00010002u);
  EXPECT_EQ(octets(m->payload, m->payload + m->payload_len), payload);
}

TEST(packet, tcp_frame_nests_eth_ipv4_tcp_and_overrides_proto) {
  ipv4_fields ip = some_ip();
  tcp_fields t = some_tcp();
  t.mss = 1460;
  const octets f = tcp_frame(mac_b, mac_a, ip, t, {});
  ASSERT_EQ(f.size(), eth_min_frame);  // 14 + 20 + 24 = 58, padded
  const auto e = parse_eth(f.data(), f.size());
  ASSERT_TRUE(e);
  const auto v = parse_ipv4(e->payload, e->payload_len);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->h.proto, ip_proto_tcp);
  EXPECT_EQ(v->payload_len, 24u);
  const auto s = parse_tcp(v->payload, v->payload_len, v->h.src, v->h.dst);
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->checksum_ok);
  EXPECT_EQ(s->h.mss, std::optional<std::uint16_t>(1460));
  EXPECT_EQ(s->payload_len, 0u);
}

// A fixed-seed fuzz: random buffers through every parser. Must not crash or read out of bounds (run the
// test under -fsanitize=address to check the latter). Each buffer is its own heap allocation of exactly
// its length so that ASan catches any overrun.
TEST(packet, random_bytes_through_every_parser_never_read_out_of_bounds) {
  std::mt19937 rng(0x5eed1234u);
  std::uniform_int_distribution<int> len_dist(0, 200), byte_dist(0, 255), mode_dist(0, 4);
  std::size_t n_eth = 0, n_arp = 0, n_ip = 0, n_icmp = 0, n_udp = 0, n_tcp = 0, n_mss = 0, sink = 0;
  for (int iter = 0; iter < 100000; ++iter) {
    const auto n = static_cast<std::size_t>(len_dist(rng));
    octets buf(n);
    for (auto& b : buf) b = static_cast<std::uint8_t>(byte_dist(rng));
    // Bias some buffers towards plausible headers so the deeper paths get exercised too.
    const int mode = mode_dist(rng);
    if (mode == 1 && n >= 4) {  // IPv4 version, total length within the buffer most of the time
      buf[0] = static_cast<std::uint8_t>(0x40 | (buf[0] & 0x0F));
      put16(&buf[2], static_cast<std::uint16_t>(buf[2] % (n + 2)));
    }
    if (mode == 2 && n >= 24) {  // TCP data offset <= 7, and often an MSS option first
      buf[12] = static_cast<std::uint8_t>(buf[12] & 0x7F);
      if (buf[13] & 1) {
        buf[20] = 2;
        buf[21] = 4;
      }
    }
    if (mode == 3 && n >= 6) put16(&buf[4], static_cast<std::uint16_t>(buf[4] % (n + 1)));   // UDP length
    if (mode == 4 && n >= 6) {  // ARP for Ethernet/IPv4
      const std::uint8_t arp_hdr[6]{0x00, 0x01, 0x08, 0x00, 6, 4};
      std::copy(arp_hdr, arp_hdr + 6, buf.begin());
    }
    const std::uint8_t* p = buf.empty() ? nullptr : buf.data();
    if (auto e = parse_eth(p, n)) {
      ++n_eth;
      sink += e->payload_len + e->ethertype;
    }
    if (auto a = parse_arp(p, n)) {
      ++n_arp;
      sink += a->op;
    }
    if (auto v = parse_ipv4(p, n)) {
      ++n_ip;
      sink += v->payload_len + v->h.options.size() + v->checksum_ok;
      if (v->payload_len) sink += v->payload[v->payload_len - 1];
    }
    if (auto m = parse_icmp(p, n)) {
      ++n_icmp;
      sink += m->payload_len + m->checksum_ok;
      if (m->payload_len) sink += m->payload[m->payload_len - 1];
    }
    if (auto u = parse_udp(p, n, ip_a, ip_b)) {
      ++n_udp;
      sink += u->payload_len + u->checksum_ok;
      if (u->payload_len) sink += u->payload[u->payload_len - 1];
    }
    if (auto s = parse_tcp(p, n, ip_a, ip_b)) {
      ++n_tcp;
      n_mss += s->h.mss.has_value();
      sink += s->payload_len + s->h.mss.value_or(0) + s->checksum_ok;
      if (s->payload_len) sink += s->payload[s->payload_len - 1];
    }
    sink += inet_checksum(p, n);
  }
  // Every parser's accepting path was reached, not just its early rejections.
  EXPECT_GT(n_eth, 0u);
  EXPECT_GT(n_arp, 0u);
  EXPECT_GT(n_ip, 0u);
  EXPECT_GT(n_icmp, 0u);
  EXPECT_GT(n_udp, 0u);
  EXPECT_GT(n_tcp, 0u);
  EXPECT_GT(n_mss, 0u);
  EXPECT_NE(sink, 0u);
}

// ---- checksum -------------------------------------------------------------------------------------------

TEST(checksum, rfc1071_example_sums_to_ddf2_and_complements_to_220d) {
  const octets b{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(inet_checksum(b.data(), b.size()), 0x220d);
}

TEST(checksum, classic_ipv4_header_checksum_is_b861) {
  octets h = classic_ip_header;
  EXPECT_EQ(inet_checksum(h.data(), h.size()), 0) << "a correct header sums to zero";
  h[10] = h[11] = 0;
  EXPECT_EQ(inet_checksum(h.data(), h.size()), 0xb861);
}

TEST(checksum, odd_length_is_padded_with_a_zero_octet) {
  const octets odd{0x12, 0x34, 0x56};
  const octets even{0x12, 0x34, 0x56, 0x00};
  EXPECT_EQ(inet_checksum(odd.data(), odd.size()), inet_checksum(even.data(), even.size()));
  EXPECT_EQ(inet_checksum(odd.data(), odd.size()), static_cast<std::uint16_t>(~(0x1234 + 0x5600)));
  const std::uint8_t one = 0xAB;
  EXPECT_EQ(inet_checksum(&one, 1), static_cast<std::uint16_t>(~0xAB00));
}

TEST(checksum, empty_buffer_and_end_around_carry) {
  EXPECT_EQ(inet_checksum(nullptr, 0), 0xFFFF);
  const octets b{0xFF, 0xFF, 0x00, 0x01};  // 0xFFFF + 0x0001 = 0x10000 -> folds to 0x0001
  EXPECT_EQ(inet_checksum(b.data(), b.size()), 0xFFFE);
  const octets all_ones(4000, 0xFF);  // large sums fold correctly
  EXPECT_EQ(inet_checksum(all_ones.data(), all_ones.size()), 0x0000);
}

TEST(checksum, partial_sum_argument_is_added_before_folding) {
  const octets b{0x00, 0x01};
  EXPECT_EQ(inet_checksum(b.data(), b.size(), 0x0002), static_cast<std::uint16_t>(~0x0003));
  EXPECT_EQ(inet_checksum(b.data(), b.size(), 0x0001FFFF), static_cast<std::uint16_t>(~0x0002));
}

TEST(checksum, pseudo_header_sum_adds_address_halves_proto_and_length) {
  const std::uint32_t expect = 0xC0A8 + 0x0102 + 0xC0A8 + 0x0164 + 17 + 30;
  EXPECT_EQ(pseudo_header_sum(ip_a, ip_b, ip_proto_udp, 30), expect);
  EXPECT_EQ(pseudo_header_sum(0xFFFFFFFF, 0xFFFFFFFF, 0xFF, 0xFFFF), 4u * 0xFFFF + 0xFF + 0xFFFF);
}

// ---- arp_codec ------------------------------------------------------------------------------------------

TEST(arp_codec, build_emits_28_octet_ethernet_ipv4_arp) {
  const octets a = build_arp(arp_request, mac_a, ip_a, mac_addr{}, ip_b);
  ASSERT_EQ(a.size(), 28u);
  const octets expect{0x00, 0x01, 0x08, 0x00, 6,    4,    0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
                      0xc0, 0xa8, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xa8, 0x01, 0x64};
  EXPECT_EQ(a, expect);
}

TEST(arp_codec, build_then_parse_round_trips_all_fields) {
  const octets a = build_arp(arp_reply, mac_b, ip_b, mac_a, ip_a);
  const auto v = parse_arp(a.data(), a.size());
  ASSERT_TRUE(v);
  EXPECT_EQ(v->op, arp_reply);
  EXPECT_EQ(v->sha, mac_b);
  EXPECT_EQ(v->spa, ip_b);
  EXPECT_EQ(v->tha, mac_a);
  EXPECT_EQ(v->tpa, ip_a);
}

TEST(arp_codec, parse_accepts_trailing_ethernet_padding) {
  const octets f = build_eth(broadcast_mac, mac_a, ethertype_arp, build_arp(arp_request, mac_a, ip_a, {}, ip_b));
  const auto e = parse_eth(f.data(), f.size());
  ASSERT_TRUE(e);
  EXPECT_EQ(e->payload_len, 46u);
  const auto v = parse_arp(e->payload, e->payload_len);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->tpa, ip_b);
}

TEST(arp_codec, parse_rejects_truncated_input_at_every_length) {
  const octets a = build_arp(arp_request, mac_a, ip_a, {}, ip_b);
  for (std::size_t n = 0; n < a.size(); ++n) {
    const octets t(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_FALSE(parse_arp(t.data(), t.size())) << n;
  }
}

TEST(arp_codec, parse_rejects_wrong_hardware_protocol_types_and_lengths) {
  const octets good = build_arp(arp_request, mac_a, ip_a, {}, ip_b);
  for (std::size_t i : {1u, 2u, 3u, 4u, 5u}) {
    octets bad = good;
    bad[i] ^= 0x01;
    EXPECT_FALSE(parse_arp(bad.data(), bad.size())) << "octet " << i;
  }
}

// ---- ipv4_codec -----------------------------------------------------------------------------------------

TEST(ipv4_codec, parse_classic_header_fields_and_checksum) {
  octets d = classic_ip_header;
  d.resize(0x73, 0xAA);  // total length 115
  const auto v = parse_ipv4(d.data(), d.size());
  ASSERT_TRUE(v);
  EXPECT_EQ(v->ihl, 5);
  EXPECT_EQ(v->total_len, 0x73);
  EXPECT_TRUE(v->checksum_ok);
  EXPECT_FALSE(v->is_fragment);
  EXPECT_EQ(v->h.proto, ip_proto_udp);
  EXPECT_EQ(v->h.ttl, 64);
  EXPECT_EQ(v->h.frag, 0x4000);
  EXPECT_EQ(v->h.src, ip4(192, 168, 0, 1));
  EXPECT_EQ(v->h.dst, ip4(192, 168, 0, 199));
  EXPECT_TRUE(v->h.options.empty());
  EXPECT_EQ(v->payload, d.data() + 20);
  EXPECT_EQ(v->payload_len, 0x73u - 20);
}

TEST(ipv4_codec, build_reproduces_classic_header_byte_for_byte) {
  ipv4_fields h;
  h.src = ip4(192, 168, 0, 1);
  h.dst = ip4(192, 168, 0, 199);
  h.proto = ip_proto_udp;
  h.ttl = 64;
  h.id = 0;
  h.frag = 0x4000;
  const octets d = build_ipv4(h, octets(0x73 - 20, 0));
  ASSERT_EQ(d.size(), 0x73u);
  EXPECT_EQ(octets(d.begin(), d.begin() + 20), classic_ip_header);
}

TEST(ipv4_codec, build_then_parse_round_trips_all_fields) {
  ipv4_fields h = some_ip();
  h.proto = ip_proto_igmp;
  h.frag = 0;
  const octets payload = bytes(33);
  const octets d = build_ipv4(h, payload);
  ASSERT_EQ(d.size(), 20 + payload.size());
  EXPECT_EQ(d[0], 0x45);
  const auto v = parse_ipv4(d.data(), d.size());
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->checksum_ok);
  EXPECT_EQ(v->ihl, 5);
  EXPECT_EQ(v->total_len, d.size());
  EXPECT_EQ(v->h.src, h.src);
  EXPECT_EQ(v->h.dst, h.dst);
  EXPECT_EQ(v->h.proto, h.proto);
  EXPECT_EQ(v->h.ttl, h.ttl);
  EXPECT_EQ(v->h.tos, h.tos);
  EXPECT_EQ(v->h.id, h.id);
  EXPECT_EQ(v->h.frag, h.frag);
  EXPECT_EQ(octets(v->payload, v->payload + v->payload_len), payload);
}

TEST(ipv4_codec, options_set_ihl_and_round_trip) {
  ipv4_fields h = some_ip();
  h.options = {0x94, 0x04, 0x00, 0x00};  // router alert
  const octets d = build_ipv4(h, bytes(3));
  EXPECT_EQ(d[0], 0x46);
  const auto v = parse_ipv4(d.data(), d.size());
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->checksum_ok);
  EXPECT_EQ(v->ihl, 6);
  EXPECT_EQ(v->h.options, h.options);
  EXPECT_EQ(v->payload_len, 3u);
  EXPECT_EQ(v->payload, d.data() + 24);

  h.options = octets(40, 1);
  const octets full = build_ipv4(h, {});
  EXPECT_EQ(full[0], 0x4F);
  const auto w = parse_ipv4(full.data(), full.size());
  ASSERT_TRUE(w);
  EXPECT_EQ(w->h.options.size(), 40u);
  EXPECT_TRUE(w->checksum_ok);
}

TEST(ipv4_codec, build_rejects_options_not_a_multiple_of_4_or_longer_than_40) {
  ipv4_fields h = some_ip();
  for (std::size_t len : {1u, 2u, 3u, 5u, 39u, 41u, 44u}) {
    h.options = octets(len, 1);
    EXPECT_THROW(build_ipv4(h, {}), std::invalid_argument) << len;
  }
}

TEST(ipv4_codec, build_rejects_datagrams_longer_than_65535_octets) {
  EXPECT_EQ(build_ipv4(some_ip(), octets(65535 - 20)).size(), 65535u);
  EXPECT_THROW(build_ipv4(some_ip(), octets(65535 - 20 + 1)), std::invalid_argument);
}

TEST(ipv4_codec, corrupting_any_header_octet_clears_checksum_ok) {
  const octets d = build_ipv4(some_ip(), bytes(8));
  for (std::size_t i = 0; i < 20; ++i) {
    octets bad = d;
    bad[i] ^= 0x01;  // a flip in IHL or total length is rejected instead
    const auto v = parse_ipv4(bad.data(), bad.size());
    if (v) {
      EXPECT_FALSE(v->checksum_ok) << "octet " << i;
    }
  }
  octets payload_changed = d;
  payload_changed[25] ^= 0xFF;  // the header checksum does not cover the payload
  EXPECT_TRUE(parse_ipv4(payload_changed.data(), payload_changed.size())->checksum_ok);
}

TEST(ipv4_codec, payload_excludes_ethernet_padding_beyond_total_length) {
  const octets d = build_ipv4(some_ip(), bytes(4));
  octets padded = d;
  padded.resize(46, 0);
  const auto v = parse_ipv4(padded.data(), padded.size());
  ASSERT_TRUE(v);
  EXPECT_EQ(v->total_len, 24);
  EXPECT_EQ(v->payload_len, 4u);
}

TEST(ipv4_codec, reports_fragments_without_rejecting_them) {
  for (std::uint16_t frag : {std::uint16_t{0x2000}, std::uint16_t{0x0001}, std::uint16_t{0x1FFF},
                             std::uint16_t{0x6000}, std::uint16_t{0x2010}}) {
    ipv4_fields h = some_ip();
    h.frag = frag;
    const octets d = build_ipv4(h, bytes(8));
    const auto v = parse_ipv4(d.data(), d.size());
    ASSERT_TRUE(v);
    EXPECT_TRUE(v->is_fragment) << std::hex << frag;
    EXPECT_EQ(v->h.frag, frag);
  }
  for (std::uint16_t frag : {std::uint16_t{0x0000}, std::uint16_t{0x4000}, std::uint16_t{0x8000}}) {
    ipv4_fields h = some_ip();
    h.frag = frag;
    const octets d = build_ipv4(h, {});
    const auto v = parse_ipv4(d.data(), d.size());
    ASSERT_TRUE(v);
    EXPECT_FALSE(v->is_fragment) << std::hex << frag;
  }
}

TEST(ipv4_codec, parse_rejects_truncated_input_at_every_length) {
  const octets d = build_ipv4(some_ip(), {});
  ASSERT_EQ(d.size(), 20u);
  for (std::size_t n = 0; n < 20; ++n) {
    const octets t(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_FALSE(parse_ipv4(t.data(), t.size())) << n;
  }
  EXPECT_TRUE(parse_ipv4(d.data(), d.size()));
}

TEST(ipv4_codec, parse_rejects_wrong_version) {
  for (unsigned ver : {0u, 1u, 5u, 6u, 15u}) {
    octets d = build_ipv4(some_ip(), {});
    d[0] = static_cast<std::uint8_t>(ver << 4 | 5);
    EXPECT_FALSE(parse_ipv4(d.data(), d.size())) << ver;
  }
}

TEST(ipv4_codec, parse_rejects_ihl_below_5) {
  for (std::uint8_t ihl = 0; ihl < 5; ++ihl) {
    octets d = build_ipv4(some_ip(), bytes(20));
    d[0] = static_cast<std::uint8_t>(0x40 | ihl);
    EXPECT_FALSE(parse_ipv4(d.data(), d.size())) << int{ihl};
  }
}

TEST(ipv4_codec, parse_rejects_header_length_past_buffer) {
  octets d = build_ipv4(some_ip(), {});  // 20 octets, total_len 20
  d[0] = 0x46;                           // claims 24 octets of header
  EXPECT_FALSE(parse_ipv4(d.data(), d.size()));
  d[0] = 0x4F;
  put16(&d[2], 60);
  d.resize(59);
  EXPECT_FALSE(parse_ipv4(d.data(), d.size()));
}

TEST(ipv4_codec, parse_rejects_total_length_past_buffer) {
  const octets d = build_ipv4(some_ip(), bytes(10));
  for (std::size_t n = 20; n < d.size(); ++n) EXPECT_FALSE(parse_ipv4(d.data(), n)) << n;
  EXPECT_TRUE(parse_ipv4(d.data(), d.size()));
}

TEST(ipv4_codec, parse_rejects_total_length_below_header_length) {
  ipv4_fields h = some_ip();
  h.options = octets(8, 1);
  octets d = build_ipv4(h, bytes(10));
  for (std::uint16_t total : {std::uint16_t{0}, std::uint16_t{19}, std::uint16_t{20}, std::uint16_t{27}}) {
    put16(&d[2], total);
    EXPECT_FALSE(parse_ipv4(d.data(), d.size())) << total;
  }
  put16(&d[2], 28);
  const auto v = parse_ipv4(d.data(), d.size());
  ASSERT_TRUE(v);
  EXPECT_EQ(v->payload_len, 0u);
  EXPECT_FALSE(v->checksum_ok);  // the total length changed under the checksum
}

// ---- udp_codec ------------------------------------------------------------------------------------------

TEST(udp_codec, build_then_parse_round_trips_all_fields) {
  const octets payload = bytes(13, 0x30);
  const octets u = build_udp(ip_a, ip_b, 40000, 7, payload);
  ASSERT_EQ(u.size(), 8 + payload.size());
  EXPECT_EQ(get16(&u[4]), u.size());
  const auto v = parse_udp(u.data(), u.size(), ip_a, ip_b);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->checksum_ok);
  EXPECT_EQ(v->src_port, 40000);
  EXPECT_EQ(v->dst_port, 7);
  EXPECT_EQ(v->length, u.size());
  EXPECT_EQ(v->payload, u.data() + 8);
  EXPECT_EQ(octets(v->payload, v->payload + v->payload_len), payload);
}

TEST(udp_codec, empty_payload_round_trips) {
  const octets u = build_udp(ip_a, ip_b, 1, 2, {});
  ASSERT_EQ(u.size(), 8u);
  const auto v = parse_udp(u.data(), u.size(), ip_a, ip_b);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->checksum_ok);
  EXPECT_EQ(v->payload_len, 0u);
}

TEST(udp_codec, checksum_covers_the_pseudo_header) {
  const octets u = build_udp(ip_a, ip_b, 1000, 2000, bytes(6));
  EXPECT_FALSE(parse_udp(u.data(), u.size(), ip_a, ip4(192, 168, 1, 101))->checksum_ok);
  EXPECT_FALSE(parse_udp(u.data(), u.size(), ip_b, ip_a + 1)->checksum_ok);
}

TEST(udp_codec, corrupting_any_octet_clears_checksum_ok) {
  const octets u = build_udp(ip_a, ip_b, 1000, 2000, bytes(9));
  for (std::size_t i = 0; i < u.size(); ++i) {
    if (i == 4 || i == 5) continue;  // the length field: covered separately (it changes what is parsed)
    octets bad = u;
    bad[i] ^= 0x10;
    const auto v = parse_udp(bad.data(), bad.size(), ip_a, ip_b);
    ASSERT_TRUE(v) << i;
    if (get16(&bad[6]) == 0) continue;  // corrupted into "no checksum"
    EXPECT_FALSE(v->checksum_ok) << "octet " << i;
  }
}

TEST(udp_codec, zero_checksum_field_means_not_computed_and_is_accepted) {
  octets u = build_udp(ip_a, ip_b, 1000, 2000, bytes(9));
  u[6] = u[7] = 0;
  u[10] ^= 0xFF;  // even with a changed payload
  const auto v = parse_udp(u.data(), u.size(), ip_a, ip_b);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->checksum_ok);
}

TEST(udp_codec, build_never_emits_a_zero_checksum) {
  // Search for a payload whose checksum computes to zero, then check it goes out as 0xFFFF.
  bool found = false;
  for (std::uint32_t x = 0; x <= 0xFFFF && !found; ++x) {
    const octets payload{static_cast<std::uint8_t>(x >> 8), static_cast<std::uint8_t>(x)};
    const octets u = build_udp(ip_a, ip_b, 1000, 2000, payload);
    const std::uint16_t c = get16(&u[6]);
    ASSERT_NE(c, 0) << "payload " << x;
    octets zeroed = u;
    zeroed[6] = zeroed[7] = 0;
    if (inet_checksum(zeroed.data(), zeroed.size(), pseudo_header_sum(ip_a, ip_b, ip_proto_udp, 10)) == 0) {
      found = true;
      EXPECT_EQ(c, 0xFFFF);
      const auto v = parse_udp(u.data(), u.size(), ip_a, ip_b);
      ASSERT_TRUE(v);
      EXPECT_TRUE(v->checksum_ok) << "0xFFFF verifies as a correct checksum";
    }
  }
  EXPECT_TRUE(found);
}

TEST(udp_codec, build_rejects_datagrams_longer_than_65535_octets) {
  EXPECT_EQ(build_udp(ip_a, ip_b, 1, 2, octets(65535 - 8)).size(), 65535u);
  EXPECT_THROW(build_udp(ip_a, ip_b, 1, 2, octets(65535 - 8 + 1)), std::invalid_argument);
}

TEST(udp_codec, parse_rejects_truncated_input_at_every_length) {
  const octets u = build_udp(ip_a, ip_b, 1, 2, {});
  for (std::size_t n = 0; n < 8; ++n) {
    const octets t(u.begin(), u.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_FALSE(parse_udp(t.data(), t.size(), ip_a, ip_b)) << n;
  }
}

TEST(udp_codec, parse_rejects_length_past_buffer_or_below_8) {
  const octets u = build_udp(ip_a, ip_b, 1, 2, bytes(10));
  for (std::size_t n = 8; n < u.size(); ++n) EXPECT_FALSE(parse_udp(u.data(), n, ip_a, ip_b)) << n;
  for (std::uint16_t len = 0; len < 8; ++len) {
    octets bad = u;
    put16(&bad[4], len);
    EXPECT_FALSE(parse_udp(bad.data(), bad.size(), ip_a, ip_b)) << len;
  }
}

TEST(udp_codec, payload_uses_length_field_not_buffer_size) {
  octets u = build_udp(ip_a, ip_b, 1, 2, bytes(4));
  u.resize(30, 0xEE);  // trailing junk
  const auto v = parse_udp(u.data(), u.size(), ip_a, ip_b);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->length, 12);
  EXPECT_EQ(v->payload_len, 4u);
  EXPECT_TRUE(v->checksum_ok);
}

// ---- tcp_codec ------------------------------------------------------------------------------------------

TEST(tcp_codec, build_then_parse_round_trips_all_fields_without_options) {
  const tcp_fields t = some_tcp();
  const octets payload = bytes(11);
  const octets s = build_tcp(ip_a, ip_b, t, payload);
  ASSERT_EQ(s.size(), 20 + payload.size());
  EXPECT_EQ(s[12], 0x50);
  const auto v = parse_tcp(s.data(), s.size(), ip_a, ip_b);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->checksum_ok);
  EXPECT_EQ(v->data_offset, 5);
  EXPECT_EQ(v->h.src_port, t.src_port);
  EXPECT_EQ(v->h.dst_port, t.dst_port);
  EXPECT_EQ(v->h.seq, t.seq);
  EXPECT_EQ(v->h.ack, t.ack);
  EXPECT_EQ(v->h.flags, t.flags);
  EXPECT_EQ(v->h.window, t.window);
  EXPECT_EQ(v->h.urgent, t.urgent);
  EXPECT_FALSE(v->h.mss);
  EXPECT_EQ(v->payload, s.data() + 20);
  EXPECT_EQ(octets(v->payload, v->payload + v->payload_len), payload);
}

TEST(tcp_codec, mss_option_is_emitted_with_data_offset_6_and_parsed_back) {
  tcp_fields t = some_tcp();
  t.mss = 1460;
  const octets s = build_tcp(ip_a, ip_b, t, bytes(3));
  ASSERT_EQ(s.size(), 27u);
  EXPECT_EQ(s[12], 0x60);
  EXPECT_EQ(s[20], 2);
  EXPECT_EQ(s[21], 4);
  EXPECT_EQ(get16(&s[22]), 1460);
  const auto v = parse_tcp(s.data(), s.size(), ip_a, ip_b);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->checksum_ok);
  EXPECT_EQ(v->data_offset, 6);
  EXPECT_EQ(v->h.mss, std::optional<std::uint16_t>(1460));
  EXPECT_EQ(v->payload_len, 3u);
  EXPECT_EQ(v->payload, s.data() + 24);
}

// Builds a segment with raw option bytes (padded to a multiple of 4) and a correct checksum.
static octets tcp_with_options(const octets& opts) {
  octets s = build_tcp(ip_a, ip_b, some_tcp(), {});
  octets o = opts;
  while (o.size() % 4) o.push_back(0);
  s.insert(s.end(), o.begin(), o.end());
  s[12] = static_cast<std::uint8_t>(((20 + o.size()) / 4) << 4);
  s[16] = s[17] = 0;
  put16(&s[16], inet_checksum(s.data(), s.size(),
                              pseudo_header_sum(ip_a, ip_b, ip_proto_tcp, static_cast<std::uint16_t>(s.size()))));
  return s;
}

TEST(tcp_codec, mss_is_found_after_nops_and_other_options) {
  // NOP NOP, window scale (3,3,7), NOP, SACK-permitted (4,2), MSS 536.
  const octets s = tcp_with_options({1, 1, 3, 3, 7, 1, 4, 2, 2, 4, 0x02, 0x18});
  const auto v = parse_tcp(s.data(), s.size(), ip_a, ip_b);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->checksum_ok);
  EXPECT_EQ(v->data_offset, 8);
  EXPECT_EQ(v->h.mss, std::optional<std::uint16_t>(536));
}

TEST(tcp_codec, end_of_option_list_stops_the_walk) {
  const octets s = tcp_with_options({0, 0, 0, 0, 2, 4, 0x05, 0xb4});
  const auto v = parse_tcp(s.data(), s.size(), ip_a, ip_b);
  ASSERT_TRUE(v);
  EXPECT_FALSE(v->h.mss);
}

TEST(tcp_codec, malformed_options_are_ignored_without_failing_the_parse) {
  const std::vector<octets> cases{
      {2, 0, 0x05, 0xb4},           // length 0
      {2, 1, 0x05, 0xb4},           // length 1
      {5, 1, 2, 4, 0x05, 0xb4},     // length 1 on an unknown option before a good MSS
      {1, 1, 1, 2},                 // kind with no room for its length octet
      {1, 1, 2, 4},                 // MSS whose value is past the header
      {2, 8, 0x05, 0xb4},           // length past the header
      {2, 3, 0x05, 0xb4},           // MSS with the wrong length
      {2, 5, 0x05, 0xb4, 0, 0, 0, 0},  // MSS with the wrong length
      {8, 0xFF, 2, 4, 0x05, 0xb4, 0, 0},  // huge length
  };
  for (const octets& opts : cases) {
    const octets s = tcp_with_options(opts);
    const auto v = parse_tcp(s.data(), s.size(), ip_a, ip_b);
    ASSERT_TRUE(v) << ::testing::PrintToString(opts);
    EXPECT_TRUE(v->checksum_ok);
    EXPECT_FALSE(v->h.mss) << ::testing::PrintToString(opts);
    EXPECT_EQ(v->payload_len, 0u);
  }
}

TEST(tcp_codec, options_never_read_into_payload) {
  // The header ends with a kind octet whose length would lie in the payload.
  octets s = tcp_with_options({1, 1, 1, 2});
  s.insert(s.end(), {4, 0x05, 0xb4});  // payload looks like the rest of an MSS option
  s[16] = s[17] = 0;
  put16(&s[16], inet_checksum(s.data(), s.size(),
                              pseudo_header_sum(ip_a, ip_b, ip_proto_tcp, static_cast<std::uint16_t>(s.size()))));
  const auto v = parse_tcp(s.data(), s.size(), ip_a, ip_b);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->checksum_ok);
  EXPECT_FALSE(v->h.mss);
  EXPECT_EQ(v->payload_len, 3u);
}

TEST(tcp_codec, corrupting_any_octet_clears_checksum_ok) {
  tcp_fields t = some_tcp();
  t.mss = 1400;
  const octets s = build_tcp(ip_a, ip_b, t, bytes(7));
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i == 12) continue;  // the data offset: changes what is parsed
    octets bad = s;
    bad[i] ^= 0x04;
    const auto v = parse_tcp(bad.data(), bad.size(), ip_a, ip_b);
    ASSERT_TRUE(v) << i;
    EXPECT_FALSE(v->checksum_ok) << "octet " << i;
  }
  EXPECT_FALSE(parse_tcp(s.data(), s.size(), ip_b, ip_a + 2)->checksum_ok) << "pseudo-header covered";
}

TEST(tcp_codec, parse_rejects_truncated_input_at_every_length) {
  const octets s = build_tcp(ip_a, ip_b, some_tcp(), {});
  for (std::size_t n = 0; n < 20; ++n) {
    const octets t(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_FALSE(parse_tcp(t.data(), t.size(), ip_a, ip_b)) << n;
  }
}

TEST(tcp_codec, parse_rejects_data_offset_below_5) {
  for (std::uint8_t doff = 0; doff < 5; ++doff) {
    octets s = build_tcp(ip_a, ip_b, some_tcp(), bytes(20));
    s[12] = static_cast<std::uint8_t>(doff << 4);
    EXPECT_FALSE(parse_tcp(s.data(), s.size(), ip_a, ip_b)) << int{doff};
  }
}

TEST(tcp_codec, parse_rejects_data_offset_past_buffer) {
  tcp_fields t = some_tcp();
  t.mss = 1460;
  const octets s = build_tcp(ip_a, ip_b, t, {});
  for (std::size_t n = 20; n < s.size(); ++n) EXPECT_FALSE(parse_tcp(s.data(), n, ip_a, ip_b)) << n;
  octets big = build_tcp(ip_a, ip_b, some_tcp(), bytes(39));
  big[12] = 0xF0;  // 60-octet header in a 59-octet segment
  EXPECT_FALSE(parse_tcp(big.data(), big.size(), ip_a, ip_b));
}

TEST(tcp_codec, build_rejects_segments_longer_than_65535_octets) {
  tcp_fields t = some_tcp();
  t.mss = 536;
  EXPECT_EQ(build_tcp(ip_a, ip_b, t, octets(65535 - 24)).size(), 65535u);
  EXPECT_THROW(build_tcp(ip_a, ip_b, t, octets(65535 - 24 + 1)), std::invalid_argument);
}

TEST(tcp_codec, all_flag_bits_round_trip) {
  tcp_fields t = some_tcp();
  t.flags = TCP_FIN | TCP_SYN | TCP_RST | TCP_PSH | TCP_ACK | TCP_URG;
  const octets s = build_tcp(ip_a, ip_b, t, {});
  EXPECT_EQ(s[13], 0x3F);
  EXPECT_EQ(parse_tcp(s.data(), s.size(), ip_a, ip_b)->h.flags, 0x3F);
}

// ---- icmp_codec -----------------------------------------------------------------------------------------

TEST(icmp_codec, build_then_parse_round_trips_echo_request) {
  const octets payload = bytes(56);
  const octets m = build_icmp(8, 0, 0xBEEF0001, payload);
  ASSERT_EQ(m.size(), 8 + payload.size());
  EXPECT_EQ(m[0], 8);
  EXPECT_EQ(m[1], 0);
  EXPECT_EQ(get32(&m[4]), 0xBEEF0001u);
  const auto v = parse_icmp(m.data(), m.size());
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->checksum_ok);
  EXPECT_EQ(v->type, 8);
  EXPECT_EQ(v->code, 0);
  EXPECT_EQ(v->rest, 0xBEEF0001u);
  EXPECT_EQ(v->payload, m.data() + 8);
  EXPECT_EQ(octets(v->payload, v->payload + v->payload_len), payload);
}

TEST(icmp_codec, odd_length_payload_round_trips) {
  const octets m = build_icmp(3, 3, 0, bytes(7, 0xF0));
  const auto v = parse_icmp(m.data(), m.size());
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->checksum_ok);
  EXPECT_EQ(v->type, 3);
  EXPECT_EQ(v->code, 3);
  EXPECT_EQ(v->payload_len, 7u);
}

TEST(icmp_codec, known_echo_reply_checksum) {
  // Echo reply, id 1, seq 1, no data: 00 00 [ff fd] 00 01 00 01 (~(0x0001 + 0x0001) = 0xfffd).
  const octets m = build_icmp(0, 0, 0x00010001, {});
  EXPECT_EQ(m, (octets{0x00, 0x00, 0xff, 0xfd, 0x00, 0x01, 0x00, 0x01}));
}

TEST(icmp_codec, checksum_covers_the_whole_message) {
  const octets m = build_icmp(8, 0, 1, bytes(9));
  for (std::size_t i = 0; i < m.size(); ++i) {
    octets bad = m;
    bad[i] ^= 0x80;
    const auto v = parse_icmp(bad.data(), bad.size());
    ASSERT_TRUE(v);
    EXPECT_FALSE(v->checksum_ok) << "octet " << i;
  }
}

TEST(icmp_codec, parse_rejects_truncated_input_at_every_length) {
  const octets m = build_icmp(8, 0, 1, {});
  for (std::size_t n = 0; n < 8; ++n) {
    const octets t(m.begin(), m.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_FALSE(parse_icmp(t.data(), t.size())) << n;
  }
  EXPECT_TRUE(parse_icmp(m.data(), m.size()));
}
