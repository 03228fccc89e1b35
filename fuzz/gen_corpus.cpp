// Writes the seed corpus of every fuzz target: the digest §8 vectors (from
// tests/unit/digest_vectors.hpp) and packets produced by encapsulate(),
// framed the way each target reads its input. Run by fuzz/gen-corpus.sh:
//   fuzz_gen_corpus OUTPUT_DIR
// writes OUTPUT_DIR/<target>/seed-<name>, replacing files of that name.

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/buffer.hpp"
#include "core/encap.hpp"
#include "digest_vectors.hpp"
#include "fuzz_input.hpp"
#include "wire/checksum.hpp"
#include "wire/headers.hpp"

using namespace stt;
using Bytes = std::vector<std::uint8_t>;

namespace {

std::filesystem::path g_out;
int g_files = 0;

void write(const char* target, const std::string& name, const Bytes& b) {
  const auto dir = g_out / target;
  std::filesystem::create_directories(dir);
  std::ofstream f(dir / ("seed-" + name), std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  ++g_files;
}

Bytes bytes_of(std::span<const std::uint8_t> s) {
  return Bytes(s.begin(), s.end());
}

// An inner Ethernet frame carrying TCP (or UDP) with `payload` bytes over
// IPv4 or IPv6, optionally 802.1Q-tagged, all checksums complete.
Bytes inner_frame(bool v6, bool udp, std::size_t payload, bool tagged) {
  Bytes f;
  const std::uint8_t macs[12] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};
  f.insert(f.end(), macs, macs + 12);
  if (tagged) {
    const std::uint8_t tag[4] = {0x81, 0x00, 0x20, 0x07};  // PCP 1, VID 7
    f.insert(f.end(), tag, tag + 4);
  }
  const std::size_t l3 = f.size() + 2;
  const std::size_t l4_hdr = udp ? 8 : 20;
  const std::size_t l4_len = l4_hdr + payload;
  f.push_back(v6 ? 0x86 : 0x08);
  f.push_back(v6 ? 0xdd : 0x00);
  const std::uint8_t proto = udp ? wire::kIpProtoUdp : wire::kIpProtoTcp;
  std::uint32_t pseudo;
  if (v6) {
    Bytes ip(40, 0);
    ip[0] = 0x60;
    wire::store_be16(&ip[4], static_cast<std::uint16_t>(l4_len));
    ip[6] = proto;
    ip[7] = 64;
    ip[8] = 0xfd;
    ip[23] = 1;
    ip[24] = 0xfd;
    ip[39] = 2;
    pseudo = wire::csum::pseudo_v6(&ip[8], &ip[24], proto, static_cast<std::uint32_t>(l4_len));
    f.insert(f.end(), ip.begin(), ip.end());
  } else {
    Bytes ip(20, 0);
    ip[0] = 0x45;
    wire::store_be16(&ip[2], static_cast<std::uint16_t>(20 + l4_len));
    wire::store_be16(&ip[4], 0x4242);
    ip[6] = 0x40;
    ip[8] = 64;
    ip[9] = proto;
    const std::uint8_t src[4] = {198, 51, 100, 1}, dst[4] = {198, 51, 100, 2};
    std::memcpy(&ip[12], src, 4);
    std::memcpy(&ip[16], dst, 4);
    wire::store_be16(&ip[10], wire::csum::ipv4_header(ip.data(), 20));
    pseudo = wire::csum::pseudo_v4(src, dst, proto, static_cast<std::uint32_t>(l4_len));
    f.insert(f.end(), ip.begin(), ip.end());
  }
  const std::size_t l4 = f.size();
  (void)l3;
  Bytes hdr(l4_hdr, 0);
  wire::store_be16(&hdr[0], 40000);
  wire::store_be16(&hdr[2], udp ? 53 : 80);
  if (udp) {
    wire::store_be16(&hdr[4], static_cast<std::uint16_t>(l4_len));
  } else {
    wire::store_be32(&hdr[4], 0x10000000);
    wire::store_be32(&hdr[8], 0x20000000);
    hdr[12] = 0x50;
    hdr[13] = wire::kTcpAck | wire::kTcpPsh;
    wire::store_be16(&hdr[14], 0x01f6);
  }
  f.insert(f.end(), hdr.begin(), hdr.end());
  for (std::size_t i = 0; i < payload; ++i)
    f.push_back(static_cast<std::uint8_t>(i));
  const std::size_t field = l4 + (udp ? wire::kUdpChecksumOffset : wire::kTcpChecksumOffset);
  wire::store_be16(&f[field], wire::csum::finish(wire::csum::sum(&f[l4], l4_len, pseudo)));
  return f;
}

Bytes arp_frame() {
  Bytes f = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0,   1,  0x08, 0x06,
             0,    1,    0x08, 0,    6,    4,    0, 1, 2, 0, 0,   0,  0,    1,
             198,  51,   100,  1,    0,    0,    0, 0, 0, 0, 198, 51, 100,  2};
  return f;
}

// The outer packets encapsulate() makes for `inner`, each linearised.
std::vector<Bytes> encap_packets(const Bytes& inner, bool v6, core::TxForm form,
                                 const core::EncapRequest& req, std::uint32_t first_id) {
  core::TunnelConfig c;
  c.src_mac = *wire::MacAddr::parse("00:00:5e:00:53:01");
  c.dst_mac = *wire::MacAddr::parse("00:00:5e:00:53:02");
  c.src = *wire::IpAddr::parse(v6 ? "2001:db8::1" : "192.0.2.1");
  c.dst = *wire::IpAddr::parse(v6 ? "2001:db8::2" : "192.0.2.2");
  core::Tunnel t(c, first_id);
  static auto* batch = new core::TxBatch();
  static auto* buf = new core::PacketBuffer();
  batch->clear();
  buf->reset();
  std::memcpy(buf->data(), inner.data(), inner.size());
  core::CounterSet<core::EncapCounter> cnt;
  std::vector<Bytes> out;
  if (core::encapsulate(t, buf->frame(inner.size()), req, form, *batch, cnt) !=
      core::EncapStatus::kOk) {
    std::fprintf(stderr, "gen_corpus: encapsulate dropped a %zu-byte frame\n", inner.size());
    return out;
  }
  for (const auto& p : *batch) {
    Bytes b(p.header, p.header + p.header_len);
    b.insert(b.end(), p.payload, p.payload + p.payload_len);
    out.push_back(std::move(b));
  }
  return out;
}

core::OffloadInfo partial_offload(Bytes& f, std::size_t l4, bool udp, std::uint16_t gso,
                                  std::uint8_t gso_type) {
  // Turn the complete checksum back into the pseudo-header form a TAP gives.
  const std::size_t field = l4 + (udp ? wire::kUdpChecksumOffset : wire::kTcpChecksumOffset);
  const bool v6 = f[12] == 0x86;
  const std::size_t l3 = 14;
  const std::uint32_t l4_len = static_cast<std::uint32_t>(f.size() - l4);
  const std::uint8_t proto = udp ? wire::kIpProtoUdp : wire::kIpProtoTcp;
  const std::uint32_t pseudo = v6 ? wire::csum::pseudo_v6(&f[l3 + 8], &f[l3 + 24], proto, l4_len)
                                  : wire::csum::pseudo_v4(&f[l3 + 12], &f[l3 + 16], proto, l4_len);
  wire::store_be16(&f[field], wire::csum::fold(pseudo));
  core::OffloadInfo o;
  o.flags = core::OffloadInfo::kNeedsCsum;
  o.csum_start = static_cast<std::uint16_t>(l4);
  o.csum_offset = udp ? wire::kUdpChecksumOffset : wire::kTcpChecksumOffset;
  o.hdr_len = static_cast<std::uint16_t>(l4 + (udp ? 8 : 20));
  o.gso_size = gso;
  o.gso_type = gso_type;
  return o;
}

// fuzz_decap input: config bytes, then one record per packet.
Bytes decap_input(std::uint8_t dcfg, std::uint8_t rcfg, const std::vector<Bytes>& pkts,
                  std::uint8_t control = 0) {
  Bytes in = {dcfg, rcfg};
  for (const auto& p : pkts)
    fuzz::append_record(in, control, p);
  return in;
}

void decap_corpus() {
  using namespace stt::test;
  const Bytes a = bytes_of(vec_a::kPacket), a6 = bytes_of(vec_a6::kPacket),
              b = bytes_of(vec_b::kPacket);
  const Bytes c1 = vec_c::segment(0), c2 = vec_c::segment(1), c3 = vec_c::segment(2);
  write("fuzz_decap", "vec-a", decap_input(0, 0xff, {a}));
  write("fuzz_decap", "vec-a6", decap_input(3, 0xff, {a6}));
  write("fuzz_decap", "vec-b-uniform-ecn", decap_input(3, 0xff, {b}));
  write("fuzz_decap", "vec-c-in-order", decap_input(2, 0xff, {c1, c2, c3}));
  write("fuzz_decap", "vec-c-reversed", decap_input(2, 0xff, {c3, c2, c1}));
  write("fuzz_decap", "vec-c-duplicate", decap_input(2, 0xff, {c1, c1, c2, c3}));
  write("fuzz_decap", "vec-c-lost-then-a", decap_input(0, 0x80, {c1, c3, a}, 0x08));
  write("fuzz_decap", "vec-mixed-data-valid", decap_input(1, 0xff, {c2, a, c1, b, c3}, 1));
  Bytes bv = b;
  bv[54] = 1;  // STT version 1; the checksum is fixed by control 3
  write("fuzz_decap", "vec-b-version1", decap_input(0, 0xff, {bv}, 3));
  Bytes bcp = b;
  bcp[55] = 0x03;  // C and P both set
  write("fuzz_decap", "vec-b-c-and-p", decap_input(0, 0xff, {bcp}, 3));

  core::EncapRequest req;
  req.context_id = 42;
  for (bool v6 : {false, true}) {
    const char* v = v6 ? "v6" : "v4";
    Bytes big = inner_frame(false, false, 20000, false);
    write("fuzz_decap", std::string("encap-20k-segments-") + v,
          decap_input(0, 0xff, encap_packets(big, v6, core::TxForm::kSegmented, req, 7), 1));
    Bytes tcp = inner_frame(true, false, 3000, true);
    core::EncapRequest r2 = req;
    r2.offload = partial_offload(tcp, 18 + 40, false, 1440, core::OffloadInfo::kGsoTcpv6);
    write("fuzz_decap", std::string("encap-tcp6-tso-vlan-") + v,
          decap_input(3, 0xff, encap_packets(tcp, v6, core::TxForm::kSegmented, r2, 9)));
    write("fuzz_decap", std::string("encap-gso-form-") + v,
          decap_input(0, 0xff, encap_packets(tcp, v6, core::TxForm::kGso, r2, 11), 2));
    Bytes udp = inner_frame(false, true, 2000, false);
    core::EncapRequest r3 = req;
    r3.offload = partial_offload(udp, 34, true, 1400, core::OffloadInfo::kGsoUdpL4);
    write("fuzz_decap", std::string("encap-udp-uso-") + v,
          decap_input(0, 0xff, encap_packets(udp, v6, core::TxForm::kSegmented, r3, 13)));
  }
  // A 64 KB frame, its segments interleaved with another frame's.
  Bytes huge = inner_frame(false, false, 65000 - 54, false);
  auto hs = encap_packets(huge, false, core::TxForm::kSegmented, req, 100);
  auto ss = encap_packets(inner_frame(false, false, 4000, false), false, core::TxForm::kSegmented,
                          req, 200);
  std::vector<Bytes> mix;
  for (std::size_t i = 0; i < hs.size(); ++i) {
    mix.push_back(hs[i]);
    if (i < ss.size()) mix.push_back(ss[ss.size() - 1 - i]);
  }
  write("fuzz_decap", "encap-64k-interleaved", decap_input(0, 0xff, mix, 1));
  write(
      "fuzz_decap", "encap-arp",
      decap_input(0, 0x07, encap_packets(arp_frame(), false, core::TxForm::kSegmented, req, 300)));
}

void parse_corpus() {
  using namespace stt::test;
  auto with = [](std::uint8_t control, const Bytes& p) {
    Bytes in = {control};
    in.insert(in.end(), p.begin(), p.end());
    return in;
  };
  write("fuzz_parse", "vec-a", with(0x20, bytes_of(vec_a::kPacket)));
  write("fuzz_parse", "vec-a6", with(0x20, bytes_of(vec_a6::kPacket)));
  write("fuzz_parse", "vec-b-local", with(0x24, bytes_of(vec_b::kPacket)));
  write("fuzz_parse", "vec-c1-fixed", with(0x23, vec_c::segment(0)));
  write("fuzz_parse", "vec-c3-valid", with(0x21, vec_c::segment(2)));
  write("fuzz_parse", "vec-b-tagged-inner", with(0x20, bytes_of(vec_b::kTaggedFrame)));
  write("fuzz_parse", "inner-tcp6-tagged", with(0x20, inner_frame(true, false, 100, true)));
  write("fuzz_parse", "inner-udp4", with(0x20, inner_frame(false, true, 30, false)));
  write("fuzz_parse", "inner-arp", with(0x20, arp_frame()));
  Bytes ext = inner_frame(true, false, 10, false);
  // IPv6 with a hop-by-hop header in front of TCP.
  ext[14 + 6] = wire::kIpv6HopByHop;
  const std::uint8_t hbh[8] = {wire::kIpProtoTcp, 0, 1, 4, 0, 0, 0, 0};
  ext.insert(ext.begin() + 54, hbh, hbh + 8);
  wire::store_be16(&ext[14 + 4], static_cast<std::uint16_t>(ext.size() - 54));
  write("fuzz_parse", "inner-ipv6-hbh", with(0x20, ext));
}

void encap_corpus() {
  using namespace stt::test;
  auto input = [](std::uint8_t mode, std::uint16_t vlan, std::uint64_t ctx, const Bytes& offload,
                  std::uint16_t stretch, const Bytes& frame) {
    Bytes in = {mode};
    in.push_back(static_cast<std::uint8_t>(vlan >> 8));
    in.push_back(static_cast<std::uint8_t>(vlan));
    for (int i = 7; i >= 0; --i)
      in.push_back(static_cast<std::uint8_t>(ctx >> (8 * i)));
    in.insert(in.end(), offload.begin(), offload.end());
    if (mode & 0x20) {
      in.push_back(static_cast<std::uint8_t>(stretch >> 8));
      in.push_back(static_cast<std::uint8_t>(stretch));
    }
    in.insert(in.end(), frame.begin(), frame.end());
    return in;
  };
  const Bytes none(10, 0);
  const Bytes coherent_tso = {1, 0x05, 0xa8};  // GSO, size 1448
  const Bytes coherent_csum = {0, 0, 0};       // NEEDS_CSUM only
  const Bytes coherent_ufo = {3, 0x05, 0x00};  // UDP fragments (UFO)
  const Bytes ecn_tso = {3, 0x02, 0x00};       // TCP with the ECN bit
  const Bytes coherent_uso = {1, 0x02, 0x00};  // UDP datagrams (USO)
  const Bytes a_inner = bytes_of(vec_a::inner_frame());
  const Bytes b_tagged = bytes_of(vec_b::kTaggedFrame);
  const Bytes c_inner = vec_c::inner_frame();
  write("fuzz_encap", "vec-a-v4", input(0x00, 0, vec_a::kContextId, none, 0, a_inner));
  write("fuzz_encap", "vec-a-v6", input(0x01, 0, vec_a::kContextId, none, 0, a_inner));
  write("fuzz_encap", "vec-a-vlan-req", input(0x08, 0xa064, 1, none, 0, a_inner));
  write("fuzz_encap", "vec-b-tagged-csum",
        input(0x10, 0, vec_b::kContextId, coherent_csum, 0, b_tagged));
  write("fuzz_encap", "vec-c-tso", input(0x10, 0, vec_c::kContextId, coherent_tso, 0, c_inner));
  write("fuzz_encap", "vec-c-tso-v6-mtu1280",
        input(0x13, 0, vec_c::kContextId, coherent_tso, 0, c_inner));
  write("fuzz_encap", "vec-c-tso-ecn", input(0x10, 0, 5, ecn_tso, 0, c_inner));
  write("fuzz_encap", "tcp-stretch-64k",
        input(0x30, 0, 6, coherent_tso, 65000, inner_frame(false, false, 200, false)));
  write("fuzz_encap", "tcp-stretch-max-no-offload",
        input(0x20, 0, 6, none, 65517, inner_frame(false, false, 200, false)));
  write("fuzz_encap", "tcp6-tso-mtu9000",
        input(0x15, 0, 7, coherent_tso, 0, inner_frame(true, false, 5000, false)));
  write("fuzz_encap", "udp-ufo",
        input(0x10, 0, 8, coherent_ufo, 0, inner_frame(false, true, 3000, false)));
  write("fuzz_encap", "udp-uso-v6",
        input(0x11, 0, 8, coherent_uso, 0, inner_frame(true, true, 3000, true)));
  write("fuzz_encap", "arp-mtu576", input(0x06, 0, 9, none, 0, arp_frame()));
  const Bytes raw_partial = {core::OffloadInfo::kNeedsCsum, 0, 0, 54, 0, 0, 0, 34, 0, 16};
  write("fuzz_encap", "raw-partial",
        input(0x00, 0, 10, raw_partial, 0, inner_frame(false, false, 100, false)));
  const Bytes raw_bad = {core::OffloadInfo::kNeedsCsum, 1, 0, 54, 0, 100, 0xff, 0xf0, 0, 16};
  write("fuzz_encap", "raw-bad-offsets",
        input(0x00, 0, 11, raw_bad, 0, inner_frame(false, false, 100, false)));
}

// fuzz_reassembly operations (see fuzz_reassembly.cpp for the encoding).
void reassembly_corpus() {
  auto quarter = [](unsigned peer, unsigned id, unsigned lsel, unsigned first, unsigned count,
                    std::uint8_t extra = 0) {
    return Bytes{static_cast<std::uint8_t>(0x00 | extra),
                 static_cast<std::uint8_t>(peer | (id << 2) | (lsel << 5)),
                 static_cast<std::uint8_t>(first | ((count - 1) << 2))};
  };
  auto cat = [](std::initializer_list<Bytes> parts, std::uint8_t timeout) {
    Bytes out = {timeout};
    for (const auto& p : parts)
      out.insert(out.end(), p.begin(), p.end());
    return out;
  };
  const Bytes expire = {0x03};
  auto step = [](std::uint8_t code) { return Bytes{0x02, code}; };
  for (unsigned lsel = 0; lsel < 8; ++lsel) {
    write("fuzz_reassembly", "in-order-L" + std::to_string(lsel),
          cat({quarter(0, 1, lsel, 0, 1), quarter(0, 1, lsel, 1, 1), quarter(0, 1, lsel, 2, 1),
               quarter(0, 1, lsel, 3, 1)},
              2));
  }
  write("fuzz_reassembly", "reverse-ce",
        cat({quarter(1, 2, 6, 3, 1, 0x0c), quarter(1, 2, 6, 2, 1), quarter(1, 2, 6, 1, 1, 0x10),
             quarter(1, 2, 6, 0, 1, 0x04)},
            2));
  write("fuzz_reassembly", "whole-and-halves",
        cat({quarter(0, 0, 3, 0, 4), quarter(2, 3, 3, 0, 2), quarter(2, 3, 3, 2, 2)}, 2));
  write("fuzz_reassembly", "overlap-duplicate",
        cat({quarter(0, 1, 7, 0, 2), quarter(0, 1, 7, 0, 2), quarter(0, 1, 7, 1, 2, 0x20),
             quarter(0, 1, 7, 2, 2)},
            2));
  write("fuzz_reassembly", "length-mismatch",
        cat({quarter(0, 1, 4, 0, 1), quarter(0, 1, 5, 1, 1), quarter(0, 1, 5, 0, 4)}, 2));
  write(
      "fuzz_reassembly", "timeout-boundary",
      cat({quarter(0, 1, 4, 0, 1), step(4), quarter(0, 1, 4, 1, 1), step(0), expire,
           quarter(0, 1, 4, 2, 2), quarter(3, 1, 4, 0, 2), step(5), expire, quarter(3, 1, 4, 2, 2)},
          1));
  write("fuzz_reassembly", "stale-on-add",
        cat({quarter(0, 1, 4, 0, 1), step(6), quarter(0, 1, 4, 1, 3)}, 0));
  write("fuzz_reassembly", "arbitrary-pieces",
        cat({Bytes{0x80, 0x27, 0x00, 0x40}, Bytes{0x81, 0x27, 0x40, 0xff},
             Bytes{0x80, 0x27, 0x30, 0x20}},
            3));
  Bytes many = {2};
  for (unsigned peer = 0; peer < 4; ++peer) {
    for (unsigned id = 0; id < 8; ++id) {
      auto q = quarter(peer, id, 6, 0, 3);
      many.insert(many.end(), q.begin(), q.end());
    }
  }
  for (unsigned peer = 0; peer < 4; ++peer) {
    for (unsigned id = 0; id < 8; ++id) {
      auto q = quarter(peer, id, 6, 3, 1);
      many.insert(many.end(), q.begin(), q.end());
    }
  }
  write("fuzz_reassembly", "all-keys", many);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
    return 2;
  }
  g_out = argv[1];
  parse_corpus();
  reassembly_corpus();
  decap_corpus();
  encap_corpus();
  std::printf("gen_corpus: wrote %d files under %s\n", g_files, g_out.c_str());
  return 0;
}
