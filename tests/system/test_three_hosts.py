#!/usr/bin/env python3
"""Three hosts on a Linux bridge, one network: broadcast is replicated to every peer,
learned unicast goes only to the peer that owns the MAC, and static FDB entries from
the config are honoured. Who sttd sends to is read from a capture of h1's underlay
veth (outer destination address of every STT segment h1 sends)."""

import stt_harness as H

INNER = ["192.168.60.1", "192.168.60.2", "192.168.60.3"]
STATIC_MAC = "02:00:00:00:00:99"    # on h1: static entry -> h3; no host owns it
UNKNOWN_MAC = "02:00:00:00:00:98"   # in no FDB: must be flooded
STATIC_IP, UNKNOWN_IP = "192.168.60.99", "192.168.60.98"


class ThreeHostsOnBridge(H.SystemTestCase):
    @classmethod
    def build_topology(cls):
        cls.sw, cls.hosts, cls.under = H.bridged_hosts(3)
        cls.daemons, cls.nets = [], []
        for i, h in enumerate(cls.hosts):
            peers = [a for j, a in enumerate(cls.under) if j != i]
            net = {"name": "blue", "context_id": 0xB1E, "peers": peers}
            if i == 0:
                net["fdb"] = [(STATIC_MAC, cls.under[2])]
            cls.nets.append(net)
            cls.daemons.append(H.Daemon(h, cls.under[i], [net]).start())
            H.setup_tap(h, net, INNER[i] + "/24")
            h.sysctl("net.ipv4.icmp_echo_ignore_broadcasts", 0)
        # Frames to the two MACs no host owns: resolved statically on h1.
        for ip, mac in ((STATIC_IP, STATIC_MAC), (UNKNOWN_IP, UNKNOWN_MAC)):
            cls.hosts[0].ip(["neigh", "replace", ip, "lladdr", mac, "dev", "stt-blue",
                             "nud", "permanent"])

    def sent_by_h1(self, action):
        """Runs action() while capturing h1's underlay; returns {outer dst: STT segments}."""
        cap = H.Capture(self.hosts[0], "veth0", name="h1-veth0-%s" % self._testMethodName)
        try:
            action()
        finally:
            fr = H.frames(cap.stop())
        out = {}
        for f in fr:
            if f.is_stt_port() and f.dport == H.STT_PORT and f.ip_src == self.under[0]:
                out[f.ip_dst] = out.get(f.ip_dst, 0) + 1
        return out

    def test_1_broadcast_reaches_both_peers(self):
        def bping():
            p = self.hosts[0].exec(["ping", "-n", "-b", "-c", "3", "-i", "0.3", "-w", "10",
                                    "192.168.60.255"], check=False, timeout=20)
            self.bping_out = p.stdout + p.stderr
        sent = self.sent_by_h1(bping)
        for i in (1, 2):
            self.assertIn("from %s:" % INNER[i], self.bping_out,
                          "h%d did not answer the broadcast ping" % (i + 1))
            self.assertGreater(sent.get(self.under[i], 0), 0,
                               "h1 sent no STT segment to h%d: %s" % (i + 1, sent))

    def test_2_learned_unicast_goes_only_to_its_peer(self):
        # Learn first: the ARP exchange teaches h1's sttd where h2's MAC lives.
        ok, out = H.ping(self.hosts[0], INNER[1], count=1)
        self.assertTrue(ok, out)
        h2_mac = self.hosts[1].mac("stt-blue")
        fdb = self.daemons[0].ctl(["fdb", "show", "network", "blue"]).stdout.lower()
        self.assertIn(h2_mac, fdb, "h1 did not learn h2's MAC; fdb show:\n" + fdb)
        # Pin the inner neighbour so no ARP broadcast falls into the measured window.
        self.hosts[0].ip(["neigh", "replace", INNER[1], "lladdr", h2_mac, "dev", "stt-blue",
                          "nud", "permanent"])
        res = {}
        sent = self.sent_by_h1(lambda: res.update(r=H.ping(self.hosts[0], INNER[1], count=5)))
        self.assertTrue(res["r"][0], res["r"][1])
        self.assertGreaterEqual(sent.get(self.under[1], 0), 5, sent)
        self.assertEqual(sent.get(self.under[2], 0), 0,
                         "unicast to a learned MAC was also sent to h3: %s" % sent)

    def test_3_static_fdb_entry_is_honoured(self):
        fdb = self.daemons[0].ctl(["fdb", "show", "network", "blue"]).stdout.lower()
        self.assertIn(STATIC_MAC, fdb, "static entry not listed:\n" + fdb)
        # Nobody answers these pings; we only look at where h1's sttd sends them.
        sent = self.sent_by_h1(lambda: H.ping(self.hosts[0], STATIC_IP, count=3, deadline=2))
        self.assertGreaterEqual(sent.get(self.under[2], 0), 3, sent)
        self.assertEqual(sent.get(self.under[1], 0), 0,
                         "frame to a static MAC of h3 was also sent to h2: %s" % sent)

    def test_4_unknown_unicast_is_flooded(self):
        # The control for test 3: a MAC in no FDB goes to both peers.
        sent = self.sent_by_h1(lambda: H.ping(self.hosts[0], UNKNOWN_IP, count=3, deadline=2))
        self.assertGreaterEqual(sent.get(self.under[1], 0), 3, sent)
        self.assertGreaterEqual(sent.get(self.under[2], 0), 3, sent)


if __name__ == "__main__":
    H.main()
