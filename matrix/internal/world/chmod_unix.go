//go:build unix

package world

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// unixMode is m as the mode bits of chmod(2): the permissions and the
// sticky bit (which os.FileMode keeps apart).
func unixMode(m os.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&os.ModeSticky != 0 {
		u |= unix.S_ISVTX
	}
	return u
}

// ChmodNoFollowIn sets the mode of rel, a socket or a directory of this
// process's uid inside r, without following any link on the way or at
// the end: os.Root's Chmod follows a final link that stays inside the
// root (and the run directory's root holds the suite's own binary). The
// walk opens each directory with O_NOFOLLOW relative to the last, from a
// handle on r's directory; the final name is changed by chmodFinal.
func ChmodNoFollowIn(r *os.Root, rel string, mode os.FileMode) error {
	top, err := r.Open(".")
	if err != nil {
		return err
	}
	defer top.Close()
	dfd, err := unix.Dup(int(top.Fd()))
	if err != nil {
		return os.NewSyscallError("dup", err)
	}
	parts := strings.Split(filepath.ToSlash(filepath.Clean(rel)), "/")
	path := filepath.Join(r.Name(), rel)
	for _, dir := range parts[:len(parts)-1] {
		fd, err := unix.Openat(dfd, dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(dfd)
		if err != nil {
			return &os.PathError{Op: "chmod: open " + dir + " (no links followed) in", Path: path, Err: err}
		}
		dfd = fd
	}
	defer unix.Close(dfd)
	return ChmodFinal(dfd, parts[len(parts)-1], path, unixMode(mode))
}

// checkChmodTarget: what chmodFinal changes must be a socket or a
// directory of this process's uid.
func checkChmodTarget(st *unix.Stat_t, path string) error {
	if k := st.Mode & unix.S_IFMT; k != unix.S_IFSOCK && k != unix.S_IFDIR {
		return fmt.Errorf("chmod %s: it is a %s, not a socket or a directory: not changed", path, KindOf(uint32(st.Mode)))
	}
	if int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("chmod %s: owned by uid %d, not uid %d: not changed", path, st.Uid, os.Geteuid())
	}
	return nil
}
