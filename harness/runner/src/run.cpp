// The executor: runs one loaded scenario's steps through the portable driver in virtual time, checks each
// step's expectations and then the scenario's, and writes the artifacts.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <optional>

#include "wiznet5k/dns.hpp"
#include "wiznet5k/wsgi.hpp"
#include "wizsim/harness/artifacts.hpp"
#include "wizsim/harness/filter.hpp"
#include "wizsim/host.hpp"
#include "world.hpp"

namespace wizsim::scenario {

namespace {

using namespace detail;
namespace sm = wiznet5k::socket_module;
using wiznet5k::errc;

wiznet5k::ip4 to_w(ip4_addr a) {
  return {static_cast<std::uint8_t>(a >> 24), static_cast<std::uint8_t>(a >> 16),
          static_cast<std::uint8_t>(a >> 8), static_cast<std::uint8_t>(a)};
}
ip4_addr from_w(const wiznet5k::ip4& a) {
  return ip4(a[0], a[1], a[2], a[3]);
}
wiznet5k::mac6 to_w(const mac_addr& m) {
  return {m[0], m[1], m[2], m[3], m[4], m[5]};
}

const char* errc_key(errc e) {
  switch (e) {
    case errc::ok:
      return "ok";
    case errc::value_error:
      return "value_error";
    case errc::runtime_error:
      return "runtime_error";
    case errc::connection_error:
      return "connection_error";
    case errc::timeout_error:
      return "timeout_error";
    case errc::would_block:
      return "would_block";
  }
  return "?";
}

const char* state_name(std::uint8_t sr) {
  switch (sr) {
    case wiznet5k::SNSR_SOCK_CLOSED:
      return "closed";
    case wiznet5k::SNSR_SOCK_INIT:
      return "init";
    case wiznet5k::SNSR_SOCK_LISTEN:
      return "listen";
    case wiznet5k::SNSR_SOCK_SYNSENT:
      return "synsent";
    case wiznet5k::SNSR_SOCK_SYNRECV:
      return "synrecv";
    case wiznet5k::SNSR_SOCK_ESTABLISHED:
      return "established";
    case wiznet5k::SNSR_SOCK_FIN_WAIT:
      return "fin_wait";
    case wiznet5k::SNSR_SOCK_CLOSING:
      return "closing";
    case wiznet5k::SNSR_SOCK_TIME_WAIT:
      return "time_wait";
    case wiznet5k::SNSR_SOCK_CLOSE_WAIT:
      return "close_wait";
    case wiznet5k::SNSR_SOCK_LAST_ACK:
      return "last_ack";
    case wiznet5k::SNSR_SOCK_UDP:
      return "udp";
    case wiznet5k::SNSR_SOCK_MACRAW:
      return "macraw";
    default:
      return "unknown";
  }
}

const char* dhcp_state_name(std::uint8_t s) {
  switch (s) {
    case wiznet5k::DHCP::STATE_INIT:
      return "init";
    case wiznet5k::DHCP::STATE_SELECTING:
      return "selecting";
    case wiznet5k::DHCP::STATE_REQUESTING:
      return "requesting";
    case wiznet5k::DHCP::STATE_BOUND:
      return "bound";
    case wiznet5k::DHCP::STATE_RENEWING:
      return "renewing";
    case wiznet5k::DHCP::STATE_REBINDING:
      return "rebinding";
    default:
      return "unknown";
  }
}

// A peer_tcp_connect connection as the peer's TCP sees it (the words of docs/scenarios.md).
std::string peer_conn_state(const peer_conn& c) {
  // A scheduled connect the peer's stack rejected (its source port in use) never left the peer.
  if (!c.conn) return c.end_reason.empty() ? "connecting" : "refused";
  if (c.conn->state() == tcp_state::closed) {
    const std::string& why = c.conn->close_reason();
    if (why.empty()) return "connecting";  // the connect is scheduled, no SYN yet
    if (why == "closed") return "closed";
    if (why == "connection refused") return "refused";
    return "reset";  // reset by the chip, aborted, retransmission timeout
  }
  switch (c.conn->state()) {
    case tcp_state::syn_sent:
      return "connecting";
    case tcp_state::established:
      return "open";
    case tcp_state::time_wait:
      return "closed";  // both sides have finished; only the 2MSL wait is left
    default:
      return "closing";  // one side has sent its FIN
  }
}

// Printable excerpt of received bytes for failure messages.
std::string excerpt(const std::string& s, std::size_t max = 60) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size() && i < max; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else if (c == '"')
      out += "\\\"";
    else if (c < 32 || c > 126) {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      out += b;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += s.size() > max ? "\"..." : "\"";
  return out + " (" + std::to_string(s.size()) + " bytes)";
}

std::string pattern_bytes(const std::string& kind, std::uint64_t n) {
  std::string s(static_cast<std::size_t>(n), '\0');
  if (kind == "http") {
    for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>(http_pattern_byte(i));
  } else {
    const octets p = tcp_source_service::pattern(static_cast<std::size_t>(n), 0);
    std::copy(p.begin(), p.end(), s.begin());
  }
  return s;
}

// A byte matcher (docs/scenarios.md "bytes"); "" when it matches, else what went wrong.
std::string check_bytes(const Node& m, const std::string& got, const std::string& what) {
  if (m.IsScalar()) {
    if (got != m.Scalar()) return "expected " + what + " " + excerpt(m.Scalar()) + ", got " + excerpt(got);
    return "";
  }
  if (m["equals"] && got != m["equals"].Scalar())
    return "expected " + what + " equal to " + excerpt(m["equals"].Scalar()) + ", got " + excerpt(got);
  if (m["contains"] && got.find(m["contains"].Scalar()) == std::string::npos)
    return "expected " + what + " containing " + excerpt(m["contains"].Scalar()) + ", got " + excerpt(got);
  if (m["size"]) {
    const std::uint64_t n = get_size(m, "size", 0);
    if (got.size() != n)
      return "expected " + what + " of " + std::to_string(n) + " bytes, got " + std::to_string(got.size()) +
             " bytes";
    if (m["pattern"]) {
      const std::string want = pattern_bytes(m["pattern"].Scalar(), n);
      if (got != want) {
        std::size_t i = 0;
        while (i < got.size() && got[i] == want[i]) ++i;
        return "expected " + what + " to be the " + m["pattern"].Scalar() + " pattern of " +
               std::to_string(n) + " bytes, first difference at offset " + std::to_string(i);
      }
    }
  }
  return "";
}

std::string check_count(const Node& n, std::uint64_t got, const std::string& what) {
  const auto r = parse_count(n.Scalar());
  if (!r || r->contains(got)) return "";
  return "expected " + what + " " + describe_count(*r) + ", got " + std::to_string(got);
}

range time_range_of(const Node& n) {
  if (n.IsMap()) {
    range r;
    if (n["min"]) r.min = get_dur(n, "min", 0);
    if (n["max"]) r.max = get_dur(n, "max", never);
    return r;
  }
  return parse_time_range(n.Scalar()).value_or(range{});
}

std::string flow(const Node& n) {
  if (n.IsScalar()) return n.Scalar();
  if (n.IsNull()) return "";
  YAML::Emitter e;
  e.SetMapFormat(YAML::Flow);
  e.SetSeqFormat(YAML::Flow);
  e << n;
  std::string s = e.c_str();
  std::replace(s.begin(), s.end(), '\n', ' ');
  if (s.size() > 70) s = s.substr(0, 67) + "...";
  return s;
}

// What a step produced.
struct outcome {
  errc code = errc::ok;
  std::string message;
  std::optional<ip4_addr> ip;
  std::optional<int> status;
  http_headers headers;
  std::optional<std::string> body, data, stream, from, state, dhcp_state;
  std::optional<std::uint64_t> sent, opened, served, rejected;
  std::optional<octets> frame;
  std::vector<std::string> problems;  // failures found inside the step (wsgi requests)

  static outcome fail(wiznet5k::error e) {
    outcome o;
    o.code = e.code;
    o.message = e.message;
    return o;
  }
  static outcome fail(errc c, std::string m) {
    outcome o;
    o.code = c;
    o.message = std::move(m);
    return o;
  }
};

// ---- WSGI applications -------------------------------------------------------------------------------

struct wsgi_app_cfg {
  std::string app, status, body, content_type;
  bool has_size = false;
  std::uint64_t size = 0;
};

void wsgi_app(void* ctx, const wiznet5k::wsgiserver::wsgi_environ& env,
              wiznet5k::wsgiserver::wsgi_response& resp) {
  const auto* c = static_cast<const wsgi_app_cfg*>(ctx);
  if (c->app == "no_response") return;
  if (c->app == "hello") {
    resp.start_response("200 OK", {{"Content-Type", "text/plain"}});
    resp.write("hello\n");
    return;
  }
  if (c->app == "echo") {
    std::string out = std::string(env.request_method()) + " " + std::string(env.path_info());
    if (!env.query_string().empty()) out += "?" + std::string(env.query_string());
    out += "\n";
    for (const auto& h : env) out += std::string(h.name) + ": " + std::string(h.value) + "\n";
    out += "\n";
    out += std::string(env.input());
    const std::string len = std::to_string(out.size());
    resp.start_response("200 OK", {{"Content-Type", "text/plain"}, {"Content-Length", len}});
    resp.write(out);
    return;
  }
  // fixed
  if (c->has_size) {
    const std::string len = std::to_string(c->size);
    if (resp.start_response(c->status, {{"Content-Type", c->content_type}, {"Content-Length", len}})) return;
    const std::string body = pattern_bytes("tcp", c->size);
    for (std::size_t off = 0; off < body.size(); off += 1024)
      if (resp.write(body.data() + off, std::min<std::size_t>(1024, body.size() - off))) return;
    return;
  }
  resp.start_response(c->status, {{"Content-Type", c->content_type}});
  if (!c->body.empty()) resp.write(c->body);
}

// ---- the run ---------------------------------------------------------------------------------------------

class executor {
 public:
  executor(const scenario& s, world& w, run_result& r, run_artifacts* art)
      : m_s(s), m_w(w), m_r(r), m_art(art) {}

  void run_steps();
  void check_scenario();
  void log(const std::string& line) {
    const std::string stamped = "[" + show_time(now()) + "] " + line;
    m_r.log += stamped + "\n";
    if (m_art) m_art->log_sink()("scenario " + stamped);
  }
  bool steps_passed() const { return m_steps_passed; }

 private:
  ps_t now() const { return m_w.sched->now(); }
  int line_of(const Node& n) const { return n.Mark().line + 1; }
  std::string where(const Node& n) const { return m_s.file + ":" + std::to_string(line_of(n)); }
  void sleep(ps_t t) { m_w.hal->sleep(t); }

  outcome act(const std::string& action, const Node& v);
  std::vector<std::string> check_step(const std::string& action, const Node& e, const outcome& o, ps_t t0,
                                      ps_t t1);
  std::string check_frames(const Node& f, ps_t from, ps_t until);

  outcome do_http(const Node& v, const std::string& method);
  outcome do_wsgi(const Node& v);
  outcome do_macraw(const std::string& action, const Node& v);
  outcome do_multicast(const std::string& action, const Node& v);
  void close_multicast(int sn);
  spi_host& spi() {
    if (!m_spi) m_spi = std::make_unique<spi_host>(*m_w.chip);
    return *m_spi;
  }
  sm::socket* socket_named(const std::string& name) {
    auto it = m_w.sockets.find(name);
    return it == m_w.sockets.end() ? nullptr : it->second.get();
  }
  static std::string data_of(const Node& v) {
    if (v["data"]) return v["data"].Scalar();
    return pattern_bytes("tcp", get_size(v, "size", 0));
  }
  static std::optional<std::uint32_t> ms_of(ps_t t) {
    return static_cast<std::uint32_t>((t + ps_per_ms - 1) / ps_per_ms);
  }
  // host:port with peers resolved.
  std::pair<std::string, std::uint16_t> endpoint(const std::string& text) const {
    const auto colon = text.rfind(':');
    return {m_w.resolve_host(text.substr(0, colon)),
            static_cast<std::uint16_t>(parse_uint(text.substr(colon + 1)).value_or(0))};
  }

  const scenario& m_s;
  world& m_w;
  run_result& m_r;
  run_artifacts* m_art;
  bool m_steps_passed = false;
  std::unique_ptr<spi_host> m_spi;
};

void executor::run_steps() {
  const Node steps = m_s.root["steps"];
  std::size_t index = 0;
  for (const auto& step : steps) {
    ++index;
    std::string action;
    for (const auto& kv : step) {
      const std::string k = kv.first.Scalar();
      if (k != "expect" && k != "at" && k != "label") action = k;
    }
    const Node v = step[action];
    std::string desc = action;
    if (const std::string f = flow(v); !f.empty() && f != "{}") desc += " " + f;
    if (step["label"]) desc += " [" + step["label"].Scalar() + "]";
    const std::string head = where(step) + ": step " + std::to_string(index) + " (" + desc + ")";
    if (step["at"]) {
      const ps_t at = get_dur(step, "at", 0);
      if (at > now()) {
        try {
          sleep(at - now());
        } catch (const budget_exceeded&) {
          m_r.failures.push_back(head + ": virtual-time budget " + show_time(m_s.budget) +
                                 " exceeded before the step");
          log("step " + std::to_string(index) + " " + desc + ": budget exceeded");
          return;
        }
      }
    }
    log("step " + std::to_string(index) + " " + desc + ": start");
    const ps_t t0 = now();
    outcome o;
    try {
      o = act(action, v);
    } catch (const budget_exceeded&) {
      m_r.failures.push_back(head + ": virtual-time budget " + show_time(m_s.budget) +
                             " exceeded (the step was stopped at " + show_time(now()) + ")");
      log("step " + std::to_string(index) + ": stopped, budget exceeded");
      return;
    }
    const ps_t t1 = now();
    std::string summary =
        o.code == errc::ok ? "ok" : std::string(errc_key(o.code)) + " \"" + o.message + "\"";
    if (o.ip) summary += " ip=" + to_string(*o.ip);
    if (o.status) summary += " status=" + std::to_string(*o.status);
    if (o.body) summary += " body=" + std::to_string(o.body->size()) + "B";
    if (o.data) summary += " data=" + std::to_string(o.data->size()) + "B";
    if (o.sent) summary += " sent=" + std::to_string(*o.sent);
    if (o.from) summary += " from=" + *o.from;
    if (o.state) summary += " state=" + *o.state;
    if (o.opened) summary += " opened=" + std::to_string(*o.opened);
    log("step " + std::to_string(index) + " " + action + ": " + summary + " (elapsed " + show_time(t1 - t0) +
        ")");
    const std::vector<std::string> problems = check_step(action, step["expect"], o, t0, t1);
    if (!problems.empty()) {
      for (const auto& p : problems) {
        m_r.failures.push_back(head + ": " + p);
        log("FAIL " + p);
      }
      log("remaining steps and scenario checks skipped");
      return;
    }
  }
  m_steps_passed = true;
}

std::vector<std::string> executor::check_step(const std::string& action, const Node& e, const outcome& o,
                                              ps_t t0, ps_t t1) {
  std::vector<std::string> p = o.problems;
  const std::string got_err =
      o.code == errc::ok ? "ok" : "error " + std::string(errc_key(o.code)) + " \"" + o.message + "\"";
  const bool want_error = e && e["error"];
  const bool any_outcome = e && e["ok"] && !get_bool(e, "ok", true);
  if (want_error) {
    if (o.code != errc::ok && e["error"].Scalar() == errc_key(o.code)) {
    } else {
      p.push_back("expected error " + e["error"].Scalar() + ", got " + got_err);
    }
  } else if (!any_outcome && o.code != errc::ok) {
    p.push_back("expected ok, got " + got_err);
  }
  if (!e) return p;
  if (e["message"] && o.message.find(e["message"].Scalar()) == std::string::npos)
    p.push_back("expected an error message containing \"" + e["message"].Scalar() + "\", got " + got_err);
  if (e["elapsed"]) {
    const range r = time_range_of(e["elapsed"]);
    if (!r.contains(t1 - t0))
      p.push_back("expected elapsed " + describe_time_range(r) + ", got " + show_time(t1 - t0));
  }
  auto missing = [&](const char* what) {
    p.push_back(std::string("expected ") + what + ", got no value (" + got_err + ")");
  };
  if (e["ip"]) {
    const ip4_addr want = get_ip(e, "ip", 0);
    if (!o.ip)
      missing("ip");
    else if (*o.ip != want)
      p.push_back("expected ip " + to_string(want) + ", got " + to_string(*o.ip));
  }
  if (e["status"]) {
    const auto want = static_cast<int>(get_uint(e, "status", 0));
    if (!o.status)
      missing("status");
    else if (*o.status != want)
      p.push_back("expected status " + std::to_string(want) + ", got " + std::to_string(*o.status));
  }
  if (const Node h = e["headers"]) {
    for (const auto& kv : h) {
      const auto got = o.headers.get(kv.first.Scalar());
      if (!got)
        p.push_back("expected header " + kv.first.Scalar() + ": " + kv.second.Scalar() + ", got none");
      else if (*got != kv.second.Scalar())
        p.push_back("expected header " + kv.first.Scalar() + ": " + kv.second.Scalar() + ", got " + *got);
    }
  }
  if (e["body"]) {
    if (!o.body)
      missing("body");
    else if (auto s = check_bytes(e["body"], *o.body, "body"); !s.empty())
      p.push_back(s);
  }
  if (e["data"]) {
    if (!o.data)
      missing("data");
    else if (auto s = check_bytes(e["data"], *o.data, "data"); !s.empty())
      p.push_back(s);
  }
  if (e["stream"]) {
    if (!o.stream)
      missing("stream");
    else if (auto s = check_bytes(e["stream"], *o.stream, "stream"); !s.empty())
      p.push_back(s);
  }
  if (e["from"]) {
    if (!o.from)
      missing("from");
    else {
      // Without ":port" only the host is compared (an accepted peer's port is usually ephemeral).
      const std::string want = e["from"].Scalar();
      const bool match = want.find(':') == std::string::npos
                             ? o.from->substr(0, o.from->rfind(':')) == m_w.resolve_host(want)
                             : *o.from == endpoint(want).first + ":" + std::to_string(endpoint(want).second);
      if (!match) p.push_back("expected from " + want + ", got " + *o.from);
    }
  }
  auto count = [&](const char* key, const std::optional<std::uint64_t>& got) {
    if (!e[key]) return;
    if (!got) return missing(key);
    if (auto s = check_count(e[key], *got, key); !s.empty()) p.push_back(s);
  };
  count("sent", o.sent);
  count("opened", o.opened);
  count("served", o.served);
  count("rejected", o.rejected);
  if (e["state"]) {
    if (!o.state)
      missing("state");
    else if (*o.state != e["state"].Scalar())
      p.push_back("expected state " + e["state"].Scalar() + ", got " + *o.state);
  }
  if (e["dhcp_state"]) {
    if (!o.dhcp_state)
      missing("dhcp_state");
    else if (*o.dhcp_state != e["dhcp_state"].Scalar())
      p.push_back("expected dhcp_state " + e["dhcp_state"].Scalar() + ", got " + *o.dhcp_state);
  }
  if (e["frame"]) {
    if (!o.frame)
      missing("frame");
    else if (!frame_filter::parse(e["frame"].Scalar())(*o.frame))
      p.push_back("expected the received frame to match \"" + e["frame"].Scalar() + "\", it does not (" +
                  std::to_string(o.frame->size()) + " octets)");
  }
  if (const Node f = e["frames"])
    for (const auto& x : f)
      if (auto s = check_frames(x, t0, t1); !s.empty()) p.push_back(s);
  (void)action;
  return p;
}

std::string executor::check_frames(const Node& f, ps_t from, ps_t until) {
  const frame_filter filt = frame_filter::parse(f["match"].Scalar());
  const segment::port_id port = f["link"] ? m_w.port_of(f["link"].Scalar()) : -1;
  from = get_dur(f, "from", from);
  until = get_dur(f, "until", until);
  std::uint64_t n = 0;
  for (const auto& fr : m_w.frames)
    if (fr.t >= from && fr.t <= until && (port < 0 || fr.from == port) && filt(fr.frame)) ++n;
  const Node cnt = f["count"] ? f["count"] : Node(">= 1");
  const auto r = parse_count(cnt.Scalar()).value_or(range{1, ~std::uint64_t{0}});
  if (r.contains(n)) return "";
  return "expected " + describe_count(r) + " frame(s) matching \"" + f["match"].Scalar() + "\"" +
         (port >= 0 ? " from " + f["link"].Scalar() : std::string()) +
         (from == 0 && until == never ? std::string(" in the whole run")
                                      : " between " + show_time(from) + " and " +
                                            (until == never ? std::string("the end") : show_time(until))) +
         ", got " + std::to_string(n) + (m_w.frames_overflow ? " (frame record overflowed)" : "");
}

outcome executor::act(const std::string& action, const Node& v) {
  auto& eth = *m_w.eth;
  outcome o;
  if (action == "begin") {
    const bool dhcp = get_bool(v, "dhcp", true);
    const mac_addr mac =
        v.IsMap() && v["mac"] ? parse_mac(v["mac"].Scalar()).value_or(m_w.chip_mac) : m_w.chip_mac;
    const std::string host = get_str(v, "hostname");
    if (auto e = eth.begin(dhcp, to_w(mac), host.empty() ? nullptr : host.c_str())) o = outcome::fail(e);
    sm::set_interface(eth);
    wiznet5k::wsgiserver::set_interface(eth);
    if (auto ip = eth.ip_address()) o.ip = from_w(ip.value);
    o.dhcp_state = dhcp_state_name(eth.dhcp_client().state());
  } else if (action == "set_ifconfig") {
    wiznet5k::WIZNET5K::ifconfig_t c{to_w(get_ip(v, "ip", 0)),
                                     to_w(get_ip(v, "netmask", ip4(255, 255, 255, 0))),
                                     to_w(get_ip(v, "gateway", 0)), to_w(get_ip(v, "dns", 0))};
    if (auto e = eth.set_ifconfig(c)) o = outcome::fail(e);
  } else if (action == "set_retry") {
    if (v["rtr"])
      if (auto e = eth.set_rtr(static_cast<std::uint16_t>(get_dur(v, "rtr", 0) / us(100))))
        return outcome::fail(e);
    if (v["rcr"])
      if (auto e = eth.set_rcr(static_cast<std::uint8_t>(get_uint(v, "rcr", 8)))) return outcome::fail(e);
  } else if (action == "dhcp") {
    const std::string host = get_str(v, "hostname");
    if (auto e = eth.set_dhcp(host.empty() ? nullptr : host.c_str())) o = outcome::fail(e);
    if (auto ip = eth.ip_address()) o.ip = from_w(ip.value);
    o.dhcp_state = dhcp_state_name(eth.dhcp_client().state());
  } else if (action == "maintain_dhcp") {
    const ps_t end = now() + get_dur(v, "for", 0);
    const ps_t every = std::max<ps_t>(get_dur(v, "every", seconds(1)), us(1));
    while (now() < end) {
      if (auto e = eth.maintain_dhcp_lease(); e && o.code == errc::ok) o = outcome::fail(e);
      sleep(std::min(every, end - now()));
    }
    if (auto ip = eth.ip_address()) o.ip = from_w(ip.value);
    o.dhcp_state = dhcp_state_name(eth.dhcp_client().state());
  } else if (action == "dns") {
    const std::string name = v.IsScalar() ? v.Scalar() : v["name"].Scalar();
    auto cfg = eth.ifconfig();
    if (!cfg) return outcome::fail(cfg.err);
    wiznet5k::DNS d(eth, cfg->dns);
    d.tries = static_cast<std::uint8_t>(get_uint(v, "tries", d.tries));
    d.timeout_ms = static_cast<std::uint32_t>(get_dur(v, "timeout", ms(d.timeout_ms)) / ps_per_ms);
    auto r = d.gethostbyname(name.c_str());
    if (!r) return outcome::fail(r.err);
    o.ip = from_w(r.value);
  } else if (action == "http_get") {
    return do_http(v, "GET");
  } else if (action == "http_post") {
    return do_http(v, "POST");
  } else if (action == "tcp_connect") {
    const std::string to = v.IsScalar() ? v.Scalar() : v["to"].Scalar();
    const std::string as = get_str(v, "as", "tcp");
    m_w.sockets.erase(as);
    m_w.received[as].clear();
    auto s = std::make_unique<sm::socket>(sm::AF_INET, sm::SOCK_STREAM);
    if (!*s) return outcome::fail(s->open_error());
    s->settimeout_ms(ms_of(get_dur(v, "timeout", seconds(10))));
    if (v.IsMap() && v["local_port"])
      if (auto e = s->bind("", static_cast<std::uint16_t>(get_uint(v, "local_port", 0))))
        return outcome::fail(e);
    const auto [host, port] = endpoint(to);
    if (auto e = s->connect(host.c_str(), port)) o = outcome::fail(e);
    m_w.sockets[as] = std::move(s);  // kept even on failure, so socket_status can look at it
  } else if (action == "tcp_listen") {
    const std::string name = get_str(v, "socket", "server");
    m_w.sockets.erase(name);
    auto s = std::make_unique<sm::socket>(sm::AF_INET, sm::SOCK_STREAM);
    if (!*s) return outcome::fail(s->open_error());
    if (auto e = s->bind("", static_cast<std::uint16_t>(get_uint(v, "port", 0))))
      o = outcome::fail(e);
    else if (auto e2 = s->listen())
      o = outcome::fail(e2);
    m_w.sockets[name] = std::move(s);  // kept even on failure, so socket_status can look at it
  } else if (action == "tcp_accept") {
    sm::socket* l = socket_named(get_str(v, "socket", "server"));
    if (!l) return outcome::fail(errc::runtime_error, "no such socket (closed by an earlier step)");
    l->settimeout_ms(ms_of(get_dur(v, "timeout", seconds(10))));
    auto a = l->accept();
    if (!a.ok()) return outcome::fail(a.err);
    const std::string as = get_str(v, "as", "tcp");
    o.from = to_string(from_w(a.from.ip)) + ":" + std::to_string(a.from.port);
    m_w.received[as].clear();
    m_w.sockets[as] = std::make_unique<sm::socket>(std::move(a.conn));
  } else if (action == "peer_tcp_connect") {
    // Starts the connection (now or at `at`) and returns at once: the chip sees the SYN while a later
    // step waits (tcp_accept). The peer sends and closes once connected and keeps what it receives.
    const std::string peer_name = v["peer"].Scalar();
    peer_host* host = m_w.peer(peer_name)->host.get();
    if (host->ip() == 0)
      return outcome::fail(errc::runtime_error, "peer " + peer_name + " has no IP address");
    auto cfg = eth.ifconfig();
    if (!cfg) return outcome::fail(cfg.err);
    const ip4_addr dst = from_w(cfg->ip);
    if (dst == 0) return outcome::fail(errc::runtime_error, "the chip has no IP address yet");
    const auto port = static_cast<std::uint16_t>(get_uint(v, "to", 0));
    const auto local = static_cast<std::uint16_t>(get_uint(v, "port", 0));
    std::string data;
    if (const Node d = v["send"])
      data = d.IsScalar() ? d.Scalar() : pattern_bytes("tcp", get_size(d, "size", 0));
    const bool close = get_bool(v, "close", false);
    auto rec = std::make_shared<peer_conn>();
    rec->peer = peer_name;
    m_w.peer_conns[get_str(v, "as", peer_name)] = rec;
    std::weak_ptr<peer_conn> wr = rec;
    auto start = [wr, host, dst, port, local, data, close] {
      auto r = wr.lock();
      if (!r) return;
      try {
        r->conn = host->tcp_connect(dst, port, local);
      } catch (const std::exception& e) {
        r->end_reason = e.what();  // e.g. that local port is already in use
        return;
      }
      r->conn->on_data = [wr](const octets& d) {
        if (auto rr = wr.lock()) rr->received.append(d.begin(), d.end());
      };
      r->conn->on_connected = [wr, data, close] {
        auto rr = wr.lock();
        if (!rr || !rr->conn) return;
        if (!data.empty()) rr->conn->send(data);
        if (close) rr->conn->close();
      };
    };
    const ps_t at = get_dur(v, "at", 0);
    if (at > now()) {
      m_w.sched->at(at, start);
    } else {
      start();
      if (!rec->end_reason.empty())
        return outcome::fail(errc::runtime_error,
                             "peer " + peer_name + " cannot connect: " + rec->end_reason);
    }
  } else if (action == "tcp_send") {
    sm::socket* s = socket_named(get_str(v, "socket", "tcp"));
    if (!s) return outcome::fail(errc::runtime_error, "no such socket (closed by an earlier step)");
    s->settimeout_ms(ms_of(get_dur(v, "timeout", seconds(10))));
    const std::string data = data_of(v);
    std::size_t done = 0;
    while (done < data.size()) {
      auto n = s->send(data.data() + done, data.size() - done);
      if (!n) {
        o = outcome::fail(n.err);
        break;
      }
      done += n.value;
    }
    o.sent = done;
  } else if (action == "tcp_recv") {
    const std::string name = v.IsMap() ? get_str(v, "socket", "tcp") : "tcp";
    sm::socket* s = socket_named(name);
    if (!s) return outcome::fail(errc::runtime_error, "no such socket (closed by an earlier step)");
    const ps_t timeout = get_dur(v, "timeout", seconds(10));
    const bool has_size = v.IsMap() && v["size"];
    const std::uint64_t want = get_size(v, "size", 0);
    const ps_t end = now() + timeout;
    std::string got;
    std::uint8_t buf[2048];
    for (;;) {
      if (has_size && got.size() >= want) break;
      if (now() >= end) {
        if (got.empty()) o = outcome::fail(errc::timeout_error, "timed out");
        break;
      }
      s->settimeout_ms(ms_of(end - now()));
      auto n = s->recv(
          buf, has_size ? std::min<std::size_t>(sizeof buf, static_cast<std::size_t>(want - got.size()))
                        : sizeof buf);
      if (!n) {
        if (!(n.err.code == errc::timeout_error && !got.empty())) o = outcome::fail(n.err);
        break;
      }
      if (n.value == 0) break;  // end of stream
      got.append(reinterpret_cast<const char*>(buf), n.value);
    }
    o.data = got;
    m_w.received[name] += got;
    o.stream = m_w.received[name];
  } else if (action == "tcp_close") {
    const std::string name = v.IsScalar() ? v.Scalar() : get_str(v, "socket", "tcp");
    if (sm::socket* s = socket_named(name))
      if (auto e = s->close()) o = outcome::fail(e);
    m_w.sockets.erase(name);
  } else if (action == "udp_multicast" ||
             (action == "udp_sendto" && m_w.multicast.count(get_str(v, "socket", "udp"))) ||
             (action == "udp_recvfrom" &&
              m_w.multicast.count(v.IsMap() ? get_str(v, "socket", "udp") : "udp"))) {
    return do_multicast(action, v);
  } else if (action == "peer_udp_send") {
    const auto [host, port] = endpoint(v["to"].Scalar());
    const std::string data = data_of(v);
    m_w.peer(v["from"].Scalar())
        ->host->udp_send(parse_ip(host).value_or(0), port,
                         static_cast<std::uint16_t>(get_uint(v, "port", 5000)),
                         octets(data.begin(), data.end()));
    o.sent = data.size();
  } else if (action == "udp_sendto") {
    const std::string name = get_str(v, "socket", "udp");
    sm::socket* s = socket_named(name);
    if (!s) {
      auto ns = std::make_unique<sm::socket>(sm::AF_INET, sm::SOCK_DGRAM);
      if (!*ns) return outcome::fail(ns->open_error());
      if (v["port"])
        if (auto e = ns->bind("", static_cast<std::uint16_t>(get_uint(v, "port", 0))))
          return outcome::fail(e);
      s = ns.get();
      m_w.sockets[name] = std::move(ns);
    }
    s->settimeout_ms(ms_of(seconds(5)));
    const std::string data = data_of(v);
    const auto [host, port] = endpoint(v["to"].Scalar());
    auto n = s->sendto(data.data(), data.size(), host.c_str(), port);
    if (!n) return outcome::fail(n.err);
    o.sent = n.value;
  } else if (action == "udp_recvfrom") {
    sm::socket* s = socket_named(v.IsMap() ? get_str(v, "socket", "udp") : "udp");
    if (!s) return outcome::fail(errc::runtime_error, "no such socket (closed by an earlier step)");
    s->settimeout_ms(ms_of(get_dur(v, "timeout", seconds(5))));
    std::uint8_t buf[2048];
    auto r = s->recvfrom(buf, sizeof buf);
    if (!r) return outcome::fail(r.err);
    o.data = std::string(reinterpret_cast<const char*>(buf), r.value.nbytes);
    o.from = to_string(from_w(r.value.from.ip)) + ":" + std::to_string(r.value.from.port);
  } else if (action == "close") {
    for (auto it = m_w.multicast.begin(); it != m_w.multicast.end();) {
      if (v.Scalar() == "all" || v.Scalar() == it->first) {
        close_multicast(it->second);
        it = m_w.multicast.erase(it);
      } else {
        ++it;
      }
    }
    if (v.Scalar() == "all") {
      for (auto& kv : m_w.sockets)
        if (auto e = kv.second->close(); e && o.code == errc::ok) o = outcome::fail(e);
      m_w.sockets.clear();
    } else {
      if (sm::socket* s = socket_named(v.Scalar()))
        if (auto e = s->close()) o = outcome::fail(e);
      m_w.sockets.erase(v.Scalar());
    }
  } else if (action == "socket_status") {
    sm::socket* s = socket_named(v.Scalar());
    if (auto mc = m_w.multicast.find(v.Scalar()); mc != m_w.multicast.end()) {
      auto st = eth.socket_status(mc->second);
      if (!st) return outcome::fail(st.err);
      o.state = state_name(st.value);
    } else if (!s || s->fileno() < 0) {
      o.state = "closed";
    } else {
      auto st = eth.socket_status(s->fileno());
      if (!st) return outcome::fail(st.err);
      o.state = state_name(st.value);
    }
  } else if (action == "open_sockets") {
    const auto count = get_uint(v, "count", 1);
    const bool udp = get_str(v, "type", "tcp") == "udp";
    const std::string prefix = get_str(v, "as", "s");
    std::uint64_t opened = 0;
    for (std::uint64_t i = 0; i < count; ++i) {
      auto s = std::make_unique<sm::socket>(sm::AF_INET, udp ? sm::SOCK_DGRAM : sm::SOCK_STREAM);
      if (!*s) {
        o = outcome::fail(s->open_error());
        break;
      }
      m_w.sockets[prefix + std::to_string(i)] = std::move(s);
      ++opened;
    }
    o.opened = opened;
  } else if (action == "wsgi_serve") {
    return do_wsgi(v);
  } else if (action == "link_down" || action == "link_up") {
    m_w.seg->set_link_up(m_w.port_of(v.IsScalar() ? v.Scalar() : "chip"), action == "link_up");
  } else if (action == "wait") {
    sleep(parse_duration(v.Scalar()).value_or(0));
  } else if (action == "dhcp_behaviour") {
    m_w.peer(v["peer"].Scalar())->dhcp->set_behaviour(dhcp_behaviour_of(v["behaviour"].Scalar()));
  } else if (action == "dns_behaviour") {
    apply_dns_behaviour(*m_w.peer(v["peer"].Scalar())->dns, v);
  } else if (action.rfind("macraw_", 0) == 0) {
    return do_macraw(action, v);
  }
  return o;
}

outcome executor::do_http(const Node& v, const std::string& method) {
  const std::string url = v.IsScalar() ? v.Scalar() : v["url"].Scalar();
  std::string rest = url.substr(7);
  const auto slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  const std::string path = slash == std::string::npos ? "/" : rest.substr(slash);
  std::uint16_t port = 80;
  if (const auto colon = hostport.find(':'); colon != std::string::npos) {
    port = static_cast<std::uint16_t>(parse_uint(hostport.substr(colon + 1)).value_or(80));
    hostport = hostport.substr(0, colon);
  }
  const std::string host = m_w.resolve_host(hostport);
  // `timeout` bounds the whole request (connect, send, every read), not each socket call.
  const ps_t deadline = now() + get_dur(v, "timeout", seconds(10));
  sm::socket s(sm::AF_INET, sm::SOCK_STREAM);
  if (!s) return outcome::fail(s.open_error());
  s.settimeout_ms(ms_of(deadline - now()));
  if (auto e = s.connect(host.c_str(), port)) return outcome::fail(e);
  if (now() >= deadline) return outcome::fail(errc::timeout_error, "HTTP: connect took the whole timeout");
  s.settimeout_ms(ms_of(deadline - now()));
  std::string body;
  if (v.IsMap() && v["body"])
    body = v["body"].Scalar();
  else if (v.IsMap() && v["body_size"])
    body = pattern_bytes("tcp", get_size(v, "body_size", 0));
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: " + hostport +
                    "\r\nConnection: close\r\nUser-Agent: wizsim-scenario\r\n";
  if (method == "POST") {
    req += "Content-Type: " + get_str(v, "content_type", "application/octet-stream") + "\r\n";
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  if (v.IsMap())
    if (const Node h = v["headers"])
      for (const auto& kv : h) req += kv.first.Scalar() + ": " + kv.second.Scalar() + "\r\n";
  req += "\r\n" + body;
  if (auto e = s.sendall(req.data(), req.size())) return outcome::fail(e);
  http_response_parser p;
  p.set_request_method(method);
  std::uint8_t buf[2048];
  bool ended = false;
  while (!p.complete() && !p.failed()) {
    if (now() >= deadline)
      return outcome::fail(errc::timeout_error, "HTTP: no complete response within the timeout");
    s.settimeout_ms(ms_of(deadline - now()));
    auto n = s.recv(buf, sizeof buf);
    if (!n) return outcome::fail(n.err);
    if (n.value == 0) {
      ended = true;
      p.finish();
      break;
    }
    std::size_t off = 0;
    while (off < n.value && !p.complete() && !p.failed())
      off += p.feed(reinterpret_cast<const char*>(buf) + off, n.value - off);
  }
  s.close();
  // The server closing before the response is complete is a lost connection; bytes that are not HTTP
  // are a malformed response.
  if (ended && !p.complete())
    return outcome::fail(errc::connection_error,
                         "HTTP: the connection closed before the response was complete" +
                             (p.error().empty() ? std::string() : " (" + p.error() + ")"));
  if (p.failed()) return outcome::fail(errc::runtime_error, "HTTP: malformed response: " + p.error());
  const http_response r = p.take();
  outcome o;
  o.status = r.status;
  o.headers = r.headers;
  o.body = r.body;
  return o;
}

outcome executor::do_wsgi(const Node& v) {
  wsgi_app_cfg cfg;
  cfg.app = get_str(v, "app", "hello");
  cfg.status = get_str(v, "status", "200 OK");
  cfg.body = get_str(v, "body");
  cfg.content_type = get_str(v, "content_type", "text/plain");
  cfg.has_size = static_cast<bool>(v["size"]);
  cfg.size = get_size(v, "size", 0);
  const auto port = static_cast<std::uint16_t>(get_uint(v, "port", 80));
  wiznet5k::wsgiserver::set_interface(*m_w.eth);
  wiznet5k::wsgiserver::WSGIServer server(port, wsgi_app, &cfg);
  if (auto e = server.set_listeners(static_cast<int>(get_uint(v, "listeners", 0)))) return outcome::fail(e);
  server.set_timeout_ms(static_cast<std::uint32_t>(get_dur(v, "server_timeout", seconds(20)) / ps_per_ms));
  if (auto e = server.start()) return outcome::fail(e);
  auto chip_ip = m_w.eth->ip_address();
  const ip4_addr ip = chip_ip ? from_w(chip_ip.value) : 0;
  const ps_t timeout = get_dur(v, "timeout", seconds(30));
  const ps_t poll = std::max<ps_t>(get_dur(v, "poll", ms(10)), us(100));

  struct req_state {
    bool done = false;
    bool error = false;
    std::string error_text;
    int status = 0;
    std::string body;
    std::string raw;  // raw mode: everything received
  };
  std::vector<std::shared_ptr<req_state>> states;
  const ps_t t0 = now();
  for (const auto& q : v["requests"]) {
    auto st = std::make_shared<req_state>();
    states.push_back(st);
    peer_slot* peer = m_w.peer(q["from"].Scalar());
    const ps_t at = t0 + get_dur(q, "at", 0);
    if (q["raw"]) {
      const std::string raw = q["raw"].Scalar();
      peer_host* h = peer->host.get();
      m_w.sched->at(at, [h, ip, port, raw, st]() {
        tcp_ptr c = h->tcp_connect(ip, port);
        tcp_connection* cp = c.get();
        c->on_connected = [cp, raw]() { cp->send(raw); };
        c->on_data = [st](const octets& d) { st->raw.append(d.begin(), d.end()); };
        c->on_peer_fin = [cp]() { cp->close(); };
        c->on_closed = [st](const std::string& reason) {
          st->done = true;
          if (st->raw.empty()) {
            st->error = true;
            st->error_text = reason;
          }
          if (st->raw.rfind("HTTP/1.", 0) == 0 && st->raw.size() >= 12)
            st->status = static_cast<int>(parse_uint(st->raw.substr(9, 3)).value_or(0));
          const auto hdr_end = st->raw.find("\r\n\r\n");
          st->body = hdr_end == std::string::npos ? "" : st->raw.substr(hdr_end + 4);
        };
      });
    } else {
      if (!peer->client) {
        http_client_config cc;
        cc.timeout = timeout;
        cc.keep_alive = false;
        peer->client = std::make_unique<http_client>(*peer->host, cc);
      }
      http_client* client = peer->client.get();
      http_headers headers;
      if (const Node h = q["headers"])
        for (const auto& kv : h) headers.add(kv.first.Scalar(), kv.second.Scalar());
      const std::string method = get_str(q, "method", "GET"), path = get_str(q, "path", "/"),
                        body = get_str(q, "body");
      m_w.sched->at(at, [client, ip, port, method, path, headers, body, st]() {
        client->request(ip, port, method, path, headers, body, [st](const http_result& r) {
          st->done = true;
          st->error = !r.ok();
          st->error_text = r.error;
          st->status = r.status;
          st->body = r.body;
        });
      });
    }
  }
  auto all_done = [&]() {
    return std::all_of(states.begin(), states.end(), [](const auto& s) { return s->done; });
  };
  outcome o;
  while (!all_done() && now() < t0 + timeout) {
    if (auto e = server.update_poll(); e && o.code == errc::ok) o = outcome::fail(e);
    sleep(poll);
  }
  // A few more polls let the server finish closing the last connections cleanly.
  for (int i = 0; i < 5; ++i) {
    server.update_poll();
    sleep(poll);
  }
  o.served = server.stats().requests;
  o.rejected = server.stats().rejected;
  server.stop();
  std::size_t i = 0;
  for (const auto& q : v["requests"]) {
    const auto& st = states[i++];
    const std::string who = "request " + std::to_string(i) + " from " + q["from"].Scalar();
    const Node e = q["expect"];
    if (!st->done) {
      o.problems.push_back(who + ": no answer within " + show_time(timeout));
      continue;
    }
    const bool want_error = e && get_bool(e, "error", false);
    if (st->error != want_error) {
      o.problems.push_back(
          who + ": expected " + (want_error ? "a failed request" : "an answer") + ", got " +
          (st->error ? "error \"" + st->error_text + "\"" : "status " + std::to_string(st->status)));
      continue;
    }
    if (!e) continue;
    if (e["status"] && static_cast<int>(get_uint(e, "status", 0)) != st->status)
      o.problems.push_back(who + ": expected status " + e["status"].Scalar() + ", got " +
                           std::to_string(st->status));
    if (e["body"])
      if (auto s = check_bytes(e["body"], st->body, "body"); !s.empty()) o.problems.push_back(who + ": " + s);
  }
  return o;
}

outcome executor::do_macraw(const std::string& action, const Node& v) {
  // MACRAW through the register-level path: the driver's socket_open takes only TCP and UDP.
  constexpr std::uint8_t bsb_reg = 1, bsb_tx = 2, bsb_rx = 3;
  constexpr std::uint16_t MR = 0x00, IR = 0x02, SR = 0x03, TX_FSR = 0x20, TX_WR = 0x24, RX_RSR = 0x26,
                          RX_RD = 0x28;
  spi_host& spi = this->spi();
  outcome o;
  if (action == "macraw_open") {
    if (spi.read8(bsb_reg, SR) != 0x00) return outcome::fail(errc::runtime_error, "socket 0 is in use");
    spi.write8(bsb_reg, MR, static_cast<std::uint8_t>(0x04 | (get_bool(v, "mac_filter", false) ? 0x80 : 0)));
    spi.command(0, 0x01);
    for (int i = 0; i < 100 && spi.read8(bsb_reg, SR) != 0x42; ++i) sleep(us(10));
    if (spi.read8(bsb_reg, SR) != 0x42)
      return outcome::fail(errc::runtime_error, "socket 0 did not reach MACRAW");
    m_w.macraw_open = true;
  } else if (action == "macraw_close") {
    spi.command(0, 0x10);
    m_w.macraw_open = false;
  } else if (action == "macraw_send") {
    if (!m_w.macraw_open) return outcome::fail(errc::runtime_error, "MACRAW is not open (macraw_open first)");
    octets frame;
    if (v["hex"]) {
      std::string h;
      for (char c : v["hex"].Scalar())
        if (!std::isspace(static_cast<unsigned char>(c))) h += c;
      for (std::size_t i = 0; i + 1 < h.size(); i += 2)
        frame.push_back(static_cast<std::uint8_t>(parse_uint("0x" + h.substr(i, 2)).value_or(0)));
    } else if (v["arp_request"]) {
      auto ip = m_w.eth->ip_address();
      frame = build_eth(
          {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, m_w.chip_mac, 0x0806,
          build_arp(1, m_w.chip_mac, ip ? from_w(ip.value) : 0, mac_addr{}, get_ip(v, "arp_request", 0)));
    } else {
      const mac_addr src = v["src"] ? parse_mac(v["src"].Scalar()).value_or(m_w.chip_mac) : m_w.chip_mac;
      const std::string payload =
          v["payload"] ? v["payload"].Scalar() : pattern_bytes("tcp", get_size(v, "size", 0));
      frame = build_eth(parse_mac(v["dst"].Scalar()).value_or(mac_addr{}), src,
                        static_cast<std::uint16_t>(get_uint(v, "type", 0x88B5)),
                        octets(payload.begin(), payload.end()));
    }
    if (frame.size() > spi.read16(bsb_reg, TX_FSR))
      return outcome::fail(errc::runtime_error, "frame larger than the free TX buffer");
    const std::uint16_t wr = spi.read16(bsb_reg, TX_WR);
    spi.write(bsb_tx, wr, frame.data(), frame.size());
    spi.write16(bsb_reg, TX_WR, static_cast<std::uint16_t>(wr + frame.size()));
    spi.command(0, 0x20);
    const ps_t end = now() + ms(100);
    while ((spi.read8(bsb_reg, IR) & 0x10) == 0 && now() < end) sleep(us(10));
    if ((spi.read8(bsb_reg, IR) & 0x10) == 0)
      return outcome::fail(errc::timeout_error, "no SEND_OK for the MACRAW frame");
    spi.write8(bsb_reg, IR, 0x10);
    o.sent = frame.size();
  } else if (action == "macraw_recv") {
    if (!m_w.macraw_open) return outcome::fail(errc::runtime_error, "MACRAW is not open (macraw_open first)");
    const frame_filter filt =
        v.IsMap() && v["match"] ? frame_filter::parse(v["match"].Scalar()) : frame_filter();
    const ps_t end = now() + get_dur(v, "timeout", seconds(1));
    for (;;) {
      const std::uint16_t avail = spi.read16(bsb_reg, RX_RSR);
      if (avail >= 2) {
        const std::uint16_t rd = spi.read16(bsb_reg, RX_RD);
        const std::uint16_t len = spi.read16(bsb_rx, rd);
        octets f(len >= 2 ? len - 2u : 0u);
        if (!f.empty()) spi.read(bsb_rx, static_cast<std::uint16_t>(rd + 2), f.data(), f.size());
        spi.write16(bsb_reg, RX_RD, static_cast<std::uint16_t>(rd + len));
        spi.command(0, 0x40);
        if (filt(f)) {
          o.frame = f;
          o.data = std::string(f.begin(), f.end());
          return o;
        }
        if (now() >= end) return outcome::fail(errc::timeout_error, "no matching frame received");
        continue;
      }
      if (now() >= end) return outcome::fail(errc::timeout_error, "no matching frame received");
      sleep(ms(1));
    }
  }
  return o;
}

void executor::close_multicast(int sn) {
  spi().command(sn, 0x10);
  m_w.eth->release_socket(sn);
}

outcome executor::do_multicast(const std::string& action, const Node& v) {
  // UDP in multicast mode through the registers: the driver's socket module has no multicast API.
  // Sn_MR = UDP | MULTI with Sn_DIPR / Sn_DHAR / Sn_DPORT set to the group before OPEN (DS 4.2, Sn_MR).
  constexpr std::uint16_t MR = 0x00, IR = 0x02, SR = 0x03, PORT = 0x04, DHAR = 0x06, DIPR = 0x0C,
                          DPORT = 0x10, TX_FSR = 0x20, TX_WR = 0x24, RX_RSR = 0x26, RX_RD = 0x28;
  spi_host& sp = spi();
  outcome o;
  if (action == "udp_multicast") {
    const std::string name = get_str(v, "as", "udp");
    if (m_w.multicast.count(name) || m_w.sockets.count(name))
      return outcome::fail(errc::runtime_error, "a socket named " + name + " is already open");
    auto sn = m_w.eth->get_socket(true);
    if (!sn) return outcome::fail(sn.err);
    const auto bsb = static_cast<std::uint8_t>(sn.value * 4 + 1);
    const ip4_addr group = get_ip(v, "group", 0);
    const std::uint8_t dhar[6] = {0x01,
                                  0x00,
                                  0x5E,
                                  static_cast<std::uint8_t>((group >> 16) & 0x7F),
                                  static_cast<std::uint8_t>(group >> 8),
                                  static_cast<std::uint8_t>(group)};
    const std::uint8_t dipr[4] = {static_cast<std::uint8_t>(group >> 24),
                                  static_cast<std::uint8_t>(group >> 16),
                                  static_cast<std::uint8_t>(group >> 8), static_cast<std::uint8_t>(group)};
    sp.write8(bsb, MR, 0x82);
    sp.write16(bsb, PORT, static_cast<std::uint16_t>(get_uint(v, "local_port", get_uint(v, "port", 5000))));
    sp.write(bsb, DHAR, dhar, 6);
    sp.write(bsb, DIPR, dipr, 4);
    sp.write16(bsb, DPORT, static_cast<std::uint16_t>(get_uint(v, "port", 5000)));
    sp.command(sn.value, 0x01);
    for (int i = 0; i < 100 && sp.read8(bsb, SR) != 0x22; ++i) sleep(us(10));
    if (sp.read8(bsb, SR) != 0x22) {
      m_w.eth->release_socket(sn.value);
      return outcome::fail(errc::runtime_error, "the socket did not open in UDP multicast mode");
    }
    m_w.multicast[name] = sn.value;
    return o;
  }
  const std::string name = v.IsMap() ? get_str(v, "socket", "udp") : "udp";
  const int sn = m_w.multicast.at(name);
  const auto bsb = static_cast<std::uint8_t>(sn * 4 + 1), tx = static_cast<std::uint8_t>(sn * 4 + 2),
             rx = static_cast<std::uint8_t>(sn * 4 + 3);
  if (action == "udp_sendto") {
    const std::string data = data_of(v);
    const auto [host, port] = endpoint(v["to"].Scalar());
    const ip4_addr to = parse_ip(host).value_or(0);
    const std::uint8_t dipr[4] = {static_cast<std::uint8_t>(to >> 24), static_cast<std::uint8_t>(to >> 16),
                                  static_cast<std::uint8_t>(to >> 8), static_cast<std::uint8_t>(to)};
    sp.write(bsb, DIPR, dipr, 4);
    sp.write16(bsb, DPORT, port);
    if (data.size() > sp.read16(bsb, TX_FSR))
      return outcome::fail(errc::value_error, "datagram larger than the TX buffer");
    const std::uint16_t wr = sp.read16(bsb, TX_WR);
    sp.write(tx, wr, reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
    sp.write16(bsb, TX_WR, static_cast<std::uint16_t>(wr + data.size()));
    sp.command(sn, 0x20);
    const ps_t end = now() + seconds(3);
    std::uint8_t ir = 0;
    while (((ir = sp.read8(bsb, IR)) & 0x18) == 0 && now() < end) sleep(us(100));
    sp.write8(bsb, IR, 0x18);
    o.sent = (ir & 0x10) ? data.size() : 0;  // TIMEOUT (ARP failed): 0, as the socket module reports it
    return o;
  }
  // udp_recvfrom
  const ps_t end = now() + get_dur(v, "timeout", seconds(5));
  while (sp.read16(bsb, RX_RSR) < 8) {
    if (now() >= end) return outcome::fail(errc::timeout_error, "timed out");
    sleep(ms(1));
  }
  const std::uint16_t rd = sp.read16(bsb, RX_RD);
  std::uint8_t h[8];
  sp.read(rx, rd, h, 8);
  const std::uint16_t len = static_cast<std::uint16_t>(h[6] << 8 | h[7]);
  std::string data(len, '\0');
  if (len) sp.read(rx, static_cast<std::uint16_t>(rd + 8), reinterpret_cast<std::uint8_t*>(data.data()), len);
  sp.write16(bsb, RX_RD, static_cast<std::uint16_t>(rd + 8 + len));
  sp.command(sn, 0x40);
  o.data = data;
  o.from = to_string(ip4(h[0], h[1], h[2], h[3])) + ":" + std::to_string(h[4] << 8 | h[5]);
  return o;
}

void executor::check_scenario() {
  const Node ex = m_s.root["expect"];
  if (!ex) return;
  for (const auto& item : ex) {
    const std::string kind = item.begin()->first.Scalar();
    const Node v = item.begin()->second;
    const std::string head = where(item) + ": expect " + kind + " " + flow(v);
    std::vector<std::string> p;
    if (kind == "frames") {
      if (auto s = check_frames(v, 0, never); !s.empty()) p.push_back(s);
    } else if (kind == "time") {
      const range r = time_range_of(v);
      if (!r.contains(now()))
        p.push_back("expected scenario time " + describe_time_range(r) + ", got " + show_time(now()));
    } else if (kind == "sockets_closed") {
      if (get_bool(item, "sockets_closed", true)) {
        std::string open;
        for (int sn = 0; sn < m_w.eth->max_sockets(); ++sn) {
          auto st = m_w.eth->socket_status(sn);
          if (!st || st.value != wiznet5k::SNSR_SOCK_CLOSED)
            open += (open.empty() ? "" : ", ") + std::to_string(sn) + " (" +
                    (st ? state_name(st.value) : "?") + ")";
        }
        if (!open.empty()) p.push_back("expected every hardware socket closed, got open: " + open);
      }
    } else if (kind == "socket") {
      const std::string name = v["name"].Scalar();
      std::string state = "closed";
      int sn = -1;
      if (auto mc = m_w.multicast.find(name); mc != m_w.multicast.end())
        sn = mc->second;
      else if (sm::socket* so = socket_named(name))
        sn = so->fileno();
      if (sn >= 0) {
        auto st = m_w.eth->socket_status(sn);
        state = st ? state_name(st.value) : "unknown";
      }
      if (state != v["state"].Scalar())
        p.push_back("expected socket " + name + " in state " + v["state"].Scalar() + ", got " + state);
    } else if (kind == "peer_received") {
      const std::string conn = v["conn"].Scalar();
      auto it = m_w.peer_conns.find(conn);
      if (it == m_w.peer_conns.end()) {
        p.push_back("expected connection " + conn + ", but its peer_tcp_connect step did not run");
      } else {
        const peer_conn& pc = *it->second;
        if (v["bytes"])
          if (auto s =
                  check_bytes(v["bytes"], pc.received, "what " + pc.peer + " received on connection " + conn);
              !s.empty())
            p.push_back(s);
        if (v["state"]) {
          const std::string st = peer_conn_state(pc);
          if (st != v["state"].Scalar())
            p.push_back("expected connection " + conn + " " + v["state"].Scalar() + ", got " + st +
                        (pc.conn && !pc.conn->close_reason().empty() ? " (" + pc.conn->close_reason() + ")"
                         : pc.end_reason.empty()                     ? std::string()
                                                                     : " (" + pc.end_reason + ")"));
        }
      }
    } else if (kind == "faults") {
      const fault_stats& fs = m_w.seg->faults(m_w.port_of(get_str(v, "link", "chip"))).stats();
      const std::pair<const char*, std::uint64_t> facts[] = {
          {"considered", fs.considered}, {"dropped", fs.dropped},     {"delayed", fs.delayed},
          {"duplicated", fs.duplicated}, {"reordered", fs.reordered}, {"corrupted", fs.corrupted},
          {"truncated", fs.truncated}};
      for (const auto& [k, val] : facts)
        if (v[k])
          if (auto s = check_count(v[k], val, std::string("faults ") + k); !s.empty()) p.push_back(s);
    } else if (kind == "peer") {
      peer_slot* ps = m_w.peer(v["name"].Scalar());
      for (const auto& kv : v) {
        const std::string svc = kv.first.Scalar();
        if (svc == "name") continue;
        std::map<std::string, std::uint64_t> facts;
        std::string kept;
        if (svc == "dhcp") {
          const auto& st = ps->dhcp->stats();
          facts = {{"discover", st.in[1]}, {"offer", st.out[2]}, {"request", st.in[3]},
                   {"ack", st.out[5]},     {"nak", st.out[6]},   {"decline", st.in[4]},
                   {"release", st.in[7]},  {"inform", st.in[8]}, {"malformed", st.malformed},
                   {"ignored", st.ignored}};
          std::uint64_t bound = 0;
          for (const auto& l : ps->dhcp->leases())
            if (l.state == dhcp_lease_state::bound) ++bound;
          facts["leases"] = bound;
        } else if (svc == "dns") {
          const auto& st = ps->dns->stats();
          facts = {{"queries", st.queries},
                   {"answers", st.answers_total()},
                   {"silent", st.silent},
                   {"truncated", st.truncated},
                   {"malformed_in", st.malformed_in},
                   {"malformed_out", st.malformed_out}};
        } else if (svc == "http") {
          const auto& st = ps->http->stats();
          facts = {{"connections", st.connections},
                   {"requests", st.requests},
                   {"responses", st.responses},
                   {"parse_errors", st.parse_errors},
                   {"not_found", st.not_found}};
        } else if (svc == "udp_echo") {
          facts = {{"datagrams", ps->udp_echo->stats().datagrams}, {"bytes", ps->udp_echo->stats().bytes}};
        } else {
          tcp_service_stats st;
          if (svc == "tcp_echo")
            st = ps->tcp_echo->stats();
          else if (svc == "tcp_discard")
            st = ps->tcp_discard->stats();
          else if (svc == "tcp_sink") {
            st = ps->tcp_sink->stats();
            const octets r = ps->tcp_sink->received();
            kept.assign(r.begin(), r.end());
          } else if (svc == "tcp_source")
            st = ps->tcp_source->stats();
          else if (svc == "tcp_reply")
            st = ps->tcp_reply->stats;
          facts = {{"connections", st.connections},
                   {"bytes_received", st.bytes_received},
                   {"bytes_sent", st.bytes_sent},
                   {"closed", st.closed},
                   {"aborted", st.aborted}};
        }
        for (const auto& f : kv.second) {
          const std::string fact = f.first.Scalar();
          if (fact == "data") {
            if (auto s = check_bytes(f.second, kept, "tcp_sink data"); !s.empty()) p.push_back(s);
          } else if (auto s = check_count(f.second, facts[fact], svc + " " + fact); !s.empty()) {
            p.push_back(s);
          }
        }
      }
    }
    for (const auto& s : p) {
      m_r.failures.push_back(head + ": " + s);
      log("FAIL " + head + ": " + s);
    }
    if (p.empty()) log("expect " + kind + " " + flow(v) + ": ok");
  }
}

}  // namespace

run_result run(const scenario& s, const run_options& options) {
  run_result r;
  const auto wall0 = std::chrono::steady_clock::now();
  r.seed = options.seed.value_or(s.seed);
  try {
    world w(s, r.seed);
    std::string build_error;
    if (!w.build([&](const Node& where, const std::string& what) {
          build_error =
              s.file + ":" + std::to_string(where.Mark().line + 1) + ": impossible topology: " + what;
        })) {
      r.failures.push_back(build_error);
    } else {
      std::unique_ptr<run_artifacts> art;
      if (!options.artifacts_dir.empty()) {
        try {
          art = std::make_unique<run_artifacts>(options.artifacts_dir);
        } catch (const std::exception& e) {
          r.failures.push_back(s.file + ": cannot write artifacts: " + e.what());
          r.passed = false;
          r.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
          return r;
        }
        w.seg->capture(art->path("capture.pcap"));
        w.seg->set_trace_sink(art->trace_sink());
        w.seg->set_log_sink(art->log_sink());
        art->record(*w.chip);
      }
      // Detaches the segment's sinks before the artifacts object goes, whichever way this block is left.
      struct detach_guard {
        segment* seg;
        bool active;
        ~detach_guard() {
          if (!active) return;
          seg->stop_capture();
          seg->set_trace_sink(nullptr);
          seg->set_log_sink(nullptr);
        }
      } guard{w.seg.get(), art != nullptr};
      executor ex(s, w, r, art.get());
      ex.log("scenario " + s.name + " (" + s.file + "), seed " + std::to_string(r.seed) + ", budget " +
             show_time(s.budget));
      w.hal->armed = true;
      ex.run_steps();
      if (ex.steps_passed()) ex.check_scenario();
      w.hal->armed = false;
      r.virtual_time = w.sched->now();
      ex.log(std::string(r.failures.empty() ? "PASSED" : "FAILED") + " in " + show_time(r.virtual_time) +
             " virtual");
      // Sockets are closed while the sinks still exist, then the sinks are detached before they go.
      w.sockets.clear();
      if (art) {
        w.seg->stop_capture();
        w.seg->set_trace_sink(nullptr);
        w.seg->set_log_sink(nullptr);
        guard.active = false;
        art->flush();
        std::ofstream steps(art->path("steps.txt"));
        steps << r.log;
        r.artifacts = {art->path("capture.pcap"), art->path("trace.jsonl"), art->path("log.txt"),
                       art->path("steps.txt")};
        art.reset();
      }
    }
  } catch (const std::exception& e) {
    r.failures.push_back(s.file + ": internal error: " + e.what());
  } catch (const budget_exceeded&) {
    r.failures.push_back(s.file + ": virtual-time budget exceeded");
  } catch (...) {
    r.failures.push_back(s.file + ": internal error (unknown exception)");
  }
  r.passed = r.failures.empty();
  r.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  return r;
}

}  // namespace wizsim::scenario
