package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/org/bh-ipc-check/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test ./report -run Golden -update to create it)", err)
	}
	if string(got) != testenv.LF(want) {
		t.Errorf("%s differs from the golden file (go test ./report -run Golden -update rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// JSON → merge → Markdown and JUnit, against golden files; and the merged
// matrix read back gives the same reports.
func TestGoldenReportRoundTrip(t *testing.T) {
	reps, err := LoadReports("testdata/golden/native.json", "testdata/golden/container.json")
	if err != nil {
		t.Fatal(err)
	}
	m := NewMatrix(reps...)
	if m.Summary.RequiredFailed != 1 || m.Summary.Passed != 5 || m.Summary.Skipped != 1 {
		t.Errorf("summary %+v", m.Summary)
	}
	golden(t, "matrix.md", []byte(Markdown(m)))
	j, err := JUnit(m)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "junit.xml", j)

	dir := testenv.TempDir(t)
	files, err := WriteDir(dir, "matrix", m, SARIFOptions{})
	if err != nil || len(files) != 4 {
		t.Fatalf("WriteDir: %v %v", files, err)
	}
	back, err := LoadReports(filepath.Join(dir, "matrix.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, reps) {
		t.Errorf("matrix.json read back differs:\n%+v\n%+v", back, reps)
	}
	// Merging a matrix with a report flattens.
	again, err := LoadReports(filepath.Join(dir, "matrix.json"), "testdata/golden/native.json")
	if err != nil || len(again) != 3 {
		t.Errorf("matrix + report = %d reports, %v", len(again), err)
	}
	// Two columns with the same leg get the host added.
	if cols := columnNames(again); cols[0] != "native@ci-host" || cols[1] != "container/1000/022" {
		t.Errorf("columns %v", cols)
	}
}

func TestLoadReportsRefusesUnknownSchema(t *testing.T) {
	p := filepath.Join(testenv.TempDir(t), "x.json")
	os.WriteFile(p, []byte(`{"schema":"bh-ipc-check/report/v9"}`), 0o644)
	if _, err := LoadReports(p); err == nil || !strings.Contains(err.Error(), "v9") {
		t.Errorf("LoadReports of an unknown schema: %v", err)
	}
	os.WriteFile(p, []byte(`not json`), 0o644)
	if _, err := LoadReports(p); err == nil {
		t.Error("LoadReports of garbage succeeded")
	}
}

func TestReportJSONIsStable(t *testing.T) {
	// The schema's field names are a contract: renaming one breaks readers.
	b, _ := json.Marshal(Report{Schema: ReportSchema, Results: []Result{{ID: "x", Metrics: map[string]float64{"p50_us": 1}}}})
	for _, k := range []string{`"schema"`, `"host"`, `"os"`, `"leg"`, `"target"`, `"results"`, `"summary"`, `"duration_ms"`, `"evidence"` /* omitted when empty */} {
		if k == `"evidence"` {
			if strings.Contains(string(b), k) {
				t.Errorf("empty evidence is not omitted: %s", b)
			}
			continue
		}
		if !strings.Contains(string(b), k) {
			t.Errorf("report JSON lacks %s: %s", k, b)
		}
	}
}

// Every format links a failed scenario's fix page; passes and skips do not.
func TestEveryFormatLinksTheFixPage(t *testing.T) {
	reps, err := LoadReports("testdata/golden/native.json", "testdata/golden/container.json")
	if err != nil {
		t.Fatal(err)
	}
	m := NewMatrix(reps...)
	const page = "docs/scenarios/inst.live-not-hijacked.md"
	var table, mtable, ann bytes.Buffer
	WriteTable(&table, reps[0])
	WriteMatrixTable(&mtable, m)
	WriteAnnotations(&ann, m)
	j, err := JUnit(m)
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{
		"console table":      table.String(),
		"console matrix":     mtable.String(),
		"GitHub annotations": ann.String(),
		"JUnit":              string(j),
		"Markdown":           Markdown(m),
	} {
		if !strings.Contains(out, page) {
			t.Errorf("%s does not link %s:\n%s", name, page, out)
		}
		for _, other := range []string{"sock.mode-umask0", "dir.symlink"} {
			if strings.Contains(out, FixPage(other)) {
				t.Errorf("%s links the page of %s, which did not fail", name, other)
			}
		}
	}
	if !strings.Contains(Markdown(m), "[^2]: `inst.live-not-hijacked` on native: hijacked") || !strings.Contains(table.String(), "[1] inst.live-not-hijacked: fix: "+page) {
		t.Errorf("footnotes:\n%s\n%s", Markdown(m), table.String())
	}

	// With a docs URL the links work from elsewhere (another repository's
	// step summary, annotations, test report).
	m.DocsURL = "https://github.com/org/bh-ipc-check/blob/v1"
	const url = "https://github.com/org/bh-ipc-check/blob/v1/" + page
	mtable.Reset()
	ann.Reset()
	WriteMatrixTable(&mtable, m)
	WriteAnnotations(&ann, m)
	if j, err = JUnit(m); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"console matrix": mtable.String(), "GitHub annotations": ann.String(), "JUnit": string(j), "Markdown": Markdown(m)} {
		if !strings.Contains(out, url) {
			t.Errorf("%s with a docs URL does not link %s:\n%s", name, url, out)
		}
	}
	if !strings.Contains(Markdown(m), "; fix: ["+page+"]("+url+")") {
		t.Errorf("Markdown footnote: %s", Markdown(m))
	}
}

// A scenario that reached no verdict is annotated as such (a warning, no
// fix page: it is no finding); passes and skips are not annotated.
func TestAnnotationsNameErrors(t *testing.T) {
	m := NewMatrix(Report{Leg: "native", Results: []Result{
		{ID: "dir.symlink", Severity: Required, Status: Error, Reason: "impostor answered: peer uid 1001"},
		{ID: "sock.mode-umask0", Severity: Required, Status: Pass},
		{ID: "auth.peercred", Severity: Hardening, Status: Skip, Reason: "needs root"},
	}})
	var ann bytes.Buffer
	WriteAnnotations(&ann, m)
	want := "::warning title=bh-ipc-check dir.symlink on native: no verdict::impostor answered: peer uid 1001\n"
	if ann.String() != want {
		t.Errorf("annotations:\n%q\nwant\n%q", ann.String(), want)
	}
}

// A target's description names the conditions that weigh on its verdicts.
func TestTargetDescribeNamesConditions(t *testing.T) {
	for _, c := range []struct {
		t    Target
		want string
	}{
		{Target{Builtin: true}, "builtin"},
		{Target{Cmd: []string{"d", "--root", "{root}"}}, "d --root {root}"},
		{Target{Cmd: []string{"d"}, DirCreatedBy: "suite"}, "d [socket directory made by the suite]"},
		{Target{Cmd: []string{"d"}, DirCreatedBy: "suite", Forks: true}, "d [socket directory made by the suite; forks]"},
		{Target{Cmd: []string{"d"}, PerUserBase: true}, "d [chooses its own base ($TMPDIR = root)]"},
	} {
		if got := c.t.Describe(); got != c.want {
			t.Errorf("Describe(%+v) = %q, want %q", c.t, got, c.want)
		}
	}
}

// Two runs of one leg on one host get distinct columns (and so distinct
// SARIF categories); the same run given twice is refused; an interrupted
// leg is marked in the Markdown.
func TestMergeDistinguishesRuns(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := Report{Host: "vm", Leg: "native", Started: t0, Results: []Result{{ID: "a", Severity: Required, Status: Pass}}}
	b := a
	b.Started = t0.Add(time.Minute)
	b.Interrupted = true
	if got := columnNames([]Report{a, b}); got[0] == got[1] {
		t.Errorf("columns %q: two runs are indistinguishable", got)
	}
	if err := CheckDistinct([]Report{a, b}); err != nil {
		t.Errorf("two runs refused: %v", err)
	}
	if err := CheckDistinct([]Report{a, b, a}); err == nil || !strings.Contains(err.Error(), "reports 1 and 3 are the same run") {
		t.Errorf("the same run twice: %v", err)
	}
	md := Markdown(NewMatrix(a, b))
	if !strings.Contains(md, "**Interrupted**: native@vm#2 was stopped") || !strings.Contains(md, "(interrupted: partial)") {
		t.Errorf("Markdown does not mark the interrupted leg:\n%s", md)
	}
	var sarif struct {
		Runs []struct {
			AutomationDetails struct {
				ID string `json:"id"`
			} `json:"automationDetails"`
		} `json:"runs"`
	}
	out, err := SARIF(NewMatrix(a, b), SARIFOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &sarif); err != nil || len(sarif.Runs) != 2 || sarif.Runs[0].AutomationDetails.ID == sarif.Runs[1].AutomationDetails.ID {
		t.Errorf("SARIF categories not distinct: %+v %v", sarif, err)
	}
}

// JUnit marks a hardening failure apart from a required one: the
// failure's type and the testcase's severity property.
func TestJUnitMarksSeverity(t *testing.T) {
	rep := Report{Leg: "native", Results: []Result{
		{ID: "auth.peercred", Severity: Hardening, Status: Fail, Reason: "talked"},
		{ID: "dir.symlink", Severity: Required, Status: Fail, Reason: "followed"},
	}}
	j, err := JUnit(NewMatrix(rep))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Suites []struct {
			Cases []struct {
				Name       string `xml:"name,attr"`
				Properties []struct {
					Name  string `xml:"name,attr"`
					Value string `xml:"value,attr"`
				} `xml:"properties>property"`
				Failure struct {
					Type string `xml:"type,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(j, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"auth.peercred": "hardening", "dir.symlink": "required"}
	for _, c := range got.Suites[0].Cases {
		if c.Failure.Type != want[c.Name] || len(c.Properties) != 1 || c.Properties[0].Name != "severity" || c.Properties[0].Value != want[c.Name] {
			t.Errorf("%s: failure type %q, properties %+v; want severity %s\n%s", c.Name, c.Failure.Type, c.Properties, want[c.Name], j)
		}
	}
}
