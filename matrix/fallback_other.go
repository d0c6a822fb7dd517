//go:build !unix

package matrix

import "errors"

// removeUnderTmp: there is no sun_path fallback on this OS.
func removeUnderTmp(p string) error { return errors.New("no sun_path fallback on this OS") }

// errNotEmpty: no sun_path fallback, nothing to remove.
var errNotEmpty = errors.New("directory not empty")

// checkTmpDir: there is no sun_path fallback on this OS.
func checkTmpDir(p string, uid int) (bool, error) {
	return false, errors.New("no sun_path fallback on this OS")
}
