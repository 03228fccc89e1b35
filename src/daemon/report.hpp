#pragma once
// What sttd reports through the control socket, rendered as JSON from the
// running data path: the parts' state and counters. Only this file (and
// fdb.cpp, control.cpp) include nlohmann/json.hpp; headers take the
// forward declarations.

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace stt::daemon {

class Dataplane;
struct Network;

// "0x2a"
std::string context_id_hex(std::uint64_t id);

nlohmann::json underlay_json(const Dataplane& dp);
// One object per peer, sorted by address: its networks, sources, next hop
// and pending queue.
nlohmann::json peers_json(const Dataplane& dp);
// One object per network: name, context ID, TAP, MTU, peers, FDB sizes.
nlohmann::json networks_json(const Dataplane& dp);
// Global and per-network counters.
nlohmann::json stats_json(const Dataplane& dp);
nlohmann::json reassembly_json(const Dataplane& dp);
// The FDB entries of `only`, or of every network when it is null.
nlohmann::json fdb_json(const Dataplane& dp, const Network* only, std::uint64_t now_ns);

}  // namespace stt::daemon
