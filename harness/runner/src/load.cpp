// The loader: reads a scenario file and checks every key, type and cross reference against the schema in
// docs/scenarios.md, reporting each problem as file:line:column. Nothing here throws past the interface.
#include <algorithm>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "engine.hpp"
#include "wizsim/config.hpp"
#include "wizsim/harness/filter.hpp"
#include "wizsim/quirks.hpp"

namespace wizsim::scenario {

std::string load_error::to_string() const {
  std::string s = file;
  if (line > 0) {
    s += ":" + std::to_string(line);
    if (column > 0) s += ":" + std::to_string(column);
  }
  return s + ": " + message;
}

namespace {

using YAML::Node;
using namespace detail;

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0u : 1u)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string suggest(const std::string& key, const std::vector<std::string>& allowed) {
  std::string best;
  std::size_t best_d = 3;
  for (const auto& k : allowed) {
    const std::size_t d = edit_distance(key, k);
    if (d < best_d) {
      best_d = d;
      best = k;
    }
  }
  return best.empty() ? "" : " (did you mean '" + best + "'?)";
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// Peers known by name, for the cross checks (endpoints, links, schedule).
struct peer_info {
  std::set<std::string> services;
};

class checker {
 public:
  explicit checker(std::string file) : m_file(std::move(file)) {}

  std::vector<load_error> errors;

  void err(const Node& n, const std::string& msg) {
    const YAML::Mark m = n.Mark();
    err_at(m.line < 0 ? 0 : m.line + 1, m.column < 0 ? 0 : m.column + 1, msg);
  }
  void err_at(int line, int col, const std::string& msg) {
    if (errors.size() < 50) errors.push_back({m_file, line, col, msg});
  }

  static std::string kind_of(const Node& n) {
    switch (n.Type()) {
      case YAML::NodeType::Map:
        return "a map";
      case YAML::NodeType::Sequence:
        return "a list";
      case YAML::NodeType::Scalar:
        return "'" + n.Scalar() + "'";
      case YAML::NodeType::Null:
        return "nothing";
      default:
        return "something undefined";
    }
  }

  // A map whose keys are all in `allowed`; `required` must be present.
  bool map(const Node& n, const std::string& what, const std::vector<std::string>& allowed,
           const std::vector<std::string>& required = {}) {
    if (!n.IsMap()) {
      err(n, "expected " + what + " (a map), got " + kind_of(n));
      return false;
    }
    std::set<std::string> seen;
    for (const auto& kv : n) {
      if (!kv.first.IsScalar()) {
        err(kv.first, "expected a key name in " + what);
        continue;
      }
      const std::string k = kv.first.Scalar();
      if (!seen.insert(k).second) err(kv.first, "duplicate key '" + k + "' in " + what);
      if (std::find(allowed.begin(), allowed.end(), k) == allowed.end())
        err(kv.first, "unknown key '" + k + "' in " + what + suggest(k, allowed) +
                          "; expected one of: " + join(allowed));
    }
    for (const auto& r : required)
      if (!n[r]) err(n, "missing key '" + r + "' in " + what);
    return true;
  }

  bool scalar(const Node& n, const std::string& what) {
    if (!n.IsScalar()) {
      err(n, "expected " + what + ", got " + kind_of(n));
      return false;
    }
    return true;
  }
  void string(const Node& n, const std::string& what) { scalar(n, what + " (a string)"); }
  void boolean(const Node& n, const std::string& what) {
    if (!scalar(n, what + " (true or false)")) return;
    bool b;
    if (!YAML::convert<bool>::decode(n, b))
      err(n, "expected " + what + " (true or false), got '" + n.Scalar() + "'");
  }
  void integer(const Node& n, const std::string& what, std::uint64_t lo = 0,
               std::uint64_t hi = ~std::uint64_t{0}) {
    if (!scalar(n, what + " (an integer)")) return;
    auto v = parse_uint(n.Scalar());
    if (!v) return err(n, "expected " + what + " (an integer), got '" + n.Scalar() + "'");
    if (*v < lo || *v > hi)
      err(n, "expected " + what + " between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " +
                 n.Scalar());
  }
  void number01(const Node& n, const std::string& what) {
    if (!scalar(n, what + " (a number from 0 to 1)")) return;
    double d;
    if (!YAML::convert<double>::decode(n, d) || !(d >= 0 && d <= 1))
      err(n, "expected " + what + " (a number from 0 to 1), got '" + n.Scalar() + "'");
  }
  void duration(const Node& n, const std::string& what) {
    if (!scalar(n, what + " (a duration like 250ms)")) return;
    if (!parse_duration(n.Scalar()))
      err(n, "expected " + what + " (a duration like 250ms, 31.8s, 2us), got '" + n.Scalar() + "'");
  }
  void size(const Node& n, const std::string& what) {
    if (!scalar(n, what + " (a size like 64KiB)")) return;
    if (!parse_size(n.Scalar()))
      err(n, "expected " + what + " (a size like 1500, 64KiB, 1MiB), got '" + n.Scalar() + "'");
  }
  void speed(const Node& n, const std::string& what) {
    if (!scalar(n, what + " (a speed like 100Mbps)")) return;
    if (!parse_speed(n.Scalar()))
      err(n, "expected " + what + " (a speed like 100Mbps), got '" + n.Scalar() + "'");
  }
  void ip(const Node& n, const std::string& what) {
    if (!scalar(n, what + " (an IPv4 address)")) return;
    if (!parse_ip(n.Scalar()))
      err(n, "expected " + what + " (a dotted quad like 10.0.0.1), got '" + n.Scalar() + "'");
  }
  void ips(const Node& n, const std::string& what) {
    if (n.IsSequence()) {
      for (const auto& e : n) ip(e, what);
    } else {
      ip(n, what);
    }
  }
  void mac(const Node& n, const std::string& what) {
    if (!scalar(n, what + " (a MAC address)")) return;
    if (!parse_mac(n.Scalar()))
      err(n, "expected " + what + " (a MAC like 02:00:00:00:00:01), got '" + n.Scalar() + "'");
  }
  void one_of(const Node& n, const std::string& what, const std::vector<std::string>& words) {
    if (!scalar(n, what + " (one of: " + join(words) + ")")) return;
    if (std::find(words.begin(), words.end(), n.Scalar()) == words.end())
      err(n, "expected " + what + " (one of: " + join(words) + "), got '" + n.Scalar() + "'" +
                 suggest(n.Scalar(), words));
  }
  void filter(const Node& n, const std::string& what) {
    if (!scalar(n, what + " (a frame filter expression)")) return;
    try {
      (void)frame_filter::parse(n.Scalar());
    } catch (const std::exception& e) {
      err(n, "bad " + what + ": " + e.what());
    }
  }
  void count(const Node& n, const std::string& what) {
    if (!scalar(n, what + " (a count like 3, \">= 1\" or \"2..5\")")) return;
    if (!parse_count(n.Scalar()))
      err(n,
          "expected " + what + " (a count like 3, \">= 1\", \"<= 5\" or \"2..5\"), got '" + n.Scalar() + "'");
  }
  void time_range(const Node& n, const std::string& what) {
    if (n.IsMap()) {
      if (!map(n, what, {"min", "max"})) return;
      if (n["min"]) duration(n["min"], what + " min");
      if (n["max"]) duration(n["max"], what + " max");
      return;
    }
    if (!scalar(n, what + " (a time range like \"<= 5s\" or \"30s..33s\")")) return;
    if (!parse_time_range(n.Scalar()))
      err(n, "expected " + what + " (a time range like \"<= 5s\", \">= 1s\" or \"30s..33s\"), got '" +
                 n.Scalar() + "'");
  }
  void bytes(const Node& n, const std::string& what) {
    if (n.IsScalar()) return;
    if (!map(n, what, {"equals", "contains", "size", "pattern"})) return;
    if (n["equals"]) string(n["equals"], what + " equals");
    if (n["contains"]) string(n["contains"], what + " contains");
    if (n["size"]) size(n["size"], what + " size");
    if (n["pattern"]) {
      one_of(n["pattern"], what + " pattern", {"tcp", "http"});
      if (!n["size"]) err(n, "a " + what + " with 'pattern' needs 'size'");
    }
  }
  // host:port where the host is a dotted quad, a peer or a DNS name.
  void endpoint(const Node& n, const std::string& what) {
    if (!scalar(n, what + " (host:port)")) return;
    const std::string s = n.Scalar();
    const auto colon = s.rfind(':');
    if (colon == std::string::npos || colon == 0)
      return err(n, "expected " + what + " as host:port, got '" + s + "'");
    const std::uint64_t port = parse_uint(s.substr(colon + 1)).value_or(0);
    if (port == 0 || port > 65535) return err(n, "bad port in " + what + " '" + s + "' (expected 1..65535)");
    host(n, s.substr(0, colon), what);
  }
  void host(const Node& n, const std::string& h, const std::string& what) {
    if (parse_ip(h)) return;
    if (h.find('.') != std::string::npos) return;  // a DNS name
    if (!peers.count(h)) err(n, "unknown peer '" + h + "' in " + what + " (peers: " + peer_names() + ")");
  }
  void url(const Node& n, const std::string& what) {
    if (!scalar(n, what + " (http://host[:port]/path)")) return;
    const std::string s = n.Scalar();
    if (s.rfind("http://", 0) != 0)
      return err(n, "expected " + what + " starting with http://, got '" + s + "'");
    std::string rest = s.substr(7);
    std::string hostport = rest.substr(0, rest.find('/'));
    const auto colon = hostport.find(':');
    if (colon != std::string::npos) {
      const std::uint64_t port = parse_uint(hostport.substr(colon + 1)).value_or(0);
      if (port == 0 || port > 65535) return err(n, "bad port in " + what + " '" + s + "'");
      hostport = hostport.substr(0, colon);
    }
    if (hostport.empty()) return err(n, "missing host in " + what + " '" + s + "'");
    host(n, hostport, what);
  }
  void link(const Node& n, const std::string& what) {
    if (!scalar(n, what + " (chip or a peer name)")) return;
    if (n.Scalar() != "chip" && !peers.count(n.Scalar()))
      err(n, "unknown link '" + n.Scalar() + "' in " + what + " (expected chip or a peer: " + peer_names() +
                 ")");
  }
  void peer_with(const Node& n, const std::string& what, const std::string& service) {
    if (!scalar(n, what + " (a peer name)")) return;
    auto it = peers.find(n.Scalar());
    if (it == peers.end())
      return err(n, "unknown peer '" + n.Scalar() + "' in " + what + " (peers: " + peer_names() + ")");
    if (!service.empty() && !it->second.services.count(service))
      err(n, "peer '" + n.Scalar() + "' has no " + service + " service (" + what + ")");
  }
  std::string peer_names() const {
    std::vector<std::string> v;
    for (const auto& p : peers) v.push_back(p.first);
    return v.empty() ? "none" : join(v);
  }

  std::map<std::string, peer_info> peers;
  // Sockets opened by tcp_listen (what tcp_accept may name) and connections opened by peer_tcp_connect
  // (what peer_received may name), in step order.
  std::set<std::string> listeners, conns;

 private:
  std::string m_file;
};

const std::vector<std::string> k_dhcp_behaviours = {"normal", "silent", "nak", "wrong_xid",
                                                    "offer_then_vanish"};
const std::vector<std::string> k_dns_modes = {"normal",    "nxdomain", "servfail",
                                              "truncated", "silent",   "malformed"};
const std::vector<std::string> k_malformations = {"wrong_id",        "count_mismatch", "pointer_loop",
                                                  "truncated_rdata", "a_rdlength_3",   "qr_zero"};
const std::vector<std::string> k_errors = {"value_error", "runtime_error", "connection_error",
                                           "timeout_error", "would_block"};
const std::vector<std::string> k_states = {"closed",      "init",     "listen",  "synsent",   "synrecv",
                                           "established", "fin_wait", "closing", "time_wait", "close_wait",
                                           "last_ack",    "udp",      "macraw"};
// A peer_tcp_connect connection as the peer sees it (run.cpp names them the same way).
const std::vector<std::string> k_peer_conn_states = {"connecting", "open",  "closing",
                                                     "closed",     "reset", "refused"};
const std::vector<std::string> k_dhcp_states = {"init",  "selecting", "requesting",
                                                "bound", "renewing",  "rebinding"};

void check_dns_behaviour(checker& c, const Node& n, const std::string& what) {
  if (n.IsScalar()) return c.one_of(n, what, k_dns_modes);
  if (!c.map(n, what, {"mode", "delay", "malformation", "ttl"})) return;
  if (n["mode"]) c.one_of(n["mode"], what + " mode", k_dns_modes);
  if (n["delay"]) c.duration(n["delay"], what + " delay");
  if (n["malformation"]) c.one_of(n["malformation"], what + " malformation", k_malformations);
  if (n["ttl"]) c.integer(n["ttl"], what + " ttl", 0, 0xFFFFFFFF);
}

void check_link_cfg(checker& c, const Node& n, const std::string& what) {
  if (!c.map(n, what, {"speed", "delay"})) return;
  if (n["speed"]) c.speed(n["speed"], what + " speed");
  if (n["delay"]) c.duration(n["delay"], what + " delay");
}

void check_chip(checker& c, const Node& n) {
  if (!c.map(n, "chip", {"mac", "sclk_hz", "quirks", "link", "int", "reset"})) return;
  if (n["mac"]) c.mac(n["mac"], "chip mac");
  if (n["sclk_hz"]) c.integer(n["sclk_hz"], "chip sclk_hz", 1000, 200'000'000);
  if (n["link"]) check_link_cfg(c, n["link"], "chip link");
  if (n["int"]) c.boolean(n["int"], "chip int");
  if (n["reset"]) c.boolean(n["reset"], "chip reset");
  if (const Node q = n["quirks"]) {
    if (!q.IsMap())
      return c.err(q, "expected chip quirks (a map of quirk name to value), got " + checker::kind_of(q));
    std::vector<std::string> names;
    for (const auto& info : quirk_table()) names.push_back(info.name);
    for (const auto& kv : q) {
      const std::string name = kv.first.Scalar();
      auto it = std::find_if(quirk_table().begin(), quirk_table().end(),
                             [&](const quirk_info& i) { return name == i.name; });
      if (it == quirk_table().end()) {
        c.err(kv.first,
              "unknown quirk '" + name + "'" + suggest(name, names) + "; known quirks: " + join(names));
        continue;
      }
      if (!c.scalar(kv.second, "a value for quirk " + name)) continue;
      std::string v = kv.second.Scalar();
      if (it->kind == quirk_kind::duration_ps) {
        auto d = parse_duration(v);
        if (!d) {
          c.err(kv.second, "expected a duration for quirk " + name + ", got '" + v + "'");
          continue;
        }
        v = std::to_string(*d);
      }
      try {
        quirks tmp;
        tmp.set(name, v);
      } catch (const std::exception& e) {
        c.err(kv.second, std::string("bad value for quirk ") + name + ": " + e.what());
      }
    }
  }
}

void check_services(checker& c, const Node& n, const std::string& peer, peer_info& info, bool has_ip) {
  const std::vector<std::string> kinds = {"dhcp",     "dns",        "http",      "tcp_echo", "tcp_discard",
                                          "tcp_sink", "tcp_source", "tcp_reply", "udp_echo"};
  const std::string where = "services of peer '" + peer + "'";
  if (!c.map(n, where, kinds)) return;
  for (const auto& kv : n) {
    const std::string kind = kv.first.Scalar();
    const Node s = kv.second;
    const std::string what = kind + " service of peer '" + peer + "'";
    info.services.insert(kind);
    if (kind == "dhcp") {
      if (!has_ip) c.err(kv.first, "a dhcp service needs the peer's ip (peer '" + peer + "')");
      if (!c.map(s, what,
                 {"pool", "netmask", "router", "dns", "domain", "lease", "t1", "t2", "reply_delay",
                  "offer_hold", "behaviour", "shared_pool"},
                 {"pool"}))
        continue;
      if (s["pool"] && c.scalar(s["pool"], what + " pool")) {
        const std::string p = s["pool"].Scalar();
        const auto dash = p.find('-');
        if (dash == std::string::npos || !parse_ip(p.substr(0, dash)) || !parse_ip(p.substr(dash + 1)))
          c.err(s["pool"],
                "expected " + what + " pool as first-last (10.0.0.100-10.0.0.150), got '" + p + "'");
      }
      if (s["netmask"]) c.ip(s["netmask"], what + " netmask");
      if (s["router"]) c.ip(s["router"], what + " router");
      if (s["dns"]) c.ips(s["dns"], what + " dns");
      if (s["domain"]) c.string(s["domain"], what + " domain");
      for (const char* k : {"lease", "t1", "t2", "reply_delay", "offer_hold"})
        if (s[k]) c.duration(s[k], what + " " + k);
      if (s["behaviour"]) c.one_of(s["behaviour"], what + " behaviour", k_dhcp_behaviours);
      if (s["shared_pool"]) c.boolean(s["shared_pool"], what + " shared_pool");
    } else if (kind == "dns") {
      if (!c.map(s, what, {"a", "cname", "ttl", "behaviour", "names"})) continue;
      if (const Node a = s["a"]) {
        if (!a.IsMap()) {
          c.err(a, "expected " + what + " a (a map of name to address), got " + checker::kind_of(a));
        } else {
          for (const auto& r : a) c.ips(r.second, what + " address of " + r.first.Scalar());
        }
      }
      if (const Node cn = s["cname"]) {
        if (!cn.IsMap()) {
          c.err(cn, "expected " + what + " cname (a map of name to target), got " + checker::kind_of(cn));
        } else {
          for (const auto& r : cn) c.string(r.second, what + " cname target of " + r.first.Scalar());
        }
      }
      if (s["ttl"]) c.integer(s["ttl"], what + " ttl", 0, 0xFFFFFFFF);
      if (s["behaviour"]) check_dns_behaviour(c, s["behaviour"], what + " behaviour");
      if (const Node nm = s["names"]) {
        if (!nm.IsMap()) {
          c.err(nm, "expected " + what + " names (a map of name to behaviour), got " + checker::kind_of(nm));
        } else {
          for (const auto& r : nm)
            check_dns_behaviour(c, r.second, what + " behaviour for " + r.first.Scalar());
        }
      }
    } else if (kind == "http") {
      if (!c.map(s, what, {"port", "idle_timeout", "routes"}, {"routes"})) continue;
      if (s["port"]) c.integer(s["port"], what + " port", 1, 65535);
      if (s["idle_timeout"]) c.duration(s["idle_timeout"], what + " idle_timeout");
      if (const Node r = s["routes"]) {
        if (!r.IsSequence()) {
          c.err(r, "expected " + what + " routes (a list), got " + checker::kind_of(r));
        } else {
          for (const auto& e : r) {
            const std::string rw = "route of " + what;
            if (!c.map(e, rw,
                       {"method", "path", "status", "body", "size", "echo", "content_type", "headers",
                        "framing", "chunk_size", "header_delay", "chunk_delay", "close"},
                       {"path"}))
              continue;
            if (e["method"]) c.string(e["method"], rw + " method");
            if (e["path"] && c.scalar(e["path"], rw + " path") && e["path"].Scalar().rfind('/', 0) != 0)
              c.err(e["path"],
                    "expected " + rw + " path starting with '/', got '" + e["path"].Scalar() + "'");
            if (e["status"]) c.integer(e["status"], rw + " status", 100, 999);
            if (e["body"]) c.string(e["body"], rw + " body");
            if (e["size"]) c.size(e["size"], rw + " size");
            if (e["body"] && e["size"]) c.err(e["size"], "a route has either 'body' or 'size', not both");
            if (e["echo"]) c.boolean(e["echo"], rw + " echo");
            if (e["content_type"]) c.string(e["content_type"], rw + " content_type");
            if (const Node h = e["headers"]; h && !h.IsMap())
              c.err(h, "expected " + rw + " headers (a map), got " + checker::kind_of(h));
            if (e["framing"]) c.one_of(e["framing"], rw + " framing", {"content_length", "chunked", "close"});
            if (e["chunk_size"]) c.size(e["chunk_size"], rw + " chunk_size");
            if (e["header_delay"]) c.duration(e["header_delay"], rw + " header_delay");
            if (e["chunk_delay"]) c.duration(e["chunk_delay"], rw + " chunk_delay");
            if (e["close"]) c.boolean(e["close"], rw + " close");
          }
        }
      }
    } else if (kind == "tcp_echo" || kind == "tcp_discard" || kind == "udp_echo") {
      if (s.IsNull()) continue;
      if (!c.map(s, what, {"port"})) continue;
      if (s["port"]) c.integer(s["port"], what + " port", 1, 65535);
    } else if (kind == "tcp_sink") {
      if (s.IsNull()) continue;
      if (!c.map(s, what, {"port", "pause_after", "pause_for", "initial_pause", "keep"})) continue;
      if (s["port"]) c.integer(s["port"], what + " port", 1, 65535);
      if (s["pause_after"]) c.size(s["pause_after"], what + " pause_after");
      if (s["pause_for"]) c.duration(s["pause_for"], what + " pause_for");
      if (static_cast<bool>(s["pause_after"]) != static_cast<bool>(s["pause_for"]))
        c.err(s, what + ": 'pause_after' and 'pause_for' go together");
      if (s["initial_pause"]) c.duration(s["initial_pause"], what + " initial_pause");
      if (s["keep"]) c.boolean(s["keep"], what + " keep");
    } else if (kind == "tcp_source") {
      if (s.IsNull()) continue;
      if (!c.map(s, what, {"port", "size", "close"})) continue;
      if (s["port"]) c.integer(s["port"], what + " port", 1, 65535);
      if (s["size"]) c.size(s["size"], what + " size");
      if (s["close"]) c.boolean(s["close"], what + " close");
    } else if (kind == "tcp_reply") {
      if (!c.map(s, what, {"port", "on", "reply", "reply_size", "delay", "then", "then_delay"}, {"port"}))
        continue;
      if (s["port"]) c.integer(s["port"], what + " port", 1, 65535);
      if (s["on"]) c.one_of(s["on"], what + " on", {"data", "connect"});
      if (s["reply"]) c.string(s["reply"], what + " reply");
      if (s["reply_size"]) c.size(s["reply_size"], what + " reply_size");
      if (s["delay"]) c.duration(s["delay"], what + " delay");
      if (s["then"]) c.one_of(s["then"], what + " then", {"close", "reset", "keep"});
      if (s["then_delay"]) c.duration(s["then_delay"], what + " then_delay");
    }
  }
}

void check_peers(checker& c, const Node& n) {
  if (!n.IsSequence()) return c.err(n, "expected peers (a list), got " + checker::kind_of(n));
  // Names first, so services can be checked against every peer regardless of order.
  for (const auto& p : n) {
    if (!p.IsMap() || !p["name"] || !p["name"].IsScalar()) continue;
    const std::string name = p["name"].Scalar();
    if (c.peers.count(name))
      c.err(p["name"], "duplicate peer name '" + name + "'");
    else if (name == "chip")
      c.err(p["name"], "a peer cannot be called 'chip' (that is the chip's link)");
    else if (name.empty() || name.find_first_of(". :/") != std::string::npos)
      c.err(p["name"], "a peer name must not be empty nor contain '.', ':', '/' or spaces: '" + name + "'");
    c.peers[name];
  }
  for (const auto& p : n) {
    if (!c.map(p, "a peer",
               {"name", "ip", "mac", "netmask", "gateway", "link", "tcp_window", "tcp_mss", "answer_ping",
                "reset_closed_ports", "multicast", "services"},
               {"name"}))
      continue;
    const std::string name = p["name"] ? p["name"].as<std::string>("") : "";
    if (p["ip"]) c.ip(p["ip"], "peer ip");
    if (p["mac"]) c.mac(p["mac"], "peer mac");
    if (p["netmask"]) c.ip(p["netmask"], "peer netmask");
    if (p["gateway"]) c.ip(p["gateway"], "peer gateway");
    if (p["link"]) check_link_cfg(c, p["link"], "peer link");
    if (p["tcp_window"]) c.integer(p["tcp_window"], "peer tcp_window", 1, 65535);
    if (p["tcp_mss"]) c.integer(p["tcp_mss"], "peer tcp_mss", 64, 1460);
    if (p["answer_ping"]) c.boolean(p["answer_ping"], "peer answer_ping");
    if (p["reset_closed_ports"]) c.boolean(p["reset_closed_ports"], "peer reset_closed_ports");
    if (const Node m = p["multicast"]) {
      if (!m.IsSequence())
        c.err(m, "expected peer multicast (a list of group addresses), got " + checker::kind_of(m));
      else
        for (const auto& g : m) c.ip(g, "multicast group");
    }
    if (p["services"]) check_services(c, p["services"], name, c.peers[name], static_cast<bool>(p["ip"]));
  }
}

void check_faults(checker& c, const Node& n) {
  if (!n.IsSequence()) return c.err(n, "expected faults (a list), got " + checker::kind_of(n));
  for (const auto& f : n) {
    if (!c.map(f, "a fault rule",
               {"link", "dir", "kind", "match", "probability", "nth", "limit", "from", "until", "delay",
                "jitter", "truncate_to", "corrupt_offset", "corrupt_mask", "label"},
               {"kind"}))
      continue;
    if (f["link"]) c.link(f["link"], "fault link");
    if (f["dir"]) c.one_of(f["dir"], "fault dir", {"out", "in", "both"});
    if (f["kind"])
      c.one_of(f["kind"], "fault kind", {"drop", "delay", "duplicate", "reorder", "corrupt", "truncate"});
    if (f["match"]) c.filter(f["match"], "fault match");
    if (f["probability"]) c.number01(f["probability"], "fault probability");
    if (f["nth"]) c.integer(f["nth"], "fault nth", 1);
    if (f["limit"]) c.integer(f["limit"], "fault limit", 1);
    for (const char* k : {"from", "until", "delay", "jitter"})
      if (f[k]) c.duration(f[k], std::string("fault ") + k);
    if (f["truncate_to"]) c.size(f["truncate_to"], "fault truncate_to");
    if (f["corrupt_offset"]) c.integer(f["corrupt_offset"], "fault corrupt_offset", 0, 1513);
    if (f["corrupt_mask"]) c.integer(f["corrupt_mask"], "fault corrupt_mask", 1, 255);
    if (f["label"]) c.string(f["label"], "fault label");
    if (f["kind"] && f["kind"].IsScalar()) {
      const std::string k = f["kind"].Scalar();
      if ((k == "delay" || k == "reorder") && !f["delay"]) c.err(f, "a " + k + " fault needs 'delay'");
      if (k == "truncate" && !f["truncate_to"]) c.err(f, "a truncate fault needs 'truncate_to'");
    }
  }
}

void check_behaviour_change(checker& c, const Node& n, const std::string& kind, const std::string& what) {
  if (kind == "link_down" || kind == "link_up") {
    if (n.IsNull() || (n.IsMap() && n.size() == 0)) return;
    return c.link(n, what);
  }
  if (kind == "dhcp_behaviour") {
    if (!c.map(n, what, {"peer", "behaviour"}, {"peer", "behaviour"})) return;
    if (n["peer"]) c.peer_with(n["peer"], what, "dhcp");
    if (n["behaviour"]) c.one_of(n["behaviour"], what + " behaviour", k_dhcp_behaviours);
    return;
  }
  if (kind == "dns_behaviour") {
    if (!c.map(n, what, {"peer", "behaviour", "name"}, {"peer", "behaviour"})) return;
    if (n["peer"]) c.peer_with(n["peer"], what, "dns");
    if (n["behaviour"]) check_dns_behaviour(c, n["behaviour"], what + " behaviour");
    if (n["name"]) c.string(n["name"], what + " name");
  }
}

void check_schedule(checker& c, const Node& n) {
  if (!n.IsSequence()) return c.err(n, "expected schedule (a list), got " + checker::kind_of(n));
  const std::vector<std::string> actions = {"link_down", "link_up", "dhcp_behaviour", "dns_behaviour"};
  for (const auto& e : n) {
    std::vector<std::string> allowed = actions;
    allowed.push_back("at");
    if (!c.map(e, "a schedule entry", allowed, {"at"})) continue;
    if (e["at"]) c.duration(e["at"], "schedule at");
    int found = 0;
    for (const auto& kv : e) {
      const std::string k = kv.first.Scalar();
      if (k == "at") continue;
      if (std::find(actions.begin(), actions.end(), k) == actions.end()) continue;
      ++found;
      check_behaviour_change(c, kv.second, k, "schedule " + k);
    }
    if (found != 1) c.err(e, "a schedule entry needs exactly one action (" + join(actions) + ")");
  }
}

void check_frames(checker& c, const Node& n, const std::string& what, bool window) {
  std::vector<std::string> keys = {"match", "count", "link"};
  if (window) {
    keys.push_back("from");
    keys.push_back("until");
  }
  if (!c.map(n, what, keys, {"match"})) return;
  if (n["match"]) c.filter(n["match"], what + " match");
  if (n["count"]) c.count(n["count"], what + " count");
  if (n["link"]) c.link(n["link"], what + " link");
  if (n["from"]) c.duration(n["from"], what + " from");
  if (n["until"]) c.duration(n["until"], what + " until");
}

const std::vector<std::string> k_actions = {
    "begin",       "set_ifconfig",    "set_retry",    "dhcp",           "maintain_dhcp", "dns",
    "http_get",    "http_post",       "tcp_connect",  "tcp_send",       "tcp_recv",      "tcp_close",
    "udp_sendto",  "udp_recvfrom",    "close",        "socket_status",  "open_sockets",  "wsgi_serve",
    "link_down",   "link_up",         "wait",         "dhcp_behaviour", "dns_behaviour", "macraw_open",
    "macraw_send", "macraw_recv",     "macraw_close", "udp_multicast",  "peer_udp_send", "tcp_listen",
    "tcp_accept",  "peer_tcp_connect"};

void check_data_source(checker& c, const Node& n, const std::string& what, bool required) {
  if (n["data"] && n["size"]) c.err(n["size"], what + " takes 'data' or 'size', not both");
  if (n["data"]) c.string(n["data"], what + " data");
  if (n["size"]) c.size(n["size"], what + " size");
  if (required && !n["data"] && !n["size"]) c.err(n, what + " needs 'data' or 'size'");
}

void check_step_expect(checker& c, const Node& e, const std::string& action) {
  if (!c.map(e, "the expect of a " + action + " step",
             {"ok", "error", "message", "elapsed", "ip", "status", "headers", "body", "data", "stream",
              "from", "sent", "state", "dhcp_state", "opened", "served", "rejected", "frame", "frames"}))
    return;
  auto only = [&](const char* key, std::vector<std::string> actions) {
    if (e[key] && std::find(actions.begin(), actions.end(), action) == actions.end())
      c.err(e[key], std::string("'") + key + "' cannot be expected of a " + action +
                        " step (only of: " + join(actions) + ")");
  };
  if (e["ok"]) c.boolean(e["ok"], "expect ok");
  if (e["error"]) c.one_of(e["error"], "expected error", k_errors);
  if (e["ok"] && e["error"] && e["ok"].as<std::string>("") == "true")
    c.err(e["ok"], "'ok: true' contradicts 'error'");
  if (e["message"]) c.string(e["message"], "expected message");
  if (e["elapsed"]) c.time_range(e["elapsed"], "expected elapsed");
  if (e["ip"]) c.ip(e["ip"], "expected ip");
  only("ip", {"begin", "dhcp", "maintain_dhcp", "dns"});
  if (e["status"]) c.integer(e["status"], "expected status", 100, 999);
  only("status", {"http_get", "http_post"});
  if (const Node h = e["headers"]; h && !h.IsMap())
    c.err(h, "expected headers (a map of name to value), got " + checker::kind_of(h));
  only("headers", {"http_get", "http_post"});
  if (e["body"]) c.bytes(e["body"], "expected body");
  only("body", {"http_get", "http_post"});
  if (e["data"]) c.bytes(e["data"], "expected data");
  only("data", {"tcp_recv", "udp_recvfrom", "macraw_recv"});
  if (e["stream"]) c.bytes(e["stream"], "expected stream");
  only("stream", {"tcp_recv"});
  if (const Node f = e["from"]; f && action == "tcp_accept") {
    // The peer's address, with or without its port: ip, ip:port, peer or peer:port.
    if (c.scalar(f, "expected from (a peer or an ip, optionally :port)")) {
      const std::string t = f.Scalar();
      const auto colon = t.rfind(':');
      if (colon != std::string::npos) {
        const std::uint64_t port = parse_uint(t.substr(colon + 1)).value_or(0);
        if (port == 0 || port > 65535) c.err(f, "bad port in expected from '" + t + "' (expected 1..65535)");
      }
      const std::string h = t.substr(0, colon);
      if (!parse_ip(h) && !c.peers.count(h))
        c.err(f, "expected from (a peer or an ip, optionally :port), got '" + t +
                     "' (peers: " + c.peer_names() + ")");
    }
  } else if (f) {
    c.string(f, "expected from");
  }
  only("from", {"udp_recvfrom", "tcp_accept"});
  if (e["sent"]) c.count(e["sent"], "expected sent");
  only("sent", {"tcp_send", "udp_sendto", "macraw_send", "peer_udp_send"});
  if (e["state"]) c.one_of(e["state"], "expected state", k_states);
  only("state", {"socket_status"});
  if (e["dhcp_state"]) c.one_of(e["dhcp_state"], "expected dhcp_state", k_dhcp_states);
  only("dhcp_state", {"begin", "dhcp", "maintain_dhcp"});
  if (e["opened"]) c.count(e["opened"], "expected opened");
  only("opened", {"open_sockets"});
  if (e["served"]) c.count(e["served"], "expected served");
  if (e["rejected"]) c.count(e["rejected"], "expected rejected");
  only("served", {"wsgi_serve"});
  only("rejected", {"wsgi_serve"});
  if (e["frame"]) c.filter(e["frame"], "expected frame");
  only("frame", {"macraw_recv"});
  if (const Node f = e["frames"]) {
    if (!f.IsSequence())
      c.err(f, "expected frames (a list of frame checks), got " + checker::kind_of(f));
    else
      for (const auto& x : f) check_frames(c, x, "step frames check", false);
  }
}

void check_wsgi(checker& c, const Node& n) {
  const std::string what = "wsgi_serve";
  if (!c.map(n, what,
             {"port", "app", "status", "body", "size", "content_type", "listeners", "server_timeout", "poll",
              "timeout", "requests"},
             {"requests"}))
    return;
  if (n["port"]) c.integer(n["port"], what + " port", 1, 65535);
  if (n["app"]) c.one_of(n["app"], what + " app", {"hello", "echo", "fixed", "no_response"});
  if (n["status"] && c.scalar(n["status"], what + " status")) {
    const std::string s = n["status"].Scalar();
    if (s.size() < 5 || !std::isdigit(static_cast<unsigned char>(s[0])) || s[3] != ' ')
      c.err(n["status"], "expected " + what + " status like \"200 OK\", got '" + s + "'");
  }
  if (n["body"]) c.string(n["body"], what + " body");
  if (n["size"]) c.size(n["size"], what + " size");
  if (n["content_type"]) c.string(n["content_type"], what + " content_type");
  if (n["listeners"]) c.integer(n["listeners"], what + " listeners", 0, 7);
  for (const char* k : {"server_timeout", "poll", "timeout"})
    if (n[k]) c.duration(n[k], what + " " + k);
  if (const Node r = n["requests"]) {
    if (!r.IsSequence() || r.size() == 0) return c.err(r, "expected wsgi_serve requests (a non-empty list)");
    for (const auto& q : r) {
      const std::string qw = "a wsgi_serve request";
      if (!c.map(q, qw, {"from", "method", "path", "headers", "body", "at", "raw", "expect"}, {"from"}))
        continue;
      if (q["from"]) c.peer_with(q["from"], qw + " from", "");
      if (q["method"]) c.string(q["method"], qw + " method");
      if (q["path"]) c.string(q["path"], qw + " path");
      if (const Node h = q["headers"]; h && !h.IsMap())
        c.err(h, "expected " + qw + " headers (a map), got " + checker::kind_of(h));
      if (q["body"]) c.string(q["body"], qw + " body");
      if (q["at"]) c.duration(q["at"], qw + " at");
      if (q["raw"]) c.string(q["raw"], qw + " raw");
      if (const Node e = q["expect"]) {
        if (!c.map(e, "the expect of a wsgi_serve request", {"status", "body", "error"})) continue;
        if (e["status"]) c.integer(e["status"], "expected status", 100, 999);
        if (e["body"]) c.bytes(e["body"], "expected body");
        if (e["error"]) c.boolean(e["error"], "expected error");
      }
    }
  }
}

void check_step(checker& c, const Node& s, std::set<std::string>& sockets) {
  std::vector<std::string> allowed = k_actions;
  allowed.insert(allowed.end(), {"expect", "at", "label"});
  if (!c.map(s, "a step", allowed)) return;
  std::string action;
  int found = 0;
  for (const auto& kv : s) {
    const std::string k = kv.first.Scalar();
    if (std::find(k_actions.begin(), k_actions.end(), k) != k_actions.end()) {
      ++found;
      action = k;
    }
  }
  if (found != 1)
    return c.err(s,
                 "a step needs exactly one action (" + join(k_actions) + "), found " + std::to_string(found));
  if (s["at"]) c.duration(s["at"], "step at");
  if (s["label"]) c.string(s["label"], "step label");
  const Node v = s[action];
  const std::string w = action;
  auto socket_ref = [&](const Node& n, const std::string& what) {
    if (!c.scalar(n, what + " (a socket name)")) return;
    if (!sockets.count(n.Scalar()))
      c.err(n, "unknown socket '" + n.Scalar() + "' in " + what + " (no earlier step opens it)");
  };
  auto empty_ok = [&](const Node& n) { return n.IsNull() || (n.IsMap() && n.size() == 0); };
  if (action == "begin") {
    if (!empty_ok(v) && c.map(v, w, {"dhcp", "hostname", "mac"})) {
      if (v["dhcp"]) c.boolean(v["dhcp"], "begin dhcp");
      if (v["hostname"]) c.string(v["hostname"], "begin hostname");
      if (v["mac"]) c.mac(v["mac"], "begin mac");
    }
  } else if (action == "set_ifconfig") {
    if (c.map(v, w, {"ip", "netmask", "gateway", "dns"}, {"ip"}))
      for (const char* k : {"ip", "netmask", "gateway", "dns"})
        if (v[k]) c.ip(v[k], std::string("set_ifconfig ") + k);
  } else if (action == "set_retry") {
    if (c.map(v, w, {"rtr", "rcr"})) {
      if (v["rtr"]) {
        c.duration(v["rtr"], "set_retry rtr");
        auto d = v["rtr"].IsScalar() ? parse_duration(v["rtr"].Scalar()) : std::nullopt;
        if (d && (*d % us(100) != 0 || *d / us(100) > 65535))
          c.err(v["rtr"], "set_retry rtr must be a multiple of 100us up to 6.5535s");
      }
      if (v["rcr"]) c.integer(v["rcr"], "set_retry rcr", 0, 255);
    }
  } else if (action == "dhcp") {
    if (!empty_ok(v) && c.map(v, w, {"hostname"}) && v["hostname"]) c.string(v["hostname"], "dhcp hostname");
  } else if (action == "maintain_dhcp") {
    if (c.map(v, w, {"for", "every"}, {"for"})) {
      if (v["for"]) c.duration(v["for"], "maintain_dhcp for");
      if (v["every"]) c.duration(v["every"], "maintain_dhcp every");
    }
  } else if (action == "dns") {
    if (v.IsScalar()) {
      if (v.Scalar().empty()) c.err(v, "expected a name to look up");
    } else if (c.map(v, w, {"name", "tries", "timeout"}, {"name"})) {
      if (v["name"]) c.string(v["name"], "dns name");
      if (v["tries"]) c.integer(v["tries"], "dns tries", 1, 255);
      if (v["timeout"]) c.duration(v["timeout"], "dns timeout");
    }
  } else if (action == "http_get" || action == "http_post") {
    if (v.IsScalar()) {
      c.url(v, action + " url");
    } else if (c.map(v, w, {"url", "headers", "timeout", "body", "body_size", "content_type"}, {"url"})) {
      if (v["url"]) c.url(v["url"], action + " url");
      if (const Node h = v["headers"]; h && !h.IsMap())
        c.err(h, "expected " + action + " headers (a map), got " + checker::kind_of(h));
      if (v["timeout"]) c.duration(v["timeout"], action + " timeout");
      if (action == "http_get" && (v["body"] || v["body_size"]))
        c.err(v["body"] ? v["body"] : v["body_size"], "http_get sends no body (use http_post)");
      if (v["body"]) c.string(v["body"], action + " body");
      if (v["body_size"]) c.size(v["body_size"], action + " body_size");
      if (v["content_type"]) c.string(v["content_type"], action + " content_type");
    }
  } else if (action == "tcp_connect") {
    if (v.IsScalar()) {
      c.endpoint(v, "tcp_connect");
      sockets.insert("tcp");
    } else if (c.map(v, w, {"to", "as", "timeout", "local_port"}, {"to"})) {
      if (v["to"]) c.endpoint(v["to"], "tcp_connect to");
      if (v["as"]) c.string(v["as"], "tcp_connect as");
      if (v["timeout"]) c.duration(v["timeout"], "tcp_connect timeout");
      if (v["local_port"]) c.integer(v["local_port"], "tcp_connect local_port", 1, 65535);
      sockets.insert(v["as"] && v["as"].IsScalar() ? v["as"].Scalar() : "tcp");
    }
  } else if (action == "tcp_send") {
    if (c.map(v, w, {"socket", "data", "size", "timeout"})) {
      socket_ref(v["socket"] ? v["socket"] : Node("tcp"), "tcp_send socket");
      check_data_source(c, v, "tcp_send", true);
      if (v["timeout"]) c.duration(v["timeout"], "tcp_send timeout");
    }
  } else if (action == "tcp_recv") {
    if (!empty_ok(v) && c.map(v, w, {"socket", "size", "timeout"})) {
      if (v["socket"]) socket_ref(v["socket"], "tcp_recv socket");
      if (v["size"]) c.size(v["size"], "tcp_recv size");
      if (v["timeout"]) c.duration(v["timeout"], "tcp_recv timeout");
    }
    if (empty_ok(v) || !v["socket"]) socket_ref(Node("tcp"), "tcp_recv socket");
  } else if (action == "tcp_close") {
    if (v.IsScalar())
      socket_ref(v, "tcp_close");
    else if (empty_ok(v))
      socket_ref(Node("tcp"), "tcp_close");
    else if (c.map(v, w, {"socket"}))
      socket_ref(v["socket"] ? v["socket"] : Node("tcp"), "tcp_close socket");
  } else if (action == "tcp_listen") {
    if (c.map(v, w, {"socket", "port"}, {"port"})) {
      if (v["socket"]) c.string(v["socket"], "tcp_listen socket");
      if (v["port"]) c.integer(v["port"], "tcp_listen port", 1, 65535);
      const std::string name = v["socket"] && v["socket"].IsScalar() ? v["socket"].Scalar() : "server";
      sockets.insert(name);
      c.listeners.insert(name);
    }
  } else if (action == "tcp_accept") {
    if (!empty_ok(v) && c.map(v, w, {"socket", "as", "timeout"})) {
      if (v["as"]) c.string(v["as"], "tcp_accept as");
      if (v["timeout"]) c.duration(v["timeout"], "tcp_accept timeout");
    }
    // The default listener name is reported at the step (a made-up node has no position).
    const bool named = v.IsMap() && v["socket"];
    const Node l = named ? v["socket"] : Node("server");
    const Node at = named ? v["socket"] : s;
    if (c.scalar(l, "tcp_accept socket (a socket name)")) {
      if (!sockets.count(l.Scalar()))
        c.err(at, "unknown socket '" + l.Scalar() + "' in tcp_accept socket (no earlier step opens it)");
      else if (!c.listeners.count(l.Scalar()))
        c.err(at, "socket '" + l.Scalar() + "' in tcp_accept socket is not listening (tcp_listen opens one)");
    }
    sockets.insert(v.IsMap() && v["as"] && v["as"].IsScalar() ? v["as"].Scalar() : "tcp");
  } else if (action == "peer_tcp_connect") {
    if (c.map(v, w, {"peer", "to", "as", "send", "close", "at", "port"}, {"peer", "to"})) {
      if (v["peer"]) c.peer_with(v["peer"], "peer_tcp_connect peer", "");
      if (v["to"]) c.integer(v["to"], "peer_tcp_connect to (the chip's port)", 1, 65535);
      if (v["as"]) c.string(v["as"], "peer_tcp_connect as");
      if (const Node d = v["send"];
          d && !d.IsScalar() && c.map(d, "peer_tcp_connect send", {"size"}, {"size"}))
        if (d["size"]) c.size(d["size"], "peer_tcp_connect send size");
      if (v["close"]) c.boolean(v["close"], "peer_tcp_connect close");
      if (v["at"]) c.duration(v["at"], "peer_tcp_connect at");
      if (v["port"]) c.integer(v["port"], "peer_tcp_connect port", 1, 65535);
      const Node as = v["as"] ? v["as"] : v["peer"];
      if (as && as.IsScalar()) c.conns.insert(as.Scalar());
    }
  } else if (action == "udp_sendto") {
    if (c.map(v, w, {"to", "data", "size", "socket", "port"}, {"to"})) {
      if (v["to"]) c.endpoint(v["to"], "udp_sendto to");
      check_data_source(c, v, "udp_sendto", true);
      if (v["port"]) c.integer(v["port"], "udp_sendto port", 1, 65535);
      if (v["socket"]) c.string(v["socket"], "udp_sendto socket");
      sockets.insert(v["socket"] && v["socket"].IsScalar() ? v["socket"].Scalar() : "udp");
    }
  } else if (action == "udp_recvfrom") {
    if (!empty_ok(v) && c.map(v, w, {"socket", "timeout"})) {
      if (v["timeout"]) c.duration(v["timeout"], "udp_recvfrom timeout");
    }
    socket_ref(v.IsMap() && v["socket"] ? v["socket"] : Node("udp"), "udp_recvfrom socket");
  } else if (action == "udp_multicast") {
    if (c.map(v, w, {"group", "port", "local_port", "as"}, {"group"})) {
      if (v["group"] && c.scalar(v["group"], "udp_multicast group")) {
        auto g = parse_ip(v["group"].Scalar());
        if (!g || (*g >> 28) != 0xE)
          c.err(v["group"], "expected udp_multicast group (an address in 224.0.0.0/4), got '" +
                                v["group"].Scalar() + "'");
      }
      if (v["port"]) c.integer(v["port"], "udp_multicast port", 1, 65535);
      if (v["local_port"]) c.integer(v["local_port"], "udp_multicast local_port", 1, 65535);
      if (v["as"]) c.string(v["as"], "udp_multicast as");
      sockets.insert(v["as"] && v["as"].IsScalar() ? v["as"].Scalar() : "udp");
    }
  } else if (action == "peer_udp_send") {
    if (c.map(v, w, {"from", "to", "data", "size", "port"}, {"from", "to"})) {
      if (v["from"]) c.peer_with(v["from"], "peer_udp_send from", "");
      if (v["to"] && c.scalar(v["to"], "peer_udp_send to (ip:port)")) {
        const std::string t = v["to"].Scalar();
        const auto colon = t.rfind(':');
        const std::uint64_t port =
            colon == std::string::npos ? 0 : parse_uint(t.substr(colon + 1)).value_or(0);
        if (colon == std::string::npos || !parse_ip(t.substr(0, colon)) || port == 0 || port > 65535)
          c.err(v["to"],
                "expected peer_udp_send to as ip:port (a dotted quad: the chip, a broadcast or a group), got "
                "'" +
                    t + "'");
      }
      check_data_source(c, v, "peer_udp_send", true);
      if (v["port"]) c.integer(v["port"], "peer_udp_send port", 1, 65535);
    }
  } else if (action == "close" || action == "socket_status") {
    if (c.scalar(v, action + " (a socket name)") && !(action == "close" && v.Scalar() == "all"))
      socket_ref(v, action);
  } else if (action == "open_sockets") {
    if (c.map(v, w, {"count", "type", "as"}, {"count"})) {
      if (v["count"]) c.integer(v["count"], "open_sockets count", 1, 16);
      if (v["type"]) c.one_of(v["type"], "open_sockets type", {"tcp", "udp"});
      if (v["as"]) c.string(v["as"], "open_sockets as");
      const std::string prefix = v["as"] && v["as"].IsScalar() ? v["as"].Scalar() : "s";
      for (int i = 0; i < 16; ++i) sockets.insert(prefix + std::to_string(i));
    }
  } else if (action == "wsgi_serve") {
    check_wsgi(c, v);
  } else if (action == "link_down" || action == "link_up" || action == "dhcp_behaviour" ||
             action == "dns_behaviour") {
    check_behaviour_change(c, v, action, action);
  } else if (action == "wait") {
    c.duration(v, "wait");
  } else if (action == "macraw_open") {
    if (!empty_ok(v) && c.map(v, w, {"mac_filter"}) && v["mac_filter"])
      c.boolean(v["mac_filter"], "macraw_open mac_filter");
  } else if (action == "macraw_send") {
    if (c.map(v, w, {"hex", "dst", "src", "type", "payload", "size", "arp_request"})) {
      const int forms = (v["hex"] ? 1 : 0) + (v["arp_request"] ? 1 : 0) + (v["dst"] ? 1 : 0);
      if (forms != 1)
        c.err(v, "macraw_send needs exactly one of 'hex', 'dst' (with type and payload) or 'arp_request'");
      if (v["hex"] && c.scalar(v["hex"], "macraw_send hex")) {
        std::string h;
        for (char ch : v["hex"].Scalar())
          if (!std::isspace(static_cast<unsigned char>(ch))) h += ch;
        if (h.size() % 2 || h.size() < 28 ||
            h.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
          c.err(
              v["hex"],
              "expected macraw_send hex: an even number of hex digits, at least a 14-octet Ethernet header");
      }
      if (v["dst"]) c.mac(v["dst"], "macraw_send dst");
      if (v["src"]) c.mac(v["src"], "macraw_send src");
      if (v["type"]) c.integer(v["type"], "macraw_send type", 0, 0xFFFF);
      if (v["payload"]) c.string(v["payload"], "macraw_send payload");
      if (v["size"]) c.size(v["size"], "macraw_send size");
      if (v["arp_request"]) c.ip(v["arp_request"], "macraw_send arp_request");
    }
  } else if (action == "macraw_recv") {
    if (!empty_ok(v) && c.map(v, w, {"match", "timeout"})) {
      if (v["match"]) c.filter(v["match"], "macraw_recv match");
      if (v["timeout"]) c.duration(v["timeout"], "macraw_recv timeout");
    }
  } else if (action == "macraw_close") {
    if (!empty_ok(v)) c.err(v, "macraw_close takes no settings ({})");
  }
  if (s["expect"]) check_step_expect(c, s["expect"], action);
}

void check_expect(checker& c, const Node& n, const std::set<std::string>& sockets) {
  if (!n.IsSequence()) return c.err(n, "expected expect (a list of checks), got " + checker::kind_of(n));
  const std::vector<std::string> kinds = {"frames", "peer",   "sockets_closed", "socket",
                                          "time",   "faults", "peer_received"};
  for (const auto& e : n) {
    if (!c.map(e, "a scenario expectation", kinds)) continue;
    if (e.size() != 1) {
      c.err(e, "a scenario expectation needs exactly one kind (" + join(kinds) + ")");
      continue;
    }
    const std::string k = e.begin()->first.Scalar();
    const Node v = e.begin()->second;
    if (k == "frames")
      check_frames(c, v, "frames expectation", true);
    else if (k == "sockets_closed")
      c.boolean(v, "sockets_closed");
    else if (k == "socket") {
      if (!c.map(v, "a socket expectation", {"name", "state"}, {"name", "state"})) continue;
      if (v["name"] && c.scalar(v["name"], "socket name") && !sockets.count(v["name"].Scalar()))
        c.err(v["name"], "unknown socket '" + v["name"].Scalar() + "' (no step opens it)");
      if (v["state"]) c.one_of(v["state"], "expected state", k_states);
    } else if (k == "time")
      c.time_range(v, "expected time");
    else if (k == "peer_received") {
      if (!c.map(v, "a peer_received expectation", {"conn", "bytes", "state"}, {"conn"})) continue;
      if (v["conn"] && c.scalar(v["conn"], "peer_received conn (a connection name)") &&
          !c.conns.count(v["conn"].Scalar()))
        c.err(v["conn"],
              "unknown connection '" + v["conn"].Scalar() + "' in peer_received conn" +
                  suggest(v["conn"].Scalar(), {c.conns.begin(), c.conns.end()}) +
                  " (no peer_tcp_connect step opens it; connections: " +
                  (c.conns.empty() ? std::string("none") : join({c.conns.begin(), c.conns.end()})) + ")");
      if (v["bytes"]) c.bytes(v["bytes"], "peer_received bytes");
      if (v["state"]) c.one_of(v["state"], "peer_received state", k_peer_conn_states);
    } else if (k == "faults") {
      if (!c.map(v, "a faults expectation",
                 {"link", "considered", "dropped", "delayed", "duplicated", "reordered", "corrupted",
                  "truncated"}))
        continue;
      if (v["link"]) c.link(v["link"], "faults link");
      for (const auto& kv : v)
        if (kv.first.Scalar() != "link") c.count(kv.second, "faults " + kv.first.Scalar());
    } else if (k == "peer") {
      if (!c.map(v, "a peer expectation",
                 {"name", "dhcp", "dns", "http", "tcp_echo", "tcp_discard", "tcp_sink", "tcp_source",
                  "tcp_reply", "udp_echo"},
                 {"name"}))
        continue;
      if (v["name"]) c.peer_with(v["name"], "peer expectation", "");
      for (const auto& kv : v) {
        const std::string svc = kv.first.Scalar();
        if (svc == "name") continue;
        if (v["name"] && v["name"].IsScalar() && c.peers.count(v["name"].Scalar()) &&
            !c.peers[v["name"].Scalar()].services.count(svc))
          c.err(kv.first, "peer '" + v["name"].Scalar() + "' has no " + svc + " service");
        std::vector<std::string> facts;
        if (svc == "dhcp")
          facts = {"discover", "offer",  "request", "ack",       "nak",    "decline",
                   "release",  "inform", "leases",  "malformed", "ignored"};
        else if (svc == "dns")
          facts = {"queries", "answers", "silent", "truncated", "malformed_in", "malformed_out"};
        else if (svc == "http")
          facts = {"connections", "requests", "responses", "parse_errors", "not_found"};
        else if (svc == "udp_echo")
          facts = {"datagrams", "bytes"};
        else
          facts = {"connections", "bytes_received", "bytes_sent", "closed", "aborted"};
        if (svc == "tcp_sink") facts.push_back("data");
        if (!c.map(kv.second, svc + " facts", facts)) continue;
        for (const auto& f : kv.second) {
          if (f.first.Scalar() == "data")
            c.bytes(f.second, "tcp_sink data");
          else
            c.count(f.second, svc + " " + f.first.Scalar());
        }
      }
    }
  }
}

loaded check_root(const Node& root, const std::string& origin) {
  checker c(origin);
  loaded out;
  if (!root.IsMap()) {
    c.err(root, "expected a scenario (a map with name, steps, ...), got " + checker::kind_of(root));
    out.errors = c.errors;
    return out;
  }
  c.map(root, "a scenario",
        {"name", "description", "tags", "seed", "budget", "chip", "peers", "faults", "schedule", "steps",
         "expect"},
        {"name", "steps"});
  auto sc = std::make_shared<scenario>();
  sc->file = origin;
  sc->root = root;
  if (const Node n = root["name"]) {
    if (c.scalar(n, "name (a string)")) {
      sc->name = n.Scalar();
      if (sc->name.empty() ||
          sc->name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
              std::string::npos)
        c.err(n, "expected a name of letters, digits, '.', '_' and '-', got '" + sc->name + "'");
    }
  }
  if (const Node n = root["description"]; n && c.scalar(n, "description (a string)"))
    sc->description = n.Scalar();
  if (const Node n = root["tags"]) {
    if (!n.IsSequence())
      c.err(n, "expected tags (a list of strings), got " + checker::kind_of(n));
    else
      for (const auto& t : n)
        if (c.scalar(t, "a tag (a string)")) sc->tags.push_back(t.Scalar());
  }
  if (const Node n = root["seed"]) {
    c.integer(n, "seed");
    if (n.IsScalar()) sc->seed = parse_uint(n.Scalar()).value_or(1);
  }
  if (const Node n = root["budget"]) {
    c.duration(n, "budget");
    if (n.IsScalar()) {
      sc->budget = parse_duration(n.Scalar()).value_or(seconds(300));
      if (sc->budget == 0) c.err(n, "budget must be more than 0");
    }
  }
  if (root["chip"]) check_chip(c, root["chip"]);
  if (root["peers"]) check_peers(c, root["peers"]);
  if (root["faults"]) check_faults(c, root["faults"]);
  if (root["schedule"]) check_schedule(c, root["schedule"]);
  std::set<std::string> sockets;  // names the steps open, for references from later steps and checks
  if (const Node st = root["steps"]) {
    if (!st.IsSequence() || st.size() == 0) {
      c.err(st, "expected steps (a non-empty list), got " + checker::kind_of(st));
    } else {
      for (const auto& s : st) check_step(c, s, sockets);
    }
  }
  if (root["expect"]) check_expect(c, root["expect"], sockets);
  if (c.errors.empty()) c.errors = dry_build(*sc);
  out.errors = c.errors;
  if (out.errors.empty()) out.value = sc;
  return out;
}

}  // namespace

loaded load_text(const std::string& text, const std::string& origin) {
  try {
    Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      loaded out;
      out.errors.push_back({origin, e.mark.line < 0 ? 0 : e.mark.line + 1,
                            e.mark.column < 0 ? 0 : e.mark.column + 1, "malformed YAML: " + e.msg});
      return out;
    }
    if (!root || root.IsNull()) {
      loaded out;
      out.errors.push_back({origin, 0, 0, "empty file: expected a scenario (a map with name, steps, ...)"});
      return out;
    }
    return check_root(root, origin);
  } catch (const std::exception& e) {
    loaded out;
    out.errors.push_back({origin, 0, 0, std::string("cannot load: ") + e.what()});
    return out;
  } catch (...) {
    loaded out;
    out.errors.push_back({origin, 0, 0, "cannot load: unknown error"});
    return out;
  }
}

loaded load_file(const std::string& path) {
  try {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      loaded out;
      out.errors.push_back({path, 0, 0, "cannot open the file (missing or unreadable)"});
      return out;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    return load_text(ss.str(), path);
  } catch (...) {
    loaded out;
    out.errors.push_back({path, 0, 0, "cannot read the file"});
    return out;
  }
}

const std::string& name_of(const scenario& s) {
  return s.name;
}
const std::string& file_of(const scenario& s) {
  return s.file;
}
const std::string& description_of(const scenario& s) {
  return s.description;
}
std::vector<std::string> tags_of(const scenario& s) {
  return s.tags;
}

}  // namespace wizsim::scenario
