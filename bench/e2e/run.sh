#!/usr/bin/env bash
# End-to-end benchmark: STT through sttd with its kernel fast path (fast_path = "bpf") and
# without it ("off"), beside kernel VXLAN and the bare veth underlay, in two network
# namespaces, for the underlay offload profiles full, tcp-only and none.
#
#   bench/e2e/run.sh [--runs N] [--duration S] [--profiles full,tcp-only,none]
#                    [--paths bare,vxlan,stt-off,stt-bpf] [--pings N] [--out DIR]
#                    [--perf [--perf-paths stt-bpf,vxlan] [--perf-streams 1|4] [--perf-keep-data]]
#                    [--underlay-qdisc QDISC] [--keep-logs] [--build-dir DIR] [--no-build]
#                    [--sttd PATH --sttctl PATH] [--sttd-arg=ARG ...]
#                    (each ARG passed to every sttd, e.g.
#                     --sttd-arg=--tx-form --sttd-arg=segmented)
#
# As root. Builds sttd and sttctl (Release) in --build-dir (default build-e2e) unless
# --no-build or --sttd/--sttctl are given; if that fails, the STT rows carry the error and
# the other paths are still measured. Writes results.json, table.md and chart.png to --out
# (default bench/e2e/results/<UTC time>). Method and latest figures: docs/performance.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
build_dir="$repo/build-e2e"
build=1
sttd="" sttctl="" out=""
pass=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-dir) build_dir=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --sttd) sttd=$2; build=0; shift 2 ;;
    --sttctl) sttctl=$2; build=0; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) pass+=("$1"); shift ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "run.sh: run as root (it creates network namespaces)" >&2; exit 2; }

: "${sttd:=$build_dir/src/daemon/sttd}"
: "${sttctl:=$build_dir/src/ctl/sttctl}"
: "${out:=$here/results/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"

unavailable=""
if [[ $build -eq 1 ]]; then
  echo "building sttd and sttctl in $build_dir (log: $out/build.log)" >&2
  if ! { cmake -S "$repo" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release &&
         ninja -C "$build_dir" sttd sttctl; } >"$out/build.log" 2>&1; then
    unavailable="build of sttd/sttctl failed: $(grep -m1 -E 'error|FAILED' "$out/build.log" || tail -n1 "$out/build.log")"
    echo "run.sh: $unavailable (STT rows will say so)" >&2
  fi
fi

# The chart needs matplotlib: prefer an interpreter that has it (Debian's python3-matplotlib
# lives in /usr/bin/python3, which a pyenv shim earlier in PATH would hide).
py=""
for cand in /usr/bin/python3 python3; do
  if command -v "$cand" >/dev/null && "$cand" -c 'import matplotlib' 2>/dev/null; then
    py=$cand; break
  fi
done
[[ -n $py ]] || py=python3

args=(--out "$out" --sttd "$sttd" --sttctl "$sttctl")
[[ -n $unavailable ]] && args+=(--stt-unavailable "$unavailable")
# exec: Ctrl-C and SIGTERM reach the Python process directly, which cleans up.
exec "$py" "$here/e2e.py" "${args[@]}" ${pass[@]+"${pass[@]}"}
