package ipc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// MaxLine is the longest protocol line accepted, newline excluded: 1 MiB.
const MaxLine = 1 << 20

// DefaultIdleTimeout is how long Serve waits for the next request line.
const DefaultIdleTimeout = 30 * time.Second

// errLineTooLong is returned by readLine when a line exceeds its limit.
var errLineTooLong = errors.New("line too long")

// readLine reads one newline-terminated line of at most max bytes (newline
// excluded) and returns it without the newline. A line longer than max
// returns errLineTooLong: the stream cannot be resynchronised cheaply, so
// callers close the connection. EOF in the middle of a line is
// io.ErrUnexpectedEOF.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		if len(line)+len(frag) > max+1 || (err == bufio.ErrBufferFull && len(line)+len(frag) > max) {
			return nil, fmt.Errorf("%w: over %d bytes", errLineTooLong, max)
		}
		line = append(line, frag...)
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && len(line) > 0:
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, err
		}
	}
}

// Handler answers one request. req is a JSON object (validated). The reply
// is marshalled as JSON; it should be an object. A returned error is sent as
// {"error":"..."}. Handlers run concurrently, one goroutine per connection.
type Handler interface {
	ServeIPC(ctx context.Context, req json.RawMessage) (any, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, req json.RawMessage) (any, error)

// ServeIPC calls f.
func (f HandlerFunc) ServeIPC(ctx context.Context, req json.RawMessage) (any, error) {
	return f(ctx, req)
}

// Server serves the newline-delimited JSON protocol. The zero value plus a
// Handler is ready to use.
type Server struct {
	// Handler answers everything but {"meta":"ping"}. Nil answers
	// {"error":"no handler"}.
	Handler Handler
	// IdleTimeout is the read deadline for each request line
	// (DefaultIdleTimeout when zero). An idle connection is closed.
	IdleTimeout time.Duration
	// Logf, when set, receives one line per dropped connection.
	Logf func(format string, args ...any)
}

// Serve is (&Server{Handler: h}).Serve(ctx, ln).
func Serve(ctx context.Context, ln net.Listener, h Handler) error {
	return (&Server{Handler: h}).Serve(ctx, ln)
}

// Serve accepts connections from ln and serves each in its own goroutine
// until ctx is done or Accept fails. When ctx is done it closes ln (for a
// *Listener that removes the endpoint) and every open connection, waits for
// the handlers and returns nil. An Accept failure is returned after the same
// clean-up.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	var (
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
		wg    sync.WaitGroup
	)
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var acceptErr error
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() == nil {
				acceptErr = err
			}
			break
		}
		mu.Lock()
		conns[c] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConn(ctx, c)
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
		}()
	}
	ln.Close()
	mu.Lock()
	for c := range conns {
		c.Close()
	}
	mu.Unlock()
	wg.Wait()
	return acceptErr
}

type errorReply struct {
	Error string `json:"error"`
}

type pingReply struct {
	Pong bool `json:"pong"`
	PID  int  `json:"pid"`
}

func (s *Server) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}

// pingRequest is the canonical ping; pingReplyLine is this process's answer
// to it, rendered once.
var (
	pingRequest   = []byte(`{"meta":"ping"}`)
	pingReplyLine = []byte(`{"pong":true,"pid":` + strconv.Itoa(os.Getpid()) + "}\n")
)

func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	idle := s.IdleTimeout
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	r := bufio.NewReaderSize(c, 4096)
	for {
		// One deadline bounds the wait for the request and the write of
		// its reply: an idle client, or one that stops reading, is dropped.
		if err := c.SetDeadline(time.Now().Add(idle)); err != nil {
			return
		}
		line, err := readLine(r, MaxLine)
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				s.reply(c, errorReply{Error: "request line exceeds " + strconv.Itoa(MaxLine) + " bytes"})
			}
			if !errors.Is(err, io.EOF) {
				s.logf("ipc: conn %s: %v", c.RemoteAddr(), err)
			}
			return
		}
		if bytes.Equal(line, pingRequest) {
			// The common case, without a JSON round trip.
			if _, err := c.Write(pingReplyLine); err != nil {
				return
			}
			continue
		}
		if !s.reply(c, s.handle(ctx, line)) {
			return
		}
	}
}

func (s *Server) handle(ctx context.Context, line []byte) any {
	req := bytes.TrimSpace(line)
	var m struct {
		Meta *string `json:"meta"`
	}
	// Unmarshal validates the whole line; an object is checked by its
	// first byte (Unmarshal into a struct accepts null).
	if len(req) == 0 || req[0] != '{' || json.Unmarshal(req, &m) != nil {
		return errorReply{Error: "request is not a JSON object"}
	}
	if m.Meta != nil && *m.Meta == "ping" {
		return pingReply{Pong: true, PID: os.Getpid()}
	}
	if s.Handler == nil {
		return errorReply{Error: "no handler"}
	}
	resp, err := s.Handler.ServeIPC(ctx, json.RawMessage(req))
	if err != nil {
		return errorReply{Error: err.Error()}
	}
	return resp
}

// reply writes one line within the deadline serveConn set; false means the
// connection is done.
func (s *Server) reply(c net.Conn, v any) bool {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(errorReply{Error: "reply not encodable: " + err.Error()})
	}
	_, err = c.Write(append(b, '\n'))
	return err == nil
}

// Conn is a client connection to an endpoint, returned by Dial after the
// peer checks or the handshake passed. Requests on one Conn are serialised;
// it is safe for concurrent use. The caller closes it.
type Conn struct {
	c      net.Conn
	r      *bufio.Reader
	mu     sync.Mutex
	layout Layout
}

// RemoteError is an {"error":"..."} reply.
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return "ipc: remote error: " + e.Msg }

// Request sends req (marshalled as JSON; it must encode to an object) and
// decodes the reply line into resp (which may be nil). An {"error":...}
// reply is returned as *RemoteError. The context's deadline bounds the whole
// exchange.
func (c *Conn) Request(ctx context.Context, req, resp any) error {
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("ipc: request: %w", err)
	}
	if len(b) == 0 || b[0] != '{' {
		return fmt.Errorf("ipc: request: %T does not encode to a JSON object", req)
	}
	line, err := c.roundTrip(ctx, b)
	if err != nil {
		return err
	}
	var e struct {
		Error *string `json:"error"`
	}
	if err := json.Unmarshal(line, &e); err != nil {
		return fmt.Errorf("ipc: reply from %s: %w: %v", c.c.RemoteAddr(), ErrBadReply, err)
	}
	if e.Error != nil {
		return &RemoteError{Msg: *e.Error}
	}
	if resp == nil {
		return nil
	}
	if err := json.Unmarshal(line, resp); err != nil {
		return fmt.Errorf("ipc: reply from %s: %w: %v", c.c.RemoteAddr(), ErrBadReply, err)
	}
	return nil
}

func (c *Conn) roundTrip(ctx context.Context, b []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Time{}
	}
	if err := c.c.SetDeadline(dl); err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { c.c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := c.c.Write(append(b[:len(b):len(b)], '\n')); err != nil {
		return nil, fmt.Errorf("ipc: write to %s: %w", c.c.RemoteAddr(), ctxErr(ctx, err))
	}
	line, err := readLine(c.r, MaxLine)
	if err != nil {
		return nil, fmt.Errorf("ipc: read from %s: %w", c.c.RemoteAddr(), ctxErr(ctx, err))
	}
	return line, nil
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return errors.Join(ctx.Err(), err)
	}
	return err
}

// Ping sends {"meta":"ping"} and validates the reply (see Identify).
func (c *Conn) Ping(ctx context.Context) error {
	_, err := c.Identify(ctx)
	return err
}

// Identify pings and returns the daemon's pid. The reply must be an object
// with "pong" exactly true and "pid" an integer (not a bool, not a float)
// with 0 < pid < 2^31; anything else wraps ErrBadReply.
func (c *Conn) Identify(ctx context.Context) (int, error) {
	line, err := c.roundTrip(ctx, pingRequest)
	if err != nil {
		return 0, err
	}
	pid, err := ParsePingReply(line)
	if err != nil {
		return 0, fmt.Errorf("ipc: ping %s: %w", c.c.RemoteAddr(), err)
	}
	return pid, nil
}

// ParsePingReply validates a ping reply line and returns the pid.
func ParsePingReply(line []byte) (int, error) {
	if pid, ok := parseCanonicalPing(line); ok {
		return pid, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(line, &m); err != nil || m == nil {
		return 0, fmt.Errorf("%w: not a JSON object: %.80q", ErrBadReply, line)
	}
	if string(bytes.TrimSpace(m["pong"])) != "true" {
		return 0, fmt.Errorf("%w: \"pong\" is %s, want true", ErrBadReply, orMissing(m["pong"]))
	}
	raw := string(bytes.TrimSpace(m["pid"]))
	n, err := strconv.ParseInt(raw, 10, 64) // rejects true, 1.0, 1e3, "1"
	if err != nil || n <= 0 || n >= math.MaxInt32+1 {
		return 0, fmt.Errorf("%w: \"pid\" is %s, want an integer in (0, 2^31)", ErrBadReply, orMissing(m["pid"]))
	}
	return int(n), nil
}

// parseCanonicalPing accepts exactly {"pong":true,"pid":DIGITS} (what
// Serve sends) with a valid pid, without a JSON decoder. Anything else,
// valid or not, is left to the full check.
func parseCanonicalPing(line []byte) (int, bool) {
	const prefix = `{"pong":true,"pid":`
	if len(line) < len(prefix)+2 || string(line[:len(prefix)]) != prefix || line[len(line)-1] != '}' {
		return 0, false
	}
	digits := line[len(prefix) : len(line)-1]
	if len(digits) == 0 || len(digits) > 10 || digits[0] == '0' {
		return 0, false
	}
	n := 0
	for _, d := range digits {
		if d < '0' || d > '9' {
			return 0, false
		}
		n = n*10 + int(d-'0')
	}
	if n <= 0 || n > math.MaxInt32 {
		return 0, false
	}
	return n, true
}

func orMissing(b json.RawMessage) string {
	if b == nil {
		return "missing"
	}
	return fmt.Sprintf("%.40s", b)
}

// NetConn is the underlying connection.
func (c *Conn) NetConn() net.Conn { return c.c }

// Layout is where the endpoint dialled lives.
func (c *Conn) Layout() Layout { return c.layout }

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }

func isTemporaryAccept(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
}
