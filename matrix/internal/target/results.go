package target

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/org/bh-ipc-check/report"
)

// The report types live in package report; matrix produces them. These
// aliases keep the runner and the scenarios in their own words.
type (
	// Result is one scenario's outcome on one leg.
	Result = report.Result
	// Report is one run of the suite on one leg.
	Report = report.Report
	// Status of one scenario on one leg.
	Status = report.Status
	// Severity says what a failure means.
	Severity = report.Severity
)

// Statuses and severities (see package report).
const (
	Pass  = report.Pass
	Fail  = report.Fail
	Skip  = report.Skip
	Error = report.Error

	Required  = report.Required
	Hardening = report.Hardening

	ReportSchema = report.ReportSchema
)

// Summarize counts rs (report.Summarize).
func Summarize(rs []Result) report.Summary { return report.Summarize(rs) }

// OneLine is s on one line, cut to n bytes (report.OneLine), for evidence.
func OneLine(s string, n int) string { return report.OneLine(s, n) }

// QuoteClip is b quoted as Go quotes a string (%q: a control character
// shows as \r, \n or \x00, never as a space), at most its first n bytes,
// cut at a character's start, with "…" after the quote when there is more.
func QuoteClip(b []byte, n int) string {
	if len(b) <= n {
		return strconv.Quote(string(b))
	}
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return strconv.Quote(string(b[:n])) + "…"
}

// shellQuote is s quoted for a POSIX shell (report.ShellQuote).
func shellQuote(s string) string { return report.ShellQuote(s) }

// RerunCommand is report.RerunCommand: argv with --scenarios set to ids,
// under sudo (with --daemon-uid daemonUID when >= 0 and not given),
// quoted for a shell.
func RerunCommand(argv, ids []string, daemonUID int) string {
	return report.RerunCommand(argv, ids, daemonUID)
}

// ReportTarget is t as reports describe it.
func (t Target) ReportTarget() report.Target {
	return report.Target{Builtin: t.Builtin, Cmd: t.Cmd, Env: t.Env, Socket: t.Socket, PortFile: t.PortFile, Protocol: string(t.Protocol),
		Send: t.Send, Expect: t.Expect, Probe: t.Probe, DirCreatedBy: t.DirCreatedBy, Forks: t.Forks, PidFile: t.PidFile, Keep: t.Keep, LockFile: t.LockFile,
		PerUserBase: t.PerUserBase}
}

// QuoteAll is argv with each word quoted for a POSIX shell, for messages
// that show a command line.
func QuoteAll(argv []string) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = shellQuote(a)
	}
	return out
}

// Millis is d in milliseconds, to the microsecond, as the results give times.
func Millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
