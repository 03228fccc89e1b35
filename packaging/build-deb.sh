#!/usr/bin/env bash
# Builds the Debian package stt_<version>_amd64.deb from this source tree:
# installs the build dependencies, configures BUILD (default build/, the same
# tree the test command uses), builds sttd and sttctl, and runs CPack's DEB
# generator (docs/packaging.md). Prints the path of the .deb on its last line.
#   packaging/build-deb.sh [--build-dir DIR] [--no-deps]
# As root on a fresh Debian 12 machine, from a clean clone: packaging/build-deb.sh
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$repo/build"
deps=1
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build="$(realpath -m "$2")"; shift 2 ;;
    --no-deps) deps=0; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "build-deb.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done

if [ "$deps" = 1 ]; then
  "$repo/scripts/install-deps.sh"
fi
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" --target deb >&2
version="$(sed -n 's/^CPACK_PACKAGE_VERSION:.*=//p;s/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' \
  "$build/CPackConfig.cmake" | head -n1)"
deb="$build/deb/stt_${version}_amd64.deb"
if [ ! -f "$deb" ]; then
  echo "build-deb.sh: $deb was not built" >&2
  exit 1
fi
echo "$deb"
