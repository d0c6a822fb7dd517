// Command brokend is a deliberately broken daemon for the suite's own
// tests: each -flaw reproduces one mistake the suite must catch. It speaks
// the bh-json protocol. Built by matrix's tests; never shipped.
//
//	-flaw plain       net.Listen in a directory made with mode 0777, no chmod
//	                  (the obvious way)
//	-flaw unlink      a verified private directory, but the socket path is
//	                  unlinked unconditionally before bind (steals a live
//	                  daemon's socket)
//	-flaw notoken     the unix side is correct (the ipc package); the tcp side
//	                  writes a private port file but never checks the token
//	-flaw none        no flaw, with the other layout: the root is the private
//	                  endpoint directory and the socket is {root}/bu.sock
//	                  (unix only)
//
// The flaws below are each one mistake on top of a correct daemon (the ipc
// package on unix; a private port file, a token check and 127.0.0.1 on tcp):
//
//	-flaw followlink  writes through whatever sits at the socket path first
//	                  (creating a dangling symlink's target)
//	-flaw replacefile removes a regular file found at the endpoint dir path
//	-flaw truncate    binds a path longer than sun_path cut to 107 bytes, as a
//	                  C daemon's strncpy into sun_path does
//	-flaw sshagent    an existing endpoint dir is used as it is (net.Listen in
//	                  it), and only then refused: exit 1 with the socket left
//	-flaw chownlink   an endpoint dir found as a symlink is chowned to the
//	                  daemon and chmodded 0700 through the link (os.Chown and
//	                  os.Chmod follow it), then refused: exit 1, nothing
//	                  created, but the link's target has changed hands
//	-flaw anyaddr     tcp listens on 0.0.0.0
//	-flaw portfile0644 the port file is mode 0644
//	-flaw ipcport0644 tcp through the ipc package (its handshake), then the
//	                  port file loosened to 0644 (unix: the ipc package)
//	-flaw lenient     JSON that is not an object is answered {"ok":true}
//	-flaw serial      one connection at a time, no read deadline
//	-flaw dropsome    every 1000th ping is answered with an error
//	-flaw crash       exits 3 on a line that is not JSON
//	-flaw acceptfew   stops serving (closes its listener) after 1000
//	                  connections
//	-flaw tmprename   binds a temporary name in a 0755 endpoint dir with the
//	                  umask's mode, waits 300 ms, chmods it 0600 and renames
//	                  it over sock (haproxy, supervisord): the final name is
//	                  never loose, the temporary one is
//	-flaw renamelisten binds a temporary name in a 0755 endpoint dir,
//	                  renames it over sock, listens with the umask's mode
//	                  and chmods it 0600 a second later: the name listened
//	                  on is gone when listen() is called
//	-flaw maxconn     serves at most 10 connections at once and accepts no
//	                  more until one closes (haproxy's maxconn): the rest
//	                  wait in the kernel's backlog
//	-flaw addrpeer    takes the peer's uid from "pid=P;uid=U;socket=ADDR;"
//	                  with the client's own address last, the last uid= winning
//	                  (snapd's dirty_sock)
//	-flaw abstractpeer serves a peer bound to an abstract address as one of
//	                  its own uid
//	-flaw pidauth     keeps only the peer's pid from SO_PEERCRED and, at
//	                  the first request, serves it when /proc/<pid> is then
//	                  owned by root or its own uid (polkit's CVE-2013-4288)
//	-flaw locklink    opens -lockfile with O_CREAT|O_TRUNC following a link
//	                  there, and writes its pid in it (chrony's pid file)
//	-flaw skipjunk    -tcpproto line: a line it cannot parse gets -ERR and
//	                  the connection reads on, so the body of a browser's
//	                  POST is run (Redis before 3.2.7)
//	-flaw anyhost     -tcpproto http: any Host is answered, a name a page
//	                  rebound to 127.0.0.1 too (Transmission, CVE-2018-5702)
//	-flaw sharedbase  without -root, uses only the shared base ($TMPDIR),
//	                  ignoring a private $XDG_RUNTIME_DIR: a squatted
//	                  endpoint directory there is refused (the ipc package)
//	                  and it has nowhere else to go (Zim's CVE-2020-10870)
//
// On a Linux abstract name ('@{root}/bu-{name}.sock'; see abstract.go), no
// directory, no lock:
//
//	-flaw abstractopen serves every peer (no peer check)
//	-flaw abstractuid checks the peer's uid only, not its mount namespace
//	                  (containerd-shim, CVE-2020-15257)
//	-flaw abstractns  no flaw: the peer's uid and mount namespace are ours
//	-flaw abstractpid abstractns's check made on /proc/<pid> at the first
//	                  request, the pid kept from SO_PEERCRED (pidauth on an
//	                  abstract name: polkit's CVE-2013-4288)
//
// And one on top of plain (a 0777 directory used as found):
//
//	-flaw rmfollow    at exit empties its directory recursively, following
//	                  a link to a directory found in it (remove_dir_all)
//
// Not flaws: -detach starts the daemon again in a new session and exits 0
// at once (as daemons that fork into the background do), writing the
// serving process's pid to -pidfile when given (with -clearenv the
// detached process starts with an empty environment, as redis wipes its
// environment block when it sets its process title; with -start-delay D the
// detached process waits D before it sets up, as memcached -d's child does
// its work after the first process exited 0); -probe SOCKET is a client
// (for --protocol exec): it pings SOCKET and exits 0 on a pong, and with
// -probe-as UID gives up before connecting unless run as UID (as psql does
// for a uid with no passwd entry: "local user with ID N does not exist"); -handoff
// with -socket listens, then hands the listener to a child in a new
// session and exits 0 (as ssh-agent does: SO_PEERCRED then names the
// parent, which is gone), the child writing -pidfile (-handoff-delay D: the
// parent lingers D between listen and the hand-off); -socket
// PATH serves exactly PATH as ssh-agent -a does: no directory made or
// checked, the socket 0600, peers checked, no stale socket removed (with
// -dieonterm it does not catch SIGTERM, which kills it, socket left);
// -prefork N with -socket listens and starts N workers that accept on the
// listener they inherit, the master staying (as php-fpm and nginx do);
// with -recover it removes a stale socket first (one that refuses a
// connect) and refuses to start over one that answers, without it the
// bind fails over any socket left there. -slow-second D: a start that
// finds something at the socket path already waits D before anything
// else (a second start slowed by the machine's load; the first is not).
//
// Without -root the flawed daemons choose their runtime directory as ipc
// does (baseFor: $BH_RUNTIME_DIR, a private $XDG_RUNTIME_DIR, else
// $TMPDIR), as the suite's brokenTarget runs them.
//
// On tcp, plain and unlink check the token. -tcpproto line (a Redis-like
// line protocol: PING answers +PONG; a "POST" or "Host:" line closes the
// connection, as Redis 3.2.7 does) and -tcpproto http (GET /ping over
// HTTP, 421 for a Host that does not name the loopback) serve the tcp
// side in another protocol, with no token, for tcp.cross-protocol; -flaw
// none with either is correct. -backlog N (none, maxconn) listens
// with an accept backlog of N, as a daemon with a small one (Python's
// socketserver uses 5) does: correct, but busy under load.
//
// With -flaw none, the socket's making can be spelled out: -dirmode MODE
// leaves the private root at MODE (e.g. 0755, as /run/<daemon> often is)
// once it is verified; -order chmod-listen binds, chmods (and chowns to
// -sockgroup) and then listens, the order DESIGN.md recommends; -order
// listen-chmod binds and listens first, then chmods (reachable until the
// chmod when the directory lets others in: a flaw); -sockmode MODE
// (default 0600) and -sockgroup GID give the socket that mode and group,
// as Docker's 0660 root:docker socket (correct for a group the attacker
// is not in).
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
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/org/bh-ipc-check/ipc"
)

var flaws = []string{"plain", "unlink", "notoken", "none", "followlink", "replacefile", "truncate", "sshagent",
	"chownlink", "anyaddr", "portfile0644", "ipcport0644", "lenient", "serial", "dropsome", "crash", "acceptfew", "maxconn", "tmprename",
	"locklink", "rmfollow", "addrpeer", "abstractpeer", "renamelisten", "skipjunk", "anyhost", "abstractopen", "abstractuid", "abstractns", "abstractpid", "pidauth", "sharedbase"}

// pidfilePath is -pidfile: -flaw none writes its pid there once it
// listens and removes it on exit.
var pidfilePath string

// lockfilePath is -lockfile: only -flaw locklink opens it.
var lockfilePath string

// slowSecond is -slow-second.
var slowSecond time.Duration

// dieOnTerm is -dieonterm: serveAt leaves SIGTERM's default action.
var dieOnTerm bool

// flaw is the -flaw in effect (read by serve and handle); backlog the
// -backlog.
var (
	flaw    string
	backlog int
)

// order, dirMode, sockMode and sockGroup are -order, -dirmode, -sockmode
// and -sockgroup (none only).
var (
	order             string
	dirMode, sockMode uint
	sockGroup         int
)

func main() {
	flag.StringVar(&flaw, "flaw", "", strings.Join(flaws, ", "))
	flag.StringVar(&tcpProto, "tcpproto", "", "tcp only: line or http instead of bh-json (no token)")
	flag.IntVar(&backlog, "backlog", 0, "accept backlog (none only; 0: the system's)")
	flag.StringVar(&order, "order", "", "none only: chmod-listen or listen-chmod (bind, then those steps in that order)")
	flag.UintVar(&dirMode, "dirmode", 0o700, "none only: the verified root's mode")
	flag.UintVar(&sockMode, "sockmode", 0o600, "none only, with -order: the socket's mode")
	flag.IntVar(&sockGroup, "sockgroup", -1, "none only, with -order: the socket's group")
	root := flag.String("root", "", "runtime directory (default: chosen as ipc does, ipc.DefaultRoot; see baseFor)")
	name := flag.String("name", "", "endpoint name")
	transport := flag.String("transport", "unix", "unix or tcp")
	detach := flag.Bool("detach", false, "start again in a new session and exit 0 at once")
	startDelay := flag.Duration("start-delay", 0, "wait this long before anything else (with -detach: in the detached process, after the first one exited 0, as memcached -d's child sets up after its parent is gone)")
	clearEnv := flag.Bool("clearenv", false, "with -detach: the detached process has an empty environment")
	pidfile := flag.String("pidfile", "", "write the serving process's pid here")
	lockfile := flag.String("lockfile", "", "-flaw locklink: the lock file it opens through a link")
	probe := flag.String("probe", "", "client: ping this socket, exit 0 on a pong")
	probeAs := flag.Int("probe-as", -1, "with -probe: give up before connecting unless run as this uid")
	socket := flag.String("socket", "", "serve exactly this socket path (its directory must exist)")
	handoff := flag.Bool("handoff", false, "with -socket: listen, hand the listener to a detached child, exit 0")
	flag.DurationVar(&handoffDelay, "handoff-delay", 0, "with -handoff: wait this long after listening before the child is started (the listening parent answers connects meanwhile, as ssh-agent's does)")
	flag.BoolVar(&dieOnTerm, "dieonterm", false, "with -socket: do not catch SIGTERM (it kills the daemon)")
	preforkN := flag.Int("prefork", 0, "with -socket: listen, start this many workers accepting on the inherited listener, and stay as their master")
	flag.DurationVar(&slowSecond, "slow-second", 0, "a start that finds something at the socket path waits this long before anything else (a second start slowed by load)")
	recoverStale := flag.Bool("recover", false, "with -prefork: a socket already there that refuses a connect is stale and removed; one that answers is another instance's")
	flag.Parse()
	if *startDelay > 0 && !*detach {
		time.Sleep(*startDelay)
	}
	// The modes that are not a flawed daemon first; -flaw last.
	switch {
	case os.Getenv("BROKEND_WORKER") == "1":
		exitOn("brokend worker:", serveWorker())
	case *preforkN > 0:
		exitOn("brokend -prefork:", prefork(*socket, *preforkN, *recoverStale))
	case os.Getenv("BROKEND_HANDOFF") == "1":
		exitOn("brokend:", serveHandedOff(*pidfile))
	case *handoff:
		exitOn("brokend -handoff:", handOff(*socket))
	case *probe != "":
		if *probeAs >= 0 && os.Getuid() != *probeAs {
			exitOn("brokend -probe:", fmt.Errorf("local user with ID %d does not exist", os.Getuid()))
		}
		exitOn("brokend -probe:", ping(*probe))
		fmt.Println("pong")
	case *detach:
		exitOn("brokend -detach:", detachSelf(*clearEnv))
	case *socket != "":
		exitOn("brokend:", serveAt(*socket))
	default:
		pidfilePath, lockfilePath = *pidfile, *lockfile
		if *root == "" {
			*root = baseFor(flaw)
		}
		exitOn("brokend:", run(*root, *name, *transport))
	}
}

// exitOn ends the program with exit 1 and err after prefix, if err is set.
func exitOn(prefix string, err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, prefix, err)
		os.Exit(1)
	}
}

func run(root, name, transport string) error {
	if !slices.Contains(flaws, flaw) {
		return fmt.Errorf("unknown -flaw %q", flaw)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	dir := filepath.Join(root, "bu-"+name+".d")
	sock := filepath.Join(dir, "sock")
	slowIfSecond(sock)
	if transport == "tcp" {
		return runTCP(ctx, root, name, dir)
	}
	switch flaw {
	case "plain":
		return servePlain(ctx, dir, sock)
	case "unlink":
		return serveUnlink(ctx, dir, sock)
	case "none":
		return serveRootLayout(ctx, root, name)
	case "tmprename":
		return serveTmpRename(ctx, dir, sock)
	case "renamelisten":
		return serveRenameListen(ctx, dir, sock)
	case "maxconn":
		if backlog > 0 {
			return serveRootLayout(ctx, root, name) // -backlog: its listener
		}
	case "followlink":
		if fi, err := os.Lstat(sock); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			os.WriteFile(sock, []byte("pid file\n"), 0o600) // the flaw: follows the link
		}
	case "addrpeer", "abstractpeer", "pidauth":
		return serveAddrTrusting(ctx, dir, sock, name)
	case "abstractopen", "abstractuid", "abstractns", "abstractpid":
		return serveAbstract(ctx, root, name)
	case "locklink":
		if lockfilePath != "" {
			unlock, err := lockThroughLink()
			if err != nil {
				return err
			}
			defer unlock()
		}
	case "rmfollow":
		return serveRmFollow(ctx, dir, sock)
	case "replacefile":
		if fi, err := os.Lstat(dir); err == nil && fi.Mode().IsRegular() {
			if err := os.Remove(dir); err != nil { // the flaw: not ours to remove
				return err
			}
		}
	case "truncate":
		if len(sock) > 107 {
			return serveTruncated(ctx, dir, sock[:107])
		}
	case "chownlink":
		if fi, err := os.Lstat(dir); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			// The flaw: "make sure it is ours" by path, which follows the
			// link; the check that refuses it comes after.
			os.Chown(dir, os.Geteuid(), os.Getegid())
			os.Chmod(dir, 0o700)
			return fmt.Errorf("%s is a symlink; refusing", dir)
		}
	case "sshagent":
		if _, err := os.Lstat(dir); err == nil {
			return useThenRefuse(dir, sock)
		}
	}
	ln, err := ipc.Listen(ctx, name, ipc.WithRoot(root))
	if err != nil {
		return err
	}
	return serve(ctx, ln, "")
}

// useThenRefuse is -flaw sshagent's start in an existing endpoint
// directory: the directory is used as found (the socket made in it), and
// checked only after that.
func useThenRefuse(dir, sock string) error {
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	return fmt.Errorf("%s: not a private directory; refusing (after creating %s)", dir, sock)
}

// runTCP serves the tcp transport: -flaw ipcport0644 through the ipc
// package, the others by serveTCP.
func runTCP(ctx context.Context, root, name, dir string) error {
	if flaw == "ipcport0644" {
		// ipc's tcp transport wants its root there (the unix one makes it).
		if err := os.MkdirAll(root, 0o700); err != nil {
			return err
		}
		ln, err := ipc.Listen(ctx, name, ipc.WithRoot(root), ipc.WithTransport(ipc.TransportTCP))
		if err != nil {
			return err
		}
		// The flaw: the private port file made readable by all.
		if err := os.Chmod(ln.Layout().Port, 0o644); err != nil {
			return err
		}
		return serve(ctx, ln, "")
	}
	return serveTCP(ctx, dir)
}

// servePlain is -flaw plain: net.Listen in a 0777 directory, no chmod.
func servePlain(ctx context.Context, dir, sock string) error {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	os.Chmod(dir, 0o777)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	return serve(ctx, ln, "")
}

// serveUnlink is -flaw unlink: a private directory, the socket path
// unlinked unconditionally before bind.
func serveUnlink(ctx context.Context, dir, sock string) error {
	if err := privateDir(dir); err != nil {
		return err
	}
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
}

// serveTmpRename is -flaw tmprename: a temporary name bound with the
// umask's mode, chmodded and renamed over sock 300 ms later.
func serveTmpRename(ctx context.Context, dir, sock string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.%d.tmp", sock, os.Getpid())
	ln, err := net.Listen("unix", tmp) // the flaw: the umask's mode, for a while
	if err != nil {
		return err
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	time.Sleep(300 * time.Millisecond)
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, sock); err != nil {
		return err
	}
	defer os.Remove(sock)
	defer os.Remove(dir)
	return serve(ctx, ln, "")
}

// serveRenameListen is -flaw renamelisten: a temporary name bound and
// renamed over sock, then listened on with the umask's mode, chmodded a
// second later.
func serveRenameListen(ctx context.Context, dir, sock string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// bind a temporary name, rename it over sock, then listen() with
	// the umask's mode, and chmod only a second later.
	tmp := fmt.Sprintf("%s.%d.tmp", sock, os.Getpid())
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: tmp}); err != nil {
		return err
	}
	if err := os.Rename(tmp, sock); err != nil {
		return err
	}
	if err := syscall.Listen(fd, 128); err != nil {
		return err
	}
	time.Sleep(time.Second)
	if err := os.Chmod(sock, 0o600); err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), sock)
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		return err
	}
	defer os.Remove(sock)
	defer os.Remove(dir)
	return serve(ctx, ln, "")
}

// serveRmFollow is -flaw rmfollow: plain, and at exit its directory
// emptied recursively, following a link to a directory found in it.
func serveRmFollow(ctx context.Context, dir, sock string) error {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	os.Chmod(dir, 0o777)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	err = serve(ctx, ln, "")
	return errors.Join(err, removeFollowing(dir))
}

// lockThroughLink is -flaw locklink's start: -lockfile opened with
// O_CREAT|O_TRUNC following a link there, its pid written in it. unlock
// removes the name and closes the file.
func lockThroughLink() (unlock func(), err error) {
	// The flaw: O_CREAT|O_TRUNC without O_NOFOLLOW follows a link.
	f, err := os.OpenFile(lockfilePath, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(f, "%d\n", os.Getpid())
	return func() {
		os.Remove(lockfilePath) // unlinks the name (the link), not its target
		f.Close()
	}, nil
}

// serveAddrTrusting is a correct endpoint (a verified private directory,
// a lock held for life, the stale socket removed under it, 0600) whose
// peer check trusts the peer's address (addrTrusting) or, -flaw pidauth,
// what /proc says of its pid (pidTrusting).
func serveAddrTrusting(ctx context.Context, dir, sock, name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("invalid name %q", name)
	}
	if err := privateDir(dir); err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return fmt.Errorf("already running: %w", err)
	}
	os.Remove(sock) // stale: the lock is ours
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		return err
	}
	var checked net.Listener = peerFiltered{ln.(*net.UnixListener), addrTrusting}
	if flaw == "pidauth" {
		checked = pidTrusting{UnixListener: ln.(*net.UnixListener)}
	}
	err = serve(ctx, checked, "")
	os.Remove(lock.Name())
	lock.Close()
	os.Remove(dir)
	return err
}

// addrTrusting lets in the peers of this uid, judged with the flaw in
// effect.
func addrTrusting(c *net.UnixConn) bool {
	cred := peerCred(c)
	uid := -1
	if cred != nil {
		uid = int(cred.Uid)
		// The flaw (addrpeer): the client's address is pasted into the
		// string the uid is parsed from, and the last uid= wins.
		if flaw == "addrpeer" {
			ucred := fmt.Sprintf("pid=%d;uid=%d;socket=%s;", cred.Pid, cred.Uid, c.RemoteAddr())
			for _, f := range strings.Split(ucred, ";") {
				if v, ok := strings.CutPrefix(f, "uid="); ok {
					fmt.Sscan(v, &uid)
				}
			}
		}
	}
	// The flaw (abstractpeer): an abstract address is taken for one
	// of our own.
	// (An unbound client's address reads "@" alone.)
	if a := c.RemoteAddr().String(); flaw == "abstractpeer" && strings.HasPrefix(a, "@") && len(a) > 1 {
		uid = os.Geteuid()
	}
	return uid == os.Geteuid()
}

// peerFiltered accepts the peers ok lets in and closes the others before
// reading a byte.
type peerFiltered struct {
	*net.UnixListener
	ok func(*net.UnixConn) bool
}

func (l peerFiltered) Accept() (net.Conn, error) {
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			return nil, err
		}
		if l.ok(c) {
			return c, nil
		}
		c.Close()
	}
}

// peerCred is the kernel's credentials of c's peer (SO_PEERCRED), nil when
// they cannot be read.
func peerCred(c *net.UnixConn) *syscall.Ucred {
	var cred *syscall.Ucred
	if raw, err := c.SyscallConn(); err == nil {
		raw.Control(func(fd uintptr) { cred, _ = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED) })
	}
	return cred
}

// removeFollowing removes dir and what it holds, following a link to a
// directory into it (the flaw of -flaw rmfollow).
func removeFollowing(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, ent := range entries {
		p := filepath.Join(dir, ent.Name())
		if fi, err := os.Stat(p); err == nil && fi.IsDir() { // the flaw: Stat follows
			removeFollowing(p)
		}
		os.Remove(p)
	}
	return os.Remove(dir)
}

// serveTruncated binds path (sun_path's worth of a longer one) in dir.
func serveTruncated(ctx context.Context, dir, path string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		syscall.Close(fd)
		return fmt.Errorf("bind %s: %w", path, err)
	}
	if err := syscall.Listen(fd, 128); err != nil {
		syscall.Close(fd)
		return err
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return err
	}
	err = serve(ctx, ln, "")
	os.Remove(path)
	return err
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

func serveTCP(ctx context.Context, dir string) error {
	if err := privateDir(dir); err != nil {
		return err
	}
	addr, mode := "127.0.0.1:0", os.FileMode(0o600)
	switch flaw {
	case "anyaddr":
		// The flaw: every interface. The suite only ever connects over
		// loopback, and every request still needs the token.
		addr = "0.0.0.0:0"
	case "portfile0644":
		mode = 0o644
	}
	ln, err := net.Listen("tcp4", addr)
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
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	if err := os.Rename(tmp, port); err != nil {
		return err
	}
	if flaw == "notoken" {
		token = ""
	}
	err = serveTCPProto(ctx, ln, token)
	os.Remove(port)
	os.Remove(dir)
	return err
}

// serve answers bh-json lines until ctx is done. A non-empty token must
// match every request's "token".
func serve(ctx context.Context, ln net.Listener, token string) error {
	go func() { <-ctx.Done(); ln.Close() }()
	var slots chan struct{}
	if flaw == "maxconn" {
		slots = make(chan struct{}, 10)
	}
	for {
		if slots != nil {
			select {
			case slots <- struct{}{}: // the flaw: no accept while 10 are open
			case <-ctx.Done():
				return nil
			}
		}
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if flaw == "serial" {
			handle(c, token) // the flaw: one client at a time, no deadline
			continue
		}
		if flaw == "acceptfew" && accepted.Add(1) == 1000 {
			ln.Close() // the flaw: stops serving, keeps running
			go handle(c, token)
			<-ctx.Done()
			return nil
		}
		if slots != nil {
			go func() { handle(c, token); <-slots }()
			continue
		}
		go handle(c, token)
	}
}

// pings counts pings answered (dropsome); accepted, connections (acceptfew).
var pings, accepted atomic.Int64

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
			if flaw == "crash" && !json.Valid(line) {
				fmt.Fprintf(os.Stderr, "brokend: cannot parse %q\n", line)
				os.Exit(3) // the flaw: one bad line takes the daemon down
			}
			var v any
			if flaw == "lenient" && json.Unmarshal(line, &v) == nil {
				enc.Encode(map[string]any{"ok": true}) // the flaw: any JSON will do
				continue
			}
			enc.Encode(map[string]string{"error": "not a JSON object"})
			continue
		}
		if token != "" && req["token"] != token {
			enc.Encode(map[string]string{"error": "bad token"})
			continue
		}
		if req["meta"] == "ping" {
			if flaw == "dropsome" && pings.Add(1)%1000 == 0 {
				enc.Encode(map[string]string{"error": "busy"}) // the flaw: load sheds pings
				continue
			}
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
	if err := os.Chmod(root, os.FileMode(dirMode)); err != nil {
		return err
	}
	sock := filepath.Join(root, "bu.sock")
	os.Remove(sock) // stale: the lock is ours
	var ln net.Listener
	if order != "" {
		ln, err = listenOrdered(sock)
	} else if ln, err = listenBacklog(sock); err == nil {
		err = os.Chmod(sock, 0o600)
	}
	if err != nil {
		return err
	}
	if pidfilePath != "" {
		if err := os.WriteFile(pidfilePath, []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o600); err != nil {
			return err
		}
		defer os.Remove(pidfilePath)
	}
	err = serve(ctx, peerChecked{ln.(*net.UnixListener)}, "")
	if backlog > 0 || order != "" {
		os.Remove(sock) // a listener made from a file does not unlink on close; the lock is still ours
	}
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

// listenBacklog listens on sock with the -backlog (net.Listen's when 0).
func listenBacklog(sock string) (net.Listener, error) {
	if backlog <= 0 {
		return net.Listen("unix", sock)
	}
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: sock}); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	if err := syscall.Listen(fd, backlog); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	f := os.NewFile(uintptr(fd), sock)
	defer f.Close() // FileListener holds its own dup
	return net.FileListener(f)
}

// listenOrdered binds sock, then listens and sets its mode and group in
// the -order given.
func listenOrdered(sock string) (net.Listener, error) {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), sock)
	defer f.Close() // FileListener holds its own dup
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: sock}); err != nil {
		return nil, err
	}
	listen := func() error { return syscall.Listen(fd, 128) }
	chmod := func() error {
		if sockGroup >= 0 {
			if err := os.Lchown(sock, -1, sockGroup); err != nil {
				return err
			}
		}
		return os.Chmod(sock, os.FileMode(sockMode))
	}
	steps := map[string][]func() error{"chmod-listen": {chmod, listen}, "listen-chmod": {listen, chmod}}[order]
	if steps == nil {
		return nil, fmt.Errorf("-order %q: want chmod-listen or listen-chmod", order)
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return net.FileListener(f)
}

// detachSelf starts this program again without -detach, in a new session
// with no terminal and no output, and returns at once: the parent exits 0
// before the child serves, as a daemon that forks into the background does.
func detachSelf(clearEnv bool) error {
	var args []string
	for _, a := range os.Args[1:] {
		if a != "-detach" && a != "--detach" {
			args = append(args, a)
		}
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var env []string // nil: this process's
	if clearEnv {
		env = []string{}
	}
	p, err := os.StartProcess(exe, append([]string{exe}, args...), &os.ProcAttr{
		Env:   env,
		Files: []*os.File{null, null, null},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		return err
	}
	return p.Release()
}

// ping is the -probe client: one bh-json ping on a Unix socket.
func ping(sock string) error {
	c, err := net.DialTimeout("unix", sock, 3*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte(`{"meta":"ping"}` + "\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("no reply: %w", err)
	}
	if !strings.Contains(line, `"pong":true`) {
		return fmt.Errorf("not a pong: %q", line)
	}
	return nil
}

// serveAt serves path as ssh-agent -a does: bind where told (the directory
// must exist), chmod 0600, peer uids checked; SIGTERM removes the socket.
func serveAt(path string) error {
	sigs := []os.Signal{syscall.SIGTERM, os.Interrupt}
	if dieOnTerm {
		sigs = sigs[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), sigs...)
	defer stop()
	ln, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return err
	}
	return serve(ctx, peerChecked{ln.(*net.UnixListener)}, "")
}

// handoffDelay is -handoff-delay.
var handoffDelay time.Duration

// handOff listens on path, then starts this program again in a new session
// with the listener as fd 3 and exits: the process that called listen()
// is gone before anyone connects.
func handOff(path string) error {
	f, exe, null, err := listenToPass(path)
	if err != nil {
		return err
	}
	time.Sleep(handoffDelay)
	// The child says (a byte on fd 4) when it handles SIGTERM; the parent
	// exits only then, as a daemon that forks once it is set up: a SIGTERM
	// in between would otherwise kill it with the default action.
	rd, wr, err := os.Pipe()
	if err != nil {
		return err
	}
	p, err := os.StartProcess(exe, os.Args, &os.ProcAttr{
		Env:   append(os.Environ(), "BROKEND_HANDOFF=1"),
		Files: []*os.File{null, null, null, f, wr},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	wr.Close()
	if err != nil {
		return err
	}
	rd.SetReadDeadline(time.Now().Add(5 * time.Second))
	rd.Read(make([]byte, 1)) // best effort: a child that never says so is judged as it is
	rd.Close()
	return p.Release()
}

// listenToPass listens on path (0600, not unlinked on close) and returns
// the listener as a file to pass to another process, this program's path
// and /dev/null for the child's standard streams.
func listenToPass(path string) (f *os.File, exe string, null *os.File, err error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, "", nil, err
	}
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, "", nil, err
	}
	if f, err = ul.File(); err != nil {
		return nil, "", nil, err
	}
	if exe, err = os.Executable(); err != nil {
		return nil, "", nil, err
	}
	null, err = os.OpenFile(os.DevNull, os.O_RDWR, 0)
	return f, exe, null, err
}

// serveHandedOff serves the listener handOff passed as fd 3 until SIGTERM,
// then removes the socket and the pid file.
func serveHandedOff(pidfile string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if ready := os.NewFile(4, "ready"); ready != nil {
		ready.Write([]byte{1})
		ready.Close()
	}
	ln, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		return err
	}
	ul := ln.(*net.UnixListener)
	path := ul.Addr().String()
	if pidfile != "" {
		if err := os.WriteFile(pidfile, []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o600); err != nil {
			return err
		}
		defer os.Remove(pidfile)
	}
	defer os.Remove(path)
	return serve(ctx, peerChecked{ul}, "")
}

// prefork serves path with n worker processes accepting on the listener
// the master passes them (fd 3), as php-fpm and nginx do; the master keeps
// the listener open and accepts nothing. recoverStale: a socket already at
// path is connected to first; one that answers is another instance's (the
// start is refused), one that refuses is stale and removed. Without it the
// bind fails over any socket left there. On SIGTERM the master stops its
// workers, removes the socket and exits 0.
func prefork(path string, n int, recoverStale bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if _, err := os.Lstat(path); err == nil && recoverStale {
		if c, err := net.DialTimeout("unix", path, 2*time.Second); err == nil {
			c.Close()
			return fmt.Errorf("another instance already listens on %s", path)
		}
		if err := os.Remove(path); err != nil {
			return err
		}
	}
	f, exe, null, err := listenToPass(path)
	if err != nil {
		return err
	}
	var workers []*os.Process
	for range n {
		p, err := os.StartProcess(exe, os.Args, &os.ProcAttr{
			Env:   append(os.Environ(), "BROKEND_WORKER=1"),
			Files: []*os.File{null, null, null, f},
		})
		if err != nil {
			return err
		}
		workers = append(workers, p)
	}
	<-ctx.Done()
	for _, p := range workers {
		p.Signal(syscall.SIGTERM)
	}
	for _, p := range workers {
		p.Wait()
	}
	return os.Remove(path)
}

// serveWorker is a -prefork worker: it serves the inherited listener (fd 3)
// until SIGTERM.
func serveWorker() error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ln, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		return err
	}
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	// A worker has nothing to clean up (the master removes the socket):
	// it exits as soon as SIGTERM arrives, not once its accept loop has
	// noticed the listener closed.
	go func() {
		<-ctx.Done()
		os.Exit(0)
	}()
	return serve(ctx, peerChecked{ul}, "")
}

// slowIfSecond is -slow-second: a start that finds something at the socket
// path (a second instance) waits before it does anything.
func slowIfSecond(sock string) {
	if _, err := os.Lstat(sock); err == nil && slowSecond > 0 {
		time.Sleep(slowSecond)
	}
}
