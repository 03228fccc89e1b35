#pragma once
// Decapsulation of a complete STT frame into the inner Ethernet frame and
// its offload state. The receiver rules of the draft (digest §2.3, §5.3,
// §6.1, §6.4) are applied here: version check, VLAN tag restored from
// TCI.V, ECN (RFC 6040) and DSCP (uniform mode) written into the inner IP
// header with its checksum fixed, and the offload hints either handed on as
// virtio-net-header metadata or done in software.

#include <cstddef>
#include <cstdint>

#include "core/counters.hpp"
#include "core/encap.hpp"
#include "core/offload.hpp"
#include "core/reassembly.hpp"

namespace stt::core {

struct DecapConfig {
  // The consumer takes virtio-net-header metadata (a TAP with IFF_VNET_HDR):
  // a P frame is delivered once, with NEEDS_CSUM and, when MSS != 0, a GSO
  // type and size. Otherwise partial checksums are finished and inner
  // super-packets segmented in software.
  bool offload_consumer = true;
  DscpMode dscp_mode = DscpMode::kPipe;  // uniform: inner DSCP from the first segment
  bool ecn = true;                       // apply RFC 6040 decapsulation
};

enum class DecapCounter : std::uint8_t {
  kFrames,                // inner frames delivered
  kVlanRestored,          // 802.1Q tags put back from TCI.V
  kCsumPartial,           // P frames handed on as NEEDS_CSUM
  kGsoDelivered,          // super-packets handed on with GSO metadata
  kSoftwareChecksum,      // partial checksums finished here
  kSoftwareGso,           // super-packets segmented here
  kEcnCeMarked,           // inner header marked CE from the outer
  kDscpRewritten,
  kDropBadVersion,        // R1
  kDropTooShort,          // shorter than STT header + Ethernet header
  kDropCAndP,             // C and P both set (see docs/protocol.md)
  kDropBadL4Offset,       // P with an L4 offset outside the frame or below the L3 header
  kDropBadInnerHeaders,   // P over inner headers that do not parse or disagree with the flags
  kDropEcnNotEct,         // outer CE over a Not-ECT inner packet (RFC 6040)
  kDropVlanReserved,      // VID 4095 (reserved by 802.1Q)
  kDropGsoFailed,         // software segmentation could not complete
  kDropOutputFull,        // the DecapOutput had no room left (the caller did not clear() it)
  kCount
};
std::string_view counter_name(DecapCounter c);

// What the STT header said, for tools and logs.
struct SttInfo {
  std::uint8_t version = 0;
  std::uint8_t flags = 0;
  std::uint8_t l4_offset = 0;
  std::uint8_t reserved = 0;
  std::uint16_t mss = 0;
  std::uint16_t vlan_tci = 0;  // the raw PCP/V/VID word
  std::uint64_t context_id = 0;
  std::uint16_t padding = 0;
};

// One delivered inner frame.
struct InnerFrame {
  std::uint8_t* data;
  std::uint32_t len;
  OffloadInfo offload;  // all zero unless offload_consumer handed metadata on
};

// Output of one decapsulate() call. Preallocated; reused across calls.
class DecapOutput {
 public:
  static constexpr std::size_t kMaxFrames = 256;
  DecapOutput();
  void clear();
  std::size_t size() const { return count_; }
  const InnerFrame& operator[](std::size_t i) const { return frames_[i]; }
  const InnerFrame* begin() const { return frames_.data(); }
  const InnerFrame* end() const { return frames_.data() + count_; }
  SttInfo info;  // the header of the last frame decapsulated

  bool push(const InnerFrame& f) {
    if (count_ == kMaxFrames) return false;
    frames_[count_++] = f;
    return true;
  }
  FrameArena& arena() { return arena_; }

 private:
  std::array<InnerFrame, kMaxFrames> frames_;
  std::size_t count_ = 0;
  FrameArena arena_;
};

// Reads just the STT header of a complete frame (length checked).
bool read_stt_header(const std::uint8_t* frame, std::size_t len, SttInfo* out);

enum class DecapStatus : std::uint8_t { kOk, kDropped };

// Decapsulates one complete STT frame (from the reassembler). The frame is
// changed in place; inner frames are appended to `out` (usually one; more
// when an inner super-packet is segmented in software).
DecapStatus decapsulate(const ReassembledFrame& frame, const DecapConfig& cfg, DecapOutput& out,
                        CounterSet<DecapCounter>& counters);

}  // namespace stt::core
