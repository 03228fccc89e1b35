#!/usr/bin/env bash
# The systemd units as `cmake --install --prefix /usr` writes them (into a scratch
# DESTDIR, so nothing on this machine changes) pass `systemd-analyze verify`, which
# needs ExecStart's binary at its path: verify runs with the staged tree as --root.
#   check_units.sh BUILD_DIR
set -euo pipefail
build="$1"
root="$(mktemp -d /tmp/stt-units.XXXXXX)"
trap 'rm -rf "$root"' EXIT
DESTDIR="$root" cmake --install "$build" --prefix /usr >/dev/null
status=0
for unit in sttd.service sttd@.service; do
  f="$root/lib/systemd/system/$unit"
  if [ ! -f "$f" ]; then echo "FAIL  $unit not installed at /lib/systemd/system"; status=1; continue; fi
  grep -q '^ExecStart=/usr/sbin/sttd -c /etc/stt/\(sttd\|%i\)\.toml$' "$f" ||
    { echo "FAIL  $unit: ExecStart is not /usr/sbin/sttd -c /etc/stt/...:"; grep ExecStart "$f"; status=1; }
done
# A template is verified through an instance of it.
for unit in sttd.service sttd@example.service; do
  if out="$(systemd-analyze verify --root="$root" "$unit" 2>&1)" && [ -z "$out" ]; then
    echo "ok    systemd-analyze verify $unit"
  else
    echo "FAIL  systemd-analyze verify $unit:"; echo "$out"; status=1
  fi
done
[ -f "$root/etc/stt/sttd.toml" ] && echo "ok    /etc/stt/sttd.toml installed" ||
  { echo "FAIL  /etc/stt/sttd.toml not installed"; status=1; }
exit $status
