package matrix

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/org/bh-ipc-check/matrix/internal/target"
)

// The verdict of a scenario is decided in this file, in this order, and
// nowhere else once the scenario's body has run:
//
//  1. runOne: a scenario that does not apply to the target (skipReason,
//     notApplicable) or needs a privilege this run lacks (privilegeSkip)
//     is skipped without running.
//  2. The body's own outcome (pass, fail, skip, errored): the attack and
//     its judgement, in the catalogue.
//  3. judgePlants: a plant of another uid withdrawn or replaced, or a
//     mode change its own uid may have made under a pass, makes it no
//     verdict (error).
//  4. runOne: a run interrupted while the body returned anything but a
//     pass, a body that panicked, or one that ran out of its time, is an
//     error.
//  5. judgeImpostors: any client of the suite that met something other
//     than the daemon it started makes it an error, whatever it concluded.
//
// A pass therefore survives only when the body concluded it, nothing
// interfered, the run was not cut short and every connection the suite
// judged by reached the daemon it started.

// outcome is what a scenario body returns; evidence goes through Env.
// Bodies make one with pass, fail, skip or errored.
type outcome struct {
	status Status
	reason string
}

func pass(format string, a ...any) outcome { return outcome{Pass, fmt.Sprintf(format, a...)} }

func fail(format string, a ...any) outcome { return outcome{Fail, fmt.Sprintf(format, a...)} }

func skip(format string, a ...any) outcome { return outcome{Skip, fmt.Sprintf(format, a...)} }

// errored: no verdict could be reached (the suite's own setup failed, a
// helper failed, a daemon that passed the preflight did not start).
func errored(format string, a ...any) outcome { return outcome{Error, fmt.Sprintf(format, a...)} }

// runOne runs s as the seq-th scenario of the run and returns its Result
// (see the top of this file for the order of its judgements); every
// process the scenario started is stopped before it returns.
func (r *Runner) runOne(ctx context.Context, s Scenario, seq int) (res Result) {
	start := time.Now()
	res = Result{ID: s.ID, Title: s.Title, Severity: s.Severity, Transport: string(r.transport(s))}
	defer func() { res.DurationMS = target.Millis(time.Since(start)) }()
	if why := r.skipReason(s); why != "" {
		res.Status, res.Reason, res.NotApplicable = Skip, why, r.notApplicable(s)
		return res
	}
	if why := r.privilegeSkip(s); why != "" {
		res.Status, res.Reason, res.Incomplete = Skip, why, true
		return res
	}
	defer func() { res.Incomplete = res.Status == Error }()
	e, err := r.newEnv(s, seq)
	if err != nil {
		res.Status, res.Reason = Error, "setting up the scenario: "+err.Error()
		return res
	}
	sctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	type done struct{ o outcome }
	ch := make(chan done, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- done{errored("scenario panicked: %v", p)}
			}
		}()
		ch <- done{s.run(sctx, e)}
	}()
	var o outcome
	returned := false
	select {
	case d := <-ch:
		returned = true
		o = e.judgePlants(d.o)
		if ctx.Err() != nil && o.status != Pass {
			// What a scenario concluded while being cancelled (a helper
			// killed, a wait cut short) is no verdict.
			o = errored("interrupted (%v): %s", ctx.Err(), o.reason)
		}
	case <-sctx.Done():
		if ctx.Err() != nil {
			o = errored("interrupted after %s (%v); killed its processes", time.Since(start).Round(time.Millisecond), ctx.Err())
		} else {
			o = errored("timed out after %s; killed its processes", r.cfg.Timeout)
		}
	}
	if !returned {
		// Timed out or interrupted: the scenario runs on with a cancelled
		// context. Give it scenarioReturnWait to return before its
		// processes are stopped; one that does not is still refused any
		// new daemon once the env is closed (startDaemon).
		select {
		case <-ch:
		case <-time.After(scenarioReturnWait):
			e.note("the scenario had not returned %s after its context was cancelled", scenarioReturnWait)
		}
	}
	e.close() // kill and reap everything the scenario started
	o = e.judgeImpostors(o)
	if o.status != Pass {
		e.mu.Lock()
		for _, d := range e.daemons {
			if out := d.out.excerpt(outputHeadLines, outputTailLines); out != "" {
				e.evidence = append(e.evidence, fmt.Sprintf("daemon pid %d output:\n%s", d.Pid, out))
			}
		}
		e.mu.Unlock()
	}
	res.Status, res.Reason = o.status, o.reason
	e.mu.Lock()
	res.Evidence, res.Metrics = e.evidence, e.metrics
	e.mu.Unlock()
	return res
}

// judgePlants checks the plants once more and turns any outcome of a
// scenario whose plants were withdrawn or replaced into no verdict: the
// daemon was not tested against what the scenario says (issue 24: a
// symlink withdrawn before the daemon's start made a daemon that follows
// links pass dir.symlink).
func (e *Env) judgePlants(o outcome) outcome {
	e.checkPlants("when the scenario was judged")
	if o.status != Pass {
		if f := e.foreignEndpointDir(); f != "" {
			e.interfered(f)
		}
	}
	e.mu.Lock()
	what := append([]string(nil), e.interference...)
	chmods := slices.Compact(append([]string(nil), e.modeChanges...))
	e.mu.Unlock()
	if len(what) == 0 && len(chmods) > 0 {
		if o.status == Pass {
			return errored("no verdict: a plant's mode changed, and its own uid may have done it (%s); it would have been pass: %s", strings.Join(chmods, "; "), o.reason)
		}
		for _, c := range chmods {
			e.note("%s (the failure does not rest on it)", c)
		}
	}
	if len(what) == 0 {
		return o
	}
	return errored("no verdict: another process interfered with the scenario (%s); it would have been %s: %s", strings.Join(what, "; "), o.status, o.reason)
}

// judgeImpostors turns the scenario's outcome into an error when any
// client of the suite met an impostor: whatever the scenario concluded, it
// concluded about the wrong process.
func (e *Env) judgeImpostors(o outcome) outcome {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.impostors) == 0 {
		return o
	}
	return outcome{Error, "something other than the daemon the suite started answered at its endpoint, so no verdict: " + strings.Join(e.impostors, "; ") + " (the scenario had concluded " + string(o.status) + ": " + o.reason + ")"}
}
