#!/usr/bin/env python3
"""sttd's sd_notify protocol, with this test as the service manager: its own
NOTIFY_SOCKET (an AF_UNIX datagram socket, credentials on) and WATCHDOG_USEC and
WATCHDOG_PID in sttd's environment, as systemd sets them for a Type=notify unit
with WatchdogSec=.

- READY=1 comes only once the TAPs, the nftables table and the control socket exist,
  and no message comes before it;
- WATCHDOG=1 comes at half the interval asked for, never sooner;
- SIGHUP and `sttctl reload` each give RELOADING=1, then READY=1 after the reload
  took effect;
- SIGTERM gives STOPPING=1, and sttd exits 0;
- every message comes from sttd's main PID (NotifyAccess=main would drop others).
"""

import os
import select
import signal
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "system"))
import stt_harness as H  # noqa: E402

WATCHDOG_USEC = 1_000_000       # as WatchdogSec=1s would set it: pings every 0.5 s
NETS = [{"name": "blue", "context_id": 0x71}, {"name": "red", "context_id": 0x72,
                                                "tap": "sttred7"}]
GREEN = {"name": "green", "context_id": 0x73}


class Manager:
    """The service manager's side: receives notifications with the sender's PID."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(path)
        self.log = []   # (monotonic s, pid, {key: value})

    def receive(self, timeout):
        """The next message, or None when none came within timeout seconds."""
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return None
        data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        pid = None
        for level, kind, blob in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", blob[:12])[0]
        fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
        msg = (time.monotonic(), pid, fields)
        self.log.append(msg)
        return msg

    def wait_for(self, key, timeout, skip=("WATCHDOG",)):
        """The next message holding `key`, skipping only messages made of `skip` keys."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            msg = self.receive(max(left, 0)) if left > 0 else None
            if msg is None:
                raise AssertionError("no %s=1 within %.1f s; messages: %s" %
                                     (key, timeout, [m[2] for m in self.log]))
            if key in msg[2]:
                return msg
            if not set(msg[2]) <= set(skip):
                raise AssertionError("%s came before %s=1" % (msg[2], key))


class SdNotify(H.SystemTestCase):
    @classmethod
    def build_topology(cls):
        cls.hosts, cls.under = H.two_hosts(4)
        cls.nets = [dict(n, peers=[cls.under[1]]) for n in NETS]
        cls.d = H.Daemon(cls.hosts[0], cls.under[0], cls.nets, label="h1")
        cls.manager = Manager(os.path.join(H.tmpdir(), "notify.sock"))

    def start(self):
        env = ["env", "NOTIFY_SOCKET=" + self.manager.path, "WATCHDOG_USEC=%d" % WATCHDOG_USEC]
        # WATCHDOG_PID must be sttd's own PID: the shell exports its $$ and execs sttd.
        cmd = env + ["sh", "-c", 'export WATCHDOG_PID=$$; exec "$0" "$@"', H.STTD, "-c",
                     self.d.config]
        logf = open(self.d.log, "a")
        self.d.proc = self.hosts[0].popen(cmd, stdout=logf, stderr=logf)
        logf.close()
        return self.d.proc.pid

    def assert_serving(self, taps):
        h1 = self.hosts[0]
        self.assertTrue(set(taps) <= h1.links(), "TAPs %s, links %s" % (taps, h1.links()))
        self.assertIn("sttd_7471", h1.exec(["nft", "list", "tables"]).stdout)
        self.assertTrue(os.path.exists(self.d.socket), "no control socket at READY=1")

    def test_ready_watchdog_reload_stop(self):
        pid = self.start()
        m = self.manager
        # 1. READY=1, first of all messages, with the service complete at that moment.
        t_ready, sender, fields = m.wait_for("READY", 30, skip=())
        self.assertEqual(fields["READY"], "1")
        self.assertEqual(sender, pid, "READY=1 not from sttd's main PID")
        self.assert_serving(["stt-blue", "sttred7"])
        self.assertIn("2 network(s) on underlay veth0", fields.get("STATUS", ""))
        self.assertEqual(self.d.ctl(["show"], check=False).returncode, 0)

        # 2. WATCHDOG=1 every WATCHDOG_USEC / 2, fed by the event loop. What queued up
        # while the checks above ran is dropped: it was received late, so its time is not
        # when it was sent. From here on the test only waits in select().
        while m.receive(0) is not None:
            pass
        pings = []
        while len(pings) < 6:
            msg = m.wait_for("WATCHDOG", 5)
            self.assertEqual(msg[1], pid)
            pings.append(msg[0])
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        half = WATCHDOG_USEC / 2e6
        print("watchdog gaps (s): %s, asked every %.3f s" % (["%.3f" % g for g in gaps], half))
        # Never sooner than asked (a few ms of slack for the two clocks' readings)...
        self.assertGreaterEqual(min(gaps), half - 0.02, gaps)
        # ... and on average close to it; an event loop tick is 25 ms, this machine is busy.
        self.assertLess(sum(gaps) / len(gaps), half * 1.3, gaps)
        self.assertLess(max(gaps), WATCHDOG_USEC / 1e6, "a gap as long as the timeout itself")

        # 3. SIGHUP: RELOADING=1, then READY=1 once the new network exists.
        with open(self.d.config, "w") as f:
            f.write(H.render_config("veth0", self.under[0], self.d.socket,
                                    self.nets + [dict(GREEN, peers=[self.under[1]])]))
        os.kill(pid, signal.SIGHUP)
        _, sender, fields = m.wait_for("RELOADING", 10)
        self.assertEqual(sender, pid)
        self.assertIn("MONOTONIC_USEC", fields)
        _, _, fields = m.wait_for("READY", 10)
        self.assert_serving(["stt-blue", "sttred7", "stt-green"])
        self.assertIn("3 network(s)", fields.get("STATUS", ""))

        # 4. `sttctl reload` (a refused one: the port changed) also goes RELOADING, READY.
        with open(self.d.config, "w") as f:
            f.write(H.render_config("veth0", self.under[0], self.d.socket, self.nets, port=7472))
        self.assertNotEqual(self.d.ctl(["reload"], check=False).returncode, 0)
        m.wait_for("RELOADING", 10)
        _, _, fields = m.wait_for("READY", 10)
        self.assertIn("3 network(s)", fields.get("STATUS", ""))

        # 5. SIGTERM: STOPPING=1, exit 0.
        os.kill(pid, signal.SIGTERM)
        _, sender, _ = m.wait_for("STOPPING", 10)
        self.assertEqual(sender, pid)
        self.assertEqual(self.d.proc.wait(timeout=20), 0, self.d.log_text()[-2000:])

    def test_no_watchdog_for_another_pid(self):
        """WATCHDOG_PID naming another process (a manager's child set it for its own
        child) means no watchdog: sttd must not ping, and READY=1 still comes."""
        env = ["env", "NOTIFY_SOCKET=" + self.manager.path, "WATCHDOG_USEC=200000",
               "WATCHDOG_PID=1"]
        logf = open(self.d.log, "a")
        self.d.proc = self.hosts[0].popen(env + [H.STTD, "-c", self.d.config], stdout=logf,
                                          stderr=logf)
        logf.close()
        self.manager.wait_for("READY", 30, skip=())
        # Four would-be intervals pass without a WATCHDOG=1 (no other message is due).
        msg = self.manager.receive(0.8)
        self.assertIsNone(msg, "unexpected message %s" % (msg and msg[2]))
        self.d.proc.send_signal(signal.SIGTERM)
        self.manager.wait_for("STOPPING", 10)
        self.assertEqual(self.d.proc.wait(timeout=20), 0)


if __name__ == "__main__":
    H.main()
