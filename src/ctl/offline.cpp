#include "ctl/offline.hpp"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "core/buffer.hpp"
#include "core/counters.hpp"
#include "core/decap.hpp"
#include "core/encap.hpp"
#include "core/offload.hpp"
#include "core/reassembly.hpp"
#include "core/rx.hpp"
#include "ctl/json_out.hpp"
#include "ctl/pcap_file.hpp"
#include "wire/addr.hpp"
#include "wire/bytes.hpp"
#include "wire/checksum.hpp"
#include "wire/context_id.hpp"
#include "wire/headers.hpp"
#include "wire/parse.hpp"

namespace stt::ctl {

// ------------------------------------------------------------ argument parsing

namespace {

using Json = nlohmann::ordered_json;

// Every counter of the set, by name, in enum order (zeros included).
template <typename E>
Json counters_json(const core::CounterSet<E>& set) {
  Json j = Json::object();
  set.for_each([&](std::string_view name, std::uint64_t v) { j[std::string(name)] = v; });
  return j;
}

bool parse_small(std::string_view text, unsigned max, unsigned* out) {
  if (text.empty()) return false;
  unsigned v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v, 10);
  if (ec != std::errc{} || end != text.data() + text.size() || v > max) return false;
  *out = v;
  return true;
}

}  // namespace

bool parse_vlan(std::string_view text, core::VlanTci* out) {
  std::string_view vid_text = text;
  std::string_view pcp_text;
  if (auto colon = text.find(':'); colon != std::string_view::npos) {
    vid_text = text.substr(0, colon);
    pcp_text = text.substr(colon + 1);
    if (pcp_text.empty()) return false;
  }
  unsigned vid = 0, pcp = 0;
  // VID 4095 is reserved by 802.1Q and never sent (digest §6.1).
  if (!parse_small(vid_text, 4094, &vid)) return false;
  if (!pcp_text.empty() && !parse_small(pcp_text, 7, &pcp)) return false;
  out->vid = static_cast<std::uint16_t>(vid);
  out->pcp = static_cast<std::uint8_t>(pcp);
  return true;
}

namespace {

std::uint64_t ns_from_ms(std::uint32_t ms) {
  return std::uint64_t{ms} * 1'000'000u;
}

int fail(const char* verb, const std::string& msg) {
  std::fprintf(stderr, "sttctl %s: %s\n", verb, msg.c_str());
  return 1;
}

// Counters of the tools themselves (records they could not hand to libstt).
struct ToolCounters {
  std::uint64_t records = 0;
  std::uint64_t skipped_truncated = 0;  // caplen < wire length: the frame is not all there
  std::uint64_t skipped_oversize = 0;   // larger than any frame libstt accepts
};

// Counts one record and copies it into `buf`, behind the buffer's headroom.
// False (counted) when the capture cut the frame short or it is too large.
bool load_record(const PcapRecord& rec, core::PacketBuffer& buf, ToolCounters& tool) {
  ++tool.records;
  if (rec.truncated()) {
    ++tool.skipped_truncated;
    return false;
  }
  buf.reset();
  if (rec.data.size() > buf.tailroom()) {
    ++tool.skipped_oversize;
    return false;
  }
  std::memcpy(buf.data(), rec.data.data(), rec.data.size());
  buf.set_size(rec.data.size());
  return true;
}

// ------------------------------------------------------------ encap

// Offload state for one inner frame, as a TAP with IFF_VNET_HDR would hand
// it over. With --csum-partial (or --tso) a TCP/UDP frame gets its L4
// checksum replaced by the folded pseudo-header sum and NEEDS_CSUM; with
// --tso a TCP frame whose payload exceeds the MSS also becomes a GSO
// super-packet. Other frames are left complete (DATA_VALID with
// --csum-verified).
core::OffloadInfo prepare_offload(std::uint8_t* f, std::size_t len, const EncapOptions& opt) {
  core::OffloadInfo o;
  if (opt.csum_partial || opt.tso_mss != 0) {
    wire::PacketLayout lay;
    if (wire::parse_ethernet(f, len, &lay, 1) == wire::ParseError::kOk && !lay.ip_fragment &&
        (lay.is_tcp() || lay.is_udp()) && lay.ip_end <= len) {
      const std::uint32_t l4_len = lay.ip_end - lay.l4_offset;
      const std::uint32_t pseudo =
          wire::csum::pseudo(f + lay.l3_offset, lay.ip_version, lay.l4_proto, l4_len);
      const std::uint16_t field =
          lay.is_tcp() ? wire::kTcpChecksumOffset : wire::kUdpChecksumOffset;
      wire::store_be16(f + lay.l4_offset + field, wire::csum::fold(pseudo));
      o.flags = core::OffloadInfo::kNeedsCsum;
      o.csum_start = static_cast<std::uint16_t>(lay.l4_offset);
      o.csum_offset = field;
      const std::uint32_t payload = lay.ip_end - lay.payload_offset();
      if (opt.tso_mss != 0 && lay.is_tcp() && payload > opt.tso_mss) {
        o.gso_type =
            lay.ip_version == 4 ? core::OffloadInfo::kGsoTcpv4 : core::OffloadInfo::kGsoTcpv6;
        o.gso_size = opt.tso_mss;
        o.hdr_len = static_cast<std::uint16_t>(lay.payload_offset());
      }
      return o;
    }
  }
  if (opt.csum_verified) o.flags = core::OffloadInfo::kDataValid;
  return o;
}

}  // namespace

int run_encap(const EncapOptions& opt, std::FILE* out) {
  const char* verb = "encap";
  const std::optional<std::uint64_t> id = wire::parse_context_id(opt.context_id);
  if (!id) {
    return fail(verb, "--context-id '" + opt.context_id +
                          "' is not a 64-bit number (decimal, or hex with 0x)");
  }
  const std::uint64_t context_id = *id;
  std::optional<core::VlanTci> vlan;
  if (!opt.vlan.empty()) {
    core::VlanTci v;
    if (!parse_vlan(opt.vlan, &v)) {
      return fail(verb, "--vlan '" + opt.vlan + "' is not VID[:PCP] with VID 0..4094, PCP 0..7");
    }
    vlan = v;
  }
  auto src = wire::IpAddr::parse(opt.src);
  if (!src) return fail(verb, "--src '" + opt.src + "' is not an IPv4 or IPv6 address");
  auto dst = wire::IpAddr::parse(opt.dst);
  if (!dst) return fail(verb, "--dst '" + opt.dst + "' is not an IPv4 or IPv6 address");
  if (src->version() != dst->version()) {
    return fail(verb,
                "--src " + opt.src + " and --dst " + opt.dst + " must both be IPv4 or both IPv6");
  }
  auto src_mac = wire::MacAddr::parse(opt.src_mac);
  if (!src_mac) return fail(verb, "--src-mac '" + opt.src_mac + "' is not a MAC address");
  auto dst_mac = wire::MacAddr::parse(opt.dst_mac);
  if (!dst_mac) return fail(verb, "--dst-mac '" + opt.dst_mac + "' is not a MAC address");

  core::TunnelConfig cfg;
  cfg.src_mac = *src_mac;
  cfg.dst_mac = *dst_mac;
  cfg.src = *src;
  cfg.dst = *dst;
  cfg.dst_port = opt.dst_port;
  cfg.ttl = static_cast<std::uint8_t>(opt.ttl);
  cfg.dscp_mode = opt.dscp_mode == "pipe" ? core::DscpMode::kPipe : core::DscpMode::kUniform;
  cfg.pipe_dscp = static_cast<std::uint8_t>(opt.pipe_dscp);
  cfg.mtu = opt.mtu;
  // Every segment must carry some STT bytes behind outer IP + TCP.
  const unsigned min_mtu = (src->is_v6() ? 60u : 40u) + 28u;
  if (opt.mtu < min_mtu) {
    return fail(verb, fmt::format("--mtu {} is too small for an IPv{} underlay (at least {})",
                                  opt.mtu, src->version(), min_mtu));
  }
  core::Tunnel tunnel(cfg, opt.packet_id);

  std::string err;
  PcapReader in;
  if (!in.open(opt.input, &err)) return fail(verb, err);
  PcapWriter writer;
  if (!writer.open(opt.output, in.precision(), &err)) return fail(verb, err);

  const core::TxForm form = opt.gso ? core::TxForm::kGso : core::TxForm::kSegmented;
  auto batch = std::make_unique<core::TxBatch>();
  core::PacketBuffer buf;
  std::vector<std::uint8_t> packet(kPcapSnaplen);
  core::CounterSet<core::EncapCounter> counters;
  ToolCounters tool;
  std::uint64_t written = 0;

  PcapRecord rec;
  for (;;) {
    PcapReader::Next n = in.next(&rec, &err);
    if (n == PcapReader::Next::kEnd) break;
    if (n == PcapReader::Next::kError) return fail(verb, err);
    if (!load_record(rec, buf, tool)) continue;

    core::EncapRequest req;
    req.context_id = context_id;
    req.vlan = vlan;
    req.offload = prepare_offload(buf.data(), buf.size(), opt);

    batch->clear();
    if (core::encapsulate(tunnel, buf.frame(), req, form, *batch, counters) !=
        core::EncapStatus::kOk) {
      continue;  // counted by libstt
    }
    for (const core::TxPacket& p : *batch) {
      const std::size_t total = std::size_t{p.header_len} + p.payload_len;
      if (total > packet.size()) {
        return fail(verb, fmt::format("input record {}: outer packet of {} bytes is larger than "
                                      "a pcap record may be",
                                      rec.number, total));
      }
      std::memcpy(packet.data(), p.header, p.header_len);
      std::memcpy(packet.data() + p.header_len, p.payload, p.payload_len);
      // A GSO super-segment leaves the outer TCP checksum partial for the
      // NIC; a capture file should hold what a receiver can verify.
      if (p.gso.needs_csum() && !core::complete_checksum({packet.data(), total}, p.gso.csum_start,
                                                         p.gso.csum_offset, false)) {
        return fail(verb, fmt::format("input record {}: libstt returned outer checksum offsets "
                                      "{}+{} outside a {}-byte packet",
                                      rec.number, p.gso.csum_start, p.gso.csum_offset, total));
      }
      if (!writer.write(rec.ts_ns, {packet.data(), total}, &err)) return fail(verb, err);
      ++written;
    }
  }
  if (!writer.close(&err)) return fail(verb, err);

  if (!opt.quiet) {
    std::string lines;
    nonzero_counters("encap", counters, &lines);
    if (tool.skipped_truncated != 0) {
      lines += fmt::format("  input.skipped_truncated = {}\n", tool.skipped_truncated);
    }
    if (tool.skipped_oversize != 0) {
      lines += fmt::format("  input.skipped_oversize = {}\n", tool.skipped_oversize);
    }
    std::fprintf(out, "sttctl encap: %llu inner frames from %s -> %llu packets in %s\n%s",
                 static_cast<unsigned long long>(tool.records), opt.input.c_str(),
                 static_cast<unsigned long long>(written), opt.output.c_str(), lines.c_str());
  }
  return 0;
}

// ------------------------------------------------------------ decap

namespace {

Json frame_json(const PcapRecord& rec, const core::ReassembledFrame& f, const core::SttInfo& h,
                const core::InnerFrame& inner, bool with_offload) {
  const InnerSummary s = summarize_inner({inner.data, inner.len});
  Json j;
  j["frame"] = rec.number;
  j["context_id"] = context_id_hex(h.context_id);
  j["version"] = h.version;
  j["flags"] = h.flags;
  j["flag_names"] = flag_text(h.flags);
  j["l4_offset"] = h.l4_offset;
  j["mss"] = h.mss;
  j["vlan_tci"] = h.vlan_tci;
  j["vlan_valid"] = (h.vlan_tci & wire::kSttVlanValid) != 0;
  j["vlan_id"] = wire::tci_vid(h.vlan_tci);
  j["vlan_pcp"] = wire::tci_pcp(h.vlan_tci);
  j["stt_length"] = f.len;
  j["segments"] = f.segments;
  j["packet_id"] = f.packet_id;
  j["src_port"] = f.src_port;
  j["outer_src"] = f.outer_src.to_string();
  j["outer_dst"] = f.outer_dst.to_string();
  if (s.valid) {
    j["inner_src"] = s.src;
    j["inner_dst"] = s.dst;
    j["inner_ethertype"] = ethertype_hex(s.ethertype);
  } else {
    j["inner_src"] = nullptr;
    j["inner_dst"] = nullptr;
    j["inner_ethertype"] = nullptr;
  }
  j["inner_length"] = inner.len;
  if (with_offload) {
    const core::OffloadInfo& o = inner.offload;
    j["offload"] = {{"flags", o.flags},           {"gso_type", o.gso_type},
                    {"hdr_len", o.hdr_len},       {"gso_size", o.gso_size},
                    {"csum_start", o.csum_start}, {"csum_offset", o.csum_offset}};
  }
  return j;
}

void print_table_header(std::FILE* out) {
  std::fprintf(out, "%6s %4s %-18s %-14s %5s %5s %-10s %6s %-33s %-37s %-6s %6s\n", "frame", "segs",
               "context_id", "flags", "l4off", "mss", "vlan", "len", "outer", "inner", "type",
               "inner");
}

void print_table_row(std::FILE* out, const PcapRecord& rec, const core::ReassembledFrame& f,
                     const core::SttInfo& h, const core::InnerFrame& inner) {
  const InnerSummary s = summarize_inner({inner.data, inner.len});
  std::string vlan = "-";
  if (h.vlan_tci & wire::kSttVlanValid) {
    vlan = fmt::format("{}:{}", wire::tci_vid(h.vlan_tci), wire::tci_pcp(h.vlan_tci));
  }
  std::string outer = f.outer_src.to_string() + " > " + f.outer_dst.to_string();
  std::string macs = s.valid ? s.src + " > " + s.dst : "?";
  std::string type = s.valid ? ethertype_hex(s.ethertype) : "?";
  std::string flags = fmt::format("0x{:02x} {}", h.flags, flag_text(h.flags));
  std::fprintf(out, "%6llu %4u %-18s %-14s %5u %5u %-10s %6u %-33s %-37s %-6s %6u\n",
               static_cast<unsigned long long>(rec.number), unsigned{f.segments},
               context_id_hex(h.context_id).c_str(), flags.c_str(), unsigned{h.l4_offset},
               unsigned{h.mss}, vlan.c_str(), unsigned{f.len}, outer.c_str(), macs.c_str(),
               type.c_str(), unsigned{inner.len});
}

}  // namespace

namespace {

// The drop counters of a set ("drop_..."; the reassembler's expired and
// evicted frames too) that are not zero, as "group.name N" phrases.
template <typename E>
void drop_phrases(std::string_view group, const core::CounterSet<E>& set, std::string* out,
                  std::uint64_t* total) {
  set.for_each([&](std::string_view name, std::uint64_t v) {
    const bool drop = name.starts_with("drop_") || name == "expired" || name == "evicted";
    if (!drop || v == 0) return;
    *out += fmt::format("{}{}.{} {}", out->empty() ? "" : ", ", group, name, v);
    *total += v;
  });
}

// What the drops of a decap run were, and what to try, on stderr.
void print_decap_hints(const DecapOptions& opt, const ToolCounters& tool,
                       const core::CounterSet<core::RxCounter>& rx_counters,
                       const core::Reassembler& reasm,
                       const core::CounterSet<core::DecapCounter>& decap_counters) {
  const core::ReassemblyStats stats = reasm.stats();
  std::string why;
  std::uint64_t dropped = tool.skipped_truncated + tool.skipped_oversize;
  if (tool.skipped_truncated != 0) {
    why += fmt::format("input.skipped_truncated {}", tool.skipped_truncated);
  }
  if (tool.skipped_oversize != 0) {
    why +=
        fmt::format("{}input.skipped_oversize {}", why.empty() ? "" : ", ", tool.skipped_oversize);
  }
  drop_phrases("rx", rx_counters, &why, &dropped);
  drop_phrases("reassembly", reasm.counters(), &why, &dropped);
  drop_phrases("decap", decap_counters, &why, &dropped);
  if (dropped != 0) {
    std::fprintf(stderr, "sttctl decap: %llu packet(s) or frame(s) dropped: %s\n",
                 static_cast<unsigned long long>(dropped), why.c_str());
  }
  if (tool.skipped_truncated != 0) {
    std::fprintf(stderr,
                 "sttctl decap: %llu packet(s) cut short by the capture's snap length: capture "
                 "again with the whole packet (dumpcap -s 0)\n",
                 static_cast<unsigned long long>(tool.skipped_truncated));
  }
  const std::uint64_t other_port = rx_counters.get(core::RxCounter::kNotOurPort);
  if (rx_counters.get(core::RxCounter::kSegments) == 0 && other_port != 0) {
    std::fprintf(stderr,
                 "sttctl decap: no segment to port %u, %llu TCP packet(s) to other ports: if the "
                 "tunnel uses another port, try --port\n",
                 unsigned{opt.port}, static_cast<unsigned long long>(other_port));
  }
  if (reasm.counters().get(core::ReasmCounter::kExpired) != 0) {
    std::fprintf(stderr,
                 "sttctl decap: frame(s) expired before their last segment came (%u ms of capture "
                 "time): if the capture is slow, try a longer --timeout\n",
                 opt.timeout_ms);
  }
  // A capture taken on the receiving host holds segments as the NIC handed
  // them up: with checksum offload their TCP checksum was never filled in by
  // the sender's NIC as seen here, so they look corrupt.
  const std::uint64_t bad_csum = rx_counters.get(core::RxCounter::kDropBadTcpChecksum);
  if (bad_csum != 0 && !opt.trust_checksums) {
    std::fprintf(stderr,
                 "sttctl decap: %llu segment(s) dropped for a bad TCP checksum. A capture taken "
                 "on the receiving host (or the sender, with checksum offload) holds checksums "
                 "the NIC never checked or filled in: if so, try --trust-checksums\n",
                 static_cast<unsigned long long>(bad_csum));
  }
  if (stats.frames_in_flight != 0) {
    std::fprintf(stderr,
                 "sttctl decap: %llu frame(s) incomplete at the end of the capture: segments "
                 "missing (a capture filter or a snap length too short?)\n",
                 static_cast<unsigned long long>(stats.frames_in_flight));
  }
}

}  // namespace

int run_decap(const DecapOptions& opt, std::FILE* out) {
  const char* verb = "decap";
  std::string err;
  PcapReader in;
  if (!in.open(opt.input, &err)) return fail(verb, err);
  PcapWriter writer;
  if (!opt.output.empty() && !writer.open(opt.output, in.precision(), &err)) {
    return fail(verb, err);
  }

  core::RxConfig rx_cfg;
  rx_cfg.port = opt.port;
  core::ReassemblyConfig reasm_cfg;
  reasm_cfg.timeout_ns = ns_from_ms(opt.timeout_ms);
  core::Reassembler reasm(reasm_cfg);
  core::DecapConfig decap_cfg;
  decap_cfg.offload_consumer = opt.keep_offload;
  decap_cfg.dscp_mode =
      opt.dscp_mode == "uniform" ? core::DscpMode::kUniform : core::DscpMode::kPipe;
  core::OffloadInfo rx_offload;
  if (opt.trust_checksums) rx_offload.flags = core::OffloadInfo::kDataValid;

  auto dout = std::make_unique<core::DecapOutput>();
  core::CounterSet<core::RxCounter> rx_counters;
  core::CounterSet<core::DecapCounter> decap_counters;
  ToolCounters tool;
  std::uint64_t delivered = 0;
  core::PacketBuffer pkt;

  if (!opt.json) print_table_header(out);

  PcapRecord rec;
  for (;;) {
    PcapReader::Next n = in.next(&rec, &err);
    if (n == PcapReader::Next::kEnd) break;
    if (n == PcapReader::Next::kError) return fail(verb, err);
    if (!load_record(rec, pkt, tool)) continue;

    reasm.expire(rec.ts_ns);
    core::SttSegment seg;
    core::RxCounter rc = core::parse_segment(pkt.data(), pkt.size(), rx_offload, rx_cfg, &seg);
    rx_counters.inc(rc);
    if (rc != core::RxCounter::kSegments) continue;

    core::ReassembledFrame frame;
    if (!reasm.add(seg, rec.ts_ns, &frame)) continue;
    // The header is read before decapsulation rewrites the frame in place.
    core::SttInfo header;
    if (!core::read_stt_header(frame.data, frame.len, &header)) header = core::SttInfo{};

    dout->clear();
    if (core::decapsulate(frame, decap_cfg, *dout, decap_counters) != core::DecapStatus::kOk) {
      continue;  // counted by libstt
    }
    for (const core::InnerFrame& inner : *dout) {
      ++delivered;
      if (writer.is_open() && !writer.write(rec.ts_ns, {inner.data, inner.len}, &err)) {
        return fail(verb, err);
      }
      if (opt.json) {
        std::fprintf(out, "%s\n",
                     frame_json(rec, frame, header, inner, opt.keep_offload).dump().c_str());
      } else {
        print_table_row(out, rec, frame, header, inner);
      }
    }
  }
  if (writer.is_open() && !writer.close(&err)) return fail(verb, err);

  const core::ReassemblyStats stats = reasm.stats();
  if (opt.json) {
    Json summary;
    summary["packets"] = tool.records;
    summary["frames_delivered"] = delivered;
    summary["skipped_truncated"] = tool.skipped_truncated;
    summary["skipped_oversize"] = tool.skipped_oversize;
    summary["incomplete_at_end"] = stats.frames_in_flight;
    summary["rx"] = counters_json(rx_counters);
    summary["reassembly"] = counters_json(reasm.counters());
    summary["decap"] = counters_json(decap_counters);
    Json top;
    top["summary"] = std::move(summary);
    std::fprintf(out, "%s\n", top.dump().c_str());
  } else {
    std::string lines;
    nonzero_counters("rx", rx_counters, &lines);
    nonzero_counters("reassembly", reasm.counters(), &lines);
    nonzero_counters("decap", decap_counters, &lines);
    if (tool.skipped_truncated != 0) {
      lines += fmt::format("  input.skipped_truncated = {}\n", tool.skipped_truncated);
    }
    if (tool.skipped_oversize != 0) {
      lines += fmt::format("  input.skipped_oversize = {}\n", tool.skipped_oversize);
    }
    if (stats.frames_in_flight != 0) {
      lines += fmt::format("  reassembly.incomplete_at_end = {}\n", stats.frames_in_flight);
    }
    std::fprintf(out, "\n%llu packets read, %llu inner frames delivered%s\n%s",
                 static_cast<unsigned long long>(tool.records),
                 static_cast<unsigned long long>(delivered),
                 opt.output.empty() ? "" : (" to " + opt.output).c_str(), lines.c_str());
  }
  // Why, and what to try, on stderr so -j output stays one JSON document.
  // The exit status stays 0: the capture was read to the end, and what it
  // held is reported, as tshark and `tcpdump -r` do (docs/cli.md).
  print_decap_hints(opt, tool, rx_counters, reasm, decap_counters);
  return 0;
}

// ------------------------------------------------------------ CLI

namespace {

CLI::Validator context_id_validator() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        return wire::parse_context_id(s) ? std::string()
                                         : "'" + s + "' is not a 64-bit number (decimal or 0x hex)";
      },
      "ID");
}

CLI::Validator vlan_validator() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        core::VlanTci v;
        return parse_vlan(s, &v) ? std::string()
                                 : "'" + s + "' is not VID[:PCP] (VID 0..4094, PCP 0..7)";
      },
      "VID[:PCP]");
}

void add_encap(CLI::App& app) {
  auto o = std::make_shared<EncapOptions>();
  CLI::App* c = app.add_subcommand(
      "encap",
      "Encapsulate a pcap of inner Ethernet frames into STT: one STT frame per inner frame, cut "
      "into segments that fit --mtu (or one GSO super-segment with --gso). Output timestamps are "
      "the input's.");
  c->add_option("-i,--input", o->input, "pcap of inner Ethernet frames")->required();
  c->add_option("-o,--output", o->output, "pcap of STT segments to write")->required();
  c->add_option("--context-id", o->context_id, "64-bit context ID, decimal or 0x hex")
      ->required()
      ->check(context_id_validator());
  c->add_option("--src", o->src, "outer source address (IPv4 or IPv6)")->required();
  c->add_option("--dst", o->dst, "outer destination address (same family as --src)")->required();
  c->add_option("--mtu", o->mtu, "underlay IP MTU: no outer IP packet exceeds it")
      ->capture_default_str()
      ->check(CLI::Range(68, 65535));
  c->add_flag("--gso", o->gso,
              "write one GSO super-segment per STT frame (as handed to a TSO NIC; the outer TCP "
              "checksum is completed so the capture verifies)");
  c->add_option("--dst-port", o->dst_port, "STT destination port")->capture_default_str();
  c->add_option("--vlan", o->vlan,
                "carry this VLAN in the STT header (otherwise a single 802.1Q tag in the inner "
                "frame is moved there)")
      ->check(vlan_validator());
  c->add_flag(
      "--csum-partial", o->csum_partial,
      "treat inner TCP/UDP frames as checksum-partial: their L4 checksum is replaced by the "
      "pseudo-header sum and they are sent with P set (the receiver finishes it)");
  c->add_flag("--csum-verified", o->csum_verified,
              "mark frames that are not checksum-partial as verified (C flag)");
  c->add_option("--tso", o->tso_mss,
                "inner TCP frames whose payload exceeds MSS are GSO super-packets with this MSS "
                "(implies --csum-partial for TCP/UDP)")
      ->check(CLI::Range(1, 65535));
  c->add_option("--src-mac", o->src_mac, "outer source MAC")->capture_default_str();
  c->add_option("--dst-mac", o->dst_mac, "outer destination MAC")->capture_default_str();
  c->add_option("--packet-id", o->packet_id, "packet ID (TCP ACK) of the first STT frame")
      ->capture_default_str();
  c->add_option("--dscp-mode", o->dscp_mode,
                "outer DSCP: uniform (copied from the inner IP header) or pipe (--pipe-dscp)")
      ->capture_default_str()
      ->check(CLI::IsMember({"uniform", "pipe"}));
  c->add_option("--pipe-dscp", o->pipe_dscp, "outer DSCP in pipe mode")
      ->capture_default_str()
      ->check(CLI::Range(0, 63));
  c->add_option("--ttl", o->ttl, "outer IPv4 TTL / IPv6 hop limit")
      ->capture_default_str()
      ->check(CLI::Range(1, 255));
  c->add_flag("-q,--quiet", o->quiet, "print nothing on success");
  c->callback([o] {
    if (int rc = run_encap(*o, stdout); rc != 0) throw CLI::RuntimeError(rc);
  });
}

void add_decap(CLI::App& app) {
  auto o = std::make_shared<DecapOptions>();
  CLI::App* c = app.add_subcommand(
      "decap",
      "Decapsulate a pcap of STT segments: validate, reassemble (time from the pcap timestamps), "
      "decapsulate, and report each inner frame. By default inner frames are finished in "
      "software the way they would leave on a wire: partial checksums completed, super-packets "
      "segmented at their MSS, the VLAN tag restored. Every drop is counted.");
  c->add_option("-i,--input", o->input, "pcap of STT segments")->required();
  c->add_option("-o,--output", o->output, "pcap of inner frames to write");
  c->add_flag("-j,--json", o->json,
              "one JSON object per line per delivered inner frame, then {\"summary\": {...}} "
              "with every counter");
  c->add_option("--port", o->port, "STT destination port")->capture_default_str();
  c->add_flag("--keep-offload", o->keep_offload,
              "deliver P frames as the receiver got them (partial checksum, unsegmented "
              "super-packet) and report their virtio-net offload metadata, as sttd hands them "
              "to a TAP");
  c->add_flag("--trust-checksums", o->trust_checksums,
              "do not verify outer TCP checksums (captures taken on a sender with checksum "
              "offload hold unfinished ones)");
  c->add_option("--dscp-mode", o->dscp_mode,
                "pipe (inner DSCP untouched) or uniform (inner DSCP from the offset-0 segment)")
      ->capture_default_str()
      ->check(CLI::IsMember({"uniform", "pipe"}));
  c->add_option("--timeout", o->timeout_ms,
                "reassembly timeout, milliseconds of capture time from a frame's first segment "
                "(default: 30 s as in OVS, lenient for captures; sttd's is its own setting)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 3'600'000u));
  c->callback([o] {
    if (int rc = run_decap(*o, stdout); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace

void register_offline_commands(CLI::App& app) {
  add_encap(app);
  add_decap(app);
}

}  // namespace stt::ctl
