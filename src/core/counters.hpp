#pragma once
// Named counters. Each module declares an enum class ending in kCount and a
// name table; CounterSet holds one 64-bit counter per enumerator. Nothing
// here allocates, so counters are safe on the data path.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace stt::core {

template <typename E>
class CounterSet {
 public:
  static constexpr std::size_t kSize = static_cast<std::size_t>(E::kCount);

  void inc(E e, std::uint64_t n = 1) { v_[static_cast<std::size_t>(e)] += n; }
  std::uint64_t get(E e) const { return v_[static_cast<std::size_t>(e)]; }
  std::uint64_t operator[](std::size_t i) const { return v_[i]; }
  void add(const CounterSet& o) {
    for (std::size_t i = 0; i < kSize; ++i) v_[i] += o.v_[i];
  }
  void clear() { v_.fill(0); }

  // Calls f(name, value) for every counter, in enum order. `name_of` maps an
  // enumerator to its stable snake_case name.
  template <typename F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i < kSize; ++i) f(counter_name(static_cast<E>(i)), v_[i]);
  }

 private:
  std::array<std::uint64_t, kSize> v_{};
};

}  // namespace stt::core
