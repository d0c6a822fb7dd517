//go:build !unix

package matrix

import "errors"

// doOutside: there is no sun_path fallback on this OS, so nothing is
// planted outside the run directory.
func (p plantOp) doOutside(uid int) error {
	return errors.New("no sun_path fallback on this OS: nothing is planted outside the run directory")
}
