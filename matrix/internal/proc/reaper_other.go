//go:build !linux

package proc

import (
	"errors"
	"os"
	"runtime"
	"syscall"
	"time"
)

// Without Linux's child subreaper a daemon that detaches is re-parented to
// init: it is found only through its pid (peer credentials, --pidfile).

const MarkerScanWorks = false

func BecomeSubreaper() error { return errors.New("child subreaper: Linux only") }

type Info struct {
	Pid, ppid int
	zombie    bool
	Comm      string
	Start     uint64 // always 0 here (procRef)
}

func ReapGroupZombies(groups map[int]bool) {}

// AdoptedOrphans: no subreaper here; a detached daemon is init's.
func AdoptedOrphans() []Info { return nil }

func OfStartTree(pid, start int) bool { return false }

func MarkedDescendants(marker string, prefix bool) []Info { return nil }

// CarriesMarker: no /proc to read a process's environment here.
func CarriesMarker(pid int, marker string, prefix bool) bool { return false }

func Alive(pid int) bool { return pid > 0 && processExists(pid) }

func WaitPID(pid int, timeout time.Duration) (bool, int) {
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

// NonDumpable: no equivalent of Linux's PR_SET_DUMPABLE here.
func NonDumpable() error { return nil }

// ProcessesOf: no /proc to list a uid's processes here.
func ProcessesOf(uid int) []int { return nil }

// DescendantsOf: no /proc to find a process's descendants.
func DescendantsOf(pid int) []Info { return nil }
