// The digest §8 vectors: first that digest_vectors.hpp holds exactly the
// packets the digest lists (every listed checksum recomputed from the
// bytes), then that encapsulate() reproduces them byte for byte.

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "digest_vectors.hpp"
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

}  // namespace
}  // namespace stt::test
