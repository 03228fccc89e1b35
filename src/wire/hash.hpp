#pragma once
// The one non-cryptographic hash of libstt and sttd: a 64-bit finaliser
// (MurmurHash3's fmix64, in which every input bit affects every output
// bit) and a multiply-rotate accumulator over 64-bit words finished by it.
// Fixed keys, not keyed per host: the same inner flow maps to the same
// outer port on every endpoint (R14), and captures are reproducible. Tables
// that face the network mix in a per-process seed of their own.

#include <cstddef>
#include <cstdint>

#include "wire/bytes.hpp"

namespace stt::wire {

constexpr std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}
constexpr std::uint32_t mix32(std::uint64_t x) {
  return static_cast<std::uint32_t>(mix64(x));
}

class Hasher {
 public:
  constexpr explicit Hasher(std::uint64_t key) : h_(key) {}
  constexpr void add(std::uint64_t v) {
    h_ = (h_ ^ v) * 0x9e3779b97f4a7c15ull;
    h_ = (h_ << 29) | (h_ >> 35);
  }
  // Big-endian 8-byte words, then the tail and the length.
  void add_bytes(const std::uint8_t* p, std::size_t n) {
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8)
      add(load_be64(p + i));
    std::uint64_t tail = 0;
    for (; i < n; ++i)
      tail = (tail << 8) | p[i];
    add(tail ^ (std::uint64_t{n} << 56));
  }
  constexpr std::uint64_t finish() const { return mix64(h_); }

 private:
  std::uint64_t h_;
};

}  // namespace stt::wire
