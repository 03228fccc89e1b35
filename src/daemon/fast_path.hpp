#pragma once
// sttd's side of the kernel fast path (docs/design.md, "The kernel fast path"): decides the
// mode at start-up (`[underlay] fast_path`), and keeps the programs' maps equal to sttd's
// own state (networks and their TAPs, peers and next hops, admission, FDB), reading back the
// MACs the receive program learned and its counters.
//
// The maps are brought up to date by diffing against what was written last: the daemon
// hands in its current state on the control side of the loop (start-up, reload, the tick),
// so nothing here runs per packet and the data path needs no hooks.
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "daemon/config.hpp"
#include "linux/bpf_fastpath.hpp"
#include "wire/addr.hpp"

namespace stt::daemon {

// What runs and why, for the log and `sttctl show`.
struct FastPathStatus {
  FastPathSetting configured = FastPathSetting::kAuto;
  bool active = false;
  std::string reason;
  nlohmann::json json() const;  // {"mode": "bpf"|"off", "configured": ..., "reason": ...}
};

struct FastPathSettings {
  FastPathSetting mode = FastPathSetting::kAuto;
  int underlay_ifindex = 0;
  std::string underlay_name;
  wire::IpAddr local;
  std::uint16_t port = 7471;
  std::uint32_t underlay_mtu = 1500;
  wire::MacAddr underlay_mac;
  bool dscp_uniform = true;
  std::uint8_t pipe_dscp = 0;
  bool ecn_normal = true;
  bool tx = true;  // false: frames from the TAPs all go to sttd (sttd --tx-form segmented)
};

class FastPath {
 public:
  // off: removes a filter a killed instance on this port left, returns nullptr.
  // bpf: checks the underlay is IPv4, runs the self-test, loads and attaches; any failure
  //      throws std::runtime_error (sttd exits 1: the operator asked for it).
  // auto: as bpf, but a failure returns nullptr with the reason in *status.
  static std::unique_ptr<FastPath> start(const FastPathSettings& s, FastPathStatus* status);

  struct NetworkView {
    std::uint64_t context_id;
    int tap_ifindex;
    std::uint32_t tap_mtu;
  };
  // The running networks: a new one gets a counter slot, its context and the TAP's egress
  // program; a gone one (or one whose TAP changed) loses them; an MTU change is written.
  void sync_networks(std::span<const NetworkView> nets);

  struct Peer {
    wire::IpAddr addr;
    bool resolved = false;
    wire::MacAddr next_hop;
  };
  // Every peer of any network, with its next hop (IPv4 only; others are ignored).
  void sync_peers(std::span<const Peer> peers);
  // The peers of one network (admission of received frames).
  void sync_network_peers(std::uint64_t context_id, std::span<const wire::IpAddr> peers);
  struct FdbEntry {
    wire::MacAddr mac;
    wire::IpAddr peer;
  };
  // The known-unicast entries of one network (static and learned, not expired).
  void sync_fdb(std::uint64_t context_id, std::span<const FdbEntry> entries);

  // Calls learn(context_id, mac, peer) for each MAC the receive program saw since the last
  // call.
  void poll_learned(
      const std::function<void(std::uint64_t, const wire::MacAddr&, const wire::IpAddr&)>& learn);

  // Counters of one network (or the global row with context_id unset), by sys names.
  sys::BpfCounters counters(std::optional<std::uint64_t> context_id) const;

 private:
  explicit FastPath(const sys::BpfFastPathConfig& c) : bpf_(c), underlay_mtu_(c.underlay_mtu) {}
  std::uint32_t slot_of(std::uint64_t context_id) const;
  void add_network(const NetworkView& v);
  void remove_network(std::uint64_t context_id);
  void warn_if_tap_mtu_splits_flows(const NetworkView& v) const;

  sys::BpfFastPath bpf_;
  std::uint32_t underlay_mtu_;
  struct Net {
    std::uint32_t slot;
    int tap_ifindex;
    std::uint32_t tap_mtu;
    std::vector<std::uint32_t> peers;                      // be addresses, as written
    std::unordered_map<std::uint64_t, std::uint32_t> fdb;  // MAC as u64 -> peer (be)
  };
  std::unordered_map<std::uint64_t, Net> nets_;
  std::vector<bool> slot_used_ = std::vector<bool>(STT_BPF_MAX_NETWORKS, false);
  std::unordered_map<std::uint32_t, Peer> peers_;  // be address -> as written
  std::uint64_t learned_since_ns_ = 0;
};

}  // namespace stt::daemon
