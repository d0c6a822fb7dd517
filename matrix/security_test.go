package matrix

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// testRunner is a Runner with a run directory of its own, for tests of the
// environment's set-up; its directory is removed at the end of the test.
func testRunner(t *testing.T) *Runner {
	t.Helper()
	dir, err := os.MkdirTemp("", "bh-run-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	fs, err := openRunFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fs.close)
	return &Runner{cfg: Config{Target: BuiltinTarget(), Name: DefaultName}, runDir: dir, fs: fs, daemonUID: os.Geteuid(), attackerUID: -1}
}

func scenarioByID(t *testing.T, id string) Scenario {
	t.Helper()
	for _, s := range catalogue {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("no scenario %s", id)
	return Scenario{}
}

// Scenario parents and roots, and the directories path.budget adds, are
// 01777 like /tmp: other uids may create entries but not rename or remove
// the suite's or the daemon's.
func TestScenarioDirectoriesAreSticky(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no sticky bit; the modes are checked on Linux and macOS")
	}
	r := testRunner(t)
	e, err := r.newEnv(scenarioByID(t, "sock.mode-umask0"), 1)
	if err != nil {
		t.Fatal(err)
	}
	deep := filepath.Join(e.Root, "long-a", "long-b")
	if err := e.mkdirChain(deep); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{e.Parent, e.Root, filepath.Dir(deep), deep} {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode(); got != os.ModeDir|os.ModeSticky|0o777 {
			t.Errorf("%s: mode %v, want %v", p, got, os.ModeDir|os.ModeSticky|0o777)
		}
	}
}
