package main

import (
	"strings"
	"testing"
)

// --env applies to the builtin daemon too, so its entries are checked there.
func TestRunEnvFlagChecked(t *testing.T) {
	code, _, errb := runCLI("run", "--env", "NOEQUALS", "--scenarios", "inst.stale-recovered")
	if code != 2 || !strings.Contains(errb, `--env "NOEQUALS"`) {
		t.Errorf("exit %d, stderr %q; want exit 2 naming --env \"NOEQUALS\"", code, errb)
	}
}
