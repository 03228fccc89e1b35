#include "core/offload.hpp"

#include <algorithm>
#include <cstring>
#include <new>

#include "wire/bytes.hpp"
#include "wire/checksum.hpp"
#include "wire/hash.hpp"
#include "wire/headers.hpp"

namespace stt::core {

namespace csum = wire::csum;
using wire::header_at;

bool complete_checksum(std::span<std::uint8_t> frame, std::uint16_t csum_start,
                       std::uint16_t csum_offset, bool udp) {
  const std::size_t field = std::size_t{csum_start} + csum_offset;
  if (field + 2 > frame.size()) return false;
  // The field already holds the folded pseudo-header sum, so summing the
  // L4 bytes as they stand adds it in.
  std::uint16_t v = csum::finish(csum::sum(frame.data() + csum_start, frame.size() - csum_start));
  if (udp && v == 0) v = 0xffff;  // RFC 768: zero means "no checksum"
  wire::store_be16(frame.data() + field, v);
  return true;
}

// ------------------------------------------------------------ FrameArena

namespace {
constexpr std::size_t kArenaAlign = 8;
constexpr std::size_t align_up(std::size_t n) {
  return (n + kArenaAlign - 1) & ~(kArenaAlign - 1);
}
}  // namespace

FrameArena::FrameArena(std::size_t bytes, std::size_t max_frames)
    : mem_(new std::uint8_t[bytes]),
      bytes_(bytes),
      frames_(new Frame[max_frames]),
      max_frames_(max_frames) {}

FrameArena::~FrameArena() {
  delete[] mem_;
  delete[] frames_;
}

FrameArena::Frame* FrameArena::allocate(std::uint32_t len, std::uint32_t headroom) {
  if (count_ == max_frames_) return nullptr;
  // Headroom is rounded up so that every frame's data starts 8-aligned.
  const std::size_t room = align_up(headroom);
  const std::size_t need = room + align_up(len);
  if (need > bytes_ - used_) return nullptr;
  Frame* f = &frames_[count_++];
  f->data = mem_ + used_ + room;
  f->len = len;
  used_ += need;
  return f;
}

// ------------------------------------------------------------ software GSO

namespace {

// The per-packet facts the cutters need, taken from the layout once.
struct L3L4 {
  std::uint32_t l3;       // IP header offset
  std::uint32_t l4;       // L4 header offset
  std::uint32_t hdr_len;  // bytes copied in front of every piece (through the L4 header)
  std::uint32_t payload;  // L4 payload bytes of the input
  bool v4;
};

std::uint32_t pseudo(const std::uint8_t* pkt, const L3L4& g, std::uint8_t proto,
                     std::uint32_t l4_len) {
  return csum::pseudo(pkt + g.l3, g.v4 ? 4 : 6, proto, l4_len);
}

// Sets the IP length fields of a packet whose IP payload (everything after
// the fixed IPv4 header with options / the fixed IPv6 header) is
// `ip_payload` bytes, and refreshes the IPv4 header checksum.
void set_ip_lengths(std::uint8_t* pkt, const L3L4& g, std::uint32_t ip_payload) {
  if (g.v4) {
    auto* ip = header_at<wire::Ipv4Header>(pkt + g.l3);
    ip->total_length.set(static_cast<std::uint16_t>(ip->header_length() + ip_payload));
    ip->checksum.set(csum::ipv4_header(pkt + g.l3, ip->header_length()));
  } else {
    header_at<wire::Ipv6Header>(pkt + g.l3)
        ->payload_length.set(static_cast<std::uint16_t>(ip_payload));
  }
}

std::uint32_t ip_fixed_len(const std::uint8_t* pkt, const L3L4& g) {
  return g.v4 ? header_at<wire::Ipv4Header>(pkt + g.l3)->header_length()
              : static_cast<std::uint32_t>(sizeof(wire::Ipv6Header));
}

// One piece of a cut: the input's headers (through L4) copied in front of
// the piece's slice of the payload, with the IPv4 ID advanced per piece.
// `data` is null when the arena is full.
struct Piece {
  std::uint8_t* data;
  std::uint32_t off;  // payload offset of the piece in the input
  std::uint32_t len;  // payload bytes of the piece
};

Piece start_piece(const std::uint8_t* in, const L3L4& g, std::uint16_t mss, std::uint16_t id0,
                  std::uint32_t i, std::uint32_t headroom, FrameArena& out) {
  const std::uint32_t off = i * mss;
  const std::uint32_t len = std::min<std::uint32_t>(mss, g.payload - off);
  FrameArena::Frame* f = out.allocate(g.hdr_len + len, headroom);
  if (f == nullptr) return {nullptr, off, len};
  std::memcpy(f->data, in, g.hdr_len);
  if (g.v4)
    header_at<wire::Ipv4Header>(f->data + g.l3)->id.set(static_cast<std::uint16_t>(id0 + i));
  return {f->data, off, len};
}

GsoError cut_tcp(const std::uint8_t* in, const L3L4& g, std::uint16_t mss, std::uint32_t headroom,
                 FrameArena& out) {
  const auto* tcp_in = header_at<wire::TcpHeader>(in + g.l4);
  const std::uint32_t tcp_hl = g.hdr_len - g.l4;
  const std::uint32_t seq0 = tcp_in->seq.get();
  const std::uint8_t flags0 = tcp_in->flags;
  const std::uint16_t id0 = g.v4 ? header_at<wire::Ipv4Header>(in + g.l3)->id.get() : 0;
  const std::uint32_t n = g.payload == 0 ? 1 : (g.payload + mss - 1) / mss;
  const std::uint32_t ip_hl = ip_fixed_len(in, g);
  if (g.hdr_len - g.l3 + std::min<std::uint32_t>(mss, g.payload) > 65535) {
    return GsoError::kTooLarge;
  }

  for (std::uint32_t i = 0; i < n; ++i) {
    const auto [p, off, len] = start_piece(in, g, mss, id0, i, headroom, out);
    if (p == nullptr) return GsoError::kArenaFull;
    set_ip_lengths(p, g, (g.l4 - g.l3 - ip_hl) + tcp_hl + len);
    auto* tcp = header_at<wire::TcpHeader>(p + g.l4);
    tcp->seq.set(seq0 + off);
    std::uint8_t fl = flags0;
    if (i + 1 != n) fl &= static_cast<std::uint8_t>(~(wire::kTcpPsh | wire::kTcpFin));
    if (i != 0) fl &= static_cast<std::uint8_t>(~wire::kTcpCwr);
    tcp->flags = fl;
    tcp->checksum.set(0);
    // Headers are summed from the copy; the payload is read once, while it
    // is copied. The TCP header length is a multiple of 4, so the payload
    // starts at an even offset of the checksummed region.
    std::uint32_t s = pseudo(p, g, wire::kIpProtoTcp, tcp_hl + len);
    s = csum::sum(p + g.l4, tcp_hl, s);
    s = csum::copy_and_sum(p + g.hdr_len, in + g.hdr_len + off, len, s);
    tcp->checksum.set(csum::finish(s));
  }
  return GsoError::kOk;
}

// USO: one UDP datagram per piece, each with its own length and checksum.
GsoError cut_udp_datagrams(const std::uint8_t* in, const L3L4& g, std::uint16_t mss,
                           bool keep_zero_csum, std::uint32_t headroom, FrameArena& out) {
  const std::uint16_t id0 = g.v4 ? header_at<wire::Ipv4Header>(in + g.l3)->id.get() : 0;
  const std::uint32_t n = g.payload == 0 ? 1 : (g.payload + mss - 1) / mss;
  const std::uint32_t ip_hl = ip_fixed_len(in, g);
  const std::uint32_t ext = g.l4 - g.l3 - ip_hl;  // IPv6 extension headers
  for (std::uint32_t i = 0; i < n; ++i) {
    const auto [p, off, len] = start_piece(in, g, mss, id0, i, headroom, out);
    if (p == nullptr) return GsoError::kArenaFull;
    const std::uint32_t udp_len = sizeof(wire::UdpHeader) + len;
    set_ip_lengths(p, g, ext + udp_len);
    auto* udp = header_at<wire::UdpHeader>(p + g.l4);
    udp->length.set(static_cast<std::uint16_t>(udp_len));
    udp->checksum.set(0);
    std::uint32_t s = pseudo(p, g, wire::kIpProtoUdp, udp_len);
    s = csum::sum(p + g.l4, sizeof(wire::UdpHeader), s);
    s = csum::copy_and_sum(p + g.hdr_len, in + g.hdr_len + off, len, s);
    if (!keep_zero_csum) {
      std::uint16_t v = csum::finish(s);
      udp->checksum.set(v == 0 ? 0xffff : v);
    }
  }
  return GsoError::kOk;
}

// Offset of the "next header" byte that names the L4 protocol in an IPv6
// chain: the fixed header's, or that of the last extension header.
std::uint32_t ipv6_last_next_header(const std::uint8_t* pkt, const L3L4& g) {
  std::uint32_t at = g.l3 + 6;
  std::uint8_t next = pkt[at];
  std::uint32_t pos = g.l3 + static_cast<std::uint32_t>(sizeof(wire::Ipv6Header));
  while (pos < g.l4) {
    at = pos;
    std::uint32_t len;
    if (next == wire::kIpv6Fragment) {
      len = sizeof(wire::Ipv6FragmentHeader);
    } else if (next == wire::kIpv6Auth) {
      len = (pkt[pos + 1] + 2u) * 4u;
    } else {
      len = (pkt[pos + 1] + 1u) * 8u;
    }
    next = pkt[pos];
    pos += len;
  }
  return at;
}

// UFO: the one UDP datagram (checksum finished over all of it) cut into IP
// fragments. Each fragment carries at most mss bytes of IP payload, rounded
// down to a multiple of 8 as fragment offsets require. IPv4 fragments keep
// the datagram's ID; IPv6 fragments get a Fragment header after the
// extension headers already present, with an ID hashed from the addresses
// and the finished UDP header (software_gso has no ID counter).
GsoError cut_udp_fragments(const std::uint8_t* in, const L3L4& g, std::uint16_t mss,
                           bool keep_zero_csum, std::uint32_t headroom, FrameArena& out) {
  const std::uint32_t step = mss & ~7u;
  if (step == 0) return GsoError::kBadMss;
  const std::uint32_t ip_hl = ip_fixed_len(in, g);
  // Bytes before the fragmentable part, copied into every fragment.
  const std::uint32_t unfrag = g.l4;
  const std::uint32_t data_len = static_cast<std::uint32_t>(sizeof(wire::UdpHeader)) + g.payload;
  const std::uint32_t frag_hdr =
      g.v4 ? 0 : static_cast<std::uint32_t>(sizeof(wire::Ipv6FragmentHeader));
  const std::uint32_t n = (data_len + step - 1) / step;
  const std::uint32_t nh_at = g.v4 ? 0 : ipv6_last_next_header(in, g);
  const std::size_t first = out.count();

  std::uint32_t s = 0;  // sum of the UDP header (checksum 0) and payload, in datagram lanes
  for (std::uint32_t i = 0; i < n; ++i) {
    const std::uint32_t off = i * step;
    const std::uint32_t len = std::min(step, data_len - off);
    const bool last = i + 1 == n;
    FrameArena::Frame* f = out.allocate(unfrag + frag_hdr + len, headroom);
    if (f == nullptr) return GsoError::kArenaFull;
    std::uint8_t* p = f->data;
    std::memcpy(p, in, unfrag);
    std::uint8_t* data = p + unfrag + frag_hdr;
    if (i == 0) {
      // The UDP header is copied with its final length and a zero checksum;
      // the checksum goes in once the whole datagram has been summed.
      std::memcpy(data, in + g.l4, sizeof(wire::UdpHeader));
      auto* udp = header_at<wire::UdpHeader>(data);
      udp->length.set(static_cast<std::uint16_t>(data_len));
      udp->checksum.set(0);
      s = csum::sum(data, sizeof(wire::UdpHeader), s);
      s = csum::copy_and_sum(data + sizeof(wire::UdpHeader), in + g.hdr_len,
                             len - sizeof(wire::UdpHeader), s);
    } else {
      s = csum::add_at(s, csum::copy_and_sum(data, in + g.l4 + off, len), off);
    }
    if (g.v4) {
      auto* ip = header_at<wire::Ipv4Header>(p + g.l3);
      std::uint16_t frag = static_cast<std::uint16_t>(off / 8);
      if (!last) frag |= 0x2000;  // MF
      ip->frag.set(frag);         // DF cleared: this datagram is being fragmented
      set_ip_lengths(p, g, len);
    } else {
      auto* fh = header_at<wire::Ipv6FragmentHeader>(p + unfrag);
      fh->next_header = in[nh_at];
      fh->reserved = 0;
      fh->offset_flags.set(static_cast<std::uint16_t>(off | (last ? 0 : 1)));
      fh->id.set(0);  // set below
      p[nh_at] = wire::kIpv6Fragment;
      set_ip_lengths(p, g, (unfrag - g.l3 - ip_hl) + frag_hdr + len);
    }
  }

  std::uint8_t* head = out.frames()[first].data;
  auto* udp = header_at<wire::UdpHeader>(head + unfrag + frag_hdr);
  if (!keep_zero_csum) {
    std::uint16_t v = csum::finish(csum::add(s, pseudo(in, g, wire::kIpProtoUdp, data_len)));
    udp->checksum.set(v == 0 ? 0xffff : v);
  }
  if (!g.v4) {
    const auto* ip = header_at<wire::Ipv6Header>(in + g.l3);
    wire::Hasher h(0x5354545546524147ull);  // fixed key
    h.add_bytes(ip->src, 32);               // src and dst
    h.add(wire::load_be64(reinterpret_cast<const std::uint8_t*>(udp)));
    std::uint32_t id = static_cast<std::uint32_t>(h.finish());
    if (id == 0) id = 1;
    for (std::size_t i = first; i < out.count(); ++i) {
      header_at<wire::Ipv6FragmentHeader>(out.frames()[i].data + unfrag)->id.set(id);
    }
  }
  return GsoError::kOk;
}

}  // namespace

GsoError software_gso(std::span<const std::uint8_t> frame, const wire::PacketLayout& layout,
                      std::uint16_t mss, bool partial_csum, bool ufo, std::uint32_t headroom,
                      FrameArena& out) {
  const bool tcp = layout.is_tcp();
  const bool udp = layout.is_udp();
  if ((!tcp && !udp) || layout.ip_fragment || layout.ip_end > frame.size()) {
    return GsoError::kNotTcpOrUdp;
  }
  if (mss == 0) return GsoError::kBadMss;

  L3L4 g{};
  g.l3 = layout.l3_offset;
  g.l4 = layout.l4_offset;
  g.hdr_len = layout.payload_offset();
  g.payload = layout.ip_end - g.hdr_len;
  g.v4 = layout.ip_version == 4;
  const std::uint8_t* in = frame.data();

  if (tcp) return cut_tcp(in, g, mss, headroom, out);

  // An IPv4 UDP datagram sent without a checksum (field 0, and not a
  // partial sum) keeps it that way; IPv6 UDP always has one.
  const bool keep_zero =
      g.v4 && !partial_csum && header_at<wire::UdpHeader>(in + g.l4)->checksum.get() == 0;
  if (ufo) {
    if (sizeof(wire::UdpHeader) + g.payload <= mss) {
      return cut_udp_datagrams(in, g, 0xffff, keep_zero, headroom, out);
    }
    return cut_udp_fragments(in, g, mss, keep_zero, headroom, out);
  }
  return cut_udp_datagrams(in, g, mss, keep_zero, headroom, out);
}

}  // namespace stt::core
