package matrix

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/org/bh-ipc-check/ipc"
	"github.com/org/bh-ipc-check/report"
)

// Need is a precondition of a scenario.
type Need string

const (
	// NeedOtherUID: the suite acts as another uid (it must be root).
	NeedOtherUID Need = "other-uid"
	// NeedMountNS: the suite connects from another mount namespace
	// (unshare(CLONE_NEWNS) needs CAP_SYS_ADMIN: it must be root).
	NeedMountNS Need = "mount-ns"
)

// Scenario is one attack or failure case, judged from outside the daemon.
type Scenario struct {
	ID       string   `json:"id"`
	Title    string   `json:"title"`
	Severity Severity `json:"severity"`
	// Platforms the scenario runs on (GOOS values); empty: all.
	Platforms []string `json:"platforms,omitempty"`
	Needs     []Need   `json:"needs,omitempty"`
	// Transport the daemon is started with; empty: the target's own
	// (Target.DefaultTransport), for scenarios that hold on either.
	Transport ipc.Transport `json:"transport,omitempty"`
	// BuiltinOnly: not applicable to external targets.
	BuiltinOnly bool `json:"builtin_only,omitempty"`
	// Abstract says whether the scenario applies to a target whose socket
	// is a Linux abstract name (--socket @NAME): see AbstractUse.
	Abstract AbstractUse `json:"abstract,omitempty"`
	// Checks says what passes, in a sentence.
	Checks string `json:"checks"`

	run func(ctx context.Context, e *Env) outcome
}

// outcome is what a scenario body returns; evidence goes through Env.
type outcome struct {
	status Status
	reason string
}

func pass(format string, a ...any) outcome { return outcome{Pass, fmt.Sprintf(format, a...)} }
func fail(format string, a ...any) outcome { return outcome{Fail, fmt.Sprintf(format, a...)} }
func skip(format string, a ...any) outcome { return outcome{Skip, fmt.Sprintf(format, a...)} }

// errored: no verdict could be reached (the suite's own setup failed, a
// helper failed, a daemon that passed the preflight did not start).
func errored(format string, a ...any) outcome { return outcome{Error, fmt.Sprintf(format, a...)} }

// Catalogue returns every scenario in a stable order.
func Catalogue() []Scenario {
	return append([]Scenario(nil), catalogue...)
}

// Select returns the scenarios whose ID matches one of the comma-separated
// patterns (path.Match syntax: "dir.*"); an empty pattern list selects all.
// A pattern that matches nothing is an error, so typos do not pass silently.
func Select(patterns string) ([]Scenario, error) {
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
	var out []Scenario
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
