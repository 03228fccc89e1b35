#include "daemon/daemon.hpp"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <optional>
#include <system_error>

#include "daemon/lro.hpp"
#include "linux/tap.hpp"

namespace stt::daemon {
namespace {

std::string tap_name(const NetworkConfig& n) {
  return n.tap.empty() ? "stt-" + n.name : n.tap;
}

std::string hex(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

sigset_t daemon_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

std::string dscp_text(const Config& c) {
  return c.dscp_mode == DscpSetting::kInherit ? "\"inherit\"" : std::to_string(c.dscp);
}

std::string ecn_text(EcnSetting e) {
  switch (e) {
    case EcnSetting::kNormal:
      return "\"normal\"";
    case EcnSetting::kCompat:
      return "\"compat\"";
    case EcnSetting::kOff:
      break;
  }
  return "\"off\"";
}

// The first setting that a running daemon cannot take over without a
// restart (the underlay socket, the firewall table, the control socket and
// every tunnel are built from them), as "KEY: changed from A to B".
std::optional<std::string> needs_restart(const Config& a, const Config& b) {
  auto changed = [](std::string key, const std::string& x, const std::string& y) {
    return std::optional<std::string>(key + ": changed from " + x + " to " + y);
  };
  if (a.underlay_interface != b.underlay_interface) {
    return changed("underlay.interface", a.underlay_interface, b.underlay_interface);
  }
  if (a.local != b.local)
    return changed("underlay.local", a.local.to_string(), b.local.to_string());
  if (a.port != b.port)
    return changed("underlay.port", std::to_string(a.port), std::to_string(b.port));
  if (a.fdb_ageing_s != b.fdb_ageing_s) {
    return changed("underlay.fdb_ageing", std::to_string(a.fdb_ageing_s),
                   std::to_string(b.fdb_ageing_s));
  }
  if (a.dscp_mode != b.dscp_mode || a.dscp != b.dscp) {
    return changed("underlay.dscp", dscp_text(a), dscp_text(b));
  }
  if (a.ecn != b.ecn) return changed("underlay.ecn", ecn_text(a.ecn), ecn_text(b.ecn));
  if (a.lro != b.lro) {
    auto text = [](LroSetting s) {
      return s == LroSetting::kDisable ? "\"disable\"" : "\"ignore\"";
    };
    return changed("underlay.lro", text(a.lro), text(b.lro));
  }
  if (a.fast_path != b.fast_path) {
    return changed("underlay.fast_path", "\"" + std::string(to_string(a.fast_path)) + "\"",
                   "\"" + std::string(to_string(b.fast_path)) + "\"");
  }
  if (a.control_socket != b.control_socket) {
    return changed("control.socket", a.control_socket, b.control_socket);
  }
  return std::nullopt;
}

bool same_entry(const StaticFdbEntry& x, const StaticFdbEntry& y) {
  return x.mac == y.mac && x.peer == y.peer;
}

template <typename T, typename Eq>
bool contains(const std::vector<T>& v, const T& x, Eq eq) {
  return std::any_of(v.begin(), v.end(), [&](const T& y) { return eq(x, y); });
}

}  // namespace

void Daemon::block_stop_signals() {
  const sigset_t set = daemon_signals();
  if (sigprocmask(SIG_BLOCK, &set, nullptr) < 0) {
    throw std::system_error(errno, std::generic_category(), "sigprocmask");
  }
}

Daemon::Daemon(const Config& cfg, const DaemonOptions& opt) : cfg_(cfg), opt_(opt) {
  // Leftovers of an instance that was killed: its TAPs (if something kept
  // them) and its nftables table (FirewallRule replaces it atomically).
  for (const auto& n : cfg_.networks) {
    if (sys::delete_stale_tap(tap_name(n))) {
      spdlog::warn("deleted stale TAP {} left by a previous instance", tap_name(n));
    }
  }
  firewall_ = std::make_unique<sys::FirewallRule>(cfg_.local, cfg_.port);
  spdlog::info(
      "nftables table inet {} installed: TCP to {} port {} is dropped before the host "
      "stack",
      firewall_->table(), cfg_.local.to_string(), cfg_.port);

  DataplaneOptions dpo;
  dpo.underlay = cfg_.underlay_interface;
  dpo.local = cfg_.local;
  dpo.port = cfg_.port;
  dpo.tx_form = opt_.tx_form;
  dpo.dscp_mode =
      cfg_.dscp_mode == DscpSetting::kInherit ? core::DscpMode::kUniform : core::DscpMode::kPipe;
  dpo.pipe_dscp = cfg_.dscp;
  dpo.ecn_mode = cfg_.ecn == EcnSetting::kNormal ? core::EcnMode::kNormal : core::EcnMode::kCompat;
  dpo.decap.dscp_mode = dpo.dscp_mode;
  dpo.decap.ecn = cfg_.ecn != EcnSetting::kOff;
  dp_ = std::make_unique<Dataplane>(dpo, nl_);
  // R17, once the underlay is known to exist (the Dataplane looked it up):
  // LRO off, or no start. What was created so far is removed on the throw.
  lro_ = enforce_underlay_lro(cfg_.underlay_interface, cfg_.lro);
  FdbLimits limits;
  limits.ageing_ns = std::uint64_t{cfg_.fdb_ageing_s} * 1'000'000'000ull;
  for (const auto& n : cfg_.networks) {
    Network& net = dp_->add_network(n, limits);
    spdlog::info("network {}: context ID {}, TAP {} (MTU {}), {} peer(s)", n.name,
                 hex(n.context_id), net.tap.name(), net.tap.mtu(), n.peers.size());
  }
  FastPathSettings fs;
  fs.mode = cfg_.fast_path;
  fs.underlay_ifindex = dp_->underlay_ifindex();
  fs.underlay_name = cfg_.underlay_interface;
  fs.local = cfg_.local;
  fs.port = cfg_.port;
  fs.underlay_mtu = dp_->underlay_mtu();
  fs.underlay_mac = dp_->underlay_mac();
  fs.dscp_uniform = cfg_.dscp_mode == DscpSetting::kInherit;
  fs.pipe_dscp = cfg_.dscp;
  fs.ecn_normal = cfg_.ecn == EcnSetting::kNormal;
  // --tx-form segmented asks for frames cut in userspace: the kernel path sends GSO packets.
  fs.tx = opt_.tx_form == core::TxForm::kGso;
  fast_ = FastPath::start(fs, &fast_status_);
  if (fast_) {
    spdlog::info("fast path: bpf (fast_path = \"{}\"): {}", to_string(cfg_.fast_path),
                 fast_status_.reason);
    sync_fast_path(Dataplane::now_ns());
  } else if (cfg_.fast_path == FastPathSetting::kOff) {
    spdlog::info("fast path: off ({})", fast_status_.reason);
  } else {
    spdlog::warn("fast path: off, running sttd's userspace path alone: {}", fast_status_.reason);
  }
  dp_->attach(loop_);

  const sigset_t set = daemon_signals();
  signal_fd_.reset(signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!signal_fd_.valid()) throw std::system_error(errno, std::generic_category(), "signalfd");
  loop_.add(signal_fd_.get(), [this](std::uint32_t) {
    signalfd_siginfo si;
    while (read(signal_fd_.get(), &si, sizeof si) == sizeof si) {
      if (si.ssi_signo == SIGHUP) {
        spdlog::info("SIGHUP received, reloading {}", cfg_.path);
        try {
          reload();
        } catch (const std::exception&) {
          // reload() has logged why; the running config stays.
        }
        continue;
      }
      spdlog::info("signal {} received, stopping", si.ssi_signo);
      loop_.stop();
    }
  });

  control_ = std::make_unique<ControlServer>(cfg_.control_socket, *this, loop_);
}

Daemon::~Daemon() {
  control_.reset();
  fast_.reset();  // programs detached while their TAPs still exist
  if (dp_) dp_->detach(loop_);
  dp_.reset();
  firewall_.reset();
}

void Daemon::run() {
  spdlog::info("ready: {} network(s) on underlay {} ({}, port {}), control socket {}",
               cfg_.networks.size(), cfg_.underlay_interface, cfg_.local.to_string(), cfg_.port,
               cfg_.control_socket);
  loop_.set_busy_poll(opt_.busy_poll_us);
  loop_.run(opt_.tick_ms, [this] {
    const std::uint64_t now = Dataplane::now_ns();
    dp_->tick(now);
    if (fast_) sync_fast_path(now);
  });
}

void Daemon::sync_fast_path(std::uint64_t now) {
  try {
    std::vector<FastPath::NetworkView> nets;
    for (const auto& n : dp_->networks()) {
      nets.push_back({n->cfg.context_id, n->tap.ifindex(), n->tap.mtu()});
    }
    fast_->sync_networks(nets);
    std::vector<FastPath::Peer> peers;
    dp_->for_each_peer([&](const wire::IpAddr& a, bool resolved, const wire::MacAddr& mac) {
      peers.push_back({a, resolved, mac});
    });
    fast_->sync_peers(peers);
    // MACs learned by either path reach the other within 0.1 s.
    const bool fdb_due = now >= next_fdb_sync_ns_;
    if (fdb_due) {
      next_fdb_sync_ns_ = now + 100'000'000ull;
      fast_->poll_learned(
          [&](std::uint64_t ctx, const wire::MacAddr& mac, const wire::IpAddr& peer) {
            for (const auto& n : dp_->networks()) {
              if (n->cfg.context_id == ctx) n->fdb.learn(mac, peer, now);
            }
          });
    }
    std::vector<FastPath::FdbEntry> entries;
    for (const auto& n : dp_->networks()) {
      fast_->sync_network_peers(n->cfg.context_id, n->fdb.peers());
      if (!fdb_due) continue;
      entries.clear();
      n->fdb.for_each(now, [&](const wire::MacAddr& mac, const wire::IpAddr& peer) {
        entries.push_back({mac, peer});
      });
      fast_->sync_fdb(n->cfg.context_id, entries);
    }
  } catch (const std::exception& e) {
    // A full map or a vanished TAP: frames the maps do not cover go to sttd meanwhile.
    spdlog::warn("fast path: maps not brought up to date: {}", e.what());
  }
}

// ----------------------------------------------------------------- control

Network& Daemon::network_arg(const std::string& name) {
  Network* n = dp_->network(name);
  if (n == nullptr) throw ControlRequestError("unknown network '" + name + "'");
  return *n;
}

wire::IpAddr Daemon::peer_arg(const std::string& text) const {
  auto ip = wire::IpAddr::parse(text);
  if (!ip) throw ControlRequestError("'" + text + "' is not an IP address");
  if (ip->version != cfg_.local.version) {
    throw ControlRequestError("peer " + text + " is not of the underlay's address family (local " +
                              cfg_.local.to_string() + ")");
  }
  if (ip->is_multicast()) throw ControlRequestError("peer " + text + " is a multicast address");
  if (*ip == cfg_.local) throw ControlRequestError("peer " + text + " is the local address");
  return *ip;
}

nlohmann::json Daemon::show() {
  nlohmann::json nets = nlohmann::json::array();
  for (const auto& n : dp_->networks()) {
    nlohmann::json peers = nlohmann::json::array();
    for (const auto& p : n->fdb.peers())
      peers.push_back(p.to_string());
    nets.push_back({{"name", n->cfg.name},
                    {"context_id", n->cfg.context_id},
                    {"context_id_hex", hex(n->cfg.context_id)},
                    {"tap", n->tap.name()},
                    {"mtu", n->tap.mtu()},
                    {"peers", peers},
                    {"fdb_learned", n->fdb.learned_count()},
                    {"fdb_static", n->fdb.static_count()}});
  }
  nlohmann::json underlay = dp_->underlay_json();
  underlay["lro"] = lro_json(lro_);
  return {{"underlay", underlay},
          {"fast_path", fast_status_.json()},
          {"firewall", {{"table", "inet " + firewall_->table()}}},
          {"networks", nets},
          {"peers", dp_->peers_json()}};
}

nlohmann::json Daemon::fdb_show(const std::string& network) {
  nlohmann::json out = nlohmann::json::array();
  const std::uint64_t now = Dataplane::now_ns();
  if (!network.empty()) {
    Network& n = network_arg(network);
    n.fdb.append_json(out, n.cfg.name, now);
    return out;
  }
  for (const auto& n : dp_->networks())
    n->fdb.append_json(out, n->cfg.name, now);
  return out;
}

nlohmann::json Daemon::fdb_add(const std::string& mac, const std::string& network,
                               const std::string& peer) {
  auto m = wire::MacAddr::parse(mac);
  if (!m) throw ControlRequestError("'" + mac + "' is not a MAC address");
  Network& n = network_arg(network);
  const wire::IpAddr ip = peer_arg(peer);
  const FdbResult r = n.fdb.add_static(*m, ip);
  if (r != FdbResult::kOk) {
    throw ControlRequestError("fdb add " + m->to_string() + " network " + network + " peer " +
                              peer + ": " + std::string(to_string(r)));
  }
  spdlog::info("fdb add {} network {} peer {}", m->to_string(), network, peer);
  return {{"mac", m->to_string()}, {"network", network}, {"peer", ip.to_string()}};
}

nlohmann::json Daemon::fdb_del(const std::string& mac, const std::string& network,
                               const std::string& peer) {
  auto m = wire::MacAddr::parse(mac);
  if (!m) throw ControlRequestError("'" + mac + "' is not a MAC address");
  Network& n = network_arg(network);
  const wire::IpAddr ip = peer_arg(peer);
  const FdbResult r = n.fdb.del(*m, ip);
  if (r != FdbResult::kOk) {
    throw ControlRequestError("fdb del " + m->to_string() + " network " + network + " peer " +
                              peer + ": " + std::string(to_string(r)));
  }
  spdlog::info("fdb del {} network {} peer {}", m->to_string(), network, peer);
  return {{"mac", m->to_string()}, {"network", network}, {"peer", ip.to_string()}};
}

nlohmann::json Daemon::peer_add(const std::string& peer, const std::string& network) {
  Network& n = network_arg(network);
  const wire::IpAddr ip = peer_arg(peer);
  if (!dp_->add_peer(n, ip)) {
    throw ControlRequestError(ip.to_string() + " is already a peer of network " + network);
  }
  spdlog::info("peer add {} network {}", ip.to_string(), network);
  return {{"peer", ip.to_string()}, {"network", network}};
}

nlohmann::json Daemon::peer_del(const std::string& peer, const std::string& network) {
  Network& n = network_arg(network);
  const wire::IpAddr ip = peer_arg(peer);
  if (!dp_->remove_peer(n, ip)) {
    throw ControlRequestError(ip.to_string() + " is not a peer of network " + network);
  }
  spdlog::info("peer del {} network {}", ip.to_string(), network);
  return {{"peer", ip.to_string()}, {"network", network}};
}

nlohmann::json Daemon::stats() {
  nlohmann::json out = dp_->stats_json();
  if (!fast_) return out;
  // The kernel path's counters: added to sttd's of the same name (they count the same
  // events on the frames sttd never saw), and all of them listed under fast_path.
  auto merge = [](nlohmann::json& dst, const sys::BpfCounters& c) {
    nlohmann::json fp = nlohmann::json::object();
    for (std::size_t i = 0; i < c.size(); ++i) {
      const std::string name(sys::bpf_counter_name(i));
      fp[name] = c[i];
      auto& dp = dst["datapath"];
      if (dp.contains(name)) dp[name] = dp[name].get<std::uint64_t>() + c[i];
    }
    dst["fast_path"] = std::move(fp);
  };
  merge(out["global"], fast_->counters(std::nullopt));
  for (const auto& n : dp_->networks()) {
    if (out["networks"].contains(n->cfg.name)) {
      merge(out["networks"][n->cfg.name], fast_->counters(n->cfg.context_id));
    }
  }
  return out;
}

nlohmann::json Daemon::reassembly() {
  return dp_->reassembly_json();
}

nlohmann::json Daemon::reload() {
  Config next;
  try {
    next = load_config(cfg_.path);
  } catch (const ConfigError& e) {
    spdlog::error("reload refused, running config kept: {}", e.what());
    throw ControlRequestError(e.what());
  }
  if (auto why = needs_restart(cfg_, next)) {
    const std::string msg = cfg_.path + ": " + *why + "; restart required (running config kept)";
    spdlog::error("reload refused: {}", msg);
    throw ControlRequestError(msg);
  }
  nlohmann::json r = apply(next);
  if (fast_) sync_fast_path(Dataplane::now_ns());
  return r;
}

nlohmann::json Daemon::apply(const Config& next) {
  FdbLimits limits;
  limits.ageing_ns = std::uint64_t{cfg_.fdb_ageing_s} * 1'000'000'000ull;
  nlohmann::json changes = nlohmann::json::array();
  nlohmann::json unchanged = nlohmann::json::array();
  std::vector<std::string> errors;
  auto note = [&](const std::string& what) {
    spdlog::info("reload: {}", what);
    changes.push_back(what);
  };
  auto find_next = [&](const std::string& name) -> const NetworkConfig* {
    for (const auto& n : next.networks) {
      if (n.name == name) return &n;
    }
    return nullptr;
  };

  // 1. Networks gone from the file, or whose identity (context ID, TAP)
  //    changed, are removed first, so their TAP names and IDs are free.
  std::vector<Network*> running;
  for (const auto& n : dp_->networks())
    running.push_back(n.get());
  for (Network* n : running) {
    const NetworkConfig* nc = find_next(n->cfg.name);
    if (nc != nullptr && nc->context_id == n->cfg.context_id && nc->tap == n->cfg.tap) continue;
    const std::string name = n->cfg.name;
    dp_->remove_network(*n);
    note("network " + name +
         (nc ? " removed (context ID or TAP changed; recreated below)" : " removed"));
  }

  // 2. Networks that stay: MTU, peers and static FDB entries, each against
  //    the previous config (entries added or removed with sttctl since then
  //    are left as they are).
  for (const auto& np : dp_->networks()) {
    Network& n = *np;
    const NetworkConfig& nc = *find_next(n.cfg.name);
    const NetworkConfig old = n.cfg;
    bool touched = false;
    if (nc.mtu != old.mtu) {
      try {
        n.tap.set_mtu(nc.mtu);
        note("network " + n.cfg.name + ": MTU " + std::to_string(old.mtu) + " -> " +
             std::to_string(nc.mtu));
      } catch (const std::exception& e) {
        errors.push_back("network " + n.cfg.name + ": " + e.what());
      }
      touched = true;
    }
    for (const auto& e : old.fdb) {
      if (contains(nc.fdb, e, same_entry)) continue;
      n.fdb.del(e.mac, e.peer);
      note("network " + n.cfg.name + ": static FDB entry " + e.mac.to_string() + " -> " +
           e.peer.to_string() + " removed");
      touched = true;
    }
    auto eq_ip = [](const wire::IpAddr& x, const wire::IpAddr& y) { return x == y; };
    for (const auto& p : old.peers) {
      if (contains(nc.peers, p, eq_ip)) continue;
      dp_->remove_peer(n, p);
      note("network " + n.cfg.name + ": peer " + p.to_string() + " removed");
      touched = true;
    }
    for (const auto& p : nc.peers) {
      if (contains(old.peers, p, eq_ip)) continue;
      dp_->add_peer(n, p);
      note("network " + n.cfg.name + ": peer " + p.to_string() + " added");
      touched = true;
    }
    for (const auto& e : nc.fdb) {
      if (contains(old.fdb, e, same_entry)) continue;
      const FdbResult r = n.fdb.add_static(e.mac, e.peer);
      if (r == FdbResult::kOk) {
        note("network " + n.cfg.name + ": static FDB entry " + e.mac.to_string() + " -> " +
             e.peer.to_string() + " added");
      } else {
        errors.push_back("network " + n.cfg.name + ": static FDB entry " + e.mac.to_string() +
                         " -> " + e.peer.to_string() + ": " + std::string(to_string(r)));
      }
      touched = true;
    }
    n.cfg = nc;
    if (!touched) unchanged.push_back(n.cfg.name);
  }

  // 3. New (and recreated) networks, in the file's order.
  for (const auto& nc : next.networks) {
    if (dp_->network(nc.name) != nullptr) continue;
    try {
      Network& net = dp_->add_network(nc, limits);
      note("network " + nc.name + " added: context ID " + hex(nc.context_id) + ", TAP " +
           net.tap.name() + " (MTU " + std::to_string(net.tap.mtu()) + "), " +
           std::to_string(nc.peers.size()) + " peer(s)");
    } catch (const std::exception& e) {
      errors.push_back("network " + nc.name + ": " + e.what());
    }
  }

  // What runs now is the new file, less what could not be applied.
  Config now = next;
  now.networks.clear();
  for (const auto& n : dp_->networks())
    now.networks.push_back(n->cfg);
  cfg_ = std::move(now);

  if (!errors.empty()) {
    std::string msg = cfg_.path + ": reload applied in part; failed: ";
    for (std::size_t i = 0; i < errors.size(); ++i)
      msg += (i ? "; " : "") + errors[i];
    spdlog::error("{}", msg);
    throw ControlRequestError(msg);
  }
  spdlog::info("reload of {} done: {} change(s), {} network(s) unchanged", cfg_.path,
               changes.size(), unchanged.size());
  return {{"changes", changes}, {"unchanged", unchanged}};
}

}  // namespace stt::daemon
