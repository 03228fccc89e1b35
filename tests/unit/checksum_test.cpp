#include "wire/checksum.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace stt::wire {
namespace {

// Straightforward RFC 1071 reference: big-endian 16-bit words, odd byte padded.
std::uint16_t reference_fold(const std::vector<std::uint8_t>& d, std::size_t from, std::size_t n) {
  std::uint64_t s = 0;
  for (std::size_t i = 0; i < n; i += 2) {
    std::uint16_t w = static_cast<std::uint16_t>(d[from + i] << 8);
    if (i + 1 < n) w |= d[from + i + 1];
    s += w;
  }
  while (s >> 16)
    s = (s & 0xffff) + (s >> 16);
  return static_cast<std::uint16_t>(s);
}

TEST(Checksum, SumMatchesReferenceForEveryLengthAndAlignment) {
  std::mt19937 rng(7);
  std::vector<std::uint8_t> data(300);
  for (auto& b : data)
    b = static_cast<std::uint8_t>(rng());
  for (std::size_t from = 0; from < 9; ++from) {
    for (std::size_t n = 0; n + from <= data.size(); ++n) {
      ASSERT_EQ(csum::fold(csum::sum(data.data() + from, n)), reference_fold(data, from, n))
          << "from " << from << " n " << n;
    }
  }
}

TEST(Checksum, CopyAndSumCopiesAndSums) {
  std::mt19937 rng(11);
  std::vector<std::uint8_t> src(70000), dst(70000);
  for (auto& b : src)
    b = static_cast<std::uint8_t>(rng());
  // Every length around the vector kernel's 128-byte threshold and its 64-
  // and 32-byte steps, then packet sizes.
  std::vector<std::size_t> lengths{0u, 1u, 7u, 31u, 32u, 33u, 1460u, 1461u, 65517u, 70000u};
  for (std::size_t n = 120; n <= 260; ++n)
    lengths.push_back(n);
  for (std::size_t n : lengths) {
    std::fill(dst.begin(), dst.end(), 0);
    std::uint32_t s = csum::copy_and_sum(dst.data(), src.data(), n, 0x1234);
    EXPECT_TRUE(std::equal(src.begin(), src.begin() + n, dst.begin())) << n;
    EXPECT_EQ(csum::fold(s), csum::fold(csum::sum(src.data(), n, 0x1234))) << n;
  }
}

TEST(Checksum, CopyAndSumAtEveryDestinationAlignment) {
  // The vector path aligns the destination first; the head it sums apart
  // may have either parity.
  std::mt19937 rng(13);
  std::vector<std::uint8_t> src(2100), dst(2100);
  for (auto& b : src)
    b = static_cast<std::uint8_t>(rng());
  for (std::size_t d = 0; d < 33; ++d) {
    for (std::size_t sa : {0u, 1u, 54u}) {
      for (std::size_t n : {128u, 129u, 191u, 1460u, 1461u, 2000u}) {
        std::fill(dst.begin(), dst.end(), 0);
        const std::uint32_t s = csum::copy_and_sum(dst.data() + d, src.data() + sa, n, 7);
        ASSERT_TRUE(std::equal(src.begin() + sa, src.begin() + sa + n, dst.begin() + d));
        ASSERT_EQ(dst[d + n], 0) << "wrote past the end";
        if (d > 0) {
          ASSERT_EQ(dst[d - 1], 0) << "wrote before the start";
        }
        ASSERT_EQ(csum::fold(s), csum::fold(csum::add(reference_fold(src, sa, n), 7)))
            << "dst+" << d << " src+" << sa << " n " << n;
      }
    }
  }
}

// Every kernel (scalar, AVX2 where the CPU has it, and the automatic
// choice), summing and copying, against reference_fold for every length
// 0..4096 with random source and destination alignments and seeds.
TEST(Checksum, EveryKernelMatchesReferenceAtEveryLength) {
  std::vector<csum::Kernel> kernels{csum::Kernel::kAuto, csum::Kernel::kScalar};
  if (csum::has_kernel(csum::Kernel::kAvx2)) kernels.push_back(csum::Kernel::kAvx2);
  std::mt19937 rng(2026);
  constexpr std::size_t kMax = 4096, kSlack = 64;
  constexpr std::uint8_t kGuard = 0xa5;
  std::vector<std::uint8_t> src(kMax + kSlack), dst(kMax + 2 * kSlack);
  for (auto& b : src)
    b = static_cast<std::uint8_t>(rng());
  for (std::size_t n = 0; n <= kMax; ++n) {
    const std::size_t sa = rng() % kSlack, da = rng() % kSlack;
    const std::uint32_t seed = rng() & 0xfffff;
    const std::uint16_t want = csum::fold(csum::add(reference_fold(src, sa, n), seed));
    for (csum::Kernel k : kernels) {
      const int kn = static_cast<int>(k);
      ASSERT_EQ(csum::fold(csum::sum_with(k, src.data() + sa, n, seed)), want)
          << "sum kernel " << kn << " src+" << sa << " n " << n;
      std::fill(dst.begin(), dst.end(), kGuard);
      const std::uint32_t s = csum::copy_and_sum_with(k, dst.data() + da, src.data() + sa, n, seed);
      ASSERT_EQ(csum::fold(s), want)
          << "copy kernel " << kn << " dst+" << da << " src+" << sa << " n " << n;
      ASSERT_TRUE(std::equal(src.begin() + sa, src.begin() + sa + n, dst.begin() + da))
          << "copy kernel " << kn << " n " << n;
      for (std::size_t i = 0; i < dst.size(); ++i) {
        if (i < da || i >= da + n) {
          ASSERT_EQ(dst[i], kGuard) << "kernel " << kn << " wrote " << i;
        }
      }
    }
  }
}

// The AVX2 copy runs forward or backward depending on where the destination
// sits relative to the source modulo 4096 (a page), and splits the range at
// the destination's 32-byte alignment. For every direction class (the
// destination 0, 1..2048 and 2049..4095 bytes ahead modulo 4096, and both
// edges of the backward window), every head alignment 0..31, odd and even
// relative offsets, and lengths around 32/64/128 and packet sizes, each
// kernel must sum like the reference and write exactly [dst, dst + n).
TEST(Checksum, CopyAndSumAtEveryRelativePlacement) {
  std::vector<csum::Kernel> kernels{csum::Kernel::kAuto, csum::Kernel::kScalar};
  if (csum::has_kernel(csum::Kernel::kAvx2)) kernels.push_back(csum::Kernel::kAvx2);
  constexpr std::size_t kPage = 4096, kMax = 9000, kSlack = 64;
  constexpr std::uint8_t kGuard = 0x5a;
  std::mt19937 rng(4096);
  std::vector<std::uint8_t> src(2 * kPage + kMax + kSlack);
  for (auto& b : src)
    b = static_cast<std::uint8_t>(rng());
  // Page-aligned storage, so that offsets below are offsets modulo 4096.
  std::vector<std::uint8_t> dst_store(4 * kPage + kMax + 2 * kSlack);
  const std::uintptr_t sbase = reinterpret_cast<std::uintptr_t>(src.data());
  const std::size_t s0 = (kPage - sbase % kPage) % kPage;  // src.data() + s0 is page aligned
  std::uint8_t* const dpage =
      dst_store.data() +
      (kPage - reinterpret_cast<std::uintptr_t>(dst_store.data()) % kPage) % kPage;
  std::vector<std::size_t> lengths{31,  32,   33,   63,   64,   65,   95,   96,  97,  127,
                                   128, 129,  159,  160,  161,  191,  192,  193, 255, 256,
                                   257, 1447, 1448, 1449, 8947, 8948, 8949, kMax};
  std::vector<std::size_t> aheads{0,    1,    2,    3,    8,    31,   32,   33,   63,   64,  100,
                                  1023, 2047, 2048, 2049, 3000, 4031, 4064, 4088, 4093, 4095};
  for (std::size_t sa : {std::size_t{0}, std::size_t{1}, std::size_t{40}, std::size_t{4095}}) {
    const std::uint8_t* const s = src.data() + s0 + sa;
    std::vector<std::uint16_t> want;  // per length; seed 0x1234 + n
    for (std::size_t n : lengths)
      want.push_back(csum::fold(csum::add(reference_fold(src, s0 + sa, n), 0x1234 + n)));
    for (std::size_t ahead : aheads) {
      // The window's edges exactly; inside its classes, every alignment of
      // dst modulo 32 (dst moves by less than 32, staying in the class).
      const bool edge = ahead <= 1 || ahead == 2048 || ahead == 2049 || ahead == 4095;
      for (std::size_t head = 0; head < (edge ? 1u : 32u); ++head) {
        const std::size_t doff = (sa + ahead + head) % kPage;
        std::uint8_t* const d = dpage + kPage + doff;  // dst % 4096 == doff
        ASSERT_EQ(
            (reinterpret_cast<std::uintptr_t>(d) - reinterpret_cast<std::uintptr_t>(s)) % kPage,
            (ahead + head) % kPage);
        for (std::size_t li = 0; li < lengths.size(); ++li) {
          const std::size_t n = lengths[li];
          for (csum::Kernel k : kernels) {
            const int kn = static_cast<int>(k);
            std::fill(d - kSlack, d + n + kSlack, kGuard);
            const std::uint32_t got = csum::copy_and_sum_with(k, d, s, n, 0x1234 + n);
            ASSERT_EQ(csum::fold(got), want[li])
                << "kernel " << kn << " src%4096 " << sa << " dst%4096 " << doff << " n " << n;
            ASSERT_TRUE(std::equal(s, s + n, d)) << "kernel " << kn << " dst%4096 " << doff;
            ASSERT_TRUE(std::all_of(d - kSlack, d, [](std::uint8_t b) { return b == kGuard; }))
                << "kernel " << kn << " wrote before dst, dst%4096 " << doff << " n " << n;
            ASSERT_TRUE(
                std::all_of(d + n, d + n + kSlack, [](std::uint8_t b) { return b == kGuard; }))
                << "kernel " << kn << " wrote past dst + n, dst%4096 " << doff << " n " << n;
          }
        }
      }
    }
  }
}

// Long runs of extreme words: all ones (every lane at its largest), 0x8000
// and 0x7fff (the vector kernel's bias boundary), past the vector kernel's
// block size, where a lane that could overflow would show.
TEST(Checksum, EveryKernelOnLongExtremeRuns) {
  std::vector<csum::Kernel> kernels{csum::Kernel::kAuto, csum::Kernel::kScalar};
  if (csum::has_kernel(csum::Kernel::kAvx2)) kernels.push_back(csum::Kernel::kAvx2);
  const std::size_t n = (3u << 20) + 77;
  std::vector<std::uint8_t> src(n), dst(n);
  const std::vector<std::vector<std::uint8_t>> patterns{{0xff, 0xff}, {0x80, 0x00}, {0x00, 0x80},
                                                        {0x7f, 0xff}, {0x00, 0x00}, {0xff, 0x00}};
  for (const auto& pat : patterns) {
    for (std::size_t i = 0; i < n; ++i)
      src[i] = pat[i % 2];
    for (std::size_t len : {std::size_t{65535}, std::size_t{524288 + 31}, n}) {
      const std::uint16_t want = reference_fold(src, 0, len);
      for (csum::Kernel k : kernels) {
        ASSERT_EQ(csum::fold(csum::sum_with(k, src.data(), len)), want)
            << "kernel " << static_cast<int>(k) << " pattern " << int{pat[0]} << " len " << len;
        ASSERT_EQ(csum::fold(csum::copy_and_sum_with(k, dst.data() + 1, src.data() + 1, len - 1)),
                  reference_fold(src, 1, len - 1))
            << "copy kernel " << static_cast<int>(k) << " len " << len;
      }
    }
  }
}

TEST(Checksum, AddAtCombinesOddOffsetBlocks) {
  std::vector<std::uint8_t> d(101);
  for (std::size_t i = 0; i < d.size(); ++i)
    d[i] = static_cast<std::uint8_t>(i * 37 + 1);
  for (std::size_t cut = 0; cut <= d.size(); ++cut) {
    std::uint32_t total = csum::sum(d.data(), cut);
    total = csum::add_at(total, csum::sum(d.data() + cut, d.size() - cut), cut);
    ASSERT_EQ(csum::fold(total), reference_fold(d, 0, d.size())) << cut;
  }
}

TEST(Checksum, IncrementalUpdateEqualsRecompute) {
  // Digest vector A's inner IPv4 header; checksum 0xe63d.
  std::vector<std::uint8_t> h = {0x45, 0x00, 0x00, 0x54, 0x00, 0x01, 0x40, 0x00, 0x40, 0x01,
                                 0xe6, 0x3d, 0xc6, 0x33, 0x64, 0x01, 0xc6, 0x33, 0x64, 0x02};
  EXPECT_EQ(csum::ipv4_header(h.data(), 20), 0xe63d);
  // Rewrite the TOS byte to CE and check RFC 1624 agrees with a full recompute.
  const std::uint16_t old_word = 0x4500, new_word = 0x4503;
  std::uint16_t updated = csum::replace16(0xe63d, old_word, new_word);
  h[1] = 0x03;
  EXPECT_EQ(updated, csum::ipv4_header(h.data(), 20));
}

TEST(Checksum, PseudoHeaderV4MatchesVectorB) {
  // Vector B: the partial inner TCP checksum is the folded pseudo-header sum.
  const std::uint8_t src[4] = {198, 51, 100, 1}, dst[4] = {198, 51, 100, 2};
  EXPECT_EQ(csum::fold(csum::pseudo_v4(src, dst, 6, 52)), 0x54a5);
}

}  // namespace
}  // namespace stt::wire
