#!/usr/bin/env bash
# Offline STT demo: generate a pcap of inner Ethernet frames, encapsulate it
# with `sttctl encap` (IPv4 underlay, MTU 1500), check the result with
# tshark's STT dissector (tests/interop/stt_tshark.py, and the independent
# checker in ../shared/oracle as well when it is there), decapsulate it with
# `sttctl decap -j`, and show that the inner frames came back byte for byte.
#
# With no arguments (README's first command, as root on a fresh Debian 12) it
# installs the dependencies and builds sttctl in build/ first.
#   --sttctl PATH   use this sttctl and skip the install/build step
#   --workdir DIR   where the pcaps go (default: a fresh temporary directory)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sttctl=""
workdir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --sttctl) sttctl="$2"; shift 2 ;;
    --workdir) workdir="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "pcap-roundtrip.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done

if [ -z "$sttctl" ]; then
  "$repo/scripts/install-deps.sh"
  cmake -S "$repo" -B "$repo/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$repo/build" --target sttctl
  sttctl="$repo/build/src/ctl/sttctl"
fi
if [ -z "$workdir" ]; then
  workdir="$(mktemp -d /tmp/stt-roundtrip.XXXXXX)"
fi
mkdir -p "$workdir"
checker="$repo/tests/interop/stt_tshark.py"
oracle="$repo/../shared/oracle/stt_tshark_check.py"
inner="$workdir/inner.pcap"
stt="$workdir/stt.pcap"
back="$workdir/back.pcap"

echo "== 1. inner frames: ICMP, TCP, UDP, ARP, IPv6, an 802.1Q-tagged frame, up to 20000 bytes"
python3 - "$repo/tests/interop" "$inner" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import stt_interop as t
mix = [("icmp4", 98, None), ("tcp4", 1514, None), ("udp4", 9018, None), ("arp", 60, None),
       ("tcp6", 20000, None), ("icmp4", 3000, (100, 5))]
frames = t.build_frames(mix, t.segment_payload(4, 1500))
t.write_pcap(sys.argv[2], [(f.ts, f.data) for f in frames])
print("wrote %d frames to %s" % (len(frames), sys.argv[2]))
PY

echo
echo "== 2. sttctl encap (context 0x5354540000000001, 192.0.2.1 -> 192.0.2.2, MTU 1500)"
"$sttctl" encap -i "$inner" -o "$stt" --context-id 0x5354540000000001 \
  --src 192.0.2.1 --dst 192.0.2.2 --mtu 1500

echo
echo "== 3. tshark's STT dissector (tests/interop/stt_tshark.py)"
python3 "$checker" "$stt" >"$workdir/tshark.jsonl"
if [ -f "$oracle" ]; then
  echo "   and the independent checker in ../shared/oracle, --strict"
  python3 "$oracle" --strict "$stt" >"$workdir/oracle.jsonl"
fi
python3 - "$workdir/tshark.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print("frame %3d: %-2d segment(s) stt_len %5d flags 0x%02x vlan %d/%d context %s ok=%s"
          % (r["frame"], len(r["segment_frames"]), r["stt_len"], r["flags"], r["vlan_v"],
             r["vlan_id"], r["context_id"], r["ok"]))
PY

echo
echo "== 4. sttctl decap -j"
"$sttctl" decap -i "$stt" -o "$back" -j

echo
echo "== 5. inner frames back, byte for byte"
python3 - "$repo/tests/interop" "$inner" "$back" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import stt_interop as t
_, a = t.read_pcap(sys.argv[2])
_, b = t.read_pcap(sys.argv[3])
same = len(a) == len(b) and all(x[1] == y[1] for x, y in zip(a, b))
print("%d frames in, %d frames out: %s" % (len(a), len(b), "identical" if same else "DIFFERENT"))
sys.exit(0 if same else 1)
PY
echo "pcaps are in $workdir"
