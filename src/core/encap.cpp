#include "core/encap.hpp"

#include <algorithm>
#include <cstring>

#include "wire/bytes.hpp"
#include "wire/checksum.hpp"
#include "wire/parse.hpp"

namespace stt::core {

namespace csum = wire::csum;
using wire::header_at;

std::string_view counter_name(EncapCounter c) {
  switch (c) {
    case EncapCounter::kFrames:
      return "frames";
    case EncapCounter::kSttFrames:
      return "stt_frames";
    case EncapCounter::kSegments:
      return "segments";
    case EncapCounter::kOffloaded:
      return "offloaded";
    case EncapCounter::kSoftwareChecksum:
      return "software_checksum";
    case EncapCounter::kSoftwareGso:
      return "software_gso";
    case EncapCounter::kVlanFromFrame:
      return "vlan_from_frame";
    case EncapCounter::kDropTooShort:
      return "drop_too_short";
    case EncapCounter::kDropTooLarge:
      return "drop_too_large";
    case EncapCounter::kDropBadOffload:
      return "drop_bad_offload";
    case EncapCounter::kDropHeadroom:
      return "drop_headroom";
    case EncapCounter::kDropBatchFull:
      return "drop_batch_full";
    case EncapCounter::kDropSlotTooSmall:
      return "drop_slot_too_small";
    case EncapCounter::kCount:
      break;
  }
  return "unknown";
}

namespace {

// splitmix64's finaliser: every input bit affects every output bit.
constexpr std::uint64_t avalanche(std::uint64_t h) {
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

// A fixed-key multiply-rotate hash over a handful of 64-bit words. Not
// keyed per host: the same inner flow maps to the same outer port on every
// endpoint, which is what R14 asks for and what makes captures reproducible.
class FlowHasher {
 public:
  void add(std::uint64_t v) {
    h_ = (h_ ^ v) * 0x9e3779b97f4a7c15ull;
    h_ = (h_ << 29) | (h_ >> 35);
  }
  void add_bytes(const std::uint8_t* p, std::size_t n) {
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8)
      add(wire::load_be64(p + i));
    std::uint64_t tail = 0;
    for (; i < n; ++i)
      tail = (tail << 8) | p[i];
    add(tail ^ (std::uint64_t{n} << 56));
  }
  std::uint64_t finish() const { return avalanche(h_); }

 private:
  std::uint64_t h_ = 0x5354542d666c6f77ull;  // fixed key
};

std::uint64_t flow_hash(const std::uint8_t* frame, std::size_t len,
                        const wire::PacketLayout& layout) {
  FlowHasher h;
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

// Outer TOS / traffic class: DSCP per the RFC 2983 model, ECN per RFC 6040
// §4.1 (normal mode copies the inner ECN field, CE included; compatibility
// mode sends Not-ECT). Non-IP inner frames count as DSCP 0, Not-ECT.
std::uint8_t outer_tos(const std::uint8_t* frame, const wire::PacketLayout& layout,
                       const TunnelConfig& cfg) {
  std::uint8_t inner = 0;
  if (layout.ip_version == 4) {
    inner = header_at<wire::Ipv4Header>(frame + layout.l3_offset)->tos;
  } else if (layout.ip_version == 6) {
    inner = header_at<wire::Ipv6Header>(frame + layout.l3_offset)->traffic_class();
  }
  const std::uint8_t dscp =
      cfg.dscp_mode == DscpMode::kUniform ? wire::dscp_of(inner) : (cfg.pipe_dscp & 0x3f);
  const std::uint8_t ecn =
      cfg.ecn_mode == EcnMode::kNormal ? wire::ecn_of(inner) : wire::kEcnNotEct;
  return static_cast<std::uint8_t>(dscp << 2 | ecn);
}

// What stays the same for every outer packet of one encapsulate() call.
struct OuterParams {
  const TunnelConfig* cfg;
  const Tunnel* tunnel;
  std::uint16_t src_port;
  std::uint8_t tos;
  std::uint32_t flow_label;
  bool v6;
  std::uint32_t ip_len;   // 20 or 40
  std::uint32_t hdr_len;  // 14 + ip_len + 20
};

// Writes outer Ethernet + IP + TCP-like header at `h` for a TCP segment of
// `tcp_len` bytes (header included): the tunnel's template, then the fields
// that change per packet; the TCP checksum is left 0. Returns the
// pseudo-header sum for that length.
std::uint32_t write_outer(std::uint8_t* h, const OuterParams& o, std::uint32_t tcp_len,
                          std::uint16_t ip_id, std::uint32_t seq, std::uint32_t ack,
                          std::uint8_t flags) {
  const Tunnel& t = *o.tunnel;
  std::uint8_t* l3 = h + wire::kEthHeaderLen;
  if (!o.v6) {
    std::memcpy(h, t.outer_template(), wire::kEthHeaderLen + 20 + 20);
    const std::uint16_t total = static_cast<std::uint16_t>(20 + tcp_len);
    l3[1] = o.tos;
    wire::store_be16(l3 + 2, total);
    wire::store_be16(l3 + 4, ip_id);
    wire::store_be16(l3 + 10, csum::finish(t.outer_ip_sum() + o.tos + total + ip_id));
  } else {
    std::memcpy(h, t.outer_template(), wire::kEthHeaderLen + 40 + 20);
    wire::store_be32(l3, 0x60000000u | std::uint32_t{o.tos} << 20 | (o.flow_label & 0xfffff));
    wire::store_be16(l3 + 4, static_cast<std::uint16_t>(tcp_len));
  }
  std::uint8_t* tcp = l3 + o.ip_len;
  wire::store_be16(tcp, o.src_port);
  wire::store_be32(tcp + 4, seq);
  wire::store_be32(tcp + 8, ack);
  tcp[13] = flags;
  // tcp_len < 65536 (gso_fits): the pseudo-header's length word as is.
  return t.outer_pseudo_sum() + tcp_len;
}

bool gso_fits(std::uint32_t stt_len, const OuterParams& o) {
  // IPv4 total length covers IP + TCP + frame; IPv6 payload length TCP + frame.
  return (o.v6 ? 20 : 40) + stt_len <= 65535;
}

// How many TxPackets one STT frame of `stt_len` bytes becomes.
std::uint32_t packets_for(std::uint32_t stt_len, TxForm form, const OuterParams& o,
                          std::uint32_t seg) {
  if (form == TxForm::kGso && gso_fits(stt_len, o)) return 1;
  return (stt_len + seg - 1) / seg;
}

// Emits one STT frame (header already written at `stt`) as outer packets.
void emit_frame(Tunnel& tunnel, const OuterParams& o, std::uint8_t* stt, std::uint32_t stt_len,
                TxForm form, TxBatch& out, CounterSet<EncapCounter>& counters) {
  const std::uint32_t seg = tunnel.segment_payload();
  const std::uint32_t n = (stt_len + seg - 1) / seg;
  const std::uint32_t pid = tunnel.next_packet_id();
  const std::uint16_t ip_id = o.v6 ? 0 : tunnel.next_ip_id(static_cast<std::uint16_t>(n));
  const std::uint32_t seq0 = stt_len << 16;
  counters.inc(EncapCounter::kSttFrames);

  if (form == TxForm::kGso && gso_fits(stt_len, o)) {
    // Outer headers go in the headroom right before the STT header, so the
    // super-segment is one contiguous run that a TSO engine cuts.
    std::uint8_t* h = stt - o.hdr_len;
    std::uint8_t* tcp = h + o.hdr_len - 20;
    const std::uint32_t pseudo =
        write_outer(h, o, 20 + stt_len, ip_id, seq0, pid, wire::kTcpAck | wire::kTcpPsh);
    OffloadInfo gso{};
    if (n == 1) {
      wire::store_be16(tcp + wire::kTcpChecksumOffset,
                       csum::finish(csum::sum(tcp, 20 + stt_len, pseudo)));
    } else {
      // CHECKSUM_PARTIAL form for the engine: the folded pseudo-header sum
      // over the whole super-segment; it adjusts the length per segment.
      wire::store_be16(tcp + wire::kTcpChecksumOffset, csum::fold(pseudo));
      gso.flags = OffloadInfo::kNeedsCsum;
      gso.gso_type = o.v6 ? OffloadInfo::kGsoTcpv6 : OffloadInfo::kGsoTcpv4;
      gso.hdr_len = static_cast<std::uint16_t>(o.hdr_len);
      gso.gso_size = static_cast<std::uint16_t>(seg);
      gso.csum_start = static_cast<std::uint16_t>(o.hdr_len - 20);
      gso.csum_offset = wire::kTcpChecksumOffset;
    }
    out.push(TxPacket{h, static_cast<std::uint16_t>(o.hdr_len), stt, stt_len, gso});
    counters.inc(EncapCounter::kSegments);
    return;
  }

  // Software segmentation. The outer header is written once, in the first
  // packet's header slot; every packet copies it and patches what differs
  // (IP length, ID and checksum; SEQ; flags; TCP checksum). Both checksums
  // are built from sums of the fields that never change, so a segment costs
  // a header copy, a few stores and the sum of its payload slice (in the
  // copy form: the sum taken while the slice is copied into its slot).
  std::uint8_t* const tmpl = out.header_slot(out.size());
  const std::uint32_t ack_psh = wire::kTcpAck | wire::kTcpPsh;
  write_outer(tmpl, o, 20 + std::min(seg, stt_len), ip_id, seq0, pid,
              n == 1 ? ack_psh : wire::kTcpAck);
  const std::uint32_t l3 = wire::kEthHeaderLen, l4 = l3 + o.ip_len;
  // IPv4: every header word but total length, ID and checksum.
  const std::uint32_t ip_fixed = o.tunnel->outer_ip_sum() + o.tos;
  // TCP: the pseudo-header without its length, and every header word but
  // SEQ, flags and checksum (window and urgent pointer are zero).
  const std::uint32_t tcp_fixed = o.tunnel->outer_pseudo_sum() + o.src_port + o.cfg->dst_port +
                                  (pid >> 16) + (pid & 0xffffu) + stt_len;  // SEQ's high half
  const bool copy = form == TxForm::kSegmentedCopy;
  for (std::uint32_t i = 0; i < n; ++i) {
    const std::uint32_t off = i * seg;
    const std::uint32_t len = std::min(seg, stt_len - off);
    const std::uint32_t flags = i + 1 == n ? ack_psh : wire::kTcpAck;
    std::uint8_t* h;
    if (copy) {
      h = out.copy_slot(out.size());
      // Constant sizes: an inline copy, no call.
      if (o.v6) {
        std::memcpy(h, tmpl, wire::kEthHeaderLen + 40 + 20);
      } else {
        std::memcpy(h, tmpl, wire::kEthHeaderLen + 20 + 20);
      }
    } else {
      h = out.header_slot(out.size());
      if (i != 0) std::memcpy(h, tmpl, TxBatch::kMaxHeader);
    }
    std::uint8_t* tcp = h + l4;
    if (!o.v6) {
      const std::uint16_t total = static_cast<std::uint16_t>(40 + len);
      const std::uint16_t id = static_cast<std::uint16_t>(ip_id + i);
      wire::store_be16(h + l3 + 2, total);
      wire::store_be16(h + l3 + 4, id);
      wire::store_be16(h + l3 + 10, csum::finish(ip_fixed + total + id));
    } else {
      wire::store_be16(h + l3 + 4, static_cast<std::uint16_t>(20 + len));
    }
    wire::store_be16(tcp + 6, static_cast<std::uint16_t>(off));  // SEQ's low half: O
    tcp[13] = static_cast<std::uint8_t>(flags);
    const std::uint32_t hs = tcp_fixed + (20 + len) + off + ((5u << 12) | flags);
    // Each slice is read once, here.
    const std::uint8_t* payload = stt + off;
    std::uint32_t s;
    if (copy) {
      payload = h + o.hdr_len;
      s = csum::copy_and_sum(h + o.hdr_len, stt + off, len, hs);
    } else {
      s = csum::sum(stt + off, len, hs);
    }
    wire::store_be16(tcp + wire::kTcpChecksumOffset, csum::finish(s));
    out.push(TxPacket{h, static_cast<std::uint16_t>(o.hdr_len), payload, len, OffloadInfo{}});
  }
  counters.inc(EncapCounter::kSegments, n);
}

// Whether `out` has room for the outer packets of an STT frame of `stt_len`
// bytes, `more` packets already promised; kCount if so, else the drop reason.
EncapCounter check_room(std::uint32_t stt_len, TxForm form, const OuterParams& o, std::uint32_t seg,
                        const TxBatch& out, std::size_t more) {
  if (form == TxForm::kSegmentedCopy &&
      o.hdr_len + std::min(seg, stt_len) > out.copy_slot_capacity()) {
    return EncapCounter::kDropSlotTooSmall;
  }
  if (packets_for(stt_len, form, o, seg) + more > out.room(form)) {
    return EncapCounter::kDropBatchFull;
  }
  return EncapCounter::kCount;
}

// The frame's offload request checked against its own bytes; false means
// drop as kDropBadOffload.
bool offload_consistent(const OffloadInfo& off, std::size_t len, wire::ParseError perr,
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
             static_cast<std::uint16_t>(avalanche(initial_packet_id) >> 48)) {}

Tunnel::Tunnel(const TunnelConfig& cfg, std::uint32_t initial_packet_id,
               std::uint16_t initial_ip_id)
    : cfg_(cfg), packet_id_(initial_packet_id), ip_id_(initial_ip_id) {
  build_outer_template();
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
    outer_ip_sum_ = 0;
    for (std::uint32_t w = 0; w < 20; w += 2)
      outer_ip_sum_ += wire::load_be16(l3 + w);  // the per-packet words are still zero
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

void write_stt_header(std::uint8_t* at, const SttFields& f) {
  auto* h = header_at<wire::SttHeader>(at);
  h->version = 0;
  h->flags = f.flags;
  h->l4_offset = f.l4_offset;
  h->reserved = 0;  // R3
  h->mss.set(f.mss);
  std::uint16_t tci = 0;
  if (f.vlan) {
    tci = static_cast<std::uint16_t>((f.vlan->pcp & 0x7) << 13 | wire::kSttVlanValid |
                                     (f.vlan->vid & 0x0fff));
  }
  h->vlan_tci.set(tci);
  h->context_id.set(f.context_id);
  h->padding.set(0);  // R9
}

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
EncapStatus encapsulate(Tunnel& tunnel, std::uint8_t* frame, std::size_t len,
                        const EncapRequest& req, TxForm form, TxBatch& out,
                        CounterSet<EncapCounter>& counters) {
  auto drop = [&counters](EncapCounter why) {
    counters.inc(why);
    return EncapStatus::kDropped;
  };
  const TunnelConfig& cfg = tunnel.config();
  if (frame == nullptr || len < wire::kEthHeaderLen) return drop(EncapCounter::kDropTooShort);

  OuterParams o{};
  o.cfg = &cfg;
  o.tunnel = &tunnel;
  o.v6 = cfg.src.is_v6();
  o.ip_len = o.v6 ? 40 : 20;
  o.hdr_len = wire::kEthHeaderLen + o.ip_len + 20;
  if (req.headroom < wire::kSttHeaderLen + (form == TxForm::kGso ? o.hdr_len : 0)) {
    return drop(EncapCounter::kDropHeadroom);
  }
  if (cfg.mtu < tunnel.outer_l3l4_len() + 8) return drop(EncapCounter::kDropTooLarge);
  const std::uint32_t seg = tunnel.segment_payload();

  wire::PacketLayout lay;
  const wire::ParseError perr = wire::parse_ethernet(frame, len, &lay, 2);
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
  const std::uint32_t l4_payload = l4 ? lay.ip_end - lay.payload_offset() : 0;
  const bool gso = off.is_gso();
  const bool ufo = off.gso_kind() == OffloadInfo::kGsoUdp;
  // UFO segments the whole datagram (UDP header included); the others the L4 payload.
  const bool needs_seg = gso && (ufo ? l4_payload + 8 : l4_payload) > off.gso_size;
  const bool cwr = lay.is_tcp() && (frame[lay.l4_offset + 13] & wire::kTcpCwr) != 0;

  // P is possible for TCP/UDP over IPv4/IPv6, untagged in the frame, with
  // the checksum where that protocol keeps it and an offset the 8-bit L4
  // field can hold (§3.1, I9, I11).
  const bool p_ok =
      off.needs_csum() && l4 && lay.vlan_tags == 0 && lay.l4_offset <= 255 &&
      off.csum_start == lay.l4_offset &&
      off.csum_offset == (lay.is_tcp() ? wire::kTcpChecksumOffset : wire::kUdpChecksumOffset) &&
      wire::kSttHeaderLen + lay.ip_end <= wire::kSttMaxFrame;
  // Super-packets additionally need a GSO kind the far end can redo without
  // ECN support (I10) and that STT's MSS can express.
  const bool offload_seg = p_ok && !off.ecn() && !cwr && off.gso_kind() != OffloadInfo::kGsoUdpL4;

  o.src_port = req.src_port ? *req.src_port : 0;
  std::uint64_t hash = 0;
  if (!req.src_port || (o.v6 && !req.flow_label)) hash = flow_hash(frame, len, lay);
  if (!req.src_port) o.src_port = map_port(hash, cfg);
  if (o.v6) {
    o.flow_label =
        req.flow_label ? (*req.flow_label & 0xfffff) : static_cast<std::uint32_t>(hash & 0xfffff);
    if (!req.flow_label && o.flow_label == 0) o.flow_label = 1;
  }
  o.tos = outer_tos(frame, lay, cfg);

  SttFields f;
  f.vlan = vlan;
  f.context_id = req.context_id;

  // ---- inner segmentation in software: every piece is its own STT frame.
  if (needs_seg && !offload_seg) {
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
      const EncapCounter why = check_room(stt_len, form, o, seg, out, need);
      if (why != EncapCounter::kCount) return drop(why);
      need += packets_for(stt_len, form, o, seg);
    }
    // IP fragments (UFO) carry no checksum the receiver could trust alone.
    f.flags = ufo ? 0 : wire::kSttFlagCsumVerified;
    for (const auto& piece : pieces) {
      std::uint8_t* stt = piece.data - wire::kSttHeaderLen;
      write_stt_header(stt, f);
      emit_frame(tunnel, o, stt, piece.len + wire::kSttHeaderLen, form, out, counters);
    }
    counters.inc(EncapCounter::kFrames);
    counters.inc(EncapCounter::kSoftwareGso);
    if (tag_moved) counters.inc(EncapCounter::kVlanFromFrame);
    return EncapStatus::kOk;
  }

  // ---- one STT frame.
  bool sw_csum = false;
  if (off.needs_csum() && p_ok) {
    len = lay.ip_end;  // link padding would spoil the receiver's checksum completion
    f.flags = wire::kSttFlagCsumPartial | (lay.ip_version == 4 ? wire::kSttFlagIpv4 : 0) |
              (lay.is_tcp() ? wire::kSttFlagTcp : 0);
    f.l4_offset = static_cast<std::uint8_t>(lay.l4_offset);
    f.mss = needs_seg ? off.gso_size : 0;
  } else if (off.needs_csum()) {
    sw_csum = true;
    // Only a checksum at the parsed TCP/UDP position is one we can vouch for.
    const bool l4_csum =
        l4 && off.csum_start == lay.l4_offset &&
        off.csum_offset == (lay.is_tcp() ? wire::kTcpChecksumOffset : wire::kUdpChecksumOffset);
    f.flags = l4_csum ? wire::kSttFlagCsumVerified : 0;
  } else if (off.data_valid()) {
    f.flags = wire::kSttFlagCsumVerified;
  }
  if (wire::kSttHeaderLen + len > wire::kSttMaxFrame) return drop(EncapCounter::kDropTooLarge);
  const std::uint32_t stt_len = static_cast<std::uint32_t>(wire::kSttHeaderLen + len);
  if (const EncapCounter why = check_room(stt_len, form, o, seg, out, 0);
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
  emit_frame(tunnel, o, stt, stt_len, form, out, counters);
  counters.inc(EncapCounter::kFrames);
  if (f.flags & wire::kSttFlagCsumPartial) counters.inc(EncapCounter::kOffloaded);
  if (tag_moved) counters.inc(EncapCounter::kVlanFromFrame);
  return EncapStatus::kOk;
}

}  // namespace stt::core
