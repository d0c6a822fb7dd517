//go:build unix

package stage

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/org/bh-ipc-check/matrix/internal/probe"
	"github.com/org/bh-ipc-check/matrix/internal/proc"
)

// sideFD is the helper's end of its side channel (helperSide), given to
// it as its first extra file.
const sideFD = 3

// sideMsg is one message on the side channel: a process to kill once the
// helper is done, or (Hold, with the connection as SCM_RIGHTS) a
// connection to keep open.
type sideMsg struct {
	Hold  bool   `json:"hold,omitempty"`
	Pid   int    `json:"pid,omitempty"`
	Start uint64 `json:"start,omitempty"`
}

// maxSideMsgs bounds what the suite reads from one helper's side channel.
const maxSideMsgs = 16

// sidePair makes the side channel for a helper: the helper's end (to be
// its fd 3, closed by the caller once the helper started) and the
// suite's. A datagram socketpair: each message arrives whole, and what
// the helper sent stays queued, its connections open, after it exits.
// Both ends are close-on-exec from the start (under syscall.ForkLock, as
// the standard library makes its sockets): no other child of the suite
// inherits them.
func sidePair() (helperEnd, suiteEnd *os.File, err error) {
	syscall.ForkLock.RLock()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM, 0)
	if err == nil {
		unix.CloseOnExec(fds[0])
		unix.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[1]), "helper side"), os.NewFile(uintptr(fds[0]), "suite side"), nil
}

// recvSide reads one message queued on fd, without waiting; the
// connections it carries are close-on-exec before any other child of the
// suite can be started.
func recvSide(fd int, buf, oob []byte) (n int, fds []int, err error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_DONTWAIT)
	if err != nil {
		return 0, nil, err
	}
	if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
		for _, m := range msgs {
			got, _ := unix.ParseUnixRights(&m)
			fds = append(fds, got...)
		}
	}
	for _, fd := range fds {
		unix.CloseOnExec(fd)
	}
	return n, fds, nil
}

// collect reads what the helper queued on its side channel (f, the
// suite's end) once it has exited, and closes f. Only the suite and the
// helper held the pair: nothing else can have written there.
func (s *helperSide) collect(f *os.File) {
	defer f.Close()
	buf, oob := make([]byte, 512), make([]byte, unix.CmsgSpace(4*4))
	for range maxSideMsgs {
		n, fds, err := recvSide(int(f.Fd()), buf, oob)
		if err != nil {
			return // drained (EAGAIN)
		}
		var m sideMsg
		if json.Unmarshal(buf[:n], &m) != nil || !m.Hold {
			closeFDs(fds)
			if m.Pid > 0 {
				s.addProc(proc.Ref{Pid: m.Pid, Start: m.Start})
			}
			continue
		}
		for i, fd := range fds {
			if i > 0 {
				unix.Close(fd)
				continue
			}
			file := os.NewFile(uintptr(fd), "held connection")
			c, err := net.FileConn(file) // fails for anything but a socket
			file.Close()
			if err == nil {
				s.addHeld(c)
			}
		}
	}
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// sideSender is a helper process's end of its side channel.
type sideSender struct {
	mu sync.Mutex
	fd int
}

// openSideSender takes fd 3 as the side channel (the header said the
// suite gave one), close-on-exec from here on: the helper's own children
// (the connector, the setuid program it becomes) never hold it.
func openSideSender() probe.SideSink {
	unix.CloseOnExec(sideFD)
	return &sideSender{fd: sideFD}
}

func (s *sideSender) send(m sideMsg, fds ...int) error {
	b, _ := json.Marshal(m)
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Never a wait: the suite reads only once the helper has exited, so a
	// full queue (a helper whose many probes each met a silence) fails
	// the hand-over, which makes that silence no refusal.
	return unix.Sendmsg(s.fd, b, oob, nil, unix.MSG_DONTWAIT)
}

func (s *sideSender) HoldConn(c net.Conn) error {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return errors.New("not a socket connection")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = s.send(sideMsg{Hold: true}, int(fd)) }); err != nil {
		return err
	}
	return serr
}

func (s *sideSender) ReportProc(pid int) error {
	start := proc.ProcStart(pid)
	if start == 0 && proc.MarkerScanWorks {
		return fmt.Errorf("no start time for pid %d", pid)
	}
	return s.send(sideMsg{Pid: pid, Start: start})
}
