#!/usr/bin/env bash
# Stop the prefix's wineserver (started detached and persistent by run.sh
# and setup.sh) and every Wine process of the prefix. A test that ran Wine
# calls it when it ends, so nothing of it outlives the test. Exit 0 when
# none was running.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/wine/env.sh
. "$here/env.sh"
[ -x "$BH_WINESERVER" ] || exit 0
# -k: kill the server and its clients; exit status 1 means none ran.
"$BH_WINESERVER" -k </dev/null >/dev/null 2>&1 || true
