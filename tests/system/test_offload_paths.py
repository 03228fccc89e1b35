#!/usr/bin/env python3
"""The offload paths of the data path, shown by sttd's own per-path counters while a TCP
stream crosses the tunnel (h1 -> h2), one case per underlay setting:

  full: h1's veth cuts GSO frames (TSO on), h2's veth coalesces (GRO on). h1 reads 64 KB
        TSO super-frames from its TAP and sends each STT frame as one GSO super-segment;
        h2 takes the coalesced frames whole (no reassembly copy) and writes inner TSO
        frames to its TAP as GSO frames; the ACKs come back as partial checksums.
  none: no TSO, no GRO. The kernel cuts h1's GSO super-segments in software; h2 gets
        MTU segments, reassembles them and still delivers one GSO frame to its TAP.
  segmented: sttd --tx-form segmented on h1: cut in userspace, never a GSO packet.
  busy poll: sttd --busy-poll-us 50 on h1: the full paths still run, nothing dropped.

Behaviour only: every case checks which counters moved, never how fast."""

import stt_harness as H

NET = {"name": "blue", "context_id": 0x4242, "mtu": 1500}
INNER = ["192.168.61.1", "192.168.61.2"]


def ethtool(host, *args):
    # ethtool -K exits 1 when some feature is fixed; the counters tell what happened.
    host.exec(["ethtool", "-K", "veth0"] + list(args), check=False)


class OffloadPaths(H.SystemTestCase):
    @classmethod
    def build_topology(cls):
        cls.hosts, cls.under = H.two_hosts(4)
        cls.daemons = H.start_overlay(cls.hosts, cls.under, [NET], [a + "/24" for a in INNER])
        cls.server = H.Iperf3Server(cls.hosts[1], INNER[1])

    @classmethod
    def tearDownClass(cls):
        try:
            cls.server.stop()
        finally:
            super().tearDownClass()

    def stats(self, i):
        s = self.daemons[i].ctl_json(["stats"])
        out = dict(s["networks"][NET["name"]]["datapath"])
        # Counted before a frame is matched to a network: global only.
        out["rx_gro_packets"] = s["global"]["datapath"]["rx_gro_packets"]
        # The kernel fast path's own counters (STT_FAST_PATH=bpf), e.g. fast:fast_rx_csum_completed.
        for k, v in s["networks"][NET["name"]].get("fast_path", {}).items():
            out["fast:" + k] = v
        return out

    def assert_acks_delivered(self, tx, what):
        """h2's ACKs reached h1's TAP: small frames with a partial checksum, which sttd hands
        on as NEEDS_CSUM and the kernel fast path finishes itself."""
        if H.FAST_PATH == "bpf":
            self.assertGreater(tx["fast:fast_rx_csum_completed"] + tx["tap_csum_partial_writes"],
                               0, what)
        else:
            self.assertGreater(tx["tap_csum_partial_writes"], 0, what)

    def stream(self):
        """Runs iperf3 h1 -> h2; returns the counter deltas of both daemons."""
        before = [self.stats(0), self.stats(1)]
        n, _ = H.iperf3(self.hosts[0], INNER[1], seconds=2)
        self.assertGreater(n, 0, "iperf3 moved no bytes")
        after = [self.stats(0), self.stats(1)]
        return [{k: after[i][k] - before[i].get(k, 0) for k in after[i]} for i in (0, 1)]

    def set_underlay(self, tso, gro):
        ethtool(self.hosts[0], "tso", tso, "gso", tso, "gro", gro)
        ethtool(self.hosts[1], "tso", tso, "gso", tso, "gro", gro)

    def test_full_gso_out_gro_in(self):
        self.set_underlay("on", "on")
        tx, rx = self.stream()
        print("full: h1 %s\n      h2 %s" % (tx, rx))
        self.assertGreater(tx["tx_tso_frames"], 0, "no TSO super-frame read from the TAP")
        self.assertGreater(tx["tx_gso_packets"], 0, "no GSO super-segment sent")
        self.assertEqual(tx["tx_segments"], 0, "frames were cut in userspace")
        self.assertGreater(rx["rx_gro_packets"], 0, "no coalesced packet received")
        self.assertGreater(rx["rx_whole_frames"], 0, "no STT frame taken whole")
        self.assertGreater(rx["tap_gso_writes"], 0, "no GSO frame written to the TAP")
        # h2's ACKs: small frames with a partial checksum, delivered as NEEDS_CSUM.
        self.assert_acks_delivered(tx, "no NEEDS_CSUM frame written")
        self.assertEqual(rx["rx_drop_tap_write"], 0)

    def test_none_kernel_segments_sttd_reassembles(self):
        self.set_underlay("off", "off")
        try:
            tx, rx = self.stream()
        finally:
            self.set_underlay("on", "on")
        print("none: h1 %s\n      h2 %s" % (tx, rx))
        self.assertGreater(tx["tx_gso_packets"], 0, "no GSO super-segment sent")
        self.assertEqual(tx["tx_segments"], 0, "frames were cut in userspace")
        self.assertEqual(rx["rx_gro_packets"], 0, "coalesced packets with GRO off")
        self.assertGreater(rx["rx_reassembled_frames"], 0, "no STT frame reassembled")
        self.assertGreater(rx["tap_gso_writes"], 0, "inner TSO frames not written as GSO")
        self.assertEqual(rx["rx_drop_tap_write"], 0)

    def restart_h1(self, *args):
        """Restarts h1's sttd with extra arguments (none: plain sttd), TAP set up again."""
        d = self.daemons[0]
        self.assertEqual(d.stop(), 0)
        d.start(args=args)
        H.setup_tap(self.hosts[0], dict(NET, peers=[self.under[1]]), INNER[0] + "/24")

    def test_busy_poll_window_keeps_the_paths(self):
        # --busy-poll-us changes only when the loop sleeps: the same paths, nothing dropped.
        self.restart_h1("--busy-poll-us", "50")
        try:
            self.set_underlay("on", "on")
            tx, rx = self.stream()
        finally:
            self.restart_h1()
        print("busy poll: h1 %s\n           h2 %s" % (tx, rx))
        self.assertGreater(tx["tx_tso_frames"], 0, "no TSO super-frame read from the TAP")
        self.assertGreater(tx["tx_gso_packets"], 0, "no GSO super-segment sent")
        self.assertGreater(rx["tap_gso_writes"], 0, "no GSO frame written to the TAP")
        self.assert_acks_delivered(tx, "no ACK delivered to h1's TAP")
        for k in ("tx_drop_send_error", "tx_drop_tap_read", "rx_drop_tap_write", "rx_drop_invalid"):
            self.assertEqual(tx.get(k, 0), 0, k)
            self.assertEqual(rx.get(k, 0), 0, k)

    def test_segmented_form_cuts_in_userspace(self):
        self.restart_h1("--tx-form", "segmented")
        self.set_underlay("on", "off")
        try:
            tx, rx = self.stream()
        finally:
            self.set_underlay("on", "on")
        print("segmented: h1 %s\n           h2 %s" % (tx, rx))
        self.assertGreater(tx["tx_tso_frames"], 0, "no TSO super-frame read from the TAP")
        self.assertGreater(tx["tx_segments"], 0, "nothing cut in userspace")
        self.assertEqual(tx["tx_gso_packets"], 0, "a GSO packet in the segmented form")
        self.assertGreater(rx["rx_reassembled_frames"], 0, "no STT frame reassembled")
        self.assertGreater(rx["tap_gso_writes"], 0, "inner TSO frames not written as GSO")


if __name__ == "__main__":
    H.main()
