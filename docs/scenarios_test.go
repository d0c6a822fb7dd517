// Package docs_test checks docs/scenarios/ against the scenario catalogue,
// and that every link of the README and of docs/ resolves (links_test.go).
package docs_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/org/bh-ipc-check/internal/testenv"
	"github.com/org/bh-ipc-check/matrix"
)

const dir = "scenarios"

// sections every page has, in this order; the first may be "The failure"
// for scenarios that are not attacks.
var sections = []string{"## How the suite checks it", "## The fix", "## OS differences"}

// Every catalogue scenario has its page, and every page is a scenario.
func TestEveryScenarioHasItsPage(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(dir, "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	var pages []string
	for _, f := range files {
		if id := strings.TrimSuffix(filepath.Base(f), ".md"); id != "README" {
			pages = append(pages, id)
		}
	}
	var ids []string
	for _, s := range matrix.Catalogue() {
		ids = append(ids, s.ID)
		if !slices.Contains(pages, s.ID) {
			t.Errorf("scenario %s has no page %s/%s.md", s.ID, dir, s.ID)
		}
	}
	for _, p := range pages {
		if !slices.Contains(ids, p) {
			t.Errorf("page %s/%s.md is no scenario of the catalogue", dir, p)
		}
	}
}

// Each page is titled with its ID and title, states the severity the
// catalogue gives, has the sections, is linked from the index, and every
// relative link in it resolves.
func TestScenarioPagesAreComplete(t *testing.T) {
	index, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range matrix.Catalogue() {
		b, err := os.ReadFile(filepath.Join(dir, s.ID+".md"))
		if err != nil {
			continue // TestEveryScenarioHasItsPage reports it
		}
		page := testenv.LF(b)
		if want := "# " + s.ID + ": " + s.Title + "\n"; !strings.HasPrefix(page, want) {
			t.Errorf("%s.md: want the first line %q", s.ID, strings.TrimSpace(want))
		}
		sev := string(s.Severity)
		if want := "**" + strings.ToUpper(sev[:1]) + sev[1:] + "**"; !strings.Contains(page, want) {
			t.Errorf("%s.md: does not state the severity %s", s.ID, want)
		}
		last := strings.Index(page, "## The attack\n")
		if last < 0 {
			last = strings.Index(page, "## The failure\n")
		}
		if last < 0 {
			t.Errorf("%s.md: no \"## The attack\" or \"## The failure\" section", s.ID)
		}
		for _, sec := range sections {
			i := strings.Index(page, sec+"\n")
			if i < last {
				t.Errorf("%s.md: %q missing or out of order", s.ID, sec)
			}
			last = i
		}
		if !strings.Contains(page, "**ipc**") || !strings.Contains(page, "**Python**") {
			t.Errorf("%s.md: the fix names neither the ipc package nor Python", s.ID)
		}
		if !strings.Contains(string(index), "("+s.ID+".md)") {
			t.Errorf("%s/README.md does not link %s.md", dir, s.ID)
		}
	}
}
