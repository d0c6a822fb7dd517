//go:build linux

package probe

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/org/bh-ipc-check/ipc"
	"github.com/org/bh-ipc-check/matrix/internal/target"
)

// fullBacklog listens on a socket in a fresh short directory and fills its
// backlog (skipping when it cannot); closeAll, safe to call more than once,
// closes the fillers so that connects get through once ln accepts. The
// directory and listener are removed at the test's end.
func fullBacklog(t *testing.T, prefix string) (dir, sock string, ln net.Listener, closeAll func()) {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock = filepath.Join(dir, "s")
	if ln, err = net.Listen("unix", sock); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	n, full, closeFillers, err := FillBacklog(sock, 70000)
	var once sync.Once
	closeAll = func() { once.Do(closeFillers) } // never twice: the fd numbers get reused
	t.Cleanup(closeAll)
	if !full {
		t.Skipf("could not fill the backlog (%d connects: %v); the test needs a full one", n, err)
	}
	return dir, sock, ln, closeAll
}

// A full backlog is a busy daemon, not a dead one: dialBusy retries EAGAIN
// until its deadline, and connects once the daemon accepts again.
func TestDialBusyRetriesFullBacklog(t *testing.T) {
	dir, sock, ln, closeAll := fullBacklog(t, "dial")
	// Still full at the deadline: the error says so and wraps EAGAIN.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	var retries atomic.Int64
	_, err := dialBusy(countBusy(ctx, &retries), "unix", sock)
	cancel()
	if !errors.Is(err, syscall.EAGAIN) || !strings.Contains(err.Error(), "backlog full until the deadline") {
		t.Fatalf("dialBusy on a full backlog: %v, want EAGAIN retried until the deadline", err)
	}
	if retries.Load() == 0 {
		t.Error("the retries were not counted (the idle and load scenarios report them)")
	}
	// The daemon drains its backlog a little later: the dial gets through.
	go func() {
		time.Sleep(50 * time.Millisecond)
		closeAll()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dialBusy(ctx, "unix", sock)
	if err != nil {
		t.Fatalf("dialBusy once the backlog drains: %v", err)
	}
	c.Close()
	// A socket nobody listens on is refused at once, not retried.
	dead := filepath.Join(dir, "dead")
	l2, err := net.Listen("unix", dead)
	if err != nil {
		t.Fatal(err)
	}
	l2.(*net.UnixListener).SetUnlinkOnClose(false)
	l2.Close()
	if _, err := dialBusy(context.Background(), "unix", dead); !errors.Is(err, syscall.ECONNREFUSED) || strings.Contains(err.Error(), "busy") {
		t.Errorf("dialBusy on a dead socket: %v, want ECONNREFUSED at once", err)
	}
}

// load.concurrent's probes (line, connect) take a daemon whose backlog
// stays full for a while for a busy one, as the bh-json clients do: every
// probe's connect retries until the load's deadline, not a probe's own
// few seconds (the backlog here stays full past those), and the retries
// are counted for the evidence.
func TestProbeLoadWaitsOutAFullBacklog(t *testing.T) {
	_, sock, ln, closeAll := fullBacklog(t, "pload")
	go func() {
		time.Sleep(4 * time.Second) // past a single probe's 3 s
		closeAll()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64)
				if n, err := c.Read(buf); err == nil {
					c.Write(buf[:n])
				}
			}()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sp := Spec{Transport: ipc.TransportUnix, Protocol: target.ProtocolLine, Sock: sock, Send: []byte("PING\n"), Expect: "^PING"}
	r := RunLoad(ctx, sp, 8, 2)
	if r.Errors != 0 {
		t.Errorf("%d of %d probes failed while the backlog was full; first: %s", r.Errors, r.Pings, r.First)
	}
	if r.BusyRetries == 0 {
		t.Error("no connect retries counted, though every probe met a full backlog")
	}
}
