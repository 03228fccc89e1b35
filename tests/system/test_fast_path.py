#!/usr/bin/env python3
"""Bridged forwarding through the tunnel, in whichever data-path mode the run asks for
(STT_FAST_PATH=off|bpf; docs/design.md, "The kernel fast path").

Each host's TAP sits in a Linux bridge with a veth whose other end is a tenant namespace.
That bridge port has TSO, GSO and checksum offload off and MTU 1500, like a NIC without
offloads: whatever the tunnel hands the bridge must be a GSO packet with the right gso_size
(else the kernel's software segmentation makes oversized frames the tenant never gets) and
a frame without GSO must carry a finished checksum (a frame marked verified with only the
pseudo-header sum in it would leave the port as it is). Captures on the tenants' interfaces
check exactly that, on every TCP frame of an iperf3 run in each direction. Transfers between
the tenants then match by sha256 in both directions, over inner IPv4 and IPv6, in bulk and
as a stream of 1-byte writes (small frames: the pad path of the transmit program).

With STT_FAST_PATH=bpf the test also checks that the kernel path carried the traffic
(`sttctl show` reports mode bpf; its counters moved) and that sttd still saw the floods."""

import hashlib
import os
import signal
import struct
import subprocess
import unittest

import stt_harness as H

# FastPathFallback and FastPathStale write their own fast_path settings, so they do the same
# thing in either run of this suite (system_fast_path, system_fast_path_bpf): they run once,
# in the bpf run (or when no mode is set), not twice.
MODE_INDEPENDENT = unittest.skipIf(H.FAST_PATH == "off",
                                   "sets its own fast_path modes: runs in the bpf run")

NET = {"name": "blue", "context_id": 0x7171, "mtu": 1500}
T4 = ["192.168.71.1", "192.168.71.2"]
T6 = ["fd71::1", "fd71::2"]
PORT = 5300

_RECEIVER = r"""
import hashlib, socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
s.settimeout(30)
c, _ = s.accept()
c.settimeout(30)
h, n = hashlib.sha256(), 0
while True:
    b = c.recv(1 << 16)
    if not b:
        break
    h.update(b)
    n += len(b)
print(n, h.hexdigest(), flush=True)
"""

_SENDER = r"""
import hashlib, socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
size, chunk = int(sys.argv[3]), int(sys.argv[4])
data = bytes((i * 131 + 7) & 0xff for i in range(size))
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
if chunk == 1:
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for off in range(0, size, chunk):
    s.sendall(data[off:off + chunk])
s.shutdown(socket.SHUT_WR)
s.recv(1)
s.close()
print(size, hashlib.sha256(data).hexdigest(), flush=True)
"""


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def tcp_checksum_ok(raw):
    """True when raw is not TCP, or its TCP checksum verifies; None for a cut-short frame."""
    et = struct.unpack("!H", raw[12:14])[0]
    if et == 0x0800:
        ihl = (raw[14] & 0xF) * 4
        if raw[23] != 6:
            return True
        tot = struct.unpack("!H", raw[16:18])[0]
        seg = raw[14 + ihl:14 + tot]
        pseudo = raw[26:34] + struct.pack("!BBH", 0, 6, len(seg))
    elif et == 0x86DD:
        if raw[20] != 6:
            return True
        plen = struct.unpack("!H", raw[18:20])[0]
        seg = raw[54:54 + plen]
        pseudo = raw[22:54] + struct.pack("!IxxxB", len(seg), 6)
    else:
        return True
    return csum(pseudo + seg) == 0xFFFF


class FastPathBridged(H.SystemTestCase):
    @classmethod
    def build_topology(cls):
        cls.hosts, cls.under = H.two_hosts(4)
        cls.daemons, cls.tenants = [], []
        for i, h in enumerate(cls.hosts):
            net = dict(NET, peers=[cls.under[1 - i]])
            cls.daemons.append(H.Daemon(h, cls.under[i], [net]).start())
            t = H.Host("t%d" % (i + 1))
            H.veth(h, t, a_if="tv0", b_if="eth0")
            for key in ("iptables", "ip6tables", "arptables"):
                h.sysctl("net.bridge.bridge-nf-call-" + key, 0)
            h.ip(["link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0"])
            for port in (H.tap_name(NET), "tv0"):
                h.ip(["link", "set", port, "master", "br0"])
                h.ip(["link", "set", port, "up"])
            h.ip(["link", "set", "br0", "up"])
            # The port toward the tenant: no TSO, no GSO, no checksum offload, MTU 1500.
            h.exec(["ethtool", "-K", "tv0", "tso", "off", "gso", "off", "tx", "off"], check=False)
            H.add_addr(t, "eth0", T4[i] + "/24")
            H.add_addr(t, "eth0", T6[i] + "/64")
            cls.tenants.append(t)
        for t, peer in ((cls.tenants[0], T4[1]), (cls.tenants[1], T4[0]),
                        (cls.tenants[0], T6[1])):
            ok, out = H.ping(t, peer, count=2)
            if not ok:
                raise H.HarnessError("no ping between the tenants:\n" + out)

    def stats(self, i):
        return self.daemons[i].ctl_json(["stats"])

    def checked_capture(self, reverse):
        """iperf3 t1 -> t2 (or back); every TCP frame the tenants' interfaces saw must fit
        the MTU and carry a correct checksum. Returns the frames seen."""
        caps = [H.Capture(t, "eth0") for t in self.tenants]
        server = H.Iperf3Server(self.tenants[1], T4[1])
        try:
            n, _ = H.iperf3(self.tenants[0], T4[1], seconds=1, reverse=reverse)
        finally:
            server.stop()
            raws = [c.stop() for c in caps]
        self.assertGreater(n, 0, "iperf3 moved no bytes")
        # What each tenant received (its own sends are in the capture too, as TSO frames).
        macs = [t.mac("eth0") for t in self.tenants]
        tcp = [r for i, rs in enumerate(raws) for r in rs
               if H.Frame(r).proto == 6 and H.Frame(r).src != macs[i]]
        self.assertGreater(len(tcp), 100, "the captures saw almost no TCP")
        too_big = [len(r) for r in tcp if len(r) > 1514]
        self.assertEqual(too_big, [], "frames larger than the port's MTU reached a tenant")
        bad = sum(1 for r in tcp if not tcp_checksum_ok(r))
        print("%s: %d TCP frames captured, %d bad checksums" %
              ("t2 -> t1" if reverse else "t1 -> t2", len(tcp), bad))
        self.assertEqual(bad, 0, "TCP frames with a wrong checksum reached a tenant")
        return tcp

    def test_bulk_both_directions_fit_and_verify(self):
        before = [self.stats(0), self.stats(1)]
        self.checked_capture(reverse=False)
        self.checked_capture(reverse=True)
        after = [self.stats(0), self.stats(1)]
        if H.FAST_PATH == "bpf":
            for i in (0, 1):
                show = self.daemons[i].ctl_json(["show"])
                self.assertEqual(show["fast_path"]["mode"], "bpf", show["fast_path"])
                fp0 = before[i]["global"]["fast_path"]
                fp1 = after[i]["global"]["fast_path"]
                for k in ("tx_frames", "rx_delivered", "tap_gso_writes", "tx_tso_frames"):
                    self.assertGreater(fp1[k] - fp0[k], 0, "h%d: fast path %s did not move" %
                                       (i + 1, k))
                self.assertEqual(fp1["fast_rx_errors"], 0)
                self.assertEqual(fp1["fast_tx_errors"], 0)

    def transfer(self, src, dst, addr, size, chunk):
        d = H.tmpdir()
        rx_script = os.path.join(d, "fp_rx.py")
        tx_script = os.path.join(d, "fp_tx.py")
        for path, text in ((rx_script, _RECEIVER), (tx_script, _SENDER)):
            with open(path, "w") as f:
                f.write(text)
        rx = dst.popen(["python3", rx_script, addr, str(PORT)], stdout=subprocess.PIPE)
        H.wait_for(lambda: H.listening(dst, PORT) or rx.poll() is not None, 10,
                   "the receiver to listen")
        sent = src.exec(["python3", tx_script, addr, str(PORT), str(size), str(chunk)],
                        timeout=90).stdout.split()
        got = rx.communicate(timeout=60)[0].decode().split()
        self.assertEqual(got, sent, "the transfer does not match by sha256")

    def test_sha256_transfers(self):
        t1, t2 = self.tenants
        for name, src, dst, addr, size, chunk in (
                ("v4 t1->t2", t1, t2, T4[1], 2 << 20, 1 << 16),
                ("v4 t2->t1", t2, t1, T4[0], 2 << 20, 1 << 16),
                ("v6 t1->t2", t1, t2, T6[1], 2 << 20, 1 << 16),
                ("v6 t2->t1", t2, t1, T6[0], 2 << 20, 1 << 16),
                ("1-byte writes t1->t2", t1, t2, T4[1], 3000, 1),
                ("1-byte writes t2->t1", t2, t1, T4[0], 3000, 1)):
            with self.subTest(name):
                self.transfer(src, dst, addr, size, chunk)


@MODE_INDEPENDENT
class FastPathFallback(H.SystemTestCase):
    """The self-test decides: with its failure hook set (STT_BPF_SELFTEST_FAIL), "auto" runs
    sttd's userspace path and says why, "bpf" refuses to start, naming the failed check."""

    @classmethod
    def build_topology(cls):
        cls.hosts, cls.under = H.two_hosts(4)

    def daemon(self, i, mode, label):
        net = dict(NET, peers=[self.under[1 - i]])
        d = H.Daemon(self.hosts[i], self.under[i], [net], label=label)
        text = H.render_config("veth0", self.under[i], d.socket, [net],
                               extra_underlay='fast_path = "%s"' % mode)
        with open(d.config, "w") as f:
            f.write(text)
        return d

    def test_auto_falls_back_and_bpf_refuses(self):
        os.environ["STT_BPF_SELFTEST_FAIL"] = "rx_small"
        try:
            h1 = self.daemon(0, "auto", "h1-auto").start()
            show = h1.ctl_json(["show"])["fast_path"]
            self.assertEqual(show["mode"], "off", show)
            self.assertEqual(show["configured"], "auto", show)
            self.assertIn("self-test failed: rx_small", show["reason"])
            self.assertIn("fast path: off", h1.log_text())
            h2 = self.daemon(1, "bpf", "h2-bpf")
            with self.assertRaises(H.HarnessError):
                h2.start(timeout=20)
            self.assertIn('fast_path = "bpf": kernel self-test failed: rx_small', h2.log_text())
        finally:
            del os.environ["STT_BPF_SELFTEST_FAIL"]
        # Without the hook the same "auto" config runs the kernel path, and traffic flows.
        h1.stop()
        h1 = h1.start()
        self.assertEqual(h1.ctl_json(["show"])["fast_path"]["mode"], "bpf")
        h2 = self.daemon(1, "off", "h2-off").start()
        self.assertEqual(h2.ctl_json(["show"])["fast_path"]["mode"], "off")
        for i, d in enumerate((h1, h2)):
            H.setup_tap(self.hosts[i], NET, T4[i] + "/24")
        ok, out = H.ping(self.hosts[0], T4[1], count=3)
        self.assertTrue(ok, out)


@MODE_INDEPENDENT
class FastPathStale(H.SystemTestCase):
    """A SIGKILLed sttd leaves its underlay filter behind (a TAP's goes with the TAP): the
    next start replaces it in place, or removes it when it runs with fast_path = "off";
    a clean stop removes it."""

    @classmethod
    def build_topology(cls):
        cls.hosts, cls.under = H.two_hosts(4)

    def filters(self):
        out = self.hosts[0].exec(["tc", "filter", "show", "dev", "veth0", "ingress"],
                                 check=False).stdout
        return [l for l in out.splitlines() if "handle 0x57541d2f" in l]  # 0x5754 << 16 | 7471

    def daemon(self, mode):
        net = dict(NET, peers=[self.under[1]])
        d = H.Daemon(self.hosts[0], self.under[0], [net], label="h1-" + mode)
        with open(d.config, "w") as f:
            f.write(H.render_config("veth0", self.under[0], d.socket, [net],
                                    extra_underlay='fast_path = "%s"' % mode))
        return d

    def test_stale_filter_replaced_or_removed(self):
        d = self.daemon("bpf").start()
        self.assertEqual(len(self.filters()), 1)
        d.stop(signal.SIGKILL)
        self.assertEqual(len(self.filters()), 1, "the killed instance's filter is gone?")
        d = self.daemon("bpf").start()
        self.assertEqual(len(self.filters()), 1, "a restart doubled the filter")
        d.stop(signal.SIGKILL)
        d = self.daemon("off").start()
        self.assertEqual(self.filters(), [], "fast_path = off kept a stale filter")
        self.assertIn("removed a stale fast-path filter", d.log_text())
        d.stop()
        d = self.daemon("bpf").start()
        self.assertEqual(d.stop(), 0)
        self.assertEqual(self.filters(), [], "a clean stop left the filter")


if __name__ == "__main__":
    H.main()
