package stage

import "errors"

// GuardHelper: helpers act as another uid only on Unix.
func GuardHelper() error { return nil }

// dropToUID: helpers act as another uid only on Unix.
func dropToUID(uid, gid int, groups []int) error {
	return errors.New("acting as another uid: Unix only")
}
