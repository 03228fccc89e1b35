#pragma once
// The Prometheus exporter ([metrics] listen = "ADDR:PORT"): /metrics in the
// text exposition format, served by prometheus-cpp's HTTP server threads.
//
// Those threads never read the data path. A scrape asks the event loop for
// a snapshot (an eventfd the loop watches), and waits, bounded, for the loop
// to publish it; the snapshot's counters are the very JSON `sttctl stats -j`
// answers (sttd's, with the kernel fast path's and the cluster's merged in
// by the one function that serves both), so the exporter and sttctl always
// agree on names and values, in either fast-path mode. A loop that does not answer in time gets the
// previous snapshot served (its age is exported too).
//
// Names: every counter of `stats -j` as stt_<group>_<counter>_total (the
// global ones, e.g. stt_datapath_tx_frames_total, stt_fast_path_fast_tx_errors_total)
// and stt_network_<group>_<counter>_total{network="N"} (per network); gauges stt_peers{network},
// stt_fdb_entries{network,type}, stt_reassembly_bytes_in_use, stt_reassembly_frames_in_flight; and
// stt_build_info{version} 1.

#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "daemon/event_loop.hpp"

namespace stt::daemon {

class MetricsExporter {
 public:
  // Takes a snapshot on the event loop: returns {"stats": what `stats -j` shows,
  // "networks": [{"name", "peers", "fdb_learned", "fdb_static"}],
  // "reassembly": reassembly_json}.
  using Snapshot = std::function<nlohmann::json()>;

  // Listens on `listen` ("ADDR:PORT"); throws std::runtime_error naming the
  // address when it cannot.
  MetricsExporter(const std::string& listen, EventLoop& loop, Snapshot snapshot);
  ~MetricsExporter();
  MetricsExporter(const MetricsExporter&) = delete;
  MetricsExporter& operator=(const MetricsExporter&) = delete;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;  // shared: the exposer holds it weakly
};

}  // namespace stt::daemon
