#pragma once
// Big-endian field types for wire-header structs. Each is a byte array with
// alignment 1, so a header struct built from them has no padding, the same
// size on every target, and can be laid over any byte offset of a packet.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace stt::wire {

inline std::uint16_t load_be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
inline std::uint32_t load_be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}
inline std::uint64_t load_be64(const std::uint8_t* p) {
  return (std::uint64_t{load_be32(p)} << 32) | load_be32(p + 4);
}
// Each store is one byte swap and one store. Inlined into header writers,
// GCC does not always merge the byte-by-byte form back into one store: it
// assembled adjacent fields byte by byte instead.
inline void store_be16(std::uint8_t* p, std::uint16_t v) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  v = __builtin_bswap16(v);
#endif
  std::memcpy(p, &v, 2);
}
inline void store_be32(std::uint8_t* p, std::uint32_t v) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  v = __builtin_bswap32(v);
#endif
  std::memcpy(p, &v, 4);
}
inline void store_be64(std::uint8_t* p, std::uint64_t v) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  std::memcpy(p, &v, 8);
}

struct Be16 {
  std::uint8_t b[2];
  std::uint16_t get() const { return load_be16(b); }
  void set(std::uint16_t v) { store_be16(b, v); }
};
struct Be32 {
  std::uint8_t b[4];
  std::uint32_t get() const { return load_be32(b); }
  void set(std::uint32_t v) { store_be32(b, v); }
};
struct Be64 {
  std::uint8_t b[8];
  std::uint64_t get() const { return load_be64(b); }
  void set(std::uint64_t v) { store_be64(b, v); }
};
static_assert(sizeof(Be16) == 2 && alignof(Be16) == 1);
static_assert(sizeof(Be32) == 4 && alignof(Be32) == 1);
static_assert(sizeof(Be64) == 8 && alignof(Be64) == 1);

// Lays a header struct over bytes. The caller has checked the length; the
// header types are arrays of bytes, so any alignment is fine.
template <typename H>
H* header_at(std::uint8_t* p) {
  static_assert(alignof(H) == 1, "wire headers must be byte-aligned");
  return reinterpret_cast<H*>(p);
}
template <typename H>
const H* header_at(const std::uint8_t* p) {
  static_assert(alignof(H) == 1, "wire headers must be byte-aligned");
  return reinterpret_cast<const H*>(p);
}

}  // namespace stt::wire
