/*
 * The handle-based half of the C API: SPI bytes cost exactly their wire time, RSTn and the PLL-lock
 * delay, INTn following a socket interrupt, the cable, run_until, the human log, zero-initialised
 * options, and two instances with the callbacks following the selected one.
 *
 * usage: capi_pins_and_time_test <log file>
 * Exit 0 on success; on any failure a message on stderr and exit 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wizsim/wizsim.h"

#define CHECK(cond, ...)                                              \
  do {                                                                \
    if (!(cond)) {                                                    \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                   \
      fprintf(stderr, " (wizsim: '%s')\n", wizsim_last_error(NULL));  \
      exit(1);                                                        \
    }                                                                 \
  } while (0)

/* One VDM frame through the handle-based pins. */
static void frame(wizsim_t* h, uint16_t addr, uint8_t bsb, int write, uint8_t* data, size_t n) {
  const uint8_t head[3] = {(uint8_t)(addr >> 8), (uint8_t)addr, (uint8_t)((bsb << 3) | (write ? 4 : 0))};
  CHECK(wizsim_cs(h, 0) == WIZSIM_OK, "cs low");
  CHECK(wizsim_spi_burst_write(h, head, 3) == WIZSIM_OK, "header");
  if (write)
    CHECK(wizsim_spi_burst_write(h, data, n) == WIZSIM_OK, "data out");
  else
    CHECK(wizsim_spi_burst_read(h, data, n) == WIZSIM_OK, "data in");
  CHECK(wizsim_cs(h, 1) == WIZSIM_OK, "cs high");
}
static uint8_t rd(wizsim_t* h, uint16_t addr, uint8_t bsb) {
  uint8_t v = 0xEE;
  frame(h, addr, bsb, 0, &v, 1);
  return v;
}
static void wr(wizsim_t* h, uint16_t addr, uint8_t bsb, uint8_t v) {
  frame(h, addr, bsb, 1, &v, 1);
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

static void byte_time_is_exact(void) {
  wizsim_options o;
  wizsim_t* h;
  uint64_t t0;
  uint8_t buf[100];
  memset(&o, 0, sizeof o);
  o.sclk_hz = 10000000; /* 8 clocks of 100 ns per byte */
  h = wizsim_create(&o);
  CHECK(h != NULL, "create");
  CHECK(wizsim_cs(h, 0) == WIZSIM_OK, "cs");
  t0 = wizsim_now_ns(h);
  CHECK(wizsim_spi_byte(h, 0x00) == 0x01, "first header byte MISO");
  CHECK(wizsim_now_ns(h) - t0 == 800, "one byte took %llu ns", (unsigned long long)(wizsim_now_ns(h) - t0));
  t0 = wizsim_now_ns(h);
  CHECK(wizsim_spi_burst_read(h, buf, sizeof buf) == WIZSIM_OK, "burst");
  CHECK(wizsim_now_ns(h) - t0 == 100 * 800, "100 bytes took %llu ns",
        (unsigned long long)(wizsim_now_ns(h) - t0));
  CHECK(wizsim_cs(h, 1) == WIZSIM_OK, "cs");
  wizsim_destroy(h);
}

static void reset_pin_and_pll_lock(void) {
  wizsim_t* h = wizsim_create(NULL);
  uint8_t mac[6] = {2, 0, 0, 0, 0, 9};
  CHECK(h != NULL, "create");
  frame(h, 0x0009, 0, 1, mac, 6);
  CHECK(rd(h, 0x000E, 0) == 9, "SHAR written");
  CHECK(wizsim_rstn(h, 0) == WIZSIM_OK, "rstn low");
  CHECK(wizsim_advance_us(h, 1000) == WIZSIM_OK, "hold 1 ms");
  CHECK(wizsim_rstn(h, 1) == WIZSIM_OK, "rstn high");
  CHECK(rd(h, 0x0039, 0) == 0x00, "VERSIONR reads 0 before PLL lock");
  CHECK(wizsim_advance_us(h, 1000) == WIZSIM_OK, "TPL");
  CHECK(rd(h, 0x0039, 0) == 0x04, "VERSIONR after PLL lock");
  CHECK(rd(h, 0x000E, 0) == 0x00, "SHAR back at reset value");
  CHECK(wizsim_guest_errors(h) == 0, "a 1 ms pulse is within spec");
  wizsim_destroy(h);
}

/* A UDP send's SENDOK interrupt pulls INTn low once it is enabled in Sn_IMR and SIMR. */
static void intn_follows_a_socket_interrupt(void) {
  static const uint8_t ip[4] = {10, 1, 0, 2}, mask[4] = {255, 255, 255, 0}, dst[4] = {10, 1, 0, 1};
  uint8_t port[2] = {0x13, 0x88}, dport[2] = {0, 7}, wrp[2], payload[4] = {'p', 'i', 'n', 'g'};
  uint8_t mac[6];
  wizsim_t* h = wizsim_create(NULL);
  int peer, polls = 0;
  uint16_t w;
  CHECK(h != NULL, "create");
  peer = wizsim_add_peer(h, "echo", "10.1.0.1", NULL);
  CHECK(peer == 0, "peer");
  CHECK(wizsim_peer_udp_echo(h, peer, 7) == WIZSIM_OK, "echo");
  CHECK(wizsim_board_mac(h, mac) == WIZSIM_OK, "mac");
  frame(h, 0x0009, 0, 1, mac, 6);
  frame(h, 0x0005, 0, 1, (uint8_t*)mask, 4);
  frame(h, 0x000F, 0, 1, (uint8_t*)ip, 4);
  wr(h, 0x0018, 0, 0x01); /* SIMR: socket 0 */
  wr(h, 0x002C, 1, 0x10); /* Sn_IMR: SENDOK */
  wr(h, 0x0000, 1, 0x02); /* Sn_MR = UDP */
  frame(h, 0x0004, 1, 1, port, 2);
  wr(h, 0x0001, 1, 0x01); /* OPEN */
  while (rd(h, 0x0003, 1) != 0x22) CHECK(++polls < 1000, "socket never reached SOCK_UDP");
  frame(h, 0x0024, 1, 0, wrp, 2);
  w = (uint16_t)((wrp[0] << 8) | wrp[1]);
  frame(h, w, 2, 1, payload, 4);
  w = (uint16_t)(w + 4);
  wrp[0] = (uint8_t)(w >> 8);
  wrp[1] = (uint8_t)w;
  frame(h, 0x0024, 1, 1, wrp, 2);
  frame(h, 0x000C, 1, 1, (uint8_t*)dst, 4);
  frame(h, 0x0010, 1, 1, dport, 2);
  CHECK(wizsim_intn(h) == 1, "INTn idle before SEND");
  wr(h, 0x0001, 1, 0x20); /* SEND */
  CHECK(wizsim_run_until_ns(h, wizsim_now_ns(h) + 5000000u) == WIZSIM_OK, "run 5 ms");
  CHECK(wizsim_intn(h) == 0, "INTn low after SENDOK");
  CHECK(rd(h, 0x0002, 1) & 0x10, "Sn_IR.SENDOK");
  wr(h, 0x0002, 1, 0x10); /* clear */
  CHECK(wizsim_intn(h) == 1, "INTn released when Sn_IR is cleared");
  wizsim_destroy(h);
}

static void cable_and_log(const char* log_path) {
  wizsim_options o;
  wizsim_t* h;
  memset(&o, 0, sizeof o);
  o.cable_unplugged = 1;
  o.chip_name = "unplugged";
  h = wizsim_create(&o);
  CHECK(h != NULL, "create");
  CHECK(wizsim_log(h, log_path, 4) == WIZSIM_OK, "log");
  CHECK((rd(h, 0x002E, 0) & 1) == 0, "no link with the cable unplugged");
  CHECK(wizsim_cable(h, 1) == WIZSIM_OK, "plug");
  CHECK(wizsim_advance_us(h, 3000000) == WIZSIM_OK, "autonegotiation");
  CHECK((rd(h, 0x002E, 0) & 1) == 1, "link up after plugging in");
  /* A host mistake (CS rising mid-header) is a guest error and lands in the human log. */
  CHECK(wizsim_cs(h, 0) == WIZSIM_OK && wizsim_spi_byte(h, 0) == 1 && wizsim_cs(h, 1) == WIZSIM_OK, "pins");
  CHECK(wizsim_guest_errors(h) == 1, "guest error counted");
  CHECK(wizsim_log(h, NULL, 0) == WIZSIM_OK, "close log");
  CHECK(file_contains(log_path, "unplugged.spi: CS rose during the frame header"), "log line missing in %s",
        log_path);
  wizsim_destroy(h);
}

/* The callbacks act on whichever instance is selected; each instance keeps its own clock. */
static void callbacks_follow_the_selected_instance(void) {
  wizsim_t* a = wizsim_create(NULL);
  wizsim_t* b = wizsim_create(NULL);
  uint8_t head[3] = {0x00, 0x39, 0x00};
  CHECK(a && b, "create");
  wizsim_select_instance(a);
  wizsim_delay_ms(7);
  CHECK(wizsim_millis() == 7 && wizsim_micros() == 7000, "a's clock");
  wizsim_select_instance(b);
  CHECK(wizsim_millis() == 0, "b's clock is its own");
  wizsim_delay_us(1500);
  CHECK(wizsim_now_ns(b) == 1500000u && wizsim_now_ns(a) == 7000000u, "clocks");
  wizsim_cs_select();
  wizsim_spi_writeburst(head, 3);
  CHECK(wizsim_spi_readbyte() == 0x04, "VERSIONR through the callbacks");
  wizsim_cs_deselect();
  CHECK(wizsim_callback_errors() == 0, "no callback errors");
  wizsim_destroy(a);
  CHECK(wizsim_current_instance() == b, "destroying another instance keeps the current one");
  wizsim_destroy(b);
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s <log file>\n", argv[0]);
    return 2;
  }
  byte_time_is_exact();
  reset_pin_and_pll_lock();
  intn_follows_a_socket_interrupt();
  cable_and_log(argv[1]);
  callbacks_follow_the_selected_instance();
  printf("ok: pins, time, cable, log and instance selection\n");
  return 0;
}
