//go:build unix

package ipc

import "net"

// PeerCred returns the uid and pid of the process at the other end of a
// Unix socket connection, as the kernel recorded them when the socket was
// connected or listened on: SO_PEERCRED on Linux, LOCAL_PEERCRED and
// LOCAL_PEERPID on macOS (pid 0 when the kernel does not say). Elsewhere it
// returns an error wrapping ErrUnsupported. It is what Listen and Dial
// check; the regression suite uses it to authenticate the daemon it judges.
func PeerCred(c net.Conn) (uid, pid int, err error) { return peerCred(c) }
