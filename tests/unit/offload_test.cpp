// complete_checksum, FrameArena and software_gso (TSO / USO / UFO in
// software), checked against the digest's vectors and against independent
// reassembly of what they produce.

#include "core/offload.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "digest_vectors.hpp"
#include "wire/bytes.hpp"
#include "wire/checksum.hpp"
#include "wire/headers.hpp"
#include "wire/parse.hpp"

namespace stt::core {
namespace {

namespace csum = wire::csum;
using wire::load_be16;
using wire::load_be32;

std::vector<std::uint8_t> to_vec(std::span<const std::uint8_t> s) {
  return std::vector<std::uint8_t>(s.begin(), s.end());
}

// An inner Ethernet frame: IPv4 or IPv6, TCP or UDP, `payload` bytes of
// pattern i*7+3, L4 checksum field holding the folded pseudo-header sum
// (the NEEDS_CSUM form).
std::vector<std::uint8_t> make_frame(bool v6, bool tcp, std::size_t payload,
                                     std::uint8_t tcp_flags = wire::kTcpAck | wire::kTcpPsh) {
  const std::size_t l3 = 14, ip_len = v6 ? 40 : 20, l4_len = tcp ? 20 : 8;
  std::vector<std::uint8_t> f(l3 + ip_len + l4_len + payload, 0);
  for (int i = 0; i < 6; ++i)
    f[i] = test::kInnerDstMac[i], f[6 + i] = test::kInnerSrcMac[i];
  wire::store_be16(&f[12], v6 ? wire::kEtherTypeIpv6 : wire::kEtherTypeIpv4);
  std::uint8_t* ip = &f[l3];
  const std::uint8_t proto = tcp ? wire::kIpProtoTcp : wire::kIpProtoUdp;
  const std::uint32_t l4_total = static_cast<std::uint32_t>(l4_len + payload);
  std::uint32_t ps;
  if (v6) {
    wire::store_be32(ip, 0x6000beefu);
    wire::store_be16(ip + 4, static_cast<std::uint16_t>(l4_total));
    ip[6] = proto;
    ip[7] = 64;
    for (int i = 0; i < 16; ++i)
      ip[8 + i] = test::kOuterSrcV6[i], ip[24 + i] = test::kOuterDstV6[i];
    ps = csum::pseudo_v6(ip + 8, ip + 24, proto, l4_total);
  } else {
    ip[0] = 0x45;
    wire::store_be16(ip + 2, static_cast<std::uint16_t>(20 + l4_total));
    wire::store_be16(ip + 4, 0x7000);
    wire::store_be16(ip + 6, 0x4000);
    ip[8] = 64;
    ip[9] = proto;
    for (int i = 0; i < 4; ++i)
      ip[12 + i] = test::kInnerSrcV4[i], ip[16 + i] = test::kInnerDstV4[i];
    wire::store_be16(ip + 10, csum::ipv4_header(ip, 20));
    ps = csum::pseudo_v4(ip + 12, ip + 16, proto, l4_total);
  }
  std::uint8_t* l4 = ip + ip_len;
  wire::store_be16(l4, 40000);
  wire::store_be16(l4 + 2, 80);
  if (tcp) {
    wire::store_be32(l4 + 4, 0xfffff000u);  // wraps during segmentation
    wire::store_be32(l4 + 8, 0x01020304u);
    l4[12] = 0x50;
    l4[13] = tcp_flags;
    wire::store_be16(l4 + 14, 1000);
    wire::store_be16(l4 + 16, csum::fold(ps));
  } else {
    wire::store_be16(l4 + 4, static_cast<std::uint16_t>(l4_total));
    wire::store_be16(l4 + 6, csum::fold(ps));
  }
  for (std::size_t i = 0; i < payload; ++i)
    l4[l4_len + i] = static_cast<std::uint8_t>(i * 7 + 3);
  return f;
}

wire::PacketLayout parse(std::span<const std::uint8_t> f) {
  wire::PacketLayout lay;
  EXPECT_EQ(wire::parse_ethernet(f.data(), f.size(), &lay), wire::ParseError::kOk);
  return lay;
}

// Folded sum over the L4 bytes with the pseudo-header: 0xffff when valid.
std::uint16_t l4_verify(const std::uint8_t* f, std::size_t len) {
  wire::PacketLayout lay;
  EXPECT_EQ(wire::parse_ethernet(f, len, &lay), wire::ParseError::kOk);
  const std::uint32_t l4_len = lay.ip_end - lay.l4_offset;
  std::uint32_t ps =
      lay.ip_version == 4
          ? csum::pseudo_v4(f + lay.l3_offset + 12, f + lay.l3_offset + 16, lay.l4_proto, l4_len)
          : csum::pseudo_v6(f + lay.l3_offset + 8, f + lay.l3_offset + 24, lay.l4_proto, l4_len);
  return csum::fold(csum::sum(f + lay.l4_offset, l4_len, ps));
}

// ------------------------------------------------------------ complete_checksum

TEST(Offload, CompleteChecksumVectorB) {
  auto f = to_vec(test::vec_b::inner_frame());
  ASSERT_EQ(load_be16(&f[34 + 16]), test::vec_b::kInnerTcpPartial);
  ASSERT_TRUE(complete_checksum(f, 34, 16, false));
  EXPECT_EQ(load_be16(&f[34 + 16]), test::vec_b::kInnerTcpFull);  // 0x54a5 -> 0x1a07
}

TEST(Offload, CompleteChecksumVectorCSuperPacket) {
  auto f = test::vec_c::inner_frame();
  ASSERT_TRUE(complete_checksum(f, test::vec_c::kCsumStart, test::vec_c::kCsumOffset, false));
  EXPECT_EQ(load_be16(&f[34 + 16]), test::vec_c::kInnerTcpFull);  // 0x603d -> 0x6934
}

TEST(Offload, CompleteChecksumUdpZeroIsSentAsFfff) {
  auto f = make_frame(false, false, 40);
  // Choose the last payload word so the finished checksum comes out 0.
  const std::size_t last = f.size() - 2;
  f[last] = f[last + 1] = 0;
  const std::uint16_t s = csum::fold(csum::sum(&f[34], f.size() - 34));
  wire::store_be16(&f[last], static_cast<std::uint16_t>(0xffff - s));
  auto tcp_view = f;
  ASSERT_TRUE(complete_checksum(f, 34, 6, true));
  EXPECT_EQ(load_be16(&f[34 + 6]), 0xffff);
  ASSERT_TRUE(complete_checksum(tcp_view, 34, 6, false));  // not UDP: 0 stays 0
  EXPECT_EQ(load_be16(&tcp_view[34 + 6]), 0x0000);
}

TEST(Offload, CompleteChecksumRejectsOffsetsOutsideFrame) {
  auto f = make_frame(false, true, 0);  // 54 bytes
  EXPECT_FALSE(complete_checksum(f, 34, 19, false));
  EXPECT_FALSE(complete_checksum(f, 60, 0, false));
  EXPECT_TRUE(complete_checksum(f, 34, 18, false));
}

// ------------------------------------------------------------ FrameArena

TEST(Offload, FrameArenaHeadroomCapacityAndReset) {
  FrameArena arena(1024, 3);
  auto* a = arena.allocate(100, 64);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->len, 100u);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a->data) % 8, 0u);
  auto* b = arena.allocate(100, 64);
  ASSERT_NE(b, nullptr);
  EXPECT_GE(b->data - a->data, 100 + 64);       // b's headroom does not overlap a
  EXPECT_EQ(arena.allocate(2000, 0), nullptr);  // bytes exhausted
  ASSERT_NE(arena.allocate(8, 0), nullptr);
  EXPECT_EQ(arena.allocate(8, 0), nullptr);  // frame slots exhausted
  EXPECT_EQ(arena.count(), 3u);
  arena.reset();
  EXPECT_EQ(arena.count(), 0u);
  EXPECT_NE(arena.allocate(900, 64), nullptr);
}

// ------------------------------------------------------------ software_gso: TCP

TEST(Offload, SoftwareGsoTcpV4VectorCByteExact) {
  const auto in = test::vec_c::inner_frame();
  FrameArena arena(64 * 1024, 16);
  ASSERT_EQ(software_gso(in, parse(in), test::vec_c::kMss, true, false, 64, arena), GsoError::kOk);
  ASSERT_EQ(arena.count(), 3u);
  for (std::size_t k = 0; k < 3; ++k) {
    SCOPED_TRACE(k);
    const auto& fr = arena.frames()[k];
    EXPECT_EQ(std::vector<std::uint8_t>(fr.data, fr.data + fr.len), test::vec_c::inner_segment(k));
  }
}

TEST(Offload, SoftwareGsoTcpFlagsPshFinLastCwrFirst) {
  const auto in =
      make_frame(false, true, 2500, wire::kTcpAck | wire::kTcpPsh | wire::kTcpFin | wire::kTcpCwr);
  FrameArena arena(64 * 1024, 16);
  ASSERT_EQ(software_gso(in, parse(in), 1000, true, false, 0, arena), GsoError::kOk);
  ASSERT_EQ(arena.count(), 3u);
  const std::uint8_t want[3] = {wire::kTcpAck | wire::kTcpCwr, wire::kTcpAck,
                                wire::kTcpAck | wire::kTcpPsh | wire::kTcpFin};
  for (std::size_t k = 0; k < 3; ++k) {
    SCOPED_TRACE(k);
    const auto& fr = arena.frames()[k];
    EXPECT_EQ(fr.data[34 + 13], want[k]);
    EXPECT_EQ(l4_verify(fr.data, fr.len), 0xffff);
  }
}

TEST(Offload, SoftwareGsoTcpV6SegmentsAndChecksums) {
  const auto in = make_frame(true, true, 3000);
  FrameArena arena(64 * 1024, 16);
  ASSERT_EQ(software_gso(in, parse(in), 1220, true, false, 32, arena), GsoError::kOk);
  ASSERT_EQ(arena.count(), 3u);
  const std::size_t lens[3] = {1220, 1220, 560};
  std::size_t off = 0;
  for (std::size_t k = 0; k < 3; ++k) {
    SCOPED_TRACE(k);
    const auto& fr = arena.frames()[k];
    ASSERT_EQ(fr.len, 14u + 40 + 20 + lens[k]);
    EXPECT_EQ(load_be16(fr.data + 14 + 4), 20 + lens[k]);       // payload length
    EXPECT_EQ(load_be32(fr.data + 14), 0x6000beefu);            // flow label kept
    EXPECT_EQ(load_be32(fr.data + 54 + 4), 0xfffff000u + off);  // seq, wrapping
    EXPECT_EQ(fr.data[54 + 13], k == 2 ? 0x18 : 0x10);
    EXPECT_EQ(l4_verify(fr.data, fr.len), 0xffff);
    EXPECT_EQ(std::memcmp(fr.data + 74, in.data() + 74 + off, lens[k]), 0);
    off += lens[k];
  }
}

TEST(Offload, SoftwareGsoSmallPacketCopiedWithChecksumFinished) {
  auto in = make_frame(false, true, 500);
  FrameArena arena(8 * 1024, 4);
  ASSERT_EQ(software_gso(in, parse(in), 1448, true, false, 0, arena), GsoError::kOk);
  ASSERT_EQ(arena.count(), 1u);
  auto want = in;
  ASSERT_TRUE(complete_checksum(want, 34, 16, false));
  EXPECT_EQ(std::vector<std::uint8_t>(arena.frames()[0].data,
                                      arena.frames()[0].data + arena.frames()[0].len),
            want);
}

// ------------------------------------------------------------ software_gso: UDP

TEST(Offload, SoftwareGsoUsoV4SeparateDatagrams) {
  const auto in = make_frame(false, false, 2500);
  FrameArena arena(64 * 1024, 16);
  ASSERT_EQ(software_gso(in, parse(in), 1000, true, false, 0, arena), GsoError::kOk);
  ASSERT_EQ(arena.count(), 3u);
  const std::size_t lens[3] = {1000, 1000, 500};
  for (std::size_t k = 0; k < 3; ++k) {
    SCOPED_TRACE(k);
    const auto& fr = arena.frames()[k];
    ASSERT_EQ(fr.len, 42u + lens[k]);
    EXPECT_EQ(load_be16(fr.data + 16), 28 + lens[k]);  // IPv4 total
    EXPECT_EQ(load_be16(fr.data + 18), 0x7000 + k);    // ID +1 each
    EXPECT_EQ(load_be16(fr.data + 20), 0x4000);        // not fragments
    EXPECT_EQ(csum::ipv4_header(fr.data + 14, 20), load_be16(fr.data + 24));
    EXPECT_EQ(load_be16(fr.data + 34 + 4), 8 + lens[k]);  // UDP length
    EXPECT_EQ(l4_verify(fr.data, fr.len), 0xffff);
    EXPECT_EQ(std::memcmp(fr.data + 42, in.data() + 42 + k * 1000, lens[k]), 0);
  }
}

// Reassembles IP fragments by offset; returns the datagram (UDP header +
// payload) and checks the fragment flags on the way.
std::vector<std::uint8_t> reassemble_v4(FrameArena& arena, std::uint16_t* id) {
  std::vector<std::uint8_t> dgram;
  for (std::size_t k = 0; k < arena.count(); ++k) {
    const auto& fr = arena.frames()[k];
    const std::uint16_t frag = load_be16(fr.data + 20);
    const bool last = k + 1 == arena.count();
    EXPECT_EQ((frag & 0x2000) != 0, !last) << k;  // MF on all but the last
    EXPECT_EQ((frag & 0x1fff) * 8u, dgram.size()) << k;
    EXPECT_EQ(csum::ipv4_header(fr.data + 14, 20), load_be16(fr.data + 24));
    EXPECT_EQ(load_be16(fr.data + 16), fr.len - 14);
    if (k == 0) *id = load_be16(fr.data + 18);
    EXPECT_EQ(load_be16(fr.data + 18), *id) << "fragments share the datagram's ID";
    dgram.insert(dgram.end(), fr.data + 34, fr.data + fr.len);
  }
  return dgram;
}

TEST(Offload, SoftwareGsoUfoV4Fragments) {
  const auto in = make_frame(false, false, 3000);
  FrameArena arena(64 * 1024, 16);
  ASSERT_EQ(software_gso(in, parse(in), 1480, true, true, 0, arena), GsoError::kOk);
  ASSERT_EQ(arena.count(), 3u);  // 3008 datagram bytes: 1480 + 1480 + 48
  std::uint16_t id = 0;
  const auto dgram = reassemble_v4(arena, &id);
  EXPECT_EQ(id, 0x7000);
  ASSERT_EQ(dgram.size(), 3008u);
  EXPECT_TRUE(std::equal(dgram.begin() + 8, dgram.end(), in.begin() + 42));
  EXPECT_EQ(load_be16(&dgram[4]), 3008);
  const std::uint32_t ps =
      csum::pseudo_v4(test::kInnerSrcV4.data(), test::kInnerDstV4.data(), 17, 3008);
  EXPECT_EQ(csum::fold(csum::sum(dgram.data(), dgram.size(), ps)), 0xffff);
}

TEST(Offload, SoftwareGsoUfoRoundsFragmentsToEightBytes) {
  const auto in = make_frame(false, false, 100);
  FrameArena arena(8 * 1024, 16);
  ASSERT_EQ(software_gso(in, parse(in), 50, true, true, 0, arena), GsoError::kOk);
  ASSERT_EQ(arena.count(), 3u);  // 108 bytes in 48-byte steps
  EXPECT_EQ(arena.frames()[0].len, 34u + 48);
  std::uint16_t id = 0;
  EXPECT_EQ(reassemble_v4(arena, &id).size(), 108u);
}

TEST(Offload, SoftwareGsoUfoV6FragmentHeaders) {
  const auto in = make_frame(true, false, 3000);
  FrameArena arena(64 * 1024, 16);
  ASSERT_EQ(software_gso(in, parse(in), 1448, true, true, 0, arena), GsoError::kOk);
  ASSERT_EQ(arena.count(), 3u);  // 3008 bytes in 1448-byte steps
  std::vector<std::uint8_t> dgram;
  std::uint32_t id = 0;
  for (std::size_t k = 0; k < 3; ++k) {
    SCOPED_TRACE(k);
    const auto& fr = arena.frames()[k];
    const std::uint8_t* ip = fr.data + 14;
    EXPECT_EQ(ip[6], wire::kIpv6Fragment);
    EXPECT_EQ(load_be16(ip + 4), fr.len - 54);
    const std::uint8_t* fh = ip + 40;
    EXPECT_EQ(fh[0], wire::kIpProtoUdp);
    const std::uint16_t of = load_be16(fh + 2);
    EXPECT_EQ(of & 0xfff8u, dgram.size());
    EXPECT_EQ((of & 1) != 0, k != 2);
    if (k == 0) id = load_be32(fh + 4);
    EXPECT_EQ(load_be32(fh + 4), id);
    dgram.insert(dgram.end(), fh + 8, static_cast<const std::uint8_t*>(fr.data + fr.len));
  }
  EXPECT_NE(id, 0u);
  ASSERT_EQ(dgram.size(), 3008u);
  EXPECT_TRUE(std::equal(dgram.begin() + 8, dgram.end(), in.begin() + 62));
  const std::uint32_t ps =
      csum::pseudo_v6(test::kOuterSrcV6.data(), test::kOuterDstV6.data(), 17, 3008);
  EXPECT_EQ(csum::fold(csum::sum(dgram.data(), dgram.size(), ps)), 0xffff);
}

// ------------------------------------------------------------ software_gso: errors

TEST(Offload, SoftwareGsoArenaFull) {
  const auto in = make_frame(false, true, 3000);
  FrameArena small_bytes(2000, 16);
  EXPECT_EQ(software_gso(in, parse(in), 1000, true, false, 0, small_bytes), GsoError::kArenaFull);
  FrameArena few_slots(64 * 1024, 2);
  EXPECT_EQ(software_gso(in, parse(in), 1000, true, false, 0, few_slots), GsoError::kArenaFull);
}

TEST(Offload, SoftwareGsoRejectsNonTcpUdpAndZeroMss) {
  FrameArena arena(64 * 1024, 16);
  const auto icmp = to_vec(test::vec_a::inner_frame());
  EXPECT_EQ(software_gso(icmp, parse(icmp), 1000, false, false, 0, arena), GsoError::kNotTcpOrUdp);
  const auto tcp = make_frame(false, true, 100);
  EXPECT_EQ(software_gso(tcp, parse(tcp), 0, true, false, 0, arena), GsoError::kBadMss);
  EXPECT_EQ(arena.count(), 0u);
}

}  // namespace
}  // namespace stt::core
