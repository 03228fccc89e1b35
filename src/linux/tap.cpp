#include "linux/tap.hpp"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "linux/netlink.hpp"

namespace stt::sys {
namespace {

[[noreturn]] void fail(int err, const std::string& what) {
  throw std::system_error(err, std::generic_category(), what);
}

ifreq make_ifreq(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    throw std::runtime_error("interface name '" + name + "' must be 1.." +
                             std::to_string(IFNAMSIZ - 1) + " characters");
  }
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  return ifr;
}

}  // namespace

void set_link_mtu_up(const std::string& name, std::uint32_t mtu) {
  UniqueFd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s.valid()) fail(errno, "socket for ioctl on " + name);
  ifreq ifr = make_ifreq(name);
  ifr.ifr_mtu = static_cast<int>(mtu);
  if (ioctl(s.get(), SIOCSIFMTU, &ifr) < 0) {
    fail(errno, "set MTU " + std::to_string(mtu) + " on " + name);
  }
  ifr = make_ifreq(name);
  if (ioctl(s.get(), SIOCGIFFLAGS, &ifr) < 0) fail(errno, "get flags of " + name);
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  if (ioctl(s.get(), SIOCSIFFLAGS, &ifr) < 0) fail(errno, "bring up " + name);
}

Tap::Tap(const TapOptions& opt) : name_(opt.name), mtu_(opt.mtu) {
  ifreq ifr = make_ifreq(opt.name);
  if (!opt.create) return;
  fd_.reset(open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd_.valid()) fail(errno, "open /dev/net/tun for " + name_);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (ioctl(fd_.get(), TUNSETIFF, &ifr) < 0) fail(errno, "create TAP " + name_);
  int hdr_len = static_cast<int>(kVnetHdrLen);
  if (ioctl(fd_.get(), TUNSETVNETHDRSZ, &hdr_len) < 0) {
    fail(errno, "TUNSETVNETHDRSZ on " + name_);
  }
  if (opt.offload) {
    const unsigned long off = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
    if (ioctl(fd_.get(), TUNSETOFFLOAD, off) < 0) fail(errno, "TUNSETOFFLOAD on " + name_);
  }
  set_link_mtu_up(name_, opt.mtu);
  ifindex_ = static_cast<int>(if_nametoindex(name_.c_str()));
  if (ifindex_ == 0) fail(errno, "index of " + name_);
}

void Tap::set_mtu(std::uint32_t mtu) {
  if (fd_.valid()) {  // a TAP without fd is a name only (in-memory benchmarks)
    UniqueFd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!s.valid()) fail(errno, "socket for ioctl on " + name_);
    ifreq ifr = make_ifreq(name_);
    ifr.ifr_mtu = static_cast<int>(mtu);
    if (ioctl(s.get(), SIOCSIFMTU, &ifr) < 0) {
      fail(errno, "set MTU " + std::to_string(mtu) + " on " + name_);
    }
  }
  mtu_ = mtu;
}

ssize_t Tap::read_frame(wire::OffloadInfo* hdr, std::uint8_t* buf, std::size_t cap) const {
  iovec iov[2] = {{hdr, kVnetHdrLen}, {buf, cap}};
  const ssize_t n = readv(fd_.get(), iov, 2);
  if (n < 0) return -errno;
  if (static_cast<std::size_t>(n) < kVnetHdrLen) return -EBADMSG;
  return n - static_cast<ssize_t>(kVnetHdrLen);
}

int Tap::write_frame(const wire::OffloadInfo& hdr, const std::uint8_t* frame,
                     std::size_t len) const {
  iovec iov[2] = {{const_cast<wire::OffloadInfo*>(&hdr), kVnetHdrLen},
                  {const_cast<std::uint8_t*>(frame), len}};
  const ssize_t n = writev(fd_.get(), iov, 2);
  if (n < 0) return -errno;
  return 0;
}

bool delete_stale_tap(const std::string& name) {
  Netlink nl;
  auto link = nl.link(name);
  if (!link) return false;
  if (link->kind != "tun") {
    throw std::runtime_error("interface " + name + " exists and is not a TAP (kind '" + link->kind +
                             "'); refusing to delete it");
  }
  if (!nl.delete_link(name)) fail(errno, "delete stale TAP " + name);
  return true;
}

}  // namespace stt::sys
