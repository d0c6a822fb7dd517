package matrix

import (
	"io"
	"os"
	"strings"
	"testing"

	"github.com/org/bh-ipc-check/report"
)

// WriteTable is report.WriteTable, for the tests that log a report
// (matrix no longer renders).
func WriteTable(w io.Writer, r Report) { report.WriteTable(w, r) }

func find(r Report, id string) (Result, bool) { return r.Find(id) }

// The README's scenario table lists exactly the catalogue.
func TestREADMEListsEveryScenario(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range catalogue {
		row := "| `" + s.ID + "` | " + string(s.Severity) + " |"
		if !strings.Contains(string(b), row) {
			t.Errorf("README.md lacks the row %q", row)
		}
	}
	if n := strings.Count(string(b), "| `") - strings.Count(string(b), "| `bh-ipc-check"); n < len(catalogue) {
		t.Errorf("README.md has %d scenario-like rows, catalogue %d", n, len(catalogue))
	}
}
