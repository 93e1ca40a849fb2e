/* The third-party-style driver of wiz_driver.h: register code straight from the W5500 datasheet. */
#include "wiz_driver.h"

#include <stddef.h>

/* Common registers (block 0). */
#define WD_MR 0x0000
#define WD_GAR 0x0001
#define WD_SUBR 0x0005
#define WD_SHAR 0x0009
#define WD_SIPR 0x000F
#define WD_PHYCFGR 0x002E
#define WD_VERSIONR 0x0039
/* Socket registers. */
#define WD_Sn_MR 0x0000
#define WD_Sn_CR 0x0001
#define WD_Sn_IR 0x0002
#define WD_Sn_SR 0x0003
#define WD_Sn_PORT 0x0004
#define WD_Sn_DIPR 0x000C
#define WD_Sn_DPORT 0x0010
#define WD_Sn_TX_FSR 0x0020
#define WD_Sn_TX_WR 0x0024
#define WD_Sn_RX_RSR 0x0026
#define WD_Sn_RX_RD 0x0028

#define WD_BSB_COMMON 0x00
#define WD_BSB_SREG(sn) ((uint8_t)(1 + 4 * (sn)))
#define WD_BSB_TX(sn) ((uint8_t)(2 + 4 * (sn)))
#define WD_BSB_RX(sn) ((uint8_t)(3 + 4 * (sn)))

#define WD_MR_TCP 0x01
#define WD_MR_UDP 0x02
#define WD_CR_OPEN 0x01
#define WD_CR_CONNECT 0x04
#define WD_CR_DISCON 0x08
#define WD_CR_CLOSE 0x10
#define WD_CR_SEND 0x20
#define WD_CR_RECV 0x40
#define WD_IR_DISCON 0x02
#define WD_IR_TIMEOUT 0x08
#define WD_IR_SENDOK 0x10
#define WD_SOCK_CLOSED 0x00
#define WD_SOCK_INIT 0x13
#define WD_SOCK_ESTABLISHED 0x17
#define WD_SOCK_CLOSE_WAIT 0x1C
#define WD_SOCK_UDP 0x22

/* The HAL table. Defaults do nothing, like ioLibrary's, so an unregistered callback is harmless. */
static void default_cs(void) {}
static uint8_t default_readbyte(void) {
  return 0;
}
static void default_writebyte(uint8_t b) {
  (void)b;
}
static uint32_t default_millis(void) {
  return 0;
}
static void default_delay(uint32_t ms) {
  (void)ms;
}

static struct {
  void (*cs_select)(void);
  void (*cs_deselect)(void);
  uint8_t (*readbyte)(void);
  void (*writebyte)(uint8_t);
  void (*readburst)(uint8_t*, uint16_t);
  void (*writeburst)(uint8_t*, uint16_t);
  uint32_t (*millis)(void);
  void (*delay_ms)(uint32_t);
} hal = {default_cs, default_cs, default_readbyte, default_writebyte,
         NULL,       NULL,       default_millis,   default_delay};

void wd_register_cs(void (*select)(void), void (*deselect)(void)) {
  hal.cs_select = select ? select : default_cs;
  hal.cs_deselect = deselect ? deselect : default_cs;
}

void wd_register_spi(uint8_t (*readbyte)(void), void (*writebyte)(uint8_t b)) {
  hal.readbyte = readbyte ? readbyte : default_readbyte;
  hal.writebyte = writebyte ? writebyte : default_writebyte;
}

void wd_register_spiburst(void (*readburst)(uint8_t* buf, uint16_t len),
                          void (*writeburst)(uint8_t* buf, uint16_t len)) {
  hal.readburst = readburst;
  hal.writeburst = writeburst;
}

void wd_register_time(uint32_t (*millis)(void), void (*delay_ms)(uint32_t ms)) {
  hal.millis = millis ? millis : default_millis;
  hal.delay_ms = delay_ms ? delay_ms : default_delay;
}

/* ---- frames ----------------------------------------------------------------------------------------- */

static void send_header(uint16_t addr, uint8_t bsb, int write) {
  uint8_t h[3];
  h[0] = (uint8_t)(addr >> 8);
  h[1] = (uint8_t)addr;
  h[2] = (uint8_t)((bsb << 3) | (write ? 0x04 : 0x00)); /* VDM: OM = 00 */
  if (hal.writeburst) {
    hal.writeburst(h, 3);
  } else {
    hal.writebyte(h[0]);
    hal.writebyte(h[1]);
    hal.writebyte(h[2]);
  }
}

void wd_read(uint16_t addr, uint8_t bsb, uint8_t* buf, uint16_t len) {
  uint16_t i;
  hal.cs_select();
  send_header(addr, bsb, 0);
  if (hal.readburst) {
    hal.readburst(buf, len);
  } else {
    for (i = 0; i < len; ++i) buf[i] = hal.readbyte();
  }
  hal.cs_deselect();
}

void wd_write(uint16_t addr, uint8_t bsb, const uint8_t* buf, uint16_t len) {
  uint16_t i;
  hal.cs_select();
  send_header(addr, bsb, 1);
  if (hal.writeburst) {
    /* ioLibrary's burst callback takes a non-const buffer; it only reads it. */
    hal.writeburst((uint8_t*)buf, len);
  } else {
    for (i = 0; i < len; ++i) hal.writebyte(buf[i]);
  }
  hal.cs_deselect();
}

uint8_t wd_read8(uint16_t addr, uint8_t bsb) {
  uint8_t v = 0;
  wd_read(addr, bsb, &v, 1);
  return v;
}

void wd_write8(uint16_t addr, uint8_t bsb, uint8_t v) {
  wd_write(addr, bsb, &v, 1);
}

static uint16_t read16(uint16_t addr, uint8_t bsb) {
  uint8_t b[2];
  wd_read(addr, bsb, b, 2);
  return (uint16_t)((b[0] << 8) | b[1]);
}

static void write16(uint16_t addr, uint8_t bsb, uint16_t v) {
  uint8_t b[2];
  b[0] = (uint8_t)(v >> 8);
  b[1] = (uint8_t)v;
  wd_write(addr, bsb, b, 2);
}

/* The free/received size counters change under the host; read until two reads agree (datasheet). */
static uint16_t read16_stable(uint16_t addr, uint8_t bsb) {
  uint16_t a = read16(addr, bsb), b;
  int tries;
  for (tries = 0; tries < 8; ++tries) {
    b = read16(addr, bsb);
    if (a == b) break;
    a = b;
  }
  return a;
}

static int expired(uint32_t start, uint32_t timeout_ms) {
  return (uint32_t)(hal.millis() - start) >= timeout_ms;
}

/* ---- chip --------------------------------------------------------------------------------------------- */

int wd_soft_reset(uint32_t timeout_ms) {
  uint32_t start = hal.millis();
  wd_write8(WD_MR, WD_BSB_COMMON, 0x80);
  while (wd_read8(WD_MR, WD_BSB_COMMON) & 0x80) {
    if (expired(start, timeout_ms)) return WD_ERR_TIMEOUT;
    hal.delay_ms(1);
  }
  return WD_OK;
}

uint8_t wd_version(void) {
  return wd_read8(WD_VERSIONR, WD_BSB_COMMON);
}

int wd_wait_link(uint32_t timeout_ms) {
  uint32_t start = hal.millis();
  while (!(wd_read8(WD_PHYCFGR, WD_BSB_COMMON) & 0x01)) {
    if (expired(start, timeout_ms)) return WD_ERR_TIMEOUT;
    hal.delay_ms(10);
  }
  return WD_OK;
}

void wd_set_network(const uint8_t mac[6], const uint8_t ip[4], const uint8_t subnet[4], const uint8_t gw[4]) {
  wd_write(WD_SHAR, WD_BSB_COMMON, mac, 6);
  wd_write(WD_GAR, WD_BSB_COMMON, gw, 4);
  wd_write(WD_SUBR, WD_BSB_COMMON, subnet, 4);
  wd_write(WD_SIPR, WD_BSB_COMMON, ip, 4);
}

void wd_get_network(uint8_t mac[6], uint8_t ip[4], uint8_t subnet[4], uint8_t gw[4]) {
  wd_read(WD_SHAR, WD_BSB_COMMON, mac, 6);
  wd_read(WD_GAR, WD_BSB_COMMON, gw, 4);
  wd_read(WD_SUBR, WD_BSB_COMMON, subnet, 4);
  wd_read(WD_SIPR, WD_BSB_COMMON, ip, 4);
}

/* ---- sockets ------------------------------------------------------------------------------------------ */

uint8_t wd_status(uint8_t sn) {
  return wd_read8(WD_Sn_SR, WD_BSB_SREG(sn));
}

/* Writes Sn_CR and waits until the chip has taken the command (Sn_CR reads 0 again). */
static int command(uint8_t sn, uint8_t cmd) {
  uint32_t start = hal.millis();
  wd_write8(WD_Sn_CR, WD_BSB_SREG(sn), cmd);
  while (wd_read8(WD_Sn_CR, WD_BSB_SREG(sn)) != 0) {
    if (expired(start, 100)) return WD_ERR_TIMEOUT;
  }
  return WD_OK;
}

static int wait_status(uint8_t sn, uint8_t want, uint32_t timeout_ms) {
  uint32_t start = hal.millis();
  while (wd_status(sn) != want) {
    if (expired(start, timeout_ms)) return WD_ERR_TIMEOUT;
    hal.delay_ms(1);
  }
  return WD_OK;
}

int wd_close(uint8_t sn) {
  int r = command(sn, WD_CR_CLOSE);
  wd_write8(WD_Sn_IR, WD_BSB_SREG(sn), 0xFF);
  if (r != WD_OK) return r;
  return wait_status(sn, WD_SOCK_CLOSED, 100);
}

static int open_socket(uint8_t sn, uint8_t mode, uint16_t port, uint8_t want) {
  int r;
  if (sn > 7 || port == 0) return WD_ERR_ARG;
  r = wd_close(sn);
  if (r != WD_OK) return r;
  wd_write8(WD_Sn_MR, WD_BSB_SREG(sn), mode);
  write16(WD_Sn_PORT, WD_BSB_SREG(sn), port);
  r = command(sn, WD_CR_OPEN);
  if (r != WD_OK) return r;
  return wait_status(sn, want, 100);
}

int wd_udp_open(uint8_t sn, uint16_t port) {
  return open_socket(sn, WD_MR_UDP, port, WD_SOCK_UDP);
}

static void set_destination(uint8_t sn, const uint8_t ip[4], uint16_t port) {
  wd_write(WD_Sn_DIPR, WD_BSB_SREG(sn), ip, 4);
  write16(WD_Sn_DPORT, WD_BSB_SREG(sn), port);
}

/* Copies data into the TX buffer at Sn_TX_WR and advances it (the chip wraps the offset itself). */
static int queue_tx(uint8_t sn, const uint8_t* data, uint16_t len, uint32_t timeout_ms) {
  uint32_t start = hal.millis();
  uint16_t wr;
  while (read16_stable(WD_Sn_TX_FSR, WD_BSB_SREG(sn)) < len) {
    if (expired(start, timeout_ms)) return WD_ERR_TIMEOUT;
    hal.delay_ms(1);
  }
  wr = read16(WD_Sn_TX_WR, WD_BSB_SREG(sn));
  wd_write(wr, WD_BSB_TX(sn), data, len);
  write16(WD_Sn_TX_WR, WD_BSB_SREG(sn), (uint16_t)(wr + len));
  return WD_OK;
}

static int wait_send_ok(uint8_t sn, uint32_t timeout_ms) {
  uint32_t start = hal.millis();
  for (;;) {
    uint8_t ir = wd_read8(WD_Sn_IR, WD_BSB_SREG(sn));
    if (ir & WD_IR_SENDOK) {
      wd_write8(WD_Sn_IR, WD_BSB_SREG(sn), WD_IR_SENDOK);
      return WD_OK;
    }
    if (ir & WD_IR_TIMEOUT) {
      wd_write8(WD_Sn_IR, WD_BSB_SREG(sn), WD_IR_TIMEOUT);
      return WD_ERR_SOCKET;
    }
    if (wd_status(sn) == WD_SOCK_CLOSED) return WD_ERR_SOCKET;
    if (expired(start, timeout_ms)) return WD_ERR_TIMEOUT;
    hal.delay_ms(1);
  }
}

int wd_udp_sendto(uint8_t sn, const uint8_t ip[4], uint16_t port, const uint8_t* data, uint16_t len,
                  uint32_t timeout_ms) {
  int r;
  if (len == 0) return WD_ERR_ARG;
  r = queue_tx(sn, data, len, timeout_ms);
  if (r != WD_OK) return r;
  set_destination(sn, ip, port);
  r = command(sn, WD_CR_SEND);
  if (r != WD_OK) return r;
  return wait_send_ok(sn, timeout_ms);
}

/* Reads `len` bytes of the RX buffer at offset `rd` without consuming them. */
static void peek_rx(uint8_t sn, uint16_t rd, uint8_t* buf, uint16_t len) {
  wd_read(rd, WD_BSB_RX(sn), buf, len);
}

static void consume_rx(uint8_t sn, uint16_t rd, uint16_t len) {
  write16(WD_Sn_RX_RD, WD_BSB_SREG(sn), (uint16_t)(rd + len));
  command(sn, WD_CR_RECV);
}

static int wait_rx(uint8_t sn, uint32_t timeout_ms, uint16_t* size) {
  uint32_t start = hal.millis();
  for (;;) {
    uint8_t sr;
    *size = read16_stable(WD_Sn_RX_RSR, WD_BSB_SREG(sn));
    if (*size > 0) return WD_OK;
    sr = wd_status(sn);
    if (sr == WD_SOCK_CLOSED || sr == WD_SOCK_CLOSE_WAIT) return WD_ERR_SOCKET;
    if (expired(start, timeout_ms)) return WD_ERR_TIMEOUT;
    hal.delay_ms(1);
  }
}

int wd_udp_recvfrom(uint8_t sn, uint8_t ip[4], uint16_t* port, uint8_t* buf, uint16_t max,
                    uint32_t timeout_ms) {
  uint16_t size, rd, len, take;
  uint8_t head[8];
  int r = wait_rx(sn, timeout_ms, &size);
  if (r != WD_OK) return r;
  rd = read16(WD_Sn_RX_RD, WD_BSB_SREG(sn));
  /* UDP entries: 4-byte source IP, 2-byte port, 2-byte length, then the payload. */
  peek_rx(sn, rd, head, 8);
  ip[0] = head[0];
  ip[1] = head[1];
  ip[2] = head[2];
  ip[3] = head[3];
  *port = (uint16_t)((head[4] << 8) | head[5]);
  len = (uint16_t)((head[6] << 8) | head[7]);
  take = len < max ? len : max;
  peek_rx(sn, (uint16_t)(rd + 8), buf, take);
  consume_rx(sn, rd, (uint16_t)(8 + len));
  return take;
}

int wd_tcp_connect(uint8_t sn, uint16_t local_port, const uint8_t ip[4], uint16_t port, uint32_t timeout_ms) {
  uint32_t start;
  int r = open_socket(sn, WD_MR_TCP, local_port, WD_SOCK_INIT);
  if (r != WD_OK) return r;
  set_destination(sn, ip, port);
  r = command(sn, WD_CR_CONNECT);
  if (r != WD_OK) return r;
  start = hal.millis();
  for (;;) {
    uint8_t sr = wd_status(sn);
    if (sr == WD_SOCK_ESTABLISHED) return WD_OK;
    if (sr == WD_SOCK_CLOSED) return WD_ERR_SOCKET;
    if (expired(start, timeout_ms)) return WD_ERR_TIMEOUT;
    hal.delay_ms(1);
  }
}

int wd_tcp_send(uint8_t sn, const uint8_t* data, uint16_t len, uint32_t timeout_ms) {
  int r;
  if (len == 0) return WD_ERR_ARG;
  if (wd_status(sn) != WD_SOCK_ESTABLISHED) return WD_ERR_SOCKET;
  r = queue_tx(sn, data, len, timeout_ms);
  if (r != WD_OK) return r;
  r = command(sn, WD_CR_SEND);
  if (r != WD_OK) return r;
  return wait_send_ok(sn, timeout_ms);
}

int wd_tcp_recv(uint8_t sn, uint8_t* buf, uint16_t max, uint32_t timeout_ms) {
  uint16_t size, rd, take;
  int r = wait_rx(sn, timeout_ms, &size);
  if (r != WD_OK) return r;
  rd = read16(WD_Sn_RX_RD, WD_BSB_SREG(sn));
  take = size < max ? size : max;
  peek_rx(sn, rd, buf, take);
  consume_rx(sn, rd, take);
  return take;
}

int wd_disconnect(uint8_t sn, uint32_t timeout_ms) {
  uint32_t start;
  int r = command(sn, WD_CR_DISCON);
  if (r != WD_OK) return r;
  start = hal.millis();
  for (;;) {
    uint8_t ir = wd_read8(WD_Sn_IR, WD_BSB_SREG(sn));
    if (wd_status(sn) == WD_SOCK_CLOSED) {
      wd_write8(WD_Sn_IR, WD_BSB_SREG(sn), (uint8_t)(ir & (WD_IR_DISCON | WD_IR_TIMEOUT)));
      return (ir & WD_IR_TIMEOUT) ? WD_ERR_SOCKET : WD_OK;
    }
    if (expired(start, timeout_ms)) return WD_ERR_TIMEOUT;
    hal.delay_ms(1);
  }
}
