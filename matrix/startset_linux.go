package matrix

import (
	"slices"

	"github.com/org/bh-ipc-check/ipc"
)

// holdsEndpoint: pid holds the endpoint's listening socket open (unix:
// a listening socket bound at e.Sock; tcp: the socket listening on the
// port the port file names), read through /proc as pid's uid.
func (e *Env) holdsEndpoint(pid int) bool {
	if e.Transport != ipc.TransportTCP {
		paths, _ := listeningPaths(pid)
		return slices.Contains(paths, e.Sock)
	}
	pf, err := e.readPortFile()
	if err != nil {
		return false
	}
	ents, err := tcpEntries()
	if err != nil {
		return false
	}
	links, _ := procFDLinks(pid)
	for _, en := range ents {
		if en.state == "0A" && en.lport == pf.Port {
			for _, l := range links {
				if l == "socket:["+en.inode+"]" {
					return true
				}
			}
		}
	}
	return false
}
