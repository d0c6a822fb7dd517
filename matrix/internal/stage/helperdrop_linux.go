package stage

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/org/bh-ipc-check/matrix/internal/proc"
)

// dropToUID turns this helper, started as root, into uid and gid, out of
// that uid's reach from its first instruction as it (issue 24: a helper
// exec'd under SysProcAttr.Credential was the attacker's to ptrace, and to
// copy its stdout from with pidfd_getfd, until it made itself
// non-dumpable). The steps, each for a reason:
//
//   - setgroups(groups: none, or the attacker's --attacker-groups) and
//     setresgid(gid, gid, gid) first, while the uids are
//     still root's;
//   - setresuid(uid, uid, 0): the saved uid stays root's, and ptrace
//     access (ptrace, pidfd_getfd, /proc/<pid>/fd, mem, environ) needs the
//     caller's uid to equal the target's real, effective AND saved uid, so
//     uid cannot reach this process yet, whatever fs.suid_dumpable made
//     of its dumpable flag when the effective uid changed;
//   - prctl(PR_SET_DUMPABLE, 0): closed to its own uid from now on;
//   - setresuid(uid, uid, uid): the effective and fs uids do not change and
//     the capabilities only shrink, so the kernel leaves the dumpable flag
//     as set (commit_creds resets it only on those changes);
//   - PR_GET_DUMPABLE checks it.
//
// Go's syscall.Setresuid and Setresgid apply to every thread of the
// process (since Go 1.16), and nothing is exec'd after the drop.
func dropToUID(uid, gid int, groups []int) error {
	if groups == nil {
		groups = []int{} // none: nothing of root's groups is kept
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("setgroups(%v): %w", groups, err)
	}
	if err := syscall.Setresgid(gid, gid, gid); err != nil {
		return fmt.Errorf("setresgid(%d): %w", gid, err)
	}
	if err := syscall.Setresuid(uid, uid, 0); err != nil {
		return fmt.Errorf("setresuid(%d, %d, 0): %w", uid, uid, err)
	}
	if err := proc.NonDumpable(); err != nil {
		return err
	}
	if err := syscall.Setresuid(uid, uid, uid); err != nil {
		return fmt.Errorf("setresuid(%d): %w", uid, err)
	}
	d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	if err != nil {
		return fmt.Errorf("prctl(PR_GET_DUMPABLE): %w", err)
	}
	if d != 0 {
		return fmt.Errorf("still dumpable (%d) after dropping to uid %d: refusing to act", d, uid)
	}
	return nil
}
