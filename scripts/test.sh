#!/usr/bin/env bash
# The project's test command (README, second command; .ci/run calls it):
# installs the Debian 12 dependencies, configures build/ (RelWithDebInfo at
# -g1, Ninja), builds everything, and runs every ctest case of every label (unit,
# interop, system, ...). Exits non-zero when anything fails. Run as root from
# anywhere; the system tests need root for network namespaces.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
build="${STT_BUILD_DIR:-build}"

# Each stage's wall time goes into the summary at the end (docs/testing.md keeps
# measured figures): where the time goes is the first thing to know when it grows.
times=()
stage_name=""
stage_start=$SECONDS
stage_end() {
  if [ -n "$stage_name" ]; then
    times+=("$(printf '%5d s  %s' $((SECONDS - stage_start)) "$stage_name")")
  fi
  stage_name=""
}
stage() {
  stage_end
  stage_name=$1
  stage_start=$SECONDS
  printf '\n==== %s ====\n' "$*"
}

stage "dependencies"
./scripts/install-deps.sh

stage "configure ${build}/ (RelWithDebInfo at -g1, Ninja)"
# The code we ship (RelWithDebInfo's -O2 -DNDEBUG), with -g1 instead of -g: function
# names and line tables, so a failing test's backtrace still names function, file and
# line, without the types and locals whose debug info made much of each compile's time
# (docs/testing.md). Developers' trees and packaging/build-deb.sh's own keep -g. lld links
# the many test executables with a fraction of ld.bfd's CPU time.
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" -DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld

stage "build"
cmake --build "$build"

failed=()

# The clang sanitizer build (build-fuzz/, below) is as long as the tests of build/,
# and most of those tests' time is waiting (namespaces, daemons, ping intervals,
# captures), not computing. So it is built beside them at idle priority (SCHED_IDLE:
# it gets only the CPU the tests leave unused), and the cases that need a quiet
# machine run after it is done: the label `serial` (timing bounds, the package
# install) and the labels `bpf` and `cluster`, all of whose cases are RUN_SERIAL
# (gtest_discover_tests cannot give its cases a second label). It starts after the
# g++ build, not beside it: on this machine's two vCPUs an idle-priority build beside
# the g++ one still slowed it by about as much as it got done (docs/testing.md), while
# beside the tests it uses CPU that would otherwise go unused.
quiet='^(serial|bpf|cluster)$'
# setsid: its own process group, so an interrupted run stops the whole build.
sanitizer_log="$build/sanitizer-build.log"
setsid chrt --idle 0 ./scripts/fuzz.sh --build-tests >"$sanitizer_log" 2>&1 &
sanitizer_pid=$!
trap 'kill -- -"$sanitizer_pid" 2>/dev/null || true' EXIT

stage "ctest: every label but the quiet-machine cases; the sanitizer build beside it"
# ctest prints its own summary ("N% tests passed, M tests failed out of K",
# the failed cases, and the time per label). One case per core, root-only suites
# too: two suites side by side share nothing (tests/CMakeLists.txt,
# stt_add_root_test).
if ! ctest --test-dir "$build" --output-on-failure -j "$(nproc)" -LE "$quiet"; then
  failed+=("ctest")
fi

stage "sanitizer build (clang, build-fuzz/): what is left of it"
# No test runs now: what is left is built at normal priority (ninja passes the
# policy on to the compilers it starts from now on).
for pid in $(pgrep -g "$sanitizer_pid" || true); do
  chrt --other --pid 0 "$pid" 2>/dev/null || true
done
sanitizer_built=yes
if ! wait "$sanitizer_pid"; then
  sanitizer_built=no
  failed+=("sanitizers")
fi
trap - EXIT
cat "$sanitizer_log"

stage "ctest: the cases that need a quiet machine (labels serial, bpf, cluster), one at a time"
if ! ctest --test-dir "$build" --output-on-failure -L "$quiet"; then
  failed+=("ctest-serial")
fi

if [ "$sanitizer_built" = yes ]; then
  stage "sanitizers: unit and fuzz-replay tests under ASan + UBSan (build-fuzz/)"
  # The same instrumented build then runs the fuzzers below: one build, not two.
  if ! ./scripts/fuzz.sh --tests; then
    failed+=("sanitizers")
  fi

  stage "fuzz: each libFuzzer target for ${STT_FUZZ_SECONDS:-20} s (build-fuzz/)"
  # A short fixed budget here; `scripts/fuzz.sh 600` (or longer) for a real campaign.
  # The targets run side by side, one per core, each for the whole budget.
  if ! ./scripts/fuzz.sh "${STT_FUZZ_SECONDS:-20}"; then
    failed+=("fuzz")
  fi
fi

stage_end
printf '\n==== stage times (wall) ====\n'
printf '%s\n' "${times[@]}"
printf '%5d s  total\n' "$SECONDS"

stage "result"
if [ ${#failed[@]} -ne 0 ]; then
  echo "test.sh: FAILED: ${failed[*]}"
  exit 1
fi
echo "test.sh: all stages passed"
