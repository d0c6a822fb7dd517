package matrix

// Processes of other uids for the tests that race a run as root (the
// attacker, or a third uid): this test binary re-executed in a mode of
// otherUIDModes under SysProcAttr.Credential, with nothing of the
// caller's environment. Each mode acts until its stdin closes and prints
// what it did.

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// otherUIDEnv selects a mode of otherUIDModes ("MODE ARG") when this test
// binary is executed by startOtherUID.
const otherUIDEnv = "BH_TEST_OTHER_UID"

var otherUIDModes = map[string]func(arg string){
	"holdslots":   holdSlots,
	"stophelpers": stopOwnHelpers,
	"pidattack":   pidAttack,
	"bindfreed":   bindFreedNames,
	"sockinsquat": sockInSquat,
}

func init() {
	v := os.Getenv(otherUIDEnv)
	if v == "" {
		return
	}
	mode, arg, _ := strings.Cut(v, " ")
	f, ok := otherUIDModes[mode]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown mode %q\n", mode)
		os.Exit(2)
	}
	fmt.Println("ready")
	f(arg)
	os.Exit(0)
}

// otherUIDProc is a mode of otherUIDModes running as another uid.
type otherUIDProc struct {
	stdin io.WriteCloser
	out   *bufio.Reader
}

// startOtherUID runs mode with arg as uid and waits until it is ready.
func startOtherUID(t *testing.T, at *attackTest, uid int, mode, arg string) *otherUIDProc {
	t.Helper()
	cmd := exec.CommandContext(at.ctx, at.bin)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent", otherUIDEnv + "=" + mode + " " + arg}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	cmd.Dir = "/"
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := startFirst(cmd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	p := &otherUIDProc{stdin: stdin, out: bufio.NewReader(stdout)}
	if line, err := p.out.ReadString('\n'); line != "ready\n" {
		t.Fatalf("uid %d's %s is not ready: %q %v", uid, mode, line, err)
	}
	return p
}

// startFirst starts cmd at nice -20 (every thread of it: a process
// inherits the nice value of the thread that forked it, and so do the
// threads it makes). The modes race processes a scenario starts and ends
// within a fraction of a second (pidAttack must see su between its exec
// and its end); under the load of the whole test command (go test -p 4,
// Wine beside it, a load average near 20 on 2 cores) a mode at the same
// priority as everything else missed them run after run. Only the
// forking thread's value changes, and only while it forks.
func startFirst(cmd *exec.Cmd) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// On Linux the syscall's PRIO_PROCESS with who 0 is the calling
	// thread; getpriority returns 20-nice.
	prev, perr := unix.Getpriority(unix.PRIO_PROCESS, 0)
	if perr == nil {
		if err := unix.Setpriority(unix.PRIO_PROCESS, 0, -20); err != nil {
			perr = err
		}
	}
	err := cmd.Start()
	if perr == nil {
		unix.Setpriority(unix.PRIO_PROCESS, 0, 20-prev)
	}
	return err
}

// stop closes p's stdin and returns the rest of what it printed.
func (p *otherUIDProc) stop() string {
	p.stdin.Close()
	b, _ := io.ReadAll(p.out)
	return strings.TrimSpace(string(b))
}
