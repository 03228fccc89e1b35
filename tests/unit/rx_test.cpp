// parse_segment: every RxCounter is reached by exactly the case it names,
// and accepted segments are described correctly (IPv4 options, IPv6
// extension headers, a tagged underlay, link padding).

#include "core/rx.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "rx_packet_builder.hpp"
#include "wire/checksum.hpp"

namespace stt::core {
namespace {

using test::build_segment;
using test::SegmentSpec;

std::vector<std::uint8_t> frame_bytes(std::size_t n) {
  std::vector<std::uint8_t> f(n);
  std::iota(f.begin(), f.end(), std::uint8_t{7});
  return f;
}

SegmentSpec spec_for(std::uint16_t frame_len, std::uint16_t offset = 0) {
  SegmentSpec s;
  s.frame_len = frame_len;
  s.offset = offset;
  return s;
}

RxCounter parse(std::vector<std::uint8_t>& p, SttSegment* seg = nullptr,
                const OffloadInfo& off = {}, const RxConfig& cfg = {}) {
  SttSegment local;
  return parse_segment(p.data(), p.size(), off, cfg, seg ? seg : &local);
}

// Rewrites the IPv4 header checksum after a test changed the header.
void fix_ipv4_checksum(std::vector<std::uint8_t>& p, std::size_t l3 = 14) {
  const std::size_t hl = (p[l3] & 0x0f) * 4u;
  wire::store_be16(&p[l3 + 10], wire::csum::ipv4_header(&p[l3], hl));
}

TEST(Rx, CounterNamesAreUniqueAndSnakeCase) {
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < static_cast<std::size_t>(RxCounter::kCount); ++i) {
    auto n = counter_name(static_cast<RxCounter>(i));
    EXPECT_NE(n, "unknown");
    for (char c : n)
      EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '_') << n;
    names.insert(n);
  }
  EXPECT_EQ(names.size(), static_cast<std::size_t>(RxCounter::kCount));
}

TEST(Rx, AcceptsPlainIpv4Segment) {
  auto payload = frame_bytes(100);
  auto s = spec_for(300, 40);
  s.packet_id = 0xdeadbeef;
  s.src_port = 1234;
  s.tos = 0xb9;
  auto p = build_segment(s, payload);
  SttSegment seg;
  ASSERT_EQ(parse(p, &seg), RxCounter::kSegments);
  EXPECT_EQ(seg.outer_src.to_string(), "192.0.2.1");
  EXPECT_EQ(seg.outer_dst.to_string(), "192.0.2.2");
  EXPECT_EQ(seg.src_port, 1234);
  EXPECT_EQ(seg.dst_port, 7471);
  EXPECT_EQ(seg.packet_id, 0xdeadbeefu);
  EXPECT_EQ(seg.frame_len, 300);
  EXPECT_EQ(seg.offset, 40);
  EXPECT_EQ(seg.tos, 0xb9);
  EXPECT_EQ(seg.tcp_flags, 0x18);
  EXPECT_EQ(seg.payload, p.data() + 54);
  EXPECT_EQ(seg.headroom, 54u);
  ASSERT_EQ(seg.payload_len, 100u);
  EXPECT_TRUE(std::equal(payload.begin(), payload.end(), seg.payload));
}

TEST(Rx, AcceptsIpv4WithOptions) {
  auto payload = frame_bytes(64);
  auto s = spec_for(64);
  s.ipv4_option_words = 3;
  auto p = build_segment(s, payload);
  SttSegment seg;
  ASSERT_EQ(parse(p, &seg), RxCounter::kSegments);
  EXPECT_EQ(seg.payload, p.data() + 14 + 32 + 20);
  EXPECT_EQ(seg.payload_len, 64u);
}

TEST(Rx, IgnoresLinkPaddingBeyondIpLength) {
  auto payload = frame_bytes(40);
  auto s = spec_for(40);
  s.link_padding = 6;
  auto p = build_segment(s, payload);
  SttSegment seg;
  ASSERT_EQ(parse(p, &seg), RxCounter::kSegments);
  EXPECT_EQ(seg.payload_len, 40u);
}

TEST(Rx, AcceptsVlanTaggedUnderlay) {
  auto payload = frame_bytes(50);
  auto s = spec_for(50);
  s.vlan = true;
  auto p = build_segment(s, payload);
  SttSegment seg;
  ASSERT_EQ(parse(p, &seg), RxCounter::kSegments);
  EXPECT_EQ(seg.payload, p.data() + 58);
  s.v6 = true;
  s.src = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  s.dst = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  p = build_segment(s, payload);
  ASSERT_EQ(parse(p, &seg), RxCounter::kSegments);
  EXPECT_EQ(seg.payload, p.data() + 14 + 4 + 40 + 20);
}

TEST(Rx, TwoUnderlayTagsAreNotOurs) {
  auto payload = frame_bytes(50);
  auto s = spec_for(50);
  s.vlan = true;
  auto p = build_segment(s, payload);
  // Make the inner EtherType another 802.1Q tag.
  p[16] = 0x81;
  p[17] = 0x00;
  EXPECT_EQ(parse(p), RxCounter::kNotIp);
}

SegmentSpec v6_spec(std::uint16_t frame_len) {
  SegmentSpec s = spec_for(frame_len);
  s.v6 = true;
  s.src = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  s.dst = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  return s;
}

TEST(Rx, AcceptsIpv6WithExtensionHeaders) {
  auto payload = frame_bytes(80);
  auto s = v6_spec(80);
  s.tos = 0x2a;
  // Hop-by-hop (8 bytes, PadN) -> destination options (16 bytes) -> TCP.
  s.v6_first_next = 0;
  s.v6_ext = {60, 0, 1, 4, 0, 0, 0, 0, 6, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  auto p = build_segment(s, payload);
  SttSegment seg;
  ASSERT_EQ(parse(p, &seg), RxCounter::kSegments);
  EXPECT_TRUE(seg.outer_src.is_v6());
  EXPECT_EQ(seg.tos, 0x2a);
  EXPECT_EQ(seg.payload, p.data() + 14 + 40 + 24 + 20);
  EXPECT_EQ(seg.payload_len, 80u);
}

TEST(Rx, Ipv6FragmentHeaderIsDropped) {
  auto payload = frame_bytes(80);
  auto s = v6_spec(80);
  s.v6_first_next = 44;
  s.v6_ext = {6, 0, 0x00, 0x01, 0, 0, 0, 9};  // offset 0, M = 1
  auto p = build_segment(s, payload);
  EXPECT_EQ(parse(p), RxCounter::kDropIpFragment);
}

TEST(Rx, Ipv6AtomicFragmentIsAWholePacket) {
  auto payload = frame_bytes(80);
  auto s = v6_spec(80);
  s.v6_first_next = 44;
  s.v6_ext = {6, 0, 0x00, 0x00, 0, 0, 0, 9};  // offset 0, M = 0 (RFC 6946)
  auto p = build_segment(s, payload);
  EXPECT_EQ(parse(p), RxCounter::kSegments);
}

TEST(Rx, Ipv6TruncatedExtensionChain) {
  auto payload = frame_bytes(4);
  auto s = v6_spec(40);
  s.v6_first_next = 60;
  // Destination options claiming 8 * (1 + 200) bytes.
  s.v6_ext = {6, 200, 1, 4, 0, 0, 0, 0};
  auto p = build_segment(s, payload);
  EXPECT_EQ(parse(p), RxCounter::kDropTruncated);
}

TEST(Rx, Ipv6BadVersionAndTruncation) {
  auto payload = frame_bytes(40);
  auto p = build_segment(v6_spec(40), payload);
  auto bad = p;
  bad[14] = 0x40;
  EXPECT_EQ(parse(bad), RxCounter::kDropBadIpHeader);
  auto cut = p;
  cut.resize(14 + 30);
  EXPECT_EQ(parse(cut), RxCounter::kDropTruncated);
  auto longer = p;
  wire::store_be16(&longer[18], 1000);
  EXPECT_EQ(parse(longer), RxCounter::kDropTruncated);
}

TEST(Rx, Ipv6BadTcpChecksum) {
  auto payload = frame_bytes(40);
  auto p = build_segment(v6_spec(40), payload);
  p.back() ^= 0x01;
  EXPECT_EQ(parse(p), RxCounter::kDropBadTcpChecksum);
}

TEST(Rx, NotIp) {
  auto p = build_segment(spec_for(40), frame_bytes(40));
  p[12] = 0x08;
  p[13] = 0x06;  // ARP
  EXPECT_EQ(parse(p), RxCounter::kNotIp);
}

TEST(Rx, NotTcp) {
  auto p = build_segment(spec_for(40), frame_bytes(40));
  p[14 + 9] = 17;
  fix_ipv4_checksum(p);
  EXPECT_EQ(parse(p), RxCounter::kNotTcp);
}

TEST(Rx, NotOurPort) {
  auto s = spec_for(40);
  s.dst_port = 443;
  auto p = build_segment(s, frame_bytes(40));
  EXPECT_EQ(parse(p), RxCounter::kNotOurPort);
  RxConfig cfg;
  cfg.port = 443;
  EXPECT_EQ(parse(p, nullptr, {}, cfg), RxCounter::kSegments);
}

TEST(Rx, NotOurAddress) {
  auto p = build_segment(spec_for(40), frame_bytes(40));
  RxConfig cfg;
  cfg.local = *wire::IpAddr::parse("192.0.2.9");
  EXPECT_EQ(parse(p, nullptr, {}, cfg), RxCounter::kNotOurAddress);
  cfg.local = *wire::IpAddr::parse("192.0.2.2");
  EXPECT_EQ(parse(p, nullptr, {}, cfg), RxCounter::kSegments);
}

TEST(Rx, MulticastDestinationIsAccepted) {  // I15
  auto s = spec_for(40);
  s.dst = test::v4addr(239, 1, 2, 3);
  auto p = build_segment(s, frame_bytes(40));
  RxConfig cfg;
  cfg.local = *wire::IpAddr::parse("192.0.2.2");
  EXPECT_EQ(parse(p, nullptr, {}, cfg), RxCounter::kSegments);
}

TEST(Rx, DropTruncated) {
  auto p = build_segment(spec_for(40), frame_bytes(40));
  std::vector<std::uint8_t> short_eth(p.begin(), p.begin() + 10);
  EXPECT_EQ(parse(short_eth), RxCounter::kDropTruncated);
  std::vector<std::uint8_t> short_ip(p.begin(), p.begin() + 14 + 12);
  EXPECT_EQ(parse(short_ip), RxCounter::kDropTruncated);
  auto cut = p;
  cut.resize(p.size() - 5);  // IP total length beyond the packet
  EXPECT_EQ(parse(cut), RxCounter::kDropTruncated);
  // IP says 30 bytes of TCP: shorter than a TCP header.
  auto tiny = p;
  wire::store_be16(&tiny[16], 20 + 10);
  fix_ipv4_checksum(tiny);
  EXPECT_EQ(parse(tiny), RxCounter::kDropTruncated);
  std::vector<std::uint8_t> short_tag(p.begin(), p.begin() + 14);
  short_tag[12] = 0x81;
  short_tag[13] = 0x00;
  EXPECT_EQ(parse(short_tag), RxCounter::kDropTruncated);
}

TEST(Rx, DropBadIpHeader) {
  auto p = build_segment(spec_for(40), frame_bytes(40));
  auto v = p;
  v[14] = 0x55;  // version 5
  EXPECT_EQ(parse(v), RxCounter::kDropBadIpHeader);
  auto ihl = p;
  ihl[14] = 0x44;  // 16-byte header
  EXPECT_EQ(parse(ihl), RxCounter::kDropBadIpHeader);
  auto total = p;
  wire::store_be16(&total[16], 12);  // shorter than its own header
  fix_ipv4_checksum(total);
  EXPECT_EQ(parse(total), RxCounter::kDropBadIpHeader);
}

TEST(Rx, DropBadIpChecksum) {
  auto p = build_segment(spec_for(40), frame_bytes(40));
  p[14 + 8] = 63;  // TTL changed, checksum not updated
  EXPECT_EQ(parse(p), RxCounter::kDropBadIpChecksum);
}

TEST(Rx, DropIpFragment) {
  auto s = spec_for(40);
  s.frag = 0x2000;  // MF
  auto p = build_segment(s, frame_bytes(40));
  EXPECT_EQ(parse(p), RxCounter::kDropIpFragment);
  s.frag = 0x0010;  // offset 128
  p = build_segment(s, frame_bytes(40));
  EXPECT_EQ(parse(p), RxCounter::kDropIpFragment);
}

TEST(Rx, DropTcpOptions) {
  auto s = spec_for(40);
  s.data_offset_words = 6;
  auto p = build_segment(s, frame_bytes(40));
  EXPECT_EQ(parse(p), RxCounter::kDropTcpOptions);
  s.data_offset_words = 5;
  p = build_segment(s, frame_bytes(40));
  p[test::tcp_offset(s) + 12] = 0x40;  // data offset 4: not even a TCP header
  EXPECT_EQ(parse(p), RxCounter::kDropTcpOptions);
}

TEST(Rx, DropBadTcpChecksumUnlessOffloadVouches) {
  auto s = spec_for(40);
  auto p = build_segment(s, frame_bytes(40));
  p[test::tcp_offset(s) + 16] ^= 0x40;
  EXPECT_EQ(parse(p), RxCounter::kDropBadTcpChecksum);
  OffloadInfo valid;
  valid.flags = OffloadInfo::kDataValid;
  EXPECT_EQ(parse(p, nullptr, valid), RxCounter::kSegments);
  OffloadInfo partial;
  partial.flags = OffloadInfo::kNeedsCsum;
  EXPECT_EQ(parse(p, nullptr, partial), RxCounter::kSegments);
}

TEST(Rx, DropZeroLength) {
  auto p = build_segment(spec_for(40), {});
  EXPECT_EQ(parse(p), RxCounter::kDropZeroLength);
}

TEST(Rx, DropBeyondLength) {
  auto p = build_segment(spec_for(100, 61), frame_bytes(40));
  EXPECT_EQ(parse(p), RxCounter::kDropBeyondLength);
  p = build_segment(spec_for(100, 60), frame_bytes(40));  // ends exactly at L
  EXPECT_EQ(parse(p), RxCounter::kSegments);
}

TEST(Rx, DropLengthTooShort) {
  auto p = build_segment(spec_for(31), frame_bytes(31));
  EXPECT_EQ(parse(p), RxCounter::kDropLengthTooShort);
  p = build_segment(spec_for(32), frame_bytes(32));
  EXPECT_EQ(parse(p), RxCounter::kSegments);
}

TEST(Rx, DropControlFlags) {
  for (std::uint8_t f : {wire::kTcpSyn, wire::kTcpRst, wire::kTcpFin}) {
    auto s = spec_for(40);
    s.tcp_flags = static_cast<std::uint8_t>(0x10 | f);
    auto p = build_segment(s, frame_bytes(40));
    EXPECT_EQ(parse(p), RxCounter::kDropControlFlags) << int(f);
  }
}

TEST(Rx, R23_OtherTcpFlagsAndFieldsIgnored) {  // R19, R23: URG/ECE/CWR/no ACK, window, urg ptr
  for (std::uint8_t f :
       {std::uint8_t{0}, wire::kTcpUrg, wire::kTcpEce, wire::kTcpCwr, wire::kTcpPsh}) {
    auto s = spec_for(40);
    s.tcp_flags = f;
    auto p = build_segment(s, frame_bytes(40));
    const std::size_t t = test::tcp_offset(s);
    wire::store_be16(&p[t + 14], 0xffff);  // window
    wire::store_be16(&p[t + 18], 0x1234);  // urgent pointer
    OffloadInfo valid;
    valid.flags = OffloadInfo::kDataValid;  // checksum not recomputed after the edit
    SttSegment seg;
    EXPECT_EQ(parse(p, &seg, valid), RxCounter::kSegments) << int(f);
    EXPECT_EQ(seg.tcp_flags, f);
  }
}

// copy_payload_checked: the fused copy + checksum agrees with
// pending_checksum_ok (csum::sum) for every length, in the vector kernel
// and around it, at every source and destination alignment, and copies
// every byte (and no byte past the end) whether the checksum is right or not.
TEST(Rx, CopyPayloadCheckedAgreesWithSum) {
  std::vector<std::uint8_t> src(4200), dst(4300);
  std::uint32_t x = 12345;
  for (auto& b : src) {
    x = x * 1103515245u + 12345u;
    b = static_cast<std::uint8_t>(x >> 24);
  }
  std::size_t checked = 0;
  for (std::size_t n = 1; n <= 4096; n += n < 300 ? 1 : 61) {
    for (std::size_t so = 0; so < 40; so += 7) {
      for (std::size_t dof = 0; dof < 40; dof += 13) {
        SttSegment seg;
        seg.payload = src.data() + so;
        seg.payload_len = static_cast<std::uint32_t>(n);
        seg.checksum_pending = true;
        // A pending sum that makes the whole check come out right (left
        // unfolded: + 0xffff, which is zero), and one that is off by one.
        const std::uint32_t good = wire::csum::finish(wire::csum::sum(seg.payload, n)) + 0xffffu;
        for (const std::uint32_t pending : {good, good + 1}) {
          seg.pending_sum = pending;
          std::fill(dst.begin(), dst.end(), std::uint8_t{0xee});
          const bool ok = copy_payload_checked(dst.data() + dof, seg);
          ASSERT_EQ(ok, pending_checksum_ok(seg)) << "n=" << n << " so=" << so << " do=" << dof;
          ASSERT_EQ(ok, pending == good) << "n=" << n;
          ASSERT_TRUE(std::equal(seg.payload, seg.payload + n, dst.begin() + dof)) << "n=" << n;
          ASSERT_EQ(dst[dof + n], 0xee) << "n=" << n;
          if (dof != 0) {
            ASSERT_EQ(dst[dof - 1], 0xee) << "n=" << n;
          }
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 10000u);
  // Nothing pending: a plain copy, always true.
  SttSegment seg;
  seg.payload = src.data();
  seg.payload_len = 100;
  EXPECT_TRUE(copy_payload_checked(dst.data(), seg));
  EXPECT_TRUE(std::equal(src.begin(), src.begin() + 100, dst.begin()));
}

}  // namespace
}  // namespace stt::core
