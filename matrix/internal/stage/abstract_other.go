//go:build !linux

package stage

import "errors"

// AbstractHolder: abstract socket names are Linux's.
func AbstractHolder(sock string) (uid, pid int, err error) {
	return -1, 0, errors.New("abstract socket names are Linux-only")
}
