//go:build linux

package matrix

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
)

// A full backlog is a busy daemon, not a dead one: dialBusy retries EAGAIN
// until its deadline, and connects once the daemon accepts again.
func TestDialBusyRetriesFullBacklog(t *testing.T) {
	dir, err := os.MkdirTemp("", "dial")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	n, full, closeFillers, err := fillBacklog(sock, 70000)
	var once sync.Once
	closeAll := func() { once.Do(closeFillers) } // never twice: the fd numbers get reused
	defer closeAll()
	if !full {
		t.Skipf("could not fill the backlog (%d connects: %v); the retry needs a full one", n, err)
	}
	// Still full at the deadline: the error says so and wraps EAGAIN.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	var retries atomic.Int64
	_, err = dialBusy(countBusy(ctx, &retries), "unix", sock)
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
