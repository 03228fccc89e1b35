#!/usr/bin/env python3
"""bench/cluster: one sttd against a directory of N hosts and M MACs in etcd (issue 11).

Topology (network namespaces on one bridge, IPv4 10.0.0.0/16): etcd (1 member by default,
--members 3 for a cluster), the sttd under test ("dut", 10.0.0.1, serving --networks networks
n001.. with context IDs 1..K, none with `peers`), a sink (10.0.0.2) that every simulated host's
underlay address resolves to (permanent neighbour entries in the dut), so flooded frames really
leave and can be counted. The simulated hosts are only directory entries: host-0001.. at
10.0.10.1.., each serving every network, with M/N MACs spread over the networks (one claim per
MAC too), all written per docs/cluster.md by a generator that batches puts into transactions
through etcd's JSON gateway (/v3/kv/txn), from this process (its sockets are opened inside
the namespaces).

Measured, in this order, each figure beside a reference from the same run:
  rss_baseline     RSS of the same sttd on the empty directory (the reference for rss)
  fill             the generator's write rate into etcd (the reference for the apply rate)
  sync             a fresh sttd: start to every host and MAC believed (sttctl cluster)
  rss              VmRSS and VmHWM after the sync
  apply            sttd stopped (SIGSTOP) while U MAC values change, then continued: U over
                   the time until its events_applied counter moved by U
  flood            one broadcast on network 1, flooded to N peers: time until the sink has
                   all N copies, and sttd CPU per broadcast, beside one known unicast
  join, leave      a host registered (own lease) / its lease revoked: until sttd's host count
                   moves; median and p99
  move             a MAC's claim, new entry and old entry's delete in one txn: until sttd's FDB
                   points at the new host
  crash            a host whose lease (TTL 2 s) is never renewed: from when the lease is due
                   to expire until sttd drops it (etcd checks expiry every 500 ms)

Writes results.json, table.md and chart.png (matplotlib) to --out.
"""

import argparse
import base64
import datetime
import http.client
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "cluster"))

import etcd_cluster as E  # noqa: E402
import fleet as F  # noqa: E402

H = E.H
PREFIX = "/stt"
STT_PORT = 7471
TXN_OPS = 1024  # etcd runs with --max-txn-ops at least this
TXN_BYTES = 1 << 20  # etcd's default --max-request-bytes is 1.5 MiB
WRITERS = 4  # concurrent generator connections


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def median(xs):
    return statistics.median(xs) if xs else None


def p99(xs):
    """The 99th percentile (interpolated between the samples around it)."""
    if len(xs) < 2:
        return xs[0] if xs else None
    return statistics.quantiles(xs, n=100, method="inclusive")[98]


def thread_cpu_s(pid):
    """CPU time of the process's main thread (sttd's event loop: the data path), from
    schedstat in nanoseconds: /proc/PID/stat counts in 10 ms ticks, too coarse for one frame."""
    with open("/proc/%d/schedstat" % pid) as f:
        return int(f.read().split()[0]) / 1e9


def proc_cpu_s(pid):
    """CPU time (user + system) of the whole process, every thread, from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_mem_kib(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:", "RssAnon:", "RssFile:")):
                out[line.split(":")[0]] = int(line.split()[1])
    return out


# ------------------------------------------------------------------ etcd's JSON gateway

def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


class Gateway:
    """etcd v3 over its gRPC-gateway JSON API, one keep-alive HTTP connection opened inside
    a namespace."""

    def __init__(self, ns, addr, port=E.CLIENT_PORT):
        self.ns, self.addr, self.port = ns, addr, port
        self.conn = None

    def _connect(self):
        c = http.client.HTTPConnection(self.addr, self.port, timeout=60)
        sock = F.ns_socket(self.ns, socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(60)
        sock.connect((self.addr, self.port))
        c.sock = sock
        return c

    def call(self, path, body):
        for attempt in (1, 2):
            try:
                if self.conn is None:
                    self.conn = self._connect()
                self.conn.request("POST", path, json.dumps(body),
                                  {"Content-Type": "application/json"})
                r = self.conn.getresponse()
                data = r.read()
                break
            except (OSError, http.client.HTTPException):
                if self.conn:
                    self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        j = json.loads(data) if data else {}
        if r.status != 200 or "error" in j:
            raise H.HarnessError("etcd %s: HTTP %d %s" % (path, r.status, data[:300]))
        return j

    def grant(self, ttl):
        return int(self.call("/v3/lease/grant", {"TTL": ttl})["ID"])

    def revoke(self, lease):
        self.call("/v3/lease/revoke", {"ID": lease})

    def txn(self, puts=(), deletes=()):
        """puts: (key, value, lease or 0); deletes: keys. One transaction, no compare."""
        ops = [{"requestPut": dict({"key": b64(k), "value": b64(v)},
                                   **({"lease": lease} if lease else {}))}
               for k, v, lease in puts]
        ops += [{"requestDeleteRange": {"key": b64(k)}} for k in deletes]
        return self.call("/v3/kv/txn", {"success": ops})

    def count(self, prefix):
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        j = self.call("/v3/kv/range", {"key": b64(prefix), "range_end": b64(end),
                                       "count_only": True})
        return int(j.get("count", 0))


# ------------------------------------------------------------------ the directory's contents

def ctx_str(ctx):
    return "0x%016x" % ctx


class Directory:
    """The simulated hosts and MACs, and the keys and values the layout gives them."""

    def __init__(self, hosts, macs, networks):
        self.n, self.m, self.k = hosts, macs, networks
        self.hosts = ["host-%04d" % i for i in range(1, hosts + 1)]

    @staticmethod
    def addr(i):
        """Underlay address of simulated host i (1-based)."""
        return "10.0.%d.%d" % (10 + (i - 1) // 250, 1 + (i - 1) % 250)

    def host_value(self, i):
        name = "host-%04d" % i
        return json.dumps({"name": name, "address": self.addr(i), "port": STT_PORT,
                           "contexts": [ctx_str(c) for c in range(1, self.k + 1)]},
                          separators=(",", ":"))

    def mac_of(self, j):
        """MAC j (0-based): host, context, MAC string."""
        host = j % self.n + 1
        ctx = (j // self.n) % self.k + 1
        return host, ctx, "02:%02x:%02x:%02x:%02x:%02x" % (
            (j >> 32) & 0xFF, (j >> 24) & 0xFF, (j >> 16) & 0xFF, (j >> 8) & 0xFF, j & 0xFF)

    def mac_kvs(self, j, host=None, seq=1, tag=0):
        h0, ctx, mac = self.mac_of(j)
        host = host or h0
        name = "host-%04d" % host
        ip = "100.%d.%d.%d" % (64 + (j >> 16) % 64, (j >> 8) & 0xFF, j & 0xFF)
        ips = [ip] + (["fd00:%x::%x" % (tag, j & 0xFFFF)] if tag else [])
        mac_val = json.dumps({"mac": mac, "context_id": ctx_str(ctx), "address": self.addr(host),
                              "ips": ips, "seq": seq}, separators=(",", ":"))
        claim_val = json.dumps({"host": name, "seq": seq}, separators=(",", ":"))
        return (("%s/macs/%s/%016x/%s" % (PREFIX, name, ctx, mac), mac_val),
                ("%s/claims/%016x/%s" % (PREFIX, ctx, mac), claim_val))


def batched(items, size):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def write_all(gws, puts):
    """Writes puts in transactions of at most TXN_OPS operations and TXN_BYTES bytes, over
    every connection in `gws` at once (etcd batches concurrent writes into one commit)."""
    batches, cur, size = [], [], 0
    for p in puts:
        if cur and (len(cur) >= TXN_OPS or size + len(p[0]) + len(p[1]) > TXN_BYTES):
            batches.append(cur)
            cur, size = [], 0
        cur.append(p)
        size += len(p[0]) + len(p[1])
    if cur:
        batches.append(cur)
    errors = []

    def worker(gw, mine):
        try:
            for b in mine:
                gw.txn(puts=b)
        except Exception as e:  # reported below, in the main thread
            errors.append(e)
    threads = [threading.Thread(target=worker, args=(gw, batches[i::len(gws)]))
               for i, gw in enumerate(gws)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def fill(gws, d, lease):
    """Writes every host, MAC and claim; returns (keys written, seconds)."""
    t0 = time.monotonic()
    puts = [("%s/hosts/%s" % (PREFIX, d.hosts[i - 1]), d.host_value(i), lease)
            for i in range(1, d.n + 1)]
    for j in range(d.m):
        (mk, mv), (ck, cv) = d.mac_kvs(j)
        puts += [(mk, mv, lease), (ck, cv, lease)]
    write_all(gws, puts)
    return len(puts), time.monotonic() - t0


# ------------------------------------------------------------------ the sttd under test

def dut_config(etcd, networks, lease_ttl=10):
    nets = [{"name": "n%03d" % c, "context_id": c} for c in range(1, networks + 1)]
    return nets, F.cluster_config("10.0.0.1", "dut", etcd.endpoints(), nets,
                                  lease_ttl=lease_ttl, prefix=PREFIX)


class Dut:
    def __init__(self, host, etcd, networks):
        self.host = host
        self.nets, text = dut_config(etcd, networks)
        # The harness checks each network's TAP once sttd answers (one `ip link` each): one
        # is enough here, the others would only add to the measured sync time.
        self.daemon = H.Daemon(host, "10.0.0.1", self.nets[:1], label="dut", config_text=text)
        self.control = F.Control(self.daemon.socket)

    def start(self):
        self.control.close()
        t0 = time.monotonic()
        self.daemon.start(timeout=60)
        return t0, time.monotonic()

    def stop(self):
        self.control.close()
        self.daemon.stop(signal.SIGTERM, timeout=30)

    @property
    def pid(self):
        return self.daemon.proc.pid

    def cluster(self):
        return self.control.call("cluster")

    def counts(self):
        """(hosts, MACs) once the loop has applied every MAC the directory believes (its
        FDB entries), else (hosts, None): the sync is over when the FDBs hold the MACs."""
        c = self.cluster()
        if c.get("fdb_entries") != c.get("macs"):
            return c.get("hosts"), None
        return c.get("hosts"), c.get("macs")

    def events_applied(self):
        nums = H.json_numbers(self.cluster())
        hits = [v for p, v in nums.items() if p.endswith(("/events_applied",
                                                            "/cluster_events_applied"))]
        if not hits:
            raise H.HarnessError("no events_applied in sttctl cluster: %s" % sorted(nums))
        return hits[0]

    def fdb_peer(self, net, mac):
        for e in self.control.call("fdb_show", network=net):
            if e["mac"] == mac:
                return e.get("peer")
        return None


def wait_for(cond, timeout, what, interval=0.005):
    return H.wait_for(cond, timeout, what, interval=interval)


# ------------------------------------------------------------------ measurements

def measure_flood(dut, sink_port, tap_port, d, rounds):
    """Per round: one broadcast flooded to every simulated host, then one unicast to a
    directory MAC of network 1; time until the sink has all copies, and the CPU time of
    sttd's event loop thread meanwhile."""
    src_mac = "02:ee:00:00:00:01"
    # The unicast target: a MAC of network 1 (context 1) and its host.
    j = 0
    host, ctx, mac = d.mac_of(j)
    while ctx != 1:
        j += 1
        host, ctx, mac = d.mac_of(j)
    res = {"broadcast_s": [], "unicast_s": [], "broadcast_cpu_s": 0.0, "unicast_cpu_s": 0.0}

    def one(dst, marker, copies):
        sink_port.drain()
        cpu0 = thread_cpu_s(dut.pid)
        t0 = time.monotonic()
        tap_port.send(F.mark_frame(dst, src_mac, marker))
        got = [0]

        def done():
            for _, f in sink_port.frames():
                inner = F.stt_inner(f)
                if inner is not None and F.marked(inner, marker) is not None:
                    got[0] += 1
            return got[0] >= copies
        wait_for(done, 10, "%d copies of %s at the sink (have %d)" % (copies, marker, got[0]))
        return time.monotonic() - t0, thread_cpu_s(dut.pid) - cpu0

    for r in range(rounds):
        t, c = one("ff:ff:ff:ff:ff:ff", b"FLOOD%d" % r, d.n)
        res["broadcast_s"].append(t)
        res["broadcast_cpu_s"] += c
        t, c = one(mac, b"UNI%d" % r, 1)
        res["unicast_s"].append(t)
        res["unicast_cpu_s"] += c
    res["broadcast_cpu_s"] /= rounds
    res["unicast_cpu_s"] /= rounds
    return res


def measure_convergence(dut, gw, d, samples, crashes):
    out = {"join": [], "leave": [], "move": [], "crash_after_ttl": []}
    joined = []
    for s in range(samples):
        name = "join-%04d" % s
        i = d.n + 1 + s
        lease = gw.grant(120)
        before = dut.counts()[0]
        value = json.dumps({"name": name, "address": d.addr(i), "port": STT_PORT,
                            "contexts": [ctx_str(1)]})
        t0 = time.monotonic()
        gw.txn(puts=[("%s/hosts/%s" % (PREFIX, name), value, lease)])
        wait_for(lambda: dut.counts()[0] == before + 1, 10, "%s to join" % name)
        out["join"].append(time.monotonic() - t0)
        joined.append(lease)
    for lease in joined:
        before = dut.counts()[0]
        t0 = time.monotonic()
        gw.revoke(lease)
        wait_for(lambda: dut.counts()[0] == before - 1, 10, "a host to leave")
        out["leave"].append(time.monotonic() - t0)
    move_lease = gw.grant(600)
    for s in range(samples):
        j = (s * 7919) % d.m
        h0, ctx, mac = d.mac_of(j)
        new = h0 % d.n + 1
        (old_key, _), _ = d.mac_kvs(j)
        (mk, mv), (ck, cv) = d.mac_kvs(j, host=new, seq=2)
        t0 = time.monotonic()
        gw.txn(puts=[(ck, cv, move_lease), (mk, mv, move_lease)], deletes=[old_key])
        net = "n%03d" % ctx
        wait_for(lambda: dut.fdb_peer(net, mac) == d.addr(new), 10, "%s to move" % mac)
        out["move"].append(time.monotonic() - t0)
    for s in range(crashes):
        name = "crash-%04d" % s
        before = dut.counts()[0]
        t_grant = time.monotonic()
        lease = gw.grant(2)
        ttl_end = t_grant + 2.0
        value = json.dumps({"name": name, "address": d.addr(d.n + samples + 1 + s),
                            "port": STT_PORT, "contexts": [ctx_str(1)]})
        gw.txn(puts=[("%s/hosts/%s" % (PREFIX, name), value, lease)])
        wait_for(lambda: dut.counts()[0] == before + 1, 10, "%s to join" % name)
        wait_for(lambda: dut.counts()[0] == before, 15, "%s to expire" % name)
        out["crash_after_ttl"].append(time.monotonic() - ttl_end)
    return out


def summary(xs):
    return {"n": len(xs), "median_s": median(xs), "p99_s": p99(xs),
            "max_s": max(xs) if xs else None}


# ------------------------------------------------------------------ report

TARGETS = {"sync_s": 2.0, "apply_updates_per_s": 10000, "rss_mib": 100, "move_p99_s": 1.0}


def table(r):
    c = r["convergence"]
    rows = [
        ("directory", "%d hosts, %d MACs over %d networks (%d keys with claims)" %
         (r["params"]["hosts"], r["params"]["macs"], r["params"]["networks"], r["fill"]["keys"])),
        ("fill (generator -> etcd)", "%.1f s, %.0f keys/s" % (r["fill"]["s"],
                                                            r["fill"]["keys_per_s"])),
        ("sync (fresh sttd)", "%.3f s (target < %.0f s; ready after %.3f s)" %
         (r["sync"]["s"], TARGETS["sync_s"], r["sync"]["ready_s"])),
        ("apply rate", "%.0f updates/s (target >= %d; generator wrote %.0f keys/s: ratio %.2f)" %
         (r["apply"]["updates_per_s"], TARGETS["apply_updates_per_s"],
          r["apply"]["generator_keys_per_s"], r["apply"]["ratio_to_generator"])),
        ("RSS", "%.1f MiB after sync (%.1f anonymous, %.1f file), peak %.1f MiB (target < %d "
         "MiB); empty directory %.1f MiB (%.1f anonymous)"
         % (r["rss"]["rss_mib"], r["rss"]["anon_mib"], r["rss"]["file_mib"], r["rss"]["hwm_mib"],
            TARGETS["rss_mib"], r["rss"]["baseline_rss_mib"], r["rss"]["baseline_anon_mib"])),
        ("broadcast to %d peers" % r["params"]["hosts"],
         "%.2f ms median, %.2f ms CPU; one unicast %.3f ms, %.3f ms CPU (ratio %.0f)" %
         (r["flood"]["broadcast_median_ms"], r["flood"]["broadcast_cpu_ms"],
          r["flood"]["unicast_median_ms"], r["flood"]["unicast_cpu_ms"],
          r["flood"]["ratio_median"])),
    ]
    for k in ("join", "leave", "move", "crash_after_ttl"):
        s = c[k]
        rows.append(("%s convergence" % k.replace("_", " "),
                     "median %.3f s, p99 %.3f s (n=%d)" % (s["median_s"], s["p99_s"], s["n"])))
    w = max(len(a) for a, _ in rows)
    return "\n".join("%-*s  %s" % (w, a, b) for a, b in rows)


def chart(r, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        return "chart skipped: %s" % e
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.6))
    c = r["convergence"]
    kinds = ["join", "leave", "move", "crash_after_ttl"]
    xs = range(len(kinds))
    meds = [c[k]["median_s"] * 1000 for k in kinds]
    p99s = [c[k]["p99_s"] * 1000 for k in kinds]
    ax = axes[0]
    b1 = ax.bar([x - 0.2 for x in xs], meds, 0.4, label="median", color="#4c72b0")
    b2 = ax.bar([x + 0.2 for x in xs], p99s, 0.4, label="p99", color="#dd8452")
    ax.bar_label(b1, fmt="%.0f", fontsize=7)
    ax.bar_label(b2, fmt="%.0f", fontsize=7)
    ax.axhline(1000, color="red", ls="--", lw=1, label="1 s (move p99 target)")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(["join", "leave", "move", "crash\n(after TTL)"])
    ax.set_ylabel("ms")
    ax.set_title("convergence at the sttd under test")
    ax.legend(fontsize=8)
    ref, fig_c, peak = "#8c8c8c", "#4c72b0", "#dd8452"  # reference, figure, peak
    for ax, title, vals, labels, colors, target, unit in (
            (axes[1], "sync of a fresh sttd", [r["sync"]["ready_s"], r["sync"]["s"]],
             ["ready", "synced"], [ref, fig_c], TARGETS["sync_s"], "s"),
            (axes[2], "updates per second", [r["apply"]["generator_keys_per_s"],
                                             r["apply"]["updates_per_s"]],
             ["generator\nwrites", "sttd applies"], [ref, fig_c],
             TARGETS["apply_updates_per_s"], "1/s"),
            (axes[3], "sttd memory", [r["rss"]["baseline_rss_mib"], r["rss"]["rss_mib"],
                                      r["rss"]["hwm_mib"]],
             ["RSS, empty\ndirectory", "RSS after\nsync", "peak RSS"], [ref, fig_c, peak],
             TARGETS["rss_mib"], "MiB")):
        bars = ax.bar(labels, vals, color=colors)
        ax.bar_label(bars, fmt="%.3g", fontsize=8)
        ax.axhline(target, color="red", ls="--", lw=1, label="target %g %s" % (target, unit))
        ax.set_title(title)
        ax.set_ylabel(unit)
        ax.legend(fontsize=8)
    p = r["params"]
    fig.suptitle("stt bench/cluster: %d hosts, %d MACs, %d networks; %s, commit %s" %
                 (p["hosts"], p["macs"], p["networks"], r["machine"]["date"][:10],
                  (r["machine"]["git_commit"] or "?")[:10]), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def machine_info(sttd):
    def version(cmd):
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (p.stdout or p.stderr).strip().splitlines()[0]
        except (OSError, subprocess.SubprocessError, IndexError):
            return None
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "kernel": platform.release(),
        "nproc": os.cpu_count(),
        "loadavg_at_start": open("/proc/loadavg").read().split()[:3],
        "git_commit": version(["git", "-C", REPO, "rev-parse", "HEAD"]),
        "etcd": version([E.ETCD, "--version"]),
        "sttd": sttd,
    }


# ------------------------------------------------------------------ main

def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--macs", type=int, default=100000)
    ap.add_argument("--networks", type=int, default=100)
    ap.add_argument("--members", type=int, default=1, help="etcd members (default 1)")
    ap.add_argument("--updates", type=int, default=20000, help="MAC updates for the apply rate")
    ap.add_argument("--samples", type=int, default=30, help="join/leave/move samples")
    ap.add_argument("--crashes", type=int, default=5, help="crash samples (about 3 s each)")
    ap.add_argument("--floods", type=int, default=10, help="broadcasts (and unicasts) sent")
    ap.add_argument("--sync-only", action="store_true",
                    help="stop after the sync and RSS figures (for profiling the sync)")
    ap.add_argument("--syncs", type=int, default=0,
                    help="with --sync-only: after the fill, N more fresh syncs of each binary "
                         "(--sttd, then every --also-sttd) in turn, on the same directory")
    ap.add_argument("--also-sttd", action="append", default=[],
                    help="another sttd to compare in the --syncs rounds")
    ap.add_argument("--out", required=True)
    ap.add_argument("--sttd", required=True)
    ap.add_argument("--sttctl", required=True)
    return ap.parse_args(argv)


def main(argv):
    a = parse_args(argv)
    H.STTD, H.STTCTL = a.sttd, a.sttctl
    if os.geteuid() != 0:
        sys.exit("bench/cluster: run as root (network namespaces)")
    os.makedirs(a.out, exist_ok=True)
    H.sweep_stale()
    r = {"params": vars(a), "machine": machine_info(a.sttd)}
    d = Directory(a.hosts, a.macs, a.networks)
    try:
        fabric = E.Fabric(prefix_len=16)
        etcd = E.EtcdCluster(fabric, size=a.members)
        for m in etcd.members:
            m.extra_args = ["--max-txn-ops", str(TXN_OPS), "--quota-backend-bytes",
                            str(4 << 30), "--snapshot-count", "1000000"]
        etcd.start()
        log("etcd: %d member(s) healthy" % a.members)
        dut_host = fabric.new_host("dut", "10.0.0.1")
        sink = fabric.new_host("sink", "10.0.0.2")
        sink_mac = sink.mac("veth0")
        batch = "".join("neigh replace %s lladdr %s dev veth0 nud permanent\n" %
                        (d.addr(i), sink_mac) for i in range(1, a.hosts + a.samples + a.crashes + 1))
        H.run(["ip", "-n", dut_host.ns, "-batch", "-"], input=batch, timeout=60)
        gws = [Gateway(etcd.client_host.ns, etcd.members[0].addr) for _ in range(WRITERS)]
        gw = gws[0]
        dut = Dut(dut_host, etcd, a.networks)

        log("baseline: sttd on the empty directory")
        dut.start()
        wait_for(lambda: dut.cluster().get("state") == "connected", 30, "the dut to connect")
        base = proc_mem_kib(dut.pid)
        dut.stop()

        log("fill: %d hosts, %d MACs over %d networks" % (a.hosts, a.macs, a.networks))
        lease = gw.grant(3600)
        keys, secs = fill(gws, d, lease)
        r["fill"] = {"keys": keys, "s": secs, "keys_per_s": keys / secs}
        log("fill: %d keys in %.1f s (%.0f keys/s)" % (keys, secs, keys / secs))

        log("sync: a fresh sttd")
        t0, t_ready = dut.start()
        wait_for(lambda: dut.counts() == (a.hosts, a.macs), 120, "the dut to sync",
                 interval=0.01)
        t_sync = time.monotonic()
        r["sync"] = {"s": t_sync - t0, "ready_s": t_ready - t0, "cpu_s": proc_cpu_s(dut.pid)}
        mem = proc_mem_kib(dut.pid)
        r["rss"] = {"rss_mib": mem["VmRSS"] / 1024, "hwm_mib": mem["VmHWM"] / 1024,
                    "anon_mib": mem["RssAnon"] / 1024, "file_mib": mem["RssFile"] / 1024,
                    "baseline_rss_mib": base["VmRSS"] / 1024,
                    "baseline_anon_mib": base["RssAnon"] / 1024,
                    "baseline_file_mib": base["RssFile"] / 1024}
        log("sync %.3f s, RSS %.1f MiB" % (r["sync"]["s"], r["rss"]["rss_mib"]))
        if a.sync_only:
            r["dut_cluster_view"] = dut.cluster()
            if a.syncs:
                r["syncs"] = repeat_syncs(a, dut, etcd)
            return finish(a, r, sync_only=True)

        log("apply: %d updates while sttd is stopped" % a.updates)
        ev0 = dut.events_applied()
        os.kill(dut.pid, signal.SIGSTOP)
        try:
            updates = [d.mac_kvs(u % a.macs, tag=1 + u // a.macs)[0] + (lease,)
                       for u in range(a.updates)]
            tg = time.monotonic()
            write_all(gws, updates)
            gen_rate = a.updates / (time.monotonic() - tg)
        finally:
            os.kill(dut.pid, signal.SIGCONT)
        t0 = time.monotonic()
        wait_for(lambda: dut.events_applied() - ev0 >= a.updates, 60, "the updates to apply")
        rate = a.updates / (time.monotonic() - t0)
        r["apply"] = {"updates": a.updates, "updates_per_s": rate, "generator_keys_per_s": gen_rate,
                      "ratio_to_generator": rate / gen_rate}
        log("apply: %.0f updates/s (generator %.0f keys/s)" % (rate, gen_rate))

        log("flood: waiting for %d peers' next hops" % a.hosts)
        wait_for(lambda: sum(1 for p in dut.control.call("show")["peers"] if p.get("resolved"))
                 >= a.hosts, 60, "every peer resolved", interval=0.2)
        tap = dut.nets[0]
        H.setup_tap(dut_host, tap, "192.168.200.1/24")
        fl = measure_flood(dut, F.RawPort(sink, "veth0"), F.RawPort(dut_host, H.tap_name(tap)),
                           d, a.floods)
        fl["broadcast_median_ms"] = median(fl["broadcast_s"]) * 1000
        fl["unicast_median_ms"] = median(fl["unicast_s"]) * 1000
        fl["broadcast_cpu_ms"] = fl["broadcast_cpu_s"] * 1000
        fl["unicast_cpu_ms"] = fl["unicast_cpu_s"] * 1000
        fl["ratio_median"] = fl["broadcast_median_ms"] / fl["unicast_median_ms"]
        r["flood"] = fl
        log("flood: %.2f ms per broadcast (unicast %.3f ms)" %
            (fl["broadcast_median_ms"], fl["unicast_median_ms"]))

        log("convergence: %d joins, leaves, moves; %d crashes" % (a.samples, a.crashes))
        conv = measure_convergence(dut, gw, d, a.samples, a.crashes)
        r["convergence"] = {k: summary(v) for k, v in conv.items()}
        r["convergence_raw_s"] = conv
        r["dut_cluster_view"] = dut.cluster()
        r["dut_log_tail"] = dut.daemon.log_text()[-3000:]
    finally:
        H.cleanup_all()
    finish(a, r)


def repeat_syncs(a, dut, etcd):
    """Fresh syncs of each binary in turn on the same directory, so that binaries compared
    see the same load: per binary, the sync time, the start-up part, sttd's CPU time (all
    threads), etcd's CPU time meanwhile and sttd's RSS right after the sync."""
    def etcd_cpu_s():
        return sum(proc_cpu_s(m.proc.pid) for m in etcd.members)

    dut.stop()
    binaries = [a.sttd] + a.also_sttd
    out = {b: [] for b in binaries}
    for i in range(a.syncs):
        for b in binaries:
            H.STTD = b
            e0 = etcd_cpu_s()
            t0, t_ready = dut.start()
            wait_for(lambda: dut.counts() == (a.hosts, a.macs), 120, "the dut to sync",
                     interval=0.01)
            t_sync = time.monotonic()
            mem = proc_mem_kib(dut.pid)
            s = {"s": t_sync - t0, "ready_s": t_ready - t0, "cpu_s": proc_cpu_s(dut.pid),
                 "rss_mib": mem["VmRSS"] / 1024, "anon_mib": mem["RssAnon"] / 1024,
                 "hwm_mib": mem["VmHWM"] / 1024, "etcd_cpu_s": etcd_cpu_s() - e0}
            out[b].append(s)
            log("round %d %s: sync %.3f s (ready %.3f s), cpu %.2f s (etcd %.2f s), RSS %.1f MiB "
                "(%.1f anon, peak %.1f)" % (i + 1, b, s["s"], s["ready_s"], s["cpu_s"],
                                            s["etcd_cpu_s"], s["rss_mib"], s["anon_mib"],
                                            s["hwm_mib"]))
            dut.stop()
    H.STTD = a.sttd
    for b, xs in out.items():
        med = {k: statistics.median(x[k] for x in xs) for k in xs[0]}
        log("median of %d, %s: sync %.3f s (ready %.3f s), cpu %.2f s (etcd %.2f s), RSS %.1f "
            "MiB (%.1f anon, peak %.1f)" % (len(xs), b, med["s"], med["ready_s"], med["cpu_s"],
                                            med["etcd_cpu_s"], med["rss_mib"], med["anon_mib"],
                                            med["hwm_mib"]))
    return out


def finish(a, r, sync_only=False):
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(r, f, indent=1)
    if sync_only:
        print("sync %.3f s (ready after %.3f s, %.2f s CPU); RSS %.1f MiB (%.1f anonymous), peak %.1f MiB; "
              "empty directory %.1f MiB (%.1f anonymous)" %
              (r["sync"]["s"], r["sync"]["ready_s"], r["sync"]["cpu_s"], r["rss"]["rss_mib"], r["rss"]["anon_mib"],
               r["rss"]["hwm_mib"], r["rss"]["baseline_rss_mib"], r["rss"]["baseline_anon_mib"]))
        return
    text = table(r)
    with open(os.path.join(a.out, "table.md"), "w") as f:
        f.write("```\n" + text + "\n```\n")
    print(text)
    note = chart(r, os.path.join(a.out, "chart.png"))
    if note:
        print(note)
    print("written: %s/{results.json,table.md,chart.png}" % a.out)


if __name__ == "__main__":
    main(sys.argv[1:])
