package stage

import (
	"net"
	"time"

	"github.com/org/bh-ipc-check/ipc"
)

// AbstractHolder names the process listening on the abstract name sock
// by the kernel's word: the credentials SO_PEERCRED gives a client, the
// listener's as of its listen(). The connection is closed at once,
// nothing sent or read: the listener may be anyone's.
func AbstractHolder(sock string) (uid, pid int, err error) {
	c, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return -1, 0, err
	}
	defer c.Close()
	return ipc.PeerCred(c)
}
