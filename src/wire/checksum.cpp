#include "wire/checksum.hpp"

#include <algorithm>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "wire/bytes.hpp"
#include "wire/headers.hpp"

namespace stt::wire::csum {
namespace {

// Reads are done in host order; the one's-complement sum is byte-order
// independent (RFC 1071 §2(B)), so only the folded result is swapped back.
inline std::uint64_t load64(const std::uint8_t* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Adds 64-bit words with end-around carry; returns a 64-bit accumulator.
inline std::uint64_t add64(std::uint64_t acc, std::uint64_t v) {
  acc += v;
  return acc + (acc < v);
}

inline std::uint32_t reduce64(std::uint64_t acc) {
  std::uint64_t s = (acc & 0xffffffffu) + (acc >> 32);
  s = (s & 0xffffffffu) + (s >> 32);
  return static_cast<std::uint32_t>(s);
}

// Host-order 16-bit fold of a host-order accumulator, then to network order.
inline std::uint32_t to_network_sum(std::uint32_t host_sum) {
  return host_to_network(fold(host_sum));
}

std::uint64_t sum_words(const std::uint8_t* p, std::size_t n, std::uint64_t acc,
                        std::size_t* consumed) {
  // Four independent accumulators of 32-bit halves keep the adds free of
  // carry chains; each can take 2^32 additions before it overflows.
  std::uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    std::uint64_t w0 = load64(p + i), w1 = load64(p + i + 8), w2 = load64(p + i + 16),
                  w3 = load64(p + i + 24);
    a0 += (w0 & 0xffffffffu) + (w0 >> 32);
    a1 += (w1 & 0xffffffffu) + (w1 >> 32);
    a2 += (w2 & 0xffffffffu) + (w2 >> 32);
    a3 += (w3 & 0xffffffffu) + (w3 >> 32);
  }
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w = load64(p + i);
    a0 += (w & 0xffffffffu) + (w >> 32);
  }
  acc = add64(acc, a0);
  acc = add64(acc, a1);
  acc = add64(acc, a2);
  acc = add64(acc, a3);
  *consumed = i;
  return acc;
}

// A value of `width` bytes read from offset i of an 8-byte word, placed
// where load64 of the whole word would put those bytes.
inline std::uint64_t lane(std::uint64_t v, std::size_t i, std::size_t width) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  (void)width;
  return v << (8 * i);
#else
  return v << (8 * (8 - i - width));
#endif
}

std::uint64_t sum_tail(const std::uint8_t* p, std::size_t n, std::uint64_t acc) {
  // Fewer than 8 bytes: as one word padded with zeros, which keeps byte
  // lanes (assembled from fixed-size loads: no memcpy call, no stack copy).
  std::uint64_t w = 0;
  std::size_t i = 0;
  if (n & 4) {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    w = lane(v, 0, 4);
    i = 4;
  }
  if (n & 2) {
    std::uint16_t v;
    std::memcpy(&v, p + i, 2);
    w |= lane(v, i, 2);
    i += 2;
  }
  if (n & 1) w |= lane(p[i], i, 1);
  return add64(acc, (w & 0xffffffffu) + (w >> 32));
}

// Copies and sums fewer than 32 bytes in straight-line code (no calls):
// the heads and tails around the vector kernels.
inline std::uint64_t copy_sum_short(std::uint8_t* dst, const std::uint8_t* src, std::size_t n,
                                    std::uint64_t acc) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const std::uint64_t w = load64(src + i);
    std::memcpy(dst + i, &w, 8);
    acc = add64(acc, (w & 0xffffffffu) + (w >> 32));
  }
  n -= i;
  if (n == 0) return acc;
  std::uint64_t w = 0;
  std::size_t j = 0;
  if (n & 4) {
    std::uint32_t v;
    std::memcpy(&v, src + i, 4);
    std::memcpy(dst + i, &v, 4);
    w = lane(v, 0, 4);
    j = 4;
  }
  if (n & 2) {
    std::uint16_t v;
    std::memcpy(&v, src + i + j, 2);
    std::memcpy(dst + i + j, &v, 2);
    w |= lane(v, j, 2);
    j += 2;
  }
  if (n & 1) {
    dst[i + j] = src[i + j];
    w |= lane(src[i + j], j, 1);
  }
  return add64(acc, (w & 0xffffffffu) + (w >> 32));
}

#if defined(__x86_64__)
// AVX2 kernels, chosen at run time (the build targets baseline x86-64).
//
// Every 16-bit word w (host order) is added as the signed value w - 32768:
// XOR with 0x8000, then vpmaddwd against ones adds each pair of words into
// a signed 32-bit lane (w0 + w1 - 65536). That is one multiply-add, one XOR
// and one add per 32 bytes, and no shuffle (the unpack-based kernel this
// replaces was bound by the shuffle ports). The bias, 65536 per lane per
// vector, is added back when the lanes are reduced, so the result is the
// exact integer sum of the 16-bit words, which folds to the same value as
// the scalar sum of 32-bit halves. A lane moves by at most 65536 per vector,
// so a block of kBlock bytes (16384 vectors, plus a head and a tail vector)
// moves one 32-bit accumulator lane by less than 2^31: no overflow.
// Shortest ranges the AVX2 kernels take: below these the scalar loops win
// (each needs one whole vector).
constexpr std::size_t kAvx2SumMin = 32;
constexpr std::size_t kAvx2CopyMin = 32;
constexpr std::size_t kBlock = 512 * 1024;
// copy_and_sum() copies backward when dst is 1..kDownWindow bytes ahead of
// src modulo 4096, else forward (see copy_sum_avx2_short()).
constexpr std::size_t kDownWindow = 2048;

// The exact sum of the words behind `a` (8 signed lanes), given how many
// 32-byte vectors were added into it.
__attribute__((target("avx2"))) inline std::uint64_t unbias(__m256i a, std::size_t vectors) {
  const __m256i q = _mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(a)),
                                     _mm256_cvtepi32_epi64(_mm256_extracti128_si256(a, 1)));
  const __m128i h = _mm_add_epi64(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
  const std::int64_t t = _mm_cvtsi128_si64(h) + _mm_extract_epi64(h, 1);
  return static_cast<std::uint64_t>(t + static_cast<std::int64_t>(vectors) * 8 * 65536);
}

__attribute__((target("avx2"))) inline __m256i load32(const std::uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// Bytes j >= 32 - r of a vector: mask_last(r) loads 32 bytes at kEdge + r.
alignas(64) constexpr std::uint8_t kEdge[64] = {
    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,
    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

__attribute__((target("avx2"))) inline __m256i mask_last(std::size_t r) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kEdge + r));
}

// The two bytes of every 16-bit word swapped: a vector whose bytes sit at
// odd offsets of the summed range adds like this at even ones.
__attribute__((target("avx2"))) inline __m256i swap_bytes(__m256i v) {
  const __m256i order = _mm256_setr_epi8(1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14, 1, 0,
                                         3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
  return _mm256_shuffle_epi8(v, order);
}

// The last r (1..31) bytes of p[0, n), n >= 32: the 32 bytes that end at
// p + n, the ones before the last r masked off, in the lanes of offset 0.
__attribute__((target("avx2"))) inline __m256i tail_vector(__m256i v, std::size_t n,
                                                           std::size_t r) {
  v = _mm256_and_si256(v, mask_last(r));
  return (n & 1) != 0 ? swap_bytes(v) : v;
}

// One vector's words, biased, as 8 signed 32-bit lanes (see above).
__attribute__((target("avx2"))) inline __m256i words(__m256i v) {
  const __m256i bias = _mm256_set1_epi16(static_cast<short>(0x8000));
  const __m256i ones = _mm256_set1_epi16(1);
  return _mm256_madd_epi16(_mm256_xor_si256(v, bias), ones);
}

// The loops below add four vectors' words together before they add them to
// one accumulator: with one accumulator per vector, GCC 12 copies each
// accumulator back into its register every iteration (four extra moves per
// 128 bytes, which made the copying loop issue-bound rather than
// store-bound). A lane still moves by at most 65536 per vector.
__attribute__((target("avx2"))) inline __m256i add4(__m256i acc, __m256i v0, __m256i v1, __m256i v2,
                                                    __m256i v3) {
  return _mm256_add_epi32(acc, _mm256_add_epi32(_mm256_add_epi32(words(v0), words(v1)),
                                                _mm256_add_epi32(words(v2), words(v3))));
}

// The exact sum of the 16-bit words of p[0, n), n >= 32: whole vectors,
// then the rest as one overlapping vector with its repeated bytes masked.
__attribute__((target("avx2"))) inline std::uint64_t sum_avx2(const std::uint8_t* p,
                                                              std::size_t n) {
  std::uint64_t total = 0;
  std::size_t i = 0;
  for (;;) {
    const std::size_t begin = i;
    const std::size_t end = i + std::min(n - i, kBlock);
    __m256i a = _mm256_setzero_si256();
    for (; i + 128 <= end; i += 128)
      a = add4(a, load32(p + i), load32(p + i + 32), load32(p + i + 64), load32(p + i + 96));
    for (; i + 32 <= end; i += 32)
      a = _mm256_add_epi32(a, words(load32(p + i)));
    std::size_t vectors = (i - begin) / 32;
    if (end == n && i < n) {
      a = _mm256_add_epi32(a, words(tail_vector(load32(p + n - 32), n, n - i)));
      ++vectors;
      i = n;
    }
    total += unbias(a, vectors);
    if (i == n) return total;
  }
}

// The same while copying p[0, n) to dst, n >= 32. Stores that straddle
// cache lines cost more than loads do, so the bulk is stored aligned: the
// first 32 bytes are copied unaligned and their first `head` bytes summed,
// then the rest from dst + head (32-byte aligned). Sums are of the words
// from offset `head` on (a head byte at offset j sits at j - head, so an
// odd head has its bytes swapped); *head_out says where that is. The head
// and tail vectors go into the same accumulator as the bulk (a block has
// room for them), so a range up to kBlock bytes is reduced once. Used for
// ranges over kBlock; shorter ones take copy_sum_avx2_short().
__attribute__((target("avx2"), noinline)) std::uint64_t copy_sum_avx2(std::uint8_t* dst,
                                                                      const std::uint8_t* src,
                                                                      std::size_t n,
                                                                      std::size_t* head_out) {
  const std::size_t head = (32u - (reinterpret_cast<std::uintptr_t>(dst) & 31u)) & 31u;
  *head_out = head;
  const __m256i first = load32(src);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), first);
  __m256i h = _mm256_andnot_si256(mask_last(32 - head), first);  // bytes j < head
  if ((head & 1) != 0) h = swap_bytes(h);
  dst += head;
  src += head;
  n -= head;
  std::uint64_t total = 0;
  __m256i a = words(h);
  std::size_t vectors = 1;
  std::size_t i = 0;
  for (;;) {
    const std::size_t begin = i;
    const std::size_t end = i + std::min(n - i, kBlock);
    for (; i + 128 <= end; i += 128) {
      const __m256i v0 = load32(src + i), v1 = load32(src + i + 32), v2 = load32(src + i + 64),
                    v3 = load32(src + i + 96);
      _mm256_store_si256(reinterpret_cast<__m256i*>(dst + i), v0);
      _mm256_store_si256(reinterpret_cast<__m256i*>(dst + i + 32), v1);
      _mm256_store_si256(reinterpret_cast<__m256i*>(dst + i + 64), v2);
      _mm256_store_si256(reinterpret_cast<__m256i*>(dst + i + 96), v3);
      a = add4(a, v0, v1, v2, v3);
    }
    for (; i + 32 <= end; i += 32) {
      const __m256i v = load32(src + i);
      _mm256_store_si256(reinterpret_cast<__m256i*>(dst + i), v);
      a = _mm256_add_epi32(a, words(v));
    }
    vectors += (i - begin) / 32;
    if (end == n && i < n) {
      // The last bytes as one vector that overlaps ones already stored
      // (with the same values). It may reach back into the head: it starts
      // at src + n - 32 >= the original src, as the original n >= 32.
      const __m256i v = load32(src + n - 32);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + n - 32), v);
      a = _mm256_add_epi32(a, words(tail_vector(v, n, n - i)));
      ++vectors;
      i = n;
    }
    total += unbias(a, vectors);
    if (i == n) return total;
    a = _mm256_setzero_si256();
    vectors = 0;
  }
}

// The words of the first `head` bytes of `first` (the first 32 bytes of a
// copy: those before dst's 32-byte alignment), placed as if they started at
// offset `head` (an odd head has its bytes swapped).
__attribute__((target("avx2"))) inline __m256i head_words(__m256i first, std::size_t head) {
  __m256i h = _mm256_andnot_si256(mask_last(32 - head), first);  // bytes j < head
  if ((head & 1) != 0) h = swap_bytes(h);
  return words(h);
}

// Steps of copy_sum_avx2_short(): each copies to an aligned d and returns
// the accumulator `a` with the copied words added.
__attribute__((target("avx2"))) inline __m256i copy1(std::uint8_t* d, const std::uint8_t* s,
                                                     __m256i a) {
  const __m256i v = load32(s);
  _mm256_store_si256(reinterpret_cast<__m256i*>(d), v);
  return _mm256_add_epi32(a, words(v));
}

__attribute__((target("avx2"))) inline __m256i copy4(std::uint8_t* d, const std::uint8_t* s,
                                                     __m256i a) {
  const __m256i v0 = load32(s), v1 = load32(s + 32), v2 = load32(s + 64), v3 = load32(s + 96);
  _mm256_store_si256(reinterpret_cast<__m256i*>(d), v0);
  _mm256_store_si256(reinterpret_cast<__m256i*>(d + 32), v1);
  _mm256_store_si256(reinterpret_cast<__m256i*>(d + 64), v2);
  _mm256_store_si256(reinterpret_cast<__m256i*>(d + 96), v3);
  return add4(a, v0, v1, v2, v3);
}

// The last r (1..31) bytes of d[0, m) summed, the last 32 copied unaligned
// (they may reach back before d, not before the start of the copy).
__attribute__((target("avx2"))) inline __m256i copy_tail(std::uint8_t* d, const std::uint8_t* s,
                                                         std::size_t m, std::size_t r, __m256i a) {
  const __m256i v = load32(s + m - 32);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + m - 32), v);
  return _mm256_add_epi32(a, words(tail_vector(v, m, r)));
}

// copy_sum_avx2() for 32 <= n <= kBlock (one accumulator holds it all,
// reduced once), in either direction, for the same result. Forward: head,
// aligned whole vectors up, tail. Backward: tail, aligned whole vectors
// down, head. Head and tail are the first and last 32 bytes, stored over
// bytes also stored by the whole vectors (same values); the tail may reach
// back into the head, not before src, as n >= 32.
//
// Why backward: a load is held while an earlier store whose address
// matches it in bits 11:0 is in flight (4K aliasing). Copying forward with
// dst a little ahead of src modulo 4096, every load matches a store issued
// a few iterations before; backward, the stores it matches come after it.
// Backward has the mirror problem when dst is a little behind src, so each
// direction takes the half of the relations on its good side (forward is
// slow with dst a little ahead, backward with dst a little behind; the
// measurement is in bench/README.md, "Source-comment measurements").
template <bool kDown>
__attribute__((target("avx2"))) inline std::uint64_t copy_sum_avx2_short(std::uint8_t* dst,
                                                                         const std::uint8_t* src,
                                                                         std::size_t n,
                                                                         std::size_t head) {
  std::uint8_t* const d = dst + head;
  const std::uint8_t* const s = src + head;
  const std::size_t m = n - head;                            // bytes from the aligned start on
  const std::size_t whole = m & ~std::size_t{31};            // in whole aligned vectors
  const std::size_t vectors = whole / 32 + 1 + (whole < m);  // and the head, the tail
  const __m256i first = load32(src);
  __m256i a = head_words(first, head);
  if constexpr (kDown) {
    if (whole < m) a = copy_tail(d, s, m, m - whole, a);
    std::size_t i = whole;
    for (; (i & 127) != 0; i -= 32)
      a = copy1(d + i - 32, s + i - 32, a);
    for (; i != 0; i -= 128)
      a = copy4(d + i - 128, s + i - 128, a);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), first);
  } else {
    // An unaligned store that straddles a page costs several times an
    // aligned one and held up the stores behind it, so such a head is stored
    // last; storing every head last measured slower (bench/README.md,
    // "Source-comment measurements").
    const bool straddles = (reinterpret_cast<std::uintptr_t>(dst) & 4095u) > 4096u - 32u;
    if (!straddles) _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), first);
    std::size_t i = 0;
    for (; i + 128 <= whole; i += 128)
      a = copy4(d + i, s + i, a);
    for (; i < whole; i += 32)
      a = copy1(d + i, s + i, a);
    if (whole < m) a = copy_tail(d, s, m, m - whole, a);
    if (straddles) _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), first);
  }
  return unbias(a, vectors);
}

// Resolved once, before main(): a plain load per call, no guard. (Code
// that runs in another static initializer before this one may see false
// and use the scalar kernels, which give the same results.)
const bool kHaveAvx2 = [] {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") != 0;
}();
inline bool have_avx2() {
  return kHaveAvx2;
}
#endif

}  // namespace

namespace {

std::uint32_t sum_scalar(const std::uint8_t* p, std::size_t n, std::uint32_t initial) {
  std::size_t done = 0;
  std::uint64_t acc = sum_words(p, n, 0, &done);
  if (done < n) acc = sum_tail(p + done, n - done, acc);
  return add(initial, to_network_sum(reduce64(acc)));
}

std::uint32_t copy_sum_scalar(std::uint8_t* dst, const std::uint8_t* src, std::size_t n,
                              std::uint32_t initial) {
  std::uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    std::uint64_t w0 = load64(src + i), w1 = load64(src + i + 8), w2 = load64(src + i + 16),
                  w3 = load64(src + i + 24);
    std::memcpy(dst + i, &w0, 8);
    std::memcpy(dst + i + 8, &w1, 8);
    std::memcpy(dst + i + 16, &w2, 8);
    std::memcpy(dst + i + 24, &w3, 8);
    a0 += (w0 & 0xffffffffu) + (w0 >> 32);
    a1 += (w1 & 0xffffffffu) + (w1 >> 32);
    a2 += (w2 & 0xffffffffu) + (w2 >> 32);
    a3 += (w3 & 0xffffffffu) + (w3 >> 32);
  }
  std::uint64_t acc = 0;
  acc = add64(acc, a0);
  acc = add64(acc, a1);
  acc = add64(acc, a2);
  acc = add64(acc, a3);
  if (i < n) acc = copy_sum_short(dst + i, src + i, n - i, acc);  // < 32 bytes left
  return add(initial, to_network_sum(reduce64(acc)));
}

#if defined(__x86_64__)
// A kernel's exact word sum (host order, words starting `head` bytes into
// the range) as a network-order sum added to `initial`: folded once, and
// its bytes swapped once when both or neither of "host order is little
// endian" and "head is odd" hold swaps it back (RFC 1071 §2(B)).
inline std::uint32_t finish_vector(std::uint64_t total, std::size_t head, std::uint32_t initial) {
  std::uint16_t f = fold64(total);
  const bool little = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;
  if (little == ((head & 1) == 0)) f = static_cast<std::uint16_t>((f << 8) | (f >> 8));
  return add(initial, f);
}

__attribute__((target("avx2"))) std::uint32_t sum_vector(const std::uint8_t* p, std::size_t n,
                                                         std::uint32_t initial) {
  if (n < kAvx2SumMin) return sum_scalar(p, n, initial);
  return finish_vector(sum_avx2(p, n), 0, initial);
}

__attribute__((target("avx2"))) std::uint32_t copy_sum_vector(std::uint8_t* dst,
                                                              const std::uint8_t* src,
                                                              std::size_t n,
                                                              std::uint32_t initial) {
  if (n < kAvx2CopyMin) return copy_sum_scalar(dst, src, n, initial);
  if (n > kBlock) {
    std::size_t head = 0;
    const std::uint64_t acc = copy_sum_avx2(dst, src, n, &head);
    return finish_vector(acc, head, initial);
  }
  const std::size_t head = (32u - (reinterpret_cast<std::uintptr_t>(dst) & 31u)) & 31u;
  // How far dst is ahead of src modulo 4096 (see copy_sum_avx2_short()).
  const std::size_t ahead =
      (reinterpret_cast<std::uintptr_t>(dst) - reinterpret_cast<std::uintptr_t>(src)) & 4095u;
  const std::uint64_t acc = ahead - 1 < kDownWindow ? copy_sum_avx2_short<true>(dst, src, n, head)
                                                    : copy_sum_avx2_short<false>(dst, src, n, head);
  return finish_vector(acc, head, initial);
}
#endif

}  // namespace

std::uint32_t sum(const std::uint8_t* p, std::size_t n, std::uint32_t initial) {
#if defined(__x86_64__)
  if (n >= kAvx2SumMin && have_avx2()) return sum_vector(p, n, initial);
#endif
  return sum_scalar(p, n, initial);
}

std::uint32_t copy_and_sum(std::uint8_t* dst, const std::uint8_t* src, std::size_t n,
                           std::uint32_t initial) {
#if defined(__x86_64__)
  if (n >= kAvx2CopyMin && have_avx2()) return copy_sum_vector(dst, src, n, initial);
#endif
  return copy_sum_scalar(dst, src, n, initial);
}

bool has_kernel(Kernel k) {
#if defined(__x86_64__)
  if (k == Kernel::kAvx2) return have_avx2();
#else
  if (k == Kernel::kAvx2) return false;
#endif
  return true;
}

std::uint32_t sum_with(Kernel k, const std::uint8_t* p, std::size_t n, std::uint32_t initial) {
  switch (k) {
    case Kernel::kScalar:
      return sum_scalar(p, n, initial);
    case Kernel::kAvx2:
#if defined(__x86_64__)
      if (have_avx2()) return sum_vector(p, n, initial);
#endif
      return sum_scalar(p, n, initial);
    case Kernel::kAuto:
      break;
  }
  return sum(p, n, initial);
}

std::uint32_t copy_and_sum_with(Kernel k, std::uint8_t* dst, const std::uint8_t* src, std::size_t n,
                                std::uint32_t initial) {
  switch (k) {
    case Kernel::kScalar:
      return copy_sum_scalar(dst, src, n, initial);
    case Kernel::kAvx2:
#if defined(__x86_64__)
      if (have_avx2()) return copy_sum_vector(dst, src, n, initial);
#endif
      return copy_sum_scalar(dst, src, n, initial);
    case Kernel::kAuto:
      break;
  }
  return copy_and_sum(dst, src, n, initial);
}

std::uint32_t pseudo_v4(const std::uint8_t src[4], const std::uint8_t dst[4], std::uint8_t proto,
                        std::uint32_t l4_length) {
  std::uint32_t s = 0;
  s += load_be16(src) + load_be16(src + 2);
  s += load_be16(dst) + load_be16(dst + 2);
  s += proto;
  s += l4_length >> 16;
  s += l4_length & 0xffffu;
  return s;
}

std::uint32_t pseudo_v6(const std::uint8_t src[16], const std::uint8_t dst[16], std::uint8_t proto,
                        std::uint32_t l4_length) {
  std::uint32_t s = 0;
  for (int i = 0; i < 16; i += 2)
    s += load_be16(src + i) + load_be16(dst + i);
  s += l4_length >> 16;
  s += l4_length & 0xffffu;
  s += proto;
  return s;
}

std::uint32_t pseudo(const std::uint8_t* l3, std::uint8_t ip_version, std::uint8_t proto,
                     std::uint32_t l4_length) {
  if (ip_version == 4) {
    const auto* ip = header_at<Ipv4Header>(l3);
    return pseudo_v4(ip->src, ip->dst, proto, l4_length);
  }
  const auto* ip = header_at<Ipv6Header>(l3);
  return pseudo_v6(ip->src, ip->dst, proto, l4_length);
}

std::uint16_t ipv4_header(const std::uint8_t* hdr, std::size_t ihl_bytes) {
  std::uint32_t s = 0;
  for (std::size_t i = 0; i + 1 < ihl_bytes; i += 2) {
    if (i == kIpv4ChecksumOffset) continue;  // the checksum field itself
    s += load_be16(hdr + i);
  }
  return finish(s);
}

}  // namespace stt::wire::csum
