package matrix

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/org/bh-ipc-check/internal/testenv"
)

// errNoGoUnderWine: under Wine there is no Windows Go toolchain to build
// the binaries under test; scripts/wine/test.sh builds the CLI once and
// names it in BH_TEST_CLI.
var errNoGoUnderWine = errors.New("no go command to build the CLI (scripts/wine/test.sh passes a prebuilt one in BH_TEST_CLI)")

// buildBin puts the binary of package pkg at out: go build, or, for the
// CLI, a copy of $BH_TEST_CLI when that names a prebuilt one for this OS
// (under Wine, which has no Go toolchain).
func buildBin(pkg, out string) error {
	if pre := os.Getenv("BH_TEST_CLI"); pre != "" && strings.HasSuffix(pkg, "/cmd/bh-ipc-check") {
		return copyFile(pre, out)
	}
	if testenv.Wine() {
		if _, err := exec.LookPath("go"); err != nil {
			return errNoGoUnderWine
		}
	}
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return fmt.Errorf("BH_TEST_CLI: %w", err)
	}
	defer in.Close()
	outf, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(outf, in); err != nil {
		outf.Close()
		return fmt.Errorf("copying %s to %s: %w", from, to, err)
	}
	return outf.Close()
}
