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
	"strings"
	"syscall"
	"testing"
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
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	p := &otherUIDProc{stdin: stdin, out: bufio.NewReader(stdout)}
	if line, err := p.out.ReadString('\n'); line != "ready\n" {
		t.Fatalf("uid %d's %s is not ready: %q %v", uid, mode, line, err)
	}
	return p
}

// stop closes p's stdin and returns the rest of what it printed.
func (p *otherUIDProc) stop() string {
	p.stdin.Close()
	b, _ := io.ReadAll(p.out)
	return strings.TrimSpace(string(b))
}
