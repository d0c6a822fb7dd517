#!/usr/bin/env bash
# The project's test command (README.md): starts a Docker engine when none
# answers (the container legs need one), then runs every Go test with -race.
#
# It also sets up Wine (scripts/wine/setup.sh) for the Windows tests.
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
exec go test -race -count=1 ./...
