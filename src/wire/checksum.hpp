#pragma once
// The Internet checksum (RFC 1071) and its incremental forms (RFC 1624).
//
// A "sum" is an unfolded one's-complement accumulator (32 bits, may carry
// more than 16 bits of value); fold() reduces it to 16 bits, finish() folds
// and inverts it into the value that goes in a header field. Sums of
// separate ranges combine with add(); a range that starts at an odd offset
// of the checksummed region is combined with add_at().

#include <cstddef>
#include <cstdint>

namespace stt::wire::csum {

// One's-complement sum of n bytes, added to `initial`.
std::uint32_t sum(const std::uint8_t* p, std::size_t n, std::uint32_t initial = 0);

// Copies n bytes from src to dst and returns their sum, in one pass.
std::uint32_t copy_and_sum(std::uint8_t* dst, const std::uint8_t* src, std::size_t n,
                           std::uint32_t initial = 0);

// The kernels behind sum() and copy_and_sum(), by name, for tests and
// benchmarks. kAuto is what those use: AVX2 when the CPU has it and the
// range is long enough, else scalar; the others force one kernel for any
// length (kAvx2 runs the scalar one where has_kernel(kAvx2) is false).
enum class Kernel : std::uint8_t { kAuto, kScalar, kAvx2 };
bool has_kernel(Kernel k);
std::uint32_t sum_with(Kernel k, const std::uint8_t* p, std::size_t n, std::uint32_t initial = 0);
std::uint32_t copy_and_sum_with(Kernel k, std::uint8_t* dst, const std::uint8_t* src, std::size_t n,
                                std::uint32_t initial = 0);

inline std::uint32_t add(std::uint32_t a, std::uint32_t b) {
  std::uint64_t s = std::uint64_t{a} + b;
  return static_cast<std::uint32_t>((s & 0xffffffffu) + (s >> 32));
}

inline std::uint16_t fold(std::uint32_t s) {
  s = (s & 0xffffu) + (s >> 16);
  s = (s & 0xffffu) + (s >> 16);
  return static_cast<std::uint16_t>(s);
}

// fold() of a 64-bit accumulator (sums of 32-bit words, which cannot
// overflow it for any packet).
inline std::uint16_t fold64(std::uint64_t acc) {
  return fold(add(static_cast<std::uint32_t>(acc), static_cast<std::uint32_t>(acc >> 32)));
}

// A 16-bit sum of words loaded in host order, as the sum of the same words
// in network order: swapping the bytes of every word swaps the bytes of the
// one's-complement sum (RFC 1071 §2(B)).
inline std::uint16_t host_to_network(std::uint16_t f) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  f = static_cast<std::uint16_t>((f << 8) | (f >> 8));
#endif
  return f;
}

// sum() for a header of `n` bytes, n a multiple of 4 (an IPv4 or TCP
// header), inline: the per-packet header checks cost a few adds, not a call.
inline std::uint32_t sum_header(const std::uint8_t* p, std::size_t n, std::uint32_t initial = 0) {
  std::uint64_t acc = 0;  // host-order 32-bit words; byte-order independent (RFC 1071)
  for (std::size_t i = 0; i + 4 <= n; i += 4) {
    std::uint32_t w;
    __builtin_memcpy(&w, p + i, 4);
    acc += w;
  }
  return add(initial, host_to_network(fold64(acc)));
}

// sum_header() of a 20-byte IPv4 header without options, in three loads
// and no loop (the per-segment receive check).
inline std::uint32_t sum_ipv4_base_header(const std::uint8_t* p) {
  std::uint64_t a, b;
  std::uint32_t c;
  __builtin_memcpy(&a, p, 8);
  __builtin_memcpy(&b, p + 8, 8);
  __builtin_memcpy(&c, p + 16, 4);
  return host_to_network(fold64((a & 0xffffffffu) + (a >> 32) + (b & 0xffffffffu) + (b >> 32) + c));
}

inline std::uint16_t finish(std::uint32_t s) {
  return static_cast<std::uint16_t>(~fold(s));
}

// Adds the sum of a block that starts `offset` bytes into the checksummed
// region: a block at an odd offset has its bytes in the other lane.
inline std::uint32_t add_at(std::uint32_t total, std::uint32_t block, std::size_t offset) {
  if (offset & 1) {
    std::uint16_t f = fold(block);
    block = static_cast<std::uint16_t>((f << 8) | (f >> 8));
  }
  return add(total, block);
}

// RFC 1624 eqn. 3: the header checksum field `check` after a 16-bit word of
// the covered data changed from old_word to new_word.
inline std::uint16_t replace16(std::uint16_t check, std::uint16_t old_word,
                               std::uint16_t new_word) {
  std::uint32_t s = static_cast<std::uint16_t>(~check);
  s += static_cast<std::uint16_t>(~old_word);
  s += new_word;
  return static_cast<std::uint16_t>(~fold(s));
}

inline std::uint16_t replace32(std::uint16_t check, std::uint32_t old_word,
                               std::uint32_t new_word) {
  check = replace16(check, static_cast<std::uint16_t>(old_word >> 16),
                    static_cast<std::uint16_t>(new_word >> 16));
  return replace16(check, static_cast<std::uint16_t>(old_word),
                   static_cast<std::uint16_t>(new_word));
}

// Pseudo-header sums (not folded, not inverted). `l4_length` is the length of
// the L4 header plus payload that the checksum covers.
std::uint32_t pseudo_v4(const std::uint8_t src[4], const std::uint8_t dst[4], std::uint8_t proto,
                        std::uint32_t l4_length);
std::uint32_t pseudo_v6(const std::uint8_t src[16], const std::uint8_t dst[16], std::uint8_t proto,
                        std::uint32_t l4_length);

// The pseudo-header sum of the IP packet whose header starts at `l3`
// (version 4 or 6, as parsed): its addresses, `proto` and `l4_length`.
std::uint32_t pseudo(const std::uint8_t* l3, std::uint8_t ip_version, std::uint8_t proto,
                     std::uint32_t l4_length);

// The IPv4 header checksum over `ihl_bytes` bytes, with the checksum field
// taken as zero; returns the value to store.
std::uint16_t ipv4_header(const std::uint8_t* hdr, std::size_t ihl_bytes);

}  // namespace stt::wire::csum
