#!/usr/bin/env bash
# Regenerates the seed files (fuzz/corpus/<target>/seed-*) from the digest
# §8 vectors and encapsulate() output. Files libFuzzer found (other names)
# are left alone.
#
#   fuzz/gen-corpus.sh [BUILD_DIR]     (default: build-corpus/, plain g++)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build-corpus}
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DSTT_BENCH=OFF >/dev/null
fi
ninja -C "$build" fuzz_gen_corpus >/dev/null
rm -f "$root"/fuzz/corpus/*/seed-*
"$build/fuzz/fuzz_gen_corpus" "$root/fuzz/corpus"
du -sh "$root/fuzz/corpus"
