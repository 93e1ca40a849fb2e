#include "wizsim/harness/segment.hpp"

#include <algorithm>
#include <stdexcept>

#include "wizsim/pcap.hpp"
#include "wizsim/w5500.hpp"

namespace wizsim {

namespace {

// Preamble + SFD (8), FCS (4) and the inter-frame gap (12): what a frame costs on the wire beyond its
// header and payload. Frames shorter than the minimum are padded by the MAC.
ps_t wire_time(std::size_t len, std::uint64_t bps) {
  const std::size_t on_wire = std::max(len, eth_min_frame) + 4 + 8 + 12;
  return static_cast<ps_t>(on_wire) * 8 * ps_per_s / bps;
}

bool is_group(const mac_addr& m) { return (m[0] & 1) != 0; }

std::uint64_t mix_seed(std::uint64_t seed, const std::string& name) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a over the link's name
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  return seed ^ h;
}

}  // namespace

struct segment::port {
  std::string name;
  receiver rx;
  link_config cfg;
  w5500* chip = nullptr;
  bool attached = true;
  bool up = true;
  ps_t out_busy_until = 0;  // station -> switch serialization (non-chip stations)
  ps_t in_busy_until = 0;   // switch -> station egress queue
  std::unique_ptr<fault_injector> faults;
  std::unique_ptr<pcap_writer> capture;
  port_stats stats;
  std::uint64_t generation = 0;  // bumped on detach: frames in flight to an old station are dropped
};

segment::segment(scheduler& sched, std::string name, std::uint64_t seed)
    : m_sched(sched),
      m_name(std::move(name)),
      m_seed(seed),
      m_diag(m_name, sched.clock()),
      m_alive(std::make_shared<bool>(true)) {}

// The chips' transmit callbacks hold only a weak token of the segment, so either may be destroyed first;
// the destructor must not touch the chips (they may be gone already).
segment::~segment() { *m_alive = false; }

segment::port& segment::at(port_id p) {
  if (p < 0 || static_cast<std::size_t>(p) >= m_ports.size())
    throw std::out_of_range(fmt::format("segment {}: no port {}", m_name, p));
  return *m_ports[static_cast<std::size_t>(p)];
}
const segment::port& segment::at(port_id p) const { return const_cast<segment*>(this)->at(p); }

segment::port_id segment::attach(const std::string& name, receiver rx, link_config cfg) {
  if (name.empty()) throw std::invalid_argument(fmt::format("segment {}: a port needs a name", m_name));
  if (find_port(name) >= 0)
    throw std::invalid_argument(fmt::format("segment {}: a port named '{}' is already attached", m_name, name));
  if (cfg.bits_per_second == 0)
    throw std::invalid_argument(fmt::format("segment {}: port '{}' has a link speed of 0", m_name, name));
  auto p = std::make_unique<port>();
  p->name = name;
  p->rx = std::move(rx);
  p->cfg = cfg;
  p->faults = std::make_unique<fault_injector>(m_name + "." + name, mix_seed(m_seed, name), m_diag);
  m_ports.push_back(std::move(p));
  const port_id id = static_cast<port_id>(m_ports.size() - 1);
  if (m_diag.tracing())
    m_diag.trace("attach", fmt::format(R"("port":{},"name":"{}","delay_ps":{},"bps":{})", id,
                                       json_escape(name), cfg.delay, cfg.bits_per_second));
  return id;
}

segment::port_id segment::attach(w5500& chip, const std::string& name, link_config cfg) {
  const port_id id = attach(name, [&chip](const octets& f) { chip.receive(f); }, cfg);
  at(id).chip = &chip;
  // The chip serializes its own frames at its PHY's speed: its callback fires when the last bit left.
  std::weak_ptr<bool> alive = m_alive;
  chip.on_transmit([this, id, alive](const w5500::wire_frame& f) {
    if (!alive.lock()) return;
    port& p = at(id);
    if (!p.attached) return;
    ++p.stats.frames_out;
    p.stats.bytes_out += f.data.size();
    if (p.capture) p.capture->write(f.data, m_sched.now());
    from_station(id, f.data, m_sched.now() + p.cfg.delay);
  });
  chip.set_cable(true);
  return id;
}

void segment::detach(port_id id) {
  port& p = at(id);
  if (!p.attached) return;
  p.attached = false;
  ++p.generation;
  if (p.chip) {
    p.chip->on_transmit(nullptr);
    p.chip = nullptr;
  }
  m_mac_table.erase(std::remove_if(m_mac_table.begin(), m_mac_table.end(),
                                   [id](const auto& e) { return e.second == id; }),
                    m_mac_table.end());
}

void segment::transmit(port_id id, octets frame) {
  port& p = at(id);
  if (!p.attached) return;
  if (frame.size() < eth_header_len || frame.size() > eth_max_frame) {
    ++p.stats.dropped_malformed;
    m_diag.log(log_level::warn, "tx", "port {} sent a {}-octet frame (Ethernet carries 14..1514): dropped",
               p.name, frame.size());
    return;
  }
  ++p.stats.frames_out;
  p.stats.bytes_out += frame.size();
  // Frames queue back to back on the station's link.
  const ps_t start = std::max(m_sched.now(), p.out_busy_until);
  const ps_t end = start + wire_time(frame.size(), p.cfg.bits_per_second);
  p.out_busy_until = end;
  if (p.capture) p.capture->write(frame, m_sched.now());
  from_station(id, std::move(frame), end + p.cfg.delay);
}

void segment::from_station(port_id id, octets frame, ps_t arrival) {
  port& p = at(id);
  if (!p.up) {
    ++p.stats.dropped_link_down;
    return;
  }
  for (auto& d : p.faults->apply(std::move(frame), link_dir::out)) {
    const std::uint64_t gen = p.generation;
    auto shared = std::make_shared<octets>(std::move(d.frame));
    m_sched.at(arrival + d.extra_delay, [this, id, gen, shared, alive = std::weak_ptr<bool>(m_alive)] {
      if (!alive.lock()) return;
      port& q = at(id);
      if (q.generation != gen) return;
      forward(id, *shared);
    });
  }
}

void segment::forward(port_id from, const octets& frame) {
  const ps_t now = m_sched.now();
  if (m_capture) m_capture->write(frame, now);
  for (auto& o : m_observers) o(from, frame, now);
  if (m_diag.tracing() && frame.size() >= eth_header_len) {
    mac_addr d, sa;
    std::copy_n(frame.begin(), 6, d.begin());
    std::copy_n(frame.begin() + 6, 6, sa.begin());
    m_diag.trace("frame", fmt::format(R"("from":"{}","len":{},"dst":"{}","src":"{}","type":"0x{:04x}")",
                                      json_escape(at(from).name), frame.size(), to_string(d), to_string(sa),
                                      get16(frame.data() + 12)));
  }
  if (frame.size() < eth_header_len) {
    // Truncated by a fault below a header: the switch cannot forward it.
    ++at(from).stats.dropped_malformed;
    return;
  }
  mac_addr dst, src;
  std::copy_n(frame.begin(), 6, dst.begin());
  std::copy_n(frame.begin() + 6, 6, src.begin());
  if (!is_group(src)) {
    auto it = std::find_if(m_mac_table.begin(), m_mac_table.end(), [&](const auto& e) { return e.first == src; });
    if (it == m_mac_table.end()) m_mac_table.emplace_back(src, from);
    else it->second = from;
  }
  if (!is_group(dst)) {
    auto it = std::find_if(m_mac_table.begin(), m_mac_table.end(), [&](const auto& e) { return e.first == dst; });
    if (it != m_mac_table.end()) {
      if (it->second != from) to_station(it->second, frame);
      return;
    }
  }
  for (std::size_t i = 0; i < m_ports.size(); ++i) {
    const auto id = static_cast<port_id>(i);
    if (id != from && m_ports[i]->attached) to_station(id, frame);
  }
}

void segment::to_station(port_id id, octets frame) {
  port& p = at(id);
  if (!p.attached) return;
  if (!p.up) {
    ++p.stats.dropped_link_down;
    return;
  }
  // Store and forward: the egress link serializes frames one after another.
  const ps_t start = std::max(m_sched.now(), p.in_busy_until);
  const ps_t end = start + wire_time(frame.size(), p.cfg.bits_per_second);
  p.in_busy_until = end;
  for (auto& d : p.faults->apply(std::move(frame), link_dir::in)) {
    const std::uint64_t gen = p.generation;
    auto shared = std::make_shared<octets>(std::move(d.frame));
    m_sched.at(end + p.cfg.delay + d.extra_delay, [this, id, gen, shared, alive = std::weak_ptr<bool>(m_alive)] {
      if (!alive.lock()) return;
      port& q = at(id);
      if (q.generation != gen || !q.attached) return;
      if (!q.up) {
        ++q.stats.dropped_link_down;
        return;
      }
      ++q.stats.frames_in;
      q.stats.bytes_in += shared->size();
      if (q.capture) q.capture->write(*shared, m_sched.now());
      if (q.rx) q.rx(*shared);
    });
  }
}

void segment::set_link_up(port_id id, bool up) {
  port& p = at(id);
  if (p.up == up) return;
  p.up = up;
  m_diag.log(log_level::info, "link", "{} link {}", p.name, up ? "up" : "down");
  if (m_diag.tracing())
    m_diag.trace("link", fmt::format(R"("port":"{}","up":{})", json_escape(p.name), up ? "true" : "false"));
  if (p.chip) p.chip->set_cable(up);
}

void segment::schedule_link(port_id id, ps_t when, bool up) {
  (void)at(id);  // validates now, not when the event fires
  m_sched.at(when, [this, id, up, alive = std::weak_ptr<bool>(m_alive)] {
    if (alive.lock()) set_link_up(id, up);
  });
}

bool segment::link_up(port_id id) const { return at(id).up; }
fault_injector& segment::faults(port_id id) { return *at(id).faults; }
const port_stats& segment::stats(port_id id) const { return at(id).stats; }
const std::string& segment::port_name(port_id id) const { return at(id).name; }
std::size_t segment::ports() const { return m_ports.size(); }

segment::port_id segment::find_port(const std::string& name) const {
  for (std::size_t i = 0; i < m_ports.size(); ++i)
    if (m_ports[i]->name == name && m_ports[i]->attached) return static_cast<port_id>(i);
  return -1;
}

void segment::capture(const std::string& pcap_path) { m_capture = std::make_unique<pcap_writer>(pcap_path); }
void segment::capture_port(port_id id, const std::string& pcap_path) {
  at(id).capture = std::make_unique<pcap_writer>(pcap_path);
}
void segment::stop_capture() {
  m_capture.reset();
  for (auto& p : m_ports) p->capture.reset();
}

void segment::claim_range(const std::string& kind, std::uint32_t first, std::uint32_t last, const std::string& owner,
                          const void* token, bool shared) {
  for (const auto& c : m_claims) {
    if (c.kind != kind || c.last < first || last < c.first) continue;
    if (shared && c.shared) continue;
    throw std::invalid_argument(fmt::format(
        "segment {}: {} {} {}-{} overlaps {} {}-{} of {} (mark both shared for competing servers on purpose)",
        m_name, owner, kind, to_string(first), to_string(last), kind, to_string(c.first), to_string(c.last), c.owner));
  }
  m_claims.push_back(range_claim{kind, first, last, owner, token, shared});
}

void segment::release_claims(const void* token) {
  m_claims.erase(std::remove_if(m_claims.begin(), m_claims.end(), [&](const auto& c) { return c.token == token; }),
                 m_claims.end());
}

void segment::observe(observer o) { m_observers.push_back(std::move(o)); }

void segment::set_log_sink(line_sink sink, log_level level) {
  m_log_sink = std::move(sink);
  m_log_level = level;
  m_diag.set_log_sink(m_log_sink, level);
  for (diag* d : m_adopted) d->set_log_sink(m_log_sink, level);
}

void segment::set_trace_sink(line_sink sink) {
  m_trace_sink = std::move(sink);
  m_diag.set_trace_sink(m_trace_sink);
  for (diag* d : m_adopted) d->set_trace_sink(m_trace_sink);
}

void segment::adopt(diag& d) {
  if (std::find(m_adopted.begin(), m_adopted.end(), &d) == m_adopted.end()) m_adopted.push_back(&d);
  if (m_log_sink) d.set_log_sink(m_log_sink, m_log_level);
  if (m_trace_sink) d.set_trace_sink(m_trace_sink);
}

void segment::disown(diag& d) { m_adopted.erase(std::remove(m_adopted.begin(), m_adopted.end(), &d), m_adopted.end()); }

}  // namespace wizsim
