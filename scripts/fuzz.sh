#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-14 (address + undefined-behaviour
# sanitizers) in build-fuzz/ and runs each for SECONDS (default 60).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#   scripts/fuzz.sh --tests     build every unit test and fuzz replay in the same
#                               clang ASan + UBSan build and run them (ctest -L
#                               'unit|fuzz'): the test command's sanitizer stage
#   scripts/fuzz.sh --build-tests   only build them (the test command does this
#                               beside its other tests, then runs --tests)
#
# Each run starts from the committed seed corpus (fuzz/corpus/<target>/,
# read-only) plus a scratch corpus in build-fuzz/corpus/<target>/ that
# keeps what earlier runs found. Crashes, leaks and broken invariants are
# written to build-fuzz/artifacts/<target>/ and make the script exit 1.
# Non-interactive: no prompts, bounded time, one summary line per target.
#
# Environment:
#   FUZZ_JOBS=N      parallel fuzzing processes per target (default 1)
#   FUZZ_PARALLEL=N  targets fuzzed at the same time (default: the number of
#                    cores; 1 when FUZZ_JOBS > 1)
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
elif [ "${1:-}" = "--build-tests" ]; then
  mode=build-tests
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
sanitize+=" -fno-omit-frame-pointer"
# RelWithDebInfo's -O2 -DNDEBUG with -gline-tables-only instead of -g: a sanitizer report
# still names file and line of every frame (inlined ones too), without the full debug info
# that costs compile time and is only wanted in a debugger (docs/testing.md). lld links
# the instrumented executables in less CPU time than ld.bfd.
config_flags="-O2 -gline-tables-only -DNDEBUG"

mkdir -p "$build"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_CXX_FLAGS="$sanitize" \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$config_flags" -DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld \
  -DSTT_FUZZ=ON -DSTT_TESTS=ON -DSTT_BENCH=OFF >"$build/configure.log" 2>&1 || {
  cat "$build/configure.log" >&2
  echo "fuzz.sh: configure failed" >&2
  exit 2
}
if [ "$mode" != fuzz ]; then
  mapfile -t targets < <(ninja -C "$build" -t targets all |
    sed -nE 's/^((unit|fuzz)_[a-z0-9_]+): phony$/\1/p' | grep -v '_corpus$' | sort -u)
fi
built_at=$SECONDS
if ! ninja -C "$build" "${targets[@]}" >"$build/build.log" 2>&1; then
  tail -n 60 "$build/build.log" >&2
  echo "fuzz.sh: build failed (full log: $build/build.log)" >&2
  exit 2
fi
echo "fuzz.sh: ${#targets[@]} targets up to date in $((SECONDS - built_at)) s (log: $build/build.log)"
[ "$mode" = build-tests ] && exit 0

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [ "$mode" = tests ]; then
  exec ctest --test-dir "$build" -L 'unit|fuzz' --output-on-failure -j "$(nproc)"
fi

jobs=${FUZZ_JOBS:-1}
max_len=${FUZZ_MAX_LEN:-4096}
# Targets fuzz side by side, one per core: each still gets SECONDS of wall time
# and a core of its own, as when they ran one after another, in a fraction of
# the time. With FUZZ_JOBS=N each target already uses N processes, so one at a time.
parallel=${FUZZ_PARALLEL:-$(nproc)}
[ "$jobs" -gt 1 ] && parallel=1

# Fuzzes target $1 and writes its summary line to build-fuzz/$1.summary; the exit
# status is the target's.
fuzz_one() {
  local t=$1
  local seeds="$root/fuzz/corpus/$t"
  local scratch="$build/corpus/$t"
  local artifacts="$build/artifacts/$t"
  local log="$build/$t.log"
  local work="$build/work/$t"
  mkdir -p "$scratch" "$artifacts" "$seeds" "$work"
  # Dictionary, when the target has one.
  local dict=()
  [ -f "$root/fuzz/$t.dict" ] && dict=(-dict="$root/fuzz/$t.dict")
  local par=()
  [ "$jobs" -gt 1 ] && par=(-jobs="$jobs" -workers="$jobs")
  local rc
  set +e
  # From the target's own directory, where libFuzzer puts its per-job logs (fuzz-N.log).
  (cd "$work" && rm -f fuzz-*.log &&
    "$build/fuzz/$t" "$scratch" "$seeds" -max_total_time="$seconds" -max_len="$max_len" \
      -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 "${par[@]}" \
      -artifact_prefix="$artifacts/" "${dict[@]}") >"$log" 2>&1
  rc=$?
  set -e
  local execs cov
  execs=$({ cat "$log" "$work"/fuzz-*.log 2>/dev/null || true; } |
    { grep -o 'stat::number_of_executed_units: *[0-9]*' || true; } | awk '{s += $2} END {print s + 0}')
  cov=$({ grep -o 'cov: [0-9]*' "$log" || true; } | tail -n 1 | awk '{print $2}')
  if [ $rc -ne 0 ]; then
    {
      echo "$t: FAILED (exit $rc) after $execs runs; see $log and $artifacts/"
      grep -m 5 -E 'ERROR|invariant|SUMMARY|runtime error' "$log" || tail -n 20 "$log"
    } >"$build/$t.summary"
  else
    echo "$t: ok, $execs runs in ${seconds}s, coverage ${cov:-?} edges, corpus $(ls "$scratch" | wc -l) files" \
      >"$build/$t.summary"
  fi
  if [ "${FUZZ_MERGE:-0}" = 1 ] && [ $rc -eq 0 ]; then
    "$build/fuzz/$t" -merge=1 -max_len="$max_len" "$seeds" "$scratch" >>"$log" 2>&1
    echo "$t: merged into fuzz/corpus/$t ($(ls "$seeds" | wc -l) files)" >>"$build/$t.summary"
  fi
  return $rc
}

status=0
for ((i = 0; i < ${#targets[@]}; i += parallel)); do
  batch=("${targets[@]:i:parallel}")
  pids=()
  for t in "${batch[@]}"; do
    fuzz_one "$t" &
    pids+=($!)
  done
  for k in "${!batch[@]}"; do
    if wait "${pids[$k]}"; then
      cat "$build/${batch[$k]}.summary"
    else
      status=1
      cat "$build/${batch[$k]}.summary" >&2
    fi
  done
done
exit $status
