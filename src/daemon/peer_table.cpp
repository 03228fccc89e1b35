#include "daemon/peer_table.hpp"

#include <linux/neighbour.h>

#include <algorithm>
#include <cstring>
#include <random>

namespace stt::daemon {
namespace {

constexpr std::uint64_t kMs = 1'000'000;
constexpr std::uint64_t kResolvedRecheckNs = 5000 * kMs;
constexpr std::uint64_t kUnresolvedRecheckNs = 20 * kMs;
constexpr std::uint64_t kSolicitIntervalNs = 1000 * kMs;
constexpr std::uint64_t kNoRouteRecheckNs = 1000 * kMs;

constexpr PeerSource kSources[] = {PeerSource::kConfig, PeerSource::kCluster, PeerSource::kRuntime};

}  // namespace

std::string_view to_string(PeerSource s) {
  switch (s) {
    case PeerSource::kConfig:
      return "config";
    case PeerSource::kCluster:
      return "cluster";
    case PeerSource::kRuntime:
      return "runtime";
  }
  return "unknown";
}

std::vector<std::string_view> source_names(PeerSources s) {
  std::vector<std::string_view> out;
  for (PeerSource x : kSources) {
    if (s & static_cast<PeerSources>(x)) out.push_back(to_string(x));
  }
  return out;
}

std::optional<sys::RouteInfo> StaticNextHops::route(const wire::IpAddr&) {
  sys::RouteInfo r;
  r.oif = ifindex_;
  return r;
}

std::optional<sys::NeighInfo> StaticNextHops::neighbour(int, const wire::IpAddr&) {
  sys::NeighInfo n;
  n.state = NUD_PERMANENT;
  n.mac = mac_;
  return n;
}

PeerSources Peer::sources() const {
  PeerSources s = 0;
  for (const Ref& r : refs)
    s |= r.sources;
  return s;
}

PeerSources Peer::sources(const Network* n) const {
  for (const Ref& r : refs) {
    if (r.net == n) return r.sources;
  }
  return 0;
}

PeerTable::PeerTable(const PeerTableOptions& opt, NextHopSource& next_hops, ReadyFn ready,
                     DroppedFn dropped)
    : opt_(opt),
      next_hops_(next_hops),
      ready_(std::move(ready)),
      dropped_(std::move(dropped)),
      pool_(opt.policy.pending_total) {}

std::vector<const Peer*> PeerTable::sorted() const {
  std::vector<const Peer*> out;
  out.reserve(peers_.size());
  for (const auto& [a, p] : peers_)
    out.push_back(p.get());
  std::sort(out.begin(), out.end(), [](const Peer* x, const Peer* y) { return x->addr < y->addr; });
  return out;
}

Peer& PeerTable::ref(const Network& n, const wire::IpAddr& a, PeerSources sources,
                     std::uint64_t now) {
  if (Peer* p = find(a)) {
    for (Peer::Ref& r : p->refs) {
      if (r.net == &n) {
        r.sources |= sources;
        return *p;
      }
    }
    p->refs.push_back({&n, sources});
    return *p;
  }
  core::TunnelConfig tc;
  tc.src_mac = opt_.underlay_mac;
  tc.src = opt_.local;
  tc.dst = a;
  tc.dst_port = opt_.port;
  tc.mtu = static_cast<std::uint16_t>(std::min<std::uint32_t>(opt_.underlay_mtu, 65535));
  tc.dscp_mode = opt_.policy.dscp_mode;
  tc.pipe_dscp = opt_.policy.pipe_dscp;
  tc.ecn_mode = opt_.policy.ecn_mode;
  std::random_device rd;
  auto p = std::make_unique<Peer>(tc, static_cast<std::uint32_t>(rd()));
  p->addr = a;
  p->refs.push_back({&n, sources});
  p->pending.reserve(opt_.policy.pending_per_peer);
  Peer& out = *p;
  peers_.emplace(a, std::move(p));
  check(out, now);  // look the next hop up (and ask for it) right away
  return out;
}

template <typename Pred>
void PeerTable::drop_pending_if(Peer& p, Pred drop) {
  auto keep = std::remove_if(p.pending.begin(), p.pending.end(), [&](const Pending& q) {
    if (!drop(q)) return false;
    dropped_(q.net);
    pool_.release(q.buf);
    return true;
  });
  p.pending.erase(keep, p.pending.end());
}

PeerSources PeerTable::unref(const Network& n, const wire::IpAddr& a, PeerSources sources) {
  Peer* p = find(a);
  if (p == nullptr) return 0;
  for (Peer::Ref& r : p->refs) {
    if (r.net != &n) continue;
    r.sources &= static_cast<PeerSources>(~sources);
    if (r.sources != 0) return r.sources;
  }
  // Frames of this network queued for the peer go too.
  drop_pending_if(*p, [&](const Pending& q) { return q.net == &n; });
  p->refs.erase(std::remove_if(p->refs.begin(), p->refs.end(),
                               [&](const Peer::Ref& r) { return r.net == &n; }),
                p->refs.end());
  if (p->refs.empty()) {
    drop_pending_if(*p, [](const Pending&) { return true; });
    peers_.erase(a);
  }
  return 0;
}

bool PeerTable::enqueue(Network& n, Peer& p, const core::PacketBuffer& frame,
                        const core::OffloadInfo& vnet, std::uint64_t now) {
  if (p.pending.size() >= opt_.policy.pending_per_peer) return false;
  core::PacketBuffer* q = pool_.acquire();
  if (q == nullptr || q->tailroom() < frame.size()) {
    if (q) pool_.release(q);
    return false;
  }
  std::memcpy(q->data(), frame.data(), frame.size());
  q->set_size(frame.size());
  p.pending.push_back({q, vnet, &n, now});
  if (now >= p.next_solicit_ns) p.next_check_ns = now;  // look again on this tick
  return true;
}

void PeerTable::release_pending(Peer& p) {
  for (auto& q : p.pending)
    pool_.release(q.buf);
  p.pending.clear();
}

void PeerTable::tick(std::uint64_t now) {
  for (auto& [addr, p] : peers_) {
    if (now >= p->next_check_ns) check(*p, now);
    if (!p->pending.empty() && now > opt_.policy.pending_timeout_ns) {
      const std::uint64_t older_than = now - opt_.policy.pending_timeout_ns;
      drop_pending_if(*p, [&](const Pending& q) { return q.since_ns < older_than; });
    }
  }
}

void PeerTable::check(Peer& p, std::uint64_t now) {
  auto route = next_hops_.route(p.addr);
  if (!route) {
    p.resolved = false;
    p.status = "no route";
    p.next_check_ns = now + kNoRouteRecheckNs;
    return;
  }
  if (route->oif != opt_.underlay_ifindex) {
    p.resolved = false;
    p.status =
        "route leaves through ifindex " + std::to_string(route->oif) + ", not " + opt_.underlay;
    p.next_check_ns = now + kNoRouteRecheckNs;
    return;
  }
  p.next_hop = route->gateway.value_or(p.addr);
  auto nb = next_hops_.neighbour(route->oif, p.next_hop);
  p.neigh_state = nb ? nb->state_name() : "none";
  if (nb && nb->usable()) {
    p.tunnel.set_next_hop(*nb->mac);
    p.resolved = true;
    p.status = "ok";
    // A stale entry still has the right MAC in all likelihood; ask the
    // kernel to confirm it, since our traffic bypasses its neighbour code.
    if ((nb->state & NUD_STALE) && now >= p.next_solicit_ns) {
      next_hops_.resolve(route->oif, p.next_hop);
      p.next_solicit_ns = now + kSolicitIntervalNs;
    }
    p.next_check_ns = now + kResolvedRecheckNs;
    if (!p.pending.empty()) ready_(p);
    return;
  }
  p.resolved = false;
  p.status = "resolving";
  if (now >= p.next_solicit_ns) {
    next_hops_.resolve(route->oif, p.next_hop);
    p.next_solicit_ns = now + kSolicitIntervalNs;
  }
  p.next_check_ns = now + kUnresolvedRecheckNs;
}

}  // namespace stt::daemon
