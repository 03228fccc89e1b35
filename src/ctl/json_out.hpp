#pragma once
// Text shared by the offline tools: counters by name, addresses and
// identifiers in the forms the oracle (tshark) prints.

#include <cstdint>
#include <span>
#include <string>

#include "core/counters.hpp"

namespace stt::ctl {

// "0x" + 16 lower-case hex digits.
std::string context_id_hex(std::uint64_t id);
// "0x" + 4 lower-case hex digits, as tshark prints eth.type.
std::string ethertype_hex(std::uint16_t type);
// "C", "P", "IPv4", "TCP" joined with '|', and "res(0xN0)" for reserved bits; "-" when none.
std::string flag_text(std::uint8_t flags);

// The facts of an inner Ethernet frame that tools report: MACs and the
// EtherType of its payload (past one 802.1Q/802.1ad tag, if present).
struct InnerSummary {
  bool valid = false;  // at least an Ethernet header
  std::string src;
  std::string dst;
  std::uint16_t ethertype = 0;
};
InnerSummary summarize_inner(std::span<const std::uint8_t> frame);

// Appends "group.name=value" for each non-zero counter to `lines`.
template <typename E>
void nonzero_counters(const char* group, const core::CounterSet<E>& set, std::string* lines) {
  set.for_each([&](std::string_view name, std::uint64_t v) {
    if (v == 0) return;
    *lines += "  ";
    *lines += group;
    *lines += '.';
    *lines += name;
    *lines += " = ";
    *lines += std::to_string(v);
    *lines += '\n';
  });
}

}  // namespace stt::ctl
