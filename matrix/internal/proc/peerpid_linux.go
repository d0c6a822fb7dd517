package proc

import (
	"net"

	"golang.org/x/sys/unix"
)

// ListenerPID is the pid of the process that called listen() on the
// socket c is connected to: Linux records it for the client end of a Unix
// socket connection (SO_PEERCRED). 0 when c is not a Unix socket or the
// kernel says nothing.
func ListenerPID(c net.Conn) int {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return 0
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0
	}
	var pid int
	raw.Control(func(fd uintptr) {
		if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
			pid = int(cred.Pid)
		}
	})
	return pid
}
