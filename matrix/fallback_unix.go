//go:build unix

package matrix

import (
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// removeUnderTmp removes p, a path under /tmp (the sun_path fallback's
// base), if it is an empty directory or not a directory at all. It walks
// from /tmp with openat(O_NOFOLLOW) and removes with unlinkat, so it never
// follows a link another uid planted: root does not resolve a path through
// a directory another uid can write. /tmp itself is opened by name (on
// macOS it is a link to /private/tmp, made by the system).
func removeUnderTmp(p string) error {
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

// errNotEmpty is what removing a directory that is not empty fails with.
var errNotEmpty error = unix.ENOTEMPTY
