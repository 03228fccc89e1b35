#include "linux/ethtool.hpp"

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <system_error>
#include <vector>

#include "linux/fd.hpp"

namespace stt::sys {
namespace {

[[noreturn]] void fail(int err, const std::string& ifname, const std::string& what) {
  throw std::system_error(err, std::generic_category(), "ethtool " + what + " on " + ifname);
}

// One SIOCETHTOOL request on `ifname` with `data` as the command buffer.
// Returns the ioctl's result (>= 0; ETHTOOL_SFEATURES returns flags).
int ethtool(const UniqueFd& sock, const std::string& ifname, void* data, const char* what) {
  ifreq ifr{};
  if (ifname.size() >= sizeof ifr.ifr_name) fail(ENAMETOOLONG, ifname, what);
  std::memcpy(ifr.ifr_name, ifname.data(), ifname.size());
  ifr.ifr_data = static_cast<char*>(data);
  const int rc = ::ioctl(sock.get(), SIOCETHTOOL, &ifr);
  if (rc < 0) fail(errno, ifname, what);
  return rc;
}

UniqueFd ioctl_socket(const std::string& ifname) {
  UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s.valid()) fail(errno, ifname, "socket");
  return s;
}

// The feature set's size and the bit of one feature in it.
struct FeatureBit {
  std::uint32_t count = 0;  // features the kernel knows (ETH_SS_FEATURES strings)
  std::uint32_t bit = 0;
};

FeatureBit feature_bit(const UniqueFd& sock, const std::string& ifname, std::string_view name) {
  // struct ethtool_sset_info is followed by one u32 per requested set.
  std::vector<std::uint8_t> ibuf(sizeof(ethtool_sset_info) + sizeof(std::uint32_t));
  auto* info = reinterpret_cast<ethtool_sset_info*>(ibuf.data());
  info->cmd = ETHTOOL_GSSET_INFO;
  info->sset_mask = std::uint64_t{1} << ETH_SS_FEATURES;
  ethtool(sock, ifname, info, "GSSET_INFO");
  const std::uint32_t count = info->data[0];
  if ((info->sset_mask & (std::uint64_t{1} << ETH_SS_FEATURES)) == 0 || count == 0) {
    fail(EOPNOTSUPP, ifname, "GSSET_INFO (no feature names)");
  }
  std::vector<std::uint8_t> buf(sizeof(ethtool_gstrings) + count * ETH_GSTRING_LEN);
  auto* gs = reinterpret_cast<ethtool_gstrings*>(buf.data());
  gs->cmd = ETHTOOL_GSTRINGS;
  gs->string_set = ETH_SS_FEATURES;
  gs->len = count;
  ethtool(sock, ifname, gs, "GSTRINGS");
  const std::uint32_t n = std::min(gs->len, count);
  for (std::uint32_t i = 0; i < n; ++i) {
    const char* s = reinterpret_cast<const char*>(gs->data) + std::size_t{i} * ETH_GSTRING_LEN;
    if (std::string_view(s, strnlen(s, ETH_GSTRING_LEN)) == name) return {count, i};
  }
  fail(ENOENT, ifname, "GSTRINGS (no feature \"" + std::string(name) + "\")");
}

std::uint32_t words(const FeatureBit& f) {
  return (f.count + 31) / 32;
}

NetdevFeature read_bit(const UniqueFd& sock, const std::string& ifname, const FeatureBit& f) {
  std::vector<std::uint8_t> buf(sizeof(ethtool_gfeatures) +
                                words(f) * sizeof(ethtool_get_features_block));
  auto* g = reinterpret_cast<ethtool_gfeatures*>(buf.data());
  g->cmd = ETHTOOL_GFEATURES;
  g->size = words(f);
  ethtool(sock, ifname, g, "GFEATURES");
  if (f.bit / 32 >= g->size) fail(EPROTO, ifname, "GFEATURES (short answer)");
  const ethtool_get_features_block& b = g->features[f.bit / 32];
  const std::uint32_t mask = std::uint32_t{1} << (f.bit % 32);
  NetdevFeature out;
  out.active = (b.active & mask) != 0;
  out.changeable = (b.available & mask) != 0 && (b.never_changed & mask) == 0;
  return out;
}

}  // namespace

NetdevFeature read_feature(const std::string& ifname, std::string_view name) {
  const UniqueFd sock = ioctl_socket(ifname);
  return read_bit(sock, ifname, feature_bit(sock, ifname, name));
}

NetdevFeature set_feature(const std::string& ifname, std::string_view name, bool on) {
  const UniqueFd sock = ioctl_socket(ifname);
  const FeatureBit f = feature_bit(sock, ifname, name);
  std::vector<std::uint8_t> buf(sizeof(ethtool_sfeatures) +
                                words(f) * sizeof(ethtool_set_features_block));
  auto* s = reinterpret_cast<ethtool_sfeatures*>(buf.data());
  s->cmd = ETHTOOL_SFEATURES;
  s->size = words(f);  // the kernel wants exactly its feature-word count
  s->features[f.bit / 32].valid = std::uint32_t{1} << (f.bit % 32);
  s->features[f.bit / 32].requested = on ? std::uint32_t{1} << (f.bit % 32) : 0;
  ethtool(sock, ifname, s, "SFEATURES");
  return read_bit(sock, ifname, f);
}

}  // namespace stt::sys
