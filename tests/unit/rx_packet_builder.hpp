#pragma once
// Test helper for the receive-side tests: builds outer STT segments (outer
// Ethernet [+ 802.1Q] + IPv4 [+ options] or IPv6 [+ extension headers] +
// TCP-like header + a slice of an STT frame) with correct checksums, so a
// test can then break exactly one thing.

#include <cstdint>
#include <span>
#include <vector>

#include "wire/bytes.hpp"
#include "wire/checksum.hpp"
#include "wire/headers.hpp"

namespace stt::test {

struct SegmentSpec {
  bool v6 = false;
  std::array<std::uint8_t, 16> src{192, 0, 2, 1};
  std::array<std::uint8_t, 16> dst{192, 0, 2, 2};
  std::uint16_t src_port = 50000;
  std::uint16_t dst_port = 7471;
  std::uint16_t frame_len = 0;  // L
  std::uint16_t offset = 0;     // O
  std::uint32_t packet_id = 1;
  std::uint8_t tcp_flags = 0x18;
  std::uint8_t tos = 0;
  std::uint8_t data_offset_words = 5;
  bool vlan = false;  // one 802.1Q tag on the underlay
  std::uint8_t ipv4_option_words = 0;
  std::vector<std::uint8_t> v6_ext;  // extension headers, raw; first next-header byte fixed up
  std::uint8_t v6_first_next = 6;    // next header of the base IPv6 header when v6_ext is set
  std::uint16_t frag = 0x4000;       // IPv4 flags/fragment offset word
  std::size_t link_padding = 0;      // bytes after the IP packet
};

inline std::array<std::uint8_t, 16> v4addr(std::uint8_t a, std::uint8_t b, std::uint8_t c,
                                           std::uint8_t d) {
  return {a, b, c, d};
}

// Builds one segment carrying `payload`. The TCP checksum is correct.
inline std::vector<std::uint8_t> build_segment(const SegmentSpec& s,
                                               std::span<const std::uint8_t> payload) {
  std::vector<std::uint8_t> p;
  auto put16 = [&p](std::uint16_t v) {
    p.push_back(static_cast<std::uint8_t>(v >> 8));
    p.push_back(static_cast<std::uint8_t>(v));
  };
  const std::uint8_t dmac[6] = {0, 0, 0x5e, 0, 0x53, 2}, smac[6] = {0, 0, 0x5e, 0, 0x53, 1};
  p.insert(p.end(), dmac, dmac + 6);
  p.insert(p.end(), smac, smac + 6);
  if (s.vlan) {
    put16(0x8100);
    put16(0x0064);
  }
  put16(s.v6 ? 0x86dd : 0x0800);
  const std::size_t l3 = p.size();
  const std::size_t tcp_len = s.data_offset_words * 4u;
  const std::size_t l4_len = tcp_len + payload.size();
  if (!s.v6) {
    const std::size_t hl = 20 + s.ipv4_option_words * 4u;
    p.push_back(static_cast<std::uint8_t>(0x40 | (hl / 4)));
    p.push_back(s.tos);
    put16(static_cast<std::uint16_t>(hl + l4_len));
    put16(0x1234);
    put16(s.frag);
    p.push_back(64);
    p.push_back(6);
    put16(0);
    p.insert(p.end(), s.src.begin(), s.src.begin() + 4);
    p.insert(p.end(), s.dst.begin(), s.dst.begin() + 4);
    for (std::size_t i = 0; i < s.ipv4_option_words * 4u; ++i)
      p.push_back(1);  // NOPs
    wire::store_be16(&p[l3 + 10], wire::csum::ipv4_header(&p[l3], hl));
  } else {
    put16(static_cast<std::uint16_t>(0x6000 | (s.tos << 4)));
    put16(0);
    put16(static_cast<std::uint16_t>(s.v6_ext.size() + l4_len));
    p.push_back(s.v6_ext.empty() ? 6 : s.v6_first_next);
    p.push_back(64);
    p.insert(p.end(), s.src.begin(), s.src.end());
    p.insert(p.end(), s.dst.begin(), s.dst.end());
    p.insert(p.end(), s.v6_ext.begin(), s.v6_ext.end());
  }
  const std::size_t l4 = p.size();
  put16(s.src_port);
  put16(s.dst_port);
  put16(s.frame_len);
  put16(s.offset);
  put16(static_cast<std::uint16_t>(s.packet_id >> 16));
  put16(static_cast<std::uint16_t>(s.packet_id));
  p.push_back(static_cast<std::uint8_t>(s.data_offset_words << 4));
  p.push_back(s.tcp_flags);
  put16(0);  // window
  put16(0);  // checksum
  put16(0);  // urgent
  for (std::size_t i = 20; i < tcp_len; ++i)
    p.push_back(1);  // NOP options
  p.insert(p.end(), payload.begin(), payload.end());
  const std::uint32_t pseudo = s.v6 ? wire::csum::pseudo_v6(s.src.data(), s.dst.data(), 6,
                                                            static_cast<std::uint32_t>(l4_len))
                                    : wire::csum::pseudo_v4(s.src.data(), s.dst.data(), 6,
                                                            static_cast<std::uint32_t>(l4_len));
  wire::store_be16(&p[l4 + 16], wire::csum::finish(wire::csum::sum(&p[l4], l4_len, pseudo)));
  p.insert(p.end(), s.link_padding, 0xee);
  return p;
}

// Offset of the TCP header in a segment built from `s`.
inline std::size_t tcp_offset(const SegmentSpec& s) {
  return 14 + (s.vlan ? 4 : 0) + (s.v6 ? 40 + s.v6_ext.size() : 20 + s.ipv4_option_words * 4u);
}

}  // namespace stt::test
