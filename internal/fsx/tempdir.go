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
// roots): os.TempDir() when every uid may search it and its ancestors and
// no uid but root and ours controls it (HeldByUs), else /tmp when that
// holds there, else an error naming both. As root on macOS, $TMPDIR
// (/var/folders/.../T/) is the invoking user's, mode 0700: a helper there
// cannot run as another uid, and its owner could swap the path under the
// suite. A uid gets itself as primary group, as the suite's helpers do.
// The directory returned is resolved (no symlink left on it).
func TempDirFor(uids ...int) (string, error) {
	dir := os.TempDir()
	real, first := usableTempDir(dir, uids...)
	if first == nil {
		return real, nil
	}
	if dir == "/tmp" {
		return "", first
	}
	tmp, err := usableTempDir("/tmp", uids...)
	if err != nil {
		return "", fmt.Errorf("%v; and %v", first, err)
	}
	return tmp, nil
}

// WhyNotTempDir says why TempDirFor(uids...) does not use os.TempDir()
// (nil when it does).
func WhyNotTempDir(uids ...int) error {
	_, err := usableTempDir(os.TempDir(), uids...)
	return err
}

// usableTempDir is dir resolved when no other uid controls it (HeldByUs)
// and each of uids may reach it.
func usableTempDir(dir string, uids ...int) (string, error) {
	real, err := HeldByUs(dir)
	if err == nil {
		err = ReachableBy(real, uids...)
	}
	return real, err
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
