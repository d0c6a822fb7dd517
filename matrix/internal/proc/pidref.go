package proc

import (
	"errors"
	"fmt"
)

// procRef names one process, not just its pid: pid and the process's
// start time (clock ticks since boot, /proc/<pid>/stat field 22; 0 where
// the platform does not say). A pid is reused once its process is reaped
// (pid_max may be 32768: another uid can fork until it gets a given pid),
// so the suite records a procRef when it finds a process and signals only
// a process with the same start time (signalRef).
type Ref struct {
	Pid   int
	Start uint64
}

func (r Ref) String() string { return fmt.Sprintf("pid %d", r.Pid) }

// ErrPIDReused: the pid now names another process than the one recorded.
var ErrPIDReused = errors.New("the pid now names another process")

// RefOf records pid as the process that has it now (start 0 when unknown).
func RefOf(pid int) Ref { return Ref{Pid: pid, Start: ProcStart(pid)} }

// Same reports whether r's pid still names the process recorded and it
// has not ended (not a zombie).
func (r Ref) Same() bool {
	if r.Pid <= 0 || !Alive(r.Pid) {
		return false
	}
	return r.Start == 0 || ProcStart(r.Pid) == r.Start
}

// StartMarkerEnv is set in every daemon's environment to
// "<scenario dir>#<n>" (the n-th start in the scenario): processes the
// daemon leaves behind, detached or not, inherit it, and the suite (a
// child subreaper on Linux) finds them by it among its descendants.
// A process that clears its environment and detaches is found only
// through its pid (peer credentials, --pidfile).
const StartMarkerEnv = "BH_IPC_CHECK_START"
