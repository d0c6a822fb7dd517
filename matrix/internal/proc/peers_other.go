//go:build !linux

package proc

import "errors"

// ClientsOfTCP: who is connected to whom is read from /proc and
// sock_diag, Linux only.
func ClientsOfTCP(port int) ([]Holder, error) {
	return nil, errors.New("connections are read from /proc/net/tcp, Linux only")
}

func ClientsOfUnix(sock string) ([]Holder, error) {
	return nil, errors.New("connections are read through sock_diag, Linux only")
}

func HoldersOfUnixName(name string) ([]Holder, error) {
	return nil, errors.New("sockets are read from /proc/net/unix, Linux only")
}
