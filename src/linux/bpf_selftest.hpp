#pragma once
// The start-up self-test of the kernel fast path: every kernel behaviour the programs rely
// on, checked end to end in a scratch network namespace before sttd trusts them.
//
// A forked child enters a new network namespace (it and everything in it vanish with the
// child), builds a veth pair as the underlay and a bridge with two TAPs, loads and attaches
// the real programs, sends STT frames and inner frames through them and reads back the bytes
// and the offload metadata the kernel hands on (virtio-net headers of a TAP and of AF_PACKET):
//
//   rx_gso         a GSO STT frame leaves the TAP side as one GSO packet with gso_size = the
//                  STT MSS and TCPV4 (adjust_room's gso_size arithmetic, redirect into TAP
//                  ingress, a DODGY skb turned into a correct TSO request at a bridge port)
//   rx_small       a small P frame arrives with its inner checksum finished and marked
//                  verified (PARTIAL -> NONE on header removal, then csum_level)
//   rx_not_peer    a segment from a non-peer is dropped and counted in the kernel
//   rx_piece       a piece of a frame goes on to sttd unchanged
//   tx_gso         a 64 KB-class GSO frame from the TAP leaves the underlay as one outer TCP
//                  GSO packet with gso_size = outer MSS and a correct checksum request
//   tx_small       a 1-byte-payload partial frame leaves as one finished outer segment
//   tx_segmented   with TSO off on the underlay, the kernel cuts the DODGY GSO packet into
//                  segments whose checksums, SEQ and IP lengths are all correct
//
// STT_BPF_SELFTEST_FAIL=<check name> (or "all") makes that check expect something the kernel
// does not do, so the fallback can be tested on a kernel that passes.
#include <string>
#include <vector>

namespace stt::sys {

struct BpfSelfTestResult {
  bool ok = false;
  std::string reason;               // the first failed check and what it saw
  std::vector<std::string> passed;  // the checks that passed, in order
};

// Needs CAP_SYS_ADMIN (a new network namespace) and CAP_NET_ADMIN; never throws.
BpfSelfTestResult run_bpf_selftest();

}  // namespace stt::sys
