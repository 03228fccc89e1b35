#pragma once
// The directory model: the etcd key layout and value encoding of docs/cluster.md, the rules a
// reader applies before it believes an entry, and the bounded store those rules run over.
// Pure code: no I/O, no threads. The Directory thread feeds it etcd's key-values and events and
// hands the resulting Changes to sttd's loop.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cluster/flat_map.hpp"
#include "cluster/ip_list.hpp"
#include "core/counters.hpp"
#include "wire/addr.hpp"

namespace stt::cluster {

// Memory bounds; anything past them is counted (kOverLimit) and skipped.
struct Limits {
  std::size_t max_hosts = 4096;
  std::size_t max_macs = 262144;  // macs/ entries of all hosts together, and as many claims
  std::size_t max_value_bytes = 16384;
  std::size_t max_ips = 16;  // snooped addresses per MAC
};

// hosts/<name>
struct HostRecord {
  std::string name;
  wire::IpAddr address;
  std::uint16_t port = 7471;
  std::vector<std::uint64_t> contexts;  // sorted, unique
  bool operator==(const HostRecord&) const = default;
};

// macs/<host>/<ctx>/<mac>
struct MacRecord {
  wire::MacAddr mac;
  std::uint64_t context_id = 0;
  wire::IpAddr address;
  std::vector<wire::IpAddr> ips;
  std::uint64_t seq = 0;
  bool operator==(const MacRecord&) const = default;
};

// claims/<ctx>/<mac>
struct ClaimRecord {
  std::string host;
  std::uint64_t seq = 0;
  bool operator==(const ClaimRecord&) const = default;
};

// ---- key layout ----
enum class KeyKind : std::uint8_t { kHost, kMac, kClaim };
struct ParsedKey {
  KeyKind kind;
  std::string host;              // kHost, kMac
  std::uint64_t context_id = 0;  // kMac, kClaim
  wire::MacAddr mac;             // kMac, kClaim
};
// nullopt for a key outside the layout (counted kUnknownKey by the model).
std::optional<ParsedKey> parse_key(std::string_view prefix, std::string_view key);
std::string host_key(std::string_view prefix, std::string_view name);
std::string mac_key(std::string_view prefix, std::string_view host, std::uint64_t ctx,
                    const wire::MacAddr& mac);
// The prefix of all of one host's MAC keys ("PREFIX/macs/<host>/").
std::string host_macs_prefix(std::string_view prefix, std::string_view host);
std::string claim_key(std::string_view prefix, std::uint64_t ctx, const wire::MacAddr& mac);

// 1..64 of [A-Za-z0-9._-], not "." or "..".
bool valid_host_name(std::string_view name);
std::string context_text(std::uint64_t ctx);  // "0x%016x"

// ---- values ----
std::string encode_host(const HostRecord& h);
std::string encode_mac(const MacRecord& m);
std::string encode_claim(const ClaimRecord& c);
// nullopt when the value is not well-formed per docs/cluster.md (or has more than max_ips).
std::optional<HostRecord> decode_host(std::string_view value);
std::optional<MacRecord> decode_mac(std::string_view value, std::size_t max_ips);
std::optional<ClaimRecord> decode_claim(std::string_view value);

// ---- counters ----
enum class ClusterCounter : std::uint8_t {
  kMalformed,      // value not JSON or not the schema
  kOversized,      // value longer than max_value_bytes
  kRefused,        // names another host, another address, or a context its host does not serve
  kOverLimit,      // would grow the model past max_hosts / max_macs
  kUnknownKey,     // a key under the prefix outside the layout
  kEventsApplied,  // puts and deletes applied (reads and watch events)
  kResyncs,        // full reads reconciled
  kCount
};
std::string_view counter_name(ClusterCounter c);
using ClusterCounters = core::CounterSet<ClusterCounter>;

// ---- what the loop is told ----
struct CtxMac {
  std::uint64_t ctx = 0;
  std::uint64_t mac = 0;  // MacAddr::as_u64()
  bool operator==(const CtxMac&) const = default;
  auto operator<=>(const CtxMac&) const = default;
};
// noexcept, so std::unordered_map does not store each node's hash beside it (8 bytes a node,
// 10^5 nodes per table in a large directory).
struct CtxMacHash {
  std::size_t operator()(const CtxMac& k) const noexcept {
    return static_cast<std::size_t>((k.ctx * 0x9E3779B97F4A7C15ull) ^
                                    (k.mac * 0xC2B2AE3D27D4EB4Full));
  }
};
wire::MacAddr mac_from_u64(std::uint64_t v);

// A believed remote MAC.
struct MacView {
  std::string host;
  wire::IpAddr address;  // the host's underlay address: the FDB entry's peer
  IpList ips;            // inline: a change in flight allocates nothing of its own
  std::uint64_t seq = 0;
  bool operator==(const MacView&) const = default;
};

struct Change {
  enum class Kind : std::uint8_t {
    kHostUp,      // new or changed believed host (host)
    kHostDown,    // host no longer believed (host.name)
    kMacSet,      // new or changed believed remote MAC (ctx, mac, view)
    kMacRemoved,  // no longer believed remotely (ctx, mac)
  };
  Kind kind;
  HostRecord host;
  std::uint64_t ctx = 0;
  wire::MacAddr mac;
  MacView view;
};

// The model. Stores the raw (well-formed, in-bounds) entries of the directory and the view the
// loop was last handed; flush() re-judges what changed and appends the differences.
class DirectoryModel {
 public:
  DirectoryModel(std::string prefix, std::string self_name, Limits limits);

  // A key-value from a read or a watch PUT event. create_revision orders hosts that claim the
  // same address (the older wins).
  void put(std::string_view key, std::string_view value, std::int64_t create_revision);
  // A watch DELETE event (or an expired lease).
  void del(std::string_view key);
  // Before a full read is fed in with put(): forget the raw store, keep the view, so the next
  // flush() hands over exactly the difference between the old view and the read (reconcile).
  void begin_resync();
  // Appends to `out` every change of the view since the last flush: host ups first, then MAC
  // sets and removals, then host downs (a MAC is never installed towards an unknown peer).
  // `spill`, when set, is called whenever `out` holds kSpillEvery changes, so a reader can take
  // them while the rest is judged: a full read of a large directory then never holds all its
  // changes at once.
  static constexpr std::size_t kSpillEvery = 4096;
  void flush(std::vector<Change>& out, const std::function<void(std::vector<Change>&)>& spill = {});

  // The published view: believed remote hosts, and how many remote MACs the loop was handed.
  const std::map<std::string, HostRecord>& hosts() const { return host_view_; }
  std::size_t mac_count() const { return views_; }
  bool in_view(const CtxMac& k) const;
  // The host a believed remote MAC points at ("" when it is not in the view).
  std::string_view view_host(const CtxMac& k) const;
  // Raw directory, for the publisher: the claim of a MAC and the highest seq any host wrote.
  struct ClaimRef {
    std::string_view host;
    std::uint64_t seq = 0;
  };
  std::optional<ClaimRef> claim(std::uint64_t ctx, const wire::MacAddr& mac) const;
  std::uint64_t highest_seq(std::uint64_t ctx, const wire::MacAddr& mac) const;
  // Sizes the tables for about this many MAC entries and claims (a full read knows how many
  // keys it brings), so they are not rehashed again and again while it is fed in.
  void reserve(std::size_t macs);
  // Number of raw entries held (bounded by Limits).
  std::size_t raw_hosts() const { return hosts_.size(); }
  std::size_t raw_macs() const { return mac_entries_; }

  const ClusterCounters& counters() const { return counters_; }
  const std::string& self() const { return self_; }
  const std::string& prefix() const { return prefix_; }

 private:
  struct HostEntry {
    HostRecord rec;
    std::int64_t create_revision = 0;
    bool refused = false;  // counted once while it stays refused
  };
  // Host names, interned: every MAC entry, claim and view entry names its host by a 32-bit id
  // instead of a string of its own. Reference counted, so the names of entries that went are
  // forgotten and the table stays bounded by what the model holds.
  class Names {
   public:
    std::uint32_t acquire(std::string_view name);
    bool release(std::uint32_t id);  // true: the name's last reference went
    const std::string& operator[](std::uint32_t id) const { return names_[id].name; }
    std::optional<std::uint32_t> find(std::string_view name) const;

   private:
    struct Name {
      std::string name;
      std::uint32_t refs = 0;
    };
    std::vector<Name> names_;
    std::vector<std::uint32_t> free_;
    std::unordered_map<std::string, std::uint32_t> ids_;
  };
  static constexpr std::uint32_t kNone = 0xffffffffu;
  // One host's entry for a MAC: what MacRecord holds, less what the key already says. In
  // pool_, linked from its MAC's state (one entry per host that wrote the MAC).
  struct MacEntry {
    std::uint32_t host = 0;      // Names id
    std::uint32_t next = kNone;  // the MAC's next entry, or the next free one
    std::uint64_t seq = 0;
    wire::IpAddr address;
    bool refused = false;
    IpList ips;  // inline: no heap chunk per entry
  };
  // Everything known of one (context ID, MAC), in one flat slot: its entries, its claim, and
  // what the loop was handed for it (the host and a digest of the entry handed, so a flush
  // that finds the same entry hands nothing). Dropped when all three are empty.
  struct MacState {
    std::uint64_t claim_seq = 0;
    std::uint64_t view_digest = 0;
    std::uint32_t entries = kNone;     // first entry in pool_
    std::uint32_t claim_host = kNone;  // Names id, or none
    std::uint32_t view_host = kNone;   // Names id, or not in the view
  };
  void put_host(const ParsedKey& k, std::string_view value, std::int64_t create_revision);
  void put_mac(const ParsedKey& k, std::string_view value);
  void put_claim(const ParsedKey& k, std::string_view value);
  void erase_mac(const ParsedKey& k);
  void judge_hosts(std::vector<Change>& out, std::vector<std::string>& downs);
  const MacEntry* judge_mac(const CtxMac& k);  // the entry the loop should see, or nullptr
  void unref(std::uint32_t host);              // releases a name (and its by_host_ index)
  void mark_host_macs(const std::string& host);
  std::uint64_t digest(const MacEntry& e) const;
  std::uint32_t new_entry();
  void free_entry(std::uint32_t i);
  void drop_claim(const CtxMac& key, MacState& st);
  void drop_if_empty(const CtxMac& key);

  std::string prefix_;
  std::string self_;
  Limits limits_;
  ClusterCounters counters_;

  Names names_;
  std::map<std::string, HostEntry> hosts_;
  FlatMap<CtxMac, MacState, CtxMacHash> macs_;
  std::vector<MacEntry> pool_;
  std::uint32_t free_entries_ = kNone;  // the free list through MacEntry::next
  std::size_t mac_entries_ = 0;         // entries in use
  std::size_t claims_ = 0;              // states with a claim
  std::size_t views_ = 0;               // states in the view
  std::unordered_map<std::uint32_t, std::vector<CtxMac>> by_host_;  // may hold stale keys

  bool hosts_dirty_ = false;
  bool all_dirty_ = false;
  std::vector<CtxMac> dirty_macs_;

  std::map<std::string, HostRecord> host_view_;  // believed hosts, self excluded
  std::map<std::string, HostRecord> believed_;   // believed hosts, self included
};

}  // namespace stt::cluster
