package proc

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ClientsOfTCP are the processes holding the client end of an
// established connection to 127.0.0.1:port (/proc/net/tcp), accepted or
// still in the listener's backlog.
func ClientsOfTCP(port int) ([]Holder, error) {
	ents, err := TCPEntries()
	if err != nil {
		return nil, err
	}
	inodes := map[string]bool{}
	for _, e := range ents {
		// 01: ESTABLISHED. The client's end has the daemon's port as
		// its remote one; the daemon's accepted ends have it as local.
		if e.State == "01" && e.Rport == port && e.Remote.IsLoopback() && e.Inode != "0" {
			inodes["socket:["+e.Inode+"]"] = true
		}
	}
	return holdersOf(inodes), nil
}

// ClientsOfUnix are the processes holding the client end of a connection
// to the Unix socket sock (a path, or "@name" for an abstract one),
// accepted or still in the listener's backlog. /proc/net/unix does not
// say who is connected to whom; the kernel's sock_diag does
// (UNIX_DIAG_PEER, and UNIX_DIAG_ICONS for the backlog).
func ClientsOfUnix(sock string) ([]Holder, error) {
	var st unix.Stat_t
	abstract := len(sock) > 0 && sock[0] == '@'
	if !abstract {
		if err := unix.Stat(sock, &st); err != nil {
			return nil, err
		}
	}
	socks, err := unixDiag()
	if err != nil {
		return nil, err
	}
	// The daemon's ends: every socket at sock's address (the listener,
	// the connections it accepted, and those waiting in its backlog,
	// which the kernel gives the listener's address at connect).
	server := map[uint32]bool{}
	for _, s := range socks {
		if abstract && s.name == "\x00"+sock[1:] || !abstract && s.vfsIno == uint32(st.Ino) && s.vfsDev == uint32(unix.Major(st.Dev))<<20|uint32(unix.Minor(st.Dev)) {
			server[s.ino] = true
			for _, ic := range s.icons {
				server[ic] = true
			}
		}
	}
	inodes := map[string]bool{}
	for _, s := range socks {
		if s.peer != 0 && server[s.peer] && !server[s.ino] {
			inodes["socket:["+strconv.FormatUint(uint64(s.ino), 10)+"]"] = true
		}
	}
	return holdersOf(inodes), nil
}

// holdersOf are the processes with an fd on one of links
// ("socket:[N]"), read as each process's uid (ProcFDLinks); a process
// whose fds cannot be read is not listed.
func holdersOf(links map[string]bool) []Holder {
	if len(links) == 0 {
		return nil
	}
	var out []Holder
	for pid, pi := range AllProcs() {
		fds, _ := ProcFDLinks(pid)
		seen := map[string]bool{}
		for _, l := range fds {
			if links[l] {
				seen[l] = true
			}
		}
		if len(seen) > 0 {
			uid, _, _ := procIDs(pid)
			out = append(out, Holder{Pid: pid, UID: uid, Comm: pi.Comm, Conns: len(seen)})
		}
	}
	slices.SortFunc(out, func(a, b Holder) int { return a.Pid - b.Pid })
	return out
}

// unixSock is what sock_diag says of one Unix socket.
type unixSock struct {
	ino, peer      uint32
	name           string
	vfsDev, vfsIno uint32
	icons          []uint32
}

// sock_diag's Unix attributes (linux/unix_diag.h).
const (
	udiagShowName  = 0x1
	udiagShowVFS   = 0x2
	udiagShowPeer  = 0x4
	udiagShowIcons = 0x8
	unixDiagName   = 0
	unixDiagVFS    = 1
	unixDiagPeer   = 2
	unixDiagIcons  = 3
)

// unixDiag dumps every Unix socket of this network namespace.
func unixDiag() ([]unixSock, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("sock_diag: %w", err)
	}
	defer unix.Close(fd)
	// nlmsghdr, then unix_diag_req: family, protocol, pad, states, ino,
	// show, cookie[2].
	req := make([]byte, unix.NLMSG_HDRLEN+24)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(req[8:], 1)
	b := req[unix.NLMSG_HDRLEN:]
	b[0] = unix.AF_UNIX
	ne.PutUint32(b[4:], 0xffffffff) // every state
	ne.PutUint32(b[12:], udiagShowName|udiagShowVFS|udiagShowPeer|udiagShowIcons)
	ne.PutUint32(b[16:], 0xffffffff) // no cookie
	ne.PutUint32(b[20:], 0xffffffff)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("sock_diag: %w", err)
	}
	var out []unixSock
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return nil, fmt.Errorf("sock_diag: %w", err)
		}
		for m := buf[:n]; len(m) >= unix.NLMSG_HDRLEN; {
			l, typ := int(ne.Uint32(m[0:])), ne.Uint16(m[4:])
			if l < unix.NLMSG_HDRLEN || l > len(m) {
				return nil, fmt.Errorf("sock_diag: a message of %d bytes in %d", l, len(m))
			}
			switch typ {
			case unix.NLMSG_DONE:
				return out, nil
			case unix.NLMSG_ERROR:
				return nil, fmt.Errorf("sock_diag: an error reply")
			}
			if s, ok := parseUnixDiag(m[unix.NLMSG_HDRLEN:l]); ok {
				out = append(out, s)
			}
			m = m[min((l+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1), len(m)):]
		}
	}
}

// parseUnixDiag reads a unix_diag_msg (family, type, state, pad, ino,
// cookie[2]) and its attributes.
func parseUnixDiag(b []byte) (unixSock, bool) {
	if len(b) < 16 {
		return unixSock{}, false
	}
	ne := binary.NativeEndian
	s := unixSock{ino: ne.Uint32(b[4:])}
	for a := b[16:]; len(a) >= unix.SizeofRtAttr; {
		l, typ := int(ne.Uint16(a[0:])), ne.Uint16(a[2:])
		if l < unix.SizeofRtAttr || l > len(a) {
			break
		}
		v := a[unix.SizeofRtAttr:l]
		switch {
		case typ == unixDiagName:
			s.name = string(v)
		case typ == unixDiagVFS && len(v) >= 8:
			s.vfsIno, s.vfsDev = ne.Uint32(v[0:]), ne.Uint32(v[4:])
		case typ == unixDiagPeer && len(v) >= 4:
			s.peer = ne.Uint32(v)
		case typ == unixDiagIcons:
			for i := 0; i+4 <= len(v); i += 4 {
				s.icons = append(s.icons, ne.Uint32(v[i:]))
			}
		}
		a = a[min((l+3)&^3, len(a)):]
	}
	return s, true
}

// HoldersOfUnixName are the processes holding a Unix socket bound to name
// (as /proc/net/unix writes it: "@name" for an abstract one), listening
// or not.
func HoldersOfUnixName(name string) ([]Holder, error) {
	f, err := os.Open("/proc/net/unix")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	links := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Scan() // header: Num RefCount Protocol Flags Type St Inode Path
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 8 && strings.Join(fs[7:], " ") == name {
			links["socket:["+fs[6]+"]"] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return holdersOf(links), nil
}
