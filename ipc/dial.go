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

// DialSocket connects to the Unix socket at path with the same checks as
// Dial (the path is a socket owned by an allowed uid; the server's peer uid
// is allowed), for endpoints whose path does not follow this package's
// layout. Only WithPeerUIDs and WithHandshakeTimeout apply.
func DialSocket(ctx context.Context, path string, opts ...Option) (*Conn, error) {
	o := buildOptions(opts)
	lay := Layout{Transport: TransportUnix, Sock: path, Dir: parentDir(path)}
	return dialUnix(ctx, lay, o)
}

// DialPortFile reads the port file at path (checked as Dial does) and runs
// the handshake for endpoint name, for endpoints whose port file does not
// follow this package's layout.
func DialPortFile(ctx context.Context, path, name string, opts ...Option) (*Conn, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	o := buildOptions(opts)
	return dialTCPEndpoint(ctx, Layout{Name: name, Transport: TransportTCP, Port: path}, o)
}

func parentDir(p string) string {
	for i := len(p) - 1; i > 0; i-- {
		if p[i] == '/' || p[i] == '\\' {
			return p[:i]
		}
	}
	return "."
}
