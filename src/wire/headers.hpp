#pragma once
// Wire header layouts. Every struct is a sequence of byte-aligned big-endian
// fields (see bytes.hpp): no bitfields, no padding, sizes asserted below.
// Code lays them over bytes only after checking the length (see parse.hpp).

#include <cstddef>
#include <cstdint>

#include "wire/addr.hpp"
#include "wire/bytes.hpp"

namespace stt::wire {

// ---------------------------------------------------------------- Ethernet
inline constexpr std::uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr std::uint16_t kEtherTypeArp = 0x0806;
inline constexpr std::uint16_t kEtherTypeVlan = 0x8100;  // 802.1Q
inline constexpr std::uint16_t kEtherTypeQinQ = 0x88a8;  // 802.1ad
inline constexpr std::uint16_t kEtherTypeIpv6 = 0x86dd;

struct EthernetHeader {
  MacAddr dst;
  MacAddr src;
  Be16 ethertype;
};
static_assert(sizeof(EthernetHeader) == 14);

// The four bytes of an 802.1Q tag that follow the source MAC: TPID is the
// EthernetHeader's ethertype, then TCI, then the encapsulated EtherType.
struct VlanTag {
  Be16 tci;
  Be16 ethertype;
};
static_assert(sizeof(VlanTag) == 4);

inline constexpr std::uint16_t tci_pcp(std::uint16_t tci) {
  return tci >> 13;
}
inline constexpr bool tci_dei(std::uint16_t tci) {
  return (tci & 0x1000) != 0;
}
inline constexpr std::uint16_t tci_vid(std::uint16_t tci) {
  return tci & 0x0fff;
}

// ---------------------------------------------------------------- IPv4
inline constexpr std::uint8_t kIpProtoTcp = 6;
inline constexpr std::uint8_t kIpProtoUdp = 17;
inline constexpr std::uint8_t kIpProtoIcmp = 1;
inline constexpr std::uint8_t kIpProtoIcmpv6 = 58;

struct Ipv4Header {
  std::uint8_t version_ihl;  // version (high nibble), header length in words (low)
  std::uint8_t tos;          // DSCP (high 6 bits), ECN (low 2 bits)
  Be16 total_length;
  Be16 id;
  Be16 frag;  // flags (3 bits) and fragment offset (13 bits, in 8-byte units)
  std::uint8_t ttl;
  std::uint8_t protocol;
  Be16 checksum;
  std::uint8_t src[4];
  std::uint8_t dst[4];

  std::uint8_t version() const { return version_ihl >> 4; }
  std::uint32_t header_length() const { return (version_ihl & 0x0fu) * 4u; }
  bool dont_fragment() const { return (frag.get() & 0x4000) != 0; }
  bool more_fragments() const { return (frag.get() & 0x2000) != 0; }
  std::uint16_t fragment_offset() const { return frag.get() & 0x1fff; }
  bool is_fragment() const { return more_fragments() || fragment_offset() != 0; }
};
static_assert(sizeof(Ipv4Header) == 20);
inline constexpr std::uint16_t kIpv4FlagDf = 0x4000;
inline constexpr std::uint32_t kIpv4TosOffset = offsetof(Ipv4Header, tos);
inline constexpr std::uint32_t kIpv4TotalLengthOffset = offsetof(Ipv4Header, total_length);
inline constexpr std::uint32_t kIpv4IdOffset = offsetof(Ipv4Header, id);
inline constexpr std::uint32_t kIpv4ChecksumOffset = offsetof(Ipv4Header, checksum);
inline constexpr std::uint32_t kIpv4DstOffset = offsetof(Ipv4Header, dst);

// ---------------------------------------------------------------- IPv6
struct Ipv6Header {
  Be32 version_tc_flow;  // version (4), traffic class (8), flow label (20)
  Be16 payload_length;
  std::uint8_t next_header;
  std::uint8_t hop_limit;
  std::uint8_t src[16];
  std::uint8_t dst[16];

  std::uint8_t version() const { return version_tc_flow.b[0] >> 4; }
  std::uint8_t traffic_class() const {
    return static_cast<std::uint8_t>((version_tc_flow.get() >> 20) & 0xff);
  }
  void set_traffic_class(std::uint8_t tc) {
    version_tc_flow.set((version_tc_flow.get() & 0xf00fffffu) | (std::uint32_t{tc} << 20));
  }
  std::uint32_t flow_label() const { return version_tc_flow.get() & 0xfffffu; }
};
static_assert(sizeof(Ipv6Header) == 40);
inline constexpr std::uint32_t kIpv6PayloadLengthOffset = offsetof(Ipv6Header, payload_length);

// Extension headers that share the (next header, length in 8-octet units
// beyond the first) layout.
inline constexpr std::uint8_t kIpv6HopByHop = 0;
inline constexpr std::uint8_t kIpv6Routing = 43;
inline constexpr std::uint8_t kIpv6Fragment = 44;
inline constexpr std::uint8_t kIpv6Esp = 50;
inline constexpr std::uint8_t kIpv6Auth = 51;
inline constexpr std::uint8_t kIpv6NoNext = 59;
inline constexpr std::uint8_t kIpv6DestOpts = 60;

struct Ipv6ExtHeader {
  std::uint8_t next_header;
  std::uint8_t length;  // in 8-octet units, not counting the first 8 octets
};
static_assert(sizeof(Ipv6ExtHeader) == 2);

struct Ipv6FragmentHeader {
  std::uint8_t next_header;
  std::uint8_t reserved;
  Be16 offset_flags;  // offset (13 bits, 8-octet units), res (2), M (1)
  Be32 id;
};
static_assert(sizeof(Ipv6FragmentHeader) == 8);

// ---------------------------------------------------------------- ECN / DSCP
inline constexpr std::uint8_t kEcnNotEct = 0;
inline constexpr std::uint8_t kEcnEct1 = 1;
inline constexpr std::uint8_t kEcnEct0 = 2;
inline constexpr std::uint8_t kEcnCe = 3;
inline constexpr std::uint8_t ecn_of(std::uint8_t tos) {
  return tos & 0x03;
}
inline constexpr std::uint8_t dscp_of(std::uint8_t tos) {
  return tos >> 2;
}

// ---------------------------------------------------------------- TCP / UDP
inline constexpr std::uint8_t kTcpFin = 0x01;
inline constexpr std::uint8_t kTcpSyn = 0x02;
inline constexpr std::uint8_t kTcpRst = 0x04;
inline constexpr std::uint8_t kTcpPsh = 0x08;
inline constexpr std::uint8_t kTcpAck = 0x10;
inline constexpr std::uint8_t kTcpUrg = 0x20;
inline constexpr std::uint8_t kTcpEce = 0x40;
inline constexpr std::uint8_t kTcpCwr = 0x80;

struct TcpHeader {
  Be16 src_port;
  Be16 dst_port;
  Be32 seq;
  Be32 ack;
  std::uint8_t data_offset_ns;  // data offset in words (high nibble), NS (bit 0)
  std::uint8_t flags;
  Be16 window;
  Be16 checksum;
  Be16 urgent;

  std::uint32_t header_length() const { return (data_offset_ns >> 4) * 4u; }
};
static_assert(sizeof(TcpHeader) == 20);
// Field offsets, for code that writes or loads a field straight from a
// packet pointer on a hot path.
inline constexpr std::uint32_t kTcpSrcPortOffset = offsetof(TcpHeader, src_port);
inline constexpr std::uint32_t kTcpDstPortOffset = offsetof(TcpHeader, dst_port);
inline constexpr std::uint32_t kTcpSeqOffset = offsetof(TcpHeader, seq);
inline constexpr std::uint32_t kTcpAckOffset = offsetof(TcpHeader, ack);
inline constexpr std::uint32_t kTcpFlagsOffset = offsetof(TcpHeader, flags);
inline constexpr std::uint32_t kTcpChecksumOffset = offsetof(TcpHeader, checksum);
static_assert(kTcpChecksumOffset == 16);

struct UdpHeader {
  Be16 src_port;
  Be16 dst_port;
  Be16 length;
  Be16 checksum;
};
static_assert(sizeof(UdpHeader) == 8);
inline constexpr std::uint32_t kUdpChecksumOffset = offsetof(UdpHeader, checksum);
static_assert(kUdpChecksumOffset == 6);

// ---------------------------------------------------------------- STT
// Flag bits use the deployed encoding (bit n = 1 << n), not the MSB-first
// reading of the draft's Figure 4; see docs/protocol.md, decision D1.
inline constexpr std::uint8_t kSttFlagCsumVerified = 0x01;  // C
inline constexpr std::uint8_t kSttFlagCsumPartial = 0x02;   // P
inline constexpr std::uint8_t kSttFlagIpv4 = 0x04;          // inner is IPv4 (else IPv6)
inline constexpr std::uint8_t kSttFlagTcp = 0x08;           // inner L4 is TCP (else UDP)
inline constexpr std::uint8_t kSttFlagReserved = 0xf0;

inline constexpr std::uint16_t kSttPort = 7471;
inline constexpr std::uint16_t kSttVlanValid = 0x1000;  // TCI.V in the PCP/V/VID word
inline constexpr std::uint32_t kSttMaxFrame = 65535;    // SEQ carries it in 16 bits

struct SttHeader {
  std::uint8_t version;
  std::uint8_t flags;
  std::uint8_t l4_offset;  // from the first byte of the inner Ethernet frame
  std::uint8_t reserved;
  Be16 mss;
  Be16 vlan_tci;  // PCP (3) | V (1) | VID (12)
  Be64 context_id;
  Be16 padding;

  bool vlan_valid() const { return (vlan_tci.get() & kSttVlanValid) != 0; }
  std::uint16_t vlan_id() const { return vlan_tci.get() & 0x0fff; }
  std::uint8_t vlan_pcp() const { return static_cast<std::uint8_t>(vlan_tci.get() >> 13); }
};
static_assert(sizeof(SttHeader) == 18);
inline constexpr std::uint32_t kSttHeaderLen = sizeof(SttHeader);
inline constexpr std::uint32_t kEthHeaderLen = sizeof(EthernetHeader);
inline constexpr std::uint32_t kSttMinFrame = kSttHeaderLen + kEthHeaderLen;
inline constexpr std::uint32_t kSttMaxInner = kSttMaxFrame - kSttHeaderLen;  // 65517

}  // namespace stt::wire
