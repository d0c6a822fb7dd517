package ipc

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
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
	// because Root/bu-NAME.d/sock does not fit sun_path. Resolve gives the
	// fallback under /tmp/bh-<uid>; when another uid holds that directory,
	// Listen and Dial use $XDG_RUNTIME_DIR/bh/<tag> instead (when that is
	// a private directory of ours), and Listener.Layout and Conn.Layout
	// report the one used.
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
// root is given: $BH_RUNTIME_DIR, else $XDG_RUNTIME_DIR when it is a
// directory owned by this uid with no group or other access, else
// os.TempDir().
func DefaultRoot() string {
	if d := os.Getenv("BH_RUNTIME_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" && isOwnPrivateDir(d) {
		return d
	}
	return os.TempDir()
}

// Resolve computes the Layout for name under the options' root and
// transport, applying the sun_path budget for the unix transport. It
// validates the name first and touches nothing.
func Resolve(name string, opts ...Option) (Layout, error) {
	o := buildOptions(opts)
	return resolve(name, o)
}

// ResolveAs is Resolve for a process whose effective uid is uid: the short
// sun_path fallback lives under a directory named after the uid, so a
// supervisor (or a test suite) running as another uid needs this to find a
// daemon's socket.
func ResolveAs(uid int, name string, opts ...Option) (Layout, error) {
	o := buildOptions(opts)
	return resolveUID(name, o, uid)
}

func resolve(name string, o *options) (Layout, error) {
	return resolveUID(name, o, os.Geteuid())
}

func resolveUID(name string, o *options, uid int) (Layout, error) {
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
	return layoutFor(runtime.GOOS, abs, name, o.transport, uid)
}

// fallbackTmp is the shared directory holding the fallback bases. Only
// tests change it (to a sticky directory of their own).
var fallbackTmp = "/tmp"

// fallbackBase is the short directory used when a socket path does not fit
// sun_path: /tmp/bh-<uid>. Listen, Dial and List verify it like any other
// directory of the chain, so another uid can make it unusable (then the
// alternate base under $XDG_RUNTIME_DIR is used, see altFallbackLayout),
// never redirect an endpoint through it.
func fallbackBase(uid int) string {
	return fallbackTmp + "/bh-" + strconv.Itoa(uid)
}

// altFallbackName is the directory made under $XDG_RUNTIME_DIR for the
// alternate fallback base.
const altFallbackName = "bh"

// altFallbackLayout moves a fallback layout from /tmp/bh-<uid> to
// <xdg>/bh/<tag of root>, for when /tmp/bh-<uid> is held by another uid.
// xdg is $XDG_RUNTIME_DIR, already checked to be a private directory of
// ours (the caller's job). ok is false when lay is not a fallback layout,
// xdg is empty, or the socket would not fit sun_path there either. Pure:
// Listen, Dial and List derive the same layout from the same inputs.
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
