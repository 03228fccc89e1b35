#!/usr/bin/env python3
"""Invalid configuration files: `sttd -c FILE` exits 2 with exactly one error line that
names the file, the line and the key at fault, and creates nothing (no TAP, no control
socket, no firewall rule). Each case is the valid base config with one defect; the line
marked "# <-" is the line the error must name. The base config itself must start."""

import os
import re
import subprocess

import stt_harness as H

BASE = """[underlay]
interface = "veth0"
local = "10.0.0.1"
port = 7471

[control]
socket = "@SOCK@"

[[network]]
name = "blue"
context_id = 0x1234
tap = "sttbad0"
mtu = 1500
peers = ["10.0.0.2", "10.0.0.3"]
[[network.fdb]]
mac = "02:00:00:00:00:02"
peer = "10.0.0.2"

[[network]]
name = "red"
context_id = 0x5678
tap = "sttbad1"
peers = ["10.0.0.2"]
"""


def case(name, key, old, new):
    """The base config with `old` (one or more whole lines) replaced by `new`."""
    assert old in BASE, name
    return (name, key, BASE.replace(old, new, 1))


CASES = [
    case("missing underlay.interface", "interface",
         '[underlay]\ninterface = "veth0"\n', "[underlay]  # <-\n"),
    case("missing underlay.local", "local", '[underlay]\ninterface = "veth0"\nlocal = "10.0.0.1"\n',
         '[underlay]  # <-\ninterface = "veth0"\n'),
    case("bad local IP", "local", 'local = "10.0.0.1"', 'local = "10.0.0.300"  # <-'),
    case("bad peer IP", "peers", 'peers = ["10.0.0.2", "10.0.0.3"]',
         'peers = ["10.0.0.2", "10.0.0.x"]  # <-'),
    case("port out of range", "port", "port = 7471", "port = 70000  # <-"),
    case("duplicate context_id", "context_id", "context_id = 0x5678",
         "context_id = 0x1234  # <-"),
    case("duplicate name", "name", 'name = "red"', 'name = "blue"  # <-'),
    case("duplicate tap", "tap", 'tap = "sttbad1"', 'tap = "sttbad0"  # <-'),
    case("missing context_id", "context_id", '[[network]]\nname = "red"\ncontext_id = 0x5678\n',
         '[[network]]  # <-\nname = "red"\n'),
    case("context_id not a number", "context_id", "context_id = 0x5678",
         'context_id = "zebra"  # <-'),
    case("context_id negative", "context_id", "context_id = 0x5678", "context_id = -1  # <-"),
    case("unknown key", "colour", 'tap = "sttbad1"', 'tap = "sttbad1"\ncolour = "red"  # <-'),
    case("unknown table", "bogus", "[control]", "[bogus]  # <-\nx = 1\n[control]"),
    case("TOML syntax error", None, "mtu = 1500", "mtu = = 1500  # <-"),
    case("fdb peer not in peers", "peer", 'peer = "10.0.0.2"', 'peer = "10.0.0.9"  # <-'),
    case("bad MAC", "mac", 'mac = "02:00:00:00:00:02"', 'mac = "02:00:00:00:00"  # <-'),
    case("MTU too large", "mtu", "mtu = 1500", "mtu = 70000  # <-"),
    case("TAP name too long", "tap", 'tap = "sttbad0"', 'tap = "stt-name-far-too-long"  # <-'),
    # Checked against the host, still before anything is created (issue 12).
    case("underlay interface does not exist", "interface", 'interface = "veth0"',
         'interface = "veth9"  # <-'),
    case("local is not an address of the interface", "local", 'local = "10.0.0.1"',
         'local = "10.0.0.77"  # <-'),
]


class InvalidConfig(H.SystemTestCase):
    @classmethod
    def build_topology(cls):
        cls.hosts, cls.under = H.two_hosts(4)
        cls.h = cls.hosts[0]
        cls.links = cls.h.links()
        cls.dir = H.tmpdir()

    def write(self, name, text):
        sock = os.path.join(self.dir, "bad.sock")
        path = os.path.join(self.dir, re.sub(r"\W+", "-", name) + ".toml")
        with open(path, "w") as f:
            f.write(text.replace("@SOCK@", sock))
        return path, sock

    def assert_nothing_created(self, what, sock):
        self.assertEqual(self.h.links(), self.links, "%s: links were created" % what)
        self.assertEqual(self.h.exec(["nft", "list", "ruleset"]).stdout.strip(), "",
                         "%s: a firewall rule was installed" % what)

    def run_sttd(self, path, sock):
        """Runs sttd -c path; returns (exit status, stdout, stderr). If it accepts the file
        and keeps running, it is stopped with SIGTERM after 5 s (status "running")."""
        p = self.h.popen([H.STTD, "-c", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = p.communicate(timeout=5)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            p.terminate()
            out, err = p.communicate(timeout=10)
            rc = "running (accepted the file)"
        finally:
            if p in H._processes:
                H._processes.remove(p)
        if os.path.exists(sock):  # keep one failure from spilling into the next case
            os.unlink(sock)
            err += b"\n[harness: control socket was left behind]"
        return rc, out.decode(errors="replace"), err.decode(errors="replace")

    def test_0_base_config_is_valid(self):
        # Control: without the defect, the same file starts a daemon.
        nets = [{"name": "blue", "tap": "sttbad0"}, {"name": "red", "tap": "sttbad1"}]
        d = H.Daemon(self.h, None, nets, label="base", config_text=BASE).start()
        self.assertEqual(d.stop(), 0, d.log_text())
        self.assert_nothing_created("after the base config's daemon stopped", d.socket)
        self.assertFalse(os.path.exists(d.socket), "control socket left after SIGTERM")

    def test_cases(self):
        self.assertGreaterEqual(len(CASES), 8)
        for name, key, text in CASES:
            with self.subTest(name):
                lines = text.splitlines()
                marked = [i + 1 for i, l in enumerate(lines) if l.endswith("# <-")]
                self.assertEqual(len(marked), 1, "case %s is malformed" % name)
                path, sock = self.write(name, text)
                rc, out, errtext = self.run_sttd(path, sock)
                err = [l for l in errtext.splitlines() if l.strip()]
                self.assertEqual(rc, 2, "%s: exit status %s, stderr:\n%s" % (name, rc, errtext))
                self.assertEqual(len(err), 1, "%s: expected one error line, got:\n%s" %
                                 (name, errtext))
                self.assertIn("%s:%d:" % (path, marked[0]), err[0],
                              "%s: error does not name %s line %d" % (name, path, marked[0]) + "\n" + err[0])
                if key:
                    self.assertRegex(err[0], r"\b%s\b" % re.escape(key),
                                     "%s: error does not name key %s:\n%s" % (name, key, err[0]))
                self.assertEqual(out.strip(), "", "%s: printed on stdout" % name)
                self.assert_nothing_created(name, sock)

    def test_check_flag(self):
        # `sttd --check` (like sshd -t): 0 for the base config, 2 with the same one line
        # as a start for each defect, and nothing created either way.
        path, sock = self.write("check-base", BASE)
        p = self.h.exec([H.STTD, "--check", "-c", path], check=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), "%s: OK" % path)
        self.assert_nothing_created("--check of the base config", sock)
        for name, key, text in CASES:
            with self.subTest(name):
                path, sock = self.write("check " + name, text)
                p = self.h.exec([H.STTD, "--check", "-c", path], check=False)
                self.assertEqual(p.returncode, 2, "%s: %s" % (name, p.stderr))
                self.assertIn(path + ":", p.stderr)
                self.assert_nothing_created("--check " + name, sock)

    def test_missing_file(self):
        path = os.path.join(self.dir, "does-not-exist.toml")
        p = self.h.exec([H.STTD, "-c", path], check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(path, p.stderr)


if __name__ == "__main__":
    H.main()
