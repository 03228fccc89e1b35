#!/usr/bin/env python3
"""R17: sttd reads the underlay's large-receive-offload at startup and reports it.

What this machine allows: veth's LRO is "off [fixed]" and no device here (no netdevsim,
bonding or macvlan) has an LRO that can be switched on, so no test can watch sttd turn
LRO off or refuse to start because it cannot. That decision is unit-tested with a fake
NIC (tests/unit/lro_test.cpp). Here:

* sttd, with the default `lro = "disable"` and with `lro = "ignore"`, starts on a veth
  underlay and reports in `sttctl show` (underlay.lro) and in its log the state that
  ethtool(8) reports for the same interface, and that it did nothing;
* sttd's ethtool adapter, run alone (ethtool_probe), reads and switches a feature veth
  does let us switch (rx-gro), in agreement with ethtool(8) both ways: the ioctl path
  sttd would use to turn LRO off works on this kernel, and a wrong feature bit or a
  set that does nothing would fail here;
* a reload that changes `lro` is refused: the check runs only at startup."""

import os
import re

import stt_harness as H

PROBE = os.environ.get("STT_ETHTOOL_PROBE", "")
NET = {"name": "blue", "context_id": 0x17}


def ethtool_feature(host, dev, label):
    """(on, fixed) for `label` (e.g. large-receive-offload) as `ethtool -k` prints it."""
    out = host.exec(["ethtool", "-k", dev]).stdout
    m = re.search(r"^%s: (on|off)( \[fixed\])?$" % re.escape(label), out, re.M)
    if not m:
        raise H.HarnessError("ethtool -k %s has no %s line:\n%s" % (dev, label, out))
    return m.group(1) == "on", m.group(2) is not None


class Lro(H.SystemTestCase):
    @classmethod
    def build_topology(cls):
        if not PROBE or not os.access(PROBE, os.X_OK):
            raise H.HarnessError("STT_ETHTOOL_PROBE=%r is not an executable" % PROBE)
        cls.hosts, cls.under = H.two_hosts(4)
        cls.daemons = []
        for i, (h, setting) in enumerate(zip(cls.hosts, (None, "ignore"))):
            net = dict(NET, peers=[cls.under[1 - i]])
            extra = 'lro = "%s"' % setting if setting else ""
            text = H.render_config("veth0", cls.under[i], "@SOCK@", [net], extra_underlay=extra)
            cls.daemons.append(H.Daemon(h, cls.under[i], [net], config_text=text).start())

    def test_startup_reports_the_state_ethtool_reports(self):
        for h, d, setting in zip(self.hosts, self.daemons, ("disable", "ignore")):
            with self.subTest(setting=setting):
                on, fixed = ethtool_feature(h, "veth0", "large-receive-offload")
                got = d.ctl_json(["show"])["underlay"]["lro"]
                self.assertEqual(got, {"setting": setting, "state": "on" if on else "off",
                                       "fixed": fixed, "action": "none"})
                want_line = "underlay veth0: large-receive-offload is %s%s" % (
                    "on" if on else "off", " [fixed]" if fixed else "")
                self.assertIn(want_line, d.log_text())
                # The text form of `sttctl show` carries it too.
                text = d.ctl(["show"]).stdout
                self.assertRegex(text, r"(?m)^\s+lro:$")
                self.assertRegex(text, r"(?m)^\s+state\s+%s$" % ("on" if on else "off"))

    def test_adapter_reads_and_switches_a_feature_like_ethtool(self):
        h = self.hosts[0]

        def probe(*args):
            out = h.exec([PROBE, "veth0"] + list(args)).stdout.split()
            return out[1] == "on", out[2] == "fixed"

        # LRO: the adapter and ethtool agree (here: off, fixed).
        on, fixed = ethtool_feature(h, "veth0", "large-receive-offload")
        self.assertEqual(probe("rx-lro"), (on, fixed))
        before, gro_fixed = ethtool_feature(h, "veth0", "generic-receive-offload")
        self.assertFalse(gro_fixed, "veth's GRO should be switchable")
        try:
            for want in (not before, before, not before):
                # Switched by the adapter, seen by ethtool ...
                self.assertEqual(probe("rx-gro", "on" if want else "off"), (want, False))
                self.assertEqual(ethtool_feature(h, "veth0", "generic-receive-offload"),
                                 (want, False))
                # ... and switched back by ethtool, seen by the adapter.
                h.exec(["ethtool", "-K", "veth0", "gro", "off" if want else "on"])
                self.assertEqual(probe("rx-gro"), (not want, False))
        finally:
            h.exec(["ethtool", "-K", "veth0", "gro", "on" if before else "off"], check=False)
        # A feature name the kernel does not know is an error naming it.
        p = h.exec([PROBE, "veth0", "rx-no-such-feature"], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn('no feature "rx-no-such-feature"', p.stderr)
        self.assertIn("veth0", p.stderr)

    def test_reload_refuses_an_lro_change(self):
        d = self.daemons[0]
        net = dict(NET, peers=[self.under[1]])
        with open(d.config) as f:
            original = f.read()
        try:
            with open(d.config, "w") as f:
                f.write(H.render_config("veth0", self.under[0], d.socket, [net],
                                        extra_underlay='lro = "ignore"'))
            r = d.ctl(["reload"], check=False)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn('underlay.lro: changed from "disable" to "ignore"; restart required',
                          r.stderr)
            self.assertEqual(d.ctl_json(["show"])["underlay"]["lro"]["setting"], "disable")
        finally:
            with open(d.config, "w") as f:
                f.write(original)


if __name__ == "__main__":
    H.main()
