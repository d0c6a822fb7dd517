package ipc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func listenTCPForTest(t testing.TB, name string, opts ...Option) (*Listener, func() int) {
	t.Helper()
	root := shortRoot(t, 0o1777)
	ln, err := Listen(context.Background(), name, append([]Option{WithRoot(root), WithTransport(TransportTCP)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln, pingServe(t, ln)
}

func portFileOf(t testing.TB, ln *Listener) PortFile {
	t.Helper()
	b, err := readPortFile(ln.Layout().Port)
	if err != nil {
		t.Fatal(err)
	}
	pf, err := ParsePortFile(b)
	if err != nil {
		t.Fatal(err)
	}
	return pf
}

// Point 10: loopback only; the port file names our port and pid.
func TestTCPLoopbackAndPortFile(t *testing.T) {
	ln, _ := listenTCPForTest(t, "tcp")
	addr := ln.Addr().(*net.TCPAddr)
	if !addr.IP.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("listening on %s, want 127.0.0.1", addr)
	}
	pf := portFileOf(t, ln)
	if pf.Port != addr.Port || pf.PID != os.Getpid() {
		t.Errorf("port file %+v, want port %d pid %d", pf, addr.Port, os.Getpid())
	}
	root := ln.Layout().Root
	if pid := mustPing(t, "tcp", WithRoot(root), WithTransport(TransportTCP)); pid != os.Getpid() {
		t.Errorf("pid %d", pid)
	}
}

func TestPortFileReplacedAtomically(t *testing.T) {
	root := shortRoot(t, 0o1777)
	lay, _ := Resolve("atomic", WithRoot(root), WithTransport(TransportTCP))
	stop := make(chan struct{})
	type result struct{ parsed, partial int }
	res := make(chan result, 1)
	go func() {
		var r result
		for {
			select {
			case <-stop:
				res <- r
				return
			default:
			}
			b, err := readPortFile(lay.Port) // as a client reads it
			if err != nil {
				continue // between restarts there is no file: fine
			}
			if _, err := ParsePortFile(b); err != nil {
				r.partial++
			} else {
				r.parsed++
			}
		}
	}()
	// 100 daemon restarts, each writing a fresh port file...
	for i := 0; i < 100; i++ {
		ln, err := Listen(context.Background(), "atomic", WithRoot(root), WithTransport(TransportTCP))
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Microsecond)
		must(t, ln.Close())
	}
	// ...and 100 rewrites over an existing file, where a non-atomic write
	// would show a truncated or half-written file.
	ep, err := acquireEndpoint(lay)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		data := []byte(`{"port":` + strconv.Itoa(1000+i) + `,"pid":` + strconv.Itoa(os.Getpid()) + `,"token":"` + strings.Repeat("ab", secretLen) + `"}`)
		must(t, ep.writePortFile(data))
	}
	must(t, ep.release(func([]byte) bool { return true }))
	close(stop)
	r := <-res
	if r.partial != 0 {
		t.Errorf("reader parsed %d partial port files", r.partial)
	}
	if r.parsed == 0 {
		t.Errorf("reader never saw a port file: the test observed nothing")
	}
	t.Logf("reader parsed %d complete port files, 0 partial", r.parsed)
}

// Point 11: a wrong secret fails on both sides; nothing is handled.
func TestTCPWrongSecret(t *testing.T) {
	rejects := make(chan error, 4)
	ln, handled := listenTCPForTest(t, "auth", WithOnReject(func(err error) { rejects <- err }))
	pf := portFileOf(t, ln)
	wrong := bytes.Repeat([]byte{7}, secretLen)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := dialTCP(ctx, "127.0.0.1:"+strconv.Itoa(pf.Port), "auth", wrong, buildOptions(nil))
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("client with a wrong secret: %v, want ErrAuth", err)
	}
	select {
	case err := <-rejects:
		if !errors.Is(err, ErrAuth) {
			t.Errorf("server side: %v, want ErrAuth", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server reported no rejection")
	}
	// A raw client that skips the handshake and sends a request.
	c, err := net.Dial("tcp", ln.Addr().String())
	must(t, err)
	c.Write([]byte(`{"meta":"ping","token":"` + pf.Token + `"}` + "\n" + `{"do":"x"}` + "\n"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.ReadAll(c)
	c.Close()
	select {
	case err := <-rejects:
		if !errors.Is(err, ErrAuth) {
			t.Errorf("server side: %v, want ErrAuth", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server reported no rejection of the raw client")
	}
	if n := handled(); n != 0 {
		t.Errorf("%d requests handled from unauthenticated clients", n)
	}
}

// recorder listens on a loopback port, records every byte each client
// sends, and either relays to target (when set) or answers a fake
// challenge.
type recorder struct {
	ln     net.Listener
	mu     sync.Mutex
	got    bytes.Buffer
	target string
}

func newRecorder(t testing.TB, target string) *recorder {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	must(t, err)
	r := &recorder{ln: l, target: target}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go r.serve(c)
		}
	}()
	return r
}

func (r *recorder) serve(c net.Conn) {
	defer c.Close()
	var up net.Conn
	if r.target != "" {
		var err error
		if up, err = net.Dial("tcp", r.target); err != nil {
			return
		}
		defer up.Close()
		go io.Copy(c, up)
	}
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			r.mu.Lock()
			r.got.Write(buf[:n])
			r.mu.Unlock()
			if up != nil {
				up.Write(buf[:n])
			} else {
				c.Write([]byte(`{"nonce":"` + strings.Repeat("00", nonceLen) + `","proof":"` + strings.Repeat("11", 32) + `"}` + "\n"))
			}
		}
		if err != nil {
			return
		}
	}
}

func (r *recorder) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.got.Bytes())
}

func (r *recorder) port() int { return r.ln.Addr().(*net.TCPAddr).Port }

func TestSquatterLearnsNothing(t *testing.T) {
	rejects := make(chan error, 8)
	ln, handled := listenTCPForTest(t, "sq", WithOnReject(func(err error) { rejects <- err }))
	pf := portFileOf(t, ln)
	secret, _ := hex.DecodeString(pf.Token)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, c := range []struct {
		name   string
		target string
	}{
		{"squatter answering itself", ""},
		{"relay to the real daemon", ln.Addr().String()},
	} {
		t.Run(c.name, func(t *testing.T) {
			sq := newRecorder(t, c.target)
			// The client read a port file naming the squatter's port.
			_, err := dialTCP(ctx, "127.0.0.1:"+strconv.Itoa(sq.port()), "sq", secret, buildOptions(nil))
			if !errors.Is(err, ErrAuth) {
				t.Fatalf("client through %s: %v, want ErrAuth", c.name, err)
			}
			rec := sq.bytes()
			if bytes.Contains(rec, []byte(pf.Token)) || bytes.Contains(rec, secret) || bytes.Contains(rec, []byte(`"proof"`)) {
				t.Fatalf("the client revealed the secret or a proof: %q", rec)
			}
			if !bytes.Contains(rec, []byte(`"hello"`)) {
				t.Fatalf("recorded %q: the squatter saw no hello, the test observed nothing", rec)
			}
			// Replaying everything the squatter saw to the real server.
			rc, err := net.Dial("tcp", ln.Addr().String())
			must(t, err)
			rc.Write(rec)
			rc.Write([]byte(`{"do":"replayed"}` + "\n"))
			rc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			io.ReadAll(rc)
			rc.Close()
		})
	}
	// A recorded successful transcript, replayed, does not authenticate.
	real, err := net.Dial("tcp", ln.Addr().String())
	must(t, err)
	tap := &tapConn{Conn: real}
	must(t, clientHandshake(tap, bufio.NewReader(tap), secret, "sq", ln.Addr().(*net.TCPAddr).Port, 5*time.Second))
	tap.Write([]byte(`{"do":"original"}` + "\n"))
	buf := make([]byte, 256)
	real.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := real.Read(buf); err != nil || !bytes.Contains(buf[:n], []byte(`"ok":true`)) {
		t.Fatalf("original request: %q %v", buf[:n], err)
	}
	real.Close()
	rc, err := net.Dial("tcp", ln.Addr().String())
	must(t, err)
	rc.Write(tap.sent.Bytes())
	rc.SetReadDeadline(time.Now().Add(5 * time.Second))
	reply, _ := io.ReadAll(rc)
	rc.Close()
	if bytes.Contains(reply, []byte(`{"ok":true}`)) {
		t.Errorf("replayed transcript was answered: %q", reply)
	}
	deadline := time.After(5 * time.Second)
	for got := 0; got < 3; got++ { // squatter replay, relay replay, transcript replay
		select {
		case err := <-rejects:
			if !errors.Is(err, ErrAuth) {
				t.Errorf("rejection %v, want ErrAuth", err)
			}
		case <-deadline:
			t.Fatalf("only %d replays were rejected", got)
		}
	}
	if n := handled(); n != 1 {
		t.Errorf("handler saw %d requests, want 1 (the original only)", n)
	}
}

// tapConn records what is written through it.
type tapConn struct {
	net.Conn
	sent bytes.Buffer
}

func (c *tapConn) Write(b []byte) (int, error) {
	c.sent.Write(b)
	return c.Conn.Write(b)
}

func TestParsePortFile(t *testing.T) {
	tok := strings.Repeat("ab", secretLen)
	for _, c := range []struct {
		in string
		ok bool
	}{
		{`{"port":80,"pid":1,"token":"` + tok + `"}`, true},
		{`{"port":0,"pid":1,"token":"` + tok + `"}`, false},
		{`{"port":70000,"pid":1,"token":"` + tok + `"}`, false},
		{`{"port":80,"pid":0,"token":"` + tok + `"}`, false},
		{`{"port":80,"pid":1,"token":"abc"}`, false},
		{`{"port":80,"pid":1,"tok`, false},
		{``, false},
	} {
		_, err := ParsePortFile([]byte(c.in))
		if (err == nil) != c.ok {
			t.Errorf("ParsePortFile(%q): %v, want ok=%v", c.in, err, c.ok)
		}
	}
}

// A port file naming a port nobody listens on is ErrStale, on every OS
// (Windows reports WSAECONNREFUSED, not ECONNREFUSED).
func TestTCPDeadDaemonIsStale(t *testing.T) {
	root := shortRoot(t, 0o1777)
	lay, err := Resolve("dead", WithRoot(root), WithTransport(TransportTCP))
	must(t, err)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	must(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ep, err := acquireEndpoint(lay)
	must(t, err)
	defer ep.release(func([]byte) bool { return true })
	must(t, ep.writePortFile([]byte(`{"port":`+strconv.Itoa(port)+`,"pid":`+strconv.Itoa(os.Getpid())+`,"token":"`+strings.Repeat("ab", secretLen)+`"}`)))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = Dial(ctx, "dead", WithRoot(root), WithTransport(TransportTCP))
	if !errors.Is(err, ErrStale) {
		t.Fatalf("Dial to a port file naming closed port %d: %v, want ErrStale", port, err)
	}
}

// firstRejection is a WithOnReject option that keeps the listener's first
// rejection, and the channel it arrives on.
func firstRejection() (Option, <-chan error) {
	rejected := make(chan error, 1)
	return WithOnReject(func(err error) {
		select {
		case rejected <- err:
		default:
		}
	}), rejected
}

// dialListener connects to ln's address without a handshake; the test's
// cleanup closes the connection.
func dialListener(t testing.TB, ln *Listener) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// A connection that never sends its hello is closed once the short hello
// deadline passes, even when the handshake timeout is an hour, so that it
// holds a handshake slot only briefly.
func TestTCPSilentConnectionClosed(t *testing.T) {
	onReject, rejected := firstRejection()
	ln, _ := listenTCPForTest(t, "silent", WithHandshakeTimeout(time.Hour), onReject)
	c := dialListener(t, ln)
	c.SetReadDeadline(time.Now().Add(time.Minute)) // a bound for a hung test, not a measurement
	n, err := c.Read(make([]byte, 1))
	if n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("silent connection: read %d bytes, %v; want it closed by the server", n, err)
	}
	if err := <-rejected; !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "hello") {
		t.Errorf("rejection %v, want ErrAuth naming the hello", err)
	}
}

// A browser's request to the port (an HTTP POST a web page makes, with a
// hello as its body) is closed at its first line, and nothing is sent:
// the server never reads on to the body.
func TestTCPBrowserRequestClosed(t *testing.T) {
	onReject, rejected := firstRejection()
	ln, _ := listenTCPForTest(t, "browser", onReject)
	c := dialListener(t, ln)
	body := `{"hello":"` + handshakeVersion + `","nonce":"` + strings.Repeat("ab", nonceLen) + `"}` + "\n" + `{"meta":"ping"}` + "\n"
	req := "POST / HTTP/1.1\r\nHost: " + ln.Addr().String() + "\r\nOrigin: http://attacker.example\r\nContent-Type: text/plain;charset=UTF-8\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(time.Minute)) // a bound for a hung test, not a measurement
	got, err := io.ReadAll(c)
	if len(got) > 0 || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a browser's POST got %q (%v); want a close and nothing sent", got, err)
	}
	if err := <-rejected; !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "not a bh-ipc/1 hello") || !strings.Contains(err.Error(), "POST / HTTP/1.1") {
		t.Errorf("rejection %v, want ErrAuth naming the request line that is not a hello", err)
	}
}
