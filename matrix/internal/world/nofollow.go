package world

import (
	"fmt"
	"io"
)

// OwnerError: a file is not of the uid the reader wanted.
type OwnerError struct {
	Path        string
	Owner, Want int
}

func (e *OwnerError) Error() string {
	return fmt.Sprintf("%s is owned by uid %d, not uid %d", e.Path, e.Owner, e.Want)
}

// ReadNoFollow is the suite's one reader of files in directories other
// uids can write (port, pid and lock files, plants, canaries): at most max
// bytes of the regular file at path, opened by openRegularNoFollow (a
// final symlink is refused, a FIFO cannot block, owner >= 0 must own it).
func ReadNoFollow(path string, owner int, max int64) ([]byte, error) {
	f, err := OpenRegularNoFollow(path, owner)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, max))
}
