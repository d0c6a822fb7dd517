package stage

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/org/bh-ipc-check/internal/testenv"
)

// The inotify watch alone sees the socket appear, whether its directory
// is made after the watch began or was there before: polling, which also
// runs in sock.first-seen-mode, is left out here, so a watch that lost
// IN_CREATE (and saw the socket only by polling in the scenario) fails.
func TestInotifySeesTheSocketFirst(t *testing.T) {
	for _, c := range []struct {
		name   string
		preDir bool
	}{
		{"directory made after the watch began", false},
		{"directory there before", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			parent := testenv.ShortDir(t, "watch")
			dir, sock := filepath.Join(parent, "ep.d"), filepath.Join(parent, "ep.d", "sock")
			if c.preDir {
				if err := os.Mkdir(dir, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			w := &FirstSeen{dir: dir, sock: sock, done: make(chan struct{})}
			watchNative(w) // no polling goroutine: only inotify can observe
			defer w.Stop()
			if !c.preDir {
				if err := os.Mkdir(dir, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			// bind without a chmod after it: IN_CREATE is the only event.
			ln, err := net.Listen("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			// The bound below only ends the test when the watch is broken;
			// nothing is asserted about how long inotify took.
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				w.mu.Lock()
				got := w.got
				w.mu.Unlock()
				if got != nil {
					if !strings.HasPrefix(got.Via, "inotify") || got.Sock.Kind != "socket" {
						t.Errorf("first seen via %q as %q, want a socket seen by inotify", got.Via, got.Sock.Kind)
					}
					return
				}
			}
			t.Fatalf("inotify never saw %s appear (IN_CREATE lost?)", sock)
		})
	}
}
