package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/org/bh-ipc-check/internal/testenv"
	"github.com/org/bh-ipc-check/matrix"
)

func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestHelpForEveryCommand(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"daemon", "--help"}, {"ping", "--help"}, {"list", "--help"},
		{"scenarios", "--help"}, {"run", "--help"}, {"report", "--help"}, {"report", "merge", "--help"},
	} {
		code, out, errb := runCLI(args...)
		if code != 0 || !strings.Contains(out+errb, "Usage") {
			t.Errorf("%v: exit %d, output %q", args, code, out+errb)
		}
		// A default the usage describes is not printed again as a number.
		if strings.Contains(out+errb, "(default -1)") {
			t.Errorf("%v: help shows a default twice: %q", args, out+errb)
		}
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string // in stderr
	}{
		{nil, "Usage"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"run", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"run", "--umask", "999"}, `--umask "999"`},
		{[]string{"run", "--scenarios", "nope.*"}, `"nope.*" matches no scenario`},
		{[]string{"run", "--target", "external"}, "--target external needs --cmd"},
		{[]string{"run", "--target", "docker"}, `--target "docker"`},
		{[]string{"run", "--cmd", "d 'unterminated"}, "unterminated"},
		{[]string{"run", "--format", "xml"}, `--format "xml"`},
		{[]string{"run", "--cmd", "d", "--protocol", "grpc"}, `protocol "grpc"`},
		{[]string{"run", "stray"}, `unexpected argument "stray"`},
		{[]string{"run", "--cmd", "d --root {rooot}"}, "unknown placeholder {rooot}; known: {root}, {name}, {transport}"},
		{[]string{"run", "--cmd", "d", "--socket", "{root}/{nam}.sock"}, "unknown placeholder {nam}; known: {root}, {name}"},
		{[]string{"run", "--cmd", "d", "--socket", "{root}/{transport}.sock"}, "unknown placeholder {transport}"},
		{[]string{"run", "--cmd", "d", "--env", "X={roo}"}, "unknown placeholder {roo}"},
		{[]string{"run", "--socket", "{root}/x.sock"}, "--socket describes an external daemon and needs --cmd"},
		{[]string{"run", "--port-file", "{root}/x.port"}, "--port-file describes an external daemon and needs --cmd"},
		{[]string{"run", "--env", "A=1"}, "--env describes an external daemon and needs --cmd"},
		{[]string{"run", "--ready-timeout", "0s"}, "--ready-timeout 0s"},
		{[]string{"run", "--ready-timeout", "50ms"}, "--ready-timeout 50ms: below the minimum 100ms"},
		{[]string{"run", "--timeout", "1ns"}, "--timeout 1ns: below the minimum 1s"},
		{[]string{"run", "--attacker-groups", "999,docker"}, `want gids from 0 to 2147483646 separated by commas, got "docker"`},
		{[]string{"run", "--attacker-groups", "100,,200"}, `got an empty one in "100,,200"`},
		{[]string{"run", "--attacker-gid", "-3"}, `got "-3"`},
		{[]string{"run", "--attacker-gid", "100,999"}, `--attacker-gid "100,999": want one gid`},
		{[]string{"run", "--timeout", "30ms"}, "--timeout 30ms: below the minimum 1s"},
		{[]string{"run", "--timeout", "90"}, `invalid value "90" for flag -timeout: want a duration with its unit, such as 90s, 2m or 1m30s`},
		{[]string{"run", "--forks", "--probe", "x"}, "--forks, --probe describe an external daemon and need --cmd"},
		{[]string{"run", "--cmd", "d", "--protocol", "line"}, "--protocol line needs --expect"},
		{[]string{"run", "--cmd", "d", "--protocol", "line", "--send", `\q`, "--expect", "x"}, `unknown escape \q`},
		{[]string{"run", "--cmd", "d", "--protocol", "exec"}, "--protocol exec needs --probe"},
		{[]string{"run", "--cmd", "d", "--protocol", "exec", "--probe", "cli {sock}"}, "unknown placeholder {sock}"},
		{[]string{"run", "--cmd", "d", "--send", "x"}, "--send and --expect belong to --protocol line"},
		{[]string{"run", "--cmd", "d", "--dir-created-by", "init"}, `--dir-created-by "init"`},
		{[]string{"run", "--cmd", "d", "--pidfile", "{root}/pid"}, "give --forks too"},
		{[]string{"run", "--cmd", "d", "--protocol", "line", "--expect", "x", "--send", "a", "--send-file", "main.go"}, "--send and --send-file: give one of them"},
		{[]string{"run", "--cmd", "d", "--protocol", "line", "--expect", "x", "--send-file", "no/such/file"}, "--send-file: open no/such/file"},
		{[]string{"run", "--cmd", "d", "--protocol", "line", "--expect", "x", "--send-file", "."}, "--send-file .: not a regular file"},
		{[]string{"run", "--keep", "{root}/data"}, "--keep describes an external daemon and needs --cmd"},
		{[]string{"run", "--per-user-base"}, "--per-user-base describes an external daemon and needs --cmd"},
		{[]string{"run", "--cmd", "d", "--keep", "/var/lib/d"}, `--keep "/var/lib/d": must start with {root}/`},
		{[]string{"run", "--cmd", "d", "--keep", "{root}/{nam}"}, "unknown placeholder {nam}"},
		{[]string{"run", "--cmd", "d", "--keep", "{root}/../etc"}, `--keep "{root}/../etc": must stay under {root} once cleaned, not "etc"`},
		{[]string{"run", "--cmd", "d", "--keep", "{root}/data/../../etc/*"}, `--keep "{root}/data/../../etc/*": must stay under {root}`},
		{[]string{"run", "--cmd", "d", "--keep", "{rooot}/data"}, "--keep \"{rooot}/data\": unknown placeholder {rooot}; known: {root}, {name}"},
		{[]string{"run", "--cmd", "d", "--socket", "{rooot}/s"}, "--socket \"{rooot}/s\": unknown placeholder {rooot}; known: {root}, {name}"},
		{[]string{"run", "--cmd", "d", "--port-file", "{rooot}/p"}, "unknown placeholder {rooot}; known: {root}, {name}"},
		{[]string{"run", "--cmd", "d", "--lockfile", "{rooot}/lock"}, "unknown placeholder {rooot}; known: {root}, {name}"},
		// An abstract name: Linux-only elsewhere, and never with --protocol
		// ipc (matrix.Target.Validate says which).
		{[]string{"run", "--cmd", "d", "--socket", "@x", "--protocol", "ipc"}, `--socket "@x": `},
		// --per-user-base with what leaves the daemon no directory to
		// choose, or has the suite choose it: both flags named, and why.
		{[]string{"run", "--cmd", "d", "--per-user-base", "--socket", "@{root}/s"}, `--per-user-base with --socket "@{root}/s": an abstract name is in no directory`},
		{[]string{"run", "--cmd", "d", "--per-user-base", "--dir-created-by", "suite"}, "--per-user-base with --dir-created-by suite"},
		{[]string{"ping"}, "--name is required"},
		{[]string{"ping", "--name", "a/b"}, "invalid endpoint name"},
		{[]string{"ping", "--name", "x", "--transport", "udp"}, `transport "udp"`},
		{[]string{"daemon"}, "--name is required"},
		{[]string{"scenarios", "--format", "yaml"}, `--format "yaml"`},
		{[]string{"report"}, "usage: bh-ipc-check report merge"},
		{[]string{"report", "merge", "--out", "x"}, "no report files given"},
		{[]string{"report", "merge", "a.json"}, "--out is required"},
	} {
		code, _, errb := runCLI(c.args...)
		if code != 2 || !strings.Contains(errb, c.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 mentioning %q", c.args, code, errb, c.want)
		}
	}
}

// A traversal name is refused before anything is made, inside the root or
// outside it. Both names would make a directory were they not refused
// ("bu-x/../y.d" is "y.d" in the root; "bu-x/../../escape.d" is beside
// the root), so either check below fires for a daemon that takes them. The
// daemon runs as a process: one that took the name would serve until
// killed, and what it made is looked at before that.
func TestDaemonRefusesTraversalNameTouchingNothing(t *testing.T) {
	testenv.NeedGo(t)
	bin := buildCLI(t)
	for _, c := range []struct{ name, made string }{
		{"x/../y", "y.d in the root"},
		{"x/../../escape", "escape.d beside the root"},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := testenv.TempDir(t)
			outside := filepath.Join(filepath.Dir(root), "escape.d")
			cmd := exec.Command(bin, "daemon", "--name", c.name, "--root", root)
			var errb bytes.Buffer
			cmd.Stderr = &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var err error
			ran := false
			select {
			case err = <-done:
			case <-time.After(20 * time.Second): // only a daemon that took the name is still running
				ran = true
			}
			if ents, _ := os.ReadDir(root); len(ents) != 0 {
				t.Errorf("--name %q: made %v in the root (%s)", c.name, ents, c.made)
			}
			if _, serr := os.Lstat(outside); serr == nil {
				t.Errorf("--name %q: made %s outside the root", c.name, outside)
				os.RemoveAll(outside)
			}
			if ran {
				cmd.Process.Kill()
				<-done
				t.Fatalf("--name %q: the daemon ran with it; stderr %q", c.name, errb.String())
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(errb.String(), "invalid endpoint name") {
				t.Errorf("--name %q: %v, stderr %q; want exit 1 naming an invalid endpoint name", c.name, err, errb.String())
			}
		})
	}
}

func TestPingNothingExits1(t *testing.T) {
	code, _, errb := runCLI("ping", "--name", "absent", "--root", testenv.TempDir(t), "--timeout", "1s")
	if code != 1 || !strings.Contains(errb, "absent") {
		t.Errorf("exit %d, %q", code, errb)
	}
}

func TestReportMerge(t *testing.T) {
	out := filepath.Join(testenv.TempDir(t), "m")
	g := "../../report/testdata/golden/"
	code, stdout, errb := runCLI("report", "merge", g+"native.json", g+"container.json", "--out", out)
	// The golden native report has a required failure: exit 1.
	if code != 1 || !strings.Contains(stdout, "2 report(s)") || !strings.Contains(errb, "required scenario(s) failed") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, errb)
	}
	for _, f := range []string{"matrix.json", "matrix.md", "junit.xml"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	code, _, _ = runCLI("report", "merge", g+"container.json", "--out", out)
	if code != 0 {
		t.Errorf("merging a passing report: exit %d", code)
	}
	if code, _, errb := runCLI("report", "merge", "/nonexistent.json", "--out", out); code != 2 || !strings.Contains(errb, "nonexistent") {
		t.Errorf("missing input: exit %d %q", code, errb)
	}
}

func TestScenariosJSON(t *testing.T) {
	code, out, _ := runCLI("scenarios", "--format", "json")
	var cat []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &cat) != nil || len(cat) < 22 {
		t.Fatalf("exit %d, %d scenarios", code, len(cat))
	}
	want := matrix.Catalogue()
	if len(cat) != len(want) {
		t.Fatalf("%d scenarios in the JSON, %d in the catalogue", len(cat), len(want))
	}
	for i, s := range cat {
		// Each field a reader relies on is there, a non-empty string (a
		// missing key is nil, never "").
		for _, k := range []string{"id", "title", "severity", "checks"} {
			if v, ok := s[k].(string); !ok || v == "" {
				t.Errorf("scenario %d: %q is %#v, want a non-empty string: %v", i, k, s[k], s)
			}
		}
		if s["id"] != want[i].ID || s["severity"] != string(want[i].Severity) {
			t.Errorf("scenario %d: id %v severity %v, want %s %s", i, s["id"], s["severity"], want[i].ID, want[i].Severity)
		}
	}
}

// The daemon, the ping and list commands, and SIGTERM, as a user runs them.
func TestDaemonEndToEnd(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGTERM is POSIX; the windows leg covers the tcp daemon")
	}
	bin := buildCLI(t)
	for _, tr := range []string{"unix", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			root, err := os.MkdirTemp("", "cli")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(root)
			d := exec.Command(bin, "daemon", "--name", "e2e", "--root", root, "--transport", tr)
			stderr, _ := d.StderrPipe()
			if err := d.Start(); err != nil {
				t.Fatal(err)
			}
			defer d.Process.Kill()
			sc := bufio.NewScanner(stderr)
			if !sc.Scan() || !strings.Contains(sc.Text(), "listening on") {
				t.Fatalf("daemon said %q", sc.Text())
			}
			go func() {
				for sc.Scan() {
				}
			}()
			out, err := exec.Command(bin, "ping", "--name", "e2e", "--root", root, "--transport", tr).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "pong from pid") {
				t.Errorf("ping: %v %s", err, out)
			}
			out, err = exec.Command(bin, "list", "--root", root, "--live").CombinedOutput()
			if err != nil || !strings.Contains(string(out), "e2e") || !strings.Contains(string(out), tr) {
				t.Errorf("list: %v %s", err, out)
			}
			d.Process.Signal(syscall.SIGTERM)
			done := make(chan error, 1)
			go func() { done <- d.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("daemon exit after SIGTERM: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("daemon still running 5 s after SIGTERM")
			}
			if ents, _ := os.ReadDir(root); len(ents) != 0 {
				t.Errorf("left behind: %v", ents)
			}
		})
	}
}

func TestRunSubsetWritesReports(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the unix scenarios selected here do not run on windows")
	}
	bin := buildCLI(t)
	os.Chmod(filepath.Dir(bin), 0o755)
	dir := testenv.TempDir(t)
	cmd := exec.Command(bin, "run", "--scenarios", "sock.*,inst.clean-shutdown", "--report-dir", dir, "--format", "json", "--leg", "cli-test")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	var rep struct {
		Leg     string
		Results []struct{ ID, Status string }
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil || rep.Leg != "cli-test" || len(rep.Results) != 4 {
		t.Fatalf("stdout JSON: %v %+v", err, rep)
	}
	if !strings.Contains(stderr.String(), "[ 1/4] sock.mode-umask0") {
		t.Errorf("no progress lines on stderr: %s", stderr.String())
	}
	for _, f := range []string{"report.json", "report.md", "junit.xml"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}

func TestReportGitHub(t *testing.T) {
	dir := testenv.TempDir(t)
	outFile, sumFile := filepath.Join(dir, "out"), filepath.Join(dir, "summary")
	t.Setenv("GITHUB_OUTPUT", outFile)
	t.Setenv("GITHUB_STEP_SUMMARY", sumFile)
	g := "../../report/testdata/golden/"
	code, stdout, _ := runCLI("report", "github", g+"native.json")
	if code != 1 {
		t.Errorf("a report with a required failure: exit %d, want 1", code)
	}
	if !strings.Contains(stdout, "::error title=bh-ipc-check inst.live-not-hijacked on native::hijacked") {
		t.Errorf("no ::error annotation: %q", stdout)
	}
	out, _ := os.ReadFile(outFile)
	for _, want := range []string{"passed=2\n", "failed=1\n", "skipped=0\n", "required-failed=1\n", "report-json=" + g + "native.json\n", "report-markdown=" + g + "native.md\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("$GITHUB_OUTPUT lacks %q:\n%s", want, out)
		}
	}
	sum, _ := os.ReadFile(sumFile)
	if !strings.Contains(string(sum), "| `inst.live-not-hijacked` | required | ❌ **fail** [^1] |") {
		t.Errorf("step summary:\n%s", sum)
	}
	if code, _, _ := runCLI("report", "github", g+"container.json"); code != 0 {
		t.Errorf("a passing report: exit %d", code)
	}
}

func TestRunRefusesBadName(t *testing.T) {
	code, _, errb := runCLI("run", "--name", "../x", "--scenarios", "sock.mode-umask0")
	if code != 2 || !strings.Contains(errb, "--name") {
		t.Errorf("exit %d, %q", code, errb)
	}
}

// cli builds the command once into a directory every uid can read (the
// suite re-executes it as other uids, and so do these tests).
var cli struct {
	once sync.Once
	bin  string
	err  error
}

func buildCLI(t *testing.T) string {
	t.Helper()
	cli.once.Do(func() {
		dir, err := os.MkdirTemp("", "bh-cli-")
		if err != nil {
			cli.err = err
			return
		}
		os.Chmod(dir, 0o755)
		cli.bin = filepath.Join(dir, "bh-ipc-check")
		if err := testenv.BuildProgram(".", cli.bin); err != nil {
			cli.err = err
		}
	})
	if cli.err != nil {
		t.Fatal(cli.err)
	}
	return cli.bin
}

// runBin runs the built command as uid (-1: as this process) and returns
// its exit code, stdout and stderr.
func runBin(t *testing.T, uid int, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(buildCLI(t), args...)
	if uid >= 0 {
		cmd.SysProcAttr = asUID(uid)
		cmd.Env = append(os.Environ(), "TMPDIR="+tmpdirFor(t, uid))
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// A target that never comes up: exit 2 from the preflight, with its
// command line and output, before any header; no scenario runs.
func TestRunPreflightFailureExit2(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the failing target is a POSIX shell command")
	}
	code, stdout, stderr := runBin(t, -1, "run", "--cmd", `sh -c "echo starting up; echo fatal: no config >&2; exit 3"`, "--ready-timeout", "2s")
	for _, w := range []string{"preflight: the daemon exited with code 3 after ", `command:    sh -c 'echo starting up; echo fatal: no config >&2; exit 3'`, "exited with code 3", "starting up", "fatal: no config", "waited for: a bh-json ping on the socket"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
	if code != 2 || strings.Contains(stderr, "scenarios against") || strings.Contains(stderr, "[ 1/") || stdout != "" {
		t.Errorf("exit %d, want 2 with no header, no scenario and no report; stdout %q stderr:\n%s", code, stdout, stderr)
	}
}

// A failed preflight still writes the reports asked for: report.json
// (and the others) with no results and the preflight's error, so CI can
// read why; stdout holds the JSON report with --format json. Exit 2.
func TestRunPreflightFailureWritesReports(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the failing target is a POSIX shell command")
	}
	dir := testenv.TempDir(t)
	code, stdout, stderr := runBin(t, -1, "run", "--cmd", `sh -c "echo fatal: no config >&2; exit 3"`, "--ready-timeout", "2s", "--report-dir", dir, "--format", "json")
	if code != 2 || !strings.Contains(stderr, "preflight: the daemon exited with code 3") {
		t.Errorf("exit %d, want 2 with the preflight error; stderr:\n%s", code, stderr)
	}
	var out struct {
		Results    []json.RawMessage `json:"results"`
		SetupError string            `json:"setup_error"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil || len(out.Results) != 0 || !strings.Contains(out.SetupError, "fatal: no config") {
		t.Errorf("stdout: %v, %d results, setup_error %q; want the JSON report with the preflight error\n%s", err, len(out.Results), out.SetupError, stdout)
	}
	for _, f := range []string{"report.json", "report.md", "junit.xml", "report.sarif"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Errorf("%s not written: %v", f, err)
		} else if f != "junit.xml" && f != "report.sarif" && !strings.Contains(string(b), "fatal: no config") {
			t.Errorf("%s lacks the preflight error:\n%s", f, b)
		}
	}
}

// Without privilege the other-uid scenarios reach no verdict: exit 3, the
// summary says INCOMPLETE and gives the command that runs them, keeping
// the target's flags; --allow-incomplete makes it exit 0; a run where
// nothing reached a verdict is exit 2.
func TestRunIncompleteExit3(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the other-uid scenarios are POSIX")
	}
	uid := -1
	if os.Geteuid() == 0 {
		uid = 1000 // as a user without privilege, as on a hosted runner
	}
	bin := buildCLI(t)
	cmdTpl := bin + " daemon --name {name} --root {root} --transport {transport}"
	args := []string{"run", "--cmd", cmdTpl, "--socket", "{root}/bu-{name}.d/sock", "--protocol", "ipc", "--scenarios", "sock.mode-umask0,dir.symlink"}
	code, stdout, stderr := runBin(t, uid, args...)
	daemonUID := uid
	if uid < 0 {
		daemonUID = os.Geteuid()
	}
	// Under sudo the daemon keeps the uid it ran as. The hint names this
	// program by os.Executable: on Linux (/proc/self/exe) with links
	// resolved, so under a TMPDIR reached through a symlink (macOS's
	// /var -> /private/var) it is the resolved path.
	exe := bin
	if runtime.GOOS == "linux" {
		var err error
		if exe, err = filepath.EvalSymlinks(bin); err != nil {
			t.Fatal(err)
		}
	}
	rerun := fmt.Sprintf("sudo %s run --cmd '%s' --socket '{root}/bu-{name}.d/sock' --protocol ipc --daemon-uid %d --scenarios dir.symlink", exe, cmdTpl, daemonUID)
	if code != 3 || !strings.Contains(stdout, "INCOMPLETE (required): 1 passed") || !strings.Contains(stdout, "run them (as root, same target): "+rerun+"\n") {
		t.Errorf("exit %d, want 3 with an INCOMPLETE summary and %q; stdout:\n%s\nstderr:\n%s", code, rerun, stdout, stderr)
	}
	code, stdout, stderr = runBin(t, uid, append(args, "--allow-incomplete", "--format", "json")...)
	if code != 0 || !strings.Contains(stderr, "INCOMPLETE") || !strings.Contains(stderr, fmt.Sprintf("--protocol ipc --allow-incomplete --format json --daemon-uid %d --scenarios dir.symlink\n", daemonUID)) {
		t.Errorf("--allow-incomplete: exit %d, want 0 with the summary still INCOMPLETE:\n%s", code, stderr)
	}
	var rep struct{ Results []struct{ ID, Reason string } }
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || len(rep.Results) != 2 {
		t.Fatalf("report: %v\n%s", err, stdout)
	}
	hint := strings.Replace(rerun, " --daemon-uid", " --allow-incomplete --format json --daemon-uid", 1)
	if r := rep.Results[1]; r.ID != "dir.symlink" || !strings.HasSuffix(r.Reason, "run as root: "+hint) {
		t.Errorf("the skip hint does not keep the target's flags: %q\nwant it to end in %q", r.Reason, hint)
	}
	code, stdout, stderr = runBin(t, uid, "run", "--scenarios", "dir.symlink,auth.*")
	if code != 2 || !strings.Contains(stdout, "NOTHING TESTED") || !strings.Contains(stderr, "nothing was tested: no scenario reached a verdict (see the skip reasons)") {
		t.Errorf("nothing tested: exit %d, want 2; stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// SIGINT stops the daemons, writes the partial report marked interrupted
// and exits 130.
func TestRunInterruptedExit130(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("looks for leftover daemons in /proc; this is %s", runtime.GOOS)
	}
	dir := testenv.TempDir(t)
	name := fmt.Sprintf("sigint%d", os.Getpid())
	cmd := exec.Command(buildCLI(t), "run", "--name", name, "--report-dir", dir, "--format", "json")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stderr)
	var log strings.Builder
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		// The whole catalogue is still ahead: interrupt now.
		if strings.Contains(sc.Text(), "scenarios against builtin") {
			cmd.Process.Signal(os.Interrupt)
			break
		}
	}
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
	}
	err = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 || !strings.Contains(log.String(), "interrupted") {
		t.Fatalf("exit %d (%v), want 130 saying interrupted:\n%s", code, err, log.String())
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatalf("no partial report: %v", err)
	}
	var rep struct {
		Interrupted bool
		Results     []struct{ ID, Status string }
	}
	if err := json.Unmarshal(b, &rep); err != nil || !rep.Interrupted {
		t.Errorf("report.json not marked interrupted: %v\n%s", err, b)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), "--name\x00"+name+"\x00") {
			t.Errorf("a daemon outlived the interrupted run: %s %q", p, b)
		}
	}
}

// --send-file's bytes reach the daemon as they are (socat echoes them, and
// --expect matches the echo, NUL and a byte that is no UTF-8 included);
// the report records them in
// --send's escapes, and --keep's globs.
func TestRunSendFileAndKeep(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("uses socat's Unix listener; this is %s", runtime.GOOS)
	}
	socat, err := exec.LookPath("socat")
	if err != nil {
		t.Skip("needs socat (apt-get install socat)")
	}
	dir := t.TempDir()
	req := filepath.Join(dir, "req.bin")
	if err := os.WriteFile(req, []byte("P\x00\xffI\\NG\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := buildCLI(t)
	os.Chmod(filepath.Dir(bin), 0o755)
	cmd := exec.Command(bin, "run", "--cmd", socat+" UNIX-LISTEN:{root}/echo.sock,fork,mode=600 EXEC:cat", "--socket", "{root}/echo.sock",
		"--dir-created-by", "suite", "--protocol", "line", "--send-file", req, "--expect", `^P\x00.I\\NG\n`,
		"--keep", "{root}/data/*", "--scenarios", "sock.mode-umask0", "--format", "json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("run: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	var rep struct {
		Target struct {
			Send string   `json:"send"`
			Keep []string `json:"keep"`
		} `json:"target"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Target.Send != `P\x00\xffI\\NG\n` || len(rep.Target.Keep) != 1 || rep.Target.Keep[0] != "{root}/data/*" {
		t.Errorf("report target: send %q keep %q", rep.Target.Send, rep.Target.Keep)
	}
}

// Under the action a refused input is the step's annotation, in the
// action's words (its inputs, not the CLI's flags).
func TestUsageErrorUnderActionAnnotates(t *testing.T) {
	t.Setenv(matrix.FromActionEnv, "1")
	var ann strings.Builder
	defer func(w io.Writer) { annotations = w }(annotations)
	annotations = &ann
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--ready-timeout", "50ms"}, "::error title=bh-ipc-check: an input was refused::input ready-timeout 50ms: below the minimum 100ms\n"},
		{[]string{"run", "--timeout", "90"}, `::error title=bh-ipc-check: an input was refused::invalid value "90" for input timeout: want a duration with its unit`},
	} {
		ann.Reset()
		var stdout, stderr strings.Builder
		if code := run(c.args, &stdout, &stderr); code != 2 || !strings.Contains(ann.String(), c.want) {
			t.Errorf("%v: exit %d, annotation %q; want exit 2 and %q", c.args, code, ann.String(), c.want)
		}
	}
}
