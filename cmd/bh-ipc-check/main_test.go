package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
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

func TestDaemonRefusesTraversalNameTouchingNothing(t *testing.T) {
	root := t.TempDir()
	code, _, errb := runCLI("daemon", "--name", "../escape", "--root", root)
	if code != 1 || !strings.Contains(errb, "invalid endpoint name") {
		t.Errorf("exit %d, %q", code, errb)
	}
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Errorf("created %v", ents)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(root), "escape")); err == nil {
		t.Error("created outside the root")
	}
}

func TestPingNothingExits1(t *testing.T) {
	code, _, errb := runCLI("ping", "--name", "absent", "--root", t.TempDir(), "--timeout", "1s")
	if code != 1 || !strings.Contains(errb, "absent") {
		t.Errorf("exit %d, %q", code, errb)
	}
}

func TestReportMerge(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m")
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
	for _, s := range cat {
		if s["id"] == "" || s["severity"] == "" || s["checks"] == "" {
			t.Errorf("incomplete scenario %v", s)
		}
	}
}

// The daemon, the ping and list commands, and SIGTERM, as a user runs them.
func TestDaemonEndToEnd(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGTERM is POSIX; the windows leg covers the tcp daemon")
	}
	bin := filepath.Join(t.TempDir(), "bh-ipc-check")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
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
	bin := filepath.Join(t.TempDir(), "bh-ipc-check")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	os.Chmod(filepath.Dir(bin), 0o755)
	dir := t.TempDir()
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
	dir := t.TempDir()
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
