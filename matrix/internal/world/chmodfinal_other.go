//go:build unix && !linux

package world

import (
	"os"

	"golang.org/x/sys/unix"
)

// ChmodFinal sets the mode of name in dfd (path, for errors), a socket or
// directory of ours (checkChmodTarget), without following a final link.
//
// Race point: there is no O_PATH here: between the fstatat and the
// fchmodat another uid that can write dfd's directory may swap name; the
// fchmodat does not follow a link (AT_SYMLINK_NOFOLLOW), so at worst it
// changes another entry of that same directory, never a file a link
// points to.
func ChmodFinal(dfd int, name, path string, mode uint32) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "chmod: lstat", Path: path, Err: err}
	}
	if err := checkChmodTarget(&st, path); err != nil {
		return err
	}
	if err := unix.Fchmodat(dfd, name, mode, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "chmod", Path: path, Err: err}
	}
	return nil
}
