#pragma once
// The worked test vectors of the protocol digest (../shared/spec/stt-digest.md
// §8): A, A6, B and C, as full packets including the outer Ethernet header
// (no FCS), plus every parameter needed to reproduce them through
// encapsulate() and the frames a receiver is expected to deliver.
//
// Vectors A and B are the digest's hex dumps. A6 and C are assembled from
// the header lines the digest lists, with the payload rules it states
// (A: ICMP data byte i = i; C: inner TCP payload byte i = i mod 256).
// vectors_tx_test.cpp checks every listed checksum against these bytes.
//
// Shared by the transmit and the receive tests: keep it exact.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace stt::test {

// ------------------------------------------------------------ common
inline constexpr std::array<std::uint8_t, 6> kOuterSrcMac{0x00, 0x00, 0x5e, 0x00, 0x53, 0x01};
inline constexpr std::array<std::uint8_t, 6> kOuterDstMac{0x00, 0x00, 0x5e, 0x00, 0x53, 0x02};
inline constexpr std::array<std::uint8_t, 4> kOuterSrcV4{192, 0, 2, 1};
inline constexpr std::array<std::uint8_t, 4> kOuterDstV4{192, 0, 2, 2};
inline constexpr std::array<std::uint8_t, 16> kOuterSrcV6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                                          0,    0,    0,    0,    0, 0, 0, 1};
inline constexpr std::array<std::uint8_t, 16> kOuterDstV6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                                          0,    0,    0,    0,    0, 0, 0, 2};
inline constexpr std::array<std::uint8_t, 6> kInnerSrcMac{0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
inline constexpr std::array<std::uint8_t, 6> kInnerDstMac{0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
inline constexpr std::array<std::uint8_t, 4> kInnerSrcV4{198, 51, 100, 1};
inline constexpr std::array<std::uint8_t, 4> kInnerDstV4{198, 51, 100, 2};
inline constexpr std::uint8_t kOuterTtl = 64;  // IPv4 TTL and IPv6 hop limit, DF=1
inline constexpr std::uint16_t kUnderlayMtu = 1500;

// Offsets in an outer IPv4 packet (Ethernet + IPv4 + TCP-like), and IPv6.
inline constexpr std::size_t kOuterV4HeadersLen = 14 + 20 + 20;  // 54
inline constexpr std::size_t kOuterV6HeadersLen = 14 + 40 + 20;  // 74
inline constexpr std::size_t kSttHdrLen = 18;

// ------------------------------------------------------------ vector A
// Inner 98-byte ICMP echo request, no VLAN, C=P=0, IPv4 underlay, one segment.
namespace vec_a {
inline constexpr std::uint64_t kContextId = 0x0123456789abcdefull;
inline constexpr std::uint16_t kSrcPort = 0xd431;  // 54321
inline constexpr std::uint32_t kPacketId = 1;
inline constexpr std::uint16_t kIpId = 0x1234;
inline constexpr std::uint8_t kOuterTos = 0x00;
inline constexpr std::size_t kInnerLen = 98;
inline constexpr std::size_t kSttFrameLen = 116;
inline constexpr std::uint16_t kOuterIpTotal = 156;
inline constexpr std::uint16_t kInnerIpChecksum = 0xe63d;
inline constexpr std::uint16_t kIcmpChecksum = 0xeeb7;
inline constexpr std::uint16_t kOuterIpChecksum = 0xa424;
inline constexpr std::uint16_t kOuterTcpChecksum = 0x8f56;

inline constexpr std::array<std::uint8_t, 170> kPacket{
    0x00, 0x00, 0x5e, 0x00, 0x53, 0x02, 0x00, 0x00, 0x5e, 0x00, 0x53, 0x01,  //
    0x08, 0x00, 0x45, 0x00, 0x00, 0x9c, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06,  //
    0xa4, 0x24, 0xc0, 0x00, 0x02, 0x01, 0xc0, 0x00, 0x02, 0x02, 0xd4, 0x31,  //
    0x1d, 0x2f, 0x00, 0x74, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x50, 0x18,  //
    0x00, 0x00, 0x8f, 0x56, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  //
    0x00, 0x00, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x00, 0x00,  //
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  //
    0x08, 0x00, 0x45, 0x00, 0x00, 0x54, 0x00, 0x01, 0x40, 0x00, 0x40, 0x01,  //
    0xe6, 0x3d, 0xc6, 0x33, 0x64, 0x01, 0xc6, 0x33, 0x64, 0x02, 0x08, 0x00,  //
    0xee, 0xb7, 0x12, 0x34, 0x00, 0x01, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05,  //
    0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11,  //
    0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,  //
    0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29,  //
    0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35,  //
    0x36, 0x37,
};
// The STT frame (header + inner frame) and the inner Ethernet frame alone:
// what encapsulate() takes and what decapsulate() delivers.
inline std::span<const std::uint8_t> stt_frame() {
  return std::span(kPacket).subspan(kOuterV4HeadersLen);
}
inline std::span<const std::uint8_t> inner_frame() {
  return std::span(kPacket).subspan(kOuterV4HeadersLen + kSttHdrLen);
}
}  // namespace vec_a

// ------------------------------------------------------------ vector A6
// Vector A's STT frame over an IPv6 underlay. Traffic class 0, flow label 0.
namespace vec_a6 {
inline constexpr std::uint64_t kContextId = vec_a::kContextId;
inline constexpr std::uint16_t kSrcPort = vec_a::kSrcPort;
inline constexpr std::uint32_t kPacketId = vec_a::kPacketId;
inline constexpr std::uint8_t kTrafficClass = 0x00;
inline constexpr std::uint32_t kFlowLabel = 0;
inline constexpr std::uint16_t kPayloadLength = 136;
inline constexpr std::uint16_t kOuterTcpChecksum = 0xb7e5;

inline constexpr std::array<std::uint8_t, 190> kPacket = [] {
  std::array<std::uint8_t, 190> p{};
  constexpr std::uint8_t head[kOuterV6HeadersLen] = {
      // outer Ethernet
      0x00, 0x00, 0x5e, 0x00, 0x53, 0x02, 0x00, 0x00, 0x5e, 0x00, 0x53, 0x01, 0x86, 0xdd,
      // outer IPv6
      0x60, 0x00, 0x00, 0x00, 0x00, 0x88, 0x06, 0x40,  //
      0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x01,  //
      0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x02,
      // TCP-like
      0xd4, 0x31, 0x1d, 0x2f, 0x00, 0x74, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x50, 0x18, 0x00,
      0x00, 0xb7, 0xe5, 0x00, 0x00};
  std::size_t i = 0;
  for (; i < kOuterV6HeadersLen; ++i)
    p[i] = head[i];
  for (std::size_t j = kOuterV4HeadersLen; j < vec_a::kPacket.size(); ++j) {
    p[i++] = vec_a::kPacket[j];
  }
  return p;
}();
inline std::span<const std::uint8_t> stt_frame() {
  return std::span(kPacket).subspan(kOuterV6HeadersLen);
}
}  // namespace vec_a6

// ------------------------------------------------------------ vector B
// Inner IPv4/TCP, 32 bytes of payload, checksum partial (NEEDS_CSUM), VLAN
// 100 PCP 5, inner DSCP EF, outer DSCP EF (uniform), one segment.
namespace vec_b {
inline constexpr std::uint64_t kContextId = 0xfedcba9876543210ull;
inline constexpr std::uint16_t kSrcPort = 0xe5a1;  // 58785
inline constexpr std::uint32_t kPacketId = 2;
inline constexpr std::uint16_t kIpId = 0x1235;
inline constexpr std::uint8_t kOuterTos = 0xb8;  // EF, Not-ECT
inline constexpr std::uint8_t kPcp = 5;
inline constexpr std::uint16_t kVid = 100;
inline constexpr std::uint16_t kSttVlanWord = 0xb064;   // PCP 5, TCI.V, VID 100
inline constexpr std::uint16_t kDeliveredTci = 0xa064;  // PCP 5, DEI 0, VID 100
inline constexpr std::uint8_t kSttFlags = 0x0e;         // P | IPv4 | TCP
inline constexpr std::uint8_t kSttFlagsMsbFirst = 0x70;
inline constexpr std::uint8_t kL4Offset = 34;
inline constexpr std::size_t kInnerLen = 86;
inline constexpr std::size_t kSttFrameLen = 104;
inline constexpr std::uint16_t kOuterIpTotal = 144;
inline constexpr std::uint16_t kInnerIpChecksum = 0xa34b;
inline constexpr std::uint16_t kInnerTcpPartial = 0x54a5;  // pseudo-header sum, not inverted
inline constexpr std::uint16_t kInnerTcpFull = 0x1a07;
inline constexpr std::uint16_t kOuterIpChecksum = 0xa377;
inline constexpr std::uint16_t kOuterTcpChecksum = 0x01dd;
inline constexpr std::uint16_t kOuterTcpChecksumMsbFirst = 0x017b;
// The inner frame's checksum-start / -offset (virtio-net header) when it
// arrives tagged (18-byte link header) and after the tag is removed.
inline constexpr std::uint16_t kCsumStartTagged = 14 + 4 + 20;
inline constexpr std::uint16_t kCsumOffset = 16;

inline constexpr std::array<std::uint8_t, 158> kPacket{
    0x00, 0x00, 0x5e, 0x00, 0x53, 0x02, 0x00, 0x00, 0x5e, 0x00, 0x53, 0x01,  //
    0x08, 0x00, 0x45, 0xb8, 0x00, 0x90, 0x12, 0x35, 0x40, 0x00, 0x40, 0x06,  //
    0xa3, 0x77, 0xc0, 0x00, 0x02, 0x01, 0xc0, 0x00, 0x02, 0x02, 0xe5, 0xa1,  //
    0x1d, 0x2f, 0x00, 0x68, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x50, 0x18,  //
    0x00, 0x00, 0x01, 0xdd, 0x00, 0x00, 0x00, 0x0e, 0x22, 0x00, 0x00, 0x00,  //
    0xb0, 0x64, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10, 0x00, 0x00,  //
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  //
    0x08, 0x00, 0x45, 0xb8, 0x00, 0x48, 0x42, 0x42, 0x40, 0x00, 0x40, 0x06,  //
    0xa3, 0x4b, 0xc6, 0x33, 0x64, 0x01, 0xc6, 0x33, 0x64, 0x02, 0x9c, 0x40,  //
    0x00, 0x50, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x50, 0x18,  //
    0x01, 0xf6, 0x54, 0xa5, 0x00, 0x00, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35,  //
    0x36, 0x37, 0x38, 0x39, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,  //
    0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71, 0x72, 0x73, 0x74,  //
    0x75, 0x76,
};
inline std::span<const std::uint8_t> stt_frame() {
  return std::span(kPacket).subspan(kOuterV4HeadersLen);
}
// The untagged inner frame as carried (TCP checksum still partial).
inline std::span<const std::uint8_t> inner_frame() {
  return std::span(kPacket).subspan(kOuterV4HeadersLen + kSttHdrLen);
}

// The frame the receiver delivers onto a trunk: the inner frame with an
// 802.1Q tag (TPID 0x8100, TCI 0xa064) after the source MAC; its TCP
// checksum field still holds the partial sum (the consumer gets
// NEEDS_CSUM). This is also the tagged frame a sender's TAP hands to
// encapsulate() to produce vector B.
inline constexpr std::array<std::uint8_t, kInnerLen + 4> kTaggedFrame = [] {
  std::array<std::uint8_t, kInnerLen + 4> f{};
  constexpr std::size_t in = kOuterV4HeadersLen + kSttHdrLen;
  for (std::size_t i = 0; i < 12; ++i)
    f[i] = kPacket[in + i];
  f[12] = 0x81;
  f[13] = 0x00;
  f[14] = static_cast<std::uint8_t>(kDeliveredTci >> 8);
  f[15] = static_cast<std::uint8_t>(kDeliveredTci & 0xff);
  for (std::size_t i = 12; i < kInnerLen; ++i)
    f[i + 4] = kPacket[in + i];
  return f;
}();
// The digest's listing of the delivered frame's first 18 bytes.
inline constexpr std::array<std::uint8_t, 18> kTaggedFrameHead{0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
                                                               0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
                                                               0x81, 0x00, 0xa0, 0x64, 0x08, 0x00};
}  // namespace vec_b

// ------------------------------------------------------------ vector C
// A 3000-byte inner TCP super-packet (inner MSS 1448, P|IPv4|TCP, L4 offset
// 34, no VLAN) carried as one 3072-byte STT frame in three segments at
// underlay MTU 1500 (1460 bytes of STT frame per segment).
namespace vec_c {
inline constexpr std::uint64_t kContextId = 0x1388;
inline constexpr std::uint16_t kSrcPort = 0xc350;  // 50000
inline constexpr std::uint32_t kPacketId = 3;
inline constexpr std::uint16_t kIpId = 0x2000;  // first segment; +1 per segment
inline constexpr std::uint8_t kOuterTos = 0x00;
inline constexpr std::uint16_t kMss = 1448;  // inner gso_size, carried in the STT header
inline constexpr std::uint8_t kSttFlags = 0x0e;
inline constexpr std::uint8_t kL4Offset = 34;
inline constexpr std::size_t kPayloadLen = 3000;
inline constexpr std::size_t kInnerLen = 14 + 20 + 20 + kPayloadLen;  // 3054
inline constexpr std::size_t kSttFrameLen = 3072;
inline constexpr std::uint16_t kInnerIpTotal = 3040;
inline constexpr std::uint16_t kInnerIpChecksum = 0x8aad;
inline constexpr std::uint16_t kInnerIpId = 0x5000;
inline constexpr std::uint32_t kInnerSeq = 0x10000000;
inline constexpr std::uint32_t kInnerAck = 0x20000000;
inline constexpr std::uint8_t kInnerTcpFlags = 0x18;  // ACK | PSH
inline constexpr std::uint16_t kInnerWindow = 0x01f6;
inline constexpr std::uint16_t kInnerTcpPartial = 0x603d;
inline constexpr std::uint16_t kInnerTcpFull = 0x6934;  // once completed over 3020 bytes
inline constexpr std::uint16_t kCsumStart = 34;
inline constexpr std::uint16_t kCsumOffset = 16;

inline constexpr std::array<std::uint8_t, 18> kSttHeader{0x00, 0x0e, 0x22, 0x00, 0x05, 0xa8,
                                                         0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                                         0x00, 0x00, 0x13, 0x88, 0x00, 0x00};
inline constexpr std::array<std::uint8_t, 54> kInnerHeaders{
    // inner Ethernet
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00,
    // inner IPv4
    0x45, 0x00, 0x0b, 0xe0, 0x50, 0x00, 0x40, 0x00, 0x40, 0x06, 0x8a, 0xad, 0xc6, 0x33, 0x64, 0x01,
    0xc6, 0x33, 0x64, 0x02,
    // inner TCP, partial checksum
    0x9c, 0x41, 0x00, 0x50, 0x10, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x50, 0x18, 0x01, 0xf6,
    0x60, 0x3d, 0x00, 0x00};

struct OuterSegment {
  std::uint16_t offset;
  std::uint16_t len;
  std::uint32_t seq;
  std::uint8_t flags;
  std::uint16_t ip_total;
  std::uint16_t ip_id;
  std::uint16_t ip_checksum;
  std::uint16_t tcp_checksum;
  std::array<std::uint8_t, 20> ipv4;
  std::array<std::uint8_t, 20> tcp;
};
inline constexpr std::array<OuterSegment, 3> kSegments{{
    {0,
     1460,
     0x0c000000,
     0x10,
     1500,
     0x2000,
     0x9118,
     0x78cd,
     {0x45, 0x00, 0x05, 0xdc, 0x20, 0x00, 0x40, 0x00, 0x40, 0x06,
      0x91, 0x18, 0xc0, 0x00, 0x02, 0x01, 0xc0, 0x00, 0x02, 0x02},
     {0xc3, 0x50, 0x1d, 0x2f, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x03, 0x50, 0x10, 0x00, 0x00, 0x78, 0xcd, 0x00, 0x00}},
    {1460,
     1460,
     0x0c0005b4,
     0x10,
     1500,
     0x2001,
     0x9117,
     0xfad5,
     {0x45, 0x00, 0x05, 0xdc, 0x20, 0x01, 0x40, 0x00, 0x40, 0x06,
      0x91, 0x17, 0xc0, 0x00, 0x02, 0x01, 0xc0, 0x00, 0x02, 0x02},
     {0xc3, 0x50, 0x1d, 0x2f, 0x0c, 0x00, 0x05, 0xb4, 0x00, 0x00,
      0x00, 0x03, 0x50, 0x10, 0x00, 0x00, 0xfa, 0xd5, 0x00, 0x00}},
    {2920,
     152,
     0x0c000b68,
     0x18,
     192,
     0x2002,
     0x9632,
     0x4f16,
     {0x45, 0x00, 0x00, 0xc0, 0x20, 0x02, 0x40, 0x00, 0x40, 0x06,
      0x96, 0x32, 0xc0, 0x00, 0x02, 0x01, 0xc0, 0x00, 0x02, 0x02},
     {0xc3, 0x50, 0x1d, 0x2f, 0x0c, 0x00, 0x0b, 0x68, 0x00, 0x00,
      0x00, 0x03, 0x50, 0x18, 0x00, 0x00, 0x4f, 0x16, 0x00, 0x00}},
}};

// The inner super-packet as a TAP hands it over (TCP checksum partial).
inline std::vector<std::uint8_t> inner_frame() {
  std::vector<std::uint8_t> f(kInnerHeaders.begin(), kInnerHeaders.end());
  f.reserve(kInnerLen);
  for (std::size_t i = 0; i < kPayloadLen; ++i)
    f.push_back(static_cast<std::uint8_t>(i & 0xff));
  return f;
}
// STT header followed by the inner frame: 3072 bytes.
inline std::vector<std::uint8_t> stt_frame() {
  std::vector<std::uint8_t> f(kSttHeader.begin(), kSttHeader.end());
  const auto inner = inner_frame();
  f.insert(f.end(), inner.begin(), inner.end());
  return f;
}
// Outer segment k (0..2) as a full packet: outer Ethernet, IPv4, TCP-like
// header, then its slice of the STT frame.
inline std::vector<std::uint8_t> segment(std::size_t k) {
  const OuterSegment& s = kSegments[k];
  std::vector<std::uint8_t> p(kOuterDstMac.begin(), kOuterDstMac.end());
  p.insert(p.end(), kOuterSrcMac.begin(), kOuterSrcMac.end());
  p.push_back(0x08);
  p.push_back(0x00);
  p.insert(p.end(), s.ipv4.begin(), s.ipv4.end());
  p.insert(p.end(), s.tcp.begin(), s.tcp.end());
  const auto frame = stt_frame();
  p.insert(p.end(), frame.begin() + s.offset, frame.begin() + s.offset + s.len);
  return p;
}

// The receiver's (or software GSO's) re-segmentation of the inner packet at
// MSS 1448. TCP seq/len/flags/IPv4 total/TCP checksum are the digest's; the
// IPv4 IDs (0x5000 + k, as a TSO engine increments them) and the resulting
// IPv4 header checksums are ours (the TCP checksum does not cover them).
struct InnerSegment {
  std::uint32_t seq;
  std::uint16_t len;
  std::uint8_t flags;
  std::uint16_t ip_total;
  std::uint16_t ip_id;
  std::uint16_t ip_checksum;
  std::uint16_t tcp_checksum;
};
inline constexpr std::array<InnerSegment, 3> kInnerSegments{{
    {0x10000000, 1448, 0x10, 1488, 0x5000, 0x90bd, 0x6e50},
    {0x100005a8, 1448, 0x10, 1488, 0x5001, 0x90bc, 0x3979},
    {0x10000b50, 104, 0x18, 144, 0x5002, 0x95fb, 0xca37},
}};
// Inner segment k as a full Ethernet frame with finished checksums.
inline std::vector<std::uint8_t> inner_segment(std::size_t k) {
  const InnerSegment& s = kInnerSegments[k];
  std::vector<std::uint8_t> f(kInnerHeaders.begin(), kInnerHeaders.end());
  auto be16 = [&f](std::size_t at, std::uint16_t v) {
    f[at] = static_cast<std::uint8_t>(v >> 8);
    f[at + 1] = static_cast<std::uint8_t>(v & 0xff);
  };
  be16(14 + 2, s.ip_total);
  be16(14 + 4, s.ip_id);
  be16(14 + 10, s.ip_checksum);
  be16(34 + 4, static_cast<std::uint16_t>(s.seq >> 16));
  be16(34 + 6, static_cast<std::uint16_t>(s.seq & 0xffff));
  f[34 + 13] = s.flags;
  be16(34 + 16, s.tcp_checksum);
  const std::size_t first = s.seq - kInnerSeq;
  for (std::size_t i = first; i < first + s.len; ++i)
    f.push_back(static_cast<std::uint8_t>(i & 0xff));
  return f;
}
}  // namespace vec_c

}  // namespace stt::test
