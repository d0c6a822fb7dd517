package tasks

import (
	"errors"
	"fmt"
	"io"
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

// workflowPages are the pages whose whole workflows (YAML blocks that
// start with "name:") a user pastes: the README's one example and the
// action's manual, relative to the module root.
var workflowPages = []string{"README.md", "docs/action.md"}

// workflow is a whole workflow example of one of workflowPages.
type workflow struct {
	page string // one of workflowPages
	n    int    // its place among the page's workflows, from 1
	text string
}

func (w workflow) String() string { return fmt.Sprintf("%s example %d", w.page, w.n) }

// docWorkflows returns the whole workflows of workflowPages, in order; a
// page with none is an error.
func docWorkflows(t *testing.T) []workflow {
	t.Helper()
	var out []workflow
	for _, page := range workflowPages {
		b, err := os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(page)))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(testenv.LF(b), -1) {
			if strings.HasPrefix(m[1], "name:") {
				n++
				out = append(out, workflow{page, n, m[1]})
			}
		}
		if n == 0 {
			t.Errorf("%s has no workflow example", page)
		}
	}
	return out
}

// The examples docs/action.md must hold, each told by a line only it has.
var wantWorkflows = []struct{ what, line string }{
	{"code-scanning", "uses: github/codeql-action/upload-sarif@"},
	{"unix-only", `run: echo "passed $PASSED, failed $FAILED ($REQUIRED_FAILED required)"`},
	{"container", `containers: "true"`},
}

// The workflows of the README and docs/action.md work when pasted:
// actionlint finds nothing, no placeholder is left, every third-party
// action is pinned by a full commit SHA with its tag, and what they read
// from the action is declared in action.yml.
func TestREADMEWorkflows(t *testing.T) {
	testenv.NeedGo(t)
	flows := docWorkflows(t)
	for _, w := range wantWorkflows {
		if !slices.ContainsFunc(flows, func(f workflow) bool {
			return f.page == "docs/action.md" && strings.Contains(f.text, w.line)
		}) {
			t.Errorf("docs/action.md has no %s workflow (one with the line %q)", w.what, w.line)
		}
	}
	action, err := os.ReadFile("../../action.yml")
	if err != nil {
		t.Fatal(err)
	}
	wf := filepath.Join(testenv.TempDir(t), ".github", "workflows")
	if err := os.MkdirAll(wf, 0o755); err != nil {
		t.Fatal(err)
	}
	uses := regexp.MustCompile(`uses: (\S+)@(\S+)(.*)`)
	outputs := regexp.MustCompile(`steps\.ipc\.outputs\.([a-z-]+)`)
	inputs := regexp.MustCompile(`(?m)^          ([a-z-]+): `)
	for _, w := range flows {
		f := w.text
		if strings.Contains(f, "<") {
			t.Errorf("%s holds a placeholder:\n%s", w, f)
		}
		for _, u := range uses.FindAllStringSubmatch(f, -1) {
			if u[1] == "org/bh-ipc-check" {
				continue
			}
			if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(u[2]) || !strings.Contains(u[3], "# v") {
				t.Errorf("%s: %s@%s is not pinned by commit with a # vX.Y.Z comment", w, u[1], u[2])
			}
		}
		for _, o := range outputs.FindAllStringSubmatch(f, -1) {
			if !strings.Contains(string(action), "\n  "+o[1]+":\n") {
				t.Errorf("%s reads output %s, which action.yml does not declare", w, o[1])
			}
		}
		// The action's own inputs (the with: block under uses: org/bh-ipc-check).
		if _, with, ok := strings.Cut(f, "uses: org/bh-ipc-check@v1\n        with:\n"); ok {
			for _, in := range inputs.FindAllStringSubmatch(strings.SplitN(with, "\n      - ", 2)[0], -1) {
				if !strings.Contains(string(action), "\n  "+in[1]+":\n") {
					t.Errorf("%s sets input %s, which action.yml does not declare", w, in[1])
				}
			}
		}
		name := strings.NewReplacer("/", "-", ".md", "").Replace(w.page) + fmt.Sprintf("-%d.yml", w.n)
		if err := os.WriteFile(filepath.Join(wf, name), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(wf, "*.yml"))
	cmd := command(testContext(t), "go", append([]string{"run", "github.com/rhysd/actionlint/cmd/actionlint@" + ActionlintVersion, "-color=false"}, files...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("actionlint on the workflows of %v: %v\n%s", workflowPages, err, out)
	}
}

// Every output the action's run step writes (report github) is declared in
// action.yml with the step's value: act passes a composite action's inner
// step outputs through even when they are not declared (seen with act
// v0.2.89), so the act self-test cannot catch a missing declaration.
func TestActionDeclaresEveryOutput(t *testing.T) {
	action, err := os.ReadFile("../../action.yml")
	if err != nil {
		t.Fatal(err)
	}
	_, outs, ok := strings.Cut(string(action), "\noutputs:\n")
	if !ok {
		t.Fatal("action.yml has no outputs")
	}
	outs, _, _ = strings.Cut(outs, "\nruns:\n")
	for name := range report.GitHubOutputs(report.Matrix{}, "", "", "") {
		decl := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(name) + `:\n(    .*\n)*?    value: \$\{\{ steps\.run\.outputs\.` + regexp.QuoteMeta(name) + `( \|\| steps\.notrun\.outputs\.` + regexp.QuoteMeta(name) + `)? \}\}\n`)
		if !decl.MatchString(outs + "\n") {
			t.Errorf("action.yml does not declare the output %s with value ${{ steps.run.outputs.%s }}", name, name)
		}
	}
}

// scripts/action.sh turns the inputs into the CLI's flags: run with a
// stand-in binary that records its arguments.
func TestActionScriptPassesInputs(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("the container inputs it passes are refused off Linux (uname); this is %s: run go test ./internal/tasks on Linux", runtime.GOOS)
	}
	dir := testenv.TempDir(t)
	argsFile := filepath.Join(dir, "args")
	bin := filepath.Join(dir, "bh-ipc-check")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nprintf '%s\\n' \"$*\" >>\""+argsFile+"\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	base := []string{"BH_BIN=" + bin, "BH_TARGET=python3 d.py --root {root}", "BH_SOCKET={root}/s", "BH_PORT_FILE=", "BH_PROTOCOL=",
		"BH_NAME=x", "BH_SCENARIOS=", "BH_CONTAINERS=true", "BH_IMAGE=img", "BH_REPORT_DIR=" + filepath.Join(dir, "r"), "GITHUB_OUTPUT=" + filepath.Join(dir, "out")}
	run := func(env ...string) (string, error) {
		os.Remove(argsFile)
		cmd := exec.Command("bash", "../../scripts/action.sh", "run")
		cmd.Env = append(append(os.Environ(), base...), env...)
		out, err := cmd.CombinedOutput()
		b, _ := os.ReadFile(argsFile)
		return string(b) + string(out), err
	}
	got, err := run("BH_NATIVE=false", "BH_SARIF_LOCATION=src/d.py:3", "BH_ACTION_SERVER=https://github.com", "BH_ACTION_REPOSITORY=org/bh-ipc-check", "BH_ACTION_REF=v1")
	if err != nil {
		t.Fatalf("%v\n%s", err, got)
	}
	for _, want := range []string{"--containers", "--native=false", "--sarif-location src/d.py:3", "--docs-url https://github.com/org/bh-ipc-check/blob/v1/", "--sarif " + filepath.Join(dir, "r", "report.sarif")} {
		if !strings.Contains(got, want) {
			t.Errorf("action.sh passed no %q:\n%s", want, got)
		}
	}
	if !regexp.MustCompile(`(?m)^report github .* --docs-url https://github.com/org/bh-ipc-check/blob/v1/$`).MatchString(got) {
		t.Errorf("report github got no --docs-url:\n%s", got)
	}
	// A local "uses: ./" has no action repository: no docs URL.
	if got, err := run("BH_NATIVE=true"); err != nil || strings.Contains(got, "--native") || strings.Contains(got, "--docs-url") {
		t.Errorf("defaults: %v\n%s", err, got)
	}
	if got, err := run("BH_NATIVE=no"); err == nil || !strings.Contains(got, "native must be 'true' or 'false', not 'no'") {
		t.Errorf("native 'no': %v\n%s", err, got)
	}
	// The target's inputs: each a flag of its own; the multi-line ones a
	// flag a line; no shell reads any of them.
	got, err = run("BH_PROTOCOL=line", "BH_SEND=PING\\r\\n", "BH_EXPECT=^\\+PONG $HOME", "BH_FORKS=true", "BH_PIDFILE={root}/d.pid",
		"BH_DIR_CREATED_BY=suite", "BH_ENV=A=1\n\n  B=two words  \r\n", "BH_ENV_CLEAR=true", "BH_KEEP={root}/data/*\n{root}/k",
		"BH_UMASK=022", "BH_DAEMON_UID=1000", "BH_ATTACKER_UID=1002", "BH_TIMEOUT=2m", "BH_READY_TIMEOUT=20s",
		"BH_FLAGS=# a comment\n--leg-timeout 10m\n--leg=x y\n\n--allow-incomplete\n--docs-url=$(id)")
	if err != nil {
		t.Fatalf("%v\n%s", err, got)
	}
	line, _, _ := strings.Cut(got, "\n")
	want := "run --report-dir " + filepath.Join(dir, "r") + " --name x --cmd python3 d.py --root {root} --socket {root}/s --protocol line --send PING\\r\\n --expect ^\\+PONG $HOME --forks --pidfile {root}/d.pid --dir-created-by suite --env=A=1 --env=B=two words --env-clear --keep={root}/data/* --keep={root}/k --umask 022 --daemon-uid 1000 --attacker-uid 1002 --timeout 2m --ready-timeout 20s --leg-timeout=10m --leg=x y --allow-incomplete --docs-url=$(id) --containers --image img"
	if line != want {
		t.Errorf("action.sh ran\n%s\nwant\n%s", line, want)
	}
	// "--flag value" becomes --flag=value; a line is one argument, its
	// spaces and quotes kept (a stand-in printing an argument a line).
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nfor a in \"$@\"; do printf 'ARG<%s>\\n' \"$a\" >>\""+argsFile+"\"; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err = run("BH_FLAGS=--leg=x y\n--leg-timeout 10m\n--env='A=1' \"B\"", "BH_CONTAINERS=false")
	for _, want := range []string{"ARG<--leg=x y>\n", "ARG<--leg-timeout=10m>\n", "ARG<--env='A=1' \"B\">\n"} {
		if err != nil || !strings.Contains(got, want) {
			t.Errorf("flags: %v, want %q in\n%s", err, want, got)
		}
	}
	// A Linux abstract socket name ('@' first) reaches the CLI as it is.
	got, err = run("BH_SOCKET=@{root}/bu-{name}.sock", "BH_CONTAINERS=false")
	if want := "ARG<--socket>\nARG<@{root}/bu-{name}.sock>\n"; err != nil || !strings.Contains(got, want) {
		t.Errorf("socket '@{root}/bu-{name}.sock': %v, want %q in\n%s", err, want, got)
	}
	if got, err := run("BH_FLAGS=leg x"); err == nil || !strings.Contains(got, "flags line 1: 'leg x' is not a flag") {
		t.Errorf("flags 'leg x': %v\n%s", err, got)
	}
	if got, err := run("BH_FORKS=yes"); err == nil || !strings.Contains(got, "forks must be 'true' or 'false', not 'yes'") {
		t.Errorf("forks 'yes': %v\n%s", err, got)
	}
}

// The action examples of docs/action.md for a line daemon (socat) and a
// daemon that forks (ssh-agent) run under act, through the action's inputs
// only, and reach the verdicts the page states: each job fails on its
// required findings, exactly these.
func TestREADMEActionExamplesWithAct(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("act's host mode runs the ubuntu-latest jobs on Linux; this is %s", runtime.GOOS)
	}
	if testing.Short() {
		t.Skip("installs and runs act; run without -short")
	}
	if os.Getuid() != 0 {
		t.Skip("the examples' other-uid scenarios need root (act runs the jobs as this user): run as root")
	}
	// act runs each job in a workspace of its own (a copy of the checkout
	// under its cache directory, one per run: runAct), so the examples run
	// beside each other and the self-test.
	t.Parallel()
	want := map[string][]string{
		"socat example":     {"auth.bound-address", "auth.peercred", "auth.pid-handoff", "dir.foreign-owner", "dir.loose-perms", "dir.symlink", "inst.clean-shutdown", "inst.stale-recovered"},
		"ssh-agent example": {"dir.foreign-owner", "dir.loose-perms", "dir.symlink", "inst.clean-shutdown", "inst.stale-recovered"},
	}
	flows := map[string]string{}
	for _, f := range docWorkflows(t) {
		for name := range want {
			if strings.Contains(f.text, name+", failed=") {
				flows[name] = f.text
			}
		}
	}
	for name, ids := range want {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f, ok := flows[name]
			if !ok {
				t.Fatalf("no workflow of %v prints %q", workflowPages, name)
			}
			bin := strings.Fields(strings.SplitN(strings.SplitN(f, "target: ", 2)[1], "\n", 2)[0])[0]
			if _, err := exec.LookPath(bin); err != nil {
				t.Skipf("needs %s on this host (apt-get install socat openssh-client)", bin)
			}
			log, err := ActWorkflows(testContext(t), io.Discard, []string{f})
			if errors.Is(err, ErrNoAct) {
				t.Skipf("act cannot be installed here: %v", err)
			}
			if err == nil {
				t.Errorf("the job passed; want it failed on its required findings")
			}
			m := regexp.MustCompile(name + `, failed=(\d+) required-failed=(\d+)`).FindStringSubmatch(log)
			if m == nil {
				t.Fatalf("the example printed no outputs:\n%s", tail(log, 60))
			}
			var failed []string
			for _, r := range regexp.MustCompile("\\| `([a-z0-9.-]+)` \\| (?:required|hardening) \\| ❌").FindAllStringSubmatch(log, -1) {
				failed = append(failed, r[1])
			}
			slices.Sort(failed)
			failed = slices.Compact(failed)
			if !slices.Equal(failed, ids) {
				var rows []string
				for _, l := range strings.Split(log, "\n") {
					if strings.Contains(l, "❌") || strings.Contains(l, "⚠️") || strings.Contains(l, "[^") {
						rows = append(rows, l)
					}
				}
				t.Errorf("failed scenarios %q, want %q (outputs failed=%s required-failed=%s):\n%s", failed, ids, m[1], m[2], strings.Join(rows, "\n"))
			}
			if strings.Contains(log, "stand-in must never run") {
				t.Error("the setup-go stand-in ran")
			}
		})
	}
}
