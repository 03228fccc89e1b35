// Property: whatever the network does to the segments (reorder, duplicate,
// lose, interleave across frames and peers), every frame the receiver
// delivers is byte-identical to what was sent, and every frame it does not
// deliver is accounted for by a counter. Fixed seeds; encapsulate() in the
// segmented form produces the traffic, parse_segment -> Reassembler ->
// decapsulate consumes it.

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <vector>

#include "core/buffer.hpp"
#include "core/decap.hpp"
#include "core/encap.hpp"
#include "core/reassembly.hpp"
#include "core/rx.hpp"
#include "wire/bytes.hpp"
#include "wire/checksum.hpp"

namespace stt::core {
namespace {

using Bytes = std::vector<std::uint8_t>;
constexpr std::uint64_t kUs = 1000;

struct SentFrame {
  Bytes expected;  // what decap must deliver (the tag re-inserted when one was carried)
  std::size_t segments = 0;
  bool withheld = false;  // the test dropped one of its segments
  int deliveries = 0;
};

struct Packet {
  Bytes bytes;
  std::size_t frame = 0;
  std::uint64_t sort_key = 0;
  bool corrupt = false;  // an extra copy with one payload bit flipped
};

struct Scenario {
  ReassemblyConfig reasm;
  int peers = 4;
  int frames = 150;
  std::size_t window = 64;  // how far a packet may move from its place
  double p_withhold = 0.08;
  double p_duplicate = 0.08;
  bool pressure = false;        // memory/frame caps may bite: no completeness check
  bool defer_checksum = false;  // RxConfig::defer_checksum: the reassembler verifies
  double p_corrupt = 0;         // chance of an extra, corrupted copy of a segment
};

std::uint64_t corrupt_sent(const std::vector<Packet>& packets) {
  std::uint64_t n = 0;
  for (const Packet& p : packets)
    n += p.corrupt;
  return n;
}

struct Totals {
  std::uint64_t frames = 0, delivered = 0, packets = 0;
  CounterSet<ReasmCounter> reasm;

  void print(const char* name) const {
    std::printf("%s: %llu frames, %llu packets, %llu delivered;", name,
                static_cast<unsigned long long>(frames), static_cast<unsigned long long>(packets),
                static_cast<unsigned long long>(delivered));
    reasm.for_each([](std::string_view n, std::uint64_t v) {
      if (v != 0)
        std::printf(" %.*s=%llu", static_cast<int>(n.size()), n.data(),
                    static_cast<unsigned long long>(v));
    });
    std::printf("\n");
  }
};

wire::IpAddr peer_addr(bool v6, int i) {
  if (v6) {
    std::uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                          0,    0,    0,    0,    0, 0, 0, static_cast<std::uint8_t>(10 + i)};
    return wire::IpAddr::v6(a);
  }
  std::uint8_t a[4] = {192, 0, 2, static_cast<std::uint8_t>(10 + i)};
  return wire::IpAddr::v4(a);
}

std::size_t pick_size(std::mt19937_64& rng) {
  const int bucket = static_cast<int>(rng() % 10);
  auto uniform = [&rng](std::size_t lo, std::size_t hi) { return lo + rng() % (hi - lo + 1); };
  if (bucket < 4) return uniform(14, 1600);
  if (bucket < 8) return uniform(1600, 16000);
  if (bucket < 9) return uniform(16000, 65517);
  return rng() % 2 ? 65517 : 14;
}

// One round: several peers send frames, the network mangles the segments,
// one receiver takes them all. Returns false (with gtest failures) on any
// wrong or unaccounted frame.
void run_round(std::uint64_t seed, const Scenario& sc, Totals& totals) {
  std::mt19937_64 rng(seed);
  auto chance = [&rng](double p) { return static_cast<double>(rng() % 1'000'000) < p * 1e6; };

  const wire::IpAddr local_v4 = *wire::IpAddr::parse("192.0.2.1");
  const wire::IpAddr local_v6 = *wire::IpAddr::parse("2001:db8::1");
  std::vector<Tunnel> tunnels;
  std::vector<std::uint16_t> mtus;
  for (int i = 0; i < sc.peers; ++i) {
    TunnelConfig tc;
    const bool v6 = (seed + static_cast<std::uint64_t>(i)) % 2 == 1;
    tc.src = peer_addr(v6, i);
    tc.dst = v6 ? local_v6 : local_v4;
    tc.mtu = static_cast<std::uint16_t>(576 + rng() % (9000 - 576 + 1));
    tc.dscp_mode = DscpMode::kPipe;
    tunnels.emplace_back(tc, static_cast<std::uint32_t>(rng()));
    mtus.push_back(tc.mtu);
  }

  // ---- send
  std::vector<SentFrame> sent;
  std::vector<Packet> packets;
  std::map<std::pair<wire::IpAddr, std::uint32_t>, std::size_t> by_key;
  TxBatch batch;
  CounterSet<EncapCounter> enc_counters;
  Bytes buf;
  for (int n = 0; n < sc.frames; ++n) {
    const int peer = static_cast<int>(rng() % static_cast<std::uint64_t>(sc.peers));
    const std::size_t len = pick_size(rng);
    buf.assign(kDefaultHeadroom + len, 0);
    std::uint8_t* frame = buf.data() + kDefaultHeadroom;
    for (std::size_t i = 0; i < len; ++i)
      frame[i] = static_cast<std::uint8_t>(rng());
    frame[0] &= 0xfe;                                     // unicast destination MAC
    if (len >= 14) wire::store_be16(frame + 12, 0x88b5);  // not IP: decap must not touch it
    SentFrame sf;
    sf.expected.assign(frame, frame + len);
    EncapRequest req;
    req.context_id = rng();
    if (chance(0.25)) {
      VlanTci v{static_cast<std::uint8_t>(rng() % 8), static_cast<std::uint16_t>(rng() % 4095)};
      req.vlan = v;
      const std::uint8_t tag[4] = {0x81, 0x00,
                                   static_cast<std::uint8_t>((v.pcp << 5) | (v.vid >> 8)),
                                   static_cast<std::uint8_t>(v.vid)};
      sf.expected.insert(sf.expected.begin() + 12, tag, tag + 4);
    }
    batch.clear();
    ASSERT_EQ(encapsulate(tunnels[peer], {frame, len, kDefaultHeadroom}, req, TxForm::kSegmented,
                          batch, enc_counters),
              EncapStatus::kOk)
        << "seed " << seed << " len " << len << " mtu " << mtus[peer];
    ASSERT_GT(batch.size(), 0u);
    const std::size_t idx = sent.size();
    std::vector<Packet> segs;
    for (const TxPacket& p : batch) {
      Packet pk;
      pk.bytes.assign(p.header, p.header + p.header_len);
      pk.bytes.insert(pk.bytes.end(), p.payload, p.payload + p.payload_len);
      pk.frame = idx;
      segs.push_back(std::move(pk));
    }
    sf.segments = segs.size();
    // The key the receiver will see: (outer source, packet ID).
    SttSegment probe;
    ASSERT_EQ(parse_segment(segs[0].bytes.data(), segs[0].bytes.size(), {}, {}, &probe),
              RxCounter::kSegments);
    by_key[{probe.outer_src, probe.packet_id}] = idx;
    if (chance(sc.p_withhold)) {
      segs.erase(segs.begin() + static_cast<std::ptrdiff_t>(rng() % segs.size()));
      sf.withheld = true;
    }
    if (!segs.empty() && chance(sc.p_duplicate)) segs.push_back(segs[rng() % segs.size()]);
    if (sc.p_corrupt > 0 && !segs.empty() && chance(sc.p_corrupt)) {
      Packet c = segs[rng() % segs.size()];
      c.bytes.back() ^= static_cast<std::uint8_t>(1u << (rng() % 8));  // always payload
      c.corrupt = true;
      segs.push_back(std::move(c));
    }
    for (auto& s : segs) {
      s.sort_key = packets.size() + rng() % sc.window;
      packets.push_back(std::move(s));
    }
    sent.push_back(std::move(sf));
  }
  std::stable_sort(packets.begin(), packets.end(),
                   [](const Packet& a, const Packet& b) { return a.sort_key < b.sort_key; });

  // ---- receive
  Reassembler reasm(sc.reasm);
  DecapConfig dcfg;
  dcfg.dscp_mode = DscpMode::kPipe;
  DecapOutput out;
  CounterSet<DecapCounter> dcount;
  std::uint64_t now = 1'000'000'000;
  std::uint64_t created = 0;
  std::uint64_t delivered = 0;
  std::uint64_t corrupt = 0;
  RxConfig rx;
  rx.defer_checksum = sc.defer_checksum;
  for (std::size_t i = 0; i < packets.size(); ++i) {
    Packet& pk = packets[i];
    SttSegment seg;
    const RxCounter rc = parse_segment(pk.bytes.data(), pk.bytes.size(), {}, rx, &seg);
    if (pk.corrupt && !sc.defer_checksum) {
      ASSERT_EQ(rc, RxCounter::kDropBadTcpChecksum);
      continue;
    }
    ASSERT_EQ(rc, RxCounter::kSegments);
    const auto before_stats = reasm.stats();
    const auto before = reasm.counters();
    ReassembledFrame f;
    const bool done = reasm.add(seg, now, &f);
    const auto& after = reasm.counters();
    auto delta = [&](ReasmCounter c) { return after.get(c) - before.get(c); };
    // Frames that came into being in this call.
    created += reasm.stats().frames_in_flight + delta(ReasmCounter::kEvicted) +
               delta(ReasmCounter::kCompleted) + delta(ReasmCounter::kDropLengthMismatch) +
               delta(ReasmCounter::kExpired) - before_stats.frames_in_flight;
    ASSERT_LE(reasm.stats().bytes_in_use, sc.reasm.mem_high);
    if (pk.corrupt) {
      // Dropped as exactly that; nothing but the clock's expiry changed.
      ++corrupt;
      ASSERT_FALSE(done) << "seed " << seed;
      for (std::size_t k = 0; k < static_cast<std::size_t>(ReasmCounter::kCount); ++k) {
        const auto c = static_cast<ReasmCounter>(k);
        const std::uint64_t want = c == ReasmCounter::kDropBadChecksum ? 1 : 0;
        if (c != ReasmCounter::kExpired) {
          ASSERT_EQ(delta(c), want) << counter_name(c);
        }
      }
      if (delta(ReasmCounter::kExpired) == 0) {
        ASSERT_EQ(reasm.stats().frames_in_flight, before_stats.frames_in_flight);
        ASSERT_EQ(reasm.stats().bytes_held, before_stats.bytes_held);
      }
      now += kUs;
      continue;
    }
    if (done) {
      auto it = by_key.find({f.outer_src, f.packet_id});
      ASSERT_NE(it, by_key.end());
      SentFrame& sf = sent[it->second];
      out.clear();
      ASSERT_EQ(decapsulate(f, dcfg, out, dcount), DecapStatus::kOk);
      ASSERT_EQ(out.size(), 1u);
      ASSERT_EQ(Bytes(out[0].data, out[0].data + out[0].len), sf.expected)
          << "seed " << seed << " frame " << it->second;
      ++sf.deliveries;
      ++delivered;
    }
    now += kUs;
    if (i % 512 == 0) {
      const auto e0 = reasm.counters().get(ReasmCounter::kExpired);
      const auto in0 = reasm.stats().frames_in_flight;
      reasm.expire(now);
      ASSERT_EQ(in0 - reasm.stats().frames_in_flight,
                reasm.counters().get(ReasmCounter::kExpired) - e0);
    }
  }
  reasm.expire(now + sc.reasm.timeout_ns);
  ASSERT_EQ(reasm.stats().frames_in_flight, 0u);
  ASSERT_EQ(reasm.stats().bytes_in_use, 0u);
  ASSERT_EQ(reasm.stats().bytes_held, 0u);

  // ---- reconcile
  const auto& c = reasm.counters();
  // Every segment has exactly one outcome.
  EXPECT_EQ(c.get(ReasmCounter::kWhole) + c.get(ReasmCounter::kSegmentsHeld) +
                c.get(ReasmCounter::kDropDuplicate) + c.get(ReasmCounter::kDropOverlap) +
                c.get(ReasmCounter::kDropSourceLimit) + c.get(ReasmCounter::kDropNoMemory) +
                c.get(ReasmCounter::kDropLengthMismatch),
            packets.size() - corrupt_sent(packets))
      << "seed " << seed;
  EXPECT_EQ(c.get(ReasmCounter::kDropBadChecksum), sc.defer_checksum ? corrupt : 0u);
  if (sc.defer_checksum) {
    EXPECT_EQ(corrupt, corrupt_sent(packets));
  }
  // Every frame held ended one way.
  EXPECT_EQ(created, c.get(ReasmCounter::kCompleted) + c.get(ReasmCounter::kExpired) +
                         c.get(ReasmCounter::kEvicted) + c.get(ReasmCounter::kDropLengthMismatch))
      << "seed " << seed;
  EXPECT_EQ(c.get(ReasmCounter::kWhole) + c.get(ReasmCounter::kCompleted), delivered);
  EXPECT_EQ(c.get(ReasmCounter::kDropOverlap), 0u);  // a sender's segments never overlap
  EXPECT_EQ(c.get(ReasmCounter::kDropLengthMismatch), 0u);

  std::size_t complete_sent = 0, delivered_frames = 0;
  for (std::size_t i = 0; i < sent.size(); ++i) {
    const SentFrame& sf = sent[i];
    if (sf.withheld) {
      EXPECT_EQ(sf.deliveries, 0) << "seed " << seed << " frame " << i;
    } else {
      ++complete_sent;
    }
    delivered_frames += sf.deliveries > 0;
    // Only a single-segment frame can arrive whole twice (a duplicate).
    if (sf.segments > 1) {
      EXPECT_LE(sf.deliveries, 1);
    }
  }
  if (!sc.pressure) {
    // Nothing was evicted or refused: every frame sent whole arrives.
    EXPECT_EQ(c.get(ReasmCounter::kEvicted) + c.get(ReasmCounter::kDropNoMemory) +
                  c.get(ReasmCounter::kDropSourceLimit),
              0u);
    EXPECT_EQ(delivered_frames, complete_sent) << "seed " << seed;
  } else {
    // Each frame sent whole but not delivered lost a piece to a counted limit.
    EXPECT_LE(complete_sent - delivered_frames,
              c.get(ReasmCounter::kEvicted) + c.get(ReasmCounter::kDropNoMemory) +
                  c.get(ReasmCounter::kDropSourceLimit) + c.get(ReasmCounter::kExpired));
  }
  totals.delivered += delivered;
  totals.reasm.add(c);
  totals.frames += sent.size();
  totals.packets += packets.size();
}

TEST(Property, RoundTripUnderReorderLossAndDuplication) {
  Scenario sc;
  sc.reasm.timeout_ns = 100'000 * kUs;  // far longer than one round: nothing times out early
  Totals t;
  for (std::uint64_t seed = 1; seed <= 40; ++seed) {
    run_round(seed, sc, t);
    if (HasFatalFailure()) return;
  }
  t.print("reorder/loss/duplication");
  EXPECT_GT(t.delivered, t.frames / 2);
}

TEST(Property, WideInterleavingAcrossManyPeers) {
  Scenario sc;
  sc.peers = 12;
  sc.window = 4096;  // segments of many frames mixed thoroughly
  sc.reasm.timeout_ns = 100'000 * kUs;
  Totals t;
  for (std::uint64_t seed = 100; seed < 120; ++seed) {
    run_round(seed, sc, t);
    if (HasFatalFailure()) return;
  }
  t.print("wide interleaving");
  EXPECT_GT(t.delivered, t.frames / 2);
  EXPECT_GT(t.reasm.get(ReasmCounter::kDropDuplicate), 0u);
  EXPECT_GT(t.reasm.get(ReasmCounter::kExpired), 0u);
}

TEST(Property, UnderMemoryPressureNothingWrongAndEverythingCounted) {
  Scenario sc;
  sc.peers = 6;
  sc.window = 256;
  sc.reasm.mem_high = 1024 * 1024;
  sc.reasm.mem_low = 768 * 1024;
  sc.reasm.max_frames = 32;
  sc.reasm.max_frames_per_source = 8;
  sc.reasm.timeout_ns = 1500 * kUs;  // some frames spread wider than this expire
  sc.pressure = true;
  Totals t;
  for (std::uint64_t seed = 200; seed < 230; ++seed) {
    run_round(seed, sc, t);
    if (HasFatalFailure()) return;
  }
  t.print("memory pressure");
  EXPECT_GT(t.delivered, 0u);
  // The limits were really reached, so the accounting above was exercised.
  EXPECT_GT(t.reasm.get(ReasmCounter::kEvicted), 0u);
  EXPECT_GT(t.reasm.get(ReasmCounter::kDropSourceLimit), 0u);
  EXPECT_GT(t.reasm.get(ReasmCounter::kExpired), 0u);
}

TEST(Property, ChecksumVerifiedWhileCopyingDropsExactlyTheCorruptCopies) {
  // The fused receive path: parse_segment leaves the payload sum pending
  // and the reassembler verifies it as it copies. Corrupted extra copies
  // of segments, anywhere in the reordered stream, must be counted as bad
  // checksums and change nothing else; the genuine traffic completes.
  Scenario sc;
  sc.defer_checksum = true;
  sc.p_corrupt = 0.3;
  sc.reasm.timeout_ns = 100'000 * kUs;
  Totals t;
  for (std::uint64_t seed = 300; seed < 320; ++seed) {
    run_round(seed, sc, t);
    if (HasFatalFailure()) return;
  }
  t.print("checksum while copying");
  EXPECT_GT(t.delivered, t.frames / 2);
  EXPECT_GT(t.reasm.get(ReasmCounter::kDropBadChecksum), 0u);
}

// Differential: Reassembler::append_packet() in front of parse_segment() +
// add() must change nothing but speed. Two receivers get the same packets
// (segments mostly in order, duplicated, withheld, with corrupted payloads,
// header fields changed with the IPv4 checksum made right again, random
// offload flags and clock jumps past the timeout); one does parse_segment()
// + add() for every packet, the other tries append_packet() first. After
// every packet they must agree on the verdict, on whether a frame
// completed and on its bytes and metadata, and on every counter and stat.
void append_round(std::uint64_t seed, bool defer, std::uint64_t* taken, std::uint64_t* total) {
  std::mt19937_64 rng(seed);
  auto chance = [&rng](double p) { return static_cast<double>(rng() % 1'000'000) < p * 1e6; };
  const wire::IpAddr local_v4 = *wire::IpAddr::parse("192.0.2.1");
  const wire::IpAddr local_v6 = *wire::IpAddr::parse("2001:db8::1");
  std::vector<Tunnel> tunnels;
  for (int i = 0; i < 3; ++i) {
    TunnelConfig tc;
    const bool v6 = i == 2;
    tc.src = peer_addr(v6, i);
    tc.dst = v6 ? local_v6 : local_v4;
    tc.mtu = static_cast<std::uint16_t>(576 + rng() % (9000 - 576 + 1));
    tunnels.emplace_back(tc, static_cast<std::uint32_t>(rng()));
  }
  std::vector<Bytes> packets;
  std::vector<std::uint64_t> keys;
  TxBatch batch;
  CounterSet<EncapCounter> enc;
  Bytes buf;
  for (int n = 0; n < 60; ++n) {
    const int peer = static_cast<int>(rng() % tunnels.size());
    const std::size_t len = pick_size(rng);
    buf.assign(kDefaultHeadroom + len, 0);
    for (std::size_t i = kDefaultHeadroom; i < buf.size(); ++i)
      buf[i] = static_cast<std::uint8_t>(rng());
    EncapRequest req;
    req.context_id = rng();
    batch.clear();
    ASSERT_EQ(encapsulate(tunnels[static_cast<std::size_t>(peer)],
                          {buf.data() + kDefaultHeadroom, len, kDefaultHeadroom}, req,
                          TxForm::kSegmented, batch, enc),
              EncapStatus::kOk);
    for (const TxPacket& tp : batch) {
      Bytes b(tp.header, tp.header + tp.header_len);
      b.insert(b.end(), tp.payload, tp.payload + tp.payload_len);
      if (chance(0.03)) continue;  // lost
      if (chance(0.04)) {          // a payload bit flipped: a bad TCP checksum
        b.back() ^= static_cast<std::uint8_t>(1u << (rng() % 8));
      }
      if (chance(0.08) && b.size() >= 54) {
        // One byte of the outer headers changed; for IPv4 the header
        // checksum is made right again, so only the field itself differs.
        const std::size_t at = 12 + rng() % 42;
        b[at] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
        if (wire::load_be16(b.data() + 12) == wire::kEtherTypeIpv4 && chance(0.8)) {
          wire::store_be16(b.data() + 24, 0);
          wire::store_be16(b.data() + 24, wire::csum::ipv4_header(b.data() + 14, 20));
        }
      }
      keys.push_back(packets.size() * 4 + (chance(0.05) ? rng() % 64 : 0));
      packets.push_back(b);
      if (chance(0.03)) {  // duplicated
        keys.push_back(packets.size() * 4);
        packets.push_back(packets.back());
      }
    }
  }
  std::vector<std::size_t> order(packets.size());
  for (std::size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&keys](std::size_t a, std::size_t b) { return keys[a] < keys[b]; });

  ReassemblyConfig rc;
  rc.timeout_ns = 2000 * kUs;
  rc.mem_high = 2u << 20;
  rc.mem_low = 1u << 20;
  rc.max_frames = 16;
  Reassembler ra(rc), rb(rc);
  RxConfig rx;
  rx.defer_checksum = defer;
  if (seed % 3 != 0) rx.local = local_v4;
  std::uint64_t now = 1'000'000'000;
  for (std::size_t k : order) {
    Bytes pa = packets[k], pb = packets[k];
    OffloadInfo off;
    const int f = static_cast<int>(rng() % 8);
    off.flags = f == 0 ? OffloadInfo::kDataValid : f == 1 ? OffloadInfo::kNeedsCsum : 0;
    now += chance(0.01) ? rc.timeout_ns : 1 + rng() % 20;
    SttSegment sa;
    const RxCounter va = parse_segment(pa.data(), pa.size(), off, rx, &sa);
    ReassembledFrame fa, fb;
    const bool da = va == RxCounter::kSegments && ra.add(sa, now, &fa);
    RxCounter vb = RxCounter::kSegments;
    bool db = false;
    ++*total;
    switch (rb.append_packet(pb.data(), pb.size(), off, rx, now, &fb)) {
      case Reassembler::Append::kHeld:
        ++*taken;
        break;
      case Reassembler::Append::kCompleted:
        ++*taken;
        db = true;
        break;
      case Reassembler::Append::kNotTaken: {
        SttSegment sb;
        vb = parse_segment(pb.data(), pb.size(), off, rx, &sb);
        db = vb == RxCounter::kSegments && rb.add(sb, now, &fb);
        break;
      }
    }
    ASSERT_EQ(va, vb) << "seed " << seed << " packet " << k;
    ASSERT_EQ(da, db) << "seed " << seed << " packet " << k;
    if (da) {
      ASSERT_EQ(Bytes(fa.data, fa.data + fa.len), Bytes(fb.data, fb.data + fb.len));
      ASSERT_EQ(fa.headroom, fb.headroom);
      ASSERT_EQ(fa.segments, fb.segments);
      ASSERT_EQ(fa.first_tos, fb.first_tos);
      ASSERT_EQ(fa.ce, fb.ce);
      ASSERT_EQ(fa.packet_id, fb.packet_id);
      ASSERT_EQ(fa.src_port, fb.src_port);
      ASSERT_EQ(fa.outer_src, fb.outer_src);
      ASSERT_EQ(fa.outer_dst, fb.outer_dst);
    }
    for (std::size_t c = 0; c < CounterSet<ReasmCounter>::kSize; ++c) {
      ASSERT_EQ(ra.counters()[c], rb.counters()[c]) << "seed " << seed << " packet " << k << " "
                                                    << counter_name(static_cast<ReasmCounter>(c));
    }
    ASSERT_EQ(ra.stats().frames_in_flight, rb.stats().frames_in_flight);
    ASSERT_EQ(ra.stats().bytes_in_use, rb.stats().bytes_in_use);
    ASSERT_EQ(ra.stats().bytes_held, rb.stats().bytes_held);
  }
}

TEST(Property, AppendPacketChangesNothingButSpeed) {
  std::uint64_t taken = 0, total = 0;
  for (std::uint64_t seed = 400; seed < 460; ++seed) {
    append_round(seed, seed % 2 == 0, &taken, &total);
    if (HasFatalFailure()) return;
  }
  std::printf("append_packet took %llu of %llu packets\n", static_cast<unsigned long long>(taken),
              static_cast<unsigned long long>(total));
  // The fast path really ran, and so did the fallback.
  EXPECT_GT(taken, total / 10);
  EXPECT_LT(taken, total);
}

}  // namespace
}  // namespace stt::core
