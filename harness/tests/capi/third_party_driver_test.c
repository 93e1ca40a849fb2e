/*
 * A third-party C driver (wiz_driver.c, which knows nothing of wizsim) runs unmodified against the
 * virtual chip and network: the application registers wizsim's callback-shaped functions in the
 * driver's HAL table, exactly as it would register its board's SPI and GPIO functions.
 *
 * usage: capi_third_party_driver_test <capture.pcap> <trace.jsonl>
 * Exit 0 on success; on any failure a message on stderr and exit 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wiz_driver.h"
#include "wizsim/wizsim.h"

static wizsim_t* sim;

#define CHECK(cond, ...)                                                                            \
  do {                                                                                              \
    if (!(cond)) {                                                                                  \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                               \
      fprintf(stderr, __VA_ARGS__);                                                                 \
      fprintf(stderr, " (wizsim: '%s')\n", sim ? wizsim_last_error(sim) : wizsim_last_error(NULL)); \
      exit(1);                                                                                      \
    }                                                                                               \
  } while (0)

static long file_size(const char* path) {
  long n;
  FILE* f = fopen(path, "rb");
  if (!f) return -1;
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fclose(f);
  return n;
}

static int file_contains(const char* path, const char* needle) {
  char line[4096];
  int found = 0;
  FILE* f = fopen(path, "r");
  if (!f) return 0;
  while (!found && fgets(line, sizeof line, f)) found = strstr(line, needle) != NULL;
  fclose(f);
  return found;
}

int main(int argc, char** argv) {
  static const uint8_t chip_ip[4] = {192, 168, 10, 50}, subnet[4] = {255, 255, 255, 0},
                       gw[4] = {192, 168, 10, 254};
  static const uint8_t peer_ip[4] = {192, 168, 10, 1};
  static const uint8_t peer_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x10, 0x01};
  const char* pcap_path;
  const char* trace_path;
  wizsim_options opt;
  int peer, r, i;
  uint8_t mac[6], rmac[6], rip[4], rsub[4], rgw[4];
  uint32_t t0;
  uint64_t ns0, udp_echoed = 0, tcp_echoed = 0;

  if (argc != 3) {
    fprintf(stderr, "usage: %s <capture.pcap> <trace.jsonl>\n", argv[0]);
    return 2;
  }
  pcap_path = argv[1];
  trace_path = argv[2];

  /* ---- the virtual bench: a chip, a segment, an echo peer ---- */
  wizsim_options_init(&opt);
  opt.seed = 7;
  opt.sclk_hz = 20000000;
  opt.chip_name = "board";
  sim = wizsim_create(&opt);
  CHECK(sim != NULL, "wizsim_create");
  peer = wizsim_add_peer(sim, "echo", "192.168.10.1/24", peer_mac);
  CHECK(peer >= 0, "add_peer returned %d", peer);
  CHECK(wizsim_find_peer(sim, "echo") == peer, "find_peer");
  CHECK(wizsim_peer_udp_echo(sim, peer, 7) == WIZSIM_OK, "udp echo");
  CHECK(wizsim_peer_tcp_echo(sim, peer, 7) == WIZSIM_OK, "tcp echo");
  CHECK(wizsim_peer_dhcp_server(sim, peer, "192.168.10.100", "192.168.10.120", "192.168.10.254", "192.168.10.1",
                                600) == WIZSIM_OK,
        "dhcp server");
  CHECK(wizsim_peer_dhcp_server(sim, peer, "192.168.10.100", "192.168.10.120", NULL, NULL, 0) ==
            WIZSIM_ERR_CONFLICT,
        "a second DHCP server on one peer");
  CHECK(wizsim_peer_dns_a(sim, peer, "www.example.test", "10.0.0.42", 60) == WIZSIM_OK, "dns record");
  CHECK(wizsim_peer_http_page(sim, peer, 80, "/hello", 200, NULL, "hello, C driver", 15) == WIZSIM_OK, "http");
  CHECK(wizsim_peer_http_page(sim, peer, 7, "/x", 200, NULL, "", 0) == WIZSIM_ERR_CONFLICT,
        "http on the TCP echo port");
  CHECK(wizsim_pcap(sim, pcap_path) == WIZSIM_OK, "pcap");
  CHECK(wizsim_trace(sim, trace_path) == WIZSIM_OK, "trace");
  CHECK(wizsim_select_instance(sim) == WIZSIM_OK && wizsim_current_instance() == sim, "select_instance");

  /* ---- the application's board bring-up: register the HAL, byte mode first (no burst callbacks) ---- */
  wd_register_cs(wizsim_cs_select, wizsim_cs_deselect);
  wd_register_spi(wizsim_spi_readbyte, wizsim_spi_writebyte);
  wd_register_time(wizsim_millis, wizsim_delay_ms);

  r = wd_soft_reset(100);
  CHECK(r == WD_OK, "soft reset: %d", r);
  CHECK(wd_version() == 0x04, "VERSIONR = 0x%02X", wd_version());
  r = wd_wait_link(5000);
  CHECK(r == WD_OK, "link did not come up after the reset's renegotiation: %d", r);

  CHECK(wizsim_board_mac(sim, mac) == WIZSIM_OK, "board mac");
  wd_set_network(mac, chip_ip, subnet, gw);
  wd_get_network(rmac, rip, rsub, rgw);
  CHECK(memcmp(mac, rmac, 6) == 0, "SHAR read back differs");
  CHECK(memcmp(chip_ip, rip, 4) == 0, "SIPR read back differs");
  CHECK(memcmp(subnet, rsub, 4) == 0, "SUBR read back differs");
  CHECK(memcmp(gw, rgw, 4) == 0, "GAR read back differs");

  /* The driver's tick is virtual time: a delay advances it by exactly that much. */
  t0 = wizsim_millis();
  ns0 = wizsim_now_ns(sim);
  CHECK(t0 > 0 && t0 == (uint32_t)(ns0 / 1000000u), "millis %lu vs now %llu ns", (unsigned long)t0,
        (unsigned long long)ns0);
  wizsim_delay_ms(25);
  CHECK(wizsim_now_ns(sim) - ns0 == 25000000u, "delay_ms(25) advanced %llu ns",
        (unsigned long long)(wizsim_now_ns(sim) - ns0));

  /* ---- UDP: send to the peer's echo port, read the echo back through the driver's own code ---- */
  {
    static const char msg[] = "hello from a third-party C driver";
    uint8_t buf[128], from[4];
    uint16_t from_port = 0;
    r = wd_udp_open(0, 5000);
    CHECK(r == WD_OK, "udp open: %d", r);
    r = wd_udp_sendto(0, peer_ip, 7, (const uint8_t*)msg, (uint16_t)(sizeof msg - 1), 2000);
    CHECK(r == WD_OK, "udp sendto (ARP + SEND_OK): %d", r);
    r = wd_udp_recvfrom(0, from, &from_port, buf, sizeof buf, 1000);
    CHECK(r == (int)(sizeof msg - 1), "udp recvfrom returned %d", r);
    CHECK(memcmp(buf, msg, sizeof msg - 1) == 0, "udp echo payload differs");
    CHECK(memcmp(from, peer_ip, 4) == 0 && from_port == 7, "echo came from %u.%u.%u.%u:%u", from[0], from[1],
          from[2], from[3], from_port);
    CHECK(wd_close(0) == WD_OK, "udp close");
  }

  /* ---- TCP, now with the burst callbacks registered (ioLibrary's faster path) ---- */
  wd_register_spiburst(wizsim_spi_readburst, wizsim_spi_writeburst);
  {
    uint8_t out[300], back[300];
    int got = 0;
    for (i = 0; i < (int)sizeof out; ++i) out[i] = (uint8_t)(i * 7 + 3);
    r = wd_tcp_connect(1, 40001, peer_ip, 7, 3000);
    CHECK(r == WD_OK, "tcp connect: %d (Sn_SR 0x%02X)", r, wd_status(1));
    r = wd_tcp_send(1, out, sizeof out, 2000);
    CHECK(r == WD_OK, "tcp send: %d", r);
    while (got < (int)sizeof back) {
      r = wd_tcp_recv(1, back + got, (uint16_t)(sizeof back - (size_t)got), 1000);
      CHECK(r > 0, "tcp recv after %d bytes: %d", got, r);
      got += r;
    }
    CHECK(memcmp(out, back, sizeof out) == 0, "tcp echo differs");
    r = wd_disconnect(1, 2000);
    CHECK(r == WD_OK, "tcp disconnect: %d (Sn_SR 0x%02X)", r, wd_status(1));
  }

  /* ---- services: DHCP DISCOVER -> OFFER, a DNS A query, an HTTP GET, all through the driver ---- */
  {
    uint8_t msg[300], buf[600], from[4];
    uint16_t from_port = 0;
    static const uint8_t bcast[4] = {255, 255, 255, 255};
    memset(msg, 0, sizeof msg);
    msg[0] = 1; /* BOOTREQUEST */
    msg[1] = 1; /* Ethernet */
    msg[2] = 6;
    msg[4] = 0x12, msg[5] = 0x34, msg[6] = 0x56, msg[7] = 0x78; /* xid */
    msg[10] = 0x80;                                               /* broadcast flag */
    memcpy(msg + 28, mac, 6);                                     /* chaddr */
    msg[236] = 99, msg[237] = 130, msg[238] = 83, msg[239] = 99;  /* magic cookie */
    msg[240] = 53, msg[241] = 1, msg[242] = 1;                    /* DHCPDISCOVER */
    msg[243] = 255;
    CHECK(wd_udp_open(2, 68) == WD_OK, "udp open 68");
    r = wd_udp_sendto(2, bcast, 67, msg, sizeof msg, 2000);
    CHECK(r == WD_OK, "dhcp discover: %d", r);
    r = wd_udp_recvfrom(2, from, &from_port, buf, sizeof buf, 1000);
    CHECK(r >= 244, "dhcp offer: recvfrom returned %d", r);
    CHECK(buf[0] == 2 && memcmp(buf + 4, msg + 4, 4) == 0, "not a BOOTREPLY to our xid");
    CHECK(buf[16] == 192 && buf[17] == 168 && buf[18] == 10 && buf[19] >= 100 && buf[19] <= 120,
          "yiaddr %u.%u.%u.%u outside the pool", buf[16], buf[17], buf[18], buf[19]);
    CHECK(buf[240] == 53 && buf[242] == 2, "first option is not 53 = OFFER");
    CHECK(wd_close(2) == WD_OK, "close 68");
  }
  {
    /* DNS: id 0xBEEF, RD, one question "www.example.test" A IN. */
    static const uint8_t query[] = {0xBE, 0xEF, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,  3, 'w', 'w', 'w', 7,
                                    'e',  'x',  'a',  'm',  'p', 'l', 'e', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1};
    uint8_t buf[512], from[4];
    uint16_t from_port = 0;
    CHECK(wd_udp_open(2, 5353) == WD_OK, "udp open for dns");
    CHECK(wd_udp_sendto(2, peer_ip, 53, query, sizeof query, 2000) == WD_OK, "dns query");
    r = wd_udp_recvfrom(2, from, &from_port, buf, sizeof buf, 1000);
    CHECK(r == (int)sizeof query + 16, "dns answer of %d octets", r);
    CHECK(buf[0] == 0xBE && buf[1] == 0xEF && (buf[2] & 0x80) && (buf[3] & 0x0F) == 0, "not a NOERROR answer");
    CHECK(buf[7] == 1, "%u answers", buf[7]);
    CHECK(memcmp(buf + r - 4, "\x0A\x00\x00\x2A", 4) == 0, "A record is %u.%u.%u.%u", buf[r - 4], buf[r - 3],
          buf[r - 2], buf[r - 1]);
    CHECK(wd_close(2) == WD_OK, "close dns");
  }
  {
    static const char get[] = "GET /hello HTTP/1.1\r\nHost: echo\r\nConnection: close\r\n\r\n";
    char resp[1024];
    int got = 0;
    CHECK(wd_tcp_connect(3, 40002, peer_ip, 80, 3000) == WD_OK, "http connect");
    CHECK(wd_tcp_send(3, (const uint8_t*)get, sizeof get - 1, 2000) == WD_OK, "http send");
    for (;;) {
      r = wd_tcp_recv(3, (uint8_t*)resp + got, (uint16_t)(sizeof resp - 1 - (size_t)got), 500);
      if (r <= 0) break;
      got += r;
    }
    resp[got] = 0;
    CHECK(strncmp(resp, "HTTP/1.1 200", 12) == 0, "http status line: %.40s", resp);
    CHECK(strstr(resp, "\r\n\r\nhello, C driver") != NULL, "http body missing: %s", resp);
    wd_disconnect(3, 2000);
  }

  /* ---- the other side agrees, nothing was misused ---- */
  CHECK(wizsim_peer_echo_stats(sim, peer, &udp_echoed, &tcp_echoed) == WIZSIM_OK, "echo stats");
  CHECK(udp_echoed == 1, "peer echoed %llu datagrams", (unsigned long long)udp_echoed);
  CHECK(tcp_echoed == 300, "peer echoed %llu TCP bytes", (unsigned long long)tcp_echoed);
  CHECK(wizsim_callback_errors() == 0, "%lu callback errors", wizsim_callback_errors());
  CHECK(wizsim_guest_errors(sim) == 0, "the chip logged %llu guest errors",
        (unsigned long long)wizsim_guest_errors(sim));

  printf("ok: VERSIONR 0x04, UDP and TCP echoed by the peer, %llu us of virtual time\n",
         (unsigned long long)(wizsim_now_ns(sim) / 1000u));
  wizsim_destroy(sim); /* flushes and closes the pcap and the trace */
  sim = NULL;
  CHECK(wizsim_current_instance() == NULL, "destroying the current instance clears it");

  CHECK(file_size(pcap_path) > 24 + 4 * 16, "pcap %s has %ld bytes", pcap_path, file_size(pcap_path));
  CHECK(file_contains(trace_path, "\"ev\":\"spi\""), "trace has no SPI frames");
  CHECK(file_contains(trace_path, "\"src\":\"board\""), "trace has no chip events");
  return 0;
}
