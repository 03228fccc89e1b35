#pragma once
// sttd configuration: the TOML file's schema, loaded and validated before
// anything is created. Errors name the file, line and key at fault.

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "wire/addr.hpp"

namespace stt::daemon {

struct StaticFdbEntry {
  wire::MacAddr mac;
  wire::IpAddr peer;
};

// An address put on a network's TAP: [[network]] address = ["IP/PREFIX", ...].
struct TapAddress {
  wire::IpAddr ip;
  std::uint8_t prefix = 0;
  bool operator==(const TapAddress&) const = default;
};

struct NetworkConfig {
  std::string name;              // required, unique
  std::uint64_t context_id = 0;  // required, unique
  std::string tap;               // default "stt-" + name (at most 15 characters)
  std::uint32_t mtu = 1500;      // inner MTU of the TAP, 68..65000 (independent of the underlay)
  std::vector<wire::IpAddr> peers;
  std::vector<StaticFdbEntry> fdb;    // peer: one of `peers`, or `local` with [cluster]
  std::vector<TapAddress> addresses;  // put on the TAP when it is created
  std::optional<wire::MacAddr> mac;   // the TAP's MAC; the kernel's random one without it
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

// Which data path carries the common frame (docs/design.md, "The kernel fast path").
enum class FastPathSetting : std::uint8_t {
  kAuto,  // the kernel fast path where the start-up self-test passes, else off (logged)
  kBpf,   // the kernel fast path, or no start
  kOff,   // sttd's userspace path alone
};

std::string_view to_string(FastPathSetting s);  // "auto", "bpf", "off"

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
  std::string path;                // where it was loaded from
  std::string underlay_interface;  // [underlay] interface, required
  wire::IpAddr local;              // [underlay] local, required
  std::uint16_t port = 7471;       // [underlay] port
  // [control] socket; default per instance: control::default_socket(path).
  std::string control_socket = "/run/stt/sttd.sock";
  std::uint32_t fdb_ageing_s = 300;  // [underlay] fdb_ageing (seconds), like VXLAN's ageing
  DscpSetting dscp_mode = DscpSetting::kInherit;       // [underlay] dscp = "inherit" | 0..63
  std::uint8_t dscp = 0;                               // the outer DSCP when kFixed
  EcnSetting ecn = EcnSetting::kNormal;                // [underlay] ecn
  LroSetting lro = LroSetting::kDisable;               // [underlay] lro
  FastPathSetting fast_path = FastPathSetting::kAuto;  // [underlay] fast_path
  std::vector<NetworkConfig> networks;
  // [metrics] listen = "ADDR:PORT": the Prometheus exporter; empty = off.
  std::string metrics_listen;
  // Where [underlay] interface and local are written, for check_host()'s
  // FILE:LINE messages (0 when unknown).
  std::uint32_t interface_line = 0;
  std::uint32_t local_line = 0;
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
