//go:build unix

package matrix

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

func identityOf(fi os.FileInfo, link string) plantIdentity {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return plantIdentity{Kind: kindOfMode(fi.Mode()), Link: link}
	}
	return plantIdentity{Dev: uint64(st.Dev), Ino: uint64(st.Ino), Kind: kindOf(uint32(st.Mode)), UID: int(st.Uid), Link: link}
}

// identifyOutside is path's identity for a path under /tmp (the sun_path
// fallback): walked from /tmp with openat(O_NOFOLLOW), the final name
// lstatted (fstatat AT_SYMLINK_NOFOLLOW) and read (readlinkat) in the
// directory opened, so no link on the way is followed.
func identifyOutside(path string) (plantIdentity, error) {
	dfd, base, err := openTmpParentAnyOwner(path)
	if err != nil {
		return plantIdentity{}, err
	}
	defer unix.Close(dfd)
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return plantIdentity{}, &os.PathError{Op: "lstat", Path: path, Err: err}
	}
	id := plantIdentity{Dev: uint64(st.Dev), Ino: uint64(st.Ino), Kind: kindOf(uint32(st.Mode)), UID: int(st.Uid)}
	if uint32(st.Mode)&unix.S_IFMT == unix.S_IFLNK {
		buf := make([]byte, 4096)
		n, err := unix.Readlinkat(dfd, base, buf)
		if err != nil {
			return plantIdentity{}, &os.PathError{Op: "readlink", Path: path, Err: err}
		}
		id.Link = string(buf[:n])
	}
	return id, nil
}

// openTmpParentAnyOwner opens the directory holding p, a path under /tmp,
// walking from /tmp with openat(O_DIRECTORY|O_NOFOLLOW), whoever owns the
// directories (it is used to look, never to write); it returns the fd
// (the caller closes it) and p's final name.
func openTmpParentAnyOwner(p string) (int, string, error) {
	rel, ok := strings.CutPrefix(filepath.Clean(p), "/tmp/")
	if !ok {
		return -1, "", fmt.Errorf("%s: not under /tmp", p)
	}
	dfd, err := unix.Open("/tmp", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", fmt.Errorf("open /tmp: %w", err)
	}
	parts := strings.Split(rel, "/")
	for _, dir := range parts[:len(parts)-1] {
		fd, err := unix.Openat(dfd, dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(dfd)
		if err != nil {
			return -1, "", &os.PathError{Op: "open (no links followed)", Path: p, Err: err}
		}
		dfd = fd
	}
	return dfd, parts[len(parts)-1], nil
}

// ownerOf is fi's owner uid.
func ownerOf(fi os.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}
