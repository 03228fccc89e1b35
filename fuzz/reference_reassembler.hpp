#pragma once
// A deliberately simple STT reassembler, used as the reference in the
// differential fuzz target. It keeps one optional byte per frame byte in a
// std::map and allocates freely: clarity over speed. Its policy is the one
// src/core/reassembly.hpp documents (digest §4, docs/protocol.md):
//  - key: (outer source, outer destination, packet ID);
//  - a segment with offset 0 and length L is a whole frame: passed through,
//    the table is not consulted;
//  - every piece of a key must carry the same L, otherwise the frame held
//    so far and the piece are dropped;
//  - a piece that touches any byte already held is dropped, the rest is
//    kept; a piece that brings no new byte at all counts as a duplicate,
//    one that brings some as an overlap;
//  - a frame is complete when [0, L) is covered;
//  - a frame is dropped once `timeout` has passed since its first piece
//    arrived: by expire(), which every add() of a piece also runs first;
//  - limits (memory, frame caps) are not modelled: the differential target
//    configures them so they cannot be reached.

#include <cstdint>
#include <map>
#include <optional>
#include <tuple>
#include <vector>

#include "core/rx.hpp"
#include "wire/addr.hpp"
#include "wire/headers.hpp"

namespace stt::fuzz {

class ReferenceReassembler {
 public:
  struct Frame {
    std::vector<std::uint8_t> bytes;
    std::uint16_t segments = 0;
    std::uint8_t first_tos = 0;
    bool ce = false;
    std::uint32_t packet_id = 0;
  };
  enum class Outcome { kWhole, kCompleted, kHeld, kLengthMismatch, kOverlap, kDuplicate };

  explicit ReferenceReassembler(std::uint64_t timeout_ns) : timeout_(timeout_ns) {}

  Outcome add(const core::SttSegment& seg, std::uint64_t now, Frame* out) {
    const bool ce = wire::ecn_of(seg.tos) == wire::kEcnCe;
    if (seg.offset == 0 && seg.payload_len == seg.frame_len) {
      out->bytes.assign(seg.payload, seg.payload + seg.payload_len);
      out->segments = 1;
      out->first_tos = seg.tos;
      out->ce = ce;
      out->packet_id = seg.packet_id;
      return Outcome::kWhole;
    }
    expire(now);
    const Key key{seg.outer_src, seg.outer_dst, seg.packet_id};
    auto it = frames_.find(key);
    if (it == frames_.end()) {
      Entry e;
      e.len = seg.frame_len;
      e.first_ns = now;
      e.bytes.resize(seg.frame_len);
      it = frames_.emplace(key, std::move(e)).first;
    }
    Entry& e = it->second;
    if (e.len != seg.frame_len) {
      frames_.erase(it);
      return Outcome::kLengthMismatch;
    }
    const std::uint32_t end = std::uint32_t{seg.offset} + seg.payload_len;
    std::uint32_t already = 0;
    for (std::uint32_t i = seg.offset; i < end; ++i)
      already += e.bytes[i].has_value() ? 1 : 0;
    if (already == seg.payload_len) return Outcome::kDuplicate;
    if (already != 0) return Outcome::kOverlap;
    for (std::uint32_t i = 0; i < seg.payload_len; ++i)
      e.bytes[seg.offset + i] = seg.payload[i];
    e.pieces.emplace_back(seg.offset, seg.payload_len);
    e.held += seg.payload_len;
    if (seg.offset == 0) e.first_tos = seg.tos;
    e.ce = e.ce || ce;
    if (e.held < e.len) return Outcome::kHeld;
    out->bytes.resize(e.len);
    for (std::uint32_t i = 0; i < e.len; ++i)
      out->bytes[i] = *e.bytes[i];
    out->segments = static_cast<std::uint16_t>(e.pieces.size());
    out->first_tos = e.first_tos;
    out->ce = e.ce;
    out->packet_id = seg.packet_id;
    frames_.erase(it);
    return Outcome::kCompleted;
  }

  // Drops stale frames; returns how many.
  std::size_t expire(std::uint64_t now) {
    std::size_t n = 0;
    for (auto it = frames_.begin(); it != frames_.end();) {
      if (stale(it->second, now)) {
        it = frames_.erase(it);
        ++n;
      } else {
        ++it;
      }
    }
    expired_ += n;
    return n;
  }

  std::size_t in_flight() const { return frames_.size(); }
  std::size_t expired() const { return expired_; }
  std::size_t bytes_held() const {
    std::size_t n = 0;
    for (const auto& [k, e] : frames_)
      n += e.held;
    return n;
  }

 private:
  using Key = std::tuple<wire::IpAddr, wire::IpAddr, std::uint32_t>;
  struct Entry {
    std::uint32_t len = 0;
    std::uint64_t first_ns = 0;
    std::vector<std::optional<std::uint8_t>> bytes;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> pieces;  // (offset, length) held
    std::uint32_t held = 0;
    std::uint8_t first_tos = 0;
    bool ce = false;
  };
  bool stale(const Entry& e, std::uint64_t now) const { return now - e.first_ns >= timeout_; }

  std::uint64_t timeout_;
  std::map<Key, Entry> frames_;
  std::size_t expired_ = 0;
};

}  // namespace stt::fuzz
