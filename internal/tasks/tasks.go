// Package tasks holds the logic behind the Mage targets (magefile.go is one
// line per target). Each task writes human progress to w and returns an
// error when what it checks fails.
package tasks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/org/bh-ipc-check/containers"
	"github.com/org/bh-ipc-check/matrix"
	"github.com/org/bh-ipc-check/report"
)

// ModuleRoot is the directory holding go.mod.
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the bh-ipc-check module")
	}
	return filepath.Dir(mod), nil
}

// goCmd runs the go tool in the module root with extra environment,
// streaming its output to w.
func goCmd(ctx context.Context, w io.Writer, env []string, args ...string) error {
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	cmd := command(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

func exeName(goos string) string {
	if goos == "windows" {
		return "bh-ipc-check.exe"
	}
	return "bh-ipc-check"
}

// Build builds bin/bh-ipc-check for this host, static (CGO_ENABLED=0), so
// the same binary can go into the container legs' FROM-scratch image.
func Build(ctx context.Context, w io.Writer) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(root, "bin", exeName(runtime.GOOS))
	t0 := time.Now()
	if err := goCmd(ctx, w, []string{"CGO_ENABLED=0"}, "build", "-trimpath", "-o", out, "./cmd/bh-ipc-check"); err != nil {
		return "", err
	}
	fmt.Fprintf(w, "build: %s (static) in %s\n", out, time.Since(t0).Round(time.Millisecond))
	return out, nil
}

// UnitTests runs the Go tests of every package but the container legs.
func UnitTests(ctx context.Context, w io.Writer) error {
	return goCmd(ctx, w, nil, "test", "-race", "-count=1", "./ipc/...", "./matrix/...", "./report/...", "./docs/...", "./examples/...", "./cmd/...", "./internal/...")
}

// reportsDir is <module>/reports/<name>.
func reportsDir(name string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "reports", name), nil
}

// publish writes the matrix under reports/<name>, prints it, and fails
// when a required scenario failed or any scenario reached no verdict.
func publish(w io.Writer, name string, reps []matrix.Report) error {
	m := report.NewMatrix(reps...)
	dir, err := reportsDir(name)
	if err != nil {
		return err
	}
	files, err := report.WriteDir(dir, "matrix", m, report.SARIFOptions{Scenarios: matrix.ReportScenarios()})
	if err != nil {
		return err
	}
	fmt.Fprintln(w)
	report.WriteMatrixTable(w, m)
	fmt.Fprintf(w, "reports: %s\n", strings.Join(files, ", "))
	if m.Summary.RequiredFailed > 0 {
		return fmt.Errorf("%d required scenario(s) failed", m.Summary.RequiredFailed)
	}
	// An error is no verdict (a leg that could not be set up, hung or gave
	// no report; an impostor; a timeout): the matrix did not test what it
	// says. The non-root leg's privilege skips are expected and not errors.
	if m.Summary.Errors > 0 {
		return fmt.Errorf("%d scenario(s) reached no verdict (error)", m.Summary.Errors)
	}
	return nil
}

// Native runs the suite on this host against the builtin daemon.
func Native(ctx context.Context, w io.Writer, bin string) (matrix.Report, error) {
	return matrix.Run(ctx, matrix.Config{Exe: bin, Target: matrix.BuiltinTarget(), DaemonUID: -1, AttackerUID: -1, Leg: "native", Progress: w})
}

// ContainerLegs starts a Docker engine if none answers
// (scripts/ensure-docker.sh) and runs the default container legs with bin.
// Without an engine the legs are reported skipped (or failed, with
// BH_REQUIRE_DOCKER=1).
func ContainerLegs(ctx context.Context, w io.Writer, bin string) ([]matrix.Report, error) {
	if runtime.GOOS != "linux" {
		fmt.Fprintf(w, "containers: the container legs run on Linux hosts; this is %s\n", runtime.GOOS)
		return nil, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return nil, err
	}
	ensure := command(ctx, "bash", filepath.Join(root, "scripts", "ensure-docker.sh"))
	ensure.Stdout, ensure.Stderr = w, w
	if err := ensure.Run(); err != nil {
		fmt.Fprintf(w, "containers: scripts/ensure-docker.sh: %v\n", err)
	}
	return containers.Run(ctx, containers.Options{Binary: bin, Target: matrix.BuiltinTarget(), Progress: w, RequireEngine: containers.RequireEngineFromEnv()})
}

// Containers builds the CLI and runs just the container legs.
func Containers(ctx context.Context, w io.Writer) error {
	bin, err := Build(ctx, w)
	if err != nil {
		return err
	}
	t0 := time.Now()
	reps, err := ContainerLegs(ctx, w, bin)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "containers: %d legs in %s\n", len(reps), time.Since(t0).Round(time.Millisecond))
	return publish(w, "containers", reps)
}

// CrossOSes are the platforms vetted and compiled from this host.
var CrossOSes = []string{"darwin", "windows"}

// CrossLegs vets and compiles (go test -c) every package for each of
// CrossOSes and reports each as a leg <goos>/cross (issue wording; DESIGN
// says cross/<goos>).
func CrossLegs(ctx context.Context, w io.Writer) []matrix.Report {
	var reps []matrix.Report
	for _, goos := range CrossOSes {
		host, _ := os.Hostname()
		rep := matrix.Report{Schema: matrix.ReportSchema, Tool: "bh-ipc-check", Host: host, OS: goos, Arch: "amd64",
			Leg: goos + "/cross", Target: matrix.BuiltinTarget().ReportTarget(), DaemonUID: -1, AttackerUID: -1, Started: time.Now().UTC()}
		env := []string{"GOOS=" + goos, "GOARCH=amd64", "CGO_ENABLED=0"}
		tmp, err := os.MkdirTemp("", "bh-cross-")
		if err != nil {
			tmp = os.TempDir()
		} else {
			defer os.RemoveAll(tmp)
		}
		for _, step := range []struct {
			id, title string
			args      []string
		}{
			{"cross.vet", "go vet ./...", []string{"vet", "./..."}},
			{"cross.test-compile", "go test -c ./...", []string{"test", "-c", "-o", tmp + string(filepath.Separator), "./..."}},
		} {
			t0 := time.Now()
			var out bytes.Buffer
			err := goCmd(ctx, &out, env, step.args...)
			res := matrix.Result{ID: step.id, Title: step.title + " for " + goos, Severity: matrix.Required, Status: matrix.Pass,
				Reason: fmt.Sprintf("GOOS=%s %s: clean", goos, step.title), DurationMS: float64(time.Since(t0).Microseconds()) / 1000}
			if err != nil {
				res.Status, res.Reason = matrix.Fail, fmt.Sprintf("GOOS=%s %s: %v", goos, step.title, err)
				res.Evidence = strings.Split(strings.TrimSpace(out.String()), "\n")
			}
			fmt.Fprintf(w, "%s/cross: %s: %s\n", goos, step.title, res.Status)
			rep.Results = append(rep.Results, res)
		}
		rep.DurationMS = float64(time.Since(rep.Started).Microseconds()) / 1000
		rep.Summary = matrix.Summarize(rep.Results)
		reps = append(reps, rep)
	}
	return reps
}

// Cross runs the cross legs and publishes them.
func Cross(ctx context.Context, w io.Writer) error {
	return publish(w, "cross", CrossLegs(ctx, w))
}

// Matrix runs the native, container and cross legs into one matrix.
func Matrix(ctx context.Context, w io.Writer) error {
	t0 := time.Now()
	bin, err := Build(ctx, w)
	if err != nil {
		return err
	}
	native, err := Native(ctx, w, bin)
	if err != nil {
		return err
	}
	reps := []matrix.Report{native}
	legs, err := ContainerLegs(ctx, w, bin)
	if err != nil {
		return err
	}
	reps = append(reps, legs...)
	reps = append(reps, CrossLegs(ctx, w)...)
	reps = append(reps, WineLeg(ctx, w)...)
	err = publish(w, "matrix", reps)
	fmt.Fprintf(w, "test:matrix took %s\n", time.Since(t0).Round(time.Millisecond))
	return err
}

// Clean removes bin/ and reports/, and any container or image a killed run
// left behind (by label).
func Clean(ctx context.Context, w io.Writer) error {
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	for _, d := range []string{"bin", "reports"} {
		if err := os.RemoveAll(filepath.Join(root, d)); err != nil {
			return err
		}
		fmt.Fprintf(w, "clean: removed %s/\n", d)
	}
	n, err := containers.RemoveLeftovers("")
	if err != nil {
		fmt.Fprintf(w, "clean: no Docker engine to clean (%v)\n", err)
		return nil
	}
	fmt.Fprintf(w, "clean: removed %d leftover container(s)/image(s) labelled %s\n", n, containers.RunLabel)
	return nil
}
