#include "core/encap.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <string>

#include "wire/bytes.hpp"
#include "wire/checksum.hpp"
#include "wire/hash.hpp"
#include "wire/parse.hpp"

namespace stt::core {

namespace csum = wire::csum;
using wire::header_at;
using wire::store_be16;
using wire::store_be32;
using wire::store_be64;

constexpr CounterNames<EncapCounter> kEncapCounterNames({
    {EncapCounter::kFrames, "frames"},
    {EncapCounter::kSttFrames, "stt_frames"},
    {EncapCounter::kSegments, "segments"},
    {EncapCounter::kOffloaded, "offloaded"},
    {EncapCounter::kSoftwareChecksum, "software_checksum"},
    {EncapCounter::kSoftwareGso, "software_gso"},
    {EncapCounter::kVlanFromFrame, "vlan_from_frame"},
    {EncapCounter::kDropTooShort, "drop_too_short"},
    {EncapCounter::kDropTooLarge, "drop_too_large"},
    {EncapCounter::kDropBadOffload, "drop_bad_offload"},
    {EncapCounter::kDropHeadroom, "drop_headroom"},
    {EncapCounter::kDropBatchFull, "drop_batch_full"},
    {EncapCounter::kDropSlotTooSmall, "drop_slot_too_small"},
});

std::string_view counter_name(EncapCounter c) {
  return kEncapCounterNames(c);
}

namespace {

// Inline: the byte counts are constants in each branch, so the loops unroll.
[[gnu::always_inline]] inline std::uint64_t flow_hash(const std::uint8_t* frame, std::size_t len,
                                                      const wire::PacketLayout& layout) {
  // Fixed key (see wire/hash.hpp): R14, reproducible captures.
  wire::Hasher h(0x5354542d666c6f77ull);
  if (layout.ip_version == 4) {
    const auto* ip = header_at<wire::Ipv4Header>(frame + layout.l3_offset);
    h.add_bytes(ip->src, 8);  // src and dst
    h.add(ip->protocol);
  } else if (layout.ip_version == 6) {
    const auto* ip = header_at<wire::Ipv6Header>(frame + layout.l3_offset);
    h.add_bytes(ip->src, 32);
    h.add(layout.l4_proto);
  } else if (len >= wire::kEthHeaderLen) {
    h.add_bytes(frame, 12);  // MACs
    h.add(layout.ethertype);
    return h.finish();
  }
  if ((layout.is_tcp() || layout.is_udp()) && !layout.ip_fragment) {
    h.add(wire::load_be32(frame + layout.l4_offset));  // both ports
  }
  return h.finish();
}

std::uint16_t map_port(std::uint64_t hash, const TunnelConfig& cfg) {
  const std::uint32_t lo = std::min(cfg.src_port_min, cfg.src_port_max);
  const std::uint32_t hi = std::max(cfg.src_port_min, cfg.src_port_max);
  const std::uint32_t range = hi - lo + 1;
  // Multiply-shift maps the top 32 bits evenly onto the range.
  std::uint32_t k = static_cast<std::uint32_t>(((hash >> 32) * range) >> 32);
  for (std::uint32_t tries = 0; tries < 3; ++tries) {
    const std::uint32_t port = lo + k;
    if (port != 0 && port != wire::kSttPort && port != cfg.dst_port) {
      return static_cast<std::uint16_t>(port);
    }
    k = (k + 1) % range;
  }
  return 49152;  // a range of only forbidden ports: config validation should stop that
}

// The inner TOS / traffic class (0 for a non-IP frame), for
// Tunnel::outer_tos().
std::uint8_t inner_tos(const std::uint8_t* frame, const wire::PacketLayout& layout) {
  if (layout.ip_version == 4) return header_at<wire::Ipv4Header>(frame + layout.l3_offset)->tos;
  if (layout.ip_version == 6) {
    return header_at<wire::Ipv6Header>(frame + layout.l3_offset)->traffic_class();
  }
  return 0;
}

// The layout parse_ethernet() gives for an untagged IPv4 (not a fragment)
// or IPv6 (no extension header) TCP/UDP frame whose lengths all check out;
// false for any other frame, which then goes to the general parser (that
// one also says what is wrong with it). Every test below is one of
// parse_ethernet()'s, in the same order of dependence.
[[gnu::always_inline]] inline bool parse_common(const std::uint8_t* p, std::size_t n,
                                                wire::PacketLayout* out) {
  if (n < wire::kEthHeaderLen) return false;
  const std::uint16_t type = wire::load_be16(p + 12);
  std::uint8_t version, proto;
  std::uint32_t ip_hl, end;
  if (type == wire::kEtherTypeIpv4) {
    if (n < wire::kEthHeaderLen + sizeof(wire::Ipv4Header)) return false;
    const auto* ip = header_at<wire::Ipv4Header>(p + wire::kEthHeaderLen);
    ip_hl = ip->header_length();
    const std::uint32_t total = ip->total_length.get();
    // total <= n - 14 and total >= ip_hl put the whole header inside the frame.
    if (ip->version() != 4 || ip_hl < sizeof(wire::Ipv4Header) || total < ip_hl ||
        total > n - wire::kEthHeaderLen || ip->is_fragment()) {
      return false;
    }
    version = 4;
    proto = ip->protocol;
    end = wire::kEthHeaderLen + total;
  } else if (type == wire::kEtherTypeIpv6) {
    if (n < wire::kEthHeaderLen + sizeof(wire::Ipv6Header)) return false;
    const auto* ip = header_at<wire::Ipv6Header>(p + wire::kEthHeaderLen);
    const std::uint32_t payload = ip->payload_length.get();
    if (ip->version() != 6 || payload > n - wire::kEthHeaderLen - sizeof(wire::Ipv6Header)) {
      return false;
    }
    version = 6;
    proto = ip->next_header;  // TCP or UDP below: no extension header
    ip_hl = sizeof(wire::Ipv6Header);
    end = wire::kEthHeaderLen + sizeof(wire::Ipv6Header) + payload;
  } else {
    return false;
  }
  const std::uint32_t l4 = wire::kEthHeaderLen + ip_hl;  // <= end
  std::uint32_t l4_hl;
  if (proto == wire::kIpProtoTcp) {
    if (end - l4 < sizeof(wire::TcpHeader)) return false;
    l4_hl = header_at<wire::TcpHeader>(p + l4)->header_length();
    if (l4_hl < sizeof(wire::TcpHeader) || end - l4 < l4_hl) return false;
  } else if (proto == wire::kIpProtoUdp) {
    if (end - l4 < sizeof(wire::UdpHeader)) return false;
    l4_hl = sizeof(wire::UdpHeader);
  } else {
    return false;
  }
  *out = wire::PacketLayout{.ethertype = type,
                            .vlan_tags = 0,
                            .first_tpid = 0,
                            .first_tci = 0,
                            .l3_offset = wire::kEthHeaderLen,
                            .ip_version = version,
                            .ip_header_length = ip_hl,
                            .ip_end = end,
                            .ip_fragment = false,
                            .l4_proto = proto,
                            .l4_offset = l4,
                            .l4_header_length = l4_hl};
  return true;
}

// The offload decision for one inner frame: what STT carries for the
// request `off` (already found consistent with the frame by
// offload_consistent()), given the frame's layout; `l4` says the layout is
// TCP or UDP over IP, not a fragment. encapsulate()'s fast path and
// encap_general() both take it from here, so they cannot disagree.
//
// * P is possible for TCP/UDP over IPv4/IPv6, untagged in the frame, with
//   the checksum where that protocol keeps it and an offset the 8-bit L4
//   field can hold (§3.1, I9, I11).
// * MSS is the inner gso_size only when the L4 payload really exceeds it
//   (R5); UFO segments the whole datagram (UDP header included), the other
//   kinds the L4 payload.
// * Super-packets stay whole (P with MSS) when the far end can redo them
//   without ECN support (I10: no ECN GSO bit, no CWR in the TCP header) and
//   STT's MSS can express their GSO kind (not USO); otherwise they are
//   segmented here.
// * C when the checksum is known good: DATA_VALID, or one finished here at
//   the parsed TCP/UDP position, or software GSO output other than IP
//   fragments.
struct OffloadPlan {
  enum Kind : std::uint8_t {
    kPlain,         // no checksum work: the frame as it is
    kPartial,       // P (and MSS for a super-packet): the frame up to ip_end
    kSoftwareCsum,  // the partial checksum finished here, then as kPlain
    kSoftwareGso,   // the super-packet segmented here, each piece its own STT frame
  };
  Kind kind;
  std::uint8_t flags;  // STT flags (for kSoftwareGso: each piece's)
  std::uint16_t mss;
};

[[gnu::always_inline]] inline OffloadPlan plan_offload(const OffloadInfo& off,
                                                       const std::uint8_t* frame,
                                                       const wire::PacketLayout& lay, bool l4) {
  if (!off.needs_csum() && !off.is_gso()) {
    return {OffloadPlan::kPlain, off.data_valid() ? wire::kSttFlagCsumVerified : std::uint8_t{0},
            0};
  }
  const bool tcp = lay.is_tcp();
  const bool csum_at_l4 =
      l4 && off.csum_start == lay.l4_offset &&
      off.csum_offset == (tcp ? wire::kTcpChecksumOffset : wire::kUdpChecksumOffset);
  const bool p_ok = off.needs_csum() && csum_at_l4 && lay.vlan_tags == 0 && lay.l4_offset <= 255 &&
                    wire::kSttHeaderLen + lay.ip_end <= wire::kSttMaxFrame;
  const bool ufo = off.gso_kind() == OffloadInfo::kGsoUdp;
  const std::uint32_t l4_payload = l4 ? lay.ip_end - lay.payload_offset() : 0;
  const bool needs_seg = off.is_gso() && (ufo ? l4_payload + 8 : l4_payload) > off.gso_size;
  if (needs_seg) {
    const bool cwr = tcp && (frame[lay.l4_offset + wire::kTcpFlagsOffset] & wire::kTcpCwr);
    if (!p_ok || off.ecn() || cwr || off.gso_kind() == OffloadInfo::kGsoUdpL4) {
      return {OffloadPlan::kSoftwareGso, ufo ? std::uint8_t{0} : wire::kSttFlagCsumVerified, 0};
    }
  }
  if (p_ok) {
    const std::uint8_t flags = wire::kSttFlagCsumPartial |
                               (lay.ip_version == 4 ? wire::kSttFlagIpv4 : 0) |
                               (tcp ? wire::kSttFlagTcp : 0);
    return {OffloadPlan::kPartial, flags, needs_seg ? off.gso_size : std::uint16_t{0}};
  }
  if (off.needs_csum()) {
    return {OffloadPlan::kSoftwareCsum, csum_at_l4 ? wire::kSttFlagCsumVerified : std::uint8_t{0},
            0};
  }
  return {OffloadPlan::kPlain, off.data_valid() ? wire::kSttFlagCsumVerified : std::uint8_t{0}, 0};
}

// What stays the same for every outer packet of one encapsulate() call.
struct OuterParams {
  const Tunnel* tunnel;
  std::uint16_t src_port;
  std::uint16_t dst_port;
  std::uint8_t tos;
  std::uint32_t flow_label;
};

// Outer header layout, by underlay IP version.
template <bool kV6>
struct Outer {
  static constexpr std::uint32_t kL3 = wire::kEthHeaderLen;
  static constexpr std::uint32_t kIpLen = kV6 ? 40 : 20;
  static constexpr std::uint32_t kL4 = kL3 + kIpLen;
  static constexpr std::uint32_t kLen = kL4 + 20;  // Ethernet + IP + TCP
  static_assert(kLen <= TxBatch::kMaxHeader && kLen <= Tunnel::kMaxOuterHeader);
};

// Writes the outer Ethernet + IP + TCP-like header at `h`: the tunnel's
// template, then what is the same for every packet of this STT frame (TOS
// or traffic class and flow label, source port, SEQ's high half = the frame
// length, ACK = the packet ID). Lengths, IPv4 ID and checksum, SEQ's low
// half, flags and the TCP checksum are each packet's own.
template <bool kV6>
[[gnu::always_inline]] inline void write_frame_header(std::uint8_t* h, const OuterParams& o,
                                                      std::uint32_t stt_len, std::uint32_t pid) {
  using L = Outer<kV6>;
  std::memcpy(h, o.tunnel->outer_template(), L::kLen);
  if constexpr (kV6) {
    store_be32(h + L::kL3, 0x60000000u | std::uint32_t{o.tos} << 20 | o.flow_label);
  } else {
    h[L::kL3 + wire::kIpv4TosOffset] = o.tos;
  }
  std::uint8_t* tcp = h + L::kL4;
  store_be16(tcp + wire::kTcpSrcPortOffset, o.src_port);
  store_be32(tcp + wire::kTcpSeqOffset, stt_len << 16);
  store_be32(tcp + wire::kTcpAckOffset, pid);
}

bool gso_fits(std::uint32_t stt_len, bool v6) {
  // IPv4 total length covers IP + TCP + frame; IPv6 payload length TCP + frame.
  return (v6 ? 20 : 40) + stt_len <= 65535;
}

// How many TxPackets one STT frame of `stt_len` bytes becomes.
std::uint32_t packets_for(std::uint32_t stt_len, TxForm form, const Tunnel& t) {
  if (form == TxForm::kGso && gso_fits(stt_len, t.is_v6())) return 1;
  const std::uint32_t seg = t.segment_payload();
  return (stt_len + seg - 1) / seg;
}

// The GSO form: one super-segment, its outer headers in the headroom right
// before the STT header, so that it is one contiguous run a TSO engine cuts.
template <bool kV6>
[[gnu::always_inline]] inline void emit_gso(Tunnel& tunnel, const OuterParams& o, std::uint8_t* stt,
                                            std::uint32_t stt_len, TxBatch& out) {
  using L = Outer<kV6>;
  // The segments the engine will make (each takes an IPv4 ID).
  const std::uint32_t n = (stt_len + tunnel.segment_payload() - 1) / tunnel.segment_payload();
  const std::uint32_t pid = tunnel.next_packet_id();
  std::uint8_t* h = stt - L::kLen;
  std::uint8_t* tcp = h + L::kL4;
  const std::uint32_t tcp_len = 20 + stt_len;  // < 65536 (gso_fits)
  write_frame_header<kV6>(h, o, stt_len, pid);
  if constexpr (kV6) {
    store_be16(h + L::kL3 + wire::kIpv6PayloadLengthOffset, static_cast<std::uint16_t>(tcp_len));
  } else {
    const std::uint16_t total = static_cast<std::uint16_t>(20 + tcp_len);
    const std::uint16_t id = tunnel.next_ip_id(static_cast<std::uint16_t>(n));
    store_be16(h + L::kL3 + wire::kIpv4TotalLengthOffset, total);
    store_be16(h + L::kL3 + wire::kIpv4IdOffset, id);
    store_be16(h + L::kL3 + wire::kIpv4ChecksumOffset,
               csum::finish(tunnel.outer_ip_sum() + o.tos + total + id));
  }
  tcp[wire::kTcpFlagsOffset] = wire::kTcpAck | wire::kTcpPsh;
  const std::uint32_t pseudo = tunnel.outer_pseudo_sum() + tcp_len;
  TxPacket& p = out.extend(1)[0];
  p.header = h;
  p.header_len = L::kLen;
  p.payload = stt;
  p.payload_len = stt_len;
  p.gso = OffloadInfo{};
  if (n == 1) {
    store_be16(tcp + wire::kTcpChecksumOffset, csum::finish(csum::sum(tcp, tcp_len, pseudo)));
  } else {
    // CHECKSUM_PARTIAL form for the engine: the folded pseudo-header sum
    // over the whole super-segment; it adjusts the length per segment.
    store_be16(tcp + wire::kTcpChecksumOffset, csum::fold(pseudo));
    p.gso.flags = OffloadInfo::kNeedsCsum;
    p.gso.gso_type = kV6 ? OffloadInfo::kGsoTcpv6 : OffloadInfo::kGsoTcpv4;
    p.gso.hdr_len = L::kLen;
    p.gso.gso_size = static_cast<std::uint16_t>(tunnel.segment_payload());
    p.gso.csum_start = L::kL4;
    p.gso.csum_offset = wire::kTcpChecksumOffset;
  }
}

// Software segmentation into `n` outer packets. The first packet's header
// is written from the tunnel's template; every later one copies it. Each
// then gets its own IP length (and IPv4 ID and checksum), SEQ low half,
// flags and TCP checksum. Both checksums are built from sums of the fields
// that never change, so a segment costs a header copy, a few stores and the
// sum of its payload slice: in the copy form, the sum taken while the slice
// is copied into the packet's slot, right behind its header.
template <bool kV6, bool kCopy>
void emit_segments(Tunnel& tunnel, const OuterParams& o, const std::uint8_t* stt,
                   std::uint32_t stt_len, std::uint32_t n, TxBatch& out) {
  using L = Outer<kV6>;
  const std::uint32_t seg = tunnel.segment_payload();
  const std::uint32_t pid = tunnel.next_packet_id();
  const std::size_t first = out.size();
  TxPacket* const pk = out.extend(n);
  auto header_of = [&out, first](std::uint32_t i) {
    return kCopy ? out.copy_slot(first + i) : out.header_slot(first + i);
  };
  std::uint8_t* const h0 = header_of(0);
  write_frame_header<kV6>(h0, o, stt_len, pid);
  // IPv4: every header word but total length, ID and checksum.
  std::uint16_t ip_id = 0;
  std::uint32_t ip_fixed = 0;
  if constexpr (!kV6) {
    ip_id = tunnel.next_ip_id(static_cast<std::uint16_t>(n));
    ip_fixed = tunnel.outer_ip_sum() + o.tos;
  }
  // TCP: the pseudo-header without its length, and every header word but
  // SEQ's low half, flags and checksum (window and urgent pointer are zero).
  const std::uint32_t tcp_fixed = tunnel.outer_pseudo_sum() + o.src_port + o.dst_port +
                                  (pid >> 16) + (pid & 0xffffu) + stt_len + (5u << 12);
  // One packet: `len` bytes from `off`, its header at h (for i > 0 a copy
  // of the first). Every packet but the last is a full segment with ACK;
  // the last carries the rest, with ACK|PSH.
  auto emit = [&](std::uint32_t i, std::uint32_t off, std::uint32_t len, std::uint8_t flags,
                  std::uint8_t* h) {
    if constexpr (kV6) {
      store_be16(h + L::kL3 + wire::kIpv6PayloadLengthOffset, static_cast<std::uint16_t>(20 + len));
    } else {
      const std::uint16_t total = static_cast<std::uint16_t>(40 + len);
      const std::uint16_t id = static_cast<std::uint16_t>(ip_id + i);
      static_assert(wire::kIpv4IdOffset == wire::kIpv4TotalLengthOffset + 2);
      store_be32(h + L::kL3 + wire::kIpv4TotalLengthOffset, std::uint32_t{total} << 16 | id);
      store_be16(h + L::kL3 + wire::kIpv4ChecksumOffset, csum::finish(ip_fixed + total + id));
    }
    std::uint8_t* tcp = h + L::kL4;
    store_be16(tcp + wire::kTcpSeqOffset + 2,
               static_cast<std::uint16_t>(off));  // SEQ's low half: O
    tcp[wire::kTcpFlagsOffset] = flags;
    const std::uint32_t hs = tcp_fixed + (20 + len) + off + flags;
    // Each slice is read once, here.
    const std::uint8_t* payload;
    std::uint32_t s;
    if constexpr (kCopy) {
      payload = h + L::kLen;
      s = csum::copy_and_sum(h + L::kLen, stt + off, len, hs);
    } else {
      payload = stt + off;
      s = csum::sum(payload, len, hs);
    }
    store_be16(tcp + wire::kTcpChecksumOffset, csum::finish(s));
    pk[i] = TxPacket{h, static_cast<std::uint16_t>(L::kLen), payload, len, OffloadInfo{}};
  };
  std::uint8_t* h = h0;
  std::uint32_t off = 0;
  for (std::uint32_t i = 0; i + 1 < n; ++i, off += seg) {
    emit(i, off, seg, wire::kTcpAck, h);
    h = header_of(i + 1);
    std::memcpy(h, h0, L::kLen);
  }
  emit(n - 1, off, stt_len - off, wire::kTcpAck | wire::kTcpPsh, h);
}

// Emits one STT frame (header already written at `stt`) as `n` outer
// packets (n = packets_for(), room already checked).
[[gnu::always_inline]] inline void emit_frame(Tunnel& tunnel, const OuterParams& o,
                                              std::uint8_t* stt, std::uint32_t stt_len,
                                              std::uint32_t n, TxForm form, TxBatch& out,
                                              CounterSet<EncapCounter>& counters) {
  counters.inc(EncapCounter::kSttFrames);
  counters.inc(EncapCounter::kSegments, n);
  const bool v6 = tunnel.is_v6();
  if (form == TxForm::kGso && gso_fits(stt_len, v6)) {
    v6 ? emit_gso<true>(tunnel, o, stt, stt_len, out)
       : emit_gso<false>(tunnel, o, stt, stt_len, out);
  } else if (form == TxForm::kSegmentedCopy) {
    v6 ? emit_segments<true, true>(tunnel, o, stt, stt_len, n, out)
       : emit_segments<false, true>(tunnel, o, stt, stt_len, n, out);
  } else {
    v6 ? emit_segments<true, false>(tunnel, o, stt, stt_len, n, out)
       : emit_segments<false, false>(tunnel, o, stt, stt_len, n, out);
  }
}

// Whether `out` has room for the `n` outer packets of an STT frame of
// `stt_len` bytes, `more` packets already promised; kCount if so, else the
// drop reason.
EncapCounter check_room(std::uint32_t stt_len, std::uint32_t n, TxForm form, const Tunnel& t,
                        const TxBatch& out, std::size_t more) {
  if (form == TxForm::kSegmentedCopy &&
      t.outer_header_len() + std::min(t.segment_payload(), stt_len) > out.copy_slot_capacity()) {
    return EncapCounter::kDropSlotTooSmall;
  }
  if (n + more > out.room(form)) return EncapCounter::kDropBatchFull;
  return EncapCounter::kCount;
}

// The frame's offload request checked against its own bytes; false means
// drop as kDropBadOffload.
[[gnu::always_inline]] inline bool offload_consistent(const OffloadInfo& off, std::size_t len,
                                                      wire::ParseError perr,
                                                      const wire::PacketLayout& lay) {
  if (off.needs_csum()) {
    if (std::size_t{off.csum_start} + off.csum_offset + 2 > len) return false;
    if (off.csum_start < lay.l3_offset) return false;  // inside the link header
  }
  if (!off.is_gso()) return true;
  if (off.gso_size == 0 || perr != wire::ParseError::kOk || lay.ip_fragment) return false;
  switch (off.gso_kind()) {
    case OffloadInfo::kGsoTcpv4:
      return lay.ip_version == 4 && lay.is_tcp();
    case OffloadInfo::kGsoTcpv6:
      return lay.ip_version == 6 && lay.is_tcp();
    case OffloadInfo::kGsoUdp:
    case OffloadInfo::kGsoUdpL4:
      return lay.is_udp();
    default:
      return false;
  }
}

}  // namespace

// ------------------------------------------------------------ Tunnel, TxBatch

Tunnel::Tunnel(const TunnelConfig& cfg, std::uint32_t initial_packet_id)
    : Tunnel(cfg, initial_packet_id,
             static_cast<std::uint16_t>(wire::mix64(initial_packet_id) >> 48)) {}

std::string Tunnel::config_error(const TunnelConfig& cfg) {
  const std::uint32_t l3l4 = cfg.src.is_v6() ? 60 : 40;
  if (cfg.mtu < l3l4 + 8) {
    return "tunnel MTU " + std::to_string(cfg.mtu) +
           " leaves no room for an STT segment: " + (cfg.src.is_v6() ? "IPv6" : "IPv4") +
           " needs at least " + std::to_string(l3l4 + 8);
  }
  return "";
}

// Refuses the config before anything derives from it (segment_payload()
// is mtu - header bytes and would wrap).
static const TunnelConfig& checked(const TunnelConfig& cfg) {
  if (std::string e = Tunnel::config_error(cfg); !e.empty()) throw std::invalid_argument(e);
  return cfg;
}

Tunnel::Tunnel(const TunnelConfig& cfg, std::uint32_t initial_packet_id,
               std::uint16_t initial_ip_id)
    : cfg_(checked(cfg)),
      v6_(cfg.src.is_v6()),
      seg_(cfg.mtu - outer_l3l4_len()),
      packet_id_(initial_packet_id),
      ip_id_(initial_ip_id) {
  build_outer_template();
  // Source ports: [min, max] in either order; the mapping needs its
  // retries only when the range holds a port it must not use.
  port_lo_ = std::min(cfg_.src_port_min, cfg_.src_port_max);
  const std::uint32_t hi = std::max(cfg_.src_port_min, cfg_.src_port_max);
  port_range_ = hi - port_lo_ + 1;
  auto in_range = [this, hi](std::uint32_t port) { return port >= port_lo_ && port <= hi; };
  port_check_ = in_range(0) || in_range(wire::kSttPort) || in_range(cfg_.dst_port);
  // Outer TOS: DSCP per the RFC 2983 model (uniform copies the inner DSCP,
  // pipe sends the configured one), ECN per RFC 6040 §4.1 (normal mode
  // copies the inner ECN field, CE included; compatibility mode sends
  // Not-ECT). Non-IP inner frames count as DSCP 0, Not-ECT.
  const bool uniform = cfg_.dscp_mode == DscpMode::kUniform;
  const bool normal = cfg_.ecn_mode == EcnMode::kNormal;
  tos_keep_ = static_cast<std::uint8_t>((uniform ? 0xfc : 0) | (normal ? 0x03 : 0));
  tos_set_ = uniform ? 0 : static_cast<std::uint8_t>((cfg_.pipe_dscp & 0x3f) << 2);
}

std::uint16_t Tunnel::checked_source_port(std::uint64_t hash) const {
  return map_port(hash, cfg_);
}

void Tunnel::build_outer_template() {
  std::uint8_t* h = outer_.data();
  auto* eth = header_at<wire::EthernetHeader>(h);
  eth->dst = cfg_.dst_mac;
  eth->src = cfg_.src_mac;
  const bool v6 = cfg_.src.is_v6();
  eth->ethertype.set(v6 ? wire::kEtherTypeIpv6 : wire::kEtherTypeIpv4);
  std::uint8_t* l3 = h + wire::kEthHeaderLen;
  if (!v6) {
    auto* ip = header_at<wire::Ipv4Header>(l3);
    ip->version_ihl = 0x45;
    ip->frag.set(cfg_.df ? wire::kIpv4FlagDf : 0);
    ip->ttl = cfg_.ttl;
    ip->protocol = wire::kIpProtoTcp;
    std::memcpy(ip->src, cfg_.src.data(), 4);
    std::memcpy(ip->dst, cfg_.dst.data(), 4);
    // The per-packet words are still zero.
    outer_ip_sum_ = csum::fold(csum::sum_ipv4_base_header(l3));
    outer_pseudo_sum_ = csum::pseudo_v4(ip->src, ip->dst, wire::kIpProtoTcp, 0);
  } else {
    auto* ip = header_at<wire::Ipv6Header>(l3);
    ip->next_header = wire::kIpProtoTcp;
    ip->hop_limit = cfg_.ttl;
    std::memcpy(ip->src, cfg_.src.data(), 16);
    std::memcpy(ip->dst, cfg_.dst.data(), 16);
    outer_ip_sum_ = 0;
    outer_pseudo_sum_ = csum::pseudo_v6(ip->src, ip->dst, wire::kIpProtoTcp, 0);
  }
  auto* tcp = header_at<wire::TcpHeader>(l3 + (v6 ? 40 : 20));
  tcp->dst_port.set(cfg_.dst_port);
  tcp->data_offset_ns = 5 << 4;
  // Source port, SEQ, ACK, flags, checksum per packet; window 0 (R18; OVS
  // sends 0xffff, receivers ignore it); urgent pointer 0.
}

namespace {
// Worst case for one call: a 64 KB inner frame cut by software GSO into as
// many pieces as the batch holds, each with headroom and up to 512 bytes of
// copied headers (Ethernet, tags, IP with options or extensions, TCP).
constexpr std::size_t kArenaBytes =
    kMaxFrame + TxBatch::kMaxPackets * (kDefaultHeadroom + 512 + 16);
}  // namespace

TxBatch::TxBatch() : arena_(kArenaBytes, kMaxPackets) {}

void TxBatch::clear() {
  count_ = 0;
  arena_.reset();
}

// ------------------------------------------------------------ helpers

std::uint16_t flow_source_port(const std::uint8_t* frame, std::size_t len,
                               const wire::PacketLayout& layout, const TunnelConfig& cfg) {
  return map_port(flow_hash(frame, len, layout), cfg);
}

wire::ParseError parse_inner(const std::uint8_t* frame, std::size_t len, wire::PacketLayout* out) {
  if (parse_common(frame, len, out)) return wire::ParseError::kOk;
  return wire::parse_ethernet(frame, len, out, 2);
}

void write_stt_header(std::uint8_t* at, const SttFields& f) {
  auto* h = header_at<wire::SttHeader>(at);
  std::uint16_t tci = 0;
  if (f.vlan) {
    tci = static_cast<std::uint16_t>((f.vlan->pcp & 0x7) << 13 | wire::kSttVlanValid |
                                     (f.vlan->vid & 0x0fff));
  }
  // Two 64-bit stores: version (0), flags, L4 offset, reserved (0, R3),
  // MSS and PCP/V/VID; then the context ID. Padding 0 (R9).
  static_assert(offsetof(wire::SttHeader, vlan_tci) == 6 &&
                offsetof(wire::SttHeader, context_id) == 8);
  store_be64(&h->version, std::uint64_t{f.flags} << 48 | std::uint64_t{f.l4_offset} << 40 |
                              std::uint64_t{f.mss} << 16 | tci);
  store_be64(h->context_id.b, f.context_id);
  h->padding.set(0);
}

namespace {

// The per-frame outer fields: source port and IPv6 flow label (the flow
// hash, unless the request fixes them) and TOS.
[[gnu::always_inline]] inline OuterParams outer_params(const Tunnel& tunnel,
                                                       const std::uint8_t* frame, std::size_t len,
                                                       const wire::PacketLayout& lay,
                                                       const EncapRequest& req) {
  const TunnelConfig& cfg = tunnel.config();
  const bool v6 = tunnel.is_v6();
  OuterParams o;
  o.tunnel = &tunnel;
  o.dst_port = cfg.dst_port;
  o.src_port = req.src_port ? *req.src_port : 0;
  o.flow_label = 0;
  std::uint64_t hash = 0;
  if (!req.src_port || (v6 && !req.flow_label)) hash = flow_hash(frame, len, lay);
  if (!req.src_port) o.src_port = tunnel.source_port(hash);
  if (v6) {
    o.flow_label =
        req.flow_label ? (*req.flow_label & 0xfffff) : static_cast<std::uint32_t>(hash & 0xfffff);
    if (!req.flow_label && o.flow_label == 0) o.flow_label = 1;
  }
  o.tos = tunnel.outer_tos(inner_tos(frame, lay));
  return o;
}

// One STT frame of a frame that needs no work of its own: `frame` / `len`
// as they go on the wire (link padding already cut where P needs it), the
// STT flags, L4 offset and MSS decided by the caller.
EncapStatus encap_one(Tunnel& tunnel, std::uint8_t* frame, std::size_t len,
                      const wire::PacketLayout& lay, const EncapRequest& req, TxForm form,
                      TxBatch& out, CounterSet<EncapCounter>& counters, std::uint8_t flags,
                      std::uint8_t l4_offset, std::uint16_t mss) {
  if (wire::kSttHeaderLen + len > wire::kSttMaxFrame) {
    counters.inc(EncapCounter::kDropTooLarge);
    return EncapStatus::kDropped;
  }
  const std::uint32_t stt_len = static_cast<std::uint32_t>(wire::kSttHeaderLen + len);
  const std::uint32_t n = packets_for(stt_len, form, tunnel);
  if (const EncapCounter why = check_room(stt_len, n, form, tunnel, out, 0);
      why != EncapCounter::kCount) {
    counters.inc(why);
    return EncapStatus::kDropped;
  }
  const OuterParams o = outer_params(tunnel, frame, len, lay, req);
  std::uint8_t* stt = frame - wire::kSttHeaderLen;
  write_stt_header(stt, SttFields{flags, l4_offset, mss, req.vlan, req.context_id});
  emit_frame(tunnel, o, stt, stt_len, n, form, out, counters);
  counters.inc(EncapCounter::kFrames);
  if (flags & wire::kSttFlagCsumPartial) counters.inc(EncapCounter::kOffloaded);
  return EncapStatus::kOk;
}

// Everything else: tags, frames that did not parse as TCP/UDP, offload
// requests to check, to finish in software or to refuse.
EncapStatus encap_general(Tunnel& tunnel, std::uint8_t* frame, std::size_t len,
                          const EncapRequest& req, TxForm form, TxBatch& out,
                          CounterSet<EncapCounter>& counters, wire::PacketLayout& lay,
                          wire::ParseError perr) {
  auto drop = [&counters](EncapCounter why) {
    counters.inc(why);
    return EncapStatus::kDropped;
  };
  OffloadInfo off = req.offload;
  if (!offload_consistent(off, len, perr, lay)) return drop(EncapCounter::kDropBadOffload);

  // One 802.1Q tag and no VLAN from the caller: carry it in the STT header
  // (I6). The 12 MAC bytes move forward over the tag; the payload stays.
  std::optional<VlanTci> vlan = req.vlan;
  bool tag_moved = false;
  if (!vlan && lay.vlan_tags == 1 && lay.first_tpid == wire::kEtherTypeVlan &&
      !wire::tci_dei(lay.first_tci) && wire::tci_vid(lay.first_tci) != 0x0fff) {
    std::memmove(frame + 4, frame, 12);
    frame += 4;
    len -= 4;
    vlan = VlanTci{static_cast<std::uint8_t>(wire::tci_pcp(lay.first_tci)),
                   wire::tci_vid(lay.first_tci)};
    tag_moved = true;
    lay.vlan_tags = 0;
    lay.first_tpid = 0;
    lay.first_tci = 0;
    lay.l3_offset -= 4;
    if (lay.ip_end != 0) lay.ip_end -= 4;
    if (lay.l4_offset != 0) lay.l4_offset -= 4;
    if (off.needs_csum()) off.csum_start = static_cast<std::uint16_t>(off.csum_start - 4);
    if (off.hdr_len >= 4) off.hdr_len = static_cast<std::uint16_t>(off.hdr_len - 4);
  }

  const bool l4 =
      perr == wire::ParseError::kOk && !lay.ip_fragment && (lay.is_tcp() || lay.is_udp());
  const OffloadPlan plan = plan_offload(off, frame, lay, l4);
  const OuterParams o = outer_params(tunnel, frame, len, lay, req);

  SttFields f;
  f.vlan = vlan;
  f.context_id = req.context_id;
  f.flags = plan.flags;

  // ---- inner segmentation in software: every piece is its own STT frame.
  if (plan.kind == OffloadPlan::kSoftwareGso) {
    const bool ufo = off.gso_kind() == OffloadInfo::kGsoUdp;
    FrameArena& arena = out.arena();
    const std::size_t first = arena.count();
    const GsoError e = software_gso(std::span<const std::uint8_t>(frame, len), lay, off.gso_size,
                                    off.needs_csum(), ufo, kDefaultHeadroom, arena);
    if (e == GsoError::kArenaFull) return drop(EncapCounter::kDropBatchFull);
    if (e != GsoError::kOk) return drop(EncapCounter::kDropBadOffload);
    const auto pieces = arena.frames().subspan(first);
    std::size_t need = 0;
    for (const auto& piece : pieces) {
      const std::uint32_t stt_len = static_cast<std::uint32_t>(piece.len + wire::kSttHeaderLen);
      const std::uint32_t n = packets_for(stt_len, form, tunnel);
      const EncapCounter why = check_room(stt_len, n, form, tunnel, out, need);
      if (why != EncapCounter::kCount) return drop(why);
      need += n;
    }
    for (const auto& piece : pieces) {
      std::uint8_t* stt = piece.data - wire::kSttHeaderLen;
      const std::uint32_t stt_len = static_cast<std::uint32_t>(piece.len + wire::kSttHeaderLen);
      write_stt_header(stt, f);
      emit_frame(tunnel, o, stt, stt_len, packets_for(stt_len, form, tunnel), form, out, counters);
    }
    counters.inc(EncapCounter::kFrames);
    counters.inc(EncapCounter::kSoftwareGso);
    if (tag_moved) counters.inc(EncapCounter::kVlanFromFrame);
    return EncapStatus::kOk;
  }

  // ---- one STT frame.
  if (plan.kind == OffloadPlan::kPartial) {
    len = lay.ip_end;  // link padding would spoil the receiver's checksum completion
    f.l4_offset = static_cast<std::uint8_t>(lay.l4_offset);
    f.mss = plan.mss;
  }
  const bool sw_csum = plan.kind == OffloadPlan::kSoftwareCsum;
  if (wire::kSttHeaderLen + len > wire::kSttMaxFrame) return drop(EncapCounter::kDropTooLarge);
  const std::uint32_t stt_len = static_cast<std::uint32_t>(wire::kSttHeaderLen + len);
  const std::uint32_t n = packets_for(stt_len, form, tunnel);
  if (const EncapCounter why = check_room(stt_len, n, form, tunnel, out, 0);
      why != EncapCounter::kCount) {
    return drop(why);
  }
  if (sw_csum) {
    const std::size_t end = l4 ? lay.ip_end : len;
    complete_checksum(std::span<std::uint8_t>(frame, end), off.csum_start, off.csum_offset,
                      lay.is_udp() && off.csum_start == lay.l4_offset);
    counters.inc(EncapCounter::kSoftwareChecksum);
  }
  std::uint8_t* stt = frame - wire::kSttHeaderLen;
  write_stt_header(stt, f);
  emit_frame(tunnel, o, stt, stt_len, n, form, out, counters);
  counters.inc(EncapCounter::kFrames);
  if (f.flags & wire::kSttFlagCsumPartial) counters.inc(EncapCounter::kOffloaded);
  if (tag_moved) counters.inc(EncapCounter::kVlanFromFrame);
  return EncapStatus::kOk;
}

// What both paths check before either looks at the frame's contents; kCount
// when the frame may go on.
EncapCounter check_request(const Tunnel& tunnel, const FrameRef& frame, TxForm form) {
  if (frame.data == nullptr || frame.len < wire::kEthHeaderLen) return EncapCounter::kDropTooShort;
  const std::size_t writes =
      wire::kSttHeaderLen + (form == TxForm::kGso ? tunnel.outer_header_len() : 0);
  if (frame.headroom < writes) return EncapCounter::kDropHeadroom;
  return EncapCounter::kCount;
}

}  // namespace

// ------------------------------------------------------------ encapsulate
//
// Decisions (docs/protocol.md has the reasoning in full):
// * An 802.1Q tag with DEI=1, or with the reserved VID 4095, is left in the
//   frame: the STT header cannot carry DEI (its bit 12 is TCI.V), and
//   dropping the bit silently would change the frame. Such frames, like
//   QinQ / 802.1ad / double-tagged ones, go without offload (I11).
// * MSS is the inner gso_size only when the L4 payload really exceeds it
//   (R5: MSS != 0 announces a super-packet). A GSO frame that already fits
//   one segment goes as P with MSS 0.
// * C is set when the frame's checksum is known good: DATA_VALID from the
//   source, or a TCP/UDP checksum this function just computed (finished in
//   software, or software GSO output other than IP fragments). Never with P.
// * Inner UDP with the USO GSO type is segmented here: STT's MSS for UDP
//   means UFO at the receiver (digest §5.3), which is not the same thing.
// * In the GSO form, a frame too large for one outer IP packet (IPv4 inner
//   frame > 65477 bytes) is sent in the segmented form instead of losing
//   its inner offload.
// The offload choices themselves are plan_offload()'s.
EncapStatus encapsulate(Tunnel& tunnel, FrameRef fr, const EncapRequest& req, TxForm form,
                        TxBatch& out, CounterSet<EncapCounter>& counters) {
  if (const EncapCounter why = check_request(tunnel, fr, form); why != EncapCounter::kCount) {
    counters.inc(why);
    return EncapStatus::kDropped;
  }
  std::uint8_t* const frame = fr.data;
  const std::size_t len = fr.len;

  // The common case, in a few tests: an untagged TCP/UDP frame whose
  // offload request plan_offload() answers with no checksum work (C if
  // DATA_VALID) or with P. The decision is plan_offload()'s, the one
  // encap_general() takes too; everything else goes there.
  wire::PacketLayout lay;
  if (!parse_common(frame, len, &lay)) {
    const wire::ParseError perr = wire::parse_ethernet(frame, len, &lay, 2);
    return encap_general(tunnel, frame, len, req, form, out, counters, lay, perr);
  }
  const OffloadInfo& off = req.offload;
  if (offload_consistent(off, len, wire::ParseError::kOk, lay)) {
    const OffloadPlan plan = plan_offload(off, frame, lay, true);
    if (plan.kind == OffloadPlan::kPlain) {
      return encap_one(tunnel, frame, len, lay, req, form, out, counters, plan.flags, 0, 0);
    }
    if (plan.kind == OffloadPlan::kPartial) {
      return encap_one(tunnel, frame, lay.ip_end, lay, req, form, out, counters, plan.flags,
                       static_cast<std::uint8_t>(lay.l4_offset), plan.mss);
    }
  }
  return encap_general(tunnel, frame, len, req, form, out, counters, lay, wire::ParseError::kOk);
}

EncapStatus encapsulate_general(Tunnel& tunnel, FrameRef fr, const EncapRequest& req, TxForm form,
                                TxBatch& out, CounterSet<EncapCounter>& counters) {
  if (const EncapCounter why = check_request(tunnel, fr, form); why != EncapCounter::kCount) {
    counters.inc(why);
    return EncapStatus::kDropped;
  }
  wire::PacketLayout lay;
  const wire::ParseError perr = wire::parse_ethernet(fr.data, fr.len, &lay, 2);
  return encap_general(tunnel, fr.data, fr.len, req, form, out, counters, lay, perr);
}

}  // namespace stt::core
