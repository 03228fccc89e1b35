#pragma once
// Dropping privileges once sttd is set up. What is kept, and why:
//
//   CAP_NET_ADMIN  reload creates TAPs and sets their MTU (TUNSETIFF,
//                  SIOCSIFMTU); the nftables guard is removed at exit by
//                  `nft` (an exec'd child, which gets no more than the
//                  bounding set); neighbour solicitation over rtnetlink
//                  (NTF_USE).
//   CAP_NET_RAW    the AF_PACKET socket is open already, but kept so a
//                  future re-open (underlay change) does not need a restart
//                  as root; it gives nothing beyond raw packet access.
//
// Everything else goes from the effective, permitted, inheritable and
// ambient sets and from the bounding set, so neither sttd nor anything it
// executes can get it back. The uid stays 0 (no setuid, hence no
// PR_SET_KEEPCAPS): the config file that reload re-reads and the control
// socket's directory stay reachable as their owner, root, without
// CAP_DAC_OVERRIDE.

#include <string>

namespace stt::sys {

// Throws std::system_error when the kept set cannot be installed (for
// example when sttd did not have CAP_NET_ADMIN and CAP_NET_RAW at all).
// Returns a note for the log when the bounding set could not be reduced
// (no CAP_SETPCAP), "" otherwise.
std::string keep_only_net_capabilities();

}  // namespace stt::sys
