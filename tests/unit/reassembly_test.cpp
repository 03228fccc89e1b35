// Reassembler: arrival order, interleaving, duplicates and overlaps at byte
// granularity, length mismatch, timeout, memory watermarks, frame caps and
// the whole-frame fast path.

#include "core/reassembly.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>
#include <vector>

#include "wire/headers.hpp"

namespace stt::core {
namespace {

constexpr std::uint64_t kMs = 1'000'000;

std::vector<std::uint8_t> make_frame(std::size_t n, std::uint8_t seed) {
  std::vector<std::uint8_t> f(n);
  for (std::size_t i = 0; i < n; ++i)
    f[i] = static_cast<std::uint8_t>(seed + i * 7 + (i >> 8));
  return f;
}

wire::IpAddr v4(std::uint8_t last) {
  const std::uint8_t a[4] = {10, 0, 0, last};
  return wire::IpAddr::v4(a);
}

// One piece [off, off + n) of `frame` as a segment from `src`.
SttSegment piece(std::vector<std::uint8_t>& frame, std::uint32_t off, std::uint32_t n,
                 std::uint32_t id, wire::IpAddr src = v4(1), std::uint8_t tos = 0) {
  SttSegment s;
  s.outer_src = src;
  s.outer_dst = v4(254);
  s.src_port = 40000;
  s.dst_port = 7471;
  s.packet_id = id;
  s.frame_len = static_cast<std::uint16_t>(frame.size());
  s.offset = static_cast<std::uint16_t>(off);
  s.tos = tos;
  s.payload = frame.data() + off;
  s.payload_len = n;
  s.headroom = 54;
  return s;
}

// Cuts a frame into pieces of at most `mss` bytes.
std::vector<std::pair<std::uint32_t, std::uint32_t>> cuts(std::size_t len, std::uint32_t mss) {
  std::vector<std::pair<std::uint32_t, std::uint32_t>> v;
  for (std::uint32_t o = 0; o < len; o += mss) {
    v.emplace_back(o, std::min<std::uint32_t>(mss, static_cast<std::uint32_t>(len) - o));
  }
  return v;
}

bool same(const ReassembledFrame& f, const std::vector<std::uint8_t>& want) {
  return f.len == want.size() && std::equal(want.begin(), want.end(), f.data);
}

TEST(Reassembly, CounterNamesAreUnique) {
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < static_cast<std::size_t>(ReasmCounter::kCount); ++i) {
    names.insert(counter_name(static_cast<ReasmCounter>(i)));
  }
  EXPECT_EQ(names.size(), static_cast<std::size_t>(ReasmCounter::kCount));
  EXPECT_EQ(names.count("unknown"), 0u);
}

TEST(Reassembly, WholeFrameFastPathHasNoCopyAndNoEntry) {
  Reassembler r({});
  auto f = make_frame(500, 1);
  auto s = piece(f, 0, 500, 9, v4(1), 0x03);
  ReassembledFrame out;
  ASSERT_TRUE(r.add(s, 0, &out));
  EXPECT_EQ(out.data, f.data());  // a pointer into the input
  EXPECT_EQ(out.len, 500u);
  EXPECT_EQ(out.headroom, 54u);
  EXPECT_EQ(out.segments, 1);
  EXPECT_TRUE(out.ce);
  EXPECT_EQ(out.first_tos, 0x03);
  EXPECT_EQ(out.packet_id, 9u);
  EXPECT_EQ(r.stats().frames_in_flight, 0u);
  EXPECT_EQ(r.stats().bytes_in_use, 0u);
  EXPECT_EQ(r.counters().get(ReasmCounter::kWhole), 1u);
  EXPECT_EQ(r.counters().get(ReasmCounter::kSegmentsHeld), 0u);
}

TEST(Reassembly, InOrderPieces) {
  Reassembler r({});
  auto f = make_frame(3072, 2);
  auto c = cuts(f.size(), 1460);
  ReassembledFrame out;
  for (std::size_t i = 0; i < c.size(); ++i) {
    bool done = r.add(piece(f, c[i].first, c[i].second, 3), i, &out);
    EXPECT_EQ(done, i + 1 == c.size());
  }
  EXPECT_TRUE(same(out, f));
  EXPECT_EQ(out.segments, 3);
  EXPECT_GE(out.headroom, 16u);
  EXPECT_EQ(out.packet_id, 3u);
  EXPECT_EQ(out.src_port, 40000);
  EXPECT_EQ(r.stats().frames_in_flight, 0u);
  EXPECT_EQ(r.stats().bytes_in_use, 0u);
  EXPECT_EQ(r.stats().bytes_held, 0u);
  EXPECT_EQ(r.counters().get(ReasmCounter::kCompleted), 1u);
  EXPECT_EQ(r.counters().get(ReasmCounter::kSegmentsHeld), 3u);
}

TEST(Reassembly, EveryArrivalOrderOfFivePieces) {
  auto f = make_frame(5 * 700 - 13, 3);
  auto c = cuts(f.size(), 700);
  std::vector<std::size_t> order(c.size());
  std::iota(order.begin(), order.end(), 0);
  int perms = 0;
  do {
    Reassembler r({});
    ReassembledFrame out;
    for (std::size_t k = 0; k < order.size(); ++k) {
      const auto [o, n] = c[order[k]];
      ASSERT_EQ(r.add(piece(f, o, n, 77), k, &out), k + 1 == order.size());
    }
    ASSERT_TRUE(same(out, f));
    ++perms;
  } while (std::next_permutation(order.begin(), order.end()));
  EXPECT_EQ(perms, 120);
}

TEST(Reassembly, R17_InterleavedFramesAndPeersDoNotMix) {
  Reassembler r({});
  // Same source and destination, different IDs; and the same ID from a
  // second peer.
  auto a = make_frame(4000, 10), b = make_frame(4000, 20), c = make_frame(4000, 30);
  auto ca = cuts(4000, 1000);
  int done = 0;
  for (std::size_t i = 0; i < ca.size(); ++i) {
    ReassembledFrame out;
    const auto [o, n] = ca[ca.size() - 1 - i];
    if (r.add(piece(a, o, n, 1, v4(1)), i, &out)) {
      EXPECT_TRUE(same(out, a));
      ++done;
    }
    if (r.add(piece(b, ca[i].first, ca[i].second, 2, v4(1)), i, &out)) {
      EXPECT_TRUE(same(out, b));
      ++done;
    }
    if (r.add(piece(c, ca[i].first, ca[i].second, 1, v4(2)), i, &out)) {
      EXPECT_TRUE(same(out, c));
      ++done;
    }
  }
  EXPECT_EQ(done, 3);
  EXPECT_EQ(r.stats().frames_in_flight, 0u);
}

TEST(Reassembly, ExactDuplicateIsDropped) {
  Reassembler r({});
  auto f = make_frame(3000, 4);
  ReassembledFrame out;
  EXPECT_FALSE(r.add(piece(f, 0, 1000, 5), 0, &out));
  EXPECT_FALSE(r.add(piece(f, 0, 1000, 5), 1, &out));
  EXPECT_EQ(r.counters().get(ReasmCounter::kDropDuplicate), 1u);
  EXPECT_EQ(r.stats().bytes_held, 1000u);
  EXPECT_FALSE(r.add(piece(f, 1000, 1000, 5), 2, &out));
  // Covered entirely by what is held (two pieces): adds nothing.
  EXPECT_FALSE(r.add(piece(f, 500, 1000, 5), 3, &out));
  EXPECT_EQ(r.counters().get(ReasmCounter::kDropDuplicate), 2u);
  EXPECT_TRUE(r.add(piece(f, 2000, 1000, 5), 4, &out));
  EXPECT_TRUE(same(out, f));
}

TEST(Reassembly, OverlapByOneByteIsDroppedAndTheRestKept) {
  Reassembler r({});
  auto f = make_frame(3000, 5);
  ReassembledFrame out;
  EXPECT_FALSE(r.add(piece(f, 1000, 1000, 6), 0, &out));
  EXPECT_FALSE(r.add(piece(f, 0, 1001, 6), 0, &out));  // last byte overlaps
  EXPECT_FALSE(r.add(piece(f, 1999, 2, 6), 0, &out));  // first byte overlaps
  EXPECT_EQ(r.counters().get(ReasmCounter::kDropOverlap), 2u);
  EXPECT_EQ(r.stats().bytes_held, 1000u);
  // The exact neighbours fit.
  EXPECT_FALSE(r.add(piece(f, 0, 1000, 6), 0, &out));
  EXPECT_FALSE(r.add(piece(f, 2000, 999, 6), 0, &out));
  EXPECT_TRUE(r.add(piece(f, 2999, 1, 6), 0, &out));
  EXPECT_TRUE(same(out, f));
  EXPECT_EQ(out.segments, 4);
}

TEST(Reassembly, OddSizedPiecesAtByteGranularity) {
  Reassembler r({});
  auto f = make_frame(1000, 6);
  // Pieces of 1..n bytes in a scrambled order.
  std::vector<std::pair<std::uint32_t, std::uint32_t>> c;
  for (std::uint32_t o = 0, n = 1; o < 1000; o += n, n = n % 13 + 1) {
    c.emplace_back(o, std::min<std::uint32_t>(n, 1000 - o));
  }
  for (std::size_t i = 0; i < c.size(); ++i)
    std::swap(c[i], c[(i * 37) % c.size()]);
  ReassembledFrame out;
  std::size_t completions = 0;
  for (auto [o, n] : c)
    completions += r.add(piece(f, o, n, 8), 0, &out);
  ASSERT_EQ(completions, 1u);
  EXPECT_TRUE(same(out, f));
}

TEST(Reassembly, LengthMismatchDropsTheWholeFrame) {
  Reassembler r({});
  auto f = make_frame(3000, 7);
  auto g = make_frame(2500, 7);
  ReassembledFrame out;
  EXPECT_FALSE(r.add(piece(f, 0, 1000, 11), 0, &out));
  EXPECT_FALSE(r.add(piece(f, 1000, 1000, 11), 0, &out));
  EXPECT_FALSE(r.add(piece(g, 2000, 500, 11), 0, &out));
  EXPECT_EQ(r.counters().get(ReasmCounter::kDropLengthMismatch), 1u);
  EXPECT_EQ(r.stats().frames_in_flight, 0u);
  EXPECT_EQ(r.stats().bytes_in_use, 0u);
  // The last piece of the original no longer completes anything.
  EXPECT_FALSE(r.add(piece(f, 2000, 1000, 11), 0, &out));
  EXPECT_EQ(r.stats().frames_in_flight, 1u);
}

TEST(Reassembly, R25_FirstTosFromOffsetZeroAndR27_CeOredAcrossPieces) {
  Reassembler r({});
  auto f = make_frame(3000, 8);
  ReassembledFrame out;
  const std::uint8_t af11 = 10 << 2, ef = 46 << 2;
  EXPECT_FALSE(r.add(piece(f, 2000, 1000, 12, v4(1), ef), 0, &out));
  EXPECT_FALSE(r.add(piece(f, 1000, 1000, 12, v4(1), ef | wire::kEcnCe), 0, &out));
  ASSERT_TRUE(r.add(piece(f, 0, 1000, 12, v4(1), af11 | wire::kEcnEct0), 0, &out));
  EXPECT_EQ(out.first_tos, af11 | wire::kEcnEct0);
  EXPECT_TRUE(out.ce);

  EXPECT_FALSE(r.add(piece(f, 0, 1500, 13, v4(1), wire::kEcnEct0), 0, &out));
  ASSERT_TRUE(r.add(piece(f, 1500, 1500, 13, v4(1), wire::kEcnEct1), 0, &out));
  EXPECT_FALSE(out.ce);
}

TEST(Reassembly, TimeoutIsMeasuredFromTheFirstSegment) {
  ReassemblyConfig cfg;
  cfg.timeout_ns = 100 * kMs;
  Reassembler r(cfg);
  auto f = make_frame(3000, 9);
  ReassembledFrame out;
  EXPECT_FALSE(r.add(piece(f, 0, 1000, 14), 0, &out));
  EXPECT_FALSE(r.add(piece(f, 1000, 1000, 14), 90 * kMs, &out));  // later pieces do not extend it
  r.expire(99 * kMs);
  EXPECT_EQ(r.stats().frames_in_flight, 1u);
  r.expire(100 * kMs);
  EXPECT_EQ(r.stats().frames_in_flight, 0u);
  EXPECT_EQ(r.counters().get(ReasmCounter::kExpired), 1u);
  EXPECT_EQ(r.stats().bytes_in_use, 0u);
  EXPECT_FALSE(r.add(piece(f, 2000, 1000, 14), 101 * kMs, &out));  // starts a new, incomplete frame
}

TEST(Reassembly, StaleFrameIsExpiredWhenItsNextPieceArrives) {
  ReassemblyConfig cfg;
  cfg.timeout_ns = 100 * kMs;
  Reassembler r(cfg);
  auto f = make_frame(2000, 10);
  ReassembledFrame out;
  EXPECT_FALSE(r.add(piece(f, 0, 1000, 15), 0, &out));
  EXPECT_FALSE(r.add(piece(f, 1000, 1000, 15), 150 * kMs, &out));
  EXPECT_EQ(r.counters().get(ReasmCounter::kExpired), 1u);
  EXPECT_EQ(r.stats().frames_in_flight, 1u);
}

TEST(Reassembly, ExpireStopsAtTheFirstYoungFrame) {
  ReassemblyConfig cfg;
  cfg.timeout_ns = 100 * kMs;
  Reassembler r(cfg);
  std::vector<std::vector<std::uint8_t>> frames;
  for (int i = 0; i < 10; ++i)
    frames.push_back(make_frame(2000, static_cast<std::uint8_t>(i)));
  ReassembledFrame out;
  for (std::uint32_t i = 0; i < 10; ++i) {
    EXPECT_FALSE(r.add(piece(frames[i], 0, 1000, 100 + i), i * 10 * kMs, &out));
  }
  r.expire(145 * kMs);  // frames created at 0..40 ms are due
  EXPECT_EQ(r.counters().get(ReasmCounter::kExpired), 5u);
  EXPECT_EQ(r.stats().frames_in_flight, 5u);
}

TEST(Reassembly, EvictsLeastRecentlyUsedToLowWatermark) {
  ReassemblyConfig cfg;
  cfg.mem_high = 64 * 1024;
  cfg.mem_low = 32 * 1024;
  Reassembler r(cfg);
  // 4 KB frames take 3 pages of 2 KB (headroom + bitmap): 6 KB each.
  std::vector<std::vector<std::uint8_t>> frames;
  for (int i = 0; i < 20; ++i)
    frames.push_back(make_frame(4000, static_cast<std::uint8_t>(i)));
  ReassembledFrame out;
  std::size_t peak = 0;
  for (std::uint32_t i = 0; i < 10; ++i) {
    EXPECT_FALSE(r.add(piece(frames[i], 0, 1000, i), i, &out));
    peak = std::max(peak, r.stats().bytes_in_use);
  }
  EXPECT_EQ(r.stats().frames_in_flight, 10u);
  EXPECT_EQ(r.counters().get(ReasmCounter::kEvicted), 0u);
  // Touch frame 0 so frame 1 becomes the least recently used.
  EXPECT_FALSE(r.add(piece(frames[0], 1000, 1000, 0), 11, &out));
  // The 11th frame (6 KB) would take 60 KB past 64 KB: evict the least
  // recently used until in use + 6 KB <= mem_low, i.e. down to 24 KB.
  EXPECT_FALSE(r.add(piece(frames[10], 0, 1000, 10), 12, &out));
  EXPECT_LE(r.stats().bytes_in_use, cfg.mem_low);
  EXPECT_EQ(r.counters().get(ReasmCounter::kEvicted), 6u);
  EXPECT_EQ(r.stats().frames_in_flight, 5u);
  // Frame 0 survived (recently used); frames 1..6 went.
  EXPECT_FALSE(r.add(piece(frames[0], 2000, 1000, 0), 13, &out));
  EXPECT_TRUE(r.add(piece(frames[0], 3000, 1000, 0), 14, &out));
  EXPECT_TRUE(same(out, frames[0]));
  EXPECT_FALSE(r.add(piece(frames[1], 1000, 3000, 1), 15, &out));  // evicted: starts over
  EXPECT_LE(peak, cfg.mem_high);
}

TEST(Reassembly, MemoryNeverAboveHighWatermark) {
  ReassemblyConfig cfg;
  cfg.mem_high = 256 * 1024;
  cfg.mem_low = 192 * 1024;
  Reassembler r(cfg);
  std::vector<std::vector<std::uint8_t>> frames;
  for (int i = 0; i < 64; ++i) {
    frames.push_back(
        make_frame(static_cast<std::size_t>(2000 + i * 997 % 60000), static_cast<std::uint8_t>(i)));
  }
  ReassembledFrame out;
  for (std::uint32_t i = 0; i < frames.size(); ++i) {
    r.add(piece(frames[i], 0, 1000, i), i, &out);
    ASSERT_LE(r.stats().bytes_in_use, cfg.mem_high);
  }
  EXPECT_GT(r.counters().get(ReasmCounter::kEvicted), 0u);
}

TEST(Reassembly, FrameLargerThanAllMemoryIsDropped) {
  ReassemblyConfig cfg;
  cfg.mem_high = 16 * 1024;
  cfg.mem_low = 8 * 1024;
  Reassembler r(cfg);
  auto f = make_frame(60000, 1);
  ReassembledFrame out;
  EXPECT_FALSE(r.add(piece(f, 0, 1000, 1), 0, &out));
  EXPECT_EQ(r.counters().get(ReasmCounter::kDropNoMemory), 1u);
  EXPECT_EQ(r.stats().frames_in_flight, 0u);
}

TEST(Reassembly, FrameCapEvictsTheLeastRecentlyUsed) {
  ReassemblyConfig cfg;
  cfg.max_frames = 4;
  Reassembler r(cfg);
  std::vector<std::vector<std::uint8_t>> frames;
  for (int i = 0; i < 6; ++i)
    frames.push_back(make_frame(2000, static_cast<std::uint8_t>(i)));
  ReassembledFrame out;
  for (std::uint32_t i = 0; i < 4; ++i)
    r.add(piece(frames[i], 0, 1000, i, v4(i + 1)), i, &out);
  r.add(piece(frames[0], 1000, 500, 0, v4(1)), 5, &out);  // 0 is now recent
  EXPECT_FALSE(r.add(piece(frames[4], 0, 1000, 4, v4(5)), 6, &out));
  EXPECT_EQ(r.stats().frames_in_flight, 4u);
  EXPECT_EQ(r.counters().get(ReasmCounter::kEvicted), 1u);
  // Frame 1 was the least recently used.
  EXPECT_FALSE(r.add(piece(frames[1], 1000, 1000, 1, v4(2)), 7, &out));
  EXPECT_EQ(r.counters().get(ReasmCounter::kEvicted), 2u);
  EXPECT_TRUE(r.add(piece(frames[0], 1500, 500, 0, v4(1)), 8, &out));
  EXPECT_TRUE(same(out, frames[0]));
}

TEST(Reassembly, PerSourceCap) {
  ReassemblyConfig cfg;
  cfg.max_frames_per_source = 3;
  Reassembler r(cfg);
  std::vector<std::vector<std::uint8_t>> frames;
  for (int i = 0; i < 5; ++i)
    frames.push_back(make_frame(2000, static_cast<std::uint8_t>(i)));
  ReassembledFrame out;
  for (std::uint32_t i = 0; i < 3; ++i)
    r.add(piece(frames[i], 0, 1000, i, v4(1)), 0, &out);
  EXPECT_FALSE(r.add(piece(frames[3], 0, 1000, 3, v4(1)), 0, &out));
  EXPECT_EQ(r.counters().get(ReasmCounter::kDropSourceLimit), 1u);
  EXPECT_EQ(r.stats().frames_in_flight, 3u);
  // Other sources are not affected, and pieces of held frames still land.
  EXPECT_FALSE(r.add(piece(frames[3], 0, 1000, 3, v4(2)), 0, &out));
  EXPECT_TRUE(r.add(piece(frames[0], 1000, 1000, 0, v4(1)), 0, &out));
  // A slot freed: the source may start another frame.
  EXPECT_FALSE(r.add(piece(frames[4], 0, 1000, 4, v4(1)), 0, &out));
  EXPECT_EQ(r.counters().get(ReasmCounter::kDropSourceLimit), 1u);
}

TEST(Reassembly, ChurnKeepsTheTablesConsistent) {
  // Many sources and IDs created and completed in a scrambled order: the
  // index and per-source table (open addressing with backward-shift
  // deletion) must still find every frame.
  ReassemblyConfig cfg;
  cfg.max_frames = 64;
  cfg.max_frames_per_source = 64;
  Reassembler r(cfg);
  std::vector<std::vector<std::uint8_t>> frames;
  for (int i = 0; i < 48; ++i)
    frames.push_back(make_frame(1200, static_cast<std::uint8_t>(i)));
  ReassembledFrame out;
  std::size_t completed = 0;
  for (int round = 0; round < 20; ++round) {
    for (std::uint32_t i = 0; i < frames.size(); ++i) {
      const std::uint32_t id = static_cast<std::uint32_t>(round * 1000 + i);
      r.add(piece(frames[i], 0, 600, id, v4(static_cast<std::uint8_t>(i % 7))), 0, &out);
    }
    for (std::uint32_t k = 0; k < frames.size(); ++k) {
      const std::uint32_t i = (k * 29 + static_cast<std::uint32_t>(round)) % frames.size();
      const std::uint32_t id = static_cast<std::uint32_t>(round * 1000 + i);
      if (r.add(piece(frames[i], 600, 600, id, v4(static_cast<std::uint8_t>(i % 7))), 0, &out)) {
        ASSERT_TRUE(same(out, frames[i]));
        ++completed;
      }
    }
    ASSERT_EQ(r.stats().frames_in_flight, 0u);
  }
  EXPECT_EQ(completed, 20u * frames.size());
}

}  // namespace
}  // namespace stt::core
