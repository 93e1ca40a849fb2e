// A scripted segment-level peer, in the spirit of packetdrill: a station on a segment that injects exact
// frames at given virtual times and expects frames matching filters within time windows. It has no IP
// stack of its own (an ARP responder aside): what it sends is exactly what the script says, and what it
// receives is every frame the switch delivers to its port (promiscuous).
//
// A script is a sequence of steps:
//   inject      sends an exact frame at a time (or as soon as the step is reached);
//   expect      a frame matching a filter arrives within [window start, window end]; the frame is kept
//               (step_result::frame, matched()) so later steps can read e.g. the chip's ISN;
//   not_expect  no frame matching a filter arrives from when the step is reached until a time.
// Ordered mode (the default) runs the steps one after the other: a step becomes active when the one
// before it has passed (an inject when it has sent, an expect when it matched, a not_expect when its
// time ran out), frames that match nothing are ignored (but listed in failure messages), a matching
// frame before the window fails the step ("early"), and the first failure ends the script (the rest is
// skipped). Unordered mode activates every step when the script starts; each frame is given to the
// first pending expect (in step order) whose window holds it, and every not_expect watches on its own.
//
// run() drives the scheduler until every step has passed or failed (or a time limit), and returns one
// result per step. It may be called again after adding more steps; steps added to a failed ordered script
// are skipped. start() begins the script without driving time, for tests where another component (a
// raw_client call) moves time while the script watches.
//
// Times: an absolute virtual time, an offset from the script's start (the first run()), or an offset from
// the moment the step becomes active (ordered: the previous step passed; unordered: the script started).
//
// Text format (parse_script / script_peer::load), one step per line, '#' starts a comment:
//
//   mode unordered                          # or "mode ordered" (default); before the first step
//   answer arp 10.0.0.1 02:00:00:00:00:01   # answer ARP requests for that IP with that MAC
//   +0.5ms inject 02 08 dc 00 00 50 02 00 ...    # hex octets, spaces optional between pairs
//   inject "SYN" 0208dc000050020000000001...    # optional "label"; no time: when the step is reached
//   expect within 10ms: udp.dport == 7     # window [now, now + 10ms] (now = when the step is reached)
//   +1ms expect within 10ms "SYN-ACK": tcp.flags.syn && tcp.flags.ack   # window [+1ms, +11ms]
//   expect between 1ms and +20ms: icmp.type == 0
//   expect none until +50ms: tcp.flags.rst  # nothing matching from now until 50 ms from now
//
// A time is a decimal number with a unit (ps, ns, us, ms, s), e.g. 0.5ms, 2s, 100us. With a leading '+'
// it is an offset from the previous step (when this step becomes active); without, an offset from the
// script's start. "within" takes a duration, counted from the step's leading time (default +0). The
// filter after ':' is a frame_filter expression (filter.hpp). Syntax errors throw std::invalid_argument
// "script line L, column C: ...", columns 1-based.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wizsim/diag.hpp"
#include "wizsim/harness/filter.hpp"
#include "wizsim/harness/segment.hpp"
#include "wizsim/packet.hpp"
#include "wizsim/scheduler.hpp"

namespace wizsim {

// One line describing a frame for humans: "TCP 10.0.0.1:40000 > 10.0.0.50:80 [SYN] seq=1 ack=0 win=8192
// len=0", "ARP who-has 10.0.0.50 tell 10.0.0.1", ... Never reads past `n`.
std::string describe_frame(const std::uint8_t* frame, std::size_t n);
inline std::string describe_frame(const octets& f) { return describe_frame(f.data(), f.size()); }

// "1.000ms" (microsecond-exact), "1.000500ms" (nanosecond-exact), else picoseconds in 9 decimals.
std::string script_time_string(ps_t t);

struct script_time {
  enum class base : std::uint8_t { absolute, start, previous };
  base from = base::previous;
  ps_t offset = 0;

  static script_time at(ps_t t) { return {base::absolute, t}; }
  static script_time from_start(ps_t d) { return {base::start, d}; }
  static script_time after_previous(ps_t d = 0) { return {base::previous, d}; }
  // Saturates at `never`.
  ps_t resolve(ps_t start, ps_t activation) const;
  script_time plus(ps_t d) const;
};

enum class step_kind : std::uint8_t { inject, expect, not_expect };
const char* to_string(step_kind k);

struct script_step {
  step_kind kind = step_kind::expect;
  std::string label;                  // default: the filter text (expect) or "inject N octets"
  script_time at;                     // inject: when to send; expect: window start; not_expect: from
  script_time until;                  // expect: window end; not_expect: the end of the quiet time
  octets frame;                       // inject: the exact frame
  std::function<octets()> make;       // inject: builds the frame when it is sent (overrides `frame`)
  frame_filter pattern;               // expect, not_expect
  std::size_t line = 0;               // text scripts: the source line (0: added from code)
};

enum class script_mode : std::uint8_t { ordered, unordered };

struct parsed_script {
  script_mode mode = script_mode::ordered;
  std::vector<std::pair<ip4_addr, mac_addr>> arp_answers;
  std::vector<script_step> steps;
};
// Parses the text format above; throws std::invalid_argument("script line L, column C: ...").
parsed_script parse_script(std::string_view text);

enum class step_outcome : std::uint8_t { pending, passed, failed, skipped };
const char* to_string(step_outcome o);

struct step_result {
  std::size_t number = 0;             // 1-based
  step_kind kind = step_kind::expect;
  std::string label;
  step_outcome outcome = step_outcome::pending;
  ps_t time = 0;                      // when it passed or failed (inject: when sent)
  octets frame;                       // expect: the matched frame; inject: the frame sent; not_expect
                                      // failure: the offending frame
  std::string message;                // failures: what went wrong (empty otherwise)
};

struct script_result {
  bool passed = false;                // every step passed
  std::vector<step_result> steps;
  std::string message;                // every failure message, one per line ("" when passed)
  const step_result& step(std::size_t number) const { return steps.at(number - 1); }
};

class script_peer {
 public:
  struct received_frame {
    ps_t time;
    octets frame;
  };

  // Attaches a station called `name` to `seg` (names are unique on a segment).
  script_peer(segment& seg, std::string name = "script", link_config link = {});
  ~script_peer();
  script_peer(const script_peer&) = delete;
  script_peer& operator=(const script_peer&) = delete;

  // ---- building a script (each returns the step's 1-based number) -----------------------------------------
  std::size_t inject(ps_t at, octets frame, std::string label = {});   // at an absolute time
  std::size_t inject(octets frame, std::string label = {});            // when the step is reached
  // The frame is built when the step is reached (plus `delay`), e.g. from an earlier matched frame.
  std::size_t inject_with(std::function<octets()> make, std::string label = {}, ps_t delay = 0);
  // Window in absolute virtual time.
  std::size_t expect(frame_filter pattern, ps_t window_start, ps_t window_end, std::string label = {});
  // Window [reached, reached + within].
  std::size_t expect_within(frame_filter pattern, ps_t within, std::string label = {});
  // Nothing matching from when the step is reached until the absolute time `until`.
  std::size_t not_expect(frame_filter pattern, ps_t until, std::string label = {});
  // Any step (validated: an inject needs a frame or a maker; expect/not_expect need a window).
  std::size_t add(script_step s);
  // Parses a text script and adds its steps, mode and ARP answers.
  void load(std::string_view text);
  void set_mode(script_mode m);  // before run(); throws std::logic_error once the script has started
  script_mode mode() const { return m_mode; }

  // ---- running --------------------------------------------------------------------------------------------
  // Starts the script without driving the scheduler: steps become active now and frames count from here
  // on, while other code (raw_client calls, say) moves time. run() starts it too. Steps added after the
  // start become active as soon as they are reached.
  void start();
  // Drives the scheduler until every step is resolved, or until the absolute time `limit` (steps still
  // pending then fail). Time is left where the last step resolved (or at `limit`).
  script_result run(ps_t limit = never);
  script_result result() const;
  // The frame an expect step matched; throws std::logic_error when it has not passed.
  const octets& matched(std::size_t step) const;

  // ---- outside the script ---------------------------------------------------------------------------------
  // Answers ARP requests for `ip` with `mac` (as many as given), at once.
  void answer_arp(ip4_addr ip, const mac_addr& mac);
  // Sends a frame now, not as a step.
  void send(octets frame);
  // Every frame received (since construction) with its arrival time.
  const std::vector<received_frame>& received() const { return m_received; }
  std::uint64_t arp_replies_sent() const { return m_arp_replies; }

  segment::port_id port() const { return m_port; }
  diag& log() { return m_diag; }

 private:
  struct step_state {
    script_step spec;
    step_result res;
    bool active = false;
    ps_t activated = 0;
    ps_t window_start = 0, window_end = 0;
    scheduler::event_id timer;
  };

  void on_frame(const octets& frame);
  void activate(std::size_t i, ps_t now);
  void activate_ready(ps_t now);
  void do_inject(std::size_t i);
  void pass(std::size_t i, ps_t t, octets frame);
  void fail(std::size_t i, ps_t t, std::string why, octets frame = {});
  bool finished() const;
  std::string frames_seen(ps_t from, ps_t to) const;
  std::string step_name(const step_state& s) const;
  void answer_arp_request(const octets& frame);

  segment& m_seg;
  std::string m_name;
  diag m_diag;
  segment::port_id m_port;
  script_mode m_mode = script_mode::ordered;
  std::vector<step_state> m_steps;
  std::size_t m_next = 0;       // ordered: the first step not yet activated
  bool m_started = false;
  bool m_failed = false;        // ordered: a step failed, the rest is skipped
  ps_t m_start = 0;
  std::vector<std::pair<ip4_addr, mac_addr>> m_arp;
  std::uint64_t m_arp_replies = 0;
  std::vector<received_frame> m_received;
  std::shared_ptr<bool> m_alive;  // guards scheduled callbacks against a destroyed peer
};

}  // namespace wizsim
