#pragma once
// sttd configuration: the TOML file's schema, loaded and validated before
// anything is created. Errors name the file, line and key at fault.

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "wire/addr.hpp"

namespace stt::daemon {

struct StaticFdbEntry {
  wire::MacAddr mac;
  wire::IpAddr peer;
};

struct NetworkConfig {
  std::string name;              // required, unique
  std::uint64_t context_id = 0;  // required, unique
  std::string tap;               // default "stt-" + name (at most 15 characters)
  std::uint32_t mtu = 1500;      // inner MTU of the TAP, 68..65000 (independent of the underlay)
  std::vector<wire::IpAddr> peers;
  std::vector<StaticFdbEntry> fdb;  // every entry's peer is one of `peers`
};

struct Config {
  std::string path;                   // where it was loaded from
  std::string underlay_interface;     // [underlay] interface, required
  wire::IpAddr local;                 // [underlay] local, required
  std::uint16_t port = 7471;          // [underlay] port
  std::string control_socket = "/run/sttd.sock";  // [control] socket
  std::uint32_t fdb_ageing_s = 300;   // [underlay] fdb_ageing (seconds), like VXLAN's ageing
  std::vector<NetworkConfig> networks;
};

// Thrown by load_config; what() is one line: "FILE:LINE: KEY: problem".
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

Config load_config(const std::string& path);
Config parse_config(const std::string& text, const std::string& path_for_messages);

}  // namespace stt::daemon
