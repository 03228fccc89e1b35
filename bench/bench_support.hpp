#pragma once
// What bench_micro and bench_sttd share: how long each benchmark runs, the
// memcpy reference every figure is set beside, and a reporter that keeps the
// median of each benchmark for the closing table.
//
// STT_BENCH_SMOKE=1 in the environment (the ctest cases bench_*_smoke) runs
// every benchmark once, briefly: it proves that each one runs to the end (a
// dropped frame is an error, and the exit status says so) and measures
// nothing.

#include <benchmark/benchmark.h>

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

// Three repetitions of at least 0.2 s each, aggregates only; in a smoke run,
// one short repetition.
inline void repeat(benchmark::internal::Benchmark* b) {
  if (smoke_run()) {
    b->Repetitions(1)->MinTime(0.001);
  } else {
    b->Repetitions(3)->ReportAggregatesOnly(true)->MinTime(0.2);
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

// Prints as Google Benchmark does, and keeps the median bytes/s of every
// benchmark (or its single run, in a smoke run) under "BM_name/arg[/arg]",
// and every error.
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
      const bool median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
      const bool single = r.run_type == Run::RT_Iteration && r.repetitions <= 1;
      if (!median && !single) continue;
      auto it = r.counters.find("bytes_per_second");
      if (it == r.counters.end()) continue;
      medians_[r.run_name.function_name + "/" + r.run_name.args] = it->second.value;
    }
  }
  const std::map<std::string, double>& medians() const { return medians_; }
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::map<std::string, double> medians_;
  std::vector<std::string> errors_;
};

}  // namespace stt::bench
