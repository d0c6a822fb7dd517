package main

import (
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
)

// pidTrusting is -flaw pidauth's listener: polkit's CVE-2013-4288. It
// keeps only the peer's pid from SO_PEERCRED at accept and decides at the
// first request, from the owner of /proc/<pid> then: root or its own uid
// may talk. A process that connected and then exec'd a setuid-root
// program is root's by then, whoever holds the connection.
// With sameNS (-flaw abstractpid) the process must share the daemon's
// mount namespace too, abstractns's check, judged the same late way.
type pidTrusting struct {
	*net.UnixListener
	sameNS bool
}

func (l pidTrusting) Accept() (net.Conn, error) {
	c, err := l.AcceptUnix()
	if err != nil {
		return nil, err
	}
	pid := 0
	if raw, err := c.SyscallConn(); err == nil {
		raw.Control(func(fd uintptr) {
			if cred, err := syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED); err == nil {
				pid = int(cred.Pid)
			}
		})
	}
	return &pidCheckedConn{UnixConn: c, pid: pid, sameNS: l.sameNS}, nil
}

// pidCheckedConn checks its peer when the first request arrives. Read by
// one goroutine (handle's) only.
type pidCheckedConn struct {
	*net.UnixConn
	pid                      int
	sameNS, checked, allowed bool
}

func (c *pidCheckedConn) Read(b []byte) (int, error) {
	n, err := c.UnixConn.Read(b)
	if n > 0 && !c.checked {
		c.checked = true
		// The flaw: the uid is whoever owns /proc/<pid> now, not the
		// credentials the connection was made with.
		var st syscall.Stat_t
		if syscall.Stat("/proc/"+strconv.Itoa(c.pid), &st) == nil {
			c.allowed = (st.Uid == 0 || int(st.Uid) == os.Geteuid()) && (!c.sameNS || sameMountNS(c.pid))
		}
	}
	if c.checked && !c.allowed {
		c.UnixConn.Close()
		return 0, io.EOF
	}
	return n, err
}
