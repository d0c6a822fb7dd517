//go:build linux || darwin

package ipc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// setUmask sets the process umask for one test and restores it in
// t.Cleanup. Tests that use it are never parallel.
func setUmask(t testing.TB, m int) {
	t.Helper()
	old := syscall.Umask(m)
	t.Cleanup(func() { syscall.Umask(old) })
}

func currentUmask() int {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return m
}

func lstat(t testing.TB, p string) *unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatalf("lstat %s: %v", p, err)
	}
	return &st
}

// snapshot describes every entry under root (type, mode, owner, symlink
// target, size) so a test can assert that a refused call changed nothing.
func snapshot(t testing.TB, root string) string {
	t.Helper()
	var lines []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			lines = append(lines, p+" error "+err.Error())
			return nil
		}
		var st unix.Stat_t
		unix.Lstat(p, &st)
		l := fmt.Sprintf("%s %s %04o uid=%d size=%d", p, describeMode(uint32(st.Mode)), st.Mode&07777, st.Uid, st.Size)
		if d.Type()&fs.ModeSymlink != 0 {
			tgt, _ := os.Readlink(p)
			l += " -> " + tgt
		}
		lines = append(lines, l)
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func requireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("needs root to %s; run as root: sudo go test ./ipc/ (CI runs as root)", why)
	}
}

const otherUID = 1001

// asUID runs a helper as uid (and gid) uid.
func asUID(uid int) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
}

// Point 1: modes under every umask, the umask untouched, and a concurrent
// file creator never sees a changed umask.
func TestListenModesUnderUmask(t *testing.T) {
	for _, um := range []int{0o000, 0o022, 0o077} {
		t.Run(fmt.Sprintf("umask %04o", um), func(t *testing.T) {
			setUmask(t, um)
			root := shortRoot(t, 0o1777)
			ln, err := Listen(context.Background(), "modes", WithRoot(root))
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			if got := currentUmask(); got != um {
				t.Errorf("umask after Listen = %04o, want %04o", got, um)
			}
			lay := ln.Layout()
			uid := uint32(os.Geteuid())
			if st := lstat(t, lay.Dir); st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Mode&07777 != 0o700 || st.Uid != uid {
				t.Errorf("dir %s: %s %04o uid %d, want directory 0700 uid %d", lay.Dir, describeMode(uint32(st.Mode)), st.Mode&07777, st.Uid, uid)
			}
			if st := lstat(t, lay.Sock); st.Mode&unix.S_IFMT != unix.S_IFSOCK || st.Mode&07777 != 0o600 || st.Uid != uid {
				t.Errorf("sock %s: %s %04o uid %d, want socket 0600 uid %d", lay.Sock, describeMode(uint32(st.Mode)), st.Mode&07777, st.Uid, uid)
			}
			if st := lstat(t, lay.Lock); st.Mode&07777 != 0o600 {
				t.Errorf("lock %s: mode %04o", lay.Lock, st.Mode&07777)
			}
		})
	}
}

func TestUmaskUntouchedDuringListenCycles(t *testing.T) {
	const um = 0o022
	setUmask(t, um)
	root := shortRoot(t, 0o1777)
	files := shortRoot(t, 0o700)
	stop := make(chan struct{})
	bad := make(chan string, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	created := 0
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			p := filepath.Join(files, fmt.Sprint(i%64))
			os.Remove(p)
			f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o666)
			if err != nil {
				select {
				case bad <- err.Error():
				default:
				}
				return
			}
			fi, _ := f.Stat()
			f.Close()
			created++
			if fi.Mode().Perm() != 0o644 {
				select {
				case bad <- fmt.Sprintf("%s created with %v, want -rw-r--r-- under umask 022", p, fi.Mode().Perm()):
				default:
				}
				return
			}
		}
	}()
	for i := 0; i < 1000; i++ {
		ln, err := Listen(context.Background(), "cycle", WithRoot(root))
		if err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		if err := ln.Close(); err != nil {
			t.Fatalf("cycle %d close: %v", i, err)
		}
	}
	close(stop)
	wg.Wait()
	select {
	case msg := <-bad:
		t.Fatal(msg)
	default:
	}
	if created == 0 {
		t.Fatal("the file-creating goroutine never ran")
	}
	if got := currentUmask(); got != um {
		t.Errorf("umask = %04o after 1000 cycles, want %04o", got, um)
	}
	t.Logf("%d files created during 1000 Listen/Close cycles, all 0644", created)
}

// Point 2: no connect succeeds while the socket's mode is not 0600.
func TestNoConnectBeforeChmod(t *testing.T) {
	setUmask(t, 0)
	root := shortRoot(t, 0o1777)
	var steps []string
	try := func(step string) func(string) {
		return func(p string) {
			st := lstat(t, p)
			c, err := net.Dial("unix", p)
			if err == nil {
				c.Close()
				t.Errorf("%s: connect to %s succeeded with mode %04o", step, p, st.Mode&07777)
				return
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("%s: connect error %v, want ECONNREFUSED", step, err)
			}
			steps = append(steps, fmt.Sprintf("%s mode %04o", step, st.Mode&07777))
		}
	}
	testHookAfterBind, testHookAfterChmod = try("after bind"), try("after chmod")
	t.Cleanup(func() { testHookAfterBind, testHookAfterChmod = nil, nil })
	ln, err := Listen(context.Background(), "early", WithRoot(root))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// Under umask 0 the bound socket starts world-writable: that is the
	// window the ordering closes, so the test must have seen it.
	want := []string{"after bind mode 0777", "after chmod mode 0600"}
	if fmt.Sprint(steps) != fmt.Sprint(want) {
		t.Errorf("steps = %q, want %q", steps, want)
	}
}

func TestRacingDialerSeesOnly0600(t *testing.T) {
	setUmask(t, 0)
	root := shortRoot(t, 0o1777)
	lay, err := Resolve("race", WithRoot(root))
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	res := make(chan [2]int, 1)
	go func() {
		ok, wrong := 0, 0
		for {
			select {
			case <-stop:
				res <- [2]int{ok, wrong}
				return
			default:
			}
			// A sample counts only when the path held one unchanged file
			// for the whole connect: the same inode and ctime before and
			// after (a chmod or a re-created socket changes the ctime).
			// Then the mode seen is the mode the connect met.
			var before, after unix.Stat_t
			if unix.Lstat(lay.Sock, &before) != nil {
				continue
			}
			c, err := net.Dial("unix", lay.Sock)
			if err != nil {
				continue
			}
			c.Close()
			if unix.Lstat(lay.Sock, &after) != nil || after.Ino != before.Ino || after.Dev != before.Dev || after.Ctim != before.Ctim {
				continue // the path changed during the connect: inconclusive
			}
			if after.Mode&07777 == 0o600 {
				ok++
			} else {
				wrong++
			}
		}
	}()
	for i := 0; i < 300; i++ {
		ln, err := Listen(context.Background(), "race", WithRoot(root))
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Microsecond)
		ln.Close()
	}
	close(stop)
	r := <-res
	if r[1] != 0 {
		t.Errorf("%d connects succeeded while the socket mode was not 0600", r[1])
	}
	t.Logf("%d connects succeeded, all with mode 0600", r[0])
}

// Point 3: what may already sit at the endpoint directory path.
func TestEndpointDirPreexisting(t *testing.T) {
	type tc struct {
		name     string
		rootOnly bool
		plant    func(t *testing.T, dir, elsewhere string)
		wantErr  error // nil: Listen succeeds and the dir is tightened
	}
	cases := []tc{
		{name: "symlink to a dir", plant: func(t *testing.T, dir, elsewhere string) {
			must(t, os.Symlink(elsewhere, dir))
		}, wantErr: ErrNotPrivate},
		{name: "dangling symlink", plant: func(t *testing.T, dir, elsewhere string) {
			must(t, os.Symlink(filepath.Join(elsewhere, "missing"), dir))
		}, wantErr: ErrNotPrivate},
		{name: "regular file", plant: func(t *testing.T, dir, _ string) {
			must(t, os.WriteFile(dir, []byte("x"), 0o644))
		}, wantErr: ErrNotPrivate},
		{name: "FIFO", plant: func(t *testing.T, dir, _ string) {
			must(t, unix.Mkfifo(dir, 0o666))
		}, wantErr: ErrNotPrivate},
		{name: "dir owned by another uid", rootOnly: true, plant: func(t *testing.T, dir, _ string) {
			must(t, os.Mkdir(dir, 0o777))
			must(t, os.Chmod(dir, 0o777))
			must(t, os.Chown(dir, otherUID, otherUID))
		}, wantErr: ErrNotPrivate},
		{name: "our dir 0777", plant: func(t *testing.T, dir, _ string) {
			must(t, os.Mkdir(dir, 0o700))
			must(t, os.Chmod(dir, 0o777))
		}},
		{name: "our dir 0755", plant: func(t *testing.T, dir, _ string) {
			must(t, os.Mkdir(dir, 0o700))
			must(t, os.Chmod(dir, 0o755))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.rootOnly {
				requireRoot(t, fmt.Sprintf("chown a directory to uid %d", otherUID))
			}
			root := shortRoot(t, 0o1777)
			elsewhere := shortRoot(t, 0o700)
			lay, _ := Resolve("pre", WithRoot(root))
			c.plant(t, lay.Dir, elsewhere)
			before, beforeElsewhere := snapshot(t, root), snapshot(t, elsewhere)
			ln, err := Listen(context.Background(), "pre", WithRoot(root))
			if c.wantErr != nil {
				if err == nil {
					ln.Close()
					t.Fatalf("Listen succeeded, want %v", c.wantErr)
				}
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("Listen: %v, want %v", err, c.wantErr)
				}
				if !strings.Contains(err.Error(), lay.Dir) {
					t.Errorf("error %q does not name the path %s", err, lay.Dir)
				}
				if after := snapshot(t, root); after != before {
					t.Errorf("refused Listen changed the root:\nbefore:\n%s\nafter:\n%s", before, after)
				}
				if after := snapshot(t, elsewhere); after != beforeElsewhere {
					t.Errorf("something was created through the symlink:\nbefore:\n%s\nafter:\n%s", beforeElsewhere, after)
				}
				// Dial verifies the same directory: refused, naming it.
				if _, err := Dial(context.Background(), "pre", WithRoot(root)); !errors.Is(err, c.wantErr) || !strings.Contains(err.Error(), lay.Dir) {
					t.Errorf("Dial: %v, want %v naming %s", err, c.wantErr, lay.Dir)
				}
				return
			}
			if err != nil {
				t.Fatalf("Listen: %v", err)
			}
			defer ln.Close()
			if st := lstat(t, lay.Dir); st.Mode&07777 != 0o700 {
				t.Errorf("dir mode %04o after Listen, want tightened to 0700", st.Mode&07777)
			}
			pingServe(t, ln)
			mustPing(t, "pre", WithRoot(root))
			// A client changes nothing: our directory loosened again (group
			// or other write) is refused, not tightened.
			for _, m := range []os.FileMode{0o720, 0o702} {
				must(t, os.Chmod(lay.Dir, m))
				if _, err := Dial(context.Background(), "pre", WithRoot(root)); !errors.Is(err, ErrNotPrivate) || !strings.Contains(err.Error(), lay.Dir) {
					t.Errorf("Dial with the dir at %04o: %v, want ErrNotPrivate naming %s", m, err, lay.Dir)
				}
				if st := lstat(t, lay.Dir); uint32(st.Mode&07777) != uint32(m) {
					t.Errorf("Dial changed the dir's mode to %04o", st.Mode&07777)
				}
			}
			must(t, os.Chmod(lay.Dir, 0o755))
			mustPing(t, "pre", WithRoot(root))
		})
	}
}

// Point 4: what may already sit at "sock" inside our dir.
func TestStaleThingsAtSock(t *testing.T) {
	cases := []struct {
		name  string
		plant func(t *testing.T, sock, elsewhere string)
	}{
		{"stale socket", func(t *testing.T, sock, _ string) {
			l, err := net.Listen("unix", sock)
			must(t, err)
			l.(*net.UnixListener).SetUnlinkOnClose(false)
			l.Close()
		}},
		{"dangling symlink", func(t *testing.T, sock, elsewhere string) {
			must(t, os.Symlink(filepath.Join(elsewhere, "target"), sock))
		}},
		{"regular file", func(t *testing.T, sock, _ string) {
			must(t, os.WriteFile(sock, []byte("stale"), 0o600))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			setUmask(t, 0)
			root := shortRoot(t, 0o1777)
			elsewhere := shortRoot(t, 0o700)
			lay, _ := Resolve("stale", WithRoot(root))
			must(t, os.Mkdir(lay.Dir, 0o700))
			c.plant(t, lay.Sock, elsewhere)
			ln, err := Listen(context.Background(), "stale", WithRoot(root))
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			if st := lstat(t, lay.Sock); st.Mode&unix.S_IFMT != unix.S_IFSOCK || st.Mode&07777 != 0o600 {
				t.Errorf("sock is %s %04o, want a 0600 socket", describeMode(uint32(st.Mode)), st.Mode&07777)
			}
			if _, err := os.Lstat(filepath.Join(elsewhere, "target")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("symlink target was created: %v", err)
			}
			pingServe(t, ln)
			mustPing(t, "stale", WithRoot(root))
		})
	}
}

// Point 5: single instance.
func TestSecondListenRefused(t *testing.T) {
	root := shortRoot(t, 0o1777)
	ln, err := Listen(context.Background(), "one", WithRoot(root))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pingServe(t, ln)
	before := snapshot(t, root)
	ln2, err := Listen(context.Background(), "one", WithRoot(root))
	if !errors.Is(err, ErrAlreadyRunning) {
		if ln2 != nil {
			ln2.Close()
		}
		t.Fatalf("second Listen: %v, want ErrAlreadyRunning", err)
	}
	if after := snapshot(t, root); after != before {
		t.Errorf("refused Listen changed the endpoint:\n%s\n---\n%s", before, after)
	}
	mustPing(t, "one", WithRoot(root))
}

func TestHolderKilledThenRecovered(t *testing.T) {
	root := shortRoot(t, 0o1777)
	h, line := startHelper(t, "", "hold", root, nil)
	if !strings.HasPrefix(line, "ready") {
		t.Fatalf("holder: %s", line)
	}
	if pid := mustPing(t, "held", WithRoot(root)); pid != h.cmd.Process.Pid {
		t.Fatalf("ping answered by pid %d, want holder %d", pid, h.cmd.Process.Pid)
	}
	if _, err := Listen(context.Background(), "held", WithRoot(root)); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("Listen while held: %v, want ErrAlreadyRunning", err)
	}
	h.cmd.Process.Kill()
	h.cmd.Wait()
	// SIGKILL left the socket and the lock file behind; the lock is free.
	ln, err := Listen(context.Background(), "held", WithRoot(root))
	if err != nil {
		t.Fatalf("Listen after SIGKILL: %v", err)
	}
	defer ln.Close()
	pingServe(t, ln)
	if pid := mustPing(t, "held", WithRoot(root)); pid != os.Getpid() {
		t.Errorf("ping answered by %d, want us (%d)", pid, os.Getpid())
	}
}

func TestBusyHolderNotStale(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("filling the backlog relies on Linux's EAGAIN for a full backlog (%s refuses instead); run on Linux", runtime.GOOS)
	}
	root := shortRoot(t, 0o1777)
	h, line := startHelper(t, "", "hold", root, nil)
	if !strings.HasPrefix(line, "ready") {
		t.Fatalf("holder: %s", line)
	}
	lay, _ := Resolve("held", WithRoot(root))
	must(t, h.cmd.Process.Signal(syscall.SIGSTOP))
	t.Cleanup(func() { h.cmd.Process.Signal(syscall.SIGCONT) }) // so the kill in cleanup is not held up
	// Fill the backlog: non-blocking connects until the kernel says EAGAIN,
	// the state in which a connect probe would call the daemon dead.
	var fds []int
	t.Cleanup(func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	})
	full := false
	for i := 0; i < 10000 && !full; i++ {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
		must(t, err)
		fds = append(fds, fd)
		unix.CloseOnExec(fd)
		must(t, unix.SetNonblock(fd, true))
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: lay.Sock})
		full = errors.Is(err, unix.EAGAIN)
		if err != nil && !full {
			t.Fatalf("connect %d: %v", i, err)
		}
	}
	if !full {
		t.Fatal("backlog never filled")
	}
	if _, err := Listen(context.Background(), "held", WithRoot(root)); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("Listen while holder stopped with a full backlog: %v, want ErrAlreadyRunning", err)
	}
	// Dial while the backlog is still full: it meets EAGAIN, which says
	// busy, not stale, so it retries (the hook tells us it did) and gets
	// through once the holder runs again. A Dial that took EAGAIN for a
	// dead daemon returns before any retry. The context only bounds the
	// test on a broken Dial; no time is asserted.
	retried := make(chan struct{})
	var once sync.Once
	testHookBusyRetry = func() { once.Do(func() { close(retried) }) }
	type dialed struct {
		c   *Conn
		err error
	}
	got := make(chan dialed, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	go func() {
		c, err := Dial(ctx, "held", WithRoot(root))
		got <- dialed{c, err}
	}()
	select {
	case <-retried:
	case d := <-got:
		testHookBusyRetry = nil
		if d.c != nil {
			d.c.Close()
		}
		t.Fatalf("Dial while the backlog was full returned before retrying: %v; want it to wait for the busy daemon", d.err)
	}
	for _, fd := range fds {
		unix.Close(fd)
	}
	fds = nil
	must(t, h.cmd.Process.Signal(syscall.SIGCONT))
	d := <-got
	testHookBusyRetry = nil
	if d.err != nil {
		t.Fatalf("Dial that began while the backlog was full: %v, want the busy daemon once it ran again", d.err)
	}
	defer d.c.Close()
	if pid, err := d.c.Identify(ctx); err != nil || pid != h.cmd.Process.Pid {
		t.Errorf("the Dial begun while busy: ping answered by %d (%v), want holder %d", pid, err, h.cmd.Process.Pid)
	}
	if pid := mustPing(t, "held", WithRoot(root)); pid != h.cmd.Process.Pid {
		t.Errorf("after SIGCONT ping answered by %d, want holder %d", pid, h.cmd.Process.Pid)
	}
}

// Point 6: Close leaves a replaced socket alone.
func TestCloseLeavesReplacedSocket(t *testing.T) {
	root := shortRoot(t, 0o1777)
	ln, err := Listen(context.Background(), "succ", WithRoot(root))
	if err != nil {
		t.Fatal(err)
	}
	lay := ln.Layout()
	must(t, os.Remove(lay.Sock))
	other, err := net.Listen("unix", lay.Sock)
	must(t, err)
	other.(*net.UnixListener).SetUnlinkOnClose(false)
	defer other.Close()
	want := lstat(t, lay.Sock)
	if err := ln.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	got := lstat(t, lay.Sock)
	if got.Ino != want.Ino || got.Dev != want.Dev {
		t.Fatalf("the other socket was replaced or removed")
	}
	if c, err := net.Dial("unix", lay.Sock); err != nil {
		t.Errorf("the other socket no longer accepts: %v", err)
	} else {
		c.Close()
	}
}

func TestCloseRemovesEverything(t *testing.T) {
	for _, tr := range []Transport{TransportUnix, TransportTCP} {
		t.Run(string(tr), func(t *testing.T) {
			root := shortRoot(t, 0o1777)
			before := snapshot(t, root)
			ln, err := Listen(context.Background(), "clean", WithRoot(root), WithTransport(tr))
			if err != nil {
				t.Fatal(err)
			}
			if err := ln.Close(); err != nil {
				t.Fatal(err)
			}
			if after := snapshot(t, root); after != before {
				t.Errorf("left behind:\n%s", after)
			}
			if err := ln.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

// Point 7: peer credentials, both sides.
func TestPeerCredRejectsOtherUID(t *testing.T) {
	requireRoot(t, fmt.Sprintf("connect as uid %d", otherUID))
	exe := otherUIDExe(t)
	root := shortRoot(t, 0o1777)
	rejects := make(chan error, 4)
	ln, err := Listen(context.Background(), "peer", WithRoot(root), WithOnReject(func(err error) { rejects <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	handled := pingServe(t, ln)
	lay := ln.Layout()
	// Loosen what the filesystem guards, so only the peer check is left.
	must(t, os.Chmod(lay.Sock, 0o666))
	must(t, os.Chmod(lay.Dir, 0o755))
	_, line := startHelper(t, exe, "connect-read", lay.Sock, asUID(otherUID))
	if !strings.HasPrefix(line, "read 0 bytes") {
		t.Errorf("uid %d got a reply: %s", otherUID, line)
	}
	select {
	case err := <-rejects:
		if !errors.Is(err, ErrPeerRejected) || !strings.Contains(err.Error(), fmt.Sprint("uid ", otherUID)) {
			t.Errorf("reject reason %v, want ErrPeerRejected naming uid %d", err, otherUID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no rejection reported")
	}
	if n := handled(); n != 0 {
		t.Errorf("handler saw %d requests from the rejected peer", n)
	}
	mustPing(t, "peer", WithRoot(root))
}

func TestDialRefusesForeignSocketAndServer(t *testing.T) {
	requireRoot(t, fmt.Sprintf("run a server as uid %d", otherUID))
	exe := otherUIDExe(t)
	root := shortRoot(t, 0o1777)
	lay, _ := Resolve("foreign", WithRoot(root))
	must(t, os.Mkdir(lay.Dir, 0o755))
	must(t, os.Chown(lay.Dir, otherUID, otherUID))
	_, line := startHelper(t, exe, "serve-plain", lay.Sock, asUID(otherUID))
	if !strings.HasPrefix(line, "ready") {
		t.Fatalf("server: %s", line)
	}
	ctx := context.Background()
	if _, err := Dial(ctx, "foreign", WithRoot(root)); !errors.Is(err, ErrNotPrivate) {
		t.Errorf("Dial into a directory owned by uid %d: %v, want ErrNotPrivate", otherUID, err)
	}
	must(t, os.Lchown(lay.Dir, os.Geteuid(), os.Getegid()))
	if _, err := Dial(ctx, "foreign", WithRoot(root)); !errors.Is(err, ErrNotPrivate) || !strings.Contains(err.Error(), "socket is owned by uid") {
		t.Errorf("Dial to a socket owned by uid %d: %v, want ErrNotPrivate naming the socket's owner", otherUID, err)
	}
	// Make the directory and the path look like ours: only the peer check
	// can catch it now.
	must(t, os.Lchown(lay.Dir, os.Geteuid(), os.Getegid()))
	must(t, os.Lchown(lay.Sock, os.Geteuid(), os.Getegid()))
	_, err := Dial(ctx, "foreign", WithRoot(root))
	if !errors.Is(err, ErrPeerRejected) || !strings.Contains(err.Error(), fmt.Sprint("server uid ", otherUID)) {
		t.Errorf("Dial to a server running as uid %d: %v, want ErrPeerRejected naming it", otherUID, err)
	}
}

// Point 9: a long root on this host: Listen and Dial agree.
func TestLongRootFallback(t *testing.T) {
	base := shortRoot(t, 0o1777)
	root := base
	for len(root) < 120 {
		root = filepath.Join(root, "a-rather-long-directory-name")
	}
	must(t, os.MkdirAll(root, 0o755))
	for _, name := range []string{"x", strings.Repeat("n", MaxNameLen)} {
		lay, err := Resolve(name, WithRoot(root))
		if err != nil {
			if !errors.Is(err, ErrPathTooLong) {
				t.Fatal(err)
			}
			if _, lerr := Listen(context.Background(), name, WithRoot(root)); !errors.Is(lerr, ErrPathTooLong) {
				t.Errorf("Resolve says too long but Listen: %v", lerr)
			}
			if _, derr := Dial(context.Background(), name, WithRoot(root)); !errors.Is(derr, ErrPathTooLong) {
				t.Errorf("Resolve says too long but Dial: %v", derr)
			}
			continue
		}
		if !lay.Fallback || len(lay.Sock) > SunPathLimit("linux") {
			t.Fatalf("layout %+v: want the fallback within the limit", lay)
		}
		ln, err := Listen(context.Background(), name, WithRoot(root))
		if err != nil {
			t.Fatal(err)
		}
		pingServe(t, ln)
		mustPing(t, name, WithRoot(root))
		eps, err := List(context.Background(), WithRoot(root))
		if err != nil || len(eps) != 1 || eps[0].Name != name || eps[0].Path != lay.Sock {
			t.Errorf("List under the long root: %+v, %v", eps, err)
		}
		must(t, ln.Close())
		if _, err := os.Lstat(lay.Dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("fallback endpoint dir left behind: %v", err)
		}
	}
}

func TestFallbackParentIsVerified(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", "") // no alternate base: the refusal is final
	// A fallback layout whose first parent (normally /tmp/bh-<uid>) was
	// planted by another uid as a symlink to a directory it controls.
	base := shortRoot(t, 0o1777)
	attacker := shortRoot(t, 0o777)
	parent := filepath.Join(base, "bh-planted")
	must(t, os.Symlink(attacker, parent))
	lay := Layout{Name: "x", Transport: TransportUnix, Root: "/long", Fallback: true,
		Parents: []string{parent, parent + "/tag"}, Dir: parent + "/tag/bu-x.d"}
	lay.Sock, lay.Lock = lay.Dir+"/sock", lay.Dir+"/lock"
	before := snapshot(t, attacker)
	if _, err := acquireEndpoint(lay); !errors.Is(err, ErrNotPrivate) || !strings.Contains(err.Error(), parent) {
		t.Fatalf("acquireEndpoint through a symlinked fallback parent: %v, want ErrNotPrivate naming %s", err, parent)
	}
	if after := snapshot(t, attacker); after != before {
		t.Errorf("created through the symlink:\n%s", after)
	}
}

func TestListLive(t *testing.T) {
	root := shortRoot(t, 0o1777)
	ln, err := Listen(context.Background(), "alive", WithRoot(root))
	must(t, err)
	defer ln.Close()
	pingServe(t, ln)
	// A dead one: a lock-free dir with a stale socket.
	dead, _ := Resolve("dead", WithRoot(root))
	must(t, os.Mkdir(dead.Dir, 0o700))
	l, err := net.Listen("unix", dead.Sock)
	must(t, err)
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	all, err := List(context.Background(), WithRoot(root))
	must(t, err)
	if len(all) != 2 || all[0].Name != "alive" || all[1].Name != "dead" {
		t.Fatalf("List = %+v", all)
	}
	live, err := ListLive(context.Background(), WithRoot(root))
	must(t, err)
	if len(live) != 1 || live[0].Name != "alive" || live[0].PID != os.Getpid() {
		t.Fatalf("ListLive = %+v", live)
	}
	if _, err := Dial(context.Background(), "dead", WithRoot(root)); !errors.Is(err, ErrStale) {
		t.Errorf("Dial dead: %v, want ErrStale", err)
	}
}

// When Accept reports the listener closed, the endpoint is already gone: a
// daemon that exits as soon as Accept fails leaves nothing behind.
func TestAcceptClosedOnlyAfterCleanup(t *testing.T) {
	for _, tr := range []Transport{TransportUnix, TransportTCP} {
		t.Run(string(tr), func(t *testing.T) {
			for i := 0; i < 200; i++ {
				root := shortRoot(t, 0o1777)
				ln, err := Listen(context.Background(), "acc", WithRoot(root), WithTransport(tr))
				if err != nil {
					t.Fatal(err)
				}
				left := make(chan []string, 1)
				go func() {
					_, err := ln.Accept()
					if !errors.Is(err, net.ErrClosed) {
						left <- []string{"Accept: " + fmt.Sprint(err)}
						return
					}
					ents, _ := os.ReadDir(root)
					var names []string
					for _, e := range ents {
						names = append(names, e.Name())
					}
					left <- names
				}()
				go ln.Close()
				if names := <-left; len(names) != 0 {
					t.Fatalf("cycle %d: Accept returned closed while %v remained", i, names)
				}
				ln.Close()
			}
		})
	}
}
