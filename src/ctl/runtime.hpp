#pragma once
// sttctl's runtime verbs: they talk to a running sttd over its control
// socket (one JSON request line, one JSON reply line) and print the result
// as aligned text, or as JSON with -j.
//
//   sttctl show | stats | reassembly | reload
//   sttctl fdb show [network N]
//   sttctl fdb add|del MAC network N peer IP
//   sttctl peer add|del IP network N
//
// Every verb takes -s PATH (default /run/sttd.sock) and -j.

#include <nlohmann/json_fwd.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace stt::ctl {

void register_runtime_commands(CLI::App& app);

// --- Pieces exposed for tests.

// Thrown for a request that cannot be built or a daemon that cannot be
// reached or that answered with an error; what() is the one-line message.
class RuntimeCommandError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Builds the request for `cmd` from iproute2-style words after the verb,
// e.g. {"02:..", "network", "blue", "peer", "10.0.0.2"} for fdb_add.
nlohmann::ordered_json build_request(const std::string& cmd, const std::vector<std::string>& words);

// Sends one request line to the socket and returns the parsed "result", or
// throws RuntimeCommandError naming the socket or carrying the daemon's error.
nlohmann::ordered_json call_daemon(const std::string& socket_path,
                                   const nlohmann::ordered_json& request, int timeout_s = 10);

// Renders any JSON result as text: objects of scalars become aligned
// "name  value" rows, nested objects titled sections, arrays of flat
// objects aligned tables with a header row.
std::string render_text(const nlohmann::ordered_json& result);

}  // namespace stt::ctl
