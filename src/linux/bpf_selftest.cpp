#include "linux/bpf_selftest.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <stdexcept>
#include <vector>

#include "linux/bpf_fastpath.hpp"
#include "linux/ethtool.hpp"
#include "linux/fd.hpp"
#include "wire/bytes.hpp"
#include "wire/checksum.hpp"

namespace stt::sys {

namespace {

using Bytes = std::vector<std::uint8_t>;
using Mac = std::array<std::uint8_t, 6>;

// The scratch namespace's names and addresses: private to the child's namespace, so they
// cannot clash with anything on the host.
constexpr const char* kVethTx = "stv0";  // the far end: sends STT frames, reads the tunnel
constexpr const char* kVethUl = "stv1";  // the underlay the programs are attached to
constexpr const char* kBridge = "stbr";
constexpr const char* kTapNet = "stt0";       // the network's TAP (programs attached)
constexpr const char* kTapGuest = "stt1";     // a bridged port standing for the tenant
constexpr std::uint32_t kLocal = 0x0a630002;  // 10.99.0.2
constexpr std::uint32_t kPeer = 0x0a630001;   // 10.99.0.1
constexpr std::uint32_t kStranger = 0x0a630009;
constexpr std::uint64_t kContext = 0x0000123456789abcull;
constexpr std::uint16_t kPort = 7471;
constexpr std::uint16_t kInnerMss = 1448;
constexpr std::uint16_t kOuterMss = 1460;  // veth MTU 1500
constexpr Mac kRemoteVm{0x02, 0, 0, 0, 0, 0x0a};
constexpr Mac kLocalVm{0x02, 0, 0, 0, 0, 0x0b};
constexpr auto kWait = std::chrono::milliseconds(2000);

// The legacy virtio-net header (linux/virtio_net.h cannot be included from C++: it has a
// member called `class`).
struct virtio_net_hdr {
  std::uint8_t flags;
  std::uint8_t gso_type;
  std::uint16_t hdr_len;
  std::uint16_t gso_size;
  std::uint16_t csum_start;
  std::uint16_t csum_offset;
};
static_assert(sizeof(virtio_net_hdr) == 10);
constexpr std::uint8_t VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
constexpr std::uint8_t VIRTIO_NET_HDR_F_DATA_VALID = 2;
constexpr std::uint8_t VIRTIO_NET_HDR_GSO_NONE = 0;
constexpr std::uint8_t VIRTIO_NET_HDR_GSO_TCPV4 = 1;

struct Failed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void failf(const std::string& what) {
  throw Failed(what);
}

// Sums in the network-order convention of wire::csum.
std::uint32_t pseudo_v4(std::uint32_t src, std::uint32_t dst, std::uint8_t proto,
                        std::uint32_t l4_len) {
  std::uint64_t s = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto + l4_len;
  return wire::csum::add(static_cast<std::uint32_t>(s), 0);
}
std::uint16_t finish(std::uint32_t s) {
  return static_cast<std::uint16_t>(~wire::csum::fold(s));
}

void run(const std::vector<std::string>& argv) {
  const pid_t pid = fork();
  if (pid < 0) failf("fork");
  if (pid == 0) {
    const int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
      dup2(null, 1);
      dup2(null, 2);
    }
    std::vector<char*> args;
    for (const auto& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string cmd;
    for (const auto& a : argv)
      cmd += (cmd.empty() ? "" : " ") + a;
    failf(fmt::format("'{}' failed (status {})", cmd, status));
  }
}

void write_file(const char* path, const char* text) {
  UniqueFd fd(open(path, O_WRONLY | O_CLOEXEC));
  if (!fd.valid() || write(fd.get(), text, std::strlen(text)) < 0) {
    failf(fmt::format("writing {}: {}", path, std::strerror(errno)));
  }
}

Mac mac_of(const char* ifname) {
  UniqueFd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
  if (!s.valid() || ioctl(s.get(), SIOCGIFHWADDR, &ifr) != 0) failf("SIOCGIFHWADDR");
  Mac m{};
  std::memcpy(m.data(), ifr.ifr_hwaddr.sa_data, 6);
  return m;
}

int ifindex_of(const char* ifname) {
  const unsigned i = if_nametoindex(ifname);
  if (i == 0) failf(fmt::format("no interface {}", ifname));
  return static_cast<int>(i);
}

UniqueFd open_tap(const char* name) {
  UniqueFd fd(open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) failf("/dev/net/tun");
  ifreq ifr{};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  std::strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd.get(), TUNSETIFF, &ifr) != 0) failf(fmt::format("TUNSETIFF {}", name));
  if (ioctl(fd.get(), TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) != 0) {
    failf(fmt::format("TUNSETOFFLOAD {}", name));
  }
  return fd;
}

UniqueFd open_packet(int ifindex, bool ignore_outgoing) {
  UniqueFd fd(socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL)));
  const int one = 1;
  if (!fd.valid() || setsockopt(fd.get(), SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) != 0) {
    failf("AF_PACKET socket");
  }
  if (ignore_outgoing) setsockopt(fd.get(), SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
  int rcvbuf = 8 << 20;
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = ifindex;
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) failf("bind AF_PACKET");
  return fd;
}

struct Frame {
  virtio_net_hdr vh{};
  Bytes data;
};

void send_frame(int fd, const virtio_net_hdr& vh, const Bytes& b) {
  iovec iov[2] = {{const_cast<virtio_net_hdr*>(&vh), sizeof vh},
                  {const_cast<std::uint8_t*>(b.data()), b.size()}};
  if (writev(fd, iov, 2) != static_cast<ssize_t>(sizeof vh + b.size())) {
    failf(fmt::format("sending a frame: {}", std::strerror(errno)));
  }
}

// The next frame on fd that `match` accepts, within kWait (others are skipped).
std::optional<Frame> receive(int fd, const std::function<bool(const Bytes&)>& match) {
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  Bytes buf(70000);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    Frame f;
    iovec iov[2] = {{&f.vh, sizeof f.vh}, {buf.data(), buf.size()}};
    const ssize_t n = readv(fd, iov, 2);
    if (n < static_cast<ssize_t>(sizeof f.vh)) continue;
    f.data.assign(buf.begin(), buf.begin() + (n - static_cast<ssize_t>(sizeof f.vh)));
    if (match(f.data)) return f;
  }
}

// An Ethernet + IPv4 + TCP frame between the two tenant MACs; its TCP checksum field holds
// the partial (pseudo-header) sum, as a CHECKSUM_PARTIAL sender leaves it (D4).
Bytes inner_frame(const Mac& dst, const Mac& src, std::uint32_t payload) {
  Bytes b(54 + payload);
  std::memcpy(&b[0], dst.data(), 6);
  std::memcpy(&b[6], src.data(), 6);
  wire::store_be16(&b[12], 0x0800);
  std::uint8_t* ip = &b[14];
  ip[0] = 0x45;
  wire::store_be16(ip + 2, static_cast<std::uint16_t>(40 + payload));
  wire::store_be16(ip + 6, 0x4000);
  ip[8] = 64;
  ip[9] = 6;
  wire::store_be32(ip + 12, 0x0a050001);
  wire::store_be32(ip + 16, 0x0a050002);
  wire::store_be16(ip + 10, finish(wire::csum::sum(ip, 20)));
  std::uint8_t* tcp = &b[34];
  wire::store_be16(tcp, 40000);
  wire::store_be16(tcp + 2, 5001);
  wire::store_be32(tcp + 4, 1000);
  wire::store_be32(tcp + 8, 2000);
  tcp[12] = 0x50;
  tcp[13] = 0x18;
  wire::store_be16(tcp + 14, 65535);
  for (std::uint32_t i = 0; i < payload; ++i)
    b[54 + i] = static_cast<std::uint8_t>(i * 7 + 3);
  wire::store_be16(tcp + 16, wire::csum::fold(pseudo_v4(0x0a050001, 0x0a050002, 6, 20 + payload)));
  return b;
}

bool tcp_checksum_ok(const std::uint8_t* ip, std::size_t l4_len) {
  const std::uint32_t s =
      wire::csum::sum(ip + 20, l4_len,
                      pseudo_v4(wire::load_be32(ip + 12), wire::load_be32(ip + 16), 6,
                                static_cast<std::uint32_t>(l4_len)));
  return wire::csum::fold(s) == 0xffff;
}

// An STT frame from `src` around `inner` (one outer packet; the sender leaves the outer
// checksum partial, as a host's own packet is).
Bytes stt_frame(const Mac& ul_mac, const Mac& far_mac, std::uint32_t src, const Bytes& inner,
                std::uint16_t mss, std::uint8_t flags, std::uint16_t seq_low) {
  const std::uint32_t stt_len = 18 + static_cast<std::uint32_t>(inner.size());
  Bytes b(54 + stt_len);
  std::memcpy(&b[0], ul_mac.data(), 6);
  std::memcpy(&b[6], far_mac.data(), 6);
  wire::store_be16(&b[12], 0x0800);
  std::uint8_t* ip = &b[14];
  ip[0] = 0x45;
  wire::store_be16(ip + 2, static_cast<std::uint16_t>(40 + stt_len));
  wire::store_be16(ip + 6, 0x4000);
  ip[8] = 64;
  ip[9] = 6;
  wire::store_be32(ip + 12, src);
  wire::store_be32(ip + 16, kLocal);
  wire::store_be16(ip + 10, finish(wire::csum::sum(ip, 20)));
  std::uint8_t* tcp = &b[34];
  wire::store_be16(tcp, 50000);
  wire::store_be16(tcp + 2, kPort);
  wire::store_be32(tcp + 4, stt_len << 16 | seq_low);
  wire::store_be32(tcp + 8, 42);
  tcp[12] = 0x50;
  tcp[13] = 0x18;
  std::uint8_t* stt = &b[54];
  stt[1] = flags;
  stt[2] = 34;
  wire::store_be16(stt + 4, mss);
  wire::store_be32(stt + 8, static_cast<std::uint32_t>(kContext >> 32));
  wire::store_be32(stt + 12, static_cast<std::uint32_t>(kContext));
  std::memcpy(&b[72], inner.data(), inner.size());
  wire::store_be16(tcp + 16, wire::csum::fold(pseudo_v4(src, kLocal, 6, 20 + stt_len)));
  return b;
}

virtio_net_hdr partial_hdr(std::uint16_t csum_start, std::uint16_t gso_size, std::size_t len,
                           std::uint16_t hdr_len) {
  virtio_net_hdr vh{};
  vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  vh.csum_start = csum_start;
  vh.csum_offset = 16;
  if (len > static_cast<std::size_t>(hdr_len) + gso_size) {
    vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
    vh.gso_size = gso_size;
    vh.hdr_len = hdr_len;
  }
  return vh;
}

bool is_tenant_tcp(const Bytes& b) {
  return b.size() >= 54 && wire::load_be16(&b[12]) == 0x0800 && b[23] == 6 &&
         wire::load_be16(&b[36]) == 5001;
}
bool is_stt(const Bytes& b) {
  return b.size() >= 72 && wire::load_be16(&b[12]) == 0x0800 && b[23] == 6 &&
         wire::load_be16(&b[36]) == kPort;
}

class SelfTest {
 public:
  explicit SelfTest(std::string sabotage) : sabotage_(std::move(sabotage)) {}

  void setup() {
    // No IPv6 autoconfiguration chatter in the scratch namespace.
    write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
    write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
    run({"ip", "link", "set", "lo", "up"});
    run({"ip", "link", "add", kVethTx, "type", "veth", "peer", "name", kVethUl});
    run({"ip", "link", "add", kBridge, "type", "bridge", "forward_delay", "0"});
    tap_net_ = open_tap(kTapNet);
    tap_guest_ = open_tap(kTapGuest);
    for (const char* port : {kTapNet, kTapGuest})
      run({"ip", "link", "set", port, "master", kBridge});
    for (const char* dev : {kVethTx, kVethUl, kBridge, kTapNet, kTapGuest}) {
      run({"ip", "link", "set", dev, "up"});
    }
    far_mac_ = mac_of(kVethTx);
    ul_mac_ = mac_of(kVethUl);
    far_ = open_packet(ifindex_of(kVethTx), true);
    far_tx_ = open_packet(ifindex_of(kVethTx), false);

    BpfFastPathConfig c;
    c.underlay_ifindex = ifindex_of(kVethUl);
    c.local_addr_be = htonl(kLocal);
    c.port = kPort;
    c.underlay_mtu = 1500;
    c.local_mac = ul_mac_;
    fp_.emplace(c);
    fp_->attach_underlay();
    fp_->set_network(kContext, ifindex_of(kTapNet), 1, 1500);
    fp_->set_peer(htonl(kPeer), true, far_mac_);
    fp_->set_net_peer(1, htonl(kPeer), true);
    fp_->attach_tap(ifindex_of(kTapNet), kContext, 1);
    fp_->set_fdb(1, kRemoteVm, htonl(kPeer));
    wait_forwarding(kTapNet);
    wait_forwarding(kTapGuest);
  }

  // The checks, in order; each throws Failed with what it saw.
  void rx_gso() {
    const Bytes inner = inner_frame(kLocalVm, kRemoteVm, 20000);
    const Bytes outer = stt_frame(ul_mac_, far_mac_, kPeer, inner, kInnerMss, 0x0e, 0);
    send_frame(far_tx_.get(), partial_hdr(34, kOuterMss, outer.size(), 54), outer);
    const auto got = receive(tap_guest_.get(), is_tenant_tcp);
    if (!got) failf("no frame reached the bridged TAP");
    check_tso_request(got->vh, expect("rx_gso", kInnerMss));
    if (got->data != inner) failf("the inner frame's bytes changed");
  }

  void rx_small() {
    const Bytes inner = inner_frame(kLocalVm, kRemoteVm, 100);
    const Bytes outer = stt_frame(ul_mac_, far_mac_, kPeer, inner, 0, 0x0e, 0);
    send_frame(far_tx_.get(), partial_hdr(34, kOuterMss, outer.size(), 54), outer);
    const auto got = receive(tap_guest_.get(), is_tenant_tcp);
    if (!got) failf("no frame reached the bridged TAP");
    if (got->vh.gso_type != VIRTIO_NET_HDR_GSO_NONE) failf("the small frame came with GSO");
    const bool want_valid = expect("rx_small", true);
    if (((got->vh.flags & VIRTIO_NET_HDR_F_DATA_VALID) != 0) != want_valid ||
        (got->vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)) {
      failf(
          fmt::format("virtio flags {}, want DATA_VALID only (PARTIAL -> NONE -> "
                      "csum_level INC did not happen)",
                      got->vh.flags));
    }
    if (got->data.size() != inner.size() || !tcp_checksum_ok(&got->data[14], 20 + 100)) {
      failf("the inner TCP checksum was not finished");
    }
  }

  void rx_not_peer() {
    const auto before = fp_->counters(0)[STT_C_RX_DROP_NOT_PEER_SEGMENTS];
    const Bytes inner = inner_frame(kLocalVm, kRemoteVm, 100);
    const Bytes outer = stt_frame(ul_mac_, far_mac_, kStranger, inner, 0, 0x0e, 0);
    send_frame(far_tx_.get(), partial_hdr(34, kOuterMss, outer.size(), 54), outer);
    const auto want = before + expect("rx_not_peer", 1u);
    if (!wait_counter(0, STT_C_RX_DROP_NOT_PEER_SEGMENTS, want)) {
      failf("the non-peer segment was not counted as dropped");
    }
  }

  void rx_piece() {
    UniqueFd ul = open_packet(ifindex_of(kVethUl), true);
    const Bytes inner = inner_frame(kLocalVm, kRemoteVm, 100);
    const Bytes outer = stt_frame(ul_mac_, far_mac_, kPeer, inner, 0, 0x0e, 8);
    send_frame(far_tx_.get(), partial_hdr(34, kOuterMss, outer.size(), 54), outer);
    const auto got = receive(ul.get(), is_stt);
    if (!got || got->data != outer) failf("the piece did not go on to sttd unchanged");
    if (!wait_counter(0, STT_C_RX_TO_STTD_PIECE, expect("rx_piece", 1u))) {
      failf("the piece was not counted");
    }
  }

  void tx_gso() {
    const Bytes inner = inner_frame(kRemoteVm, kLocalVm, 30000);
    send_frame(tap_guest_.get(), partial_hdr(34, kInnerMss, inner.size(), 54), inner);
    const auto got = receive(far_.get(), is_stt);
    if (!got) failf("no STT packet left the underlay");
    check_tso_request(got->vh, expect("tx_gso", kOuterMss));
    const auto& d = got->data;
    const std::uint32_t stt_len = 18 + static_cast<std::uint32_t>(inner.size());
    check_outer(d, inner, stt_len, kInnerMss);
    if (wire::load_be16(&d[50]) != wire::csum::fold(pseudo_v4(kLocal, kPeer, 6, 20 + stt_len))) {
      failf("the outer TCP checksum field is not the pseudo-header sum of a TSO request");
    }
  }

  void tx_small() {
    const Bytes inner = inner_frame(kRemoteVm, kLocalVm, 1);
    send_frame(tap_guest_.get(), partial_hdr(34, kInnerMss, inner.size(), 54), inner);
    const auto got = receive(far_.get(), is_stt);
    if (!got) failf("no STT packet left the underlay");
    if (got->vh.gso_type != VIRTIO_NET_HDR_GSO_NONE) failf("a 1-byte frame left with GSO");
    const auto& d = got->data;
    const std::uint32_t stt_len = 18 + static_cast<std::uint32_t>(inner.size());
    check_outer(d, inner, stt_len, 0);
    // One finished segment: nothing is left for the kernel or a NIC to complete.
    if (got->vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) failf("the outer checksum was left partial");
    if (!tcp_checksum_ok(&d[14], expect("tx_small", 20u) + stt_len)) {
      failf("the outer TCP checksum is wrong");
    }
  }

  void tx_segmented() {
    for (const char* f : {"tx-tcp-segmentation", "tx-generic-segmentation"}) {
      if (set_feature(kVethUl, f, false).active) failf(fmt::format("{} stays on", f));
    }
    const Bytes inner = inner_frame(kRemoteVm, kLocalVm, 30000);
    send_frame(tap_guest_.get(), partial_hdr(34, kInnerMss, inner.size(), 54), inner);
    const std::uint32_t stt_len = 18 + static_cast<std::uint32_t>(inner.size());
    const std::uint32_t want = (stt_len + kOuterMss - 1) / kOuterMss;
    Bytes stt(stt_len);
    std::uint32_t seen = 0;
    std::uint16_t first_id = 0;
    for (std::uint32_t i = 0; i < want; ++i) {
      const auto got = receive(far_.get(), is_stt);
      if (!got) failf(fmt::format("{} of {} segments arrived", i, want));
      const auto& d = got->data;
      const std::uint32_t tot = wire::load_be16(&d[16]);
      if (tot + 14 != d.size() || tot - 40 > kOuterMss) failf("a segment's IP length is wrong");
      // A segment is finished, or a correct checksum request for its own length.
      const bool ok = (got->vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
                          ? got->vh.csum_start == 34 && got->vh.csum_offset == 16 &&
                                wire::load_be16(&d[50]) ==
                                    wire::csum::fold(pseudo_v4(kLocal, kPeer, 6, tot - 20))
                          : tcp_checksum_ok(&d[14], tot - 20);
      if (!ok) failf(fmt::format("segment {}: wrong TCP checksum", i));
      if (wire::csum::fold(wire::csum::sum(&d[14], 20)) != 0xffff) {
        failf(fmt::format("segment {}: wrong IPv4 header checksum", i));
      }
      const std::uint32_t seq = wire::load_be32(&d[38]);
      const std::uint32_t off = seq & 0xffff;
      if ((seq >> 16) != stt_len || off + tot - 40 > stt_len) failf("a segment's SEQ is wrong");
      if (i == 0) first_id = wire::load_be16(&d[18]);
      if (wire::load_be16(&d[18]) != static_cast<std::uint16_t>(first_id + i)) {
        failf("outer IPv4 IDs are not consecutive");
      }
      std::memcpy(&stt[off], &d[54], tot - 40);
      seen += tot - 40;
    }
    if (seen != expect("tx_segmented", stt_len) ||
        !std::equal(inner.begin(), inner.end(), stt.begin() + 18)) {
      failf("the segments do not put the frame back together");
    }
  }

 private:
  // The value a check expects, or a wrong one when the test hook names the check.
  template <class T>
  T expect(const char* check, T v) const {
    if (sabotage_ == check || sabotage_ == "all") return static_cast<T>(v + 1);
    return v;
  }
  bool expect(const char* check, bool v) const {
    return (sabotage_ == check || sabotage_ == "all") ? !v : v;
  }

  // One TCPV4 GSO packet of `mss` with a checksum request at an untagged IPv4 TCP header.
  static void check_tso_request(const virtio_net_hdr& vh, std::uint16_t mss) {
    if (vh.gso_type != VIRTIO_NET_HDR_GSO_TCPV4 || vh.gso_size != mss) {
      failf(
          fmt::format("gso_type {} gso_size {}, want TCPV4 and {}", vh.gso_type, vh.gso_size, mss));
    }
    if (!(vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) || vh.csum_start != 34 || vh.csum_offset != 16) {
      failf(fmt::format("checksum request flags {} start {} offset {}, want NEEDS_CSUM 34/16",
                        vh.flags, vh.csum_start, vh.csum_offset));
    }
  }

  void check_outer(const Bytes& d, const Bytes& inner, std::uint32_t stt_len, std::uint16_t mss) {
    if (d.size() != 54 + stt_len) failf(fmt::format("outer length {}", d.size()));
    if (std::memcmp(&d[0], far_mac_.data(), 6) != 0 || std::memcmp(&d[6], ul_mac_.data(), 6) != 0) {
      failf("outer MACs are not the next hop's and the underlay's");
    }
    if (d[14] != 0x45 || wire::load_be16(&d[16]) != 40 + stt_len ||
        wire::load_be16(&d[20]) != 0x4000 || wire::load_be32(&d[26]) != kLocal ||
        wire::load_be32(&d[30]) != kPeer || d[23] != 6) {
      failf("outer IPv4 header");
    }
    if (wire::csum::fold(wire::csum::sum(&d[14], 20)) != 0xffff) failf("outer IPv4 checksum");
    if (wire::load_be32(&d[38]) != stt_len << 16 ||
        !(wire::load_be32(&d[42]) & STT_BPF_PACKET_ID_BIT) || d[46] != 0x50) {
      failf("outer TCP SEQ/ACK/offset");
    }
    const std::uint8_t* stt = &d[54];
    if (stt[0] != 0 || stt[1] != 0x0e || stt[2] != 34 || wire::load_be16(stt + 4) != mss ||
        wire::load_be32(stt + 8) != static_cast<std::uint32_t>(kContext >> 32) ||
        wire::load_be32(stt + 12) != static_cast<std::uint32_t>(kContext)) {
      failf(fmt::format("STT header flags {:#x} l4 {} mss {}", stt[1], stt[2],
                        wire::load_be16(stt + 4)));
    }
    if (!std::equal(inner.begin(), inner.end(), d.begin() + 72)) {
      failf("the inner frame changed in the tunnel");
    }
  }

  bool wait_counter(std::uint32_t row, std::size_t c, std::uint64_t want) {
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (std::chrono::steady_clock::now() < deadline) {
      if (fp_->counters(row)[c] >= want) return true;
      const timespec ts{0, 1000000};
      nanosleep(&ts, nullptr);
    }
    return false;
  }

  void wait_forwarding(const char* port) {
    const std::string path = fmt::format("/sys/class/net/{}/brport/state", port);
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (std::chrono::steady_clock::now() < deadline) {
      char buf[8] = {};
      UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (fd.valid() && read(fd.get(), buf, sizeof buf - 1) > 0 && buf[0] == '3') return;
      const timespec ts{0, 1000000};
      nanosleep(&ts, nullptr);
    }
    failf(fmt::format("bridge port {} never forwarded", port));
  }

  std::string sabotage_;
  UniqueFd tap_net_, tap_guest_, far_, far_tx_;
  Mac far_mac_{}, ul_mac_{};
  std::optional<BpfFastPath> fp_;
};

// Runs in the child: one line per check on `out`, "ok NAME" or "fail NAME: why".
int child_main(int out) {
  auto say = [out](const std::string& s) {
    const std::string line = s + "\n";
    if (write(out, line.data(), line.size()) < 0) _exit(3);
  };
  // A mount namespace too, for a sysfs that shows the new network namespace's devices, and a
  // proc whose /proc/sys is writable: a systemd unit with ProtectKernelTunables= has both
  // /sys and /proc/sys read-only, and setup() writes the scratch namespace's IPv6 sysctls.
  if (unshare(CLONE_NEWNET | CLONE_NEWNS) != 0 ||
      mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
      mount("sysfs", "/sys", "sysfs", 0, nullptr) != 0 ||
      mount("proc", "/proc", "proc", 0, nullptr) != 0) {
    say(fmt::format("fail namespace: {}", std::strerror(errno)));
    return 1;
  }
  const char* hook = std::getenv("STT_BPF_SELFTEST_FAIL");
  SelfTest t(hook ? hook : "");
  try {
    t.setup();
  } catch (const std::exception& e) {
    say(fmt::format("fail setup: {}", e.what()));
    return 1;
  }
  const std::pair<const char*, void (SelfTest::*)()> checks[] = {
      {"rx_gso", &SelfTest::rx_gso},
      {"rx_small", &SelfTest::rx_small},
      {"rx_not_peer", &SelfTest::rx_not_peer},
      {"rx_piece", &SelfTest::rx_piece},
      {"tx_gso", &SelfTest::tx_gso},
      {"tx_small", &SelfTest::tx_small},
      {"tx_segmented", &SelfTest::tx_segmented},
  };
  for (const auto& [name, fn] : checks) {
    try {
      (t.*fn)();
      say(fmt::format("ok {}", name));
    } catch (const std::exception& e) {
      say(fmt::format("fail {}: {}", name, e.what()));
      return 1;
    }
  }
  return 0;
}

}  // namespace

BpfSelfTestResult run_bpf_selftest() {
  BpfSelfTestResult r;
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) {
    r.reason = fmt::format("pipe: {}", std::strerror(errno));
    return r;
  }
  UniqueFd rd(p[0]), wr(p[1]);
  const pid_t pid = fork();
  if (pid < 0) {
    r.reason = fmt::format("fork: {}", std::strerror(errno));
    return r;
  }
  if (pid == 0) {
    rd.reset();
    _exit(child_main(wr.get()));
  }
  wr.reset();
  // Every step in the child has its own bound; this one covers a child that hangs anyway.
  std::string text;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  bool timed_out = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd pf{rd.get(), POLLIN, 0};
    if (poll(&pf, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[512];
    const ssize_t n = read(rd.get(), buf, sizeof buf);
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t nl = text.find('\n', pos);
    const std::string line = text.substr(pos, nl == std::string::npos ? nl : nl - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    if (line.rfind("ok ", 0) == 0) r.passed.push_back(line.substr(3));
    if (line.rfind("fail ", 0) == 0 && r.reason.empty()) r.reason = line.substr(5);
  }
  r.ok = !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0 && r.reason.empty() &&
         r.passed.size() == 7;
  if (!r.ok && r.reason.empty()) {
    r.reason = timed_out ? "the self-test did not finish in 30 s"
                         : fmt::format("the self-test exited with status {}", status);
  }
  return r;
}

}  // namespace stt::sys
