package ipc

import (
	"fmt"
	"net"
	"time"
)

// helloTimeout bounds the wait for a TCP client's first handshake line.
// A client sends it as soon as it has connected, so a connection still
// silent after this long is not a client of ours; the rest of the
// handshake keeps the full handshake timeout.
const helloTimeout = time.Second

// checkGate bounds the TCP connections whose handshake is still running,
// so that a flood of unauthenticated connections from another uid can
// neither take every file descriptor nor make a client of ours wait behind
// it. It is nil for Unix listeners, whose check reads nothing and never
// waits (peer credentials).
type checkGate struct {
	// slots: connections in their handshake. A silent connection holds one
	// at most helloTimeout.
	slots chan struct{}
	// spoken: connections admitted while every slot was taken because
	// they had already sent data (a client of ours sends its hello at
	// once, so under a flood it has by the time it is accepted).
	spoken chan struct{}
}

func newCheckGate() *checkGate {
	n := maxPendingChecks()
	return &checkGate{slots: make(chan struct{}, n), spoken: make(chan struct{}, n)}
}

// admit decides, in the accept loop and without waiting, whether c may
// start its check: it returns the semaphore to release when the check is
// done, or nil when c must be closed at once.
//
// Race point: under a flood every slot is held by a connection that has
// not spoken; a new connection is then admitted only if data is already
// waiting on it (hasPendingData, no wait), so silent connections are
// closed as fast as they are accepted and a client of ours, whose hello is
// waiting, still gets through. An attacker that sends a byte and stalls
// fills "spoken" too; then new connections are closed until a slot frees
// (at most helloTimeout later): denial of service by another uid is not
// defended (doc.go), only bounded.
func (g *checkGate) admit(c net.Conn) chan struct{} {
	select {
	case g.slots <- struct{}{}:
		return g.slots
	default:
	}
	if !hasPendingData(c) {
		return nil
	}
	select {
	case g.spoken <- struct{}{}:
		return g.spoken
	default:
		return nil
	}
}

// errGateFull is reported (WithOnReject) for a connection closed unread
// because the gate was full.
func errGateFull(c net.Conn, n int) error {
	return fmt.Errorf("ipc: handshake from %s: %w: closed unread: %d handshakes already pending", c.RemoteAddr(), ErrAuth, n)
}
