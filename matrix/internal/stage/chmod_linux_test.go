package stage

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/org/bh-ipc-check/internal/testenv"
)

// TestPlantChmodNotThroughLink: uid 31337 puts a link to a file of root's
// inside the run directory where the daemon's socket was (B2 of the red
// team: auth.peercred's chmod 0666 made the suite's own binary writable).
// The chmod through the run directory's handle must not change the file,
// and still changes a real socket.
func TestPlantChmodNotThroughLink(t *testing.T) {
	testenv.NeedRoot(t, "the suite acts as root and the attacker as uid 31337", "go test ./matrix -run TestPlantChmodNotThroughLink")
	base, err := os.MkdirTemp("", "bh-chmod-")
	testenv.OK(t, err)
	t.Cleanup(func() { os.RemoveAll(base) })
	testenv.OK(t, os.Chmod(base, 0o755))
	victim := filepath.Join(base, "bin")
	testenv.OK(t, os.WriteFile(victim, []byte("#!/bin/sh\n"), 0o700))
	d := filepath.Join(base, "d")
	testenv.OK(t, os.Mkdir(d, 0o700))
	testenv.OK(t, os.Chmod(d, 0o777))
	ln := exec.Command("ln", "-s", "../bin", filepath.Join(d, "sock"))
	ln.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 31337, Gid: 31337}}
	if out, err := ln.CombinedOutput(); err != nil {
		t.Fatalf("uid 31337: ln -s: %v: %s", err, out)
	}
	r, err := os.OpenRoot(base)
	testenv.OK(t, err)
	defer r.Close()
	op := PlantOp{Op: "chmod", Path: filepath.Join(d, "sock"), Mode: 0o666}
	if err := op.DoIn(r, "d/sock"); err == nil {
		t.Errorf("chmod through uid 31337's link: no error")
	}
	if fi, _ := os.Stat(victim); fi.Mode().Perm() != 0o700 {
		t.Errorf("%s is now %v: the chmod followed uid 31337's link", victim, fi.Mode())
	}
	// A real socket of ours is changed.
	testenv.OK(t, os.Remove(filepath.Join(d, "sock")))
	l, err := net.Listen("unix", filepath.Join(d, "sock"))
	testenv.OK(t, err)
	defer l.Close()
	testenv.OK(t, op.DoIn(r, "d/sock"))
	if fi, _ := os.Lstat(filepath.Join(d, "sock")); fi.Mode().Perm() != 0o666 {
		t.Errorf("socket mode %v after chmod 0666", fi.Mode())
	}
	// mkdir makes the directory with the mode, sticky bit included.
	mk := PlantOp{Op: "mkdir", Mode: 0o1777}
	testenv.OK(t, mk.DoIn(r, "d/sub"))
	if fi, _ := os.Lstat(filepath.Join(d, "sub")); fi.Mode().Perm() != 0o777 || fi.Mode()&os.ModeSticky == 0 {
		t.Errorf("mkdir 01777: %v", fi.Mode())
	}
}
