#!/usr/bin/env bash
# The project's test command (README.md). From nothing, on a 2-core machine,
# in two phases:
#
# 1. At the same time: (a) what the tests need from Debian, in one apt-get
#    run as root (docker.io, wine64 and mingw for Wine, openssh-client and
#    socat for the real-daemon tests in matrix/realdaemons_test.go), then a
#    Docker engine (scripts/ensure-docker.sh) and the Wine prefix
#    (scripts/wine/setup.sh, which leaves its wineserver running, detached);
#    (b) the Go builds that need none of that: the CLI and brokend, once for
#    every package's tests (BH_TEST_CLI, BH_TEST_BROKEND; see
#    internal/testenv BuildProgram), and act for internal/tasks. Both are
#    static and -trimpath like every host build of the tests, so the
#    standard library is compiled once for all of them; apt is mostly
#    waiting, so the compile costs little time beside it.
# 2. At the same time, both always run, either failing fails the command:
#    every Go test with -race, and every package's tests again as Windows
#    binaries under Wine (scripts/wine/test.sh; its output is printed when
#    it ends). matrix and internal/tasks, the longest, are named first so
#    their builds and tests start first; four packages and four parallel
#    tests run at a time, as most of their time is spent waiting on
#    daemons, act and Wine. -race stays on everywhere: the matrix and ipc
#    tests are where the suite's and the library's concurrency is exercised.
#
# BH_REQUIRE_DOCKER=1 / BH_REQUIRE_WINE=1 (CI) make a missing engine or Wine
# a failure; otherwise those tests skip and say why. BH_TEST_TIMEOUT
# (default 20m) is go test's package timeout: far above any package's
# time, cold; the tests that run builds, act or Wine end themselves a little
# before it, and a test binary that ends anyway (its timeout's panic, a
# kill) leaves no process running (internal/testenv: Reap).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf 'test.sh: %s\n' "$*" >&2; }
start=$SECONDS

work=$(mktemp -d "${TMPDIR:-/tmp}/bh-test.XXXXXX")
chmod 0755 "$work"
cleanup() {
	# The wineserver setup.sh left running for both phases' Wine programs.
	bash scripts/wine/stop.sh || true
	rm -rf "$work"
}
trap cleanup EXIT

# apt_install installs, in one apt-get run, the Debian packages the tests
# use that are missing (as root; otherwise the scripts below say what is
# missing and the tests skip).
apt_install() {
	local need=()
	if ! command -v dockerd >/dev/null 2>&1 && ! docker info >/dev/null 2>&1; then need+=(docker.io); fi
	[ -x /usr/lib/wine/wine64 ] || need+=(wine64)
	command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 || need+=(gcc-mingw-w64-x86-64)
	command -v ssh-agent >/dev/null 2>&1 || need+=(openssh-client)
	command -v socat >/dev/null 2>&1 || need+=(socat)
	[ "${#need[@]}" -gt 0 ] || return 0
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
		say "missing ${need[*]} and not root with apt-get: the tests that need them skip (apt-get install ${need[*]})"
		return 0
	fi
	say "installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null && apt-get install -y -q "${need[@]}" >/dev/null ||
		say "apt-get install ${need[*]} failed"
}

# host_setup is phase 1 (a); it fails only for what BH_REQUIRE_* requires.
host_setup() {
	local t0=$SECONDS
	apt_install
	if ! bash scripts/ensure-docker.sh; then
		if [ "${BH_REQUIRE_DOCKER:-}" = 1 ]; then
			say "no Docker engine and BH_REQUIRE_DOCKER=1"
			return 1
		fi
		say "no Docker engine: the container tests will skip (BH_REQUIRE_DOCKER=1 makes that a failure)"
	fi
	if ! bash scripts/wine/setup.sh; then
		if [ "${BH_REQUIRE_WINE:-}" = 1 ]; then
			say "Wine could not be set up and BH_REQUIRE_WINE=1"
			return 1
		fi
		say "no Wine: the Windows tests will skip (BH_REQUIRE_WINE=1 makes that a failure)"
	fi
	say "host set up in $((SECONDS - t0))s"
}

# go_prebuild is phase 1 (b): the CLI and brokend, and act where
# internal/tasks (EnsureAct) looks for it, built the way it builds it.
go_prebuild() {
	local t0=$SECONDS act_version tools
	# (Called in an || list, where set -e does not apply: each step returns.)
	CGO_ENABLED=0 go build -trimpath -o "$work/" ./cmd/bh-ipc-check ./matrix/testdata/brokend || return
	act_version=$(sed -n 's/^const ActVersion = "\(v[0-9.]*\)"$/\1/p' internal/tasks/act.go)
	if [ -z "$act_version" ]; then
		say "no ActVersion in internal/tasks/act.go"
		return 1
	fi
	tools=${XDG_CACHE_HOME:-$HOME/.cache}/bh-ipc-check/tools
	if ! "$tools/act" --version 2>/dev/null | grep -qF "${act_version#v}"; then
		CGO_ENABLED=0 GOBIN=$tools go install -trimpath "github.com/nektos/act@$act_version" || return
	fi
	say "CLI, brokend and act built in $((SECONDS - t0))s"
}

host_setup &
setup_pid=$!
rc=0
go_prebuild || rc=$?
wait "$setup_pid" || rc=$?
if [ "$rc" != 0 ]; then
	exit "$rc"
fi
export BH_TEST_CLI="$work/bh-ipc-check" BH_TEST_BROKEND="$work/brokend"
say "phase 1 (host set-up, prebuilds) took $((SECONDS - start))s"

# Phase 2. The Wine step in the background, its output to a file.
wine_pid=
if bash scripts/wine/setup.sh --check; then
	# internal/tasks' TestWindowsUnderWine leaves the ipc tests under Wine
	# to this step, which runs every package's.
	export BH_TEST_WINE_STEP=1
	(
		t0=$SECONDS
		wrc=0
		bash scripts/wine/test.sh || wrc=$?
		echo "test.sh: the Wine step took $((SECONDS - t0))s (exit $wrc)"
		exit "$wrc"
	) >"$work/wine.log" 2>&1 &
	wine_pid=$!
elif [ "${BH_REQUIRE_WINE:-}" = 1 ]; then
	say "Wine is not set up and BH_REQUIRE_WINE=1: the Windows tests cannot run"
	rc=1
else
	say "no Wine: the Windows tests under Wine are skipped (bash scripts/wine/setup.sh sets it up)"
fi

t0=$SECONDS
go test -race -count=1 -p 4 -parallel 4 -timeout "${BH_TEST_TIMEOUT:-20m}" ./matrix ./internal/tasks ./... || rc=$?
say "the Linux tests took $((SECONDS - t0))s"

if [ -n "$wine_pid" ]; then
	wait "$wine_pid" || rc=$?
	say "every package's tests as Windows binaries under Wine (scripts/wine/test.sh):"
	cat "$work/wine.log"
fi
say "took $((SECONDS - start))s, exit $rc"
exit "$rc"
