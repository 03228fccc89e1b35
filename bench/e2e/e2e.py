#!/usr/bin/env python3
"""End-to-end benchmark: STT through sttd beside kernel VXLAN and the bare veth underlay.

Two "hosts" are two network namespaces joined by a veth pair (MTU 1500). Over that
underlay, in the same run, it measures three paths:
  bare   iperf3 between the veth addresses (the ceiling)
  vxlan  the kernel VXLAN device (the anchor)
  stt    sttd in each namespace, one network, iperf3 between the TAP addresses
for each underlay offload profile (full, tcp-only, none), interleaving the paths inside
every round, and reports medians over the rounds. See docs/performance.md for the
method and bench/e2e/run.sh for the command. Python 3 standard library only; the chart
needs matplotlib and is skipped (with a note) without it.

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
PATHS = ("bare", "vxlan", "stt")
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
STT = ("10.203.0.1", "10.203.0.2")
TARGET = {"bare": UNDER[1], "vxlan": VXLAN[1], "stt": STT[1]}
VETH = ("e2e-ua", "e2e-ub")
VXLAN_DEV = "e2e-vx"
STT_TAP = "e2e-stt"
STT_CONTEXT = 0x2a


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
# CPU seconds are those of everything the benchmark runs on both hosts: the iperf3 client
# (getrusage of the waited child), the iperf3 server and both sttd (utime+stime from
# /proc/PID/stat, all threads), plus the kernel's ksoftirqd threads (network receive work
# that overflows out of the senders' context). Kernel work done in a process's context
# (its system calls and the softirqs run on their return) is in that process's stime.
# The same sum is taken for every path, sttd included even when it idles, so every path
# pays the same fixed cost. Whole-machine /proc/stat deltas are recorded beside it, so
# the reader can see how much else (teammates, builds) ran during a measurement.

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime
    except (OSError, IndexError, ValueError):
        return None


def machine_cpu():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice
    busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
    return busy / CLK_TCK, (busy + v[3] + v[4]) / CLK_TCK


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
        self.busy, self.total = machine_cpu()

    def delta(self, later):
        out = {}
        for k, v in self.procs.items():
            w = later.procs.get(k)
            out[k] = (w - v) if (v is not None and w is not None) else 0.0
        c0, c1 = self.children, later.children
        out["client"] = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
        return out, later.busy - self.busy, later.total - self.total


# ------------------------------------------------------------------ topology

class Topology:
    def __init__(self, args):
        self.args = args
        tag = "%s-%d" % (PREFIX, os.getpid())
        self.ns = (tag + "-a", tag + "-b")
        self.tmp = tempfile.mkdtemp(prefix=tag + "-")
        self.created = []
        self.iperf_srv = None
        self.sttd = [None, None]
        self.sttd_logs = [os.path.join(self.tmp, "sttd-%s.log" % h) for h in "ab"]
        self.stt_error = None

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
        self.start_iperf_server()

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
    def stt_config(self, i):
        sock = os.path.join(self.tmp, "sttd-%s.sock" % "ab"[i])
        text = "\n".join([
            "[underlay]",
            'interface = "%s"' % VETH[i],
            'local = "%s"' % UNDER[i],
            "port = 7471",
            "",
            "[control]",
            'socket = "%s"' % sock,
            "",
            "[[network]]",
            'name = "bench"',
            "context_id = %d" % STT_CONTEXT,
            'tap = "%s"' % STT_TAP,
            "mtu = 1500",
            'peers = ["%s"]' % UNDER[1 - i],
            "",
        ])
        path = os.path.join(self.tmp, "sttd-%s.toml" % "ab"[i])
        with open(path, "w") as f:
            f.write(text)
        return path, sock

    def log_tail(self, i, n=15):
        try:
            with open(self.sttd_logs[i]) as f:
                return "".join(f.readlines()[-n:]).strip()
        except OSError:
            return ""

    def start_sttd(self):
        """Starts sttd in both hosts; on failure records why in self.stt_error."""
        sttd, sttctl = self.args.sttd, self.args.sttctl
        try:
            if self.args.stt_unavailable:
                raise BenchError(self.args.stt_unavailable)
            for exe in (sttd, sttctl):
                if not (exe and os.path.isfile(exe) and os.access(exe, os.X_OK)):
                    raise BenchError("%s is not built (no executable at %r)" %
                                     (os.path.basename(exe or "sttd/sttctl"), exe))
            socks = []
            for i in (0, 1):
                cfg, sock = self.stt_config(i)
                socks.append(sock)
                logf = open(self.sttd_logs[i], "a")
                self.sttd[i] = self.popen(i, [sttd, "-c", cfg] + self.args.sttd_arg,
                                          stdout=logf, stderr=logf, start_new_session=True)
                logf.close()
            for i in (0, 1):
                last = [""]

                def ready(i=i, last=last):
                    if self.sttd[i].poll() is not None:
                        raise BenchError("sttd in host %s exited with %s before it was ready: %s"
                                         % ("ab"[i], self.sttd[i].returncode, self.log_tail(i)))
                    p = self.nsexec(i, [sttctl, "show", "-s", socks[i]], check=False, timeout=5)
                    last[0] = (p.stderr or p.stdout).strip()[-300:]
                    return p.returncode == 0
                try:
                    wait_for(ready, 15, "sttd in host %s to answer 'sttctl show'" % "ab"[i])
                except BenchError as e:
                    raise BenchError("%s (last sttctl output: %s)" % (e, last[0]))
                links = self.nsexec(i, ["ip", "-o", "link", "show"]).stdout
                if (": %s:" % STT_TAP) not in links and (": %s@" % STT_TAP) not in links:
                    raise BenchError("sttd is ready but TAP %s does not exist" % STT_TAP)
                self.nsexec(i, ["ip", "addr", "add", STT[i] + "/24", "dev", STT_TAP])
                self.nsexec(i, ["ip", "link", "set", STT_TAP, "up"])
            self.stt_error = None
        except (BenchError, OSError, subprocess.SubprocessError) as e:
            self.stt_error = "sttd unavailable: %s" % e
            log(self.stt_error)
            self.stop_sttd()

    def sttd_alive(self):
        if self.stt_error:
            return False
        for i in (0, 1):
            p = self.sttd[i]
            if p is None or p.poll() is not None:
                self.stt_error = "sttd in host %s exited (%s): %s" % (
                    "ab"[i], None if p is None else p.returncode, self.log_tail(i))
                log(self.stt_error)
                return False
        return True

    def stop_sttd(self):
        for i in (0, 1):
            p, self.sttd[i] = self.sttd[i], None
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
        for i in (0, 1):
            if self.sttd[i] and self.sttd[i].poll() is None:
                procs["sttd-" + "ab"[i]] = self.sttd[i].pid
        for pid in ksoftirqd_pids():
            procs["ksoftirqd-%d" % pid] = pid
        return procs

    def cleanup(self):
        # A second Ctrl-C must not cut the cleanup short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.stop_sttd()
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


def measure_iperf(topo, path, streams, duration):
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
    try:
        j = json.loads(out)
    except ValueError:
        topo.start_iperf_server()
        raise BenchError("iperf3 exited %d without JSON: %s" % (client.returncode, err.strip()))
    if client.returncode != 0 or "error" in j:
        topo.start_iperf_server()
        raise BenchError("iperf3: %s" % j.get("error", err.strip()))
    recv = j["end"]["sum_received"]
    cpu, busy, total = snap0.delta(snap1)
    ours = sum(cpu.values())
    gb = recv["bytes"] / 1e9
    return {
        "bits_per_second": recv["bits_per_second"],
        "bytes": recv["bytes"],
        "seconds": recv["seconds"],
        "retransmits": j["end"].get("sum_sent", {}).get("retransmits"),
        "cpu_s": ours,
        "cpu_s_per_gb": ours / gb if gb > 0 else None,
        "cpu_breakdown_s": {k: round(v, 3) for k, v in cpu.items() if v},
        "machine_busy_s": busy,
        "machine_cpu_s": total,
        "other_busy_s": busy - ours,
        "wall_s": wall,
        "iperf3_cpu_utilization_percent": j["end"].get("cpu_utilization_percent"),
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


def perf_stt(topo, args):
    """After the rounds (so no counted run is slowed): one more STT 1-stream run per
    profile with `perf record -g` on both sttd, and the top of `perf report` per profile."""
    if not shutil.which("perf"):
        return "perf not installed"
    out = {}
    for prof in args.profiles:
        if not topo.sttd_alive():
            out[prof] = topo.stt_error
            break
        topo.set_profile(prof)
        data = os.path.join(args.out, "perf-%s.data" % prof)
        pids = ",".join(str(p.pid) for p in topo.sttd)
        rec = subprocess.Popen(["perf", "record", "-q", "-g", "-F", "499", "-o", data, "-p", pids],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            r = measure_iperf(topo, "stt", 1, args.duration)
            out[prof] = {"gbps_under_perf": r["bits_per_second"] / 1e9}
        except BenchError as e:
            out[prof] = {"error": str(e)}
        finally:
            rec.send_signal(signal.SIGINT)
            try:
                rec.wait(timeout=30)
            except subprocess.TimeoutExpired:
                rec.kill()
                rec.wait()
        rep = run(["perf", "report", "-i", data, "--no-children", "--stdio", "-g", "none",
                   "--percent-limit", "0.7", "--sort", "comm,dso,symbol"], check=False,
                  timeout=120).stdout
        txt = os.path.join(args.out, "perf-%s.txt" % prof)
        with open(txt, "w") as f:
            f.write(rep)
        out[prof]["report"] = txt
        try:
            os.remove(data)
        except OSError:
            pass
        log("  perf %s: %s" % (prof, txt))
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

METRICS = [("P1", "gbps_p1"), ("P4", "gbps_p4"), ("cpu/GB P1", "cpu_s_per_gb_p1"),
           ("cpu/GB P4", "cpu_s_per_gb_p4"), ("rtt med", "rtt_median_ms"),
           ("rtt p99", "rtt_p99_ms")]


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
                s["retransmits_p%d" % n] = median([r["retransmits"] for r in ok])
                s["runs_p%d" % n] = len(ok)
            pings = [r for r in rows if r["kind"] == "ping" and not r.get("error")]
            s["rtt_median_ms"] = median([r["rtt_median_ms"] for r in pings])
            s["rtt_p99_ms"] = median([r["rtt_p99_ms"] for r in pings])
            summ[prof][path] = s
        ratios = {}
        for key in ("gbps_p1", "gbps_p4", "cpu_s_per_gb_p1", "cpu_s_per_gb_p4",
                    "rtt_median_ms"):
            st = summ[prof]["stt"].get(key)
            for ref in ("vxlan", "bare"):
                rv = summ[prof][ref].get(key)
                ratios["stt/%s %s" % (ref, key)] = (st / rv) if (st is not None and rv) else None
        summ[prof]["ratios"] = ratios
    return summ


def fmt(v, nd=2):
    return "-" if v is None else ("%.*f" % (nd, v))


def table(summ, profiles, paths):
    lines = []
    hdr = "%-9s %-6s %8s %8s %10s %10s %9s %9s" % (
        "profile", "path", "P1 Gb/s", "P4 Gb/s", "cpu s/GB1", "cpu s/GB4", "rtt med", "rtt p99")
    lines.append(hdr)
    lines.append("-" * len(hdr))
    for prof in profiles:
        for path in paths:
            s = summ[prof][path]
            lines.append("%-9s %-6s %8s %8s %10s %10s %9s %9s" % (
                prof, path, fmt(s["gbps_p1"]), fmt(s["gbps_p4"]),
                fmt(s["cpu_s_per_gb_p1"]), fmt(s["cpu_s_per_gb_p4"]),
                fmt(s["rtt_median_ms"], 3), fmt(s["rtt_p99_ms"], 3)))
            for e in s["errors"][:3]:
                lines.append("%-9s %-6s   error (%d of %d iperf3 runs failed): %s" % (
                    "", "", s["iperf3_failed"], s["iperf3_runs"], e[:200]))
        r = summ[prof]["ratios"]
        for ref in [p for p in ("vxlan", "bare") if "stt" in paths and p in paths]:
            lines.append("%-9s %-6s %8s %8s %10s %10s %9s" % (
                "", "stt/" + ref, fmt(r["stt/%s gbps_p1" % ref]), fmt(r["stt/%s gbps_p4" % ref]),
                fmt(r["stt/%s cpu_s_per_gb_p1" % ref]), fmt(r["stt/%s cpu_s_per_gb_p4" % ref]),
                fmt(r["stt/%s rtt_median_ms" % ref])))
        lines.append("")
    return "\n".join(lines)


def markdown_table(summ, profiles, paths):
    out = ["| profile | path | 1 stream Gbit/s | 4 streams Gbit/s | CPU s/GB (1) | CPU s/GB (4) "
           "| RTT median ms | RTT p99 ms |", "|---|---|---|---|---|---|---|---|"]
    for prof in profiles:
        for path in paths:
            s = summ[prof][path]

            def rng(n):
                if s["gbps_p%d" % n] is None:
                    return "error" if s["errors"] else "-"
                return "%s (%s–%s)" % (fmt(s["gbps_p%d" % n]), fmt(s["gbps_p%d_min" % n]),
                                       fmt(s["gbps_p%d_max" % n]))
            out.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                prof, path, rng(1), rng(4), fmt(s["cpu_s_per_gb_p1"]),
                fmt(s["cpu_s_per_gb_p4"]), fmt(s["rtt_median_ms"], 3),
                fmt(s["rtt_p99_ms"], 3)))
        r = summ[prof]["ratios"]
        for ref in [p for p in ("vxlan", "bare") if "stt" in paths and p in paths]:
            out.append("| %s | **STT/%s** | **%s** | **%s** | %s | %s | %s | |" % (
                prof, ref, fmt(r["stt/%s gbps_p1" % ref]), fmt(r["stt/%s gbps_p4" % ref]),
                fmt(r["stt/%s cpu_s_per_gb_p1" % ref]), fmt(r["stt/%s cpu_s_per_gb_p4" % ref]),
                fmt(r["stt/%s rtt_median_ms" % ref])))
    return "\n".join(out)


def chart(summ, profiles, paths, info, path_png):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        return "chart skipped: %s" % e
    colors = {"bare": "#8c8c8c", "vxlan": "#4c72b0", "stt": "#dd8452"}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    width = 0.8 / len(paths)
    for ax, (title, key) in zip(axes, (("1 TCP stream", "gbps_p1"),
                                       ("4 TCP streams", "gbps_p4"),
                                       ("CPU seconds per GB, 1 stream (lower is better)",
                                        "cpu_s_per_gb_p1"))):
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
        ax.set_title(title)
        ax.set_ylabel("Gbit/s (median, min-max bars)" if key.startswith("gbps") else "CPU s/GB")
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend()
    fig.suptitle("stt e2e: bare veth vs kernel VXLAN vs STT (sttd), %s rounds, %s, commit %s"
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
    ap.add_argument("--paths", default=",".join(PATHS), help="comma list of: bare,vxlan,stt")
    ap.add_argument("--pings", type=int, default=200, help="pings per path (default 200)")
    ap.add_argument("--ping-interval", type=float, default=0.01)
    ap.add_argument("--out", required=True, help="directory for results.json, chart.png")
    ap.add_argument("--sttd", default=None)
    ap.add_argument("--sttctl", default=None)
    ap.add_argument("--sttd-arg", action="append", default=[], metavar="ARG",
                    help="one more argument for both sttd (repeat it: "
                    "--sttd-arg=--tx-form --sttd-arg=segmented)")
    ap.add_argument("--stt-unavailable", default=None,
                    help="(run.sh) why sttd cannot be used, e.g. the build failed")
    ap.add_argument("--perf", action="store_true",
                    help="after the rounds, profile sttd with perf during one extra STT run "
                    "per profile (not counted in the results)")
    ap.add_argument("--keep-logs", action="store_true", help="keep sttd logs and configs")
    a = ap.parse_args(argv)
    a.profiles = [p for p in a.profiles.split(",") if p]
    for p in a.profiles:
        if p not in PROFILES:
            ap.error("unknown profile %r (have %s)" % (p, ", ".join(PROFILES)))
    a.paths = [p for p in a.paths.split(",") if p]
    for p in a.paths:
        if p not in PATHS:
            ap.error("unknown path %r" % p)
    if a.runs < 1 or a.duration < 1:
        ap.error("--runs and --duration must be at least 1")
    return a


def on_signal(signum, _frame):
    raise KeyboardInterrupt("signal %d" % signum)


def main(argv):
    args = parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("e2e: must run as root (it creates network namespaces)")
    for tool in ("ip", "ethtool", "iperf3", "ping", "ss"):
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
    try:
        topo.build()
        if "stt" in args.paths:
            topo.start_sttd()
        info["stt_start_error"] = topo.stt_error
        offloads = {}
        for rnd in range(1, args.runs + 1):
            for prof in args.profiles:
                offloads.setdefault(prof, topo.set_profile(prof))
                log("round %d/%d, profile %s" % (rnd, args.runs, prof))
                live = []
                for path in args.paths:
                    try:
                        if path == "stt" and not topo.sttd_alive():
                            raise BenchError(topo.stt_error)
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
                            if path == "stt" and not topo.sttd_alive():
                                raise BenchError(topo.stt_error)
                            rec.update(measure_iperf(topo, path, n, args.duration))
                            log("  %-5s P%d %7.2f Gbit/s  cpu %.2f s/GB  (others %.1f s)" % (
                                path, n, rec["bits_per_second"] / 1e9,
                                rec["cpu_s_per_gb"] or 0, rec["other_busy_s"]))
                        except BenchError as e:
                            rec["error"] = str(e)
                            log("  %-5s P%d error: %s" % (path, n, e))
                        raw.append(rec)
                for path in live:
                    rec = dict(round=rnd, profile=prof, path=path, kind="ping")
                    try:
                        rec.update(measure_ping(topo, path, args.pings, args.ping_interval))
                        log("  %-5s ping median %.3f ms p99 %.3f ms" % (
                            path, rec["rtt_median_ms"], rec["rtt_p99_ms"]))
                    except BenchError as e:
                        rec["error"] = str(e)
                    raw.append(rec)
        info["offloads_seen"] = offloads
        if args.perf and "stt" in args.paths:
            info["perf"] = perf_stt(topo, args)
        for i in (0, 1):  # a sends the data, b receives it
            if "stt" not in args.paths or topo.sttd[i] is None:
                continue
            h = "ab"[i]
            st = topo.nsexec(i, [args.sttctl, "stats", "-j", "-s",
                                 os.path.join(topo.tmp, "sttd-%s.sock" % h)],
                             check=False, timeout=5)
            try:
                info["sttd_%s_stats_at_end" % h] = json.loads(st.stdout)
            except ValueError:
                info["sttd_%s_stats_at_end" % h] = (st.stderr or st.stdout).strip()[-2000:]
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: cleaning up")
    finally:
        topo.cleanup()
    info["interrupted"] = interrupted  # the results so far are still written
    info["loadavg_at_end"] = open("/proc/loadavg").read().split()[:3]
    summ = summarize(raw, args.profiles, args.paths)
    text = table(summ, args.profiles, args.paths)
    md = markdown_table(summ, args.profiles, args.paths)
    png = os.path.join(args.out, "chart.png")
    note = chart(summ, args.profiles, args.paths, info, png)
    result = {"machine": info, "method": {
        "throughput": "iperf3 -J, end.sum_received.bits_per_second, host a -> host b",
        "cpu": "CPU seconds of the iperf3 client (getrusage), the iperf3 server and both sttd "
               "(/proc/PID/stat utime+stime) and ksoftirqd (/proc/PID/stat), summed over both "
               "hosts, divided by GB (1e9 bytes) received; machine-wide /proc/stat busy seconds "
               "recorded beside it",
        "rtt": "ping -i %s -c %d; median and nearest-rank p99; medians of those over rounds"
               % (args.ping_interval, args.pings),
        "summary": "median over rounds",
        "profiles": PROFILES}, "summary": summ, "raw": raw, "table_markdown": md,
        "chart": None if note else png, "chart_note": note}
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(result, f, indent=1)
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(md + "\n")
    print("stt e2e benchmark: %s, kernel %s, %s x %s, commit %s" % (
        info["date"], info["kernel"], info["nproc"], info["cpu_model"],
        (info["git_commit"] or "?")[:12]))
    print("medians of %d rounds, iperf3 %d s; CPU = s per GB moved, both hosts; RTT in ms\n"
          % (args.runs, args.duration))
    print(text)
    print("results: %s" % os.path.join(args.out, "results.json"))
    print("chart:   %s" % (png if not note else note))
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
