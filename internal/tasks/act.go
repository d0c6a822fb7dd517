package tasks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// ActVersion is the pinned nektos/act (shared/PINS.md).
const ActVersion = "v0.2.89"

// ErrNoAct means act could not be installed here; callers skip with it.
var ErrNoAct = errors.New("act is not available")

// toolsDir is where pinned tools are installed (outside the clone).
func toolsDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "bh-ipc-check", "tools"), nil
}

// toolBuildEnv and toolBuildFlags build the pinned tools static and
// -trimpath, as Build builds the CLI (and the tests their programs:
// testenv.BuildProgram): one configuration, so the standard library is
// compiled once for all of them.
var (
	toolBuildEnv   = []string{"CGO_ENABLED=0"}
	toolBuildFlags = []string{"-trimpath"}
)

// actInstall serializes EnsureAct: two tests that need act at once
// install it once.
var actInstall sync.Mutex

// EnsureAct returns the path of act ActVersion, installing it with go
// install into the tools cache when missing. An install failure wraps
// ErrNoAct.
func EnsureAct(ctx context.Context, w io.Writer) (string, error) {
	actInstall.Lock()
	defer actInstall.Unlock()
	dir, err := toolsDir()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoAct, err)
	}
	bin := filepath.Join(dir, "act")
	if out, err := command(ctx, bin, "--version").Output(); err == nil && strings.Contains(string(out), strings.TrimPrefix(ActVersion, "v")) {
		return bin, nil
	}
	fmt.Fprintf(w, "act: installing github.com/nektos/act@%s into %s\n", ActVersion, dir)
	var out bytes.Buffer
	args := slices.Concat([]string{"install"}, toolBuildFlags, []string{"github.com/nektos/act@" + ActVersion})
	if err := goCmd(ctx, &out, slices.Concat(toolBuildEnv, []string{"GOBIN=" + dir}), args...); err != nil {
		return "", fmt.Errorf("%w: go install github.com/nektos/act@%s: %v\n%s", ErrNoAct, ActVersion, err, tail(out.String(), 10))
	}
	return bin, nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var (
	setupGoPin = regexp.MustCompile(`actions/setup-go@([0-9a-f]{40})`)
	cachePin   = regexp.MustCompile(`actions/cache(?:/restore|/save)?@([0-9a-f]{40})`)
)

// ActSelfTest runs .github/workflows/action-selftest.yml with act in host
// mode, offline, with setup-go 'false', and returns act's log. act resolves
// every action a workflow names, even in skipped steps, so actions/setup-go
// (pinned in action.yml) is served by a local stand-in that fails if it is
// ever run. act's cache goes to a temporary directory, removed afterwards.
func ActSelfTest(ctx context.Context, w io.Writer) (string, error) {
	return runAct(ctx, w, "workflow_dispatch", "-W", ".github/workflows/action-selftest.yml", "--input", "setup-go=false")
}

// ActWorkflows runs whole workflow files (the examples of README.md and
// docs/action.md, which use org/bh-ipc-check@v1) with act in host mode,
// offline, on a push: the action is this checkout (--local-repository), and
// setup-go 'false' is added to its inputs (Go is on PATH here; setup-go is
// served by the stand-in, as for ActSelfTest). It returns act's log; an
// error when a job failed, which an example whose daemon fails the suite
// does.
func ActWorkflows(ctx context.Context, w io.Writer, flows []string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp("", "bh-act-flows-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	const with = "uses: org/bh-ipc-check@v1\n        with:\n"
	for i, f := range flows {
		if !strings.Contains(f, with) {
			return "", fmt.Errorf("workflow %d has no step %q", i+1, strings.TrimSpace(with))
		}
		f = strings.Replace(f, with, with+"          setup-go: \"false\"\n", 1)
		if err := os.WriteFile(filepath.Join(tmp, fmt.Sprintf("example%d.yml", i+1)), []byte(f), 0o644); err != nil {
			return "", err
		}
	}
	return runAct(ctx, w, "push", "-W", tmp, "--local-repository", "org/bh-ipc-check@v1="+root)
}

// runAct runs act with args (an event and its flags) in the module root,
// on this host (-P ubuntu-latest=-self-hosted), with actions/setup-go at
// action.yml's pin served by a stand-in that fails if it ever runs.
func runAct(ctx context.Context, w io.Writer, args ...string) (string, error) {
	act, err := EnsureAct(ctx, w)
	if err != nil {
		return "", err
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	actionYML, err := os.ReadFile(filepath.Join(root, "action.yml"))
	if err != nil {
		return "", err
	}
	pin := setupGoPin.FindSubmatch(actionYML)
	if pin == nil {
		return "", errors.New("action.yml pins no actions/setup-go commit")
	}
	cpin := cachePin.FindSubmatch(actionYML)
	if cpin == nil {
		return "", errors.New("action.yml pins no actions/cache commit")
	}
	tmp, err := os.MkdirTemp("", "bh-act-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	standin, cacheStandin, err := writeStandins(tmp)
	if err != nil {
		return "", err
	}
	args = append(args, "-P", "ubuntu-latest=-self-hosted",
		"--local-repository", "actions/setup-go@"+string(pin[1])+"="+standin,
		"--local-repository", "actions/cache@"+string(cpin[1])+"="+cacheStandin)
	cmd := command(ctx, act, args...)
	cmd.Dir = root
	fmt.Fprintf(w, "act: %s\n", strings.Join(cmd.Args, " "))
	// act's own cache goes to tmp; Go's build cache must stay where it is
	// (it defaults to $XDG_CACHE_HOME/go-build), or every go build in the
	// jobs starts cold.
	gocache, err := command(ctx, "go", "env", "GOCACHE").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOCACHE: %w", err)
	}
	cmd.Env = append(os.Environ(), "GOCACHE="+strings.TrimSpace(string(gocache)), "XDG_CACHE_HOME="+filepath.Join(tmp, "cache"))
	var log bytes.Buffer
	cmd.Stdout = io.MultiWriter(&log, w)
	cmd.Stderr = cmd.Stdout
	err = cmd.Run()
	if err != nil {
		return log.String(), fmt.Errorf("act: %w", err)
	}
	return log.String(), nil
}

// writeStandins writes, under tmp, the offline stand-ins act is given for
// the actions action.yml pins: setup-go (never run: the self-test sets
// setup-go 'false'), and actions/cache with its restore and save actions
// (GitHub's cache service is not there: they restore and save nothing, and
// the action builds the CLI).
func writeStandins(tmp string) (setupGo, cache string, err error) {
	setupGo, cache = filepath.Join(tmp, "setup-go-standin"), filepath.Join(tmp, "cache-standin")
	files := map[string]string{
		filepath.Join(setupGo, "action.yml"): `name: setup-go stand-in
description: Offline stand-in read by act; never run (setup-go 'false' skips it).
runs:
  using: composite
  steps:
    - shell: bash
      run: echo "the setup-go stand-in must never run" >&2; exit 1
`,
	}
	for _, sub := range []string{"", "restore", "save"} {
		files[filepath.Join(cache, sub, "action.yml")] = `name: cache stand-in
description: Offline stand-in for actions/cache read by act; restores and saves nothing.
runs:
  using: composite
  steps:
    - shell: bash
      run: echo "cache stand-in, nothing restored or saved"
`
	}
	for path, text := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return "", "", err
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			return "", "", err
		}
	}
	return setupGo, cache, nil
}
