package ipc

import "net"

// maxPendingChecks is the gate's size on Windows.
func maxPendingChecks() int { return 128 }

// hasPendingData is false on Windows (no non-blocking peek through Go's
// overlapped sockets): with every slot taken a new connection is closed,
// and the client retries (dialTCP).
func hasPendingData(net.Conn) bool { return false }
