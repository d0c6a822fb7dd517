package probe

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/org/bh-ipc-check/matrix/internal/proc"
)

// reachesLoopback4: a listener on ip accepts a connection to 127.0.0.1
// (127.0.0.1 itself, the wildcard, or IPv6's wildcard and mapped forms).
func reachesLoopback4(ip net.IP) bool {
	return ip.Equal(net.IPv4(127, 0, 0, 1)) || ip.IsUnspecified()
}

// tcpListenerCheck: every socket listening on port that a client of the
// suite could reach (it dials 127.0.0.1: 127.0.0.1 or a wildcard) belongs
// to the daemon's uid and, when the suite started daemons, is held open by
// a process of a start (a daemon pid, a descendant, or a process of the
// daemon's uid carrying the start marker). Nothing listening is a plain
// error (not up yet, or gone).
func tcpListenerCheck(port int, id *DaemonIdentity) error {
	ents, err := proc.TCPEntries()
	if err != nil {
		return fmt.Errorf("checking who listens on port %d: %w", port, err)
	}
	reachable := false
	for _, e := range ents {
		// Only what a dial of 127.0.0.1 can reach: another uid listening
		// on [::1] at the daemon's port answers no client of the suite's
		// (issue 24: it made tcp.auth-required an impostor error).
		if e.State != "0A" || e.Lport != port || !reachesLoopback4(e.Local) {
			continue
		}
		reachable = true
		if e.Uid != id.UID {
			return &ImpostorError{fmt.Sprintf("the socket listening on %s port %d is uid %d's (inode %s), not the daemon's uid %d", e.Local, port, e.Uid, e.Inode, id.UID)}
		}
		if len(id.PIDs) == 0 {
			continue // a daemon the suite did not start: the uid check stands
		}
		if err := startHoldsSocket(e.Inode, id); err != nil {
			return &ImpostorError{fmt.Sprintf("the socket listening on %s port %d (uid %d, inode %s) %v", e.Local, port, e.Uid, e.Inode, err)}
		}
	}
	if !reachable {
		return fmt.Errorf("nothing listens on 127.0.0.1 port %d", port)
	}
	return nil
}

// tcpPeerCheck: the accepted end of c (local 127.0.0.1:port, remote c's
// own address) belongs to the daemon's uid. The kernel gives the accepted
// socket its listener's owner before accept(2) takes it.
func tcpPeerCheck(c net.Conn, port int, id *DaemonIdentity) error {
	la, ok := c.LocalAddr().(*net.TCPAddr)
	if !ok {
		return fmt.Errorf("checking the daemon's end of the connection: local address %v", c.LocalAddr())
	}
	ents, err := proc.TCPEntries()
	if err != nil {
		return fmt.Errorf("checking the daemon's end of the connection: %w", err)
	}
	for _, e := range ents {
		if e.Lport == port && e.Rport == la.Port && e.Remote.Equal(la.IP) && reachesLoopback4(e.Local) && e.State != "0A" {
			if e.Uid != id.UID {
				return &ImpostorError{fmt.Sprintf("the process that accepted the connection to 127.0.0.1 port %d is uid %d's, not the daemon's uid %d", port, e.Uid, id.UID)}
			}
			return nil
		}
	}
	// Gone already: the daemon reset it (a refusal under load); writing
	// would fail the same way.
	return fmt.Errorf("the connection to 127.0.0.1 port %d was closed before anything was sent", port)
}

// verifiedSockets remembers listening sockets already found held by a
// start (inode and identity): a load connects many times to one listener.
var verifiedSockets sync.Map

// startHoldsSocket reports nil when a process of a start of id holds the
// socket with this inode open (/proc/<pid>/fd links "socket:[inode]").
func startHoldsSocket(inode string, id *DaemonIdentity) error {
	key := fmt.Sprint(inode, id.UID, id.PIDs, id.Marker)
	if _, ok := verifiedSockets.Load(key); ok {
		return nil
	}
	link := "socket:[" + inode + "]"
	procs := proc.AllProcs()
	var holders []int
	// Processes whose fds could not be read, by error: each is one the
	// socket's holder could be.
	unreadable := map[string][]int{}
	for pid := range procs {
		links, err := proc.ProcFDLinks(pid)
		for _, l := range links {
			if l == link {
				holders = append(holders, pid)
				break
			}
		}
		if err != nil && !slices.Contains(holders, pid) {
			unreadable[readErrno(err)] = append(unreadable[readErrno(err)], pid)
		}
	}
	slices.Sort(holders)
	for _, pid := range holders {
		if ofStartIn(procs, pid, id) {
			verifiedSockets.Store(key, true)
			return nil
		}
	}
	if len(holders) == 0 {
		return fmt.Errorf("is held by no process the suite can see, so by none of the daemons it started (pids %v); %s", id.PIDs, describeUnreadable(unreadable))
	}
	return fmt.Errorf("is held by pids %v, neither a daemon the suite started (pids %v), a descendant of one, nor a process of the start", holders, id.PIDs)
}

// readErrno names err's errno ("EACCES") when it has one.
func readErrno(err error) string {
	var en syscall.Errno
	if errors.As(err, &en) {
		if name := unix.ErrnoName(en); name != "" {
			return name
		}
		return en.Error()
	}
	return err.Error()
}

// describeUnreadable says which processes' fds could not be read (pids by
// errno) and what would let the suite read them.
func describeUnreadable(byErr map[string][]int) string {
	if len(byErr) == 0 {
		return "every process's fds were read"
	}
	var parts []string
	n := 0
	for _, e := range slices.Sorted(maps.Keys(byErr)) {
		pids := byErr[e]
		slices.Sort(pids)
		n += len(pids)
		shown := pids
		if len(shown) > 8 {
			shown = shown[:8]
		}
		parts = append(parts, fmt.Sprintf("%s for %d (pids %v%s)", e, len(pids), shown, map[bool]string{true: " ...", false: ""}[len(pids) > 8]))
	}
	return fmt.Sprintf("readlink /proc/<pid>/fd/* failed for %d processes: %s; the suite reads a process's fds as its own uid (setfsuid, as root), which fails for set-id processes (real, effective and saved ids differ) and non-dumpable ones; CAP_SYS_PTRACE (docker run --cap-add SYS_PTRACE) lets root read them all",
		n, strings.Join(parts, ", "))
}

// ofStartIn: pid is one of id's daemons or a descendant (in procs), or a
// process carrying the scenario's start marker.
func ofStartIn(procs map[int]proc.Info, pid int, id *DaemonIdentity) bool {
	for p, hops := pid, 0; p > 1 && hops < 1000; hops++ {
		if slices.Contains(id.PIDs, p) {
			return true
		}
		pi, ok := procs[p]
		if !ok {
			break
		}
		p = pi.Ppid
	}
	if id.Marker == "" {
		return false
	}
	// Another uid can put the marker in its environment: the holder must
	// also be of the daemon's uid.
	fi, err := os.Stat("/proc/" + strconv.Itoa(pid))
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == id.UID && proc.CarriesMarker(pid, id.Marker, true)
}
