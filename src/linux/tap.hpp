#pragma once
// A TAP device carrying virtio-net headers: the kernel hands us TCP/UDP
// super-frames (up to 64 KB) with their offload state, and takes them back
// the same way, so segmentation happens at most once, at the far end.
//
// Setup throws std::system_error naming the device; the data-path calls
// (read_frame, write_frame) never throw and return -errno.

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "linux/fd.hpp"
#include "wire/vnet.hpp"

namespace stt::sys {

// The legacy virtio_net_hdr is exactly wire::OffloadInfo, byte for byte.
inline constexpr std::size_t kVnetHdrLen = 10;
static_assert(sizeof(wire::OffloadInfo) == kVnetHdrLen);

struct TapOptions {
  std::string name;          // at most 15 characters
  std::uint32_t mtu = 1500;  // inner MTU
  bool offload = true;       // TUNSETOFFLOAD CSUM|TSO4|TSO6: accept super-frames
  bool create = true;        // false: a name only, no device and no fd (in-memory benchmarks)
};

class Tap {
 public:
  // Creates the TAP (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR, not persistent), sets
  // its MTU, brings it up, makes the fd non-blocking.
  explicit Tap(const TapOptions& opt);
  // Closing the fd deletes the (non-persistent) device.
  ~Tap() = default;
  Tap(Tap&&) = default;
  Tap& operator=(Tap&&) = default;

  int fd() const { return fd_.get(); }
  const std::string& name() const { return name_; }
  int ifindex() const { return ifindex_; }
  std::uint32_t mtu() const { return mtu_; }
  // Changes the MTU of the running device (the fd, and so the device, stay);
  // leaves its up/down state alone. Throws std::system_error.
  void set_mtu(std::uint32_t mtu);

  // Reads one frame: the virtio-net header into *hdr, the Ethernet frame
  // into buf. Returns the frame length, or -errno (-EAGAIN when empty).
  ssize_t read_frame(wire::OffloadInfo* hdr, std::uint8_t* buf, std::size_t cap) const;
  // Writes one frame with its virtio-net header. Returns 0 or -errno.
  int write_frame(const wire::OffloadInfo& hdr, const std::uint8_t* frame, std::size_t len) const;

 private:
  UniqueFd fd_;
  std::string name_;
  int ifindex_ = 0;
  std::uint32_t mtu_ = 0;
};

// Deletes a TAP/TUN device called `name` if one exists (left behind by a
// killed instance, or made persistent by hand). True when one was deleted;
// throws std::runtime_error if `name` exists but is not a TUN/TAP device.
bool delete_stale_tap(const std::string& name);

// Sets an interface's MTU and brings it up (ioctl). Throws std::system_error.
void set_link_mtu_up(const std::string& name, std::uint32_t mtu);

}  // namespace stt::sys
