package testenv

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrNoGoUnderWine: under Wine there is no Windows Go toolchain to build a
// program under test, and no prebuilt one was named for it.
var ErrNoGoUnderWine = errors.New("no go command to build the program (scripts/wine/test.sh passes a prebuilt CLI in BH_TEST_CLI)")

// prebuilt maps a main package (its directory, from the module root) to
// the variable that may name a prebuilt binary of it.
var prebuilt = map[string]string{
	"cmd/bh-ipc-check":        "BH_TEST_CLI",
	"matrix/testdata/brokend": "BH_TEST_BROKEND",
}

// BuildProgram puts the program of the main package in directory pkg
// (relative to the test's package, or absolute) at out, mode 0755.
//
// When pkg is the CLI or brokend and BH_TEST_CLI or BH_TEST_BROKEND names
// a prebuilt binary of it, out is a copy of that: scripts/test.sh builds
// each once for every package's tests, and scripts/wine/test.sh passes a
// Windows CLI (Wine has no Go toolchain). Otherwise it runs go build,
// static and -trimpath (CGO_ENABLED=0 go build -trimpath), as go tool mage
// build and the action build the CLI: one configuration, so one compile of
// the standard library and the dependencies serves every build of the
// tests (and internal/tasks installs act and actionlint the same way).
func BuildProgram(pkg, out string) error {
	abs, err := filepath.Abs(pkg)
	if err != nil {
		return err
	}
	for dir, env := range prebuilt {
		if pre := os.Getenv(env); pre != "" && strings.HasSuffix(filepath.ToSlash(abs), "/"+dir) {
			return copyProgram(pre, out)
		}
	}
	if Wine() {
		if _, err := exec.LookPath("go"); err != nil {
			return ErrNoGoUnderWine
		}
	}
	if out, err = filepath.Abs(out); err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, ".")
	cmd.Dir = abs
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

func copyProgram(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return fmt.Errorf("prebuilt program: %w", err)
	}
	defer in.Close()
	outf, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(outf, in); err != nil {
		outf.Close()
		return fmt.Errorf("copying %s to %s: %w", from, to, err)
	}
	return outf.Close()
}
