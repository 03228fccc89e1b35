#pragma once
// Per-reason rate limits for log lines about drops: at most one line per
// reason per interval, the lines held back in between counted and reported
// with the next one. Fixed-size and allocation-free, so the data path can
// ask on every drop.

#include <array>
#include <cstddef>
#include <cstdint>

namespace stt::daemon {

template <std::size_t N>
class RateLimits {
 public:
  static constexpr std::uint64_t kIntervalNs = 1'000'000'000;  // one line per second per reason

  // True when a line for `reason` may be logged at `now_ns`; *held_back
  // gets how many were held back since the last one. Out-of-range reasons
  // are never logged.
  bool allow(std::size_t reason, std::uint64_t now_ns, std::uint64_t* held_back) {
    if (reason >= N) return false;
    if (now_ns < next_ns_[reason]) {
      ++held_[reason];
      return false;
    }
    next_ns_[reason] = now_ns + kIntervalNs;
    *held_back = held_[reason];
    held_[reason] = 0;
    return true;
  }

 private:
  std::array<std::uint64_t, N> next_ns_{};
  std::array<std::uint64_t, N> held_{};
};

}  // namespace stt::daemon
