#pragma once
// sttctl's offline tools: `encap` turns a pcap of inner Ethernet frames into
// a pcap of STT segments, `decap` does the reverse and reports what each STT
// frame carried. They drive the same libstt code as sttd, with time taken
// from the capture's timestamps.

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "core/encap.hpp"

namespace CLI {
class App;
}

namespace stt::ctl {

struct EncapOptions {
  std::string input;
  std::string output;
  std::string context_id = "0";
  std::string src;
  std::string dst;
  std::uint16_t mtu = 1500;
  bool gso = false;
  std::uint16_t dst_port = 7471;
  std::string vlan;  // "VID[:PCP]", empty = none
  bool csum_partial = false;
  bool csum_verified = false;
  std::uint16_t tso_mss = 0;  // 0 = no TSO
  std::string src_mac = "00:00:5e:00:53:01";
  std::string dst_mac = "00:00:5e:00:53:02";
  std::uint32_t packet_id = 1;
  std::string dscp_mode = "uniform";
  unsigned pipe_dscp = 0;  // outer DSCP in pipe mode, 0..63
  unsigned ttl = 64;
  bool quiet = false;
};

struct DecapOptions {
  std::string input;
  std::string output;  // empty = no pcap written
  bool json = false;
  std::uint16_t port = 7471;
  bool keep_offload = false;
  bool trust_checksums = false;
  std::string dscp_mode = "pipe";
  std::uint32_t timeout_ms = 30000;  // capture time; OVS uses 30 s (digest §4 item 8)
};

// Each returns the process exit status: 0 when the input was read to the
// end and the output written (packets that fail validation are counted, not
// errors), non-zero after printing one error line to stderr.
int run_encap(const EncapOptions& opt, std::FILE* out);
int run_decap(const DecapOptions& opt, std::FILE* out);

// Argument parser, also used for validation by the CLI. Context IDs are
// parsed by wire::parse_context_id (wire/context_id.hpp), as in sttd's config.
bool parse_vlan(std::string_view text, core::VlanTci* out);

// Adds the `encap` and `decap` subcommands.
void register_offline_commands(CLI::App& app);

}  // namespace stt::ctl
