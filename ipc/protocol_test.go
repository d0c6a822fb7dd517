package ipc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/org/bh-ipc-check/internal/busydial"
)

// serveTransport starts a listener on tr with a Server and returns how to
// dial it raw (no handshake: unix only) and with the library.
func serveWith(t testing.TB, tr Transport, s *Server) (*Listener, string) {
	t.Helper()
	root := shortRoot(t, 0o1777)
	ln, err := Listen(context.Background(), "proto", WithRoot(root), WithTransport(tr))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln, root
}

func echoHandler() Handler {
	return HandlerFunc(func(ctx context.Context, req json.RawMessage) (any, error) {
		var m map[string]any
		json.Unmarshal(req, &m)
		if m["fail"] != nil {
			return nil, errors.New("asked to fail")
		}
		return map[string]any{"echo": m}, nil
	})
}

// Point 13: malformed input gets an error reply or a close, and the server
// keeps serving others.
func TestMalformedInput(t *testing.T) {
	if DefaultTransport() != TransportUnix {
		t.Skip("raw writes need the unix transport (no handshake); the tcp path is covered by TestTCPWrongSecret")
	}
	ln, root := serveWith(t, TransportUnix, &Server{Handler: echoHandler()})
	sock := ln.Layout().Sock
	cases := []struct {
		name      string
		send      []byte
		halfClose bool
	}{
		{"not JSON", []byte("hello there\n"), false},
		{"JSON array", []byte("[1,2,3]\n"), false},
		{"JSON number", []byte("42\n"), false},
		{"JSON string", []byte(`"ping"` + "\n"), false},
		{"truncated object", []byte(`{"meta":` + "\n"), false},
		{"2 MiB line", append(bytes.Repeat([]byte("a"), 2<<20), '\n'), false},
		{"2 MiB object", append(append([]byte(`{"x":"`), bytes.Repeat([]byte("a"), 2<<20)...), []byte("\"}\n")...), false},
		{"half a line then close", []byte(`{"meta":"pi`), true},
		{"binary garbage", []byte("\x00\xff\xfe\x01\x02\n\x80\x81\n"), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.Dial("unix", sock)
			must(t, err)
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			go func() {
				conn.Write(c.send)
				if c.halfClose {
					conn.(*net.UnixConn).CloseWrite()
				}
			}()
			r := bufio.NewReader(conn)
			line, err := r.ReadBytes('\n')
			switch {
			case err == nil:
				var e errorReply
				if json.Unmarshal(line, &e) != nil || e.Error == "" {
					t.Errorf("reply %q is not an error reply", line)
				}
			case errors.Is(err, io.EOF) || closedByPeer(err):
				// closed: acceptable
			default:
				t.Errorf("neither a reply nor a close: %v", err)
			}
			// Others are still served.
			mustPing(t, "proto", WithRoot(root))
		})
	}
}

func closedByPeer(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe"))
}

func TestRequestAndRemoteError(t *testing.T) {
	for _, tr := range []Transport{TransportUnix, TransportTCP} {
		if tr == TransportUnix && DefaultTransport() != TransportUnix {
			continue
		}
		t.Run(string(tr), func(t *testing.T) {
			_, root := serveWith(t, tr, &Server{Handler: echoHandler()})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := Dial(ctx, "proto", WithRoot(root), WithTransport(tr))
			must(t, err)
			defer c.Close()
			var resp struct {
				Echo map[string]any `json:"echo"`
			}
			must(t, c.Request(ctx, map[string]any{"a": 1.5}, &resp))
			if resp.Echo["a"] != 1.5 {
				t.Errorf("echo %v", resp.Echo)
			}
			var re *RemoteError
			if err := c.Request(ctx, map[string]any{"fail": true}, nil); !errors.As(err, &re) || re.Msg != "asked to fail" {
				t.Errorf("failing request: %v", err)
			}
			if err := c.Request(ctx, []int{1}, nil); err == nil {
				t.Error("a non-object request was sent")
			}
		})
	}
}

func TestIdleConnectionsDropped(t *testing.T) {
	if DefaultTransport() != TransportUnix {
		t.Skip("uses raw unix connections")
	}
	ln, root := serveWith(t, TransportUnix, &Server{IdleTimeout: 300 * time.Millisecond})
	conns := make([]net.Conn, 0, 500)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < 500; i++ {
		c, err := dialRetry(ln.Layout().Sock)
		if err != nil {
			t.Fatalf("idle conn %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	// 500 idle connections do not keep a new client from being served.
	mustPing(t, "proto", WithRoot(root))
	// And each idle one is dropped once the read deadline passes.
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Fatalf("idle conn %d: read %d bytes, err %v; want EOF (dropped by the server)", i, n, err)
		}
	}
}

func TestParsePingReply(t *testing.T) {
	for _, c := range []struct {
		in  string
		pid int
	}{
		{`{"pong":true,"pid":42}`, 42},
		{`{"pid":2147483647,"pong":true,"extra":1}`, 2147483647},
		{`{"pong":"true","pid":42}`, 0},
		{`{"pong":1,"pid":42}`, 0},
		{`{"pid":42}`, 0},
		{`{"pong":true,"pid":true}`, 0},
		{`{"pong":true,"pid":42.0}`, 0},
		{`{"pong":true,"pid":4.2e1}`, 0},
		{`{"pong":true,"pid":"42"}`, 0},
		{`{"pong":true,"pid":0}`, 0},
		{`{"pong":true,"pid":-1}`, 0},
		{`{"pong":true,"pid":2147483648}`, 0},
		{`{"pong":true}`, 0},
		{`[true,42]`, 0},
		{`null`, 0},
		{``, 0},
	} {
		pid, err := ParsePingReply([]byte(c.in))
		if c.pid != 0 {
			if err != nil || pid != c.pid {
				t.Errorf("ParsePingReply(%s) = %d, %v; want %d", c.in, pid, err, c.pid)
			}
		} else if !errors.Is(err, ErrBadReply) {
			t.Errorf("ParsePingReply(%s) = %d, %v; want ErrBadReply", c.in, pid, err)
		}
	}
}

func FuzzReadLine(f *testing.F) {
	for _, s := range []string{"", "\n", `{"meta":"ping"}` + "\n", "abc", "a\nb\n", strings.Repeat("x", 100) + "\n", "\x00\xff\n"} {
		f.Add([]byte(s), uint8(16))
	}
	f.Fuzz(func(t *testing.T, in []byte, max uint8) {
		limit := int(max%64) + 1
		r := bufio.NewReaderSize(bytes.NewReader(in), 16)
		consumed := 0
		for {
			line, err := readLine(r, limit)
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, errLineTooLong) {
					t.Fatalf("unexpected error %v", err)
				}
				if errors.Is(err, io.ErrUnexpectedEOF) && bytes.HasSuffix(in, []byte("\n")) {
					t.Fatalf("ErrUnexpectedEOF on input ending in a newline")
				}
				return
			}
			if len(line) > limit || bytes.IndexByte(line, '\n') >= 0 {
				t.Fatalf("line %q breaks the limit %d or holds a newline", line, limit)
			}
			if !bytes.Equal(in[consumed:consumed+len(line)], line) {
				t.Fatalf("line %q is not the input at %d", line, consumed)
			}
			consumed += len(line) + 1
		}
	})
}

func FuzzServerHandle(f *testing.F) {
	for _, s := range []string{`{"meta":"ping"}`, `{"x":1}`, `[1]`, `nul`, "\x00", `{"meta":5}`} {
		f.Add([]byte(s))
	}
	s := &Server{Handler: echoHandler()}
	f.Fuzz(func(t *testing.T, in []byte) {
		resp := s.handle(context.Background(), in)
		b, err := json.Marshal(resp)
		if err != nil || len(b) == 0 || b[0] != '{' {
			t.Fatalf("reply to %q is not an object: %s %v", in, b, err)
		}
	})
}

// dialRetry connects a raw client, waiting while the backlog is full: the
// test opens connections faster than the server accepts (500 back to back;
// macOS's somaxconn is 128).
func dialRetry(path string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return busydial.Dial(ctx, "unix", path, rawBusy(runtime.GOOS, path), nil)
}

// rawBusy says whether a failed connect to the socket at path means a full
// backlog on goos: EAGAIN on Linux; xnu refuses instead (ECONNREFUSED,
// unp_connect when sonewconn fails), so on darwin a refusal is busy while
// a socket is still at path (the test's listener is alive), as the suite's
// looksBusy judges.
func rawBusy(goos, path string) func(error) bool {
	return func(err error) bool {
		if errors.Is(err, syscall.EAGAIN) {
			return true
		}
		if goos == "darwin" && errors.Is(err, syscall.ECONNREFUSED) {
			fi, serr := os.Lstat(path)
			return serr == nil && fi.Mode()&os.ModeSocket != 0
		}
		return false
	}
}

func TestRawBusy(t *testing.T) {
	if DefaultTransport() != TransportUnix {
		t.Skip("judges unix socket connects")
	}
	root := shortRoot(t, 0o700)
	sock := filepath.Join(root, "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	refused := &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	again := &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.EAGAIN)}
	for _, c := range []struct {
		goos, path string
		err        error
		busy       bool
	}{
		{"linux", sock, again, true},
		{"linux", sock, refused, false},
		{"darwin", sock, again, true},
		{"darwin", sock, refused, true},                         // the backlog is full
		{"darwin", filepath.Join(root, "gone"), refused, false}, // nothing there: dead
		{"darwin", root, refused, false},                        // not a socket
	} {
		if got := rawBusy(c.goos, c.path)(c.err); got != c.busy {
			t.Errorf("%s, %s, %v: busy %v, want %v", c.goos, c.path, c.err, got, c.busy)
		}
	}
}
