//go:build !linux

package proc

import "syscall"

// ProcStart: no portable start time here; 0 makes procRef.same a plain
// liveness check.
func ProcStart(pid int) uint64 { return 0 }

// SignalRef: without a start time or pidfd the pid is checked for life
// only; a reused pid cannot be told apart (Linux defends it).
func SignalRef(r Ref, sig syscall.Signal) error {
	if !r.Same() {
		return ErrPIDReused
	}
	return signalPID(r.Pid, sig)
}

// OfScenario: processes cannot be attributed here (no /proc): a pid
// recorded as a start's is taken at its word.
func OfScenario(pid int, marker string, prefix bool) bool { return true }
