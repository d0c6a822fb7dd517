// Command brokend is a deliberately broken daemon for the suite's own
// tests: each -flaw reproduces one mistake the suite must catch. It speaks
// the bh-json protocol. Built by matrix's tests; never shipped.
//
//	-flaw plain    net.Listen in a directory made with mode 0777, no chmod
//	               (the obvious way)
//	-flaw unlink   a verified private directory, but the socket path is
//	               unlinked unconditionally before bind (steals a live
//	               daemon's socket)
//	-flaw notoken  the unix side is correct (the ipc package); the tcp side
//	               writes a private port file but never checks the token
//	-flaw none     no flaw, with the other layout: the root is the private
//	               endpoint directory and the socket is {root}/bu.sock
//	               (unix only)
//
// On tcp, plain and unlink check the token.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"syscall"

	"github.com/org/bh-ipc-check/ipc"
)

func main() {
	flaw := flag.String("flaw", "", "plain, unlink or notoken")
	root := flag.String("root", "", "runtime directory")
	name := flag.String("name", "", "endpoint name")
	transport := flag.String("transport", "unix", "unix or tcp")
	flag.Parse()
	if err := run(*flaw, *root, *name, *transport); err != nil {
		fmt.Fprintln(os.Stderr, "brokend:", err)
		os.Exit(1)
	}
}

func run(flaw, root, name, transport string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	dir := filepath.Join(root, "bu-"+name+".d")
	if transport == "tcp" {
		return serveTCP(ctx, dir, flaw != "notoken")
	}
	switch flaw {
	case "plain":
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return err
		}
		os.Chmod(dir, 0o777)
		ln, err := net.Listen("unix", filepath.Join(dir, "sock"))
		if err != nil {
			return err
		}
		return serve(ctx, ln, "")
	case "unlink":
		if err := privateDir(dir); err != nil {
			return err
		}
		sock := filepath.Join(dir, "sock")
		os.Remove(sock) // the flaw: whatever is there, live or not
		ln, err := net.Listen("unix", sock)
		if err != nil {
			return err
		}
		if err := os.Chmod(sock, 0o600); err != nil {
			return err
		}
		err = serve(ctx, ln, "")
		os.Remove(dir)
		return err
	case "none":
		return serveRootLayout(ctx, root, name)
	case "notoken":
		ln, err := ipc.Listen(ctx, name, ipc.WithRoot(root))
		if err != nil {
			return err
		}
		return serve(ctx, ln, "")
	}
	return fmt.Errorf("unknown -flaw %q", flaw)
}

// privateDir is the pull request's directory check: mkdir 0700, then lstat
// (no symlink, a directory, ours) and tighten.
func privateDir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	st := fi.Sys().(*syscall.Stat_t)
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("%s is a symlink", dir)
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	case int(st.Uid) != os.Geteuid():
		return fmt.Errorf("%s is owned by uid %d", dir, st.Uid)
	}
	return os.Chmod(dir, 0o700)
}

func serveTCP(ctx context.Context, dir string, checkToken bool) error {
	if err := privateDir(dir); err != nil {
		return err
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	b := make([]byte, 32)
	rand.Read(b)
	token := hex.EncodeToString(b)
	pf, _ := json.Marshal(map[string]any{"port": ln.Addr().(*net.TCPAddr).Port, "pid": os.Getpid(), "token": token})
	port := filepath.Join(dir, "port")
	tmp := port + ".tmp"
	if err := os.WriteFile(tmp, pf, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, port); err != nil {
		return err
	}
	if !checkToken {
		token = ""
	}
	err = serve(ctx, ln, token)
	os.Remove(port)
	os.Remove(dir)
	return err
}

// serve answers bh-json lines until ctx is done. A non-empty token must
// match every request's "token".
func serve(ctx context.Context, ln net.Listener, token string) error {
	go func() { <-ctx.Done(); ln.Close() }()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go handle(c, token)
	}
}

func handle(c net.Conn, token string) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 1<<16)
	enc := json.NewEncoder(c)
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			enc.Encode(map[string]string{"error": "line too long"})
			return
		}
		if err != nil {
			return
		}
		var req map[string]any
		if json.Unmarshal(line, &req) != nil || req == nil {
			enc.Encode(map[string]string{"error": "not a JSON object"})
			continue
		}
		if token != "" && req["token"] != token {
			enc.Encode(map[string]string{"error": "bad token"})
			continue
		}
		if req["meta"] == "ping" {
			enc.Encode(map[string]any{"pong": true, "pid": os.Getpid()})
			continue
		}
		enc.Encode(map[string]any{"ok": true})
	}
}

var validName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// serveRootLayout does it right with the root as the endpoint directory:
// a verified private root, a lock held for life, the stale socket removed
// only with the lock held, peer uids checked, everything removed on exit.
func serveRootLayout(ctx context.Context, root, name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("invalid name %q", name)
	}
	if err := privateDir(root); err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(root, "lock"), os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return fmt.Errorf("already running: %w", err)
	}
	sock := filepath.Join(root, "bu.sock")
	os.Remove(sock) // stale: the lock is ours
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		return err
	}
	err = serve(ctx, peerChecked{ln.(*net.UnixListener)}, "")
	os.Remove(lock.Name())
	lock.Close()
	return err
}

// peerChecked accepts only connections from this uid (SO_PEERCRED).
type peerChecked struct{ *net.UnixListener }

func (l peerChecked) Accept() (net.Conn, error) {
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			return nil, err
		}
		raw, err := c.SyscallConn()
		uid := -1
		if err == nil {
			raw.Control(func(fd uintptr) {
				if cred, err := syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED); err == nil {
					uid = int(cred.Uid)
				}
			})
		}
		if uid == os.Geteuid() {
			return c, nil
		}
		c.Close()
	}
}
