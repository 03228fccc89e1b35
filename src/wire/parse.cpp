#include "wire/parse.hpp"

#include "wire/headers.hpp"

namespace stt::wire {

const char* to_string(ParseError e) {
  switch (e) {
    case ParseError::kOk: return "ok";
    case ParseError::kTruncatedEthernet: return "truncated_ethernet";
    case ParseError::kTruncatedVlan: return "truncated_vlan";
    case ParseError::kTooManyVlanTags: return "too_many_vlan_tags";
    case ParseError::kTruncatedIpv4: return "truncated_ipv4";
    case ParseError::kBadIpv4Version: return "bad_ipv4_version";
    case ParseError::kBadIpv4HeaderLength: return "bad_ipv4_header_length";
    case ParseError::kBadIpv4TotalLength: return "bad_ipv4_total_length";
    case ParseError::kTruncatedIpv6: return "truncated_ipv6";
    case ParseError::kBadIpv6Version: return "bad_ipv6_version";
    case ParseError::kBadIpv6PayloadLength: return "bad_ipv6_payload_length";
    case ParseError::kTruncatedIpv6Extension: return "truncated_ipv6_extension";
    case ParseError::kIpv6ExtensionChainTooLong: return "ipv6_extension_chain_too_long";
    case ParseError::kTruncatedTcp: return "truncated_tcp";
    case ParseError::kBadTcpDataOffset: return "bad_tcp_data_offset";
    case ParseError::kTruncatedUdp: return "truncated_udp";
    case ParseError::kCount: break;
  }
  return "unknown";
}

namespace {

ParseError parse_l4(const std::uint8_t* p, std::uint32_t end, PacketLayout* out) {
  const std::uint32_t off = out->l4_offset;
  if (out->l4_proto == kIpProtoTcp) {
    if (end < off || end - off < sizeof(TcpHeader)) return ParseError::kTruncatedTcp;
    const auto* tcp = header_at<TcpHeader>(p + off);
    const std::uint32_t hl = tcp->header_length();
    if (hl < sizeof(TcpHeader)) return ParseError::kBadTcpDataOffset;
    if (end - off < hl) return ParseError::kTruncatedTcp;
    out->l4_header_length = hl;
  } else if (out->l4_proto == kIpProtoUdp) {
    if (end < off || end - off < sizeof(UdpHeader)) return ParseError::kTruncatedUdp;
    out->l4_header_length = sizeof(UdpHeader);
  }
  return ParseError::kOk;
}

ParseError parse_ipv4(const std::uint8_t* p, std::size_t n, PacketLayout* out) {
  const std::uint32_t off = out->l3_offset;
  if (n < off || n - off < sizeof(Ipv4Header)) return ParseError::kTruncatedIpv4;
  const auto* ip = header_at<Ipv4Header>(p + off);
  if (ip->version() != 4) return ParseError::kBadIpv4Version;
  const std::uint32_t hl = ip->header_length();
  if (hl < sizeof(Ipv4Header)) return ParseError::kBadIpv4HeaderLength;
  if (n - off < hl) return ParseError::kTruncatedIpv4;
  const std::uint32_t total = ip->total_length.get();
  if (total < hl || total > n - off) return ParseError::kBadIpv4TotalLength;
  out->ip_version = 4;
  out->ip_header_length = hl;
  out->ip_end = off + total;
  out->l4_proto = ip->protocol;
  out->ip_fragment = ip->is_fragment();
  if (out->ip_fragment) return ParseError::kOk;
  out->l4_offset = off + hl;
  return parse_l4(p, out->ip_end, out);
}

ParseError parse_ipv6(const std::uint8_t* p, std::size_t n, PacketLayout* out) {
  const std::uint32_t off = out->l3_offset;
  if (n < off || n - off < sizeof(Ipv6Header)) return ParseError::kTruncatedIpv6;
  const auto* ip = header_at<Ipv6Header>(p + off);
  if (ip->version() != 6) return ParseError::kBadIpv6Version;
  const std::uint32_t payload = ip->payload_length.get();
  if (payload > n - off - sizeof(Ipv6Header)) return ParseError::kBadIpv6PayloadLength;
  out->ip_version = 6;
  out->ip_end = off + static_cast<std::uint32_t>(sizeof(Ipv6Header)) + payload;

  std::uint8_t next = ip->next_header;
  std::uint32_t pos = off + sizeof(Ipv6Header);
  for (int hops = 0;; ++hops) {
    if (next != kIpv6HopByHop && next != kIpv6Routing && next != kIpv6DestOpts &&
        next != kIpv6Fragment && next != kIpv6Auth) {
      break;
    }
    if (hops == 8) return ParseError::kIpv6ExtensionChainTooLong;
    if (out->ip_end - pos < sizeof(Ipv6ExtHeader)) return ParseError::kTruncatedIpv6Extension;
    const auto* ext = header_at<Ipv6ExtHeader>(p + pos);
    std::uint32_t len;
    if (next == kIpv6Fragment) {
      if (out->ip_end - pos < sizeof(Ipv6FragmentHeader)) {
        return ParseError::kTruncatedIpv6Extension;
      }
      const auto* frag = header_at<Ipv6FragmentHeader>(p + pos);
      if ((frag->offset_flags.get() & 0xfff9) != 0) out->ip_fragment = true;
      len = sizeof(Ipv6FragmentHeader);
    } else if (next == kIpv6Auth) {
      len = (ext->length + 2u) * 4u;
    } else {
      len = (ext->length + 1u) * 8u;
    }
    if (out->ip_end - pos < len) return ParseError::kTruncatedIpv6Extension;
    next = ext->next_header;
    pos += len;
  }
  out->ip_header_length = pos - off;
  out->l4_proto = next;
  if (out->ip_fragment) return ParseError::kOk;
  out->l4_offset = pos;
  return parse_l4(p, out->ip_end, out);
}

}  // namespace

ParseError parse_ip(const std::uint8_t* p, std::size_t n, std::uint32_t l3_offset,
                    std::uint16_t ethertype, PacketLayout* out) {
  out->ethertype = ethertype;
  out->l3_offset = l3_offset;
  if (ethertype == kEtherTypeIpv4) return parse_ipv4(p, n, out);
  if (ethertype == kEtherTypeIpv6) return parse_ipv6(p, n, out);
  return ParseError::kOk;
}

ParseError parse_ethernet(const std::uint8_t* p, std::size_t n, PacketLayout* out,
                          unsigned max_vlan_tags) {
  *out = PacketLayout{};
  if (n < sizeof(EthernetHeader)) return ParseError::kTruncatedEthernet;
  std::uint16_t type = header_at<EthernetHeader>(p)->ethertype.get();
  std::uint32_t off = sizeof(EthernetHeader);
  while (type == kEtherTypeVlan || type == kEtherTypeQinQ) {
    if (out->vlan_tags == max_vlan_tags) return ParseError::kTooManyVlanTags;
    if (n - off < sizeof(VlanTag)) return ParseError::kTruncatedVlan;
    const auto* tag = header_at<VlanTag>(p + off);
    if (out->vlan_tags == 0) {
      out->first_tpid = type;
      out->first_tci = tag->tci.get();
    }
    ++out->vlan_tags;
    type = tag->ethertype.get();
    off += sizeof(VlanTag);
  }
  return parse_ip(p, n, off, type, out);
}

}  // namespace stt::wire
