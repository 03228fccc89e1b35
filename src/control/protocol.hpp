#pragma once
// sttd's control protocol, the one contract between sttd
// (daemon/control.cpp) and sttctl (ctl/runtime.cpp): a Unix stream socket
// carrying one JSON object per line each way.
//
//   request  {"cmd": <verb>, <argument>: <string>, ...}
//   reply    {"ok": true, "result": <any JSON>}  or  {"ok": false, "error": "<message>"}
//
// Both sides spell every verb, argument and envelope key with the names
// below; a string literal for one of them on either side is a bug. This
// header is plain constants (no JSON library, no stt types), so any layer
// may include it; docs/cli.md documents the same protocol for scripts.

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

namespace stt::control {

// The request's verb key and the reply envelope.
inline constexpr char kCmd[] = "cmd";
inline constexpr char kOk[] = "ok";
inline constexpr char kResult[] = "result";
inline constexpr char kError[] = "error";

// Arguments: every value is a string.
namespace arg {
inline constexpr char kNetwork[] = "network";  // a network's name
inline constexpr char kMac[] = "mac";          // a MAC address, aa:bb:cc:dd:ee:ff
inline constexpr char kPeer[] = "peer";        // a peer's underlay IP address
}  // namespace arg

// Verbs.
namespace verb {
inline constexpr char kShow[] = "show";
inline constexpr char kStats[] = "stats";
inline constexpr char kReassembly[] = "reassembly";
inline constexpr char kCluster[] = "cluster";  // the etcd directory (docs/cluster.md)
inline constexpr char kReload[] = "reload";
inline constexpr char kFdbShow[] = "fdb_show";  // network optional: all networks without it
inline constexpr char kFdbAdd[] = "fdb_add";
inline constexpr char kFdbDel[] = "fdb_del";
inline constexpr char kPeerAdd[] = "peer_add";
inline constexpr char kPeerDel[] = "peer_del";
}  // namespace verb

// What each verb accepts. The daemon refuses any other argument; sttctl
// builds requests from the same list.
struct VerbSpec {
  std::string_view name;
  std::array<std::string_view, 3> args;  // unused slots are empty
  std::size_t required;                  // the first `required` args must be present

  constexpr bool takes(std::string_view a) const {
    for (const std::string_view x : args) {
      if (!x.empty() && x == a) return true;
    }
    return false;
  }
};

inline constexpr std::array<VerbSpec, 10> kVerbs = {{
    {verb::kShow, {}, 0},
    {verb::kStats, {}, 0},
    {verb::kReassembly, {}, 0},
    {verb::kCluster, {}, 0},
    {verb::kReload, {}, 0},
    {verb::kFdbShow, {arg::kNetwork}, 0},
    {verb::kFdbAdd, {arg::kMac, arg::kNetwork, arg::kPeer}, 3},
    {verb::kFdbDel, {arg::kMac, arg::kNetwork, arg::kPeer}, 3},
    {verb::kPeerAdd, {arg::kPeer, arg::kNetwork}, 2},
    {verb::kPeerDel, {arg::kPeer, arg::kNetwork}, 2},
}};

constexpr std::optional<VerbSpec> find_verb(std::string_view name) {
  for (const VerbSpec& v : kVerbs) {
    if (v.name == name) return v;
  }
  return std::nullopt;
}

}  // namespace stt::control
