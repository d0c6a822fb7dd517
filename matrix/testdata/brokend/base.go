package main

import (
	"os"

	"github.com/org/bh-ipc-check/ipc"
)

// baseFor is the runtime directory brokend uses when -root is not given:
// the one ipc chooses (ipc.DefaultRoot: $BH_RUNTIME_DIR, else a private
// $XDG_RUNTIME_DIR, else $TMPDIR), so that its clients find it where they
// look. -flaw sharedbase uses the shared base alone ($TMPDIR, as
// os.TempDir reads it): another uid that makes bu-<name>.d there first
// has it refused (the ipc package's check), and it has nowhere else to
// go, though a per-user base was there (dir.squat-dos).
func baseFor(flaw string) string {
	if flaw == "sharedbase" {
		return os.TempDir() // the flaw: $XDG_RUNTIME_DIR is never looked at
	}
	return ipc.DefaultRoot()
}
