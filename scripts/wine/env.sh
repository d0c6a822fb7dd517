# Sourced by setup.sh and run.sh: where the prefix and Wine live, and how
# to have the prefix's wineserver running detached.
# BH_WINEPREFIX overrides the prefix (default: a cache dir outside the clone).
export WINEPREFIX="${BH_WINEPREFIX:-${XDG_CACHE_HOME:-$HOME/.cache}/bh-ipc-check/wine-prefix}"
export WINEDEBUG="${WINEDEBUG:--all}"
BH_WINE=/usr/lib/wine/wine64
BH_WINESERVER=/usr/lib/wine/wineserver64

# bh_wineserver_up makes sure the prefix's wineserver runs, detached from
# our output (setsid, /dev/null) and persistent (-p), with Wine's system
# processes (services.exe, winedevice.exe, ...) started the same way.
# Whatever a Wine program starts by itself (a wineserver, those services)
# inherits that program's output pipes and outlives it, and whoever reads
# the pipes (go test) then waits a minute for them ("Test I/O incomplete").
# wineserver daemonizes once it listens, so the start returns when it is
# ready; it exits 2 when one already runs for the prefix.
# BH_WINESERVER_STARTED is 1 after a call that started it, else 0.
bh_wineserver_up() {
	local rc=0
	BH_WINESERVER_STARTED=0
	setsid "$BH_WINESERVER" -p </dev/null >/dev/null 2>&1 || rc=$?
	case "$rc" in
	0) # just started: start the system processes now, detached too
		BH_WINESERVER_STARTED=1
		setsid "$BH_WINE" cmd /c exit 0 </dev/null >/dev/null 2>&1 || true ;;
	2) ;; # already running
	*)
		echo "wine: wineserver failed to start (exit $rc)" >&2
		return 1
		;;
	esac
}
