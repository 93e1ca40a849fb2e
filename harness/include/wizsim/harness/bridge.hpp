// The real-network bridge: a segment port joined to a Linux TAP device, and the pacer that runs virtual
// time locked to the wall clock so that real software (dnsmasq, curl, the kernel's TCP) can talk to the
// chip and to the harness's peers.
//
//   chip / peer_host -- segment -- tap_link == /dev/net/tun == tap interface (in a network namespace)
//                                                                 +- dnsmasq, http.server, curl, ping ...
//
// tap_link
//   Attaches to an EXISTING tap by name (TUNSETIFF with IFF_TAP|IFF_NO_PI; never a virtio-net header, never
//   offloads, so every frame is a plain Ethernet frame with correct checksums, at most 1514 octets), or
//   adopts an fd that a privileged parent already attached (QEMU's `tapfd=N` pattern: the simulator then
//   needs no privileges at all). It never creates, configures or addresses an interface: that is the
//   harness script's job, so a crash can leave nothing behind. Frames the segment delivers to the port are
//   written to the tap; frames the kernel sends on the tap are read and transmitted into the segment at
//   the current virtual time. Frames from the kernel are not padded to 60 octets (a 42-octet ARP reply is
//   normal: the kernel leaves padding to the NIC, and a tap has none); the link accepts them and pads them
//   as the host's NIC would on a real wire, where the chip, like the W5500, drops runts. Anything over
//   1514 octets is refused and counted (someone raised the MTU or turned offloads on), as is anything
//   shorter than an Ethernet header.
//   Attaching waits (in real time, up to 3 s, usually under a millisecond) until the kernel reports the
//   tap running: before its link watch has seen the carrier, the kernel drops what it sends on the tap.
//   Setup errors are std::runtime_error naming the system's reason and what to do about it: EBUSY means
//   another process (another simulator) holds the tap, a tap that is down would fail every write with
//   EIO, EPERM means no CAP_NET_ADMIN for a tap this user does not own, and so on.
//
// realtime_pacer
//   The one place in the project that reads the wall clock (ARCHITECTURE.md, "Time"). It puts a tick
//   event on the scheduler every `quantum` of virtual time; the tick waits (ppoll on the watched taps)
//   until the wall clock has caught up with the tick's virtual time and moves every frame the taps have
//   received into the segment. So ANY code that advances the scheduler -- raw_client's polling loops,
//   sched.advance_by, the pacer's own step()/run_until() -- runs paced: virtual time is never ahead of
//   real time by more than one quantum, and tap frames are picked up within one quantum of their arrival.
//   When the model is slower than real time, ticks find the wall clock already ahead; they do not wait,
//   and the pacer records how far behind it fell (stats(), report(), a warning in the segment's log when
//   the lag passes `warn_behind`). Real peers then see a slow device (kernel TCP retransmits after 200 ms),
//   exactly as with slow hardware. While the pacer runs, the scheduler never runs dry: use timeouts.
//
// Running it by hand (root). One shell in throw-away namespaces holds everything; leaving it removes the
// tap and kills every process started in it, nothing is left behind:
//   sudo unshare --net --pid --fork --mount-proc --kill-child bash
//   ip link set lo up; ip tuntap add dev w5500tap mode tap; sysctl -qw net.ipv6.conf.w5500tap.disable_ipv6=1
//   ip addr add 192.168.77.1/24 dev w5500tap; ip link set w5500tap up
//   dnsmasq --keep-in-foreground --user=root --conf-file=/dev/null --pid-file= --leasefile-ro   (one line)
//       --interface=w5500tap --bind-interfaces --no-resolv --no-hosts --no-ping --dhcp-authoritative
//       --dhcp-range=192.168.77.50,192.168.77.99,255.255.255.0,1h --host-record=web.test,192.168.77.1 &
//   /usr/bin/python3 -m http.server 8080 --bind 192.168.77.1 --directory /tmp &
//   build/harness/tools/wizsim-bridge-check chip --eth tap:w5500tap --pcap /tmp/chip.pcap --serve-for 60 &
//       (DHCP, DNS for web.test, GET http://web.test:8080/, then it serves port 80: "SERVING http://IP/")
//   curl http://IP/; ping -c 3 IP; tshark -r /tmp/chip.pcap
//   exit
// `wizsim-bridge-check peers --eth tap:w5500tap` instead (tap without an address, no dnsmasq) puts our
// DHCP, DNS and HTTP servers at 192.168.77.2 for real clients: busybox udhcpc -i w5500tap -q -f -s /bin/true,
// dig @192.168.77.2 www.peer.test, curl http://192.168.77.2/hello.txt (after adding an address to the tap).
// harness/tests/bridge/*.sh are the CI versions of both, with tshark checking the captures. Never bridge
// the tap to a real interface or give it a route out.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "wizsim/diag.hpp"
#include "wizsim/harness/segment.hpp"
#include "wizsim/packet.hpp"
#include "wizsim/scheduler.hpp"

namespace wizsim {

struct tap_options {
  std::string port_name;  // the station's name on the segment; empty: "tap:<interface>"
  link_config link;       // the link between the tap and the switch
};

// An fd on /dev/net/tun that is already attached to a tap, by whoever passed it on, with exactly
// IFF_TAP | IFF_NO_PI (a tun or a virtio-net header is detected and refused; a packet-information prefix
// cannot be, the kernel does not report it).
struct tap_fd {
  int fd = -1;
};

struct tap_stats {
  std::uint64_t frames_to_tap = 0, bytes_to_tap = 0;      // segment -> kernel
  std::uint64_t frames_from_tap = 0, bytes_from_tap = 0;  // kernel -> segment
  std::uint64_t short_frames = 0;                         // from the kernel, under 60 octets (padded to 60)
  std::uint64_t oversize_dropped = 0;  // from the kernel, over 1514 octets (MTU raised, offloads on)
  std::uint64_t runt_dropped = 0;      // from the kernel, shorter than an Ethernet header
  std::uint64_t oversize_refused = 0;  // from the segment, over 1514 octets (never written)
  std::uint64_t write_errors = 0;      // frames the kernel refused (tap down: EIO; no buffer space)
};

class tap_link {
 public:
  // Attaches to the existing tap interface `ifname` of this network namespace and to `seg`. Throws
  // std::invalid_argument for a name that cannot be an interface name, std::runtime_error when the tap
  // cannot be used (absent, not a tap, busy, down, no permission, no /dev/net/tun) with the reason and
  // the fix.
  tap_link(segment& seg, const std::string& ifname, tap_options opt = {});
  // Adopts `fd`: the link owns it from now on and closes it. Throws std::runtime_error when the fd is not
  // an attached tap or carries virtio-net headers (the fd then stays open and the caller's).
  tap_link(segment& seg, tap_fd fd, tap_options opt = {});
  ~tap_link();  // detaches from the segment and closes the fd
  tap_link(const tap_link&) = delete;
  tap_link& operator=(const tap_link&) = delete;

  // Reads up to `max_frames` frames the kernel has queued on the tap (never blocks) and transmits them
  // into the segment now. Returns how many were read (dropped ones included). The pacer calls this; a
  // caller that drives time itself can too.
  std::size_t pump(std::size_t max_frames = 256);

  int fd() const { return m_fd; }
  const std::string& ifname() const { return m_ifname; }
  segment::port_id port() const { return m_port; }
  const tap_stats& stats() const { return m_stats; }
  diag& log() { return m_diag; }

 private:
  void attach_to_segment(tap_options opt);
  void to_tap(const octets& frame);

  segment& m_seg;
  std::string m_ifname;
  int m_fd = -1;
  segment::port_id m_port = -1;
  diag m_diag;
  tap_stats m_stats;
  bool m_write_failing = false;  // the last write failed (logged once per episode)
  octets m_buf;
};

// "tap:NAME" attaches by name, "tapfd:N" adopts fd N (the command-line form the tools accept).
// Throws std::invalid_argument for another form.
std::unique_ptr<tap_link> open_tap(segment& seg, const std::string& spec, tap_options opt = {});

struct pacer_config {
  ps_t quantum = us(100);     // virtual time between two looks at the wall clock and the taps
  ps_t warn_behind = ms(50);  // a lag beyond this is logged (at most once per second of virtual time)
};

struct pacer_stats {
  std::uint64_t ticks = 0;
  std::uint64_t waits = 0;       // ticks that had to wait for the wall clock (the model was ahead)
  std::uint64_t late_ticks = 0;  // ticks that found the model behind real time by more than a quantum
  std::uint64_t frames_in = 0;   // frames read from the taps
  ps_t max_behind = 0;           // the worst lag behind real time
  ps_t max_behind_at = 0;        // virtual time at which it was seen
  ps_t last_behind = 0;          // the lag at the last tick
  ps_t paced = 0;                // virtual time run under the pacer
};

class realtime_pacer {
 public:
  // Starts pacing `seg`'s scheduler at once: the current virtual time is "now" on the wall clock. The
  // pacer logs through a diag adopted by the segment. It must be destroyed before the segment and the
  // scheduler; watched links must outlive it or be unwatched.
  explicit realtime_pacer(segment& seg, pacer_config cfg = {});
  ~realtime_pacer();
  realtime_pacer(const realtime_pacer&) = delete;
  realtime_pacer& operator=(const realtime_pacer&) = delete;

  // Taps whose frames each tick moves into the segment (and whose fds the waits poll).
  void watch(tap_link& link);
  void unwatch(tap_link& link);

  // Re-anchors: the current virtual time is "now" on the wall clock, any lag is forgiven (after work
  // that was slow on purpose, such as configuring the chip through thousands of SPI frames).
  void resync();
  // Removes the tick (virtual time runs free again) / puts it back (with a resync).
  void stop();
  void start();
  bool running() const { return static_cast<bool>(m_tick); }

  // Advances virtual time by `dt`, paced, and returns once the wall clock has reached the new time.
  void step(ps_t dt);
  void run_for(ps_t d) { step(d); }
  // Steps in `poll` increments until `pred` holds or `timeout` of virtual (= real) time has passed;
  // returns pred().
  template <typename Pred>
  bool run_until(Pred pred, ps_t timeout, ps_t poll = ms(1)) {
    const ps_t end = m_sched.now() + timeout;
    while (!pred()) {
      const ps_t now = m_sched.now();
      if (now >= end) return false;
      step(end - now < poll ? end - now : poll);
    }
    return true;
  }

  // How far virtual time lags the wall clock right now (0 when it is ahead).
  ps_t behind() const;
  const pacer_stats& stats() const { return m_stats; }
  // One line: "paced 3.2s; behind real time at most 1.8ms (at 1.2s); 0 late ticks; 812 frames in".
  std::string report() const;
  const pacer_config& config() const { return m_cfg; }
  diag& log() { return m_diag; }

 private:
  void arm();
  void tick();
  // Waits until the wall clock reaches virtual time `v` (pumping the taps meanwhile); records the lag.
  void sync_to(ps_t v);
  std::size_t pump_all();
  ps_t wall_now() const;  // the wall clock mapped onto virtual time

  segment& m_seg;
  scheduler& m_sched;
  pacer_config m_cfg;
  diag m_diag;
  std::vector<tap_link*> m_links;
  scheduler::event_id m_tick;
  std::int64_t m_wall_anchor_ns = 0;
  ps_t m_virtual_anchor = 0;
  ps_t m_paced_from = 0;
  ps_t m_last_warning = 0;
  bool m_warned = false;
  pacer_stats m_stats;
};

}  // namespace wizsim
