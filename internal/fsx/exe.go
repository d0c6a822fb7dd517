package fsx

import (
	"os"
	"path/filepath"
	"syscall"
)

// CopyExecutable copies exe into dir (created 0755) as a file of mode
// (0755, or 0711: executable but not readable), so that other uids can
// run it: the original may sit in a private directory.
//
// It works by path, so dir must lie where no other uid can write: the
// suite gives it a directory in its run directory (root's or ours, made
// 0700 under a base fsx.HeldByUs accepted, and opened to others only for
// reading), the tests a directory of their own. Race point: another uid
// cannot then swap dir or dst for a link between these calls.
func CopyExecutable(exe, dir string, mode os.FileMode) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		return "", err
	}
	dst := filepath.Join(dir, filepath.Base(exe))
	// Race point: a process forked (by another goroutine, another run in
	// the same program) while dst is open for writing holds it open until
	// it execs, and an exec of dst in that window fails with ETXTBSY
	// (golang/go#22315). Holding ForkLock keeps every fork out of it.
	syscall.ForkLock.Lock()
	err = os.WriteFile(dst, b, mode)
	syscall.ForkLock.Unlock()
	if err != nil {
		return "", err
	}
	return dst, os.Chmod(dst, mode)
}
