// Package python_test runs the regression suite against bh_endpoint.py, the
// reference Python daemon, as an external bh-json target.
package python_test

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/org/bh-ipc-check/internal/testenv"
	"github.com/org/bh-ipc-check/ipc"
	"github.com/org/bh-ipc-check/matrix"
)

// bin is the CLI (the suite's helpers re-execute it as other uids) and a
// copy of the module, in a directory every uid can read.
var bin struct {
	dir, cli, module string
	err              error
}

func TestMain(m *testing.M) {
	// No process a test starts outlives this test binary, however it ends.
	testenv.Reap()
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
	if err := testenv.BuildProgram("../../cmd/bh-ipc-check", bin.cli); err != nil {
		return err
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

// config is one way of running the suite against the module.
type config struct {
	daemonUID int
	umask     string
	// protocol is the daemon's --protocol and the suite's.
	protocol string
	// tcpOnly: no --socket, so the transport-neutral scenarios run over
	// the port file.
	tcpOnly bool
	// abstract: --transport abstract, the socket an abstract name
	// (@{root}/bu-{name}.sock, Linux); no port or lock file.
	abstract bool
	// explicitRoot: the daemon is given --root {root} (the scenario's
	// shared directory); else it chooses its own base (default_root) and
	// the suite is told so (--per-user-base).
	explicitRoot bool
}

var (
	plain         = config{daemonUID: 0, umask: "000", protocol: "bh-json"}
	abstractPlain = config{daemonUID: 0, umask: "000", protocol: "bh-json", abstract: true, explicitRoot: true}
)

// result is the part of a report's result the tests read (the CLI's JSON,
// so the test depends on the report format, not on Go types).
type result struct {
	ID       string   `json:"id"`
	Severity string   `json:"severity"`
	Status   string   `json:"status"`
	Reason   string   `json:"reason"`
	Evidence []string `json:"evidence"`
}

// run runs the suite through the CLI against py module as an external
// target; neither path may hold a space or a quote (checked).
func run(t *testing.T, py, module, patterns string, c config) []result {
	t.Helper()
	rs, _, _ := runSuite(t, py, module, patterns, c)
	return rs
}

// runSuite is run that also gives the CLI's exit code and its standard
// error, and leaves a run without a report to the caller (results nil).
func runSuite(t *testing.T, py, module, patterns string, c config) ([]result, int, string) {
	t.Helper()
	if strings.ContainsAny(py+module, " '\"\\") {
		t.Skipf("python %q or module %q holds a space or quote; run from a plain path", py, module)
	}
	cmdline := py + " " + module + " serve --name {name} --transport {transport} --protocol " + c.protocol
	if c.explicitRoot {
		cmdline += " --root {root}"
	}
	sock := "{root}/bu-{name}.d/sock"
	files := []string{"--port-file", "{root}/bu-{name}.d/port", "--lockfile", "{root}/bu-{name}.d/lock"}
	switch {
	case c.tcpOnly:
		sock = ""
	case c.abstract:
		cmdline = strings.Replace(cmdline, "{transport}", "abstract", 1)
		sock, files = "@{root}/bu-{name}.sock", nil
	}
	args := append([]string{"run", "--target", "external", "--cmd", cmdline, "--socket", sock}, files...)
	args = append(args, "--protocol", c.protocol, "--umask", c.umask, "--daemon-uid", strconv.Itoa(c.daemonUID), "--format", "json")
	if !c.explicitRoot {
		args = append(args, "--per-user-base")
	}
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
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("bh-ipc-check %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	if jerr := json.Unmarshal(out, &rep); jerr != nil || len(rep.Results) == 0 {
		if code == 2 {
			return nil, code, stderr.String() // usage, setup or preflight: no report
		}
		t.Fatalf("bh-ipc-check %s: %v; no report (%v):\n%s\n%s", strings.Join(args, " "), err, jerr, out, stderr.String())
	}
	return rep.Results, code, stderr.String()
}

// applicable is every scenario that runs on this OS for an external target
// run as c: with both transports, with TCP only, or on an abstract name
// (no port or lock file; what judges a socket file does not apply). All of
// them must pass, but for dir.squat-dos on an abstract name, which every
// abstract name fails (another uid binds it first: abstractSquatFails).
func applicable(c config) []string {
	var ids []string
	for _, s := range matrix.Catalogue() {
		if len(s.Platforms) > 0 && !slices.Contains(s.Platforms, runtime.GOOS) || s.BuiltinOnly || c.tcpOnly && s.Transport == "unix" {
			continue
		}
		if c.abstract && (s.Transport == "tcp" || s.Transport == "unix" && s.Abstract == matrix.AbstractDefault || s.ID == "path.pidfile-link" || s.ID == "dir.squat-dos") ||
			!c.abstract && s.Abstract == matrix.AbstractOnly {
			continue
		}
		ids = append(ids, s.ID)
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
// own daemon under umask 000, as an ordinary uid under umask 077 (both
// choosing their base, so dir.squat-dos finds them in the per-user one),
// over TCP only with the ipc handshake instead of a token in every request,
// given its root (dir.squat-dos, unix only, does not apply), and on an
// abstract name, given its root (its peer's uid and mount namespace
// checked), as root and as an ordinary uid (whose helpers the suite makes
// not dumpable: the daemon reads their mountinfo, not their
// /proc/<pid>/ns/mnt), but for dir.squat-dos, which an abstract name
// fails by design (abstractSquatFails).
func TestPythonReferencePassesTheSuite(t *testing.T) {
	py := python(t)
	for _, c := range []struct {
		name string
		config
	}{
		{"daemon uid 0 umask 000", plain},
		{"daemon uid 1000 umask 077", config{daemonUID: 1000, umask: "077", protocol: "bh-json"}},
		{"tcp only, ipc handshake, --root given", config{daemonUID: 0, umask: "000", protocol: "ipc", tcpOnly: true, explicitRoot: true}},
		{"abstract name, daemon uid 0", abstractPlain},
		{"abstract name, daemon uid 1000 umask 077", config{daemonUID: 1000, umask: "077", protocol: "bh-json", abstract: true, explicitRoot: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rs := run(t, py, bin.module, "", c.config)
			want := applicable(c.config)
			for _, r := range rs {
				// A host with no setuid-root program to exec (a minimal
				// container) cannot make auth.pid-handoff's attack, and
				// the skip says so: not the module's doing.
				if r.ID == "auth.pid-handoff" && r.Status == "skip" && strings.Contains(r.Reason, "no setuid-root program") {
					want = slices.DeleteFunc(want, func(id string) bool { return id == r.ID })
				}
			}
			var failed []string
			for _, r := range rs {
				if r.Status != "pass" && slices.Contains(want, r.ID) {
					failed = append(failed, fmt.Sprintf("%s (%s): %s: %s\n    %s", r.ID, r.Severity, r.Status, r.Reason, strings.Join(r.Evidence, "\n    ")))
				}
			}
			if len(failed) > 0 {
				t.Errorf("the Python reference did not pass %d scenario(s):\n  %s", len(failed), strings.Join(failed, "\n  "))
			}
			if got := ids(rs, "pass"); !slices.Equal(got, want) {
				t.Errorf("passed %v\nwant   %v", got, want)
			}
			if c.abstract {
				abstractSquatFails(t, rs)
			}
		})
	}
}

// abstractSquatFails checks dir.squat-dos against the module on an
// abstract name: as root another uid binds the name first, and the
// module, refusing to start ("already running"), has nowhere else to
// serve: a hardening failure, which is what an abstract name gets.
func abstractSquatFails(t *testing.T, rs []result) {
	t.Helper()
	for _, r := range rs {
		if r.ID != "dir.squat-dos" {
			continue
		}
		if os.Geteuid() == 0 && (r.Status != "fail" || !strings.Contains(r.Reason, "any uid in the network namespace can take it first")) ||
			os.Geteuid() != 0 && r.Status != "skip" {
			t.Errorf("dir.squat-dos on an abstract name: %s %q, want a failure as root (the name bound first by another uid), a skip otherwise", r.Status, r.Reason)
		}
	}
}

// Each fix in the module is what makes its scenario pass: with it taken
// out (a textual mutation of a copy), that scenario fails.
// refusedAtPreflight, as a mutant's scenario: the suite must refuse the
// mutant at its preflight start (exit 2) rather than judge it.
const refusedAtPreflight = "(preflight)"

func TestPythonMutantsFail(t *testing.T) {
	py := python(t)
	src, err := os.ReadFile("bh_endpoint.py")
	if err != nil {
		t.Fatal(err)
	}
	type edit struct{ old, new string }
	ipc := config{daemonUID: 0, umask: "000", protocol: "ipc", tcpOnly: true}
	cases := []struct {
		name     string
		edits    []edit
		scenario string
		config
	}{
		{"no peer uid check", []edit{{"if uid != os.geteuid():", "if False:"}}, "auth.peercred", plain},
		{"no lifetime lock", []edit{{"fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)", "pass"}}, "inst.live-not-hijacked", plain},
		{"no owner check", []edit{{"if st.st_uid != os.geteuid():", "if False:"}, {" or fst.st_uid != os.geteuid()", ""}}, "dir.foreign-owner", plain},
		{"loose dir kept", []edit{{"os.fchmod(self._dfd, 0o700)", "pass"}}, "dir.loose-perms", plain},
		{"no stale removal", []edit{{`        self._remove_stale("sock")`, "        pass"}}, "inst.stale-recovered", plain},
		{"socket left at shutdown", []edit{{`self._remove_if_ours("sock", self._sock_id)`, "pass"}}, "inst.clean-shutdown", plain},
		{"no token check", []edit{{"if not isinstance(tok, str) or not hmac.compare_digest(tok.encode(), self.ep.token.encode()):", "if False:"}}, "tcp.auth-required", plain},
		{"port file world-readable", []edit{{"os.fchmod(fd, 0o600)", "os.fchmod(fd, 0o644)"}}, "tcp.portfile-private", plain},
		// A page in the user's browser cannot read the port file, so the
		// token is what stops its POST; the handshake stops it because
		// the daemon closes at the first line that is not the hello (Redis
		// before 3.2.7 read on past the lines it could not parse).
		{"no token check, a browser's POST", []edit{{"if not isinstance(tok, str) or not hmac.compare_digest(tok.encode(), self.ep.token.encode()):", "if False:"}}, "tcp.cross-protocol", plain},
		{"lines before the hello skipped", []edit{{"RecursionError):\n            c.closing = True\n            return", "RecursionError):\n            return"}}, "tcp.cross-protocol", ipc},
		// On an abstract name the peer check is the only defence: without
		// the uid check every uid is served; with the uid alone, the
		// daemon's uid from another mount namespace (containerd-shim).
		{"abstract: no peer uid check", []edit{{"if uid != os.geteuid():", "if False:"}}, "auth.foreign-uid-connect", abstractPlain},
		{"abstract: no mount namespace check", []edit{{`if self.ep.transport == "abstract" and not same_mount_ns(sock):`, "if False:"}}, "auth.abstract-mount-ns", abstractPlain},
		// $XDG_RUNTIME_DIR never looked at: the shared base alone, where
		// the squatted bu-NAME.d is refused.
		{"no per-user base", []edit{{"if d and os.path.isabs(d):", "if False:"}}, "dir.squat-dos", plain},
		// A daemon no client can authenticate never becomes ready: the
		// suite refuses to test it (exit 2) instead of judging it.
		{"server proof with the client's label", []edit{{`handshake_proof(key, "server"`, `handshake_proof(key, "client"`}}, refusedAtPreflight, ipc},
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
			dir := testenv.TempDir(t)
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			mod := filepath.Join(dir, "bh_endpoint.py")
			if err := writeModule(mod, mutant); err != nil {
				t.Fatal(err)
			}
			if c.scenario == refusedAtPreflight {
				rs, code, stderr := runSuite(t, py, mod, "inst.stale-recovered", c.config)
				if code != 2 || rs != nil || !strings.Contains(stderr, "preflight") {
					t.Errorf("%s: exit %d, %d results, want exit 2 at preflight and no verdicts:\n%s", c.name, code, len(rs), stderr)
				}
				return
			}
			rs := run(t, py, mod, c.scenario, c.config)
			if r := rs[0]; r.Status != "fail" {
				t.Errorf("%s with %s: %s (%s), want a failure", c.scenario, c.name, r.Status, r.Reason)
			}
		})
	}
}

// Told the scenario's shared directory as its root (--root {root}), the
// reference daemon has no choice: another uid makes bu-NAME.d there first,
// the daemon refuses it and cannot start, and dir.squat-dos says so
// (hardening): the rule for a daemon told where (docs/scenarios/dir.squat-dos.md).
func TestPythonToldASharedRootIsSquatted(t *testing.T) {
	py := python(t)
	rs := run(t, py, bin.module, "dir.squat-dos", config{daemonUID: 0, umask: "000", protocol: "bh-json", explicitRoot: true})
	if r := rs[0]; r.Status != "fail" || r.Severity != "hardening" || !strings.Contains(r.Reason, "nowhere else to go") {
		t.Errorf("dir.squat-dos with --root {root}: %s %s (%s), want a hardening failure saying the daemon has nowhere else to go", r.Severity, r.Status, r.Reason)
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
	// -B: no __pycache__ left in the tree.
	cmd := exec.Command(py, "-I", "-S", "-B", "-c", "import sys; sys.path.insert(0, sys.argv[1]); import bh_endpoint", ".")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("importing bh_endpoint.py with the standard library only: %v\n%s", err, b)
	}
}

// localPython is python3 from PATH, for tests that run the module as this
// uid, and a fresh short directory for its root (removed afterwards).
func localPython(t *testing.T) (py, root string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the module is POSIX only (Unix sockets, fcntl); run on Linux or macOS")
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 on PATH; install python3 (apt-get install python3) and run: go test ./examples/python")
	}
	root, err = os.MkdirTemp("", "bhpy")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	return py, root
}

// proof is ipc's handshake HMAC (ipc/auth.go), written out again so the
// test checks the module against the protocol, not against itself.
func proof(key []byte, role, name string, port int, first, second []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("bh-ipc/1 " + role + "\x00" + name + "\x00" + strconv.Itoa(port) + "\x00"))
	m.Write(first)
	m.Write(second)
	return m.Sum(nil)
}

// The ipc handshake, step by step: the server proves itself with the port
// file's secret, a client with a wrong proof gets no "ok" and no service,
// and one with the right proof is served. (The suite's tcp.auth-required
// sends token-less lines only, so it cannot see a server that skips the
// client's proof.)
func TestPythonHandshake(t *testing.T) {
	py, root := localPython(t)
	const name = "hs"
	d := exec.Command(py, "bh_endpoint.py", "serve", "--root", root, "--name", name, "--transport", "tcp", "--protocol", "ipc")
	var out bytes.Buffer
	d.Stdout, d.Stderr = &out, &out
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Process.Signal(syscall.SIGTERM); d.Wait() })
	var pf struct {
		Port  int    `json:"port"`
		Token string `json:"token"`
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b, err := os.ReadFile(filepath.Join(root, "bu-"+name+".d", "port"))
		if err == nil && json.Unmarshal(b, &pf) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no port file after 10 s: %v; daemon output: %s", err, out.String())
		}
	}
	key, err := hex.DecodeString(pf.Token)
	if err != nil || len(key) != 32 {
		t.Fatalf("port file token %q: want 32 hex-encoded bytes", pf.Token)
	}
	handshake := func(t *testing.T, clientProof func(ns, nc []byte) []byte) (net.Conn, *bufio.Reader) {
		t.Helper()
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(pf.Port))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(5 * time.Second))
		r := bufio.NewReader(c)
		nc := make([]byte, 32)
		rand.Read(nc)
		fmt.Fprintf(c, `{"hello":"bh-ipc/1","nonce":%q}`+"\n", hex.EncodeToString(nc))
		var ch struct{ Nonce, Proof string }
		line, err := r.ReadBytes('\n')
		if err != nil || json.Unmarshal(line, &ch) != nil {
			t.Fatalf("challenge: %q %v", line, err)
		}
		ns, _ := hex.DecodeString(ch.Nonce)
		if got, _ := hex.DecodeString(ch.Proof); len(ns) != 32 || !hmac.Equal(got, proof(key, "server", name, pf.Port, nc, ns)) {
			t.Fatalf("the server's proof %q does not prove the port file's secret", line)
		}
		fmt.Fprintf(c, `{"proof":%q}`+"\n", hex.EncodeToString(clientProof(ns, nc)))
		return c, r
	}
	t.Run("wrong client proof", func(t *testing.T) {
		c, r := handshake(t, func(ns, nc []byte) []byte { return proof([]byte("not the secret"), "client", name, pf.Port, ns, nc) })
		c.Write([]byte(`{"meta":"ping"}` + "\n"))
		if b, _ := io.ReadAll(r); len(b) > 0 {
			t.Errorf("a client with a wrong proof got %q, want a close and nothing else", b)
		}
	})
	t.Run("right client proof", func(t *testing.T) {
		c, r := handshake(t, func(ns, nc []byte) []byte { return proof(key, "client", name, pf.Port, ns, nc) })
		if line, err := r.ReadBytes('\n'); err != nil || string(line) != `{"ok": true}`+"\n" {
			t.Fatalf("after the right proof: %q %v, want {\"ok\": true}", line, err)
		}
		c.Write([]byte(`{"meta":"ping"}` + "\n"))
		if line, err := r.ReadBytes('\n'); err != nil || !strings.Contains(string(line), `"pong": true`) {
			t.Errorf("ping after the handshake: %q %v", line, err)
		}
	})
}

// Where there is no /proc/self/fd (macOS), the module binds the full path:
// one longer than sun_path is refused before bind with an error naming the
// path, its length and the limit, and nothing is left behind. Simulated on
// Linux by taking the /proc path away.
func TestPythonPathTooLongWithoutProc(t *testing.T) {
	py, base := localPython(t)
	root := filepath.Join(base, strings.Repeat("r", 60), strings.Repeat("s", 60))
	if err := os.MkdirAll(root, 0o700); err != nil {
		t.Fatal(err)
	}
	const prog = `import os, sys
sys.path.insert(0, sys.argv[1])
import bh_endpoint as b
b.Endpoint._in_dir_path = lambda self, name: os.path.join(self.dir, name)  # as without /proc
try:
    b.Endpoint(sys.argv[2], "x").open()
except b.PathTooLong as e:
    print(e)
    sys.exit(3)
`
	cmd := exec.Command(py, "-B", "-c", prog, ".", root)
	out, _ := cmd.CombinedOutput()
	sock := filepath.Join(root, "bu-x.d", "sock")
	if code := cmd.ProcessState.ExitCode(); code != 3 {
		t.Fatalf("opening an endpoint at %s (%d bytes): exit %d, want PathTooLong (3): %s", sock, len(sock), code, out)
	}
	for _, want := range []string{sock, strconv.Itoa(len(sock)) + " bytes", "limit " + strconv.Itoa(ipc.SunPathLimit(runtime.GOOS))} {
		if !strings.Contains(string(out), want) {
			t.Errorf("error %q does not name %q", strings.TrimSpace(string(out)), want)
		}
	}
	if left, _ := os.ReadDir(root); len(left) > 0 {
		t.Errorf("left behind in the root: %v", left)
	}
}
