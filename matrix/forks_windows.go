package matrix

import (
	"errors"
	"syscall"
)

// Daemons that fork are not supported on Windows (Target.Validate refuses
// --forks there).
func signalServing(d *daemon, sig syscall.Signal) (bool, error) { return false, nil }

func signalPID(pid int, sig syscall.Signal) error { return errors.New("signals: not on windows") }
