"""System-test harness for sttd: hosts are network namespaces, the underlay is veth.

Python 3 standard library only. Every namespace and process it creates is
registered and removed in teardown, at interpreter exit and on SIGINT/SIGTERM/
SIGHUP, also when a test fails. Namespaces are named "sttsys-<pid>-<host>", so
parallel runs never collide, and namespaces left by a run that was SIGKILLed
(whose pid is gone) are swept at the next start.

Binaries come from the environment: STTD and STTCTL (set by CMake).
Every wait is on a condition with a bound; nothing sleeps hoping.
"""

import atexit
import ipaddress
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import unittest

NS_PREFIX = "sttsys"
STTD = os.environ.get("STTD", "")
STTCTL = os.environ.get("STTCTL", "")
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# The project's tshark checker always; the independent one in ../shared/oracle in
# addition when it is there (STT_ORACLE names it; empty: not there).
OWN_CHECKER = os.path.join(REPO, "tests", "interop", "stt_tshark.py")
ORACLE = os.environ.get(
    "STT_ORACLE", os.path.join(REPO, "..", "shared", "oracle", "stt_tshark_check.py"))
STT_PORT = 7471
# The data-path mode every rendered config asks for ([underlay] fast_path): "off" (sttd's
# userspace path alone) or "bpf" (the kernel fast path, docs/design.md). CMake registers the
# root suites once per mode. Unset: the config says nothing and sttd's default ("auto") runs.
# An IPv6 underlay gets "auto" under "bpf": the kernel path carries only IPv4 underlays.
FAST_PATH = os.environ.get("STT_FAST_PATH", "")

_namespaces = []   # names, in creation order
_processes = []    # subprocess.Popen objects still possibly running
_daemon_logs = []  # (label, path) of every daemon started
_cleanup_hooks = []  # functions cleanup_all() calls last (files of other harnesses)
_tmp_root = None
_ns_seq = 0


class HarnessError(Exception):
    pass


# ---------------------------------------------------------------- running commands

def run(cmd, check=True, timeout=30, input=None):
    """Runs cmd (a list) and returns CompletedProcess with text stdout/stderr."""
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input)
    if check and p.returncode != 0:
        raise HarnessError("command failed (rc %d): %s\nstdout: %s\nstderr: %s" %
                           (p.returncode, " ".join(cmd), p.stdout.strip(), p.stderr.strip()))
    return p


def nsexec(ns, cmd):
    return ["ip", "netns", "exec", ns] + list(cmd)


def wait_for(cond, timeout, what, interval=0.05):
    """Polls cond() until it returns a truthy value, at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise HarnessError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def tmpdir():
    global _tmp_root
    if _tmp_root is None:
        _tmp_root = tempfile.mkdtemp(prefix="sttsys-%d-" % os.getpid())
    return _tmp_root


# ---------------------------------------------------------------- cleanup

def _stop_process(p, sig=signal.SIGTERM, timeout=5):
    if p.poll() is not None:
        return
    try:
        p.send_signal(sig)
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=5)
    except ProcessLookupError:
        pass


def cleanup_all():
    while _processes:
        p = _processes.pop()
        try:
            _stop_process(p)
        except Exception as e:  # keep cleaning up the rest
            print("cleanup: process %s: %s" % (p.args, e), file=sys.stderr)
    while _namespaces:
        ns = _namespaces.pop()
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    for fn in list(_cleanup_hooks):
        try:
            fn()
        except Exception as e:  # keep cleaning up the rest
            print("cleanup: %s: %s" % (getattr(fn, "__name__", fn), e), file=sys.stderr)


def on_cleanup(fn):
    """Makes every cleanup_all() (teardown, exit, signal) call fn() after the processes
    are stopped and the namespaces deleted: for files that must go even on failure."""
    if fn not in _cleanup_hooks:
        _cleanup_hooks.append(fn)


def _on_signal(signum, frame):
    # Not sys.exit: unittest would treat SystemExit as a test error and go on to the next
    # test, building new namespaces. Clean up, say so, and leave now.
    cleanup_all()
    print("interrupted by signal %d: daemons stopped, namespaces deleted" % signum,
          file=sys.stderr, flush=True)
    os._exit(128 + signum)


def sweep_stale():
    """Deletes namespaces of earlier runs whose process no longer exists."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        m = re.match(r"^(%s-(\d+)-\S+)" % NS_PREFIX, line)
        if m and not os.path.exists("/proc/%s" % m.group(2)):
            subprocess.run(["ip", "netns", "del", m.group(1)], capture_output=True)


atexit.register(cleanup_all)
for _s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(_s, _on_signal)


# ---------------------------------------------------------------- topology

EPHEMERAL_PORTS = (50000, 53999)


class Host:
    """A network namespace standing for one host."""

    def __init__(self, name):
        self.short = name
        global _ns_seq
        _ns_seq += 1
        self.ns = "%s-%d-%d%s" % (NS_PREFIX, os.getpid(), _ns_seq, name)
        run(["ip", "netns", "add", self.ns])
        _namespaces.append(self.ns)
        self.ip(["link", "set", "lo", "up"])
        # Ephemeral ports from a range no Wireshark dissector claims (`tshark -G
        # decodes`: none for TCP, UDP or SCTP in 50000-53999). With the default
        # range an inner connection sometimes got port 34980, which tshark decodes
        # as EtherCAT, and the oracle failed the capture as malformed.
        self.sysctl("net.ipv4.ip_local_port_range", "%d %d" % EPHEMERAL_PORTS)

    def ip(self, args, check=True):
        return run(["ip", "-n", self.ns] + list(args), check=check)

    def exec(self, cmd, check=True, timeout=30, input=None):
        return run(nsexec(self.ns, cmd), check=check, timeout=timeout, input=input)

    def sysctl(self, key, value):
        self.exec(["sysctl", "-q", "-w", "%s=%s" % (key, value)])

    def popen(self, cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
        p = subprocess.Popen(nsexec(self.ns, cmd), stdout=stdout, stderr=stderr,
                             stdin=subprocess.DEVNULL)
        _processes.append(p)
        return p

    def links(self):
        out = self.ip(["-o", "link", "show"]).stdout
        return {re.split(r"[@:]", l.split(": ", 1)[1], 1)[0] for l in out.splitlines()}

    def mac(self, dev):
        out = self.ip(["-j", "link", "show", "dev", dev]).stdout
        return json.loads(out)[0]["address"]

    def quiet_new_links(self):
        """Links created from now on (the TAPs) get no IPv6, so they send no RS/MLD/ND
        multicast of their own and every frame on the overlay is one the test sent."""
        self.sysctl("net.ipv6.conf.default.disable_ipv6", 1)


def veth(a, b, a_if="veth0", b_if="veth0", mtu=1500):
    """A veth pair created directly inside the two namespaces."""
    a.ip(["link", "add", a_if, "mtu", str(mtu), "type", "veth", "peer", "name", b_if,
          "mtu", str(mtu), "netns", b.ns])
    a.ip(["link", "set", a_if, "up"])
    b.ip(["link", "set", b_if, "up"])


def add_addr(host, dev, cidr):
    args = ["addr", "add", cidr, "dev", dev]
    if ":" in cidr:
        args.append("nodad")
    host.ip(args)


UNDERLAY = {
    4: {"prefix": 24, "addr": lambda i: "10.0.0.%d" % i},
    6: {"prefix": 64, "addr": lambda i: "fd00:57::%d" % i},
}


def two_hosts(family=4):
    """h1 and h2 joined by a veth pair (MTU 1500); returns (hosts, underlay addresses)."""
    u = UNDERLAY[family]
    h = [Host("h1"), Host("h2")]
    veth(h[0], h[1])
    addrs = []
    for i, host in enumerate(h, start=1):
        a = u["addr"](i)
        add_addr(host, "veth0", "%s/%d" % (a, u["prefix"]))
        host.quiet_new_links()
        addrs.append(a)
    return h, addrs


def bridged_hosts(n, family=4):
    """n hosts, each with veth0 plugged into br0 of a bridge namespace ("sw")."""
    u = UNDERLAY[family]
    sw = Host("sw")
    sw.ip(["link", "add", "br0", "type", "bridge", "stp_state", "0"])
    sw.ip(["link", "set", "br0", "up"])
    # br_netfilter is built into this kernel and on in every namespace: it would
    # validate IP headers of bridged frames and silently drop malformed ones
    # before they reach a host. The underlay switch must be a plain L2 bridge.
    for key in ("iptables", "ip6tables", "arptables"):
        sw.sysctl("net.bridge.bridge-nf-call-" + key, 0)
    hosts, addrs = [], []
    for i in range(1, n + 1):
        h = Host("h%d" % i)
        veth(sw, h, a_if="p%d" % i, b_if="veth0")
        sw.ip(["link", "set", "p%d" % i, "master", "br0"])
        a = u["addr"](i)
        add_addr(h, "veth0", "%s/%d" % (a, u["prefix"]))
        h.quiet_new_links()
        hosts.append(h)
        addrs.append(a)
    return sw, hosts, addrs


# ---------------------------------------------------------------- sttd

def toml_str(s):
    return json.dumps(str(s))


def fast_path_for(local):
    """The fast_path value a config for underlay address `local` gets in this run."""
    if FAST_PATH == "bpf" and ":" in str(local):
        return "auto"
    return FAST_PATH


def render_config(underlay_if, local, socket, networks, port=None, extra_underlay=""):
    """networks: list of dicts with name, context_id, and optional tap, mtu, peers, fdb."""
    lines = ["[underlay]", "interface = %s" % toml_str(underlay_if),
             "local = %s" % toml_str(local)]
    if port is not None:
        lines.append("port = %d" % port)
    mode = fast_path_for(local)
    if mode and "fast_path" not in extra_underlay:
        lines.append("fast_path = %s" % toml_str(mode))
    if extra_underlay:
        lines.append(extra_underlay)
    lines += ["", "[control]", "socket = %s" % toml_str(socket)]
    for n in networks:
        lines += ["", "[[network]]", "name = %s" % toml_str(n["name"]),
                  # TOML integers are signed 64-bit: larger IDs are written as strings.
                  ("context_id = 0x%x" if n["context_id"] < 2**63 else 'context_id = "0x%x"')
                  % n["context_id"]]
        if "tap" in n:
            lines.append("tap = %s" % toml_str(n["tap"]))
        if "mtu" in n:
            lines.append("mtu = %d" % n["mtu"])
        lines.append("peers = [%s]" % ", ".join(toml_str(p) for p in n.get("peers", [])))
        for mac, peer in n.get("fdb", []):
            lines += ["[[network.fdb]]", "mac = %s" % toml_str(mac), "peer = %s" % toml_str(peer)]
    return "\n".join(lines) + "\n"


class Daemon:
    """sttd running in a host's namespace, with its config, socket and log in the temp dir."""

    def __init__(self, host, local, networks, underlay_if="veth0", label=None, config_text=None):
        """config_text, if given, is written as the config instead of one rendered from
        the arguments; "@SOCK@" in it stands for this daemon's control socket."""
        self.host = host
        self.label = label or host.short
        d = tmpdir()
        self.socket = os.path.join(d, "%s.sock" % self.label)
        self.config = os.path.join(d, "%s.toml" % self.label)
        self.log = os.path.join(d, "%s.log" % self.label)
        self.networks = networks
        if config_text is None:
            config_text = render_config(underlay_if, local, self.socket, networks)
        with open(self.config, "w") as f:
            f.write(config_text.replace("@SOCK@", self.socket))
        self.proc = None
        self.starts = 0

    def start(self, timeout=10, args=()):
        """Starts sttd -c CONFIG, with `args` (extra sttd options) before -c."""
        self.starts += 1
        cmd = [STTD] + list(args) + ["-c", self.config]
        logf = open(self.log, "a")
        logf.write("==== start %d: %s\n" % (self.starts, " ".join(cmd)))
        logf.flush()
        self.proc = self.host.popen(cmd, stderr=logf, stdout=logf)
        logf.close()
        if (self.label, self.log) not in _daemon_logs:
            _daemon_logs.append((self.label, self.log))

        def ready():
            if self.proc.poll() is not None:
                raise HarnessError("sttd on %s exited with %s before it was ready:\n%s" %
                                   (self.label, self.proc.returncode, self.log_text()))
            return self.ctl(["show"], check=False).returncode == 0
        wait_for(ready, timeout, "sttd on %s to answer 'sttctl show'" % self.label)
        for n in self.networks:
            tap = n.get("tap", "stt-" + n["name"])
            if tap not in self.host.links():
                raise HarnessError("sttd on %s is ready but TAP %s does not exist" %
                                   (self.label, tap))
        return self

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Signals sttd and waits for it to exit; returns its exit status."""
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            raise HarnessError("sttd on %s did not exit within %d s of signal %d" %
                               (self.label, timeout, sig))
        if self.proc in _processes:
            _processes.remove(self.proc)
        return rc

    def ctl(self, args, json_out=False, check=True, timeout=10):
        # Options after the verb: `sttctl VERB... -s SOCK [-j]` (src/ctl/runtime.hpp).
        cmd = [STTCTL] + list(args) + ["-s", self.socket]
        if json_out:
            cmd.append("-j")
        return self.host.exec(cmd, check=check, timeout=timeout)

    def ctl_json(self, args):
        out = self.ctl(args, json_out=True).stdout
        try:
            return json.loads(out)
        except ValueError as e:
            raise HarnessError("sttctl -j %s: not JSON (%s):\n%s" % (" ".join(args), e, out))

    def log_text(self):
        try:
            with open(self.log) as f:
                return f.read()
        except OSError:
            return ""


def tap_name(net):
    return net.get("tap", "stt-" + net["name"])


def setup_tap(host, net, cidr, mac=None):
    tap = tap_name(net)
    if mac:
        host.ip(["link", "set", "dev", tap, "address", mac])
    host.ip(["link", "set", "dev", tap, "up"])
    add_addr(host, tap, cidr)
    return tap


def start_overlay(hosts, under, networks, inner, macs=None):
    """Starts sttd on every host with `networks`, each network peered with the other hosts'
    underlay addresses `under`, and sets up the first network's TAP on host i with the
    address inner[i] (a CIDR) and, when given, the MAC macs[i]. Returns the daemons."""
    daemons = []
    for i, h in enumerate(hosts):
        peers = [a for j, a in enumerate(under) if j != i]
        nets = [dict(n, peers=peers) for n in networks]
        daemons.append(Daemon(h, under[i], nets).start())
        setup_tap(h, nets[0], inner[i], mac=macs[i] if macs else None)
    return daemons


# ---------------------------------------------------------------- traffic

def ping(host, addr, size=56, count=3, deadline=10, dont_fragment=True, extra=()):
    """Returns (ok, output). ok when `count` replies arrived within `deadline` s."""
    cmd = ["ping", "-n", "-c", str(count), "-i", "0.2", "-w", str(deadline), "-s", str(size)]
    if dont_fragment:
        cmd += ["-M", "do"]
    cmd += list(extra) + [addr]
    p = host.exec(cmd, check=False, timeout=deadline + 10)
    m = re.search(r"(\d+) packets transmitted, (\d+) received", p.stdout)
    ok = p.returncode == 0 and m is not None and int(m.group(2)) >= count
    return ok, p.stdout + p.stderr


def listening(host, port):
    out = host.exec(["ss", "-Hltn"]).stdout
    return any(re.search(r":%d\s" % port, l + " ") for l in out.splitlines())


class Iperf3Server:
    def __init__(self, host, bind, port=5201):
        self.host, self.port = host, port
        self.proc = host.popen(["iperf3", "-s", "-B", bind, "-p", str(port)])
        wait_for(lambda: listening(host, port) or self.proc.poll() is not None, 10,
                 "iperf3 server to listen on port %d" % port)
        if self.proc.poll() is not None:
            raise HarnessError("iperf3 server exited with %s" % self.proc.returncode)

    def stop(self):
        _stop_process(self.proc)
        if self.proc in _processes:
            _processes.remove(self.proc)


def iperf3(host, server_addr, seconds=2, reverse=False, port=5201, extra=()):
    """Runs an iperf3 TCP client; returns (bytes received, parsed JSON).

    An iperf3 server takes one test at a time and needs a moment after a test
    ends before it accepts the next: a client that arrives meanwhile is told
    "the server is busy". That answer is retried, for at most 10 s."""
    cmd = ["iperf3", "-c", server_addr, "-p", str(port), "-t", str(seconds), "-J",
           "--connect-timeout", "5000"]
    if reverse:
        cmd.append("-R")
    cmd += list(extra)

    def attempt():
        p = host.exec(cmd, check=False, timeout=seconds + 30)
        try:
            j = json.loads(p.stdout)
        except ValueError:
            raise HarnessError("iperf3 printed no JSON (rc %d): %s %s" %
                               (p.returncode, p.stdout[-2000:], p.stderr[-2000:]))
        if "server is busy" in str(j.get("error", "")):
            return None
        if p.returncode != 0 or "error" in j:
            raise HarnessError("iperf3 failed (rc %d): %s" % (p.returncode, j.get("error")))
        return j

    j = wait_for(attempt, 10, "the iperf3 server to take a new test", interval=0.2)
    return j["end"]["sum_received"]["bytes"], j


# ---------------------------------------------------------------- captures

PROBE_ETHERTYPE = 0x88B6  # IEEE local experimental 2: no stack on any host handles it
PROBE_MAC = "02:ff:ff:ff:ff:fe"
PROBE_MAGIC = b"STTSYS-PROBE-"

_PROBE_SENDER = r"""
import socket, sys, time
dev, payload = sys.argv[1], bytes.fromhex(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((dev, 0))
deadline = time.monotonic() + 15
while time.monotonic() < deadline:
    s.send(payload)
    time.sleep(0.02)
"""


class Capture:
    """dumpcap on one interface inside a namespace, writing classic pcap.

    dumpcap says "Capturing on" before packets are really being recorded, and writes
    the file in batches. So the start and the end of a capture are bracketed by probe
    frames (ethertype 0x88b6, sent on the interface by a helper): the capture is live
    once a start probe is in the file, and complete once an end probe is. Probe frames
    are left out of what stop() returns."""

    _seq = 0

    def __init__(self, host, iface, name=None, capfilter=None):
        d = tmpdir()
        Capture._seq += 1
        base = "%s-%d" % (name or "%s-%s" % (host.short, iface), Capture._seq)
        self.host, self.iface = host, iface
        self.path = os.path.join(d, base + ".pcap")
        self.errpath = os.path.join(d, base + ".dumpcap.log")
        cmd = ["dumpcap", "-i", iface, "-P", "-w", self.path]
        if capfilter:
            cmd += ["-f", capfilter]
        self.errf = open(self.errpath, "w")
        self.proc = host.popen(cmd, stderr=self.errf)

        def started():
            if self.proc.poll() is not None:
                raise HarnessError("dumpcap on %s:%s exited: %s" % (host.short, iface, self.err()))
            return "Capturing on" in self.err() and os.path.exists(self.path)
        wait_for(started, 10, "dumpcap to start on %s:%s" % (host.short, iface))
        self._bracket(b"start")

    def _bracket(self, what):
        token = PROBE_MAGIC + what + b"-%d-%d" % (os.getpid(), Capture._seq)
        mac = bytes.fromhex(PROBE_MAC.replace(":", ""))
        frame = mac + mac + struct.pack("!H", PROBE_ETHERTYPE) + token + bytes(46)
        sender = self.host.popen([sys.executable, "-c", _PROBE_SENDER, self.iface, frame.hex()])
        try:
            def seen():
                if self.proc.poll() is not None:
                    raise HarnessError("dumpcap on %s:%s exited: %s" %
                                       (self.host.short, self.iface, self.err()))
                return any(token in r for r in read_pcap(self.path, partial_ok=True))
            wait_for(seen, 10, "the %s probe in the capture on %s:%s" %
                     (what.decode(), self.host.short, self.iface))
        finally:
            _stop_process(sender, sig=signal.SIGKILL)
            if sender in _processes:
                _processes.remove(sender)

    def err(self):
        with open(self.errpath) as f:
            return f.read()

    def stop(self):
        """Stops dumpcap (SIGINT, so it flushes) and returns the captured frames (bytes)."""
        try:
            self._bracket(b"end")
        finally:
            _stop_process(self.proc, sig=signal.SIGINT, timeout=10)
            if self.proc in _processes:
                _processes.remove(self.proc)
            self.errf.close()
        if self.proc.returncode not in (0, -signal.SIGINT):
            raise HarnessError("dumpcap exited with %s: %s" % (self.proc.returncode, self.err()))
        return [r for r in read_pcap(self.path) if not is_probe(r)]


def is_probe(raw):
    return (len(raw) > 14 + len(PROBE_MAGIC) and raw[12:14] == struct.pack("!H", PROBE_ETHERTYPE)
            and raw[14:14 + len(PROBE_MAGIC)] == PROBE_MAGIC)


def read_pcap(path, partial_ok=False):
    """Returns a list of Ethernet frames (bytes) from a classic pcap file.
    partial_ok: the file is still being written (may be empty or end mid-record)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        if partial_ok:
            return []
        raise
    if len(data) < 24:
        if partial_ok:
            return []
        raise HarnessError("%s: not a pcap file (%d bytes)" % (path, len(data)))
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        endian = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        endian = ">"
    else:
        raise HarnessError("%s: not a classic pcap file (magic %08x)" % (path, magic))
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    if linktype != 1:
        raise HarnessError("%s: link type %d, expected Ethernet" % (path, linktype))
    frames, off = [], 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        off += 16
        if off + incl > len(data):
            if partial_ok:
                break
            raise HarnessError("%s: truncated record at offset %d" % (path, off - 16))
        frames.append(data[off:off + incl])
        off += incl
    return frames


class Frame:
    """The fields of one captured Ethernet frame the tests look at."""

    def __init__(self, raw):
        self.raw = raw
        self.dst = mac_str(raw[0:6])
        self.src = mac_str(raw[6:12])
        self.vlan = None  # (pcp, dei, vid)
        et = struct.unpack("!H", raw[12:14])[0]
        off = 14
        if et == 0x8100 and len(raw) >= 18:
            tci = struct.unpack("!H", raw[14:16])[0]
            self.vlan = (tci >> 13, (tci >> 12) & 1, tci & 0xFFF)
            et = struct.unpack("!H", raw[16:18])[0]
            off = 18
        self.ethertype = et
        self.payload = raw[off:]
        self.ip_src = self.ip_dst = self.proto = None
        self.sport = self.dport = self.tcp_flags = None
        l4 = None
        if et == 0x0800 and len(raw) >= off + 20:
            ihl = (raw[off] & 0xF) * 4
            self.proto = raw[off + 9]
            self.ip_src = str(ipaddress.IPv4Address(raw[off + 12:off + 16]))
            self.ip_dst = str(ipaddress.IPv4Address(raw[off + 16:off + 20]))
            l4 = off + ihl
        elif et == 0x86DD and len(raw) >= off + 40:
            self.proto = raw[off + 6]
            self.ip_src = str(ipaddress.IPv6Address(raw[off + 8:off + 24]))
            self.ip_dst = str(ipaddress.IPv6Address(raw[off + 24:off + 40]))
            l4 = off + 40
        elif et == 0x0806 and len(raw) >= off + 28:
            self.ip_src = str(ipaddress.IPv4Address(raw[off + 14:off + 18]))
            self.ip_dst = str(ipaddress.IPv4Address(raw[off + 24:off + 28]))
        if self.proto == 6 and l4 is not None and len(raw) >= l4 + 14:
            self.sport, self.dport = struct.unpack("!HH", raw[l4:l4 + 4])
            self.tcp_flags = raw[l4 + 13]

    def is_stt_port(self):
        return self.proto == 6 and STT_PORT in (self.sport, self.dport)


def mac_str(b):
    return ":".join("%02x" % x for x in b)


def frames(raws):
    return [Frame(r) for r in raws]


def run_oracle(pcap, strict=True):
    """Runs the Wireshark-based checkers: ours (always strict), then the independent
    one when present. Returns (the worst exit status, our JSON records, both stderrs);
    the independent checker's records must agree with ours frame for frame."""
    cmds = [[sys.executable, OWN_CHECKER, pcap]]
    if ORACLE and os.path.exists(ORACLE):
        cmds.append([sys.executable, ORACLE, pcap] + (["--strict"] if strict else []))
    rc, per_checker, err = 0, [], ""
    for cmd in cmds:
        p = run(cmd, check=False, timeout=300)
        recs = [json.loads(line) for line in p.stdout.splitlines()
                if line.strip().startswith("{")]
        per_checker.append(recs)
        rc = max(rc, p.returncode)
        err += p.stderr
    key = [(r["frame"], r["context_id"], r["stt_len"]) for r in per_checker[0]]
    for other in per_checker[1:]:
        if [(r["frame"], r["context_id"], r["stt_len"]) for r in other] != key:
            rc = max(rc, 1)
            err += "the two checkers decoded different frames\n"
    return rc, per_checker[0], err


# ---------------------------------------------------------------- JSON helpers

def json_strings(obj):
    """Every string and number in a JSON value, as lower-case strings."""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.append(str(k).lower())
            out += json_strings(v)
    elif isinstance(obj, list):
        for v in obj:
            out += json_strings(v)
    elif isinstance(obj, bool) or obj is None:
        out.append(json.dumps(obj))
    else:
        out.append(str(obj).lower())
        if isinstance(obj, int):
            out.append("0x%x" % obj)
    return out


def json_numbers(obj, path=""):
    """{path: value} for every number leaf in a JSON value."""
    out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(json_numbers(v, "%s/%s" % (path, k)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            key = i
            if isinstance(v, dict):
                key = v.get("name", v.get("network", i))
            out.update(json_numbers(v, "%s/%s" % (path, key)))
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        out[path] = obj
    return out


# ---------------------------------------------------------------- runner

class SystemTestCase(unittest.TestCase):
    """Base class: refuses to run without root and the binaries, then builds the class's
    topology (build_topology), cleaning up whatever a failed build left."""

    needs_sttd = True  # False: a suite that runs no sttd (tests/cluster's etcd harness test)

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise HarnessError("system tests need root (network namespaces)")
        for var, path in (("STTD", STTD), ("STTCTL", STTCTL)) if cls.needs_sttd else ():
            if not path or not os.access(path, os.X_OK):
                raise HarnessError("%s=%r is not an executable; build sttd and sttctl" %
                                   (var, path))
        sweep_stale()
        try:
            cls.build_topology()
        except BaseException:
            cleanup_all()  # what the failed setup made, before unittest gives up on the class
            raise

    @classmethod
    def build_topology(cls):
        """The class's hosts, underlay and daemons: for subclasses (nothing here)."""

    @classmethod
    def tearDownClass(cls):
        cleanup_all()


def main():
    """Runs the unittest cases of __main__; the last line is 'N passed, N failed'."""
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules["__main__"])
    only = sys.argv[1:]
    if only:
        suite = unittest.TestSuite(
            t for t in _flatten(suite) if any(o in t.id() for o in only))
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    # Count tests, not subtests: a test with failing subtests is one failed test.
    failed_ids = {getattr(t, "test_case", t).id()
                  for t, _ in result.failures + result.errors}
    failed_ids |= {t.id() for t in result.unexpectedSuccesses}
    failed = len(failed_ids)
    passed = result.testsRun - failed - len(result.skipped)
    if failed:
        for label, path in _daemon_logs:
            try:
                with open(path) as f:
                    text = f.read()
            except OSError:
                continue
            tail = "\n".join(text.splitlines()[-60:])
            print("---- sttd log of %s (%s), last 60 lines ----\n%s" % (label, path, tail))
    cleanup_all()
    if _tmp_root and not failed and not os.environ.get("STT_KEEP_TMP"):
        shutil.rmtree(_tmp_root, ignore_errors=True)
    elif _tmp_root:
        print("artifacts kept in %s" % _tmp_root)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed or result.testsRun == 0 else 0)


def _flatten(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from _flatten(t)
        else:
            yield t
