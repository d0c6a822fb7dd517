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

// isConnReset reports whether a read error means the peer closed the
// connection abruptly (ECONNRESET); private_windows.go has the Windows
// counterpart.
func isConnReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET)
}
