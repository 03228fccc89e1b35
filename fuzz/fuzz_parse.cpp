// fuzz_parse: wire::parse_ethernet and core::parse_segment on arbitrary
// bytes. Input: [control byte] [packet bytes...]. Control bits 0-1 select
// the offload state given to parse_segment (none, DATA_VALID, NEEDS_CSUM,
// or none after fixing the outer checksums), bit 2 sets a local address,
// bit 3 a non-default STT port, bits 4-6 the VLAN tag limit for
// parse_ethernet, bit 7 RxConfig::defer_checksum.
//
// Invariants: every offset a successful parse reports lies inside the
// packet, an accepted segment satisfies the receive rules of digest §4
// item 2 (non-empty, O + n <= L, L >= 18 + 14), and parse_segment (fast
// path first) classifies every packet exactly as its general parser alone
// does, and describes an accepted segment identically.

#include <cstdint>
#include <vector>

#include "core/rx.hpp"
#include "fuzz_input.hpp"
#include "wire/checksum.hpp"
#include "wire/headers.hpp"
#include "wire/parse.hpp"

using namespace stt;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Input in(data, size);
  const std::uint8_t control = in.u8();
  auto bytes = in.rest();
  // An exact-size heap copy: the parsers may not read past it, and
  // parse_segment gets a writable packet as it would from a socket.
  std::vector<std::uint8_t> pkt(bytes.begin(), bytes.end());
  const std::size_t n = pkt.size();

  wire::PacketLayout l;
  const wire::ParseError e = wire::parse_ethernet(pkt.data(), n, &l, (control >> 4) & 7);
  STT_FUZZ_CHECK(e < wire::ParseError::kCount);
  if (e == wire::ParseError::kOk) {
    STT_FUZZ_CHECK(l.l3_offset >= wire::kEthHeaderLen && l.l3_offset <= n);
    STT_FUZZ_CHECK(l.vlan_tags <= ((control >> 4) & 7));
    if (l.ip_version != 0) {
      STT_FUZZ_CHECK(l.ip_version == 4 || l.ip_version == 6);
      STT_FUZZ_CHECK(l.ip_end <= n && l.l3_offset + l.ip_header_length <= l.ip_end);
    }
    if (l.l4_offset != 0) {
      STT_FUZZ_CHECK(l.l4_offset >= l.l3_offset + l.ip_header_length);
      STT_FUZZ_CHECK(l.l4_offset + l.l4_header_length <= l.ip_end);
    }
    if (l.is_tcp()) STT_FUZZ_CHECK(l.l4_header_length >= sizeof(wire::TcpHeader));
    if (l.is_udp()) STT_FUZZ_CHECK(l.l4_header_length == sizeof(wire::UdpHeader));
  }

  const core::OffloadInfo off = fuzz::receive_offload(control, pkt.data(), n);
  core::RxConfig cfg;
  if (control & 4) {
    const std::uint8_t v4[4] = {192, 0, 2, 2};
    cfg.local = wire::IpAddr::v4(v4);
  }
  if (control & 8) cfg.port = 4789;
  cfg.defer_checksum = (control & 0x80) != 0;

  core::SttSegment seg;
  const core::RxCounter c = core::parse_segment(pkt.data(), n, off, cfg, &seg);
  STT_FUZZ_CHECK(c < core::RxCounter::kCount);
  core::SttSegment ref;
  STT_FUZZ_CHECK(core::parse_segment_general(pkt.data(), n, off, cfg, &ref) == c);
  if (c == core::RxCounter::kSegments) {
    STT_FUZZ_CHECK(seg.outer_src == ref.outer_src && seg.outer_dst == ref.outer_dst);
    STT_FUZZ_CHECK(seg.src_port == ref.src_port && seg.dst_port == ref.dst_port);
    STT_FUZZ_CHECK(seg.packet_id == ref.packet_id && seg.tcp_flags == ref.tcp_flags);
    STT_FUZZ_CHECK(seg.frame_len == ref.frame_len && seg.offset == ref.offset);
    STT_FUZZ_CHECK(seg.tos == ref.tos && seg.headroom == ref.headroom);
    STT_FUZZ_CHECK(seg.payload == ref.payload && seg.payload_len == ref.payload_len);
    STT_FUZZ_CHECK(seg.checksum_pending == ref.checksum_pending);
    // The same sum, whatever unfolded form each path left it in.
    STT_FUZZ_CHECK(wire::csum::fold(seg.pending_sum) % 0xffff ==
                   wire::csum::fold(ref.pending_sum) % 0xffff);
    STT_FUZZ_CHECK(core::pending_checksum_ok(seg) == core::pending_checksum_ok(ref));
  }
  if (c == core::RxCounter::kSegments) {
    STT_FUZZ_CHECK(seg.dst_port == cfg.port);
    STT_FUZZ_CHECK(seg.payload_len > 0);
    STT_FUZZ_CHECK(seg.payload >= pkt.data() && seg.payload + seg.payload_len <= pkt.data() + n);
    STT_FUZZ_CHECK(std::uint32_t{seg.offset} + seg.payload_len <= seg.frame_len);
    STT_FUZZ_CHECK(seg.frame_len >= wire::kSttMinFrame);
    STT_FUZZ_CHECK(seg.outer_src.version() == seg.outer_dst.version());
    STT_FUZZ_CHECK(seg.outer_src.is_v4() || seg.outer_src.is_v6());
    // With a local address, parse_segment also takes multicast
    // destinations (rx.cpp, parse_outer_v4/v6).
    if (cfg.local.version() != 0) {
      STT_FUZZ_CHECK(seg.outer_dst == cfg.local || seg.outer_dst.is_multicast());
    }
    fuzz::touch(seg.payload, seg.payload_len);
  }
  return 0;
}
