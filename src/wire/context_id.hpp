#pragma once
// The text form of a 64-bit STT context ID, shared by sttd's configuration
// and sttctl's options so that both accept exactly the same spellings:
// unsigned decimal, or hexadecimal after "0x"/"0X". No sign, no spaces, no
// empty digits; a value above 2^64-1 is refused rather than wrapped.

#include <cstdint>
#include <optional>
#include <string_view>

namespace stt::wire {

enum class DigitSeparators : std::uint8_t {
  kNone,        // every character after the prefix is a digit (sttctl)
  kUnderscore,  // '_' between digits is ignored, as in TOML numbers (config)
};

std::optional<std::uint64_t> parse_context_id(std::string_view text,
                                              DigitSeparators sep = DigitSeparators::kNone);

}  // namespace stt::wire
