// The directory model (src/cluster/model.hpp): key layout, value codecs, the belief rules of
// docs/cluster.md, bounded memory, and reconcile after a full read.
#include "cluster/model.hpp"

#include "cluster/flat_json.hpp"
#include "cluster/flat_map.hpp"
#include "cluster/ip_list.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace stt::cluster {
namespace {

const std::string kPrefix = "/stt";
constexpr std::uint64_t kCtx = 0x10;

wire::IpAddr ip(const char* s) {
  return *wire::IpAddr::parse(s);
}
wire::MacAddr mac(const char* s) {
  return *wire::MacAddr::parse(s);
}

HostRecord host(const std::string& name, const char* addr,
                std::vector<std::uint64_t> ctxs = {kCtx}) {
  return HostRecord{name, ip(addr), 7471, std::move(ctxs)};
}

void put_host(DirectoryModel& m, const HostRecord& h, std::int64_t rev = 1) {
  m.put(host_key(kPrefix, h.name), encode_host(h), rev);
}

void put_mac(DirectoryModel& m, const std::string& h, const char* addr, const char* mac_text,
             std::uint64_t seq, std::uint64_t ctx = kCtx) {
  MacRecord r{mac(mac_text), ctx, ip(addr), {ip("10.1.0.5")}, seq};
  m.put(mac_key(kPrefix, h, ctx, r.mac), encode_mac(r), 1);
}

std::vector<Change> flush(DirectoryModel& m) {
  std::vector<Change> out;
  m.flush(out);
  return out;
}

std::size_t count(const std::vector<Change>& v, Change::Kind k) {
  return static_cast<std::size_t>(
      std::count_if(v.begin(), v.end(), [&](const Change& c) { return c.kind == k; }));
}

std::uint64_t counter(const DirectoryModel& m, ClusterCounter c) {
  return m.counters().get(c);
}

TEST(ClusterKeys, LayoutRoundTrips) {
  auto m = mac("02:00:00:00:00:0a");
  EXPECT_EQ(host_key(kPrefix, "host-a"), "/stt/hosts/host-a");
  EXPECT_EQ(mac_key(kPrefix, "host-a", kCtx, m),
            "/stt/macs/host-a/0000000000000010/02:00:00:00:00:0a");
  EXPECT_EQ(claim_key(kPrefix, kCtx, m), "/stt/claims/0000000000000010/02:00:00:00:00:0a");

  auto k = parse_key(kPrefix, mac_key(kPrefix, "host-a", kCtx, m));
  ASSERT_TRUE(k);
  EXPECT_EQ(k->kind, KeyKind::kMac);
  EXPECT_EQ(k->host, "host-a");
  EXPECT_EQ(k->context_id, kCtx);
  EXPECT_EQ(k->mac, m);
  auto c = parse_key(kPrefix, claim_key(kPrefix, kCtx, m));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, KeyKind::kClaim);
  auto h = parse_key(kPrefix, "/stt/hosts/h1");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->kind, KeyKind::kHost);
}

TEST(ClusterKeys, RejectsKeysOutsideTheLayout) {
  for (const char* k : {"/stt", "/stt/", "/sttx/hosts/a", "/stt/hosts/", "/stt/hosts/a/b",
                        "/stt/hosts/..", "/stt/hosts/a b", "/stt/macs/a/10/02:00:00:00:00:0a",
                        "/stt/macs/a/0000000000000010/02:00:00:00:00:0A",  // not canonical
                        "/stt/macs/a/000000000000001G/02:00:00:00:00:0a",
                        "/stt/claims/0000000000000010", "/stt/other/x"})
    EXPECT_FALSE(parse_key(kPrefix, k)) << k;
}

TEST(ClusterKeys, HostNames) {
  EXPECT_TRUE(valid_host_name("host-a.example_1"));
  EXPECT_FALSE(valid_host_name(""));
  EXPECT_FALSE(valid_host_name(std::string(65, 'a')));
  EXPECT_TRUE(valid_host_name(std::string(64, 'a')));
  EXPECT_FALSE(valid_host_name("a/b"));
  EXPECT_FALSE(valid_host_name("."));
}

TEST(ClusterValues, RoundTrip) {
  HostRecord h = host("h1", "192.0.2.1", {1, 0xffffffffffffffffull});
  auto hd = decode_host(encode_host(h));
  ASSERT_TRUE(hd);
  EXPECT_EQ(*hd, h);
  MacRecord r{mac("02:00:00:00:00:01"), 7, ip("2001:db8::1"), {ip("10.0.0.1"), ip("fd00::1")}, 42};
  auto rd = decode_mac(encode_mac(r), 16);
  ASSERT_TRUE(rd);
  EXPECT_EQ(*rd, r);
  ClaimRecord c{"h1", 9};
  auto cd = decode_claim(encode_claim(c));
  ASSERT_TRUE(cd);
  EXPECT_EQ(*cd, c);
}

TEST(ClusterValues, RejectsMalformed) {
  for (const char* v :
       {"", "null", "[]", "{", "{\"name\":\"h\"}",
        "{\"name\":1,\"address\":\"1.2.3.4\",\"port\":1,\"contexts\":[]}",
        "{\"name\":\"h\",\"address\":\"224.0.0.1\",\"port\":1,\"contexts\":[]}",
        "{\"name\":\"h\",\"address\":\"1.2.3.4\",\"port\":0,\"contexts\":[]}",
        "{\"name\":\"h\",\"address\":\"1.2.3.4\",\"port\":70000,\"contexts\":[]}",
        "{\"name\":\"h\",\"address\":\"1.2.3.4\",\"port\":1,\"contexts\":[\"0x1\"]}",
        "{\"name\":\"h\",\"address\":\"1.2.3.4\",\"port\":1,\"contexts\":[16]}",
        "{\"name\":\"h\",\"address\":\"1.2.3.4\",\"port\":1,\"contexts\":[\"0x0000000000000001\","
        "\"0x0000000000000001\"]}",
        "{\"name\":\"h\",\"address\":\"1.2.3.4\",\"port\":1,\"contexts\":[]} trailing"})
    EXPECT_FALSE(decode_host(v)) << v;
  const std::string ok_mac =
      "{\"mac\":\"02:00:00:00:00:01\",\"context_id\":\"0x0000000000000010\",\"address\":\"1.2.3."
      "4\","
      "\"ips\":[],\"seq\":1}";
  EXPECT_TRUE(decode_mac(ok_mac, 2));
  for (std::string v :
       {std::string("{\"mac\":\"ff:ff:ff:ff:ff:ff\",\"context_id\":\"0x0000000000000010\","
                    "\"address\":\"1.2.3.4\",\"seq\":1}"),
        std::string("{\"mac\":\"02:00:00:00:00:01\",\"context_id\":\"0x0000000000000010\","
                    "\"address\":\"1.2.3.4\",\"seq\":0}"),
        std::string("{\"mac\":\"02:00:00:00:00:01\",\"context_id\":\"0x0000000000000010\","
                    "\"address\":\"1.2.3.4\",\"seq\":-1}"),
        std::string("{\"mac\":\"02:00:00:00:00:01\",\"context_id\":\"0x0000000000000010\","
                    "\"address\":\"1.2.3.4\",\"seq\":9007199254740992}"),
        std::string("{\"mac\":\"02:00:00:00:00:01\",\"context_id\":\"0x0000000000000010\","
                    "\"address\":\"1.2.3.4\",\"seq\":1,\"ips\":[\"x\"]}"),
        std::string("{\"mac\":\"02:00:00:00:00:01\",\"context_id\":\"0x0000000000000010\","
                    "\"address\":\"1.2.3.4\",\"seq\":1,"
                    "\"ips\":[\"1.1.1.1\",\"1.1.1.2\",\"1.1.1.3\"]}")})  // more than max_ips = 2
    EXPECT_FALSE(decode_mac(v, 2)) << v;
  EXPECT_FALSE(decode_claim("{\"host\":\"a/b\",\"seq\":1}"));
  EXPECT_FALSE(decode_claim("{\"host\":\"a\"}"));
}

TEST(ClusterValues, FastAndFullReadersAgree) {
  // The in-place scan takes the usual form; escapes, nesting, other types and UTF-8 go to
  // nlohmann::json. Either way the same values come out, or none.
  struct Case {
    const char* text;
    bool ok;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"host":"h1","seq":5})", true},
           {R"( { "host" : "h1" , "seq" : 5 } )", true},
           {R"({"host":"h\u0031","seq":5})", true},             // escaped: full reader, "h1"
           {R"({"host":"h1","seq":5,"x":{"y":[1,2]}})", true},  // nested unknown member
           {R"({"host":"h1","seq":5,"x":true,"z":null,"w":-1.5})", true},
           {R"({"host":"h1","seq":5,"host":"h2"})", true},  // the last one wins
           {R"({"host":"h1","seq":5.0})", false},
           {R"({"host":"h1","seq":-5})", false},
           {R"({"host":"h1","seq":05})", false},
           {R"({"host":"h1","seq":"5"})", false},
           {R"({"host":"h1","seq":18446744073709551616})", false},
           {R"({"host":"h1","seq":5})"
            "x",
            false},
           {R"({"host":"h1","seq":5)", false},
           {R"({"host":"h1" "seq":5})", false},
           {R"(["host","h1"])", false},
           {"{\"host\":\"h\xc3\xa9\",\"seq\":5}", false},  // valid UTF-8, not a host name
           {"{\"host\":\"h\xff\",\"seq\":5}", false},      // invalid UTF-8
       }) {
    auto d = decode_claim(c.text);
    EXPECT_EQ(d.has_value(), c.ok) << c.text;
  }
  auto d = decode_claim(R"({"host":"h\u0031","seq":5})");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->host, "h1");
  d = decode_claim(R"({"host":"h1","seq":5,"host":"h2"})");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->host, "h2");
  FlatObject o;
  ASSERT_TRUE(o.parse(R"({"a":[],"b":["x","y"],"c":0})"));
  ASSERT_NE(o.get("b"), nullptr);
  EXPECT_EQ(o.get("b")->items.size(), 2u);
  EXPECT_EQ(o.get("a")->type, FlatValue::Type::kStringArray);
  EXPECT_EQ(o.get("c")->num, 0u);
  EXPECT_EQ(o.get("d"), nullptr);
}

TEST(ClusterModel, HostsAndMacsBecomeChanges) {
  DirectoryModel m(kPrefix, "self", {});
  put_host(m, host("self", "192.0.2.100"));
  put_host(m, host("h1", "192.0.2.1"));
  put_mac(m, "h1", "192.0.2.1", "02:00:00:00:00:01", 1);
  auto ch = flush(m);
  ASSERT_EQ(ch.size(), 2u);
  EXPECT_EQ(ch[0].kind, Change::Kind::kHostUp);  // hosts first: a MAC never points nowhere
  EXPECT_EQ(ch[0].host.name, "h1");
  EXPECT_EQ(ch[1].kind, Change::Kind::kMacSet);
  EXPECT_EQ(ch[1].view.address, ip("192.0.2.1"));
  EXPECT_EQ(ch[1].view.ips, std::vector<wire::IpAddr>{ip("10.1.0.5")});
  EXPECT_EQ(m.hosts().size(), 1u);  // never its own peer
  EXPECT_TRUE(flush(m).empty());    // nothing new

  m.del(host_key(kPrefix, "h1"));
  ch = flush(m);
  ASSERT_EQ(ch.size(), 2u);
  EXPECT_EQ(ch[0].kind, Change::Kind::kMacRemoved);  // MACs before their host goes
  EXPECT_EQ(ch[1].kind, Change::Kind::kHostDown);
  EXPECT_EQ(m.mac_count(), 0u);
}

TEST(ClusterModel, MacWaitsForItsHost) {
  DirectoryModel m(kPrefix, "self", {});
  put_mac(m, "h1", "192.0.2.1", "02:00:00:00:00:01", 1);
  EXPECT_TRUE(flush(m).empty());
  put_host(m, host("h1", "192.0.2.1"));
  auto ch = flush(m);
  EXPECT_EQ(count(ch, Change::Kind::kHostUp), 1u);
  EXPECT_EQ(count(ch, Change::Kind::kMacSet), 1u);
  EXPECT_EQ(counter(m, ClusterCounter::kRefused), 0u);
}

TEST(ClusterModel, NoHostSpeaksForAnother) {
  DirectoryModel m(kPrefix, "self", {});
  put_host(m, host("h1", "192.0.2.1"));
  put_host(m, host("h2", "192.0.2.2"));
  // h2 writes under its own keys but names h1's address: refused.
  put_mac(m, "h2", "192.0.2.1", "02:00:00:00:00:01", 5);
  // A host entry whose value names another host: refused.
  m.put(host_key(kPrefix, "h3"), encode_host(host("h1", "192.0.2.3")), 3);
  // A MAC in a context its host does not serve: refused.
  put_mac(m, "h1", "192.0.2.1", "02:00:00:00:00:02", 1, 0x99);
  // A value whose MAC is not the key's: refused.
  MacRecord r{mac("02:00:00:00:00:03"), kCtx, ip("192.0.2.1"), {}, 1};
  m.put(mac_key(kPrefix, "h1", kCtx, mac("02:00:00:00:00:04")), encode_mac(r), 1);
  auto ch = flush(m);
  EXPECT_EQ(count(ch, Change::Kind::kHostUp), 2u);
  EXPECT_EQ(count(ch, Change::Kind::kMacSet), 0u);
  EXPECT_EQ(counter(m, ClusterCounter::kRefused), 4u);
  EXPECT_EQ(m.mac_count(), 0u);
  // Judged again (h1 changes), still refused, but counted once.
  put_host(m, host("h1", "192.0.2.1", {kCtx, 0x20}));
  flush(m);
  EXPECT_EQ(counter(m, ClusterCounter::kRefused), 4u);
}

TEST(ClusterModel, LaterHostWithTakenAddressIsRefused) {
  DirectoryModel m(kPrefix, "self", {});
  put_host(m, host("h1", "192.0.2.1"), 10);
  put_host(m, host("h2", "192.0.2.1"), 20);
  flush(m);
  ASSERT_EQ(m.hosts().size(), 1u);
  EXPECT_EQ(m.hosts().begin()->first, "h1");
  EXPECT_EQ(counter(m, ClusterCounter::kRefused), 1u);
}

TEST(ClusterModel, MalformedOversizedUnknownAreCountedAndSkipped) {
  Limits lim;
  lim.max_value_bytes = 200;
  DirectoryModel m(kPrefix, "self", lim);
  put_host(m, host("h1", "192.0.2.1"));
  put_mac(m, "h1", "192.0.2.1", "02:00:00:00:00:01", 1);
  ASSERT_EQ(flush(m).size(), 2u);
  // Garbage over a good entry: the good one is gone from the store (it is gone from etcd).
  m.put(mac_key(kPrefix, "h1", kCtx, mac("02:00:00:00:00:01")), "not json", 2);
  m.put(mac_key(kPrefix, "h1", kCtx, mac("02:00:00:00:00:02")), std::string(201, 'x'), 2);
  m.put("/stt/whatever", "{}", 2);
  m.put(host_key(kPrefix, "h9"), "{\"name\":\"h9\"}", 2);
  auto ch = flush(m);
  EXPECT_EQ(count(ch, Change::Kind::kMacRemoved), 1u);
  EXPECT_EQ(counter(m, ClusterCounter::kMalformed), 2u);
  EXPECT_EQ(counter(m, ClusterCounter::kOversized), 1u);
  EXPECT_EQ(counter(m, ClusterCounter::kUnknownKey), 1u);
  EXPECT_EQ(m.hosts().size(), 1u);
}

TEST(ClusterModel, MemoryStaysBounded) {
  Limits lim;
  lim.max_hosts = 3;
  lim.max_macs = 5;
  DirectoryModel m(kPrefix, "self", lim);
  for (int i = 0; i < 10; ++i) {
    std::string name = "h" + std::to_string(i);
    std::string addr = "192.0.2." + std::to_string(i + 1);
    put_host(m, host(name, addr.c_str()));
  }
  for (int i = 0; i < 20; ++i) {
    char buf[18];
    std::snprintf(buf, sizeof buf, "02:00:00:00:01:%02x", i);
    put_mac(m, "h0", "192.0.2.1", buf, 1);
  }
  flush(m);
  EXPECT_EQ(m.raw_hosts(), 3u);
  EXPECT_EQ(m.raw_macs(), 5u);
  EXPECT_EQ(m.mac_count(), 5u);
  EXPECT_EQ(counter(m, ClusterCounter::kOverLimit), 7u + 15u);
  // Room frees when entries go.
  m.del(mac_key(kPrefix, "h0", kCtx, mac("02:00:00:00:01:00")));
  put_mac(m, "h0", "192.0.2.1", "02:00:00:00:01:13", 1);
  flush(m);
  EXPECT_EQ(m.raw_macs(), 5u);
  EXPECT_TRUE(m.in_view(CtxMac{kCtx, mac("02:00:00:00:01:13").as_u64()}));
}

TEST(ClusterModel, MobilityFollowsClaimThenSeq) {
  DirectoryModel m(kPrefix, "self", {});
  put_host(m, host("h1", "192.0.2.1"));
  put_host(m, host("h2", "192.0.2.2"));
  auto the_mac = mac("02:00:00:00:00:01");
  CtxMac key{kCtx, the_mac.as_u64()};
  put_mac(m, "h1", "192.0.2.1", "02:00:00:00:00:01", 1);
  m.put(claim_key(kPrefix, kCtx, the_mac), encode_claim({"h1", 1}), 1);
  flush(m);
  EXPECT_EQ(m.view_host(key), "h1");
  // The MAC moves to h2: one txn writes both the claim and h2's entry with seq 2.
  put_mac(m, "h2", "192.0.2.2", "02:00:00:00:00:01", 2);
  m.put(claim_key(kPrefix, kCtx, the_mac), encode_claim({"h2", 2}), 1);
  auto ch = flush(m);
  ASSERT_EQ(ch.size(), 1u);
  EXPECT_EQ(ch[0].kind, Change::Kind::kMacSet);
  EXPECT_EQ(ch[0].view.host, "h2");
  EXPECT_EQ(ch[0].view.address, ip("192.0.2.2"));
  EXPECT_EQ(m.highest_seq(kCtx, the_mac), 2u);
  // h1 withdraws: no change (h2 already won).
  m.del(mac_key(kPrefix, "h1", kCtx, the_mac));
  EXPECT_TRUE(flush(m).empty());
  // A higher seq without the claim does not beat the claimed entry.
  put_host(m, host("h3", "192.0.2.3"));
  put_mac(m, "h3", "192.0.2.3", "02:00:00:00:00:01", 50);
  flush(m);
  EXPECT_EQ(m.view_host(key), "h2");
  // Without any claim, the highest seq wins.
  m.del(claim_key(kPrefix, kCtx, the_mac));
  flush(m);
  EXPECT_EQ(m.view_host(key), "h3");
}

TEST(ClusterModel, OwnMacIsNotARemoteEntry) {
  DirectoryModel m(kPrefix, "self", {});
  put_host(m, host("self", "192.0.2.100"));
  put_host(m, host("h1", "192.0.2.1"));
  auto the_mac = mac("02:00:00:00:00:01");
  put_mac(m, "h1", "192.0.2.1", "02:00:00:00:00:01", 1);
  flush(m);
  // It moves here: the remote entry goes from the view.
  put_mac(m, "self", "192.0.2.100", "02:00:00:00:00:01", 2);
  m.put(claim_key(kPrefix, kCtx, the_mac), encode_claim({"self", 2}), 1);
  auto ch = flush(m);
  ASSERT_EQ(ch.size(), 1u);
  EXPECT_EQ(ch[0].kind, Change::Kind::kMacRemoved);
}

TEST(ClusterModel, ResyncReconcilesAgainstWhatTheLoopHas) {
  DirectoryModel m(kPrefix, "self", {});
  put_host(m, host("h1", "192.0.2.1"));
  put_host(m, host("h2", "192.0.2.2"));
  put_mac(m, "h1", "192.0.2.1", "02:00:00:00:00:01", 1);
  put_mac(m, "h2", "192.0.2.2", "02:00:00:00:00:02", 1);
  flush(m);
  // Meanwhile (watch broken): h2 left, h3 joined with a MAC, h1's MAC is unchanged.
  m.begin_resync();
  put_host(m, host("h1", "192.0.2.1"));
  put_host(m, host("h3", "192.0.2.3"));
  put_mac(m, "h1", "192.0.2.1", "02:00:00:00:00:01", 1);
  put_mac(m, "h3", "192.0.2.3", "02:00:00:00:00:03", 1);
  auto ch = flush(m);
  ASSERT_EQ(ch.size(), 4u);
  EXPECT_EQ(ch[0].kind, Change::Kind::kHostUp);
  EXPECT_EQ(ch[0].host.name, "h3");
  EXPECT_EQ(count(ch, Change::Kind::kMacSet), 1u);
  EXPECT_EQ(count(ch, Change::Kind::kMacRemoved), 1u);
  EXPECT_EQ(ch[3].kind, Change::Kind::kHostDown);
  EXPECT_EQ(ch[3].host.name, "h2");
  EXPECT_EQ(counter(m, ClusterCounter::kResyncs), 1u);
  EXPECT_EQ(m.hosts().size(), 2u);
  EXPECT_EQ(m.mac_count(), 2u);
}

TEST(ClusterModel, LargeFlushSpillsInChunksInOrder) {
  DirectoryModel m(kPrefix, "self", {});
  put_host(m, host("h1", "192.0.2.1"));
  const std::size_t n = DirectoryModel::kSpillEvery * 2 + 10;
  for (std::size_t i = 0; i < n; ++i) {
    char buf[18];
    std::snprintf(buf, sizeof buf, "02:00:00:%02x:%02x:%02x", unsigned((i >> 16) & 0xff),
                  unsigned((i >> 8) & 0xff), unsigned(i & 0xff));
    put_mac(m, "h1", "192.0.2.1", buf, 1);
  }
  std::vector<Change> out, all;
  std::size_t spills = 0;
  m.flush(out, [&](std::vector<Change>& chunk) {
    EXPECT_LE(chunk.size(), DirectoryModel::kSpillEvery);
    ++spills;
    for (auto& c : chunk)
      all.push_back(std::move(c));
    chunk.clear();
  });
  for (auto& c : out)
    all.push_back(std::move(c));
  EXPECT_EQ(spills, 2u);
  ASSERT_EQ(all.size(), n + 1);
  EXPECT_EQ(all[0].kind, Change::Kind::kHostUp);  // still first
  EXPECT_EQ(count(all, Change::Kind::kMacSet), n);
}

TEST(ClusterModel, HostAddressChangeRejudgesItsMacs) {
  DirectoryModel m(kPrefix, "self", {});
  put_host(m, host("h1", "192.0.2.1"));
  put_mac(m, "h1", "192.0.2.1", "02:00:00:00:00:01", 1);
  flush(m);
  put_host(m, host("h1", "192.0.2.9"));  // re-registered elsewhere; its old MAC names the old one
  auto ch = flush(m);
  EXPECT_EQ(count(ch, Change::Kind::kHostUp), 1u);
  EXPECT_EQ(count(ch, Change::Kind::kMacRemoved), 1u);
  EXPECT_EQ(counter(m, ClusterCounter::kRefused), 1u);
}

// The flat table under the model: inserts, lookups and erasures (backward shift through
// colliding runs, across the wrap-around) agree with std::map at every step.
TEST(ClusterFlatMap, AgreesWithAReferenceUnderChurn) {
  // A poor hash (few distinct homes) makes long runs that wrap around the end of the array.
  struct FewHomes {
    std::size_t operator()(const CtxMac& k) const noexcept { return (k.mac % 7) << 61; }
  };
  FlatMap<CtxMac, std::uint64_t, FewHomes> f;
  std::map<CtxMac, std::uint64_t> ref;
  std::mt19937_64 rng(11);
  for (int step = 0; step < 20000; ++step) {
    const CtxMac k{rng() % 3, rng() % 400};
    if (rng() % 3 == 0) {
      EXPECT_EQ(f.erase(k), ref.erase(k) == 1);
    } else {
      auto [v, added] = f.try_emplace(k);
      EXPECT_EQ(added, ref.count(k) == 0);
      *v = step;
      ref[k] = static_cast<std::uint64_t>(step);
    }
    ASSERT_EQ(f.size(), ref.size());
    if (step % 1000 == 0) {
      for (const auto& [rk, rv] : ref) {
        const std::uint64_t* got = f.find(rk);
        ASSERT_NE(got, nullptr);
        EXPECT_EQ(*got, rv);
      }
      std::size_t seen = 0;
      f.for_each([&](const CtxMac& fk, std::uint64_t fv) {
        ++seen;
        EXPECT_EQ(ref.at(fk), fv);
      });
      EXPECT_EQ(seen, ref.size());
    }
  }
  using Map = FlatMap<CtxMac, std::uint64_t, FewHomes>;
  EXPECT_LE(f.size() * Map::kLoadDen, f.capacity() * Map::kLoadNum);
  // reserve() sizes for n entries, not the next power of two.
  FlatMap<CtxMac, std::uint64_t, CtxMacHash> g;
  g.reserve(100000);
  EXPECT_LT(g.capacity(), 140000u);
  for (std::uint64_t i = 0; i < 100000; ++i)
    g.try_emplace(CtxMac{i % 100, i});
  EXPECT_LT(g.capacity(), 140000u);  // no growth
  EXPECT_EQ(*g.try_emplace(CtxMac{5, 5}).first, 0u);
}

// erase_if() removes exactly what the predicate names, also when erasing pulls later members
// of a colliding run (and entries wrapped around the end) into the slot just looked at.
TEST(ClusterFlatMap, EraseIfUnderCollisions) {
  struct FewHomes {
    std::size_t operator()(const CtxMac& k) const noexcept { return (k.mac % 5) << 61; }
  };
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    FlatMap<CtxMac, std::uint64_t, FewHomes> f;
    std::map<CtxMac, std::uint64_t> ref;
    std::mt19937_64 rng(seed);
    for (int i = 0; i < 300; ++i) {
      const CtxMac k{rng() % 2, rng() % 500};
      const std::uint64_t v = rng() % 4;
      *f.try_emplace(k).first = v;
      ref[k] = v;
    }
    const std::uint64_t drop = seed % 4;
    const std::size_t erased =
        f.erase_if([&](const CtxMac&, const std::uint64_t& v) { return v == drop; });
    EXPECT_EQ(erased, std::erase_if(ref, [&](const auto& e) { return e.second == drop; }));
    ASSERT_EQ(f.size(), ref.size());
    for (const auto& [k, v] : ref) {
      const std::uint64_t* got = f.find(k);
      ASSERT_NE(got, nullptr);
      EXPECT_EQ(*got, v);
    }
    f.for_each([&](const CtxMac&, std::uint64_t v) { EXPECT_NE(v, drop); });
  }
}

// Growth is by half: a table filled without reserve() stays more than half full after it
// grew, and is never more than 3/4 full.
TEST(ClusterFlatMap, GrowsByHalf) {
  using Map = FlatMap<CtxMac, std::uint64_t, CtxMacHash>;
  Map f;
  EXPECT_EQ(f.capacity(), 0u);
  std::size_t grew = 0, last = 0;
  for (std::uint64_t i = 0; i < 100000; ++i) {
    f.try_emplace(CtxMac{i % 100, i});
    ASSERT_LE(f.size() * Map::kLoadDen, f.capacity() * Map::kLoadNum);
    if (f.capacity() != last) {
      if (last != 0) {
        EXPECT_EQ(f.capacity(), last + last / 2);
        ++grew;
      }
      last = f.capacity();
    }
  }
  EXPECT_GT(grew, 10u);
  EXPECT_GT(f.size() * 2, f.capacity());
  // An empty table holds nothing; clear() gives the slots back.
  f.clear();
  EXPECT_EQ(f.capacity(), 0u);
  EXPECT_EQ(f.find(CtxMac{1, 1}), nullptr);
  EXPECT_FALSE(f.erase(CtxMac{1, 1}));
}

// A MAC's addresses: in place up to kInline, on the heap past it, copied and moved intact.
TEST(ClusterIpList, InlineAndHeap) {
  std::vector<wire::IpAddr> ips;
  for (int i = 1; i <= 5; ++i)
    ips.push_back(*wire::IpAddr::parse("192.0.2." + std::to_string(i)));
  for (std::size_t n = 0; n <= ips.size(); ++n) {
    const std::span<const wire::IpAddr> want(ips.data(), n);
    IpList l(want);
    EXPECT_EQ(l.size(), n);
    EXPECT_EQ(l.empty(), n == 0);
    EXPECT_TRUE(l == want);
    EXPECT_TRUE(std::equal(l.begin(), l.end(), want.begin(), want.end()));
    IpList copy(l);
    EXPECT_TRUE(copy == l);
    IpList moved(std::move(copy));
    EXPECT_TRUE(moved == l);
    EXPECT_EQ(copy.size(), 0u);  // NOLINT(bugprone-use-after-move): a moved-from list is empty
    IpList assigned;
    assigned = moved;
    EXPECT_TRUE(assigned == want);
    // Self-assignment from its own storage, growing and shrinking across kInline.
    assigned.assign(assigned.span());
    EXPECT_TRUE(assigned == want);
    assigned.assign(std::span<const wire::IpAddr>(ips));
    EXPECT_EQ(assigned.size(), ips.size());
    assigned.assign(want);
    EXPECT_TRUE(assigned == want);
    // Shrinking from the heap to a part of its own storage.
    assigned.assign(std::span<const wire::IpAddr>(ips));
    assigned.assign(assigned.span().first(n));
    EXPECT_TRUE(assigned == want);
    if (n > 0) {
      EXPECT_FALSE(l == std::span<const wire::IpAddr>(ips.data(), n - 1));
      EXPECT_EQ(l[n - 1], ips[n - 1]);
    }
    l.clear();
    EXPECT_TRUE(l.empty());
  }
  static_assert(sizeof(IpList) <= 48, "an IpList is meant to sit inline in 10^5 table slots");
}

// The model's table drops what it no longer needs: after every entry, claim and view entry
// of a MAC went, nothing of it is held.
TEST(ClusterModel, ForgottenMacsTakeNoRoom) {
  DirectoryModel m(kPrefix, "self", {});
  put_host(m, host("h1", "192.0.2.1"));
  auto the_mac = mac("02:00:00:00:00:01");
  put_mac(m, "h1", "192.0.2.1", "02:00:00:00:00:01", 1);
  m.put(claim_key(kPrefix, kCtx, the_mac), encode_claim({"h1", 1}), 1);
  flush(m);
  EXPECT_EQ(m.mac_count(), 1u);
  EXPECT_EQ(m.highest_seq(kCtx, the_mac), 1u);
  m.del(mac_key(kPrefix, "h1", kCtx, the_mac));
  m.del(claim_key(kPrefix, kCtx, the_mac));
  flush(m);
  EXPECT_EQ(m.mac_count(), 0u);
  EXPECT_EQ(m.raw_macs(), 0u);
  EXPECT_FALSE(m.claim(kCtx, the_mac).has_value());
  EXPECT_EQ(m.highest_seq(kCtx, the_mac), 0u);
  // A new entry for the same MAC reuses the freed slot and is judged from scratch.
  put_mac(m, "h1", "192.0.2.1", "02:00:00:00:00:01", 3);
  auto ch = flush(m);
  ASSERT_EQ(ch.size(), 1u);
  EXPECT_EQ(ch[0].kind, Change::Kind::kMacSet);
  EXPECT_EQ(ch[0].view.seq, 3u);
}

}  // namespace
}  // namespace stt::cluster
