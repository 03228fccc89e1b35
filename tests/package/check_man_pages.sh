#!/usr/bin/env bash
# Each man page in docs/man renders with no warning from groff (all warnings on)
# and from man-db (man --warnings), and says what its NAME section says.
set -uo pipefail
status=0
for page in "$@"; do
  name="$(basename "$page")"
  out="$(groff -ww -man -z "$page" 2>&1)"
  if [ -n "$out" ]; then echo "FAIL  groff -ww -man $name:"; echo "$out"; status=1
  else echo "ok    groff -ww -man -z $name: no warnings"; fi
  out="$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)"
  if [ -n "$out" ]; then echo "FAIL  man --warnings -l $name:"; echo "$out"; status=1
  else echo "ok    man --warnings -l $name: no warnings"; fi
  # whatis must find "NAME \- summary" (what mandb indexes).
  if ! lexgrog "$page" >/dev/null 2>&1; then echo "FAIL  lexgrog $name: no NAME line"; status=1
  else echo "ok    lexgrog $name: $(lexgrog "$page" | cut -d: -f2-)"; fi
done
exit $status
