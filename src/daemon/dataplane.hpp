#pragma once
// sttd's data path: one thread, driven by the event loop.
//
//   transmit: TAP read (vnet header + frame) -> network -> FDB lookup ->
//             per-peer Tunnel -> core::encapsulate -> sendmmsg on the
//             underlay packet socket
//   receive:  recvmmsg -> core::parse_segment -> admission (the sender
//             is a peer of some network) -> core::Reassembler -> admission
//             (known context ID, sender is a peer of THAT network) ->
//             core::decapsulate -> learn -> TAP write
//
// Nothing here allocates or throws per packet: buffers, batches and the
// pending queues are sized at construction. Every frame that is not
// delivered is counted under a named reason, per network and globally.
// Peers' next hops come from rtnetlink on the tick, not per packet.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
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
};

// In-memory I/O for benchmarks and tests: when DataplaneOptions::io is set,
// no packet socket is opened and no TAP is created; outer packets and inner
// frames go to these calls instead. The daemon never sets it.
class DataplaneIo {
 public:
  virtual ~DataplaneIo() = default;
  // Returns how many packets of `batch` were "sent".
  virtual std::size_t send(const core::TxBatch& batch) = 0;
  // Returns 0 or -errno, like sys::Tap::write_frame.
  virtual int write_tap(Network& n, const core::OffloadInfo& vnet, const std::uint8_t* frame,
                        std::size_t len) = 0;
};

struct DataplaneOptions {
  std::string underlay;  // interface name
  wire::IpAddr local;
  std::uint16_t port = wire::kSttPort;
  core::TxForm tx_form = core::TxForm::kGso;
  core::ReassemblyConfig reassembly;
  core::DecapConfig decap;
  // Outer DSCP and ECN of every tunnel (RFC 2983 model, RFC 6040 mode).
  core::DscpMode dscp_mode = core::DscpMode::kUniform;
  std::uint8_t pipe_dscp = 0;
  core::EcnMode ecn_mode = core::EcnMode::kNormal;
  std::size_t pending_per_peer = 16;  // frames held per unresolved peer
  std::size_t pending_total = 64;     // buffers for all of them
  std::uint64_t pending_timeout_ns = 3'000'000'000;
  // In-memory I/O (benchmarks, tests). Then the underlay is not looked up:
  // underlay_mac/underlay_mtu are used, and every peer's next hop is
  // static_next_hop, with no rtnetlink query.
  DataplaneIo* io = nullptr;
  wire::MacAddr underlay_mac;
  std::uint32_t underlay_mtu = 1500;
  wire::MacAddr static_next_hop;
};

class Dataplane {
 public:
  // Opens the underlay packet socket and reads the underlay's MAC and MTU.
  // Throws std::system_error / std::runtime_error naming what failed.
  Dataplane(const DataplaneOptions& opt, sys::Netlink& nl);
  ~Dataplane();
  Dataplane(const Dataplane&) = delete;
  Dataplane& operator=(const Dataplane&) = delete;

  // Creates the network's TAP (throws) and registers its peers and static
  // FDB entries. After attach(), the new TAP is watched at once (reload).
  // On a throw nothing of the network is left.
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

  // Control plane.
  Network* network(std::string_view name);
  const std::vector<std::unique_ptr<Network>>& networks() const { return networks_; }
  bool add_peer(Network& n, const wire::IpAddr& peer);     // false: already a peer
  bool remove_peer(Network& n, const wire::IpAddr& peer);  // false: not a peer
  nlohmann::json underlay_json() const;
  int underlay_ifindex() const { return underlay_.index; }
  const wire::MacAddr& underlay_mac() const { return underlay_.mac; }
  std::uint32_t underlay_mtu() const { return underlay_mtu_; }
  // f(address, next hop resolved, next hop's MAC) for every peer of any network.
  template <typename F>
  void for_each_peer(F&& f) const {
    for (const auto& [addr, p] : peers_)
      f(addr, p->resolved, p->tunnel.config().dst_mac);
  }
  nlohmann::json peers_json() const;
  nlohmann::json stats_json() const;
  nlohmann::json reassembly_json() const;

  // The data-path handlers (public for tests and benchmarks).
  void on_tap_readable(Network& n);
  void on_underlay_readable();
  // One frame each way, without the fd I/O (benchmarks with DataplaneOptions::io).
  // transmit_frame takes a tx buffer, encapsulates into the batch; flush_tx sends it.
  void transmit_frame(Network& n, const std::uint8_t* frame, std::size_t len,
                      const core::OffloadInfo& vnet);
  void flush_tx() { flush(); }
  void receive_frame(sys::RxFrame& f) { receive(f, now_ns()); }

  static std::uint64_t now_ns();

 private:
  struct Pending {
    core::PacketBuffer* buf;
    core::OffloadInfo vnet;
    Network* net;
    std::uint64_t since_ns;
  };
  struct Peer {
    Peer(const core::TunnelConfig& cfg, std::uint32_t id) : tunnel(cfg, id) {}
    wire::IpAddr addr;
    core::Tunnel tunnel;
    std::uint32_t refs = 0;  // networks that list this peer
    bool resolved = false;
    std::string status = "resolving";
    wire::IpAddr next_hop;
    std::string neigh_state;
    std::uint64_t next_check_ns = 0;
    std::uint64_t next_solicit_ns = 0;
    std::vector<Pending> pending;  // capacity reserved once
  };

  Peer* peer(const wire::IpAddr& a);
  Peer& ref_peer(const wire::IpAddr& a);
  void unref_peer(const wire::IpAddr& a);
  void check_peer(Peer& p, std::uint64_t now);
  void send_pending(Peer& p);
  void drop_pending(Peer& p, std::uint64_t older_than_ns);

  void transmit(Network& n, core::PacketBuffer* b, const core::OffloadInfo& vnet,
                std::uint64_t now);
  void encap_to(Network& n, Peer& p, core::PacketBuffer* b, const core::OffloadInfo& vnet);
  void enqueue(Network& n, Peer& p, const core::PacketBuffer& b, const core::OffloadInfo& vnet,
               std::uint64_t now);
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

  DataplaneOptions opt_;
  sys::Netlink& nl_;
  sys::LinkInfo underlay_;
  std::uint32_t underlay_mtu_ = 1500;
  std::unique_ptr<sys::PacketSocket> sock_;  // null with in-memory I/O
  core::RxConfig rx_cfg_;
  core::Reassembler reasm_;

  std::vector<std::unique_ptr<Network>> networks_;
  std::unordered_map<std::uint64_t, Network*> by_context_;
  std::unordered_map<wire::IpAddr, std::unique_ptr<Peer>, wire::IpAddrHash> peers_;

  // Transmit: frames read from TAPs live in tx_buffers_ until the batch
  // holding their outer packets is sent.
  std::vector<core::PacketBuffer> tx_storage_;
  std::vector<core::PacketBuffer*> tx_buffers_;
  std::size_t tx_used_ = 0;
  core::PacketBuffer* current_ = nullptr;  // the frame being transmitted: flush() keeps it
  core::PacketBuffer flood_copy_;
  std::unique_ptr<core::TxBatch> batch_;
  core::BufferPool pending_pool_;

  // Receive.
  std::unique_ptr<core::DecapOutput> decap_out_;

  core::CounterSet<DpCounter> counters_;
  core::CounterSet<core::RxCounter> rx_counters_;
  std::uint64_t next_housekeeping_ns_ = 0;
  std::vector<EventLoop*> attached_;
};

}  // namespace stt::daemon
