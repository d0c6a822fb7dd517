package matrix

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
)

// daemonIdentity is who may answer at a daemon's endpoint: a process of the
// daemon's uid and, when the suite started daemons in the scenario, one of
// them or a descendant of one. It travels to helper processes inside
// probeSpec; a nil identity (attacker probes) authenticates nothing.
type daemonIdentity struct {
	UID  int   `json:"uid"`
	PIDs []int `json:"pids,omitempty"`
	// Marker: the scenario's start marker (startMarkerEnv=<dir>): a process
	// of the daemon's uid whose environment carries it is of a start of
	// this scenario, even when it detached from the pids above (--forks:
	// its parent exited and it was reparented to the subreaper). Another
	// uid can put the marker in its own environment, but fails the uid
	// check before this one.
	Marker string `json:"marker,omitempty"`
	// Reaper (--forks, Linux): the suite's pid. A process of the daemon's
	// uid that descends from it is of the run even without the marker: a
	// detached daemon that wiped its environment (redis sets its process
	// title over it) was re-parented to the suite, its child subreaper.
	Reaper int `json:"reaper,omitempty"`
}

// impostorError says that something other than the daemon answered at its
// endpoint: a socket of another owner, a peer of another uid, or a process
// the suite did not start. A scenario that meets one ends as an error with
// the evidence, never as a pass.
type impostorError struct{ evidence string }

func (e *impostorError) Error() string { return "impostor at the daemon's endpoint: " + e.evidence }

// impostorLog collects the impostors met while one helper action runs (in a
// helper process or in this one); the action's own result may hide them
// (a load counts failed pings), the log does not. Safe for concurrent use.
type impostorLog struct {
	mu   sync.Mutex
	seen []string
}

type impostorLogKey struct{}

func withImpostorLog(ctx context.Context) (context.Context, *impostorLog) {
	l := &impostorLog{}
	return context.WithValue(ctx, impostorLogKey{}, l), l
}

// noteImpostor records err in ctx's log when it is an impostor error, and
// returns err.
func noteImpostor(ctx context.Context, err error) error {
	var ie *impostorError
	if errors.As(err, &ie) {
		if l, ok := ctx.Value(impostorLogKey{}).(*impostorLog); ok {
			l.mu.Lock()
			if len(l.seen) < 8 {
				l.seen = append(l.seen, ie.evidence)
			}
			l.mu.Unlock()
		}
	}
	return err
}

func (l *impostorLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.seen...)
}

// impostorsError is the log as one impostor error, nil when it is empty.
func impostorsError(seen []string) error {
	if len(seen) == 0 {
		return nil
	}
	return &impostorError{evidence: strings.Join(seen, "; ")}
}

// runAs runs a helper action as uid for this scenario and keeps any
// impostor it met as evidence (see judgeImpostors).
func (e *Env) runAs(ctx context.Context, uid int, name string, arg, out any) error {
	return e.runAsIn(ctx, uid, nil, name, arg, out)
}

// runAsIn is runAs in a helper process started under attr when it is set
// (Runner.runAsIn). A helper whose result is a talker's (a request on a
// connection) gets a side channel (helperSide): a connection it held
// silent is judged here (settleSilence), and the processes it reported
// are killed once it is done.
func (e *Env) runAsIn(ctx context.Context, uid int, attr *syscall.SysProcAttr, name string, arg, out any) error {
	if e.r.cfg.hooks != nil {
		ctx = context.WithValue(ctx, hookScenario{}, e.s.ID)
	}
	t, talks := out.(talker)
	if !talks {
		err := e.r.runAsIn(ctx, uid, attr, name, arg, out)
		e.keepImpostor(err, fmt.Sprintf("as uid %d, %s", uid, name))
		return err
	}
	sctx, side := withHelperSide(ctx)
	defer side.end()
	err := e.r.runAsIn(sctx, uid, attr, name, arg, out)
	e.keepImpostor(err, fmt.Sprintf("as uid %d, %s", uid, name))
	if err == nil {
		e.settleSilence(ctx, uid, t.talked(), side)
	}
	return err
}

// keepImpostor records err's evidence when it is an impostor error.
func (e *Env) keepImpostor(err error, how string) {
	var ie *impostorError
	if errors.As(err, &ie) {
		e.mu.Lock()
		e.impostors = append(e.impostors, ie.evidence)
		e.mu.Unlock()
		e.note("impostor (%s): %s", how, ie.evidence)
	}
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

// readPortFile reads the daemon's port file as the suite's clients do: a
// regular file of the daemon's uid, a final link not followed. Another
// owner is an impostor, kept as evidence (see judgeImpostors).
func (e *Env) readPortFile() (bhPortFile, error) {
	pf, err := readPortFileOf(e.Port, e.spec().Auth)
	e.keepImpostor(err, "reading the port file")
	return pf, err
}
