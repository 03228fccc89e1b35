#include "daemon/event_loop.hpp"

#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace stt::daemon {

EventLoop::EventLoop() : epfd_(epoll_create1(EPOLL_CLOEXEC)) {
  if (epfd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
}

EventLoop::~EventLoop() { close(epfd_); }

void EventLoop::add(int fd, Handler handler, std::uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  const bool exists = handlers_.count(fd) != 0;
  if (epoll_ctl(epfd_, exists ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) < 0) {
    throw std::system_error(errno, std::generic_category(), "epoll_ctl");
  }
  handlers_[fd] = std::make_shared<Handler>(std::move(handler));
}

void EventLoop::remove(int fd) {
  if (handlers_.erase(fd) != 0) epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
}

void EventLoop::run(int timeout_ms, const std::function<void()>& on_tick) {
  running_ = true;
  epoll_event events[64];
  while (running_) {
    const int n = epoll_wait(epfd_, events, 64, timeout_ms);
    if (n < 0 && errno != EINTR) throw std::system_error(errno, std::generic_category(), "epoll_wait");
    for (int i = 0; i < n && running_; ++i) {
      auto it = handlers_.find(events[i].data.fd);
      if (it == handlers_.end()) continue;  // removed by an earlier handler this round
      std::shared_ptr<Handler> h = it->second;  // survives its own removal
      (*h)(events[i].events);
    }
    if (on_tick) on_tick();
  }
}

}  // namespace stt::daemon
