#pragma once
// Netdev features by their kernel name (ETH_SS_FEATURES strings, e.g.
// "rx-lro", which `ethtool -k` shows as large-receive-offload), read and
// switched through the SIOCETHTOOL ioctl: ETHTOOL_GSSET_INFO and
// ETHTOOL_GSTRINGS find the feature's bit by name, ETHTOOL_GFEATURES reads
// it, ETHTOOL_SFEATURES sets it. sttd needs only rx-lro; the name is a
// parameter so the same code can be checked on a feature that veth lets
// us switch (tests/system/test_lro.py). The ioctl, not ethtool netlink: it needs no generic-netlink
// family lookup and no nested bitset parsing, and the kernel serves both
// from the same feature words (netdev_update_features), so nothing is lost.
// Why sttd cares: draft-davie-stt R17 (docs/conformance.md).

#include <string>
#include <string_view>

namespace stt::sys {

struct NetdevFeature {
  bool active = false;      // on now
  bool changeable = false;  // the driver lets it be switched (ethtool: not "[fixed]")
};

inline constexpr std::string_view kFeatureLro = "rx-lro";

// Reads feature `name` of `ifname`. Throws std::system_error naming the
// interface and the ethtool command that failed (ENOENT: no such feature).
NetdevFeature read_feature(const std::string& ifname, std::string_view name);

// Asks the kernel to switch feature `name` of `ifname` on or off (needs
// CAP_NET_ADMIN), then reads it back and returns it: the caller checks
// `active`, since a driver may refuse without an error. Throws as
// read_feature does.
NetdevFeature set_feature(const std::string& ifname, std::string_view name, bool on);

inline NetdevFeature read_lro(const std::string& ifname) {
  return read_feature(ifname, kFeatureLro);
}
inline NetdevFeature disable_lro(const std::string& ifname) {
  return set_feature(ifname, kFeatureLro, false);
}

}  // namespace stt::sys
