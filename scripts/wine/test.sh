#!/usr/bin/env bash
# Every package's tests as Windows binaries under Wine: go test -exec
# scripts/wine/run.sh ./... with GOOS=windows. Called by scripts/test.sh;
# exits with go test's status and prints go test's own lines.
#
# Wine has no Windows Go toolchain, so the CLI the matrix tests drive is
# built here once and named in BH_TEST_CLI (a Windows path: Wine maps / to
# Z:). Tests that cannot run under Wine skip there, saying why
# (internal/testenv: SkipUnderWine, NeedGo).
#
#   test.sh [go test flags] [packages]   default: -count=1 ./...
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/../.."
if ! bash "$here/setup.sh" --check; then
	echo "wine test: Wine is not set up (bash scripts/wine/setup.sh)" >&2
	exit 1
fi
export GOOS=windows GOARCH=amd64 CGO_ENABLED=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bh-wine-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/bh-ipc-check.exe" ./cmd/bh-ipc-check
BH_TEST_CLI="Z:$(printf '%s' "$tmp/bh-ipc-check.exe" | tr / '\\')"
export BH_TEST_CLI
# brokend is Linux-only; a Linux one named by scripts/test.sh is no use here.
unset BH_TEST_BROKEND
# internal/testenv checks that it detects Wine (TestWine).
export BH_EXPECT_WINE=1
[ "$#" -gt 0 ] || set -- -count=1 ./...
# -vet=off: the host's go test and the lint task already vet (windows too).
# -json through summary.go: go test's own lines per package, plus every
# skip with its reason and every failure with its output; go test's exit
# status is the script's.
rc=0
# summary.go is built static and -trimpath like the other host builds, so
# it needs no compile of its own of the packages it shares with them.
go test -vet=off -json -exec "$here/run.sh" "$@" | GOOS= GOARCH= go run -trimpath "$here/summary.go" || rc=$?
exit "$rc"
