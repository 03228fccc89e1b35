// sttd's switch and PeerTable without a device: the Dataplane on
// MemoryPacketIo, next hops from a fake NextHopSource. Admission, flood
// copies, pending queues (overflow, timeout, resolution), network removal
// and peer sources.
#include <gtest/gtest.h>
#include <linux/neighbour.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "core/encap.hpp"
#include "daemon/dataplane.hpp"
#include "daemon/switch.hpp"
#include "wire/bytes.hpp"
#include "wire/headers.hpp"

namespace stt::daemon {
namespace {

wire::IpAddr ip(const char* s) {
  return *wire::IpAddr::parse(s);
}
wire::MacAddr mac(const char* s) {
  return *wire::MacAddr::parse(s);
}

const wire::IpAddr kLocal = ip("192.0.2.1");
// After this an unresolved peer's next hop has been looked at again.
constexpr std::uint64_t kRecheckNs = 21'000'000;
const wire::MacAddr kLocalMac = mac("02:00:5e:00:53:01");
const wire::MacAddr kNextHopMac = mac("02:00:5e:00:53:fe");
constexpr int kUnderlayIndex = 7;
// Outer Ethernet, IPv4, TCP and the STT header in front of the inner frame.
constexpr std::size_t kOuterLen = 14 + 20 + 20 + 18;

// Answers next-hop queries as a test sets them: every peer is on-link via
// the underlay; its neighbour entry is usable only once `resolved`.
class FakeNextHops : public NextHopSource {
 public:
  std::optional<sys::RouteInfo> route(const wire::IpAddr&) override {
    sys::RouteInfo r;
    r.oif = kUnderlayIndex;
    return r;
  }
  std::optional<sys::NeighInfo> neighbour(int, const wire::IpAddr&) override {
    if (!resolved) return std::nullopt;
    sys::NeighInfo n;
    n.state = NUD_REACHABLE;
    n.mac = kNextHopMac;
    return n;
  }
  bool resolve(int, const wire::IpAddr&) override {
    ++solicits;
    return true;
  }
  bool resolved = true;
  int solicits = 0;
};

sys::LinkInfo underlay() {
  sys::LinkInfo l;
  l.index = kUnderlayIndex;
  l.mac = kLocalMac;
  l.mtu = 1500;
  return l;
}

// An inner Ethernet frame of `len` bytes (not IP, so encapsulation reads
// nothing past the Ethernet header) with a recognisable payload.
std::vector<std::uint8_t> inner_frame(const wire::MacAddr& dst, const wire::MacAddr& src,
                                      std::size_t len = 100) {
  std::vector<std::uint8_t> f(len);
  std::memcpy(f.data(), dst.b.data(), 6);
  std::memcpy(f.data() + 6, src.b.data(), 6);
  wire::store_be16(&f[12], 0x88b5);  // IEEE local experimental EtherType
  for (std::size_t i = 14; i < len; ++i)
    f[i] = static_cast<std::uint8_t>(i * 7);
  return f;
}

const wire::MacAddr kBroadcast = mac("ff:ff:ff:ff:ff:ff");
const wire::MacAddr kTenant = mac("02:00:00:00:00:01");

struct Fixture {
  explicit Fixture(std::size_t per_peer = 16, std::size_t total = 64) {
    DataplaneOptions o;
    o.underlay = "mem0";
    o.local = kLocal;
    o.peers.pending_per_peer = per_peer;
    o.peers.pending_total = total;
    dp = std::make_unique<Dataplane>(o, io, next_hops);
  }
  Network& add(const char* name, std::uint64_t ctx, std::vector<wire::IpAddr> peers) {
    NetworkConfig c;
    c.name = name;
    c.context_id = ctx;
    c.peers = std::move(peers);
    return dp->add_network(c, FdbLimits{});
  }
  void send(Network& n, const std::vector<std::uint8_t>& frame) {
    dp->transmit_frame(n, frame.data(), frame.size(), core::OffloadInfo{});
    dp->flush_tx();
  }
  std::uint64_t global(DpCounter c) const { return dp->counters().get(c); }

  MemoryPacketIo io{underlay(), true};
  FakeNextHops next_hops;
  std::unique_ptr<Dataplane> dp;
};

// The outer packet a peer's sttd sends for `inner` in context `ctx`, as the
// local packet socket receives it (checksum verified by the kernel).
class FromPeer {
 public:
  FromPeer(const wire::IpAddr& src, std::uint64_t ctx, const std::vector<std::uint8_t>& inner) {
    core::TunnelConfig tc;
    tc.src_mac = kNextHopMac;
    tc.dst_mac = kLocalMac;
    tc.src = src;
    tc.dst = kLocal;
    core::Tunnel t(tc, 1);
    core::PacketBuffer in;
    std::memcpy(in.data(), inner.data(), inner.size());
    auto batch = std::make_unique<core::TxBatch>();
    core::CounterSet<core::EncapCounter> ec;
    core::EncapRequest req;
    req.context_id = ctx;
    EXPECT_EQ(core::encapsulate(t, in.frame(inner.size()), req, core::TxForm::kGso, *batch, ec),
              core::EncapStatus::kOk);
    EXPECT_EQ(batch->size(), 1u);
    const core::TxPacket& p = (*batch)[0];
    std::memcpy(buf_.data(), p.header, p.header_len);
    std::memcpy(buf_.data() + p.header_len, p.payload, p.payload_len);
    frame_.buffer = &buf_;
    frame_.len = p.header_len + p.payload_len;
    frame_.vnet.flags = core::OffloadInfo::kDataValid;
  }
  sys::RxFrame& frame() { return frame_; }

 private:
  core::PacketBuffer buf_;
  sys::RxFrame frame_{};
};

// ---------------------------------------------------------------- admission

TEST(Admission, SwitchAnswersBothQuestions) {
  Fixture f;
  Network& a = f.add("a", 1, {ip("192.0.2.2")});
  Network& b = f.add("b", 2, {ip("192.0.2.3")});
  const Switch& sw = f.dp->network_switch();
  EXPECT_TRUE(sw.is_peer_of_any(ip("192.0.2.2")));
  EXPECT_TRUE(sw.is_peer_of_any(ip("192.0.2.3")));
  EXPECT_FALSE(sw.is_peer_of_any(ip("192.0.2.9")));
  Network* n = nullptr;
  EXPECT_EQ(sw.admit(1, ip("192.0.2.2"), &n), Admission::kAdmitted);
  EXPECT_EQ(n, &a);
  EXPECT_EQ(sw.admit(2, ip("192.0.2.2"), &n), Admission::kNotPeer);  // a peer, of a only
  EXPECT_EQ(n, &b);
  EXPECT_EQ(sw.admit(3, ip("192.0.2.2"), &n), Admission::kUnknownContext);
  EXPECT_EQ(n, nullptr);
}

TEST(Admission, PeerOfThisNetworkIsDeliveredAndLearned) {
  Fixture f;
  Network& a = f.add("a", 1, {ip("192.0.2.2")});
  const auto inner = inner_frame(kBroadcast, kTenant);
  FromPeer pkt(ip("192.0.2.2"), 1, inner);
  f.dp->receive_frame(pkt.frame());
  EXPECT_EQ(a.counters.get(DpCounter::kRxDelivered), 1u);
  ASSERT_EQ(f.io.written.size(), 1u);
  EXPECT_EQ(f.io.written[0].tap, "stt-a");
  EXPECT_EQ(f.io.written[0].bytes, inner);
  EXPECT_EQ(a.fdb.learned_count(), 1u);
}

TEST(Admission, PeerOfAnotherNetworkIsDroppedInThisOne) {
  Fixture f;
  Network& a = f.add("a", 1, {ip("192.0.2.2")});
  Network& b = f.add("b", 2, {ip("192.0.2.3")});
  FromPeer pkt(ip("192.0.2.3"), 1, inner_frame(kBroadcast, kTenant));  // b's peer, a's ID
  f.dp->receive_frame(pkt.frame());
  EXPECT_EQ(a.counters.get(DpCounter::kRxDropNotPeer), 1u);
  EXPECT_EQ(b.counters.get(DpCounter::kRxDropNotPeer), 0u);
  EXPECT_EQ(f.global(DpCounter::kRxDelivered), 0u);
  EXPECT_TRUE(f.io.written.empty());
  EXPECT_EQ(a.fdb.learned_count(), 0u);  // nothing learned from a non-peer
}

TEST(Admission, UnknownContextIsCountedGlobally) {
  Fixture f;
  Network& a = f.add("a", 1, {ip("192.0.2.2")});
  FromPeer pkt(ip("192.0.2.2"), 99, inner_frame(kBroadcast, kTenant));
  f.dp->receive_frame(pkt.frame());
  EXPECT_EQ(f.global(DpCounter::kRxDropUnknownContext), 1u);
  EXPECT_EQ(a.counters.get(DpCounter::kRxDropUnknownContext), 0u);
  EXPECT_TRUE(f.io.written.empty());
}

TEST(Admission, SourceThatIsNoPeerIsDroppedBeforeReassembly) {
  Fixture f;
  Network& a = f.add("a", 1, {ip("192.0.2.2")});
  FromPeer pkt(ip("192.0.2.50"), 1, inner_frame(kBroadcast, kTenant));
  f.dp->receive_frame(pkt.frame());
  EXPECT_EQ(f.global(DpCounter::kRxDropNotPeerSegments), 1u);
  EXPECT_EQ(a.counters.get(DpCounter::kRxDropNotPeer), 1u);  // the network its header names
  EXPECT_EQ(f.global(DpCounter::kRxSttFrames), 0u);          // never reached reassembly
  EXPECT_TRUE(f.io.written.empty());
}

// -------------------------------------------------------------- flood copies

TEST(Flood, EveryTargetButTheLastGetsACopy) {
  const std::vector<wire::IpAddr> targets = {ip("192.0.2.2"), ip("192.0.2.3"), ip("192.0.2.4")};
  core::PacketBuffer frame, copy;
  const auto bytes = inner_frame(kBroadcast, kTenant);
  std::memcpy(frame.data(), bytes.data(), bytes.size());
  frame.set_size(bytes.size());
  std::vector<wire::IpAddr> got;
  std::vector<const core::PacketBuffer*> given;
  flood(targets, frame, copy, [&](const wire::IpAddr& t, core::PacketBuffer& b) {
    got.push_back(t);
    given.push_back(&b);
    EXPECT_EQ(std::vector<std::uint8_t>(b.data(), b.data() + b.size()), bytes);
    b.data()[0] ^= 0xff;  // as encapsulation changes the frame it is given
  });
  EXPECT_EQ(got, targets);
  ASSERT_EQ(given.size(), 3u);
  EXPECT_EQ(given[0], &copy);
  EXPECT_EQ(given[1], &copy);
  EXPECT_EQ(given[2], &frame);  // the original, last
}

TEST(Flood, BroadcastReachesEveryPeerWithIdenticalBytes) {
  Fixture f;
  const std::vector<wire::IpAddr> peers = {ip("192.0.2.2"), ip("192.0.2.3"), ip("192.0.2.4")};
  Network& a = f.add("a", 1, peers);
  const auto inner = inner_frame(kBroadcast, kTenant);
  f.send(a, inner);
  EXPECT_EQ(a.counters.get(DpCounter::kTxFlooded), 1u);
  ASSERT_EQ(f.io.sent.size(), peers.size());
  std::vector<wire::IpAddr> dsts;
  for (const auto& p : f.io.sent) {
    ASSERT_EQ(p.bytes.size(), kOuterLen + inner.size());
    EXPECT_TRUE(std::equal(inner.begin(), inner.end(), p.bytes.begin() + kOuterLen));
    dsts.push_back(wire::IpAddr::v4(p.bytes.data() + 14 + 16));  // IPv4 destination
  }
  std::sort(dsts.begin(), dsts.end());
  EXPECT_EQ(dsts, peers);
}

TEST(Flood, KnownUnicastGoesToOnePeer) {
  Fixture f;
  Network& a = f.add("a", 1, {ip("192.0.2.2"), ip("192.0.2.3")});
  ASSERT_EQ(a.fdb.add_static(kTenant, ip("192.0.2.3")), FdbResult::kOk);
  f.send(a, inner_frame(kTenant, mac("02:00:00:00:00:02")));
  EXPECT_EQ(a.counters.get(DpCounter::kTxUnicast), 1u);
  EXPECT_EQ(f.io.sent.size(), 1u);
}

// ------------------------------------------------------------ pending queues

TEST(Pending, OverflowIsCountedAsNoNeighbour) {
  Fixture f(/*per_peer=*/2);
  f.next_hops.resolved = false;
  Network& a = f.add("a", 1, {ip("192.0.2.2")});
  for (int i = 0; i < 3; ++i)
    f.send(a, inner_frame(kBroadcast, kTenant));
  EXPECT_EQ(a.counters.get(DpCounter::kTxQueued), 2u);
  EXPECT_EQ(a.counters.get(DpCounter::kTxDropNoNeighbour), 1u);
  EXPECT_TRUE(f.io.sent.empty());
  EXPECT_EQ(f.dp->peers().sorted().at(0)->pending.size(), 2u);
  EXPECT_GE(f.next_hops.solicits, 1);  // the kernel was asked for the next hop
}

TEST(Pending, SharedPoolOverflowIsCounted) {
  Fixture f(/*per_peer=*/4, /*total=*/3);
  f.next_hops.resolved = false;
  Network& a = f.add("a", 1, {ip("192.0.2.2"), ip("192.0.2.3")});
  f.send(a, inner_frame(kBroadcast, kTenant));  // two queued
  f.send(a, inner_frame(kBroadcast, kTenant));  // one queued, one without a buffer
  EXPECT_EQ(a.counters.get(DpCounter::kTxQueued), 3u);
  EXPECT_EQ(a.counters.get(DpCounter::kTxDropNoNeighbour), 1u);
}

TEST(Pending, TimeoutDropsAndCounts) {
  Fixture f(/*per_peer=*/4);
  f.next_hops.resolved = false;
  Network& a = f.add("a", 1, {ip("192.0.2.2")});
  f.send(a, inner_frame(kBroadcast, kTenant));
  f.send(a, inner_frame(kBroadcast, kTenant));
  const std::uint64_t queued_by = Dataplane::now_ns();
  f.dp->tick(queued_by);  // not due yet
  EXPECT_EQ(a.counters.get(DpCounter::kTxDropNoNeighbour), 0u);
  f.dp->tick(queued_by + PeerPolicy{}.pending_timeout_ns + 1);
  EXPECT_EQ(a.counters.get(DpCounter::kTxDropNoNeighbour), 2u);
  EXPECT_EQ(f.global(DpCounter::kTxDropNoNeighbour), 2u);
  EXPECT_TRUE(f.dp->peers().sorted().at(0)->pending.empty());
  EXPECT_TRUE(f.io.sent.empty());
}

TEST(Pending, ResolutionSendsTheQueue) {
  Fixture f;
  f.next_hops.resolved = false;
  Network& a = f.add("a", 1, {ip("192.0.2.2")});
  f.send(a, inner_frame(kBroadcast, kTenant));
  f.send(a, inner_frame(kBroadcast, kTenant));
  ASSERT_TRUE(f.io.sent.empty());
  f.next_hops.resolved = true;
  f.dp->tick(Dataplane::now_ns() + kRecheckNs);
  EXPECT_EQ(f.io.sent.size(), 2u);
  const Peer* p = f.dp->peers().sorted().at(0);
  EXPECT_TRUE(p->resolved);
  EXPECT_TRUE(p->pending.empty());
  EXPECT_EQ(p->tunnel.config().dst_mac, kNextHopMac);
  EXPECT_EQ(a.counters.get(DpCounter::kTxDropNoNeighbour), 0u);
}

// ----------------------------------------------------------- network removal

TEST(RemoveNetwork, ItsPeersAndQueuedFramesGoOthersStay) {
  Fixture f;
  f.next_hops.resolved = false;
  Network& a = f.add("a", 1, {ip("192.0.2.2"), ip("192.0.2.3")});
  Network& b = f.add("b", 2, {ip("192.0.2.3"), ip("192.0.2.4")});
  f.send(a, inner_frame(kBroadcast, kTenant));  // queued for .2 and .3
  f.send(b, inner_frame(kBroadcast, kTenant));  // queued for .3 and .4
  ASSERT_EQ(f.dp->peers().size(), 3u);

  f.dp->remove_network(a);
  EXPECT_EQ(f.dp->network("a"), nullptr);
  EXPECT_EQ(f.global(DpCounter::kTxDropNoNeighbour), 2u);  // a's two queued frames
  EXPECT_EQ(b.counters.get(DpCounter::kTxDropNoNeighbour), 0u);
  EXPECT_EQ(f.dp->peers().size(), 2u);  // .2 only served a
  EXPECT_FALSE(f.dp->network_switch().is_peer_of_any(ip("192.0.2.2")));
  auto peers = f.dp->peers().sorted();
  ASSERT_EQ(peers[0]->addr, ip("192.0.2.3"));
  ASSERT_EQ(peers[0]->pending.size(), 1u);  // b's frame stays queued
  EXPECT_EQ(peers[0]->pending[0].net, &b);
  EXPECT_EQ(peers[0]->refs.size(), 1u);
  EXPECT_EQ(b.fdb.peers().size(), 2u);
  Network* n = nullptr;
  EXPECT_EQ(f.dp->network_switch().admit(2, ip("192.0.2.3"), &n), Admission::kAdmitted);
  EXPECT_EQ(f.dp->network_switch().admit(1, ip("192.0.2.3"), &n), Admission::kUnknownContext);

  // b still sends once its next hops resolve.
  f.next_hops.resolved = true;
  f.dp->tick(Dataplane::now_ns() + kRecheckNs);
  EXPECT_EQ(f.io.sent.size(), 2u);
}

// -------------------------------------------------------------- peer sources

TEST(PeerSources, RecordedPerNetworkAndRemovedOneByOne) {
  Fixture f;
  Network& a = f.add("a", 1, {ip("192.0.2.2")});
  const auto sources = [&] { return f.dp->peers().sorted().at(0)->sources(&a); };
  EXPECT_EQ(sources(), static_cast<PeerSources>(PeerSource::kConfig));
  EXPECT_FALSE(f.dp->add_peer(a, ip("192.0.2.2"), PeerSource::kCluster));  // already a peer
  EXPECT_EQ(sources(), static_cast<PeerSources>(PeerSource::kConfig) |
                           static_cast<PeerSources>(PeerSource::kCluster));
  EXPECT_EQ(source_names(f.dp->peers().sorted().at(0)->sources()),
            (std::vector<std::string_view>{"config", "cluster"}));
  // The cluster forgets it: still configured, still a peer.
  EXPECT_TRUE(
      f.dp->remove_peer(a, ip("192.0.2.2"), static_cast<PeerSources>(PeerSource::kCluster)));
  EXPECT_TRUE(a.fdb.has_peer(ip("192.0.2.2")));
  EXPECT_EQ(sources(), static_cast<PeerSources>(PeerSource::kConfig));
  // Every source gone: gone.
  EXPECT_TRUE(f.dp->remove_peer(a, ip("192.0.2.2")));
  EXPECT_FALSE(a.fdb.has_peer(ip("192.0.2.2")));
  EXPECT_EQ(f.dp->peers().size(), 0u);
  EXPECT_FALSE(f.dp->remove_peer(a, ip("192.0.2.2")));
}

TEST(PeerSources, RuntimePeerIsAddedAndResolved) {
  Fixture f;
  Network& a = f.add("a", 1, {});
  EXPECT_TRUE(f.dp->add_peer(a, ip("192.0.2.5")));
  const Peer* p = f.dp->peers().sorted().at(0);
  EXPECT_EQ(p->sources(), static_cast<PeerSources>(PeerSource::kRuntime));
  EXPECT_TRUE(p->resolved);
  EXPECT_EQ(p->status, "ok");
}

}  // namespace
}  // namespace stt::daemon
