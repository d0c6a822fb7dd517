package report

import (
	"fmt"
	"strconv"
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

// Headline is the run's one-line summary, without where and how long: the
// verdict (Verdict) with the required scenarios' counts, then the hardening
// scenarios' counts naming those that failed (a hardening failure changes
// neither the verdict nor the exit code, so the headline must say it), then
// the skips and errors of both. For example
//
//	PASS (required): 38 passed, 0 failed; hardening: 5 passed, 1 failed (auth.peercred); 3 skipped, 0 errors
//
// A run that selected no required scenario says so instead of counting
// none: "PASS (no required scenario selected); hardening: ...".
func Headline(s Summary) string {
	var b strings.Builder
	if noRequired(s) {
		fmt.Fprintf(&b, "%s (no required scenario selected)", Verdict(s))
	} else {
		fmt.Fprintf(&b, "%s (required): %d passed, %d failed", Verdict(s), s.RequiredPassed, s.RequiredFailed)
	}
	if s.RequiredIncomplete > 0 {
		fmt.Fprintf(&b, ", %d without a verdict", s.RequiredIncomplete)
	}
	fmt.Fprintf(&b, "; hardening: %d passed, %d failed", s.HardeningPassed, s.HardeningFailed)
	if len(s.HardeningFailures) > 0 {
		fmt.Fprintf(&b, " (%s)", listIDs(s.HardeningFailures, 5))
	}
	fmt.Fprintf(&b, "; %s", skipCounts(s))
	return b.String()
}

// noRequired: s is of a run that selected no required scenario. A
// summary written before RequiredSelected existed has 0 there: one with a
// required scenario that passed, failed or reached no verdict is not such
// a run.
func noRequired(s Summary) bool {
	return s.RequiredSelected == 0 && s.RequiredPassed+s.RequiredFailed+s.RequiredIncomplete == 0
}

// skipCounts is "3 skipped, 0 errors", with the skips of scenarios that
// cannot apply to the target counted apart: "1 skipped, 5 not applicable,
// 0 errors".
func skipCounts(s Summary) string {
	if s.NotApplicable == 0 {
		return fmt.Sprintf("%d skipped, %d errors", s.Skipped, s.Errors)
	}
	return fmt.Sprintf("%d skipped, %d not applicable, %d errors", s.Skipped-s.NotApplicable, s.NotApplicable, s.Errors)
}

// listIDs joins the first n of ids and says how many more there are.
func listIDs(ids []string, n int) string {
	if len(ids) <= n {
		return strings.Join(ids, ", ")
	}
	return fmt.Sprintf("%s, and %d more", strings.Join(ids[:n], ", "), len(ids)-n)
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
// the program "bh-ipc-check run". daemonUID >= 0 (a run without root,
// whose daemon ran as its own uid) is added as --daemon-uid unless given,
// so that under sudo the daemon does not run as root; --report-dir D
// becomes D-rerun, so the rerun does not overwrite this run's report.
func RerunCommand(argv []string, ids []string, daemonUID int) string {
	if len(argv) == 0 {
		argv = []string{"bh-ipc-check", "run"}
	}
	out := []string{"sudo", argv[0]}
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		name, val, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") {
			out = append(out, a)
			continue
		}
		switch name {
		case "scenarios":
			if !hasValue {
				i++ // its value is the next argument
			}
			continue
		case "daemon-uid":
			daemonUID = -1 // given: kept as it is
		case "report-dir":
			if !hasValue && i+1 < len(argv) {
				i++
				val = argv[i]
			}
			out = append(out, "--report-dir", val+"-rerun")
			continue
		}
		out = append(out, a)
	}
	if daemonUID >= 0 {
		out = append(out, "--daemon-uid", strconv.Itoa(daemonUID))
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
// reached no verdict and the command that runs it: as root for what was
// skipped for want of privilege (a run without root), the same command
// for what ended in an error (a timeout, a daemon that did not start).
func IncompleteNote(argv []string, reps ...Report) string {
	ids := Incomplete(reps...)
	if len(ids) == 0 {
		return ""
	}
	daemonUID, asRoot, skipped := -1, true, false
	for _, r := range reps {
		if r.UID != 0 {
			asRoot, daemonUID = false, r.DaemonUID
		}
		for _, res := range r.Results {
			skipped = skipped || res.Incomplete && res.Status == Skip
		}
	}
	// Without root, what was skipped for want of it runs under sudo (the
	// daemon kept at the uid it ran as); anything else, as it was run.
	sudo := !asRoot && skipped
	uid, how := -1, "they ended in errors (see their reasons); run them again (same target): "
	if sudo {
		uid, how = daemonUID, "run them (as root, same target): "
	}
	cmd := RerunCommand(argv, ids, uid)
	if !sudo {
		cmd = strings.TrimPrefix(cmd, "sudo ")
	}
	return fmt.Sprintf("INCOMPLETE: %d required scenario(s) reached no verdict: %s\n%s%s\n", len(ids), strings.Join(ids, ", "), how, cmd)
}

// interruptedNote marks an interrupted report in the console summary.
func interruptedNote(r Report) string {
	if r.Interrupted {
		return " (INTERRUPTED: partial report)"
	}
	return ""
}
