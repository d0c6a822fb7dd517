//go:build unix

package busydial

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// When the deadline comes during a retry's connect (a loaded machine: the
// connect itself is cut short), the error says the backlog stayed full,
// wrapping the last busy error, not the retry's own timeout; a failure
// with no retry before it is returned as it is.
func TestDeadlineDuringRetry(t *testing.T) {
	dir, err := os.MkdirTemp("", "bd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	addr := filepath.Join(dir, "none") // nothing listens: every connect fails (ENOENT)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	calls := 0
	_, err = Dial(ctx, "unix", addr, func(error) bool {
		calls++
		if calls == 1 {
			return true // the first connect meets a "full backlog"
		}
		cancel() // the deadline comes while the retry connects
		return false
	}, nil)
	if err == nil || !strings.Contains(err.Error(), "backlog full until the deadline") || !errors.Is(err, syscall.ENOENT) {
		t.Errorf("deadline during a retry: %v, want the backlog reported full, wrapping the busy error", err)
	}
	_, err = Dial(context.Background(), "unix", addr, func(error) bool { return false }, nil)
	if !errors.Is(err, syscall.ENOENT) || strings.Contains(err.Error(), "backlog") {
		t.Errorf("a failure with no retry: %v, want it as it is (ENOENT)", err)
	}
}
