// ARP/ND snooping and suppression answers (src/cluster/neighbour.hpp).
#include "cluster/neighbour.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "wire/bytes.hpp"
#include "wire/checksum.hpp"

namespace stt::cluster {
namespace {

const wire::MacAddr kA = *wire::MacAddr::parse("02:00:00:00:00:0a");
const wire::MacAddr kB = *wire::MacAddr::parse("02:00:00:00:00:0b");
const wire::IpAddr kA4 = *wire::IpAddr::parse("10.0.0.1");
const wire::IpAddr kB4 = *wire::IpAddr::parse("10.0.0.2");
const wire::IpAddr kA6 = *wire::IpAddr::parse("fd00::1");
const wire::IpAddr kB6 = *wire::IpAddr::parse("fd00::2");

std::vector<std::uint8_t> arp(std::uint16_t op, const wire::MacAddr& sha, const wire::IpAddr& spa,
                              const wire::IpAddr& tpa) {
  std::vector<std::uint8_t> f(42, 0);
  std::memset(f.data(), 0xff, 6);
  std::memcpy(f.data() + 6, sha.b.data(), 6);
  wire::store_be16(f.data() + 12, 0x0806);
  std::uint8_t* a = f.data() + 14;
  wire::store_be16(a, 1);
  wire::store_be16(a + 2, 0x0800);
  a[4] = 6;
  a[5] = 4;
  wire::store_be16(a + 6, op);
  std::memcpy(a + 8, sha.b.data(), 6);
  std::memcpy(a + 14, spa.data(), 4);
  std::memcpy(a + 24, tpa.data(), 4);
  return f;
}

// An NS (type 135) or NA (136) from `src`, with `target`.
std::vector<std::uint8_t> nd(std::uint8_t type, const wire::MacAddr& mac, const wire::IpAddr& src,
                             const wire::IpAddr& target) {
  std::vector<std::uint8_t> f(14 + 40 + 32, 0);
  std::memcpy(f.data(), "\x33\x33\xff\x00\x00\x02", 6);
  std::memcpy(f.data() + 6, mac.b.data(), 6);
  wire::store_be16(f.data() + 12, 0x86dd);
  std::uint8_t* ip = f.data() + 14;
  ip[0] = 0x60;
  wire::store_be16(ip + 4, 32);
  ip[6] = 58;
  ip[7] = 255;
  std::memcpy(ip + 8, src.data(), 16);
  ip[24] = 0xff;
  ip[25] = 0x02;
  std::uint8_t* icmp = ip + 40;
  icmp[0] = type;
  std::memcpy(icmp + 8, target.data(), 16);
  icmp[24] = type == 135 ? 1 : 2;
  icmp[25] = 1;
  std::memcpy(icmp + 26, mac.b.data(), 6);
  return f;
}

TEST(ClusterNeighbour, SnoopsArpAndNd) {
  auto f = arp(1, kA, kA4, kB4);
  auto s = snoop(f.data(), f.size());
  ASSERT_TRUE(s);
  EXPECT_EQ(s->mac, kA);
  EXPECT_EQ(s->ip, kA4);
  f = arp(1, kA, *wire::IpAddr::parse("0.0.0.0"), kA4);  // probe
  EXPECT_FALSE(snoop(f.data(), f.size()));
  f = arp(2, kB, kB4, kA4);
  f[6 + 5] ^= 1;  // frame source is not the ARP sender: speaks for another MAC
  EXPECT_FALSE(snoop(f.data(), f.size()));

  f = nd(135, kA, kA6, kB6);
  s = snoop(f.data(), f.size());
  ASSERT_TRUE(s);
  EXPECT_EQ(s->ip, kA6);
  f = nd(136, kB, kB6, kB6);
  s = snoop(f.data(), f.size());
  ASSERT_TRUE(s);
  EXPECT_EQ(s->mac, kB);
  EXPECT_EQ(s->ip, kB6);
  f = nd(135, kA, *wire::IpAddr::parse("::"), kA6);  // DAD
  EXPECT_FALSE(snoop(f.data(), f.size()));
  f = nd(135, kA, kA6, kB6);
  f[14 + 7] = 64;  // hop limit must be 255
  EXPECT_FALSE(snoop(f.data(), f.size()));
  f.resize(60);  // truncated
  EXPECT_FALSE(snoop(f.data(), f.size()));
}

TEST(ClusterNeighbour, AnswersArpRequests) {
  auto f = arp(1, kA, kA4, kB4);
  auto q = neighbour_query(f.data(), f.size());
  ASSERT_TRUE(q);
  EXPECT_EQ(q->target, kB4);
  std::uint8_t out[kNeighbourReplyMax];
  std::size_t n = build_neighbour_reply(*q, kB, out, sizeof out);
  ASSERT_EQ(n, 42u);
  EXPECT_EQ(0, std::memcmp(out, kA.b.data(), 6));
  EXPECT_EQ(0, std::memcmp(out + 6, kB.b.data(), 6));
  EXPECT_EQ(wire::load_be16(out + 14 + 6), 2);  // reply
  EXPECT_EQ(0, std::memcmp(out + 14 + 8, kB.b.data(), 6));
  EXPECT_EQ(0, std::memcmp(out + 14 + 14, kB4.data(), 4));
  EXPECT_EQ(0, std::memcmp(out + 14 + 24, kA4.data(), 4));
  // A reply is not a query, nor is a gratuitous ARP.
  f = arp(2, kA, kA4, kB4);
  EXPECT_FALSE(neighbour_query(f.data(), f.size()));
  f = arp(1, kA, kA4, kA4);
  EXPECT_FALSE(neighbour_query(f.data(), f.size()));
  EXPECT_EQ(build_neighbour_reply(*q, kB, out, 41), 0u);
}

TEST(ClusterNeighbour, AnswersNeighbourSolicitations) {
  auto f = nd(135, kA, kA6, kB6);
  auto q = neighbour_query(f.data(), f.size());
  ASSERT_TRUE(q);
  EXPECT_EQ(q->target, kB6);
  EXPECT_EQ(q->requester_ip, kA6);
  std::uint8_t out[kNeighbourReplyMax];
  std::size_t n = build_neighbour_reply(*q, kB, out, sizeof out);
  ASSERT_EQ(n, 86u);
  const std::uint8_t* ip = out + 14;
  const std::uint8_t* icmp = ip + 40;
  EXPECT_EQ(icmp[0], 136);
  EXPECT_EQ(icmp[4], 0x60);
  EXPECT_EQ(0, std::memcmp(icmp + 8, kB6.data(), 16));
  EXPECT_EQ(0, std::memcmp(icmp + 26, kB.b.data(), 6));
  EXPECT_EQ(0, std::memcmp(ip + 24, kA6.data(), 16));
  // The ICMPv6 checksum verifies: the sum over pseudo-header and message folds to all ones.
  std::uint32_t s = wire::csum::pseudo_v6(ip + 8, ip + 24, 58, 32);
  s = wire::csum::sum(icmp, 32, s);
  EXPECT_EQ(wire::csum::fold(s), 0xffff);
  // The reply is itself snooped as the target's own address.
  auto sn = snoop(out, n);
  ASSERT_TRUE(sn);
  EXPECT_EQ(sn->ip, kB6);
  // An NA is not a query; a DAD NS is not answered.
  f = nd(136, kB, kB6, kB6);
  EXPECT_FALSE(neighbour_query(f.data(), f.size()));
  f = nd(135, kA, *wire::IpAddr::parse("::"), kB6);
  EXPECT_FALSE(neighbour_query(f.data(), f.size()));
}

}  // namespace
}  // namespace stt::cluster
