package ipc

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// PortFile is the content of a TCP endpoint's port file.
type PortFile struct {
	Port  int    `json:"port"`
	PID   int    `json:"pid"`
	Token string `json:"token"`
}

// ParsePortFile decodes and validates a port file's bytes.
func ParsePortFile(b []byte) (PortFile, error) {
	var p PortFile
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("%w: port file: %v", ErrBadReply, err)
	}
	if p.Port <= 0 || p.Port > 65535 {
		return p, fmt.Errorf("%w: port file: port %d out of range", ErrBadReply, p.Port)
	}
	if p.PID <= 0 {
		return p, fmt.Errorf("%w: port file: pid %d", ErrBadReply, p.PID)
	}
	if _, err := decodeHex(p.Token, secretLen); err != nil {
		return p, fmt.Errorf("%w: port file: token: %v", ErrBadReply, err)
	}
	return p, nil
}

func listenTCP(ctx context.Context, lay Layout, o *options) (*Listener, error) {
	ep, err := acquireEndpoint(lay)
	if err != nil {
		return nil, err
	}
	ln, err := listenLoopback(ctx)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("ipc: listen 127.0.0.1: %w", err), ep.abort())
	}
	undo := func(err error) (*Listener, error) {
		return nil, errors.Join(err, ln.Close(), ep.abort())
	}
	secret := make([]byte, secretLen)
	if _, err := rand.Read(secret); err != nil {
		return undo(fmt.Errorf("ipc: secret: %w", err))
	}
	port := ln.Addr().(*net.TCPAddr).Port
	token := hex.EncodeToString(secret)
	data, err := json.Marshal(PortFile{Port: port, PID: os.Getpid(), Token: token})
	if err != nil {
		return undo(err)
	}
	// The port file is written to a fresh file only this user can read and
	// renamed over lay.Port, so a reader sees the old file or the new one,
	// never a partial one (writePortFile documents the per-OS protection).
	if err := ep.writePortFile(data); err != nil {
		return undo(err)
	}
	check := func(c net.Conn) (net.Conn, error) {
		return serverHandshake(c, secret, lay.Name, port, o.handshakeTimeout)
	}
	release := func() error {
		// Remove the port file only while it still carries our token: a
		// file with another token is not ours to remove.
		return ep.release(func(b []byte) bool {
			p, err := ParsePortFile(b)
			return err == nil && subtle.ConstantTimeCompare([]byte(p.Token), []byte(token)) == 1
		})
	}
	return newListener(lay, ln, o, check, release, newCheckGate()), nil
}

func dialTCPEndpoint(ctx context.Context, lay Layout, o *options) (*Conn, error) {
	b, err := readEndpointPort(lay)
	if err != nil {
		return nil, err
	}
	pf, err := ParsePortFile(b)
	if err != nil {
		return nil, fmt.Errorf("ipc: dial %s: %w", lay.Port, err)
	}
	secret, _ := hex.DecodeString(pf.Token) // validated by ParsePortFile
	c, err := dialTCP(ctx, "127.0.0.1:"+strconv.Itoa(pf.Port), lay.Name, secret, o)
	if err != nil {
		if isConnRefused(err) {
			return nil, fmt.Errorf("ipc: dial %s (port %d, pid %d): %w: %w", lay.Port, pf.Port, pf.PID, ErrStale, err)
		}
		return nil, fmt.Errorf("ipc: dial %s: %w", lay.Port, err)
	}
	c.layout = lay
	return c, nil
}

// dialTCP connects to addr (127.0.0.1 only) and runs the client
// handshake. A server that closes the connection before its proof (a
// listener whose handshake slots a flood holds, see checkGate) is tried
// again a few times within ctx; nothing derived from the secret was sent.
func dialTCP(ctx context.Context, addr, name string, secret []byte, o *options) (*Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("ipc: dial %s: not a loopback address", addr)
	}
	port, _ := strconv.Atoi(portStr)
	backoff := time.Millisecond
	first := time.Now()
	for {
		c, err := dialTCPOnce(ctx, addr, name, port, secret, o)
		if err == nil || !errors.Is(err, errClosedBeforeProof) || time.Since(first) > handshakeRetryWindow {
			return c, err
		}
		select {
		case <-ctx.Done():
			return nil, errors.Join(err, ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}

// handshakeRetryWindow bounds how long dialTCP retries a server that
// closes connections before its proof. It is longer than helloTimeout, so
// that slots held by silent connections (a flood, or many idle ones) have
// been freed at least once before the client gives up.
const handshakeRetryWindow = 2*helloTimeout + 500*time.Millisecond

func dialTCPOnce(ctx context.Context, addr, name string, port int, secret []byte, o *options) (*Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	r := bufio.NewReaderSize(c, 4096)
	err = clientHandshake(c, r, secret, name, port, o.handshakeTimeout)
	if !stop() || err != nil {
		c.Close()
		return nil, errors.Join(err, ctx.Err())
	}
	return &Conn{c: c, r: r}, nil
}
