// Building a scenario's network: chip and driver, peers and their services, fault rules, the schedule.
#include "world.hpp"

#include <stdexcept>

#include "wiznet5k/wsgi.hpp"

namespace wizsim::scenario::detail {

namespace {

dns_behaviour dns_behaviour_of(const Node& n) {
  auto mode_of = [](const std::string& s) {
    if (s == "nxdomain") return dns_mode::nxdomain;
    if (s == "servfail") return dns_mode::servfail;
    if (s == "truncated") return dns_mode::truncated;
    if (s == "silent") return dns_mode::silent;
    if (s == "malformed") return dns_mode::malformed;
    return dns_mode::normal;
  };
  auto malformation_of = [](const std::string& s) {
    if (s == "count_mismatch") return dns_malformation::count_mismatch;
    if (s == "pointer_loop") return dns_malformation::pointer_loop;
    if (s == "truncated_rdata") return dns_malformation::truncated_rdata;
    if (s == "a_rdlength_3") return dns_malformation::a_rdlength_3;
    if (s == "qr_zero") return dns_malformation::qr_zero;
    return dns_malformation::wrong_id;
  };
  dns_behaviour b;
  if (n.IsScalar()) {
    b.mode = mode_of(n.Scalar());
    return b;
  }
  b.mode = mode_of(get_str(n, "mode", "normal"));
  b.delay = get_dur(n, "delay", 0);
  b.malformation = malformation_of(get_str(n, "malformation", "wrong_id"));
  if (n["ttl"]) b.ttl = static_cast<std::uint32_t>(get_uint(n, "ttl", 0));
  return b;
}

link_config link_of(const Node& n) {
  link_config l;
  if (!n || !n.IsMap()) return l;
  l.delay = get_dur(n, "delay", l.delay);
  if (n["speed"]) l.bits_per_second = parse_speed(n["speed"].Scalar()).value_or(l.bits_per_second);
  return l;
}

}  // namespace

dhcp_behaviour dhcp_behaviour_of(const std::string& s) {
  if (s == "silent") return dhcp_behaviour::silent;
  if (s == "nak") return dhcp_behaviour::nak;
  if (s == "wrong_xid") return dhcp_behaviour::wrong_xid;
  if (s == "offer_then_vanish") return dhcp_behaviour::offer_then_vanish;
  return dhcp_behaviour::normal;
}

void apply_dns_behaviour(dns_server& d, const Node& change) {
  const dns_behaviour b = dns_behaviour_of(change["behaviour"]);
  if (change["name"])
    d.set_behaviour(change["name"].Scalar(), b);
  else
    d.set_default_behaviour(b);
}

// ---- tcp_reply -------------------------------------------------------------------------------------------

tcp_reply_service::tcp_reply_service(peer_host& host, config cfg) : m_host(host), m_cfg(std::move(cfg)) {
  std::weak_ptr<bool> alive = m_alive;
  m_host.tcp_listen(m_cfg.port, [this, alive](tcp_ptr c) {
    if (alive.expired()) return;
    ++stats.connections;
    ++stats.active;
    std::weak_ptr<tcp_connection> weak = c;
    auto answered = std::make_shared<bool>(false);
    c->on_data = [this, alive, weak, answered](const octets& d) {
      if (alive.expired()) return;
      stats.bytes_received += d.size();
      if (!m_cfg.on_connect && !*answered) {
        *answered = true;
        answer(weak);
      }
    };
    c->on_peer_fin = [weak]() {
      if (auto p = weak.lock()) p->close();
    };
    c->on_closed = [this, alive](const std::string& reason) {
      if (alive.expired()) return;
      if (stats.active) --stats.active;
      if (reason == "closed")
        ++stats.closed;
      else
        ++stats.aborted;
    };
    if (m_cfg.on_connect) {
      *answered = true;
      answer(weak);
    }
  });
}

tcp_reply_service::~tcp_reply_service() {
  m_host.tcp_unlisten(m_cfg.port);
}

void tcp_reply_service::answer(const std::weak_ptr<tcp_connection>& weak) {
  std::weak_ptr<bool> alive = m_alive;
  m_host.sched().after(m_cfg.delay, [this, alive, weak]() {
    auto c = weak.lock();
    if (alive.expired() || !c) return;
    octets out(m_cfg.reply.begin(), m_cfg.reply.end());
    const octets pat = tcp_source_service::pattern(m_cfg.reply_size, 0);
    out.insert(out.end(), pat.begin(), pat.end());
    if (!out.empty()) c->send(out);
    stats.bytes_sent += out.size();
    if (m_cfg.then == "keep") return;
    m_host.sched().after(m_cfg.then_delay, [this, alive, weak]() {
      auto conn = weak.lock();
      if (alive.expired() || !conn) return;
      if (m_cfg.then == "reset")
        conn->abort();
      else
        conn->close();
    });
  });
}

// ---- world -----------------------------------------------------------------------------------------------

world::world(const scenario& s, std::uint64_t seed_) : sc(s), seed(seed_) {}

world::~world() {
  teardown();
}

segment::port_id world::port_of(const std::string& link) const {
  if (link.empty() || link == "chip") return chip_port;
  for (const auto& p : peers)
    if (p->name == link) return p->host->port();
  return -1;
}

peer_slot* world::peer(const std::string& name) {
  for (auto& p : peers)
    if (p->name == name) return p.get();
  return nullptr;
}

std::string world::resolve_host(const std::string& host) const {
  for (const auto& p : peers)
    if (p->name == host) return to_string(p->host->ip());
  return host;
}

bool world::build(const complaint& on_error) {
  const Node& root = sc.root;
  const Node chip_node = root["chip"];
  // Whatever a constructor rejects is reported at the node being built.
  Node where = root;
  try {
    sched = std::make_unique<scheduler>(seed);
    seg = std::make_unique<segment>(*sched, "lan", seed);
    chip_config cc;
    cc.name = "chip";
    if (chip_node) {
      where.reset(chip_node);
      cc.sclk_hz = get_uint(chip_node, "sclk_hz", cc.sclk_hz);
      if (const Node q = chip_node["quirks"]) {
        for (const auto& kv : q) {
          where.reset(kv.second);
          const std::string name = kv.first.Scalar();
          std::string v = kv.second.Scalar();
          for (const auto& info : quirk_table())
            if (name == info.name && info.kind == quirk_kind::duration_ps)
              v = std::to_string(parse_duration(v).value_or(0));
          cc.quirk.set(name, v);
        }
      }
      if (chip_node["mac"]) chip_mac = parse_mac(chip_node["mac"].Scalar()).value_or(chip_mac);
    }
    chip = std::make_unique<w5500>(*sched, cc);
    chip_port = seg->attach(*chip, "chip", link_of(chip_node ? chip_node["link"] : Node()));
    mhal = std::make_unique<model_hal>(*chip, seed, chip_node ? get_bool(chip_node, "reset", true) : true,
                                       chip_node ? get_bool(chip_node, "int", true) : true);
    hal = std::make_unique<guarded_hal>(*mhal, sc.budget);
    eth = std::make_unique<wiznet5k::WIZNET5K>(*hal);
    // The socket module and the WSGI server keep a global interface: point it at this run's driver
    // before any step (a scenario may open sockets without `begin`).
    wiznet5k::socket_module::set_interface(*eth);
    wiznet5k::wsgiserver::set_interface(*eth);

    std::size_t index = 0;
    for (const auto& pn : root["peers"]) {
      ++index;
      where.reset(pn);
      auto slot = std::make_unique<peer_slot>();
      slot->name = pn["name"].Scalar();
      peer_config pc;
      pc.name = slot->name;
      pc.mac = {0x02, 0x00, 0x00, 0x00, 0x00, static_cast<std::uint8_t>(index)};
      if (pn["mac"]) pc.mac = parse_mac(pn["mac"].Scalar()).value_or(pc.mac);
      pc.ip = get_ip(pn, "ip", 0);
      pc.netmask = get_ip(pn, "netmask", pc.netmask);
      pc.gateway = get_ip(pn, "gateway", 0);
      pc.link = link_of(pn["link"]);
      pc.tcp_window = static_cast<std::uint16_t>(get_uint(pn, "tcp_window", pc.tcp_window));
      pc.tcp_mss = static_cast<std::uint16_t>(get_uint(pn, "tcp_mss", pc.tcp_mss));
      pc.answer_ping = get_bool(pn, "answer_ping", true);
      pc.reset_closed_ports = get_bool(pn, "reset_closed_ports", true);
      for (const auto& other : peers)
        if (other->host->mac() == pc.mac)
          throw std::invalid_argument("peer '" + slot->name + "' has the same MAC as peer '" + other->name +
                                      "'");
      if (pc.mac == chip_mac) throw std::invalid_argument("peer '" + slot->name + "' has the chip's MAC");
      for (const auto& other : peers)
        if (pc.ip != 0 && other->host->ip() == pc.ip)
          throw std::invalid_argument("peer '" + slot->name + "' has the same IP as peer '" + other->name +
                                      "'");
      slot->host = std::make_unique<peer_host>(*seg, pc);
      peer_host& h = *slot->host;
      if (const Node m = pn["multicast"])
        for (const auto& g : m) h.join_multicast(parse_ip(g.Scalar()).value_or(0));
      if (const Node svcs = pn["services"]) {
        for (const auto& kv : svcs) {
          const std::string kind = kv.first.Scalar();
          const Node s = kv.second;
          where.reset(kv.first);
          if (kind == "dhcp") {
            dhcp_server_config d;
            const std::string pool = s["pool"].Scalar();
            const auto dash = pool.find('-');
            d.pool_first = parse_ip(pool.substr(0, dash)).value_or(0);
            d.pool_last = parse_ip(pool.substr(dash + 1)).value_or(0);
            d.netmask = get_ip(s, "netmask", d.netmask);
            d.router = get_ip(s, "router", 0);
            if (const Node dn = s["dns"]) {
              if (dn.IsSequence()) {
                for (const auto& a : dn) d.dns.push_back(parse_ip(a.Scalar()).value_or(0));
              } else {
                d.dns.push_back(parse_ip(dn.Scalar()).value_or(0));
              }
            }
            d.domain_name = get_str(s, "domain");
            d.lease_time = static_cast<std::uint32_t>(get_dur(s, "lease", seconds(3600)) / ps_per_s);
            d.t1 = static_cast<std::uint32_t>(get_dur(s, "t1", 0) / ps_per_s);
            d.t2 = static_cast<std::uint32_t>(get_dur(s, "t2", 0) / ps_per_s);
            d.reply_delay = get_dur(s, "reply_delay", 0);
            d.offer_hold = get_dur(s, "offer_hold", d.offer_hold);
            d.shared_pool = get_bool(s, "shared_pool", false);
            slot->dhcp = std::make_unique<dhcp_server>(h, d);
            slot->dhcp->set_behaviour(dhcp_behaviour_of(get_str(s, "behaviour", "normal")));
          } else if (kind == "dns") {
            dns_server_config d;
            d.default_ttl = static_cast<std::uint32_t>(get_uint(s, "ttl", d.default_ttl));
            slot->dns = std::make_unique<dns_server>(h, d);
            if (s.IsMap()) {
              if (const Node a = s["a"])
                for (const auto& r : a) {
                  where.reset(r.first);
                  if (r.second.IsSequence()) {
                    for (const auto& x : r.second)
                      slot->dns->add_a(r.first.Scalar(), parse_ip(x.Scalar()).value_or(0));
                  } else {
                    slot->dns->add_a(r.first.Scalar(), parse_ip(r.second.Scalar()).value_or(0));
                  }
                }
              if (const Node cn = s["cname"])
                for (const auto& r : cn) {
                  where.reset(r.first);
                  slot->dns->add_cname(r.first.Scalar(), r.second.Scalar());
                }
              if (s["behaviour"]) slot->dns->set_default_behaviour(dns_behaviour_of(s["behaviour"]));
              if (const Node nm = s["names"])
                for (const auto& r : nm) {
                  where.reset(r.first);
                  slot->dns->set_behaviour(r.first.Scalar(), dns_behaviour_of(r.second));
                }
            }
          } else if (kind == "http") {
            http_server_config hc;
            hc.idle_timeout = get_dur(s, "idle_timeout", hc.idle_timeout);
            slot->http =
                std::make_unique<http_server>(h, static_cast<std::uint16_t>(get_uint(s, "port", 80)), hc);
            for (const auto& r : s["routes"]) {
              where.reset(r);
              struct route_cfg {
                int status;
                std::string body, content_type, framing;
                bool has_size, echo, close;
                std::uint64_t size, chunk_size;
                ps_t header_delay, chunk_delay;
                std::vector<std::pair<std::string, std::string>> headers;
              } rc;
              rc.status = static_cast<int>(get_uint(r, "status", 200));
              rc.body = get_str(r, "body");
              rc.content_type = get_str(r, "content_type", "text/plain");
              rc.framing = get_str(r, "framing", "content_length");
              rc.has_size = static_cast<bool>(r["size"]);
              rc.size = get_size(r, "size", 0);
              rc.echo = get_bool(r, "echo", false);
              rc.close = get_bool(r, "close", false);
              rc.chunk_size = get_size(r, "chunk_size", 4096);
              rc.header_delay = get_dur(r, "header_delay", 0);
              rc.chunk_delay = get_dur(r, "chunk_delay", 0);
              if (const Node hd = r["headers"])
                for (const auto& x : hd) rc.headers.emplace_back(x.first.Scalar(), x.second.Scalar());
              slot->http->route(
                  get_str(r, "method", "GET"), r["path"].Scalar(), [rc](const http_request& req) {
                    http_reply rep;
                    rep.status = rc.status;
                    rep.headers.set("Content-Type", rc.content_type);
                    for (const auto& x : rc.headers) rep.headers.set(x.first, x.second);
                    if (rc.echo)
                      rep.body = req.body;
                    else if (rc.has_size)
                      rep.generator = http_pattern_body(rc.size);
                    else
                      rep.body = rc.body;
                    rep.framing = rc.framing == "chunked" ? http_framing::chunked
                                  : rc.framing == "close" ? http_framing::close
                                                          : http_framing::content_length;
                    rep.chunk_size = static_cast<std::size_t>(rc.chunk_size ? rc.chunk_size : 4096);
                    rep.close = rc.close;
                    rep.header_delay = rc.header_delay;
                    rep.chunk_delay = rc.chunk_delay;
                    return rep;
                  });
            }
          } else if (kind == "tcp_echo") {
            slot->tcp_echo =
                std::make_unique<tcp_echo_service>(h, static_cast<std::uint16_t>(get_uint(s, "port", 7)));
          } else if (kind == "tcp_discard") {
            slot->tcp_discard =
                std::make_unique<tcp_discard_service>(h, static_cast<std::uint16_t>(get_uint(s, "port", 9)));
          } else if (kind == "udp_echo") {
            slot->udp_echo =
                std::make_unique<udp_echo_service>(h, static_cast<std::uint16_t>(get_uint(s, "port", 7)));
          } else if (kind == "tcp_sink") {
            tcp_sink_config k;
            k.keep = get_bool(s, "keep", true);
            k.pause_after = static_cast<std::size_t>(get_size(s, "pause_after", 0));
            k.pause_for = get_dur(s, "pause_for", 0);
            k.initial_pause = get_dur(s, "initial_pause", 0);
            slot->tcp_sink = std::make_unique<tcp_sink_service>(
                h, static_cast<std::uint16_t>(get_uint(s, "port", 9000)), k);
          } else if (kind == "tcp_source") {
            tcp_source_config k;
            k.bytes = static_cast<std::size_t>(get_size(s, "size", 64 * 1024));
            k.close_when_done = get_bool(s, "close", true);
            slot->tcp_source = std::make_unique<tcp_source_service>(
                h, static_cast<std::uint16_t>(get_uint(s, "port", 19)), k);
          } else if (kind == "tcp_reply") {
            tcp_reply_service::config k;
            k.port = static_cast<std::uint16_t>(get_uint(s, "port", 0));
            k.on_connect = get_str(s, "on", "data") == "connect";
            k.reply = get_str(s, "reply");
            k.reply_size = static_cast<std::size_t>(get_size(s, "reply_size", 0));
            k.delay = get_dur(s, "delay", 0);
            k.then = get_str(s, "then", "close");
            k.then_delay = get_dur(s, "then_delay", 0);
            slot->tcp_reply = std::make_unique<tcp_reply_service>(h, k);
          }
        }
      }
      peers.push_back(std::move(slot));
    }

    for (const auto& f : root["faults"]) {
      where.reset(f);
      fault_rule r;
      r.kind = parse_fault_kind(f["kind"].Scalar());
      const std::string dir = get_str(f, "dir", "both");
      r.dir = dir == "out" ? link_dir::out : dir == "in" ? link_dir::in : link_dir::both;
      frame_filter base = f["match"] ? frame_filter::parse(f["match"].Scalar()) : frame_filter();
      if (f["from"] || f["until"]) {
        const ps_t from = get_dur(f, "from", 0), until = get_dur(f, "until", never);
        scheduler* sp = sched.get();
        const std::string text = base.text().empty() ? "all" : base.text();
        r.match = frame_filter::from(
            [base, from, until, sp](const std::uint8_t* p, std::size_t n) {
              return sp->now() >= from && sp->now() < until && base(p, n);
            },
            text + " in [" + show_time(from) + ", " +
                (until == never ? std::string("end") : show_time(until)) + ")");
      } else {
        r.match = base;
      }
      if (f["probability"]) r.probability = f["probability"].as<double>();
      r.nth = get_uint(f, "nth", 0);
      r.limit = get_uint(f, "limit", 0);
      r.delay = get_dur(f, "delay", 0);
      r.jitter = get_dur(f, "jitter", 0);
      r.truncate_to = static_cast<std::size_t>(get_size(f, "truncate_to", 0));
      r.corrupt_offset = f["corrupt_offset"] ? static_cast<int>(get_uint(f, "corrupt_offset", 0)) : -1;
      r.corrupt_mask = static_cast<std::uint8_t>(get_uint(f, "corrupt_mask", 0));
      r.label = get_str(f, "label");
      seg->faults(port_of(get_str(f, "link", "chip"))).add(r);
    }

    for (const auto& e : root["schedule"]) {
      where.reset(e);
      const ps_t at = get_dur(e, "at", 0);
      for (const auto& kv : e) {
        const std::string k = kv.first.Scalar();
        const Node v = kv.second;
        if (k == "link_down" || k == "link_up") {
          const std::string link = v.IsScalar() ? v.Scalar() : "chip";
          seg->schedule_link(port_of(link), at, k == "link_up");
        } else if (k == "dhcp_behaviour") {
          dhcp_server* d = peer(v["peer"].Scalar())->dhcp.get();
          const dhcp_behaviour b = dhcp_behaviour_of(v["behaviour"].Scalar());
          sched->at(at, [d, b]() { d->set_behaviour(b); });
        } else if (k == "dns_behaviour") {
          dns_server* d = peer(v["peer"].Scalar())->dns.get();
          const Node change = v;
          sched->at(at, [d, change]() { apply_dns_behaviour(*d, change); });
        }
      }
    }

    seg->observe([this](segment::port_id from, const octets& f, ps_t t) {
      // A bound keeps a runaway scenario from eating memory; checks then say the record is incomplete.
      if (frames.size() >= 400000) {
        frames_overflow = true;
        return;
      }
      frames.push_back({t, from, f});
    });
    return true;
  } catch (const std::exception& e) {
    on_error(where, e.what());
    return false;
  }
}

void world::teardown() {
  if (hal) hal->armed = false;
  try {
    sockets.clear();  // closes them through the driver
  } catch (...) {
  }
  peer_conns.clear();  // before the hosts that own the connections
  peers.clear();
  eth.reset();
  hal.reset();
  mhal.reset();
  chip.reset();
  seg.reset();
  sched.reset();
}

std::vector<load_error> dry_build(const scenario& s) {
  std::vector<load_error> errors;
  try {
    world w(s, s.seed);
    w.build([&](const Node& where, const std::string& what) {
      const YAML::Mark m = where.Mark();
      errors.push_back({s.file, m.line < 0 ? 0 : m.line + 1, m.column < 0 ? 0 : m.column + 1,
                        "impossible topology: " + what});
    });
  } catch (const std::exception& e) {
    errors.push_back({s.file, 0, 0, std::string("impossible topology: ") + e.what()});
  }
  return errors;
}

}  // namespace wizsim::scenario::detail
