//go:build unix && !linux

package stage

import (
	"fmt"
	"syscall"
)

// dropToUID turns this helper, started as root, into uid and gid in the
// process (no exec after). Without Linux's dumpable flag the process is
// set-id-tainted by the kernel (macOS and the BSDs deny their debugging
// interfaces to a process whose credentials changed).
func dropToUID(uid, gid int, groups []int) error {
	if groups == nil {
		groups = []int{} // none: nothing of root's groups is kept
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("setgroups(%v): %w", groups, err)
	}
	if err := syscall.Setregid(gid, gid); err != nil {
		return fmt.Errorf("setregid(%d): %w", gid, err)
	}
	if err := syscall.Setreuid(uid, uid); err != nil {
		return fmt.Errorf("setreuid(%d): %w", uid, err)
	}
	return nil
}
