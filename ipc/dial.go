package ipc

import (
	"context"
	"fmt"
)

// Dial connects to the endpoint name. For the unix transport it refuses a
// socket path not owned by this uid (ErrNotPrivate) and a server whose peer
// uid is not allowed (ErrPeerRejected); for tcp it reads the private port
// file and runs the mutual handshake (ErrAuth), and a port nobody listens on
// is ErrStale. The caller closes the Conn.
func Dial(ctx context.Context, name string, opts ...Option) (*Conn, error) {
	o := buildOptions(opts)
	lay, err := resolve(name, o)
	if err != nil {
		return nil, err
	}
	switch o.transport {
	case TransportUnix:
		return dialUnix(ctx, lay, o)
	case TransportTCP:
		return dialTCPEndpoint(ctx, lay, o)
	}
	return nil, fmt.Errorf("ipc: dial %s: unknown transport %q", name, o.transport)
}
