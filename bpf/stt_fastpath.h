/* The maps and records shared by the kernel fast path (stt_fastpath.bpf.c) and its loader
 * (src/linux/bpf_fastpath.cpp). C, not C++: the BPF side is compiled by clang -target bpf.
 * Every multi-byte field marked "be" is in network byte order, as on the wire, so the
 * programs compare it with packet bytes without swapping. */
#pragma once

#ifndef __VMLINUX_H__
#include <asm/types.h> /* __u8 ... __u64, as linux/types.h defines them */
#endif

#define STT_BPF_MAX_NETWORKS 256 /* network slots 1..255; slot 0 is the global row */
#define STT_BPF_MAX_PEERS 4096
#define STT_BPF_MAX_FDB 65536
#define STT_BPF_MAX_LEARNED 65536

/* Outer Ethernet 14 + IPv4 20 + TCP 20 + STT header 18 (16 + 2 padding): where the inner
 * Ethernet header starts. Only an IPv4 underlay is carried in the kernel. */
#define STT_BPF_OUTER_LEN 72

/* Packet IDs (the outer TCP ACK field) the kernel path uses have this bit set, sttd's never
 * do, so the two never collide toward one peer (docs/protocol.md, D31). */
#define STT_BPF_PACKET_ID_BIT 0x80000000u

/* config[0]. Written by the loader before the programs are attached, read by both programs. */
struct stt_bpf_config {
  __u32 underlay_ifindex;
  __u32 local_addr;   /* be: the underlay IPv4 address */
  __u16 port;         /* be: the STT destination port (7471) */
  __u16 outer_mss;    /* underlay MTU - 40: gso_size of outer GSO packets */
  __u16 src_port_min; /* host order: the source-port range (D11) */
  __u16 src_port_max;
  __u8 local_mac[6]; /* the underlay's MAC: outer source */
  __u8 ttl;
  __u8 dscp_uniform; /* 1: outer DSCP = inner (D15 uniform), 0: pipe with pipe_dscp */
  __u8 pipe_dscp;
  __u8 ecn_normal; /* 1: copy inner ECN to the outer header (D16), 0: Not-ECT */
  __u8 rx_enabled;
  __u8 tx_enabled;
  __u8 learn; /* 1: record inner source MACs in `learned` */
  __u8 pad[3];
};

/* contexts: key = the 8 context-ID bytes as they are on the wire (a __u64 read from the
 * packet). One entry per network. */
struct stt_bpf_network {
  __u32 tap_ifindex;
  __u32 slot;    /* 1..STT_BPF_MAX_NETWORKS-1: the counters' row and the FDB/peer key */
  __u32 max_len; /* the longest non-GSO inner frame the TAP takes: MTU + 14 + 4 (a tag) */
  __u32 pad;
};

/* taps: key = TAP ifindex (the egress program's skb->ifindex). */
struct stt_bpf_tap {
  __u64 context_id; /* as on the wire */
  __u32 slot;
  __u32 pad;
};

/* peers: key = peer IPv4 address (be). A peer of at least one network; the value is its row
 * in the arrays below, 1..STT_BPF_MAX_PEERS-1 (row 0 is never used, so an FDB entry with
 * peer_row 0 names no row). The receive program only asks whether the key is there. */
struct stt_bpf_peer_ref {
  __u32 row;
  __u32 pad;
};

/* peer_rows: array, index = the peer's row. Written by sttd; a row whose `addr` is not the
 * peer an FDB entry names belongs to another peer now (rows are reused) and is not used. Its
 * next hop is usable only with `resolved` set. */
struct stt_bpf_peer {
  __u32 addr; /* be; 0: a free row */
  __u8 nh_mac[6];
  __u8 resolved;
  __u8 pad;
};

/* peer_ids: array, same index: the kernel path's ID counters toward the peer, written by sttd
 * only when it gives the row to a peer, so a next-hop update never rewinds them. */
struct stt_bpf_peer_ids {
  __u32 next_id; /* the packet-ID counter */
  __u32 ip_id;   /* the next outer IPv4 ID (low 16 bits) */
};

/* net_peers: key = {context ID as on the wire, peer}: admission of a peer in one network
 * (D18). The value is the network's row, the same as in `contexts`, so that the receive
 * program learns all it needs about an admitted peer's frame from one lookup. */
struct stt_bpf_net_peer {
  __u64 context_id;
  __u32 addr; /* be */
  __u32 pad;
};

/* fdb (filled by sttd) and learned (filled by the receive program): key = {slot, MAC}. */
struct stt_bpf_mac_key {
  __u32 slot;
  __u8 mac[6];
  __u8 pad[2];
};
struct stt_bpf_fdb_entry {
  __u32 peer;     /* be */
  __u32 peer_row; /* fdb: the peer's row in peer_rows when sttd knew it, else 0; learned: 0 */
  __u64 seen_ns;  /* learned: bpf_ktime_get_ns() of the last frame; fdb: unused */
};

/* learn_cache: one per CPU, the learned record this CPU wrote last, so that a flow's frames
 * skip the `learned` lookup and the clock between two writes. */
struct stt_bpf_learn_cache {
  struct stt_bpf_mac_key key;
  __u32 peer; /* be */
  __u32 pad;
  __u64 jiffies; /* bpf_jiffies64() when it was written */
};

/* Per-CPU counters: index = slot * STT_BPF_NCOUNTERS + counter; row 0 is global. Names that
 * sttd has too mean the same thing there, so the two are summed (src/linux/bpf_fastpath.cpp
 * lists the names). The *_to_sttd counters are not drops: the packet went to sttd. */
enum stt_bpf_counter {
  STT_C_TX_FRAMES,        /* tx_frames */
  STT_C_TX_BYTES,         /* tx_bytes */
  STT_C_TX_UNICAST,       /* tx_unicast */
  STT_C_TX_PACKETS,       /* tx_packets */
  STT_C_TX_TSO_FRAMES,    /* tx_tso_frames */
  STT_C_TX_GSO_PACKETS,   /* tx_gso_packets */
  STT_C_TX_TO_STTD_FLOOD, /* broadcast, multicast, unknown unicast */
  STT_C_TX_TO_STTD_UNRESOLVED,
  STT_C_TX_TO_STTD_OTHER,  /* what the program does not encapsulate (VLAN, IPv6, UDP GSO...) */
  STT_C_TX_ERRORS,         /* a helper failed half-way: the frame was dropped */
  STT_C_RX_PACKETS,        /* rx_packets */
  STT_C_RX_BYTES,          /* rx_bytes */
  STT_C_RX_GRO_PACKETS,    /* rx_gro_packets */
  STT_C_RX_STT_FRAMES,     /* rx_stt_frames */
  STT_C_RX_WHOLE_FRAMES,   /* rx_whole_frames */
  STT_C_RX_DELIVERED,      /* rx_delivered */
  STT_C_TAP_GSO_WRITES,    /* tap_gso_writes */
  STT_C_RX_CSUM_COMPLETED, /* P frames without GSO whose inner checksum the program finished */
  STT_C_RX_DROP_NOT_PEER_SEGMENTS, /* rx_drop_not_peer_segments */
  STT_C_RX_DROP_NOT_PEER,          /* rx_drop_not_peer: once per frame, at offset 0 */
  STT_C_RX_TO_STTD_PIECE,          /* a piece of a frame: sttd reassembles */
  STT_C_RX_TO_STTD_OTHER,          /* VLAN, unknown context, checksum unverified, ... */
  STT_C_RX_ERRORS,                 /* a helper failed half-way: the frame was dropped */
  STT_C_LEARNED,                   /* learned-MAC records written */
  STT_BPF_NCOUNTERS
};

#define STT_BPF_COUNTER_ENTRIES (STT_BPF_MAX_NETWORKS * STT_BPF_NCOUNTERS)
