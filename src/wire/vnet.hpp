#pragma once
// Offload state in the shape of Linux's struct virtio_net_hdr (the legacy
// 10-byte header, host byte order), which is what a TAP device with
// IFF_VNET_HDR and an AF_PACKET socket with PACKET_VNET_HDR exchange. libstt
// takes and produces offload state in that shape so the daemon can pass it
// through without translation, and the I/O adapters need no libstt type.

#include <cstdint>

namespace stt::wire {

struct OffloadInfo {
  static constexpr std::uint8_t kNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
  static constexpr std::uint8_t kDataValid = 2;  // VIRTIO_NET_HDR_F_DATA_VALID
  static constexpr std::uint8_t kGsoNone = 0;
  static constexpr std::uint8_t kGsoTcpv4 = 1;
  static constexpr std::uint8_t kGsoUdp = 3;  // UFO: one datagram, cut into IP fragments
  static constexpr std::uint8_t kGsoTcpv6 = 4;
  static constexpr std::uint8_t kGsoUdpL4 = 5;  // USO: cut into separate UDP datagrams
  static constexpr std::uint8_t kGsoEcn = 0x80;

  std::uint8_t flags = 0;
  std::uint8_t gso_type = kGsoNone;
  std::uint16_t hdr_len = 0;
  std::uint16_t gso_size = 0;
  std::uint16_t csum_start = 0;
  std::uint16_t csum_offset = 0;

  bool needs_csum() const { return (flags & kNeedsCsum) != 0; }
  bool data_valid() const { return (flags & kDataValid) != 0; }
  std::uint8_t gso_kind() const { return gso_type & static_cast<std::uint8_t>(~kGsoEcn); }
  bool is_gso() const { return gso_kind() != kGsoNone; }
  bool ecn() const { return (gso_type & kGsoEcn) != 0; }
  bool operator==(const OffloadInfo&) const = default;
};
static_assert(sizeof(OffloadInfo) == 10);

}  // namespace stt::wire
