// The counter names as sttctl prints them and docs/cli.md and docs/design.md
// list them: operators' scripts and dashboards key on these strings, so a
// rename must be deliberate. Each list is in enum order, which is also the order
// `sttctl stats` prints.

#include <gtest/gtest.h>

#include <string_view>
#include <vector>

#include "core/decap.hpp"
#include "core/encap.hpp"
#include "core/reassembly.hpp"
#include "core/rx.hpp"
#include "daemon/dataplane.hpp"
#include "daemon/fdb.hpp"

namespace stt {
namespace {

template <typename E>
std::vector<std::string_view> names_of() {
  std::vector<std::string_view> v;
  for (std::size_t i = 0; i < static_cast<std::size_t>(E::kCount); ++i) {
    v.push_back(counter_name(static_cast<E>(i)));
  }
  return v;
}

template <typename E>
std::vector<std::string_view> names_from_set() {
  std::vector<std::string_view> v;
  core::CounterSet<E>().for_each([&](std::string_view n, std::uint64_t) { v.push_back(n); });
  return v;
}

// counter_name() and CounterSet::for_each (what sttctl prints) both give `want`.
template <typename E>
void expect_names(const std::vector<std::string_view>& want) {
  EXPECT_EQ(names_of<E>(), want);
  EXPECT_EQ(names_from_set<E>(), want);
}

TEST(CounterNames, RxCounter) {
  expect_names<core::RxCounter>({
      "segments",
      "not_ip",
      "not_tcp",
      "not_our_port",
      "not_our_address",
      "drop_truncated",
      "drop_bad_ip_header",
      "drop_bad_ip_checksum",
      "drop_ip_fragment",
      "drop_tcp_options",
      "drop_bad_tcp_checksum",
      "drop_zero_length",
      "drop_beyond_length",
      "drop_length_too_short",
      "drop_control_flags",
  });
}

TEST(CounterNames, ReasmCounter) {
  expect_names<core::ReasmCounter>({
      "whole",
      "completed",
      "segments_held",
      "drop_length_mismatch",
      "drop_overlap",
      "drop_duplicate",
      "drop_no_memory",
      "drop_source_limit",
      "drop_bad_tcp_checksum",
      "evicted",
      "expired",
  });
}

TEST(CounterNames, EncapCounter) {
  expect_names<core::EncapCounter>({
      "frames",
      "stt_frames",
      "segments",
      "offloaded",
      "software_checksum",
      "software_gso",
      "vlan_from_frame",
      "drop_too_short",
      "drop_too_large",
      "drop_bad_offload",
      "drop_headroom",
      "drop_batch_full",
      "drop_slot_too_small",
  });
}

TEST(CounterNames, DecapCounter) {
  expect_names<core::DecapCounter>({
      "frames",
      "vlan_restored",
      "csum_partial",
      "gso_delivered",
      "software_checksum",
      "software_gso",
      "ecn_ce_marked",
      "dscp_rewritten",
      "drop_bad_version",
      "drop_too_short",
      "drop_c_and_p",
      "drop_bad_l4_offset",
      "drop_bad_inner_headers",
      "drop_ecn_not_ect",
      "drop_vlan_reserved",
      "drop_gso_failed",
      "drop_output_full",
  });
}

TEST(CounterNames, FdbCounter) {
  expect_names<daemon::FdbCounter>({
      "fdb_learned",
      "fdb_moved",
      "fdb_aged",
      "fdb_learn_drop_table_full",
      "fdb_learn_drop_static_conflict",
      "fdb_learn_drop_cluster_conflict",
      "fdb_learn_drop_invalid_source",
      "fdb_learn_drop_not_peer",
      "fdb_tx_unicast",
      "fdb_tx_flood_unknown",
      "fdb_tx_flood_multicast",
  });
}

TEST(CounterNames, DpCounter) {
  expect_names<daemon::DpCounter>({
      "tx_frames",
      "tx_bytes",
      "tx_unicast",
      "tx_flooded",
      "tx_queued",
      "tx_packets",
      "tx_tso_frames",
      "tx_gso_packets",
      "tx_segments",
      "tx_drop_too_short",
      "tx_drop_no_peer",
      "tx_drop_no_neighbour",
      "tx_drop_no_route",
      "tx_drop_encap",
      "tx_drop_send_error",
      "tx_drop_tap_read",
      "rx_packets",
      "rx_bytes",
      "rx_gro_packets",
      "rx_stt_frames",
      "rx_whole_frames",
      "rx_reassembled_frames",
      "rx_delivered",
      "tap_gso_writes",
      "tap_csum_partial_writes",
      "rx_drop_truncated",
      "rx_drop_invalid",
      "rx_drop_bad_header",
      "rx_drop_unknown_context",
      "rx_drop_not_peer",
      "rx_drop_not_peer_segments",
      "rx_drop_decap",
      "rx_drop_tap_write",
      "rx_recv_errors",
  });
}

TEST(CounterNames, OutOfRangeIsUnknown) {
  EXPECT_EQ(counter_name(core::RxCounter::kCount), "unknown");
  EXPECT_EQ(counter_name(daemon::DpCounter::kCount), "unknown");
}

// The table is built at compile time: a lookup is a constant.
enum class Probe : std::uint8_t { kA, kB, kCount };
constexpr core::CounterNames<Probe> kProbeNames({{Probe::kA, "a"}, {Probe::kB, "b"}});
static_assert(kProbeNames(Probe::kA) == "a" && kProbeNames(Probe::kB) == "b");
static_assert(kProbeNames(Probe::kCount) == "unknown");

}  // namespace
}  // namespace stt
