package matrix

import (
	"github.com/org/bh-ipc-check/matrix/internal/scenario"
	"github.com/org/bh-ipc-check/report"
)

// What moved to package scenario (matrix/internal/scenario) keeps its name
// here: the public face of package matrix does not change with the cut.

// Catalogue returns every scenario in a stable order.
func Catalogue() []Scenario { return scenario.Catalogue() }

// Select returns the scenarios whose ID matches one of the comma-separated
// patterns (path.Match syntax: "dir.*"); an empty pattern list selects
// all.
func Select(patterns string) ([]Scenario, error) { return scenario.Select(patterns) }

// ReportScenarios describes the catalogue for reports (SARIF rules).
func ReportScenarios() []report.Scenario { return scenario.ReportScenarios() }
