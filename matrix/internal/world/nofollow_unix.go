//go:build unix

package world

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// OpenRegularNoFollow opens path for reading without following a final
// symlink, and checks it is a regular file, of uid owner when owner >= 0
// (an *ownerError otherwise). The caller closes the file.
//
// Race point: another uid may replace path with a link or a FIFO at any
// moment. O_NOFOLLOW refuses a link at the last component; O_NONBLOCK
// keeps a FIFO put in its place from blocking the open; the type and
// owner are read from the opened descriptor (fstat), so they are those of
// the file that is read, not of whatever the name points to afterwards.
func OpenRegularNoFollow(path string, owner int) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, fmt.Errorf("%s is a %s, not a regular file", path, KindOf(uint32(st.Mode)))
	}
	if owner >= 0 && int(st.Uid) != owner {
		unix.Close(fd)
		return nil, &OwnerError{Path: path, Owner: int(st.Uid), Want: owner}
	}
	return os.NewFile(uintptr(fd), path), nil
}
