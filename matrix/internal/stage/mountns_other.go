//go:build !linux

package stage

import (
	"errors"
	"syscall"
)

// MountNSAttr: mount namespaces, like abstract socket names, are Linux's
// (auth.abstract-mount-ns runs on Linux only).
func MountNSAttr() (*syscall.SysProcAttr, error) {
	return nil, errors.New("mount namespaces are Linux-only")
}
