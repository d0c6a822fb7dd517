package world

import (
	"errors"
	"fmt"
	"os"
)

func Mkfifo(path string, mode uint32) error { return errors.New("no FIFOs on windows") }

func Describe(path string) string {
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

type Facts struct {
	Exists bool
	Kind   string
	Mode   uint32
	UID    int
	GID    int
}

func Stat(path string) Facts {
	fi, err := os.Lstat(path)
	if err != nil {
		return Facts{}
	}
	return Facts{Exists: true, Kind: kindOfInfo(fi), Mode: uint32(fi.Mode().Perm()), UID: -1, GID: -1}
}

// FactsOf is stat's result for an lstat already taken.
func FactsOf(fi os.FileInfo) Facts {
	return Facts{Exists: true, Kind: kindOfInfo(fi), Mode: uint32(fi.Mode().Perm()), UID: -1, GID: -1}
}

// ownerOf: no uids on Windows.
func ownerOf(fi os.FileInfo) (int, bool) { return 0, false }
