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
