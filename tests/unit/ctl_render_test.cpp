// sttctl's text rendering of daemon results (ctl::render_text).

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "ctl/runtime.hpp"

namespace stt::ctl {
namespace {

using Json = nlohmann::ordered_json;

TEST(CtlRender, ScalarsAlignedThenSections) {
  const Json j = {{"pid", 42}, {"underlay", "veth0"}, {"counters", {{"rx", 1}, {"tx", 20}}}};
  EXPECT_EQ(render_text(j),
            "pid       42\n"
            "underlay  veth0\n"
            "counters:\n"
            "  rx  1\n"
            "  tx  20\n");
}

TEST(CtlRender, ListOfWordsStaysOnItsLine) {
  const Json j = {{"networks", {"blue", "red"}}, {"peers", Json::array()}};
  EXPECT_EQ(render_text(j),
            "networks  blue red\n"
            "peers     -\n");
}

// reload's answer: each change is a phrase, one per line; the names of the
// unchanged networks are words.
TEST(CtlRender, PhrasesOnePerLine) {
  const Json j = {{"changes", {"network blue removed", "peer 192.0.2.9 added to red"}},
                  {"unchanged", {"green"}}};
  EXPECT_EQ(render_text(j),
            "unchanged  green\n"
            "changes:\n"
            "  - network blue removed\n"
            "  - peer 192.0.2.9 added to red\n");
}

TEST(CtlRender, ArrayOfFlatObjectsIsATable) {
  const Json j = Json::array({{{"mac", "02:00:00:00:00:01"}, {"network", "blue"}},
                              {{"mac", "02:00:00:00:00:02"}, {"network", "red"}}});
  EXPECT_EQ(render_text(j),
            "NETWORK  MAC\n"
            "blue     02:00:00:00:00:01\n"
            "red      02:00:00:00:00:02\n");
}

// `fdb show` as sttd sends it (keys sorted): read like `bridge fdb show`,
// MAC, where it points, static or learned, then the age.
TEST(CtlRender, FdbEntriesKindBeforeAge) {
  const Json j = Json::array({{{"mac", "02:00:00:00:00:02"},
                               {"network", "blue"},
                               {"peer", "10.0.0.2"},
                               {"type", "static"}},
                              {{"age_s", 15},
                               {"mac", "02:00:00:00:00:0a"},
                               {"network", "blue"},
                               {"peer", "10.0.0.3"},
                               {"type", "learned"}}});
  EXPECT_EQ(render_text(j),
            "NETWORK  MAC                PEER      TYPE     AGE_S\n"
            "blue     02:00:00:00:00:02  10.0.0.2  static   -\n"
            "blue     02:00:00:00:00:0a  10.0.0.3  learned  15\n");
}

TEST(CtlRender, EmptyArrayIsNone) {
  EXPECT_EQ(render_text(Json::array()), "(none)\n");
}

}  // namespace
}  // namespace stt::ctl
