// libstt microbenchmarks. Every benchmark reports the inner-frame bytes it
// moves per iteration (SetBytesProcessed), so micro_main.cpp can set each
// one beside memcpy of the same number of bytes, measured in the same run.
//
// Frames: "1500" is a 1500-byte inner Ethernet frame (IPv4/TCP, checksums
// complete, no offload); "65000" is a 65000-byte inner TCP super-packet as
// a TAP hands it over (NEEDS_CSUM with the pseudo-header sum, GSO TCPv4,
// gso_size 1448). The underlay is IPv4; the transmit and receive rows run
// at MTU 1500 and at MTU 9000 (jumbo frames, as overlay underlays usually
// are: a 1500-byte frame is then one segment). Their arguments are
// {frame bytes, MTU}.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "bench_support.hpp"
#include "core/buffer.hpp"
#include "core/decap.hpp"
#include "core/encap.hpp"
#include "core/reassembly.hpp"
#include "core/rx.hpp"
#include "micro_frames.hpp"
#include "wire/checksum.hpp"

namespace stt::bench {
namespace {

// ------------------------------------------------------------ references

void BM_csum_sum(benchmark::State& state) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  std::vector<std::uint8_t> src(n);
  for (std::size_t i = 0; i < n; ++i)
    src[i] = static_cast<std::uint8_t>(i * 7);
  for (auto _ : state) {
    std::uint32_t s = wire::csum::sum(src.data(), n);
    benchmark::DoNotOptimize(s);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n));
}

void BM_csum_copy_and_sum(benchmark::State& state) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  std::vector<std::uint8_t> src(n), dst(n);
  for (std::size_t i = 0; i < n; ++i)
    src[i] = static_cast<std::uint8_t>(i * 7);
  for (auto _ : state) {
    std::uint32_t s = wire::csum::copy_and_sum(dst.data(), src.data(), n);
    benchmark::DoNotOptimize(s);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n));
}

// ------------------------------------------------------------ transmit

// One inner frame in a buffer with headroom, and what encapsulate() needs.
struct TxFixture {
  TxFixture(std::size_t inner_len, std::uint32_t mtu)
      : tunnel(tunnel_config(mtu), 1), batch(std::make_unique<core::TxBatch>()) {
    frame = make_inner_frame(inner_len, &req.offload);
    buf.set_size(frame.size());
    std::memcpy(buf.data(), frame.data(), frame.size());
    req.context_id = 0x1388;
  }
  bool encap(core::TxForm form) {
    batch->clear();
    return core::encapsulate(tunnel, buf.frame(frame.size()), req, form, *batch, counters) ==
           core::EncapStatus::kOk;
  }

  std::vector<std::uint8_t> frame;
  core::PacketBuffer buf;
  core::Tunnel tunnel;
  core::EncapRequest req;
  std::unique_ptr<core::TxBatch> batch;
  core::CounterSet<core::EncapCounter> counters;
};

// Software segmentation to the underlay MTU: per-segment headers and checksums.
// The payload is not copied (TxPacket points into the frame).
void BM_encap_segmented(benchmark::State& state) {
  TxFixture fx(static_cast<std::size_t>(state.range(0)),
               static_cast<std::uint32_t>(state.range(1)));
  for (auto _ : state) {
    if (!fx.encap(core::TxForm::kSegmented)) {
      state.SkipWithError("encapsulate dropped the frame");
      return;
    }
    benchmark::DoNotOptimize(fx.batch->size());
  }
  state.counters["segments"] = static_cast<double>(fx.batch->size());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * fx.frame.size()));
}

// The same, with every outer packet written whole into a slot of a ring
// (kSegmentedCopy): segmentation as copy + checksums, the payload read once.
void BM_encap_segmented_copy(benchmark::State& state) {
  TxFixture fx(static_cast<std::size_t>(state.range(0)),
               static_cast<std::uint32_t>(state.range(1)));
  // A slot holds one outer Ethernet frame (MTU + 14 bytes).
  const std::size_t slot = state.range(1) <= 2048 - 14 ? 2048 : 9216;
  std::vector<std::uint8_t> ring(core::TxBatch::kMaxPackets * slot);
  fx.batch->set_copy_slots(ring.data(), slot, slot, core::TxBatch::kMaxPackets);
  for (auto _ : state) {
    if (!fx.encap(core::TxForm::kSegmentedCopy)) {
      state.SkipWithError("encapsulate dropped the frame");
      return;
    }
    benchmark::DoNotOptimize(ring.data());
    benchmark::ClobberMemory();
  }
  state.counters["segments"] = static_cast<double>(fx.batch->size());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * fx.frame.size()));
}

// GSO form: one super-segment with outer GSO metadata; should not touch
// the payload at all.
void BM_encap_gso(benchmark::State& state) {
  TxFixture fx(static_cast<std::size_t>(state.range(0)),
               static_cast<std::uint32_t>(state.range(1)));
  for (auto _ : state) {
    if (!fx.encap(core::TxForm::kGso)) {
      state.SkipWithError("encapsulate dropped the frame");
      return;
    }
    benchmark::DoNotOptimize(fx.batch->size());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * fx.frame.size()));
}

// ------------------------------------------------------------ receive

// The outer packets of one encapsulated frame, each in its own buffer with
// headroom, as a receive socket would leave them.
struct RxFixture {
  RxFixture(std::size_t inner_len, std::uint32_t mtu, core::TxForm form) {
    TxFixture tx(inner_len, mtu);
    inner_len_ = tx.frame.size();
    if (!tx.encap(form)) return;
    for (const core::TxPacket& p : *tx.batch) {
      auto b = std::make_unique<core::PacketBuffer>();
      b->set_size(p.header_len + p.payload_len);
      std::memcpy(b->data(), p.header, p.header_len);
      std::memcpy(b->data() + p.header_len, p.payload, p.payload_len);
      packets.push_back(std::move(b));
    }
    core::ReassemblyConfig rc;
    reasm = std::make_unique<core::Reassembler>(rc);
    out = std::make_unique<core::DecapOutput>();
    rx.local = tunnel_config().dst;
  }

  // Receives every packet as sttd does: the next in-order segment of a
  // frame through Reassembler::append_packet, anything else through
  // parse_segment and Reassembler::add. Returns the inner frames delivered.
  std::size_t receive(const core::OffloadInfo& rx_offload, const core::DecapConfig& dc,
                      std::uint64_t now) {
    std::size_t delivered = 0;
    for (auto& b : packets) {
      core::ReassembledFrame f;
      const core::Reassembler::Append a =
          reasm->append_packet(b->data(), b->size(), rx_offload, rx, now, &f);
      if (a == core::Reassembler::Append::kHeld) continue;
      if (a == core::Reassembler::Append::kNotTaken) {
        core::SttSegment seg;
        if (core::parse_segment(b->data(), b->size(), rx_offload, rx, &seg) !=
            core::RxCounter::kSegments) {
          return 0;
        }
        if (!reasm->add(seg, now, &f)) continue;
      }
      out->clear();
      if (core::decapsulate(f, dc, *out, counters) != core::DecapStatus::kOk) return 0;
      delivered += out->size();
    }
    return delivered;
  }

  std::size_t inner_len_ = 0;
  std::vector<std::unique_ptr<core::PacketBuffer>> packets;
  core::RxConfig rx;
  std::unique_ptr<core::Reassembler> reasm;
  std::unique_ptr<core::DecapOutput> out;
  core::CounterSet<core::DecapCounter> counters;
};

// Segments in order through parse_segment (checksum verified in software,
// or already verified by the kernel), the reassembler (one copy) and
// decapsulate (offload consumer: metadata handed on).
void reasm_decap(benchmark::State& state, std::uint8_t rx_flags, bool defer_checksum = false) {
  RxFixture fx(static_cast<std::size_t>(state.range(0)), static_cast<std::uint32_t>(state.range(1)),
               core::TxForm::kSegmented);
  fx.rx.defer_checksum = defer_checksum;
  core::OffloadInfo off;
  off.flags = rx_flags;
  core::DecapConfig dc;
  std::uint64_t now = 1'000'000;
  for (auto _ : state) {
    if (fx.receive(off, dc, now += 1000) != 1) {
      state.SkipWithError("frame not delivered");
      return;
    }
  }
  state.counters["segments"] = static_cast<double>(fx.packets.size());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * fx.inner_len_));
}
void BM_reasm_decap(benchmark::State& state) {
  reasm_decap(state, 0);
}
void BM_reasm_decap_rxcsum(benchmark::State& state) {
  reasm_decap(state, core::OffloadInfo::kDataValid);
}
// The same as BM_reasm_decap with RxConfig::defer_checksum: the outer TCP
// checksum is verified by the reassembler while it copies each payload.
void BM_reasm_decap_fused(benchmark::State& state) {
  reasm_decap(state, 0, /*defer_checksum=*/true);
}

// The whole-frame path: one GRO-coalesced packet (the GSO-form output,
// checksum verified by the kernel) through parse, pass-through and decap.
void BM_decap_whole(benchmark::State& state) {
  RxFixture fx(static_cast<std::size_t>(state.range(0)), static_cast<std::uint32_t>(state.range(1)),
               core::TxForm::kGso);
  if (fx.packets.size() != 1) {
    state.SkipWithError("GSO form did not give one super-segment");
    return;
  }
  core::OffloadInfo off;
  off.flags = core::OffloadInfo::kDataValid;
  core::DecapConfig dc;
  std::uint64_t now = 1'000'000;
  for (auto _ : state) {
    if (fx.receive(off, dc, now += 1000) != 1) {
      state.SkipWithError("frame not delivered");
      return;
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * fx.inner_len_));
}

void sizes(benchmark::internal::Benchmark* b) {
  b->Arg(1500)->Arg(65000)->Apply(repeat);
}
void sizes_and_mtus(benchmark::internal::Benchmark* b) {
  for (long size : {1500, 65000})
    for (long mtu : {1500, 9000})
      b->Args({size, mtu});
  b->Apply(repeat);
}
// The GSO form and the whole-frame path do not depend on the MTU.
void sizes_at_mtu_1500(benchmark::internal::Benchmark* b) {
  b->Args({1500, 1500})->Args({65000, 1500})->Apply(repeat);
}

BENCHMARK(memcpy_reference)->Name("BM_memcpy")->Apply(sizes);
BENCHMARK(BM_csum_sum)->Apply(sizes);
BENCHMARK(BM_csum_copy_and_sum)->Apply(sizes);
BENCHMARK(BM_encap_segmented)->Apply(sizes_and_mtus);
BENCHMARK(BM_encap_segmented_copy)->Apply(sizes_and_mtus);
BENCHMARK(BM_encap_gso)->Apply(sizes_at_mtu_1500);
BENCHMARK(BM_reasm_decap)->Apply(sizes_and_mtus);
BENCHMARK(BM_reasm_decap_rxcsum)->Apply(sizes_and_mtus);
BENCHMARK(BM_reasm_decap_fused)->Apply(sizes_and_mtus);
BENCHMARK(BM_decap_whole)->Apply(sizes_at_mtu_1500);

}  // namespace
}  // namespace stt::bench
