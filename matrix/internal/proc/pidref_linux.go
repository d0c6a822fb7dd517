package proc

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ProcStart is pid's start time from /proc/<pid>/stat (field 22), 0 when
// it cannot be read.
func ProcStart(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	return statStart(b)
}

// statStart parses the start time out of a /proc/<pid>/stat line; comm
// may hold spaces and parentheses, so fields count from the last ')'.
func statStart(b []byte) uint64 {
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return 0
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 20 { // f[0] is field 3 (state): field 22 is f[19]
		return 0
	}
	n, _ := strconv.ParseUint(f[19], 10, 64)
	return n
}

// ProcStartNow is procStart; a variable so tests can present another
// process at the recorded pid at the moment of the check.
var ProcStartNow = ProcStart

// SignalRef sends sig to the process r names, and to no other: it opens a
// pidfd on r's pid and checks, after opening it, that the pid still has
// r's start time; the signal then goes through the pidfd. A SIGTERM or
// SIGKILL is preceded by SIGCONT (a scenario may have stopped it).
//
// Race point: r's process may have ended and its pid been taken by
// another process (another uid can fork until it gets it). The pidfd pins
// whichever process had the pid when it was opened; a start time read
// after that still equal to r's means that process is r's, and a signal
// through the pidfd cannot reach a process that took the pid later.
// Without pidfd_open (Linux < 5.3) the start time is checked just before
// kill(2): a narrower window, not none.
func SignalRef(r Ref, sig syscall.Signal) error {
	if r.Pid <= 0 {
		return errors.New("no pid")
	}
	fd, err := unix.PidfdOpen(r.Pid, 0)
	if errors.Is(err, unix.ENOSYS) {
		if r.Start != 0 && ProcStartNow(r.Pid) != r.Start {
			return ErrPIDReused
		}
		return signalPID(r.Pid, sig)
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if r.Start == 0 || ProcStartNow(r.Pid) != r.Start {
		return ErrPIDReused
	}
	if sig == unix.SIGTERM || sig == unix.SIGKILL {
		unix.PidfdSendSignal(fd, unix.SIGCONT, nil, 0)
	}
	return unix.PidfdSendSignal(fd, sig, nil, 0)
}

// OfScenario: pid, recorded earlier as a process of a start, still looks
// like one: it carries the marker, or descends from the suite (a child
// subreaper keeps a detached daemon below it).
func OfScenario(pid int, marker string, prefix bool) bool {
	return CarriesMarker(pid, marker, prefix) || DescendsFrom(pid, []int{os.Getpid()})
}
