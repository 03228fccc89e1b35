"""A fleet of sttd on a 3-member etcd cluster (issue 11): configs name no peers.

Topology: one bridge ("sw"); etcd members e1..e3 at 10.0.0.101..103; hosts h1..h4 at
10.0.0.1..4, each running sttd with [cluster] (lease_ttl 4 s) and network "blue" without
`peers`; TAP stt-blue with MAC 02:00:00:70:00:0N and 192.168.70.N/24. h5 is made but only
started while etcd is down. A tenant MAC X (no kernel behind it: frames from a raw socket)
is announced on h2 by frames that never reach h1, so whatever h1 knows of X comes from the
directory.

The tests run in order (they share the fleet) and each leaves it as it found it:
  01 every pair of hosts reaches every other (ping over the TAPs);
  01b a static FDB entry naming its own host (h3's config: S) is in every other host's FDB
     as a directory entry, though S never sent a frame;
  02 unicast to a directory MAC goes to its host only: no other TAP sees it;
  03 ARP and NS for directory addresses are answered on the asking host's TAP, and never
     reach the underlay (unknown addresses are still flooded: the control);
  04 a MAC that moves to another host gets its traffic there within 1 s;
  05 a host that stops cleanly leaves every peer set within 1 s; SIGKILLed, within
     lease_ttl + 1 s; restarted, it is back;
  06 one etcd member (the leader) killed: the directory still works, nothing is lost;
  07 every etcd member killed: pings between live hosts answer with no loss; a host that
     started meanwhile becomes reachable once etcd is back.
"""

import signal
import time

import etcd_cluster as E
import fleet as F

H = E.H
CTX = 0x70
NET = {"name": "blue", "context_id": CTX}
LEASE_TTL = 4
X_MAC = "02:00:00:70:aa:01"
X_IP4, X_IP6 = "192.168.70.200", "fd00:70::200"
UNKNOWN_IP4, UNKNOWN_IP6 = "192.168.70.222", "fd00:70::222"
UNKNOWN_MAC = "02:00:00:70:ee:ee"
S_MAC = "02:00:00:70:5a:03"  # a static entry of h3's config naming h3 itself


def mac_key(host, mac, prefix="/stt"):
    return "%s/macs/%s/%016x/%s" % (prefix, host, CTX, mac)


def claim_key(mac, prefix="/stt"):
    return "%s/claims/%016x/%s" % (prefix, CTX, mac)


class Fleet(H.SystemTestCase):
    @classmethod
    def build_topology(cls):
        cls.fabric = E.Fabric()
        cls.etcd = E.EtcdCluster(cls.fabric).start()
        cls.all = [F.FleetHost(cls.fabric, i, cls.etcd,
                               [dict(NET, own_macs=[S_MAC]) if i == 3 else NET],
                               lease_ttl=LEASE_TTL)
                   for i in range(1, 6)]
        cls.hosts = cls.all[:4]
        cls.late = cls.all[4]
        for h in cls.hosts:
            h.start()
        F.wait_peers(cls.hosts, F.full_mesh(cls.hosts), 15, "every host to discover the others")
        cls.ports = {}
        h1, h2, h3 = cls.hosts[:3]
        # X lives on h2: a unicast ARP reply and NA to h3's tenant announce its MAC and
        # addresses; h1 and h4 see no frame of X.
        tap2 = cls.port(h2)
        tap2.send(F.arp(2, X_MAC, X_IP4, h3.tenant_ip, eth_dst=h3.tap_mac,
                        target_mac=h3.tap_mac))
        tap2.send(F.neighbour_advertisement(X_MAC, X_IP6, h3.tap_mac, "fd00:70::3"))

    @classmethod
    def port(cls, h, underlay=False):
        """The raw socket on h's TAP (or underlay veth0), made once per start of h's sttd
        (a restart makes a new TAP)."""
        key = (h.name, underlay, 0 if underlay else h.daemon.starts)
        if key not in cls.ports:
            cls.ports[key] = F.RawPort(h.host, "veth0" if underlay else h.tap,
                                       outgoing=underlay)
        return cls.ports[key]

    def wait_fdb(self, hosts, mac, peer, kind="cluster", timeout=5):
        H.wait_for(lambda: all(h.fdb().get(mac) == (peer, kind) for h in hosts), timeout,
                   "%s -> %s (%s) in the FDB of %s" % (mac, peer, kind,
                                                      ",".join(h.name for h in hosts)))

    def ping_pairs(self, pairs, count=2):
        """Pings every (a, b) at once; fails naming the pairs that did not answer."""
        procs = []
        for a, b in pairs:
            cmd = ["ping", "-n", "-c", str(count), "-i", "0.2", "-w", "10", b.tenant_ip]
            procs.append((a, b, a.host.popen(cmd)))
        bad = []
        for a, b, p in procs:
            rc = p.wait(timeout=20)
            if p in H._processes:
                H._processes.remove(p)
            if rc != 0:
                bad.append("%s->%s" % (a.name, b.name))
        self.assertEqual(bad, [], "pairs that did not answer")

    def all_pairs(self, hosts):
        return [(a, b) for a in hosts for b in hosts if a is not b]

    # ------------------------------------------------------------------ tests

    def test_01_all_pairs_reach(self):
        for h in self.hosts:
            with self.subTest(host=h.name):
                shown = [n for n in h.call("show")["networks"] if n["name"] == "blue"][0]
                for p in shown["peers"]:
                    if isinstance(p, dict):  # a peer marked with its source(s)
                        self.assertIn("cluster", str(p.get("source", p.get("sources"))), p)
        self.ping_pairs(self.all_pairs(self.hosts))

    def test_01b_static_entry_published(self):
        h1, h2, h3, h4 = self.hosts
        self.wait_fdb([h1, h2, h4], S_MAC, h3.addr)
        self.assertNotIn(S_MAC, h3.fdb(), "h3's own tenant is no entry of its own FDB")
        self.assertGreaterEqual(h3.call("cluster")["local_macs"], 1)

    def test_02_directory_unicast_not_flooded(self):
        h1, h2, h3, h4 = self.hosts
        self.wait_fdb([h1, h3, h4], X_MAC, h2.addr)
        others = [self.port(h) for h in (h3, h4)]
        for p in others + [self.port(h2)]:
            p.drain()
        src = self.port(h1)
        n = 20
        for seq in range(n):
            src.send(F.mark_frame(X_MAC, h1.tap_mac, b"UNICAST", seq))
        got = set()

        def all_at_h2():
            got.update(F.marked(f, b"UNICAST") for _, f in self.port(h2).frames())
            return got >= set(range(n))
        H.wait_for(all_at_h2, 5, "the %d unicast frames at h2's TAP" % n)
        # The control: a frame to an unknown MAC is flooded, and h3 and h4 do see it. Sent
        # after the unicast frames on the same path, so it also marks their end.
        src.send(F.mark_frame(UNKNOWN_MAC, h1.tap_mac, b"FLOODED"))
        seen = {p: [] for p in others}

        def control_seen():
            for p in others:
                seen[p] += [f for _, f in p.frames()]
            return all(any(F.marked(f, b"FLOODED") is not None for f in fs)
                       for fs in seen.values())
        H.wait_for(control_seen, 5, "the flooded control frame at h3 and h4")
        for p, fs in seen.items():
            leaked = [F.marked(f, b"UNICAST") for f in fs if F.marked(f, b"UNICAST") is not None]
            self.assertEqual(leaked, [], "unicast to %s reached %s" % (X_MAC, p.host.short))
        # Real tenant traffic after warm-up: a ping h1 -> h2 is never seen by h3 or h4.
        self.ping_pairs([(h1, h2)], count=5)
        for p in others:
            icmp = [H.Frame(f) for _, f in p.frames()]
            icmp = [f for f in icmp if f.proto == 1 and
                    {f.ip_src, f.ip_dst} == {h1.tenant_ip, h2.tenant_ip}]
            self.assertEqual(icmp, [], "h1<->h2 ICMP reached %s" % p.host.short)

    def suppression(self, ask, unknown_ask, is_ask_for, is_answer, what, counter):
        """Sends `ask` from h1's TAP: an answer must come back on h1's TAP, and neither the
        underlay nor another TAP may see the question; then `unknown_ask`, which must be
        flooded (seen on the underlay and on h2's TAP), proving both watches work."""
        h1, h2, h3, h4 = self.hosts
        tap1, under1 = self.port(h1), self.port(h1, underlay=True)
        others = [self.port(h) for h in (h2, h3, h4)]
        for p in [tap1, under1] + others:
            p.drain()
        before = h1.counter(counter)
        tap1.send(ask)
        H.wait_for(lambda: any(is_answer(f) for _, f in tap1.frames()), 3,
                   "the answer to the %s on h1's TAP" % what)
        tap1.send(unknown_ask)
        under, seen = [], {p: [] for p in others}

        def control_seen():
            under.extend(f for _, f in under1.frames())
            for p in others:
                seen[p] += [f for _, f in p.frames()]
            inner = [F.stt_inner(f) for f in under]
            return (any(i is not None and is_ask_for(i, unknown=True) for i in inner) and
                    any(is_ask_for(f, unknown=True) for f in seen[others[0]]))
        H.wait_for(control_seen, 5, "the %s for an unknown address on the underlay and h2" % what)
        inner = [i for i in (F.stt_inner(f) for f in under) if i is not None]
        self.assertEqual([i for i in inner if is_ask_for(i, unknown=False)], [],
                         "the %s for a directory address reached the underlay" % what)
        for p, fs in seen.items():
            self.assertEqual([f for f in fs if is_ask_for(f, unknown=False)], [],
                             "the %s reached %s's TAP" % (what, p.host.short))
        self.assertEqual(h1.counter(counter) - before, 1, counter)

    def test_03_arp_and_nd_suppressed(self):
        h1 = self.hosts[0]
        self.wait_fdb([h1], X_MAC, self.hosts[1].addr)

        def arp_for(f, unknown):
            a = F.parse_arp(f)
            return a is not None and a[0] == 1 and a[3] == (UNKNOWN_IP4 if unknown else X_IP4)

        def arp_answer(f):
            a = F.parse_arp(f)
            return a is not None and a[0] == 2 and a[1] == X_MAC and a[2] == X_IP4

        self.suppression(F.arp(1, h1.tap_mac, h1.tenant_ip, X_IP4),
                         F.arp(1, h1.tap_mac, h1.tenant_ip, UNKNOWN_IP4),
                         arp_for, arp_answer, "ARP request", "arp_suppressed")

        def ns_for(f, unknown):
            n = F.parse_nd(f)
            return n is not None and n[0] == 135 and n[1] == (UNKNOWN_IP6 if unknown else X_IP6)

        def na_answer(f):
            n = F.parse_nd(f)
            return n is not None and n[0] == 136 and n[1] == X_IP6 and n[2] == X_MAC

        self.suppression(F.neighbour_solicitation(h1.tap_mac, "fd00:70::1", X_IP6),
                         F.neighbour_solicitation(h1.tap_mac, "fd00:70::1", UNKNOWN_IP6),
                         ns_for, na_answer, "neighbour solicitation", "nd_suppressed")

    def test_04_mac_moves(self):
        h1, h2, h3, h4 = self.hosts
        self.wait_fdb([h1], X_MAC, h2.addr)
        src, old, new = self.port(h1), self.port(h2), self.port(h3)
        for p in (src, old, new):
            p.drain()
        sent = {}  # seq -> send time
        at_old, at_new = {}, {}

        def pump(seq):
            sent[seq] = time.monotonic()
            src.send(F.mark_frame(X_MAC, h1.tap_mac, b"MOVING", seq))
            for port, into in ((old, at_old), (new, at_new)):
                for t, f in port.frames():
                    s = F.marked(f, b"MOVING")
                    if s is not None:
                        into.setdefault(s, t)

        seq = 0
        deadline = time.monotonic() + 5
        while len(at_old) < 10:  # traffic flows to the old host first
            self.assertLess(time.monotonic(), deadline, "no traffic to X at h2 before the move")
            pump(seq)
            seq += 1
            time.sleep(0.02)  # the stream's pace, not a wait for a condition
        # The move: X speaks on h3, to h4 only (unicast), so h1 can only learn it from the
        # directory.
        t_move = time.monotonic()
        self.port(h3).send(F.mark_frame(h4.tap_mac, X_MAC, b"MOVED"))
        while time.monotonic() < t_move + 3.0:
            pump(seq)
            seq += 1
            if at_new and time.monotonic() > min(at_new.values()) + 0.5:
                break
            time.sleep(0.02)
        self.assertTrue(at_new, "no frame to X reached h3 within 3 s of the move")
        first = min(at_new.values())
        print("move convergence: %.3f s" % (first - t_move))
        self.assertLessEqual(first - t_move, 1.0, "X's traffic reached h3 %.3f s after the move"
                             % (first - t_move))
        late_old = [s for s, t in at_old.items() if sent[s] > first + 0.1]
        self.assertEqual(late_old, [], "frames sent well after the switch still went to h2")
        # h4 saw X's frame from h3 itself (it may have learned it): only h1 and h2 are asked
        # for the directory's entry.
        self.wait_fdb([h1, h2], X_MAC, h3.addr)
        H.wait_for(lambda: mac_key("host-2", X_MAC) not in self.etcd.get_prefix("/stt/macs/"), 5,
                   "host-2 to withdraw its entry for X")
        claim = self.etcd.get_prefix(claim_key(X_MAC))
        self.assertIn('"host-3"', claim.get(claim_key(X_MAC), ""), claim)

    def leave_time(self, victim, sig, bound):
        rest = [h for h in self.hosts if h is not victim]
        victim.control.close()
        victim.daemon.proc.send_signal(sig)
        took = F.wait_peers(rest, F.full_mesh(rest), bound + 5,
                            "%s to leave every peer set after signal %d" % (victim.name, sig))
        victim.stop(sig)  # reaps it
        print("%s left after signal %d in %.3f s" % (victim.name, sig, took))
        return took

    def rejoin(self, h):
        h.start()
        F.wait_peers(self.hosts, F.full_mesh(self.hosts), 15, "%s to be back" % h.name)
        self.ping_pairs([(self.hosts[0], h), (h, self.hosts[0])])

    def test_05_leave_clean_and_crash(self):
        h4 = self.hosts[3]
        took = self.leave_time(h4, signal.SIGTERM, 1.0)
        self.assertLessEqual(took, 1.0, "clean stop: left after %.3f s" % took)
        self.rejoin(h4)
        took = self.leave_time(h4, signal.SIGKILL, LEASE_TTL + 1.0)
        self.assertLessEqual(took, LEASE_TTL + 1.0, "SIGKILL: left after %.3f s" % took)
        self.rejoin(h4)

    def test_06_one_etcd_member_killed(self):
        h1, h2, h3, h4 = self.hosts
        leader = self.etcd.leader()
        self.assertIsNotNone(leader)
        self.etcd.kill(leader)
        try:
            # A new MAC published while a member (the leader) is gone still reaches the others.
            y = "02:00:00:70:aa:02"
            self.port(h4).send(F.arp(2, y, "192.168.70.201", h3.tenant_ip, eth_dst=h3.tap_mac,
                                     target_mac=h3.tap_mac))
            self.wait_fdb([h1, h2], y, h4.addr, timeout=10)
            H.wait_for(lambda: all(h.cluster().get("state") == "connected" for h in self.hosts),
                       10, "every host connected with one member down")
            for h in self.hosts:
                self.assertEqual(h.peers(), F.full_mesh(self.hosts)[h], h.name)
            self.ping_pairs([(h1, h2), (h3, h4), (h4, h1)])
        finally:
            self.etcd.restart(leader)

    def test_07_all_etcd_killed_fail_static(self):
        h1, h2 = self.hosts[:2]
        mesh = F.full_mesh(self.hosts)
        pinger = h1.host.popen(["ping", "-n", "-c", "200", "-i", "0.1", "-w", "40", h2.tenant_ip],
                               stdout=open(H.tmpdir() + "/fail-static-ping.txt", "w"))
        try:
            self.etcd.kill_all()
            try:
                H.wait_for(lambda: all(h.cluster().get("state") != "connected"
                                       for h in self.hosts), 10,
                           "every host to notice etcd is gone")
                for h in self.hosts:
                    self.assertEqual(h.peers(), mesh[h], "%s forgot peers without etcd" % h.name)
                self.late.start()  # joins while etcd is down
            finally:
                self.etcd.restart_all()
            fleet = self.hosts + [self.late]
            F.wait_peers(fleet, F.full_mesh(fleet), 20, "host-5 to join once etcd is back")
            self.ping_pairs([(h1, self.late), (self.late, h2)])
            rc = pinger.wait(timeout=60)
        finally:
            if pinger.poll() is None:
                pinger.kill()
            if pinger in H._processes:
                H._processes.remove(pinger)
        with open(H.tmpdir() + "/fail-static-ping.txt") as f:
            out = f.read()
        self.assertEqual(rc, 0, out)
        self.assertIn("200 received", out, "pings lost across the etcd outage:\n" + out)


if __name__ == "__main__":
    H.main()
