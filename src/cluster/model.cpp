#include "cluster/model.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "cluster/flat_json.hpp"

namespace stt::cluster {

namespace {

using nlohmann::json;

constexpr std::uint64_t kMaxSeq = (1ull << 53) - 1;  // exact in every JSON reader

bool hex16(std::string_view s, std::uint64_t& out, bool lower_only) {
  if (s.size() != 16) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    unsigned d;
    if (c >= '0' && c <= '9')
      d = static_cast<unsigned>(c - '0');
    else if (c >= 'a' && c <= 'f')
      d = static_cast<unsigned>(c - 'a' + 10);
    else if (!lower_only && c >= 'A' && c <= 'F')
      d = static_cast<unsigned>(c - 'A' + 10);
    else
      return false;
    v = (v << 4) | d;
  }
  out = v;
  return true;
}

std::string hex16_text(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::optional<std::uint64_t> parse_context_text(std::string_view s) {
  std::uint64_t v;
  if (s.size() != 18 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X')) return std::nullopt;
  if (!hex16(s.substr(2), v, false)) return std::nullopt;
  return v;
}

std::optional<wire::IpAddr> parse_unicast(std::string_view s) {
  auto ip = wire::IpAddr::parse(s);
  if (!ip || ip->is_multicast()) return std::nullopt;
  return ip;
}

// The member `key` of type `t`, or nullptr.
const FlatValue* member(const FlatObject& o, std::string_view key, FlatValue::Type t) {
  const FlatValue* v = o.get(key);
  return v != nullptr && v->type == t ? v : nullptr;
}
const FlatValue* string_member(const FlatObject& o, std::string_view key) {
  return member(o, key, FlatValue::Type::kString);
}
std::optional<std::uint64_t> uint_member(const FlatObject& o, std::string_view key,
                                         std::uint64_t lo, std::uint64_t hi) {
  const FlatValue* v = member(o, key, FlatValue::Type::kUint);
  if (v == nullptr || v->num < lo || v->num > hi) return std::nullopt;
  return v->num;
}

// One parser per thread, reused: a full read decodes 10^5 values, and a fresh object would
// allocate its member list for every one.
FlatObject& scratch_object() {
  thread_local FlatObject o;
  return o;
}

}  // namespace

constexpr core::CounterNames<ClusterCounter> kClusterCounterNames({
    {ClusterCounter::kMalformed, "cluster_malformed"},
    {ClusterCounter::kOversized, "cluster_oversized"},
    {ClusterCounter::kRefused, "cluster_refused"},
    {ClusterCounter::kOverLimit, "cluster_over_limit"},
    {ClusterCounter::kUnknownKey, "cluster_unknown_key"},
    {ClusterCounter::kEventsApplied, "cluster_events_applied"},
    {ClusterCounter::kResyncs, "cluster_resyncs"},
});

std::string_view counter_name(ClusterCounter c) {
  return kClusterCounterNames(c);
}

wire::MacAddr mac_from_u64(std::uint64_t v) {
  wire::MacAddr m;
  for (int i = 5; i >= 0; --i) {
    m.b[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v & 0xff);
    v >>= 8;
  }
  return m;
}

bool valid_host_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

std::string context_text(std::uint64_t ctx) {
  return "0x" + hex16_text(ctx);
}

std::string host_key(std::string_view prefix, std::string_view name) {
  return std::string(prefix) + "/hosts/" + std::string(name);
}
std::string host_macs_prefix(std::string_view prefix, std::string_view host) {
  return std::string(prefix) + "/macs/" + std::string(host) + "/";
}
std::string mac_key(std::string_view prefix, std::string_view host, std::uint64_t ctx,
                    const wire::MacAddr& mac) {
  return host_macs_prefix(prefix, host) + hex16_text(ctx) + "/" + mac.to_string();
}
std::string claim_key(std::string_view prefix, std::uint64_t ctx, const wire::MacAddr& mac) {
  return std::string(prefix) + "/claims/" + hex16_text(ctx) + "/" + mac.to_string();
}

namespace {

// The canonical text of a MAC in keys: lower-case hex pairs joined by ':'.
std::optional<wire::MacAddr> canonical_mac(std::string_view s) {
  if (s.size() != 17) return std::nullopt;
  wire::MacAddr m;
  for (std::size_t i = 0; i < 6; ++i) {
    if (i > 0 && s[i * 3 - 1] != ':') return std::nullopt;
    unsigned v = 0;
    for (std::size_t j = 0; j < 2; ++j) {
      char c = s[i * 3 + j];
      if (c >= '0' && c <= '9')
        v = v * 16 + static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f')
        v = v * 16 + static_cast<unsigned>(c - 'a' + 10);
      else
        return std::nullopt;
    }
    m.b[i] = static_cast<std::uint8_t>(v);
  }
  return m;
}

}  // namespace

std::optional<ParsedKey> parse_key(std::string_view prefix, std::string_view key) {
  if (key.size() <= prefix.size() + 1 || key.substr(0, prefix.size()) != prefix ||
      key[prefix.size()] != '/')
    return std::nullopt;
  std::string_view rest = key.substr(prefix.size() + 1);
  // At most 4 parts are valid: a fifth means the key is outside the layout.
  std::array<std::string_view, 5> parts;
  std::size_t n = 0;
  while (n < parts.size()) {
    auto slash = rest.find('/');
    parts[n++] = rest.substr(0, slash);
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  ParsedKey k{};
  if (n == 2 && parts[0] == "hosts" && valid_host_name(parts[1])) {
    k.kind = KeyKind::kHost;
    k.host = parts[1];
    return k;
  }
  if (n == 4 && parts[0] == "macs" && valid_host_name(parts[1]) &&
      hex16(parts[2], k.context_id, true)) {
    auto m = canonical_mac(parts[3]);
    if (!m) return std::nullopt;
    k.kind = KeyKind::kMac;
    k.host = parts[1];
    k.mac = *m;
    return k;
  }
  if (n == 3 && parts[0] == "claims" && hex16(parts[1], k.context_id, true)) {
    auto m = canonical_mac(parts[2]);
    if (!m) return std::nullopt;
    k.kind = KeyKind::kClaim;
    k.mac = *m;
    return k;
  }
  return std::nullopt;
}

std::string encode_host(const HostRecord& h) {
  json j = {{"name", h.name}, {"address", h.address.to_string()}, {"port", h.port}};
  json ctxs = json::array();
  for (auto c : h.contexts)
    ctxs.push_back(context_text(c));
  j["contexts"] = std::move(ctxs);
  return j.dump();
}

std::string encode_mac(const MacRecord& m) {
  json ips = json::array();
  for (const auto& ip : m.ips)
    ips.push_back(ip.to_string());
  json j = {{"mac", m.mac.to_string()},
            {"context_id", context_text(m.context_id)},
            {"address", m.address.to_string()},
            {"ips", std::move(ips)},
            {"seq", m.seq}};
  return j.dump();
}

std::string encode_claim(const ClaimRecord& c) {
  return json{{"host", c.host}, {"seq", c.seq}}.dump();
}

std::optional<HostRecord> decode_host(std::string_view value) {
  FlatObject& o = scratch_object();
  if (!o.parse(value)) return std::nullopt;
  const FlatValue* name = string_member(o, "name");
  const FlatValue* addr = string_member(o, "address");
  const FlatValue* ctxs = member(o, "contexts", FlatValue::Type::kStringArray);
  auto port = uint_member(o, "port", 1, 65535);
  if (!name || !addr || !ctxs || !port || !valid_host_name(name->str)) return std::nullopt;
  auto ip = parse_unicast(addr->str);
  if (!ip) return std::nullopt;
  HostRecord h;
  h.name = name->str;
  h.address = *ip;
  h.port = static_cast<std::uint16_t>(*port);
  h.contexts.reserve(ctxs->items.size());
  for (std::string_view c : ctxs->items) {
    auto v = parse_context_text(c);
    if (!v) return std::nullopt;
    h.contexts.push_back(*v);
  }
  std::sort(h.contexts.begin(), h.contexts.end());
  if (std::adjacent_find(h.contexts.begin(), h.contexts.end()) != h.contexts.end())
    return std::nullopt;
  return h;
}

std::optional<MacRecord> decode_mac(std::string_view value, std::size_t max_ips) {
  FlatObject& o = scratch_object();
  if (!o.parse(value)) return std::nullopt;
  const FlatValue* mac = string_member(o, "mac");
  const FlatValue* ctx = string_member(o, "context_id");
  const FlatValue* addr = string_member(o, "address");
  const FlatValue* ips = o.get("ips");
  auto seq = uint_member(o, "seq", 1, kMaxSeq);
  if (!mac || !ctx || !addr || !seq) return std::nullopt;
  if (ips && (ips->type != FlatValue::Type::kStringArray || ips->items.size() > max_ips))
    return std::nullopt;
  auto parsed_mac = wire::MacAddr::parse(mac->str);
  auto c = parse_context_text(ctx->str);
  auto ip = parse_unicast(addr->str);
  if (!parsed_mac || parsed_mac->is_multicast() || !c || !ip) return std::nullopt;
  MacRecord m;
  m.mac = *parsed_mac;
  m.context_id = *c;
  m.address = *ip;
  m.seq = *seq;
  if (ips) {
    m.ips.reserve(ips->items.size());
    for (std::string_view e : ips->items) {
      auto a = parse_unicast(e);
      if (!a) return std::nullopt;
      m.ips.push_back(*a);
    }
  }
  return m;
}

std::optional<ClaimRecord> decode_claim(std::string_view value) {
  FlatObject& o = scratch_object();
  if (!o.parse(value)) return std::nullopt;
  const FlatValue* host = string_member(o, "host");
  auto seq = uint_member(o, "seq", 1, kMaxSeq);
  if (!host || !seq || !valid_host_name(host->str)) return std::nullopt;
  return ClaimRecord{std::string(host->str), *seq};
}

// ---- the model ----

std::uint32_t DirectoryModel::Names::acquire(std::string_view name) {
  std::string key(name);
  if (auto it = ids_.find(key); it != ids_.end()) {
    ++names_[it->second].refs;
    return it->second;
  }
  std::uint32_t id;
  if (!free_.empty()) {
    id = free_.back();
    free_.pop_back();
  } else {
    id = static_cast<std::uint32_t>(names_.size());
    names_.emplace_back();
  }
  names_[id].name = key;
  names_[id].refs = 1;
  ids_.emplace(std::move(key), id);
  return id;
}

bool DirectoryModel::Names::release(std::uint32_t id) {
  Name& n = names_[id];
  if (--n.refs != 0) return false;
  ids_.erase(n.name);
  n.name.clear();
  free_.push_back(id);
  return true;
}

std::optional<std::uint32_t> DirectoryModel::Names::find(std::string_view name) const {
  auto it = ids_.find(std::string(name));
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

DirectoryModel::DirectoryModel(std::string prefix, std::string self_name, Limits limits)
    : prefix_(std::move(prefix)), self_(std::move(self_name)), limits_(limits) {}

void DirectoryModel::unref(std::uint32_t host) {
  if (names_.release(host)) by_host_.erase(host);
}

void DirectoryModel::reserve(std::size_t macs) {
  macs = std::min(macs, limits_.max_macs);
  macs_.reserve(macs);
  pool_.reserve(macs);
}

std::uint32_t DirectoryModel::new_entry() {
  if (free_entries_ != kNone) {
    const std::uint32_t i = free_entries_;
    free_entries_ = pool_[i].next;
    pool_[i] = MacEntry{};
    return i;
  }
  pool_.emplace_back();
  return static_cast<std::uint32_t>(pool_.size() - 1);
}

void DirectoryModel::free_entry(std::uint32_t i) {
  MacEntry& e = pool_[i];
  unref(e.host);
  e.ips.clear();
  e.next = free_entries_;
  free_entries_ = i;
  --mac_entries_;
}

void DirectoryModel::drop_claim(const CtxMac& key, MacState& st) {
  if (st.claim_host == kNone) return;
  unref(st.claim_host);
  st.claim_host = kNone;
  st.claim_seq = 0;
  --claims_;
  dirty_macs_.push_back(key);
}

void DirectoryModel::drop_if_empty(const CtxMac& key) {
  const MacState* st = macs_.find(key);
  if (st != nullptr && st->entries == kNone && st->claim_host == kNone && st->view_host == kNone)
    macs_.erase(key);
}

void DirectoryModel::put(std::string_view key, std::string_view value,
                         std::int64_t create_revision) {
  counters_.inc(ClusterCounter::kEventsApplied);
  auto k = parse_key(prefix_, key);
  if (!k) {
    counters_.inc(ClusterCounter::kUnknownKey);
    return;
  }
  if (value.size() > limits_.max_value_bytes) {
    // The key now holds something we will not read: what it held before is gone.
    counters_.inc(ClusterCounter::kOversized);
    del(key);
    return;
  }
  switch (k->kind) {
    case KeyKind::kHost:
      put_host(*k, value, create_revision);
      break;
    case KeyKind::kMac:
      put_mac(*k, value);
      break;
    case KeyKind::kClaim:
      put_claim(*k, value);
      break;
  }
}

void DirectoryModel::put_host(const ParsedKey& k, std::string_view value,
                              std::int64_t create_revision) {
  auto h = decode_host(value);
  auto it = hosts_.find(k.host);
  if (!h || h->name != k.host) {
    counters_.inc(h ? ClusterCounter::kRefused : ClusterCounter::kMalformed);
    if (it != hosts_.end()) {
      hosts_.erase(it);
      hosts_dirty_ = true;
    }
    return;
  }
  if (it == hosts_.end()) {
    if (hosts_.size() >= limits_.max_hosts) {
      counters_.inc(ClusterCounter::kOverLimit);
      return;
    }
    it = hosts_.emplace(k.host, HostEntry{}).first;
  }
  it->second.rec = std::move(*h);
  it->second.create_revision = create_revision;
  hosts_dirty_ = true;
}

void DirectoryModel::put_mac(const ParsedKey& k, std::string_view value) {
  auto m = decode_mac(value, limits_.max_ips);
  if (!m || m->mac != k.mac || m->context_id != k.context_id) {
    counters_.inc(m ? ClusterCounter::kRefused : ClusterCounter::kMalformed);
    erase_mac(k);
    return;
  }
  const CtxMac key{k.context_id, k.mac.as_u64()};
  MacState& st = *macs_.try_emplace(key).first;
  std::uint32_t i = st.entries;
  if (const auto id = names_.find(k.host)) {
    while (i != kNone && pool_[i].host != *id)
      i = pool_[i].next;
  } else {
    i = kNone;
  }
  if (i == kNone) {
    if (mac_entries_ >= limits_.max_macs) {
      counters_.inc(ClusterCounter::kOverLimit);
      drop_if_empty(key);
      return;
    }
    i = new_entry();
    MacEntry& e = pool_[i];
    e.host = names_.acquire(k.host);
    e.seq = m->seq;
    e.address = m->address;
    e.ips.assign(m->ips);
    e.next = st.entries;
    st.entries = i;
    ++mac_entries_;
    by_host_[e.host].push_back(key);
  } else {
    MacEntry& e = pool_[i];
    if (e.seq == m->seq && e.address == m->address && e.ips == std::span(m->ips))
      return;  // unchanged
    e.seq = m->seq;
    e.address = m->address;
    e.ips.assign(m->ips);
  }
  dirty_macs_.push_back(key);
}

void DirectoryModel::put_claim(const ParsedKey& k, std::string_view value) {
  const CtxMac key{k.context_id, k.mac.as_u64()};
  auto c = decode_claim(value);
  if (!c) {
    counters_.inc(ClusterCounter::kMalformed);
    if (MacState* st = macs_.find(key)) {
      drop_claim(key, *st);
      drop_if_empty(key);
    }
    return;
  }
  MacState& st = *macs_.try_emplace(key).first;
  if (st.claim_host == kNone) {
    if (claims_ >= limits_.max_macs) {
      counters_.inc(ClusterCounter::kOverLimit);
      drop_if_empty(key);
      return;
    }
    ++claims_;
  } else {
    unref(st.claim_host);
  }
  st.claim_host = names_.acquire(c->host);
  st.claim_seq = c->seq;
  dirty_macs_.push_back(key);
}

void DirectoryModel::erase_mac(const ParsedKey& k) {
  const CtxMac key{k.context_id, k.mac.as_u64()};
  MacState* st = macs_.find(key);
  const auto id = names_.find(k.host);
  if (st == nullptr || !id) return;
  std::uint32_t* link = &st->entries;
  while (*link != kNone && pool_[*link].host != *id)
    link = &pool_[*link].next;
  if (*link == kNone) return;
  const std::uint32_t i = *link;
  *link = pool_[i].next;
  // by_host_ keeps the key: mark_host_macs() drops keys that no longer name the host.
  free_entry(i);
  drop_if_empty(key);
  dirty_macs_.push_back(key);
}

void DirectoryModel::del(std::string_view key) {
  counters_.inc(ClusterCounter::kEventsApplied);
  auto k = parse_key(prefix_, key);
  if (!k) return;
  switch (k->kind) {
    case KeyKind::kHost:
      if (hosts_.erase(k->host) != 0) hosts_dirty_ = true;
      break;
    case KeyKind::kMac:
      erase_mac(*k);
      break;
    case KeyKind::kClaim: {
      const CtxMac c{k->context_id, k->mac.as_u64()};
      if (MacState* st = macs_.find(c)) {
        drop_claim(c, *st);
        drop_if_empty(c);
      }
      break;
    }
  }
}

void DirectoryModel::begin_resync() {
  counters_.inc(ClusterCounter::kResyncs);
  // Forget the raw store, keep the view: entries and claims go, states the loop was handed
  // stay (with nothing else) until the next flush judges them against the read.
  std::vector<CtxMac> unseen;
  macs_.for_each([&](const CtxMac& k, MacState& st) {
    for (std::uint32_t i = st.entries; i != kNone; i = pool_[i].next)
      unref(pool_[i].host);
    st.entries = kNone;
    if (st.claim_host != kNone) unref(st.claim_host);
    st.claim_host = kNone;
    st.claim_seq = 0;
    if (st.view_host == kNone) unseen.push_back(k);
  });
  for (const auto& k : unseen)
    macs_.erase(k);
  std::vector<MacEntry>().swap(pool_);
  free_entries_ = kNone;
  hosts_.clear();
  by_host_.clear();
  dirty_macs_.clear();
  mac_entries_ = 0;
  claims_ = 0;
  all_dirty_ = true;
}

std::optional<DirectoryModel::ClaimRef> DirectoryModel::claim(std::uint64_t ctx,
                                                              const wire::MacAddr& mac) const {
  const MacState* st = macs_.find(CtxMac{ctx, mac.as_u64()});
  if (st == nullptr || st->claim_host == kNone) return std::nullopt;
  return ClaimRef{names_[st->claim_host], st->claim_seq};
}

bool DirectoryModel::in_view(const CtxMac& k) const {
  const MacState* st = macs_.find(k);
  return st != nullptr && st->view_host != kNone;
}

std::string_view DirectoryModel::view_host(const CtxMac& k) const {
  const MacState* st = macs_.find(k);
  if (st == nullptr || st->view_host == kNone) return {};
  return names_[st->view_host];
}

std::uint64_t DirectoryModel::highest_seq(std::uint64_t ctx, const wire::MacAddr& mac) const {
  const MacState* st = macs_.find(CtxMac{ctx, mac.as_u64()});
  if (st == nullptr) return 0;
  std::uint64_t best = st->claim_seq;
  for (std::uint32_t i = st->entries; i != kNone; i = pool_[i].next)
    best = std::max(best, pool_[i].seq);
  return best;
}

void DirectoryModel::mark_host_macs(const std::string& host) {
  if (all_dirty_) return;  // every MAC is judged anyway
  const auto id = names_.find(host);
  if (!id) return;
  auto it = by_host_.find(*id);
  if (it == by_host_.end()) return;
  auto& keys = it->second;
  // Compact the index while walking it, so deleted entries do not pile up.
  std::size_t kept = 0;
  std::unordered_set<CtxMac, CtxMacHash> seen;
  for (const auto& key : keys) {
    const MacState* st = macs_.find(key);
    if (st == nullptr) continue;
    bool named = false;
    for (std::uint32_t i = st->entries; i != kNone && !named; i = pool_[i].next)
      named = pool_[i].host == *id;
    if (!named || !seen.insert(key).second) continue;
    keys[kept++] = key;
    dirty_macs_.push_back(key);
  }
  keys.resize(kept);
  if (keys.empty()) by_host_.erase(it);
}

void DirectoryModel::judge_hosts(std::vector<Change>& out, std::vector<std::string>& downs) {
  // A host is believed unless an older host (by create revision) registered the same address
  // and port: a later one claiming it would be speaking for the first.
  std::vector<HostEntry*> order;
  order.reserve(hosts_.size());
  for (auto& [name, e] : hosts_)
    order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const HostEntry* a, const HostEntry* b) {
    if (a->create_revision != b->create_revision) return a->create_revision < b->create_revision;
    return a->rec.name < b->rec.name;
  });
  std::map<std::string, HostRecord> believed;
  std::unordered_set<std::string> taken;  // "address port"
  for (HostEntry* e : order) {
    HostEntry& entry = *e;
    std::string where = e->rec.address.to_string() + " " + std::to_string(e->rec.port);
    if (!taken.insert(where).second) {
      if (!entry.refused) counters_.inc(ClusterCounter::kRefused);
      entry.refused = true;
      continue;
    }
    entry.refused = false;
    believed.emplace(e->rec.name, e->rec);
  }
  for (const auto& [name, rec] : believed) {
    auto old = believed_.find(name);
    if (old != believed_.end() && old->second == rec) continue;
    mark_host_macs(name);
    if (name != self_) out.push_back(Change{Change::Kind::kHostUp, rec, 0, {}, {}});
  }
  for (const auto& [name, rec] : believed_) {
    if (believed.count(name) != 0) continue;
    mark_host_macs(name);
    if (name != self_) downs.push_back(name);
  }
  believed_ = std::move(believed);
  host_view_ = believed_;
  host_view_.erase(self_);
}

const DirectoryModel::MacEntry* DirectoryModel::judge_mac(const CtxMac& k) {
  const MacState* st = macs_.find(k);
  if (st == nullptr) return nullptr;
  const MacEntry* best = nullptr;
  bool best_claimed = false;
  for (std::uint32_t i = st->entries; i != kNone; i = pool_[i].next) {
    MacEntry& e = pool_[i];
    auto h = believed_.find(names_[e.host]);
    if (h == believed_.end()) continue;  // host not (yet) registered: held, not judged
    const HostRecord& host = h->second;
    bool ok = e.address == host.address &&
              std::binary_search(host.contexts.begin(), host.contexts.end(), k.ctx);
    if (!ok) {
      if (!e.refused) counters_.inc(ClusterCounter::kRefused);
      e.refused = true;
      continue;
    }
    e.refused = false;
    bool claimed = st->claim_host == e.host && st->claim_seq == e.seq;
    bool better =
        best == nullptr || (claimed && !best_claimed) ||
        (claimed == best_claimed &&
         (e.seq > best->seq || (e.seq == best->seq && names_[e.host] < names_[best->host])));
    if (better) {
      best = &e;
      best_claimed = claimed;
    }
  }
  if (best == nullptr || names_[best->host] == self_) return nullptr;
  return best;
}

std::uint64_t DirectoryModel::digest(const MacEntry& e) const {
  // FNV-1a over what the loop is handed: host, address, addresses, seq.
  std::uint64_t h = 0xcbf29ce484222325ull;
  auto mix = [&](const void* p, std::size_t n) {
    const auto* b = static_cast<const std::uint8_t*>(p);
    for (std::size_t i = 0; i < n; ++i)
      h = (h ^ b[i]) * 0x100000001b3ull;
  };
  const std::string& host = names_[e.host];
  mix(host.data(), host.size());
  auto mix_ip = [&](const wire::IpAddr& a) {
    const std::uint8_t v = a.version();
    mix(&v, 1);
    mix(a.data(), 16);
  };
  mix_ip(e.address);
  const std::uint64_t n = e.ips.size();
  mix(&n, sizeof n);
  for (const auto& ip : e.ips)
    mix_ip(ip);
  mix(&e.seq, sizeof e.seq);
  return h;
}

void DirectoryModel::flush(std::vector<Change>& out,
                           const std::function<void(std::vector<Change>&)>& spill) {
  auto maybe_spill = [&] {
    if (spill && out.size() >= kSpillEvery) spill(out);
  };
  std::vector<std::string> downs;
  if (hosts_dirty_ || all_dirty_) judge_hosts(out, downs);
  if (all_dirty_) {
    dirty_macs_.clear();
    dirty_macs_.reserve(macs_.size());
    macs_.for_each([&](const CtxMac& k, const MacState&) { dirty_macs_.push_back(k); });
  }
  std::sort(dirty_macs_.begin(), dirty_macs_.end());
  dirty_macs_.erase(std::unique(dirty_macs_.begin(), dirty_macs_.end()), dirty_macs_.end());
  for (const auto& k : dirty_macs_) {
    const MacEntry* best = judge_mac(k);
    MacState* st = macs_.find(k);
    const bool shown = st != nullptr && st->view_host != kNone;
    if (best == nullptr) {
      if (!shown) continue;
      unref(st->view_host);
      st->view_host = kNone;
      st->view_digest = 0;
      --views_;
      drop_if_empty(k);
      out.push_back(Change{Change::Kind::kMacRemoved, {}, k.ctx, mac_from_u64(k.mac), {}});
      maybe_spill();
      continue;
    }
    const std::uint64_t d = digest(*best);
    if (shown && st->view_host == best->host && st->view_digest == d) continue;
    out.push_back(Change{Change::Kind::kMacSet,
                         {},
                         k.ctx,
                         mac_from_u64(k.mac),
                         MacView{names_[best->host], best->address, best->ips, best->seq}});
    const std::uint32_t host = names_.acquire(names_[best->host]);
    if (shown)
      unref(st->view_host);
    else
      ++views_;
    st->view_host = host;
    st->view_digest = d;
    maybe_spill();
  }
  dirty_macs_.clear();
  if (all_dirty_) dirty_macs_.shrink_to_fit();  // a full read's list is not kept
  for (auto& name : downs) {
    HostRecord h;
    h.name = std::move(name);
    out.push_back(Change{Change::Kind::kHostDown, std::move(h), 0, {}, {}});
  }
  hosts_dirty_ = false;
  all_dirty_ = false;
}

}  // namespace stt::cluster
