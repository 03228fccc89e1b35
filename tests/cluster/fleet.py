"""A fleet of sttd hosts on an etcd cluster, for the `cluster` tests (issue 11).

Every host is a namespace on the etcd harness's fabric (tests/cluster/etcd_cluster.py) running
sttd with a `[cluster]` section and networks that name no peers (docs/config.md, docs/cluster.md).
On top of the system-test harness it adds what the fleet tests need:

  * cluster_config(): the sttd config of one host (no `peers`);
  * Control: a direct client of sttd's control socket (docs/cli.md, "The control protocol"),
    so the 1 s bounds are polled without starting sttctl on every round;
  * raw AF_PACKET sockets opened inside a namespace from this process (setns and back), to send
    tenant frames into a TAP and to see every frame sttd delivers on a TAP or sends on the
    underlay, without a capture process to start and bracket;
  * builders of the tenant frames the tests send (ARP, IPv6 NS/NA, marked test frames), and
    parsers of what comes back (STT on the underlay, down to the inner frame).
"""

import ctypes
import json
import os
import socket
import struct
import sys
import time

import etcd_cluster as E

H = E.H
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hostile"))
import stt_packets as P  # noqa: E402

ETH_ARP = 0x0806
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
STT_HEADER_LEN = 18
MARK_ETHERTYPE = P.TEST_ETHERTYPE


# ---------------------------------------------------------------- config

def cluster_config(local, name, endpoints, networks, lease_ttl=4, prefix="/stt", tls=None,
                   underlay_if="veth0"):
    """The TOML of one host: `networks` (dicts: name, context_id) carry no `peers`; tls is
    None or {tls_ca, tls_cert, tls_key} (EtcdCluster.client_files)."""
    lines = ["[underlay]", "interface = %s" % H.toml_str(underlay_if),
             "local = %s" % H.toml_str(local), "",
             "[control]", 'socket = "@SOCK@"', "",
             "[cluster]", "etcd = [%s]" % ", ".join(H.toml_str(e) for e in endpoints),
             "name = %s" % H.toml_str(name), "prefix = %s" % H.toml_str(prefix),
             "lease_ttl = %d" % lease_ttl]
    for k, v in sorted((tls or {}).items()):
        lines.append("%s = %s" % (k, H.toml_str(v)))
    for n in networks:
        lines += ["", "[[network]]", "name = %s" % H.toml_str(n["name"]),
                  "context_id = 0x%x" % n["context_id"]]
        # Static entries naming this host: its own tenants, published in the directory.
        for mac in n.get("own_macs", ()):
            lines += ["[[network.fdb]]", "mac = %s" % H.toml_str(mac),
                      "peer = %s" % H.toml_str(local)]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- control socket

class Control:
    """One connection to sttd's control socket; reconnects after sttd restarts."""

    def __init__(self, path):
        self.path = path
        self.sock = None
        self.rfile = None

    def close(self):
        if self.sock:
            self.sock.close()
        self.sock = self.rfile = None

    def call(self, cmd, timeout=5, **args):
        """The request's result; raises HarnessError on an error reply or no answer."""
        req = dict(args, cmd=cmd)
        for attempt in (1, 2):  # a connection to an sttd that was restarted is stale once
            try:
                if self.sock is None:
                    self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    self.sock.settimeout(timeout)
                    self.sock.connect(self.path)
                    self.rfile = self.sock.makefile("r")
                self.sock.sendall((json.dumps(req) + "\n").encode())
                line = self.rfile.readline()
                if not line:
                    raise OSError("connection closed")
                break
            except OSError as e:
                self.close()
                if attempt == 2:
                    raise H.HarnessError("control socket %s: %s: %s" % (self.path, cmd, e))
        reply = json.loads(line)
        if not reply.get("ok"):
            raise H.HarnessError("sttd %s: %s" % (cmd, reply.get("error")))
        return reply["result"]


# ---------------------------------------------------------------- sockets in a namespace

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def ns_socket(ns, *args):
    """A socket(*args) created inside network namespace `ns` (the calling thread switches in
    and back; the socket stays in `ns`)."""
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open("/run/netns/%s" % ns, os.O_RDONLY)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns(%s)" % ns)
        try:
            return socket.socket(*args)
        finally:
            if _libc.setns(own, CLONE_NEWNET) != 0:
                # Nothing after this could be trusted to run in the right namespace.
                print("setns back to the test's own namespace failed", file=sys.stderr)
                os._exit(70)
    finally:
        os.close(own)
        os.close(target)


class RawPort:
    """An AF_PACKET socket on one interface of a host: send() puts a frame on it (into sttd,
    for a TAP), frames() returns what arrived since the last call, outgoing ones left out
    unless asked for (on a TAP: what sttd delivered; on the underlay: what came in)."""

    def __init__(self, host, ifname, outgoing=False):
        self.host, self.ifname, self.outgoing = host, ifname, outgoing
        self.sock = ns_socket(host.ns, socket.AF_PACKET, socket.SOCK_RAW,
                              socket.htons(ETH_P_ALL))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind((ifname, 0))
        self.sock.setblocking(False)

    def send(self, frame):
        self.sock.send(frame)

    def frames(self, want_outgoing=None):
        """[(monotonic time read, frame bytes)] of every frame queued now."""
        out_only = self.outgoing if want_outgoing is None else want_outgoing
        got = []
        while True:
            try:
                data, addr = self.sock.recvfrom(65536)
            except BlockingIOError:
                return got
            outgoing = addr[2] == PACKET_OUTGOING
            if outgoing == out_only:
                got.append((time.monotonic(), data))

    def drain(self):
        self.frames(want_outgoing=False)
        self.frames(want_outgoing=True)

    def close(self):
        self.sock.close()


# ---------------------------------------------------------------- frames

def mark_frame(dst, src, marker, seq=0):
    """A test frame (EtherType 0x88b5) carrying `marker` and a sequence number."""
    return P.inner_eth(dst, src, marker + struct.pack("!I", seq), size=64,
                       ethertype=MARK_ETHERTYPE)


def marked(frame, marker):
    """The sequence number of a mark_frame carrying `marker`, or None."""
    if len(frame) < 14 + len(marker) + 4 or frame[12:14] != struct.pack("!H", MARK_ETHERTYPE):
        return None
    body = frame[14:]
    if not body.startswith(marker):
        return None
    return struct.unpack("!I", body[len(marker):len(marker) + 4])[0]


def arp(op, src_mac, src_ip, dst_ip, eth_dst="ff:ff:ff:ff:ff:ff", target_mac="00:00:00:00:00:00"):
    """An ARP request (op 1) or reply (op 2) frame."""
    body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, P.mac(src_mac),
                       P.ip_bytes(src_ip), P.mac(target_mac), P.ip_bytes(dst_ip))
    return P.eth(eth_dst, src_mac, ETH_ARP, body + bytes(18))


def parse_arp(frame):
    """(op, sender MAC, sender IP, target IP) of an ARP frame, or None."""
    if len(frame) < 42 or frame[12:14] != struct.pack("!H", ETH_ARP):
        return None
    op = struct.unpack("!H", frame[20:22])[0]
    return (op, H.mac_str(frame[22:28]), socket.inet_ntoa(frame[28:32]),
            socket.inet_ntoa(frame[38:42]))


def solicited_node(ip6):
    b = P.ip_bytes(ip6)
    return ("ff02::1:ff%02x:%02x%02x" % (b[13], b[14], b[15]),
            "33:33:ff:%02x:%02x:%02x" % (b[13], b[14], b[15]))


def icmp6(src, dst, body):
    c = P.csum(body, P.pseudo_sum(src, dst, 58, len(body)))
    return body[:2] + struct.pack("!H", c) + body[4:]


def neighbour_solicitation(src_mac, src_ip, target):
    """An NS for `target` from (src_mac, src_ip), to the target's solicited-node group."""
    group, group_mac = solicited_node(target)
    body = struct.pack("!BBHI16s", 135, 0, 0, 0, P.ip_bytes(target))
    body += struct.pack("!BB6s", 1, 1, P.mac(src_mac))  # source link-layer address
    return P.eth(group_mac, src_mac, P.ETH_IPV6,
                 P.ipv6(src_ip, group, icmp6(src_ip, group, body), next_header=58,
                        hop_limit=255))


def neighbour_advertisement(src_mac, target, eth_dst, ip_dst, solicited=False):
    """An NA for `target` (its own address) from src_mac, override flag set, with the
    target link-layer address option."""
    flags = 0x20000000 | (0x40000000 if solicited else 0)
    body = struct.pack("!BBHI16s", 136, 0, 0, flags, P.ip_bytes(target))
    body += struct.pack("!BB6s", 2, 1, P.mac(src_mac))  # target link-layer address
    return P.eth(eth_dst, src_mac, P.ETH_IPV6,
                 P.ipv6(target, ip_dst, icmp6(target, ip_dst, body), next_header=58,
                        hop_limit=255))


def parse_nd(frame):
    """(ICMPv6 type, target address, link-layer address option or None) of an NS/NA, or
    None for anything else."""
    if len(frame) < 14 + 40 + 24 or frame[12:14] != struct.pack("!H", P.ETH_IPV6):
        return None
    if frame[14 + 6] != 58:
        return None
    icmp = frame[54:]
    if icmp[0] not in (135, 136):
        return None
    target = socket.inet_ntop(socket.AF_INET6, icmp[8:24])
    lladdr = None
    opts = icmp[24:]
    while len(opts) >= 8 and opts[1]:
        if opts[0] in (1, 2):
            lladdr = H.mac_str(opts[2:8])
        opts = opts[opts[1] * 8:]
    return icmp[0], target, lladdr


def stt_inner(frame):
    """The inner Ethernet frame of an outer IPv4 STT packet to port 7471 whose segment holds
    the frame's start (STT header present), or None."""
    f = H.Frame(frame)
    if f.ethertype != 0x0800 or f.proto != 6 or f.dport != H.STT_PORT:
        return None
    ihl = (frame[14] & 0xF) * 4
    tcp = 14 + ihl
    doff = (frame[tcp + 12] >> 4) * 4
    payload = frame[tcp + doff:]
    if len(payload) < STT_HEADER_LEN + 14:
        return None
    # SEQ = frame length << 16 | offset of this piece: the STT header is at offset 0 only.
    offset = struct.unpack("!I", frame[tcp + 4:tcp + 8])[0] & 0xFFFF
    if offset != 0:
        return None
    return payload[STT_HEADER_LEN:]


# ---------------------------------------------------------------- hosts

class FleetHost:
    """One host of the fleet: its namespace, sttd with a [cluster] section, its TAP."""

    def __init__(self, fabric, index, etcd, networks, lease_ttl=4, tls_user=None,
                 tenant_net="192.168.70"):
        self.index = index
        self.name = "host-%d" % index
        self.addr = "10.0.0.%d" % index
        self.host = fabric.new_host("h%d" % index, self.addr)
        self.networks = networks
        self.tap = H.tap_name(networks[0])
        self.tap_mac = "02:00:00:70:00:%02x" % index
        self.tenant_ip = "%s.%d" % (tenant_net, index)
        tls = etcd.client_files(tls_user or self.name) if etcd.tls else None
        text = cluster_config(self.addr, self.name, etcd.endpoints(), networks,
                              lease_ttl=lease_ttl, tls=tls)
        self.daemon = H.Daemon(self.host, self.addr, networks, label=self.name, config_text=text)
        self.control = Control(self.daemon.socket)

    def start(self, timeout=10):
        self.control.close()
        self.daemon.start(timeout=timeout)
        H.setup_tap(self.host, self.networks[0], "%s/24" % self.tenant_ip, mac=self.tap_mac)
        return self

    def running(self):
        return self.daemon.proc is not None and self.daemon.proc.poll() is None

    def stop(self, sig):
        self.control.close()
        return self.daemon.stop(sig)

    def call(self, cmd, **args):
        return self.control.call(cmd, **args)

    def peers(self, net="blue"):
        """The underlay addresses that are peers of network `net` (any source)."""
        for n in self.call("show")["networks"]:
            if n["name"] == net:
                return {p if isinstance(p, str) else p.get("peer", p.get("address"))
                        for p in n["peers"]}
        raise H.HarnessError("%s: no network %s in show" % (self.name, net))

    def fdb(self, net="blue"):
        """{mac: (peer, type)} of network `net`."""
        return {e["mac"]: (e.get("peer"), e.get("type"))
                for e in self.call("fdb_show", network=net)}

    def cluster(self):
        return self.call("cluster")

    def cluster_numbers(self):
        """{path: number} of every number in the cluster view and in the stats."""
        nums = H.json_numbers(self.cluster(), "/cluster")
        nums.update(H.json_numbers(self.call("stats"), "/stats"))
        return nums

    def counter(self, name):
        """The counter `name` (or `cluster_name`, as src/cluster names its counters): the
        number whose JSON path ends so in the cluster view, else in the stats (there, the
        global one if it is also shown per network)."""
        nums = self.cluster_numbers()
        ends = ("/" + name, "/cluster_" + name)
        for source in ("/cluster/", "/stats/"):
            hits = {p: v for p, v in nums.items() if p.startswith(source) and p.endswith(ends)}
            glob = {p: v for p, v in hits.items() if "/networks/" not in p}
            hits = glob or hits
            if len(hits) > 1:
                raise H.HarnessError("%s: counter %r is ambiguous: %s" % (self.name, name, hits))
            if hits:
                return next(iter(hits.values()))
        raise H.HarnessError("%s: no counter %r in sttctl cluster/stats: %s" %
                             (self.name, name, sorted(nums)))


def wait_peers(hosts, expected, timeout, what, net="blue"):
    """Waits until each host in `hosts` has exactly expected[host] (a set of addresses) as
    peers of `net`; returns the seconds it took."""
    t0 = time.monotonic()
    H.wait_for(lambda: all(h.peers(net) == expected[h] for h in hosts), timeout, what,
               interval=0.02)
    return time.monotonic() - t0


def full_mesh(hosts):
    return {h: {o.addr for o in hosts if o is not h} for h in hosts}
