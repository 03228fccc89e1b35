#pragma once
// The rule that keeps the host's TCP stack away from STT segments: an
// nftables table of our own, `table inet sttd_<port>`, installed on start
// and removed on exit. A restarted instance finds a killed instance's table
// by that name and replaces it.
//
//   prerouting (priority raw - 100, before conntrack): drop TCP to
//     <local>:<port>. AF_PACKET taps run before netfilter, so sttd still
//     sees every segment; the kernel's TCP never does, so it never answers
//     with an RST or an ACK.
//   output: drop TCP from port <port> (belt and braces: nothing local
//     should ever answer from the STT port).
//
// Applied with `nft -f -` (fork/exec), so the kernel sees one atomic
// transaction. Throws std::runtime_error with nft's own message on failure.

#include <cstdint>
#include <string>

#include "wire/addr.hpp"

namespace stt::sys {

class FirewallRule {
 public:
  FirewallRule(const wire::IpAddr& local, std::uint16_t port);  // installs (replacing a stale one)
  // Removes the table. Never throws: a failure is logged and the table stays
  // until the next start on this port replaces it.
  ~FirewallRule();
  FirewallRule(const FirewallRule&) = delete;
  FirewallRule& operator=(const FirewallRule&) = delete;

  const std::string& table() const { return table_; }
  // The ruleset text as applied, for logs and `sttctl show`.
  const std::string& ruleset() const { return ruleset_; }

  static std::string table_name(std::uint16_t port);
  // Deletes the table for `port` if it exists; true when one was removed.
  static bool remove_stale(std::uint16_t port);

 private:
  std::string table_;
  std::string ruleset_;
};

// Runs `nft -f -` with `script` on stdin. Returns nft's exit status and
// puts its stderr into *err. Throws std::runtime_error when nft cannot be
// started.
int run_nft(const std::string& script, std::string* err);

// Runs argv[0] (searched in PATH) with `input` on its stdin and its stdout
// and stderr collected into *output; returns its exit status, or 128 + the
// signal that ended it. A program that exits without reading all of its
// input cannot raise SIGPIPE in this process: the write fails instead.
// Throws std::runtime_error when the program cannot be started.
int run_with_input(const char* const* argv, const std::string& input, std::string* output);

}  // namespace stt::sys
