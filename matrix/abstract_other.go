//go:build !linux

package matrix

import "errors"

// abstractHolder: abstract socket names are Linux's.
func abstractHolder(sock string) (uid, pid int, err error) {
	return -1, 0, errors.New("abstract socket names are Linux-only")
}
