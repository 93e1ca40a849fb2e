/*
 * wizsim C API: a virtual WIZnet W5500 on a virtual Ethernet segment, for third-party C and C++ drivers.
 *
 * A driver written against a callback HAL (WIZnet ioLibrary's reg_wizchip_cs_cbfunc / spi_cbfunc /
 * spiburst_cbfunc, an Arduino SPI + millis/delay shim, ...) links unmodified against the virtual chip:
 * register the "current instance" callbacks below as its function pointers, pick the instance with
 * wizsim_select_instance(), and run it. Everything happens in virtual time: every SPI byte costs its wire
 * time at the configured SCLK, wizsim_delay_ms() advances the clock and runs the chip and the network
 * meanwhile, so a driver that busy-polls a register also makes progress, exactly as on hardware.
 *
 * Conventions:
 *  - Functions returning int return WIZSIM_OK (0) or a negative wizsim_status (some return a value >= 0
 *    on success, as documented). On failure the message is available from wizsim_last_error(handle); a
 *    failure without a usable handle (NULL handle, creation failure, callbacks with no current instance)
 *    is reported through wizsim_last_error(NULL).
 *  - Misuse never crashes: NULL handles, NULL buffers with a non-zero length, unknown peers and calls
 *    with no current instance are reported as errors.
 *  - Pin levels are electrical: 1 = high, 0 = low. SCSn, RSTn and INTn are active low.
 *  - IPv4 addresses are dotted-quad strings ("192.168.1.10"); MAC addresses are 6-byte arrays.
 *  - One instance is used from one thread at a time (nothing here spawns threads).
 *
 * The header is C89/C99 and C++ compatible.
 */
#ifndef WIZSIM_WIZSIM_H
#define WIZSIM_WIZSIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status codes ---------------------------------------------------------------------------------- */
typedef enum wizsim_status {
  WIZSIM_OK = 0,
  WIZSIM_ERR_NULL_HANDLE = -1,  /* the wizsim_t* was NULL */
  WIZSIM_ERR_NO_INSTANCE = -2,  /* a current-instance callback ran with no instance selected */
  WIZSIM_ERR_ARGUMENT = -3,     /* a bad argument: NULL buffer, malformed address, port 0, time in the past */
  WIZSIM_ERR_UNKNOWN_PEER = -4, /* no peer with that id on this instance */
  WIZSIM_ERR_CONFLICT = -5,     /* the name, port or address is already taken */
  WIZSIM_ERR_IO = -6,           /* a file could not be created or written */
  WIZSIM_ERR_INTERNAL = -7      /* anything else the model reported; see the message */
} wizsim_status;

/* A short constant description of a status code ("no current instance", ...). */
const char* wizsim_strerror(int status);

/* ---- instances --------------------------------------------------------------------------------------- */
/* Opaque: one scheduler (virtual time), one W5500, one segment with the chip attached, and its peers. */
typedef struct wizsim_instance wizsim_t;

/* Construction options. Zero (or NULL) in any field means "the default" noted beside it, so both
 * `wizsim_options o = {0};` and wizsim_options_init() give a working setup. */
typedef struct wizsim_options {
  uint64_t seed;            /* seeds every random choice of the run (faults, peers, TCP ISNs); 0 = 1 */
  uint32_t sclk_hz;         /* SPI clock; 0 = 33333333 (WIZnet's guaranteed figure), max 80000000 */
  uint8_t mac[6];           /* the board's MAC address, as a MAC EEPROM or label would give it to the
                               driver (wizsim_board_mac); the chip itself starts with SHAR = 0 as
                               silicon does. All zero = 02:57:49:5A:00:01 */
  const char* chip_name;    /* component name in logs, traces and the segment; NULL = "w5500" */
  const char* segment_name; /* NULL = "seg0" */
  uint32_t link_delay_ns;   /* the chip's link: propagation + switch latency each way; 0 = 500 */
  int cable_unplugged;      /* non-zero: start with the Ethernet cable unplugged (link down) */
} wizsim_options;

/* Fills `o` with the defaults (the same as all zeros). */
void wizsim_options_init(wizsim_options* o);

/* Creates an instance (NULL options = defaults). Returns NULL on failure (a bad option such as an SCLK
 * above 80 MHz); wizsim_last_error(NULL) says why. It does not become the current instance by itself:
 * call wizsim_select_instance(). */
wizsim_t* wizsim_create(const wizsim_options* options);
/* Destroys an instance and everything on it; open capture, trace and log files are flushed and closed.
 * If it is the current instance, there is no current instance afterwards. NULL is ignored. */
void wizsim_destroy(wizsim_t* h);

/* The last error message for `h` ("" if none), or the last handle-less error for NULL. The string stays
 * valid until the next failing call on the same handle (or wizsim_destroy). */
const char* wizsim_last_error(const wizsim_t* h);
/* The board MAC from the options, for drivers that read it from "EEPROM". */
int wizsim_board_mac(wizsim_t* h, uint8_t mac[6]);

/* ---- pins and SPI on a handle ----------------------------------------------------------------------- */
/* SCSn: 0 selects the chip (starts a frame), 1 ends the frame. */
int wizsim_cs(wizsim_t* h, int level);
/* One full-duplex byte (8 SCLK): returns MISO (0..255) or a negative status. With SCSn high the chip
 * ignores MOSI and MISO reads 0xFF, and the clocks still take their time. */
int wizsim_spi_byte(wizsim_t* h, uint8_t mosi);
/* `len` bytes in: MOSI 0x00, MISO into `buf`. */
int wizsim_spi_burst_read(wizsim_t* h, uint8_t* buf, size_t len);
/* `len` bytes out from `buf`, MISO discarded. */
int wizsim_spi_burst_write(wizsim_t* h, const uint8_t* buf, size_t len);
/* RSTn: 0 holds the chip in reset (>= 500 us), 1 releases it; SPI answers ~1 ms after release. */
int wizsim_rstn(wizsim_t* h, int level);
/* INTn level: 1 (idle) or 0 (an enabled interrupt is pending), or a negative status. */
int wizsim_intn(wizsim_t* h);

/* ---- the current instance and the callback-shaped functions ----------------------------------------
 * These have exactly the shapes third-party HALs register, so they can be passed as function pointers:
 *   ioLibrary: reg_wizchip_cs_cbfunc(wizsim_cs_select, wizsim_cs_deselect);
 *              reg_wizchip_spi_cbfunc(wizsim_spi_readbyte, wizsim_spi_writebyte);
 *              reg_wizchip_spiburst_cbfunc(wizsim_spi_readburst, wizsim_spi_writeburst);
 *   Arduino:   millis() -> wizsim_millis(), delay(ms) -> wizsim_delay_ms(ms), micros(), delayMicroseconds().
 * They act on the current instance. With none selected they do nothing (reads return 0xFF, the clock
 * returns 0) and record WIZSIM_ERR_NO_INSTANCE in wizsim_last_error(NULL); wizsim_callback_errors()
 * counts such calls so a test can assert there were none. */
/* Makes `h` the current instance (NULL: none). Returns WIZSIM_OK. */
int wizsim_select_instance(wizsim_t* h);
wizsim_t* wizsim_current_instance(void);
/* How many current-instance calls failed (no instance selected) since the process started. */
unsigned long wizsim_callback_errors(void);

void wizsim_cs_select(void);                           /* SCSn low */
void wizsim_cs_deselect(void);                         /* SCSn high */
uint8_t wizsim_spi_readbyte(void);                     /* clocks out 0x00, returns MISO */
void wizsim_spi_writebyte(uint8_t wb);                 /* clocks out wb, MISO discarded */
void wizsim_spi_readburst(uint8_t* buf, uint16_t len); /* ioLibrary's burst shapes (non-const buffer) */
void wizsim_spi_writeburst(uint8_t* buf, uint16_t len);
uint32_t wizsim_millis(void);      /* virtual ms since creation; wraps like Arduino's */
uint32_t wizsim_micros(void);      /* virtual us; wraps */
void wizsim_delay_ms(uint32_t ms); /* advances virtual time, running everything due */
void wizsim_delay_us(uint32_t us);

/* ---- virtual time ------------------------------------------------------------------------------------ */
/* Virtual time in nanoseconds (0 on a NULL handle, with the error recorded). */
uint64_t wizsim_now_ns(wizsim_t* h);
/* Advances virtual time by `us` microseconds, running every chip and network event due meanwhile. */
int wizsim_advance_us(wizsim_t* h, uint64_t us);
/* Runs until virtual time `t_ns`; a time in the past is WIZSIM_ERR_ARGUMENT (time never goes back). */
int wizsim_run_until_ns(wizsim_t* h, uint64_t t_ns);

/* ---- the network ------------------------------------------------------------------------------------- */
/* Adds a peer host (its own small IPv4 stack: ARP, ICMP echo, UDP, TCP) to the instance's segment.
 * `ip` is "a.b.c.d" or "a.b.c.d/prefix" (default /24); `mac` NULL = 02:50:45:45:52:<n>. Returns the peer
 * id (>= 0) or a negative status (WIZSIM_ERR_CONFLICT for a duplicate name). */
int wizsim_add_peer(wizsim_t* h, const char* name, const char* ip, const uint8_t mac[6]);
/* The id of the peer called `name`, or WIZSIM_ERR_UNKNOWN_PEER. */
int wizsim_find_peer(wizsim_t* h, const char* name);
/* Services on a peer. UDP echo: every datagram to `port` goes back to its sender, same payload, from
 * `port`. TCP echo: listens on `port`, accepts any number of connections, echoes every byte and closes
 * its side when the client has closed. WIZSIM_ERR_CONFLICT if the port is already in use on the peer. */
int wizsim_peer_udp_echo(wizsim_t* h, int peer, uint16_t port);
int wizsim_peer_tcp_echo(wizsim_t* h, int peer, uint16_t port);
/* What the peer's echo services handled so far (either pointer may be NULL). */
int wizsim_peer_echo_stats(wizsim_t* h, int peer, uint64_t* udp_datagrams, uint64_t* tcp_bytes);
/* DHCP server on a peer (UDP 67): hands out pool_first..pool_last (inclusive, "a.b.c.d") in the peer's
 * subnet; `router` and `dns` ("a.b.c.d" or NULL: not sent) become options 3 and 6; `lease_seconds` 0 means
 * 3600. Bad configuration (a pool outside the subnet, overlapping another server's pool, ...) is
 * WIZSIM_ERR_ARGUMENT with the reason in wizsim_last_error; a second DHCP server on the same peer is
 * WIZSIM_ERR_CONFLICT. */
int wizsim_peer_dhcp_server(wizsim_t* h, int peer, const char* pool_first, const char* pool_last,
                            const char* router, const char* dns, uint32_t lease_seconds);
/* DNS server on a peer (UDP 53), started by the first record: `name` resolves to `ip` ("a.b.c.d") with
 * `ttl` seconds (0: 300). Unknown names answer NXDOMAIN. */
int wizsim_peer_dns_a(wizsim_t* h, int peer, const char* name, const char* ip, uint32_t ttl);
/* HTTP/1.1 server on a peer's `port`, started by the first page: GET `path` answers `status` with
 * `body` (`len` octets) of `content_type` (NULL: text/plain). Unknown paths answer 404. */
int wizsim_peer_http_page(wizsim_t* h, int peer, uint16_t port, const char* path, int status,
                          const char* content_type, const char* body, size_t len);

/* Plugs (1) or unplugs (0) the chip's Ethernet cable: the segment link goes up or down. */
int wizsim_cable(wizsim_t* h, int connected);

/* ---- observability ----------------------------------------------------------------------------------- */
/* Captures every frame on the segment to a pcap file (nanosecond virtual-time stamps); NULL stops. */
int wizsim_pcap(wizsim_t* h, const char* path);
/* Writes the structured JSON-lines trace (chip: SPI frames, register reads, commands, states,
 * interrupts; segment and peers: frames, faults) to `path`; NULL stops and closes the file. */
int wizsim_trace(wizsim_t* h, const char* path);
/* Writes the human log (virtual-time stamped) to `path` at `level` (0 error, 1 guest error,
 * 2 unimplemented, 3 warn, 4 info, 5 debug); NULL stops. */
int wizsim_log(wizsim_t* h, const char* path, int level);
/* Guest errors the chip has logged (what the driver did wrong, e.g. a CS edge mid-header). */
uint64_t wizsim_guest_errors(wizsim_t* h);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* WIZSIM_WIZSIM_H */
