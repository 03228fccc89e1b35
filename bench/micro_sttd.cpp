// bench_sttd: the per-packet cost of sttd's whole data path, each way, for a
// 64 KB TSO super-frame and a 1514-byte frame, beside memcpy of the same
// bytes measured in the same run, as a ratio.
//
// What one iteration includes. The Dataplane runs with in-memory I/O
// (MemoryPacketIo, counting only), so no system call is measured:
//   tx_*: one memcpy of the inner frame into a tx buffer (it stands in for
//         the TAP read, which is a kernel copy), network lookup, FDB lookup,
//         core::encapsulate (GSO form: headers only; segmented form: one
//         checksum pass over the payload), per-path counters, and the batch
//         handed to the in-memory "send", which touches no payload byte.
//   rx_whole_*: one GRO-coalesced outer packet (as AF_PACKET delivers it with
//         GRO on, checksum verified by the kernel): parse_segment, the
//         reassembler's whole-frame path (no copy), admission, decapsulate
//         (offload consumer), FDB learning and the in-memory TAP write, which
//         touches no payload byte.
//   rx_segments_*: the same frame in MTU-sized segments (GRO off), so the
//         reassembler copies each piece once.
// The kernel's own copies (TAP read/write, AF_PACKET send/receive) are not
// included; each costs about one memcpy of the frame, the reference column.
//
//   ninja -C build bench_sttd && ./build/bench/bench_sttd

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bench_support.hpp"
#include "core/buffer.hpp"
#include "core/encap.hpp"
#include "daemon/dataplane.hpp"
#include "micro_frames.hpp"
#include "wire/bytes.hpp"

namespace {

using namespace stt;

const wire::IpAddr kLocal = *wire::IpAddr::parse("192.0.2.1");
const wire::IpAddr kPeer = *wire::IpAddr::parse("192.0.2.2");
const wire::MacAddr kLocalMac = *wire::MacAddr::parse("00:00:5e:00:53:01");
const wire::MacAddr kPeerMac = *wire::MacAddr::parse("00:00:5e:00:53:02");

sys::LinkInfo bench_underlay() {
  sys::LinkInfo l;
  l.index = 1;
  l.mac = kLocalMac;
  l.mtu = 1500;
  return l;
}

struct Sttd {
  explicit Sttd(core::TxForm form) {
    daemon::DataplaneOptions o;
    o.underlay = "bench0";
    o.local = kLocal;
    o.tx_form = form;
    dp = std::make_unique<daemon::Dataplane>(o, io, next_hops);
    daemon::NetworkConfig nc;
    nc.name = "bench";
    nc.context_id = 42;
    nc.mtu = 1500;
    nc.peers.push_back(kPeer);
    net = &dp->add_network(nc, daemon::FdbLimits{});
  }
  std::uint64_t counter(daemon::DpCounter c) const { return net->counters.get(c); }

  // Counts what the data path hands to the kernel; touches no payload byte.
  daemon::MemoryPacketIo io{bench_underlay(), false};
  daemon::StaticNextHops next_hops{1, kPeerMac};
  std::unique_ptr<daemon::Dataplane> dp;
  daemon::Network* net = nullptr;
};

// ------------------------------------------------------------------ transmit

void tx(benchmark::State& state, core::TxForm form) {
  core::OffloadInfo off;
  const std::vector<std::uint8_t> frame =
      bench::make_inner_frame(static_cast<std::size_t>(state.range(0)), &off);
  Sttd s(form);
  for (auto _ : state) {
    s.dp->transmit_frame(*s.net, frame.data(), frame.size(), off);
    s.dp->flush_tx();
  }
  if (s.counter(daemon::DpCounter::kTxFrames) != static_cast<std::uint64_t>(state.iterations()) ||
      s.net->counters.get(daemon::DpCounter::kTxDropEncap) != 0) {
    state.SkipWithError("frames were dropped");
    return;
  }
  state.counters["outer_pkts"] =
      static_cast<double>(s.io.packets_sent) / static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * frame.size()));
}
void BM_tx_gso(benchmark::State& state) {
  tx(state, core::TxForm::kGso);
}
void BM_tx_segmented(benchmark::State& state) {
  tx(state, core::TxForm::kSegmented);
}

// ------------------------------------------------------------------- receive

// The outer packets the peer's sttd sends for one inner frame, as the local
// AF_PACKET socket receives them: the GSO form as one coalesced packet
// (GSO metadata, checksum verified), the segmented form as MTU packets.
std::vector<std::unique_ptr<core::PacketBuffer>> peer_packets(std::size_t len, core::TxForm form,
                                                              core::OffloadInfo* rx_vnet) {
  core::OffloadInfo off;
  std::vector<std::uint8_t> frame = bench::make_inner_frame(len, &off);
  core::TunnelConfig tc;
  tc.src_mac = kPeerMac;
  tc.dst_mac = kLocalMac;
  tc.src = kPeer;
  tc.dst = kLocal;
  tc.mtu = 1500;
  core::Tunnel t(tc, 1);
  core::PacketBuffer in;
  std::memcpy(in.data(), frame.data(), frame.size());
  auto batch = std::make_unique<core::TxBatch>();
  core::CounterSet<core::EncapCounter> ec;
  core::EncapRequest req;
  req.context_id = 42;
  req.offload = off;
  core::encapsulate(t, in.frame(frame.size()), req, form, *batch, ec);
  std::vector<std::unique_ptr<core::PacketBuffer>> out;
  *rx_vnet = core::OffloadInfo{};
  for (const core::TxPacket& p : *batch) {
    auto b = std::make_unique<core::PacketBuffer>();
    std::memcpy(b->data(), p.header, p.header_len);
    std::memcpy(b->data() + p.header_len, p.payload, p.payload_len);
    b->set_size(p.header_len + p.payload_len);
    out.push_back(std::move(b));
    *rx_vnet = p.gso;
  }
  // What the receiving kernel reports: checksum verified (GRO or the NIC).
  rx_vnet->flags = core::OffloadInfo::kDataValid;
  rx_vnet->csum_start = rx_vnet->csum_offset = 0;
  return out;
}

void rx(benchmark::State& state, core::TxForm form) {
  const std::size_t len = static_cast<std::size_t>(state.range(0));
  core::OffloadInfo vnet;
  auto packets = peer_packets(len, form, &vnet);
  if (form == core::TxForm::kGso && packets.size() != 1) {
    state.SkipWithError("the GSO form did not give one super-segment");
    return;
  }
  Sttd s(core::TxForm::kGso);
  std::vector<sys::RxFrame> frames;
  for (auto& b : packets)
    frames.push_back({vnet, b.get(), static_cast<std::uint32_t>(b->size())});
  constexpr std::size_t kAck = wire::kEthHeaderLen + 20 + 8;  // outer IPv4, TCP ACK = packet ID
  std::uint32_t pid = 1000;
  for (auto _ : state) {
    ++pid;  // a new STT frame each time, so pieces are never taken as duplicates
    for (auto& f : frames) {
      wire::store_be32(f.buffer->data() + kAck, pid);
      s.dp->receive_frame(f);
    }
  }
  if (s.counter(daemon::DpCounter::kRxDelivered) !=
      static_cast<std::uint64_t>(state.iterations())) {
    state.SkipWithError("frames were not delivered");
    return;
  }
  state.counters["outer_pkts"] = static_cast<double>(frames.size());
  state.counters["whole"] = static_cast<double>(s.counter(daemon::DpCounter::kRxWholeFrames)) /
                            static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * (len)));
}
void BM_rx_whole(benchmark::State& state) {
  rx(state, core::TxForm::kGso);
}
void BM_rx_segments(benchmark::State& state) {
  rx(state, core::TxForm::kSegmented);
}

void sizes(benchmark::internal::Benchmark* b) {
  b->Arg(1514)->Arg(65000)->Apply(stt::bench::repeat);
}
BENCHMARK(stt::bench::memcpy_reference)->Name("BM_memcpy")->Apply(sizes);
BENCHMARK(BM_tx_gso)->Apply(sizes);
BENCHMARK(BM_tx_segmented)->Apply(sizes);
BENCHMARK(BM_rx_whole)->Apply(sizes);
BENCHMARK(BM_rx_segments)->Apply(sizes);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  stt::bench::MedianCollector rep(false);
  benchmark::RunSpecifiedBenchmarks(&rep);
  std::printf(
      "\nsttd data path per frame, %s, beside memcpy of the same bytes:\n",
      stt::bench::smoke_run() ? "smoke run (STT_BENCH_SMOKE), not a measurement" : "medians of 5");
  std::printf("%-16s %6s %10s %8s %12s %6s\n", "path", "bytes", "ns/frame", "GB/s", "memcpy GB/s",
              "ratio");
  for (const char* name : {"tx_gso", "tx_segmented", "rx_whole", "rx_segments"}) {
    for (const char* size : {"1514", "65000"}) {
      auto it = rep.medians().find(std::string("BM_") + name + "/" + size);
      auto ref = rep.medians().find(std::string("BM_memcpy/") + size);
      if (it == rep.medians().end() || ref == rep.medians().end()) continue;
      const double bytes = std::stod(size);
      std::printf("%-16s %6s %10.0f %8.2f %12.2f %6.2f\n", name, size, 1e9 * bytes / it->second,
                  it->second / 1e9, ref->second / 1e9, it->second / ref->second);
    }
  }
  for (const auto& e : rep.errors())
    std::printf("error: %s\n", e.c_str());
  benchmark::Shutdown();
  return rep.errors().empty() ? 0 : 1;
}
