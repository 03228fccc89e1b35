#!/usr/bin/env python3
"""An 802.1Q-tagged inner frame crosses the overlay with the same VID and PCP (the tag
travels in the STT header and is restored on the far side with DEI 0, I7 and D23; a tag
with DEI 1 has no place in the STT header and travels inline, unchanged, D22). There
are no VLAN devices
on this kernel, so the frames are injected with a raw AF_PACKET socket on h1's TAP and
captured on h2's TAP with dumpcap (libpcap restores a tag the kernel moved to metadata)."""

import struct
import sys

import stt_harness as H

NET = {"name": "blue", "context_id": 0xC0FFEE}
ETHERTYPE = 0x88B5  # IEEE local experimental: no stack on either host touches it
SRC_MAC = "02:11:22:33:44:55"
CASES = [  # (pcp, dei, vid), None = untagged
    (5, 0, 100), (0, 0, 1), (7, 0, 4094), (3, 0, 2748), (2, 1, 300), None,
]

INJECT = r"""
import socket, sys
dev, frames = sys.argv[1], sys.argv[2:]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((dev, 0))
for hx in frames:
    s.send(bytes.fromhex(hx))
"""


def build(dst, case, marker):
    d = bytes.fromhex(dst.replace(":", ""))
    s = bytes.fromhex(SRC_MAC.replace(":", ""))
    tag = b"" if case is None else struct.pack("!HH", 0x8100,
                                               (case[0] << 13) | (case[1] << 12) | case[2])
    payload = marker + bytes(range(64))
    return d + s + tag + struct.pack("!H", ETHERTYPE) + payload


class VlanTag(H.SystemTestCase):
    @classmethod
    def build_topology(cls):
        cls.hosts, cls.under = H.two_hosts(4)
        cls.daemons = H.start_overlay(cls.hosts, cls.under, [NET],
                                      ["192.168.80.1/24", "192.168.80.2/24"])

    def test_tag_survives_with_its_dei(self):
        dst = self.hosts[1].mac("stt-blue")
        sent = []
        for n, case in enumerate(CASES):
            marker = b"STTVLAN%02d" % n
            sent.append((marker, case, build(dst, case, marker)))
        cap = H.Capture(self.hosts[1], "stt-blue", name="h2-tap-vlan")
        try:
            self.hosts[0].exec([sys.executable, "-c", INJECT, "stt-blue"] +
                               [f.hex() for _, _, f in sent])
            # Wait until the last injected frame has arrived (bounded), via a ping
            # behind it on the same path: when its reply is back, the frames are through.
            ok, out = H.ping(self.hosts[0], "192.168.80.2", count=2)
            self.assertTrue(ok, out)
        finally:
            got = H.frames(cap.stop())
        for marker, case, _ in sent:
            match = [f for f in got if f.ethertype == ETHERTYPE and f.payload.startswith(marker)]
            self.assertEqual(len(match), 1, "frame %s (tag %s) arrived %d times on h2's TAP" %
                             (marker, case, len(match)))
            f = match[0]
            self.assertEqual(f.src, SRC_MAC)
            if case is None:
                self.assertIsNone(f.vlan, "untagged frame arrived tagged %s" % (f.vlan,))
            else:
                self.assertIsNotNone(f.vlan, "tag %s was lost" % (case,))
                self.assertEqual(f.raw[12:14], b"\x81\x00", "TPID is not 0x8100")
                # The whole TCI: a receiver that copied the STT word's V bit
                # into the tag would deliver DEI 1 for the DEI 0 cases.
                self.assertEqual(tuple(f.vlan), case, "tag (pcp, dei, vid) changed in transit")
                self.assertEqual(f.payload, marker + bytes(range(64)))


if __name__ == "__main__":
    H.main()
