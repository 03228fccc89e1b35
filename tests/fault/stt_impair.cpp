// stt_impair: an impairment forwarder for fault tests (this kernel has no netem).
//
// Runs in a namespace between two hosts with one interface towards each. Every
// frame received on one side is sent out of the other, after the seeded random
// impairments: loss, duplication, reordering (the frame is held and released
// after a number of later frames, or after a short time) and corruption (one
// random bit flipped at or after the L3 header, i.e. in bytes an outer IPv4
// header checksum or TCP checksum covers). Only IP frames are impaired;
// ARP and other frames pass untouched, so address resolution stays sane.
//
//   stt_impair IF_A IF_B [--loss PCT] [--dup PCT] [--reorder PCT]
//              [--reorder-depth N] [--corrupt PCT] [--seed S]
//
// On SIGTERM/SIGINT it prints one line of counts to stdout and exits 0:
//   forwarded=N lost=N duplicated=N reordered=N corrupted=N
// Frames must arrive in wire form (turn off TX offloads on the hosts' veths),
// or a GSO super-frame larger than the MTU cannot be forwarded.

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <random>
#include <string>
#include <vector>

namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct Options {
  std::string a, b;
  double loss = 0, dup = 0, reorder = 0, corrupt = 0;
  unsigned depth = 4;
  std::uint64_t seed = 1;
};

struct Counts {
  std::uint64_t forwarded = 0, lost = 0, duplicated = 0, reordered = 0, corrupted = 0;
};

int open_side(const std::string& name, int* ifindex) {
  const int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETH_P_ALL));
  if (fd < 0) {
    std::perror("socket(AF_PACKET)");
    std::exit(1);
  }
  *ifindex = static_cast<int>(if_nametoindex(name.c_str()));
  if (*ifindex == 0) {
    std::fprintf(stderr, "stt_impair: no interface %s\n", name.c_str());
    std::exit(1);
  }
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = *ifindex;
  if (bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) < 0) {
    std::perror("bind");
    std::exit(1);
  }
  const int one = 1;
  // Our own transmissions must not come back as input.
  if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0) {
    std::perror("PACKET_IGNORE_OUTGOING");
    std::exit(1);
  }
  const int buf = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  return fd;
}

struct Held {
  std::vector<std::uint8_t> bytes;
  int out;
  unsigned release_after;  // frames still to pass before it goes
  std::chrono::steady_clock::time_point deadline;
};

class Forwarder {
 public:
  explicit Forwarder(const Options& o) : opt_(o), rng_(o.seed) {}

  void run(int fd_a, int fd_b) {
    pollfd p[2] = {{fd_a, POLLIN, 0}, {fd_b, POLLIN, 0}};
    const int out_of[2] = {fd_b, fd_a};
    std::vector<std::uint8_t> buf(65536 + 64);
    while (!g_stop) {
      const int n = poll(p, 2, held_.empty() ? 100 : 2);
      if (n < 0 && errno != EINTR) {
        std::perror("poll");
        std::exit(1);
      }
      for (int i = 0; i < 2; ++i) {
        if (!(p[i].revents & POLLIN)) continue;
        for (int burst = 0; burst < 64; ++burst) {
          const ssize_t len = recv(p[i].fd, buf.data(), buf.size(), MSG_TRUNC);
          if (len < 0) break;
          if (static_cast<std::size_t>(len) > buf.size()) continue;  // cannot happen at MTU
          handle(buf.data(), static_cast<std::size_t>(len), out_of[i]);
        }
      }
      release_due();
    }
    for (auto& h : held_)  // nothing is lost at shutdown beyond what was chosen
      send_frame(h.out, h.bytes.data(), h.bytes.size());
  }

  const Counts& counts() const { return c_; }

 private:
  bool chance(double pct) { return pct > 0 && pct_(rng_) < pct; }

  void handle(std::uint8_t* f, std::size_t len, int out) {
    const bool ip = len >= 14 && ((f[12] == 0x08 && f[13] == 0x00) ||
                                  (f[12] == 0x86 && f[13] == 0xdd));
    if (ip) {
      if (chance(opt_.loss)) {
        ++c_.lost;
        tick();
        return;
      }
      if (len > 14 && chance(opt_.corrupt)) {
        const std::size_t bit = std::uniform_int_distribution<std::size_t>(0, (len - 14) * 8 - 1)(rng_);
        f[14 + bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
        ++c_.corrupted;
      }
      const bool dup = chance(opt_.dup);
      if (chance(opt_.reorder)) {
        ++c_.reordered;
        const unsigned after = 1 + std::uniform_int_distribution<unsigned>(0, opt_.depth - 1)(rng_);
        held_.push_back({std::vector<std::uint8_t>(f, f + len), out, after,
                         std::chrono::steady_clock::now() + std::chrono::milliseconds(5)});
        if (dup) {  // the copy goes now, the original later
          ++c_.duplicated;
          send_frame(out, f, len);
        }
        return;
      }
      send_frame(out, f, len);
      if (dup) {
        ++c_.duplicated;
        send_frame(out, f, len);
      }
      tick();
      return;
    }
    send_frame(out, f, len);
  }

  // One more frame went by: held frames whose count ran out go now.
  void tick() {
    for (auto& h : held_)
      if (h.release_after > 0) --h.release_after;
    release_due();
  }

  void release_due() {
    const auto now = std::chrono::steady_clock::now();
    for (auto it = held_.begin(); it != held_.end();) {
      if (it->release_after == 0 || now >= it->deadline) {
        send_frame(it->out, it->bytes.data(), it->bytes.size());
        it = held_.erase(it);
      } else {
        ++it;
      }
    }
  }

  void send_frame(int fd, const std::uint8_t* f, std::size_t len) {
    for (int tries = 0; tries < 1000; ++tries) {
      if (send(fd, f, len, 0) >= 0) {
        ++c_.forwarded;
        return;
      }
      if (errno != EAGAIN && errno != ENOBUFS) break;
      pollfd p{fd, POLLOUT, 0};
      poll(&p, 1, 1);
    }
    ++c_.lost;  // the kernel refused it: counted as loss, not hidden
  }

  Options opt_;
  std::mt19937_64 rng_;
  std::uniform_real_distribution<double> pct_{0.0, 100.0};
  std::deque<Held> held_;
  Counts c_;
};

double pct_arg(const char* v) {
  char* end = nullptr;
  const double d = std::strtod(v, &end);
  if (end == v || *end || d < 0 || d > 100) {
    std::fprintf(stderr, "stt_impair: bad percentage %s\n", v);
    std::exit(2);
  }
  return d;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::vector<std::string> pos;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto val = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "stt_impair: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--loss") o.loss = pct_arg(val());
    else if (a == "--dup") o.dup = pct_arg(val());
    else if (a == "--reorder") o.reorder = pct_arg(val());
    else if (a == "--corrupt") o.corrupt = pct_arg(val());
    else if (a == "--reorder-depth") o.depth = static_cast<unsigned>(std::max(1, std::atoi(val())));
    else if (a == "--seed") o.seed = std::strtoull(val(), nullptr, 0);
    else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "stt_impair: unknown option %s\n", a.c_str());
      return 2;
    } else {
      pos.push_back(a);
    }
  }
  if (pos.size() != 2) {
    std::fprintf(stderr,
                 "usage: stt_impair IF_A IF_B [--loss PCT] [--dup PCT] [--reorder PCT] "
                 "[--reorder-depth N] [--corrupt PCT] [--seed S]\n");
    return 2;
  }
  o.a = pos[0];
  o.b = pos[1];
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  int ia = 0, ib = 0;
  const int fa = open_side(o.a, &ia), fb = open_side(o.b, &ib);
  std::printf("ready\n");
  std::fflush(stdout);
  Forwarder fw(o);
  fw.run(fa, fb);
  const Counts& c = fw.counts();
  std::printf("forwarded=%llu lost=%llu duplicated=%llu reordered=%llu corrupted=%llu\n",
              static_cast<unsigned long long>(c.forwarded), static_cast<unsigned long long>(c.lost),
              static_cast<unsigned long long>(c.duplicated),
              static_cast<unsigned long long>(c.reordered),
              static_cast<unsigned long long>(c.corrupted));
  return 0;
}
