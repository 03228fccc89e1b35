#!/bin/sh
# Flood benchmark (root): a tenant's iperf3 transfer through the overlay under a flood of STT
# segments from 4096 non-peer sources, beside the same transfer under a UDP flood of the same
# packet rate (the reference: what any flood costs the kernel), with fast_path = "bpf" and
# "off"; also the reassembly cap under a flood spoofing the peer. Prints goodput per phase and
# the ratio STT flood / UDP flood (bench/flood/flood.py says more).
#   bench/flood/run.sh                  # BUILD=build by default; about 3 minutes
#   BUILD=build-e2e FLOOD_ROUNDS=3 FLOOD_SECONDS=6 FLOOD_PPS=100000 FLOOD_SOURCES=4096 \
#     FLOOD_MODES=bpf,off bench/flood/run.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${BUILD:-$repo/build}
case $build in /*) ;; *) build=$repo/$build ;; esac

if [ ! -x "$build/src/daemon/sttd" ] || [ ! -x "$build/src/ctl/sttctl" ]; then
  cmake -S "$repo" -B "$build" -G Ninja >/dev/null
  ninja -C "$build" sttd sttctl
fi
# The sender is one file with no project dependencies; built beside the project's binaries.
mkdir -p "$build/bench/flood"
flood=$build/bench/flood/stt_flood
if [ ! -x "$flood" ] || [ "$here/stt_flood.cpp" -nt "$flood" ]; then
  g++ -std=c++20 -O2 -Wall -Wextra -Werror -o "$flood" "$here/stt_flood.cpp"
fi
STTD=$build/src/daemon/sttd STTCTL=$build/src/ctl/sttctl STT_FLOOD=$flood \
  exec python3 -u "$here/flood.py"
