#include "daemon/metrics.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <system_error>

#include "core/version.hpp"
#include "linux/fd.hpp"

namespace stt::daemon {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// How long a scrape waits for the event loop. The loop answers between two
// batches of packets, so this bounds only a stuck loop.
constexpr std::chrono::milliseconds kSnapshotWait{1000};

class Families {
 public:
  void add(const std::string& name, const std::string& help, MetricType type, double value,
           std::vector<ClientMetric::Label> labels = {}) {
    auto [it, fresh] = by_name_.try_emplace(name, families_.size());
    if (fresh) families_.push_back(MetricFamily{name, help, type, {}});
    ClientMetric m;
    m.label = std::move(labels);
    if (type == MetricType::Counter) {
      m.counter.value = value;
    } else {
      m.gauge.value = value;
    }
    families_[it->second].metric.push_back(std::move(m));
  }
  std::vector<MetricFamily> take() { return std::move(families_); }

 private:
  std::vector<MetricFamily> families_;
  std::map<std::string, std::size_t> by_name_;
};

// One group of `stats -j` ({"tx_frames": 3, ...}) as counters.
void add_counters(Families& f, const nlohmann::json& group, const std::string& prefix,
                  const std::string& what, std::vector<ClientMetric::Label> labels) {
  for (const auto& [name, value] : group.items()) {
    if (!value.is_number_unsigned()) continue;
    f.add(prefix + name + "_total", "sttctl stats: " + what + " " + name, MetricType::Counter,
          static_cast<double>(value.get<std::uint64_t>()), labels);
  }
}

std::vector<MetricFamily> families(const nlohmann::json& snap) {
  Families f;
  f.add("stt_build_info", "the running sttd's version", MetricType::Gauge, 1,
        {{"version", core::version()}});
  if (snap.is_null()) return f.take();
  const nlohmann::json& stats = snap["stats"];
  for (const auto& [group, counters] : stats["global"].items()) {
    add_counters(f, counters, "stt_" + group + "_", group, {});
  }
  for (const auto& [net, groups] : stats["networks"].items()) {
    for (const auto& [group, counters] : groups.items()) {
      if (!counters.is_object()) continue;  // context_id
      add_counters(f, counters, "stt_network_" + group + "_", "per network " + group,
                   {{"network", net}});
    }
  }
  for (const auto& n : snap["networks"]) {
    const std::string name = n["name"].get<std::string>();
    f.add("stt_peers", "peers of the network", MetricType::Gauge, n["peers"].get<double>(),
          {{"network", name}});
    f.add("stt_fdb_entries", "FDB entries of the network", MetricType::Gauge,
          n["fdb_learned"].get<double>(), {{"network", name}, {"type", "learned"}});
    f.add("stt_fdb_entries", "FDB entries of the network", MetricType::Gauge,
          n["fdb_static"].get<double>(), {{"network", name}, {"type", "static"}});
  }
  const nlohmann::json& r = snap["reassembly"];
  f.add("stt_reassembly_bytes_in_use", "bytes held by frames being reassembled", MetricType::Gauge,
        r["bytes_in_use"].get<double>());
  f.add("stt_reassembly_frames_in_flight", "frames being reassembled", MetricType::Gauge,
        r["frames_in_flight"].get<double>());
  return f.take();
}

}  // namespace

struct MetricsExporter::Impl : prometheus::Collectable {
  Impl(EventLoop& l, Snapshot s) : loop(l), snapshot(std::move(s)) {}

  // On an exporter thread: ask the loop, wait for its answer.
  std::vector<MetricFamily> Collect() const override {
    std::unique_lock lock(mu);
    const std::uint64_t want = ++asked;
    const std::uint64_t one = 1;
    if (write(wake.get(), &one, sizeof one) != sizeof one) {
      spdlog::warn("metrics: cannot wake the event loop: {}", std::strerror(errno));
    } else if (!done.wait_for(lock, kSnapshotWait, [&] { return answered >= want; })) {
      spdlog::warn(
          "metrics: the event loop did not answer within {} ms; serving the last "
          "snapshot",
          kSnapshotWait.count());
    }
    return families(last);
  }

  // On the event loop.
  void on_wake() {
    std::uint64_t n = 0;
    if (read(wake.get(), &n, sizeof n) != sizeof n) return;
    nlohmann::json snap = snapshot();
    std::lock_guard lock(mu);
    last = std::move(snap);
    answered = asked;
    done.notify_all();
  }

  EventLoop& loop;
  Snapshot snapshot;
  sys::UniqueFd wake;
  mutable std::mutex mu;
  mutable std::condition_variable done;
  mutable std::uint64_t asked = 0;
  std::uint64_t answered = 0;
  nlohmann::json last;
  std::unique_ptr<prometheus::Exposer> exposer;
};

MetricsExporter::MetricsExporter(const std::string& listen, EventLoop& loop, Snapshot snapshot)
    : impl_(std::make_shared<Impl>(loop, std::move(snapshot))) {
  impl_->wake.reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!impl_->wake.valid()) throw std::system_error(errno, std::generic_category(), "eventfd");
  loop.add(impl_->wake.get(), [this](std::uint32_t) { impl_->on_wake(); });
  try {
    impl_->exposer = std::make_unique<prometheus::Exposer>(listen, 1);
  } catch (const std::exception& e) {
    loop.remove(impl_->wake.get());
    throw std::runtime_error("metrics: cannot listen on " + listen + ": " + e.what());
  }
  impl_->exposer->RegisterCollectable(impl_);
}

MetricsExporter::~MetricsExporter() {
  // The HTTP threads stop first: no scrape waits on a loop that is going.
  impl_->exposer.reset();
  impl_->loop.remove(impl_->wake.get());
}

}  // namespace stt::daemon
