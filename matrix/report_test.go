package matrix

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

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
		t.Fatalf("%v (run go test ./matrix -run Golden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./matrix -run Golden -update rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
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

	dir := t.TempDir()
	files, err := WriteDir(dir, "matrix", m)
	if err != nil || len(files) != 3 {
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
	p := filepath.Join(t.TempDir(), "x.json")
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

// The README's scenario table lists exactly the catalogue, both ways: a
// row per scenario with its severity, and no row for a scenario that is
// not in the catalogue. Only that table counts (the first table under
// "## Scenarios").
func TestREADMEListsEveryScenario(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := scenarioTable(string(b))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range catalogue {
		sev, ok := rows[s.ID]
		switch {
		case !ok:
			t.Errorf("README.md's scenario table lacks %s", s.ID)
		case sev != string(s.Severity):
			t.Errorf("README.md gives %s severity %q, the catalogue %q", s.ID, sev, s.Severity)
		}
	}
	for id := range rows {
		if _, ok := byID(id); !ok {
			t.Errorf("README.md's scenario table lists %s, which is not in the catalogue", id)
		}
	}
}

// scenarioTable parses the first table under "## Scenarios": id (in
// backquotes) to severity.
func scenarioTable(readme string) (map[string]string, error) {
	_, sec, ok := strings.Cut(readme, "\n## Scenarios\n")
	if !ok {
		return nil, fmt.Errorf("README.md has no \"## Scenarios\" section")
	}
	if i := strings.Index(sec, "\n## "); i >= 0 {
		sec = sec[:i]
	}
	rows := map[string]string{}
	inTable := false
	for _, line := range strings.Split(sec, "\n") {
		if !strings.HasPrefix(line, "|") {
			if inTable {
				break // the end of the first table
			}
			continue
		}
		inTable = true
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) < 2 {
			continue
		}
		id := strings.TrimSpace(cells[0])
		if !strings.HasPrefix(id, "`") {
			continue // the header and its rule
		}
		id = strings.Trim(id, "`")
		if _, dup := rows[id]; dup {
			return nil, fmt.Errorf("README.md lists %s twice", id)
		}
		rows[id] = strings.TrimSpace(cells[1])
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("README.md: no scenario table under \"## Scenarios\"")
	}
	return rows, nil
}
