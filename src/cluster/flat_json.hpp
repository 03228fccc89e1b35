#pragma once
// Reading the directory's values: flat JSON objects whose members are strings, unsigned
// integers or arrays of strings (docs/cluster.md). A full read hands over hundreds of
// thousands of them, so the usual form (no escapes, no nesting, ASCII) is scanned in place
// without building a document; anything else (escapes, nested values, other types, odd
// whitespace) goes through nlohmann::json, so the result is the same JSON either way.

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace stt::cluster {

struct FlatValue {
  enum class Type : std::uint8_t { kString, kUint, kStringArray, kOther };
  Type type = Type::kOther;
  std::string_view str;                 // kString
  std::uint64_t num = 0;                // kUint
  std::vector<std::string_view> items;  // kStringArray
};

class FlatObject {
 public:
  // False when `text` is not one JSON object (malformed, trailing data, another type).
  bool parse(std::string_view text);
  // The member's value (the last one when a key repeats, as nlohmann::json keeps it), or
  // nullptr.
  const FlatValue* get(std::string_view key) const;

 private:
  bool scan(std::string_view text);  // false: not the usual form, use the full parser
  bool parse_full(std::string_view text);
  std::vector<std::pair<std::string_view, FlatValue>> members_;
  std::deque<std::string> storage_;  // keys and strings the full parser unescaped
};

}  // namespace stt::cluster
