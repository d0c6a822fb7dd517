package target

import (
	"testing"
)

// A refusal shown to a user of the action names its inputs: the flags of
// run become "input NAME" (--cmd the input target), those without an
// input of their own "input flags: --NAME"; other words stay.
func TestActionWords(t *testing.T) {
	for in, want := range map[string]string{
		"--ready-timeout 50ms: below the minimum 100ms":                   "input ready-timeout 50ms: below the minimum 100ms",
		`invalid value "90" for flag -timeout: want a duration`:           `invalid value "90" for input timeout: want a duration`,
		`--socket "{rooot}/s": unknown placeholder {rooot}`:               `input socket "{rooot}/s": unknown placeholder {rooot}`,
		"--socket without --cmd":                                          "input socket without input target",
		"--leg-timeout 0s: must be positive":                              "input flags: --leg-timeout 0s: must be positive",
		"--report-dir x: not a directory":                                 "input report-dir x: not a directory",
		"protocol \"lines\": want bh-json, ipc, connect, line or exec":    "protocol \"lines\": want bh-json, ipc, connect, line or exec",
		"a well-known name, --no-such-flag and tcp-only stay as they are": "a well-known name, --no-such-flag and tcp-only stay as they are",
	} {
		if got := ActionWords(in); got != want {
			t.Errorf("ActionWords(%q)\n = %q\nwant %q", in, got, want)
		}
	}
}

// Hints name the CLI's flags, or the action's inputs when the run comes
// from the action (BH_FROM_ACTION=1, set by scripts/action.sh).
func TestHint(t *testing.T) {
	for _, c := range []struct {
		action      bool
		flag, value string
		want        string
	}{
		{false, "protocol", "line", "--protocol line"},
		{true, "protocol", "line", "input protocol: line"},
		{false, "forks", "true", "--forks"},
		{true, "forks", "true", "input forks: 'true'"},
		{true, "port-file", "TEMPLATE", "input port-file: TEMPLATE"},
		{true, "leg-timeout", "10m", "input flags: --leg-timeout=10m"},
		{true, "protocol", "", "input protocol"},
		{false, "cmd", "", "--cmd"},
		{true, "cmd", "TEMPLATE", "input target: TEMPLATE"},
	} {
		if got := hint(c.action, c.flag, c.value); got != c.want {
			t.Errorf("hint(%v, %q, %q) = %q, want %q", c.action, c.flag, c.value, got, c.want)
		}
	}
	for _, c := range []struct {
		action bool
		want   string
	}{
		{false, "--cmd, --env, --lockfile"},
		{true, "inputs target, env, flags: --lockfile"},
	} {
		if got := hints(c.action, "cmd", "env", "lockfile"); got != c.want {
			t.Errorf("hints(%v) = %q, want %q", c.action, got, c.want)
		}
	}
}
