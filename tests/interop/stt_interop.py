#!/usr/bin/env python3
"""Interop tests for sttctl: drive the real binary, check what it writes with the
project's tshark-based checker (stt_tshark.py, beside this file) and, when the
independent one in ../shared/oracle is there (--oracle DIR), with that one too;
check that `sttctl decap` decodes what tshark decodes, and reads back what
`sttctl encap` wrote, byte for byte.

Standard library only. Usage:
    stt_interop.py --sttctl PATH [--oracle DIR] --workdir DIR CASE [CASE...]
    stt_interop.py [--oracle DIR] --list
Each CASE prints what it checked and exits non-zero on the first failed case
(all failures of that case are listed).
"""

import argparse
import ipaddress
import json
import os
import shutil
import struct
import subprocess
import sys

# ------------------------------------------------------------------ constants

OUTER_SRC_MAC = "00:00:5e:00:53:01"
OUTER_DST_MAC = "00:00:5e:00:53:02"
INNER_SRC_MAC = "02:00:00:00:0b:01"
INNER_DST_MAC = "02:00:00:00:0b:02"
INNER_V4 = ("198.51.100.1", "198.51.100.2")
INNER_V6 = ("2001:db8:100::1", "2001:db8:100::2")
UNDERLAY = {4: ("192.0.2.1", "192.0.2.2"), 6: ("2001:db8::1", "2001:db8::2")}
FLAG_C, FLAG_P, FLAG_IPV4, FLAG_TCP = 0x01, 0x02, 0x04, 0x08
STT_HDR = 18
BASE_TS_NS = 1_700_000_000 * 10**9


class Failure(Exception):
    pass


class Checker:
    """Collects failed expectations of one case."""

    def __init__(self, name):
        self.name = name
        self.failures = []
        self.checks = 0

    def eq(self, what, got, want):
        self.checks += 1
        if got != want:
            self.failures.append("%s: got %r, want %r" % (what, got, want))

    def true(self, what, cond):
        self.checks += 1
        if not cond:
            self.failures.append(what)

    def done(self):
        if self.failures:
            shown = self.failures[:40]
            more = len(self.failures) - len(shown)
            raise Failure("\n  ".join(shown) + ("\n  ... and %d more" % more if more else ""))


# ------------------------------------------------------------------ pcap files

def write_pcap(path, records, linktype=1, nano=False):
    """records: list of (ts_ns, bytes)."""
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, 262144, linktype))
        for ts, data in records:
            sec, frac = divmod(ts, 10**9)
            if not nano:
                frac //= 1000
            f.write(struct.pack("<IIII", sec, frac, len(data), len(data)))
            f.write(data)


def read_pcap(path):
    """Returns (linktype, [(ts_ns, bytes)])."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 24:
        raise Failure("%s: shorter than a pcap header" % path)
    magic_le = struct.unpack("<I", blob[:4])[0]
    magic_be = struct.unpack(">I", blob[:4])[0]
    if magic_le in (0xA1B2C3D4, 0xA1B23C4D):
        end, magic = "<", magic_le
    elif magic_be in (0xA1B2C3D4, 0xA1B23C4D):
        end, magic = ">", magic_be
    else:
        raise Failure("%s: not a pcap file" % path)
    nano = magic == 0xA1B23C4D
    linktype = struct.unpack(end + "I", blob[20:24])[0]
    out, off = [], 24
    while off < len(blob):
        sec, frac, caplen, _ = struct.unpack(end + "IIII", blob[off:off + 16])
        off += 16
        out.append((sec * 10**9 + (frac if nano else frac * 1000), blob[off:off + caplen]))
        off += caplen
    return linktype, out


# ------------------------------------------------------------------ packet builders

def csum(data, initial=0):
    if len(data) % 2:
        data += b"\0"
    s = initial + sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def finish(s):
    return (~s) & 0xFFFF


def mac(text):
    return bytes.fromhex(text.replace(":", ""))


def ip_bytes(text):
    return ipaddress.ip_address(text).packed


def pseudo_sum(version, src, dst, proto, length):
    if version == 4:
        return csum(ip_bytes(src) + ip_bytes(dst) + struct.pack("!BBH", 0, proto, length))
    return csum(ip_bytes(src) + ip_bytes(dst) + struct.pack("!IxxxB", length, proto))


def pattern(n, seed=0):
    return bytes((i * 7 + seed) & 0xFF for i in range(n))


class Frame:
    """One inner Ethernet frame plus what the tests need to know about it."""

    def __init__(self, kind, data, ipver=0, l4=None, tag=None, l3_hdr=0, l4_hdr=0, tos=0):
        self.kind = kind
        self.data = data
        self.ipver = ipver          # 0 (not IP), 4, 6
        self.l4 = l4                # "tcp", "udp" or None
        self.tag = tag              # (vid, pcp) of an inline 802.1Q tag, or None
        self.l3_hdr = l3_hdr        # IP header length
        self.l4_hdr = l4_hdr        # TCP/UDP header length
        self.tos = tos
        self.ts = 0

    @property
    def untagged(self):
        if self.tag is None:
            return self.data
        return self.data[:12] + self.data[16:]

    @property
    def l4_offset(self):   # in the untagged frame, as STT carries it
        return 14 + self.l3_hdr

    @property
    def l4_payload_len(self):
        return len(self.untagged) - self.l4_offset - self.l4_hdr

    def with_partial_checksum(self):
        """The frame as --csum-partial hands it to libstt: L4 checksum = folded pseudo sum."""
        tag_len = 0 if self.tag is None else 4
        l3 = 14 + tag_len
        l4 = l3 + self.l3_hdr
        b = bytearray(self.data)
        if self.ipver == 4:
            src, dst = b[l3 + 12:l3 + 16], b[l3 + 16:l3 + 20]
            s = csum(bytes(src) + bytes(dst) + struct.pack("!BBH", 0, 6 if self.l4 == "tcp" else 17,
                                                           len(b) - l4))
        else:
            src, dst = b[l3 + 8:l3 + 24], b[l3 + 24:l3 + 40]
            s = csum(bytes(src) + bytes(dst) + struct.pack("!IxxxB", len(b) - l4,
                                                           6 if self.l4 == "tcp" else 17))
        field = l4 + (16 if self.l4 == "tcp" else 6)
        b[field:field + 2] = struct.pack("!H", s)
        return bytes(b)


def ethernet(payload, ethertype, tag=None):
    hdr = mac(INNER_DST_MAC) + mac(INNER_SRC_MAC)
    if tag is not None:
        hdr += struct.pack("!HH", 0x8100, (tag[1] << 13) | tag[0])
    return hdr + struct.pack("!H", ethertype) + payload


def ipv4(proto, l4, tos=0, ident=0x1234):
    src, dst = INNER_V4
    h = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + len(l4), ident, 0x4000, 64, proto, 0,
                              ip_bytes(src), ip_bytes(dst)))
    h[10:12] = struct.pack("!H", finish(csum(bytes(h))))
    return bytes(h) + l4


def ipv6(nh, l4, tc=0):
    src, dst = INNER_V6
    return struct.pack("!IHBB", (6 << 28) | (tc << 20), len(l4), nh, 64) + ip_bytes(src) + \
        ip_bytes(dst) + l4


# Inner ports: no dissector claims them, and each frame is its own flow, so
# tshark's inner TCP analysis never sees two frames as one stream (it would
# report reused sequence numbers as overlapping retransmissions).
INNER_DPORT = 33333


def tcp(ipver, payload, flow=0, flags=0x18, seq=0x10000000):
    src, dst = INNER_V4 if ipver == 4 else INNER_V6
    h = bytearray(struct.pack("!HHIIBBHHH", 40000 + flow, INNER_DPORT, seq, 1, 0x50, flags, 502,
                              0, 0))
    s = pseudo_sum(ipver, src, dst, 6, 20 + len(payload))
    h[16:18] = struct.pack("!H", finish(csum(bytes(h) + payload, s)))
    return bytes(h) + payload


def udp(ipver, payload, flow=0):
    src, dst = INNER_V4 if ipver == 4 else INNER_V6
    h = bytearray(struct.pack("!HHHH", 40000 + flow, INNER_DPORT, 8 + len(payload), 0))
    c = finish(csum(bytes(h) + payload, pseudo_sum(ipver, src, dst, 17, 8 + len(payload))))
    h[6:8] = struct.pack("!H", c or 0xFFFF)
    return bytes(h) + payload


def icmp4_echo(payload):
    h = bytearray(struct.pack("!BBHHH", 8, 0, 0, 0x1234, 1))
    h[2:4] = struct.pack("!H", finish(csum(bytes(h) + payload)))
    return bytes(h) + payload


def icmp6_echo(payload):
    src, dst = INNER_V6
    h = bytearray(struct.pack("!BBHHH", 128, 0, 0, 0x1234, 1))
    s = pseudo_sum(6, src, dst, 58, 8 + len(payload))
    h[2:4] = struct.pack("!H", finish(csum(bytes(h) + payload, s)))
    return bytes(h) + payload


def make_frame(kind, size, tag=None, tos=0, flow=0):
    """A frame of `kind` whose total length (with any tag, without FCS) is `size`."""
    tag_len = 0 if tag is None else 4
    if kind == "arp":
        body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac(INNER_SRC_MAC),
                           ip_bytes(INNER_V4[0]), b"\0" * 6, ip_bytes(INNER_V4[1]))
        body += b"\0" * (size - 14 - tag_len - len(body))   # Ethernet padding
        return Frame(kind, ethernet(body, 0x0806, tag), tag=tag)
    ipver = 6 if kind.endswith("6") else 4
    l3_hdr = 20 if ipver == 4 else 40
    l4_hdr = {"icmp4": 8, "icmp6": 8, "tcp4": 20, "tcp6": 20, "udp4": 8, "udp6": 8}[kind]
    n = size - 14 - tag_len - l3_hdr - l4_hdr
    if n < 0:
        raise ValueError("%s frame cannot be %d bytes" % (kind, size))
    payload = pattern(n, seed=size)
    if kind == "icmp4":
        l3 = ipv4(1, icmp4_echo(payload), tos)
    elif kind == "icmp6":
        l3 = ipv6(58, icmp6_echo(payload), tos)
    elif kind.startswith("tcp"):
        seg = tcp(ipver, payload, flow)
        l3 = ipv4(6, seg, tos) if ipver == 4 else ipv6(6, seg, tos)
    else:
        seg = udp(ipver, payload, flow)
        l3 = ipv4(17, seg, tos) if ipver == 4 else ipv6(17, seg, tos)
    l4 = "tcp" if kind.startswith("tcp") else ("udp" if kind.startswith("udp") else None)
    return Frame(kind, ethernet(l3, 0x0800 if ipver == 4 else 0x86DD, tag), ipver, l4, tag,
                 l3_hdr, l4_hdr, tos)


# Inner frames, 60 bytes to 64 KB: every kind, and 802.1Q-tagged ones. 65517 is
# the largest inner frame an STT frame holds (65535 - 18); a tagged frame may
# be 4 bytes longer because its tag travels in the STT header.
FULL_MIX = [
    ("arp", 42, None), ("arp", 60, None),
    ("icmp4", 60, None), ("icmp4", 98, None), ("icmp4", 1000, None), ("icmp4", 1442, None),
    ("icmp4", 1500, None), ("icmp4", 9000, None), ("icmp4", 40000, None), ("icmp4", 65517, None),
    ("tcp4", 60, None), ("tcp4", 1514, None), ("tcp4", 3000, None), ("tcp4", 16000, None),
    ("tcp4", 65517, None),
    ("udp4", 60, None), ("udp4", 1200, None), ("udp4", 9018, None), ("udp4", 65517, None),
    ("icmp6", 118, None), ("icmp6", 20000, None),
    ("tcp6", 74, None), ("tcp6", 1514, None), ("tcp6", 64000, None),
    ("udp6", 62, None), ("udp6", 4000, None), ("udp6", 65517, None),
    ("icmp4", 64, (42, 3)), ("tcp4", 3000, (100, 5)), ("udp6", 8000, (0, 1)),
    ("tcp4", 65521, (4094, 7)),
]


def segment_payload(ver, mtu):
    return mtu - (40 if ver == 4 else 60)


def avoid_tiny_tail(size, stt_extra, seg_payload):
    """Grow `size` until the STT frame's last segment carries more than 20 bytes.

    Wireshark 4.0's STT reassembly closes a frame early when its last segment is
    20 bytes or shorter (oracle README, "known dissector quirk"), so such frames
    cannot be checked with it; the sizes used here step around them."""
    while 0 < (size + stt_extra) % seg_payload <= 20:
        size += 8
    return size


def build_frames(mix, seg_payload=None, max_stt=65535, base_ts=BASE_TS_NS):
    frames = []
    for i, (kind, size, tag) in enumerate(mix):
        tag_len = 0 if tag is None else 4
        size = min(size, max_stt - STT_HDR + tag_len)
        if seg_payload:
            size = avoid_tiny_tail(size, STT_HDR - tag_len, seg_payload)
            if size - tag_len + STT_HDR > max_stt:   # stepped past the limit: step down
                size -= 8
                while 0 < (size - tag_len + STT_HDR) % seg_payload <= 20:
                    size -= 8
        tos = 0xBA if kind == "icmp4" and size == 1000 else 0  # DSCP EF + ECT(0)
        f = make_frame(kind, size, tag, tos, flow=i)
        f.ts = base_ts + i * 1_000_123   # distinct, not round, timestamps
        frames.append(f)
    return frames


# ------------------------------------------------------------------ outer packet parsing

def parse_outer(pkt):
    """Outer Ethernet/IP/TCP of one STT segment -> dict (raises Failure on junk)."""
    if len(pkt) < 14:
        raise Failure("outer packet shorter than Ethernet")
    et = struct.unpack("!H", pkt[12:14])[0]
    if et == 0x0800:
        ihl = (pkt[14] & 0x0F) * 4
        total = struct.unpack("!H", pkt[16:18])[0]
        tos = pkt[15]
        ip_len, l4 = total, 14 + ihl
        src, dst = ipaddress.ip_address(pkt[26:30]), ipaddress.ip_address(pkt[30:34])
        df = bool(struct.unpack("!H", pkt[20:22])[0] & 0x4000)
    elif et == 0x86DD:
        plen = struct.unpack("!H", pkt[18:20])[0]
        tos = (struct.unpack("!I", pkt[14:18])[0] >> 20) & 0xFF
        ip_len, l4 = plen + 40, 54
        src, dst = ipaddress.ip_address(pkt[22:38]), ipaddress.ip_address(pkt[38:54])
        df = True
    else:
        raise Failure("outer EtherType 0x%04x" % et)
    sport, dport, seq, ack, doff, flags, win = struct.unpack("!HHIIBBH", pkt[l4:l4 + 16])
    return {"ethertype": et, "ip_len": ip_len, "tos": tos, "src": src, "dst": dst, "df": df,
            "sport": sport, "dport": dport, "stt_len": seq >> 16, "offset": seq & 0xFFFF,
            "ack": ack, "tcp_flags": flags, "window": win, "payload": pkt[l4 + (doff >> 4) * 4:],
            "dst_mac": pkt[0:6], "src_mac": pkt[6:12]}


def group_segments(records):
    """Consecutive segments sharing an ACK form one STT frame."""
    frames = []
    for ts, pkt in records:
        o = parse_outer(pkt)
        o["ts"] = ts
        if frames and frames[-1][0]["ack"] == o["ack"] and o["offset"] != 0:
            frames[-1].append(o)
        else:
            frames.append([o])
    return frames


# ------------------------------------------------------------------ running things

OWN_CHECKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stt_tshark.py")


class Env:
    def __init__(self, args):
        self.sttctl = args.sttctl
        # (name, argv prefix): ours always, the independent oracle in addition when present.
        self.checkers = [("stt_tshark", [sys.executable, OWN_CHECKER])]
        if args.oracle:
            self.checkers.append(("oracle", [sys.executable,
                                             os.path.join(args.oracle, "stt_tshark_check.py"),
                                             "--strict"]))
            self.sample = os.path.join(args.oracle, "sample-stt.pcap")
            self.sample_expected = os.path.join(args.oracle, "sample-stt.expected.jsonl")
        self.workdir = args.workdir

    def run(self, argv, what):
        res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        res.out = res.stdout.decode(errors="replace")
        res.err = res.stderr.decode(errors="replace")
        res.what = what
        return res

    def sttctl_ok(self, args, what):
        res = self.run([self.sttctl] + args, what)
        if res.returncode != 0:
            raise Failure("%s: sttctl %s exited %d\nstderr: %s" %
                          (what, " ".join(args), res.returncode, res.err.strip()))
        return res

    def check_runs(self, pcap):
        """[(checker name, result, JSON records)] for every checker."""
        out = []
        for name, argv in self.checkers:
            res = self.run(argv + [pcap], name)
            out.append((name, res, [json.loads(line) for line in res.out.splitlines()
                                    if line.strip()]))
        return out


def decap_json(env, pcap, extra=()):
    res = env.sttctl_ok(["decap", "-i", pcap, "-j"] + list(extra), "decap -j")
    lines = [json.loads(line) for line in res.out.splitlines() if line.strip()]
    if not lines or "summary" not in lines[-1]:
        raise Failure("decap -j: last line is not a summary: %r" % (lines[-1:],))
    return lines[:-1], lines[-1]["summary"]


def drops(summary):
    """Every non-zero drop-like counter of a decap summary."""
    out = {}
    for group in ("rx", "reassembly", "decap"):
        for name, v in summary[group].items():
            if v and (name.startswith("drop") or name in ("evicted", "expired")):
                out[group + "." + name] = v
    for name in ("skipped_truncated", "skipped_oversize", "incomplete_at_end"):
        if summary.get(name):
            out[name] = summary[name]
    return out


def same_ip(a, b):
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return False


# ------------------------------------------------------------------ the encap matrix

class EncapCase:
    def __init__(self, name, ver, mtu=1500, gso=False, vlan=None, csum_partial=False,
                 csum_verified=False, tso=None, context_id="0x1122334455667788",
                 packet_id=None, dscp=None, mix=FULL_MIX, nano=False):
        self.name, self.ver, self.mtu, self.gso, self.vlan = name, ver, mtu, gso, vlan
        self.csum_partial, self.csum_verified, self.tso = csum_partial, csum_verified, tso
        self.context_id, self.packet_id, self.dscp, self.mix, self.nano = \
            context_id, packet_id, dscp, mix, nano

    def args(self, inner, out):
        src, dst = UNDERLAY[self.ver]
        a = ["encap", "-i", inner, "-o", out, "--context-id", self.context_id,
             "--src", src, "--dst", dst, "--mtu", str(self.mtu), "-q"]
        if self.gso:
            a.append("--gso")
        if self.vlan:
            a += ["--vlan", "%d:%d" % self.vlan]
        if self.csum_partial:
            a.append("--csum-partial")
        if self.csum_verified:
            a.append("--csum-verified")
        if self.tso:
            a += ["--tso", str(self.tso)]
        if self.packet_id is not None:
            a += ["--packet-id", str(self.packet_id)]
        if self.dscp is not None:
            a += ["--dscp-mode", "pipe", "--pipe-dscp", str(self.dscp)]
        return a

    # What the STT header must say for frame f.
    def expect(self, f):
        partial = (self.csum_partial or self.tso) and f.l4 in ("tcp", "udp")
        e = {}
        if partial:
            e["flags"] = FLAG_P | (FLAG_IPV4 if f.ipver == 4 else 0) | \
                (FLAG_TCP if f.l4 == "tcp" else 0)
            e["l4_offset"] = f.l4_offset
            super_packet = self.tso and f.l4 == "tcp" and f.l4_payload_len > self.tso
            e["mss"] = self.tso if super_packet else 0
        else:
            e["flags"] = FLAG_C if self.csum_verified else 0
            e["l4_offset"] = 0
            e["mss"] = 0
        if self.vlan is not None:
            e["vlan"] = (1, self.vlan[0], self.vlan[1])
            carried = f.data                     # only untagged frames are used with --vlan
        elif f.tag is not None:
            e["vlan"] = (1, f.tag[0], f.tag[1])
            carried = f.untagged
        else:
            e["vlan"] = (0, 0, 0)
            carried = f.data
        e["stt_len"] = len(carried) + STT_HDR
        e["context_id"] = "0x%016x" % int(self.context_id, 0)
        return e

    # What decap (software finishing) must deliver for frame f: a list of frames,
    # or None when the result is a software-segmented super-packet.
    def delivered(self, f):
        if self.tso and f.l4 == "tcp" and f.l4_payload_len > self.tso:
            return None
        if self.vlan is not None:
            vid, pcp = self.vlan
            return [f.data[:12] + struct.pack("!HH", 0x8100, (pcp << 13) | vid) + f.data[12:]]
        return [f.data]

    def check_decoded(self, c, name, res, recs, frames):
        """What checker `name` decoded from our capture is what we meant to send."""
        c.eq("%s exit status (stderr: %s)" % (name, res.err.strip()[-600:]), res.returncode, 0)
        for r in recs:
            if r.get("problems"):
                c.true("%s, frame %s: %s" % (name, r["frame"], r["problems"]), False)
        c.eq("frames %s decoded" % name, len(recs), len(frames))
        src, dst = UNDERLAY[self.ver]
        for i, (f, r) in enumerate(zip(frames, recs)):
            e = self.expect(f)
            where = "%s frame %d (%s, %d bytes)" % (name, i + 1, f.kind, len(f.data))
            c.eq(where + ": context_id", r["context_id"], e["context_id"])
            c.eq(where + ": flags", r["flags"], e["flags"])
            c.eq(where + ": l4_offset", r["l4_offset"], e["l4_offset"])
            c.eq(where + ": mss", r["mss"], e["mss"])
            c.eq(where + ": vlan (v, id, pcp)", (r["vlan_v"], r["vlan_id"], r["vlan_pcp"]),
                 e["vlan"])
            c.eq(where + ": stt_len", r["stt_len"], e["stt_len"])
            c.true(where + ": outer_src %s" % r["outer_src"], same_ip(r["outer_src"], src))
            c.true(where + ": outer_dst %s" % r["outer_dst"], same_ip(r["outer_dst"], dst))
            c.eq(where + ": inner MACs", (r["inner_src"], r["inner_dst"]),
                 (INNER_SRC_MAC, INNER_DST_MAC))
            want_type = {0: 0x0806, 4: 0x0800, 6: 0x86DD}[f.ipver]
            c.eq(where + ": inner ethertype", r["inner_ethertype"], "0x%04x" % want_type)

    def run(self, env, c):
        work = os.path.join(env.workdir, self.name)
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        inner, out, back = (os.path.join(work, n) for n in ("inner.pcap", "stt.pcap",
                                                             "back.pcap"))
        seg = None if self.gso else segment_payload(self.ver, self.mtu)
        max_stt = 65535
        if self.gso:   # one outer IP packet: its length field bounds the frame
            max_stt = 65535 - (40 if self.ver == 4 else 20)
        mix = [m for m in self.mix if self.vlan is None or m[2] is None]
        frames = build_frames(mix, seg, max_stt)
        write_pcap(inner, [(f.ts, f.data) for f in frames], nano=self.nano)
        env.sttctl_ok(self.args(inner, out), "encap")

        # 1. The segments themselves.
        _, records = read_pcap(out)
        groups = group_segments(records)
        c.eq("STT frames in %s" % out, len(groups), len(frames))
        ids = []
        for i, (f, g) in enumerate(zip(frames, groups)):
            e = self.expect(f)
            where = "frame %d (%s, %d bytes)" % (i + 1, f.kind, len(f.data))
            ids.append(g[0]["ack"])
            if self.gso:
                c.eq(where + ": outer packets (--gso)", len(g), 1)
            else:
                want = -(-e["stt_len"] // seg)
                c.eq(where + ": segments at MTU %d" % self.mtu, len(g), want)
            offset = 0
            for k, s in enumerate(g):
                sw = "%s segment %d" % (where, k + 1)
                if not self.gso:
                    c.true("%s: outer IP length %d > MTU %d" % (sw, s["ip_len"], self.mtu),
                           s["ip_len"] <= self.mtu)
                c.eq(sw + ": offset", s["offset"], offset)
                offset += len(s["payload"])
                c.eq(sw + ": timestamp", s["ts"], f.ts if self.nano else f.ts // 1000 * 1000)
                c.eq(sw + ": dst port", s["dport"], 7471)
                c.true(sw + ": DF", s["df"])
                c.eq(sw + ": outer MACs", (s["src_mac"], s["dst_mac"]),
                     (mac(OUTER_SRC_MAC), mac(OUTER_DST_MAC)))
                want_dscp = self.dscp if self.dscp is not None else (f.tos >> 2)
                c.eq(sw + ": outer DSCP", s["tos"] >> 2, want_dscp)
                c.eq(sw + ": outer ECN", s["tos"] & 3, f.tos & 3)
            c.eq(where + ": bytes carried", offset, e["stt_len"])
        c.eq("packet IDs are distinct", len(set(ids)), len(ids))
        if self.packet_id is not None and ids:
            c.eq("first packet ID", ids[0], self.packet_id)

        # 2. tshark decodes what we meant (our checker, and the oracle when present).
        runs = env.check_runs(out)
        for name, res, recs in runs:
            self.check_decoded(c, name, res, recs, frames)

        # 3. Our own decap agrees with tshark, and gives the frames back.
        lines, summary = decap_json(env, out, ["-o", back])
        c.eq("decap drops", drops(summary), {})
        for name, _, recs in runs:
            compare_decap(c, name, lines, recs)
        _, got = read_pcap(back)
        want = []
        for f in frames:
            d = self.delivered(f)
            want.append(d if d is not None else ("super", f))
        gi = 0
        for i, w in enumerate(want):
            where = "round trip, frame %d (%s, %d bytes)" % (i + 1, frames[i].kind,
                                                               len(frames[i].data))
            if isinstance(w, tuple):
                n = -(-w[1].l4_payload_len // self.tso)
                check_tso_segments(c, where, w[1], self.tso, [d for _, d in got[gi:gi + n]])
                gi += n
                continue
            for d in w:
                if gi >= len(got):
                    c.true(where + ": missing from " + back, False)
                    break
                c.true(where + ": bytes differ (%d vs %d bytes)" % (len(got[gi][1]), len(d)),
                       got[gi][1] == d)
                c.eq(where + ": timestamp", got[gi][0],
                     frames[i].ts if self.nano else frames[i].ts // 1000 * 1000)
                gi += 1
        c.eq("frames in " + back, len(got), gi)

        # 4. With --keep-offload, P frames come back as they were sent:
        # checksum-partial, super-packets unsegmented.
        if self.csum_partial or self.tso:
            kept = os.path.join(work, "kept.pcap")
            lines, summary = decap_json(env, out, ["-o", kept, "--keep-offload"])
            c.eq("decap --keep-offload drops", drops(summary), {})
            _, got = read_pcap(kept)
            c.eq("frames in " + kept, len(got), len(frames))
            for i, (f, (_, d)) in enumerate(zip(frames, got)):
                partial = f.l4 in ("tcp", "udp")
                want = f.with_partial_checksum() if partial else f.data
                if self.vlan is not None:
                    vid, pcp = self.vlan
                    want = want[:12] + struct.pack("!HH", 0x8100, (pcp << 13) | vid) + want[12:]
                c.true("keep-offload frame %d (%s): bytes differ" % (i + 1, f.kind), d == want)
                if partial and i < len(lines):
                    o = lines[i].get("offload", {})
                    c.true("keep-offload frame %d: NEEDS_CSUM in %r" % (i + 1, o),
                           o.get("flags", 0) & 1 == 1)
        return "%d inner frames, %d outer packets" % (len(frames), len(records))


# `sttctl decap -j` field -> the tshark checkers' field for the same thing.
DECAP_VS_TSHARK = (("context_id", "context_id"), ("version", "version"), ("flags", "flags"),
                   ("l4_offset", "l4_offset"), ("mss", "mss"), ("vlan_id", "vlan_id"),
                   ("vlan_pcp", "vlan_pcp"), ("stt_length", "stt_len"), ("packet_id", "pkt_id"),
                   ("src_port", "src_port"), ("inner_src", "inner_src"),
                   ("inner_dst", "inner_dst"), ("inner_ethertype", "inner_ethertype"))


def compare_decap(c, name, lines, recs):
    """`sttctl decap -j` lines agree, frame by frame, with what checker `name` decoded."""
    by_frame = {}
    for j in lines:
        by_frame.setdefault(j["frame"], []).append(j)
    c.eq("STT frames decap delivered vs %s" % name, len(by_frame), len(recs))
    for r in recs:
        for j in by_frame.get(r["frame"], []):
            where = "decap frame %d" % r["frame"]
            for ours, theirs in DECAP_VS_TSHARK:
                c.eq("%s: %s vs %s %s" % (where, ours, name, theirs), j[ours], r[theirs])
            c.eq("%s: vlan_valid vs %s vlan_v" % (where, name), j["vlan_valid"],
                 bool(r["vlan_v"]))
            c.eq(where + ": segments", j["segments"], len(r["segment_frames"]))
            c.true(where + ": outer_src", same_ip(j["outer_src"], r["outer_src"]))
            c.true(where + ": outer_dst", same_ip(j["outer_dst"], r["outer_dst"]))


def check_tso_segments(c, where, f, mss, got):
    """The software-segmented pieces of a TCP super-packet: complete checksums,
    contiguous sequence numbers, the original payload in order."""
    c.eq(where + ": pieces", len(got), -(-f.l4_payload_len // mss))
    payload = b""
    seq0 = struct.unpack("!I", f.untagged[f.l4_offset + 4:f.l4_offset + 8])[0]
    for k, d in enumerate(got):
        pw = "%s piece %d" % (where, k + 1)
        if f.tag is not None:
            c.eq(pw + ": TPID", d[12:14], b"\x81\x00")
            d = d[:12] + d[16:]
        l3, l4 = 14, f.l4_offset
        if f.ipver == 4:
            c.eq(pw + ": IPv4 header checksum", finish(csum(d[l3:l3 + 20])), 0)
            c.eq(pw + ": IPv4 total length", struct.unpack("!H", d[16:18])[0], len(d) - 14)
            src, dst = INNER_V4
        else:
            c.eq(pw + ": IPv6 payload length", struct.unpack("!H", d[18:20])[0], len(d) - 54)
            src, dst = INNER_V6
        seg = d[l4:]
        c.eq(pw + ": TCP checksum", finish(csum(seg, pseudo_sum(f.ipver, src, dst, 6, len(seg)))),
             0)
        c.eq(pw + ": TCP seq", struct.unpack("!I", seg[4:8])[0], (seq0 + len(payload)) & 0xFFFFFFFF)
        body = seg[20:]
        c.true(pw + ": payload %d > MSS %d" % (len(body), mss), len(body) <= mss)
        payload += body
    c.true(where + ": reassembled payload differs from the original",
           payload == f.untagged[f.l4_offset + 20:])


ENCAP_CASES = [
    EncapCase("encap_v4_mtu1500", 4),
    EncapCase("encap_v6_mtu1500", 6, context_id="0xfedcba9876543210"),
    EncapCase("encap_v4_mtu9000", 4, mtu=9000, context_id="18446744073709551615"),
    EncapCase("encap_v6_mtu9000_nano", 6, mtu=9000, nano=True),
    EncapCase("encap_v4_gso", 4, gso=True, packet_id=4000000000),
    EncapCase("encap_v6_gso", 6, gso=True),
    EncapCase("encap_v4_vlan", 4, vlan=(100, 5), dscp=46),
    EncapCase("encap_v6_vlan_gso", 6, vlan=(0, 7), gso=True),
    EncapCase("encap_v4_csum_partial", 4, csum_partial=True, csum_verified=True),
    EncapCase("encap_v6_csum_partial_vlan", 6, csum_partial=True, vlan=(7, 2)),
    EncapCase("encap_v4_tso", 4, tso=1448),
    EncapCase("encap_v6_tso_gso_mtu9000", 6, tso=1440, gso=True, mtu=9000),
]


# ------------------------------------------------------------------ the sample capture

def case_sample(env, c):
    """decap -j of the oracle's sample agrees with its expected output for frames
    1, 4 and 5, and rejects frame 6 (bad outer checksum, version 1) with a
    counted drop."""
    with open(env.sample_expected) as f:
        expected = {r["frame"]: r for r in (json.loads(line) for line in f if line.strip())}
    lines, summary = decap_json(env, env.sample)
    got = {j["frame"]: j for j in lines}
    c.eq("frames delivered", sorted(got), [1, 4, 5])
    for n in (1, 4, 5):
        j, r = got.get(n), expected[n]
        if j is None:
            continue
        where = "sample frame %d" % n
        for ours, theirs in DECAP_VS_TSHARK + (("vlan_tci", "vlan_tci"),
                                               ("outer_src", "outer_src"),
                                               ("outer_dst", "outer_dst")):
            c.eq("%s: %s vs expected %s" % (where, ours, theirs), j[ours], r[theirs])
        c.eq(where + ": vlan_valid", j["vlan_valid"], bool(r["vlan_v"]))
        c.eq(where + ": segments", j["segments"], len(r["segment_frames"]))
    c.eq("frame 6: rx.drop_bad_tcp_checksum", summary["rx"].get("drop_bad_tcp_checksum"), 1)
    c.eq("packets read", summary["packets"], 6)
    # Without the checksum check, frame 6 still goes: its version is 1 (R1).
    lines, summary = decap_json(env, env.sample, ["--trust-checksums"])
    c.eq("--trust-checksums: frames delivered", sorted(j["frame"] for j in lines), [1, 4, 5])
    c.eq("--trust-checksums: decap.drop_bad_version",
         summary["decap"].get("drop_bad_version"), 1)
    # Reassembly time is capture time: the sample's segments 2-4 are 1 s apart,
    # so a 1.5 s timeout expires frame 4 (and counts it).
    lines, summary = decap_json(env, env.sample, ["--timeout", "1500"])
    c.eq("--timeout 1500: frames delivered", sorted(j["frame"] for j in lines), [1, 5])
    c.true("--timeout 1500: reassembly.expired counted: %r" % summary["reassembly"],
           summary["reassembly"].get("expired", 0) >= 1)
    # The table form names the same frames and the drop.
    res = env.sttctl_ok(["decap", "-i", env.sample], "decap (table)")
    c.true("table lists context 0x0000000000000100", "0x0000000000000100" in res.out)
    c.true("table shows rx.drop_bad_tcp_checksum = 1",
           "rx.drop_bad_tcp_checksum = 1" in res.out)
    return "frames 1, 4, 5 agree; frame 6 dropped and counted"


# ------------------------------------------------------------------ other cases

def case_dst_port(env, c):
    """--dst-port on encap and --port on decap."""
    work = os.path.join(env.workdir, "dst_port")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    inner, out = os.path.join(work, "inner.pcap"), os.path.join(work, "stt.pcap")
    frames = build_frames([("icmp4", 98, None), ("tcp4", 3000, None)], segment_payload(4, 1500))
    write_pcap(inner, [(f.ts, f.data) for f in frames])
    env.sttctl_ok(["encap", "-i", inner, "-o", out, "--context-id", "7", "--src", "192.0.2.1",
                   "--dst", "192.0.2.2", "--dst-port", "8472", "-q"], "encap --dst-port")
    _, records = read_pcap(out)
    c.true("some packets written", len(records) > 0)
    for _, pkt in records:
        c.eq("dst port", parse_outer(pkt)["dport"], 8472)
    lines, summary = decap_json(env, out)
    c.eq("default port: frames", len(lines), 0)
    c.eq("default port: rx.not_our_port", summary["rx"]["not_our_port"], len(records))
    lines, summary = decap_json(env, out, ["--port", "8472"])
    c.eq("--port 8472: frames", len(lines), 2)
    c.eq("--port 8472: context", [j["context_id"] for j in lines], ["0x0000000000000007"] * 2)
    return "%d packets on port 8472" % len(records)


def case_bad_input(env, c):
    """Bad files and arguments: one error line naming the culprit, non-zero exit."""
    work = os.path.join(env.workdir, "bad_input")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    good = os.path.join(work, "good.pcap")
    frames = build_frames([("icmp4", 98, None), ("udp4", 200, None)])
    write_pcap(good, [(f.ts, f.data) for f in frames])
    text = os.path.join(work, "notes.txt")
    with open(text, "w") as f:
        f.write("this is not a capture\n" * 4)
    rawip = os.path.join(work, "rawip.pcap")
    write_pcap(rawip, [(f.ts, f.data[14:]) for f in frames], linktype=101)
    trunc = os.path.join(work, "truncated.pcap")
    with open(good, "rb") as f:
        blob = f.read()
    with open(trunc, "wb") as f:
        f.write(blob[:-30])
    missing = os.path.join(work, "does-not-exist.pcap")
    out = os.path.join(work, "out.pcap")
    enc = ["--context-id", "1", "--src", "192.0.2.1", "--dst", "192.0.2.2"]

    def expect_error(argv, needle, what):
        res = env.run([env.sttctl] + argv, what)
        c.true("%s: exit status 0" % what, res.returncode != 0)
        c.true("%s: stderr %r does not name %r" % (what, res.err.strip(), needle),
               needle in res.err)
        c.true("%s: crashed (status %d)" % (what, res.returncode), res.returncode > 0)

    for verb, extra in (("decap", []), ("encap", ["-o", out] + enc)):
        expect_error([verb, "-i", missing] + extra, missing, verb + " missing file")
        expect_error([verb, "-i", text] + extra, text, verb + " not a pcap")
        expect_error([verb, "-i", rawip] + extra, rawip, verb + " raw-IP link type")
        expect_error([verb, "-i", trunc] + extra, trunc, verb + " truncated file")
    base = ["encap", "-i", good, "-o", out]
    expect_error(base + ["--context-id", "12abc", "--src", "192.0.2.1", "--dst", "192.0.2.2"],
                 "12abc", "bad context id")
    expect_error(base + ["--context-id", "0x1ffffffffffffffff", "--src", "192.0.2.1",
                         "--dst", "192.0.2.2"], "0x1ffffffffffffffff", "context id > 64 bits")
    expect_error(base + enc + ["--vlan", "4095"], "4095", "reserved VID")
    expect_error(base + enc + ["--vlan", "10:8"], "10:8", "PCP > 7")
    expect_error(base + ["--context-id", "1", "--src", "192.0.2.1", "--dst", "2001:db8::2"],
                 "--src", "mixed address families")
    expect_error(base + ["--context-id", "1", "--src", "192.0.2.300", "--dst", "192.0.2.2"],
                 "192.0.2.300", "bad address")
    expect_error(base + enc + ["--mtu", "50"], "--mtu", "MTU too small")
    expect_error(base + enc + ["--dscp-mode", "bogus"], "bogus", "bad DSCP mode")
    expect_error(["encap", "-i", good] + enc, "--output", "missing --output")
    expect_error(["decap"], "--input", "missing --input")
    expect_error(["frobnicate"], "frobnicate", "unknown subcommand")
    expect_error(["encap", "-i", good, "-o", os.path.join(work, "no", "such", "dir.pcap")] + enc,
                 "dir.pcap", "unwritable output")
    res = env.run([env.sttctl, "--version"], "--version")
    c.eq("--version exit status", res.returncode, 0)
    c.true("--version prints a version: %r" % res.out, "sttctl" in res.out)
    return "%d checks" % c.checks


def case_garbage(env, c):
    """Packets that are not STT, or are broken STT, are counted and never crash decap."""
    work = os.path.join(env.workdir, "garbage")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    inner, out, mixed = (os.path.join(work, n) for n in ("inner.pcap", "stt.pcap", "mixed.pcap"))
    frames = build_frames([("tcp4", 4000, None), ("icmp4", 98, None)], segment_payload(4, 1500))
    write_pcap(inner, [(f.ts, f.data) for f in frames])
    env.sttctl_ok(["encap", "-i", inner, "-o", out, "--context-id", "9", "--src", "192.0.2.1",
                   "--dst", "192.0.2.2", "-q"], "encap")
    _, segs = read_pcap(out)
    ts = segs[0][0]
    junk = [b"", b"\x01", b"\xff" * 13, pattern(14), mac(INNER_DST_MAC) * 2 + b"\x08\x00" +
            b"\x45" + b"\0" * 10]
    junk += [frames[1].data]                             # plain ICMP: not STT
    junk += [s[:len(s) // 2] for _, s in segs]           # segments cut short (IP length lies)
    flipped = bytearray(segs[-1][1])
    flipped[-1] ^= 0xFF                                  # bad TCP checksum
    junk.append(bytes(flipped))
    records = [(ts, j) for j in junk] + segs[1:]         # first segment missing: incomplete
    records += [segs[0], segs[0]]                        # ... then it arrives twice
    write_pcap(mixed, records)
    res = env.run([env.sttctl, "decap", "-i", mixed, "-j"], "decap of junk")
    c.eq("decap exit status (stderr %r)" % res.err.strip(), res.returncode, 0)
    lines = [json.loads(line) for line in res.out.splitlines() if line.strip()]
    summary = lines[-1].get("summary", {}) if lines else {}
    c.eq("packets read", summary.get("packets"), len(records))
    # Every junk record is classified once as "not STT" or a drop; the rest are segments.
    c.eq("rx: records not accepted (%r)" % summary.get("rx"),
         sum(v for k, v in summary.get("rx", {}).items() if k != "segments"), len(junk))
    c.eq("rx.segments", summary.get("rx", {}).get("segments"), len(segs) + 1)
    # Both frames complete (the first once its offset-0 segment arrives); the
    # repeated offset-0 segment starts a frame that never completes.
    c.eq("frames delivered", sorted(j["context_id"] for j in lines[:-1]),
         ["0x0000000000000009"] * 2)
    c.eq("incomplete_at_end", summary.get("incomplete_at_end"), 1)
    return "%d junk packets counted" % len(junk)


# ------------------------------------------------------------------ a capture built here

def build_own_sample(path):
    """A capture of STT frames built field by field in Python (tests/hostile/stt_packets.py),
    not by libstt: (a) one segment, inner ICMP; (b) a 4060-byte frame in 3 segments, C set;
    (c) VLAN TCI 0xb064 with P|IPv4|TCP, L4 offset 34, MSS 1448; (d) the same over IPv6;
    (e) version 1 and a wrong outer checksum. Returns what each frame was built with."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hostile"))
    import stt_packets as sp
    v4 = sp.Endpoint("00:00:5e:00:53:01", "00:00:5e:00:53:02", *UNDERLAY[4])
    v6 = sp.Endpoint("00:00:5e:00:53:01", "00:00:5e:00:53:02", *UNDERLAY[6])
    icmp = make_frame("icmp4", 98)
    big = make_frame("icmp4", 4042)
    tcp4 = make_frame("tcp4", 154)
    built = [
        # (endpoint, inner, context, flags, l4 offset, mss, tci, packet id, sport, pieces, kw)
        (v4, icmp.data, 0x1122334455667788, 0, 0, 0, 0, 1, 49153, None, {}),
        (v4, big.data, 0x42, sp.FLAG_C, 0, 0, 0, 2, 49154,
         [(0, 1460), (1460, 1460), (2920, 4060 - 2920)], {}),
        (v4, tcp4.with_partial_checksum(), 0x100, sp.FLAG_P | sp.FLAG_IPV4 | sp.FLAG_TCP, 34,
         1448, 0xB064, 3, 49155, None, {}),
        (v6, tcp4.with_partial_checksum(), 0x101, sp.FLAG_P | sp.FLAG_IPV4 | sp.FLAG_TCP, 34,
         1448, 0xB064, 4, 49156, None, {}),
        (v4, icmp.data, 0xDEAD, 0, 0, 0, 0, 5, 49157, None, {"tcp_kw": {"bad_csum": True}}),
    ]
    records, ts, want = [], BASE_TS_NS, []
    for ep, inner, ctx, flags, l4, mss, tci, pid, sport, pieces, kw in built:
        version = 1 if ctx == 0xDEAD else 0
        frame = sp.stt_header(ctx, version=version, flags=flags, l4_offset=l4, mss=mss,
                              tci=tci) + inner
        segs = ep.frame(frame, pid, pieces, sport=sport, **kw)
        first = len(records) + 1
        for seg in segs:
            records.append((ts, seg))
            ts += 1_000_000
        want.append({"frame": len(records), "segment_frames": list(range(first, len(records) + 1)),
                     "context_id": "0x%016x" % ctx, "version": version, "flags": flags,
                     "l4_offset": l4, "mss": mss, "vlan_tci": tci, "vlan_v": tci >> 12 & 1,
                     "vlan_id": tci & 0xFFF, "vlan_pcp": tci >> 13, "stt_len": len(frame),
                     "pkt_id": pid, "src_port": sport, "outer_src": ep.src_ip,
                     "outer_dst": ep.dst_ip, "inner_src": INNER_SRC_MAC,
                     "inner_dst": INNER_DST_MAC, "inner_ethertype": "0x0800", "inner": inner})
    write_pcap(path, records)
    return want


def case_own_sample(env, c):
    """tshark decodes a capture built field by field here as it was built, flags the broken
    frame, and `sttctl decap` agrees with tshark on every frame it delivers."""
    work = os.path.join(env.workdir, "own_sample")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    pcap, back = os.path.join(work, "sample.pcap"), os.path.join(work, "back.pcap")
    want = build_own_sample(pcap)
    good, bad = want[:-1], want[-1]
    for name, res, recs in env.check_runs(pcap):
        c.eq("%s exit status (the last frame is broken)" % name, res.returncode, 1)
        got = {r["frame"]: r for r in recs}
        c.eq("%s: frames decoded" % name, sorted(got), [w["frame"] for w in want])
        for w in want:
            r = got.get(w["frame"])
            if r is None:
                continue
            for k in ("segment_frames", "context_id", "version", "flags", "l4_offset", "mss",
                      "vlan_tci", "vlan_v", "vlan_id", "vlan_pcp", "stt_len", "pkt_id",
                      "src_port", "inner_src", "inner_dst", "inner_ethertype"):
                c.eq("%s frame %d: %s" % (name, w["frame"], k), r[k], w[k])
            c.true("%s frame %d: outer addresses %s %s" % (name, w["frame"], r["outer_src"],
                                                          r["outer_dst"]),
                   same_ip(r["outer_src"], w["outer_src"]) and
                   same_ip(r["outer_dst"], w["outer_dst"]))
            problems = " ".join(r["problems"]).lower()
            if w is bad:
                c.true("%s names the wrong checksum: %r" % (name, r["problems"]),
                       "checksum" in problems)
                c.true("%s names version 1: %r" % (name, r["problems"]), "version 1" in problems)
            else:
                c.eq("%s frame %d: problems" % (name, w["frame"]), r["problems"], [])
        lines, summary = decap_json(env, pcap, ["-o", back, "--keep-offload"])
        compare_decap(c, name, lines, [r for r in recs if r["frame"] != bad["frame"]])
    c.eq("decap: frames delivered", [j["frame"] for j in lines], [w["frame"] for w in good])
    c.eq("decap: rx.drop_bad_tcp_checksum", summary["rx"].get("drop_bad_tcp_checksum"), 1)
    _, frames_back = read_pcap(back)
    for w, (_, d) in zip(good, frames_back):
        tag = b"" if not w["vlan_v"] else struct.pack("!HH", 0x8100, w["vlan_tci"] & 0xEFFF)
        want_bytes = w["inner"][:12] + tag + w["inner"][12:]
        c.true("decap frame %d: inner bytes differ" % w["frame"], d == want_bytes)
    lines, summary = decap_json(env, pcap, ["--trust-checksums"])
    c.eq("--trust-checksums: decap.drop_bad_version", summary["decap"].get("drop_bad_version"), 1)
    return "%d frames; tshark and decap agree, the broken one flagged and dropped" % len(want)


CASES = {c.name: c.run for c in ENCAP_CASES}
CASES["own_sample"] = case_own_sample
CASES["dst_port"] = case_dst_port
CASES["bad_input"] = case_bad_input
CASES["garbage"] = case_garbage
# Cases that read the independent oracle's own files: listed only with --oracle.
ORACLE_CASES = {"decap_sample": case_sample}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sttctl", help="path of the sttctl binary")
    ap.add_argument("--oracle", help="../shared/oracle, when present: its checker runs beside "
                    "ours, and its sample capture is a case")
    ap.add_argument("--workdir", help="scratch directory (created)")
    ap.add_argument("--list", action="store_true", help="list the case names")
    ap.add_argument("cases", nargs="*")
    args = ap.parse_args()
    cases = dict(CASES, **(ORACLE_CASES if args.oracle else {}))
    if args.list:
        print("\n".join(cases))
        return 0
    if not args.sttctl or not args.workdir or not args.cases:
        ap.error("--sttctl, --workdir and at least one case are needed")
    os.makedirs(args.workdir, exist_ok=True)
    env = Env(args)
    status = 0
    for name in (list(cases) if args.cases == ["all"] else args.cases):
        if name not in cases:
            print("unknown case %s (try --list)" % name, file=sys.stderr)
            return 2
        c = Checker(name)
        try:
            note = cases[name](env, c)
            c.done()
            print("PASS %s: %s (%d checks)" % (name, note, c.checks))
        except Failure as exc:
            print("FAIL %s (%d checks):\n  %s" % (name, c.checks, exc))
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
