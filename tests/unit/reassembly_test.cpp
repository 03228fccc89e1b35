// Reassembler: arrival order, interleaving, duplicates and overlaps at byte
// granularity, length mismatch, timeout, memory watermarks, frame caps and
// the whole-frame fast path.

#include "core/reassembly.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>
#include <vector>

#include "rx_packet_builder.hpp"
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

// add() checks the bounds it copies by itself, whatever its caller checked:
// a piece past its frame's end (first piece, or the next one in order) or
// an empty one is refused, counted, and changes nothing held.
TEST(Reassembly, PiecesOutsideTheirFrameAreRefused) {
  Reassembler r({});
  auto f = make_frame(3000, 4);
  std::vector<std::uint8_t> big(4000, 0);
  ReassembledFrame out;
  SttSegment beyond = piece(big, 2000, 1500, 5);
  beyond.frame_len = 3000;  // [2000, 3500) in a 3000-byte frame
  EXPECT_FALSE(r.add(beyond, 0, &out));
  EXPECT_EQ(r.counters().get(ReasmCounter::kDropLengthMismatch), 1u);
  EXPECT_EQ(r.stats().frames_in_flight, 0u);

  EXPECT_FALSE(r.add(piece(f, 0, 1000, 5), 0, &out));  // held, appendable at 1000
  SttSegment next = piece(big, 1000, 2500, 5);
  next.frame_len = 3000;  // the next in order, but 500 bytes too long
  EXPECT_FALSE(r.add(next, 0, &out));
  SttSegment empty = piece(f, 1000, 0, 5);
  EXPECT_FALSE(r.add(empty, 0, &out));
  EXPECT_EQ(r.counters().get(ReasmCounter::kDropLengthMismatch), 3u);
  EXPECT_EQ(r.stats().bytes_held, 1000u);
  EXPECT_TRUE(r.add(piece(f, 1000, 2000, 5), 0, &out));
  EXPECT_TRUE(same(out, f));
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

TEST(Reassembly, DuplicateAndOverlapAfterAGapAreExact) {
  // A piece that leaves a gap moves the coverage from the in-order run to
  // the bitmap; duplicates and overlaps must be classified the same there,
  // on both sides of the gap and across it.
  Reassembler r({});
  auto f = make_frame(4000, 7);
  ReassembledFrame out;
  EXPECT_FALSE(r.add(piece(f, 0, 1000, 8), 0, &out));
  EXPECT_FALSE(r.add(piece(f, 1000, 500, 8), 0, &out));   // extends the run
  EXPECT_FALSE(r.add(piece(f, 2500, 1000, 8), 0, &out));  // gap [1500, 2500)
  EXPECT_FALSE(r.add(piece(f, 2500, 1000, 8), 0, &out));  // duplicate after the gap
  EXPECT_FALSE(r.add(piece(f, 200, 1300, 8), 0, &out));   // duplicate before it
  EXPECT_EQ(r.counters().get(ReasmCounter::kDropDuplicate), 2u);
  EXPECT_FALSE(r.add(piece(f, 1400, 200, 8), 0, &out));   // into the gap by 100
  EXPECT_FALSE(r.add(piece(f, 2400, 101, 8), 0, &out));   // one byte past it
  EXPECT_FALSE(r.add(piece(f, 1000, 2000, 8), 0, &out));  // across it
  EXPECT_EQ(r.counters().get(ReasmCounter::kDropOverlap), 3u);
  EXPECT_EQ(r.stats().bytes_held, 2500u);
  EXPECT_FALSE(r.add(piece(f, 1500, 1000, 8), 0, &out));  // the gap exactly
  EXPECT_FALSE(r.add(piece(f, 3999, 1, 8), 0, &out));
  EXPECT_TRUE(r.add(piece(f, 3500, 499, 8), 0, &out));
  EXPECT_TRUE(same(out, f));
  EXPECT_EQ(out.segments, 6);
}

TEST(Reassembly, ReverseOrderGrowsTheRunDownward) {
  Reassembler r({});
  auto f = make_frame(3000, 9);
  ReassembledFrame out;
  EXPECT_FALSE(r.add(piece(f, 2000, 1000, 4), 0, &out));
  EXPECT_FALSE(r.add(piece(f, 1000, 1000, 4), 0, &out));
  EXPECT_FALSE(r.add(piece(f, 1500, 100, 4), 0, &out));  // inside the run
  EXPECT_FALSE(r.add(piece(f, 900, 101, 4), 0, &out));   // one byte into it
  EXPECT_EQ(r.counters().get(ReasmCounter::kDropDuplicate), 1u);
  EXPECT_EQ(r.counters().get(ReasmCounter::kDropOverlap), 1u);
  EXPECT_TRUE(r.add(piece(f, 0, 1000, 4), 0, &out));
  EXPECT_TRUE(same(out, f));
}

// ---- checksums left pending by parse_segment (RxConfig::defer_checksum)

struct Wire {
  std::vector<std::uint8_t> frame;
  std::vector<std::vector<std::uint8_t>> packets;  // outer segments, checksums correct
};

Wire wire_frame(std::size_t len, std::uint32_t mss, std::uint32_t id, std::uint8_t seed) {
  Wire w;
  w.frame = make_frame(len, seed);
  for (auto [o, n] : cuts(len, mss)) {
    test::SegmentSpec spec;
    spec.frame_len = static_cast<std::uint16_t>(len);
    spec.offset = static_cast<std::uint16_t>(o);
    spec.packet_id = id;
    w.packets.push_back(
        test::build_segment(spec, std::span<const std::uint8_t>(w.frame.data() + o, n)));
  }
  return w;
}

// parse_segment with the checksum pending; the segment points into `pkt`.
SttSegment deferred(std::vector<std::uint8_t>& pkt) {
  RxConfig cfg;
  cfg.defer_checksum = true;
  SttSegment s;
  EXPECT_EQ(parse_segment(pkt.data(), pkt.size(), OffloadInfo{}, cfg, &s), RxCounter::kSegments);
  return s;
}

void corrupt_payload(std::vector<std::uint8_t>& pkt) {
  pkt[pkt.size() - 3] ^= 0x40;
}

TEST(Reassembly, PendingChecksumVerifiedWhileCopying) {
  Wire w = wire_frame(4000, 1460, 31, 1);
  Reassembler r({});
  ReassembledFrame out;
  for (std::size_t i = 0; i < w.packets.size(); ++i) {
    SttSegment s = deferred(w.packets[i]);
    EXPECT_TRUE(s.checksum_pending);
    EXPECT_TRUE(pending_checksum_ok(s));
    EXPECT_EQ(r.add(s, 0, &out), i + 1 == w.packets.size());
  }
  EXPECT_TRUE(same(out, w.frame));
  EXPECT_EQ(r.counters().get(ReasmCounter::kDropBadChecksum), 0u);
  EXPECT_EQ(r.counters().get(ReasmCounter::kCompleted), 1u);

  // Without the flag, or with the kernel's DATA_VALID, nothing is pending.
  SttSegment s;
  ASSERT_EQ(parse_segment(w.packets[0].data(), w.packets[0].size(), {}, {}, &s),
            RxCounter::kSegments);
  EXPECT_FALSE(s.checksum_pending);
  RxConfig cfg;
  cfg.defer_checksum = true;
  OffloadInfo valid;
  valid.flags = OffloadInfo::kDataValid;
  ASSERT_EQ(parse_segment(w.packets[0].data(), w.packets[0].size(), valid, cfg, &s),
            RxCounter::kSegments);
  EXPECT_FALSE(s.checksum_pending);
}

TEST(Reassembly, BadPendingChecksumLeavesNoTrace) {
  Wire w = wire_frame(4000, 1460, 32, 2);
  Reassembler r({});
  ReassembledFrame out;
  auto bad = w.packets;
  for (auto& p : bad)
    corrupt_payload(p);
  // Parsing alone does not look at the payload.
  SttSegment s0 = deferred(bad[0]);
  EXPECT_FALSE(pending_checksum_ok(s0));

  // A first segment with a bad checksum creates no frame.
  EXPECT_FALSE(r.add(s0, 0, &out));
  EXPECT_EQ(r.counters().get(ReasmCounter::kDropBadChecksum), 1u);
  EXPECT_EQ(r.stats().frames_in_flight, 0u);
  EXPECT_EQ(r.stats().bytes_in_use, 0u);

  EXPECT_FALSE(r.add(deferred(w.packets[0]), 0, &out));
  // New bytes with a bad checksum: not held, and the good copy still fits.
  EXPECT_FALSE(r.add(deferred(bad[1]), 0, &out));
  EXPECT_EQ(r.stats().bytes_held, 1460u);
  // A bad duplicate counts as a bad checksum, not as a duplicate.
  EXPECT_FALSE(r.add(deferred(bad[0]), 0, &out));
  // A bad segment that disagrees on L does not drop the frame.
  auto other_len = w.packets[1];
  {
    test::SegmentSpec spec;
    spec.frame_len = 4001;
    spec.offset = 1460;
    spec.packet_id = 32;
    other_len =
        test::build_segment(spec, std::span<const std::uint8_t>(w.frame.data() + 1460, 1460));
    corrupt_payload(other_len);
  }
  EXPECT_FALSE(r.add(deferred(other_len), 0, &out));
  EXPECT_EQ(r.counters().get(ReasmCounter::kDropBadChecksum), 4u);
  EXPECT_EQ(r.counters().get(ReasmCounter::kDropDuplicate), 0u);
  EXPECT_EQ(r.counters().get(ReasmCounter::kDropLengthMismatch), 0u);
  EXPECT_EQ(r.stats().frames_in_flight, 1u);
  EXPECT_EQ(r.counters().get(ReasmCounter::kSegmentsHeld), 1u);

  EXPECT_FALSE(r.add(deferred(w.packets[1]), 0, &out));
  EXPECT_TRUE(r.add(deferred(w.packets[2]), 0, &out));
  EXPECT_TRUE(same(out, w.frame));
  EXPECT_EQ(out.segments, 3);

  // A whole frame with a bad checksum is not delivered.
  Wire one = wire_frame(1000, 1460, 33, 3);
  corrupt_payload(one.packets[0]);
  EXPECT_FALSE(r.add(deferred(one.packets[0]), 0, &out));
  EXPECT_EQ(r.counters().get(ReasmCounter::kDropBadChecksum), 5u);
  EXPECT_EQ(r.counters().get(ReasmCounter::kWhole), 0u);
}

TEST(Reassembly, BadPendingChecksumIsCheckedBeforeAnEviction) {
  ReassemblyConfig cfg;
  cfg.max_frames = 1;
  Reassembler r(cfg);
  Wire a = wire_frame(3000, 1460, 41, 4), b = wire_frame(3000, 1460, 42, 5);
  ReassembledFrame out;
  EXPECT_FALSE(r.add(deferred(a.packets[0]), 0, &out));
  corrupt_payload(b.packets[0]);
  EXPECT_FALSE(r.add(deferred(b.packets[0]), 0, &out));  // would evict frame a
  EXPECT_EQ(r.counters().get(ReasmCounter::kDropBadChecksum), 1u);
  EXPECT_EQ(r.counters().get(ReasmCounter::kEvicted), 0u);
  EXPECT_FALSE(r.add(deferred(a.packets[1]), 0, &out));
  EXPECT_TRUE(r.add(deferred(a.packets[2]), 0, &out));
  EXPECT_TRUE(same(out, a.frame));
}

}  // namespace
}  // namespace stt::core
