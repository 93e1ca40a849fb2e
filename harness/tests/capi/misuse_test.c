/*
 * Misuse of the C API is reported, never fatal: NULL handles, NULL buffers, unknown peers, callbacks with
 * no current instance, malformed addresses, time going backwards, conflicts, unwritable files, bad
 * options. Written in C90 (and compiled with -std=c90 -pedantic) so the header is checked for C89 too.
 *
 * Exit 0 on success; on any failure a message on stderr and exit 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wizsim/wizsim.h"

static int failures = 0;

static void check(int ok, int line, const char* what) {
  if (!ok) {
    fprintf(stderr, "FAIL misuse_test.c:%d: %s\n", line, what);
    ++failures;
  }
}
#define CHECK(cond) check((cond) != 0, __LINE__, #cond)

/* The message names the function and says what was wrong. */
static int mentions(const char* msg, const char* a, const char* b) {
  return msg != NULL && strstr(msg, a) != NULL && (b == NULL || strstr(msg, b) != NULL);
}

static void null_handles(void) {
  uint8_t buf[6];
  uint64_t n = 0;
  CHECK(wizsim_cs(NULL, 0) == WIZSIM_ERR_NULL_HANDLE);
  CHECK(mentions(wizsim_last_error(NULL), "wizsim_cs", "NULL"));
  CHECK(wizsim_spi_byte(NULL, 0x00) == WIZSIM_ERR_NULL_HANDLE);
  CHECK(wizsim_spi_burst_read(NULL, buf, 4) == WIZSIM_ERR_NULL_HANDLE);
  CHECK(wizsim_spi_burst_write(NULL, buf, 4) == WIZSIM_ERR_NULL_HANDLE);
  CHECK(wizsim_rstn(NULL, 1) == WIZSIM_ERR_NULL_HANDLE);
  CHECK(wizsim_intn(NULL) == WIZSIM_ERR_NULL_HANDLE);
  CHECK(wizsim_board_mac(NULL, buf) == WIZSIM_ERR_NULL_HANDLE);
  CHECK(wizsim_now_ns(NULL) == 0);
  CHECK(mentions(wizsim_last_error(NULL), "wizsim_now_ns", NULL));
  CHECK(wizsim_advance_us(NULL, 1) == WIZSIM_ERR_NULL_HANDLE);
  CHECK(wizsim_run_until_ns(NULL, 1) == WIZSIM_ERR_NULL_HANDLE);
  CHECK(wizsim_add_peer(NULL, "p", "10.0.0.1", NULL) == WIZSIM_ERR_NULL_HANDLE);
  CHECK(wizsim_find_peer(NULL, "p") == WIZSIM_ERR_NULL_HANDLE);
  CHECK(wizsim_peer_udp_echo(NULL, 0, 7) == WIZSIM_ERR_NULL_HANDLE);
  CHECK(wizsim_peer_tcp_echo(NULL, 0, 7) == WIZSIM_ERR_NULL_HANDLE);
  CHECK(wizsim_peer_echo_stats(NULL, 0, &n, &n) == WIZSIM_ERR_NULL_HANDLE);
  CHECK(wizsim_peer_dhcp_server(NULL, 0, "10.0.0.10", "10.0.0.20", NULL, NULL, 0) == WIZSIM_ERR_NULL_HANDLE);
  CHECK(wizsim_peer_dns_a(NULL, 0, "a.test", "10.0.0.1", 0) == WIZSIM_ERR_NULL_HANDLE);
  CHECK(wizsim_peer_http_page(NULL, 0, 80, "/", 200, NULL, "", 0) == WIZSIM_ERR_NULL_HANDLE);
  CHECK(wizsim_cable(NULL, 1) == WIZSIM_ERR_NULL_HANDLE);
  CHECK(wizsim_pcap(NULL, "x.pcap") == WIZSIM_ERR_NULL_HANDLE);
  CHECK(wizsim_trace(NULL, "x.jsonl") == WIZSIM_ERR_NULL_HANDLE);
  CHECK(wizsim_log(NULL, "x.log", 4) == WIZSIM_ERR_NULL_HANDLE);
  CHECK(wizsim_guest_errors(NULL) == 0);
  wizsim_destroy(NULL);
  CHECK(strcmp(wizsim_strerror(WIZSIM_ERR_NULL_HANDLE), "NULL handle") == 0);
  CHECK(strcmp(wizsim_strerror(12345), "unknown status") == 0);
}

static void no_current_instance(void) {
  uint8_t buf[4];
  unsigned long before = wizsim_callback_errors();
  CHECK(wizsim_select_instance(NULL) == WIZSIM_OK);
  CHECK(wizsim_current_instance() == NULL);
  wizsim_cs_select();
  CHECK(mentions(wizsim_last_error(NULL), "wizsim_cs_select", "no current instance"));
  CHECK(wizsim_spi_readbyte() == 0xFF);
  wizsim_spi_writebyte(0x12);
  memset(buf, 0, sizeof buf);
  wizsim_spi_readburst(buf, 4);
  CHECK(buf[0] == 0 && buf[3] == 0); /* untouched */
  wizsim_spi_writeburst(buf, 4);
  wizsim_cs_deselect();
  CHECK(wizsim_millis() == 0);
  CHECK(wizsim_micros() == 0);
  wizsim_delay_ms(5);
  wizsim_delay_us(5);
  CHECK(mentions(wizsim_last_error(NULL), "wizsim_delay_us", "no current instance"));
  CHECK(wizsim_callback_errors() == before + 10);
}

static void bad_options(void) {
  wizsim_options o;
  wizsim_t* h;
  wizsim_options_init(&o);
  CHECK(o.sclk_hz == 33333333u && o.seed == 1 && o.link_delay_ns == 500 && o.mac[0] == 0x02);
  o.sclk_hz = 100000000u;
  h = wizsim_create(&o);
  CHECK(h == NULL);
  CHECK(mentions(wizsim_last_error(NULL), "wizsim_create", "80 MHz"));
  wizsim_options_init(NULL); /* reported, not a crash */
  CHECK(mentions(wizsim_last_error(NULL), "wizsim_options_init", NULL));
}

static void errors_on_a_live_instance(void) {
  wizsim_t* h = wizsim_create(NULL);
  wizsim_t* other;
  unsigned long before;
  int peer;
  uint8_t mac[6];
  uint8_t bad_mac[6];
  CHECK(h != NULL);
  if (!h) return;
  CHECK(strcmp(wizsim_last_error(h), "") == 0);

  /* NULL buffers with a length; a zero-length NULL buffer is fine. */
  CHECK(wizsim_spi_burst_read(h, NULL, 3) == WIZSIM_ERR_ARGUMENT);
  CHECK(mentions(wizsim_last_error(h), "wizsim_spi_burst_read", "NULL buffer"));
  CHECK(wizsim_spi_burst_write(h, NULL, 3) == WIZSIM_ERR_ARGUMENT);
  CHECK(wizsim_spi_burst_read(h, NULL, 0) == WIZSIM_OK);
  CHECK(wizsim_board_mac(h, NULL) == WIZSIM_ERR_ARGUMENT);
  CHECK(wizsim_board_mac(h, mac) == WIZSIM_OK && mac[0] == 0x02 && mac[5] == 0x01);

  /* Peers: malformed addresses, empty names, duplicates, unknown ids and names. */
  CHECK(wizsim_add_peer(h, "p", "10.0.0", NULL) == WIZSIM_ERR_ARGUMENT);
  CHECK(mentions(wizsim_last_error(h), "wizsim_add_peer", "10.0.0"));
  CHECK(wizsim_add_peer(h, "p", "10.0.0.256", NULL) == WIZSIM_ERR_ARGUMENT);
  CHECK(wizsim_add_peer(h, "p", "10.0.0.1/33", NULL) == WIZSIM_ERR_ARGUMENT);
  CHECK(wizsim_add_peer(h, "p", " 10.0.0.1", NULL) == WIZSIM_ERR_ARGUMENT);
  CHECK(wizsim_add_peer(h, "p", "10.0.0.1x", NULL) == WIZSIM_ERR_ARGUMENT);
  CHECK(wizsim_add_peer(h, "p", NULL, NULL) == WIZSIM_ERR_ARGUMENT);
  CHECK(wizsim_add_peer(h, "", "10.0.0.1", NULL) == WIZSIM_ERR_ARGUMENT);
  CHECK(wizsim_add_peer(h, NULL, "10.0.0.1", NULL) == WIZSIM_ERR_ARGUMENT);
  memset(bad_mac, 0, sizeof bad_mac);
  bad_mac[0] = 0x01; /* a group address cannot be a station's */
  CHECK(wizsim_add_peer(h, "p", "10.0.0.1", bad_mac) == WIZSIM_ERR_ARGUMENT);
  CHECK(mentions(wizsim_last_error(h), "wizsim_add_peer", "group address"));
  peer = wizsim_add_peer(h, "p", "10.0.0.1/16", NULL);
  CHECK(peer == 0);
  CHECK(wizsim_add_peer(h, "p", "10.0.0.2", NULL) == WIZSIM_ERR_CONFLICT);
  CHECK(wizsim_add_peer(h, "w5500", "10.0.0.2", NULL) == WIZSIM_ERR_CONFLICT); /* the chip's own port */
  CHECK(wizsim_find_peer(h, "nobody") == WIZSIM_ERR_UNKNOWN_PEER);
  CHECK(mentions(wizsim_last_error(h), "wizsim_find_peer", "nobody"));
  CHECK(wizsim_find_peer(h, NULL) == WIZSIM_ERR_ARGUMENT);
  CHECK(wizsim_peer_udp_echo(h, 1, 7) == WIZSIM_ERR_UNKNOWN_PEER);
  CHECK(wizsim_peer_udp_echo(h, -1, 7) == WIZSIM_ERR_UNKNOWN_PEER);
  CHECK(wizsim_peer_tcp_echo(h, 99, 7) == WIZSIM_ERR_UNKNOWN_PEER);
  CHECK(mentions(wizsim_last_error(h), "wizsim_peer_tcp_echo", "99"));
  CHECK(wizsim_peer_echo_stats(h, 5, NULL, NULL) == WIZSIM_ERR_UNKNOWN_PEER);
  CHECK(wizsim_peer_udp_echo(h, peer, 0) == WIZSIM_ERR_ARGUMENT);
  CHECK(wizsim_peer_udp_echo(h, peer, 7) == WIZSIM_OK);
  CHECK(wizsim_peer_udp_echo(h, peer, 7) == WIZSIM_ERR_CONFLICT);
  CHECK(mentions(wizsim_last_error(h), "wizsim_peer_udp_echo", "already"));
  CHECK(wizsim_peer_tcp_echo(h, peer, 7) == WIZSIM_OK); /* TCP and UDP ports are separate */
  CHECK(wizsim_peer_tcp_echo(h, peer, 7) == WIZSIM_ERR_CONFLICT);
  CHECK(wizsim_peer_echo_stats(h, peer, NULL, NULL) == WIZSIM_OK);

  /* Service configuration errors say what is wrong and leave the peer usable. */
  CHECK(wizsim_peer_dhcp_server(h, peer, "10.1.0.10", "10.1.0.5", NULL, NULL, 0) == WIZSIM_ERR_ARGUMENT);
  CHECK(mentions(wizsim_last_error(h), "wizsim_peer_dhcp_server", "empty"));
  CHECK(wizsim_peer_dhcp_server(h, peer, "10.9.0.10", "10.9.0.20", NULL, NULL, 0) == WIZSIM_ERR_ARGUMENT);
  CHECK(wizsim_peer_dhcp_server(h, peer, "10.1.0.10", "bogus", NULL, NULL, 0) == WIZSIM_ERR_ARGUMENT);
  CHECK(mentions(wizsim_last_error(h), "wizsim_peer_dhcp_server", "bogus"));
  CHECK(wizsim_peer_dhcp_server(h, peer, "10.0.1.10", "10.0.1.20", "10.0.0.254", NULL, 0) == WIZSIM_OK);
  CHECK(wizsim_peer_dns_a(h, peer, "bad..name", "10.0.0.1", 0) == WIZSIM_ERR_ARGUMENT);
  CHECK(wizsim_peer_dns_a(h, peer, "ok.test", "10.0.0.300", 0) == WIZSIM_ERR_ARGUMENT);
  CHECK(wizsim_peer_dns_a(h, peer, "ok.test", "10.0.0.3", 0) == WIZSIM_OK);
  CHECK(wizsim_peer_http_page(h, peer, 80, "nopath", 200, NULL, "", 0) == WIZSIM_ERR_ARGUMENT);
  CHECK(wizsim_peer_http_page(h, peer, 80, "/", 99, NULL, "", 0) == WIZSIM_ERR_ARGUMENT);
  CHECK(wizsim_peer_http_page(h, peer, 80, "/", 200, NULL, NULL, 5) == WIZSIM_ERR_ARGUMENT);
  CHECK(wizsim_peer_http_page(h, peer, 80, "/", 200, "text/html", "<p>", 3) == WIZSIM_OK);
  CHECK(wizsim_peer_http_page(h, peer, 7, "/", 200, NULL, "", 0) == WIZSIM_ERR_CONFLICT); /* the TCP echo */

  /* Time never goes backwards, and cannot overflow. */
  CHECK(wizsim_advance_us(h, 1000) == WIZSIM_OK);
  CHECK(wizsim_now_ns(h) == 1000000u);
  CHECK(wizsim_run_until_ns(h, 999999u) == WIZSIM_ERR_ARGUMENT);
  CHECK(mentions(wizsim_last_error(h), "wizsim_run_until_ns", "past"));
  CHECK(wizsim_now_ns(h) == 1000000u);
  CHECK(wizsim_run_until_ns(h, 1000000u) == WIZSIM_OK);
  CHECK(wizsim_advance_us(h, (uint64_t)-1) == WIZSIM_ERR_ARGUMENT);
  CHECK(wizsim_run_until_ns(h, (uint64_t)-1) == WIZSIM_ERR_ARGUMENT);
  CHECK(wizsim_now_ns(h) == 1000000u);

  /* Files that cannot be created; a bad log level. */
  CHECK(wizsim_pcap(h, "/nonexistent-dir/x.pcap") == WIZSIM_ERR_IO);
  CHECK(mentions(wizsim_last_error(h), "wizsim_pcap", NULL));
  CHECK(wizsim_trace(h, "/nonexistent-dir/x.jsonl") == WIZSIM_ERR_IO);
  CHECK(mentions(wizsim_last_error(h), "wizsim_trace", "/nonexistent-dir/x.jsonl"));
  CHECK(wizsim_log(h, "/nonexistent-dir/x.log", 4) == WIZSIM_ERR_IO);
  CHECK(wizsim_log(h, NULL, 9) == WIZSIM_ERR_ARGUMENT);
  CHECK(wizsim_pcap(h, NULL) == WIZSIM_OK); /* stopping what never started is fine */
  CHECK(wizsim_trace(h, NULL) == WIZSIM_OK);

  /* A host mistake on the pins is a guest error in the chip, not an API error. */
  CHECK(wizsim_cs(h, 0) == WIZSIM_OK);
  CHECK(wizsim_spi_byte(h, 0x00) == 0x01); /* MISO during the first header byte */
  CHECK(wizsim_cs(h, 1) == WIZSIM_OK);     /* CS rose mid-header */
  CHECK(wizsim_guest_errors(h) == 1);
  CHECK(wizsim_intn(h) == 1);

  /* Errors stay with their instance; destroying the current instance leaves none current. */
  other = wizsim_create(NULL);
  CHECK(other != NULL);
  CHECK(strcmp(wizsim_last_error(other), "") == 0);
  CHECK(wizsim_select_instance(h) == WIZSIM_OK);
  wizsim_destroy(h);
  CHECK(wizsim_current_instance() == NULL);
  before = wizsim_callback_errors();
  wizsim_cs_select();
  CHECK(wizsim_callback_errors() == before + 1);
  /* Two instances have independent clocks. */
  CHECK(wizsim_now_ns(other) == 0);
  wizsim_destroy(other);
}

int main(void) {
  null_handles();
  no_current_instance();
  bad_options();
  errors_on_a_live_instance();
  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("ok: every misuse was reported\n");
  return 0;
}
