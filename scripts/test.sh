#!/usr/bin/env bash
# The project's test command (README, second command; .ci/run calls it):
# installs the Debian 12 dependencies, configures build/ (RelWithDebInfo,
# Ninja), builds everything, and runs every ctest case of every label (unit,
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

stage "configure ${build}/ (RelWithDebInfo, Ninja)"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

stage "build"
cmake --build "$build"

failed=()

stage "ctest (all labels)"
# ctest prints its own summary ("N% tests passed, M tests failed out of K",
# the failed cases, and the time per label). One case per core, root-only suites
# too: two suites side by side share nothing; those that need a quiet machine are
# RUN_SERIAL and run alone (tests/CMakeLists.txt, stt_add_root_test).
if ! ctest --test-dir "$build" --output-on-failure -j "$(nproc)"; then
  failed+=("ctest")
fi

stage "sanitizers: unit and fuzz-replay tests under ASan + UBSan (clang, build-fuzz/)"
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
