package probe

import (
	"context"
	"net"
	"strconv"
)

// DialDaemonTCP connects to the daemon at 127.0.0.1:port for the suite,
// checking before anything is written that the daemon is what listens
// there (tcpListenerCheck) and what accepted this very connection
// (tcpPeerCheck): a bh-json client sends the daemon's token in its first
// line, and a reply is only evidence when the daemon gave it. Failed
// checks are *ImpostorError, noted in ctx; no byte has been sent. A nil
// id (attacker probes) checks nothing.
func DialDaemonTCP(ctx context.Context, port int, id *DaemonIdentity) (net.Conn, error) {
	if id != nil {
		if err := tcpListenerCheck(port, id); err != nil {
			return nil, noteImpostor(ctx, err)
		}
	}
	c, err := dialBusy(ctx, "tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil || id == nil {
		return c, err
	}
	// Race point: the daemon may have died and another process bound the
	// port between tcpListenerCheck and the connect; the peer check is on
	// the accepted end of this connection, which the kernel labels with
	// its listener's uid and which cannot be swapped.
	if err := tcpPeerCheck(c, port, id); err != nil {
		c.Close()
		return nil, noteImpostor(ctx, err)
	}
	return c, nil
}
