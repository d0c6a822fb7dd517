//go:build unix && !linux

package matrix

import (
	"fmt"
	"syscall"
)

// dropToUID turns this helper, started as root, into uid and gid in the
// process (no exec after). Without Linux's dumpable flag the process is
// set-id-tainted by the kernel (macOS and the BSDs deny their debugging
// interfaces to a process whose credentials changed).
func dropToUID(uid, gid int) error {
	if err := syscall.Setgroups([]int{}); err != nil {
		return fmt.Errorf("setgroups([]): %w", err)
	}
	if err := syscall.Setregid(gid, gid); err != nil {
		return fmt.Errorf("setregid(%d): %w", gid, err)
	}
	if err := syscall.Setreuid(uid, uid); err != nil {
		return fmt.Errorf("setreuid(%d): %w", uid, err)
	}
	return nil
}
