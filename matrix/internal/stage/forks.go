package stage

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/org/bh-ipc-check/matrix/internal/proc"
	"github.com/org/bh-ipc-check/matrix/internal/target"
	"github.com/org/bh-ipc-check/matrix/internal/world"
)

// MarkerFor is the marker of the n-th start in e.
func (e *Env) MarkerFor(n int) string {
	return fmt.Sprintf("%s=%s#%d", proc.StartMarkerEnv, e.Parent, n)
}

// PID is the pid of the process serving for d: the one the suite started,
// or, for a daemon that forked, the one found when it became ready.
func (d *Daemon) PID() int {
	if d.serving > 0 {
		return d.serving
	}
	return d.Pid
}

// WaitServing waits up to timeout for the serving process to end (see
// wait); for a forked one the exit code is known when the suite, as
// subreaper, reaps it, and is -1 otherwise.
func (d *Daemon) WaitServing(timeout time.Duration) (bool, int) {
	if d.serving <= 0 || d.serving == d.Pid {
		return d.Wait(timeout)
	}
	if d.servingEnded {
		return true, -1
	}
	exited, code := waitRef(d.servingRef(), timeout)
	d.servingEnded = exited
	return exited, code
}

// servingRef is the serving process as recorded when it was found.
func (d *Daemon) servingRef() proc.Ref {
	return proc.Ref{Pid: d.serving, Start: d.servingStart}
}

// waitRef is waitPID for the process r names: once r's pid names another
// process (r ended and was reaped, by the suite or its parent, and the pid
// was reused) it has ended, and the new process is neither waited for nor
// reaped.
func waitRef(r proc.Ref, timeout time.Duration) (bool, int) {
	deadline := time.Now().Add(timeout)
	for {
		// Race point: r's pid is only reaped by waitPID when it is the
		// suite's child; a child's pid cannot be reused before the suite
		// reaps it, so the start time checked here still holds then.
		if r.Start != 0 && proc.ProcStart(r.Pid) != r.Start {
			return true, -1
		}
		if exited, code := proc.WaitPID(r.Pid, 0); exited {
			return true, code
		}
		if time.Now().After(deadline) {
			return false, 0
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// FindServing names the process that serves for d (started with --forks)
// once it answered as pid (0: unknown): pid itself while it lives (the
// daemon's own word, or the kernel's SO_PEERCRED: the process that called
// listen, which may be a parent that forked and exited); else the pid in
// --pidfile; else, among the processes of this start, the one listening
// on the socket, or the only one.
//
// The started process itself answering (pid == d.Pid) is believed only
// once it has stayed up without a descendant for pidFileWait: a daemon
// that listens, then forks and lets its first process exit (ssh-agent),
// answers through the socket that first process made, and taking that
// process for the server would see the daemon "exit" soon after.
func (e *Env) FindServing(ctx context.Context, d *Daemon, pid int) (int, string) {
	if pid > 0 && pid == d.Pid {
		for deadline := time.Now().Add(pidFileWait); ; time.Sleep(20 * time.Millisecond) {
			if done, _ := d.Exited(); done {
				break
			}
			if len(without1(proc.MarkedDescendants(d.Marker, false), d.Pid)) > 0 {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return pid, "it answered as that pid, and it has no child"
			}
		}
		// Let a process that is on its way out finish.
		d.Wait(100 * time.Millisecond)
		if done, _ := d.Exited(); !done && len(without1(proc.MarkedDescendants(d.Marker, false), d.Pid)) == 0 {
			return pid, "it answered as that pid, and it has no child"
		}
	}
	if pid > 0 && pid != d.Pid && proc.Alive(pid) && e.OfStart(d, pid) {
		return pid, "it answered as that pid"
	}
	t := e.Runner.Config.Target
	if t.PidFile != "" {
		// A daemon may serve before it writes its pid file: give it
		// pidFileWait.
		path := target.Expand(t.PidFile, d.Root, d.Name)
		for deadline := time.Now().Add(pidFileWait); ; time.Sleep(20 * time.Millisecond) {
			// Race point: another uid may replace the pid file with a
			// link at any time; readNoFollow refuses a final link, and
			// the pid read is only believed if OfStart confirms it.
			b, err := world.ReadNoFollow(path, -1, 64)
			if n, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil && n > 0 && proc.Alive(n) && e.OfStart(d, n) {
				return n, "pid file " + path
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				e.Note("--pidfile %s names no live process within %s (%v)", path, pidFileWait, err)
				break
			}
		}
	}
	procs := without1(proc.MarkedDescendants(d.Marker, false), d.Pid)
	if e.Sock != "" {
		for _, p := range procs {
			var paths []string
			if e.AsDaemonUID(ctx, "listening", p.Pid, &paths) == nil && slices.Contains(paths, e.Sock) {
				return p.Pid, "it listens on " + e.Sock
			}
		}
	}
	if done, _ := d.Exited(); len(procs) == 1 && (done || pid != d.Pid) {
		return procs[0].Pid, "the only process left by the start"
	}
	if pid > 0 && proc.Alive(pid) && e.OfStart(d, pid) {
		return pid, "it answered as that pid"
	}
	return 0, ""
}

// settleServing records which process serves for d once it answered as
// pid, and returns that pid (0 when none can be named).
func (e *Env) settleServing(ctx context.Context, d *Daemon, pid int) (int, error) {
	// The first answer may come while the start is still handing its
	// listener over (a parent that forks and exits): wait until it has
	// settled before naming the serving process.
	if holders, settled := e.settleStart(ctx, d, true); !settled {
		e.Note("--forks: the start of pid %d had not settled when its time ran out (processes holding the endpoint: %s)", d.Pid, RefsString(holders))
	}
	serving, how := e.FindServing(ctx, d, pid)
	d.serving, d.servingStart, d.servingEnded = serving, proc.ProcStart(serving), false
	// Race point: the serving process may end, and its pid be reused,
	// between FindServing's check and the start time read above; a
	// process that is not of the start now is not recorded.
	if serving > 0 && serving != d.Pid && !e.OfStart(d, serving) {
		d.serving, d.servingStart = 0, 0
		e.Note("--forks: pid %d, found serving, is no longer a process of the start", serving)
		return 0, nil
	}
	if serving > 0 && serving != d.Pid {
		e.Note("--forks: pid %d serves for the start of pid %d (%s)", serving, d.Pid, how)
	}
	return serving, nil
}

// OfStart: pid is a process of d's start, so the suite may signal it. A
// pid file sits where other uids may write, and a daemon may name any pid:
// neither may make the suite signal an unrelated process. A detached
// process that wiped its environment (and its marker) is believed as a
// descendant of the start or, once its parent exited, an orphan the suite
// adopted (ofStartTree): nothing but the run's daemons detaches below the
// suite. Where processes cannot be attributed (no /proc), every pid is
// taken at its word.
func (e *Env) OfStart(d *Daemon, pid int) bool {
	if pid == d.Pid || !proc.MarkerScanWorks {
		return true
	}
	return slices.ContainsFunc(proc.MarkedDescendants(d.Marker, false), func(p proc.Info) bool { return p.Pid == pid }) || proc.OfStartTree(pid, d.Pid)
}

// pidFileWait is how long a ready daemon may take to write its pid file.
const pidFileWait = 2 * time.Second

// without1 drops the process pid (the one os/exec started and reaps).
func without1(ps []proc.Info, pid int) []proc.Info {
	return slices.DeleteFunc(ps, func(p proc.Info) bool { return p.Pid == pid })
}

// DetachedAliveAfter: a process of d's start other than the one the suite
// started still runs after wait (a daemon that forked kept serving); it
// returns early once none runs.
func (e *Env) DetachedAliveAfter(d *Daemon, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for {
		if len(without1(proc.MarkedDescendants(d.Marker, false), d.Pid)) == 0 && !d.forkedServing() {
			return false
		}
		if time.Now().After(deadline) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// IsPid: pid names d's serving process, or the process the suite started
// (which a daemon that listens, then forks, stays named as by SO_PEERCRED).
func (d *Daemon) IsPid(pid int) bool { return pid > 0 && (pid == d.Pid || pid == d.PID()) }

// StartPIDs are the live processes of d's start: the one the suite started
// and, for a daemon that forks, those it left.
func (e *Env) StartPIDs(d *Daemon) []int {
	var pids []int
	if done, _ := d.Exited(); !done {
		pids = append(pids, d.Pid)
	}
	if e.Runner.Config.Target.Forks {
		for _, p := range without1(proc.MarkedDescendants(d.Marker, false), d.Pid) {
			pids = append(pids, p.Pid)
		}
	}
	return pids
}

// Running: the process serving for d has not ended.
func (d *Daemon) Running() bool {
	if d.serving > 0 && d.serving != d.Pid {
		return d.forkedServing()
	}
	done, _ := d.Exited()
	return !done
}

// forkedServing: a forked serving process was found for d and still runs
// (the same process, not one that took its pid).
func (d *Daemon) forkedServing() bool {
	return d.serving > 0 && d.serving != d.Pid && !d.servingEnded && d.servingRef().Same()
}

// StopMarked stops the processes carrying marker (any start in the
// scenario when prefix is set) that os/exec did not start, and the extra
// processes recorded earlier (startedProcs) that are still the same
// processes and still of the scenario: SIGTERM, then SIGKILL for those
// still running after StopGrace; each is reaped when the suite adopted it.
// Every signal goes through signalRef: a pid reused by another process
// since it was found is never signalled. It returns what it stopped, for
// evidence.
func (e *Env) StopMarked(marker string, prefix bool, extra []proc.Ref) []string {
	e.mu.Lock()
	started := map[int]bool{}
	for _, d := range e.daemons {
		started[d.Pid] = true
	}
	e.mu.Unlock()
	var procs, reap []proc.Ref
	var what []string
	has := func(pid int) bool {
		return slices.ContainsFunc(procs, func(r proc.Ref) bool { return r.Pid == pid })
	}
	for _, p := range proc.MarkedDescendants(marker, prefix) {
		if !started[p.Pid] {
			procs = append(procs, proc.Ref{Pid: p.Pid, Start: p.Start})
			what = append(what, fmt.Sprintf("pid %d (%s)", p.Pid, p.Comm))
		}
	}
	for _, r := range extra {
		switch {
		case started[r.Pid] || has(r.Pid):
		case r.Same() && proc.OfScenario(r.Pid, marker, prefix):
			procs = append(procs, r)
			what = append(what, fmt.Sprintf("pid %d", r.Pid))
		default:
			reap = append(reap, r) // ended (maybe a zombie now ours), or its pid reused
		}
	}
	for _, r := range procs {
		proc.SignalRef(r, syscall.SIGTERM)
	}
	deadline := time.Now().Add(StopGrace)
	for _, r := range reap {
		waitRef(r, time.Until(deadline))
	}
	for _, r := range procs {
		if done, _ := waitRef(r, time.Until(deadline)); !done {
			proc.SignalRef(r, syscall.SIGKILL)
			waitRef(r, 5*time.Second)
		}
	}
	return what
}

// startedProcs are every live process of the scenario's starts, and the
// serving processes found for them (not those already ended), each with
// its start time.
func (e *Env) startedProcs() []proc.Ref {
	var procs []proc.Ref
	for _, p := range proc.MarkedDescendants(proc.StartMarkerEnv+"="+e.Parent, true) {
		procs = append(procs, proc.Ref{Pid: p.Pid, Start: p.Start})
	}
	e.mu.Lock()
	for _, d := range e.daemons {
		if d.serving > 0 && !d.servingEnded {
			procs = append(procs, d.servingRef())
		}
	}
	e.mu.Unlock()
	return procs
}

// stopStragglers stops every process the scenario's daemons left running
// (detached ones included) and reaps those seen before the daemons were
// stopped: no process of a run outlives its scenario.
func (e *Env) stopStragglers(seen []proc.Ref) {
	// A detached process without the marker (its environment wiped) is
	// found as an orphan the suite adopted, now that the daemons are gone.
	for _, p := range proc.AdoptedOrphans() {
		seen = append(seen, proc.Ref{Pid: p.Pid, Start: p.Start})
	}
	if what := e.StopMarked(proc.StartMarkerEnv+"="+e.Parent, true, seen); len(what) > 0 {
		e.Note("stopped at the scenario's end, left running by the daemon's starts: %s", strings.Join(what, ", "))
	}
	groups := map[int]bool{}
	e.mu.Lock()
	for _, d := range e.daemons {
		groups[d.Pid] = true
	}
	e.mu.Unlock()
	proc.ReapGroupZombies(groups)
}
