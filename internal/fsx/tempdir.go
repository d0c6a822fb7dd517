package fsx

import (
	"fmt"
	"os"
)

// NobodyUID (65534, "nobody") owns nothing as a rule, so SearchableBy for
// it judges the "other" permission bits alone: what any other uid may do.
const NobodyUID = 65534

// TempDirFor returns the directory to make temporary directories in that
// the given uids must reach (run directories, helper binaries, scenario
// roots): os.TempDir() when every uid may search it and its ancestors,
// else /tmp when they may search that, else an error naming both. As root
// on macOS, $TMPDIR (/var/folders/.../T/) is the invoking user's, mode
// 0700: a helper there cannot run as another uid. A uid gets itself as
// primary group, as the suite's helpers do.
func TempDirFor(uids ...int) (string, error) {
	dir := os.TempDir()
	first := ReachableBy(dir, uids...)
	if first == nil {
		return dir, nil
	}
	if dir == "/tmp" {
		return "", first
	}
	if err := ReachableBy("/tmp", uids...); err != nil {
		return "", fmt.Errorf("%v; and %v", first, err)
	}
	return "/tmp", nil
}

// ReachableBy is SearchableBy for each of uids (each with itself as
// primary group): the first that cannot search dir or an ancestor.
func ReachableBy(dir string, uids ...int) error {
	for _, uid := range uids {
		if err := SearchableBy(dir, uid, uid); err != nil {
			return err
		}
	}
	return nil
}
