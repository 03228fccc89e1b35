#pragma once
// The underlay: one AF_PACKET socket bound to the underlay interface, with
// virtio-net headers (PACKET_VNET_HDR) so 64 KB GSO frames go out in one
// send and GRO-coalesced frames come in as one read. A classic BPF filter
// admits only TCP to our address and STT port, so the host's other traffic
// never wakes us up.
//
// Setup throws; recv_batch/send_batch never throw and never allocate: all
// message headers and iovecs are sized at construction.

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/buffer.hpp"
#include "core/encap.hpp"
#include "linux/fd.hpp"
#include "wire/addr.hpp"
#include "wire/vnet.hpp"

namespace stt::sys {

struct PacketSocketOptions {
  std::string interface;
  wire::IpAddr local;                                 // only segments to this address are received
  std::uint16_t port = 7471;                          // only segments to this TCP port are received
  int buffer_bytes = 32 << 20;                        // SO_RCVBUF / SO_SNDBUF (forced when root)
  std::size_t rx_batch = 32;                          // frames per recvmmsg
  std::size_t tx_batch = core::TxBatch::kMaxPackets;  // messages per sendmmsg
};

// One received frame: the kernel's virtio-net header and the frame, which
// starts at buffer->data() (the buffer's headroom is kept in front).
struct RxFrame {
  wire::OffloadInfo vnet;
  core::PacketBuffer* buffer;
  std::uint32_t len;
};

class PacketSocket {
 public:
  explicit PacketSocket(const PacketSocketOptions& opt);  // throws
  ~PacketSocket();
  PacketSocket(const PacketSocket&) = delete;
  PacketSocket& operator=(const PacketSocket&) = delete;

  int fd() const { return fd_.get(); }
  int ifindex() const { return ifindex_; }

  // Receives up to rx_batch frames into the socket's own preallocated
  // buffers. Returns the count (0 when nothing is waiting) or -errno. The
  // frames are valid until the next call.
  int recv_batch();
  RxFrame& frame(std::size_t i) { return rx_[i]; }

  // Sends every packet of `batch` (vnet header, outer header, payload
  // slice) with as few sendmmsg calls as the kernel allows. Returns how
  // many were sent; a packet the kernel refused is skipped (the caller
  // counts batch.size() - sent as drops) and its errno kept in *last_errno.
  std::size_t send_batch(const core::TxBatch& batch, int* last_errno);

 private:
  UniqueFd fd_;
  int ifindex_ = 0;
  std::vector<core::PacketBuffer> rx_buffers_;
  std::vector<RxFrame> rx_;
  std::vector<mmsghdr> rx_msgs_;
  std::vector<iovec> rx_iov_;
  std::vector<mmsghdr> tx_msgs_;
  std::vector<iovec> tx_iov_;
};

}  // namespace stt::sys
