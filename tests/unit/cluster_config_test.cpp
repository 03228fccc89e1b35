// The [cluster] section of the sttd config (docs/config.md).
#include <gtest/gtest.h>

#include <string>

#include "daemon/config.hpp"

namespace stt::daemon {
namespace {

const std::string kBase = R"(
[underlay]
interface = "veth0"
local = "10.0.0.1"
[[network]]
name = "blue"
context_id = 0x1234
)";

std::string error_of(const std::string& cluster) {
  try {
    parse_config(kBase + cluster, "t.toml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(accepted)";
}

// A static FDB entry naming this host (its tenant, published in the directory) needs [cluster].
TEST(ClusterConfig, StaticEntryForThisHostNeedsTheDirectory) {
  const std::string own = R"(
[[network.fdb]]
mac = "02:00:00:00:00:07"
peer = "10.0.0.1"
)";
  Config c =
      parse_config(kBase + own + "[cluster]\netcd = [\"http://10.0.0.100:2379\"]\n", "t.toml");
  ASSERT_EQ(c.networks[0].fdb.size(), 1u);
  EXPECT_EQ(c.networks[0].fdb[0].peer, c.local);
  EXPECT_NE(error_of(own).find("\"10.0.0.1\" is not in this network's peers"), std::string::npos)
      << error_of(own);
}

TEST(ClusterConfig, AbsentMeansNoDirectory) {
  EXPECT_FALSE(parse_config(kBase, "t.toml").cluster.has_value());
}

TEST(ClusterConfig, DefaultsAndFullForm) {
  Config c = parse_config(kBase + R"(
[cluster]
etcd = ["http://10.0.0.100:2379"]
name = "host-a"
)",
                          "t.toml");
  ASSERT_TRUE(c.cluster);
  EXPECT_EQ(c.cluster->etcd, std::vector<std::string>{"http://10.0.0.100:2379"});
  EXPECT_EQ(c.cluster->name, "host-a");
  EXPECT_EQ(c.cluster->prefix, "/stt");
  EXPECT_EQ(c.cluster->lease_ttl_s, 10u);
  EXPECT_EQ(c.cluster->max_hosts, 4096u);
  EXPECT_EQ(c.cluster->max_macs, 262144u);
  EXPECT_TRUE(c.cluster->suppress);
  EXPECT_TRUE(c.cluster->user.empty());

  c = parse_config(kBase + R"(
[cluster]
etcd = ["https://[fd00::1]:2379", "https://etcd-b:2379"]
name = "h.1_x-y"
prefix = "/fleet/stt"
lease_ttl = 5
tls_ca = "/dev/null"
tls_cert = "/dev/null"
tls_key = "/dev/null"
user = "h1"
password_file = "/dev/null"
max_hosts = 10
max_macs = 100
max_value_bytes = 1024
max_ips = 2
suppress = false
)",
                   "t.toml");
  ASSERT_TRUE(c.cluster);
  EXPECT_EQ(c.cluster->etcd.size(), 2u);
  EXPECT_EQ(c.cluster->prefix, "/fleet/stt");
  EXPECT_EQ(c.cluster->lease_ttl_s, 5u);
  EXPECT_EQ(c.cluster->tls_key, "/dev/null");
  EXPECT_EQ(c.cluster->user, "h1");
  EXPECT_EQ(c.cluster->max_ips, 2u);
  EXPECT_FALSE(c.cluster->suppress);
}

TEST(ClusterConfig, DefaultNameIsTheHostName) {
  Config c = parse_config(kBase + "[cluster]\netcd = [\"http://127.0.0.1:2379\"]\n", "t.toml");
  ASSERT_TRUE(c.cluster);
  EXPECT_FALSE(c.cluster->name.empty());
}

TEST(ClusterConfig, ErrorsNameFileLineAndKey) {
  EXPECT_EQ(error_of("[cluster]\nname = \"a\"\n"), "t.toml:8: cluster.etcd: missing (required)");
  EXPECT_EQ(error_of("[cluster]\netcd = []\n"),
            "t.toml:9: cluster.etcd: must name at least one etcd member");
  EXPECT_EQ(error_of("[cluster]\netcd = [\"10.0.0.1:2379\"]\n"),
            "t.toml:9: cluster.etcd[0]: \"10.0.0.1:2379\" must start with http:// or https://");
  EXPECT_EQ(error_of("[cluster]\netcd = [\"http://h:2379\", \"http://h\"]\n"),
            "t.toml:9: cluster.etcd[1]: \"http://h\" is not scheme://host:port");
  EXPECT_EQ(error_of("[cluster]\netcd = [\"http://h:1\"]\nname = \"a/b\"\n"),
            "t.toml:10: cluster.name: \"a/b\" must be 1..64 characters of A-Z a-z 0-9 . _ -");
  EXPECT_EQ(error_of("[cluster]\netcd = [\"http://h:1\"]\nprefix = \"/stt/\"\n"),
            "t.toml:10: cluster.prefix: \"/stt/\" must start with '/', not end with '/', and be "
            "2..256 bytes");
  EXPECT_EQ(error_of("[cluster]\netcd = [\"http://h:1\"]\nlease_ttl = 1\n"),
            "t.toml:10: cluster.lease_ttl: must be in 2..3600, got 1");
  EXPECT_EQ(error_of("[cluster]\netcd = [\"http://h:1\"]\nuser = \"u\"\n"),
            "t.toml:10: cluster.user: user and password_file go together");
  EXPECT_EQ(error_of("[cluster]\netcd = [\"http://h:1\"]\ntls_cert = \"/dev/null\"\n"),
            "t.toml:10: cluster.tls_cert: tls_cert and tls_key go together");
  EXPECT_EQ(error_of("[cluster]\netcd = [\"http://h:1\"]\ntls_ca = \"/nonexistent/ca.pem\"\n"),
            "t.toml:10: cluster.tls_ca: cannot read \"/nonexistent/ca.pem\": No such file or "
            "directory");
  EXPECT_EQ(error_of("[cluster]\netcd = [\"http://h:1\"]\nleas_ttl = 3\n"),
            "t.toml:10: cluster.leas_ttl: unknown key (did you mean \"lease_ttl\"?)");
}

}  // namespace
}  // namespace stt::daemon
