// Package busydial connects to a listener that may be busy rather than
// gone: a full accept backlog makes a live daemon refuse connects (EAGAIN
// on Linux, ECONNREFUSED on macOS), and a caller that gives up at once
// takes load for death. Used by ipc's Dial and by the suite's clients.
package busydial

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// DefaultWait bounds the retries when ctx has no deadline.
const DefaultWait = 5 * time.Second

// Dial connects to addr on network, retrying with a short backoff (1 ms
// doubling to 50 ms) while busy(err) says the failure is a full backlog,
// until ctx is done (or DefaultWait when ctx has no deadline). onRetry,
// when not nil, is called before each retry. When the deadline passes
// after a retry (between retries or during one) the error says the backlog
// stayed full and wraps the last busy connect error.
func Dial(ctx context.Context, network, addr string, busy func(error) bool, onRetry func()) (net.Conn, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultWait)
		defer cancel()
	}
	var d net.Dialer
	var last error // the last busy error
	for backoff := time.Millisecond; ; backoff = min(2*backoff, 50*time.Millisecond) {
		c, err := d.DialContext(ctx, network, addr)
		if err == nil {
			return c, nil
		}
		if !busy(err) {
			if last != nil && (ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded)) {
				// The deadline came during a retry (a loaded machine):
				// the backlog was still full, which is what to report.
				return nil, fmt.Errorf("backlog full until the deadline: %w", last)
			}
			return nil, err
		}
		last = err
		if onRetry != nil {
			onRetry()
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("backlog full until the deadline: %w", err)
		case <-time.After(backoff):
		}
	}
}
