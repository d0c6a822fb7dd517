//go:build unix

package probe

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/org/bh-ipc-check/ipc"

	"github.com/org/bh-ipc-check/matrix/internal/proc"
	"github.com/org/bh-ipc-check/matrix/internal/target"
	"github.com/org/bh-ipc-check/matrix/internal/world"
)

// authenticateDaemon checks, on a connection the suite just made to the
// socket at sock to judge a daemon, that the daemon answers: the socket
// file is owned by the daemon's uid (lstat through a handle on its
// directory, a final link not followed; an abstract name has no file) and
// the kernel's peer credentials name the daemon's uid and, when the suite
// started daemons, one of their pids or a descendant's. Anything else is an *ImpostorError with the
// evidence. The caller closes c on error.
//
// Race point: the socket's directory may be writable by another uid (a
// scenario plants one), so the file checked may no longer be the one
// connected to. The peer credentials belong to the connection itself and
// cannot be swapped; the owner check only adds evidence (an attacker's
// socket left in place is named as such).
func authenticateDaemon(c net.Conn, sock string, id *DaemonIdentity) error {
	if id == nil {
		return nil
	}
	if target.IsAbstract(sock) {
		// An abstract name has no file to own: any process of the network
		// namespace may have bound it first. The peer credentials are all
		// there is, and they suffice.
		return peerIsDaemon(c, sock, id)
	}
	dir := filepath.Dir(sock)
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("authenticate %s: open %s: %w", sock, dir, err)
	}
	defer unix.Close(dfd)
	var st unix.Stat_t
	switch err := unix.Fstatat(dfd, filepath.Base(sock), &st, unix.AT_SYMLINK_NOFOLLOW); {
	case errors.Is(err, unix.ENOENT):
		// Gone since the connect: a daemon that exited (a crash under load)
		// removes its socket. The peer credentials below still say who
		// accepted the connection; an impostor that removed its own socket
		// fails them.
	case err != nil:
		return &ImpostorError{fmt.Sprintf("connected to %s, but it is unreadable (%v)", sock, err)}
	case st.Mode&unix.S_IFMT != unix.S_IFSOCK:
		return &ImpostorError{fmt.Sprintf("connected to %s, which is now a %s, not a socket", sock, world.KindOf(uint32(st.Mode)))}
	case int(st.Uid) != id.UID:
		return &ImpostorError{fmt.Sprintf("socket %s is owned by uid %d, not the daemon's uid %d", sock, st.Uid, id.UID)}
	}
	return peerIsDaemon(c, sock, id)
}

// peerIsDaemon checks the kernel's peer credentials on c, a connection to
// sock: the daemon's uid and, when the suite started daemons, one of
// their pids or a descendant's (authenticateDaemon).
func peerIsDaemon(c net.Conn, sock string, id *DaemonIdentity) error {
	uid, pid, err := ipc.PeerCred(c)
	if err != nil {
		return fmt.Errorf("authenticate %s: %w", sock, err)
	}
	if uid != id.UID {
		return &ImpostorError{fmt.Sprintf("the process answering at %s is uid %d (pid %d), not the daemon's uid %d", sock, uid, pid, id.UID)}
	}
	// pid 0: the kernel did not say (older macOS); the uid check stands.
	if len(id.PIDs) > 0 && pid > 0 && !proc.DescendsFrom(pid, id.PIDs) && (id.Marker == "" || !proc.CarriesMarker(pid, id.Marker, true)) &&
		(id.Reaper <= 0 || !proc.DescendsFrom(pid, []int{id.Reaper})) {
		return &ImpostorError{fmt.Sprintf("the process answering at %s is pid %d (uid %d), neither a daemon the suite started (pids %v) nor a descendant of one", sock, pid, uid, id.PIDs)}
	}
	return nil
}
