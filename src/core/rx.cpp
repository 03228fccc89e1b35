#include "core/rx.hpp"

#include <bit>
#include <cstddef>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "wire/bytes.hpp"
#include "wire/checksum.hpp"
#include "wire/headers.hpp"
#include "wire/parse.hpp"

namespace stt::core {

constexpr CounterNames<RxCounter> kRxCounterNames({
    {RxCounter::kSegments, "segments"},
    {RxCounter::kNotIp, "not_ip"},
    {RxCounter::kNotTcp, "not_tcp"},
    {RxCounter::kNotOurPort, "not_our_port"},
    {RxCounter::kNotOurAddress, "not_our_address"},
    {RxCounter::kDropTruncated, "drop_truncated"},
    {RxCounter::kDropBadIpHeader, "drop_bad_ip_header"},
    {RxCounter::kDropBadIpChecksum, "drop_bad_ip_checksum"},
    {RxCounter::kDropIpFragment, "drop_ip_fragment"},
    {RxCounter::kDropTcpOptions, "drop_tcp_options"},
    {RxCounter::kDropBadTcpChecksum, "drop_bad_tcp_checksum"},
    {RxCounter::kDropZeroLength, "drop_zero_length"},
    {RxCounter::kDropBeyondLength, "drop_beyond_length"},
    {RxCounter::kDropLengthTooShort, "drop_length_too_short"},
    {RxCounter::kDropControlFlags, "drop_control_flags"},
});

std::string_view counter_name(RxCounter c) {
  return kRxCounterNames(c);
}

namespace {

using wire::header_at;

inline wire::IpAddr ip4(const std::uint8_t* p) {
  return wire::IpAddr::v4(p);
}
// An IPv4 address's 4 bytes (as loaded with memcpy) as the first 8 bytes of
// an IpAddr, zero padded: the word whose memcpy gives bytes a0 a1 a2 a3 0 0 0 0.
inline std::uint64_t ip4_word(std::uint32_t addr) {
  return std::endian::native == std::endian::little ? std::uint64_t{addr}
                                                    : std::uint64_t{addr} << 32;
}
// The same as ip4(), from the 4 bytes as loaded with memcpy.
inline void store_ip4(wire::IpAddr* a, std::uint32_t raw) {
  *a = wire::IpAddr::v4_raw(raw);
}

// A 32-bit word as a plain load of its big-endian bytes would give it.
inline std::uint32_t raw_be32(std::uint32_t v) {
  return std::endian::native == std::endian::little ? __builtin_bswap32(v) : v;
}
// The IPv4 pseudo-header (RFC 9293 §3.1) as raw 32-bit loads: source,
// destination, and the {zero, protocol, length} word.
inline std::uint64_t pseudo_v4_raw(const SttSegment& seg, std::uint8_t proto,
                                   std::uint32_t l4_len) {
  std::uint32_t s, d;
  std::memcpy(&s, seg.outer_src.data(), 4);
  std::memcpy(&d, seg.outer_dst.data(), 4);
  return std::uint64_t{s} + d + raw_be32((std::uint32_t{proto} << 16) | l4_len);
}

// The outer IP header, reduced to what the TCP checks need.
struct OuterIp {
  std::uint32_t l4_offset = 0;  // start of the TCP header
  std::uint32_t ip_end = 0;     // end of the IP packet (link padding excluded)
  std::uint8_t proto = 0;
  std::uint8_t tos = 0;
};

// IPv4: every check is done here, in order, so each malformed header maps
// to exactly one counter.
RxCounter parse_outer_v4(const std::uint8_t* pkt, std::size_t len, std::uint32_t l3,
                         const RxConfig& cfg, SttSegment* out, OuterIp* ip) {
  if (len - l3 < sizeof(wire::Ipv4Header)) return RxCounter::kDropTruncated;
  const auto* h = header_at<wire::Ipv4Header>(pkt + l3);
  if (h->version() != 4) return RxCounter::kDropBadIpHeader;
  const std::uint32_t hl = h->header_length();
  if (hl < sizeof(wire::Ipv4Header)) return RxCounter::kDropBadIpHeader;
  if (len - l3 < hl) return RxCounter::kDropTruncated;
  const std::uint32_t total = h->total_length.get();
  if (total < hl) return RxCounter::kDropBadIpHeader;
  // Bytes beyond the IP total length are link padding and are ignored.
  if (total > len - l3) return RxCounter::kDropTruncated;
  // (A header without options, the usual case, is summed in straight-line code.)
  const std::uint32_t ip_sum = hl == sizeof(wire::Ipv4Header)
                                   ? wire::csum::sum_ipv4_base_header(pkt + l3)
                                   : wire::csum::sum_header(pkt + l3, hl);
  if (wire::csum::fold(ip_sum) != 0xffff) {
    return RxCounter::kDropBadIpChecksum;
  }
  out->outer_src = ip4(h->src);
  out->outer_dst = ip4(h->dst);
  if (cfg.local.version() != 0 && out->outer_dst != cfg.local && !out->outer_dst.is_multicast()) {
    return RxCounter::kNotOurAddress;
  }
  if (h->protocol != wire::kIpProtoTcp) return RxCounter::kNotTcp;
  // STT senders set DF; a non-first fragment has no TCP header at all, so
  // fragments cannot be classified and are not reassembled here.
  if (h->is_fragment()) return RxCounter::kDropIpFragment;
  ip->l4_offset = l3 + hl;
  ip->ip_end = l3 + total;
  ip->proto = h->protocol;
  ip->tos = h->tos;
  return RxCounter::kSegments;
}

// IPv6: the base header is checked here; the extension-header chain is
// walked by wire::parse_ip.
RxCounter parse_outer_v6(const std::uint8_t* pkt, std::size_t len, std::uint32_t l3,
                         const RxConfig& cfg, SttSegment* out, OuterIp* ip) {
  if (len - l3 < sizeof(wire::Ipv6Header)) return RxCounter::kDropTruncated;
  const auto* h = header_at<wire::Ipv6Header>(pkt + l3);
  if (h->version() != 6) return RxCounter::kDropBadIpHeader;
  if (h->payload_length.get() > len - l3 - sizeof(wire::Ipv6Header)) {
    return RxCounter::kDropTruncated;
  }
  wire::PacketLayout layout;
  const wire::ParseError err = wire::parse_ip(pkt, len, l3, wire::kEtherTypeIpv6, &layout);
  switch (err) {
    case wire::ParseError::kOk:
    // The TCP header is checked below, after the port says it is ours.
    case wire::ParseError::kTruncatedTcp:
    case wire::ParseError::kBadTcpDataOffset:
    case wire::ParseError::kTruncatedUdp:
      break;
    case wire::ParseError::kIpv6ExtensionChainTooLong:
      return RxCounter::kDropBadIpHeader;
    default:
      return RxCounter::kDropTruncated;
  }
  out->outer_src = wire::IpAddr::v6(h->src);
  out->outer_dst = wire::IpAddr::v6(h->dst);
  if (cfg.local.version() != 0 && out->outer_dst != cfg.local && !out->outer_dst.is_multicast()) {
    return RxCounter::kNotOurAddress;
  }
  if (layout.l4_proto != wire::kIpProtoTcp) return RxCounter::kNotTcp;
  // wire::parse marks a fragment header with a non-zero offset or M set.
  // An atomic fragment (offset 0, M 0) is a whole packet and is processed as
  // one (RFC 6946).
  if (layout.ip_fragment) return RxCounter::kDropIpFragment;
  ip->l4_offset = layout.l4_offset;
  ip->ip_end = layout.ip_end;
  ip->proto = layout.l4_proto;
  ip->tos = h->traffic_class();
  return RxCounter::kSegments;
}

// (Out of line: the fast path above takes nearly every packet.)
[[gnu::noinline]] RxCounter parse_outer(std::uint8_t* pkt, std::size_t len, const RxConfig& cfg,
                                        SttSegment* out, OuterIp* ipp) {
  OuterIp& ip = *ipp;
  if (len < sizeof(wire::EthernetHeader)) return RxCounter::kDropTruncated;
  std::uint16_t type = header_at<wire::EthernetHeader>(pkt)->ethertype.get();
  std::uint32_t l3 = sizeof(wire::EthernetHeader);
  if (type == wire::kEtherTypeVlan) {  // one 802.1Q tag on the underlay link
    if (len - l3 < sizeof(wire::VlanTag)) return RxCounter::kDropTruncated;
    type = header_at<wire::VlanTag>(pkt + l3)->ethertype.get();
    l3 += sizeof(wire::VlanTag);
  }

  if (type == wire::kEtherTypeIpv4) return parse_outer_v4(pkt, len, l3, cfg, out, &ip);
  if (type == wire::kEtherTypeIpv6) return parse_outer_v6(pkt, len, l3, cfg, out, &ip);
  return RxCounter::kNotIp;
}

// The TCP checksum in software, when the kernel did not verify it: checked
// now (false when wrong) or, with cfg.defer_checksum, left pending with the
// pseudo-header and TCP header summed. (Out of line: with receive checksum
// offload, the usual case, it is never called.)
[[gnu::noinline]] bool tcp_checksum(const std::uint8_t* tcp, std::uint32_t l4_len,
                                    std::uint8_t proto, const RxConfig& cfg, const SttSegment& seg,
                                    bool* pending, std::uint32_t* pending_sum) {
  if (!seg.outer_src.is_v4()) {
    const std::uint32_t pseudo =
        wire::csum::pseudo_v6(seg.outer_src.data(), seg.outer_dst.data(), proto, l4_len);
    if (cfg.defer_checksum) {
      *pending = true;
      *pending_sum = wire::csum::sum_header(tcp, sizeof(wire::TcpHeader), pseudo);
      return true;
    }
    return wire::csum::fold(wire::csum::sum(tcp, l4_len, pseudo)) == 0xffff;
  }
  // IPv4, the usual case: the pseudo-header (and, to defer, the TCP
  // header) as raw 32-bit loads, folded once.
  std::uint64_t acc = pseudo_v4_raw(seg, proto, l4_len);
  if (cfg.defer_checksum) {
    for (std::size_t i = 0; i < sizeof(wire::TcpHeader); i += 4) {
      std::uint32_t w;
      std::memcpy(&w, tcp + i, 4);
      acc += w;
    }
    *pending = true;
    *pending_sum = wire::csum::host_to_network(wire::csum::fold64(acc));
    return true;
  }
  return wire::csum::fold(wire::csum::sum(
             tcp, l4_len, wire::csum::host_to_network(wire::csum::fold64(acc)))) == 0xffff;
}

// The TCP header of a segment whose outer IP header was accepted.
inline RxCounter parse_tcp(std::uint8_t* pkt, const OuterIp& ip, const OffloadInfo& offload,
                           const RxConfig& cfg, SttSegment* out) {
  const std::uint32_t tcp_off = ip.l4_offset;
  if (ip.ip_end - tcp_off < sizeof(wire::TcpHeader)) return RxCounter::kDropTruncated;
  const auto* tcp = header_at<wire::TcpHeader>(pkt + tcp_off);
  if (tcp->dst_port.get() != cfg.port) return RxCounter::kNotOurPort;
  // STT defines no TCP options and every deployed sender uses a 20-byte
  // header; deployed receivers (OVS) strip a fixed 20 bytes. Honouring
  // other data offsets would accept frames no peer can produce and that
  // other receivers would misread, so anything but 5 is dropped.
  if (tcp->header_length() != sizeof(wire::TcpHeader)) return RxCounter::kDropTcpOptions;

  const std::uint32_t l4_len = ip.ip_end - tcp_off;
  bool pending = false;
  std::uint32_t pending_sum = 0;
  if (!offload.data_valid() && !offload.needs_csum() &&
      !tcp_checksum(pkt + tcp_off, l4_len, ip.proto, cfg, *out, &pending, &pending_sum)) {
    return RxCounter::kDropBadTcpChecksum;
  }
  // SYN, RST and FIN never belong to STT (the draft asks for them to be
  // zero); a segment with one is a real TCP peer or a probe.
  if (tcp->flags & (wire::kTcpSyn | wire::kTcpRst | wire::kTcpFin)) {
    return RxCounter::kDropControlFlags;
  }

  const std::uint32_t n = l4_len - static_cast<std::uint32_t>(sizeof(wire::TcpHeader));
  if (n == 0) return RxCounter::kDropZeroLength;
  const std::uint32_t seq = tcp->seq.get();
  const std::uint16_t frame_len = static_cast<std::uint16_t>(seq >> 16);
  const std::uint16_t offset = static_cast<std::uint16_t>(seq & 0xffff);
  if (frame_len < wire::kSttMinFrame) return RxCounter::kDropLengthTooShort;
  if (std::uint32_t{offset} + n > frame_len) return RxCounter::kDropBeyondLength;

  out->src_port = tcp->src_port.get();
  out->dst_port = tcp->dst_port.get();
  out->packet_id = tcp->ack.get();
  out->frame_len = frame_len;
  out->offset = offset;
  out->tos = ip.tos;
  out->tcp_flags = tcp->flags;
  out->headroom = tcp_off + static_cast<std::uint32_t>(sizeof(wire::TcpHeader));
  out->payload = pkt + out->headroom;
  out->payload_len = n;
  out->checksum_pending = pending;
  out->pending_sum = pending_sum;
  return RxCounter::kSegments;
}

// Every packet the fast path did not take, classified from scratch. (Out
// of line, so the fast path keeps its registers.)
[[gnu::noinline]] RxCounter parse_segment_slow(std::uint8_t* pkt, std::size_t len,
                                               const OffloadInfo& offload, const RxConfig& cfg,
                                               SttSegment* out) {
  OuterIp ip;
  const RxCounter r = parse_outer(pkt, len, cfg, out, &ip);
  if (r != RxCounter::kSegments) return r;
  return parse_tcp(pkt, ip, offload, cfg, out);
}

// The TCP checksum of a segment fast_segment() has otherwise accepted and
// filled in, checked in software; a wrong one goes to the general path,
// which counts it. (Out of line, and reached by a tail call, so the fast
// path keeps no registers for it.)
[[gnu::noinline]] RxCounter check_then_accept(std::uint8_t* pkt, std::size_t len,
                                              const OffloadInfo& offload, const RxConfig& cfg,
                                              SttSegment* out, std::uint32_t pseudo) {
  constexpr std::uint32_t l4 = sizeof(wire::EthernetHeader) + sizeof(wire::Ipv4Header);
  const std::uint32_t l4_len = out->payload_len + std::uint32_t{sizeof(wire::TcpHeader)};
  if (wire::csum::fold(wire::csum::sum(pkt + l4, l4_len, pseudo)) == 0xffff) {
    return RxCounter::kSegments;
  }
  return parse_segment_slow(pkt, len, offload, cfg, out);
}

// The usual segment, whole: untagged IPv4 without options, not a fragment,
// to us, TCP to our port with a 20-byte header and no SYN/RST/FIN, a
// payload that fits L, the checksums right (or left pending). Accepts it
// in one straight pass, from a few 64-bit loads of the headers; anything
// else goes to parse_segment_slow(), which classifies the packet from
// scratch, so every malformed header still maps to its own counter.
// Everything accepted here is accepted there with the same result.
inline RxCounter fast_segment(std::uint8_t* pkt, std::size_t len, const OffloadInfo& offload,
                              const RxConfig& cfg, SttSegment* out) {
  constexpr std::uint32_t l3 = sizeof(wire::EthernetHeader);
  constexpr std::uint32_t l4 = l3 + sizeof(wire::Ipv4Header);
  constexpr std::uint32_t hdrs = l4 + sizeof(wire::TcpHeader);
  if (len < hdrs || wire::load_be16(pkt + 12) != wire::kEtherTypeIpv4) {
    return parse_segment_slow(pkt, len, offload, cfg, out);
  }
  const std::uint8_t* ip = pkt + l3;
  // Big-endian 64-bit words: {version/IHL, TOS, total length, ID, flags +
  // fragment offset} and {TTL, protocol, checksum, source}.
  const std::uint64_t w0 = wire::load_be64(ip), w1 = wire::load_be64(ip + 8);
  constexpr std::size_t kSrc = offsetof(wire::Ipv4Header, src);
  constexpr std::size_t kDst = offsetof(wire::Ipv4Header, dst);
  const std::uint32_t dst_be = wire::load_be32(ip + kDst);
  const std::uint32_t total = static_cast<std::uint32_t>(w0 >> 32) & 0xffffu;
  // {source port, destination port, SEQ} and {ACK, data offset, flags, window}.
  const std::uint64_t t0 = wire::load_be64(pkt + l4), t1 = wire::load_be64(pkt + l4 + 8);
  const std::uint32_t seq = static_cast<std::uint32_t>(t0);
  const std::uint32_t n = total - (hdrs - l3);
  const std::uint32_t frame_len = seq >> 16, offset = seq & 0xffffu;
  const std::uint32_t src_be = static_cast<std::uint32_t>(w1);
  const std::uint64_t ip_sum =
      (w0 >> 32) + (w0 & 0xffffffffu) + (w1 >> 32) + std::uint64_t{src_be} + dst_be;
  // IP: version 4, IHL 5; neither MF nor a fragment offset; TCP; at least
  // one payload byte after the TCP header; within the packet; the header
  // checksum right (0xffff reads the same in either byte order). TCP: our
  // port; data offset 5 (the high nibble); SYN, RST and FIN clear; a
  // payload that fits L, and L long enough.
  if ((w0 & 0xff00'0000'0000'3fffull) != 0x4500'0000'0000'0000ull ||
      ((w1 >> 48) & 0xffu) != wire::kIpProtoTcp || total <= hdrs - l3 || total > len - l3 ||
      wire::csum::fold64(ip_sum) != 0xffff || ((t0 >> 32) & 0xffffu) != cfg.port ||
      ((t1 >> 16) & 0xf007u) != 0x5000u || frame_len < wire::kSttMinFrame ||
      offset + n > frame_len) {
    return parse_segment_slow(pkt, len, offload, cfg, out);
  }
  std::uint32_t src4, dst4;
  std::memcpy(&src4, ip + kSrc, 4);
  std::memcpy(&dst4, ip + kDst, 4);
  if (cfg.local.version() != 0) {
    const std::uint64_t l0 = cfg.local.word(0), l1 = cfg.local.word(1);
    if (((l0 ^ ip4_word(dst4)) | l1) != 0 || cfg.local.version() != 4) {
      return parse_segment_slow(pkt, len, offload, cfg, out);
    }
  }
  store_ip4(&out->outer_src, src4);
  store_ip4(&out->outer_dst, dst4);
  out->src_port = static_cast<std::uint16_t>(t0 >> 48);
  out->dst_port = static_cast<std::uint16_t>(t0 >> 32);
  out->packet_id = static_cast<std::uint32_t>(t1 >> 32);
  out->frame_len = static_cast<std::uint16_t>(frame_len);
  out->offset = static_cast<std::uint16_t>(offset);
  out->tos = static_cast<std::uint8_t>(w0 >> 48);
  out->tcp_flags = static_cast<std::uint8_t>(t1 >> 16);
  out->headroom = hdrs;
  out->payload = pkt + hdrs;
  out->payload_len = n;
  out->checksum_pending = false;
  out->pending_sum = 0;
  if (offload.data_valid() || offload.needs_csum()) return RxCounter::kSegments;
  // The checksum in software: now, from the pseudo-header in the same
  // big-endian words, or deferred with the TCP header summed too.
  if (!cfg.defer_checksum) {
    const std::uint64_t pseudo = std::uint64_t{src_be} + dst_be +
                                 ((std::uint32_t{wire::kIpProtoTcp} << 16) | (total - (l4 - l3)));
    return check_then_accept(pkt, len, offload, cfg, out, wire::csum::fold64(pseudo));
  }
  out->checksum_pending = true;
  out->pending_sum = usual_tcp_header_sum(pkt, total);
  return RxCounter::kSegments;
}

}  // namespace

RxCounter parse_segment(std::uint8_t* pkt, std::size_t len, const OffloadInfo& offload,
                        const RxConfig& cfg, SttSegment* out) {
  return fast_segment(pkt, len, offload, cfg, out);
}

RxCounter parse_segment_general(std::uint8_t* pkt, std::size_t len, const OffloadInfo& offload,
                                const RxConfig& cfg, SttSegment* out) {
  return parse_segment_slow(pkt, len, offload, cfg, out);
}

bool pending_checksum_ok(const SttSegment& seg) {
  return !seg.checksum_pending ||
         wire::csum::fold(wire::csum::sum(seg.payload, seg.payload_len, seg.pending_sum)) == 0xffff;
}

bool copy_payload_checked(std::uint8_t* dst, const SttSegment& seg) {
  if (!seg.checksum_pending) {
    std::memcpy(dst, seg.payload, seg.payload_len);
    return true;
  }
  // The payload starts 20 bytes into the TCP segment, at an even offset,
  // so its words line up with the pending sum's.
  return wire::csum::fold(wire::csum::copy_and_sum(dst, seg.payload, seg.payload_len,
                                                   seg.pending_sum)) == 0xffff;
}

}  // namespace stt::core
