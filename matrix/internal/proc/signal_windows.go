package proc

import (
	"errors"
	"syscall"
)

func signalPID(pid int, sig syscall.Signal) error { return errors.New("signals: not on windows") }
