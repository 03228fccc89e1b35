#include "daemon/dataplane.hpp"

#include <linux/neighbour.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>

#include "wire/headers.hpp"

namespace stt::daemon {
namespace {

constexpr int kTapBurst = 64;           // frames read from one TAP per wakeup
constexpr int kRxRounds = 4;            // recvmmsg calls per wakeup
constexpr std::size_t kTxBuffers = 32;  // frames in flight in one send batch
// Outer packets one inner frame can produce at most (a 64 KB frame cut at a
// 1280-byte MTU, with room for an inner software-GSO fallback).
constexpr std::size_t kBatchReserve = 160;
constexpr std::uint64_t kMs = 1'000'000;
constexpr std::uint64_t kHousekeepingNs = 250 * kMs;
constexpr std::uint64_t kResolvedRecheckNs = 5000 * kMs;
constexpr std::uint64_t kUnresolvedRecheckNs = 20 * kMs;
constexpr std::uint64_t kSolicitIntervalNs = 1000 * kMs;
constexpr std::uint64_t kNoRouteRecheckNs = 1000 * kMs;

sys::LinkInfo lookup_underlay(sys::Netlink& nl, const DataplaneOptions& o) {
  const std::string& name = o.underlay;
  if (o.io != nullptr) {  // in-memory I/O: no interface behind it
    sys::LinkInfo l;
    l.mac = o.underlay_mac;
    l.mtu = o.underlay_mtu;
    return l;
  }
  auto link = nl.link(name);
  if (!link) {
    throw std::runtime_error("underlay interface '" + name +
                             "' not found: " + std::string(std::strerror(errno)));
  }
  return *link;
}

sys::PacketSocketOptions socket_options(const DataplaneOptions& o) {
  sys::PacketSocketOptions s;
  s.interface = o.underlay;
  s.local = o.local;
  s.port = o.port;
  return s;
}

template <typename E>
nlohmann::json counters_json(const core::CounterSet<E>& c) {
  nlohmann::json j = nlohmann::json::object();
  c.for_each([&](std::string_view name, std::uint64_t v) { j[std::string(name)] = v; });
  return j;
}

}  // namespace

std::string_view counter_name(DpCounter c) {
  switch (c) {
    case DpCounter::kTxFrames:
      return "tx_frames";
    case DpCounter::kTxBytes:
      return "tx_bytes";
    case DpCounter::kTxUnicast:
      return "tx_unicast";
    case DpCounter::kTxFlooded:
      return "tx_flooded";
    case DpCounter::kTxQueued:
      return "tx_queued";
    case DpCounter::kTxPackets:
      return "tx_packets";
    case DpCounter::kTxTsoFrames:
      return "tx_tso_frames";
    case DpCounter::kTxGsoPackets:
      return "tx_gso_packets";
    case DpCounter::kTxSegments:
      return "tx_segments";
    case DpCounter::kTxDropTooShort:
      return "tx_drop_too_short";
    case DpCounter::kTxDropNoPeer:
      return "tx_drop_no_peer";
    case DpCounter::kTxDropNoNeighbour:
      return "tx_drop_no_neighbour";
    case DpCounter::kTxDropNoRoute:
      return "tx_drop_no_route";
    case DpCounter::kTxDropEncap:
      return "tx_drop_encap";
    case DpCounter::kTxDropSendError:
      return "tx_drop_send_error";
    case DpCounter::kTxDropTapRead:
      return "tx_drop_tap_read";
    case DpCounter::kRxPackets:
      return "rx_packets";
    case DpCounter::kRxBytes:
      return "rx_bytes";
    case DpCounter::kRxGroPackets:
      return "rx_gro_packets";
    case DpCounter::kRxSttFrames:
      return "rx_stt_frames";
    case DpCounter::kRxWholeFrames:
      return "rx_whole_frames";
    case DpCounter::kRxReassembledFrames:
      return "rx_reassembled_frames";
    case DpCounter::kRxDelivered:
      return "rx_delivered";
    case DpCounter::kTapGsoWrites:
      return "tap_gso_writes";
    case DpCounter::kTapCsumPartialWrites:
      return "tap_csum_partial_writes";
    case DpCounter::kRxDropTruncated:
      return "rx_drop_truncated";
    case DpCounter::kRxDropInvalid:
      return "rx_drop_invalid";
    case DpCounter::kRxDropBadHeader:
      return "rx_drop_bad_header";
    case DpCounter::kRxDropUnknownContext:
      return "rx_drop_unknown_context";
    case DpCounter::kRxDropNotPeer:
      return "rx_drop_not_peer";
    case DpCounter::kRxDropNotPeerSegments:
      return "rx_drop_not_peer_segments";
    case DpCounter::kRxDropDecap:
      return "rx_drop_decap";
    case DpCounter::kRxDropTapWrite:
      return "rx_drop_tap_write";
    case DpCounter::kRxRecvErrors:
      return "rx_recv_errors";
    case DpCounter::kCount:
      break;
  }
  return "unknown";
}

std::uint64_t Dataplane::now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

Dataplane::Dataplane(const DataplaneOptions& opt, sys::Netlink& nl)
    : opt_(opt),
      nl_(nl),
      underlay_(lookup_underlay(nl, opt)),
      underlay_mtu_(underlay_.mtu),
      sock_(opt.io ? nullptr : std::make_unique<sys::PacketSocket>(socket_options(opt))),
      reasm_(opt.reassembly),
      batch_(std::make_unique<core::TxBatch>()),
      pending_pool_(opt.pending_total),
      decap_out_(std::make_unique<core::DecapOutput>()) {
  rx_cfg_.port = opt.port;
  rx_cfg_.local = opt.local;
  opt_.decap.offload_consumer = true;  // TAPs take virtio-net headers
  tx_storage_.reserve(kTxBuffers);
  for (std::size_t i = 0; i < kTxBuffers; ++i)
    tx_storage_.emplace_back();
  for (auto& b : tx_storage_)
    tx_buffers_.push_back(&b);
}

Dataplane::~Dataplane() {
  for (EventLoop* l : attached_)
    detach(*l);
}

Network& Dataplane::add_network(const NetworkConfig& cfg, const FdbLimits& limits) {
  if (by_context_.count(cfg.context_id)) {
    throw std::runtime_error("network " + cfg.name + ": context ID already in use");
  }
  sys::TapOptions t;
  t.name = cfg.tap.empty() ? "stt-" + cfg.name : cfg.tap;
  t.mtu = cfg.mtu;
  t.create = opt_.io == nullptr;
  auto n = std::make_unique<Network>(cfg, t, limits);
  Network& net = *n;
  // Static entries are checked on the network's own FDB before it is
  // registered, so a refused entry leaves nothing behind.
  for (const auto& p : cfg.peers)
    net.fdb.add_peer(p);
  for (const auto& e : cfg.fdb) {
    const FdbResult r = net.fdb.add_static(e.mac, e.peer);
    if (r != FdbResult::kOk) {
      throw std::runtime_error("network " + cfg.name + ": static FDB entry " + e.mac.to_string() +
                               " -> " + e.peer.to_string() + ": " + std::string(to_string(r)));
    }
  }
  for (EventLoop* l : attached_) {
    Network* np = &net;
    l->add(net.tap.fd(), [this, np](std::uint32_t) { on_tap_readable(*np); });
  }
  networks_.push_back(std::move(n));
  by_context_[cfg.context_id] = &net;
  for (const auto& p : cfg.peers)
    ref_peer(p);
  return net;
}

void Dataplane::remove_network(Network& n) {
  for (EventLoop* l : attached_)
    l->remove(n.tap.fd());
  const std::vector<wire::IpAddr> peers(n.fdb.peers().begin(), n.fdb.peers().end());
  for (const auto& p : peers)
    remove_peer(n, p);
  by_context_.erase(n.cfg.context_id);
  networks_.erase(std::remove_if(networks_.begin(), networks_.end(),
                                 [&](const std::unique_ptr<Network>& x) { return x.get() == &n; }),
                  networks_.end());
}

void Dataplane::attach(EventLoop& loop) {
  for (auto& n : networks_) {
    Network* net = n.get();
    loop.add(net->tap.fd(), [this, net](std::uint32_t) { on_tap_readable(*net); });
  }
  if (sock_) loop.add(sock_->fd(), [this](std::uint32_t) { on_underlay_readable(); });
  attached_.push_back(&loop);
}

void Dataplane::detach(EventLoop& loop) {
  for (auto& n : networks_)
    loop.remove(n->tap.fd());
  if (sock_) loop.remove(sock_->fd());
  attached_.erase(std::remove(attached_.begin(), attached_.end(), &loop), attached_.end());
}

Network* Dataplane::network(std::string_view name) {
  for (auto& n : networks_) {
    if (n->cfg.name == name) return n.get();
  }
  return nullptr;
}

// ------------------------------------------------------------------ peers

Dataplane::Peer* Dataplane::peer(const wire::IpAddr& a) {
  auto it = peers_.find(a);
  return it == peers_.end() ? nullptr : it->second.get();
}

Dataplane::Peer& Dataplane::ref_peer(const wire::IpAddr& a) {
  if (Peer* p = peer(a)) {
    ++p->refs;
    return *p;
  }
  core::TunnelConfig tc;
  tc.src_mac = underlay_.mac;
  tc.src = opt_.local;
  tc.dst = a;
  tc.dst_port = opt_.port;
  tc.mtu = static_cast<std::uint16_t>(std::min<std::uint32_t>(underlay_mtu_, 65535));
  tc.dscp_mode = opt_.dscp_mode;
  tc.pipe_dscp = opt_.pipe_dscp;
  tc.ecn_mode = opt_.ecn_mode;
  tc.packet_id_mask = 0x7fffffffu;  // bit 31 is the kernel fast path's (D31)
  std::random_device rd;
  auto p = std::make_unique<Peer>(tc, static_cast<std::uint32_t>(rd()));
  p->addr = a;
  p->refs = 1;
  p->pending.reserve(opt_.pending_per_peer);
  Peer& ref = *p;
  peers_.emplace(a, std::move(p));
  check_peer(ref, now_ns());  // look the next hop up (and ask for it) right away
  return ref;
}

void Dataplane::unref_peer(const wire::IpAddr& a) {
  Peer* p = peer(a);
  if (!p || --p->refs > 0) return;
  for (auto& q : p->pending) {
    count(q.net, DpCounter::kTxDropNoNeighbour);
    pending_pool_.release(q.buf);
  }
  peers_.erase(a);
}

bool Dataplane::add_peer(Network& n, const wire::IpAddr& a) {
  if (!n.fdb.add_peer(a)) return false;
  ref_peer(a);
  return true;
}

bool Dataplane::remove_peer(Network& n, const wire::IpAddr& a) {
  if (!n.fdb.remove_peer(a)) return false;
  // Frames of this network queued for the peer go too.
  if (Peer* p = peer(a)) {
    auto keep = std::remove_if(p->pending.begin(), p->pending.end(), [&](const Pending& q) {
      if (q.net != &n) return false;
      count(q.net, DpCounter::kTxDropNoNeighbour);
      pending_pool_.release(q.buf);
      return true;
    });
    p->pending.erase(keep, p->pending.end());
  }
  unref_peer(a);
  return true;
}

void Dataplane::check_peer(Peer& p, std::uint64_t now) {
  if (opt_.io != nullptr) {  // in-memory I/O: a fixed next hop, no rtnetlink
    p.tunnel.set_next_hop(opt_.static_next_hop);
    p.next_hop = p.addr;
    p.resolved = true;
    p.status = "ok";
    p.next_check_ns = ~std::uint64_t{0};
    return;
  }
  auto route = nl_.route(p.addr);
  if (!route) {
    p.resolved = false;
    p.status = "no route";
    p.next_check_ns = now + kNoRouteRecheckNs;
    return;
  }
  if (route->oif != underlay_.index) {
    p.resolved = false;
    p.status =
        "route leaves through ifindex " + std::to_string(route->oif) + ", not " + opt_.underlay;
    p.next_check_ns = now + kNoRouteRecheckNs;
    return;
  }
  p.next_hop = route->gateway.value_or(p.addr);
  auto nb = nl_.neighbour(route->oif, p.next_hop);
  p.neigh_state = nb ? nb->state_name() : "none";
  if (nb && nb->usable()) {
    p.tunnel.set_next_hop(*nb->mac);
    p.resolved = true;
    p.status = "ok";
    // A stale entry still has the right MAC in all likelihood; ask the
    // kernel to confirm it, since our traffic bypasses its neighbour code.
    if ((nb->state & NUD_STALE) && now >= p.next_solicit_ns) {
      nl_.resolve(route->oif, p.next_hop);
      p.next_solicit_ns = now + kSolicitIntervalNs;
    }
    p.next_check_ns = now + kResolvedRecheckNs;
    if (!p.pending.empty()) send_pending(p);
    return;
  }
  p.resolved = false;
  p.status = "resolving";
  if (now >= p.next_solicit_ns) {
    nl_.resolve(route->oif, p.next_hop);
    p.next_solicit_ns = now + kSolicitIntervalNs;
  }
  p.next_check_ns = now + kUnresolvedRecheckNs;
}

void Dataplane::send_pending(Peer& p) {
  for (auto& q : p.pending)
    encap_to(*q.net, p, q.buf, q.vnet);
  flush();
  for (auto& q : p.pending)
    pending_pool_.release(q.buf);
  p.pending.clear();
}

void Dataplane::drop_pending(Peer& p, std::uint64_t older_than_ns) {
  auto keep = std::remove_if(p.pending.begin(), p.pending.end(), [&](const Pending& q) {
    if (q.since_ns >= older_than_ns) return false;
    count(q.net, DpCounter::kTxDropNoNeighbour);
    pending_pool_.release(q.buf);
    return true;
  });
  p.pending.erase(keep, p.pending.end());
}

void Dataplane::tick(std::uint64_t now) {
  if (now >= next_housekeeping_ns_) {
    next_housekeeping_ns_ = now + kHousekeepingNs;
    reasm_.expire(now);
    for (auto& n : networks_)
      n->fdb.age(now);
  }
  for (auto& [addr, p] : peers_) {
    if (now >= p->next_check_ns) check_peer(*p, now);
    if (!p->pending.empty() && now > opt_.pending_timeout_ns) {
      drop_pending(*p, now - opt_.pending_timeout_ns);
    }
  }
}

// --------------------------------------------------------------- transmit

core::PacketBuffer* Dataplane::take_tx_buffer() {
  if (tx_used_ == tx_buffers_.size()) return nullptr;
  core::PacketBuffer* b = tx_buffers_[tx_used_++];
  b->reset();
  return b;
}

void Dataplane::flush() {
  if (batch_->size() != 0) {
    int err = 0;
    const std::size_t sent = opt_.io ? opt_.io->send(*batch_) : sock_->send_batch(*batch_, &err);
    counters_.inc(DpCounter::kTxPackets, sent);
    if (sent < batch_->size()) counters_.inc(DpCounter::kTxDropSendError, batch_->size() - sent);
    batch_->clear();
  }
  tx_used_ = 0;
  if (current_ != nullptr) {
    auto it = std::find(tx_buffers_.begin(), tx_buffers_.end(), current_);
    if (it != tx_buffers_.end()) {
      std::iter_swap(tx_buffers_.begin(), it);
      tx_used_ = 1;
    }
  }
}

void Dataplane::on_tap_readable(Network& n) {
  const std::uint64_t now = now_ns();
  for (int i = 0; i < kTapBurst; ++i) {
    core::PacketBuffer* b = take_tx_buffer();
    if (b == nullptr) {
      flush();
      b = take_tx_buffer();
    }
    core::OffloadInfo vnet;
    const ssize_t len = n.tap.read_frame(&vnet, b->data(), b->tailroom());
    if (len < 0) {
      --tx_used_;  // b was the last one taken
      if (len != -EAGAIN && len != -EINTR) count(&n, DpCounter::kTxDropTapRead);
      break;
    }
    b->set_size(static_cast<std::size_t>(len));
    count(&n, DpCounter::kTxFrames);
    count(&n, DpCounter::kTxBytes, static_cast<std::uint64_t>(len));
    if (vnet.is_gso()) count(&n, DpCounter::kTxTsoFrames);
    current_ = b;
    transmit(n, b, vnet, now);
    current_ = nullptr;
  }
  flush();
}

void Dataplane::transmit_frame(Network& n, const std::uint8_t* frame, std::size_t len,
                               const core::OffloadInfo& vnet) {
  core::PacketBuffer* b = take_tx_buffer();
  if (b == nullptr) {
    flush();
    b = take_tx_buffer();
  }
  if (len > b->tailroom()) {
    --tx_used_;
    count(&n, DpCounter::kTxDropTapRead);
    return;
  }
  std::memcpy(b->data(), frame, len);  // stands in for the TAP read's copy
  b->set_size(len);
  count(&n, DpCounter::kTxFrames);
  count(&n, DpCounter::kTxBytes, len);
  if (vnet.is_gso()) count(&n, DpCounter::kTxTsoFrames);
  current_ = b;
  transmit(n, b, vnet, now_ns());
  current_ = nullptr;
}

void Dataplane::transmit(Network& n, core::PacketBuffer* b, const core::OffloadInfo& vnet,
                         std::uint64_t now) {
  if (b->size() < wire::kEthHeaderLen) {
    count(&n, DpCounter::kTxDropTooShort);
    return;
  }
  wire::MacAddr dst;
  std::memcpy(dst.b.data(), b->data(), 6);
  const std::span<const wire::IpAddr> targets = n.fdb.lookup(dst, now);
  if (targets.empty()) {
    count(&n, DpCounter::kTxDropNoPeer);
    return;
  }
  count(&n, targets.size() == 1 ? DpCounter::kTxUnicast : DpCounter::kTxFlooded);
  // Encapsulation changes the frame (tag moved out, headers written in
  // front), so every peer but the last gets a copy; the last gets b.
  for (std::size_t i = 0; i < targets.size(); ++i) {
    Peer* p = peer(targets[i]);
    if (p == nullptr) {  // cannot happen: every FDB peer is referenced
      count(&n, DpCounter::kTxDropNoRoute);
      continue;
    }
    const bool last = i + 1 == targets.size();
    if (!p->resolved) {
      enqueue(n, *p, *b, vnet, now);
      continue;
    }
    if (last) {
      encap_to(n, *p, b, vnet);
    } else {
      flood_copy_.reset();
      std::memcpy(flood_copy_.data(), b->data(), b->size());
      flood_copy_.set_size(b->size());
      encap_to(n, *p, &flood_copy_, vnet);
      flush();  // flood_copy_ is reused for the next peer
    }
  }
}

void Dataplane::encap_to(Network& n, Peer& p, core::PacketBuffer* b,
                         const core::OffloadInfo& vnet) {
  if (batch_->size() + kBatchReserve > core::TxBatch::kMaxPackets) flush();
  core::EncapRequest req;
  req.context_id = n.cfg.context_id;
  req.offload = vnet;
  const std::size_t first = batch_->size();
  const core::EncapStatus st =
      core::encapsulate(p.tunnel, b->data(), b->size(), req, opt_.tx_form, *batch_, n.encap);
  if (st != core::EncapStatus::kOk) {
    count(&n, DpCounter::kTxDropEncap);
    return;
  }
  // Which path ran: GSO super-segments for the kernel or NIC to cut, or an
  // STT frame cut to the underlay MTU here. A frame that fits one packet is
  // neither.
  const std::size_t made = batch_->size() - first;
  std::uint64_t gso = 0;
  for (std::size_t i = first; i < batch_->size(); ++i)
    gso += (*batch_)[i].gso.is_gso() ? 1 : 0;
  if (gso != 0) count(&n, DpCounter::kTxGsoPackets, gso);
  if (gso == 0 && made > 1) count(&n, DpCounter::kTxSegments, made);
}

void Dataplane::enqueue(Network& n, Peer& p, const core::PacketBuffer& b,
                        const core::OffloadInfo& vnet, std::uint64_t now) {
  if (p.pending.size() >= opt_.pending_per_peer) {
    count(&n, DpCounter::kTxDropNoNeighbour);
    return;
  }
  core::PacketBuffer* q = pending_pool_.acquire();
  if (q == nullptr || q->tailroom() < b.size()) {
    if (q) pending_pool_.release(q);
    count(&n, DpCounter::kTxDropNoNeighbour);
    return;
  }
  std::memcpy(q->data(), b.data(), b.size());
  q->set_size(b.size());
  p.pending.push_back({q, vnet, &n, now});
  count(&n, DpCounter::kTxQueued);
  if (now >= p.next_solicit_ns) p.next_check_ns = now;  // look again on this tick
}

// ---------------------------------------------------------------- receive

void Dataplane::on_underlay_readable() {
  for (int round = 0; round < kRxRounds; ++round) {
    if (!sock_) return;
    const int got = sock_->recv_batch();
    if (got < 0) {
      count(nullptr, DpCounter::kRxRecvErrors);
      return;
    }
    if (got == 0) return;
    const std::uint64_t now = now_ns();
    for (int i = 0; i < got; ++i)
      receive(sock_->frame(static_cast<std::size_t>(i)), now);
  }
}

void Dataplane::receive(sys::RxFrame& f, std::uint64_t now) {
  count(nullptr, DpCounter::kRxPackets);
  count(nullptr, DpCounter::kRxBytes, f.len);
  if (f.vnet.is_gso()) count(nullptr, DpCounter::kRxGroPackets);
  if (f.len == 0) {
    count(nullptr, DpCounter::kRxDropTruncated);
    return;
  }
  core::ReassembledFrame frame;
  // The next in-order segment of the frame the last one went to is
  // appended straight from the packet. Its frame was admitted when its
  // first piece came (below); a peer removed since is caught when the
  // frame completes (rx_drop_not_peer). Anything else, a bad checksum
  // included, is not taken and goes the general way, where it is counted.
  const auto appended = reasm_.append_packet(f.buffer->data(), f.len, f.vnet, rx_cfg_, now, &frame);
  if (appended != core::Reassembler::Append::kNotTaken) {
    rx_counters_.inc(core::RxCounter::kSegments);
    if (appended == core::Reassembler::Append::kCompleted) deliver(frame, now);
    return;
  }
  core::SttSegment seg;
  const core::RxCounter rc = core::parse_segment(f.buffer->data(), f.len, f.vnet, rx_cfg_, &seg);
  rx_counters_.inc(rc);
  if (rc != core::RxCounter::kSegments) {
    count(nullptr, DpCounter::kRxDropInvalid);
    return;
  }
  // Admission before reassembly: a source that is a peer of no network
  // gets no reassembly memory. Each such segment is counted; the frame is
  // counted once more as rx_drop_not_peer at its first segment (offset 0),
  // in the network its (unverified) STT header names, if any.
  if (peers_.find(seg.outer_src) == peers_.end()) {
    count(nullptr, DpCounter::kRxDropNotPeerSegments);
    if (seg.offset == 0) {
      Network* n = nullptr;
      core::SttInfo hdr;
      if (core::read_stt_header(seg.payload, seg.payload_len, &hdr)) {
        auto it = by_context_.find(hdr.context_id);
        if (it != by_context_.end()) n = it->second;
      }
      count(n, DpCounter::kRxDropNotPeer);
    }
    return;
  }
  if (!reasm_.add(seg, now, &frame)) return;  // held, or dropped and counted there
  deliver(frame, now);
}

void Dataplane::deliver(const core::ReassembledFrame& frame, std::uint64_t now) {
  count(nullptr, DpCounter::kRxSttFrames);

  core::SttInfo info;
  if (!core::read_stt_header(frame.data, frame.len, &info)) {
    count(nullptr, DpCounter::kRxDropBadHeader);
    return;
  }
  auto it = by_context_.find(info.context_id);
  if (it == by_context_.end()) {
    count(nullptr, DpCounter::kRxDropUnknownContext);
    return;
  }
  Network& n = *it->second;
  if (!n.fdb.has_peer(frame.outer_src)) {
    count(&n, DpCounter::kRxDropNotPeer);
    return;
  }
  count(&n, frame.segments == 1 ? DpCounter::kRxWholeFrames : DpCounter::kRxReassembledFrames);
  decap_out_->clear();
  if (core::decapsulate(frame, opt_.decap, *decap_out_, n.decap) != core::DecapStatus::kOk) {
    count(&n, DpCounter::kRxDropDecap);
    return;
  }
  for (const core::InnerFrame& inner : *decap_out_) {
    if (inner.len >= wire::kEthHeaderLen) {
      wire::MacAddr src;
      std::memcpy(src.b.data(), inner.data + 6, 6);
      n.fdb.learn(src, frame.outer_src, now);
    }
    const int w = opt_.io ? opt_.io->write_tap(n, inner.offload, inner.data, inner.len)
                          : n.tap.write_frame(inner.offload, inner.data, inner.len);
    if (w < 0) {
      count(&n, DpCounter::kRxDropTapWrite);
      continue;
    }
    count(&n, DpCounter::kRxDelivered);
    if (inner.offload.is_gso()) {
      count(&n, DpCounter::kTapGsoWrites);
    } else if (inner.offload.needs_csum()) {
      count(&n, DpCounter::kTapCsumPartialWrites);
    }
  }
}

// ---------------------------------------------------------------- reports

nlohmann::json Dataplane::underlay_json() const {
  return {{"interface", opt_.underlay},
          {"ifindex", underlay_.index},
          {"mac", underlay_.mac.to_string()},
          {"mtu", underlay_mtu_},
          {"local", opt_.local.to_string()},
          {"port", opt_.port},
          {"tx_form", opt_.tx_form == core::TxForm::kGso ? "gso" : "segmented"}};
}

nlohmann::json Dataplane::peers_json() const {
  nlohmann::json out = nlohmann::json::array();
  std::vector<const Peer*> sorted;
  for (const auto& [a, p] : peers_)
    sorted.push_back(p.get());
  std::sort(sorted.begin(), sorted.end(),
            [](const Peer* x, const Peer* y) { return x->addr < y->addr; });
  for (const Peer* p : sorted) {
    nlohmann::json nets = nlohmann::json::array();
    for (const auto& n : networks_) {
      if (n->fdb.has_peer(p->addr)) nets.push_back(n->cfg.name);
    }
    out.push_back({{"peer", p->addr.to_string()},
                   {"networks", nets},
                   {"resolved", p->resolved},
                   {"status", p->status},
                   {"next_hop", p->next_hop.version ? p->next_hop.to_string() : ""},
                   {"next_hop_mac", p->resolved ? p->tunnel.config().dst_mac.to_string() : ""},
                   {"neighbour_state", p->neigh_state},
                   {"pending", p->pending.size()}});
  }
  return out;
}

nlohmann::json Dataplane::stats_json() const {
  core::CounterSet<core::EncapCounter> encap;
  core::CounterSet<core::DecapCounter> decap;
  core::CounterSet<FdbCounter> fdb;
  nlohmann::json nets = nlohmann::json::object();
  for (const auto& n : networks_) {
    encap.add(n->encap);
    decap.add(n->decap);
    fdb.add(n->fdb.counters());
    nets[n->cfg.name] = {{"context_id", n->cfg.context_id},
                         {"datapath", counters_json(n->counters)},
                         {"encap", counters_json(n->encap)},
                         {"decap", counters_json(n->decap)},
                         {"fdb", counters_json(n->fdb.counters())}};
  }
  nlohmann::json global = {{"datapath", counters_json(counters_)},
                           {"rx", counters_json(rx_counters_)},
                           {"reassembly", counters_json(reasm_.counters())},
                           {"encap", counters_json(encap)},
                           {"decap", counters_json(decap)},
                           {"fdb", counters_json(fdb)}};
  return {{"global", global}, {"networks", nets}};
}

nlohmann::json Dataplane::reassembly_json() const {
  const core::ReassemblyStats s = reasm_.stats();
  const core::ReassemblyConfig& c = reasm_.config();
  return {{"frames_in_flight", s.frames_in_flight},
          {"bytes_in_use", s.bytes_in_use},
          {"bytes_held", s.bytes_held},
          {"limits",
           {{"mem_high", c.mem_high},
            {"mem_low", c.mem_low},
            {"max_frames", c.max_frames},
            {"max_frames_per_source", c.max_frames_per_source},
            {"timeout_ms", c.timeout_ns / 1'000'000}}},
          {"counters", counters_json(reasm_.counters())}};
}

}  // namespace stt::daemon
