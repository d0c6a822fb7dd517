package stage

import (
	"context"
	"errors"

	"fmt"
	"syscall"

	"github.com/org/bh-ipc-check/matrix/internal/probe"
)

// RunAs runs a helper action as uid for this scenario and keeps any
// impostor it met as evidence (see JudgeImpostors).
func (e *Env) RunAs(ctx context.Context, uid int, name string, arg, out any) error {
	return e.RunAsIn(ctx, uid, nil, name, arg, out)
}

// KeepImpostor records err's evidence when it is an impostor error.
func (e *Env) KeepImpostor(err error, how string) {
	var ie *probe.ImpostorError
	if errors.As(err, &ie) {
		e.mu.Lock()
		e.Impostors = append(e.Impostors, ie.Evidence)
		e.mu.Unlock()
		e.Note("impostor (%s): %s", how, ie.Evidence)
	}
}

// ReadPortFile reads the daemon's port file as the suite's clients do: a
// regular file of the daemon's uid, a final link not followed. Another
// owner is an impostor, kept as evidence (see JudgeImpostors).
func (e *Env) ReadPortFile() (probe.BHPortFile, error) {
	pf, err := probe.ReadPortFileOf(e.Port, e.Spec().Auth)
	e.KeepImpostor(err, "reading the port file")
	return pf, err
}

// RunAsIn is RunAs in a helper process started under attr when it is set
// (Runner.callAs). A helper whose result is a talker's (a request on a
// connection) gets a side channel (helperSide): a connection it held
// silent is judged here (settleSilence), and the processes it reported
// are killed once it is done.
func (e *Env) RunAsIn(ctx context.Context, uid int, attr *syscall.SysProcAttr, name string, arg, out any) error {
	if e.Runner.Config.Hooks != nil {
		ctx = context.WithValue(ctx, hookScenario{}, e.Scenario.ID)
	}
	t, talks := out.(talker)
	if !talks {
		err := e.Runner.callAs(ctx, uid, attr, name, arg, out)
		e.KeepImpostor(err, fmt.Sprintf("as uid %d, %s", uid, name))
		return err
	}
	sctx, side := withHelperSide(ctx)
	defer side.end()
	err := e.Runner.callAs(sctx, uid, attr, name, arg, out)
	e.KeepImpostor(err, fmt.Sprintf("as uid %d, %s", uid, name))
	if err == nil {
		e.settleSilence(ctx, uid, t.TalkResult(), side)
	}
	return err
}
