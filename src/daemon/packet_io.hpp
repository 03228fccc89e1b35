#pragma once
// How the data path reaches the kernel: the underlay packet socket and the
// networks' TAPs. The Dataplane sees only this interface, so one data path
// runs on the Linux devices (LinuxPacketIo) and in memory (MemoryPacketIo,
// for unit tests and benchmarks), with no "is this a test" branch in it.
//
// Cost: batch-level calls (recv_batch, send) are one virtual call per
// batch. The TAP calls are one per frame, where the Linux implementation
// makes a system call anyway.

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/buffer.hpp"
#include "core/encap.hpp"
#include "linux/netlink.hpp"
#include "linux/packet_socket.hpp"
#include "linux/tap.hpp"

namespace stt::daemon {

class PacketIo {
 public:
  virtual ~PacketIo() = default;

  // The underlay interface: its index, MAC and MTU.
  virtual const sys::LinkInfo& underlay() const = 0;
  // The fd the event loop watches for received packets; -1 when there is none.
  virtual int underlay_fd() const = 0;
  // Receives what is waiting: *frames is set to the received frames, valid
  // until the next call. Returns their count (0: nothing) or -errno.
  virtual int recv_batch(std::span<sys::RxFrame>* frames) = 0;
  // Sends every packet of the batch; returns how many the kernel took.
  virtual std::size_t send(const core::TxBatch& batch) = 0;

  // A network's TAP (throws when the device cannot be created).
  virtual sys::Tap open_tap(const sys::TapOptions& opt) = 0;
  // One frame from the TAP: its length, or -errno (-EAGAIN when empty).
  virtual ssize_t read_tap(const sys::Tap& tap, core::OffloadInfo* vnet, std::uint8_t* buf,
                           std::size_t cap) = 0;
  // One frame to the TAP: 0 or -errno.
  virtual int write_tap(const sys::Tap& tap, const core::OffloadInfo& vnet,
                        const std::uint8_t* frame, std::size_t len) = 0;
};

// The AF_PACKET socket on the underlay and real TAP devices.
class LinuxPacketIo final : public PacketIo {
 public:
  // Looks the underlay up and opens its packet socket; throws
  // std::runtime_error / std::system_error naming what failed.
  LinuxPacketIo(sys::Netlink& nl, const sys::PacketSocketOptions& opt);

  const sys::LinkInfo& underlay() const override { return link_; }
  int underlay_fd() const override { return sock_->fd(); }
  int recv_batch(std::span<sys::RxFrame>* frames) override;
  std::size_t send(const core::TxBatch& batch) override;
  sys::Tap open_tap(const sys::TapOptions& opt) override;
  ssize_t read_tap(const sys::Tap& tap, core::OffloadInfo* vnet, std::uint8_t* buf,
                   std::size_t cap) override;
  int write_tap(const sys::Tap& tap, const core::OffloadInfo& vnet, const std::uint8_t* frame,
                std::size_t len) override;

 private:
  sys::LinkInfo link_;
  std::unique_ptr<sys::PacketSocket> sock_;
};

// No device at all: TAPs are names only, sent packets and TAP writes are
// counted (and, with `record`, copied so tests can look at them), and TAP
// reads and underlay receives come from what a test queued.
class MemoryPacketIo final : public PacketIo {
 public:
  struct Frame {
    std::string tap;  // the TAP's name
    core::OffloadInfo vnet;
    std::vector<std::uint8_t> bytes;
  };
  struct Packet {
    core::OffloadInfo gso;
    std::vector<std::uint8_t> bytes;  // outer headers and payload, as on the wire
  };

  // `record`: keep a copy of every packet sent and frame written (tests);
  // without it only the counters below move (benchmarks).
  MemoryPacketIo(const sys::LinkInfo& underlay, bool record);

  const sys::LinkInfo& underlay() const override { return link_; }
  int underlay_fd() const override { return -1; }
  int recv_batch(std::span<sys::RxFrame>* frames) override;
  std::size_t send(const core::TxBatch& batch) override;
  sys::Tap open_tap(const sys::TapOptions& opt) override;
  ssize_t read_tap(const sys::Tap& tap, core::OffloadInfo* vnet, std::uint8_t* buf,
                   std::size_t cap) override;
  int write_tap(const sys::Tap& tap, const core::OffloadInfo& vnet, const std::uint8_t* frame,
                std::size_t len) override;

  // Queues a frame for the next read_tap of the TAP named `tap`.
  void queue_tap_frame(const std::string& tap, const core::OffloadInfo& vnet,
                       std::vector<std::uint8_t> bytes);

  std::uint64_t packets_sent = 0;
  std::uint64_t frames_written = 0;
  std::uint64_t bytes_written = 0;
  std::uint64_t gso_writes = 0;
  std::vector<Packet> sent;    // with `record`
  std::vector<Frame> written;  // with `record`

 private:
  // The copies for tests, out of line and cold so that the counting path a
  // benchmark measures saves no registers for them.
  [[gnu::cold, gnu::noinline]] void record(const core::TxBatch& batch);
  [[gnu::cold, gnu::noinline]] void record(const sys::Tap& tap, const core::OffloadInfo& vnet,
                                           const std::uint8_t* frame, std::size_t len);

  sys::LinkInfo link_;
  bool record_;
  std::vector<Frame> to_read_;
};

}  // namespace stt::daemon
