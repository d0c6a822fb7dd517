package matrix

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/org/bh-ipc-check/internal/testenv"
	"github.com/org/bh-ipc-check/ipc"
	"github.com/org/bh-ipc-check/matrix/internal/stage"
)

// fallbackDaemonUID is the daemon's uid for the fallback run as root: one
// no other test uses, so /tmp/bh-<uid>, where the attacker plants in this
// run, is this test's alone.
const fallbackDaemonUID = 4243

// The whole suite with every unix-socket scenario in the sun_path fallback
// (/tmp/bh-<uid>/<tag>/bu-<name>.d), as on a host whose $TMPDIR is too long:
// $TMPDIR is made long enough that even the shortest run directory
// overflows sun_path. The plants create the fallback's parents as the
// daemon's uid, the directory attacks go to /tmp/bh-<uid>, and every
// scenario that applies passes.
func TestBuiltinPassesEverythingInFallback(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix sockets and so no sun_path fallback on windows")
	}
	needBins(t)
	limit := ipc.SunPathLimit(runtime.GOOS)
	base, err := os.MkdirTemp("/tmp", "bhf-")
	testenv.OK(t, err)
	t.Cleanup(func() { os.RemoveAll(base) })
	testenv.OK(t, os.Chmod(base, 0o755))
	// <tmpdir>/bhc-N/NN/root/bu-<name>.d/sock is at least
	// len(tmpdir)+25+len(name) bytes: make that limit+1.
	const name = "fbcheck"
	pad := limit + 1 - 25 - len(name) - len(base) - 1
	tmpdir := filepath.Join(base, strings.Repeat("t", pad))
	testenv.OK(t, os.Mkdir(tmpdir, 0o755))
	testenv.OK(t, os.Chmod(tmpdir, 0o755))
	shortest := filepath.Join(tmpdir, stage.RunDirPrefix+"0", "01", "root")
	if lay, err := ipc.LayoutFor(runtime.GOOS, shortest, name, ipc.TransportUnix, 0); err != nil || !lay.Fallback {
		t.Fatalf("the shortest scenario root %s (%d bytes) does not put the socket in the fallback: %+v %v", shortest, len(shortest), lay, err)
	}
	t.Setenv("TMPDIR", tmpdir)
	daemonUID := -1
	if os.Geteuid() == 0 {
		daemonUID = fallbackDaemonUID
	}
	sc, err := Select("")
	testenv.OK(t, err)
	rep, err := Run(context.Background(), Config{Exe: bins.cli, Target: BuiltinTarget(), Scenarios: sc, DaemonUID: daemonUID, AttackerUID: -1, Name: name})
	testenv.OK(t, err)
	logReport(t, rep)
	// dir.squat-dos would squat the fallback every scenario shares: it
	// skips, and says so.
	if r, _ := find(rep, "dir.squat-dos"); r.Status != Skip || !strings.Contains(r.Reason, "sun_path fallback") {
		t.Errorf("dir.squat-dos: %s %q, want a skip naming the sun_path fallback", r.Status, r.Reason)
	}
	rep.Results = slices.DeleteFunc(rep.Results, func(r Result) bool { return r.ID == "dir.squat-dos" })
	checkAllPass(t, rep, "dir.squat-dos")
	if left, _ := filepath.Glob(fmt.Sprintf("/tmp/bh-%d/*/bu-%s.d", rep.DaemonUID, name)); len(left) > 0 {
		t.Errorf("endpoints left behind in the sun_path fallback: %v", left)
	}
	if rep.DaemonUID == fallbackDaemonUID {
		if _, err := os.Lstat(fmt.Sprintf("/tmp/bh-%d", fallbackDaemonUID)); err == nil {
			t.Errorf("/tmp/bh-%d was left behind", fallbackDaemonUID)
		}
	}
}

// checkAllPass fails t for every failed scenario, and unless exactly the
// scenarios that apply here passed (without root, less those that need
// another uid; less except).
func checkAllPass(t *testing.T, rep Report, except ...string) {
	t.Helper()
	for _, r := range rep.Results {
		if r.Status == Fail {
			t.Errorf("%s failed: %s\n  %s", r.ID, r.Reason, strings.Join(r.Evidence, "\n  "))
		}
	}
	want := slices.DeleteFunc(applicable(true, true), func(id string) bool { return slices.Contains(except, id) })
	if os.Geteuid() != 0 {
		want = slices.DeleteFunc(want, func(id string) bool { return slices.Contains(otherUIDScenarios(), id) })
	}
	if got := byStatus(rep, Pass); !slices.Equal(got, want) {
		t.Errorf("passed %v\nwant   %v", got, want)
	}
}

// As root with $TMPDIR a 0700 directory (root's $TMPDIR on macOS under
// sudo is the invoking user's), the suite makes its run directory under
// /tmp, so the scenarios that act as other uids run instead of failing
// with setup errors ("as uid 1001: mkdir ...", "fork/exec ...").
func TestRunDirOutsideUnreachableTMPDIR(t *testing.T) {
	if runtime.GOOS == "windows" || os.Geteuid() != 0 {
		t.Skip("needs root on a Unix host to act as other uids; run as root: sudo go test ./matrix/ (CI runs as root)")
	}
	needBins(t)
	priv, err := os.MkdirTemp("", "bh-priv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(priv) })
	if err := os.Chmod(priv, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", priv)
	sc, err := Select("dir.symlink,dir.foreign-owner,auth.foreign-uid-connect")
	if err != nil {
		t.Fatal(err)
	}
	var progress strings.Builder
	rep, err := Run(context.Background(), Config{Exe: bins.cli, Target: BuiltinTarget(), Scenarios: sc, DaemonUID: -1, AttackerUID: -1, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	logReport(t, rep)
	for _, r := range rep.Results {
		if r.Status != Pass {
			t.Errorf("%s: %s %s\n  %s", r.ID, r.Status, r.Reason, strings.Join(r.Evidence, "\n  "))
		}
	}
	// The reason names priv (not searchable by the other uids), or, under
	// the macOS job's conditions, the TMPDIR above it that another uid owns
	// (fsx.HeldByUs: root runs nothing by path under it).
	var line string
	for _, l := range strings.Split(progress.String(), "\n") {
		if strings.HasPrefix(l, "run directory under ") {
			line = l
		}
	}
	if !strings.HasPrefix(line, "run directory under /tmp: ") || !strings.Contains(line, filepath.Base(priv)) && !strings.Contains(line, "is owned by uid") {
		t.Errorf("the run did not say why it moved to /tmp: %q", progress.String())
	}
}
