#pragma once
// Inner frames and tunnel settings for the microbenchmarks.

#include <cstdint>
#include <cstring>
#include <vector>

#include "core/encap.hpp"
#include "core/offload.hpp"
#include "wire/bytes.hpp"
#include "wire/checksum.hpp"
#include "wire/headers.hpp"

namespace stt::bench {

// The underlay: IPv4, Ethernet MTU `mtu` (1500, or 9000 for jumbo frames).
inline core::TunnelConfig tunnel_config(std::uint32_t mtu = 1500) {
  core::TunnelConfig c;
  c.src_mac = *wire::MacAddr::parse("00:00:5e:00:53:01");
  c.dst_mac = *wire::MacAddr::parse("00:00:5e:00:53:02");
  c.src = *wire::IpAddr::parse("192.0.2.1");
  c.dst = *wire::IpAddr::parse("192.0.2.2");
  c.mtu = mtu;
  return c;
}

// An untagged Ethernet/IPv4/TCP frame of exactly `len` bytes (len >= 54).
// Up to one inner MTU (1514 bytes) it is a finished packet: checksums
// complete, no offload. Larger, it is a TSO super-packet as a TAP gives it:
// the TCP checksum field holds the pseudo-header sum, and `offload` says
// NEEDS_CSUM + GSO TCPv4 with gso_size 1448.
inline std::vector<std::uint8_t> make_inner_frame(std::size_t len, core::OffloadInfo* offload) {
  std::vector<std::uint8_t> f(len);
  const std::uint8_t macs[12] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};
  std::memcpy(f.data(), macs, 12);
  wire::store_be16(&f[12], wire::kEtherTypeIpv4);
  std::uint8_t* ip = &f[14];
  ip[0] = 0x45;
  wire::store_be16(ip + 2, static_cast<std::uint16_t>(len - 14));
  wire::store_be16(ip + 4, 0x5000);
  ip[6] = 0x40;
  ip[8] = 64;
  ip[9] = wire::kIpProtoTcp;
  const std::uint8_t src[4] = {198, 51, 100, 1}, dst[4] = {198, 51, 100, 2};
  std::memcpy(ip + 12, src, 4);
  std::memcpy(ip + 16, dst, 4);
  wire::store_be16(ip + 10, wire::csum::ipv4_header(ip, 20));
  std::uint8_t* tcp = &f[34];
  wire::store_be16(tcp, 40000);
  wire::store_be16(tcp + 2, 80);
  wire::store_be32(tcp + 4, 0x10000000);
  wire::store_be32(tcp + 8, 0x20000000);
  tcp[12] = 0x50;
  tcp[13] = wire::kTcpAck | wire::kTcpPsh;
  wire::store_be16(tcp + 14, 0x01f6);
  for (std::size_t i = 54; i < len; ++i)
    f[i] = static_cast<std::uint8_t>(i);
  const std::uint32_t l4_len = static_cast<std::uint32_t>(len - 34);
  const std::uint32_t pseudo = wire::csum::pseudo_v4(src, dst, wire::kIpProtoTcp, l4_len);
  *offload = core::OffloadInfo{};
  if (len <= 1514) {
    wire::store_be16(tcp + 16, wire::csum::finish(wire::csum::sum(tcp, l4_len, pseudo)));
  } else {
    wire::store_be16(tcp + 16, wire::csum::fold(pseudo));
    offload->flags = core::OffloadInfo::kNeedsCsum;
    offload->gso_type = core::OffloadInfo::kGsoTcpv4;
    offload->gso_size = 1448;
    offload->hdr_len = 54;
    offload->csum_start = 34;
    offload->csum_offset = wire::kTcpChecksumOffset;
  }
  return f;
}

}  // namespace stt::bench
