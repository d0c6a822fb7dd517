#!/usr/bin/env bash
# Run a Windows executable under Wine with the project's prefix (see
# setup.sh) and exit with its exit code. Usable as go test's -exec:
#   GOOS=windows go test -exec scripts/wine/run.sh ./ipc
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/wine/env.sh
. "$here/env.sh"
bh_wineserver_up
exec "$BH_WINE" "$@"
