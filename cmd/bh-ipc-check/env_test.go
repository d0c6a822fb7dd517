package main

import (
	"strings"
	"testing"
)

// --env entries are checked before anything runs.
func TestRunEnvFlagChecked(t *testing.T) {
	code, _, errb := runCLI("run", "--cmd", "true {root}", "--socket", "{root}/s", "--env", "NOEQUALS", "--scenarios", "inst.stale-recovered")
	if code != 2 || !strings.Contains(errb, `--env "NOEQUALS"`) {
		t.Errorf("exit %d, stderr %q; want exit 2 naming --env \"NOEQUALS\"", code, errb)
	}
}
