#pragma once
// Receive-side classification and validation of one outer packet (an STT
// segment, or a GRO-coalesced run of segments). Nothing is copied: the
// result points into the packet.

#include <cstddef>
#include <cstdint>

#include <cstring>

#include "core/counters.hpp"
#include "core/offload.hpp"
#include "wire/addr.hpp"
#include "wire/bytes.hpp"
#include "wire/checksum.hpp"
#include "wire/headers.hpp"

namespace stt::core {

struct RxConfig {
  std::uint16_t port = 7471;  // STT destination port
  wire::IpAddr local;         // when set, segments to other addresses are not ours
  // Leave the payload part of a software TCP checksum check to the consumer
  // of the segment (SttSegment::checksum_pending), so the reassembler can
  // verify it while it copies the payload: one pass over the bytes, not
  // two. The consumer must verify it (Reassembler::add does;
  // pending_checksum_ok() otherwise). A wrong checksum is then counted by
  // the consumer (ReasmCounter::kDropBadChecksum), not as
  // kDropBadTcpChecksum, and is found after the checks that follow it here.
  bool defer_checksum = false;
};

struct SttSegment {
  wire::IpAddr outer_src;
  wire::IpAddr outer_dst;
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint32_t packet_id = 0;  // TCP ACK
  std::uint16_t frame_len = 0;  // L = SEQ >> 16
  std::uint16_t offset = 0;     // O = SEQ & 0xffff
  std::uint8_t tos = 0;         // outer DSCP/ECN (IPv6: traffic class)
  std::uint8_t tcp_flags = 0;
  std::uint8_t* payload = nullptr;  // STT frame bytes [offset, offset + payload_len)
  std::uint32_t payload_len = 0;
  std::uint32_t headroom = 0;  // writable packet bytes in front of payload (the outer headers)
  // Set only with RxConfig::defer_checksum, when the checksum had to be
  // checked in software: the TCP checksum is right iff the payload's sum
  // added to `pending_sum` (pseudo-header + TCP header, unfolded) folds to
  // 0xffff. Until then the segment is unverified.
  bool checksum_pending = false;
  std::uint32_t pending_sum = 0;
};

// The usual segment (untagged IPv4 without options, a 20-byte TCP header)
// whose IPv4 total length is `ip_total`: its pseudo-header and TCP header
// summed, as the `initial` of csum::sum() or copy_and_sum() over the
// payload (the TCP checksum is right iff that folds to 0xffff). Inline: the
// receive fast paths take it per segment.
inline std::uint32_t usual_tcp_header_sum(const std::uint8_t* pkt, std::uint32_t ip_total) {
  constexpr std::uint32_t l3 = sizeof(wire::EthernetHeader);
  constexpr std::uint32_t l4 = l3 + sizeof(wire::Ipv4Header);
  // Host-order loads, summed as 32-bit halves and folded once (a one's
  // complement sum is the same in either byte order, RFC 1071 2(B)), then
  // put in network order.
  auto word64 = [pkt](std::uint32_t at) {
    std::uint64_t w;
    std::memcpy(&w, pkt + at, 8);
    return (w & 0xffffffffu) + (w >> 32);
  };
  std::uint8_t proto_len[4] = {0, wire::kIpProtoTcp};
  wire::store_be16(proto_len + 2, static_cast<std::uint16_t>(ip_total - (l4 - l3)));
  std::uint32_t pl, tcp_last;
  std::memcpy(&pl, proto_len, 4);
  std::memcpy(&tcp_last, pkt + l4 + 16, 4);
  const std::uint64_t acc = word64(l3 + 12) + pl + word64(l4) + word64(l4 + 8) + tcp_last;
  return wire::csum::host_to_network(wire::csum::fold64(acc));
}

// Completes a pending checksum check (one read of the payload); true when
// nothing is pending.
bool pending_checksum_ok(const SttSegment& seg);

// Copies the payload (payload_len bytes) to `dst`, which must not overlap
// it, and completes a pending checksum check in the same pass over the
// bytes; true when nothing was pending or the checksum is right. The bytes
// are copied either way: on false the caller must not treat them as held.
bool copy_payload_checked(std::uint8_t* dst, const SttSegment& seg);

// Why a packet was not accepted as an STT segment. The first group means
// "not STT for us" (not an error); the rest are drops.
enum class RxCounter : std::uint8_t {
  kSegments,  // accepted
  kNotIp,     // not IPv4/IPv6
  kNotTcp,
  kNotOurPort,
  kNotOurAddress,
  kDropTruncated,    // headers longer than the packet, or IP length beyond it
  kDropBadIpHeader,  // version, header length, or total length inconsistent
  kDropBadIpChecksum,
  kDropIpFragment,  // outer IP fragments (STT sets DF; we do not reassemble IP)
  kDropTcpOptions,  // TCP data offset != 5 (see docs/protocol.md)
  kDropBadTcpChecksum,
  kDropZeroLength,      // no payload
  kDropBeyondLength,    // offset + payload > L
  kDropLengthTooShort,  // L < 18 + 14
  kDropControlFlags,    // SYN, RST or FIN set: never part of STT
  kCount
};
std::string_view counter_name(RxCounter c);

// Parses `len` bytes starting at the outer Ethernet header. `offload` is the
// virtio-net header the kernel gave with the packet: DATA_VALID (checksum
// verified by the kernel/NIC) and NEEDS_CSUM (generated locally, checksum
// not yet computed) both skip the TCP checksum check. Returns the counter
// that classifies the packet; kSegments means `out` is filled.
RxCounter parse_segment(std::uint8_t* pkt, std::size_t len, const OffloadInfo& offload,
                        const RxConfig& cfg, SttSegment* out);

// parse_segment() without its fast path: the general parser alone, which
// classifies every packet the fast path does not take. For tests and
// fuzzing, which check that both give the same result for every packet.
RxCounter parse_segment_general(std::uint8_t* pkt, std::size_t len, const OffloadInfo& offload,
                                const RxConfig& cfg, SttSegment* out);

}  // namespace stt::core
