package ipc

import (
	"context"
	"fmt"
)

// Dial connects to the endpoint name. For the unix transport it verifies
// the directory chain Listen made (fallback parents, endpoint directory:
// ours, not writable by group or others, not a link) through handles, the
// socket in it (ours), and connects through the verified handle; anything
// else is ErrNotPrivate naming the entry, its owner and its mode. A server
// whose peer uid is not allowed is ErrPeerRejected. For tcp it reads the
// private port file and runs the mutual handshake (ErrAuth). A socket or
// port nobody listens on is ErrStale. The caller closes the Conn.
func Dial(ctx context.Context, name string, opts ...Option) (*Conn, error) {
	o := buildOptions(opts)
	lay, err := resolve(name, o)
	if err != nil {
		return nil, err
	}
	return dialLayout(ctx, lay, o)
}

// dialLayout is Dial at a resolved layout (ListLive: where List found it).
func dialLayout(ctx context.Context, lay Layout, o *options) (*Conn, error) {
	switch lay.Transport {
	case TransportUnix:
		return dialUnix(ctx, lay, o)
	case TransportTCP:
		return dialTCPEndpoint(ctx, lay, o)
	}
	return nil, fmt.Errorf("ipc: dial %s: unknown transport %q", lay.Name, lay.Transport)
}

// DialSocket connects to the Unix socket at path, for endpoints whose path
// does not follow this package's layout. Its directory is the caller's
// choice (it may be a shared one such as /tmp), so it is opened as given and
// not required to be ours; the socket in it must be a socket owned by an
// allowed uid (not a link), is connected to through the directory handle
// where /proc allows, and the server's peer uid must be allowed. Only
// WithPeerUIDs and WithHandshakeTimeout apply.
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
