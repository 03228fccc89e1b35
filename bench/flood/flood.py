#!/usr/bin/env python3
"""Flood benchmark: incomplete STT frames from many spoofed sources against a running sttd,
while an iperf3 TCP transfer crosses the overlay. Run by bench/flood/run.sh (root).

Topology (tests/system harness): h1 and h2 run sttd (peers, network "blue") and an attacker
h3, all on one bridge. iperf3 runs h1 -> h2 over the overlay; h3 runs stt_flood at h2: first
segments (1400 of 65535 bytes, offset 0) that never complete, each with a new packet ID.

Phases, in one run, each the same iperf3 transfer:
  1. reference: no flood;
  2. flood from NSOURCES spoofed non-peer addresses (dropped before reassembly by the
     peer admission check: counted in rx_drop_not_peer_segments, docs/design.md);
  3. flood from one address, the peer's own (h1's), spoofed.
Printed per phase: throughput and its ratio to the reference, flood packets/s, sttd's
peak RSS (VmHWM, /proc) against the reassembly cap (sttctl reassembly -j: mem_high), the
highest bytes_in_use sampled, and the reassembly counters that moved."""

import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tests", "system"))
import stt_harness as H  # noqa: E402

FLOOD = os.environ.get("STT_FLOOD", "")
SECONDS = int(os.environ.get("FLOOD_SECONDS", "8"))
NSOURCES = int(os.environ.get("FLOOD_SOURCES", "4096"))
NET = {"name": "blue", "context_id": 0xF100D}
INNER = ["192.168.63.1", "192.168.63.2"]


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) * 1024
    return out


class Sampler(threading.Thread):
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
            self.stop_ev.wait(0.1)


def main():
    if os.geteuid() != 0:
        sys.exit("flood benchmark: run as root")
    if not (FLOOD and os.access(FLOOD, os.X_OK) and os.access(H.STTD, os.X_OK)):
        sys.exit("set STTD, STTCTL and STT_FLOOD (bench/flood/run.sh does)")
    H.sweep_stale()
    try:
        sw, hosts, under = H.bridged_hosts(3)
        for key in ("iptables", "ip6tables", "arptables"):  # a plain L2 switch
            sw.sysctl("net.bridge.bridge-nf-call-" + key, 0)
        h1, h2, h3 = hosts
        daemons = []
        for i, h in enumerate((h1, h2)):
            net = dict(NET, peers=[under[1 - i]])
            daemons.append(H.Daemon(h, under[i], [net]).start())
            H.setup_tap(h, net, INNER[i] + "/24")
        victim = daemons[1]
        ok, out = H.ping(h1, INNER[1], count=2)
        if not ok:
            raise H.HarnessError("overlay ping failed:\n" + out)
        srv = H.Iperf3Server(h2, INNER[1])
        cap = victim.ctl_json(["reassembly"])["limits"]
        victim_mac = h2.mac("veth0")

        def phase(name, src_base, nsrc):
            stats0 = victim.ctl_json(["stats"])["global"]
            before = stats0["reassembly"]
            refused0 = stats0["datapath"]["rx_drop_not_peer_segments"]
            hwm0 = proc_status(victim.proc.pid)["VmHWM"]
            sampler = Sampler(victim)
            sampler.start()
            flood = None
            if src_base:
                flood = h3.popen([FLOOD, "veth0", victim_mac, under[1], src_base, str(nsrc),
                                  str(SECONDS + 3)], stdout=open(os.path.join(
                                      H.tmpdir(), "flood-%s.out" % name), "w"))
                # The flood has arrived once it holds reassembly memory (spoofed peer) or
                # is refused by admission before reassembly (non-peer sources).
                H.wait_for(lambda: victim.ctl_json(["reassembly"])["frames_in_flight"] > 0 or
                           victim.ctl_json(["stats"])["global"]["datapath"]
                           ["rx_drop_not_peer_segments"] > refused0 or
                           flood.poll() is not None, 10, "the flood to reach sttd")
            got, j = H.iperf3(h1, INNER[1], seconds=SECONDS)
            bps = j["end"]["sum_received"]["bits_per_second"]
            pps = None
            if flood:
                flood.wait(timeout=SECONDS + 30)
                text = open(os.path.join(H.tmpdir(), "flood-%s.out" % name)).read()
                pps = float(text.split("pps=")[1].split()[0]) if "pps=" in text else None
            sampler.stop_ev.set()
            sampler.join()
            stats1 = victim.ctl_json(["stats"])["global"]
            after = stats1["reassembly"]
            refused = stats1["datapath"]["rx_drop_not_peer_segments"] - refused0
            alive = victim.proc.poll() is None
            return {"phase": name, "gbit_s": bps / 1e9, "flood_pps": pps,
                    "vmhwm_before": hwm0, "vmhwm_after": proc_status(victim.proc.pid)["VmHWM"],
                    "max_rss": sampler.max_rss, "max_bytes_in_use": sampler.max_in_use,
                    "max_frames_in_flight": sampler.max_in_flight, "sttd_alive": alive,
                    "refused_before_reassembly": refused,
                    "reassembly": {k: after[k] - before.get(k, 0) for k in after
                                   if after[k] != before.get(k, 0)}}

        results = [phase("reference", None, 0),
                   phase("many-sources", "10.0.100.1", NSOURCES),
                   phase("spoofed-peer", under[0], 1)]
        srv.stop()
        ref = results[0]["gbit_s"]
        mib = 1 << 20
        print("\nflood benchmark: %d s iperf3 h1 -> h2 per phase; reassembly cap mem_high %.1f "
              "MiB, max_frames %d, per source %d, timeout %d ms" %
              (SECONDS, cap["mem_high"] / mib, cap["max_frames"], cap["max_frames_per_source"],
               cap["timeout_ms"]))
        print("%-13s %9s %7s %11s %10s %10s %11s %9s %9s  %s" %
              ("phase", "Gbit/s", "ratio", "flood pps", "VmHWM MiB", "maxRSS MiB",
               "in_use MiB", "frames", "refused", "reassembly counters moved"))
        for r in results:
            print("%-13s %9.2f %7.2f %11s %10.1f %10.1f %11.1f %9d %9d  %s" %
                  (r["phase"], r["gbit_s"], r["gbit_s"] / ref,
                   "-" if r["flood_pps"] is None else "%.0f" % r["flood_pps"],
                   r["vmhwm_after"] / mib, r["max_rss"] / mib, r["max_bytes_in_use"] / mib,
                   r["max_frames_in_flight"], r["refused_before_reassembly"],
                   json.dumps(r["reassembly"])))
            if not r["sttd_alive"]:
                print("  sttd DIED during phase %s" % r["phase"])
        print(json.dumps({"cap": cap, "results": results}))
    finally:
        H.cleanup_all()


if __name__ == "__main__":
    main()
