package ipc

import (
	"fmt"
	"net"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// peerCred returns the uid and pid of the process at the other end of a
// Unix socket, as the kernel recorded them at connect (SO_PEERCRED).
func peerCred(c net.Conn) (uid, pid int, err error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1, 0, fmt.Errorf("%T has no file descriptor", c)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, 0, err
	}
	var cred *unix.Ucred
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		cred, gerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return -1, 0, err
	}
	if gerr != nil {
		return -1, 0, fmt.Errorf("getsockopt SO_PEERCRED: %w", gerr)
	}
	return int(cred.Uid), int(cred.Pid), nil
}

// procDirPath returns /proc/self/fd/<fd> when it reaches the directory with
// the given identity, "" otherwise (no /proc, as in some containers).
func procDirPath(fd int, dev, ino uint64) string {
	p := "/proc/self/fd/" + strconv.Itoa(fd)
	var st unix.Stat_t
	if unix.Stat(p, &st) != nil || uint64(st.Dev) != dev || uint64(st.Ino) != ino {
		return ""
	}
	return p
}
