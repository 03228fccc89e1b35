#!/usr/bin/env bash
# The main job: an STT overlay between two hosts, shown working.
#
#   ./scripts/demo.sh           install deps, build, bring up, show ping / iperf3 /
#                               decoded underlay segments / counters, tear down
#   ./scripts/demo.sh --keep    same, but leave everything up to explore
#   ./scripts/demo.sh --down    tear down what a --keep run left
#
# Two "hosts" are network namespaces (sttdemo-a, sttdemo-b) joined by a veth pair
# (the underlay, MTU 1500, 10.0.0.1 <-> 10.0.0.2). Each runs sttd with one virtual
# network "blue" (context ID 0x1234) on TAP stt-blue (192.168.50.1 / .2).
# Must run as root. Touches nothing outside those namespaces and $STATE.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${STT_BUILD_DIR:-$ROOT/build}
STATE=/run/sttdemo
NS_A=sttdemo-a
NS_B=sttdemo-b
CTX=0x1234
KEEP=0

case "${1:-}" in
  "") ;;
  --keep) KEEP=1 ;;
  --down) MODE=down ;;
  -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: $0 [--keep | --down]" >&2; exit 2 ;;
esac

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }
in_a() { ip netns exec "$NS_A" "$@"; }
in_b() { ip netns exec "$NS_B" "$@"; }

teardown() {
  for h in a b; do
    for what in sttd iperf3 dumpcap; do
      local pidf=$STATE/$h.$what.pid
      [ -f "$pidf" ] || continue
      local pid
      pid=$(cat "$pidf")
      if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        # sttd removes its TAP and firewall rule on SIGTERM; give it a bounded moment.
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
      fi
      rm -f "$pidf"
    done
  done
  ip netns del "$NS_A" 2>/dev/null || true
  ip netns del "$NS_B" 2>/dev/null || true
  rm -rf "$STATE"
}

[ "$(id -u)" -eq 0 ] || die "run as root (it creates network namespaces)"

if [ "${MODE:-}" = down ]; then
  teardown
  echo "demo: torn down"
  exit 0
fi

if ip netns list | grep -qE "^($NS_A|$NS_B)( |$)"; then
  die "namespaces from an earlier --keep run exist; remove them with: $0 --down"
fi

on_exit() {
  local rc=$?
  if [ "$KEEP" -eq 1 ] && [ "$rc" -eq 0 ]; then
    return
  fi
  if [ "$rc" -ne 0 ]; then
    echo "demo: failed (status $rc)" >&2
    for h in a b; do
      [ -s "$STATE/$h.log" ] && { echo "--- sttd log of host $h:" >&2; tail -20 "$STATE/$h.log" >&2; }
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

# --------------------------------------------------------------------- hosts
say "two hosts: $NS_A (10.0.0.1) and $NS_B (10.0.0.2), veth underlay, MTU 1500"
mkdir -p "$STATE"
ip netns add "$NS_A"
ip netns add "$NS_B"
ip -n "$NS_A" link set lo up
ip -n "$NS_B" link set lo up
ip -n "$NS_A" link add veth0 mtu 1500 type veth peer name veth0 mtu 1500 netns "$NS_B"
ip -n "$NS_A" addr add 10.0.0.1/24 dev veth0
ip -n "$NS_B" addr add 10.0.0.2/24 dev veth0
ip -n "$NS_A" link set veth0 up
ip -n "$NS_B" link set veth0 up

start_sttd() {  # host-letter local-address peer-address
  local h=$1 local=$2 peer=$3 ns=sttdemo-$1
  cat >"$STATE/$h.toml" <<EOF
[underlay]
interface = "veth0"
local = "$local"

[control]
socket = "$STATE/$h.sock"

[[network]]
name = "blue"
context_id = $CTX
peers = ["$peer"]
EOF
  ip netns exec "$ns" "$STTD" -c "$STATE/$h.toml" 2>"$STATE/$h.log" &
  echo $! >"$STATE/$h.sttd.pid"
  # Ready once the control socket answers (bounded: 10 s).
  for _ in $(seq 100); do
    "$STTCTL" show -s "$STATE/$h.sock" >/dev/null 2>&1 && return 0
    kill -0 "$(cat "$STATE/$h.sttd.pid")" 2>/dev/null || die "sttd on host $h exited: $(cat "$STATE/$h.log")"
    sleep 0.1
  done
  die "sttd on host $h did not answer within 10 s"
}
start_sttd a 10.0.0.1 10.0.0.2
start_sttd b 10.0.0.2 10.0.0.1
ip -n "$NS_A" addr add 192.168.50.1/24 dev stt-blue
ip -n "$NS_B" addr add 192.168.50.2/24 dev stt-blue
ip -n "$NS_A" link set stt-blue up
ip -n "$NS_B" link set stt-blue up

say "sttd on $NS_A: sttctl show"
"$STTCTL" show -s "$STATE/a.sock"

# --------------------------------------------------------------------- traffic
say "ping 192.168.50.2 over the overlay (56 bytes, then 1472 bytes with DF: full 1500-byte inner packets)"
in_a ping -n -c 5 -i 0.2 -w 10 192.168.50.2 | tail -2
in_a ping -n -c 3 -i 0.2 -w 10 -M do -s 1472 192.168.50.2 | tail -2

say "iperf3 TCP over the overlay, 3 s"
# Started directly (not through in_b, a function: $! would be a subshell's pid).
ip netns exec "$NS_B" iperf3 -s -B 192.168.50.2 >/dev/null 2>&1 &
echo $! >"$STATE/b.iperf3.pid"
for _ in $(seq 100); do
  in_b ss -Hltn 'sport = :5201' | grep -q 5201 && break
  sleep 0.1
done
in_a iperf3 -c 192.168.50.2 -t 3 -f g | grep -E 'sender|receiver' | sed 's/^\[ *[0-9]*\] *//'

say "a few underlay segments (capture on $NS_B veth0, TX offloads off), decoded by sttctl decap -j"
PCAP=$STATE/underlay.pcap
# Taken on a veth, a capture shows frames before the "NIC": with TX offloads on, STT
# frames still as one TSO super-segment with its checksum unfinished. Turn them off for
# this step so the kernel segments and checksums first: the capture is the wire form.
for ns in "$NS_A" "$NS_B"; do ip netns exec "$ns" ethtool -K veth0 tx off >/dev/null; done
ip netns exec "$NS_B" dumpcap -q -i veth0 -P -f "tcp dst port 7471" -c 8 -w "$PCAP" 2>"$STATE/dumpcap.log" &
echo $! >"$STATE/b.dumpcap.pid"
# Send pings until dumpcap has its 8 segments and exits (bounded: 20 rounds). 1472-byte
# pings make 1514-byte inner frames: each STT frame needs two 1500-byte segments.
for _ in $(seq 20); do
  kill -0 "$(cat "$STATE/b.dumpcap.pid")" 2>/dev/null || break
  in_a ping -n -q -c 2 -i 0.2 -s 1472 192.168.50.2 >/dev/null || true
done
wait "$(cat "$STATE/b.dumpcap.pid")" 2>/dev/null || true
rm -f "$STATE/b.dumpcap.pid"
for ns in "$NS_A" "$NS_B"; do ip netns exec "$ns" ethtool -K veth0 tx on tso on >/dev/null; done
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

say "sttctl stats on $NS_A (global counters that are not zero)"
"$STTCTL" stats -s "$STATE/a.sock" | sed '/^networks:/,$d' | grep -vE '[[:space:]]0$'
echo "(per network and every counter, zeros included: sttctl stats -s $STATE/a.sock)"

if [ "$KEEP" -eq 1 ]; then
  say "left up (--keep). Explore with:"
  cat <<EOF
  ip netns exec $NS_A ping 192.168.50.2
  ip netns exec $NS_A bash                        # a shell on host a
  $STTCTL show -s $STATE/a.sock     # also: fdb show, stats, reassembly; -j: JSON
  ip netns exec $NS_B dumpcap -i veth0 -P -w /tmp/u.pcap; $STTCTL decap -i /tmp/u.pcap -j
  logs: $STATE/a.log $STATE/b.log
Tear down with: $0 --down
EOF
else
  say "tearing down"
fi
