#!/usr/bin/env bash
# The main job: a small STT fleet on etcd, shown working.
#
#   ./scripts/demo.sh           install deps, build, bring up, show the fleet, ping, iperf3,
#                               decoded underlay segments, a MAC moving, a host leaving,
#                               counters; tear down
#   ./scripts/demo.sh --keep    same, but leave everything up to explore
#   ./scripts/demo.sh --down    tear down what a --keep run left
#
# Network namespaces on one bridge (sttdemo-sw, the underlay, 10.0.0.0/24, MTU 1500):
# a 3-member etcd cluster (sttdemo-e1..e3, 10.0.0.11..13) and three hosts (sttdemo-a, -b, -c,
# 10.0.0.1..3). Each host runs sttd with one virtual network "blue" (context ID 0x1234) on
# TAP stt-blue (192.168.50.1..3) and a [cluster] section naming etcd: no config names a
# peer; they find each other in etcd. A "VM" (namespace sttdemo-vm, 192.168.50.100) sits
# behind host b's TAP and then moves to host c. Must run as root. Touches nothing outside
# those namespaces and $STATE.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${STT_BUILD_DIR:-$ROOT/build}
STATE=/run/sttdemo
PFX=sttdemo
HOSTS=(a b c)
CTX=0x1234
VM_MAC=02:00:00:00:01:00
VM_IP=192.168.50.100
KEEP=0

case "${1:-}" in
  "") ;;
  --keep) KEEP=1 ;;
  --down) MODE=down ;;
  -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: $0 [--keep | --down]" >&2; exit 2 ;;
esac

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }
in_ns() { local ns=$1; shift; ip netns exec "$PFX-$ns" "$@"; }
addr_of() { case $1 in a) echo 10.0.0.1 ;; b) echo 10.0.0.2 ;; c) echo 10.0.0.3 ;; esac; }
inner_of() { case $1 in a) echo 192.168.50.1 ;; b) echo 192.168.50.2 ;; c) echo 192.168.50.3 ;; esac; }
ENDPOINTS=http://10.0.0.11:2379,http://10.0.0.12:2379,http://10.0.0.13:2379
etcdctl_() { in_ns e1 env ETCDCTL_API=3 etcdctl --endpoints "$ENDPOINTS" --dial-timeout 2s --command-timeout 5s "$@"; }
ctl() { local h=$1; shift; "$STTCTL" "$@" -s "$STATE/$h.sock"; }

# wait_until SECONDS WHAT COMMAND...: polls COMMAND every 0.1 s, at most SECONDS.
wait_until() {
  local secs=$1 what=$2; shift 2
  local i
  for ((i = 0; i < secs * 10; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "timed out after $secs s waiting for $what"
}

teardown() {
  # Everything this demo started has a pid file; sttd first (it revokes its etcd lease and
  # removes its TAP and firewall rule on SIGTERM), etcd last.
  local pidf pid
  for pidf in "$STATE"/*.sttd.pid "$STATE"/*.iperf3.pid "$STATE"/*.dumpcap.pid "$STATE"/*.etcd.pid; do
    [ -f "$pidf" ] || continue
    pid=$(cat "$pidf")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidf"
  done
  local ns
  for ns in sw e1 e2 e3 a b c vm; do
    ip netns del "$PFX-$ns" 2>/dev/null || true
  done
  rm -rf "$STATE"
}

[ "$(id -u)" -eq 0 ] || die "run as root (it creates network namespaces)"

if [ "${MODE:-}" = down ]; then
  teardown
  echo "demo: torn down"
  exit 0
fi

if ip netns list | grep -qE "^$PFX-"; then
  die "namespaces from an earlier --keep run exist; remove them with: $0 --down"
fi

on_exit() {
  local rc=$?
  if [ "$KEEP" -eq 1 ] && [ "$rc" -eq 0 ]; then
    return
  fi
  if [ "$rc" -ne 0 ]; then
    echo "demo: failed (status $rc)" >&2
    for f in "$STATE"/*.log; do
      [ -s "$f" ] && { echo "--- $(basename "$f"):" >&2; tail -15 "$f" >&2; }
    done
  fi
  teardown
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# --------------------------------------------------------------------- build
say "dependencies and build"
"$ROOT/scripts/install-deps.sh"
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$BUILD" sttd sttctl | tail -1
STTD=$BUILD/src/daemon/sttd
STTCTL=$BUILD/src/ctl/sttctl

# --------------------------------------------------------------------- underlay
say "underlay: a bridge (sttdemo-sw), etcd members e1..e3 (10.0.0.11-13), hosts a, b, c (10.0.0.1-3)"
mkdir -p "$STATE"
ip netns add "$PFX-sw"
ip -n "$PFX-sw" link add br0 type bridge stp_state 0
ip -n "$PFX-sw" link set br0 up
# A plain L2 switch: no br_netfilter on bridged frames.
for t in iptables ip6tables arptables; do
  in_ns sw sysctl -qw "net.bridge.bridge-nf-call-$t=0"
done
plug() {  # name address
  local n=$1
  ip netns add "$PFX-$n"
  ip -n "$PFX-$n" link set lo up
  ip -n "$PFX-sw" link add "p-$n" mtu 1500 type veth peer name veth0 mtu 1500 netns "$PFX-$n"
  ip -n "$PFX-sw" link set "p-$n" master br0 up
  ip -n "$PFX-$n" addr add "$2/24" dev veth0
  ip -n "$PFX-$n" link set veth0 up
}
for i in 1 2 3; do plug "e$i" "10.0.0.1$i"; done
for h in "${HOSTS[@]}"; do plug "$h" "$(addr_of "$h")"; done

# --------------------------------------------------------------------- etcd
say "a 3-member etcd cluster (Debian's etcd-server)"
CLUSTER=m1=http://10.0.0.11:2380,m2=http://10.0.0.12:2380,m3=http://10.0.0.13:2380
for i in 1 2 3; do
  ip netns exec "$PFX-e$i" etcd --name "m$i" --data-dir "$STATE/etcd-$i" \
    --listen-client-urls "http://10.0.0.1$i:2379" --advertise-client-urls "http://10.0.0.1$i:2379" \
    --listen-peer-urls "http://10.0.0.1$i:2380" --initial-advertise-peer-urls "http://10.0.0.1$i:2380" \
    --initial-cluster "$CLUSTER" --initial-cluster-token sttdemo --initial-cluster-state new \
    --logger zap --log-outputs stderr --log-level warn 2>"$STATE/e$i.etcd.log" &
  echo $! >"$STATE/e$i.etcd.pid"
done
wait_until 30 "etcd to be healthy" etcdctl_ endpoint health
etcdctl_ member list -w table

# --------------------------------------------------------------------- hosts
start_sttd() {  # host
  local h=$1
  cat >"$STATE/$h.toml" <<EOF
[underlay]
interface = "veth0"
local = "$(addr_of "$h")"

[control]
socket = "$STATE/$h.sock"

[cluster]
etcd = ["http://10.0.0.11:2379", "http://10.0.0.12:2379", "http://10.0.0.13:2379"]
name = "$h"
lease_ttl = 5

[[network]]
name = "blue"
context_id = $CTX
EOF
  ip netns exec "$PFX-$h" "$STTD" -c "$STATE/$h.toml" 2>"$STATE/$h.sttd.log" &
  echo $! >"$STATE/$h.sttd.pid"
  # Ready once the control socket answers (bounded: 10 s).
  for _ in $(seq 100); do
    ctl "$h" show >/dev/null 2>&1 && break
    kill -0 "$(cat "$STATE/$h.sttd.pid")" 2>/dev/null || die "sttd on host $h exited: $(cat "$STATE/$h.sttd.log")"
    sleep 0.1
  done
  ctl "$h" show >/dev/null || die "sttd on host $h did not answer within 10 s"
  ip -n "$PFX-$h" addr add "$(inner_of "$h")/24" dev stt-blue
  ip -n "$PFX-$h" link set stt-blue up
}
# peers_of HOST: the peers of network blue, sorted, on one line.
peers_of() {
  ctl "$1" show -j | python3 -c '
import json, sys
for n in json.load(sys.stdin)["networks"]:
    if n["name"] == "blue":
        print(" ".join(sorted(p if isinstance(p, str) else p.get("peer", "?") for p in n["peers"])))'
}
has_peers() { [ "$(peers_of "$1")" = "$2" ]; }

say "three hosts; host a's config (b's and c's differ only in address and name): no peers"
for h in "${HOSTS[@]}"; do start_sttd "$h"; done
sed 's/^/  /' "$STATE/a.toml"
wait_until 10 "a to find b and c" has_peers a "10.0.0.2 10.0.0.3"
wait_until 10 "b to find a and c" has_peers b "10.0.0.1 10.0.0.3"
wait_until 10 "c to find a and b" has_peers c "10.0.0.1 10.0.0.2"
for h in "${HOSTS[@]}"; do echo "host $h: peers of blue found in etcd: $(peers_of "$h")"; done

say "sttd on host a: sttctl cluster"
ctl a cluster

# --------------------------------------------------------------------- traffic
say "ping over the overlay between every pair (56 bytes), then 1472 bytes with DF a -> b"
for pair in a:b a:c b:c; do
  from=${pair%:*} to=${pair#*:}
  printf '%s -> %s: ' "$from" "$to"
  in_ns "$from" ping -n -c 3 -i 0.2 -w 10 "$(inner_of "$to")" | tail -2 | head -1
done
in_ns a ping -n -c 3 -i 0.2 -w 10 -M "do" -s 1472 192.168.50.2 | tail -2

say "iperf3 TCP over the overlay a -> b, 3 s"
# Started directly (not through in_ns, a function: $! would be a subshell's pid).
ip netns exec "$PFX-b" iperf3 -s -B 192.168.50.2 >/dev/null 2>&1 &
echo $! >"$STATE/b.iperf3.pid"
wait_until 10 "iperf3 to listen" sh -c "ip netns exec $PFX-b ss -Hltn 'sport = :5201' | grep -q 5201"
in_ns a iperf3 -c 192.168.50.2 -t 3 -f g | grep -E 'sender|receiver' | sed 's/^\[ *[0-9]*\] *//'

say "a few underlay segments (capture on host b's veth0, TX offloads off), decoded by sttctl decap -j"
PCAP=$STATE/underlay.pcap
# Taken on a veth, a capture shows frames before the "NIC": with TX offloads on, STT
# frames still as one TSO super-segment with its checksum unfinished. Turn them off for
# this step so the kernel segments and checksums first: the capture is the wire form.
for h in a b; do in_ns "$h" ethtool -K veth0 tx off >/dev/null; done
ip netns exec "$PFX-b" dumpcap -q -i veth0 -P -f "tcp dst port 7471 and src host 10.0.0.1" -c 8 -w "$PCAP" 2>"$STATE/dumpcap.log" &
echo $! >"$STATE/b.dumpcap.pid"
# Send pings until dumpcap has its 8 segments and exits (bounded: 20 rounds). 1472-byte
# pings make 1514-byte inner frames: each STT frame needs two 1500-byte segments.
for _ in $(seq 20); do
  kill -0 "$(cat "$STATE/b.dumpcap.pid")" 2>/dev/null || break
  in_ns a ping -n -q -c 2 -i 0.2 -s 1472 192.168.50.2 >/dev/null || true
done
wait "$(cat "$STATE/b.dumpcap.pid")" 2>/dev/null || true
rm -f "$STATE/b.dumpcap.pid"
for h in a b; do in_ns "$h" ethtool -K veth0 tx on tso on >/dev/null; done
"$STTCTL" decap -i "$PCAP" -j >"$STATE/decap.jsonl"
echo "(full JSON: $STATE/decap.jsonl; one line per STT frame, then a summary)"
python3 - "$STATE/decap.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    j = json.loads(line)
    if "summary" in j:
        s = j["summary"]
        print("summary: %d segments read, %d frames delivered" % (s["packets"], s["frames_delivered"]))
        continue
    print("frame %d: %s -> %s  context %s  STT length %d in %d segment(s)  inner %s -> %s (%s, %d bytes)" % (
        j["frame"], j["outer_src"], j["outer_dst"], j["context_id"], j["stt_length"],
        j["segments"], j["inner_src"], j["inner_dst"], j["inner_ethertype"], j["inner_length"]))
PY

# --------------------------------------------------------------------- a MAC moves
# fdb_of HOST MAC: "peer type" of MAC in host's FDB of blue, or nothing.
fdb_of() {
  ctl "$1" fdb show network blue -j | python3 -c '
import json, sys
for e in json.load(sys.stdin):
    if e["mac"] == sys.argv[1]:
        print(e["peer"], e["type"])' "$2"
}
# fdb_peer_is HOST MAC PEER: MAC points at PEER in host's FDB (whatever the entry's type).
fdb_peer_is() { [ "$(fdb_of "$1" "$2" | cut -d' ' -f1)" = "$3" ]; }
# attach_vm HOST: the VM's interface, a macvlan on HOST's TAP, moved into the VM namespace.
attach_vm() {
  ip -n "$PFX-$1" link add vm0 link stt-blue address "$VM_MAC" type macvlan mode bridge
  ip -n "$PFX-$1" link set vm0 netns "$PFX-vm"
  ip -n "$PFX-vm" addr add "$VM_IP/24" dev vm0
  ip -n "$PFX-vm" link set vm0 up
}

say "a MAC moves: a VM ($VM_MAC, $VM_IP) behind host b, then behind host c"
ip netns add "$PFX-vm"
ip -n "$PFX-vm" link set lo up
attach_vm b
in_ns a ping -n -c 3 -i 0.2 -w 10 "$VM_IP" | tail -2 | head -1
wait_until 10 "the VM's MAC in a's FDB" fdb_peer_is a "$VM_MAC" 10.0.0.2
echo "host a's FDB: $VM_MAC -> $(fdb_of a "$VM_MAC")"
echo "moving the VM to host c (its interface now hangs off c's TAP; it speaks once, to b)"
ip -n "$PFX-vm" link del vm0
attach_vm c
in_ns vm ping -n -c 1 -w 5 192.168.50.2 >/dev/null
wait_until 10 "the VM's MAC to move in a's FDB" fdb_peer_is a "$VM_MAC" 10.0.0.3
echo "host a's FDB: $VM_MAC -> $(fdb_of a "$VM_MAC")"
in_ns a ping -n -c 3 -i 0.2 -w 10 "$VM_IP" | tail -2 | head -1
echo "in etcd:"
etcdctl_ get --prefix /stt/claims/ | sed 's/^/  /'

# --------------------------------------------------------------------- a host leaves
say "host c leaves (SIGTERM: sttd revokes its lease, its keys vanish at once)"
kill -TERM "$(cat "$STATE/c.sttd.pid")"
wait_until 10 "sttd on c to exit" sh -c "! kill -0 $(cat "$STATE/c.sttd.pid")"
rm -f "$STATE/c.sttd.pid"
wait_until 5 "a to drop c" has_peers a "10.0.0.2"
wait_until 5 "b to drop c" has_peers b "10.0.0.1"
for h in a b; do echo "host $h: peers of blue: $(peers_of "$h")"; done
echo "hosts in etcd:"
etcdctl_ get --prefix /stt/hosts/ --keys-only | sed '/^$/d; s/^/  /'

say "sttctl stats on host a (global counters that are not zero)"
ctl a stats | sed '/^networks:/,$d' | grep -vE '[[:space:]]0$'
echo "(per network and every counter, zeros included: sttctl stats -s $STATE/a.sock)"

if [ "$KEEP" -eq 1 ]; then
  say "left up (--keep). Explore with:"
  cat <<EOF
  ip netns exec $PFX-a ping 192.168.50.2
  ip netns exec $PFX-a bash                        # a shell on host a
  $STTCTL cluster -s $STATE/a.sock   # also: show, fdb show, stats; -j: JSON
  ip netns exec $PFX-e1 env ETCDCTL_API=3 etcdctl --endpoints $ENDPOINTS get --prefix /stt/
  logs: $STATE/*.log
Tear down with: $0 --down
EOF
else
  say "tearing down"
fi
