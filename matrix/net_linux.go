package matrix

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

// listeningOn returns the local addresses of the TCP sockets listening on
// port, from /proc/net/tcp and /proc/net/tcp6.
func listeningOn(port int) ([]string, error) {
	var out []string
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		fh, err := os.Open(f)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && f == "/proc/net/tcp6" {
				continue
			}
			return nil, err
		}
		sc := bufio.NewScanner(fh)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 4 || fields[3] != "0A" { // 0A: LISTEN
				continue
			}
			hexIP, hexPort, ok := strings.Cut(fields[1], ":")
			if !ok {
				continue
			}
			p, _ := strconv.ParseUint(hexPort, 16, 16)
			if int(p) != port {
				continue
			}
			ip, err := procIP(hexIP)
			if err != nil {
				fh.Close()
				return nil, err
			}
			out = append(out, ip.String())
		}
		fh.Close()
	}
	return out, nil
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

// reachableSockPath returns a path connect(2) accepts for sock: sock
// itself when it fits sun_path, else /proc/self/fd/<dirfd>/<name> through
// an open handle on its directory (closed by done).
func reachableSockPath(sock string) (path string, done func(), err error) {
	if len(sock) <= ipc.SunPathLimit("linux") {
		return sock, func() {}, nil
	}
	fd, err := unix.Open(filepath.Dir(sock), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, fmt.Errorf("open %s: %w", filepath.Dir(sock), err)
	}
	return "/proc/self/fd/" + strconv.Itoa(fd) + "/" + filepath.Base(sock), func() { unix.Close(fd) }, nil
}

// listeningPaths returns the paths of the Unix sockets process pid
// listens on, from /proc/<pid>/fd and /proc/net/unix. A name bound
// through /proc/self/fd/<n>/ is resolved through that process's fd n.
func listeningPaths(pid int) ([]string, error) {
	links, err := procFDLinks(pid)
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
