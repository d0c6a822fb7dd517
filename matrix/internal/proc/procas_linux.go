package proc

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Reading another process's /proc/<pid>/fd links and environ passes the
// kernel's ptrace access check (PTRACE_MODE_READ_FSCREDS): the reader's
// filesystem uid and gid must equal the process's real, effective and
// saved ids, or the reader needs CAP_SYS_PTRACE. Root in a container with
// Docker's default capability set has no CAP_SYS_PTRACE, so it cannot read
// the fds of a daemon running as uid 1000 (EACCES), and the suite could not
// tell which process holds a socket. asOwnerOf reads as the process's own
// uid instead, which needs no ptrace capability: what runAs's helper would
// do, without a process per read.

// procIDs are pid's real, effective and saved uid and gid
// (/proc/<pid>/status); ok is false when they differ (a set-id process,
// whose fds its own uid cannot read either) or cannot be read.
func procIDs(pid int) (uid, gid int, ok bool) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	same := func(fs []string) (int, bool) {
		if len(fs) < 3 || fs[0] != fs[1] || fs[0] != fs[2] {
			return 0, false
		}
		n, err := strconv.Atoi(fs[0])
		return n, err == nil
	}
	var uok, gok bool
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, found := strings.CutPrefix(sc.Text(), "Uid:"); found {
			uid, uok = same(strings.Fields(rest))
		} else if rest, found := strings.CutPrefix(sc.Text(), "Gid:"); found {
			gid, gok = same(strings.Fields(rest))
		}
	}
	return uid, gid, uok && gok
}

// asOwnerOf runs f with this thread's filesystem uid and gid set to pid's
// (when the suite is root and pid is another uid's), so that f's reads of
// /proc/<pid>/fd/* and /proc/<pid>/environ are checked as that uid's. It
// runs f as it is otherwise, and when pid's ids cannot be read or differ
// (f then meets the kernel's answer: EACCES without CAP_SYS_PTRACE).
//
// Race point: pid may exit and its number be reused by a process of
// another uid between procIDs and f. f's reads are then checked against
// that process's ids, which differ from the ones taken: the kernel refuses
// them (EACCES), nothing is read of a process the ids were not taken from,
// and a refused read is reported, never taken for an answer.
//
// Only this goroutine's locked thread changes its ids (setfsuid(2) and
// setfsgid(2) act on the calling thread, and the Go runtime starts no
// thread from a locked one); when they cannot be set back, the thread is
// left locked, so the runtime ends it with the goroutine.
func asOwnerOf(pid int, f func() error) error {
	if os.Geteuid() != 0 {
		return f()
	}
	uid, gid, ok := procIDs(pid)
	if !ok || uid == 0 {
		return f()
	}
	runtime.LockOSThread()
	// setfsgid first, while the thread still has root's fs capabilities;
	// setfsuid(-1) changes nothing and returns the current fsuid.
	unix.SetfsgidRetGid(gid)
	unix.SetfsuidRetUid(uid)
	cur, _ := unix.SetfsuidRetUid(-1)
	curg, _ := unix.SetfsgidRetGid(-1)
	var err error
	if cur != uid || curg != gid {
		err = fmt.Errorf("setfsuid(%d)/setfsgid(%d) to read pid %d's /proc entries: the thread has fsuid %d, fsgid %d", uid, gid, pid, cur, curg)
	} else {
		err = f()
	}
	unix.SetfsuidRetUid(0)
	unix.SetfsgidRetGid(0)
	if u, _ := unix.SetfsuidRetUid(-1); u == 0 {
		if g, _ := unix.SetfsgidRetGid(-1); g == 0 {
			runtime.UnlockOSThread()
		}
	}
	return err
}

// ProcFDLinks maps pid's open fds (/proc/<pid>/fd: "3") to their targets
// ("socket:[1234]"), read as pid's uid (asOwnerOf). err is the first
// failure: reading the directory, or readlink (an fd closed meanwhile,
// ENOENT, is no failure).
func ProcFDLinks(pid int) (links map[string]string, err error) {
	links = map[string]string{}
	fdDir := "/proc/" + strconv.Itoa(pid) + "/fd"
	aerr := asOwnerOf(pid, func() error {
		ents, err := os.ReadDir(fdDir)
		if err != nil {
			return err
		}
		var first error
		for _, e := range ents {
			l, err := os.Readlink(fdDir + "/" + e.Name())
			if err != nil {
				if !os.IsNotExist(err) && first == nil {
					first = err
				}
				continue
			}
			links[e.Name()] = l
		}
		return first
	})
	return links, aerr
}

// procEnviron is pid's environment block (/proc/<pid>/environ), read as
// pid's uid (asOwnerOf).
func procEnviron(pid int) (env []byte, err error) {
	err = asOwnerOf(pid, func() error {
		env, err = os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		return err
	})
	return env, err
}
