package scenario

import (
	"errors"
	"net"
)

// dialFrom: the bound-address clients are POSIX only (auth.bound-address
// runs on Linux and macOS).
func dialFrom(local, path string) (net.Conn, error) {
	return nil, errors.New("a client bound to a Unix address is not made on windows")
}
