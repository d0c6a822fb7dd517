package matrix

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"os"
	"strings"
	"testing"

	"github.com/org/bh-ipc-check/internal/testenv"
	"github.com/org/bh-ipc-check/report"
)

// WriteTable is report.WriteTable, for the tests that log a report
// (matrix no longer renders).
func WriteTable(w io.Writer, r Report) { report.WriteTable(w, r) }

func find(r Report, id string) (Result, bool) { return r.Find(id) }

// scenarioIndex is the page that holds the catalogue's table (the README
// links it; the manual lives in docs/).
const scenarioIndex = "../docs/scenarios/README.md"

// The scenario index's catalogue table lists exactly the catalogue, both
// ways: a row per scenario with its severity, and no row for a scenario
// that is not in the catalogue. Only that table counts (the first table
// under "## The catalogue").
func TestScenarioIndexListsEveryScenario(t *testing.T) {
	b, err := os.ReadFile(scenarioIndex)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := scenarioTable(testenv.LF(b))
	if err != nil {
		t.Fatal(err)
	}
	// The same page as a CRLF checkout (Git for Windows, autocrlf) reads
	// the same.
	crlf, err := scenarioTable(testenv.LF(bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))))
	if err != nil || !maps.Equal(crlf, rows) {
		t.Errorf("%s with CRLF line endings: %d rows, %v; LF: %d rows", scenarioIndex, len(crlf), err, len(rows))
	}
	for _, s := range Catalogue() {
		sev, ok := rows[s.ID]
		switch {
		case !ok:
			t.Errorf("%s: the catalogue table lacks %s", scenarioIndex, s.ID)
		case sev != string(s.Severity):
			t.Errorf("%s gives %s severity %q, the catalogue %q", scenarioIndex, s.ID, sev, s.Severity)
		}
	}
	for id := range rows {
		if _, ok := byID(id); !ok {
			t.Errorf("%s: the catalogue table lists %s, which is not in the catalogue", scenarioIndex, id)
		}
	}
}

// scenarioTable parses the first table under "## The catalogue" of the
// scenario index: id (in backquotes) to severity.
func scenarioTable(page string) (map[string]string, error) {
	const heading = "## The catalogue"
	_, sec, ok := strings.Cut(page, "\n"+heading+"\n")
	if !ok {
		return nil, fmt.Errorf("%s has no %q section", scenarioIndex, heading)
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
			return nil, fmt.Errorf("%s lists %s twice", scenarioIndex, id)
		}
		rows[id] = strings.TrimSpace(cells[1])
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no scenario table under %q", scenarioIndex, heading)
	}
	return rows, nil
}
