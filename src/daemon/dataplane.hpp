#pragma once
// sttd's data path: one thread, driven by the event loop. It joins the
// parts (docs/design.md, "sttd's data path in parts"):
//   PacketIo   the underlay socket and the TAPs (Linux, or in memory)
//   Switch     networks by name and context ID, admission, flood copies
//   PeerTable  peers, their sources and networks, next hops, pending queues
// and owns the transmit batching and the reassembler.
//
//   transmit: TAP read (vnet header + frame) -> network -> FDB lookup ->
//             flood copies -> per-peer Tunnel (or its pending queue) ->
//             core::encapsulate -> PacketIo::send (sendmmsg)
//   receive:  PacketIo::recv_batch (recvmmsg) -> core::parse_segment ->
//             admission (the sender is a peer of some network) ->
//             core::Reassembler -> admission (known context ID, sender is
//             a peer of THAT network) -> core::decapsulate -> learn -> TAP
//
// Nothing here allocates or throws per packet: buffers, batches and the
// pending queues are sized at construction. Every frame that is not
// delivered is counted under a named reason, per network and globally.
// Peers' next hops come from rtnetlink on the tick, not per packet.
// Reports (JSON) are rendered by daemon/report.hpp.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/buffer.hpp"
#include "core/counters.hpp"
#include "core/decap.hpp"
#include "core/encap.hpp"
#include "core/reassembly.hpp"
#include "core/rx.hpp"
#include "daemon/config.hpp"
#include "daemon/event_loop.hpp"
#include "daemon/fdb.hpp"
#include "daemon/packet_io.hpp"
#include "daemon/peer_table.hpp"
#include "daemon/rate_limit.hpp"
#include "daemon/switch.hpp"
#include "linux/netlink.hpp"
#include "linux/packet_socket.hpp"
#include "linux/tap.hpp"

namespace stt::daemon {

enum class DpCounter : std::uint8_t {
  // transmit (TAP -> underlay)
  kTxFrames,           // frames read from the TAP
  kTxBytes,            // their bytes
  kTxUnicast,          // sent to the one peer the FDB named
  kTxFlooded,          // replicated to every peer (broadcast, multicast, unknown unicast)
  kTxQueued,           // held while the peer's next hop resolves
  kTxPackets,          // outer packets handed to the kernel (a GSO frame counts once)
  kTxTsoFrames,        // TAP frames that came with GSO metadata (inner TSO/USO super-frames)
  kTxGsoPackets,       // outer packets sent as one GSO super-segment (cut by kernel or NIC)
  kTxSegments,         // outer packets of STT frames cut to the underlay MTU here, in userspace
  kTxDropTooShort,     // shorter than an Ethernet header
  kTxDropNoPeer,       // the network has no peer to send to
  kTxDropNoNeighbour,  // next hop unresolved and the peer's queue is full or timed out
  kTxDropNoRoute,      // no route to the peer through the underlay interface
  kTxDropEncap,        // core::encapsulate refused it (reason in the encap counters)
  kTxDropSendError,    // the kernel refused the outer packet (sendmmsg)
  kTxDropTapRead,      // read error on the TAP
  // receive (underlay -> TAP)
  kRxPackets,              // outer packets received
  kRxBytes,                // their bytes
  kRxGroPackets,           // outer packets that arrived with GSO metadata (GRO-coalesced runs)
  kRxSttFrames,            // complete STT frames (after reassembly)
  kRxWholeFrames,          // ... of which arrived in one packet and were taken without a copy
  kRxReassembledFrames,    // ... of which were put together from pieces (one copy)
  kRxDelivered,            // inner frames written to a TAP
  kTapGsoWrites,           // ... of which as one GSO super-frame (MSS from the STT header)
  kTapCsumPartialWrites,   // ... of which with a partial checksum (NEEDS_CSUM) and no GSO
  kRxDropTruncated,        // larger than the receive buffer
  kRxDropInvalid,          // not a valid STT segment (reason in the rx counters)
  kRxDropBadHeader,        // STT frame too short for its header
  kRxDropUnknownContext,   // no network has the frame's context ID
  kRxDropNotPeer,          // the outer source is not a peer of the frame's network (frames)
  kRxDropNotPeerSegments,  // segments from a source that is a peer of no network, dropped
                           // before reassembly (they never take reassembly memory)
  kRxDropDecap,            // core::decapsulate refused it (reason in the decap counters)
  kRxDropTapWrite,         // the TAP refused the inner frame
  kRxRecvErrors,           // recvmmsg failed
  kCount
};
std::string_view counter_name(DpCounter c);

// The debug log of drops (docs/design.md, "Logs"). A drop's cause is the
// data-path counter it was counted under, refined, where libstt knows more, by
// the libstt counter that says why (rx_drop_invalid by rx.drop_bad_tcp_checksum,
// rx_drop_decap by decap.drop_c_and_p, ...), or a reassembler's drop alone. Each
// cause has its own slot, so each gets its own rate limit per network.
struct DropCause {
  std::string_view counter;  // the data-path counter, or "reassembly"
  std::string_view group;    // the libstt counters' group of `detail`: "rx", "decap", ...
  std::string_view detail;   // the libstt counter that refines it, or empty
  std::string_view reason;   // why, in words
  std::size_t slot = 0;      // its rate-limit slot, < kDropLogSlots
};
inline constexpr std::size_t kDropLogSlots =
    static_cast<std::size_t>(DpCounter::kCount) + core::CounterSet<core::RxCounter>::kSize +
    core::CounterSet<core::ReasmCounter>::kSize + core::CounterSet<core::DecapCounter>::kSize +
    core::CounterSet<core::EncapCounter>::kSize;

// What was dropped and whose it was, as far as the drop site knows; formatted
// only for a line that is logged.
struct DropSubject {
  std::string_view what = "frame";     // "frame", "segment", "packet"
  std::size_t bytes = 0;               // 0: unknown
  std::uint64_t packets = 1;           // several at once (a send batch)
  const wire::IpAddr* from = nullptr;  // the outer source (receive)
  const wire::IpAddr* to = nullptr;    // the peer (transmit)
  const wire::MacAddr* dst = nullptr;  // the inner destination MAC (transmit)
  const std::uint64_t* context_id = nullptr;
  const std::uint8_t* packet = nullptr;  // the outer packet: `from` is read from it when unset
  std::size_t packet_len = 0;
  int error = 0;  // an errno, 0: none
};

// Per network (and once for drops of no network): the rate limits, and the
// libstt drop counters as they stood at the last drop, so the one that moved
// since names the reason of the next.
struct DropLog {
  RateLimits<kDropLogSlots> limits;
  core::CounterSet<core::DecapCounter> decap_seen;
  core::CounterSet<core::EncapCounter> encap_seen;
  core::CounterSet<core::ReasmCounter> reasm_seen;
};

// One virtual network: a context ID, its TAP, its FDB and its counters.
struct Network {
  Network(const NetworkConfig& c, const sys::TapOptions& tap_opt, const FdbLimits& limits)
      : cfg(c), tap(tap_opt), fdb(limits) {}
  NetworkConfig cfg;
  sys::Tap tap;
  Fdb fdb;
  core::CounterSet<DpCounter> counters;
  core::CounterSet<core::EncapCounter> encap;
  core::CounterSet<core::DecapCounter> decap;
  // Log lines about this network's drops, one per cause per second.
  DropLog drop_log;
};

// The last frame dropped for a context ID no network has, for `sttctl show`.
struct UnknownContextSeen {
  std::uint64_t context_id = 0;
  wire::IpAddr from;
  bool any = false;
};

struct DataplaneOptions {
  std::string underlay;  // interface name
  wire::IpAddr local;
  std::uint16_t port = wire::kSttPort;
  core::TxForm tx_form = core::TxForm::kGso;
  core::ReassemblyConfig reassembly;
  core::DecapConfig decap;
  PeerPolicy peers;  // tunnels' DSCP/ECN, pending queues
};

// Sees every frame a local tenant sends (the TAP side) before the FDB does: the etcd
// directory's agent (daemon/cluster_agent.hpp) tracks local MACs and answers ARP/ND from it.
// Runs on the data path: must not block, throw or allocate per frame in steady state.
class TapHook {
 public:
  virtual ~TapHook() = default;
  // true: the frame was answered locally and is not to be sent.
  virtual bool on_tap_frame(Network& n, const std::uint8_t* frame, std::size_t len,
                            std::uint64_t now_ns) = 0;
};

class Dataplane {
 public:
  // `io` and `next_hops` outlive the Dataplane: the daemon gives it
  // LinuxPacketIo and NetlinkNextHops, tests and benchmarks in-memory ones.
  Dataplane(const DataplaneOptions& opt, PacketIo& io, NextHopSource& next_hops);
  ~Dataplane();
  Dataplane(const Dataplane&) = delete;
  Dataplane& operator=(const Dataplane&) = delete;

  // Creates the network's TAP (throws) and registers its peers (source
  // config) and static FDB entries. After attach(), the new TAP is watched
  // at once (reload). On a throw nothing of the network is left.
  Network& add_network(const NetworkConfig& cfg, const FdbLimits& limits);
  // Stops watching the network's TAP, drops its peers (and frames queued
  // for them) and deletes it with its TAP. Other networks are untouched.
  void remove_network(Network& n);
  // Watches the TAPs and the underlay socket.
  void attach(EventLoop& loop);
  void detach(EventLoop& loop);

  // Timers: reassembly expiry, FDB ageing, next-hop resolution. Cheap when
  // nothing is due; call it after every loop iteration.
  void tick(std::uint64_t now_ns);

  // Control plane (the event loop's thread).
  Network* network(std::string_view name) { return switch_.find(name); }
  const std::vector<std::unique_ptr<Network>>& networks() const { return switch_.networks(); }
  // false: `peer` was a peer of n already (the source is added to its set).
  bool add_peer(Network& n, const wire::IpAddr& peer, PeerSource source = PeerSource::kRuntime);
  // Removes `sources` from n's reference to the peer; the peer leaves n
  // when none is left. false: not a peer of n.
  bool remove_peer(Network& n, const wire::IpAddr& peer, PeerSources sources = kAllPeerSources);

  // The TAP-side hook, or nullptr (the default).
  void set_tap_hook(TapHook* hook) { tap_hook_ = hook; }

  // What the reports read (daemon/report.hpp).
  const DataplaneOptions& options() const { return opt_; }
  const sys::LinkInfo& underlay() const { return io_.underlay(); }
  const PeerTable& peers() const { return peers_; }
  const Switch& network_switch() const { return switch_; }
  const core::CounterSet<DpCounter>& counters() const { return counters_; }
  const UnknownContextSeen& unknown_context() const { return unknown_context_; }
  const core::CounterSet<core::RxCounter>& rx_counters() const { return rx_counters_; }
  const core::Reassembler& reassembler() const { return reasm_; }

  // The data-path handlers (public for tests and benchmarks).
  void on_tap_readable(Network& n);
  void on_underlay_readable();
  // One frame each way, without the fd I/O (benchmarks, tests).
  // transmit_frame takes a tx buffer, encapsulates into the batch; flush_tx sends it.
  void transmit_frame(Network& n, const std::uint8_t* frame, std::size_t len,
                      const core::OffloadInfo& vnet);
  void flush_tx() { flush(); }
  void receive_frame(sys::RxFrame& f) { receive(f, now_ns()); }

  static std::uint64_t now_ns();

  // The level drops are logged at: spdlog::level::debug, without spdlog here.
  static constexpr int kDebugLevel = 1;

 private:
  // PeerTable callbacks.
  void send_pending(Peer& p);
  void pending_dropped(Network* n);

  void transmit(Network& n, core::PacketBuffer* b, const core::OffloadInfo& vnet,
                std::uint64_t now);
  void encap_to(Network& n, Peer& p, core::PacketBuffer* b, const core::OffloadInfo& vnet);
  // Sends the batch. The tx buffers become free again, except current_,
  // which stays taken (its frame is still being worked on).
  void flush();
  core::PacketBuffer* take_tx_buffer();

  void receive(sys::RxFrame& f, std::uint64_t now);
  // A frame the reassembler completed (or passed through whole): header,
  // network and peer checks, decapsulation, learning, TAP.
  void deliver(const core::ReassembledFrame& frame, std::uint64_t now);
  void count(Network* n, DpCounter c, std::uint64_t v = 1) {
    counters_.inc(c, v);
    if (n) n->counters.inc(c, v);
  }
  // Every drop of the data path goes through here: counts it under `c` (and
  // `what.packets` times) and logs it at debug, or at `level`. The libstt
  // counter that refines the cause, if any, is found by log_drop().
  void drop(Network* n, DpCounter c, const DropSubject& what, std::uint64_t now,
            int level = kDebugLevel);
  void drop(Network* n, DpCounter c, core::RxCounter why, const DropSubject& what,
            std::uint64_t now);
  // Logs one line for the drop when `level` is on and the (cause, network)
  // pair's rate limit allows it, with the number of drops held back since the
  // last line. Nothing is formatted, or allocated, for a drop not logged.
  void log_drop(Network* n, const DropCause& why, const DropSubject& what, std::uint64_t now,
                int level);
  // The reassembler's drop since the last one, if any, logged (while debug is on).
  void log_reassembly_drops(std::uint64_t now, const DropSubject& what);
  DropLog& drop_log_of(Network* n) { return n != nullptr ? n->drop_log : drop_log_; }
  static bool debug_on();

  DataplaneOptions opt_;
  PacketIo& io_;
  core::RxConfig rx_cfg_;
  core::Reassembler reasm_;
  PeerTable peers_;
  Switch switch_;

  // Transmit: frames read from TAPs live in tx_buffers_ until the batch
  // holding their outer packets is sent.
  std::vector<core::PacketBuffer> tx_storage_;
  std::vector<core::PacketBuffer*> tx_buffers_;
  std::size_t tx_used_ = 0;
  core::PacketBuffer* current_ = nullptr;  // the frame being transmitted: flush() keeps it
  core::PacketBuffer flood_copy_;
  std::unique_ptr<core::TxBatch> batch_;

  // Receive.
  std::unique_ptr<core::DecapOutput> decap_out_;

  core::CounterSet<DpCounter> counters_;
  core::CounterSet<core::RxCounter> rx_counters_;
  DropLog drop_log_;  // drops of no network (before the frame's network is known)
  UnknownContextSeen unknown_context_;
  std::uint64_t next_housekeeping_ns_ = 0;
  std::vector<EventLoop*> attached_;
  TapHook* tap_hook_ = nullptr;
};

}  // namespace stt::daemon
