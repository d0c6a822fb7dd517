package stage

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/org/bh-ipc-check/matrix/internal/proc"
)

// guardEnv makes this test binary run GuardHelper (after lowering its own
// RLIMIT_NOFILE to 16 when it is "low", as the attacker's prlimit did) and
// print the outcome and whether it is still dumpable.
const guardEnv = "BH_TEST_GUARD"

func init() {
	mode := os.Getenv(guardEnv)
	if mode == "" {
		return
	}
	if mode == "low" {
		unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 16, Max: 16})
	}
	err := GuardHelper()
	d, _ := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	fmt.Printf("guard: %v; dumpable=%d\n", err, d)
	os.Exit(0)
}

// A helper makes itself non-dumpable, and refuses to act with an
// RLIMIT_NOFILE its uid lowered (B4).
func TestGuardHelper(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	run := func(mode string) string {
		cmd := exec.Command(exe)
		cmd.Env = []string{guardEnv + "=" + mode}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		return strings.TrimSpace(string(out))
	}
	if got := run("ok"); got != "guard: <nil>; dumpable=0" {
		t.Errorf("guard with a sane limit: %q, want no error and not dumpable", got)
	}
	if got := run("low"); !strings.Contains(got, "RLIMIT_NOFILE is 16") {
		t.Errorf("guard with RLIMIT_NOFILE 16: %q, want it refused", got)
	}
}

// A run warns when --attacker-uid has live processes.
func TestWarnAttackerBusy(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to start a process as uid 31337; run: sudo go test ./matrix -run TestWarnAttackerBusy")
	}
	var buf bytes.Buffer
	r := &Runner{Config: Config{Progress: &buf}, AttackerUID: 31337}
	if proc.ProcessesOf(31337) == nil {
		r.warnAttackerBusy()
		if buf.Len() > 0 {
			t.Errorf("warned with no process of uid 31337: %q", buf.String())
		}
	}
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 31337, Gid: 31337}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	r.warnAttackerBusy()
	if !strings.Contains(buf.String(), "--attacker-uid 31337 has") || !strings.Contains(buf.String(), fmt.Sprint(cmd.Process.Pid)) {
		t.Errorf("warning: %q, want it to name uid 31337 and pid %d", buf.String(), cmd.Process.Pid)
	}
}
