#include "daemon/config.hpp"

#include "control/protocol.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace stt::daemon {
namespace {

std::string error_of(const std::string& text) {
  try {
    parse_config(text, "t.toml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(Config, MinimalFileGetsDefaults) {
  const Config c = parse_config(R"(
[underlay]
interface = "veth0"
local = "10.0.0.1"
[[network]]
name = "blue"
context_id = 0x1234
)",
                                "t.toml");
  EXPECT_EQ(c.path, "t.toml");
  EXPECT_EQ(c.underlay_interface, "veth0");
  EXPECT_EQ(c.local.to_string(), "10.0.0.1");
  EXPECT_EQ(c.port, 7471);
  // Per instance: named after the config file (t.toml -> t.sock).
  EXPECT_EQ(c.control_socket, "/run/stt/t.sock");
  EXPECT_EQ(control::default_socket("/etc/stt/sttd.toml"), "/run/stt/sttd.sock");
  EXPECT_EQ(control::default_socket("/etc/stt/red.toml"), "/run/stt/red.sock");
  EXPECT_EQ(control::default_socket("conf"), "/run/stt/conf.sock");
  EXPECT_EQ(c.fdb_ageing_s, 300u);
  ASSERT_EQ(c.networks.size(), 1u);
  EXPECT_EQ(c.networks[0].name, "blue");
  EXPECT_EQ(c.networks[0].context_id, 0x1234u);
  EXPECT_EQ(c.networks[0].tap, "stt-blue");
  EXPECT_EQ(c.networks[0].mtu, 1500u);
  EXPECT_TRUE(c.networks[0].peers.empty());
  EXPECT_TRUE(c.networks[0].fdb.empty());
}

TEST(Config, FullFileIsReadAsWritten) {
  const Config c = parse_config(R"(
[underlay]
interface = "eth1"
local = "fd00::1"
port = 7472
fdb_ageing = 60
[control]
socket = "/tmp/x.sock"
[[network]]
name = "blue"
context_id = 18
tap = "tap-b"
mtu = 9000
peers = ["fd00::2", "fd00::3"]
[[network.fdb]]
mac = "02:00:00:00:00:02"
peer = "fd00::3"
[[network]]
name = "red"
context_id = "0xffffffffffffffff"
)",
                                "t.toml");
  EXPECT_EQ(c.underlay_interface, "eth1");
  EXPECT_EQ(c.local.to_string(), "fd00::1");
  EXPECT_EQ(c.port, 7472);
  EXPECT_EQ(c.fdb_ageing_s, 60u);
  EXPECT_EQ(c.control_socket, "/tmp/x.sock");
  ASSERT_EQ(c.networks.size(), 2u);
  const NetworkConfig& b = c.networks[0];
  EXPECT_EQ(b.context_id, 18u);
  EXPECT_EQ(b.tap, "tap-b");
  EXPECT_EQ(b.mtu, 9000u);
  ASSERT_EQ(b.peers.size(), 2u);
  EXPECT_EQ(b.peers[1].to_string(), "fd00::3");
  ASSERT_EQ(b.fdb.size(), 1u);
  EXPECT_EQ(b.fdb[0].mac.to_string(), "02:00:00:00:00:02");
  EXPECT_EQ(b.fdb[0].peer.to_string(), "fd00::3");
  EXPECT_EQ(c.networks[1].context_id, 0xffffffffffffffffull);
  EXPECT_EQ(c.networks[1].tap, "stt-red");
}

TEST(Config, DscpAndEcnSettings) {
  const std::string net = "[[network]]\nname = \"blue\"\ncontext_id = 1\n";
  const std::string u = "[underlay]\ninterface = \"veth0\"\nlocal = \"10.0.0.1\"\n";
  Config d = parse_config(u + net, "t.toml");
  EXPECT_EQ(d.dscp_mode, DscpSetting::kInherit);
  EXPECT_EQ(d.ecn, EcnSetting::kNormal);
  Config p = parse_config(u + "dscp = 46\necn = \"compat\"\n" + net, "t.toml");
  EXPECT_EQ(p.dscp_mode, DscpSetting::kFixed);
  EXPECT_EQ(p.dscp, 46u);
  EXPECT_EQ(p.ecn, EcnSetting::kCompat);
  Config i = parse_config(u + "dscp = \"inherit\"\necn = \"off\"\n" + net, "t.toml");
  EXPECT_EQ(i.dscp_mode, DscpSetting::kInherit);
  EXPECT_EQ(i.ecn, EcnSetting::kOff);
  Config z = parse_config(u + "dscp = 0\n" + net, "t.toml");
  EXPECT_EQ(z.dscp_mode, DscpSetting::kFixed);
  EXPECT_EQ(z.dscp, 0u);
}

TEST(Config, LroSetting) {
  const std::string net = "[[network]]\nname = \"blue\"\ncontext_id = 1\n";
  const std::string u = "[underlay]\ninterface = \"veth0\"\nlocal = \"10.0.0.1\"\n";
  EXPECT_EQ(parse_config(u + net, "t.toml").lro, LroSetting::kDisable);
  EXPECT_EQ(parse_config(u + "lro = \"disable\"\n" + net, "t.toml").lro, LroSetting::kDisable);
  EXPECT_EQ(parse_config(u + "lro = \"ignore\"\n" + net, "t.toml").lro, LroSetting::kIgnore);
}

TEST(Config, FastPathSetting) {
  const std::string net = "[[network]]\nname = \"blue\"\ncontext_id = 1\n";
  const std::string u = "[underlay]\ninterface = \"veth0\"\nlocal = \"10.0.0.1\"\n";
  EXPECT_EQ(parse_config(u + net, "t.toml").fast_path, FastPathSetting::kAuto);
  EXPECT_EQ(parse_config(u + "fast_path = \"auto\"\n" + net, "t.toml").fast_path,
            FastPathSetting::kAuto);
  EXPECT_EQ(parse_config(u + "fast_path = \"bpf\"\n" + net, "t.toml").fast_path,
            FastPathSetting::kBpf);
  EXPECT_EQ(parse_config(u + "fast_path = \"off\"\n" + net, "t.toml").fast_path,
            FastPathSetting::kOff);
}

TEST(Config, LargeContextIdsAsDecimalStringAndLimits) {
  const std::string head = "[underlay]\ninterface = \"v\"\nlocal = \"10.0.0.1\"\n[[network]]\n";
  auto id = [&](const std::string& v) {
    return parse_config(head + "name = \"n\"\ncontext_id = " + v + "\n", "t.toml")
        .networks[0]
        .context_id;
  };
  EXPECT_EQ(id("\"18446744073709551615\""), 18446744073709551615ull);
  EXPECT_EQ(id("\"0x8000_0000_0000_0000\""), 0x8000000000000000ull);
  EXPECT_EQ(id("0x7fffffffffffffff"), 0x7fffffffffffffffull);
  EXPECT_EQ(id("0"), 0u);
}

TEST(Config, LoadConfigReadsAFileAndNamesIt) {
  char dir[] = "/tmp/stt-config-test-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/sttd.toml";
  {
    std::ofstream f(path);
    f << "[underlay]\ninterface = \"veth0\"\nlocal = \"10.0.0.1\"\nport = 0\n";
  }
  std::string err;
  try {
    load_config(path);
  } catch (const ConfigError& e) {
    err = e.what();
  }
  EXPECT_EQ(err, path + ":4: underlay.port: must be in 1..65535, got 0");
  unlink(path.c_str());
  try {
    load_config(path);
    err.clear();
  } catch (const ConfigError& e) {
    err = e.what();
  }
  EXPECT_EQ(err, path + ": cannot open: No such file or directory");
  rmdir(dir);
}

struct Bad {
  const char* what;
  std::string text;
  std::string error;
};

// A valid file is lines 1-9; each case appends or swaps lines.
const std::string kUnderlay = "[underlay]\ninterface = \"veth0\"\nlocal = \"10.0.0.1\"\n";  // 1-3
const std::string kBlue =
    "[[network]]\nname = \"blue\"\ncontext_id = 1\npeers = [\"10.0.0.2\", \"10.0.0.3\"]\n";  // 4-7

void PrintTo(const Bad& b, std::ostream* os) {
  *os << b.what;
}

class ConfigInvalid : public ::testing::TestWithParam<Bad> {};

TEST_P(ConfigInvalid, IsRejectedWithOneExactLine) {
  const Bad& b = GetParam();
  EXPECT_EQ(error_of(b.text), b.error) << b.what;
}

INSTANTIATE_TEST_SUITE_P(
    Table, ConfigInvalid,
    ::testing::Values(
        Bad{"toml syntax", kUnderlay + "[[network]\n",
            "t.toml:4: syntax: Error while parsing table header: expected ']', saw '\\n'"},
        Bad{"missing underlay", kBlue, "t.toml:1: underlay: missing (required)"},
        Bad{"missing interface", "[underlay]\nlocal = \"10.0.0.1\"\n" + kBlue,
            "t.toml:1: underlay.interface: missing (required)"},
        Bad{"missing context_id", kUnderlay + "\n[[network]]\nname = \"blue\"\n",
            "t.toml:5: network[0].context_id: missing (required)"},
        Bad{"wrong type", kUnderlay + "port = \"7471\"\n" + kBlue,
            "t.toml:4: underlay.port: expected an integer, got a string"},
        Bad{"unknown key with suggestion", kUnderlay + "prot = 7471\n" + kBlue,
            "t.toml:4: underlay.prot: unknown key (did you mean \"port\"?)"},
        Bad{"unknown table", kUnderlay + kBlue + "[[network.fbd]]\nmac = \"x\"\n",
            "t.toml:8: network[0].fbd: unknown key (did you mean \"fdb\"?)"},
        Bad{"unknown top-level key", "verbose = true\n" + kUnderlay + kBlue,
            "t.toml:1: verbose: unknown key"},
        Bad{"bad local", "[underlay]\ninterface = \"veth0\"\nlocal = \"10.0.0.300\"\n" + kBlue,
            "t.toml:3: underlay.local: \"10.0.0.300\" is not an IPv4 or IPv6 address"},
        Bad{"bad peer", kUnderlay + "[[network]]\nname = \"b\"\ncontext_id = 1\npeers = [\"x\"]\n",
            "t.toml:7: network[0].peers[0]: \"x\" is not an IPv4 or IPv6 address"},
        Bad{"port 0", kUnderlay + "port = 0\n" + kBlue,
            "t.toml:4: underlay.port: must be in 1..65535, got 0"},
        Bad{"port too big", kUnderlay + "port = 65536\n" + kBlue,
            "t.toml:4: underlay.port: must be in 1..65535, got 65536"},
        Bad{"context_id float", kUnderlay + "[[network]]\nname = \"b\"\ncontext_id = 1.5\n",
            "t.toml:6: network[0].context_id: expected an integer (or a string for IDs >= "
            "2^63), got a float"},
        Bad{"context_id negative", kUnderlay + "[[network]]\nname = \"b\"\ncontext_id = -1\n",
            "t.toml:6: network[0].context_id: must not be negative (write IDs >= 2^63 as a "
            "string, e.g. \"0x8000000000000000\")"},
        Bad{"context_id over 2^64 as string",
            kUnderlay + "[[network]]\nname = \"b\"\ncontext_id = \"0x1ffffffffffffffff\"\n",
            "t.toml:6: network[0].context_id: \"0x1ffffffffffffffff\" is not an unsigned 64-bit "
            "integer (decimal or 0x-hex)"},
        Bad{"context_id >= 2^63 as integer",
            kUnderlay + "[[network]]\nname = \"b\"\ncontext_id = 0x8000000000000000\n",
            "t.toml:6: syntax: Error while parsing hexadecimal integer: '0x8000000000000000' is "
            "not representable in 64 bits (write context IDs >= 2^63 as a string, e.g. "
            "context_id = \"0x...\")"},
        Bad{"duplicate name", kUnderlay + kBlue + "[[network]]\nname = \"blue\"\ncontext_id = 2\n",
            "t.toml:9: network[1].name: duplicate network name \"blue\""},
        Bad{"duplicate context id",
            kUnderlay + kBlue + "[[network]]\nname = \"red\"\ncontext_id = 1\n",
            "t.toml:10: network[1].context_id: context ID 1 is already used by network \"blue\""},
        Bad{"duplicate tap",
            kUnderlay + kBlue + "[[network]]\nname = \"red\"\ncontext_id = 2\ntap = \"stt-blue\"\n",
            "t.toml:11: network[1].tap: TAP name \"stt-blue\" is already used by network "
            "\"blue\""},
        Bad{"tap too long", kUnderlay + kBlue + "tap = \"a-very-long-tapname\"\n",
            "t.toml:8: network[0].tap: \"a-very-long-tapname\" is longer than 15 characters"},
        Bad{"default tap too long",
            kUnderlay + "[[network]]\nname = \"production-net\"\ncontext_id = 1\n",
            "t.toml:5: network[0].name: default TAP name \"stt-production-net\" is longer than "
            "15 characters; set \"tap\" for this network"},
        Bad{"tap with slash", kUnderlay + kBlue + "tap = \"a/b\"\n",
            "t.toml:8: network[0].tap: \"a/b\" must not contain '/', ':' or whitespace"},
        Bad{"tap with space", kUnderlay + kBlue + "tap = \"a b\"\n",
            "t.toml:8: network[0].tap: \"a b\" must not contain '/', ':' or whitespace"},
        Bad{"mtu too small", kUnderlay + kBlue + "mtu = 67\n",
            "t.toml:8: network[0].mtu: must be in 68..65000, got 67"},
        Bad{"mtu too big", kUnderlay + kBlue + "mtu = 65001\n",
            "t.toml:8: network[0].mtu: must be in 68..65000, got 65001"},
        Bad{"peer family",
            kUnderlay + "[[network]]\nname = \"b\"\ncontext_id = 1\n" +
                "peers = [\"10.0.0.2\", \"fd00::2\"]\n",
            "t.toml:7: network[0].peers[1]: \"fd00::2\" is IPv6 but underlay.local is IPv4"},
        Bad{"peer is local",
            kUnderlay + "[[network]]\nname = \"b\"\ncontext_id = 1\n" +
                "peers = [\n \"10.0.0.1\"]\n",
            "t.toml:8: network[0].peers[0]: \"10.0.0.1\" is this endpoint's own address"},
        Bad{"duplicate peer",
            kUnderlay + "[[network]]\nname = \"b\"\ncontext_id = 1\n" +
                "peers = [\"10.0.0.2\", \"10.0.0.2\"]\n",
            "t.toml:7: network[0].peers[1]: duplicate peer \"10.0.0.2\""},
        Bad{"fdb peer not in peers",
            kUnderlay + kBlue +
                "[[network.fdb]]\nmac = \"02:00:00:00:00:01\"\npeer = \"10.0.0.9\"\n",
            "t.toml:10: network[0].fdb[0].peer: \"10.0.0.9\" is not in this network's peers"},
        Bad{"fdb bad mac",
            kUnderlay + kBlue + "[[network.fdb]]\nmac = \"02:00:00:00:00\"\npeer = \"10.0.0.2\"\n",
            "t.toml:9: network[0].fdb[0].mac: \"02:00:00:00:00\" is not a MAC address"},
        Bad{"fdb multicast mac",
            kUnderlay + kBlue +
                "[[network.fdb]]\nmac = \"ff:ff:ff:ff:ff:ff\"\npeer = \"10.0.0.2\"\n",
            "t.toml:9: network[0].fdb[0].mac: \"ff:ff:ff:ff:ff:ff\" is multicast or all-zero; "
            "static entries are for unicast MACs"},
        Bad{"fdb missing peer",
            kUnderlay + kBlue + "[[network.fdb]]\nmac = \"02:00:00:00:00:01\"\n",
            "t.toml:8: network[0].fdb[0].peer: missing (required)"},
        Bad{"no networks", kUnderlay,
            "t.toml:1: network: no [[network]] defined; at least one is required"},
        Bad{"fdb_ageing 0", kUnderlay + "fdb_ageing = 0\n" + kBlue,
            "t.toml:4: underlay.fdb_ageing: must be in 1..1000000, got 0"},
        Bad{"dscp 64", kUnderlay + "dscp = 64\n" + kBlue,
            "t.toml:4: underlay.dscp: must be in 0..63, got 64"},
        Bad{"dscp negative", kUnderlay + "dscp = -1\n" + kBlue,
            "t.toml:4: underlay.dscp: must be in 0..63, got -1"},
        Bad{"dscp unknown word", kUnderlay + "dscp = \"uniform\"\n" + kBlue,
            "t.toml:4: underlay.dscp: \"uniform\" is not \"inherit\" or a number 0..63"},
        Bad{"dscp float", kUnderlay + "dscp = 1.5\n" + kBlue,
            "t.toml:4: underlay.dscp: expected \"inherit\" or an integer 0..63, got a float"},
        Bad{"ecn unknown", kUnderlay + "ecn = \"on\"\n" + kBlue,
            "t.toml:4: underlay.ecn: \"on\" is not one of normal, compat, off"},
        Bad{"ecn not a string", kUnderlay + "ecn = true\n" + kBlue,
            "t.toml:4: underlay.ecn: expected a string, got a boolean"},
        Bad{"lro unknown", kUnderlay + "lro = \"off\"\n" + kBlue,
            "t.toml:4: underlay.lro: \"off\" is not one of disable, ignore"},
        Bad{"lro not a string", kUnderlay + "lro = false\n" + kBlue,
            "t.toml:4: underlay.lro: expected a string, got a boolean"},
        Bad{"fast_path unknown", kUnderlay + "fast_path = \"xdp\"\n" + kBlue,
            "t.toml:4: underlay.fast_path: \"xdp\" is not one of auto, bpf, off"},
        Bad{"socket path too long",
            kUnderlay + "[control]\nsocket = \"/" + std::string(107, 'x') + "\"\n" + kBlue,
            "t.toml:5: control.socket: longer than 107 bytes (a Unix socket limit)"},
        Bad{"tap equals underlay", kUnderlay + kBlue + "tap = \"veth0\"\n",
            "t.toml:8: network[0].tap: TAP name \"veth0\" is the underlay interface"}));

}  // namespace
}  // namespace stt::daemon
