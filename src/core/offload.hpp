#pragma once
// The software fallbacks for offload state (wire/vnet.hpp): checksum
// completion and segmentation.

#include <cstddef>
#include <cstdint>
#include <span>

#include "wire/parse.hpp"
#include "wire/vnet.hpp"

namespace stt::core {

// The virtio-net header is a wire format: wire::OffloadInfo (wire/vnet.hpp).
// libstt's code names it core::OffloadInfo.
using OffloadInfo = wire::OffloadInfo;

// Fills in a partial L4 checksum in place: the field at
// csum_start + csum_offset holds the folded pseudo-header sum (Linux's
// CHECKSUM_PARTIAL form); the sum from csum_start to the end of `frame` is
// folded, inverted and stored there (0 becomes 0xffff when `udp`). False
// when the offsets do not fit the frame.
bool complete_checksum(std::span<std::uint8_t> frame, std::uint16_t csum_start,
                       std::uint16_t csum_offset, bool udp);

// Where the software fallbacks write frames: one preallocated block, each
// frame given `headroom` bytes in front so it can be encapsulated in place.
class FrameArena {
 public:
  struct Frame {
    std::uint8_t* data;
    std::uint32_t len;
  };

  FrameArena(std::size_t bytes, std::size_t max_frames);
  FrameArena(const FrameArena&) = delete;
  FrameArena& operator=(const FrameArena&) = delete;
  ~FrameArena();

  void reset() {
    used_ = 0;
    count_ = 0;
  }
  // Reserves headroom + len bytes; returns the frame (data after the
  // headroom) or nullptr when the arena is full.
  Frame* allocate(std::uint32_t len, std::uint32_t headroom);
  std::span<Frame> frames() { return {frames_, count_}; }
  std::size_t count() const { return count_; }

 private:
  std::uint8_t* mem_;
  std::size_t bytes_;
  std::size_t used_ = 0;
  Frame* frames_;
  std::size_t max_frames_;
  std::size_t count_ = 0;
};

enum class GsoError : std::uint8_t {
  kOk = 0,
  kNotTcpOrUdp,  // the layout has no TCP/UDP header
  kBadMss,       // mss == 0
  kArenaFull,    // more output than the arena holds
  kTooLarge,     // a resulting frame would not fit a length field
};

// Cuts an inner super-packet into packets whose L4 payload is at most `mss`,
// the way a NIC's TSO/USO/UFO would, writing each complete packet (Ethernet
// header included, checksums finished) into `out` with `headroom` bytes in
// front. `partial_csum` says the input's L4 checksum field holds the
// pseudo-header sum (NEEDS_CSUM) rather than garbage or a full checksum.
// TCP: per-segment sequence numbers, IPv4 IDs (+1 each), lengths,
// checksums; PSH and FIN only on the last segment, CWR only on the first.
// UDP with `ufo`: IPv4/IPv6 fragments of the one datagram; otherwise one
// datagram per piece (USO). A packet whose payload is already <= mss is
// copied through with its checksum finished.
GsoError software_gso(std::span<const std::uint8_t> frame, const wire::PacketLayout& layout,
                      std::uint16_t mss, bool partial_csum, bool ufo, std::uint32_t headroom,
                      FrameArena& out);

}  // namespace stt::core
