package stage

import (
	"bufio"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/org/bh-ipc-check/ipc"

	"github.com/org/bh-ipc-check/matrix/internal/proc"
)

// holdsEndpoint: pid holds the endpoint's listening socket open (unix:
// a listening socket bound at e.Sock; tcp: the socket listening on the
// port the port file names), read through /proc as pid's uid.
func (e *Env) holdsEndpoint(pid int) bool {
	if e.Transport != ipc.TransportTCP {
		paths, _ := proc.ListeningPaths(pid)
		return slices.Contains(paths, e.Sock)
	}
	pf, err := e.ReadPortFile()
	if err != nil {
		return false
	}
	ents, err := proc.TCPEntries()
	if err != nil {
		return false
	}
	links, _ := proc.ProcFDLinks(pid)
	for _, en := range ents {
		if en.State == "0A" && en.Lport == pf.Port {
			for _, l := range links {
				if l == "socket:["+en.Inode+"]" {
					return true
				}
			}
		}
	}
	return false
}

// sigCaught is pid's mask of caught signals (/proc/<pid>/status SigCgt),
// "" when it cannot be read.
func sigCaught(pid int) string {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "SigCgt:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// blockedOnPeer: a thread of pid sleeps in connect() on a unix socket
// whose backlog is full (the kernel's unix_wait_for_peer), read from
// /proc/<pid>/task/*/wchan; false when that cannot be read.
func blockedOnPeer(pid int) bool {
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return false
	}
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + t.Name() + "/wchan")
		if err == nil && strings.TrimSpace(string(b)) == "unix_wait_for_peer" {
			return true
		}
	}
	return false
}
