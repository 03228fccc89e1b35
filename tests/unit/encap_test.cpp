// encapsulate(): the draft's transmit requirements (R2-R26, I1-I11), VLAN
// handling, the GSO form, and every counter. Test names carry the
// requirement they check so docs/conformance.md can cite them.

#include "core/encap.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <utility>
#include <vector>

#include "core/buffer.hpp"
#include "digest_vectors.hpp"
#include "vector_tunnel.hpp"
#include "wire/bytes.hpp"
#include "wire/checksum.hpp"
#include "wire/headers.hpp"
#include "wire/parse.hpp"

// FrameSpec is filled with designated initializers that name only the
// fields a test cares about; the rest keep their defaults on purpose.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace stt::core {
namespace {

namespace csum = wire::csum;
using wire::load_be16;
using wire::load_be32;

// ------------------------------------------------------------ inner frames

struct FrameSpec {
  bool v6 = false;
  std::uint8_t proto = wire::kIpProtoTcp;  // TCP, UDP, or anything else (no L4 header)
  std::size_t payload = 100;
  std::uint8_t tos = 0;  // IPv4 TOS / IPv6 traffic class
  std::uint8_t tcp_flags = wire::kTcpAck | wire::kTcpPsh;
  std::vector<std::pair<std::uint16_t, std::uint16_t>> tags;  // (TPID, TCI) outermost first
  std::size_t v6_ext = 0;  // bytes of IPv6 destination options (multiple of 8)
  std::uint16_t sport = 40000;
  std::uint32_t src_host = 1;  // last byte(s) of the inner source address
};

struct Frame {
  std::vector<std::uint8_t> bytes;
  std::uint16_t l4 = 0;  // L4 header offset
  std::uint16_t csum_offset = 0;
};

// The L4 checksum holds the folded pseudo-header sum (NEEDS_CSUM form).
Frame make_frame(const FrameSpec& s) {
  Frame fr;
  auto& f = fr.bytes;
  for (auto b : test::kInnerDstMac)
    f.push_back(b);
  for (auto b : test::kInnerSrcMac)
    f.push_back(b);
  for (auto [tpid, tci] : s.tags) {
    f.push_back(static_cast<std::uint8_t>(tpid >> 8));
    f.push_back(static_cast<std::uint8_t>(tpid));
    f.push_back(static_cast<std::uint8_t>(tci >> 8));
    f.push_back(static_cast<std::uint8_t>(tci));
  }
  const std::size_t et = f.size();
  f.resize(et + 2);
  wire::store_be16(&f[et], s.v6 ? wire::kEtherTypeIpv6 : wire::kEtherTypeIpv4);
  const std::size_t l3 = f.size();
  const std::size_t ip_len = s.v6 ? 40 + s.v6_ext : 20;
  const bool tcp = s.proto == wire::kIpProtoTcp, udp = s.proto == wire::kIpProtoUdp;
  const std::size_t l4_len = tcp ? 20 : udp ? 8 : 0;
  const std::uint32_t l4_total = static_cast<std::uint32_t>(l4_len + s.payload);
  f.resize(l3 + ip_len + l4_len + s.payload, 0);
  std::uint8_t* ip = &f[l3];
  std::uint32_t ps;
  if (s.v6) {
    wire::store_be32(ip, 0x60000000u | std::uint32_t{s.tos} << 20 | 0x12345);
    wire::store_be16(ip + 4, static_cast<std::uint16_t>(s.v6_ext + l4_total));
    ip[6] = s.v6_ext ? wire::kIpv6DestOpts : s.proto;
    ip[7] = 64;
    for (int i = 0; i < 16; ++i)
      ip[8 + i] = test::kOuterSrcV6[i], ip[24 + i] = test::kOuterDstV6[i];
    wire::store_be32(ip + 8 + 12, s.src_host);
    if (s.v6_ext) {
      ip[40] = s.proto;
      ip[41] = static_cast<std::uint8_t>(s.v6_ext / 8 - 1);
      ip[42] = 1;  // PadN covering the rest
      ip[43] = static_cast<std::uint8_t>(s.v6_ext - 4);
    }
    ps = csum::pseudo_v6(ip + 8, ip + 24, s.proto, l4_total);
  } else {
    ip[0] = 0x45;
    ip[1] = s.tos;
    wire::store_be16(ip + 2, static_cast<std::uint16_t>(20 + l4_total));
    wire::store_be16(ip + 4, 0x7000);
    wire::store_be16(ip + 6, 0x4000);
    ip[8] = 64;
    ip[9] = s.proto;
    for (int i = 0; i < 4; ++i)
      ip[12 + i] = test::kInnerSrcV4[i], ip[16 + i] = test::kInnerDstV4[i];
    wire::store_be16(ip + 12, static_cast<std::uint16_t>(s.src_host));
    wire::store_be16(ip + 10, csum::ipv4_header(ip, 20));
    ps = csum::pseudo_v4(ip + 12, ip + 16, s.proto, l4_total);
  }
  std::uint8_t* l4 = ip + ip_len;
  fr.l4 = static_cast<std::uint16_t>(l3 + ip_len);
  if (tcp || udp) {
    wire::store_be16(l4, s.sport);
    wire::store_be16(l4 + 2, 80);
  }
  if (tcp) {
    wire::store_be32(l4 + 4, 1000);
    l4[12] = 0x50;
    l4[13] = s.tcp_flags;
    wire::store_be16(l4 + 14, 1000);
    wire::store_be16(l4 + 16, csum::fold(ps));
    fr.csum_offset = 16;
  } else if (udp) {
    wire::store_be16(l4 + 4, static_cast<std::uint16_t>(l4_total));
    wire::store_be16(l4 + 6, csum::fold(ps));
    fr.csum_offset = 6;
  }
  for (std::size_t i = 0; i < s.payload; ++i)
    l4[l4_len + i] = static_cast<std::uint8_t>(i * 13 + 1);
  return fr;
}

OffloadInfo needs_csum(const Frame& f) {
  OffloadInfo o;
  o.flags = OffloadInfo::kNeedsCsum;
  o.csum_start = f.l4;
  o.csum_offset = f.csum_offset;
  return o;
}

OffloadInfo gso(const Frame& f, std::uint8_t type, std::uint16_t size) {
  OffloadInfo o = needs_csum(f);
  o.gso_type = type;
  o.gso_size = size;
  return o;
}

std::vector<std::uint8_t> arp_frame() {
  std::vector<std::uint8_t> f(42, 0);
  std::fill(f.begin(), f.begin() + 6, 0xff);
  for (int i = 0; i < 6; ++i)
    f[6 + i] = test::kInnerSrcMac[i];
  wire::store_be16(&f[12], wire::kEtherTypeArp);
  for (std::size_t i = 14; i < f.size(); ++i)
    f[i] = static_cast<std::uint8_t>(i);
  return f;
}

// ------------------------------------------------------------ running it

TunnelConfig config(bool v6, std::uint16_t mtu = 1500) {
  return test::vector_tunnel(v6, mtu);
}

// One decoded outer packet.
struct Outer {
  std::vector<std::uint8_t> bytes;  // header + payload, contiguous
  OffloadInfo gso;
  bool v6 = false;
  std::size_t l3 = 14, l4 = 34, payload = 54;
  std::uint8_t tos() const {
    return v6 ? static_cast<std::uint8_t>(load_be32(&bytes[l3]) >> 20) : bytes[l3 + 1];
  }
  std::uint32_t flow_label() const { return load_be32(&bytes[l3]) & 0xfffff; }
  std::uint16_t ip_len_field() const { return load_be16(&bytes[l3 + (v6 ? 4 : 2)]); }
  std::uint16_t ip_id() const { return load_be16(&bytes[l3 + 4]); }
  std::uint16_t frag() const { return load_be16(&bytes[l3 + 6]); }
  std::uint8_t proto() const { return bytes[l3 + (v6 ? 6 : 9)]; }
  std::uint8_t ttl() const { return bytes[l3 + (v6 ? 7 : 8)]; }
  std::uint16_t sport() const { return load_be16(&bytes[l4]); }
  std::uint16_t dport() const { return load_be16(&bytes[l4 + 2]); }
  std::uint32_t seq() const { return load_be32(&bytes[l4 + 4]); }
  std::uint32_t ack() const { return load_be32(&bytes[l4 + 8]); }
  std::uint8_t doff() const { return bytes[l4 + 12]; }
  std::uint8_t flags() const { return bytes[l4 + 13]; }
  std::uint16_t window() const { return load_be16(&bytes[l4 + 14]); }
  std::uint16_t urgent() const { return load_be16(&bytes[l4 + 18]); }
  std::size_t payload_len() const { return bytes.size() - payload; }
  // Outer TCP checksum verifies (only meaningful for finished segments).
  bool tcp_ok() const {
    const std::uint32_t n = static_cast<std::uint32_t>(bytes.size() - l4);
    const std::uint32_t ps = v6 ? csum::pseudo_v6(&bytes[l3 + 8], &bytes[l3 + 24], 6, n)
                                : csum::pseudo_v4(&bytes[l3 + 12], &bytes[l3 + 16], 6, n);
    return csum::fold(csum::sum(&bytes[l4], n, ps)) == 0xffff;
  }
  bool ip_ok() const {
    return v6 || csum::ipv4_header(&bytes[l3], 20) == load_be16(&bytes[l3 + 10]);
  }
};

// Everything one STT frame became, in order, plus the frame reassembled.
struct SttOut {
  std::vector<Outer> packets;
  std::vector<std::uint8_t> frame;  // STT header + inner frame
  std::uint8_t flags() const { return frame[1]; }
  std::uint8_t l4_offset() const { return frame[2]; }
  std::uint16_t mss() const { return load_be16(&frame[4]); }
  std::uint16_t vlan_word() const { return load_be16(&frame[6]); }
  std::uint64_t context() const { return wire::load_be64(&frame[8]); }
  std::vector<std::uint8_t> inner() const { return {frame.begin() + 18, frame.end()}; }
};

struct Result {
  EncapStatus status{};
  std::vector<Outer> packets;
  std::vector<SttOut> frames;  // grouped by packet ID
  CounterSet<EncapCounter> counters;
  std::uint64_t c(EncapCounter e) const { return counters.get(e); }
};

class Encapsulator {
 public:
  explicit Encapsulator(const TunnelConfig& cfg, std::uint32_t pid = 100,
                        std::uint16_t ip_id = 0x100)
      : tunnel(cfg, pid, ip_id), batch(std::make_unique<TxBatch>()) {}

  Result run(std::span<const std::uint8_t> inner, const EncapRequest& req = {},
             TxForm form = TxForm::kSegmented) {
    buf.reset();
    std::memcpy(buf.data(), inner.data(), inner.size());
    buf.set_size(inner.size());
    batch->clear();
    Result r;
    r.status = encapsulate(tunnel, buf.frame(), req, form, *batch, r.counters);
    collect(r);
    return r;
  }

  void collect(Result& r) {
    for (const auto& p : *batch) {
      Outer o;
      o.bytes.assign(p.header, p.header + p.header_len);
      o.bytes.insert(o.bytes.end(), p.payload, p.payload + p.payload_len);
      o.gso = p.gso;
      o.v6 = load_be16(&o.bytes[12]) == wire::kEtherTypeIpv6;
      o.l4 = o.v6 ? 54 : 34;
      o.payload = o.l4 + 20;
      r.packets.push_back(o);
      if (r.frames.empty() || r.frames.back().packets.front().ack() != o.ack())
        r.frames.emplace_back();
      r.frames.back().packets.push_back(o);
      r.frames.back().frame.insert(r.frames.back().frame.end(), o.bytes.begin() + o.payload,
                                   o.bytes.end());
    }
  }

  Tunnel tunnel;
  std::unique_ptr<TxBatch> batch;
  PacketBuffer buf;
};

// ------------------------------------------------------------ STT header fields

// A Tunnel refuses an MTU with no room for an STT segment behind its outer
// IP and TCP headers (segment_payload() would wrap) with a clear error.
TEST(Tunnel, RefusesAnMtuItCannotUse) {
  for (const bool v6 : {false, true}) {
    TunnelConfig c = config(v6, 1500);
    const std::uint16_t least = v6 ? 68 : 48;
    c.mtu = static_cast<std::uint16_t>(least - 1);
    EXPECT_NE(Tunnel::config_error(c).find("leaves no room"), std::string::npos);
    EXPECT_THROW(Tunnel(c, 1), std::invalid_argument);
    c.mtu = least;
    EXPECT_EQ(Tunnel::config_error(c), "");
    EXPECT_EQ(Tunnel(c, 1).segment_payload(), 8u);
  }
}

TEST(Encap, R2_NonIpHasZeroL4Offset) {
  Encapsulator e(config(false));
  Result r = e.run(arp_frame());
  ASSERT_EQ(r.status, EncapStatus::kOk);
  ASSERT_EQ(r.frames.size(), 1u);
  EXPECT_EQ(r.frames[0].l4_offset(), 0);
  EXPECT_EQ(r.frames[0].flags(), 0);
  EXPECT_EQ(r.frames[0].inner(), arp_frame());
}

// Over a mix of frames: reserved byte (R3), reserved flag bits (R7) and
// padding (R9) are always zero, and C and P never appear together (I5).
TEST(Encap, R3_R7_R9_I5_ReservedBitsZeroOnEveryFrame) {
  Encapsulator e(config(false));
  std::vector<std::pair<std::vector<std::uint8_t>, OffloadInfo>> inputs;
  inputs.push_back({arp_frame(), {}});
  Frame tcp = make_frame({});
  inputs.push_back({tcp.bytes, needs_csum(tcp)});
  OffloadInfo both = needs_csum(tcp);
  both.flags |= OffloadInfo::kDataValid;
  inputs.push_back({tcp.bytes, both});
  Frame big = make_frame({.payload = 5000});
  inputs.push_back({big.bytes, gso(big, OffloadInfo::kGsoTcpv4, 1448)});
  OffloadInfo ecn = gso(big, OffloadInfo::kGsoTcpv4 | OffloadInfo::kGsoEcn, 1448);
  inputs.push_back({big.bytes, ecn});
  Frame udp = make_frame({.proto = wire::kIpProtoUdp, .payload = 300});
  OffloadInfo valid;
  valid.flags = OffloadInfo::kDataValid;
  inputs.push_back({udp.bytes, valid});
  for (const auto& [bytes, off] : inputs) {
    EncapRequest req;
    req.offload = off;
    req.vlan = VlanTci{7, 4094};
    Result r = e.run(bytes, req);
    ASSERT_EQ(r.status, EncapStatus::kOk);
    for (const auto& f : r.frames) {
      EXPECT_EQ(f.frame[0], 0);                          // version
      EXPECT_EQ(f.frame[3], 0);                          // R3
      EXPECT_EQ(f.flags() & wire::kSttFlagReserved, 0);  // R7
      EXPECT_EQ(load_be16(&f.frame[16]), 0);             // R9
      EXPECT_NE(f.flags() & 0x03, 0x03);                 // I5
      EXPECT_EQ(f.vlan_word(), 0xf000 | 4094);
    }
  }
}

TEST(Encap, I5_DataValidWithNeedsCsumSendsPOnly) {
  Encapsulator e(config(false));
  Frame tcp = make_frame({});
  EncapRequest req;
  req.offload = needs_csum(tcp);
  req.offload.flags |= OffloadInfo::kDataValid;
  Result r = e.run(tcp.bytes, req);
  ASSERT_EQ(r.frames.size(), 1u);
  EXPECT_EQ(r.frames[0].flags(),
            wire::kSttFlagCsumPartial | wire::kSttFlagIpv4 | wire::kSttFlagTcp);
}

TEST(Encap, R5_MssZeroWithoutSegmentationOffload) {
  Encapsulator e(config(false));
  Frame small = make_frame({.payload = 1000});
  EncapRequest req;
  req.offload = needs_csum(small);  // partial, no GSO
  Result r = e.run(small.bytes, req);
  ASSERT_EQ(r.frames.size(), 1u);
  EXPECT_EQ(r.frames[0].flags() & wire::kSttFlagCsumPartial, wire::kSttFlagCsumPartial);
  EXPECT_EQ(r.frames[0].mss(), 0);
  // A GSO frame whose payload already fits its gso_size is not a super-packet.
  req.offload = gso(small, OffloadInfo::kGsoTcpv4, 1000);
  r = e.run(small.bytes, req);
  ASSERT_EQ(r.frames.size(), 1u);
  EXPECT_EQ(r.frames[0].flags(), 0x0e);
  EXPECT_EQ(r.frames[0].mss(), 0);
  EXPECT_EQ(r.c(EncapCounter::kOffloaded), 1u);
  // Plain ICMP.
  r = e.run(test::vec_a::inner_frame());
  EXPECT_EQ(r.frames[0].mss(), 0);
}

TEST(Encap, R6_SuperPacketSetsPMssAndOffloadFields) {
  struct Case {
    FrameSpec spec;
    std::uint8_t type;
    std::uint8_t flags;
    std::uint8_t l4;
  };
  const Case cases[] = {
      {{.payload = 4000}, OffloadInfo::kGsoTcpv4, 0x0e, 34},
      {{.v6 = true, .payload = 4000}, OffloadInfo::kGsoTcpv6, 0x0a, 54},
      {{.proto = wire::kIpProtoUdp, .payload = 4000}, OffloadInfo::kGsoUdp, 0x06, 34},
      {{.v6 = true, .proto = wire::kIpProtoUdp, .payload = 4000}, OffloadInfo::kGsoUdp, 0x02, 54},
  };
  for (const auto& c : cases) {
    Encapsulator e(config(false));
    Frame f = make_frame(c.spec);
    EncapRequest req;
    req.offload = gso(f, c.type, 1400);
    Result r = e.run(f.bytes, req);
    ASSERT_EQ(r.status, EncapStatus::kOk);
    ASSERT_EQ(r.frames.size(), 1u);
    EXPECT_EQ(r.frames[0].flags(), c.flags);
    EXPECT_EQ(r.frames[0].mss(), 1400);
    EXPECT_EQ(r.frames[0].l4_offset(), c.l4);
    EXPECT_EQ(r.frames[0].inner(), f.bytes) << "the payload travels untouched";
    EXPECT_EQ(r.c(EncapCounter::kOffloaded), 1u);
  }
}

TEST(Encap, R11_NotOffloadedFieldsZero) {
  Encapsulator e(config(false));
  Frame udp = make_frame({.proto = wire::kIpProtoUdp});
  EncapRequest req;
  req.offload.flags = OffloadInfo::kDataValid;
  Result r = e.run(udp.bytes, req);
  ASSERT_EQ(r.frames.size(), 1u);
  EXPECT_EQ(r.frames[0].flags(), wire::kSttFlagCsumVerified);  // C alone
  EXPECT_EQ(r.frames[0].l4_offset(), 0);
  EXPECT_EQ(r.frames[0].mss(), 0);
  r = e.run(udp.bytes);
  EXPECT_EQ(r.frames[0].flags(), 0);
  EXPECT_EQ(r.frames[0].l4_offset(), 0);
}

// ------------------------------------------------------------ TCP-like header

TEST(Encap, R13_SourcePortConstantAcrossSegments) {
  Encapsulator e(config(false));
  Frame f = make_frame({.payload = 60000});
  Result r = e.run(f.bytes);
  ASSERT_EQ(r.packets.size(), (60054u + 18 + 1459) / 1460);
  for (const auto& p : r.packets)
    EXPECT_EQ(p.sport(), r.packets[0].sport());
}

TEST(Encap, R15_PacketIdConstantAcrossSegments) {
  Encapsulator e(config(true));
  Frame f = make_frame({.payload = 10000});
  Result r = e.run(f.bytes);
  ASSERT_GE(r.packets.size(), 7u);
  ASSERT_EQ(r.frames.size(), 1u);
  for (const auto& p : r.packets)
    EXPECT_EQ(p.ack(), 100u);
}

TEST(Encap, R14_SourcePortConstantPerFlow) {
  Encapsulator e(config(false));
  std::set<std::uint16_t> ports;
  for (std::size_t payload : {0, 10, 1000, 3000, 20000}) {
    Frame f = make_frame(
        {.payload = payload, .tcp_flags = static_cast<std::uint8_t>(payload & 1 ? 0x18 : 0x10)});
    Result r = e.run(f.bytes);
    for (const auto& p : r.packets)
      ports.insert(p.sport());
  }
  EXPECT_EQ(ports.size(), 1u);
  // The software-GSO pieces of one flow share it too.
  Frame f = make_frame({.payload = 5000});
  EncapRequest req;
  req.offload = gso(f, OffloadInfo::kGsoTcpv4 | OffloadInfo::kGsoEcn, 1000);
  Result r = e.run(f.bytes, req);
  ASSERT_EQ(r.frames.size(), 5u);
  for (const auto& p : r.packets)
    EXPECT_EQ(p.sport(), *ports.begin());
}

// 10k distinct inner flows over 64 equal bins of [49152, 65535]:
// chi-square with 63 degrees of freedom stays below 103.4 (p = 0.001).
TEST(Encap, R14_I12_SourcePortsSpreadUniformly) {
  const TunnelConfig cfg = config(false);
  constexpr int kFlows = 10000, kBins = 64;
  std::vector<int> bins(kBins, 0);
  Frame f = make_frame({.payload = 0});
  wire::PacketLayout lay;
  for (int i = 0; i < kFlows; ++i) {
    wire::store_be16(&f.bytes[f.l4], static_cast<std::uint16_t>(30000 + i % 2000));
    wire::store_be16(&f.bytes[26 + 2], static_cast<std::uint16_t>(i / 2000));  // src address
    ASSERT_EQ(wire::parse_ethernet(f.bytes.data(), f.bytes.size(), &lay), wire::ParseError::kOk);
    const std::uint16_t port = flow_source_port(f.bytes.data(), f.bytes.size(), lay, cfg);
    ASSERT_GE(port, cfg.src_port_min);
    ++bins[(port - 49152) / (16384 / kBins)];
  }
  const double expect = double(kFlows) / kBins;
  double chi2 = 0;
  for (int b : bins)
    chi2 += (b - expect) * (b - expect) / expect;
  EXPECT_LT(chi2, 103.4);
}

TEST(Encap, R14_SourcePortNeverZeroOrSttPort) {
  TunnelConfig cfg = config(false);
  cfg.src_port_min = 7471;
  cfg.src_port_max = 7472;
  Frame f = make_frame({});
  wire::PacketLayout lay;
  for (int i = 0; i < 200; ++i) {
    wire::store_be16(&f.bytes[f.l4], static_cast<std::uint16_t>(i));
    ASSERT_EQ(wire::parse_ethernet(f.bytes.data(), f.bytes.size(), &lay), wire::ParseError::kOk);
    EXPECT_EQ(flow_source_port(f.bytes.data(), f.bytes.size(), lay, cfg), 7472);
  }
  cfg.src_port_min = 0;
  cfg.src_port_max = 0;
  EXPECT_NE(flow_source_port(f.bytes.data(), f.bytes.size(), lay, cfg), 0);
}

TEST(Encap, R16_PacketIdsDifferAcrossFrames) {
  Encapsulator e(config(false), 0xfffffff0u);
  std::set<std::uint32_t> ids;
  for (int i = 0; i < 1000; ++i) {
    Frame f = make_frame(
        {.payload = static_cast<std::size_t>(i % 3000), .sport = static_cast<std::uint16_t>(i)});
    Result r = e.run(f.bytes);
    ASSERT_FALSE(r.frames.empty());
    for (const auto& fr : r.frames)
      ids.insert(fr.packets[0].ack());
  }
  EXPECT_EQ(ids.size(), 1000u);  // across the 32-bit wrap, from different flows
}

// Window and Urgent Pointer 0 (R18); PSH only on the last segment (R20);
// ACK on every segment (R21); no other flag (R22); dport 7471 (I1);
// protocol 6 (I2); SEQ = L<<16 | O with contiguous offsets (I3); every
// segment within the MTU (I4); data offset 5, valid checksums, DF and TTL.
void check_segments(const Result& r, std::size_t mtu) {
  for (const auto& fr : r.frames) {
    const std::uint32_t L = static_cast<std::uint32_t>(fr.frame.size());
    std::uint32_t next = 0;
    for (std::size_t i = 0; i < fr.packets.size(); ++i) {
      const Outer& p = fr.packets[i];
      const bool last = i + 1 == fr.packets.size();
      SCOPED_TRACE(i);
      EXPECT_EQ(p.window(), 0);
      EXPECT_EQ(p.urgent(), 0);
      EXPECT_EQ(p.flags(), last ? 0x18 : 0x10);
      EXPECT_EQ(p.dport(), wire::kSttPort);
      EXPECT_EQ(p.proto(), wire::kIpProtoTcp);
      EXPECT_EQ(p.seq(), L << 16 | next);
      next += static_cast<std::uint32_t>(p.payload_len());
      EXPECT_LE(p.bytes.size() - 14, mtu);
      EXPECT_EQ(p.doff(), 0x50);
      EXPECT_TRUE(p.tcp_ok());
      EXPECT_TRUE(p.ip_ok());
      EXPECT_EQ(p.ttl(), 64);
      if (!p.v6) {
        EXPECT_EQ(p.frag(), wire::kIpv4FlagDf);
      }
      EXPECT_EQ(p.ip_len_field(), p.bytes.size() - 14 - (p.v6 ? 40 : 0));
    }
    EXPECT_EQ(next, L);
  }
}

TEST(Encap, R18_R20_R21_R22_I1_I2_I3_I4_SegmentHeadersIpv4) {
  for (std::uint16_t mtu : {576, 1500, 9000}) {
    Encapsulator e(config(false, mtu));
    for (std::size_t payload : {0, 1388, 1389, 5000, 65463}) {
      Frame f = make_frame({.payload = payload});
      Result r = e.run(f.bytes);
      ASSERT_EQ(r.status, EncapStatus::kOk) << payload;
      check_segments(r, mtu);
      ASSERT_EQ(r.frames.size(), 1u);
      EXPECT_EQ(r.frames[0].inner(), f.bytes);
    }
  }
}

TEST(Encap, R18_R20_R21_R22_I1_I2_I3_I4_SegmentHeadersIpv6) {
  for (std::uint16_t mtu : {1280, 1500}) {
    Encapsulator e(config(true, mtu));
    for (std::size_t payload : {0, 1368, 5000, 65000}) {
      Frame f = make_frame({.v6 = true, .payload = payload});
      Result r = e.run(f.bytes);
      ASSERT_EQ(r.status, EncapStatus::kOk) << payload;
      check_segments(r, mtu);
      EXPECT_EQ(r.frames[0].inner(), f.bytes);
    }
  }
}

TEST(Encap, OuterIpv4IdsConsecutivePerSegment) {
  Encapsulator e(config(false), 1, 0xfffe);
  Frame f = make_frame({.payload = 4000});
  Result r = e.run(f.bytes);
  ASSERT_EQ(r.packets.size(), 3u);
  EXPECT_EQ(r.packets[0].ip_id(), 0xfffe);
  EXPECT_EQ(r.packets[1].ip_id(), 0xffff);
  EXPECT_EQ(r.packets[2].ip_id(), 0x0000);
  r = e.run(f.bytes);
  EXPECT_EQ(r.packets[0].ip_id(), 0x0001);
}

TEST(Encap, DfFollowsConfig) {
  TunnelConfig cfg = config(false);
  cfg.df = false;
  cfg.ttl = 9;
  Encapsulator e(cfg);
  Result r = e.run(test::vec_a::inner_frame());
  EXPECT_EQ(r.packets[0].frag(), 0);
  EXPECT_EQ(r.packets[0].ttl(), 9);
}

// ------------------------------------------------------------ DSCP / ECN / flow label

TEST(Encap, R24_UniformCopiesInnerDscpPipeUsesConfigured) {
  Frame f = make_frame({.tos = 0xb8 | wire::kEcnEct0});
  TunnelConfig cfg = config(false);
  Encapsulator uniform(cfg);
  EXPECT_EQ(uniform.run(f.bytes).packets[0].tos(), 0xb8 | wire::kEcnEct0);
  cfg.dscp_mode = DscpMode::kPipe;
  cfg.pipe_dscp = 10;  // AF11
  Encapsulator pipe(cfg);
  Result r = pipe.run(f.bytes);
  EXPECT_EQ(r.packets[0].tos(), (10 << 2) | wire::kEcnEct0);
  EXPECT_EQ(r.frames[0].inner(), f.bytes) << "pipe leaves the inner header alone";
  // Non-IP: DSCP 0 in uniform mode.
  EXPECT_EQ(uniform.run(arp_frame()).packets[0].tos(), 0);
}

TEST(Encap, R26_EcnNormalModeCopiesCompatModeNotEct) {
  TunnelConfig cfg = config(true);
  Encapsulator normal(cfg);
  cfg.ecn_mode = EcnMode::kCompat;
  Encapsulator compat(cfg);
  for (std::uint8_t ecn : {wire::kEcnNotEct, wire::kEcnEct1, wire::kEcnEct0, wire::kEcnCe}) {
    Frame f =
        make_frame({.v6 = true, .payload = 4000, .tos = static_cast<std::uint8_t>(0x28 | ecn)});
    Result n = normal.run(f.bytes);
    Result c = compat.run(f.bytes);
    ASSERT_EQ(n.packets.size(), 3u);
    for (const auto& p : n.packets)
      EXPECT_EQ(p.tos(), 0x28 | ecn);  // every segment
    for (const auto& p : c.packets)
      EXPECT_EQ(p.tos(), 0x28);
  }
}

TEST(Encap, Ipv6FlowLabelFromFlowHashNonzeroAndConstant) {
  Encapsulator e(config(true));
  std::set<std::uint32_t> labels;
  for (int i = 0; i < 50; ++i) {
    Frame f = make_frame({.payload = 3000, .sport = static_cast<std::uint16_t>(i)});
    Result r = e.run(f.bytes);
    for (const auto& p : r.packets) {
      EXPECT_EQ(p.flow_label(), r.packets[0].flow_label());
      EXPECT_NE(p.flow_label(), 0u);
    }
    labels.insert(r.packets[0].flow_label());
  }
  EXPECT_GE(labels.size(), 45u);  // distinct flows get (almost always) distinct labels
}

// ------------------------------------------------------------ VLAN

TEST(Encap, I6_SingleTagMovedToSttHeader) {
  Encapsulator e(config(false));
  Frame tagged = make_frame({.payload = 200, .tags = {{0x8100, 0x6123}}});  // PCP 3, VID 0x123
  Frame plain = make_frame({.payload = 200});
  EncapRequest req;
  req.offload = needs_csum(tagged);
  Result r = e.run(tagged.bytes, req);
  ASSERT_EQ(r.status, EncapStatus::kOk);
  EXPECT_EQ(r.frames[0].vlan_word(), 0x7123);   // PCP 3, TCI.V, VID 0x123
  EXPECT_EQ(r.frames[0].inner(), plain.bytes);  // untagged, checksum still partial
  EXPECT_EQ(r.frames[0].flags(), 0x0e);
  EXPECT_EQ(r.frames[0].l4_offset(), 34);
  EXPECT_EQ(r.c(EncapCounter::kVlanFromFrame), 1u);
  // The payload did not move: the inner frame starts 4 bytes later in the buffer.
  EXPECT_EQ(e.batch->operator[](0).payload + 18, e.buf.data() + 4);
}

TEST(Encap, ExplicitVlanIsCarriedAndFrameTagKeptInline) {
  Encapsulator e(config(false));
  Frame plain = make_frame({});
  EncapRequest req;
  req.vlan = VlanTci{0, 0};  // priority tag, VID 0
  Result r = e.run(plain.bytes, req);
  EXPECT_EQ(r.frames[0].vlan_word(), 0x1000);
  // With a VLAN from the caller, a tag in the frame stays there: no offload.
  Frame tagged = make_frame({.tags = {{0x8100, 0x0005}}});
  req.vlan = VlanTci{1, 7};
  req.offload = needs_csum(tagged);
  r = e.run(tagged.bytes, req);
  EXPECT_EQ(r.frames[0].vlan_word(), 0x3007);
  EXPECT_EQ(r.frames[0].flags(), wire::kSttFlagCsumVerified);
  EXPECT_EQ(r.c(EncapCounter::kVlanFromFrame), 0u);
  EXPECT_EQ(r.c(EncapCounter::kSoftwareChecksum), 1u);
}

// Frames that cannot be offloaded go fully formatted (I11): checksums
// finished in place, super-packets segmented before encapsulation, P = 0.
void expect_formatted(const Result& r, std::size_t tag_bytes) {
  ASSERT_FALSE(r.frames.empty());
  for (const auto& fr : r.frames) {
    EXPECT_EQ(fr.flags() & ~wire::kSttFlagCsumVerified, 0);
    EXPECT_EQ(fr.l4_offset(), 0);
    EXPECT_EQ(fr.mss(), 0);
    EXPECT_EQ(fr.vlan_word(), 0);
    const auto in = fr.inner();
    wire::PacketLayout lay;
    ASSERT_EQ(wire::parse_ethernet(in.data(), in.size(), &lay), wire::ParseError::kOk);
    EXPECT_EQ(lay.l3_offset, 14 + tag_bytes);
    const std::uint32_t n = lay.ip_end - lay.l4_offset;
    const std::uint8_t* ip = in.data() + lay.l3_offset;
    const std::uint32_t ps = lay.ip_version == 4
                                 ? csum::pseudo_v4(ip + 12, ip + 16, lay.l4_proto, n)
                                 : csum::pseudo_v6(ip + 8, ip + 24, lay.l4_proto, n);
    EXPECT_EQ(csum::fold(csum::sum(in.data() + lay.l4_offset, n, ps)), 0xffff);
  }
}

TEST(Encap, I11_QinQAndDoubleTagsLeftInlineWithoutOffload) {
  for (std::uint16_t outer_tpid : {wire::kEtherTypeQinQ, wire::kEtherTypeVlan}) {
    Encapsulator e(config(false));
    Frame f = make_frame({.payload = 500, .tags = {{outer_tpid, 0x0010}, {0x8100, 0x0020}}});
    EncapRequest req;
    req.offload = needs_csum(f);
    Result r = e.run(f.bytes, req);
    ASSERT_EQ(r.status, EncapStatus::kOk);
    expect_formatted(r, 8);
    EXPECT_EQ(r.c(EncapCounter::kSoftwareChecksum), 1u);
    req.offload = gso(make_frame({.payload = 5000, .tags = {{outer_tpid, 0x10}, {0x8100, 0x20}}}),
                      OffloadInfo::kGsoTcpv4, 1400);
    Frame big = make_frame({.payload = 5000, .tags = {{outer_tpid, 0x10}, {0x8100, 0x20}}});
    r = e.run(big.bytes, req);
    ASSERT_EQ(r.status, EncapStatus::kOk);
    EXPECT_EQ(r.frames.size(), 4u);
    expect_formatted(r, 8);
    EXPECT_EQ(r.c(EncapCounter::kSoftwareGso), 1u);
  }
}

TEST(Encap, DeiTagLeftInlineWithoutOffload) {
  Encapsulator e(config(false));
  Frame f = make_frame({.payload = 300, .tags = {{0x8100, 0x1064}}});  // DEI=1, VID 100
  EncapRequest req;
  req.offload = needs_csum(f);
  Result r = e.run(f.bytes, req);
  expect_formatted(r, 4);
  EXPECT_EQ(r.c(EncapCounter::kVlanFromFrame), 0u);
}

TEST(Encap, QinQTagOnlyFrameLeftInline) {
  Encapsulator e(config(false));
  Frame f = make_frame({.payload = 300, .tags = {{0x88a8, 0x0064}}});
  Result r = e.run(f.bytes);
  EXPECT_EQ(r.frames[0].inner(), f.bytes);
  EXPECT_EQ(r.frames[0].vlan_word(), 0);
}

// ------------------------------------------------------------ offload fallbacks

TEST(Encap, I9_L4OffsetOver255NotOffloaded) {
  Encapsulator e(config(false));
  Frame f = make_frame({.v6 = true, .payload = 800, .v6_ext = 248});  // L4 at 14+40+248 = 302
  EncapRequest req;
  req.offload = needs_csum(f);
  Result r = e.run(f.bytes, req);
  ASSERT_EQ(r.status, EncapStatus::kOk);
  expect_formatted(r, 0);
  EXPECT_EQ(r.frames[0].flags(), wire::kSttFlagCsumVerified);
  // As a super-packet it is segmented in software before encapsulation.
  Frame big = make_frame({.v6 = true, .payload = 6000, .v6_ext = 248});
  req.offload = gso(big, OffloadInfo::kGsoTcpv6, 1000);
  r = e.run(big.bytes, req);
  ASSERT_EQ(r.status, EncapStatus::kOk);
  EXPECT_EQ(r.frames.size(), 6u);
  expect_formatted(r, 0);
  EXPECT_EQ(r.c(EncapCounter::kSoftwareGso), 1u);
  EXPECT_EQ(r.c(EncapCounter::kSttFrames), 6u);
}

TEST(Encap, I10_EcnGsoSegmentedBeforeEncap) {
  Encapsulator e(config(false));
  Frame f = make_frame({.payload = 4000});
  EncapRequest req;
  req.offload = gso(f, OffloadInfo::kGsoTcpv4 | OffloadInfo::kGsoEcn, 1448);
  Result r = e.run(f.bytes, req);
  ASSERT_EQ(r.status, EncapStatus::kOk);
  ASSERT_EQ(r.frames.size(), 3u);
  expect_formatted(r, 0);
  for (const auto& fr : r.frames)
    EXPECT_EQ(fr.flags(), wire::kSttFlagCsumVerified);
  // CWR set in the TCP header of a GSO frame means the same.
  Frame cwr = make_frame({.payload = 4000, .tcp_flags = wire::kTcpAck | wire::kTcpCwr});
  req.offload = gso(cwr, OffloadInfo::kGsoTcpv4, 1448);
  r = e.run(cwr.bytes, req);
  ASSERT_EQ(r.frames.size(), 3u);
  expect_formatted(r, 0);
  EXPECT_EQ(r.frames[0].inner()[47] & wire::kTcpCwr, wire::kTcpCwr);  // CWR on the first only
  EXPECT_EQ(r.frames[1].inner()[47] & wire::kTcpCwr, 0);
  // Each piece is its own STT frame with its own packet ID.
  EXPECT_NE(r.frames[0].packets[0].ack(), r.frames[1].packets[0].ack());
}

TEST(Encap, UsoSegmentedInSoftwareUfoOffloaded) {
  Encapsulator e(config(false));
  Frame f = make_frame({.proto = wire::kIpProtoUdp, .payload = 3000});
  EncapRequest req;
  req.offload = gso(f, OffloadInfo::kGsoUdpL4, 1000);
  Result r = e.run(f.bytes, req);
  ASSERT_EQ(r.frames.size(), 3u);
  expect_formatted(r, 0);
  req.offload = gso(f, OffloadInfo::kGsoUdp, 1000);
  r = e.run(f.bytes, req);
  ASSERT_EQ(r.frames.size(), 1u);
  EXPECT_EQ(r.frames[0].flags(), 0x06);
  EXPECT_EQ(r.frames[0].mss(), 1000);
}

TEST(Encap, OversizeGsoFrameSegmentedInSoftware) {
  Encapsulator e(config(false));
  // IPv4 total 65535: a 65549-byte frame, beyond the 65517 an STT frame holds.
  Frame f = make_frame({.payload = 65535 - 40});
  EncapRequest req;
  req.offload = gso(f, OffloadInfo::kGsoTcpv4, 1448);
  Result r = e.run(f.bytes, req);
  ASSERT_EQ(r.status, EncapStatus::kOk);
  EXPECT_EQ(r.frames.size(), 46u);
  EXPECT_EQ(r.c(EncapCounter::kSoftwareGso), 1u);
}

TEST(Encap, PartialChecksumFinishedWhenNotOffloadable) {
  Encapsulator e(config(false));
  // NEEDS_CSUM on a non-TCP/UDP position (generic Internet checksum).
  auto f = arp_frame();
  f[24] = f[25] = 0;  // the field holds the seed of the sum (here 0)
  EncapRequest req;
  req.offload.flags = OffloadInfo::kNeedsCsum;
  req.offload.csum_start = 20;
  req.offload.csum_offset = 4;
  Result r = e.run(f, req);
  ASSERT_EQ(r.status, EncapStatus::kOk);
  EXPECT_EQ(r.frames[0].flags(), 0);  // not a checksum we can vouch for
  const auto in = r.frames[0].inner();
  EXPECT_EQ(csum::fold(csum::sum(in.data() + 20, in.size() - 20)), 0xffff);
  EXPECT_EQ(r.c(EncapCounter::kSoftwareChecksum), 1u);
}

// ------------------------------------------------------------ GSO form

TEST(Encap, GsoFormMetadataAndNoPayloadWrite) {
  for (bool v6 : {false, true}) {
    Encapsulator e(config(v6));
    Frame f = make_frame({.payload = 30000});
    EncapRequest req;
    req.offload = gso(f, OffloadInfo::kGsoTcpv4, 1448);
    // Sentinel over the whole buffer: encapsulation may only write the
    // outer headers and the STT header, right before the frame.
    std::memset(e.buf.raw(), 0xa5, kDefaultHeadroom + f.bytes.size() + 64);
    std::memcpy(e.buf.data(), f.bytes.data(), f.bytes.size());
    e.buf.set_size(f.bytes.size());
    e.batch->clear();
    Result r;
    r.status = encapsulate(e.tunnel, e.buf.frame(), req, TxForm::kGso, *e.batch, r.counters);
    ASSERT_EQ(r.status, EncapStatus::kOk);
    e.collect(r);
    ASSERT_EQ(r.packets.size(), 1u);
    const std::size_t hl = v6 ? 74 : 54;
    const TxPacket& p = (*e.batch)[0];
    EXPECT_EQ(p.header + hl, p.payload);  // contiguous
    EXPECT_EQ(p.payload + 18, e.buf.data());
    EXPECT_EQ(std::memcmp(e.buf.data(), f.bytes.data(), f.bytes.size()), 0);
    for (const std::uint8_t* q = e.buf.raw(); q < p.header; ++q)
      ASSERT_EQ(*q, 0xa5);
    for (std::size_t i = 0; i < 64; ++i)
      ASSERT_EQ(e.buf.data()[f.bytes.size() + i], 0xa5);
    const Outer& o = r.packets[0];
    const std::uint32_t L = static_cast<std::uint32_t>(18 + f.bytes.size());
    EXPECT_EQ(o.ip_len_field(), L + 20 + (v6 ? 0 : 20));
    EXPECT_EQ(o.seq(), L << 16);
    EXPECT_TRUE(o.ip_ok());
    const std::uint32_t ps = v6 ? csum::pseudo_v6(&o.bytes[22], &o.bytes[38], 6, 20 + L)
                                : csum::pseudo_v4(&o.bytes[26], &o.bytes[30], 6, 20 + L);
    EXPECT_EQ(load_be16(&o.bytes[o.l4 + 16]), csum::fold(ps));
    EXPECT_EQ(o.gso.flags, OffloadInfo::kNeedsCsum);
    EXPECT_EQ(o.gso.gso_type, v6 ? OffloadInfo::kGsoTcpv6 : OffloadInfo::kGsoTcpv4);
    EXPECT_EQ(o.gso.gso_size, v6 ? 1440 : 1460);
    EXPECT_EQ(o.gso.hdr_len, hl);
    EXPECT_EQ(o.gso.csum_start, hl - 20);
    EXPECT_EQ(o.gso.csum_offset, 16);
    EXPECT_EQ(r.c(EncapCounter::kSegments), 1u);
  }
}

TEST(Encap, GsoFormSingleSegmentIsFinished) {
  Encapsulator e(config(false));
  Frame f = make_frame({.payload = 1000});
  Result r = e.run(f.bytes, {}, TxForm::kGso);
  ASSERT_EQ(r.packets.size(), 1u);
  EXPECT_EQ(r.packets[0].gso, OffloadInfo{});
  EXPECT_TRUE(r.packets[0].tcp_ok());
  check_segments(r, 1500);
}

TEST(Encap, GsoFormTooLargeForOneIpv4PacketFallsBackToSegments) {
  Encapsulator e(config(false));
  Frame f = make_frame({.payload = 65490 - 54});  // inner 65490 > 65477
  Result r = e.run(f.bytes, {}, TxForm::kGso);
  ASSERT_EQ(r.status, EncapStatus::kOk);
  EXPECT_EQ(r.packets.size(), 45u);
  for (const auto& p : r.packets)
    EXPECT_EQ(p.gso, OffloadInfo{});
  check_segments(r, 1500);
  EXPECT_EQ(r.frames[0].inner(), f.bytes);
  // Over IPv6 the same frame fits one super-segment (limit 65497).
  Encapsulator e6(config(true));
  r = e6.run(f.bytes, {}, TxForm::kGso);
  EXPECT_EQ(r.packets.size(), 1u);
}

// ------------------------------------------------------------ drops and counters

// ------------------------------------------------------------ copy form

// Copy slots for kSegmentedCopy, with a guard pattern around and between
// the bytes a slot may hold, so a write outside them shows.
struct Ring {
  static constexpr std::uint8_t kGuard = 0xa5;
  Ring(std::size_t count, std::size_t capacity, std::size_t stride)
      : bytes(64 + count * stride + 64, kGuard), count(count), capacity(capacity), stride(stride) {}
  std::uint8_t* base() { return bytes.data() + 64; }
  void attach(TxBatch& b) { b.set_copy_slots(base(), stride, capacity, count); }
  // True when every byte outside [slot i, slot i + used_i) is still the guard.
  // The used ranges are sorted and the bytes between them compared as runs: a map of
  // every byte (a vector<bool> the size of the ring) made this check most of the copy-form
  // tests' time under the sanitizers.
  bool guards_intact(const TxBatch& b) const {
    std::vector<std::pair<std::size_t, std::size_t>> used;  // [from, to) in `bytes`
    for (std::size_t i = 0; i < b.size(); ++i) {
      const std::size_t at = static_cast<std::size_t>(b[i].header - bytes.data());
      used.emplace_back(at, at + std::size_t{b[i].header_len} + b[i].payload_len);
    }
    std::sort(used.begin(), used.end());
    const auto guard_only = [this](std::size_t from, std::size_t to) {
      return std::all_of(bytes.begin() + static_cast<std::ptrdiff_t>(from),
                         bytes.begin() + static_cast<std::ptrdiff_t>(to),
                         [](std::uint8_t x) { return x == kGuard; });
    };
    std::size_t k = 0;  // everything before k is checked or used
    for (const auto& [from, to] : used) {
      if (from > k && !guard_only(k, from)) return false;
      k = std::max(k, to);
    }
    return guard_only(k, bytes.size());
  }
  std::vector<std::uint8_t> bytes;
  std::size_t count, capacity, stride;
};

// kSegmentedCopy gives the same packets, byte for byte, as kSegmented with
// every packet copied out; each one whole in its slot; the same counters.
void expect_copy_form_same(const TunnelConfig& cfg, std::span<const std::uint8_t> inner,
                           const EncapRequest& req) {
  Encapsulator plain(cfg), copied(cfg);
  Ring ring(TxBatch::kMaxPackets, 2048 + 32, 2048 + 64);
  ring.attach(*copied.batch);
  const Result a = plain.run(inner, req, TxForm::kSegmented);
  const Result b = copied.run(inner, req, TxForm::kSegmentedCopy);
  ASSERT_EQ(a.status, b.status);
  ASSERT_EQ(a.packets.size(), b.packets.size());
  for (std::size_t i = 0; i < a.packets.size(); ++i) {
    ASSERT_EQ(a.packets[i].bytes, b.packets[i].bytes) << "packet " << i;
    const TxPacket& p = (*copied.batch)[i];
    EXPECT_EQ(p.header, ring.base() + i * ring.stride);
    EXPECT_EQ(p.payload, p.header + p.header_len);
    EXPECT_EQ(p.gso.flags, 0);
    EXPECT_EQ(p.gso.gso_type, 0);
    EXPECT_TRUE(b.packets[i].tcp_ok());
    EXPECT_TRUE(b.packets[i].ip_ok());
  }
  for (std::size_t c = 0; c < static_cast<std::size_t>(EncapCounter::kCount); ++c)
    EXPECT_EQ(a.counters[c], b.counters[c]) << counter_name(static_cast<EncapCounter>(c));
  EXPECT_TRUE(ring.guards_intact(*copied.batch));
}

TEST(Encap, CopyFormSameBytesAsSegmentedThenCopy) {
  for (bool v6 : {false, true}) {
    for (std::uint16_t mtu : {576, 1280, 1500, 1501, 2000}) {
      SCOPED_TRACE(::testing::Message() << (v6 ? "IPv6" : "IPv4") << " MTU " << mtu);
      const TunnelConfig cfg = config(v6, mtu);
      // Odd and even lengths, one byte either side of a segment boundary.
      const std::size_t seg = mtu - (v6 ? 60u : 40u);
      for (std::size_t payload : {std::size_t{0}, std::size_t{1}, std::size_t{101}, seg - 72,
                                  seg - 71, seg - 70, std::size_t{1459}, std::size_t{1460},
                                  std::size_t{1461}, std::size_t{4001}, std::size_t{9000}}) {
        SCOPED_TRACE(payload);
        Frame f = make_frame({.v6 = v6, .payload = payload});
        EncapRequest req;
        expect_copy_form_same(cfg, f.bytes, req);  // finished frame, no hints
        req.offload = needs_csum(f);               // P
        expect_copy_form_same(cfg, f.bytes, req);
        req.offload.flags = OffloadInfo::kDataValid;  // C
        expect_copy_form_same(cfg, f.bytes, req);
      }
      // Super-packets: offloaded (P + MSS), segmented in software (ECN), USO.
      Frame big = make_frame({.v6 = v6, .payload = 20001});
      EncapRequest req;
      const std::uint8_t kind = v6 ? OffloadInfo::kGsoTcpv6 : OffloadInfo::kGsoTcpv4;
      req.offload = gso(big, kind, 1448);
      expect_copy_form_same(cfg, big.bytes, req);
      req.offload = gso(big, kind | OffloadInfo::kGsoEcn, 1001);
      expect_copy_form_same(cfg, big.bytes, req);
      Frame udp = make_frame({.v6 = v6, .proto = wire::kIpProtoUdp, .payload = 3001});
      req.offload = gso(udp, OffloadInfo::kGsoUdpL4, 999);
      expect_copy_form_same(cfg, udp.bytes, req);
      // VLAN: a tag moved to the STT header, a tag given by the caller, QinQ left inline.
      Frame tagged = make_frame({.v6 = v6, .payload = 3333, .tags = {{0x8100, 0x2042}}});
      req = {};
      req.offload = needs_csum(tagged);
      expect_copy_form_same(cfg, tagged.bytes, req);
      req.vlan = VlanTci{3, 100};
      expect_copy_form_same(cfg, tagged.bytes, req);
      Frame qinq = make_frame({.v6 = v6, .payload = 2999, .tags = {{0x88a8, 7}, {0x8100, 8}}});
      req = {};
      expect_copy_form_same(cfg, qinq.bytes, req);
      // Non-IP, and the largest frame an STT frame holds.
      expect_copy_form_same(cfg, arp_frame(), {});
      const std::size_t largest = wire::kSttMaxFrame - wire::kSttHeaderLen;
      Frame huge = make_frame({.v6 = v6, .payload = largest - 14 - (v6 ? 60u : 40u)});
      ASSERT_EQ(huge.bytes.size(), largest);
      expect_copy_form_same(cfg, huge.bytes, {});
    }
  }
}

TEST(Encap, CopyFormSlotTooSmallIsCountedDropNotOverflow) {
  for (bool v6 : {false, true}) {
    const TunnelConfig cfg = config(v6, 1500);
    const std::size_t full = 1500 + 14;  // a full-size outer packet
    Frame f = make_frame({.v6 = v6, .payload = 3000});
    for (std::size_t capacity : {std::size_t{0}, full - 1, full}) {
      SCOPED_TRACE(::testing::Message() << (v6 ? "IPv6" : "IPv4") << " capacity " << capacity);
      Encapsulator e(cfg);
      Ring ring(8, capacity, capacity + 16);
      ring.attach(*e.batch);
      Result r = e.run(f.bytes, {}, TxForm::kSegmentedCopy);
      if (capacity < full) {
        EXPECT_EQ(r.status, EncapStatus::kDropped);
        EXPECT_EQ(r.c(EncapCounter::kDropSlotTooSmall), 1u);
        EXPECT_EQ(r.c(EncapCounter::kFrames), 0u);
        EXPECT_EQ(e.batch->size(), 0u);
      } else {
        EXPECT_EQ(r.status, EncapStatus::kOk);
        EXPECT_EQ(r.packets.size(), 3u);
        EXPECT_EQ(r.packets[0].bytes.size(), full);
      }
      EXPECT_TRUE(ring.guards_intact(*e.batch));
    }
    // A small frame needs only a small slot; one byte less is a drop.
    Frame small = make_frame({.v6 = v6, .payload = 10});
    const std::size_t need = (v6 ? 74u : 54u) + 18 + small.bytes.size();
    for (std::size_t capacity : {need - 1, need}) {
      Encapsulator e(cfg);
      Ring ring(2, capacity, capacity);  // slots back to back
      ring.attach(*e.batch);
      Result r = e.run(small.bytes, {}, TxForm::kSegmentedCopy);
      EXPECT_EQ(r.status, capacity == need ? EncapStatus::kOk : EncapStatus::kDropped);
      EXPECT_EQ(r.c(EncapCounter::kDropSlotTooSmall), capacity == need ? 0u : 1u);
      EXPECT_TRUE(ring.guards_intact(*e.batch));
    }
    // Software GSO pieces are checked too, before anything is written.
    Frame big = make_frame({.v6 = v6, .payload = 5000});
    EncapRequest req;
    req.offload = gso(
        big, (v6 ? OffloadInfo::kGsoTcpv6 : OffloadInfo::kGsoTcpv4) | OffloadInfo::kGsoEcn, 1448);
    Encapsulator e(cfg);
    Ring ring(16, full - 1, full + 7);
    ring.attach(*e.batch);
    Result r = e.run(big.bytes, req, TxForm::kSegmentedCopy);
    EXPECT_EQ(r.status, EncapStatus::kDropped);
    EXPECT_EQ(r.c(EncapCounter::kDropSlotTooSmall), 1u);
    EXPECT_EQ(e.batch->size(), 0u);
    EXPECT_TRUE(ring.guards_intact(*e.batch));
  }
}

TEST(Encap, CopyFormTooFewSlotsIsBatchFull) {
  const TunnelConfig cfg = config(false, 1500);
  Frame f = make_frame({.payload = 4000});  // 3 packets
  Encapsulator e(cfg);
  Ring ring(5, 2048, 2048);
  ring.attach(*e.batch);
  e.batch->clear();
  CounterSet<EncapCounter> counters;
  PacketBuffer b1, b2;
  std::memcpy(b1.data(), f.bytes.data(), f.bytes.size());
  std::memcpy(b2.data(), f.bytes.data(), f.bytes.size());
  EXPECT_EQ(encapsulate(e.tunnel, b1.frame(f.bytes.size()), {}, TxForm::kSegmentedCopy, *e.batch,
                        counters),
            EncapStatus::kOk);
  // 3 + 3 > 5: the second frame is dropped whole, and the first stays.
  EXPECT_EQ(encapsulate(e.tunnel, b2.frame(f.bytes.size()), {}, TxForm::kSegmentedCopy, *e.batch,
                        counters),
            EncapStatus::kDropped);
  EXPECT_EQ(counters.get(EncapCounter::kDropBatchFull), 1u);
  EXPECT_EQ(e.batch->size(), 3u);
  EXPECT_TRUE(ring.guards_intact(*e.batch));
  // No slots at all: nothing fits.
  Encapsulator none(cfg);
  Result r = none.run(f.bytes, {}, TxForm::kSegmentedCopy);
  EXPECT_EQ(r.status, EncapStatus::kDropped);
  EXPECT_EQ(r.c(EncapCounter::kDropSlotTooSmall), 1u);
}

// The outer headers come from a template the tunnel builds once; a new
// next hop must reach it, in every form.
TEST(Encap, NextHopChangeReachesEveryForm) {
  for (bool v6 : {false, true}) {
    Encapsulator e(config(v6));
    Ring ring(8, 2048, 2048);
    ring.attach(*e.batch);
    Frame f = make_frame({.v6 = v6, .payload = 2000});
    const wire::MacAddr hop{{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}};
    e.tunnel.set_next_hop(hop);
    for (TxForm form : {TxForm::kSegmented, TxForm::kSegmentedCopy, TxForm::kGso}) {
      Result r = e.run(f.bytes, {}, form);
      ASSERT_EQ(r.status, EncapStatus::kOk);
      for (const Outer& o : r.packets) {
        EXPECT_TRUE(std::equal(hop.b.begin(), hop.b.end(), o.bytes.begin()));
        EXPECT_TRUE(
            std::equal(test::kOuterSrcMac.begin(), test::kOuterSrcMac.end(), o.bytes.begin() + 6));
        EXPECT_TRUE(o.ip_ok());
      }
    }
  }
}

TEST(Encap, DropTooShort) {
  Encapsulator e(config(false));
  std::vector<std::uint8_t> tiny(13, 0);
  Result r = e.run(tiny);
  EXPECT_EQ(r.status, EncapStatus::kDropped);
  EXPECT_EQ(r.c(EncapCounter::kDropTooShort), 1u);
  EXPECT_EQ(r.c(EncapCounter::kFrames), 0u);
  EXPECT_TRUE(r.packets.empty());
}

TEST(Encap, DropTooLarge) {
  Encapsulator e(config(false));
  std::vector<std::uint8_t> big(65518, 0);
  big[12] = 0x88;
  big[13] = 0xb5;  // local experimental EtherType
  Result r = e.run(big);
  EXPECT_EQ(r.status, EncapStatus::kDropped);
  EXPECT_EQ(r.c(EncapCounter::kDropTooLarge), 1u);
  big.resize(65517);
  EXPECT_EQ(e.run(big).status, EncapStatus::kOk);
}

TEST(Encap, DropBadOffload) {
  Encapsulator e(config(false));
  Frame tcp = make_frame({});
  Frame udp = make_frame({.proto = wire::kIpProtoUdp});
  std::vector<std::pair<const Frame*, OffloadInfo>> bad;
  OffloadInfo o = needs_csum(tcp);
  o.csum_start = static_cast<std::uint16_t>(tcp.bytes.size() - 1);  // field beyond the frame
  bad.push_back({&tcp, o});
  o = needs_csum(tcp);
  o.csum_start = 4;  // inside the MAC header
  bad.push_back({&tcp, o});
  bad.push_back({&udp, gso(udp, OffloadInfo::kGsoTcpv4, 100)});  // TCP GSO on UDP
  bad.push_back({&tcp, gso(tcp, OffloadInfo::kGsoTcpv6, 100)});  // v6 GSO on v4
  bad.push_back({&tcp, gso(tcp, OffloadInfo::kGsoTcpv4, 0)});    // no size
  bad.push_back({&tcp, gso(tcp, 2, 100)});                       // unknown GSO type
  for (const auto& [f, off] : bad) {
    EncapRequest req;
    req.offload = off;
    Result r = e.run(f->bytes, req);
    EXPECT_EQ(r.status, EncapStatus::kDropped);
    EXPECT_EQ(r.c(EncapCounter::kDropBadOffload), 1u);
    EXPECT_TRUE(r.packets.empty());
  }
}

// The headroom is the buffer's own: a frame without room for what
// encapsulate() writes in front of it is dropped, and nothing is written.
TEST(Encap, DropHeadroom) {
  const auto inner = test::vec_a::inner_frame();
  for (const std::size_t headroom : {17, 18}) {
    for (const TxForm form : {TxForm::kSegmented, TxForm::kGso}) {
      Encapsulator e(config(false));
      PacketBuffer small(headroom, 4096);
      std::memset(small.raw(), 0xa5, headroom);
      std::memcpy(small.data(), inner.data(), inner.size());
      CounterSet<EncapCounter> counters;
      // 18 bytes are enough for the segmented form, not for the GSO form.
      const bool fits = headroom >= 18 && form != TxForm::kGso;
      EXPECT_EQ(encapsulate(e.tunnel, small.frame(inner.size()), {}, form, *e.batch, counters),
                fits ? EncapStatus::kOk : EncapStatus::kDropped);
      EXPECT_EQ(counters.get(EncapCounter::kDropHeadroom), fits ? 0u : 1u);
      if (!fits) {
        EXPECT_EQ(e.batch->size(), 0u);
        EXPECT_TRUE(std::all_of(small.raw(), small.raw() + headroom,
                                [](std::uint8_t x) { return x == 0xa5; }));
      }
    }
  }
}

TEST(Encap, DropBatchFull) {
  Encapsulator e(config(false, 576));  // 536 bytes per segment: 123 segments per 65 KB frame
  Frame f = make_frame({.payload = 65400});
  std::vector<PacketBuffer> bufs(5);
  CounterSet<EncapCounter> counters;
  e.batch->clear();
  EncapStatus last = EncapStatus::kOk;
  int ok = 0;
  for (auto& b : bufs) {
    std::memcpy(b.data(), f.bytes.data(), f.bytes.size());
    last =
        encapsulate(e.tunnel, b.frame(f.bytes.size()), {}, TxForm::kSegmented, *e.batch, counters);
    if (last == EncapStatus::kOk) ++ok;
  }
  EXPECT_EQ(ok, 4);  // 4 * 123 = 492 <= 512 < 615
  EXPECT_EQ(last, EncapStatus::kDropped);
  EXPECT_EQ(counters.get(EncapCounter::kDropBatchFull), 1u);
  EXPECT_EQ(e.batch->size(), 492u);
  // Software GSO pieces that would overflow the batch are dropped too.
  Frame tiny_mss = make_frame({.payload = 60000});
  EncapRequest req;
  req.offload = gso(tiny_mss, OffloadInfo::kGsoTcpv4 | OffloadInfo::kGsoEcn, 100);  // 600 pieces
  Result r = e.run(tiny_mss.bytes, req);
  EXPECT_EQ(r.status, EncapStatus::kDropped);
  EXPECT_EQ(r.c(EncapCounter::kDropBatchFull), 1u);
}

TEST(Encap, CountersOnSuccess) {
  Encapsulator e(config(false));
  Frame f = make_frame({.payload = 4000, .tags = {{0x8100, 0x0042}}});
  EncapRequest req;
  req.offload = gso(f, OffloadInfo::kGsoTcpv4, 1448);
  Result r = e.run(f.bytes, req);
  EXPECT_EQ(r.c(EncapCounter::kFrames), 1u);
  EXPECT_EQ(r.c(EncapCounter::kSttFrames), 1u);
  EXPECT_EQ(r.c(EncapCounter::kSegments), 3u);
  EXPECT_EQ(r.c(EncapCounter::kOffloaded), 1u);
  EXPECT_EQ(r.c(EncapCounter::kVlanFromFrame), 1u);
  EXPECT_EQ(r.c(EncapCounter::kSoftwareChecksum), 0u);
  EXPECT_EQ(r.c(EncapCounter::kSoftwareGso), 0u);
}

// parse_inner() reads the common frames inline and must say exactly what
// wire::parse_ethernet() says, for them and for every near miss: each
// frame cut at every length through its headers, and each header byte set
// to values that break one test at a time.
TEST(Encap, ParseInnerMatchesParseEthernet) {
  auto same = [](const std::vector<std::uint8_t>& f, std::size_t n) {
    // Every field of `a` must be written, none left from before.
    wire::PacketLayout a{.ethertype = 0x5a5a,
                         .vlan_tags = 9,
                         .first_tpid = 0x5a5a,
                         .first_tci = 0x5a5a,
                         .l3_offset = 99,
                         .ip_version = 9,
                         .ip_header_length = 99,
                         .ip_end = 99,
                         .ip_fragment = true,
                         .l4_proto = 99,
                         .l4_offset = 99,
                         .l4_header_length = 99};
    wire::PacketLayout b;
    const wire::ParseError ea = parse_inner(f.data(), n, &a);
    const wire::ParseError eb = wire::parse_ethernet(f.data(), n, &b, 2);
    return ea == eb && a.ethertype == b.ethertype && a.vlan_tags == b.vlan_tags &&
           a.first_tpid == b.first_tpid && a.first_tci == b.first_tci &&
           a.l3_offset == b.l3_offset && a.ip_version == b.ip_version &&
           a.ip_header_length == b.ip_header_length && a.ip_end == b.ip_end &&
           a.ip_fragment == b.ip_fragment && a.l4_proto == b.l4_proto &&
           a.l4_offset == b.l4_offset && a.l4_header_length == b.l4_header_length;
  };
  const FrameSpec specs[] = {
      {},
      {.proto = wire::kIpProtoUdp},
      {.proto = wire::kIpProtoIcmp},
      {.payload = 0},
      {.v6 = true},
      {.v6 = true, .proto = wire::kIpProtoUdp, .payload = 3},
      {.v6 = true, .proto = wire::kIpProtoIcmpv6},
      {.v6 = true, .v6_ext = 8},
      {.tags = {{wire::kEtherTypeVlan, 0x0064}}},
  };
  std::size_t checked = 0;
  for (const FrameSpec& spec : specs) {
    std::vector<std::uint8_t> f = make_frame(spec).bytes;
    f.resize(f.size() + 6, 0);  // link padding
    for (std::size_t n = 0; n <= f.size(); ++n) {
      ASSERT_TRUE(same(f, n)) << "cut at " << n;
      ++checked;
    }
    for (std::size_t i = 12; i < std::min<std::size_t>(f.size(), 80); ++i) {
      const std::uint8_t keep = f[i];
      for (std::uint8_t v : {0x00, 0x01, 0x06, 0x11, 0x20, 0x3f, 0x40, 0x45, 0x4f, 0x50, 0x60, 0x86,
                             0xdd, 0xf0, 0xff, static_cast<int>(keep ^ 0x01)}) {
        f[i] = v;
        ASSERT_TRUE(same(f, f.size())) << "byte " << i << " = " << int{v};
        ++checked;
      }
      f[i] = keep;
    }
  }
  EXPECT_GT(checked, 5000u);
}

TEST(Encap, CounterNamesDistinct) {
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < static_cast<std::size_t>(EncapCounter::kCount); ++i) {
    const auto n = counter_name(static_cast<EncapCounter>(i));
    EXPECT_FALSE(n.empty());
    EXPECT_NE(n, "unknown");
    names.insert(n);
  }
  EXPECT_EQ(names.size(), static_cast<std::size_t>(EncapCounter::kCount));
}

TEST(Encap, D31_PacketIdMaskKeepsSttdOffTheKernelPathsIds) {
  core::TunnelConfig cfg = test::vector_tunnel(false);
  cfg.packet_id_mask = 0x7fffffffu;
  core::Tunnel t(cfg, 0xfffffffeu);
  EXPECT_EQ(t.next_packet_id(), 0x7ffffffeu);
  EXPECT_EQ(t.next_packet_id(), 0x7fffffffu);
  EXPECT_EQ(t.next_packet_id(), 0u);  // wraps inside the range: 2^31 frames between repeats
  core::Tunnel plain(test::vector_tunnel(false), 0xfffffffeu);
  EXPECT_EQ(plain.next_packet_id(), 0xfffffffeu);  // the default keeps every bit (offline tools)
}

}  // namespace
}  // namespace stt::core
