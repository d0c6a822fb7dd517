package tasks

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
)

// ActionlintVersion is the pinned actionlint (shared/PINS.md).
const ActionlintVersion = "v1.7.12"

// Actionlint lints every workflow under .github/workflows with the pinned
// actionlint, through go run (no install step; go run caches what it
// builds).
func Actionlint(ctx context.Context, w io.Writer) error {
	args := slices.Concat([]string{"run"}, toolBuildFlags, []string{"github.com/rhysd/actionlint/cmd/actionlint@" + ActionlintVersion, "-color=false"})
	return goCmd(ctx, w, toolBuildEnv, args...)
}

// Gofmt fails when a tracked Go file is not gofmt'ed.
func Gofmt(ctx context.Context, w io.Writer) error {
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	out, err := command(ctx, "gofmt", "-l", root).Output()
	if err != nil {
		return fmt.Errorf("gofmt: %w", err)
	}
	if files := strings.TrimSpace(string(out)); files != "" {
		return fmt.Errorf("gofmt would change:\n%s", files)
	}
	fmt.Fprintln(w, "gofmt: clean")
	return nil
}

// Lint runs gofmt, go vet (this host, then darwin and windows) and
// actionlint.
func Lint(ctx context.Context, w io.Writer) error {
	if err := Gofmt(ctx, w); err != nil {
		return err
	}
	for _, goos := range append([]string{""}, CrossOSes...) {
		var env []string
		label := "host"
		if goos != "" {
			env, label = []string{"GOOS=" + goos, "GOARCH=amd64", "CGO_ENABLED=0"}, goos
		}
		if err := goCmd(ctx, w, env, "vet", "./..."); err != nil {
			return fmt.Errorf("go vet (%s): %w", label, err)
		}
		fmt.Fprintf(w, "go vet (%s): clean\n", label)
	}
	if err := Actionlint(ctx, w); err != nil {
		return err
	}
	fmt.Fprintln(w, "actionlint: clean")
	return nil
}
