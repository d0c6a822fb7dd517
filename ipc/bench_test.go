package ipc

import (
	"bufio"
	"context"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"
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
			lat := newLatencies(b)
			for b.Loop() {
				t0 := time.Now()
				rawRoundTrip(b, c, r)
				lat.add(t0)
			}
			lat.report()
		})
		b.Run(string(tr)+"/ipc", func(b *testing.B) {
			root := ipcServer(b, tr)
			c, err := Dial(ctx, "bench", WithRoot(root), WithTransport(tr))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			lat := newLatencies(b)
			for b.Loop() {
				t0 := time.Now()
				if _, err := c.Identify(ctx); err != nil {
					b.Fatal(err)
				}
				lat.add(t0)
			}
			lat.report()
		})
	}
}

// latencies collects per-operation times and reports their median as
// p50-ns (ns/op is a mean, which a few slow round trips skew).
type latencies struct {
	b testing.TB
	d []time.Duration
}

func newLatencies(b *testing.B) *latencies { return &latencies{b: b, d: make([]time.Duration, 0, b.N)} }

func (l *latencies) add(t0 time.Time) { l.d = append(l.d, time.Since(t0)) }

func (l *latencies) report() {
	if len(l.d) == 0 {
		return
	}
	slices.Sort(l.d)
	l.b.(*testing.B).ReportMetric(float64(l.d[len(l.d)/2].Nanoseconds()), "p50-ns")
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

// BenchmarkListenClose: a whole Listen + Close cycle, in a root in the temp
// dir and, where there is one, in a tmpfs (/dev/shm; runtime dirs such as
// /run/user/<uid> are tmpfs). The cost is mostly creating three inodes
// (directory, lock file, socket), so it follows the filesystem.
func BenchmarkListenClose(b *testing.B) {
	roots := map[string]string{"tmpdir": ""}
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		roots["tmpfs"] = "/dev/shm"
	}
	for _, tr := range benchTransports(b) {
		for _, where := range []string{"tmpdir", "tmpfs"} {
			base, ok := roots[where]
			if !ok {
				continue
			}
			b.Run(string(tr)+"/"+where, func(b *testing.B) {
				root, err := os.MkdirTemp(base, "ipc")
				if err != nil {
					b.Fatal(err)
				}
				defer os.RemoveAll(root)
				lat := newLatencies(b)
				for b.Loop() {
					t0 := time.Now()
					ln, err := Listen(context.Background(), "lc", WithRoot(root), WithTransport(tr))
					if err != nil {
						b.Fatal(err)
					}
					if err := ln.Close(); err != nil {
						b.Fatal(err)
					}
					lat.add(t0)
				}
				lat.report()
			})
		}
	}
}

// BenchmarkIdleConnHeap measures the heap one idle authenticated
// connection costs the server: 1,000 connections are opened (tcp: through
// the handshake) and left idle; the heap grown with the ipc server less the
// heap grown by the same connections to a bare listener that only holds
// them is divided by 1,000 (reported as heapB/conn).
func BenchmarkIdleConnHeap(b *testing.B) {
	const n = 1000
	for _, tr := range benchTransports(b) {
		b.Run(string(tr), func(b *testing.B) {
			bare := idleHeap(b, tr, n, false)
			withIPC := idleHeap(b, tr, n, true)
			for b.Loop() {
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(withIPC-bare)/n, "heapB/conn")
		})
	}
}

// idleHeap opens n idle connections (to an ipc server, or to a bare
// listener holding them) and returns how much the live heap grew.
func idleHeap(b *testing.B, tr Transport, n int, withIPC bool) int64 {
	b.Helper()
	var (
		addr, name = "", "heap"
		secret     []byte
		port       int
		held       []net.Conn
		stop       func()
	)
	before := liveHeap()
	if withIPC {
		root := shortRoot(b, 0o1777)
		ln, err := Listen(context.Background(), name, WithRoot(root), WithTransport(tr))
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { Serve(ctx, ln, nil); close(done) }()
		stop = func() { cancel(); <-done }
		addr = ln.Addr().String()
		if tr == TransportTCP {
			pf, err := readPortFile(ln.Layout().Port)
			if err != nil {
				b.Fatal(err)
			}
			p, _ := ParsePortFile(pf)
			secret, _ = hex.DecodeString(p.Token)
			port = p.Port
		}
	} else {
		network := netOf(tr)
		laddr := "127.0.0.1:0"
		if tr == TransportUnix {
			laddr = filepath.Join(shortRoot(b, 0o700), "bare.sock")
		}
		l, err := net.Listen(network, laddr)
		if err != nil {
			b.Fatal(err)
		}
		accepted := make(chan net.Conn, n)
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				accepted <- c
			}
		}()
		stop = func() {
			l.Close()
			for len(accepted) > 0 {
				(<-accepted).Close()
			}
		}
		addr = l.Addr().String()
	}
	for i := 0; i < n; i++ {
		c, err := net.Dial(netOf(tr), addr)
		if err != nil {
			b.Fatal(err)
		}
		if withIPC && tr == TransportTCP {
			if err := clientHandshake(c, bufio.NewReaderSize(c, 16), secret, name, port, 5*time.Second); err != nil {
				b.Fatal(err)
			}
		}
		held = append(held, c)
	}
	// Let the server reach its idle state (accepted, checked, reading).
	time.Sleep(200 * time.Millisecond)
	grown := liveHeap() - before
	for _, c := range held {
		c.Close()
	}
	stop()
	return grown
}

func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

func runtimeGOMAXPROCS() int { return max(1, runtime.GOMAXPROCS(0)) }
