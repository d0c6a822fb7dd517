package tasks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/org/bh-ipc-check/internal/testenv"
	"github.com/org/bh-ipc-check/matrix"
)

// The self-test workflow runs for real with act (host mode, offline): the
// outputs the action produced and the step summary it wrote are asserted
// from act's log.
func TestActionSelfTestWithAct(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("act's host mode runs the ubuntu-latest jobs on Linux; this is %s", runtime.GOOS)
	}
	if testing.Short() {
		t.Skip("installs and runs act; run without -short (go tool mage test:action)")
	}
	if os.Getenv("GITHUB_ACTIONS") == "true" {
		t.Skip("on GitHub the self-test workflow runs for real (.github/workflows/action-selftest.yml); act is for running it elsewhere: go tool mage test:action")
	}
	t.Parallel()
	log, err := ActSelfTest(testContext(t), io.Discard)
	if errors.Is(err, ErrNoAct) {
		t.Skipf("act cannot be installed here: %v; run go install github.com/nektos/act@%s, then go tool mage test:action", err, ActVersion)
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, tail(log, 60))
	}
	for _, job := range []string{"builtin", "external", "unprivileged"} {
		m := regexp.MustCompile(`selftest ` + job + `: passed=(\d+) failed=(\d+) skipped=(\d+)`).FindStringSubmatch(log)
		if m == nil {
			t.Errorf("%s job printed no outputs:\n%s", job, tail(log, 40))
			continue
		}
		passed, _ := strconv.Atoi(m[1])
		if m[2] != "0" || passed < 17 {
			t.Errorf("%s job outputs: passed=%s failed=%s skipped=%s", job, m[1], m[2], m[3])
		}
		// The outputs action.yml declares for code scanning and exit status.
		if o := regexp.MustCompile(`selftest ` + job + `: required-failed=(\S*) sarif=(\S*)`).FindStringSubmatch(log); o == nil || o[1] != "0" || !strings.HasSuffix(o[2], "/report.sarif") {
			t.Errorf("%s job: required-failed and report-sarif outputs %q, want 0 and a report.sarif path", job, o)
		}
		if !strings.Contains(log, "selftest "+job+": ok") {
			t.Errorf("%s job's checks did not finish", job)
		}
	}
	// A step before the run failed: the outputs are still set.
	if !strings.Contains(log, "selftest notrun: ok") {
		m := regexp.MustCompile(`selftest notrun: .*`).FindString(log)
		t.Errorf("notrun job: %q, want result=error exit-code=2 after a failed step before the run", m)
	}
	if n := strings.Count(log, "Job succeeded"); n != 4 {
		t.Errorf("%d jobs succeeded, want 4", n)
	}
	// act runs the jobs as root: the action says so, for every privileged
	// setting (on GitHub the builtin job takes the sudo path, the
	// unprivileged one runs without it and is incomplete).
	for _, want := range []string{"privileged=auto: running as root", "privileged=false: running as root"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	// act prints what a step appended to $GITHUB_STEP_SUMMARY.
	for _, want := range []string{"Summary - ## bh-ipc-check: all required scenarios passed", "| `sock.mode-umask0` | required | ✅ pass |", "| `tcp.squatter-learns-nothing` | required | ⏭️ skip [^"} {
		if !strings.Contains(log, want) {
			t.Errorf("the step summary lacks %q", want)
		}
	}
	if strings.Contains(log, "stand-in must never run") {
		t.Error("the setup-go stand-in ran: setup-go 'false' was not honoured")
	}
}

func TestActionlint(t *testing.T) {
	t.Parallel()
	testenv.NeedGo(t)
	if err := Actionlint(testContext(t), io.Discard); err != nil {
		t.Fatal(err)
	}
}

func TestSmoke(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("smoke is POSIX (SIGTERM, modes)")
	}
	t.Parallel()
	var b strings.Builder
	if err := Smoke(testContext(t), &b); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	for _, want := range []string{"unix pong from pid", "tcp  pong from pid", "sock 0600", "port 0600", "nothing left behind"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("smoke summary lacks %q:\n%s", want, b.String())
		}
	}
}

// The code vets and compiles clean for darwin and windows (the cross legs).
func TestCrossLegs(t *testing.T) {
	testenv.NeedGo(t)
	if testing.Short() {
		t.Skip("compiles the module twice per OS; run without -short (go tool mage test:cross)")
	}
	t.Parallel()
	reps := crossLegsOnce(testContext(t))
	if len(reps) != len(CrossOSes) {
		t.Fatalf("%d legs", len(reps))
	}
	for _, r := range reps {
		for _, res := range r.Results {
			if res.Status != matrix.Pass {
				t.Errorf("%s %s: %s\n%s", r.Leg, res.ID, res.Reason, strings.Join(res.Evidence, "\n"))
			}
		}
	}
}

func TestModuleRoot(t *testing.T) {
	testenv.NeedGo(t)
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(root + "/magefile.go"); err != nil {
		t.Errorf("module root %s has no magefile.go: %v", root, err)
	}
}

func TestParseAndEvaluateBench(t *testing.T) {
	out := `goos: linux
BenchmarkPing/unix/raw-echo-2   	 1000	  9000 ns/op	  8000 p50-ns	 0 B/op
BenchmarkPing/unix/raw-echo-2   	 1000	  9100 ns/op	  8200 p50-ns	 0 B/op
BenchmarkPing/unix/ipc-2        	 1000	 12000 ns/op	 11000 p50-ns	 64 B/op
BenchmarkPing/unix/ipc-2        	 1000	 12500 ns/op	 11200 p50-ns	 64 B/op
BenchmarkIdleConnHeap/tcp-2     	 1     	     0 ns/op	  4200 heapB/conn
PASS
`
	rows := Evaluate(ParseBench(strings.NewReader(out)))
	byWhat := map[string]BenchRow{}
	for _, r := range rows {
		byWhat[r.Target.What] = r
	}
	ping := byWhat["ping round trip, unix (p50)"]
	// medians of two values take the upper one: 11200 / 8200.
	if ping.Missing || ping.Met || ping.Value != 11200 || ping.Baseline != 8200 {
		t.Errorf("ping row %+v: want 11200 vs 8200, missed (1.37× > 1.25×)", ping)
	}
	heap := byWhat["heap per idle authenticated connection, tcp"]
	if heap.Missing || !heap.Met || heap.Value != 4200 {
		t.Errorf("heap row %+v", heap)
	}
	if !byWhat["ping round trip, tcp (p50)"].Missing {
		t.Error("an absent benchmark is not reported as not measured")
	}
	var b strings.Builder
	WriteBenchTable(&b, rows)
	if !strings.Contains(b.String(), "1.37×") || !strings.Contains(b.String(), "MISSED") || !strings.Contains(b.String(), "not measured") {
		t.Errorf("table:\n%s", b.String())
	}
}

// The Windows code path, run where we can watch it: the ipc tests as a
// Windows binary, and the suite's windows/wine leg.
func TestWindowsUnderWine(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles and runs under Wine; run without -short (go tool mage test:wine)")
	}
	testenv.SkipUnderWine(t, "it runs Wine itself, from Linux")
	if !WineReady(context.Background()) {
		if os.Getenv("BH_REQUIRE_WINE") == "1" {
			t.Fatal("BH_REQUIRE_WINE=1 but Wine is not set up (bash scripts/wine/setup.sh)")
		}
		t.Skip("Wine is not set up here; run bash scripts/wine/setup.sh (as root), then go tool mage test:wine")
	}
	t.Parallel()
	ctx := testContext(t)
	// Nothing of Wine outlives the test: the wineserver, when the test
	// started it (one it found running is another's: scripts/test.sh's,
	// which its Wine step uses at the same time), and with it any Wine
	// process of the prefix.
	started, err := WineServerUp(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if started {
		t.Cleanup(func() {
			if err := StopWine(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	if os.Getenv("BH_TEST_WINE_STEP") == "1" {
		// scripts/test.sh's Wine step, running beside, built the windows
		// CLI first: this test's build of it finds its packages compiled.
		t.Log("the ipc tests under Wine: run by scripts/test.sh's Wine step, with every package's (BH_TEST_WINE_STEP=1)")
	} else {
		// The windows packages compiled once, by the cross leg (when it
		// runs), not by this test and the cross leg at the same time.
		crossLegsOnce(ctx)
		var out strings.Builder
		if err := WindowsTestsUnderWine(ctx, &out); err != nil {
			t.Fatalf("ipc tests under Wine: %v\n%s", err, tail(out.String(), 40))
		}
	}
	rep, err := WineLegReport(ctx, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Leg != "windows/wine" || rep.OS != "windows" {
		t.Errorf("leg %s on %s", rep.Leg, rep.OS)
	}
	status := map[string]matrix.Status{}
	why := map[string]string{}
	for _, r := range rep.Results {
		status[r.ID] = r.Status
		why[r.ID] = fmt.Sprintf("%s %v", r.Reason, r.Evidence)
		if r.Status == matrix.Fail {
			t.Errorf("%s failed under Wine: %s %v", r.ID, r.Reason, r.Evidence)
		}
		if r.Status == matrix.Skip && r.Reason == "" {
			t.Errorf("%s skipped without a reason", r.ID)
		}
	}
	for _, id := range []string{"tcp.auth-required", "tcp.squatter-learns-nothing", "tcp.portfile-dacl", "inst.live-not-hijacked", "inst.stale-recovered", "proto.malformed", "load.concurrent"} {
		if status[id] != matrix.Pass {
			t.Errorf("%s: %s under Wine, want pass (the Windows TCP token path): %s", id, status[id], why[id])
		}
	}
	if status["sock.mode-umask0"] != matrix.Skip {
		t.Errorf("sock.mode-umask0 on windows: %s, want skip", status["sock.mode-umask0"])
	}
}

// publish fails a matrix with a required failure or with any scenario that
// reached no verdict; privilege skips (the non-root leg) do not fail it.
func TestPublishFailsOnFailuresAndErrors(t *testing.T) {
	testenv.NeedGo(t)
	name := "test-publish-" + strconv.Itoa(os.Getpid())
	dir, err := reportsDir(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	rep := func(rs ...matrix.Result) []matrix.Report {
		return []matrix.Report{{Schema: matrix.ReportSchema, Leg: "native", Results: rs, Summary: matrix.Summarize(rs)}}
	}
	for _, c := range []struct {
		name    string
		results []matrix.Result
		fails   bool
	}{
		{"all passed", []matrix.Result{{ID: "a", Severity: matrix.Required, Status: matrix.Pass}}, false},
		{"privilege skip", []matrix.Result{{ID: "a", Severity: matrix.Required, Status: matrix.Pass}, {ID: "b", Severity: matrix.Required, Status: matrix.Skip, Incomplete: true}}, false},
		{"required failed", []matrix.Result{{ID: "a", Severity: matrix.Required, Status: matrix.Fail}}, true},
		{"error", []matrix.Result{{ID: "a", Severity: matrix.Required, Status: matrix.Pass}, {ID: "b", Severity: matrix.Hardening, Status: matrix.Error}}, true},
	} {
		err := publish(io.Discard, name, rep(c.results...))
		if (err != nil) != c.fails {
			t.Errorf("%s: publish = %v, want failure %v", c.name, err, c.fails)
		}
	}
}
