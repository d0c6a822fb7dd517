//go:build unix

package scenario

import (
	"net"
	"os"
	"syscall"
)

// dialFrom connects to the Unix socket path from a socket bound to local
// first; "" binds with an address length of the family alone, which Linux
// answers with an abstract autobind name ("@" and five hex digits). Go's
// net package binds nothing for an empty local address, hence the raw
// calls.
func dialFrom(local, path string) (net.Conn, error) {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	syscall.CloseOnExec(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: local}); err != nil {
		syscall.Close(fd)
		return nil, &net.OpError{Op: "bind", Net: "unix", Addr: &net.UnixAddr{Name: local, Net: "unix"}, Err: os.NewSyscallError("bind", err)}
	}
	// A blocking connect: a Unix socket's completes at once or fails
	// (EAGAIN on a full backlog: no verdict, as for any other client).
	if err := syscall.Connect(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		syscall.Close(fd)
		return nil, &net.OpError{Op: "dial", Net: "unix", Addr: &net.UnixAddr{Name: path, Net: "unix"}, Err: os.NewSyscallError("connect", err)}
	}
	f := os.NewFile(uintptr(fd), "bound unix client")
	defer f.Close()
	return net.FileConn(f)
}
