package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/org/bh-ipc-check/internal/fsx"
)

// The macOS job's conditions (ci.yml, macos-latest), as a Linux test can
// make them:
//   - root's TMPDIR is 49 bytes long like the runner's
//     (/var/folders/xx/<28 chars>/T/), mode 0755, owned by a uid that is
//     neither root nor a uid the tests act as (the runner user; the tests'
//     other uids are 501 and 1000, the attacker 1001);
//   - it is reached through a symlink, as /var is on macOS (/private/var);
//   - the environment is what sudo's env_reset leaves, plus the TMPDIR the
//     workflow passes (sudo env "TMPDIR=...").
//
// /tmp itself stays the real one (a symlink there would need a mount
// namespace), and nothing here is darwin's kernel: sun_path and peer
// credentials are simulated by the tests that use ipc.LayoutFor("darwin").
const (
	// MacRunnerUID owns the simulated TMPDIR (the runner user).
	MacRunnerUID = 502
	// MacTMPDIRLen is the length of a macOS $TMPDIR with its final slash.
	MacTMPDIRLen = 49
	// macSimEnv marks the re-run (so it does not recurse).
	macSimEnv = "BH_MACOS_SIM"
)

// InMacSim reports whether this process is the re-run under the simulated
// macOS conditions.
func InMacSim() bool { return os.Getenv(macSimEnv) == "1" }

// MacTMPDIR makes a directory laid out like the macOS job's root TMPDIR
// (see above) and returns its path, MacTMPDIRLen bytes with the final
// slash, through a symlink; t's cleanup removes it. Needs root on Linux.
func MacTMPDIR(t testing.TB) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skipf("simulates the macOS runner on Linux; this is %s (on macOS the macos-latest job is the real thing)", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the simulated TMPDIR to uid 502 and run as the macOS job's sudo does; run: sudo go test -run TestMacOSRunnerConditions ./cmd/bh-ipc-check ./matrix")
	}
	base, err := os.MkdirTemp("/tmp", "bhm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := fsx.RemoveTree(base); err != nil {
			t.Errorf("removing %s: %v", base, err)
		}
	})
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	// base/var -> private/var, as /var -> private/var on macOS.
	if err := os.MkdirAll(filepath.Join(base, "private", "var", "folders", "pd"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("private/var", filepath.Join(base, "var")); err != nil {
		t.Fatal(err)
	}
	// <base>/var/folders/pd/<id>/T/ with id padded to MacTMPDIRLen.
	prefix := base + "/var/folders/pd/"
	n := MacTMPDIRLen - len(prefix) - len("/T/")
	if n < 4 {
		t.Fatalf("%s is too long to simulate a %d-byte TMPDIR under it", base, MacTMPDIRLen)
	}
	id := strings.Repeat("x", n)
	real := filepath.Join(base, "private", "var", "folders", "pd", id)
	for _, d := range []string{real, filepath.Join(real, "T")} {
		// Race point: none; base is root's and 0755 (no one else can
		// write in it), so these are root's own directories until chowned.
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, MacRunnerUID, MacRunnerUID); err != nil {
			t.Fatal(err)
		}
	}
	tmpdir := prefix + id + "/T/"
	if len(tmpdir) != MacTMPDIRLen {
		t.Fatalf("simulated TMPDIR %s is %d bytes, want %d", tmpdir, len(tmpdir), MacTMPDIRLen)
	}
	return tmpdir
}

// MacSudoEnv is the environment sudo's env_reset leaves root with on the
// macOS job, plus TMPDIR as the workflow passes it.
func MacSudoEnv(tmpdir string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"), // the workflow passes it (sudo env "PATH=$PATH")
		"HOME=" + os.Getenv("HOME"), // root's, as sudo sets it
		"TMPDIR=" + tmpdir,
		"USER=root", "LOGNAME=root", "SHELL=/bin/sh",
		"SUDO_USER=runner", fmt.Sprintf("SUDO_UID=%d", MacRunnerUID), fmt.Sprintf("SUDO_GID=%d", MacRunnerUID), "SUDO_COMMAND=/usr/bin/env",
		macSimEnv + "=1",
	}
}

// RerunUnderMacConditions runs the tests matching pattern again, in this
// package's test binary (a child process), under the simulated macOS job's
// conditions (MacTMPDIR, MacSudoEnv), and fails t with the child's output
// when they fail. The child's closing lines are logged.
func RerunUnderMacConditions(t *testing.T, pattern string) {
	t.Helper()
	if InMacSim() {
		t.Skip("this is the re-run under the simulated macOS conditions")
	}
	tmpdir := MacTMPDIR(t)
	fi, err := os.Stat(tmpdir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o755 {
		t.Fatalf("simulated TMPDIR %s: mode %v", tmpdir, fi.Mode())
	}
	args := []string{"-test.run", pattern, "-test.count=1", "-test.v"}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = MacSudoEnv(tmpdir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var ran []string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(l, "--- ") {
			ran = append(ran, strings.TrimSpace(l))
		}
	}
	t.Logf("TMPDIR=%s (%d bytes, 0755, uid %d, through the symlink var -> private/var), as root with sudo's environment:\n%s", tmpdir, len(tmpdir), MacRunnerUID, strings.Join(ran, "\n"))
	if err != nil {
		t.Fatalf("the tests matching %q under the macOS job's conditions: %v\n%s", pattern, err, out.String())
	}
	if len(ran) == 0 {
		t.Fatalf("no test matching %q ran:\n%s", pattern, out.String())
	}
}
