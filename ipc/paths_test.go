package ipc

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Point 9: the budget logic with the macOS limit under a /var/folders root:
// every valid name length gives a usable path or the typed error, never a
// truncated path.
func TestSunPathBudgetDarwin(t *testing.T) {
	// A real macOS $TMPDIR: the per-user part is 30 characters, and the
	// whole is 49 bytes with its trailing slash (48 once made absolute).
	root := strings.TrimSuffix(darwinTMPDIR, "/")
	if len(darwinTMPDIR) != 49 {
		t.Fatalf("darwinTMPDIR is %d bytes, want 49", len(darwinTMPDIR))
	}
	limit := SunPathLimit("darwin")
	if limit != 103 {
		t.Fatalf("darwin limit %d", limit)
	}
	for _, uid := range []int{501, 4294967294} {
		primary, fallback, tooLong := 0, 0, 0
		for n := 1; n <= MaxNameLen; n++ {
			name := strings.Repeat("n", n)
			lay, err := layoutFor("darwin", root, name, TransportUnix, uid)
			if err != nil {
				if !errors.Is(err, ErrPathTooLong) {
					t.Fatalf("uid %d name len %d: %v", uid, n, err)
				}
				if !strings.Contains(err.Error(), "limit 103") {
					t.Errorf("error does not name the limit: %v", err)
				}
				tooLong++
				continue
			}
			if len(lay.Sock) > limit {
				t.Fatalf("uid %d name len %d: %s is %d bytes > %d", uid, n, lay.Sock, len(lay.Sock), limit)
			}
			if !strings.HasSuffix(lay.Sock, "/bu-"+name+".d/sock") || lay.Dir+"/sock" != lay.Sock {
				t.Fatalf("uid %d: path %s is not the whole name", uid, lay.Sock)
			}
			if lay.Fallback {
				fallback++
				if !strings.HasPrefix(lay.Sock, "/tmp/bh-") || len(lay.Parents) != 2 {
					t.Fatalf("fallback layout %+v", lay)
				}
			} else {
				primary++
				if !strings.HasPrefix(lay.Sock, root+"/") {
					t.Fatalf("primary layout %+v", lay)
				}
			}
		}
		t.Logf("uid %d: %d names fit under %s, %d use the fallback, %d are too long", uid, primary, root, fallback, tooLong)
		// 48 + len("/bu-") + n + len(".d/sock") <= 103  ⇔  n <= 44.
		if primary != 44 {
			t.Errorf("uid %d: %d names fit the primary path, want 44", uid, primary)
		}
		if uid == 501 && tooLong != 0 {
			t.Errorf("uid 501: %d names too long, want 0 (the fallback fits all)", tooLong)
		}
		if uid == 4294967294 && tooLong == 0 {
			t.Errorf("uid %d: expected the longest names not to fit even the fallback", uid)
		}
	}
}

// darwinTMPDIR is a real macOS $TMPDIR (confstr _CS_DARWIN_USER_TEMP_DIR):
// /var/folders/<2>/<30>/T/.
const darwinTMPDIR = "/var/folders/pd/l3jkqy0s6_59p4vhlbx3__dr0000gp/T/"

func TestLayoutPerOS(t *testing.T) {
	l, err := layoutFor("linux", "/run/user/1000", "d", TransportUnix, 1000)
	if err != nil || l.Sock != "/run/user/1000/bu-d.d/sock" || l.Lock != "/run/user/1000/bu-d.d/lock" || l.Fallback {
		t.Errorf("linux: %+v %v", l, err)
	}
	l, err = layoutFor("windows", `C:\Users\u\AppData\Local\Temp`, "d", TransportTCP, -1)
	if err != nil || l.Port != `C:\Users\u\AppData\Local\Temp\bu-d.port` || l.Sock != "" {
		t.Errorf("windows: %+v %v", l, err)
	}
	if _, err := layoutFor("windows", `C:\t`, "d", TransportUnix, -1); !errors.Is(err, ErrUnsupported) {
		t.Errorf("windows unix: %v, want ErrUnsupported", err)
	}
	// Different long roots never share a fallback.
	a, _ := layoutFor("linux", "/"+strings.Repeat("a", 110), "d", TransportUnix, 0)
	b, _ := layoutFor("linux", "/"+strings.Repeat("b", 110), "d", TransportUnix, 0)
	if !a.Fallback || !b.Fallback || a.Sock == b.Sock {
		t.Errorf("long roots share a fallback: %s %s", a.Sock, b.Sock)
	}
}

func TestDefaultRoot(t *testing.T) {
	t.Setenv("BH_RUNTIME_DIR", "/some/where")
	if got := DefaultRoot(); got != "/some/where" {
		t.Errorf("DefaultRoot with BH_RUNTIME_DIR = %s", got)
	}
	t.Setenv("BH_RUNTIME_DIR", "")
	dir := shortRoot(t, 0o755) // not private: must not be used
	t.Setenv("XDG_RUNTIME_DIR", dir)
	if got := DefaultRoot(); got == dir {
		t.Errorf("DefaultRoot used a 0755 XDG_RUNTIME_DIR")
	}
	priv := shortRoot(t, 0o700)
	t.Setenv("XDG_RUNTIME_DIR", priv)
	// The expectation does not depend on the predicate under test: a
	// private directory of ours is used on POSIX; Windows has no
	// XDG_RUNTIME_DIR of its own and always uses the temp dir.
	want := priv
	if runtime.GOOS == "windows" {
		want = os.TempDir()
	}
	if got := DefaultRoot(); got != want {
		t.Errorf("DefaultRoot = %s, want %s (XDG_RUNTIME_DIR %s, mode 0700, ours)", got, want, priv)
	}
}

// DefaultRootFor reads the environment it is given, as DefaultRoot reads
// the process's: $BH_RUNTIME_DIR, a private $XDG_RUNTIME_DIR of the uid
// (absolute), else $TMPDIR, else /tmp; the last entry of a key wins.
func TestDefaultRootFor(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no private $XDG_RUNTIME_DIR; its temp dir is os.TempDir()")
	}
	priv := shortRoot(t, 0o700)
	loose := shortRoot(t, 0o755)
	uid := os.Geteuid()
	rel, err := filepath.Rel(mustGetwd(t), priv)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		uid     int
		environ []string
		want    string
	}{
		{"BH_RUNTIME_DIR first", uid, []string{"BH_RUNTIME_DIR=/some/where", "XDG_RUNTIME_DIR=" + priv}, "/some/where"},
		{"private XDG_RUNTIME_DIR", uid, []string{"XDG_RUNTIME_DIR=" + priv, "TMPDIR=/shared"}, priv},
		{"the last entry wins", uid, []string{"XDG_RUNTIME_DIR=" + loose, "XDG_RUNTIME_DIR=" + priv}, priv},
		{"loose XDG_RUNTIME_DIR", uid, []string{"XDG_RUNTIME_DIR=" + loose, "TMPDIR=/shared"}, "/shared"},
		{"another uid's XDG_RUNTIME_DIR", uid + 1, []string{"XDG_RUNTIME_DIR=" + priv, "TMPDIR=/shared"}, "/shared"},
		{"relative XDG_RUNTIME_DIR", uid, []string{"XDG_RUNTIME_DIR=" + rel, "TMPDIR=/shared"}, "/shared"},
		{"no TMPDIR", uid, []string{"PATH=/bin"}, "/tmp"},
	} {
		if got := DefaultRootFor(c.uid, c.environ); got != c.want {
			t.Errorf("%s: DefaultRootFor(%d, %q) = %s, want %s", c.name, c.uid, c.environ, got, c.want)
		}
	}
	// ResolveFor lays the endpoint out under that root, and WithRoot
	// still wins.
	lay, err := ResolveFor(uid, []string{"XDG_RUNTIME_DIR=" + priv}, "x")
	if err != nil || lay.Dir != priv+"/bu-x.d" {
		t.Errorf("ResolveFor = %+v, %v; want the endpoint under %s", lay, err, priv)
	}
	lay, err = ResolveFor(uid, []string{"XDG_RUNTIME_DIR=" + priv}, "x", WithRoot(loose))
	if err != nil || lay.Dir != loose+"/bu-x.d" {
		t.Errorf("ResolveFor with WithRoot = %+v, %v; want the endpoint under %s", lay, err, loose)
	}
}

func mustGetwd(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}
