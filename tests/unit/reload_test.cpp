// plan_reload: every case of docs/design.md "Reload", as a list of actions,
// without a daemon.
#include "daemon/reload.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace stt::daemon {
namespace {

using Kind = ReloadAction::Kind;

wire::IpAddr ip(const char* s) {
  return *wire::IpAddr::parse(s);
}
wire::MacAddr mac(const char* s) {
  return *wire::MacAddr::parse(s);
}

Config running() {
  Config c;
  c.path = "/etc/sttd.toml";
  c.underlay_interface = "eth0";
  c.local = ip("10.0.0.1");
  NetworkConfig a;
  a.name = "a";
  a.context_id = 1;
  a.tap = "stt-a";  // the default name, as load_config fills it in
  a.peers = {ip("10.0.0.2")};
  NetworkConfig b;
  b.name = "b";
  b.context_id = 2;
  b.tap = "tap-b";
  b.mtu = 9000;
  b.peers = {ip("10.0.0.2"), ip("10.0.0.3")};
  b.fdb = {{mac("02:00:00:00:00:0b"), ip("10.0.0.3")}};
  c.networks = {a, b};
  return c;
}

NetworkConfig& net(Config& c, const std::string& name) {
  for (auto& n : c.networks) {
    if (n.name == name) return n;
  }
  throw std::logic_error("no network " + name);
}

std::vector<Kind> kinds(const ReloadPlan& p) {
  std::vector<Kind> k;
  for (const auto& a : p.actions)
    k.push_back(a.kind);
  return k;
}

TEST(PlanReload, SameConfigTouchesNothing) {
  const ReloadPlan p = plan_reload(running(), running());
  EXPECT_FALSE(p.refused);
  EXPECT_TRUE(p.actions.empty());
  EXPECT_EQ(p.unchanged, (std::vector<std::string>{"a", "b"}));
}

TEST(PlanReload, ContextIdChangeRecreatesOnlyThatNetwork) {
  Config next = running();
  net(next, "a").context_id = 7;
  const ReloadPlan p = plan_reload(running(), next);
  ASSERT_FALSE(p.refused);
  ASSERT_EQ(kinds(p), (std::vector<Kind>{Kind::kRemoveNetwork, Kind::kCreateNetwork}));
  EXPECT_EQ(p.actions[0].network, "a");
  EXPECT_TRUE(p.actions[0].recreate);
  EXPECT_EQ(p.actions[1].network, "a");
  EXPECT_EQ(p.actions[1].config.context_id, 7u);
  EXPECT_EQ(p.unchanged, (std::vector<std::string>{"b"}));
}

TEST(PlanReload, TapChangeRecreates) {
  Config next = running();
  net(next, "b").tap = "tap-b2";
  const ReloadPlan p = plan_reload(running(), next);
  ASSERT_EQ(kinds(p), (std::vector<Kind>{Kind::kRemoveNetwork, Kind::kCreateNetwork}));
  EXPECT_EQ(p.actions[0].network, "b");
  EXPECT_TRUE(p.actions[0].recreate);
  EXPECT_EQ(p.actions[1].config.tap, "tap-b2");
  EXPECT_EQ(p.unchanged, (std::vector<std::string>{"a"}));
}

TEST(PlanReload, RemovedAndAddedNetworks) {
  Config next = running();
  next.networks.erase(next.networks.begin());  // a goes
  NetworkConfig c;
  c.name = "c";
  c.context_id = 3;
  NetworkConfig d;
  d.name = "d";
  d.context_id = 4;
  next.networks.insert(next.networks.begin(), d);  // file order: d, b, c
  next.networks.push_back(c);
  const ReloadPlan p = plan_reload(running(), next);
  ASSERT_EQ(kinds(p),
            (std::vector<Kind>{Kind::kRemoveNetwork, Kind::kCreateNetwork, Kind::kCreateNetwork}));
  EXPECT_EQ(p.actions[0].network, "a");
  EXPECT_FALSE(p.actions[0].recreate);
  EXPECT_EQ(p.actions[1].network, "d");  // created in the file's order
  EXPECT_EQ(p.actions[2].network, "c");
  EXPECT_EQ(p.unchanged, (std::vector<std::string>{"b"}));
}

TEST(PlanReload, MtuChange) {
  Config next = running();
  net(next, "b").mtu = 1400;
  const ReloadPlan p = plan_reload(running(), next);
  ASSERT_EQ(kinds(p), (std::vector<Kind>{Kind::kSetMtu}));
  EXPECT_EQ(p.actions[0].network, "b");
  EXPECT_EQ(p.actions[0].old_mtu, 9000u);
  EXPECT_EQ(p.actions[0].mtu, 1400u);
  EXPECT_EQ(p.unchanged, (std::vector<std::string>{"a"}));
}

TEST(PlanReload, PeersAddedAndRemoved) {
  Config next = running();
  net(next, "a").peers = {ip("10.0.0.4"), ip("10.0.0.5")};
  const ReloadPlan p = plan_reload(running(), next);
  ASSERT_EQ(kinds(p), (std::vector<Kind>{Kind::kRemovePeer, Kind::kAddPeer, Kind::kAddPeer}));
  EXPECT_EQ(p.actions[0].peer, ip("10.0.0.2"));
  EXPECT_EQ(p.actions[1].peer, ip("10.0.0.4"));
  EXPECT_EQ(p.actions[2].peer, ip("10.0.0.5"));
  for (const auto& a : p.actions)
    EXPECT_EQ(a.network, "a");
}

TEST(PlanReload, StaticFdbDiff) {
  Config next = running();
  net(next, "b").fdb = {{mac("02:00:00:00:00:0c"), ip("10.0.0.2")}};
  const ReloadPlan p = plan_reload(running(), next);
  ASSERT_EQ(kinds(p), (std::vector<Kind>{Kind::kRemoveStaticFdb, Kind::kAddStaticFdb}));
  EXPECT_EQ(p.actions[0].entry.mac, mac("02:00:00:00:00:0b"));
  EXPECT_EQ(p.actions[1].entry.mac, mac("02:00:00:00:00:0c"));
  EXPECT_EQ(p.actions[1].entry.peer, ip("10.0.0.2"));
  // The same MAC behind another peer is a removal and an addition too.
  Config moved = running();
  net(moved, "b").fdb[0].peer = ip("10.0.0.2");
  EXPECT_EQ(kinds(plan_reload(running(), moved)),
            (std::vector<Kind>{Kind::kRemoveStaticFdb, Kind::kAddStaticFdb}));
}

TEST(PlanReload, ChangesOfOneNetworkInApplyOrder) {
  Config next = running();
  NetworkConfig& b = net(next, "b");
  b.mtu = 1500;
  b.peers = {ip("10.0.0.2"), ip("10.0.0.9")};  // 10.0.0.3 goes, with its entry
  b.fdb = {{mac("02:00:00:00:00:0d"), ip("10.0.0.9")}};
  const ReloadPlan p = plan_reload(running(), next);
  EXPECT_EQ(kinds(p), (std::vector<Kind>{Kind::kSetMtu, Kind::kRemoveStaticFdb, Kind::kRemovePeer,
                                         Kind::kAddPeer, Kind::kAddStaticFdb}));
  EXPECT_EQ(p.unchanged, (std::vector<std::string>{"a"}));
}

TEST(PlanReload, RestartRequiredKeysRefuseEverything) {
  struct Case {
    const char* key;
    void (*change)(Config&);
  };
  const Case cases[] = {
      {"underlay.interface", [](Config& c) { c.underlay_interface = "eth1"; }},
      {"underlay.local", [](Config& c) { c.local = ip("10.0.0.99"); }},
      {"underlay.port", [](Config& c) { c.port = 7472; }},
      {"underlay.fdb_ageing", [](Config& c) { c.fdb_ageing_s = 60; }},
      {"underlay.dscp",
       [](Config& c) {
         c.dscp_mode = DscpSetting::kFixed;
         c.dscp = 10;
       }},
      {"underlay.ecn", [](Config& c) { c.ecn = EcnSetting::kOff; }},
      {"underlay.lro", [](Config& c) { c.lro = LroSetting::kIgnore; }},
      {"control.socket", [](Config& c) { c.control_socket = "/run/other.sock"; }},
  };
  for (const Case& c : cases) {
    Config next = running();
    c.change(next);
    net(next, "a").mtu = 1400;  // a change that would be applied otherwise
    const ReloadPlan p = plan_reload(running(), next);
    ASSERT_TRUE(p.refused) << c.key;
    EXPECT_NE(p.refused->find(std::string(c.key) + ": changed from "), std::string::npos)
        << *p.refused;
    EXPECT_NE(p.refused->find("restart required"), std::string::npos) << *p.refused;
    EXPECT_FALSE(p.invalid_config);
    EXPECT_TRUE(p.actions.empty()) << c.key;
  }
}

class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    char name[] = "/tmp/stt-reload-test-XXXXXX";
    const int fd = mkstemp(name);
    if (fd < 0) throw std::runtime_error("mkstemp");
    close(fd);
    path_ = name;
    std::ofstream(path_) << text;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

const char* kFile = R"(
[underlay]
interface = "eth0"
local = "10.0.0.1"
[[network]]
name = "a"
context_id = 1
peers = ["10.0.0.2"]
)";

TEST(PlanReloadFile, InvalidFileRefusesWithItsError) {
  TempFile f("[underlay]\ninterface = \"eth0\"\nlocal = \"not-an-address\"\n");
  const ReloadPlan p = plan_reload_file(running(), f.path());
  ASSERT_TRUE(p.refused);
  EXPECT_TRUE(p.invalid_config);
  EXPECT_NE(p.refused->find(f.path()), std::string::npos) << *p.refused;
  EXPECT_NE(p.refused->find("local"), std::string::npos) << *p.refused;
  EXPECT_TRUE(p.actions.empty());
}

TEST(PlanReloadFile, ValidFileIsPlanned) {
  TempFile f(kFile);
  const ReloadPlan p = plan_reload_file(running(), f.path());
  ASSERT_FALSE(p.refused) << *p.refused;
  // b is gone; a stays as it is.
  ASSERT_EQ(kinds(p), (std::vector<Kind>{Kind::kRemoveNetwork}));
  EXPECT_EQ(p.actions[0].network, "b");
  EXPECT_EQ(p.unchanged, (std::vector<std::string>{"a"}));
  EXPECT_EQ(p.next.path, f.path());
}

}  // namespace
}  // namespace stt::daemon
