// The digest §8 vectors: first that digest_vectors.hpp holds exactly the
// packets the digest lists (every listed checksum recomputed from the
// bytes), then that encapsulate() reproduces them byte for byte.

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "core/buffer.hpp"
#include "core/encap.hpp"
#include "digest_vectors.hpp"
#include "vector_tunnel.hpp"
#include "wire/bytes.hpp"
#include "wire/checksum.hpp"

namespace stt::test {
namespace {

using wire::load_be16;
namespace csum = wire::csum;

// Folded sum over an outer IPv4 segment's TCP header + payload with its
// pseudo-header: 0xffff when the stored checksum is right.
std::uint16_t verify_tcp_v4(std::span<const std::uint8_t> pkt, std::size_t l3) {
  const std::uint8_t* ip = pkt.data() + l3;
  const std::size_t ihl = (ip[0] & 0x0f) * 4u;
  const std::size_t total = load_be16(ip + 2);
  const std::size_t l4len = total - ihl;
  std::uint32_t s = csum::pseudo_v4(ip + 12, ip + 16, 6, static_cast<std::uint32_t>(l4len));
  return csum::fold(csum::sum(ip + ihl, l4len, s));
}

std::uint16_t verify_tcp_v6(std::span<const std::uint8_t> pkt, std::size_t l3) {
  const std::uint8_t* ip = pkt.data() + l3;
  const std::size_t l4len = load_be16(ip + 4);
  std::uint32_t s = csum::pseudo_v6(ip + 8, ip + 24, 6, static_cast<std::uint32_t>(l4len));
  return csum::fold(csum::sum(ip + 40, l4len, s));
}

TEST(Vectors, A_ListedChecksumsMatchBytes) {
  const auto& p = vec_a::kPacket;
  EXPECT_EQ(p.size(), 170u);
  EXPECT_EQ(load_be16(p.data() + 16), vec_a::kOuterIpTotal);
  EXPECT_EQ(load_be16(p.data() + 24), vec_a::kOuterIpChecksum);
  EXPECT_EQ(csum::ipv4_header(p.data() + 14, 20), vec_a::kOuterIpChecksum);
  EXPECT_EQ(load_be16(p.data() + 34 + 16), vec_a::kOuterTcpChecksum);
  EXPECT_EQ(verify_tcp_v4(p, 14), 0xffff);
  EXPECT_EQ(load_be16(p.data() + 34 + 4), vec_a::kSttFrameLen);  // SEQ high half
  EXPECT_EQ(vec_a::stt_frame().size(), vec_a::kSttFrameLen);
  EXPECT_EQ(vec_a::inner_frame().size(), vec_a::kInnerLen);
  const std::uint8_t* inner_ip = vec_a::inner_frame().data() + 14;
  EXPECT_EQ(csum::ipv4_header(inner_ip, 20), vec_a::kInnerIpChecksum);
  EXPECT_EQ(load_be16(inner_ip + 10), vec_a::kInnerIpChecksum);
  EXPECT_EQ(load_be16(inner_ip + 22), vec_a::kIcmpChecksum);
  EXPECT_EQ(csum::fold(csum::sum(inner_ip + 20, 64)), 0xffff);  // ICMP over 64 bytes
}

TEST(Vectors, A6_ListedChecksumsMatchBytes) {
  const auto& p = vec_a6::kPacket;
  EXPECT_EQ(p.size(), 190u);
  EXPECT_EQ(load_be16(p.data() + 12), 0x86dd);
  EXPECT_EQ(load_be16(p.data() + 18), vec_a6::kPayloadLength);
  EXPECT_EQ(load_be16(p.data() + 54 + 16), vec_a6::kOuterTcpChecksum);
  EXPECT_EQ(verify_tcp_v6(p, 14), 0xffff);
  EXPECT_TRUE(std::equal(vec_a6::stt_frame().begin(), vec_a6::stt_frame().end(),
                         vec_a::stt_frame().begin(), vec_a::stt_frame().end()));
}

TEST(Vectors, B_ListedChecksumsMatchBytes) {
  const auto& p = vec_b::kPacket;
  EXPECT_EQ(p.size(), 158u);
  EXPECT_EQ(csum::ipv4_header(p.data() + 14, 20), vec_b::kOuterIpChecksum);
  EXPECT_EQ(load_be16(p.data() + 24), vec_b::kOuterIpChecksum);
  EXPECT_EQ(load_be16(p.data() + 34 + 16), vec_b::kOuterTcpChecksum);
  EXPECT_EQ(verify_tcp_v4(p, 14), 0xffff);
  EXPECT_EQ(vec_b::stt_frame().size(), vec_b::kSttFrameLen);
  EXPECT_EQ(vec_b::stt_frame()[1], vec_b::kSttFlags);
  EXPECT_EQ(vec_b::stt_frame()[2], vec_b::kL4Offset);
  EXPECT_EQ(load_be16(vec_b::stt_frame().data() + 6), vec_b::kSttVlanWord);

  const auto inner = vec_b::inner_frame();
  ASSERT_EQ(inner.size(), vec_b::kInnerLen);
  const std::uint8_t* ip = inner.data() + 14;
  EXPECT_EQ(csum::ipv4_header(ip, 20), vec_b::kInnerIpChecksum);
  EXPECT_EQ(ip[1], vec_b::kOuterTos);  // uniform DSCP: outer TOS = inner TOS
  // Partial checksum = folded pseudo-header sum over the 52-byte TCP segment.
  EXPECT_EQ(csum::fold(csum::pseudo_v4(ip + 12, ip + 16, 6, 52)), vec_b::kInnerTcpPartial);
  EXPECT_EQ(load_be16(ip + 20 + 16), vec_b::kInnerTcpPartial);
  EXPECT_EQ(csum::finish(csum::sum(ip + 20, 52)), vec_b::kInnerTcpFull);

  // With the MSB-first flags byte the outer checksum changes as listed.
  std::vector<std::uint8_t> alt(p.begin(), p.end());
  alt[54 + 1] = vec_b::kSttFlagsMsbFirst;
  alt[34 + 16] = alt[34 + 17] = 0;
  const std::uint32_t ps = csum::pseudo_v4(alt.data() + 26, alt.data() + 30, 6, 124);
  EXPECT_EQ(csum::finish(csum::sum(alt.data() + 34, 124, ps)), vec_b::kOuterTcpChecksumMsbFirst);

  EXPECT_TRUE(std::equal(vec_b::kTaggedFrameHead.begin(), vec_b::kTaggedFrameHead.end(),
                         vec_b::kTaggedFrame.begin()));
  EXPECT_TRUE(std::equal(inner.begin() + 12, inner.end(), vec_b::kTaggedFrame.begin() + 16));
}

TEST(Vectors, C_ListedChecksumsMatchBytes) {
  const auto frame = vec_c::stt_frame();
  ASSERT_EQ(frame.size(), vec_c::kSttFrameLen);
  const auto inner = vec_c::inner_frame();
  ASSERT_EQ(inner.size(), vec_c::kInnerLen);
  const std::uint8_t* ip = inner.data() + 14;
  EXPECT_EQ(load_be16(ip + 2), vec_c::kInnerIpTotal);
  EXPECT_EQ(csum::ipv4_header(ip, 20), vec_c::kInnerIpChecksum);
  EXPECT_EQ(csum::fold(csum::pseudo_v4(ip + 12, ip + 16, 6, 3020)), vec_c::kInnerTcpPartial);
  EXPECT_EQ(csum::finish(csum::sum(ip + 20, 3020)), vec_c::kInnerTcpFull);

  std::size_t covered = 0;
  for (std::size_t k = 0; k < 3; ++k) {
    const auto& s = vec_c::kSegments[k];
    const auto pkt = vec_c::segment(k);
    SCOPED_TRACE(k);
    ASSERT_EQ(pkt.size(), 54u + s.len);
    EXPECT_EQ(s.offset, covered);
    covered += s.len;
    EXPECT_EQ(load_be16(pkt.data() + 16), s.ip_total);
    EXPECT_EQ(s.ip_total, 40u + s.len);
    EXPECT_EQ(load_be16(pkt.data() + 18), s.ip_id);
    EXPECT_EQ(s.ip_id, vec_c::kIpId + k);
    EXPECT_EQ(csum::ipv4_header(pkt.data() + 14, 20), s.ip_checksum);
    EXPECT_EQ(load_be16(pkt.data() + 24), s.ip_checksum);
    EXPECT_EQ(wire::load_be32(pkt.data() + 38), s.seq);
    EXPECT_EQ(s.seq, (vec_c::kSttFrameLen << 16) | s.offset);
    EXPECT_EQ(wire::load_be32(pkt.data() + 42), vec_c::kPacketId);
    EXPECT_EQ(pkt[47], s.flags);
    EXPECT_EQ(load_be16(pkt.data() + 50), s.tcp_checksum);
    EXPECT_EQ(verify_tcp_v4(pkt, 14), 0xffff);
  }
  EXPECT_EQ(covered, vec_c::kSttFrameLen);

  std::uint32_t next_seq = vec_c::kInnerSeq;
  for (std::size_t k = 0; k < 3; ++k) {
    const auto& s = vec_c::kInnerSegments[k];
    const auto f = vec_c::inner_segment(k);
    SCOPED_TRACE(k);
    ASSERT_EQ(f.size(), 14u + s.ip_total);
    EXPECT_EQ(s.seq, next_seq);
    next_seq += s.len;
    EXPECT_EQ(s.ip_total, 40u + s.len);
    EXPECT_EQ(csum::ipv4_header(f.data() + 14, 20), s.ip_checksum);
    EXPECT_EQ(verify_tcp_v4(f, 14), 0xffff);
    EXPECT_TRUE(
        std::equal(f.begin() + 54, f.end(), inner.begin() + 54 + (s.seq - vec_c::kInnerSeq)));
  }
  EXPECT_EQ(next_seq - vec_c::kInnerSeq, vec_c::kPayloadLen);
}

// ------------------------------------------------------------ through encapsulate()

core::TunnelConfig vector_config(bool v6) {
  core::TunnelConfig cfg = vector_tunnel(v6, kUnderlayMtu);
  cfg.ttl = kOuterTtl;
  cfg.df = true;
  cfg.dscp_mode = core::DscpMode::kUniform;
  cfg.ecn_mode = core::EcnMode::kNormal;
  return cfg;
}

// Encapsulates `inner` (copied into a buffer with default headroom) and
// returns every outer packet as contiguous bytes.
struct EncapRun {
  core::EncapStatus status;
  std::vector<std::vector<std::uint8_t>> packets;
  std::vector<core::OffloadInfo> gso;
  core::CounterSet<core::EncapCounter> counters;
};

EncapRun encap(core::Tunnel& tunnel, std::span<const std::uint8_t> inner,
               const core::EncapRequest& req, core::TxForm form) {
  core::PacketBuffer buf;
  std::memcpy(buf.data(), inner.data(), inner.size());
  buf.set_size(inner.size());
  auto batch = std::make_unique<core::TxBatch>();
  EncapRun r;
  r.status = core::encapsulate(tunnel, buf.frame(), req, form, *batch, r.counters);
  for (const auto& p : *batch) {
    std::vector<std::uint8_t> bytes(p.header, p.header + p.header_len);
    bytes.insert(bytes.end(), p.payload, p.payload + p.payload_len);
    r.packets.push_back(std::move(bytes));
    r.gso.push_back(p.gso);
  }
  return r;
}

template <typename A>
std::vector<std::uint8_t> bytes_of(const A& a) {
  return std::vector<std::uint8_t>(a.begin(), a.end());
}

TEST(VectorsTx, A_IcmpOverIpv4ByteExact) {
  for (auto form : {core::TxForm::kSegmented, core::TxForm::kGso}) {
    core::Tunnel tunnel(vector_config(false), vec_a::kPacketId, vec_a::kIpId);
    core::EncapRequest req;
    req.context_id = vec_a::kContextId;
    req.src_port = vec_a::kSrcPort;
    EncapRun r = encap(tunnel, vec_a::inner_frame(), req, form);
    ASSERT_EQ(r.status, core::EncapStatus::kOk);
    ASSERT_EQ(r.packets.size(), 1u);
    EXPECT_EQ(r.packets[0], bytes_of(vec_a::kPacket));
    EXPECT_EQ(r.gso[0], core::OffloadInfo{});
  }
}

TEST(VectorsTx, A6_IcmpOverIpv6ByteExact) {
  for (auto form : {core::TxForm::kSegmented, core::TxForm::kGso}) {
    core::Tunnel tunnel(vector_config(true), vec_a6::kPacketId);
    core::EncapRequest req;
    req.context_id = vec_a6::kContextId;
    req.src_port = vec_a6::kSrcPort;
    req.flow_label = vec_a6::kFlowLabel;
    EncapRun r = encap(tunnel, vec_a::inner_frame(), req, form);
    ASSERT_EQ(r.status, core::EncapStatus::kOk);
    ASSERT_EQ(r.packets.size(), 1u);
    EXPECT_EQ(r.packets[0], bytes_of(vec_a6::kPacket));
  }
}

TEST(VectorsTx, B_PartialTcpWithTagByteExact) {
  for (auto form : {core::TxForm::kSegmented, core::TxForm::kGso}) {
    core::Tunnel tunnel(vector_config(false), vec_b::kPacketId, vec_b::kIpId);
    core::EncapRequest req;
    req.context_id = vec_b::kContextId;
    req.src_port = vec_b::kSrcPort;
    req.offload.flags = core::OffloadInfo::kNeedsCsum;
    req.offload.csum_start = vec_b::kCsumStartTagged;
    req.offload.csum_offset = vec_b::kCsumOffset;
    EncapRun r = encap(tunnel, vec_b::kTaggedFrame, req, form);
    ASSERT_EQ(r.status, core::EncapStatus::kOk);
    ASSERT_EQ(r.packets.size(), 1u);
    EXPECT_EQ(r.packets[0], bytes_of(vec_b::kPacket));
    EXPECT_EQ(r.counters.get(core::EncapCounter::kVlanFromFrame), 1u);
    EXPECT_EQ(r.counters.get(core::EncapCounter::kOffloaded), 1u);
  }
}

core::EncapRequest vector_c_request() {
  core::EncapRequest req;
  req.context_id = vec_c::kContextId;
  req.src_port = vec_c::kSrcPort;
  req.offload.flags = core::OffloadInfo::kNeedsCsum;
  req.offload.gso_type = core::OffloadInfo::kGsoTcpv4;
  req.offload.gso_size = vec_c::kMss;
  req.offload.hdr_len = 54;
  req.offload.csum_start = vec_c::kCsumStart;
  req.offload.csum_offset = vec_c::kCsumOffset;
  return req;
}

TEST(VectorsTx, C_SuperPacketThreeSegmentsByteExact) {
  core::Tunnel tunnel(vector_config(false), vec_c::kPacketId, vec_c::kIpId);
  const auto inner = vec_c::inner_frame();
  EncapRun r = encap(tunnel, inner, vector_c_request(), core::TxForm::kSegmented);
  ASSERT_EQ(r.status, core::EncapStatus::kOk);
  ASSERT_EQ(r.packets.size(), 3u);
  for (std::size_t k = 0; k < 3; ++k) {
    SCOPED_TRACE(k);
    EXPECT_EQ(r.packets[k], vec_c::segment(k));
    EXPECT_EQ(r.gso[k], core::OffloadInfo{});
  }
  EXPECT_EQ(r.counters.get(core::EncapCounter::kSttFrames), 1u);
  EXPECT_EQ(r.counters.get(core::EncapCounter::kSegments), 3u);
  EXPECT_EQ(r.counters.get(core::EncapCounter::kOffloaded), 1u);
}

// The GSO form of vector C: one super-segment whose first 1460-byte cut is
// what a TSO engine would send as segment 1 (IP/TCP lengths and checksum
// per segment are the engine's job, so the headers are compared field by
// field).
TEST(VectorsTx, C_GsoFormSuperSegment) {
  core::Tunnel tunnel(vector_config(false), vec_c::kPacketId, vec_c::kIpId);
  EncapRun r = encap(tunnel, vec_c::inner_frame(), vector_c_request(), core::TxForm::kGso);
  ASSERT_EQ(r.status, core::EncapStatus::kOk);
  ASSERT_EQ(r.packets.size(), 1u);
  const auto& p = r.packets[0];
  ASSERT_EQ(p.size(), 54u + vec_c::kSttFrameLen);
  const auto frame = vec_c::stt_frame();
  EXPECT_TRUE(std::equal(p.begin() + 54, p.end(), frame.begin()));
  const auto seg1 = vec_c::segment(0);
  EXPECT_TRUE(std::equal(p.begin(), p.begin() + 16, seg1.begin()));  // Ethernet, IP ver/tos
  EXPECT_EQ(load_be16(p.data() + 16), 40u + vec_c::kSttFrameLen);    // total for the whole
  EXPECT_EQ(load_be16(p.data() + 18), vec_c::kIpId);
  EXPECT_EQ(csum::ipv4_header(p.data() + 14, 20), load_be16(p.data() + 24));
  EXPECT_TRUE(std::equal(p.begin() + 34, p.begin() + 34 + 13, seg1.begin() + 34));  // ports..doff
  EXPECT_EQ(p[47], 0x18);  // ACK|PSH template: TSO clears PSH on all but the last
  EXPECT_EQ(load_be16(p.data() + 50),
            csum::fold(csum::pseudo_v4(kOuterSrcV4.data(), kOuterDstV4.data(), 6,
                                       20 + vec_c::kSttFrameLen)));
  const core::OffloadInfo& g = r.gso[0];
  EXPECT_EQ(g.flags, core::OffloadInfo::kNeedsCsum);
  EXPECT_EQ(g.gso_type, core::OffloadInfo::kGsoTcpv4);
  EXPECT_EQ(g.gso_size, 1460);
  EXPECT_EQ(g.hdr_len, 54);
  EXPECT_EQ(g.csum_start, 34);
  EXPECT_EQ(g.csum_offset, 16);
  // The next frame's IPv4 IDs start after the three the engine will use.
  EXPECT_EQ(tunnel.next_ip_id(1), vec_c::kIpId + 3);
}

}  // namespace
}  // namespace stt::test
