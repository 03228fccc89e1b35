#!/usr/bin/env python3
"""Hostile input over an IPv4 underlay: an attacker namespace on the same bridge sends
malformed and spoofed STT at a running sttd. One case per class of input; each checks the
counter that records it, that nothing reached the victim's TAP that must not, and that the
daemon and the overlay still work (see hostile_lib.HostileCase.attack).

Counter paths are those of `sttctl stats -j`: global.rx.* (libstt parse_segment),
global.reassembly.*, global.decap.* (summed over networks), global.datapath.* and
networks.blue.datapath.* (src/daemon/dataplane.cpp)."""

import hostile_lib as L
from hostile_lib import H, P

RX = "global.rx."
REASM = "global.reassembly."
DECAP = "global.decap."
DP = "global.datapath."


class HostileIpv4(L.HostileCase):
    family = 4

    def test_truncated_at_every_header_boundary(self):
        inner = self.inner(self.marker("cut"))
        full = self.ep.frame(self.stt(inner), self.pid())[0]
        # Outer: Ethernet 0-14, IPv4 14-34, TCP 34-54, STT header 54-72, inner Ethernet 72-86.
        # Cut with the IP total length left as it was: the packet claims more than it has.
        # Below 38 bytes the TCP destination port is missing: the kernel socket filter
        # cannot tell the packet is STT and refuses it (no sttd counter can see it); from
        # 38 on, parse_segment must count it.
        kernel_cuts = [14, 24, 34, 36]
        sttd_cuts = [38, 44, 54, 63, 72, 79, 86, len(full) - 1]
        frames = [full[:n] for n in kernel_cuts + sttd_cuts]
        # Cut with lengths and checksums made consistent: a short STT header.
        stt = self.stt(inner)
        frames += self.ep.frame(stt[:9], self.pid())           # L = 9 < 18 + 14
        frames += self.ep.frame(stt[:28], self.pid())          # L = 28: STT + 10 inner bytes
        # 9 bytes of a frame that says it is len(stt) long: held, never completed.
        frames.append(self.ep.segment(len(stt), 0, stt[:9], self.pid()))
        self.attack(frames, expect={RX + "drop_truncated": len(sttd_cuts),
                                    RX + "drop_length_too_short": 2,
                                    REASM + "segments_held": 1})

    def test_stt_version_not_zero(self):
        frames = []
        for v in (1, 255):
            frames += self.ep.frame(self.stt(self.inner(self.marker("v%d" % v)), version=v),
                                    self.pid())
        big = self.stt(self.inner(self.marker("v1-segmented"), size=3000), version=1)
        frames += self.ep.frame(big, self.pid(),
                                pieces=[(0, 1400), (1400, 1400), (2800, len(big) - 2800)])
        self.attack(frames, expect={DECAP + "drop_bad_version": 3,
                                    REASM + "completed": 1})

    def test_bad_outer_tcp_checksum(self):
        frames = self.ep.frame(self.stt(self.inner(self.marker("single"))), self.pid(),
                               tcp_kw={"bad_csum": True})
        # A zero checksum field is not "no checksum" for TCP.
        good = self.ep.frame(self.stt(self.inner(self.marker("zero"))), self.pid())[0]
        frames.append(good[:50] + b"\0\0" + good[52:])
        # The middle piece of three is bad: the frame must never complete.
        big = self.stt(self.inner(self.marker("middle"), size=3000))
        pid = self.pid()
        pieces = [(0, 1400), (1400, 1400), (2800, len(big) - 2800)]
        frames += [self.ep.frame(big, pid, pieces=[p], tcp_kw={"bad_csum": i == 1})[0]
                   for i, p in enumerate(pieces)]
        self.attack(frames, expect={RX + "drop_bad_tcp_checksum": 3,
                                    REASM + "completed": 0})

    def test_bad_outer_ipv4_header_checksum(self):
        frames = self.ep.frame(self.stt(self.inner(self.marker())), self.pid(),
                               ip_kw={"bad_csum": True})
        self.attack(frames, expect={RX + "drop_bad_ip_checksum": 1})

    def test_length_and_offset_out_of_bounds(self):
        stt = self.stt(self.inner(self.marker()))
        L_ = len(stt)
        frames = [
            self.ep.segment(L_, 50, stt[:60], self.pid()),           # offset + n > L
            self.ep.segment(0xFFFF, 0xFFF0, stt[:32], self.pid()),   # past 65535
            self.ep.segment(L_, 0xFFFF, stt[:1], self.pid()),        # offset beyond L
            self.ep.segment(40, 0, stt, self.pid()),                 # n > L from offset 0
        ]
        self.attack(frames, expect={RX + "drop_beyond_length": 4})

    def test_length_changes_between_segments(self):
        stt = self.stt(self.inner(self.marker(), size=200))
        pid = self.pid()
        half = len(stt) // 2
        frames = [
            self.ep.segment(len(stt), 0, stt[:half], pid),
            self.ep.segment(len(stt) + 24, half, stt[half:], pid),  # same ID, other L
            self.ep.segment(len(stt), half, stt[half:], pid),       # starts afresh: held only
        ]
        self.attack(frames, expect={REASM + "drop_length_mismatch": 1,
                                    REASM + "completed": 0})

    def test_overlapping_and_duplicate_segments(self):
        inner = self.inner(self.marker("kept"), size=200)
        stt = self.stt(inner)
        pid = self.pid()
        a = self.ep.segment(len(stt), 0, stt[:80], pid)
        garbage = self.ep.segment(len(stt), 40, L.HOSTILE + b"\xee" * 72, pid)  # [40, 120)
        b = self.ep.segment(len(stt), 80, stt[80:], pid)
        # The frame completes from a and b; the duplicate and the overlapping piece
        # (different bytes) are dropped and must not change what is delivered.
        self.attack([a, a, garbage, b, b], deliver=[inner],
                    expect={REASM + "drop_duplicate": 1, REASM + "drop_overlap": 1,
                            REASM + "completed": 1})

    def test_zero_length_segments(self):
        stt = self.stt(self.inner(self.marker()))
        frames = [self.ep.segment(len(stt), 0, b"", self.pid()),
                  self.ep.segment(len(stt), len(stt), b"", self.pid())]
        self.attack(frames, expect={RX + "drop_zero_length": 2})

    def test_tcp_options_and_odd_data_offsets(self):
        stt = self.stt(self.inner(self.marker()))
        nop4 = b"\x01\x01\x01\x01"
        mss = b"\x02\x04\x05\xb4\x01\x01\x01\x01"
        frames = [
            self.ep.segment(len(stt), 0, stt, self.pid(), tcp_kw={"options": nop4}),
            self.ep.segment(len(stt), 0, stt, self.pid(), tcp_kw={"options": mss}),
            self.ep.segment(len(stt), 0, stt, self.pid(), tcp_kw={"options": nop4 * 10}),
            self.ep.segment(len(stt), 0, stt, self.pid(), tcp_kw={"doff": 4}),
            self.ep.segment(len(stt), 0, stt, self.pid(), tcp_kw={"doff": 0}),
            self.ep.segment(len(stt), 0, stt, self.pid(), tcp_kw={"doff": 15}),
        ]
        self.attack(frames, expect={RX + "drop_tcp_options": 6})

    def test_c_and_p_both_set(self):
        frames = []
        for extra in (0, P.FLAG_IPV4, P.FLAG_IPV4 | 0xF0):
            inner = self.inner_udp(self.marker("cp%x" % extra))
            frames += self.ep.frame(self.stt(inner, flags=P.FLAG_C | P.FLAG_P | extra,
                                             l4_offset=34), self.pid())
        self.attack(frames, expect={DECAP + "drop_c_and_p": 3})

    def test_mss_without_p_is_ignored(self):
        # R12: with P = 0, MSS (and L4 offset, FLAG_IPV4, T) mean nothing: delivered as is.
        i1 = self.inner(self.marker("mss"), size=1200)
        i2 = self.inner(self.marker("mss-c"), size=1200)
        i3 = self.inner_udp(self.marker("mss-udp"), size=1200, partial=False)
        frames = (self.ep.frame(self.stt(i1, mss=100), self.pid()) +
                  self.ep.frame(self.stt(i2, flags=P.FLAG_C, mss=1), self.pid()) +
                  self.ep.frame(self.stt(i3, flags=P.FLAG_IPV4 | P.FLAG_TCP, mss=200,
                                         l4_offset=34), self.pid()))
        self.attack(frames, deliver=[i1, i2, i3],
                    expect={DECAP + "gso_delivered": 0, DECAP + "software_gso": 0})

    def test_l4_offset_beyond_the_frame(self):
        udp = self.inner_udp(self.marker("beyond"))
        wrong = self.inner_udp(self.marker("wrong"))
        ignored = self.inner(self.marker("p0"))
        frames = (self.ep.frame(self.stt(udp, flags=P.FLAG_P | P.FLAG_IPV4, l4_offset=250),
                                self.pid()) +
                  self.ep.frame(self.stt(wrong, flags=P.FLAG_P | P.FLAG_IPV4, l4_offset=38),
                                self.pid()) +
                  # P = 0: the offset is ignored (R12), the frame is delivered.
                  self.ep.frame(self.stt(ignored, l4_offset=250), self.pid()))
        self.attack(frames, deliver=[ignored], expect={DECAP + "drop_bad_l4_offset": 2})

    def test_reserved_bits_and_padding_are_ignored(self):
        # R4, R8, R10: the Reserved byte, reserved flag bits and Padding are ignored.
        cases = [dict(reserved=0xFF), dict(flags=0xF0), dict(padding=0xFFFF),
                 dict(reserved=0xA5, flags=0xF0 | P.FLAG_C, padding=0x5A5A)]
        frames, deliver = [], []
        for i, kw in enumerate(cases):
            inner = self.inner(self.marker("r%d" % i))
            deliver.append(inner)
            frames += self.ep.frame(self.stt(inner, **kw), self.pid())
        # Also in a segmented frame.
        big = self.inner(self.marker("seg"), size=3000)
        deliver.append(big)
        stt = self.stt(big, reserved=0xFF, flags=0xF0, padding=0xFFFF)
        frames += self.ep.frame(stt, self.pid(),
                                pieces=[(1400, 1400), (2800, len(stt) - 2800), (0, 1400)])
        self.attack(frames, deliver=deliver, expect={REASM + "completed": 1})

    def test_vlan_vid_4095(self):
        dropped = self.inner(self.marker("4095"))
        tagged = self.inner(self.marker("100"))
        untagged = self.inner(self.marker("v0"))
        frames = (self.ep.frame(self.stt(dropped, tci=0x1000 | 0xFFF), self.pid()) +
                  self.ep.frame(self.stt(dropped, tci=0xF000 | 0xFFF), self.pid()) +
                  # Controls: VID 100 is restored as a tag; TCI.V = 0 ignores VID 4095.
                  self.ep.frame(self.stt(tagged, tci=(3 << 13) | 0x1000 | 100), self.pid()) +
                  self.ep.frame(self.stt(untagged, tci=0x0FFF), self.pid()))
        want_tagged = tagged[:12] + bytes([0x81, 0x00, 0x60, 100]) + tagged[12:]
        self.attack(frames, deliver=[want_tagged, untagged],
                    expect={DECAP + "drop_vlan_reserved": 2})

    def test_unknown_context_id(self):
        frames = []
        for ctx in (0, 0xB1F, 0xFFFFFFFFFFFFFFFF):
            frames += self.ep.frame(self.stt(self.inner(self.marker("%x" % ctx)),
                                             context_id=ctx), self.pid())
        self.attack(frames, expect={DP + "rx_drop_unknown_context": 3})

    def test_spoofed_non_peer_source(self):
        frames = []
        for src in (self.attacker_ip, "10.0.0.77"):
            frames += self.ep.frame(self.stt(self.inner(self.marker(src))), self.pid(),
                                    src_ip=src)
        big = self.stt(self.inner(self.marker("segmented"), size=3000))
        frames += self.ep.frame(big, self.pid(), src_ip=self.attacker_ip,
                                pieces=[(0, 1400), (1400, 1400), (2800, len(big) - 2800)])
        # The control: the same frame with the peer's outer source address is admitted.
        # Admission by address cannot stop an attacker who can spoof the peer's address.
        spoofed = self.inner(self.marker("as-peer"))
        frames += self.ep.frame(self.stt(spoofed), self.pid())
        self.attack(frames, deliver=[spoofed],
                    expect={"networks.blue.datapath.rx_drop_not_peer": 3,
                            DP + "rx_drop_not_peer": 3})

    def test_inner_frame_shorter_than_ethernet(self):
        inner = self.inner(self.marker())
        frames = []
        for n in (0, 1, 13):
            frames += self.ep.frame(self.stt(inner[:n]), self.pid())
        stt = self.stt(inner[:13])
        frames += self.ep.frame(stt, self.pid(), pieces=[(0, 20), (20, 11)])
        self.attack(frames, expect={RX + "drop_length_too_short": 5})

    def test_p_set_over_unparseable_inner_headers(self):
        base = self.inner_udp(self.marker("udp"))
        bad_version = base[:14] + b"\x55" + base[15:]
        bad_ihl = base[:14] + b"\x43" + base[15:]                   # IHL 12 < 20
        not_ip = self.inner(self.marker("notip"))
        short_ip = base[:14 + 12]                                    # IPv4 header cut short
        frames = []
        for inner, flags in ((bad_version, P.FLAG_P | P.FLAG_IPV4),
                             (bad_ihl, P.FLAG_P | P.FLAG_IPV4),
                             (not_ip, P.FLAG_P | P.FLAG_IPV4),
                             (short_ip, P.FLAG_P | P.FLAG_IPV4),
                             (base, P.FLAG_P),                         # says IPv6: it is not
                             (base, P.FLAG_P | P.FLAG_IPV4 | P.FLAG_TCP)):  # says TCP: UDP
            frames += self.ep.frame(self.stt(inner, flags=flags, l4_offset=34), self.pid())
        self.attack(frames, expect={DECAP + "drop_bad_inner_headers": 6})

    def test_outer_ipv4_fragments(self):
        stt = self.stt(self.inner(self.marker()))
        frames = [
            self.ep.segment(len(stt), 0, stt, self.pid(), ip_kw={"df": False, "mf": True}),
            self.ep.segment(len(stt), 0, stt, self.pid(), ip_kw={"df": True, "mf": True}),
        ]
        # A non-first fragment has no TCP header; the kernel socket filter refuses it
        # (counted by no sttd counter); it must not be delivered either.
        raw = self.ep.segment(len(stt), 0, stt, self.pid(), ip_kw={"df": False, "frag_off": 3})
        frames.append(raw)
        self.attack(frames, expect={RX + "drop_ip_fragment": 2})

    def test_tcp_syn_rst_fin_get_no_reaction(self):
        stt = self.stt(self.inner(self.marker("ctl")))
        frames = []
        for src in (self.ep.src_ip, self.attacker_ip):
            for fl in (P.TCP_SYN, P.TCP_RST, P.TCP_FIN, P.TCP_SYN | P.TCP_ACK,
                       P.TCP_RST | P.TCP_ACK, P.TCP_FIN | P.TCP_ACK | P.TCP_PSH):
                frames.append(self.ep.segment(len(stt), 0, stt, self.pid(), src_ip=src,
                                              flags=fl))
            # A bare SYN with no payload, as a port scanner would send.
            frames.append(self.ep.segment(0, 0, b"", self.pid(), src_ip=src, flags=P.TCP_SYN))
        # R19/R23: other flags, window and urgent pointer are ignored: delivered.
        ok = self.inner(self.marker("urg"))
        frames += self.ep.frame(self.stt(ok), self.pid(),
                                flags=P.TCP_URG | P.TCP_ECE | P.TCP_CWR | P.TCP_PSH,
                                tcp_kw={"window": 0xFFFF, "urg": 0x1234})
        # The control: a SYN to a closed port that is not STT must get an RST, or the
        # capture could not have shown a reaction at all.
        probe = P.eth(self.ep.dst_mac, self.ep.src_mac, P.ETH_IPV4,
                      P.ipv4(self.attacker_ip, self.ep.dst_ip,
                             P.tcp(self.attacker_ip, self.ep.dst_ip, 40001, 7472, 1, 0,
                                   P.TCP_SYN, b"")))
        frames.append(probe)
        # sttd parses a segment before admission, so it counts the attacker's 7 as control
        # flags; the kernel fast path drops a non-peer's segments before looking further
        # (docs/design.md, "The kernel fast path") and counts them as such.
        expect = {RX + "drop_control_flags": 14}
        if H.FAST_PATH == "bpf":
            expect = {RX + "drop_control_flags": 7, DP + "rx_drop_not_peer_segments": 7}
        _, under, _, _ = self.attack(frames, deliver=[ok], underlay_capture=True,
                                     expect=expect)
        fr = H.frames(under)
        victim = self.ep.dst_ip
        reactions = [f for f in fr if f.ip_src == victim and f.proto == 6 and
                     (f.sport == P.STT_PORT or f.tcp_flags & (P.TCP_RST | P.TCP_SYN))
                     and f.dport != 7472 and f.sport != 7472]
        self.assertEqual(reactions, [], "the victim's TCP stack answered STT-port segments: %s"
                         % [(f.ip_dst, f.sport, f.dport, hex(f.tcp_flags)) for f in reactions])
        control = [f for f in fr if f.ip_src == victim and f.sport == 7472 and
                   f.tcp_flags & P.TCP_RST]
        self.assertEqual(len(control), 1, "control: no RST for a SYN to closed port 7472; "
                         "the underlay capture would not have seen a reaction")


if __name__ == "__main__":
    H.main()
