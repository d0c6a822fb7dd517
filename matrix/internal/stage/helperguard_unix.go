//go:build unix

package stage

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/org/bh-ipc-check/matrix/internal/proc"
)

// minHelperNoFile is the least RLIMIT_NOFILE soft limit a helper acts
// with (Go raises the soft limit to the hard one at start-up).
const minHelperNoFile = 64

// GuardHelper readies a helper process before it acts. A helper acting as
// another uid is that uid's to tamper with: the attacker's own helper runs
// as the attacker. It makes itself non-dumpable (Linux: ptrace and
// /proc/<pid>/mem, environ and fd are closed to its own uid), and refuses
// to act with an RLIMIT_NOFILE another process lowered (its own uid may,
// with prlimit(2), even when it is not dumpable). A limit lowered later,
// or the helper stopped, is caught where it matters: probe.RefusalOf and
// watchStalls turn its effects into no verdict.
func GuardHelper() error {
	if err := proc.NonDumpable(); err != nil {
		return err
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return fmt.Errorf("getrlimit(RLIMIT_NOFILE): %w", err)
	}
	if rl.Cur < minHelperNoFile {
		return fmt.Errorf("this helper's RLIMIT_NOFILE is %d (hard %d), under %d: another process of its uid limited it, so it does not act", rl.Cur, rl.Max, minHelperNoFile)
	}
	return nil
}
