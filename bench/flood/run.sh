#!/bin/sh
# Flood benchmark (root): incomplete STT frames from many spoofed sources against sttd while
# iperf3 runs through the overlay; prints throughput as a ratio of the no-flood reference,
# sttd's peak memory against its reassembly cap, and the reassembly counters.
#   bench/flood/run.sh                  # BUILD=build by default
#   FLOOD_SECONDS=8 FLOOD_SOURCES=4096 BUILD=build-x bench/flood/run.sh
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
