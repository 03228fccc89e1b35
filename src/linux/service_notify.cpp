#include "linux/service_notify.hpp"

#include <systemd/sd-daemon.h>
#include <time.h>

namespace stt::sys {
namespace {

std::uint64_t monotonic_us() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}

void notify(const char* message) noexcept {
  (void)sd_notify(0, message);
}

// Builds the message; a failed allocation loses it rather than throwing.
template <typename Build>
void notify_built(Build build) noexcept {
  try {
    notify(build().c_str());
  } catch (...) {
  }
}

}  // namespace

ServiceNotifier::ServiceNotifier() {
  std::uint64_t usec = 0;
  // > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID (if set) is this process.
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) ping_every_ns_ = usec * 1000u / 2u;
}

void ServiceNotifier::ready(const std::string& status) noexcept {
  notify_built([&] { return "READY=1\nSTATUS=" + status; });
}

void ServiceNotifier::reloading(const std::string& status) noexcept {
  notify_built([&] {
    return "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_us()) + "\nSTATUS=" + status;
  });
}

void ServiceNotifier::stopping(const std::string& status) noexcept {
  notify_built([&] { return "STOPPING=1\nSTATUS=" + status; });
}

void ServiceNotifier::ping(std::uint64_t now_ns) noexcept {
  notify("WATCHDOG=1");
  next_ping_ns_ = now_ns + ping_every_ns_;
}

}  // namespace stt::sys
