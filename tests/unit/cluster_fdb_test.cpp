// FDB entries of type `cluster` (the etcd directory's remote MACs).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "daemon/fdb.hpp"

namespace stt::daemon {
namespace {

const wire::MacAddr kMac = *wire::MacAddr::parse("02:00:00:00:00:01");
const wire::IpAddr kP1 = *wire::IpAddr::parse("10.0.0.2");
const wire::IpAddr kP2 = *wire::IpAddr::parse("10.0.0.3");

TEST(FdbCluster, ClusterEntryIsKnownUnicastAndBeatsLearning) {
  Fdb f;
  f.add_peer(kP1);
  f.add_peer(kP2);
  EXPECT_EQ(f.add_cluster(kMac, *wire::IpAddr::parse("10.9.9.9")), FdbResult::kUnknownPeer);
  f.learn(kMac, kP2, 1);
  ASSERT_EQ(f.add_cluster(kMac, kP1), FdbResult::kOk);
  EXPECT_EQ(f.learned_count(), 0u);  // the directory's word replaces the guess
  auto t = f.lookup(kMac, 2);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0], kP1);
  // Traffic from the MAC behind another peer does not move it.
  f.learn(kMac, kP2, 3);
  EXPECT_EQ(f.counters().get(FdbCounter::kLearnClusterConflict), 1u);
  EXPECT_EQ(f.lookup(kMac, 4)[0], kP1);
  // Cluster entries never age.
  f.age(1'000'000'000'000'000ull);
  EXPECT_EQ(f.lookup(kMac, 1'000'000'000'000'000ull).size(), 1u);

  nlohmann::json j = nlohmann::json::array();
  f.append_json(j, "blue", 5);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["type"], "cluster");
  EXPECT_EQ(j[0]["peer"], "10.0.0.2");

  EXPECT_TRUE(f.del_cluster(kMac));
  EXPECT_FALSE(f.del_cluster(kMac));
  EXPECT_EQ(f.lookup(kMac, 6).size(), 2u);  // unknown again: flooded
}

TEST(FdbCluster, StaticWinsAndPeerRemovalDropsClusterEntries) {
  Fdb f;
  f.add_peer(kP1);
  f.add_peer(kP2);
  ASSERT_EQ(f.add_static(kMac, kP2), FdbResult::kOk);
  ASSERT_EQ(f.add_cluster(kMac, kP1), FdbResult::kOk);
  EXPECT_EQ(f.lookup(kMac, 1)[0], kP2);
  nlohmann::json j = nlohmann::json::array();
  f.append_json(j, "blue", 1);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["type"], "static");

  auto other = *wire::MacAddr::parse("02:00:00:00:00:02");
  ASSERT_EQ(f.add_cluster(other, kP1), FdbResult::kOk);
  EXPECT_EQ(f.cluster_count(), 2u);
  f.remove_peer(kP1);
  EXPECT_EQ(f.cluster_count(), 0u);
}

// Removing a peer drops exactly its entries from the (flat) cluster table, however they are
// interleaved with the other peer's, and the rest still resolve to their peer.
TEST(FdbCluster, PeerRemovalAmongManyEntries) {
  Fdb f;
  f.add_peer(kP1);
  f.add_peer(kP2);
  auto nth = [](unsigned i) {
    wire::MacAddr m;
    m.b = {0x02,
           0,
           0,
           static_cast<std::uint8_t>(i >> 16),
           static_cast<std::uint8_t>(i >> 8),
           static_cast<std::uint8_t>(i)};
    return m;
  };
  for (unsigned i = 1; i <= 3000; ++i)
    ASSERT_EQ(f.add_cluster(nth(i), i % 3 == 0 ? kP1 : kP2), FdbResult::kOk);
  EXPECT_EQ(f.cluster_count(), 3000u);
  f.remove_peer(kP1);
  EXPECT_EQ(f.cluster_count(), 2000u);
  for (unsigned i = 1; i <= 3000; ++i) {
    auto t = f.lookup(nth(i), 1);
    if (i % 3 == 0) {
      EXPECT_EQ(t.size(), 1u);  // flooded to the one peer left
    } else {
      ASSERT_EQ(t.size(), 1u);
      EXPECT_EQ(t[0], kP2);
    }
  }
  EXPECT_EQ(f.counters().get(FdbCounter::kTxFloodUnknown), 1000u);
}

TEST(FdbCluster, Bounded) {
  FdbLimits lim;
  lim.max_cluster = 2;
  Fdb f(lim);
  f.add_peer(kP1);
  EXPECT_EQ(f.add_cluster(*wire::MacAddr::parse("02:00:00:00:00:01"), kP1), FdbResult::kOk);
  EXPECT_EQ(f.add_cluster(*wire::MacAddr::parse("02:00:00:00:00:02"), kP1), FdbResult::kOk);
  EXPECT_EQ(f.add_cluster(*wire::MacAddr::parse("02:00:00:00:00:03"), kP1), FdbResult::kFull);
  EXPECT_EQ(f.add_cluster(*wire::MacAddr::parse("02:00:00:00:00:02"), kP1), FdbResult::kOk);
}

}  // namespace
}  // namespace stt::daemon
