package stage

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/org/bh-ipc-check/matrix/internal/world"
)

// The listen gate stops every listen() call of a daemon until the suite
// has looked at the socket it is about to make reachable. A Unix socket
// can be connected to only once it listens, so what matters is its mode,
// owner and directory at that moment, not before: bind, chmod, listen
// exposes nothing; bind, listen, chmod exposes the socket until the chmod,
// a window far too short to catch by polling. The gate sees it every time.
//
// How: the helper that becomes the daemon installs a seccomp filter
// returning SECCOMP_RET_USER_NOTIF for listen(2) and passes the filter's
// notification fd to the suite (SCM_RIGHTS over a socketpair, fd 3) before
// it execs the daemon. The suite receives each listen() as a
// notification, records the socket path's state, and lets the call
// proceed unchanged (SECCOMP_USER_NOTIF_FLAG_CONTINUE, Linux 5.5).

// listenGateFD is the helper's end of the gate's socketpair.
const listenGateFD = 3

// gateArch is the seccomp audit arch of this build ("" where the gate is
// not built: the daemon then starts ungated).
func gateArch() (uint32, bool) {
	switch runtime.GOARCH {
	case "amd64":
		return unix.AUDIT_ARCH_X86_64, true
	case "arm64":
		return unix.AUDIT_ARCH_AARCH64, true
	}
	return 0, false
}

// installListenGate is the helper's side, just before exec: on a locked
// thread (a seccomp filter is per thread, and exec keeps the calling
// thread's), install the filter and send its fd to the suite, then wait
// for the suite to say it holds it. On failure it says why on the
// socketpair and the daemon starts ungated (the suite then judges without
// the gate and says so).
func installListenGate() {
	defer unix.Close(listenGateFD)
	nfd, err := listenFilter()
	if err != nil {
		unix.Sendmsg(listenGateFD, []byte("error: "+err.Error()), nil, nil, 0)
		return
	}
	err = unix.Sendmsg(listenGateFD, []byte("ok"), unix.UnixRights(nfd), nil, 0)
	unix.Close(nfd)
	if err != nil {
		return // the suite sees its end closed without the fd
	}
	// The suite's answer, or its end closed: either way go on.
	unix.Read(listenGateFD, make([]byte, 1))
}

func listenFilter() (int, error) {
	arch, ok := gateArch()
	if !ok {
		return -1, fmt.Errorf("no listen gate for %s", runtime.GOARCH)
	}
	const (
		ld  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		ret = unix.BPF_RET | unix.BPF_K
	)
	prog := []unix.SockFilter{
		{Code: ld, K: 4}, // seccomp_data.arch
		{Code: jeq, K: arch, Jt: 0, Jf: 3},
		{Code: ld, K: 0}, // seccomp_data.nr
		{Code: jeq, K: unix.SYS_LISTEN, Jt: 0, Jf: 1},
		{Code: ret, K: unix.SECCOMP_RET_USER_NOTIF},
		{Code: ret, K: unix.SECCOMP_RET_ALLOW},
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	install := func() (int, error) {
		fd, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, uintptr(unsafe.Pointer(&fprog)))
		if e != 0 {
			return -1, e
		}
		return int(fd), nil
	}
	fd, err := install()
	if errors.Is(err, unix.EACCES) {
		// Without CAP_SYS_ADMIN a filter needs no_new_privs, which the
		// daemon then keeps (a setuid program it runs gains nothing).
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return -1, fmt.Errorf("prctl no_new_privs: %w", err)
		}
		fd, err = install()
	}
	if err != nil {
		return -1, fmt.Errorf("seccomp user notification for listen(): %w", err)
	}
	return fd, nil
}

// ListenSight is the socket path's state when the daemon called listen().
type ListenSight struct {
	// Path is the Unix socket path the listened fd is bound to ("" for
	// another kind of socket, or when /proc could not be read: Unknown
	// then says why, and the call is taken to be for the watched socket).
	Path      string
	Sock, Dir world.Facts
	// Why the path could not be read.
	Unknown string
}

// ListenGate is the suite's side of one gated daemon start.
type ListenGate struct {
	own, child *os.File
	sock, dir  string
	mu         sync.Mutex
	sights     []ListenSight
	err        error // why the gate did not work
	held       bool  // the notification fd arrived
	done       chan struct{}
	stopCh     chan struct{}
	stopOnce   sync.Once
}

// NewListenGate makes the socketpair; child is to be the helper's fd 3.
func NewListenGate(sock, dir string) (*ListenGate, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return &ListenGate{own: os.NewFile(uintptr(fds[0]), "listen-gate"), child: os.NewFile(uintptr(fds[1]), "listen-gate-child"),
		sock: sock, dir: dir, done: make(chan struct{}), stopCh: make(chan struct{})}, nil
}

// started is called once the helper runs (or failed to start): it drops
// the child's end here and serves the notifications until the daemon and
// everything it forked are gone, or stop.
func (g *ListenGate) started() {
	g.child.Close()
	go g.serve()
}

func (g *ListenGate) fail(err error) {
	g.mu.Lock()
	if g.err == nil {
		g.err = err
	}
	g.mu.Unlock()
}

func (g *ListenGate) serve() {
	defer close(g.done)
	defer g.own.Close()
	fd := int(g.own.Fd())
	// The helper answers at once, before the daemon runs; a helper that
	// never does (it died) closes its end.
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 30})
	buf, oob := make([]byte, 512), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil || n == 0 {
		g.fail(fmt.Errorf("the helper sent no gate: %v", err))
		return
	}
	if msg := string(buf[:n]); msg != "ok" {
		g.fail(errors.New(strings.TrimPrefix(msg, "error: ")))
		return
	}
	nfd := -1
	if cms, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil && len(cms) == 1 {
		if fds, err := unix.ParseUnixRights(&cms[0]); err == nil && len(fds) == 1 {
			nfd = fds[0]
		}
	}
	if nfd < 0 {
		g.fail(errors.New("the helper's gate message held no fd"))
		return
	}
	defer unix.Close(nfd)
	g.mu.Lock()
	g.held = true
	g.mu.Unlock()
	unix.Write(fd, []byte{1})
	for {
		select {
		case <-g.stopCh:
			// Race point: closing the fd while the daemon lives makes its
			// later listen() calls fail (ENOSYS); stop is called only as
			// the scenario ends, when its daemons are being stopped.
			return
		default:
		}
		pfd := []unix.PollFd{{Fd: int32(nfd), Events: unix.POLLIN}}
		if n, err := unix.Poll(pfd, 50); err != nil && err != unix.EINTR {
			g.fail(fmt.Errorf("poll: %w", err))
			return
		} else if n <= 0 {
			continue
		}
		if pfd[0].Revents&unix.POLLHUP != 0 && pfd[0].Revents&unix.POLLIN == 0 {
			return // every process of the filter is gone
		}
		g.answer(nfd)
	}
}

// seccompNotif and seccompResp are struct seccomp_notif and
// seccomp_notif_resp.
type seccompNotif struct {
	ID    uint64
	PID   uint32
	Flags uint32
	NR    int32
	Arch  uint32
	IP    uint64
	Args  [6]uint64
}

type seccompResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// answer takes one notification, records the socket's state, and lets the
// call go on. Race point: the daemon is stopped inside listen() while the
// state is read, so the mode seen is the mode the socket has when it
// starts to listen; a chmod by another of its threads at the same moment
// is not excluded (no daemon does that).
func (g *ListenGate) answer(nfd int) {
	var n seccompNotif
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(nfd), uintptr(unix.SECCOMP_IOCTL_NOTIF_RECV), uintptr(unsafe.Pointer(&n))); e != 0 {
		return // the caller died (ENOENT) or was interrupted: nothing to answer
	}
	var s ListenSight
	s.Path, s.Unknown = unixPathOfFD(int(n.PID), int(n.Args[0]))
	// The socket listened on: the watched one, or a temporary name in its
	// directory that will be renamed over it (stat does not follow links).
	at := g.sock
	if s.Path != "" && filepath.Dir(s.Path) == filepath.Dir(g.sock) {
		at = s.Path
	}
	s.Sock, s.Dir = world.Stat(at), world.Stat(g.dir)
	if s.Sock.Kind == "" && at != g.sock {
		// The temporary name was renamed over the socket before listen()
		// (haproxy, supervisord): the inode is at the socket's name now.
		s.Sock = world.Stat(g.sock)
	}
	g.mu.Lock()
	g.sights = append(g.sights, s)
	g.mu.Unlock()
	r := seccompResp{ID: n.ID, Flags: unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE}
	unix.Syscall(unix.SYS_IOCTL, uintptr(nfd), uintptr(unix.SECCOMP_IOCTL_NOTIF_SEND), uintptr(unsafe.Pointer(&r)))
}

// unixPathOfFD is the path the Unix socket at fd of task pid is bound to
// (a name bound through /proc/self/fd/<n>/ resolved through that task's
// fd n); "" and why when it cannot be read.
func unixPathOfFD(pid, fd int) (string, string) {
	base := "/proc/" + strconv.Itoa(pid) + "/fd/"
	l, err := os.Readlink(base + strconv.Itoa(fd))
	if err != nil {
		return "", err.Error()
	}
	ino, ok := strings.CutPrefix(l, "socket:[")
	if !ok {
		return "", "fd " + strconv.Itoa(fd) + " is " + l
	}
	ino = strings.TrimSuffix(ino, "]")
	f, err := os.Open("/proc/net/unix")
	if err != nil {
		return "", err.Error()
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 8 || fs[6] != ino {
			continue
		}
		p := strings.Join(fs[7:], " ")
		if rest, ok := strings.CutPrefix(p, "/proc/self/fd/"); ok {
			if n, tail, ok := strings.Cut(rest, "/"); ok {
				if dir, err := os.Readlink(base + n); err == nil {
					p = dir + "/" + tail
				}
			}
		}
		return p, ""
	}
	return "", "" // a TCP or unbound socket
}

// Stop ends the gate (see serve's race point) and waits for it.
func (g *ListenGate) Stop() {
	g.stopOnce.Do(func() { close(g.stopCh) })
	select {
	case <-g.done:
	case <-time.After(5 * time.Second):
	}
}

// Result is every listen() seen so far, and why the gate did not work
// (nil when it did).
func (g *ListenGate) Result() ([]ListenSight, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.held && g.err == nil {
		return nil, errors.New("the gate was not set up before the daemon answered")
	}
	return append([]ListenSight(nil), g.sights...), g.err
}
