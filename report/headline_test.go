package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"slices"
	"strings"
	"testing"
)

// hardeningOnly is a run whose only failure is a hardening scenario: it
// passes (exit 0), and every format must still say what failed.
func hardeningOnly() Report {
	rs := []Result{
		{ID: "sock.mode-umask0", Severity: Required, Status: Pass, Reason: "socket 0600"},
		{ID: "auth.foreign-uid-connect", Severity: Required, Status: Pass, Reason: "refused"},
		{ID: "auth.peercred", Severity: Hardening, Status: Fail, Reason: "no peer check", Evidence: []string{"uid 1001 was served"}},
		{ID: "inst.busy-not-stale", Severity: Hardening, Status: Pass, Reason: "ok"},
		{ID: "dir.symlink", Severity: Required, Status: Skip, Reason: "linux only"},
	}
	return Report{Schema: ReportSchema, Leg: "native", OS: "linux", Arch: "amd64", Results: rs, Summary: Summarize(rs)}
}

// The headline splits required and hardening: a run whose only failure is
// a hardening scenario is a PASS that names it, in the console table, the
// console matrix, Markdown and the JSON summary; the exit code stays 0.
func TestHeadlineNamesHardeningFailures(t *testing.T) {
	r := hardeningOnly()
	s := r.Summary
	if s.RequiredPassed != 2 || s.HardeningPassed != 1 || s.HardeningFailed != 1 || !slices.Equal(s.HardeningFailures, []string{"auth.peercred"}) {
		t.Errorf("Summarize split = %+v", s)
	}
	want := "PASS (required): 2 passed, 0 failed; hardening: 1 passed, 1 failed (auth.peercred); 1 skipped, 0 errors"
	if got := Headline(s); got != want {
		t.Errorf("Headline = %q\nwant       %q", got, want)
	}
	if ExitCode(s, false) != ExitPass {
		t.Errorf("a hardening failure alone: exit %d, want %d", ExitCode(s, false), ExitPass)
	}
	var table bytes.Buffer
	WriteTable(&table, r)
	if !strings.Contains(table.String(), "\n"+want+" in ") {
		t.Errorf("console table lacks the headline %q:\n%s", want, table.String())
	}
	m := NewMatrix(r)
	var mt bytes.Buffer
	WriteMatrixTable(&mt, m)
	if !strings.Contains(mt.String(), "\n"+want+" across 1 legs") {
		t.Errorf("console matrix lacks the headline %q:\n%s", want, mt.String())
	}
	md := Markdown(m)
	for _, w := range []string{
		"## bh-ipc-check: all required scenarios passed; 1 hardening failure(s)\n",
		"**Required**: 2 passed, 0 failed. **Hardening**: 1 passed, **1 failed** (`auth.peercred`). 1 skipped, 0 errors across 1 leg(s).",
	} {
		if !strings.Contains(md, w) {
			t.Errorf("Markdown lacks %q:\n%s", w, md)
		}
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`"required_passed":2`, `"hardening_passed":1`, `"hardening_failed":1`, `"hardening_failures":["auth.peercred"]`, `"required_failed":0`} {
		if !bytes.Contains(b, []byte(w)) {
			t.Errorf("JSON summary lacks %s: %s", w, b)
		}
	}
}

// A run of hardening scenarios only: the headline and the Markdown say
// that no required scenario was selected, not "0 passed, 0 failed"; a run
// whose required scenarios were all skipped still counts them, and so
// does a summary written before RequiredSelected existed.
func TestHeadlineNoRequiredSelected(t *testing.T) {
	rs := []Result{{ID: "auth.peercred", Severity: Hardening, Status: Pass, Reason: "refused"}}
	r := Report{Schema: ReportSchema, Leg: "native", OS: "linux", Arch: "amd64", Results: rs, Summary: Summarize(rs)}
	want := "PASS (no required scenario selected); hardening: 1 passed, 0 failed; 0 skipped, 0 errors"
	if got := Headline(r.Summary); got != want {
		t.Errorf("Headline = %q\nwant       %q", got, want)
	}
	var table bytes.Buffer
	WriteTable(&table, r)
	if !strings.Contains(table.String(), "\n"+want+" in ") {
		t.Errorf("console table lacks the headline %q:\n%s", want, table.String())
	}
	md := Markdown(NewMatrix(r))
	for _, w := range []string{"## bh-ipc-check: no required scenario selected\n", "**Required**: none selected. **Hardening**: 1 passed, 0 failed."} {
		if !strings.Contains(md, w) {
			t.Errorf("Markdown lacks %q:\n%s", w, md)
		}
	}
	skipped := append(slices.Clone(rs), Result{ID: "dir.symlink", Severity: Required, Status: Skip, Reason: "linux only"})
	if got := Headline(Summarize(skipped)); !strings.HasPrefix(got, "PASS (required): 0 passed, 0 failed; ") {
		t.Errorf("a required scenario selected and skipped: Headline = %q", got)
	}
	old := Summary{Passed: 1, RequiredPassed: 1}
	if got := Headline(old); !strings.HasPrefix(got, "PASS (required): 1 passed, 0 failed; ") {
		t.Errorf("a summary without required_selected: Headline = %q", got)
	}
}

// A report written before the split (its summary without the hardening
// counts) still gets them when merged: NewMatrix counts from the results.
func TestMatrixSplitsOldReports(t *testing.T) {
	r := hardeningOnly()
	r.Summary.RequiredPassed, r.Summary.HardeningPassed, r.Summary.HardeningFailed, r.Summary.HardeningFailures = 0, 0, 0, nil
	m := NewMatrix(r, r)
	if s := m.Summary; s.RequiredPassed != 4 || s.HardeningPassed != 2 || s.HardeningFailed != 2 || !slices.Equal(s.HardeningFailures, []string{"auth.peercred"}) {
		t.Errorf("NewMatrix of old reports: %+v", s)
	}
}

// Every failed scenario is a <failure> in JUnit, hardening ones too, with
// the severity as its type; the counts include them.
func TestJUnitKeepsHardeningFailures(t *testing.T) {
	b, err := JUnit(NewMatrix(hardeningOnly()))
	if err != nil {
		t.Fatal(err)
	}
	var out junitSuites
	if err := xml.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.Failures != 1 || len(out.Suites) != 1 || out.Suites[0].Failures != 1 {
		t.Errorf("JUnit counts %d failures (suite: %+v), want 1:\n%s", out.Failures, out.Suites, b)
	}
	found := false
	for _, c := range out.Suites[0].Cases {
		if c.Name != "auth.peercred" {
			continue
		}
		found = true
		if c.Failure == nil || c.Failure.Type != "hardening" || !strings.Contains(c.Failure.Message, "no peer check") || !strings.Contains(c.Failure.Body, "uid 1001 was served") {
			t.Errorf("auth.peercred in JUnit: failure %+v, want a hardening failure with its reason and evidence", c.Failure)
		}
	}
	if !found {
		t.Errorf("auth.peercred, a failed hardening scenario, is missing from JUnit:\n%s", b)
	}
}

// unixOnly is a run of a daemon without a tcp transport: five scenarios of
// that transport cannot apply, each skipped with its own reason; another
// skip (path.name-validation) is an ordinary one.
func unixOnly() Report {
	const na = "the target has no tcp transport; give --port-file TEMPLATE to run it"
	rs := []Result{
		{ID: "sock.mode-umask0", Severity: Required, Status: Pass, Reason: "socket 0600"},
		{ID: "path.name-validation", Severity: Required, Status: Skip, Reason: "no template contains {name}"},
		{ID: "tcp.loopback-only", Severity: Required, Status: Skip, Reason: "the target has no tcp transport; give --port-file TEMPLATE to run it", NotApplicable: na},
		{ID: "tcp.auth-required", Severity: Required, Status: Skip, Reason: "the target has no tcp transport; give --port-file TEMPLATE to run it", NotApplicable: na},
		{ID: "tcp.portfile-private", Severity: Required, Status: Skip, Reason: "the target has no tcp transport; give --port-file TEMPLATE to run it", NotApplicable: na},
		{ID: "tcp.portfile-dacl", Severity: Required, Status: Skip, Reason: "runs on windows, this is linux", NotApplicable: na},
		{ID: "tcp.squatter-learns-nothing", Severity: Required, Status: Skip, Reason: "applies to the builtin daemon only", NotApplicable: na},
		{ID: "proto.malformed", Severity: Required, Status: Pass, Reason: "ok"},
	}
	return Report{Schema: ReportSchema, Leg: "native", OS: "linux", Arch: "amd64", Results: rs, Summary: Summarize(rs)}
}

var tcpIDs = []string{"tcp.loopback-only", "tcp.auth-required", "tcp.portfile-private", "tcp.portfile-dacl", "tcp.squatter-learns-nothing"}

// A Unix-only daemon's tcp scenarios cannot apply: the console table, the
// console matrix and the Markdown fold their skips into one line and count
// them apart in the headline; JSON and JUnit keep every row with its own
// reason.
func TestNotApplicableSkipsFold(t *testing.T) {
	r := unixOnly()
	if s := r.Summary; s.Skipped != 6 || s.NotApplicable != 5 {
		t.Errorf("Summarize: %d skipped, %d not applicable; want 6 and 5", s.Skipped, s.NotApplicable)
	}
	want := "PASS (required): 2 passed, 0 failed; hardening: 0 passed, 0 failed; 1 skipped, 5 not applicable, 0 errors"
	if got := Headline(r.Summary); got != want {
		t.Errorf("Headline = %q\nwant       %q", got, want)
	}
	line := "not applicable, skipped (the target has no tcp transport; give --port-file TEMPLATE to run it): " + strings.Join(tcpIDs, ", ")
	var table bytes.Buffer
	WriteTable(&table, r)
	m := NewMatrix(r)
	var mt bytes.Buffer
	WriteMatrixTable(&mt, m)
	for name, out := range map[string]string{"console table": table.String(), "console matrix": mt.String()} {
		if !strings.Contains(out, "\n"+line+"\n") || !strings.Contains(out, want) {
			t.Errorf("%s lacks the line %q or the headline:\n%s", name, line, out)
		}
		if !strings.Contains(out, "\npath.name-validation ") {
			t.Errorf("%s lacks the row of an ordinary skip:\n%s", name, out)
		}
		for _, id := range tcpIDs {
			if strings.Contains(out, "\n"+id+" ") {
				t.Errorf("%s has a row for %s:\n%s", name, id, out)
			}
		}
	}
	md := Markdown(m)
	mdLine := "**Not applicable**, skipped (the target has no tcp transport; give --port-file TEMPLATE to run it): `" + strings.Join(tcpIDs, "`, `") + "`"
	if !strings.Contains(md, mdLine) || !strings.Contains(md, "1 skipped, 5 not applicable, 0 errors across 1 leg(s).") || !strings.Contains(md, "| `path.name-validation` |") {
		t.Errorf("Markdown lacks the folded line %q, the counts or path.name-validation's row:\n%s", mdLine, md)
	}
	for _, id := range tcpIDs {
		if strings.Contains(md, "| `"+id+"` |") || strings.Contains(md, "`"+id+"` on ") {
			t.Errorf("Markdown has a row or footnote for %s:\n%s", id, md)
		}
	}
	// A scenario that applies on another leg keeps its row there.
	other := unixOnly()
	other.Leg = "container"
	other.Results[2] = Result{ID: "tcp.loopback-only", Severity: Required, Status: Pass, Reason: "127.0.0.1 only"}
	if md := Markdown(NewMatrix(r, other)); !strings.Contains(md, "| `tcp.loopback-only` |") || strings.Contains(md, "`tcp.loopback-only`, `tcp.auth-required`") {
		t.Errorf("Markdown of two legs, tcp.loopback-only passing on one: its row is folded:\n%s", md)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range r.Results[2:7] {
		if w, _ := json.Marshal(res); !bytes.Contains(b, w) {
			t.Errorf("JSON lacks %s", w)
		}
	}
	j, err := JUnit(m)
	if err != nil {
		t.Fatal(err)
	}
	var suites junitSuites
	if err := xml.Unmarshal(j, &suites); err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, c := range suites.Suites[0].Cases {
		if c.Skipped != nil {
			reasons[c.Name] = c.Skipped.Message
		}
	}
	for _, res := range r.Results {
		if res.Status == Skip && reasons[res.ID] != res.Reason {
			t.Errorf("JUnit skip of %s: %q, want its reason %q", res.ID, reasons[res.ID], res.Reason)
		}
	}
}
