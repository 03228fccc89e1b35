#pragma once
// Named counters. Each module declares an enum class ending in kCount and,
// beside its counter_name(), one CounterNames table; CounterSet holds one
// 64-bit counter per enumerator. Nothing here allocates, so counters are
// safe on the data path.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace stt::core {

template <typename E>
struct CounterName {
  E counter;
  std::string_view name;
};

// The printed names of one counter enum, written once as {enumerator, name}
// pairs in the enum's order. The constructor runs at compile time and
// refuses a table that misses, reorders or repeats an enumerator, or gives
// two counters one name: adding a counter without its name does not build,
// which is what a switch with -Wswitch used to guarantee.
template <typename E>
class CounterNames {
 public:
  static constexpr std::size_t kSize = static_cast<std::size_t>(E::kCount);

  template <std::size_t N>
  consteval CounterNames(const CounterName<E> (&entries)[N]) {  // NOLINT: implicit on purpose
    static_assert(N == kSize, "every counter needs exactly one name");
    for (std::size_t i = 0; i < N; ++i) {
      if (static_cast<std::size_t>(entries[i].counter) != i) {
        throw "counter names must list every enumerator once, in the enum's order";
      }
      if (entries[i].name.empty()) throw "a counter name must not be empty";
      for (std::size_t j = 0; j < i; ++j) {
        if (names_[j] == entries[i].name) throw "two counters must not share a name";
      }
      names_[i] = entries[i].name;
    }
  }

  // "unknown" for a value outside the enum (kCount, a bad cast).
  constexpr std::string_view operator()(E e) const {
    const auto i = static_cast<std::size_t>(e);
    return i < kSize ? names_[i] : std::string_view("unknown");
  }

 private:
  std::array<std::string_view, kSize> names_{};
};

template <typename E>
class CounterSet {
 public:
  static constexpr std::size_t kSize = static_cast<std::size_t>(E::kCount);

  void inc(E e, std::uint64_t n = 1) { v_[static_cast<std::size_t>(e)] += n; }
  std::uint64_t get(E e) const { return v_[static_cast<std::size_t>(e)]; }
  std::uint64_t operator[](std::size_t i) const { return v_[i]; }
  void add(const CounterSet& o) {
    for (std::size_t i = 0; i < kSize; ++i)
      v_[i] += o.v_[i];
  }
  void clear() { v_.fill(0); }

  // Calls f(name, value) for every counter, in enum order. counter_name(E)
  // (found by argument-dependent lookup) gives its stable snake_case name.
  template <typename F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i < kSize; ++i)
      f(counter_name(static_cast<E>(i)), v_[i]);
  }

 private:
  std::array<std::uint64_t, kSize> v_{};
};

}  // namespace stt::core
