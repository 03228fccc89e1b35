#pragma once
// Link and network addresses as plain byte arrays, with text forms for
// control-plane code (config, CLI, JSON). Parsing returns false on bad text.

#include <array>
#include <bit>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "wire/hash.hpp"

namespace stt::wire {

struct MacAddr {
  std::array<std::uint8_t, 6> b{};

  bool is_multicast() const { return (b[0] & 0x01) != 0; }  // includes broadcast
  bool is_broadcast() const {
    return b == std::array<std::uint8_t, 6>{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  }
  bool is_zero() const { return b == std::array<std::uint8_t, 6>{}; }
  // The six bytes as a big-endian number, for hashing on the per-frame FDB
  // lookups: two loads (4 and 2 bytes, as a 6-byte copy stores them, so they
  // forward from it) and byte swaps; a byte loop took ~18 instructions.
  std::uint64_t as_u64() const {
    std::uint32_t hi;
    std::uint16_t lo;
    __builtin_memcpy(&hi, b.data(), 4);
    __builtin_memcpy(&lo, b.data() + 4, 2);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    hi = __builtin_bswap32(hi);
    lo = __builtin_bswap16(lo);
#endif
    return (std::uint64_t{hi} << 16) | lo;
  }
  std::string to_string() const;
  static std::optional<MacAddr> parse(std::string_view text);
  auto operator<=>(const MacAddr&) const = default;
};
static_assert(sizeof(MacAddr) == 6);

// An IPv4 or IPv6 address. IPv4 is kept in the first four bytes, the other
// twelve zero: the bytes are private so that this holds, and equality (which
// compares all sixteen) means what it says.
class IpAddr {
 public:
  IpAddr() = default;
  static IpAddr v4(const std::uint8_t* p) {
    std::uint32_t raw;
    __builtin_memcpy(&raw, p, 4);
    return v4_raw(raw);
  }
  // The IPv4 address whose 4 bytes, loaded with memcpy, are `raw`. Written
  // as two 8-byte stores, so that the 8-byte loads of word() (equality on
  // the receive path) forward from them instead of stalling.
  static IpAddr v4_raw(std::uint32_t raw) {
    IpAddr a;
    a.assign_v4_raw(raw);
    return a;
  }
  // The same in place, for an address that lives in a struct being filled
  // (the receive fast path): `*a = v4_raw(raw)` built the address in a
  // temporary and copied it with one 16-byte load, which cannot forward from
  // the two 8-byte stores just made and stalled.
  void assign_v4_raw(std::uint32_t raw) {
    const std::uint64_t lo =
        std::endian::native == std::endian::little ? std::uint64_t{raw} : std::uint64_t{raw} << 32;
    const std::uint64_t hi = 0;
    __builtin_memcpy(b_.data(), &lo, 8);
    __builtin_memcpy(b_.data() + 8, &hi, 8);
    version_ = 4;
  }
  static IpAddr v6(const std::uint8_t* p) {
    IpAddr a;
    __builtin_memcpy(a.b_.data(), p, 16);
    a.version_ = 6;
    return a;
  }
  std::uint8_t version() const { return version_; }  // 4, 6, or 0 for "unset"
  bool is_v4() const { return version_ == 4; }
  bool is_v6() const { return version_ == 6; }
  bool is_multicast() const;
  bool is_unspecified() const { return (word(0) | word(1)) == 0; }  // 0.0.0.0, ::, unset
  std::size_t size() const { return version_ == 4 ? 4 : 16; }
  const std::uint8_t* data() const { return b_.data(); }
  // The sixteen bytes as two words loaded in host order (an IPv4 address
  // zero padded): for comparisons in registers on the receive fast paths.
  std::uint64_t word(int i) const {
    std::uint64_t w;
    __builtin_memcpy(&w, b_.data() + 8 * i, 8);
    return w;
  }
  std::string to_string() const;
  static std::optional<IpAddr> parse(std::string_view text);
  auto operator<=>(const IpAddr&) const = default;
  // Two 8-byte loads a side: the per-segment receive checks compare
  // addresses, and a defaulted == would be a memcmp call.
  friend bool operator==(const IpAddr& x, const IpAddr& y) {
    return ((x.word(0) ^ y.word(0)) | (x.word(1) ^ y.word(1))) == 0 && x.version_ == y.version_;
  }

 private:
  std::array<std::uint8_t, 16> b_{};
  std::uint8_t version_ = 0;
};

struct IpAddrHash {
  // Both 8-byte words whatever the family: an IPv4 address's tail bytes are
  // zero (IpAddr keeps them so), and two word loads beat a byte loop on the
  // per-frame peer lookup.
  std::size_t operator()(const IpAddr& a) const {
    Hasher h(a.version());
    h.add(a.word(0));
    h.add(a.word(1));
    return static_cast<std::size_t>(h.finish());
  }
};
struct MacAddrHash {
  std::size_t operator()(const MacAddr& m) const {
    return static_cast<std::size_t>(mix64(m.as_u64()));
  }
};

}  // namespace stt::wire
