#include "daemon/fast_path.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <unordered_set>

#include "linux/bpf_selftest.hpp"

namespace stt::daemon {

namespace {

std::uint32_t be_addr(const wire::IpAddr& a) {
  std::uint32_t v;
  std::memcpy(&v, a.data(), 4);
  return v;
}

std::uint64_t mac_key(const std::array<std::uint8_t, 6>& m) {
  std::uint64_t v = 0;
  for (const auto x : m)
    v = v << 8 | x;
  return v;
}

std::array<std::uint8_t, 6> mac_of(std::uint64_t k) {
  std::array<std::uint8_t, 6> m;
  for (std::size_t i = 0; i < 6; ++i)
    m[i] = static_cast<std::uint8_t>(k >> (8 * (5 - i)));
  return m;
}

}  // namespace

nlohmann::json FastPathStatus::json() const {
  return {{"mode", active ? "bpf" : "off"},
          {"configured", std::string(to_string(configured))},
          {"reason", reason}};
}

std::unique_ptr<FastPath> FastPath::start(const FastPathSettings& s, FastPathStatus* status) {
  status->configured = s.mode;
  status->active = false;
  // A filter left on our port by a killed instance would keep redirecting into TAPs that
  // are gone: removed whatever this run does (a new one replaces it in place anyway).
  if (sys::remove_stale_bpf_filter(s.underlay_ifindex, s.port)) {
    spdlog::warn("removed a stale fast-path filter from {} left by a previous instance",
                 s.underlay_name);
  }
  if (s.mode == FastPathSetting::kOff) {
    status->reason = "fast_path = \"off\" in the config";
    return nullptr;
  }
  auto unavailable = [&](std::string why) -> std::unique_ptr<FastPath> {
    if (s.mode == FastPathSetting::kBpf) {
      throw std::runtime_error(fmt::format("fast_path = \"bpf\": {}", why));
    }
    status->reason = std::move(why);
    return nullptr;
  };
  if (!s.local.is_v4()) return unavailable("the kernel path carries only an IPv4 underlay");
  const sys::BpfSelfTestResult t = sys::run_bpf_selftest();
  if (!t.ok) return unavailable(fmt::format("kernel self-test failed: {}", t.reason));
  sys::BpfFastPathConfig c;
  c.underlay_ifindex = s.underlay_ifindex;
  c.local_addr_be = be_addr(s.local);
  c.port = s.port;
  c.underlay_mtu = s.underlay_mtu;
  c.local_mac = s.underlay_mac.b;
  c.dscp_uniform = s.dscp_uniform;
  c.pipe_dscp = s.pipe_dscp;
  c.ecn_normal = s.ecn_normal;
  c.tx = s.tx;
  std::unique_ptr<FastPath> fp;
  try {
    fp.reset(new FastPath(c));
    fp->bpf_.attach_underlay();
  } catch (const std::exception& e) {
    return unavailable(e.what());
  }
  status->active = true;
  status->reason = fmt::format("self-test passed ({} checks)", t.passed.size());
  return fp;
}

std::uint32_t FastPath::slot_of(std::uint64_t context_id) const {
  const auto it = nets_.find(context_id);
  return it == nets_.end() ? 0 : it->second.slot;
}

void FastPath::sync_networks(std::span<const NetworkView> nets) {
  std::vector<std::uint64_t> gone;
  for (const auto& [key, n] : nets_) {
    const std::uint64_t ctx = key;  // a copy: clang 14 cannot capture a structured binding
    const auto it = std::find_if(nets.begin(), nets.end(),
                                 [&](const NetworkView& v) { return v.context_id == ctx; });
    if (it == nets.end() || it->tap_ifindex != n.tap_ifindex) gone.push_back(ctx);
  }
  for (const std::uint64_t ctx : gone)
    remove_network(ctx);
  for (const NetworkView& v : nets) {
    const auto it = nets_.find(v.context_id);
    if (it == nets_.end()) {
      add_network(v);
    } else if (it->second.tap_mtu != v.tap_mtu) {
      warn_if_tap_mtu_splits_flows(v);
      bpf_.set_network(v.context_id, v.tap_ifindex, it->second.slot, v.tap_mtu);
      it->second.tap_mtu = v.tap_mtu;
    }
  }
}

void FastPath::add_network(const NetworkView& v) {
  std::uint32_t slot = 1;
  while (slot < STT_BPF_MAX_NETWORKS && slot_used_[slot])
    ++slot;
  if (slot == STT_BPF_MAX_NETWORKS) {
    throw std::runtime_error("fast path: more networks than the programs' maps hold");
  }
  warn_if_tap_mtu_splits_flows(v);
  bpf_.set_network(v.context_id, v.tap_ifindex, slot, v.tap_mtu);
  bpf_.attach_tap(v.tap_ifindex, v.context_id, slot);
  slot_used_[slot] = true;
  nets_[v.context_id] = Net{slot, v.tap_ifindex, v.tap_mtu, {}, {}};
}

// The transmit program cannot make a frame that arrives without GSO into a GSO packet, so one
// that needs more than one outer segment goes to sttd. A TCP sender emits MSS-sized segments
// alone now and then (small windows, pacing, retransmissions): with a TAP MTU above this bound
// they take sttd while their neighbours take the kernel, and the receiver sees the flow
// reordered. An MTU within it keeps every unicast frame of a known peer in the kernel.
void FastPath::warn_if_tap_mtu_splits_flows(const NetworkView& v) const {
  // Outer IPv4 and TCP headers, the STT header, the inner Ethernet header.
  constexpr std::uint32_t kOverhead = 20 + 20 + 18 + 14;
  if (underlay_mtu_ <= kOverhead || v.tap_mtu <= underlay_mtu_ - kOverhead) return;
  spdlog::warn(
      "network with context ID {:#x}: TAP MTU {} exceeds {} (underlay MTU {} less {} bytes of "
      "headers): frames sent without GSO that need more than one outer segment go through "
      "sttd instead of the kernel path, and a TCP flow split between the two arrives "
      "reordered; mtu = {} keeps every frame in the kernel",
      v.context_id, v.tap_mtu, underlay_mtu_ - kOverhead, underlay_mtu_, kOverhead,
      underlay_mtu_ - kOverhead);
}

void FastPath::remove_network(std::uint64_t context_id) {
  const auto it = nets_.find(context_id);
  if (it == nets_.end()) return;
  Net& n = it->second;
  bpf_.detach_tap(n.tap_ifindex);
  bpf_.remove_network(context_id);
  for (const std::uint32_t p : n.peers)
    bpf_.set_net_peer(n.slot, p, false);
  for (const auto& [mac, peer] : n.fdb)
    bpf_.remove_fdb(n.slot, mac_of(mac));
  slot_used_[n.slot] = false;
  nets_.erase(it);
}

void FastPath::sync_peers(std::span<const Peer> peers) {
  std::unordered_set<std::uint32_t> seen;
  for (const Peer& p : peers) {
    if (p.addr.is_v4()) seen.insert(be_addr(p.addr));
  }
  // Removals first: they free the rows a full table needs for the additions.
  for (auto it = peers_.begin(); it != peers_.end();) {
    if (seen.count(it->first) == 0) {
      bpf_.remove_peer(it->first);
      it = peers_.erase(it);
    } else {
      ++it;
    }
  }
  for (const Peer& p : peers) {
    if (!p.addr.is_v4()) continue;
    const std::uint32_t a = be_addr(p.addr);
    const auto it = peers_.find(a);
    if (it != peers_.end() && it->second.resolved == p.resolved &&
        it->second.next_hop == p.next_hop) {
      continue;
    }
    bpf_.set_peer(a, p.resolved, p.next_hop.b);
    peers_[a] = p;
  }
}

void FastPath::sync_network_peers(std::uint64_t context_id, std::span<const wire::IpAddr> peers) {
  const auto it = nets_.find(context_id);
  if (it == nets_.end()) return;
  Net& n = it->second;
  std::vector<std::uint32_t> want;
  for (const auto& p : peers) {
    if (p.is_v4()) want.push_back(be_addr(p));
  }
  for (const std::uint32_t a : n.peers) {
    if (std::find(want.begin(), want.end(), a) == want.end()) bpf_.set_net_peer(n.slot, a, false);
  }
  for (const std::uint32_t a : want) {
    if (std::find(n.peers.begin(), n.peers.end(), a) == n.peers.end()) {
      bpf_.set_net_peer(n.slot, a, true);
    }
  }
  n.peers = std::move(want);
}

void FastPath::sync_fdb(std::uint64_t context_id, std::span<const FdbEntry> entries) {
  const auto it = nets_.find(context_id);
  if (it == nets_.end()) return;
  Net& n = it->second;
  std::unordered_map<std::uint64_t, std::uint32_t> want;
  for (const FdbEntry& e : entries) {
    if (e.peer.is_v4() && !e.mac.is_multicast()) want[mac_key(e.mac.b)] = be_addr(e.peer);
  }
  for (const auto& [k, peer] : n.fdb) {
    if (want.count(k) == 0) bpf_.remove_fdb(n.slot, mac_of(k));
  }
  for (const auto& [k, peer] : want) {
    const auto old = n.fdb.find(k);
    if (old == n.fdb.end() || old->second != peer) bpf_.set_fdb(n.slot, mac_of(k), peer);
  }
  n.fdb = std::move(want);
}

void FastPath::poll_learned(
    const std::function<void(std::uint64_t, const wire::MacAddr&, const wire::IpAddr&)>& learn) {
  std::uint64_t newest = learned_since_ns_;
  for (const sys::BpfLearned& l : bpf_.learned()) {
    if (l.seen_ns <= learned_since_ns_) continue;
    newest = std::max(newest, l.seen_ns);
    for (const auto& [ctx, n] : nets_) {
      if (n.slot != l.slot) continue;
      wire::MacAddr mac;
      mac.b = l.mac;
      learn(ctx, mac, wire::IpAddr::v4(reinterpret_cast<const std::uint8_t*>(&l.peer_be)));
      break;
    }
  }
  learned_since_ns_ = newest;
}

sys::BpfCounters FastPath::counters(std::optional<std::uint64_t> context_id) const {
  if (!context_id) return bpf_.counters(0);
  const std::uint32_t slot = slot_of(*context_id);
  return slot == 0 ? sys::BpfCounters{} : bpf_.counters(slot);
}

}  // namespace stt::daemon
