package report

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// GitHubOutputs are the composite action's outputs for a matrix (the
// action's script adds exit-code, and sets result and the paths itself
// when no report was written).
func GitHubOutputs(m Matrix, jsonPath, mdPath, sarifPath string) map[string]string {
	return map[string]string{
		"result":          ActionResult(m),
		"report-json":     jsonPath,
		"report-markdown": mdPath,
		"report-sarif":    sarifPath,
		"passed":          fmt.Sprint(m.Summary.Passed),
		"failed":          fmt.Sprint(m.Summary.Failed),
		"skipped":         fmt.Sprint(m.Summary.Skipped),
		"required-failed": fmt.Sprint(m.Summary.RequiredFailed),
	}
}

// ActionResult is the action's result output for m, one word: fail when a
// required scenario failed on any leg; else error when a leg holds a setup
// error (no scenario ran there: a failed preflight); else interrupted when
// a run was stopped before its end; else the verdict (Verdict): pass,
// incomplete or nothing-tested.
func ActionResult(m Matrix) string {
	v := Verdict(m.Summary)
	if v == "FAIL" {
		return "fail"
	}
	if slices.ContainsFunc(m.Reports, func(r Report) bool { return r.SetupError != "" }) {
		return "error"
	}
	if slices.ContainsFunc(m.Reports, func(r Report) bool { return r.Interrupted }) {
		return "interrupted"
	}
	return strings.ReplaceAll(strings.ToLower(v), " ", "-")
}

// WriteGitHubOutputs appends name=value lines to the $GITHUB_OUTPUT file
// (values here never hold newlines; that is checked).
func WriteGitHubOutputs(path string, outs map[string]string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	for _, k := range []string{"result", "report-json", "report-markdown", "report-sarif", "passed", "failed", "skipped", "required-failed"} {
		v := outs[k]
		if strings.ContainsAny(v, "\r\n") {
			f.Close()
			return fmt.Errorf("output %s holds a newline: %q", k, v)
		}
		if _, err := fmt.Fprintf(f, "%s=%s\n", k, v); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// AppendFile appends s to the file at path (the step summary).
func AppendFile(path, s string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(f, s); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// escapeAnnotation escapes a workflow command's message ('%', CR, LF).
func escapeAnnotation(s string) string {
	// Other control characters (ESC starts an ANSI sequence the log viewer
	// renders; bidi overrides reorder the line) as EscapeControl writes
	// them; CR and LF as the workflow command's own escapes.
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(EscapeControl(s, "\r\n"))
}

// WriteAnnotations writes an ::error workflow command per failed required
// scenario (and a ::warning per failed hardening one), and a ::warning per
// scenario that reached no verdict (an error: setup, impostor, timeout),
// which is no finding but leaves the run incomplete.
func WriteAnnotations(w io.Writer, m Matrix) {
	cols := columnNames(m.Reports)
	for i, r := range m.Reports {
		for _, res := range r.Results {
			if res.Status == Error {
				fmt.Fprintf(w, "::warning title=%s::%s\n", escapeAnnotation("bh-ipc-check "+res.ID+" on "+cols[i]+": no verdict"), escapeAnnotation(res.Reason))
				continue
			}
			if res.Status != Fail {
				continue
			}
			kind := "error"
			if res.Severity != Required {
				kind = "warning"
			}
			fmt.Fprintf(w, "::%s title=%s::%s\n", kind, escapeAnnotation("bh-ipc-check "+res.ID+" on "+cols[i]), escapeAnnotation(res.Reason+" (fix: "+m.FixLink(res.ID)+")"))
		}
	}
}
