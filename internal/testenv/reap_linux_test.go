package testenv

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// treeHelperEnv runs TestReapTreeHelper for real, as the helper process
// of TestKilledBinaryLeavesNothing; its value is how the helper ends.
const treeHelperEnv = "BH_TESTENV_TREE_HELPER"

// A test binary that ends, however it ends, leaves none of the processes
// it started running: a plain child, a grandchild that detached into a
// session of its own (found by the token in its environment), and a child
// in a group of its own whose environment is empty (found because the
// reaper saw it below the binary). The binary is this one, run again as
// TestReapTreeHelper; it is killed with SIGKILL, panics on its -timeout,
// or returns with its processes still running.
func TestKilledBinaryLeavesNothing(t *testing.T) {
	for _, end := range []string{"SIGKILL", "timeout", "return"} {
		t.Run(end, func(t *testing.T) {
			t.Parallel()
			var tree []int
			var out string
			// The -timeout panic ends the helper wherever it is: when it
			// comes before the tree is set up (a loaded machine), try again
			// with twice the time. The other ends do not depend on it.
			for timeout := 5 * time.Second; ; timeout *= 2 {
				var done bool
				tree, out, done = runTreeHelper(t, end, timeout)
				if done || end != "timeout" || timeout > 2*time.Minute {
					break
				}
			}
			if tree == nil {
				t.Fatalf("the helper did not set its processes up:\n%s", out)
			}
			if end == "timeout" && !strings.Contains(out, "panic: test timed out after") {
				t.Errorf("the helper did not end by go test's timeout panic:\n%s", out)
			}
			for _, pid := range tree {
				if !exited(pid) {
					t.Errorf("pid %d (%s), started by the helper, still runs after it ended", pid, comm(pid))
					syscall.Kill(pid, syscall.SIGKILL)
				} else if !strings.Contains(out, strconv.Itoa(pid)+" (") {
					t.Errorf("the reaper did not name pid %d among what it stopped:\n%s", pid, out)
				}
			}
		})
	}
}

// runTreeHelper runs TestReapTreeHelper in a test binary of its own (a
// token and a reaper of its own), ends it as end says, and waits until its
// output closes: the helper and its reaper have ended. It returns the
// helper's processes (nil if it ended before it had set them up), its
// output, and whether the tree was set up.
func runTreeHelper(t *testing.T, end string, timeout time.Duration) ([]int, string, bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestReapTreeHelper$", "-test.v", "-test.timeout="+timeout.String())
	cmd.Env = append(withoutEnv(os.Environ(), reapEnv), treeHelperEnv+"="+end)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// The helper's output is also its reaper's (stderr): Wait returns once
	// both have closed it, so a reaper still at work holds it up. A reaper
	// that does not end is a failure, named below.
	cmd.WaitDelay = time.Minute
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	var tree []int
	seen := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		lines = append(lines, line)
		if f, ok := strings.CutPrefix(line, "tree "); ok {
			for _, s := range strings.Fields(f) {
				pid, err := strconv.Atoi(s)
				if err != nil {
					t.Fatalf("helper: %q", line)
				}
				tree = append(tree, pid)
			}
		}
		if line == "seen" {
			seen = true
			checkTree(t, tree)
			if end == "SIGKILL" {
				cmd.Process.Kill()
			}
		}
	}
	err = cmd.Wait()
	out := strings.Join(lines, "\n") + "\n" + stderr.String()
	if err != nil && strings.Contains(err.Error(), "I/O incomplete") {
		t.Errorf("the helper's output was still held a minute after it ended (its reaper?): %v\n%s", err, out)
	}
	if !seen {
		for _, pid := range tree {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		return nil, out, false
	}
	return tree, out, true
}

// checkTree asserts the tree is what the test means: the detached
// grandchild in a session of its own carrying a token, the child with an
// empty environment carrying none.
func checkTree(t *testing.T, tree []int) {
	t.Helper()
	if len(tree) != 3 {
		t.Fatalf("tree %v, want 3 processes", tree)
	}
	if sid, _ := unix.Getsid(tree[1]); sid != tree[1] {
		t.Errorf("the detached grandchild %d is in session %d, not one of its own", tree[1], sid)
	}
	if _, has, ok := envToken(tree[1]); !ok || !has {
		t.Errorf("the detached grandchild %d carries no %s", tree[1], reapEnv)
	}
	if _, has, ok := envToken(tree[2]); !ok || has {
		t.Errorf("the child %d with an empty environment carries %s (readable %v)", tree[2], reapEnv, ok)
	}
}

// TestReapTreeHelper is the helper process of TestKilledBinaryLeavesNothing:
// it starts its processes, prints their pids ("tree" line), has the reaper
// look, prints "seen", and then waits to be killed, for its -timeout, or
// returns.
func TestReapTreeHelper(t *testing.T) {
	end := os.Getenv(treeHelperEnv)
	if end == "" {
		t.Skip("the helper process of TestKilledBinaryLeavesNothing, run only by it")
	}
	child := exec.Command("sleep", "1000")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	// sh puts a sleep in a session of its own and exits: the sleep is
	// re-parented away from this process at once.
	out, err := exec.Command("sh", "-c", "setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo $!").Output()
	if err != nil {
		t.Fatal(err)
	}
	detached, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("sh: %q", out)
	}
	// Settle: the background sleep calls setsid after sh has said its pid.
	for sid, err := unix.Getsid(detached); err == nil && sid != detached; sid, err = unix.Getsid(detached) {
		time.Sleep(10 * time.Millisecond)
	}
	bare := exec.Command("sleep", "1000")
	bare.Env = []string{}
	bare.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := bare.Start(); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("tree %d %d %d\n", child.Process.Pid, detached, bare.Process.Pid)
	if err := lookNow(); err != nil {
		t.Fatal(err)
	}
	fmt.Println("seen")
	if end == "return" {
		return
	}
	time.Sleep(time.Hour) // until SIGKILL or the -timeout panic
}

// exited: pid is gone or a zombie.
func exited(pid int) bool {
	p, ok := readStat(pid)
	return !ok || p.zombie
}

func comm(pid int) string {
	p, _ := readStat(pid)
	return p.comm
}
