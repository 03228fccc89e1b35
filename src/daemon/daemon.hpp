#pragma once
// The sttd daemon: builds everything from a validated Config (the nftables
// guard, the underlay socket, one TAP per network, the control socket),
// runs the event loop until SIGTERM/SIGINT, and takes it all down again in
// reverse order. It is also the control socket's handler.

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "core/encap.hpp"
#include "daemon/config.hpp"
#include "daemon/control.hpp"
#include "daemon/dataplane.hpp"
#include "daemon/event_loop.hpp"
#include "linux/fd.hpp"
#include "linux/firewall.hpp"
#include "linux/netlink.hpp"

namespace stt::daemon {

struct DaemonOptions {
  core::TxForm tx_form = core::TxForm::kGso;
  int tick_ms = 25;  // upper bound between timer checks
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

  // Blocks SIGTERM and SIGINT so the daemon receives them on its signalfd;
  // call before any thread is created.
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
  nlohmann::json reload() override;

 private:
  Network& network_arg(const std::string& name);
  wire::IpAddr peer_arg(const std::string& text) const;

  Config cfg_;
  DaemonOptions opt_;
  EventLoop loop_;
  sys::Netlink nl_;
  // Destroyed in reverse: control socket, then TAPs and underlay socket,
  // then the firewall rule.
  std::unique_ptr<sys::FirewallRule> firewall_;
  std::unique_ptr<Dataplane> dp_;
  std::unique_ptr<ControlServer> control_;
  sys::UniqueFd signal_fd_;
};

}  // namespace stt::daemon
