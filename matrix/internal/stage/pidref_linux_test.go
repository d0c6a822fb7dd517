package stage

import (
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/org/bh-ipc-check/matrix/internal/proc"
)

// sleeper starts a process for the tests below to (not) signal, and
// returns it with its procRef.
func sleeper(t *testing.T) (*exec.Cmd, proc.Ref) {
	t.Helper()
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	r := proc.RefOf(cmd.Process.Pid)
	if r.Start == 0 {
		t.Fatalf("no start time for pid %d", r.Pid)
	}
	return cmd, r
}

// stillRuns: the process r names was not killed (nor stopped for good).
func stillRuns(t *testing.T, r proc.Ref) bool {
	t.Helper()
	time.Sleep(50 * time.Millisecond)
	pi, ok := proc.ReadProc(r.Pid)
	return ok && !pi.Zombie && proc.ProcStart(r.Pid) == r.Start
}

// A pid recorded for a daemon's process that now names another process
// (the first was reaped and the pid reused, B11) is not signalled: the
// start time at the check differs from the one recorded.
func TestSignalRefSparesAReusedPID(t *testing.T) {
	_, r := sleeper(t)
	defer func(f func(int) uint64) { proc.ProcStartNow = f }(proc.ProcStartNow)
	proc.ProcStartNow = func(pid int) uint64 { return r.Start + 1 } // another process at the pid
	if err := proc.SignalRef(r, syscall.SIGKILL); !errors.Is(err, proc.ErrPIDReused) {
		t.Errorf("signalRef to a reused pid: %v, want errPIDReused", err)
	}
	if !stillRuns(t, r) {
		t.Fatalf("pid %d was killed though it now names another process", r.Pid)
	}
	proc.ProcStartNow = proc.ProcStart
	if err := proc.SignalRef(r, syscall.SIGKILL); err != nil {
		t.Errorf("signalRef to the recorded process: %v", err)
	}
	if stillRuns(t, r) {
		t.Errorf("pid %d, the recorded process, was not killed", r.Pid)
	}
}

// StopMarked signals an extra pid (a serving pid seen before the daemons
// were stopped) only while it names the process recorded.
func TestStopMarkedSparesAReusedPID(t *testing.T) {
	_, r := sleeper(t)
	e := &Env{}
	marker := proc.StartMarkerEnv + "=/nonexistent-" + strconv.Itoa(r.Pid)
	other := proc.Ref{Pid: r.Pid, Start: r.Start - 1} // recorded for a process that had the pid before
	if what := e.StopMarked(marker, true, []proc.Ref{other}); len(what) > 0 || !stillRuns(t, r) {
		t.Fatalf("stopMarked with a reused pid stopped %v (still runs: %v)", what, stillRuns(t, r))
	}
	if what := e.StopMarked(marker, true, []proc.Ref{r}); len(what) != 1 || !strings.Contains(what[0], strconv.Itoa(r.Pid)) {
		t.Errorf("stopMarked with the recorded process: %v, want it stopped", what)
	}
	if stillRuns(t, r) {
		t.Errorf("pid %d, the recorded process, still runs", r.Pid)
	}
}

// Once the serving process ended (WaitServing), its pid is never
// signalled again nor fed to the scenario's stop.
func TestEndedServingPIDNotSignalled(t *testing.T) {
	_, r := sleeper(t)
	d := &Daemon{Pid: 1 << 30, serving: r.Pid, servingStart: r.Start, servingEnded: true}
	if ok, err := signalServing(d, syscall.SIGKILL); !ok || err == nil {
		t.Errorf("signalServing after the serving process ended: ok=%v err=%v, want ok and an error", ok, err)
	}
	if !stillRuns(t, r) {
		t.Fatalf("pid %d was killed after the serving process it named had ended", r.Pid)
	}
	e := &Env{daemons: []*Daemon{d}}
	if got := e.startedProcs(); len(got) != 0 {
		t.Errorf("startedProcs: %v, want the ended serving process left out", got)
	}
}
