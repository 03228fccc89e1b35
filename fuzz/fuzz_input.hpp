#pragma once
// Helpers shared by the fuzz targets: a reader that turns fuzzer bytes into
// decisions (running out of input yields zeros, never an error), the
// record framing the multi-packet targets use, and a checksum fixer so
// fuzzed outer packets can get past checksum validation.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <vector>

#include "core/offload.hpp"
#include "wire/bytes.hpp"
#include "wire/checksum.hpp"
#include "wire/headers.hpp"
#include "wire/parse.hpp"

namespace stt::fuzz {

class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) : p_(data), n_(size) {}

  bool empty() const { return n_ == 0; }
  std::size_t remaining() const { return n_; }

  std::uint8_t u8() {
    if (n_ == 0) return 0;
    --n_;
    return *p_++;
  }
  std::uint16_t u16() { return static_cast<std::uint16_t>((u8() << 8) | u8()); }
  std::uint32_t u32() { return (std::uint32_t{u16()} << 16) | u16(); }
  std::uint64_t u64() { return (std::uint64_t{u32()} << 32) | u32(); }
  bool flag() { return (u8() & 1) != 0; }

  // Up to `want` bytes (fewer when the input runs out).
  std::span<const std::uint8_t> bytes(std::size_t want) {
    std::size_t k = std::min(want, n_);
    std::span<const std::uint8_t> s{p_, k};
    p_ += k;
    n_ -= k;
    return s;
  }
  // Everything that is left.
  std::span<const std::uint8_t> rest() { return bytes(n_); }

 private:
  const std::uint8_t* p_;
  std::size_t n_;
};

// Record framing for inputs that are a sequence of packets:
//   [control byte] [length, 2 bytes big-endian] [length bytes]
// The meaning of the control byte belongs to the target. Writers (the
// corpus generator) use append_record; readers use Input.
inline void append_record(std::vector<std::uint8_t>& out, std::uint8_t control,
                          std::span<const std::uint8_t> bytes) {
  out.push_back(control);
  out.push_back(static_cast<std::uint8_t>(bytes.size() >> 8));
  out.push_back(static_cast<std::uint8_t>(bytes.size()));
  out.insert(out.end(), bytes.begin(), bytes.end());
}

// Rewrites the outer IPv4 header checksum and the TCP checksum of an
// Ethernet/IP/TCP packet so that a receiver's checksum checks pass; the
// fuzzer cannot be expected to find valid checksums by itself. Packets that
// do not parse that far are left alone.
inline void fix_outer_checksums(std::uint8_t* pkt, std::size_t len) {
  wire::PacketLayout l;
  if (wire::parse_ethernet(pkt, len, &l) != wire::ParseError::kOk) return;
  std::uint32_t pseudo = 0;
  if (l.ip_version == 4) {
    auto* ip = wire::header_at<wire::Ipv4Header>(pkt + l.l3_offset);
    ip->checksum.set(wire::csum::ipv4_header(pkt + l.l3_offset, l.ip_header_length));
    if (!l.is_tcp()) return;
    pseudo = wire::csum::pseudo_v4(ip->src, ip->dst, wire::kIpProtoTcp, l.ip_end - l.l4_offset);
  } else if (l.ip_version == 6) {
    if (!l.is_tcp()) return;
    auto* ip = wire::header_at<wire::Ipv6Header>(pkt + l.l3_offset);
    pseudo = wire::csum::pseudo_v6(ip->src, ip->dst, wire::kIpProtoTcp, l.ip_end - l.l4_offset);
  } else {
    return;
  }
  auto* tcp = wire::header_at<wire::TcpHeader>(pkt + l.l4_offset);
  tcp->checksum.set(0);
  tcp->checksum.set(
      wire::csum::finish(wire::csum::sum(pkt + l.l4_offset, l.ip_end - l.l4_offset, pseudo)));
}

// Reads every byte so that the address sanitizer sees any out-of-bounds
// range; the result is used so the loop is not optimised away.
inline std::uint32_t touch(const std::uint8_t* p, std::size_t n) {
  std::uint32_t s = 0;
  for (std::size_t i = 0; i < n; ++i)
    s += p[i];
  return s;
}

// The offload state a receive-path target hands parse_segment, chosen by the
// low two bits of a control byte: none (checksum verified in software),
// DATA_VALID, NEEDS_CSUM, or none with the outer checksums made correct so
// the input gets past them.
inline core::OffloadInfo receive_offload(std::uint8_t control, std::uint8_t* pkt, std::size_t len) {
  core::OffloadInfo off;
  switch (control & 3) {
    case 1:
      off.flags = core::OffloadInfo::kDataValid;
      break;
    case 2:
      off.flags = core::OffloadInfo::kNeedsCsum;
      break;
    case 3:
      fix_outer_checksums(pkt, len);
      break;
    default:
      break;
  }
  return off;
}

}  // namespace stt::fuzz

namespace stt::fuzz {
// Reports a broken invariant and stops: libFuzzer and the replay runner both
// treat the trap as a crash and name the input that caused it.
[[noreturn]] inline void check_failed(const char* what, const char* file, int line) {
  std::fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", what, file, line);
  __builtin_trap();
}
}  // namespace stt::fuzz

#define STT_FUZZ_CHECK(cond) \
  ((cond) ? static_cast<void>(0) : ::stt::fuzz::check_failed(#cond, __FILE__, __LINE__))
