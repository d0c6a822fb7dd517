//go:build unix && !linux && !darwin

package ipc

import (
	"fmt"
	"net"
)

// peerCred is not implemented on this platform: every Unix-socket peer is
// rejected rather than accepted unchecked.
func peerCred(c net.Conn) (uid, pid int, err error) {
	return -1, 0, fmt.Errorf("%w: peer credentials", ErrUnsupported)
}

func procDirPath(fd int, dev, ino uint64) string { return "" }
