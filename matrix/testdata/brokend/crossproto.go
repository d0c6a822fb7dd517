package main

// -tcpproto line and -tcpproto http: brokend's tcp side speaking another
// protocol than bh-json, for tcp.cross-protocol (what a web page in the
// user's browser can send to a loopback daemon). Each is correct as it
// stands; -flaw skipjunk and -flaw anyhost take its one defence out.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// tcpProto is -tcpproto: "" (bh-json), "line" or "http".
var tcpProto string

// serveTCPProto serves ln in -tcpproto's protocol until ctx is done.
func serveTCPProto(ctx context.Context, ln net.Listener, token string) error {
	switch tcpProto {
	case "":
		return serve(ctx, ln, token)
	case "line":
		return serveLines(ctx, ln)
	case "http":
		return serveHTTP(ctx, ln)
	}
	return fmt.Errorf("-tcpproto %q: want line or http", tcpProto)
}

// serveLines speaks a line protocol as Redis's inline commands do, with
// no password (Redis's default): PING answers +PONG, an empty line is
// ignored, anything else gets -ERR and the connection reads on. Redis
// 3.2.7's defence is kept: a line that starts an HTTP request ("POST ..."
// or a "Host:" header) closes the connection at once, so that the body a
// browser sends after its headers is never read. -flaw skipjunk takes it
// out (Redis before 3.2.7).
func serveLines(ctx context.Context, ln net.Listener) error {
	go func() { <-ctx.Done(); ln.Close() }()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go lineConn(c)
	}
}

func lineConn(c net.Conn) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 4096)
	for {
		c.SetDeadline(time.Now().Add(30 * time.Second))
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		word, _, _ := strings.Cut(line, " ")
		if flaw != "skipjunk" && (strings.EqualFold(word, "POST") || strings.EqualFold(word, "Host:")) {
			fmt.Fprintf(os.Stderr, "brokend: possible security attack detected: %q from %s; connection aborted\n", line, c.RemoteAddr())
			return
		}
		switch strings.ToUpper(word) {
		case "":
		case "PING":
			c.Write([]byte("+PONG\r\n"))
		default:
			fmt.Fprintf(c, "-ERR unknown command '%s'\r\n", word)
		}
	}
}

// serveHTTP serves GET /ping over HTTP ({"pong":true,"pid":N}) to requests
// addressed to the loopback by name or number, as Transmission's RPC
// server does since CVE-2018-5702: any other Host (a name a page had
// rebound to 127.0.0.1) gets 421. -flaw anyhost answers any Host.
func serveHTTP(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/ping", func(w http.ResponseWriter, r *http.Request) {
		if flaw != "anyhost" && !loopbackHost(r.Host) {
			http.Error(w, "421 Misdirected Request: unauthorized host "+r.Host, http.StatusMisdirectedRequest)
			return
		}
		fmt.Fprintf(w, `{"pong":true,"pid":%d}`+"\n", os.Getpid())
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// loopbackHost: a Host header naming the loopback (with or without a port).
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	switch strings.ToLower(strings.Trim(host, "[]")) {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}
