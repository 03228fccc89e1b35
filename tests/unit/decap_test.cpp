// decapsulate(): the receiver rules of the draft, one test per requirement
// where one applies (R1, R4, R8, R10, R12, R24-R27, I7), the decisions the
// draft leaves open (C+P, VID 4095, bad L4 offsets) and both offload modes.

#include "core/decap.hpp"

#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "wire/bytes.hpp"
#include "wire/checksum.hpp"
#include "wire/headers.hpp"
#include "wire/parse.hpp"

namespace stt::core {
namespace {

struct InnerSpec {
  bool v6 = false;
  bool udp = false;
  std::size_t payload = 100;
  std::uint8_t tos = 0;
  bool partial = true;  // L4 checksum field holds the pseudo-header sum
};

// An untagged inner Ethernet frame carrying IPv4/IPv6 + TCP/UDP.
std::vector<std::uint8_t> make_inner(const InnerSpec& s) {
  std::vector<std::uint8_t> f = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};
  const std::size_t l4_hdr = s.udp ? 8 : 20;
  const std::size_t l4_len = l4_hdr + s.payload;
  const std::uint8_t proto = s.udp ? 17 : 6;
  f.resize(14 + (s.v6 ? 40 : 20) + l4_len);
  std::uint8_t* l3 = f.data() + 14;
  std::uint8_t* l4;
  std::uint32_t pseudo;
  if (!s.v6) {
    wire::store_be16(f.data() + 12, 0x0800);
    l3[0] = 0x45;
    l3[1] = s.tos;
    wire::store_be16(l3 + 2, static_cast<std::uint16_t>(20 + l4_len));
    wire::store_be16(l3 + 4, 0x4242);
    wire::store_be16(l3 + 6, 0x4000);
    l3[8] = 64;
    l3[9] = proto;
    const std::uint8_t src[4] = {198, 51, 100, 1}, dst[4] = {198, 51, 100, 2};
    std::memcpy(l3 + 12, src, 4);
    std::memcpy(l3 + 16, dst, 4);
    wire::store_be16(l3 + 10, wire::csum::ipv4_header(l3, 20));
    l4 = l3 + 20;
    pseudo = wire::csum::pseudo_v4(src, dst, proto, static_cast<std::uint32_t>(l4_len));
  } else {
    wire::store_be16(f.data() + 12, 0x86dd);
    wire::store_be32(l3, 0x60000000u | (std::uint32_t{s.tos} << 20));
    wire::store_be16(l3 + 4, static_cast<std::uint16_t>(l4_len));
    l3[6] = proto;
    l3[7] = 64;
    for (int i = 0; i < 16; ++i) {
      l3[8 + i] = static_cast<std::uint8_t>(0x20 + i);
      l3[24 + i] = static_cast<std::uint8_t>(0x40 + i);
    }
    l4 = l3 + 40;
    pseudo = wire::csum::pseudo_v6(l3 + 8, l3 + 24, proto, static_cast<std::uint32_t>(l4_len));
  }
  wire::store_be16(l4, 40000);
  wire::store_be16(l4 + 2, 80);
  if (s.udp) {
    wire::store_be16(l4 + 4, static_cast<std::uint16_t>(l4_len));
  } else {
    wire::store_be32(l4 + 4, 1000);
    wire::store_be32(l4 + 8, 2000);
    l4[12] = 0x50;
    l4[13] = 0x18;
    wire::store_be16(l4 + 14, 512);
  }
  for (std::size_t i = 0; i < s.payload; ++i) {
    l4[l4_hdr + i] = static_cast<std::uint8_t>(i * 13 + 5);
  }
  const std::size_t co = s.udp ? 6 : 16;
  if (s.partial) {
    wire::store_be16(l4 + co, wire::csum::fold(pseudo));
  } else {
    std::uint16_t c = wire::csum::finish(wire::csum::sum(l4, l4_len, pseudo));
    if (s.udp && c == 0) c = 0xffff;
    wire::store_be16(l4 + co, c);
  }
  return f;
}

struct Hdr {
  std::uint8_t version = 0;
  std::uint8_t flags = 0;
  std::uint8_t l4_offset = 0;
  std::uint8_t reserved = 0;
  std::uint16_t mss = 0;
  std::uint16_t vlan = 0;
  std::uint64_t context = 0x1122334455667788ull;
  std::uint16_t padding = 0;
};

// A complete STT frame in a buffer with headroom, as the reassembler hands it on.
struct Frame {
  std::vector<std::uint8_t> buf;
  ReassembledFrame rf;

  Frame(const Hdr& h, const std::vector<std::uint8_t>& inner, std::uint8_t tos = 0,
        bool ce = false) {
    // The header is built apart and appended: GCC 12 at -O3 misreads
    // stores into the freshly assigned vector as overflowing it.
    std::uint8_t hdr[18];
    hdr[0] = h.version;
    hdr[1] = h.flags;
    hdr[2] = h.l4_offset;
    hdr[3] = h.reserved;
    wire::store_be16(hdr + 4, h.mss);
    wire::store_be16(hdr + 6, h.vlan);
    wire::store_be64(hdr + 8, h.context);
    wire::store_be16(hdr + 16, h.padding);
    buf.assign(64, 0);
    buf.insert(buf.end(), hdr, hdr + sizeof(hdr));
    buf.insert(buf.end(), inner.begin(), inner.end());
    std::uint8_t* d = buf.data() + 64;
    rf.data = d;
    rf.len = static_cast<std::uint32_t>(18 + inner.size());
    rf.headroom = 64;
    rf.first_tos = tos;
    rf.ce = ce;
  }
};

Hdr partial_hdr(const InnerSpec& s, std::uint16_t mss = 0) {
  Hdr h;
  h.flags = static_cast<std::uint8_t>(wire::kSttFlagCsumPartial | (s.v6 ? 0 : wire::kSttFlagIpv4) |
                                      (s.udp ? 0 : wire::kSttFlagTcp));
  h.l4_offset = static_cast<std::uint8_t>(14 + (s.v6 ? 40 : 20));
  h.mss = mss;
  return h;
}

struct Decap {
  DecapConfig cfg;
  DecapOutput out;
  CounterSet<DecapCounter> counters;

  DecapStatus run(Frame& f) {
    out.clear();
    return decapsulate(f.rf, cfg, out, counters);
  }
  std::vector<std::uint8_t> frame(std::size_t i = 0) const {
    return {out[i].data, out[i].data + out[i].len};
  }
  std::uint64_t get(DecapCounter c) const { return counters.get(c); }
};

// The L4 checksum of a delivered frame verifies, and so does an IPv4 header.
bool checksums_ok(const std::vector<std::uint8_t>& f) {
  wire::PacketLayout l;
  if (wire::parse_ethernet(f.data(), f.size(), &l) != wire::ParseError::kOk) return false;
  const std::uint8_t* l3 = f.data() + l.l3_offset;
  const std::uint32_t l4_len = l.ip_end - l.l4_offset;
  std::uint32_t pseudo;
  if (l.ip_version == 4) {
    if (wire::csum::fold(wire::csum::sum(l3, l.ip_header_length)) != 0xffff) return false;
    pseudo = wire::csum::pseudo_v4(l3 + 12, l3 + 16, l.l4_proto, l4_len);
  } else {
    pseudo = wire::csum::pseudo_v6(l3 + 8, l3 + 24, l.l4_proto, l4_len);
  }
  return wire::csum::fold(wire::csum::sum(f.data() + l.l4_offset, l4_len, pseudo)) == 0xffff;
}

bool ipv4_header_ok(const std::vector<std::uint8_t>& f, std::size_t l3 = 14) {
  return wire::csum::fold(wire::csum::sum(f.data() + l3, 20)) == 0xffff;
}

// ------------------------------------------------------------ header rules

TEST(Decap, CounterNamesAreUnique) {
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < static_cast<std::size_t>(DecapCounter::kCount); ++i) {
    names.insert(counter_name(static_cast<DecapCounter>(i)));
  }
  EXPECT_EQ(names.size(), static_cast<std::size_t>(DecapCounter::kCount));
  EXPECT_EQ(names.count("unknown"), 0u);
}

TEST(Decap, ReadSttHeaderReadsEveryField) {
  Hdr h{0, 0x0e, 34, 0xab, 1448, 0xb064, 0xfedcba9876543210ull, 0xbeef};
  Frame f(h, make_inner({}));
  SttInfo info;
  ASSERT_TRUE(read_stt_header(f.rf.data, f.rf.len, &info));
  EXPECT_EQ(info.version, 0);
  EXPECT_EQ(info.flags, 0x0e);
  EXPECT_EQ(info.l4_offset, 34);
  EXPECT_EQ(info.reserved, 0xab);
  EXPECT_EQ(info.mss, 1448);
  EXPECT_EQ(info.vlan_tci, 0xb064);
  EXPECT_EQ(info.context_id, 0xfedcba9876543210ull);
  EXPECT_EQ(info.padding, 0xbeef);
  EXPECT_FALSE(read_stt_header(f.rf.data, 31, &info));
}

TEST(Decap, DropsFramesShorterThanHeaderAndEthernet) {
  Decap d;
  Frame f(Hdr{}, make_inner({}));
  f.rf.len = 31;
  EXPECT_EQ(d.run(f), DecapStatus::kDropped);
  EXPECT_EQ(d.get(DecapCounter::kDropTooShort), 1u);
  EXPECT_EQ(d.out.size(), 0u);
}

TEST(Decap, R1_DropsNonZeroVersion) {
  for (std::uint8_t v : {1, 255}) {
    Decap d;
    Hdr h;
    h.version = v;
    Frame f(h, make_inner({.partial = false}));
    EXPECT_EQ(d.run(f), DecapStatus::kDropped);
    EXPECT_EQ(d.get(DecapCounter::kDropBadVersion), 1u);
    EXPECT_EQ(d.out.size(), 0u);
    EXPECT_EQ(d.out.info.version, v);
  }
  Decap d;
  Frame f(Hdr{}, make_inner({.partial = false}));
  EXPECT_EQ(d.run(f), DecapStatus::kOk);
  EXPECT_EQ(d.out.size(), 1u);
}

TEST(Decap, R4_R8_R10_ReservedFieldsIgnored) {
  const auto inner = make_inner({.partial = false});
  Decap ref;
  Frame plain(Hdr{}, inner);
  ASSERT_EQ(ref.run(plain), DecapStatus::kOk);
  Hdr h;
  h.reserved = 0xff;   // R4
  h.flags = 0xf0;      // R8
  h.padding = 0xffff;  // R10
  Decap d;
  Frame f(h, inner);
  ASSERT_EQ(d.run(f), DecapStatus::kOk);
  ASSERT_EQ(d.out.size(), 1u);
  EXPECT_EQ(d.frame(), inner);
  EXPECT_EQ(d.out[0].offload, OffloadInfo{});
  EXPECT_EQ(d.out.info.reserved, 0xff);
  EXPECT_EQ(d.out.info.padding, 0xffff);
}

TEST(Decap, R8_ReservedFlagBitsDoNotChangeOffloadHandling) {
  InnerSpec s;
  Hdr h = partial_hdr(s);
  h.flags |= 0xf0;
  Decap d;
  Frame f(h, make_inner(s));
  ASSERT_EQ(d.run(f), DecapStatus::kOk);
  EXPECT_TRUE(d.out[0].offload.needs_csum());
  EXPECT_EQ(d.out[0].offload.csum_start, 34);
}

TEST(Decap, R12_NonOffloadFieldsIgnoredWhenPIsClear) {
  // A complete UDP/IPv6 frame with garbage L4 offset, MSS, FLAG_IPV4 and T.
  const auto inner = make_inner({.v6 = true, .udp = true, .payload = 3000, .partial = false});
  Hdr h;
  h.flags = wire::kSttFlagIpv4 | wire::kSttFlagTcp;
  h.l4_offset = 7;
  h.mss = 100;
  for (bool consumer : {true, false}) {
    Decap d;
    d.cfg.offload_consumer = consumer;
    Frame f(h, inner);
    ASSERT_EQ(d.run(f), DecapStatus::kOk);
    ASSERT_EQ(d.out.size(), 1u);  // no segmentation
    EXPECT_EQ(d.frame(), inner);  // no checksum rewrite
    EXPECT_EQ(d.out[0].offload, OffloadInfo{});
    EXPECT_EQ(d.get(DecapCounter::kSoftwareGso) + d.get(DecapCounter::kSoftwareChecksum), 0u);
  }
}

TEST(Decap, R12_NonIpFrameDeliveredUnchanged) {
  std::vector<std::uint8_t> arp(60, 0x5a);
  arp[12] = 0x08;
  arp[13] = 0x06;
  Decap d;
  d.cfg.dscp_mode = DscpMode::kUniform;
  Frame f(Hdr{}, arp, 0xb8, true);  // CE and a DSCP outside: nothing to mark
  ASSERT_EQ(d.run(f), DecapStatus::kOk);
  EXPECT_EQ(d.frame(), arp);
}

TEST(Decap, CAndPBothSetIsDropped) {
  InnerSpec s;
  Hdr h = partial_hdr(s);
  h.flags |= wire::kSttFlagCsumVerified;
  Decap d;
  Frame f(h, make_inner(s));
  EXPECT_EQ(d.run(f), DecapStatus::kDropped);
  EXPECT_EQ(d.get(DecapCounter::kDropCAndP), 1u);
  EXPECT_EQ(d.out.size(), 0u);
}

TEST(Decap, VerifiedChecksumBecomesDataValid) {
  const auto inner = make_inner({.partial = false});
  Hdr h;
  h.flags = wire::kSttFlagCsumVerified;
  Decap d;
  Frame f(h, inner);
  ASSERT_EQ(d.run(f), DecapStatus::kOk);
  EXPECT_TRUE(d.out[0].offload.data_valid());
  EXPECT_EQ(d.frame(), inner);
  Decap plain;
  plain.cfg.offload_consumer = false;
  Frame g(h, inner);
  ASSERT_EQ(plain.run(g), DecapStatus::kOk);
  EXPECT_EQ(plain.out[0].offload, OffloadInfo{});
}

// ------------------------------------------------------------ P = 1 validation

TEST(Decap, BadL4OffsetIsDropped) {
  InnerSpec s;
  for (std::uint8_t off : {0, 14, 33, 35, 200, 255}) {
    Hdr h = partial_hdr(s);
    h.l4_offset = off;
    Decap d;
    Frame f(h, make_inner(s));
    EXPECT_EQ(d.run(f), DecapStatus::kDropped) << int(off);
    EXPECT_EQ(d.get(DecapCounter::kDropBadL4Offset), 1u) << int(off);
  }
}

TEST(Decap, InnerHeadersDisagreeingWithFlagsAreDropped) {
  InnerSpec s;
  const auto inner = make_inner(s);
  Hdr wrong_ip = partial_hdr(s);
  wrong_ip.flags &= static_cast<std::uint8_t>(~wire::kSttFlagIpv4);
  Hdr wrong_l4 = partial_hdr(s);
  wrong_l4.flags &= static_cast<std::uint8_t>(~wire::kSttFlagTcp);
  for (const Hdr& h : {wrong_ip, wrong_l4}) {
    Decap d;
    Frame f(h, inner);
    EXPECT_EQ(d.run(f), DecapStatus::kDropped);
    EXPECT_EQ(d.get(DecapCounter::kDropBadInnerHeaders), 1u);
  }
  // Not IP at all, and IP cut short.
  std::vector<std::uint8_t> arp(60, 0);
  arp[12] = 0x08;
  arp[13] = 0x06;
  auto cut = inner;
  cut.resize(40);
  for (const auto& bad : {arp, cut}) {
    Decap d;
    Frame f(partial_hdr(s), bad);
    EXPECT_EQ(d.run(f), DecapStatus::kDropped);
    EXPECT_EQ(d.get(DecapCounter::kDropBadInnerHeaders), 1u);
  }
}

// ------------------------------------------------------------ offload consumer

TEST(Decap, OffloadConsumerGetsNeedsCsum) {
  for (bool v6 : {false, true}) {
    for (bool udp : {false, true}) {
      InnerSpec s{.v6 = v6, .udp = udp};
      const auto inner = make_inner(s);
      Decap d;
      Frame f(partial_hdr(s), inner);
      ASSERT_EQ(d.run(f), DecapStatus::kOk);
      ASSERT_EQ(d.out.size(), 1u);
      const OffloadInfo& o = d.out[0].offload;
      EXPECT_EQ(o.flags, OffloadInfo::kNeedsCsum);
      EXPECT_EQ(o.csum_start, v6 ? 54 : 34);
      EXPECT_EQ(o.csum_offset, udp ? 6 : 16);
      EXPECT_EQ(o.hdr_len, (v6 ? 54 : 34) + (udp ? 8 : 20));
      EXPECT_EQ(o.gso_type, OffloadInfo::kGsoNone);
      EXPECT_EQ(d.frame(), inner);  // checksum left partial for the consumer
      EXPECT_EQ(d.get(DecapCounter::kCsumPartial), 1u);
    }
  }
}

TEST(Decap, OffloadConsumerGetsGsoMetadataOnlyWhenPayloadExceedsMss) {
  struct Case {
    bool v6, udp;
    std::uint8_t type;
  };
  for (Case c :
       {Case{false, false, OffloadInfo::kGsoTcpv4}, Case{true, false, OffloadInfo::kGsoTcpv6},
        // UDP with MSS: UFO, one datagram cut into IP fragments (D24), never USO.
        Case{false, true, OffloadInfo::kGsoUdp}, Case{true, true, OffloadInfo::kGsoUdp}}) {
    InnerSpec s{.v6 = c.v6, .udp = c.udp, .payload = 4000};
    Decap d;
    Frame f(partial_hdr(s, 1000), make_inner(s));
    ASSERT_EQ(d.run(f), DecapStatus::kOk);
    ASSERT_EQ(d.out.size(), 1u);
    EXPECT_EQ(d.out[0].offload.gso_type, c.type);
    EXPECT_EQ(d.out[0].offload.gso_size, 1000);
    EXPECT_EQ(d.get(DecapCounter::kGsoDelivered), 1u);
  }
  InnerSpec s{.payload = 1000};  // payload == MSS: nothing to segment
  Decap d;
  Frame f(partial_hdr(s, 1000), make_inner(s));
  ASSERT_EQ(d.run(f), DecapStatus::kOk);
  EXPECT_EQ(d.out[0].offload.gso_type, OffloadInfo::kGsoNone);
  EXPECT_EQ(d.out[0].offload.gso_size, 0);
  EXPECT_EQ(d.get(DecapCounter::kGsoDelivered), 0u);
}

TEST(Decap, PartialFrameLinkPaddingIsNotDelivered) {
  InnerSpec s{.payload = 10};
  auto inner = make_inner(s);
  const auto exact = inner;
  inner.resize(inner.size() + 8, 0);
  Decap d;
  d.cfg.offload_consumer = false;
  Frame f(partial_hdr(s), inner);
  ASSERT_EQ(d.run(f), DecapStatus::kOk);
  EXPECT_EQ(d.out[0].len, exact.size());
  EXPECT_TRUE(checksums_ok(d.frame()));
}

// ------------------------------------------------------------ software fallbacks

TEST(Decap, WithoutConsumerPartialChecksumIsCompleted) {
  for (bool v6 : {false, true}) {
    for (bool udp : {false, true}) {
      InnerSpec s{.v6 = v6, .udp = udp};
      Decap d;
      d.cfg.offload_consumer = false;
      Frame f(partial_hdr(s), make_inner(s));
      ASSERT_EQ(d.run(f), DecapStatus::kOk);
      ASSERT_EQ(d.out.size(), 1u);
      EXPECT_EQ(d.out[0].offload, OffloadInfo{});
      EXPECT_TRUE(checksums_ok(d.frame()));
      auto full = make_inner({.v6 = v6, .udp = udp, .partial = false});
      EXPECT_EQ(d.frame(), full);
      EXPECT_EQ(d.get(DecapCounter::kSoftwareChecksum), 1u);
    }
  }
}

TEST(Decap, WithoutConsumerSuperPacketIsSegmented) {
  for (bool v6 : {false, true}) {
    InnerSpec s{.v6 = v6, .payload = 5000};
    Decap d;
    d.cfg.offload_consumer = false;
    Frame f(partial_hdr(s, 1200), make_inner(s));
    ASSERT_EQ(d.run(f), DecapStatus::kOk);
    ASSERT_EQ(d.out.size(), 5u);  // 4 x 1200 + 200
    std::size_t total = 0;
    for (std::size_t i = 0; i < d.out.size(); ++i) {
      auto piece = d.frame(i);
      EXPECT_TRUE(checksums_ok(piece)) << i;
      total += piece.size() - (v6 ? 74 : 54);
      EXPECT_EQ(d.out[i].offload, OffloadInfo{});
    }
    EXPECT_EQ(total, 5000u);
    EXPECT_EQ(d.get(DecapCounter::kSoftwareGso), 1u);
    EXPECT_EQ(d.get(DecapCounter::kFrames), 5u);
  }
}

// D24: STT's MSS on a UDP frame means UFO. Without a consumer the one
// datagram is cut into IP fragments (not into separate datagrams): only the
// first fragment carries the UDP header, all share one IP ID, MF is set on
// all but the last, and the fragments put back together give the original
// datagram with its checksum finished over all of it.
TEST(Decap, WithoutConsumerUdpSuperPacketIsFragmented) {
  for (bool v6 : {false, true}) {
    SCOPED_TRACE(v6 ? "IPv6" : "IPv4");
    InnerSpec s{.v6 = v6, .udp = true, .payload = 3000};
    Decap d;
    d.cfg.offload_consumer = false;
    Frame f(partial_hdr(s, 1000), make_inner(s));
    ASSERT_EQ(d.run(f), DecapStatus::kOk);
    ASSERT_EQ(d.out.size(), 4u);  // 3008 datagram bytes: 3 x 1000 + 8
    const std::size_t l4 = v6 ? 54 : 34;
    std::vector<std::uint8_t> dgram;
    std::uint32_t id = 0;
    for (std::size_t i = 0; i < d.out.size(); ++i) {
      SCOPED_TRACE(i);
      const auto p = d.frame(i);
      EXPECT_EQ(d.out[i].offload, OffloadInfo{});
      ASSERT_GT(p.size(), l4 + (v6 ? 8u : 0u));
      const bool last = i + 1 == d.out.size();
      std::uint16_t frag;
      std::uint32_t frag_id;
      std::size_t data_at;
      if (!v6) {
        EXPECT_EQ(wire::csum::fold(wire::csum::sum(&p[14], 20)), 0xffff);
        EXPECT_EQ(p[14 + 9], wire::kIpProtoUdp);
        EXPECT_EQ(wire::load_be16(&p[16]), p.size() - 14);
        frag = wire::load_be16(&p[20]);
        EXPECT_EQ((frag & 0x2000) != 0, !last);  // MF
        EXPECT_EQ(std::size_t{frag & 0x1fffu} * 8, dgram.size());
        frag_id = wire::load_be16(&p[18]);
        data_at = l4;
      } else {
        EXPECT_EQ(p[14 + 6], wire::kIpv6Fragment);
        EXPECT_EQ(wire::load_be16(&p[18]), p.size() - l4);
        EXPECT_EQ(p[l4], wire::kIpProtoUdp);
        frag = wire::load_be16(&p[l4 + 2]);
        EXPECT_EQ((frag & 1) != 0, !last);  // M
        EXPECT_EQ(std::size_t{frag & 0xfff8u}, dgram.size());
        frag_id = wire::load_be32(&p[l4 + 4]);
        data_at = l4 + 8;
      }
      if (i == 0) id = frag_id;
      EXPECT_EQ(frag_id, id);
      dgram.insert(dgram.end(), p.begin() + static_cast<std::ptrdiff_t>(data_at), p.end());
    }
    const auto full = make_inner({.v6 = v6, .udp = true, .payload = 3000, .partial = false});
    ASSERT_EQ(dgram.size(), 3008u);
    EXPECT_EQ(wire::load_be16(&dgram[4]), 3008);  // one datagram, its own length
    EXPECT_TRUE(
        std::equal(dgram.begin(), dgram.end(), full.begin() + static_cast<std::ptrdiff_t>(l4)));
    const std::uint8_t* ip = full.data() + 14;
    const std::uint32_t pseudo =
        v6 ? wire::csum::pseudo_v6(ip + 8, ip + 24, wire::kIpProtoUdp, 3008)
           : wire::csum::pseudo_v4(ip + 12, ip + 16, wire::kIpProtoUdp, 3008);
    EXPECT_EQ(wire::csum::fold(wire::csum::sum(dgram.data(), dgram.size(), pseudo)), 0xffff);
    EXPECT_EQ(d.get(DecapCounter::kSoftwareGso), 1u);
    EXPECT_EQ(d.get(DecapCounter::kFrames), 4u);
  }
}

TEST(Decap, SoftwareSegmentsCarryTheRestoredTag) {
  InnerSpec s{.payload = 3000};
  Hdr h = partial_hdr(s, 1000);
  h.vlan = 0xb064;
  Decap d;
  d.cfg.offload_consumer = false;
  Frame f(h, make_inner(s));
  ASSERT_EQ(d.run(f), DecapStatus::kOk);
  ASSERT_EQ(d.out.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    auto p = d.frame(i);
    EXPECT_EQ(wire::load_be16(&p[12]), 0x8100);
    EXPECT_EQ(wire::load_be16(&p[14]), 0xa064);
    EXPECT_TRUE(checksums_ok(p));
  }
}

TEST(Decap, TooSmallMssFailsSoftwareGsoAndIsCounted) {
  InnerSpec s{.payload = 60000};
  Decap d;
  d.cfg.offload_consumer = false;
  Frame f(partial_hdr(s, 100), make_inner(s));  // 600 pieces: more than the output holds
  EXPECT_EQ(d.run(f), DecapStatus::kDropped);
  EXPECT_EQ(d.get(DecapCounter::kDropGsoFailed) + d.get(DecapCounter::kDropOutputFull), 1u);
}

TEST(Decap, LargestSuperPacketAtMss256FitsTheOutput) {
  // The DecapOutput arena is sized for this case: 65517 bytes of inner frame
  // cut at MSS 256 is exactly kMaxFrames pieces.
  for (bool v6 : {false, true}) {
    InnerSpec s{.v6 = v6, .payload = wire::kSttMaxInner - (v6 ? 74u : 54u)};
    Decap d;
    d.cfg.offload_consumer = false;
    Frame f(partial_hdr(s, 256), make_inner(s));
    ASSERT_EQ(d.run(f), DecapStatus::kOk);
    ASSERT_EQ(d.out.size(), DecapOutput::kMaxFrames);
    std::size_t total = 0;
    for (std::size_t i = 0; i < d.out.size(); ++i) {
      auto piece = d.frame(i);
      ASSERT_TRUE(checksums_ok(piece)) << i;
      total += piece.size() - (v6 ? 74 : 54);
    }
    EXPECT_EQ(total, s.payload);
  }
}

TEST(Decap, MssWithoutPartialIsIgnored) {
  const auto inner = make_inner({.payload = 5000, .partial = false});
  Hdr h;
  h.mss = 1000;
  Decap d;
  d.cfg.offload_consumer = false;
  Frame f(h, inner);
  ASSERT_EQ(d.run(f), DecapStatus::kOk);
  ASSERT_EQ(d.out.size(), 1u);
  EXPECT_EQ(d.frame(), inner);
}

// ------------------------------------------------------------ VLAN

TEST(Decap, I7_VlanTagRestoredWithDeiZero) {
  const auto inner = make_inner({.partial = false});
  for (std::uint16_t word : {std::uint16_t{0xb064}, std::uint16_t{0xf000}, std::uint16_t{0x1ffe}}) {
    Hdr h;
    h.vlan = word;
    Decap d;
    Frame f(h, inner);
    ASSERT_EQ(d.run(f), DecapStatus::kOk);
    auto out = d.frame();
    ASSERT_EQ(out.size(), inner.size() + 4);
    EXPECT_TRUE(std::equal(inner.begin(), inner.begin() + 12, out.begin()));
    EXPECT_EQ(wire::load_be16(&out[12]), 0x8100);
    EXPECT_EQ(wire::load_be16(&out[14]), word & 0xefff) << std::hex << word;
    EXPECT_TRUE(std::equal(inner.begin() + 12, inner.end(), out.begin() + 16));
    // The payload was not moved: only the MACs went into the STT header space.
    EXPECT_EQ(d.out[0].data, f.rf.data + 14);
    EXPECT_EQ(d.get(DecapCounter::kVlanRestored), 1u);
  }
}

TEST(Decap, VlanFieldsIgnoredWithoutTciV) {
  const auto inner = make_inner({.partial = false});
  Hdr h;
  h.vlan = 0xefff;  // PCP 7, VID 4095, V clear
  Decap d;
  Frame f(h, inner);
  ASSERT_EQ(d.run(f), DecapStatus::kOk);
  EXPECT_EQ(d.frame(), inner);
}

TEST(Decap, VlanId4095IsDropped) {
  Hdr h;
  h.vlan = 0x1fff;
  Decap d;
  Frame f(h, make_inner({.partial = false}));
  EXPECT_EQ(d.run(f), DecapStatus::kDropped);
  EXPECT_EQ(d.get(DecapCounter::kDropVlanReserved), 1u);
}

TEST(Decap, TagShiftsOffloadOffsets) {
  InnerSpec s{.payload = 3000};
  Hdr h = partial_hdr(s, 1448);
  h.vlan = 0x1005;
  Decap d;
  Frame f(h, make_inner(s));
  ASSERT_EQ(d.run(f), DecapStatus::kOk);
  EXPECT_EQ(d.out[0].offload.csum_start, 38);
  EXPECT_EQ(d.out[0].offload.hdr_len, 58);
  EXPECT_EQ(d.out[0].offload.gso_size, 1448);
}

// ------------------------------------------------------------ ECN and DSCP

TEST(Decap, R26_EcnDecapsulationTable) {
  // RFC 6040 §4.2: rows inner, columns outer (Not-ECT, ECT(0), ECT(1), CE); -1 = drop.
  // Index order: 0 Not-ECT, 1 ECT(1), 2 ECT(0), 3 CE (the codepoint values).
  const int expect[4][4] = {
      /* inner Not-ECT */ {0, 0, 0, -1},
      /* inner ECT(1)  */ {1, 1, 1, 3},
      /* inner ECT(0)  */ {2, 1, 2, 3},
      /* inner CE      */ {3, 3, 3, 3},
  };
  for (std::uint8_t in = 0; in < 4; ++in) {
    for (std::uint8_t outer = 0; outer < 4; ++outer) {
      for (bool v6 : {false, true}) {
        const auto inner =
            make_inner({.v6 = v6, .tos = static_cast<std::uint8_t>(0x28 | in), .partial = false});
        Decap d;
        Frame f(Hdr{}, inner, outer, false);
        const int want = expect[in][outer];
        if (want < 0) {
          EXPECT_EQ(d.run(f), DecapStatus::kDropped);
          EXPECT_EQ(d.get(DecapCounter::kDropEcnNotEct), 1u);
          continue;
        }
        ASSERT_EQ(d.run(f), DecapStatus::kOk);
        auto out = d.frame();
        const std::uint8_t tos =
            v6 ? static_cast<std::uint8_t>(wire::load_be16(&out[14]) >> 4) : out[15];
        EXPECT_EQ(tos & 3, want) << int(in) << " " << int(outer) << " v6=" << v6;
        EXPECT_EQ(tos >> 2, 0x28 >> 2);  // pipe: DSCP untouched
        if (!v6) {
          EXPECT_TRUE(ipv4_header_ok(out));
        }
        EXPECT_TRUE(checksums_ok(out));
      }
    }
  }
}

TEST(Decap, R27_CeFromAnySegmentMarksInnerEct) {
  const auto inner = make_inner({.tos = wire::kEcnEct0, .partial = false});
  Decap d;
  Frame f(Hdr{}, inner, wire::kEcnEct0, /*ce=*/true);
  ASSERT_EQ(d.run(f), DecapStatus::kOk);
  auto out = d.frame();
  EXPECT_EQ(out[15] & 3, wire::kEcnCe);
  EXPECT_TRUE(ipv4_header_ok(out));
  EXPECT_EQ(d.get(DecapCounter::kEcnCeMarked), 1u);
}

TEST(Decap, R26_OuterCeOverNotEctIsDropped) {
  Decap d;
  Frame f(Hdr{}, make_inner({.partial = false}), 0, /*ce=*/true);
  EXPECT_EQ(d.run(f), DecapStatus::kDropped);
  EXPECT_EQ(d.get(DecapCounter::kDropEcnNotEct), 1u);
  Decap off;
  off.cfg.ecn = false;
  Frame g(Hdr{}, make_inner({.partial = false}), 0, /*ce=*/true);
  EXPECT_EQ(off.run(g), DecapStatus::kOk);
}

TEST(Decap, R25_UniformDscpComesFromTheFirstSegment) {
  for (bool v6 : {false, true}) {
    const std::uint8_t ef = 46 << 2, af11 = 10 << 2;
    const auto inner = make_inner({.v6 = v6, .tos = ef | wire::kEcnEct0, .partial = false});
    Decap d;
    d.cfg.dscp_mode = DscpMode::kUniform;
    Frame f(Hdr{}, inner, af11 | wire::kEcnEct0);
    ASSERT_EQ(d.run(f), DecapStatus::kOk);
    auto out = d.frame();
    const std::uint8_t tos =
        v6 ? static_cast<std::uint8_t>(wire::load_be16(&out[14]) >> 4) : out[15];
    EXPECT_EQ(tos, af11 | wire::kEcnEct0);
    if (!v6) {
      EXPECT_TRUE(ipv4_header_ok(out));
    }
    EXPECT_EQ(d.get(DecapCounter::kDscpRewritten), 1u);
  }
}

TEST(Decap, R24_PipeModeLeavesDscp) {
  const auto inner = make_inner({.tos = 46 << 2, .partial = false});
  Decap d;
  d.cfg.dscp_mode = DscpMode::kPipe;
  Frame f(Hdr{}, inner, 10 << 2);
  ASSERT_EQ(d.run(f), DecapStatus::kOk);
  EXPECT_EQ(d.frame(), inner);
  EXPECT_EQ(d.get(DecapCounter::kDscpRewritten), 0u);
}

TEST(Decap, EcnAndDscpOnAPartialFrameKeepTheChecksumFinishable) {
  InnerSpec s{.tos = wire::kEcnEct1};
  Decap d;
  d.cfg.offload_consumer = false;
  d.cfg.dscp_mode = DscpMode::kUniform;
  Frame f(partial_hdr(s), make_inner(s), 0xb8, true);
  ASSERT_EQ(d.run(f), DecapStatus::kOk);
  auto out = d.frame();
  EXPECT_EQ(out[15], 0xb8 | wire::kEcnCe);
  EXPECT_TRUE(checksums_ok(out));
}

TEST(Decap, OutputFullIsCounted) {
  Decap d;
  const auto inner = make_inner({.partial = false});
  Frame f(Hdr{}, inner);
  d.out.clear();
  for (std::size_t i = 0; i < DecapOutput::kMaxFrames; ++i) {
    Frame g(Hdr{}, inner);
    ASSERT_EQ(decapsulate(g.rf, d.cfg, d.out, d.counters), DecapStatus::kOk);
  }
  EXPECT_EQ(decapsulate(f.rf, d.cfg, d.out, d.counters), DecapStatus::kDropped);
  EXPECT_EQ(d.get(DecapCounter::kDropOutputFull), 1u);
}

}  // namespace
}  // namespace stt::core
