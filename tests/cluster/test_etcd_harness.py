"""The etcd harness on its own (no sttd): what the fleet tests and bench/cluster rely on.

- a 3-member cluster in 3 namespaces replicates a write to every member;
- with one member killed (the leader) the other two still take writes, and the member that
  comes back catches up;
- with every member killed the store answers nothing, and after a restart of all of them the
  data is still there;
- (TLS with client certificates and RBAC is checked by test_fleet_tls.py, on the etcd its
  fleet runs on);
- a run that is sent SIGTERM in the middle leaves no namespace, process or data dir.
"""

import json
import os
import signal
import subprocess
import sys
import time
import unittest

import etcd_cluster as E

H = E.H


class EtcdPlain(H.SystemTestCase):
    needs_sttd = False

    @classmethod
    def build_topology(cls):
        cls.fabric = E.Fabric()
        cls.etcd = E.EtcdCluster(cls.fabric).start()

    def serializable_get(self, member, key):
        """The value `member` alone has for key (a serializable read: no quorum)."""
        p = self.etcd.etcdctl(["get", key, "--print-value-only", "--consistency=s"],
                              members=[self.etcd.members[member]], check=False)
        return p.stdout.strip() if p.returncode == 0 else None

    def test_replicated_to_every_member(self):
        self.etcd.put("/t/replicated", "v1", extra=[])
        for i in range(3):
            H.wait_for(lambda: self.serializable_get(i, "/t/replicated") == "v1", 5,
                       "member %d to have /t/replicated" % i)

    def test_one_member_killed(self):
        leader = self.etcd.leader()
        self.assertIsNotNone(leader, "no leader among 3 running members")
        self.etcd.kill(leader)
        try:
            others = [m for i, m in enumerate(self.etcd.members) if i != leader]
            # A new leader is elected within a few election timeouts: the write is retried
            # until it goes through, at most 10 s.
            H.wait_for(lambda: self.etcd.etcdctl(["put", "/t/one-down", "v2"], members=others,
                                                 check=False).returncode == 0,
                       10, "a write with the leader killed")
            self.assertFalse(self.etcd.members[leader].running())
        finally:
            self.etcd.restart(leader)
        H.wait_for(lambda: self.serializable_get(leader, "/t/one-down") == "v2", 10,
                   "the restarted member to catch up")

    def test_all_members_killed(self):
        self.etcd.put("/t/durable", "v3")
        self.etcd.kill_all()
        try:
            p = self.etcd.etcdctl(["get", "/t/durable"], check=False)
            self.assertNotEqual(p.returncode, 0, "a read answered with every member down")
        finally:
            self.etcd.restart_all()
        self.assertEqual(self.etcd.get_prefix("/t/durable"), {"/t/durable": "v3"})


_CHILD = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
import etcd_cluster as E
f = E.Fabric()
c = E.EtcdCluster(f, size=%d, tls=True).start()
print(json.dumps({"root": c.root, "ns": [m.host.ns for m in c.members] + [f.sw.ns],
                  "pids": [m.proc.pid for m in c.members]}), flush=True)
time.sleep(60)  # the parent signals long before; this only bounds a lost parent
"""


class EtcdCleanup(unittest.TestCase):
    def test_sigterm_cleans_up(self):
        if os.geteuid() != 0:
            self.skipTest("needs root")
        here = os.path.dirname(os.path.abspath(__file__))
        child = subprocess.Popen([sys.executable, "-c", _CHILD % 1, here],
                                 stdout=subprocess.PIPE, text=True)
        try:
            line = child.stdout.readline()
            made = json.loads(line)
            self.assertTrue(os.path.isdir(made["root"]))
            child.send_signal(signal.SIGTERM)
            child.wait(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        self.assertEqual(child.returncode, 128 + signal.SIGTERM)
        self.assertFalse(os.path.exists(made["root"]), "data dir left: %s" % made["root"])
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        for ns in made["ns"]:
            self.assertNotIn(ns, listed)
        deadline = time.monotonic() + 5
        for pid in made["pids"]:
            while os.path.exists("/proc/%d" % pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertFalse(os.path.exists("/proc/%d" % pid), "etcd pid %d left running" % pid)


if __name__ == "__main__":
    H.main()
