//go:build !linux

package proc

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/org/bh-ipc-check/ipc"
)

func ListeningOn(port, uid int) (mine, others []string, err error) {
	return nil, nil, errors.New("listening sockets are read from /proc/net/tcp, Linux only")
}

// ReachableSockPath: without /proc a socket path longer than sun_path
// cannot be connected to.
func ReachableSockPath(sock string) (string, func(), error) {
	if limit := ipc.SunPathLimit(runtime.GOOS); len(sock) > limit {
		return "", nil, fmt.Errorf("socket path %s is %d bytes, over the %d-byte sun_path limit", sock, len(sock), limit)
	}
	return sock, func() {}, nil
}

func ListeningPaths(pid int) ([]string, error) {
	return nil, errors.New("listening sockets are read from /proc/net/unix, Linux only")
}
