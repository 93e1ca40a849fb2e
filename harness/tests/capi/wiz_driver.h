/*
 * A small third-party-style W5500 driver in C, written the way vendor drivers are: it knows nothing of
 * wizsim and reaches the chip only through a table of function pointers that the application registers
 * (like WIZnet ioLibrary's reg_wizchip_cs_cbfunc / reg_wizchip_spi_cbfunc / reg_wizchip_spiburst_cbfunc),
 * plus a millisecond tick and a delay (like Arduino's millis/delay). The C API test links it against the
 * virtual chip to show such a driver runs unmodified.
 */
#ifndef WIZ_DRIVER_H
#define WIZ_DRIVER_H

#include <stdint.h>

/* Results: >= 0 success (a length where noted), < 0 failure. */
enum {
  WD_OK = 0,
  WD_ERR_TIMEOUT = -1, /* the chip did not reach the expected state in time */
  WD_ERR_CHIP = -2,    /* VERSIONR is not 0x04: no W5500 on the bus */
  WD_ERR_SOCKET = -3,  /* the socket closed or reported TIMEOUT (ARP/TCP retransmissions exhausted) */
  WD_ERR_ARG = -4
};

/* Registration, ioLibrary style. The burst pair is optional: NULL (the default) means byte mode. */
void wd_register_cs(void (*select)(void), void (*deselect)(void));
void wd_register_spi(uint8_t (*readbyte)(void), void (*writebyte)(uint8_t b));
void wd_register_spiburst(void (*readburst)(uint8_t* buf, uint16_t len),
                          void (*writeburst)(uint8_t* buf, uint16_t len));
void wd_register_time(uint32_t (*millis)(void), void (*delay_ms)(uint32_t ms));

/* Register access: one chip-select frame per call (VDM: address, control, data). */
void wd_read(uint16_t addr, uint8_t bsb, uint8_t* buf, uint16_t len);
void wd_write(uint16_t addr, uint8_t bsb, const uint8_t* buf, uint16_t len);
uint8_t wd_read8(uint16_t addr, uint8_t bsb);
void wd_write8(uint16_t addr, uint8_t bsb, uint8_t v);

/* Chip bring-up. */
int wd_soft_reset(uint32_t timeout_ms); /* MR.RST, then poll MR until it self-clears */
uint8_t wd_version(void);               /* VERSIONR */
int wd_wait_link(uint32_t timeout_ms);  /* PHYCFGR.LNK */
void wd_set_network(const uint8_t mac[6], const uint8_t ip[4], const uint8_t subnet[4], const uint8_t gw[4]);
void wd_get_network(uint8_t mac[6], uint8_t ip[4], uint8_t subnet[4], uint8_t gw[4]);

/* Sockets 0..7. */
int wd_udp_open(uint8_t sn, uint16_t port);
int wd_udp_sendto(uint8_t sn, const uint8_t ip[4], uint16_t port, const uint8_t* data, uint16_t len,
                  uint32_t timeout_ms);
/* Returns the payload length (truncated to `max`), the sender in ip/port. */
int wd_udp_recvfrom(uint8_t sn, uint8_t ip[4], uint16_t* port, uint8_t* buf, uint16_t max,
                    uint32_t timeout_ms);
int wd_tcp_connect(uint8_t sn, uint16_t local_port, const uint8_t ip[4], uint16_t port, uint32_t timeout_ms);
int wd_tcp_send(uint8_t sn, const uint8_t* data, uint16_t len, uint32_t timeout_ms);
/* Returns how many bytes were read (at least one), waiting up to timeout_ms for the first. */
int wd_tcp_recv(uint8_t sn, uint8_t* buf, uint16_t max, uint32_t timeout_ms);
int wd_disconnect(uint8_t sn, uint32_t timeout_ms);
int wd_close(uint8_t sn);
uint8_t wd_status(uint8_t sn);

#endif
