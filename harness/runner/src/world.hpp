// Private to the scenario engine: the network a scenario builds (scheduler, segment, chip, driver, peers
// with their services) and the getters that read the loader-validated YAML.
#pragma once
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine.hpp"
#include "wiznet5k/socket.hpp"
#include "wiznet5k/wiznet5k.hpp"
#include "wizsim/harness/dhcp.hpp"
#include "wizsim/harness/dns.hpp"
#include "wizsim/harness/http.hpp"
#include "wizsim/harness/model_hal.hpp"
#include "wizsim/harness/peer.hpp"
#include "wizsim/harness/segment.hpp"
#include "wizsim/harness/services.hpp"
#include "wizsim/w5500.hpp"

namespace wizsim::scenario::detail {

using YAML::Node;

// ---- getters over validated nodes (defaults when absent) ---------------------------------------------
inline std::string get_str(const Node& n, const char* k, const std::string& def = "") {
  return n.IsMap() && n[k] ? n[k].Scalar() : def;
}
inline ps_t get_dur(const Node& n, const char* k, ps_t def) {
  return n.IsMap() && n[k] ? parse_duration(n[k].Scalar()).value_or(def) : def;
}
inline std::uint64_t get_size(const Node& n, const char* k, std::uint64_t def) {
  return n.IsMap() && n[k] ? parse_size(n[k].Scalar()).value_or(def) : def;
}
inline std::uint64_t get_uint(const Node& n, const char* k, std::uint64_t def) {
  return n.IsMap() && n[k] ? parse_uint(n[k].Scalar()).value_or(def) : def;
}
inline bool get_bool(const Node& n, const char* k, bool def) {
  if (!(n.IsMap() && n[k])) return def;
  bool b = def;
  YAML::convert<bool>::decode(n[k], b);
  return b;
}
inline ip4_addr get_ip(const Node& n, const char* k, ip4_addr def) {
  return n.IsMap() && n[k] ? parse_ip(n[k].Scalar()).value_or(def) : def;
}

dhcp_behaviour dhcp_behaviour_of(const std::string& s);
// Applies a {behaviour, name} change (schedule entry or step) to a DNS server.
void apply_dns_behaviour(dns_server& d, const Node& change);

// Thrown by the guarded HAL when virtual time reaches the scenario's budget: it unwinds out of whatever
// driver call is in progress (the driver library is built with exceptions; only its freestanding check
// build is not), so nothing can run past the budget.
struct budget_exceeded {};

// The driver's HAL: the model HAL plus the budget. Armed only while steps run (teardown must not throw).
class guarded_hal final : public wiznet5k::hal {
 public:
  guarded_hal(model_hal& inner, ps_t limit) : m_in(inner), m_limit(limit) {}
  void select() override {
    check();
    m_in.select();
  }
  void deselect() override { m_in.deselect(); }
  void transfer(const std::uint8_t* tx, std::uint8_t* rx, std::size_t n) override {
    m_in.transfer(tx, rx, n);
  }
  bool has_reset() const override { return m_in.has_reset(); }
  void set_reset(bool level) override { m_in.set_reset(level); }
  bool has_int() const override { return m_in.has_int(); }
  bool int_level() override { return m_in.int_level(); }
  std::uint64_t millis() override { return m_in.millis(); }
  std::uint64_t micros() override { return m_in.micros(); }
  void sleep_ms(std::uint32_t n) override { sleep(ms(n)); }
  void sleep_us(std::uint32_t n) override { sleep(us(n)); }
  std::uint32_t random32() override { return m_in.random32(); }

  void sleep(ps_t t) {
    const ps_t now = m_in.sched().now();
    if (armed && !m_tripped && now + t >= m_limit) {
      m_in.sleep(m_limit > now ? m_limit - now : 0);
      m_tripped = true;
      throw budget_exceeded{};
    }
    m_in.sleep(t);
  }
  void check() {
    if (armed && !m_tripped && m_in.sched().now() >= m_limit) {
      m_tripped = true;
      throw budget_exceeded{};
    }
  }
  bool tripped() const { return m_tripped; }
  bool armed = false;

 private:
  model_hal& m_in;
  ps_t m_limit;
  bool m_tripped = false;
};

// A scripted TCP server: answers the first data (or the connection) with fixed bytes, then closes,
// resets or keeps the connection.
class tcp_reply_service {
 public:
  struct config {
    std::uint16_t port = 0;
    bool on_connect = false;
    std::string reply;
    std::size_t reply_size = 0;
    ps_t delay = 0;
    std::string then = "close";
    ps_t then_delay = 0;
  };
  tcp_reply_service(peer_host& host, config cfg);
  ~tcp_reply_service();
  tcp_service_stats stats;

 private:
  void answer(const std::weak_ptr<tcp_connection>& c);
  peer_host& m_host;
  config m_cfg;
  std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
};

struct peer_slot {
  std::string name;
  const Node* node = nullptr;
  std::unique_ptr<peer_host> host;  // first: destroyed last, after its services
  std::unique_ptr<dhcp_server> dhcp;
  std::unique_ptr<dns_server> dns;
  std::unique_ptr<http_server> http;
  std::unique_ptr<tcp_echo_service> tcp_echo;
  std::unique_ptr<tcp_discard_service> tcp_discard;
  std::unique_ptr<tcp_sink_service> tcp_sink;
  std::unique_ptr<tcp_source_service> tcp_source;
  std::unique_ptr<tcp_reply_service> tcp_reply;
  std::unique_ptr<udp_echo_service> udp_echo;
  std::unique_ptr<http_client> client;  // created on demand (wsgi_serve)
};

// A TCP connection a peer opened to the chip (peer_tcp_connect): what the peer received on it and how it
// ended, for the peer_received expectation. The connection's callbacks hold only a weak pointer to this
// record (the record owns the connection: no cycle).
struct peer_conn {
  std::string peer;
  tcp_ptr conn;            // null until the (possibly scheduled) connect starts
  std::string received;    // in-order data from the chip
  std::string end_reason;  // the peer TCP's close reason once finished ("" while not)
};

struct frame_record {
  ps_t t;
  segment::port_id from;
  octets frame;
};

// The whole network of one scenario. Members are declared in construction order; teardown() takes it
// down in the order the components need (sockets through the driver first, services before hosts).
struct world {
  explicit world(const scenario& s, std::uint64_t seed);
  ~world();
  world(const world&) = delete;
  world& operator=(const world&) = delete;

  // Builds everything from the scenario; a problem is reported with the node it concerns and building
  // stops (returns false).
  using complaint = std::function<void(const Node& where, const std::string& what)>;
  bool build(const complaint& on_error);
  void teardown();

  segment::port_id port_of(const std::string& link) const;  // "chip" or a peer name
  peer_slot* peer(const std::string& name);
  // A step's host text to an address text the socket module takes: peers by name, others unchanged.
  std::string resolve_host(const std::string& host) const;

  const scenario& sc;
  std::uint64_t seed;
  std::unique_ptr<scheduler> sched;
  std::unique_ptr<segment> seg;
  std::unique_ptr<w5500> chip;
  std::unique_ptr<model_hal> mhal;
  std::unique_ptr<guarded_hal> hal;
  std::unique_ptr<wiznet5k::WIZNET5K> eth;
  segment::port_id chip_port = -1;
  mac_addr chip_mac{0x02, 0x08, 0xDC, 0x00, 0x00, 0x50};
  std::vector<std::unique_ptr<peer_slot>> peers;
  std::map<std::string, std::unique_ptr<wiznet5k::socket_module::socket>> sockets;
  // Everything each named TCP socket has received since its tcp_connect, across tcp_recv steps.
  std::map<std::string, std::string> received;
  // UDP sockets opened at register level in multicast mode (udp_multicast): name -> hardware socket.
  std::map<std::string, int> multicast;
  // Connections peers opened to the chip (peer_tcp_connect), by their `as` name.
  std::map<std::string, std::shared_ptr<peer_conn>> peer_conns;
  std::vector<frame_record> frames;
  bool frames_overflow = false;
  bool macraw_open = false;
};

}  // namespace wizsim::scenario::detail
