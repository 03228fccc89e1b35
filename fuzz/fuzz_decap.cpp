// fuzz_decap: the whole receive path from raw outer packets:
// parse_segment -> Reassembler -> decapsulate, the latter in both
// offload_consumer modes (a copy of each completed frame goes through the
// software path, the original through the metadata path).
//
// Input layout:
//   byte 0   decap config: bit 0 DSCP uniform, bit 1 ECN processing,
//            bit 2 a local address in RxConfig
//   byte 1   reassembly limits: bits 0-2 memory (128 KiB steps),
//            bits 3-5 frame cap, bits 6-7 timeout
//   then records (fuzz_input.hpp framing), one outer packet each, with
//   control byte: bits 0-1 offload state for parse_segment (0 none,
//            1 DATA_VALID, 2 NEEDS_CSUM, 3 none after fixing checksums),
//            bits 2-4 time step before the packet, bit 5 expire() first.
//
// Invariants: nothing crashes or reads out of bounds; counters account for
// every packet and frame; the reassembler stays within its limits; every
// delivered inner frame is at least an Ethernet header, at most the STT
// payload plus one 802.1Q tag (or, when segmented in software, the
// per-segment headers plus MSS), and its offload metadata fits the frame.

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "core/decap.hpp"
#include "core/reassembly.hpp"
#include "core/rx.hpp"
#include "fuzz_input.hpp"
#include "wire/headers.hpp"

using namespace stt;

namespace {

constexpr std::uint32_t kHeadroom = 256;

std::uint64_t time_step(std::uint8_t code, fuzz::Input& in) {
  switch (code & 7) {
    case 0:
      return 0;
    case 1:
      return 1'000;
    case 2:
      return 1'000'000;
    case 3:
      return 10'000'000;
    case 4:
      return 100'000'000;
    case 5:
      return 1'000'000'000;
    case 6:
      return 10'000'000'000;
    default:
      return in.u32();
  }
}

void check_delivered(const core::DecapOutput& out, const core::ReassembledFrame& f,
                     bool offload_consumer) {
  const std::uint32_t stt_payload = f.len - wire::kSttHeaderLen;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const core::InnerFrame& inner = out[i];
    STT_FUZZ_CHECK(inner.data != nullptr);
    STT_FUZZ_CHECK(inner.len >= wire::kEthHeaderLen);
    // Software segmentation repeats the headers on every piece, but each
    // piece is still no larger than the frame it came from.
    STT_FUZZ_CHECK(inner.len <= stt_payload + 4);
    fuzz::touch(inner.data, inner.len);
    const core::OffloadInfo& o = inner.offload;
    if (!offload_consumer) {
      STT_FUZZ_CHECK(o == core::OffloadInfo{});
      continue;
    }
    if (o.needs_csum()) {
      STT_FUZZ_CHECK(std::uint32_t{o.csum_start} + o.csum_offset + 2 <= inner.len);
    }
    if (o.is_gso()) {
      STT_FUZZ_CHECK(o.gso_size != 0);
      STT_FUZZ_CHECK(o.needs_csum());
      STT_FUZZ_CHECK(o.hdr_len <= inner.len);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Input in(data, size);
  const std::uint8_t dcfg = in.u8();
  const std::uint8_t rcfg = in.u8();

  core::RxConfig rx;
  if (dcfg & 4) {
    const std::uint8_t v4[4] = {192, 0, 2, 2};
    rx.local = wire::IpAddr::v4(v4);
  }
  core::ReassemblyConfig rc;
  rc.mem_high = (1u + (rcfg & 7)) * (128u << 10);
  rc.mem_low = rc.mem_high / 2;
  rc.max_frames = 1u + ((rcfg >> 3) & 7) * 4;
  rc.max_frames_per_source = rc.max_frames;
  static constexpr std::uint64_t kTimeouts[] = {1'000'000, 100'000'000, 2'000'000'000,
                                                30'000'000'000};
  rc.timeout_ns = kTimeouts[rcfg >> 6];
  core::Reassembler reasm(rc);

  core::DecapConfig hw;  // metadata to the consumer
  hw.offload_consumer = true;
  hw.dscp_mode = (dcfg & 1) ? core::DscpMode::kUniform : core::DscpMode::kPipe;
  hw.ecn = (dcfg & 2) != 0;
  core::DecapConfig sw = hw;  // everything done in software
  sw.offload_consumer = false;

  static auto* out = new core::DecapOutput();  // large; reused across inputs
  core::CounterSet<core::DecapCounter> hw_counters, sw_counters;

  // Packets get headroom in front, as after a socket read into a
  // PacketBuffer; so does the copy for the software path.
  static std::vector<std::uint8_t> copy_store(kHeadroom + 65536);

  std::uint64_t now = 1'000'000'000;
  std::uint64_t completed = 0;
  while (!in.empty()) {
    const std::uint8_t control = in.u8();
    const std::uint16_t len = in.u16();
    auto bytes = in.bytes(len);
    now += time_step(control >> 2, in);
    if (control & 0x20) reasm.expire(now);

    // Exactly sized for the sanitizer: the packet ends where the input did.
    std::vector<std::uint8_t> sized(kHeadroom + bytes.size());
    std::uint8_t* pkt = sized.data() + kHeadroom;
    if (!bytes.empty()) std::memcpy(pkt, bytes.data(), bytes.size());

    const core::OffloadInfo off = fuzz::receive_offload(control, pkt, bytes.size());
    core::SttSegment seg;
    const core::RxCounter verdict = core::parse_segment(pkt, bytes.size(), off, rx, &seg);
    STT_FUZZ_CHECK(verdict < core::RxCounter::kCount);
    if (verdict != core::RxCounter::kSegments) continue;

    core::ReassembledFrame f;
    const bool done = reasm.add(seg, now, &f);
    const core::ReassemblyStats st = reasm.stats();
    STT_FUZZ_CHECK(st.frames_in_flight <= rc.max_frames);
    STT_FUZZ_CHECK(st.bytes_in_use <= rc.mem_high);
    STT_FUZZ_CHECK(st.bytes_held <= st.bytes_in_use);
    if (!done) continue;
    ++completed;
    STT_FUZZ_CHECK(f.data != nullptr);
    STT_FUZZ_CHECK(f.len == seg.frame_len);
    STT_FUZZ_CHECK(f.len >= wire::kSttMinFrame && f.len <= wire::kSttMaxFrame);
    STT_FUZZ_CHECK(f.packet_id == seg.packet_id);
    STT_FUZZ_CHECK(f.segments >= 1);
    fuzz::touch(f.data - f.headroom, f.headroom + f.len);

    // The software path works on a copy, as the frame is changed in place.
    std::memcpy(copy_store.data() + kHeadroom, f.data, f.len);
    core::ReassembledFrame fc = f;
    fc.data = copy_store.data() + kHeadroom;
    fc.headroom = kHeadroom;

    out->clear();
    const std::uint64_t sw_before = sw_counters.get(core::DecapCounter::kFrames);
    if (core::decapsulate(fc, sw, *out, sw_counters) == core::DecapStatus::kOk) {
      STT_FUZZ_CHECK(out->size() >= 1);
      check_delivered(*out, fc, false);
    } else {
      STT_FUZZ_CHECK(out->size() == 0);
    }
    STT_FUZZ_CHECK(sw_counters.get(core::DecapCounter::kFrames) - sw_before == out->size());

    out->clear();
    const std::uint64_t hw_before = hw_counters.get(core::DecapCounter::kFrames);
    if (core::decapsulate(f, hw, *out, hw_counters) == core::DecapStatus::kOk) {
      // With metadata the consumer segments: exactly one frame.
      STT_FUZZ_CHECK(out->size() == 1);
      check_delivered(*out, f, true);
    } else {
      STT_FUZZ_CHECK(out->size() == 0);
    }
    STT_FUZZ_CHECK(hw_counters.get(core::DecapCounter::kFrames) - hw_before == out->size());
  }

  // The reassembler's outcome counters cover every frame it handed out.
  const auto& rcnt = reasm.counters();
  STT_FUZZ_CHECK(rcnt.get(core::ReasmCounter::kWhole) + rcnt.get(core::ReasmCounter::kCompleted) ==
                 completed);
  // A frame is dropped by one of the two paths only when the other drops it
  // too: the checks that decide (version, C+P, VLAN 4095) do not depend on
  // the mode. Frames count the same as long as no software GSO ran.
  STT_FUZZ_CHECK(hw_counters.get(core::DecapCounter::kDropBadVersion) ==
                 sw_counters.get(core::DecapCounter::kDropBadVersion));
  STT_FUZZ_CHECK(hw_counters.get(core::DecapCounter::kDropCAndP) ==
                 sw_counters.get(core::DecapCounter::kDropCAndP));
  return 0;
}
