//go:build unix

package ipc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"

	"github.com/org/bh-ipc-check/internal/busydial"
)

// dialUnix checks the socket path (a socket owned by this uid, reached
// without following links), connects and checks the server's uid through
// peer credentials on the client socket.
func dialUnix(ctx context.Context, lay Layout, o *options) (*Conn, error) {
	path := lay.Sock
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return nil, fmt.Errorf("ipc: dial %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return nil, notPrivate(path, "is not a socket", &st)
	}
	if st.Uid != uint32(os.Geteuid()) && !o.peerAllowed(int(st.Uid)) {
		return nil, notPrivate(path, fmt.Sprintf("socket is owned by uid %d, not %d", st.Uid, os.Geteuid()), &st)
	}
	connectPath := path
	// On Linux connect through the verified directory handle, so the path
	// cannot be redirected between the checks above and connect.
	if dfd, err := unix.Open(lay.Dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0); err == nil {
		defer unix.Close(dfd)
		var dst unix.Stat_t
		if unix.Fstat(dfd, &dst) == nil {
			if p := procDirPath(dfd, uint64(dst.Dev), uint64(dst.Ino)); p != "" {
				connectPath = p + "/sock"
			}
		}
	}
	c, err := connectUnix(ctx, connectPath)
	if err != nil {
		if errors.Is(err, unix.ECONNREFUSED) {
			return nil, fmt.Errorf("ipc: dial %s: %w: %w", path, ErrStale, err)
		}
		return nil, fmt.Errorf("ipc: dial %s: %w", path, err)
	}
	uid, pid, err := peerCred(c)
	if err != nil || !o.peerAllowed(uid) {
		c.Close()
		if err != nil {
			return nil, fmt.Errorf("ipc: dial %s: %w: %v", path, ErrPeerRejected, err)
		}
		return nil, fmt.Errorf("ipc: dial %s: %w: server uid %d (pid %d), allowed %v", path, ErrPeerRejected, uid, pid, o.peerUIDs)
	}
	return &Conn{c: c, r: bufio.NewReaderSize(c, 4096), layout: lay}, nil
}

// connectUnix connects, retrying while the listener's backlog is full
// (EAGAIN on Linux): a busy daemon is alive, not stale, so Dial waits for it
// within ctx (or busydial.DefaultWait) instead of failing at once.
func connectUnix(ctx context.Context, path string) (net.Conn, error) {
	return busydial.Dial(ctx, "unix", path, func(err error) bool { return errors.Is(err, unix.EAGAIN) }, nil)
}

// listenLoopback listens on 127.0.0.1:0.
func listenLoopback(ctx context.Context) (net.Listener, error) {
	var lc net.ListenConfig
	return lc.Listen(ctx, "tcp4", "127.0.0.1:0")
}
