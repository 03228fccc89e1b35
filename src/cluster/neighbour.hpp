#pragma once
// ARP and IPv6 neighbour discovery, as the directory needs them (docs/cluster.md):
// snooping a local tenant's own addresses from its ARP and NS/NA, recognising a tenant's
// request for another address, and building the answer sttd gives on the TAP instead of
// flooding the request (ARP/ND suppression, RFC 9161). Pure code over caller-owned bytes:
// no allocation, no exceptions (it runs on the data path). Untagged frames only.

#include <cstddef>
#include <cstdint>
#include <optional>

#include "wire/addr.hpp"

namespace stt::cluster {

// A tenant's own (MAC, IP), as its ARP or NS/NA states it.
struct Snooped {
  wire::MacAddr mac;
  wire::IpAddr ip;
};
// From a frame a local tenant sent: ARP (request or reply; not a probe from 0.0.0.0), an NS
// from a unicast source (not DAD), or an NA (its target). nullopt for anything else.
std::optional<Snooped> snoop(const std::uint8_t* frame, std::size_t len);

// A tenant asking for another address: an ARP request (not gratuitous) or a non-DAD NS.
struct NeighbourQuery {
  wire::IpAddr target;  // the address asked for
  wire::MacAddr requester_mac;
  wire::IpAddr requester_ip;
};
std::optional<NeighbourQuery> neighbour_query(const std::uint8_t* frame, std::size_t len);

// The answer to `q` saying target is at `target_mac`: an ARP reply (42 bytes) or a solicited
// NA with the override flag and a target link-layer option (86 bytes). Returns its length, or
// 0 when `cap` is too small.
inline constexpr std::size_t kNeighbourReplyMax = 86;
std::size_t build_neighbour_reply(const NeighbourQuery& q, const wire::MacAddr& target_mac,
                                  std::uint8_t* out, std::size_t cap);

}  // namespace stt::cluster
