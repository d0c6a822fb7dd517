package ipc

import "errors"

// Sentinel errors. Every error returned by this package that falls into one of
// these classes wraps the sentinel, so callers test with errors.Is; the
// wrapping error names the operation, the path and the facts (owner uid, mode,
// length and limit, ...).
var (
	// ErrInvalidName: the endpoint name is not [A-Za-z0-9_-]{1,64}. Returned
	// before any filesystem call.
	ErrInvalidName = errors.New("invalid endpoint name")

	// ErrNotPrivate: a path the endpoint relies on is not private to this uid:
	// a symlink, not a directory (or not a socket), owned by another uid, or
	// with a mode that cannot be tightened. Nothing was created through it.
	ErrNotPrivate = errors.New("not private")

	// ErrAlreadyRunning: another process holds the endpoint's lock. Nothing
	// was touched.
	ErrAlreadyRunning = errors.New("already running")

	// ErrPathTooLong: the socket path does not fit sun_path, nor does the
	// short fallback.
	ErrPathTooLong = errors.New("socket path too long")

	// ErrAuth: the TCP token handshake failed (wrong secret, malformed or
	// missing proof). On the client it also means the server did not prove
	// that it knows the secret: it may be a squatter on a stale port.
	ErrAuth = errors.New("authentication failed")

	// ErrPeerRejected: the peer's uid (peer credentials) is not allowed, on
	// either side of a Unix socket.
	ErrPeerRejected = errors.New("peer rejected")

	// ErrStale: an endpoint file (socket or port file) exists but the
	// connection was refused: nothing serves it or, on macOS, a daemon's
	// backlog is full (see the package documentation).
	ErrStale = errors.New("stale endpoint")

	// ErrUnsupported: the transport is not available on this platform.
	ErrUnsupported = errors.New("transport not supported on this platform")

	// ErrBadReply: the daemon's reply does not have the shape the protocol
	// requires (for example a ping reply without "pong": true).
	ErrBadReply = errors.New("bad reply")
)
