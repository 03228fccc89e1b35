"""A real etcd cluster for tests: Debian's etcd 3.4, each member in its own network namespace.

Importable harness for the `cluster` label and bench/cluster. It builds on the system-test
harness (tests/system/stt_harness.py), so namespaces, processes and their cleanup are shared:

  * Fabric: an underlay L2 switch (a Linux bridge in a namespace "sw"); attach() plugs any
    namespace in through a veth pair created directly inside the two namespaces. etcd members
    and sttd hosts hang off the same bridge; every address lives only inside those namespaces.
  * EtcdCluster: N members (default 3), one namespace each, data directories in a private temp
    dir (on /dev/shm when it exists: etcd fsyncs every commit). start() waits until every member
    answers `etcdctl endpoint health` (bounded); kill()/restart() of one member or all of them.
  * Pki (tls=True): a CA, one server certificate per member (its address in subjectAltName,
    also used between members), and client certificates per name (CN = etcd user), made with
    openssl. Members run with --client-cert-auth: etcd takes the user from the certificate's CN.
    enable_rbac() creates a user and a role per host with readwrite on that host's own key
    prefixes only and read on the whole prefix, a root user, and turns auth on.

Cleanup: etcd processes are registered with the harness (stopped with it); the data root, with
data dirs and private keys, is removed by a harness cleanup hook, so at teardown, at exit, on
SIGINT/SIGTERM/SIGHUP and on a failed setup. Logs go to the harness's temp dir (kept when a test
fails). Every wait is bounded; nothing sleeps hoping.
"""

import os
import shutil
import signal
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "system"))

import stt_harness as H  # noqa: E402

ETCD = os.environ.get("STT_ETCD", "/usr/bin/etcd")
ETCDCTL = os.environ.get("STT_ETCDCTL", "/usr/bin/etcdctl")
OPENSSL = "openssl"
CLIENT_PORT = 2379
PEER_PORT = 2380

_data_roots = []


def _remove_data_roots():
    while _data_roots:
        shutil.rmtree(_data_roots.pop(), ignore_errors=True)


H.on_cleanup(_remove_data_roots)


def data_root():
    """A fresh private directory removed at every harness cleanup (also on failure)."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    d = tempfile.mkdtemp(prefix="sttetcd-%d-" % os.getpid(), dir=base)
    _data_roots.append(d)
    return d


def check_tools():
    """Raises HarnessError naming what is missing (etcd-server, etcd-client, openssl)."""
    for path, pkg in ((ETCD, "etcd-server"), (ETCDCTL, "etcd-client")):
        if not os.access(path, os.X_OK):
            raise H.HarnessError("%s is not an executable: install Debian's %s" % (path, pkg))
    if shutil.which(OPENSSL) is None:
        raise H.HarnessError("openssl not found: install Debian's openssl")


# ---------------------------------------------------------------- underlay switch

class Fabric:
    """A bridge in namespace "sw"; attach() puts a namespace on it with an address."""

    def __init__(self, prefix_len=24):
        self.prefix_len = prefix_len
        self.sw = H.Host("sw")
        self.sw.ip(["link", "add", "br0", "type", "bridge", "stp_state", "0"])
        self.sw.ip(["link", "set", "br0", "up"])
        # As in stt_harness.bridged_hosts: a plain L2 bridge, no br_netfilter.
        for key in ("iptables", "ip6tables", "arptables"):
            self.sw.sysctl("net.bridge.bridge-nf-call-" + key, 0)
        self.ports = 0

    def attach(self, host, addr, ifname="veth0", mtu=1500):
        self.ports += 1
        port = "p%d" % self.ports
        H.veth(self.sw, host, a_if=port, b_if=ifname, mtu=mtu)
        self.sw.ip(["link", "set", port, "master", "br0"])
        H.add_addr(host, ifname, "%s/%d" % (addr, self.prefix_len))
        return port

    def new_host(self, short, addr, quiet=True):
        """A new namespace on the fabric at `addr`; quiet: its later links get no IPv6."""
        h = H.Host(short)
        self.attach(h, addr)
        if quiet:
            h.quiet_new_links()
        return h


# ---------------------------------------------------------------- certificates

class Pki:
    """A throw-away CA and certificates, made with openssl (EC P-256, valid 2 days)."""

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.ca_key = self._p("ca.key")
        self.ca = self._p("ca.crt")
        self._openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt",
                       "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", self.ca_key,
                       "-out", self.ca, "-days", "2", "-subj", "/CN=stt-test-ca",
                       "-addext", "basicConstraints=critical,CA:TRUE",
                       "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        self.serial = 1

    def _p(self, name):
        return os.path.join(self.dir, name)

    def _openssl(self, args):
        H.run([OPENSSL] + args, timeout=30)

    def issue(self, name, cn, ips=(), server=False):
        """Returns (cert, key) paths: CN=cn; with server=True, for TLS servers too, with
        `ips` as subjectAltName (etcd members also use it as a client of each other)."""
        key, csr, crt, ext = (self._p("%s.%s" % (name, s)) for s in ("key", "csr", "crt", "ext"))
        self._openssl(["req", "-new", "-newkey", "ec", "-pkeyopt",
                       "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", csr,
                       "-subj", "/CN=%s" % cn])
        lines = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature"]
        if server:
            lines.append("extendedKeyUsage=serverAuth,clientAuth")
            lines.append("subjectAltName=" + ",".join("IP:%s" % ip for ip in ips))
        else:
            lines.append("extendedKeyUsage=clientAuth")
        with open(ext, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.serial += 1
        self._openssl(["x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key,
                       "-set_serial", str(self.serial), "-days", "2", "-out", crt,
                       "-extfile", ext])
        os.chmod(key, 0o600)
        return crt, key

    def client(self, cn):
        """(cert, key) of a client certificate with CN=cn, made once per name."""
        crt, key = self._p("client-%s.crt" % cn), self._p("client-%s.key" % cn)
        if not os.path.exists(crt):
            return self.issue("client-%s" % cn, cn)
        return crt, key


# ---------------------------------------------------------------- etcd

class Member:
    def __init__(self, cluster, index, host, addr):
        self.cluster, self.index, self.host, self.addr = cluster, index, host, addr
        self.name = "m%d" % index
        scheme = "https" if cluster.tls else "http"
        self.client_url = "%s://%s:%d" % (scheme, addr, CLIENT_PORT)
        self.peer_url = "%s://%s:%d" % (scheme, addr, PEER_PORT)
        self.data_dir = os.path.join(cluster.root, self.name)
        self.log = os.path.join(H.tmpdir(), "etcd-%s-%s.log" % (cluster.token, self.name))
        self.proc = None
        self.cert = self.key = None
        self.extra_args = []  # more etcd options (bench/cluster: --max-txn-ops ...)

    def command(self):
        c = self.cluster
        cmd = [ETCD, "--name", self.name, "--data-dir", self.data_dir,
               "--listen-client-urls", self.client_url,
               "--advertise-client-urls", self.client_url,
               "--listen-peer-urls", self.peer_url,
               "--initial-advertise-peer-urls", self.peer_url,
               "--initial-cluster", ",".join("%s=%s" % (m.name, m.peer_url) for m in c.members),
               "--initial-cluster-token", c.token, "--initial-cluster-state", "new",
               "--heartbeat-interval", str(c.heartbeat_ms),
               "--election-timeout", str(c.election_ms),
               "--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn"]
        if c.tls:
            cmd += ["--cert-file", self.cert, "--key-file", self.key,
                    "--trusted-ca-file", c.pki.ca, "--client-cert-auth",
                    "--peer-cert-file", self.cert, "--peer-key-file", self.key,
                    "--peer-trusted-ca-file", c.pki.ca, "--peer-client-cert-auth"]
        return cmd + list(self.extra_args)

    def start(self):
        if self.running():
            raise H.HarnessError("etcd member %s is already running" % self.name)
        with open(self.log, "a") as logf:
            logf.write("==== start: %s\n" % " ".join(self.command()))
            logf.flush()
            self.proc = self.host.popen(self.command(), stdout=logf, stderr=logf)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGKILL, timeout=10):
        """Signals the member and waits (bounded) for it to exit."""
        if not self.running():
            return
        H._stop_process(self.proc, sig=sig, timeout=timeout)
        if self.proc in H._processes:
            H._processes.remove(self.proc)

    def log_text(self):
        return H.Daemon.log_text(self)


class EtcdCluster:
    """size members on `fabric` at addresses addr(1..size); optional TLS with client certs.

    addr: a function from member number (1-based) to its IPv4 address on the fabric."""

    _seq = 0

    def __init__(self, fabric, size=3, tls=False, addr=lambda i: "10.0.0.%d" % (100 + i),
                 heartbeat_ms=100, election_ms=1000):
        check_tools()
        EtcdCluster._seq += 1
        self.fabric, self.tls = fabric, tls
        self.heartbeat_ms, self.election_ms = heartbeat_ms, election_ms
        self.token = "stt-%d-%d" % (os.getpid(), EtcdCluster._seq)
        self.root = data_root()
        self.pki = Pki(os.path.join(self.root, "pki")) if tls else None
        self.members = []
        for i in range(1, size + 1):
            host = fabric.new_host("e%d" % i, addr(i))
            self.members.append(Member(self, i, host, addr(i)))
        if tls:
            for m in self.members:
                m.cert, m.key = self.pki.issue("server-%s" % m.name, m.name, ips=[m.addr],
                                               server=True)
        # The namespace etcdctl runs in: any on the fabric works; the first member's stays
        # even while its etcd is down.
        self.client_host = self.members[0].host
        self.auth = False

    # ------------------------------------------------------------ endpoints and etcdctl

    def endpoints(self, members=None):
        return [m.client_url for m in (members or self.members)]

    def credentials(self, user):
        """The etcdctl TLS options for `user` (a client cert with CN=user); [] without TLS."""
        if not self.tls:
            return []
        crt, key = self.pki.client(user)
        return ["--cacert", self.pki.ca, "--cert", crt, "--key", key]

    def etcdctl(self, args, user="root", members=None, host=None, check=True, timeout=20,
                input=None):
        """Runs etcdctl (API 3) against `members` (default: all) from `host`'s namespace
        (default: the first member's), as `user` when TLS is on."""
        cmd = ["env", "ETCDCTL_API=3", ETCDCTL, "--endpoints", ",".join(self.endpoints(members)),
               "--dial-timeout", "2s", "--command-timeout", "5s"]
        cmd += self.credentials(user) + list(args)
        return (host or self.client_host).exec(cmd, check=check, timeout=timeout, input=input)

    def put(self, key, value, user="root", check=True, extra=()):
        # The value through stdin: any size (an argument is capped at 128 KiB), and one that
        # starts with "-" is not taken for an option.
        return self.etcdctl(["put", key] + list(extra), user=user, check=check, input=value)

    def get_prefix(self, prefix, user="root"):
        """{key: value} under prefix (JSON output, so any bytes round-trip)."""
        import base64
        import json
        out = self.etcdctl(["get", prefix, "--prefix", "-w", "json"], user=user).stdout
        j = json.loads(out)
        return {base64.b64decode(kv["key"]).decode(errors="replace"):
                base64.b64decode(kv.get("value", "")).decode(errors="replace")
                for kv in j.get("kvs", [])}

    def healthy(self, members):
        p = self.etcdctl(["endpoint", "health"], members=members, check=False, timeout=15)
        return p.returncode == 0

    # ------------------------------------------------------------ lifecycle

    def start(self, timeout=30):
        for m in self.members:
            m.start()
        self.wait_healthy(self.members, timeout)
        return self

    def wait_healthy(self, members=None, timeout=30):
        members = members or [m for m in self.members if m.running()]

        def ok():
            for m in members:
                if not m.running():
                    raise H.HarnessError("etcd member %s exited with %s:\n%s" %
                                         (m.name, m.proc.returncode, m.log_text()[-3000:]))
            return self.healthy(members)
        H.wait_for(ok, timeout, "etcd members %s to be healthy" %
                   ",".join(m.name for m in members), interval=0.2)

    def kill(self, index, sig=signal.SIGKILL):
        """Stops member `index` (0-based) with `sig`."""
        self.members[index].stop(sig)

    def restart(self, index, timeout=30):
        """Starts member `index` again on its data dir and waits until it is healthy
        (which needs a quorum of members running)."""
        m = self.members[index]
        m.start()
        self.wait_healthy([m], timeout)

    def kill_all(self, sig=signal.SIGKILL):
        for m in self.members:
            m.stop(sig)

    def restart_all(self, timeout=30):
        for m in self.members:
            if not m.running():
                m.start()
        self.wait_healthy(self.members, timeout)

    def leader(self):
        """Index of the member that is leader now, or None."""
        import json
        p = self.etcdctl(["endpoint", "status", "-w", "json"], check=False,
                         members=[m for m in self.members if m.running()])
        try:
            statuses = json.loads(p.stdout)
        except ValueError:
            return None
        for s in statuses:
            if s["Status"]["header"]["member_id"] == s["Status"]["leader"]:
                for i, m in enumerate(self.members):
                    if m.client_url == s["Endpoint"]:
                        return i
        return None

    # ------------------------------------------------------------ RBAC

    def enable_rbac(self, grants, read_prefix):
        """Users and roles for client-certificate auth, then `auth enable`.

        grants: {user: [key or prefix it may write, ...]} (a prefix ends in "/"): each user
        gets a role of its own name with readwrite on those and read on the prefix
        `read_prefix` (all of the directory).
        A root user (root role) is made first, as etcd requires before auth is enabled."""
        if not self.tls:
            raise H.HarnessError("enable_rbac needs tls=True (users come from client certs)")
        self.etcdctl(["user", "add", "root", "--no-password"])
        self.etcdctl(["user", "grant-role", "root", "root"])
        for user, prefixes in grants.items():
            self.etcdctl(["role", "add", user])
            for p in prefixes:
                # Only a name ending in "/" is a prefix: "hosts/host-a" as a prefix would
                # also cover "hosts/host-ab".
                self.etcdctl(["role", "grant-permission", user, "readwrite", p] +
                             (["--prefix=true"] if p.endswith("/") else []))
            self.etcdctl(["role", "grant-permission", user, "read", read_prefix, "--prefix=true"])
            self.etcdctl(["user", "add", user, "--no-password"])
            self.etcdctl(["user", "grant-role", user, user])
        self.etcdctl(["auth", "enable"])
        self.auth = True

    def client_files(self, user):
        """{tls_ca, tls_cert, tls_key} paths for an sttd [cluster] section."""
        crt, key = self.pki.client(user)
        return {"tls_ca": self.pki.ca, "tls_cert": crt, "tls_key": key}
