package containers

import (
	"archive/tar"
	"bytes"
	"context"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ory/dockertest/v3"
	"github.com/ory/dockertest/v3/docker"

	"github.com/org/bh-ipc-check/internal/testenv"
	"github.com/org/bh-ipc-check/matrix"
	"github.com/org/bh-ipc-check/report"
)

// needEngine skips without a reachable engine, unless BH_REQUIRE_DOCKER=1
// (CI), where a missing engine is a failure.
func needEngine(t *testing.T) *dockertest.Pool {
	t.Helper()
	pool, err := dockertest.NewPool("")
	if err == nil {
		err = pool.Client.Ping()
	}
	if err != nil {
		testenv.SkipUnderWine(t, "a Windows binary under Wine reaches no Docker engine (the engine is the Linux host's; the container legs run from Linux)")
		if RequireEngineFromEnv() {
			t.Fatalf("BH_REQUIRE_DOCKER=1 but no Docker engine answers: %v", err)
		}
		t.Skipf("no Docker engine answers (%v); run scripts/ensure-docker.sh first, or go tool mage test:containers", err)
	}
	return pool
}

func staticBinary(t *testing.T, pkg string) string {
	t.Helper()
	out := filepath.Join(testenv.TempDir(t), filepath.Base(pkg))
	if runtime.GOOS == "linux" {
		// Static already (testenv.BuildProgram), and prebuilt once by
		// scripts/test.sh.
		if err := testenv.BuildProgram(pkg, out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// noLeftovers fails when a labelled container or image of the suite is on
// the engine that was not there before (before, from leftoversBefore):
// the engine is the machine's, and an earlier run that was killed (or
// another run at the same moment) may have left its own, which this test
// did not make.
func noLeftovers(t *testing.T, before map[string]bool) {
	t.Helper()
	cs, imgs, err := Leftovers("")
	if err != nil {
		t.Fatalf("listing leftovers: %v", err)
	}
	cs = slices.DeleteFunc(cs, func(c string) bool { return before[c] })
	imgs = slices.DeleteFunc(imgs, func(i string) bool { return before[i] })
	if len(cs) > 0 || len(imgs) > 0 {
		t.Errorf("left behind: containers %v, images %v", cs, imgs)
	}
}

// leftoversBefore is what noLeftovers does not count: the suite's labelled
// containers and images already on the engine.
func leftoversBefore(t *testing.T) map[string]bool {
	t.Helper()
	cs, imgs, err := Leftovers("")
	if err != nil {
		t.Fatalf("listing leftovers: %v", err)
	}
	before := map[string]bool{}
	for _, x := range append(cs, imgs...) {
		before[x] = true
	}
	if len(before) > 0 {
		t.Logf("already on the engine, not counted: %v", slices.Sorted(maps.Keys(before)))
	}
	return before
}

func byID(r matrix.Report) map[string]matrix.Result {
	m := map[string]matrix.Result{}
	for _, res := range r.Results {
		m[res.ID] = res
	}
	return m
}

var otherUID = []string{"dir.symlink", "dir.foreign-owner", "auth.foreign-uid-connect", "auth.peercred"}

// Two legs end to end: a root-run leg and the non-root leg, merged.
func TestLegsEndToEnd(t *testing.T) {
	needEngine(t)
	before := leftoversBefore(t)
	bin := staticBinary(t, "../cmd/bh-ipc-check")
	legs := []Leg{DefaultLegs()[0], DefaultLegs()[6]}
	reps, err := Run(context.Background(), Options{Binary: bin, Target: matrix.BuiltinTarget(), Legs: legs, Progress: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	noLeftovers(t, before)
	m := report.NewMatrix(reps...)
	if len(reps) != 2 || reps[0].Leg != "container/1000/000" || reps[1].Leg != "container/1000/000/nonroot" {
		t.Fatalf("legs %v", []string{reps[0].Leg, reps[1].Leg})
	}
	md := report.Markdown(m)
	for _, col := range []string{"| container/1000/000 |", "| container/1000/000/nonroot |"} {
		if !strings.Contains(md, col) {
			t.Errorf("matrix lacks column %q:\n%s", col, md)
		}
	}
	root, nonroot := byID(reps[0]), byID(reps[1])
	if reps[0].UID != 0 || reps[0].DaemonUID != 1000 || reps[1].UID != 1000 {
		t.Errorf("uids: leg 1 suite %d daemon %d; leg 2 suite %d", reps[0].UID, reps[0].DaemonUID, reps[1].UID)
	}
	for _, id := range otherUID {
		if root[id].Status != matrix.Pass {
			t.Errorf("root leg: %s %s: %s %v", id, root[id].Status, root[id].Reason, root[id].Evidence)
		}
		if nonroot[id].Status != matrix.Skip || !strings.Contains(nonroot[id].Reason, "needs root") {
			t.Errorf("non-root leg: %s %s: %q, want a skip saying it needs root", id, nonroot[id].Status, nonroot[id].Reason)
		}
	}
	// No verdict is no pass either: with Docker's default capabilities (no
	// CAP_SYS_PTRACE) root in the container must still tell which process
	// holds the daemon's port (tcp.auth-required), and so on.
	if m.Summary.RequiredFailed != 0 || m.Summary.Errors != 0 {
		var b strings.Builder
		report.WriteMatrixTable(&b, m)
		t.Errorf("required failures or errors:\n%s", b.String())
		for _, r := range reps {
			for _, res := range r.Results {
				if res.Status == matrix.Error || res.Status == matrix.Fail {
					t.Errorf("%s %s %s: %s %v", r.Leg, res.ID, res.Status, res.Reason, res.Evidence)
				}
			}
		}
	}
}

// No engine: legs skipped with the reason; with BH_REQUIRE_DOCKER=1, errors
// (no verdict) that fail the run.
func TestDeadEngine(t *testing.T) {
	dead, deadName := "unix://"+filepath.Join(testenv.TempDir(t), "no-docker.sock"), "no-docker.sock"
	if runtime.GOOS == "windows" {
		dead, deadName = "npipe:////./pipe/bh-no-docker", "bh-no-docker" // Docker's endpoint there
	}
	for _, require := range []bool{false, true} {
		reps, err := Run(context.Background(), Options{Binary: "/nonexistent", Target: matrix.BuiltinTarget(), Legs: DefaultLegs()[:2], Endpoint: dead, RequireEngine: require})
		if err != nil {
			t.Fatal(err)
		}
		want := matrix.Skip
		if require {
			want = matrix.Error
		}
		for _, r := range reps {
			for _, res := range r.Results {
				if res.Status != want || !strings.Contains(res.Reason, "no Docker engine reachable") || !strings.Contains(res.Reason, deadName) {
					t.Fatalf("require=%v: %s on %s: %s %q", require, res.ID, r.Leg, res.Status, res.Reason)
				}
			}
		}
		if code := report.ExitCode(report.NewMatrix(reps...).Summary, false); require && code == report.ExitPass {
			t.Error("BH_REQUIRE_DOCKER=1 with no engine did not fail the run (exit 0)")
		}
	}
	t.Setenv("BH_REQUIRE_DOCKER", "1")
	if !RequireEngineFromEnv() {
		t.Error("RequireEngineFromEnv ignores BH_REQUIRE_DOCKER=1")
	}
}

// A leg that outlives its timeout is killed, reported failed with its
// logs, and removed.
func TestHungLegKilled(t *testing.T) {
	needEngine(t)
	before := leftoversBefore(t)
	bin := staticBinary(t, "../cmd/bh-ipc-check")
	t0 := time.Now()
	reps, err := Run(context.Background(), Options{
		Binary: bin, Target: matrix.BuiltinTarget(), Legs: DefaultLegs()[:1],
		Scenarios: "load.concurrent,proto.idle-connections,load.concurrent", LegTimeout: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	noLeftovers(t, before)
	res := reps[0].Results[0]
	if res.Status != matrix.Error || !res.Incomplete || !strings.Contains(res.Reason, "leg killed after 200ms") {
		t.Fatalf("hung leg: %s %q", res.Status, res.Reason)
	}
	t.Logf("killed and cleaned up in %s; evidence %v", time.Since(t0), res.Evidence)
}

// An external target in a user's image: the binary is copied in.
func TestExternalImage(t *testing.T) {
	pool := needEngine(t)
	before := leftoversBefore(t)
	daemon := staticBinary(t, "../matrix/testdata/brokend")
	bin := staticBinary(t, "../cmd/bh-ipc-check")
	// The "user's image": FROM scratch with their daemon in it.
	img := "bh-ipc-check-test-userimage:" + newRunID()
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	b, _ := os.ReadFile(daemon)
	df := "FROM scratch\nCOPY brokend /usr/bin/brokend\n"
	tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(df))})
	tw.Write([]byte(df))
	tw.WriteHeader(&tar.Header{Name: "brokend", Mode: 0o755, Size: int64(len(b))})
	tw.Write(b)
	tw.Close()
	if err := pool.Client.BuildImage(docker.BuildImageOptions{Name: img, InputStream: &ctxTar, OutputStream: &bytes.Buffer{}, Labels: map[string]string{"org.bh-ipc-check.test": "1"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Client.RemoveImageExtended(img, docker.RemoveImageOptions{Force: true}) })
	target := matrix.Target{Cmd: []string{"/usr/bin/brokend", "-flaw", "none", "-root", "{root}", "-name", "{name}"}, Socket: "{root}/bu.sock", Protocol: matrix.ProtocolBHJSON}
	reps, err := Run(context.Background(), Options{Binary: bin, Image: img, Target: target, Legs: DefaultLegs()[:1], Scenarios: "sock.*,inst.*,dir.symlink"})
	if err != nil {
		t.Fatal(err)
	}
	noLeftovers(t, before)
	r := reps[0]
	if r.Summary.Failed != 0 || r.Summary.Passed == 0 || r.Target.Builtin {
		for _, res := range r.Results {
			t.Logf("%s %s %s %v", res.ID, res.Status, res.Reason, res.Evidence)
		}
		t.Fatalf("external target in the user's image: %+v", r.Summary)
	}
}

func TestIsStatic(t *testing.T) {
	testenv.NeedGo(t)
	bin := staticBinary(t, "../cmd/bh-ipc-check")
	if ok, err := IsStatic(bin); !ok || err != nil {
		t.Errorf("IsStatic(CGO_ENABLED=0 build) = %v, %v", ok, err)
	}
	if ok, err := IsStatic("/bin/sh"); ok || err != nil {
		t.Errorf("IsStatic(/bin/sh) = %v, %v; want a dynamic binary", ok, err)
	}
	if _, err := IsStatic("containers.go"); err == nil {
		t.Error("IsStatic of a non-ELF file succeeded")
	}
}

func TestQuoteCommandRoundTrip(t *testing.T) {
	argv := []string{"/usr/bin/python3", "-c", "print('a b')", "{root}", `x"y`, ""}
	got, err := matrix.SplitPOSIXCommand(quoteCommand(argv))
	if err != nil || !slices.Equal(got, argv) {
		t.Errorf("round trip %q -> %q (%v)", argv, got, err)
	}
}

func TestDefaultLegs(t *testing.T) {
	legs := DefaultLegs()
	if len(legs) != 7 {
		t.Fatalf("%d legs", len(legs))
	}
	seen := map[string]bool{}
	attackers := map[int]bool{}
	for _, l := range legs {
		if seen[l.Name] {
			t.Errorf("duplicate leg %s", l.Name)
		}
		seen[l.Name] = true
		attackers[l.AttackerUID] = true
	}
	if !attackers[1001] || !attackers[31337] || !attackers[-1] {
		t.Errorf("attacker uids %v, want 1001, 31337 and a non-root leg", attackers)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
