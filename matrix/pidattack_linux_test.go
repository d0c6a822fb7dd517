package matrix

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/org/bh-ipc-check/matrix/internal/proc"
	"github.com/org/bh-ipc-check/matrix/internal/scenario"
	"github.com/org/bh-ipc-check/matrix/internal/target"
)

// pidAttack is the attacker uid interfering with auth.pid-handoff's
// processes, which run as it: the connector (before its exec) and the
// setuid program it becomes (real uid the attacker's, so its to signal).
// Each variant acts once on every process it is aimed at and prints what
// it did, until its stdin closes:
//
//   - "stopsu": SIGSTOP the setuid program, SIGKILL its parent (the
//     helper talking for the attacker);
//   - "killsu": SIGKILL the setuid program before it prompts;
//   - "limitconnector": prlimit the connector's RLIMIT_AS to 4 MB.
func pidAttack(variant string) {
	stop := stdinClosed()
	uid, self := os.Getuid(), os.Getpid()
	done := map[int]bool{}
	for end := time.Now().Add(attackDeadline); time.Now().Before(end) && !closed(stop); time.Sleep(time.Millisecond) {
		for pid, pi := range proc.AllProcs() {
			if done[pid] || pi.Zombie {
				continue
			}
			switch {
			case variant == "limitconnector" && pid != self && sameIDs(pid, uid) && realUID(pi.Ppid) == uid:
				// The connector: a process of this uid started by another
				// (its helper).
				done[pid] = true
				lim := unix.Rlimit{Cur: 4 << 20, Max: 4 << 20}
				fmt.Println("limited connector", pid, unix.Prlimit(pid, unix.RLIMIT_AS, &lim, nil))
			case pi.Comm == "su" && realUID(pid) == uid:
				done[pid] = true
				switch variant {
				case "stopsu":
					fmt.Println("stopped su", pid, syscall.Kill(pid, syscall.SIGSTOP))
					fmt.Println("killed its helper", pi.Ppid, syscall.Kill(pi.Ppid, syscall.SIGKILL))
				case "killsu":
					fmt.Println("killed su", pid, syscall.Kill(pid, syscall.SIGKILL))
				}
			}
		}
	}
}

// realUID is pid's real uid, -1 when unknown.
func realUID(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		var u int
		if n, _ := fmt.Sscanf(l, "Uid:\t%d", &u); n == 1 {
			return u
		}
	}
	return -1
}

// runPidHandoff runs auth.pid-handoff n times against brokend -flaw
// pidauth (which fails it left alone) with uid as the attacker.
func runPidHandoff(t *testing.T, at *attackTest, uid, n int) []Result {
	t.Helper()
	sc, err := Select(scenario.PIDHandoffID)
	if err != nil {
		t.Fatal(err)
	}
	var out []Result
	for range n {
		rep, err := Run(at.ctx, Config{Exe: bins.cli, Target: brokenTarget("pidauth"), Scenarios: sc, DaemonUID: -1, AttackerUID: uid, Timeout: 60 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rep.Results...)
	}
	return out
}

// The attacker uid stops the setuid-root program its connector became
// (its real uid is the attacker's) and kills the helper that would have
// ended it: the scenario has no verdict, and nothing of it, least of all
// a stopped root process, outlives the run.
func TestAttackStoppedSetuidProgramDoesNotOutliveTheRun(t *testing.T) {
	needSetuidBlocker(t)
	at := newAttackTest(t)
	const attacker = 3001
	// The attacker watches for su and may miss one that a fast run ends
	// first (a loaded machine, tests in parallel): a run it did not touch
	// shows nothing, so it is tried again.
	var results []Result
	var out string
	var pid int
	for attempt := 1; ; attempt++ {
		atk := startOtherUID(t, at, attacker, "pidattack", "stopsu")
		results = runPidHandoff(t, at, attacker, 1)
		out = atk.stop()
		t.Logf("attempt %d, attacker: %s", attempt, out)
		for _, r := range results {
			t.Logf("attempt %d, %s: %s: %s", attempt, r.ID, r.Status, r.Reason)
		}
		if _, err := fmt.Sscanf(out, "stopped su %d", &pid); err == nil {
			break
		}
		if attempt == 5 {
			t.Fatalf("the attacker stopped no setuid program in %d runs: %s", attempt, out)
		}
	}
	for _, r := range results {
		t.Logf("%s: %s: %s", r.ID, r.Status, r.Reason)
		if r.Status != Error {
			t.Errorf("%s: %s; want an error: uid %d killed the helper", r.ID, r.Status, attacker)
		}
	}
	if pi, ok := proc.ReadProc(pid); ok && !pi.Zombie {
		syscall.Kill(pid, syscall.SIGKILL) // this test's leftover, not the next one's
		syscall.Kill(pid, syscall.SIGCONT)
		t.Errorf("the setuid program (pid %d, %s, parent %d) still runs after the run", pid, pi.Comm, pi.Ppid)
	}
}

// The attacker uid kills the setuid program before it prompts, or limits
// the connector's address space so the program cannot start: the suite's
// own probe (as a uid no other process has) saw that program wait for a
// password, so its early end is interference, no verdict, never the skip
// of a host without such a program; a connector whose limits were lowered
// does not exec at all.
func TestAttackSetuidProgramEndedEarlyIsNoSkip(t *testing.T) {
	needSetuidBlocker(t)
	at := newAttackTest(t)
	const attacker = 3001
	for _, variant := range []string{"killsu", "limitconnector"} {
		t.Run(variant, func(t *testing.T) {
			// The attacker watches /proc and may miss a program that a fast
			// run ends first (a loaded machine, tests in parallel): a run it
			// did not touch shows nothing, so killsu is tried again.
			var results []Result
			var out string
			for attempt := 1; ; attempt++ {
				atk := startOtherUID(t, at, attacker, "pidattack", variant)
				results = runPidHandoff(t, at, attacker, 2)
				out = atk.stop()
				t.Logf("attempt %d, attacker: %s", attempt, out)
				if variant != "killsu" || strings.Contains(out, "killed su") {
					break
				}
				if attempt == 5 {
					t.Fatalf("the attacker killed no setuid program in %d tries: %s", attempt, out)
				}
			}
			switch {
			case variant == "limitconnector" && !strings.Contains(out, "limited connector"):
				// The connector lives a few milliseconds: the attacker's
				// scan of /proc may miss it.
				t.Logf("the attacker missed the connector")
			}
			for _, r := range results {
				t.Logf("%s: %s: %s\n  %s", r.ID, r.Status, r.Reason, strings.Join(r.Evidence, "\n  "))
				switch {
				case r.Status == Fail && strings.Contains(r.Reason, "handed to pid"):
					// The program prompted before the attacker got to it.
				case r.Status != Error:
					t.Errorf("%s: %s (%s); want an error: uid %d ended the program early", r.ID, r.Status, target.OneLine(r.Reason, 300), attacker)
				case variant == "killsu" && !strings.Contains(r.Reason, "killed by SIGKILL") && !strings.Contains(r.Reason, "saw it prompt"):
					t.Errorf("%s: error %q; want it to say what ended the program", r.ID, target.OneLine(r.Reason, 400))
				}
			}
		})
	}
}

// The connector's check of its limits before the exec: its own limits
// pass; one under the suite's is named.
func TestLoweredLimits(t *testing.T) {
	ref := scenario.RlimitsNow()
	if low := scenario.LoweredLimits(ref); low != "" {
		t.Errorf("this process's own limits: %s", low)
	}
	for i := range ref {
		if ref[i].Res == unix.RLIMIT_NOFILE {
			ref[i].Max++ // the suite's hard limit one above this process's
		}
	}
	if low := scenario.LoweredLimits(ref); !strings.Contains(low, "RLIMIT_NOFILE") {
		t.Errorf("RLIMIT_NOFILE under the reference: %q, want it named", low)
	}
}
