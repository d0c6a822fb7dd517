//go:build unix

package proc

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// signalPID sends sig to pid, resuming it first for SIGTERM and SIGKILL
// (a scenario may have stopped it).
func signalPID(pid int, sig syscall.Signal) error {
	if sig == unix.SIGTERM || sig == unix.SIGKILL {
		unix.Kill(pid, unix.SIGCONT)
	}
	return unix.Kill(pid, sig)
}
