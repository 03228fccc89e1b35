#!/usr/bin/env bash
# bench/cluster: a fresh sttd against a directory of N hosts and M MACs in etcd (issue 11).
#
#   bench/cluster/run.sh [--hosts 1000] [--macs 100000] [--networks 100] [--members 1]
#                        [--updates 20000] [--samples 30] [--crashes 5] [--floods 10]
#                        [--out DIR] [--build-dir DIR] [--no-build] [--sttd PATH --sttctl PATH]
#
# As root. Installs the Debian dependencies, builds sttd and sttctl in --build-dir (default
# build/, as scripts/test.sh) unless --no-build or --sttd/--sttctl are given, then runs
# cluster_bench.py: etcd and sttd in network namespaces, a generator filling etcd through its
# JSON gateway, and the figures (sync time, update rate, RSS, flood cost, join/leave/crash/move
# convergence). Writes results.json, table.md and chart.png to --out (default
# bench/cluster/results/<UTC time>). Method and latest figures: bench/cluster/README.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
build_dir="${STT_BUILD_DIR:-$repo/build}"
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
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) pass+=("$1"); shift ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "run.sh: run as root (it creates network namespaces)" >&2; exit 2; }

"$repo/scripts/install-deps.sh"
: "${sttd:=$build_dir/src/daemon/sttd}"
: "${sttctl:=$build_dir/src/ctl/sttctl}"
: "${out:=$here/results/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"

if [[ $build -eq 1 ]]; then
  echo "building sttd and sttctl in $build_dir (log: $out/build.log)" >&2
  if [[ ! -f $build_dir/build.ninja ]]; then
    cmake -S "$repo" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$out/build.log" 2>&1
  fi
  ninja -C "$build_dir" sttd sttctl >>"$out/build.log" 2>&1 ||
    { echo "run.sh: build failed, see $out/build.log" >&2; exit 1; }
fi

# The chart needs matplotlib: prefer the interpreter that has Debian's python3-matplotlib.
py=""
for cand in /usr/bin/python3 python3; do
  if command -v "$cand" >/dev/null && "$cand" -c 'import matplotlib' 2>/dev/null; then
    py=$cand; break
  fi
done
[[ -n $py ]] || py=python3

# exec: Ctrl-C and SIGTERM reach the Python process directly, which cleans up.
exec "$py" -u "$here/cluster_bench.py" --out "$out" --sttd "$sttd" --sttctl "$sttctl" \
  ${pass[@]+"${pass[@]}"}
