#pragma once
// What bench_micro and bench_sttd share: how long each benchmark runs, the
// memcpy reference every figure is set beside, and a reporter that keeps the
// median and the best repetition of each benchmark for the closing table.
//
// STT_BENCH_SMOKE=1 in the environment (the ctest cases bench_*_smoke) runs
// every benchmark once, briefly: it proves that each one runs to the end (a
// dropped frame is an error, and the exit status says so) and measures
// nothing.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace stt::bench {

inline bool smoke_run() {
  const char* v = std::getenv("STT_BENCH_SMOKE");
  return v != nullptr && std::strcmp(v, "0") != 0 && v[0] != '\0';
}

inline constexpr int kRepetitions = 5;

// The smallest of the repetitions' values: applied to the times, the least
// disturbed repetition.
inline double smallest(const std::vector<double>& v) {
  return v.empty() ? 0 : *std::min_element(v.begin(), v.end());
}

// kRepetitions repetitions of at least 0.2 s each, aggregates only, with a
// "min" aggregate beside Google Benchmark's mean, median and stddev; in a
// smoke run, one short repetition.
inline void repeat(benchmark::internal::Benchmark* b) {
  if (smoke_run()) {
    b->Repetitions(1)->MinTime(0.001);
  } else {
    b->Repetitions(kRepetitions)
        ->ReportAggregatesOnly(true)
        ->MinTime(0.2)
        ->ComputeStatistics("min", smallest);
  }
}

// memcpy of state.range(0) bytes, L1/L2-resident: the reference.
inline void memcpy_reference(benchmark::State& state) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  std::vector<std::uint8_t> src(n, 0x5a), dst(n);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), n);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n));
}

// Prints as Google Benchmark does, and keeps per benchmark, under
// "BM_name/arg[/arg]": the median bytes/s of the repetitions, the CPU time
// per iteration of the fastest repetition (ns), and every error. In a smoke
// run the single run stands for both.
class MedianCollector : public benchmark::ConsoleReporter {
 public:
  explicit MedianCollector(bool color) : ConsoleReporter(color ? OO_ColorTabular : OO_Tabular) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.error_occurred) {
        errors_.push_back(r.run_name.str() + ": " + r.error_message);
        continue;
      }
      const std::string key = r.run_name.function_name + "/" + r.run_name.args;
      const bool aggregate = r.run_type == Run::RT_Aggregate;
      const bool single = r.run_type == Run::RT_Iteration && r.repetitions <= 1;
      if (single || (aggregate && r.aggregate_name == "min")) {
        best_ns_[key] = r.GetAdjustedCPUTime();
      }
      if (single || (aggregate && r.aggregate_name == "median")) {
        auto it = r.counters.find("bytes_per_second");
        if (it != r.counters.end()) medians_[key] = it->second.value;
      }
    }
  }
  const std::map<std::string, double>& medians() const { return medians_; }
  const std::map<std::string, double>& best_ns() const { return best_ns_; }
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::map<std::string, double> medians_;
  std::map<std::string, double> best_ns_;
  std::vector<std::string> errors_;
};

}  // namespace stt::bench
