package stage

import (
	"fmt"
	"strings"

	"github.com/org/bh-ipc-check/ipc"
	"github.com/org/bh-ipc-check/matrix/internal/proc"
	"github.com/org/bh-ipc-check/matrix/internal/target"
)

// OthersHoldName names the processes of uids other than the daemon's
// holding a socket bound to the endpoint's abstract name (Linux:
// /proc/net/unix), "" when none or the endpoint is no abstract name: any
// uid may bind a freed abstract name (no listen needed), and a start that
// then fails says nothing of the daemon.
func (e *Env) OthersHoldName() string {
	if e.Transport != ipc.TransportUnix || !target.IsAbstract(e.Sock) {
		return ""
	}
	hs, err := proc.HoldersOfUnixName(e.Sock)
	if err != nil {
		e.Note("who holds %s: %v", e.Sock, err)
		return ""
	}
	var others []string
	for _, h := range hs {
		if h.UID != e.Runner.DaemonUID {
			others = append(others, fmt.Sprintf("uid %d's pid %d (%s)", h.UID, h.Pid, h.Comm))
		}
	}
	return strings.Join(others, ", ")
}
