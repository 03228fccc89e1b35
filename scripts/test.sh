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

stage() { printf '\n==== %s ====\n' "$*"; }

stage "dependencies"
./scripts/install-deps.sh

stage "configure ${build}/ (RelWithDebInfo, Ninja)"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

stage "build"
cmake --build "$build"

failed=()

stage "ctest (all labels)"
# ctest prints its own summary ("N% tests passed, M tests failed out of K",
# the failed cases, and the time per label).
if ! ctest --test-dir "$build" --output-on-failure; then
  failed+=("ctest")
fi

# ---- further stages go here --------------------------------------------------
# e.g. a sanitizer build (-DSTT_SANITIZE=ON in build-asan/, ctest -L unit) and
# short libFuzzer runs (-DSTT_FUZZ=ON with clang, each target for a bounded
# -max_total_time). Each stage appends its name to `failed` on failure, so
# one broken stage does not hide the others.
# -------------------------------------------------------------------------------

stage "result"
if [ ${#failed[@]} -ne 0 ]; then
  echo "test.sh: FAILED: ${failed[*]}"
  exit 1
fi
echo "test.sh: all stages passed"
