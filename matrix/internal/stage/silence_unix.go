//go:build unix

package stage

import (
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/org/bh-ipc-check/matrix/internal/probe"
)

// peekOnce is one look at c without waiting (MSG_PEEK|MSG_DONTWAIT): the
// bytes waiting, or how the connection ended.
func peekOnce(c net.Conn) (got, st string) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return "", "not a socket"
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return "", err.Error()
	}
	buf := make([]byte, 512)
	var n int
	var rerr error
	if err := raw.Read(func(fd uintptr) bool {
		n, _, rerr = unix.Recvfrom(int(fd), buf, unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return true // one look, never a wait
	}); err != nil {
		return "", err.Error()
	}
	switch {
	case rerr == nil && n > 0:
		return string(buf[:n]), ""
	case rerr == nil:
		return "", "closed by the daemon"
	case errors.Is(rerr, unix.EAGAIN):
		return "", ""
	}
	if r := probe.RefusalOf(rerr, true); r != "" {
		return "", r
	}
	return "", rerr.Error()
}
