// The C API (wizsim/wizsim.h): opaque instances over a scheduler, a chip and a segment, plus the
// current-instance functions shaped like the callbacks third-party HALs register.
//
// No C++ exception crosses the C boundary: every entry point catches, maps the exception to a status
// code and stores the message for wizsim_last_error().
#include "wizsim/wizsim.h"

#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "wizsim/harness/dhcp.hpp"
#include "wizsim/harness/dns.hpp"
#include "wizsim/harness/http.hpp"
#include "wizsim/harness/peer.hpp"
#include "wizsim/harness/segment.hpp"
#include "wizsim/scheduler.hpp"
#include "wizsim/w5500.hpp"

namespace {

// A failure with a status code chosen by the API layer (the model's own exceptions are mapped below).
struct api_error : std::runtime_error {
  api_error(int c, const std::string& msg) : std::runtime_error(msg), code(c) {}
  int code;
};

constexpr wizsim::mac_addr default_board_mac{0x02, 0x57, 0x49, 0x5A, 0x00, 0x01};  // 02:"WIZ":00:01

struct peer_entry {
  std::unique_ptr<wizsim::peer_host> host;
  // Services are destroyed before the host they run on (members go in reverse order).
  std::unique_ptr<wizsim::dhcp_server> dhcp;
  std::unique_ptr<wizsim::dns_server> dns;
  std::map<std::uint16_t, std::unique_ptr<wizsim::http_server>> http;
  std::uint64_t udp_echoed = 0;  // datagrams echoed
  std::uint64_t tcp_echoed = 0;  // bytes echoed
};

// A line sink writing to a file the instance owns; the sink is removed before the file is closed.
struct file_sink {
  std::ofstream out;
  void write(std::string_view line) {
    out.write(line.data(), static_cast<std::streamsize>(line.size()));
    out.put('\n');
  }
};

}  // namespace

struct wizsim_instance {
  explicit wizsim_instance(const wizsim_options& o);
  ~wizsim_instance() {
    // Detach the sinks from every diag before the files go (peers and the chip may log on teardown).
    seg.set_trace_sink(nullptr);
    seg.set_log_sink(nullptr);
  }

  int fail(int code, const std::string& msg) {
    error = msg;
    return code;
  }
  peer_entry& peer(int id, const char* fn) {
    if (id < 0 || static_cast<std::size_t>(id) >= peers.size())
      throw api_error(WIZSIM_ERR_UNKNOWN_PEER,
                      fmt::format("{}: no peer with id {} (this instance has {})", fn, id, peers.size()));
    return *peers[static_cast<std::size_t>(id)];
  }

  std::string error;
  // Files first: destroyed last, after everything that might still write to them.
  std::unique_ptr<file_sink> trace_file;
  std::unique_ptr<file_sink> log_file;
  wizsim::scheduler sched;
  wizsim::w5500 chip;  // before the segment: the segment unhooks the chip when it goes
  wizsim::segment seg;
  wizsim::segment::port_id chip_port = -1;
  wizsim::mac_addr board_mac = default_board_mac;
  std::vector<std::unique_ptr<peer_entry>> peers;  // after the segment: peers detach from it when they go
};

namespace {

wizsim::chip_config chip_config_from(const wizsim_options& o) {
  wizsim::chip_config cfg;
  if (o.sclk_hz != 0) cfg.sclk_hz = o.sclk_hz;
  if (o.chip_name)
    cfg.name = o.chip_name;
  else
    cfg.name = "w5500";
  return cfg;
}

}  // namespace

wizsim_instance::wizsim_instance(const wizsim_options& o)
    : sched(o.seed == 0 ? 1 : o.seed),
      chip(sched, chip_config_from(o)),
      seg(sched, o.segment_name ? o.segment_name : "seg0", o.seed == 0 ? 1 : o.seed) {
  wizsim::link_config link;
  if (o.link_delay_ns != 0) link.delay = wizsim::ns(o.link_delay_ns);
  chip_port = seg.attach(chip, chip.config().name, link);
  seg.adopt(chip.log());  // the chip's log and trace follow the sinks set on the segment
  if (o.cable_unplugged) seg.set_link_up(chip_port, false);
  static const std::uint8_t zero[6] = {};
  if (std::memcmp(o.mac, zero, 6) != 0) std::memcpy(board_mac.data(), o.mac, 6);
}

namespace {

// Handle-less errors (NULL handle, creation failures, callbacks with no current instance).
std::string g_error;
wizsim_t* g_current = nullptr;
unsigned long g_callback_errors = 0;

int fail_global(int code, std::string msg) {
  g_error = std::move(msg);
  return code;
}

// Runs `f(instance)` with the exception-to-status mapping; `fn` names the API function in messages.
template <typename F>
int guarded(wizsim_t* h, const char* fn, F&& f) {
  if (!h) return fail_global(WIZSIM_ERR_NULL_HANDLE, fmt::format("{}: NULL wizsim_t handle", fn));
  try {
    return f(*h, fn);
  } catch (const api_error& e) {
    return h->fail(e.code, e.what());
  } catch (const std::invalid_argument& e) {
    return h->fail(WIZSIM_ERR_ARGUMENT, fmt::format("{}: {}", fn, e.what()));
  } catch (const std::exception& e) {
    return h->fail(WIZSIM_ERR_INTERNAL, fmt::format("{}: {}", fn, e.what()));
  } catch (...) {
    return h->fail(WIZSIM_ERR_INTERNAL, fmt::format("{}: unknown exception", fn));
  }
}

// For the void/value-returning callbacks: the current instance, or null with the error recorded.
template <typename F>
void on_current(const char* fn, F&& f) {
  if (!g_current) {
    ++g_callback_errors;
    fail_global(WIZSIM_ERR_NO_INSTANCE,
                fmt::format("{}: no current instance (call wizsim_select_instance first)", fn));
    return;
  }
  if (guarded(g_current, fn, [&](wizsim_instance& in, const char*) {
        f(in);
        return WIZSIM_OK;
      }) != WIZSIM_OK) {
    ++g_callback_errors;
    g_error = g_current->error;
  }
}

void require_buffer(const void* p, std::size_t len, const char* fn) {
  if (!p && len != 0)
    throw api_error(WIZSIM_ERR_ARGUMENT, fmt::format("{}: NULL buffer with length {}", fn, len));
}

// "a.b.c.d" or "a.b.c.d/prefix", strictly (no spaces, no leading '+', each part 0..255).
bool parse_ip(const char* s, wizsim::ip4_addr& ip, int& prefix) {
  unsigned parts[4] = {};
  const char* p = s;
  for (int i = 0; i < 4; ++i) {
    if (*p < '0' || *p > '9') return false;
    unsigned v = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
      v = v * 10 + static_cast<unsigned>(*p++ - '0');
      if (++digits > 3 || v > 255) return false;
    }
    parts[i] = v;
    if (i < 3 && *p++ != '.') return false;
  }
  prefix = 24;
  if (*p == '/') {
    ++p;
    if (*p < '0' || *p > '9') return false;
    int v = 0;
    while (*p >= '0' && *p <= '9') {
      v = v * 10 + (*p++ - '0');
      if (v > 32) return false;
    }
    prefix = v;
  }
  if (*p != '\0') return false;
  ip = wizsim::ip4(parts[0], parts[1], parts[2], parts[3]);
  return true;
}

wizsim::ps_t checked_ps(std::uint64_t v, wizsim::ps_t per, const char* fn, const char* what) {
  if (v > (wizsim::never - 1) / per)
    throw api_error(WIZSIM_ERR_ARGUMENT,
                    fmt::format("{}: {} {} overflows the picosecond clock", fn, what, v));
  return v * per;
}

std::unique_ptr<file_sink> open_sink(const char* path, const char* fn) {
  auto f = std::make_unique<file_sink>();
  f->out.open(path, std::ios::out | std::ios::trunc);
  if (!f->out) throw api_error(WIZSIM_ERR_IO, fmt::format("{}: cannot create '{}'", fn, path));
  return f;
}

}  // namespace

extern "C" {

const char* wizsim_strerror(int status) {
  switch (status) {
    case WIZSIM_OK:
      return "ok";
    case WIZSIM_ERR_NULL_HANDLE:
      return "NULL handle";
    case WIZSIM_ERR_NO_INSTANCE:
      return "no current instance";
    case WIZSIM_ERR_ARGUMENT:
      return "bad argument";
    case WIZSIM_ERR_UNKNOWN_PEER:
      return "unknown peer";
    case WIZSIM_ERR_CONFLICT:
      return "already in use";
    case WIZSIM_ERR_IO:
      return "file error";
    case WIZSIM_ERR_INTERNAL:
      return "internal error";
    default:
      return "unknown status";
  }
}

void wizsim_options_init(wizsim_options* o) {
  if (!o) {
    fail_global(WIZSIM_ERR_ARGUMENT, "wizsim_options_init: NULL options");
    return;
  }
  std::memset(o, 0, sizeof *o);
  o->seed = 1;
  o->sclk_hz = 33'333'333;
  std::memcpy(o->mac, default_board_mac.data(), 6);
  o->link_delay_ns = 500;
}

wizsim_t* wizsim_create(const wizsim_options* options) {
  wizsim_options defaults;
  wizsim_options_init(&defaults);
  try {
    return new wizsim_instance(options ? *options : defaults);
  } catch (const std::exception& e) {
    fail_global(WIZSIM_ERR_ARGUMENT, fmt::format("wizsim_create: {}", e.what()));
  } catch (...) {
    fail_global(WIZSIM_ERR_INTERNAL, "wizsim_create: unknown exception");
  }
  return nullptr;
}

void wizsim_destroy(wizsim_t* h) {
  if (!h) return;
  if (g_current == h) g_current = nullptr;
  try {
    delete h;
  } catch (...) {
    fail_global(WIZSIM_ERR_INTERNAL, "wizsim_destroy: exception during teardown");
  }
}

const char* wizsim_last_error(const wizsim_t* h) {
  return h ? h->error.c_str() : g_error.c_str();
}

int wizsim_board_mac(wizsim_t* h, uint8_t mac[6]) {
  return guarded(h, __func__, [&](wizsim_instance& in, [[maybe_unused]] const char* fn) {
    require_buffer(mac, 6, fn);
    std::memcpy(mac, in.board_mac.data(), 6);
    return WIZSIM_OK;
  });
}

// ---- pins and SPI on a handle ---------------------------------------------------------------------------

int wizsim_cs(wizsim_t* h, int level) {
  return guarded(h, __func__, [&](wizsim_instance& in, [[maybe_unused]] const char* fn) {
    in.chip.cs(level != 0);
    return WIZSIM_OK;
  });
}

int wizsim_spi_byte(wizsim_t* h, uint8_t mosi) {
  return guarded(h, __func__, [&](wizsim_instance& in, [[maybe_unused]] const char* fn) {
    return static_cast<int>(in.chip.transfer(mosi));
  });
}

int wizsim_spi_burst_read(wizsim_t* h, uint8_t* buf, size_t len) {
  return guarded(h, __func__, [&](wizsim_instance& in, [[maybe_unused]] const char* fn) {
    require_buffer(buf, len, fn);
    for (std::size_t i = 0; i < len; ++i) buf[i] = in.chip.transfer(0x00);
    return WIZSIM_OK;
  });
}

int wizsim_spi_burst_write(wizsim_t* h, const uint8_t* buf, size_t len) {
  return guarded(h, __func__, [&](wizsim_instance& in, [[maybe_unused]] const char* fn) {
    require_buffer(buf, len, fn);
    for (std::size_t i = 0; i < len; ++i) in.chip.transfer(buf[i]);
    return WIZSIM_OK;
  });
}

int wizsim_rstn(wizsim_t* h, int level) {
  return guarded(h, __func__, [&](wizsim_instance& in, [[maybe_unused]] const char* fn) {
    in.chip.set_rstn(level != 0);
    return WIZSIM_OK;
  });
}

int wizsim_intn(wizsim_t* h) {
  return guarded(h, __func__, [&](wizsim_instance& in, [[maybe_unused]] const char* fn) {
    return in.chip.int_n() ? 1 : 0;
  });
}

// ---- the current instance --------------------------------------------------------------------------------

int wizsim_select_instance(wizsim_t* h) {
  g_current = h;
  return WIZSIM_OK;
}

wizsim_t* wizsim_current_instance(void) {
  return g_current;
}

unsigned long wizsim_callback_errors(void) {
  return g_callback_errors;
}

void wizsim_cs_select(void) {
  on_current(__func__, [](wizsim_instance& in) { in.chip.cs(false); });
}

void wizsim_cs_deselect(void) {
  on_current(__func__, [](wizsim_instance& in) { in.chip.cs(true); });
}

uint8_t wizsim_spi_readbyte(void) {
  std::uint8_t v = 0xFF;  // what a floating MISO reads when there is no chip
  on_current(__func__, [&](wizsim_instance& in) { v = in.chip.transfer(0x00); });
  return v;
}

void wizsim_spi_writebyte(uint8_t wb) {
  on_current(__func__, [&](wizsim_instance& in) { in.chip.transfer(wb); });
}

void wizsim_spi_readburst(uint8_t* buf, uint16_t len) {
  on_current(__func__, [&](wizsim_instance& in) {
    require_buffer(buf, len, "wizsim_spi_readburst");
    for (std::uint16_t i = 0; i < len; ++i) buf[i] = in.chip.transfer(0x00);
  });
}

void wizsim_spi_writeburst(uint8_t* buf, uint16_t len) {
  on_current(__func__, [&](wizsim_instance& in) {
    require_buffer(buf, len, "wizsim_spi_writeburst");
    for (std::uint16_t i = 0; i < len; ++i) in.chip.transfer(buf[i]);
  });
}

uint32_t wizsim_millis(void) {
  std::uint32_t v = 0;
  on_current(__func__, [&](wizsim_instance& in) {
    v = static_cast<std::uint32_t>(in.sched.now() / wizsim::ps_per_ms);
  });
  return v;
}

uint32_t wizsim_micros(void) {
  std::uint32_t v = 0;
  on_current(__func__, [&](wizsim_instance& in) {
    v = static_cast<std::uint32_t>(in.sched.now() / wizsim::ps_per_us);
  });
  return v;
}

void wizsim_delay_ms(uint32_t ms) {
  on_current(__func__, [&](wizsim_instance& in) { in.sched.advance_by(wizsim::ms(ms)); });
}

void wizsim_delay_us(uint32_t us) {
  on_current(__func__, [&](wizsim_instance& in) { in.sched.advance_by(wizsim::us(us)); });
}

// ---- virtual time
// -------------------------------------------------------------------------------------------

uint64_t wizsim_now_ns(wizsim_t* h) {
  std::uint64_t t = 0;
  guarded(h, __func__, [&](wizsim_instance& in, [[maybe_unused]] const char* fn) {
    t = in.sched.now() / wizsim::ps_per_ns;
    return WIZSIM_OK;
  });
  return t;
}

int wizsim_advance_us(wizsim_t* h, uint64_t us) {
  return guarded(h, __func__, [&](wizsim_instance& in, [[maybe_unused]] const char* fn) {
    const wizsim::ps_t dt = checked_ps(us, wizsim::ps_per_us, fn, "advance of us");
    if (dt > wizsim::never - 1 - in.sched.now())
      throw api_error(WIZSIM_ERR_ARGUMENT, fmt::format("{}: {} us from now overflows the clock", fn, us));
    in.sched.advance_by(dt);
    return WIZSIM_OK;
  });
}

int wizsim_run_until_ns(wizsim_t* h, uint64_t t_ns) {
  return guarded(h, __func__, [&](wizsim_instance& in, [[maybe_unused]] const char* fn) {
    const wizsim::ps_t t = checked_ps(t_ns, wizsim::ps_per_ns, fn, "time ns");
    if (t < in.sched.now())
      throw api_error(WIZSIM_ERR_ARGUMENT, fmt::format("{}: {} ns is in the past (now is {} ns)", fn, t_ns,
                                                       in.sched.now() / wizsim::ps_per_ns));
    in.sched.advance_to(t);
    return WIZSIM_OK;
  });
}

// ---- the network
// ----------------------------------------------------------------------------------------------

int wizsim_add_peer(wizsim_t* h, const char* name, const char* ip, const uint8_t mac[6]) {
  return guarded(h, __func__, [&](wizsim_instance& in, [[maybe_unused]] const char* fn) {
    if (!name || !*name)
      throw api_error(WIZSIM_ERR_ARGUMENT, "wizsim_add_peer: a peer needs a non-empty name");
    if (!ip) throw api_error(WIZSIM_ERR_ARGUMENT, "wizsim_add_peer: NULL ip");
    wizsim::ip4_addr addr = 0;
    int prefix = 24;
    if (!parse_ip(ip, addr, prefix))
      throw api_error(
          WIZSIM_ERR_ARGUMENT,
          fmt::format("wizsim_add_peer: '{}' is not an IPv4 address (a.b.c.d or a.b.c.d/prefix)", ip));
    if (in.seg.find_port(name) >= 0)
      throw api_error(
          WIZSIM_ERR_CONFLICT,
          fmt::format("wizsim_add_peer: a station named '{}' is already on segment {}", name, in.seg.name()));
    wizsim::peer_config cfg;
    cfg.name = name;
    cfg.ip = addr;
    cfg.netmask = prefix == 0 ? 0 : ~wizsim::ip4_addr{0} << (32 - prefix);
    const std::size_t id = in.peers.size();
    if (mac)
      std::memcpy(cfg.mac.data(), mac, 6);
    else
      cfg.mac = {0x02, 0x50, 0x45, 0x45, 0x52, static_cast<std::uint8_t>(id + 1)};  // 02:"PEER":n
    auto e = std::make_unique<peer_entry>();
    e->host = std::make_unique<wizsim::peer_host>(in.seg, cfg);
    in.peers.push_back(std::move(e));
    return static_cast<int>(id);
  });
}

int wizsim_find_peer(wizsim_t* h, const char* name) {
  return guarded(h, __func__, [&](wizsim_instance& in, [[maybe_unused]] const char* fn) {
    if (!name) throw api_error(WIZSIM_ERR_ARGUMENT, "wizsim_find_peer: NULL name");
    for (std::size_t i = 0; i < in.peers.size(); ++i)
      if (in.peers[i]->host->config().name == name) return static_cast<int>(i);
    throw api_error(WIZSIM_ERR_UNKNOWN_PEER, fmt::format("wizsim_find_peer: no peer named '{}'", name));
  });
}

int wizsim_peer_udp_echo(wizsim_t* h, int peer, uint16_t port) {
  return guarded(h, __func__, [&](wizsim_instance& in, [[maybe_unused]] const char* fn) {
    peer_entry& e = in.peer(peer, fn);
    if (port == 0) throw api_error(WIZSIM_ERR_ARGUMENT, "wizsim_peer_udp_echo: port 0");
    wizsim::peer_host& host = *e.host;
    try {
      host.udp_bind(port, [&e, &host, port](const wizsim::udp_datagram& d) {
        ++e.udp_echoed;
        host.udp_send(d.src, d.src_port, port, d.payload);
      });
    } catch (const std::invalid_argument& ex) {
      throw api_error(WIZSIM_ERR_CONFLICT, fmt::format("wizsim_peer_udp_echo: {}", ex.what()));
    }
    return WIZSIM_OK;
  });
}

int wizsim_peer_tcp_echo(wizsim_t* h, int peer, uint16_t port) {
  return guarded(h, __func__, [&](wizsim_instance& in, [[maybe_unused]] const char* fn) {
    peer_entry& e = in.peer(peer, fn);
    if (port == 0) throw api_error(WIZSIM_ERR_ARGUMENT, "wizsim_peer_tcp_echo: port 0");
    try {
      e.host->tcp_listen(port, [&e](wizsim::tcp_ptr c) {
        // Weak references: the host owns the connection; a callback holding it would keep it forever.
        std::weak_ptr<wizsim::tcp_connection> w = c;
        c->on_data = [w, &e](const wizsim::octets& d) {
          if (auto s = w.lock()) {
            e.tcp_echoed += d.size();
            s->send(d);
          }
        };
        c->on_peer_fin = [w] {
          if (auto s = w.lock()) s->close();
        };
      });
    } catch (const std::invalid_argument& ex) {
      throw api_error(WIZSIM_ERR_CONFLICT, fmt::format("wizsim_peer_tcp_echo: {}", ex.what()));
    }
    return WIZSIM_OK;
  });
}

int wizsim_peer_echo_stats(wizsim_t* h, int peer, uint64_t* udp_datagrams, uint64_t* tcp_bytes) {
  return guarded(h, __func__, [&](wizsim_instance& in, [[maybe_unused]] const char* fn) {
    const peer_entry& e = in.peer(peer, fn);
    if (udp_datagrams) *udp_datagrams = e.udp_echoed;
    if (tcp_bytes) *tcp_bytes = e.tcp_echoed;
    return WIZSIM_OK;
  });
}

namespace {
wizsim::ip4_addr ip_arg(const char* text, const char* fn, const char* what) {
  wizsim::ip4_addr a = 0;
  int prefix = 0;
  if (!text || !parse_ip(text, a, prefix) || std::strchr(text, '/') != nullptr)
    throw api_error(WIZSIM_ERR_ARGUMENT, fmt::format("{}: {} '{}' is not an IPv4 address (a.b.c.d)", fn, what,
                                                     text ? text : "(null)"));
  return a;
}
}  // namespace

int wizsim_peer_dhcp_server(wizsim_t* h, int peer, const char* pool_first, const char* pool_last,
                            const char* router, const char* dns, uint32_t lease_seconds) {
  return guarded(h, __func__, [&](wizsim_instance& in, const char* fn) {
    peer_entry& e = in.peer(peer, fn);
    if (e.dhcp) throw api_error(WIZSIM_ERR_CONFLICT, fmt::format("{}: the peer already runs a DHCP server", fn));
    wizsim::dhcp_server_config cfg;
    cfg.pool_first = ip_arg(pool_first, fn, "pool_first");
    cfg.pool_last = ip_arg(pool_last, fn, "pool_last");
    cfg.netmask = e.host->config().netmask;
    if (router) cfg.router = ip_arg(router, fn, "router");
    if (dns) cfg.dns.push_back(ip_arg(dns, fn, "dns"));
    if (lease_seconds) cfg.lease_time = lease_seconds;
    try {
      e.dhcp = std::make_unique<wizsim::dhcp_server>(*e.host, cfg);
    } catch (const std::invalid_argument& ex) {
      throw api_error(WIZSIM_ERR_ARGUMENT, fmt::format("{}: {}", fn, ex.what()));
    }
    return WIZSIM_OK;
  });
}

int wizsim_peer_dns_a(wizsim_t* h, int peer, const char* name, const char* ip, uint32_t ttl) {
  return guarded(h, __func__, [&](wizsim_instance& in, const char* fn) {
    peer_entry& e = in.peer(peer, fn);
    if (!name) throw api_error(WIZSIM_ERR_ARGUMENT, fmt::format("{}: NULL name", fn));
    const wizsim::ip4_addr addr = ip_arg(ip, fn, "ip");
    try {
      if (!e.dns) e.dns = std::make_unique<wizsim::dns_server>(*e.host);
      e.dns->add_a(name, addr, ttl ? std::optional<std::uint32_t>(ttl) : std::nullopt);
    } catch (const std::invalid_argument& ex) {
      throw api_error(WIZSIM_ERR_ARGUMENT, fmt::format("{}: {}", fn, ex.what()));
    }
    return WIZSIM_OK;
  });
}

int wizsim_peer_http_page(wizsim_t* h, int peer, uint16_t port, const char* path, int status,
                          const char* content_type, const char* body, size_t len) {
  return guarded(h, __func__, [&](wizsim_instance& in, const char* fn) {
    peer_entry& e = in.peer(peer, fn);
    if (port == 0 || !path || *path != '/')
      throw api_error(WIZSIM_ERR_ARGUMENT, fmt::format("{}: needs a port and a path starting with '/'", fn));
    if (status < 100 || status > 599)
      throw api_error(WIZSIM_ERR_ARGUMENT, fmt::format("{}: status {} is not an HTTP status", fn, status));
    if (!body && len) throw api_error(WIZSIM_ERR_ARGUMENT, fmt::format("{}: NULL body of {} octets", fn, len));
    auto reply = wizsim::http_reply::text(status, std::string(body ? body : "", len),
                                          content_type ? content_type : "text/plain");
    const bool fresh = e.http.count(port) == 0;
    try {
      if (fresh) e.http[port] = std::make_unique<wizsim::http_server>(*e.host, port);
      e.http[port]->route("GET", path, [reply](const wizsim::http_request&) { return reply; });
    } catch (const std::invalid_argument& ex) {
      if (fresh) e.http.erase(port);
      throw api_error(WIZSIM_ERR_CONFLICT, fmt::format("{}: {}", fn, ex.what()));
    }
    return WIZSIM_OK;
  });
}

int wizsim_cable(wizsim_t* h, int connected) {
  return guarded(h, __func__, [&](wizsim_instance& in, [[maybe_unused]] const char* fn) {
    in.seg.set_link_up(in.chip_port, connected != 0);
    return WIZSIM_OK;
  });
}

// ---- observability
// ------------------------------------------------------------------------------------------

int wizsim_pcap(wizsim_t* h, const char* path) {
  return guarded(h, __func__, [&](wizsim_instance& in, [[maybe_unused]] const char* fn) {
    if (!path) {
      in.seg.stop_capture();
      return WIZSIM_OK;
    }
    try {
      in.seg.capture(path);
    } catch (const std::runtime_error& e) {
      throw api_error(WIZSIM_ERR_IO, fmt::format("wizsim_pcap: {}", e.what()));
    }
    return WIZSIM_OK;
  });
}

int wizsim_trace(wizsim_t* h, const char* path) {
  return guarded(h, __func__, [&](wizsim_instance& in, [[maybe_unused]] const char* fn) {
    std::unique_ptr<file_sink> f = path ? open_sink(path, fn) : nullptr;
    in.seg.set_trace_sink(nullptr);  // before the old file closes
    in.trace_file = std::move(f);
    if (file_sink* s = in.trace_file.get())
      in.seg.set_trace_sink([s](std::string_view line) { s->write(line); });
    return WIZSIM_OK;
  });
}

int wizsim_log(wizsim_t* h, const char* path, int level) {
  return guarded(h, __func__, [&](wizsim_instance& in, [[maybe_unused]] const char* fn) {
    if (level < 0 || level > static_cast<int>(wizsim::log_level::debug))
      throw api_error(WIZSIM_ERR_ARGUMENT, fmt::format("wizsim_log: level {} is not within 0..5", level));
    std::unique_ptr<file_sink> f = path ? open_sink(path, fn) : nullptr;
    in.seg.set_log_sink(nullptr);
    in.log_file = std::move(f);
    if (file_sink* s = in.log_file.get())
      in.seg.set_log_sink([s](std::string_view line) { s->write(line); },
                          static_cast<wizsim::log_level>(level));
    return WIZSIM_OK;
  });
}

uint64_t wizsim_guest_errors(wizsim_t* h) {
  std::uint64_t n = 0;
  guarded(h, __func__, [&](wizsim_instance& in, [[maybe_unused]] const char* fn) {
    n = in.chip.log().counters().guest_errors;
    return WIZSIM_OK;
  });
  return n;
}

}  // extern "C"
