package ipc

import (
	"bufio"
	"context"
	"net"
	"path/filepath"
	"runtime"
	"testing"
)

// The baselines are plain Go line-echo servers on the same transport,
// measured in the same run; compare ns/op of each ipc benchmark with its
// raw sibling (go tool mage bench prints the ratios).

func rawEchoServer(b *testing.B, network string) string {
	b.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(shortRoot(b, 0o700), "echo.sock")
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadSlice('\n')
					if err != nil {
						return
					}
					if _, err := c.Write(line); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func rawRoundTrip(b *testing.B, c net.Conn, r *bufio.Reader) {
	if _, err := c.Write([]byte(`{"meta":"ping"}` + "\n")); err != nil {
		b.Fatal(err)
	}
	if _, err := r.ReadSlice('\n'); err != nil {
		b.Fatal(err)
	}
}

func benchTransports(b *testing.B) []Transport {
	if DefaultTransport() == TransportUnix {
		return []Transport{TransportUnix, TransportTCP}
	}
	return []Transport{TransportTCP}
}

func netOf(tr Transport) string {
	if tr == TransportUnix {
		return "unix"
	}
	return "tcp"
}

func ipcServer(b *testing.B, tr Transport) string {
	b.Helper()
	root := shortRoot(b, 0o1777)
	ln, err := Listen(context.Background(), "bench", WithRoot(root), WithTransport(tr))
	if err != nil {
		b.Fatal(err)
	}
	pingServe(b, ln)
	return root
}

func BenchmarkPing(b *testing.B) {
	ctx := context.Background()
	for _, tr := range benchTransports(b) {
		b.Run(string(tr)+"/raw-echo", func(b *testing.B) {
			addr := rawEchoServer(b, netOf(tr))
			c, err := net.Dial(netOf(tr), addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			r := bufio.NewReader(c)
			b.ResetTimer()
			for b.Loop() {
				rawRoundTrip(b, c, r)
			}
		})
		b.Run(string(tr)+"/ipc", func(b *testing.B) {
			root := ipcServer(b, tr)
			c, err := Dial(ctx, "bench", WithRoot(root), WithTransport(tr))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			b.ResetTimer()
			for b.Loop() {
				if _, err := c.Identify(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPingParallel8: 8 connections pinging concurrently.
func BenchmarkPingParallel8(b *testing.B) {
	ctx := context.Background()
	for _, tr := range benchTransports(b) {
		b.Run(string(tr)+"/raw-echo", func(b *testing.B) {
			addr := rawEchoServer(b, netOf(tr))
			b.SetParallelism(max(1, 8/runtimeGOMAXPROCS()))
			b.RunParallel(func(pb *testing.PB) {
				c, err := net.Dial(netOf(tr), addr)
				if err != nil {
					b.Error(err)
					return
				}
				defer c.Close()
				r := bufio.NewReader(c)
				for pb.Next() {
					rawRoundTrip(b, c, r)
				}
			})
		})
		b.Run(string(tr)+"/ipc", func(b *testing.B) {
			root := ipcServer(b, tr)
			b.SetParallelism(max(1, 8/runtimeGOMAXPROCS()))
			b.RunParallel(func(pb *testing.PB) {
				c, err := Dial(ctx, "bench", WithRoot(root), WithTransport(tr))
				if err != nil {
					b.Error(err)
					return
				}
				defer c.Close()
				for pb.Next() {
					if _, err := c.Identify(ctx); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkDial: connect (with peer checks or the HMAC handshake) plus one
// round trip, against a raw connect plus one round trip.
func BenchmarkDial(b *testing.B) {
	ctx := context.Background()
	for _, tr := range benchTransports(b) {
		b.Run(string(tr)+"/raw-echo", func(b *testing.B) {
			addr := rawEchoServer(b, netOf(tr))
			for b.Loop() {
				c, err := net.Dial(netOf(tr), addr)
				if err != nil {
					b.Fatal(err)
				}
				rawRoundTrip(b, c, bufio.NewReader(c))
				c.Close()
			}
		})
		b.Run(string(tr)+"/ipc", func(b *testing.B) {
			root := ipcServer(b, tr)
			for b.Loop() {
				c, err := Dial(ctx, "bench", WithRoot(root), WithTransport(tr))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.Identify(ctx); err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}

func BenchmarkListenClose(b *testing.B) {
	for _, tr := range benchTransports(b) {
		b.Run(string(tr), func(b *testing.B) {
			root := shortRoot(b, 0o1777)
			for b.Loop() {
				ln, err := Listen(context.Background(), "lc", WithRoot(root), WithTransport(tr))
				if err != nil {
					b.Fatal(err)
				}
				if err := ln.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func runtimeGOMAXPROCS() int { return max(1, runtime.GOMAXPROCS(0)) }
