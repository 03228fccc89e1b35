// The example configuration the package installs as /etc/stt/sttd.toml
// (packaging/sttd.toml) goes through sttd's real parser: as shipped, and with
// every commented-out key turned on, so neither the file nor the defaults it
// quotes can drift from what sttd accepts.

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "daemon/config.hpp"

namespace stt::daemon {
namespace {

std::string example_text() {
  std::ifstream in(STT_EXAMPLE_CONFIG);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(ExampleConfig, LoadsAsShipped) {
  const Config c = load_config(STT_EXAMPLE_CONFIG);
  EXPECT_EQ(c.underlay_interface, "eth0");
  EXPECT_EQ(c.local.to_string(), "192.0.2.1");
  // The unit's RuntimeDirectory: the only writable place under ProtectSystem=strict.
  EXPECT_EQ(c.control_socket, "/run/stt/sttd.sock");
  ASSERT_EQ(c.networks.size(), 1u);
  EXPECT_EQ(c.networks[0].name, "blue");
  EXPECT_EQ(c.networks[0].context_id, 0x1000u);
  ASSERT_EQ(c.networks[0].peers.size(), 1u);
  EXPECT_EQ(c.networks[0].peers[0].to_string(), "192.0.2.2");
  EXPECT_TRUE(c.networks[0].fdb.empty());
}

TEST(ExampleConfig, EveryCommentedKeyIsValidAndItsDefault) {
  // "# key = value  # note" and "# [[table]]" lines are settings an operator
  // would turn on; prose comments are not matched.
  const std::regex setting(R"(^# ((\[\[?[a-z.]+\]\]?)|([a-z_]+ = .*))$)");
  std::istringstream in(example_text());
  std::string line, text;
  int turned_on = 0;
  while (std::getline(in, line)) {
    if (std::regex_match(line, setting)) {
      line = line.substr(2);
      ++turned_on;
    }
    text += line + "\n";
  }
  ASSERT_GE(turned_on, 10) << "the example no longer shows its optional keys:\n" << text;
  Config c;
  ASSERT_NO_THROW(c = parse_config(text, "example")) << text;
  const Config shipped = load_config(STT_EXAMPLE_CONFIG);
  // The commented values are the defaults, so turning them on changes nothing...
  EXPECT_EQ(c.port, shipped.port);
  EXPECT_EQ(c.fdb_ageing_s, shipped.fdb_ageing_s);
  EXPECT_EQ(c.dscp_mode, shipped.dscp_mode);
  EXPECT_EQ(c.ecn, shipped.ecn);
  EXPECT_EQ(c.lro, shipped.lro);
  ASSERT_EQ(c.networks.size(), 1u);
  EXPECT_EQ(c.networks[0].tap, shipped.networks[0].tap);
  EXPECT_EQ(c.networks[0].mtu, shipped.networks[0].mtu);
  // ... but for the static FDB entry, which is an example, not a default.
  ASSERT_EQ(c.networks[0].fdb.size(), 1u);
  EXPECT_EQ(c.networks[0].fdb[0].peer.to_string(), "192.0.2.2");
}

}  // namespace
}  // namespace stt::daemon
