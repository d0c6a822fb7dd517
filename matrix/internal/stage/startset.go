package stage

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/org/bh-ipc-check/matrix/internal/proc"
	"github.com/org/bh-ipc-check/matrix/internal/world"
)

// A daemon that forks (--forks) or runs several processes (a master and
// workers accepting on the socket it inherited to them) is more than the
// process the suite started. What the suite does to "the daemon" it does
// to every process of that start that holds the endpoint, and only once
// the start has settled: a process that is handing its listener over (a
// parent that forks and exits) is neither signalled as "the daemon" nor
// taken for the one serving.

// settleQuiet is how long the set of a start's live processes must stay
// the same, with one of them listening on the endpoint, before the start
// counts as settled (its hand-off over).
const settleQuiet = 500 * time.Millisecond

// StartProcs are the live processes of d's start: the one the suite
// started (while it runs), its descendants, those carrying d's marker,
// the serving process found for it, and (--forks) the detached processes
// the suite adopted that carry no marker (a daemon that wiped its
// environment: see OfStart).
func (e *Env) StartProcs(d *Daemon) []proc.Ref {
	var out []proc.Ref
	seen := map[int]bool{}
	add := func(r proc.Ref) {
		if r.Pid > 0 && !seen[r.Pid] {
			seen[r.Pid] = true
			out = append(out, r)
		}
	}
	if done, _ := d.Exited(); !done {
		add(proc.RefOf(d.Pid))
	}
	if proc.MarkerScanWorks {
		for _, p := range proc.MarkedDescendants(d.Marker, false) {
			add(proc.Ref{Pid: p.Pid, Start: p.Start})
		}
		for _, p := range proc.DescendantsOf(d.Pid) {
			add(proc.Ref{Pid: p.Pid, Start: p.Start})
		}
		if e.Runner.Config.Target.Forks {
			for _, p := range proc.AdoptedOrphans() {
				add(proc.Ref{Pid: p.Pid, Start: p.Start})
			}
		}
	}
	if d.serving > 0 && !d.servingEnded && d.servingRef().Same() {
		add(d.servingRef())
	}
	slices.SortFunc(out, func(a, b proc.Ref) int { return a.Pid - b.Pid })
	return out
}

// EndpointHolders are the processes of d's start that hold the endpoint's
// listening socket open (the listener and the workers it passed it to).
func (e *Env) EndpointHolders(d *Daemon) []proc.Ref {
	var out []proc.Ref
	for _, r := range e.StartProcs(d) {
		if e.holdsEndpoint(r.Pid) {
			out = append(out, r)
		}
	}
	return out
}

// settleStart waits, within ctx, until d's start has settled: its set of
// live processes, those holding the endpoint and the signals each catches
// (a daemon sets its handlers up after it listens: a SIGTERM before that
// kills it) unchanged for settleQuiet, and, with needHolder, one of them
// holding the endpoint. It returns the holders then, and whether the
// start settled (false: ctx ended first; the holders are those seen last).
func (e *Env) settleStart(ctx context.Context, d *Daemon, needHolder bool) ([]proc.Ref, bool) {
	var last string
	since := time.Now()
	for {
		procs := e.StartProcs(d)
		holders := e.EndpointHolders(d)
		key := fmt.Sprint(procs, holders)
		for _, r := range procs {
			key += " " + sigCaught(r.Pid)
		}
		if key != last {
			last, since = key, time.Now()
		} else if (len(holders) > 0 || !needHolder) && time.Since(since) >= settleQuiet {
			return holders, true
		}
		select {
		case <-ctx.Done():
			return holders, false
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// SettleBeforeSignal waits (up to the ready timeout) until d's start has
// settled (settleStart), so that a signal meant for the daemon reaches it
// as it serves, not while it is still setting up or handing over.
func (e *Env) SettleBeforeSignal(d *Daemon) {
	limit := e.Runner.Config.ReadyTimeout
	if limit <= 0 {
		limit = DefaultReadyTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	if _, settled := e.settleStart(ctx, d, e.Runner.Config.Target.Forks); !settled {
		e.Note("the start of pid %d had not settled within %s when it was signalled", d.Pid, limit)
	}
}

// signalStart sends sig to every process of d's start that holds the
// endpoint, and to the serving process found for it; it returns whether it
// had any to signal, and the first error. Each goes through signalRef: a
// pid reused since it was found is never signalled; one that ended since
// it was listed (a worker its master stopped first) is no error.
func (e *Env) signalStart(d *Daemon, sig syscall.Signal) (bool, error) {
	refs := e.EndpointHolders(d)
	if d.serving > 0 && !d.servingEnded && !slices.ContainsFunc(refs, func(r proc.Ref) bool { return r.Pid == d.serving }) {
		refs = append(refs, d.servingRef())
	}
	var first error
	for _, r := range refs {
		err := proc.SignalRef(r, sig)
		if errors.Is(err, syscall.ESRCH) || errors.Is(err, proc.ErrPIDReused) {
			continue // ended since it was listed
		}
		if err != nil && first == nil {
			first = fmt.Errorf("%s: %w", r, err)
		}
	}
	if len(refs) > 0 {
		e.Note("--forks: %s to %s (the start's processes holding the endpoint)", signalName(sig), RefsString(refs))
	}
	return len(refs) > 0, first
}

// KillStart sends SIGKILL to every live process of d's start and waits up
// to wait for each to end; it returns those still running after that.
func (e *Env) KillStart(d *Daemon, wait time.Duration) []proc.Ref {
	procs := e.StartProcs(d)
	for _, r := range procs {
		if r.Pid == d.Pid {
			KillTree(d.Cmd)
			continue
		}
		proc.SignalRef(r, syscall.SIGKILL)
	}
	deadline := time.Now().Add(wait)
	var left []proc.Ref
	for _, r := range procs {
		if r.Pid == d.Pid {
			if done, _ := d.Wait(time.Until(deadline)); !done {
				left = append(left, r)
			}
			continue
		}
		if done, _ := waitRef(r, time.Until(deadline)); !done {
			left = append(left, r)
		}
	}
	if d.serving > 0 && d.serving != d.Pid {
		d.servingEnded = !d.servingRef().Same()
	}
	if len(procs) > 0 {
		e.Note("SIGKILL to every process of the start: %s", RefsString(procs))
	}
	return left
}

func RefsString(refs []proc.Ref) string {
	s := make([]string, len(refs))
	for i, r := range refs {
		s[i] = r.String()
	}
	return strings.Join(s, ", ")
}

// StartListensAt: p is a socket of the daemon's uid, and (Linux: /proc)
// a process of d's start listens on it. Elsewhere the owner alone is
// judged: no other uid can make a socket of the daemon's uid.
func (e *Env) StartListensAt(d *Daemon, p string) bool {
	f := world.Stat(p)
	if d == nil || f.Kind != "socket" || f.UID != e.Runner.DaemonUID {
		e.Note("%s is %s: not a socket of the daemon's uid", p, world.Describe(p))
		return false
	}
	if !proc.MarkerScanWorks {
		return true
	}
	for _, r := range e.StartProcs(d) {
		paths, _ := proc.ListeningPaths(r.Pid)
		if slices.Contains(paths, filepath.Clean(p)) {
			return true
		}
	}
	e.Note("%s is %s, but no process of the start (pid %d) listens on it", p, world.Describe(p), d.Pid)
	return false
}
