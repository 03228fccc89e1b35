#include "core/reassembly.hpp"

#include <array>
#include <bit>
#include <cstring>
#include <limits>
#include <vector>

#include "wire/bytes.hpp"
#include "wire/checksum.hpp"
#include "wire/hash.hpp"
#include "wire/headers.hpp"

namespace stt::core {

constexpr CounterNames<ReasmCounter> kReasmCounterNames({
    {ReasmCounter::kWhole, "whole"},
    {ReasmCounter::kCompleted, "completed"},
    {ReasmCounter::kSegmentsHeld, "segments_held"},
    {ReasmCounter::kDropLengthMismatch, "drop_length_mismatch"},
    {ReasmCounter::kDropOverlap, "drop_overlap"},
    {ReasmCounter::kDropDuplicate, "drop_duplicate"},
    {ReasmCounter::kDropNoMemory, "drop_no_memory"},
    {ReasmCounter::kDropSourceLimit, "drop_source_limit"},
    {ReasmCounter::kDropBadChecksum, "drop_bad_tcp_checksum"},
    {ReasmCounter::kEvicted, "evicted"},
    {ReasmCounter::kExpired, "expired"},
});

std::string_view counter_name(ReasmCounter c) {
  return kReasmCounterNames(c);
}

namespace {

// Frame buffers are carved from one block of `mem_high` bytes in pages; a
// frame takes a run of contiguous pages, so it is delivered in one piece.
// Each buffer is laid out as
//   [kHeadroom][frame: L bytes, rounded up to 8][coverage bitmap: 1 bit per byte]
// The headroom lets decap and the daemon prepend (a VLAN tag, a virtio-net
// header) without a copy. Which bytes are held is known exactly: while they
// form one contiguous run (segments in order, or in reverse order) the run's
// two ends say it, in O(1) per segment and with the bitmap untouched; the
// first piece that would leave a gap writes the run into the bitmap, which
// from then on records every held byte.
constexpr std::uint32_t kPage = 2048;
constexpr std::uint32_t kHeadroom = 64;

// Copies a payload the kernel has already verified. copy_and_sum's AVX2 loop
// (aligned stores) copies a jumbo segment faster than glibc's memcpy, which
// uses `rep movsb` from 4 KB on and is slow at these sizes on the Zen 3 we
// measure on; at 1448 bytes the two are even (figures: bench/README.md,
// "Source-comment measurements"). The sum costs nothing beside the stores
// and is dropped.
inline void copy_payload(std::uint8_t* dst, const std::uint8_t* src, std::size_t n) {
  (void)wire::csum::copy_and_sum(dst, src, n);
}

constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
constexpr std::uint64_t kNever = std::numeric_limits<std::uint64_t>::max();

std::uint32_t round8(std::uint32_t n) {
  return (n + 7u) & ~7u;
}
std::uint32_t bitmap_bytes(std::uint32_t frame_len) {
  return ((frame_len + 63u) / 64u) * 8u;
}
std::uint32_t pages_for(std::uint32_t frame_len) {
  const std::uint32_t total = kHeadroom + round8(frame_len) + bitmap_bytes(frame_len);
  return (total + kPage - 1) / kPage;
}

using wire::mix64;

std::uint64_t hash_addr(const wire::IpAddr& a, std::uint64_t seed) {
  return mix64(seed ^ a.word(0) ^ mix64(a.word(1) + a.version()));
}

// Bits [lo, hi) of a bitmap of 64-bit words.
std::uint64_t word_mask(std::uint32_t lo, std::uint32_t hi) {  // lo < hi <= lo|63 + 1
  const std::uint32_t a = lo & 63u, b = hi - (lo & ~63u);
  const std::uint64_t upper = b >= 64 ? ~0ull : ((1ull << b) - 1);
  return upper & ~((1ull << a) - 1);
}

template <typename F>
void for_each_word(std::uint32_t lo, std::uint32_t hi, F&& f) {
  while (lo < hi) {
    const std::uint32_t word_end = (lo & ~63u) + 64u;
    const std::uint32_t end = hi < word_end ? hi : word_end;
    f(lo >> 6, word_mask(lo, end));
    lo = end;
  }
}

// What a bitmap says about bits [lo, hi): none set, all set, or some.
// Only that distinction matters (new bytes, a duplicate, an overlap), so
// whole words are tested; nothing is counted.
enum class Held : std::uint8_t { kNone, kAll, kSome };
Held held_in(const std::uint64_t* bm, std::uint32_t lo, std::uint32_t hi) {
  std::uint64_t any = 0;
  bool all = true;
  for_each_word(lo, hi, [&](std::uint32_t w, std::uint64_t m) {
    const std::uint64_t v = bm[w] & m;
    any |= v;
    all = all && v == m;
  });
  return all ? Held::kAll : any != 0 ? Held::kSome : Held::kNone;
}

void set_bits(std::uint64_t* bm, std::uint32_t lo, std::uint32_t hi) {
  for_each_word(lo, hi, [&](std::uint32_t w, std::uint64_t m) { bm[w] |= m; });
}

void clear_bits(std::uint64_t* bm, std::uint32_t lo, std::uint32_t hi) {
  for_each_word(lo, hi, [&](std::uint32_t w, std::uint64_t m) { bm[w] &= ~m; });
}

// The usual segment's outer headers (untagged IPv4 without options, TCP
// without options) and, as five 8-byte words from byte 12, the bytes of
// them that append_packet() requires to equal those the frame's last piece
// added with add() had: everything parse_segment() checks or reports that
// is the same for every segment of a frame. Left out: the IPv4 total
// length, ID, TTL and checksum, DF and the reserved flag (MF and the
// fragment offset must be 0), the source port (add() uses it only for a
// frame's first piece), O (SEQ & 0xffff), the TCP flags other than
// SYN/RST/FIN, the window, the TCP checksum and the urgent pointer.
constexpr std::uint32_t kUsualL3 = sizeof(wire::EthernetHeader);
constexpr std::uint32_t kUsualL4 = kUsualL3 + sizeof(wire::Ipv4Header);
constexpr std::uint32_t kUsualHeaders = kUsualL4 + sizeof(wire::TcpHeader);
static_assert(kUsualHeaders == 54);
constexpr std::uint32_t kSameFrom = 12;
constexpr int kSameWords = 5;
constexpr std::uint64_t byte_mask(std::array<std::uint8_t, 8> b) {
  return std::bit_cast<std::uint64_t>(b);
}
constexpr std::uint64_t kSame[kSameWords] = {
    byte_mask({0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}),        // EtherType, version/IHL, TOS
    byte_mask({0x3f, 0xff, 0, 0xff, 0, 0, 0xff, 0xff}),     // MF/fragment, protocol, source
    byte_mask({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0}),  // source, destination
    byte_mask({0xff, 0xff, 0xff, 0xff, 0, 0, 0xff, 0xff}),  // destination port, L, ACK
    byte_mask({0xff, 0xff, 0xf0, 0x07, 0, 0, 0, 0}),        // ACK, data offset, SYN/RST/FIN
};
inline std::uint64_t load64(const std::uint8_t* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

std::size_t table_capacity(std::size_t entries) {
  return std::bit_ceil(entries * 2 < 16 ? std::size_t{16} : entries * 2);
}

}  // namespace

struct Reassembler::Impl {
  struct Entry {
    wire::IpAddr src;
    wire::IpAddr dst;
    std::uint32_t packet_id = 0;
    std::uint64_t hash = 0;
    std::uint64_t src_hash = 0;  // hash_addr(src, seed): the per-source table's
    std::uint64_t created_ns = 0;
    std::uint32_t first_page = 0;
    std::uint32_t pages = 0;
    std::uint32_t held = 0;  // payload bytes held; no byte is held twice
    // Coverage: while !scattered, the held bytes are exactly [run_lo,
    // run_hi) (empty when held == 0); once scattered, the bitmap says.
    std::uint32_t run_lo = 0, run_hi = 0;
    bool scattered = false;
    bool live = false;  // in the index (not on the free list)
    // live, not scattered and holding bytes: the next in-order piece may
    // be appended at run_hi (the fast path in add() tests this alone).
    bool appendable = false;
    std::uint16_t frame_len = 0;
    std::uint16_t segments = 0;
    std::uint16_t src_port = 0;
    std::uint8_t first_tos = 0;
    bool ce = false;
    // Two intrusive lists: by creation time (expiry walks it from the
    // oldest and stops at the first young frame) and by last use (eviction).
    std::uint32_t age_prev = kNone, age_next = kNone;
    std::uint32_t lru_prev = kNone, lru_next = kNone;
  };
  struct List {
    std::uint32_t head = kNone, tail = kNone;
  };
  struct Source {
    wire::IpAddr addr;
    std::uint64_t hash = 0;
    std::uint32_t frames = 0;  // 0: slot empty
  };

  explicit Impl(const ReassemblyConfig& cfg)
      : num_pages(static_cast<std::uint32_t>(cfg.mem_high / kPage)),
        max_frames(cfg.max_frames == 0 ? 1 : cfg.max_frames),
        arena(new std::uint8_t[std::size_t{num_pages} * kPage + kPage]),
        page_words((num_pages + 63u) / 64u),
        page_map(page_words + 1, 0),
        entries(max_frames),
        free_entries(max_frames),
        index(table_capacity(max_frames), kNone),
        sources(table_capacity(max_frames)),
        seed(mix64(reinterpret_cast<std::uintptr_t>(this))),
        timeout_ns(cfg.timeout_ns) {
    for (std::size_t i = 0; i < max_frames; ++i) {
      free_entries[i] = static_cast<std::uint32_t>(max_frames - 1 - i);
    }
    // Pages past the end are marked used so whole-word scans stay simple.
    for (std::uint32_t p = num_pages; p < page_words * 64u; ++p) {
      page_map[p >> 6] |= 1ull << (p & 63u);
    }
  }

  // ------------------------------------------------------------ pages
  std::uint32_t find_run(std::uint32_t k) const {
    std::uint32_t run = 0, start = 0;
    for (std::uint32_t w = 0; w < page_words; ++w) {
      const std::uint64_t v = page_map[w];
      if (v == ~0ull) {
        run = 0;
        continue;
      }
      if (v == 0) {
        if (run == 0) start = w * 64u;
        run += 64;
        if (run >= k) return start;
        continue;
      }
      for (std::uint32_t b = 0; b < 64; ++b) {
        if (v & (1ull << b)) {
          run = 0;
        } else {
          if (run == 0) start = w * 64u + b;
          if (++run >= k) return start;
        }
      }
    }
    return kNone;
  }

  std::uint8_t* buffer(const Entry& e) { return arena.get() + std::size_t{e.first_page} * kPage; }
  std::uint8_t* frame_data(const Entry& e) { return buffer(e) + kHeadroom; }
  std::uint64_t* coverage(const Entry& e) {
    return reinterpret_cast<std::uint64_t*>(frame_data(e) + round8(e.frame_len));
  }

  // How much of [lo, hi) entry e already holds.
  Held held_of(const Entry& e, std::uint32_t lo, std::uint32_t hi) {
    if (lo == hi) return Held::kAll;  // nothing new: as a duplicate
    if (e.scattered) return held_in(coverage(e), lo, hi);
    const std::uint32_t a = lo > e.run_lo ? lo : e.run_lo;
    const std::uint32_t b = hi < e.run_hi ? hi : e.run_hi;
    if (a >= b) return Held::kNone;
    return b - a == hi - lo ? Held::kAll : Held::kSome;
  }
  // Records [lo, hi), which held_of() found kNone, as held.
  void hold(Entry& e, std::uint32_t lo, std::uint32_t hi) {
    if (!e.scattered) {
      if (e.held == 0) {
        e.run_lo = lo;
        e.run_hi = hi;
        return;
      }
      if (lo == e.run_hi) {
        e.run_hi = hi;
        return;
      }
      if (hi == e.run_lo) {
        e.run_lo = lo;
        return;
      }
      e.scattered = true;
      std::memset(coverage(e), 0, bitmap_bytes(e.frame_len));
      set_bits(coverage(e), e.run_lo, e.run_hi);
    }
    set_bits(coverage(e), lo, hi);
  }

  // ------------------------------------------------------------ lists
  template <std::uint32_t Entry::*Prev, std::uint32_t Entry::*Next>
  void link_tail(List& l, std::uint32_t i) {
    Entry& e = entries[i];
    e.*Prev = l.tail;
    e.*Next = kNone;
    if (l.tail != kNone) {
      entries[l.tail].*Next = i;
    } else {
      l.head = i;
    }
    l.tail = i;
  }
  template <std::uint32_t Entry::*Prev, std::uint32_t Entry::*Next>
  void unlink(List& l, std::uint32_t i) {
    Entry& e = entries[i];
    if (e.*Prev != kNone) {
      entries[e.*Prev].*Next = e.*Next;
    } else {
      l.head = e.*Next;
    }
    if (e.*Next != kNone) {
      entries[e.*Next].*Prev = e.*Prev;
    } else {
      l.tail = e.*Prev;
    }
    e.*Prev = e.*Next = kNone;
  }
  void touch(std::uint32_t i) {
    if (lru.tail == i) return;
    unlink<&Entry::lru_prev, &Entry::lru_next>(lru, i);
    link_tail<&Entry::lru_prev, &Entry::lru_next>(lru, i);
  }

  // ------------------------------------------------------------ frame index
  // Open addressing, linear probing, deletion by backward shift: no
  // tombstones, so probe lengths do not grow with churn.
  // The source's own hash (the per-source table's) is part of the key's.
  std::uint64_t key_hash(const SttSegment& s, std::uint64_t src_hash) const {
    return mix64(src_hash ^ (hash_addr(s.outer_dst, ~seed) >> 1) ^
                 (std::uint64_t{s.packet_id} << 17));
  }
  std::size_t mask() const { return index.size() - 1; }

  std::uint32_t find(const SttSegment& s, std::uint64_t h) const {
    for (std::size_t i = h & mask();; i = (i + 1) & mask()) {
      const std::uint32_t e = index[i];
      if (e == kNone) return kNone;
      const Entry& x = entries[e];
      if (x.hash == h && matches(x, s)) return e;
    }
  }
  static bool matches(const Entry& x, const SttSegment& s) {
    return x.packet_id == s.packet_id && x.src == s.outer_src && x.dst == s.outer_dst;
  }
  // The frame a segment belongs to. Segments of one frame mostly arrive
  // back to back, so the last frame used is tried before the index (and
  // its hash, computed into *h only when needed). When it is not found,
  // *src_h is the source's hash.
  std::uint32_t lookup(const SttSegment& s, std::uint64_t* h, std::uint64_t* src_h) {
    if (last != kNone && entries[last].live && matches(entries[last], s)) {
      *h = entries[last].hash;
      return last;
    }
    *src_h = hash_addr(s.outer_src, seed);
    *h = key_hash(s, *src_h);
    return find(s, *h);
  }
  void index_insert(std::uint32_t e) {
    std::size_t i = entries[e].hash & mask();
    while (index[i] != kNone)
      i = (i + 1) & mask();
    index[i] = e;
  }
  template <typename Slots, typename HomeOf, typename IsEmpty, typename Move>
  static void backward_shift(Slots& slots, std::size_t i, std::size_t m, HomeOf home, IsEmpty empty,
                             Move move) {
    for (std::size_t j = (i + 1) & m;; j = (j + 1) & m) {
      if (empty(slots[j])) break;
      const std::size_t k = home(slots[j]) & m;
      // Slot j's element may fill the hole at i unless its home lies
      // cyclically in (i, j].
      const bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
      if (!stays) {
        move(i, j);
        i = j;
      }
    }
    move(i, kNone);
  }
  void index_erase(std::uint32_t e) {
    std::size_t i = entries[e].hash & mask();
    while (index[i] != e)
      i = (i + 1) & mask();
    backward_shift(
        index, i, mask(), [this](std::uint32_t x) { return entries[x].hash; },
        [](std::uint32_t x) { return x == kNone; },
        [this](std::size_t to, std::size_t from) {
          index[to] = from == kNone ? kNone : index[from];
        });
  }

  // ------------------------------------------------------------ per-source counts
  // Same scheme as the index; a slot with frames == 0 is empty.
  // `h` is hash_addr(a, seed), computed once per frame by the caller.
  std::size_t source_slot(const wire::IpAddr& a, std::uint64_t h) const {
    const std::size_t m = sources.size() - 1;
    std::size_t i = h & m;
    while (sources[i].frames != 0 && !(sources[i].hash == h && sources[i].addr == a)) {
      i = (i + 1) & m;
    }
    return i;
  }
  std::uint32_t source_count(const wire::IpAddr& a, std::uint64_t h) const {
    return sources[source_slot(a, h)].frames;
  }
  void source_add(const wire::IpAddr& a, std::uint64_t h) {
    Source& s = sources[source_slot(a, h)];
    if (s.frames == 0) {
      s.addr = a;
      s.hash = h;
    }
    ++s.frames;
  }
  void source_remove(const wire::IpAddr& a, std::uint64_t h) {
    const std::size_t slot = source_slot(a, h);
    if (--sources[slot].frames != 0) return;
    backward_shift(
        sources, slot, sources.size() - 1, [](const Source& s) { return s.hash; },
        [](const Source& s) { return s.frames == 0; },
        [this](std::size_t to, std::size_t from) {
          sources[to] = from == kNone ? Source{} : sources[from];
        });
  }

  // ------------------------------------------------------------ lifecycle
  bool oldest_expired(std::uint64_t now_ns) const {
    if (age.head == kNone) return false;
    const std::uint64_t created = entries[age.head].created_ns;
    return now_ns >= created && now_ns - created >= timeout_ns;
  }
  // Keeps `deadline` = when the oldest frame expires (saturated at the
  // end of time; never when there is none), after the age list's head
  // may have changed. It only filters: before it nothing can be expired,
  // and expire() makes the exact test.
  void age_head_changed() {
    if (age.head == kNone) {
      deadline = kNever;
      return;
    }
    const std::uint64_t created = entries[age.head].created_ns;
    deadline = created > kNever - timeout_ns ? kNever : created + timeout_ns;
  }
  // Remembers, for append_packet(), the outer headers a piece just held by
  // entry ei had in the usual form, built from what parse_segment() made of
  // them (so nothing is read in front of the payload, and the headers are
  // the entry's own): IPv4 addresses only. Forgets them when the entry
  // cannot take the next piece in order.
  void remember_headers(std::uint32_t ei, const SttSegment& seg) {
    if (!seg.outer_src.is_v4() || !seg.outer_dst.is_v4() || !entries[ei].appendable) {
      cont = kNone;
      return;
    }
    // The five words as load_be64() would read them, then as raw loads
    // (what kSame masks): bytes 12-19, 20-27, 28-35, 36-43, 44-51.
    const std::uint64_t src = wire::load_be32(seg.outer_src.data());
    const std::uint64_t dst = wire::load_be32(seg.outer_dst.data());
    const std::uint64_t ack = seg.packet_id;
    const std::uint64_t be[kSameWords] = {
        (std::uint64_t{wire::kEtherTypeIpv4} << 48) | (0x45ull << 40) |
            (std::uint64_t{seg.tos} << 32),
        (std::uint64_t{wire::kIpProtoTcp} << 32) | (src >> 16),
        ((src & 0xffff) << 48) | (dst << 16),
        (std::uint64_t{seg.dst_port} << 48) | (std::uint64_t{seg.frame_len} << 32) | (ack >> 16),
        ((ack & 0xffff) << 48) | (0x50ull << 40),  // data offset 5; SYN, RST, FIN clear
    };
    for (int k = 0; k < kSameWords; ++k) {
      const std::uint64_t raw =
          std::endian::native == std::endian::little ? __builtin_bswap64(be[k]) : be[k];
      cont_words[k] = raw & kSame[k];
    }
    cont = ei;
  }

  void release(std::uint32_t e) {
    Entry& x = entries[e];
    if (cont == e) cont = kNone;
    x.live = false;
    x.appendable = false;
    index_erase(e);
    const bool was_oldest = age.head == e;
    unlink<&Entry::age_prev, &Entry::age_next>(age, e);
    if (was_oldest) age_head_changed();
    unlink<&Entry::lru_prev, &Entry::lru_next>(lru, e);
    clear_bits(page_map.data(), x.first_page, x.first_page + x.pages);
    pages_used -= x.pages;
    bytes_held -= x.held;
    source_remove(x.src, x.src_hash);
    free_entries.push_back(e);  // capacity reserved: never reallocates
    --in_flight;
  }

  // Hands on entry ei, every byte held, and releases it.
  bool complete(std::uint32_t ei, CounterSet<ReasmCounter>& counters, ReassembledFrame* out) {
    const Entry& e = entries[ei];
    counters.inc(ReasmCounter::kCompleted);
    out->data = frame_data(e);
    out->len = e.frame_len;
    out->headroom = kHeadroom;
    out->segments = e.segments;
    out->first_tos = e.first_tos;
    out->ce = e.ce;
    out->packet_id = e.packet_id;
    out->src_port = e.src_port;
    out->outer_src = e.src;
    out->outer_dst = e.dst;
    // The pages go back to the pool now; nothing writes them before the
    // next add(), which is as long as `out` is promised to stay valid.
    release(ei);
    return true;
  }

  // The bookkeeping of a piece whose `n` bytes were just copied into entry
  // e's frame (and whose coverage is already recorded): true when the frame
  // is now whole.
  bool account(Entry& e, std::uint32_t n, bool ce, CounterSet<ReasmCounter>& counters) {
    e.held += n;
    bytes_held += n;
    ++e.segments;
    e.ce = e.ce || ce;
    counters.inc(ReasmCounter::kSegmentsHeld);
    return e.held == e.frame_len;
  }
  // The in-order append, for every path that takes the next piece of entry
  // ei at its run's end (its `n` bytes just copied there): no coverage test,
  // no bookkeeping beyond the run's new end. True when the frame is whole.
  // (The piece's offset is > 0, so the frame's first TOS is already set.)
  bool append_in_order(std::uint32_t ei, std::uint32_t n, bool ce,
                       CounterSet<ReasmCounter>& counters) {
    touch(ei);
    Entry& e = entries[ei];
    e.run_hi += n;
    return account(e, n, ce, counters);
  }

  std::uint32_t num_pages;
  std::size_t max_frames;
  std::unique_ptr<std::uint8_t[]> arena;
  std::uint32_t page_words;
  std::vector<std::uint64_t> page_map;  // 1 = page in use
  std::vector<Entry> entries;
  std::vector<std::uint32_t> free_entries;
  std::vector<std::uint32_t> index;
  std::vector<Source> sources;
  std::uint64_t seed;
  List age, lru;
  std::uint32_t pages_used = 0;
  std::size_t bytes_held = 0;
  std::size_t in_flight = 0;
  std::uint32_t last = kNone;  // the entry the last segment went to (may be free now)
  std::uint64_t timeout_ns;
  std::uint64_t deadline = kNever;  // see age_head_changed()
  // append_packet()'s frame (kNone: none) and the masked header words
  // (kSame) of its last piece added with add().
  std::uint32_t cont = kNone;
  std::uint64_t cont_words[kSameWords] = {};
};

Reassembler::Reassembler(const ReassemblyConfig& cfg)
    : cfg_(cfg), impl_(std::make_unique<Impl>(cfg)) {}

Reassembler::~Reassembler() = default;

ReassemblyStats Reassembler::stats() const {
  return {impl_->in_flight, std::size_t{impl_->pages_used} * kPage, impl_->bytes_held};
}

void Reassembler::expire(std::uint64_t now_ns) {
  Impl& m = *impl_;
  while (m.oldest_expired(now_ns)) {
    m.release(m.age.head);
    counters_.inc(ReasmCounter::kExpired);
  }
}

// The whole frame in one segment (or one GRO run), its checksum not
// pending: nothing to hold, nothing to look up. Everything else is a piece.
bool Reassembler::add(const SttSegment& seg, std::uint64_t now_ns, ReassembledFrame* out) {
  if (seg.offset != 0 || seg.payload_len != seg.frame_len || seg.checksum_pending ||
      seg.payload_len == 0) {
    return add_piece(seg, now_ns, out);
  }
  counters_.inc(ReasmCounter::kWhole);
  out->data = seg.payload;
  out->len = seg.payload_len;
  out->headroom = seg.headroom;
  out->segments = 1;
  out->first_tos = seg.tos;
  out->ce = wire::ecn_of(seg.tos) == wire::kEcnCe;
  out->packet_id = seg.packet_id;
  out->src_port = seg.src_port;
  out->outer_src = seg.outer_src;
  out->outer_dst = seg.outer_dst;
  return true;
}

[[gnu::noinline]] bool Reassembler::add_piece(const SttSegment& seg, std::uint64_t now_ns,
                                              ReassembledFrame* out) {
  // The bounds every copy below relies on, checked here rather than trusted
  // from parse_segment(): a non-empty piece that lies inside its frame. A
  // piece that breaks them disagrees with its own L.
  if (seg.payload == nullptr || seg.payload_len == 0 ||
      std::uint32_t{seg.offset} + seg.payload_len > seg.frame_len) {
    counters_.inc(ReasmCounter::kDropLengthMismatch);
    return false;
  }
  const bool ce = wire::ecn_of(seg.tos) == wire::kEcnCe;
  // A segment whose TCP checksum is still pending (parse_segment with
  // RxConfig::defer_checksum) is verified before it can change anything. On
  // the common path, new bytes for a frame with room for them, that happens
  // while the payload is copied, in the same pass; every other path reads
  // the payload once more first. A mismatch leaves no trace but its counter.
  bool pending = seg.checksum_pending;
  auto bad_checksum = [this] {
    counters_.inc(ReasmCounter::kDropBadChecksum);
    return false;
  };
  if (seg.offset == 0 && seg.payload_len == seg.frame_len) {
    // A whole frame whose checksum is pending: verified, then as in add().
    if (!pending_checksum_ok(seg)) return bad_checksum();
    SttSegment checked = seg;
    checked.checksum_pending = false;
    return add(checked, now_ns, out);
  }

  Impl& m = *impl_;
  if (now_ns >= m.deadline) expire(now_ns);

  // The usual piece: the next one, in order, of the frame the last segment
  // went to. What the general path below would find (that frame, the same
  // L, no byte of it held yet) is known from the run's end alone, so it is
  // appended with no hashing, no coverage test and no bookkeeping beyond
  // the run's new end.
  if (m.last != kNone) {
    Impl::Entry& e = m.entries[m.last];
    if (e.appendable && seg.offset == e.run_hi && e.frame_len == seg.frame_len &&
        Impl::matches(e, seg)) {
      std::uint8_t* dst = m.frame_data(e) + seg.offset;
      if (pending) {
        if (!copy_payload_checked(dst, seg)) return bad_checksum();
      } else {
        copy_payload(dst, seg.payload, seg.payload_len);
      }
      if (!m.append_in_order(m.last, seg.payload_len, ce, counters_)) {
        if (m.cont != m.last) m.remember_headers(m.last, seg);
        return false;
      }
      return m.complete(m.last, counters_, out);
    }
  }
  return add_general(seg, now_ns, out);
}

[[gnu::noinline]] bool Reassembler::add_general(const SttSegment& seg, std::uint64_t now_ns,
                                                ReassembledFrame* out) {
  Impl& m = *impl_;
  const bool ce = wire::ecn_of(seg.tos) == wire::kEcnCe;
  bool pending = seg.checksum_pending;
  auto bad_checksum = [this] {
    counters_.inc(ReasmCounter::kDropBadChecksum);
    return false;
  };
  std::uint64_t h = 0, src_h = 0;
  std::uint32_t ei = m.lookup(seg, &h, &src_h);

  if (ei != kNone && m.entries[ei].frame_len != seg.frame_len) {
    if (pending && !pending_checksum_ok(seg)) return bad_checksum();
    // The sender disagrees with itself (or reused the ID): nothing held
    // can be trusted.
    m.release(ei);
    counters_.inc(ReasmCounter::kDropLengthMismatch);
    return false;
  }

  const bool fresh = ei == kNone;
  if (fresh) {
    const std::uint32_t need = pages_for(seg.frame_len);
    const std::size_t need_bytes = std::size_t{need} * kPage;
    const bool at_source_limit = m.source_count(seg.outer_src, src_h) >= cfg_.max_frames_per_source;
    const bool refused = at_source_limit || need > m.num_pages;
    const bool must_evict = m.in_flight >= m.max_frames ||
                            std::size_t{m.pages_used} * kPage + need_bytes > cfg_.mem_high;
    std::uint32_t first = refused || must_evict ? kNone : m.find_run(need);
    if (first == kNone && pending) {  // refusal or eviction ahead: verify first
      if (!pending_checksum_ok(seg)) return bad_checksum();
      pending = false;
    }
    if (at_source_limit) {
      counters_.inc(ReasmCounter::kDropSourceLimit);
      return false;
    }
    if (need > m.num_pages) {
      counters_.inc(ReasmCounter::kDropNoMemory);
      return false;
    }
    if (first == kNone) {
      if (m.in_flight >= m.max_frames) {
        m.release(m.lru.head);
        counters_.inc(ReasmCounter::kEvicted);
      }
      if (std::size_t{m.pages_used} * kPage + need_bytes > cfg_.mem_high) {
        const std::size_t target = cfg_.mem_low > need_bytes ? cfg_.mem_low - need_bytes : 0;
        while (m.lru.head != kNone && std::size_t{m.pages_used} * kPage > target) {
          m.release(m.lru.head);
          counters_.inc(ReasmCounter::kEvicted);
        }
      }
      first = m.find_run(need);
      while (first == kNone && m.lru.head != kNone) {  // fragmented: free more
        m.release(m.lru.head);
        counters_.inc(ReasmCounter::kEvicted);
        first = m.find_run(need);
      }
      if (first == kNone) {
        counters_.inc(ReasmCounter::kDropNoMemory);
        return false;
      }
    }

    ei = m.free_entries.back();
    m.free_entries.pop_back();
    Impl::Entry& e = m.entries[ei];
    e = Impl::Entry{};
    e.src = seg.outer_src;
    e.dst = seg.outer_dst;
    e.packet_id = seg.packet_id;
    e.hash = h;
    e.src_hash = src_h;
    e.created_ns = now_ns;
    e.first_page = first;
    e.pages = need;
    e.frame_len = seg.frame_len;
    e.src_port = seg.src_port;
    e.live = true;
    m.source_add(seg.outer_src, src_h);
    set_bits(m.page_map.data(), first, first + need);
    m.pages_used += need;
    m.index_insert(ei);
    m.link_tail<&Impl::Entry::age_prev, &Impl::Entry::age_next>(m.age, ei);
    if (m.age.head == ei) m.age_head_changed();
    m.link_tail<&Impl::Entry::lru_prev, &Impl::Entry::lru_next>(m.lru, ei);
    ++m.in_flight;
  }

  Impl::Entry& e = m.entries[ei];
  m.last = ei;
  const std::uint32_t lo = seg.offset, hi = lo + seg.payload_len;
  const Held already = m.held_of(e, lo, hi);
  if (already != Held::kNone) {
    if (pending && !pending_checksum_ok(seg)) {
      if (fresh) m.release(ei);  // an empty segment's new entry: undone
      return bad_checksum();
    }
    if (!fresh) m.touch(ei);
    counters_.inc(already == Held::kAll ? ReasmCounter::kDropDuplicate
                                        : ReasmCounter::kDropOverlap);
    return false;
  }
  std::uint8_t* dst = m.frame_data(e) + lo;
  if (pending) {
    // The bytes land where nothing is held yet, so a mismatch only has to
    // leave them unrecorded (and a frame created for them released).
    if (!copy_payload_checked(dst, seg)) {
      if (fresh) m.release(ei);
      return bad_checksum();
    }
  } else {
    copy_payload(dst, seg.payload, seg.payload_len);
  }
  if (!fresh) m.touch(ei);
  m.hold(e, lo, hi);
  e.appendable = !e.scattered;
  if (seg.offset == 0) e.first_tos = seg.tos;
  if (!m.account(e, seg.payload_len, ce, counters_)) {
    m.remember_headers(ei, seg);
    return false;
  }
  return m.complete(ei, counters_, out);
}

Reassembler::Append Reassembler::append_packet(std::uint8_t* pkt, std::size_t len,
                                               const OffloadInfo& offload, const RxConfig& cfg,
                                               std::uint64_t now_ns, ReassembledFrame* out) {
  const Impl& m = *impl_;
  // (At the deadline add() would expire frames first: left to it.)
  if (m.cont == kNone || m.cont != m.last || now_ns >= m.deadline || len < kUsualHeaders) {
    return Append::kNotTaken;
  }
  return append_next(pkt, len, offload, cfg, out);
}

[[gnu::noinline]] Reassembler::Append Reassembler::append_next(std::uint8_t* pkt, std::size_t len,
                                                               const OffloadInfo& offload,
                                                               const RxConfig& cfg,
                                                               ReassembledFrame* out) {
  Impl& m = *impl_;
  Impl::Entry& e = m.entries[m.cont];
  std::uint64_t diff = 0;
  for (int k = 0; k < kSameWords; ++k)
    diff |= (load64(pkt + kSameFrom + 8 * k) & kSame[k]) ^ m.cont_words[k];
  // The same headers as the frame's last piece, so the same EtherType, IP
  // version and header length, fragment bits, protocol, addresses, port,
  // L, packet ID, data offset and flags, all of which parse_segment() and
  // add() accepted then. What depends on `cfg` is checked against it.
  if (diff != 0 || !e.appendable ||
      wire::load_be16(pkt + kUsualL4 + wire::kTcpDstPortOffset) != cfg.port) {
    return Append::kNotTaken;
  }
  if (cfg.local.version() != 0) {
    // The destination as an IpAddr (4 bytes, zero padded) equal to
    // cfg.local, or IPv4 multicast; compared in registers (an IpAddr built
    // on the stack and read back as words stalls store forwarding).
    std::uint32_t dst4;
    std::uint64_t l0, l1;
    std::memcpy(&dst4, pkt + kUsualL3 + wire::kIpv4DstOffset, 4);
    l0 = cfg.local.word(0);
    l1 = cfg.local.word(1);
    std::uint64_t d0 = 0;
    std::memcpy(&d0, &dst4, 4);  // the first 8 bytes of the IpAddr, as loaded
    const bool ours = ((l0 ^ d0) | l1) == 0 && cfg.local.version() == 4;
    if (!ours && (pkt[kUsualL3 + wire::kIpv4DstOffset] & 0xf0) != 0xe0) return Append::kNotTaken;
  }
  // What each segment has of its own: lengths, the IPv4 header checksum,
  // its place in the frame.
  constexpr std::uint32_t l3 = kUsualL3;
  constexpr std::uint32_t l4 = kUsualL4;
  const std::uint32_t total = wire::load_be16(pkt + l3 + wire::kIpv4TotalLengthOffset);
  if (total <= kUsualHeaders - l3 || total > len - l3 ||
      wire::csum::fold(wire::csum::sum_ipv4_base_header(pkt + l3)) != 0xffff) {
    return Append::kNotTaken;
  }
  const std::uint32_t n = total - (kUsualHeaders - l3);
  const std::uint32_t offset = wire::load_be16(pkt + l4 + wire::kTcpSeqOffset + 2);  // O
  if (offset != e.run_hi || offset + n > e.frame_len) return Append::kNotTaken;

  std::uint8_t* dst = m.frame_data(e) + offset;
  const std::uint8_t* payload = pkt + kUsualHeaders;
  if (offload.data_valid() || offload.needs_csum()) {
    copy_payload(dst, payload, n);
  } else {
    // The TCP checksum while copying. The bytes copied when it is wrong
    // land where nothing is held yet.
    const std::uint32_t pending = usual_tcp_header_sum(pkt, total);
    if (wire::csum::fold(wire::csum::copy_and_sum(dst, payload, n, pending)) != 0xffff) {
      return Append::kNotTaken;
    }
  }
  const bool ce = wire::ecn_of(pkt[l3 + wire::kIpv4TosOffset]) == wire::kEcnCe;
  if (!m.append_in_order(m.cont, n, ce, counters_)) return Append::kHeld;
  m.complete(m.cont, counters_, out);
  return Append::kCompleted;
}

}  // namespace stt::core
