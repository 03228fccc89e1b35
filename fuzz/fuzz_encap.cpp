// fuzz_encap: encapsulate() on arbitrary inner frames and offload state, in
// all three transmit forms, then the receive path on what came out.
//
// The inline parse encapsulate() uses for common frames must agree with
// wire::parse_ethernet() on every input. Every outer packet produced must
// parse as an STT segment (software segments with valid checksums, verified
// here; GSO super-segments with their NEEDS_CSUM metadata) and fit the MTU
// (segments) or the GSO size (super-segments); reassembling them must give
// back exactly the STT frames that were sent, one per STT frame counted;
// every form must carry the same STT frames (and the copy form whole
// packets, each in its own slot); and decapsulating a frame that needed no
// offload handling must return the inner frame unchanged (with the 802.1Q
// tag restored when the STT header carried one). Every STT header sent must
// hold the transmit invariants of the digest: version 0, reserved byte 0
// (R3), reserved flag bits 0 (R7), padding 0 (R9), C and P never together
// (I5), and without P no L4 offset, MSS, IPv4 or TCP flag (R11), so an MSS
// only with P.
//
// Differential: encapsulate() (fast path for common frames) and
// encapsulate_general() (every frame through the general path) must give
// the same status, the same counters and the same outer packets, byte for
// byte, in every form: both take the offload decision from one place, and
// this holds them to it.
//
// Input layout:
//   byte 0   bit 0 IPv6 underlay, bits 1-2 MTU, bit 3 VLAN in the request,
//            bit 4 coherent offload (derived from the frame's own headers)
//            instead of raw fuzzed fields, bit 5 stretch the frame
//   2 bytes  VLAN (PCP in the top 3 bits, VID in the low 12)
//   8 bytes  context ID
//   offload: flags, gso_type, hdr_len(2), gso_size(2), csum_start(2),
//            csum_offset(2)   (coherent mode: gso kind byte, gso_size(2))
//   2 bytes  stretched length (bit 5 only): the frame is extended to this
//            length by repeating its bytes after the first 64
//   rest     the inner Ethernet frame

#include <cstdint>
#include <cstring>
#include <map>
#include <vector>

#include "core/buffer.hpp"
#include "core/decap.hpp"
#include "core/encap.hpp"
#include "core/reassembly.hpp"
#include "core/rx.hpp"
#include "fuzz_input.hpp"
#include "wire/checksum.hpp"
#include "wire/headers.hpp"
#include "wire/parse.hpp"

using namespace stt;

namespace {

constexpr std::uint16_t kMtus[4] = {1500, 1280, 9000, 576};

core::TunnelConfig tunnel_config(bool v6, std::uint16_t mtu) {
  core::TunnelConfig c;
  c.src_mac = *wire::MacAddr::parse("00:00:5e:00:53:01");
  c.dst_mac = *wire::MacAddr::parse("00:00:5e:00:53:02");
  if (v6) {
    c.src = *wire::IpAddr::parse("2001:db8::1");
    c.dst = *wire::IpAddr::parse("2001:db8::2");
    if (mtu < 1280) mtu = 1280;
  } else {
    c.src = *wire::IpAddr::parse("192.0.2.1");
    c.dst = *wire::IpAddr::parse("192.0.2.2");
  }
  c.mtu = mtu;
  return c;
}

// Offload state a TAP would give for this frame: NEEDS_CSUM over its L4
// header (with the pseudo-header sum in the checksum field, as Linux
// leaves it) and, when asked, a GSO type matching the frame.
core::OffloadInfo coherent_offload(std::uint8_t* frame, std::size_t len, std::uint8_t kind,
                                   std::uint16_t gso_size) {
  core::OffloadInfo o;
  wire::PacketLayout l;
  if (wire::parse_ethernet(frame, len, &l) != wire::ParseError::kOk) return o;
  if (!l.is_tcp() && !l.is_udp()) return o;
  const std::uint32_t l4_len = l.ip_end - l.l4_offset;
  const std::uint8_t proto = l.is_tcp() ? wire::kIpProtoTcp : wire::kIpProtoUdp;
  const std::uint32_t pseudo = wire::csum::pseudo(frame + l.l3_offset, l.ip_version, proto, l4_len);
  const std::uint16_t field = l.is_tcp() ? wire::kTcpChecksumOffset : wire::kUdpChecksumOffset;
  wire::store_be16(frame + l.l4_offset + field, wire::csum::fold(pseudo));
  o.flags = core::OffloadInfo::kNeedsCsum;
  o.csum_start = static_cast<std::uint16_t>(l.l4_offset);
  o.csum_offset = field;
  o.hdr_len = static_cast<std::uint16_t>(l.payload_offset());
  if ((kind & 1) && gso_size != 0) {
    if (l.is_tcp()) {
      o.gso_type = l.ip_version == 4 ? core::OffloadInfo::kGsoTcpv4 : core::OffloadInfo::kGsoTcpv6;
      if (kind & 2) o.gso_type |= core::OffloadInfo::kGsoEcn;
    } else {
      o.gso_type = (kind & 2) ? core::OffloadInfo::kGsoUdp : core::OffloadInfo::kGsoUdpL4;
    }
    o.gso_size = gso_size;
  }
  return o;
}

// The transmit invariants of one STT header (the first bytes of a frame).
void check_stt_header(const std::vector<std::uint8_t>& frame) {
  STT_FUZZ_CHECK(frame.size() >= wire::kSttHeaderLen);
  wire::SttHeader h;
  std::memcpy(&h, frame.data(), sizeof h);
  STT_FUZZ_CHECK(h.version == 0);
  STT_FUZZ_CHECK(h.reserved == 0);                          // R3
  STT_FUZZ_CHECK((h.flags & wire::kSttFlagReserved) == 0);  // R7
  STT_FUZZ_CHECK(h.padding.get() == 0);                     // R9
  const bool c = (h.flags & wire::kSttFlagCsumVerified) != 0;
  const bool partial = (h.flags & wire::kSttFlagCsumPartial) != 0;
  STT_FUZZ_CHECK(!(c && partial));  // I5
  if (!partial) {                   // R11
    STT_FUZZ_CHECK(h.l4_offset == 0);
    STT_FUZZ_CHECK(h.mss.get() == 0);
    STT_FUZZ_CHECK((h.flags & (wire::kSttFlagIpv4 | wire::kSttFlagTcp)) == 0);
  }
}

struct FormResult {
  bool ok = false;
  std::vector<std::vector<std::uint8_t>> stt_frames;  // in order of first segment
};

std::uint64_t g_now = 1'000'000'000;

FormResult run_form(core::TxForm form, const core::TunnelConfig& tcfg,
                    const std::vector<std::uint8_t>& inner, const core::EncapRequest& req,
                    bool expect_identity, int restored_tci) {
  FormResult r;
  static auto* batch = new core::TxBatch();
  static auto* buf = new core::PacketBuffer();
  static auto* reasm = [] {
    core::ReassemblyConfig rc;
    rc.max_frames = 1024;
    rc.max_frames_per_source = 1024;
    rc.mem_high = 96u << 20;
    rc.mem_low = rc.mem_high;
    return new core::Reassembler(rc);
  }();
  static auto* dout = new core::DecapOutput();
  // Copy slots for kSegmentedCopy: one outer packet of the largest MTU each.
  static constexpr std::size_t kSlot = 9000 + wire::kEthHeaderLen;
  static auto* slots = new std::vector<std::uint8_t>(core::TxBatch::kMaxPackets * kSlot);
  batch->set_copy_slots(form == core::TxForm::kSegmentedCopy ? slots->data() : nullptr, kSlot,
                        kSlot, core::TxBatch::kMaxPackets);

  core::Tunnel tunnel(tcfg, 0x12345678);
  core::CounterSet<core::EncapCounter> ec;
  buf->reset();
  if (inner.size() > buf->tailroom()) return r;
  if (!inner.empty()) std::memcpy(buf->data(), inner.data(), inner.size());
  batch->clear();
  if (core::encapsulate(tunnel, buf->frame(inner.size()), req, form, *batch, ec) !=
      core::EncapStatus::kOk) {
    STT_FUZZ_CHECK(batch->size() == 0 || ec.get(core::EncapCounter::kDropBatchFull) != 0);
    return r;
  }
  r.ok = true;
  STT_FUZZ_CHECK(batch->size() >= 1);
  STT_FUZZ_CHECK(ec.get(core::EncapCounter::kSegments) == batch->size());
  STT_FUZZ_CHECK(ec.get(core::EncapCounter::kSttFrames) >= 1);

  const std::uint32_t seg_payload = tunnel.segment_payload();
  core::RxConfig rx;
  rx.local = tcfg.dst;
  std::map<std::uint32_t, std::size_t> index;  // packet ID -> r.stt_frames slot
  std::vector<std::uint8_t> pkt;
  std::size_t completed = 0;
  for (const core::TxPacket& p : *batch) {
    STT_FUZZ_CHECK(p.header_len <= core::TxBatch::kMaxHeader);
    STT_FUZZ_CHECK(p.payload_len >= 1);
    if (form == core::TxForm::kSegmented || form == core::TxForm::kSegmentedCopy) {
      STT_FUZZ_CHECK(p.gso == core::OffloadInfo{});
      STT_FUZZ_CHECK(p.header_len - wire::kEthHeaderLen + p.payload_len <= tcfg.mtu);
      if (form == core::TxForm::kSegmentedCopy) {
        // Whole packets, each inside its own slot.
        const std::size_t slot = static_cast<std::size_t>(&p - batch->begin());
        STT_FUZZ_CHECK(p.header == batch->copy_slot(slot));
        STT_FUZZ_CHECK(p.header + p.header_len == p.payload);
      }
    } else if (p.gso.is_gso()) {
      // A super-segment: contiguous, for the TSO engine to cut.
      STT_FUZZ_CHECK(p.header + p.header_len == p.payload);
      STT_FUZZ_CHECK(p.gso.gso_size <= seg_payload);
    } else {
      // Frames too large for one super-segment are segmented in this form too.
      STT_FUZZ_CHECK(p.header_len - wire::kEthHeaderLen + p.payload_len <= tcfg.mtu);
    }
    pkt.assign(p.header, p.header + p.header_len);
    pkt.insert(pkt.end(), p.payload, p.payload + p.payload_len);
    core::SttSegment seg;
    const core::RxCounter verdict = core::parse_segment(pkt.data(), pkt.size(), p.gso, rx, &seg);
    STT_FUZZ_CHECK(verdict == core::RxCounter::kSegments);
    STT_FUZZ_CHECK(seg.payload_len == p.payload_len);

    auto [it, fresh] = index.emplace(seg.packet_id, r.stt_frames.size());
    if (fresh) r.stt_frames.emplace_back(seg.frame_len, 0);
    auto& expect = r.stt_frames[it->second];
    STT_FUZZ_CHECK(expect.size() == seg.frame_len);
    std::memcpy(expect.data() + seg.offset, seg.payload, seg.payload_len);

    core::ReassembledFrame f;
    if (!reasm->add(seg, g_now, &f)) continue;
    ++completed;
    STT_FUZZ_CHECK(f.len == expect.size());
    STT_FUZZ_CHECK(std::memcmp(f.data, expect.data(), f.len) == 0);
    check_stt_header(expect);

    core::DecapConfig dc;  // defaults: offload consumer, pipe DSCP, ECN on
    core::CounterSet<core::DecapCounter> dcnt;
    dout->clear();
    const core::DecapStatus ds = core::decapsulate(f, dc, *dout, dcnt);
    if (!expect_identity) continue;
    STT_FUZZ_CHECK(ds == core::DecapStatus::kOk);
    STT_FUZZ_CHECK(dout->size() == 1);
    const core::InnerFrame& got = (*dout)[0];
    STT_FUZZ_CHECK(got.offload == core::OffloadInfo{});
    if (restored_tci < 0) {
      STT_FUZZ_CHECK(got.len == inner.size());
      STT_FUZZ_CHECK(std::memcmp(got.data, inner.data(), inner.size()) == 0);
    } else {
      STT_FUZZ_CHECK(got.len == inner.size() + 4);
      STT_FUZZ_CHECK(std::memcmp(got.data, inner.data(), 12) == 0);
      STT_FUZZ_CHECK(wire::load_be16(got.data + 12) == wire::kEtherTypeVlan);
      STT_FUZZ_CHECK(wire::load_be16(got.data + 14) == static_cast<std::uint16_t>(restored_tci));
      STT_FUZZ_CHECK(std::memcmp(got.data + 16, inner.data() + 12, inner.size() - 12) == 0);
    }
  }
  STT_FUZZ_CHECK(completed == r.stt_frames.size());
  STT_FUZZ_CHECK(completed == ec.get(core::EncapCounter::kSttFrames));
  // Leave nothing behind for the next input.
  g_now += 3'600'000'000'000;
  reasm->expire(g_now);
  STT_FUZZ_CHECK(reasm->stats().frames_in_flight == 0);
  return r;
}

// Runs one frame through both encapsulate paths, each on its own copy of
// the frame and its own tunnel (same IDs), and compares what came out.
void check_paths_agree(core::TxForm form, const core::TunnelConfig& tcfg,
                       const std::vector<std::uint8_t>& inner, const core::EncapRequest& req) {
  struct Path {
    core::TxBatch batch;
    core::PacketBuffer buf;
    core::CounterSet<core::EncapCounter> counters;
    core::EncapStatus status = core::EncapStatus::kDropped;
  };
  static auto* paths = new Path[2];
  static constexpr std::size_t kSlot = 9000 + wire::kEthHeaderLen;
  static auto* slots = new std::vector<std::uint8_t>(2 * core::TxBatch::kMaxPackets * kSlot);
  for (int k = 0; k < 2; ++k) {
    Path& p = paths[k];
    p.buf.reset();
    if (inner.size() > p.buf.tailroom()) return;
    if (!inner.empty()) std::memcpy(p.buf.data(), inner.data(), inner.size());
    p.batch.clear();
    p.batch.set_copy_slots(form == core::TxForm::kSegmentedCopy
                               ? slots->data() + k * core::TxBatch::kMaxPackets * kSlot
                               : nullptr,
                           kSlot, kSlot, core::TxBatch::kMaxPackets);
    p.counters.clear();
    core::Tunnel tunnel(tcfg, 0x12345678, 0x4321);
    p.status = k == 0 ? core::encapsulate(tunnel, p.buf.frame(inner.size()), req, form, p.batch,
                                          p.counters)
                      : core::encapsulate_general(tunnel, p.buf.frame(inner.size()), req, form,
                                                  p.batch, p.counters);
  }
  const Path& fast = paths[0];
  const Path& general = paths[1];
  STT_FUZZ_CHECK(fast.status == general.status);
  for (std::size_t i = 0; i < core::CounterSet<core::EncapCounter>::kSize; ++i) {
    STT_FUZZ_CHECK(fast.counters[i] == general.counters[i]);
  }
  STT_FUZZ_CHECK(fast.batch.size() == general.batch.size());
  for (std::size_t i = 0; i < fast.batch.size(); ++i) {
    const core::TxPacket& a = fast.batch[i];
    const core::TxPacket& b = general.batch[i];
    STT_FUZZ_CHECK(a.header_len == b.header_len && a.payload_len == b.payload_len);
    STT_FUZZ_CHECK(std::memcmp(a.header, b.header, a.header_len) == 0);
    STT_FUZZ_CHECK(std::memcmp(a.payload, b.payload, a.payload_len) == 0);
    STT_FUZZ_CHECK(a.gso == b.gso);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Input in(data, size);
  const std::uint8_t mode = in.u8();
  const std::uint16_t vlan = in.u16();
  core::EncapRequest req;
  req.context_id = in.u64();
  if (mode & 8)
    req.vlan = core::VlanTci{static_cast<std::uint8_t>(vlan >> 13),
                             static_cast<std::uint16_t>(vlan & 0x0fff)};
  std::uint8_t gso_kind = 0;
  std::uint16_t coherent_gso_size = 0;
  if (mode & 0x10) {
    gso_kind = in.u8();
    coherent_gso_size = in.u16();
  } else {
    req.offload.flags = in.u8();
    req.offload.gso_type = in.u8();
    req.offload.hdr_len = in.u16();
    req.offload.gso_size = in.u16();
    req.offload.csum_start = in.u16();
    req.offload.csum_offset = in.u16();
  }
  const std::uint16_t stretch = (mode & 0x20) ? in.u16() : 0;
  auto body = in.rest();
  std::vector<std::uint8_t> inner(body.begin(), body.end());
  if (stretch > inner.size() && inner.size() > 64) {
    const std::size_t period = inner.size() - 64;
    for (std::size_t i = inner.size(); i < stretch; ++i)
      inner.push_back(inner[64 + (i - 64) % period]);
  }
  if (mode & 0x10)
    req.offload = coherent_offload(inner.data(), inner.size(), gso_kind, coherent_gso_size);

  // encapsulate()'s inline parse says what the general parser says.
  {
    wire::PacketLayout a, b;
    const wire::ParseError ea = core::parse_inner(inner.data(), inner.size(), &a);
    const wire::ParseError eb = wire::parse_ethernet(inner.data(), inner.size(), &b, 2);
    STT_FUZZ_CHECK(ea == eb);
    STT_FUZZ_CHECK(a.ethertype == b.ethertype && a.vlan_tags == b.vlan_tags &&
                   a.first_tpid == b.first_tpid && a.first_tci == b.first_tci &&
                   a.l3_offset == b.l3_offset && a.ip_version == b.ip_version &&
                   a.ip_header_length == b.ip_header_length && a.ip_end == b.ip_end &&
                   a.ip_fragment == b.ip_fragment && a.l4_proto == b.l4_proto &&
                   a.l4_offset == b.l4_offset && a.l4_header_length == b.l4_header_length);
  }

  // Byte-for-byte round trip is expected when encapsulation had nothing to
  // change: no offload state, and no 802.1Q/802.1ad tag in the frame.
  const bool tagged =
      inner.size() >= 14 && (wire::load_be16(inner.data() + 12) == wire::kEtherTypeVlan ||
                             wire::load_be16(inner.data() + 12) == wire::kEtherTypeQinQ);
  const bool no_offload = req.offload == core::OffloadInfo{};
  const bool vlan_ok = !req.vlan || req.vlan->vid != 0x0fff;
  const bool expect_identity = no_offload && !tagged && vlan_ok &&
                               inner.size() >= wire::kEthHeaderLen &&
                               inner.size() <= wire::kSttMaxInner;
  // The tag decapsulation puts back (DEI 0), or -1 for none.
  const int restored_tci = req.vlan ? (req.vlan->pcp << 13) | req.vlan->vid : -1;

  const core::TunnelConfig tcfg = tunnel_config(mode & 1, kMtus[(mode >> 1) & 3]);
  for (core::TxForm form :
       {core::TxForm::kSegmented, core::TxForm::kGso, core::TxForm::kSegmentedCopy}) {
    check_paths_agree(form, tcfg, inner, req);
  }
  const FormResult seg =
      run_form(core::TxForm::kSegmented, tcfg, inner, req, expect_identity, restored_tci);
  const FormResult gso =
      run_form(core::TxForm::kGso, tcfg, inner, req, expect_identity, restored_tci);
  const FormResult copy =
      run_form(core::TxForm::kSegmentedCopy, tcfg, inner, req, expect_identity, restored_tci);
  STT_FUZZ_CHECK(seg.ok == gso.ok);
  STT_FUZZ_CHECK(seg.stt_frames == gso.stt_frames);
  STT_FUZZ_CHECK(seg.ok == copy.ok);
  STT_FUZZ_CHECK(seg.stt_frames == copy.stt_frames);
  if (expect_identity) STT_FUZZ_CHECK(seg.ok);
  return 0;
}
