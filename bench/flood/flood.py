#!/usr/bin/env python3
"""Flood benchmark: what a flood of STT segments from non-peers costs a tenant's transfer,
against a flood of the same rate of packets that are not STT (what the kernel pays for any
flood). Run by bench/flood/run.sh (root).

Topology (tests/system harness): h1 and h2 run sttd (peers, network "blue") and an attacker
h3, all on one bridge. iperf3 runs h1 -> h2 over the overlay; h3 runs stt_flood at h2.

For each fast-path mode of FLOOD_MODES (default "bpf,off": sttd's [underlay] fast_path), sttd
is started on h1 and h2 and, FLOOD_ROUNDS times, the same iperf3 transfer runs in each of
these phases, interleaved:
  none      no flood;
  udp       UDP datagrams to a closed port (FLOOD_UDP_PORT, default 9), 1454-byte frames from
            FLOOD_SOURCES spoofed addresses, paced at FLOOD_PPS: the reference. The kernel
            takes each one in, finds no socket and drops it (the ICMP answer is rate-limited);
  stt       first segments of STT frames (1454-byte frames, each a new packet ID) from the
            same FLOOD_SOURCES non-peer addresses at the same rate: refused by the peer
            admission check, in the kernel with fast_path = "bpf", in sttd with "off"
            (counted in rx_drop_not_peer_segments either way, docs/design.md).
Then once per mode, for the reassembly cap (issue 5's figure):
  spoofed-peer  the same STT segments from one address, the peer's own (h1's), spoofed.
Printed per mode and phase: the median goodput over the rounds (min-max), its ratio to the
"udp" phase (the target: stt/udp >= 0.9) and to no flood, the flood's achieved packet rate,
sttd's peak RSS against the reassembly cap, and what was refused before reassembly."""

import json
import os
import statistics
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tests", "system"))
import stt_harness as H  # noqa: E402

FLOOD = os.environ.get("STT_FLOOD", "")
SECONDS = int(os.environ.get("FLOOD_SECONDS", "6"))
NSOURCES = int(os.environ.get("FLOOD_SOURCES", "4096"))
PPS = float(os.environ.get("FLOOD_PPS", "100000"))
ROUNDS = int(os.environ.get("FLOOD_ROUNDS", "3"))
MODES = [m for m in os.environ.get("FLOOD_MODES", "bpf,off").split(",") if m]
UDP_PORT = int(os.environ.get("FLOOD_UDP_PORT", "9"))
TARGET = 0.9  # issue 13: stt / udp goodput with fast_path = "bpf"
NET = {"name": "blue", "context_id": 0xF100D}
INNER = ["192.168.63.1", "192.168.63.2"]
NONPEER_BASE = "10.0.100.1"


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) * 1024
    return out


def udp_no_ports(host):
    """The host's Udp NoPorts counter (/proc/net/snmp of its namespace)."""
    lines = [l.split() for l in host.exec(["cat", "/proc/net/snmp"]).stdout.splitlines()
             if l.startswith("Udp:")]
    return int(lines[1][lines[0].index("NoPorts")])


class Sampler(threading.Thread):
    """sttd's RSS and reassembly memory, twice a second (each sample runs sttctl: rarely,
    so that it costs every phase little and the same)."""

    def __init__(self, daemon):
        super().__init__(daemon=True)
        self.d, self.stop_ev = daemon, threading.Event()
        self.max_rss = self.max_in_use = self.max_in_flight = 0

    def run(self):
        while not self.stop_ev.is_set():
            try:
                self.max_rss = max(self.max_rss, proc_status(self.d.proc.pid)["VmRSS"])
                r = self.d.ctl_json(["reassembly"])
                self.max_in_use = max(self.max_in_use, r["bytes_in_use"])
                self.max_in_flight = max(self.max_in_flight, r["frames_in_flight"])
            except Exception:
                pass
            self.stop_ev.wait(0.5)


def refused(victim):
    return victim.ctl_json(["stats"])["global"]["datapath"]["rx_drop_not_peer_segments"]


def run_phase(name, h1, h2, h3, victim, under, victim_mac):
    """One iperf3 transfer h1 -> h2 under the flood `name` names; returns its record."""
    stats0 = victim.ctl_json(["stats"])["global"]
    refused0 = stats0["datapath"]["rx_drop_not_peer_segments"]
    hwm0 = proc_status(victim.proc.pid)["VmHWM"]
    sampler = Sampler(victim)
    sampler.start()
    flood, out_path = None, os.path.join(H.tmpdir(), "flood-%s.out" % name)
    args = {"udp": [NONPEER_BASE, str(NSOURCES), "--udp", str(UDP_PORT)],
            "stt": [NONPEER_BASE, str(NSOURCES)],
            "spoofed-peer": [under[0], "1"]}.get(name)
    if args:
        cmd = [FLOOD, "veth0", victim_mac, under[1], args[0], args[1], str(SECONDS + 3),
               "--pps", "%.0f" % PPS] + args[2:]
        noports0 = udp_no_ports(h2)
        with open(out_path, "w") as out:
            flood = h3.popen(cmd, stdout=out)
        # The flood has arrived once h2 counts it: a datagram with no socket (udp), a
        # segment refused by admission (stt), or reassembly memory held (spoofed peer).
        H.wait_for(lambda: flood.poll() is not None or {
            "udp": lambda: udp_no_ports(h2) > noports0,
            "stt": lambda: refused(victim) > refused0,
            "spoofed-peer": lambda: victim.ctl_json(["reassembly"])["frames_in_flight"] > 0,
        }[name](), 10, "the %s flood to reach h2" % name)
        if flood.poll() is not None:
            raise H.HarnessError("stt_flood exited early (%s): %s" %
                                 (flood.returncode, open(out_path).read()))
    _, j = H.iperf3(h1, INNER[1], seconds=SECONDS)
    bps = j["end"]["sum_received"]["bits_per_second"]
    pps = None
    if flood:
        flood.wait(timeout=SECONDS + 30)
        text = open(out_path).read()
        pps = float(text.split("pps=")[1].split()[0]) if "pps=" in text else None
    sampler.stop_ev.set()
    sampler.join()
    stats1 = victim.ctl_json(["stats"])["global"]
    before, after = stats0["reassembly"], stats1["reassembly"]
    return {"phase": name, "gbit_s": bps / 1e9, "flood_pps": pps,
            "retransmits": j["end"].get("sum_sent", {}).get("retransmits"),
            "vmhwm_before": hwm0, "vmhwm_after": proc_status(victim.proc.pid)["VmHWM"],
            "max_rss": sampler.max_rss, "max_bytes_in_use": sampler.max_in_use,
            "max_frames_in_flight": sampler.max_in_flight,
            "sttd_alive": victim.proc.poll() is None,
            "refused_before_reassembly":
                stats1["datapath"]["rx_drop_not_peer_segments"] - refused0,
            "reassembly": {k: after[k] - before.get(k, 0) for k in after
                           if after[k] != before.get(k, 0)}}


def run_mode(mode, h1, h2, h3, under):
    """Starts sttd on h1 and h2 with fast_path = mode, runs the phases, stops sttd."""
    H.FAST_PATH = mode  # the harness renders [underlay] fast_path from it
    daemons = []
    for i, h in enumerate((h1, h2)):
        net = dict(NET, peers=[under[1 - i]])
        daemons.append(H.Daemon(h, under[i], [net]).start())
        H.setup_tap(h, net, INNER[i] + "/24")
    victim = daemons[1]
    for d in daemons:
        seen = d.ctl_json(["show"])["fast_path"]
        if seen.get("mode") != mode:
            raise H.HarnessError("fast_path = %r asked, sttd runs %r: %s" %
                                 (mode, seen.get("mode"), seen.get("reason")))
    ok, out = H.ping(h1, INNER[1], count=2)
    if not ok:
        raise H.HarnessError("overlay ping failed:\n" + out)
    srv = H.Iperf3Server(h2, INNER[1])
    cap = victim.ctl_json(["reassembly"])["limits"]
    mac = h2.mac("veth0")
    recs = []
    try:
        for rnd in range(1, ROUNDS + 1):
            for name in ("none", "udp", "stt"):
                r = run_phase(name, h1, h2, h3, victim, under, mac)
                r.update(mode=mode, round=rnd)
                print("  %s round %d %-12s %6.2f Gbit/s  flood %s pps" % (
                    mode, rnd, name, r["gbit_s"],
                    "-" if r["flood_pps"] is None else "%.0f" % r["flood_pps"]), flush=True)
                recs.append(r)
        r = run_phase("spoofed-peer", h1, h2, h3, victim, under, mac)
        r.update(mode=mode, round=1)
        recs.append(r)
    finally:
        srv.stop()
        for d in daemons:
            d.stop()
    return recs, cap


def summarize(recs, mode, phase):
    rs = [r for r in recs if r["mode"] == mode and r["phase"] == phase]
    g = [r["gbit_s"] for r in rs]
    p = [r["flood_pps"] for r in rs if r["flood_pps"] is not None]
    return {"gbit_s": statistics.median(g), "min": min(g), "max": max(g), "n": len(g),
            "flood_pps": statistics.median(p) if p else None,
            "retransmits": statistics.median([r["retransmits"] or 0 for r in rs]),
            "refused": max(r["refused_before_reassembly"] for r in rs),
            "vmhwm": max(r["vmhwm_after"] for r in rs), "max_rss": max(r["max_rss"] for r in rs),
            "in_use": max(r["max_bytes_in_use"] for r in rs),
            "frames": max(r["max_frames_in_flight"] for r in rs),
            "alive": all(r["sttd_alive"] for r in rs),
            "reassembly": rs[-1]["reassembly"]}


def main():
    if os.geteuid() != 0:
        sys.exit("flood benchmark: run as root")
    if not (FLOOD and os.access(FLOOD, os.X_OK) and os.access(H.STTD, os.X_OK)):
        sys.exit("set STTD, STTCTL and STT_FLOOD (bench/flood/run.sh does)")
    for m in MODES:
        if m not in ("bpf", "off", "auto"):
            sys.exit("FLOOD_MODES: %r is not bpf, off or auto" % m)
    H.sweep_stale()
    recs, cap = [], None
    try:
        sw, hosts, under = H.bridged_hosts(3)
        for key in ("iptables", "ip6tables", "arptables"):  # a plain L2 switch
            sw.sysctl("net.bridge.bridge-nf-call-" + key, 0)
        h1, h2, h3 = hosts
        for mode in MODES:
            r, cap = run_mode(mode, h1, h2, h3, under)
            recs += r
    finally:
        H.cleanup_all()
    mib = 1 << 20
    print("\nflood benchmark: %d rounds of %d s iperf3 h1 -> h2 per phase, interleaved; floods "
          "from %d sources at %.0f pps (1454-byte frames); reassembly cap mem_high %.1f MiB, "
          "max_frames %d, per source %d, timeout %d ms" %
          (ROUNDS, SECONDS, NSOURCES, PPS, cap["mem_high"] / mib, cap["max_frames"],
           cap["max_frames_per_source"], cap["timeout_ms"]))
    print("%-4s %-12s %7s %15s %7s %7s %9s %6s %9s %9s %9s %7s %9s" %
          ("mode", "phase", "Gbit/s", "(min-max)", "/udp", "/none", "flood pps", "retr",
           "VmHWM MiB", "maxRSS MiB", "in_use MiB", "frames", "refused"))
    summary = {}
    for mode in MODES:
        summary[mode] = {p: summarize(recs, mode, p)
                         for p in ("none", "udp", "stt", "spoofed-peer")}
        s = summary[mode]
        for p in ("none", "udp", "stt", "spoofed-peer"):
            x = s[p]
            print("%-4s %-12s %7.2f %15s %7.2f %7.2f %9s %6.0f %9.1f %9.1f %9.1f %7d %9d" % (
                mode, p, x["gbit_s"], "(%.2f-%.2f)" % (x["min"], x["max"]),
                x["gbit_s"] / s["udp"]["gbit_s"], x["gbit_s"] / s["none"]["gbit_s"],
                "-" if x["flood_pps"] is None else "%.0f" % x["flood_pps"], x["retransmits"],
                x["vmhwm"] / mib, x["max_rss"] / mib, x["in_use"] / mib, x["frames"],
                x["refused"]))
            if not x["alive"]:
                print("  sttd DIED during phase %s" % p)
        s["stt_over_udp"] = s["stt"]["gbit_s"] / s["udp"]["gbit_s"]
        # The ratio compares floods of one rate: the pacing only holds while the flooder keeps
        # up (each packet's receive work runs in its softirq, so a costlier kind is slower).
        pu, ps = s["udp"]["flood_pps"] or 0, s["stt"]["flood_pps"] or 0
        s["rates_equal"] = min(pu, ps) >= 0.95 * PPS
    for mode in MODES:
        s = summary[mode]
        verdict = ("met" if s["stt_over_udp"] >= TARGET else "MISSED") if mode == "bpf" else \
            "(contrast)"
        if not s["rates_equal"]:
            verdict += "; NOT COMPARABLE: the floods ran at %.0f (udp) and %.0f (stt) pps, not " \
                "both at %.0f" % (s["udp"]["flood_pps"] or 0, s["stt"]["flood_pps"] or 0, PPS)
        print("fast_path=%s: goodput under the STT flood / under the UDP flood = %.2f "
              "(target >= %.1f with bpf) %s" % (mode, s["stt_over_udp"], TARGET, verdict))
    print(json.dumps({"cap": cap, "pps": PPS, "sources": NSOURCES, "seconds": SECONDS,
                      "rounds": ROUNDS, "summary": summary, "runs": recs}))


if __name__ == "__main__":
    main()
