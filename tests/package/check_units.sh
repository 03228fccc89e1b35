#!/usr/bin/env bash
# The systemd units as `cmake --install --prefix /usr` writes them (into a scratch
# DESTDIR, so nothing on this machine changes) pass `systemd-analyze verify`.
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
# verify also checks that ExecStart's binary and the Documentation= man pages
# exist. Without the package installed they are only in the staged tree, so a copy
# of each unit with that one path pointed there is verified, and man looks in the
# staged man pages. (test_package.py verifies the installed units as they are.)
units="$root/verify"
mkdir -p "$units"
for unit in sttd.service sttd@.service; do
  sed "s|^ExecStart=/usr/sbin/sttd |ExecStart=$root/usr/sbin/sttd |" \
    "$root/lib/systemd/system/$unit" >"$units/$unit"
done
cp "$units/sttd@.service" "$units/sttd@example.service"   # a template is verified as an instance
for unit in sttd.service sttd@example.service; do
  if out="$(MANPATH="$root/usr/share/man" systemd-analyze verify "$units/$unit" 2>&1)" &&
     [ -z "$out" ]; then
    echo "ok    systemd-analyze verify $unit"
  else
    echo "FAIL  systemd-analyze verify $unit:"; echo "$out"; status=1
  fi
done
[ -f "$root/etc/stt/sttd.toml" ] && echo "ok    /etc/stt/sttd.toml installed" ||
  { echo "FAIL  /etc/stt/sttd.toml not installed"; status=1; }
exit $status
