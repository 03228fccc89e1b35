#pragma once
// Reassembly of STT frames from segments, with bounded memory.
//
// Key: (outer source, outer destination, packet ID). A segment that carries
// the whole frame (offset 0, length L, as after GRO) is passed through with
// no copy and no table entry. Otherwise payload is copied into a buffer
// taken from a pool that is allocated once, at construction; memory is
// accounted per buffer and kept under `mem_high` by evicting the least
// recently used frames down to `mem_low`. All limits and every outcome are
// counted. Time is passed in (nanoseconds, any monotonic origin).

#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/counters.hpp"
#include "core/rx.hpp"

namespace stt::core {

struct ReassemblyConfig {
  std::size_t mem_high = 32u << 20;          // bytes of frame buffers, at most
  std::size_t mem_low = 24u << 20;           // eviction stops here
  std::size_t max_frames = 1024;             // frames in flight, at most
  std::size_t max_frames_per_source = 256;   // one flooding source cannot take the table
  std::uint64_t timeout_ns = 2'000'000'000;  // from the first segment
};

enum class ReasmCounter : std::uint8_t {
  kWhole,               // complete on arrival, passed through
  kCompleted,           // completed from pieces
  kSegmentsHeld,        // pieces stored
  kDropLengthMismatch,  // a piece disagreed on L: the whole frame is dropped
  kDropOverlap,         // a piece overlapped bytes already held (duplicates included)
  kDropDuplicate,       // an exact duplicate of a piece already held
  kDropNoMemory,        // no buffer even after eviction
  kDropSourceLimit,     // the source already has max_frames_per_source in flight
  kDropBadChecksum,     // outer TCP checksum wrong (only when it was left pending, see rx.hpp)
  kEvicted,             // frames evicted to stay under the watermark or frame cap
  kExpired,             // frames dropped at the timeout
  kCount
};
std::string_view counter_name(ReasmCounter c);

// A complete STT frame. Valid until the next call to add(), append_packet()
// or expire().
struct ReassembledFrame {
  std::uint8_t* data = nullptr;  // STT header first; writable
  std::uint32_t len = 0;
  std::uint32_t headroom = 0;  // writable bytes before data
  std::uint16_t segments = 0;  // pieces it was made of (1 when whole)
  std::uint8_t first_tos = 0;  // outer TOS of the offset-0 piece (DSCP, R25)
  bool ce = false;             // any piece carried ECN CE (R27)
  std::uint32_t packet_id = 0;
  std::uint16_t src_port = 0;
  wire::IpAddr outer_src;
  wire::IpAddr outer_dst;
};

struct ReassemblyStats {
  std::size_t frames_in_flight = 0;
  std::size_t bytes_in_use = 0;  // buffer bytes charged against mem_high
  std::size_t bytes_held = 0;    // payload bytes received so far
};

class Reassembler {
 public:
  explicit Reassembler(const ReassemblyConfig& cfg);
  ~Reassembler();
  Reassembler(const Reassembler&) = delete;
  Reassembler& operator=(const Reassembler&) = delete;

  // Offers one segment. Returns true and fills `out` when the segment
  // completes a frame (or is a whole frame). A whole frame is not copied:
  // `out.data` points into the caller's packet, and `out.headroom` counts
  // the packet's own outer header bytes in front of it. A segment with
  // `checksum_pending` has its outer TCP checksum verified here (while its
  // payload is copied, when it is copied) and, when wrong, is dropped as
  // kDropBadChecksum before it changes any state.
  bool add(const SttSegment& seg, std::uint64_t now_ns, ReassembledFrame* out);

  // The receive fast path for the usual segment, the next one in order of
  // the frame the last segment went to. `pkt` is a whole outer packet (len
  // bytes from the outer Ethernet header, with the kernel's offload flags),
  // not yet parsed. It is taken when parse_segment(pkt, len, offload, cfg)
  // followed by add() would accept it as exactly that piece: it carries the
  // same outer headers as the frame's last piece added with add() (an
  // untagged IPv4 header without options and a 20-byte TCP header; the
  // fields that differ per segment aside), its own lengths and IPv4 header
  // checksum are right, its offset is where the frame's bytes end, and its
  // TCP checksum is right (verified while its payload is copied unless the
  // offload flags say it was verified). Then it is appended, with the same
  // effects add() would have had (the caller counts it as an accepted
  // segment, RxCounter::kSegments), and the result says whether it
  // completed the frame (`out` filled, as by add()). Anything else, a bad
  // checksum included, is kNotTaken with nothing changed: the caller then
  // does parse_segment() and add(), which classify and count it.
  enum class Append : std::uint8_t { kNotTaken, kHeld, kCompleted };
  Append append_packet(std::uint8_t* pkt, std::size_t len, const OffloadInfo& offload,
                       const RxConfig& cfg, std::uint64_t now_ns, ReassembledFrame* out);

  // Drops frames older than the timeout.
  void expire(std::uint64_t now_ns);

  const ReassemblyConfig& config() const { return cfg_; }
  ReassemblyStats stats() const;
  const CounterSet<ReasmCounter>& counters() const { return counters_; }

 private:
  struct Impl;
  // add() for a piece (or a whole frame whose checksum is pending).
  bool add_piece(const SttSegment& seg, std::uint64_t now_ns, ReassembledFrame* out);
  // add() past its two fast paths (whole frame; next in-order piece of the
  // last frame): lookup, new frames, eviction, gaps, duplicates.
  bool add_general(const SttSegment& seg, std::uint64_t now_ns, ReassembledFrame* out);
  // append_packet() past its first checks (a frame to continue, no expiry
  // due), which a frame's first piece fails cheaply.
  Append append_next(std::uint8_t* pkt, std::size_t len, const OffloadInfo& offload,
                     const RxConfig& cfg, ReassembledFrame* out);
  ReassemblyConfig cfg_;
  CounterSet<ReasmCounter> counters_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stt::core
