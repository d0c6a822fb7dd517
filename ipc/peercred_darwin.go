package ipc

import (
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// peerCred returns the uid of the process at the other end of a Unix
// socket, as the kernel recorded it at connect (LOCAL_PEERCRED), and its pid
// (LOCAL_PEERPID, 0 when unavailable).
func peerCred(c net.Conn) (uid, pid int, err error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1, 0, fmt.Errorf("%T has no file descriptor", c)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, 0, err
	}
	var cred *unix.Xucred
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		cred, gerr = unix.GetsockoptXucred(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
		if gerr == nil {
			pid, _ = unix.GetsockoptInt(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERPID)
		}
	}); err != nil {
		return -1, 0, err
	}
	if gerr != nil {
		return -1, 0, fmt.Errorf("getsockopt LOCAL_PEERCRED: %w", gerr)
	}
	if cred.Version != xucredVersion {
		return -1, 0, fmt.Errorf("getsockopt LOCAL_PEERCRED: struct xucred version %d, want %d", cred.Version, xucredVersion)
	}
	return int(cred.Uid), pid, nil
}

// xucredVersion is XUCRED_VERSION (xnu bsd/sys/ucred.h; x/sys/unix does not
// define it): the layout version the kernel writes into cr_version
// (cru2x in bsd/kern/kern_prot.c) when unp_connect records a peer's
// credentials. A different version means a layout this code does not
// know, so the uid is not trusted, as FreeBSD's getpeereid() does.
const xucredVersion = 0

// procDirPath: macOS has no /proc; binds and connects use the verified
// plain path (see the package documentation for the residual window).
func procDirPath(fd int, dev, ino uint64) string { return "" }
