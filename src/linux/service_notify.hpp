#pragma once
// The service manager's readiness and watchdog protocol (sd_notify(3)), through
// libsystemd. Under systemd (Type=notify) NOTIFY_SOCKET names the socket the
// messages go to, and WATCHDOG_USEC/WATCHDOG_PID ask for a keep-alive; outside
// it every call is a no-op, so sttd run by hand or by the tests behaves as before.

#include <cstdint>
#include <string>

namespace stt::sys {

class ServiceNotifier {
 public:
  // Reads the environment once (sd_watchdog_enabled).
  ServiceNotifier();

  // Each message is best effort and never throws: a manager that went away cannot
  // be told anything, and the service runs on regardless.
  // READY=1 with a STATUS= line: everything the service offers exists.
  void ready(const std::string& status) noexcept;
  // RELOADING=1 (with MONOTONIC_USEC, as systemd 253's notify-reload wants); ready()
  // must follow when the reload is over, whatever its outcome.
  void reloading(const std::string& status) noexcept;
  void stopping(const std::string& status) noexcept;

  // Call often from the event loop with CLOCK_MONOTONIC in ns: sends WATCHDOG=1
  // once half the interval the manager asked for has passed since the last one.
  void tick(std::uint64_t now_ns) noexcept {
    if (ping_every_ns_ != 0 && now_ns >= next_ping_ns_) ping(now_ns);
  }
  // 0 when no watchdog was asked for.
  std::uint64_t watchdog_ping_every_ns() const { return ping_every_ns_; }

 private:
  void ping(std::uint64_t now_ns) noexcept;

  std::uint64_t ping_every_ns_ = 0;
  std::uint64_t next_ping_ns_ = 0;
};

}  // namespace stt::sys
