package tasks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/org/bh-ipc-check/matrix"
)

// ErrNoWine means Wine is not set up here; callers skip or fail with it.
var ErrNoWine = errors.New("wine is not set up")

func wineScript(name string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "scripts", "wine", name), nil
}

// WineReady reports whether scripts/wine/setup.sh has set Wine up.
func WineReady(ctx context.Context) bool {
	if runtime.GOOS != "linux" {
		return false
	}
	setup, err := wineScript("setup.sh")
	if err != nil {
		return false
	}
	return command(ctx, "bash", setup, "--check").Run() == nil
}

// SetupWine runs scripts/wine/setup.sh (installs what is missing, as root).
func SetupWine(ctx context.Context, w io.Writer) error {
	setup, err := wineScript("setup.sh")
	if err != nil {
		return err
	}
	cmd := command(ctx, "bash", setup)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrNoWine, setup, err)
	}
	return nil
}

// WindowsTestsUnderWine runs the ipc package's tests as a Windows binary
// under Wine (go test -exec scripts/wine/run.sh).
func WindowsTestsUnderWine(ctx context.Context, w io.Writer) error {
	if err := ctx.Err(); err != nil {
		return err // not "no Wine": out of time before it was looked at
	}
	if !WineReady(ctx) {
		return ErrNoWine
	}
	runner, err := wineScript("run.sh")
	if err != nil {
		return err
	}
	return goCmd(ctx, w, []string{"GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0"}, "test", "-count=1", "-exec", runner, "./ipc/...")
}

// WineLegReport cross-compiles the CLI for windows/amd64 and runs the suite
// with it under Wine against the builtin daemon (TCP token transport); the
// report is the windows/wine column.
func WineLegReport(ctx context.Context, w io.Writer) (matrix.Report, error) {
	var rep matrix.Report
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	if !WineReady(ctx) {
		return rep, ErrNoWine
	}
	runner, err := wineScript("run.sh")
	if err != nil {
		return rep, err
	}
	dir, err := os.MkdirTemp("", "bh-wine-")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(dir)
	exe := filepath.Join(dir, "bh-ipc-check.exe")
	// No -trimpath: the build then reuses what the windows cross leg
	// (go test -c, same GOOS and CGO_ENABLED) compiled.
	if err := goCmd(ctx, w, []string{"GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0"}, "build", "-o", exe, "./cmd/bh-ipc-check"); err != nil {
		return rep, err
	}
	t0 := time.Now()
	var stdout bytes.Buffer
	cmd := command(ctx, "bash", runner, exe, "run", "--leg", "windows/wine", "--format", "json")
	cmd.Stdout, cmd.Stderr = &stdout, w
	err = cmd.Run()
	if jerr := json.Unmarshal(stdout.Bytes(), &rep); jerr != nil {
		return rep, fmt.Errorf("windows/wine: no report (%v): %v", err, jerr)
	}
	fmt.Fprintf(w, "windows/wine: %d passed, %d failed, %d skipped in %s\n", rep.Summary.Passed, rep.Summary.Failed, rep.Summary.Skipped, time.Since(t0).Round(time.Millisecond))
	return rep, nil
}

// WineLeg is the windows/wine leg for test:matrix: included when Wine is
// set up, and said so when it is not.
func WineLeg(ctx context.Context, w io.Writer) []matrix.Report {
	rep, err := WineLegReport(ctx, w)
	if errors.Is(err, ErrNoWine) {
		fmt.Fprintln(w, "windows/wine: Wine is not set up here, so the leg is left out (bash scripts/wine/setup.sh sets it up)")
		return nil
	}
	if err != nil {
		fmt.Fprintf(w, "windows/wine: %v\n", err)
		return nil
	}
	return []matrix.Report{rep}
}

// WineServerUp makes sure the prefix's wineserver runs, detached and
// persistent (scripts/wine/server.sh), and reports whether this call
// started it: a caller stops it afterwards (StopWine) only then, since
// another may be using the one it found (scripts/test.sh's Wine step
// runs beside the Linux tests, on the server test.sh started).
func WineServerUp(ctx context.Context) (started bool, err error) {
	script, err := wineScript("server.sh")
	if err != nil {
		return false, err
	}
	out, err := command(ctx, "bash", script).Output()
	if err != nil {
		return false, fmt.Errorf("%s: %w", script, err)
	}
	return strings.TrimSpace(string(out)) == "started", nil
}

// StopWine stops the prefix's wineserver and every Wine process of the
// prefix (scripts/wine/stop.sh): run.sh leaves the server running,
// detached, for the next Wine program.
func StopWine(ctx context.Context) error {
	stop, err := wineScript("stop.sh")
	if err != nil {
		return err
	}
	if out, err := command(ctx, "bash", stop).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", stop, err, out)
	}
	return nil
}

// Wine sets Wine up, runs the ipc tests under it and the windows/wine leg.
func Wine(ctx context.Context, w io.Writer) error {
	if err := SetupWine(ctx, w); err != nil {
		return err
	}
	if err := WindowsTestsUnderWine(ctx, w); err != nil {
		return err
	}
	rep, err := WineLegReport(ctx, w)
	if err != nil {
		return err
	}
	return publish(w, "wine", []matrix.Report{rep})
}
