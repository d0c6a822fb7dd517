//go:build unix

package fsx

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// SearchableBy returns nil when a process with uid and primary group gid
// (and no supplementary groups, as the suite's helpers run) may search dir
// and every directory above it, judged from their modes, owners and groups
// (ACLs are not consulted); otherwise an error naming the first directory
// it cannot search, its mode and owner. Root may search anything.
func SearchableBy(dir string, uid, gid int) error {
	if uid == 0 {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for p := abs; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("%s: no owner information", p)
		}
		perm := fi.Mode().Perm()
		var bit os.FileMode = 0o001
		switch {
		case int(st.Uid) == uid:
			bit = 0o100
		case int(st.Gid) == gid:
			bit = 0o010
		}
		if perm&bit == 0 {
			return fmt.Errorf("%s (mode %04o, uid %d, gid %d) is not searchable by uid %d", p, perm, st.Uid, st.Gid, uid)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// HeldByUs returns nil when no uid but root and this process's may change
// what the path dir leads to: dir, resolved, and every directory above it
// are owned by root or by this process's uid, and none is writable by
// group or others unless it is sticky and root's (as /tmp is: another uid
// may add names there, never rename or remove ours). Otherwise an error
// names the first directory another uid controls.
//
// Race point, what it defends: the suite, as root, writes, copies and
// executes its helpers and daemons by path under its run directory. In a
// directory another uid owns or may write, that uid could rename a
// directory of the path away and put its own in place (renameat2
// RENAME_EXCHANGE) between any two of those steps, and root would run its
// program. A path through directories only root and we control cannot be
// redirected; symlinks on it (macOS's /tmp -> private/tmp) sit in such
// directories and are resolved once here, and the resolved path is what
// the caller uses.
func HeldByUs(dir string) (string, error) {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", err
	}
	real, err = filepath.Abs(real)
	if err != nil {
		return "", err
	}
	me := os.Geteuid()
	for p := real; ; p = filepath.Dir(p) {
		fi, err := os.Lstat(p)
		if err != nil {
			return "", err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return "", fmt.Errorf("%s: no owner information", p)
		}
		perm := fi.Mode().Perm()
		sticky := fi.Mode()&os.ModeSticky != 0
		switch {
		case !fi.IsDir():
			return "", fmt.Errorf("%s is not a directory (%s)", p, fi.Mode().Type())
		case st.Uid != 0 && int(st.Uid) != me:
			return "", fmt.Errorf("%s (mode %04o, uid %d) is owned by uid %d, which could put a directory of its own on the path", p, perm, st.Uid, st.Uid)
		case perm&0o022 != 0 && !(sticky && st.Uid == 0):
			return "", fmt.Errorf("%s (mode %04o, uid %d, gid %d) is writable by other uids and not a sticky directory of root's", p, perm, st.Uid, st.Gid)
		}
		if p == filepath.Dir(p) {
			return real, nil
		}
	}
}
