//go:build unix

package stage

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/org/bh-ipc-check/matrix/internal/world"
)

// doOutside performs p (a plant outside the run directory, under /tmp)
// relative to the directory openTmpParent verified: mkdirat, symlinkat,
// openat(O_CREAT|O_EXCL|O_NOFOLLOW), or a chmod of the final name through
// an O_PATH|O_NOFOLLOW handle (chmodNoFollow).
func (p PlantOp) doOutside(uid int) error {
	dfd, base, err := world.OpenTmpParent(p.Path, uid)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	mode := p.Mode & 0o7777
	switch p.Op {
	case "mkdir":
		if err := unix.Mkdirat(dfd, base, 0o700); err != nil {
			return &os.PathError{Op: "mkdirat", Path: p.Path, Err: err}
		}
		fd, err := unix.Openat(dfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return &os.PathError{Op: "open", Path: p.Path, Err: err}
		}
		defer unix.Close(fd)
		return os.NewSyscallError("fchmod", unix.Fchmod(fd, mode))
	case "symlink":
		return os.NewSyscallError("symlinkat", unix.Symlinkat(p.Target, dfd, base))
	case "write":
		fd, err := unix.Openat(dfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return &os.PathError{Op: "create", Path: p.Path, Err: err}
		}
		f := os.NewFile(uintptr(fd), p.Path)
		_, werr := f.WriteString(p.Data)
		return errors.Join(werr, os.NewSyscallError("fchmod", unix.Fchmod(fd, mode)), f.Close())
	case "chmod":
		return world.ChmodFinal(dfd, base, p.Path, mode)
	case "mkfifo":
		return world.Mkfifo(p.Path, p.Mode)
	}
	return fmt.Errorf("plant op %q outside the run directory: not supported", p.Op)
}
