package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/org/bh-ipc-check/matrix/internal/target"
)

// RefusalOf names the refusal err is when another uid tried to talk to
// the daemon: the kernel or the daemon turning that uid away (connect:
// ECONNREFUSED, EACCES, EPERM; after connecting: a close or reset by the
// daemon, or no reply while the connection was held: HeldSilent, which
// counts only once the suite has seen the daemon answer others meanwhile,
// settleSilence). Anything else (too many open files, no memory, a
// backlog full until the deadline, a dial that timed out) says nothing of
// the daemon, and "" is returned: the scenario then has no verdict.
// connected: the connection was made.
func RefusalOf(err error, connected bool) string {
	if err == nil {
		return ""
	}
	switch {
	case !connected && errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case !connected && (errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM)):
		return "permission denied"
	case connected && errors.Is(err, io.EOF):
		return "closed by the daemon"
	case connected && (errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)):
		return "reset by the daemon"
	}
	var ne net.Error
	if connected && errors.As(err, &ne) && ne.Timeout() {
		return HeldSilent
	}
	return ""
}

// SentRefusal describes a reply that was no answer (--protocol line: sent
// does not match expect, a protocol's own refusal such as D-Bus's
// "REJECTED EXTERNAL"), and what the daemon did next (refused, from
// RefusalOf), for a reason that does not read "no reply".
func SentRefusal(sent, expect, refused string) string {
	next := map[string]string{
		"closed by the daemon": "then closed the connection",
		"reset by the daemon":  "then reset the connection",
		HeldSilent:             "then nothing more while the connection was held",
	}[refused]
	if next == "" {
		next = "then: " + refused
	}
	return fmt.Sprintf("a refusal, not an answer: the daemon sent %q, which does not match %s, %s", sent, target.Hint("expect", fmt.Sprintf("%q", expect)), next)
}

// HeldSilent is RefusalOf's word for a connection the daemon neither
// answered nor closed before the deadline.
const HeldSilent = "no reply while the connection was held"

// WriteRefusal is RefusalOf for a failed write on a connection made: the
// daemon closing or resetting it is its refusal; a write that did not go
// out by its deadline (the helper was stopped, or the daemon reads
// nothing) says nothing of the daemon, and is no verdict.
func WriteRefusal(err error) string {
	if r := RefusalOf(err, true); r != HeldSilent {
		return r
	}
	return ""
}

// HandSilence is refused (RefusalOf's word for what stopped a request on
// c, a connection this helper made), with c handed to the suite when it
// is HeldSilent: the suite keeps it open and judges whether the daemon
// was answering others meanwhile (settleSilence), so c must not have
// been closed yet. When c cannot be handed over, a silence is no refusal,
// and note says why.
func HandSilence(ctx context.Context, c net.Conn, refused string) (_, note string) {
	if refused != HeldSilent {
		return refused, ""
	}
	if err := holdForSuite(ctx, c); err != nil {
		return "", fmt.Sprintf("; the connection held silent could not be handed to the suite (%v), so whether the daemon was answering anyone then is unknown", err)
	}
	return refused, ""
}

// stallWatch notices that this process did not run for a while: stopped
// (SIGSTOP by its own uid: an attacker's helper runs as the attacker) or
// starved. A helper that was stopped while it waited for a reply would
// otherwise report "no reply" for a reply that came.
type stallWatch struct {
	mu   sync.Mutex
	last time.Time
	max  time.Duration
	stop chan struct{}
}

// stallTick is how often stallWatch looks; stallLimit the stall that
// voids an attempt.
const (
	stallTick  = 20 * time.Millisecond
	stallLimit = time.Second
)

func watchStalls() *stallWatch {
	w := &stallWatch{last: time.Now(), stop: make(chan struct{})}
	go func() {
		t := time.NewTicker(stallTick)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case now := <-t.C:
				w.mu.Lock()
				w.max = max(w.max, now.Sub(w.last))
				w.last = now
				w.mu.Unlock()
			}
		}
	}()
	return w
}

// Watched is talk, a request of this helper's, under watchStalls: a
// helper stopped or starved meanwhile (its uid may SIGSTOP it past its
// deadline, so a reply that came is never read) met no refusal.
func Watched(talk func() ConnectResult) ConnectResult {
	w := watchStalls()
	r := talk()
	if err := w.done(); err != nil {
		r.Refused, r.Error = "", r.Error+"; "+err.Error()
	}
	return r
}

// done stops the watch and returns an error when the process stalled
// longer than stallLimit.
func (w *stallWatch) done() error {
	close(w.stop)
	w.mu.Lock()
	defer w.mu.Unlock()
	worst := max(w.max, time.Since(w.last))
	if worst > stallLimit {
		return fmt.Errorf("the helper did not run for %s (stopped or starved), so its result says nothing of the daemon", worst.Round(time.Millisecond))
	}
	return nil
}
