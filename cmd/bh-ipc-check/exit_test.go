package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/org/bh-ipc-check/report"
)

// runExit's own branch for --allow-incomplete: it turns an incomplete run
// into exit 0 and says so, and nothing else; a required failure beside the
// incomplete scenarios still exits 1, and a hardening failure alone 0.
func TestRunExitAllowIncomplete(t *testing.T) {
	failed := report.Result{ID: "inst.live-not-hijacked", Severity: report.Required, Status: report.Fail, Reason: "hijacked"}
	noVerdict := report.Result{ID: "dir.symlink", Severity: report.Required, Status: report.Skip, Reason: "needs root", Incomplete: true}
	passed := report.Result{ID: "sock.mode-umask0", Severity: report.Required, Status: report.Pass}
	hardening := report.Result{ID: "auth.peercred", Severity: report.Hardening, Status: report.Fail, Reason: "no peer check"}
	const said = "--allow-incomplete: exit 0 although the run is INCOMPLETE"
	for _, c := range []struct {
		name  string
		rs    []report.Result
		allow bool
		code  int
		says  bool
	}{
		{"required failure and incomplete, allowed", []report.Result{passed, failed, noVerdict}, true, report.ExitFail, false},
		{"required failure and incomplete", []report.Result{passed, failed, noVerdict}, false, report.ExitFail, false},
		{"incomplete, allowed", []report.Result{passed, noVerdict}, true, report.ExitPass, true},
		{"incomplete", []report.Result{passed, noVerdict}, false, report.ExitIncomplete, false},
		{"hardening failure only", []report.Result{passed, hardening}, false, report.ExitPass, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := report.NewMatrix(report.Report{Schema: report.ReportSchema, UID: 0, DaemonUID: -1, Results: c.rs, Summary: report.Summarize(c.rs)})
			var stdout, stderr bytes.Buffer
			code := runExit(context.Background(), m, []string{"bh-ipc-check", "run"}, c.allow, true, &stdout, &stderr)
			if code != c.code {
				t.Errorf("exit %d, want %d; stdout:\n%s", code, c.code, stdout.String())
			}
			if got := strings.Contains(stdout.String(), said); got != c.says {
				t.Errorf("stdout says %q: %v, want %v:\n%s", said, got, c.says, stdout.String())
			}
		})
	}
}
