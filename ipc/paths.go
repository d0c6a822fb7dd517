package ipc

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// Layout is where an endpoint lives on disk. It is pure naming: computing it
// touches nothing.
type Layout struct {
	Name      string
	Transport Transport
	// Root is the runtime directory the endpoint belongs to (absolute).
	Root string
	// Parents are private directories that must exist before Dir, outermost
	// first. Empty unless the socket path needed the short fallback.
	Parents []string
	// Dir is the endpoint's private directory (POSIX), or Root on Windows.
	Dir string
	// Sock is the Unix socket path (unix transport).
	Sock string
	// Lock is the file whose lock is held for the daemon's whole life.
	Lock string
	// Port is the port file (tcp transport).
	Port string
	// Fallback reports whether the socket moved to the short fallback
	// because Root/bu-NAME.d/sock does not fit sun_path. The fallback base
	// depends only on inputs another uid cannot change: it is
	// $XDG_RUNTIME_DIR/bh/<tag> whenever $XDG_RUNTIME_DIR is a private
	// directory of the uid (and the socket fits there), else
	// /tmp/bh-<uid>/<tag>. Resolve, Listen, Dial and List all choose the
	// same way, so they always meet.
	Fallback bool
}

// SunPathLimit is the number of usable bytes in sockaddr_un.sun_path for
// goos (the array size less the terminating NUL): 107 on Linux, 103 on the
// BSDs and macOS. Go reports an overflow only as "invalid argument", so the
// package checks lengths itself.
func SunPathLimit(goos string) int {
	switch goos {
	case "linux", "android":
		return 107
	case "windows":
		return 107 // AF_UNIX on Windows has a 108-byte sun_path; unused here.
	default:
		return 103
	}
}

// DefaultRoot returns the runtime directory endpoints live under when no
// root is given: $BH_RUNTIME_DIR, else $XDG_RUNTIME_DIR when it is an
// absolute path naming a directory owned by this uid with no group or
// other access, else os.TempDir().
//
// The order is the squatting defence (docs/ipc.md): a private
// $XDG_RUNTIME_DIR (/run/user/<uid>, 0700) is a per-user base in which no
// other uid can create anything, so no other uid can pre-create the
// endpoint directory there and keep the daemon from starting. The temp
// dir is the fallback: per-user on macOS ($TMPDIR under /var/folders),
// the shared /tmp on Linux, where another uid can pre-create
// bu-<name>.d; Listen then refuses it (ErrNotPrivate naming its owner and
// what to do) rather than serve in it. A relative $XDG_RUNTIME_DIR is
// ignored, as the XDG Base Directory specification says.
func DefaultRoot() string {
	return defaultRoot(os.Geteuid(), os.Getenv, os.TempDir)
}

// DefaultRootFor is DefaultRoot for a process with effective uid uid and
// environment environ (KEY=VALUE entries as os.Environ and exec.Cmd.Env
// hold them; the last entry of a key wins): the root that process's Listen
// and Dial use when given none. It only examines (lstat) the
// $XDG_RUNTIME_DIR environ names. The temp dir is environ's $TMPDIR, else
// /tmp (on Windows, os.TempDir()). A supervisor (or a test suite) that
// starts a daemon with an environment of its making uses it to find the
// daemon where its clients will look.
func DefaultRootFor(uid int, environ []string) string {
	getenv := lookupIn(environ)
	return defaultRoot(uid, getenv, func() string {
		if runtime.GOOS == "windows" {
			return os.TempDir()
		}
		if d := getenv("TMPDIR"); d != "" {
			return d
		}
		return "/tmp"
	})
}

func defaultRoot(uid int, getenv func(string) string, tempDir func() string) string {
	if d := getenv("BH_RUNTIME_DIR"); d != "" {
		return d
	}
	// Race point: $XDG_RUNTIME_DIR is judged here by lstat (a symlink is
	// no private directory) and used later by path. Being ours with no
	// group or other access, only our uid (or root) can change it in
	// between, and Listen and Dial check it again on the handle they go
	// through (openHolder): a root that another uid could make or swap is
	// refused there whatever was chosen here.
	if d := getenv("XDG_RUNTIME_DIR"); d != "" && filepath.IsAbs(d) && isPrivateDirOf(d, uid) {
		return d
	}
	return tempDir()
}

// lookupIn is getenv over environ: the value of the last KEY=VALUE entry
// of key, "" when there is none.
func lookupIn(environ []string) func(string) string {
	return func(key string) string {
		v := ""
		for _, kv := range environ {
			if k, val, ok := strings.Cut(kv, "="); ok && k == key {
				v = val
			}
		}
		return v
	}
}

// Resolve computes the Layout for name under the options' root and
// transport, applying the sun_path budget for the unix transport. It
// validates the name first and creates nothing; it only examines (lstat)
// $XDG_RUNTIME_DIR, to choose the fallback base (see Layout.Fallback).
func Resolve(name string, opts ...Option) (Layout, error) {
	o := buildOptions(opts)
	return resolve(name, o)
}

// ResolveAs is Resolve for a process whose effective uid is uid: the short
// sun_path fallback lives under a directory named after the uid, so a
// supervisor (or a test suite) running as another uid needs this to find a
// daemon's socket. The fallback base is chosen as that uid would choose it
// with this process's $XDG_RUNTIME_DIR (used only when it is a private
// directory owned by uid); a daemon started with another environment may
// have chosen differently.
func ResolveAs(uid int, name string, opts ...Option) (Layout, error) {
	o := buildOptions(opts)
	return resolveUID(name, o, uid)
}

// ResolveFor is ResolveAs for a process with effective uid uid and
// environment environ (as DefaultRootFor reads it): the root, when the
// options give none, is DefaultRootFor(uid, environ), and the sun_path
// fallback's base is chosen with environ's $XDG_RUNTIME_DIR. It is where
// that process's Listen puts the endpoint and its Dial looks.
func ResolveFor(uid int, environ []string, name string, opts ...Option) (Layout, error) {
	o := buildOptions(opts)
	if o.root == "" {
		o.root = DefaultRootFor(uid, environ)
	}
	return resolveEnv(name, o, uid, lookupIn(environ))
}

func resolve(name string, o *options) (Layout, error) {
	return resolveUID(name, o, os.Geteuid())
}

func resolveUID(name string, o *options, uid int) (Layout, error) {
	return resolveEnv(name, o, uid, os.Getenv)
}

func resolveEnv(name string, o *options, uid int, getenv func(string) string) (Layout, error) {
	if err := ValidateName(name); err != nil {
		return Layout{}, err
	}
	root := o.root
	if root == "" {
		root = DefaultRoot()
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return Layout{}, fmt.Errorf("ipc: root %s: %w", root, err)
	}
	lay, err := layoutFor(runtime.GOOS, abs, name, o.transport, uid)
	if err != nil || !lay.Fallback {
		return lay, err
	}
	// The base depends only on $XDG_RUNTIME_DIR (ours and private, which
	// no other uid can change), never on the state of /tmp/bh-<uid>, which
	// another uid can squat and release at will.
	if xdg := getenv("XDG_RUNTIME_DIR"); xdg != "" && isPrivateDirOf(xdg, uid) {
		if alt, ok := altFallbackLayout(runtime.GOOS, lay, xdg); ok {
			return alt, nil
		}
	}
	return lay, nil
}

// fallbackTmp is the shared directory holding the fallback bases. Only
// tests change it (to a sticky directory of their own).
var fallbackTmp = "/tmp"

// fallbackBase is the short directory used when a socket path does not fit
// sun_path and $XDG_RUNTIME_DIR is no private directory of ours:
// /tmp/bh-<uid>. Listen, Dial and List verify it like any other directory
// of the chain, so another uid can make it unusable (ErrNotPrivate naming
// it, see squatted), never redirect an endpoint through it.
func fallbackBase(uid int) string {
	return fallbackTmp + "/bh-" + strconv.Itoa(uid)
}

// altFallbackName is the directory made under $XDG_RUNTIME_DIR for the
// fallback base there.
const altFallbackName = "bh"

// altFallbackLayout moves a fallback layout from /tmp/bh-<uid> to
// <xdg>/bh/<tag of root>. xdg is $XDG_RUNTIME_DIR, already checked to be a
// private directory of the uid (the caller's job). ok is false when lay is
// not a fallback layout, xdg is not absolute, or the socket would not fit
// sun_path there. Pure: it depends on lengths and names only.
func altFallbackLayout(goos string, lay Layout, xdg string) (Layout, bool) {
	if !lay.Fallback || xdg == "" || xdg[0] != '/' {
		return Layout{}, false
	}
	base := filepath.Clean(xdg) + "/" + altFallbackName
	tagged := base + "/" + rootTag(lay.Root)
	alt := Layout{Name: lay.Name, Transport: lay.Transport, Root: lay.Root, Parents: []string{base, tagged}, Fallback: true}
	alt.Dir = tagged + "/bu-" + lay.Name + ".d"
	alt.Sock = alt.Dir + "/sock"
	alt.Lock = alt.Dir + "/lock"
	alt.Port = alt.Dir + "/port"
	if len(alt.Sock) > SunPathLimit(goos) {
		return Layout{}, false
	}
	return alt, true
}

// rootTag is a short stable tag of an absolute root, so that two long roots
// never share a fallback directory.
func rootTag(root string) string {
	sum := sha256.Sum256([]byte(filepath.Clean(root)))
	return hex.EncodeToString(sum[:5])
}

// layoutFor is Resolve's pure core, parameterised by goos and uid so the
// budget logic for every platform is unit-tested on any host.
func layoutFor(goos, root, name string, t Transport, uid int) (Layout, error) {
	l := Layout{Name: name, Transport: t, Root: root}
	if goos == "windows" {
		// Windows: the root is the user's own temp dir; the port file's
		// DACL, not a private directory, keeps others out.
		l.Dir = root
		l.Lock = joinPath(goos, root, "bu-"+name+".lock")
		l.Port = joinPath(goos, root, "bu-"+name+".port")
		if t == TransportUnix {
			return l, fmt.Errorf("ipc: endpoint %s: %w: unix transport on windows", name, ErrUnsupported)
		}
		return l, nil
	}
	l.Dir = root + "/bu-" + name + ".d"
	l.Sock = l.Dir + "/sock"
	l.Lock = l.Dir + "/lock"
	l.Port = l.Dir + "/port"
	if t != TransportUnix {
		return l, nil
	}
	limit := SunPathLimit(goos)
	if len(l.Sock) <= limit {
		return l, nil
	}
	base := fallbackBase(uid)
	tagged := base + "/" + rootTag(root)
	fb := Layout{Name: name, Transport: t, Root: root, Parents: []string{base, tagged}, Fallback: true}
	fb.Dir = tagged + "/bu-" + name + ".d"
	fb.Sock = fb.Dir + "/sock"
	fb.Lock = fb.Dir + "/lock"
	fb.Port = fb.Dir + "/port"
	if len(fb.Sock) <= limit {
		return fb, nil
	}
	return l, fmt.Errorf("ipc: socket path %s: %w: %d bytes, limit %d (fallback %s is %d bytes)",
		l.Sock, ErrPathTooLong, len(l.Sock), limit, fb.Sock, len(fb.Sock))
}

func joinPath(goos, dir, elem string) string {
	if goos == "windows" {
		return dir + `\` + elem
	}
	return dir + "/" + elem
}
