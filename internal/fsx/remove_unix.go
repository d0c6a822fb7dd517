//go:build !windows

package fsx

import "os"

// removeTree is os.RemoveAll: unlinkat and openat(O_NOFOLLOW|O_DIRECTORY)
// relative to the directory being emptied.
//
// Race point: another uid may replace any directory in the tree with a
// symlink at any moment. os.RemoveAll opens each directory it descends into
// with O_NOFOLLOW and removes entries relative to that handle, so a link is
// removed as a link, and a directory moved away while it is being emptied
// is emptied where it now is, never through a path.
func removeTree(dir string) error { return os.RemoveAll(dir) }
