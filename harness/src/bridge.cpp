#include "wizsim/harness/bridge.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

namespace wizsim {

namespace {

constexpr const char* tun_device = "/dev/net/tun";
// One read returns one frame; a buffer this large also catches (and lets us refuse) GSO super-frames.
constexpr std::size_t read_buffer = 65536;

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string errno_text(int err) {
  return fmt::format("{} ({})", std::strerror(err), err);
}

// What to do about a failed TUNSETIFF, by errno.
std::string attach_hint(int err, const std::string& ifname) {
  switch (err) {
    case EBUSY:
      return fmt::format(
          "another process already holds tap '{}' (a second simulator on the same tap?); "
          "each simulator needs its own tap",
          ifname);
    case EPERM:
      return fmt::format(
          "no CAP_NET_ADMIN in this network namespace, and '{}' is not owned by this user: "
          "run as root, create the tap with `ip tuntap add dev {} mode tap user $USER`, or let "
          "a privileged parent pass the attached fd (tapfd:N)",
          ifname, ifname);
    case EINVAL:
      return fmt::format(
          "'{}' exists but is not a single-queue tap (a tun, a multi-queue tap or another "
          "kind of interface)",
          ifname);
    default:
      return "the kernel refused to attach the tap";
  }
}

// Interface flags of `ifname` in this network namespace; -1 with errno set when it cannot be seen.
int interface_flags(const std::string& ifname) {
  const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, ifname.c_str(), ifname.size());
  const int r = ::ioctl(s, SIOCGIFFLAGS, &ifr);
  const int err = errno;
  ::close(s);
  errno = err;
  return r < 0 ? -1 : static_cast<unsigned short>(ifr.ifr_flags);
}

void require_up(const std::string& ifname) {
  const int flags = interface_flags(ifname);
  // Not visible here: an adopted fd whose tap was moved to another namespace (it still works); nothing
  // to check then.
  if (flags < 0) return;
  if ((flags & IFF_UP) == 0)
    throw std::runtime_error(
        fmt::format("tap '{}' is down: every write would fail with EIO ({}); bring it "
                    "up first: ip link set {} up",
                    ifname, errno_text(EIO), ifname));
}

// Right after a tap gets its first reader the kernel still has its transmit queue switched off: carrier-on
// is handled by the kernel's link watch, which runs at most about once a second, so when some other
// interface changed state just before, frames the kernel sends in the next second are silently dropped
// (an ARP request never reaches the tap, and every exchange starts with a one-second retransmission).
// The link watch sets IFF_RUNNING (operational state up) as it activates the queue, so the attach waits
// for that flag: real time, bounded, the one kind of wait this file is allowed. Returns how long it took,
// or -1 when the interface is not visible here or the flag did not come.
std::int64_t wait_until_running(const std::string& ifname) {
  const std::int64_t start = steady_ns();
  constexpr std::int64_t limit_ns = 3'000'000'000;
  for (;;) {
    const int flags = interface_flags(ifname);
    if (flags < 0) return -1;
    if ((flags & IFF_RUNNING) != 0) return steady_ns() - start;
    if (steady_ns() - start > limit_ns) return -1;
    const timespec ts{0, 1'000'000};
    ::ppoll(nullptr, 0, &ts, nullptr);
  }
}

void set_nonblocking(int fd) {
  const int fl = ::fcntl(fd, F_GETFL);
  if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
    throw std::runtime_error(fmt::format("tap: cannot make fd {} non-blocking: {}", fd, errno_text(errno)));
}

}  // namespace

// ---- tap_link -------------------------------------------------------------------------------------------

tap_link::tap_link(segment& seg, const std::string& ifname, tap_options opt)
    : m_seg(seg), m_ifname(ifname), m_diag("tap:" + ifname, seg.sched().clock()) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ ||
      std::any_of(ifname.begin(), ifname.end(), [](char c) { return c == '/' || c == ':' || c <= ' '; }))
    throw std::invalid_argument(
        fmt::format("tap_link: '{}' is not a valid interface name (1..{} characters, no '/', ':' or spaces)",
                    ifname, IFNAMSIZ - 1));
  // TUNSETIFF would create a missing tap (down, unaddressed, gone with us): refuse instead, the harness
  // owns the interface.
  if (::if_nametoindex(ifname.c_str()) == 0)
    throw std::runtime_error(
        fmt::format("tap_link: no interface '{}' in this network namespace; create it "
                    "first (ip tuntap add dev {} mode tap), the bridge only attaches",
                    ifname, ifname));
  m_fd = ::open(tun_device, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (m_fd < 0) {
    const int err = errno;
    std::string hint = err == ENOENT
                           ? "the kernel has no TUN/TAP driver or the container was started without "
                             "the device (docker: --device /dev/net/tun)"
                       : (err == EACCES || err == EPERM)
                           ? "run as root, make the device accessible, or let a privileged parent pass the "
                             "attached fd (tapfd:N)"
                           : "cannot open the TUN/TAP device";
    throw std::runtime_error(
        fmt::format("tap_link: cannot open {}: {}; {}", tun_device, errno_text(err), hint));
  }
  ifreq ifr{};
  // Plain Ethernet frames: no packet-information prefix, no virtio-net header (and so no offloads:
  // the kernel segments and checksums everything before it reaches us).
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  std::memcpy(ifr.ifr_name, ifname.c_str(), ifname.size());
  if (::ioctl(m_fd, TUNSETIFF, &ifr) < 0) {
    const int err = errno;
    ::close(m_fd);
    m_fd = -1;
    throw std::runtime_error(fmt::format("tap_link: cannot attach to tap '{}': {}; {}", ifname,
                                         errno_text(err), attach_hint(err, ifname)));
  }
  try {
    require_up(ifname);
    attach_to_segment(std::move(opt));
  } catch (...) {
    ::close(m_fd);
    m_fd = -1;
    throw;
  }
}

tap_link::tap_link(segment& seg, tap_fd fd, tap_options opt)
    : m_seg(seg), m_fd(fd.fd), m_diag("tap:fd" + std::to_string(fd.fd), seg.sched().clock()) {
  ifreq ifr{};
  if (m_fd < 0 || ::ioctl(m_fd, TUNGETIFF, &ifr) < 0) {
    const int err = m_fd < 0 ? EBADF : errno;
    const char* hint = err == EBADF ? "the fd is not open (was it inherited? check the parent's redirection)"
                       : err == EBADFD ? "the fd is on /dev/net/tun but not attached to a tap (no TUNSETIFF)"
                                       : "the fd is not a /dev/net/tun fd";
    m_fd = -1;  // on failure the fd stays the caller's
    throw std::runtime_error(
        fmt::format("tap_link: fd {} is not an attached tap: {}; {}", fd.fd, errno_text(err), hint));
  }
  const int flags = static_cast<unsigned short>(ifr.ifr_flags);
  m_ifname.assign(ifr.ifr_name, ::strnlen(ifr.ifr_name, IFNAMSIZ));
  // IFF_NO_PI cannot be checked: TUNGETIFF reports IFF_NOFILTER, the same bit, for every fd without a
  // socket filter. Whoever attached the fd must have asked for it (see tap_fd).
  std::string problem;
  if ((flags & IFF_TAP) == 0)
    problem = "it is a tun (IP packets), not a tap (Ethernet frames)";
  else if ((flags & IFF_VNET_HDR) != 0)
    problem = "it carries virtio-net headers (attach without IFF_VNET_HDR)";
  if (!problem.empty()) {
    m_fd = -1;
    throw std::runtime_error(
        fmt::format("tap_link: fd {} (tap '{}') cannot be used: {}", fd.fd, m_ifname, problem));
  }
  try {
    set_nonblocking(m_fd);
    require_up(m_ifname);
    attach_to_segment(std::move(opt));
  } catch (...) {
    m_fd = -1;
    throw;
  }
}

void tap_link::attach_to_segment(tap_options opt) {
  m_buf.resize(read_buffer + 1);
  const std::string name = opt.port_name.empty() ? "tap:" + m_ifname : opt.port_name;
  m_port = m_seg.attach(
      name, [this](const octets& f) { to_tap(f); }, opt.link);
  m_seg.adopt(m_diag);
  const std::int64_t waited = wait_until_running(m_ifname);
  if (waited < 0 && interface_flags(m_ifname) >= 0)
    m_diag.log(log_level::warn, "",
               "tap {} is not running 3 s after attaching: the kernel may drop what it sends", m_ifname);
  m_diag.log(log_level::info, "", "attached to tap {} (fd {}) as segment port {} '{}'{}", m_ifname, m_fd,
             m_port, name,
             waited > 1'000'000
                 ? fmt::format(" (the kernel took {} ms to start its queue)", waited / 1'000'000)
                 : std::string());
}

tap_link::~tap_link() {
  if (m_port >= 0) {
    m_seg.detach(m_port);
    m_seg.disown(m_diag);
  }
  if (m_fd >= 0) ::close(m_fd);
}

void tap_link::to_tap(const octets& frame) {
  if (frame.size() > eth_max_frame) {
    // The segment already refuses these; a tap would take them (up to its MTU) and mislead the kernel.
    ++m_stats.oversize_refused;
    m_diag.log(log_level::warn, "", "refused a {}-octet frame for the tap (over {})", frame.size(),
               eth_max_frame);
    return;
  }
  for (;;) {
    const ssize_t n = ::write(m_fd, frame.data(), frame.size());
    if (n >= 0) {
      ++m_stats.frames_to_tap;
      m_stats.bytes_to_tap += frame.size();
      if (m_write_failing) {
        m_write_failing = false;
        m_diag.log(log_level::info, "", "writes to tap {} work again", m_ifname);
      }
      return;
    }
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EIO || err == EAGAIN || err == ENOBUFS || err == ENOMEM) {
      // A frame lost on the wire, as with a real cable: the run goes on, the log says why once.
      ++m_stats.write_errors;
      if (!m_write_failing) {
        m_write_failing = true;
        m_diag.log(
            log_level::warn, "", "frames to tap {} are being dropped: {}{}", m_ifname, errno_text(err),
            err == EIO ? fmt::format(" (the tap is down: ip link set {} up)", m_ifname) : std::string());
      }
      return;
    }
    throw std::runtime_error(fmt::format("tap_link: writing to tap '{}' failed: {}{}", m_ifname,
                                         errno_text(err),
                                         err == EBADFD ? " (the interface was deleted while attached)" : ""));
  }
}

std::size_t tap_link::pump(std::size_t max_frames) {
  std::size_t count = 0;
  while (count < max_frames) {
    const ssize_t n = ::read(m_fd, m_buf.data(), m_buf.size());
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN) break;
      throw std::runtime_error(
          fmt::format("tap_link: reading from tap '{}' failed: {}{}", m_ifname, errno_text(err),
                      err == EBADFD ? " (the interface was deleted while attached)" : ""));
    }
    ++count;
    const auto len = static_cast<std::size_t>(n);
    if (len < eth_header_len) {
      ++m_stats.runt_dropped;
      m_diag.log(log_level::warn, "",
                 "dropped a {}-octet frame from the tap (shorter than an Ethernet header)", len);
      continue;
    }
    if (len > eth_max_frame) {
      ++m_stats.oversize_dropped;
      m_diag.log(log_level::warn, "",
                 "dropped a {}-octet frame from the tap (over {}): the tap's MTU is above 1500 or offloads "
                 "are on (ip link set {} mtu 1500; never TUNSETOFFLOAD)",
                 len, eth_max_frame, m_ifname);
      continue;
    }
    if (m_diag.enabled(log_level::debug))
      m_diag.log(log_level::debug, "", "{} octets from the kernel, ethertype 0x{:04x}", len,
                 get16(m_buf.data() + 12));
    ++m_stats.frames_from_tap;
    m_stats.bytes_from_tap += len;
    octets frame(m_buf.begin(), m_buf.begin() + static_cast<std::ptrdiff_t>(len));
    if (len < eth_min_frame) {
      // The kernel leaves padding to the NIC, and a tap has none: pad here, as the host's NIC would on a
      // real wire, where a frame under 60 octets is a runt that the chip (like the W5500) drops.
      ++m_stats.short_frames;
      frame.resize(eth_min_frame, 0);
    }
    m_seg.transmit(m_port, std::move(frame));
  }
  return count;
}

std::unique_ptr<tap_link> open_tap(segment& seg, const std::string& spec, tap_options opt) {
  const auto colon = spec.find(':');
  const std::string kind = spec.substr(0, colon);
  const std::string arg = colon == std::string::npos ? std::string() : spec.substr(colon + 1);
  if (kind == "tap" && !arg.empty()) return std::make_unique<tap_link>(seg, arg, std::move(opt));
  if (kind == "tapfd" && !arg.empty() && arg.size() < 9 &&
      std::all_of(arg.begin(), arg.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::make_unique<tap_link>(seg, tap_fd{std::stoi(arg)}, std::move(opt));
  throw std::invalid_argument(fmt::format("bridge: '{}' is not a link (expected tap:NAME or tapfd:N)", spec));
}

// ---- realtime_pacer -------------------------------------------------------------------------------------

realtime_pacer::realtime_pacer(segment& seg, pacer_config cfg)
    : m_seg(seg), m_sched(seg.sched()), m_cfg(cfg), m_diag("pacer", seg.sched().clock()) {
  if (m_cfg.quantum == 0) throw std::invalid_argument("realtime_pacer: quantum must be positive");
  m_seg.adopt(m_diag);
  m_paced_from = m_sched.now();
  start();
}

realtime_pacer::~realtime_pacer() {
  stop();
  m_seg.disown(m_diag);
}

void realtime_pacer::watch(tap_link& link) {
  if (std::find(m_links.begin(), m_links.end(), &link) == m_links.end()) m_links.push_back(&link);
}

void realtime_pacer::unwatch(tap_link& link) {
  m_links.erase(std::remove(m_links.begin(), m_links.end(), &link), m_links.end());
}

ps_t realtime_pacer::wall_now() const {
  const std::int64_t elapsed = steady_ns() - m_wall_anchor_ns;
  return m_virtual_anchor + static_cast<ps_t>(std::max<std::int64_t>(elapsed, 0)) * ps_per_ns;
}

void realtime_pacer::resync() {
  m_wall_anchor_ns = steady_ns();
  m_virtual_anchor = m_sched.now();
  m_stats.last_behind = 0;
}

void realtime_pacer::stop() {
  if (m_tick) m_sched.cancel(m_tick);
  m_tick = {};
}

void realtime_pacer::start() {
  if (running()) return;
  resync();
  arm();
}

void realtime_pacer::arm() {
  m_tick = m_sched.after(m_cfg.quantum, [this] { tick(); });
}

void realtime_pacer::tick() {
  m_tick = {};
  ++m_stats.ticks;
  sync_to(m_sched.now());
  arm();
}

std::size_t realtime_pacer::pump_all() {
  std::size_t n = 0;
  for (tap_link* l : m_links) n += l->pump();
  m_stats.frames_in += n;
  return n;
}

void realtime_pacer::sync_to(ps_t v) {
  std::vector<pollfd> fds;
  fds.reserve(m_links.size());
  bool waited = false;
  for (;;) {
    // Frames that arrived while we waited enter at `v`: at most one quantum after they really did.
    pump_all();
    const ps_t w = wall_now();
    if (w >= v) {
      const ps_t lag = w - v;
      m_stats.last_behind = lag;
      m_stats.paced = v - m_paced_from;
      if (waited) ++m_stats.waits;
      if (lag > m_cfg.quantum) ++m_stats.late_ticks;
      if (lag > m_stats.max_behind) {
        m_stats.max_behind = lag;
        m_stats.max_behind_at = v;
      }
      if (lag > m_cfg.warn_behind && (!m_warned || v - m_last_warning >= seconds(1))) {
        m_warned = true;
        m_last_warning = v;
        m_diag.log(log_level::warn, "",
                   "{} behind real time (the model runs slower than the wall clock; "
                   "real peers see a slow device)",
                   format_time(lag));
      }
      return;
    }
    waited = true;
    const ps_t wait = v - w;
    const timespec ts{static_cast<time_t>(wait / ps_per_s), static_cast<long>((wait % ps_per_s) / ps_per_ns)};
    fds.clear();
    for (tap_link* l : m_links) fds.push_back(pollfd{l->fd(), POLLIN, 0});
    if (::ppoll(fds.data(), fds.size(), &ts, nullptr) < 0 && errno != EINTR)
      throw std::runtime_error(fmt::format("realtime_pacer: ppoll failed: {}", errno_text(errno)));
  }
}

void realtime_pacer::step(ps_t dt) {
  m_sched.advance_by(dt);
  if (running()) sync_to(m_sched.now());
}

ps_t realtime_pacer::behind() const {
  const ps_t w = wall_now();
  const ps_t v = m_sched.now();
  return w > v ? w - v : 0;
}

std::string realtime_pacer::report() const {
  return fmt::format(
      "paced {}; behind real time at most {} (at {}); {} of {} ticks late (> {}); {} waits; "
      "{} frames in",
      format_time(m_stats.paced), format_time(m_stats.max_behind), format_time(m_stats.max_behind_at),
      m_stats.late_ticks, m_stats.ticks, format_time(m_cfg.quantum), m_stats.waits, m_stats.frames_in);
}

}  // namespace wizsim
