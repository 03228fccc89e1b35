#!/usr/bin/env python3
"""End-to-end benchmark: STT through sttd, with and without its kernel fast path, beside
kernel VXLAN and the bare veth underlay.

Two "hosts" are two network namespaces joined by a veth pair (MTU 1500). Over that
underlay, in the same run, it measures four paths:
  bare     iperf3 between the veth addresses (the ceiling)
  vxlan    the kernel VXLAN device (the anchor)
  stt-off  sttd with fast_path = "off": every frame through sttd in userspace
  stt-bpf  sttd with fast_path = "bpf": the TC eBPF programs carry the common frame
for each underlay offload profile (full, tcp-only, none), interleaving the paths inside
every round, and reports medians over the rounds. Both sttd pairs run during the whole
benchmark (on two STT ports), so every path pays the same fixed cost. See
docs/performance.md for the method and bench/e2e/run.sh for the command. Python 3 standard
library only; the chart needs matplotlib and is skipped (with a note) without it.

Run as root. Every namespace it creates is named stte2e-<pid>-a/b and is removed on exit,
on an exception and on SIGINT/SIGTERM/SIGHUP.
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

PREFIX = "stte2e"
PATHS = ("bare", "vxlan", "stt-off", "stt-bpf")
STREAMS = (1, 4)
IPERF_PORT = 5201

# Underlay offload profiles: the ethtool -K arguments applied to both veth ends.
PROFILES = {
    # Every offload on: veth defaults (TSO/GSO, UDP-tunnel segmentation) plus GRO.
    "full": ["tso", "on", "gso", "on", "gro", "on",
             "tx-udp_tnl-segmentation", "on", "tx-udp_tnl-csum-segmentation", "on"],
    # A NIC of STT's time: TCP segmentation and receive coalescing, no UDP tunnel
    # segmentation, so VXLAN's outer UDP frames are cut in software.
    "tcp-only": ["tso", "on", "gso", "on", "gro", "on",
                 "tx-udp_tnl-segmentation", "off", "tx-udp_tnl-csum-segmentation", "off"],
    # No offloads at all.
    "none": ["tso", "off", "gso", "off", "gro", "off",
             "tx-udp_tnl-segmentation", "off", "tx-udp_tnl-csum-segmentation", "off"],
}

UNDER = ("10.201.0.1", "10.201.0.2")
VXLAN = ("10.202.0.1", "10.202.0.2")
VETH = ("e2e-ua", "e2e-ub")
VXLAN_DEV = "e2e-vx"
# The root qdisc of both underlay veth ends (--underlay-qdisc): veth's default, none. With a
# qdisc, a full veth ring holds packets back instead of dropping them; docs/performance.md
# ("The VXLAN reference") says what that changes and what was measured.
UNDERLAY_QDISC = "noqueue"
# The tenant MTU of both STT paths (--stt-mtu): the underlay's 1500 less the outer IPv4 and TCP
# headers, the STT header and the inner Ethernet header (20 + 20 + 18 + 14), so that a frame the
# tenant sends without GSO fits one outer segment. The transmit program cannot turn a larger
# non-GSO frame into a GSO packet (../shared/notes/ebpf-fast-path-probe.md), so at 1500 every
# MSS-sized segment a TCP sender emits alone went through sttd while its neighbours took the
# kernel path, and the receiver saw the flow reordered. VXLAN's device takes 1450 for the same
# reason (its 50 bytes of headers).
STT_MTU = 1500 - 72


class SttPath:
    """One sttd pair: its fast_path setting, STT port, context ID, TAP and inner subnet."""

    def __init__(self, name, mode, port, context, tap, inner):
        self.name, self.mode, self.port, self.context = name, mode, port, context
        self.tap, self.inner = tap, inner


# The fast path takes the protocol's port; the userspace pair the next one. The receive
# program returns every other port to the stack untouched, so the pairs never see each
# other's frames (docs/design.md, "The kernel fast path").
STT_PATHS = {
    "stt-off": SttPath("stt-off", "off", 7472, 0x2a, "e2e-stt-off", ("10.203.0.1", "10.203.0.2")),
    "stt-bpf": SttPath("stt-bpf", "bpf", 7471, 0x2b, "e2e-stt-bpf", ("10.204.0.1", "10.204.0.2")),
}
TARGET = {"bare": UNDER[1], "vxlan": VXLAN[1]}
TARGET.update({k: v.inner[1] for k, v in STT_PATHS.items()})


class BenchError(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(cmd, check=True, timeout=30, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise BenchError("%s failed (%d): %s" % (" ".join(cmd), p.returncode,
                                                 (p.stderr or p.stdout).strip()))
    return p


def wait_for(cond, timeout, what, step=0.05):
    """Polls cond() until it returns a true value or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise BenchError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(step)


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def percentile(xs, p):
    """Nearest-rank percentile."""
    s = sorted(xs)
    if not s:
        return None
    k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
    return s[k]


# ------------------------------------------------------------------ CPU accounting
#
# The figure is the CPU of the whole machine during the transfer: the busy time of every
# CPU in /proc/stat (user, nice, system, irq, softirq; not idle, iowait or steal) between
# just before the iperf3 client starts and just after it exits, divided by the bytes
# received. It includes the softirq work wherever it ran (in a task's context, in
# ksoftirqd, or on an idle CPU), which is where the kernel paths (VXLAN, the eBPF fast
# path, GRO, veth) spend their time. On a quiet machine that is exactly the cost of the
# path. On a shared machine it also counts everyone else's work, so a second figure is
# kept beside it: the CPU of the benchmark's own processes on both hosts (the iperf3
# client by getrusage of the waited child, the iperf3 server, every sttd and the
# ksoftirqd threads by utime+stime from /proc/PID/stat). That one misses softirq work that
# ran in another task's context or on an idle CPU, so it flatters the kernel paths.

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime
    except (OSError, IndexError, ValueError):
        return None


def machine_cpu():
    """(busy, steal, total) CPU seconds of the whole machine since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice (guest is in user)
    busy = v[0] + v[1] + v[2] + v[5] + v[6]
    return busy / CLK_TCK, v[7] / CLK_TCK, sum(v[:8]) / CLK_TCK


def ksoftirqd_pids():
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/comm" % d) as f:
                    if f.read().startswith("ksoftirqd/"):
                        pids.append(int(d))
            except OSError:
                pass
    return pids


class CpuSnapshot:
    def __init__(self, procs):
        """procs: {label: pid} of long-lived processes to account."""
        self.procs = {k: proc_cpu_s(p) for k, p in procs.items() if p}
        self.children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.busy, self.steal, self.total = machine_cpu()

    def delta(self, later):
        """({label: our processes' CPU s}, machine busy s, steal s, machine total s)."""
        out = {}
        for k, v in self.procs.items():
            w = later.procs.get(k)
            out[k] = (w - v) if (v is not None and w is not None) else 0.0
        c0, c1 = self.children, later.children
        out["client"] = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
        return (out, later.busy - self.busy, later.steal - self.steal,
                later.total - self.total)


# ------------------------------------------------------------------ topology

class Topology:
    def __init__(self, args):
        self.args = args
        tag = "%s-%d" % (PREFIX, os.getpid())
        self.ns = (tag + "-a", tag + "-b")
        self.tmp = tempfile.mkdtemp(prefix=tag + "-")
        self.created = []
        self.iperf_srv = None
        # Per STT path: the two sttd (hosts a and b), and why the path cannot run (or None).
        self.sttd = {name: [None, None] for name in STT_PATHS}
        self.stt_error = {name: None for name in STT_PATHS}
        self.fast_path_seen = {}

    def nsexec(self, i, cmd, **kw):
        return run(["ip", "netns", "exec", self.ns[i]] + cmd, **kw)

    def popen(self, i, cmd, **kw):
        return subprocess.Popen(["ip", "netns", "exec", self.ns[i]] + cmd, **kw)

    def build(self):
        for n in self.ns:
            run(["ip", "netns", "add", n])
            self.created.append(n)
            run(["ip", "-n", n, "link", "set", "lo", "up"])
        a, b = self.ns
        run(["ip", "-n", a, "link", "add", VETH[0], "type", "veth", "peer", "name", VETH[1],
             "netns", b])
        for i in (0, 1):
            n = self.ns[i]
            run(["ip", "-n", n, "addr", "add", UNDER[i] + "/24", "dev", VETH[i]])
            run(["ip", "-n", n, "link", "set", VETH[i], "mtu", "1500", "up"])
            run(["ip", "-n", n, "link", "add", VXLAN_DEV, "type", "vxlan", "id", "42",
                 "dstport", "4789", "local", UNDER[i], "remote", UNDER[1 - i], "dev", VETH[i]])
            run(["ip", "-n", n, "addr", "add", VXLAN[i] + "/24", "dev", VXLAN_DEV])
            run(["ip", "-n", n, "link", "set", VXLAN_DEV, "up"])
        self.set_qdisc(self.args.underlay_qdisc)
        self.start_iperf_server()

    def set_qdisc(self, qdisc):
        for i in (0, 1):
            if qdisc == "noqueue":
                # veth's default: no root qdisc at all (deleting it when there is none fails).
                self.nsexec(i, ["tc", "qdisc", "del", "dev", VETH[i], "root"], check=False)
            else:
                self.nsexec(i, ["tc", "qdisc", "replace", "dev", VETH[i], "root"] + qdisc.split())

    def qdisc_state(self):
        return {VETH[i]: self.nsexec(i, ["tc", "qdisc", "show", "dev", VETH[i]]).stdout.strip()
                for i in (0, 1)}

    # iperf3 server in host b, in the foreground so its pid is ours to account and stop.
    def start_iperf_server(self):
        self.stop_iperf_server()
        self.iperf_srv = self.popen(1, ["iperf3", "-s", "-p", str(IPERF_PORT)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    start_new_session=True)

        def listening():
            if self.iperf_srv.poll() is not None:
                raise BenchError("iperf3 -s exited with %s" % self.iperf_srv.returncode)
            out = self.nsexec(1, ["ss", "-Hltn", "sport", "=", ":%d" % IPERF_PORT]).stdout
            return out.strip() != ""
        wait_for(listening, 10, "iperf3 server to listen")

    def stop_iperf_server(self):
        p, self.iperf_srv = self.iperf_srv, None
        if p and p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)

    def set_profile(self, name):
        for i in (0, 1):
            # ethtool -K returns 1 when a feature is fixed; check the result instead.
            self.nsexec(i, ["ethtool", "-K", VETH[i]] + PROFILES[name], check=False)
        return self.offload_state()

    def offload_state(self):
        want = ("tcp-segmentation-offload", "generic-segmentation-offload",
                "generic-receive-offload", "tx-udp_tnl-segmentation",
                "tx-udp_tnl-csum-segmentation")
        state = {}
        for i in (0, 1):
            out = self.nsexec(i, ["ethtool", "-k", VETH[i]]).stdout
            feats = {}
            for line in out.splitlines():
                k, _, v = line.strip().partition(": ")
                if k in want:
                    feats[k] = v.split()[0]
            state[VETH[i]] = feats
        return state

    # ---- sttd
    def sttd_files(self, sp, i):
        base = os.path.join(self.tmp, "%s-%s" % (sp.name, "ab"[i]))
        return base + ".toml", base + ".sock", base + ".log"

    def stt_config(self, sp, i):
        cfg, sock, _ = self.sttd_files(sp, i)
        text = "\n".join([
            "[underlay]",
            'interface = "%s"' % VETH[i],
            'local = "%s"' % UNDER[i],
            "port = %d" % sp.port,
            'fast_path = "%s"' % sp.mode,
            "",
            "[control]",
            'socket = "%s"' % sock,
            "",
            "[[network]]",
            'name = "bench"',
            "context_id = %d" % sp.context,
            'tap = "%s"' % sp.tap,
            "mtu = %d" % self.args.stt_mtu,
            'peers = ["%s"]' % UNDER[1 - i],
            "",
        ])
        with open(cfg, "w") as f:
            f.write(text)
        return cfg, sock

    def log_tail(self, sp, i, n=15):
        try:
            with open(self.sttd_files(sp, i)[2]) as f:
                return "".join(f.readlines()[-n:]).strip()
        except OSError:
            return ""

    def sttctl_json(self, sp, i, verb):
        sock = self.sttd_files(sp, i)[1]
        p = self.nsexec(i, [self.args.sttctl, verb, "-j", "-s", sock], check=False, timeout=5)
        try:
            return json.loads(p.stdout)
        except ValueError:
            return {"error": (p.stderr or p.stdout).strip()[-2000:]}

    def start_sttd(self, names):
        for name in names:
            self.start_stt_path(STT_PATHS[name])

    def start_stt_path(self, sp):
        """Starts sttd in both hosts for one STT path; on failure records why in
        self.stt_error[sp.name] (the path's rows then carry it)."""
        sttd, sttctl = self.args.sttd, self.args.sttctl
        procs = self.sttd[sp.name]
        try:
            if self.args.stt_unavailable:
                raise BenchError(self.args.stt_unavailable)
            for exe in (sttd, sttctl):
                if not (exe and os.path.isfile(exe) and os.access(exe, os.X_OK)):
                    raise BenchError("%s is not built (no executable at %r)" %
                                     (os.path.basename(exe or "sttd/sttctl"), exe))
            socks = []
            for i in (0, 1):
                cfg, sock = self.stt_config(sp, i)
                socks.append(sock)
                logf = open(self.sttd_files(sp, i)[2], "a")
                procs[i] = self.popen(i, [sttd, "-c", cfg] + self.args.sttd_arg,
                                      stdout=logf, stderr=logf, start_new_session=True)
                logf.close()
            for i in (0, 1):
                last = [""]

                def ready(i=i, last=last):
                    if procs[i].poll() is not None:
                        raise BenchError("sttd in host %s exited with %s before it was ready: %s"
                                         % ("ab"[i], procs[i].returncode, self.log_tail(sp, i)))
                    p = self.nsexec(i, [sttctl, "show", "-s", socks[i]], check=False, timeout=5)
                    last[0] = (p.stderr or p.stdout).strip()[-300:]
                    return p.returncode == 0
                try:
                    wait_for(ready, 20, "sttd in host %s to answer 'sttctl show'" % "ab"[i])
                except BenchError as e:
                    raise BenchError("%s (last sttctl output: %s)" % (e, last[0]))
                # The mode that runs, not the one asked for, names the column.
                fp = self.sttctl_json(sp, i, "show").get("fast_path", {})
                self.fast_path_seen["%s-%s" % (sp.name, "ab"[i])] = fp
                if fp.get("mode") != sp.mode:
                    raise BenchError("sttd in host %s runs fast path %r, not %r: %s" % (
                        "ab"[i], fp.get("mode"), sp.mode, fp.get("reason", fp)))
                links = self.nsexec(i, ["ip", "-o", "link", "show"]).stdout
                if (": %s:" % sp.tap) not in links and (": %s@" % sp.tap) not in links:
                    raise BenchError("sttd is ready but TAP %s does not exist" % sp.tap)
                self.nsexec(i, ["ip", "addr", "add", sp.inner[i] + "/24", "dev", sp.tap])
                self.nsexec(i, ["ip", "link", "set", sp.tap, "up"])
            self.stt_error[sp.name] = None
        except (BenchError, OSError, subprocess.SubprocessError) as e:
            self.stt_error[sp.name] = "sttd (%s) unavailable: %s" % (sp.name, e)
            log(self.stt_error[sp.name])
            self.stop_stt_path(sp)

    def path_error(self, path):
        """Why `path` cannot be measured now (an STT path whose sttd is gone), or None."""
        if path not in STT_PATHS:
            return None
        sp = STT_PATHS[path]
        if self.stt_error[path]:
            return self.stt_error[path]
        for i in (0, 1):
            p = self.sttd[path][i]
            if p is None or p.poll() is not None:
                self.stt_error[path] = "sttd (%s) in host %s exited (%s): %s" % (
                    path, "ab"[i], None if p is None else p.returncode, self.log_tail(sp, i))
                log(self.stt_error[path])
                return self.stt_error[path]
        return None

    def stop_stt_path(self, sp):
        procs = self.sttd[sp.name]
        for i in (0, 1):
            p, procs[i] = procs[i], None
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=5)

    def tracked_pids(self):
        procs = {}
        if self.iperf_srv:
            procs["iperf3-server"] = self.iperf_srv.pid
        for name, pair in self.sttd.items():
            for i in (0, 1):
                if pair[i] and pair[i].poll() is None:
                    procs["sttd-%s-%s" % (name, "ab"[i])] = pair[i].pid
        for pid in ksoftirqd_pids():
            procs["ksoftirqd-%d" % pid] = pid
        return procs

    def cleanup(self):
        # A second Ctrl-C must not cut the cleanup short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for sp in STT_PATHS.values():
            self.stop_stt_path(sp)
        self.stop_iperf_server()
        for n in reversed(self.created):
            # Anything still running inside our own namespaces was started by us.
            pids = run(["ip", "netns", "pids", n], check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
            run(["ip", "netns", "del", n], check=False)
        self.created = []
        if self.args.keep_logs:
            log("sttd logs kept in %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def remove_stale_namespaces():
    """Namespaces of an earlier run of this benchmark whose process is gone (kill -9)."""
    out = run(["ip", "netns", "list"], check=False).stdout
    for line in out.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.match(r"^%s-(\d+)-[ab]$" % PREFIX, name)
        if m and not os.path.exists("/proc/%s" % m.group(1)):
            log("removing stale namespace %s" % name)
            run(["ip", "netns", "del", name], check=False)


# ------------------------------------------------------------------ measurements

def reachable(topo, path, timeout=10):
    def ok():
        return topo.nsexec(0, ["ping", "-n", "-c", "1", "-W", "1", TARGET[path]],
                           check=False, timeout=5).returncode == 0
    wait_for(ok, timeout, "%s path to answer ping to %s" % (path, TARGET[path]), step=0.2)


# Kernel counters that tell where a retransmitted segment was lost or why TCP resent it.
# TCPDSACKRecvSegs counts resent segments the receiver already had (a reordering, not a loss).
TCP_EXT = ("TCPLostRetransmit", "TCPLossProbes", "TCPSpuriousRTOs", "TCPTimeouts",
           "TCPSACKReorder", "TCPTSReorder", "TCPBacklogDrop", "TCPRcvQDrop", "TCPOFOQueue",
           "TCPFastRetrans", "TCPDSACKRecvSegs", "TCPDSACKUndo", "TCPSpuriousRtxHostQueues")


def drop_counters(topo):
    """Per host: every link's rx/tx dropped counters, the softnet backlog drops, and the
    TcpExt counters above (host a sends, so its counters say why it resent)."""
    out = {}
    for i in (0, 1):
        h = "ab"[i]
        try:
            links = json.loads(topo.nsexec(i, ["ip", "-s", "-j", "link", "show"]).stdout)
            for l in links:
                st = l.get("stats64", {})
                for d in ("rx", "tx"):
                    out["%s %s %s_dropped" % (h, l["ifname"], d)] = st.get(d, {}).get("dropped", 0)
            for line in topo.nsexec(i, ["cat", "/proc/net/softnet_stat"]).stdout.splitlines():
                out["%s softnet_dropped" % h] = out.get("%s softnet_dropped" % h, 0) + \
                    int(line.split()[1], 16)
            text = topo.nsexec(i, ["cat", "/proc/net/netstat"]).stdout.splitlines()
            for k in range(0, len(text) - 1, 2):
                if text[k].startswith("TcpExt:"):
                    names, vals = text[k].split()[1:], text[k + 1].split()[1:]
                    for n, v in zip(names, vals):
                        if n in TCP_EXT:
                            out["%s %s" % (h, n)] = int(v)
        except (BenchError, ValueError, KeyError, IndexError):
            pass
    return out


def measure_iperf(topo, path, streams, duration):
    drops0 = drop_counters(topo)
    snap0 = CpuSnapshot(topo.tracked_pids())
    t0 = time.monotonic()
    client = topo.popen(0, ["iperf3", "-c", TARGET[path], "-p", str(IPERF_PORT),
                            "-t", str(duration), "-P", str(streams), "-J",
                            "--connect-timeout", "5000"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = client.communicate(timeout=duration + 30)
    except subprocess.TimeoutExpired:
        client.kill()
        client.communicate()
        topo.start_iperf_server()
        raise BenchError("iperf3 client did not finish within %d s" % (duration + 30))
    wall = time.monotonic() - t0
    snap1 = CpuSnapshot(topo.tracked_pids())
    drops1 = drop_counters(topo)
    try:
        j = json.loads(out)
    except ValueError:
        topo.start_iperf_server()
        raise BenchError("iperf3 exited %d without JSON: %s" % (client.returncode, err.strip()))
    if client.returncode != 0 or "error" in j:
        topo.start_iperf_server()
        raise BenchError("iperf3: %s" % j.get("error", err.strip()))
    recv = j["end"]["sum_received"]
    cpu, busy, steal, total = snap0.delta(snap1)
    ours = sum(cpu.values())
    gb = recv["bytes"] / 1e9
    return {
        "bits_per_second": recv["bits_per_second"],
        "bytes": recv["bytes"],
        "seconds": recv["seconds"],
        "retransmits": j["end"].get("sum_sent", {}).get("retransmits"),
        "cpu_s": busy,
        "cpu_s_per_gb": busy / gb if gb > 0 else None,
        "cpu_ours_s": ours,
        "cpu_ours_s_per_gb": ours / gb if gb > 0 else None,
        "cpu_breakdown_s": {k: round(v, 3) for k, v in cpu.items() if v},
        "machine_cpu_s": total,
        "steal_s": steal,
        "other_busy_s": busy - ours,
        "wall_s": wall,
        "iperf3_cpu_utilization_percent": j["end"].get("cpu_utilization_percent"),
        # Only what moved: drops per link and host, and why host a's TCP resent.
        "kernel_counters": {k: drops1[k] - v for k, v in drops0.items()
                            if k in drops1 and drops1[k] != v},
    }


def measure_ping(topo, path, count, interval):
    p = topo.nsexec(0, ["ping", "-n", "-c", str(count), "-i", str(interval), "-W", "1",
                        TARGET[path]], check=False, timeout=count * interval + 30)
    rtts = [float(m) for m in re.findall(r"time=([0-9.]+) ms", p.stdout)]
    if not rtts:
        raise BenchError("ping %s: no replies: %s" % (TARGET[path],
                                                       (p.stderr or p.stdout).strip()[-300:]))
    return {
        "sent": count,
        "received": len(rtts),
        "rtt_median_ms": statistics.median(rtts),
        "rtt_p99_ms": percentile(rtts, 99),
        "rtt_min_ms": min(rtts),
        "rtt_max_ms": max(rtts),
    }


def perf_profiles(topo, args):
    """After the rounds (so no counted run is slowed): for each profile and each path of
    --perf-paths, one more run of --perf-streams streams under a system-wide `perf record
    -a -g` (every CPU, kernel and user: the kernel paths run in softirq, in whatever task
    or idle context), and the top of `perf report` by symbol and by command."""
    if not shutil.which("perf"):
        return "perf not installed"
    out = {}
    for prof in args.profiles:
        topo.set_profile(prof)
        for path in args.perf_paths:
            key = "%s %s" % (prof, path)
            err = topo.path_error(path)
            if err:
                out[key] = {"error": err}
                continue
            data = os.path.join(args.out, "perf-%s-%s.data" % (prof, path))
            rec = subprocess.Popen(["perf", "record", "-q", "-a", "-g", "-F", "499", "-o", data],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            try:
                r = measure_iperf(topo, path, args.perf_streams, args.duration)
                out[key] = {"gbps_under_perf": r["bits_per_second"] / 1e9,
                            "streams": args.perf_streams}
            except BenchError as e:
                out[key] = {"error": str(e)}
            finally:
                rec.send_signal(signal.SIGINT)
                try:
                    rec.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    rec.kill()
                    rec.wait()
            txt = os.path.join(args.out, "perf-%s-%s.txt" % (prof, path))
            with open(txt, "w") as f:
                for sort in ("symbol", "comm"):
                    f.write("# perf report --sort %s (system-wide, %s, %s, %d stream(s))\n"
                            % (sort, prof, path, args.perf_streams))
                    f.write(run(["perf", "report", "-i", data, "--no-children", "--stdio",
                                 "-g", "none", "--percent-limit", "0.5", "--sort", sort],
                                check=False, timeout=300).stdout)
            out[key]["report"] = txt
            if not args.perf_keep_data:
                try:
                    os.remove(data)
                except OSError:
                    pass
            log("  perf %s: %s" % (key, txt))
    return out


# ------------------------------------------------------------------ machine info

def version_of(cmd):
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=10)
        return p.stdout.strip().splitlines()[0] if p.stdout.strip() else None
    except (OSError, subprocess.SubprocessError):
        return None


def machine_info(args):
    cpu_model = None
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem_kib = None
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    commit = version_of(["git", "-C", repo, "rev-parse", "HEAD"])
    dirty = subprocess.run(["git", "-C", repo, "status", "--porcelain", "--untracked-files=no"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    try:
        import matplotlib
        mpl = matplotlib.__version__
    except ImportError:
        mpl = None
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "hostname": platform.node(),
        "kernel": platform.release(),
        "cpu_model": cpu_model,
        "nproc": os.cpu_count(),
        "mem_total_gib": round(mem_kib / 2**20, 1) if mem_kib else None,
        "loadavg_at_start": open("/proc/loadavg").read().split()[:3],
        "git_commit": commit,
        "git_dirty_tracked_files": len(dirty.splitlines()),
        "tools": {
            "iperf3": version_of(["iperf3", "--version"]),
            "iproute2": version_of(["ip", "-V"]),
            "ethtool": version_of(["ethtool", "--version"]),
            "ping": version_of(["ping", "-V"]),
            "python": platform.python_version(),
            "matplotlib": mpl,
            "sttd": version_of([args.sttd, "--version"]) if args.sttd and
            os.path.exists(args.sttd) else None,
        },
        "sttd_path": args.sttd,
        "sttd_args": args.sttd_arg,
        "sttd_built": datetime.datetime.fromtimestamp(
            os.path.getmtime(args.sttd), datetime.timezone.utc).isoformat(timespec="seconds")
        if args.sttd and os.path.exists(args.sttd) else None,
        "sttctl_path": args.sttctl,
    }


# ------------------------------------------------------------------ summary

# Ratio rows (numerator path, reference path), printed under each profile when both ran.
RATIOS = (("stt-bpf", "vxlan"), ("stt-off", "vxlan"), ("stt-bpf", "bare"),
          ("stt-bpf", "stt-off"))
RATIO_KEYS = ("gbps_p1", "gbps_p4", "cpu_s_per_gb_p1", "cpu_s_per_gb_p4", "rtt_median_ms")

# Issue 13's targets: (profile, numerator, reference, key, comparison, bound).
TARGETS = (
    ("full", "stt-bpf", "vxlan", "gbps_p1", ">=", 1.0),
    ("full", "stt-bpf", "vxlan", "gbps_p4", ">=", 1.0),
    ("tcp-only", "stt-bpf", "vxlan", "gbps_p1", ">=", 1.5),
    ("tcp-only", "stt-bpf", "vxlan", "gbps_p4", ">=", 1.5),
    ("full", "stt-bpf", "vxlan", "cpu_s_per_gb_p1", "<=", 1.0),
    ("full", "stt-bpf", "vxlan", "cpu_s_per_gb_p4", "<=", 1.0),
)
# The reference must be at its best: no more retransmits than the bare path.
REFERENCE_CHECKS = (("tcp-only", "retransmits_p1"), ("tcp-only", "retransmits_p4"),
                    ("full", "retransmits_p1"), ("full", "retransmits_p4"))


def summarize(raw, profiles, paths):
    summ = {}
    for prof in profiles:
        summ[prof] = {}
        for path in PATHS:  # every path, so the ratios below always have their keys
            rows = [r for r in raw if r["profile"] == prof and r["path"] == path]
            s = {"errors": sorted({r["error"] for r in rows if r.get("error")}),
                 "iperf3_runs": sum(1 for r in rows if r["kind"] == "iperf3"),
                 "iperf3_failed": sum(1 for r in rows if r["kind"] == "iperf3" and r.get("error"))}
            for n in STREAMS:
                ok = [r for r in rows if r["kind"] == "iperf3" and r["streams"] == n
                      and not r.get("error")]
                g = [r["bits_per_second"] / 1e9 for r in ok]
                s["gbps_p%d" % n] = median(g)
                s["gbps_p%d_min" % n] = min(g) if g else None
                s["gbps_p%d_max" % n] = max(g) if g else None
                s["cpu_s_per_gb_p%d" % n] = median([r["cpu_s_per_gb"] for r in ok])
                s["cpu_ours_s_per_gb_p%d" % n] = median([r.get("cpu_ours_s_per_gb") for r in ok])
                s["retransmits_p%d" % n] = median([r["retransmits"] for r in ok])
                s["runs_p%d" % n] = len(ok)
            pings = [r for r in rows if r["kind"] == "ping" and not r.get("error")]
            s["rtt_median_ms"] = median([r["rtt_median_ms"] for r in pings])
            s["rtt_p99_ms"] = median([r["rtt_p99_ms"] for r in pings])
            summ[prof][path] = s
        ratios = {}
        for num, ref in RATIOS:
            for key in RATIO_KEYS:
                a, b = summ[prof][num].get(key), summ[prof][ref].get(key)
                ratios["%s/%s %s" % (num, ref, key)] = (a / b) if (a is not None and b) else None
        summ[prof]["ratios"] = ratios
    return summ


def targets(summ, profiles):
    """Issue 13's targets, judged on the medians: a list of dicts (met is None when a
    figure is missing)."""
    out = []
    for prof, num, ref, key, cmp, bound in TARGETS:
        if prof not in profiles:
            continue
        v = summ[prof]["ratios"].get("%s/%s %s" % (num, ref, key))
        met = None if v is None else (v >= bound if cmp == ">=" else v <= bound)
        out.append({"what": "%s %s/%s %s" % (prof, num, ref, key), "value": v,
                    "want": "%s %.1f" % (cmp, bound), "met": met})
    for prof, key in REFERENCE_CHECKS:
        if prof not in profiles:
            continue
        v, b = summ[prof]["vxlan"].get(key), summ[prof]["bare"].get(key)
        met = None if v is None or b is None else v <= b
        out.append({"what": "%s vxlan %s (reference at its best)" % (prof, key), "value": v,
                    "want": "<= bare's %s" % fmt(b, 0), "met": met})
    return out


def fmt(v, nd=2):
    return "-" if v is None else ("%.*f" % (nd, v))


def shown_ratios(paths):
    return [(n, r) for n, r in RATIOS if n in paths and r in paths]


def table(summ, profiles, paths):
    lines = []
    row = "%-9s %-13s %8s %8s %7s %7s %9s %9s %8s %8s"
    hdr = row % ("profile", "path", "P1 Gb/s", "P4 Gb/s", "retr1", "retr4", "cpu s/GB1",
                 "cpu s/GB4", "rtt med", "rtt p99")
    lines.append(hdr)
    lines.append("-" * len(hdr))
    for prof in profiles:
        for path in paths:
            s = summ[prof][path]
            lines.append(row % (
                prof, path, fmt(s["gbps_p1"]), fmt(s["gbps_p4"]), fmt(s["retransmits_p1"], 0),
                fmt(s["retransmits_p4"], 0), fmt(s["cpu_s_per_gb_p1"]),
                fmt(s["cpu_s_per_gb_p4"]), fmt(s["rtt_median_ms"], 3),
                fmt(s["rtt_p99_ms"], 3)))
            for e in s["errors"][:3]:
                lines.append("%-9s %-13s   error (%d of %d iperf3 runs failed): %s" % (
                    "", "", s["iperf3_failed"], s["iperf3_runs"], e[:200]))
        r = summ[prof]["ratios"]
        for num, ref in shown_ratios(paths):
            k = "%s/%s " % (num, ref)
            lines.append(row % (
                "", k.strip(), fmt(r[k + "gbps_p1"]), fmt(r[k + "gbps_p4"]), "", "",
                fmt(r[k + "cpu_s_per_gb_p1"]), fmt(r[k + "cpu_s_per_gb_p4"]),
                fmt(r[k + "rtt_median_ms"]), ""))
        lines.append("")
    return "\n".join(lines)


def targets_text(tg):
    lines = ["issue 13 targets (medians):"]
    for t in tg:
        verdict = "n/a" if t["met"] is None else ("met" if t["met"] else "MISSED")
        lines.append("  %-58s %8s  want %-14s %s" % (t["what"], fmt(t["value"]), t["want"],
                                                      verdict))
    return "\n".join(lines)


def markdown_table(summ, profiles, paths):
    out = ["| profile | path | 1 stream Gbit/s | 4 streams Gbit/s | retransmits (1) "
           "| retransmits (4) | CPU s/GB (1) | CPU s/GB (4) | RTT median ms | RTT p99 ms |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for prof in profiles:
        for path in paths:
            s = summ[prof][path]

            def rng(n):
                if s["gbps_p%d" % n] is None:
                    return "error" if s["errors"] else "-"
                return "%s (%s–%s)" % (fmt(s["gbps_p%d" % n]), fmt(s["gbps_p%d_min" % n]),
                                       fmt(s["gbps_p%d_max" % n]))
            out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                prof, path, rng(1), rng(4), fmt(s["retransmits_p1"], 0),
                fmt(s["retransmits_p4"], 0), fmt(s["cpu_s_per_gb_p1"]),
                fmt(s["cpu_s_per_gb_p4"]), fmt(s["rtt_median_ms"], 3),
                fmt(s["rtt_p99_ms"], 3)))
        r = summ[prof]["ratios"]
        for num, ref in shown_ratios(paths):
            k = "%s/%s " % (num, ref)
            out.append("| %s | **%s** | **%s** | **%s** | | | %s | %s | %s | |" % (
                prof, k.strip(), fmt(r[k + "gbps_p1"]), fmt(r[k + "gbps_p4"]),
                fmt(r[k + "cpu_s_per_gb_p1"]), fmt(r[k + "cpu_s_per_gb_p4"]),
                fmt(r[k + "rtt_median_ms"])))
    return "\n".join(out)


def chart(summ, profiles, paths, info, path_png):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        return "chart skipped: %s" % e
    colors = {"bare": "#8c8c8c", "vxlan": "#4c72b0", "stt-off": "#dd8452", "stt-bpf": "#55a868"}
    fig, axes = plt.subplots(1, 4, figsize=(19, 4.8))
    width = 0.8 / len(paths)
    for ax, (title, key) in zip(axes, (("1 TCP stream", "gbps_p1"),
                                       ("4 TCP streams", "gbps_p4"),
                                       ("CPU s per GB, 1 stream (lower is better)",
                                        "cpu_s_per_gb_p1"),
                                       ("CPU s per GB, 4 streams (lower is better)",
                                        "cpu_s_per_gb_p4"))):
        missing = []
        for k, path in enumerate(paths):
            xs, ys, lo, hi = [], [], [], []
            for x, prof in enumerate(profiles):
                s = summ[prof][path]
                v = s.get(key)
                xs.append(x + (k - (len(paths) - 1) / 2) * width)
                ys.append(v or 0)
                if key.startswith("gbps") and v is not None:
                    lo.append(v - s[key + "_min"])
                    hi.append(s[key + "_max"] - v)
                else:
                    lo.append(0)
                    hi.append(0)
            bars = ax.bar(xs, ys, width, label=path, color=colors[path],
                          yerr=[lo, hi] if key.startswith("gbps") else None, capsize=3)
            ax.bar_label(bars, labels=["%.2f" % y if y else "" for y in ys], fontsize=7,
                         padding=2)
            missing += [x for x, prof in zip(xs, profiles) if summ[prof][path].get(key) is None]
        top = ax.get_ylim()[1]
        for x in missing:
            ax.text(x, top * 0.02, "n/a", ha="center", va="bottom", fontsize=8, rotation=90)
        ax.set_xticks(range(len(profiles)))
        ax.set_xticklabels(profiles)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("Gbit/s (median, min-max bars)" if key.startswith("gbps")
                      else "machine CPU s/GB")
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend()
    fig.suptitle("stt e2e: bare veth, kernel VXLAN, sttd (fast_path off) and sttd (fast_path "
                 "bpf), %s rounds, %s, commit %s"
                 % (info["runs"], info["date"][:10], (info["git_commit"] or "?")[:10]),
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path_png, dpi=110)
    plt.close(fig)
    return None


# ------------------------------------------------------------------ main

def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="rounds (default 3)")
    ap.add_argument("--duration", type=int, default=10, help="iperf3 seconds (default 10)")
    ap.add_argument("--profiles", default="full,tcp-only,none",
                    help="comma list of: " + ",".join(PROFILES))
    ap.add_argument("--paths", default=",".join(PATHS),
                    help="comma list of: " + ",".join(PATHS))
    ap.add_argument("--pings", type=int, default=200, help="pings per path (default 200)")
    ap.add_argument("--ping-interval", type=float, default=0.01)
    ap.add_argument("--out", required=True, help="directory for results.json, chart.png")
    ap.add_argument("--sttd", default=None)
    ap.add_argument("--sttctl", default=None)
    ap.add_argument("--sttd-arg", action="append", default=[], metavar="ARG",
                    help="one more argument for every sttd (repeat it: "
                    "--sttd-arg=--tx-form --sttd-arg=segmented)")
    ap.add_argument("--stt-unavailable", default=None,
                    help="(run.sh) why sttd cannot be used, e.g. the build failed")
    ap.add_argument("--perf", action="store_true",
                    help="after the rounds, one extra run per profile and --perf-paths path "
                    "under a system-wide perf record -a -g (not counted in the results)")
    ap.add_argument("--perf-paths", default="stt-bpf,vxlan",
                    help="paths profiled by --perf (default stt-bpf,vxlan)")
    ap.add_argument("--perf-keep-data", action="store_true",
                    help="keep perf-<profile>-<path>.data for call-chain reports (-S SYM -G)")
    ap.add_argument("--perf-streams", type=int, default=1, choices=STREAMS,
                    help="streams of the --perf runs (default 1)")
    ap.add_argument("--underlay-qdisc", default=UNDERLAY_QDISC,
                    help="root qdisc of both veth ends, as `tc qdisc replace ... root` takes "
                    "it, or noqueue (default %s)" % UNDERLAY_QDISC)
    ap.add_argument("--stt-mtu", type=int, default=STT_MTU,
                    help="tenant (TAP) MTU of both STT paths (default %d)" % STT_MTU)
    ap.add_argument("--keep-logs", action="store_true", help="keep sttd logs and configs")
    a = ap.parse_args(argv)
    a.profiles = [p for p in a.profiles.split(",") if p]
    for p in a.profiles:
        if p not in PROFILES:
            ap.error("unknown profile %r (have %s)" % (p, ", ".join(PROFILES)))
    # "stt", the one STT path before the fast path came, is sttd's userspace path.
    a.paths = [p if p != "stt" else "stt-off" for p in a.paths.split(",") if p]
    a.perf_paths = [p if p != "stt" else "stt-off" for p in a.perf_paths.split(",") if p]
    for p in a.paths + a.perf_paths:
        if p not in PATHS:
            ap.error("unknown path %r (have %s)" % (p, ", ".join(PATHS)))
    if a.runs < 1 or a.duration < 1:
        ap.error("--runs and --duration must be at least 1")
    return a


def on_signal(signum, _frame):
    raise KeyboardInterrupt("signal %d" % signum)


def fast_path_share(stats_a, stats_b):
    """How much of the stt-bpf traffic the kernel programs carried: frames the sender's
    transmit program encapsulated and frames the receiver's receive program delivered,
    against all (sttd's and the programs', as `sttctl stats` adds them)."""
    def get(st, group, key):
        try:
            return st["global"][group][key]
        except (KeyError, TypeError):
            return None
    out = {"a_tx_frames_kernel": get(stats_a, "fast_path", "tx_frames"),
           "a_tx_frames_all": get(stats_a, "datapath", "tx_frames"),
           "b_rx_delivered_kernel": get(stats_b, "fast_path", "rx_delivered"),
           "b_rx_delivered_all": get(stats_b, "datapath", "rx_delivered")}
    for side in ("a_tx_frames", "b_rx_delivered"):
        k, n = out[side + "_kernel"], out[side + "_all"]
        out[side + "_share"] = (k / n) if (k is not None and n) else None
    return out


def main(argv):
    args = parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("e2e: must run as root (it creates network namespaces)")
    for tool in ("ip", "ethtool", "iperf3", "ping", "ss", "tc"):
        if not shutil.which(tool):
            sys.exit("e2e: %s is not installed" % tool)
    # SIGINT explicitly too: a shell starts background jobs with SIGINT ignored, and
    # `kill -INT` must still clean up. SIGHUP only when not ignored (nohup).
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        if s != signal.SIGHUP or signal.getsignal(s) != signal.SIG_IGN:
            signal.signal(s, on_signal)
    os.makedirs(args.out, exist_ok=True)
    info = machine_info(args)
    info.update(runs=args.runs, duration_s=args.duration, pings=args.pings,
                ping_interval_s=args.ping_interval, profiles=args.profiles, paths=args.paths)
    remove_stale_namespaces()
    raw = []
    topo = Topology(args)
    interrupted = False
    stt_paths = [p for p in args.paths if p in STT_PATHS]
    try:
        topo.build()
        topo.start_sttd(stt_paths)
        info["stt_start_error"] = {p: topo.stt_error[p] for p in stt_paths}
        info["fast_path_seen"] = topo.fast_path_seen
        offloads = {}
        for rnd in range(1, args.runs + 1):
            for prof in args.profiles:
                offloads.setdefault(prof, topo.set_profile(prof))
                log("round %d/%d, profile %s" % (rnd, args.runs, prof))
                live = []
                for path in args.paths:
                    try:
                        err = topo.path_error(path)
                        if err:
                            raise BenchError(err)
                        reachable(topo, path)
                        live.append(path)
                    except BenchError as e:
                        for n in STREAMS:
                            raw.append(dict(round=rnd, profile=prof, path=path, kind="iperf3",
                                            streams=n, error=str(e)))
                        raw.append(dict(round=rnd, profile=prof, path=path, kind="ping",
                                        error=str(e)))
                # Interleave: every path once per stream count, then the pings.
                for n in STREAMS:
                    for path in live:
                        rec = dict(round=rnd, profile=prof, path=path, kind="iperf3", streams=n)
                        try:
                            err = topo.path_error(path)
                            if err:
                                raise BenchError(err)
                            rec.update(measure_iperf(topo, path, n, args.duration))
                            log("  %-7s P%d %7.2f Gbit/s  retr %5s  cpu %.2f s/GB (ours %.2f, "
                                "others %.1f s)" % (
                                    path, n, rec["bits_per_second"] / 1e9, rec["retransmits"],
                                    rec["cpu_s_per_gb"] or 0, rec["cpu_ours_s_per_gb"] or 0,
                                    rec["other_busy_s"]))
                            if rec["retransmits"] and rec["kernel_counters"]:
                                log("          %s" % " ".join(
                                    "%s=%d" % kv for kv in sorted(
                                        rec["kernel_counters"].items()))[:300])
                        except BenchError as e:
                            rec["error"] = str(e)
                            log("  %-7s P%d error: %s" % (path, n, e))
                        raw.append(rec)
                for path in live:
                    rec = dict(round=rnd, profile=prof, path=path, kind="ping")
                    try:
                        rec.update(measure_ping(topo, path, args.pings, args.ping_interval))
                        log("  %-7s ping median %.3f ms p99 %.3f ms" % (
                            path, rec["rtt_median_ms"], rec["rtt_p99_ms"]))
                    except BenchError as e:
                        rec["error"] = str(e)
                    raw.append(rec)
        info["offloads_seen"] = offloads
        info["underlay_qdisc"] = topo.qdisc_state()
        if args.perf:
            info["perf"] = perf_profiles(topo, args)
        for path in stt_paths:  # a sends the data, b receives it
            if topo.path_error(path):
                continue
            sp = STT_PATHS[path]
            for i in (0, 1):
                info["sttd_%s_%s_stats_at_end" % (path, "ab"[i])] = topo.sttctl_json(
                    sp, i, "stats")
        if "stt-bpf" in stt_paths and not topo.path_error("stt-bpf"):
            info["fast_path_share"] = fast_path_share(info["sttd_stt-bpf_a_stats_at_end"],
                                                      info["sttd_stt-bpf_b_stats_at_end"])
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: cleaning up")
    finally:
        topo.cleanup()
    info["interrupted"] = interrupted  # the results so far are still written
    info["loadavg_at_end"] = open("/proc/loadavg").read().split()[:3]
    summ = summarize(raw, args.profiles, args.paths)
    tg = targets(summ, args.profiles)
    text = table(summ, args.profiles, args.paths)
    md = markdown_table(summ, args.profiles, args.paths)
    png = os.path.join(args.out, "chart.png")
    note = chart(summ, args.profiles, args.paths, info, png)
    result = {"machine": info, "method": {
        "throughput": "iperf3 -J, end.sum_received.bits_per_second, host a -> host b",
        "retransmits": "iperf3 -J, end.sum_sent.retransmits (the sender's TCP)",
        "cpu": "machine-wide: /proc/stat busy (user+nice+system+irq+softirq) seconds of every "
               "CPU from just before the iperf3 client starts to just after it exits, divided "
               "by GB (1e9 bytes) received; 'cpu_ours' beside it: the iperf3 client "
               "(getrusage), the iperf3 server, every sttd and ksoftirqd (/proc/PID/stat "
               "utime+stime)",
        "rtt": "ping -i %s -c %d; median and nearest-rank p99; medians of those over rounds"
               % (args.ping_interval, args.pings),
        "summary": "median over rounds",
        "profiles": PROFILES, "underlay_qdisc": args.underlay_qdisc}, "summary": summ,
        "targets": tg, "raw": raw, "table_markdown": md,
        "chart": None if note else png, "chart_note": note}
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(result, f, indent=1)
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(md + "\n")
    print("stt e2e benchmark: %s, kernel %s, %s x %s, commit %s, load %s at start" % (
        info["date"], info["kernel"], info["nproc"], info["cpu_model"],
        (info["git_commit"] or "?")[:12], " ".join(info["loadavg_at_start"])))
    print("medians of %d rounds, iperf3 %d s; retr = the sender's TCP retransmits; CPU = "
          "machine-wide busy s (softirq included) per GB received; RTT in ms\n"
          % (args.runs, args.duration))
    print(text)
    print(targets_text(tg))
    share = info.get("fast_path_share")
    if share:
        print("stt-bpf in the kernel: %s of %s frames sent (%s), %s of %s received (%s)" % (
            share["a_tx_frames_kernel"], share["a_tx_frames_all"],
            fmt(share["a_tx_frames_share"], 3), share["b_rx_delivered_kernel"],
            share["b_rx_delivered_all"], fmt(share["b_rx_delivered_share"], 3)))
    print("results: %s" % os.path.join(args.out, "results.json"))
    print("chart:   %s" % (png if not note else note))
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
