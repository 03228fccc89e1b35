#include "daemon/dataplane.hpp"

#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <optional>

#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

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

PeerTableOptions peer_options(const DataplaneOptions& o, const sys::LinkInfo& underlay) {
  PeerTableOptions p;
  p.underlay = o.underlay;
  p.underlay_ifindex = underlay.index;
  p.underlay_mac = underlay.mac;
  p.underlay_mtu = underlay.mtu;
  p.local = o.local;
  p.port = o.port;
  p.policy = o.peers;
  return p;
}

// The rate-limit slots of the causes (DropCause::slot): the data-path
// counters, then each libstt counter group's counters.
constexpr std::size_t kRxSlots = static_cast<std::size_t>(DpCounter::kCount);
constexpr std::size_t kReasmSlots = kRxSlots + core::CounterSet<core::RxCounter>::kSize;
constexpr std::size_t kDecapSlots = kReasmSlots + core::CounterSet<core::ReasmCounter>::kSize;
constexpr std::size_t kEncapSlots = kDecapSlots + core::CounterSet<core::DecapCounter>::kSize;
static_assert(kEncapSlots + core::CounterSet<core::EncapCounter>::kSize == kDropLogSlots);
static_assert(Dataplane::kDebugLevel == spdlog::level::debug);

// Why frames counted under a drop counter were dropped, for the log line.
std::string_view drop_reason(DpCounter c) {
  switch (c) {
    case DpCounter::kTxDropTooShort:
      return "shorter than an Ethernet header";
    case DpCounter::kTxDropNoPeer:
      return "the network has no peer to send it to";
    case DpCounter::kTxDropNoNeighbour:
      return "the peer's next hop did not resolve in time, or its queue was full";
    case DpCounter::kTxDropNoRoute:
      return "no route to the peer through the underlay";
    case DpCounter::kTxDropEncap:
      return "encapsulation refused it";
    case DpCounter::kTxDropSendError:
      return "the kernel refused to send it";
    case DpCounter::kTxDropTapRead:
      return "reading it from the TAP failed";
    case DpCounter::kRxDropTruncated:
      return "larger than the receive buffer";
    case DpCounter::kRxDropInvalid:
      return "not a valid STT segment";
    case DpCounter::kRxDropBadHeader:
      return "too short for an STT header";
    case DpCounter::kRxDropUnknownContext:
      return "no network here has that context ID (compare the [[network]] context_id on both "
             "hosts)";
    case DpCounter::kRxDropNotPeer:
      return "the sender is not a peer of this network";
    case DpCounter::kRxDropNotPeerSegments:
      return "the sender is a peer of no network (dropped before reassembly)";
    case DpCounter::kRxDropDecap:
      return "decapsulation refused it";
    case DpCounter::kRxDropTapWrite:
      return "the TAP refused it";
    case DpCounter::kRxRecvErrors:
      return "receiving from the underlay failed";
    default:
      return "dropped";
  }
}

DropCause cause(DpCounter c) {
  return {counter_name(c), {}, {}, drop_reason(c), static_cast<std::size_t>(c)};
}

// `c` refined by the libstt counter `why` of group `group`, whose slots start at `base`.
template <typename E>
DropCause cause(DpCounter c, std::string_view group, E why, std::size_t base) {
  return {counter_name(c), group, core::counter_name(why), drop_reason(c),
          base + static_cast<std::size_t>(why)};
}

// The libstt drop counter ("drop_...", or the reassembler's "expired" and
// "evicted") that moved since `seen`, which then catches up: libstt counts
// each frame it refuses under exactly one, so it names why the frame just
// refused was.
template <typename E>
std::optional<E> moved_drop(const core::CounterSet<E>& now, core::CounterSet<E>& seen) {
  std::optional<E> moved;
  for (std::size_t i = 0; i < core::CounterSet<E>::kSize && !moved; ++i) {
    const std::string_view name = core::counter_name(static_cast<E>(i));
    const bool drop = name.starts_with("drop_") || name == "expired" || name == "evicted";
    if (now[i] != seen[i] && drop) moved = static_cast<E>(i);
  }
  seen = now;
  return moved;
}

// The outer source address of a packet that did not parse, when its IP
// header is there to read.
std::optional<wire::IpAddr> outer_source(const std::uint8_t* p, std::size_t len) {
  constexpr std::size_t kEth = wire::kEthHeaderLen;
  if (p == nullptr || len < kEth) return std::nullopt;
  const unsigned type = (unsigned{p[12]} << 8) | p[13];
  if (type == 0x0800 && len >= kEth + 20) return wire::IpAddr::v4(p + kEth + 12);
  if (type == 0x86dd && len >= kEth + 40) return wire::IpAddr::v6(p + kEth + 8);
  return std::nullopt;
}

}  // namespace

constexpr core::CounterNames<DpCounter> kDpCounterNames({
    {DpCounter::kTxFrames, "tx_frames"},
    {DpCounter::kTxBytes, "tx_bytes"},
    {DpCounter::kTxUnicast, "tx_unicast"},
    {DpCounter::kTxFlooded, "tx_flooded"},
    {DpCounter::kTxQueued, "tx_queued"},
    {DpCounter::kTxPackets, "tx_packets"},
    {DpCounter::kTxTsoFrames, "tx_tso_frames"},
    {DpCounter::kTxGsoPackets, "tx_gso_packets"},
    {DpCounter::kTxSegments, "tx_segments"},
    {DpCounter::kTxDropTooShort, "tx_drop_too_short"},
    {DpCounter::kTxDropNoPeer, "tx_drop_no_peer"},
    {DpCounter::kTxDropNoNeighbour, "tx_drop_no_neighbour"},
    {DpCounter::kTxDropNoRoute, "tx_drop_no_route"},
    {DpCounter::kTxDropEncap, "tx_drop_encap"},
    {DpCounter::kTxDropSendError, "tx_drop_send_error"},
    {DpCounter::kTxDropTapRead, "tx_drop_tap_read"},
    {DpCounter::kRxPackets, "rx_packets"},
    {DpCounter::kRxBytes, "rx_bytes"},
    {DpCounter::kRxGroPackets, "rx_gro_packets"},
    {DpCounter::kRxSttFrames, "rx_stt_frames"},
    {DpCounter::kRxWholeFrames, "rx_whole_frames"},
    {DpCounter::kRxReassembledFrames, "rx_reassembled_frames"},
    {DpCounter::kRxDelivered, "rx_delivered"},
    {DpCounter::kTapGsoWrites, "tap_gso_writes"},
    {DpCounter::kTapCsumPartialWrites, "tap_csum_partial_writes"},
    {DpCounter::kRxDropTruncated, "rx_drop_truncated"},
    {DpCounter::kRxDropInvalid, "rx_drop_invalid"},
    {DpCounter::kRxDropBadHeader, "rx_drop_bad_header"},
    {DpCounter::kRxDropUnknownContext, "rx_drop_unknown_context"},
    {DpCounter::kRxDropNotPeer, "rx_drop_not_peer"},
    {DpCounter::kRxDropNotPeerSegments, "rx_drop_not_peer_segments"},
    {DpCounter::kRxDropDecap, "rx_drop_decap"},
    {DpCounter::kRxDropTapWrite, "rx_drop_tap_write"},
    {DpCounter::kRxRecvErrors, "rx_recv_errors"},
});

std::string_view counter_name(DpCounter c) {
  return kDpCounterNames(c);
}

std::uint64_t Dataplane::now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

Dataplane::Dataplane(const DataplaneOptions& opt, PacketIo& io, NextHopSource& next_hops)
    : opt_(opt),
      io_(io),
      reasm_(opt.reassembly),
      peers_(
          peer_options(opt, io.underlay()), next_hops, [this](Peer& p) { send_pending(p); },
          [this](Network* n) { pending_dropped(n); }),
      switch_(peers_),
      batch_(std::make_unique<core::TxBatch>()),
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
  while (!attached_.empty())
    detach(*attached_.back());
}

Network& Dataplane::add_network(const NetworkConfig& cfg, const FdbLimits& limits) {
  switch_.require_free(cfg);
  sys::TapOptions t;
  t.name = cfg.tap.empty() ? "stt-" + cfg.name : cfg.tap;
  t.mtu = cfg.mtu;
  sys::TapOptions name_only = t;
  name_only.create = false;  // io_ makes the device (or not) below
  auto n = std::make_unique<Network>(cfg, name_only, limits);
  n->tap = io_.open_tap(t);
  Network& net = *n;
  // Static entries are checked on the network's own FDB before it is
  // registered, so a refused entry leaves nothing behind.
  for (const auto& p : cfg.peers)
    net.fdb.add_peer(p);
  for (const auto& e : cfg.fdb) {
    // An entry naming this host is one of its own tenants: the etcd directory publishes it
    // (docs/cluster.md); nothing is forwarded to it.
    if (e.peer == opt_.local) continue;
    const FdbResult r = net.fdb.add_static(e.mac, e.peer);
    if (r != FdbResult::kOk) {
      throw std::runtime_error("network " + cfg.name + ": static FDB entry " + e.mac.to_string() +
                               " -> " + e.peer.to_string() + ": " + std::string(to_string(r)));
    }
  }
  for (EventLoop* l : attached_) {
    if (net.tap.fd() < 0) continue;
    Network* np = &net;
    l->add(net.tap.fd(), [this, np](std::uint32_t) { on_tap_readable(*np); });
  }
  switch_.add(std::move(n));
  const std::uint64_t now = now_ns();
  for (const auto& p : cfg.peers)
    peers_.ref(net, p, static_cast<PeerSources>(PeerSource::kConfig), now);
  return net;
}

void Dataplane::remove_network(Network& n) {
  for (EventLoop* l : attached_) {
    if (n.tap.fd() >= 0) l->remove(n.tap.fd());
  }
  const std::vector<wire::IpAddr> peers(n.fdb.peers().begin(), n.fdb.peers().end());
  for (const auto& p : peers)
    remove_peer(n, p);
  switch_.remove(n);
}

void Dataplane::attach(EventLoop& loop) {
  for (auto& n : switch_.networks()) {
    Network* net = n.get();
    if (net->tap.fd() < 0) continue;
    loop.add(net->tap.fd(), [this, net](std::uint32_t) { on_tap_readable(*net); });
  }
  if (io_.underlay_fd() >= 0) {
    loop.add(io_.underlay_fd(), [this](std::uint32_t) { on_underlay_readable(); });
  }
  attached_.push_back(&loop);
}

void Dataplane::detach(EventLoop& loop) {
  for (auto& n : switch_.networks()) {
    if (n->tap.fd() >= 0) loop.remove(n->tap.fd());
  }
  if (io_.underlay_fd() >= 0) loop.remove(io_.underlay_fd());
  attached_.erase(std::remove(attached_.begin(), attached_.end(), &loop), attached_.end());
}

// ------------------------------------------------------------------ peers

bool Dataplane::add_peer(Network& n, const wire::IpAddr& a, PeerSource source) {
  const bool added = n.fdb.add_peer(a);
  peers_.ref(n, a, static_cast<PeerSources>(source), now_ns());
  return added;
}

bool Dataplane::remove_peer(Network& n, const wire::IpAddr& a, PeerSources sources) {
  if (!n.fdb.has_peer(a)) return false;
  if (peers_.unref(n, a, sources) == 0) n.fdb.remove_peer(a);
  return true;
}

void Dataplane::send_pending(Peer& p) {
  for (auto& q : p.pending)
    encap_to(*q.net, p, q.buf, q.vnet);
  flush();
  peers_.release_pending(p);
}

void Dataplane::tick(std::uint64_t now) {
  if (now >= next_housekeeping_ns_) {
    next_housekeeping_ns_ = now + kHousekeepingNs;
    reasm_.expire(now);
    log_reassembly_drops(now, {});
    for (auto& n : switch_.networks())
      n->fdb.age(now);
  }
  peers_.tick(now);
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
    const std::size_t sent = io_.send(*batch_);
    counters_.inc(DpCounter::kTxPackets, sent);
    if (sent < batch_->size()) {
      DropSubject what{.what = "outer packet", .packets = batch_->size() - sent};
      drop(nullptr, DpCounter::kTxDropSendError, what, now_ns());
    }
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
    const ssize_t len = io_.read_tap(n.tap, &vnet, b->data(), b->tailroom());
    if (len < 0) {
      --tx_used_;  // b was the last one taken
      if (len != -EAGAIN && len != -EINTR) {
        drop(&n, DpCounter::kTxDropTapRead, {.error = static_cast<int>(-len)}, now);
      }
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
    drop(&n, DpCounter::kTxDropTapRead, {.bytes = len, .error = EMSGSIZE}, now_ns());
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
    drop(&n, DpCounter::kTxDropTooShort, {.bytes = b->size()}, now);
    return;
  }
  if (tap_hook_ != nullptr && tap_hook_->on_tap_frame(n, b->data(), b->size(), now)) return;
  wire::MacAddr dst;
  std::memcpy(dst.b.data(), b->data(), 6);
  const std::span<const wire::IpAddr> targets = n.fdb.lookup(dst, now);
  if (targets.empty()) {
    drop(&n, DpCounter::kTxDropNoPeer, {.bytes = b->size(), .dst = &dst}, now);
    return;
  }
  count(&n, targets.size() == 1 ? DpCounter::kTxUnicast : DpCounter::kTxFlooded);
  flood(targets, *b, flood_copy_, [&](const wire::IpAddr& target, core::PacketBuffer& frame) {
    Peer* p = peers_.find(target);
    if (p == nullptr) {  // cannot happen: every FDB peer is referenced
      drop(&n, DpCounter::kTxDropNoRoute, {.bytes = frame.size(), .to = &target, .dst = &dst}, now);
      return;
    }
    if (!p->resolved) {
      if (peers_.enqueue(n, *p, frame, vnet, now)) {
        count(&n, DpCounter::kTxQueued);
      } else {
        drop(&n, DpCounter::kTxDropNoNeighbour, {.bytes = frame.size(), .to = &target, .dst = &dst},
             now);
      }
      return;
    }
    encap_to(n, *p, &frame, vnet);
    if (&frame == &flood_copy_) flush();  // flood_copy_ is reused for the next peer
  });
}

void Dataplane::encap_to(Network& n, Peer& p, core::PacketBuffer* b,
                         const core::OffloadInfo& vnet) {
  if (batch_->size() + kBatchReserve > core::TxBatch::kMaxPackets) flush();
  core::EncapRequest req;
  req.context_id = n.cfg.context_id;
  req.offload = vnet;
  const std::size_t first = batch_->size();
  const core::EncapStatus st =
      core::encapsulate(p.tunnel, b->frame(), req, opt_.tx_form, *batch_, n.encap);
  if (st != core::EncapStatus::kOk) {
    wire::MacAddr dst;
    if (b->size() >= 6) std::memcpy(dst.b.data(), b->data(), 6);
    drop(&n, DpCounter::kTxDropEncap, {.bytes = b->size(), .to = &p.addr, .dst = &dst},
         Dataplane::now_ns());
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

// ---------------------------------------------------------------- receive

void Dataplane::on_underlay_readable() {
  for (int round = 0; round < kRxRounds; ++round) {
    std::span<sys::RxFrame> frames;
    const int got = io_.recv_batch(&frames);
    if (got < 0) {
      drop(nullptr, DpCounter::kRxRecvErrors, {.what = "packet", .error = -got}, now_ns());
      return;
    }
    if (got == 0) return;
    const std::uint64_t now = now_ns();
    for (sys::RxFrame& f : frames)
      receive(f, now);
  }
}

void Dataplane::receive(sys::RxFrame& f, std::uint64_t now) {
  count(nullptr, DpCounter::kRxPackets);
  count(nullptr, DpCounter::kRxBytes, f.len);
  if (f.vnet.is_gso()) count(nullptr, DpCounter::kRxGroPackets);
  if (f.len == 0) {
    drop(nullptr, DpCounter::kRxDropTruncated, {.what = "packet"}, now);
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
    const DropSubject what{
        .what = "packet", .bytes = f.len, .packet = f.buffer->data(), .packet_len = f.len};
    drop(nullptr, DpCounter::kRxDropInvalid, rc, what, now);
    return;
  }
  // Admission before reassembly: a source that is a peer of no network
  // gets no reassembly memory. Each such segment is counted; the frame is
  // counted once more as rx_drop_not_peer at its first segment (offset 0),
  // in the network its (unverified) STT header names, if any.
  if (!switch_.is_peer_of_any(seg.outer_src)) {
    const DropSubject what{.what = "segment", .bytes = f.len, .from = &seg.outer_src};
    drop(nullptr, DpCounter::kRxDropNotPeerSegments, what, now);
    if (seg.offset == 0) {
      core::SttInfo hdr;
      Network* n = core::read_stt_header(seg.payload, seg.payload_len, &hdr)
                       ? switch_.by_context(hdr.context_id)
                       : nullptr;
      drop(n, DpCounter::kRxDropNotPeer, {.from = &seg.outer_src}, now);
    }
    return;
  }
  if (!reasm_.add(seg, now, &frame)) {  // held, or dropped and counted there
    log_reassembly_drops(now, {.what = "segment", .bytes = f.len, .from = &seg.outer_src});
    return;
  }
  deliver(frame, now);
}

// ------------------------------------------------------------------ drops

bool Dataplane::debug_on() {
  return spdlog::should_log(spdlog::level::debug);
}

void Dataplane::drop(Network* n, DpCounter c, const DropSubject& what, std::uint64_t now,
                     int level) {
  count(n, c, what.packets);
  DropCause why = cause(c);
  DropLog& log = drop_log_of(n);
  // Which libstt counter says why: read now, on the drop, so the snapshot
  // stays current whatever the log level.
  if (c == DpCounter::kRxDropDecap && n != nullptr) {
    if (auto d = moved_drop(n->decap, log.decap_seen)) why = cause(c, "decap", *d, kDecapSlots);
  } else if (c == DpCounter::kTxDropEncap && n != nullptr) {
    if (auto e = moved_drop(n->encap, log.encap_seen)) why = cause(c, "encap", *e, kEncapSlots);
  }
  log_drop(n, why, what, now, level);
}

void Dataplane::drop(Network* n, DpCounter c, core::RxCounter why, const DropSubject& what,
                     std::uint64_t now) {
  count(n, c, what.packets);
  log_drop(n, cause(c, "rx", why, kRxSlots), what, now, kDebugLevel);
}

void Dataplane::log_drop(Network* n, const DropCause& why, const DropSubject& what,
                         std::uint64_t now, int level) {
  const auto lvl = static_cast<spdlog::level::level_enum>(level);
  if (!spdlog::should_log(lvl)) return;
  std::uint64_t held = 0;
  if (!drop_log_of(n).limits.allow(why.slot, now, &held)) return;
  // Formatted into an inline buffer, and only for a line that is logged.
  fmt::basic_memory_buffer<char, 512> line;
  auto out = std::back_inserter(line);
  if (n != nullptr) fmt::format_to(out, "network {}: ", n->cfg.name);
  fmt::format_to(out, "dropped ");
  if (what.packets != 1) {
    fmt::format_to(out, "{} {}s", what.packets, what.what);
  } else {
    fmt::format_to(out, "a {}", what.what);
  }
  if (what.bytes != 0) fmt::format_to(out, " of {} bytes", what.bytes);
  if (what.context_id != nullptr) fmt::format_to(out, " for context ID {:#x}", *what.context_id);
  std::optional<wire::IpAddr> from;
  if (what.from != nullptr) {
    from = *what.from;
  } else {
    from = outer_source(what.packet, what.packet_len);
  }
  if (from) fmt::format_to(out, " from {}", from->to_string());
  if (what.dst != nullptr) fmt::format_to(out, " to {}", what.dst->to_string());
  if (what.to != nullptr) fmt::format_to(out, " via peer {}", what.to->to_string());
  fmt::format_to(out, ": {}", why.reason);
  if (what.error != 0) fmt::format_to(out, " ({})", std::strerror(what.error));
  fmt::format_to(out, " [{}", why.counter);
  if (!why.detail.empty()) fmt::format_to(out, ": {}.{}", why.group, why.detail);
  fmt::format_to(out, "; {} more since the last line]", held);
  spdlog::log(lvl, "{}", std::string_view(line.data(), line.size()));
}

void Dataplane::pending_dropped(Network* n) {
  drop(n, DpCounter::kTxDropNoNeighbour, {}, now_ns());
}

// Reassembly drops have no data-path counter of their own: the reassembler's
// drop counter that moved names them. Looked at only while debug is on.
void Dataplane::log_reassembly_drops(std::uint64_t now, const DropSubject& what) {
  if (!debug_on()) return;
  if (auto r = moved_drop(reasm_.counters(), drop_log_.reasm_seen)) {
    log_drop(nullptr,
             {"reassembly", "reassembly", core::counter_name(*r), "reassembly refused it",
              kReasmSlots + static_cast<std::size_t>(*r)},
             what, now, kDebugLevel);
  }
}

void Dataplane::deliver(const core::ReassembledFrame& frame, std::uint64_t now) {
  count(nullptr, DpCounter::kRxSttFrames);

  core::SttInfo info;
  if (!core::read_stt_header(frame.data, frame.len, &info)) {
    drop(nullptr, DpCounter::kRxDropBadHeader, {.bytes = frame.len, .from = &frame.outer_src}, now);
    return;
  }
  Network* np = nullptr;
  switch (switch_.admit(info.context_id, frame.outer_src, &np)) {
    case Admission::kUnknownContext: {
      unknown_context_ = {info.context_id, frame.outer_src, true};
      // A warning, not debug: a context ID configured differently on two
      // hosts is a misconfiguration that otherwise only moves a counter.
      const DropSubject what{
          .bytes = frame.len, .from = &frame.outer_src, .context_id = &info.context_id};
      drop(nullptr, DpCounter::kRxDropUnknownContext, what, now, spdlog::level::warn);
      return;
    }
    case Admission::kNotPeer:
      drop(np, DpCounter::kRxDropNotPeer, {.bytes = frame.len, .from = &frame.outer_src}, now);
      return;
    case Admission::kAdmitted:
      break;
  }
  Network& n = *np;
  count(&n, frame.segments == 1 ? DpCounter::kRxWholeFrames : DpCounter::kRxReassembledFrames);
  decap_out_->clear();
  if (core::decapsulate(frame, opt_.decap, *decap_out_, n.decap) != core::DecapStatus::kOk) {
    drop(&n, DpCounter::kRxDropDecap, {.bytes = frame.len, .from = &frame.outer_src}, now);
    return;
  }
  for (const core::InnerFrame& inner : *decap_out_) {
    if (inner.len >= wire::kEthHeaderLen) {
      wire::MacAddr src;
      std::memcpy(src.b.data(), inner.data + 6, 6);
      n.fdb.learn(src, frame.outer_src, now);
    }
    if (const int rc = io_.write_tap(n.tap, inner.offload, inner.data, inner.len); rc < 0) {
      const DropSubject what{.bytes = inner.len, .from = &frame.outer_src, .error = -rc};
      drop(&n, DpCounter::kRxDropTapWrite, what, now);
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

}  // namespace stt::daemon
