#include "linux/packet_socket.hpp"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "linux/tap.hpp"
#include "wire/bytes.hpp"

namespace stt::sys {
namespace {

[[noreturn]] void fail(int err, const std::string& what) {
  throw std::system_error(err, std::generic_category(), what);
}

// A classic BPF program built with labels, so the jump offsets are
// computed rather than counted by hand.
class BpfBuilder {
 public:
  enum Label : int { kAccept = -1, kDrop = -2 };
  void stmt(std::uint16_t code, std::uint32_t k) {
    prog_.push_back({code, 0, 0, k});
    targets_.push_back({0, 0});
  }
  // Jump to `yes` / `no` (kAccept, kDrop, or 0 for "next instruction").
  void jump(std::uint16_t code, std::uint32_t k, int yes, int no) {
    prog_.push_back({code, 0, 0, k});
    targets_.push_back({yes, no});
  }
  std::vector<sock_filter> finish() {
    const std::size_t accept = prog_.size();
    const std::size_t drop = accept + 1;
    stmt(BPF_RET | BPF_K, 0xffffffffu);
    stmt(BPF_RET | BPF_K, 0);
    for (std::size_t i = 0; i < accept; ++i) {
      auto resolve = [&](int t) -> std::uint8_t {
        if (t == 0) return 0;
        const std::size_t dest = t == kAccept ? accept : drop;
        return static_cast<std::uint8_t>(dest - i - 1);
      };
      if (BPF_CLASS(prog_[i].code) == BPF_JMP) {
        prog_[i].jt = resolve(targets_[i].first);
        prog_[i].jf = resolve(targets_[i].second);
      }
    }
    return prog_;
  }

 private:
  std::vector<sock_filter> prog_;
  std::vector<std::pair<int, int>> targets_;
};

// Accepts Ethernet + IPv4/IPv6 + TCP to (local, port); everything else is
// left to the kernel. IPv4 fragments after the first carry no TCP header
// and are refused here. IPv6 extension headers are not walked here: a
// packet to `local` whose first next header is hop-by-hop, routing,
// fragment, destination options or AH goes to userspace, where
// core::parse_segment walks the chain and counts what it refuses (fragments,
// over-long chains) or sets aside (not TCP, not our port). Dropping them
// here would drop legal STT segments without a counter (docs/security.md F1).
std::vector<sock_filter> stt_filter(const wire::IpAddr& local, std::uint16_t port) {
  BpfBuilder b;
  b.stmt(BPF_LD | BPF_H | BPF_ABS, 12);  // EtherType
  if (local.is_v4()) {
    b.jump(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, BpfBuilder::kDrop);
    b.stmt(BPF_LD | BPF_B | BPF_ABS, 14 + 9);  // protocol
    b.jump(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, 0, BpfBuilder::kDrop);
    b.stmt(BPF_LD | BPF_W | BPF_ABS, 14 + 16);  // destination address
    b.jump(BPF_JMP | BPF_JEQ | BPF_K, wire::load_be32(local.data()), 0, BpfBuilder::kDrop);
    b.stmt(BPF_LD | BPF_H | BPF_ABS, 14 + 6);  // fragment offset
    b.jump(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, BpfBuilder::kDrop, 0);
    b.stmt(BPF_LDX | BPF_B | BPF_MSH, 14);     // X = IP header length
    b.stmt(BPF_LD | BPF_H | BPF_IND, 14 + 2);  // TCP destination port
    b.jump(BPF_JMP | BPF_JEQ | BPF_K, port, BpfBuilder::kAccept, BpfBuilder::kDrop);
    return b.finish();
  }
  b.jump(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6, 0, BpfBuilder::kDrop);
  for (std::uint32_t w = 0; w < 4; ++w) {  // destination address
    b.stmt(BPF_LD | BPF_W | BPF_ABS, 14 + 24 + 4 * w);
    b.jump(BPF_JMP | BPF_JEQ | BPF_K, wire::load_be32(local.data() + 4 * w), 0, BpfBuilder::kDrop);
  }
  b.stmt(BPF_LD | BPF_B | BPF_ABS, 14 + 6);  // first next header
  constexpr std::uint32_t kExtensionHeaders[] = {IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_FRAGMENT,
                                                 IPPROTO_DSTOPTS, IPPROTO_AH};
  for (std::uint32_t nh : kExtensionHeaders) {
    b.jump(BPF_JMP | BPF_JEQ | BPF_K, nh, BpfBuilder::kAccept, 0);
  }
  b.jump(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, 0, BpfBuilder::kDrop);
  b.stmt(BPF_LD | BPF_H | BPF_ABS, 14 + 40 + 2);  // TCP destination port
  b.jump(BPF_JMP | BPF_JEQ | BPF_K, port, BpfBuilder::kAccept, BpfBuilder::kDrop);
  return b.finish();
}

void set_buffer(int fd, int force_opt, int opt, int bytes, const char* what,
                const std::string& ifname) {
  if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof bytes) == 0) return;
  if (setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof bytes) < 0) {
    fail(errno, std::string(what) + " on the packet socket for " + ifname);
  }
}

}  // namespace

PacketSocket::PacketSocket(const PacketSocketOptions& opt) {
  const std::string& ifname = opt.interface;
  if (!opt.local.is_v4() && !opt.local.is_v6()) {
    throw std::runtime_error("packet socket on " + ifname + ": no local address");
  }
  ifindex_ = static_cast<int>(if_nametoindex(ifname.c_str()));
  if (ifindex_ == 0) fail(errno, "underlay interface " + ifname);

  // Protocol 0: nothing is received until bind(), which comes after the
  // filter is attached, so no unfiltered packet is ever queued.
  fd_.reset(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
  if (!fd_.valid()) fail(errno, "AF_PACKET socket for " + ifname);
  const int fd = fd_.get();
  int one = 1;
  if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) < 0) {
    fail(errno, "PACKET_VNET_HDR on " + ifname);
  }
  if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0) {
    fail(errno, "PACKET_IGNORE_OUTGOING on " + ifname);
  }
  set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, opt.buffer_bytes, "SO_RCVBUF", ifname);
  set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, opt.buffer_bytes, "SO_SNDBUF", ifname);

  std::vector<sock_filter> prog = stt_filter(opt.local, opt.port);
  sock_fprog fprog{static_cast<unsigned short>(prog.size()), prog.data()};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof fprog) < 0) {
    fail(errno, "attach BPF filter on " + ifname);
  }
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(opt.local.is_v4() ? ETH_P_IP : ETH_P_IPV6);
  sll.sll_ifindex = ifindex_;
  if (bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) < 0) {
    fail(errno, "bind packet socket to " + ifname);
  }

  const std::size_t nrx = opt.rx_batch;
  rx_buffers_.reserve(nrx);
  for (std::size_t i = 0; i < nrx; ++i)
    rx_buffers_.emplace_back();
  rx_.resize(nrx);
  rx_msgs_.resize(nrx);
  rx_iov_.resize(2 * nrx);
  for (std::size_t i = 0; i < nrx; ++i)
    rx_[i].buffer = &rx_buffers_[i];

  tx_msgs_.resize(opt.tx_batch);
  tx_iov_.resize(3 * opt.tx_batch);
}

PacketSocket::~PacketSocket() = default;

int PacketSocket::recv_batch() {
  const std::size_t n = rx_.size();
  for (std::size_t i = 0; i < n; ++i) {
    core::PacketBuffer& b = *rx_[i].buffer;
    b.reset();
    rx_iov_[2 * i] = {&rx_[i].vnet, kVnetHdrLen};
    rx_iov_[2 * i + 1] = {b.data(), b.tailroom()};
    msghdr& m = rx_msgs_[i].msg_hdr;
    m = msghdr{};
    m.msg_iov = &rx_iov_[2 * i];
    m.msg_iovlen = 2;
  }
  const int got =
      recvmmsg(fd_.get(), rx_msgs_.data(), static_cast<unsigned>(n), MSG_DONTWAIT, nullptr);
  if (got < 0) return errno == EAGAIN ? 0 : -errno;
  for (int i = 0; i < got; ++i) {
    const unsigned len = rx_msgs_[i].msg_len;
    const bool truncated = (rx_msgs_[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
    rx_[i].len = (len < kVnetHdrLen || truncated) ? 0 : len - kVnetHdrLen;
    rx_[i].buffer->set_size(rx_[i].len);
  }
  return got;
}

std::size_t PacketSocket::send_batch(const core::TxBatch& batch, int* last_errno) {
  std::size_t sent = 0;
  std::size_t next = 0;
  const std::size_t total = batch.size();
  while (next < total) {
    const std::size_t n = std::min(total - next, tx_msgs_.size());
    for (std::size_t i = 0; i < n; ++i) {
      const core::TxPacket& p = batch[next + i];
      iovec* iov = &tx_iov_[3 * i];
      iov[0] = {const_cast<wire::OffloadInfo*>(&p.gso), kVnetHdrLen};
      iov[1] = {const_cast<std::uint8_t*>(p.header), p.header_len};
      iov[2] = {const_cast<std::uint8_t*>(p.payload), p.payload_len};
      msghdr& m = tx_msgs_[i].msg_hdr;
      m = msghdr{};
      m.msg_iov = iov;
      m.msg_iovlen = p.payload_len != 0 ? 3 : 2;
    }
    const int r = sendmmsg(fd_.get(), tx_msgs_.data(), static_cast<unsigned>(n), 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (last_errno) *last_errno = errno;
      ++next;  // the first message was refused: skip it, keep going
      continue;
    }
    sent += static_cast<std::size_t>(r);
    next += static_cast<std::size_t>(r);
  }
  return sent;
}

}  // namespace stt::sys
