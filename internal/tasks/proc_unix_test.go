//go:build unix

package tasks

import (
	"bufio"
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A command whose context ends is killed with its whole process group: a
// grandchild (what go build's compile or a Wine program's children are) is
// gone once Wait returns, not left running.
func TestCommandKillsItsGroup(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// sh starts a grandchild, says its pid, and waits.
	cmd := command(ctx, "sh", "-c", "sleep 300 & echo $!; wait")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	grandchild, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("pid %q: %v", line, err)
	}
	t.Cleanup(func() { syscall.Kill(grandchild, syscall.SIGKILL) })
	cancel()
	if err := cmd.Wait(); err == nil {
		t.Fatal("the command ended cleanly after its context was cancelled")
	}
	// The killed grandchild is a zombie until init reaps it, then gone.
	// The kill is asynchronous: poll, with no threshold of our own (the
	// test's deadline ends a grandchild that was never killed).
	tctx := testContext(t)
	for !exited(grandchild) {
		select {
		case <-tctx.Done():
			t.Fatalf("pid %d, started by the command's child, still runs after the command was cancelled", grandchild)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// exited: pid is gone or a zombie (Linux /proc; elsewhere only gone).
func exited(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) S ...: the state follows the last ')'.
	rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
	return strings.HasPrefix(strings.TrimSpace(rest), "Z")
}
