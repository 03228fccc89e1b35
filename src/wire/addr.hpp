#pragma once
// Link and network addresses as plain byte arrays, with text forms for
// control-plane code (config, CLI, JSON). Parsing returns false on bad text.

#include <array>
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
  std::uint64_t as_u64() const {
    std::uint64_t v = 0;
    for (auto x : b)
      v = (v << 8) | x;
    return v;
  }
  std::string to_string() const;
  static std::optional<MacAddr> parse(std::string_view text);
  auto operator<=>(const MacAddr&) const = default;
};
static_assert(sizeof(MacAddr) == 6);

// An IPv4 or IPv6 address. IPv4 is kept in the first four bytes.
struct IpAddr {
  std::array<std::uint8_t, 16> b{};
  std::uint8_t version = 0;  // 4, 6, or 0 for "unset"

  static IpAddr v4(const std::uint8_t* p);
  static IpAddr v6(const std::uint8_t* p);
  bool is_v4() const { return version == 4; }
  bool is_v6() const { return version == 6; }
  bool is_multicast() const;
  std::size_t size() const { return version == 4 ? 4 : 16; }
  const std::uint8_t* data() const { return b.data(); }
  std::string to_string() const;
  static std::optional<IpAddr> parse(std::string_view text);
  auto operator<=>(const IpAddr&) const = default;
  // Two 8-byte loads a side: the per-segment receive checks compare
  // addresses, and a defaulted == would be a memcmp call.
  friend bool operator==(const IpAddr& x, const IpAddr& y) {
    std::uint64_t x0, x1, y0, y1;
    __builtin_memcpy(&x0, x.b.data(), 8);
    __builtin_memcpy(&x1, x.b.data() + 8, 8);
    __builtin_memcpy(&y0, y.b.data(), 8);
    __builtin_memcpy(&y1, y.b.data() + 8, 8);
    return ((x0 ^ y0) | (x1 ^ y1)) == 0 && x.version == y.version;
  }
};

struct IpAddrHash {
  std::size_t operator()(const IpAddr& a) const;
};
struct MacAddrHash {
  std::size_t operator()(const MacAddr& m) const {
    return static_cast<std::size_t>(mix64(m.as_u64()));
  }
};

}  // namespace stt::wire
