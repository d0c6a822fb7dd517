package testenv

import (
	"os"
	"testing"

	"github.com/org/bh-ipc-check/internal/fsx"
)

// ShortDir makes a directory under os.TempDir for socket paths (t.TempDir
// can exceed sun_path on macOS); it is removed when the test ends.
func ShortDir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// SelfForOtherUIDs copies this test binary into dir (made 0755) so that a
// process of another uid can run it (the original may sit in a private
// directory), as the suite's runner copies the CLI (fsx.CopyExecutable,
// which also keeps a concurrent fork from making its exec fail with
// ETXTBSY).
func SelfForOtherUIDs(t testing.TB, dir string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := fsx.CopyExecutable(exe, dir, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// NeedRoot skips t unless it runs as root; why says what needs root and
// run how to run the test with it.
func NeedRoot(t testing.TB, why, run string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("needs root: %s; run: sudo %s", why, run)
	}
}
