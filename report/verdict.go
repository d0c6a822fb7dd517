package report

import (
	"fmt"
	"strings"
)

// Exit codes of a run (bh-ipc-check run and the action).
const (
	// ExitPass: every required scenario that applies here passed.
	ExitPass = 0
	// ExitFail: a required scenario failed.
	ExitFail = 1
	// ExitUsage: bad input or a setup error, the preflight included; also
	// a run in which no scenario reached a verdict.
	ExitUsage = 2
	// ExitIncomplete: nothing required failed, but required scenarios that
	// apply to this platform and target reached no verdict (no privilege,
	// an error).
	ExitIncomplete = 3
	// ExitInterrupted: SIGINT or SIGTERM stopped the run (128+2).
	ExitInterrupted = 130
)

// Verdict is the one-word summary of s: FAIL, NOTHING TESTED, INCOMPLETE or
// PASS, in that order of precedence.
func Verdict(s Summary) string {
	switch {
	case s.RequiredFailed > 0:
		return "FAIL"
	case s.Passed+s.Failed == 0:
		return "NOTHING TESTED"
	case s.RequiredIncomplete > 0:
		return "INCOMPLETE"
	}
	return "PASS"
}

// ExitCode is the exit code for s: ExitFail when a required scenario
// failed, ExitUsage when nothing reached a verdict, ExitIncomplete when
// required scenarios that apply here reached none (ExitPass with
// allowIncomplete), else ExitPass.
func ExitCode(s Summary, allowIncomplete bool) int {
	switch Verdict(s) {
	case "FAIL":
		return ExitFail
	case "NOTHING TESTED":
		return ExitUsage
	case "INCOMPLETE":
		if allowIncomplete {
			return ExitPass
		}
		return ExitIncomplete
	}
	return ExitPass
}

// Incomplete lists the IDs of the required results in reps that reached no
// verdict although they apply (Result.Incomplete), once each, in order.
func Incomplete(reps ...Report) []string {
	var ids []string
	seen := map[string]bool{}
	for _, r := range reps {
		for _, res := range r.Results {
			if res.Incomplete && res.Severity == Required && !seen[res.ID] {
				seen[res.ID] = true
				ids = append(ids, res.ID)
			}
		}
	}
	return ids
}

// RerunCommand is argv (this run's command line: the program, then its
// arguments) with --scenarios set to ids, prefixed with sudo, quoted for a
// POSIX shell: every other flag (--cmd, --socket, --port-file, --env, ...)
// is kept, so the command tests the same target. With no argv it names
// the program "bh-ipc-check run".
func RerunCommand(argv []string, ids []string) string {
	if len(argv) == 0 {
		argv = []string{"bh-ipc-check", "run"}
	}
	out := []string{"sudo", argv[0]}
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && name == "scenarios" {
			if !hasValue {
				i++ // its value is the next argument
			}
			continue
		}
		out = append(out, a)
	}
	out = append(out, "--scenarios", strings.Join(ids, ","))
	for i, a := range out {
		out[i] = ShellQuote(a)
	}
	return strings.Join(out, " ")
}

// ShellQuote quotes s for a POSIX shell when it holds anything but safe
// characters.
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,@%+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// IncompleteNote is the summary's paragraph for an incomplete run: what
// reached no verdict and the command that runs it.
func IncompleteNote(argv []string, reps ...Report) string {
	ids := Incomplete(reps...)
	if len(ids) == 0 {
		return ""
	}
	return fmt.Sprintf("INCOMPLETE: %d required scenario(s) reached no verdict: %s\nrun them (as root, same target): %s\n",
		len(ids), strings.Join(ids, ", "), RerunCommand(argv, ids))
}

// interruptedNote marks an interrupted report in the console summary.
func interruptedNote(r Report) string {
	if r.Interrupted {
		return " (INTERRUPTED: partial report)"
	}
	return ""
}
