package world

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// ChmodFinal sets the mode of name in dfd (path, for errors): a
// directory is opened O_DIRECTORY|O_NOFOLLOW and fchmod'ed; anything else
// is opened O_PATH|O_NOFOLLOW, checked (checkChmodTarget: a socket or
// directory of ours) and changed through /proc/self/fd/N.
//
// Race point: another uid may swap name for a link or another file up to
// the open; the open does not follow a link, and the fstat and the chmod
// are of the inode opened, so only a socket or directory of ours is ever
// changed.
func ChmodFinal(dfd int, name, path string, mode uint32) error {
	// check: the inode opened is one chmod may change.
	check := func(fd int) error {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return &os.PathError{Op: "chmod: fstat", Path: path, Err: err}
		}
		return checkChmodTarget(&st, path)
	}
	// A directory: fchmod on a real fd (no /proc needed).
	if fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0); err == nil {
		defer unix.Close(fd)
		if err := check(fd); err != nil {
			return err
		}
		return os.NewSyscallError("fchmod "+path, unix.Fchmod(fd, mode))
	}
	fd, err := unix.Openat(dfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "chmod: open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	if err := check(fd); err != nil {
		return err
	}
	if err := unix.Fchmodat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), mode, 0); err != nil {
		return &os.PathError{Op: "chmod", Path: path, Err: err}
	}
	return nil
}
