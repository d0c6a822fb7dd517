//go:build linux || darwin

package ipc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The client side and the fallback parents against another uid: every
// attack is planted by a real process running as attackerUID (as root the
// tests re-execute the test binary with SysProcAttr.Credential).

const (
	attackerUID = otherUID // 1001
	victimUID   = 1002     // a second unprivileged uid, for attacks on a non-root victim
)

func init() {
	platformHelpers["attack"] = runAttack
	platformHelpers["victim"] = runVictim
	platformHelpers["hold-tcp-limited"] = runHoldTCPLimited
}

// runHoldTCPLimited serves endpoint "held" over TCP under root arg with at
// most 32 open files (as a daemon under prlimit --nofile=32), printing
// "ready <port>".
func runHoldTCPLimited(arg string) int {
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 32, Max: 32}); err != nil {
		fmt.Println("error", err)
		return 3
	}
	ln, err := Listen(context.Background(), "held", WithRoot(arg), WithTransport(TransportTCP))
	if err != nil {
		fmt.Println("error", err)
		return 3
	}
	defer ln.Close()
	fmt.Println("ready", ln.Addr().(*net.TCPAddr).Port)
	Serve(context.Background(), ln, nil)
	return 0
}

// step is one action of the "attack" helper, run as the attacker's uid.
type step struct {
	Op   string      `json:"op"` // mkdir, create, remove, rename, symlink, link, flock, bind, swap-loop
	Path string      `json:"path"`
	Old  string      `json:"old,omitempty"`  // symlink target, link or rename source, swap-loop link target
	Hold string      `json:"hold,omitempty"` // swap-loop: where the victim's entry is parked
	Mode os.FileMode `json:"mode,omitempty"`
	N    int         `json:"n,omitempty"` // tcp-flood: connections
}

// runAttack performs the steps in order, prints "ready" (or "error ...")
// and then holds whatever it has (flocks, loops) until it is killed.
func runAttack(arg string) int {
	var steps []step
	if err := json.Unmarshal([]byte(arg), &steps); err != nil {
		fmt.Println("error", err)
		return 2
	}
	var keep []any
	for _, s := range steps {
		var err error
		switch s.Op {
		case "mkdir":
			if err = os.Mkdir(s.Path, s.Mode); err == nil {
				err = os.Chmod(s.Path, s.Mode) // exactly, whatever the umask
			}
		case "create":
			err = os.WriteFile(s.Path, nil, s.Mode)
		case "remove":
			err = os.Remove(s.Path)
		case "rename":
			err = os.Rename(s.Old, s.Path)
		case "symlink":
			err = os.Symlink(s.Old, s.Path)
		case "link":
			err = os.Link(s.Old, s.Path)
		case "flock":
			var f *os.File
			if f, err = os.Open(s.Path); err == nil {
				keep = append(keep, f)
				err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
			}
		case "bind":
			// A path too long for sun_path is bound relative to its
			// directory, as an attacker can.
			p := s.Path
			if len(p) > 100 {
				if err = os.Chdir(filepath.Dir(p)); err != nil {
					break
				}
				p = filepath.Base(p)
			}
			var l net.Listener
			if l, err = net.Listen("unix", p); err == nil {
				keep = append(keep, l)
			}
		case "tcp-flood":
			// Hold N silent connections to the address Path, each opened
			// again as soon as the server closes it; forever.
			up := make(chan error, s.N)
			for range s.N {
				go func() {
					first := true
					for {
						c, err := net.Dial("tcp", s.Path)
						if first {
							up <- err
							first = false
						}
						if err != nil {
							time.Sleep(time.Millisecond)
							continue
						}
						io.Copy(io.Discard, c) // until the server closes it
						c.Close()
					}
				}()
			}
			for range s.N {
				if err = <-up; err != nil {
					break
				}
			}
		case "swap-loop":
			// Park the victim's entry at Hold, put a symlink to Old in its
			// place, then put it back; forever (until killed).
			go func() {
				for {
					if os.Rename(s.Path, s.Hold) == nil {
						os.Symlink(s.Old, s.Path)
						time.Sleep(50 * time.Microsecond)
						os.Remove(s.Path)
						os.Rename(s.Hold, s.Path)
						time.Sleep(50 * time.Microsecond)
					}
				}
			}()
		default:
			err = fmt.Errorf("unknown op %q", s.Op)
		}
		if err != nil {
			fmt.Println("error", s.Op, s.Path, err)
			return 3
		}
	}
	fmt.Println("ready", os.Getpid())
	select {}
}

// victimJob is what the "victim" helper does as a non-root victim uid.
type victimJob struct {
	Root        string `json:"root"`
	FallbackTmp string `json:"fallback_tmp"`
	XDG         string `json:"xdg"`
	Listen      string `json:"listen"` // an endpoint to serve under Root first
}

// runVictim serves job.Listen under job.Root (if set), then lists the root
// and prints one JSON line: the endpoints, the warnings, the error.
func runVictim(arg string) int {
	var job victimJob
	if err := json.Unmarshal([]byte(arg), &job); err != nil {
		fmt.Println("error", err)
		return 2
	}
	fallbackTmp = job.FallbackTmp
	os.Setenv("XDG_RUNTIME_DIR", job.XDG)
	if job.Listen != "" {
		ln, err := Listen(context.Background(), job.Listen, WithRoot(job.Root))
		if err != nil {
			fmt.Println("error", err)
			return 3
		}
		defer ln.Close()
		go Serve(context.Background(), ln, nil)
	}
	var res struct {
		List, Live []Endpoint
		Warnings   []string
		Err        string
	}
	warn := WithOnWarning(func(err error) { res.Warnings = append(res.Warnings, err.Error()) })
	var err error
	if res.List, err = List(context.Background(), WithRoot(job.Root), warn); err == nil {
		res.Live, err = ListLive(context.Background(), WithRoot(job.Root), warn)
	}
	if err != nil {
		res.Err = err.Error()
	}
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
	return 0
}

// attack starts the attack helper as attackerUID and waits until it has
// planted everything.
func attack(t *testing.T, exe string, steps ...step) *child {
	t.Helper()
	b, err := json.Marshal(steps)
	must(t, err)
	c, line := startHelper(t, exe, "attack", string(b), asUID(attackerUID))
	if !strings.HasPrefix(line, "ready") {
		t.Fatalf("attacker (uid %d): %s", attackerUID, line)
	}
	return c
}

// setFallbackTmp moves the fallback bases (normally /tmp/bh-<uid>) into a
// fresh sticky directory for one test, so that squatting them disturbs no
// other test or user. Never parallel.
func setFallbackTmp(t *testing.T) string {
	t.Helper()
	d := shortRoot(t, 0o1777)
	old := fallbackTmp
	fallbackTmp = d
	t.Cleanup(func() { fallbackTmp = old })
	return d
}

// fallbackAttack prepares a test of an attack by attackerUID on the
// fallback (what: for the skip message): root, no private
// $XDG_RUNTIME_DIR (the fallback is /tmp/bh-<uid>), a fallback directory of
// the test's own (setFallbackTmp). It returns the test binary other uids
// can run.
func fallbackAttack(t *testing.T, what string) string {
	t.Helper()
	requireRoot(t, fmt.Sprintf("%s as uid %d", what, attackerUID))
	exe := otherUIDExe(t)
	t.Setenv("XDG_RUNTIME_DIR", "")
	setFallbackTmp(t)
	return exe
}

// longRoot makes a private root (0700, ours) whose socket paths do not fit
// sun_path, so endpoints under it use the fallback.
func longRoot(t *testing.T) string {
	t.Helper()
	root := shortRoot(t, 0o700)
	for len(root) < 120 {
		root = filepath.Join(root, "a-rather-long-directory-name")
	}
	must(t, os.MkdirAll(root, 0o700))
	return root
}

// heldDaemon starts the "hold" helper (endpoint "held", our uid, another
// pid) under root and returns its pid.
func heldDaemon(t *testing.T, root string) int {
	t.Helper()
	_, line := startHelper(t, "", "hold", root, nil)
	pid, err := strconv.Atoi(strings.TrimPrefix(line, "ready "))
	if err != nil {
		t.Fatalf("hold helper: %s", line)
	}
	return pid
}

// looseEndpointDir makes a sticky root holding name's endpoint directory,
// ours but loose (0777), as a directory is before Listen tightens it.
func looseEndpointDir(t *testing.T, name string, opts ...Option) (string, Layout) {
	t.Helper()
	root := shortRoot(t, 0o1777)
	lay, err := Resolve(name, append([]Option{WithRoot(root)}, opts...)...)
	must(t, err)
	must(t, os.Mkdir(lay.Dir, 0o700))
	must(t, os.Chmod(lay.Dir, 0o777))
	return root, lay
}

// wantNotPrivate checks that err is ErrNotPrivate and names path and the
// attacker's uid.
func wantNotPrivate(t *testing.T, what string, err error, path string) {
	t.Helper()
	if !errors.Is(err, ErrNotPrivate) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), fmt.Sprint("uid ", attackerUID)) || !strings.Contains(err.Error(), "mode") {
		t.Errorf("%s: %v, want ErrNotPrivate naming %s, owner uid %d and its mode", what, err, path, attackerUID)
	}
}

// The endpoint directory in a shared sticky root is a symlink another uid
// planted to one of our live endpoints: Dial must not follow it.
func TestDialRefusesSymlinkedEndpointDir(t *testing.T) {
	requireRoot(t, fmt.Sprintf("plant a symlink as uid %d", attackerUID))
	exe := otherUIDExe(t)
	root := shortRoot(t, 0o1777)
	heldPID := heldDaemon(t, root)
	x, _ := Resolve("x", WithRoot(root))
	held, _ := Resolve("held", WithRoot(root))
	attack(t, exe, step{Op: "symlink", Old: held.Dir, Path: x.Dir})
	c, err := Dial(context.Background(), "x", WithRoot(root))
	if err == nil {
		pid, _ := c.Identify(context.Background())
		c.Close()
		t.Fatalf("Dial x through a symlink planted by uid %d reached pid %d (the daemon of %q is %d)", attackerUID, pid, "held", heldPID)
	}
	wantNotPrivate(t, "Dial x through a planted symlink", err, x.Dir)
	live, err := ListLive(context.Background(), WithRoot(root))
	must(t, err)
	for _, e := range live {
		if e.Name == "x" {
			t.Errorf("ListLive reports x live (pid %d) through the planted symlink", e.PID)
		}
	}
}

// The attack: another uid makes /tmp/bh-<our uid>/<tag> and plants
// bu-x.d -> one of our live endpoint directories; Dial x from a private long
// root must refuse, naming the squatted base, and ListLive must not report x.
func TestDialVerifiesFallbackParents(t *testing.T) {
	exe := fallbackAttack(t, "squat the fallback base")
	shared := shortRoot(t, 0o1777)
	heldPID := heldDaemon(t, shared)
	held, _ := Resolve("held", WithRoot(shared))
	long := longRoot(t)
	x, err := Resolve("x", WithRoot(long))
	must(t, err)
	if !x.Fallback {
		t.Fatalf("layout %+v: want the fallback", x)
	}
	attack(t, exe,
		step{Op: "mkdir", Path: x.Parents[0], Mode: 0o755},
		step{Op: "mkdir", Path: x.Parents[1], Mode: 0o755},
		step{Op: "symlink", Old: held.Dir, Path: x.Dir})
	c, err := Dial(context.Background(), "x", WithRoot(long))
	if err == nil {
		pid, _ := c.Identify(context.Background())
		c.Close()
		t.Fatalf("Dial x under a long root reached pid %d through the squatted fallback (held's pid %d)", pid, heldPID)
	}
	wantNotPrivate(t, "Dial x through a squatted fallback", err, x.Parents[0])
	if !strings.Contains(err.Error(), "XDG_RUNTIME_DIR") {
		t.Errorf("Dial error %q does not say what to do", err)
	}
	var warnings []string
	live, err := ListLive(context.Background(), WithRoot(long), WithOnWarning(func(err error) { warnings = append(warnings, err.Error()) }))
	if err != nil || len(live) != 0 {
		t.Errorf("ListLive under the long root = %+v, %v; want nothing live", live, err)
	}
	if len(warnings) == 0 || !strings.Contains(warnings[0], x.Parents[0]) {
		t.Errorf("ListLive warnings %q, want one naming %s", warnings, x.Parents[0])
	}
}

// Another uid holds /tmp/bh-<our uid>: without a private $XDG_RUNTIME_DIR
// Listen and Dial both fail naming the squatter and saying what to do; with
// one, the fallback is under $XDG_RUNTIME_DIR whatever the squatter does,
// and List does not show what it planted.
func TestSquattedFallbackBase(t *testing.T) {
	requireRoot(t, fmt.Sprintf("squat the fallback base as uid %d", attackerUID))
	exe := otherUIDExe(t)
	setFallbackTmp(t)
	long := longRoot(t)
	t.Setenv("XDG_RUNTIME_DIR", "")
	x, err := Resolve("x", WithRoot(long))
	must(t, err)
	attack(t, exe,
		step{Op: "mkdir", Path: x.Parents[0], Mode: 0o755},
		step{Op: "mkdir", Path: x.Parents[1], Mode: 0o755},
		step{Op: "mkdir", Path: x.Parents[1] + "/bu-planted.d", Mode: 0o755},
		step{Op: "bind", Path: x.Parents[1] + "/bu-planted.d/sock"})

	t.Run("no private XDG_RUNTIME_DIR", func(t *testing.T) {
		t.Setenv("XDG_RUNTIME_DIR", "")
		ln, err := Listen(context.Background(), "x", WithRoot(long))
		if err == nil {
			ln.Close()
			t.Fatalf("Listen in a fallback base held by uid %d succeeded", attackerUID)
		}
		wantNotPrivate(t, "Listen", err, x.Parents[0])
		if !strings.Contains(err.Error(), "XDG_RUNTIME_DIR") {
			t.Errorf("Listen error %q does not say what to do", err)
		}
		_, err = Dial(context.Background(), "x", WithRoot(long))
		wantNotPrivate(t, "Dial", err, x.Parents[0])
	})

	t.Run("private XDG_RUNTIME_DIR", func(t *testing.T) {
		xdg := shortRoot(t, 0o700)
		t.Setenv("XDG_RUNTIME_DIR", xdg)
		ln, err := Listen(context.Background(), "x", WithRoot(long))
		if err != nil {
			t.Fatalf("Listen with the fallback base held by uid %d and a private XDG_RUNTIME_DIR: %v", attackerUID, err)
		}
		lay := ln.Layout()
		if !strings.HasPrefix(lay.Sock, xdg+"/"+altFallbackName+"/") {
			ln.Close()
			t.Fatalf("Listen used %s, want a socket under %s/%s", lay.Sock, xdg, altFallbackName)
		}
		pingServe(t, ln)
		ctx := context.Background()
		c, err := Dial(ctx, "x", WithRoot(long))
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		if c.Layout().Sock != lay.Sock {
			t.Errorf("Dial used %s, Listen %s", c.Layout().Sock, lay.Sock)
		}
		c.Close()
		eps, err := ListLive(ctx, WithRoot(long))
		if err != nil || len(eps) != 1 || eps[0].Name != "x" || eps[0].Path != lay.Sock || eps[0].PID != os.Getpid() {
			t.Errorf("ListLive = %+v, %v; want x live at %s", eps, err, lay.Sock)
		}
		all, err := List(ctx, WithRoot(long))
		if err != nil || len(all) != 1 || all[0].Name != "x" {
			t.Errorf("List = %+v, %v; want x only (not the endpoint planted in the squatted base)", all, err)
		}
		must(t, ln.Close())
		if _, err := os.Lstat(xdg + "/" + altFallbackName); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Close left the alternate base behind: %v", err)
		}
	})
}

// The fallback base must not depend on what another uid does: it squats
// /tmp/bh-<our uid>, we Listen (under $XDG_RUNTIME_DIR), it releases the
// squat. A second Listen of the same name must still find the first
// (ErrAlreadyRunning), and a Listen of another name (which may now create
// /tmp/bh-<uid>) must not make the first unreachable.
func TestFallbackSquatReleased(t *testing.T) {
	requireRoot(t, fmt.Sprintf("squat the fallback base as uid %d", attackerUID))
	exe := otherUIDExe(t)
	setFallbackTmp(t)
	long := longRoot(t)
	t.Setenv("XDG_RUNTIME_DIR", shortRoot(t, 0o700))
	base := fallbackBase(os.Geteuid())
	a := attack(t, exe, step{Op: "mkdir", Path: base, Mode: 0o700})
	ctx := context.Background()
	x, err := Listen(ctx, "x", WithRoot(long))
	if err != nil {
		t.Fatalf("Listen x with %s held by uid %d: %v", base, attackerUID, err)
	}
	defer x.Close()
	pingServe(t, x)
	a.cmd.Process.Kill()
	a.cmd.Wait()
	attack(t, exe, step{Op: "remove", Path: base})
	if ln, err := Listen(ctx, "x", WithRoot(long)); !errors.Is(err, ErrAlreadyRunning) {
		where := ""
		if err == nil {
			where = ln.Layout().Sock
			ln.Close()
		}
		t.Fatalf("second Listen x after uid %d released %s: %v %s; want ErrAlreadyRunning (x listens at %s)", attackerUID, base, err, where, x.Layout().Sock)
	}
	y, err := Listen(ctx, "y", WithRoot(long))
	must(t, err)
	defer y.Close()
	pingServe(t, y)
	if pid := mustPing(t, "x", WithRoot(long)); pid != os.Getpid() {
		t.Errorf("ping x = pid %d, want ours (%d)", pid, os.Getpid())
	}
	eps, err := ListLive(ctx, WithRoot(long))
	if err != nil || len(eps) != 2 || eps[0].Path != x.Layout().Sock || eps[1].Path != y.Layout().Sock {
		t.Errorf("ListLive = %+v, %v; want x at %s and y at %s", eps, err, x.Layout().Sock, y.Layout().Sock)
	}
}

// A non-root victim whose fallback base another uid made 0700: List and
// ListLive of its root skip it with a warning and still report the victim's
// own endpoints.
func TestListSkipsUnreadableFallback(t *testing.T) {
	requireRoot(t, fmt.Sprintf("run a victim as uid %d and an attacker as uid %d", victimUID, attackerUID))
	exe := otherUIDExe(t)
	tmp := setFallbackTmp(t)
	root := shortRoot(t, 0o1777)
	base := fallbackBase(victimUID)
	attack(t, exe, step{Op: "mkdir", Path: base, Mode: 0o700},
		step{Op: "mkdir", Path: base + "/" + rootTag(root), Mode: 0o700})
	job, _ := json.Marshal(victimJob{Root: root, FallbackTmp: tmp, Listen: "mine"})
	_, line := startHelper(t, exe, "victim", string(job), asUID(victimUID))
	var res struct {
		List, Live []Endpoint
		Warnings   []string
		Err        string
	}
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		t.Fatalf("victim: %s", line)
	}
	if res.Err != "" || len(res.List) != 1 || res.List[0].Name != "mine" || len(res.Live) != 1 || !res.Live[0].Live {
		t.Errorf("victim uid %d: List %+v, ListLive %+v, error %q; want its endpoint mine, live", victimUID, res.List, res.Live, res.Err)
	}
	if len(res.Warnings) == 0 || !strings.Contains(strings.Join(res.Warnings, "\n"), base) {
		t.Errorf("warnings %q, want one naming %s", res.Warnings, base)
	}
}

// Endpoints another uid planted in a shared sticky root: one whose socket
// path does not fit sun_path, beside our endpoint of the same name (which
// is in the fallback), and one of a name of its own. List shows neither
// (one warning names the foreign one), nor a port file of ours where no
// Listen puts one (the fallback), and ListLive reports our x once, at its
// real place, with our pid.
func TestListShowsOnlyOurs(t *testing.T) {
	exe := fallbackAttack(t, "plant endpoints")
	root := shortRoot(t, 0o1777)
	for len(root) < 120 {
		root = filepath.Join(root, "a-rather-long-shared-directory")
		must(t, os.Mkdir(root, 0o700))
		must(t, os.Chmod(root, 0o777|os.ModeSticky))
	}
	ctx := context.Background()
	ln, err := Listen(ctx, "x", WithRoot(root))
	must(t, err)
	defer ln.Close()
	pingServe(t, ln)
	if !ln.Layout().Fallback {
		t.Fatalf("x listens at %s, want the fallback", ln.Layout().Sock)
	}
	attack(t, exe,
		step{Op: "mkdir", Path: root + "/bu-x.d", Mode: 0o755},
		step{Op: "bind", Path: root + "/bu-x.d/sock"},
		step{Op: "mkdir", Path: root + "/bu-evil.d", Mode: 0o755},
		step{Op: "bind", Path: root + "/bu-evil.d/sock"})
	// A port file of ours in the fallback directory: TCP endpoints never
	// use the fallback, so Dial z would not look there.
	z := ln.Layout().Parents[1] + "/bu-z.d"
	must(t, os.Mkdir(z, 0o700))
	must(t, os.WriteFile(z+"/port", []byte("{}"), 0o600))
	defer os.RemoveAll(z)
	var warnings []string
	warn := WithOnWarning(func(err error) { warnings = append(warnings, err.Error()) })
	all, err := List(ctx, WithRoot(root), warn)
	if err != nil || len(all) != 1 || all[0].Path != ln.Layout().Sock {
		t.Errorf("List = %+v, %v; want x at %s only", all, err, ln.Layout().Sock)
	}
	if w := strings.Join(warnings, "\n"); !strings.Contains(w, "bu-evil.d (uid 1001)") {
		t.Errorf("warnings %q, want one naming bu-evil.d and its owner", warnings)
	}
	live, err := ListLive(ctx, WithRoot(root))
	if err != nil || len(live) != 1 || live[0].Path != ln.Layout().Sock || live[0].PID != os.Getpid() {
		t.Errorf("ListLive = %+v, %v; want x once, at %s, pid %d", live, err, ln.Layout().Sock, os.Getpid())
	}
}

// TCP: another uid links a shared sticky root's bu-x.d to our endpoint
// directory in a private root. Dial of x in the shared root reads the port
// file through the verified chain, so it refuses the link instead of
// following it to the real daemon's port file.
func TestTCPDialRefusesSymlinkedEndpointDir(t *testing.T) {
	requireRoot(t, fmt.Sprintf("plant a symlink as uid %d", attackerUID))
	exe := otherUIDExe(t)
	private := shortRoot(t, 0o700)
	ln, err := Listen(context.Background(), "x", WithRoot(private), WithTransport(TransportTCP))
	must(t, err)
	defer ln.Close()
	pingServe(t, ln)
	shared := shortRoot(t, 0o1777)
	planted := shared + "/bu-x.d"
	attack(t, exe, step{Op: "symlink", Old: ln.Layout().Dir, Path: planted})
	c, err := Dial(context.Background(), "x", WithRoot(shared), WithTransport(TransportTCP))
	if err == nil {
		pid, _ := c.Identify(context.Background())
		c.Close()
		t.Fatalf("TCP Dial x in %s followed the symlink planted by uid %d to pid %d", shared, attackerUID, pid)
	}
	wantNotPrivate(t, "TCP Dial through a planted symlink", err, planted)
}

// Another uid floods a TCP daemon (at most 32 open files) with silent
// connections, reopening each as soon as it is closed. A client of ours
// still completes Dial and a ping within the usual 5 s, every time.
func TestTCPHandshakeFlood(t *testing.T) {
	requireRoot(t, fmt.Sprintf("flood as uid %d", attackerUID))
	exe := otherUIDExe(t)
	root := shortRoot(t, 0o1777)
	_, line := startHelper(t, "", "hold-tcp-limited", root, nil)
	port, err := strconv.Atoi(strings.TrimPrefix(line, "ready "))
	if err != nil {
		t.Fatalf("daemon: %s", line)
	}
	attack(t, exe, step{Op: "tcp-flood", Path: fmt.Sprintf("127.0.0.1:%d", port), N: 200})
	for i := range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := Dial(ctx, "held", WithRoot(root), WithTransport(TransportTCP))
		if err == nil {
			_, err = c.Identify(ctx)
			c.Close()
		}
		cancel()
		if err != nil {
			t.Fatalf("ping %d under a flood of 200 silent connections from uid %d: %v", i, attackerUID, err)
		}
	}
}

// A directory of ours that was loose (0777) while another uid planted
// something at "lock" and holds a flock on it: a hard link to a file of ours
// (st_nlink 2), a symlink to it, or a file of its own. Listen replaces the
// name (instead of reporting ErrAlreadyRunning) and the file of ours is
// untouched.
func TestPlantedLock(t *testing.T) {
	requireRoot(t, fmt.Sprintf("plant a lock file as uid %d", attackerUID))
	exe := otherUIDExe(t)
	for _, c := range []struct {
		name  string
		plant func(lock, precious string) []step
		// tighten: the file of ours is made 0600 once linked, so that
		// only the link count (not the mode) tells it from a lock file.
		tighten bool
	}{
		{"hard link to a file of ours", func(lock, precious string) []step {
			return []step{{Op: "link", Old: precious, Path: lock}, {Op: "flock", Path: lock}}
		}, false},
		{"hard link to a 0600 file of ours", func(lock, precious string) []step {
			return []step{{Op: "link", Old: precious, Path: lock}, {Op: "flock", Path: lock}}
		}, true},
		{"symlink to a file of ours", func(lock, precious string) []step {
			return []step{{Op: "symlink", Old: precious, Path: lock}, {Op: "flock", Path: precious}}
		}, false},
		{"file of the attacker's", func(lock, precious string) []step {
			return []step{{Op: "create", Path: lock, Mode: 0o644}, {Op: "flock", Path: lock}}
		}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			root, lay := looseEndpointDir(t, "l")
			// A file of ours that the attacker may read and write, so that
			// fs.protected_hardlinks lets it link the file.
			precious := filepath.Join(shortRoot(t, 0o755), "precious")
			must(t, os.WriteFile(precious, []byte("ours"), 0o666))
			must(t, os.Chmod(precious, 0o666))
			attack(t, exe, c.plant(lay.Lock, precious)...)
			if c.tighten {
				// Our file's mode tightened after the attacker linked it
				// (and while it holds a flock on it): "lock" is now a
				// 0600 file of ours, like a lock Listen made, but with
				// two links.
				must(t, os.Chmod(precious, 0o600))
				if st := lstat(t, lay.Lock); st.Mode&07777 != 0o600 || st.Nlink != 2 {
					t.Fatalf("planted lock is %04o with %d links, want 0600 with 2", st.Mode&07777, st.Nlink)
				}
			}
			ln, err := Listen(context.Background(), "l", WithRoot(root))
			if err != nil {
				t.Fatalf("Listen with a %s planted at lock by uid %d: %v", c.name, attackerUID, err)
			}
			defer ln.Close()
			pingServe(t, ln)
			mustPing(t, "l", WithRoot(root))
			st := lstat(t, lay.Lock)
			if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Uid != uint32(os.Geteuid()) || st.Nlink != 1 {
				t.Errorf("lock is a %s of uid %d with %d links, want a fresh file of ours", describeMode(uint32(st.Mode)), st.Uid, st.Nlink)
			}
			if pst := lstat(t, precious); pst.Ino == st.Ino || pst.Nlink != 1 {
				t.Errorf("lock is inode %d; the file of ours is inode %d with %d links, want it alone", st.Ino, pst.Ino, pst.Nlink)
			}
			if b, err := os.ReadFile(precious); err != nil || string(b) != "ours" {
				t.Errorf("the file of ours: %q, %v; want it untouched", b, err)
			}
		})
	}
}

// More plants at "lock" while our directory was loose: a file of ours
// (0644, from a directory the other uid can write) moved there and flocked
// by it, an empty directory, a non-empty directory. The first two are
// replaced by a fresh lock; the last is refused naming it, its owner, and
// how to get it out of the way (the owner of the endpoint directory can
// rename it, not delete it).
func TestPlantedLockMore(t *testing.T) {
	requireRoot(t, fmt.Sprintf("plant at lock as uid %d", attackerUID))
	exe := otherUIDExe(t)
	for _, c := range []struct {
		name  string
		plant func(lock, notes string) []step
		ok    bool
	}{
		{"file of ours 0644 moved there, flocked", func(lock, notes string) []step {
			return []step{{Op: "flock", Path: notes}, {Op: "rename", Old: notes, Path: lock}}
		}, true},
		{"empty directory", func(lock, _ string) []step {
			return []step{{Op: "mkdir", Path: lock, Mode: 0o755}}
		}, true},
		{"non-empty directory", func(lock, _ string) []step {
			return []step{{Op: "mkdir", Path: lock, Mode: 0o755}, {Op: "create", Path: lock + "/f", Mode: 0o644}}
		}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			root, lay := looseEndpointDir(t, "l")
			notes := filepath.Join(shortRoot(t, 0o777), "notes")
			must(t, os.WriteFile(notes, []byte("ours"), 0o644))
			attack(t, exe, c.plant(lay.Lock, notes)...)
			ln, err := Listen(context.Background(), "l", WithRoot(root))
			if !c.ok {
				if err == nil {
					ln.Close()
					t.Fatalf("Listen over a %s planted at lock succeeded", c.name)
				}
				wantNotPrivate(t, "Listen over a planted non-empty directory", err, lay.Lock)
				if !strings.Contains(err.Error(), "mv "+lay.Lock) {
					t.Errorf("error %q does not say to rename it aside", err)
				}
				if st := lstat(t, lay.Lock+"/f"); st.Uid != attackerUID {
					t.Errorf("planted %s/f changed owner to %d", lay.Lock, st.Uid)
				}
				return
			}
			if err != nil {
				t.Fatalf("Listen with a %s planted at lock by uid %d: %v", c.name, attackerUID, err)
			}
			defer ln.Close()
			st := lstat(t, lay.Lock)
			if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Mode&07777 != 0o600 || st.Nlink != 1 {
				t.Errorf("lock is a %s %04o with %d links, want a fresh 0600 file", describeMode(uint32(st.Mode)), st.Mode&07777, st.Nlink)
			}
		})
	}
}

// A non-empty directory planted at "sock" or "port" while our directory was
// loose: Listen refuses with ErrNotPrivate naming it and its owner, and
// leaves it.
func TestPlantedDirAtSockOrPort(t *testing.T) {
	requireRoot(t, fmt.Sprintf("plant a directory as uid %d", attackerUID))
	exe := otherUIDExe(t)
	for _, tr := range []Transport{TransportUnix, TransportTCP} {
		t.Run(string(tr), func(t *testing.T) {
			root, lay := looseEndpointDir(t, "s", WithTransport(tr))
			at := lay.Sock
			if tr == TransportTCP {
				at = lay.Port
			}
			attack(t, exe, step{Op: "mkdir", Path: at, Mode: 0o755}, step{Op: "mkdir", Path: at + "/x", Mode: 0o755})
			ln, err := Listen(context.Background(), "s", WithRoot(root), WithTransport(tr))
			if err == nil {
				ln.Close()
				t.Fatalf("Listen over a directory planted at %s succeeded", at)
			}
			wantNotPrivate(t, "Listen over a planted directory", err, at)
			if st := lstat(t, at+"/x"); st.Uid != attackerUID {
				t.Errorf("planted %s/x changed owner to %d", at, st.Uid)
			}
		})
	}
}

// A root that another uid can write and that is not sticky (our daemons x
// and held started there while it was sticky): the other uid renames x's
// directory away and held's directory into x's place. Both are directories
// of ours, so only the root itself can be refused: Dial x must not reach
// held, Listen held must not start a second held, and neither may a rename
// loop get a Dial through, with /proc or without.
func TestRenameableRoot(t *testing.T) {
	requireRoot(t, fmt.Sprintf("rename endpoint directories as uid %d", attackerUID))
	exe := otherUIDExe(t)
	root := shortRoot(t, 0o1777)
	heldPID := heldDaemon(t, root)
	ln, err := Listen(context.Background(), "x", WithRoot(root))
	must(t, err)
	defer ln.Close()
	pingServe(t, ln)
	x := ln.Layout()
	held, _ := Resolve("held", WithRoot(root))
	must(t, os.Chmod(root, 0o777)) // writable by all, not sticky
	wantRoot := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrNotPrivate) || !strings.Contains(err.Error(), root+":") || !strings.Contains(err.Error(), "mode 0777") || !strings.Contains(err.Error(), "owner uid 0") {
			t.Errorf("%s: %v; want ErrNotPrivate naming %s, its owner and mode 0777", what, err, root)
		}
	}
	if ln2, err := Listen(context.Background(), "fresh", WithRoot(root)); err == nil {
		ln2.Close()
		t.Errorf("Listen in a non-sticky root writable by others succeeded")
	} else {
		wantRoot("Listen fresh", err)
	}
	dial := func(name string) (int, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := Dial(ctx, name, WithRoot(root))
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return c.Identify(ctx)
	}
	for _, noProc := range []bool{false, true} {
		testNoProc = noProc
		a := attack(t, exe, step{Op: "rename", Old: x.Dir, Path: root + "/hidden"}, step{Op: "rename", Old: held.Dir, Path: x.Dir})
		pid, err := dial("x")
		if err == nil {
			t.Errorf("no /proc %v: Dial x with held's directory renamed into its place by uid %d reached pid %d (held is %d, x is %d)", noProc, attackerUID, pid, heldPID, os.Getpid())
		} else {
			wantRoot("Dial x", err)
		}
		if ln2, err := Listen(context.Background(), "held", WithRoot(root)); err == nil {
			t.Errorf("no /proc %v: a second Listen held (its directory renamed away by uid %d) succeeded while held (pid %d) runs", noProc, attackerUID, heldPID)
			ln2.Close()
		} else {
			wantRoot("Listen held", err)
		}
		a.cmd.Process.Kill()
		a.cmd.Wait()
		attack(t, exe, step{Op: "rename", Old: x.Dir, Path: held.Dir}, step{Op: "rename", Old: root + "/hidden", Path: x.Dir})
		// A rename loop: every Dial is refused, none reaches held.
		a = attack(t, exe, step{Op: "swap-loop", Path: x.Dir, Hold: root + "/parked", Old: held.Dir})
		for i := 0; i < 200; i++ {
			if pid, err := dial("x"); err == nil {
				t.Fatalf("no /proc %v, attempt %d: Dial x reached pid %d through the rename loop (held is %d)", noProc, i, pid, heldPID)
			}
		}
		a.cmd.Process.Kill()
		a.cmd.Wait()
		// The loop may have been killed mid-swap: put our directory back.
		if st, err := os.Lstat(x.Dir); err != nil || st.Mode()&os.ModeSymlink != 0 {
			os.Remove(x.Dir)
			must(t, os.Rename(root+"/parked", x.Dir))
		}
	}
	testNoProc = false
	must(t, os.Chmod(root, 0o777|os.ModeSticky))
	if pid := mustPing(t, "x", WithRoot(root)); pid != os.Getpid() {
		t.Errorf("ping x in the sticky root again: pid %d, want ours", pid)
	}
}

// A sticky root owned by another uid: its owner may rename anything in it,
// sticky or not, so Listen and Dial refuse it, naming the owner.
func TestRootOwnedByAnotherUID(t *testing.T) {
	requireRoot(t, fmt.Sprintf("make a root as uid %d", attackerUID))
	exe := otherUIDExe(t)
	root := shortRoot(t, 0o1777) + "/theirs"
	attack(t, exe, step{Op: "mkdir", Path: root, Mode: 0o777 | os.ModeSticky})
	ln, err := Listen(context.Background(), "x", WithRoot(root))
	if err == nil {
		ln.Close()
		t.Fatalf("Listen in a root owned by uid %d succeeded", attackerUID)
	}
	wantNotPrivate(t, "Listen", err, root)
	_, err = Dial(context.Background(), "x", WithRoot(root))
	wantNotPrivate(t, "Dial", err, root)
}

// Without /proc (the macOS path), Dial connects by the plain path in a
// sticky or private root; a root where another uid could rename entries is
// refused by Listen and Dial alike.
func TestDialWithoutProc(t *testing.T) {
	testNoProc = true
	defer func() { testNoProc = false }()
	for _, c := range []struct {
		mode os.FileMode
		ok   bool
	}{{0o1777 | os.ModeSticky, true}, {0o700, true}, {0o777, false}} {
		t.Run(fmt.Sprintf("root %v", c.mode), func(t *testing.T) {
			root := shortRoot(t, c.mode)
			ln, err := Listen(context.Background(), "np", WithRoot(root))
			if !c.ok {
				if err == nil {
					ln.Close()
				}
				if !errors.Is(err, ErrNotPrivate) || !strings.Contains(err.Error(), root) {
					t.Errorf("Listen in a non-sticky root writable by others: %v, want ErrNotPrivate naming %s", err, root)
				}
				if _, err = Dial(context.Background(), "np", WithRoot(root)); !errors.Is(err, ErrNotPrivate) || !strings.Contains(err.Error(), root) {
					t.Errorf("Dial in a non-sticky root writable by others: %v, want ErrNotPrivate naming %s", err, root)
				}
				return
			}
			must(t, err)
			defer ln.Close()
			pingServe(t, ln)
			if _, err = Dial(context.Background(), "np", WithRoot(root)); err != nil {
				t.Errorf("Dial: %v", err)
			}
		})
	}
}

// Without /proc, a swap of the endpoint directory between Dial's checks and
// its connect (here done by root at that exact instant, as a renaming
// attacker could) is caught by the check after connect; with /proc the
// connect goes through the verified handle and reaches the right daemon.
func TestDialSwapBeforeConnect(t *testing.T) {
	root := shortRoot(t, 0o777|os.ModeSticky)
	heldPID := heldDaemon(t, root)
	held, _ := Resolve("held", WithRoot(root))
	ln, err := Listen(context.Background(), "x", WithRoot(root))
	must(t, err)
	defer ln.Close()
	pingServe(t, ln)
	x := ln.Layout()
	for _, noProc := range []bool{false, true} {
		t.Run(fmt.Sprintf("no /proc %v", noProc), func(t *testing.T) {
			testNoProc = noProc
			testHookBeforeConnect = func() {
				must(t, os.Rename(x.Dir, root+"/parked"))
				must(t, os.Symlink(held.Dir, x.Dir))
			}
			defer func() {
				testNoProc, testHookBeforeConnect = false, nil
				must(t, os.Remove(x.Dir))
				must(t, os.Rename(root+"/parked", x.Dir))
			}()
			ctx := context.Background()
			c, err := Dial(ctx, "x", WithRoot(root))
			if err != nil {
				if noProc && errors.Is(err, ErrNotPrivate) && strings.Contains(err.Error(), "changed while connecting") {
					return
				}
				t.Fatalf("Dial: %v", err)
			}
			defer c.Close()
			pid, err := c.Identify(ctx)
			if err != nil || pid != os.Getpid() {
				t.Errorf("Dial x with its directory swapped for a link to held (pid %d) before connect: pid %d, %v; want ours (%d) or a refusal", heldPID, pid, err, os.Getpid())
			}
		})
	}
}

// DialSocket: the directory is the caller's choice, the socket is checked
// (a socket of an allowed uid, not a link) and the server's uid too.
func TestDialSocket(t *testing.T) {
	requireRoot(t, fmt.Sprintf("run a server as uid %d", attackerUID))
	exe := otherUIDExe(t)
	root := shortRoot(t, 0o777|os.ModeSticky)
	ln, err := Listen(context.Background(), "ds", WithRoot(root))
	must(t, err)
	defer ln.Close()
	pingServe(t, ln)
	sock := ln.Layout().Sock
	ctx := context.Background()
	c, err := DialSocket(ctx, sock)
	if err != nil {
		t.Fatalf("DialSocket %s: %v", sock, err)
	}
	c.Close()
	link := root + "/link.sock"
	attack(t, exe, step{Op: "symlink", Old: sock, Path: link})
	if _, err := DialSocket(ctx, link); !errors.Is(err, ErrNotPrivate) || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("DialSocket through a symlink planted by uid %d: %v, want ErrNotPrivate", attackerUID, err)
	}
	file := root + "/file.sock"
	must(t, os.WriteFile(file, nil, 0o600))
	if _, err := DialSocket(ctx, file); !errors.Is(err, ErrNotPrivate) || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("DialSocket to a regular file: %v, want ErrNotPrivate: not a socket", err)
	}
	theirs := root + "/theirs.sock"
	_, line := startHelper(t, exe, "serve-plain", theirs, asUID(attackerUID))
	if !strings.HasPrefix(line, "ready") {
		t.Fatalf("server: %s", line)
	}
	_, err = DialSocket(ctx, theirs)
	wantNotPrivate(t, "DialSocket to a socket of uid 1001", err, theirs)
}
