//go:build unix

package ipc

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// maxPendingChecks is the gate's size: a quarter of the soft limit on open
// files, between 4 and 128, so that a flood never makes Accept fail with
// EMFILE.
func maxPendingChecks() int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 32
	}
	return int(min(max(rl.Cur/4, 4), 128))
}

// hasPendingData reports, without waiting, whether data is waiting to be
// read on c (recv with MSG_PEEK|MSG_DONTWAIT: nothing is consumed).
func hasPendingData(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var n int
	var rerr error
	var b [1]byte
	if err := rc.Read(func(fd uintptr) bool {
		n, _, rerr = unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return true // never wait for readiness
	}); err != nil {
		return false
	}
	return rerr == nil && n > 0 // EAGAIN: nothing waiting
}
