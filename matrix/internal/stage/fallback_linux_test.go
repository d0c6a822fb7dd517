package stage

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/org/bh-ipc-check/internal/testenv"
	"github.com/org/bh-ipc-check/matrix/internal/world"
)

// fallbackPlantUID is the daemon's uid of TestFallbackPlantNotThroughLink:
// /tmp/bh-<uid> is this test's alone.
const fallbackPlantUID = 4244

// TestFallbackPlantNotThroughLink: uid 31337 plants /tmp/bh-<uid> as a
// link to a directory of root's (B1 of the red team); the suite, as root,
// neither accepts it as the fallback's base nor creates anything through
// it, and names the link.
func TestFallbackPlantNotThroughLink(t *testing.T) {
	testenv.NeedRoot(t, "the suite acts as root and the attacker as uid 31337", "go test ./matrix -run TestFallbackPlantNotThroughLink")
	victim, err := os.MkdirTemp("", "bh-victim-")
	testenv.OK(t, err)
	t.Cleanup(func() { os.RemoveAll(victim) })
	testenv.OK(t, os.Chmod(victim, 0o755))
	base := filepath.Join("/tmp", "bh-4244")
	os.Remove(base)
	t.Cleanup(func() { os.Remove(base) })
	ln := exec.Command("ln", "-s", victim, base)
	ln.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 31337, Gid: 31337}}
	if out, err := ln.CombinedOutput(); err != nil {
		t.Fatalf("uid 31337: ln -s %s %s: %v: %s", victim, base, err, out)
	}
	uid := fallbackPlantUID
	tag := filepath.Join(base, "tag")
	if _, err := world.CheckTmpDir(base, uid); err == nil || !strings.Contains(err.Error(), "symlink of uid 31337") {
		t.Errorf("checkTmpDir %s: %v; want an error naming the link of uid 31337", base, err)
	}
	for _, op := range []PlantOp{
		{Op: "mkdir", Path: tag, Mode: 0o777},
		{Op: "write", Path: tag, Mode: 0o644, Data: "x"},
		{Op: "symlink", Path: tag, Target: "/etc/shadow"},
	} {
		op.Outside = &uid
		if err := op.Do(); err == nil {
			t.Errorf("%s %s through uid 31337's link: no error", op.Op, op.Path)
		}
	}
	if ents, _ := os.ReadDir(victim); len(ents) > 0 {
		t.Errorf("root created %v in %s through uid 31337's link %s", ents, victim, base)
	}
	// A base of the daemon's uid, 0700: the plant is made there.
	testenv.OK(t, os.Remove(base))
	testenv.OK(t, os.Mkdir(base, 0o700))
	testenv.OK(t, os.Chown(base, uid, uid))
	op := PlantOp{Op: "mkdir", Path: tag, Mode: 0o777, Outside: &uid}
	if err := op.Do(); err != nil {
		t.Fatalf("mkdir %s in a base of uid %d: %v", tag, uid, err)
	}
	if fi, err := os.Lstat(tag); err != nil || fi.Mode().Perm() != 0o777 || !fi.IsDir() {
		t.Errorf("%s: %v %v; want a 0777 directory", tag, fi, err)
	}
	os.Remove(tag)
	// A base of another uid, or writable by others: refused.
	testenv.OK(t, os.Chown(base, 31337, 31337))
	if _, err := world.CheckTmpDir(tag, uid); err == nil || !strings.Contains(err.Error(), "held by uid 31337") {
		t.Errorf("base of uid 31337: %v; want it named", err)
	}
	testenv.OK(t, os.Chown(base, uid, uid))
	testenv.OK(t, os.Chmod(base, 0o777))
	if _, err := world.CheckTmpDir(tag, uid); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Errorf("base 0777: %v; want refused", err)
	}
}
