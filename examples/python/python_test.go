// Package python_test runs the regression suite against bh_endpoint.py, the
// reference Python daemon, as an external bh-json target.
package python_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/org/bh-ipc-check/matrix"
)

// bin is the CLI (the suite's helpers re-execute it as other uids) and a
// copy of the module, in a directory every uid can read.
var bin struct {
	dir, cli, module string
	err              error
}

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "bh-python-bin-")
		if err != nil {
			bin.err = err
			return m.Run()
		}
		defer os.RemoveAll(dir)
		bin.dir = dir
		bin.err = setup(dir)
		return m.Run()
	}()
	os.Exit(code)
}

func setup(dir string) error {
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	bin.cli = filepath.Join(dir, "bh-ipc-check")
	cmd := exec.Command("go", "build", "-o", bin.cli, "../../cmd/bh-ipc-check")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build the CLI: %v\n%s", err, b)
	}
	src, err := os.ReadFile("bh_endpoint.py")
	if err != nil {
		return err
	}
	bin.module = filepath.Join(dir, "bh_endpoint.py")
	return writeModule(bin.module, string(src))
}

func writeModule(path, src string) error {
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		return err
	}
	return os.Chmod(path, 0o644) // readable by the daemon uid whatever our umask
}

// python finds a python3 that every uid can run (the daemon may run as
// another uid): one on PATH whose resolved file and every directory above
// it are world-searchable.
func python(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skipf("the suite's other-uid and /proc checks are Linux-only; this is %s (run on Linux as root: sudo go test ./examples/python)", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		t.Skip("runs the whole suite, other uids included, so needs root; run: sudo go test ./examples/python (CI runs as root)")
	}
	if bin.err != nil {
		t.Fatalf("setting up: %v", bin.err)
	}
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		p, err := filepath.EvalSymlinks(filepath.Join(d, "python3"))
		if err == nil && everyoneCanRun(p) {
			return p
		}
	}
	t.Skip("no python3 on PATH that other uids can run; install python3 (apt-get install python3) and run: sudo go test ./examples/python")
	return ""
}

func everyoneCanRun(p string) bool {
	st, err := os.Stat(p)
	if err != nil || st.Mode()&0o001 == 0 || !st.Mode().IsRegular() {
		return false
	}
	for d := filepath.Dir(p); ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil || st.Mode()&0o001 == 0 {
			return false
		}
		if d == "/" {
			return true
		}
	}
}

// command is the daemon's command line for the CLI's --cmd; neither path
// holds a space or a quote (checked).
func command(t *testing.T, py, module string) string {
	t.Helper()
	if strings.ContainsAny(py+module, " '\"\\") {
		t.Skipf("python %q or module %q holds a space or quote; run from a plain path", py, module)
	}
	return py + " " + module + " serve --root {root} --name {name} --transport {transport}"
}

// result is the part of a report's result the tests read (the CLI's JSON,
// so the test depends on the report format, not on Go types).
type result struct {
	ID       string   `json:"id"`
	Severity string   `json:"severity"`
	Status   string   `json:"status"`
	Reason   string   `json:"reason"`
	Evidence []string `json:"evidence"`
}

// run runs the suite through the CLI, as an external bh-json target.
func run(t *testing.T, cmdline, patterns string, daemonUID int, umask string) []result {
	t.Helper()
	args := []string{"run", "--target", "external", "--cmd", cmdline,
		"--socket", "{root}/bu-{name}.d/sock", "--port-file", "{root}/bu-{name}.d/port",
		"--protocol", "bh-json", "--umask", umask, "--daemon-uid", strconv.Itoa(daemonUID), "--format", "json"}
	if patterns != "" {
		args = append(args, "--scenarios", patterns)
	}
	cmd := exec.Command(bin.cli, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var rep struct {
		Results []result `json:"results"`
	}
	if jerr := json.Unmarshal(out, &rep); jerr != nil || len(rep.Results) == 0 {
		t.Fatalf("bh-ipc-check %s: %v; no report (%v):\n%s\n%s", strings.Join(args, " "), err, jerr, out, stderr.String())
	}
	return rep.Results
}

// applicable is every scenario that runs on this OS for an external target
// with both transports: all of them must pass.
func applicable() []string {
	var ids []string
	for _, s := range matrix.Catalogue() {
		if (len(s.Platforms) == 0 || slices.Contains(s.Platforms, runtime.GOOS)) && !s.BuiltinOnly {
			ids = append(ids, s.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

func ids(rs []result, status string) []string {
	var out []string
	for _, r := range rs {
		if r.Status == status {
			out = append(out, r.ID)
		}
	}
	sort.Strings(out)
	return out
}

// The reference daemon passes every scenario that applies to it: as root's
// own daemon under umask 000, and as an ordinary uid under umask 077.
func TestPythonReferencePassesTheSuite(t *testing.T) {
	py := python(t)
	for _, c := range []struct {
		name      string
		daemonUID int
		umask     string
	}{
		{"daemon uid 0 umask 000", 0, "000"},
		{"daemon uid 1000 umask 077", 1000, "077"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rs := run(t, command(t, py, bin.module), "", c.daemonUID, c.umask)
			var failed []string
			for _, r := range rs {
				if r.Status != "pass" && slices.Contains(applicable(), r.ID) {
					failed = append(failed, fmt.Sprintf("%s (%s): %s: %s\n    %s", r.ID, r.Severity, r.Status, r.Reason, strings.Join(r.Evidence, "\n    ")))
				}
			}
			if len(failed) > 0 {
				t.Errorf("the Python reference did not pass %d scenario(s):\n  %s", len(failed), strings.Join(failed, "\n  "))
			}
			if got, want := ids(rs, "pass"), applicable(); !slices.Equal(got, want) {
				t.Errorf("passed %v\nwant   %v", got, want)
			}
		})
	}
}

// Each fix in the module is what makes its scenario pass: with it taken
// out (a textual mutation of a copy), that scenario fails.
func TestPythonMutantsFail(t *testing.T) {
	py := python(t)
	src, err := os.ReadFile("bh_endpoint.py")
	if err != nil {
		t.Fatal(err)
	}
	type edit struct{ old, new string }
	cases := []struct {
		name     string
		edits    []edit
		scenario string
	}{
		{"no peer uid check", []edit{{"if uid != os.geteuid():", "if False:"}}, "auth.peercred"},
		{"no lifetime lock", []edit{{"fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)", "pass"}}, "inst.live-not-hijacked"},
		{"no owner check", []edit{{"if st.st_uid != os.geteuid():", "if False:"}, {" or fst.st_uid != os.geteuid()", ""}}, "dir.foreign-owner"},
		{"loose dir kept", []edit{{"os.fchmod(self._dfd, 0o700)", "pass"}}, "dir.loose-perms"},
		{"no stale removal", []edit{{`        self._remove_stale("sock")`, "        pass"}}, "inst.stale-recovered"},
		{"socket left at shutdown", []edit{{`self._remove_if_ours("sock", self._sock_id)`, "pass"}}, "inst.clean-shutdown"},
		{"no token check", []edit{{"if not isinstance(tok, str) or not hmac.compare_digest(tok.encode(), self.ep.token.encode()):", "if False:"}}, "tcp.auth-required"},
		{"port file world-readable", []edit{{"os.fchmod(fd, 0o600)", "os.fchmod(fd, 0o644)"}}, "tcp.portfile-private"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mutant := string(src)
			for _, e := range c.edits {
				if n := strings.Count(mutant, e.old); n != 1 {
					t.Fatalf("bh_endpoint.py holds %q %d times, want once: update the mutation", e.old, n)
				}
				mutant = strings.Replace(mutant, e.old, e.new, 1)
			}
			dir := t.TempDir()
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			mod := filepath.Join(dir, "bh_endpoint.py")
			if err := writeModule(mod, mutant); err != nil {
				t.Fatal(err)
			}
			rs := run(t, command(t, py, mod), c.scenario, 0, "000")
			if r := rs[0]; r.Status != "fail" {
				t.Errorf("%s with %s: %s (%s), want a failure", c.scenario, c.name, r.Status, r.Reason)
			}
		})
	}
}

// The module is the one file a project copies: standard library only.
func TestPythonModuleIsStandardLibraryOnly(t *testing.T) {
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".py") && p != "bh_endpoint.py" {
			return fmt.Errorf("%s: the example is one module, bh_endpoint.py", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 on PATH; install python3 to check the module's imports")
	}
	// Import it with no site-packages (-S), no user site, no environment
	// and no current directory (-I): only the standard library is left.
	cmd := exec.Command(py, "-I", "-S", "-c", "import sys; sys.path.insert(0, sys.argv[1]); import bh_endpoint", ".")
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("importing bh_endpoint.py with the standard library only: %v\n%s", err, b)
	}
}
