package matrix

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"time"
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

// startProcs are the live processes of d's start: the one the suite
// started (while it runs), its descendants, those carrying d's marker,
// the serving process found for it, and (--forks) the detached processes
// the suite adopted that carry no marker (a daemon that wiped its
// environment: see ofStart).
func (e *Env) startProcs(d *daemon) []procRef {
	var out []procRef
	seen := map[int]bool{}
	add := func(r procRef) {
		if r.pid > 0 && !seen[r.pid] {
			seen[r.pid] = true
			out = append(out, r)
		}
	}
	if done, _ := d.exited(); !done {
		add(refOf(d.Pid))
	}
	if markerScanWorks {
		for _, p := range markedDescendants(d.marker, false) {
			add(procRef{pid: p.pid, start: p.start})
		}
		for _, p := range descendantsOf(d.Pid) {
			add(procRef{pid: p.pid, start: p.start})
		}
		if e.r.cfg.Target.Forks {
			for _, p := range adoptedOrphans() {
				add(procRef{pid: p.pid, start: p.start})
			}
		}
	}
	if d.serving > 0 && !d.servingEnded && d.servingRef().same() {
		add(d.servingRef())
	}
	slices.SortFunc(out, func(a, b procRef) int { return a.pid - b.pid })
	return out
}

// endpointHolders are the processes of d's start that hold the endpoint's
// listening socket open (the listener and the workers it passed it to).
func (e *Env) endpointHolders(d *daemon) []procRef {
	var out []procRef
	for _, r := range e.startProcs(d) {
		if e.holdsEndpoint(r.pid) {
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
func (e *Env) settleStart(ctx context.Context, d *daemon, needHolder bool) ([]procRef, bool) {
	var last string
	since := time.Now()
	for {
		procs := e.startProcs(d)
		holders := e.endpointHolders(d)
		key := fmt.Sprint(procs, holders)
		for _, r := range procs {
			key += " " + sigCaught(r.pid)
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

// settleBeforeSignal waits (up to the ready timeout) until d's start has
// settled (settleStart), so that a signal meant for the daemon reaches it
// as it serves, not while it is still setting up or handing over.
func (e *Env) settleBeforeSignal(d *daemon) {
	limit := e.r.cfg.ReadyTimeout
	if limit <= 0 {
		limit = DefaultReadyTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	if _, settled := e.settleStart(ctx, d, e.r.cfg.Target.Forks); !settled {
		e.note("the start of pid %d had not settled within %s when it was signalled", d.Pid, limit)
	}
}

// signalStart sends sig to every process of d's start that holds the
// endpoint, and to the serving process found for it; it returns whether it
// had any to signal, and the first error. Each goes through signalRef: a
// pid reused since it was found is never signalled; one that ended since
// it was listed (a worker its master stopped first) is no error.
func (e *Env) signalStart(d *daemon, sig syscall.Signal) (bool, error) {
	refs := e.endpointHolders(d)
	if d.serving > 0 && !d.servingEnded && !slices.ContainsFunc(refs, func(r procRef) bool { return r.pid == d.serving }) {
		refs = append(refs, d.servingRef())
	}
	var first error
	for _, r := range refs {
		err := signalRef(r, sig)
		if errors.Is(err, syscall.ESRCH) || errors.Is(err, errPIDReused) {
			continue // ended since it was listed
		}
		if err != nil && first == nil {
			first = fmt.Errorf("%s: %w", r, err)
		}
	}
	if len(refs) > 0 {
		e.note("--forks: %s to %s (the start's processes holding the endpoint)", signalName(sig), refsString(refs))
	}
	return len(refs) > 0, first
}

// killStart sends SIGKILL to every live process of d's start and waits up
// to wait for each to end; it returns those still running after that.
func (e *Env) killStart(d *daemon, wait time.Duration) []procRef {
	procs := e.startProcs(d)
	for _, r := range procs {
		if r.pid == d.Pid {
			killTree(d.cmd)
			continue
		}
		signalRef(r, syscall.SIGKILL)
	}
	deadline := time.Now().Add(wait)
	var left []procRef
	for _, r := range procs {
		if r.pid == d.Pid {
			if done, _ := d.wait(time.Until(deadline)); !done {
				left = append(left, r)
			}
			continue
		}
		if done, _ := waitRef(r, time.Until(deadline)); !done {
			left = append(left, r)
		}
	}
	if d.serving > 0 && d.serving != d.Pid {
		d.servingEnded = !d.servingRef().same()
	}
	if len(procs) > 0 {
		e.note("SIGKILL to every process of the start: %s", refsString(procs))
	}
	return left
}

func refsString(refs []procRef) string {
	s := make([]string, len(refs))
	for i, r := range refs {
		s[i] = r.String()
	}
	return strings.Join(s, ", ")
}
