package proc

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/org/bh-ipc-check/ipc"
)

// ListeningOn returns the local addresses of the TCP sockets listening on
// port, from /proc/net/tcp and /proc/net/tcp6: those of uid (the daemon's)
// and, apart, those of other uids ("addr (uid N)"), which are not the
// daemon's doing (another local user may listen on [::1] at the daemon's
// port).
func ListeningOn(port, uid int) (mine, others []string, err error) {
	ents, err := TCPEntries()
	if err != nil {
		return nil, nil, err
	}
	for _, e := range ents {
		if e.State != "0A" || e.Lport != port { // 0A: LISTEN
			continue
		}
		if e.Uid == uid {
			mine = append(mine, e.Local.String())
		} else {
			others = append(others, fmt.Sprintf("%s (uid %d)", e.Local, e.Uid))
		}
	}
	return mine, others, nil
}

// procIP decodes /proc/net/tcp's address: 32-bit words in host (little
// endian on the platforms that matter here) order.
func procIP(h string) (net.IP, error) {
	b := make([]byte, len(h)/2)
	for i := range b {
		v, err := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
		if err != nil {
			return nil, fmt.Errorf("bad address %q", h)
		}
		b[i] = byte(v)
	}
	for i := 0; i+4 <= len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	return net.IP(b), nil
}

// ReachableSockPath returns a path connect(2) accepts for sock: sock
// itself when it fits sun_path, else /proc/self/fd/<dirfd>/<name> through
// an open handle on its directory (closed by done).
func ReachableSockPath(sock string) (path string, done func(), err error) {
	if len(sock) <= ipc.SunPathLimit("linux") {
		return sock, func() {}, nil
	}
	fd, err := unix.Open(filepath.Dir(sock), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, fmt.Errorf("open %s: %w", filepath.Dir(sock), err)
	}
	return "/proc/self/fd/" + strconv.Itoa(fd) + "/" + filepath.Base(sock), func() { unix.Close(fd) }, nil
}

// ListeningPaths returns the paths of the Unix sockets process pid
// listens on, from /proc/<pid>/fd and /proc/net/unix. A name bound
// through /proc/self/fd/<n>/ is resolved through that process's fd n.
func ListeningPaths(pid int) ([]string, error) {
	links, err := ProcFDLinks(pid)
	if len(links) == 0 && err != nil {
		return nil, err
	}
	inodes := map[string]bool{}
	for _, l := range links {
		if strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	f, err := os.Open("/proc/net/unix")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Scan() // header: Num RefCount Protocol Flags Type St Inode Path
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 8 || !inodes[fs[6]] {
			continue
		}
		flags, _ := strconv.ParseUint(fs[3], 16, 32)
		if flags&0x10000 == 0 { // __SO_ACCEPTCON: listening
			continue
		}
		p := strings.Join(fs[7:], " ")
		if rest, ok := strings.CutPrefix(p, "/proc/self/fd/"); ok {
			if n, tail, ok := strings.Cut(rest, "/"); ok {
				if dir, ok := links[n]; ok {
					p = dir + "/" + tail
				}
			}
		}
		out = append(out, p)
	}
	return out, sc.Err()
}

// TCPEntries reads the TCP tables of this process's network namespace.
func TCPEntries() ([]TCPEntry, error) {
	var out []TCPEntry
	for i, f := range procNetTCP {
		fh, err := os.Open(f)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && i > 0 {
				continue // no IPv6
			}
			return nil, err
		}
		sc := bufio.NewScanner(fh)
		sc.Scan() // header
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) < 10 {
				continue
			}
			var e TCPEntry
			var ok bool
			if e.Local, e.Lport, ok = procAddr(fs[1]); !ok {
				continue
			}
			if e.Remote, e.Rport, ok = procAddr(fs[2]); !ok {
				continue
			}
			e.State, e.Inode = fs[3], fs[9]
			e.Uid, _ = strconv.Atoi(fs[7])
			out = append(out, e)
		}
		err = sc.Err()
		fh.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
	}
	return out, nil
}

// TCPEntry is one line of /proc/net/tcp or /proc/net/tcp6.
type TCPEntry struct {
	Local, Remote net.IP
	Lport, Rport  int
	State         string // hex: 0A is LISTEN
	Uid           int
	Inode         string
}

// procNetTCP is the path of the tables read; a variable for tests.
var procNetTCP = []string{"/proc/net/tcp", "/proc/net/tcp6"}

func procAddr(s string) (net.IP, int, bool) {
	h, p, ok := strings.Cut(s, ":")
	if !ok {
		return nil, 0, false
	}
	ip, err := procIP(h)
	port, perr := strconv.ParseUint(p, 16, 16)
	return ip, int(port), err == nil && perr == nil
}
