package stage

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/org/bh-ipc-check/ipc"
	"github.com/org/bh-ipc-check/matrix/internal/target"
)

// The Result of a scenario is decided in this file, in this order (RunOne
// sets its status here and nowhere else):
//
//  1. SkipReason: a scenario that does not apply to the target (its
//     platforms, its transport, its kind of socket, what it needs of an
//     external target: Scenario.TargetSkip) or needs a privilege this run
//     lacks (privilegeSkip) is skipped without running; notApplicable
//     gives the cause shared by every scenario it holds for.
//  2. The body's own outcome (Pass, Fail, Skip, Errored): the attack and
//     its judgement, in the catalogue (matrix/internal/scenario). A body
//     that panicked is an error.
//  3. judgePlants: a plant of another uid withdrawn or replaced (what
//     checkPlants, in plants.go, records while the scenario runs), or a
//     mode change its own uid may have made under a pass, makes it no
//     verdict (error).
//  4. RunOne: a run interrupted while the body returned anything but a
//     pass, or a body that ran out of its time, is an error.
//  5. JudgeImpostors: any client of the suite that met something other
//     than the daemon it started (recorded by the clients in probe and by
//     RunAs, impostors.go) makes it an error, whatever it concluded.
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

// Pass: the attack was tried and the daemon held.
func Pass(format string, a ...any) Outcome { return Outcome{target.Pass, fmt.Sprintf(format, a...)} }

// Fail: the attack was tried and the daemon did not hold.
func Fail(format string, a ...any) Outcome { return Outcome{target.Fail, fmt.Sprintf(format, a...)} }

// Skip: the scenario could not be tried here; the reason says why and
// how to run it.
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
		e.mu.Lock()
		for _, d := range e.daemons {
			if out := d.out.Excerpt(OutputHeadLines, OutputTailLines); out != "" {
				e.Evidence = append(e.Evidence, fmt.Sprintf("daemon pid %d output:\n%s", d.Pid, out))
			}
		}
		e.mu.Unlock()
	}
	res.Status, res.Reason = o.Status, o.Reason
	e.mu.Lock()
	res.Evidence, res.Metrics = e.Evidence, e.metrics
	e.mu.Unlock()
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
	e.mu.Lock()
	what := append([]string(nil), e.interference...)
	chmods := slices.Compact(append([]string(nil), e.modeChanges...))
	e.mu.Unlock()
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
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.Impostors) == 0 {
		return o
	}
	return Outcome{target.Error, "something other than the daemon the suite started answered at its endpoint, so no verdict: " + strings.Join(e.Impostors, "; ") + " (the scenario had concluded " + string(o.Status) + ": " + o.Reason + ")"}
}

// SkipReason says why s cannot run here, with how to run it; "" if it can.
func (r *Runner) SkipReason(s Scenario) string {
	t := r.Config.Target
	if len(s.Platforms) > 0 && !slices.Contains(s.Platforms, runtime.GOOS) {
		return fmt.Sprintf("runs on %s, this is %s; run it on such a host or leg", strings.Join(s.Platforms, ", "), runtime.GOOS)
	}
	if s.BuiltinOnly && !t.Builtin {
		return "applies to the builtin daemon only (it relies on the ipc handshake's internals)"
	}
	if why := r.lacksTransport(s); why != "" {
		return why
	}
	if why := r.SocketKindMismatch(s); why != "" {
		return why
	}
	return r.TargetSkip(s)
}

// privilegeSkip says why s cannot run without privilege here, with the
// command that runs it; "" if it can. Such a scenario applies here: its
// skip leaves the run incomplete.
func (r *Runner) privilegeSkip(s Scenario) string {
	if slices.Contains(s.Needs, NeedOtherUID) && r.AttackerUID < 0 {
		return fmt.Sprintf("needs root to act as another uid (attacker uid %d); run as root: %s", DefaultAttackerUID, target.RerunCommand(r.Config.Command, []string{s.ID}, r.DaemonUID))
	}
	if slices.Contains(s.Needs, NeedMountNS) && !r.canSwitchUID() {
		return fmt.Sprintf("needs root to connect from another mount namespace (unshare(CLONE_NEWNS) needs CAP_SYS_ADMIN); run as root: %s", target.RerunCommand(r.Config.Command, []string{s.ID}, r.DaemonUID))
	}
	return ""
}

// TargetSkip says why s cannot judge this external target (its protocol,
// its templates: s.TargetSkip), with how to run it; "" if it can.
func (r *Runner) TargetSkip(s Scenario) string {
	if t := r.Config.Target; !t.Builtin && s.TargetSkip != nil {
		return s.TargetSkip(t)
	}
	return ""
}

// notApplicable is the cause, shared by every scenario it holds for, why s
// cannot apply to this target whatever else its skip says
// (Result.NotApplicable): the target lacks s's transport, or its socket is
// not of the kind s judges (SocketKindMismatch). "" when s could apply.
func (r *Runner) notApplicable(s Scenario) string {
	if why := r.lacksTransport(s); why != "" {
		return why
	}
	return r.SocketKindMismatch(s)
}

// SocketKindMismatch says why s cannot apply to this target because of
// the kind of socket it has (an abstract name, a file; Scenario.Abstract),
// the cause shared by every scenario it holds for (Result.NotApplicable);
// "" when it can.
func (r *Runner) SocketKindMismatch(s Scenario) string {
	t := r.Config.Target
	switch {
	case s.Abstract == AbstractOnly && t.Builtin:
		return "the builtin (ipc) serves a socket file in a private directory, never an abstract name, which no mode or directory can make private (see docs/scenarios/auth.abstract-mount-ns.md)"
	case s.Abstract == AbstractOnly && !target.IsAbstract(t.Socket):
		return fmt.Sprintf("applies to an abstract socket (%s) only: a socket file is reached from another mount namespace only where its directory is mounted", target.Hint("socket", "@NAME"))
	case s.Abstract == AbstractDefault && s.Transport == ipc.TransportUnix && t.AbstractTarget():
		return "the target's socket is an abstract name, which has no file, owner, mode or directory to judge"
	}
	return ""
}

// lacksTransport says that the target lacks s's transport, and how to
// give it one; "" when it has it. The same words are the skip's reason
// (SkipReason) and its cause in the summary (notApplicable).
func (r *Runner) lacksTransport(s Scenario) string {
	tr := r.transport(s)
	if r.Config.Target.Supports(tr) {
		return ""
	}
	flag := target.Hint("socket", "TEMPLATE")
	if tr == ipc.TransportTCP {
		flag = target.Hint("port-file", "TEMPLATE")
	}
	return fmt.Sprintf("the target has no %s transport; give %s to run it", tr, flag)
}
