#!/usr/bin/env python3
"""A capture of the underlay during ping and iperf3 (two networks, two context IDs)
passes the independent Wireshark-based checker with --strict and shows exactly the
configured context IDs; and no packet in it comes from either host's own TCP stack:
every TCP segment to or from the STT port is an STT segment (no RST, SYN-ACK, ...)."""

import os

import stt_harness as H

NETS = [
    {"name": "blue", "context_id": 0x1234, "mtu": 9000, "subnet": "192.168.90."},
    {"name": "green", "context_id": 0xFEDCBA9876543210, "subnet": "192.168.91."},
]


class UnderlayOracleBase:
    family = 4

    @classmethod
    def build_topology(cls):
        cls.hosts, cls.under = H.two_hosts(cls.family)
        # The capture must show the wire form. With TX checksum offload on, a veth
        # tap sees segments whose checksum a NIC would still fill in (and TSO
        # super-frames); with it off, the kernel finishes both before the tap.
        for h in cls.hosts:
            h.exec(["ethtool", "-K", "veth0", "tx", "off"])
        cls.daemons = []
        for i, h in enumerate(cls.hosts):
            nets = [{k: v for k, v in n.items() if k != "subnet"} for n in NETS]
            for n in nets:
                n["peers"] = [cls.under[1 - i]]
            cls.daemons.append(H.Daemon(h, cls.under[i], nets).start())
            for n, cfg in zip(NETS, nets):
                H.setup_tap(h, cfg, "%s%d/24" % (n["subnet"], i + 1))

    def test_ephemeral_ports_are_not_claimed_by_wireshark(self):
        # The inner connections' client ports come from H.EPHEMERAL_PORTS; a port
        # tshark decodes by number (EtherCAT on 34980, say) would make the oracle
        # see a malformed inner packet. A Wireshark that claims one must fail here.
        lo, hi = H.EPHEMERAL_PORTS
        out = H.run(["tshark", "-G", "decodes"]).stdout
        claimed = [l for l in out.splitlines()
                   if l.split("\t")[0] in ("tcp.port", "udp.port", "sctp.port")
                   and lo <= int(l.split("\t")[1]) <= hi]
        self.assertEqual(claimed, [], "ports in %d-%d that tshark claims" % (lo, hi))
        got = self.hosts[0].exec(["sysctl", "-n", "net.ipv4.ip_local_port_range"]).stdout
        self.assertEqual(got.split(), [str(lo), str(hi)])

    def test_capture_passes_oracle_and_host_stack_is_silent(self):
        cap = H.Capture(self.hosts[0], "veth0", name="underlay-v%d" % self.family)
        try:
            for n in NETS:
                for size in (56, 1472):
                    ok, out = H.ping(self.hosts[0], n["subnet"] + "2", size=size, count=2)
                    self.assertTrue(ok, out)
            ok, out = H.ping(self.hosts[1], NETS[0]["subnet"] + "1", size=8972, count=2)
            self.assertTrue(ok, out)
            srv = H.Iperf3Server(self.hosts[1], NETS[0]["subnet"] + "2")
            try:
                # A few MB both ways: enough for TSO-sized frames, small enough to check.
                for rev in (False, True):
                    n, _ = H.iperf3(self.hosts[0], NETS[0]["subnet"] + "2", seconds=1,
                                    reverse=rev, extra=["-b", "20M"])
                    self.assertGreater(n, 0)
            finally:
                srv.stop()
        finally:
            raw = cap.stop()
        fr = H.frames(raw)

        # 1. The host stacks never answered: every TCP packet on the underlay is STT.
        tcp = [f for f in fr if f.proto == 6]
        self.assertGreater(len(tcp), 0, "no TCP-like packet captured on the underlay")
        bad = [f for f in tcp if f.dport != H.STT_PORT or f.tcp_flags & 0x07]
        self.assertEqual(bad, [], "non-STT TCP on the underlay (host stack?): %s" %
                         ["%s:%s->%s:%s flags %#x" % (f.ip_src, f.sport, f.ip_dst, f.dport,
                                                      f.tcp_flags) for f in bad[:5]])
        both = {f.ip_src for f in tcp}
        self.assertEqual(both, set(self.under), "STT should flow both ways: %s" % both)

        # 2. The oracle accepts every frame in strict mode and sees our context IDs.
        rc, recs, err = H.run_oracle(cap.path, strict=True)
        problems = [r for r in recs if not r.get("ok")]
        self.assertEqual(rc, 0, "oracle rc %d on %s:\n%s\n%s" %
                         (rc, cap.path, "\n".join(str(p) for p in problems[:5]), err[-3000:]))
        ids = {int(r["context_id"], 16) for r in recs}
        self.assertEqual(ids, {n["context_id"] for n in NETS},
                         "context IDs seen by the oracle: %s" % [hex(i) for i in ids])
        print("oracle: %d STT frames in %d underlay packets (%s), all ok" %
              (len(recs), len(fr), os.path.basename(cap.path)))


class UnderlayOracleIPv4(UnderlayOracleBase, H.SystemTestCase):
    family = 4


class UnderlayOracleIPv6(UnderlayOracleBase, H.SystemTestCase):
    family = 6


if __name__ == "__main__":
    H.main()
