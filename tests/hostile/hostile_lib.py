"""Shared setup of the hostile-traffic suite: two sttd hosts and an attacker on one bridge.

Topology (the system-test harness's bridged_hosts(3)): h1 and h2 run sttd, peers of each
other on network "blue"; h3 runs no sttd and is the attacker. It sends raw Ethernet frames
with an AF_PACKET socket on its underlay veth, addressed to h2 (the victim), sometimes with
h1's outer source address (a spoofed peer: what admission can and cannot stop).

Every case (HostileCase.attack) checks, for one class of input:
  * the exact counters named by the case moved by exactly the expected amount;
  * the victim's TAP (dumpcap capture) shows none of the case's hostile frames, and each
    frame the case says must be delivered arrives exactly once, byte for byte;
  * a valid frame sent last from the peer's address (the sentinel) is delivered: it proves
    the daemon processed everything before it, in order, and still delivers;
  * rx_delivered moved by exactly the delivered frames plus the sentinel;
  * sttd is alive and a ping over the overlay h1 -> h2 still works.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "system"))

import stt_harness as H  # noqa: E402
import stt_packets as P  # noqa: E402

CTX = 0xB1E
NET = {"name": "blue", "context_id": CTX}
INNER = ["192.168.61.1", "192.168.61.2"]
INNER_SRC_MAC = "02:aa:00:00:00:01"   # attacker-chosen inner source MAC
HOSTILE = b"HOSTILE-"                 # every hostile inner frame carries this

_INJECT = r"""
import socket, sys
dev = sys.argv[1]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((dev, 0))
n = 0
for line in sys.stdin:
    line = line.strip()
    if line:
        s.send(bytes.fromhex(line))
        n += 1
print(n)
"""


def get(stats, path):
    """stats["global"]["rx"]["drop_truncated"] for path "global.rx.drop_truncated"."""
    v = stats
    for k in path.split("."):
        v = v[k]
    return v


def deltas(before, after):
    """{path: delta} of every counter that moved between two `stats -j` snapshots."""
    b, a = H.json_numbers(before), H.json_numbers(after)
    return {k: a[k] - b.get(k, 0) for k in sorted(a) if a[k] != b.get(k, 0)}


class HostileCase(H.SystemTestCase):
    family = 4
    _seq = 0

    @classmethod
    def build_topology(cls):
        cls.sw, hosts, cls.under = H.bridged_hosts(3, cls.family)
        cls.h1, cls.victim_host, cls.attacker = hosts
        # bridged_hosts() turns br_netfilter off, so malformed frames reach the victim.
        cls.daemons = []
        for i, h in enumerate(hosts[:2]):
            net = dict(NET, peers=[cls.under[1 - i]])
            cls.daemons.append(H.Daemon(h, cls.under[i], [net]).start())
            H.setup_tap(h, net, INNER[i] + "/24")
        cls.victim = cls.daemons[1]
        cls.tap_mac = cls.victim_host.mac("stt-blue")
        # Pinned inner neighbours: no ARP falls into a measured window, so every frame
        # delivered to the victim's TAP is one a case (or its ping) sent.
        macs = [h.mac("stt-blue") for h in hosts[:2]]
        for i, h in enumerate(hosts[:2]):
            h.ip(["neigh", "replace", INNER[1 - i], "lladdr", macs[1 - i], "dev",
                  "stt-blue", "nud", "permanent"])
        ok, out = H.ping(cls.h1, INNER[1], count=2)
        if not ok:
            raise H.HarnessError("overlay does not work before any attack:\n" + out)
        victim_underlay_mac = cls.victim_host.mac("veth0")
        cls.ep = P.Endpoint(cls.attacker.mac("veth0"), victim_underlay_mac,
                            src_ip=cls.under[0], dst_ip=cls.under[1])
        cls.attacker_ip = cls.under[2]
        cls._pid = 0x5A000000

    # ------------------------------------------------------------ building
    @classmethod
    def pid(cls):
        cls._pid += 1
        return cls._pid

    def marker(self, what=""):
        HostileCase._seq += 1
        return HOSTILE + ("%s-%d-%s" % (self._testMethodName, HostileCase._seq, what)).encode()

    def inner(self, marker, size=64):
        return P.inner_eth(self.tap_mac, INNER_SRC_MAC, marker, size)

    def inner_udp(self, marker, size=64, partial=True):
        return P.inner_udp4(self.tap_mac, INNER_SRC_MAC, "192.168.61.77", INNER[1], marker, size,
                            partial=partial)

    def stt(self, inner, context_id=CTX, **kw):
        return P.stt_header(context_id, **kw) + inner

    def sentinel(self):
        m = (b"SENTINEL-%d" % HostileCase._seq)
        HostileCase._seq += 1
        inner = self.inner(m)
        return m, inner, self.ep.frame(self.stt(inner), self.pid())

    # ------------------------------------------------------------ running
    def inject(self, frames):
        p = self.attacker.exec([sys.executable, "-c", _INJECT, "veth0"],
                               input="\n".join(f.hex() for f in frames) + "\n", timeout=30)
        self.assertEqual(p.stdout.strip(), str(len(frames)), p.stderr)

    def stats(self):
        return self.victim.ctl_json(["stats"])

    def attack(self, frames, expect=None, deliver=(), at_least=None, underlay_capture=False,
               during=None):
        """Sends `frames` from the attacker, then a sentinel, and checks the case.

        expect: {counter path: exact delta}; at_least: {path: minimum delta};
        deliver: inner frames (bytes as they must appear on the victim's TAP) that must
        arrive exactly once each. Returns (delivered frames on the TAP, underlay frames)."""
        expect = dict(expect or {})
        at_least = dict(at_least or {})
        s_marker, s_inner, s_frames = self.sentinel()
        before = self.stats()
        cap = H.Capture(self.victim_host, "stt-blue", name="victim-tap-" + self._testMethodName)
        ucap = None
        try:
            if underlay_capture:
                ucap = H.Capture(self.victim_host, "veth0",
                                 name="victim-veth0-" + self._testMethodName)
            self.inject(list(frames) + s_frames)
            if during:
                during()
            target = get(before, "global.datapath.rx_delivered") + len(deliver) + 1

            def done():
                if self.victim.proc.poll() is not None:
                    raise H.HarnessError("sttd on the victim exited with %s" %
                                         self.victim.proc.returncode)
                s = self.stats()
                if get(s, "global.datapath.rx_delivered") < target:
                    return False
                return all(get(s, k) - get(before, k) >= v for k, v in
                           list(expect.items()) + list(at_least.items()))
            try:
                H.wait_for(done, 10, "the victim to count the case and deliver the sentinel")
            except H.HarnessError:
                pass  # the exact checks below say what is missing
        finally:
            tap = cap.stop()
            under = ucap.stop() if ucap else []
        after = self.stats()

        self.assertIsNone(self.victim.proc.poll(), "sttd on the victim died:\n" +
                          self.victim.log_text()[-2000:])
        moved = {k: get(after, k) - get(before, k) for k in expect}
        self.assertEqual(moved, expect, "counters moved %s, expected %s; every counter that "
                         "moved: %s" % (moved, expect, deltas(before, after)))
        for k, v in at_least.items():
            d = get(after, k) - get(before, k)
            self.assertGreaterEqual(d, v, "%s moved by %d, expected at least %d" % (k, d, v))
        self.assertEqual(sum(1 for f in tap if f == s_inner), 1,
                         "the sentinel (a valid frame from the peer, sent last) did not arrive "
                         "exactly once on the victim's TAP")
        for want in deliver:
            n = sum(1 for f in tap if f == want)
            self.assertEqual(n, 1, "frame %r arrived %d times (byte for byte) on the victim's "
                             "TAP; frames seen: %r" % (want[:40], n, [f[:40] for f in tap]))
        leaked = [f for f in tap if HOSTILE in f and f not in deliver]
        self.assertEqual(leaked, [], "hostile frames reached the victim's TAP")
        d = get(after, "global.datapath.rx_delivered") - get(before, "global.datapath.rx_delivered")
        self.assertEqual(d, len(deliver) + 1, "rx_delivered moved by %d, expected %d" %
                         (d, len(deliver) + 1))
        ok, out = H.ping(self.h1, INNER[1], count=2, deadline=5)
        self.assertTrue(ok, "overlay ping h1 -> h2 failed after the case:\n" + out)
        return tap, under, before, after
