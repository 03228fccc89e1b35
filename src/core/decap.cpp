#include "core/decap.hpp"

#include <cstring>

#include "wire/bytes.hpp"
#include "wire/checksum.hpp"
#include "wire/headers.hpp"
#include "wire/parse.hpp"

namespace stt::core {

namespace {

// Bytes left in front of each frame software GSO writes: room for a
// virtio-net header (12) and alignment.
constexpr std::uint32_t kGsoHeadroom = 32;

// The arena holds one maximal super-packet (65517 bytes) re-segmented into
// at most kMaxFrames pieces, each with its own headers (L4 offset <= 255,
// TCP header <= 60, a restored tag) and headroom: an MSS down to 256 fits.
constexpr std::size_t kArenaBytes = 256 * 1024;

}  // namespace

constexpr CounterNames<DecapCounter> kDecapCounterNames({
    {DecapCounter::kFrames, "frames"},
    {DecapCounter::kVlanRestored, "vlan_restored"},
    {DecapCounter::kCsumPartial, "csum_partial"},
    {DecapCounter::kGsoDelivered, "gso_delivered"},
    {DecapCounter::kSoftwareChecksum, "software_checksum"},
    {DecapCounter::kSoftwareGso, "software_gso"},
    {DecapCounter::kEcnCeMarked, "ecn_ce_marked"},
    {DecapCounter::kDscpRewritten, "dscp_rewritten"},
    {DecapCounter::kDropBadVersion, "drop_bad_version"},
    {DecapCounter::kDropTooShort, "drop_too_short"},
    {DecapCounter::kDropCAndP, "drop_c_and_p"},
    {DecapCounter::kDropBadL4Offset, "drop_bad_l4_offset"},
    {DecapCounter::kDropBadInnerHeaders, "drop_bad_inner_headers"},
    {DecapCounter::kDropEcnNotEct, "drop_ecn_not_ect"},
    {DecapCounter::kDropVlanReserved, "drop_vlan_reserved"},
    {DecapCounter::kDropGsoFailed, "drop_gso_failed"},
    {DecapCounter::kDropOutputFull, "drop_output_full"},
});

std::string_view counter_name(DecapCounter c) {
  return kDecapCounterNames(c);
}

DecapOutput::DecapOutput() : arena_(kArenaBytes, kMaxFrames) {}

void DecapOutput::clear() {
  count_ = 0;
  arena_.reset();
  info = SttInfo{};
}

bool read_stt_header(const std::uint8_t* frame, std::size_t len, SttInfo* out) {
  if (len < wire::kSttMinFrame) return false;
  const auto* h = wire::header_at<wire::SttHeader>(frame);
  out->version = h->version;
  out->flags = h->flags;
  out->l4_offset = h->l4_offset;
  out->reserved = h->reserved;
  out->mss = h->mss.get();
  out->vlan_tci = h->vlan_tci.get();
  out->context_id = h->context_id.get();
  out->padding = h->padding.get();
  return true;
}

namespace {

// RFC 6040 §4.2: the inner ECN field after decapsulation, or -1 to drop.
// Outer Not-ECT and ECT(0) leave the inner field as it is (the "(!!!)"
// cells of the table are logged by some implementations, not changed).
int rfc6040_decap(std::uint8_t inner, std::uint8_t outer) {
  if (outer == wire::kEcnCe) return inner == wire::kEcnNotEct ? -1 : wire::kEcnCe;
  if (outer == wire::kEcnEct1 && inner == wire::kEcnEct0) return wire::kEcnEct1;
  return inner;
}

}  // namespace

DecapStatus decapsulate(const ReassembledFrame& frame, const DecapConfig& cfg, DecapOutput& out,
                        CounterSet<DecapCounter>& counters) {
  auto drop = [&counters](DecapCounter c) {
    counters.inc(c);
    return DecapStatus::kDropped;
  };

  SttInfo info;
  if (!read_stt_header(frame.data, frame.len, &info)) return drop(DecapCounter::kDropTooShort);
  out.info = info;
  // R1. Reserved byte, padding and reserved flag bits are never looked at
  // (R4, R8, R10).
  if (info.version != 0) return drop(DecapCounter::kDropBadVersion);
  const bool verified = (info.flags & wire::kSttFlagCsumVerified) != 0;
  const bool partial = (info.flags & wire::kSttFlagCsumPartial) != 0;
  // C and P together say the checksum is both complete and only a
  // pseudo-header sum (I5 forbids it). Either reading can hand a consumer a
  // wrong checksum marked good, so the frame is dropped rather than guessed
  // at (OVS lets P win; see docs/protocol.md).
  if (verified && partial) return drop(DecapCounter::kDropCAndP);
  const bool tagged = (info.vlan_tci & wire::kSttVlanValid) != 0;
  const std::uint16_t vid = wire::tci_vid(info.vlan_tci);
  if (tagged && vid == 0x0fff) return drop(DecapCounter::kDropVlanReserved);
  if (out.size() == DecapOutput::kMaxFrames) return drop(DecapCounter::kDropOutputFull);

  std::uint8_t* inner = frame.data + wire::kSttHeaderLen;
  std::uint32_t len = frame.len - wire::kSttHeaderLen;
  // The inner headers are parsed only when something needs them: P (they
  // are checked against the header), uniform DSCP, or an outer ECN field
  // that can change the inner one (CE, or ECT(1) over ECT(0)); outer
  // Not-ECT and ECT(0) leave it as it is (RFC 6040 §4.2). A frame with
  // none of these is handed on untouched, as the parse would have left it.
  const std::uint8_t outer_ecn = frame.ce ? wire::kEcnCe : wire::ecn_of(frame.first_tos);
  const bool inner_ip_may_change =
      (cfg.ecn && (outer_ecn == wire::kEcnCe || outer_ecn == wire::kEcnEct1)) ||
      cfg.dscp_mode == DscpMode::kUniform;
  wire::PacketLayout layout;
  const wire::ParseError perr = partial || inner_ip_may_change
                                    ? wire::parse_ethernet(inner, len, &layout)
                                    : wire::ParseError::kOk;

  // With P = 0 the L4 offset, MSS, FLAG_IPV4 and T mean nothing (R12).
  // With P = 1 they must describe the inner headers exactly.
  const bool tcp = (info.flags & wire::kSttFlagTcp) != 0;
  if (partial) {
    const std::uint8_t want_ip = (info.flags & wire::kSttFlagIpv4) ? 4 : 6;
    const std::uint8_t want_l4 = tcp ? wire::kIpProtoTcp : wire::kIpProtoUdp;
    if (perr != wire::ParseError::kOk || layout.ip_version != want_ip || layout.ip_fragment ||
        layout.l4_proto != want_l4 || !(layout.is_tcp() || layout.is_udp())) {
      return drop(DecapCounter::kDropBadInnerHeaders);
    }
    if (info.l4_offset != layout.l4_offset) return drop(DecapCounter::kDropBadL4Offset);
    // The partial checksum covers the L4 segment to the IP length; link
    // padding after it would corrupt the sum, so it is not delivered.
    len = layout.ip_end;
  }

  // ECN (RFC 6040) and DSCP (uniform mode, R24/R25) on the inner IP header,
  // when there is one whose base header parsed.
  if (layout.ip_version != 0 && (cfg.ecn || cfg.dscp_mode == DscpMode::kUniform)) {
    std::uint8_t* l3 = inner + layout.l3_offset;
    const bool v4 = layout.ip_version == 4;
    auto* ip6 = wire::header_at<wire::Ipv6Header>(l3);
    const std::uint8_t old_tos = v4 ? l3[wire::kIpv4TosOffset] : ip6->traffic_class();
    std::uint8_t new_tos = old_tos;
    if (cfg.ecn) {
      const int ecn = rfc6040_decap(wire::ecn_of(old_tos), outer_ecn);
      if (ecn < 0) return drop(DecapCounter::kDropEcnNotEct);
      new_tos = static_cast<std::uint8_t>((old_tos & 0xfc) | ecn);
      if (ecn == wire::kEcnCe && wire::ecn_of(old_tos) != wire::kEcnCe) {
        counters.inc(DecapCounter::kEcnCeMarked);
      }
    }
    if (cfg.dscp_mode == DscpMode::kUniform) {
      const std::uint8_t dscp = wire::dscp_of(frame.first_tos);
      if (dscp != wire::dscp_of(new_tos)) counters.inc(DecapCounter::kDscpRewritten);
      new_tos = static_cast<std::uint8_t>((dscp << 2) | wire::ecn_of(new_tos));
    }
    if (new_tos != old_tos) {
      if (v4) {
        auto* h = wire::header_at<wire::Ipv4Header>(l3);
        // The TOS shares its 16-bit word with version and IHL.
        const std::uint16_t old_word = wire::load_be16(l3);
        h->tos = new_tos;
        h->checksum.set(wire::csum::replace16(h->checksum.get(), old_word, wire::load_be16(l3)));
      } else {
        ip6->set_traffic_class(new_tos);
      }
    }
  }

  // TCI.V: put an 802.1Q tag back (I7). The 12 MAC bytes move 4 bytes back
  // into the STT header's space; the payload stays where it is. DEI is 0:
  // bit 12 of the STT word is TCI.V, not DEI.
  std::uint8_t* data = inner;
  std::uint32_t shift = 0;
  if (tagged) {
    data = inner - sizeof(wire::VlanTag);
    std::memmove(data, inner, 12);
    wire::store_be16(data + 12, wire::kEtherTypeVlan);
    wire::store_be16(data + 14,
                     static_cast<std::uint16_t>((wire::tci_pcp(info.vlan_tci) << 13) | vid));
    shift = sizeof(wire::VlanTag);
    len += shift;
    counters.inc(DecapCounter::kVlanRestored);
  }

  InnerFrame f{data, len, OffloadInfo{}};
  if (!partial) {
    // C = 1: the sender vouches for the inner checksum (CHECKSUM_UNNECESSARY).
    if (verified && cfg.offload_consumer) f.offload.flags = OffloadInfo::kDataValid;
    out.push(f);
    counters.inc(DecapCounter::kFrames);
    return DecapStatus::kOk;
  }

  const std::uint16_t csum_start = static_cast<std::uint16_t>(info.l4_offset + shift);
  const std::uint16_t csum_offset =
      static_cast<std::uint16_t>(tcp ? wire::kTcpChecksumOffset : wire::kUdpChecksumOffset);
  const std::uint32_t l4_payload = layout.ip_end - layout.payload_offset();
  const bool gso = info.mss != 0 && l4_payload > info.mss;

  if (cfg.offload_consumer) {
    f.offload.flags = OffloadInfo::kNeedsCsum;
    f.offload.csum_start = csum_start;
    f.offload.csum_offset = csum_offset;
    f.offload.hdr_len = static_cast<std::uint16_t>(layout.payload_offset() + shift);
    if (gso) {
      // STT's MSS on a UDP frame means UFO (docs/protocol.md D24): the one
      // datagram is cut into IP fragments, not into separate datagrams (USO).
      f.offload.gso_type = !tcp                     ? OffloadInfo::kGsoUdp
                           : layout.ip_version == 4 ? OffloadInfo::kGsoTcpv4
                                                    : OffloadInfo::kGsoTcpv6;
      f.offload.gso_size = info.mss;
      counters.inc(DecapCounter::kGsoDelivered);
    }
    out.push(f);
    counters.inc(DecapCounter::kCsumPartial);
    counters.inc(DecapCounter::kFrames);
    return DecapStatus::kOk;
  }

  const std::span<std::uint8_t> bytes(data, len);
  if (!gso) {
    if (!complete_checksum(bytes, csum_start, csum_offset, !tcp)) {
      return drop(DecapCounter::kDropBadInnerHeaders);
    }
    out.push(f);
    counters.inc(DecapCounter::kSoftwareChecksum);
    counters.inc(DecapCounter::kFrames);
    return DecapStatus::kOk;
  }

  if (shift != 0) {  // the layout of the frame as it now is, tag included
    layout.l3_offset += shift;
    layout.l4_offset += shift;
    layout.ip_end += shift;
    if (layout.vlan_tags++ == 0) {
      layout.first_tpid = wire::kEtherTypeVlan;
      layout.first_tci = wire::load_be16(data + 14);
    }
  }
  FrameArena& arena = out.arena();
  const std::size_t before = arena.count();
  // A UDP super-packet is one datagram fragmented at the far end (UFO, D24).
  if (software_gso(bytes, layout, info.mss, /*partial_csum=*/true, /*ufo=*/!tcp, kGsoHeadroom,
                   arena) != GsoError::kOk) {
    return drop(DecapCounter::kDropGsoFailed);
  }
  const auto pieces = arena.frames().subspan(before);
  if (pieces.size() > DecapOutput::kMaxFrames - out.size()) {
    return drop(DecapCounter::kDropOutputFull);
  }
  for (const FrameArena::Frame& piece : pieces)
    out.push(InnerFrame{piece.data, piece.len, {}});
  counters.inc(DecapCounter::kSoftwareGso);
  counters.inc(DecapCounter::kFrames, pieces.size());
  return DecapStatus::kOk;
}

}  // namespace stt::core
