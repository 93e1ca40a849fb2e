// The scripted segment-level peer: steps, their activation and resolution on the scheduler, failure
// messages, the ARP responder, frame descriptions and the text script parser. See script_peer.hpp.
#include "wizsim/harness/script_peer.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <optional>
#include <stdexcept>

#include <fmt/format.h>

namespace wizsim {

// ---- descriptions -----------------------------------------------------------------------------------------

std::string script_time_string(ps_t t) {
  if (t == never) return "never";
  const ps_t whole = t / ps_per_ms, frac = t % ps_per_ms;
  if (frac % ps_per_us == 0) return fmt::format("{}.{:03}ms", whole, frac / ps_per_us);
  if (frac % ps_per_ns == 0) return fmt::format("{}.{:06}ms", whole, frac / ps_per_ns);
  return fmt::format("{}.{:09}ms", whole, frac);
}

namespace {

std::string tcp_flag_names(std::uint8_t f) {
  std::string s;
  const std::pair<std::uint8_t, const char*> names[] = {{TCP_SYN, "SYN"}, {TCP_FIN, "FIN"}, {TCP_RST, "RST"},
                                                        {TCP_PSH, "PSH"}, {TCP_ACK, "ACK"}, {TCP_URG, "URG"}};
  for (const auto& [bit, name] : names)
    if (f & bit) s += (s.empty() ? "" : ",") + std::string(name);
  return s.empty() ? "none" : s;
}

std::string describe_ipv4(const ipv4_view& ip) {
  const std::string src = to_string(ip.h.src), dst = to_string(ip.h.dst);
  if ((ip.h.frag & 0x1FFF) != 0)
    return fmt::format("IPv4 {} > {} proto {} fragment id {} offset {} len {}", src, dst, ip.h.proto, ip.h.id,
                       (ip.h.frag & 0x1FFF) * 8, ip.payload_len);
  switch (ip.h.proto) {
    case ip_proto_udp:
      if (auto u = parse_udp(ip.payload, ip.payload_len, ip.h.src, ip.h.dst))
        return fmt::format("UDP {}:{} > {}:{} len={}", src, u->src_port, dst, u->dst_port, u->payload_len);
      break;
    case ip_proto_tcp:
      if (auto t = parse_tcp(ip.payload, ip.payload_len, ip.h.src, ip.h.dst)) {
        std::string s = fmt::format("TCP {}:{} > {}:{} [{}] seq={} ack={} win={} len={}", src, t->h.src_port,
                                    dst, t->h.dst_port, tcp_flag_names(t->h.flags), t->h.seq, t->h.ack,
                                    t->h.window, t->payload_len);
        if (t->h.mss) s += fmt::format(" mss={}", *t->h.mss);
        return s;
      }
      break;
    case ip_proto_icmp:
      if (auto c = parse_icmp(ip.payload, ip.payload_len)) {
        const char* what = c->type == 8 ? "echo request" : c->type == 0 ? "echo reply"
                           : c->type == 3 ? "unreachable" : "type";
        return fmt::format("ICMP {} > {} {} ({}/{}) len={}", src, dst, what, c->type, c->code,
                           c->payload_len);
      }
      break;
    case ip_proto_igmp: return fmt::format("IGMP {} > {} len={}", src, dst, ip.payload_len);
    default: break;
  }
  return fmt::format("IPv4 {} > {} proto {} len={}{}", src, dst, ip.h.proto, ip.payload_len,
                     ip.h.proto == ip_proto_udp || ip.h.proto == ip_proto_tcp || ip.h.proto == ip_proto_icmp
                         ? " (malformed transport header)" : "");
}

}  // namespace

std::string describe_frame(const std::uint8_t* frame, std::size_t n) {
  auto eth = parse_eth(frame, n);
  if (!eth) return fmt::format("runt frame of {} octets", n);
  if (eth->ethertype == ethertype_arp) {
    auto a = parse_arp(eth->payload, eth->payload_len);
    if (!a) return "ARP (malformed)";
    if (a->op == arp_request)
      return fmt::format("ARP who-has {} tell {}", to_string(a->tpa), to_string(a->spa));
    if (a->op == arp_reply) return fmt::format("ARP {} is-at {}", to_string(a->spa), to_string(a->sha));
    return fmt::format("ARP op {} {} > {}", a->op, to_string(a->spa), to_string(a->tpa));
  }
  if (eth->ethertype == ethertype_ipv4) {
    auto ip = parse_ipv4(eth->payload, eth->payload_len);
    if (!ip) return fmt::format("IPv4 (malformed) {} octets", n);
    return describe_ipv4(*ip);
  }
  return fmt::format("{} > {} ethertype 0x{:04x} {} octets", to_string(eth->src), to_string(eth->dst),
                     eth->ethertype, n);
}

// ---- times, steps, outcomes -------------------------------------------------------------------------------

namespace {
ps_t saturating_add(ps_t a, ps_t b) { return a > never - b ? never : a + b; }
}  // namespace

ps_t script_time::resolve(ps_t start, ps_t activation) const {
  switch (from) {
    case base::absolute: return offset;
    case base::start: return saturating_add(start, offset);
    case base::previous: return saturating_add(activation, offset);
  }
  return offset;
}

script_time script_time::plus(ps_t d) const { return {from, saturating_add(offset, d)}; }

const char* to_string(step_kind k) {
  switch (k) {
    case step_kind::inject: return "inject";
    case step_kind::expect: return "expect";
    case step_kind::not_expect: return "not_expect";
  }
  return "?";
}

const char* to_string(step_outcome o) {
  switch (o) {
    case step_outcome::pending: return "pending";
    case step_outcome::passed: return "passed";
    case step_outcome::failed: return "failed";
    case step_outcome::skipped: return "skipped";
  }
  return "?";
}

// ---- the peer ---------------------------------------------------------------------------------------------

script_peer::script_peer(segment& seg, std::string name, link_config link)
    : m_seg(seg),
      m_name(std::move(name)),
      m_diag(seg.name() + "." + m_name, seg.sched().clock()),
      m_port(-1),
      m_alive(std::make_shared<bool>(true)) {
  m_seg.adopt(m_diag);
  std::weak_ptr<bool> alive = m_alive;
  m_port = m_seg.attach(m_name, [this, alive](const octets& f) {
    if (alive.lock()) on_frame(f);
  }, link);
}

script_peer::~script_peer() {
  *m_alive = false;
  for (auto& s : m_steps) m_seg.sched().cancel(s.timer);
  m_seg.detach(m_port);
  m_seg.disown(m_diag);
}

std::size_t script_peer::inject(ps_t at, octets frame, std::string label) {
  script_step s;
  s.kind = step_kind::inject;
  s.at = script_time::at(at);
  s.frame = std::move(frame);
  s.label = std::move(label);
  return add(std::move(s));
}

std::size_t script_peer::inject(octets frame, std::string label) {
  script_step s;
  s.kind = step_kind::inject;
  s.at = script_time::after_previous();
  s.frame = std::move(frame);
  s.label = std::move(label);
  return add(std::move(s));
}

std::size_t script_peer::inject_with(std::function<octets()> make, std::string label, ps_t delay) {
  script_step s;
  s.kind = step_kind::inject;
  s.at = script_time::after_previous(delay);
  s.make = std::move(make);
  s.label = std::move(label);
  return add(std::move(s));
}

std::size_t script_peer::expect(frame_filter pattern, ps_t window_start, ps_t window_end, std::string label) {
  script_step s;
  s.kind = step_kind::expect;
  s.pattern = std::move(pattern);
  s.at = script_time::at(window_start);
  s.until = script_time::at(window_end);
  s.label = std::move(label);
  return add(std::move(s));
}

std::size_t script_peer::expect_within(frame_filter pattern, ps_t within, std::string label) {
  script_step s;
  s.kind = step_kind::expect;
  s.pattern = std::move(pattern);
  s.at = script_time::after_previous();
  s.until = script_time::after_previous(within);
  s.label = std::move(label);
  return add(std::move(s));
}

std::size_t script_peer::not_expect(frame_filter pattern, ps_t until, std::string label) {
  script_step s;
  s.kind = step_kind::not_expect;
  s.pattern = std::move(pattern);
  s.at = script_time::after_previous();
  s.until = script_time::at(until);
  s.label = std::move(label);
  return add(std::move(s));
}

std::size_t script_peer::add(script_step s) {
  const std::size_t number = m_steps.size() + 1;
  const std::string where = fmt::format("script {} step {}{}: ", m_name, number,
                                        s.line ? fmt::format(" (line {})", s.line) : std::string());
  if (s.kind == step_kind::inject) {
    if (!s.make && (s.frame.size() < eth_header_len || s.frame.size() > eth_max_frame))
      throw std::invalid_argument(where + fmt::format("an injected frame must be 14..1514 octets (got {})",
                                                      s.frame.size()));
    if (s.label.empty())
      s.label =
          s.make ? std::string("inject (built when sent)") : fmt::format("inject {} octets", s.frame.size());
  } else {
    if (s.at.from == s.until.from && s.until.offset < s.at.offset)
      throw std::invalid_argument(where + "the window ends (" + script_time_string(s.until.offset) +
                                  ") before it starts (" + script_time_string(s.at.offset) + ")");
    if (s.label.empty()) {
      const std::string what = s.pattern.matches_all() ? "any frame" : s.pattern.text();
      s.label = s.kind == step_kind::expect ? what : "no " + what;
    }
  }
  step_state st;
  st.spec = std::move(s);
  st.res.number = number;
  st.res.kind = st.spec.kind;
  st.res.label = st.spec.label;
  m_steps.push_back(std::move(st));
  if (m_started) activate_ready(m_seg.sched().now());
  return number;
}

void script_peer::load(std::string_view text) {
  parsed_script p = parse_script(text);
  if (m_started && p.mode != m_mode)
    throw std::logic_error("script " + m_name + ": the mode cannot change once the script has started");
  m_mode = p.mode;
  for (const auto& [ip, mac] : p.arp_answers) answer_arp(ip, mac);
  for (auto& s : p.steps) add(std::move(s));
}

void script_peer::set_mode(script_mode m) {
  if (m_started && m != m_mode)
    throw std::logic_error("script " + m_name + ": the mode cannot change once the script has started");
  m_mode = m;
}

void script_peer::answer_arp(ip4_addr ip, const mac_addr& mac) {
  if (mac[0] & 1) throw std::invalid_argument("script " + m_name + ": ARP answer MAC " + to_string(mac) +
                                              " is a group address");
  for (auto& e : m_arp)
    if (e.first == ip) {
      e.second = mac;
      return;
    }
  m_arp.emplace_back(ip, mac);
}

void script_peer::send(octets frame) { m_seg.transmit(m_port, std::move(frame)); }

void script_peer::answer_arp_request(const octets& frame) {
  auto eth = parse_eth(frame.data(), frame.size());
  if (!eth || eth->ethertype != ethertype_arp) return;
  auto a = parse_arp(eth->payload, eth->payload_len);
  if (!a || a->op != arp_request) return;
  for (const auto& [ip, mac] : m_arp) {
    if (ip != a->tpa) continue;
    ++m_arp_replies;
    m_diag.log(log_level::debug, "arp", "{} is-at {} (to {})", to_string(ip), to_string(mac),
               to_string(a->spa));
    send(build_eth(a->sha, mac, ethertype_arp, build_arp(arp_reply, mac, ip, a->sha, a->spa)));
    return;
  }
}

namespace {
std::string pattern_text(const frame_filter& f) { return f.matches_all() ? "(any frame)" : f.text(); }
}  // namespace

std::string script_peer::step_name(const step_state& s) const {
  std::string n = fmt::format("step {} '{}'", s.res.number, s.res.label);
  if (s.spec.line) n += fmt::format(" (line {})", s.spec.line);
  return n;
}

std::string script_peer::frames_seen(ps_t from, ps_t to) const {
  constexpr std::size_t shown = 8;
  std::vector<const received_frame*> in;
  for (const auto& r : m_received)
    if (r.time >= from && r.time <= to) in.push_back(&r);
  if (in.empty()) return "frames seen: none";
  std::string s = "frames seen:";
  if (in.size() > shown) s += fmt::format(" ({} earlier not shown)", in.size() - shown);
  for (std::size_t i = in.size() > shown ? in.size() - shown : 0; i < in.size(); ++i)
    s += fmt::format(" [{}] {};", script_time_string(in[i]->time), describe_frame(in[i]->frame));
  s.pop_back();
  return s;
}

bool script_peer::finished() const {
  return std::all_of(m_steps.begin(), m_steps.end(),
                     [](const step_state& s) { return s.res.outcome != step_outcome::pending; });
}

void script_peer::activate_ready(ps_t now) {
  if (m_mode == script_mode::unordered) {
    for (std::size_t i = 0; i < m_steps.size(); ++i)
      if (!m_steps[i].active && m_steps[i].res.outcome == step_outcome::pending) activate(i, now);
    m_next = m_steps.size();
    return;
  }
  if (m_failed) {
    for (std::size_t i = m_next; i < m_steps.size(); ++i) m_steps[i].res.outcome = step_outcome::skipped;
    m_next = m_steps.size();
    return;
  }
  if (m_next < m_steps.size() && (m_next == 0 || m_steps[m_next - 1].res.outcome == step_outcome::passed))
    activate(m_next++, now);
}

void script_peer::activate(std::size_t i, ps_t now) {
  step_state& s = m_steps[i];
  s.active = true;
  s.activated = now;
  std::weak_ptr<bool> alive = m_alive;
  scheduler& sched = m_seg.sched();
  switch (s.spec.kind) {
    case step_kind::inject: {
      const ps_t when = std::max(now, s.spec.at.resolve(m_start, now));
      s.timer = sched.at(when, [this, alive, i] {
        if (alive.lock()) do_inject(i);
      });
      break;
    }
    case step_kind::expect: {
      s.window_start = s.spec.at.resolve(m_start, now);
      s.window_end = s.spec.until.resolve(m_start, now);
      if (s.window_end < s.window_start) {
        fail(i, now, fmt::format("{}: empty window {}..{}", step_name(s), script_time_string(s.window_start),
                                 script_time_string(s.window_end)));
        return;
      }
      // Inclusive window: the deadline fires just after its last picosecond.
      if (s.window_end != never)
        s.timer = sched.at(s.window_end + 1, [this, alive, i] {
          if (!alive.lock() || m_steps[i].res.outcome != step_outcome::pending) return;
          const step_state& st = m_steps[i];
          fail(i, m_seg.sched().now(),
               fmt::format("{}: no frame matching '{}' between {} and {}; {}", step_name(st),
                           pattern_text(st.spec.pattern), script_time_string(st.window_start),
                           script_time_string(st.window_end), frames_seen(st.activated, st.window_end)));
        });
      break;
    }
    case step_kind::not_expect: {
      s.window_start = std::max(now, s.spec.at.resolve(m_start, now));
      s.window_end = s.spec.until.resolve(m_start, now);
      if (s.window_end <= now) {
        pass(i, now, {});
        return;
      }
      if (s.window_end != never)
        s.timer = sched.at(s.window_end, [this, alive, i] {
          if (alive.lock() && m_steps[i].res.outcome == step_outcome::pending)
            pass(i, m_seg.sched().now(), {});
        });
      break;
    }
  }
}

void script_peer::do_inject(std::size_t i) {
  step_state& s = m_steps[i];
  const ps_t now = m_seg.sched().now();
  octets frame;
  if (s.spec.make) {
    try {
      frame = s.spec.make();
    } catch (const std::exception& e) {
      fail(i, now, fmt::format("{}: building the frame failed: {}", step_name(s), e.what()));
      return;
    }
    if (frame.size() < eth_header_len || frame.size() > eth_max_frame) {
      fail(i, now, fmt::format("{}: the built frame has {} octets (Ethernet carries 14..1514)", step_name(s),
                               frame.size()));
      return;
    }
  } else {
    frame = s.spec.frame;
  }
  m_diag.log(log_level::debug, "tx", "{}: {}", step_name(s), describe_frame(frame));
  send(frame);
  pass(i, now, std::move(frame));
}

void script_peer::pass(std::size_t i, ps_t t, octets frame) {
  step_state& s = m_steps[i];
  m_seg.sched().cancel(s.timer);
  s.res.outcome = step_outcome::passed;
  s.res.time = t;
  s.res.frame = std::move(frame);
  m_diag.log(log_level::info, "step", "{} passed", step_name(s));
  if (m_diag.tracing())
    m_diag.trace("script_step", fmt::format(R"("step":{},"label":"{}","outcome":"passed")", s.res.number,
                                            json_escape(s.res.label)));
  if (m_mode == script_mode::ordered) activate_ready(t);
}

void script_peer::fail(std::size_t i, ps_t t, std::string why, octets frame) {
  step_state& s = m_steps[i];
  m_seg.sched().cancel(s.timer);
  s.res.outcome = step_outcome::failed;
  s.res.time = t;
  s.res.frame = std::move(frame);
  s.res.message = std::move(why);
  m_diag.log(log_level::warn, "step", "{}", s.res.message);
  if (m_diag.tracing())
    m_diag.trace("script_step",
                 fmt::format(R"("step":{},"label":"{}","outcome":"failed","message":"{}")", s.res.number,
                             json_escape(s.res.label), json_escape(s.res.message)));
  if (m_mode == script_mode::ordered) {
    m_failed = true;
    activate_ready(t);
  }
}

void script_peer::on_frame(const octets& frame) {
  const ps_t now = m_seg.sched().now();
  m_received.push_back(received_frame{now, frame});
  m_diag.log(log_level::debug, "rx", "{}", describe_frame(frame));
  if (!m_arp.empty()) answer_arp_request(frame);
  if (!m_started) return;

  auto early = [&](std::size_t i) {
    const step_state& s = m_steps[i];
    fail(
        i, now,
        fmt::format("{}: a frame matching '{}' arrived at {}, before the window {}..{}: {}", step_name(s),
                    pattern_text(s.spec.pattern), script_time_string(now), script_time_string(s.window_start),
                    script_time_string(s.window_end), describe_frame(frame)),
        frame);
  };
  auto unwanted = [&](std::size_t i) {
    const step_state& s = m_steps[i];
    fail(i, now,
         fmt::format("{}: a frame matching '{}' arrived at {} (none expected until {}): {}", step_name(s),
                     pattern_text(s.spec.pattern), script_time_string(now), script_time_string(s.window_end),
                     describe_frame(frame)),
         frame);
  };
  auto live = [&](std::size_t i) {
    return m_steps[i].active && m_steps[i].res.outcome == step_outcome::pending;
  };

  if (m_mode == script_mode::ordered) {
    if (m_next == 0 || !live(m_next - 1)) return;
    const std::size_t i = m_next - 1;
    const step_state& s = m_steps[i];
    if (s.spec.kind == step_kind::inject || !s.spec.pattern(frame)) return;
    if (s.spec.kind == step_kind::not_expect) {
      if (now >= s.window_start && now < s.window_end) unwanted(i);
    } else if (now < s.window_start) {
      early(i);
    } else if (now <= s.window_end) {
      pass(i, now, frame);
    }
    return;
  }

  // Unordered: every quiet period watches on its own; the frame then goes to the first expect whose
  // window holds it, or fails the first expect it reached too early.
  for (std::size_t i = 0; i < m_steps.size(); ++i)
    if (live(i) && m_steps[i].spec.kind == step_kind::not_expect && now >= m_steps[i].window_start &&
        now < m_steps[i].window_end && m_steps[i].spec.pattern(frame))
      unwanted(i);
  std::size_t first_early = m_steps.size();
  for (std::size_t i = 0; i < m_steps.size(); ++i) {
    const step_state& s = m_steps[i];
    if (!live(i) || s.spec.kind != step_kind::expect || !s.spec.pattern(frame)) continue;
    if (now >= s.window_start && now <= s.window_end) {
      pass(i, now, frame);
      return;
    }
    if (now < s.window_start && first_early == m_steps.size()) first_early = i;
  }
  if (first_early != m_steps.size()) early(first_early);
}

void script_peer::start() {
  const ps_t now = m_seg.sched().now();
  if (!m_started) {
    m_started = true;
    m_start = now;
  }
  activate_ready(now);
}

script_result script_peer::run(ps_t limit) {
  scheduler& sched = m_seg.sched();
  start();
  while (!finished()) {
    const ps_t next = sched.next_due();
    if (next == never || next > limit) {
      // Nothing can happen any more, or not before the limit: with a limit, time still runs up to it.
      const bool limited = limit != never;
      if (limited) sched.advance_to(limit);
      const ps_t now = sched.now();
      for (std::size_t i = 0; i < m_steps.size(); ++i) {
        step_state& s = m_steps[i];
        if (s.res.outcome != step_outcome::pending) continue;
        if (!s.active) {
          s.res.outcome = step_outcome::skipped;
          continue;
        }
        fail(i, now,
             fmt::format(
                 "{}: {} {}; {}", step_name(s),
                 limited ? "still pending at the run limit," : "still pending with nothing left to happen at",
                 script_time_string(now), frames_seen(s.activated, now)));
      }
      break;
    }
    sched.run_next();
  }
  return result();
}

script_result script_peer::result() const {
  script_result r;
  r.passed = true;
  for (const auto& s : m_steps) {
    r.steps.push_back(s.res);
    if (s.res.outcome != step_outcome::passed) r.passed = false;
    if (s.res.outcome == step_outcome::failed) r.message += (r.message.empty() ? "" : "\n") + s.res.message;
  }
  if (r.message.empty() && !r.passed) r.message = "script " + m_name + " has steps that did not run";
  return r;
}

const octets& script_peer::matched(std::size_t step) const {
  if (step == 0 || step > m_steps.size())
    throw std::logic_error(fmt::format("script {}: no step {}", m_name, step));
  const step_state& s = m_steps[step - 1];
  if (s.spec.kind != step_kind::expect || s.res.outcome != step_outcome::passed)
    throw std::logic_error(fmt::format("script {}: {} is not a passed expect step ({} {})", m_name,
                                       step_name(s), to_string(s.spec.kind), to_string(s.res.outcome)));
  return s.res.frame;
}

// ---- the text format --------------------------------------------------------------------------------------

namespace {

class line_parser {
 public:
  line_parser(std::string_view line, std::size_t number) : m_line(line), m_number(number) {}

  [[noreturn]] void fail(std::size_t pos, const std::string& what) const {
    throw std::invalid_argument(fmt::format("script line {}, column {}: {}", m_number, pos + 1, what));
  }

  void skip_ws() {
    while (m_pos < m_line.size() && std::isspace(static_cast<unsigned char>(m_line[m_pos]))) ++m_pos;
  }
  bool at_end() {
    skip_ws();
    return m_pos >= m_line.size();
  }
  std::size_t pos() const { return m_pos; }
  char peek() {
    skip_ws();
    return m_pos < m_line.size() ? m_line[m_pos] : '\0';
  }

  // A run of letters, digits, '.', '+' or '_' (keywords, times, IPv4 addresses), and ':' for MACs.
  std::string_view word(bool colons = false) {
    skip_ws();
    const std::size_t b = m_pos;
    while (m_pos < m_line.size()) {
      const char c = m_line[m_pos];
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '+' || c == '_' ||
            (colons && c == ':')))
        break;
      ++m_pos;
    }
    return m_line.substr(b, m_pos - b);
  }

  void keyword(std::string_view kw) {
    const std::size_t at = (skip_ws(), m_pos);
    const auto w = word();
    if (w != kw)
      fail(at, fmt::format("expected '{}'{}", kw, w.empty() ? "" : fmt::format(", found '{}'", w)));
  }

  script_time time() {
    const std::size_t at = (skip_ws(), m_pos);
    const auto w = word();
    if (w.empty()) fail(at, "expected a time (e.g. +1ms or 0.5s)");
    return to_time(w, at, true);
  }

  ps_t duration() {
    const std::size_t at = (skip_ws(), m_pos);
    const auto w = word();
    if (w.empty()) fail(at, "expected a duration (e.g. 10ms)");
    if (w[0] == '+') fail(at, "a duration takes no '+'");
    return to_time(w, at, false).offset;
  }

  script_time to_time(std::string_view w, std::size_t at, bool allow_plus) const {
    script_time t = script_time::from_start(0);
    std::size_t i = 0;
    if (allow_plus && i < w.size() && w[i] == '+') {
      t.from = script_time::base::previous;
      ++i;
    }
    const std::size_t digits_at = i;
    ps_t whole = 0;
    while (i < w.size() && std::isdigit(static_cast<unsigned char>(w[i]))) {
      const auto d = static_cast<ps_t>(w[i] - '0');
      if (whole > (never - d) / 10) fail(at, "time out of range");
      whole = whole * 10 + d;
      ++i;
    }
    if (i == digits_at) fail(at, fmt::format("'{}' is not a time (expected e.g. +1ms or 0.5s)", w));
    ps_t frac = 0, frac_scale = 1;
    if (i < w.size() && w[i] == '.') {
      ++i;
      const std::size_t frac_at = i;
      while (i < w.size() && std::isdigit(static_cast<unsigned char>(w[i]))) {
        if (frac_scale < ps_per_s) {  // digits beyond a picosecond of a second are dropped
          frac = frac * 10 + static_cast<ps_t>(w[i] - '0');
          frac_scale *= 10;
        }
        ++i;
      }
      if (i == frac_at) fail(at, fmt::format("'{}': digits expected after '.'", w));
    }
    const std::string_view unit = w.substr(i);
    ps_t scale = 0;
    if (unit == "ps") scale = 1;
    else if (unit == "ns") scale = ps_per_ns;
    else if (unit == "us") scale = ps_per_us;
    else if (unit == "ms") scale = ps_per_ms;
    else if (unit == "s") scale = ps_per_s;
    else if (unit.empty() && whole == 0 && frac == 0) scale = 1;  // "+0" needs no unit
    else if (unit.empty()) fail(at, fmt::format("'{}' needs a unit (ps, ns, us, ms or s)", w));
    else fail(at + i, fmt::format("unknown time unit '{}' (expected ps, ns, us, ms or s)", unit));
    if (whole > never / scale) fail(at, "time out of range");
    t.offset = whole * scale + frac * scale / frac_scale;
    return t;
  }

  // Optional "label".
  std::string label() {
    if (peek() != '"') return {};
    const std::size_t open = m_pos++;
    const std::size_t close = m_line.find('"', m_pos);
    if (close == std::string_view::npos) fail(open, "unterminated label (missing closing '\"')");
    std::string l(m_line.substr(m_pos, close - m_pos));
    m_pos = close + 1;
    if (l.empty()) fail(open, "empty label");
    return l;
  }

  // Hex octets to the end of the line: pairs of hex digits, whitespace allowed between pairs.
  octets hex() {
    octets out;
    skip_ws();
    while (m_pos < m_line.size()) {
      const char c = m_line[m_pos];
      if (std::isspace(static_cast<unsigned char>(c))) {
        ++m_pos;
        continue;
      }
      if (!std::isxdigit(static_cast<unsigned char>(c)))
        fail(m_pos, fmt::format("'{}' is not a hex digit", c));
      if (m_pos + 1 >= m_line.size() || std::isspace(static_cast<unsigned char>(m_line[m_pos + 1])))
        fail(m_pos, "odd number of hex digits (octets are two digits each)");
      if (!std::isxdigit(static_cast<unsigned char>(m_line[m_pos + 1])))
        fail(m_pos + 1, fmt::format("'{}' is not a hex digit", m_line[m_pos + 1]));
      out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(m_line.substr(m_pos, 2)), nullptr, 16)));
      m_pos += 2;
    }
    return out;
  }

  // ':' then a filter to the end of the line.
  frame_filter filter() {
    if (peek() != ':') fail(m_pos, "expected ':' before the filter");
    ++m_pos;
    skip_ws();
    const std::size_t at = m_pos;
    const std::string_view text = m_line.substr(at);
    if (text.find_first_not_of(" \t\r") == std::string_view::npos) fail(at, "expected a filter after ':'");
    try {
      return frame_filter::parse(text);
    } catch (const std::invalid_argument& e) {
      // Point at the filter's own offending column within the line.
      const std::string msg = e.what();
      const std::string key = " at column ";
      std::size_t col = 1;
      const auto k = msg.find(key);
      if (k != std::string::npos) col = std::strtoul(msg.c_str() + k + key.size(), nullptr, 10);
      fail(at + (col > 0 ? col - 1 : 0), msg);
    }
  }

 private:
  std::string_view m_line;
  std::size_t m_number;
  std::size_t m_pos = 0;
};

ip4_addr parse_ip_word(line_parser& p) {
  const std::size_t at = (p.skip_ws(), p.pos());
  const std::string_view w = p.word();
  auto bad = [&] { p.fail(at, fmt::format("'{}' is not an IPv4 address", w)); };
  ip4_addr a = 0;
  int parts = 0;
  std::size_t i = 0;
  while (parts < 4) {
    unsigned v = 0, digits = 0;
    while (i < w.size() && std::isdigit(static_cast<unsigned char>(w[i])) && digits < 4) {
      v = v * 10 + static_cast<unsigned>(w[i++] - '0');
      ++digits;
    }
    if (digits == 0 || digits > 3 || v > 255) bad();
    a = a << 8 | v;
    if (++parts < 4) {
      if (i >= w.size() || w[i] != '.') bad();
      ++i;
    }
  }
  if (i != w.size()) bad();
  return a;
}

mac_addr parse_mac_word(line_parser& p) {
  const std::size_t at = (p.skip_ws(), p.pos());
  const std::string_view w = p.word(true);
  auto bad = [&] {
    p.fail(at, fmt::format("'{}' is not a MAC address (expected e.g. 02:00:00:00:00:01)", w));
  };
  mac_addr m{};
  std::size_t i = 0;
  for (std::size_t k = 0; k < m.size(); ++k) {
    unsigned v = 0, digits = 0;
    while (i < w.size() && std::isxdigit(static_cast<unsigned char>(w[i])) && digits < 3) {
      const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(w[i++])));
      v = v * 16 +
          static_cast<unsigned>(std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : c - 'a' + 10);
      ++digits;
    }
    if (digits == 0 || digits > 2) bad();
    m[k] = static_cast<std::uint8_t>(v);
    if (k + 1 < m.size()) {
      if (i >= w.size() || w[i] != ':') bad();
      ++i;
    }
  }
  if (i != w.size()) bad();
  return m;
}

// Strips a '#' comment (outside a quoted label).
std::string_view strip_comment(std::string_view line) {
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '"') quoted = !quoted;
    else if (line[i] == '#' && !quoted) return line.substr(0, i);
  }
  return line;
}

}  // namespace

parsed_script parse_script(std::string_view text) {
  parsed_script out;
  std::size_t number = 0;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    const std::string_view raw = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++number;
    line_parser p(strip_comment(raw), number);
    if (p.at_end()) continue;

    const std::size_t first = p.pos();
    std::optional<script_time> lead;
    if (p.peek() == '+' || std::isdigit(static_cast<unsigned char>(p.peek()))) lead = p.time();
    const std::size_t verb_at = (p.skip_ws(), p.pos());
    const std::string verb(p.word());

    if (verb == "mode" || verb == "answer") {
      if (lead) p.fail(first, fmt::format("'{}' takes no time", verb));
      if (verb == "mode") {
        const std::size_t at = (p.skip_ws(), p.pos());
        const std::string m(p.word());
        if (!out.steps.empty()) p.fail(verb_at, "'mode' must come before the first step");
        if (m == "ordered") out.mode = script_mode::ordered;
        else if (m == "unordered") out.mode = script_mode::unordered;
        else p.fail(at, "expected 'ordered' or 'unordered'");
      } else {
        p.keyword("arp");
        const ip4_addr ip = parse_ip_word(p);
        const mac_addr mac = parse_mac_word(p);
        if (mac[0] & 1) p.fail(verb_at, "the ARP answer's MAC must not be a group address");
        out.arp_answers.emplace_back(ip, mac);
      }
      if (!p.at_end()) p.fail(p.pos(), "unexpected text at the end of the line");
      continue;
    }

    script_step s;
    s.line = number;
    if (verb == "inject") {
      s.kind = step_kind::inject;
      s.at = lead.value_or(script_time::after_previous());
      s.label = p.label();
      const std::size_t at = (p.skip_ws(), p.pos());
      s.frame = p.hex();
      if (s.frame.size() < eth_header_len || s.frame.size() > eth_max_frame)
        p.fail(at, fmt::format("an injected frame must be 14..1514 octets (got {})", s.frame.size()));
    } else if (verb == "expect") {
      const std::size_t how_at = (p.skip_ws(), p.pos());
      const std::string how(p.word());
      const script_time from = lead.value_or(script_time::after_previous());
      if (how == "within") {
        s.kind = step_kind::expect;
        s.at = from;
        s.until = from.plus(p.duration());
      } else if (how == "between") {
        if (lead) p.fail(first, "'expect between' takes its times after 'between', not before 'expect'");
        s.kind = step_kind::expect;
        s.at = p.time();
        p.keyword("and");
        const std::size_t end_at = (p.skip_ws(), p.pos());
        s.until = p.time();
        if (s.at.from == s.until.from && s.until.offset < s.at.offset)
          p.fail(end_at, "the window ends before it starts");
      } else if (how == "none") {
        p.keyword("until");
        s.kind = step_kind::not_expect;
        s.at = from;
        s.until = p.time();
      } else {
        p.fail(how_at, "expected 'within', 'between' or 'none' after 'expect'");
      }
      s.label = p.label();
      s.pattern = p.filter();
    } else if (verb.empty()) {
      p.fail(verb_at, "expected 'inject', 'expect', 'mode' or 'answer'");
    } else {
      p.fail(verb_at, fmt::format("unknown step '{}' (expected inject, expect, mode or answer)", verb));
    }
    out.steps.push_back(std::move(s));
  }
  return out;
}

}  // namespace wizsim
