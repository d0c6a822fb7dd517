//go:build linux || darwin

package ipc

import (
	"context"
	"testing"

	"golang.org/x/sys/unix"
)

// Point 10 on POSIX: under umask 0 the port file is 0600 in a 0700 dir.
func TestPortFileModes(t *testing.T) {
	setUmask(t, 0)
	root := shortRoot(t, 0o1777)
	ln, err := Listen(context.Background(), "modes", WithRoot(root), WithTransport(TransportTCP))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lay := ln.Layout()
	if st := lstat(t, lay.Dir); st.Mode&07777 != 0o700 {
		t.Errorf("dir %04o, want 0700", st.Mode&07777)
	}
	if st := lstat(t, lay.Port); st.Mode&unix.S_IFMT != unix.S_IFREG || st.Mode&07777 != 0o600 {
		t.Errorf("port file %s %04o, want a 0600 regular file", describeMode(uint32(st.Mode)), st.Mode&07777)
	}
	if _, err := Listen(context.Background(), "modes", WithRoot(root), WithTransport(TransportUnix)); err == nil {
		t.Error("a unix Listen on a name held by a tcp Listen succeeded; the lock is shared")
	}
}
