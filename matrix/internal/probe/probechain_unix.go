//go:build unix

package probe

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/org/bh-ipc-check/matrix/internal/world"
)

// maxChainLinks bounds the links verifyEndpointChain follows (as the
// kernel's 40).
const maxChainLinks = 40

// chainError says why an endpoint's path cannot be trusted for an exec
// probe; notFound: it is only not there yet (or any more), which a
// readiness probe retries.
type chainError struct {
	msg      string
	notFound bool
}

func (e *chainError) Error() string { return e.msg }

// verifyEndpointChain checks that every directory from / to the endpoint
// at path (a socket, or a port file when want is S_IFREG) can be changed
// by root and uid only, and that the endpoint is a want of uid: each
// directory is opened relative to the last with O_NOFOLLOW and fstat'ed;
// it must be owned by root or uid, and writable by group or others only
// when sticky (the run's scenario directories, 01777 and root's). A link
// in the path is followed only when it is root's or uid's, in a directory
// that passed (macOS's /tmp and /var); anything else fails.
//
// Race point: once this passes, no other uid can rename or replace a
// component of path (no directory is writable by another uid, or it is
// sticky and the component is root's or uid's), so the exec probe that
// then opens path by name reaches what was checked.
func verifyEndpointChain(path string, uid int, want uint32) error {
	if !filepath.IsAbs(path) {
		abs, err := filepath.Abs(path)
		if err != nil {
			return &chainError{msg: fmt.Sprintf("%s: %v", path, err)}
		}
		path = abs
	}
	owned := func(st *unix.Stat_t) bool { return st.Uid == 0 || int(st.Uid) == uid }
	for links := 0; ; {
		rest := strings.Split(strings.TrimPrefix(filepath.Clean(path), "/"), "/")
		fd, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return &chainError{msg: fmt.Sprintf("open /: %v", err)}
		}
		cur := "/"
		restart := ""
		for i, comp := range rest {
			var st unix.Stat_t
			if err := unix.Fstat(fd, &st); err != nil {
				unix.Close(fd)
				return &chainError{msg: fmt.Sprintf("fstat %s: %v", cur, err)}
			}
			if !owned(&st) {
				unix.Close(fd)
				return &chainError{msg: fmt.Sprintf("directory %s is owned by uid %d, not root or the daemon's uid %d", cur, st.Uid, uid)}
			}
			if st.Mode&0o022 != 0 && st.Mode&unix.S_ISVTX == 0 {
				unix.Close(fd)
				return &chainError{msg: fmt.Sprintf("directory %s is mode %#o: writable by group or others and not sticky", cur, st.Mode&0o7777)}
			}
			next := filepath.Join(cur, comp)
			if err := unix.Fstatat(fd, comp, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				unix.Close(fd)
				return &chainError{msg: fmt.Sprintf("lstat %s: %v", next, err), notFound: errors.Is(err, unix.ENOENT)}
			}
			if st.Mode&unix.S_IFMT == unix.S_IFLNK {
				if !owned(&st) || links >= maxChainLinks {
					unix.Close(fd)
					return &chainError{msg: fmt.Sprintf("%s is a symlink of uid %d (followed %d links): not root's or the daemon's uid %d", next, st.Uid, links, uid)}
				}
				buf := make([]byte, 4096)
				n, err := unix.Readlinkat(fd, comp, buf)
				unix.Close(fd)
				if err != nil {
					return &chainError{msg: fmt.Sprintf("readlink %s: %v", next, err)}
				}
				target := string(buf[:n])
				if !filepath.IsAbs(target) {
					// cur has no links left in it: ".." in target is lexical.
					target = filepath.Join(cur, target)
				}
				links++
				restart = filepath.Join(append([]string{target}, rest[i+1:]...)...)
				break
			}
			if i == len(rest)-1 {
				unix.Close(fd)
				if uint32(st.Mode)&unix.S_IFMT != want {
					return &chainError{msg: fmt.Sprintf("%s is a %s, not a %s", next, world.KindOf(uint32(st.Mode)), world.KindOf(want))}
				}
				if int(st.Uid) != uid {
					return &chainError{msg: fmt.Sprintf("%s is owned by uid %d, not the daemon's uid %d", next, st.Uid, uid)}
				}
				return nil
			}
			nfd, err := unix.Openat(fd, comp, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			unix.Close(fd)
			if err != nil {
				return &chainError{msg: fmt.Sprintf("open %s (no links followed): %v", next, err), notFound: errors.Is(err, unix.ENOENT)}
			}
			fd, cur = nfd, next
		}
		if restart == "" {
			return &chainError{msg: fmt.Sprintf("%s: no endpoint in the path", path)}
		}
		path = restart
	}
}

// probeProcessGroup puts cmd (an exec probe) in a process group of its
// own, killed whole when the probe's context ends; killProbeGroup kills
// what is left of it once the probe returned. WaitDelay: a descendant
// that holds the probe's output open does not hold the probe.
func probeProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return unix.Kill(-cmd.Process.Pid, unix.SIGKILL) }
	cmd.WaitDelay = time.Second
}

// killProbeGroup kills the probe's process group after the probe returned.
//
// Race point: the group's leader is reaped by now, so its pid may be
// reused; a new process becomes a group of that id only by making itself
// a leader, which a pid just recycled has not had the time to. A process
// of the probe that left the group (setsid) is not reached here.
func killProbeGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
	}
}

// The endpoint kinds verifyEndpointChain checks for.
const (
	endpointSocket = unix.S_IFSOCK
	endpointFile   = unix.S_IFREG
)
