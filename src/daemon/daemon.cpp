#include "daemon/daemon.hpp"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <cerrno>
#include <cstdio>
#include <system_error>

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

}  // namespace

void Daemon::block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
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
  dp_ = std::make_unique<Dataplane>(dpo, nl_);
  FdbLimits limits;
  limits.ageing_ns = std::uint64_t{cfg_.fdb_ageing_s} * 1'000'000'000ull;
  for (const auto& n : cfg_.networks) {
    Network& net = dp_->add_network(n, limits);
    spdlog::info("network {}: context ID {}, TAP {} (MTU {}), {} peer(s)", n.name,
                 hex(n.context_id), net.tap.name(), net.tap.mtu(), n.peers.size());
  }
  dp_->attach(loop_);

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  signal_fd_.reset(signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!signal_fd_.valid()) throw std::system_error(errno, std::generic_category(), "signalfd");
  loop_.add(signal_fd_.get(), [this](std::uint32_t) {
    signalfd_siginfo si;
    while (read(signal_fd_.get(), &si, sizeof si) == sizeof si) {
      spdlog::info("signal {} received, stopping", si.ssi_signo);
      loop_.stop();
    }
  });

  control_ = std::make_unique<ControlServer>(cfg_.control_socket, *this, loop_);
}

Daemon::~Daemon() {
  control_.reset();
  if (dp_) dp_->detach(loop_);
  dp_.reset();
  firewall_.reset();
}

void Daemon::run() {
  spdlog::info("ready: {} network(s) on underlay {} ({}, port {}), control socket {}",
               cfg_.networks.size(), cfg_.underlay_interface, cfg_.local.to_string(), cfg_.port,
               cfg_.control_socket);
  loop_.run(opt_.tick_ms, [this] { dp_->tick(Dataplane::now_ns()); });
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
  return {{"underlay", dp_->underlay_json()},
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
  return dp_->stats_json();
}

nlohmann::json Daemon::reassembly() {
  return dp_->reassembly_json();
}

nlohmann::json Daemon::reload() {
  throw ControlRequestError("reload is not supported yet: restart sttd to apply a new config");
}

}  // namespace stt::daemon
