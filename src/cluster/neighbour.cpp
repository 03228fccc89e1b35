#include "cluster/neighbour.hpp"

#include <cstring>

#include "wire/bytes.hpp"
#include "wire/checksum.hpp"
#include "wire/headers.hpp"

namespace stt::cluster {

namespace {

constexpr std::size_t kEth = sizeof(wire::EthernetHeader);
constexpr std::size_t kArp = 28;  // Ethernet/IPv4 ARP
constexpr std::size_t kIp6 = sizeof(wire::Ipv6Header);
constexpr std::uint8_t kIcmpNs = 135;
constexpr std::uint8_t kIcmpNa = 136;
constexpr std::uint8_t kOptTargetLl = 2;

// An Ethernet/IPv4 ARP packet at frame + kEth, or nullptr.
const std::uint8_t* arp_of(const std::uint8_t* f, std::size_t len) {
  if (len < kEth + kArp || wire::load_be16(f + 12) != wire::kEtherTypeArp) return nullptr;
  const std::uint8_t* a = f + kEth;
  if (wire::load_be16(a) != 1 || wire::load_be16(a + 2) != wire::kEtherTypeIpv4 || a[4] != 6 ||
      a[5] != 4)
    return nullptr;
  return a;
}

// An ICMPv6 NS or NA (hop limit 255, as RFC 4861 requires) at frame + kEth + kIp6, or nullptr.
const std::uint8_t* nd_of(const std::uint8_t* f, std::size_t len, std::size_t& icmp_len) {
  if (len < kEth + kIp6 + 24 || wire::load_be16(f + 12) != wire::kEtherTypeIpv6) return nullptr;
  const std::uint8_t* ip = f + kEth;
  if ((ip[0] >> 4) != 6 || ip[6] != wire::kIpProtoIcmpv6 || ip[7] != 255) return nullptr;
  std::size_t pl = wire::load_be16(ip + 4);
  if (pl < 24 || kEth + kIp6 + pl > len) return nullptr;
  const std::uint8_t* icmp = ip + kIp6;
  if ((icmp[0] != kIcmpNs && icmp[0] != kIcmpNa) || icmp[1] != 0) return nullptr;
  icmp_len = pl;
  return icmp;
}

bool all_zero(const std::uint8_t* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (p[i] != 0) return false;
  return true;
}

bool usable(const wire::IpAddr& ip) {
  return !ip.is_multicast() && !all_zero(ip.data(), ip.size());
}

}  // namespace

std::optional<Snooped> snoop(const std::uint8_t* f, std::size_t len) {
  wire::MacAddr src;
  if (len < kEth) return std::nullopt;
  std::memcpy(src.b.data(), f + 6, 6);
  if (src.is_multicast()) return std::nullopt;
  if (const std::uint8_t* a = arp_of(f, len)) {
    std::uint16_t op = wire::load_be16(a + 6);
    if (op != 1 && op != 2) return std::nullopt;
    if (std::memcmp(a + 8, src.b.data(), 6) != 0) return std::nullopt;  // speaks for another MAC
    auto ip = wire::IpAddr::v4(a + 14);
    if (!usable(ip)) return std::nullopt;
    return Snooped{src, ip};
  }
  std::size_t icmp_len = 0;
  if (const std::uint8_t* icmp = nd_of(f, len, icmp_len)) {
    const std::uint8_t* ip6 = f + kEth;
    auto ip = icmp[0] == kIcmpNa ? wire::IpAddr::v6(icmp + 8) : wire::IpAddr::v6(ip6 + 8);
    if (!usable(ip)) return std::nullopt;  // DAD (from ::) says nothing yet
    return Snooped{src, ip};
  }
  return std::nullopt;
}

std::optional<NeighbourQuery> neighbour_query(const std::uint8_t* f, std::size_t len) {
  if (len < kEth) return std::nullopt;
  NeighbourQuery q;
  std::memcpy(q.requester_mac.b.data(), f + 6, 6);
  if (q.requester_mac.is_multicast()) return std::nullopt;
  if (const std::uint8_t* a = arp_of(f, len)) {
    if (wire::load_be16(a + 6) != 1) return std::nullopt;
    q.requester_ip = wire::IpAddr::v4(a + 14);
    q.target = wire::IpAddr::v4(a + 24);
    if (!usable(q.requester_ip) || !usable(q.target) || q.requester_ip == q.target)
      return std::nullopt;  // a probe or a gratuitous ARP: nobody to answer
    return q;
  }
  std::size_t icmp_len = 0;
  if (const std::uint8_t* icmp = nd_of(f, len, icmp_len)) {
    if (icmp[0] != kIcmpNs) return std::nullopt;
    q.requester_ip = wire::IpAddr::v6(f + kEth + 8);
    q.target = wire::IpAddr::v6(icmp + 8);
    if (!usable(q.requester_ip) || !usable(q.target)) return std::nullopt;
    return q;
  }
  return std::nullopt;
}

std::size_t build_neighbour_reply(const NeighbourQuery& q, const wire::MacAddr& target_mac,
                                  std::uint8_t* out, std::size_t cap) {
  if (q.target.is_v4()) {
    if (cap < kEth + kArp) return 0;
    std::memcpy(out, q.requester_mac.b.data(), 6);
    std::memcpy(out + 6, target_mac.b.data(), 6);
    wire::store_be16(out + 12, wire::kEtherTypeArp);
    std::uint8_t* a = out + kEth;
    wire::store_be16(a, 1);
    wire::store_be16(a + 2, wire::kEtherTypeIpv4);
    a[4] = 6;
    a[5] = 4;
    wire::store_be16(a + 6, 2);
    std::memcpy(a + 8, target_mac.b.data(), 6);
    std::memcpy(a + 14, q.target.data(), 4);
    std::memcpy(a + 18, q.requester_mac.b.data(), 6);
    std::memcpy(a + 24, q.requester_ip.data(), 4);
    return kEth + kArp;
  }
  constexpr std::size_t kIcmpLen = 32;  // NA (24) + target link-layer option (8)
  if (cap < kEth + kIp6 + kIcmpLen) return 0;
  std::memcpy(out, q.requester_mac.b.data(), 6);
  std::memcpy(out + 6, target_mac.b.data(), 6);
  wire::store_be16(out + 12, wire::kEtherTypeIpv6);
  std::uint8_t* ip = out + kEth;
  wire::store_be32(ip, 0x60000000u);
  wire::store_be16(ip + 4, kIcmpLen);
  ip[6] = wire::kIpProtoIcmpv6;
  ip[7] = 255;
  std::memcpy(ip + 8, q.target.data(), 16);
  std::memcpy(ip + 24, q.requester_ip.data(), 16);
  std::uint8_t* icmp = ip + kIp6;
  std::memset(icmp, 0, kIcmpLen);
  icmp[0] = kIcmpNa;
  icmp[4] = 0x60;  // solicited, override
  std::memcpy(icmp + 8, q.target.data(), 16);
  icmp[24] = kOptTargetLl;
  icmp[25] = 1;
  std::memcpy(icmp + 26, target_mac.b.data(), 6);
  std::uint32_t s = wire::csum::pseudo_v6(ip + 8, ip + 24, wire::kIpProtoIcmpv6, kIcmpLen);
  s = wire::csum::sum(icmp, kIcmpLen, s);
  wire::store_be16(icmp + 2, wire::csum::finish(s));
  return kEth + kIp6 + kIcmpLen;
}

}  // namespace stt::cluster
