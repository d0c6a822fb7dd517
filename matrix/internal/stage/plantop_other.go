//go:build !unix

package stage

import "errors"

// doOutside: there is no sun_path fallback on this OS, so nothing is
// planted outside the run directory.
func (p PlantOp) doOutside(uid int) error {
	return errors.New("no sun_path fallback on this OS: nothing is planted outside the run directory")
}
