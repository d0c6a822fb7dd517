package ipc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The real server refuses a client that completes the handshake with a
// bogus proof: it reports ErrAuth, never says ok, and handles nothing. (A
// client with a wrong secret stops at the server's proof, so only a client
// that goes on with a made-up proof tests the server's check.)
func TestTCPServerRefusesBogusClientProof(t *testing.T) {
	rejects := make(chan error, 4)
	ln, handled := listenTCPForTest(t, "bogus", WithOnReject(func(err error) { rejects <- err }))
	pf := portFileOf(t, ln)
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(pf.Port))
	must(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	must(t, writeJSONLine(c, helloMsg{Hello: handshakeVersion, Nonce: strings.Repeat("ab", nonceLen)}))
	line, err := r.ReadBytes('\n')
	must(t, err)
	var ch challengeMsg
	if err := json.Unmarshal(line, &ch); err != nil || ch.Proof == "" {
		t.Fatalf("challenge %q: %v", line, err)
	}
	// A proof of the right shape that the client cannot have computed,
	// then a request as if accepted.
	bogus := hex.EncodeToString(bytes.Repeat([]byte{0x5a}, 32))
	must(t, writeJSONLine(c, proofMsg{Proof: bogus}))
	c.Write([]byte(`{"meta":"ping"}` + "\n"))
	rest, _ := io.ReadAll(r)
	if len(rest) > 0 {
		t.Errorf("the server answered a client with a bogus proof: %q", rest)
	}
	select {
	case err := <-rejects:
		if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "client proof") {
			t.Errorf("server side: %v, want ErrAuth on the client proof", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the server reported no rejection of a bogus client proof")
	}
	if n := handled(); n != 0 {
		t.Errorf("%d requests handled from a client with a bogus proof", n)
	}
}

// A server that does not hold the secret and accepts any client proof is
// caught by the real client: Dial fails with ErrAuth and the client sends
// nothing after its hello (no proof, no request).
func TestTCPClientRefusesServerWithoutTheSecret(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	got := make(chan []byte, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		r := bufio.NewReader(c)
		var seen bytes.Buffer
		hello, _ := r.ReadBytes('\n')
		seen.Write(hello)
		var h helloMsg
		json.Unmarshal(hello, &h)
		nc, _ := hex.DecodeString(h.Nonce)
		ns := bytes.Repeat([]byte{1}, nonceLen)
		wrong := bytes.Repeat([]byte{7}, secretLen)
		writeJSONLine(c, challengeMsg{Nonce: hex.EncodeToString(ns), Proof: hex.EncodeToString(proof(wrong, "server", "nosecret", port, nc, ns))})
		// Whatever proof comes, it is accepted; every line is answered.
		for {
			line, err := r.ReadBytes('\n')
			seen.Write(line)
			if err != nil {
				break
			}
			c.Write([]byte(`{"ok":true}` + "\n" + `{"pong":true,"pid":1}` + "\n"))
		}
		got <- seen.Bytes()
	}()
	secret := bytes.Repeat([]byte{9}, secretLen)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := dialTCP(ctx, "127.0.0.1:"+strconv.Itoa(port), "nosecret", secret, buildOptions(nil))
	if err == nil {
		conn.Close()
		t.Fatal("the client accepted a server that does not hold the secret")
	}
	if !errors.Is(err, ErrAuth) {
		t.Errorf("dial: %v, want ErrAuth", err)
	}
	sent := <-got
	if lines := bytes.Count(sent, []byte("\n")); lines != 1 || !bytes.Contains(sent, []byte(`"hello"`)) {
		t.Errorf("the client sent %q to a server that failed its proof; want only the hello", sent)
	}
}
