package stage

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/org/bh-ipc-check/matrix/internal/probe"
	"github.com/org/bh-ipc-check/matrix/internal/proc"
)

// helperSide is what a helper hands the suite while it acts, on a side
// channel of its own (a socketpair only the suite and that helper hold,
// the helper's fd 3): connections it held silent until its deadline, which
// the suite keeps open to judge that silence (settleSilence), and
// processes it started that must not outlive it (auth.pid-handoff's
// connector, which becomes a setuid-root program). A helper acting as the
// attacker is the attacker's to stop or kill at any moment: what it
// handed over before that stays the suite's. An action run in the suite's
// own process hands them over directly. Safe for concurrent use; the
// suite calls end once the helper is done.
type helperSide struct {
	mu    sync.Mutex
	held  []net.Conn
	procs []proc.Ref
}

// withHelperSide is ctx carrying a new helperSide, for the helper that
// ctx runs (runHelper) or the action run in this process.
func withHelperSide(ctx context.Context) (context.Context, *helperSide) {
	s := &helperSide{}
	return context.WithValue(ctx, probe.SideKey{}, probe.SideSink(s)), s
}

// HoldConn keeps a duplicate of c (an action in the suite's process).
func (s *helperSide) HoldConn(c net.Conn) error {
	fc, ok := c.(interface{ File() (*os.File, error) })
	if !ok {
		return errors.New("not a socket connection")
	}
	f, err := fc.File()
	if err != nil {
		return err
	}
	defer f.Close()
	dup, err := net.FileConn(f)
	if err != nil {
		return err
	}
	s.addHeld(dup)
	return nil
}

func (s *helperSide) addHeld(c net.Conn) {
	s.mu.Lock()
	s.held = append(s.held, c)
	s.mu.Unlock()
}

func (s *helperSide) ReportProc(pid int) error {
	s.addProc(proc.RefOf(pid))
	return nil
}

func (s *helperSide) addProc(r proc.Ref) {
	s.mu.Lock()
	s.procs = append(s.procs, r)
	s.mu.Unlock()
}

// lastHeld is the connection handed over last, nil when none.
func (s *helperSide) lastHeld() net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.held) == 0 {
		return nil
	}
	return s.held[len(s.held)-1]
}

// end closes the connections handed over and kills the processes
// reported that still run (SIGCONT and SIGKILL through a pidfd checked
// against the recorded start time: proc.SignalRef), reaping those
// re-parented to the suite. The helper reported each before it let the
// process do anything (auth.pid-handoff: before the exec), so a helper
// killed by its uid leaves nothing running: a setuid-root program its uid
// stopped would otherwise outlive the run.
func (s *helperSide) end() {
	s.mu.Lock()
	held, procs := s.held, s.procs
	s.held, s.procs = nil, nil
	s.mu.Unlock()
	for _, c := range held {
		c.Close()
	}
	for _, r := range procs {
		if !r.Same() {
			continue
		}
		if err := proc.SignalRef(r, syscall.SIGKILL); err == nil {
			proc.WaitPID(r.Pid, 5*time.Second)
		}
	}
}
