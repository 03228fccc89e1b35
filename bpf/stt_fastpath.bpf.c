// SPDX-License-Identifier: GPL-2.0
/* The kernel fast path for STT (issue 13): two TC programs that carry the common frame
 * without a userspace hop, sttd keeping every other case.
 *
 * stt_rx, TC ingress on the underlay: a whole STT frame (one skb, GRO-coalesced or never
 * cut) of a configured context from an admitted peer is decapsulated and redirected into the
 * network's TAP with the inner packet's offload metadata. Segments from a source that is a
 * peer of no network are dropped here. Everything else goes on to sttd unchanged (TC_ACT_OK).
 *
 * stt_tx, TC egress on each TAP: a known-unicast IPv4 frame to a peer whose next hop sttd
 * resolved is encapsulated into one outer TCP GSO packet (or one finished segment) and
 * redirected to the underlay. Everything else goes to sttd, which reads the TAP as before.
 *
 * The kernel behaviours both rely on, and why each helper sequence looks the way it does,
 * are in ../shared/notes/ebpf-fast-path-probe.md and docs/design.md ("The kernel fast
 * path"); src/linux/bpf_selftest.cpp checks each of them at start-up. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "stt_fastpath.h"

char LICENSE[] SEC("license") = "GPL";

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define CHECKSUM_NONE 0
#define CHECKSUM_UNNECESSARY 1
#define CHECKSUM_PARTIAL 3

#define STT_F_C 0x01
#define STT_F_P 0x02
#define STT_F_IPV4 0x04
#define STT_F_TCP 0x08
#define STT_TCI_V 0x1000

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_CWR 0x80

/* Checksums the programs finish themselves are summed in 512-byte chunks (bpf_csum_diff's
 * limit); 18 chunks cover a 9000-byte underlay MTU. */
#define CSUM_CHUNK 512
#define CSUM_MAX_CHUNKS 18
/* bpf_skb_adjust_room moves at most 4095 bytes per call. */
#define ADJ_MAX 4000
/* Inner IP + L4 headers saved across the PARTIAL -> NONE step on transmit. */
#define SAVED_HDR_MAX 120
/* adjust_room refuses to shrink below 20 (IPv4) bytes after the removed part; frames with
 * less payload get this much padding for the duration. */
#define SMALL_PAD 40

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct stt_bpf_config);
} stt_config SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, STT_BPF_MAX_NETWORKS);
  __type(key, __u64);
  __type(value, struct stt_bpf_network);
} stt_contexts SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, STT_BPF_MAX_NETWORKS);
  __type(key, __u32);
  __type(value, struct stt_bpf_tap);
} stt_taps SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, STT_BPF_MAX_PEERS);
  __type(key, __u32);
  __type(value, struct stt_bpf_peer_ref);
} stt_peers SEC(".maps");

/* Arrays, not hashes: the verifier inlines an array lookup into a bounds check and an add,
 * so the transmit program reaches the peer from its FDB entry without hashing again. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, STT_BPF_MAX_PEERS);
  __type(key, __u32);
  __type(value, struct stt_bpf_peer);
} stt_peer_rows SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, STT_BPF_MAX_PEERS);
  __type(key, __u32);
  __type(value, struct stt_bpf_peer_ids);
} stt_peer_ids SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, STT_BPF_MAX_PEERS);
  __type(key, struct stt_bpf_net_peer);
  __type(value, struct stt_bpf_network);
} stt_net_peers SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, STT_BPF_MAX_FDB);
  __type(key, struct stt_bpf_mac_key);
  __type(value, struct stt_bpf_fdb_entry);
} stt_fdb SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, STT_BPF_MAX_LEARNED);
  __type(key, struct stt_bpf_mac_key);
  __type(value, struct stt_bpf_fdb_entry);
} stt_learned SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct stt_bpf_learn_cache);
} stt_learn_cache SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, STT_BPF_COUNTER_ENTRIES);
  __type(key, __u32);
  __type(value, __u64);
} stt_counters SEC(".maps");

struct scratch {
  __u8 buf[CSUM_CHUNK];
};
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct scratch);
} stt_scratch SEC(".maps");

extern void* bpf_cast_to_kern_ctx(void* obj) __ksym;

static __always_inline void count(__u32 slot, __u32 c, __u64 n) {
  __u32 key = slot * STT_BPF_NCOUNTERS + c;
  __u64* v = bpf_map_lookup_elem(&stt_counters, &key);
  if (v) *v += n;
}

/* Global row and, when known, the network's row. */
static __always_inline void count2(__u32 slot, __u32 c, __u64 n) {
  count(0, c, n);
  if (slot) count(slot, c, n);
}

static __always_inline __u32 ip_summed(struct __sk_buff* skb) {
  struct sk_buff* k = bpf_cast_to_kern_ctx(skb);
  return BPF_CORE_READ_BITFIELD(k, ip_summed);
}

/* Where CHECKSUM_PARTIAL's csum_start is, from the start of the packet. */
static __always_inline long csum_start_offset(struct __sk_buff* skb) {
  struct sk_buff* k = bpf_cast_to_kern_ctx(skb);
  long head = (long)k->head;
  long data = (long)k->data;
  return (long)k->csum_start - (data - head);
}

/* A fresh load of skb->gso_size each time: without the barrier clang keeps `skb + offset` in
 * a register across calls, which the verifier refuses (a modified ctx pointer). */
static __always_inline __u32 gso_size_of(struct __sk_buff* skb) {
  asm volatile("" : "+r"(skb));
  return skb->gso_size;
}

static __always_inline __u16 csum_fold(__u32 sum) {
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return (__u16)~sum;
}

/* The 32-bit one's-complement sum of len bytes at off, added to seed (native byte order, as
 * the kernel's csum_partial). Returns -1 when it cannot (too long, or a helper failed). */
static __always_inline long sum_bytes(struct __sk_buff* skb, __u32 off, __u32 len, __u32 seed) {
  __u32 zero = 0;
  struct scratch* s = bpf_map_lookup_elem(&stt_scratch, &zero);
  if (!s) return -1;
  if (len > CSUM_CHUNK * CSUM_MAX_CHUNKS) return -1;
  long sum = seed;
  for (int i = 0; i < CSUM_MAX_CHUNKS; i++) {
    __u32 pos = i * CSUM_CHUNK;
    if (pos >= len) break;
    __u32 n = len - pos;
    if (n >= CSUM_CHUNK) {
      if (bpf_skb_load_bytes(skb, off + pos, s->buf, CSUM_CHUNK)) return -1;
      sum = bpf_csum_diff(0, 0, (void*)s->buf, CSUM_CHUNK, (__u32)sum);
    } else {
      n &= CSUM_CHUNK - 1;
      if (n == 0) break;
      /* An odd tail is summed as if followed by zeros, as RFC 1071 pads it. */
      __u32 w = n & (CSUM_CHUNK - 4);
      *(__u32*)&s->buf[w] = 0;
      if (bpf_skb_load_bytes(skb, off + pos, s->buf, n)) return -1;
      __u32 r = (n + 3) & (CSUM_CHUNK - 4);
      if (r == 0 || r > CSUM_CHUNK) return -1;
      sum = bpf_csum_diff(0, 0, (void*)s->buf, r, (__u32)sum);
    }
    if (sum < 0) return -1;
  }
  return sum;
}

/* Bytes in front of skb->data. */
static __always_inline __u32 headroom_of(struct __sk_buff* skb) {
  struct sk_buff* k = bpf_cast_to_kern_ctx(skb);
  return (__u32)((long)k->data - (long)k->head);
}

/* Move gso_size from its current value to `want` without changing the bytes: grow by d and
 * shrink by d, one of the two with FIXED_GSO (adjust_room is the only handle on gso_size; a
 * grow without FIXED_GSO lowers it by d, a shrink raises it by d). Each step grows by no more
 * than the headroom there is: a grow past it makes the kernel reallocate the head, and when
 * the skb belongs to a socket (the sender's TCP on transmit) it does so without charging
 * truesize, which the receiving TCP then finds short: skb_try_coalesce's WARN_ON_ONCE traps
 * on every such frame (docs/performance.md). */
static __always_inline int set_gso_size(struct __sk_buff* skb, __u32 want) {
  for (int i = 0; i < 8; i++) {
    __u32 cur = gso_size_of(skb);
    if (cur == want) return 0;
    __u32 d = cur > want ? cur - want : want - cur;
    /* Within the headroom when four steps do it; else in one step, reallocating (a small
     * headroom, or a gso_size far from `want`), which still converges. */
    __u32 room = headroom_of(skb);
    if (d > room && room >= 32 && d <= 4 * room) d = room;
    if (d > ADJ_MAX) d = ADJ_MAX;
    if (cur > want) {
      if (bpf_skb_adjust_room(skb, d, BPF_ADJ_ROOM_MAC, 0)) return -1;
      if (bpf_skb_adjust_room(skb, -(__s32)d, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_FIXED_GSO))
        return -1;
    } else {
      if (bpf_skb_adjust_room(skb, d, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_FIXED_GSO)) return -1;
      if (bpf_skb_adjust_room(skb, -(__s32)d, BPF_ADJ_ROOM_MAC, 0)) return -1;
    }
  }
  return gso_size_of(skb) == want ? 0 : -1;
}

struct outer_hdrs { /* from offset 14: outer IPv4, TCP, STT header with its padding */
  struct iphdr ip;
  struct tcphdr tcp;
  __u8 version;
  __u8 flags;
  __u8 l4_offset;
  __u8 reserved;
  __u16 mss;
  __u16 tci;
  __u64 context_id;
  __u16 padding;
};
#define OUTER_HDRS_LEN 58

struct eth {
  __u8 dst[6];
  __u8 src[6];
  __u16 proto;
};

/* ------------------------------------------------------------------------------ receive */

/* A frame of the MAC this CPU recorded last, from the same peer, within this many jiffies of
 * that record, records nothing: 25 jiffies are 25-250 ms whatever CONFIG_HZ is, far inside
 * the FDB's ageing time. */
#define LEARN_CACHE_JIFFIES 25

static __always_inline void learn(const struct stt_bpf_config* cfg, __u32 slot,
                                  const struct eth* inner, __u32 peer) {
  if (!cfg->learn || (inner->src[0] & 1)) return;
  struct stt_bpf_mac_key k = {.slot = slot};
  __builtin_memcpy(k.mac, inner->src, 6);
  __u32 zero = 0;
  struct stt_bpf_learn_cache* c = bpf_map_lookup_elem(&stt_learn_cache, &zero);
  const __u64 jif = bpf_jiffies64();
  const __u32* a = (const __u32*)&k;
  if (c && c->peer == peer && jif - c->jiffies < LEARN_CACHE_JIFFIES) {
    const __u32* b = (const __u32*)&c->key; /* the key's 12 bytes, padding zeroed in both */
    if (a[0] == b[0] && a[1] == b[1] && a[2] == b[2]) return;
  }
  __u64 now = bpf_ktime_get_ns();
  struct stt_bpf_fdb_entry* e = bpf_map_lookup_elem(&stt_learned, &k);
  /* One map write per MAC per 100 ms at most; sttd reads the map every tick. */
  if (!(e && e->peer == peer && now - e->seen_ns < 100000000ull)) {
    struct stt_bpf_fdb_entry v = {.peer = peer, .seen_ns = now};
    bpf_map_update_elem(&stt_learned, &k, &v, BPF_ANY);
    count(slot, STT_C_LEARNED, 1);
  }
  if (c) {
    c->key = k;
    c->peer = peer;
    c->jiffies = jif;
  }
}

/* The inner headers the P path needs: where L4 starts and how long the L4 part is. */
struct inner_l4 {
  __u32 l4_off;  /* from the inner Ethernet header */
  __u32 l4_len;  /* L4 header + payload */
  __u32 payload; /* TCP: L4 payload after the TCP header */
  __u8 tos;      /* DSCP + ECN */
  __u8 is_v4;
};

static __always_inline int parse_inner(struct __sk_buff* skb, __u32 base, __u16 proto,
                                       __u32 inner_len, int tcp, struct inner_l4* r) {
  if (proto == bpf_htons(ETH_P_IP)) {
    struct iphdr ip;
    if (bpf_skb_load_bytes(skb, base + 14, &ip, sizeof(ip))) return -1;
    __u32 ihl = ip.ihl * 4;
    __u32 tot = bpf_ntohs(ip.tot_len);
    /* Exactly the frame: link padding would become payload of the GSO segments (D29). */
    if (ip.version != 4 || ihl < 20 || tot < ihl || 14 + tot != inner_len) return -1;
    if (ip.protocol != (tcp ? IPPROTO_TCP : IPPROTO_UDP)) return -1;
    if (ip.frag_off & bpf_htons(0x3fff)) return -1;
    r->l4_off = 14 + ihl;
    r->l4_len = tot - ihl;
    r->tos = ip.tos;
    r->is_v4 = 1;
  } else if (proto == bpf_htons(ETH_P_IPV6)) {
    struct ipv6hdr ip6;
    if (bpf_skb_load_bytes(skb, base + 14, &ip6, sizeof(ip6))) return -1;
    __u32 plen = bpf_ntohs(ip6.payload_len);
    if (ip6.version != 6 || 54 + plen != inner_len) return -1;
    if (ip6.nexthdr != (tcp ? IPPROTO_TCP : IPPROTO_UDP)) return -1;
    r->l4_off = 54;
    r->l4_len = plen;
    r->tos = (ip6.priority << 4) | (ip6.flow_lbl[0] >> 4);
    r->is_v4 = 0;
  } else {
    return -1;
  }
  r->payload = 0;
  if (tcp) {
    __u8 doff;
    if (bpf_skb_load_bytes(skb, base + r->l4_off + 12, &doff, 1)) return -1;
    __u32 th = (doff >> 4) * 4;
    if (th < 20 || th > r->l4_len) return -1;
    r->payload = r->l4_len - th;
  } else if (r->l4_len < 8) {
    return -1;
  }
  return 0;
}

/* The inner TOS byte of a non-P frame, if it is IP: for the DSCP/ECN checks. */
static __always_inline int inner_tos(struct __sk_buff* skb, __u32 base, __u16 proto, __u8* tos) {
  if (proto == bpf_htons(ETH_P_IP)) {
    __u8 b[2];
    if (bpf_skb_load_bytes(skb, base + 14, b, 2)) return -1;
    *tos = b[1];
    return 1;
  }
  if (proto == bpf_htons(ETH_P_IPV6)) {
    __u8 b[2];
    if (bpf_skb_load_bytes(skb, base + 14, b, 2)) return -1;
    *tos = (__u8)((b[0] << 4) | (b[1] >> 4));
    return 1;
  }
  return 0;
}

SEC("tc")
int stt_rx(struct __sk_buff* skb) {
  __u32 zero = 0;
  const struct stt_bpf_config* cfg = bpf_map_lookup_elem(&stt_config, &zero);
  if (!cfg || !cfg->rx_enabled) return TC_ACT_OK;
  if (skb->protocol != bpf_htons(ETH_P_IP)) return TC_ACT_OK;

  struct outer_hdrs o;
  if (bpf_skb_load_bytes(skb, 14, &o.ip, sizeof(o.ip))) return TC_ACT_OK;
  if (o.ip.protocol != IPPROTO_TCP || o.ip.daddr != cfg->local_addr) return TC_ACT_OK;
  /* Fragments, options: sttd's cases (it drops and counts them, D13). */
  if (o.ip.ihl != 5 || (o.ip.frag_off & bpf_htons(0x3fff))) return TC_ACT_OK;
  if (bpf_skb_load_bytes(skb, 34, &o.tcp, sizeof(o.tcp))) return TC_ACT_OK;
  if (o.tcp.dest != cfg->port) return TC_ACT_OK;

  const __u32 len = skb->len;
  const __u32 src = o.ip.saddr;
  const __u32 seq = bpf_ntohl(o.tcp.seq);
  const __u32 stt_len = len - 54;
  /* A segment that may be a whole frame: its context and source name the network and admit
   * the peer in one lookup, the common case. Anything else looks the peer up alone. */
  const int whole = (seq & 0xffff) == 0 && (seq >> 16) == stt_len && len >= 54 + 18 + 14;
  const struct stt_bpf_network* net = 0;
  if (whole) {
    if (bpf_skb_load_bytes(skb, 54, &o.version, 18)) {
      count(0, STT_C_RX_TO_STTD_OTHER, 1);
      return TC_ACT_OK;
    }
    struct stt_bpf_net_peer np = {.context_id = o.context_id, .addr = src};
    net = bpf_map_lookup_elem(&stt_net_peers, &np);
  }
  if (!net && !bpf_map_lookup_elem(&stt_peers, &src)) {
    /* A peer of no network: dropped before anything else (D18). Each segment counts; the
     * frame counts once more at offset 0, in the network its unverified header names. */
    count(0, STT_C_RX_PACKETS, 1);
    count(0, STT_C_RX_BYTES, len);
    count(0, STT_C_RX_DROP_NOT_PEER_SEGMENTS, 1);
    if ((seq & 0xffff) == 0) {
      __u64 id;
      __u32 slot = 0;
      if (bpf_skb_load_bytes(skb, 54 + 8, &id, 8) == 0) {
        const struct stt_bpf_network* n = bpf_map_lookup_elem(&stt_contexts, &id);
        if (n) slot = n->slot;
      }
      count2(slot, STT_C_RX_DROP_NOT_PEER, 1);
    }
    return TC_ACT_SHOT;
  }
  /* TC ingress runs before ip_rcv: the IPv4 header is checked here (sttd counts a bad one). */
  long ipsum = bpf_csum_diff(0, 0, (void*)&o.ip, 20, 0);
  if (o.ip.version != 4 || ipsum < 0 || csum_fold((__u32)ipsum) != 0 || o.tcp.doff != 5 ||
      (((__u8*)&o.tcp)[13] & (TCP_SYN | TCP_RST | TCP_FIN)) ||
      bpf_ntohs(o.ip.tot_len) + 14 != len) {
    count(0, STT_C_RX_TO_STTD_OTHER, 1);
    return TC_ACT_OK;
  }
  if (!whole) {
    count(0, STT_C_RX_TO_STTD_PIECE, 1);
    return TC_ACT_OK;
  }
  /* The outer checksum must be one the kernel vouches for (D21): generated on this host
   * (PARTIAL) or verified (UNNECESSARY, as GRO leaves it). */
  const __u32 summed = ip_summed(skb);
  if (summed != CHECKSUM_PARTIAL && summed != CHECKSUM_UNNECESSARY) {
    /* Nobody verified it (a veth peer's finished segment, a NIC without receive checksum
     * offload): a single segment is verified here, as sttd would; a GSO one goes to sttd. */
    if (summed != CHECKSUM_NONE || gso_size_of(skb) != 0) goto to_sttd;
    struct {
      __u32 saddr, daddr;
      __u8 zero, proto;
      __u16 len;
    } ph = {src, cfg->local_addr, 0, IPPROTO_TCP, bpf_htons(20 + stt_len)};
    long ps = bpf_csum_diff(0, 0, (void*)&ph, sizeof(ph), 0);
    if (ps < 0) goto to_sttd;
    long sum = sum_bytes(skb, 34, 20 + stt_len, (__u32)ps);
    if (sum < 0 || csum_fold((__u32)sum) != 0) goto to_sttd;
  }
  const __u8 f = o.flags;
  if (o.version != 0 || (f & (STT_F_C | STT_F_P)) == (STT_F_C | STT_F_P) ||
      (bpf_ntohs(o.tci) & STT_TCI_V))
    goto to_sttd;
  __u32 slot = 0;
  if (!net) {
    /* Not admitted in the network its context names, or no such network: counted in that
     * network's row when there is one. */
    const __u64 ctx = o.context_id;
    const struct stt_bpf_network* n = bpf_map_lookup_elem(&stt_contexts, &ctx);
    if (!n) goto to_sttd;
    slot = n->slot;
    goto to_sttd_net;
  }
  slot = net->slot;

  struct eth inner;
  if (bpf_skb_load_bytes(skb, STT_BPF_OUTER_LEN, &inner, sizeof(inner))) goto to_sttd_net;
  const __u32 inner_len = stt_len - 18;
  const __u32 gso_in = gso_size_of(skb);
  const __u32 mss = bpf_ntohs(o.mss);
  int gso = 0;
  int finish_csum = 0;
  struct inner_l4 l4 = {};
  __u8 tos = 0;
  int has_tos;
  if (f & STT_F_P) {
    const int tcp = (f & STT_F_TCP) != 0;
    if (parse_inner(skb, STT_BPF_OUTER_LEN, inner.proto, inner_len, tcp, &l4)) goto to_sttd_net;
    if (o.l4_offset != l4.l4_off || ((f & STT_F_IPV4) != 0) != l4.is_v4) goto to_sttd_net;
    gso = mss != 0 && (tcp ? l4.payload : l4.l4_len) > mss;
    /* GSO can be kept (TCPV4 outer = TCPV4 inner) but not created, cleared or retyped. */
    if (gso && (!tcp || !l4.is_v4 || gso_in == 0)) goto to_sttd_net;
    if (!gso && gso_in != 0) goto to_sttd_net;
    finish_csum = !gso;
    tos = l4.tos;
    has_tos = 1;
  } else {
    if (gso_in != 0) goto to_sttd_net;
    has_tos = inner_tos(skb, STT_BPF_OUTER_LEN, inner.proto, &tos);
    if (has_tos < 0) goto to_sttd_net;
  }
  /* Without GSO the frame must fit the TAP, or the redirect would drop it uncounted. */
  if (!gso && inner_len > net->max_len) goto to_sttd_net;
  /* ECN CE on the outer header, or a uniform-mode DSCP that differs: sttd rewrites the inner
   * header (D15, D16). */
  if ((o.ip.tos & 3) == 3) goto to_sttd_net;
  if (cfg->dscp_uniform && has_tos && (o.ip.tos >> 2) != (tos >> 2)) goto to_sttd_net;

  count(0, STT_C_RX_PACKETS, 1);
  count(0, STT_C_RX_BYTES, len);
  if (gso_in) count(0, STT_C_RX_GRO_PACKETS, 1);

  /* Remove outer IP, TCP, STT header + padding and the inner Ethernet slot (72 bytes after
   * the MAC header), keeping gso_size; the kept MAC slot gets the inner Ethernet header. */
  if (bpf_skb_adjust_room(skb, -STT_BPF_OUTER_LEN, BPF_ADJ_ROOM_MAC,
                          gso ? BPF_F_ADJ_ROOM_FIXED_GSO : 0))
    goto err;
  if (gso && set_gso_size(skb, mss)) goto err;
  if (bpf_skb_store_bytes(skb, 0, &inner, sizeof(inner), 0)) goto err;
  if (finish_csum) {
    /* The L4 checksum field holds the pseudo-header sum (D4), so the sum over the L4 bytes
     * as they are is the whole sum. */
    long sum = sum_bytes(skb, l4.l4_off, l4.l4_len, 0);
    if (sum < 0) goto err;
    __u16 c = csum_fold((__u32)sum);
    const int tcp = (f & STT_F_TCP) != 0;
    if (!tcp && c == 0) c = 0xffff;
    if (bpf_skb_store_bytes(skb, l4.l4_off + (tcp ? 16 : 6), &c, 2, 0)) goto err;
    count2(slot, STT_C_RX_CSUM_COMPLETED, 1);
  }
  /* Removing headers past csum_start left the skb CHECKSUM_NONE; a P frame's checksum is now
   * either finished or left to GSO, and C says the sender verified it. */
  if ((f & (STT_F_P | STT_F_C)) && bpf_csum_level(skb, BPF_CSUM_LEVEL_INC) < 0) goto err;

  learn(cfg, slot, &inner, src);
  count2(slot, STT_C_RX_STT_FRAMES, 1);
  count2(slot, STT_C_RX_WHOLE_FRAMES, 1);
  count2(slot, STT_C_RX_DELIVERED, 1);
  if (gso) count2(slot, STT_C_TAP_GSO_WRITES, 1);
  return bpf_redirect(net->tap_ifindex, BPF_F_INGRESS);

to_sttd_net:
  count(slot, STT_C_RX_TO_STTD_OTHER, 1);
to_sttd:
  count(0, STT_C_RX_TO_STTD_OTHER, 1);
  return TC_ACT_OK;
err:
  count(0, STT_C_RX_ERRORS, 1);
  return TC_ACT_SHOT;
}

/* ----------------------------------------------------------------------------- transmit */

static __always_inline __u16 src_port(const struct stt_bpf_config* cfg, __u32 hash) {
  __u32 lo = cfg->src_port_min, hi = cfg->src_port_max;
  if (hi < lo || lo == 0) return bpf_htons(49152 + (hash & 0x3fff));
  __u32 p = lo + hash % (hi - lo + 1);
  if (p == 7471) p = lo == 7471 ? 7472 : lo;
  return bpf_htons((__u16)p);
}

SEC("tc")
int stt_tx(struct __sk_buff* skb) {
  __u32 zero = 0;
  const struct stt_bpf_config* cfg = bpf_map_lookup_elem(&stt_config, &zero);
  if (!cfg || !cfg->tx_enabled) return TC_ACT_OK;
  const __u32 ifindex = skb->ifindex;
  const struct stt_bpf_tap* tap = bpf_map_lookup_elem(&stt_taps, &ifindex);
  if (!tap) return TC_ACT_OK;
  const __u32 slot = tap->slot;

  struct eth inner;
  if (bpf_skb_load_bytes(skb, 0, &inner, sizeof(inner))) return TC_ACT_OK;
  if (inner.dst[0] & 1) {
    count(slot, STT_C_TX_TO_STTD_FLOOD, 1);
    return TC_ACT_OK;
  }
  struct stt_bpf_mac_key mk = {.slot = slot};
  __builtin_memcpy(mk.mac, inner.dst, 6);
  const struct stt_bpf_fdb_entry* fe = bpf_map_lookup_elem(&stt_fdb, &mk);
  if (!fe) {
    count(slot, STT_C_TX_TO_STTD_FLOOD, 1);
    return TC_ACT_OK;
  }
  const __u32 dst = fe->peer;
  __u32 row = fe->peer_row;
  const struct stt_bpf_peer* peer = bpf_map_lookup_elem(&stt_peer_rows, &row);
  if (!peer || peer->addr != dst) {
    /* An entry sttd wrote before the peer had a row, or whose row went to another peer. */
    const struct stt_bpf_peer_ref* ref = bpf_map_lookup_elem(&stt_peers, &dst);
    row = ref ? ref->row : 0;
    peer = bpf_map_lookup_elem(&stt_peer_rows, &row);
  }
  struct stt_bpf_peer_ids* ids = bpf_map_lookup_elem(&stt_peer_ids, &row);
  if (!peer || !ids || row == 0 || peer->addr != dst || !peer->resolved) {
    count(slot, STT_C_TX_TO_STTD_UNRESOLVED, 1);
    return TC_ACT_OK;
  }
  if (inner.proto != bpf_htons(ETH_P_IP)) goto to_sttd;

  const __u32 len = skb->len; /* the inner frame */
  struct iphdr ip;
  if (bpf_skb_load_bytes(skb, 14, &ip, sizeof(ip))) goto to_sttd;
  const __u32 ihl = ip.ihl * 4;
  if (ip.version != 4 || ihl < 20 || bpf_ntohs(ip.tot_len) + 14 != len) goto to_sttd;
  const __u32 gso = gso_size_of(skb);
  const __u32 summed = ip_summed(skb);
  const int partial = summed == CHECKSUM_PARTIAL;
  const int tcp = ip.protocol == IPPROTO_TCP;
  __u32 hl = 0; /* inner IP + L4 header bytes moved aside to turn PARTIAL into NONE */
  __u16 mss = 0;
  __u8 flags = 0, l4_offset = 0;
  const __u32 stt_len = 18 + len;
  if (20 + 20 + stt_len > 65535) goto to_sttd;
  if (partial) {
    if (!tcp && ip.protocol != IPPROTO_UDP) goto to_sttd;
    if ((ip.frag_off & bpf_htons(0x3fff)) || csum_start_offset(skb) != 14 + ihl) goto to_sttd;
    __u32 l4hl = 8;
    __u32 l4len = len - 14 - ihl;
    if (tcp) {
      __u8 b[2];
      if (bpf_skb_load_bytes(skb, 14 + ihl + 12, b, 2)) goto to_sttd;
      l4hl = (b[0] >> 4) * 4;
      /* CWR in a GSO packet: sttd segments it in software first (D25, I10). */
      if (l4hl < 20 || l4hl > l4len || (gso && (b[1] & TCP_CWR))) goto to_sttd;
    }
    hl = ihl + l4hl;
    if (hl > SAVED_HDR_MAX) goto to_sttd;
    if (gso) {
      if (!tcp) goto to_sttd; /* UDP GSO: sttd cuts it (D24) */
      if (l4len - l4hl > gso) mss = gso;
    }
    flags = STT_F_P | STT_F_IPV4 | (tcp ? STT_F_TCP : 0);
    l4_offset = 14 + ihl;
  } else {
    if (gso) goto to_sttd;
    if (summed == CHECKSUM_UNNECESSARY) flags = STT_F_C;
  }
  /* Without GSO the frame must fit one outer segment; the program finishes its checksum. */
  if (!gso && stt_len > cfg->outer_mss) goto to_sttd;

  const __u32 hash = bpf_get_hash_recalc(skb);
  __u8 saved[SAVED_HDR_MAX];
  __u32 pad = 0;
  if (hl) {
    if (bpf_skb_load_bytes(skb, 14, saved, hl & 0x7f)) goto to_sttd;
    if (!gso && len - 14 - hl < SMALL_PAD) {
      pad = SMALL_PAD;
      if (bpf_skb_change_tail(skb, len + pad, 0)) goto err;
    }
    /* Removing the headers past csum_start turns CHECKSUM_PARTIAL into NONE: the outer TCP
     * checksum is then the only one the kernel finishes (GSO) or the program does. */
    if (bpf_skb_adjust_room(skb, -(__s32)hl, BPF_ADJ_ROOM_MAC, gso ? BPF_F_ADJ_ROOM_FIXED_GSO : 0))
      goto err;
    /* gso_size becomes the outer MSS here, before the outer headers are pushed: the removed
     * headers left the most headroom the skb will have, so the grow/shrink pair does not
     * reallocate the head (see set_gso_size). */
    if (gso && set_gso_size(skb, cfg->outer_mss)) goto err;
  }
  if (bpf_skb_adjust_room(skb, STT_BPF_OUTER_LEN + hl, BPF_ADJ_ROOM_MAC,
                          gso ? BPF_F_ADJ_ROOM_FIXED_GSO : 0))
    goto err;
  if (hl && bpf_skb_store_bytes(skb, STT_BPF_OUTER_LEN + 14, saved, hl & 0x7f, 0)) goto err;
  if (pad && bpf_skb_change_tail(skb, STT_BPF_OUTER_LEN + len, 0)) goto err;

  const __u32 nseg = gso ? (stt_len + cfg->outer_mss - 1) / cfg->outer_mss : 1;
  const __u32 pid = __sync_fetch_and_add(&ids->next_id, 1) | STT_BPF_PACKET_ID_BIT;
  const __u32 ipid = __sync_fetch_and_add(&ids->ip_id, nseg);

  struct {
    struct eth eth;
    __u8 pad[2];
    struct outer_hdrs h;
  } o = {};
  __builtin_memcpy(o.eth.dst, peer->nh_mac, 6);
  __builtin_memcpy(o.eth.src, cfg->local_mac, 6);
  o.eth.proto = bpf_htons(ETH_P_IP);
  o.h.ip.version = 4;
  o.h.ip.ihl = 5;
  o.h.ip.tos = (cfg->dscp_uniform ? (ip.tos & 0xfc) : (__u8)(cfg->pipe_dscp << 2)) |
               (cfg->ecn_normal ? (ip.tos & 3) : 0);
  o.h.ip.tot_len = bpf_htons(40 + stt_len);
  o.h.ip.id = bpf_htons((__u16)ipid);
  o.h.ip.frag_off = bpf_htons(0x4000);
  o.h.ip.ttl = cfg->ttl;
  o.h.ip.protocol = IPPROTO_TCP;
  o.h.ip.saddr = cfg->local_addr;
  o.h.ip.daddr = dst;
  long s = bpf_csum_diff(0, 0, (void*)&o.h.ip, 20, 0);
  if (s < 0) goto err;
  o.h.ip.check = csum_fold((__u32)s);
  o.h.tcp.source = src_port(cfg, hash);
  o.h.tcp.dest = cfg->port;
  o.h.tcp.seq = bpf_htonl(stt_len << 16);
  o.h.tcp.ack_seq = bpf_htonl(pid);
  o.h.tcp.doff = 5;
  o.h.tcp.ack = 1;
  o.h.tcp.psh = 1;
  o.h.flags = flags;
  o.h.l4_offset = l4_offset;
  o.h.mss = bpf_htons(mss);
  o.h.context_id = tap->context_id;
  /* Outer headers, then the inner Ethernet header behind them (the MAC slot held it). */
  if (bpf_skb_store_bytes(skb, 0, &o, 14, 0)) goto err;
  if (bpf_skb_store_bytes(skb, 14, &o.h, OUTER_HDRS_LEN, 0)) goto err;
  if (bpf_skb_store_bytes(skb, STT_BPF_OUTER_LEN, &inner, sizeof(inner), 0)) goto err;

  if (gso) {
    /* CHECKSUM_NONE + DODGY: the kernel's GSO writes the outer pseudo-header sum and
     * csum_start itself; gso_size is already the outer MSS. */
    count2(slot, STT_C_TX_TSO_FRAMES, 1);
    count2(slot, STT_C_TX_GSO_PACKETS, 1);
  } else {
    struct {
      __u32 saddr, daddr;
      __u8 zero, proto;
      __u16 len;
    } ph = {cfg->local_addr, dst, 0, IPPROTO_TCP, bpf_htons(20 + stt_len)};
    long ps = bpf_csum_diff(0, 0, (void*)&ph, sizeof(ph), 0);
    if (ps < 0) goto err;
    long sum = sum_bytes(skb, 34, 20 + stt_len, (__u32)ps);
    if (sum < 0) goto err;
    __u16 c = csum_fold((__u32)sum);
    if (bpf_skb_store_bytes(skb, 34 + 16, &c, 2, 0)) goto err;
  }
  count(0, STT_C_TX_PACKETS, 1);
  count2(slot, STT_C_TX_FRAMES, 1);
  count2(slot, STT_C_TX_BYTES, len);
  count2(slot, STT_C_TX_UNICAST, 1);
  return bpf_redirect(cfg->underlay_ifindex, 0);

to_sttd:
  count(slot, STT_C_TX_TO_STTD_OTHER, 1);
  return TC_ACT_OK;
err:
  count(slot, STT_C_TX_ERRORS, 1);
  return TC_ACT_SHOT;
}
