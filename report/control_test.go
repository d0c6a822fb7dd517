package report

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// No renderer for people passes on a control character another uid could
// choose (issue 24, attack 6: a file name with a CR and "::error" reached
// the console table and the progress raw): CR, ESC, C1 and bidi overrides
// come out as visible escapes; the renderers' own newlines stay.
func TestConsoleRenderersEscapeControlCharacters(t *testing.T) {
	const evil = "left behind: x\r::error title=forged::PASS\x1b[2K\u009b2J\u202e"
	rep := Report{Leg: "native\r::warning::leg", Results: []Result{
		{ID: "inst.clean-shutdown", Severity: Required, Status: Fail, Reason: evil, Evidence: []string{evil}},
		{ID: "dir.symlink", Severity: Required, Status: Pass, Reason: "ok"},
	}}
	m := NewMatrix(rep)
	var table, mtable, progress bytes.Buffer
	WriteTable(&table, rep)
	WriteMatrixTable(&mtable, m)
	fmt.Fprintf(ControlEscaper{&progress}, "[ 1/2] %s\n", evil)
	for name, out := range map[string]string{
		"console table":  table.String(),
		"console matrix": mtable.String(),
		"Markdown":       Markdown(m),
		"progress":       progress.String(),
	} {
		for _, c := range []string{"\r", "\x1b", "\u009b", "\u202e"} {
			if strings.Contains(out, c) {
				t.Errorf("%s holds %q raw:\n%s", name, c, out)
			}
		}
		if !strings.Contains(out, `x\r::error`) || !strings.Contains(out, `\x1b[2K`) {
			t.Errorf("%s does not show the escapes:\n%s", name, out)
		}
		if !strings.Contains(out, "\n") {
			t.Errorf("%s lost its own newlines:\n%s", name, out)
		}
	}
	// report github: CR and LF as the workflow command's escapes, every
	// other control character as the renderers write it (an ESC reached
	// the log viewer raw).
	var ann bytes.Buffer
	WriteAnnotations(&ann, m)
	for _, c := range []string{"\r", "\x1b", "\u009b", "\u202e"} {
		if strings.Contains(ann.String(), c) {
			t.Errorf("annotations hold %q raw:\n%q", c, ann.String())
		}
	}
	if !strings.Contains(ann.String(), `x%0D::error`) || !strings.Contains(ann.String(), `\x1b[2K`) {
		t.Errorf("annotations do not show the escapes:\n%s", ann.String())
	}
}
