#!/usr/bin/env bash
# Run a Windows executable under Wine with the project's prefix (see
# setup.sh) and exit with its exit code. Usable as go test's -exec:
#   GOOS=windows go test -exec scripts/wine/run.sh ./ipc
#
# The program's output goes to files that tail copies here as it grows,
# until the program ends: whatever Wine starts on its own (a wineserver,
# services.exe, winedevice.exe) inherits the program's output and outlives
# it, and if that output were our caller's pipe, the caller (go test)
# would wait for it ("Test I/O incomplete"). Those hold the files instead.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/wine/env.sh
. "$here/env.sh"
bh_wineserver_up
out=$(mktemp "${TMPDIR:-/tmp}/bh-wine-out.XXXXXX")
err=$(mktemp "${TMPDIR:-/tmp}/bh-wine-err.XXXXXX")
trap 'rm -f "$out" "$err"' EXIT
"$BH_WINE" "$@" <&0 >"$out" 2>"$err" &
pid=$!
tail -n +1 -s 0.1 --pid="$pid" -f "$out" &
t1=$!
tail -n +1 -s 0.1 --pid="$pid" -f "$err" >&2 &
t2=$!
rc=0
wait "$pid" || rc=$?
wait "$t1" "$t2" || true
exit "$rc"
