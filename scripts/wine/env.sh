# Sourced by setup.sh and run.sh: where the prefix and Wine live.
# BH_WINEPREFIX overrides the prefix (default: a cache dir outside the clone).
export WINEPREFIX="${BH_WINEPREFIX:-${XDG_CACHE_HOME:-$HOME/.cache}/bh-ipc-check/wine-prefix}"
export WINEDEBUG="${WINEDEBUG:--all}"
BH_WINE=/usr/lib/wine/wine64
BH_WINESERVER=/usr/lib/wine/wineserver64
