#include "linux/bpf_fastpath.hpp"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <mutex>
#include <stdexcept>

// The skeleton embeds the BPF object as one long string literal, longer than ISO C++
// promises to support; g++ takes it.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverlength-strings"
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include "stt_fastpath.skel.h"
#pragma GCC diagnostic pop

namespace stt::sys {

namespace {

constexpr std::string_view kCounterNames[] = {
    "tx_frames",
    "tx_bytes",
    "tx_unicast",
    "tx_packets",
    "tx_tso_frames",
    "tx_gso_packets",
    "fast_tx_to_sttd_flood",
    "fast_tx_to_sttd_unresolved",
    "fast_tx_to_sttd_other",
    "fast_tx_errors",
    "rx_packets",
    "rx_bytes",
    "rx_gro_packets",
    "rx_stt_frames",
    "rx_whole_frames",
    "rx_delivered",
    "tap_gso_writes",
    "fast_rx_csum_completed",
    "rx_drop_not_peer_segments",
    "rx_drop_not_peer",
    "fast_rx_to_sttd_piece",
    "fast_rx_to_sttd_other",
    "fast_rx_errors",
    "fast_learned",
};
static_assert(std::size(kCounterNames) == kBpfCounterCount);

// libbpf reports through a global callback; keep its last few KB for error messages.
std::mutex g_log_mu;
std::string g_log;

int libbpf_print(enum libbpf_print_level level, const char* fmt, va_list ap) {
  if (level == LIBBPF_DEBUG) return 0;
  char buf[1024];
  const int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  if (n <= 0) return 0;
  std::lock_guard lock(g_log_mu);
  g_log.append(buf, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof buf - 1));
  if (g_log.size() > 8192) g_log.erase(0, g_log.size() - 8192);
  return 0;
}

[[noreturn]] void fail(const std::string& what, int err) {
  throw std::runtime_error(fmt::format("bpf fast path: {}: {}", what, std::strerror(err)));
}

bpf_tc_hook hook_for(int ifindex, bool ingress) {
  bpf_tc_hook h{};
  h.sz = sizeof h;
  h.ifindex = ifindex;
  h.attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS;
  return h;
}

bpf_tc_opts opts_for(std::uint32_t handle, int prog_fd) {
  bpf_tc_opts o{};
  o.sz = sizeof o;
  o.handle = handle;
  o.priority = kBpfTcPriority;
  o.prog_fd = prog_fd;
  return o;
}

// RTM_NEWLINK with IFLA_GSO_MAX_SIZE: the TAP's own stack then builds GSO frames no larger
// than `size`, so the outer IPv4 length of their STT frame fits 16 bits.
void set_gso_max_size(int ifindex, std::uint32_t size) {
  mnl_socket* nl = mnl_socket_open(NETLINK_ROUTE);
  if (!nl) fail("netlink socket", errno);
  alignas(nlmsghdr) char buf[8192];
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = RTM_NEWLINK;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  nlh->nlmsg_seq = 1;
  auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = ifindex;
  mnl_attr_put_u32(nlh, IFLA_GSO_MAX_SIZE, size);
  int err = 0;
  if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
      mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
    err = errno;
  } else {
    const ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof buf);
    if (n < 0) {
      err = errno;
    } else if (mnl_cb_run(buf, static_cast<std::size_t>(n), 1, mnl_socket_get_portid(nl), nullptr,
                          nullptr) < 0) {
      err = errno;
    }
  }
  mnl_socket_close(nl);
  if (err != 0) fail(fmt::format("setting gso_max_size {} on ifindex {}", size, ifindex), err);
}

}  // namespace

std::string_view bpf_counter_name(std::size_t i) {
  return i < kBpfCounterCount ? kCounterNames[i] : std::string_view{};
}

std::string bpf_last_log() {
  std::lock_guard lock(g_log_mu);
  return g_log;
}

// One handle per STT port, as the nftables table's name (docs/design.md): instances on
// different ports never touch each other's filters, a restart finds its own.
std::uint32_t bpf_tc_handle(std::uint16_t port) {
  return 0x57540000u | port;
}

bool remove_stale_bpf_filter(int underlay_ifindex, std::uint16_t port) {
  bpf_tc_hook h = hook_for(underlay_ifindex, true);
  bpf_tc_opts o = opts_for(bpf_tc_handle(port), 0);
  if (bpf_tc_query(&h, &o) != 0) return false;
  o = opts_for(bpf_tc_handle(port), 0);
  return bpf_tc_detach(&h, &o) == 0;
}

BpfFastPath::BpfFastPath(const BpfFastPathConfig& cfg)
    : cfg_(cfg), handle_(bpf_tc_handle(cfg.port)) {
  libbpf_set_print(libbpf_print);
  skel_ = stt_fastpath__open();
  if (!skel_) fail("opening the BPF object", errno);
  if (const int err = stt_fastpath__load(skel_); err != 0) {
    stt_fastpath__destroy(skel_);
    skel_ = nullptr;
    throw std::runtime_error(fmt::format("bpf fast path: loading the programs: {}\n{}",
                                         std::strerror(-err), bpf_last_log()));
  }
  for (std::uint32_t r = 1; r < STT_BPF_MAX_PEERS; ++r)
    free_peer_rows_.push_back(r);
  stt_bpf_config c{};
  c.underlay_ifindex = static_cast<__u32>(cfg.underlay_ifindex);
  c.local_addr = cfg.local_addr_be;
  c.port = htons(cfg.port);
  c.outer_mss = static_cast<__u16>(cfg.underlay_mtu - 40);
  c.src_port_min = cfg.src_port_min;
  c.src_port_max = cfg.src_port_max;
  std::memcpy(c.local_mac, cfg.local_mac.data(), 6);
  c.ttl = cfg.ttl;
  c.dscp_uniform = cfg.dscp_uniform;
  c.pipe_dscp = cfg.pipe_dscp;
  c.ecn_normal = cfg.ecn_normal;
  c.rx_enabled = cfg.rx;
  c.tx_enabled = cfg.tx;
  c.learn = cfg.learn;
  const __u32 zero = 0;
  try {
    update(bpf_map__fd(skel_->maps.stt_config), &zero, &c, "stt_config");
  } catch (...) {
    stt_fastpath__destroy(skel_);
    throw;
  }
}

BpfFastPath::~BpfFastPath() {
  for (auto it = attached_.rbegin(); it != attached_.rend(); ++it)
    detach(*it);
  if (skel_) stt_fastpath__destroy(skel_);
}

int BpfFastPath::rx_prog_fd() const {
  return bpf_program__fd(skel_->progs.stt_rx);
}
int BpfFastPath::tx_prog_fd() const {
  return bpf_program__fd(skel_->progs.stt_tx);
}

void BpfFastPath::attach(int ifindex, bool ingress, int prog_fd) {
  bpf_tc_hook h = hook_for(ifindex, ingress);
  // The clsact qdisc serves both directions; it may exist already (another user, or a
  // killed instance), which is fine. It is left in place at exit for the same reason.
  if (const int err = bpf_tc_hook_create(&h); err != 0 && err != -EEXIST) {
    fail(fmt::format("creating the clsact qdisc on ifindex {}", ifindex), -err);
  }
  bpf_tc_opts o = opts_for(handle_, prog_fd);
  o.flags = BPF_TC_F_REPLACE;  // a stale filter with our handle is replaced in place
  if (const int err = bpf_tc_attach(&h, &o); err != 0) {
    fail(fmt::format("attaching to the TC {} of ifindex {}", ingress ? "ingress" : "egress",
                     ifindex),
         -err);
  }
  attached_.push_back({ifindex, ingress});
}

void BpfFastPath::detach(const Attachment& a) noexcept {
  bpf_tc_hook h = hook_for(a.ifindex, a.ingress);
  bpf_tc_opts o = opts_for(handle_, 0);
  bpf_tc_detach(&h, &o);  // the device may be gone already (a closed TAP): nothing to undo
}

void BpfFastPath::attach_underlay() {
  attach(cfg_.underlay_ifindex, true, rx_prog_fd());
}

void BpfFastPath::attach_tap(int ifindex, std::uint64_t context_id, std::uint32_t slot) {
  attach_tap_map_only(ifindex, context_id, slot);
  set_gso_max_size(ifindex, kTapGsoMaxSize);
  attach(ifindex, false, tx_prog_fd());
}

void BpfFastPath::attach_tap_map_only(int ifindex, std::uint64_t context_id, std::uint32_t slot) {
  stt_bpf_tap t{};
  t.context_id = htobe64(context_id);
  t.slot = slot;
  const __u32 key = static_cast<__u32>(ifindex);
  update(bpf_map__fd(skel_->maps.stt_taps), &key, &t, "stt_taps");
}

void BpfFastPath::detach_tap(int ifindex) {
  for (auto it = attached_.begin(); it != attached_.end(); ++it) {
    if (it->ifindex == ifindex && !it->ingress) {
      detach(*it);
      attached_.erase(it);
      break;
    }
  }
  const __u32 key = static_cast<__u32>(ifindex);
  remove(bpf_map__fd(skel_->maps.stt_taps), &key);
}

void BpfFastPath::update(int map_fd, const void* key, const void* value, const char* map) const {
  if (bpf_map_update_elem(map_fd, key, value, BPF_ANY) != 0) {
    fail(fmt::format("writing map {}", map), errno);
  }
}

void BpfFastPath::remove(int map_fd, const void* key) const noexcept {
  bpf_map_delete_elem(map_fd, key);
}

void BpfFastPath::set_network(std::uint64_t context_id, int tap_ifindex, std::uint32_t slot,
                              std::uint32_t tap_mtu) {
  if (slot == 0 || slot >= STT_BPF_MAX_NETWORKS) {
    throw std::runtime_error(fmt::format("bpf fast path: network slot {} out of range", slot));
  }
  const __u64 key = htobe64(context_id);
  stt_bpf_network n{static_cast<__u32>(tap_ifindex), slot, tap_mtu + 18, 0};
  NetRow& row = rows_[slot];
  if (row.present && row.context_be != key) {
    for (const std::uint32_t p : row.peers)
      write_net_peer(row, p, false);
  }
  update(bpf_map__fd(skel_->maps.stt_contexts), &key, &n, "stt_contexts");
  row.present = true;
  row.context_be = key;
  row.value = n;
  for (const std::uint32_t p : row.peers)
    write_net_peer(row, p, true);
}

void BpfFastPath::remove_network(std::uint64_t context_id) {
  const __u64 key = htobe64(context_id);
  remove(bpf_map__fd(skel_->maps.stt_contexts), &key);
  for (NetRow& row : rows_) {
    if (!row.present || row.context_be != key) continue;
    for (const std::uint32_t p : row.peers)
      write_net_peer(row, p, false);
    row = NetRow{};
  }
}

void BpfFastPath::set_peer(std::uint32_t addr_be, bool resolved,
                           const std::array<std::uint8_t, 6>& nh_mac) {
  auto it = peer_row_.find(addr_be);
  if (it == peer_row_.end()) {
    if (free_peer_rows_.empty()) {
      throw std::runtime_error(
          fmt::format("bpf fast path: more than {} peers", STT_BPF_MAX_PEERS - 1));
    }
    const std::uint32_t row = free_peer_rows_.front();
    // The ID counters are written once, when the row is given, and later next-hop updates
    // leave them alone. The start mixes in how many rows were given, so a peer removed and
    // added again does not restart where it began (the reserved bit keeps them off sttd's).
    stt_bpf_peer_ids ids{};
    ids.next_id = addr_be * 2654435761u + ++peer_rows_given_ * 0x9e3779b9u;
    ids.ip_id = addr_be >> 16;
    update(bpf_map__fd(skel_->maps.stt_peer_ids), &row, &ids, "stt_peer_ids");
    free_peer_rows_.pop_front();
    it = peer_row_.emplace(addr_be, row).first;
  }
  const std::uint32_t row = it->second;
  stt_bpf_peer p{};
  p.addr = addr_be;
  std::memcpy(p.nh_mac, nh_mac.data(), 6);
  p.resolved = resolved;
  update(bpf_map__fd(skel_->maps.stt_peer_rows), &row, &p, "stt_peer_rows");
  const stt_bpf_peer_ref ref{row, 0};
  update(bpf_map__fd(skel_->maps.stt_peers), &addr_be, &ref, "stt_peers");
}

void BpfFastPath::remove_peer(std::uint32_t addr_be) {
  remove(bpf_map__fd(skel_->maps.stt_peers), &addr_be);
  const auto it = peer_row_.find(addr_be);
  if (it == peer_row_.end()) return;
  const std::uint32_t row = it->second;
  const stt_bpf_peer none{};  // addr 0: FDB entries that still name the row find no peer
  update(bpf_map__fd(skel_->maps.stt_peer_rows), &row, &none, "stt_peer_rows");
  free_peer_rows_.push_back(row);
  peer_row_.erase(it);
}

void BpfFastPath::set_net_peer(std::uint32_t slot, std::uint32_t addr_be, bool present) {
  if (slot == 0 || slot >= STT_BPF_MAX_NETWORKS) {
    throw std::runtime_error(fmt::format("bpf fast path: network slot {} out of range", slot));
  }
  NetRow& row = rows_[slot];
  const auto it = std::find(row.peers.begin(), row.peers.end(), addr_be);
  if (present == (it != row.peers.end())) return;
  if (row.present) write_net_peer(row, addr_be, present);
  if (present) {
    row.peers.push_back(addr_be);
  } else {
    row.peers.erase(it);
  }
}

void BpfFastPath::write_net_peer(const NetRow& row, std::uint32_t addr_be, bool present) {
  stt_bpf_net_peer k{row.context_be, addr_be, 0};
  const int fd = bpf_map__fd(skel_->maps.stt_net_peers);
  if (present) {
    update(fd, &k, &row.value, "stt_net_peers");
  } else {
    remove(fd, &k);
  }
}

void BpfFastPath::set_fdb(std::uint32_t slot, const std::array<std::uint8_t, 6>& mac,
                          std::uint32_t peer_be) {
  stt_bpf_mac_key k{};
  k.slot = slot;
  std::memcpy(k.mac, mac.data(), 6);
  stt_bpf_fdb_entry e{};
  e.peer = peer_be;
  // The peer's row when it has one: the transmit program then needs no `stt_peers` lookup.
  if (const auto it = peer_row_.find(peer_be); it != peer_row_.end()) e.peer_row = it->second;
  update(bpf_map__fd(skel_->maps.stt_fdb), &k, &e, "stt_fdb");
}

void BpfFastPath::remove_fdb(std::uint32_t slot, const std::array<std::uint8_t, 6>& mac) {
  stt_bpf_mac_key k{};
  k.slot = slot;
  std::memcpy(k.mac, mac.data(), 6);
  remove(bpf_map__fd(skel_->maps.stt_fdb), &k);
}

BpfCounters BpfFastPath::counters(std::uint32_t slot) const {
  BpfCounters out{};
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0 || slot >= STT_BPF_MAX_NETWORKS) return out;
  std::vector<std::uint64_t> per_cpu(static_cast<std::size_t>(ncpu));
  const int fd = bpf_map__fd(skel_->maps.stt_counters);
  for (std::size_t c = 0; c < kBpfCounterCount; ++c) {
    const __u32 key = static_cast<__u32>(slot * STT_BPF_NCOUNTERS + c);
    if (bpf_map_lookup_elem(fd, &key, per_cpu.data()) != 0) continue;
    for (const std::uint64_t v : per_cpu)
      out[c] += v;
  }
  return out;
}

std::vector<BpfLearned> BpfFastPath::learned() const {
  // Batches of 1024 records per system call: the map holds up to 65536.
  constexpr std::uint32_t kBatch = 1024;
  std::vector<BpfLearned> out;
  std::vector<stt_bpf_mac_key> keys(kBatch);
  std::vector<stt_bpf_fdb_entry> values(kBatch);
  const int fd = bpf_map__fd(skel_->maps.stt_learned);
  __u64 batch = 0;
  bool first = true;
  for (;;) {
    __u32 n = kBatch;
    bpf_map_batch_opts o{};  // what LIBBPF_OPTS does, without its GNU C extensions
    o.sz = sizeof(o);
    const int err = bpf_map_lookup_batch(fd, first ? nullptr : &batch, &batch, keys.data(),
                                         values.data(), &n, &o);
    first = false;
    for (__u32 i = 0; i < n; ++i) {
      BpfLearned l{};
      l.slot = keys[i].slot;
      std::memcpy(l.mac.data(), keys[i].mac, 6);
      l.peer_be = values[i].peer;
      l.seen_ns = values[i].seen_ns;
      out.push_back(l);
    }
    if (err != 0) break;  // ENOENT: the last batch was the end of the map
  }
  return out;
}

}  // namespace stt::sys
