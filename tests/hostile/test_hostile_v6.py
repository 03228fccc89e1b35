#!/usr/bin/env python3
"""Hostile input over an IPv6 underlay: the same attacker topology as test_hostile.py
(hostile_lib), with the classes only IPv6 has: extension headers in front of the STT
segment's TCP header, fragment headers, an over-long extension chain. What is expected:

* extension headers that are not fragments (hop-by-hop, destination options, routing with
  segments left 0) make a legal IPv6 packet; libstt's parse_segment walks the chain
  (src/core/rx.cpp), so the segment is STT and must be delivered;
* a fragment header that fragments (offset != 0 or M = 1) is dropped and counted
  `drop_ip_fragment` (docs/protocol.md D13); an atomic fragment (offset 0, M = 0) is a
  whole packet (RFC 6946) and is delivered;
* a chain longer than libstt walks is dropped and counted `drop_bad_ip_header`."""

import hostile_lib as L
from hostile_lib import H, P

RX = "global.rx."


class HostileIpv6(L.HostileCase):
    family = 6

    def ext_frames(self, stt, chain, first_nh):
        return self.ep.frame(stt, self.pid(), ipv6_ext=chain, ipv6_first_nh=first_nh)

    def test_ipv6_bad_tcp_checksum(self):
        # The IPv6 receive path counts what it drops (the control for the cases below).
        frames = self.ep.frame(self.stt(self.inner(self.marker())), self.pid(),
                               tcp_kw={"bad_csum": True})
        self.attack(frames, expect={RX + "drop_bad_tcp_checksum": 1})

    def test_ipv6_extension_headers(self):
        deliver, frames = [], []
        chains = [
            ("dstopt", P.ext_padn(6, 60), 60),
            ("hbh", P.ext_padn(6, 0), 0),
            ("routing", P.ext_routing0(6), 43),
            ("hbh+dstopt", P.ext_padn(60, 0) + P.ext_padn(6, 60), 0),
        ]
        for name, chain, first in chains:
            inner = self.inner(self.marker(name))
            deliver.append(inner)
            frames += self.ext_frames(self.stt(inner), chain, first)
        self.attack(frames, deliver=deliver, expect={RX + "segments": len(chains) + 1})

    def test_ipv6_fragment_headers(self):
        stt = self.stt(self.inner(self.marker("frag")))
        frames = [
            self.ep.segment(len(stt), 0, stt, self.pid(), ipv6_first_nh=44,
                            ipv6_ext=P.ext_fragment(6, offset=0, more=True)),
            self.ep.segment(len(stt), 0, stt, self.pid(), ipv6_first_nh=44,
                            ipv6_ext=P.ext_fragment(6, offset=8, more=False)),
        ]
        atomic = self.inner(self.marker("atomic"))
        frames += self.ext_frames(self.stt(atomic), P.ext_fragment(6, offset=0, more=False), 44)
        self.attack(frames, deliver=[atomic], expect={RX + "drop_ip_fragment": 2})

    def test_ipv6_extension_chain_too_long(self):
        chain = b"".join(P.ext_padn(60, 60) for _ in range(11)) + P.ext_padn(6, 60)
        frames = self.ext_frames(self.stt(self.inner(self.marker())), chain, 60)
        self.attack(frames, expect={RX + "drop_bad_ip_header": 1})


if __name__ == "__main__":
    H.main()
