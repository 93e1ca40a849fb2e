// A virtual Ethernet segment: one learning switch joining chips, peer hosts, scripted peers and bridges,
// each on its own link with a speed, a propagation delay, a link state and fault injection.
//
// Timing (store and forward, like a real switch):
//   station transmits at t  -> last bit leaves the station at t + serialization (chips: the chip's own
//   PHY timing; other stations: the link speed, frames queued back to back) -> + link delay: the frame is
//   in the switch -> queued on the egress link, serialized at that link's speed -> + link delay: the last
//   bit reaches the destination station, which gets the frame then.
// Broadcast, multicast and unknown unicast flood every other port; the MAC table learns source addresses.
// Everything is an event on the one scheduler; faults are drawn from seeded generators.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "wizsim/diag.hpp"
#include "wizsim/harness/faults.hpp"
#include "wizsim/packet.hpp"
#include "wizsim/scheduler.hpp"

namespace wizsim {

class w5500;
class pcap_writer;

struct link_config {
  ps_t delay = ns(500);             // propagation + switch latency, each way
  std::uint64_t bits_per_second = 100'000'000;  // serialization speed of this link
};

struct port_stats {
  std::uint64_t frames_out = 0, bytes_out = 0;  // station -> switch
  std::uint64_t frames_in = 0, bytes_in = 0;    // switch -> station (delivered)
  std::uint64_t dropped_link_down = 0;
  std::uint64_t dropped_malformed = 0;          // shorter than an Ethernet header, or over 1514 octets
};

class segment {
 public:
  using port_id = int;
  using receiver = std::function<void(const octets& frame)>;

  // `seed` feeds every fault injector (mixed with the link's name).
  segment(scheduler& sched, std::string name = "seg0", std::uint64_t seed = 1);
  ~segment();
  segment(const segment&) = delete;
  segment& operator=(const segment&) = delete;

  // Attaches a station. `rx` gets every frame the switch sends down this link, when its last bit
  // arrives. Names must be unique on the segment (throws std::invalid_argument otherwise).
  port_id attach(const std::string& name, receiver rx, link_config cfg = {});
  // Attaches a chip: its transmitted frames enter here, frames for it go to w5500::receive, and the
  // link state drives its PHY (set_cable). Chip and segment may be destroyed in either order, but a
  // chip destroyed first must not have its port detached or its link changed afterwards.
  port_id attach(w5500& chip, const std::string& name = "w5500", link_config cfg = {});
  // Detaches a station: frames in flight towards it are discarded.
  void detach(port_id p);

  // The station on port `p` starts sending `frame` now (Ethernet header onward, no FCS).
  void transmit(port_id p, octets frame);

  // Link state: a down link carries nothing (frames are counted and dropped); a chip sees its cable
  // unplugged. `at` schedules the change at an absolute virtual time.
  void set_link_up(port_id p, bool up);
  void schedule_link(port_id p, ps_t at, bool up);
  bool link_up(port_id p) const;

  fault_injector& faults(port_id p);
  const port_stats& stats(port_id p) const;
  const std::string& port_name(port_id p) const;
  port_id find_port(const std::string& name) const;  // -1 when absent
  std::size_t ports() const;

  // Captures every frame the switch receives (each frame once, as it arrives in the switch, stamped with
  // that virtual time) to a nanosecond pcap. Throws std::runtime_error when the file cannot be created.
  void capture(const std::string& pcap_path);
  // Captures both directions at one station, as the station sees them (after faults).
  void capture_port(port_id p, const std::string& pcap_path);
  void stop_capture();

  // Observers of every frame the switch receives (after the sender's link faults).
  using observer = std::function<void(port_id from, const octets& frame, ps_t t)>;
  void observe(observer o);

  // Log and trace: the segment's own diag, and every diag registered here (peers, services) follows the
  // sinks set on the segment.
  diag& log() { return m_diag; }
  void set_log_sink(line_sink sink, log_level level = log_level::info);
  void set_trace_sink(line_sink sink);
  void adopt(diag& d);    // d follows the segment's sinks from now on
  void disown(diag& d);

  // Address ranges services hand out on this segment (DHCP pools), so that two that would fight over
  // the same addresses fail at setup. A claim overlapping another of the same `kind` throws
  // std::invalid_argument naming both owners, unless both are `shared` (competing servers on purpose).
  // `token` identifies the claimant for release_claims.
  void claim_range(const std::string& kind, std::uint32_t first, std::uint32_t last, const std::string& owner,
                   const void* token, bool shared = false);
  void release_claims(const void* token);

  scheduler& sched() { return m_sched; }
  const std::string& name() const { return m_name; }
  std::uint64_t seed() const { return m_seed; }

 private:
  struct port;
  void from_station(port_id p, octets frame, ps_t arrival);
  void forward(port_id from, const octets& frame);
  void to_station(port_id p, octets frame);
  port& at(port_id p);
  const port& at(port_id p) const;

  scheduler& m_sched;
  std::string m_name;
  std::uint64_t m_seed;
  diag m_diag;
  line_sink m_log_sink;
  log_level m_log_level = log_level::info;
  line_sink m_trace_sink;
  std::vector<diag*> m_adopted;
  std::vector<std::unique_ptr<port>> m_ports;
  std::vector<std::pair<mac_addr, port_id>> m_mac_table;
  std::unique_ptr<pcap_writer> m_capture;
  std::vector<observer> m_observers;
  std::shared_ptr<bool> m_alive;  // weak copies guard the chips' transmit callbacks
  struct range_claim {
    std::string kind;
    std::uint32_t first, last;
    std::string owner;
    const void* token;
    bool shared;
  };
  std::vector<range_claim> m_claims;
};

}  // namespace wizsim
