//go:build !linux

package matrix

import (
	"errors"
	"os"
	"runtime"
	"syscall"
	"time"
)

// Without Linux's child subreaper a daemon that detaches is re-parented to
// init: it is found only through its pid (peer credentials, --pidfile).

const markerScanWorks = false

func becomeSubreaper() error { return errors.New("child subreaper: Linux only") }

type procInfo struct {
	pid, ppid int
	zombie    bool
	comm      string
	start     uint64 // always 0 here (procRef)
}

func reapGroupZombies(groups map[int]bool) {}

// adoptedOrphans: no subreaper here; a detached daemon is init's.
func adoptedOrphans() []procInfo { return nil }

func ofStartTree(pid, start int) bool { return false }

func markedDescendants(marker string, prefix bool) []procInfo { return nil }

// carriesMarker: no /proc to read a process's environment here.
func carriesMarker(pid int, marker string, prefix bool) bool { return false }

func alive(pid int) bool { return pid > 0 && processExists(pid) }

func waitPID(pid int, timeout time.Duration) (bool, int) {
	deadline := time.Now().Add(timeout)
	for processExists(pid) {
		if time.Now().After(deadline) {
			return false, 0
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true, -1
}

func processExists(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	if runtime.GOOS == "windows" {
		p.Release()
		return true
	}
	return p.Signal(syscall.Signal(0)) == nil
}

// nonDumpable: no equivalent of Linux's PR_SET_DUMPABLE here.
func nonDumpable() error { return nil }

// processesOf: no /proc to list a uid's processes here.
func processesOf(uid int) []int { return nil }

// descendantsOf: no /proc to find a process's descendants.
func descendantsOf(pid int) []procInfo { return nil }
