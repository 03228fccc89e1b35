#pragma once
// sttd's peers: the remote endpoints the networks send to and accept from.
//
// One Peer per address, however many networks list it, so one Tunnel (one
// packet-ID sequence) and one next-hop resolution serve them all. Each
// network that lists a peer holds a reference with the sources it came
// from (the config file, the cluster directory, the CLI); the peer goes
// when the last reference does.
//
// Next-hop resolution runs on the tick, never per packet: route lookup,
// then the neighbour entry of the next hop, asking the kernel to resolve
// it when there is none. The rtnetlink queries go through NextHopSource so
// tests can answer them. Frames for a peer whose next hop is not resolved
// wait in the peer's pending queue (bounded per peer and in total, and in
// time); whatever leaves a queue without being sent is reported through
// the `dropped` callback so the caller counts it.
//
// Not thread-safe: the event loop's thread calls it. Another thread (the
// fleet directory) hands changes to that thread, which applies them here.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/buffer.hpp"
#include "core/encap.hpp"
#include "linux/netlink.hpp"
#include "wire/addr.hpp"

namespace stt::daemon {

struct Network;

// Where a peer of a network came from; a peer may have several.
enum class PeerSource : std::uint8_t {
  kConfig = 1,   // the network's `peers` in the config file
  kCluster = 2,  // the fleet directory
  kRuntime = 4,  // `sttctl peer add`
};
using PeerSources = std::uint8_t;  // a set of PeerSource bits
inline constexpr PeerSources kAllPeerSources = 7;
std::string_view to_string(PeerSource s);
// "config", "config,runtime", ...: the set in the order above.
std::vector<std::string_view> source_names(PeerSources s);

// The rtnetlink queries of next-hop resolution.
class NextHopSource {
 public:
  virtual ~NextHopSource() = default;
  virtual std::optional<sys::RouteInfo> route(const wire::IpAddr& dst) = 0;
  virtual std::optional<sys::NeighInfo> neighbour(int ifindex, const wire::IpAddr& addr) = 0;
  // Asks the kernel to resolve addr (ARP/ND); false when it refused.
  virtual bool resolve(int ifindex, const wire::IpAddr& addr) = 0;
};

// The kernel's answers.
class NetlinkNextHops final : public NextHopSource {
 public:
  explicit NetlinkNextHops(sys::Netlink& nl) : nl_(nl) {}
  std::optional<sys::RouteInfo> route(const wire::IpAddr& dst) override { return nl_.route(dst); }
  std::optional<sys::NeighInfo> neighbour(int ifindex, const wire::IpAddr& addr) override {
    return nl_.neighbour(ifindex, addr);
  }
  bool resolve(int ifindex, const wire::IpAddr& addr) override {
    return nl_.resolve(ifindex, addr);
  }

 private:
  sys::Netlink& nl_;
};

// Every peer is on-link through `ifindex` with a permanent neighbour entry
// `mac` (in-memory I/O: benchmarks and tests).
class StaticNextHops final : public NextHopSource {
 public:
  StaticNextHops(int ifindex, const wire::MacAddr& mac) : ifindex_(ifindex), mac_(mac) {}
  std::optional<sys::RouteInfo> route(const wire::IpAddr&) override;
  std::optional<sys::NeighInfo> neighbour(int, const wire::IpAddr&) override;
  bool resolve(int, const wire::IpAddr&) override { return true; }

 private:
  int ifindex_;
  wire::MacAddr mac_;
};

// What every peer gets, whoever created it (DataplaneOptions::peers).
struct PeerPolicy {
  // Outer DSCP and ECN of every tunnel (RFC 2983 model, RFC 6040 mode).
  core::DscpMode dscp_mode = core::DscpMode::kUniform;
  std::uint8_t pipe_dscp = 0;
  core::EcnMode ecn_mode = core::EcnMode::kNormal;
  std::size_t pending_per_peer = 16;  // frames held per unresolved peer
  std::size_t pending_total = 64;     // buffers for all of them
  std::uint64_t pending_timeout_ns = 3'000'000'000;
};

struct PeerTableOptions {
  std::string underlay;  // interface name, for status messages
  int underlay_ifindex = 0;
  wire::MacAddr underlay_mac;
  std::uint32_t underlay_mtu = 1500;
  wire::IpAddr local;
  std::uint16_t port = wire::kSttPort;
  PeerPolicy policy;
};

// A frame waiting for its peer's next hop.
struct Pending {
  core::PacketBuffer* buf;
  core::OffloadInfo vnet;
  Network* net;
  std::uint64_t since_ns;
};

struct Peer {
  Peer(const core::TunnelConfig& cfg, std::uint32_t id) : tunnel(cfg, id) {}
  struct Ref {
    const Network* net;
    PeerSources sources;
  };
  wire::IpAddr addr;
  core::Tunnel tunnel;
  std::vector<Ref> refs;  // the networks that list this peer
  bool resolved = false;
  std::string status = "resolving";
  wire::IpAddr next_hop;
  std::string neigh_state;
  std::uint64_t next_check_ns = 0;
  std::uint64_t next_solicit_ns = 0;
  std::vector<Pending> pending;  // capacity reserved once

  PeerSources sources() const;                  // the union over the networks
  PeerSources sources(const Network* n) const;  // 0: n does not list it
};

class PeerTable {
 public:
  // Called when a resolved peer has pending frames: send them, then call
  // release_pending(). Called from tick().
  using ReadyFn = std::function<void(Peer&)>;
  // Called once for each queued frame that is dropped (overflow, timeout,
  // peer or network removed), with the network it was queued for.
  using DroppedFn = std::function<void(Network*)>;

  PeerTable(const PeerTableOptions& opt, NextHopSource& next_hops, ReadyFn ready,
            DroppedFn dropped);
  PeerTable(const PeerTable&) = delete;
  PeerTable& operator=(const PeerTable&) = delete;

  Peer* find(const wire::IpAddr& a) {
    auto it = peers_.find(a);
    return it == peers_.end() ? nullptr : it->second.get();
  }
  // Admission's first question: is `a` a peer of any network?
  bool contains(const wire::IpAddr& a) const { return peers_.count(a) != 0; }
  std::size_t size() const { return peers_.size(); }
  // The peers sorted by address (reports).
  std::vector<const Peer*> sorted() const;

  // Network n lists `a` (from `sources`). A new peer's next hop is looked
  // up (and asked for) at once. Adding a source to an existing reference
  // only records it.
  Peer& ref(const Network& n, const wire::IpAddr& a, PeerSources sources, std::uint64_t now);
  // Takes `sources` off n's reference to `a` and returns the sources left.
  // When none is left, n no longer lists `a`: n's frames queued for it are
  // dropped, and the peer goes with its last reference (its queue with it).
  PeerSources unref(const Network& n, const wire::IpAddr& a, PeerSources sources = kAllPeerSources);

  // Queues a copy of `frame` for the unresolved peer p. False (nothing
  // queued, the caller counts the drop) when p's queue or the pool is full.
  bool enqueue(Network& n, Peer& p, const core::PacketBuffer& frame, const core::OffloadInfo& vnet,
               std::uint64_t now);
  // After ReadyFn sent p.pending: gives the buffers back, empties the queue.
  void release_pending(Peer& p);

  // Next-hop checks that are due and the pending queues' timeout.
  void tick(std::uint64_t now);

  const PeerTableOptions& options() const { return opt_; }

 private:
  void check(Peer& p, std::uint64_t now);
  // Drops the frames of p's queue for which `drop` says so.
  template <typename Pred>
  void drop_pending_if(Peer& p, Pred drop);

  PeerTableOptions opt_;
  NextHopSource& next_hops_;
  ReadyFn ready_;
  DroppedFn dropped_;
  core::BufferPool pool_;
  std::unordered_map<wire::IpAddr, std::unique_ptr<Peer>, wire::IpAddrHash> peers_;
};

}  // namespace stt::daemon
