package ipc

import (
	"bufio"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// The handshake, newline-delimited JSON like the protocol, server proves
// first so a client never reveals anything derived from the secret to a
// process that cannot prove it holds the secret too:
//
//	C→S {"hello":"bh-ipc/1","nonce":Nc}
//	S→C {"nonce":Ns,"proof":HMAC(K, "bh-ipc/1 server" | name | port | Nc | Ns)}
//	C→S {"proof":HMAC(K, "bh-ipc/1 client" | name | port | Ns | Nc)}
//	S→C {"ok":true}
//
// Nonces are 32 random bytes. The port is the server's own listening port as
// each side knows it (the client: the port it dialled), so a relay on another
// port (a squatter forwarding to the real daemon) cannot reuse the server's
// proof. A squatter on a stale port sees only Nc, which is random. Replaying
// a recorded client transcript fails because Ns is fresh. Proofs are
// compared with hmac.Equal (constant time).

// errClosedBeforeProof: the server closed the connection without a word,
// as a listener does with a connection it accepts while a flood holds every
// handshake slot (checkGate); dialTCP tries again.
var errClosedBeforeProof = errors.New("the server closed the connection before sending its proof")

const (
	handshakeVersion = "bh-ipc/1"
	nonceLen         = 32
	secretLen        = 32
	maxHandshakeLine = 512
)

type helloMsg struct {
	Hello string `json:"hello"`
	Nonce string `json:"nonce"`
}

type challengeMsg struct {
	Nonce string `json:"nonce"`
	Proof string `json:"proof"`
}

type proofMsg struct {
	Proof string `json:"proof"`
}

type okMsg struct {
	OK bool `json:"ok"`
}

func proof(secret []byte, role, name string, port int, first, second []byte) []byte {
	m := hmac.New(sha256.New, secret)
	io.WriteString(m, handshakeVersion+" "+role+"\x00"+name+"\x00"+strconv.Itoa(port)+"\x00")
	m.Write(first)
	m.Write(second)
	return m.Sum(nil)
}

func newNonce() ([]byte, error) {
	b := make([]byte, nonceLen)
	_, err := rand.Read(b)
	return b, err
}

// readHandshakeLine reads one short handshake line from r. r may read
// ahead: whatever the peer sent after the handshake stays buffered in r and
// is handed on with the connection (bufferedConn, Conn.r).
func readHandshakeLine(r *bufio.Reader) ([]byte, error) {
	line, err := readLine(r, maxHandshakeLine)
	if err != nil {
		return nil, err
	}
	return line, nil
}

// bufferedConn is a net.Conn whose first bytes come from a reader that
// read ahead during the handshake.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

func writeJSONLine(c net.Conn, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = c.Write(append(b, '\n'))
	return err
}

func decodeHex(s string, n int) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != n {
		return nil, fmt.Errorf("want %d hex-encoded bytes", n)
	}
	return b, nil
}

// serverHandshake authenticates a client on c and returns the connection
// to serve (bytes the client sent after its proof are kept). Every failure
// wraps ErrAuth.
func serverHandshake(c net.Conn, secret []byte, name string, port int, timeout time.Duration) (net.Conn, error) {
	// A client sends its hello as soon as it has connected: a connection
	// still silent after helloTimeout is dropped, so that it holds a slot
	// of the listener's gate (checkGate) for no longer than that.
	start := time.Now()
	if err := c.SetDeadline(start.Add(min(timeout, helloTimeout))); err != nil {
		return nil, err
	}
	r := bufio.NewReaderSize(c, 4096)
	fail := func(step string, err error) (net.Conn, error) {
		return nil, fmt.Errorf("ipc: handshake from %s: %w: %s: %v", c.RemoteAddr(), ErrAuth, step, err)
	}
	line, err := readHandshakeLine(r)
	if err != nil {
		return fail("reading hello", err)
	}
	if err := c.SetDeadline(start.Add(timeout)); err != nil {
		return nil, err
	}
	// The first line is the hello or the connection is closed: nothing
	// after a line that is not is ever read. A web page can make the
	// user's browser POST to this port with a hello as the body, but the
	// browser's request line comes first, so the body is never reached
	// (Redis before 3.2.7 read on past the lines it could not parse and
	// ran the body's commands); and a hello alone gets a page nothing it
	// can use, the proof needing the secret.
	var h helloMsg
	if err := json.Unmarshal(line, &h); err != nil || h.Hello != handshakeVersion {
		return fail("hello", fmt.Errorf("not a %s hello: %.60q", handshakeVersion, line))
	}
	nc, err := decodeHex(h.Nonce, nonceLen)
	if err != nil {
		return fail("client nonce", err)
	}
	ns, err := newNonce()
	if err != nil {
		return fail("server nonce", err)
	}
	if err := writeJSONLine(c, challengeMsg{
		Nonce: hex.EncodeToString(ns),
		Proof: hex.EncodeToString(proof(secret, "server", name, port, nc, ns)),
	}); err != nil {
		return fail("sending challenge", err)
	}
	line, err = readHandshakeLine(r)
	if err != nil {
		return fail("reading client proof", err)
	}
	var p proofMsg
	if err := json.Unmarshal(line, &p); err != nil {
		return fail("client proof", fmt.Errorf("malformed: %.60q", line))
	}
	got, err := decodeHex(p.Proof, sha256.Size)
	if err != nil {
		return fail("client proof", err)
	}
	if !hmac.Equal(got, proof(secret, "client", name, port, ns, nc)) {
		return fail("client proof", fmt.Errorf("does not match: wrong secret or replayed transcript"))
	}
	if err := writeJSONLine(c, okMsg{OK: true}); err != nil {
		return fail("sending ok", err)
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	if r.Buffered() == 0 {
		return c, nil
	}
	return &bufferedConn{Conn: c, r: r}, nil
}

// clientHandshake authenticates the server on c, then itself, reading
// through r (which the Conn keeps using). Every failure wraps ErrAuth. When
// the server's proof is wrong the client sends nothing more.
func clientHandshake(c net.Conn, r *bufio.Reader, secret []byte, name string, port int, timeout time.Duration) error {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	fail := func(step string, err error) error {
		return fmt.Errorf("ipc: handshake with %s: %w: %s: %v", c.RemoteAddr(), ErrAuth, step, err)
	}
	nc, err := newNonce()
	if err != nil {
		return fail("client nonce", err)
	}
	if err := writeJSONLine(c, helloMsg{Hello: handshakeVersion, Nonce: hex.EncodeToString(nc)}); err != nil {
		return fail("sending hello", err)
	}
	line, err := readHandshakeLine(r)
	if err != nil {
		if errors.Is(err, io.EOF) || isConnReset(err) {
			return fmt.Errorf("ipc: handshake with %s: %w: %w", c.RemoteAddr(), ErrAuth, errClosedBeforeProof)
		}
		return fail("reading server proof", err)
	}
	var ch challengeMsg
	if err := json.Unmarshal(line, &ch); err != nil {
		return fail("server proof", fmt.Errorf("malformed: %.60q", line))
	}
	ns, err := decodeHex(ch.Nonce, nonceLen)
	if err != nil {
		return fail("server nonce", err)
	}
	got, err := decodeHex(ch.Proof, sha256.Size)
	if err != nil {
		return fail("server proof", err)
	}
	if !hmac.Equal(got, proof(secret, "server", name, port, nc, ns)) {
		return fail("server proof", fmt.Errorf("does not match: the listener on port %d does not hold the secret (a stale port file?)", port))
	}
	if err := writeJSONLine(c, proofMsg{Proof: hex.EncodeToString(proof(secret, "client", name, port, ns, nc))}); err != nil {
		return fail("sending proof", err)
	}
	line, err = readHandshakeLine(r)
	if err != nil {
		return fail("reading ok", err)
	}
	var ok okMsg
	if err := json.Unmarshal(line, &ok); err != nil || !ok.OK {
		return fail("server verdict", fmt.Errorf("%.60q", line))
	}
	return c.SetDeadline(time.Time{})
}
