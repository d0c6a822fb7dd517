//go:build !linux

package matrix

import (
	"errors"
	"syscall"
)

// mountNSAttr: mount namespaces, like abstract socket names, are Linux's
// (auth.abstract-mount-ns runs on Linux only).
func mountNSAttr() (*syscall.SysProcAttr, error) {
	return nil, errors.New("mount namespaces are Linux-only")
}
