#pragma once
// Bounds-checked parsing of an Ethernet frame down to its L4 header.
// parse_ethernet() never reads past `n` bytes and reports the first problem
// it meets as a ParseError; on success the layout gives the offsets at which
// the header structs of headers.hpp may be laid.

#include <cstddef>
#include <cstdint>

namespace stt::wire {

enum class ParseError : std::uint8_t {
  kOk = 0,
  kTruncatedEthernet,
  kTruncatedVlan,
  kTooManyVlanTags,
  kTruncatedIpv4,
  kBadIpv4Version,
  kBadIpv4HeaderLength,
  kBadIpv4TotalLength,
  kTruncatedIpv6,
  kBadIpv6Version,
  kBadIpv6PayloadLength,
  kTruncatedIpv6Extension,
  kIpv6ExtensionChainTooLong,
  kTruncatedTcp,
  kBadTcpDataOffset,
  kTruncatedUdp,
  kCount
};
const char* to_string(ParseError e);

struct PacketLayout {
  std::uint16_t ethertype = 0;   // EtherType of the L3 header (after VLAN tags)
  std::uint8_t vlan_tags = 0;    // tags between the source MAC and the L3 EtherType
  std::uint16_t first_tpid = 0;  // TPID of the outermost tag, if any
  std::uint16_t first_tci = 0;   // TCI of the outermost tag, if any
  std::uint32_t l3_offset = 0;   // start of the L3 header
  std::uint8_t ip_version = 0;   // 4 or 6; 0 when the frame is not IP
  std::uint32_t ip_header_length = 0;  // IPv4 header with options; IPv6 fixed + extensions
  std::uint32_t ip_end = 0;      // l3_offset + IP total length (excludes link padding)
  bool ip_fragment = false;      // a fragment (L4 is not parsed)
  std::uint8_t l4_proto = 0;     // TCP, UDP, ... (IPv6: after the extension headers)
  std::uint32_t l4_offset = 0;   // start of the L4 header, 0 when not parsed
  std::uint32_t l4_header_length = 0;  // TCP data offset * 4, or 8 for UDP; 0 otherwise

  bool is_tcp() const { return l4_offset != 0 && l4_proto == 6 && l4_header_length != 0; }
  bool is_udp() const { return l4_offset != 0 && l4_proto == 17 && l4_header_length != 0; }
  std::uint32_t payload_offset() const { return l4_offset + l4_header_length; }
};

// Parses `n` bytes of an Ethernet frame (no FCS). At most `max_vlan_tags`
// 802.1Q/802.1ad tags are skipped.
ParseError parse_ethernet(const std::uint8_t* p, std::size_t n, PacketLayout* out,
                          unsigned max_vlan_tags = 2);

// Parses from an IP header at offset `l3_offset` of `p` (for callers that
// already know the link layer). `ethertype` selects IPv4 or IPv6.
ParseError parse_ip(const std::uint8_t* p, std::size_t n, std::uint32_t l3_offset,
                    std::uint16_t ethertype, PacketLayout* out);

}  // namespace stt::wire
