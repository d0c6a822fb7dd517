package proc

import "fmt"

// Holder is a process holding the client end of a connection to the
// daemon.
type Holder struct {
	Pid, UID int
	Comm     string
	// Conns: how many of the connections it holds.
	Conns int
}

func (h Holder) String() string {
	return fmt.Sprintf("pid %d (%s) holds %d", h.Pid, h.Comm, h.Conns)
}
