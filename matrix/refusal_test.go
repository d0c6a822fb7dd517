package matrix

import (
	"context"
	"encoding/json"
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
		if got := refusalOf(c.err, c.connected) != ""; got != c.want {
			t.Errorf("%s: refusal %v, want %v", c.name, got, c.want)
		}
	}
	// A write cut short by the daemon is its refusal; one that did not go
	// out by its deadline (a stopped helper) is not.
	epipe := &net.OpError{Op: "write", Err: os.NewSyscallError("write", syscall.EPIPE)}
	if writeRefusal(epipe) == "" || writeRefusal(os.ErrDeadlineExceeded) != "" {
		t.Errorf("writeRefusal: EPIPE %q, a deadline %q; want a refusal, then none", writeRefusal(epipe), writeRefusal(os.ErrDeadlineExceeded))
	}
}

// foreignTalk passes only on a refusal: an attacker helper that could not
// connect for its own reasons (its RLIMIT_NOFILE lowered by its own uid)
// or was stopped is no verdict.
func TestForeignTalkNeedsARefusal(t *testing.T) {
	for _, c := range []struct {
		name   string
		res    connectResult
		status Status
	}{
		{"EMFILE", connectResult{Error: "dial unix /x: socket: too many open files"}, Error},
		{"stopped helper", connectResult{Connected: true, Error: "no reply within 3s (connection held open); the helper did not run for 2s"}, Error},
		{"refused", connectResult{Error: "dial unix /x: connect: permission denied", Refused: "permission denied"}, Pass},
		{"closed", connectResult{Connected: true, Refused: "closed by the daemon"}, Pass},
		// Held silent, but the connection was not handed to the suite:
		// whether the daemon answered anyone meanwhile is unknown.
		{"held silent", connectResult{Connected: true, Error: "no reply within 3s (connection held open)", Refused: heldSilent}, Error},
	} {
		t.Run(c.name, func(t *testing.T) {
			old := actions["connect"]
			actions["connect"] = func(ctx context.Context, arg json.RawMessage) (any, error) { return c.res, nil }
			defer func() { actions["connect"] = old }()
			r := testRunner(t)
			r.attackerUID = os.Geteuid() // the helper runs in this process
			e := &Env{r: r}
			if o := e.foreignTalk(context.Background()); o.status != c.status {
				t.Errorf("%s: %s %q, want %s", c.name, o.status, o.reason, c.status)
			}
		})
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
