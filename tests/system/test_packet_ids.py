#!/usr/bin/env python3
"""R16 across networks: two networks that send to the same peer share that peer's one
packet-ID counter (docs/protocol.md D10), so no ID repeats across networks toward a peer.
Both networks ping at once while the underlay is captured; over every STT frame h1 sent to
h2 (first segments, offset 0), the ACK values (packet IDs) are all distinct, and they are
one run of consecutive numbers shared by both networks' frames. Separate per-network
counters would give two runs, and would fail the second check."""

import struct
import threading

import stt_harness as H

NETS = [{"name": "blue", "context_id": 0x42}, {"name": "red", "context_id": 0x43}]
INNER = {"blue": ["192.168.100.1", "192.168.100.2"], "red": ["192.168.101.1", "192.168.101.2"]}


def stt_first_segments(frames, src, dst):
    """(packet ID, context ID) of every STT segment at offset 0 from src to dst."""
    out = []
    for f in H.frames(frames):
        if f.ethertype != 0x0800 or f.proto != 6 or f.dport != H.STT_PORT:
            continue
        if (f.ip_src, f.ip_dst) != (src, dst):
            continue
        ihl = (f.payload[0] & 0xF) * 4
        tcp = f.payload[ihl:]
        seq, ack = struct.unpack("!II", tcp[4:12])
        if seq & 0xFFFF != 0:
            continue  # a later segment of a frame: same ID as its first
        doff = (tcp[12] >> 4) * 4
        stt = tcp[doff:]
        out.append((ack, struct.unpack("!Q", stt[8:16])[0]))
    return out


class PacketIds(H.SystemTestCase):
    @classmethod
    def build_topology(cls):
        cls.hosts, cls.under = H.two_hosts(4)
        cls.daemons = []
        for i, h in enumerate(cls.hosts):
            nets = [dict(n, peers=[cls.under[1 - i]]) for n in NETS]
            cls.daemons.append(H.Daemon(h, cls.under[i], nets).start())
            for n in nets:
                H.setup_tap(h, n, INNER[n["name"]][i] + "/24")

    def test_two_networks_to_one_peer_share_one_id_sequence(self):
        h1 = self.hosts[0]
        for n in NETS:  # ARP settled, so the capture holds the pings
            ok, out = H.ping(h1, INNER[n["name"]][1], count=1)
            self.assertTrue(ok, out)
        cap = H.Capture(h1, "veth0", name="underlay-ids")
        results = {}
        try:
            def pinger(name):
                results[name] = H.ping(h1, INNER[name][1], count=40, deadline=30,
                                       extra=["-i", "0.01"])
            threads = [threading.Thread(target=pinger, args=(n["name"],)) for n in NETS]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            raw = cap.stop()
        for name, (ok, out) in results.items():
            self.assertTrue(ok, "%s: %s" % (name, out))

        segs = stt_first_segments(raw, self.under[0], self.under[1])
        by_ctx = {n["context_id"]: [a for a, c in segs if c == n["context_id"]] for n in NETS}
        for n in NETS:
            self.assertGreaterEqual(len(by_ctx[n["context_id"]]), 40,
                                    "too few frames of %s captured" % n["name"])
        ids = [a for a, _ in segs]
        self.assertEqual(len(ids), len(set(ids)),
                         "packet IDs repeat across the two networks: %s" %
                         sorted(a for a in set(ids) if ids.count(a) > 1)[:10])
        # One shared counter: consecutive IDs across both networks' frames. sttd's IDs
        # never have bit 31 set and the kernel fast path's always do (D31): each path has
        # its own counter per peer, so each half is one run (mod 2^31).
        for half in (0, 1):
            part = [a for a in ids if a >> 31 == half]
            if not part:
                continue
            base = part[0]
            rel = sorted((a - base) % 2**31 for a in part)
            rel = [(r - rel[0]) for r in rel]
            self.assertEqual(rel, list(range(len(part))),
                             "the IDs (bit 31 = %d) are not one run shared by both networks"
                             % half)
        # And the networks' frames interleave in that one run.
        blue = set(by_ctx[0x42])
        order = [a in blue for a in ids]
        self.assertGreater(sum(1 for x, y in zip(order, order[1:]) if x != y), 2,
                           "the two networks' frames did not interleave")


if __name__ == "__main__":
    H.main()
