#!/usr/bin/env bash
# The project's test command (README.md): starts a Docker engine when none
# answers (the container legs need one), then runs every Go test with -race.
#
# BH_REQUIRE_DOCKER=1 (CI) makes a missing engine a failure; otherwise the
# container tests skip and say why.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! bash scripts/ensure-docker.sh; then
	if [ "${BH_REQUIRE_DOCKER:-}" = 1 ]; then
		echo "test.sh: no Docker engine and BH_REQUIRE_DOCKER=1" >&2
		exit 1
	fi
	echo "test.sh: no Docker engine: the container tests will skip (BH_REQUIRE_DOCKER=1 makes that a failure)" >&2
fi
exec go test -race -count=1 ./...
