#include "cluster/model.hpp"

#include <algorithm>
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

std::string_view counter_name(ClusterCounter c) { return kClusterCounterNames(c); }

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

std::optional<ParsedKey> parse_key(std::string_view prefix, std::string_view key) {
  if (key.size() <= prefix.size() + 1 || key.substr(0, prefix.size()) != prefix ||
      key[prefix.size()] != '/')
    return std::nullopt;
  std::string_view rest = key.substr(prefix.size() + 1);
  std::vector<std::string_view> parts;
  while (true) {
    auto slash = rest.find('/');
    parts.push_back(rest.substr(0, slash));
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  auto canonical_mac = [](std::string_view s) -> std::optional<wire::MacAddr> {
    auto m = wire::MacAddr::parse(s);
    if (!m || m->to_string() != s) return std::nullopt;
    return m;
  };
  ParsedKey k{};
  if (parts.size() == 2 && parts[0] == "hosts" && valid_host_name(parts[1])) {
    k.kind = KeyKind::kHost;
    k.host = parts[1];
    return k;
  }
  if (parts.size() == 4 && parts[0] == "macs" && valid_host_name(parts[1]) &&
      hex16(parts[2], k.context_id, true)) {
    auto m = canonical_mac(parts[3]);
    if (!m) return std::nullopt;
    k.kind = KeyKind::kMac;
    k.host = parts[1];
    k.mac = *m;
    return k;
  }
  if (parts.size() == 3 && parts[0] == "claims" && hex16(parts[1], k.context_id, true)) {
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
  FlatObject o;
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
  FlatObject o;
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
  FlatObject o;
  if (!o.parse(value)) return std::nullopt;
  const FlatValue* host = string_member(o, "host");
  auto seq = uint_member(o, "seq", 1, kMaxSeq);
  if (!host || !seq || !valid_host_name(host->str)) return std::nullopt;
  return ClaimRecord{std::string(host->str), *seq};
}

// ---- the model ----

DirectoryModel::DirectoryModel(std::string prefix, std::string self_name, Limits limits)
    : prefix_(std::move(prefix)), self_(std::move(self_name)), limits_(limits) {}

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
  CtxMac key{k.context_id, k.mac.as_u64()};
  auto& entries = macs_[key];
  auto e = std::find_if(entries.begin(), entries.end(),
                        [&](const MacEntry& x) { return x.host == k.host; });
  if (e == entries.end()) {
    if (mac_entries_ >= limits_.max_macs) {
      counters_.inc(ClusterCounter::kOverLimit);
      if (entries.empty()) macs_.erase(key);
      return;
    }
    entries.push_back(MacEntry{k.host, std::move(*m), false});
    ++mac_entries_;
    by_host_[k.host].push_back(key);
  } else {
    e->rec = std::move(*m);
  }
  dirty_macs_.push_back(key);
}

void DirectoryModel::put_claim(const ParsedKey& k, std::string_view value) {
  CtxMac key{k.context_id, k.mac.as_u64()};
  auto c = decode_claim(value);
  if (!c) {
    counters_.inc(ClusterCounter::kMalformed);
    if (claims_.erase(key) != 0) dirty_macs_.push_back(key);
    return;
  }
  auto it = claims_.find(key);
  if (it == claims_.end()) {
    if (claims_.size() >= limits_.max_macs) {
      counters_.inc(ClusterCounter::kOverLimit);
      return;
    }
    claims_.emplace(key, std::move(*c));
  } else {
    it->second = std::move(*c);
  }
  dirty_macs_.push_back(key);
}

void DirectoryModel::erase_mac(const ParsedKey& k) {
  CtxMac key{k.context_id, k.mac.as_u64()};
  auto it = macs_.find(key);
  if (it == macs_.end()) return;
  auto& entries = it->second;
  auto e = std::find_if(entries.begin(), entries.end(),
                        [&](const MacEntry& x) { return x.host == k.host; });
  if (e == entries.end()) return;
  entries.erase(e);
  --mac_entries_;
  if (entries.empty()) macs_.erase(it);
  // by_host_ keeps the key: mark_host_macs() drops keys that no longer name the host.
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
      CtxMac c{k->context_id, k->mac.as_u64()};
      if (claims_.erase(c) != 0) dirty_macs_.push_back(c);
      break;
    }
  }
}

void DirectoryModel::begin_resync() {
  counters_.inc(ClusterCounter::kResyncs);
  hosts_.clear();
  macs_.clear();
  claims_.clear();
  by_host_.clear();
  dirty_macs_.clear();
  mac_entries_ = 0;
  all_dirty_ = true;
}

const ClaimRecord* DirectoryModel::claim(std::uint64_t ctx, const wire::MacAddr& mac) const {
  auto it = claims_.find(CtxMac{ctx, mac.as_u64()});
  return it == claims_.end() ? nullptr : &it->second;
}

std::uint64_t DirectoryModel::highest_seq(std::uint64_t ctx, const wire::MacAddr& mac) const {
  std::uint64_t best = 0;
  CtxMac key{ctx, mac.as_u64()};
  if (auto it = macs_.find(key); it != macs_.end())
    for (const auto& e : it->second)
      best = std::max(best, e.rec.seq);
  if (auto it = claims_.find(key); it != claims_.end()) best = std::max(best, it->second.seq);
  return best;
}

void DirectoryModel::mark_host_macs(const std::string& host) {
  if (all_dirty_) return;  // every MAC is judged anyway
  auto it = by_host_.find(host);
  if (it == by_host_.end()) return;
  auto& keys = it->second;
  // Compact the index while walking it, so deleted entries do not pile up.
  std::size_t kept = 0;
  std::unordered_set<CtxMac, CtxMacHash> seen;
  for (const auto& key : keys) {
    auto m = macs_.find(key);
    if (m == macs_.end()) continue;
    bool named = std::any_of(m->second.begin(), m->second.end(),
                             [&](const MacEntry& e) { return e.host == host; });
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

std::optional<MacView> DirectoryModel::judge_mac(const CtxMac& k) {
  auto it = macs_.find(k);
  if (it == macs_.end()) return std::nullopt;
  const ClaimRecord* c = nullptr;
  if (auto ci = claims_.find(k); ci != claims_.end()) c = &ci->second;
  const MacEntry* best = nullptr;
  bool best_claimed = false;
  for (auto& e : it->second) {
    auto h = believed_.find(e.host);
    if (h == believed_.end()) continue;  // host not (yet) registered: held, not judged
    const HostRecord& host = h->second;
    bool ok = e.rec.address == host.address &&
              std::binary_search(host.contexts.begin(), host.contexts.end(), k.ctx);
    if (!ok) {
      if (!e.refused) counters_.inc(ClusterCounter::kRefused);
      e.refused = true;
      continue;
    }
    e.refused = false;
    bool claimed = c != nullptr && c->host == e.host && c->seq == e.rec.seq;
    bool better =
        best == nullptr || (claimed && !best_claimed) ||
        (claimed == best_claimed &&
         (e.rec.seq > best->rec.seq || (e.rec.seq == best->rec.seq && e.host < best->host)));
    if (better) {
      best = &e;
      best_claimed = claimed;
    }
  }
  if (best == nullptr || best->host == self_) return std::nullopt;
  return MacView{best->host, best->rec.address, best->rec.ips, best->rec.seq};
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
    for (const auto& [k, v] : macs_)
      dirty_macs_.push_back(k);
    for (const auto& [k, v] : mac_view_)
      dirty_macs_.push_back(k);
  }
  std::sort(dirty_macs_.begin(), dirty_macs_.end());
  dirty_macs_.erase(std::unique(dirty_macs_.begin(), dirty_macs_.end()), dirty_macs_.end());
  for (const auto& k : dirty_macs_) {
    auto nv = judge_mac(k);
    auto old = mac_view_.find(k);
    if (!nv) {
      if (old == mac_view_.end()) continue;
      mac_view_.erase(old);
      out.push_back(Change{Change::Kind::kMacRemoved, {}, k.ctx, mac_from_u64(k.mac), {}});
      maybe_spill();
      continue;
    }
    if (old != mac_view_.end() && old->second == *nv) continue;
    out.push_back(Change{Change::Kind::kMacSet, {}, k.ctx, mac_from_u64(k.mac), *nv});
    mac_view_.insert_or_assign(k, std::move(*nv));
    maybe_spill();
  }
  dirty_macs_.clear();
  for (auto& name : downs) {
    HostRecord h;
    h.name = std::move(name);
    out.push_back(Change{Change::Kind::kHostDown, std::move(h), 0, {}, {}});
  }
  hosts_dirty_ = false;
  all_dirty_ = false;
}

}  // namespace stt::cluster
