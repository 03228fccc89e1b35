// R17 startup check (daemon/lro.hpp): what sttd decides for every LRO state
// the underlay can report, with a fake in place of the ethtool ioctls.

#include "daemon/lro.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>

namespace stt::daemon {
namespace {

using Action = LroReport::Action;

// A NIC as the ethtool calls see it. read() and disable() fail when told to.
class FakeNic : public LroControl {
 public:
  sys::NetdevFeature feature;
  bool read_fails = false;
  bool disable_fails = false;
  bool disable_is_ignored = false;  // the driver accepts the request but LRO stays on
  int reads = 0, disables = 0;
  std::string ifname_seen;

  sys::NetdevFeature read(const std::string& ifname) override {
    ++reads;
    ifname_seen = ifname;
    if (read_fails) throw std::runtime_error("ethtool GFEATURES on " + ifname + ": No such device");
    return feature;
  }
  sys::NetdevFeature disable(const std::string& ifname) override {
    ++disables;
    if (disable_fails) {
      throw std::runtime_error("ethtool SFEATURES on " + ifname + ": Operation not permitted");
    }
    if (!disable_is_ignored && feature.changeable) feature.active = false;
    return feature;
  }
};

FakeNic nic(bool active, bool changeable) {
  FakeNic n;
  n.feature = {active, changeable};
  return n;
}

TEST(Lro, OffIsLeftAloneInBothSettings) {
  for (LroSetting s : {LroSetting::kDisable, LroSetting::kIgnore}) {
    for (bool changeable : {true, false}) {
      FakeNic n = nic(false, changeable);
      const LroReport r = check_lro("eth7", s, n);
      EXPECT_EQ(r.action, Action::kNone);
      EXPECT_EQ(n.disables, 0);
      EXPECT_EQ(n.ifname_seen, "eth7");
      EXPECT_NE(r.message.find("eth7"), std::string::npos) << r.message;
      EXPECT_NE(r.message.find(changeable ? "is off" : "is off [fixed]"), std::string::npos)
          << r.message;
    }
  }
}

TEST(Lro, OnAndChangeableIsTurnedOff) {
  FakeNic n = nic(true, true);
  const LroReport r = check_lro("eth7", LroSetting::kDisable, n);
  EXPECT_EQ(r.action, Action::kDisabled);
  EXPECT_EQ(n.disables, 1);
  EXPECT_FALSE(n.feature.active);
  ASSERT_TRUE(r.before && r.after);
  EXPECT_TRUE(r.before->active);
  EXPECT_FALSE(r.after->active);
  EXPECT_NE(r.message.find("turned it off"), std::string::npos) << r.message;
  const nlohmann::json j = lro_json(r);
  EXPECT_EQ(j["state"], "off");
  EXPECT_EQ(j["action"], "disabled");
  EXPECT_EQ(j["setting"], "disable");
  EXPECT_EQ(j["fixed"], false);
}

TEST(Lro, OnAndFixedRefusesWithoutTrying) {
  FakeNic n = nic(true, false);
  const LroReport r = check_lro("eth7", LroSetting::kDisable, n);
  EXPECT_EQ(r.action, Action::kRefused);
  EXPECT_EQ(n.disables, 0);
  EXPECT_NE(r.message.find("underlay eth7"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("fixed"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("lro = \"ignore\""), std::string::npos) << r.message;
}

TEST(Lro, OnAndTheRequestFailsRefuses) {
  FakeNic n = nic(true, true);
  n.disable_fails = true;
  const LroReport r = check_lro("eth7", LroSetting::kDisable, n);
  EXPECT_EQ(r.action, Action::kRefused);
  EXPECT_EQ(n.disables, 1);
  EXPECT_NE(r.message.find("Operation not permitted"), std::string::npos) << r.message;
}

TEST(Lro, OnAndStillOnAfterTheRequestRefuses) {
  FakeNic n = nic(true, true);
  n.disable_is_ignored = true;
  const LroReport r = check_lro("eth7", LroSetting::kDisable, n);
  EXPECT_EQ(r.action, Action::kRefused);
  EXPECT_NE(r.message.find("stayed on"), std::string::npos) << r.message;
  EXPECT_EQ(lro_json(r)["state"], "on");
}

TEST(Lro, UnreadableRefusesUnlessIgnored) {
  FakeNic n = nic(false, false);
  n.read_fails = true;
  LroReport r = check_lro("eth7", LroSetting::kDisable, n);
  EXPECT_EQ(r.action, Action::kRefused);
  EXPECT_NE(r.message.find("No such device"), std::string::npos) << r.message;
  EXPECT_EQ(lro_json(r)["state"], "unknown");
  EXPECT_TRUE(lro_json(r)["fixed"].is_null());

  r = check_lro("eth7", LroSetting::kIgnore, n);
  EXPECT_EQ(r.action, Action::kIgnored);
  EXPECT_EQ(n.disables, 0);
}

TEST(Lro, IgnoreLeavesLroOnAndSaysSo) {
  for (bool changeable : {true, false}) {
    FakeNic n = nic(true, changeable);
    const LroReport r = check_lro("eth7", LroSetting::kIgnore, n);
    EXPECT_EQ(r.action, Action::kIgnored);
    EXPECT_EQ(n.disables, 0);
    EXPECT_TRUE(n.feature.active);
    EXPECT_NE(r.message.find("left on"), std::string::npos) << r.message;
    EXPECT_EQ(lro_json(r)["state"], "on");
    EXPECT_EQ(lro_json(r)["setting"], "ignore");
  }
}

}  // namespace
}  // namespace stt::daemon
