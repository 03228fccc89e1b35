#include "daemon/packet_io.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace stt::daemon {
namespace {

sys::LinkInfo lookup_link(sys::Netlink& nl, const std::string& name) {
  auto link = nl.link(name);
  if (!link) {
    throw std::runtime_error("underlay interface '" + name +
                             "' not found: " + std::string(std::strerror(errno)));
  }
  return *link;
}

}  // namespace

// ------------------------------------------------------------------ Linux

LinuxPacketIo::LinuxPacketIo(sys::Netlink& nl, const sys::PacketSocketOptions& opt)
    : link_(lookup_link(nl, opt.interface)), sock_(std::make_unique<sys::PacketSocket>(opt)) {}

int LinuxPacketIo::recv_batch(std::span<sys::RxFrame>* frames) {
  const int got = sock_->recv_batch();
  *frames = got > 0 ? std::span<sys::RxFrame>(&sock_->frame(0), static_cast<std::size_t>(got))
                    : std::span<sys::RxFrame>();
  return got;
}

std::size_t LinuxPacketIo::send(const core::TxBatch& batch) {
  int err = 0;
  return sock_->send_batch(batch, &err);
}

sys::Tap LinuxPacketIo::open_tap(const sys::TapOptions& opt) {
  return sys::Tap(opt);
}

ssize_t LinuxPacketIo::read_tap(const sys::Tap& tap, core::OffloadInfo* vnet, std::uint8_t* buf,
                                std::size_t cap) {
  return tap.read_frame(vnet, buf, cap);
}

int LinuxPacketIo::write_tap(const sys::Tap& tap, const core::OffloadInfo& vnet,
                             const std::uint8_t* frame, std::size_t len) {
  return tap.write_frame(vnet, frame, len);
}

// ----------------------------------------------------------------- memory

MemoryPacketIo::MemoryPacketIo(const sys::LinkInfo& underlay, bool record)
    : link_(underlay), record_(record) {}

int MemoryPacketIo::recv_batch(std::span<sys::RxFrame>* frames) {
  *frames = {};  // tests hand received frames to Dataplane::receive_frame
  return 0;
}

std::size_t MemoryPacketIo::send(const core::TxBatch& batch) {
  packets_sent += batch.size();
  if (record_) record(batch);
  return batch.size();
}

void MemoryPacketIo::record(const core::TxBatch& batch) {
  for (const core::TxPacket& p : batch) {
    Packet out{p.gso, std::vector<std::uint8_t>(p.header, p.header + p.header_len)};
    out.bytes.insert(out.bytes.end(), p.payload, p.payload + p.payload_len);
    sent.push_back(std::move(out));
  }
}

sys::Tap MemoryPacketIo::open_tap(const sys::TapOptions& opt) {
  sys::TapOptions o = opt;
  o.create = false;
  return sys::Tap(o);
}

ssize_t MemoryPacketIo::read_tap(const sys::Tap& tap, core::OffloadInfo* vnet, std::uint8_t* buf,
                                 std::size_t cap) {
  for (auto it = to_read_.begin(); it != to_read_.end(); ++it) {
    if (it->tap != tap.name()) continue;
    if (it->bytes.size() > cap) return -EMSGSIZE;
    *vnet = it->vnet;
    std::memcpy(buf, it->bytes.data(), it->bytes.size());
    const auto len = static_cast<ssize_t>(it->bytes.size());
    to_read_.erase(it);
    return len;
  }
  return -EAGAIN;
}

int MemoryPacketIo::write_tap(const sys::Tap& tap, const core::OffloadInfo& vnet,
                              const std::uint8_t* frame, std::size_t len) {
  ++frames_written;
  bytes_written += len;
  gso_writes += vnet.is_gso() ? 1 : 0;
  if (record_) record(tap, vnet, frame, len);
  return 0;
}

void MemoryPacketIo::record(const sys::Tap& tap, const core::OffloadInfo& vnet,
                            const std::uint8_t* frame, std::size_t len) {
  written.push_back({tap.name(), vnet, std::vector<std::uint8_t>(frame, frame + len)});
}

void MemoryPacketIo::queue_tap_frame(const std::string& tap, const core::OffloadInfo& vnet,
                                     std::vector<std::uint8_t> bytes) {
  to_read_.push_back({tap, vnet, std::move(bytes)});
}

}  // namespace stt::daemon
