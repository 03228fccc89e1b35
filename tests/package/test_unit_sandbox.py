#!/usr/bin/env python3
"""sttd still works inside the sandbox packaging/systemd/sttd.service.in asks for.

systemd is not PID 1 on the test machine, so the unit cannot be started for real.
The settings are applied here with the kernel's own mechanisms, read from the unit
file itself, and sttd must start, carry traffic, reload and stop cleanly under them:
- CapabilityBoundingSet= and NoNewPrivileges=: `setpriv --bounding-set ... --no-new-privs`;
- ProtectSystem=strict with RuntimeDirectory=: a private mount namespace in which every
  mount outside /proc, /sys and /dev is read-only, and only the runtime directory is
  writable; ProtectKernelTunables=: /proc/sys and /sys read-only too;
- SystemCallFilter=, RestrictAddressFamilies=, RestrictNamespaces=,
  MemoryDenyWriteExecute= and DeviceAllow=: sttd and what it runs (nft; with the fast
  path, the self-test's child and its `ip`) are traced with strace, and every system call
  must be in the unit's filter (expanded by `systemd-analyze syscall-filter`), every socket
  of an allowed family, every namespace created of an allowed type, no mapping writable
  and executable, and /dev/net/tun the only device opened.
The run's fast-path mode (STT_FAST_PATH) is the config's: with "bpf", sttd must load,
self-test and attach the kernel fast path inside the same sandbox, and `sttctl show`
must say it runs.
"""

import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "system"))
import stt_harness as H  # noqa: E402

UNIT = os.path.join(H.REPO, "packaging", "systemd", "sttd.service.in")
NET = {"name": "blue", "context_id": 0x5A}
INNER = ["192.168.57.1", "192.168.57.2"]
# Devices systemd's DevicePolicy=closed allows besides DeviceAllow= (systemd.resource-control(5)).
CLOSED_POLICY_DEVICES = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom",
                         "/dev/tty", "/dev/ptmx"}
# RestrictNamespaces= names (systemd.exec(5)) of the clone flags strace prints.
NAMESPACE_FLAGS = {"CLONE_NEWCGROUP": "cgroup", "CLONE_NEWIPC": "ipc", "CLONE_NEWNET": "net",
                   "CLONE_NEWNS": "mnt", "CLONE_NEWPID": "pid", "CLONE_NEWUSER": "user",
                   "CLONE_NEWUTS": "uts"}


def unit_settings():
    out = {}
    with open(UNIT) as f:
        for line in f:
            m = re.match(r"^([A-Za-z]+)=(.*)$", line.strip())
            if m:
                out[m.group(1)] = m.group(2).strip()
    return out


def expand_syscall_groups():
    """{"@group": set(members, groups expanded)} from systemd-analyze."""
    text = H.run(["systemd-analyze", "syscall-filter"]).stdout
    groups, cur = {}, None
    for line in text.splitlines():
        if line.startswith("@"):
            cur = groups.setdefault(line.strip(), set())
        elif cur is not None and line.strip() and not line.strip().startswith("#"):
            cur.add(line.strip())

    def expand(name, seen=()):
        out = set()
        for m in groups.get(name, ()):
            out |= expand(m, seen + (name,)) if m.startswith("@") and m not in seen else {m}
        return out
    return {g: expand(g) for g in groups}


def sandboxed(cmd, runtime_dir, trace, caps):
    """cmd inside the unit's sandbox: a shell in a private mount namespace makes the
    file system read-only but for runtime_dir, then execs setpriv and strace."""
    bounding = "-all," + ",".join("+" + c.lower().replace("cap_", "") for c in caps)
    script = r"""
set -e
# Every mount read-only, as ProtectSystem=strict does, but the API file systems.
awk '{print $5}' /proc/self/mountinfo | sort -u | while read -r m; do
  case "$m" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*) continue ;; esac
  mount -o remount,bind,ro "$m" 2>/dev/null || true
done
# ProtectKernelTunables=: /proc/sys and /sys read-only (as bind mounts, as systemd does).
for m in /proc/sys /sys; do
  mount --rbind "$m" "$m"
  mount -o remount,bind,ro "$m"
done
# RuntimeDirectory=: the one writable place.
mount --bind "$RUNTIME" "$RUNTIME"
mount -o remount,bind,rw "$RUNTIME"
exec setpriv --bounding-set "$BOUNDING" --no-new-privs -- \
  strace -f -qq -o "$TRACE" -e trace=all -e signal=none "$@"
"""
    return ["env", "RUNTIME=" + runtime_dir, "TRACE=" + trace, "BOUNDING=" + bounding,
            "unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script,
            "sandbox"] + list(cmd)


class UnitSandbox(H.SystemTestCase):
    @classmethod
    def build_topology(cls):
        cls.unit = unit_settings()
        cls.hosts, cls.under = H.two_hosts(4)
        h1, h2 = cls.hosts
        cls.runtime = os.path.join(H.tmpdir(), "run-stt")
        os.makedirs(cls.runtime)
        cls.trace = os.path.join(cls.runtime, "strace.txt")
        cls.net1 = dict(NET, peers=[cls.under[1]])
        cls.d1 = H.Daemon(h1, cls.under[0], [cls.net1], label="h1")
        cls.d1.socket = os.path.join(cls.runtime, "sttd.sock")
        cls.write_config([cls.net1])
        cls.d2 = H.Daemon(h2, cls.under[1], [dict(NET, peers=[cls.under[0]])], label="h2").start()

    @classmethod
    def write_config(cls, nets):
        with open(cls.d1.config, "w") as f:
            f.write(H.render_config("veth0", cls.under[0], cls.d1.socket, nets))

    def start_sandboxed(self):
        caps = self.unit["CapabilityBoundingSet"].split()
        cmd = sandboxed([H.STTD, "-c", self.d1.config], self.runtime, self.trace, caps)
        logf = open(self.d1.log, "a")
        self.d1.proc = self.hosts[0].popen(cmd, stdout=logf, stderr=logf)
        logf.close()

        def ready():
            if self.d1.proc.poll() is not None:
                raise H.HarnessError("sandboxed sttd exited %s:\n%s" %
                                     (self.d1.proc.returncode, self.d1.log_text()))
            return self.d1.ctl(["show"], check=False).returncode == 0
        # strace slows start-up down; the bound is generous, the wait ends when it answers.
        H.wait_for(ready, 60, "sandboxed sttd to answer 'sttctl show'")

    def test_sttd_works_in_the_units_sandbox(self):
        h1, h2 = self.hosts
        self.start_sandboxed()
        self.assertIn("stt-blue", h1.links())
        tables = h1.exec(["nft", "list", "tables"]).stdout
        self.assertIn("sttd_7471", tables)
        # The fast path the run asks for runs inside the sandbox (self-test, load, attach).
        fast = self.d1.ctl_json(["show"])["fast_path"]
        self.assertEqual(fast["mode"], "bpf" if H.FAST_PATH == "bpf" else "off", fast)
        # Started with the unit's bounding set; once started, sttd keeps NET_ADMIN and
        # NET_RAW, drops the rest from its bounding set too (so nft gets no more), and has
        # no new privileges.
        status = open("/proc/%d/status" % self.sttd_pid()).read()
        net = (1 << 12) | (1 << 13)
        for field in ("CapBnd", "CapPrm", "CapEff"):
            v = int(re.search(r"^%s:\s*(\w+)" % field, status, re.M).group(1), 16)
            self.assertEqual(v, net, "%s %x: not NET_ADMIN|NET_RAW" % (field, v))
        self.assertRegex(status, r"NoNewPrivs:\s*1")

        # Traffic both ways through the sandboxed endpoint.
        H.setup_tap(h1, NET, INNER[0] + "/24", mac="02:00:00:00:57:01")
        H.setup_tap(h2, NET, INNER[1] + "/24", mac="02:00:00:00:57:02")
        ok, out = H.ping(h1, INNER[1], count=3, deadline=20)
        self.assertTrue(ok, "no overlay traffic from the sandboxed sttd:\n" + out)

        # A reload that creates a TAP (CAP_NET_ADMIN after the drop, config read-only).
        self.write_config([self.net1, {"name": "red", "context_id": 0x5B,
                                       "peers": [self.under[1]]}])
        # Signals go to sttd itself: the Popen is strace, which would kill its tracee.
        pid = self.sttd_pid()
        os.kill(pid, signal.SIGHUP)
        H.wait_for(lambda: "stt-red" in h1.links(), 30, "the reload to create stt-red")

        # SIGTERM: nft (run under the same sandbox) removes the table; exit 0.
        os.kill(pid, signal.SIGTERM)
        rc = self.d1.proc.wait(timeout=60)   # strace exits with its tracee's status
        self.assertEqual(rc, 0, self.d1.log_text()[-2000:])
        self.assertNotIn("sttd_7471", h1.exec(["nft", "list", "tables"]).stdout)
        self.assertFalse({"stt-blue", "stt-red"} & h1.links())
        self.check_trace()

    def sttd_pid(self):
        # sh -> setpriv -> strace -> sttd: the traced sttd is strace's child.
        out = subprocess.run(["pgrep", "-f", "^%s -c %s" % (re.escape(H.STTD),
                                                            re.escape(self.d1.config))],
                             capture_output=True, text=True).stdout.split()
        self.assertEqual(len(out), 1, "sttd processes: %s" % out)
        return int(out[0])

    def check_trace(self):
        groups = expand_syscall_groups()
        allowed = set()
        for item in self.unit["SystemCallFilter"].split():
            allowed |= groups[item] if item.startswith("@") else {item}
        families = set(self.unit["RestrictAddressFamilies"].split())
        ns_setting = self.unit["RestrictNamespaces"]
        namespaces = set() if ns_setting == "yes" else set(ns_setting.split())
        bad_namespaces = set()
        devices = {self.unit["DeviceAllow"].split()[0]}
        used, bad_families, wx, opened_dev = set(), set(), [], set()
        with open(self.trace) as f:
            for line in f:
                m = re.match(r"^\d+\s+(?:<\.\.\. )?(\w+)(?:\(| resumed>)", line)
                if not m:
                    continue
                used.add(m.group(1))
                s = re.match(r"^\d+\s+socket\((AF_\w+)", line)
                if s and s.group(1) not in families:
                    bad_families.add(s.group(1))
                if re.match(r"^\d+\s+(unshare|clone3?|setns)\(", line):
                    for flag in re.findall(r"CLONE_NEW\w+", line):
                        if NAMESPACE_FLAGS[flag] not in namespaces:
                            bad_namespaces.add("%s (%s)" % (NAMESPACE_FLAGS[flag], flag))
                if re.match(r"^\d+\s+(mmap|mprotect)\(", line) and "PROT_WRITE" in line and \
                        "PROT_EXEC" in line:
                    wx.append(line.strip())
                d = re.search(r"open(?:at)?\((?:AT_FDCWD, )?\"(/dev/[^\"]+)\"", line)
                if d:
                    opened_dev.add(d.group(1))
        self.assertGreater(len(used), 20, "the trace is nearly empty: %s" % sorted(used))
        self.assertIn("socket", used)
        self.assertEqual(sorted(used - allowed), [],
                         "system calls outside SystemCallFilter=%s" % self.unit["SystemCallFilter"])
        self.assertEqual(bad_families, set(), "socket families outside RestrictAddressFamilies=")
        self.assertEqual(bad_namespaces, set(),
                         "namespaces outside RestrictNamespaces=%s" % ns_setting)
        self.assertEqual(wx, [], "writable and executable mappings (MemoryDenyWriteExecute=)")
        self.assertEqual(sorted(opened_dev - devices - CLOSED_POLICY_DEVICES), [],
                         "devices outside DeviceAllow=")
        print("trace: %d distinct system calls, all in %s; devices %s" %
              (len(used), self.unit["SystemCallFilter"], sorted(opened_dev)))


if __name__ == "__main__":
    H.main()
