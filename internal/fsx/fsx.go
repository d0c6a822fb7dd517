// Package fsx holds small filesystem helpers shared by the suite and the
// tests.
package fsx

// RemoveTree removes dir and everything in it. A missing dir is not an
// error.
//
// On Unix it is os.RemoveAll, which works relative to open directory
// handles and never follows a symbolic link: a directory another uid swaps
// for a link while the tree is being removed makes it unlink the link, not
// what the link points to. On Windows it walks the tree and removes the
// entries deepest first by path, because under Wine os.RemoveAll fails
// ("Invalid function") while those calls work; no other uid acts in the
// trees the suite removes there.
func RemoveTree(dir string) error { return removeTree(dir) }
