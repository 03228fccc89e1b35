#!/usr/bin/env python3
"""SIGTERM makes sttd remove what it created (its TAPs, its firewall rule, its control
socket) and exit 0; a restart with the same config brings traffic back."""

import os

import stt_harness as H

NETS = [{"name": "blue", "context_id": 0x42}, {"name": "red", "context_id": 0x43,
                                                "tap": "sttred0"}]
INNER = ["192.168.100.1", "192.168.100.2"]
# Fixed TAP MACs, so a restarted daemon's new TAP matches the peer's ARP cache.
MACS = ["02:00:00:00:64:01", "02:00:00:00:64:02"]


def nft_ruleset(host):
    return host.exec(["nft", "list", "ruleset"]).stdout.strip()


class Lifecycle(H.SystemTestCase):
    @classmethod
    def build_topology(cls):
        cls.hosts, cls.under = H.two_hosts(4)
        cls.before = [nft_ruleset(h) for h in cls.hosts]
        assert cls.before == ["", ""], "fresh namespaces have an nft ruleset: %s" % cls.before
        cls.links_before = [h.links() for h in cls.hosts]
        cls.daemons = H.start_overlay(cls.hosts, cls.under, NETS,
                                      [a + "/24" for a in INNER], MACS)

    def test_sigterm_cleans_up_and_restart_restores_traffic(self):
        h1, h2 = self.hosts
        d1 = self.daemons[0]
        ok, out = H.ping(h1, INNER[1])
        self.assertTrue(ok, out)

        # While running: the TAPs exist and a firewall rule mentions the STT port.
        running = nft_ruleset(h1)
        self.assertNotEqual(running, self.before[0], "sttd installed no nftables rule")
        self.assertIn(str(H.STT_PORT), running, "the rule does not mention port 7471:\n" +
                      running)
        self.assertTrue({"stt-blue", "sttred0"} <= h1.links())
        self.assertTrue(os.path.exists(d1.socket))

        rc = d1.stop()
        self.assertEqual(rc, 0, "sttd exit status after SIGTERM:\n" + d1.log_text()[-2000:])
        self.assertEqual(h1.links(), self.links_before[0],
                         "links left after SIGTERM: %s" % (h1.links() - self.links_before[0]))
        self.assertEqual(nft_ruleset(h1), self.before[0], "firewall rule left after SIGTERM")
        self.assertEqual(h1.exec(["nft", "list", "tables"]).stdout.strip(), "",
                         "nft tables left after SIGTERM")
        self.assertFalse(os.path.exists(d1.socket), "control socket left after SIGTERM")
        ok, out = H.ping(h2, INNER[0], count=1, deadline=2)
        self.assertFalse(ok, "traffic still flows with h1's sttd stopped:\n" + out)

        # Restart: same config, traffic comes back (TAP recreated, so reconfigure it).
        d1.start()
        H.setup_tap(h1, dict(NETS[0]), INNER[0] + "/24", mac=MACS[0])
        ok, out = H.ping(h1, INNER[1], count=3, deadline=15)
        self.assertTrue(ok, "no traffic after restart:\n" + out)
        ok, out = H.ping(h2, INNER[0], count=3, deadline=15)
        self.assertTrue(ok, "no traffic after restart (h2 -> h1):\n" + out)

    def test_sigint_also_cleans_up(self):
        h2, d2 = self.hosts[1], self.daemons[1]
        rc = d2.stop(sig=2)
        self.assertEqual(rc, 0, d2.log_text()[-2000:])
        self.assertEqual(h2.links(), self.links_before[1])
        self.assertEqual(nft_ruleset(h2), self.before[1])
        d2.start()
        H.setup_tap(h2, dict(NETS[0]), INNER[1] + "/24", mac=MACS[1])


if __name__ == "__main__":
    H.main()
