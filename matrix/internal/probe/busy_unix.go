//go:build unix

package probe

import (
	"errors"

	"golang.org/x/sys/unix"
)

func isBacklogFull(err error) bool { return errors.Is(err, unix.EAGAIN) }

// FillBacklog connects non-blocking sockets to path until the kernel says
// the backlog is full (EAGAIN); it returns a function closing them.
func FillBacklog(path string, max int) (n int, full bool, closeAll func(), err error) {
	var fds []int
	closeAll = func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
		fds = nil // a second call must not close reused fd numbers
	}
	for i := 0; i < max; i++ {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
		if err != nil {
			return len(fds), false, closeAll, err
		}
		unix.CloseOnExec(fd)
		fds = append(fds, fd)
		if err := unix.SetNonblock(fd, true); err != nil {
			return len(fds), false, closeAll, err
		}
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
		if errors.Is(err, unix.EAGAIN) {
			return len(fds), true, closeAll, nil
		}
		if err != nil && !errors.Is(err, unix.EINPROGRESS) {
			return len(fds), false, closeAll, err
		}
	}
	return len(fds), false, closeAll, nil
}
