#!/usr/bin/env bash
# The project's test command (README.md): starts a Docker engine when none
# answers (the container legs need one), runs every Go test with -race
# (package timeout 20 minutes, BH_TEST_TIMEOUT), then every package's tests
# as Windows binaries under Wine (scripts/wine/test.sh).
#
# It also sets up Wine (scripts/wine/setup.sh) for the Windows tests, and
# installs the real daemons the matrix tests run against (ssh-agent, socat).
# BH_REQUIRE_DOCKER=1 / BH_REQUIRE_WINE=1 (CI) make a missing engine or Wine
# a failure; otherwise those tests skip and say why.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! bash scripts/ensure-docker.sh; then
	if [ "${BH_REQUIRE_DOCKER:-}" = 1 ]; then
		echo "test.sh: no Docker engine and BH_REQUIRE_DOCKER=1" >&2
		exit 1
	fi
	echo "test.sh: no Docker engine: the container tests will skip (BH_REQUIRE_DOCKER=1 makes that a failure)" >&2
fi
if ! bash scripts/wine/setup.sh; then
	if [ "${BH_REQUIRE_WINE:-}" = 1 ]; then
		echo "test.sh: Wine could not be set up and BH_REQUIRE_WINE=1" >&2
		exit 1
	fi
	echo "test.sh: no Wine: the Windows tests will skip (BH_REQUIRE_WINE=1 makes that a failure)" >&2
fi
# Real third-party daemons the matrix tests run the suite against
# (matrix/realdaemons_test.go): installed from Debian when this runs as root;
# otherwise those tests skip and say how to install them.
need_pkgs=()
command -v ssh-agent >/dev/null || need_pkgs+=(openssh-client)
command -v socat >/dev/null || need_pkgs+=(socat)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "test.sh: installing ${need_pkgs[*]} for the real-daemon tests" >&2
		export DEBIAN_FRONTEND=noninteractive
		apt-get install -y -q "${need_pkgs[@]}" >/dev/null ||
			{ apt-get update -q >/dev/null && apt-get install -y -q "${need_pkgs[@]}" >/dev/null; } ||
			echo "test.sh: could not install ${need_pkgs[*]}: the real-daemon tests will skip" >&2
	else
		echo "test.sh: ${need_pkgs[*]} missing and not root: the real-daemon tests will skip (apt-get install ${need_pkgs[*]})" >&2
	fi
fi
# The Linux tests (as root, the macOS job's conditions are simulated too:
# TestMacOSRunnerConditions in cmd/bh-ipc-check and matrix), then every
# package's tests again as Windows binaries under Wine. Either failing
# fails the command; both always run.
#
# An explicit package timeout: cold (nothing cached, 2 cores) internal/tasks
# builds act, actionlint, the darwin and windows test binaries and runs the
# Wine leg, which is near go test's default of 10 minutes. Its tests end
# themselves a little before this deadline, so they kill what they started
# (builds and Wine, each in a process group) instead of leaving it running
# after go test's timeout panic. BH_TEST_TIMEOUT overrides it.
rc=0
go test -race -count=1 -timeout "${BH_TEST_TIMEOUT:-20m}" ./... || rc=$?
if bash scripts/wine/setup.sh --check; then
	echo "test.sh: every package's tests as Windows binaries under Wine (scripts/wine/test.sh)" >&2
	bash scripts/wine/test.sh || rc=$?
elif [ "${BH_REQUIRE_WINE:-}" = 1 ]; then
	echo "test.sh: Wine is not set up and BH_REQUIRE_WINE=1: the Windows tests cannot run" >&2
	rc=1
else
	echo "test.sh: no Wine: the Windows tests under Wine are skipped (bash scripts/wine/setup.sh sets it up)" >&2
fi
exit "$rc"
