// The fast path's packet logic through BPF_PROG_TEST_RUN: the real programs, loaded as sttd
// loads them, run on packets built here. BPF_PROG_TEST_RUN hands the program a linear skb
// with CHECKSUM_NONE and no GSO, so what needs a real GSO or PARTIAL skb is checked by the
// self-test (bpf_selftest); this covers the decisions: what is dropped, what goes to sttd,
// and the bytes of an encapsulated frame. Root only (loading BPF).
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "linux/bpf_fastpath.hpp"
#include "wire/bytes.hpp"
#include "wire/checksum.hpp"

namespace stt::sys {
namespace {

using Bytes = std::vector<std::uint8_t>;
using Mac = std::array<std::uint8_t, 6>;

constexpr std::uint32_t kLocal = 0xc0a80002;  // 192.168.0.2
constexpr std::uint32_t kPeer = 0xc0a80001;
constexpr std::uint64_t kContext = 77;
constexpr Mac kUlMac{0x02, 0x10, 0, 0, 0, 0x02};
constexpr Mac kNhMac{0x02, 0x10, 0, 0, 0, 0x01};
constexpr Mac kVmA{0x02, 0, 0, 0, 0, 0xa};
constexpr Mac kVmB{0x02, 0, 0, 0, 0, 0xb};
constexpr int kTcActRedirect = 7;
constexpr int kLoIfindex = 1;  // BPF_PROG_TEST_RUN's skb->dev when ctx.ifindex is 0/1

// Ethernet + IPv4 (+ `l4` bytes of protocol `proto`, pattern-filled).
Bytes ipv4_frame(const Mac& dst, const Mac& src, std::uint32_t saddr, std::uint32_t daddr,
                 std::uint8_t proto, std::size_t l4) {
  Bytes b(34 + l4);
  std::memcpy(&b[0], dst.data(), 6);
  std::memcpy(&b[6], src.data(), 6);
  wire::store_be16(&b[12], 0x0800);
  b[14] = 0x45;
  wire::store_be16(&b[16], static_cast<std::uint16_t>(20 + l4));
  b[22] = 64;
  b[23] = proto;
  wire::store_be32(&b[26], saddr);
  wire::store_be32(&b[30], daddr);
  wire::store_be16(&b[24],
                   static_cast<std::uint16_t>(~wire::csum::fold(wire::csum::sum(&b[14], 20))));
  for (std::size_t i = 0; i < l4; ++i)
    b[34 + i] = static_cast<std::uint8_t>(i * 13 + 1);
  return b;
}

// An STT segment to us: TCP to 7471 from `src`, SEQ = stt_len << 16 | offset.
Bytes stt_segment(std::uint32_t src, std::uint16_t offset, const Bytes& inner) {
  const std::size_t stt_len = 18 + inner.size();
  Bytes b = ipv4_frame(kUlMac, kNhMac, src, kLocal, 6, 20 + stt_len);
  std::uint8_t* tcp = &b[34];
  std::memset(tcp, 0, 20 + 18);
  wire::store_be16(tcp, 50000);
  wire::store_be16(tcp + 2, 7471);
  wire::store_be32(tcp + 4, static_cast<std::uint32_t>(stt_len << 16 | offset));
  tcp[12] = 0x50;
  tcp[13] = 0x10;
  tcp[20 + 1] = 0x00;  // STT flags: P = 0
  wire::store_be32(tcp + 20 + 12, static_cast<std::uint32_t>(kContext));
  std::memcpy(&b[72], inner.data(), inner.size());
  return b;
}

class BpfPrograms : public ::testing::Test {
 protected:
  void SetUp() override {
    BpfFastPathConfig c;
    c.underlay_ifindex = kLoIfindex;
    c.local_addr_be = htonl(kLocal);
    c.local_mac = kUlMac;
    c.underlay_mtu = 1500;
    fp_ = std::make_unique<BpfFastPath>(c);
    fp_->set_network(kContext, kLoIfindex, 1, 1500);
    fp_->set_peer(htonl(kPeer), true, kNhMac);
    fp_->set_net_peer(1, htonl(kPeer), true);
  }

  int run(int prog_fd, const Bytes& in, Bytes* out) {
    __sk_buff ctx{};
    out->assign(in.size() + 256, 0);
    bpf_test_run_opts o{};  // what LIBBPF_OPTS does, without its GNU C extensions
    o.sz = sizeof(o);
    o.data_in = in.data();
    o.data_out = out->data();
    o.data_size_in = static_cast<__u32>(in.size());
    o.data_size_out = static_cast<__u32>(out->size());
    o.ctx_in = &ctx;
    o.ctx_size_in = sizeof ctx;
    EXPECT_EQ(bpf_prog_test_run_opts(prog_fd, &o), 0) << std::strerror(errno);
    out->resize(o.data_size_out);
    return static_cast<int>(o.retval);
  }

  std::uint64_t counter(std::uint32_t row, stt_bpf_counter c) { return fp_->counters(row)[c]; }

  std::unique_ptr<BpfFastPath> fp_;
};

TEST_F(BpfPrograms, RxLeavesOtherTrafficAlone) {
  const Bytes udp = ipv4_frame(kUlMac, kNhMac, 0x0a000001, kLocal, 17, 100);
  Bytes out;
  EXPECT_EQ(run(fp_->rx_prog_fd(), udp, &out), 0);
  EXPECT_EQ(out, udp);
}

TEST_F(BpfPrograms, RxDropsSegmentsOfNonPeersAndCountsThem) {
  const Bytes seg = stt_segment(0x0a000009, 0, ipv4_frame(kVmB, kVmA, 1, 2, 17, 40));
  Bytes out;
  EXPECT_EQ(run(fp_->rx_prog_fd(), seg, &out), 2);  // TC_ACT_SHOT
  EXPECT_EQ(run(fp_->rx_prog_fd(), stt_segment(0x0a000009, 1448, {}), &out), 2);
  EXPECT_EQ(counter(0, STT_C_RX_DROP_NOT_PEER_SEGMENTS), 2u);
  // The frame counts once, at offset 0, globally and in the network its header names.
  EXPECT_EQ(counter(0, STT_C_RX_DROP_NOT_PEER), 1u);
  EXPECT_EQ(counter(1, STT_C_RX_DROP_NOT_PEER), 1u);
  EXPECT_EQ(counter(0, STT_C_RX_PACKETS), 2u);
}

TEST_F(BpfPrograms, RxHandsPiecesToSttdUnchanged) {
  const Bytes seg = stt_segment(kPeer, 1448, ipv4_frame(kVmB, kVmA, 1, 2, 17, 40));
  Bytes out;
  EXPECT_EQ(run(fp_->rx_prog_fd(), seg, &out), 0);
  EXPECT_EQ(out, seg);
  EXPECT_EQ(counter(0, STT_C_RX_TO_STTD_PIECE), 1u);
}

TEST_F(BpfPrograms, RxHandsUnverifiedChecksumsToSttd) {
  // BPF_PROG_TEST_RUN's skb is CHECKSUM_NONE, so the program checks the outer checksum
  // itself (D21); this segment's is left 0, so it is wrong and the frame goes to sttd.
  const Bytes seg = stt_segment(kPeer, 0, ipv4_frame(kVmB, kVmA, 1, 2, 17, 40));
  Bytes out;
  EXPECT_EQ(run(fp_->rx_prog_fd(), seg, &out), 0);
  EXPECT_EQ(out, seg);
  EXPECT_EQ(counter(0, STT_C_RX_TO_STTD_OTHER), 1u);
  EXPECT_EQ(counter(0, STT_C_RX_DELIVERED), 0u);
}

// The segment with its outer TCP checksum finished, as a peer without offloads sends it.
Bytes with_tcp_checksum(Bytes b) {
  const std::uint32_t len = static_cast<std::uint32_t>(b.size() - 34);
  const std::uint32_t src = wire::load_be32(&b[26]), dst = wire::load_be32(&b[30]);
  const std::uint32_t ph = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + 6 + len;
  wire::store_be16(&b[50],
                   static_cast<std::uint16_t>(~wire::csum::fold(wire::csum::sum(&b[34], len, ph))));
  return b;
}

TEST_F(BpfPrograms, RxDecapsulatesAVerifiedWholeFrameAndLearns) {
  // CHECKSUM_NONE, one segment: the program verifies the outer checksum itself (D21).
  const Bytes inner = ipv4_frame(kVmB, kVmA, 0x0a000001, 0x0a000002, 17, 200);
  const Bytes seg = with_tcp_checksum(stt_segment(kPeer, 0, inner));
  Bytes out;
  EXPECT_EQ(run(fp_->rx_prog_fd(), seg, &out), kTcActRedirect);
  EXPECT_EQ(out, inner);
  EXPECT_EQ(counter(1, STT_C_RX_DELIVERED), 1u);
  EXPECT_EQ(counter(0, STT_C_RX_WHOLE_FRAMES), 1u);
  const auto learned = fp_->learned();
  ASSERT_EQ(learned.size(), 1u);
  EXPECT_EQ(learned[0].mac, kVmA);
  EXPECT_EQ(learned[0].peer_be, htonl(kPeer));
  // One bit off: not verified, so sttd gets it unchanged.
  Bytes bad = seg;
  bad[100] ^= 1;
  EXPECT_EQ(run(fp_->rx_prog_fd(), bad, &out), 0);
  EXPECT_EQ(out, bad);
  // A bad IPv4 header checksum (TC ingress runs before the IP layer checks it): sttd's.
  Bytes bad_ip = seg;
  bad_ip[24] ^= 0x40;
  EXPECT_EQ(run(fp_->rx_prog_fd(), bad_ip, &out), 0);
  EXPECT_EQ(out, bad_ip);
  EXPECT_EQ(counter(1, STT_C_RX_DELIVERED), 1u);
}

class BpfTx : public BpfPrograms {
 protected:
  void SetUp() override {
    BpfPrograms::SetUp();
    fp_->attach_tap_map_only(kLoIfindex, kContext, 1);
  }

  // A small unicast frame to kVmB, sent once: the program's verdict, *out the packet.
  int send_to_vm_b_verdict(Bytes* out) {
    return run(fp_->tx_prog_fd(), ipv4_frame(kVmB, kVmA, 0x0a000001, 0x0a000002, 17, 100), out);
  }
  int send_to_vm_b_verdict() {
    Bytes out;
    return send_to_vm_b_verdict(&out);
  }
  // The same, where it must be a redirect: the outer packet.
  Bytes send_to_vm_b() {
    Bytes out;
    EXPECT_EQ(send_to_vm_b_verdict(&out), kTcActRedirect);
    out.resize(std::max<std::size_t>(out.size(), 54));
    return out;
  }
};

TEST_F(BpfTx, FloodsAndUnknownUnicastGoToSttd) {
  Bytes out;
  const Mac bcast{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  EXPECT_EQ(run(fp_->tx_prog_fd(), ipv4_frame(bcast, kVmA, 1, 2, 17, 40), &out), 0);
  EXPECT_EQ(run(fp_->tx_prog_fd(), ipv4_frame(kVmB, kVmA, 1, 2, 17, 40), &out), 0);
  EXPECT_EQ(counter(1, STT_C_TX_TO_STTD_FLOOD), 2u);
  EXPECT_EQ(counter(1, STT_C_TX_FRAMES), 0u);
}

TEST_F(BpfTx, UnresolvedNextHopGoesToSttd) {
  fp_->set_peer(htonl(kPeer), false, kNhMac);
  fp_->set_fdb(1, kVmB, htonl(kPeer));
  Bytes out;
  EXPECT_EQ(run(fp_->tx_prog_fd(), ipv4_frame(kVmB, kVmA, 1, 2, 17, 40), &out), 0);
  EXPECT_EQ(counter(1, STT_C_TX_TO_STTD_UNRESOLVED), 1u);
}

TEST_F(BpfTx, EncapsulatesAKnownUnicastFrameIntoOneFinishedSegment) {
  fp_->set_fdb(1, kVmB, htonl(kPeer));
  const Bytes inner = ipv4_frame(kVmB, kVmA, 0x0a000001, 0x0a000002, 17, 333);
  Bytes out;
  ASSERT_EQ(run(fp_->tx_prog_fd(), inner, &out), kTcActRedirect);
  const std::size_t stt_len = 18 + inner.size();
  ASSERT_EQ(out.size(), 54 + stt_len);
  EXPECT_EQ(0, std::memcmp(&out[0], kNhMac.data(), 6));
  EXPECT_EQ(0, std::memcmp(&out[6], kUlMac.data(), 6));
  EXPECT_EQ(wire::load_be16(&out[12]), 0x0800);
  EXPECT_EQ(wire::load_be16(&out[16]), 40 + stt_len);
  EXPECT_EQ(wire::load_be16(&out[20]), 0x4000);  // DF
  EXPECT_EQ(wire::load_be32(&out[26]), kLocal);
  EXPECT_EQ(wire::load_be32(&out[30]), kPeer);
  EXPECT_EQ(wire::csum::fold(wire::csum::sum(&out[14], 20)), 0xffff);
  EXPECT_EQ(wire::load_be16(&out[36]), 7471);
  EXPECT_GE(wire::load_be16(&out[34]), 49152);
  EXPECT_EQ(wire::load_be32(&out[38]), stt_len << 16);
  EXPECT_TRUE(wire::load_be32(&out[42]) & STT_BPF_PACKET_ID_BIT);
  // The whole outer TCP checksum, pseudo-header included.
  const std::uint32_t tcp_len = static_cast<std::uint32_t>(20 + stt_len);
  std::uint32_t ph =
      (kLocal >> 16) + (kLocal & 0xffff) + (kPeer >> 16) + (kPeer & 0xffff) + 6 + tcp_len;
  EXPECT_EQ(wire::csum::fold(wire::csum::sum(&out[34], tcp_len, ph)), 0xffff);
  // STT header: no offload for a CHECKSUM_NONE frame, our context, then the frame itself.
  EXPECT_EQ(out[54], 0);
  EXPECT_EQ(out[55], 0);
  EXPECT_EQ(wire::load_be16(&out[58]), 0);
  EXPECT_EQ(wire::load_be32(&out[66]), kContext);
  EXPECT_TRUE(std::equal(inner.begin(), inner.end(), out.begin() + 72));
  EXPECT_EQ(counter(1, STT_C_TX_FRAMES), 1u);
  EXPECT_EQ(counter(1, STT_C_TX_BYTES), inner.size());
  // Packet IDs count up per frame toward one peer.
  Bytes out2;
  ASSERT_EQ(run(fp_->tx_prog_fd(), inner, &out2), kTcActRedirect);
  EXPECT_EQ(wire::load_be32(&out2[42]), wire::load_be32(&out[42]) + 1);
}

// An FDB entry names its peer's row in `stt_peer_rows`; one written before the peer had a row,
// or whose row was freed and given to another peer, must still reach its own peer or none.
TEST_F(BpfTx, AnFdbEntryWrittenBeforeItsPeerFindsThePeer) {
  constexpr std::uint32_t kLate = 0x0a000007;
  fp_->set_fdb(1, kVmB, htonl(kLate));  // no row yet: the entry carries row 0
  EXPECT_EQ(send_to_vm_b_verdict(), 0);
  EXPECT_EQ(counter(1, STT_C_TX_TO_STTD_UNRESOLVED), 1u);
  fp_->set_peer(htonl(kLate), true, kNhMac);
  EXPECT_EQ(wire::load_be32(&send_to_vm_b()[30]), kLate);
}

TEST_F(BpfTx, AStaleFdbEntryNeverReachesThePeerThatGotItsRow) {
  fp_->set_fdb(1, kVmB, htonl(kPeer));
  const std::uint32_t first_id = wire::load_be32(&send_to_vm_b()[42]);
  // The peer goes; its row is reused once every other row has been: take them all.
  fp_->remove_peer(htonl(kPeer));
  EXPECT_EQ(send_to_vm_b_verdict(), 0);
  EXPECT_EQ(counter(1, STT_C_TX_TO_STTD_UNRESOLVED), 1u);
  for (std::uint32_t i = 1; i < STT_BPF_MAX_PEERS; ++i)
    fp_->set_peer(htonl(0x0b000000 + i), true, kNhMac);
  EXPECT_THROW(fp_->set_peer(htonl(0x0c000000), true, kNhMac), std::runtime_error);
  EXPECT_EQ(send_to_vm_b_verdict(), 0);
  EXPECT_EQ(counter(1, STT_C_TX_TO_STTD_UNRESOLVED), 2u);
  // Back with a row of its own (the one freed last): the old entry finds the peer through
  // `stt_peers`, and the new row's packet IDs start apart from the first row's.
  fp_->remove_peer(htonl(0x0b000001));
  fp_->set_peer(htonl(kPeer), true, kNhMac);
  const Bytes out = send_to_vm_b();
  EXPECT_EQ(wire::load_be32(&out[30]), kPeer);
  EXPECT_NE(wire::load_be32(&out[42]), first_id);
  EXPECT_NE(wire::load_be32(&out[42]), first_id + 1);
}

TEST_F(BpfTx, ANextHopUpdateKeepsThePacketIdsCounting) {
  fp_->set_fdb(1, kVmB, htonl(kPeer));
  const std::uint32_t id = wire::load_be32(&send_to_vm_b()[42]);
  const Mac other{0x02, 0, 0, 0, 0, 0x99};
  fp_->set_peer(htonl(kPeer), true, other);
  const Bytes out = send_to_vm_b();
  EXPECT_EQ(0, std::memcmp(&out[0], other.data(), 6));
  EXPECT_EQ(wire::load_be32(&out[42]), id + 1);
}

TEST_F(BpfTx, AFrameLargerThanOneSegmentWithoutGsoGoesToSttd) {
  fp_->set_fdb(1, kVmB, htonl(kPeer));
  Bytes out;
  EXPECT_EQ(run(fp_->tx_prog_fd(), ipv4_frame(kVmB, kVmA, 1, 2, 17, 1460), &out), 0);
  EXPECT_EQ(counter(1, STT_C_TX_TO_STTD_OTHER), 1u);
}

}  // namespace
}  // namespace stt::sys
