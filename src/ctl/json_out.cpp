#include "ctl/json_out.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "wire/addr.hpp"
#include "wire/bytes.hpp"
#include "wire/headers.hpp"

namespace stt::ctl {

std::string context_id_hex(std::uint64_t id) {
  return fmt::format("0x{:016x}", id);
}

std::string ethertype_hex(std::uint16_t type) {
  return fmt::format("0x{:04x}", type);
}

std::string flag_text(std::uint8_t flags) {
  std::string s;
  auto add = [&](const std::string& part) {
    if (!s.empty()) s += '|';
    s += part;
  };
  if (flags & wire::kSttFlagCsumVerified) add("C");
  if (flags & wire::kSttFlagCsumPartial) add("P");
  if (flags & wire::kSttFlagIpv4) add("IPv4");
  if (flags & wire::kSttFlagTcp) add("TCP");
  if (flags & wire::kSttFlagReserved) add(fmt::format("res(0x{:02x})", flags & 0xf0));
  return s.empty() ? "-" : s;
}

InnerSummary summarize_inner(std::span<const std::uint8_t> frame) {
  InnerSummary out;
  if (frame.size() < wire::kEthHeaderLen) return out;
  wire::MacAddr dst, src;
  std::copy_n(frame.data(), 6, dst.b.begin());
  std::copy_n(frame.data() + 6, 6, src.b.begin());
  out.valid = true;
  out.dst = dst.to_string();
  out.src = src.to_string();
  out.ethertype = wire::load_be16(frame.data() + 12);
  if ((out.ethertype == wire::kEtherTypeVlan || out.ethertype == wire::kEtherTypeQinQ) &&
      frame.size() >= wire::kEthHeaderLen + sizeof(wire::VlanTag)) {
    out.ethertype = wire::load_be16(frame.data() + 16);
  }
  return out;
}

}  // namespace stt::ctl
