package matrix

import (
	"github.com/org/bh-ipc-check/matrix/internal/target"
	"github.com/org/bh-ipc-check/report"
)

// What moved to package target (matrix/internal/target) keeps its name
// here: the public face of package matrix does not change with the cut.

type (
	// Result is one scenario's outcome on one leg.
	Result = target.Result
	// Report is one run of the suite on one leg.
	Report = target.Report
	// Status of one scenario on one leg.
	Status = target.Status
	// Severity says what a failure means.
	Severity = target.Severity
	// Protocol is how the suite talks to a daemon.
	Protocol = target.Protocol
	// Target is the daemon under test.
	Target = target.Target
)

// Statuses and severities (see package report).
const (
	Pass         = target.Pass
	Fail         = target.Fail
	Skip         = target.Skip
	Error        = target.Error
	Required     = target.Required
	Hardening    = target.Hardening
	ReportSchema = target.ReportSchema
)

const (
	// ProtocolBHJSON is browser-harness's framing: newline JSON, ping
	// {"meta":"ping"} → {"pong":true,"pid":N}; on TCP every request carries
	// "token" from the port file.
	ProtocolBHJSON = target.ProtocolBHJSON
	// ProtocolIPC is this project's ipc package: the same framing, with the
	// mutual HMAC handshake on TCP.
	ProtocolIPC = target.ProtocolIPC
	// DefaultSocketTemplate is target.DefaultSocketTemplate.
	DefaultSocketTemplate = target.DefaultSocketTemplate
	// ProtocolConnect: ready when connect() succeeds; another uid talks to the
	// daemon when its connect() succeeds and the daemon keeps the connection
	// open for probe.HeldOpen.
	ProtocolConnect = target.ProtocolConnect
	// ProtocolLine: Target.Send is written, a reply matching Target.Expect
	// means the daemon answered.
	ProtocolLine = target.ProtocolLine
	// ProtocolExec: Target.Probe is run as the uid in question; exit 0 means
	// the daemon answered.
	ProtocolExec = target.ProtocolExec
)

// Summarize counts rs (report.Summarize).
func Summarize(rs []Result) report.Summary { return target.Summarize(rs) }

// RerunCommand is report.RerunCommand: argv with --scenarios set to ids,
// under sudo (with --daemon-uid DaemonUID when >= 0 and not given), quoted
// for a shell.
func RerunCommand(argv []string, ids []string, daemonUID int) string {
	return target.RerunCommand(argv, ids, daemonUID)
}

// BuiltinTarget is the reference daemon.
func BuiltinTarget() Target { return target.BuiltinTarget() }

// SplitCommand splits a command template (--cmd, --probe) into program and
// arguments by the rules a user of this OS expects: SplitWindowsCommand's
// on Windows, SplitPOSIXCommand's everywhere else.
func SplitCommand(s string) ([]string, error) { return target.SplitCommand(s) }

// SplitWindowsCommand splits s the way a Windows program's C runtime
// splits its command line (Microsoft's "Parsing C++ command-line
// arguments"), so that C:\tools\python.exe D:\a\repo\daemon.py stays two
// paths: spaces and tabs separate; double quotes group ("C:\Program
// Files\x.exe"); a backslash is an ordinary character (a path separator)
// unless a run of backslashes ends at a double quote: then each pair is
// one backslash, and an odd one left over makes the quote a literal one
// (\"); inside quotes "" is a literal quote.
func SplitWindowsCommand(s string) ([]string, error) { return target.SplitWindowsCommand(s) }

// SplitPOSIXCommand splits s into program and arguments the way a POSIX
// shell splits words: whitespace separates, single quotes keep everything,
// double quotes keep everything but \" and \\, a backslash outside quotes
// escapes the next character.
func SplitPOSIXCommand(s string) ([]string, error) { return target.SplitPOSIXCommand(s) }

// EscapeSend writes b in --send's escapes (the inverse of its decoding):
// printable ASCII as it is, a backslash as \\, \r \n \t, and any other
// byte as \xNN.
func EscapeSend(b []byte) string { return target.EscapeSend(b) }

// What moved to package target (matrix/internal/target) keeps its name
// here: the public face of package matrix does not change with the cut.

const (
	// FromActionEnv is set to 1 by the GitHub Action's run step
	// (scripts/action.sh): the suite's hints and skip reasons then name the
	// action's inputs, which is all its user can set, instead of the CLI's
	// flags.
	FromActionEnv = target.FromActionEnv
)

// Hint says how to set the run flag named flag to value, as the user can:
// "--protocol line" on the command line; "input protocol: line" when the
// run comes from the action (or "input flags: --leg-timeout=10m" for a
// flag without an input of its own).
func Hint(flag string, value string) string { return target.Hint(flag, value) }

// Hints names several run flags as Hint names one, in a list: "--cmd,
// --env, --lockfile" on the command line; "inputs target, env, flags:
// --lockfile" when the run comes from the action.
func Hints(flags ...string) string { return target.Hints(flags...) }

// RerunFlags are the flags the rerun command of an incomplete run adds
// because the results show they were missing: --forks when a scenario
// ended in an error because the started process had exited while its child
// served (SignalErr).
func RerunFlags(t Target, reps ...report.Report) []string { return target.RerunFlags(t, reps...) }

// ActionWords rewrites the run flags a message names into the action's
// inputs ("--ready-timeout 50ms" into "input ready-timeout 50ms"; a flag
// with no input of its own into "input flags: --leg-timeout"), for a
// message shown to a user of the action.
func ActionWords(msg string) string { return target.ActionWords(msg) }
