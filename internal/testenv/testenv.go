// Package testenv holds what the project's tests share about where they
// run: whether this is Wine (a Windows test binary run on Linux by
// scripts/wine/run.sh) and the few things that differ there, and what
// tests that act as other uids need (a short directory for socket paths,
// the test binary where other uids can run it, the skip without root).
// Only _test.go files import it.
package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/org/bh-ipc-check/internal/fsx"
)

// Wine reports whether this process is a Windows program running under
// Wine (ntdll exports wine_get_version there, and only there). It is false
// on every other OS and on a real Windows.
func Wine() bool { return underWine() }

// SkipUnderWine skips t under Wine only, saying why and where the test
// does run (a real Windows runner: ci.yml's windows-latest job).
func SkipUnderWine(t testing.TB, why string) {
	t.Helper()
	if Wine() {
		t.Skipf("under Wine: %s; runs on a real Windows (ci.yml windows-latest: go test ./...)", why)
	}
}

// TempDir is t.TempDir, except under Wine, where t.TempDir's cleanup
// (os.RemoveAll) fails with "Invalid function" (Wine 8 lacks
// FileDispositionInformationEx): there the directory is made with
// os.MkdirTemp and removed entry by entry (fsx.RemoveTree).
func TempDir(t testing.TB) string {
	t.Helper()
	if !Wine() {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp("", "bh-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := fsx.RemoveTree(dir); err != nil {
			t.Errorf("removing %s: %v", dir, err)
		}
	})
	return dir
}

// NeedGo skips t under Wine when no go command is on PATH: the test builds
// or runs something with the Go toolchain, and Wine has a Linux one only.
// Everywhere else (a real Windows included) the test runs.
func NeedGo(t testing.TB) {
	t.Helper()
	if !Wine() {
		return
	}
	if _, err := exec.LookPath("go"); err != nil {
		SkipUnderWine(t, "needs the go command, and Wine's PATH has no Windows Go toolchain")
	}
}

// LF is b as text with Windows line endings (CRLF) made LF: what a test
// reads from a checked-out file may have either (.gitattributes asks for
// LF, but Git for Windows' core.autocrlf=true predates a clone's
// attributes in older checkouts and in copies made without Git).
func LF(b []byte) string { return strings.ReplaceAll(string(b), "\r\n", "\n") }

// ReadText reads the text file at path with LF line endings (see LF),
// failing t when it cannot.
func ReadText(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return LF(b)
}

// OK ends the test at once when err is not nil (a step of a test's set-up
// that must work).
func OK(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
