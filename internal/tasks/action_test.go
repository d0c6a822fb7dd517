package tasks

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/org/bh-ipc-check/internal/testenv"
	"github.com/org/bh-ipc-check/report"
)

// The action's run step sets its outputs however it ends, so that a later
// step (an upload of the report directory, an if: on the result) can rely
// on them: result and exit-code always; on exit 2 (the action's inputs
// refused, a usage or setup error, a failed preflight) the paths of the
// reports that exist, and the counts when a report was written. Run with
// the CLI built here, and a stand-in for it where the test needs an end
// the CLI reaches only after minutes.
func TestActionOutputsOnEveryExit(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("the action's script is run as on a Linux runner (a daemon command, uname); this is %s: run go test ./internal/tasks on Linux", runtime.GOOS)
	}
	testenv.NeedGo(t)
	action, err := os.ReadFile("../../action.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"result", "exit-code"} {
		if !regexp.MustCompile(`(?m)^  ` + name + `:\n(    .*\n)*?    value: \$\{\{ steps\.run\.outputs\.` + name + `( \|\| steps\.notrun\.outputs\.` + name + `)? \}\}\n`).Match(action) {
			t.Errorf("action.yml does not declare the output %s with value ${{ steps.run.outputs.%s }}", name, name)
		}
	}
	dir := testenv.TempDir(t)
	cli := filepath.Join(dir, "bh-ipc-check")
	if err := testenv.BuildProgram("../../cmd/bh-ipc-check", cli); err != nil {
		t.Fatal(err)
	}
	// The stand-in: "run" writes the report it is given (STAND_IN_REPORT)
	// into --report-dir and exits STAND_IN_EXIT; "report" is the CLI's.
	standIn := filepath.Join(dir, "stand-in")
	script := "#!/bin/sh\nif [ \"$1\" = run ]; then\n\tif [ -n \"$STAND_IN_REPORT\" ]; then mkdir -p \"$3\" && cp \"$STAND_IN_REPORT\" \"$3/report.json\"; fi\n\techo stand-in: exit \"$STAND_IN_EXIT\" >&2\n\texit \"$STAND_IN_EXIT\"\nfi\nexec " + cli + " \"$@\"\n"
	if err := os.WriteFile(standIn, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	writeReport := func(name string, rs ...report.Result) string {
		t.Helper()
		b, err := json.Marshal(report.Report{Schema: report.ReportSchema, Leg: "native", OS: "linux", Arch: "amd64", Results: rs, Summary: report.Summarize(rs)})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	failed := writeReport("failed.json",
		report.Result{ID: "sock.mode-umask0", Severity: report.Required, Status: report.Pass},
		report.Result{ID: "dir.symlink", Severity: report.Required, Status: report.Fail, Reason: "followed"})
	incomplete := writeReport("incomplete.json",
		report.Result{ID: "sock.mode-umask0", Severity: report.Required, Status: report.Pass},
		report.Result{ID: "dir.symlink", Severity: report.Required, Status: report.Error, Reason: "timed out", Incomplete: true})

	for _, c := range []struct {
		name string
		bin  string
		env  []string
		exit int
		want map[string]string // outputs; "EXISTS" is a path that must exist
		// absent outputs: not set (no report gave them)
		absent []string
	}{
		{"usage error, no report", standIn, []string{"STAND_IN_EXIT=2"}, 2,
			map[string]string{"result": "error", "exit-code": "2", "report-json": "", "report-markdown": "", "report-sarif": ""},
			[]string{"passed", "failed", "skipped", "required-failed"}},
		{"usage error, an earlier run's report in report-dir", standIn, []string{"STAND_IN_EXIT=2", "STALE=1"}, 2,
			map[string]string{"result": "error", "exit-code": "2", "report-json": "", "report-markdown": "", "report-sarif": ""},
			[]string{"passed"}},
		{"input refused by the action", standIn, []string{"STAND_IN_EXIT=0", "BH_FORKS=yes"}, 2,
			map[string]string{"result": "error", "exit-code": "2", "report-json": ""}, []string{"passed"}},
		{"failed preflight", cli, []string{"BH_TARGET=false", "BH_SOCKET={root}/s"}, 2,
			map[string]string{"result": "error", "exit-code": "2", "report-json": "EXISTS", "report-markdown": "EXISTS", "report-sarif": "EXISTS",
				"passed": "0", "failed": "0", "skipped": "0", "required-failed": "0"}, nil},
		{"required failure", standIn, []string{"STAND_IN_EXIT=1", "STAND_IN_REPORT=" + failed}, 1,
			map[string]string{"result": "fail", "exit-code": "1", "report-json": "EXISTS", "passed": "1", "failed": "1", "required-failed": "1"}, nil},
		{"incomplete, allowed", standIn, []string{"STAND_IN_EXIT=0", "STAND_IN_REPORT=" + incomplete, "BH_ALLOW_INCOMPLETE=true"}, 0,
			map[string]string{"result": "incomplete", "exit-code": "0", "report-json": "EXISTS", "passed": "1"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			run := filepath.Join(testenv.TempDir(t), "w")
			if err := os.Mkdir(run, 0o755); err != nil {
				t.Fatal(err)
			}
			outFile, summary := filepath.Join(run, "out"), filepath.Join(run, "summary")
			if slices.Contains(c.env, "STALE=1") {
				if err := os.Mkdir(filepath.Join(run, "r"), 0o755); err != nil {
					t.Fatal(err)
				}
				for _, f := range []string{"report.json", "report.md", "report.sarif"} {
					if err := os.WriteFile(filepath.Join(run, "r", f), []byte("{}"), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			cmd := exec.Command("bash", filepath.Join(wd(t), "../../scripts/action.sh"), "run")
			cmd.Dir = run
			cmd.Env = append(append(os.Environ(), "BH_BIN="+c.bin, "BH_TARGET=builtin", "BH_SOCKET={root}/bu-{name}.d/sock", "BH_PORT_FILE=", "BH_PROTOCOL=",
				"BH_NAME=bhcheck", "BH_SCENARIOS=", "BH_CONTAINERS=false", "BH_IMAGE=", "BH_PRIVILEGED=false", "BH_REPORT_DIR=r",
				"GITHUB_OUTPUT="+outFile, "GITHUB_STEP_SUMMARY="+summary), c.env...)
			log, err := cmd.CombinedOutput()
			code := 0
			if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != c.exit {
				t.Errorf("the step exited %d, want %d", code, c.exit)
			}
			b, _ := os.ReadFile(outFile)
			outs := map[string]string{}
			for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				if k, v, ok := strings.Cut(l, "="); ok {
					outs[k] = v // the last value set is the output's
				}
			}
			for k, want := range c.want {
				got, ok := outs[k]
				switch {
				case !ok:
					t.Errorf("output %s not set", k)
				case want == "EXISTS":
					if _, err := os.Stat(filepath.Join(run, got)); got == "" || err != nil {
						t.Errorf("output %s = %q, want the path of a report that exists", k, got)
					}
				case got != want:
					t.Errorf("output %s = %q, want %q", k, got, want)
				}
			}
			for _, k := range c.absent {
				if v, ok := outs[k]; ok {
					t.Errorf("output %s = %q, want it unset (no report counted anything)", k, v)
				}
			}
			if c.name == "failed preflight" {
				if s, _ := os.ReadFile(summary); !strings.Contains(string(s), "no scenario ran") {
					t.Errorf("the step summary lacks the failed preflight's report:\n%s", s)
				}
			}
			if t.Failed() {
				t.Logf("outputs:\n%s\nlog:\n%s", b, log)
			}
		})
	}
}

// wd is the test's working directory (the package's).
func wd(t *testing.T) string {
	t.Helper()
	d, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return d
}
