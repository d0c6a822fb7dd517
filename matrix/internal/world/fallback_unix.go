//go:build unix

package world

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// RemoveUnderTmp removes p, a path under /tmp (the sun_path fallback's
// base), if it is an empty directory or not a directory at all. It walks
// from /tmp with openat(O_NOFOLLOW) and removes with unlinkat, so it never
// follows a link another uid planted: root does not resolve a path through
// a directory another uid can write. /tmp itself is opened by name (on
// macOS it is a link to /private/tmp, made by the system).
func RemoveUnderTmp(p string) error {
	rel, ok := strings.CutPrefix(filepath.Clean(p), "/tmp/")
	if !ok {
		return fmt.Errorf("remove %s: not under /tmp", p)
	}
	dfd, err := unix.Open("/tmp", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	defer func() { unix.Close(dfd) }()
	parts := strings.Split(rel, "/")
	for _, dir := range parts[:len(parts)-1] {
		fd, err := unix.Openat(dfd, dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("remove %s: open %s: %w", p, dir, err)
		}
		unix.Close(dfd)
		dfd = fd
	}
	last := parts[len(parts)-1]
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, last, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	flags := 0
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		flags = unix.AT_REMOVEDIR // only when empty
	}
	if err := unix.Unlinkat(dfd, last, flags); err != nil {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	return nil
}

// ErrNotEmpty is what removing a directory that is not empty fails with.
var ErrNotEmpty error = unix.ENOTEMPTY

// OpenTmpParent opens the directory that holds p, a path under /tmp (the
// sun_path fallback), walking from /tmp with openat(O_DIRECTORY|O_NOFOLLOW)
// one component at a time. Each directory after /tmp must be a directory
// of uid with no group or other write (what ipc.Listen makes, 0700);
// anything else is an error naming what holds it (uid -1: any directory,
// for a walk that only looks). It returns the verified
// directory's fd (the caller closes it) and p's final name.
//
// Race point: a component swapped for a link or another uid's directory
// fails the O_NOFOLLOW open or the fstat of the fd that was opened; what
// is done next is relative to that fd, so no link another uid planted in
// /tmp is followed.
func OpenTmpParent(p string, uid int) (int, string, error) {
	rel, ok := strings.CutPrefix(filepath.Clean(p), "/tmp/")
	if !ok {
		return -1, "", fmt.Errorf("%s: not under /tmp", p)
	}
	dfd, err := unix.Open("/tmp", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", fmt.Errorf("open /tmp: %w", err)
	}
	parts := strings.Split(rel, "/")
	cur := "/tmp"
	for _, dir := range parts[:len(parts)-1] {
		cur = filepath.Join(cur, dir)
		fd, err := openTmpDir(dfd, dir, cur, uid)
		unix.Close(dfd)
		if err != nil {
			return -1, "", err
		}
		dfd = fd
	}
	return dfd, parts[len(parts)-1], nil
}

// openTmpDir opens name in dfd (whose path is path) without following a
// link and checks it is a directory of uid with no group or other write
// (uid -1: any directory, for a walk that only looks).
func openTmpDir(dfd int, name, path string, uid int) (int, error) {
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		var st unix.Stat_t
		if serr := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); serr == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return -1, fmt.Errorf("fallback directory %s is a %s of uid %d, not a directory of uid %d", path, KindOf(uint32(st.Mode)), st.Uid, uid)
		}
		return -1, fmt.Errorf("open %s (no links followed): %w", path, err)
	}
	if uid < 0 {
		return fd, nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("fstat %s: %w", path, err)
	}
	if int(st.Uid) != uid {
		unix.Close(fd)
		return -1, fmt.Errorf("fallback directory %s is held by uid %d, not the daemon's uid %d", path, st.Uid, uid)
	}
	if st.Mode&0o022 != 0 {
		unix.Close(fd)
		return -1, fmt.Errorf("fallback directory %s is mode %#o: writable by group or others", path, st.Mode&0o7777)
	}
	return fd, nil
}

// CheckTmpDir reports whether p, a directory under /tmp, exists; when it
// does, it and every directory between /tmp and it are checked as
// openTmpParent does.
func CheckTmpDir(p string, uid int) (bool, error) {
	dfd, base, err := OpenTmpParent(p, uid)
	if err != nil {
		return false, err
	}
	defer unix.Close(dfd)
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	fd, err := openTmpDir(dfd, base, filepath.Clean(p), uid)
	if err != nil {
		return false, err
	}
	unix.Close(fd)
	return true, nil
}
