//go:build unix

package world

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

func Mkfifo(path string, mode uint32) error { return unix.Mkfifo(path, mode) }

// Describe is the facts of path for evidence: type, mode, owner.
func Describe(path string) string {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return "missing"
		}
		return "lstat: " + err.Error()
	}
	s := fmt.Sprintf("%s %04o uid %d", KindOf(uint32(st.Mode)), st.Mode&07777, st.Uid)
	if uint32(st.Mode)&unix.S_IFMT == unix.S_IFLNK {
		t, _ := os.Readlink(path)
		s += " -> " + t
	}
	return s
}

// describeInfo is describe's text for an lstat result already taken (link:
// the symlink's target, when it is one).
func describeInfo(fi os.FileInfo, link string) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Sprintf("%v", fi.Mode())
	}
	s := fmt.Sprintf("%s %04o uid %d", KindOf(uint32(st.Mode)), st.Mode&07777, st.Uid)
	if uint32(st.Mode)&unix.S_IFMT == unix.S_IFLNK {
		s += " -> " + link
	}
	return s
}

func KindOf(m uint32) string {
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		return "dir"
	case unix.S_IFREG:
		return "file"
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFIFO:
		return "fifo"
	}
	return "other"
}

// Facts is lstat's result in a portable shape.
type Facts struct {
	Exists bool
	Kind   string
	Mode   uint32 // permission bits and sticky/setuid/setgid
	UID    int
	GID    int
}

func Stat(path string) Facts {
	var st unix.Stat_t
	if unix.Lstat(path, &st) != nil {
		return Facts{}
	}
	return Facts{Exists: true, Kind: KindOf(uint32(st.Mode)), Mode: uint32(st.Mode) & 07777, UID: int(st.Uid), GID: int(st.Gid)}
}

// FactsOf is stat's result for an lstat already taken.
func FactsOf(fi os.FileInfo) Facts {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return Facts{Exists: true, Kind: "other", UID: -1, GID: -1}
	}
	return Facts{Exists: true, Kind: KindOf(uint32(st.Mode)), Mode: uint32(st.Mode) & 07777, UID: int(st.Uid), GID: int(st.Gid)}
}

// ownerOf is fi's owner uid.
func ownerOf(fi os.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}
