package report

import (
	"slices"
	"strings"
	"testing"
)

func TestExitCode(t *testing.T) {
	for _, c := range []struct {
		name    string
		s       Summary
		verdict string
		code    int
		allowed int // with --allow-incomplete
	}{
		{"all passed", Summary{Passed: 3}, "PASS", 0, 0},
		{"required failed", Summary{Passed: 2, Failed: 1, RequiredFailed: 1}, "FAIL", 1, 1},
		{"failed and incomplete", Summary{Failed: 1, RequiredFailed: 1, Skipped: 1, RequiredIncomplete: 1}, "FAIL", 1, 1},
		{"hardening failed only", Summary{Passed: 2, Failed: 1}, "PASS", 0, 0},
		{"incomplete", Summary{Passed: 2, Skipped: 2, RequiredIncomplete: 2}, "INCOMPLETE", 3, 0},
		{"an error", Summary{Passed: 2, Errors: 1, RequiredIncomplete: 1}, "INCOMPLETE", 3, 0},
		{"platform skips only", Summary{Passed: 2, Skipped: 5}, "PASS", 0, 0},
		{"nothing tested", Summary{Skipped: 4, RequiredIncomplete: 4}, "NOTHING TESTED", 2, 2},
		{"empty", Summary{}, "NOTHING TESTED", 2, 2},
	} {
		if v := Verdict(c.s); v != c.verdict {
			t.Errorf("%s: Verdict = %s, want %s", c.name, v, c.verdict)
		}
		if got := ExitCode(c.s, false); got != c.code {
			t.Errorf("%s: ExitCode = %d, want %d", c.name, got, c.code)
		}
		if got := ExitCode(c.s, true); got != c.allowed {
			t.Errorf("%s: ExitCode(allowIncomplete) = %d, want %d", c.name, got, c.allowed)
		}
	}
	rs := []Result{
		{ID: "a", Severity: Required, Status: Pass},
		{ID: "b", Severity: Required, Status: Skip, Incomplete: true},
		{ID: "c", Severity: Hardening, Status: Skip, Incomplete: true},
		{ID: "d", Severity: Required, Status: Error, Incomplete: true},
		{ID: "e", Severity: Required, Status: Skip},
	}
	if s := Summarize(rs); s.Errors != 1 || s.RequiredIncomplete != 2 || s.Skipped != 3 || s.Passed != 1 {
		t.Errorf("Summarize = %+v", s)
	}
	if got := Incomplete(Report{Results: rs}); !slices.Equal(got, []string{"b", "d"}) {
		t.Errorf("Incomplete = %v", got)
	}
}

// The incomplete note's command fits why scenarios reached no verdict:
// without root, skips for want of privilege rerun under sudo with the
// daemon kept at its uid; errors (a timeout) rerun as they ran, never
// "as root"; the rerun's report goes beside this one's.
func TestIncompleteNoteFitsTheCause(t *testing.T) {
	argv := []string{"bh-ipc-check", "run", "--report-dir", "out", "--timeout", "1s"}
	skipped := Report{UID: 1000, DaemonUID: 1000, Results: []Result{{ID: "dir.symlink", Severity: Required, Status: Skip, Incomplete: true}}}
	errored := Report{UID: 0, DaemonUID: 0, Results: []Result{{ID: "inst.clean-shutdown", Severity: Required, Status: Error, Incomplete: true}}}
	for _, c := range []struct {
		name        string
		rep         Report
		want, never []string
	}{
		{"skipped without root", skipped,
			[]string{"run them (as root, same target): sudo bh-ipc-check run --report-dir out-rerun --timeout 1s --daemon-uid 1000 --scenarios dir.symlink\n"}, nil},
		{"errors as root", errored,
			[]string{"they ended in errors (see their reasons); run them again (same target): bh-ipc-check run --report-dir out-rerun --timeout 1s --scenarios inst.clean-shutdown\n"},
			[]string{"sudo", "as root", "--daemon-uid"}},
	} {
		got := IncompleteNote(argv, c.rep)
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: note %q lacks %q", c.name, got, w)
			}
		}
		for _, w := range c.never {
			if strings.Contains(got, w) {
				t.Errorf("%s: note %q has %q", c.name, got, w)
			}
		}
	}
}
