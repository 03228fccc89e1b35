#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-14 (address + undefined-behaviour
# sanitizers) in build-fuzz/ and runs each for SECONDS (default 60).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#   scripts/fuzz.sh --tests     build every unit test and fuzz replay in the same
#                               clang ASan + UBSan build and run them (ctest -L
#                               'unit|fuzz'): the test command's sanitizer stage
#
# Each run starts from the committed seed corpus (fuzz/corpus/<target>/,
# read-only) plus a scratch corpus in build-fuzz/corpus/<target>/ that
# keeps what earlier runs found. Crashes, leaks and broken invariants are
# written to build-fuzz/artifacts/<target>/ and make the script exit 1.
# Non-interactive: no prompts, bounded time, one summary line per target.
#
# Environment:
#   FUZZ_JOBS=N      parallel fuzzing processes per target (default 1)
#   FUZZ_MERGE=1     afterwards, merge new coverage into fuzz/corpus/<target>/
#                    (libFuzzer -merge=1 keeps only inputs that add coverage)
#   FUZZ_MAX_LEN=N   largest input libFuzzer generates (default 4096)
#   CXX=...          the clang++ to use (default clang++-14)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mode=fuzz
if [ "${1:-}" = "--tests" ]; then
  mode=tests
  shift
fi
seconds=${1:-60}
shift || true
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "fuzz.sh: SECONDS must be a positive integer, got '$seconds'" >&2
  exit 2
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(fuzz_parse fuzz_reassembly fuzz_decap fuzz_encap)
fi

cxx=${CXX:-clang++-14}
if ! command -v "$cxx" >/dev/null; then
  echo "fuzz.sh: $cxx not found (scripts/install-deps.sh installs clang)" >&2
  exit 2
fi
build="$root/build-fuzz"
sanitize="-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=undefined"
sanitize+=" -fno-omit-frame-pointer -g"

mkdir -p "$build"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_CXX_FLAGS="$sanitize" \
  -DSTT_FUZZ=ON -DSTT_TESTS=ON -DSTT_BENCH=OFF >"$build/configure.log" 2>&1 || {
  cat "$build/configure.log" >&2
  echo "fuzz.sh: configure failed" >&2
  exit 2
}
if [ "$mode" = tests ]; then
  mapfile -t targets < <(ninja -C "$build" -t targets all |
    sed -nE 's/^((unit|fuzz)_[a-z0-9_]+): phony$/\1/p' | grep -v '_corpus$' | sort -u)
fi
if ! ninja -C "$build" "${targets[@]}" >"$build/build.log" 2>&1; then
  tail -n 60 "$build/build.log" >&2
  echo "fuzz.sh: build failed (full log: $build/build.log)" >&2
  exit 2
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [ "$mode" = tests ]; then
  exec ctest --test-dir "$build" -L 'unit|fuzz' --output-on-failure
fi

jobs=${FUZZ_JOBS:-1}
max_len=${FUZZ_MAX_LEN:-4096}
status=0
for t in "${targets[@]}"; do
  seeds="$root/fuzz/corpus/$t"
  scratch="$build/corpus/$t"
  artifacts="$build/artifacts/$t"
  log="$build/$t.log"
  mkdir -p "$scratch" "$artifacts" "$seeds"
  # Dictionary, when the target has one.
  dict=()
  [ -f "$root/fuzz/$t.dict" ] && dict=(-dict="$root/fuzz/$t.dict")
  par=()
  [ "$jobs" -gt 1 ] && par=(-jobs="$jobs" -workers="$jobs")
  set +e
  # From build-fuzz/, where libFuzzer puts its per-job logs (fuzz-N.log).
  (cd "$build" && rm -f fuzz-*.log &&
    "$build/fuzz/$t" "$scratch" "$seeds" -max_total_time="$seconds" -max_len="$max_len" \
      -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 "${par[@]}" \
      -artifact_prefix="$artifacts/" "${dict[@]}") >"$log" 2>&1
  rc=$?
  set -e
  execs=$({ cat "$log" "$build"/fuzz-*.log 2>/dev/null || true; } |
    { grep -o 'stat::number_of_executed_units: *[0-9]*' || true; } | awk '{s += $2} END {print s + 0}')
  cov=$({ grep -o 'cov: [0-9]*' "$log" || true; } | tail -n 1 | awk '{print $2}')
  if [ $rc -ne 0 ]; then
    status=1
    echo "$t: FAILED (exit $rc) after $execs runs; see $log and $artifacts/" >&2
    grep -m 5 -E 'ERROR|invariant|SUMMARY|runtime error' "$log" >&2 || tail -n 20 "$log" >&2
  else
    echo "$t: ok, $execs runs in ${seconds}s, coverage ${cov:-?} edges, corpus $(ls "$scratch" | wc -l) files"
  fi
  if [ "${FUZZ_MERGE:-0}" = 1 ] && [ $rc -eq 0 ]; then
    "$build/fuzz/$t" -merge=1 -max_len="$max_len" "$seeds" "$scratch" >>"$log" 2>&1
    echo "$t: merged into fuzz/corpus/$t ($(ls "$seeds" | wc -l) files)"
  fi
done
exit $status
