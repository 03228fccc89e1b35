#include "daemon/fdb.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace stt::daemon {

constexpr core::CounterNames<FdbCounter> kFdbCounterNames({
    {FdbCounter::kLearned, "fdb_learned"},
    {FdbCounter::kMoved, "fdb_moved"},
    {FdbCounter::kAged, "fdb_aged"},
    {FdbCounter::kLearnTableFull, "fdb_learn_drop_table_full"},
    {FdbCounter::kLearnStaticConflict, "fdb_learn_drop_static_conflict"},
    {FdbCounter::kLearnClusterConflict, "fdb_learn_drop_cluster_conflict"},
    {FdbCounter::kLearnInvalidSource, "fdb_learn_drop_invalid_source"},
    {FdbCounter::kLearnNotPeer, "fdb_learn_drop_not_peer"},
    {FdbCounter::kTxUnicast, "fdb_tx_unicast"},
    {FdbCounter::kTxFloodUnknown, "fdb_tx_flood_unknown"},
    {FdbCounter::kTxFloodMulticast, "fdb_tx_flood_multicast"},
});

std::string_view counter_name(FdbCounter c) {
  return kFdbCounterNames(c);
}

std::string_view to_string(FdbResult r) {
  switch (r) {
    case FdbResult::kOk:
      return "ok";
    case FdbResult::kExists:
      return "a static entry for this MAC already exists";
    case FdbResult::kNotFound:
      return "no such entry";
    case FdbResult::kUnknownPeer:
      return "not a peer of this network";
    case FdbResult::kInvalidMac:
      return "multicast or all-zero MAC";
    case FdbResult::kFull:
      return "entry limit reached";
  }
  return "?";
}

namespace {

std::size_t table_size_for(std::size_t entries) {
  // Keep the load factor at or below one half so probe runs stay short.
  std::size_t n = 16;
  while (n < entries * 2)
    n *= 2;
  return n;
}

bool valid_entry_mac(const wire::MacAddr& m) {
  return !m.is_multicast() && !m.is_zero();
}

}  // namespace

Fdb::Fdb(FdbLimits limits)
    : limits_(limits),
      slots_(kMinSlots),
      mask_(kMinSlots - 1),
      max_slots_(std::max(kMinSlots, table_size_for(limits.max_learned + limits.max_static))) {}

bool Fdb::reserve_one() noexcept {
  const std::size_t want = learned_ + static_ + 1;
  if (want * 2 <= slots_.size() || slots_.size() >= max_slots_) return true;
  std::vector<Slot> old;
  try {
    old.swap(slots_);
    slots_.resize(old.size() * 2);
  } catch (...) {  // std::bad_alloc: keep the table as it was
    slots_.swap(old);
    return false;
  }
  mask_ = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.used) *insert_slot(s.mac) = s;
  }
  return true;
}

bool Fdb::add_peer(const wire::IpAddr& peer) {
  // A directory fleet gives a network hundreds of peers, and every learn() and directory
  // entry asks has_peer(): a sorted copy answers in log time.
  auto at = std::lower_bound(peers_sorted_.begin(), peers_sorted_.end(), peer);
  if (at != peers_sorted_.end() && *at == peer) return false;
  peers_sorted_.insert(at, peer);
  peers_.push_back(peer);
  return true;
}

bool Fdb::remove_peer(const wire::IpAddr& peer) {
  auto it = std::find(peers_.begin(), peers_.end(), peer);
  if (it == peers_.end()) return false;
  peers_.erase(it);
  peers_sorted_.erase(std::lower_bound(peers_sorted_.begin(), peers_sorted_.end(), peer));
  cluster_.erase_if([&](const wire::MacAddr&, const wire::IpAddr& p) { return p == peer; });
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    // erase() may shift a later entry into slot i: look at it again.
    while (slots_[i].used && slots_[i].peer == peer)
      erase(&slots_[i]);
  }
  return true;
}

bool Fdb::has_peer_sorted(const wire::IpAddr& peer) const {
  return std::binary_search(peers_sorted_.begin(), peers_sorted_.end(), peer);
}

std::size_t Fdb::home(const wire::MacAddr& mac) const {
  return wire::MacAddrHash{}(mac)&mask_;
}

Fdb::Slot* Fdb::find(const wire::MacAddr& mac) {
  for (std::size_t i = home(mac);; i = (i + 1) & mask_) {
    Slot& s = slots_[i];
    if (!s.used) return nullptr;
    if (s.mac == mac) return &s;
  }
}

const Fdb::Slot* Fdb::find(const wire::MacAddr& mac) const {
  return const_cast<Fdb*>(this)->find(mac);
}

Fdb::Slot* Fdb::insert_slot(const wire::MacAddr& mac) {
  for (std::size_t i = home(mac);; i = (i + 1) & mask_) {
    if (!slots_[i].used) return &slots_[i];
  }
}

void Fdb::erase(Slot* s) {
  if (s->is_static) {
    --static_;
  } else {
    --learned_;
  }
  // Backward-shift deletion: pull later members of the probe run into the
  // hole so that find() never needs tombstones.
  std::size_t hole = static_cast<std::size_t>(s - slots_.data());
  std::size_t j = hole;
  for (;;) {
    j = (j + 1) & mask_;
    if (!slots_[j].used) break;
    const std::size_t h = home(slots_[j].mac);
    // slots_[j] may move into the hole if its home is not in (hole, j].
    const bool home_in_range = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
    if (home_in_range) continue;
    slots_[hole] = slots_[j];
    hole = j;
  }
  slots_[hole] = Slot{};
}

bool Fdb::expired(const Slot& s, std::uint64_t now_ns) const {
  return !s.is_static && now_ns >= s.last_seen_ns && now_ns - s.last_seen_ns >= limits_.ageing_ns;
}

FdbResult Fdb::add_static(const wire::MacAddr& mac, const wire::IpAddr& peer) {
  if (!valid_entry_mac(mac)) return FdbResult::kInvalidMac;
  if (!has_peer(peer)) return FdbResult::kUnknownPeer;
  if (Slot* s = find(mac)) {
    if (s->is_static) return FdbResult::kExists;
    if (static_ >= limits_.max_static) return FdbResult::kFull;
    // A static entry takes over the learned one.
    --learned_;
    ++static_;
    s->is_static = true;
    s->peer = peer;
    s->last_seen_ns = 0;
    return FdbResult::kOk;
  }
  if (static_ >= limits_.max_static || !reserve_one()) return FdbResult::kFull;
  Slot* s = insert_slot(mac);
  *s = Slot{peer, 0, mac, true, true};
  ++static_;
  return FdbResult::kOk;
}

FdbResult Fdb::add_cluster(const wire::MacAddr& mac, const wire::IpAddr& peer) {
  if (!valid_entry_mac(mac)) return FdbResult::kInvalidMac;
  if (!has_peer(peer)) return FdbResult::kUnknownPeer;
  if (cluster_.size() >= limits_.max_cluster && !cluster_.contains(mac)) return FdbResult::kFull;
  *cluster_.try_emplace(mac).first = peer;
  // The directory knows where the MAC is now; a learned guess goes.
  if (Slot* s = find(mac); s != nullptr && !s->is_static) erase(s);
  return FdbResult::kOk;
}

bool Fdb::del_cluster(const wire::MacAddr& mac) {
  return cluster_.erase(mac);
}

FdbResult Fdb::del(const wire::MacAddr& mac, const wire::IpAddr& peer) {
  Slot* s = find(mac);
  if (s == nullptr || s->peer != peer) return FdbResult::kNotFound;
  erase(s);
  return FdbResult::kOk;
}

FdbResult Fdb::del(const wire::MacAddr& mac, wire::IpAddr* was) {
  Slot* s = find(mac);
  if (s == nullptr) return FdbResult::kNotFound;
  *was = s->peer;
  erase(s);
  return FdbResult::kOk;
}

void Fdb::learn(const wire::MacAddr& src, const wire::IpAddr& peer, std::uint64_t now_ns) {
  if (!valid_entry_mac(src)) {
    counters_.inc(FdbCounter::kLearnInvalidSource);
    return;
  }
  if (!has_peer(peer)) {
    counters_.inc(FdbCounter::kLearnNotPeer);
    return;
  }
  if (!cluster_.empty()) {
    if (const wire::IpAddr* c = cluster_peer(src)) {
      if (*c != peer) counters_.inc(FdbCounter::kLearnClusterConflict);
      return;
    }
  }
  if (Slot* s = find(src)) {
    if (s->is_static) {
      if (s->peer != peer) counters_.inc(FdbCounter::kLearnStaticConflict);
      return;
    }
    if (s->peer != peer) {
      // An expired entry is a fresh learn, not a move.
      counters_.inc(expired(*s, now_ns) ? FdbCounter::kLearned : FdbCounter::kMoved);
      s->peer = peer;
    }
    s->last_seen_ns = now_ns;
    return;
  }
  if (learned_ >= limits_.max_learned || !reserve_one()) {
    counters_.inc(FdbCounter::kLearnTableFull);
    return;
  }
  Slot* s = insert_slot(src);
  *s = Slot{peer, now_ns, src, true, false};
  ++learned_;
  counters_.inc(FdbCounter::kLearned);
}

const wire::IpAddr* Fdb::cluster_peer(const wire::MacAddr& mac) const {
  return cluster_.find(mac);
}

std::span<const wire::IpAddr> Fdb::lookup(const wire::MacAddr& dst, std::uint64_t now_ns) {
  if (dst.is_multicast()) {
    counters_.inc(FdbCounter::kTxFloodMulticast);
    return peers_;
  }
  const Slot* s = find(dst);
  if (!cluster_.empty() && (s == nullptr || !s->is_static)) {
    if (const wire::IpAddr* c = cluster_peer(dst)) {
      counters_.inc(FdbCounter::kTxUnicast);
      return {c, 1};
    }
  }
  if (s == nullptr || expired(*s, now_ns)) {
    counters_.inc(FdbCounter::kTxFloodUnknown);
    return peers_;
  }
  counters_.inc(FdbCounter::kTxUnicast);
  return {&s->peer, 1};
}

void Fdb::age(std::uint64_t now_ns) {
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    // erase() may shift a later entry into slot i: look at it again.
    while (slots_[i].used && expired(slots_[i], now_ns)) {
      erase(&slots_[i]);
      counters_.inc(FdbCounter::kAged);
    }
  }
}

void Fdb::append_json(nlohmann::json& out, std::string_view network, std::uint64_t now_ns) const {
  std::vector<const Slot*> live;
  for (const Slot& s : slots_) {
    if (s.used && !expired(s, now_ns)) live.push_back(&s);
  }
  // Cluster entries not shadowed by a static one, as slots of their own type.
  std::vector<Slot> cluster;
  cluster.reserve(cluster_.size());
  cluster_.for_each([&](const wire::MacAddr& mac, const wire::IpAddr& peer) {
    const Slot* s = find(mac);
    if (s == nullptr || !s->is_static) cluster.push_back(Slot{peer, 0, mac, true, false, true});
  });
  for (const Slot& s : cluster)
    live.push_back(&s);
  std::sort(live.begin(), live.end(), [](const Slot* a, const Slot* b) { return a->mac < b->mac; });
  for (const Slot* s : live) {
    if (s->is_cluster) {
      out.push_back({{"network", network},
                     {"mac", s->mac.to_string()},
                     {"peer", s->peer.to_string()},
                     {"type", "cluster"}});
      continue;
    }
    nlohmann::json e = {{"network", network},
                        {"mac", s->mac.to_string()},
                        {"peer", s->peer.to_string()},
                        {"type", s->is_static ? "static" : "learned"}};
    if (!s->is_static) {
      const std::uint64_t age = now_ns > s->last_seen_ns ? now_ns - s->last_seen_ns : 0;
      e["age_s"] = age / 1'000'000'000ull;
    }
    out.push_back(std::move(e));
  }
}

}  // namespace stt::daemon
