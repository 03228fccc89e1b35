#!/usr/bin/env python3
"""R24/R25/R26 in sttd: the outer DSCP/ECN sttd sends, and what it writes inward.

h1 and h2 are joined by a bridge in a switch namespace. h1 sends UDP datagrams over its
TAP with chosen inner TOS bytes (IP_TOS on the socket); h2 reads each datagram's TOS with
IP_RECVTOS, so it sees exactly what sttd wrote into the TAP.

* Transmit: the underlay at h1 is captured; for each datagram the outer DSCP/ECN of its
  STT segment is compared with what `[underlay] dscp` and `ecn` prescribe.
* Receive: first without remarking (a positive control: every datagram, Not-ECT ones
  included, arrives), then with an nftables rule in the switch that sets every STT
  segment's outer DSCP to AF41 (34) and its ECN field to CE. Then the uniform model
  (`dscp = "inherit"`) must write DSCP 34 inward and the pipe model must not; CE must be
  carried into an ECT inner packet and a Not-ECT inner packet dropped and counted
  `drop_ecn_not_ect` ("normal" and "compat"); with `ecn = "off"` the outer ECN is ignored.
* Across segments (R25, R27): 4000-byte datagrams, so every STT frame is three segments
  that h2 reassembles; the switch marks each frame's offset-0 segment AF12 (ECN kept) and
  its later segments EF + CE. The uniform model must write AF12 inward, and CE must reach
  the inner header although the offset-0 segment never carried it.

Each mode is one class with its own topology and daemons; IPv4 and IPv6 underlays."""

import json
import struct
import sys

import stt_harness as H

NET = {"name": "blue", "context_id": 0x6040, "mtu": 9000}  # room for multi-segment frames
INNER = ["192.168.77.1", "192.168.77.2"]
MACS = ["02:00:00:00:77:01", "02:00:00:00:77:02"]
UDP_PORT = 47000
REMARK_DSCP = 34  # AF41
NOT_ECT, ECT1, ECT0, CE = 0, 1, 2, 3

# Inner TOS bytes sent in each phase: (DSCP, ECN). The Not-ECT one goes first; the last,
# CE, is delivered in every mode and marks the end of the phase (see wait_fence).
SENT = [(18, NOT_ECT), (10, ECT0), (46, ECT1), (8, CE)]

# Each item is TOS:SIZE:TAG; the datagram is TAG padded with "." to SIZE bytes.
_SENDER = r"""
import socket, sys
dst, port, items = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for it in items:
    tos, size, tag = it.split(":", 2)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, int(tos))
    s.sendto(tag.encode().ljust(int(size), b"."), (dst, port))
"""

# Prints one JSON line per datagram: {"tos": N, "payload": "..."}; the TOS comes from the
# IP_TOS control message (IP_RECVTOS), i.e. the inner header as the TAP delivered it.
_RECEIVER = r"""
import json, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
while True:
    data, anc, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(4))
    tos = None
    for level, kind, val in anc:
        if level == socket.IPPROTO_IP and kind == socket.IP_TOS:
            tos = val[0]
    print(json.dumps({"tos": tos, "payload": data.decode().rstrip(".")}), flush=True)
"""

REMARK_RULES = """
table bridge sttremark {
  chain remark {
    type filter hook forward priority 0; policy accept;
    ether type ip tcp dport %(port)d ip dscp set %(dscp)d ip ecn set ce counter
    ether type ip6 tcp dport %(port)d ip6 dscp set %(dscp)d ip6 ecn set ce counter
  }
}
""" % {"port": H.STT_PORT, "dscp": REMARK_DSCP}

# R25/R27 across segments: the offset-0 segment of every STT frame gets DSCP AF12 and keeps
# its ECN field; every later segment gets EF and CE.
FIRST_DSCP, LATER_DSCP = 12, 46
SPLIT_RULES = """
table bridge sttremark {
  chain remark {
    type filter hook forward priority 0; policy accept;
    ether type ip tcp dport %(port)d tcp sequence & 0xffff == 0 ip dscp set %(first)d counter
    ether type ip tcp dport %(port)d tcp sequence & 0xffff != 0 ip dscp set %(later)d \\
        ip ecn set ce counter
    ether type ip6 tcp dport %(port)d tcp sequence & 0xffff == 0 ip6 dscp set %(first)d counter
    ether type ip6 tcp dport %(port)d tcp sequence & 0xffff != 0 ip6 dscp set %(later)d \\
        ip6 ecn set ce counter
  }
}
""" % {"port": H.STT_PORT, "first": FIRST_DSCP, "later": LATER_DSCP}
BIG = 4000  # UDP payload bytes: one inner packet (TAP MTU 9000), three segments (MTU 1500)


def tos(dscp, ecn):
    return dscp << 2 | ecn


def outer_and_inner_tos(raw, src):
    """(outer TOS, inner TOS, inner UDP payload) of an offset-0 STT segment from `src`
    that carries an inner IPv4/UDP datagram, or None."""
    f = H.Frame(raw)
    if f.proto != 6 or f.dport != H.STT_PORT or f.ip_src != src:
        return None
    p = f.payload
    if f.ethertype == 0x0800:
        outer = p[1]
        l4 = (p[0] & 0xF) * 4
    else:
        outer = ((p[0] & 0x0F) << 4) | (p[1] >> 4)
        l4 = 40
    tcp = p[l4:]
    seq = struct.unpack("!I", tcp[4:8])[0]
    if seq & 0xFFFF != 0:
        return None
    inner = tcp[(tcp[12] >> 4) * 4 + 18:]  # after the TCP header and the STT header
    if len(inner) < 14 + 28 or inner[12:14] != b"\x08\x00":
        return None
    ip = inner[14:]
    if ip[9] != 17:
        return None
    ihl = (ip[0] & 0xF) * 4
    return outer, ip[1], ip[ihl + 8:].decode(errors="replace")


class DscpEcnBase:
    family = 4
    dscp = "inherit"  # [underlay] dscp
    ecn = "normal"    # [underlay] ecn

    @classmethod
    def build_topology(cls):
        cls.sw, cls.hosts, cls.under = H.bridged_hosts(2, cls.family)
        for h in cls.hosts:
            # The capture must show the outer headers as they leave (no offload pending).
            h.exec(["ethtool", "-K", "veth0", "tx", "off"])
        extra = "dscp = %s\necn = %s" % (
            '"inherit"' if cls.dscp == "inherit" else str(cls.dscp), H.toml_str(cls.ecn))
        cls.daemons = []
        for i, h in enumerate(cls.hosts):
            net = dict(NET, peers=[cls.under[1 - i]])
            d = H.Daemon(h, cls.under[i], [net], config_text=H.render_config(
                "veth0", cls.under[i], "@SOCK@", [net], extra_underlay=extra))
            cls.daemons.append(d.start())
            H.setup_tap(h, net, INNER[i] + "/24", mac=MACS[i])
            # No ARP through the tunnel: every inner packet is one of ours.
            h.ip(["neigh", "replace", INNER[1 - i], "lladdr", MACS[1 - i], "dev",
                  H.tap_name(net), "nud", "permanent"])
        cls.recv_path = "%s/%s-recv.jsonl" % (H.tmpdir(), cls.__name__)
        cls.recv_file = open(cls.recv_path, "w")
        cls.receiver = cls.hosts[1].popen(
            [sys.executable, "-c", _RECEIVER, INNER[1], str(UDP_PORT)], stdout=cls.recv_file)
        H.wait_for(lambda: cls.receiver.poll() is not None or any(
            ":%d " % UDP_PORT in l + " " for l in
            cls.hosts[1].exec(["ss", "-Hlun"]).stdout.splitlines()), 10,
            "the UDP receiver to bind")
        if cls.receiver.poll() is not None:
            raise H.HarnessError("UDP receiver exited with %s" % cls.receiver.returncode)

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.recv_file.close()

    # ---------------------------------------------------------------- expectations

    def expect_outer(self, dscp_in, ecn_in):
        dscp = dscp_in if self.dscp == "inherit" else self.dscp
        ecn = ecn_in if self.ecn == "normal" else NOT_ECT
        return tos(dscp, ecn)

    def expect_inner_remarked(self, dscp_in, ecn_in, outer_dscp=REMARK_DSCP):
        """The TOS h2 sees after the outer was set to `outer_dscp` + CE (on the offset-0
        segment, for the DSCP; on any segment, for CE), or None for a drop."""
        dscp = outer_dscp if self.dscp == "inherit" else dscp_in
        if self.ecn == "off":
            return tos(dscp, ecn_in)
        if ecn_in == NOT_ECT:
            return None
        return tos(dscp, CE)

    # ---------------------------------------------------------------- helpers

    def received(self):
        with open(self.recv_path) as f:
            return [json.loads(l) for l in f.read().splitlines() if l.endswith("}")]

    def send(self, phase, size=0):
        """Sends SENT with a phase tag, padded to `size` bytes; returns {tag: (dscp, ecn)}."""
        items, sent = [], {}
        for dscp, ecn in SENT:
            payload = "dscpecn-%s-%s-%d-%d" % (type(self).__name__, phase, dscp, ecn)
            items.append("%d:%d:%s" % (tos(dscp, ecn), size, payload))
            sent[payload] = (dscp, ecn)
        self.hosts[0].exec([sys.executable, "-c", _SENDER, INNER[1], str(UDP_PORT)] + items)
        return sent

    def wait_fence(self, sent):
        """Waits for the last datagram sent (CE inner: delivered in every mode) and returns
        {payload: TOS} of everything received. The datagrams are one flow through one
        single-threaded sttd at each end, so once the last has arrived every earlier one
        has been delivered or dropped (and counted)."""
        fence = list(sent)[-1]

        def got():
            r = {m["payload"]: m["tos"] for m in self.received()}
            return r if fence in r else None
        return H.wait_for(got, 10, "datagram %s at h2" % fence)

    def not_ect_drops(self):
        return self.daemons[1].ctl_json(["stats"])["networks"]["blue"]["decap"][
            "drop_ecn_not_ect"]

    def reassembled(self):
        return self.daemons[1].ctl_json(["stats"])["networks"]["blue"]["datapath"][
            "rx_reassembled_frames"]

    def remark_hits(self):
        j = json.loads(self.sw.exec(["nft", "-j", "list", "table", "bridge", "sttremark"]).stdout)
        return sum(e["rule"]["expr"][-1]["counter"]["packets"] for e in j["nftables"]
                   if "rule" in e)

    def assert_remarked_inner(self, sent, got, outer_dscp=REMARK_DSCP):
        """Each datagram of `sent` arrived in `got` with the inner TOS RFC 6040 and the DSCP
        model give for the remarked outer header, or was dropped (CE over Not-ECT). Returns
        how many should have been dropped."""
        dropped = 0
        for payload, (dscp, ecn) in sent.items():
            want = self.expect_inner_remarked(dscp, ecn, outer_dscp=outer_dscp)
            dropped += want is None
            with self.subTest(direction="rx remarked", inner=(dscp, ecn)):
                if want is None:
                    self.assertNotIn(payload, got, "CE over Not-ECT was delivered")
                else:
                    self.assertEqual(got.get(payload), want, "inner TOS %s, expected %#x" %
                                     (got.get(payload), want))
        return dropped

    # ---------------------------------------------------------------- the test

    def test_outer_on_transmit_and_inner_on_decapsulation(self):
        h1 = self.hosts[0]
        drops0 = self.not_ect_drops()

        # Phase 1: no remarking. Capture the outer headers h1 sends; everything arrives
        # with the TOS it was sent with (the positive control for the drop below).
        cap = H.Capture(h1, "veth0", name="dscp-ecn-%s" % type(self).__name__)
        try:
            sent = self.send("plain")
            got = self.wait_fence(sent)
        finally:
            raw = cap.stop()
        outer = {}
        for r in raw:
            t = outer_and_inner_tos(r, self.under[0])
            if t and t[2] in sent:
                outer[t[2]] = (t[0], t[1])
        for payload, (dscp, ecn) in sent.items():
            with self.subTest(direction="tx", inner=(dscp, ecn)):
                self.assertIn(payload, outer, "no STT segment carrying %s captured" % payload)
                self.assertEqual(outer[payload][1], tos(dscp, ecn), "inner TOS on the wire")
                self.assertEqual(outer[payload][0], self.expect_outer(dscp, ecn),
                                 "outer TOS %#x for inner %#x" %
                                 (outer[payload][0], tos(dscp, ecn)))
            with self.subTest(direction="rx unremarked", inner=(dscp, ecn)):
                self.assertEqual(got.get(payload), tos(dscp, ecn), "not delivered as sent")
        self.assertEqual(self.not_ect_drops(), drops0)

        # Phase 2: the switch sets every STT segment's outer DSCP to 34 and ECN to CE.
        self.sw.exec(["nft", "-f", "-"], input=REMARK_RULES)
        try:
            sent = self.send("remarked")
            got = self.wait_fence(sent)
            hits = self.remark_hits()
        finally:
            self.sw.exec(["nft", "delete", "table", "bridge", "sttremark"], check=False)
        self.assertGreaterEqual(hits, len(sent), "the switch remarked too few segments")
        dropped = self.assert_remarked_inner(sent, got)
        self.assertEqual(self.not_ect_drops(), drops0 + dropped, "drop_ecn_not_ect")

    def test_dscp_from_first_segment_and_ce_from_a_later_one(self):
        # R25 and R27 through sttd: multi-segment frames whose offset-0 segment is
        # remarked AF12 (ECN kept) and whose later segments are remarked EF + CE.
        drops0, reasm0 = self.not_ect_drops(), self.reassembled()
        self.sw.exec(["nft", "-f", "-"], input=SPLIT_RULES)
        try:
            sent = self.send("split", size=BIG)
            got = self.wait_fence(sent)
            j = json.loads(self.sw.exec(["nft", "-j", "list", "table", "bridge",
                                         "sttremark"]).stdout)
        finally:
            self.sw.exec(["nft", "delete", "table", "bridge", "sttremark"], check=False)
        hits = [e["rule"]["expr"][-1]["counter"]["packets"] for e in j["nftables"]
                if "rule" in e]
        first_hits, later_hits = (hits[0], hits[1]) if self.family == 4 else (hits[2], hits[3])
        self.assertGreaterEqual(first_hits, len(sent), "offset-0 segments remarked")
        self.assertGreaterEqual(later_hits, 2 * len(sent), "later segments remarked")
        self.assertEqual(self.reassembled() - reasm0, len(sent),
                         "every frame should have been reassembled from segments")
        dropped = self.assert_remarked_inner(sent, got, outer_dscp=FIRST_DSCP)
        self.assertEqual(self.not_ect_drops(), drops0 + dropped, "drop_ecn_not_ect")


class UniformNormalIPv4(DscpEcnBase, H.SystemTestCase):
    """The defaults: uniform DSCP model, RFC 6040 normal mode."""


class UniformNormalIPv6(DscpEcnBase, H.SystemTestCase):
    family = 6


class PipeCompatIPv4(DscpEcnBase, H.SystemTestCase):
    dscp = 40
    ecn = "compat"


class UniformOffIPv4(DscpEcnBase, H.SystemTestCase):
    """ecn = "off" with the uniform model: the DSCP written inward shows the remarked
    outer header reached sttd, and its CE must then have been ignored."""
    ecn = "off"


class PipeNormalIPv6(DscpEcnBase, H.SystemTestCase):
    family = 6
    dscp = 0
    ecn = "normal"


if __name__ == "__main__":
    H.main()
