#include "daemon/event_loop.hpp"

#include <sched.h>
#include <time.h>

#include <cerrno>
#include <system_error>

namespace stt::daemon {
namespace {

std::uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace

EventLoop::EventLoop() : epfd_(epoll_create1(EPOLL_CLOEXEC)) {
  if (!epfd_.valid()) throw std::system_error(errno, std::generic_category(), "epoll_create1");
}

void EventLoop::add(int fd, Handler handler, std::uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  const bool exists = handlers_.count(fd) != 0;
  if (epoll_ctl(epfd_.get(), exists ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) < 0) {
    throw std::system_error(errno, std::generic_category(), "epoll_ctl");
  }
  handlers_[fd] = std::make_shared<Handler>(std::move(handler));
}

void EventLoop::remove(int fd) {
  if (handlers_.erase(fd) != 0) epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

void EventLoop::run(int timeout_ms, const std::function<void()>& on_tick) {
  running_ = true;
  epoll_event events[64];
  std::uint64_t spin_until = 0;  // busy-poll window end; 0: none open
  while (running_) {
    const int n = epoll_wait(epfd_.get(), events, 64, spin_until != 0 ? 0 : timeout_ms);
    if (n < 0 && errno != EINTR)
      throw std::system_error(errno, std::generic_category(), "epoll_wait");
    if (busy_poll_ns_ != 0) {
      if (n > 0) {
        spin_until = monotonic_ns() + busy_poll_ns_;
      } else if (spin_until != 0) {
        if (monotonic_ns() >= spin_until) {
          spin_until = 0;  // the window closed empty: sleep on the next wait
        } else {
          sched_yield();  // a runnable task on this CPU goes first
        }
      }
    }
    for (int i = 0; i < n && running_; ++i) {
      auto it = handlers_.find(events[i].data.fd);
      if (it == handlers_.end()) continue;      // removed by an earlier handler this round
      std::shared_ptr<Handler> h = it->second;  // survives its own removal
      (*h)(events[i].events);
    }
    if (on_tick) on_tick();
  }
}

}  // namespace stt::daemon
