#!/usr/bin/env python3
"""Every sttctl runtime verb, in text and with -j, against a running sttd: the output
carries the right content, -j parses as JSON, changes made at run time are listed, and
bad requests fail with a message and a non-zero status."""

import json
import re

import stt_harness as H

NETS = [{"name": "blue", "context_id": 0x1234, "mtu": 9000},
        {"name": "red", "context_id": 0xABCDEF}]
INNER = ["192.168.110.1", "192.168.110.2"]
STATIC = "02:00:00:00:0a:01"
RUNTIME_MAC = "02:00:00:00:0b:02"
NEW_PEER = "10.0.0.77"


class Sttctl(H.SystemTestCase):
    @classmethod
    def build_topology(cls):
        cls.hosts, cls.under = H.two_hosts(4)
        cls.daemons = []
        for i, h in enumerate(cls.hosts):
            nets = [dict(n, peers=[cls.under[1 - i]]) for n in NETS]
            if i == 0:
                nets[0]["fdb"] = [(STATIC, cls.under[1])]
            cls.daemons.append(H.Daemon(h, cls.under[i], nets).start())
            H.setup_tap(h, nets[0], INNER[i] + "/24")
        cls.d = cls.daemons[0]
        ok, out = H.ping(cls.hosts[0], INNER[1], count=2)
        assert ok, out

    def both(self, args):
        """Runs a verb in text and in JSON; returns (lower-case text, JSON, JSON strings)."""
        text = self.d.ctl(args).stdout
        self.assertTrue(text.strip(), "sttctl %s printed nothing" % " ".join(args))
        j = self.d.ctl_json(args)
        return text.lower(), j, H.json_strings(j)

    def test_show(self):
        text, j, js = self.both(["show"])
        for want in ("veth0", self.under[0], "blue", "red", "stt-blue", "stt-red",
                     self.under[1]):
            self.assertIn(want, text, "show (text) lacks %s:\n%s" % (want, text))
            self.assertIn(want, js, "show -j lacks %s: %s" % (want, j))
        for ctx in (0x1234, 0xABCDEF):
            pat = r"\b(0x0*%x|%d)\b" % (ctx, ctx)
            self.assertRegex(text, pat, "show (text) lacks context id %#x" % ctx)
            self.assertRegex(json.dumps(j).lower(), pat, "show -j lacks context id %#x" % ctx)

    def test_fdb_show_lists_static_and_learned(self):
        h2_mac = self.hosts[1].mac("stt-blue")
        for args in (["fdb", "show"], ["fdb", "show", "network", "blue"]):
            text, j, js = self.both(args)
            for want in (STATIC, h2_mac, self.under[1]):
                self.assertIn(want, text, "%s (text) lacks %s:\n%s" % (args, want, text))
                self.assertIn(want, js, "%s -j lacks %s: %s" % (args, want, j))
        text, j, js = self.both(["fdb", "show", "network", "red"])
        self.assertNotIn(STATIC, js, "blue's static entry listed under red: %s" % j)
        self.assertNotIn(h2_mac, js, "blue's learned entry listed under red: %s" % j)

    def test_fdb_add_del(self):
        self.assertNotIn(RUNTIME_MAC, self.d.ctl(["fdb", "show"]).stdout.lower())
        self.d.ctl(["fdb", "add", RUNTIME_MAC, "network", "red", "peer", self.under[1]])
        text, j, js = self.both(["fdb", "show", "network", "red"])
        self.assertIn(RUNTIME_MAC, text)
        self.assertIn(RUNTIME_MAC, js)
        self.assertNotIn(RUNTIME_MAC, H.json_strings(
            self.d.ctl_json(["fdb", "show", "network", "blue"])))
        self.d.ctl(["fdb", "del", RUNTIME_MAC, "network", "red", "peer", self.under[1]])
        self.assertNotIn(RUNTIME_MAC, self.d.ctl(["fdb", "show"]).stdout.lower())
        # -j on a mutating verb parses as well.
        self.d.ctl_json(["fdb", "add", RUNTIME_MAC, "network", "red", "peer", self.under[1]])
        self.assertIn(RUNTIME_MAC, H.json_strings(self.d.ctl_json(["fdb", "show"])))
        self.d.ctl_json(["fdb", "del", RUNTIME_MAC, "network", "red", "peer", self.under[1]])
        self.assertNotIn(RUNTIME_MAC, H.json_strings(self.d.ctl_json(["fdb", "show"])))

    def test_peer_add_del(self):
        self.assertNotIn(NEW_PEER, self.d.ctl(["show"]).stdout)
        self.d.ctl(["peer", "add", NEW_PEER, "network", "red"])
        text, j, js = self.both(["show"])
        self.assertIn(NEW_PEER, text)
        self.assertIn(NEW_PEER, js)
        self.d.ctl(["peer", "del", NEW_PEER, "network", "red"])
        self.assertNotIn(NEW_PEER, self.d.ctl(["show"]).stdout)
        self.d.ctl_json(["peer", "add", NEW_PEER, "network", "blue"])
        self.assertIn(NEW_PEER, H.json_strings(self.d.ctl_json(["show"])))
        self.d.ctl_json(["peer", "del", NEW_PEER, "network", "blue"])
        self.assertNotIn(NEW_PEER, H.json_strings(self.d.ctl_json(["show"])))

    def test_stats_count_traffic(self):
        text, before, js = self.both(["stats"])
        self.assertIn("blue", text)
        self.assertIn("red", text)
        nums0 = H.json_numbers(before)
        self.assertGreater(len(nums0), 4, "stats -j has almost no counters: %s" % before)
        ok, out = H.ping(self.hosts[0], INNER[1], count=5, size=1400)
        self.assertTrue(ok, out)
        nums1 = H.json_numbers(self.d.ctl_json(["stats"]))
        grew = sorted(k for k in nums1 if nums1[k] > nums0.get(k, 0))
        self.assertTrue(any("blue" in k for k in grew),
                        "no counter of network blue grew after 5 pings: %s" % grew)
        self.assertFalse(any(re.search(r"/red(/|$)", k) for k in grew),
                         "counters of network red grew with traffic on blue only: %s" % grew)
        self.assertTrue(any("drop" in k.lower() for k in nums1),
                        "stats -j shows no drop counter: %s" % sorted(nums1))

    def test_reassembly(self):
        text, j, js = self.both(["reassembly"])
        self.assertIsInstance(j, (dict, list))
        self.assertGreater(len(H.json_numbers(j)), 0, "reassembly -j has no figures: %s" % j)

    def test_global_options_before_the_verb(self):
        # iproute2 style, as in `ip -j -s link`: options may come before the verb.
        for args in (["-s", self.d.socket, "show"], ["-s", self.d.socket, "-j", "show"],
                     ["-j", "-s", self.d.socket, "fdb", "show", "network", "blue"]):
            p = self.hosts[0].exec([H.STTCTL] + args, check=False)
            self.assertEqual(p.returncode, 0, "sttctl %s: rc %d: %s" %
                             (" ".join(args), p.returncode, p.stderr.strip()))
            if "-j" in args:
                json.loads(p.stdout)

    def test_errors_are_reported(self):
        bad = [
            ["fdb", "add", RUNTIME_MAC, "network", "nosuch", "peer", self.under[1]],
            ["fdb", "add", "02:00:00:00:00", "network", "blue", "peer", self.under[1]],
            ["fdb", "add", RUNTIME_MAC, "network", "blue", "peer", "10.0.0.300"],
            ["fdb", "show", "network", "nosuch"],
            ["peer", "add", "not-an-ip", "network", "blue"],
            ["peer", "add", "10.0.0.9", "network", "nosuch"],
        ]
        for args in bad:
            p = self.d.ctl(args, check=False)
            self.assertNotEqual(p.returncode, 0, "sttctl %s succeeded" % " ".join(args))
            self.assertTrue(p.stderr.strip(), "sttctl %s failed silently" % " ".join(args))
        self.assertNotIn(RUNTIME_MAC, self.d.ctl(["fdb", "show"]).stdout.lower())
        p = H.run([H.STTCTL, "show", "-s", "/nonexistent/sttd.sock"], check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("/nonexistent/sttd.sock", p.stderr)


if __name__ == "__main__":
    H.main()
