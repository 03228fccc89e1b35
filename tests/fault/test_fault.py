#!/usr/bin/env python3
"""Underlay faults: h1 -- mid -- h2, where mid runs stt_impair (tests/fault/stt_impair.cpp),
forwarding every frame between its two veths with seeded loss, reordering, duplication
and corruption. The hosts' veths have their TX offloads off, so mid sees (and impairs)
the wire form: MTU-sized segments whose outer checksums are already final.

* With 1% loss, 2% reordering and 1% duplication, an inner TCP transfer of 8 MiB h1 -> h2
  completes and the SHA-256 of what arrived equals that of what was sent.
* With 5% of frames corrupted (one random bit flipped in the IP header, TCP header or
  payload), a sniffer on h2's TAP checks every inner frame the test sent: inner IPv4
  header checksum, lengths, and a SHA-256 over the UDP payload carried in the payload
  itself (the inner UDP checksum is disabled, SO_NO_CHECK, so only STT's outer checksums
  protect the bytes). No corrupted frame may be delivered. The control: one datagram
  sent with a deliberately wrong digest is detected, so the check can fail."""

import hashlib
import json
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "system"))
import stt_harness as H  # noqa: E402

IMPAIR = os.environ.get("STT_IMPAIR", "")
NET = {"name": "blue", "context_id": 0xFA17, "mtu": 9000}
INNER = ["192.168.62.1", "192.168.62.2"]
TRANSFER_BYTES = 8 << 20

TCP_RECEIVER = r"""
import hashlib, json, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 5001)); s.listen(1); s.settimeout(120)
open(sys.argv[2] + ".ready", "w").close()
c, _ = s.accept(); c.settimeout(120)
h, n = hashlib.sha256(), 0
while True:
    b = c.recv(1 << 20)
    if not b:
        break
    h.update(b); n += len(b)
json.dump({"bytes": n, "sha256": h.hexdigest()}, open(sys.argv[2], "w"))
"""

TCP_SENDER = r"""
import hashlib, json, random, socket, sys
n = int(sys.argv[2])
data = random.Random(1234).randbytes(n)
c = socket.create_connection((sys.argv[1], 5001), timeout=120)
c.sendall(data); c.shutdown(socket.SHUT_WR)
c.recv(1)
print(json.dumps({"bytes": n, "sha256": hashlib.sha256(data).hexdigest()}))
"""

MAGIC = b"STTFAULT"
CONTROL_SEQ = 0xFFFFFFF0
END_SEQ = 0xFFFFFFFF

UDP_SENDER = r"""
import hashlib, random, socket, struct, sys, time
dst, count = sys.argv[1], int(sys.argv[2])
MAGIC, CONTROL, END = b"STTFAULT", 0xFFFFFFF0, 0xFFFFFFFF
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 11, 1)                  # SO_NO_CHECK: no inner UDP checksum
s.setsockopt(socket.IPPROTO_IP, 10, 2)                  # IP_MTU_DISCOVER = DO: no inner frags
rnd = random.Random(99)
def dgram(seq, body, wrong=False):
    digest = hashlib.sha256(body).digest()
    if wrong:
        digest = bytes([digest[0] ^ 1]) + digest[1:]
    return MAGIC + struct.pack("!I", seq) + digest + body
for seq in range(count):
    s.sendto(dgram(seq, rnd.randbytes(rnd.randint(64, 8000))), (dst, 6001))
    if seq % 32 == 31:
        time.sleep(0.002)   # pacing: the test is about corruption, not queue overflow
s.sendto(dgram(CONTROL, rnd.randbytes(500), wrong=True), (dst, 6001))
for _ in range(50):
    s.sendto(dgram(END, b"end"), (dst, 6001))
    time.sleep(0.01)
"""

UDP_SNIFFER = r"""
import hashlib, json, socket, struct, sys, time
dev, out = sys.argv[1], sys.argv[2]
MAGIC, CONTROL, END = b"STTFAULT", 0xFFFFFFF0, 0xFFFFFFFF
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xFFFF) + (s >> 16)
    return s
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((dev, 0)); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 20)
s.settimeout(1)
open(out + ".ready", "w").close()
good, bad, control, seqs = 0, [], 0, set()
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    try:
        f, addr = s.recvfrom(70000)
    except socket.timeout:
        continue
    if addr[2] == socket.PACKET_OUTGOING or len(f) < 14 + 20 + 8 or f[12:14] != b"\x08\x00":
        continue
    ip = f[14:]
    ihl = (ip[0] & 0xF) * 4
    if ip[9] != 17 or ihl < 20 or len(ip) < ihl + 8:
        continue
    dport = struct.unpack("!H", ip[ihl + 2:ihl + 4])[0]
    sport_ok = True
    problems = []
    if dport != 6001 and MAGIC not in ip:
        continue          # not ours, and not ours corrupted either
    if csum(ip[:ihl]) != 0xFFFF: problems.append("inner IPv4 header checksum")
    tl = struct.unpack("!H", ip[2:4])[0]
    if tl != len(ip): problems.append("IP total length %d != %d" % (tl, len(ip)))
    ulen = struct.unpack("!H", ip[ihl + 4:ihl + 6])[0]
    if ulen != len(ip) - ihl: problems.append("UDP length")
    p = ip[ihl + 8:]
    seq = None
    if len(p) < 44 or p[:8] != MAGIC:
        problems.append("magic")
    else:
        seq = struct.unpack("!I", p[8:12])[0]
        if hashlib.sha256(p[44:]).digest() != p[12:44]:
            problems.append("payload digest")
    if seq == END and not problems:
        break
    if seq == CONTROL and problems == ["payload digest"]:
        control += 1
        continue
    if problems:
        bad.append({"seq": seq, "len": len(f), "problems": problems, "head": f[:80].hex()})
    else:
        good += 1; seqs.add(seq)
json.dump({"good": good, "distinct": len(seqs), "bad": bad, "control": control,
           "ended": time.monotonic() < deadline}, open(out, "w"))
"""


class UnderlayFaults(H.SystemTestCase):
    def setUp(self):
        if not IMPAIR or not os.access(IMPAIR, os.X_OK):
            raise H.HarnessError("STT_IMPAIR=%r is not an executable; build stt_impair" % IMPAIR)
        self.h1, self.mid, self.h2 = H.Host("h1"), H.Host("mid"), H.Host("h2")
        H.veth(self.h1, self.mid, a_if="veth0", b_if="to-h1")
        H.veth(self.mid, self.h2, a_if="to-h2", b_if="veth0")
        hosts, under = [self.h1, self.h2], ["10.0.0.1", "10.0.0.2"]
        for dev in ("to-h1", "to-h2"):
            self.mid.exec(["ethtool", "-K", dev, "tx", "off", "tso", "off", "gso", "off"])
        for h, a in zip(hosts, under):
            H.add_addr(h, "veth0", a + "/24")
            # Wire form on the underlay: the kernel finishes checksums and segments before
            # the veth, so mid impairs exactly what a NIC would have put on a wire.
            h.exec(["ethtool", "-K", "veth0", "tx", "off", "tso", "off", "gso", "off"])
            h.quiet_new_links()
        self.daemons = []
        for i, h in enumerate(hosts):
            net = dict(NET, peers=[under[1 - i]])
            self.daemons.append(H.Daemon(h, under[i], [net], label="%s-%s" %
                                         (h.short, self._testMethodName[5:20])).start())
            H.setup_tap(h, net, INNER[i] + "/24")
        macs = [h.mac("stt-blue") for h in hosts]
        for i, h in enumerate(hosts):
            h.ip(["neigh", "replace", INNER[1 - i], "lladdr", macs[1 - i], "dev", "stt-blue",
                  "nud", "permanent"])
        self.impair_out = os.path.join(H.tmpdir(), "impair-%s.out" % self._testMethodName)

    def tearDown(self):
        H.cleanup_all()

    def start_impair(self, *args):
        self.impair_log = open(self.impair_out, "w")
        self.impair = self.mid.popen([IMPAIR, "to-h1", "to-h2"] + list(args), stdout=self.impair_log,
                                     stderr=self.impair_log)
        H.wait_for(lambda: "ready" in open(self.impair_out).read() or
                   self.impair.poll() is not None, 10, "stt_impair to start")
        self.assertIsNone(self.impair.poll(), open(self.impair_out).read())
        # The path works through the forwarder (and the peers' next hops resolve).
        ok = False
        for _ in range(5):
            ok, out = H.ping(self.h1, INNER[1], count=2, deadline=5, dont_fragment=False)
            if ok:
                break
        self.assertTrue(ok, "no overlay ping through stt_impair:\n" + out)

    def stop_impair(self):
        self.impair.send_signal(signal.SIGTERM)
        self.impair.wait(timeout=10)
        self.impair_log.close()
        text = open(self.impair_out).read()
        line = [l for l in text.splitlines() if l.startswith("forwarded=")]
        self.assertTrue(line, "stt_impair printed no counts:\n" + text)
        return {k: int(v) for k, v in (kv.split("=") for kv in line[-1].split())}

    def test_tcp_transfer_survives_loss_reordering_duplication(self):
        self.start_impair("--loss", "1", "--reorder", "2", "--reorder-depth", "8",
                          "--dup", "1", "--seed", "7")
        result = os.path.join(H.tmpdir(), "tcp-received.json")
        recv = self.h2.popen([sys.executable, "-c", TCP_RECEIVER, INNER[1], result])
        H.wait_for(lambda: os.path.exists(result + ".ready") or recv.poll() is not None, 10,
                   "the TCP receiver to listen")
        p = self.h1.exec([sys.executable, "-c", TCP_SENDER, INNER[1], str(TRANSFER_BYTES)],
                         timeout=180, check=False)
        self.assertEqual(p.returncode, 0, "the inner TCP transfer failed: %s" % p.stderr)
        sent = json.loads(p.stdout)
        H.wait_for(lambda: os.path.exists(result) and os.path.getsize(result) > 0, 30,
                   "the receiver's digest")
        got = json.load(open(result))
        counts = self.stop_impair()
        print("fault: %d bytes through loss/reorder/dup, impairments %s" %
              (got["bytes"], counts))
        self.assertEqual(got, sent, "bytes received differ from bytes sent")
        for k in ("lost", "reordered", "duplicated"):
            self.assertGreater(counts[k], 0, "stt_impair did not impair (%s = 0): %s" %
                               (k, counts))
        reasm = self.daemons[1].ctl_json(["stats"])["global"]["reassembly"]
        self.assertGreater(reasm["drop_duplicate"] + reasm["drop_overlap"], 0,
                           "duplicated segments reached h2's sttd but none was counted: %s" %
                           reasm)

    def test_corruption_never_delivers_a_corrupted_frame(self):
        self.start_impair("--corrupt", "5", "--seed", "11")
        result = os.path.join(H.tmpdir(), "udp-sniffed.json")
        sniff = self.h2.popen([sys.executable, "-c", UDP_SNIFFER, "stt-blue", result])
        H.wait_for(lambda: os.path.exists(result + ".ready") or sniff.poll() is not None, 10,
                   "the TAP sniffer")
        count = 3000
        self.h1.exec([sys.executable, "-c", UDP_SENDER, INNER[1], str(count)], timeout=120)
        H.wait_for(lambda: sniff.poll() is not None, 130, "the sniffer to see the end marker")
        got = json.load(open(result))
        counts = self.stop_impair()
        st = self.daemons[1].ctl_json(["stats"])["global"]
        caught = {k: v for k, v in st["rx"].items() if k.startswith("drop_") and v}
        print("fault: %d of %d datagrams delivered intact, %d frames corrupted by stt_impair, "
              "rx drops at h2 %s" % (got["good"], count, counts["corrupted"], caught))
        self.assertTrue(got["ended"], "the sniffer never saw the end marker: %s" % got)
        self.assertEqual(got["bad"], [], "corrupted inner frames reached h2's TAP")
        self.assertEqual(got["control"], 1, "control: the datagram with a wrong digest was "
                         "not detected, so the check could not have failed")
        self.assertGreater(counts["corrupted"], 50, counts)
        self.assertGreater(st["rx"]["drop_bad_tcp_checksum"] + st["rx"]["drop_bad_ip_checksum"],
                           0, "no corrupted segment was counted by h2's sttd: %s" % st["rx"])
        self.assertGreater(got["good"], count // 2, "too few datagrams arrived for the "
                           "result to mean anything: %s" % got)


if __name__ == "__main__":
    H.main()
