"""No host can speak for another (issue 11, item 6): a fleet on a secured etcd.

etcd runs with TLS and client-certificate auth; RBAC as docs/cluster.md lays it out: each
host's user (the CN of its certificate) may write its own host key, its own `macs/<name>/`
prefix and the claims, and read the whole prefix. Three hosts h1..h3 (host-1..host-3).

  01 the fleet comes up over TLS: every pair reaches every other;
  02 with host-1's certificate, etcdctl cannot write host-2's keys (nor hosts/host-1x, which a
     prefix grant on hosts/host-1 would cover) and can write its own; without a certificate,
     etcd answers nothing;
  03 entries forged with root's credentials (host-2's name with host-3's address, a key that
     does not match its value, a host key naming another host, a context host-2 does not
     serve) are refused, counted, and never reach an FDB or a peer set;
  04 garbage values (not JSON, wrong types, oversized) and keys outside the layout are
     counted and skipped; the fleet keeps working.
"""

import json

import etcd_cluster as E
import fleet as F

H = E.H
CTX = 0x71
NET = {"name": "blue", "context_id": CTX}
PREFIX = "/stt"


def key(*parts):
    return "/".join((PREFIX,) + parts)


def ctx_hex(ctx=CTX):
    return "%016x" % ctx


def mac_value(mac, address, ctx=CTX, seq=1, ips=()):
    return json.dumps({"mac": mac, "context_id": "0x%016x" % ctx, "address": address,
                       "ips": list(ips), "seq": seq})


class FleetTls(H.SystemTestCase):
    @classmethod
    def build_topology(cls):
        cls.fabric = E.Fabric()
        cls.etcd = E.EtcdCluster(cls.fabric, tls=True).start()
        names = ["host-%d" % i for i in range(1, 4)]
        cls.etcd.enable_rbac({n: [key("hosts", n), key("macs", n) + "/", key("claims") + "/"]
                              for n in names}, PREFIX + "/")
        cls.hosts = [F.FleetHost(cls.fabric, i, cls.etcd, [NET]) for i in range(1, 4)]
        for h in cls.hosts:
            h.start()
        F.wait_peers(cls.hosts, F.full_mesh(cls.hosts), 15, "every host to discover the others")

    def deltas(self, before, names):
        return {n: sum(h.counter(n) for h in self.hosts) - before[n] for n in names}

    def counters(self, names):
        return {n: sum(h.counter(n) for h in self.hosts) for n in names}

    def test_01_fleet_up_over_tls(self):
        for h in self.hosts:
            self.assertEqual(h.cluster().get("state"), "connected", h.name)
        bad = []
        for a in self.hosts:
            for b in self.hosts:
                if a is not b:
                    ok, out = H.ping(a.host, b.tenant_ip, count=2, dont_fragment=False)
                    if not ok:
                        bad.append("%s->%s: %s" % (a.name, b.name, out))
        self.assertEqual(bad, [])

    def test_02_credentials_write_own_keys_only(self):
        h1 = self.hosts[0]
        victim_keys = [key("hosts", "host-2"),
                       key("macs", "host-2", ctx_hex(), "02:00:00:71:00:99"),
                       key("hosts", "host-1x"), key("other")]
        for k in victim_keys:
            with self.subTest(key=k):
                p = self.etcd.put(k, mac_value("02:00:00:71:00:99", h1.addr), user="host-1",
                                  check=False)
                self.assertNotEqual(p.returncode, 0, "host-1's certificate wrote %s" % k)
                self.assertIn("permission denied", p.stderr)
        # The same certificate does write under host-1's own prefix (so the refusals above
        # are RBAC, not a broken certificate), and reads the whole directory.
        own = key("macs", "host-1", ctx_hex(), "02:00:00:71:00:98")
        self.etcd.put(own, mac_value("02:00:00:71:00:98", h1.addr), user="host-1")
        self.etcd.etcdctl(["del", own], user="host-1")
        self.assertIn(key("hosts", "host-2"), self.etcd.get_prefix(PREFIX + "/", user="host-1"))
        # Without a client certificate, nothing.
        cmd = ["env", "ETCDCTL_API=3", E.ETCDCTL, "--endpoints", ",".join(self.etcd.endpoints()),
               "--dial-timeout", "2s", "--command-timeout", "3s", "--cacert", self.etcd.pki.ca,
               "get", PREFIX + "/", "--prefix", "--keys-only"]
        p = self.etcd.client_host.exec(cmd, check=False)
        self.assertNotEqual(p.returncode, 0, "read without a client certificate: %s" % p.stdout)

    def test_03_forged_entries_refused(self):
        h1, h2, h3 = self.hosts
        names = ["refused"]
        before = self.counters(names)
        forged = {
            # host-2's name, host-3's address
            key("macs", "host-2", ctx_hex(), "02:00:00:71:f0:01"):
                mac_value("02:00:00:71:f0:01", h3.addr),
            # the key's MAC is not the value's
            key("macs", "host-2", ctx_hex(), "02:00:00:71:f0:02"):
                mac_value("02:00:00:71:f0:03", h2.addr),
            # a context host-2 does not serve
            key("macs", "host-2", ctx_hex(0x99), "02:00:00:71:f0:04"):
                mac_value("02:00:00:71:f0:04", h2.addr, ctx=0x99),
            # a host key naming another host
            key("hosts", "host-9"): json.dumps({"name": "host-3", "address": "10.0.0.9",
                                                "port": 7471, "contexts": ["0x%016x" % CTX]}),
        }
        try:
            for k, v in forged.items():
                self.etcd.put(k, v, user="root")
            want = len(forged) * len(self.hosts)
            H.wait_for(lambda: self.deltas(before, names)["refused"] >= want, 10,
                       "%d refusals (%d forged entries on %d hosts)" %
                       (want, len(forged), len(self.hosts)))
            self.assertEqual(self.deltas(before, names)["refused"], want)
            for h in self.hosts:
                fdb = h.fdb()
                for mac in ("02:00:00:71:f0:01", "02:00:00:71:f0:02", "02:00:00:71:f0:03",
                            "02:00:00:71:f0:04"):
                    self.assertNotIn(mac, fdb, "%s believed a forged entry" % h.name)
                self.assertEqual(h.peers(), F.full_mesh(self.hosts)[h], h.name)
        finally:
            for k in forged:
                self.etcd.etcdctl(["del", k])

    def test_04_garbage_counted_and_skipped(self):
        names = ["malformed", "oversized", "unknown_key"]
        before = self.counters(names)
        garbage = {
            key("hosts", "host-g1"): "not json",
            key("hosts", "host-g2"): json.dumps({"name": "host-g2", "address": 7}),
            key("macs", "host-2", ctx_hex(), "02:00:00:71:ee:01"): "{",
            key("macs", "host-2", ctx_hex(), "02:00:00:71:ee:02"): json.dumps([1, 2]),
            key("hosts", "host-big"): json.dumps({"name": "host-big", "address": "10.0.0.50",
                                                  "port": 7471, "contexts": [],
                                                  "pad": "x" * 200000}),
            key("junk", "x"): "{}",
        }
        want = {"malformed": 4, "oversized": 1, "unknown_key": 1}
        try:
            for k, v in garbage.items():
                self.etcd.put(k, v, user="root")
            total = {n: v * len(self.hosts) for n, v in want.items()}
            H.wait_for(lambda: all(d >= total[n] for n, d in self.deltas(before, names).items()),
                       10, "garbage counted on every host: %s" % total)
            self.assertEqual(self.deltas(before, names), total)
            for h in self.hosts:
                self.assertTrue(h.running(), "%s died on garbage" % h.name)
                self.assertNotIn("02:00:00:71:ee:01", h.fdb())
                self.assertEqual(h.peers(), F.full_mesh(self.hosts)[h], h.name)
            ok, out = H.ping(self.hosts[0].host, self.hosts[1].tenant_ip, count=2,
                             dont_fragment=False)
            self.assertTrue(ok, out)
        finally:
            for k in garbage:
                self.etcd.etcdctl(["del", k])


if __name__ == "__main__":
    H.main()
