#include "daemon/cluster_agent.hpp"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "cluster/neighbour.hpp"

namespace stt::daemon {

namespace {

constexpr std::uint64_t kAgeCheckNs = 1'000'000'000;

cluster::DirectoryConfig directory_config(const Config& cfg, const Dataplane& dp) {
  const ClusterConfig& c = *cfg.cluster;
  cluster::DirectoryConfig d;
  d.etcd.endpoints = c.etcd;
  d.etcd.tls_ca = c.tls_ca;
  d.etcd.tls_cert = c.tls_cert;
  d.etcd.tls_key = c.tls_key;
  d.etcd.user = c.user;
  if (!c.password_file.empty()) {
    std::ifstream in(c.password_file);
    if (!in || !std::getline(in, d.etcd.password))
      throw std::runtime_error(c.password_file + ": cannot read the etcd password");
  }
  d.prefix = c.prefix;
  d.lease_ttl_s = c.lease_ttl_s;
  d.limits.max_hosts = c.max_hosts;
  d.limits.max_macs = c.max_macs;
  d.limits.max_value_bytes = c.max_value_bytes;
  d.limits.max_ips = c.max_ips;
  d.self.name = c.name;
  d.self.address = cfg.local;
  d.self.port = cfg.port;
  for (const auto& n : dp.networks())
    d.self.contexts.push_back(n->cfg.context_id);
  std::sort(d.self.contexts.begin(), d.self.contexts.end());
  return d;
}

}  // namespace

constexpr core::CounterNames<AgentCounter> kAgentCounterNames({
    {AgentCounter::kArpSuppressed, "cluster_arp_suppressed"},
    {AgentCounter::kNdSuppressed, "cluster_nd_suppressed"},
    {AgentCounter::kSuppressWriteErr, "cluster_suppress_write_error"},
    {AgentCounter::kSnooped, "cluster_snooped"},
    {AgentCounter::kLocalPublished, "cluster_local_published"},
    {AgentCounter::kLocalWithdrawn, "cluster_local_withdrawn"},
    {AgentCounter::kLocalTableFull, "cluster_local_table_full"},
    {AgentCounter::kHostIgnored, "cluster_host_ignored"},
    {AgentCounter::kMacNoNetwork, "cluster_mac_no_network"},
    {AgentCounter::kMacFdbRefused, "cluster_mac_fdb_refused"},
});

std::string_view counter_name(AgentCounter c) {
  return kAgentCounterNames(c);
}

ClusterAgent::ClusterAgent(const Config& cfg, Dataplane& dp, PacketIo& io)
    : cfg_(cfg), dp_(dp), io_(io) {
  dir_ = std::make_unique<cluster::Directory>(directory_config(cfg, dp));
  local_.reserve(kMaxLocalMacs);
  sync_static();  // queued: the Directory publishes them once it is connected
}

void ClusterAgent::sync_static() {
  std::vector<cluster::CtxMac> want;
  for (const auto& np : dp_.networks()) {
    for (const auto& e : np->cfg.fdb) {
      if (e.peer == cfg_.local) want.push_back(cluster::CtxMac{np->cfg.context_id, e.mac.as_u64()});
    }
  }
  std::sort(want.begin(), want.end());
  for (auto it = local_.begin(); it != local_.end();) {
    if (!it->second.pinned || std::binary_search(want.begin(), want.end(), it->first)) {
      ++it;
      continue;
    }
    dir_->withdraw_local(it->first.ctx, cluster::mac_from_u64(it->first.mac));
    counters_.inc(AgentCounter::kLocalWithdrawn);
    it = local_.erase(it);
  }
  for (const auto& k : want) {
    auto it = local_.try_emplace(k).first;
    if (it->second.pinned) continue;
    it->second.pinned = true;
    counters_.inc(AgentCounter::kLocalPublished);
    dir_->publish_local(k.ctx, cluster::mac_from_u64(k.mac), it->second.ips);
  }
}

ClusterAgent::~ClusterAgent() {
  if (loop_ != nullptr) stop(*loop_);
}

void ClusterAgent::start(EventLoop& loop) {
  loop_ = &loop;
  loop.add(dir_->event_fd(), [this](std::uint32_t) { on_changes(); });
  dp_.set_tap_hook(this);
  dir_->start();
}

void ClusterAgent::stop(EventLoop& loop) {
  dp_.set_tap_hook(nullptr);
  loop.remove(dir_->event_fd());
  dir_->stop(true);
  loop_ = nullptr;
}

bool ClusterAgent::usable_peer(const wire::IpAddr& a) const {
  return a.version() == cfg_.local.version() && a != cfg_.local;
}

void ClusterAgent::on_changes() {
  changes_.clear();
  dir_->take_changes(changes_);
  // The first chunk of a full read: size the tables for the whole read once.
  if (changes_.size() >= cluster::DirectoryModel::kSpillEvery && !burst_) {
    const std::size_t n = dir_->read_macs();
    macs_.reserve(n);
    neigh_.reserve(n);
  }
  apply(changes_);
  burst_ = burst_ || changes_.size() >= cluster::DirectoryModel::kSpillEvery;
  changes_.clear();
  if (burst_ && dir_->drained()) {
    burst_ = false;
    // A full read (start, reconnect) handed over its changes in chunks that are all applied
    // now: give the heap they took back to the system, so the resident size is what the
    // tables hold rather than the burst's high-water mark.
    changes_.shrink_to_fit();
    ::malloc_trim(0);
  }
}

void ClusterAgent::apply(const std::vector<cluster::Change>& changes) {
  for (const auto& c : changes) {
    switch (c.kind) {
      case cluster::Change::Kind::kHostUp:
        host_up(c.host);
        break;
      case cluster::Change::Kind::kHostDown:
        host_down(c.host.name);
        break;
      case cluster::Change::Kind::kMacSet:
        mac_set(c.ctx, c.mac, c.view);
        break;
      case cluster::Change::Kind::kMacRemoved:
        mac_removed(c.ctx, c.mac);
        break;
    }
  }
}

void ClusterAgent::host_up(const cluster::HostRecord& h) {
  const cluster::HostRecord* old = nullptr;
  if (auto it = hosts_.find(h.name); it != hosts_.end()) old = &it->second;
  const bool ok = usable_peer(h.address);
  if (!ok) counters_.inc(AgentCounter::kHostIgnored);
  for (const auto& np : dp_.networks()) {
    Network& n = *np;
    const std::uint64_t ctx = n.cfg.context_id;
    const bool had = old != nullptr && usable_peer(old->address) &&
                     std::binary_search(old->contexts.begin(), old->contexts.end(), ctx);
    const bool want = ok && std::binary_search(h.contexts.begin(), h.contexts.end(), ctx);
    const bool same = had && want && old->address == h.address;
    if (had && !same)
      dp_.remove_peer(n, old->address, static_cast<PeerSources>(PeerSource::kCluster));
    if (want && !same) dp_.add_peer(n, h.address, PeerSource::kCluster);
  }
  hosts_[h.name] = h;
}

void ClusterAgent::networks_changed() {
  std::vector<std::uint64_t> contexts;
  for (const auto& np : dp_.networks()) {
    Network& n = *np;
    contexts.push_back(n.cfg.context_id);
    for (const auto& [name, h] : hosts_) {
      // Adding a source a peer already has is a no-op: this only fills in new networks.
      if (usable_peer(h.address) &&
          std::binary_search(h.contexts.begin(), h.contexts.end(), n.cfg.context_id))
        dp_.add_peer(n, h.address, PeerSource::kCluster);
    }
  }
  dir_->set_contexts(std::move(contexts));
  sync_static();
}

void ClusterAgent::host_down(const std::string& name) {
  auto it = hosts_.find(name);
  if (it == hosts_.end()) return;
  const cluster::HostRecord& h = it->second;
  if (usable_peer(h.address)) {
    for (const auto& np : dp_.networks()) {
      if (std::binary_search(h.contexts.begin(), h.contexts.end(), np->cfg.context_id))
        dp_.remove_peer(*np, h.address, static_cast<PeerSources>(PeerSource::kCluster));
    }
  }
  hosts_.erase(it);
}

void ClusterAgent::mac_set(std::uint64_t ctx, const wire::MacAddr& mac, const cluster::MacView& v) {
  mac_removed(ctx, mac);  // the previous owner's entry and addresses, if any
  Network* n = dp_.network_switch().by_context(ctx);
  if (n == nullptr) {
    counters_.inc(AgentCounter::kMacNoNetwork);
    return;
  }
  if (n->fdb.add_cluster(mac, v.address) != FdbResult::kOk) {
    counters_.inc(AgentCounter::kMacFdbRefused);
    return;
  }
  for (const auto& ip : v.ips)
    *neigh_.try_emplace(NeighKey{ctx, ip}).first = mac;
  *macs_.try_emplace(cluster::CtxMac{ctx, mac.as_u64()}).first = v.ips;
  // It lives elsewhere now: if it was ours, stop tracking it (seen here again = moved back).
  // A static entry stays: this host keeps speaking for it while it is configured.
  if (auto l = local_.find(cluster::CtxMac{ctx, mac.as_u64()});
      l != local_.end() && !l->second.pinned)
    local_.erase(l);
}

void ClusterAgent::mac_removed(std::uint64_t ctx, const wire::MacAddr& mac) {
  const cluster::CtxMac key{ctx, mac.as_u64()};
  const cluster::IpList* ips = macs_.find(key);
  if (ips == nullptr) return;
  for (const auto& ip : *ips) {
    const NeighKey nk{ctx, ip};
    if (const wire::MacAddr* m = neigh_.find(nk); m != nullptr && *m == mac) neigh_.erase(nk);
  }
  if (Network* n = dp_.network_switch().by_context(ctx)) n->fdb.del_cluster(mac);
  macs_.erase(key);
}

bool ClusterAgent::on_tap_frame(Network& n, const std::uint8_t* frame, std::size_t len,
                                std::uint64_t now_ns) {
  if (len < 14) return false;
  const std::uint64_t ctx = n.cfg.context_id;
  wire::MacAddr src;
  std::memcpy(src.b.data(), frame + 6, 6);
  if (src.is_multicast() || src.is_zero()) return false;

  // Local tenant tracking: a new MAC (or a new address of one) is handed to the directory.
  const cluster::CtxMac key{ctx, src.as_u64()};
  auto it = local_.find(key);
  bool publish = false;
  if (it == local_.end()) {
    if (local_.size() >= kMaxLocalMacs) {
      counters_.inc(AgentCounter::kLocalTableFull);
    } else {
      it = local_.emplace(key, LocalMac{}).first;
      publish = true;
    }
  }
  const std::uint16_t type = static_cast<std::uint16_t>((frame[12] << 8) | frame[13]);
  const bool neighbour_type = type == 0x0806 || type == 0x86dd;
  if (it != local_.end()) {
    it->second.last_seen_ns = now_ns;
    if (neighbour_type) {
      if (auto s = cluster::snoop(frame, len); s && s->mac == src) {
        auto& ips = it->second.ips;
        if (std::find(ips.begin(), ips.end(), s->ip) == ips.end() &&
            ips.size() < cfg_.cluster->max_ips) {
          ips.push_back(s->ip);
          counters_.inc(AgentCounter::kSnooped);
          publish = true;
        }
      }
    }
    if (publish) {
      counters_.inc(AgentCounter::kLocalPublished);
      dir_->publish_local(ctx, src, it->second.ips);
    }
  }

  // Suppression: a request for a directory address is answered here.
  if (!neighbour_type || !cfg_.cluster->suppress || neigh_.empty()) return false;
  auto q = cluster::neighbour_query(frame, len);
  if (!q) return false;
  const wire::MacAddr* answer = neigh_.find(NeighKey{ctx, q->target});
  if (answer == nullptr) return false;
  std::uint8_t reply[cluster::kNeighbourReplyMax];
  const std::size_t rlen = cluster::build_neighbour_reply(*q, *answer, reply, sizeof reply);
  if (rlen == 0 || io_.write_tap(n.tap, core::OffloadInfo{}, reply, rlen) != 0) {
    counters_.inc(AgentCounter::kSuppressWriteErr);
    return false;
  }
  counters_.inc(q->target.is_v4() ? AgentCounter::kArpSuppressed : AgentCounter::kNdSuppressed);
  return true;
}

void ClusterAgent::tick(std::uint64_t now_ns) {
  if (now_ns < next_age_ns_) return;
  next_age_ns_ = now_ns + kAgeCheckNs;
  const std::uint64_t ageing_ns = std::uint64_t{cfg_.fdb_ageing_s} * 1'000'000'000ull;
  for (auto it = local_.begin(); it != local_.end();) {
    if (it->second.pinned || now_ns - it->second.last_seen_ns < ageing_ns) {
      ++it;
      continue;
    }
    dir_->withdraw_local(it->first.ctx, cluster::mac_from_u64(it->first.mac));
    counters_.inc(AgentCounter::kLocalWithdrawn);
    it = local_.erase(it);
  }
}

nlohmann::json ClusterAgent::counters_json() const {
  nlohmann::json counters = nlohmann::json::object();
  auto put = [&](std::string_view name, std::uint64_t v) { counters[std::string(name)] = v; };
  dir_->status().counters.for_each(put);
  counters_.for_each(put);
  return counters;
}

nlohmann::json ClusterAgent::status_json() const {
  const cluster::DirectoryStatus s = dir_->status();
  nlohmann::json j = {{"state", std::string(cluster::state_name(s.state))},
                      {"name", s.name},
                      {"endpoint", s.endpoint},
                      {"revision", s.revision},
                      {"lease_id", s.lease_id},
                      {"lease_ttl", s.lease_ttl_s},
                      {"hosts", s.hosts},
                      {"macs", s.macs},
                      {"local_macs", local_.size()},
                      {"published_macs", s.local_macs},
                      {"last_error", s.last_error},
                      {"reconnects", s.reconnects},
                      {"registrations", s.registrations},
                      {"moves_won", s.moves_won},
                      {"moves_lost", s.moves_lost},
                      {"peers", hosts_.size()},
                      {"fdb_entries", macs_.size()},
                      {"suppression_entries", neigh_.size()}};
  j["counters"] = counters_json();
  return j;
}

}  // namespace stt::daemon
