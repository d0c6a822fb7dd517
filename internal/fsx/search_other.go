//go:build !unix

package fsx

// SearchableBy: no uids to switch to here (the suite switches only on
// Unix), so there is nothing to check.
func SearchableBy(dir string, uid, gid int) error { return nil }

// HeldByUs: no uids to switch to here, so the suite runs nothing as
// another uid by path; dir is used as it is.
func HeldByUs(dir string) (string, error) { return dir, nil }
