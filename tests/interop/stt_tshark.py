#!/usr/bin/env python3
"""The project's own STT checker: Wireshark's STT dissector (tshark) decodes a
capture, and this script turns what it decoded into one JSON line per STT frame
and a list of problems for each.

    stt_tshark.py CAPTURE [--port N] [--tshark PATH]

Exit status: 0 when every STT frame is clean, 1 when any has a problem (or a
segment never completes a frame), 2 when tshark fails or finds no STT at all.

Why tshark: its STT dissector was written from the draft by other people, so a
field we encode wrongly and decode with the same mistake still shows up here.
The JSON field names are those of the independent checker that may sit in
../shared/oracle, so the interop tests compare both the same way. Standard
library only.

A frame's problems (every one makes the exit status 1):
- tshark calls any of its packets malformed, or raises an expert info of
  warning or error level, except the sequence group (TCP/ICMP conversation
  tracking, which is about which frames a capture holds, not about their bytes);
- an IP header checksum (outer or inner) tshark judges bad;
- the outer TCP-like checksum of a segment is wrong (judged by tshark's TCP
  dissector in a second pass: the STT dissector's own checksum check is off,
  because in 4.0 it calls correct checksums bad);
- STT reassembly errors, or segments of one frame that disagree on source
  port, STT length or packet ID;
- the STT length differs from the bytes the segments carry;
- the header breaks a transmit rule of the draft: version not 0, reserved flag
  bits, reserved byte or padding not 0, IPv4/TCP flags or an L4 offset or MSS
  without checksum-partial, a VLAN TCI without the V bit, SYN/FIN/RST or a data
  offset other than 20 in the TCP-like header.
"""

import argparse
import ipaddress
import json
import os
import subprocess
import sys
import tempfile

SEVERITY_WARN = 0x00600000
GROUP_MASK = 0xFF000000
GROUP_SEQUENCE = 0x02000000

# Pass 1: the STT view. Each field may occur several times in a packet (outer
# and inner Ethernet, say); occurrence=a keeps them all, in dissection order.
STT_FIELDS = [
    "frame.number", "frame.protocols", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
    "ip.checksum.status", "eth.src", "eth.dst", "eth.type",
    "stt.stream_id", "stt.pkt_len", "stt.seg_off", "stt.pkt_id", "stt.tcp.data_offset",
    "stt.tcp.flags", "stt.version", "stt.flags", "stt.l4offset", "stt.reserved", "stt.mss",
    "stt.vlan", "stt.vlan.pcp", "stt.vlan.v", "stt.vlan.id", "stt.context_id", "stt.padding",
    "stt.segment", "stt.reassembled.length", "stt.reassembled_in", "stt.segment.error",
    "stt.segment.overlap.conflict", "stt.segment.multipletails",
    "stt.segment.toolongfragment", "_ws.malformed", "_ws.expert.message",
    "_ws.expert.severity", "_ws.expert.group",
]
# Pass 2: the same packets as plain TCP, for the outer checksum and payload length.
TCP_FIELDS = ["frame.number", "tcp.srcport", "tcp.len", "tcp.checksum", "tcp.checksum.status",
              "tcp.checksum_calculated"]
TCP_FLAG_FIN, TCP_FLAG_SYN, TCP_FLAG_RST = 0x01, 0x02, 0x04
FLAG_C, FLAG_P, FLAG_IPV4, FLAG_TCP = 0x01, 0x02, 0x04, 0x08


class TsharkError(Exception):
    pass


def run_tshark(tshark, capture, prefs, fields, display_filter=None, two_pass=False):
    """One tshark run -> list of {field: [values]} per packet."""
    argv = [tshark, "-n", "-r", capture]
    if two_pass:
        argv.append("-2")   # reassembly results are known on every segment's line
    for p in prefs:
        argv += ["-o", p]
    if display_filter:
        argv += ["-Y", display_filter]
    argv += ["-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=|"]
    for f in fields:
        argv += ["-e", f]
    # An empty configuration directory: a personal Wireshark profile (other
    # heuristics, other ports) must not change what the tests see.
    with tempfile.TemporaryDirectory(prefix="stt-tshark-") as conf:
        env = dict(os.environ, WIRESHARK_CONFIG_DIR=conf)
        try:
            res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                 check=False, timeout=600)
        except FileNotFoundError:
            raise TsharkError("%s not found (Debian package tshark)" % tshark)
    if res.returncode != 0:
        raise TsharkError("%s exited %d: %s" % (" ".join(argv[:4]), res.returncode,
                                                res.stderr.decode(errors="replace").strip()))
    rows = []
    for line in res.stdout.decode(errors="replace").splitlines():
        cols = line.split("\t")
        cols += [""] * (len(fields) - len(cols))
        rows.append({f: (c.split("|") if c else []) for f, c in zip(fields, cols)})
    return rows


def num(values, index=0):
    """The index-th value of a field as an int (hex or decimal), or None."""
    if len(values) <= index:
        return None
    return int(values[index], 0)


def outer_family(protocols):
    """4 or 6: the first IP layer in frame.protocols is the outer one."""
    for p in protocols[0].split(":") if protocols else []:
        if p in ("ip", "ipv6"):
            return 4 if p == "ip" else 6
    return None


def expert_problems(row):
    out = []
    msgs, sevs, groups = (row["_ws.expert." + k] for k in ("message", "severity", "group"))
    for i, msg in enumerate(msgs):
        sev = int(sevs[i], 0) if i < len(sevs) else 0
        group = int(groups[i], 0) & GROUP_MASK if i < len(groups) else 0
        if sev >= SEVERITY_WARN and group != GROUP_SEQUENCE:
            out.append("frame %s: tshark expert: %s" % (row["frame.number"][0], msg))
    return out


def header_problems(r):
    """Transmit rules of the draft the decoded header breaks."""
    out = []
    partial = bool(r["flags"] & FLAG_P)
    if r["version"] != 0:
        out.append("version %d, not 0" % r["version"])
    if r["flags"] & 0xF0:
        out.append("reserved flag bits set (flags 0x%02x)" % r["flags"])
    if r["reserved"]:
        out.append("reserved byte 0x%02x, not 0" % r["reserved"])
    if r["padding"]:
        out.append("padding 0x%04x, not 0" % r["padding"])
    if not partial:
        if r["flags"] & (FLAG_IPV4 | FLAG_TCP):
            out.append("IPv4/TCP flag without checksum-partial (flags 0x%02x)" % r["flags"])
        if r["l4_offset"]:
            out.append("L4 offset %d without checksum-partial" % r["l4_offset"])
        if r["mss"]:
            out.append("MSS %d without checksum-partial" % r["mss"])
    if r["vlan_tci"] and not r["vlan_v"]:
        out.append("VLAN TCI 0x%04x without the V bit" % r["vlan_tci"])
    return out


def check(capture, port=7471, tshark="tshark"):
    """Returns (records, orphan segment frame numbers). Raises TsharkError."""
    stt_rows = run_tshark(tshark, capture, [
        "ip.try_heuristic_first:TRUE", "ipv6.try_heuristic_first:TRUE", "stt.reassemble:TRUE",
        "stt.check_checksum:FALSE", "ip.check_checksum:TRUE"], STT_FIELDS, two_pass=True)
    tcp_rows = run_tshark(tshark, capture, [
        "ip.try_heuristic_first:FALSE", "ipv6.try_heuristic_first:FALSE",
        "tcp.check_checksum:TRUE"], TCP_FIELDS, display_filter="tcp.dstport == %d" % port)
    tcp = {int(r["frame.number"][0]): r for r in tcp_rows}
    rows = {int(r["frame.number"][0]): r for r in stt_rows}

    records, covered = [], set()
    for n, row in sorted(rows.items()):
        if not row["stt.version"]:
            continue   # a segment whose frame completes later (or never)
        segs = [int(s) for s in row["stt.segment"]] or [n]
        covered.update(segs)
        fam = outer_family(row["frame.protocols"])
        src_f, dst_f = ("ip.src", "ip.dst") if fam == 4 else ("ipv6.src", "ipv6.dst")
        r = {
            "frame": n, "segment_frames": segs,
            "outer_src": row[src_f][0] if row[src_f] else None,
            "outer_dst": row[dst_f][0] if row[dst_f] else None,
            "src_port": num(row["stt.stream_id"]), "pkt_id": num(row["stt.pkt_id"]),
            "stt_len": num(row["stt.pkt_len"]), "version": num(row["stt.version"]),
            "flags": num(row["stt.flags"]), "l4_offset": num(row["stt.l4offset"]),
            "reserved": num(row["stt.reserved"]), "mss": num(row["stt.mss"]),
            "vlan_tci": num(row["stt.vlan"]), "vlan_pcp": num(row["stt.vlan.pcp"]),
            "vlan_v": num(row["stt.vlan.v"]), "vlan_id": num(row["stt.vlan.id"]),
            "context_id": "0x%016x" % num(row["stt.context_id"]),
            "padding": num(row["stt.padding"]),
            "reassembled_length": num(row["stt.reassembled.length"]),
            # The outer Ethernet header comes first, the inner one second.
            "inner_src": row["eth.src"][1] if len(row["eth.src"]) > 1 else None,
            "inner_dst": row["eth.dst"][1] if len(row["eth.dst"]) > 1 else None,
            "inner_ethertype": ("0x%04x" % num(row["eth.type"], 1)
                                if len(row["eth.type"]) > 1 else None),
        }
        problems = header_problems(r)
        carried, checksums = 0, []
        for s in segs:
            seg_row, seg_tcp = rows.get(s), tcp.get(s)
            if seg_row is None or seg_tcp is None:
                problems.append("segment frame %d: not seen as TCP to port %d" % (s, port))
                continue
            problems += expert_problems(seg_row)
            if seg_row["_ws.malformed"]:
                problems.append("frame %d: tshark calls it malformed" % s)
            for what in ("error", "overlap.conflict", "multipletails", "toolongfragment"):
                if seg_row["stt.segment." + what]:
                    problems.append("frame %d: STT reassembly %s" % (s, what))
            if "0" in seg_row["ip.checksum.status"]:
                problems.append("frame %d: an IPv4 header checksum is bad" % s)
            for field, what in (("stt.pkt_len", "STT length"), ("stt.stream_id", "source port"),
                                ("stt.pkt_id", "packet ID")):
                if num(seg_row[field]) != num(row[field]):
                    problems.append("frame %d: %s %s differs from the frame's %s" %
                                    (s, what, seg_row[field], row[field]))
            tflags = num(seg_row["stt.tcp.flags"]) or 0
            if tflags & (TCP_FLAG_FIN | TCP_FLAG_SYN | TCP_FLAG_RST):
                problems.append("frame %d: TCP flags 0x%03x include SYN, FIN or RST" % (s, tflags))
            if num(seg_row["stt.tcp.data_offset"]) != 20:
                problems.append("frame %d: TCP data offset %s, not 20" %
                                (s, seg_row["stt.tcp.data_offset"]))
            carried += num(seg_tcp["tcp.len"]) or 0
            status = num(seg_tcp["tcp.checksum.status"])
            checksums.append({0: "bad", 1: "good"}.get(status, "unverified"))
            if status != 1:
                problems.append("frame %d: outer TCP-like checksum %s is %s (tshark computes %s)" %
                                (s, "".join(seg_tcp["tcp.checksum"][:1]), checksums[-1],
                                 "".join(seg_tcp["tcp.checksum_calculated"][:1])))
        if carried != r["stt_len"]:
            problems.append("STT length %s, but the segments carry %d bytes" %
                            (r["stt_len"], carried))
        r["outer_tcp_checksum"] = checksums
        r["carried_len"] = carried
        r["problems"] = problems
        r["ok"] = not problems
        records.append(r)
    orphans = sorted(n for n, row in rows.items()
                     if row["stt.pkt_len"] and n not in covered)
    return records, orphans


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("capture")
    ap.add_argument("--port", type=int, default=7471, help="STT destination port (7471)")
    ap.add_argument("--tshark", default="tshark", help="tshark binary")
    args = ap.parse_args()
    try:
        records, orphans = check(args.capture, args.port, args.tshark)
    except TsharkError as e:
        print("stt_tshark: %s" % e, file=sys.stderr)
        return 2
    for r in records:
        print(json.dumps(r))
    bad = [r for r in records if not r["ok"]]
    if orphans:
        print("stt_tshark: segment frames that complete no STT frame: %s" % orphans,
              file=sys.stderr)
    print("stt_tshark: %d STT frame(s), %d with problems" % (len(records), len(bad)),
          file=sys.stderr)
    if not records and not orphans:
        return 2
    return 1 if bad or orphans else 0


if __name__ == "__main__":
    sys.exit(main())
