#!/usr/bin/env python3
"""Two hosts on a 1500-byte veth underlay, one network: ping at every inner size up to
an inner MTU of 9000 (STT segments, the underlay does not fragment), and iperf3 TCP
both ways; the same over an IPv4 and an IPv6 underlay."""

import stt_harness as H

NET = {"name": "blue", "context_id": 0x1234, "mtu": 9000}
INNER = ["192.168.50.1", "192.168.50.2"]


class TwoHostsBase:  # mixin, so unittest does not run it on its own
    family = 4

    @classmethod
    def build_topology(cls):
        cls.hosts, cls.under = H.two_hosts(cls.family)
        cls.daemons = H.start_overlay(cls.hosts, cls.under, [NET], [a + "/24" for a in INNER])

    def test_underlay_mtu_is_1500_and_tap_mtu_9000(self):
        for h in self.hosts:
            self.assertIn('"mtu":1500', h.ip(["-j", "link", "show", "veth0"]).stdout)
            self.assertIn('"mtu":9000', h.ip(["-j", "link", "show", "stt-blue"]).stdout)

    def test_ping_sizes(self):
        # 56: a small frame; 1400/1472: full 1500-byte inner packets, larger than what fits
        # in one underlay segment with STT overhead; 8972: a 9000-byte inner packet.
        for size in (56, 1400, 1472, 8972):
            for a, b in ((0, 1), (1, 0)):
                ok, out = H.ping(self.hosts[a], INNER[b], size=size)
                self.assertTrue(ok, "ping -M do -s %d from h%d to %s failed:\n%s" %
                                (size, a + 1, INNER[b], out))

    def test_ping_too_big_for_inner_mtu_is_refused_locally(self):
        # Control for the test above: 8973 bytes exceed the 9000-byte inner MTU, so
        # "ping -M do" must fail. If it passed, the TAP MTU would not be what we think.
        ok, out = H.ping(self.hosts[0], INNER[1], size=8973, count=1, deadline=3)
        self.assertFalse(ok, out)

    def test_iperf3_both_directions(self):
        srv = H.Iperf3Server(self.hosts[1], INNER[1])
        try:
            for reverse in (False, True):
                n, j = H.iperf3(self.hosts[0], INNER[1], seconds=2, reverse=reverse)
                self.assertGreater(n, 0, "iperf3 %s moved no bytes" %
                                   ("-R" if reverse else ""))
                bps = j["end"]["sum_received"]["bits_per_second"]
                print("iperf3 IPv%d underlay %s: %d bytes, %.2f Gbit/s" %
                      (self.family, "h2->h1" if reverse else "h1->h2", n, bps / 1e9))
        finally:
            srv.stop()


class TwoHostsIPv4(TwoHostsBase, H.SystemTestCase):
    family = 4


class TwoHostsIPv6(TwoHostsBase, H.SystemTestCase):
    family = 6


if __name__ == "__main__":
    H.main()
