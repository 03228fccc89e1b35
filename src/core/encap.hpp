#pragma once
// Encapsulation: an inner Ethernet frame plus metadata in, STT segments (or
// one GSO super-segment) behind outer Ethernet + IPv4/IPv6 + TCP-like
// headers out. See docs/protocol.md for every choice the draft leaves open.
//
// The inner frame sits in a buffer with headroom. Encapsulation writes the
// STT header (and, for the GSO form, the outer headers) into that headroom:
// the payload is never moved. Software segmentation reads the payload once,
// to checksum each slice, and writes only the per-segment headers; its copy
// form reads it once too, checksumming each slice while it copies it, with
// its outer headers, into a caller-provided output slot.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "core/buffer.hpp"
#include "core/counters.hpp"
#include "core/offload.hpp"
#include "wire/addr.hpp"
#include "wire/headers.hpp"
#include "wire/parse.hpp"

namespace stt::core {

enum class DscpMode : std::uint8_t { kUniform, kPipe };  // RFC 2983
enum class EcnMode : std::uint8_t { kNormal, kCompat };  // RFC 6040 §4.1

struct TunnelConfig {
  wire::MacAddr src_mac;
  wire::MacAddr dst_mac;  // next hop toward dst
  wire::IpAddr src;       // both IPv4 or both IPv6
  wire::IpAddr dst;
  std::uint16_t dst_port = wire::kSttPort;
  std::uint16_t src_port_min = 49152;  // source ports are hashed into [min, max]
  std::uint16_t src_port_max = 65535;
  std::uint8_t ttl = 64;  // IPv4 TTL / IPv6 hop limit
  bool df = true;         // IPv4 DF
  DscpMode dscp_mode = DscpMode::kUniform;
  std::uint8_t pipe_dscp = 0;  // outer DSCP in pipe mode
  EcnMode ecn_mode = EcnMode::kNormal;
  std::uint16_t mtu = 1500;  // underlay IP MTU: outer IP packets never exceed it
};

// One tunnel: (local endpoint, remote endpoint). Holds the packet-ID
// counter, so IDs are unique per (outer source, outer destination) for
// 2^32 frames; see docs/protocol.md.
class Tunnel {
 public:
  // `initial_packet_id` is a random start chosen by the caller (libstt
  // makes no system calls). Throws std::invalid_argument (with
  // config_error()'s message) for a config no Tunnel can use: a tunnel is
  // built by control-plane code, never per packet.
  Tunnel(const TunnelConfig& cfg, std::uint32_t initial_packet_id);
  // The same, with the first outer IPv4 ID chosen too (tests, replay).
  Tunnel(const TunnelConfig& cfg, std::uint32_t initial_packet_id, std::uint16_t initial_ip_id);

  const TunnelConfig& config() const { return cfg_; }
  void set_next_hop(const wire::MacAddr& dst_mac) {
    cfg_.dst_mac = dst_mac;
    std::copy(dst_mac.b.begin(), dst_mac.b.end(), outer_.begin());
  }
  std::uint32_t next_packet_id() { return packet_id_++; }
  std::uint16_t next_ip_id(std::uint16_t n) {  // reserves n consecutive IPv4 IDs
    std::uint16_t first = ip_id_;
    ip_id_ = static_cast<std::uint16_t>(ip_id_ + n);
    return first;
  }
  bool is_v6() const { return v6_; }
  // Outer L3 + L4 header bytes (20 + 20 for IPv4, 40 + 20 for IPv6).
  std::uint32_t outer_l3l4_len() const { return v6_ ? 60 : 40; }
  // Outer Ethernet + IP + TCP header bytes (54 or 74).
  std::uint32_t outer_header_len() const { return wire::kEthHeaderLen + outer_l3l4_len(); }
  // Largest STT payload one outer segment carries: mtu - IP - TCP.
  std::uint32_t segment_payload() const { return seg_; }
  // Why `cfg` cannot make a tunnel, or "" when it can: the MTU must leave
  // room for at least 8 bytes of STT frame per segment behind the outer IP
  // and TCP headers.
  static std::string config_error(const TunnelConfig& cfg);

  // For encapsulate(): the outer Ethernet + IP + TCP header with what the
  // tunnel fixes filled in (MACs, EtherType, IP version, DF, TTL, protocol,
  // addresses, TCP destination port and data offset) and every per-packet
  // field zero, built once here rather than field by field per frame; and
  // the sums of those fixed fields: the IPv4 header's (TOS, length, ID and
  // checksum not included) and the TCP pseudo-header's (length not included).
  static constexpr std::size_t kMaxOuterHeader = 14 + 40 + 20;
  const std::uint8_t* outer_template() const { return outer_.data(); }
  std::uint32_t outer_ip_sum() const { return outer_ip_sum_; }
  std::uint32_t outer_pseudo_sum() const { return outer_pseudo_sum_; }

  // The outer source port for a flow hash: flow_source_port()'s mapping,
  // with the range and the check for forbidden ports worked out once.
  std::uint16_t source_port(std::uint64_t hash) const {
    if (port_check_) return checked_source_port(hash);
    return static_cast<std::uint16_t>(
        port_lo_ + static_cast<std::uint32_t>(((hash >> 32) * port_range_) >> 32));
  }
  // The outer TOS / traffic class for the inner one, per the DSCP and ECN
  // modes: the inner bits the modes copy, and the configured ones.
  std::uint8_t outer_tos(std::uint8_t inner) const {
    return static_cast<std::uint8_t>((inner & tos_keep_) | tos_set_);
  }

 private:
  void build_outer_template();
  std::uint16_t checked_source_port(std::uint64_t hash) const;

  TunnelConfig cfg_;
  bool v6_;
  std::uint32_t seg_;  // segment_payload(), fixed by the config
  std::uint32_t packet_id_;
  std::uint16_t ip_id_;
  std::array<std::uint8_t, kMaxOuterHeader> outer_{};
  std::uint32_t outer_ip_sum_ = 0;
  std::uint32_t outer_pseudo_sum_ = 0;
  std::uint32_t port_lo_ = 0;
  std::uint32_t port_range_ = 0;
  bool port_check_ = true;  // the range holds 0, the STT port or dst_port
  std::uint8_t tos_keep_ = 0;
  std::uint8_t tos_set_ = 0;
};

struct VlanTci {
  std::uint8_t pcp = 0;
  std::uint16_t vid = 0;
};

struct EncapRequest {
  std::uint64_t context_id = 0;
  // A VLAN to carry in the STT header. When unset and the inner frame
  // carries exactly one 802.1Q tag, that tag is taken out of the frame and
  // carried instead.
  std::optional<VlanTci> vlan;
  // The inner frame's offload state (from a TAP's virtio-net header).
  OffloadInfo offload;
  // Overrides for the flow hash (reproducing captures and test vectors):
  // the outer source port, and the outer IPv6 flow label (20 bits).
  std::optional<std::uint16_t> src_port;
  std::optional<std::uint32_t> flow_label;
};

enum class TxForm : std::uint8_t {
  kGso,        // one super-segment per STT frame, with outer GSO metadata
  kSegmented,  // software segmentation to the tunnel MTU
  // kSegmented, with every outer packet written whole (headers, then its
  // payload slice) into the TxBatch's copy slots: for a transmit ring, or
  // buffers for a socket without GSO. Each slice is copied and checksummed
  // in one pass; the same bytes as kSegmented followed by a copy.
  kSegmentedCopy,
};

// One outer packet: `header` (outer Ethernet + IP + TCP) followed by
// `payload`, a slice of the STT frame. In the GSO form, header and payload
// are contiguous in the caller's buffer and `gso` describes the outer
// segmentation (TCPV4/TCPV6, gso_size = segment payload, NEEDS_CSUM over the
// outer TCP header); for segments `gso` is all zero. In the copy form,
// header and payload are contiguous in the packet's copy slot.
struct TxPacket {
  const std::uint8_t* header;
  std::uint16_t header_len;
  const std::uint8_t* payload;
  std::uint32_t payload_len;
  OffloadInfo gso;
};

enum class EncapCounter : std::uint8_t {
  kFrames,            // inner frames accepted
  kSttFrames,         // STT frames produced (> frames when inner GSO ran in software)
  kSegments,          // outer packets produced
  kOffloaded,         // frames sent with P set
  kSoftwareChecksum,  // partial checksums finished in software before encap
  kSoftwareGso,       // inner super-packets segmented in software before encap
  kVlanFromFrame,     // 802.1Q tags moved from the frame to the STT header
  kDropTooShort,      // inner frame shorter than an Ethernet header
  kDropTooLarge,      // inner frame larger than 65517 bytes and not segmentable
  kDropBadOffload,    // offload metadata that does not fit the frame
  kDropHeadroom,      // buffer without room for the headers
  kDropBatchFull,     // more output than a TxBatch (or its copy slots) holds
  kDropSlotTooSmall,  // copy form: an outer packet larger than a copy slot
  kCount
};
std::string_view counter_name(EncapCounter c);

// Output of one encapsulate() call. Preallocated; reused across calls.
class TxBatch {
 public:
  static constexpr std::size_t kMaxPackets = 512;
  static constexpr std::size_t kMaxHeader = 96;

  TxBatch();
  void clear();
  std::size_t size() const { return count_; }
  const TxPacket& operator[](std::size_t i) const { return packets_[i]; }
  const TxPacket* begin() const { return packets_.data(); }
  const TxPacket* end() const { return packets_.data() + count_; }

  // For the encapsulator: scratch for header bytes, and the arena where
  // software fallbacks put inner frames.
  std::uint8_t* header_slot(std::size_t i) { return headers_[i].data(); }
  // Appends n packets for the encapsulator to fill in place, once room()
  // has said they fit; returns the first of them.
  TxPacket* extend(std::size_t n) {
    TxPacket* p = packets_.data() + count_;
    count_ += n;
    return p;
  }
  FrameArena& arena() { return arena_; }

  // Memory for TxForm::kSegmentedCopy, owned by the caller: packet i of the
  // batch is written at base + i * stride and may fill `capacity` bytes
  // there (capacity <= stride); there are `count` slots. clear() keeps them.
  void set_copy_slots(std::uint8_t* base, std::size_t stride, std::size_t capacity,
                      std::size_t count) {
    // Slots never overlap: a capacity beyond the stride is cut to it.
    slots_ = CopySlots{base, stride, count > 1 ? std::min(capacity, stride) : capacity,
                       base == nullptr ? 0 : count};
  }
  std::uint8_t* copy_slot(std::size_t i) const { return slots_.base + i * slots_.stride; }
  std::size_t copy_slot_capacity() const { return slots_.capacity; }
  // How many more packets fit in `form`.
  std::size_t room(TxForm form) const {
    const std::size_t cap =
        form == TxForm::kSegmentedCopy ? std::min(kMaxPackets, slots_.count) : kMaxPackets;
    return cap > count_ ? cap - count_ : 0;
  }

 private:
  struct CopySlots {
    std::uint8_t* base = nullptr;
    std::size_t stride = 0;
    std::size_t capacity = 0;
    std::size_t count = 0;
  };
  std::array<TxPacket, kMaxPackets> packets_;
  std::array<std::array<std::uint8_t, kMaxHeader>, kMaxPackets> headers_;
  std::size_t count_ = 0;
  FrameArena arena_;
  CopySlots slots_;
};

enum class EncapStatus : std::uint8_t { kOk, kDropped };

// Encapsulates the inner Ethernet frame `frame`. It writes the STT header
// (18 bytes) in the frame's headroom, and in the GSO form the outer headers
// in front of that too; a frame with less headroom than that is dropped
// (drop_headroom) before anything is written. The frame may be changed in
// place (a VLAN tag removed, a checksum finished). Output is appended to
// `out`; every outcome is counted in `counters`.
EncapStatus encapsulate(Tunnel& tunnel, FrameRef frame, const EncapRequest& req, TxForm form,
                        TxBatch& out, CounterSet<EncapCounter>& counters);

// encapsulate() with every frame taken through its general path (the full
// parse, every offload check), never the fast path for common frames: the
// same bytes out, by construction of both on one offload decision. The
// differential fuzz target (fuzz/fuzz_encap.cpp) holds them to it.
EncapStatus encapsulate_general(Tunnel& tunnel, FrameRef frame, const EncapRequest& req,
                                TxForm form, TxBatch& out, CounterSet<EncapCounter>& counters);

// The outer source port for an inner frame: a hash of the inner 5-tuple
// (TCP/UDP over IPv4/IPv6), else of the IP addresses and protocol, else of
// the MACs and EtherType, mapped into [cfg.src_port_min, cfg.src_port_max].
std::uint16_t flow_source_port(const std::uint8_t* frame, std::size_t len,
                               const wire::PacketLayout& layout, const TunnelConfig& cfg);

// The inner frame's layout as encapsulate() reads it: the same result as
// wire::parse_ethernet(frame, len, out, 2), with untagged IPv4 (not a
// fragment) or IPv6 (no extension header) carrying TCP or UDP, the frames a
// TAP hands over nearly always, read inline in one pass.
wire::ParseError parse_inner(const std::uint8_t* frame, std::size_t len, wire::PacketLayout* out);

// Writes the 18-byte STT header for a frame at `at`.
struct SttFields {
  std::uint8_t flags = 0;
  std::uint8_t l4_offset = 0;
  std::uint16_t mss = 0;
  std::optional<VlanTci> vlan;
  std::uint64_t context_id = 0;
};
void write_stt_header(std::uint8_t* at, const SttFields& f);

}  // namespace stt::core
