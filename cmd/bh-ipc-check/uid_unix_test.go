//go:build unix

package main

import (
	"os"
	"syscall"
	"testing"

	"github.com/org/bh-ipc-check/internal/fsx"
)

// asUID runs a child as uid (and the gid of the same number); needs root.
func asUID(uid int) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
}

// tmpdirFor makes a TMPDIR of uid's own (0700, owned by uid), as every user
// has one on a hosted runner (macOS: /var/folders/.../T/): root's TMPDIR
// need not be writable by uid (the macOS job's is the runner user's, 0755).
// It is made in /tmp, short like a macOS user's own (a user's TMPDIR is
// not inside root's: nested in a 49-byte one, the daemon's socket path
// would overflow sun_path and fall back); the cleanup removes it without
// following what uid may have put there (fsx.RemoveTree).
func tmpdirFor(t *testing.T, uid int) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "bhu")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := fsx.RemoveTree(dir); err != nil {
			t.Errorf("removing %s: %v", dir, err)
		}
	})
	// Race point: none; dir is fresh, root's, 0700 until handed over.
	if err := os.Chown(dir, uid, uid); err != nil {
		t.Fatal(err)
	}
	return dir
}
