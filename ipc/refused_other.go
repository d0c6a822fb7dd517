//go:build !windows

package ipc

import (
	"errors"
	"syscall"
)

// isConnRefused reports whether a dial error means nothing listens on the
// port (ECONNREFUSED); private_windows.go has the Windows counterpart.
func isConnRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED)
}
