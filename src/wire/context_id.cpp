#include "wire/context_id.hpp"

#include <charconv>
#include <string>
#include <system_error>

namespace stt::wire {

std::optional<std::uint64_t> parse_context_id(std::string_view text, DigitSeparators sep) {
  int base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    text.remove_prefix(2);
  }
  std::string digits;
  for (const char ch : text) {
    if (sep != DigitSeparators::kUnderscore || ch != '_') digits.push_back(ch);
  }
  if (digits.empty()) return std::nullopt;
  // from_chars takes no sign, no "0x" and no spaces for an unsigned type, and
  // reports a value above 2^64-1 as out of range instead of wrapping it.
  std::uint64_t v = 0;
  const char* const last = digits.data() + digits.size();
  const auto [end, ec] = std::from_chars(digits.data(), last, v, base);
  if (ec != std::errc{} || end != last) return std::nullopt;
  return v;
}

}  // namespace stt::wire
