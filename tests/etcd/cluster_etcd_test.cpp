// The etcd client and the Directory thread against a real single-member etcd (label `cluster`).
#include <gtest/gtest.h>
#include <poll.h>

#include <chrono>
#include <functional>
#include <thread>

#include "cluster/directory.hpp"
#include "cluster/etcd_client.hpp"
#include "etcd_server.hpp"

namespace stt::cluster {
namespace {

using namespace std::chrono_literals;
using test::EtcdServer;

EtcdOptions opts(const EtcdServer& s) {
  return s.options();
}

// Waits, bounded, for cond() to hold, re-checking every 20 ms.
bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds bound = 10s) {
  auto deadline = std::chrono::steady_clock::now() + bound;
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

class EtcdTest : public ::testing::Test {
 protected:
  EtcdServer server;
};

TEST_F(EtcdTest, PutRangeDeleteTxn) {
  EtcdClient c(opts(server));
  ASSERT_TRUE(c.connect().ok());
  std::int64_t rev = 0;
  ASSERT_TRUE(c.put("/t/a", "1", 0, &rev).ok());
  ASSERT_TRUE(c.put("/t/b", "2").ok());
  ASSERT_TRUE(c.put("/u/c", "3").ok());
  RangeResult r;
  ASSERT_TRUE(c.range("/t/", prefix_range_end("/t/"), r).ok());
  ASSERT_EQ(r.kvs.size(), 2u);
  EXPECT_EQ(r.kvs[0].key, "/t/a");
  EXPECT_EQ(r.kvs[0].value, "1");
  EXPECT_EQ(r.kvs[0].mod_revision, rev);
  EXPECT_GE(r.revision, rev + 2);

  // Create-if-absent: the first wins, the second sees the key exists.
  TxnResult t;
  Compare absent{"/t/claim", Compare::Target::kCreate, Compare::Result::kEqual, 0, {}};
  ASSERT_TRUE(c.txn({absent}, {TxnOp::put("/t/claim", "x")}, {TxnOp::get("/t/claim")}, t).ok());
  EXPECT_TRUE(t.succeeded);
  ASSERT_TRUE(c.txn({absent}, {TxnOp::put("/t/claim", "y")}, {TxnOp::get("/t/claim")}, t).ok());
  EXPECT_FALSE(t.succeeded);
  ASSERT_EQ(t.ranges.size(), 1u);
  ASSERT_EQ(t.ranges[0].kvs.size(), 1u);
  EXPECT_EQ(t.ranges[0].kvs[0].value, "x");
  // Compare-and-swap on the mod revision: a stale revision loses.
  std::int64_t mod = t.ranges[0].kvs[0].mod_revision;
  Compare fence{"/t/claim", Compare::Target::kMod, Compare::Result::kEqual, mod, {}};
  ASSERT_TRUE(c.txn({fence}, {TxnOp::put("/t/claim", "z")}, {}, t).ok());
  EXPECT_TRUE(t.succeeded);
  ASSERT_TRUE(c.txn({fence}, {TxnOp::put("/t/claim", "w")}, {}, t).ok());
  EXPECT_FALSE(t.succeeded);

  std::int64_t deleted = 0;
  ASSERT_TRUE(c.del("/t/", prefix_range_end("/t/"), &deleted).ok());
  EXPECT_EQ(deleted, 3);
  ASSERT_TRUE(c.range("/t/claim", {}, r).ok());
  EXPECT_TRUE(r.kvs.empty());
}

TEST_F(EtcdTest, WatchFromARevisionHasNoGapAndNoDuplicate) {
  EtcdClient c(opts(server));
  ASSERT_TRUE(c.connect().ok());
  std::int64_t r1 = 0;
  ASSERT_TRUE(c.put("/w/1", "a", 0, &r1).ok());
  ASSERT_TRUE(c.put("/w/2", "b").ok());
  ASSERT_TRUE(c.del("/w/1").ok());
  EtcdStatus st;
  auto w = c.watch("/w/", prefix_range_end("/w/"), r1 + 1, st);
  ASSERT_TRUE(w) << st.to_string();
  std::vector<WatchEvent> seen;
  WatchBatch b;
  while (seen.size() < 2 && w->next(b))
    for (auto& e : b.events)
      seen.push_back(e);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].type, WatchEvent::Type::kPut);
  EXPECT_EQ(seen[0].kv.key, "/w/2");
  EXPECT_EQ(seen[1].type, WatchEvent::Type::kDelete);
  EXPECT_EQ(seen[1].kv.key, "/w/1");
  // Live events follow.
  ASSERT_TRUE(c.put("/w/3", "c").ok());
  ASSERT_TRUE(w->next(b));
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(b.events[0].kv.key, "/w/3");
  // Cancel from another thread unblocks next().
  std::thread t([&] { w->cancel(); });
  EXPECT_FALSE(w->next(b));
  t.join();
}

TEST_F(EtcdTest, WatchFromACompactedRevisionSaysSo) {
  EtcdClient c(opts(server));
  ASSERT_TRUE(c.connect().ok());
  std::int64_t r1 = 0, r3 = 0;
  ASSERT_TRUE(c.put("/k", "1", 0, &r1).ok());
  ASSERT_TRUE(c.put("/k", "2").ok());
  ASSERT_TRUE(c.put("/k", "3", 0, &r3).ok());
  ASSERT_TRUE(c.compact(r3).ok());
  RangeResult r;
  EXPECT_TRUE(c.range("/k", {}, r, r1).compacted());
  EtcdStatus st;
  auto w = c.watch("/k", {}, r1 + 1, st);
  ASSERT_TRUE(w);
  WatchBatch b;
  bool compacted = false;
  while (!compacted && w->next(b))
    compacted = b.compact_revision != 0;
  EXPECT_TRUE(compacted);
  EXPECT_EQ(b.compact_revision, r3);
}

TEST_F(EtcdTest, LeaseKeepsKeysAliveAndTheirExpiryDeletesThem) {
  EtcdClient c(opts(server));
  ASSERT_TRUE(c.connect().ok());
  std::int64_t id = 0, ttl = 0;
  ASSERT_TRUE(c.lease_grant(2, id, ttl).ok());
  EXPECT_GE(ttl, 2);
  ASSERT_TRUE(c.put("/l/k", "v", id).ok());
  std::int64_t left = 0;
  ASSERT_TRUE(c.lease_keepalive(id, left).ok());
  EXPECT_GT(left, 0);
  RangeResult r;
  ASSERT_TRUE(c.range("/l/k", {}, r).ok());
  ASSERT_EQ(r.kvs.size(), 1u);
  EXPECT_EQ(r.kvs[0].lease, id);
  // No more renewals: the key goes when the lease expires.
  EXPECT_TRUE(eventually([&] { return c.range("/l/k", {}, r).ok() && r.kvs.empty(); }, 10s));
  ASSERT_TRUE(c.lease_keepalive(id, left).ok());
  EXPECT_LE(left, 0);  // gone: a keepalive answers TTL 0
  // Revoke removes at once.
  ASSERT_TRUE(c.lease_grant(30, id, ttl).ok());
  ASSERT_TRUE(c.put("/l/k2", "v", id).ok());
  ASSERT_TRUE(c.lease_revoke(id).ok());
  ASSERT_TRUE(c.range("/l/k2", {}, r).ok());
  EXPECT_TRUE(r.kvs.empty());
}

TEST_F(EtcdTest, FailsOverToTheNextEndpoint) {
  // The first endpoint has nothing listening.
  EtcdOptions o = opts(server);
  o.endpoints.insert(o.endpoints.begin(), "http://127.0.0.1:" + std::to_string(test::free_port()));
  o.timeout = 500ms;
  EtcdClient c(o);
  ASSERT_TRUE(c.connect().ok());
  EXPECT_EQ(c.endpoint(), server.endpoint());
  EXPECT_TRUE(c.put("/f", "1").ok());
}

TEST_F(EtcdTest, AuthTokenAndRbacKeepAHostToItsOwnKeys) {
  ASSERT_EQ(server.etcdctl("user add root:rootpw"), 0);
  ASSERT_EQ(server.etcdctl("user add host-a:pw-a"), 0);
  ASSERT_EQ(server.etcdctl("role add host-a"), 0);
  ASSERT_EQ(server.etcdctl("role grant-permission host-a readwrite /stt/hosts/host-a"), 0);
  ASSERT_EQ(
      server.etcdctl("role grant-permission --prefix=true host-a readwrite /stt/macs/host-a/"), 0);
  ASSERT_EQ(server.etcdctl("role grant-permission --prefix=true host-a read /stt/"), 0);
  ASSERT_EQ(server.etcdctl("user grant-role host-a host-a"), 0);
  ASSERT_EQ(server.etcdctl("auth enable"), 0);

  EtcdOptions o = opts(server);
  o.user = "host-a";
  o.password = "wrong";
  {
    EtcdClient bad(o);
    auto s = bad.connect();
    EXPECT_FALSE(s.ok());
    EXPECT_TRUE(s.auth_failed()) << s.to_string();
  }
  o.password = "pw-a";
  EtcdClient c(o);
  ASSERT_TRUE(c.connect().ok());
  EXPECT_TRUE(c.put("/stt/hosts/host-a", "{}").ok());
  EXPECT_TRUE(c.put("/stt/macs/host-a/0000000000000001/02:00:00:00:00:01", "{}").ok());
  auto s = c.put("/stt/hosts/host-b", "{}");
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(s.auth_failed()) << s.to_string();
  s = c.put("/stt/macs/host-b/0000000000000001/02:00:00:00:00:01", "{}");
  EXPECT_TRUE(s.auth_failed()) << s.to_string();
  RangeResult r;
  EXPECT_TRUE(c.range("/stt/", prefix_range_end("/stt/"), r).ok());
  EXPECT_EQ(r.kvs.size(), 2u);
  // Without credentials, nothing.
  EtcdClient anon(opts(server));
  ASSERT_TRUE(anon.connect().ok());
  EXPECT_FALSE(anon.range("/stt/", prefix_range_end("/stt/"), r).ok());
}

TEST(EtcdTls, ClientCertificateIsRequiredAndWorks) {
  EtcdServer tls(true);
  EtcdClient c(tls.options());
  ASSERT_TRUE(c.connect().ok());
  EXPECT_TRUE(c.put("/stt/hosts/host-a", "{}").ok());
  RangeResult r;
  ASSERT_TRUE(c.range("/stt/hosts/host-a", {}, r).ok());
  EXPECT_EQ(r.kvs.size(), 1u);
  // Without a client certificate the member refuses.
  EtcdOptions no_cert = tls.options();
  no_cert.tls_cert.clear();
  no_cert.tls_key.clear();
  no_cert.timeout = 1000ms;
  EtcdClient anon(no_cert);
  EXPECT_FALSE(anon.connect().ok() && anon.range("/stt/hosts/host-a", {}, r).ok());
  // Plain text to a TLS member does not work either.
  EtcdOptions plain;
  plain.endpoints = {"http://127.0.0.1:" + tls.endpoint().substr(tls.endpoint().rfind(':') + 1)};
  plain.timeout = 1000ms;
  EtcdClient p(plain);
  EXPECT_FALSE(p.connect().ok() && p.range("/stt/hosts/host-a", {}, r).ok());
}

// ---- the Directory thread ----

DirectoryConfig dir_config(const EtcdServer& s, const std::string& name, const char* addr) {
  DirectoryConfig cfg;
  cfg.etcd = opts(s);
  cfg.etcd.timeout = 1000ms;
  cfg.lease_ttl_s = 3;
  cfg.self = HostRecord{name, *wire::IpAddr::parse(addr), 7471, {0x10}};
  cfg.backoff_min = 50ms;
  cfg.backoff_max = 500ms;
  cfg.read_page = 2;  // full reads take several pages
  return cfg;
}

// What the loop would mirror: applies the Directory's changes as they come.
struct Mirror {
  std::map<std::string, HostRecord> hosts;
  std::map<std::uint64_t, MacView> macs;  // ctx 0x10 only
  std::size_t changes = 0;

  void drain(Directory& d) {
    std::vector<Change> ch;
    d.take_changes(ch);
    changes += ch.size();
    for (auto& c : ch) {
      switch (c.kind) {
        case Change::Kind::kHostUp:
          hosts[c.host.name] = c.host;
          break;
        case Change::Kind::kHostDown:
          hosts.erase(c.host.name);
          break;
        case Change::Kind::kMacSet:
          macs[c.mac.as_u64()] = c.view;
          break;
        case Change::Kind::kMacRemoved:
          macs.erase(c.mac.as_u64());
          break;
      }
    }
  }
  // Waits, bounded, on the Directory's eventfd until cond() holds.
  bool until(Directory& d, const std::function<bool()>& cond,
             std::chrono::milliseconds bound = 10s) {
    auto deadline = std::chrono::steady_clock::now() + bound;
    while (true) {
      drain(d);
      if (cond()) return true;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{d.event_fd(), POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(std::min<long>(left.count(), 100)));
    }
  }
};

const wire::MacAddr kMac = *wire::MacAddr::parse("02:00:00:00:00:01");

TEST_F(EtcdTest, DirectoryMembershipMacsAndCleanLeave) {
  Directory a(dir_config(server, "host-a", "192.0.2.1"));
  Directory b(dir_config(server, "host-b", "192.0.2.2"));
  a.start();
  b.start();
  Mirror ma, mb;
  ASSERT_TRUE(ma.until(a, [&] { return ma.hosts.count("host-b") == 1; }));
  ASSERT_TRUE(mb.until(b, [&] { return mb.hosts.count("host-a") == 1; }));
  EXPECT_EQ(mb.hosts["host-a"].address, *wire::IpAddr::parse("192.0.2.1"));
  // a's host key is visible before a itself has read and started its watch.
  ASSERT_TRUE(eventually([&] { return a.status().state == DirectoryState::kConnected; }));
  EXPECT_NE(a.status().lease_id, 0);

  a.publish_local(0x10, kMac, {*wire::IpAddr::parse("10.0.0.1")});
  ASSERT_TRUE(mb.until(b, [&] { return mb.macs.count(kMac.as_u64()) == 1; }));
  EXPECT_EQ(mb.macs[kMac.as_u64()].address, *wire::IpAddr::parse("192.0.2.1"));
  EXPECT_EQ(mb.macs[kMac.as_u64()].ips.size(), 1u);
  EXPECT_EQ(mb.macs[kMac.as_u64()].seq, 1u);

  // The MAC moves to b: b takes the claim with seq 2; a withdraws its own entry.
  b.publish_local(0x10, kMac, {});
  ASSERT_TRUE(ma.until(a, [&] {
    return ma.macs.count(kMac.as_u64()) == 1 && ma.macs[kMac.as_u64()].host == "host-b";
  }));
  EXPECT_EQ(ma.macs[kMac.as_u64()].seq, 2u);
  ASSERT_TRUE(eventually([&] { return a.status().moves_lost == 1 && a.status().local_macs == 0; }));
  EXPECT_EQ(b.status().moves_won, 1u);
  ASSERT_TRUE(mb.until(b, [&] { return mb.macs.empty(); }));  // it is b's own now

  // A clean stop revokes the lease: b drops a at once (no TTL wait).
  auto t0 = std::chrono::steady_clock::now();
  a.stop(true);
  ASSERT_TRUE(mb.until(
      b, [&] { return mb.hosts.empty(); }, 2s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
}

TEST_F(EtcdTest, DirectoryRegistersNewContextsAfterAReload) {
  Directory a(dir_config(server, "host-a", "192.0.2.1"));
  Directory b(dir_config(server, "host-b", "192.0.2.2"));
  a.start();
  b.start();
  Mirror mb;
  ASSERT_TRUE(mb.until(b, [&] { return mb.hosts.count("host-a") == 1; }));
  EXPECT_EQ(mb.hosts["host-a"].contexts, std::vector<std::uint64_t>{0x10});
  a.set_contexts({0x30, 0x10, 0x20, 0x10});
  ASSERT_TRUE(mb.until(b, [&] { return mb.hosts["host-a"].contexts.size() == 3; }));
  EXPECT_EQ(mb.hosts["host-a"].contexts, (std::vector<std::uint64_t>{0x10, 0x20, 0x30}));
}

TEST_F(EtcdTest, DirectoryCountsGarbageAndForgeries) {
  Directory b(dir_config(server, "host-b", "192.0.2.2"));
  b.start();
  Mirror mb;
  EtcdClient c(opts(server));
  ASSERT_TRUE(c.connect().ok());
  HostRecord a{"host-a", *wire::IpAddr::parse("192.0.2.1"), 7471, {0x10}};
  ASSERT_TRUE(c.put(host_key("/stt", "host-a"), encode_host(a)).ok());
  // host-a's keys naming host-b's address: a forgery.
  MacRecord forged{kMac, 0x10, *wire::IpAddr::parse("192.0.2.2"), {}, 1};
  ASSERT_TRUE(c.put(mac_key("/stt", "host-a", 0x10, kMac), encode_mac(forged)).ok());
  ASSERT_TRUE(c.put("/stt/hosts/garbage", "\x01\x02 not json").ok());
  ASSERT_TRUE(c.put("/stt/nonsense", "{}").ok());
  ASSERT_TRUE(eventually([&] {
    auto s = b.status();
    return s.counters.get(ClusterCounter::kRefused) == 1 &&
           s.counters.get(ClusterCounter::kMalformed) == 1 &&
           s.counters.get(ClusterCounter::kUnknownKey) == 1;
  }));
  mb.drain(b);
  EXPECT_EQ(mb.hosts.count("host-a"), 1u);
  EXPECT_TRUE(mb.macs.empty());
}

TEST_F(EtcdTest, DirectoryIsFailStaticAndReconcilesAfterAnOutage) {
  Directory a(dir_config(server, "host-a", "192.0.2.1"));
  Directory b(dir_config(server, "host-b", "192.0.2.2"));
  a.start();
  b.start();
  Mirror ma;
  b.publish_local(0x10, kMac, {});
  ASSERT_TRUE(
      ma.until(a, [&] { return ma.hosts.count("host-b") && ma.macs.count(kMac.as_u64()); }));
  std::size_t before = ma.changes;

  server.kill();
  ASSERT_TRUE(eventually([&] { return a.status().state != DirectoryState::kConnected; }));
  EXPECT_FALSE(a.status().last_error.empty());
  // Nothing is taken away while etcd is gone.
  ma.drain(a);
  EXPECT_EQ(ma.changes, before);
  EXPECT_EQ(ma.hosts.count("host-b"), 1u);
  // b stops while etcd is down (its revoke cannot reach etcd); c would join meanwhile.
  b.stop(true);

  server.start();
  Directory c(dir_config(server, "host-c", "192.0.2.3"));
  c.start();
  ASSERT_TRUE(ma.until(
      a, [&] { return ma.hosts.count("host-c") == 1; }, 20s));
  EXPECT_TRUE(eventually([&] { return a.status().state == DirectoryState::kConnected; }));
  EXPECT_GE(a.status().counters.get(ClusterCounter::kResyncs), 2u);
  // b's lease was not revoked; it expires after its TTL and b leaves then.
  ASSERT_TRUE(ma.until(
      a, [&] { return ma.hosts.count("host-b") == 0 && ma.macs.empty(); }, 20s));
}

}  // namespace
}  // namespace stt::cluster
