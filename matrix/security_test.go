package matrix

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/org/bh-ipc-check/internal/testenv"
	"github.com/org/bh-ipc-check/ipc"

	"github.com/org/bh-ipc-check/matrix/internal/probe"
	"github.com/org/bh-ipc-check/matrix/internal/stage"
	"github.com/org/bh-ipc-check/matrix/internal/world"
)

// shortDir is testenv.ShortDir: a short directory for socket paths.
func shortDir(t *testing.T, prefix string) string { return testenv.ShortDir(t, prefix) }

// selfForOtherUIDs is testenv.SelfForOtherUIDs: this test binary where
// other uids can run it.
func selfForOtherUIDs(t *testing.T, dir string) string { return testenv.SelfForOtherUIDs(t, dir) }

// testRunner is a Runner with a run directory of its own, for tests of the
// environment's set-up; its directory is removed at the end of the test.
func testRunner(t *testing.T) *Runner {
	t.Helper()
	dir := shortDir(t, "bh-run-test-")
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	fs, err := world.OpenRunFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fs.Close)
	return &Runner{Config: Config{Target: BuiltinTarget(), Name: DefaultName}, RunDir: dir, FS: fs, DaemonUID: os.Geteuid(), AttackerUID: -1}
}

func scenarioByID(t *testing.T, id string) Scenario {
	t.Helper()
	for _, s := range Catalogue() {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("no scenario %s", id)
	return Scenario{}
}

// Scenario parents and roots (once opened), and the directories
// path.budget adds, are 01777 like /tmp: other uids may create entries but
// not rename or remove the suite's or the daemon's.
func TestScenarioDirectoriesAreSticky(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no sticky bit; the modes are checked on Linux and macOS")
	}
	r := testRunner(t)
	e, err := r.NewEnv(scenarioByID(t, "sock.mode-umask0"), 1)
	if err != nil {
		t.Fatal(err)
	}
	// The root is private until the daemon needs it (OpenRoot).
	if fi, err := os.Lstat(e.Root); err != nil || fi.Mode() != os.ModeDir|0o700 {
		t.Errorf("%s before openRoot: %v %v, want %v", e.Root, fi.Mode(), err, os.ModeDir|0o700)
	}
	if err := e.OpenRoot(); err != nil {
		t.Fatal(err)
	}
	deep := filepath.Join(e.Root, "long-a", "long-b")
	if err := e.MkdirChain(deep); err != nil {
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

// An impostor met inside a helper action ends the scenario as an error,
// whatever the scenario concluded.
func TestImpostorOutcomeIsError(t *testing.T) {
	e := &Env{}
	o := e.JudgeImpostors(stage.Pass("fine"))
	if o.Status != Pass {
		t.Fatalf("no impostor: %v, want pass", o.Status)
	}
	e.Impostors = []string{"socket owned by uid 31337"}
	if o := e.JudgeImpostors(stage.Pass("fine")); o.Status != Error || !strings.Contains(o.Reason, "31337") {
		t.Errorf("with an impostor: %v %q, want error naming it", o.Status, o.Reason)
	}
}

// The daemon gets the caller's environment plus --env, or with EnvClear
// only the minimal one plus --env.
func TestDaemonEnv(t *testing.T) {
	t.Setenv("BH_TEST_CALLER", "caller-value")
	target := BuiltinTarget()
	target.Env = []string{"BH_TEST_ADDED={name}"}
	got := stage.DaemonEnv(Config{Target: target}, "/r", "nm", ipc.TransportUnix)
	if !slices.Contains(got, "BH_TEST_CALLER=caller-value") || got[len(got)-1] != "BH_TEST_ADDED=nm" {
		t.Errorf("inherited: %q", got)
	}
	got = stage.DaemonEnv(Config{Target: target, EnvClear: true}, "/r", "nm", ipc.TransportUnix)
	if want := append(probe.MinimalEnv(), "BH_TEST_ADDED=nm"); !slices.Equal(got, want) {
		t.Errorf("--env-clear: %q, want %q", got, want)
	}
	if err := (Target{Builtin: true, Env: []string{"NOEQUALS"}}).Validate(); err == nil {
		t.Error("a builtin target's --env without = was accepted")
	}
}

// The daemon's exec spec, which holds its environment, is not in the
// helper's argv (readable by every uid) nor in the helper's environment.
func TestExecSpecNotInArgv(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("on Windows daemons start directly, without the exec helper")
	}
	cmd, err := stage.DaemonCommand("/bin/true", stage.ExecArg{Argv: []string{"d"}, Env: []string{"BH_TEST_SECRET=s3cret"}}, os.Geteuid(), false)
	if err != nil {
		t.Fatal(err)
	}
	if a := strings.Join(cmd.Args, " "); strings.Contains(a, "s3cret") {
		t.Errorf("argv holds the secret: %s", a)
	}
	if e := strings.Join(cmd.Env, " "); strings.Contains(e, "s3cret") || cmd.Env == nil {
		t.Errorf("the helper's environment is %q, want the minimal one", cmd.Env)
	}
	if cmd.Stdin == nil {
		t.Error("no exec spec on stdin")
	}
}

// A plant's chmod (auth.peercred loosens the socket with one) does not
// follow a symlink put in place of the socket. The link leads to a file
// inside the directory handle the chmod goes through (os.Root), where
// os.Root's own Chmod would follow it: only the no-follow walk defends.
func TestPlantChmodDoesNotFollowALink(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("plants run on Linux and macOS")
	}
	for _, c := range []struct {
		name string
		// link is the symlink's target, relative to the endpoint directory.
		link string
		// chmod runs the plant: through the endpoint directory's own root
		// (stage.PlantOp.do, the helper's way) or the run directory's (DoIn).
		chmod func(base, sock string) error
	}{
		{"a file beside it, through its directory's root", "victim", func(_, sock string) error {
			return stage.PlantOp{Op: "chmod", Path: sock, Mode: 0o666}.Do()
		}},
		{"a file in the run directory, through the run directory's root", "../victim", func(base, sock string) error {
			r, err := os.OpenRoot(base)
			if err != nil {
				return err
			}
			defer r.Close()
			return stage.PlantOp{Op: "chmod", Mode: 0o666}.DoIn(r, "endpoint/sock")
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			base := shortDir(t, "plant")
			dir := filepath.Join(base, "endpoint")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			victim := filepath.Join(dir, c.link)
			if err := os.WriteFile(victim, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			sock := filepath.Join(dir, "sock")
			if err := os.Symlink(c.link, sock); err != nil {
				t.Fatal(err)
			}
			err := c.chmod(base, sock)
			fi, serr := os.Stat(victim)
			if serr != nil {
				t.Fatal(serr)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("chmod through the link changed %s to %v (err %v)", victim, fi.Mode().Perm(), err)
			}
			if err == nil {
				t.Errorf("chmod of a symlink at %s succeeded, want it refused (not a socket or a directory)", sock)
			}
		})
	}
}
