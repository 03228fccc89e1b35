// The digest's worked vectors (§8) through the whole receive path:
// parse_segment -> Reassembler -> decapsulate, compared byte for byte with
// the inner frames the digest says a receiver delivers.

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <vector>

#include "core/decap.hpp"
#include "core/reassembly.hpp"
#include "core/rx.hpp"
#include "digest_vectors.hpp"
#include "wire/bytes.hpp"

namespace stt::core {
namespace {

using Bytes = std::vector<std::uint8_t>;

struct RxPath {
  Reassembler reasm{ReassemblyConfig{}};
  DecapConfig cfg;
  DecapOutput out;
  CounterSet<DecapCounter> counters;
  std::uint64_t now = 1'000;

  // Feeds one outer packet; true when it completed a frame, which is then
  // decapsulated into `out`.
  bool feed(Bytes& pkt, DecapStatus* status = nullptr) {
    SttSegment seg;
    EXPECT_EQ(parse_segment(pkt.data(), pkt.size(), OffloadInfo{}, RxConfig{}, &seg),
              RxCounter::kSegments);
    ReassembledFrame frame;
    if (!reasm.add(seg, now++, &frame)) return false;
    out.clear();
    DecapStatus s = decapsulate(frame, cfg, out, counters);
    if (status) *status = s;
    return true;
  }
  Bytes frame(std::size_t i) const { return Bytes(out[i].data, out[i].data + out[i].len); }
};

template <typename C>
Bytes to_vec(const C& c) {
  return Bytes(c.begin(), c.end());
}

TEST(VectorsRx, A_Ipv4IcmpDeliveredUnchanged) {
  for (bool consumer : {true, false}) {
    RxPath rx;
    rx.cfg.offload_consumer = consumer;
    Bytes pkt = to_vec(test::vec_a::kPacket);
    DecapStatus st{};
    ASSERT_TRUE(rx.feed(pkt, &st));
    ASSERT_EQ(st, DecapStatus::kOk);
    EXPECT_EQ(rx.reasm.counters().get(ReasmCounter::kWhole), 1u);
    ASSERT_EQ(rx.out.size(), 1u);
    EXPECT_EQ(rx.frame(0), to_vec(test::vec_a::inner_frame()));
    EXPECT_EQ(rx.out[0].offload, OffloadInfo{});
    EXPECT_EQ(rx.out.info.context_id, test::vec_a::kContextId);
    EXPECT_EQ(rx.out.info.flags, 0);
  }
}

TEST(VectorsRx, A6_Ipv6UnderlayDeliversTheSameFrame) {
  RxPath rx;
  Bytes pkt = to_vec(test::vec_a6::kPacket);
  SttSegment seg;
  ASSERT_EQ(parse_segment(pkt.data(), pkt.size(), {}, {}, &seg), RxCounter::kSegments);
  EXPECT_TRUE(seg.outer_src.is_v6());
  EXPECT_EQ(seg.packet_id, test::vec_a6::kPacketId);
  ASSERT_TRUE(rx.feed(pkt));
  ASSERT_EQ(rx.out.size(), 1u);
  EXPECT_EQ(rx.frame(0), to_vec(test::vec_a::inner_frame()));
  EXPECT_EQ(rx.out.info.context_id, test::vec_a6::kContextId);
}

TEST(VectorsRx, B_TaggedPartialFrameToAnOffloadConsumer) {
  for (DscpMode mode : {DscpMode::kPipe, DscpMode::kUniform}) {
    RxPath rx;
    rx.cfg.dscp_mode = mode;  // outer EF over inner EF: nothing to rewrite either way
    Bytes pkt = to_vec(test::vec_b::kPacket);
    ASSERT_TRUE(rx.feed(pkt));
    ASSERT_EQ(rx.out.size(), 1u);
    const Bytes got = rx.frame(0);
    EXPECT_EQ(got, to_vec(test::vec_b::kTaggedFrame));
    EXPECT_TRUE(std::equal(test::vec_b::kTaggedFrameHead.begin(),
                           test::vec_b::kTaggedFrameHead.end(), got.begin()));
    const OffloadInfo& o = rx.out[0].offload;
    EXPECT_EQ(o.flags, OffloadInfo::kNeedsCsum);
    EXPECT_EQ(o.csum_start, test::vec_b::kCsumStartTagged);
    EXPECT_EQ(o.csum_offset, test::vec_b::kCsumOffset);
    EXPECT_EQ(o.gso_type, OffloadInfo::kGsoNone);
    EXPECT_EQ(rx.out.info.vlan_tci, test::vec_b::kSttVlanWord);
    EXPECT_EQ(rx.out.info.context_id, test::vec_b::kContextId);
    EXPECT_EQ(rx.counters.get(DecapCounter::kDscpRewritten), 0u);
  }
}

TEST(VectorsRx, B_TaggedFrameWithChecksumFinishedInSoftware) {
  RxPath rx;
  rx.cfg.offload_consumer = false;
  Bytes pkt = to_vec(test::vec_b::kPacket);
  ASSERT_TRUE(rx.feed(pkt));
  ASSERT_EQ(rx.out.size(), 1u);
  Bytes want = to_vec(test::vec_b::kTaggedFrame);
  wire::store_be16(&want[test::vec_b::kCsumStartTagged + test::vec_b::kCsumOffset],
                   test::vec_b::kInnerTcpFull);
  EXPECT_EQ(rx.frame(0), want);
  EXPECT_EQ(rx.out[0].offload, OffloadInfo{});
}

TEST(VectorsRx, C_AllSixOrdersResegmentedInSoftware) {
  std::array<std::size_t, 3> order{0, 1, 2};
  int orders = 0;
  do {
    RxPath rx;
    rx.cfg.offload_consumer = false;
    for (std::size_t k = 0; k < 3; ++k) {
      Bytes pkt = test::vec_c::segment(order[k]);
      ASSERT_EQ(rx.feed(pkt), k == 2);
    }
    ASSERT_EQ(rx.out.size(), 3u);
    for (std::size_t k = 0; k < 3; ++k) {
      EXPECT_EQ(rx.frame(k), test::vec_c::inner_segment(k)) << "segment " << k;
    }
    EXPECT_EQ(rx.reasm.counters().get(ReasmCounter::kCompleted), 1u);
    EXPECT_EQ(rx.counters.get(DecapCounter::kSoftwareGso), 1u);
    ++orders;
  } while (std::next_permutation(order.begin(), order.end()));
  EXPECT_EQ(orders, 6);
}

TEST(VectorsRx, C_AllSixOrdersAsOneGsoFrame) {
  std::array<std::size_t, 3> order{0, 1, 2};
  int orders = 0;
  do {
    RxPath rx;
    for (std::size_t k = 0; k < 3; ++k) {
      Bytes pkt = test::vec_c::segment(order[k]);
      ASSERT_EQ(rx.feed(pkt), k == 2);
    }
    ASSERT_EQ(rx.out.size(), 1u);
    EXPECT_EQ(rx.frame(0), test::vec_c::inner_frame());
    const OffloadInfo& o = rx.out[0].offload;
    EXPECT_EQ(o.flags, OffloadInfo::kNeedsCsum);
    EXPECT_EQ(o.gso_type, OffloadInfo::kGsoTcpv4);
    EXPECT_EQ(o.gso_size, test::vec_c::kMss);
    EXPECT_EQ(o.csum_start, test::vec_c::kCsumStart);
    EXPECT_EQ(o.csum_offset, test::vec_c::kCsumOffset);
    EXPECT_EQ(o.hdr_len, 54);
    ++orders;
  } while (std::next_permutation(order.begin(), order.end()));
  EXPECT_EQ(orders, 6);
}

}  // namespace
}  // namespace stt::core
