#!/usr/bin/env python3
"""Two networks (two context IDs, two TAPs on each host) between the same two hosts:
while both carry pings, no frame of one ever appears on the other's TAP."""

import stt_harness as H

NETS = [
    {"name": "blue", "context_id": 0x1234, "subnet": "192.168.70.", "macs": ["02:b1:00:00:00:01", "02:b1:00:00:00:02"]},
    {"name": "red", "context_id": 0x5678, "subnet": "192.168.71.", "macs": ["02:4e:00:00:00:01", "02:4e:00:00:00:02"]},
]


class TwoNetworks(H.SystemTestCase):
    @classmethod
    def build_topology(cls):
        cls.hosts, cls.under = H.two_hosts(4)
        cls.daemons = []
        for i, h in enumerate(cls.hosts):
            nets = [{"name": n["name"], "context_id": n["context_id"],
                     "peers": [cls.under[1 - i]]} for n in NETS]
            cls.daemons.append(H.Daemon(h, cls.under[i], nets).start())
            for n, cfg in zip(NETS, nets):
                H.setup_tap(h, cfg, "%s%d/24" % (n["subnet"], i + 1), mac=n["macs"][i])

    def test_no_frame_crosses_networks(self):
        caps = {}
        for i, h in enumerate(self.hosts):
            for n in NETS:
                caps[(i, n["name"])] = H.Capture(h, "stt-" + n["name"],
                                                 name="h%d-%s" % (i + 1, n["name"]))
        try:
            for n in NETS:
                for a in (0, 1):
                    # Broadcast (ARP) and unicast both ways, on both networks.
                    self.hosts[a].ip(["neigh", "flush", "dev", "stt-" + n["name"]])
                    ok, out = H.ping(self.hosts[a], "%s%d" % (n["subnet"], 2 - a), count=3)
                    self.assertTrue(ok, "ping on %s from h%d:\n%s" % (n["name"], a + 1, out))
        finally:
            got = {k: H.frames(c.stop()) for k, c in caps.items()}
        for (i, name), fr in got.items():
            mine = next(n for n in NETS if n["name"] == name)
            other = next(n for n in NETS if n["name"] != name)
            self.assertGreater(len(fr), 0, "nothing captured on h%d's %s TAP" % (i + 1, name))
            own_seen = 0
            for f in fr:
                for field in (f.src, f.dst):
                    self.assertNotIn(field, other["macs"],
                                     "frame of %s on h%d's %s TAP: %s -> %s" %
                                     (other["name"], i + 1, name, f.src, f.dst))
                for field in (f.ip_src, f.ip_dst):
                    self.assertFalse(field and field.startswith(other["subnet"]),
                                     "packet of %s on h%d's %s TAP: %s -> %s" %
                                     (other["name"], i + 1, name, f.ip_src, f.ip_dst))
                if f.src == mine["macs"][1 - i]:
                    own_seen += 1
            # The test could not fail if the TAP saw nothing from the far side.
            self.assertGreater(own_seen, 0,
                               "h%d's %s TAP received nothing from its peer" % (i + 1, name))


if __name__ == "__main__":
    H.main()
