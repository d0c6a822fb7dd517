package stage

import (
	"syscall"
)

// Daemons that fork are not supported on Windows (Target.Validate refuses
// --forks there).
func signalServing(d *Daemon, sig syscall.Signal) (bool, error) { return false, nil }
