#include "cluster/flat_json.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace stt::cluster {

namespace {

// A cursor over the text for the in-place scan; every step fails on anything unusual.
struct Cursor {
  std::string_view s;
  std::size_t i = 0;

  void ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r'))
      ++i;
  }
  bool eat(char c) {
    ws();
    if (i >= s.size() || s[i] != c) return false;
    ++i;
    return true;
  }
  bool peek(char c) {
    ws();
    return i < s.size() && s[i] == c;
  }
  // A string of printable ASCII without escapes.
  bool string(std::string_view& out) {
    if (!eat('"')) return false;
    std::size_t start = i;
    while (i < s.size() && s[i] != '"') {
      auto c = static_cast<unsigned char>(s[i]);
      if (c == '\\' || c < 0x20 || c >= 0x80) return false;
      ++i;
    }
    if (i >= s.size()) return false;
    out = s.substr(start, i - start);
    ++i;
    return true;
  }
  // A JSON integer >= 0 without fraction or exponent, that fits 64 bits.
  bool uint(std::uint64_t& out) {
    std::size_t start = i;
    std::uint64_t v = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      auto d = static_cast<std::uint64_t>(s[i] - '0');
      if (v > (UINT64_MAX - d) / 10) return false;
      v = v * 10 + d;
      ++i;
    }
    if (i == start || (s[start] == '0' && i - start > 1)) return false;
    if (i < s.size() && (s[i] == '.' || s[i] == 'e' || s[i] == 'E')) return false;
    out = v;
    return true;
  }
};

}  // namespace

bool FlatObject::scan(std::string_view text) {
  Cursor c{text};
  if (!c.eat('{')) return false;
  if (!c.eat('}')) {
    do {
      std::string_view key;
      if (!c.string(key) || !c.eat(':')) return false;
      FlatValue v;
      if (c.peek('"')) {
        v.type = FlatValue::Type::kString;
        if (!c.string(v.str)) return false;
      } else if (c.peek('[')) {
        c.eat('[');
        v.type = FlatValue::Type::kStringArray;
        if (!c.eat(']')) {
          do {
            std::string_view item;
            if (!c.string(item)) return false;
            v.items.push_back(item);
          } while (c.eat(','));
          if (!c.eat(']')) return false;
        }
      } else {
        v.type = FlatValue::Type::kUint;
        if (!c.uint(v.num)) return false;
      }
      members_.emplace_back(key, std::move(v));
    } while (c.eat(','));
    if (!c.eat('}')) return false;
  }
  c.ws();
  return c.i == text.size();
}

bool FlatObject::parse_full(std::string_view text) {
  members_.clear();
  using nlohmann::json;
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return false;
  auto keep = [this](const std::string& s) -> std::string_view { return storage_.emplace_back(s); };
  for (auto it = j.begin(); it != j.end(); ++it) {
    FlatValue v;
    const json& x = it.value();
    if (x.is_string()) {
      v.type = FlatValue::Type::kString;
      v.str = keep(x.get_ref<const std::string&>());
    } else if (x.is_number_unsigned()) {
      v.type = FlatValue::Type::kUint;
      v.num = x.get<std::uint64_t>();
    } else if (x.is_array() &&
               std::all_of(x.begin(), x.end(), [](const json& e) { return e.is_string(); })) {
      v.type = FlatValue::Type::kStringArray;
      for (const auto& e : x)
        v.items.push_back(keep(e.get_ref<const std::string&>()));
    }
    members_.emplace_back(keep(it.key()), std::move(v));
  }
  return true;
}

bool FlatObject::parse(std::string_view text) {
  members_.clear();
  storage_.clear();
  if (scan(text)) return true;
  return parse_full(text);
}

const FlatValue* FlatObject::get(std::string_view key) const {
  for (auto it = members_.rbegin(); it != members_.rend(); ++it)
    if (it->first == key) return &it->second;
  return nullptr;
}

}  // namespace stt::cluster
