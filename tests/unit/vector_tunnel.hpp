#pragma once
// The outer tunnel of the digest's test vectors (MACs and addresses of
// digest_vectors.hpp) as a TunnelConfig, for the tests that encapsulate.

#include <cstdint>

#include "core/encap.hpp"
#include "digest_vectors.hpp"
#include "wire/addr.hpp"

namespace stt::test {

inline core::TunnelConfig vector_tunnel(bool v6, std::uint16_t mtu = 1500) {
  core::TunnelConfig cfg;
  cfg.src_mac.b = kOuterSrcMac;
  cfg.dst_mac.b = kOuterDstMac;
  cfg.src = v6 ? wire::IpAddr::v6(kOuterSrcV6.data()) : wire::IpAddr::v4(kOuterSrcV4.data());
  cfg.dst = v6 ? wire::IpAddr::v6(kOuterDstV6.data()) : wire::IpAddr::v4(kOuterDstV4.data());
  cfg.mtu = mtu;
  return cfg;
}

}  // namespace stt::test
