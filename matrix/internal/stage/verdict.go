package stage

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
//  1. RunOne: a scenario that does not apply to the target (SkipReason,
//     notApplicable) or needs a privilege this run lacks (privilegeSkip)
//     is skipped without running.
//  2. The body's own outcome (pass, fail, skip, errored): the attack and
//     its judgement, in the catalogue.
//  3. judgePlants: a plant of another uid withdrawn or replaced, or a
//     mode change its own uid may have made under a pass, makes it no
//     verdict (error).
//  4. RunOne: a run interrupted while the body returned anything but a
//     pass, a body that panicked, or one that ran out of its time, is an
//     error.
//  5. JudgeImpostors: any client of the suite that met something other
//     than the daemon it started makes it an error, whatever it concluded.
//
// A pass therefore survives only when the body concluded it, nothing
// interfered, the run was not cut short and every connection the suite
// judged by reached the daemon it started.

// Outcome is what a scenario body returns; evidence goes through Env.
// Bodies make one with pass, fail, skip or errored.
type Outcome struct {
	Status target.Status
	Reason string
}

func Pass(format string, a ...any) Outcome { return Outcome{target.Pass, fmt.Sprintf(format, a...)} }

func Fail(format string, a ...any) Outcome { return Outcome{target.Fail, fmt.Sprintf(format, a...)} }

func Skip(format string, a ...any) Outcome { return Outcome{target.Skip, fmt.Sprintf(format, a...)} }

// Errored: no verdict could be reached (the suite's own setup failed, a
// helper failed, a daemon that passed the preflight did not start).
func Errored(format string, a ...any) Outcome {
	return Outcome{target.Error, fmt.Sprintf(format, a...)}
}

// RunOne runs s as the seq-th scenario of the run and returns its Result
// (see the top of this file for the order of its judgements); every
// process the scenario started is stopped before it returns.
func (r *Runner) RunOne(ctx context.Context, s Scenario, seq int) (res target.Result) {
	start := time.Now()
	res = target.Result{ID: s.ID, Title: s.Title, Severity: s.Severity, Transport: string(r.transport(s))}
	defer func() { res.DurationMS = target.Millis(time.Since(start)) }()
	if why := r.SkipReason(s); why != "" {
		res.Status, res.Reason, res.NotApplicable = target.Skip, why, r.notApplicable(s)
		return res
	}
	if why := r.privilegeSkip(s); why != "" {
		res.Status, res.Reason, res.Incomplete = target.Skip, why, true
		return res
	}
	defer func() { res.Incomplete = res.Status == target.Error }()
	e, err := r.NewEnv(s, seq)
	if err != nil {
		res.Status, res.Reason = target.Error, "setting up the scenario: "+err.Error()
		return res
	}
	sctx, cancel := context.WithTimeout(ctx, r.Config.Timeout)
	defer cancel()
	type done struct{ o Outcome }
	ch := make(chan done, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- done{Errored("scenario panicked: %v", p)}
			}
		}()
		ch <- done{s.Run(sctx, e)}
	}()
	var o Outcome
	returned := false
	select {
	case d := <-ch:
		returned = true
		o = e.judgePlants(d.o)
		if ctx.Err() != nil && o.Status != target.Pass {
			// What a scenario concluded while being cancelled (a helper
			// killed, a wait cut short) is no verdict.
			o = Errored("interrupted (%v): %s", ctx.Err(), o.Reason)
		}
	case <-sctx.Done():
		if ctx.Err() != nil {
			o = Errored("interrupted after %s (%v); killed its processes", time.Since(start).Round(time.Millisecond), ctx.Err())
		} else {
			o = Errored("timed out after %s; killed its processes", r.Config.Timeout)
		}
	}
	if !returned {
		// Timed out or interrupted: the scenario runs on with a cancelled
		// context. Give it scenarioReturnWait to return before its
		// processes are stopped; one that does not is still refused any
		// new daemon once the env is closed (StartDaemon).
		select {
		case <-ch:
		case <-time.After(scenarioReturnWait):
			e.Note("the scenario had not returned %s after its context was cancelled", scenarioReturnWait)
		}
	}
	e.close() // kill and reap everything the scenario started
	o = e.JudgeImpostors(o)
	if o.Status != target.Pass {
		e.Mu.Lock()
		for _, d := range e.daemons {
			if out := d.out.Excerpt(OutputHeadLines, OutputTailLines); out != "" {
				e.Evidence = append(e.Evidence, fmt.Sprintf("daemon pid %d output:\n%s", d.Pid, out))
			}
		}
		e.Mu.Unlock()
	}
	res.Status, res.Reason = o.Status, o.Reason
	e.Mu.Lock()
	res.Evidence, res.Metrics = e.Evidence, e.metrics
	e.Mu.Unlock()
	return res
}

// judgePlants checks the plants once more and turns any outcome of a
// scenario whose plants were withdrawn or replaced into no verdict: the
// daemon was not tested against what the scenario says (issue 24: a
// symlink withdrawn before the daemon's start made a daemon that follows
// links pass dir.symlink).
func (e *Env) judgePlants(o Outcome) Outcome {
	e.checkPlants("when the scenario was judged")
	if o.Status != target.Pass {
		if f := e.foreignEndpointDir(); f != "" {
			e.interfered(f)
		}
	}
	e.Mu.Lock()
	what := append([]string(nil), e.interference...)
	chmods := slices.Compact(append([]string(nil), e.modeChanges...))
	e.Mu.Unlock()
	if len(what) == 0 && len(chmods) > 0 {
		if o.Status == target.Pass {
			return Errored("no verdict: a plant's mode changed, and its own uid may have done it (%s); it would have been pass: %s", strings.Join(chmods, "; "), o.Reason)
		}
		for _, c := range chmods {
			e.Note("%s (the failure does not rest on it)", c)
		}
	}
	if len(what) == 0 {
		return o
	}
	return Errored("no verdict: another process interfered with the scenario (%s); it would have been %s: %s", strings.Join(what, "; "), o.Status, o.Reason)
}

// JudgeImpostors turns the scenario's outcome into an error when any
// client of the suite met an impostor: whatever the scenario concluded, it
// concluded about the wrong process.
func (e *Env) JudgeImpostors(o Outcome) Outcome {
	e.Mu.Lock()
	defer e.Mu.Unlock()
	if len(e.Impostors) == 0 {
		return o
	}
	return Outcome{target.Error, "something other than the daemon the suite started answered at its endpoint, so no verdict: " + strings.Join(e.Impostors, "; ") + " (the scenario had concluded " + string(o.Status) + ": " + o.Reason + ")"}
}
