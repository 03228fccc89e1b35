// fuzz_reassembly: differential test of core::Reassembler against the
// simple ReferenceReassembler (reference_reassembler.hpp). Both get the
// same segments, time steps and expire() calls; after every operation they
// must agree on whether a frame completed and on its bytes and metadata,
// on the number of frames and bytes in flight, and on the counters. Limits
// are set so that neither memory eviction nor the frame caps can fire:
// there are only 4 peers x 8 packet IDs = 32 keys.
//
// Input: [timeout byte] then operations, each an opcode byte:
//   bits 0-1  0,1: add a segment   2: advance time   3: expire()
//   for a segment, two or three more bytes choose peer, packet ID, frame
//   length L, offset and size (aligned quarter pieces or arbitrary), the
//   outer TOS (ECN/DSCP), and whether the bytes differ from the frame's
//   canonical content (so overlapping pieces with other data are seen).

#include <cstdint>
#include <cstring>
#include <vector>

#include "core/reassembly.hpp"
#include "fuzz_input.hpp"
#include "reference_reassembler.hpp"

using namespace stt;

namespace {

constexpr std::uint16_t kLengths[8] = {32, 33, 47, 64, 100, 255, 1000, 1501};

// The canonical byte at `pos` of frame (peer, id, L).
std::uint8_t frame_byte(unsigned peer, unsigned id, unsigned len, unsigned pos) {
  std::uint32_t h = (peer * 131u + id * 31u + len * 7u + pos) * 2654435761u;
  return static_cast<std::uint8_t>(h >> 24);
}

wire::IpAddr peer_addr(unsigned peer) {
  const std::uint8_t a[4] = {10, 0, 0, static_cast<std::uint8_t>(1 + peer)};
  return wire::IpAddr::v4(a);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Input in(data, size);
  static constexpr std::uint64_t kTimeouts[4] = {1'000'000, 50'000'000, 2'000'000'000,
                                                 30'000'000'000};
  core::ReassemblyConfig cfg;
  cfg.timeout_ns = kTimeouts[in.u8() & 3];
  // 32 keys at most, each at most one frame of <= 1501 bytes: 4 KiB each
  // covers the frame and the implementation's bookkeeping. Were that not
  // enough, the kEvicted check below would say so.
  cfg.max_frames = 64;
  cfg.max_frames_per_source = 64;
  cfg.mem_high = 64u * 4096u;
  cfg.mem_low = cfg.mem_high;
  core::Reassembler impl(cfg);
  fuzz::ReferenceReassembler ref(cfg.timeout_ns);

  const wire::IpAddr local = [] {
    const std::uint8_t a[4] = {10, 0, 0, 100};
    return wire::IpAddr::v4(a);
  }();

  std::uint64_t now = 5'000'000'000;
  std::vector<std::uint8_t> payload;
  std::size_t ops = 0;
  while (!in.empty() && ops++ < 4096) {
    const std::uint8_t op = in.u8();
    const auto counters_before = impl.counters();
    switch (op & 3) {
      case 0:
      case 1: {
        const std::uint8_t b1 = in.u8();
        const std::uint8_t b2 = in.u8();
        const unsigned peer = b1 & 3, id = (b1 >> 2) & 7;
        const std::uint32_t len = kLengths[b1 >> 5];
        std::uint32_t off, n;
        if ((op & 0x80) == 0) {
          // Quarter pieces: b2 bits 0-1 the first quarter, bits 2-3 how many.
          const std::uint32_t q = len / 4;
          const unsigned first = b2 & 3, count = 1 + ((b2 >> 2) & 3);
          off = first * q;
          const unsigned last = first + count;  // exclusive
          n = (last >= 4 ? len : last * q) - off;
        } else {
          const std::uint8_t b3 = in.u8();
          off = (std::uint32_t{b2} * len) >> 8;  // < len
          n = 1 + ((std::uint32_t{b3} * (len - off - 1)) >> 8);
          if (b3 == 0xff) n = len - off;
        }
        core::SttSegment seg;
        seg.outer_src = peer_addr(peer);
        seg.outer_dst = local;
        seg.src_port = static_cast<std::uint16_t>(49152 + b1);
        seg.dst_port = wire::kSttPort;
        seg.packet_id = 0x10000u * id + 7;
        seg.frame_len = static_cast<std::uint16_t>(len);
        seg.offset = static_cast<std::uint16_t>(off);
        seg.tos = static_cast<std::uint8_t>(((op >> 2) & 3) | ((op & 0x10) ? 0xb8 : 0));
        seg.tcp_flags = wire::kTcpAck;
        payload.resize(n);
        for (std::uint32_t i = 0; i < n; ++i) {
          payload[i] = frame_byte(peer, id, len, off + i) ^ ((op & 0x20) ? 0xa5 : 0);
        }
        seg.payload = payload.data();
        seg.payload_len = n;

        fuzz::ReferenceReassembler::Frame rf;
        const auto outcome = ref.add(seg, now, &rf);
        core::ReassembledFrame f;
        const bool done = impl.add(seg, now, &f);
        using O = fuzz::ReferenceReassembler::Outcome;
        const bool ref_done = outcome == O::kWhole || outcome == O::kCompleted;
        STT_FUZZ_CHECK(done == ref_done);
        const auto& c = impl.counters();
        auto delta = [&](core::ReasmCounter k) { return c.get(k) - counters_before.get(k); };
        switch (outcome) {
          case O::kWhole:
            STT_FUZZ_CHECK(delta(core::ReasmCounter::kWhole) == 1);
            break;
          case O::kCompleted:
            STT_FUZZ_CHECK(delta(core::ReasmCounter::kCompleted) == 1);
            break;
          case O::kHeld:
            STT_FUZZ_CHECK(delta(core::ReasmCounter::kSegmentsHeld) == 1);
            break;
          case O::kLengthMismatch:
            STT_FUZZ_CHECK(delta(core::ReasmCounter::kDropLengthMismatch) == 1);
            break;
          case O::kOverlap:
            STT_FUZZ_CHECK(delta(core::ReasmCounter::kDropOverlap) == 1);
            break;
          case O::kDuplicate:
            STT_FUZZ_CHECK(delta(core::ReasmCounter::kDropDuplicate) == 1);
            break;
        }
        if (done) {
          STT_FUZZ_CHECK(f.len == rf.bytes.size());
          STT_FUZZ_CHECK(std::memcmp(f.data, rf.bytes.data(), f.len) == 0);
          STT_FUZZ_CHECK(f.segments == rf.segments);
          STT_FUZZ_CHECK(f.first_tos == rf.first_tos);
          STT_FUZZ_CHECK(f.ce == rf.ce);
          STT_FUZZ_CHECK(f.packet_id == rf.packet_id);
          STT_FUZZ_CHECK(f.outer_src == seg.outer_src && f.outer_dst == seg.outer_dst);
        }
        break;
      }
      case 2: {
        const std::uint8_t t = in.u8();
        static constexpr std::uint64_t kSteps[6] = {1, 1'000, 1'000'000, 0, 0, 0};
        switch (t & 7) {
          case 3:
            now += cfg.timeout_ns / 2;
            break;
          case 4:
            now += cfg.timeout_ns - 1;
            break;
          case 5:
            now += cfg.timeout_ns;
            break;
          case 6:
            now += cfg.timeout_ns + 1;
            break;
          case 7:
            now += std::uint64_t{t} * 1'000'000;
            break;
          default:
            now += kSteps[t & 7];
            break;
        }
        break;
      }
      case 3: {
        const std::size_t n = ref.expire(now);
        impl.expire(now);
        STT_FUZZ_CHECK(impl.counters().get(core::ReasmCounter::kExpired) -
                           counters_before.get(core::ReasmCounter::kExpired) ==
                       n);
        break;
      }
    }
    const core::ReassemblyStats st = impl.stats();
    STT_FUZZ_CHECK(st.frames_in_flight == ref.in_flight());
    STT_FUZZ_CHECK(st.bytes_held == ref.bytes_held());
    STT_FUZZ_CHECK(impl.counters().get(core::ReasmCounter::kExpired) == ref.expired());
    STT_FUZZ_CHECK(impl.counters().get(core::ReasmCounter::kEvicted) == 0);
    STT_FUZZ_CHECK(impl.counters().get(core::ReasmCounter::kDropNoMemory) == 0);
    STT_FUZZ_CHECK(impl.counters().get(core::ReasmCounter::kDropSourceLimit) == 0);
  }
  return 0;
}
