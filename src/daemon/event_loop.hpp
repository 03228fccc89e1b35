#pragma once
// A small epoll event loop for the daemon's control plane and data path.
// Handlers run on the loop's thread; a handler may add or remove fds
// (including its own) while it runs.

#include <sys/epoll.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>

#include "linux/fd.hpp"

namespace stt::daemon {

class EventLoop {
 public:
  using Handler = std::function<void(std::uint32_t events)>;

  EventLoop();  // throws std::system_error
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Watches fd for `events` (EPOLLIN by default); replaces an existing watch.
  void add(int fd, Handler handler, std::uint32_t events = EPOLLIN);
  void remove(int fd);
  // Runs until stop(); `timeout_ms` bounds each wait so `on_tick` runs at
  // least that often (for timers such as reassembly expiry and FDB ageing).
  void run(int timeout_ms, const std::function<void()>& on_tick);
  // Busy-poll window: after a round that handled an event, keep polling
  // (epoll_wait with timeout 0) for up to `us` microseconds before going
  // to sleep, so a reply arriving soon after is handled without a wakeup.
  // Empty polls are separated by sched_yield(), so a runnable task on the
  // same CPU (the ping or iperf3 this sttd just woke) is not held off: a
  // plain spin made the round trip worse on 2 cores. 0 (the default) never
  // spins.
  void set_busy_poll(unsigned us) { busy_poll_ns_ = std::uint64_t{us} * 1000; }
  void stop() { running_ = false; }
  bool running() const { return running_; }

 private:
  sys::UniqueFd epfd_;
  bool running_ = false;
  std::uint64_t busy_poll_ns_ = 0;
  std::unordered_map<int, std::shared_ptr<Handler>> handlers_;
};

}  // namespace stt::daemon
