#pragma once
// The reload planner: what a running sttd must do to go from the config it
// runs to a new one, as a list of actions, computed without touching
// anything (Daemon::apply executes them). docs/design.md, "Reload".
//
// - A change of a setting that needs a restart (underlay, firewall,
//   control socket, FDB ageing, DSCP/ECN, LRO) refuses the whole reload.
// - Networks gone from the file, or whose identity (context ID, TAP name)
//   changed, are removed first, so their TAP names and IDs are free.
// - Networks that stay get, in this order: MTU, static FDB entries
//   removed, peers removed, peers added, static FDB entries added, each
//   against the previous config (what sttctl changed since is left alone).
//   One with none of these is unchanged: its TAP fd and learned entries
//   stay.
// - New and recreated networks are created last, in the file's order.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "daemon/config.hpp"

namespace stt::daemon {

struct ReloadAction {
  enum class Kind : std::uint8_t {
    kRemoveNetwork,  // `network`; `recreate`: it comes back (kCreateNetwork below)
    kSetMtu,         // `network`: old_mtu -> mtu
    kRemoveStaticFdb,
    kRemovePeer,
    kAddPeer,
    kAddStaticFdb,
    kCreateNetwork,  // `config`
  };
  ReloadAction(Kind k, std::string net) : kind(k), network(std::move(net)) {}
  Kind kind;
  std::string network;
  bool recreate = false;
  std::uint32_t old_mtu = 0;
  std::uint32_t mtu = 0;
  wire::IpAddr peer;
  StaticFdbEntry entry;
  NetworkConfig config;
};

struct ReloadPlan {
  // Set when nothing may change: "FILE: KEY: changed from A to B; restart
  // required (running config kept)", or the new file's ConfigError
  // (invalid_config).
  std::optional<std::string> refused;
  bool invalid_config = false;
  std::vector<ReloadAction> actions;
  std::vector<std::string> unchanged;  // networks that stay as they are
  Config next;                         // the new config the actions lead to
};

// `old` is the config the daemon runs (its networks in the daemon's order).
ReloadPlan plan_reload(const Config& old, const Config& next);
// Loads `path` first: an invalid file refuses the reload with the
// ConfigError's one-line message.
ReloadPlan plan_reload_file(const Config& old, const std::string& path);

// The first setting a running daemon cannot take over without a restart,
// as "KEY: changed from A to B".
std::optional<std::string> needs_restart(const Config& a, const Config& b);

}  // namespace stt::daemon
