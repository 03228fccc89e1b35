#pragma once
// The loader of the kernel fast path (bpf/stt_fastpath.bpf.c): loads the two TC programs
// with libbpf, attaches them (ingress of the underlay, egress of each TAP), owns their maps,
// and detaches everything it attached when destroyed. A thin adapter: which peers, MACs and
// networks go into the maps is sttd's business.
//
// Setup and map writes throw std::runtime_error naming the interface or map; reading
// counters and learned MACs never throws.
#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

extern "C" {
#include "bpf/stt_fastpath.h"
}

struct stt_fastpath;  // the bpftool skeleton

namespace stt::sys {

struct BpfFastPathConfig {
  int underlay_ifindex = 0;
  std::uint32_t local_addr_be = 0;  // IPv4, network byte order
  std::uint16_t port = 7471;
  std::uint32_t underlay_mtu = 1500;
  std::array<std::uint8_t, 6> local_mac{};
  std::uint8_t ttl = 64;
  bool dscp_uniform = true;
  std::uint8_t pipe_dscp = 0;
  bool ecn_normal = true;
  std::uint16_t src_port_min = 49152;
  std::uint16_t src_port_max = 65535;
  bool rx = true;
  bool tx = true;
  bool learn = true;
};

// The counters the programs keep, by the names sttd uses for the same event.
inline constexpr std::size_t kBpfCounterCount = STT_BPF_NCOUNTERS;
std::string_view bpf_counter_name(std::size_t i);
using BpfCounters = std::array<std::uint64_t, kBpfCounterCount>;

struct BpfLearned {
  std::uint32_t slot;
  std::array<std::uint8_t, 6> mac;
  std::uint32_t peer_be;
  std::uint64_t seen_ns;  // CLOCK_MONOTONIC (bpf_ktime_get_ns)
};

class BpfFastPath {
 public:
  // Opens and loads the programs and maps and writes the config; attaches nothing.
  explicit BpfFastPath(const BpfFastPathConfig& cfg);
  ~BpfFastPath();
  BpfFastPath(const BpfFastPath&) = delete;
  BpfFastPath& operator=(const BpfFastPath&) = delete;

  // TC ingress of the underlay. The filter has a handle derived from the STT port, so one
  // left behind by a SIGKILLed instance on the same port is replaced, not doubled.
  void attach_underlay();
  // TC egress of a TAP, and the TAP's entry in the programs' maps; caps the TAP's
  // gso_max_size at kTapGsoMaxSize.
  void attach_tap(int ifindex, std::uint64_t context_id, std::uint32_t slot);
  void detach_tap(int ifindex);
  // attach_tap's map entry alone (BPF_PROG_TEST_RUN tests run the program unattached).
  void attach_tap_map_only(int ifindex, std::uint64_t context_id, std::uint32_t slot);

  // context_id in host order; slot in 1..STT_BPF_MAX_NETWORKS-1; tap_mtu the TAP's MTU
  // (again after it changes).
  void set_network(std::uint64_t context_id, int tap_ifindex, std::uint32_t slot,
                   std::uint32_t tap_mtu);
  void remove_network(std::uint64_t context_id);
  // A peer of at least one network; its next hop is used only when `resolved`.
  void set_peer(std::uint32_t addr_be, bool resolved, const std::array<std::uint8_t, 6>& nh_mac);
  void remove_peer(std::uint32_t addr_be);
  // Admission of a peer in the network of `slot` (set before or after that network's
  // set_network; remove_network forgets the network's peers).
  void set_net_peer(std::uint32_t slot, std::uint32_t addr_be, bool present);
  void set_fdb(std::uint32_t slot, const std::array<std::uint8_t, 6>& mac, std::uint32_t peer_be);
  void remove_fdb(std::uint32_t slot, const std::array<std::uint8_t, 6>& mac);

  // Counters of one row (0 = global), summed over the CPUs.
  BpfCounters counters(std::uint32_t slot) const;
  // Every learned record (the map is an LRU: old ones fall out by themselves).
  std::vector<BpfLearned> learned() const;

  int rx_prog_fd() const;
  int tx_prog_fd() const;
  const BpfFastPathConfig& config() const { return cfg_; }

 private:
  struct Attachment {
    int ifindex;
    bool ingress;
  };
  void attach(int ifindex, bool ingress, int prog_fd);
  void detach(const Attachment& a) noexcept;
  void update(int map_fd, const void* key, const void* value, const char* map) const;
  void remove(int map_fd, const void* key) const noexcept;

  // A network's `contexts` row and the peers admitted in it, by slot: `net_peers` repeats the
  // row in each admitted peer's entry, so it follows set_network and remove_network.
  struct NetRow {
    bool present = false;
    std::uint64_t context_be = 0;
    stt_bpf_network value{};
    std::vector<std::uint32_t> peers;
  };
  void write_net_peer(const NetRow& row, std::uint32_t addr_be, bool present);

  // Each peer's row in `peer_rows`/`peer_ids` (1..STT_BPF_MAX_PEERS-1). Freed rows are
  // reused oldest first, so a transmit program that read a row just before it was freed
  // finds it rewritten as late as possible (it then checks the address anyway).
  std::unordered_map<std::uint32_t, std::uint32_t> peer_row_;
  std::deque<std::uint32_t> free_peer_rows_;
  std::uint32_t peer_rows_given_ = 0;

  BpfFastPathConfig cfg_;
  std::vector<NetRow> rows_ = std::vector<NetRow>(STT_BPF_MAX_NETWORKS);
  stt_fastpath* skel_ = nullptr;
  std::vector<Attachment> attached_;
  std::uint32_t handle_ = 0;
};

// The largest GSO frame a TAP with the fast path accepts from its stack: its STT frame's
// outer IPv4 length (20 + 20 + 18 + frame) stays within 65535 with room for the TCP options
// the kernel counts in its own limit.
inline constexpr std::uint32_t kTapGsoMaxSize = 65400;

// The TC filter handle and priority an instance on `port` uses (the same ones after a restart).
std::uint32_t bpf_tc_handle(std::uint16_t port);
inline constexpr std::uint32_t kBpfTcPriority = 0x5354;  // "ST"

// Removes this port's filter from the underlay's ingress if one is there (left by a killed
// instance that ran the fast path); true if one was removed. Never throws.
bool remove_stale_bpf_filter(int underlay_ifindex, std::uint16_t port);

// The last libbpf messages (the verifier's log among them), for error reports.
std::string bpf_last_log();

}  // namespace stt::sys
