#pragma once
// A MAC's snooped addresses, for the directory's per-MAC tables (10^5 of them): up to kInline
// addresses in place, more on the heap. A tenant MAC usually has one IPv4 and an IPv6 address
// or two, so the common case costs no allocation of its own; a std::vector there was a small
// long-lived heap chunk per MAC, scattered between the short-lived buffers of a full read, so
// the read's pages could not be given back.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>

#include "wire/addr.hpp"

namespace stt::cluster {

class IpList {
 public:
  static constexpr std::size_t kInline = 2;

  IpList() = default;
  explicit IpList(std::span<const wire::IpAddr> ips) { assign(ips); }
  IpList(const IpList& o) { assign(o.span()); }
  IpList& operator=(const IpList& o) {
    if (this != &o) assign(o.span());
    return *this;
  }
  IpList(IpList&& o) noexcept { take(o); }
  IpList& operator=(IpList&& o) noexcept {
    if (this != &o) take(o);
    return *this;
  }
  ~IpList() = default;

  std::size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  const wire::IpAddr* begin() const { return data(); }
  const wire::IpAddr* end() const { return data() + n_; }
  const wire::IpAddr& operator[](std::size_t i) const { return data()[i]; }
  std::span<const wire::IpAddr> span() const { return {data(), n_}; }

  void assign(std::span<const wire::IpAddr> ips) {
    if (ips.size() <= kInline) {
      // Copied before heap_ goes: ips may be a part of it.
      std::copy(ips.begin(), ips.end(), in_);
      heap_.reset();
    } else {
      // Copied before heap_ is replaced: ips may be this list's own storage.
      std::unique_ptr<wire::IpAddr[]> h(new wire::IpAddr[ips.size()]);
      std::copy(ips.begin(), ips.end(), h.get());
      heap_ = std::move(h);
    }
    n_ = static_cast<std::uint32_t>(ips.size());
  }
  void clear() {
    heap_.reset();
    n_ = 0;
  }

  friend bool operator==(const IpList& a, const IpList& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }
  friend bool operator==(const IpList& a, std::span<const wire::IpAddr> b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  const wire::IpAddr* data() const { return n_ <= kInline ? in_ : heap_.get(); }
  void take(IpList& o) noexcept {
    heap_ = std::move(o.heap_);
    std::copy(o.in_, o.in_ + kInline, in_);
    n_ = o.n_;
    o.n_ = 0;
  }

  std::uint32_t n_ = 0;
  wire::IpAddr in_[kInline];
  std::unique_ptr<wire::IpAddr[]> heap_;  // the addresses when there are more than kInline
};

}  // namespace stt::cluster
