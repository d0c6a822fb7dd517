//go:build unix

package ipc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Squatting as denial of service (Zim, CVE-2020-10870): another uid makes
// bu-x.d first in a shared root. Listen there refuses it (serving inside
// would give that uid the socket) and says the endpoint has nowhere else
// to go; with no root given and a private $XDG_RUNTIME_DIR, the endpoint
// lives where that uid cannot create anything, and Dial meets it there.
func TestSquattedSharedRootAndPerUserBase(t *testing.T) {
	requireRoot(t, fmt.Sprintf("squat as uid %d", attackerUID))
	exe := otherUIDExe(t)
	shared := shortRoot(t, 0o1777)
	x, err := Resolve("x", WithRoot(shared))
	must(t, err)
	attack(t, exe, step{Op: "mkdir", Path: x.Dir, Mode: 0o777})

	ln, err := Listen(context.Background(), "x", WithRoot(shared))
	if err == nil {
		ln.Close()
		t.Fatalf("Listen served in %s, made by uid %d", x.Dir, attackerUID)
	}
	wantNotPrivate(t, "Listen in a squatted shared root", err, x.Dir)
	for _, part := range []string{"nowhere else to go", "XDG_RUNTIME_DIR", "per-user base"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("Listen error %q does not say %q", err, part)
		}
	}
	_, err = Dial(context.Background(), "x", WithRoot(shared))
	if !errors.Is(err, ErrNotPrivate) || !strings.Contains(err.Error(), "nowhere else to go") {
		t.Errorf("Dial in the squatted shared root: %v, want ErrNotPrivate saying why", err)
	}

	// The per-user base: no root given, $TMPDIR the shared root (as /tmp
	// is), $XDG_RUNTIME_DIR a private directory of ours (as /run/user/0).
	priv := shortRoot(t, 0o700)
	t.Setenv("BH_RUNTIME_DIR", "")
	t.Setenv("TMPDIR", shared)
	t.Setenv("XDG_RUNTIME_DIR", priv)
	mine, err := Resolve("x")
	must(t, err)
	if mine.Dir != filepath.Join(priv, "bu-x.d") {
		t.Fatalf("Resolve with a private XDG_RUNTIME_DIR: %s, want it under %s", mine.Dir, priv)
	}
	// The attacker's attempt at the same name there fails in the kernel.
	_, line := startHelper(t, exe, "attack", fmt.Sprintf(`[{"op":"mkdir","path":%q,"mode":511}]`, mine.Dir), asUID(attackerUID))
	if !strings.Contains(line, "permission denied") {
		t.Errorf("uid %d's mkdir %s in the 0700 base: %q, want permission denied", attackerUID, mine.Dir, line)
	}
	ln, err = Listen(context.Background(), "x")
	must(t, err)
	defer ln.Close()
	pingServe(t, ln)
	if got := ln.Layout().Sock; got != mine.Sock {
		t.Errorf("Listen serves at %s, want %s", got, mine.Sock)
	}
	if pid := mustPing(t, "x"); pid != os.Getpid() {
		t.Errorf("Dial x with no root reached pid %d, want ours (%d)", pid, os.Getpid())
	}
	var st unix.Stat_t
	if err := unix.Lstat(x.Dir, &st); err != nil || st.Uid != attackerUID {
		t.Errorf("the squatted %s: %v (uid %d); want it left as uid %d made it", x.Dir, err, st.Uid, attackerUID)
	}
}
