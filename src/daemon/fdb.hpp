#pragma once
// The per-network forwarding table of sttd: inner MAC -> remote endpoint
// (peer), like the FDB of a Linux VXLAN device.
//
// - Learned entries come from received frames (learn()); they age out
//   `ageing_ns` after they were last seen, and move when a MAC shows up
//   behind another peer.
// - Static entries come from the config and the CLI; they never age and
//   learning never overwrites them.
// - Cluster entries come from the etcd directory (docs/cluster.md); they
//   never age, learning never overwrites them, and a static entry for the
//   same MAC takes precedence. They live in a flat map of their own (open
//   addressing, the peer inline: no node per entry), since their number
//   follows the directory (bounded by [cluster] max_macs), not the fixed
//   table; adding one may allocate (growth), looking one up does not.
// - lookup() picks the transmit targets: a known unicast MAC gives its one
//   peer; broadcast, multicast and unknown unicast give every peer of the
//   network (the flood list).
//
// Memory follows use, up to a bound fixed at construction: an open-addressing
// table that starts at kMinSlots and doubles (rehashing) whenever it would
// become more than half full, up to the size for max_learned + max_static
// entries. A daemon serving many networks thus pays for the MACs it sees, not
// for the limits of every network. lookup() never allocates; learn() allocates
// only when the table doubles (at most log2(bound / kMinSlots) times in the
// life of a network, never per packet in steady state) and never throws: a
// failed growth refuses the MAC like a full table. Learning past max_learned
// is refused and counted, so spoofed source MACs cannot grow the table past
// its bound. Peer and static-entry changes (control plane) may allocate.
//
// Not thread-safe: the owner (one network of the daemon) serialises calls.

#include <cstddef>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <span>
#include <string_view>
#include <vector>

#include "cluster/flat_map.hpp"
#include "core/counters.hpp"
#include "wire/addr.hpp"

namespace stt::daemon {

enum class FdbCounter : std::uint8_t {
  kLearned,               // a new MAC was learned
  kMoved,                 // a learned MAC moved to another peer
  kAged,                  // learned entries removed by ageing
  kLearnTableFull,        // learning refused: max_learned entries already held
  kLearnStaticConflict,   // learning refused: a static entry names another peer
  kLearnClusterConflict,  // learning refused: a directory (cluster) entry names another peer
  kLearnInvalidSource,    // learning refused: multicast or all-zero source MAC
  kLearnNotPeer,          // learning refused: the sender is not a peer of the network
  kTxUnicast,             // lookups that found one peer
  kTxFloodUnknown,        // lookups of an unknown (or expired) unicast MAC: flooded
  kTxFloodMulticast,      // lookups of a broadcast or multicast MAC: flooded
  kCount
};
std::string_view counter_name(FdbCounter c);

struct FdbLimits {
  std::size_t max_learned = 4096;                // cap on learned entries per network
  std::size_t max_static = 1024;                 // cap on static entries per network
  std::size_t max_cluster = 1u << 20;            // cap on directory entries per network
  std::uint64_t ageing_ns = 300'000'000'000ull;  // 300 s, like the bridge and VXLAN
};

enum class FdbResult : std::uint8_t {
  kOk,
  kExists,       // add: a static entry for this MAC already exists
  kNotFound,     // del: no entry for this MAC with this peer
  kUnknownPeer,  // the peer is not a peer of this network
  kInvalidMac,   // multicast or all-zero MAC cannot be an FDB entry
  kFull,         // max_static static entries already held
};
std::string_view to_string(FdbResult r);

class Fdb {
 public:
  explicit Fdb(FdbLimits limits = {});

  // --- Peers (control plane). The peers are the flood list.
  bool add_peer(const wire::IpAddr& peer);     // false if already a peer
  bool remove_peer(const wire::IpAddr& peer);  // false if not a peer; drops its entries
  // Runs for every received frame (admission and learn()): the usual few
  // peers are scanned inline, comparing words; many go to a binary search.
  bool has_peer(const wire::IpAddr& peer) const {
    if (peers_.size() > kScanPeers) return has_peer_sorted(peer);
    for (const wire::IpAddr& p : peers_) {
      if (p == peer) return true;
    }
    return false;
  }
  std::span<const wire::IpAddr> peers() const { return peers_; }

  // --- Static entries (control plane). A static add replaces a learned
  // entry for the same MAC. del removes the entry (static or learned) for
  // `mac` only if it points at `peer`, like `bridge fdb del ... dst IP`.
  FdbResult add_static(const wire::MacAddr& mac, const wire::IpAddr& peer);
  FdbResult del(const wire::MacAddr& mac, const wire::IpAddr& peer);
  // Removes the entry for `mac` whatever its peer, like `bridge fdb del`
  // without dst; *was gets the peer it pointed at.
  FdbResult del(const wire::MacAddr& mac, wire::IpAddr* was);
  // --- Cluster entries (the directory, control plane). add replaces the
  // cluster entry for `mac` and drops a learned one; del_cluster is false
  // when there was none.
  FdbResult add_cluster(const wire::MacAddr& mac, const wire::IpAddr& peer);
  bool del_cluster(const wire::MacAddr& mac);

  // --- Data path: never allocates, never throws.
  // Called for each frame received from `peer` with inner source `src`.
  void learn(const wire::MacAddr& src, const wire::IpAddr& peer, std::uint64_t now_ns);
  // Transmit targets for inner destination `dst`: one peer, or the flood
  // list (possibly empty). The span is valid until the next non-const call.
  std::span<const wire::IpAddr> lookup(const wire::MacAddr& dst, std::uint64_t now_ns);
  // Removes learned entries not seen for ageing_ns; call it from a timer
  // (every second is plenty: lookup() already ignores expired entries).
  // Cost: one pass over the table.
  void age(std::uint64_t now_ns);

  std::size_t learned_count() const { return learned_; }
  std::size_t static_count() const { return static_; }
  std::size_t cluster_count() const { return cluster_.size(); }
  // Slots of the table now (it grows with the entries, up to its bound).
  std::size_t capacity() const { return slots_.size(); }
  const FdbLimits& limits() const { return limits_; }
  const core::CounterSet<FdbCounter>& counters() const { return counters_; }

  // Appends one object per entry to `out` (a JSON array):
  // {"network": N, "mac": "02:..", "peer": "10.0.0.2", "type": "static"|"cluster"|"learned",
  //  "age_s": seconds since last seen (learned only)}. Sorted by MAC.
  void append_json(nlohmann::json& out, std::string_view network, std::uint64_t now_ns) const;
  // Calls f(mac, peer) for every live entry (static, or learned and not expired): the
  // control plane mirrors the table into the kernel fast path's map.
  template <typename F>
  void for_each(std::uint64_t now_ns, F&& f) const {
    for (const Slot& s : slots_) {
      if (s.used && !expired(s, now_ns)) f(s.mac, s.peer);
    }
  }

 private:
  struct Slot {
    wire::IpAddr peer;
    std::uint64_t last_seen_ns = 0;
    wire::MacAddr mac;
    bool used = false;
    bool is_static = false;
    bool is_cluster = false;  // only in append_json's copies of cluster entries
  };

  // Up to this many peers, has_peer() scans the flood list: equality over the
  // words beats the ordered byte comparisons of a binary search.
  static constexpr std::size_t kScanPeers = 8;
  bool has_peer_sorted(const wire::IpAddr& peer) const;
  // The smallest table, and the load past which it doubles (one half).
  static constexpr std::size_t kMinSlots = 16;
  // Room for one more entry: doubles the table when needed and allowed.
  // false when the table cannot grow (allocation failed); never throws.
  bool reserve_one() noexcept;
  std::size_t home(const wire::MacAddr& mac) const;
  Slot* find(const wire::MacAddr& mac);
  const Slot* find(const wire::MacAddr& mac) const;
  // The directory's entry for mac, or nullptr. Out of line: inlined, its
  // probe loop made lookup() and learn() save and restore six registers on
  // every frame, with or without a directory.
  [[gnu::noinline]] const wire::IpAddr* cluster_peer(const wire::MacAddr& mac) const;
  Slot* insert_slot(const wire::MacAddr& mac);  // an unused slot on mac's probe path
  void erase(Slot* s);                          // backward-shift deletion
  bool expired(const Slot& s, std::uint64_t now_ns) const;

  FdbLimits limits_;
  std::vector<Slot> slots_;  // power-of-two size, at most half full
  std::size_t mask_ = 0;
  std::size_t max_slots_ = 0;  // the size for max_learned + max_static entries
  std::size_t learned_ = 0;
  std::size_t static_ = 0;
  std::vector<wire::IpAddr> peers_;         // the flood list, in the order peers came
  std::vector<wire::IpAddr> peers_sorted_;  // the same, sorted: has_peer() in log time
  cluster::FlatMap<wire::MacAddr, wire::IpAddr, wire::MacAddrHash> cluster_;
  core::CounterSet<FdbCounter> counters_;
};

}  // namespace stt::daemon
