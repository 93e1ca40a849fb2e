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
