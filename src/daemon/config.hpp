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

// How the outer DSCP is chosen (RFC 2983) and ECN is carried (RFC 6040).
enum class DscpSetting : std::uint8_t {
  kInherit,  // uniform model: inner DSCP copied out, outer DSCP written back in on decap
  kFixed,    // pipe model: outer DSCP is Config::dscp, the inner DSCP is never touched
};
enum class EcnSetting : std::uint8_t {
  kNormal,  // RFC 6040 normal mode: inner ECN copied out, CE propagated in on decap
  kCompat,  // RFC 6040 compatibility mode: outer Not-ECT; decap still follows RFC 6040
  kOff,     // outer Not-ECT, and the outer ECN field is ignored on decap
};
// What sttd does about the underlay NIC's LRO at startup (R17, daemon/lro.hpp).
enum class LroSetting : std::uint8_t {
  kDisable,  // turn it off; refuse to start when that fails
  kIgnore,   // report it, change nothing
};

// [cluster]: membership in an etcd directory (docs/cluster.md). Absent: no directory.
struct ClusterConfig {
  std::vector<std::string> etcd;  // required: "http://host:port" or "https://host:port"
  std::string name;               // default: the host name
  std::string prefix = "/stt";
  std::uint32_t lease_ttl_s = 10;
  std::string tls_ca, tls_cert, tls_key;  // PEM paths; tls_cert and tls_key go together
  std::string user, password_file;        // go together
  // Memory bounds of the directory model (cluster::Limits).
  std::uint32_t max_hosts = 4096;
  std::uint32_t max_macs = 262144;
  std::uint32_t max_value_bytes = 16384;
  std::uint32_t max_ips = 16;
  bool suppress = true;  // answer tenants' ARP/NS for directory addresses on the TAP
  bool operator==(const ClusterConfig&) const = default;
};

struct Config {
  std::string path;                               // where it was loaded from
  std::string underlay_interface;                 // [underlay] interface, required
  wire::IpAddr local;                             // [underlay] local, required
  std::uint16_t port = 7471;                      // [underlay] port
  std::string control_socket = "/run/sttd.sock";  // [control] socket
  std::uint32_t fdb_ageing_s = 300;  // [underlay] fdb_ageing (seconds), like VXLAN's ageing
  DscpSetting dscp_mode = DscpSetting::kInherit;  // [underlay] dscp = "inherit" | 0..63
  std::uint8_t dscp = 0;                          // the outer DSCP when kFixed
  EcnSetting ecn = EcnSetting::kNormal;           // [underlay] ecn
  LroSetting lro = LroSetting::kDisable;          // [underlay] lro
  std::vector<NetworkConfig> networks;
  std::optional<ClusterConfig> cluster;  // [cluster]
};

// Thrown by load_config; what() is one line: "FILE:LINE: KEY: problem".
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

Config load_config(const std::string& path);
Config parse_config(const std::string& text, const std::string& path_for_messages);

}  // namespace stt::daemon
