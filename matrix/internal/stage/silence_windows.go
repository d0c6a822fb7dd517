//go:build windows

package stage

import (
	"errors"
	"io"
	"net"
	"os"
	"time"
)

// peekOnce is one short look at c (Windows: a read with a brief deadline,
// which takes the bytes it finds; the suite does not read them again).
func peekOnce(c net.Conn) (got, st string) {
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	defer c.SetReadDeadline(time.Time{})
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	switch {
	case n > 0:
		return string(buf[:n]), ""
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "", ""
	case errors.Is(err, io.EOF):
		return "", "closed by the daemon"
	case err != nil:
		return "", err.Error()
	}
	return "", ""
}
