package matrix

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

// refusalOf names the refusal err is when another uid tried to talk to
// the daemon: the kernel or the daemon turning that uid away (connect:
// ECONNREFUSED, EACCES, EPERM; after connecting: a close or reset by the
// daemon, or no reply while the connection was held). Anything else (too
// many open files, no memory, a backlog full until the deadline, a dial
// that timed out) says nothing of the daemon, and "" is returned: the
// scenario then has no verdict. connected: the connection was made.
func refusalOf(err error, connected bool) string {
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
		return "no reply while the connection was held"
	}
	return ""
}

// sentRefusal describes a reply that was no answer (--protocol line: sent
// does not match expect, a protocol's own refusal such as D-Bus's
// "REJECTED EXTERNAL"), and what the daemon did next (refused, from
// refusalOf), for a reason that does not read "no reply".
func sentRefusal(sent, expect, refused string) string {
	next := map[string]string{
		"closed by the daemon":                   "then closed the connection",
		"reset by the daemon":                    "then reset the connection",
		"no reply while the connection was held": "then nothing more while the connection was held",
	}[refused]
	if next == "" {
		next = "then: " + refused
	}
	return fmt.Sprintf("a refusal, not an answer: the daemon sent %q, which does not match %s, %s", sent, Hint("expect", fmt.Sprintf("%q", expect)), next)
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
