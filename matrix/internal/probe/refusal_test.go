package probe

import (
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Only the daemon (or the kernel for it) turning another uid away counts
// as a refusal; the helper's own failures do not (B4).
func TestRefusalOf(t *testing.T) {
	dial := func(errno syscall.Errno) error {
		return &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", errno)}
	}
	for _, c := range []struct {
		name      string
		err       error
		connected bool
		want      bool
	}{
		{"ECONNREFUSED", dial(syscall.ECONNREFUSED), false, true},
		{"EACCES", dial(syscall.EACCES), false, true},
		{"EPERM", dial(syscall.EPERM), false, true},
		{"closed", io.EOF, true, true},
		{"reset", &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true, true},
		{"held", os.ErrDeadlineExceeded, true, true},
		{"EMFILE", &net.OpError{Op: "dial", Err: os.NewSyscallError("socket", syscall.EMFILE)}, false, false},
		{"ENFILE", &net.OpError{Op: "dial", Err: os.NewSyscallError("socket", syscall.ENFILE)}, false, false},
		{"ENOMEM", dial(syscall.ENOMEM), false, false},
		{"EAGAIN until the deadline", dial(syscall.EAGAIN), false, false},
		{"dial timeout", os.ErrDeadlineExceeded, false, false},
		{"ENOENT", dial(syscall.ENOENT), false, false},
	} {
		if got := RefusalOf(c.err, c.connected) != ""; got != c.want {
			t.Errorf("%s: refusal %v, want %v", c.name, got, c.want)
		}
	}
	// A write cut short by the daemon is its refusal; one that did not go
	// out by its deadline (a stopped helper) is not.
	epipe := &net.OpError{Op: "write", Err: os.NewSyscallError("write", syscall.EPIPE)}
	if WriteRefusal(epipe) == "" || WriteRefusal(os.ErrDeadlineExceeded) != "" {
		t.Errorf("writeRefusal: EPIPE %q, a deadline %q; want a refusal, then none", WriteRefusal(epipe), WriteRefusal(os.ErrDeadlineExceeded))
	}
}

// A helper that did not run for longer than stallLimit says so.
func TestStallWatch(t *testing.T) {
	w := watchStalls()
	if err := w.done(); err != nil {
		t.Errorf("no stall: %v", err)
	}
	w = watchStalls()
	w.mu.Lock()
	w.last = time.Now().Add(-2 * stallLimit) // as after a SIGSTOP
	w.mu.Unlock()
	if err := w.done(); err == nil || !strings.Contains(err.Error(), "did not run") {
		t.Errorf("a stall of %s: %v, want an error", 2*stallLimit, err)
	}
	// A stall the watch's ticks resumed after (the helper was stopped
	// while it waited, then ran again before done): the watch's goroutine
	// is kept from running for 2*stallLimit (its lock held), and done is
	// called only once it has ticked again, so only the longest gap it
	// recorded, not the time since its last tick, tells of the stall.
	w = watchStalls()
	w.mu.Lock()
	time.Sleep(2 * stallLimit)
	released := time.Now()
	w.mu.Unlock()
	for {
		w.mu.Lock()
		ticked := w.last.After(released)
		w.mu.Unlock()
		if ticked {
			break
		}
		time.Sleep(stallTick)
	}
	if err := w.done(); err == nil || !strings.Contains(err.Error(), "did not run") {
		t.Errorf("a stall of %s, ticks resumed since: %v, want an error", 2*stallLimit, err)
	}
}
