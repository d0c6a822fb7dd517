//go:build !unix

package world

import "errors"

// RemoveUnderTmp: there is no sun_path fallback on this OS.
func RemoveUnderTmp(p string) error { return errors.New("no sun_path fallback on this OS") }

// ErrNotEmpty: no sun_path fallback, nothing to remove.
var ErrNotEmpty = errors.New("directory not empty")

// CheckTmpDir: there is no sun_path fallback on this OS.
func CheckTmpDir(p string, uid int) (bool, error) {
	return false, errors.New("no sun_path fallback on this OS")
}
