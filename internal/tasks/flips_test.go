package tasks

import (
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/org/bh-ipc-check/matrix"
)

func TestVerdictsFlipped(t *testing.T) {
	v := Verdicts{}
	rep := func(st ...matrix.Status) matrix.Report {
		ids := []string{"inst.a", "inst.b"}
		var r matrix.Report
		for i, s := range st {
			r.Results = append(r.Results, matrix.Result{ID: ids[i], Status: s})
		}
		return r
	}
	v.Add("x", rep(matrix.Pass, matrix.Fail))
	v.Add("x", rep(matrix.Pass, matrix.Pass))
	v.Add("y", rep(matrix.Fail, matrix.Fail))
	if got := v.Flipped(); len(got) != 1 || got[0] != "x inst.b" {
		t.Errorf("flipped %v, want [x inst.b]", got)
	}
	var b strings.Builder
	v.Write(&b)
	for _, want := range []string{"inst.a                       pass×2\n", "fail×1 pass×1  FLIP", "y                  inst.a                       fail×1\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

// A run whose verdict differs from the first run's is printed with both
// reasons and its evidence; one that agrees is not.
func TestWriteFlippedNamesReasons(t *testing.T) {
	first := map[string]matrix.Result{}
	rep := func(st matrix.Status, why string) matrix.Report {
		return matrix.Report{Results: []matrix.Result{{ID: "inst.a", Status: st, Reason: why, Evidence: []string{"ev " + why}}}}
	}
	var b strings.Builder
	writeFlipped(&b, "x", 1, first, rep(matrix.Pass, "served"))
	writeFlipped(&b, "x", 2, first, rep(matrix.Pass, "served again"))
	if b.Len() != 0 {
		t.Fatalf("agreeing runs printed %q", b.String())
	}
	writeFlipped(&b, "x", 3, first, rep(matrix.Fail, "killed by SIGTERM"))
	for _, want := range []string{"flips: x run 3: inst.a fail (run 1: pass): killed by SIGTERM\n", "run 1's reason: served\n", "    ev killed by SIGTERM\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
}

// A real run: the pre-forking brokend without stale-socket recovery fails
// inst.stale-recovered every time, the recovering one passes it.
func TestFlipsRuns(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("brokend is Linux-only; this is %s", runtime.GOOS)
	}
	if testing.Short() {
		t.Skip("builds the CLI and brokend and runs the suite; run without -short (go tool mage flips)")
	}
	o := FlipsOptions{Targets: []string{"prefork", "prefork-recover"}, Scenarios: "inst.stale-recovered", Runs: 1, Hogs: 1}
	v, err := FlipsVerdicts(testContext(t), io.Discard, o)
	if err != nil {
		t.Fatal(err)
	}
	if got := v["prefork"]["inst.stale-recovered"]; got[matrix.Fail] != 1 || len(got) != 1 {
		t.Errorf("prefork inst.stale-recovered: %v, want fail×1", got)
	}
	if got := v["prefork-recover"]["inst.stale-recovered"]; got[matrix.Pass] != 1 || len(got) != 1 {
		t.Errorf("prefork-recover inst.stale-recovered: %v, want pass×1", got)
	}
	if err := Flips(testContext(t), io.Discard, FlipsOptions{Targets: []string{"nosuch"}, Scenarios: "inst.*", Runs: 1}); err == nil || !strings.Contains(err.Error(), `unknown target "nosuch"`) {
		t.Errorf("unknown target: %v", err)
	}
}
