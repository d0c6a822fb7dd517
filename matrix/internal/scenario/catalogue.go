package scenario

import (
	"fmt"
	"path"
	"strings"

	"github.com/org/bh-ipc-check/matrix/internal/stage"
	"github.com/org/bh-ipc-check/report"
)

// Catalogue returns every scenario in a stable order.
func Catalogue() []stage.Scenario {
	return append([]stage.Scenario(nil), catalogue...)
}

// Select returns the scenarios whose ID matches one of the comma-separated
// patterns (path.Match syntax: "dir.*"); an empty pattern list selects all.
// A pattern that matches nothing is an error, so typos do not pass silently.
func Select(patterns string) ([]stage.Scenario, error) {
	if strings.TrimSpace(patterns) == "" {
		return Catalogue(), nil
	}
	var pats []string
	for _, p := range strings.Split(patterns, ",") {
		if p = strings.TrimSpace(p); p != "" {
			if _, err := path.Match(p, ""); err != nil {
				return nil, fmt.Errorf("--scenarios %q: bad pattern %q: %v", patterns, p, err)
			}
			pats = append(pats, p)
		}
	}
	used := make([]bool, len(pats))
	var out []stage.Scenario
	for _, s := range catalogue {
		for i, p := range pats {
			if ok, _ := path.Match(p, s.ID); ok {
				used[i] = true
				out = append(out, s)
				break
			}
		}
	}
	for i, p := range pats {
		if !used[i] {
			// A pattern may match only scenarios already taken by an earlier one.
			matched := false
			for _, s := range catalogue {
				if ok, _ := path.Match(p, s.ID); ok {
					matched = true
				}
			}
			if !matched {
				return nil, fmt.Errorf("--scenarios: %q matches no scenario (see bh-ipc-check scenarios)", p)
			}
		}
	}
	return out, nil
}

// ReportScenarios describes the catalogue for reports (SARIF rules).
func ReportScenarios() []report.Scenario {
	out := make([]report.Scenario, len(catalogue))
	for i, s := range catalogue {
		out[i] = report.Scenario{ID: s.ID, Title: s.Title, Severity: s.Severity, Checks: s.Checks, Platforms: s.Platforms}
	}
	return out
}
