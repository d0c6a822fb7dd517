package matrix

import (
	"errors"
	"fmt"
	"os"
)

func mkfifo(path string, mode uint32) error { return errors.New("no FIFOs on windows") }

func describe(path string) string {
	fi, err := os.Lstat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "missing"
		}
		return "lstat: " + err.Error()
	}
	return fmt.Sprintf("%s %v", kindOfInfo(fi), fi.Mode().Perm())
}

// describeInfo is describe's text for an lstat result already taken.
func describeInfo(fi os.FileInfo, link string) string {
	return fmt.Sprintf("%s %v", kindOfInfo(fi), fi.Mode().Perm())
}

func kindOfInfo(fi os.FileInfo) string {
	switch {
	case fi.IsDir():
		return "dir"
	case fi.Mode()&os.ModeSymlink != 0:
		return "symlink"
	case fi.Mode().IsRegular():
		return "file"
	}
	return "other"
}

type facts struct {
	Exists bool
	Kind   string
	Mode   uint32
	UID    int
	GID    int
}

func stat(path string) facts {
	fi, err := os.Lstat(path)
	if err != nil {
		return facts{}
	}
	return facts{Exists: true, Kind: kindOfInfo(fi), Mode: uint32(fi.Mode().Perm()), UID: -1, GID: -1}
}

// factsOf is stat's result for an lstat already taken.
func factsOf(fi os.FileInfo) facts {
	return facts{Exists: true, Kind: kindOfInfo(fi), Mode: uint32(fi.Mode().Perm()), UID: -1, GID: -1}
}

// ownerOf: no uids on Windows.
func ownerOf(fi os.FileInfo) (int, bool) { return 0, false }
