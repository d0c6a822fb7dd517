package matrix

import (
	"context"
	"errors"

	"fmt"
	"syscall"

	"github.com/org/bh-ipc-check/matrix/internal/probe"
)

// runAs runs a helper action as uid for this scenario and keeps any
// impostor it met as evidence (see judgeImpostors).
func (e *Env) runAs(ctx context.Context, uid int, name string, arg, out any) error {
	return e.runAsIn(ctx, uid, nil, name, arg, out)
}

// keepImpostor records err's evidence when it is an impostor error.
func (e *Env) keepImpostor(err error, how string) {
	var ie *probe.ImpostorError
	if errors.As(err, &ie) {
		e.mu.Lock()
		e.impostors = append(e.impostors, ie.Evidence)
		e.mu.Unlock()
		e.note("impostor (%s): %s", how, ie.Evidence)
	}
}

// readPortFile reads the daemon's port file as the suite's clients do: a
// regular file of the daemon's uid, a final link not followed. Another
// owner is an impostor, kept as evidence (see judgeImpostors).
func (e *Env) readPortFile() (probe.BHPortFile, error) {
	pf, err := probe.ReadPortFileOf(e.Port, e.spec().Auth)
	e.keepImpostor(err, "reading the port file")
	return pf, err
}

// runAsIn is runAs in a helper process started under attr when it is set
// (Runner.callAs). A helper whose result is a talker's (a request on a
// connection) gets a side channel (helperSide): a connection it held
// silent is judged here (settleSilence), and the processes it reported
// are killed once it is done.
func (e *Env) runAsIn(ctx context.Context, uid int, attr *syscall.SysProcAttr, name string, arg, out any) error {
	if e.r.cfg.hooks != nil {
		ctx = context.WithValue(ctx, hookScenario{}, e.s.ID)
	}
	t, talks := out.(talker)
	if !talks {
		err := e.r.callAs(ctx, uid, attr, name, arg, out)
		e.keepImpostor(err, fmt.Sprintf("as uid %d, %s", uid, name))
		return err
	}
	sctx, side := withHelperSide(ctx)
	defer side.end()
	err := e.r.callAs(sctx, uid, attr, name, arg, out)
	e.keepImpostor(err, fmt.Sprintf("as uid %d, %s", uid, name))
	if err == nil {
		e.settleSilence(ctx, uid, t.TalkResult(), side)
	}
	return err
}
