#pragma once
// Packet buffers with headroom, and a fixed pool of them.
//
// A PacketBuffer owns one contiguous block: `headroom` bytes in front of the
// data so that encapsulation can prepend outer headers (and a virtio-net
// header) without moving the payload, then room for the largest frame.
// BufferPool allocates all its buffers up front; acquire/release never
// allocate, so the data path can use them per packet.

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace stt::core {

// Outer Ethernet (14) + 802.1Q (4) + IPv6 (40) + TCP (20) + STT (18) + a
// virtio-net header (12) is 108 bytes; 192 leaves room and keeps alignment.
inline constexpr std::size_t kDefaultHeadroom = 192;
inline constexpr std::size_t kMaxFrame = 65536 + 256;

// A frame in a writable buffer, with the bytes in front of it that may be
// written too: what encapsulate() takes, so that the room it writes headers
// into is the buffer's own account, not a number the caller vouches for.
// Made by PacketBuffer::frame(), or by hand for memory the caller owns.
struct FrameRef {
  std::uint8_t* data = nullptr;
  std::size_t len = 0;
  std::size_t headroom = 0;  // writable bytes before data
};

class PacketBuffer {
 public:
  PacketBuffer(std::size_t headroom = kDefaultHeadroom, std::size_t capacity = kMaxFrame)
      : storage_(new std::uint8_t[headroom + capacity]),
        headroom_(headroom),
        capacity_(headroom + capacity),
        start_(headroom) {}

  std::uint8_t* data() { return storage_.get() + start_; }
  const std::uint8_t* data() const { return storage_.get() + start_; }
  std::size_t size() const { return size_; }
  std::size_t headroom() const { return start_; }
  std::size_t tailroom() const { return capacity_ - start_ - size_; }
  std::span<std::uint8_t> span() { return {data(), size_}; }
  // The data (or its first `len` bytes written at data()) with the headroom
  // in front of it.
  FrameRef frame() { return {data(), size_, headroom()}; }
  FrameRef frame(std::size_t len) { return {data(), len, headroom()}; }
  std::span<const std::uint8_t> span() const { return {data(), size_}; }

  // Resets to empty with the original headroom.
  void reset() {
    start_ = headroom_;
    size_ = 0;
  }
  // Sets the data length (bytes were written at data()). False if it does not fit.
  bool set_size(std::size_t n) {
    if (n > capacity_ - start_) return false;
    size_ = n;
    return true;
  }
  // Grows the data at the front by n bytes; returns the new start, or
  // nullptr when the headroom is too small.
  std::uint8_t* push_front(std::size_t n) {
    if (n > start_) return nullptr;
    start_ -= n;
    size_ += n;
    return data();
  }
  // Removes n bytes from the front; false if there are fewer.
  bool pull_front(std::size_t n) {
    if (n > size_) return false;
    start_ += n;
    size_ -= n;
    return true;
  }
  // Where the data would start with the whole block as headroom: for writers
  // that want to place a packet at a chosen offset.
  std::uint8_t* raw() { return storage_.get(); }
  std::size_t raw_capacity() const { return capacity_; }
  void set_window(std::size_t start, std::size_t size) {
    assert(start + size <= capacity_);
    start_ = start;
    size_ = size;
  }

 private:
  std::unique_ptr<std::uint8_t[]> storage_;
  std::size_t headroom_;
  std::size_t capacity_;
  std::size_t start_;
  std::size_t size_ = 0;
};

class BufferPool {
 public:
  BufferPool(std::size_t count, std::size_t headroom = kDefaultHeadroom,
             std::size_t capacity = kMaxFrame) {
    all_.reserve(count);
    free_.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      all_.push_back(std::make_unique<PacketBuffer>(headroom, capacity));
      free_.push_back(all_.back().get());
    }
  }
  // nullptr when the pool is empty.
  PacketBuffer* acquire() {
    if (free_.empty()) return nullptr;
    PacketBuffer* b = free_.back();
    free_.pop_back();
    b->reset();
    return b;
  }
  void release(PacketBuffer* b) { free_.push_back(b); }
  std::size_t available() const { return free_.size(); }
  std::size_t size() const { return all_.size(); }

 private:
  std::vector<std::unique_ptr<PacketBuffer>> all_;
  std::vector<PacketBuffer*> free_;
};

}  // namespace stt::core
