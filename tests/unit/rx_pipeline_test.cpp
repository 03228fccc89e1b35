// R25 and R27 end to end in libstt: one STT frame cut into segments by
// encapsulate() (TxForm::kSegmented), its outer headers remarked the way an
// underlay would (a distinct DSCP on the offset-0 segment, CE on a middle
// one), then every segment through parse_segment -> Reassembler::add ->
// decapsulate, in every arrival order. The inner header must come out with
// the offset-0 segment's DSCP (uniform model) and CE (ECT inner packet), or
// the frame must be dropped and counted (Not-ECT inner packet). IPv4 and
// IPv6 underlays; IPv4 and IPv6 inner packets.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "core/buffer.hpp"
#include "core/decap.hpp"
#include "core/encap.hpp"
#include "core/reassembly.hpp"
#include "core/rx.hpp"
#include "digest_vectors.hpp"
#include "vector_tunnel.hpp"
#include "wire/bytes.hpp"
#include "wire/checksum.hpp"
#include "wire/headers.hpp"

namespace stt::core {
namespace {

namespace csum = wire::csum;

constexpr std::uint8_t kNotEct = 0, kEct0 = 2, kCe = 3;
constexpr std::uint8_t kInnerDscp = 10;      // AF11, what the sender marked
constexpr std::uint8_t kFirstDscp = 12;      // AF12, the underlay's mark on the offset-0 segment
constexpr std::uint8_t kOtherDscp = 46;      // EF, its mark on every other segment
constexpr std::size_t kInnerPayload = 3500;  // three segments at MTU 1500

std::uint8_t tos(std::uint8_t dscp, std::uint8_t ecn) {
  return static_cast<std::uint8_t>(dscp << 2 | ecn);
}

// An inner Ethernet + IPv4/IPv6 + UDP frame, fully formatted (no offload).
std::vector<std::uint8_t> inner_frame(bool v6, std::uint8_t inner_tos) {
  const std::size_t ip_len = v6 ? 40 : 20;
  std::vector<std::uint8_t> f(14 + ip_len + 8 + kInnerPayload);
  std::copy(test::kInnerDstMac.begin(), test::kInnerDstMac.end(), f.begin());
  std::copy(test::kInnerSrcMac.begin(), test::kInnerSrcMac.end(), f.begin() + 6);
  wire::store_be16(&f[12], v6 ? wire::kEtherTypeIpv6 : wire::kEtherTypeIpv4);
  std::uint8_t* ip = &f[14];
  const auto udp_len = static_cast<std::uint16_t>(8 + kInnerPayload);
  if (v6) {
    wire::store_be32(ip, 0x60000000u | std::uint32_t{inner_tos} << 20 | 0xbeef);
    wire::store_be16(ip + 4, udp_len);
    ip[6] = wire::kIpProtoUdp;
    ip[7] = 64;
    for (int i = 0; i < 16; ++i) {
      ip[8 + i] = static_cast<std::uint8_t>(0xfd);
      ip[24 + i] = static_cast<std::uint8_t>(0xfd);
    }
    ip[23] = 1;
    ip[39] = 2;
  } else {
    ip[0] = 0x45;
    ip[1] = inner_tos;
    wire::store_be16(ip + 2, static_cast<std::uint16_t>(20 + udp_len));
    wire::store_be16(ip + 6, 0x4000);
    ip[8] = 64;
    ip[9] = wire::kIpProtoUdp;
    const std::uint8_t src[4] = {10, 1, 0, 1}, dst[4] = {10, 1, 0, 2};
    std::memcpy(ip + 12, src, 4);
    std::memcpy(ip + 16, dst, 4);
    wire::store_be16(ip + 10, csum::ipv4_header(ip, 20));
  }
  std::uint8_t* udp = ip + ip_len;
  wire::store_be16(udp, 40000);
  wire::store_be16(udp + 2, 4789);
  wire::store_be16(udp + 4, udp_len);
  for (std::size_t i = 0; i < kInnerPayload; ++i)
    udp[8 + i] = static_cast<std::uint8_t>(i * 7 + 3);
  const std::uint32_t ps = v6 ? csum::pseudo_v6(ip + 8, ip + 24, wire::kIpProtoUdp, udp_len)
                              : csum::pseudo_v4(ip + 12, ip + 16, wire::kIpProtoUdp, udp_len);
  std::uint16_t c = csum::finish(csum::sum(udp, udp_len, ps));
  wire::store_be16(udp + 6, c == 0 ? 0xffff : c);
  return f;
}

std::uint8_t inner_tos_of(const std::uint8_t* frame) {
  const std::uint8_t* ip = frame + 14;
  return (ip[0] >> 4) == 6 ? static_cast<std::uint8_t>(wire::load_be32(ip) >> 20) : ip[1];
}

TunnelConfig tunnel_config(bool v6) {
  TunnelConfig cfg = test::vector_tunnel(v6);
  cfg.dscp_mode = DscpMode::kUniform;
  cfg.ecn_mode = EcnMode::kNormal;
  return cfg;
}

// The outer packets encapsulate() made of `inner`, each as one byte vector.
std::vector<std::vector<std::uint8_t>> segments_of(bool outer_v6,
                                                   const std::vector<std::uint8_t>& inner) {
  Tunnel tunnel(tunnel_config(outer_v6), 0x5eed);
  auto batch = std::make_unique<TxBatch>();
  PacketBuffer buf;
  std::memcpy(buf.data(), inner.data(), inner.size());
  buf.set_size(inner.size());
  CounterSet<EncapCounter> counters;
  EncapRequest req;
  req.context_id = 0x77;
  EXPECT_EQ(encapsulate(tunnel, buf.frame(), req, TxForm::kSegmented, *batch, counters),
            EncapStatus::kOk);
  std::vector<std::vector<std::uint8_t>> out;
  for (const TxPacket& p : *batch) {
    std::vector<std::uint8_t> b(p.header, p.header + p.header_len);
    b.insert(b.end(), p.payload, p.payload + p.payload_len);
    out.push_back(std::move(b));
  }
  return out;
}

// Rewrites an outer packet's TOS / traffic class as an underlay router
// would, fixing the IPv4 header checksum (neither is in the TCP checksum).
void remark(std::vector<std::uint8_t>& pkt, std::uint8_t new_tos) {
  std::uint8_t* ip = &pkt[14];
  if ((ip[0] >> 4) == 6) {
    const std::uint32_t w = wire::load_be32(ip);
    wire::store_be32(ip, (w & 0xf00fffffu) | std::uint32_t{new_tos} << 20);
  } else {
    ip[1] = new_tos;
    wire::store_be16(ip + 10, 0);
    wire::store_be16(ip + 10, csum::ipv4_header(ip, (ip[0] & 0xf) * 4u));
  }
}

std::uint8_t outer_tos(const std::vector<std::uint8_t>& pkt) {
  return inner_tos_of(pkt.data());  // same layout: Ethernet, then IP
}

struct Delivered {
  DecapStatus status = DecapStatus::kDropped;
  std::vector<std::uint8_t> frame;  // the inner frame, when delivered
  std::uint16_t segments = 0;       // pieces the reassembler joined
  CounterSet<DecapCounter> decap;
};

// Every segment, in `order`, through parse_segment, the reassembler and
// decapsulate, as sttd's receive path does.
Delivered receive(std::vector<std::vector<std::uint8_t>> pkts, const std::vector<int>& order,
                  const DecapConfig& dcfg, bool outer_v6) {
  RxConfig rcfg;
  rcfg.local = tunnel_config(outer_v6).dst;
  Reassembler reasm(ReassemblyConfig{});
  auto out = std::make_unique<DecapOutput>();
  Delivered d;
  int completed = 0;
  for (std::size_t k = 0; k < order.size(); ++k) {
    std::vector<std::uint8_t>& p = pkts[static_cast<std::size_t>(order[k])];
    SttSegment seg;
    EXPECT_EQ(parse_segment(p.data(), p.size(), OffloadInfo{}, rcfg, &seg), RxCounter::kSegments)
        << "segment " << order[k];
    ReassembledFrame f;
    if (!reasm.add(seg, 1000 * k, &f)) continue;
    ++completed;
    EXPECT_EQ(k + 1, order.size()) << "completed before its last segment arrived";
    d.segments = f.segments;
    d.status = decapsulate(f, dcfg, *out, d.decap);
    if (d.status == DecapStatus::kOk && out->size() == 1)
      d.frame.assign((*out)[0].data, (*out)[0].data + (*out)[0].len);
  }
  EXPECT_EQ(completed, 1);
  return d;
}

std::vector<std::vector<int>> all_orders(int n) {
  std::vector<int> o(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i)
    o[static_cast<std::size_t>(i)] = i;
  std::vector<std::vector<int>> out;
  do {
    out.push_back(o);
  } while (std::next_permutation(o.begin(), o.end()));
  return out;
}

std::string order_text(const std::vector<int>& o) {
  std::string s;
  for (int i : o)
    s += std::to_string(i);
  return s;
}

// The inner frame as it should come out: `want_tos` written into it, the
// IPv4 header checksum fixed; every other byte as it went in.
std::vector<std::uint8_t> with_tos(std::vector<std::uint8_t> f, std::uint8_t want_tos) {
  std::uint8_t* ip = &f[14];
  if ((ip[0] >> 4) == 6) {
    const std::uint32_t w = wire::load_be32(ip);
    wire::store_be32(ip, (w & 0xf00fffffu) | std::uint32_t{want_tos} << 20);
  } else {
    ip[1] = want_tos;
    wire::store_be16(ip + 10, 0);
    wire::store_be16(ip + 10, csum::ipv4_header(ip, 20));
  }
  return f;
}

struct Case {
  bool outer_v6;
  bool inner_v6;
  std::string name() const {
    return std::string(outer_v6 ? "OuterV6" : "OuterV4") + (inner_v6 ? "InnerV6" : "InnerV4");
  }
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name();
}

class RxPipeline : public ::testing::TestWithParam<Case> {
 protected:
  // The segments of one frame whose inner header carries (kInnerDscp, ecn),
  // remarked: kFirstDscp on the offset-0 segment, kOtherDscp on the rest,
  // and CE on segment `ce_on` only (-1: none). Outer ECN otherwise as sent.
  std::vector<std::vector<std::uint8_t>> remarked(std::uint8_t inner_ecn, int ce_on) {
    const Case c = GetParam();
    inner = inner_frame(c.inner_v6, tos(kInnerDscp, inner_ecn));
    auto pkts = segments_of(c.outer_v6, inner);
    EXPECT_EQ(pkts.size(), 3u);
    for (std::size_t i = 0; i < pkts.size(); ++i) {
      // Normal mode, uniform model: every segment left with the inner TOS.
      EXPECT_EQ(outer_tos(pkts[i]), tos(kInnerDscp, inner_ecn)) << "segment " << i;
      const std::uint8_t ecn = static_cast<int>(i) == ce_on ? kCe : inner_ecn;
      remark(pkts[i], tos(i == 0 ? kFirstDscp : kOtherDscp, ecn));
    }
    return pkts;
  }
  DecapConfig uniform() const {
    DecapConfig d;
    d.dscp_mode = DscpMode::kUniform;
    d.ecn = true;
    return d;
  }
  std::vector<std::uint8_t> inner;
};

// R27 + R25: CE on the middle segment only marks an ECT(0) inner packet CE,
// and the DSCP written inward is the offset-0 segment's, in every order.
TEST_P(RxPipeline, R25_R27_CeOnMiddleSegmentAndFirstSegmentDscpReachTheInnerHeader) {
  const bool outer_v6 = GetParam().outer_v6;
  const auto pkts = remarked(kEct0, 1);
  for (const auto& order : all_orders(3)) {
    SCOPED_TRACE("arrival order " + order_text(order));
    Delivered d = receive(pkts, order, uniform(), outer_v6);
    ASSERT_EQ(d.status, DecapStatus::kOk);
    EXPECT_EQ(d.segments, 3);
    ASSERT_FALSE(d.frame.empty());
    EXPECT_EQ(inner_tos_of(d.frame.data()), tos(kFirstDscp, kCe));
    EXPECT_EQ(d.frame, with_tos(inner, tos(kFirstDscp, kCe)));  // IPv4 checksum fixed too
    EXPECT_EQ(d.decap.get(DecapCounter::kEcnCeMarked), 1u);
  }
}

// The control for the test above: with no CE on any segment the inner ECN
// field is left as sent, so the CE seen there came from the middle segment.
TEST_P(RxPipeline, R27_Control_NoCeAnywhereLeavesEct) {
  const bool outer_v6 = GetParam().outer_v6;
  const auto pkts = remarked(kEct0, -1);
  for (const auto& order : all_orders(3)) {
    SCOPED_TRACE("arrival order " + order_text(order));
    Delivered d = receive(pkts, order, uniform(), outer_v6);
    ASSERT_EQ(d.status, DecapStatus::kOk);
    EXPECT_EQ(d.frame, with_tos(inner, tos(kFirstDscp, kEct0)));
    EXPECT_EQ(d.decap.get(DecapCounter::kEcnCeMarked), 0u);
  }
}

// CE on the last segment alone is enough too (any segment, R27).
TEST_P(RxPipeline, R27_CeOnLastSegmentOnly) {
  const bool outer_v6 = GetParam().outer_v6;
  const auto pkts = remarked(kEct0, 2);
  Delivered d = receive(pkts, {2, 1, 0}, uniform(), outer_v6);
  ASSERT_EQ(d.status, DecapStatus::kOk);
  EXPECT_EQ(inner_tos_of(d.frame.data()), tos(kFirstDscp, kCe));
}

// RFC 6040: CE on a middle segment over a Not-ECT inner packet drops the
// frame, counted drop_ecn_not_ect; with no CE the same frame is delivered.
TEST_P(RxPipeline, R26_R27_CeOnMiddleSegmentOverNotEctIsDroppedAndCounted) {
  const bool outer_v6 = GetParam().outer_v6;
  for (const auto& order : all_orders(3)) {
    SCOPED_TRACE("arrival order " + order_text(order));
    Delivered d = receive(remarked(kNotEct, 1), order, uniform(), outer_v6);
    EXPECT_EQ(d.status, DecapStatus::kDropped);
    EXPECT_TRUE(d.frame.empty());
    EXPECT_EQ(d.decap.get(DecapCounter::kDropEcnNotEct), 1u);

    Delivered ok = receive(remarked(kNotEct, -1), order, uniform(), outer_v6);
    ASSERT_EQ(ok.status, DecapStatus::kOk);
    EXPECT_EQ(ok.frame, with_tos(inner, tos(kFirstDscp, kNotEct)));
    EXPECT_EQ(ok.decap.get(DecapCounter::kDropEcnNotEct), 0u);
  }
}

// Pipe model and ECN processing off: the inner header is not touched at all,
// although the segments carry other DSCPs and CE.
TEST_P(RxPipeline, R24_PipeModelAndEcnOffLeaveTheInnerHeader) {
  const bool outer_v6 = GetParam().outer_v6;
  const auto pkts = remarked(kEct0, 1);
  DecapConfig pipe_off;
  pipe_off.dscp_mode = DscpMode::kPipe;
  pipe_off.ecn = false;
  Delivered d = receive(pkts, {1, 0, 2}, pipe_off, outer_v6);
  ASSERT_EQ(d.status, DecapStatus::kOk);
  EXPECT_EQ(d.frame, inner);
}

INSTANTIATE_TEST_SUITE_P(Underlays, RxPipeline,
                         ::testing::Values(Case{false, false}, Case{false, true}, Case{true, false},
                                           Case{true, true}),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.name(); });

}  // namespace
}  // namespace stt::core
