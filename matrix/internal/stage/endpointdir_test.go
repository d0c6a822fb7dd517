package stage

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/org/bh-ipc-check/internal/fsx"
	"github.com/org/bh-ipc-check/matrix/internal/world"
)

// An endpoint directory the suite's own uid made is not another
// process's interference; on Windows, where a file has no uid, neither is
// one of an unknown owner (identityOf gave it uid 0 against the suite's
// -1). The Wine leg had turned scenarios that did not pass into "another process
// interfered" (uid 0, not the daemon's uid -1), which hid their reasons.
func TestForeignEndpointDirOwnDirectory(t *testing.T) {
	// Not t.TempDir: its removal fails under Wine; fsx.RemoveTree is the
	// run directory's own removal.
	dir, err := os.MkdirTemp("", "bhc-ep-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsx.RemoveTree(dir) })
	fs, err := world.OpenRunFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	ep := filepath.Join(dir, "root", "bu-x.d")
	if err := os.MkdirAll(ep, 0o700); err != nil {
		t.Fatal(err)
	}
	daemonUID := os.Geteuid() + 4242 // not the owner: only "ours" may excuse it
	if runtime.GOOS == "windows" {
		daemonUID = -1 // as the runner has it there (os.Geteuid is -1)
	}
	e := &Env{Runner: &Runner{FS: fs, DaemonUID: daemonUID}, EndpointDir: ep}
	if got := e.foreignEndpointDir(); got != "" {
		t.Errorf("foreignEndpointDir() = %q for a directory this process made, want none", got)
	}
}
