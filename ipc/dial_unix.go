//go:build unix

package ipc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/org/bh-ipc-check/internal/busydial"
)

// Test hooks: testNoProc makes Dial connect as it does where there is no
// /proc (macOS): by the plain path, bracketed by checks;
// testHookBeforeConnect runs between Dial's checks and its connect;
// testHookBusyRetry runs before each connect retried on a full backlog.
var (
	testNoProc            bool
	testHookBeforeConnect func()
	testHookBusyRetry     func()
)

// dialChain opens and verifies, without creating or changing anything, the
// chain Listen made: the fallback parents and the endpoint directory
// (openChain with dirVerify: each ours, not writable by group or others,
// not a link, each opened inside the one before). The layout is the one
// Listen uses (see resolveUID); a fallback base held by another uid is
// ErrNotPrivate naming it and what to do (squatted). The caller closes the
// chain.
func dialChain(lay Layout) ([]*privDir, *privDir, error) {
	parents, dir, err := openChain(lay, dirVerify)
	if err != nil {
		closeChain(parents, dir)
		return nil, nil, squatted(lay, err)
	}
	return parents, dir, nil
}

// dialUnix verifies the directory chain (dialChain), checks that "sock" in
// the verified directory is a socket owned by this uid (or an allowed one),
// connects through the verified directory handle, and checks the server's
// uid through peer credentials on the client socket. Anything else in the
// chain is ErrNotPrivate naming the entry, its owner and its mode.
//
// On Linux it connects to /proc/self/fd/<dirfd>/sock, so what is connected
// is in the directory that was verified, whatever happens to the paths.
// Without /proc (macOS) it connects by the plain path; the chain and the
// socket are checked again after connect, and the peer's uid in any case.
// On every OS the directory holding the chain must be one in which no other
// uid can rename entries (openChain, holderSafe).
func dialUnix(ctx context.Context, lay Layout, o *options) (*Conn, error) {
	if lay.Name == "" {
		return dialSocketPath(ctx, lay, o) // DialSocket: a path outside the layout
	}
	parents, dir, err := dialChain(lay)
	if err != nil {
		if errors.Is(err, ErrNotPrivate) {
			return nil, err // names the entry, its owner and its mode
		}
		return nil, fmt.Errorf("ipc: dial %s: %w", lay.Sock, err)
	}
	defer closeChain(parents, dir)
	st, err := socketAt(dir, "sock", lay.Sock, o)
	if err != nil {
		return nil, err
	}
	connectPath := ""
	if !testNoProc {
		connectPath = procDirPath(dir.fd, dir.dev, dir.ino)
	}
	var recheck func() error
	if connectPath != "" {
		connectPath += "/sock"
	} else {
		// Race point: by the plain path, the kernel resolves every
		// component again. Our directories cannot change under another
		// uid (ours, not writable by others), and openChain refused a
		// directory holding the chain where another uid could rename our
		// entry away and put a link in its place; the chain and the
		// socket are checked again once connected.
		connectPath = lay.Sock
		recheck = func() error {
			for _, d := range append(parents, dir) {
				if !d.sameDir() {
					return notPrivate(d.path, "changed while connecting", nil)
				}
			}
			var now unix.Stat_t
			if unix.Fstatat(dir.fd, "sock", &now, unix.AT_SYMLINK_NOFOLLOW) != nil || now.Dev != st.Dev || now.Ino != st.Ino {
				return notPrivate(lay.Sock, "changed while connecting", nil)
			}
			return nil
		}
	}
	return connectChecked(ctx, lay, connectPath, recheck, o)
}

// dialSocketPath is DialSocket: the socket's directory is the caller's
// choice (it may be a shared one such as /tmp), so it is opened as given
// and not required to be ours; "sock" is checked and connected to through
// that handle.
func dialSocketPath(ctx context.Context, lay Layout, o *options) (*Conn, error) {
	fd, err := unix.Open(lay.Dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("ipc: dial %s: open directory: %w", lay.Sock, err)
	}
	var dst unix.Stat_t
	if err := unix.Fstat(fd, &dst); err != nil {
		unix.Close(fd) // read-only directory handle: nothing to lose
		return nil, fmt.Errorf("ipc: dial %s: %w", lay.Sock, err)
	}
	dir := &privDir{path: lay.Dir, fd: fd, dev: uint64(dst.Dev), ino: uint64(dst.Ino)}
	defer dir.close()
	base := filepath.Base(lay.Sock)
	if _, err := socketAt(dir, base, lay.Sock, o); err != nil {
		return nil, err
	}
	connectPath := procDirPath(dir.fd, dir.dev, dir.ino)
	if connectPath == "" {
		connectPath = lay.Sock
	} else {
		connectPath += "/" + base
	}
	return connectChecked(ctx, lay, connectPath, nil, o)
}

// socketAt checks that name inside dir is a socket owned by this uid or an
// allowed one, without following links.
func socketAt(dir *privDir, name, path string, o *options) (*unix.Stat_t, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(dir.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, fmt.Errorf("ipc: dial %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return nil, notPrivate(path, "is not a socket", &st)
	}
	if st.Uid != uint32(os.Geteuid()) && !o.peerAllowed(int(st.Uid)) {
		return nil, notPrivate(path, fmt.Sprintf("socket is owned by uid %d, not %d", st.Uid, os.Geteuid()), &st)
	}
	return &st, nil
}

// connectChecked connects to connectPath, runs recheck (if any) and checks
// the server's uid through peer credentials.
func connectChecked(ctx context.Context, lay Layout, connectPath string, recheck func() error, o *options) (*Conn, error) {
	path := lay.Sock
	if testHookBeforeConnect != nil {
		testHookBeforeConnect()
	}
	c, err := connectUnix(ctx, connectPath)
	if err != nil {
		if errors.Is(err, unix.ECONNREFUSED) {
			return nil, fmt.Errorf("ipc: dial %s: %w: %w", path, ErrStale, err)
		}
		return nil, fmt.Errorf("ipc: dial %s: %w", path, err)
	}
	if recheck != nil {
		if err := recheck(); err != nil {
			c.Close() // nothing was sent
			return nil, fmt.Errorf("ipc: dial %s: %w", path, err)
		}
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
	return busydial.Dial(ctx, "unix", path, func(err error) bool { return errors.Is(err, unix.EAGAIN) }, testHookBusyRetry)
}

// listenLoopback listens on 127.0.0.1:0.
func listenLoopback(ctx context.Context) (net.Listener, error) {
	var lc net.ListenConfig
	return lc.Listen(ctx, "tcp4", "127.0.0.1:0")
}
