#pragma once
// sttd's side of the etcd directory (docs/cluster.md): runs a cluster::Directory beside the
// event loop and applies what it hands over, on the loop's thread:
//   - believed hosts become peers (source `cluster`) of every network whose context ID they
//     serve, so flooding, admission and next hops treat them as configured peers;
//   - believed remote MACs become FDB entries of type `cluster`, and their snooped addresses
//     feed ARP/ND suppression;
//   - frames from the TAP side (local tenants) are tracked: new MACs and the addresses snooped
//     from their ARP and NS/NA are published, quiet ones withdrawn after fdb_ageing; an ARP
//     request or NS for a directory address is answered on the TAP and not sent.
// The data-path hook never waits on etcd, never throws, and allocates only when a new local
// MAC or address appears (bounded by kMaxLocalMacs).

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "cluster/directory.hpp"
#include "cluster/flat_map.hpp"
#include "cluster/ip_list.hpp"
#include "core/counters.hpp"
#include "daemon/config.hpp"
#include "daemon/dataplane.hpp"
#include "daemon/event_loop.hpp"
#include "daemon/packet_io.hpp"

namespace stt::daemon {

enum class AgentCounter : std::uint8_t {
  kArpSuppressed,     // ARP requests answered on the TAP, not sent
  kNdSuppressed,      // neighbour solicitations answered on the TAP, not sent
  kSuppressWriteErr,  // an answer the TAP refused (the request was then sent as usual)
  kSnooped,           // tenant addresses learned from ARP / NS / NA
  kLocalPublished,    // local MACs handed to the directory (new, or new addresses)
  kLocalWithdrawn,    // local MACs withdrawn after going quiet
  kLocalTableFull,    // local MACs not tracked: kMaxLocalMacs already held
  kHostIgnored,       // a directory host with this host's own address or another family
  kMacNoNetwork,      // a directory MAC for a context ID no local network has
  kMacFdbRefused,     // the FDB refused a directory MAC (full, or its host is not a peer)
  kCount
};
std::string_view counter_name(AgentCounter c);

class ClusterAgent final : public TapHook {
 public:
  static constexpr std::size_t kMaxLocalMacs = 16384;

  // Builds the Directory from cfg.cluster (reads password_file; throws std::runtime_error
  // naming the file when it cannot). Nothing runs before start().
  ClusterAgent(const Config& cfg, Dataplane& dp, PacketIo& io);
  ~ClusterAgent() override;

  void start(EventLoop& loop);
  // A clean stop: the lease is revoked so every peer drops this host at once.
  void stop(EventLoop& loop);
  // Timers: local MAC ageing. Cheap when nothing is due.
  void tick(std::uint64_t now_ns);

  // TapHook: a frame a local tenant sent on network n.
  bool on_tap_frame(Network& n, const std::uint8_t* frame, std::size_t len,
                    std::uint64_t now_ns) override;

  // After a reload added or removed networks: directory hosts become peers of the new
  // networks, and this host is registered again with its new context IDs.
  void networks_changed();

  // Applies the directory's changes (what on_changes() takes from the Directory; tests call it).
  void apply(const std::vector<cluster::Change>& changes);

  // `sttctl cluster`, and the counters for `sttctl stats`.
  nlohmann::json status_json() const;
  const core::CounterSet<AgentCounter>& counters() const { return counters_; }
  // The directory model's counters and this agent's, as one object of named counters.
  nlohmann::json counters_json() const;

 private:
  struct LocalMac {
    std::uint64_t last_seen_ns = 0;
    std::vector<wire::IpAddr> ips;
    bool pinned = false;  // a static FDB entry of the config naming this host: never aged
  };
  struct NeighKey {
    std::uint64_t ctx;
    wire::IpAddr ip;
    bool operator==(const NeighKey&) const = default;
  };
  struct NeighKeyHash {
    std::size_t operator()(const NeighKey& k) const noexcept {
      return wire::IpAddrHash{}(k.ip) ^ static_cast<std::size_t>(k.ctx * 0x9E3779B97F4A7C15ull);
    }
  };

  void on_changes();
  // Publishes the config's static FDB entries whose peer is this host (its own tenants), and
  // withdraws those no longer configured. At construction and after every reload.
  void sync_static();
  void host_up(const cluster::HostRecord& h);
  void host_down(const std::string& name);
  void mac_set(std::uint64_t ctx, const wire::MacAddr& mac, const cluster::MacView& v);
  void mac_removed(std::uint64_t ctx, const wire::MacAddr& mac);
  bool usable_peer(const wire::IpAddr& a) const;

  const Config& cfg_;
  Dataplane& dp_;
  PacketIo& io_;
  std::unique_ptr<cluster::Directory> dir_;
  EventLoop* loop_ = nullptr;
  std::vector<cluster::Change> changes_;  // reused
  bool burst_ = false;                    // a full read's chunks are being applied

  std::unordered_map<std::string, cluster::HostRecord> hosts_;  // applied as peers
  // Directory MACs in the FDBs, with the addresses that answer for them. Flat, values inline:
  // one of each per directory MAC (10^5 in a large directory).
  cluster::FlatMap<cluster::CtxMac, cluster::IpList, cluster::CtxMacHash> macs_;
  cluster::FlatMap<NeighKey, wire::MacAddr, NeighKeyHash> neigh_;  // suppression answers
  std::unordered_map<cluster::CtxMac, LocalMac, cluster::CtxMacHash> local_;
  std::uint64_t next_age_ns_ = 0;
  core::CounterSet<AgentCounter> counters_;
};

}  // namespace stt::daemon
