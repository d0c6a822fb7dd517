package stage

import (
	"context"
	"os"
	"slices"
	"time"

	"github.com/org/bh-ipc-check/ipc"
	"github.com/org/bh-ipc-check/matrix/internal/proc"
	"github.com/org/bh-ipc-check/matrix/internal/target"
)

// A second start on a name that is already served (inst.live-not-hijacked,
// inst.busy-not-stale) is judged only once it has settled: a start slowed
// by the machine's load that has not yet reached its bind or rename when
// the endpoint is pinged would otherwise pass, and take the endpoint a
// moment later. A fixed wait is no such point.

// secondState is what a second start has come to.
type secondState int

const (
	// secondRunning: it runs and has not touched the endpoint; not
	// settled (it may still be on its way to a takeover).
	secondRunning secondState = iota
	// SecondEnded: no process of the start lives (it refused, or failed).
	SecondEnded
	// SecondTookOver: the entry at the socket path is no longer the first
	// start's socket, or a process of the second start holds the
	// endpoint's listening socket.
	SecondTookOver
	// SecondBlocked: a process of the start waits in connect() for room
	// in the stopped first daemon's backlog: it is asking the first, and
	// gets its answer after SIGCONT.
	SecondBlocked
)

func (s secondState) String() string {
	return [...]string{"still running, endpoint untouched", "ended", "took the endpoint", "blocked connecting to the first"}[s]
}

// SecondLimit bounds the wait for a second start to settle: the time any
// start is given to serve (--ready-timeout).
func (e *Env) SecondLimit() time.Duration {
	if l := e.Runner.Config.ReadyTimeout; l > 0 {
		return l
	}
	return DefaultReadyTimeout
}

// SockIdentity is the entry at the env's socket path before a second
// start (nil for tcp, or when nothing is there).
func (e *Env) SockIdentity() os.FileInfo {
	if e.Transport == ipc.TransportTCP || e.Sock == "" || target.IsAbstract(e.Sock) {
		return nil
	}
	// Lstat reads the entry without following a link; nothing is changed
	// through the path.
	fi, err := os.Lstat(e.Sock)
	if err != nil {
		return nil
	}
	return fi
}

// ownProcs are the live processes of d's start: the one the suite
// started while it runs, its descendants and those carrying d's marker.
// Unlike StartProcs, never the orphans the suite adopted: the first
// start's detached daemon is one of them.
func ownProcs(d *Daemon) []int {
	var pids []int
	seen := map[int]bool{}
	add := func(pid int) {
		if pid > 0 && !seen[pid] {
			seen[pid] = true
			pids = append(pids, pid)
		}
	}
	if done, _ := d.Exited(); !done {
		add(d.Pid)
	}
	if proc.MarkerScanWorks {
		for _, p := range proc.MarkedDescendants(d.Marker, false) {
			add(p.Pid)
		}
		for _, p := range proc.DescendantsOf(d.Pid) {
			add(p.Pid)
		}
	}
	return pids
}

// secondNow is what second has come to at this instant; sock0 is the
// first start's socket entry (SockIdentity), nil when unknown.
func (e *Env) secondNow(second *Daemon, sock0 os.FileInfo) secondState {
	if sock0 != nil {
		// Race point: no attacker acts in the scenarios that ask, and the
		// first daemon is stopped or has long been serving: a changed or
		// missing entry is the second start's doing.
		if fi, err := os.Lstat(e.Sock); err != nil || !os.SameFile(fi, sock0) {
			return SecondTookOver
		}
	}
	pids := ownProcs(second)
	if len(pids) == 0 {
		return SecondEnded
	}
	for _, pid := range pids {
		if e.holdsEndpoint(pid) {
			return SecondTookOver
		}
	}
	for _, pid := range pids {
		if blockedOnPeer(pid) {
			return SecondBlocked
		}
	}
	return secondRunning
}

// AwaitSecond waits, up to limit and within ctx, until second has settled:
// ended, took the endpoint, or (with blockedSettles, while the first is
// stopped) blocked connecting to the first. It returns the state then:
// secondRunning (or SecondBlocked without blockedSettles) means it had
// not settled, and no verdict may rest on its not having taken over.
func (e *Env) AwaitSecond(ctx context.Context, second *Daemon, sock0 os.FileInfo, blockedSettles bool, limit time.Duration) secondState {
	deadline := time.Now().Add(limit)
	for {
		st := e.secondNow(second, sock0)
		switch {
		case st == SecondEnded || st == SecondTookOver:
			return st
		case st == SecondBlocked && blockedSettles:
			return st
		case time.Now().After(deadline) || ctx.Err() != nil:
			return st
		}
		select {
		case <-ctx.Done():
		case <-second.done:
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// OfSecondStart: pid is a process of the second start: the one the suite
// started, or one it left (a forking daemon's detached process, found by
// the start's marker: memcached -d's child takes the socket after its
// parent exited 0).
func OfSecondStart(second *Daemon, pid int) bool {
	return second.IsPid(pid) || pid > 0 && slices.Contains(ownProcs(second), pid)
}

// OfFirstStart: pid, which answered after a second start, is a process of
// the first start and not of the second. Besides the pid the suite named
// for the first, any process of its start counts where processes can be
// attributed: a daemon that hands its listener over may do so after the
// suite named its serving process (a parent that lingers past
// settleQuiet, slowed by load), and its new server is still the first
// start answering.
func (e *Env) OfFirstStart(first, second *Daemon, pid int) bool {
	if first.IsPid(pid) {
		return true
	}
	return proc.MarkerScanWorks && !OfSecondStart(second, pid) && e.OfStart(first, pid)
}

// FirstStillServes: a process of the first start, not of the second,
// still holds the endpoint, though the one named as serving ended (it
// handed over after it was named).
func (e *Env) FirstStillServes(first, second *Daemon) bool {
	if !proc.MarkerScanWorks {
		return false
	}
	return slices.ContainsFunc(e.EndpointHolders(first), func(r proc.Ref) bool { return !OfSecondStart(second, r.Pid) })
}
