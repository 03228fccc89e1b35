#pragma once
// A hash map stored flat, for the directory's large tables (10^5 entries of a few words each):
// open addressing with linear probing over one array of slots, deletion by backward shift (no
// tombstones), and a capacity that need not be a power of two (the home slot is the hash scaled
// to the capacity), so reserve(n) takes about n / kMaxLoad slots and no more. Against
// std::unordered_map it saves the node per entry (a heap chunk, its header and the next
// pointer) and the bucket array.
//
// Pointers to values are valid until the next insertion or erasure. Not thread-safe.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace stt::cluster {

template <typename K, typename V, typename Hash>
class FlatMap {
 public:
  // Grows (by half) before an insertion would pass this load: growing by half rather than
  // doubling keeps a table that was not reserved between 1/2 and 3/4 full instead of 3/8
  // and 3/4 (the agent's and the FDBs' tables follow the directory without knowing its size).
  static constexpr std::size_t kLoadNum = 3, kLoadDen = 4;

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::size_t capacity() const { return slots_.size(); }

  V* find(const K& k) {
    if (size_ == 0) return nullptr;
    for (std::size_t i = home(k);; i = next(i)) {
      if (!used_[i]) return nullptr;
      if (slots_[i].first == k) return &slots_[i].second;
    }
  }
  const V* find(const K& k) const { return const_cast<FlatMap*>(this)->find(k); }
  bool contains(const K& k) const { return find(k) != nullptr; }

  // The value of k, default-constructed when k is new (second: true).
  std::pair<V*, bool> try_emplace(const K& k) {
    if (V* v = find(k)) return {v, false};
    if ((size_ + 1) * kLoadDen > slots_.size() * kLoadNum)
      rehash(std::max<std::size_t>(16, slots_.size() + slots_.size() / 2));
    std::size_t i = home(k);
    while (used_[i])
      i = next(i);
    slots_[i] = {k, V{}};
    used_[i] = 1;
    ++size_;
    return {&slots_[i].second, true};
  }

  bool erase(const K& k) {
    if (size_ == 0) return false;
    std::size_t hole = home(k);
    while (true) {
      if (!used_[hole]) return false;
      if (slots_[hole].first == k) break;
      hole = next(hole);
    }
    erase_at(hole);
    return true;
  }

  // Erases every entry for which pred(const K&, const V&) holds; returns how many.
  template <typename P>
  std::size_t erase_if(P&& pred) {
    std::size_t n = 0;
    // erase_at() may pull a later (not yet visited) entry into slot i: look at i again. An
    // entry it moves from the wrapped-around start into an earlier slot was kept already.
    for (std::size_t i = 0; i < slots_.size();) {
      if (used_[i] &&
          pred(static_cast<const K&>(slots_[i].first), std::as_const(slots_[i].second))) {
        erase_at(i);
        ++n;
      } else {
        ++i;
      }
    }
    return n;
  }

  void clear() {
    std::vector<std::pair<K, V>>().swap(slots_);
    std::vector<std::uint8_t>().swap(used_);
    size_ = 0;
  }

  // Room for n entries without growing.
  void reserve(std::size_t n) {
    const std::size_t want = (n * kLoadDen + kLoadNum - 1) / kLoadNum + 1;
    if (want > slots_.size()) rehash(want);
  }

  // f(const K&, V&) for every entry, in no particular order; f must not insert or erase.
  template <typename F>
  void for_each(F&& f) {
    for (std::size_t i = 0; i < slots_.size(); ++i)
      if (used_[i]) f(static_cast<const K&>(slots_[i].first), slots_[i].second);
  }
  template <typename F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i < slots_.size(); ++i)
      if (used_[i]) f(slots_[i].first, slots_[i].second);
  }

 private:
  std::size_t home(const K& k) const {
    // The hash scaled to [0, capacity): its high bits pick the slot (no power of two needed).
    const std::uint64_t h = static_cast<std::uint64_t>(Hash{}(k));
    const std::uint64_t n = slots_.size();
    const std::uint64_t hi = (h >> 32) * n, lo = ((h & 0xffffffffu) * n) >> 32;
    return static_cast<std::size_t>((hi + lo) >> 32);
  }
  std::size_t next(std::size_t i) const { return i + 1 == slots_.size() ? 0 : i + 1; }

  void erase_at(std::size_t hole) {
    // Backward shift: pull later members of the probe run into the hole, so a lookup never
    // stops early at it.
    for (std::size_t j = next(hole); used_[j]; j = next(j)) {
      const std::size_t h = home(slots_[j].first);
      const bool stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
      if (stays) continue;
      slots_[hole] = std::move(slots_[j]);
      hole = j;
    }
    slots_[hole] = {};
    used_[hole] = 0;
    --size_;
  }

  void rehash(std::size_t capacity) {
    std::vector<std::pair<K, V>> old(capacity);
    std::vector<std::uint8_t> old_used(capacity, 0);
    old.swap(slots_);
    old_used.swap(used_);
    size_ = 0;
    for (std::size_t i = 0; i < old.size(); ++i) {
      if (!old_used[i]) continue;
      std::size_t j = home(old[i].first);
      while (used_[j])
        j = next(j);
      slots_[j] = std::move(old[i]);
      used_[j] = 1;
      ++size_;
    }
  }

  std::vector<std::pair<K, V>> slots_;
  std::vector<std::uint8_t> used_;
  std::size_t size_ = 0;
};

}  // namespace stt::cluster
