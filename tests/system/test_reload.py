#!/usr/bin/env python3
"""`sttctl reload` and SIGHUP re-read sttd's config file and apply what changed (networks
added and removed, peers, static FDB entries, MTU) without disturbing a network whose
settings did not change: its TAP stays the same device (same ifindex, same address, so the
fd was never closed), its learned FDB entries stay, and a ping running across the reloads
loses nothing. An invalid file is refused with the one-line FILE:LINE: KEY message, in the
reply and in the log, and the running config stays; an underlay change asks for a restart."""

import json
import re
import signal

import stt_harness as H

BLUE = {"name": "blue", "context_id": 0x42}
RED = {"name": "red", "context_id": 0x43, "tap": "sttred0"}
GREEN = {"name": "green", "context_id": 0x44}
INNER = {"blue": ["192.168.100.1", "192.168.100.2"], "green": ["192.168.101.1", "192.168.101.2"]}
MACS = {"blue": ["02:00:00:00:64:01", "02:00:00:00:64:02"],
        "green": ["02:00:00:00:65:01", "02:00:00:00:65:02"]}
STATIC_MAC = "02:00:00:00:77:01"
OTHER_PEER = "10.0.0.9"  # a peer nobody answers for: only its registration is checked


class Reload(H.SystemTestCase):
    @classmethod
    def build_topology(cls):
        cls.hosts, cls.under = H.two_hosts(4)
        cls.daemons = []
        for i, h in enumerate(cls.hosts):
            d = H.Daemon(h, cls.under[i], cls.nets(i, [BLUE, RED]))
            cls.daemons.append(d.start())
            H.setup_tap(h, BLUE, INNER["blue"][i] + "/24", mac=MACS["blue"][i])

    @classmethod
    def nets(cls, i, nets, **extra):
        out = []
        for n in nets:
            n = dict(n, peers=[cls.under[1 - i]])
            n.update(extra.get(n["name"], {}))
            out.append(n)
        return out

    def write(self, i, nets, port=None):
        d = self.daemons[i]
        text = H.render_config("veth0", self.under[i], d.socket, nets, port=port)
        with open(d.config, "w") as f:
            f.write(text)
        d.networks = nets
        return text

    def reload(self, i):
        return self.daemons[i].ctl(["reload"], check=False)

    def show(self, i):
        return self.daemons[i].ctl_json(["show"])

    def config_view(self, i):
        """The running config as `sttctl show` reports it (not the live neighbour state)."""
        return [(n["name"], n["context_id"], n["tap"], n["mtu"], n["peers"], n["fdb_static"])
                for n in self.show(i)["networks"]]

    def tap_state(self, i, dev):
        j = json.loads(self.hosts[i].ip(["-j", "addr", "show", "dev", dev]).stdout)[0]
        return j["ifindex"], sorted(a["local"] for a in j.get("addr_info", []))

    def learned(self, i, net):
        return {(e["mac"], e["peer"]) for e in
                self.daemons[i].ctl_json(["fdb", "show", "network", net])
                if e["type"] == "learned"}

    def restore(self):
        for i in (0, 1):
            self.write(i, self.nets(i, [BLUE, RED]))
            r = self.reload(i)
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_1_changes_apply_and_unchanged_network_keeps_flowing(self):
        h1, h2 = self.hosts
        d1, d2 = self.daemons
        ok, out = H.ping(h1, INNER["blue"][1])
        self.assertTrue(ok, out)
        blue_before = self.tap_state(0, "stt-blue")
        learned_before = self.learned(0, "blue")
        self.assertIn((MACS["blue"][1], self.under[1]), learned_before)

        # A ping over blue runs across every reload below and must lose nothing.
        count = 1000  # 20 s at most: it must outlast every reload below
        pinger = h1.popen(["ping", "-n", "-c", str(count), "-i", "0.02", "-W", "2",
                           INNER["blue"][1]], stdout=H.subprocess.PIPE)
        H.wait_for(lambda: d1.ctl_json(["stats"])["networks"]["blue"]["datapath"]
                   ["tx_frames"] > 5, 10, "the running ping to reach blue's TAP")

        # Reload 1 (sttctl reload), both hosts: red removed, green added with a static
        # entry and MTU 1400.
        for i in (0, 1):
            green = dict(GREEN, mtu=1400, fdb=[(STATIC_MAC, self.under[1 - i])])
            self.write(i, self.nets(i, [BLUE]) + self.nets(i, [green]))
            r = self.reload(i)
            self.assertEqual(r.returncode, 0, "reload failed: %s\n%s" %
                             (r.stderr, self.daemons[i].log_text()[-2000:]))
            links = self.hosts[i].links()
            self.assertIn("stt-green", links)
            self.assertNotIn("sttred0", links, "red's TAP is still there after its removal")
            names = [n["name"] for n in self.show(i)["networks"]]
            self.assertEqual(names, ["blue", "green"])
        green_show = [n for n in self.show(0)["networks"] if n["name"] == "green"][0]
        self.assertEqual(green_show["mtu"], 1400)
        self.assertEqual(json.loads(h1.ip(["-j", "link", "show", "dev", "stt-green"]).stdout)
                         [0]["mtu"], 1400)
        fdb = d1.ctl_json(["fdb", "show", "network", "green"])
        self.assertIn({"network": "green", "mac": STATIC_MAC, "peer": self.under[1],
                       "type": "static"}, [{k: e[k] for k in ("network", "mac", "peer", "type")}
                                          for e in fdb])
        # The added network carries traffic.
        for i in (0, 1):
            H.setup_tap(self.hosts[i], GREEN, INNER["green"][i] + "/24", mac=MACS["green"][i])
        ok, out = H.ping(h1, INNER["green"][1], count=3, deadline=10)
        self.assertTrue(ok, "no traffic on the network added by reload:\n" + out)

        # Reload 2 (SIGHUP), h1 only: green's MTU, a second peer, the static entry moved
        # to it.
        green = dict(GREEN, mtu=9000, fdb=[(STATIC_MAC, OTHER_PEER)])
        nets = self.nets(0, [BLUE]) + self.nets(0, [green])
        nets[1]["peers"] = [self.under[1], OTHER_PEER]
        self.write(0, nets)
        d1.proc.send_signal(signal.SIGHUP)

        def applied():
            g = [n for n in self.show(0)["networks"] if n["name"] == "green"][0]
            return g["mtu"] == 9000 and OTHER_PEER in g["peers"]
        H.wait_for(applied, 10, "SIGHUP to apply green's new MTU and peer")
        self.assertIsNone(pinger.poll(), "the ping ended before the last reload: it did not "
                          "run across them")
        fdb = {(e["mac"], e["peer"], e["type"]) for e in
               d1.ctl_json(["fdb", "show", "network", "green"])}
        self.assertIn((STATIC_MAC, OTHER_PEER, "static"), fdb)
        self.assertNotIn((STATIC_MAC, self.under[1], "static"), fdb)
        self.assertIn("reload of %s done" % d1.config, d1.log_text())

        out, _ = pinger.communicate(timeout=count * 0.02 + 60)
        H._processes.remove(pinger)
        m = re.search(r"(\d+) packets transmitted, (\d+) received", out.decode())
        self.assertIsNotNone(m, out)
        self.assertEqual((int(m.group(1)), int(m.group(2))), (count, count),
                         "the ping over the unchanged network lost packets across the "
                         "reloads:\n" + out.decode())
        # blue was never touched: the same TAP device (ifindex, address) and the same
        # learned entry.
        self.assertEqual(self.tap_state(0, "stt-blue"), blue_before,
                         "blue's TAP was recreated by a reload that did not change blue")
        self.assertTrue(learned_before <= self.learned(0, "blue"),
                        "learned entries of blue were lost: %s" % learned_before)
        stats = d1.ctl_json(["stats"])["networks"]["blue"]["datapath"]
        self.assertEqual(stats.get("rx_drop_tap_write", 0), 0)
        self.restore()

    def test_2_invalid_file_is_refused_and_running_config_stays(self):
        d1 = self.daemons[0]
        before = self.config_view(0)
        good = self.nets(0, [BLUE, RED])
        text = self.write(0, [dict(good[0], mtu=10), good[1]])
        line = text.splitlines().index("mtu = 10") + 1
        want = "%s:%d: network[0].mtu: must be in 68..65000, got 10" % (d1.config, line)
        r = self.reload(0)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(r.stderr.strip(), "sttctl: " + want)
        self.assertIn(want, d1.log_text())
        self.assertEqual(self.config_view(0), before, "an invalid file changed the running config")

        # The same through SIGHUP: logged, nothing changes, sttd keeps running.
        with open(d1.config, "a") as f:
            f.write("bogus = 1\n")
        n_before = d1.log_text().count("reload refused")
        d1.proc.send_signal(signal.SIGHUP)
        H.wait_for(lambda: d1.log_text().count("reload refused") > n_before, 10,
                   "the refused SIGHUP reload in the log")
        self.assertIsNone(d1.proc.poll())
        self.assertEqual(self.config_view(0), before)
        ok, out = H.ping(self.hosts[0], INNER["blue"][1], count=2)
        self.assertTrue(ok, out)
        self.restore()

    def test_3_underlay_change_needs_restart(self):
        d1 = self.daemons[0]
        before = self.config_view(0)
        self.write(0, self.nets(0, [BLUE, RED]), port=7472)
        r = self.reload(0)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(r.stderr.strip(),
                         "sttctl: %s: underlay.port: changed from 7471 to 7472; restart "
                         "required (running config kept)" % d1.config)
        self.assertEqual(self.config_view(0), before)
        self.restore()


if __name__ == "__main__":
    H.main()
