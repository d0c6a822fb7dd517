//go:build unix

package stage

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/org/bh-ipc-check/matrix/internal/world"
)

func identityOf(fi os.FileInfo, link string) plantIdentity {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return plantIdentity{Kind: kindOfMode(fi.Mode()), Mode: uint32(fi.Mode().Perm()), Link: link}
	}
	return plantIdentity{Dev: uint64(st.Dev), Ino: uint64(st.Ino), Kind: world.KindOf(uint32(st.Mode)), UID: int(st.Uid), Mode: uint32(st.Mode) & 0o7777, Link: link}
}

// identifyOutside is path's identity for a path under /tmp (the sun_path
// fallback): walked from /tmp with openat(O_NOFOLLOW), the final name
// lstatted (fstatat AT_SYMLINK_NOFOLLOW) and read (readlinkat) in the
// directory opened, so no link on the way is followed.
func identifyOutside(path string) (plantIdentity, error) {
	dfd, base, err := world.OpenTmpParent(path, -1) // to look, not to write: any owner
	if err != nil {
		return plantIdentity{}, err
	}
	defer unix.Close(dfd)
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return plantIdentity{}, &os.PathError{Op: "lstat", Path: path, Err: err}
	}
	id := plantIdentity{Dev: uint64(st.Dev), Ino: uint64(st.Ino), Kind: world.KindOf(uint32(st.Mode)), UID: int(st.Uid), Mode: uint32(st.Mode) & 0o7777}
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
