package ipc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"time"
)

// Transport selects how an endpoint is reached.
type Transport string

const (
	// TransportUnix is a Unix socket in a private directory (Linux, macOS).
	TransportUnix Transport = "unix"
	// TransportTCP is 127.0.0.1 with a port file and a mutual HMAC
	// handshake (the Windows default, available everywhere).
	TransportTCP Transport = "tcp"
)

// DefaultTransport is TransportTCP on Windows and TransportUnix elsewhere.
func DefaultTransport() Transport {
	if runtime.GOOS == "windows" {
		return TransportTCP
	}
	return TransportUnix
}

// ParseTransport accepts "unix" or "tcp".
func ParseTransport(s string) (Transport, error) {
	switch Transport(s) {
	case TransportUnix, TransportTCP:
		return Transport(s), nil
	}
	return "", fmt.Errorf("ipc: transport %q: want unix or tcp", s)
}

// Option configures Listen, Dial, Resolve and List.
type Option func(*options)

type options struct {
	root             string
	transport        Transport
	peerUIDs         []int
	handshakeTimeout time.Duration
	onReject         func(error)
	onWarning        func(error)
}

// WithRoot sets the runtime directory (default DefaultRoot()).
func WithRoot(dir string) Option { return func(o *options) { o.root = dir } }

// WithTransport selects the transport (default DefaultTransport()).
func WithTransport(t Transport) Option { return func(o *options) { o.transport = t } }

// WithPeerUIDs sets the uids a Unix-socket peer may have: for a Listener,
// the clients it accepts; for Dial and DialSocket, the servers they talk to
// and the owners the socket file may have. The default is this process's
// effective uid alone. Dial still requires the endpoint's directories to be
// ours; to reach another uid's endpoint use DialSocket.
func WithPeerUIDs(uids ...int) Option {
	return func(o *options) { o.peerUIDs = append([]int(nil), uids...) }
}

// WithHandshakeTimeout bounds the peer checks and the TCP handshake of one
// connection (default 5s). A TCP listener waits at most a second (or the
// timeout, if shorter) for a client's first handshake line.
func WithHandshakeTimeout(d time.Duration) Option {
	return func(o *options) { o.handshakeTimeout = d }
}

// WithOnReject registers a function the Listener calls (from its own
// goroutines, possibly concurrently) with the reason for every connection it
// closes without returning it from Accept; the error wraps ErrPeerRejected
// or ErrAuth.
func WithOnReject(f func(error)) Option { return func(o *options) { o.onReject = f } }

// WithOnWarning registers a function List and ListLive call with the reason
// for every place they skipped instead of failing (for example a fallback
// directory another uid holds). Calls come from the caller's goroutine.
func WithOnWarning(f func(error)) Option { return func(o *options) { o.onWarning = f } }

func (o *options) warn(err error) {
	if o.onWarning != nil {
		o.onWarning(err)
	}
}

func buildOptions(opts []Option) *options {
	o := &options{transport: DefaultTransport(), handshakeTimeout: 5 * time.Second}
	for _, f := range opts {
		f(o)
	}
	if len(o.peerUIDs) == 0 {
		o.peerUIDs = []int{os.Geteuid()}
	}
	return o
}

func (o *options) peerAllowed(uid int) bool {
	for _, u := range o.peerUIDs {
		if u == uid {
			return true
		}
	}
	return false
}

// Listener is a net.Listener whose Accept returns only connections that
// passed the peer checks (unix) or the handshake (tcp). Checks run in their
// own goroutines, so a slow or hostile peer never holds up Accept. Close
// removes exactly what this Listener created (the socket or port file, only
// while it is still the one it created; the lock file; the endpoint
// directory) and releases the lock. Safe for concurrent use.
type Listener struct {
	layout Layout
	raw    net.Listener
	check  func(net.Conn) (net.Conn, error)
	opts   *options
	// release undoes what Listen created; it runs once, from Close.
	release func() error
	// gate bounds the connections being checked (TCP); nil: unbounded.
	gate *checkGate

	ready chan net.Conn
	// stopping is closed when Close begins: the accept loop and the checks
	// stop. closed is closed when Close has removed the endpoint: only then
	// does Accept report the listener closed, so a daemon that exits as
	// soon as Accept fails never exits before its clean-up (as with Go's
	// UnixListener, which unlinks before closing the socket).
	stopping  chan struct{}
	closed    chan struct{}
	acceptErr chan error
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup
}

// Listen creates the endpoint name and starts listening. See the package
// documentation for the algorithm and what it defends. On failure nothing
// Listen created is left behind.
func Listen(ctx context.Context, name string, opts ...Option) (*Listener, error) {
	o := buildOptions(opts)
	lay, err := resolve(name, o)
	if err != nil {
		return nil, err
	}
	switch o.transport {
	case TransportUnix:
		return listenUnix(ctx, lay, o)
	case TransportTCP:
		return listenTCP(ctx, lay, o)
	}
	return nil, fmt.Errorf("ipc: listen %s: unknown transport %q", name, o.transport)
}

func newListener(lay Layout, raw net.Listener, o *options, check func(net.Conn) (net.Conn, error), release func() error, gate *checkGate) *Listener {
	l := &Listener{
		layout:    lay,
		raw:       raw,
		check:     check,
		opts:      o,
		release:   release,
		gate:      gate,
		ready:     make(chan net.Conn),
		stopping:  make(chan struct{}),
		closed:    make(chan struct{}),
		acceptErr: make(chan error, 1),
	}
	l.wg.Add(1)
	go l.acceptLoop()
	return l
}

func (l *Listener) acceptLoop() {
	defer l.wg.Done()
	var backoff time.Duration
	for {
		c, err := l.raw.Accept()
		if err != nil {
			select {
			case <-l.stopping:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporaryAccept(err) {
				// EMFILE and friends: back off instead of spinning.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			l.acceptErr <- err
			return
		}
		backoff = 0
		var slot chan struct{}
		if l.gate != nil {
			if slot = l.gate.admit(c); slot == nil {
				c.Close() // closed unread: nothing to lose
				if l.opts.onReject != nil {
					l.opts.onReject(errGateFull(c, cap(l.gate.slots)))
				}
				continue
			}
		}
		l.wg.Add(1)
		go l.vet(c, slot)
	}
}

// vet checks c and hands it to Accept; slot (if any) is the gate's
// semaphore it holds until the check is done.
func (l *Listener) vet(c net.Conn, slot chan struct{}) {
	defer l.wg.Done()
	ok, err := l.check(c)
	if slot != nil {
		<-slot
	}
	if err != nil {
		c.Close() // rejected: nothing was read from it but the handshake
		if l.opts.onReject != nil {
			l.opts.onReject(err)
		}
		return
	}
	select {
	case l.ready <- ok:
	case <-l.stopping:
		ok.Close()
	}
}

// Accept waits for the next connection that passed the checks.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.closed:
		return nil, fmt.Errorf("ipc: accept %s: %w", l.Addr(), net.ErrClosed)
	case err := <-l.acceptErr:
		l.acceptErr <- err // keep reporting it
		return nil, fmt.Errorf("ipc: accept %s: %w", l.Addr(), err)
	}
}

// Close stops accepting, closes connections still being checked, and
// removes what Listen created. Accept reports the listener closed only once
// that clean-up is done. Connections already returned by Accept are the
// caller's. Calling Close again returns the first result.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		close(l.stopping)
		err := l.raw.Close()
		l.wg.Wait()
		l.closeErr = errors.Join(err, l.release())
		close(l.closed)
	})
	return l.closeErr
}

// Addr is the listening address: the socket path or 127.0.0.1:port.
func (l *Listener) Addr() net.Addr { return l.raw.Addr() }

// Layout is where the endpoint lives.
func (l *Listener) Layout() Layout { return l.layout }
