#include "daemon/host_check.hpp"

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace stt::daemon {
namespace {

[[noreturn]] void fail(const Config& cfg, std::uint32_t line, const char* key,
                       const std::string& problem) {
  throw ConfigError(cfg.path + ":" + std::to_string(line) + ": " + key + ": " + problem);
}

std::optional<wire::IpAddr> to_ip(const sockaddr* sa) {
  if (sa == nullptr) return std::nullopt;
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    return wire::IpAddr::v4(reinterpret_cast<const std::uint8_t*>(&in->sin_addr));
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    return wire::IpAddr::v6(reinterpret_cast<const std::uint8_t*>(&in6->sin6_addr));
  }
  return std::nullopt;
}

}  // namespace

void check_host(const Config& cfg) {
  if (if_nametoindex(cfg.underlay_interface.c_str()) == 0) {
    fail(cfg, cfg.interface_line, "underlay.interface",
         "interface \"" + cfg.underlay_interface +
             "\" does not exist in this network namespace (see `ip link`)");
  }
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) {
    fail(cfg, cfg.local_line, "underlay.local",
         std::string("cannot list this host's addresses: ") + std::strerror(errno));
  }
  const std::unique_ptr<ifaddrs, void (*)(ifaddrs*)> guard(list, freeifaddrs);
  std::vector<std::string> mine;
  for (const ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if (cfg.underlay_interface != a->ifa_name) continue;
    const auto ip = to_ip(a->ifa_addr);
    if (!ip) continue;
    if (*ip == cfg.local) return;
    mine.push_back(ip->to_string());
  }
  std::string have = "it has none";
  if (!mine.empty()) {
    have = "its addresses: ";
    for (std::size_t i = 0; i < mine.size(); ++i)
      have += (i ? ", " : "") + mine[i];
  }
  // Appended, not `"literal" + std::string&&`: GCC 12 at -O3 (the Release build that
  // bench/e2e uses) reports a false -Wstringop-overflow for that form here.
  std::string msg = "\"";
  msg += cfg.local.to_string();
  msg += "\" is not an address of ";
  msg += cfg.underlay_interface;
  msg += " (" + have + ")";
  fail(cfg, cfg.local_line, "underlay.local", msg);
}

}  // namespace stt::daemon
