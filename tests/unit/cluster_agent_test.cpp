// sttd's side of the directory (daemon/cluster_agent.hpp) on an in-memory data path: directory
// hosts become peers (source cluster) of the networks they serve, directory MACs FDB entries of
// type cluster, tenants' ARP requests for directory addresses are answered on the TAP.
#include "daemon/cluster_agent.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <vector>

#include "wire/bytes.hpp"

namespace stt::daemon {
namespace {

wire::IpAddr ip(const char* s) {
  return *wire::IpAddr::parse(s);
}
wire::MacAddr mac(const char* s) {
  return *wire::MacAddr::parse(s);
}

const wire::MacAddr kTenant = mac("02:00:00:00:0a:01");
const wire::MacAddr kRemote = mac("02:00:00:00:0b:01");

sys::LinkInfo underlay() {
  sys::LinkInfo l;
  l.index = 7;
  l.mac = mac("02:00:5e:00:53:01");
  l.mtu = 1500;
  return l;
}

std::vector<std::uint8_t> arp_request(const wire::MacAddr& sha, const char* spa, const char* tpa) {
  std::vector<std::uint8_t> f(42, 0);
  std::memset(f.data(), 0xff, 6);
  std::memcpy(f.data() + 6, sha.b.data(), 6);
  wire::store_be16(f.data() + 12, 0x0806);
  std::uint8_t* a = f.data() + 14;
  wire::store_be16(a, 1);
  wire::store_be16(a + 2, 0x0800);
  a[4] = 6;
  a[5] = 4;
  wire::store_be16(a + 6, 1);
  std::memcpy(a + 8, sha.b.data(), 6);
  std::memcpy(a + 14, ip(spa).data(), 4);
  std::memcpy(a + 24, ip(tpa).data(), 4);
  return f;
}

DataplaneOptions options() {
  DataplaneOptions o;
  o.underlay = "veth0";
  o.local = ip("192.0.2.1");
  return o;
}

struct Fixture : ::testing::Test {
  Fixture() : io(underlay(), true), hops(7, mac("02:00:5e:00:53:fe")), dp(options(), io, hops) {
    cfg.local = ip("192.0.2.1");
    NetworkConfig blue;
    blue.name = "blue";
    blue.context_id = 0x10;
    blue.tap = "stt-blue";
    NetworkConfig red;
    red.name = "red";
    red.context_id = 0x20;
    red.tap = "stt-red";
    cfg.networks = {blue, red};
    ClusterConfig cl;
    cl.etcd = {"http://127.0.0.1:1"};  // never started: changes are applied by hand
    cl.name = "self";
    cfg.cluster = cl;
    for (const auto& n : cfg.networks)
      dp.add_network(n, FdbLimits{});
    agent = std::make_unique<ClusterAgent>(cfg, dp, io);
  }
  Network& net(const char* name) { return *dp.network(name); }

  Config cfg;
  MemoryPacketIo io;
  StaticNextHops hops;
  Dataplane dp;
  std::unique_ptr<ClusterAgent> agent;
};

cluster::Change host_up(const char* name, const char* addr, std::vector<std::uint64_t> ctxs) {
  cluster::Change c{cluster::Change::Kind::kHostUp, {}, 0, {}, {}};
  c.host = cluster::HostRecord{name, ip(addr), 7471, std::move(ctxs)};
  return c;
}
cluster::Change host_down(const char* name) {
  cluster::Change c{cluster::Change::Kind::kHostDown, {}, 0, {}, {}};
  c.host.name = name;
  return c;
}
cluster::Change mac_set(std::uint64_t ctx, const wire::MacAddr& m, const char* addr,
                        std::vector<wire::IpAddr> ips) {
  return cluster::Change{cluster::Change::Kind::kMacSet,
                         {},
                         ctx,
                         m,
                         cluster::MacView{"h", ip(addr), cluster::IpList(ips), 1}};
}

TEST_F(Fixture, HostsBecomePeersOfTheNetworksTheyServe) {
  agent->apply({host_up("h2", "192.0.2.2", {0x10}), host_up("h3", "192.0.2.3", {0x10, 0x20}),
                host_up("me-again", "192.0.2.1", {0x10})});
  EXPECT_EQ(net("blue").fdb.peers().size(), 2u);
  EXPECT_EQ(net("red").fdb.peers().size(), 1u);
  EXPECT_EQ(agent->counters().get(AgentCounter::kHostIgnored), 1u);  // our own address
  const Peer* p = dp.peers().sorted()[0];
  EXPECT_EQ(p->sources(), static_cast<PeerSources>(PeerSource::kCluster));
  // h3 stops serving red, then leaves.
  agent->apply({host_up("h3", "192.0.2.3", {0x10})});
  EXPECT_EQ(net("red").fdb.peers().size(), 0u);
  agent->apply({host_down("h3")});
  EXPECT_EQ(net("blue").fdb.peers().size(), 1u);
  // A configured peer that is also in the directory stays when the directory drops it.
  dp.add_peer(net("blue"), ip("192.0.2.2"), PeerSource::kConfig);
  agent->apply({host_down("h2")});
  EXPECT_EQ(net("blue").fdb.peers().size(), 1u);
}

TEST_F(Fixture, DirectoryMacsAreClusterFdbEntriesAndArpIsAnsweredLocally) {
  agent->apply({host_up("h2", "192.0.2.2", {0x10}),
                mac_set(0x10, kRemote, "192.0.2.2", {ip("10.0.0.2")}),
                mac_set(0x99, kRemote, "192.0.2.2", {})});
  EXPECT_EQ(agent->counters().get(AgentCounter::kMacNoNetwork), 1u);
  EXPECT_EQ(net("blue").fdb.cluster_count(), 1u);
  auto t = net("blue").fdb.lookup(kRemote, 1);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0], ip("192.0.2.2"));

  // A tenant asks for 10.0.0.2: answered on the TAP, nothing sent.
  auto req = arp_request(kTenant, "10.0.0.1", "10.0.0.2");
  EXPECT_TRUE(agent->on_tap_frame(net("blue"), req.data(), req.size(), 1));
  ASSERT_EQ(io.written.size(), 1u);
  const auto& reply = io.written[0].bytes;
  ASSERT_EQ(reply.size(), 42u);
  EXPECT_EQ(0, std::memcmp(reply.data(), kTenant.b.data(), 6));
  EXPECT_EQ(0, std::memcmp(reply.data() + 6, kRemote.b.data(), 6));
  EXPECT_EQ(agent->counters().get(AgentCounter::kArpSuppressed), 1u);
  // Unknown addresses, and other networks, are not answered.
  req = arp_request(kTenant, "10.0.0.1", "10.0.0.9");
  EXPECT_FALSE(agent->on_tap_frame(net("blue"), req.data(), req.size(), 2));
  req = arp_request(kTenant, "10.0.0.1", "10.0.0.2");
  EXPECT_FALSE(agent->on_tap_frame(net("red"), req.data(), req.size(), 3));
  // The tenant's own address was snooped from its requests.
  EXPECT_EQ(agent->counters().get(AgentCounter::kSnooped), 2u);  // once per network
  EXPECT_GE(agent->counters().get(AgentCounter::kLocalPublished), 2u);

  // The MAC goes: no entry, no answer.
  agent->apply({cluster::Change{cluster::Change::Kind::kMacRemoved, {}, 0x10, kRemote, {}}});
  EXPECT_EQ(net("blue").fdb.cluster_count(), 0u);
  req = arp_request(kTenant, "10.0.0.1", "10.0.0.2");
  EXPECT_FALSE(agent->on_tap_frame(net("blue"), req.data(), req.size(), 4));
  nlohmann::json st = agent->status_json();
  EXPECT_EQ(st["name"], "self");
  EXPECT_EQ(st["counters"]["cluster_arp_suppressed"], 1);
}

// A static FDB entry naming this host (its own underlay address) is one of its tenants: it is
// published like a MAC seen on the TAP, never aged, never an FDB entry of its own, and
// withdrawn when a reload takes it out of the config.
TEST_F(Fixture, StaticEntriesNamingThisHostArePublishedAndNeverAged) {
  const wire::MacAddr pinned = mac("02:00:00:00:0c:01");
  EXPECT_EQ(agent->status_json()["local_macs"], 0);
  net("blue").cfg.fdb.push_back(StaticFdbEntry{pinned, cfg.local});
  agent->networks_changed();  // what a reload does after it changed the networks
  EXPECT_EQ(agent->status_json()["local_macs"], 1);
  EXPECT_EQ(agent->counters().get(AgentCounter::kLocalPublished), 1u);
  EXPECT_EQ(net("blue").fdb.static_count(), 0u);  // nothing is forwarded to it
  // A tenant seen on the TAP ages out; the static one stays.
  auto req = arp_request(kTenant, "10.0.0.1", "10.0.0.9");
  agent->on_tap_frame(net("blue"), req.data(), req.size(), 1);
  EXPECT_EQ(agent->status_json()["local_macs"], 2);
  agent->tick(1'000'000'000'000ull);
  EXPECT_EQ(agent->status_json()["local_macs"], 1);
  EXPECT_EQ(agent->counters().get(AgentCounter::kLocalWithdrawn), 1u);
  // The directory saying it lives elsewhere does not make this host forget it.
  agent->apply({host_up("h2", "192.0.2.2", {0x10}), mac_set(0x10, pinned, "192.0.2.2", {})});
  EXPECT_EQ(agent->status_json()["local_macs"], 1);
  // Configured again unchanged: not published twice. Taken out: withdrawn.
  agent->networks_changed();
  EXPECT_EQ(agent->counters().get(AgentCounter::kLocalPublished), 2u);  // 1 + the tenant
  net("blue").cfg.fdb.clear();
  agent->networks_changed();
  EXPECT_EQ(agent->status_json()["local_macs"], 0);
  EXPECT_EQ(agent->counters().get(AgentCounter::kLocalWithdrawn), 2u);
}

// The directory keys a MAC by (context ID, MAC), without a VLAN, and the addresses it carries
// answer for the whole context: a VLAN-tagged ARP request is neither snooped nor answered (it
// is flooded as before), so one VLAN's addresses never answer for another's.
TEST_F(Fixture, VlanTaggedArpIsNeitherSnoopedNorAnswered) {
  agent->apply(
      {host_up("h2", "192.0.2.2", {0x10}), mac_set(0x10, kRemote, "192.0.2.2", {ip("10.0.0.2")})});
  auto untagged = arp_request(kTenant, "10.0.0.1", "10.0.0.2");
  std::vector<std::uint8_t> tagged(untagged.begin(), untagged.begin() + 12);
  const std::uint8_t tag[] = {0x81, 0x00, 0x00, 0x0a};  // 802.1Q, VLAN 10
  tagged.insert(tagged.end(), tag, tag + 4);
  tagged.insert(tagged.end(), untagged.begin() + 12, untagged.end());
  EXPECT_FALSE(agent->on_tap_frame(net("blue"), tagged.data(), tagged.size(), 1));
  EXPECT_TRUE(io.written.empty());
  EXPECT_EQ(agent->counters().get(AgentCounter::kSnooped), 0u);
  EXPECT_EQ(agent->counters().get(AgentCounter::kArpSuppressed), 0u);
  // The same request untagged is answered.
  EXPECT_TRUE(agent->on_tap_frame(net("blue"), untagged.data(), untagged.size(), 2));
  EXPECT_EQ(agent->counters().get(AgentCounter::kArpSuppressed), 1u);
}

}  // namespace
}  // namespace stt::daemon
