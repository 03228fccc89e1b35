#pragma once
// The sttd daemon: builds everything from a validated Config (the nftables
// guard, the underlay socket, one TAP per network, the control socket),
// runs the event loop until SIGTERM/SIGINT, and takes it all down again in
// reverse order. It is also the control socket's handler. SIGHUP and
// `sttctl reload` re-read the config file and apply what changed (see
// reload()).

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "core/encap.hpp"
#include "daemon/cluster_agent.hpp"
#include "daemon/config.hpp"
#include "daemon/control.hpp"
#include "daemon/dataplane.hpp"
#include "daemon/event_loop.hpp"
#include "daemon/fast_path.hpp"
#include "daemon/lro.hpp"
#include "daemon/metrics.hpp"
#include "daemon/packet_io.hpp"
#include "daemon/peer_table.hpp"
#include "daemon/reload.hpp"
#include "linux/fd.hpp"
#include "linux/firewall.hpp"
#include "linux/netlink.hpp"
#include "linux/service_notify.hpp"

namespace stt::daemon {

struct DaemonOptions {
  core::TxForm tx_form = core::TxForm::kGso;
  int tick_ms = 25;           // upper bound between timer checks
  unsigned busy_poll_us = 0;  // EventLoop::set_busy_poll
};

class Daemon : public ControlHandler {
 public:
  // Creates everything; throws std::runtime_error / std::system_error with
  // a message naming the interface, file or rule that failed. Whatever was
  // created before the failure is removed again. SIGTERM and SIGINT must
  // already be blocked in the calling thread (see block_stop_signals()).
  Daemon(const Config& cfg, const DaemonOptions& opt);
  ~Daemon() override;

  // Runs until SIGTERM/SIGINT or stop().
  void run();
  void stop() { loop_.stop(); }
  EventLoop& loop() { return loop_; }
  Dataplane& dataplane() { return *dp_; }

  // Blocks SIGTERM, SIGINT and SIGHUP so the daemon receives them on its
  // signalfd; call before any thread is created.
  static void block_stop_signals();

  // ControlHandler
  nlohmann::json show() override;
  nlohmann::json fdb_show(const std::string& network) override;
  nlohmann::json fdb_add(const std::string& mac, const std::string& network,
                         const std::string& peer) override;
  nlohmann::json fdb_del(const std::string& mac, const std::string& network,
                         const std::string& peer) override;
  nlohmann::json peer_add(const std::string& peer, const std::string& network) override;
  nlohmann::json peer_del(const std::string& peer, const std::string& network) override;
  nlohmann::json stats() override;
  nlohmann::json reassembly() override;
  // Re-reads cfg.path and applies the difference to the running daemon:
  // networks added, removed or recreated (context ID or TAP name changed),
  // and on the others MTU, peers and static FDB entries, each compared with
  // the previous config. A network whose settings did not change is not
  // touched: its TAP fd stays open and its learned FDB entries stay. An
  // invalid file, or a change of underlay/control settings (which need a
  // restart), changes nothing and throws ControlRequestError with a
  // one-line message, also logged.
  nlohmann::json reload() override;
  nlohmann::json log_level(const std::string& level) override;
  // `sttctl cluster`: the etcd directory's state; an error without [cluster].
  nlohmann::json cluster() override;

 private:
  // Executes a plan_reload() plan that was not refused.
  nlohmann::json apply(const ReloadPlan& plan);
  std::string status_line() const;  // the STATUS= line the service manager shows
  // Brings the kernel fast path's maps up to date with the networks, peers and FDBs, and
  // learns the MACs its receive program saw. Control side of the loop (tick, reload).
  void sync_fast_path(std::uint64_t now_ns);

  // [[network]] mac and address, on a TAP just created (start or reload).
  void configure_tap(Network& n);
  // What the metrics exporter serves, taken on the event loop: stats() (what `sttctl stats -j`
  // shows) and the gauges.
  nlohmann::json metrics_snapshot();

  Network& network_arg(const std::string& name);
  wire::IpAddr peer_arg(const std::string& text) const;

  Config cfg_;
  DaemonOptions opt_;
  std::uint64_t started_ns_;  // for `show`'s uptime
  LroReport lro_;             // the underlay's LRO as the startup check found and left it
  EventLoop loop_;
  sys::Netlink nl_;
  // Destroyed in reverse: control socket, then TAPs, then the underlay
  // socket, then the firewall rule.
  std::unique_ptr<sys::FirewallRule> firewall_;
  std::unique_ptr<LinuxPacketIo> io_;
  std::unique_ptr<NetlinkNextHops> next_hops_;
  std::unique_ptr<Dataplane> dp_;
  FastPathStatus fast_status_;
  std::unique_ptr<FastPath> fast_;  // null when the fast path is off
  std::uint64_t next_fdb_sync_ns_ = 0;
  std::unique_ptr<ClusterAgent> cluster_;  // with [cluster]; goes before the Dataplane
  std::unique_ptr<ControlServer> control_;
  std::unique_ptr<MetricsExporter> metrics_;
  sys::UniqueFd signal_fd_;
  sys::ServiceNotifier notify_;  // sd_notify: READY/RELOADING/STOPPING, the watchdog
};

}  // namespace stt::daemon
