package probe

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/org/bh-ipc-check/internal/testenv"
)

// authenticateDaemon names an impostor: a socket or peer of another uid, or
// a peer the suite did not start; the daemon itself passes.
func TestAuthenticateDaemon(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix-socket authentication; Windows targets speak TCP")
	}
	dir := testenv.ShortDir(t, "auth")
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	me, self := os.Geteuid(), os.Getpid()
	cases := []struct {
		name     string
		id       *DaemonIdentity
		impostor bool
	}{
		{"the daemon itself", &DaemonIdentity{UID: me, PIDs: []int{self}}, false},
		{"an ancestor started by the suite", &DaemonIdentity{UID: me, PIDs: []int{os.Getppid()}}, false},
		{"no identity: nothing checked", nil, false},
		{"another uid", &DaemonIdentity{UID: me + 4242, PIDs: []int{self}}, true},
		{"a process the suite did not start", &DaemonIdentity{UID: me, PIDs: []int{1 << 30}}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.Dial("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			err = authenticateDaemon(conn, sock, c.id)
			var ie *ImpostorError
			if got := errors.As(err, &ie); got != c.impostor {
				t.Errorf("impostor = %v (%v), want %v", got, err, c.impostor)
			}
			if !c.impostor && err != nil {
				t.Errorf("unexpected error: %v", err)
			}
		})
	}
	// A symlink to the socket in place of the socket is not the daemon's
	// socket, even when it leads to one.
	link := filepath.Join(dir, "link")
	if err := os.Symlink(sock, link); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("unix", link)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var ie *ImpostorError
	if err := authenticateDaemon(conn, link, &DaemonIdentity{UID: me}); !errors.As(err, &ie) {
		t.Errorf("a symlink at the socket path: %v, want an impostor error", err)
	}
}
