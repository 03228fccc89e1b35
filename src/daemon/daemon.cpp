#include "daemon/daemon.hpp"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <nlohmann/json.hpp>
#include <system_error>

#include "core/version.hpp"
#include "daemon/lro.hpp"
#include "daemon/report.hpp"
#include "linux/tap.hpp"

namespace stt::daemon {
namespace {

std::string tap_name(const NetworkConfig& n) {
  return n.tap.empty() ? "stt-" + n.name : n.tap;
}

sigset_t daemon_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

void Daemon::block_stop_signals() {
  const sigset_t set = daemon_signals();
  if (sigprocmask(SIG_BLOCK, &set, nullptr) < 0) {
    throw std::system_error(errno, std::generic_category(), "sigprocmask");
  }
}

Daemon::Daemon(const Config& cfg, const DaemonOptions& opt)
    : cfg_(cfg), opt_(opt), started_ns_(Dataplane::now_ns()) {
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
  dpo.peers.dscp_mode =
      cfg_.dscp_mode == DscpSetting::kInherit ? core::DscpMode::kUniform : core::DscpMode::kPipe;
  dpo.peers.pipe_dscp = cfg_.dscp;
  dpo.peers.ecn_mode =
      cfg_.ecn == EcnSetting::kNormal ? core::EcnMode::kNormal : core::EcnMode::kCompat;
  dpo.decap.dscp_mode = dpo.peers.dscp_mode;
  dpo.decap.ecn = cfg_.ecn != EcnSetting::kOff;
  sys::PacketSocketOptions so;
  so.interface = cfg_.underlay_interface;
  so.local = cfg_.local;
  so.port = cfg_.port;
  io_ = std::make_unique<LinuxPacketIo>(nl_, so);
  next_hops_ = std::make_unique<NetlinkNextHops>(nl_);
  dp_ = std::make_unique<Dataplane>(dpo, *io_, *next_hops_);
  // R17, once the underlay is known to exist (the Dataplane looked it up):
  // LRO off, or no start. What was created so far is removed on the throw.
  lro_ = enforce_underlay_lro(cfg_.underlay_interface, cfg_.lro);
  FdbLimits limits;
  limits.ageing_ns = std::uint64_t{cfg_.fdb_ageing_s} * 1'000'000'000ull;
  for (const auto& n : cfg_.networks) {
    Network& net = dp_->add_network(n, limits);
    configure_tap(net);
    spdlog::info("network {}: context ID {}, TAP {} (MTU {}), {} peer(s)", n.name,
                 context_id_hex(n.context_id), net.tap.name(), net.tap.mtu(), n.peers.size());
  }
  FastPathSettings fs;
  fs.mode = cfg_.fast_path;
  const PeerTableOptions& under = dp_->peers().options();
  fs.underlay_ifindex = under.underlay_ifindex;
  fs.underlay_name = cfg_.underlay_interface;
  fs.local = cfg_.local;
  fs.port = cfg_.port;
  fs.underlay_mtu = under.underlay_mtu;
  fs.underlay_mac = under.underlay_mac;
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
  // Built now (it reads password_file), started in run(): after the capabilities are dropped,
  // so its threads (and gRPC's) never hold more than the loop.
  if (cfg_.cluster) cluster_ = std::make_unique<ClusterAgent>(cfg_, *dp_, *io_);

  const sigset_t set = daemon_signals();
  signal_fd_.reset(signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!signal_fd_.valid()) throw std::system_error(errno, std::generic_category(), "signalfd");
  loop_.add(signal_fd_.get(), [this](std::uint32_t) {
    signalfd_siginfo si;
    while (read(signal_fd_.get(), &si, sizeof si) == sizeof si) {
      if (si.ssi_signo == SIGHUP) {
        spdlog::info("SIGHUP received, reloading {}", cfg_.path);
        // reload() tells the service manager (RELOADING=1, then READY=1).
        try {
          reload();
        } catch (const std::exception&) {
          // reload() has logged why; the running config stays.
        }
        continue;
      }
      spdlog::info("signal {} received, stopping", si.ssi_signo);
      notify_.stopping("stopping: removing TAPs, the nftables table and the control socket");
      loop_.stop();
    }
  });

  control_ = std::make_unique<ControlServer>(cfg_.control_socket, *this, loop_);
  if (!cfg_.metrics_listen.empty()) {
    metrics_ = std::make_unique<MetricsExporter>(cfg_.metrics_listen, loop_,
                                                 [this] { return metrics_snapshot(); });
    spdlog::info("metrics: Prometheus exporter on http://{}/metrics", cfg_.metrics_listen);
  }
}

void Daemon::configure_tap(Network& n) {
  if (n.cfg.mac) n.tap.set_mac(*n.cfg.mac);
  for (const TapAddress& a : n.cfg.addresses) {
    if (!nl_.add_address(n.tap.ifindex(), a.ip, a.prefix)) {
      throw std::system_error(
          errno, std::generic_category(),
          "adding " + a.ip.to_string() + "/" + std::to_string(a.prefix) + " to " + n.tap.name());
    }
  }
}

nlohmann::json Daemon::metrics_snapshot() {
  nlohmann::json nets = nlohmann::json::array();
  for (const auto& n : dp_->networks()) {
    nets.push_back({{"name", n->cfg.name},
                    {"peers", n->fdb.peers().size()},
                    {"fdb_learned", n->fdb.learned_count()},
                    {"fdb_static", n->fdb.static_count()}});
  }
  // stats(), not stats_json(): the counters `sttctl stats -j` shows, the kernel path's and the
  // cluster's merged in, so the exporter and sttctl cannot disagree in either fast-path mode.
  return {{"stats", stats()}, {"networks", nets}, {"reassembly", reassembly_json(*dp_)}};
}

Daemon::~Daemon() {
  metrics_.reset();
  control_.reset();
  cluster_.reset();
  fast_.reset();  // programs detached while their TAPs still exist
  if (dp_) dp_->detach(loop_);
  dp_.reset();
  io_.reset();
  firewall_.reset();
}

void Daemon::run() {
  spdlog::info("ready: {} network(s) on underlay {} ({}, port {}), control socket {}",
               cfg_.networks.size(), cfg_.underlay_interface, cfg_.local.to_string(), cfg_.port,
               cfg_.control_socket);
  // The TAPs, the nftables table and the control socket exist (the constructor made
  // them): only now may a Type=notify unit count as started.
  notify_.ready(status_line());
  loop_.set_busy_poll(opt_.busy_poll_us);
  if (cluster_) {
    cluster_->start(loop_);
    spdlog::info("cluster: {} as {}, etcd {}", cfg_.cluster->prefix, cfg_.cluster->name,
                 cfg_.cluster->etcd.front());
  }
  // The watchdog is fed from the loop itself, so a loop that stops turning is caught.
  loop_.run(opt_.tick_ms, [this] {
    const std::uint64_t now = Dataplane::now_ns();
    dp_->tick(now);
    if (fast_) sync_fast_path(now);
    if (cluster_) cluster_->tick(now);
    notify_.tick(now);
  });
  // A clean stop: the lease is revoked, so every peer drops this host now, not after its TTL.
  if (cluster_) cluster_->stop(loop_);
}

std::string Daemon::status_line() const {
  return std::to_string(cfg_.networks.size()) + " network(s) on underlay " +
         cfg_.underlay_interface + " (" + cfg_.local.to_string() + ", port " +
         std::to_string(cfg_.port) + "), control socket " + cfg_.control_socket;
}

void Daemon::sync_fast_path(std::uint64_t now) {
  try {
    std::vector<FastPath::NetworkView> nets;
    for (const auto& n : dp_->networks()) {
      nets.push_back({n->cfg.context_id, n->tap.ifindex(), n->tap.mtu()});
    }
    fast_->sync_networks(nets);
    std::vector<FastPath::Peer> peers;
    for (const Peer* p : dp_->peers().sorted()) {
      peers.push_back({p->addr, p->resolved, p->tunnel.config().dst_mac});
    }
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
  if (ip->version() != cfg_.local.version()) {
    throw ControlRequestError("peer " + text + " is not of the underlay's address family (local " +
                              cfg_.local.to_string() + ")");
  }
  if (ip->is_multicast()) throw ControlRequestError("peer " + text + " is a multicast address");
  if (*ip == cfg_.local) throw ControlRequestError("peer " + text + " is the local address");
  return *ip;
}

nlohmann::json Daemon::show() {
  nlohmann::json underlay = underlay_json(*dp_);
  underlay["lro"] = lro_json(lro_);
  nlohmann::json out = {
      {"daemon",
       {{"version", core::version()},
        {"config", cfg_.path},
        {"uptime_s", (Dataplane::now_ns() - started_ns_) / 1'000'000'000ull},
        {"log_level", std::string(spdlog::level::to_string_view(spdlog::get_level()).data())}}},
      {"underlay", underlay},
      {"fast_path", fast_status_.json()},
      {"firewall", {{"table", "inet " + firewall_->table()}}},
      {"networks", networks_json(*dp_)},
      {"peers", peers_json(*dp_)}};
  // Frames for a context ID no network has: a context ID configured
  // differently on the sending host (also logged, rate-limited).
  if (const UnknownContextSeen& u = dp_->unknown_context(); u.any) {
    out["unknown_context"] = {{"dropped", dp_->counters().get(DpCounter::kRxDropUnknownContext)},
                              {"last_context_id", context_id_hex(u.context_id)},
                              {"last_from", u.from.to_string()}};
  }
  return out;
}

nlohmann::json Daemon::fdb_show(const std::string& network) {
  const Network* only = network.empty() ? nullptr : &network_arg(network);
  return fdb_json(*dp_, only, Dataplane::now_ns());
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
  // Without a peer, like `bridge fdb del`: the entry for the MAC, wherever it points.
  const std::optional<wire::IpAddr> ip =
      peer.empty() ? std::nullopt : std::optional<wire::IpAddr>(peer_arg(peer));
  wire::IpAddr was = ip.value_or(wire::IpAddr());
  const FdbResult r = ip ? n.fdb.del(*m, *ip) : n.fdb.del(*m, &was);
  const std::string what =
      "fdb del " + m->to_string() + " network " + network + (ip ? " peer " + peer : "");
  if (r != FdbResult::kOk) throw ControlRequestError(what + ": " + std::string(to_string(r)));
  spdlog::info("{}", what);
  return {{"mac", m->to_string()}, {"network", network}, {"peer", was.to_string()}};
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
  nlohmann::json out = stats_json(*dp_);
  if (cluster_) out["global"]["cluster"] = cluster_->counters_json();
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

nlohmann::json Daemon::cluster() {
  if (!cluster_) throw ControlRequestError("no [cluster] in " + cfg_.path);
  return cluster_->status_json();
}

nlohmann::json Daemon::reassembly() {
  return reassembly_json(*dp_);
}

nlohmann::json Daemon::log_level(const std::string& level) {
  if (!level.empty()) {
    const auto l = spdlog::level::from_str(level);
    // from_str maps any unknown word to "off": only the real name "off" may.
    if (l == spdlog::level::off && level != "off") {
      throw ControlRequestError("unknown log level \"" + level +
                                "\" (valid: trace, debug, info, warn, error, critical, off)");
    }
    const auto old = spdlog::get_level();
    spdlog::set_level(l);
    spdlog::info("log level {} -> {}", spdlog::level::to_string_view(old),
                 spdlog::level::to_string_view(l));
  }
  return {{"level", std::string(spdlog::level::to_string_view(spdlog::get_level()).data())}};
}

nlohmann::json Daemon::reload() {
  notify_.reloading("reloading " + cfg_.path);
  // READY=1 again however the reload ends: the running config (old, new or partly
  // applied) keeps serving.
  struct ReadyAgain {
    Daemon& d;
    ~ReadyAgain() {
      try {
        d.notify_.ready(d.status_line());
      } catch (...) {  // no memory for the status line: the manager keeps "reloading"
      }
    }
  } ready_again{*this};
  const ReloadPlan plan = plan_reload_file(cfg_, cfg_.path);
  if (plan.refused) {
    if (plan.invalid_config) {
      spdlog::error("reload refused, running config kept: {}", *plan.refused);
    } else {
      spdlog::error("reload refused: {}", *plan.refused);
    }
    throw ControlRequestError(*plan.refused);
  }
  nlohmann::json r = apply(plan);
  if (fast_) sync_fast_path(Dataplane::now_ns());
  return r;
}

nlohmann::json Daemon::apply(const ReloadPlan& plan) {
  FdbLimits limits;
  limits.ageing_ns = std::uint64_t{cfg_.fdb_ageing_s} * 1'000'000'000ull;
  nlohmann::json changes = nlohmann::json::array();
  std::vector<std::string> errors;
  auto note = [&](const std::string& what) {
    spdlog::info("reload: {}", what);
    changes.push_back(what);
  };
  auto entry_text = [](const StaticFdbEntry& e) {
    return "static FDB entry " + e.mac.to_string() + " -> " + e.peer.to_string();
  };
  // Entries added or removed with sttctl since the last load are left as
  // they are; only the config's own peers are taken away.
  constexpr PeerSources kNotCluster = static_cast<PeerSources>(PeerSource::kConfig) |
                                      static_cast<PeerSources>(PeerSource::kRuntime);

  for (const ReloadAction& a : plan.actions) {
    const std::string net = "network " + a.network;
    if (a.kind == ReloadAction::Kind::kCreateNetwork) {
      try {
        Network& n = dp_->add_network(a.config, limits);
        configure_tap(n);
        note(net + " added: context ID " + context_id_hex(a.config.context_id) + ", TAP " +
             n.tap.name() + " (MTU " + std::to_string(n.tap.mtu()) + "), " +
             std::to_string(a.config.peers.size()) + " peer(s)");
      } catch (const std::exception& e) {
        errors.push_back(net + ": " + e.what());
      }
      continue;
    }
    Network& n = *dp_->network(a.network);
    switch (a.kind) {
      case ReloadAction::Kind::kRemoveNetwork:
        dp_->remove_network(n);
        note(net + (a.recreate
                        ? " removed (context ID, TAP, address or MAC changed; recreated below)"
                        : " removed"));
        break;
      case ReloadAction::Kind::kSetMtu:
        try {
          n.tap.set_mtu(a.mtu);
          note(net + ": MTU " + std::to_string(a.old_mtu) + " -> " + std::to_string(a.mtu));
        } catch (const std::exception& e) {
          errors.push_back(net + ": " + e.what());
        }
        break;
      case ReloadAction::Kind::kRemoveStaticFdb:
        // One naming this host (a tenant of its own) is the directory's: networks_changed().
        if (a.entry.peer != cfg_.local) n.fdb.del(a.entry.mac, a.entry.peer);
        note(net + ": " + entry_text(a.entry) + " removed");
        break;
      case ReloadAction::Kind::kRemovePeer:
        dp_->remove_peer(n, a.peer, kNotCluster);
        note(net + ": peer " + a.peer.to_string() + " removed");
        break;
      case ReloadAction::Kind::kAddPeer:
        dp_->add_peer(n, a.peer, PeerSource::kConfig);
        note(net + ": peer " + a.peer.to_string() + " added");
        break;
      case ReloadAction::Kind::kAddStaticFdb: {
        const FdbResult r = a.entry.peer == cfg_.local ? FdbResult::kOk
                                                       : n.fdb.add_static(a.entry.mac, a.entry.peer);
        if (r == FdbResult::kOk) {
          note(net + ": " + entry_text(a.entry) + " added");
        } else {
          errors.push_back(net + ": " + entry_text(a.entry) + ": " + std::string(to_string(r)));
        }
        break;
      }
      case ReloadAction::Kind::kCreateNetwork:
        break;
    }
  }

  // What runs now is the new file, less what could not be applied.
  Config now = plan.next;
  now.networks.clear();
  for (const auto& n : dp_->networks()) {
    for (const auto& nc : plan.next.networks) {
      if (nc.name == n->cfg.name) n->cfg = nc;
    }
    now.networks.push_back(n->cfg);
  }
  cfg_ = std::move(now);
  // Networks added or removed: directory hosts become peers of the new ones, and this host
  // registers its new context IDs.
  if (cluster_) cluster_->networks_changed();

  if (!errors.empty()) {
    std::string msg = cfg_.path + ": reload applied in part; failed: ";
    for (std::size_t i = 0; i < errors.size(); ++i)
      msg += (i ? "; " : "") + errors[i];
    spdlog::error("{}", msg);
    throw ControlRequestError(msg);
  }
  spdlog::info("reload of {} done: {} change(s), {} network(s) unchanged", cfg_.path,
               changes.size(), plan.unchanged.size());
  return {{"changes", changes}, {"unchanged", plan.unchanged}};
}

}  // namespace stt::daemon
