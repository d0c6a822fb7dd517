#!/usr/bin/env bash
# Make sure the prefix's wineserver runs, detached and persistent (env.sh),
# and say whether this started it: prints "started" or "running". A test
# that runs Wine stops the server when it ends only if it started it:
# scripts/test.sh starts one for the Linux tests and the Wine step, which
# run at the same time, and stops it at its end.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/wine/env.sh
. "$here/env.sh"
bh_wineserver_up
if [ "$BH_WINESERVER_STARTED" = 1 ]; then echo started; else echo running; fi
