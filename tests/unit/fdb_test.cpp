#include "daemon/fdb.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace stt::daemon {
namespace {

using wire::IpAddr;
using wire::MacAddr;

constexpr std::uint64_t kSec = 1'000'000'000ull;

MacAddr mac(const char* s) {
  return *MacAddr::parse(s);
}
IpAddr ip(const char* s) {
  return *IpAddr::parse(s);
}

std::vector<std::string> targets(std::span<const IpAddr> s) {
  std::vector<std::string> v;
  for (const auto& a : s)
    v.push_back(a.to_string());
  return v;
}

class FdbTest : public ::testing::Test {
 protected:
  FdbTest() {
    fdb.add_peer(p1);
    fdb.add_peer(p2);
    fdb.add_peer(p3);
  }
  Fdb fdb;
  IpAddr p1 = ip("10.0.0.2");
  IpAddr p2 = ip("10.0.0.3");
  IpAddr p3 = ip("10.0.0.4");
  MacAddr a = mac("02:00:00:00:00:0a");
  MacAddr b = mac("02:00:00:00:00:0b");
  using Flood = std::vector<std::string>;
  Flood all{"10.0.0.2", "10.0.0.3", "10.0.0.4"};
};

TEST_F(FdbTest, UnknownUnicastBroadcastAndMulticastFloodToEveryPeer) {
  EXPECT_EQ(targets(fdb.lookup(a, 0)), all);
  EXPECT_EQ(targets(fdb.lookup(mac("ff:ff:ff:ff:ff:ff"), 0)), all);
  EXPECT_EQ(targets(fdb.lookup(mac("33:33:00:00:00:01"), 0)), all);
  EXPECT_EQ(fdb.counters().get(FdbCounter::kTxFloodUnknown), 1u);
  EXPECT_EQ(fdb.counters().get(FdbCounter::kTxFloodMulticast), 2u);
}

TEST_F(FdbTest, LearnedUnicastGoesToOnePeer) {
  fdb.learn(a, p2, 5 * kSec);
  EXPECT_EQ(targets(fdb.lookup(a, 6 * kSec)), Flood{"10.0.0.3"});
  EXPECT_EQ(targets(fdb.lookup(b, 6 * kSec)), all);
  EXPECT_EQ(fdb.learned_count(), 1u);
  EXPECT_EQ(fdb.counters().get(FdbCounter::kLearned), 1u);
  EXPECT_EQ(fdb.counters().get(FdbCounter::kTxUnicast), 1u);
  // Broadcast is never learned or looked up as unicast.
  fdb.learn(mac("ff:ff:ff:ff:ff:ff"), p1, 5 * kSec);
  fdb.learn(mac("00:00:00:00:00:00"), p1, 5 * kSec);
  EXPECT_EQ(fdb.counters().get(FdbCounter::kLearnInvalidSource), 2u);
  EXPECT_EQ(fdb.learned_count(), 1u);
}

TEST_F(FdbTest, LearningFromANonPeerIsRefused) {
  fdb.learn(a, ip("10.9.9.9"), 0);
  EXPECT_EQ(fdb.learned_count(), 0u);
  EXPECT_EQ(fdb.counters().get(FdbCounter::kLearnNotPeer), 1u);
  EXPECT_EQ(targets(fdb.lookup(a, 0)), all);
}

TEST_F(FdbTest, LearnedEntriesAgeOutAfterTheAgeingTime) {
  fdb.learn(a, p1, 100 * kSec);
  fdb.learn(b, p2, 200 * kSec);
  // 300 s after last seen, a lookup floods even before the sweep ran.
  EXPECT_EQ(targets(fdb.lookup(a, 399 * kSec)), Flood{"10.0.0.2"});
  EXPECT_EQ(targets(fdb.lookup(a, 400 * kSec)), all);
  fdb.age(400 * kSec);
  EXPECT_EQ(fdb.learned_count(), 1u);
  EXPECT_EQ(fdb.counters().get(FdbCounter::kAged), 1u);
  // Seeing b again refreshes it.
  fdb.learn(b, p2, 450 * kSec);
  fdb.age(600 * kSec);
  EXPECT_EQ(targets(fdb.lookup(b, 600 * kSec)), Flood{"10.0.0.3"});
  fdb.age(750 * kSec);
  EXPECT_EQ(fdb.learned_count(), 0u);
  EXPECT_EQ(targets(fdb.lookup(b, 750 * kSec)), all);
}

TEST_F(FdbTest, AgeingTimeIsConfigurable) {
  Fdb f(FdbLimits{.max_learned = 8, .max_static = 8, .ageing_ns = 10 * kSec});
  f.add_peer(p1);
  f.learn(a, p1, 0);
  f.age(9 * kSec);
  EXPECT_EQ(f.learned_count(), 1u);
  f.age(10 * kSec);
  EXPECT_EQ(f.learned_count(), 0u);
}

TEST_F(FdbTest, StaticEntriesNeverAgeAndLearningDoesNotOverwriteThem) {
  ASSERT_EQ(fdb.add_static(a, p1), FdbResult::kOk);
  fdb.learn(a, p3, 10 * kSec);
  EXPECT_EQ(fdb.counters().get(FdbCounter::kLearnStaticConflict), 1u);
  fdb.age(1'000'000 * kSec);
  EXPECT_EQ(targets(fdb.lookup(a, 1'000'000 * kSec)), Flood{"10.0.0.2"});
  EXPECT_EQ(fdb.static_count(), 1u);
  EXPECT_EQ(fdb.learned_count(), 0u);
  EXPECT_EQ(fdb.add_static(a, p2), FdbResult::kExists);
}

TEST_F(FdbTest, StaticAddReplacesALearnedEntry) {
  fdb.learn(a, p3, 0);
  ASSERT_EQ(fdb.add_static(a, p1), FdbResult::kOk);
  EXPECT_EQ(fdb.learned_count(), 0u);
  EXPECT_EQ(fdb.static_count(), 1u);
  EXPECT_EQ(targets(fdb.lookup(a, 0)), Flood{"10.0.0.2"});
}

TEST_F(FdbTest, StaticAddValidatesMacAndPeer) {
  EXPECT_EQ(fdb.add_static(mac("01:00:5e:00:00:01"), p1), FdbResult::kInvalidMac);
  EXPECT_EQ(fdb.add_static(mac("00:00:00:00:00:00"), p1), FdbResult::kInvalidMac);
  EXPECT_EQ(fdb.add_static(a, ip("10.9.9.9")), FdbResult::kUnknownPeer);
  EXPECT_EQ(fdb.static_count(), 0u);
}

TEST_F(FdbTest, DelRemovesOnlyTheEntryPointingAtThatPeer) {
  ASSERT_EQ(fdb.add_static(a, p1), FdbResult::kOk);
  fdb.learn(b, p2, 0);
  EXPECT_EQ(fdb.del(a, p2), FdbResult::kNotFound);
  EXPECT_EQ(fdb.del(a, p1), FdbResult::kOk);
  EXPECT_EQ(fdb.del(a, p1), FdbResult::kNotFound);
  EXPECT_EQ(fdb.del(b, p2), FdbResult::kOk);
  EXPECT_EQ(fdb.static_count() + fdb.learned_count(), 0u);
  EXPECT_EQ(targets(fdb.lookup(a, 0)), all);
}

TEST_F(FdbTest, LearnedMacMovesToAnotherPeer) {
  fdb.learn(a, p1, 0);
  fdb.learn(a, p2, kSec);
  EXPECT_EQ(targets(fdb.lookup(a, kSec)), Flood{"10.0.0.3"});
  EXPECT_EQ(fdb.counters().get(FdbCounter::kMoved), 1u);
  EXPECT_EQ(fdb.learned_count(), 1u);
}

TEST_F(FdbTest, RemovingAPeerRemovesItsEntriesAndItsFloodSlot) {
  ASSERT_EQ(fdb.add_static(a, p2), FdbResult::kOk);
  fdb.learn(b, p2, 0);
  const MacAddr c = mac("02:00:00:00:00:0c");
  fdb.learn(c, p1, 0);
  ASSERT_TRUE(fdb.remove_peer(p2));
  EXPECT_FALSE(fdb.remove_peer(p2));
  EXPECT_FALSE(fdb.has_peer(p2));
  EXPECT_EQ(fdb.static_count(), 0u);
  EXPECT_EQ(fdb.learned_count(), 1u);
  EXPECT_EQ(targets(fdb.lookup(a, 0)), (Flood{"10.0.0.2", "10.0.0.4"}));
  EXPECT_EQ(targets(fdb.lookup(c, 0)), Flood{"10.0.0.2"});
}

// has_peer() scans a short flood list and binary-searches a long one: both
// must give the same answers as the list grows past the switch and shrinks.
TEST(FdbPeers, HasPeerAgreesWithThePeerListAtEverySize) {
  Fdb fdb;
  std::vector<IpAddr> peers;
  for (int i = 0; i < 20; ++i)
    peers.push_back(ip(("10.0.1." + std::to_string(20 - i)).c_str()));
  const IpAddr v6_same_bytes = ip("a00:114::");  // 10.0.1.20's bytes as IPv6
  auto check = [&](std::size_t added) {
    for (std::size_t i = 0; i < peers.size(); ++i)
      EXPECT_EQ(fdb.has_peer(peers[i]), i < added) << i << " of " << added;
    EXPECT_FALSE(fdb.has_peer(v6_same_bytes));
    EXPECT_FALSE(fdb.has_peer(ip("10.0.2.1")));
  };
  check(0);
  for (std::size_t n = 0; n < peers.size(); ++n) {
    ASSERT_TRUE(fdb.add_peer(peers[n]));
    check(n + 1);
  }
  for (std::size_t n = peers.size(); n > 0; --n) {
    ASSERT_TRUE(fdb.remove_peer(peers[n - 1]));
    check(n - 1);
  }
}

TEST(MacAddr, AsU64IsTheBigEndianNumber) {
  EXPECT_EQ(mac("01:23:45:67:89:ab").as_u64(), 0x0123456789abull);
  EXPECT_EQ(mac("ff:ff:ff:ff:ff:ff").as_u64(), 0xffffffffffffull);
  EXPECT_EQ(mac("00:00:00:00:00:01").as_u64(), 1ull);
}

TEST_F(FdbTest, LearningIsCappedAndCounted) {
  Fdb f(FdbLimits{.max_learned = 100, .max_static = 4});
  f.add_peer(p1);
  for (unsigned i = 0; i < 1000; ++i) {
    MacAddr m{{0x02, 0, 0, 0, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)}};
    f.learn(m, p1, 0);
  }
  EXPECT_EQ(f.learned_count(), 100u);
  EXPECT_EQ(f.counters().get(FdbCounter::kLearned), 100u);
  EXPECT_EQ(f.counters().get(FdbCounter::kLearnTableFull), 900u);
  // Static entries have their own budget and still fit.
  EXPECT_EQ(f.add_static(a, p1), FdbResult::kOk);
  // After ageing, learning works again.
  f.age(300 * kSec);
  EXPECT_EQ(f.learned_count(), 0u);
  f.learn(b, p1, 300 * kSec);
  EXPECT_EQ(f.learned_count(), 1u);
}

// The table starts small and doubles with the entries (memory follows use), up to the size
// its limits need: every entry stays reachable across the growths, and the table never grows
// past that bound.
TEST_F(FdbTest, TableGrowsWithItsEntriesUpToItsBound) {
  Fdb f;  // default limits: 4096 learned, 1024 static
  f.add_peer(p1);
  f.add_peer(p2);
  const std::size_t first = f.capacity();
  EXPECT_LE(first * sizeof(MacAddr), 4096u);
  auto nth = [](int i) {
    return MacAddr{{0x02, 0x10, 0, static_cast<std::uint8_t>(i >> 16),
                    static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)}};
  };
  for (int i = 0; i < 1024; ++i)
    ASSERT_EQ(f.add_static(nth(1'000'000 + i), p2), FdbResult::kOk);
  for (int i = 0; i < 5000; ++i)
    f.learn(nth(i), p1, 1);
  EXPECT_EQ(f.learned_count(), 4096u);
  EXPECT_EQ(f.static_count(), 1024u);
  EXPECT_EQ(f.counters().get(FdbCounter::kLearnTableFull), 5000u - 4096u);
  EXPECT_GT(f.capacity(), first);
  EXPECT_LE(f.capacity(), 16384u);  // (4096 + 1024) * 2 rounded up to a power of two
  EXPECT_GE(f.capacity(), 2 * (f.learned_count() + f.static_count()));
  for (int i = 0; i < 4096; ++i)
    ASSERT_EQ(targets(f.lookup(nth(i), 2)), std::vector<std::string>{"10.0.0.2"}) << i;
  for (int i = 0; i < 1024; ++i)
    ASSERT_EQ(targets(f.lookup(nth(1'000'000 + i), 2)), std::vector<std::string>{"10.0.0.3"});
  // A MAC that was refused is still unknown: flooded.
  EXPECT_EQ(f.lookup(nth(4999), 2).size(), 2u);
}

TEST_F(FdbTest, StaticEntriesAreCapped) {
  Fdb f(FdbLimits{.max_learned = 4, .max_static = 2});
  f.add_peer(p1);
  EXPECT_EQ(f.add_static(mac("02:00:00:00:00:01"), p1), FdbResult::kOk);
  EXPECT_EQ(f.add_static(mac("02:00:00:00:00:02"), p1), FdbResult::kOk);
  EXPECT_EQ(f.add_static(mac("02:00:00:00:00:03"), p1), FdbResult::kFull);
}

// Many inserts and deletes through colliding probe runs: every entry that
// should be there is found, and none that should not.
TEST_F(FdbTest, TableStaysConsistentUnderChurn) {
  Fdb f(FdbLimits{.max_learned = 64, .max_static = 0, .ageing_ns = 1000 * kSec});
  f.add_peer(p1);
  f.add_peer(p2);
  std::vector<bool> present(64, false);
  auto m = [](unsigned i) { return MacAddr{{0x02, 0, 0, 0, 0, static_cast<std::uint8_t>(i)}}; };
  std::uint32_t x = 12345;
  for (int step = 0; step < 5000; ++step) {
    x = x * 1103515245u + 12345u;
    const unsigned i = (x >> 16) % 64;
    if (present[i]) {
      ASSERT_EQ(f.del(m(i), p1), FdbResult::kOk) << step;
    } else {
      f.learn(m(i), p1, 0);
    }
    present[i] = !present[i];
  }
  std::size_t n = 0;
  for (unsigned i = 0; i < 64; ++i) {
    const auto t = f.lookup(m(i), 0);
    if (present[i]) {
      ++n;
      EXPECT_EQ(targets(t), Flood{"10.0.0.2"}) << i;
    } else {
      EXPECT_EQ(t.size(), 2u) << i;
    }
  }
  EXPECT_EQ(f.learned_count(), n);
}

TEST_F(FdbTest, JsonDumpListsEntriesSortedByMac) {
  ASSERT_EQ(fdb.add_static(b, p1), FdbResult::kOk);
  fdb.learn(a, p2, 10 * kSec);
  nlohmann::json out = nlohmann::json::array();
  fdb.append_json(out, "blue", 25 * kSec);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], (nlohmann::json{{"network", "blue"},
                                    {"mac", "02:00:00:00:00:0a"},
                                    {"peer", "10.0.0.3"},
                                    {"type", "learned"},
                                    {"age_s", 15}}));
  EXPECT_EQ(out[1], (nlohmann::json{{"network", "blue"},
                                    {"mac", "02:00:00:00:00:0b"},
                                    {"peer", "10.0.0.2"},
                                    {"type", "static"}}));
}

TEST(FdbCounterNames, EveryCounterHasAName) {
  for (std::size_t i = 0; i < static_cast<std::size_t>(FdbCounter::kCount); ++i) {
    EXPECT_NE(counter_name(static_cast<FdbCounter>(i)), "?") << i;
  }
}

}  // namespace
}  // namespace stt::daemon
