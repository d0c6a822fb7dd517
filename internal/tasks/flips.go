package tasks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/org/bh-ipc-check/matrix"
)

// FlipsOptions chooses what Flips runs: scenarios (matrix.Select
// patterns) against each target, Runs times, with Hogs busy-looping
// processes beside them (a loaded machine).
type FlipsOptions struct {
	Targets   []string // names from FlipsTargets
	Scenarios string
	Runs      int
	Hogs      int
}

// DefaultFlips: the multi-process targets, their instance scenarios.
var DefaultFlips = FlipsOptions{Targets: []string{"handoff", "prefork", "prefork-recover", "ssh-agent-forks"}, Scenarios: "inst.*", Runs: 5}

// FlipsOptionsFromEnv is DefaultFlips with BH_FLIPS_TARGETS (comma
// separated), BH_FLIPS_SCENARIOS, BH_FLIPS_RUNS and BH_FLIPS_HOGS applied.
func FlipsOptionsFromEnv() (FlipsOptions, error) {
	o := DefaultFlips
	if v := os.Getenv("BH_FLIPS_TARGETS"); v != "" {
		o.Targets = strings.Split(v, ",")
	}
	if v := os.Getenv("BH_FLIPS_SCENARIOS"); v != "" {
		o.Scenarios = v
	}
	for _, n := range []struct {
		env string
		to  *int
		min int
	}{{"BH_FLIPS_RUNS", &o.Runs, 1}, {"BH_FLIPS_HOGS", &o.Hogs, 0}} {
		if v := os.Getenv(n.env); v != "" {
			i, err := strconv.Atoi(v)
			if err != nil || i < n.min {
				return o, fmt.Errorf("%s=%q: want an integer of at least %d", n.env, v, n.min)
			}
			*n.to = i
		}
	}
	return o, nil
}

// flipsTarget is a target Flips knows by name; brokend is the path of
// matrix/testdata/brokend built for the run.
type flipsTarget struct {
	about   string
	program string // a program it needs on PATH ("" none)
	target  func(brokend string) matrix.Target
}

// FlipsTargets are the targets Flips knows.
var flipsTargets = map[string]flipsTarget{
	"builtin": {"the reference daemon", "", func(string) matrix.Target { return matrix.BuiltinTarget() }},
	"handoff": {"brokend -handoff: listens, hands the listener to a detached child, exits", "", func(b string) matrix.Target {
		return matrix.Target{Cmd: []string{b, "-handoff", "-socket", "{root}/h.d/sock"}, Socket: "{root}/h.d/sock", Protocol: matrix.ProtocolConnect, DirCreatedBy: "suite", Forks: true}
	}},
	"prefork": {"brokend -prefork 3: a master and workers accepting on the inherited socket; no stale-socket recovery", "", func(b string) matrix.Target {
		return matrix.Target{Cmd: []string{b, "-prefork", "3", "-socket", "{root}/p.d/sock"}, Socket: "{root}/p.d/sock", Protocol: matrix.ProtocolConnect, DirCreatedBy: "suite", Forks: true}
	}},
	"prefork-recover": {"brokend -prefork 3 -recover: as prefork, removing a stale socket", "", func(b string) matrix.Target {
		return matrix.Target{Cmd: []string{b, "-prefork", "3", "-recover", "-socket", "{root}/p.d/sock"}, Socket: "{root}/p.d/sock", Protocol: matrix.ProtocolConnect, DirCreatedBy: "suite", Forks: true}
	}},
	"ssh-agent-forks": {"ssh-agent -a: forks into the background", "ssh-agent", func(string) matrix.Target {
		return matrix.Target{Cmd: []string{"ssh-agent", "-a", "{root}/agent.sock"}, Socket: "{root}/agent.sock", Protocol: matrix.ProtocolConnect, DirCreatedBy: "suite", Forks: true}
	}},
	"ssh-agent": {"ssh-agent -D -a: in the foreground", "ssh-agent", func(string) matrix.Target {
		return matrix.Target{Cmd: []string{"ssh-agent", "-D", "-a", "{root}/agent.sock"}, Socket: "{root}/agent.sock", Protocol: matrix.ProtocolConnect, DirCreatedBy: "suite"}
	}},
}

// FlipsTargetNames are the names Flips accepts, sorted.
func FlipsTargetNames() []string { return slices.Sorted(maps.Keys(flipsTargets)) }

// Verdicts counts, per target and scenario, how often each status was
// seen.
type Verdicts map[string]map[string]map[matrix.Status]int

// Add counts rep's results for target.
func (v Verdicts) Add(target string, rep matrix.Report) {
	if v[target] == nil {
		v[target] = map[string]map[matrix.Status]int{}
	}
	for _, r := range rep.Results {
		if v[target][r.ID] == nil {
			v[target][r.ID] = map[matrix.Status]int{}
		}
		v[target][r.ID][r.Status]++
	}
}

// Flipped are "target scenario" pairs seen with more than one status.
func (v Verdicts) Flipped() []string {
	var out []string
	for t, byID := range v {
		for id, seen := range byID {
			if len(seen) > 1 {
				out = append(out, t+" "+id)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Write prints one line per target and scenario: the statuses seen and
// how often, "FLIP" where there was more than one.
func (v Verdicts) Write(w io.Writer) {
	fmt.Fprintf(w, "%-18s %-28s %s\n", "TARGET", "SCENARIO", "VERDICTS SEEN")
	for _, t := range slices.Sorted(maps.Keys(v)) {
		for _, id := range slices.Sorted(maps.Keys(v[t])) {
			seen := v[t][id]
			var parts []string
			for _, st := range slices.Sorted(maps.Keys(seen)) {
				parts = append(parts, fmt.Sprintf("%s×%d", st, seen[st]))
			}
			flip := ""
			if len(seen) > 1 {
				flip = "  FLIP"
			}
			fmt.Fprintf(w, "%-18s %-28s %s%s\n", t, id, strings.Join(parts, " "), flip)
		}
	}
}

// Flips runs o.Scenarios against each of o.Targets o.Runs times (with
// o.Hogs busy loops running beside, in process groups killed at the end),
// prints the verdict sets seen, and fails when a verdict flipped or a run
// could not be made.
func Flips(ctx context.Context, w io.Writer, o FlipsOptions) error {
	v, err := FlipsVerdicts(ctx, w, o)
	fmt.Fprintln(w)
	v.Write(w)
	if err != nil {
		return err
	}
	if f := v.Flipped(); len(f) > 0 {
		return fmt.Errorf("%d verdict(s) flipped across %d runs: %s", len(f), o.Runs, strings.Join(f, ", "))
	}
	fmt.Fprintf(w, "no flips in %d runs of each\n", o.Runs)
	return nil
}

// FlipsFromEnv is Flips with FlipsOptionsFromEnv (the mage target).
func FlipsFromEnv(ctx context.Context, w io.Writer) error {
	o, err := FlipsOptionsFromEnv()
	if err != nil {
		return err
	}
	return Flips(ctx, w, o)
}

// FlipsVerdicts runs what Flips runs and returns the verdicts seen.
func FlipsVerdicts(ctx context.Context, w io.Writer, o FlipsOptions) (Verdicts, error) {
	v := Verdicts{}
	if runtime.GOOS == "windows" {
		return v, errors.New("flips: the multi-process targets are POSIX daemons")
	}
	sc, err := matrix.Select(o.Scenarios)
	if err != nil {
		return v, err
	}
	for _, name := range o.Targets {
		t, ok := flipsTargets[name]
		if !ok {
			return v, fmt.Errorf("flips: unknown target %q (known: %s)", name, strings.Join(FlipsTargetNames(), ", "))
		}
		if t.program != "" {
			if _, err := exec.LookPath(t.program); err != nil {
				return v, fmt.Errorf("flips: target %s needs %s on PATH: %v", name, t.program, err)
			}
		}
	}
	bin, err := Build(ctx, w)
	if err != nil {
		return v, err
	}
	brokend := filepath.Join(filepath.Dir(bin), "brokend")
	if err := goCmd(ctx, w, []string{"CGO_ENABLED=0"}, "build", "-trimpath", "-o", brokend, "./matrix/testdata/brokend"); err != nil {
		return v, err
	}
	hctx, stopHogs := context.WithCancel(ctx)
	var hogs []*exec.Cmd
	defer func() {
		stopHogs() // kills each hog's process group
		for _, h := range hogs {
			h.Wait()
		}
	}()
	for range o.Hogs {
		hog := command(hctx, "sh", "-c", "while :; do :; done")
		if err := hog.Start(); err != nil {
			return v, fmt.Errorf("flips: starting a CPU hog: %w", err)
		}
		hogs = append(hogs, hog)
	}
	if o.Hogs > 0 {
		fmt.Fprintf(w, "flips: %d CPU hog(s) running\n", o.Hogs)
	}
	for _, name := range o.Targets {
		t := flipsTargets[name]
		first := map[string]matrix.Result{}
		for i := range o.Runs {
			rep, err := matrix.Run(ctx, matrix.Config{Exe: bin, Target: t.target(brokend), Scenarios: sc, DaemonUID: -1, AttackerUID: -1, Leg: "flips"})
			if err != nil {
				return v, fmt.Errorf("flips: %s run %d: %w", name, i+1, err)
			}
			v.Add(name, rep)
			fmt.Fprintf(w, "flips: %s run %d/%d: %d passed, %d failed, %d skipped, %d errors\n", name, i+1, o.Runs, rep.Summary.Passed, rep.Summary.Failed, rep.Summary.Skipped, rep.Summary.Errors)
			writeFlipped(w, name, i+1, first, rep)
		}
	}
	return v, nil
}

// writeFlipped prints, for each result of run n whose status differs from
// the first run's, both reasons and the run's evidence: what a flip is
// diagnosed from. first is filled from the first run.
func writeFlipped(w io.Writer, target string, n int, first map[string]matrix.Result, rep matrix.Report) {
	for _, r := range rep.Results {
		f, ok := first[r.ID]
		if !ok {
			first[r.ID] = r
			continue
		}
		if f.Status == r.Status {
			continue
		}
		fmt.Fprintf(w, "flips: %s run %d: %s %s (run 1: %s): %s\n", target, n, r.ID, r.Status, f.Status, r.Reason)
		fmt.Fprintf(w, "    run 1's reason: %s\n", f.Reason)
		for _, ev := range r.Evidence {
			fmt.Fprintf(w, "    %s\n", ev)
		}
	}
}
