package proc

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// BecomeSubreaper makes this process a child subreaper: a daemon's
// descendants that detach (double fork, setsid) are re-parented to the
// suite rather than to init, so each one stays a descendant and is found
// and stopped at the end of its scenario. Process-wide and for the
// process's life, which suits the CLI; it is also harmless in tests.
func BecomeSubreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// MarkerScanWorks: markedDescendants can attribute processes (/proc).
const MarkerScanWorks = true

// procInfo is what /proc says about a process.
type Info struct {
	Pid, Ppid, pgrp, sid int
	Zombie               bool
	Comm                 string
	Start                uint64 // start time (procRef)
}

func ReadProc(pid int) (Info, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Info{}, false
	}
	// pid (comm) state ppid ...: comm may hold spaces and parentheses.
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return Info{}, false
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 4 {
		return Info{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	pgrp, _ := strconv.Atoi(f[2])
	sid, _ := strconv.Atoi(f[3])
	return Info{Pid: pid, Ppid: ppid, pgrp: pgrp, sid: sid, Zombie: f[0] == "Z", Comm: string(b[open+1 : end]), Start: statStart(b)}, true
}

// AdoptedOrphans are the live children of this process, adopted as child
// subreaper, that detached into a session of their own and carry no start
// marker: what a daemon that wiped its environment left (redis sets its
// process title over its environment block, and with it the marker).
// Every process the suite starts (daemons, helpers) stays in its session,
// and a detached process that kept its environment is its start's, found
// by its marker.
func AdoptedOrphans() []Info {
	ents, _ := filepath.Glob("/proc/[0-9]*")
	self := os.Getpid()
	sid, err := unix.Getsid(0)
	if err != nil {
		return nil
	}
	var out []Info
	for _, p := range ents {
		pid, err := strconv.Atoi(filepath.Base(p))
		if err != nil {
			continue
		}
		pi, ok := ReadProc(pid)
		if !ok || pi.Zombie || pi.Ppid != self || pi.sid == sid {
			continue
		}
		// Race point: the process may end and its pid be reused between
		// these reads; a reused pid is no child of ours, so it fails the
		// parent check of whoever acts on it next (stopMarked signals only
		// while it is alive and waits through waitPID, which reaps only
		// our own children).
		if env, err := procEnviron(pid); err != nil || bytes.Contains(env, []byte(StartMarkerEnv+"=")) {
			continue
		}
		out = append(out, pi)
	}
	return out
}

// OfStartTree: pid descends from start (the process of a start the suite
// ran: its parent may not have exited yet), or is one of adoptedOrphans
// (it has, and the process was re-parented to the suite).
func OfStartTree(pid, start int) bool {
	if DescendsFrom(pid, []int{start}) {
		return true
	}
	for _, p := range AdoptedOrphans() {
		if p.Pid == pid {
			return true
		}
	}
	return false
}

// MarkedDescendants are the live processes below this one whose
// environment holds marker (KEY=VALUE exactly, or KEY=VALUE# followed by
// anything when prefix is set). Another uid's environ is read as that uid
// (procEnviron); a process the suite cannot read is not counted.
func MarkedDescendants(marker string, prefix bool) []Info {
	procs := AllProcs()
	self := os.Getpid()
	var out []Info
	for pid, pi := range procs {
		if pi.Zombie || !descends(procs, pid, self) {
			continue
		}
		if CarriesMarker(pid, marker, prefix) {
			out = append(out, pi)
		}
	}
	return out
}

// AllProcs are the processes /proc lists now, by pid.
func AllProcs() map[int]Info {
	ents, _ := filepath.Glob("/proc/[0-9]*")
	procs := map[int]Info{}
	for _, p := range ents {
		if n, err := strconv.Atoi(filepath.Base(p)); err == nil {
			if pi, ok := ReadProc(n); ok {
				procs[n] = pi
			}
		}
	}
	return procs
}

// DescendantsOf are the live processes below pid.
func DescendantsOf(pid int) []Info {
	procs := AllProcs()
	var out []Info
	for n, pi := range procs {
		if n != pid && !pi.Zombie && descends(procs, n, pid) {
			out = append(out, pi)
		}
	}
	return out
}

// CarriesMarker reports whether process pid's environment holds marker
// (prefix: or marker#N, any start of the scenario). Another uid's
// environ is read as that uid (procEnviron), which needs no CAP_SYS_PTRACE.
func CarriesMarker(pid int, marker string, prefix bool) bool {
	env, err := procEnviron(pid)
	if err != nil {
		return false
	}
	for _, kv := range bytes.Split(env, []byte{0}) {
		s := string(kv)
		if s == marker || prefix && strings.HasPrefix(s, marker+"#") {
			return true
		}
	}
	return false
}

func descends(procs map[int]Info, pid, ancestor int) bool {
	for i := 0; i < 1000 && pid > 1; i++ {
		pi, ok := procs[pid]
		if !ok {
			return false
		}
		if pi.Ppid == ancestor {
			return true
		}
		pid = pi.Ppid
	}
	return false
}

// Alive: pid exists and is not a zombie.
func Alive(pid int) bool {
	pi, ok := ReadProc(pid)
	return ok && !pi.Zombie
}

// WaitPID waits up to timeout for pid, a process the suite did not start
// through os/exec, to end. When it is the suite's child (adopted as
// subreaper) it is reaped and its exit code known; otherwise the code is
// -1.
func WaitPID(pid int, timeout time.Duration) (exited bool, code int) {
	deadline := time.Now().Add(timeout)
	for {
		if pi, ok := ReadProc(pid); ok && pi.Ppid == os.Getpid() {
			var ws unix.WaitStatus
			// Race point: pid is ours (re-parented to us) and os/exec never
			// started it, so no cmd.Wait will reap it; wait4 on this exact
			// pid cannot take another child's status.
			if got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil); err == nil && got == pid {
				if ws.Signaled() {
					return true, 128 + int(ws.Signal())
				}
				return true, ws.ExitStatus()
			}
		} else if !ok {
			return true, -1
		}
		// A zombie whose parent is not the suite is its parent's to reap,
		// or becomes the suite's when that parent ends: wait for either.
		if time.Now().After(deadline) {
			return false, 0
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ReapGroupZombies reaps the zombies re-parented to the suite from the
// process groups groups (each daemon runs in a group of its own, led by
// the process the suite started): a daemon's children that died before
// it did. Group leaders are left to os/exec, which started and waits for
// them.
func ReapGroupZombies(groups map[int]bool) {
	ents, _ := filepath.Glob("/proc/[0-9]*")
	self := os.Getpid()
	for _, p := range ents {
		pid, err := strconv.Atoi(filepath.Base(p))
		if err != nil || groups[pid] {
			continue
		}
		pi, ok := ReadProc(pid)
		if !ok || !pi.Zombie || pi.Ppid != self || !groups[pi.pgrp] {
			continue
		}
		var ws unix.WaitStatus
		// Race point: the zombie is ours and in a daemon's group but is not
		// its leader, so no os/exec Wait is waiting for this pid.
		unix.Wait4(pid, &ws, unix.WNOHANG, nil)
	}
}

// NonDumpable closes this process to ptrace and to /proc/<pid>/mem,
// environ and fd reads by its own uid (guardHelper).
func NonDumpable() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_DUMPABLE, 0): %w", err)
	}
	return nil
}

// ProcessesOf lists the live processes whose real uid is uid.
func ProcessesOf(uid int) []int {
	ents, _ := filepath.Glob("/proc/[0-9]*")
	var out []int
	for _, p := range ents {
		b, err := os.ReadFile(p + "/status")
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "Uid:" {
				if f[1] == strconv.Itoa(uid) {
					if pid, err := strconv.Atoi(filepath.Base(p)); err == nil {
						out = append(out, pid)
					}
				}
				break
			}
		}
	}
	return out
}
