#!/usr/bin/env bash
# Set up Wine here so Go (>= 1.24) Windows binaries run: Wine 8 lacks
# bcryptprimitives!ProcessPrng, which those binaries need at start. The only
# change to Wine is one DLL in the prefix (processprng.c, built with
# Debian's mingw); nothing of Wine or Windows is patched.
#
#   setup.sh          install what is missing (apt, as root), make or reuse
#                     the prefix, build the DLL, start wineserver detached
#   setup.sh --check  exit 0 when all of that is in place, 1 otherwise
#
# Idempotent. The prefix lives outside the clone (env.sh: BH_WINEPREFIX).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/wine/env.sh
. "$here/env.sh"
dll="$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
# Written once the prefix exists and the DLL is in it (Wine writes its own
# registry files lazily, so they are no marker).
ready="$WINEPREFIX/bh-ipc-check.ready"
say() { printf 'wine setup: %s\n' "$*" >&2; }

if [ "${1:-}" = --check ]; then
	[ -x "$BH_WINE" ] && [ -f "$ready" ] && [ -f "$dll" ] && [ ! "$here/processprng.c" -nt "$dll" ]
	exit
fi

need=()
[ -x "$BH_WINE" ] || need+=(wine64)
command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 || need+=(gcc-mingw-w64-x86-64)
if [ "${#need[@]}" -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		say "missing ${need[*]}; installing them needs root (apt-get install ${need[*]})"
		exit 1
	fi
	say "installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq "${need[@]}" >&2
fi

if [ ! -d "$WINEPREFIX/drive_c/windows/system32" ]; then
	say "creating the prefix $WINEPREFIX"
	mkdir -p "$(dirname "$WINEPREFIX")"
	"$BH_WINE" wineboot -i </dev/null >/dev/null 2>&1
fi

if [ ! -f "$dll" ] || [ "$here/processprng.c" -nt "$dll" ]; then
	say "building the ProcessPrng shim into $dll"
	x86_64-w64-mingw32-gcc -O2 -shared -o "$dll" "$here/processprng.c"
fi
touch "$ready"

# Detached and persistent, so later Wine programs use it (env.sh says why).
bh_wineserver_up

say "ready (prefix $WINEPREFIX)"
