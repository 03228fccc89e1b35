#pragma once
// rtnetlink queries (libmnl): links, routes, neighbours. Each call is one
// synchronous request/answer on a private socket; they run on the control
// side of the loop (start-up and the periodic tick), never per packet.
//
// The constructor throws std::system_error; queries return std::nullopt or
// false (with errno set) instead of throwing, so the tick can call them.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "wire/addr.hpp"

struct mnl_socket;
struct nlmsghdr;

namespace stt::sys {

struct LinkInfo {
  int index = 0;
  wire::MacAddr mac;
  std::uint32_t mtu = 0;
  bool up = false;
  std::string kind;  // IFLA_INFO_KIND ("tun", "veth", ...), "" when none
};

struct RouteInfo {
  int oif = 0;
  std::optional<wire::IpAddr> gateway;  // unset when the peer is on-link
  std::optional<wire::IpAddr> prefsrc;
  std::uint32_t mtu = 0;  // RTAX_MTU, 0 when the route has none
};

// Neighbour states are the kernel's NUD_* bits.
struct NeighInfo {
  std::uint16_t state = 0;
  std::optional<wire::MacAddr> mac;  // set when the entry has a link-layer address
  bool usable() const;               // REACHABLE, STALE, DELAY, PROBE, PERMANENT, NOARP
  std::string state_name() const;
};

class Netlink {
 public:
  Netlink();  // throws std::system_error
  ~Netlink();
  Netlink(const Netlink&) = delete;
  Netlink& operator=(const Netlink&) = delete;

  std::optional<LinkInfo> link(const std::string& name);
  std::optional<LinkInfo> link(int index);
  // RTM_GETROUTE for `dst`: the route the kernel would use.
  std::optional<RouteInfo> route(const wire::IpAddr& dst);
  // RTM_GETNEIGH for one address on one interface; nullopt when there is
  // no entry at all.
  std::optional<NeighInfo> neighbour(int ifindex, const wire::IpAddr& addr);
  // Asks the kernel to resolve `addr` on `ifindex` (RTM_NEWNEIGH with
  // NTF_USE: creates the entry if needed and sends ARP/ND now).
  bool resolve(int ifindex, const wire::IpAddr& addr);
  // RTM_DELLINK by name.
  bool delete_link(const std::string& name);

 private:
  bool request(nlmsghdr* nlh, int (*cb)(const nlmsghdr*, void*), void* data);
  struct CloseMnl {
    void operator()(mnl_socket* s) const noexcept;
  };
  std::unique_ptr<mnl_socket, CloseMnl> nl_;
  std::uint32_t portid_ = 0;
  std::uint32_t seq_ = 0;
  std::unique_ptr<char[]> buf_;  // one answer datagram
};

}  // namespace stt::sys
