// Loads and validates the sttd TOML file. Every problem becomes one
// ConfigError line "FILE:LINE: KEY: problem"; nothing is half-accepted.

#include "daemon/config.hpp"

#include <toml++/toml.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>

#include "control/protocol.hpp"
#include "cluster/model.hpp"
#include "wire/context_id.hpp"

namespace stt::daemon {

namespace {

constexpr std::uint32_t kMinMtu = 68;        // the IPv4 minimum
constexpr std::uint32_t kMaxMtu = 65000;     // an STT frame must stay under 64 KiB
constexpr std::size_t kMaxIfName = 15;       // IFNAMSIZ - 1
constexpr std::size_t kMaxSocketPath = 107;  // sizeof(sockaddr_un::sun_path) - 1
constexpr std::int64_t kMaxAgeingS = 1'000'000;

// The location of the thing being checked and the key path naming it.
class Checker {
 public:
  explicit Checker(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const toml::source_region& where, std::string_view key,
                         std::string_view problem) const {
    std::ostringstream os;
    os << file_ << ':' << where.begin.line << ": " << key << ": " << problem;
    std::string line = os.str();
    std::replace(line.begin(), line.end(), '\n', ' ');  // always exactly one line
    throw ConfigError(line);
  }

 private:
  std::string file_;
};

std::string_view type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// A table of the schema: knows its key path and its allowed keys.
class Table {
 public:
  Table(const Checker& c, const toml::table& t, std::string path,
        std::initializer_list<std::string_view> allowed)
      : c_(c), t_(t), path_(std::move(path)), allowed_(allowed) {
    reject_unknown();
  }

  std::string key(std::string_view k) const {
    return path_.empty() ? std::string(k) : path_ + "." + std::string(k);
  }
  const toml::source_region& where() const { return t_.source(); }
  [[noreturn]] void fail(std::string_view k, std::string_view problem) const {
    const toml::node* n = t_.get(k);
    c_.fail(n ? n->source() : t_.source(), key(k), problem);
  }

  // The node for `k` if present and of type `want`; nullptr if absent.
  const toml::node* get(std::string_view k, toml::node_type want) const {
    const toml::node* n = t_.get(k);
    if (n == nullptr) return nullptr;
    if (n->type() != want) {
      fail(k, std::string("expected ") + std::string(type_name(want)) + ", got " +
                  std::string(type_name(n->type())));
    }
    return n;
  }
  const toml::node& require(std::string_view k, toml::node_type want) const {
    const toml::node* n = get(k, want);
    if (n == nullptr) c_.fail(t_.source(), key(k), "missing (required)");
    return *n;
  }

  std::optional<std::int64_t> integer(std::string_view k, std::int64_t lo, std::int64_t hi) const {
    const toml::node* n = get(k, toml::node_type::integer);
    if (n == nullptr) return std::nullopt;
    const std::int64_t v = n->as_integer()->get();
    if (v < lo || v > hi) {
      fail(k, "must be in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " +
                  std::to_string(v));
    }
    return v;
  }

  const toml::table& raw() const { return t_; }

 private:
  // A key outside the schema is a typo or a key of another version; either
  // way the operator must hear about it before anything else.
  void reject_unknown() const {
    for (auto&& [k, v] : t_) {
      if (std::find(allowed_.begin(), allowed_.end(), k.str()) != allowed_.end()) continue;
      std::string problem = "unknown key";
      std::string_view best;
      std::size_t best_d = 3;  // suggest only close matches
      for (const auto& cand : allowed_) {
        const std::size_t d = edit_distance(k.str(), cand);
        if (d < best_d) {
          best_d = d;
          best = cand;
        }
      }
      if (!best.empty()) problem += " (did you mean \"" + std::string(best) + "\"?)";
      c_.fail(v.source(), key(k.str()), problem);
    }
  }

  const Checker& c_;
  const toml::table& t_;
  std::string path_;
  std::vector<std::string_view> allowed_;
};

// A Linux interface name as dev_valid_name() accepts it.
std::optional<std::string> ifname_problem(std::string_view n) {
  if (n.empty()) return "must not be empty";
  if (n.size() > kMaxIfName) {
    return "\"" + std::string(n) + "\" is longer than " + std::to_string(kMaxIfName) +
           " characters";
  }
  if (n == "." || n == "..") return "\"" + std::string(n) + "\" is not a valid interface name";
  for (char ch : n) {
    if (ch == '/' || ch == ':' || ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' ||
        ch == '\v' || ch == '\f') {
      return "\"" + std::string(n) + "\" must not contain '/', ':' or whitespace";
    }
  }
  return std::nullopt;
}

wire::IpAddr parse_ip(const Checker& c, const toml::node& n, const std::string& key) {
  const std::string& s = n.as_string()->get();
  auto ip = wire::IpAddr::parse(s);
  if (!ip) c.fail(n.source(), key, "\"" + s + "\" is not an IPv4 or IPv6 address");
  return *ip;
}

// Reads a node that must be a string holding an IP address.
wire::IpAddr string_ip(const Checker& c, const toml::node& n, const std::string& key) {
  if (!n.is_string()) {
    c.fail(n.source(), key,
           "expected a string holding an IP address, got " + std::string(type_name(n.type())));
  }
  return parse_ip(c, n, key);
}

std::string family(const wire::IpAddr& a) {
  return a.is_v4() ? "IPv4" : "IPv6";
}

void parse_underlay(const Checker& c, const Table& u, Config& cfg) {
  const toml::node& ifn = u.require("interface", toml::node_type::string);
  cfg.underlay_interface = ifn.as_string()->get();
  cfg.interface_line = ifn.source().begin.line;
  if (auto p = ifname_problem(cfg.underlay_interface)) c.fail(ifn.source(), u.key("interface"), *p);

  const toml::node& local = u.require("local", toml::node_type::string);
  cfg.local = parse_ip(c, local, u.key("local"));
  cfg.local_line = local.source().begin.line;
  if (cfg.local.is_unspecified() || cfg.local.is_multicast()) {
    c.fail(local.source(), u.key("local"),
           "\"" + cfg.local.to_string() + "\" must be a unicast address of this host");
  }
  if (auto port = u.integer("port", 1, 65535)) cfg.port = static_cast<std::uint16_t>(*port);
  if (auto a = u.integer("fdb_ageing", 1, kMaxAgeingS)) {
    cfg.fdb_ageing_s = static_cast<std::uint32_t>(*a);
  }
  if (const toml::node* d = u.raw().get("dscp")) {
    if (d->is_string()) {
      if (d->as_string()->get() != "inherit") {
        c.fail(d->source(), u.key("dscp"),
               "\"" + d->as_string()->get() + "\" is not \"inherit\" or a number 0..63");
      }
      cfg.dscp_mode = DscpSetting::kInherit;
    } else if (d->is_integer()) {
      const std::int64_t v = d->as_integer()->get();
      if (v < 0 || v > 63) {
        c.fail(d->source(), u.key("dscp"), "must be in 0..63, got " + std::to_string(v));
      }
      cfg.dscp_mode = DscpSetting::kFixed;
      cfg.dscp = static_cast<std::uint8_t>(v);
    } else {
      c.fail(d->source(), u.key("dscp"),
             "expected \"inherit\" or an integer 0..63, got " + std::string(type_name(d->type())));
    }
  }
  if (const toml::node* e = u.get("ecn", toml::node_type::string)) {
    const std::string& v = e->as_string()->get();
    if (v == "normal") {
      cfg.ecn = EcnSetting::kNormal;
    } else if (v == "compat") {
      cfg.ecn = EcnSetting::kCompat;
    } else if (v == "off") {
      cfg.ecn = EcnSetting::kOff;
    } else {
      c.fail(e->source(), u.key("ecn"), "\"" + v + "\" is not one of normal, compat, off");
    }
  }
  if (const toml::node* l = u.get("lro", toml::node_type::string)) {
    const std::string& v = l->as_string()->get();
    if (v == "disable") {
      cfg.lro = LroSetting::kDisable;
    } else if (v == "ignore") {
      cfg.lro = LroSetting::kIgnore;
    } else {
      c.fail(l->source(), u.key("lro"), "\"" + v + "\" is not one of disable, ignore");
    }
  }
  if (const toml::node* f = u.get("fast_path", toml::node_type::string)) {
    const std::string& v = f->as_string()->get();
    if (v == "auto") {
      cfg.fast_path = FastPathSetting::kAuto;
    } else if (v == "bpf") {
      cfg.fast_path = FastPathSetting::kBpf;
    } else if (v == "off") {
      cfg.fast_path = FastPathSetting::kOff;
    } else {
      c.fail(f->source(), u.key("fast_path"), "\"" + v + "\" is not one of auto, bpf, off");
    }
  }
}

std::uint64_t parse_context_id(const Checker& c, const Table& t) {
  const toml::node* n = t.raw().get("context_id");
  if (n == nullptr) c.fail(t.where(), t.key("context_id"), "missing (required)");
  if (n->is_string()) {
    const std::string& s = n->as_string()->get();
    // TOML integers are signed 64-bit, so an ID of 2^63 or more is written
    // as a string: decimal or "0x...", with TOML's '_' digit separators.
    auto v = wire::parse_context_id(s, wire::DigitSeparators::kUnderscore);
    if (!v) {
      c.fail(n->source(), t.key("context_id"),
             "\"" + s + "\" is not an unsigned 64-bit integer (decimal or 0x-hex)");
    }
    return *v;
  }
  if (!n->is_integer()) {
    c.fail(n->source(), t.key("context_id"),
           "expected an integer (or a string for IDs >= 2^63), got " +
               std::string(type_name(n->type())));
  }
  const std::int64_t v = n->as_integer()->get();
  if (v < 0) {
    c.fail(n->source(), t.key("context_id"),
           "must not be negative (write IDs >= 2^63 as a string, e.g. \"0x8000000000000000\")");
  }
  return static_cast<std::uint64_t>(v);
}

NetworkConfig parse_network(const Checker& c, const Table& t, const Config& cfg) {
  NetworkConfig net;
  const toml::node& name = t.require("name", toml::node_type::string);
  net.name = name.as_string()->get();
  if (net.name.empty()) c.fail(name.source(), t.key("name"), "must not be empty");
  for (char ch : net.name) {
    if (static_cast<unsigned char>(ch) <= ' ' || ch == '"' || ch == '\\' || ch == 0x7f) {
      c.fail(name.source(), t.key("name"),
             "\"" + net.name + "\" must not contain whitespace, quotes or control characters");
    }
  }
  net.context_id = parse_context_id(c, t);

  if (const toml::node* tap = t.get("tap", toml::node_type::string)) {
    net.tap = tap->as_string()->get();
    if (auto p = ifname_problem(net.tap)) c.fail(tap->source(), t.key("tap"), *p);
  } else {
    net.tap = "stt-" + net.name;
    if (auto p = ifname_problem(net.tap)) {
      c.fail(name.source(), t.key("name"),
             "default TAP name " + *p + "; set \"tap\" for this network");
    }
  }
  if (auto mtu = t.integer("mtu", kMinMtu, kMaxMtu)) net.mtu = static_cast<std::uint32_t>(*mtu);

  if (const toml::node* mn = t.get("mac", toml::node_type::string)) {
    const std::string& ms = mn->as_string()->get();
    auto mac = wire::MacAddr::parse(ms);
    if (!mac) c.fail(mn->source(), t.key("mac"), "\"" + ms + "\" is not a MAC address");
    if (mac->is_multicast() || mac->is_zero()) {
      c.fail(mn->source(), t.key("mac"), "\"" + ms + "\" is multicast or all-zero");
    }
    net.mac = *mac;
  }
  if (const toml::node* an = t.get("address", toml::node_type::array)) {
    const toml::array& arr = *an->as_array();
    for (std::size_t i = 0; i < arr.size(); ++i) {
      const std::string key = t.key("address") + "[" + std::to_string(i) + "]";
      if (!arr[i].is_string()) {
        c.fail(arr[i].source(), key,
               "expected a string \"IP/PREFIX\", got " + std::string(type_name(arr[i].type())));
      }
      const std::string& s = arr[i].as_string()->get();
      const std::size_t slash = s.find('/');
      auto ip = wire::IpAddr::parse(s.substr(0, slash));
      const std::string plen = slash == std::string::npos ? "" : s.substr(slash + 1);
      const unsigned max = ip && ip->is_v4() ? 32 : 128;
      const bool plen_ok =
          !plen.empty() && plen.size() <= 3 &&
          std::all_of(plen.begin(), plen.end(), [](char ch) { return ch >= '0' && ch <= '9'; }) &&
          std::stoul(plen) <= max;
      if (!ip || !plen_ok) {
        c.fail(arr[i].source(), key,
               "\"" + s + "\" is not IP/PREFIX (e.g. \"192.168.10.1/24\", \"fd00::1/64\")");
      }
      const TapAddress a{*ip, static_cast<std::uint8_t>(std::stoul(plen))};
      if (std::find(net.addresses.begin(), net.addresses.end(), a) != net.addresses.end()) {
        c.fail(arr[i].source(), key, "duplicate address \"" + s + "\"");
      }
      net.addresses.push_back(a);
    }
  }

  if (const toml::node* peers = t.get("peers", toml::node_type::array)) {
    const toml::array& arr = *peers->as_array();
    for (std::size_t i = 0; i < arr.size(); ++i) {
      const std::string key = t.key("peers") + "[" + std::to_string(i) + "]";
      const toml::node& pn = arr[i];
      const wire::IpAddr ip = string_ip(c, pn, key);
      if (ip.version() != cfg.local.version()) {
        c.fail(pn.source(), key,
               "\"" + ip.to_string() + "\" is " + family(ip) + " but underlay.local is " +
                   family(cfg.local));
      }
      if (ip == cfg.local) {
        c.fail(pn.source(), key, "\"" + ip.to_string() + "\" is this endpoint's own address");
      }
      if (ip.is_multicast()) {
        c.fail(pn.source(), key, "\"" + ip.to_string() + "\" is a multicast address");
      }
      if (std::find(net.peers.begin(), net.peers.end(), ip) != net.peers.end()) {
        c.fail(pn.source(), key, "duplicate peer \"" + ip.to_string() + "\"");
      }
      net.peers.push_back(ip);
    }
  }

  if (const toml::node* fdb = t.get("fdb", toml::node_type::array)) {
    const toml::array& arr = *fdb->as_array();
    for (std::size_t i = 0; i < arr.size(); ++i) {
      const std::string path = t.key("fdb") + "[" + std::to_string(i) + "]";
      if (!arr[i].is_table()) {
        c.fail(arr[i].source(), path,
               "expected a table with mac and peer, got " + std::string(type_name(arr[i].type())));
      }
      const Table e(c, *arr[i].as_table(), path, {"mac", "peer"});
      const toml::node& mn = e.require("mac", toml::node_type::string);
      const std::string& ms = mn.as_string()->get();
      auto mac = wire::MacAddr::parse(ms);
      if (!mac) c.fail(mn.source(), e.key("mac"), "\"" + ms + "\" is not a MAC address");
      if (mac->is_multicast() || mac->is_zero()) {
        c.fail(mn.source(), e.key("mac"),
               "\"" + ms + "\" is multicast or all-zero; static entries are for unicast MACs");
      }
      for (const auto& prev : net.fdb) {
        if (prev.mac == *mac) c.fail(mn.source(), e.key("mac"), "duplicate entry for " + ms);
      }
      const toml::node& pn = e.require("peer", toml::node_type::string);
      const wire::IpAddr peer = parse_ip(c, pn, e.key("peer"));
      // With [cluster], `local` names a tenant of this host: the directory publishes it.
      const bool own = cfg.cluster.has_value() && peer == cfg.local;
      if (!own && std::find(net.peers.begin(), net.peers.end(), peer) == net.peers.end()) {
        c.fail(pn.source(), e.key("peer"),
               "\"" + peer.to_string() + "\" is not in this network's peers");
      }
      net.fdb.push_back({*mac, peer});
    }
  }
  return net;
}

// "http://host:port" or "https://host:port"; the problem, or nullopt.
std::optional<std::string> endpoint_problem(std::string_view e) {
  std::string_view rest = e;
  if (rest.rfind("http://", 0) == 0) {
    rest.remove_prefix(7);
  } else if (rest.rfind("https://", 0) == 0) {
    rest.remove_prefix(8);
  } else {
    return "\"" + std::string(e) + "\" must start with http:// or https://";
  }
  auto colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || rest.find('/') != std::string_view::npos)
    return "\"" + std::string(e) + "\" is not scheme://host:port";
  unsigned port = 0;
  auto digits = rest.substr(colon + 1);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (ec != std::errc{} || end != digits.data() + digits.size() || port == 0 || port > 65535)
    return "\"" + std::string(e) + "\" has no port 1..65535";
  return std::nullopt;
}

void parse_cluster(const Checker& c, const Table& t, Config& cfg) {
  ClusterConfig cl;
  const toml::node& en = t.require("etcd", toml::node_type::array);
  const toml::array& arr = *en.as_array();
  if (arr.empty()) t.fail("etcd", "must name at least one etcd member");
  for (std::size_t i = 0; i < arr.size(); ++i) {
    const std::string key = t.key("etcd") + "[" + std::to_string(i) + "]";
    if (!arr[i].is_string()) {
      c.fail(arr[i].source(), key,
             "expected a string (http://host:port), got " + std::string(type_name(arr[i].type())));
    }
    const std::string& e = arr[i].as_string()->get();
    if (auto p = endpoint_problem(e)) c.fail(arr[i].source(), key, *p);
    cl.etcd.push_back(e);
  }
  if (const toml::node* n = t.get("name", toml::node_type::string)) {
    cl.name = n->as_string()->get();
    if (!cluster::valid_host_name(cl.name)) {
      c.fail(n->source(), t.key("name"),
             "\"" + cl.name + "\" must be 1..64 characters of A-Z a-z 0-9 . _ -");
    }
  } else {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0 || !cluster::valid_host_name(host)) {
      c.fail(t.where(), t.key("name"),
             "missing, and the host name \"" + std::string(host) + "\" cannot be used; set it");
    }
    cl.name = host;
  }
  if (const toml::node* n = t.get("prefix", toml::node_type::string)) {
    cl.prefix = n->as_string()->get();
    if (cl.prefix.size() < 2 || cl.prefix.size() > 256 || cl.prefix[0] != '/' ||
        cl.prefix.back() == '/' || cl.prefix.find("//") != std::string::npos) {
      c.fail(n->source(), t.key("prefix"),
             "\"" + cl.prefix + "\" must start with '/', not end with '/', and be 2..256 bytes");
    }
  }
  if (auto v = t.integer("lease_ttl", 2, 3600)) cl.lease_ttl_s = static_cast<std::uint32_t>(*v);
  auto path = [&](std::string_view k, std::string& out) {
    const toml::node* n = t.get(k, toml::node_type::string);
    if (n == nullptr) return;
    out = n->as_string()->get();
    if (::access(out.c_str(), R_OK) != 0) {
      c.fail(n->source(), t.key(k), "cannot read \"" + out + "\": " + std::strerror(errno));
    }
  };
  path("tls_ca", cl.tls_ca);
  path("tls_cert", cl.tls_cert);
  path("tls_key", cl.tls_key);
  path("password_file", cl.password_file);
  if (cl.tls_cert.empty() != cl.tls_key.empty())
    t.fail(cl.tls_cert.empty() ? "tls_key" : "tls_cert", "tls_cert and tls_key go together");
  if (const toml::node* n = t.get("user", toml::node_type::string)) {
    cl.user = n->as_string()->get();
    if (cl.user.empty()) c.fail(n->source(), t.key("user"), "must not be empty");
  }
  if (cl.user.empty() != cl.password_file.empty())
    t.fail(cl.user.empty() ? "password_file" : "user", "user and password_file go together");
  if (auto v = t.integer("max_hosts", 1, 1000000)) cl.max_hosts = static_cast<std::uint32_t>(*v);
  if (auto v = t.integer("max_macs", 1, 10000000)) cl.max_macs = static_cast<std::uint32_t>(*v);
  if (auto v = t.integer("max_value_bytes", 256, 1048576))
    cl.max_value_bytes = static_cast<std::uint32_t>(*v);
  if (auto v = t.integer("max_ips", 0, 256)) cl.max_ips = static_cast<std::uint32_t>(*v);
  if (const toml::node* n = t.get("suppress", toml::node_type::boolean))
    cl.suppress = n->as_boolean()->get();
  cfg.cluster = std::move(cl);
}

}  // namespace

Config parse_config(const std::string& text, const std::string& path_for_messages) {
  Checker c(path_for_messages);
  toml::table root;
  try {
    root = toml::parse(std::string_view(text), std::string_view(path_for_messages));
  } catch (const toml::parse_error& e) {
    std::string problem(e.description());
    // TOML integers are signed 64-bit: say how to write a larger context ID.
    if (problem.find("not representable") != std::string::npos) {
      problem += " (write context IDs >= 2^63 as a string, e.g. context_id = \"0x...\")";
    }
    c.fail(e.source(), "syntax", problem);
  }

  Config cfg;
  cfg.path = path_for_messages;
  cfg.control_socket = control::default_socket(path_for_messages);
  const Table top(c, root, "", {"underlay", "control", "metrics", "network", "cluster"});

  const toml::node& un = top.require("underlay", toml::node_type::table);
  const Table underlay(
      c, *un.as_table(), "underlay",
      {"interface", "local", "port", "fdb_ageing", "dscp", "ecn", "lro", "fast_path"});
  parse_underlay(c, underlay, cfg);

  if (const toml::node* cn = top.get("control", toml::node_type::table)) {
    const Table control(c, *cn->as_table(), "control", {"socket"});
    if (const toml::node* s = control.get("socket", toml::node_type::string)) {
      cfg.control_socket = s->as_string()->get();
      if (cfg.control_socket.empty()) c.fail(s->source(), "control.socket", "must not be empty");
      if (cfg.control_socket.size() > kMaxSocketPath) {
        c.fail(s->source(), "control.socket",
               "longer than " + std::to_string(kMaxSocketPath) + " bytes (a Unix socket limit)");
      }
    }
  }

  if (const toml::node* mn = top.get("metrics", toml::node_type::table)) {
    const Table metrics(c, *mn->as_table(), "metrics", {"listen"});
    const toml::node& l = metrics.require("listen", toml::node_type::string);
    cfg.metrics_listen = l.as_string()->get();
    // ADDR:PORT, an IPv6 ADDR in brackets, like Prometheus' own --web.listen-address.
    const std::size_t colon = cfg.metrics_listen.rfind(':');
    std::string host = colon == std::string::npos ? "" : cfg.metrics_listen.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    const std::string port = colon == std::string::npos ? "" : cfg.metrics_listen.substr(colon + 1);
    const bool port_ok =
        !port.empty() && port.size() <= 5 &&
        std::all_of(port.begin(), port.end(), [](char ch) { return ch >= '0' && ch <= '9'; }) &&
        std::stoul(port) >= 1 && std::stoul(port) <= 65535;
    if (!wire::IpAddr::parse(host) || !port_ok) {
      c.fail(l.source(), "metrics.listen",
             "\"" + cfg.metrics_listen +
                 "\" is not ADDR:PORT (e.g. \"127.0.0.1:9470\" or \"[::1]:9470\")");
    }
  }

  if (const toml::node* cn = top.get("cluster", toml::node_type::table)) {
    const Table cluster(
        c, *cn->as_table(), "cluster",
        {"etcd", "name", "prefix", "lease_ttl", "tls_ca", "tls_cert", "tls_key", "user",
         "password_file", "max_hosts", "max_macs", "max_value_bytes", "max_ips", "suppress"});
    parse_cluster(c, cluster, cfg);
  }

  if (cfg.control_socket.size() > kMaxSocketPath) {
    c.fail(root.source(), "control.socket",
           "the default \"" + cfg.control_socket + "\" is longer than " +
               std::to_string(kMaxSocketPath) + " bytes (a Unix socket limit); set it");
  }

  const toml::node* nn = top.get("network", toml::node_type::array);
  if (nn == nullptr || nn->as_array()->empty()) {
    c.fail(root.source(), "network", "no [[network]] defined; at least one is required");
  }
  const toml::array& nets = *nn->as_array();
  for (std::size_t i = 0; i < nets.size(); ++i) {
    const std::string path = "network[" + std::to_string(i) + "]";
    if (!nets[i].is_table()) {
      c.fail(nets[i].source(), path,
             "expected a table ([[network]]), got " + std::string(type_name(nets[i].type())));
    }
    const Table t(c, *nets[i].as_table(), path,
                  {"name", "context_id", "tap", "mtu", "peers", "fdb", "address", "mac"});
    NetworkConfig net = parse_network(c, t, cfg);
    for (const auto& prev : cfg.networks) {
      if (prev.name == net.name) t.fail("name", "duplicate network name \"" + net.name + "\"");
      if (prev.context_id == net.context_id) {
        t.fail("context_id", "context ID " + std::to_string(net.context_id) +
                                 " is already used by network \"" + prev.name + "\"");
      }
      if (prev.tap == net.tap) {
        t.fail(t.raw().contains("tap") ? "tap" : "name",
               "TAP name \"" + net.tap + "\" is already used by network \"" + prev.name + "\"");
      }
    }
    if (net.tap == cfg.underlay_interface) {
      t.fail(t.raw().contains("tap") ? "tap" : "name",
             "TAP name \"" + net.tap + "\" is the underlay interface");
    }
    cfg.networks.push_back(std::move(net));
  }
  return cfg;
}

Config load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot open: " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw ConfigError(path + ": cannot read: " + std::strerror(errno));
  return parse_config(ss.str(), path);
}

std::string_view to_string(FastPathSetting m) {
  switch (m) {
    case FastPathSetting::kAuto:
      return "auto";
    case FastPathSetting::kBpf:
      return "bpf";
    case FastPathSetting::kOff:
      return "off";
  }
  return "?";
}

}  // namespace stt::daemon
