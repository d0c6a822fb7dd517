//go:build unix

package stage

import (
	"fmt"
	"syscall"

	"github.com/org/bh-ipc-check/matrix/internal/proc"
)

// signalServing sends sig to the process that serves for d when that is
// not the one the suite started (a daemon that forked); ok is false when
// d serves from the process the suite started.
func signalServing(d *Daemon, sig syscall.Signal) (ok bool, err error) {
	if d.serving <= 0 || d.serving == d.Pid {
		return false, nil
	}
	if d.servingEnded {
		return true, fmt.Errorf("pid %d, which served, has ended: %w", d.serving, proc.ErrPIDReused)
	}
	return true, proc.SignalRef(d.servingRef(), sig)
}
